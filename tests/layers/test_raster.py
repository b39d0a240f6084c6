"""Tests of fiveplans.layers.raster on small GeoTIFFs written with rasterio."""

from __future__ import annotations

from pathlib import Path

import geopandas
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from scipy import ndimage
from shapely.geometry import Point

from fiveplans.errors import CRSError, DataError
from fiveplans.layers.raster import read_raster_classes, sample_raster

NODATA = 255
# classes of a small 生态敏感性 grade map; 255 = nodata
GRID = np.array(
    [
        [1, 1, 2, 2, 2, 3],
        [1, 3, 2, 255, 2, 3],
        [1, 1, 2, 2, 2, 3],
        [3, 3, 255, 1, 1, 1],
        [3, 1, 1, 1, 255, 2],
    ],
    dtype=np.uint8,
)
PIXEL = 30.0


def from_origin(west: float, north: float, xsize: float, ysize: float) -> Affine:
    """North-up transform (rasterio's ``from_origin`` trips affine 3.1's deprecation warning)."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


ORIGIN = (500_000.0, 3_800_000.0)  # EPSG:4547, central Henan (CM 114°E)


def _write(path: Path, data: np.ndarray, *, crs: str | None, transform, nodata=NODATA) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(data, 1)
    return path


@pytest.fixture
def grades(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "grades.tif", GRID, crs="EPSG:4547", transform=from_origin(*ORIGIN, 30, 30)
    )


def test_vectorised_areas_equal_pixel_counts(grades: Path) -> None:
    gdf = read_raster_classes(grades)
    assert gdf.crs.to_epsg() == 4547
    assert NODATA not in set(gdf["value"])
    assert gdf["value"].dtype == np.uint8
    areas = gdf.area.groupby(gdf["value"]).sum()
    for value in (1, 2, 3):
        assert areas[value] == pytest.approx((value == GRID).sum() * PIXEL * PIXEL)
        # one polygon per 4-connected region (scipy's labelling as the oracle)
        _, regions = ndimage.label(value == GRID)
        assert (gdf["value"] == value).sum() == regions
    # nodata pixels are holes/gaps: the union covers exactly the valid pixels
    assert gdf.union_all().area == pytest.approx((GRID != NODATA).sum() * PIXEL * PIXEL)
    minx, miny, maxx, maxy = gdf.total_bounds
    assert (minx, maxy) == ORIGIN
    assert (maxx, miny) == (ORIGIN[0] + 6 * PIXEL, ORIGIN[1] - 5 * PIXEL)


def test_geographic_raster_and_to_crs(tmp_path: Path) -> None:
    step = 0.001
    file = _write(
        tmp_path / "wgs.tif", GRID, crs="EPSG:4326", transform=from_origin(113.6, 34.8, step, step)
    )
    gdf = read_raster_classes(file)
    assert gdf.crs.to_epsg() == 4326
    assert gdf.total_bounds == pytest.approx([113.6, 34.8 - 5 * step, 113.6 + 6 * step, 34.8])
    projected = read_raster_classes(file, to_crs="EPSG:4547")
    assert projected.crs.to_epsg() == 4547
    # each class's share of the valid area survives the reprojection (tiny area, ~uniform scale)
    share = projected.area.groupby(projected["value"]).sum() / projected.area.sum()
    counts = pd.Series(GRID[GRID != NODATA]).value_counts() / (GRID != NODATA).sum()
    for value in (1, 2, 3):
        assert share[value] == pytest.approx(counts[value], rel=1e-3)


def test_float_and_int64_classes(tmp_path: Path) -> None:
    data = np.where(GRID == NODATA, -1, GRID.astype(np.int64) * 100_000)
    file = _write(
        tmp_path / "i64.tif",
        data,
        crs="EPSG:4547",
        transform=from_origin(*ORIGIN, 30, 30),
        nodata=-1,
    )
    gdf = read_raster_classes(file)
    assert gdf["value"].dtype == np.int64
    assert set(gdf["value"]) == {100_000, 200_000, 300_000}
    floats = np.where(GRID == NODATA, np.nan, GRID + 0.123456789123).astype(np.float64)
    file = _write(
        tmp_path / "f64.tif",
        floats,
        crs="EPSG:4547",
        transform=from_origin(*ORIGIN, 30, 30),
        nodata=None,
    )
    with pytest.raises(DataError, match="reclassify it to integers"):
        read_raster_classes(file)


def test_sample_at_pixel_centres(grades: Path) -> None:
    rows, cols = np.indices(GRID.shape)
    xs = ORIGIN[0] + (cols.ravel() + 0.5) * PIXEL
    ys = ORIGIN[1] - (rows.ravel() + 0.5) * PIXEL
    points = geopandas.GeoDataFrame(
        geometry=[Point(x, y) for x, y in zip(xs, ys, strict=True)],
        crs="EPSG:4547",
        index=pd.RangeIndex(1000, 1000 + xs.size),
    )
    before = points.copy()
    values = sample_raster(grades, points)
    assert values.index.equals(points.index)
    expected = np.where(GRID.ravel() == NODATA, np.nan, GRID.ravel().astype(float))
    np.testing.assert_array_equal(values.to_numpy(), expected)
    assert points.equals(before)


def test_sample_reprojected_outside_and_empty(grades: Path) -> None:
    to_wgs = Transformer.from_crs("EPSG:4547", "EPSG:4326", always_xy=True)
    centres = [(0, 0), (1, 1), (4, 2), (1, 3)]  # (row, col)
    lonlat = [
        to_wgs.transform(ORIGIN[0] + (c + 0.5) * PIXEL, ORIGIN[1] - (r + 0.5) * PIXEL)
        for r, c in centres
    ]
    far = to_wgs.transform(ORIGIN[0] - 1000, ORIGIN[1])
    points = geopandas.GeoDataFrame(
        {"name": ["a", "b", "c", "d", "outside", "empty"]},
        geometry=[*(Point(p) for p in lonlat), Point(far), Point()],
        crs="EPSG:4326",
    ).set_index("name")
    values = sample_raster(grades, points)
    assert values.index.tolist() == ["a", "b", "c", "d", "outside", "empty"]
    assert values[["a", "b", "c"]].tolist() == [
        float(GRID[0, 0]),
        float(GRID[1, 1]),
        float(GRID[4, 2]),
    ]
    assert np.isnan(values["d"])  # GRID[1, 3] is nodata
    assert values[["outside", "empty"]].isna().all()


def test_errors(tmp_path: Path, grades: Path) -> None:
    no_crs = _write(tmp_path / "nocrs.tif", GRID, crs=None, transform=from_origin(*ORIGIN, 30, 30))
    with pytest.raises(CRSError, match=r"nocrs\.tif.*add `crs:`.*EPSG:4547"):
        read_raster_classes(no_crs)
    text = tmp_path / "notes.tif"
    text.write_text("not a raster", encoding="utf-8")
    with pytest.raises(DataError, match=r"notes\.tif: not a raster"):
        read_raster_classes(text)
    with pytest.raises(DataError, match="band 2 does not exist"):
        read_raster_classes(grades, band=2)
    unplaced = geopandas.GeoDataFrame(geometry=[Point(ORIGIN)])
    with pytest.raises(CRSError, match="have no CRS"):
        sample_raster(grades, unplaced)
    polygons = geopandas.GeoDataFrame(geometry=[Point(ORIGIN).buffer(5)], crs="EPSG:4547")
    with pytest.raises(DataError, match="representative_point"):
        sample_raster(grades, polygons)
