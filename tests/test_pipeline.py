"""`fiveplans.run` on the demo pilot: every output of CONTRACT §5 that this version computes,
checked against the generator's ground truth, and the ledger's decisions carried over."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import openpyxl
import pyogrio
import pytest
import shapely

import fiveplans as fp
from fiveplans.analysis.conflicts import summarize_conflicts
from fiveplans.analysis.ledger import (
    ADJUSTMENT,
    DECISION_COLUMNS,
    ID,
    PAIR_ID,
    PAIR_LEDGER_COLUMNS,
    PAIRS,
)
from fiveplans.demo import write_demo_inputs
from fiveplans.diagnostics import Diagnostics
from fiveplans.errors import ConfigError

RESULT_LAYERS = {
    "conflicts",
    "conflict_patches",
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
    # the run's sink records every warning: nothing is emitted, nothing needs silencing
    out = fp.run(pilot_yml, out=folder / "out", diagnostics=Diagnostics())
    return pilot_yml, out


def test_results_layers_are_all_there(demo_run: tuple[Path, Path]) -> None:
    _, out = demo_run
    layers = dict(pyogrio.list_layers(out / "results.gpkg"))
    assert set(layers) - {"network_pieces"} == RESULT_LAYERS
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
        if str(sheet.cell(row=r, column=col_id).value).startswith("FCP-")
    ]
    for r in farmland_rows:
        sheet.cell(row=r, column=col_adj).value = "基本农田调整"
    filled = tmp_path / "filled.xlsx"
    book.save(filled)

    again = fp.run(pilot_yml, out=tmp_path / "again", ledger=filled, diagnostics=Diagnostics())
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


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_patches_add_up_to_the_summary(demo_run: tuple[Path, Path]) -> None:
    """The ledger's unit is the patch: per type the patches' areas sum to summary.json's (the
    union of the pairs), `count` is the number of patches, every pair is in exactly one."""
    _, out = demo_run
    summary = _summary(out)
    patches = gpd.read_file(out / "results.gpkg", layer="conflict_patches")
    pairs = gpd.read_file(out / "results.gpkg", layer="conflicts")
    assert patches["patch_id"].is_unique
    union = summarize_conflicts(pairs)["conflicts"]
    for kind, figures in summary["conflicts"].items():
        sel = patches[patches["type"] == kind]
        assert sel["area_m2"].sum() == pytest.approx(figures["area_m2"], rel=1e-6, abs=1e-3), kind
        assert sel["area_m2"].sum() == pytest.approx(union[kind]["area_m2"], rel=1e-6), kind
        assert figures["count"] == len(sel)
        assert figures["pairs"] == int((pairs["type"] == kind).sum())
        listed = [c for ids in sel["conflict_ids"] for c in ids.split(",")]
        assert sorted(listed) == sorted(pairs.loc[pairs["type"] == kind, "conflict_id"])
    # the double counting of issue 11 §7: the pairs overlap, the patches do not
    fc = pairs[pairs["type"] == "farmland_construction"]
    assert fc["area_m2"].sum() > summary["conflicts"]["farmland_construction"]["area_m2"] * 1.5
    ledger = fp.analysis.read_ledger(out / "tables.xlsx", sheet="冲突台账")
    assert len(ledger) == len(patches)
    assert ledger["面积(平方米) area m²"].sum() == pytest.approx(patches["area_m2"].sum(), abs=1)
    # every sheet says whether its rows overlap
    book = openpyxl.load_workbook(out / "tables.xlsx")
    contents = list(book["目录 contents"].iter_rows(values_only=True))
    named = {r[1]: r[4] for r in contents[3:] if r[1]}
    assert set(named) == set(book.sheetnames) - {"目录 contents", "冲突台账"}
    conflict_sheets = [name for name in named if "冲突类型" in name]
    assert conflict_sheets and "不可相加" in named[conflict_sheets[0]]  # a type's rows overlap
    ledger_head = {c.value: c.comment for c in book["冲突台账"][1]}
    assert "不可跨类型相加" in ledger_head["冲突图斑编号 patch_id"].text
    info = pyogrio.read_info(out / "results.gpkg", layer="conflicts")
    book.close()
    assert "overlap" in str(info.get("layer_metadata") or info)


def test_warnings_land_once_in_summary_and_xlsx(demo_run: tuple[Path, Path]) -> None:
    _, out = demo_run
    summary = _summary(out)
    warnings_ = summary["warnings"]
    assert len(warnings_) == len(set(warnings_))
    assert any("EPSG:4526" in w for w in warnings_)  # a loading warning
    # every skipped stage is said once among the warnings, with its reason and fix
    for stage, entry in summary["skipped"].items():
        assert entry["reason"] and entry["fix"]
        assert sum(w.startswith(f"{stage}: ") for w in warnings_) == 1, stage
    book = openpyxl.load_workbook(out / "tables.xlsx", read_only=True)
    (sheet,) = [name for name in book.sheetnames if "警告与跳过" in name]
    rows = [r for r in book[sheet].iter_rows(values_only=True)][4:]  # title, note, 2 headers
    book.close()
    # skipped stages with reason and fix, then every other warning, in the summary's order
    assert {r[1] for r in rows if r[0].startswith("跳过")} == set(summary["skipped"])
    skips = tuple(f"{stage}: " for stage in summary["skipped"])
    assert [r[2] for r in rows if r[0].startswith("警告")] == [
        w for w in warnings_ if not w.startswith(skips)
    ]
    prov = summary["provenance"]
    assert prov["config_sha256"] and prov["seconds"] > 0 and "land_use" in prov["inputs"]


def test_pair_based_ledger_carries_over(demo_run: tuple[Path, Path], tmp_path: Path) -> None:
    """A ledger of the earlier, pair-based version: decisions carry over to the patches whose
    decided pairs agree; a patch whose pairs disagree is reported, not decided."""
    pilot_yml, out = demo_run
    pairs = gpd.read_file(out / "results.gpkg", layer="conflicts")
    patches = gpd.read_file(out / "results.gpkg", layer="conflict_patches")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "冲突台账"
    sheet.append(PAIR_LEDGER_COLUMNS)
    mixed = patches[(patches["type"] == "plan_mismatch") & (patches["n_pairs"] > 1)].iloc[0]
    first, second = mixed["conflict_ids"].split(",")[:2]
    for row in pairs.itertuples():
        decision = None
        if row.type == "farmland_construction":
            decision = "基本农田调整"
        elif row.conflict_id in (first, second):
            decision = "规划调整" if row.conflict_id == first else "开发边界调整"
        values = {PAIR_ID: row.conflict_id, "类型 type": row.type, ADJUSTMENT: decision}
        sheet.append([values.get(c) for c in PAIR_LEDGER_COLUMNS])
    old = tmp_path / "old_tables.xlsx"
    book.save(old)

    diag = Diagnostics()
    again = fp.run(pilot_yml, out=tmp_path / "again", ledger=old, diagnostics=diag)
    summary = _summary(again)
    n_fc = int((patches["type"] == "farmland_construction").sum())
    assert summary["ledger"]["kept"] == n_fc
    assert summary["ledger"]["ambiguous"] == [mixed["patch_id"]]
    assert any("台账决定不一致" in w and mixed["patch_id"] in w for w in summary["warnings"])
    ledger = fp.analysis.read_ledger(again / "tables.xlsx", sheet="冲突台账")
    decided = ledger[ledger[ADJUSTMENT].notna()]
    assert set(decided[ID].str[:4]) == {"FCP-"} and len(decided) == n_fc
    assert (decided[ADJUSTMENT] == "基本农田调整").all()
    assert ledger[DECISION_COLUMNS[1:]].isna().all().all()
    # the new ledger lists the pairs of each patch: a later run carries over by patch id
    assert set(ledger[PAIRS].str.split(",").explode()) == set(pairs["conflict_id"])


def test_grades_layer_is_joined_by_area_share() -> None:
    """Each current parcel gets the area-weighted grade of the grade polygons over it; a parcel
    no grade polygon covers keeps its own value."""
    from types import SimpleNamespace

    from fiveplans.pipeline import join_grades

    current = gpd.GeoDataFrame(
        {"source_id": ["a", "b", "c"], "GDDB": [None, 4.0, 9.0]},
        geometry=[
            shapely.box(0, 0, 100, 100),
            shapely.box(100, 0, 200, 100),
            shapely.box(500, 0, 600, 100),
        ],
        crs=4547,
    )
    grades = gpd.GeoDataFrame(
        {"source_id": ["g1", "g2"], "DB": [3, 7]},
        geometry=[shapely.box(0, 0, 25, 100), shapely.box(25, 0, 200, 100)],
        crs=4547,
    )
    config = SimpleNamespace(
        sources={
            "current": SimpleNamespace(grade_field=None),
            "grades": SimpleNamespace(field="DB", where="grades (g.gpkg, field DB)"),
        }
    )
    layers = {"current": current, "grades": grades}
    join_grades(config, layers)
    assert layers["current"]["GDDB"].tolist() == pytest.approx([6.0, 7.0, 9.0])  # .25×3 + .75×7
    assert current["GDDB"].isna().iloc[0]  # the input is not changed
    bad = grades.assign(DB=[3, 16])
    with pytest.raises(fp.DataError, match="1–15"):
        join_grades(config, {"current": current, "grades": bad})
