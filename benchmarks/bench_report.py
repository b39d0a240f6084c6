"""The pilot report's cost: report.html + report.pdf against the demo run they belong to.

Goal (issue 10, speed): the report (HTML + PDF) adds at most 30% to a demo run's time.

The demo pilot's inputs are written once into ``$FIVEPLANS_BENCH_DIR/demo`` (default: a
``fiveplans-bench`` folder in the temp directory). The run is timed in this process with
:func:`fiveplans.run` (load, analyse, every output it writes); the report is timed on the same
pilot and analysis: :func:`fiveplans.maps.tables.planner_tables` then
:func:`fiveplans.maps.report.write_report` (static maps, charts, HTML, headless-Chromium PDF).
When the run already writes the report (``report.pdf`` in its folder) the report's time is
taken off the run's before the ratio. Best of three each. Run: ``python -m benchmarks report``.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path

GOAL = 0.30


def _folder() -> Path:
    root = os.environ.get("FIVEPLANS_BENCH_DIR") or os.path.join(
        tempfile.gettempdir(), "fiveplans-bench"
    )
    return Path(root) / "demo"


def main() -> None:
    import fiveplans as fp
    from fiveplans.demo import write_demo_inputs
    from fiveplans.maps.report import find_browser, write_report
    from fiveplans.maps.tables import planner_tables
    from fiveplans.pipeline import analyse, summary

    folder = _folder()
    yml = folder / "inputs" / "pilot.yml"
    if not yml.exists():
        yml = write_demo_inputs(folder / "inputs")
    if find_browser() is None:
        print("no headless Chromium: the PDF cannot be timed (scripts/install-system-deps.sh)")
        return
    runs, reports = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the demo's expected warnings
        for i in range(3):
            t = time.perf_counter()
            out = fp.run(yml, out=folder / f"run{i}", overwrite=True)
            runs.append(time.perf_counter() - t)
        with_report = (out / "report.pdf").exists()
        pilot = fp.load_pilot(yml)
        analysis = analyse(pilot)
        summ = summary(pilot, analysis)
        for i in range(3):
            t = time.perf_counter()
            tables = planner_tables(pilot, analysis, summ)
            write_report(pilot, analysis, summ, folder / f"report{i}", tables=tables)
            reports.append(time.perf_counter() - t)
    run, report = min(runs), min(reports)
    base = run - report if with_report else run
    share = report / base
    print(f"demo run (fiveplans.run, best of 3): {run:.2f} s {[round(r, 2) for r in runs]}")
    print(f"report html+pdf (best of 3):        {report:.2f} s {[round(r, 2) for r in reports]}")
    print(
        f"the report adds {share:.0%} to the run without it ({base:.2f} s"
        f"{', the run already writes the report' if with_report else ''}); goal <= {GOAL:.0%}: "
        f"{'met' if share <= GOAL else 'NOT met'}"
    )
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
