"""The ``fiveplans`` command line: thin click subcommands over the library (CONTRACT §4).

Messages go to stderr. Exit codes: 0 ok, 1 failed (a clear message, no traceback), 2 bad
config or usage. ``-v`` adds detail (``-vv`` debug and tracebacks), ``-q`` silences progress.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
import warnings
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from fiveplans import __version__
from fiveplans.errors import ConfigError, FiveplansError

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("fiveplans")


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        from tqdm.auto import tqdm

        if getattr(record, "recorded", False):
            return  # recorded by the run's diagnostics sink, which prints it (_echo)
        prefix = {"WARNING": "warning: ", "ERROR": "error: "}.get(record.levelname, "")
        # tqdm.write keeps messages from tearing an active progress bar
        tqdm.write(f"{prefix}{record.getMessage()}", file=sys.stderr)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    from tqdm.auto import tqdm

    from fiveplans.errors import FiveplansWarning

    if issubclass(category, FiveplansWarning):
        sink = _SINK.get("diagnostics")
        if sink is not None:  # a run: record it, and the sink prints it — printed == recorded
            if not sink.record(
                message if isinstance(message, Warning) else category(message), stage="run"
            ):
                tqdm.write(f"warning: {message}", file=sys.stderr)
        elif not _QUIET[0]:
            tqdm.write(f"warning: {message}", file=sys.stderr)
    else:
        log.debug("%s: %s (%s:%d)", category.__name__, message, filename, lineno)


#: -q given: library warnings are recorded (summary.json) but not printed.
_QUIET = [False]


#: The diagnostics sink of the run in progress (run/demo), if any.
_SINK: dict[str, Any] = {}


def _echo(text: str) -> None:
    """Print one recorded warning (the run's sink calls this once per message)."""
    from tqdm.auto import tqdm

    tqdm.write(f"warning: {text}", file=sys.stderr)


def _diagnostics() -> Any:
    """The run's diagnostics sink: it prints each warning as it is recorded (unless -q), so
    what the command prints is exactly what summary.json and tables.xlsx record."""
    from fiveplans.diagnostics import Diagnostics

    obj = click.get_current_context().obj or {}
    sink = Diagnostics(echo=None if obj.get("quiet") else _echo)
    _SINK["diagnostics"] = sink
    return sink


def _setup(verbose: int, quiet: bool) -> None:
    level = (
        logging.ERROR
        if quiet
        else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    )
    root = logging.getLogger("fiveplans")
    handler = _Handler()
    handler.setLevel(level)
    root.handlers[:] = [handler]
    # warnings are always created (the run's sink records them even under -q); the handler
    # decides what is shown
    root.setLevel(min(level, logging.WARNING))
    root.propagate = False
    _SINK.clear()
    # Library warnings (FiveplansWarning: guesses, repairs) are shown once each as
    # "warning: …" lines; -q hides them (they are in summary.json all the same).
    warnings.resetwarnings()
    warnings.simplefilter("ignore" if quiet else "default")
    # fiveplans' own warnings always reach _show_warning, even under -q: it hands them to the
    # run's sink (which dedupes and decides what is printed), so none is lost even when a
    # library (numba compiling in a worker thread) swaps the warnings state under a capture
    from fiveplans.errors import FiveplansWarning

    warnings.simplefilter("always", FiveplansWarning)
    _QUIET[0] = quiet
    warnings.showwarning = _show_warning


def verbosity(func: F) -> F:
    """The shared ``-v/-q`` options."""

    @click.option("-v", "--verbose", count=True, help="More detail (-vv: debug, with tracebacks).")
    @click.option("-q", "--quiet", is_flag=True, help="Only errors; no progress bars.")
    @wraps(func)
    def wrapper(*args: Any, verbose: int, quiet: bool, **kwargs: Any) -> Any:
        _setup(verbose, quiet)
        ctx = click.get_current_context()
        ctx.obj = {"verbose": verbose, "quiet": quiet}
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except FiveplansError as exc:
            click.echo(f"error: {exc}", err=True)
            if verbose > 1:
                traceback.print_exc()
            sys.exit(exc.exit_code)
        except FileExistsError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt as exc:
            if str(exc):  # BatchInterrupted: says what was kept and how to resume
                click.echo(f"error: {exc}", err=True)
                sys.exit(getattr(exc, "exit_code", 1))
            click.echo("interrupted; no outputs were written.", err=True)
            sys.exit(1)
        except Exception as exc:
            click.echo(
                f"error: internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in fiveplans. Run again with -vv for the traceback and report it.",
                err=True,
            )
            if verbose > 1:
                traceback.print_exc()
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _progress() -> bool:
    obj = click.get_current_context().obj or {}
    return not obj.get("quiet", False)


out_option = click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder.",
)
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace existing outputs.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fiveplans")
def cli() -> None:
    """fiveplans — 五规合一 five-plans-into-one toolkit.

    \b
    fiveplans demo                 run the bundled demo pilot into out/demo/
    fiveplans run pilot.yml        run one pilot into out/<id>/
    fiveplans batch a.yml b.yml    run many pilots
    fiveplans inspect FILE         what is in a delivered file
    """


def _check_pilot_path(path: Path) -> Path:
    if not path.exists():
        raise click.BadParameter(
            f"{path} does not exist. Hint: give a pilot YAML, e.g. out/demo/inputs/pilot.yml "
            "after `fiveplans demo`.",
            param_hint="PILOT.yml",
        )
    if path.is_dir():
        raise click.BadParameter(
            f"{path} is a folder; give the pilot YAML file inside it.", param_hint="PILOT.yml"
        )
    return path


_TYPE_ZH = {
    "farmland_construction": "建设占用基本农田 construction on basic farmland",
    "ecology_construction": "建设占用生态用地 construction on ecological land",
    "plan_mismatch": "规划不一致 plan mismatch",
    "use_mismatch": "用途不一致 use mismatch",
    "corridor_construction": "廊道内建设 construction in corridors",
}
_ZONE_ZH = {
    "built": "建成区 built",
    "development": "发展区 development",
    "control": "控制区 control",
}


def _report_run(outdir: Path) -> None:
    summary = json.loads((outdir / "summary.json").read_text(encoding="utf-8"))

    def say(text: str) -> None:
        click.echo(text, err=True)

    say(f"done: {summary['name']} ({summary['pilot']}) → {outdir}")
    say(f"  working CRS 工作坐标系: {summary['crs']}")
    say(f"  boundary area 规划范围面积: {summary['boundary_area_m2'] / 1e6:.3f} km²")
    layers = ", ".join(f"{k} {v['features']}" for k, v in summary["layers"].items())
    say(f"  layers 图层: {layers}")
    if summary.get("conflicts"):
        say("  conflicts 冲突 (图斑 patches: distinct land per type; 对 pairs of plans):")
        for kind, value in summary["conflicts"].items():
            pairs = value.get("pairs")
            extra = f", {pairs} 对 pairs" if pairs is not None else ""
            say(
                f"    {_TYPE_ZH.get(kind, kind)}: {value['area_m2'] / 1e4:.2f} ha "
                f"({value['count']} 图斑 patches{extra})"
            )
    if summary.get("zones"):
        zones = ", ".join(
            f"{_ZONE_ZH.get(z, z)} {v['area_m2'] / 1e6:.2f} km²"
            for z, v in summary["zones"].items()
        )
        say(f"  zones 三区: {zones}")
    balance = summary.get("farmland_balance")
    if balance:
        state = (
            "balanced 平衡"
            if balance["feasible"]
            else (f"NOT balanced 不平衡, shortfall 缺口 {balance['shortfall_m2'] / 1e4:.2f} ha")
        )
        say(
            f"  farmland balance 占补平衡: out 调出 {balance['out_m2'] / 1e4:.2f} ha, "
            f"in 调入 {balance['in_m2'] / 1e4:.2f} ha — {state}"
        )
    if summary.get("catchments"):
        c = summary["catchments"]
        say(
            f"  logistics 物流: {c['assigned']} of {c['suppliers']} suppliers assigned to "
            f"{c['clusters']} clusters"
        )
    skipped = summary.get("skipped") or {}
    if skipped:
        say(f"  skipped or reduced 跳过/简化: {', '.join(skipped)}")
    n = len(summary["warnings"])
    if n:
        say(f"  {n} warnings 警告 (listed above; also in summary.json and tables.xlsx 警告与跳过)")
    outputs = [n for n in ("map.html", "report.html", "report.pdf") if (outdir / n).exists()]
    if outputs:
        say(f"  map and report 地图与报告: {', '.join(str(outdir / n) for n in outputs)}")


@cli.command("run")
@click.argument("pilot_yml", type=click.Path(path_type=Path), metavar="PILOT.yml")
@out_option
@overwrite_option
@verbosity
def run_cmd(pilot_yml: Path, out: Path | None, overwrite: bool) -> None:
    """Run the whole pipeline for one pilot (default output: out/<id>/)."""
    from fiveplans.pipeline import run

    _check_pilot_path(pilot_yml)
    outdir = run(
        pilot_yml, out=out, overwrite=overwrite, verbose=_progress(), diagnostics=_diagnostics()
    )
    _report_run(outdir)


@cli.command("demo")
@out_option
@overwrite_option
@verbosity
def demo_cmd(out: Path | None, overwrite: bool) -> None:
    """Write the bundled demo pilot's inputs to OUT/inputs/ and run it into OUT (default out/demo/)."""
    from fiveplans.demo import write_demo_inputs
    from fiveplans.pipeline import run

    outdir = out or Path("out") / "demo"
    inputs = outdir / "inputs"
    if inputs.exists() and any(inputs.iterdir()) and not overwrite:
        raise ConfigError(
            f"--out {outdir}: already holds a demo (inputs/). Fix: pass --overwrite to "
            "regenerate it, or choose another --out."
        )
    log.info("writing the demo pilot's inputs to %s", inputs)
    pilot_yml = write_demo_inputs(inputs, overwrite=overwrite)
    result = run(
        pilot_yml, out=outdir, overwrite=overwrite, verbose=_progress(), diagnostics=_diagnostics()
    )
    _report_run(result)


@cli.command("batch")
@click.argument(
    "pilots", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="PILOT.yml..."
)
@out_option
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Local worker processes running pilots in parallel.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Skip pilots whose outputs are complete and whose config and input files are unchanged "
    "(by the hashes in their summary.json); rerun the others.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Run the pilots on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (needs "
    "fiveplans[dask]; inputs and --out on a filesystem every worker shares).",
)
@verbosity
def batch_cmd(
    pilots: tuple[Path, ...], out: Path | None, jobs: int, resume: bool, scheduler: str | None
) -> None:
    """Run many pilots into OUT/<id>/ with OUT/index.html and OUT/summary.xlsx (default out/)."""
    from fiveplans.batch import run_batch

    for p in pilots:
        _check_pilot_path(p)
    outdir = out or Path("out")
    result = run_batch(
        list(pilots),
        out=outdir,
        jobs=jobs,
        resume=resume,
        scheduler=scheduler,
        progress=_progress(),
    )
    for row in result.rows:
        status = {"ok": "ok  ", "skipped": "skip", "failed": "FAIL", "interrupted": "STOP"}
        click.echo(f"{status[row.status]} {row.pilot_id or row.path}: {row.message}", err=True)
    click.echo(
        f"{result.n_ok} 完成 ok, {result.n_failed} 失败 failed, {result.n_skipped} 未变 unchanged "
        f"→ {outdir / 'index.html'}",
        err=True,
    )
    if result.n_failed:
        sys.exit(1)


@cli.command("inspect")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--yaml",
    "as_yaml",
    is_flag=True,
    help="Print a source entry to paste into a pilot YAML 打印可粘贴的试点配置.",
)
@verbosity
def inspect_cmd(path: Path, as_yaml: bool) -> None:
    """What a delivered file holds: layers, file and detected CRS, fields, suggested entry.

    \b
    Per layer: feature count, the file CRS and the CRS its coordinates suggest, the extent in
    lon/lat, each text field's top values with the code scheme that fits, geometry problems,
    and a suggested `field:`/`scheme:`/`crs:`. Run it from the pilot YAML's folder so that
    the printed `path:` can be pasted as it is.
    """
    from fiveplans.inspect import inspect_path

    if not path.exists():
        raise click.BadParameter(
            f"{path}: 文件不存在 does not exist. 解决 Fix: check the path (a FileGDB is the "
            "folder ending in .gdb).",
            param_hint="PATH",
        )
    report = inspect_path(path)
    click.echo(report.to_yaml() if as_yaml else report.to_text())
    if not report.readable:
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=argv, prog_name="fiveplans")


if __name__ == "__main__":  # pragma: no cover
    main()
