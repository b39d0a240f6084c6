"""Tests of fiveplans.analysis.zones (built / development / control zones)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, box

import fiveplans
from fiveplans.analysis.zones import ZoneOptions, assign_zones
from fiveplans.errors import ConfigError, DataError

CRS = "EPSG:4547"
X0, Y0 = 440_000.0, 3_722_000.0


def b(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A box in metres from the fixture origin."""
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def gdf(rows: list[tuple[str, shapely.Geometry]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"legend": [r[0] for r in rows], "use": [None] * len(rows)},
        geometry=[r[1] for r in rows],
        crs=CRS,
    )


def conflicts(rows: list[tuple[str, str, shapely.Geometry]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "conflict_id": [r[0] for r in rows],
            "type": [r[1] for r in rows],
            "area_m2": [r[2].area for r in rows],
        },
        geometry=[r[2] for r in rows],
        crs=CRS,
    )


def layers_1km() -> dict[str, gpd.GeoDataFrame]:
    """A 1 km square: built west strip (x<300), cluster construction x<800, ecology SE."""
    return {
        "boundary": gdf([("other", b(0, 0, 1000, 1000))]),
        "current": gdf([("construction", b(0, 0, 300, 1000)), ("farmland", b(300, 0, 1000, 1000))]),
        "cluster": gdf([("construction", b(0, 0, 800, 1000)), ("farmland", b(800, 0, 1000, 1000))]),
        "ecology": gdf([("ecological", b(700, 0, 1000, 200))]),
    }


def totals(z: gpd.GeoDataFrame) -> dict[str, float]:
    s = z.groupby("zone")["area_m2"].sum()
    return {k: float(s.get(k, 0.0)) for k in ("built", "development", "control")}


def test_hand_computed_zones() -> None:
    conf = conflicts([("FC-1", "farmland_construction", b(400, 400, 500, 500))])
    z = assign_zones(layers_1km(), conf)
    t = totals(z)
    # built: the strip x<300; development: x<800 minus built, the conflict and the eco
    # corner (700..800 x 0..200); control: the rest of the square
    assert t["built"] == pytest.approx(300_000.0, abs=1e-3)
    assert t["development"] == pytest.approx(500_000.0 - 10_000.0 - 20_000.0, abs=1e-3)
    assert t["control"] == pytest.approx(1e6 - 300_000.0 - 470_000.0, abs=1e-3)
    assert list(z.columns[:5]) == ["zone", "area_m2", "reason", "block_id", "rank"]
    ctl = z[z["zone"] == "control"]
    by_reason = ctl.groupby("reason")["area_m2"].sum()
    assert by_reason["未解决冲突 unresolved conflict: FC-1"] == pytest.approx(10_000.0)
    assert by_reason["生态用地 ecological land"] == pytest.approx(60_000.0)
    reserve = [r for r in by_reason.index if r.startswith("非规划建设用地")]
    assert by_reason[reserve[0]] == pytest.approx(160_000.0)
    assert ctl.loc[ctl["reason"].str.contains("FC-1"), "conflict_ids"].tolist() == ["FC-1"]
    assert all(z["reason"].str.len() > 0)
    dev = z[z["zone"] == "development"]
    assert dev["rank"].notna().all() and z.loc[z["zone"] != "development", "rank"].isna().all()
    assert z.crs == CRS


def test_resolved_conflict_becomes_development() -> None:
    conf = conflicts([("FC-1", "farmland_construction", b(400, 400, 500, 500))])
    z = assign_zones(layers_1km(), conf, resolved={"FC-1"})
    assert totals(z)["development"] == pytest.approx(480_000.0, abs=1e-3)
    assert not z["reason"].str.contains("FC-1").any()


def test_unknown_resolved_id_warns() -> None:
    with pytest.warns(fiveplans.errors.FiveplansWarning, match="FC-9"):
        assign_zones(layers_1km(), None, resolved=["FC-9"])


def test_closing_fills_narrow_gap_but_not_conflicts() -> None:
    lay = layers_1km()
    # two built strips 20 m apart that run past the boundary
    lay["current"] = gdf(
        [
            ("construction", b(-100, -100, 300, 1100)),
            ("construction", b(320, -100, 600, 1100)),
            ("farmland", b(300, -100, 320, 1100)),
            ("farmland", b(600, -100, 1100, 1100)),
        ]
    )
    open_ = assign_zones(lay, None, options=ZoneOptions(closing_m=0))
    assert totals(open_)["built"] == pytest.approx(580_000.0, abs=1e-3)
    closed = assign_zones(lay, None, options=ZoneOptions(closing_m=15))
    assert totals(closed)["built"] == pytest.approx(600_000.0, abs=0.5)
    assert (closed["zone"] == "built").sum() == 1  # one consolidated block
    # an unresolved conflict in the gap stays out of the built zone
    conf = conflicts([("PM-1", "plan_mismatch", b(300, 0, 320, 500))])
    z = assign_zones(lay, conf, options=ZoneOptions(closing_m=15))
    assert totals(z)["built"] == pytest.approx(590_000.0, abs=0.5)
    # a gap wider than twice the closing distance stays open
    z = assign_zones(lay, None, options=ZoneOptions(closing_m=9))
    assert totals(z)["built"] == pytest.approx(580_000.0, abs=1e-3)


def test_small_built_block_is_scattered() -> None:
    lay = layers_1km()
    lay["current"] = gdf(
        [
            ("construction", b(0, 0, 300, 1000)),
            ("construction", b(900, 900, 950, 950)),  # 2 500 m², outside the cluster's plan
            ("farmland", b(300, 0, 900, 1000)),
        ]
    )
    z = assign_zones(lay, None, options=ZoneOptions(min_block_m2=10_000))
    assert totals(z)["built"] == pytest.approx(300_000.0, abs=1e-3)
    scattered = z[z["reason"].str.startswith("零散现状建设用地")]
    assert scattered["area_m2"].sum() == pytest.approx(2_500.0)
    z = assign_zones(lay, None, options=ZoneOptions(min_block_m2=1_000))
    assert totals(z)["built"] == pytest.approx(302_500.0, abs=1e-3)


def test_development_fragment_goes_to_control() -> None:
    lay = layers_1km()
    lay["cluster"] = gdf(
        [("construction", b(0, 0, 600, 1000)), ("construction", b(900, 500, 910, 520))]
    )
    z = assign_zones(lay, None, options=ZoneOptions(min_development_m2=400))
    frag = z[z["reason"].str.startswith("零散地块")]
    assert frag["area_m2"].sum() == pytest.approx(200.0)
    assert totals(z)["development"] == pytest.approx(300_000.0, abs=1e-3)


def test_ranking_prefers_blocks_next_to_built_land_and_roads() -> None:
    lay = layers_1km()
    lay["cluster"] = gdf(
        [
            ("construction", b(300, 0, 500, 400)),  # touches built, road along y=200
            ("construction", b(700, 600, 900, 900)),  # isolated, far from the road
            ("construction", b(600, 0, 700, 300)),  # near the road, not next to built land
        ]
    )
    lay["ecology"] = gdf([])
    lay["roads"] = gpd.GeoDataFrame(
        {"highway": ["primary"]},
        geometry=[LineString([(X0, Y0 + 200), (X0 + 700, Y0 + 200)])],
        crs=CRS,
    )
    z = assign_zones(lay, None)
    dev = z[z["zone"] == "development"].sort_values("rank")
    assert dev["rank"].tolist() == [1, 2, 3]
    first, second, third = (dev.iloc[k].geometry.centroid for k in range(3))
    assert (first.x - X0, first.y - Y0) == pytest.approx((400, 200))
    assert (second.x - X0, second.y - Y0) == pytest.approx((650, 150))
    assert (third.x - X0, third.y - Y0) == pytest.approx((800, 750))
    assert dev["priority"].tolist() == ["优先开发 priority", "次优先 secondary", "远期 later"]


def test_urban_plan_used_without_cluster() -> None:
    lay = layers_1km()
    lay["urban"] = lay.pop("cluster")
    z = assign_zones(lay, None)
    assert totals(z)["development"] == pytest.approx(480_000.0, abs=1e-3)


def test_missing_current_layer_is_a_data_error() -> None:
    lay = layers_1km()
    del lay["current"]
    with pytest.raises(DataError, match=r"current.*built zone"):
        assign_zones(lay, None)


def test_missing_zone_plan_is_a_data_error() -> None:
    lay = layers_1km()
    del lay["cluster"]
    with pytest.raises(DataError, match="cluster"):
        assign_zones(lay, None)


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"closing_m": -1}, "closing_m"),
        ({"closing_m": math.nan}, "closing_m"),
        ({"min_block_m2": 1e9}, "min_block_m2"),
        ({"min_development_m2": "x"}, "min_development_m2"),
        ({"road_adjacency_m": True}, "road_adjacency_m"),
        ({"plan": "land_use"}, "plan"),
    ],
)
def test_options_are_range_checked(kw: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=f"ZoneOptions.{name}"):
        ZoneOptions(**kw)


def assert_partition(z: gpd.GeoDataFrame, boundary: shapely.Geometry) -> None:
    union = shapely.union_all(z.geometry.to_numpy())
    assert shapely.symmetric_difference(union, boundary).area <= 1e-6 * boundary.area
    assert float(z["area_m2"].sum()) - union.area < 1.0  # overlaps under 1 m²
    assert set(z["zone"]) <= {"built", "development", "control"}
    assert (z.geometry.area - z["area_m2"]).abs().max() < 1e-6


rects = st.tuples(
    st.floats(-100, 900), st.floats(-100, 900), st.floats(10, 600), st.floats(10, 600)
).map(lambda t: b(t[0], t[1], t[0] + t[2], t[1] + t[3]))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(
    built=st.lists(rects, max_size=5),
    planned=st.lists(rects, min_size=1, max_size=5),
    eco=st.lists(rects, max_size=2),
    conf=st.lists(rects, max_size=3),
    cut=st.lists(rects, max_size=2),
    closing=st.floats(0, 60),
    min_block=st.floats(0, 50_000),
)
def test_partition_property(built, planned, eco, conf, cut, closing, min_block) -> None:
    boundary = shapely.difference(b(0, 0, 1000, 800), shapely.union_all([shapely.Polygon(), *cut]))
    if boundary.area < 1000:
        return
    lay = {
        "boundary": gdf([("other", boundary)]),
        "current": gdf([("construction", g) for g in built]),
        "cluster": gdf([("construction", g) for g in planned]),
        "ecology": gdf([("ecological", g) for g in eco]),
    }
    table = conflicts([(f"X-{k}", "plan_mismatch", g) for k, g in enumerate(conf)])
    z = assign_zones(lay, table, options=ZoneOptions(closing_m=closing, min_block_m2=min_block))
    assert_partition(z, boundary)


def test_demo_zones_match_truth(tmp_path: Path) -> None:
    conflicts_mod = pytest.importorskip("fiveplans.analysis.conflicts")
    from fiveplans.demo import write_demo_inputs

    yml = write_demo_inputs(tmp_path / "demo")
    truth = json.loads((tmp_path / "demo" / "ground_truth.json").read_text(encoding="utf-8"))
    with pytest.warns(fiveplans.errors.FiveplansWarning):  # the land-use plan has no .prj
        pilot = fiveplans.load_pilot(yml)
    table = conflicts_mod.find_conflicts(pilot.layers, sliver_m2=400)
    z = assign_zones(pilot.layers, table)
    t = totals(z)
    for zone in ("built", "development", "control"):
        expected = truth["zones"][zone]["area_m2"]
        assert t[zone] == pytest.approx(expected, rel=0.005), zone
    boundary = shapely.union_all(pilot.layers["boundary"].geometry.to_numpy())
    assert_partition(z, boundary)
    # without consolidation the planted rule is recovered to the square metre
    z0 = assign_zones(pilot.layers, table, options=ZoneOptions(closing_m=0))
    t0 = totals(z0)
    for zone in ("built", "development", "control"):
        assert t0[zone] == pytest.approx(truth["zones"][zone]["area_m2"], rel=1e-4), zone


def test_conflict_ids_come_from_the_geometry_not_the_reason() -> None:
    from fiveplans.analysis import zones as mod

    conf = conflicts(
        [
            ("FC-2", "farmland_construction", b(400, 400, 500, 500)),
            ("PM-1", "plan_mismatch", b(450, 450, 550, 550)),
            ("EC-9", "ecology_construction", b(900, 900, 901, 901)),
        ]
    )
    tree = shapely.STRtree(conf.geometry.to_numpy())
    assert mod._conflict_ids(b(400, 400, 550, 550), conf, tree) == ["FC-2", "PM-1"]
    z = assign_zones(layers_1km(), conf)
    ctl = z[z["conflict_ids"].notna()]
    found = set(", ".join(ctl["conflict_ids"]).split(", "))
    assert {"FC-2", "PM-1"} <= found <= {"FC-2", "PM-1", "EC-9"}
    for _, row in ctl.iterrows():
        assert row["reason"] == f"未解决冲突 unresolved conflict: {row['conflict_ids']}"
