"""Read classified rasters (GeoTIFF): land-cover maps, suitability grades, ecological zoning.

:func:`read_raster_classes` turns a classified raster (分类栅格, e.g. a 生态敏感性 grade map or
a land-cover map) into polygons, one per connected region of equal value.
:func:`sample_raster` reads the raster's values at points (e.g. a supplier's slope or a site's
land-cover class).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import geopandas
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import rasterio.transform
import rasterio.windows
from rasterio.errors import RasterioError, RasterioIOError
from shapely.geometry import shape

from fiveplans.errors import CRSError, DataError

__all__ = ["read_raster_classes", "sample_raster"]

logger = logging.getLogger(__name__)

# dtypes rasterio.features.shapes accepts
_SHAPES_DTYPES = {"int16", "int32", "uint8", "uint16", "float32"}


def read_raster_classes(
    path: str | os.PathLike[str],
    *,
    band: int = 1,
    to_crs: Any = None,
) -> geopandas.GeoDataFrame:
    """Vectorise a classified raster: one polygon per 4-connected region of equal value.

    Parameters
    ----------
    path
        A raster file GDAL reads (GeoTIFF, …) with a CRS.
    band
        The band holding the classes (1-based).
    to_crs
        CRS to reproject the polygons to (anything :meth:`geopandas.GeoDataFrame.to_crs`
        takes); the raster's own CRS when omitted.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``value`` (the class, in the band's data type) and ``geometry`` (Polygon, its
        edges on pixel boundaries), in the raster's CRS or *to_crs*. Nodata and masked pixels
        are skipped.

    Raises
    ------
    DataError
        The file is missing or not a raster, the band does not exist, or its values are not
        classes (floats that would lose precision).
    CRSError
        The raster has no CRS.
    """
    file = Path(path)
    with _open(file) as src:
        _check_band(file, src, band)
        crs = _crs(file, src)
        data = src.read(band)
        valid = src.read_masks(band) > 0
        transform = src.transform
    if np.issubdtype(data.dtype, np.floating):
        valid &= ~np.isnan(data)
    source_dtype = data.dtype
    data = _shapes_dtype(file, band, data, valid)
    values: list[Any] = []
    geoms = []
    for geom, value in rasterio.features.shapes(
        data, mask=valid, connectivity=4, transform=transform
    ):
        geoms.append(shape(geom))
        values.append(value)
    gdf = geopandas.GeoDataFrame(
        {"value": np.asarray(values, dtype=np.float64).astype(source_dtype)},
        geometry=geoms,
        crs=crs,
    )
    logger.info(
        "%s band %d: %d polygons of %d classes",
        file,
        band,
        len(gdf),
        gdf["value"].nunique(),
    )
    if to_crs is not None:
        gdf = gdf.to_crs(to_crs)
    return gdf


def sample_raster(
    path: str | os.PathLike[str],
    points: geopandas.GeoDataFrame,
    *,
    band: int = 1,
) -> pd.Series:
    """The raster's values at *points*.

    Parameters
    ----------
    path
        A raster file with a CRS.
    points
        Points with a CRS; reprojected to the raster's CRS before sampling. Not modified.
    band
        The band to sample (1-based).

    Returns
    -------
    pandas.Series
        Float values aligned to ``points.index``, named ``value``; NaN for points outside the
        raster, on nodata or masked pixels, and for empty geometries.

    Raises
    ------
    DataError
        The file is not a raster, the band does not exist, or *points* are not points.
    CRSError
        The raster or the points have no CRS.
    """
    file = Path(path)
    if points.crs is None:
        raise CRSError(
            f"{file}: the points to sample have no CRS; set it first "
            "(`gdf.set_crs(...)`, or `crs:` on the point layer in the pilot YAML)."
        )
    geoms = points.geometry
    kinds = set(geoms[~(geoms.isna() | geoms.is_empty)].geom_type)
    if kinds - {"Point"}:
        raise DataError(
            f"{file}: can only sample at points, got {sorted(kinds)}; pass "
            "`gdf.representative_point()` for polygons."
        )
    out = pd.Series(np.nan, index=points.index, name="value", dtype="float64")
    with _open(file) as src:
        _check_band(file, src, band)
        crs = _crs(file, src)
        projected = geoms.to_crs(crs)
        present = ~(projected.isna() | projected.is_empty).to_numpy()
        if not present.any():
            return out
        xs = projected.x.to_numpy()[present]
        ys = projected.y.to_numpy()[present]
        rows, cols = rasterio.transform.rowcol(src.transform, xs, ys)
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        inside = (rows >= 0) & (rows < src.height) & (cols >= 0) & (cols < src.width)
        values = np.full(len(xs), np.nan)
        if inside.any():
            r0, r1 = int(rows[inside].min()), int(rows[inside].max()) + 1
            c0, c1 = int(cols[inside].min()), int(cols[inside].max()) + 1
            window = rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0)
            data = src.read(band, window=window)
            mask = src.read_masks(band, window=window) > 0
            picked = data[rows[inside] - r0, cols[inside] - c0].astype(np.float64)
            ok = mask[rows[inside] - r0, cols[inside] - c0]
            values[inside] = np.where(ok, picked, np.nan)
    out.iloc[np.flatnonzero(present)] = values
    return out


def _open(file: Path) -> rasterio.io.DatasetReader:
    """Open *file* with rasterio, turning failures into :class:`DataError`."""
    if not file.is_file():
        raise DataError(f"{file}: file not found; check `path:` (relative to the pilot YAML).")
    try:
        return rasterio.open(file)
    except (RasterioIOError, RasterioError) as exc:
        raise DataError(
            f"{file}: not a raster GDAL can read ({exc}); export it as GeoTIFF (.tif)."
        ) from exc


def _check_band(file: Path, src: rasterio.io.DatasetReader, band: int) -> None:
    """A :class:`DataError` unless *band* exists."""
    if not 1 <= band <= src.count:
        raise DataError(
            f"{file}: band {band} does not exist (the raster has {src.count} band(s), numbered "
            f"from 1); set `band:` to one of 1…{src.count}."
        )


def _crs(file: Path, src: rasterio.io.DatasetReader) -> Any:
    """The raster's CRS; a :class:`CRSError` naming the fix when it has none."""
    if src.crs is None:
        b = src.bounds
        guess = (
            "EPSG:4490 (CGCS2000 longitude/latitude)"
            if -180 <= b.left <= 180 and -90 <= b.bottom <= 90 and b.top <= 90
            else "the projected CRS it was made in, e.g. EPSG:4547 (CGCS2000 / 3-degree "
            "Gauss-Kruger CM 114E) for central Henan"
        )
        raise CRSError(
            f"{file}: the raster has no CRS (bounds {b.left:.6g}, {b.bottom:.6g}, {b.right:.6g}, "
            f"{b.top:.6g}); add `crs:` to its source in the pilot YAML — here probably {guess} — "
            "or write it into the file (gdal_edit.py -a_srs EPSG:xxxx)."
        )
    return src.crs


def _shapes_dtype(file: Path, band: int, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """*data* in a dtype :func:`rasterio.features.shapes` accepts, without changing a value."""
    if data.dtype.name in _SHAPES_DTYPES:
        return data
    candidates = ("float32",) if np.issubdtype(data.dtype, np.floating) else ("int16", "int32")
    checked = data[valid]
    for name in candidates:
        converted = checked.astype(name)
        if np.array_equal(converted.astype(data.dtype), checked):
            return np.where(valid, data, 0).astype(name)
    raise DataError(
        f"{file} band {band}: values of type {data.dtype.name} cannot be vectorised without "
        "changing them; a classified raster needs integer class codes (or float32), so "
        "reclassify it to integers first."
    )
