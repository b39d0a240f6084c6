"""Tests of fiveplans.analysis.adjustments (占补平衡 farmland adjustments)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

import fiveplans
import fiveplans.layers.legend
from fiveplans.analysis.adjustments import (
    ACTIONS,
    AdjustmentOptions,
    propose_adjustments,
    solve_balance,
)
from fiveplans.analysis.zones import assign_zones
from fiveplans.errors import ConfigError, CRSError, DataError, FiveplansWarning, StageSkipped
from fiveplans.schema import SurveyFields

CRS = "EPSG:4547"
X0, Y0 = 440_000.0, 3_722_000.0
LEGEND = {"01": "farmland", "04": "grassland", "06": "construction", "11": "water"}


def b(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def frame(rows: list[dict], geoms: list[shapely.Geometry]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=CRS)


def current(parcels: list[tuple[str, int | None, shapely.Geometry]]) -> gpd.GeoDataFrame:
    rows = [
        {
            "source_id": f"T{k}",
            "DLBM": code,
            "legend": LEGEND[code[:2]],
            "use": None,
            "GDDB": pd.NA if grade is None else grade,
        }
        for k, (code, grade, _g) in enumerate(parcels)
    ]
    out = frame(rows, [p[2] for p in parcels])
    out["GDDB"] = out["GDDB"].astype("Int64")
    return out


def layers(rest: str = "0404", pool: tuple[int, int] | None = (4, 3)) -> dict:
    """A 1 km square: basic farmland x<500 (grade 5); cluster construction 400..700 x 0..200,
    so 400..500 x 0..200 (2 ha) is construction on basic farmland. ``pool`` grades the two
    general cultivated parcels B (500..600 x 200..500, touching the basic farmland) and C
    (800..1000 x 700..1000, detached); ``rest`` codes the other land."""
    parcels: list[tuple[str, int | None, shapely.Geometry]] = [("0101", 5, b(0, 0, 500, 1000))]
    if pool is None:
        parcels += [(rest, None, b(500, 200, 600, 500)), (rest, None, b(800, 700, 1000, 1000))]
    else:
        parcels += [
            ("0103", pool[0], b(500, 200, 600, 500)),
            ("0102", pool[1], b(800, 700, 1000, 1000)),
        ]
    other = shapely.difference(
        b(500, 0, 1000, 1000), shapely.union_all([b(500, 200, 600, 500), b(800, 700, 1000, 1000)])
    )
    parcels.append((rest, None, other))
    lay = {
        "boundary": frame([{"legend": "other", "use": None}], [b(0, 0, 1000, 1000)]),
        "land_use": frame(
            [{"legend": "basic_farmland", "use": None}, {"legend": "farmland", "use": None}],
            [b(0, 0, 500, 1000), b(500, 0, 1000, 1000)],
        ),
        "cluster": frame([{"legend": "construction", "use": "industrial"}], [b(400, 0, 700, 200)]),
        "current": current(parcels),
        "districts": frame(
            [{"name": "西镇"}, {"name": "东镇"}], [b(0, 0, 550, 1000), b(550, 0, 1000, 1000)]
        ),
    }
    return lay


def conflict_table(ids: tuple[str, ...] = ("FC-1",)) -> gpd.GeoDataFrame:
    rows = [{"conflict_id": i, "type": "farmland_construction", "area_m2": 20_000.0} for i in ids]
    rows.append({"conflict_id": "PM-1", "type": "plan_mismatch", "area_m2": 20_000.0})
    return frame(rows, [b(400, 0, 500, 200)] * (len(ids) + 1))


def grade_under(geom: shapely.Geometry, cur: gpd.GeoDataFrame) -> float:
    """Area-weighted GDDB of the cultivated land under ``geom``, by plain overlay."""
    farm = cur[cur["DLBM"].str.startswith("01")]
    w = np.array([shapely.intersection(geom, g).area for g in farm.geometry])
    return float(np.sum(w * farm["GDDB"].astype(float).to_numpy()) / np.sum(w))


def check_balance_from_geometries(res, lay) -> None:
    """Basic farmland after the adjustment keeps its area and quality (own overlay)."""
    adj = res.adjustments
    basic = shapely.union_all(
        lay["land_use"].geometry[lay["land_use"]["legend"] == "basic_farmland"].to_numpy()
    )
    out = shapely.union_all(adj.geometry[adj["action"] == ACTIONS["out"]].to_numpy())
    inn = shapely.union_all(adj.geometry[adj["action"] == ACTIONS["in"]].to_numpy())
    assert shapely.intersection(inn, basic).area < 1e-6  # compensation is new basic farmland
    after = shapely.union(shapely.difference(basic, out), inn)
    assert after.area >= basic.area - 1e-6
    if out.area > 0:
        assert grade_under(inn, lay["current"]) <= grade_under(out, lay["current"]) + 1e-9


def test_redesignate_and_compensate_with_adjacent_better_land() -> None:
    lay = layers()
    res = propose_adjustments(lay, conflict_table())
    adj = res.adjustments
    assert res.feasible and res.shortfall_m2 == 0.0 and res.quality_ok
    assert sorted(adj["action"]) == sorted([ACTIONS["out"], ACTIONS["in"]])
    out = adj[adj["action"] == ACTIONS["out"]].iloc[0]
    inn = adj[adj["action"] == ACTIONS["in"]].iloc[0]
    assert out["area_m2"] == pytest.approx(20_000.0) and out["grade"] == pytest.approx(5.0)
    assert out["conflict_id"] == "FC-1" and out["district"] == "西镇"
    # B (3 ha, grade 4, touching basic farmland) beats the detached C
    assert inn["area_m2"] == pytest.approx(30_000.0) and inn["grade"] == 4.0
    assert bool(inn["adjacent"]) and inn["district"] == "西镇"
    assert res.farmland_balance == pytest.approx({"out_m2": 20_000.0, "in_m2": 30_000.0})
    total = res.balance.iloc[-1]
    assert total["district"] == "合计 total" and total["net_m2"] == pytest.approx(10_000.0)
    check_balance_from_geometries(res, lay)


def test_detached_land_used_when_adjacent_land_is_worse() -> None:
    lay = layers(rest="1101", pool=(7, 3))  # water around: no move site
    res = propose_adjustments(lay, conflict_table())
    inn = res.adjustments[res.adjustments["action"] == ACTIONS["in"]]
    assert len(inn) == 1 and inn.iloc[0]["grade"] == 3.0 and not inn.iloc[0]["adjacent"]
    assert res.feasible
    check_balance_from_geometries(res, lay)


def test_move_beats_costly_detached_compensation() -> None:
    # C (6 ha, detached) would cost 6 x (0.01 + 0.5) = 3.06; moving 2 ha costs 2
    res = propose_adjustments(layers(pool=(7, 3)), conflict_table())
    assert res.adjustments["action"].tolist() == [ACTIONS["move"]]
    res = propose_adjustments(
        layers(pool=(7, 3)), conflict_table(), options=AdjustmentOptions(move_cost=2.0)
    )
    assert sorted(res.adjustments["action"]) == sorted([ACTIONS["out"], ACTIONS["in"]])


def test_move_when_there_is_nothing_to_compensate_with() -> None:
    lay = layers(pool=None)
    res = propose_adjustments(lay, conflict_table())
    adj = res.adjustments
    assert adj["action"].tolist() == [ACTIONS["move"]]
    mv = adj.iloc[0]
    assert mv["area_m2"] == pytest.approx(20_000.0, rel=2e-4)
    assert res.feasible and res.farmland_balance == {"out_m2": 0.0, "in_m2": 0.0}
    g = mv.geometry
    basic = b(0, 0, 500, 1000)
    assert shapely.intersection(g, basic).area < 1e-6
    assert shapely.intersection(g, b(400, 0, 700, 200)).area < 1e-6  # not on planned land
    assert g.distance(b(500, 0, 700, 200)) <= 30.0  # next to the development block
    assert mv["site_id"].startswith("S-")


def test_infeasible_without_farmland_or_sites_reports_the_shortfall() -> None:
    lay = layers(rest="1101", pool=None)  # everything else is water: no pool, no site
    with pytest.warns(FiveplansWarning, match="farmland balance not met"):
        res = propose_adjustments(lay, conflict_table())
    assert not res.feasible
    assert res.shortfall_m2 == pytest.approx(20_000.0)
    assert res.farmland_balance == pytest.approx({"out_m2": 20_000.0, "in_m2": 0.0})
    assert "NOT balanced" in res.message


def test_worse_land_is_never_used_to_compensate() -> None:
    lay = layers(rest="1101", pool=(8, 9))
    with pytest.warns(FiveplansWarning, match="farmland balance not met"):
        res = propose_adjustments(lay, conflict_table())
    assert not res.feasible and res.shortfall_m2 == pytest.approx(20_000.0)
    assert (res.adjustments["action"] != ACTIONS["in"]).all()
    assert res.quality_ok


def test_overlapping_pieces_of_one_conflict_count_once() -> None:
    lay = layers()
    res = propose_adjustments(lay, conflict_table(("FC-1", "FC-2")))
    out = res.adjustments[res.adjustments["action"] == ACTIONS["out"]]
    assert len(out) == 1 and out.iloc[0]["conflict_id"] == "FC-1, FC-2"
    assert res.farmland_balance["out_m2"] == pytest.approx(20_000.0)


def test_resolved_and_absent_conflicts_need_nothing() -> None:
    res = propose_adjustments(layers(), conflict_table(), resolved=["FC-1"])
    assert res.feasible and len(res.adjustments) == 0
    res = propose_adjustments(layers(), None)
    assert res.feasible and res.shortfall_m2 == 0.0


def test_bad_inputs() -> None:
    lay = layers()
    del lay["current"]
    with pytest.raises(DataError, match="current"):
        propose_adjustments(lay, conflict_table())
    lay = layers()
    lay["current"].loc[0, "GDDB"] = 16
    with pytest.raises(DataError, match=r"GDDB 16.* outside 1–15"):
        propose_adjustments(lay, conflict_table())
    with pytest.raises(ConfigError, match=r"AdjustmentOptions\.adjacency_m"):
        AdjustmentOptions(adjacency_m=-1)
    with pytest.raises(ConfigError, match="shortfall_cost"):
        AdjustmentOptions(shortfall_cost=1.0, move_cost=5.0)
    with pytest.raises(ConfigError, match="district_field"):
        propose_adjustments(
            layers(), conflict_table(), options=AdjustmentOptions(district_field="x")
        )


# --------------------------------------------------------------------------- reduced form


def test_without_grades_the_balance_is_by_area_and_says_so() -> None:
    lay = layers()
    lay["current"] = lay["current"].drop(columns=["GDDB"])
    with pytest.warns(StageSkipped, match="farmland_balance.quality") as caught:
        res = propose_adjustments(lay, conflict_table())
    skip = next(w.message for w in caught if isinstance(w.message, StageSkipped))
    assert skip.stage == "farmland_balance.quality"
    assert "grade_field:" in skip.fix and "grades:" in skip.fix
    assert not res.quality_checked and res.quality_ok is None
    assert res.basis == "数量平衡, 质量未核 area only, quality not checked"
    assert set(res.balance["basis"]) == {res.basis}
    assert "质量未核" in res.message
    adj = res.adjustments
    assert adj["grade"].isna().all()
    # by area alone: the adjacent 3 ha parcel B compensates the 2 ha re-designated
    assert res.feasible and res.shortfall_m2 == 0.0
    assert res.farmland_balance == pytest.approx({"out_m2": 20_000.0, "in_m2": 30_000.0})
    assert res.candidates["grade"].isna().all()
    # the pool is every cultivated parcel outside protected land, graded or not
    assert res.candidates["area_m2"].sum() == pytest.approx(30_000.0 + 60_000.0)


def test_grades_in_another_column_via_survey_fields() -> None:
    full = propose_adjustments(layers(), conflict_table())
    lay = layers()
    lay["current"] = lay["current"].rename(columns={"GDDB": "ZLDB"})
    res = propose_adjustments(lay, conflict_table(), fields=SurveyFields(grade="ZLDB"))
    assert res.quality_checked and res.quality_ok
    pd.testing.assert_frame_equal(res.balance, full.balance)
    assert res.balance["basis"].iloc[-1] == "数量质量平衡 quantity and quality balanced"


def infrastructure_line(width: float | None, code: str = "DL110") -> gpd.GeoDataFrame:
    """A line across parcel B (x 500..600, y 200..500) at y = 350."""
    rows = [{"source_id": "I1", "source_code": code, "legend": "other", "use": None}]
    if width is not None:
        rows[0]["corridor_width_m"] = width
    return frame(rows, [shapely.LineString([(X0 + 450, Y0 + 350), (X0 + 650, Y0 + 350)])])


def test_corridor_width_column_overrides_the_code_table() -> None:
    table_width = float(
        fiveplans.layers.legend.code_table("infrastructure")
        .set_index("code")
        .loc["DL110", "corridor_width_m"]
    )
    for width, expect in ((None, table_width), (20.0, 20.0)):
        lay = dict(layers(), infrastructure=infrastructure_line(width))
        res = propose_adjustments(lay, conflict_table())
        cand = res.candidates
        # the strip is kept free of compensation: B loses 100 m x the corridor width
        b_area = cand.loc[cand["grade"] == 4.0, "area_m2"].sum()
        assert b_area == pytest.approx(30_000.0 - 100.0 * expect, rel=1e-6), width


def test_corridor_without_width_is_reported_not_excluded() -> None:
    lay = dict(layers(), infrastructure=infrastructure_line(None, code="XX-unknown"))
    with pytest.warns(FiveplansWarning, match="no corridor width"):
        res = propose_adjustments(lay, conflict_table())
    cand = res.candidates
    assert cand.loc[cand["grade"] == 4.0, "area_m2"].sum() == pytest.approx(30_000.0)


def test_layers_in_another_crs_are_refused_not_reprojected() -> None:
    lay = layers()
    lay["current"] = lay["current"].to_crs("EPSG:4546")
    with pytest.raises(CRSError, match="'current'"):
        propose_adjustments(lay, conflict_table())
    with pytest.raises(CRSError, match="'zones'"):
        propose_adjustments(
            layers(), conflict_table(), zones=assign_zones(layers(), None).to_crs(4490)
        )


# --------------------------------------------------------------------------- MILP vs brute force


def brute_force(a, g, ac, gc, adj, at, opts: AdjustmentOptions) -> float:
    """Enumerate every move/re-designate choice and every candidate subset."""
    best = math.inf
    ni, nc, nt = len(a), len(ac), len(at)
    for choice in itertools.product(range(-1, nt), repeat=ni):
        load = [0.0] * nt
        for i, t in enumerate(choice):
            if t >= 0:
                load[t] += a[i]
        if any(load[t] > at[t] + 1e-12 for t in range(nt)):
            continue
        red = [i for i in range(ni) if choice[i] < 0]
        moved = sum(a[i] for i in range(ni) if choice[i] >= 0)
        out = sum(a[i] for i in red)
        out_q = sum(a[i] * g[i] for i in red)
        for bits in itertools.product((0, 1), repeat=nc):
            sel = [c for c in range(nc) if bits[c]]
            inn = sum(ac[c] for c in sel)
            in_q = sum(ac[c] * gc[c] for c in sel)
            if sel and red and in_q * out > out_q * inn + 1e-9:  # mean grade would rise
                continue
            cost = opts.move_cost * moved + opts.shortfall_cost * max(0.0, out - inn)
            cost += sum(
                ac[c] * (opts.compensation_cost + (0 if adj[c] else opts.detached_cost))
                for c in sel
            )
            best = min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(25))
def test_milp_agrees_with_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ni, nc, nt = int(rng.integers(1, 4)), int(rng.integers(0, 6)), int(rng.integers(0, 3))
    a = np.round(rng.uniform(0.5, 5.0, ni), 2)
    g = np.round(rng.uniform(4, 10, ni), 2)
    ac = np.round(rng.uniform(0.3, 4.0, nc), 2)
    gc = rng.integers(3, 11, nc).astype(float)
    adj = rng.random(nc) < 0.5
    at = np.round(rng.uniform(0.5, 8.0, nt), 2)
    opts = AdjustmentOptions(move_cost=float(rng.uniform(0.2, 3.0)))
    sol = solve_balance(a, g, ac, gc, adj, at, options=opts)
    assert sol.objective == pytest.approx(brute_force(a, g, ac, gc, adj, at, opts), abs=1e-6)
    # the solution itself honours the rules
    red, sel = sol.redesignate, sol.selected
    assert np.all(red | (sol.site >= 0)) and not np.any(red & (sol.site >= 0))
    for t in range(nt):
        assert a[sol.site == t].sum() <= at[t] + 1e-9
    if red.any() and sel.any():
        assert (ac[sel] @ gc[sel]) / ac[sel].sum() <= (a[red] @ g[red]) / a[red].sum() + 1e-9
    assert sol.shortfall_ha == pytest.approx(max(0.0, a[red].sum() - ac[sel].sum()))


def test_demo_balance(tmp_path: Path) -> None:
    conflicts_mod = pytest.importorskip("fiveplans.analysis.conflicts")
    from fiveplans.demo import write_demo_inputs

    yml = write_demo_inputs(tmp_path / "demo")
    truth = json.loads((tmp_path / "demo" / "ground_truth.json").read_text(encoding="utf-8"))
    fb = truth["farmland_balance"]
    with pytest.warns(fiveplans.errors.FiveplansWarning):  # the land-use plan has no .prj
        pilot = fiveplans.load_pilot(yml)
    table = conflicts_mod.find_conflicts(pilot.layers, sliver_m2=400)
    # the balance cannot close; two conflicts have no graded land under them (both said)
    with pytest.warns(FiveplansWarning) as caught:
        res = propose_adjustments(pilot.layers, table)
    said = " ".join(str(w.message) for w in caught)
    assert "不平衡 NOT balanced" in said and "无等别耕地" in said
    cand = res.candidates
    assert cand["area_m2"].sum() == pytest.approx(fb["in_pool_m2"], rel=1e-3)
    mean = float((cand["area_m2"] * cand["grade"]).sum() / cand["area_m2"].sum())
    assert mean == pytest.approx(fb["in_pool_mean_grade"], abs=0.01)
    # the pool is smaller than the farmland under construction and there is no free land
    # to move to: the balance cannot close, and says by how much at least
    assert fb["in_pool_m2"] < fb["out_m2"]
    assert res.farmland_balance["out_m2"] == pytest.approx(fb["out_m2"], rel=1e-4)
    assert not res.feasible
    assert res.shortfall_m2 >= fb["out_m2"] - fb["in_pool_m2"] - 1.0
    inn = res.adjustments[res.adjustments["action"] == ACTIONS["in"]]
    out = res.adjustments[res.adjustments["action"] == ACTIONS["out"]]
    assert (inn["area_m2"] @ inn["grade"]) / inn["area_m2"].sum() <= (
        out["area_m2"] @ out["grade"]
    ) / out["area_m2"].sum() + 1e-9


# --------------------------------------------------------------------------- the stages


def test_stage_units_dissolve_overlapping_pieces_and_keep_their_ids() -> None:
    from fiveplans.analysis import adjustments as mod

    fc = frame(
        [{"conflict_id": i} for i in ("FC-b", "FC-a", "FC-c")],
        [b(0, 0, 100, 100), b(50, 0, 150, 100), b(500, 500, 510, 510)],
    )
    units, ids = mod._units(fc)
    assert ids == ["FC-a, FC-b", "FC-c"]  # largest unit first, ids sorted
    assert [u.area for u in units] == pytest.approx([15_000.0, 100.0])


def test_stage_verdict_labels_the_basis() -> None:
    from fiveplans.analysis import adjustments as mod

    adj = frame(
        [
            {"action": ACTIONS["out"], "area_m2": 100.0, "grade": None, "district": "x"},
            {"action": ACTIONS["in"], "area_m2": 150.0, "grade": None, "district": "x"},
        ],
        [b(0, 0, 10, 10), b(20, 0, 35, 10)],
    )
    adj["grade"] = adj["grade"].astype(float)
    sol = solve_balance([], [], [], [], [], [])
    balance, feasible, shortfall, quality_ok, msg = mod._verdict(adj, False, sol)
    assert feasible and shortfall == 0.0 and quality_ok is None
    assert set(balance["basis"]) == {mod.BALANCE_BASIS[False]} and "质量未核" in msg
