"""QA checks: overlaps in a coverage, duplicates, repairs — against direct shapely computations."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from fiveplans.layers import qa


def _voronoi(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frame = box(0, 0, 2000, 2000)
    seeds = shapely.multipoints(rng.uniform(0, 2000, (n, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame))
    return shapely.intersection(cells, frame)


def test_parallel_invalid_edges_equal_the_whole_coverage_result() -> None:
    geoms = _voronoi(3000)
    # plant an overlap across the middle of the coverage and one at the edge
    geoms[10] = shapely.buffer(geoms[10], 5.0)
    middle = int(np.argmin(np.abs(shapely.get_x(shapely.centroid(geoms)) - 1000)))
    geoms[middle] = shapely.buffer(geoms[middle], 3.0)
    whole = shapely.coverage_invalid_edges(geoms)
    parallel = qa._invalid_edges(geoms, min_chunk=500)
    assert np.array_equal(shapely.is_empty(whole), shapely.is_empty(parallel))
    assert np.allclose(shapely.length(whole), shapely.length(parallel))


def test_coverage_overlaps_area_equals_pairwise_intersections() -> None:
    geoms = _voronoi(400)
    geoms[5] = shapely.buffer(geoms[5], 4.0)
    gdf = gpd.GeoDataFrame(geometry=geoms, crs=4547)
    row = qa.coverage_overlaps(gdf)
    assert row is not None
    # oracle: brute-force pairwise intersection areas of the grown cell with every other cell
    others = np.delete(np.arange(len(geoms)), 5)
    areas = shapely.area(shapely.intersection(geoms[5], geoms[others]))
    expected = areas[areas >= 1.0]
    assert row.count == len(expected)
    assert row.area_m2 == pytest.approx(expected.sum(), rel=1e-9)


def test_clean_coverage_has_no_overlaps() -> None:
    gdf = gpd.GeoDataFrame(geometry=_voronoi(400), crs=4547)
    assert qa.coverage_overlaps(gdf) is None


def test_duplicates_counted() -> None:
    a, b = box(0, 0, 10, 10), box(10, 0, 20, 10)
    gdf = gpd.GeoDataFrame(geometry=[a, b, shapely.reverse(a)], crs=4547)
    row = qa.duplicate_geometries(gdf)
    assert row is not None and row.count == 1 and row.area_m2 == pytest.approx(100.0)


def test_repair_keeps_polygonal_parts_only() -> None:
    # a polygon with a dangling spike: make_valid gives a polygon plus a line; the line goes
    spiky = shapely.Polygon([(0, 0), (10, 0), (10, 10), (10, 20), (10, 10), (0, 10)])
    gdf = gpd.GeoDataFrame({"id": [1]}, geometry=[spiky], crs=4547)
    fixed, rows = qa.repair_geometries(gdf, kind="polygon", where="t")
    geom = fixed.geometry.iloc[0]
    assert geom.geom_type in ("Polygon", "MultiPolygon")
    assert geom.area == pytest.approx(100.0)
    assert rows[0].check.startswith("invalid_repaired")
    assert gdf.geometry.iloc[0].equals(spiky)  # input untouched
