"""The pilot report's cost: report.html + report.pdf against the demo run they belong to.

Goal (issue 10, speed): the report (HTML + PDF) adds at most 30% to a demo run's time.

The demo pilot's inputs are written once into ``$FIVEPLANS_BENCH_DIR/demo`` (default: a
``fiveplans-bench`` folder in the temp directory). What the report adds is measured on the
whole call a planner makes: :func:`fiveplans.run` (load, analyse, every output) timed as it is
and with its report stage left out (``fiveplans.maps.report.start_report`` replaced by a
no-op for those runs only); the difference is what the report costs the run (inside the run
Chromium prints on the other core while the GeoPackages and the map are written). The report
on its own — :func:`fiveplans.maps.tables.planner_tables` then
:func:`fiveplans.maps.report.write_report` (static maps, charts, HTML, headless-Chromium PDF)
on the same pilot and analysis — is timed too and printed, with its share of the run without
it. Best of three each, the two kinds of run alternating. Run: ``python -m benchmarks report``.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path
from unittest import mock

GOAL = 0.30


def _folder() -> Path:
    root = os.environ.get("FIVEPLANS_BENCH_DIR") or os.path.join(
        tempfile.gettempdir(), "fiveplans-bench"
    )
    return Path(root) / "demo"


def main() -> None:
    import fiveplans as fp
    from fiveplans.demo import write_demo_inputs
    from fiveplans.maps import report as report_module
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
    runs, bare, reports = [], [], []

    class _NoReport:  # the run's report stage left out
        def finish(self) -> None:
            pass

        def cancel(self) -> None:
            pass

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the demo's expected warnings
        for i in range(3):
            t = time.perf_counter()
            out = fp.run(yml, out=folder / f"run{i}", overwrite=True)
            runs.append(time.perf_counter() - t)
            with mock.patch.object(report_module, "start_report", lambda *a, **k: _NoReport()):
                t = time.perf_counter()
                fp.run(yml, out=folder / f"bare{i}", overwrite=True)
                bare.append(time.perf_counter() - t)
        if not (out / "report.pdf").exists():
            print("the run wrote no report.pdf: nothing to measure")
            return
        pilot = fp.load_pilot(yml)
        analysis = analyse(pilot)
        summ = summary(pilot, analysis)
        for i in range(3):
            t = time.perf_counter()
            tables = planner_tables(pilot, analysis, summ)
            write_report(pilot, analysis, summ, folder / f"report{i}", tables=tables)
            reports.append(time.perf_counter() - t)
    run, base, report = min(runs), min(bare), min(reports)
    share = (run - base) / base
    print(f"demo run (fiveplans.run, best of 3):         {run:.2f} s {[round(r, 2) for r in runs]}")
    print(
        f"the same run without its report (best of 3): {base:.2f} s {[round(r, 2) for r in bare]}"
    )
    print(
        f"report html+pdf on its own (best of 3):      {report:.2f} s "
        f"{[round(r, 2) for r in reports]} = {report / base:.0%} of the run without it"
    )
    print(
        f"the report adds {run - base:.2f} s = {share:.0%} to the run; goal <= {GOAL:.0%}: "
        f"{'met' if share <= GOAL else 'NOT met'}"
    )
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
