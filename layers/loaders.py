"""Load the five plans (五规) and the other sources into one CRS and one legend (一张图).

:func:`read_source` reads one source in whatever form it was delivered (Shapefile in GBK,
FileGDB, GeoPackage, GeoJSON, DXF with control points, CSV points, OSM, PostGIS, GeoTIFF) and
records every decision it took. :func:`harmonize` brings it into the working CRS, applies the
code table (legend) and runs the QA checks. :func:`load_layers` does both for every source of a
pilot and refuses to return a partial result.
"""

from __future__ import annotations

import difflib
import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from fiveplans import coords
from fiveplans.config import PLAN_KEYS, PilotConfig, SourceConfig
from fiveplans.crs import (
    CrsSpec,
    default_working_crs,
    detect_crs,
    diagnose_gcj02,
    needs_datum_parameters,
    with_towgs84,
)
from fiveplans.errors import CRSError, CRSWarning, DataError, FiveplansWarning
from fiveplans.io import (
    EncodingGuess,
    check_shapefile_complete,
    detect_encoding,
    detect_shapefile_encoding,
)
from fiveplans.layers import qa
from fiveplans.layers.legend import apply_legend

__all__ = [
    "GEOMETRY_KINDS",
    "LoadReport",
    "LoadedLayer",
    "harmonize",
    "load_layer",
    "load_layers",
    "read_source",
]

log = logging.getLogger(__name__)

#: Which geometry each layer key must have.
GEOMETRY_KINDS: dict[str, qa.GeometryKind] = {
    "cluster": "polygon",
    "land_use": "polygon",
    "urban": "polygon",
    "ecology": "polygon",
    "infrastructure": "any",
    "current": "polygon",
    "roads": "line",
    "centres": "point",
    "suppliers": "point",
    "clusters": "point_or_polygon",
    "districts": "polygon",
    "boundary": "polygon",
}
_COVERAGE_KEYS = {"cluster", "land_use", "urban", "current", "districts"}
_CHINA_LON = (73.0, 136.0)
_CHINA_LAT = (3.0, 54.0)
LEGEND_COLUMNS = ("source_id", "source_code", "legend", "use")


@dataclass
class LoadReport:
    """What the loader decided for one source, and what it found (the notebook shows this)."""

    key: str
    where: str
    format: str = ""
    features_read: int = 0
    features_loaded: int = 0
    crs_declared: str = ""
    crs_source: str = ""
    crs_used: str = ""
    crs_reason: str = ""
    encoding: str = ""
    encoding_reason: str = ""
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    qa: pd.DataFrame = field(default_factory=lambda: qa.qa_table("", []))
    unknown_codes: pd.DataFrame = field(default_factory=pd.DataFrame)
    control_points: pd.DataFrame | None = None
    control_rms_m: float | None = None

    def warn(self, message: str, category: type[Warning] = FiveplansWarning) -> None:
        """Record a warning, log it and emit it as a Python warning."""
        text = f"{self.where}: {message}"
        self.warnings.append(text)
        warnings.warn(text, category, stacklevel=3)

    def note(self, message: str) -> None:
        """Record a decision."""
        self.notes.append(message)
        log.info("%s: %s", self.where, message)

    def as_row(self) -> dict[str, Any]:
        """One row of the load report table."""
        return {
            "layer": self.key,
            "source": self.where,
            "format": self.format,
            "features_read": self.features_read,
            "features_loaded": self.features_loaded,
            "crs_declared": self.crs_declared,
            "crs_in_file": self.crs_source,
            "crs_used": self.crs_used,
            "crs_reason": self.crs_reason,
            "encoding": self.encoding,
            "encoding_reason": self.encoding_reason,
            "control_rms_m": self.control_rms_m,
            "notes": " | ".join(self.notes),
            "warnings": " | ".join(self.warnings),
        }


@dataclass
class LoadedLayer:
    """A harmonised layer and its report."""

    frame: gpd.GeoDataFrame
    report: LoadReport


# ----------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------


def _format_of(src: SourceConfig) -> str:
    if src.url is not None:
        return "PostGIS"
    assert src.path is not None
    name = src.path.name.lower()
    if src.path.is_dir() and name.endswith(".gdb"):
        return "FileGDB"
    suffixes = {
        ".shp": "Shapefile",
        ".gpkg": "GeoPackage",
        ".geojson": "GeoJSON",
        ".json": "GeoJSON",
        ".dxf": "DXF",
        ".csv": "CSV",
        ".osm": "OSM",
        ".pbf": "OSM",
        ".tif": "GeoTIFF",
        ".tiff": "GeoTIFF",
        ".zip": "zip",
        ".gdb": "FileGDB",
    }
    for suffix, fmt in suffixes.items():
        if name.endswith(suffix):
            return fmt
    return "GDAL"


def _list_layers(path: Path) -> list[str]:
    try:
        return [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:  # GDAL raises several types for unreadable files
        raise DataError(
            f"{path}: cannot be opened as a GIS file ({exc}). Fix: check that the file is "
            "complete (not truncated), in a supported format (Shapefile, GeoPackage, FileGDB, "
            "GeoJSON, DXF, CSV, OSM, GeoTIFF), and not open in another program."
        ) from None


def _choose_layers(src: SourceConfig, available: list[str]) -> list[str]:
    assert src.path is not None
    if src.layer:
        for name in src.layer:
            if name not in available:
                near = difflib.get_close_matches(name, available, n=1, cutoff=0.4)
                hint = f" Did you mean '{near[0]}'?" if near else ""
                raise DataError(
                    f"{src.where}: layer '{name}' not found in {src.path.name}; it has "
                    f"{', '.join(available) or 'no layers'}.{hint} Fix: set `layer:` to one of them."
                )
        return list(src.layer)
    if len(available) == 1:
        return available
    raise DataError(
        f"{src.where}: {src.path.name} holds {len(available)} layers ({', '.join(available)}) "
        "and no `layer:` says which to load. Fix: add `layer: NAME` (or a list) to this source."
    )


def _read_gdal(src: SourceConfig, report: LoadReport) -> gpd.GeoDataFrame:
    assert src.path is not None
    kwargs: dict[str, Any] = {}
    if report.format == "Shapefile":
        check_shapefile_complete(src.path)
        guess = detect_shapefile_encoding(src.path, declared=src.encoding)
        kwargs["encoding"] = guess.encoding
        report.encoding, report.encoding_reason = guess.encoding, guess.reason
        report.note(f"encoding {guess.encoding}: {guess.reason}")
    elif src.encoding:
        kwargs["encoding"] = src.encoding
        report.encoding, report.encoding_reason = src.encoding, "declared in the pilot config"
    else:
        report.encoding, report.encoding_reason = "UTF-8", f"{report.format} stores text as Unicode"
    layers = _choose_layers(src, _list_layers(src.path))
    frames = []
    for name in layers:
        try:
            frame = pyogrio.read_dataframe(src.path, layer=name, **kwargs)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{src.where}: text in layer {name} cannot be decoded as "
                f"{kwargs.get('encoding', 'UTF-8')} ({exc.reason}). Fix: set `encoding:` "
                "(e.g. GBK or GB18030) for this source."
            ) from None
        except Exception as exc:
            raise DataError(
                f"{src.where}: reading layer {name} failed: {exc}. Fix: open the file in QGIS "
                "to check it, and re-export it if it is damaged."
            ) from None
        if len(layers) > 1:
            frame["source_layer"] = name
        frames.append(frame)
    if len(frames) == 1:
        return frames[0]
    crs_set = {str(f.crs) for f in frames}
    if len(crs_set) > 1:
        raise CRSError(
            f"{src.where}: the layers {', '.join(layers)} have different CRSs ({'; '.join(sorted(crs_set))}). "
            "Fix: load them as separate sources or re-project them to one CRS first."
        )
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


def _read_csv(src: SourceConfig, report: LoadReport) -> gpd.GeoDataFrame:
    assert src.path is not None and src.x is not None and src.y is not None
    raw = src.path.read_bytes()
    if src.encoding:
        guess = EncodingGuess(src.encoding, "declared in the pilot config")
    else:
        guess = detect_encoding(raw[:200_000], where=src.where)
    report.encoding, report.encoding_reason = guess.encoding, guess.reason
    report.note(f"encoding {guess.encoding}: {guess.reason}")
    try:
        text = raw.decode(guess.encoding.lower().replace("utf-8-sig", "utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{src.where}: cannot decode as {guess.encoding} at byte {exc.start}. "
            "Fix: set `encoding:` for this source (e.g. GBK, GB18030, UTF-8)."
        ) from None
    import io

    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise DataError(
            f"{src.where}: not a readable CSV ({exc}). Fix: check the delimiters and quotes."
        ) from None
    df.columns = [c.strip().lstrip("\ufeff") for c in df.columns]
    for col in (src.x, src.y):
        if col not in df.columns:
            raise DataError(_field_missing(src, col, list(df.columns), option="x/y"))
    xs = pd.to_numeric(df[src.x].str.strip(), errors="coerce")
    ys = pd.to_numeric(df[src.y].str.strip(), errors="coerce")
    bad = xs.isna() | ys.isna() | ~np.isfinite(xs) | ~np.isfinite(ys)
    if bad.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:5])
        report.warn(
            f"{int(bad.sum())} rows have no usable coordinates in {src.x}/{src.y} and were dropped "
            f"(CSV lines {rows}). Fix: fill in the coordinates."
        )
    df = df.loc[~bad].copy()
    for col in df.columns:
        if col not in (src.x, src.y):
            numeric = pd.to_numeric(df[col], errors="coerce")
            if numeric.notna().all() and len(df) and not df[col].str.match(r"^0\d").any():
                df[col] = numeric
    geom = shapely.points(xs[~bad].to_numpy(), ys[~bad].to_numpy())
    return gpd.GeoDataFrame(df.reset_index(drop=True), geometry=geom, crs=None)


def _read_dxf(src: SourceConfig, report: LoadReport) -> gpd.GeoDataFrame:
    from fiveplans.layers.cad import read_dxf

    assert src.path is not None
    gdf = read_dxf(src.path, layers=list(src.layer) or None, encoding=src.encoding)
    report.encoding, report.encoding_reason = "UTF-8", "DXF text decoded by ezdxf ($DWGCODEPAGE)"
    return gdf


def read_source(src: SourceConfig) -> tuple[gpd.GeoDataFrame, LoadReport]:
    """Read one source as delivered, with its original attributes decoded.

    Returns the raw frame (in the source's own coordinates, ``crs`` as found in the file or
    ``None``) and a :class:`LoadReport` that records the format and encoding decisions.
    """
    report = LoadReport(key=src.key, where=src.where, format=_format_of(src))
    if src.path is not None and not src.path.exists():
        raise DataError(f"{src.where}: file not found. Fix: check `path:`.")
    fmt = report.format
    if fmt == "PostGIS":
        from fiveplans.layers.postgis import read_postgis

        assert src.url is not None
        gdf = read_postgis(src.url, src.layer[0])
        report.encoding, report.encoding_reason = "UTF-8", "PostgreSQL client encoding"
    elif fmt == "DXF":
        gdf = _read_dxf(src, report)
    elif fmt == "CSV":
        gdf = _read_csv(src, report)
    elif fmt == "OSM":
        from fiveplans.layers.osm import read_osm_roads

        assert src.path is not None
        gdf = read_osm_roads(src.path)
        report.encoding, report.encoding_reason = "UTF-8", "OSM data is UTF-8"
    elif fmt == "GeoTIFF":
        from fiveplans.layers.raster import read_raster_classes

        assert src.path is not None
        gdf = read_raster_classes(src.path)
        report.note("raster vectorised into one polygon per connected region of equal value")
    else:
        gdf = _read_gdal(src, report)
    report.features_read = len(gdf)
    report.crs_source = gdf.crs.to_string() if gdf.crs is not None else ""
    if gdf.crs is not None:
        name = gdf.crs.name
        report.crs_source = (
            f"{report.crs_source} ({name})" if name not in report.crs_source else report.crs_source
        )
    if len(gdf) == 0:
        raise DataError(
            f"{src.where}: the layer has no features. Fix: check that the right file and `layer:` are named."
        )
    return gdf, report


# ----------------------------------------------------------------------------------------------
# CRS
# ----------------------------------------------------------------------------------------------


def _field_missing(src: SourceConfig, name: str, columns: list[str], *, option: str) -> str:
    near = difflib.get_close_matches(name, columns, n=1, cutoff=0.4)
    if not near:
        lower = {c.lower(): c for c in columns}
        if name.lower() in lower:
            near = [lower[name.lower()]]
    hint = f" The closest is '{near[0]}'." if near else ""
    shown = ", ".join(c for c in columns if c != "geometry")
    return (
        f"{src.where}: field '{name}' not found; the source has {shown}.{hint} "
        f"Fix: set `{option}:` to one of these."
    )


def _sample_xy(gdf: gpd.GeoDataFrame, n: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    geoms = gdf.geometry.values
    if len(geoms) > 2000:
        step = max(1, len(geoms) // 2000)
        geoms = geoms[::step]
    xy = shapely.get_coordinates(geoms)
    if len(xy) > n:
        xy = xy[:: max(1, len(xy) // n)]
    return xy[:, 0], xy[:, 1]


def _transform_coords(
    gdf: gpd.GeoDataFrame, func: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
) -> gpd.GeoDataFrame:
    def apply(xy: np.ndarray) -> np.ndarray:
        x, y = func(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    out = gdf.copy()
    out.geometry = gpd.GeoSeries(shapely.transform(gdf.geometry.values, apply), index=gdf.index)
    return out


def _crs_label(crs: pyproj.CRS) -> str:
    epsg = crs.to_epsg(min_confidence=70)
    return f"EPSG:{epsg} ({crs.name})" if epsg else crs.name


def _plausible(crs: pyproj.CRS, x: np.ndarray, y: np.ndarray) -> bool:
    """Whether coordinates fall inside the CRS's area of use (a wrong .prj shows here)."""
    if not len(x):
        return True
    aou = crs.area_of_use
    if crs.is_geographic:
        return bool(np.all((x >= -180) & (x <= 180) & (y >= -90) & (y <= 90)))
    try:
        t = pyproj.Transformer.from_crs(crs, "EPSG:4490", always_xy=True)
        lon, lat = t.transform(np.nanmedian(x), np.nanmedian(y))
    except pyproj.exceptions.ProjError:
        return False
    if not (np.isfinite(lon) and np.isfinite(lat)):
        return False
    if aou is None:
        return bool(_CHINA_LON[0] <= lon <= _CHINA_LON[1] and _CHINA_LAT[0] <= lat <= _CHINA_LAT[1])
    margin = 1.0
    return bool(
        aou.west - margin <= lon <= aou.east + margin
        and aou.south - margin <= lat <= aou.north + margin
    )


def _resolve_crs(
    gdf: gpd.GeoDataFrame,
    src: SourceConfig,
    report: LoadReport,
    *,
    reference_lon: float | None,
) -> tuple[pyproj.CRS, str | None]:
    """The CRS the raw coordinates are in, and a web-map offset to undo first (gcj02/bd09)."""
    spec: CrsSpec | None = src.crs
    x, y = _sample_xy(gdf)
    if spec is not None:
        report.crs_declared = spec.text
        if spec.offset is not None:
            report.crs_reason = f"declared `crs: {spec.text}`: {spec.offset.upper()} lon/lat converted to CGCS2000 (EPSG:4490) by iterated inverse"
            return pyproj.CRS.from_epsg(4490), spec.offset
        assert spec.crs is not None
        if not _plausible(spec.crs, x, y):
            raise CRSError(
                f"{src.where}: the declared `crs: {spec.text}` does not fit the coordinates "
                f"(e.g. x={x[0]:.3f}, y={y[0]:.3f} fall outside its area of use). "
                f"Fix: correct `crs:`; {detect_crs(x, y, reference_lon=reference_lon).reason}"
            )
        if gdf.crs is not None and not gdf.crs.equals(spec.crs):
            report.note(f"the file says {_crs_label(gdf.crs)}; the declared {spec.text} was used")
        report.crs_reason = f"declared `crs: {spec.text}`"
        return spec.crs, None
    if gdf.crs is not None:
        if _plausible(gdf.crs, x, y):
            report.crs_reason = "taken from the file"
            return gdf.crs, None
        detected = detect_crs(x, y, reference_lon=reference_lon)
        if detected.crs is None:
            raise CRSError(
                f"{src.where}: the file's CRS {_crs_label(gdf.crs)} does not fit its coordinates "
                f"(e.g. x={x[0]:.3f}, y={y[0]:.3f}) and nothing else fits: {detected.reason} "
                "Fix: add the right `crs:` to this source."
            )
        report.warn(
            f"the file's CRS {_crs_label(gdf.crs)} does not fit its coordinates; used "
            f"{_crs_label(detected.crs)} instead ({detected.reason}). Fix: add `crs:` to confirm.",
            CRSWarning,
        )
        report.crs_reason = f"file CRS rejected; detected: {detected.reason}"
        return detected.crs, None
    detected = detect_crs(x, y, reference_lon=reference_lon)
    if detected.crs is None:
        raise CRSError(
            f"{src.where}: no CRS in the file (no .prj) and none could be detected: "
            f"{detected.reason} Fix: add `crs:` to this source (e.g. `crs: EPSG:4547`)."
        )
    report.crs_reason = f"no CRS in the file; detected: {detected.reason}"
    message = f"no CRS in the file; detected {_crs_label(detected.crs)}: {detected.reason}"
    if not detected.ambiguous_datum:
        message += " Fix: add `crs:` to this source to confirm it."
    report.warn(message, CRSWarning)
    return detected.crs, None


def _to_working(
    gdf: gpd.GeoDataFrame,
    src: SourceConfig,
    report: LoadReport,
    *,
    working_crs: pyproj.CRS,
    reference_lon: float | None,
) -> gpd.GeoDataFrame:
    if report.format == "DXF" and src.control_points is not None:
        return _register_cad(gdf, src, report, working_crs=working_crs)
    crs, offset = _resolve_crs(gdf, src, report, reference_lon=reference_lon)
    if offset is not None:
        convert = coords.gcj02_to_wgs84 if offset == "gcj02" else coords.bd09_to_wgs84
        gdf = _transform_coords(gdf, convert)
    if needs_datum_parameters(crs):
        if src.towgs84 is None:
            report.warn(
                f"{_crs_label(crs)} is on the Xian 1980 / Beijing 1954 datum and no `towgs84:` "
                "parameters were given: PROJ can only apply a zero 'ballpark' shift, so positions "
                "may be off by tens of metres. Fix: add `towgs84: [dx, dy, dz, rx, ry, rz, ds]` "
                "with the parameters your surveying bureau published.",
                CRSWarning,
            )
        else:
            crs = with_towgs84(crs, src.towgs84)
            report.note(f"datum shift with the given towgs84 parameters {list(src.towgs84)}")
    elif src.towgs84 is not None:
        crs = with_towgs84(crs, src.towgs84)
        report.note(f"datum shift with the given towgs84 parameters {list(src.towgs84)}")
    out = gdf.set_crs(crs, allow_override=True)
    if not out.crs.equals(working_crs):
        out = out.to_crs(working_crs)
    report.crs_used = _crs_label(crs)
    return out


def _register_cad(
    gdf: gpd.GeoDataFrame, src: SourceConfig, report: LoadReport, *, working_crs: pyproj.CRS
) -> gpd.GeoDataFrame:
    from fiveplans.helmert import RMS_WARN_M, fit_control_points, read_control_points

    assert src.control_points is not None
    ids, local_xy, target_xy = read_control_points(
        src.control_points, where=f"{src.where} control points {src.control_points}"
    )
    target_crs = src.crs.crs if src.crs is not None and src.crs.crs is not None else working_crs
    if src.crs is not None and src.crs.offset is not None:
        raise CRSError(
            f"{src.where}: control points cannot be in {src.crs.text}. Fix: give their x/y in a "
            "projected CRS and name it with `crs:`."
        )
    if not target_crs.is_projected:
        raise CRSError(
            f"{src.where}: the control points' CRS {_crs_label(target_crs)} is not projected; a "
            "Helmert fit needs metres. Fix: give x/y in a Gauss-Kruger CRS and name it with `crs:`."
        )
    fit = fit_control_points(
        local_xy, target_xy, kind="similarity", point_ids=ids, where=str(src.control_points)
    )
    report.control_points = fit.residual_table()
    report.control_rms_m = float(fit.rms)
    report.crs_declared = src.crs.text if src.crs is not None else ""
    report.crs_reason = (
        f"local CAD coordinates registered by a 4-parameter Helmert fit on {len(ids)} control points "
        f"(scale {fit.scale:.7f}, rotation {fit.rotation_deg:.4f}°, RMS {fit.rms:.3f} m) into {_crs_label(target_crs)}"
    )
    report.note(report.crs_reason)
    if fit.rms > RMS_WARN_M:
        worst = report.control_points.sort_values("residual_m", ascending=False).iloc[0]
        report.warn(
            f"control-point fit RMS {fit.rms:.2f} m exceeds {RMS_WARN_M} m (worst point "
            f"{worst['point_id']}: {worst['residual_m']:.2f} m). Fix: check that point's local and "
            "surveyed coordinates."
        )
    out = gdf.copy()
    out.geometry = gpd.GeoSeries(fit.transform_geometries(gdf.geometry.values), index=gdf.index)
    out = out.set_crs(target_crs, allow_override=True)
    if not target_crs.equals(working_crs):
        out = out.to_crs(working_crs)
    report.crs_used = f"CAD local grid → {_crs_label(target_crs)}"
    return out


def _check_in_china(gdf: gpd.GeoDataFrame, src: SourceConfig, working_crs: pyproj.CRS) -> None:
    if gdf.empty:
        return
    minx, miny, maxx, maxy = gdf.total_bounds
    t = pyproj.Transformer.from_crs(working_crs, "EPSG:4490", always_xy=True)
    lon, lat = t.transform([minx, maxx, minx, maxx], [miny, miny, maxy, maxy])
    lon, lat = np.asarray(lon), np.asarray(lat)
    if not (
        np.all(np.isfinite(lon))
        and lon.min() >= _CHINA_LON[0]
        and lon.max() <= _CHINA_LON[1]
        and lat.min() >= _CHINA_LAT[0]
        and lat.max() <= _CHINA_LAT[1]
    ):
        raise CRSError(
            f"{src.where}: after projection the layer spans lon {np.nanmin(lon):.3f}…{np.nanmax(lon):.3f}, "
            f"lat {np.nanmin(lat):.3f}…{np.nanmax(lat):.3f}, outside China. The CRS is wrong. "
            "Fix: set the right `crs:` for this source (zone-prefixed eastings, lon/lat order and "
            "GCJ-02 are the usual causes)."
        )


# ----------------------------------------------------------------------------------------------
# harmonise
# ----------------------------------------------------------------------------------------------


def harmonize(
    gdf: gpd.GeoDataFrame,
    src: SourceConfig,
    report: LoadReport,
    *,
    working_crs: pyproj.CRS,
    reference_lon: float | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> LoadedLayer:
    """Bring a raw source into the working CRS and the common legend, with QA.

    Parameters
    ----------
    gdf
        The raw frame from :func:`read_source` (not changed).
    src
        Its source configuration.
    report
        The report from :func:`read_source`; filled in further.
    working_crs
        The projected CRS of the pilot.
    reference_lon
        Longitude of the boundary centroid, used to pick a Gauss-Kruger zone for plain eastings.
    overrides
        Code-table overrides by code (the pilot's ``codes:`` for this scheme merged with the
        source's own ``codes:``).
    """
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    for option, name in (("field", src.field), ("id", src.id), ("industry", src.industry)):
        if name is not None and name not in columns:
            raise DataError(_field_missing(src, name, columns, option=option))
    kind = GEOMETRY_KINDS.get(src.key, "any")
    out, rows = qa.repair_geometries(gdf, kind=kind, where=src.where, id_column=src.id)
    out = _to_working(out, src, report, working_crs=working_crs, reference_lon=reference_lon)
    _check_in_china(out, src, working_crs)

    if src.id is not None:
        ids = out[src.id].astype(str)
        dup = ids.duplicated(keep=False)
        if dup.any():
            examples = ", ".join(sorted(set(ids[dup]))[:5])
            raise DataError(
                f"{src.where}: the id field '{src.id}' is not unique ({int(dup.sum())} rows share "
                f"values, e.g. {examples}). Fix: name a unique field with `id:` or remove `id:` "
                "to number the rows."
            )
        source_id = ids
    else:
        source_id = pd.Series([str(i + 1) for i in range(len(gdf))], index=gdf.index).loc[out.index]
    out = out.copy()
    out.insert(0, "source_id", source_id.to_numpy())

    if src.scheme is not None and src.field is not None:
        result = apply_legend(out[src.field], src.scheme, overrides=overrides, where=src.where)
        out["source_code"] = result.frame["source_code"].to_numpy()
        out["legend"] = result.frame["legend"].to_numpy()
        out["use"] = result.frame["use"].to_numpy()
        report.unknown_codes = result.unknown
        if len(result.unknown):
            n = int(result.unknown["count"].sum())
            examples = ", ".join(
                f"'{v}' ×{c}"
                for v, c in zip(result.unknown["value"], result.unknown["count"], strict=False)
            )
            report.warn(
                f"{n} features carry codes not in the {src.scheme} table ({examples}); they are "
                "kept with legend 'other'. Fix: correct the codes or map them under `codes:` in the pilot."
            )
            rows.append(qa.QARow("unknown_code 未知代码", n, detail=examples))
    else:
        # Not a land-use layer (roads, points, districts): every feature still carries the
        # legend columns (CONTRACT §3), as `other` without a use.
        out["source_code"] = out[src.field].astype(str).to_numpy() if src.field else None
        out["legend"] = "other"
        out["use"] = None

    if kind == "polygon" or src.key in ("infrastructure", "clusters"):
        poly = out.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
        if poly.any():
            dup = qa.duplicate_geometries(out.loc[poly])
            if dup:
                rows.append(dup)
            if src.key in _COVERAGE_KEYS:
                overlap = qa.coverage_overlaps(out.loc[poly])
                if overlap:
                    rows.append(overlap)
    report.qa = qa.qa_table(src.key, rows)
    for row in rows:
        if row.warn:
            area = f", {row.area_m2:,.0f} m²" if row.area_m2 else ""
            report.warnings.append(f"{src.where}: {row.check}: {row.count}{area} — {row.detail}")
    report.features_loaded = len(out)
    ordered = ["source_id", "source_code", "legend", "use"]
    rest = [c for c in out.columns if c not in ordered]
    out = out[ordered + rest]
    return LoadedLayer(
        frame=gpd.GeoDataFrame(out, geometry=out.geometry.name, crs=working_crs), report=report
    )


def load_layer(
    src: SourceConfig,
    *,
    working_crs: pyproj.CRS,
    reference_lon: float | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> LoadedLayer:
    """Read and harmonise one source (see :func:`read_source` and :func:`harmonize`)."""
    raw, report = read_source(src)
    return harmonize(
        raw, src, report, working_crs=working_crs, reference_lon=reference_lon, overrides=overrides
    )


def _boundary_lonlat(raw: gpd.GeoDataFrame, src: SourceConfig) -> tuple[float, float]:
    """The boundary's centre in lon/lat, to choose the Gauss-Kruger zone (zones are ~280 km wide
    in Henan, so the bounding-box centre is enough). Decisions and warnings are left to the
    boundary's own :func:`harmonize`."""
    fixed, _ = qa.repair_geometries(raw, kind="polygon", where=src.where)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FiveplansWarning)
        scratch = LoadReport(key=src.key, where=src.where)
        crs, offset = _resolve_crs(fixed, src, scratch, reference_lon=None)
    sample = fixed.set_crs(crs, allow_override=True)
    if offset is not None:
        convert = coords.gcj02_to_wgs84 if offset == "gcj02" else coords.bd09_to_wgs84
        sample = _transform_coords(sample, convert)
    minx, miny, maxx, maxy = sample.to_crs("EPSG:4490").total_bounds
    return float((minx + maxx) / 2), float((miny + maxy) / 2)


def load_layers(
    config: PilotConfig, *, verbose: bool = False
) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, LoadReport], pyproj.CRS]:
    """Load every source of a pilot into the working CRS and the common legend.

    The boundary is read first: its centroid chooses the default working CRS (the CGCS2000
    3-degree Gauss-Kruger zone) and the zone of plain eastings elsewhere. Any failure raises;
    nothing partial is returned.

    Returns
    -------
    layers
        Layer key → GeoDataFrame in the working CRS with ``source_id``, ``source_code``,
        ``legend``, ``use`` and every original attribute.
    reports
        Layer key → :class:`LoadReport`.
    working_crs
    """
    b_src = config.sources["boundary"]
    b_raw, b_report = read_source(b_src)  # read once: it places the working CRS and is a layer
    lon, lat = _boundary_lonlat(b_raw, b_src)
    if config.crs is not None and config.crs.crs is not None:
        working = config.crs.crs
    else:
        working = default_working_crs(lon, lat)
        log.info(
            "working CRS %s chosen from the boundary centroid (%.4f, %.4f)",
            _crs_label(working),
            lon,
            lat,
        )
    layers: dict[str, gpd.GeoDataFrame] = {}
    reports: dict[str, LoadReport] = {}
    order = ["boundary"] + [k for k in config.sources if k != "boundary"]
    steps: Any = order
    if verbose:
        from tqdm.auto import tqdm  # imported only when shown: in Jupyter it needs ipywidgets

        steps = tqdm(order, desc="loading layers 加载图层", unit="layer")
    for key in steps:
        src = config.sources[key]
        overrides: dict[str, Any] = {}
        if src.scheme is not None:
            overrides.update(config.codes.get(src.scheme) or {})
        overrides.update(src.codes)
        if key == "boundary":
            loaded = harmonize(b_raw, src, b_report, working_crs=working, reference_lon=lon)
        else:
            loaded = load_layer(
                src, working_crs=working, reference_lon=lon, overrides=overrides or None
            )
        layers[key] = loaded.frame
        reports[key] = loaded.report
    _diagnose_offsets(config, layers, reports)
    return layers, reports, working


def _diagnose_offsets(
    config: PilotConfig, layers: dict[str, gpd.GeoDataFrame], reports: dict[str, LoadReport]
) -> None:
    """Flag geographic layers that sit a GCJ-02-like 500–600 m off the boundary."""
    boundary = layers["boundary"]
    for key, frame in layers.items():
        src = config.sources[key]
        if key == "boundary" or (src.crs is not None and src.crs.offset is not None):
            continue
        report = reports[key]
        if "4490" not in report.crs_used and "4326" not in report.crs_used:
            continue
        if key not in PLAN_KEYS and key not in ("current", "districts"):
            continue
        as_ll = frame.to_crs("EPSG:4326")
        diag = diagnose_gcj02(as_ll, boundary)
        if diag.probably_gcj02:
            report.warn(
                f"probably GCJ-02 (Amap/Tencent offset): {diag.message} Fix: add `crs: gcj02` to this source.",
                CRSWarning,
            )
