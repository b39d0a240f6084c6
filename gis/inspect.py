"""``fiveplans inspect``: what is in a delivered file, and the pilot entry that reads it.

Per layer: format, feature count, the **file CRS** (the CRS the file itself carries: ``.prj``,
GeoPackage/FileGDB metadata) and the **detected CRS** (what the coordinates alone suggest), and
whether they agree; the extent in lon/lat; the text encoding; geometry problems; for every text
field its most frequent values and the code scheme that recognises them best. From these it
suggests ``field:``, ``scheme:`` and ``crs:`` and, with ``--yaml``, prints a source entry to
paste into a pilot. "Pilot ``crs:``" always means the ``crs:`` written in the pilot YAML.

Like the command line it serves, this module reaches across to :mod:`fiveplans.layers` (code
tables, CAD and OSM readers), always lazily.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from fiveplans.errors import FiveplansError

__all__ = ["FieldInfo", "InspectReport", "LayerInfo", "inspect_path"]

log = logging.getLogger(__name__)

#: Values shown per field.
TOP_VALUES = 10
#: Features read per layer to describe fields (all features are counted).
MAX_ROWS = 200_000
#: A field is suggested as ``field:`` when a scheme recognises at least this share of it.
MIN_SHARE = 0.5
#: Schemes whose codes sit in land-use master plans (the ``land_use`` key) and so on.
_KEY_OF_SCHEME = {
    "tdytq": "land_use",
    "gzq": "land_use",
    "gbt21010": "current",
    "ecology": "ecology",
    "infrastructure": "infrastructure",
    "gb50137": "cluster",
    "ydyh2023": "cluster",
    "ydyh2020": "cluster",
}


@dataclass
class FieldInfo:
    """One attribute field: its values and the code scheme that fits them."""

    name: str
    dtype: str
    distinct: int
    top: list[tuple[str, int]]
    scheme: str | None = None
    share: float = 0.0
    code_like: bool = False

    def line(self) -> str:
        values = ", ".join(f"{v} ×{n}" for v, n in self.top)
        more = f" … ({self.distinct} distinct 种)" if self.distinct > len(self.top) else ""
        fit = (
            f" → 代码表 scheme {self.scheme} {self.share:.0%}"
            if self.scheme
            else " → 无匹配代码表 no scheme"
        )
        return f"{self.name} [{self.dtype}]: {values}{more}{fit}"


@dataclass
class LayerInfo:
    """What one layer holds, and the pilot entry suggested for it."""

    name: str
    features: int
    geometry_type: str = ""
    crs_file: str = ""
    crs_detected: str = ""
    crs_agree: bool | None = None
    crs_note: str = ""
    bounds: tuple[float, float, float, float] | None = None
    lonlat: tuple[float, float, float, float] | None = None
    fields: list[str] = field(default_factory=list)
    field_info: list[FieldInfo] = field(default_factory=list)
    problems: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    used: str = ""
    ignored: str = ""
    entry: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    why: str = ""

    @property
    def suggested_field(self) -> str | None:
        """The suggested ``field:``."""
        return self.entry.get("field")

    @property
    def suggested_scheme(self) -> str | None:
        """The suggested ``scheme:``."""
        return self.entry.get("scheme")


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
    shown_path: str = ""

    def to_text(self) -> str:
        """A plain-text report, Chinese labels first."""
        lines = [f"文件 file: {self.path}", f"格式 format: {self.format}"]
        if not self.readable:
            lines.append(f"无法读取 not readable: {self.error}")
            return "\n".join(lines)
        if self.encoding:
            lines.append(f"编码 encoding: {self.encoding} ({self.encoding_reason})")
        lines.append(f"图层 layers: {len(self.layers)}")
        if self.format.startswith("DXF"):
            return "\n".join(lines + self._dxf_lines())
        for info in self.layers:
            lines.append(f"- {info.name}: {info.features} features 要素, {info.geometry_type}")
            lines.append(f"    文件坐标系 file CRS: {info.crs_file or '(none 无)'}")
            if info.crs_detected:
                lines.append(f"    检测坐标系 detected CRS: {info.crs_detected}")
            if info.crs_note:
                lines.append(f"    坐标系判断 CRS check: {info.crs_note}")
            if info.lonlat is not None:
                b = info.lonlat
                lines.append(
                    f"    经纬度范围 extent (lon/lat): {b[0]:.4f}–{b[2]:.4f}°E, {b[1]:.4f}–{b[3]:.4f}°N"
                )
            elif info.bounds is not None:
                b = info.bounds
                lines.append(
                    f"    范围 extent (file units): {b[0]:.3f}, {b[1]:.3f} … {b[2]:.3f}, {b[3]:.3f}"
                )
            if info.field_info:
                lines.append("    字段取值 field values (top 10 前十):")
                lines.extend(f"      {f.line()}" for f in info.field_info)
            elif info.fields:
                lines.append(f"    字段 fields: {', '.join(info.fields)}")
            if info.problems:
                probs = ", ".join(f"{k} {v}" for k, v in info.problems.items())
                lines.append(f"    几何问题 geometry problems: {probs}")
            else:
                lines.append("    几何问题 geometry problems: none 无")
            for note in info.notes:
                lines.append(f"    注 note: {note}")
            lines.append(f"    建议 suggested: {_flow(info.entry, self.shown_path)}  # {info.why}")
        lines.append(
            "(`fiveplans inspect --yaml` 打印可粘贴的配置 prints entries to paste into a pilot)"
        )
        return "\n".join(lines)

    def _dxf_lines(self) -> list[str]:
        lines = []
        first = self.layers[0] if self.layers else None
        if first is not None:
            lines.append(f"文件坐标系 file CRS: {first.crs_file}")
            lines.append(f"检测坐标系 detected CRS: {first.crs_detected}")
            if first.lonlat is not None:
                b = first.lonlat
                lines.append(
                    f"经纬度范围 extent (lon/lat): {b[0]:.4f}–{b[2]:.4f}°E, {b[1]:.4f}–{b[3]:.4f}°N"
                )
            elif first.bounds is not None:
                b = first.bounds
                lines.append(
                    f"范围 extent (drawing units): {b[0]:.1f}, {b[1]:.1f} … {b[2]:.1f}, {b[3]:.1f}"
                )
        lines.append("CAD 图层 layers (实体 entities | 读取 used | 忽略 ignored):")
        for info in self.layers:
            scheme = f" → {info.crs_note}" if info.crs_note else ""
            lines.append(
                f"- {info.name}: {info.geometry_type} | 读取 used: {info.used or '—'} | "
                f"忽略 ignored: {info.ignored or '—'}{scheme}"
            )
        if first is not None:
            for note in first.notes:
                lines.append(f"注 note: {note}")
            lines.append(f"建议 suggested: {_flow(first.entry, self.shown_path)}  # {first.why}")
        return lines

    def to_yaml(self) -> str:
        """Source entries to paste into a pilot YAML, one per layer (a CAD drawing: one)."""
        out = [
            f"# fiveplans inspect {self.shown_path or self.path}",
            "# 粘贴到试点配置 paste under `plans:` (or at the top level for current, roads, …);",
            "# 路径相对于试点配置所在文件夹 paths are relative to the pilot YAML's folder.",
        ]
        if not self.readable:
            out.append(f"# 无法读取 not readable: {self.error}")
            return "\n".join(out)
        layers = self.layers[:1] if self.format.startswith("DXF") else self.layers
        for info in layers:
            if self.format.startswith("DXF"):
                n = sum(i.features for i in self.layers)
                out.append(f"# {len(self.layers)} CAD layers 图层, {n} entities 实体 — {info.why}")
            else:
                out.append(f"# {info.name}: {info.features} features 要素 — {info.why}")
            out.append(f"{info.key}: {_flow(info.entry, self.shown_path)}")
        same = {(i.entry.get("field"), i.entry.get("scheme"), i.entry.get("crs")) for i in layers}
        if len(layers) > 1 and len(same) == 1 and layers[0].entry.get("scheme"):
            merged = dict(layers[0].entry)
            merged["layer"] = [i.name for i in layers]
            out.append("# 所有图层合为一个数据源 or all layers as one source:")
            out.append(f"{layers[0].key}: {_flow(merged, self.shown_path)}")
        return "\n".join(out)


def _scalar(value: Any) -> str:
    import yaml

    text = yaml.safe_dump(value, allow_unicode=True, default_flow_style=True, width=1000)
    text = text.strip()
    return text[:-4].strip() if text.endswith("\n...") or text.endswith("...") else text


def _flow(entry: dict[str, Any], path: str) -> str:
    items = {"path": path, **entry}
    parts = []
    for key, value in items.items():
        if value is None:
            continue
        if isinstance(value, list):
            parts.append(f"{key}: [{', '.join(_scalar(v) for v in value)}]")
        else:
            parts.append(f"{key}: {_scalar(value)}")
    return "{" + ", ".join(parts) + "}"


# ------------------------------------------------------------------------------ geometry, CRS


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


def _label(crs: Any) -> str:
    epsg = crs.to_epsg(min_confidence=70)
    return f"EPSG:{epsg} ({crs.name})" if epsg else str(crs.name)


def _epsg_text(crs: Any) -> str | None:
    epsg = crs.to_epsg(min_confidence=70)
    return f"EPSG:{epsg}" if epsg else None


def _lonlat_of(crs: Any, bounds: tuple[float, float, float, float]) -> tuple[float, ...] | None:
    import pyproj

    try:
        t = pyproj.Transformer.from_crs(crs, "EPSG:4490", always_xy=True)
        xs = np.array([bounds[0], bounds[2], bounds[0], bounds[2]])
        ys = np.array([bounds[1], bounds[1], bounds[3], bounds[3]])
        lon, lat = t.transform(xs, ys)
    except pyproj.exceptions.ProjError:
        return None
    lon, lat = np.asarray(lon), np.asarray(lat)
    if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
        return None
    return (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))


def _in_china(ll: tuple[float, ...] | None) -> bool:
    return ll is not None and ll[0] >= 73 and ll[2] <= 136 and ll[1] >= 3 and ll[3] <= 54


def _check_crs(info: LayerInfo, file_crs: Any, xy: np.ndarray) -> Any:
    """Fill the CRS lines of ``info``; return the CRS to use for the lon/lat extent."""
    from fiveplans.crs import detect_crs

    bounds = info.bounds
    placed = _lonlat_of(file_crs, bounds) if file_crs is not None and bounds else None
    file_ok = _in_china(placed)
    reference = (placed[0] + placed[2]) / 2 if file_ok and placed else None
    det = detect_crs(xy[:, 0], xy[:, 1], reference_lon=reference) if len(xy) else None
    if det is None:
        info.crs_detected = "(no coordinates 无坐标)"
        return file_crs if file_ok else None
    if det.crs is None:
        info.crs_detected = f"(无法判定 undetermined) {det.reason}"
    else:
        info.crs_detected = f"{_label(det.crs)} — {det.reason}"
    if file_crs is None:
        info.crs_agree = None
        if det.crs is not None:
            info.crs_note = (
                "文件没有坐标系，按坐标检测 the file carries no CRS; the coordinates suggest "
                f"{_label(det.crs)}: confirm it with `crs:` in the pilot"
            )
            return det.crs
        info.crs_note = "文件没有坐标系且无法检测 no file CRS and none detected: set `crs:`"
        return None
    if not file_ok:
        info.crs_agree = False
        info.crs_note = (
            f"不一致 DISAGREE: the file CRS {_label(file_crs)} puts the data outside China — "
            "the file CRS is wrong, or the data are not of a Chinese zone"
            + (f"; the coordinates suggest {_label(det.crs)}" if det.crs is not None else "")
            + ". Fix: set `crs:` in the pilot"
        )
        return det.crs if det.crs is not None else (file_crs if placed else None)
    if det.crs is None:
        info.crs_agree = None
        info.crs_note = (
            f"文件坐标系定位于 the file CRS places the data at {placed[0]:.4f}–{placed[2]:.4f}°E, "
            f"{placed[1]:.4f}–{placed[3]:.4f}°N (in China 在中国境内); the coordinates alone "
            "cannot confirm it"
        )
        return file_crs
    same = det.crs.equals(file_crs) or _same_grid(det.crs, file_crs, bounds)
    info.crs_agree = bool(same)
    if same:
        info.crs_note = "一致 agree: the file CRS fits the coordinates"
    else:
        info.crs_note = (
            f"不一致 DISAGREE: the file says {_label(file_crs)}, the coordinates suggest "
            f"{_label(det.crs)}; the loader takes the file CRS while it places the data in "
            "China — check which is right and set `crs:` in the pilot"
        )
    return file_crs


def _same_grid(a: Any, b: Any, bounds: tuple[float, float, float, float] | None) -> bool:
    """Two CRSs that put the same coordinates within a metre of each other (3° and 6° zones
    sharing a meridian, or the same grid on datums that differ by less than a metre)."""
    if bounds is None:
        return False
    la, lb = _lonlat_of(a, bounds), _lonlat_of(b, bounds)
    if la is None or lb is None:
        return False
    return bool(np.allclose(la, lb, atol=1e-5))


# ------------------------------------------------------------------------------ fields


def _field_infos(frame: pd.DataFrame) -> list[FieldInfo]:
    from fiveplans.layers.legend import guess_scheme

    infos = []
    for column in frame.columns:
        if column == "geometry":
            continue
        values = frame[column]
        kind = values.dtype.kind
        if kind not in "OUSiu" or (
            kind in "iu" and values.nunique(dropna=True) > 60
        ):  # text fields, and integer fields that look like code lists
            continue
        present = values.dropna()
        if kind in "OUS":
            present = present[present.astype(str).str.strip() != ""]
        counts = present.astype(str).value_counts()
        top = [(str(v), int(n)) for v, n in counts.head(TOP_VALUES).items()]
        # integers 0/1, 2, 3, … without gaps are row numbers, not codes
        row_numbers = (
            kind in "iu"
            and len(counts) > 3
            and int(present.min()) in (0, 1)
            and int(present.max()) - int(present.min()) + 1 == len(counts)
        )
        ranked = guess_scheme(present) if len(present) and not row_numbers else []
        scheme, share = ranked[0] if ranked and ranked[0][1] > 0 else (None, 0.0)
        sample = counts.index[:200].astype(str)
        code_like = bool(len(sample)) and bool(
            pd.Series(sample).str.fullmatch(r"[0-9A-Za-z]{1,10}").mean() >= 0.8
        )
        infos.append(
            FieldInfo(
                name=str(column),
                dtype="text 文本" if kind in "OUS" else "integer 整数",
                distinct=len(counts),
                top=top,
                scheme=scheme,
                share=float(share),
                code_like=code_like,
            )
        )
    return infos


def _best_field(infos: list[FieldInfo]) -> FieldInfo | None:
    """The field to classify by: a code field before a name field, then the best share."""
    # one value repeated over a whole layer (a province code) says nothing about a scheme
    fits = [
        f
        for f in infos
        if f.scheme and f.share >= MIN_SHARE and (f.distinct > 1 or sum(n for _, n in f.top) <= 3)
    ]
    if not fits:
        return None
    return max(fits, key=lambda f: (f.code_like, round(f.share, 2), f.distinct > 1))


def _suggest(info: LayerInfo, *, crs_text: str | None, points: bool = False) -> None:
    """Fill ``entry``, ``key`` and ``why`` of a layer from its fields and CRS."""
    entry: dict[str, Any] = {}
    best = _best_field(info.field_info)
    names = {f.lower(): f for f in info.fields}
    why: list[str] = []
    if best is not None:
        entry["field"], entry["scheme"] = best.name, best.scheme
        info.key = _KEY_OF_SCHEME.get(best.scheme or "", "cluster")
        why.append(f"{best.scheme} recognises {best.share:.0%} of {best.name}")
        if info.key == "cluster":
            why.append("key cluster or urban 键名 cluster 或 urban")
    elif "highway" in names and "line" in info.geometry_type.lower():
        entry["field"] = names["highway"]
        info.key = "roads"
        why.append("road lines with OSM highway classes 道路")
    elif points and "industry" in names:
        info.key = "clusters"
        entry["industry"] = names["industry"]
        why.append("points with an industry field: cluster cores 产业集群核心")
    elif points:
        info.key = "suppliers"
        why.append("points: key suppliers, centres or clusters 点要素")
    elif "polygon" in info.geometry_type.lower():
        info.key = "boundary" if info.features <= 3 else "districts"
        why.append("no field holds a known code scheme 无已知代码字段: boundary or districts")
    else:
        info.key = "current"
        why.append("no field holds a known code scheme 无已知代码字段")
    if crs_text:
        entry["crs"] = crs_text
        if crs_text in ("EPSG:4326", "EPSG:4490"):
            why.append(
                "lon/lat 经纬度: if exported from a web map write `crs: gcj02` (高德/腾讯) or "
                "`crs: bd09` (百度) instead"
            )
    info.entry = {**entry}
    info.why = "; ".join(why)


# ------------------------------------------------------------------------------ formats


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
        total = int(info_raw.get("features") or 0)
        frame = pyogrio.read_dataframe(
            path, layer=name, encoding=encoding, max_features=MAX_ROWS if total > MAX_ROWS else None
        )
        geoms = (
            np.asarray(frame.geometry.values, dtype=object)
            if "geometry" in frame
            else np.array([], dtype=object)
        )
        info = LayerInfo(
            name=str(name),
            features=max(total, len(frame)),
            geometry_type=str(gtype or info_raw.get("geometry_type") or "None"),
            crs_file=_label(frame.crs) if getattr(frame, "crs", None) is not None else "",
            fields=[str(f) for f in info_raw.get("fields", [])],
        )
        if total > MAX_ROWS:
            info.notes.append(
                f"values from the first {MAX_ROWS:,} features 仅统计前 {MAX_ROWS:,} 个要素"
            )
        use_crs = getattr(frame, "crs", None)
        if len(geoms):
            ok = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
            sample = geoms[ok]
            sample = sample[:: max(1, len(sample) // 2000)]
            xy = shapely.get_coordinates(sample)
            if len(xy):
                info.bounds = tuple(float(v) for v in frame.total_bounds)  # type: ignore[assignment]
                use_crs = _check_crs(info, frame.crs, xy)
                if use_crs is not None:
                    info.lonlat = _lonlat_of(use_crs, info.bounds)  # type: ignore[arg-type, assignment]
            info.problems = _geometry_problems(geoms)
        info.field_info = _field_infos(frame)
        if path.suffix.lower() == ".shp":
            for ext in (".prj", ".cpg"):
                if not path.with_suffix(ext).exists():
                    info.notes.append(f"no {ext} file 缺少{ext}")
        crs_text = None
        if use_crs is not None:
            crs_text = _epsg_text(use_crs) or use_crs.to_wkt()
        _suggest(info, crs_text=crs_text, points="point" in info.geometry_type.lower())
        if len(layers) > 1:
            info.entry = {"layer": str(name), **info.entry}
        report.layers.append(info)


def _inspect_csv(path: Path, report: InspectReport) -> None:
    import io

    from fiveplans.io import detect_encoding

    raw = path.read_bytes()
    guess = detect_encoding(raw[:200_000], where=str(path))
    report.encoding, report.encoding_reason = guess.encoding, guess.reason
    df = pd.read_csv(
        io.StringIO(raw.decode(guess.encoding.lower())), dtype=str, keep_default_na=False
    )
    df.columns = [str(c).strip() for c in df.columns]
    info = LayerInfo(
        name=path.stem, features=len(df), geometry_type="(table 表格)", fields=list(df.columns)
    )
    names = {c.lower(): c for c in df.columns}
    xcol = next((names[c] for c in ("lon", "lng", "longitude", "x", "经度") if c in names), None)
    ycol = next((names[c] for c in ("lat", "latitude", "y", "纬度") if c in names), None)
    info.field_info = _field_infos(df.drop(columns=[c for c in (xcol, ycol) if c]))
    crs_text = None
    if xcol and ycol:
        x = pd.to_numeric(df[xcol], errors="coerce").to_numpy()
        y = pd.to_numeric(df[ycol], errors="coerce").to_numpy()
        ok = np.isfinite(x) & np.isfinite(y)
        info.geometry_type = f"Point (columns 坐标列 {xcol}/{ycol})"
        if ok.any():
            info.bounds = (
                float(x[ok].min()),
                float(y[ok].min()),
                float(x[ok].max()),
                float(y[ok].max()),
            )
            crs = _check_crs(info, None, np.column_stack([x[ok], y[ok]]))
            if crs is not None:
                info.lonlat = _lonlat_of(crs, info.bounds)  # type: ignore[assignment]
                crs_text = _epsg_text(crs)
            info.notes.append(
                "经纬度点也可能是 GCJ-02（高德/腾讯）或 BD-09（百度）— lon/lat points from web maps "
                "are often GCJ-02 or BD-09: then write `crs: gcj02` or `crs: bd09`"
            )
        if (~ok).any():
            info.problems["no_coordinates 无坐标"] = int((~ok).sum())
    else:
        info.notes.append(
            "没有识别到经纬度列 no lon/lat or x/y columns recognised: name them with `x:` and `y:`"
        )
    _suggest(info, crs_text=crs_text, points=True)
    if xcol and ycol:
        info.entry = {"x": xcol, "y": ycol, **info.entry}
        ids = [c for c in df.columns if c not in (xcol, ycol) and df[c].is_unique and len(df)]
        preferred = [
            c for c in ids if c.lower() in ("id", "name", "名称") or c.lower().endswith("_id")
        ]
        if preferred or ids:
            info.entry["id"] = (preferred or ids)[0]
    report.layers.append(info)


_USED = ("LWPOLYLINE", "POLYLINE", "HATCH")
_TEXT = ("TEXT", "MTEXT", "ATTRIB", "ATTDEF")


def _inspect_dxf(path: Path, report: InspectReport) -> None:
    from ezdxf import bbox

    from fiveplans.layers.cad import _layer_name, _open, _polyline_closed
    from fiveplans.layers.legend import normalize_code, schemes

    doc = _open(path, None)
    if doc.dxfversion >= "AC1021":  # R2007 and later store text as UTF-8
        report.encoding, report.encoding_reason = (
            "UTF-8",
            f"DXF {doc.dxfversion} (R2007+) 为 UTF-8 is UTF-8",
        )
    else:
        report.encoding, report.encoding_reason = (
            doc.encoding,
            f"DXF {doc.dxfversion}, $DWGCODEPAGE",
        )
    counts: dict[str, Counter[str]] = {}
    used: dict[str, Counter[str]] = {}
    ignored: dict[str, Counter[str]] = {}
    drawn: list[Any] = []
    for e in doc.modelspace():
        layer = _layer_name(e)
        kind = e.dxftype()
        counts.setdefault(layer, Counter())[kind] += 1
        used.setdefault(layer, Counter())
        ignored.setdefault(layer, Counter())
        if kind in ("LWPOLYLINE", "POLYLINE"):
            closed, _ = _polyline_closed(e)
            if closed:
                used[layer]["closed polylines 闭合多段线"] += 1
                drawn.append(e)
            else:
                ignored[layer]["open polylines 未闭合线 (refused 拒绝)"] += 1
        elif kind == "HATCH":
            used[layer]["hatches 填充"] += 1
            drawn.append(e)
        elif kind in _TEXT:
            ignored[layer]["text 注记"] += 1
        else:
            ignored[layer][kind] += 1
    if not counts:
        raise FiveplansError(f"{path}: the model space is empty 模型空间为空")
    extent = bbox.extents(drawn, fast=True) if drawn else None
    names = sorted(counts)
    polygon_layers = [n for n in names if used[n]]
    refused = [n for n in names if any("open" in k for k in ignored[n])]
    weights = {n: sum(used[n].values()) for n in polygon_layers}
    shares = []
    for scheme in schemes():
        hits = sum(w for n, w in weights.items() if normalize_code(n, scheme) is not None)
        shares.append((hits / sum(weights.values()) if weights else 0.0, scheme))
    best_share, best_scheme = max(shares, key=lambda s: s[0]) if shares else (0.0, "")
    head = LayerInfo(name=names[0], features=0)
    head.crs_file = "(none 无: CAD 图纸不带坐标系 a drawing carries no CRS)"
    crs_text = None
    if extent is not None and extent.has_data:
        head.bounds = (extent.extmin.x, extent.extmin.y, extent.extmax.x, extent.extmax.y)
        xy = np.array([[head.bounds[0], head.bounds[1]], [head.bounds[2], head.bounds[3]]])
        crs = _check_crs(head, None, xy)
        if crs is not None:
            head.lonlat = _lonlat_of(crs, head.bounds)
            crs_text = _epsg_text(crs)
    entry: dict[str, Any] = {}
    if refused:
        keep = [n for n in polygon_layers if n not in refused]
        entry["layer"] = keep
        head.notes.append(
            f"图层 {', '.join(refused)} 有未闭合多段线，加载时会被拒绝 — layers {', '.join(refused)} "
            "hold open polylines, which the loader refuses: close them in CAD (PEDIT → Close) "
            "or leave those layers out with `layer:` (as suggested)"
        )
    entry["field"] = "Layer"
    why = ["CAD 图层名即用地代码 the CAD layer name is the class (field: Layer)"]
    if best_share > 0:
        entry["scheme"] = best_scheme
        why.append(f"{best_scheme} recognises {best_share:.0%} of the polygon layers")
    if crs_text is None:
        cps = sorted(
            p.name
            for p in path.parent.glob("*.csv")
            if any(w in p.stem.lower() for w in ("cp", "control", "控制点"))
        )
        if cps:
            entry["control_points"] = (path.parent / cps[0]).as_posix()
            target = _control_points_crs(path.parent / cps[0])
            if target is not None:
                entry["crs"] = target
            why.append(
                f"local drawing coordinates 局部坐标: registered by the control points {cps[0]}"
                + (
                    f" whose x/y are {target}"
                    if target
                    else "; their x/y are taken in the pilot's working CRS unless `crs:` says"
                )
            )
        else:
            why.append(
                "local drawing coordinates 局部坐标: add `control_points: FILE.csv` (≥ 3 points: "
                "id, local_x, local_y, x, y) and `crs:` of their x/y"
            )
        head.notes.append(
            "图纸为局部坐标 the drawing is in local coordinates: it needs `control_points:` "
            "(see docs/pilot.md)"
        )
    else:
        entry["crs"] = crs_text
    head.entry = entry
    head.key = _KEY_OF_SCHEME.get(entry.get("scheme", ""), "urban")
    if head.key == "cluster":
        head.key = "urban"
    head.why = "; ".join(why)
    for layer in names:
        info = head if layer == names[0] else LayerInfo(name=layer, features=0)
        info.name = layer
        info.features = sum(counts[layer].values())
        info.geometry_type = ", ".join(f"{k} {v}" for k, v in sorted(counts[layer].items()))
        info.used = ", ".join(f"{v} {k}" for k, v in used[layer].items())
        info.ignored = ", ".join(f"{v} {k}" for k, v in ignored[layer].items())
        code = normalize_code(layer, best_scheme) if best_scheme and used[layer] else None
        info.crs_note = f"{best_scheme} {code}" if code else ""
        if layer != names[0]:
            report.layers.append(info)
        else:
            report.layers.insert(0, info)


def _control_points_crs(csv: Path) -> str | None:
    """The CRS of a control-point file's surveyed x/y, when their numbers tell it."""
    from fiveplans.crs import detect_crs
    from fiveplans.helmert import read_control_points

    try:
        _, _, target = read_control_points(csv, where=str(csv))
    except FiveplansError:
        return None
    det = detect_crs(target[:, 0], target[:, 1])
    return _epsg_text(det.crs) if det.crs is not None else None


def _inspect_raster(path: Path, report: InspectReport) -> None:
    import rasterio

    with rasterio.open(path) as ds:
        info = LayerInfo(
            name=path.name,
            features=ds.count,
            geometry_type=f"raster {ds.width}×{ds.height}, {ds.dtypes[0]}, {ds.count} band(s)",
            crs_file=_label(ds.crs) if ds.crs else "",
            bounds=tuple(ds.bounds),  # type: ignore[arg-type]
        )
        crs = None
        if ds.crs is not None:
            import pyproj

            crs = pyproj.CRS.from_user_input(ds.crs.to_wkt())
        xy = np.array([[info.bounds[0], info.bounds[1]], [info.bounds[2], info.bounds[3]]])  # type: ignore[index]
        use = _check_crs(info, crs, xy)
        if use is not None:
            info.lonlat = _lonlat_of(use, info.bounds)  # type: ignore[arg-type]
        info.notes.append(
            "栅格按像元值矢量化 the raster is vectorised by cell value (field: value)"
        )
        _suggest(info, crs_text=_epsg_text(use) if use is not None else None)
        info.entry = {"field": "value", **{k: v for k, v in info.entry.items() if k == "crs"}}
        info.why = "classified raster 分类栅格: set `scheme:` or map the values with `codes:`"
        report.layers.append(info)


def _inspect_osm(path: Path, report: InspectReport) -> None:
    from fiveplans.layers.osm import read_osm_roads

    roads = read_osm_roads(path)
    info = LayerInfo(
        name="roads (drivable highways 可通行道路)",
        features=len(roads),
        geometry_type="LineString",
        crs_file="EPSG:4326 (OSM)",
        fields=[c for c in roads.columns if c != "geometry"],
    )
    if len(roads):
        info.bounds = tuple(float(v) for v in roads.total_bounds)  # type: ignore[assignment]
        info.lonlat = info.bounds
        info.crs_detected = "EPSG:4326 (OSM is always WGS 84 lon/lat)"
        info.crs_agree = True
        info.field_info = _field_infos(roads[[c for c in ("highway", "oneway") if c in roads]])
    report.encoding, report.encoding_reason = "UTF-8", "OSM 数据为 UTF-8 OSM data is UTF-8"
    info.entry, info.key = {"field": "highway"}, "roads"
    info.why = "OSM roads 道路: classes in highway"
    report.layers.append(info)


def inspect_path(path: str | os.PathLike[str]) -> InspectReport:
    """Describe a delivered file; never raises for a broken file (``readable`` is False).

    Parameters
    ----------
    path
        A Shapefile, GeoPackage, FileGDB folder, GeoJSON, DXF, CSV, OSM (``.osm``/``.pbf``) or
        GeoTIFF. The path is used as written in the suggested entries (relative paths stay
        relative: run ``inspect`` from the pilot YAML's folder to paste them as they are).

    Returns
    -------
    InspectReport
        ``to_text()`` for reading, ``to_yaml()`` for the entries to paste.
    """
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
    report = InspectReport(path=path, format=fmt, readable=True, shown_path=path.as_posix())
    try:
        func(path, report)
    except FiveplansError as exc:
        report.readable, report.error = False, str(exc)
    except Exception as exc:  # any library failure means: not readable; say why
        log.debug("inspect failed", exc_info=True)
        report.readable, report.error = False, f"{type(exc).__name__}: {exc}"
    return report
