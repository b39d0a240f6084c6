"""``containment_tags`` (shares of each construction parcel inside protected land and inside
the other plans' construction) against GEOS on the union of each cover, on layers where the
covers are a coverage (the land-use plan) and where they overlap (farmland of two plans,
parcels of one plan drawn over each other)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from fiveplans.analysis.conflicts import containment_tags, find_conflicts
from fiveplans.analysis.context import WorkingLayers


def _frame(geoms, legend, prefix: str, use=None) -> gpd.GeoDataFrame:
    n = len(geoms)
    legend = np.broadcast_to(np.asarray(legend, dtype=object), (n,))
    return gpd.GeoDataFrame(
        {
            "source_id": [f"{prefix}{i}" for i in range(n)],
            "source_code": [str(x) for x in legend],
            "legend": list(legend),
            "use": use if use is not None else [None] * n,
        },
        geometry=list(geoms),
        crs=4547,
    )


def _layers(seed: int) -> dict[str, gpd.GeoDataFrame]:
    rng = np.random.default_rng(seed)
    x0, y0, side = 500_000.0, 3_800_000.0, 2_000.0
    frame = box(x0, y0, x0 + side, y0 + side)
    pts = rng.uniform((x0, y0), (x0 + side, y0 + side), (400, 2))
    cells = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame, ordered=True)
    cells = shapely.intersection(shapely.get_parts(cells), frame)
    legend = rng.choice(
        np.array(["basic_farmland", "farmland", "construction", "ecological"], dtype=object),
        len(cells),
        p=[0.45, 0.2, 0.25, 0.1],
    )
    n = 150
    w = rng.uniform(20, 150, n)
    h = w * rng.uniform(0.5, 2.0, n)
    cx, cy = rng.uniform(x0, x0 + side, n), rng.uniform(y0, y0 + side, n)
    parcels = shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    kinds = np.where(rng.random(n) < 0.8, "construction", "basic_farmland").astype(object)
    n_u = 60
    ux, uy = rng.uniform(x0, x0 + side, n_u), rng.uniform(y0, y0 + side, n_u)
    urban = shapely.buffer(shapely.points(ux, uy), rng.uniform(20, 120, n_u), quad_segs=4)
    return {
        # the boundary cuts some parcels
        "boundary": _frame([box(x0 + 50, y0 + 50, x0 + side - 50, y0 + side - 50)], "other", "B"),
        "land_use": _frame(cells, legend, "L"),
        "cluster": _frame(parcels, kinds, "C", use=["industrial"] * n),
        "urban": _frame(urban, "construction", "U", use=["residential"] * n_u),
    }


def _oracle(layers: dict[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    """Shares by GEOS: each parcel (cut to the boundary) ∩ the union of each cover."""
    b = layers["boundary"].union_all()
    plans = [k for k in ("cluster", "urban", "land_use", "infrastructure") if k in layers]

    def of(legend: str, keys) -> shapely.Geometry:
        parts = [
            g for k in keys for g, lg in zip(layers[k].geometry, layers[k]["legend"], strict=True)
            if lg == legend
        ]  # fmt: skip
        return shapely.union_all(parts)

    covers = {
        "basic_farmland": of("basic_farmland", layers),
        "ecological": of("ecological", layers),
    }
    for k in plans:
        gdf = layers[k]
        con = gdf[gdf["legend"] == "construction"]
        covers[f"construction_{k}"] = shapely.union_all(shapely.intersection(con.geometry, b))
    rows = []
    for k in plans:
        gdf = layers[k]
        for sid, g, lg in zip(gdf["source_id"], gdf.geometry, gdf["legend"], strict=True):
            if lg != "construction":
                continue
            g = shapely.intersection(g, b)
            if g.is_empty or g.area <= 0:
                continue
            row = {"plan": k, "source_id": sid}
            for name, cover in covers.items():
                share = shapely.intersection(g, cover).area / g.area
                row[f"share_{name}"] = np.nan if name == f"construction_{k}" else share
            rows.append(row)
    return pd.DataFrame(rows).set_index(["plan", "source_id"])


@pytest.mark.parametrize("seed", [0, 1])
def test_shares_against_geos_unions(seed: int) -> None:
    layers = _layers(seed)
    got = containment_tags(layers).set_index(["plan", "source_id"])
    want = _oracle(layers)
    assert set(got.index) == set(want.index)
    got = got.loc[want.index]
    for col in want.columns:
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float), atol=1e-9)
        tag = col.replace("share_", "tag_")
        share = want[col].to_numpy(float)
        expected = np.where(
            np.isnan(share),
            None,
            np.where(share >= 0.9, "inside", np.where(share <= 0.1, "outside", "straddling")),
        )
        clear = np.isnan(share) | (np.abs(share - 0.9) > 1e-9) & (np.abs(share - 0.1) > 1e-9)
        assert list(got[tag].to_numpy()[clear]) == list(expected[clear])
    # the overlapping covers took the exact path: farmland of two plans overlaps
    assert (got["share_basic_farmland"] > 0).any()


def test_shared_context_gives_the_same_table() -> None:
    layers = _layers(2)
    alone = containment_tags(layers)
    ctx = WorkingLayers(layers)
    with pytest.warns(Warning):
        find_conflicts(ctx)  # no ecology plan / infrastructure: stages are reported skipped
    shared = containment_tags(ctx)
    pd.testing.assert_frame_equal(
        pd.DataFrame(alone.drop(columns="geometry")), pd.DataFrame(shared.drop(columns="geometry"))
    )
    assert ctx.computed["conflicts.clipped"] >= 1
