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
from fiveplans.config import PilotConfig, SourceConfig
from fiveplans.crs import (
    CrsSpec,
    default_working_crs,
    detect_crs,
    diagnose_gcj02,
    needs_datum_parameters,
    with_towgs84,
)
from fiveplans.errors import ConfigError, CRSError, CRSWarning, DataError, FiveplansWarning
from fiveplans.io import (
    EncodingGuess,
    check_shapefile_complete,
    detect_encoding,
    detect_shapefile_encoding,
)
from fiveplans.layers import qa
from fiveplans.layers.legend import apply_legend
from fiveplans.schema import LEGEND_COLUMNS as LEGEND_COLUMNS
from fiveplans.schema import PLAN_KEYS

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
    "grades": "polygon",  # 耕地质量等别成果: joined onto the current land use by area share
    "boundary": "polygon",
}
_COVERAGE_KEYS = {"cluster", "land_use", "urban", "current", "districts"}
#: Per format, columns that number entities rather than describe them (not compared when
#: looking for exact duplicate records).
_BOOKKEEPING: dict[str, tuple[str, ...]] = {"DXF": ("handle", "entity")}
_CHINA_LON = (73.0, 136.0)
_CHINA_LAT = (3.0, 54.0)


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
    #: The CRS the source's coordinates were read in (``None`` for CAD local grids).
    source_crs: pyproj.CRS | None = field(default=None, repr=False)
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
            "crs_pilot": self.crs_declared,  # the pilot's `crs:` (试点 crs)
            "crs_file": self.crs_source,  # the CRS the file itself carries (文件坐标系)
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
            f"{path}: 无法作为 GIS 文件打开 — cannot be opened as a GIS file ({exc}). 解决 Fix: check "
            "that the file is "
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
                    f"{src.where}: 找不到图层 — layer '{name}' not found in {src.path.name}; it has "
                    f"{', '.join(available) or 'no layers'}.{hint} 解决 Fix: set `layer:` to one of them."
                )
        return list(src.layer)
    if len(available) == 1:
        return available
    raise DataError(
        f"{src.where}: 文件有多个图层 — {src.path.name} holds {len(available)} layers "
        f"({', '.join(available)}) and no `layer:` says which to load. 解决 Fix: add `layer: NAME` (or a list) to this source."
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
        report.encoding, report.encoding_reason = (
            src.encoding,
            "配置指定 declared in the pilot config",
        )
    else:
        report.encoding, report.encoding_reason = (
            "UTF-8",
            f"{report.format} 以 Unicode 存储文字 {report.format} stores text as Unicode",
        )
    layers = _choose_layers(src, _list_layers(src.path))
    frames = []
    for name in layers:
        try:
            frame = pyogrio.read_dataframe(src.path, layer=name, **kwargs)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{src.where}: 文字无法解码 — text in layer {name} cannot be decoded as "
                f"{kwargs.get('encoding', 'UTF-8')} ({exc.reason}). 解决 Fix: set `encoding:` "
                "(e.g. GBK or GB18030) for this source."
            ) from None
        except Exception as exc:
            raise DataError(
                f"{src.where}: 读取图层失败 — reading layer {name} failed: {exc}. 解决 Fix: open the "
                "file in QGIS "
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
            f"{src.where}: 各图层坐标系不同 — the layers {', '.join(layers)} have different CRSs ({'; '.join(sorted(crs_set))}). "
            "解决 Fix: load them as separate sources or re-project them to one CRS first."
        )
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


def _read_csv(src: SourceConfig, report: LoadReport) -> gpd.GeoDataFrame:
    assert src.path is not None and src.x is not None and src.y is not None
    raw = src.path.read_bytes()
    if src.encoding:
        guess = EncodingGuess(src.encoding, "配置指定 declared in the pilot config")
    else:
        guess = detect_encoding(raw[:200_000], where=src.where)
    report.encoding, report.encoding_reason = guess.encoding, guess.reason
    report.note(f"encoding {guess.encoding}: {guess.reason}")
    try:
        text = raw.decode(guess.encoding.lower().replace("utf-8-sig", "utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{src.where}: 无法按 {guess.encoding} 解码 — cannot decode as {guess.encoding} at byte "
            f"{exc.start}. 解决 Fix: set `encoding:` for this source (e.g. GBK, GB18030, UTF-8)."
        ) from None
    import io

    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise DataError(
            f"{src.where}: CSV 无法读取 — not a readable CSV ({exc}). 解决 Fix: check the "
            "delimiters and quotes."
        ) from None
    df.columns = [c.strip().lstrip("\ufeff") for c in df.columns]
    for col in (src.x, src.y):
        if col not in df.columns:
            raise ConfigError(_field_missing(src, col, list(df.columns), option="x/y"))
    xs = pd.to_numeric(df[src.x].str.strip(), errors="coerce")
    ys = pd.to_numeric(df[src.y].str.strip(), errors="coerce")
    bad = xs.isna() | ys.isna() | ~np.isfinite(xs) | ~np.isfinite(ys)
    if bad.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:5])
        report.warn(
            f"缺少坐标的行已删除 — {int(bad.sum())} rows have no usable coordinates in {src.x}/{src.y} and were dropped "
            f"(CSV lines {rows}). 解决 Fix: fill in the coordinates."
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
    report.encoding, report.encoding_reason = (
        "UTF-8",
        "ezdxf 按 $DWGCODEPAGE 解码 DXF text decoded by ezdxf ($DWGCODEPAGE)",
    )
    return gdf


def read_source(src: SourceConfig) -> tuple[gpd.GeoDataFrame, LoadReport]:
    """Read one source as delivered, with its original attributes decoded.

    Returns the raw frame (in the source's own coordinates, ``crs`` as found in the file or
    ``None``) and a :class:`LoadReport` that records the format and encoding decisions.
    """
    report = LoadReport(key=src.key, where=src.where, format=_format_of(src))
    if src.path is not None and not src.path.exists():
        raise ConfigError(
            f"{src.where}: 找不到文件 — file not found. 解决 Fix: check `path:` (relative to "
            "the pilot YAML's folder)."
        )
    fmt = report.format
    if fmt == "PostGIS":
        from fiveplans.layers.postgis import read_postgis

        assert src.url is not None
        gdf = read_postgis(src.url, src.layer[0])
        report.encoding, report.encoding_reason = (
            "UTF-8",
            "PostgreSQL 客户端编码 PostgreSQL client encoding",
        )
    elif fmt == "DXF":
        gdf = _read_dxf(src, report)
    elif fmt == "CSV":
        gdf = _read_csv(src, report)
    elif fmt == "OSM":
        from fiveplans.layers.osm import read_osm_roads

        assert src.path is not None
        gdf = read_osm_roads(src.path)
        report.encoding, report.encoding_reason = "UTF-8", "OSM 数据为 UTF-8 OSM data is UTF-8"
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
            f"{src.where}: 图层没有要素 — the layer has no features. 解决 Fix: check that the right "
            "file and `layer:` are named."
        )
    return gdf, report


# ----------------------------------------------------------------------------------------------
# CRS
# ----------------------------------------------------------------------------------------------


def _field_missing(
    src: SourceConfig,
    name: str,
    columns: list[str],
    *,
    option: str,
    frame: pd.DataFrame | None = None,
) -> str:
    """Message for a field the pilot names that the source does not have.

    For ``field:`` with a ``scheme:`` the suggestion is the field whose values the scheme
    recognises (``YDDM`` holding GB 50137 codes, never ``YDMC`` holding their names when a
    code field exists), checked on the values themselves; otherwise the closest name.
    """
    shown_columns = [c for c in columns if c != "geometry"]
    near = difflib.get_close_matches(name, shown_columns, n=1, cutoff=0.4)
    lower = {c.lower(): c for c in shown_columns}
    if name.lower() in lower:
        near = [lower[name.lower()]]
    hint = f" 最接近的是 The closest is '{near[0]}'." if near else ""
    if option == "field" and src.scheme is not None and frame is not None:
        from fiveplans.layers.legend import recognised_share

        similar = difflib.get_close_matches(name, shown_columns, n=len(shown_columns), cutoff=0)
        closeness = {c: len(similar) - i for i, c in enumerate(similar)}
        ranked = []
        for column in shown_columns:
            values = frame[column]
            if values.dtype.kind not in "OUSiu":
                continue
            share = recognised_share(values.head(20000), src.scheme)
            if share >= 0.5:
                # code fields first (values look like codes), then names; then closeness
                codes = values.dropna().astype(str).head(200)
                code_like = float(codes.str.fullmatch(r"[0-9A-Za-z]{1,10}").mean() or 0)
                ranked.append((code_like >= 0.8, share, closeness.get(column, 0), column))
        ranked.sort(reverse=True)
        if ranked:
            _, share, _, best = ranked[0]
            hint = (
                f" 字段 '{best}' 的值是 {src.scheme} 代码 — the values of '{best}' are "
                f"{src.scheme} codes ({share:.0%} recognised)."
            )
            return (
                f"{src.where}: 找不到字段 '{name}' — field '{name}' not found; the source has "
                f"{', '.join(shown_columns)}.{hint} 解决 Fix: set `{option}: {best}`."
            )
    return (
        f"{src.where}: 找不到字段 '{name}' — field '{name}' not found; the source has "
        f"{', '.join(shown_columns)}.{hint} 解决 Fix: set "
        f"{'`x:`/`y:`' if option == 'x/y' else f'`{option}:`'} to one of these "
        "(`fiveplans inspect FILE` shows each field's values)."
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
            report.crs_reason = (
                f"配置指定 pilot `crs: {spec.text}`: {spec.offset.upper()} 经纬度反算纠偏至 CGCS2000 — "
                f"{spec.offset.upper()} lon/lat converted to CGCS2000 (EPSG:4490) by iterated inverse"
            )
            return pyproj.CRS.from_epsg(4490), spec.offset
        assert spec.crs is not None
        if not _plausible(spec.crs, x, y):
            raise CRSError(
                f"{src.where}: 试点 crs 与坐标不符 — the pilot `crs: {spec.text}` does not fit the "
                "coordinates "
                f"(e.g. x={x[0]:.3f}, y={y[0]:.3f} fall outside its area of use). "
                f"解决 Fix: correct `crs:`; {detect_crs(x, y, reference_lon=reference_lon).reason}"
            )
        if gdf.crs is not None and not gdf.crs.equals(spec.crs):
            report.note(
                f"the file CRS is {_crs_label(gdf.crs)}; the pilot `crs: {spec.text}` was used"
            )
        report.crs_reason = f"配置指定 pilot `crs: {spec.text}`"
        return spec.crs, None
    if gdf.crs is not None:
        if _plausible(gdf.crs, x, y):
            report.crs_reason = "取自文件 taken from the file"
            return gdf.crs, None
        detected = detect_crs(x, y, reference_lon=reference_lon)
        if detected.crs is None:
            raise CRSError(
                f"{src.where}: 文件坐标系与坐标不符 — the file CRS {_crs_label(gdf.crs)} does not fit "
                "its coordinates "
                f"(e.g. x={x[0]:.3f}, y={y[0]:.3f}) and nothing else fits: {detected.reason} "
                "解决 Fix: add the right `crs:` to this source."
            )
        report.warn(
            f"文件坐标系与坐标不符，已改用检测结果 — the file CRS {_crs_label(gdf.crs)} does not "
            "fit its coordinates; used "
            f"{_crs_label(detected.crs)} instead ({detected.reason}). 解决 Fix: add `crs:` to confirm.",
            CRSWarning,
        )
        report.crs_reason = (
            f"文件坐标系与坐标不符，按坐标检测 file CRS rejected; detected: {detected.reason}"
        )
        return detected.crs, None
    detected = detect_crs(x, y, reference_lon=reference_lon)
    if detected.crs is None:
        raise CRSError(
            f"{src.where}: 文件没有坐标系且无法检测 — no CRS in the file (no .prj) and none could "
            "be detected: "
            f"{detected.reason} 解决 Fix: add `crs:` to this source (e.g. `crs: EPSG:4547`)."
        )
    report.crs_reason = f"文件无坐标系，按坐标检测 no CRS in the file; detected: {detected.reason}"
    message = (
        f"文件没有坐标系，按坐标检测 — no CRS in the file; detected "
        f"{_crs_label(detected.crs)}: {detected.reason}"
    )
    if not detected.ambiguous_datum:
        message += " 解决 Fix: add `crs:` to this source to confirm it."
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
                f"缺少 towgs84 参数，位置可能偏差数十米 — {_crs_label(crs)} is on the Xian 1980 / "
                "Beijing 1954 datum and no `towgs84:` "
                "parameters were given: PROJ can only apply a zero 'ballpark' shift, so positions "
                "may be off by tens of metres. 解决 Fix: add `towgs84: [dx, dy, dz, rx, ry, rz, ds]` "
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
    report.source_crs = crs
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
            f"{src.where}: 控制点不能用网络地图坐标 — control points cannot be in {src.crs.text}. "
            "解决 Fix: give their x/y in a "
            "projected CRS and name it with `crs:`."
        )
    if not target_crs.is_projected:
        raise CRSError(
            f"{src.where}: 控制点坐标系不是投影坐标 — the control points' CRS "
            f"{_crs_label(target_crs)} is not projected; a Helmert fit needs metres. 解决 Fix: give x/y in a Gauss-Kruger CRS and name it with `crs:`."
        )
    fit = fit_control_points(
        local_xy, target_xy, kind="similarity", point_ids=ids, where=str(src.control_points)
    )
    report.control_points = fit.residual_table()
    report.control_rms_m = float(fit.rms)
    report.crs_declared = src.crs.text if src.crs is not None else ""
    report.crs_reason = (
        f"CAD 局部坐标经四参数 Helmert 配准 — local CAD coordinates registered by a 4-parameter Helmert fit on {len(ids)} control points "
        f"(scale {fit.scale:.7f}, rotation {fit.rotation_deg:.4f}°, RMS {fit.rms:.3f} m) into {_crs_label(target_crs)}"
    )
    report.note(report.crs_reason)
    if fit.rms > RMS_WARN_M:
        worst = report.control_points.sort_values("residual_m", ascending=False).iloc[0]
        report.warn(
            f"控制点配准误差过大 — control-point fit RMS {fit.rms:.2f} m exceeds {RMS_WARN_M} m (worst point "
            f"{worst['point_id']}: {worst['residual_m']:.2f} m). 解决 Fix: check that point's local and "
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
            f"{src.where}: 坐标系有误，图层不在中国境内 — after projection the layer spans lon {np.nanmin(lon):.3f}…{np.nanmax(lon):.3f}, "
            f"lat {np.nanmin(lat):.3f}…{np.nanmax(lat):.3f}, outside China. The CRS is wrong. "
            "解决 Fix: set the right `crs:` for this source (zone-prefixed eastings, lon/lat order and "
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
    named = (("field", src.field), ("id", src.id), ("industry", src.industry))
    grade = getattr(src, "grade_field", None)  # named → required (the default GDDB is optional)
    for option, name in (*named, ("grade_field", grade)):
        if name is not None and name not in columns:
            raise ConfigError(_field_missing(src, name, columns, option=option, frame=gdf))
    kind = GEOMETRY_KINDS.get(src.key, "any")
    out, rows = qa.repair_geometries(gdf, kind=kind, where=src.where, id_column=src.id)
    out = _to_working(out, src, report, working_crs=working_crs, reference_lon=reference_lon)
    _check_in_china(out, src, working_crs)

    # Exact repeats (every attribute and the geometry) are dropped and counted; only then may
    # an id shared by records that differ stop the load.
    bookkeeping = _BOOKKEEPING.get(report.format, ())
    cad_repeats = gdf.attrs.get("duplicates_dropped") or []
    out.attrs.pop("duplicates_dropped", None)
    if cad_repeats:
        rows.append(
            qa.QARow(
                "duplicate_record 重复记录",
                len(cad_repeats),
                detail=f"重复图形已删除 — {len(cad_repeats)} CAD outlines repeat another on the "
                f"same layer and were dropped: {', '.join(cad_repeats[:10])}"
                + (f" … (+{len(cad_repeats) - 10})" if len(cad_repeats) > 10 else ""),
            )
        )
    row_numbers = gdf.index.get_indexer(out.index) + 1
    out, repeats = qa.drop_exact_duplicates(
        out, id_column=src.id, ignore=bookkeeping, row_numbers=row_numbers
    )
    if repeats is not None:
        rows.append(repeats)
        row_numbers = gdf.index.get_indexer(out.index) + 1
    if src.id is not None:
        ids = out[src.id].astype(str)
        shared = qa.shared_ids(out, src.id, ignore=bookkeeping, row_numbers=row_numbers)
        if shared:
            n = int(ids.duplicated(keep=False).sum())
            raise DataError(
                f"{src.where}: 编号不唯一 — the id field '{src.id}' is not unique: it is shared "
                f"by records that differ ({n} records): {'; '.join(shared)}. Fix: correct the ids "
                "in the source, name a unique field with `id:`, or remove `id:` to number the rows."
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
                f"未知代码 — {n} features carry codes not in the {src.scheme} table ({examples}); they "
                "are kept with legend 'other'. 解决 Fix: correct the codes or map them under `codes:` in the pilot."
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
        if report.source_crs is None or not report.source_crs.is_geographic:
            continue  # a GCJ-02 offset hides only in longitude/latitude sources
        if key not in PLAN_KEYS and key not in ("current", "districts"):
            continue
        as_ll = frame.to_crs("EPSG:4326")
        diag = diagnose_gcj02(as_ll, boundary)
        if diag.probably_gcj02:
            report.warn(
                f"可能是 GCJ-02 坐标（高德/腾讯偏移）— probably GCJ-02 (Amap/Tencent offset): "
                f"{diag.message} 解决 Fix: add `crs: gcj02` to this source.",
                CRSWarning,
            )
