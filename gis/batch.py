"""Batch runs over many pilots (五规合一 试点批量): ``fiveplans batch``.

Each pilot runs into ``OUT/<id>/``; one failing pilot does not stop the others. Pilots run in
this process (``jobs=1``), in local worker processes (``jobs=N``) or on an existing Dask cluster
(``scheduler="tcp://host:8786"``; the pilots' inputs and ``OUT`` must be on a filesystem the
workers share). The batch writes ``OUT/index.html`` (every pilot with its key figures and links,
failures in red, an overview map of all boundaries coloured by conflict share) and
``OUT/summary.xlsx`` (one row per pilot), both atomically.

Safe to kill at any moment: a pilot is built in ``OUT/.staging/`` and published into
``OUT/<id>/`` with ``summary.json`` removed first and put back last, so a folder with a
``summary.json`` always holds one run's complete outputs. ``resume=True`` skips a pilot only when
its outputs are complete and the provenance hashes in its ``summary.json`` (config, every input
file, the fiveplans version) equal fresh ones; a changed pilot is rerun.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import math
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiveplans.errors import ConfigError, FiveplansError, FiveplansWarning
from fiveplans.io import atomic_path

__all__ = [
    "CORE_OUTPUTS",
    "REPORT_OUTPUTS",
    "BatchInterrupted",
    "BatchResult",
    "BatchRow",
    "check_resume",
    "run_batch",
]

log = logging.getLogger(__name__)

#: Outputs every complete run has (CONTRACT §5); summary.json is published last.
CORE_OUTPUTS: tuple[str, ...] = ("integrated.gpkg", "results.gpkg", "tables.xlsx", "summary.json")
#: The map and report outputs (required once the run no longer declares them not yet available).
REPORT_OUTPUTS: tuple[str, ...] = ("map.html", "report.html", "report.pdf")
STAGING = ".staging"
_STEPS = ("配置 config", "运行 run", "发布 publish")


class BatchInterrupted(KeyboardInterrupt):
    """The batch was stopped by a signal (SIGTERM, SIGINT); finished pilots are kept.

    A :class:`KeyboardInterrupt` (not an :class:`Exception`), so that no ``except Exception`` or
    ``except FiveplansError`` on the way — a stage that tolerates a bad optional input, a
    pilot whose config fails to read — can swallow it and let the batch run on.
    """

    exit_code = 1

    def __init__(self, signum: int) -> None:
        self.signum = signum
        name = signal.Signals(signum).name
        super().__init__(
            f"批量运行被中断 — the batch was stopped by {name}; finished pilots are kept, "
            "unfinished ones left nothing in their folders. 解决 Fix: rerun the same command "
            "with --resume."
        )


@dataclass
class BatchRow:
    """The outcome of one pilot."""

    path: str
    pilot_id: str | None
    name: str | None
    status: str  # ok, skipped, failed, interrupted
    message: str
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None


@dataclass
class BatchResult:
    """All pilots' outcomes, in the order given."""

    rows: list[BatchRow]
    out: Path

    @property
    def n_ok(self) -> int:
        return sum(r.status == "ok" for r in self.rows)

    @property
    def n_failed(self) -> int:
        return sum(r.status in ("failed", "interrupted") for r in self.rows)

    @property
    def n_skipped(self) -> int:
        return sum(r.status == "skipped" for r in self.rows)


@dataclass(frozen=True)
class _Task:
    """What a worker needs to run one pilot (picklable)."""

    index: int
    path: str
    out: str
    verbose: bool = False


# ----------------------------------------------------------------------------------------------
# resume
# ----------------------------------------------------------------------------------------------


def _expected_outputs(summary: dict[str, Any]) -> tuple[str, ...]:
    """The outputs a complete run left: the core ones, and the map and report files unless the
    run says it could not make them (``not_yet_available``, or named in ``skipped``)."""
    if summary.get("not_yet_available"):
        return CORE_OUTPUTS
    declared = json.dumps(summary.get("skipped") or {}, ensure_ascii=False)
    return CORE_OUTPUTS + tuple(n for n in REPORT_OUTPUTS if n not in declared)


def _interrupted_row(task: Any, config: Any, outdir: Path, started: float) -> BatchRow:
    """The row of a pilot the batch had not heard back from when it was stopped: finished
    when its complete outputs were moved into place during this batch (the stop came between
    the move and the worker's answer), else interrupted."""
    try:
        written = (outdir / "summary.json").stat().st_mtime
    except OSError:
        written = float("-inf")
    if written >= started:  # only then the inputs are hashed: the batch is stopping
        fresh, _, summary = check_resume(config, outdir)
        if fresh:
            return BatchRow(task.path, config.id, config.name, "ok", f"→ {outdir}", summary)
    return BatchRow(
        task.path, config.id, config.name, "interrupted", "中断 interrupted: rerun with --resume"
    )


def check_resume(config: Any, outdir: Path) -> tuple[bool, str, dict[str, Any]]:
    """Whether a pilot's outputs are complete and were made from the same config and inputs.

    Parameters
    ----------
    config
        The pilot's :class:`~fiveplans.config.PilotConfig`.
    outdir
        Its output folder.

    Returns
    -------
    up_to_date
        True when the pilot can be skipped.
    reason
        Why it is (or is not) up to date, for the batch's messages.
    summary
        The existing ``summary.json`` (empty when unreadable).
    """
    from fiveplans import __version__
    from fiveplans.provenance import config_sha256, input_files

    done = outdir / "summary.json"
    try:
        summary = json.loads(done.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, "no complete outputs yet", {}
    missing = [n for n in _expected_outputs(summary) if not (outdir / n).is_file()]
    if missing:
        return False, f"outputs incomplete ({', '.join(missing)} missing)", summary
    prov = summary.get("provenance") or {}
    if not prov.get("config_sha256") or "inputs" not in prov:
        return False, "summary.json has no provenance hashes", summary
    if prov.get("fiveplans") != __version__:
        return False, f"made by fiveplans {prov.get('fiveplans')}, now {__version__}", summary
    if prov["config_sha256"] != config_sha256(config):
        return False, "the pilot config changed", summary
    fresh = input_files(config)
    unverifiable = sorted(k for k, v in fresh.items() if v["sha256"] is None)
    if unverifiable:
        return False, f"database inputs cannot be hashed ({', '.join(unverifiable)})", summary
    old = {k: (v or {}).get("sha256") for k, v in prov["inputs"].items()}
    changed = sorted(
        k for k in set(old) | set(fresh) if old.get(k) != fresh.get(k, {}).get("sha256")
    )
    if changed:
        return False, f"inputs changed ({', '.join(changed)})", summary
    return True, "unchanged since the last run (--resume)", summary


# ----------------------------------------------------------------------------------------------
# one pilot (runs in this process, a worker process or a Dask worker)
# ----------------------------------------------------------------------------------------------

Emit = Callable[[int, str, int], None]
_EVENTS: Any = None  # the worker processes' event queue (set by _init_worker)


def _init_worker(events: Any) -> None:
    global _EVENTS
    _EVENTS = events
    _quiet_worker_logging()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; SIGTERM ends the worker


def _quiet_worker_logging() -> None:
    """Warnings are recorded in each pilot's summary.json; workers do not print them."""
    root = logging.getLogger("fiveplans")
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())
    root.propagate = False


def _process_emit(index: int, step: str, n: int) -> None:
    if _EVENTS is not None:
        with contextlib.suppress(Exception):
            _EVENTS.put((index, step, n))


def _dask_emitter(queue_name: str) -> Emit:
    from distributed import Queue

    queue = Queue(queue_name)

    def emit(index: int, step: str, n: int) -> None:
        with contextlib.suppress(Exception):
            queue.put((index, step, n))

    return emit


def _publish(staged: Path, outdir: Path) -> None:
    """Move a finished run into ``outdir``: summary.json out first, back in last."""
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "summary.json").unlink(missing_ok=True)
    produced = {p.name for p in staged.iterdir()}
    for name in CORE_OUTPUTS + REPORT_OUTPUTS:  # outputs this run did not make are stale
        if name not in produced and (outdir / name).is_file():
            (outdir / name).unlink()
    for item in sorted(staged.iterdir()):
        if item.name == "summary.json":
            continue
        target = outdir / item.name
        if item.is_dir():
            if target.exists():
                shutil.rmtree(target)
            os.replace(item, target)
        else:
            os.replace(item, target)
    os.replace(staged / "summary.json", outdir / "summary.json")


def _run_one(task: _Task, emit: Emit) -> BatchRow:
    """Run one pilot into ``OUT/<id>/``; every failure becomes a failed row."""
    from fiveplans.config import read_config

    t0 = time.perf_counter()
    emit(task.index, "start", 0)
    try:
        config = read_config(task.path)
    except FiveplansError as exc:
        return BatchRow(task.path, None, None, "failed", str(exc))
    emit(task.index, "step", 1)
    out = Path(task.out)
    outdir = out / config.id
    staging_root = out / STAGING
    staging_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{config.id}.", dir=staging_root))
    try:
        from fiveplans.pipeline import run

        ledger = None
        if config.ledger is None and (outdir / "tables.xlsx").is_file():
            ledger = outdir / "tables.xlsx"  # the planners' decisions carry over, as in `run`
        with warnings.catch_warnings():
            # recorded in the pilot's summary.json by the run itself; not printed per pilot
            warnings.simplefilter("ignore", FiveplansWarning)
            run(
                config.path,
                out=staging / "out",
                overwrite=True,
                verbose=task.verbose,
                ledger=ledger,
            )
        emit(task.index, "step", 2)
        _publish(staging / "out", outdir)
        emit(task.index, "step", 3)
        summary = json.loads((outdir / "summary.json").read_text(encoding="utf-8"))
        seconds = time.perf_counter() - t0
        return BatchRow(
            task.path, config.id, config.name, "ok", f"→ {outdir}", summary, round(seconds, 3)
        )
    except BatchInterrupted:
        raise
    except FiveplansError as exc:
        return BatchRow(task.path, config.id, config.name, "failed", str(exc))
    except Exception as exc:  # one broken pilot must not stop the batch
        log.debug("pilot %s failed", task.path, exc_info=True)
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
        return BatchRow(
            task.path,
            config.id,
            config.name,
            "failed",
            f"内部错误 internal error: {type(exc).__name__}: {exc}{at}. Fix: run this pilot alone "
            f"with `fiveplans run {task.path} -v` and report the message.",
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _process_task(task: _Task) -> BatchRow:
    return _run_one(task, _process_emit)


def _dask_task(task: _Task, queue_name: str) -> BatchRow:
    _quiet_worker_logging()
    return _run_one(task, _dask_emitter(queue_name))


# ----------------------------------------------------------------------------------------------
# progress
# ----------------------------------------------------------------------------------------------


class _Progress:
    """An overall bar, plus one bar per running pilot (config → run → publish)."""

    def __init__(self, labels: list[str], total: int, *, show: bool) -> None:
        self.show = show and total > 0
        self.labels = labels
        self.bars: dict[int, Any] = {}
        self.overall: Any = None
        if self.show:
            from tqdm.auto import tqdm

            self._tqdm = tqdm
            self.overall = tqdm(total=total, desc="试点 pilots", unit="pilot", position=0)

    def event(self, index: int, kind: str, n: int) -> None:
        if not self.show:
            return
        if kind == "start" and index not in self.bars:
            used = {getattr(b, "pos", 0) for b in self.bars.values()}
            used = {abs(p) for p in used}
            slot = next(i for i in range(1, len(self.bars) + 2) if i not in used)
            self.bars[index] = self._tqdm(
                total=len(_STEPS),
                desc=self.labels[index][:28],
                unit="step",
                leave=False,
                position=slot,
                postfix=_STEPS[0],
            )
        bar = self.bars.get(index)
        if bar is not None and kind == "step":
            bar.update(n - bar.n)
            if n < len(_STEPS):
                bar.set_postfix_str(_STEPS[n], refresh=True)

    def done(self, index: int) -> None:
        bar = self.bars.pop(index, None)
        if bar is not None:
            bar.close()
        if self.overall is not None:
            self.overall.update(1)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        if self.overall is not None:
            self.overall.close()


# ----------------------------------------------------------------------------------------------
# backends
# ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM (and SIGINT) raise :class:`BatchInterrupted` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise BatchInterrupted(signum)

    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _run_inline(tasks: list[_Task], progress: _Progress, rows: dict[int, BatchRow]) -> None:
    for task in tasks:
        rows[task.index] = _run_one(task, progress.event)
        progress.done(task.index)


def _mp_context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        # each worker forks from a server that has the pipeline imported already
        ctx.set_forkserver_preload(["fiveplans.batch", "fiveplans.pipeline"])
        return ctx
    return multiprocessing.get_context("spawn")


def _run_processes(
    tasks: list[_Task], jobs: int, progress: _Progress, rows: dict[int, BatchRow]
) -> None:
    """Worker processes; a worker that dies (out of memory, crash) costs only its own pilot:
    pilots running at that moment get one more try in a fresh pool."""
    ctx = _mp_context()
    events = ctx.Queue()
    pending = list(tasks)
    tries: dict[int, int] = {}
    while pending:
        started: set[int] = set()
        pool = ProcessPoolExecutor(
            max_workers=min(jobs, len(pending)),
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(events,),
        )
        try:
            futures: dict[Future[BatchRow], _Task] = {
                pool.submit(_process_task, t): t for t in pending
            }
            pending = []
            waiting = set(futures)
            while waiting:
                done, waiting = wait(waiting, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(events, progress, started)
                for fut in done:
                    task = futures[fut]
                    try:
                        rows[task.index] = fut.result()
                    except BrokenProcessPool:
                        tries[task.index] = tries.get(task.index, 0) + 1
                        if task.index not in started or tries[task.index] < 2:
                            pending.append(task)
                            continue
                        rows[task.index] = BatchRow(
                            task.path,
                            None,
                            None,
                            "failed",
                            "工作进程退出 — the worker process running this pilot died twice "
                            "(out of memory?). Fix: run it alone with `fiveplans run`, or with "
                            "fewer --jobs.",
                        )
                    progress.done(task.index)
            _drain(events, progress, started)
        except BaseException:
            _terminate(pool)
            raise
        pool.shutdown(wait=True)
        if pending:
            log.warning("a worker process died; retrying %d pilots in a fresh pool", len(pending))
    events.close()


def _drain(events: Any, progress: _Progress, started: set[int]) -> None:
    import queue

    while True:
        try:
            index, kind, n = events.get_nowait()
        except (queue.Empty, OSError, ValueError, EOFError):
            return
        if kind == "start":
            started.add(index)
        progress.event(index, kind, n)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop the pool now: pending pilots are cancelled, running ones killed (their staging
    folders are never published)."""
    procs = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(timeout=5)


def _connect(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(
            "--scheduler needs dask.distributed, which is not installed. 解决 Fix: "
            "`pip install 'fiveplans[dask]'` (or `conda install distributed`)."
        ) from None
    try:
        return Client(address, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"无法连接调度器 — cannot reach the Dask scheduler at {address} ({exc}). 解决 Fix: "
            "check the address (tcp://host:8786), that `dask scheduler` runs there and that this "
            "machine may connect to it."
        ) from None


def _run_dask(
    tasks: list[_Task], address: str, progress: _Progress, rows: dict[int, BatchRow]
) -> None:
    from distributed import Queue

    client = _connect(address)
    name = f"fiveplans-batch-{uuid.uuid4().hex}"
    try:
        events = Queue(name, client=client)
        futures = {
            client.submit(_dask_task, t, name, key=f"fiveplans-{t.index}-{name}", pure=False): t
            for t in tasks
        }
        try:
            remaining = set(futures)
            while remaining:
                _drain_dask(events, progress)
                batch = [f for f in remaining if f.done()]  # local state: no round trip
                if not batch:
                    time.sleep(0.2)
                    continue
                for fut in batch:
                    remaining.discard(fut)
                    task = futures[fut]
                    try:
                        rows[task.index] = fut.result()
                    except Exception as exc:  # the worker died or could not run the task
                        rows[task.index] = BatchRow(
                            task.path,
                            None,
                            None,
                            "failed",
                            f"Dask 工作节点失败 — the Dask worker running this pilot failed: "
                            f"{type(exc).__name__}: {exc}. Fix: check the worker's log; the "
                            "pilot's inputs and the --out folder must be on a filesystem every "
                            "worker can read and write.",
                        )
                    progress.done(task.index)
            _drain_dask(events, progress)
        except BaseException:
            client.cancel(list(futures), force=True)
            raise
    finally:
        client.close()


def _drain_dask(events: Any, progress: _Progress) -> None:
    try:
        items = events.get(batch=True, timeout=0.05)
    except Exception:
        return
    for index, kind, n in items or []:
        progress.event(index, kind, n)


# ----------------------------------------------------------------------------------------------
# the batch
# ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _batch_lock(out: Path) -> Iterator[None]:
    """One batch at a time per output folder (where the OS has ``fcntl`` locks)."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    with open(out / ".batch.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(
                f"{out}: 另一个批量运行正在使用该文件夹 — another batch is writing into this "
                "folder. 解决 Fix: wait for it to finish, or choose another --out."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_batch(
    pilots: Sequence[str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str] = "out",
    jobs: int = 1,
    resume: bool = False,
    scheduler: str | None = None,
    progress: bool = False,
    verbose: bool | None = None,
) -> BatchResult:
    """Run several pilots; never stop at the first failure.

    Parameters
    ----------
    pilots
        Pilot YAML files.
    out
        The batch folder; each pilot goes to ``out/<id>/``.
    jobs
        Local worker processes (1: in this process). Ignored with ``scheduler``.
    resume
        Skip pilots whose outputs are complete and whose config, input files and fiveplans
        version are unchanged (by the provenance hashes in their ``summary.json``).
    scheduler
        Address of a Dask scheduler (``tcp://host:8786``): run the pilots on its workers. The
        inputs and ``out`` must be on a filesystem the workers share, under the same paths.
    progress
        Progress bars: overall and one per running pilot.
    verbose
        Former name of ``progress``.

    Returns
    -------
    BatchResult
        One row per pilot, in the order given.

    Raises
    ------
    BatchInterrupted
        On SIGTERM/SIGINT, after stopping the workers and writing the index.
    ConfigError
        An unreachable scheduler, or another batch running into ``out``.
    """
    from fiveplans.config import read_config

    if verbose is not None:
        progress = progress or verbose
    out = Path(out).resolve()
    paths = [str(Path(p).resolve()) for p in pilots]
    rows: dict[int, BatchRow] = {}
    configs: dict[int, Any] = {}
    with _batch_lock(out):
        shutil.rmtree(out / STAGING, ignore_errors=True)  # left by a killed batch
        for i, p in enumerate(paths):
            try:
                configs[i] = read_config(p)
            except FiveplansError as exc:
                rows[i] = BatchRow(p, None, None, "failed", str(exc))
        by_id: dict[str, list[int]] = {}
        for i, c in configs.items():
            by_id.setdefault(c.id, []).append(i)
        for pid, idx in by_id.items():
            if len(idx) > 1:
                files = ", ".join(paths[i] for i in idx)
                for i in idx:
                    rows[i] = BatchRow(
                        paths[i],
                        pid,
                        configs[i].name,
                        "failed",
                        f"试点编号重复 — the id '{pid}' is used by {len(idx)} pilots ({files}); "
                        "they would overwrite each other. 解决 Fix: give each pilot a unique `id:`.",
                    )
        tasks: list[_Task] = []
        for i, c in configs.items():
            if i in rows:
                continue
            if resume:
                fresh, reason, summary = check_resume(c, out / c.id)
                if fresh:
                    rows[i] = BatchRow(paths[i], c.id, c.name, "skipped", reason, summary)
                    continue
                log.info("%s: rerun: %s", c.id, reason)
            tasks.append(_Task(i, paths[i], str(out), verbose=progress and jobs == 1))
        labels = [configs[i].id if i in configs else Path(p).stem for i, p in enumerate(paths)]
        started = time.time()
        bars = _Progress(labels, len(tasks), show=progress)
        try:
            with _signals_raise():
                if not tasks:
                    pass
                elif scheduler:
                    _run_dask(tasks, scheduler, bars, rows)
                elif jobs > 1 and len(tasks) > 1:
                    _run_processes(tasks, jobs, bars, rows)
                else:
                    _run_inline(tasks, bars, rows)
        except BatchInterrupted:
            bars.close()
            for t in tasks:
                if t.index not in rows:
                    c = configs[t.index]
                    rows[t.index] = _interrupted_row(t, c, out / c.id, started)
            result = BatchResult([rows[i] for i in range(len(paths))], out)
            _write_outputs(result)
            raise
        bars.close()
        result = BatchResult([rows[i] for i in range(len(paths))], out)
        _write_outputs(result)
        shutil.rmtree(out / STAGING, ignore_errors=True)
    return result


# ----------------------------------------------------------------------------------------------
# index.html and summary.xlsx
# ----------------------------------------------------------------------------------------------

CONFLICT_TYPES: dict[str, str] = {
    "farmland_construction": "建设占用基本农田 Construction on basic farmland",
    "ecology_construction": "建设占用生态用地 Construction on ecological land",
    "plan_mismatch": "规划不一致 Plan mismatch",
    "use_mismatch": "用途不一致 Use mismatch",
    "corridor_construction": "廊道内建设 Construction in corridors",
}
STATUS_ZH = {
    "ok": "完成 ok",
    "skipped": "未变 unchanged",
    "failed": "失败 failed",
    "interrupted": "中断 interrupted",
}


@dataclass
class _Figures:
    """Key figures of one pilot for the index and summary.xlsx."""

    row: BatchRow
    boundary_km2: float | None = None
    conflict_ha: dict[str, float | None] = field(default_factory=dict)
    conflict_n: dict[str, int | None] = field(default_factory=dict)
    conflict_share: float | None = None
    zones_km2: dict[str, float | None] = field(default_factory=dict)
    farmland_out_ha: float | None = None
    farmland_in_ha: float | None = None
    assigned: str = ""
    warnings: int | None = None
    skipped: int | None = None
    seconds: float | None = None
    boundary: Any = None  # shapely geometry in lon/lat (EPSG:4490)
    files: list[str] = field(default_factory=list)


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _figures(row: BatchRow, out: Path, cache: dict[str, Any] | None = None) -> _Figures:
    s = row.summary or {}
    f = _Figures(row)
    if not s or row.status not in ("ok", "skipped"):
        return f
    area = _num(s.get("boundary_area_m2"))
    f.boundary_km2 = area / 1e6 if area else None
    for key in CONFLICT_TYPES:
        c = (s.get("conflicts") or {}).get(key) or {}
        a = _num(c.get("area_m2"))
        f.conflict_ha[key] = a / 1e4 if a is not None else None
        f.conflict_n[key] = int(c["count"]) if isinstance(c.get("count"), int) else None
    for z in ("built", "development", "control"):
        a = _num(((s.get("zones") or {}).get(z) or {}).get("area_m2"))
        f.zones_km2[z] = a / 1e6 if a is not None else None
    fb = s.get("farmland_balance") or {}
    out_m2, in_m2 = _num(fb.get("out_m2")), _num(fb.get("in_m2"))
    f.farmland_out_ha = out_m2 / 1e4 if out_m2 is not None else None
    f.farmland_in_ha = in_m2 / 1e4 if in_m2 is not None else None
    cat = s.get("catchments") or {}
    if cat.get("suppliers") is not None:
        f.assigned = f"{cat.get('assigned', 0)}/{cat.get('suppliers')}"
    f.warnings = len(s.get("warnings") or [])
    f.skipped = len(s.get("skipped") or {})
    f.seconds = _num((s.get("provenance") or {}).get("seconds"))
    pilot_dir = out / str(row.pilot_id)
    f.files = [
        n for n in (*REPORT_OUTPUTS, "tables.xlsx", "summary.json") if (pilot_dir / n).is_file()
    ]
    f.boundary, f.conflict_share = _cached_overview(pilot_dir, area, cache)
    return f


def _stamp(pilot_dir: Path) -> list[int]:
    out = []
    for name in ("summary.json", "integrated.gpkg", "results.gpkg"):
        try:
            st = (pilot_dir / name).stat()
            out += [st.st_size, st.st_mtime_ns]
        except OSError:
            out += [-1, -1]
    return out


def _cached_overview(
    pilot_dir: Path, boundary_m2: float | None, cache: dict[str, Any] | None
) -> tuple[Any, float | None]:
    """:func:`_overview_geometry`, remembered in ``OUT/.overview.json`` while the pilot's
    outputs keep their sizes and dates (so a resumed batch does not reread every GeoPackage)."""
    import shapely

    if cache is None:
        return _overview_geometry(pilot_dir, boundary_m2)
    stamp = _stamp(pilot_dir)
    hit = cache.get(pilot_dir.name)
    if hit and hit.get("stamp") == stamp:
        geom = shapely.from_wkt(hit["wkt"]) if hit.get("wkt") else None
        return geom, hit.get("share")
    geom, share = _overview_geometry(pilot_dir, boundary_m2)
    cache[pilot_dir.name] = {
        "stamp": stamp,
        "wkt": shapely.to_wkt(geom, rounding_precision=7) if geom is not None else None,
        "share": share,
    }
    return geom, share


def _overview_geometry(pilot_dir: Path, boundary_m2: float | None) -> tuple[Any, float | None]:
    """The boundary in lon/lat and the share of it under a conflict of any type (each piece
    of land counted once, from results.gpkg's conflict patches)."""
    import pyogrio
    import shapely

    try:
        b = pyogrio.read_dataframe(pilot_dir / "integrated.gpkg", layer="boundary", columns=[])
    except Exception:
        log.debug("no boundary for %s", pilot_dir, exc_info=True)
        return None, None
    if b.crs is None or not len(b):
        return None, None
    boundary = shapely.union_all(b.geometry.values)
    share = None
    try:
        layers = {name for name, _ in pyogrio.list_layers(pilot_dir / "results.gpkg")}
        layer = "conflict_patches" if "conflict_patches" in layers else "conflicts"
        c = pyogrio.read_dataframe(pilot_dir / "results.gpkg", layer=layer, columns=[])
        if c.crs is not None and c.crs != b.crs:
            c = c.to_crs(b.crs)
        inside = shapely.intersection(shapely.union_all(c.geometry.values), boundary)
        total = boundary_m2 or boundary.area
        share = float(inside.area / total) if total else None
    except Exception:
        log.debug("no conflicts for %s", pilot_dir, exc_info=True)
    lonlat = b.set_geometry([boundary], crs=b.crs).to_crs("EPSG:4490").geometry.iloc[0]
    return lonlat, share


_RAMP = (  # conflict share classes (upper bound, colour): ColorBrewer Oranges
    (0.02, "#fdd0a2"),
    (0.05, "#fdae6b"),
    (0.10, "#fd8d3c"),
    (0.20, "#e6550d"),
    (math.inf, "#a63603"),
)


def _colour(share: float | None) -> str:
    if share is None:
        return "#cccccc"
    for upper, colour in _RAMP:
        if share < upper:
            return colour
    return _RAMP[-1][1]


def _svg_overview(figs: list[_Figures], *, width: int = 760, height: int = 460) -> str:
    """An inline SVG of every pilot's boundary coloured by conflict share (no network)."""
    import shapely

    drawn = [f for f in figs if f.boundary is not None and not f.boundary.is_empty]
    if not drawn:
        return "<p>没有可绘制的规划范围 — no boundary to draw.</p>"
    bounds = shapely.bounds(shapely.GeometryCollection([f.boundary for f in drawn]))
    x0, y0, x1, y1 = (float(v) for v in bounds)
    k = math.cos(math.radians((y0 + y1) / 2))  # equirectangular, true scale at mid-latitude
    pad = 24.0
    span_x = max((x1 - x0) * k, 1e-6)
    span_y = max(y1 - y0, 1e-6)
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return pad + (lon - x0) * k * scale, height - pad - (lat - y0) * scale

    def ring(coords: Any) -> str:
        pts = [xy(x, y) for x, y in coords]
        return "M" + "L".join(f"{px:.1f},{py:.1f}" for px, py in pts) + "Z"

    shapes, labels = [], []
    tol = max(x1 - x0, y1 - y0) / 2000
    # the largest first, so a pilot inside another stays visible; labels above every shape
    for f in sorted(drawn, key=lambda f: -f.boundary.area):
        geom = f.boundary.simplify(tol, preserve_topology=True)
        d = "".join(
            ring(p.exterior.coords) + "".join(ring(h.coords) for h in p.interiors)
            for p in shapely.get_parts(geom)
            if p.geom_type == "Polygon"
        )
        share = "—" if f.conflict_share is None else f"{f.conflict_share:.1%}"
        title = html.escape(f"{f.row.name} ({f.row.pilot_id}): 冲突占比 conflict share {share}")
        cx, cy = xy(*f.boundary.representative_point().coords[0])
        colour = _colour(f.conflict_share)
        target = "report.html" if "report.html" in f.files else "summary.json"
        href = html.escape(f"{f.row.pilot_id}/{target}")
        shapes.append(
            f'<a href="{href}"><title>{title}</title><path d="{d}" fill="{colour}" '
            'fill-rule="evenodd" stroke="#444" stroke-width="0.8"/></a>'
        )
        labels.append(
            f'<a href="{href}"><title>{title}</title>'
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{colour}" stroke="#222"/>'
            f'<text x="{cx + 6:.1f}" y="{cy + 4:.1f}" font-size="11" paint-order="stroke" '
            f'stroke="#fff" stroke-width="3">{html.escape(str(f.row.pilot_id))}</text></a>'
        )
    items = shapes + labels
    # a scale bar of a round length (1, 2, 5 × 10^k km) about a fifth of the width
    km_per_px = 111.32 / scale
    target_km = km_per_px * width / 5
    step = 10 ** math.floor(math.log10(target_km))
    bar_km = max(m * step for m in (1, 2, 5) if m * step <= target_km)
    bar_px = bar_km / km_per_px
    bar_label = f"{bar_km:g} km"
    items.append(
        f'<g font-size="11"><rect x="{width - pad - bar_px:.1f}" y="{height - 14}" '
        f'width="{bar_px:.1f}" height="4" fill="#333"/><text x="{width - pad - bar_px:.1f}" '
        f'y="{height - 18}">{bar_label}</text></g>'
    )
    legend = []
    lower = 0.0
    for i, (upper, colour) in enumerate(_RAMP):
        label = f"≥ {lower:.0%}" if math.isinf(upper) else f"{lower:.0%}–{upper:.0%}"
        legend.append(
            f'<rect x="{pad + i * 90:.0f}" y="4" width="14" height="12" fill="{colour}" stroke="#444"/>'
            f'<text x="{pad + i * 90 + 18:.0f}" y="14" font-size="11">{label}</text>'
        )
        lower = upper
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="试点总览图 overview map">'
        f'<rect width="100%" height="100%" fill="#f8f8f5"/>{"".join(legend)}{"".join(items)}</svg>'
    )


def _fmt(v: float | None, digits: int = 2) -> str:
    return "" if v is None else f"{v:,.{digits}f}"


def _index_html(result: BatchResult, figs: list[_Figures]) -> str:
    e = html.escape
    head = [
        "试点 Pilot",
        "名称 Name",
        "状态 Status",
        "规划范围 Boundary km²",
        "冲突占比 Conflict share",
        *(f"{v.split(' ')[0]} {k.split('_')[0]} ha (n)" for k, v in CONFLICT_TYPES.items()),
        "建成区 Built km²",
        "发展区 Development km²",
        "控制区 Control km²",
        "耕地调出/调入 Farmland out/in ha",
        "配套企业 Suppliers assigned",
        "警告 Warnings",
        "跳过 Skipped",
        "用时 Seconds",
        "输出 Outputs",
        "说明 Message",
    ]
    body = []
    for f in figs:
        r = f.row
        pid = e(str(r.pilot_id or "—"))
        links = " ".join(f'<a href="{e(str(r.pilot_id))}/{e(n)}">{e(n)}</a>' for n in f.files)
        cls = "fail" if r.status in ("failed", "interrupted") else "ok"
        share = "" if f.conflict_share is None else f"{f.conflict_share:.1%}"
        conflicts = [
            ""
            if f.conflict_ha.get(k) is None
            else f"{f.conflict_ha[k]:,.2f} ({f.conflict_n.get(k) if f.conflict_n.get(k) is not None else '—'})"
            for k in CONFLICT_TYPES
        ]
        balance = (
            ""
            if f.farmland_out_ha is None
            else f"{f.farmland_out_ha:,.2f} / {_fmt(f.farmland_in_ha)}"
        )
        cells = [
            pid,
            e(str(r.name or "")),
            e(STATUS_ZH.get(r.status, r.status)),
            _fmt(f.boundary_km2),
            share,
            *(e(c) for c in conflicts),
            *(_fmt(f.zones_km2.get(z)) for z in ("built", "development", "control")),
            e(balance),
            e(f.assigned),
            "" if f.warnings is None else str(f.warnings),
            "" if f.skipped is None else str(f.skipped),
            _fmt(f.seconds, 1),
            links,
            e(r.message),
        ]
        body.append(f"<tr class='{cls}'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %z")
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>五规合一试点汇总 Five-plans pilots</title>
<style>body{{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:1.5em;color:#222}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}}
th{{background:#eee;position:sticky;top:0}}tr.fail td{{background:#fde0e0;color:#a00}}
td:nth-child(n+4):not(:last-child){{text-align:right;white-space:nowrap}}</style></head>
<body><h1>五规合一试点汇总 Five-plans-into-one pilots</h1>
<p>{result.n_ok} 完成 ok · {result.n_skipped} 未变 unchanged · {result.n_failed} 失败 failed
 — {e(stamp)}</p>
<h2>总览图 Overview — 冲突占比 share of the boundary in conflict (any type, each piece once)</h2>
{_svg_overview(figs)}
<h2>试点 Pilots</h2>
<table><thead><tr>{"".join(f"<th>{e(h)}</th>" for h in head)}</tr></thead><tbody>
{"".join(body)}
</tbody></table></body></html>
"""


def _write_xlsx(figs: list[_Figures], path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    columns: list[tuple[str, str, str | None]] = [  # (Chinese, English, number format)
        ("试点", "pilot", None),
        ("名称", "name", None),
        ("状态", "status", None),
        ("规划范围 (km²)", "boundary_km2", "#,##0.00"),
        ("冲突占比", "conflict_share", "0.0%"),
        *((f"{v.split(' ')[0]} (公顷)", f"{k}_ha", "#,##0.00") for k, v in CONFLICT_TYPES.items()),
        *((f"{v.split(' ')[0]} (处)", f"{k}_count", "0") for k, v in CONFLICT_TYPES.items()),
        ("建成区 (km²)", "built_km2", "#,##0.00"),
        ("发展区 (km²)", "development_km2", "#,##0.00"),
        ("控制区 (km²)", "control_km2", "#,##0.00"),
        ("耕地调出 (公顷)", "farmland_out_ha", "#,##0.00"),
        ("耕地调入 (公顷)", "farmland_in_ha", "#,##0.00"),
        ("配套企业 已分配/总数", "suppliers_assigned", None),
        ("警告数", "warnings", "0"),
        ("跳过环节数", "skipped_stages", "0"),
        ("用时 (秒)", "seconds", "0.0"),
        ("说明", "message", None),
        ("配置文件", "config_file", None),
    ]
    wb = Workbook()
    ws = wb.active
    ws.title = "试点汇总 Pilots"
    ws.append([c[0] for c in columns])
    ws.append([c[1] for c in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for cell in ws[2]:
        cell.font = Font(italic=True, color="666666")
    red = PatternFill("solid", fgColor="FDE0E0")
    for f in figs:
        r = f.row
        values: list[Any] = [
            r.pilot_id,
            r.name,
            STATUS_ZH.get(r.status, r.status),
            f.boundary_km2,
            f.conflict_share,
            *(f.conflict_ha.get(k) for k in CONFLICT_TYPES),
            *(f.conflict_n.get(k) for k in CONFLICT_TYPES),
            *(f.zones_km2.get(z) for z in ("built", "development", "control")),
            f.farmland_out_ha,
            f.farmland_in_ha,
            f.assigned or None,
            f.warnings,
            f.skipped,
            f.seconds,
            r.message,
            r.path,
        ]
        ws.append(values)
        if r.status in ("failed", "interrupted"):
            for cell in ws[ws.max_row]:
                cell.fill = red
    for j, (zh, en, fmt) in enumerate(columns, start=1):
        letter = get_column_letter(j)
        width = max(len(zh) * 2, len(en)) + 2
        for cell in ws[letter][2:]:
            if fmt:
                cell.number_format = fmt
            width = max(width, min(60, len(str(cell.value or "")) + 2))
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "C3"
    with atomic_path(path) as tmp:
        wb.save(tmp)


def _write_outputs(result: BatchResult) -> None:
    cache_file = result.out / ".overview.json"
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    figs = [_figures(r, result.out, cache) for r in result.rows]
    with atomic_path(cache_file) as tmp:
        tmp.write_text(json.dumps(cache), encoding="utf-8")
    _write_xlsx(figs, result.out / "summary.xlsx")
    page = _index_html(result, figs)
    with atomic_path(result.out / "index.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
