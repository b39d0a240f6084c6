"""The conflict ledger (冲突台账): build, write, read back, validate, merge decisions."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from openpyxl import Workbook, load_workbook

from fiveplans.analysis.ledger import (
    ADJUSTMENTS,
    DECISION_COLUMNS,
    LEDGER_COLUMNS,
    PAIR_ID,
    PAIR_LEDGER_COLUMNS,
    PAIRS,
    conflict_ledger,
    merge_decisions,
    read_ledger,
    write_ledger,
)
from fiveplans.analysis.patches import conflict_patches
from fiveplans.errors import DataError

ID, ADJ = "冲突图斑编号 patch_id", "调整类型 adjustment"


def conflicts() -> gpd.GeoDataFrame:
    area = [1500.0, 666.6666667]
    return gpd.GeoDataFrame(
        {
            "conflict_id": ["FC-0123456789ab", "PM-ba9876543210"],
            "type": ["farmland_construction", "plan_mismatch"],
            "area_m2": area,
            "plan_a": ["cluster", "land_use"],
            "plan_b": ["land_use", "urban"],
            "source_a": ["C1", "L2"],
            "source_b": ["L1", None],
            "legend_a": ["construction", "construction"],
            "legend_b": ["basic_farmland", None],
            "code_a": ["M1", "030"],
            "code_b": ["010", None],
            "area_ha": [a / 1e4 for a in area],
            "area_mu": [a * 15 / 1e4 for a in area],
            "ellipsoidal_area_m2": [1499.9, 666.6],
            "lon": [113.4, 113.5],
            "lat": [33.6, 33.7],
            "district": ["任店镇", None],
        },
        geometry=[shapely.box(0, 0, 30, 50), shapely.box(0, 0, 10, 66.66666667)],
        crs=4547,
    )


def test_ledger_columns_and_labels() -> None:
    led = conflict_ledger(conflicts())
    assert list(led.columns) == LEDGER_COLUMNS
    assert led.loc[0, "类型 type"] == "建设用地占用永久基本农田 farmland_construction"
    assert led.loc[0, "涉及规划 plans"].startswith("产业集聚区总体规划")
    assert led.loc[0, "涉及图斑 source parcels"] == "cluster:C1; land_use:L1"
    assert led.loc[0, PAIRS] == "FC-0123456789ab"
    assert led.loc[1, "面积(亩) area mu"] == pytest.approx(1.0)  # 666.67 m² = 1 亩
    assert led[DECISION_COLUMNS].isna().all().all()
    assert "不重叠" in led.attrs["rows_overlap"]
    # built from the pairs or from their patches: the same ledger
    pd.testing.assert_frame_equal(led, conflict_ledger(conflict_patches(conflicts())))


def test_roundtrip_with_validation_list(tmp_path: Path) -> None:
    led = conflict_ledger(conflicts())
    path = write_ledger(led, tmp_path / "sub" / "ledger.xlsx", sheet="台账")
    assert path.is_file() and not list(path.parent.glob(".*tmp"))
    ws = load_workbook(path)["台账"]
    rules = ws.data_validations.dataValidation
    assert len(rules) == 1 and all(a in rules[0].formula1 for a in ADJUSTMENTS)
    col = LEDGER_COLUMNS.index(ADJ) + 1
    assert ws.cell(1, col).value == ADJ
    assert str(rules[0].sqref).startswith(f"{ws.cell(2, col).column_letter}2:")
    area = LEDGER_COLUMNS.index("面积(平方米) area m²") + 1
    assert "不重叠" in ws.cell(1, area).comment.text  # the header says what may be summed
    back = read_ledger(path)
    assert back.attrs["unit"] == "patch"
    assert list(back[ID]) == list(led[ID])
    assert back.loc[0, "区县/乡镇 district"] == "任店镇"
    assert back.loc[0, "面积(平方米) area m²"] == pytest.approx(1500.0)


def _edit(path: Path, row: int, column: str, value: object) -> None:
    wb = load_workbook(path)
    ws = wb.active
    ws.cell(row, LEDGER_COLUMNS.index(column) + 1).value = value
    wb.save(path)


def test_bad_adjustment_names_the_row(tmp_path: Path) -> None:
    led = conflict_ledger(conflicts())
    path = write_ledger(led, tmp_path / "l.xlsx")
    _edit(path, 3, ADJ, "随便调")
    with pytest.raises(DataError, match=rf"row 3 \({led.loc[1, ID]}: '随便调'\).*基本农田调整"):
        read_ledger(path)


def test_unknown_columns_are_named(tmp_path: Path) -> None:
    path = write_ledger(conflict_ledger(conflicts()), tmp_path / "l.xlsx")
    wb = load_workbook(path)
    wb.active.cell(1, len(LEDGER_COLUMNS) + 1).value = "备注"
    wb.active.cell(2, len(LEDGER_COLUMNS) + 1).value = "x"
    wb.save(path)
    with pytest.raises(
        DataError, match=r"unknown column\(s\) 备注.*Expected exactly: 冲突图斑编号"
    ):
        read_ledger(path)
    with pytest.raises(DataError, match="unknown column"):
        write_ledger(conflict_ledger(conflicts()).assign(extra=1), tmp_path / "m.xlsx")


def test_repeated_ids_are_refused(tmp_path: Path) -> None:
    led = conflict_ledger(conflicts())
    path = write_ledger(led, tmp_path / "l.xlsx")
    _edit(path, 3, ID, led.loc[0, ID])
    with pytest.raises(DataError, match=rf"repeated .*{led.loc[0, ID]}.*row\(s\) 2, 3"):
        read_ledger(path)


def test_merge_keeps_decisions_and_reports_gone_ids(tmp_path: Path) -> None:
    old = conflict_ledger(conflicts())
    old.loc[0, ADJ] = "规划调整"
    old.loc[0, "调整缘由 reason"] = "项目已批"
    extra = old.iloc[[1]].copy()
    extra[ID] = "UMP-ffffffffffff"  # a patch the new run no longer has
    extra[PAIRS] = "UM-ffffffffffff"
    extra[ADJ] = "开发边界调整"
    old = pd.concat([old, extra], ignore_index=True)
    path = write_ledger(old, tmp_path / "old.xlsx")
    filled = read_ledger(path)
    new = conflict_ledger(conflicts().iloc[[0]])
    merged, report = merge_decisions(new, filled)
    assert merged.loc[0, ADJ] == "规划调整" and merged.loc[0, "调整缘由 reason"] == "项目已批"
    assert report["kept"] == 1
    assert report["gone"] == sorted([old.loc[1, ID], "UMP-ffffffffffff"])
    assert report["gone_with_decisions"] == ["UMP-ffffffffffff"]
    assert report["new"] == [] and report["ambiguous"] == []
    assert new[ADJ].isna().all()  # inputs untouched


def two_plans_over_one_farmland() -> gpd.GeoDataFrame:
    """The cluster and the urban plan both put construction on one basic-farmland parcel:
    two pairs, one patch."""
    return gpd.GeoDataFrame(
        {
            "conflict_id": ["FC-000000000001", "FC-000000000002"],
            "type": ["farmland_construction"] * 2,
            "plan_a": ["cluster", "urban"],
            "plan_b": ["land_use", "land_use"],
            "source_a": ["C1", "U1"],
            "source_b": ["L1", "L1"],
            "code_a": ["M1", "M1"],
            "code_b": ["010", "010"],
            "district": ["任店镇", "任店镇"],
        },
        geometry=[shapely.box(0, 0, 100, 100), shapely.box(50, 0, 150, 100)],
        crs=4547,
    )


def _pair_ledger(path: Path, decisions: dict[str, str | None]) -> Path:
    """An earlier, pair-based ledger (one row per conflict pair)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "冲突台账"
    ws.append(PAIR_LEDGER_COLUMNS)
    for cid, decision in decisions.items():
        row = {PAIR_ID: cid, "类型 type": "farmland_construction", ADJ: decision}
        ws.append([row.get(c) for c in PAIR_LEDGER_COLUMNS])
    wb.save(path)
    return path


def test_pair_ledger_decisions_carry_over_when_they_agree(tmp_path: Path) -> None:
    new = conflict_ledger(two_plans_over_one_farmland())
    assert len(new) == 1 and new.loc[0, "冲突对数 pairs"] == 2
    old = read_ledger(
        _pair_ledger(
            tmp_path / "a.xlsx", {"FC-000000000001": "基本农田调整", "FC-000000000002": None}
        )
    )
    assert old.attrs["unit"] == "pair" and list(old.columns) == PAIR_LEDGER_COLUMNS
    merged, report = merge_decisions(new, old)
    assert merged.loc[0, ADJ] == "基本农田调整"
    assert report["kept"] == 1 and report["ambiguous"] == [] and report["gone"] == []


def test_pair_ledger_disagreeing_decisions_are_reported(tmp_path: Path) -> None:
    new = conflict_ledger(two_plans_over_one_farmland())
    old = read_ledger(
        _pair_ledger(
            tmp_path / "b.xlsx",
            {
                "FC-000000000001": "基本农田调整",
                "FC-000000000002": "开发边界调整",
                "FC-0000000000ff": None,
            },
        )
    )
    merged, report = merge_decisions(new, old)
    assert merged[ADJ].isna().all()
    assert report["kept"] == 0
    assert report["ambiguous"] == [new.loc[0, ID]]
    assert report["ambiguous_detail"][new.loc[0, ID]] == ["FC-000000000001", "FC-000000000002"]
    assert report["gone"] == ["FC-0000000000ff"] and report["gone_with_decisions"] == []


def test_decisions_only_reads_what_merge_needs(tmp_path: Path) -> None:
    """The run's fast read of an earlier ledger (ids, pairs, decisions) gives the same
    decisions and merge as the full read, for a workbook saved by openpyxl (shared strings)
    and for one whose inline strings are written by XlsxWriter (a run's tables.xlsx)."""
    import xlsxwriter

    led = conflict_ledger(conflicts())
    path = write_ledger(led, tmp_path / "ledger.xlsx")
    _edit(path, 2, ADJ, "规划调整")
    _edit(path, 3, DECISION_COLUMNS[3], "  保留 <&> ")
    _edit(path, 2, DECISION_COLUMNS[1], 42)
    inline = tmp_path / "inline.xlsx"
    wb = xlsxwriter.Workbook(inline, {"constant_memory": True})
    ws = wb.add_worksheet("冲突台账")
    table = read_ledger(path)
    for j, col in enumerate(LEDGER_COLUMNS):
        ws.write_string(0, j, col)
    for i, values in enumerate(table.itertuples(index=False), start=1):  # row by row
        for j, v in enumerate(values):
            if isinstance(v, str):
                ws.write_string(i, j, v)
            elif v is not None and v == v:
                ws.write_number(i, j, v)
    wb.close()
    kept = [ID, PAIRS, *DECISION_COLUMNS]
    for source in (path, inline):
        fast, full = read_ledger(source, decisions_only=True), read_ledger(source)
        assert list(fast.columns) == list(full.columns)
        pd.testing.assert_frame_equal(fast[kept], full[kept])
        assert merge_decisions(led, fast)[0].equals(merge_decisions(led, full)[0])
        assert fast.loc[0, ADJ] == "规划调整" and fast.loc[1, DECISION_COLUMNS[3]] == "  保留 <&> "
