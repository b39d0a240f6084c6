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
        tqdm.write(f"warning: {message}", file=sys.stderr)
    else:
        log.debug("%s: %s (%s:%d)", category.__name__, message, filename, lineno)


def _setup(verbose: int, quiet: bool) -> None:
    level = (
        logging.ERROR
        if quiet
        else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    )
    root = logging.getLogger("fiveplans")
    root.handlers[:] = [_Handler()]
    root.setLevel(level)
    root.propagate = False
    # Library warnings (FiveplansWarning: guesses, repairs) are shown once each as
    # "warning: …" lines; -q hides them (they are in summary.json all the same).
    warnings.resetwarnings()
    warnings.simplefilter("ignore" if quiet else "default")
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
        except KeyboardInterrupt:
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
    from fiveplans.pipeline import NOT_YET_AVAILABLE

    summary = json.loads((outdir / "summary.json").read_text(encoding="utf-8"))

    def say(text: str) -> None:
        click.echo(text, err=True)

    say(f"done: {summary['name']} ({summary['pilot']}) → {outdir}")
    say(f"  working CRS 工作坐标系: {summary['crs']}")
    say(f"  boundary area 规划范围面积: {summary['boundary_area_m2'] / 1e6:.3f} km²")
    layers = ", ".join(f"{k} {v['features']}" for k, v in summary["layers"].items())
    say(f"  layers 图层: {layers}")
    if summary.get("conflicts"):
        say("  conflicts 冲突:")
        for kind, value in summary["conflicts"].items():
            say(
                f"    {_TYPE_ZH.get(kind, kind)}: {value['area_m2'] / 1e4:.2f} ha ({value['count']})"
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
    n = len(summary["warnings"])
    if n:
        say(f"  {n} warnings 警告 (see summary.json and tables.xlsx)")
    for reason in NOT_YET_AVAILABLE.values():
        say(f"  not yet: {reason}")


@cli.command("run")
@click.argument("pilot_yml", type=click.Path(path_type=Path), metavar="PILOT.yml")
@out_option
@overwrite_option
@verbosity
def run_cmd(pilot_yml: Path, out: Path | None, overwrite: bool) -> None:
    """Run the whole pipeline for one pilot (default output: out/<id>/)."""
    from fiveplans.pipeline import run

    _check_pilot_path(pilot_yml)
    outdir = run(pilot_yml, out=out, overwrite=overwrite, verbose=_progress())
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
    result = run(pilot_yml, out=outdir, overwrite=overwrite, verbose=_progress())
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
    help="Pilots run in parallel.",
)
@click.option("--resume", is_flag=True, help="Skip pilots whose outputs are already complete.")
@verbosity
def batch_cmd(pilots: tuple[Path, ...], out: Path | None, jobs: int, resume: bool) -> None:
    """Run many pilots into OUT/<id>/ with OUT/index.html and OUT/summary.xlsx (default out/)."""
    from fiveplans.batch import run_batch

    for p in pilots:
        _check_pilot_path(p)
    outdir = out or Path("out")
    result = run_batch(list(pilots), out=outdir, jobs=jobs, resume=resume, verbose=_progress())
    for row in result.rows:
        status = {"ok": "ok  ", "skipped": "skip", "failed": "FAIL"}[row.status]
        click.echo(f"{status} {row.pilot_id or row.path}: {row.message}", err=True)
    click.echo(
        f"{result.n_ok} ok, {result.n_failed} failed, {result.n_skipped} skipped → {outdir / 'index.html'}",
        err=True,
    )
    if result.n_failed:
        sys.exit(1)


@cli.command("inspect")
@click.argument("path", type=click.Path(path_type=Path))
@verbosity
def inspect_cmd(path: Path) -> None:
    """Format, layers, feature counts, CRS (declared and detected), encoding, geometry problems."""
    from fiveplans.inspect import inspect_path

    if not path.exists():
        raise click.BadParameter(f"{path} does not exist.", param_hint="PATH")
    report = inspect_path(path)
    click.echo(report.to_text())
    if not report.readable:
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=argv, prog_name="fiveplans")


if __name__ == "__main__":  # pragma: no cover
    main()
