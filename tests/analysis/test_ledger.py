"""The conflict ledger (冲突台账): build, write, read back, validate, merge decisions."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from openpyxl import load_workbook

from fiveplans.analysis.ledger import (
    ADJUSTMENTS,
    DECISION_COLUMNS,
    LEDGER_COLUMNS,
    conflict_ledger,
    merge_decisions,
    read_ledger,
    write_ledger,
)
from fiveplans.errors import DataError

ID, ADJ = "冲突编号 conflict_id", "调整类型 adjustment"


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
    assert led.loc[0, "规划A plan A"].startswith("产业集聚区总体规划")
    assert led.loc[1, "面积(亩) area mu"] == pytest.approx(1.0)  # 666.67 m² = 1 亩
    assert led[DECISION_COLUMNS].isna().all().all()


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
    back = read_ledger(path)
    assert list(back[ID]) == list(led[ID])
    assert back.loc[0, "区县/乡镇 district"] == "任店镇"
    assert back.loc[0, "面积(平方米) area m²"] == pytest.approx(1500.0)


def _edit(path: Path, row: int, column: str, value: object) -> None:
    wb = load_workbook(path)
    ws = wb.active
    ws.cell(row, LEDGER_COLUMNS.index(column) + 1).value = value
    wb.save(path)


def test_bad_adjustment_names_the_row(tmp_path: Path) -> None:
    path = write_ledger(conflict_ledger(conflicts()), tmp_path / "l.xlsx")
    _edit(path, 3, ADJ, "随便调")
    with pytest.raises(DataError, match=r"row 3 \(PM-ba9876543210: '随便调'\).*基本农田调整"):
        read_ledger(path)


def test_unknown_columns_are_named(tmp_path: Path) -> None:
    path = write_ledger(conflict_ledger(conflicts()), tmp_path / "l.xlsx")
    wb = load_workbook(path)
    wb.active.cell(1, len(LEDGER_COLUMNS) + 1).value = "备注"
    wb.active.cell(2, len(LEDGER_COLUMNS) + 1).value = "x"
    wb.save(path)
    with pytest.raises(DataError, match=r"unknown column\(s\) 备注.*Expected exactly: 冲突编号"):
        read_ledger(path)
    with pytest.raises(DataError, match="unknown column"):
        write_ledger(conflict_ledger(conflicts()).assign(extra=1), tmp_path / "m.xlsx")


def test_repeated_ids_are_refused(tmp_path: Path) -> None:
    path = write_ledger(conflict_ledger(conflicts()), tmp_path / "l.xlsx")
    _edit(path, 3, ID, "FC-0123456789ab")
    with pytest.raises(DataError, match=r"repeated .*FC-0123456789ab.*row\(s\) 2, 3"):
        read_ledger(path)


def test_merge_keeps_decisions_and_reports_gone_ids(tmp_path: Path) -> None:
    old = conflict_ledger(conflicts())
    old.loc[0, ADJ] = "规划调整"
    old.loc[0, "调整缘由 reason"] = "项目已批"
    extra = old.iloc[[1]].copy()
    extra[ID] = "UM-ffffffffffff"  # an id the new run no longer has
    extra[ADJ] = "开发边界调整"
    old = pd.concat([old, extra], ignore_index=True)
    path = write_ledger(old, tmp_path / "old.xlsx")
    filled = read_ledger(path)
    new = conflict_ledger(conflicts().iloc[[0]])
    merged, report = merge_decisions(new, filled)
    assert merged.loc[0, ADJ] == "规划调整" and merged.loc[0, "调整缘由 reason"] == "项目已批"
    assert report["kept"] == 1
    assert report["gone"] == ["PM-ba9876543210", "UM-ffffffffffff"]
    assert report["gone_with_decisions"] == ["UM-ffffffffffff"]
    assert report["new"] == []
    assert new[ADJ].isna().all()  # inputs untouched
