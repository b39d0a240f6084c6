"""``fiveplans batch`` of 10 demo-size pilots: ``--jobs 2`` vs ``--jobs 1``, and ``--resume``.

Goals (issue 10, speed): ``--jobs 2`` at least 1.6x faster than ``--jobs 1`` on a machine with
two free cores; ``--resume`` of a finished batch under 2 s. Each figure is the whole command as a
user runs it (``fiveplans batch … -q`` in a fresh process, imports included). The ten pilots are
the bundled demo pilot under ten ids (the same inputs, so every pilot does the same work).
The load average is printed with the figures: on a shared machine the parallel speed-up is
bounded by the cores other processes leave free. Run: ``python -m benchmarks batch``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from fiveplans.demo import write_demo_inputs

N_PILOTS = 10


def make_pilots(folder: Path, n: int = N_PILOTS) -> list[Path]:
    """``n`` pilots: the demo pilot under ids bench00… (absolute paths to one set of inputs)."""
    demo = write_demo_inputs(folder / "demo")
    doc = yaml.safe_load(demo.read_text(encoding="utf-8"))

    def absolute(source: object) -> object:
        source = {"path": source} if isinstance(source, str) else dict(source)  # type: ignore[arg-type]
        for key in ("path", "control_points"):
            if key in source:
                source[key] = str(demo.parent / source[key])
        return source

    pilots = []
    for i in range(n):
        d = folder / "pilots" / f"bench{i:02d}"
        d.mkdir(parents=True)
        config = {**doc, "id": f"bench{i:02d}", "name": f"{doc['name']} {i:02d}"}
        config["boundary"] = absolute(doc["boundary"])
        config["plans"] = {k: absolute(v) for k, v in doc["plans"].items()}
        for key in ("current", "roads", "centres", "suppliers", "clusters", "districts"):
            if key in doc:
                config[key] = absolute(doc[key])
        (d / "pilot.yml").write_text(
            yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
        pilots.append(d / "pilot.yml")
    return pilots


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _batch(pilots: list[Path], out: Path, *extra: str) -> tuple[float, float]:
    """Wall and CPU seconds (of the command and its worker processes) of one batch command."""
    exe = str(Path(sys.executable).with_name("fiveplans"))
    cpu0, t0 = _cpu(), time.perf_counter()
    proc = subprocess.run(
        [exe, "batch", *map(str, pilots), "--out", str(out), "-q", *extra],
        capture_output=True,
        text=True,
    )
    seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"batch failed ({proc.returncode}):\n{proc.stderr}")
    return seconds, cpu


def _version() -> tuple[float, float]:
    exe = str(Path(sys.executable).with_name("fiveplans"))
    cpu0, t0 = _cpu(), time.perf_counter()
    subprocess.run([exe, "--version"], capture_output=True, check=True)
    return time.perf_counter() - t0, _cpu() - cpu0


def _pilot_seconds(out: Path) -> str:
    """Median and range of the pilots' own run times (summary.json provenance)."""
    seconds = sorted(
        json.loads(p.read_text(encoding="utf-8"))["provenance"]["seconds"]
        for p in out.glob("*/summary.json")
    )
    return f"{statistics.median(seconds):.1f} s ({seconds[0]:.1f}–{seconds[-1]:.1f})"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        folder = Path(tmp)
        pilots = make_pilots(folder)
        print(f"{len(pilots)} demo-size pilots; before: {_load()}", flush=True)
        t1, c1 = _batch(pilots, folder / "out1", "--jobs", "1")
        print(
            f"--jobs 1: {t1:.1f} s wall, {c1:.1f} s CPU, a pilot {_pilot_seconds(folder / 'out1')}"
            f" ({_load()})",
            flush=True,
        )
        t2, _ = _batch(pilots, folder / "out2", "--jobs", "2")
        # (the workers are children of the forkserver, so their CPU is not the command's)
        print(
            f"--jobs 2: {t2:.1f} s wall, a pilot {_pilot_seconds(folder / 'out2')} ({_load()})",
            flush=True,
        )
        resume, rc = min(
            _batch(pilots, folder / "out2", "--jobs", "2", "--resume") for _ in range(3)
        )
        version, vc = _version()
        print(
            f"--resume of the finished batch: {resume:.2f} s wall, {rc:.2f} s CPU (best of 3; "
            f"goal < 2 s); the CLI's start alone (`fiveplans --version`): {version:.2f} s wall, "
            f"{vc:.2f} s CPU ({_load()})"
        )
        print(f"speed-up --jobs 2 vs --jobs 1: {t1 / t2:.2f}x (goal >= 1.6x)")
        shutil.rmtree(folder / "out1", ignore_errors=True)


if __name__ == "__main__":
    main()
