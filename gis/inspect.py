"""``fiveplans inspect``: what is in a delivered file, before it goes into a pilot.

Format, layers, feature counts, the CRS the file declares and the one its coordinates suggest,
the text encoding, and geometry problems — the questions a planner asks of every delivery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely

from fiveplans.errors import FiveplansError

__all__ = ["InspectReport", "LayerInfo", "inspect_path"]

log = logging.getLogger(__name__)


@dataclass
class LayerInfo:
    """What one layer holds."""

    name: str
    features: int
    geometry_type: str = ""
    crs_declared: str = ""
    crs_detected: str = ""
    bounds: tuple[float, float, float, float] | None = None
    fields: list[str] = field(default_factory=list)
    problems: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class InspectReport:
    """The result of :func:`inspect_path`."""

    path: Path
    format: str
    readable: bool
    encoding: str = ""
    encoding_reason: str = ""
    layers: list[LayerInfo] = field(default_factory=list)
    error: str = ""

    def to_text(self) -> str:
        """A plain-text report, Chinese labels first."""
        lines = [f"文件 file: {self.path}", f"格式 format: {self.format}"]
        if not self.readable:
            lines.append(f"无法读取 not readable: {self.error}")
            return "\n".join(lines)
        if self.encoding:
            lines.append(f"编码 encoding: {self.encoding} ({self.encoding_reason})")
        lines.append(f"图层 layers: {len(self.layers)}")
        for info in self.layers:
            lines.append(f"- {info.name}: {info.features} features 要素, {info.geometry_type}")
            lines.append(f"    声明坐标系 declared CRS: {info.crs_declared or '(none 无)'}")
            if info.crs_detected:
                lines.append(f"    检测坐标系 detected CRS: {info.crs_detected}")
            if info.bounds is not None:
                b = info.bounds
                lines.append(f"    范围 bounds: {b[0]:.3f}, {b[1]:.3f} … {b[2]:.3f}, {b[3]:.3f}")
            if info.fields:
                shown = ", ".join(info.fields[:30]) + (" …" if len(info.fields) > 30 else "")
                lines.append(f"    字段 fields: {shown}")
            if info.problems:
                probs = ", ".join(f"{k} {v}" for k, v in info.problems.items())
                lines.append(f"    几何问题 geometry problems: {probs}")
            else:
                lines.append("    几何问题 geometry problems: none 无")
            for note in info.notes:
                lines.append(f"    注 note: {note}")
        return "\n".join(lines)


def _geometry_problems(geoms: np.ndarray) -> dict[str, int]:
    problems: dict[str, int] = {}
    missing = shapely.is_missing(geoms)
    empty = ~missing & shapely.is_empty(geoms)
    ok = ~missing & ~empty
    checks = {
        "null 空": int(missing.sum()),
        "empty 空几何": int(empty.sum()),
        "invalid 无效": int((~shapely.is_valid(geoms[ok])).sum()) if ok.any() else 0,
        "z_values 含Z值": int(shapely.has_z(geoms[ok]).sum()) if ok.any() else 0,
    }
    types = {shapely.get_type_id(g) for g in geoms[ok][:100000]} if ok.any() else set()
    polygonal = {3, 6}
    if types and not (types <= polygonal or types <= {1, 5} or types <= {0, 4}):
        checks["mixed_types 混合几何类型"] = len(types)
    for k, v in checks.items():
        if v:
            problems[k] = v
    return problems


def _detected(xy: np.ndarray) -> str:
    from fiveplans.crs import detect_crs

    if not len(xy):
        return ""
    det = detect_crs(xy[:, 0], xy[:, 1])
    if det.crs is None:
        return f"(undetermined) {det.reason}"
    epsg = det.crs.to_epsg()
    return (
        f"EPSG:{epsg} {det.crs.name} — {det.reason}" if epsg else f"{det.crs.name} — {det.reason}"
    )


def _where_declared_puts_it(crs: object, xy: np.ndarray) -> str:
    import pyproj

    try:
        t = pyproj.Transformer.from_crs(crs, "EPSG:4490", always_xy=True)
        lon, lat = t.transform(float(np.median(xy[:, 0])), float(np.median(xy[:, 1])))
    except pyproj.exceptions.ProjError:
        lon = lat = float("nan")
    if not (np.isfinite(lon) and np.isfinite(lat)) or not (73 <= lon <= 136 and 3 <= lat <= 54):
        return "the declared CRS puts the data outside China: it is probably wrong 声明坐标系有误"
    return f"the declared CRS puts the data at {lon:.4f}°E {lat:.4f}°N 声明坐标系定位"


def _inspect_gdal(path: Path, report: InspectReport) -> None:
    import pyogrio

    from fiveplans.io import detect_shapefile_encoding

    layers = pyogrio.list_layers(path)
    encoding = None
    if path.suffix.lower() == ".shp":
        guess = detect_shapefile_encoding(path)
        encoding = guess.encoding
        report.encoding, report.encoding_reason = guess.encoding, guess.reason
    for name, gtype in layers:
        info_raw = pyogrio.read_info(path, layer=name, encoding=encoding)
        frame = pyogrio.read_dataframe(path, layer=name, encoding=encoding)
        geoms = (
            np.asarray(frame.geometry.values, dtype=object)
            if "geometry" in frame
            else np.array([], dtype=object)
        )
        info = LayerInfo(
            name=str(name),
            features=len(frame),
            geometry_type=str(gtype or info_raw.get("geometry_type") or "None"),
            crs_declared=str(info_raw.get("crs") or ""),
            fields=[str(f) for f in info_raw.get("fields", [])],
        )
        if len(geoms):
            xy = shapely.get_coordinates(geoms[:5000])
            if len(xy):
                info.bounds = tuple(float(v) for v in frame.total_bounds)  # type: ignore[assignment]
                info.crs_detected = _detected(xy)
                if frame.crs is not None:
                    info.notes.append(_where_declared_puts_it(frame.crs, xy))
            info.problems = _geometry_problems(geoms)
        if path.suffix.lower() == ".shp":
            for ext in (".prj", ".cpg"):
                if not path.with_suffix(ext).exists():
                    info.notes.append(f"no {ext} file 缺少{ext}")
        report.layers.append(info)


def _inspect_csv(path: Path, report: InspectReport) -> None:
    import io

    import pandas as pd

    from fiveplans.io import detect_encoding

    raw = path.read_bytes()
    guess = detect_encoding(raw[:200_000], where=str(path))
    report.encoding, report.encoding_reason = guess.encoding, guess.reason
    df = pd.read_csv(
        io.StringIO(raw.decode(guess.encoding.lower())), dtype=str, keep_default_na=False
    )
    info = LayerInfo(
        name=path.stem, features=len(df), geometry_type="(table)", fields=list(df.columns)
    )
    names = {c.lower(): c for c in df.columns}
    xcol = next((names[c] for c in ("lon", "lng", "longitude", "x", "经度") if c in names), None)
    ycol = next((names[c] for c in ("lat", "latitude", "y", "纬度") if c in names), None)
    if xcol and ycol:
        x = pd.to_numeric(df[xcol], errors="coerce").to_numpy()
        y = pd.to_numeric(df[ycol], errors="coerce").to_numpy()
        ok = np.isfinite(x) & np.isfinite(y)
        info.geometry_type = f"Point (columns {xcol}/{ycol})"
        if ok.any():
            info.bounds = (
                float(x[ok].min()),
                float(y[ok].min()),
                float(x[ok].max()),
                float(y[ok].max()),
            )
            info.crs_detected = _detected(np.column_stack([x[ok], y[ok]]))
            info.notes.append(
                "lon/lat points may also be GCJ-02 or BD-09 (web-map exports): say so with `crs:`"
            )
        if (~ok).any():
            info.problems["no_coordinates 无坐标"] = int((~ok).sum())
    else:
        info.notes.append("no lon/lat or x/y columns recognised: name them with `x:` and `y:`")
    report.layers.append(info)


def _inspect_dxf(path: Path, report: InspectReport) -> None:
    import ezdxf

    try:
        doc = ezdxf.readfile(path)
    except (OSError, ezdxf.DXFStructureError) as exc:
        raise FiveplansError(f"not a readable DXF: {exc}") from None
    if doc.dxfversion >= "AC1021":  # R2007 and later store text as UTF-8
        report.encoding, report.encoding_reason = "UTF-8", f"DXF {doc.dxfversion} (R2007+) is UTF-8"
    else:
        report.encoding, report.encoding_reason = (
            doc.encoding,
            f"DXF {doc.dxfversion}, $DWGCODEPAGE",
        )
    counts: dict[str, dict[str, int]] = {}
    open_lines: dict[str, int] = {}
    for e in doc.modelspace():
        layer = e.dxf.get("layer", "0")
        counts.setdefault(layer, {})
        counts[layer][e.dxftype()] = counts[layer].get(e.dxftype(), 0) + 1
        if e.dxftype() in ("LWPOLYLINE", "POLYLINE") and not e.is_closed:
            open_lines[layer] = open_lines.get(layer, 0) + 1
    for layer, kinds in sorted(counts.items()):
        info = LayerInfo(
            name=layer,
            features=sum(kinds.values()),
            geometry_type=", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
            crs_declared="(CAD: none; local coordinates need control_points)",
        )
        if layer in open_lines:
            info.problems["open_polylines 未闭合多段线"] = open_lines[layer]
        report.layers.append(info)


def _inspect_raster(path: Path, report: InspectReport) -> None:
    import rasterio

    with rasterio.open(path) as ds:
        report.layers.append(
            LayerInfo(
                name=path.name,
                features=ds.count,
                geometry_type=f"raster {ds.width}×{ds.height}, {ds.dtypes[0]}, {ds.count} band(s)",
                crs_declared=ds.crs.to_string() if ds.crs else "",
                bounds=tuple(ds.bounds),  # type: ignore[arg-type]
            )
        )


def _inspect_osm(path: Path, report: InspectReport) -> None:
    from fiveplans.layers.osm import read_osm_roads

    roads = read_osm_roads(path)
    info = LayerInfo(
        name="roads (drivable highways)",
        features=len(roads),
        geometry_type="LineString",
        crs_declared="EPSG:4326 (OSM)",
        fields=[c for c in roads.columns if c != "geometry"],
    )
    if len(roads):
        info.bounds = tuple(float(v) for v in roads.total_bounds)  # type: ignore[assignment]
        info.notes.append(
            "highway classes: "
            + ", ".join(f"{k} {v}" for k, v in roads["highway"].value_counts().items())
        )
    report.encoding, report.encoding_reason = "UTF-8", "OSM data is UTF-8"
    report.layers.append(info)


def inspect_path(path: str | Path) -> InspectReport:
    """Describe a delivered file; never raises for a broken file (``readable`` is False)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".csv"):
        fmt, func = "CSV", _inspect_csv
    elif name.endswith(".dxf"):
        fmt, func = "DXF (CAD)", _inspect_dxf
    elif name.endswith((".tif", ".tiff")):
        fmt, func = "GeoTIFF", _inspect_raster
    elif name.endswith((".osm", ".pbf")):
        fmt, func = "OpenStreetMap", _inspect_osm
    else:
        fmt = {
            ".shp": "Shapefile",
            ".gpkg": "GeoPackage",
            ".geojson": "GeoJSON",
            ".json": "GeoJSON",
            ".gdb": "FileGDB",
        }.get(path.suffix.lower(), "GDAL vector")
        func = _inspect_gdal
    report = InspectReport(path=path, format=fmt, readable=True)
    try:
        func(path, report)
    except FiveplansError as exc:
        report.readable, report.error = False, str(exc)
    except Exception as exc:  # any library failure means: not readable; say why
        log.debug("inspect failed", exc_info=True)
        report.readable, report.error = False, f"{type(exc).__name__}: {exc}"
    return report
