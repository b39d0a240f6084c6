"""Oracle: per-type conflict areas against PostGIS (ST_Intersection / ST_Difference / ST_Union)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from fiveplans.analysis.conflicts import find_conflicts, summarize_conflicts
from fiveplans.layers.postgis import write_postgis

pytestmark = [
    pytest.mark.postgis,
    # an oracle comparison: which types an absent optional plan skips is tested elsewhere
    pytest.mark.filterwarnings("ignore::fiveplans.errors.StageSkipped"),
]

X0, Y0, SIDE = 440_000.0, 3_720_000.0, 3_000.0


def _layer(rows: list[tuple]) -> gpd.GeoDataFrame:
    df = pd.DataFrame(rows, columns=["source_id", "source_code", "legend", "use", "geometry"])
    return gpd.GeoDataFrame(df, geometry="geometry", crs=4547)


def make_layers(seed: int = 5) -> dict[str, gpd.GeoDataFrame]:
    """Voronoi land-use coverage × random construction rectangles of two plans + a river."""
    rng = np.random.default_rng(seed)
    frame = shapely.box(X0 - 200, Y0 - 200, X0 + SIDE + 200, Y0 + SIDE + 200)
    pts = shapely.multipoints(
        rng.uniform((X0 - 200, Y0 - 200), (X0 + SIDE + 200, Y0 + SIDE + 200), (300, 2))
    )
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=frame)), frame
    )
    legend = rng.choice(
        ["basic_farmland", "farmland", "construction"], len(cells), p=[0.5, 0.3, 0.2]
    )
    land_use = _layer(
        [
            (f"L{i}", "010", lg, "other" if lg == "construction" else None, g)
            for i, (g, lg) in enumerate(zip(cells, legend, strict=True))
        ]
    )

    def rects(n: int) -> np.ndarray:
        xy = rng.uniform((X0 - 100, Y0 - 100), (X0 + SIDE, Y0 + SIDE), (n, 2))
        wh = rng.uniform(30, 250, (n, 2))
        return shapely.box(xy[:, 0], xy[:, 1], xy[:, 0] + wh[:, 0], xy[:, 1] + wh[:, 1])

    uses = np.array(["industrial", "logistics", "residential"])
    cluster = _layer(
        [
            (f"C{i}", "M1", "construction", u, g)
            for i, (g, u) in enumerate(zip(rects(120), rng.choice(uses, 120), strict=True))
        ]
    )
    urban = _layer(
        [
            (f"U{i}", "R2", "construction", u, g)
            for i, (g, u) in enumerate(zip(rects(120), rng.choice(uses, 120), strict=True))
        ]
    )
    river = shapely.LineString(
        [(X0 - 300, Y0 + 900), (X0 + 1400, Y0 + 1600), (X0 + SIDE + 300, Y0 + 1300)]
    )
    ecology = _layer([("E1", "eco", "ecological", None, river.buffer(120))])
    boundary = _layer(
        [
            (
                "B",
                "",
                "other",
                None,
                shapely.Point(X0 + SIDE / 2, Y0 + SIDE / 2).buffer(1500, quad_segs=32),
            )
        ]
    )
    return {
        "boundary": boundary,
        "land_use": land_use,
        "cluster": cluster,
        "urban": urban,
        "ecology": ecology,
    }


def _union_area(conn, sql: str) -> float:
    row = conn.execute(
        f"SELECT COALESCE(ST_Area(ST_CollectionExtract(ST_MakeValid(({sql})), 3)), 0)"
    ).fetchone()
    return float(row[0] or 0.0)


def test_areas_match_postgis(postgis_url: str) -> None:
    import psycopg

    layers = make_layers()
    for key, gdf in layers.items():
        write_postgis(gdf, postgis_url, f"t_{key}", if_exists="replace")
    got = summarize_conflicts(find_conflicts(layers, sliver_m2=0))["conflicts"]

    b = "(SELECT ST_Union(geom) FROM t_boundary)"

    def constr(t: str) -> str:
        return f"(SELECT ST_Union(geom) FROM {t} WHERE legend = 'construction')"

    any_c = f"ST_Union(ARRAY[{constr('t_cluster')}, {constr('t_urban')}, {constr('t_land_use')}])"
    farm = "(SELECT ST_Union(geom) FROM t_land_use WHERE legend = 'basic_farmland')"
    eco = "(SELECT ST_Union(geom) FROM t_ecology WHERE legend = 'ecological')"
    lu = constr("t_land_use")
    mismatch = (
        f"ST_Union(ARRAY[ST_Difference({constr('t_cluster')}, {lu}), ST_Difference({constr('t_urban')}, {lu}), "
        f"ST_Difference({lu}, {constr('t_cluster')}), ST_Difference({lu}, {constr('t_urban')})])"
    )
    use = (
        "(SELECT ST_Union(ST_Intersection(c.geom, u.geom)) FROM t_cluster c JOIN t_urban u "
        "ON ST_Intersects(c.geom, u.geom) AND c.use <> u.use)"
    )
    expected = {
        "farmland_construction": f"ST_Intersection(ST_Intersection({any_c}, {farm}), {b})",
        "ecology_construction": f"ST_Intersection(ST_Intersection({any_c}, {eco}), {b})",
        "plan_mismatch": f"ST_Intersection({mismatch}, {b})",
        "use_mismatch": f"ST_Intersection({use}, {b})",
    }
    with psycopg.connect(postgis_url) as conn:
        for t, sql in expected.items():
            want = _union_area(conn, sql)
            assert want > 1_000, t  # the fixture does produce each type
            assert got[t]["area_m2"] == pytest.approx(want, rel=1e-6), t
    assert got["corridor_construction"] == {"area_m2": 0.0, "count": 0}
