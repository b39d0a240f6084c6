"""Planner tables (tables.xlsx): Chinese headers, codes kept, rounding, totals against summary.json,
the ledger's round trip, the 警告与跳过 sheet and development tiers — on the demo pilot."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import unicodedata
import warnings
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from openpyxl import load_workbook

import fiveplans as fp
from fiveplans.analysis.ledger import ADJUSTMENT, ADJUSTMENTS, LEDGER_COLUMNS, read_ledger
from fiveplans.demo import write_demo_inputs
from fiveplans.maps.tables import (
    CORE_NEAR_M,
    TIER_LABELS,
    development_tiers,
    planner_tables,
    write_tables_xlsx,
)
from fiveplans.pipeline import analyse, summary

CJK = re.compile(r"[\u4e00-\u9fff]")
CODE_STYLE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")  # out_m2, fail_admin, snap_m


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    """The demo pilot analysed, its summary.json written and read back, and tables.xlsx."""
    root = tmp_path_factory.mktemp("tables")
    yml = write_demo_inputs(root / "inputs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the demo's expected CRS and balance warnings
        pilot = fp.load_pilot(yml)
        analysis = analyse(pilot)
        summ = summary(pilot, analysis)
    (root / "summary.json").write_text(json.dumps(summ, ensure_ascii=False), encoding="utf-8")
    summ = json.loads((root / "summary.json").read_text(encoding="utf-8"))
    tables = planner_tables(pilot, analysis, summ)
    path = write_tables_xlsx(tables, root / "tables.xlsx", ledger=analysis.ledger)
    return pilot, analysis, summ, tables, path


def _sheet(path: Path, prefix: str):
    wb = load_workbook(path)  # not read-only: freeze panes, widths, validations
    name = next(n for n in wb.sheetnames if n.startswith(prefix))
    return wb[name]


def _width(ws, column: int) -> float:
    """A column's width (XlsxWriter groups equal neighbours into one <col min max>)."""
    for dim in ws.column_dimensions.values():
        if dim.min is not None and dim.min <= column <= dim.max:
            return dim.width
    return 0.0


def _body(ws) -> list[tuple]:
    """Rows below the two header rows (title, note, zh header, en header)."""
    return [r for r in ws.iter_rows(min_row=5, values_only=True) if any(v is not None for v in r)]


def _dicts(ws) -> list[dict]:
    """Body rows keyed by the Chinese header (row 3)."""
    heads = [c.value for c in ws[3]]
    return [dict(zip(heads, r, strict=False)) for r in _body(ws)]


def _by_title(path: Path, title: str):
    wb = load_workbook(path)
    for ws in wb.worksheets[2:]:
        if title in str(ws["A1"].value):
            return ws
    raise AssertionError(f"no sheet titled {title!r}")


def test_every_sheet_has_chinese_and_english_headers(run) -> None:
    *_, tables, path = run
    wb = load_workbook(path)
    assert wb.sheetnames[0] == "冲突台账"
    assert len(wb.sheetnames) == len(tables) + 2  # ledger + contents
    for t in tables:
        ws = wb[t.sheet]
        assert str(ws["A1"].value).startswith(f"表 {t.number} ")
        zh = [c.value for c in ws[3]][: len(t.columns)]
        en = [c.value for c in ws[4]][: len(t.columns)]
        for a, b in zip(zh, en, strict=True):
            assert CJK.search(a), f"{t.sheet}: header {a!r} is not Chinese"
            assert not CODE_STYLE.match(b), f"{t.sheet}: code-style header {b!r}"
        assert ws.freeze_panes == "A5"
        for j, head in enumerate(zh, start=1):  # the column fits its Chinese header
            wide = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in head)
            assert _width(ws, j) >= min(wide, 60), f"{t.sheet}: column {head!r} too narrow"


def test_units_in_headers_and_number_formats(run) -> None:
    *_, path = run
    ws = _by_title(path, "各类冲突面积")
    heads = [c.value for c in ws[3]]
    at = heads.index("面积 (m²)")
    assert heads[at : at + 3] == ["面积 (m²)", "面积 (公顷 ha)", "面积 (亩 mu)"]
    assert [c.value for c in ws[4]][at : at + 3] == ["area (m²)", "area (ha)", "area (mu)"]
    assert ws.cell(row=5, column=at + 1).number_format == "#,##0.00"
    ws = _by_title(path, "三区划定")
    assert ws.cell(row=3, column=7).value == "占规划范围比例 (%)"
    assert ws.cell(row=5, column=7).number_format == "0.0%"


def test_values_in_chinese_with_codes_kept_and_rounded(run) -> None:
    *_, path = run
    rows = _dicts(_by_title(path, "三区划定"))
    assert [(r["分区"], r["分区代码"]) for r in rows[:3]] == [
        ("建成区", "built"),
        ("发展区", "development"),
        ("控制区", "control"),
    ]
    for ws in load_workbook(path).worksheets[2:]:
        heads = [c.value for c in ws[3]]
        for r in _body(ws):
            for head, v in zip(heads, r, strict=False):
                if isinstance(v, float) and head and "面积" in head:
                    assert round(v, 2) == v, f"{ws.title} {head}: {v} not rounded"
    quad = _dicts(_by_title(path, "四象限对比：产业集聚区"))
    assert {r["象限"] for r in quad} >= {"两规均为建设用地", "合计 total"}
    assert "plan_only" in {r["象限代码"] for r in quad}


def test_totals_reconcile_with_summary(run) -> None:
    _, _, summ, _, path = run
    conf = {r["类型代码"]: r for r in _dicts(_by_title(path, "各类冲突面积"))}
    for key, v in summ["conflicts"].items():
        assert conf[key]["冲突图斑数 (个)"] == v["count"]
        if "pairs" in v:
            assert conf[key]["规划冲突对数 (对)"] == v["pairs"]
        assert conf[key]["面积 (m²)"] == pytest.approx(v["area_m2"], abs=0.006)
        assert conf[key]["面积 (公顷 ha)"] == pytest.approx(v["area_m2"] / 1e4, abs=0.006)
        assert conf[key]["面积 (亩 mu)"] == pytest.approx(v["area_m2"] / 1e4 * 15, abs=0.006)
    zones = _dicts(_by_title(path, "三区划定"))
    for r in zones[:3]:
        assert r["面积 (m²)"] == pytest.approx(summ["zones"][r["分区代码"]]["area_m2"], abs=0.006)
    assert zones[3]["分区"] == "合计 total"
    assert zones[3]["面积 (m²)"] == pytest.approx(summ["boundary_area_m2"], abs=0.05)
    for title in ("四象限对比：产业集聚区", "四象限对比：城市", "三区地块"):
        total = _dicts(_by_title(path, title))[-1]
        assert "合计 total" in total.values()
        assert total["面积 (m²)"] == pytest.approx(summ["boundary_area_m2"], rel=1e-6)
    balance = _dicts(_by_title(path, "耕地占补平衡"))[-1]
    fb = summ["farmland_balance"]
    assert balance["行政区"] == "合计 total"
    assert balance["调出 (m²)"] == pytest.approx(fb["out_m2"], abs=0.006)
    assert balance["调入 (m²)"] == pytest.approx(fb["in_m2"], abs=0.006)
    assert balance["净增减 (m²)"] == pytest.approx(-fb["shortfall_m2"], abs=0.006)
    cov = _dicts(_by_title(path, "配套企业覆盖率"))[-1]
    assert cov["统计单元类别"] == "合计 total"
    assert cov["配套企业 (家)"] == summ["catchments"]["suppliers"]
    assert cov["半径内 (家)"] == summ["catchments"]["assigned"]
    cat = _dicts(_by_title(path, "物流腹地"))
    assert cat[-1]["配套企业 (家)"] == summ["catchments"]["assigned"]
    assert len(cat) - 1 == summ["catchments"]["clusters"]


def test_coverage_district_rows_include_outside(run) -> None:
    _, _, summ, _, path = run
    rows = _dicts(_by_title(path, "配套企业覆盖率"))
    districts = [r for r in rows if str(r["统计单元类别"]).startswith("行政区")]
    clusters = [r for r in rows if str(r["统计单元类别"]).startswith("集聚区")]
    assert any(str(r["单元"]).startswith("区外") for r in districts)
    assert sum(r["配套企业 (家)"] for r in districts) == summ["catchments"]["suppliers"]
    assert sum(r["配套企业 (家)"] for r in clusters) == summ["catchments"]["suppliers"]
    assert sum(r["半径内 (家)"] for r in districts) == summ["catchments"]["assigned"]


def test_warnings_sheet_lists_summary_warnings_and_skipped(run) -> None:
    _, _, summ, _, path = run
    rows = _dicts(_by_title(path, "警告与跳过"))
    skipped = summ.get("skipped") or {}
    listed = {r["环节"]: r for r in rows if r["类别"] == "跳过 skipped"}
    assert set(listed) == set(skipped)
    for stage, info in skipped.items():
        assert listed[stage]["内容"] == info["reason"] and listed[stage]["解决办法"] == info["fix"]
    messages = [r["内容"] for r in rows if r["类别"] == "警告 warning"]
    for w in summ["warnings"]:
        text = w if isinstance(w, str) else w.get("message")
        if not any(text.startswith(f"{stage}: ") for stage in skipped):  # listed once, above
            assert text in messages


def test_summable_tables_say_whether_rows_overlap(run) -> None:
    *_, tables, path = run
    wb = load_workbook(path)
    for t in tables:
        note = str(wb[t.sheet]["A2"].value)
        if t.additive is True:
            assert "可相加" in note and "不可相加" not in note.split("—")[0], t.sheet
        elif t.additive is False:
            assert "不可相加" in note, t.sheet
    assert next(t for t in tables if t.key == "conflict_types").additive is False
    assert next(t for t in tables if t.key == "zones").additive is True


def test_grade_direction_and_no_duplicate_columns(run) -> None:
    *_, path = run
    assert "1 等最好" in str(_by_title(path, "耕地占补平衡")["A2"].value)
    ws = _by_title(path, "工业用地效率")
    heads = [c.value for c in ws[4] if c.value]
    assert len(heads) == len(set(heads))
    assert not any("hydm2" in str(h).lower() for h in heads)
    rows = _dicts(ws)
    assert {r["低效用地（再开发候选）"] for r in rows[:-1]} <= {"是", "否"}


def test_ledger_round_trip_and_drop_down(run) -> None:
    _, analysis, _, _, path = run
    back = read_ledger(path, sheet="冲突台账")
    assert list(back.columns) == LEDGER_COLUMNS
    assert back[LEDGER_COLUMNS[0]].tolist() == analysis.ledger[LEDGER_COLUMNS[0]].tolist()
    area = "面积(平方米) area m²"
    assert back[area].astype(float).tolist() == pytest.approx(analysis.ledger[area].tolist())
    ws = load_workbook(path)["冲突台账"]
    assert ws.freeze_panes == "B2"
    checks = ws.data_validations.dataValidation
    assert len(checks) == 1 and checks[0].type == "list"
    assert all(a in checks[0].formula1 for a in ADJUSTMENTS)
    col = ws.cell(row=1, column=LEDGER_COLUMNS.index(ADJUSTMENT) + 1).column_letter
    assert str(checks[0].sqref).startswith(f"{col}2:")


def test_ledger_decisions_survive_a_round_trip(run, tmp_path: Path) -> None:
    _, analysis, _summ, tables, _ = run
    ledger = analysis.ledger.copy()
    ledger.loc[0, ADJUSTMENT] = ADJUSTMENTS[0]
    path = write_tables_xlsx(tables, tmp_path / "t.xlsx", ledger=ledger)
    back = read_ledger(path, sheet="冲突台账")
    assert back.loc[0, ADJUSTMENT] == ADJUSTMENTS[0]
    assert back[ADJUSTMENT].iloc[1:].isna().all()
    assert not [p for p in tmp_path.iterdir() if p.name != "t.xlsx"]  # no temp file left


def test_development_tiers_discriminate_on_the_demo(run) -> None:
    pilot, analysis, *_ = run
    tiers = development_tiers(analysis.zones, pilot.layers["clusters"])
    assert len(tiers) == int((analysis.zones["zone"] == "development").sum())
    assert tiers["tier"].nunique() >= 2
    assert set(tiers["tier_label"]) <= set(TIER_LABELS.values())


def test_development_tiers_rule() -> None:
    box = shapely.box
    built = shapely.union_all([box(0, 0, 100, 100), box(100, 100, 200, 150), box(100, -50, 200, 0)])
    zones = gpd.GeoDataFrame(
        {"zone": ["built", "development", "development", "development"]},
        geometry=[
            built,
            box(100, 0, 200, 100),  # built on three of four sides (infill), the core inside
            box(-100, 100, 0, 200),  # touches built at a corner only, 150 m from the core
            box(5000, 0, 5100, 100),  # isolated and far
        ],
        crs="EPSG:4547",
    )
    cores = gpd.GeoDataFrame(geometry=[shapely.Point(150, 50)], crs="EPSG:4547")
    t = development_tiers(zones, cores)
    assert t.loc[1, "contact_share"] == pytest.approx(0.75, abs=0.01)  # 1 m contact buffer
    assert t["tier"].tolist() == [1, 2, 3]
    assert t.loc[2, "core_m"] == pytest.approx(math.hypot(150, 50))
    assert t.loc[3, "core_m"] > CORE_NEAR_M
    no_cores = development_tiers(zones, None)
    assert no_cores["tier"].tolist() == [1, 2, 3]
    assert no_cores["core_m"].isna().all()


def test_ledger_status_counts_decisions(run) -> None:
    pilot, analysis, summ, _, _ = run
    ledger = analysis.ledger.copy()
    ledger.loc[ledger.index[:2], ADJUSTMENT] = [ADJUSTMENTS[0], ADJUSTMENTS[3]]
    decided = dataclasses.replace(analysis, ledger=ledger)
    status = next(t for t in planner_tables(pilot, decided, summ) if t.key == "ledger_status")
    assert status.total["count"] == len(ledger)
    assert status.total["decided"] == 2 and status.total["undecided"] == len(ledger) - 2
    assert ADJUSTMENTS[0] in status.note and ADJUSTMENTS[3] in status.note
    area = next(c for c in ledger.columns if "area m²" in c)
    assert status.total["decided_m2"] == pytest.approx(ledger[area].iloc[:2].sum(), abs=0.01)


def test_text_with_markup_and_control_characters_reads_back(run, tmp_path: Path) -> None:
    pilot, analysis, summ, _, _ = run
    probe = "<img src=x onerror=alert(1)> & 'q' \"d\""
    villages = analysis.villages.copy()
    villages.loc[villages.index[0], "district"] = probe + "\x07"  # a character XML forbids
    tables = planner_tables(pilot, dataclasses.replace(analysis, villages=villages), summ)
    path = write_tables_xlsx(tables, tmp_path / "t.xlsx", ledger=analysis.ledger)
    rows = _dicts(_by_title(path, "规划范围内的村庄"))
    assert probe in [r["行政区"] for r in rows]


def test_cells_by_kind_and_white_space_kept(tmp_path: Path) -> None:
    """Numbers as numbers (shortest round trip), empty cells left out, booleans as 是/否, text
    escaped, and leading/trailing white space preserved — column by column, whatever the
    dtype."""
    import numpy as np
    import pandas as pd

    from fiveplans.maps.tables import Column, Table

    rows = pd.DataFrame(
        {
            "f": pd.Series([0.1, np.nan, 1e16, -2.5], dtype="float64"),
            "i": pd.Series([1, 2, 3, 4], dtype="int64"),
            "s": pd.Series([" lead", "trail ", None, "a<b & c"], dtype="str"),
            "o": pd.Series([True, None, 7, "x\ty"], dtype=object),
        }
    )
    columns = [Column(k, k, k) for k in rows.columns]
    table = Table("probe", "probe", "探针", "probe", columns, rows)
    path = write_tables_xlsx([table], tmp_path / "t.xlsx")
    ws = load_workbook(path, read_only=True)[table.sheet]
    body = [r for r in ws.iter_rows(min_row=5, values_only=True)][:4]
    assert [r[:4] for r in body] == [
        (0.1, 1, " lead", "是"),
        (None, 2, "trail ", None),
        (1e16, 3, None, 7),
        (-2.5, 4, "a<b & c", "x\ty"),
    ]


def test_a_worker_process_writes_the_same_workbook(run, tmp_path: Path) -> None:
    """``start_tables_xlsx`` in a worker process (as a county-size run does) writes the
    workbook the in-process writer writes: every sheet, every cell."""
    import zipfile

    from fiveplans.maps.tables import start_tables_xlsx

    _, analysis, _, tables, path = run
    pending = start_tables_xlsx(
        tables, tmp_path / "worker.xlsx", ledger=analysis.ledger, process=True
    )
    assert pending._job is not None  # really in a worker
    assert pending.result() == tmp_path / "worker.xlsx"
    with zipfile.ZipFile(path) as a, zipfile.ZipFile(tmp_path / "worker.xlsx") as b:
        names = sorted(n for n in a.namelist() if n.startswith("xl/worksheets/"))
        assert names == sorted(n for n in b.namelist() if n.startswith("xl/worksheets/"))
        for name in [*names, "xl/sharedStrings.xml", "xl/workbook.xml"]:
            if name in a.namelist():
                assert a.read(name) == b.read(name), name
    assert not list(tmp_path.glob("*.tmp*"))  # nothing half-written left


def test_a_worker_that_dies_leaves_the_workbook_to_this_process(
    run, tmp_path: Path, monkeypatch
) -> None:
    """A worker that gives no answer (killed, out of memory, no interpreter): the workbook is
    written here, whole; a writer's error in the worker is raised here."""
    import zipfile

    import fiveplans.maps.tables as tables_module

    _, analysis, _, tables, path = run
    monkeypatch.setattr(tables_module, "_WORKER_CODE", "import os; os._exit(9)")
    pending = tables_module.start_tables_xlsx(
        tables, tmp_path / "here.xlsx", ledger=analysis.ledger, process=True
    )
    assert pending._job is not None
    assert pending.result() == tmp_path / "here.xlsx"
    with zipfile.ZipFile(path) as a, zipfile.ZipFile(tmp_path / "here.xlsx") as b:
        assert a.read("xl/workbook.xml") == b.read("xl/workbook.xml")
    monkeypatch.undo()
    taken = tmp_path / "taken.xlsx"  # a folder of that name: the workbook cannot be written
    taken.mkdir()
    with pytest.raises(Exception) as inline:
        tables_module.write_tables_xlsx(tables, taken, ledger=analysis.ledger)
    pending = tables_module.start_tables_xlsx(tables, taken, ledger=analysis.ledger, process=True)
    with pytest.raises(type(inline.value)):
        pending.result()


@pytest.mark.parametrize(
    ("executable", "worker"),
    [
        ("/usr/bin/python3", True),
        ("/opt/venv/bin/python3.11", True),
        ("C:\\Python311\\pythonw.exe", True),
        ("/usr/bin/qgis", False),
        ("C:\\OSGeo4W\\bin\\qgis-bin.exe", False),
        ("", False),
    ],
)
def test_the_worker_needs_a_python_interpreter(executable: str, worker: bool, monkeypatch) -> None:
    """Python embedded in an application (QGIS's console) has no interpreter to start the
    worker with: the workbook is then written in the run's own process."""
    import sys

    import fiveplans.maps.tables as tables_module

    monkeypatch.setattr(sys, "executable", executable)
    assert tables_module._python_executable() is worker


def test_a_script_without_a_main_guard_runs_once(tiny_pilot: Path, tmp_path: Path) -> None:
    """The workbook's worker never imports the caller's script: a planner's script calling
    ``fp.run`` at top level (no ``if __name__ == "__main__":``) runs once, not twice."""
    import subprocess
    import sys

    script = tmp_path / "plan.py"
    script.write_text(
        "import os, warnings\n"
        "import fiveplans as fp\n"
        "import fiveplans.maps.tables as t\n"
        "t.PROCESS_ROWS = 0  # the worker, as in a county-size run\n"
        "print('body', os.getpid(), flush=True)\n"
        "warnings.simplefilter('ignore')\n"
        f"fp.run({str(tiny_pilot)!r}, out={str(tmp_path / 'out')!r})\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("body") == 1, done.stdout
    assert (tmp_path / "out" / "tables.xlsx").is_file()


def test_a_small_workbook_is_written_in_this_process(run, tmp_path: Path) -> None:
    from fiveplans.maps.tables import start_tables_xlsx

    _, analysis, _, tables, _ = run
    pending = start_tables_xlsx(tables, tmp_path / "here.xlsx", ledger=analysis.ledger)
    assert pending._job is None and (tmp_path / "here.xlsx").is_file()
    pending.cancel()  # nothing to stop
    assert pending.result() == tmp_path / "here.xlsx"


def test_a_run_with_the_workbook_in_a_worker(tiny_pilot: Path, tmp_path: Path, monkeypatch) -> None:
    """The whole run with tables.xlsx written by the worker process: every output, and the
    ledger reads back."""
    import fiveplans.maps.tables as tables_module

    monkeypatch.setattr(tables_module, "PROCESS_ROWS", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp.run(tiny_pilot, out=tmp_path / "out")
    out = tmp_path / "out"
    for name in ("integrated.gpkg", "results.gpkg", "map.html", "tables.xlsx", "summary.json"):
        assert (out / name).is_file(), name
    patches = gpd.read_file(out / "results.gpkg", layer="conflict_patches")
    ledger = read_ledger(out / "tables.xlsx")
    assert len(ledger) == len(patches) > 0


@pytest.mark.parametrize("worker", [False, True])
def test_the_report_is_drawn_while_the_workbook_is_written_and_printed_after_it(
    tiny_pilot: Path, tmp_path: Path, monkeypatch, worker: bool
) -> None:
    """The report is drawn first (while a workbook worker runs), Chromium prints while the
    GeoPackages and the map are written; with a workbook worker Chromium starts only once the
    worker has ended (the two never hold memory at once)."""
    import fiveplans.maps.report as report_module
    import fiveplans.maps.tables as tables_module
    import fiveplans.outputs as outputs_module

    calls: list[str] = []
    workbooks: list = []

    def spy(name: str, func):
        def wrapper(*args, **kwargs):
            calls.append(name)
            out = func(*args, **kwargs)
            if name == "start_tables_xlsx":
                workbooks.append(out)
            return out

        return wrapper

    def browser():
        job = workbooks[0]._job
        calls.append("chromium" if job is None or job.proc.poll() is not None else "too early")
        return start_browser()

    start_browser = report_module._start_browser
    monkeypatch.setattr(tables_module, "PROCESS_ROWS", 0 if worker else 10**9)
    for module, name in (
        (tables_module, "start_tables_xlsx"),
        (report_module, "start_report"),
        (outputs_module, "write_integrated"),
    ):
        monkeypatch.setattr(module, name, spy(name, getattr(module, name)))
    monkeypatch.setattr(report_module, "_start_browser", browser)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp.run(tiny_pilot, out=tmp_path / "out")
    assert workbooks[0].running is False  # answered
    assert calls[:3] == ["start_tables_xlsx", "start_report", "write_integrated"] or calls[:4] == [
        "start_tables_xlsx",
        "start_report",
        "chromium",
        "write_integrated",
    ]
    if report_module.find_browser() is not None:
        assert calls.count("chromium") == 1 and "too early" not in calls
    for name in ("report.html", "results.gpkg", "map.html", "tables.xlsx", "summary.json"):
        assert (tmp_path / "out" / name).is_file(), name
