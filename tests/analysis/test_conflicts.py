"""Conflict detection on hand-computable inline fixtures, properties and bad inputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fiveplans.analysis import overlay
from fiveplans.analysis.conflicts import (
    COLUMNS,
    CONFLICT_TYPES,
    containment_tags,
    find_conflicts,
    four_quadrants,
    summarize_conflicts,
)
from fiveplans.errors import CRSError, DataError, FiveplansWarning, StageSkipped
from fiveplans.layers.legend import code_table
from fiveplans.schema import CORRIDOR_WIDTH_COLUMN

X0, Y0 = 500_000.0, 3_700_000.0
CRS = "EPSG:4547"


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def layer(rows: list[tuple], crs: str = CRS) -> gpd.GeoDataFrame:
    """rows: (source_id, source_code, legend, use, geometry)."""
    df = pd.DataFrame(rows, columns=["source_id", "source_code", "legend", "use", "geometry"])
    return gpd.GeoDataFrame(df, geometry="geometry", crs=crs)


def fixture_layers() -> dict[str, gpd.GeoDataFrame]:
    """1 km square zone; every expected area below is worked out by hand in the tests."""
    line = shapely.LineString([(X0, Y0 + 200), (X0 + 1000, Y0 + 200)])
    return {
        "boundary": layer([("B", "", "other", None, box(0, 0, 1000, 1000))]),
        "land_use": layer(
            [
                ("L1", "010", "basic_farmland", None, box(0, 0, 500, 1000)),
                ("L2", "030", "construction", "other", box(500, 0, 1000, 500)),
                ("L3", "020", "farmland", None, box(500, 500, 1000, 1000)),
                ("L4", "010", "basic_farmland", None, box(1000, 0, 1100, 1000)),  # outside
            ]
        ),
        "cluster": layer(
            [
                ("C1", "M1", "construction", "industrial", box(400, 100, 600, 300)),
                ("C2", "W1", "construction", "logistics", box(600, 600, 700, 700)),
                ("C3", "M1", "construction", "industrial", box(499, 900, 510, 910)),
                ("C4", "M1", "construction", "industrial", box(1010, 0, 1050, 100)),
            ]
        ),
        "urban": layer([("U1", "R2", "construction", "residential", box(400, 100, 600, 300))]),
        "ecology": layer([("E1", "红线", "ecological", None, box(650, 650, 1000, 1000))]),
        "infrastructure": layer(
            [
                ("I1", "DL220", "other", None, line),
                ("I2", "BDZ", "construction", "utilities", box(100, 800, 150, 850)),
            ]
        ),
    }


@pytest.fixture(scope="module")
def result() -> gpd.GeoDataFrame:
    return find_conflicts(fixture_layers())


def union_area(sel: gpd.GeoDataFrame) -> float:
    return float(shapely.union_all(sel.geometry.to_numpy()).area)


def test_every_type_by_hand(result: gpd.GeoDataFrame) -> None:
    s = summarize_conflicts(result)
    # farmland: C1∩L1 100x200 and U1∩L1 (same place) + substation 50x50; C3's 1 m strip is a sliver
    expected = {
        "farmland_construction": (20_000 + 2_500, 3),
        "ecology_construction": (50 * 50, 1),
        # C1/U1 over L1 (20000, both plans), C2 over L3 (10000), L2 minus C1 = L2 minus U1
        "plan_mismatch": (20_000 + 10_000 + 230_000, 5),
        "use_mismatch": (200 * 200, 1),
        # 40 m strip (DL220) over C1, U1 (x 400-600) and L2 (x 500-1000)
        "corridor_construction": (600 * 40, 3),
    }
    for t, (area, count) in expected.items():
        assert s["conflicts"][t]["area_m2"] == pytest.approx(area, rel=1e-9), t
        assert s["conflicts"][t]["count"] == count, t
    assert set(s["conflicts"]) == set(CONFLICT_TYPES)


def test_union_counts_overlapping_pieces_once(result: gpd.GeoDataFrame) -> None:
    farm = result[result["type"] == "farmland_construction"]
    assert farm["area_m2"].sum() == pytest.approx(42_500)
    assert summarize_conflicts(result)["conflicts"]["farmland_construction"][
        "area_m2"
    ] == pytest.approx(22_500)
    assert sorted(farm["plan_a"]) == ["cluster", "infrastructure", "urban"]
    assert set(farm["plan_b"]) == {"land_use"} and set(farm["legend_b"]) == {"basic_farmland"}


def test_plan_mismatch_both_directions(result: gpd.GeoDataFrame) -> None:
    pm = result[result["type"] == "plan_mismatch"].set_index(["plan_a", "source_a", "plan_b"])
    assert pm.loc[("cluster", "C1", "land_use"), "legend_b"] == "basic_farmland"
    assert pm.loc[("cluster", "C1", "land_use"), "area_m2"] == pytest.approx(20_000)
    assert pm.loc[("cluster", "C2", "land_use"), "legend_b"] == "farmland"
    assert pm.loc[("cluster", "C2", "land_use"), "source_b"] == "L3"
    for plan in ("cluster", "urban"):
        row = pm.loc[("land_use", "L2", plan)]
        assert row["area_m2"] == pytest.approx(250_000 - 20_000)
        # nothing there in the other plan: missing (None in object columns, NaN in categoricals)
        assert row["source_b"] is None and pd.isna(row["legend_b"])


def test_use_mismatch_names_both_uses(result: gpd.GeoDataFrame) -> None:
    um = result[result["type"] == "use_mismatch"].iloc[0]
    assert (um["plan_a"], um["plan_b"], um["use_a"], um["use_b"]) == (
        "cluster",
        "urban",
        "industrial",
        "residential",
    )


@pytest.mark.parametrize("code", ["DL500", "DL110", "RQGD", "GSGL"])
def test_corridor_width_from_code_table(code: str) -> None:
    layers = fixture_layers()
    layers["infrastructure"].loc[0, "source_code"] = code
    width = float(code_table("infrastructure").set_index("code").loc[code, "corridor_width_m"])
    c = find_conflicts(layers, sliver_m2=0)
    cc = c[c["type"] == "corridor_construction"]
    # strip 200 ± width/2 over C1/U1 (y 100-300) and L2 (y 0-500), x 400..1000
    lo, hi = max(200 - width / 2, 100), min(200 + width / 2, 300)
    over_c1 = 200 * (hi - lo)
    over_l2 = 500 * (min(200 + width / 2, 500) - max(200 - width / 2, 0))
    assert cc.set_index("source_a").loc["C1", "area_m2"] == pytest.approx(over_c1)
    assert cc.set_index("source_a").loc["L2", "area_m2"] == pytest.approx(over_l2)
    assert set(cc["code_b"]) == {code}


def test_corridor_width_column_overrides_the_code_table() -> None:
    """The schema's one rule: a line's own ``corridor_width_m`` beats its code's width."""
    layers = fixture_layers()
    layers["infrastructure"][CORRIDOR_WIDTH_COLUMN] = [60.0, None]  # DL220 is 40 m in the table
    cc = find_conflicts(layers, sliver_m2=0)
    cc = cc[cc["type"] == "corridor_construction"].set_index("source_a")
    assert cc.loc["C1", "area_m2"] == pytest.approx(200 * 60)  # y 170..230 over C1 (y 100-300)
    assert cc.loc["L2", "area_m2"] == pytest.approx(500 * 60)
    # a line without a width anywhere is not checked, and said so
    layers["infrastructure"][CORRIDOR_WIDTH_COLUMN] = [None, None]
    layers["infrastructure"].loc[0, "source_code"] = "UNKNOWN"
    with pytest.warns(FiveplansWarning, match="no corridor width"):
        c = find_conflicts(layers)
    assert "corridor_construction" not in set(c["type"])


@pytest.mark.parametrize(
    ("drop", "stage"),
    [
        ("ecology", None),  # the other plans have no ecological land: said below
        ("infrastructure", "conflicts.corridor_construction"),
        ("urban", "conflicts.use_mismatch"),
    ],
)
def test_missing_optional_plan_is_reported(drop: str, stage: str | None) -> None:
    layers = {k: v for k, v in fixture_layers().items() if k != drop}
    stage = stage or "conflicts.ecology_construction"
    with pytest.warns(StageSkipped) as caught:
        c = find_conflicts(layers)
    skips = [w.message for w in caught if isinstance(w.message, StageSkipped)]
    assert [s.stage for s in skips] == [stage]
    assert "plans:" in skips[0].fix
    assert stage.split(".")[1] not in set(c["type"])


def test_buffer_extends_the_search() -> None:
    plain = find_conflicts(fixture_layers())
    wide = find_conflicts(fixture_layers(), buffer_m=20)
    assert "C4" not in set(plain["source_a"])
    c4 = wide[(wide["source_a"] == "C4") & (wide["type"] == "farmland_construction")]
    assert c4["area_m2"].sum() == pytest.approx(10 * 100)  # x 1010..1020 inside the buffer


def test_slivers_dropped_and_counted(result: gpd.GeoDataFrame) -> None:
    # C3: 1x10 m over L1 (farmland and plan mismatch), 10x10 m over L3 (plan mismatch)
    assert result.attrs["slivers_dropped"] == {"count": 3, "area_m2": pytest.approx(120)}
    assert "C3" not in set(result["source_a"])
    kept = find_conflicts(fixture_layers(), sliver_m2=5)
    assert kept.attrs["slivers_dropped"]["count"] == 0
    assert {"C3"} <= set(kept["source_a"])


def test_columns_ids_units_and_location(result: gpd.GeoDataFrame) -> None:
    assert list(result.columns) == [*COLUMNS, "geometry"]
    assert result["conflict_id"].is_unique
    prefix = {"farmland_construction": "FC", "ecology_construction": "EC", "plan_mismatch": "PM"}
    for t, p in prefix.items():
        assert all(
            re.fullmatch(p + r"-[0-9a-f]{12}", i)
            for i in result.loc[result["type"] == t, "conflict_id"]
        )
    assert np.allclose(result["area_ha"], result["area_m2"] / 1e4)
    assert np.allclose(result["area_mu"], result["area_m2"] * 15 / 10_000)
    assert set(result.geometry.geom_type) <= {"Polygon", "MultiPolygon"}
    # ellipsoidal areas and coordinates against pyproj's geodesic area and transform
    geod = pyproj.Geod(ellps="GRS80")
    to = pyproj.Transformer.from_crs(CRS, "EPSG:4490", always_xy=True)
    for _, row in result.iterrows():
        lonlat = shapely.transform(
            row.geometry, lambda xy: np.column_stack(to.transform(xy[:, 0], xy[:, 1]))
        )
        area = abs(geod.geometry_area_perimeter(lonlat)[0])
        assert row["ellipsoidal_area_m2"] == pytest.approx(area, rel=1e-6)
        assert lonlat.buffer(1e-9).contains(shapely.Point(row["lon"], row["lat"]))


def test_ids_name_the_pair_of_features_not_the_shape(result: gpd.GeoDataFrame) -> None:
    def ids(c: gpd.GeoDataFrame) -> dict[tuple, str]:
        keys = c[["type", "plan_a", "source_a", "plan_b", "source_b"]].astype(object)
        keys = keys.where(keys.notna(), None)
        return dict(zip(map(tuple, keys.to_numpy()), c["conflict_id"], strict=True))

    before = ids(result)
    layers = fixture_layers()
    # C1 reshaped (x 420-600 instead of 400-600): same pairs of features, same ids
    layers["cluster"].loc[0, "geometry"] = box(420, 100, 600, 300)
    after = ids(find_conflicts(layers))
    c1 = {k: v for k, v in before.items() if "C1" in k}
    assert c1 and all(after[k] == v for k, v in c1.items())
    # renamed: new ids
    layers["cluster"].loc[0, "source_id"] = "C1b"
    renamed = ids(find_conflicts(layers))
    assert not set(c1.values()) & set(renamed.values())
    # the same pair in two types: different hashes, not only different prefixes
    fc = before[("farmland_construction", "cluster", "C1", "land_use", "L1")]
    pm = before[("plan_mismatch", "cluster", "C1", "land_use", "L1")]
    assert fc[3:] != pm[3:]


def test_repeated_source_ids_get_suffixes() -> None:
    layers = fixture_layers()
    layers["cluster"] = layer(
        [
            ("C1", "M1", "construction", "industrial", box(100, 100, 200, 200)),
            ("C1", "M1", "construction", "industrial", box(300, 300, 350, 350)),
        ]
    )
    c = find_conflicts(layers, types=["farmland_construction"])
    farm = c[c["plan_a"] == "cluster"]
    assert list(farm["area_m2"]) == pytest.approx([2_500, 10_000])  # smaller first
    first, second = farm["conflict_id"]
    assert second == first + "-2" and c["conflict_id"].is_unique
    layers["cluster"] = layers["cluster"].iloc[::-1]
    again = find_conflicts(layers, types=["farmland_construction"])
    assert list(again["conflict_id"]) == list(c["conflict_id"])


def u_shape(x0: float, y0: float) -> shapely.Polygon:
    """A U (centroid outside the polygon)."""
    return shapely.difference(
        box(x0, y0, x0 + 90, y0 + 90), box(x0 + 30, y0 + 30, x0 + 60, y0 + 95)
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_intersect_pairs_shortcuts_against_plain_overlay(threads: int) -> None:
    cells = np.array(
        [box(x, y, x + 100, y + 100) for x in range(0, 600, 100) for y in range(0, 600, 100)]
    )
    polys = np.array(
        [
            box(10, 10, 40, 40),  # inside one cell
            box(100, 100, 300, 300),  # covers 4 cells, touches 12 neighbours along edges
            box(400, 0, 500, 100),  # equal to a cell
            shapely.Polygon([(X0 + 300, Y0 + 300), (X0 + 290, Y0 + 320), (X0 + 280, Y0 + 301)]),
            shapely.affinity.rotate(box(150, 350, 420, 480), 27),  # crosses several cells
            u_shape(205, 405),
        ]
    )
    il, ir, pieces, area = overlay.intersect_pairs(polys, cells, threads=threads)
    want = {}
    for i, p in enumerate(polys):
        for j, c in enumerate(cells):
            a = shapely.area(shapely.intersection(p, c))
            if a > 0:
                want[(i, j)] = a
    got = dict(zip(zip(il.tolist(), ir.tolist(), strict=True), area, strict=True))
    assert set(got) == set(want)
    assert all(got[k] == pytest.approx(want[k], rel=1e-12) for k in want)
    assert np.allclose(shapely.area(pieces), area, rtol=0)
    assert list(zip(il, ir, strict=True)) == sorted(zip(il, ir, strict=True))
    # covered polygons are the pieces themselves (no overlay)
    assert pieces[list(il).index(0)] is polys[0]
    assert set(shapely.get_type_id(pieces)) <= {3, 6}


def test_representative_point_and_ellipsoidal_area_of_a_u() -> None:
    u = u_shape(0, 0)
    assert not u.contains(u.centroid)
    lon, lat, scale = overlay.lonlat_scale(np.array([u, box(0, 0, 50, 50)]), pyproj.CRS(CRS))
    to = pyproj.Transformer.from_crs(CRS, "EPSG:4490", always_xy=True)
    geod = pyproj.Geod(ellps="GRS80")
    for k, g in enumerate([u, box(0, 0, 50, 50)]):
        ll = shapely.transform(g, lambda xy: np.column_stack(to.transform(xy[:, 0], xy[:, 1])))
        assert ll.contains(shapely.Point(lon[k], lat[k]))
        geodesic = abs(geod.geometry_area_perimeter(ll)[0])
        assert g.area / scale[k] == pytest.approx(geodesic, rel=1e-7)


def test_district_holding_the_largest_share() -> None:
    layers = fixture_layers()
    layers["districts"] = gpd.GeoDataFrame(
        {"name": ["西乡", "东镇"]},
        geometry=[box(0, 0, 450, 1000), box(450, 0, 1000, 1000)],
        crs=CRS,
    )
    c = find_conflicts(layers)
    um = c[c["type"] == "use_mismatch"].iloc[0]  # x 400-600: 50 m west, 150 m east
    assert um["district"] == "东镇"
    eco = c[c["type"] == "ecology_construction"].iloc[0]
    assert eco["district"] == "东镇"
    with pytest.raises(DataError, match="no column 'xzmc'"):
        find_conflicts(layers, districts_field="xzmc")


def test_no_construction_is_a_note_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    layers = fixture_layers()
    layers["urban"] = layers["urban"].assign(legend="farmland")
    with caplog.at_level("INFO", logger="fiveplans.analysis.conflicts"):
        c = find_conflicts(layers)
    assert "notes" not in c.attrs  # one channel: warnings (none here), logging for detail
    assert any("'urban'" in r.message and "no construction" in r.message for r in caplog.records)
    assert "urban" not in set(c["plan_a"])


def test_empty_intersections_give_an_empty_table() -> None:
    layers = {
        "boundary": fixture_layers()["boundary"],
        "land_use": layer([("L1", "010", "basic_farmland", None, box(0, 0, 100, 100))]),
        "cluster": layer([("C1", "M1", "construction", "industrial", box(500, 500, 600, 600))]),
    }
    c = find_conflicts(layers, types=["farmland_construction"])
    assert len(c) == 0 and list(c.columns) == [*COLUMNS, "geometry"]
    assert c.crs == pyproj.CRS(CRS)
    assert summarize_conflicts(c)["conflicts"]["farmland_construction"] == {
        "area_m2": 0.0,
        "count": 0,
    }


def test_bad_inputs_have_clear_messages() -> None:
    layers = fixture_layers()
    other = dict(layers, urban=layers["urban"].to_crs("EPSG:4546"))
    with pytest.raises(CRSError, match=r"'boundary' \(EPSG:4547\) and 'urban' \(EPSG:4546\)"):
        find_conflicts(other)
    geographic = {k: v.to_crs(4490) for k, v in layers.items()}
    with pytest.raises(CRSError, match="geographic CRS"):
        find_conflicts(geographic)
    missing = dict(layers, cluster=layers["cluster"].drop(columns=["legend", "use"]))
    with pytest.raises(DataError, match="'cluster' lacks the legend column\\(s\\) legend, use"):
        find_conflicts(missing)
    no_boundary = {k: v for k, v in layers.items() if k != "boundary"}
    with pytest.raises(DataError, match="no 'boundary' layer"):
        find_conflicts(no_boundary)
    with pytest.raises(DataError, match="unknown conflict type"):
        find_conflicts(layers, types=["farmland"])


def test_invalid_geometry_is_repaired() -> None:
    layers = fixture_layers()
    bowtie = shapely.Polygon(
        [(X0 + 0, Y0 + 0), (X0 + 100, Y0 + 100), (X0 + 100, Y0 + 0), (X0 + 0, Y0 + 100)]
    )
    layers["cluster"] = layer([("C9", "M1", "construction", "industrial", bowtie)])
    c = find_conflicts(layers, types=["farmland_construction"])
    bow = c[c["plan_a"] == "cluster"]
    assert bow["area_m2"].sum() == pytest.approx(2 * 2_500)  # the bow-tie's two triangles
    assert bow.geometry.is_valid.all()


def test_four_quadrants_by_hand() -> None:
    layers = fixture_layers()
    q = four_quadrants(layers, plan="cluster").set_index("quadrant")
    # cluster construction inside the boundary: C1 40000, C2 10000, C3 110; land use: L2 250000
    both, plan_only, lu_only = 20_000, 20_000 + 10_000 + 110, 230_000
    assert q.loc["both", "area_m2"] == pytest.approx(both)
    assert q.loc["plan_only", "area_m2"] == pytest.approx(plan_only)
    assert q.loc["land_use_only", "area_m2"] == pytest.approx(lu_only)
    assert q.loc["neither", "area_m2"] == pytest.approx(1e6 - both - plan_only - lu_only)
    assert q["share"].sum() == pytest.approx(1.0)
    assert q.loc["plan_only", "count"] == 3
    districts = gpd.GeoDataFrame(
        {"name": ["西", "东"]}, geometry=[box(0, 0, 500, 1000), box(500, 0, 1000, 1000)], crs=CRS
    )
    per = four_quadrants(layers, plan="urban", districts=districts)
    west = per[per["district"] == "西"].set_index("quadrant")
    assert west.loc["plan_only", "area_m2"] == pytest.approx(20_000)  # U1 over L1
    assert west["share"].sum() == pytest.approx(1.0)
    assert per.groupby("quadrant")["area_m2"].sum().drop_duplicates().size >= 1
    total = per[per["district"] == "合计 total"].set_index("quadrant")["area_m2"]
    parts = per[per["district"] != "合计 total"].groupby("quadrant")["area_m2"].sum()
    assert np.allclose(total.sort_index(), parts.sort_index())


def test_containment_tags() -> None:
    tags = containment_tags(fixture_layers()).set_index(["plan", "source_id"])
    c1 = tags.loc[("cluster", "C1")]
    assert (
        c1["share_basic_farmland"] == pytest.approx(0.5)
        and c1["tag_basic_farmland"] == "straddling"
    )
    assert c1["tag_construction_urban"] == "inside"
    c2 = tags.loc[("cluster", "C2")]
    assert c2["share_ecological"] == pytest.approx(0.25) and c2["tag_basic_farmland"] == "outside"
    assert tags.loc[("infrastructure", "I2"), "tag_basic_farmland"] == "inside"
    l2 = tags.loc[("land_use", "L2")]
    assert l2["share_construction_cluster"] == pytest.approx(20_000 / 250_000)
    assert l2["tag_construction_cluster"] == "outside"
    assert ("cluster", "C4") not in tags.index  # outside the boundary


# --------------------------------------------------------------------------- properties

rects = st.tuples(
    st.integers(0, 90), st.integers(0, 90), st.integers(2, 40), st.integers(2, 40)
).map(
    lambda t: box(
        t[0] * 10 + 0.37, t[1] * 10 + 0.11, t[0] * 10 + t[2] * 10.3, t[1] * 10 + t[3] * 9.7
    )
)


def random_layers(parcels: list, farm_seed: int) -> dict[str, gpd.GeoDataFrame]:
    rng = np.random.default_rng(farm_seed)
    pts = shapely.multipoints(rng.uniform((X0 - 50, Y0 - 50), (X0 + 1100, Y0 + 1100), (60, 2)))
    frame = box(-50, -50, 1100, 1100)
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=frame)), frame
    )
    legend = np.where(rng.random(len(cells)) < 0.6, "basic_farmland", "farmland")
    half = len(parcels) // 2
    return {
        "boundary": layer([("B", "", "other", None, box(0, 0, 1000, 1000))]),
        "land_use": layer(
            [
                (f"F{i}", "010", lg, None, g)
                for i, (g, lg) in enumerate(zip(cells, legend, strict=True))
            ]
        ),
        "cluster": layer(
            [(f"C{i}", "M1", "construction", "industrial", g) for i, g in enumerate(parcels[:half])]
        ),
        "urban": layer(
            [
                (f"U{i}", "R2", "construction", "residential", g)
                for i, g in enumerate(parcels[half:])
            ]
        ),
    }


@pytest.mark.filterwarnings("ignore::fiveplans.errors.StageSkipped")  # no optional plans
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(rects, min_size=2, max_size=12), st.integers(0, 10_000), st.sampled_from([0.0, 15.0])
)
def test_properties(parcels: list, seed: int, buffer_m: float) -> None:
    layers = random_layers(parcels, seed)
    c = find_conflicts(layers, sliver_m2=0, buffer_m=buffer_m)
    zone = shapely.buffer(box(0, 0, 1000, 1000), buffer_m) if buffer_m else box(0, 0, 1000, 1000)
    # nothing outside the boundary + buffer
    assert shapely.area(shapely.difference(c.geometry.to_numpy(), zone)).max(initial=0) < 1e-6
    s = summarize_conflicts(c)
    for t in CONFLICT_TYPES:
        assert s["conflicts"][t]["area_m2"] <= c.loc[c["type"] == t, "area_m2"].sum() + 1e-6
    # basic farmland in the zone = conflicting + non-conflicting
    lu = layers["land_use"]
    farm = shapely.intersection(shapely.union_all(lu[lu.legend == "basic_farmland"].geometry), zone)
    built = shapely.union_all(pd.concat([layers["cluster"], layers["urban"]]).geometry)
    free = shapely.difference(farm, built).area
    assert s["conflicts"]["farmland_construction"]["area_m2"] + free == pytest.approx(
        farm.area, rel=1e-9
    )
    # same ids and areas for shuffled rows, and on a second run
    shuffled = {k: v.sample(frac=1.0, random_state=seed) for k, v in layers.items()}
    again = find_conflicts(shuffled, sliver_m2=0, buffer_m=buffer_m)
    a = c.set_index("conflict_id")["area_m2"].sort_index()
    b = again.set_index("conflict_id")["area_m2"].sort_index()
    assert list(a.index) == list(b.index)
    assert np.allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9)
    assert list(find_conflicts(layers, sliver_m2=0, buffer_m=buffer_m)["conflict_id"]) == list(
        c["conflict_id"]
    )


# --------------------------------------------------------------------------- demo pilot


def test_demo_pilot_against_ground_truth(tmp_path) -> None:
    demo = pytest.importorskip("fiveplans.demo")
    from fiveplans.pipeline import load_pilot

    path = demo.write_demo_inputs(tmp_path / "demo")
    truth = json.loads((path.parent / "ground_truth.json").read_text(encoding="utf-8"))
    with pytest.warns(Warning):  # the demo's land-use shapefile has no .prj (detected CRS)
        pilot = load_pilot(path)
    s = summarize_conflicts(find_conflicts(pilot.layers, sliver_m2=400))
    for t in CONFLICT_TYPES:
        assert s["conflicts"][t]["area_m2"] == pytest.approx(
            truth["conflicts"][t]["area_m2"], rel=1e-3
        ), t


def test_threads_never_share_a_prepared_polygon() -> None:
    """Right-hand polygons already prepared by the caller are shared by both worker threads:
    the overlay must not query their (lazily built) prepared indexes concurrently — that
    crashed the interpreter — and threading must not change the result."""
    import shapely as _shapely

    from fiveplans.analysis import overlay as _overlay

    rng = np.random.default_rng(5)
    frame = _shapely.box(0, 0, 3000, 3000)
    cells = _shapely.get_parts(
        _shapely.voronoi_polygons(
            _shapely.multipoints(rng.uniform(0, 3000, (3000, 2))), extend_to=frame
        )
    )
    cells = _shapely.intersection(cells, frame)
    big = _shapely.buffer(_shapely.points(rng.uniform(0, 3000, (40, 2))), 400.0)
    _shapely.prepare(big)  # as a caller's earlier predicate call would leave them
    one = _overlay.intersect_pairs(cells, big, threads=1)
    for _ in range(5):
        two = _overlay.intersect_pairs(cells, big, threads=2)
        assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])
        assert np.allclose(one[3], two[3])


def test_vectorised_centroids_equal_geos() -> None:
    import shapely as _shapely

    from fiveplans.analysis import overlay as _overlay

    rng = np.random.default_rng(9)
    pts = _shapely.points(rng.uniform((440_000, 3_720_000), (450_000, 3_730_000), (300, 2)))
    polys = _shapely.buffer(pts, rng.uniform(5, 300, 300), quad_segs=3)
    holed = _shapely.difference(polys[:20], _shapely.buffer(pts[:20], 2.0))
    multi = _shapely.union(polys[20:30], _shapely.buffer(pts[20:30], 1.0).reshape(-1))
    geoms = np.concatenate([polys, holed, multi, [_shapely.box(0, 0, 0, 0)]])
    geoms = geoms[~_shapely.is_empty(geoms)]
    ours = _overlay.centroids(geoms)
    geos = _shapely.get_coordinates(_shapely.centroid(geoms))
    assert np.abs(ours - geos).max() < 1e-6


def test_scale_grid_equals_direct_factors() -> None:
    import pyproj as _pyproj

    from fiveplans.analysis import overlay as _overlay

    rng = np.random.default_rng(2)
    x = rng.uniform(300_000, 700_000, 20_000)  # the whole width of a 3-degree zone
    y = rng.uniform(3_500_000, 3_900_000, 20_000)
    crs = _pyproj.CRS.from_epsg(4547)
    lon, lat = _pyproj.Transformer.from_crs(crs, 4490, always_xy=True).transform(x, y)
    direct = _pyproj.Proj(crs).get_factors(lon, lat).areal_scale
    grid = _overlay._ScaleGrid(crs, x, y)(x, y)
    assert np.abs(grid / direct - 1).max() < 1e-8


def test_lonlat_scale_with_known_centroids_equals_computed() -> None:
    import shapely as _shapely

    from fiveplans.analysis import overlay as _overlay

    u = u_shape(0, 0)  # centroid outside: the point on the surface is used
    geoms = np.array([u, box(0, 0, 50, 50), box(100, 0, 130, 80), u_shape(300, 0)])
    crs = pyproj.CRS(CRS)
    ref = _overlay.lonlat_scale(geoms, crs)
    xy = _overlay.centroids(geoms)
    xy[3] = np.nan  # not known: computed
    inside = np.array([False, True, True, False])  # u: not certified, so tested
    given_xy, given_inside = xy.copy(), inside.copy()
    got = _overlay.lonlat_scale(geoms, crs, centroid=xy, inside=inside)
    for r, g in zip(ref, got, strict=True):
        assert np.array_equal(r, g)
    assert np.array_equal(xy, given_xy, equal_nan=True) and np.array_equal(inside, given_inside)
    assert not _shapely.contains_xy(u, *_shapely.get_coordinates(u.centroid)[0])


def test_robust_op_retries_with_snap_rounding() -> None:
    import shapely as _shapely
    from shapely.errors import GEOSException

    from fiveplans.analysis import overlay as _overlay

    calls: list[object] = []

    def flaky(a, b, grid_size=None):  # fails like GEOS on a robustness problem, unless gridded
        calls.append(grid_size)
        if grid_size is None:
            raise GEOSException("TopologyException: side location conflict")
        return _shapely.intersection(a, b, grid_size=grid_size)

    out = _overlay.robust_op(flaky, box(0, 0, 10, 10), box(5, 5, 15, 15), grid_size=1e-3)
    assert out.area == pytest.approx(25.0)
    assert calls[-1] == 1e-3


# --------------------------------------------------------------------------- the stages


def test_stage_drop_slivers_counts_what_it_drops() -> None:
    from fiveplans.analysis import conflicts as mod

    f = mod._features("cluster", fixture_layers()["cluster"], 1e-4)
    piece = mod._Pieces(
        "plan_mismatch",
        f,
        None,
        "land_use",
        np.arange(3),
        None,
        f.geoms[:3],
        np.array([5.0, 500.0, 399.9]),
    )
    kept, slivers = mod._drop_slivers([piece], 400)
    assert slivers == {"count": 2, "area_m2": pytest.approx(404.9)}
    assert len(kept) == 1 and kept[0].area.tolist() == [500.0]
    assert mod._drop_slivers([piece], 1e9) == ([], {"count": 3, "area_m2": pytest.approx(904.9)})
    with pytest.raises(DataError, match="unknown conflict type"):
        mod._check_types(["farmland_construction", "nope"])


def test_stage_start_clips_construction_once_per_context() -> None:
    from fiveplans.analysis import conflicts as mod
    from fiveplans.analysis.context import WorkingLayers

    ctx = WorkingLayers(fixture_layers())
    run = mod._start(
        ctx,
        buffer_m=0,
        grid_size=1e-4,
        snap_rounding=False,
        threads=1,
        verbose=False,
        districts=True,
    )
    assert sorted(run.constr) == ["cluster", "infrastructure", "land_use", "urban"]
    assert "C4" not in set(run.constr["cluster"].sid)  # outside the boundary
    assert run.clipped("cluster", "construction") is run.constr["cluster"]
    assert ctx.computed["conflicts.clipped"] == 4


def test_whole_call_shares_protected_pieces_with_plan_mismatch() -> None:
    """The city plan's pieces with the land-use plan's basic farmland are computed once for
    farmland_construction and plan_mismatch: the same rows as computing the type alone."""
    rng = np.random.default_rng(21)
    frame = box(0, 0, 2000, 2000)
    pts = rng.uniform((X0, Y0), (X0 + 2000, Y0 + 2000), (300, 2))
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame, ordered=True)
    )
    cells = shapely.intersection(cells, frame)
    legend = rng.choice(
        ["basic_farmland", "farmland", "construction"], len(cells), p=[0.5, 0.25, 0.25]
    )
    centre = rng.uniform((X0 + 100, Y0 + 100), (X0 + 1900, Y0 + 1900), (120, 2))
    size = rng.uniform(20, 150, (120, 2))
    rects = shapely.box(*(centre - size / 2).T, *(centre + size / 2).T)
    layers = {
        # cut through cells and parcels: clipped and whole cells both take part
        "boundary": layer([("B", "", "other", None, box(50, 80, 1930, 1960))]),
        "land_use": layer(
            [
                (f"L{i}", "01", lg, None, g)
                for i, (lg, g) in enumerate(zip(legend, cells, strict=True))
            ]
        ),
        "cluster": layer(
            [(f"C{i}", "M1", "construction", "industrial", g) for i, g in enumerate(rects)]
        ),
    }
    with pytest.warns(StageSkipped):
        whole = find_conflicts(layers, sliver_m2=0)
        alone = find_conflicts(layers, types=["farmland_construction"], sliver_m2=0)
    fc = whole[whole["type"] == "farmland_construction"].reset_index(drop=True)
    assert len(fc) > 100 and len(fc) == len(alone)
    for c in COLUMNS:
        if c in ("area_m2", "area_ha", "area_mu", "ellipsoidal_area_m2", "lon", "lat"):
            np.testing.assert_allclose(fc[c], alone[c], rtol=1e-9)
        else:
            assert fc[c].tolist() == alone[c].tolist(), c
    # the farmland piece and the plan-mismatch piece of one pair are one polygon object
    pm = whole[whole["type"] == "plan_mismatch"].set_index(["source_a", "source_b"]).geometry
    same = [
        g is pm.get((a, b)) for a, b, g in zip(fc.source_a, fc.source_b, fc.geometry, strict=True)
    ]
    assert all(same)


def test_repeated_text_is_held_as_categories(result: gpd.GeoDataFrame, tmp_path: Path) -> None:
    from fiveplans.analysis.conflicts import TEXT_CATEGORIES

    for c in TEXT_CATEGORIES:
        assert isinstance(result[c].dtype, pd.CategoricalDtype), c
    assert list(result["type"].cat.categories) == list(CONFLICT_TYPES)
    assert result["conflict_id"].map(type).eq(str).all()
    # read back from a GeoPackage: the same text, missing values missing
    result.to_file(tmp_path / "c.gpkg", layer="conflicts")
    back = gpd.read_file(tmp_path / "c.gpkg", layer="conflicts")
    for c in TEXT_CATEGORIES:
        want = result[c].astype(object).where(result[c].notna(), None).tolist()
        got = back[c].astype(object).where(back[c].notna(), None).tolist()
        assert got == want, c
