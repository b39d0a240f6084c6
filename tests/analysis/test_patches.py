"""Conflict patches (冲突图斑, issue 11 §7): the pairs of one type merged into distinct pieces of
land whose areas add up to summary.json's, with every plan and source involved."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import shapely.affinity

from fiveplans.analysis.conflicts import find_conflicts, summarize_conflicts
from fiveplans.analysis.patches import conflict_patches, pair_to_patch
from fiveplans.errors import StageSkipped

CRS = "EPSG:4547"
X0, Y0 = 500_000.0, 3_700_000.0


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def layer(rows: list[tuple]) -> gpd.GeoDataFrame:
    """rows: (source_id, source_code, legend, use, geometry)."""
    df = pd.DataFrame(rows, columns=["source_id", "source_code", "legend", "use", "geometry"])
    return gpd.GeoDataFrame(df, geometry="geometry", crs=CRS)


def two_plans_over_one_farmland() -> dict[str, gpd.GeoDataFrame]:
    """Basic farmland x 0–400; the cluster plan builds over x 100–300, the urban plan over
    x 200–350 (they overlap on x 200–300), and a second cluster parcel sits apart."""
    return {
        "boundary": layer([("1", None, "other", None, box(0, 0, 1000, 200))]),
        "land_use": layer(
            [
                ("L1", "010", "basic_farmland", None, box(0, 0, 400, 200)),
                ("L2", "030", "construction", "industrial", box(400, 0, 1000, 200)),
            ]
        ),
        "cluster": layer(
            [
                ("C1", "M1", "construction", "industrial", box(100, 50, 300, 150)),
                ("C2", "M1", "construction", "industrial", box(600, 50, 700, 150)),
            ]
        ),
        "urban": layer([("U1", "M1", "construction", "industrial", box(200, 50, 350, 150))]),
    }


@pytest.fixture(scope="module")
def pairs() -> gpd.GeoDataFrame:
    with pytest.warns(StageSkipped):  # no ecology, no infrastructure: those types are skipped
        return find_conflicts(two_plans_over_one_farmland(), sliver_m2=0)


def test_two_plans_over_one_farmland_is_one_patch(pairs: gpd.GeoDataFrame) -> None:
    fc = pairs[pairs["type"] == "farmland_construction"]
    assert len(fc) == 2 and fc["area_m2"].sum() == pytest.approx(35_000)  # x 200–300 twice
    patches = conflict_patches(pairs)
    one = patches[patches["type"] == "farmland_construction"]
    assert len(one) == 1
    row = one.iloc[0]
    assert row["area_m2"] == pytest.approx(25_000)  # x 100–350 × 100 m, once
    assert row["area_ha"] == pytest.approx(2.5) and row["area_mu"] == pytest.approx(37.5)
    assert row["plans"] == "cluster,land_use,urban"
    assert row["sources"] == "cluster:C1; land_use:L1; urban:U1"
    assert sorted(row["conflict_ids"].split(",")) == sorted(fc["conflict_id"])
    assert row["n_pairs"] == 2 and row["patch_id"].startswith("FCP-")
    assert 113 < row["lon"] < 115 and row["ellipsoidal_area_m2"] == pytest.approx(25_000, rel=2e-3)


def test_patch_areas_add_up_to_the_summary(pairs: gpd.GeoDataFrame) -> None:
    patches = conflict_patches(pairs)
    block = summarize_conflicts(pairs)["conflicts"]
    for kind, figures in block.items():
        got = patches.loc[patches["type"] == kind, "area_m2"].sum()
        assert got == pytest.approx(figures["area_m2"], rel=1e-9, abs=1e-6), kind
    assert set(pair_to_patch(patches)) == set(pairs["conflict_id"])
    assert "不重叠" in patches.attrs["rows_overlap"]


def test_ids_are_stable_across_row_orders(pairs: gpd.GeoDataFrame) -> None:
    a = conflict_patches(pairs)
    b = conflict_patches(pairs.iloc[::-1])
    pd.testing.assert_frame_equal(
        a.drop(columns="geometry").reset_index(drop=True),
        b.drop(columns="geometry").reset_index(drop=True),
    )


def test_touching_pieces_stay_apart_and_same_sources_get_unique_ids() -> None:
    touching = gpd.GeoDataFrame(
        {
            "conflict_id": ["PM-1", "PM-2", "PM-3"],
            "type": ["plan_mismatch"] * 3,
            "plan_a": ["cluster"] * 3,
            "plan_b": ["land_use"] * 3,
            "source_a": ["C1", "C2", "C1"],
            "source_b": [None, None, None],
        },
        geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10), box(50, 0, 60, 10)],
        crs=CRS,
    )
    patches = conflict_patches(touching)
    assert len(patches) == 3  # shared edges do not merge patches
    assert patches["patch_id"].is_unique
    c1 = patches[patches["sources"] == "cluster:C1"]
    assert sorted(c1["patch_id"].str.len()) == [16, 18]  # PMP-<12 hex> and its -2
    assert patches["area_m2"].sum() == pytest.approx(300)


def test_empty_conflicts_give_no_patches(pairs: gpd.GeoDataFrame) -> None:
    patches = conflict_patches(pairs.iloc[:0])
    assert len(patches) == 0 and "patch_id" in patches.columns


def test_overlap_decisions_match_geos_at_the_threshold() -> None:
    """The compiled pre-tests (a separating edge line, the shared area of convex pieces) join
    exactly the pieces GEOS joins: neighbours along an edge, overlaps just under, at and over
    the threshold, a piece in a notch that touches at one vertex, holes, non-convex shapes."""
    import numpy as np

    from fiveplans.analysis import overlay
    from fiveplans.analysis.patches import MIN_OVERLAP_M2, _overlap_pairs

    rng = np.random.default_rng(7)
    geoms = []
    for _ in range(60):
        x, y, w = *rng.uniform(0, 300, 2), rng.uniform(5, 40)
        group = [box(x, y, x + w, y + w), box(x + w, y, x + 2 * w, y + w)]  # edge neighbours
        for share in (0.5, 1.0, 2.0, 0.0):  # overlap area as a multiple of the threshold
            eps = share * MIN_OVERLAP_M2 / w
            group.append(box(x + 2 * w - eps, y, x + 3 * w, y + w))
        # turned, so that bounding boxes overlap widely and the exact tests decide
        turn = rng.uniform(5, 40)
        geoms += [shapely.affinity.rotate(g, turn, origin=(X0 + x, Y0 + y)) for g in group]
    star = [
        (np.cos(a) * (30 if k % 2 else 8), np.sin(a) * (30 if k % 2 else 8))
        for k, a in enumerate(np.linspace(0, 2 * np.pi, 10, endpoint=False))
    ]
    geoms += [
        shapely.Polygon([(X0 + 500 + u, Y0 + 500 + v) for u, v in star]),
        box(480, 480, 520, 520).difference(box(490, 490, 510, 510)),
        shapely.Polygon(
            [
                (X0 + 600, Y0),
                (X0 + 700, Y0),
                (X0 + 700, Y0 + 100),
                (X0 + 650, Y0 + 50),
                (X0 + 600, Y0 + 100),
            ]
        ),
        shapely.Polygon([(X0 + 650, Y0 + 50), (X0 + 640, Y0 + 90), (X0 + 660, Y0 + 90)]),
    ]
    geoms = np.array(geoms, dtype=object)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms)
    keep = left < right
    left, right = left[keep], right[keep]
    shared = overlay.intersect_each(geoms[left], geoms[right])
    area = np.array([0.0 if g is None else g.area for g in shared])
    inner = shapely.relate_pattern(geoms[left], geoms[right], "2********")
    expected = set(
        zip(
            left[inner & (area > MIN_OVERLAP_M2)],
            right[inner & (area > MIN_OVERLAP_M2)],
            strict=True,
        )
    )
    got_l, got_r = _overlap_pairs(geoms, MIN_OVERLAP_M2)
    assert set(zip(got_l, got_r, strict=True)) == expected
    assert len(expected) > 60  # over-threshold overlaps found, edge neighbours not
