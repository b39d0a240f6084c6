"""`fiveplans.run` on the demo pilot: every output of CONTRACT §5 that this version computes,
checked against the generator's ground truth, and the ledger's decisions carried over."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import openpyxl
import pyogrio
import pytest
import shapely

import fiveplans as fp
from fiveplans.analysis.ledger import ADJUSTMENT, ID
from fiveplans.demo import write_demo_inputs
from fiveplans.errors import ConfigError

RESULT_LAYERS = {
    "conflicts",
    "zones",
    "adjustments",
    "service_areas",
    "catchments",
    "supplier_assignment",
}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("run")
    pilot_yml = write_demo_inputs(folder / "inputs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fp.FiveplansWarning)
        out = fp.run(pilot_yml, out=folder / "out")
    return pilot_yml, out


def test_results_layers_are_all_there(demo_run: tuple[Path, Path]) -> None:
    _, out = demo_run
    layers = dict(pyogrio.list_layers(out / "results.gpkg"))
    assert set(layers) == RESULT_LAYERS
    conflicts = gpd.read_file(out / "results.gpkg", layer="conflicts")
    for col in (
        "conflict_id",
        "type",
        "area_m2",
        "plan_a",
        "plan_b",
        "source_a",
        "source_b",
        "legend_a",
        "legend_b",
    ):
        assert col in conflicts.columns
    assert conflicts["conflict_id"].is_unique
    assigned = gpd.read_file(out / "results.gpkg", layer="supplier_assignment")
    assert {"id", "cluster", "travel_min"} <= set(assigned.columns)


def test_summary_matches_ground_truth(demo_run: tuple[Path, Path]) -> None:
    pilot_yml, out = demo_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    truth = json.loads((pilot_yml.parent / "ground_truth.json").read_text(encoding="utf-8"))
    for kind, expected in truth["conflicts"].items():
        assert summary["conflicts"][kind]["area_m2"] == pytest.approx(
            expected["area_m2"], rel=1e-3
        ), kind
    for zone, expected in truth["zones"].items():
        assert summary["zones"][zone]["area_m2"] == pytest.approx(expected["area_m2"], rel=5e-3), (
            zone
        )
    total = sum(v["area_m2"] for v in summary["zones"].values())
    assert total == pytest.approx(summary["boundary_area_m2"], rel=1e-6)
    balance = summary["farmland_balance"]
    assert balance["out_m2"] == pytest.approx(truth["farmland_balance"]["out_m2"], rel=1e-3)
    # compensation can only come from the pool the generator planted
    assert balance["in_m2"] <= truth["farmland_balance"]["in_pool_m2"] * (1 + 1e-6)
    assert balance["feasible"] == (balance["in_m2"] >= balance["out_m2"] - 1e-6)
    assert summary["catchments"] == {
        "clusters": 4,
        "suppliers": 200,
        "assigned": summary["catchments"]["assigned"],
    }
    assert 0 < summary["catchments"]["assigned"] <= 200


def test_zones_partition_the_boundary(demo_run: tuple[Path, Path]) -> None:
    pilot_yml, out = demo_run
    zones = gpd.read_file(out / "results.gpkg", layer="zones")
    boundary = gpd.read_file(pilot_yml.parent / "boundary.gpkg").geometry.union_all()
    union = shapely.union_all(zones.geometry.values)
    assert shapely.symmetric_difference(union, boundary).area < 1e-6 * boundary.area
    assert zones.geometry.area.sum() == pytest.approx(boundary.area, rel=1e-6)


def test_ledger_decisions_survive_a_rerun(demo_run: tuple[Path, Path], tmp_path: Path) -> None:
    pilot_yml, out = demo_run
    book = openpyxl.load_workbook(out / "tables.xlsx")
    sheet = book["冲突台账"]
    header = [c.value for c in sheet[1]]
    col_id, col_adj = header.index(ID) + 1, header.index(ADJUSTMENT) + 1
    ids = [sheet.cell(row=r, column=col_id).value for r in range(2, sheet.max_row + 1)]
    farmland_rows = [
        r
        for r in range(2, sheet.max_row + 1)
        if str(sheet.cell(row=r, column=col_id).value).startswith("FC-")
    ]
    for r in farmland_rows:
        sheet.cell(row=r, column=col_adj).value = "基本农田调整"
    filled = tmp_path / "filled.xlsx"
    book.save(filled)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fp.FiveplansWarning)
        again = fp.run(pilot_yml, out=tmp_path / "again", ledger=filled)
    summary = json.loads((again / "summary.json").read_text(encoding="utf-8"))
    assert summary["ledger"]["kept"] == len(farmland_rows)
    assert summary["ledger"]["gone"] == []
    ledger = fp.analysis.read_ledger(again / "tables.xlsx", sheet="冲突台账")
    decided = ledger.loc[ledger[ADJUSTMENT].notna(), ID].tolist()
    assert sorted(decided) == sorted(str(ids[r - 2]) for r in farmland_rows)
    # resolved farmland conflicts no longer hold land in the control zone
    before = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["zones"]["control"]["area_m2"] < before["zones"]["control"]["area_m2"]


def test_bad_option_fails_before_loading(tmp_path: Path) -> None:
    pilot_yml = write_demo_inputs(tmp_path / "inputs")
    text = pilot_yml.read_text(encoding="utf-8") + "zones: {closing_m: -5}\n"
    pilot_yml.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'zones'.*closing_m"):
        fp.run(pilot_yml, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    pilot_yml.write_text(text.replace("closing_m: -5", "closeing_m: 5"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'zones.closeing_m': unknown option"):
        fp.run(pilot_yml, out=tmp_path / "out")
