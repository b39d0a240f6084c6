"""The interactive conflict map (冲突分析图, ``map.html``).

:func:`conflict_map` draws the five plans, the conflicts (or the ledger's conflict patches) on
top with their ledger status, the zones, the logistics layers and the pilot's boundary on one
Leaflet map, returned as a :class:`folium.Map` (shown inline in Jupyter); :func:`save_map` writes
it as one self-contained HTML file, atomically. The page needs no network: Leaflet and every
plugin are inlined from the assets shipped in the package (:mod:`fiveplans.maps.offline`).

Large layers. Folium's ``GeoJson`` repeats every key and coordinate as text and builds one SVG
path per feature; a pilot with ~58,000 conflict pieces then writes ~50 MB that renders in ~5 s.
Here each layer is packed the way a cartographer prepares web data:

- *simplification in metres*, in the working CRS, with tolerance ``tolerance_m`` (default
  0.5 m: half a screen pixel at zoom 18, where one pixel is ~0.5 m at these latitudes, and far
  below the ±2.5 m a 1:10,000 plan is drawn to). Layers that are coverages (parcels sharing
  edges) are simplified with :func:`shapely.coverage_simplify`, which keeps shared edges shared,
  so no gaps or slivers open between neighbours; other layers with
  ``shapely.simplify(preserve_topology=True)``;
- *coordinate rounding*: Web Mercator metres rounded to 0.1 m (0.08 m on the ground at 33°N),
  consecutive duplicates dropped;
- *compact encoding*: per layer the vertex coordinates as deltas, zig-zag varints in a base64url
  string (about 2–3 characters per coordinate), the ring structure the same way;
- *shared property tables*: a column with repeated values (types, plans, codes, districts) is
  sent once as a dictionary plus one small integer per feature;
- *Canvas rendering*: one canvas per layer draws its features batched by style; a grid index
  answers clicks and hovers. A feature smaller than 2 screen pixels is drawn as a 3-pixel square,
  so every conflict stays visible at every zoom.

Every text shown (pilot name, ids, codes, attributes) reaches the page as JSON data (``<`` ``>``
``&`` escaped) and is put in the page with ``textContent``: markup in the data appears as text.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from branca.element import MacroElement

from fiveplans.analysis.patches import is_blank as _blank
from fiveplans.coords import wgs84_to_gcj02
from fiveplans.errors import ConfigError, DataError
from fiveplans.io import atomic_path
from fiveplans.maps import palette
from fiveplans.maps.offline import Raw, make_offline

__all__ = [
    "BASEMAPS",
    "COORD_QUANTUM_M",
    "DEFAULT_TOLERANCE_M",
    "PLAN_KEYS",
    "conflict_map",
    "save_map",
]

logger = logging.getLogger(__name__)

DEFAULT_TOLERANCE_M = 0.5
"""Simplification tolerance (m, working CRS): half a pixel at zoom 18 (see the module text)."""
COORD_QUANTUM_M = 0.1
"""Rounding of the Web Mercator coordinates sent to the page (m)."""
PLAN_KEYS = ("land_use", "cluster", "urban", "ecology", "infrastructure", "current")
"""The plan layers drawn (those present), each its own toggleable layer; ``land_use`` shown."""
BASEMAPS = ("none", "osm", "tianditu", "gaode")
"""``basemap=`` choices. Only ``gaode`` (GCJ-02 tiles) shifts the overlays."""
TIANDITU_ENV = "FIVEPLANS_TIANDITU_KEY"

_ALPHABET = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8
)
_PANES = {
    "fp-base": 350,
    "fp-plans": 380,
    "fp-zones": 400,
    "fp-logistics": 410,
    "fp-outline": 420,
    "fp-conflicts": 450,
    "fp-boundary": 460,
    "fp-points": 610,
}
_LABELS = {
    "legend": "图例 Legend",
    "no_basemap": "无底图 No basemap",
    "fullscreen": "全屏 Full screen",
    "fullscreen_exit": "退出全屏 Exit full screen",
    "measure_on": "量算距离 Measure distance",
    "measure_off": "结束量算 Stop measuring",
    "measure_clear": "清除量算 Clear measurements",
    "search": "搜索冲突编号或区县 Search id or district",
    "not_found": "未找到 Not found",
    "cancel": "取消 Cancel",
    "district_prefix": "区县 ",
    "swipe": "卷帘对比 Swipe",
    "swipe_on": "开始 Start",
    "swipe_off": "结束 Stop",
}
_TILES = {
    "osm": (
        "OpenStreetMap",
        [
            {
                "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                "attribution": "© OpenStreetMap contributors",
                "subdomains": "abc",
            }
        ],
        "底图 OpenStreetMap (WGS84)：叠加图层未偏移 — overlays not shifted",
    ),
    "tianditu": (
        "天地图 Tianditu",
        [
            {
                "url": "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}",
                "attribution": "© 天地图 Tianditu (国家地理信息公共服务平台)",
                "subdomains": "01234567",
                "layers": ("vec", "cva"),
            }
        ],
        "底图 天地图 Tianditu (CGCS2000)：叠加图层未偏移 — overlays not shifted",
    ),
    "gaode": (
        "高德地图 Gaode",
        [
            {
                "url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1"
                "&style=8&x={x}&y={y}&z={z}",
                "attribution": "© 高德地图 AutoNavi",
                "subdomains": "1234",
            }
        ],
        "底图 高德 Gaode (GCJ-02)：叠加图层已偏移至 GCJ-02 以与底图对齐 — overlays shifted to GCJ-02",
    ),
}


# -- encoding -------------------------------------------------------------------------------
_LIMITS = np.array([1 << (5 * k) for k in range(1, 13)], dtype=np.uint64)


def _varints(values: np.ndarray) -> str:
    """Zig-zag varints of integers, 5 bits per base64url character (bit 6: more follows)."""
    v = np.asarray(values, dtype=np.int64).ravel()
    if v.size == 0:
        return ""
    z = ((v << 1) ^ (v >> 63)).astype(np.uint64)
    count = np.searchsorted(_LIMITS, z, side="right") + 1  # characters per value
    start = np.cumsum(count) - count
    out = np.empty(int(count[-1] + start[-1]), dtype=np.uint8)
    sel = np.arange(z.size)
    for k in range(int(count.max())):
        if k:
            sel = sel[count[sel] > k]
        chunk = ((z[sel] >> np.uint64(5 * k)) & np.uint64(31)).astype(np.uint8)
        out[start[sel] + k] = chunk | ((count[sel] > k + 1) * 32).astype(np.uint8)
    return _ALPHABET[out].tobytes().decode("ascii")


@functools.lru_cache(maxsize=8)
def _to_lonlat(wkt: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(pyproj.CRS.from_wkt(wkt), "EPSG:4326", always_xy=True)


def _merc(crs: Any, *, gcj02: bool) -> Any:
    """A function taking (N, 2) coordinates in ``crs`` to Web Mercator metres (via GCJ-02)."""
    to_ll = _to_lonlat(pyproj.CRS(crs).to_wkt())

    def merc(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_ll.transform(xy[:, 0], xy[:, 1])
        if gcj02:
            lon, lat = wgs84_to_gcj02(lon, lat)
        lat = np.clip(lat, -85.0511, 85.0511)
        x = np.radians(lon) * 6378137.0
        y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * 6378137.0
        return np.column_stack([x, y])

    return merc


SIMPLIFY_MIN_VERTICES = 16
"""Layers whose rings average fewer vertices are not simplified (see :func:`_simplify`)."""


def _simplify(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """Simplify polygons or lines in the working CRS (metres), keeping shared edges shared.

    :func:`shapely.coverage_simplify` simplifies each edge between two neighbours once, so
    parcels that share an edge still share it and no gap or sliver opens. Layers whose rings
    average fewer than :data:`SIMPLIFY_MIN_VERTICES` vertices are left as they are: there is
    next to nothing to remove (1 % of the vertices of the benchmark's 50,000 Voronoi parcels at
    0.5 m) and the coverage simplification would cost seconds (2.4 s for those parcels).
    """
    if tolerance <= 0 or len(geoms) == 0:
        return geoms
    n_rings = np.maximum(shapely.get_num_interior_rings(geoms), 0) + 1
    dense = shapely.get_num_coordinates(geoms).sum() / max(int(n_rings.sum()), 1)
    if dense < SIMPLIFY_MIN_VERTICES:
        logger.debug("%.1f vertices per ring: not simplified", dense)
        return geoms
    try:
        return shapely.coverage_simplify(geoms, tolerance, simplify_boundary=True)
    except shapely.errors.GEOSException as exc:
        logger.debug("coverage simplification failed (%s); simplifying each geometry", exc)
        return shapely.simplify(geoms, tolerance, preserve_topology=True)


def _geometry(geoms: np.ndarray, kind: str, merc: Any) -> dict[str, Any]:
    """Rings per feature, vertices per ring and delta-coded vertices (Web Mercator).

    Polygon rings are oriented (exteriors counter-clockwise, holes clockwise) so the page can
    fill many features in one path with the non-zero rule; each ring's closing vertex is left
    out (the page closes the path).
    """
    n = len(geoms)
    if n == 0:
        return {"n": 0, "rings": "", "verts": "", "xy": ""}
    gtype, coords, offsets = shapely.to_ragged_array(geoms, include_z=False)
    T = shapely.GeometryType
    exterior_rings = None
    if gtype == T.POLYGON:
        ring_off, poly_off = offsets
        rings_per = np.diff(poly_off)
        exterior_rings = poly_off[:-1]
    elif gtype == T.MULTIPOLYGON:
        ring_off, part_off, multi_off = offsets
        rings_per = np.diff(part_off[multi_off])
        exterior_rings = part_off[:-1]
    elif gtype == T.LINESTRING:
        (ring_off,) = offsets
        rings_per = np.ones(n, dtype=np.int64)
    elif gtype == T.MULTILINESTRING:
        ring_off, multi_off = offsets
        rings_per = np.diff(multi_off)
    elif gtype == T.POINT:
        ring_off = np.arange(n + 1)
        rings_per = np.ones(n, dtype=np.int64)
    else:
        raise DataError(f"cannot draw {gtype.name} as {kind}")
    counts = np.diff(ring_off)
    nr = len(counts)
    cidx = np.repeat(np.arange(nr), counts)
    coords = merc(coords)
    if exterior_rings is not None and len(coords):
        exterior = np.zeros(nr, dtype=bool)
        exterior[exterior_rings[exterior_rings < nr]] = True
        start = ring_off[:-1]
        local = coords - coords[start[cidx]]
        same = cidx[1:] == cidx[:-1]
        cross = (local[:-1, 0] * local[1:, 1] - local[1:, 0] * local[:-1, 1]) * same
        area2 = np.bincount(cidx[:-1], weights=cross, minlength=nr)
        flip = np.where(exterior, area2 < 0, area2 > 0)
        if flip.any():
            pos = np.arange(len(cidx))
            k = pos - start[cidx]
            coords = coords[np.where(flip[cidx], start[cidx] + counts[cidx] - 1 - k, pos)]
        last = np.r_[cidx[1:] != cidx[:-1], True]
        coords, cidx = coords[~last], cidx[~last]
    q = np.round(coords / COORD_QUANTUM_M).astype(np.int64)
    if len(q):
        dup = np.r_[False, (q[1:] == q[:-1]).all(axis=1) & (cidx[1:] == cidx[:-1])]
        q, cidx = q[~dup], cidx[~dup]
    verts = np.bincount(cidx, minlength=nr)
    delta = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).ravel()
    return {"n": n, "rings": _varints(rings_per), "verts": _varints(verts), "xy": _varints(delta)}


def _text(value: object) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _texts(uniques: Any) -> np.ndarray:
    """Distinct values as text (whole floats without ``.0``; blank text as None)."""
    u = pd.Index(uniques)
    if u.dtype.kind == "f":
        arr = u.to_numpy(dtype=float)
        whole = np.isfinite(arr) & (np.mod(arr, 1) == 0) & (np.abs(arr) < 1e15)
        out = np.array(
            [str(int(x)) if w else str(x) for x, w in zip(arr, whole, strict=True)], dtype=object
        )
    elif u.dtype.kind in "iub" or u.inferred_type in ("string", "integer", "boolean"):
        out = np.array(u.astype(str).to_numpy(dtype=object), dtype=object, copy=True)
    else:
        out = np.array([_text(v) for v in u], dtype=object)
    text = pd.Series(out, dtype=object)
    blank = text.isna() | text.astype(str).str.strip().eq("")
    out[blank.to_numpy()] = None
    return out


def _column(key: str, label: str, values: Any, kind: str = "str") -> dict[str, Any]:
    """One column of a property table; repeated text as a dictionary plus indexes."""
    series = (
        values.reset_index(drop=True)
        if isinstance(values, pd.Series | pd.Index)
        else pd.Series(list(values) if not isinstance(values, np.ndarray) else values)
    )
    if kind in ("area", "num"):
        arr = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        arr = np.round(arr, 2 if kind == "area" else 3)
        vals = np.where(np.isfinite(arr), arr, np.nan).astype(object)
        vals[~np.isfinite(arr)] = None
        return {"key": key, "label": label, "kind": kind, "values": vals}
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = np.append(_texts(uniques), None)
    codes = np.where(codes < 0, len(uniques), codes)
    if len(uniques) <= max(1, len(series) // 2):
        codes = np.where(pd.isna(texts)[codes], -1, codes)
        return {"key": key, "label": label, "kind": "str", "dict": texts[:-1], "idx": codes}
    return {"key": key, "label": label, "kind": "str", "values": texts[codes]}


def _pack_ints(values: np.ndarray | int) -> int | str:
    """A constant as itself, else zig-zag varints (see :func:`_varints`)."""
    if isinstance(values, int | np.integer):
        return int(values)
    arr = np.asarray(values, dtype=np.int64)
    if len(arr) and (arr == arr[0]).all():
        return int(arr[0])
    return _varints(arr)


def _pack_column(col: dict[str, Any]) -> dict[str, Any]:
    """Indexes as varints; a text column's common prefix sent once."""
    out = dict(col)
    if "idx" in col:
        out["idx"] = _pack_ints(np.asarray(col["idx"]))
    elif col.get("kind") == "str":
        values = np.asarray(col["values"], dtype=object)
        text = pd.Series(values, dtype=object)
        present = text.dropna()
        prefix = (
            os.path.commonprefix(  # noqa: RUF071 - a text prefix is wanted
                present.iloc[:2000].tolist()
            )
            if len(present)
            else ""
        )
        if prefix and present.str.startswith(prefix).all():
            out["prefix"] = prefix
            out["values"] = text.str.slice(len(prefix)).to_numpy(dtype=object)
    return out


def _style(
    fill: str | None,
    stroke: str | None,
    *,
    fo: float = 0.6,
    sw: float = 1.0,
    dash: list[float] | None = None,
    hatch: bool = False,
    radius: float | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"fill": fill, "stroke": stroke, "fo": fo, "sw": sw}
    if dash:
        out["dash"] = dash
    if hatch:
        out["hatch"] = True
    if radius:
        out["radius"] = radius
    return out


def _darker(colour: str, factor: float = 0.65) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#{:02x}{:02x}{:02x}".format(*(int(c * factor) for c in (r, g, b)))


# -- inputs ---------------------------------------------------------------------------------
def _layers_of(pilot: Any) -> tuple[Mapping[str, gpd.GeoDataFrame], Any, str]:
    layers = getattr(pilot, "layers", pilot)
    if not isinstance(layers, Mapping):
        raise DataError(
            "conflict_map 需要试点或图层字典 — pilot must be a fiveplans.Pilot or a mapping of "
            f"layer key to GeoDataFrame, got {type(pilot).__name__}. 解决 Fix: pass "
            "fp.load_pilot(...) or pilot.layers"
        )
    crs = getattr(pilot, "crs", None)
    if crs is None:
        crs = next((g.crs for g in layers.values() if getattr(g, "crs", None)), None)
    if crs is None:
        raise DataError(
            "图层没有坐标系 — the layers carry no CRS. 解决 Fix: set the GeoDataFrames' crs"
        )
    name = getattr(pilot, "name", None) or "试点 pilot"
    return layers, crs, str(name)


def _in_crs(frame: gpd.GeoDataFrame | None, crs: Any, what: str) -> gpd.GeoDataFrame | None:
    if frame is None or len(frame) == 0 or "geometry" not in getattr(frame, "columns", []):
        return None
    if not isinstance(frame, gpd.GeoDataFrame):
        frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=crs)
    if frame.crs is None:
        raise DataError(
            f"图层 {what} 没有坐标系 — layer {what} has no CRS. 解决 Fix: set its crs "
            "(the pilot's working CRS)"
        )
    if not pyproj.CRS(frame.crs).equals(pyproj.CRS(crs)):
        frame = frame.to_crs(crs)
    keep = frame.geometry.notna() & ~frame.geometry.is_empty
    return frame.loc[keep]


def _decisions(ledger: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Ledger decisions: ({patch_id: 调整类型}, {conflict_id: 调整类型})."""
    if ledger is None:
        return {}, {}
    from fiveplans.analysis import ledger as ledger_mod

    if isinstance(ledger, str | os.PathLike):
        ledger = ledger_mod.read_ledger(ledger)
    if not isinstance(ledger, pd.DataFrame):
        raise DataError(
            "台账格式不对 — ledger must be a DataFrame or an .xlsx path. 解决 Fix: pass the "
            "ledger of fiveplans.analysis.conflict_ledger or read_ledger(path)"
        )
    adjustment = ledger_mod.ADJUSTMENT
    if adjustment not in ledger.columns:
        raise DataError(
            f"台账缺少列 {adjustment} — the ledger has no decision column. 解决 Fix: pass the "
            "ledger of fiveplans.analysis.conflict_ledger"
        )
    by_patch: dict[str, str] = {}
    by_pair: dict[str, str] = {}
    pairs_col = getattr(ledger_mod, "PAIRS", None)
    # only the decided rows are read; they are walked as DataFrame.iterrows would give them
    # (the same values, the frame's common dtype), without building a Series per row
    decided = ledger.loc[[not _blank(v) for v in ledger[adjustment]]]
    if not len(decided):
        return by_patch, by_pair
    columns = {c: i for i, c in reversed(list(enumerate(decided.columns)))}
    at = {
        key: columns.get(name) if name else None
        for key, name in (
            ("decision", adjustment),
            ("patch", getattr(ledger_mod, "ID", "")),
            ("pair", getattr(ledger_mod, "PAIR_ID", "")),
            ("pairs", pairs_col),
        )
    }
    for values in decided.to_numpy():
        row = {key: None if i is None else values[i] for key, i in at.items()}
        decision = str(row["decision"]).strip()
        if not _blank(row["patch"]):
            by_patch[str(row["patch"])] = decision
        if not _blank(row["pair"]):
            by_pair[str(row["pair"])] = decision
        if pairs_col and not _blank(row["pairs"]):
            for pid in str(row["pairs"]).replace(";", ",").split(","):
                if pid.strip():
                    by_pair[pid.strip()] = decision
    return by_patch, by_pair


# -- the map --------------------------------------------------------------------------------
class _Builder:
    def __init__(self, crs: Any, *, tolerance_m: float, gcj02: bool) -> None:
        self.crs = crs
        self.tolerance = tolerance_m
        self.gcj02 = gcj02
        self.merc = _merc(crs, gcj02=gcj02)
        self.specs: list[dict[str, Any]] = []
        self.legend: list[dict[str, Any]] = []
        self.search: list[dict[str, str]] = []

    def add(
        self,
        frame: gpd.GeoDataFrame,
        *,
        id: str,
        label: str,
        kind: Literal["polygon", "line", "point"],
        pane: str,
        styles: list[dict[str, Any]],
        style: np.ndarray | int = 0,
        cols: list[dict[str, Any]] | None = None,
        tip: list[str] | None = None,
        show: bool = False,
        group: str = "",
        swipe: bool = False,
        interactive: bool = True,
        cluster: bool = False,
        swatch: str | None = None,
    ) -> None:
        geoms = np.asarray(frame.geometry.array, dtype=object)
        if kind == "polygon":
            geoms = _simplify(geoms, self.tolerance)
        elif kind == "line":
            geoms = shapely.simplify(geoms, self.tolerance, preserve_topology=True)
        spec: dict[str, Any] = {
            "id": id,
            "label": label,
            "kind": kind,
            "pane": pane,
            "show": show,
            "group": group,
            "swipe": swipe,
            "interactive": interactive,
            "cluster": cluster,
            "styles": styles,
            "style": _pack_ints(style),
            "cols": [_pack_column(c) for c in cols or []],
            "tip": tip or [],
            "swatch": swatch or styles[0].get("fill") or styles[0].get("stroke"),
        }
        spec.update(_geometry(geoms, kind, self.merc))
        self.specs.append(spec)


def _plan_layer(b: _Builder, key: str, frame: gpd.GeoDataFrame, show: bool) -> set[str]:
    """One plan: polygons styled by the common legend (lines, if any, as their own layer)."""
    label = palette.PLAN_LABELS.get(key, key)
    n = len(frame)
    legend = (
        frame["legend"].to_numpy(object)
        if "legend" in frame.columns
        else np.full(n, "other", object)
    )
    use = frame["use"].to_numpy(object) if "use" in frame.columns else np.full(n, None, object)
    construction = (legend == "construction") & pd.notna(use)
    keys_all = np.where(construction, "construction|" + use.astype(str), legend.astype(str))
    codes, uniques = pd.factorize(keys_all)
    keys = [(k.split("|")[0], k.split("|")[1]) if "|" in k else (k, None) for k in uniques]
    styles = [_style(palette.feature_colour(lg, u), "#6e6e6e", fo=0.75, sw=0.4) for lg, u in keys]
    style = codes
    cols = [
        _column(
            "source_id",
            "图斑编号 Source id",
            frame["source_id"] if "source_id" in frame.columns else frame.index,
        ),
        _column(
            "source_code",
            "用地代码 Code",
            frame["source_code"] if "source_code" in frame.columns else [None] * n,
        ),
        {
            "key": "class",
            "label": "图例 Legend class",
            "kind": "str",
            "dict": [palette.class_label(lg, u) for lg, u in keys],
            "idx": codes,
        },
    ]
    types = frame.geometry.geom_type.to_numpy()
    polys = np.isin(types, ["Polygon", "MultiPolygon"])
    lines = np.isin(types, ["LineString", "MultiLineString", "LinearRing"])
    for mask, kind, suffix in ((polys, "polygon", ""), (lines, "line", "_lines")):
        if not mask.any():
            continue
        sub = frame.loc[mask]
        idx = np.flatnonzero(mask)
        b.add(
            sub,
            id=f"plan_{key}{suffix}",
            label=label + (" (线 lines)" if suffix else ""),
            kind=kind,  # type: ignore[arg-type]
            pane="fp-plans",
            styles=styles
            if kind == "polygon"
            else [{**s, "sw": 2.0, "stroke": s["fill"]} for s in styles],
            style=style[idx],
            cols=[_subset(c, idx) for c in cols],
            tip=["source_id", "class"],
            show=show,
            group="plans",
            swipe=kind == "polygon",
            swatch=styles[int(np.bincount(style[idx]).argmax())]["fill"],
        )
    skipped = int((~polys & ~lines).sum())
    if skipped:
        logger.info("plan %s: %d point feature(s) not drawn", key, skipped)
    return set(keys)


def _labels(values: pd.Series, labels: dict[str, str]) -> np.ndarray:
    """Values replaced by their labels (values without a label kept)."""
    codes, uniques = pd.factorize(values.astype(object))
    mapped = np.array([labels.get(u, u) for u in uniques] + [None], dtype=object)
    return mapped[np.where(codes < 0, len(uniques), codes)]


def _subset(col: dict[str, Any], idx: np.ndarray) -> dict[str, Any]:
    out = dict(col)
    if "idx" in col:
        out["idx"] = np.asarray(col["idx"])[idx]
    else:
        out["values"] = np.asarray(col["values"], dtype=object)[idx]
    return out


def _conflict_layers(
    b: _Builder,
    frame: gpd.GeoDataFrame,
    *,
    patches: bool,
    by_patch: dict[str, str],
    by_pair: dict[str, str],
) -> list[dict[str, Any]]:
    id_col = "patch_id" if patches else "conflict_id"
    if id_col not in frame.columns or "type" not in frame.columns:
        raise DataError(
            f"冲突表缺少列 {id_col}/type — the {'patches' if patches else 'conflicts'} table "
            f"lacks {id_col} or type. 解决 Fix: pass the result of "
            f"fiveplans.analysis.{'conflict_patches' if patches else 'find_conflicts'}"
        )
    ids = frame[id_col].astype(str).to_numpy()
    first, second = (by_patch, by_pair) if patches else (by_pair, by_patch)
    decision = pd.Series(ids).map(first)
    if not patches and second:
        decision = decision.fillna(pd.Series(ids).map(second))
    if patches and by_pair and "conflict_ids" in frame.columns:
        for i in np.flatnonzero(decision.isna().to_numpy()):
            pairs = frame["conflict_ids"].iloc[i]
            if isinstance(pairs, str):
                found = [by_pair[p.strip()] for p in pairs.split(",") if p.strip() in by_pair]
                if found:
                    decision.iloc[i] = found[0]
    decided = decision.notna().to_numpy()
    decision = decision.to_numpy(dtype=object)
    area = frame["area_m2"] if "area_m2" in frame.columns else frame.geometry.area
    cols = [
        _column(id_col, "冲突图斑编号 Patch id" if patches else "冲突编号 Conflict id", ids),
        _column("type_label", "类型 Type", _labels(frame["type"], palette.CONFLICT_LABELS)),
        _column("area_m2", "面积 Area", area, "area"),
    ]
    if patches:
        extra = [
            ("plans", "涉及规划 Plans"),
            ("sources", "涉及图斑 Source parcels"),
            ("codes", "用地代码 Codes"),
            ("n_pairs", "冲突对数 Pairs"),
            ("conflict_ids", "冲突对编号 Pair ids"),
        ]
    else:
        frame = frame.assign(
            **{
                f"{c}_label": _labels(frame[c], palette.PLAN_LABELS)
                for c in ("plan_a", "plan_b")
                if c in frame.columns
            }
        )
        extra = [
            ("plan_a_label", "规划A Plan A"),
            ("source_a", "图斑编号A Source A"),
            ("code_a", "代码A Code A"),
            ("plan_b_label", "规划B Plan B"),
            ("source_b", "图斑编号B Source B"),
            ("code_b", "代码B Code B"),
        ]
    extra.append(("district", "区县/乡镇 District"))
    for key, label in extra:
        if key in frame.columns:
            cols.append(_column(key, label, frame[key].to_numpy()))
    cols.append(
        _column(
            "status",
            "台账状态 Ledger status",
            [
                f"{palette.STATUS_LABELS['decided']}: {d}"
                if ok
                else palette.STATUS_LABELS["undecided"]
                for d, ok in zip(decision, decided, strict=True)
            ],
        )
    )
    items: list[dict[str, Any]] = []
    types = frame["type"].astype(str).to_numpy()
    # the most important type last, so it is drawn on top
    for t in reversed(list(dict.fromkeys([*palette.CONFLICT_COLOURS, *types]))):
        mask = types == t
        if not mask.any():
            continue
        colour = palette.CONFLICT_COLOURS.get(t, "#000000")
        styles = [
            _style(colour, _darker(colour), fo=0.6, sw=1.2),
            _style(colour, _darker(colour), fo=0.9, sw=1.2, dash=[4, 3], hatch=True),
        ]
        idx = np.flatnonzero(mask)
        label = palette.CONFLICT_LABELS.get(t, t)
        b.add(
            frame.iloc[idx],
            id=f"conflicts_{t}",
            label=f"{label} ({mask.sum()})",
            kind="polygon",
            pane="fp-conflicts",
            styles=styles,
            style=decided[idx].astype(int),
            cols=[_subset(c, idx) for c in cols],
            tip=[id_col, "type_label", "status"],
            show=True,
            group="conflicts",
            swatch=colour,
        )
        b.search.append({"layer": f"conflicts_{t}", "key": id_col})
        items.insert(0, {"label": label, "fill": colour, "stroke": _darker(colour)})
    if len(frame):
        items.append(
            {"label": palette.STATUS_LABELS["undecided"] + "（实填 solid）", "fill": "#999999"}
        )
        items.append(
            {
                "label": palette.STATUS_LABELS["decided"] + "（斜线 hatched）",
                "fill": "#999999",
                "hatch": True,
                "dash": True,
            }
        )
    return items


def _points(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    geom = frame.geometry
    if not (geom.geom_type == "Point").all():
        frame = frame.set_geometry(geom.representative_point())
    return frame


def _logistics_layers(
    b: _Builder, layers: Mapping[str, gpd.GeoDataFrame], logistics: Any, crs: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    clusters = _in_crs(layers.get("clusters"), crs, "clusters")
    names: list[str] = []
    if clusters is not None:
        names = [str(v) for v in clusters.get("source_id", pd.Series(range(len(clusters))))]
    colour_of: dict[str, str] = {}

    def colour(name: object) -> str:
        key = str(name)
        if key not in colour_of:
            colour_of[key] = palette.CATCHMENT_COLOURS[
                len(colour_of) % len(palette.CATCHMENT_COLOURS)
            ]
        return colour_of[key]

    for n in names:
        colour(n)
    for attr, label, dash, fo in (
        ("service_areas", "服务区 Service areas", None, 0.12),
        ("catchments", "集聚区腹地 Catchments", [6, 4], 0.08),
    ):
        frame = _in_crs(getattr(logistics, attr, None), crs, attr) if logistics else None
        if frame is None:
            continue
        frame = frame.loc[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
        if not len(frame):
            continue
        cl = (
            frame["cluster"].astype(str)
            if "cluster" in frame.columns
            else pd.Series(["?"] * len(frame))
        )
        keys = list(dict.fromkeys(cl))
        styles = [_style(colour(k), colour(k), fo=fo, sw=1.8, dash=dash) for k in keys]
        cols = [
            _column("cluster", "产业集群 Cluster", cl.to_numpy()),
            _column("area_m2", "面积 Area", frame.get("area_m2", frame.geometry.area), "area"),
        ]
        for extra, elabel in (("break_min", "时间 Minutes"), ("radius_min", "半径 Minutes")):
            if extra in frame.columns:
                cols.append(_column(extra, elabel, frame[extra].to_numpy(), "num"))
        b.add(
            frame,
            id=attr,
            label=label,
            kind="polygon",
            pane="fp-logistics",
            styles=styles,
            style=np.array([keys.index(k) for k in cl]),
            cols=cols,
            tip=["cluster"],
            group="logistics",
            swatch=styles[0]["stroke"],
        )
    assignment = getattr(logistics, "supplier_assignment", None) if logistics else None
    suppliers = _in_crs(assignment, crs, "supplier_assignment")
    if suppliers is None:
        suppliers = _in_crs(layers.get("suppliers"), crs, "suppliers")
    if suppliers is not None:
        suppliers = _points(suppliers)
        cl = (
            suppliers["cluster"]
            if "cluster" in suppliers.columns
            else pd.Series([None] * len(suppliers))
        )
        keys = [None, *dict.fromkeys(str(c) for c in cl if not _blank(c))]
        styles = [_style("#9e9e9e", "#555555", fo=0.9, sw=1, radius=4)] + [
            _style(colour(k), "#333333", fo=0.9, sw=1, radius=4) for k in keys[1:]
        ]
        ids = (
            suppliers["id"]
            if "id" in suppliers.columns
            else suppliers.get("source_id", suppliers.index)
        )
        cols = [
            _column("id", "企业编号 Supplier id", ids.to_numpy()),
            _column("cluster", "配套集群 Assigned cluster", cl.to_numpy()),
        ]
        if "travel_min" in suppliers.columns:
            cols.append(
                _column(
                    "travel_min", "行程时间(分钟) Travel minutes", suppliers["travel_min"], "num"
                )
            )
        b.add(
            suppliers,
            id="suppliers",
            label="配套企业 Suppliers",
            kind="point",
            pane="fp-points",
            styles=styles,
            style=np.array([0 if _blank(c) else keys.index(str(c)) for c in cl]),
            cols=cols,
            tip=["id", "cluster"],
            group="logistics",
            cluster=True,
            swatch="#9e9e9e",
        )
        items.append({"label": "配套企业 Suppliers（按集群着色 by cluster）", "fill": "#9e9e9e"})
    if clusters is not None:
        pts = _points(clusters)
        cols = [_column("source_id", "产业集群 Cluster", names)]
        if "industry" in pts.columns:
            cols.append(_column("industry", "产业 Industry", pts["industry"].to_numpy()))
        b.add(
            pts,
            id="clusters",
            label="产业集群核心 Cluster cores",
            kind="point",
            pane="fp-points",
            styles=[_style(colour(n), "#000000", fo=1, sw=2.5, radius=9) for n in names],
            style=np.arange(len(names)),
            cols=cols,
            tip=["source_id", "industry"],
            show=True,
            group="logistics",
            swatch="#000000",
        )
        items.append(
            {"label": "产业集群核心 Cluster cores", "fill": "#ffffff", "stroke": "#000000"}
        )
        for n in names:
            items.append({"label": f"集群 Cluster {n}", "fill": colour(n), "stroke": colour(n)})
    centres = _in_crs(layers.get("centres"), crs, "centres")
    if centres is not None:
        centres = _points(centres)
        cols = [
            _column(
                "source_id", "城镇中心 Centre", centres.get("source_id", centres.index).to_numpy()
            )
        ]
        if "level" in centres.columns:
            cols.append(_column("level", "等级 Level", centres["level"].to_numpy()))
        b.add(
            centres,
            id="centres",
            label="城镇中心 City and county centres",
            kind="point",
            pane="fp-points",
            styles=[_style("#ffd700", "#7a0000", fo=1, sw=3, radius=7)],
            cols=cols,
            tip=["source_id", "level"],
            show=True,
            group="logistics",
            swatch="#ffd700",
        )
        items.append(
            {"label": "城镇中心 City and county centres", "fill": "#ffd700", "stroke": "#7a0000"}
        )
    return items


def _district_bounds(
    layers: Mapping[str, gpd.GeoDataFrame], conflicts: gpd.GeoDataFrame | None, crs: Any
) -> list[dict[str, Any]]:
    """District name → lat/lon bounds, from the districts layer, else from the conflicts."""
    districts = _in_crs(layers.get("districts"), crs, "districts")
    if districts is not None:
        names = districts.get("source_id", districts.index).astype(str)
        geoms = districts.geometry
    elif conflicts is not None and "district" in conflicts.columns:
        grouped = conflicts.dropna(subset=["district"]).dissolve("district")
        names, geoms = grouped.index.astype(str), grouped.geometry
    else:
        return []
    ll = gpd.GeoSeries(geoms.to_numpy(), crs=crs).to_crs(4326).bounds.to_numpy()
    return [
        {"name": n, "bounds": [[b[1], b[0]], [b[3], b[2]]]}
        for n, b in zip(names, ll, strict=True)
        if np.isfinite(b).all()
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json(payload: Any) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``<``, ``>``, ``&``)."""
    text = json.dumps(
        payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_plain
    )
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, rep)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


class _ConflictLayers(MacroElement):
    """The payload (a JSON data element) and the call that builds the layers.

    Rendered as raw text (:class:`~fiveplans.maps.offline.Raw`): branca would otherwise compile
    a macro's output as a Jinja template — slow for megabytes of data, and ``{{`` in an
    attribute would be read as template code.
    """

    def __init__(self, payload: str) -> None:
        super().__init__()
        self._name = "FiveplansConflictLayers"
        root = resources.files("fiveplans.maps") / "js"
        self.js = _script_text((root / "conflict_map.js").read_text(encoding="utf-8"))
        self.css = _script_text((root / "conflict_map.css").read_text(encoding="utf-8"))
        self.payload = payload

    def render(self, **kwargs: Any) -> None:
        figure = self.get_root()
        name = self.get_name()
        map_name = self._parent.get_name()
        figure.header.add_child(
            Raw(f"<style>{self.css}</style>\n<script>{self.js}</script>"), name=f"{name}_js"
        )
        figure.html.add_child(
            Raw(f'<script type="application/json" id="{name}_data">{self.payload}</script>'),
            name=f"{name}_data",
        )
        figure.script.add_child(
            Raw(
                "(function () {\n"
                "  var t0 = window.performance ? performance.now() : 0;\n"
                f'  var data = document.getElementById("{name}_data");\n'
                "  var payload = JSON.parse(data.textContent);\n"
                "  data.textContent = '';  // free the text: the parsed payload is kept\n"
                f"  var fp = fiveplansConflictMap({map_name}, payload);\n"
                "  fp.timings.parse = t0;\n"
                "})();"
            ),
            name=f"{name}_call",
        )


def _script_text(text: str) -> str:
    return text.replace("</", "<\\/")


def conflict_map(
    pilot: Any,
    conflicts: gpd.GeoDataFrame | None,
    zones: gpd.GeoDataFrame | None = None,
    logistics: Any = None,
    ledger: pd.DataFrame | str | os.PathLike[str] | None = None,
    *,
    patches: gpd.GeoDataFrame | None = None,
    online: bool = False,
    basemap: Literal["none", "osm", "tianditu", "gaode"] = "none",
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    plans: tuple[str, ...] | None = None,
    show_plans: tuple[str, ...] = ("land_use",),
    swipe: tuple[str, str] | None = None,
    title: str | None = None,
    height: str = "100%",
) -> folium.Map:
    """The interactive conflict map (冲突分析图) of a pilot.

    Parameters
    ----------
    pilot
        A :class:`fiveplans.Pilot` (or a mapping of layer key to GeoDataFrame with the legend
        columns).
    conflicts
        The pairs of :func:`fiveplans.analysis.find_conflicts` (drawn when ``patches`` is not
        given), one layer per type.
    zones
        Of :func:`fiveplans.analysis.assign_zones` (``zone`` column).
    logistics
        The run's ``Logistics`` (service areas, catchments, supplier assignment); optional.
    ledger
        The ledger (DataFrame or ``tables.xlsx``/ledger path): conflicts with a decision
        (调整类型) are drawn hatched and paler with a dashed outline, and the popup says which.
    patches
        The conflict patches (冲突图斑, :func:`fiveplans.analysis.conflict_patches`), the
        ledger's unit: drawn instead of the pairs when given.
    online
        Link Leaflet and the plugins from a CDN instead of inlining them.
    basemap
        ``"none"`` (default: the pilot's roads and water as a muted base, works offline),
        ``"osm"``, ``"tianditu"`` (key from the environment variable
        ``FIVEPLANS_TIANDITU_KEY``) or ``"gaode"`` — for Gaode every overlay is shifted into
        GCJ-02 so it lines up with the tiles; the legend says which.
    tolerance_m
        Simplification tolerance in metres (0 keeps every vertex).
    plans
        The plan keys drawn (default: every one of :data:`PLAN_KEYS` present).
    show_plans
        The plans shown at start (the others are one click away in the layer control).
    swipe
        Two plan keys, e.g. ``("land_use", "urban")``: the map opens with the side-by-side swipe
        between them (left, right); any two plans can be swiped from the map's 卷帘对比 control.
    title
        Map title (default: the pilot's name + 冲突分析图).
    height
        CSS height of the map.

    Returns
    -------
    folium.Map
        Save it with :func:`save_map` (or ``m.save(path)``).
    """
    if basemap not in BASEMAPS:
        raise ConfigError(
            f"未知底图 {basemap!r} — unknown basemap. 解决 Fix: choose one of {', '.join(BASEMAPS)}"
        )
    layers, crs, name = _layers_of(pilot)
    if pyproj.CRS(crs).is_geographic:
        raise DataError(
            "工作坐标系须为投影坐标系(米) — the working CRS is geographic; simplification is in "
            "metres. 解决 Fix: load the pilot (fp.load_pilot) or to_crs a projected CRS"
        )
    b = _Builder(crs, tolerance_m=tolerance_m, gcj02=basemap == "gaode")
    legend: list[dict[str, Any]] = []

    # base: the pilot's water and roads, muted
    water_src = layers.get("current")
    if water_src is None or "legend" not in water_src.columns:
        water_src = layers.get("land_use")
    water = _in_crs(water_src, crs, "water")
    if water is not None and "legend" in water.columns:
        water = water.loc[
            (water["legend"] == "water") & water.geom_type.isin(["Polygon", "MultiPolygon"])
        ]
        if len(water):
            b.add(
                water,
                id="base_water",
                label="底图·水系 Base: water",
                kind="polygon",
                pane="fp-base",
                styles=[_style("#d3e6f3", "#b5d3ea", fo=1, sw=0.5)],
                show=basemap == "none",
                interactive=False,
                group="base",
            )
    roads = _in_crs(layers.get("roads"), crs, "roads")
    if roads is not None:
        roads = roads.loc[roads.geom_type.isin(["LineString", "MultiLineString"])]
        if len(roads):
            b.add(
                roads,
                id="base_roads",
                label="底图·道路 Base: roads",
                kind="line",
                pane="fp-base",
                styles=[_style(None, "#a8a8a8", sw=1.0)],
                show=basemap == "none",
                interactive=False,
                group="base",
            )

    # plans
    wanted = plans if plans is not None else PLAN_KEYS
    classes: set[tuple[str, str | None]] = set()
    for key in wanted:
        frame = _in_crs(layers.get(key), crs, key)
        if frame is None:
            continue
        classes |= _plan_layer(b, key, frame, key in show_plans)
    order = [(lg, None) for lg in palette.LEGEND_COLOURS if lg != "construction"]
    order[2:2] = [("construction", u) for u in palette.USE_COLOURS] + [("construction", None)]
    plan_items = [
        {
            "label": palette.class_label(lg, u),
            "fill": palette.feature_colour(lg, u),
            "stroke": "#6e6e6e",
        }
        for lg, u in order
        if (lg, u) in classes
    ]

    # zones
    zone_frame = _in_crs(zones, crs, "zones")
    zone_items = []
    if zone_frame is not None and "zone" in zone_frame.columns:
        keys = [z for z in palette.ZONE_COLOURS if (zone_frame["zone"] == z).any()]
        zone_frame = zone_frame.loc[zone_frame["zone"].isin(keys)]
        styles = [
            _style(palette.ZONE_COLOURS[z], palette.ZONE_COLOURS[z], fo=0.18, sw=2) for z in keys
        ]
        b.add(
            zone_frame,
            id="zones",
            label="三区 Zones (建成区·发展区·控制区)",
            kind="polygon",
            pane="fp-zones",
            styles=styles,
            style=np.array([keys.index(z) for z in zone_frame["zone"]]),
            cols=[
                _column("zone", "分区 Zone", [palette.ZONE_LABELS[z] for z in zone_frame["zone"]]),
                _column(
                    "area_m2",
                    "面积 Area",
                    zone_frame.get("area_m2", zone_frame.geometry.area),
                    "area",
                ),
            ],
            tip=["zone"],
            group="zones",
            swatch=palette.ZONE_COLOURS["built"],
        )
        zone_items = [
            {
                "label": palette.ZONE_LABELS[z],
                "fill": palette.ZONE_COLOURS[z],
                "stroke": palette.ZONE_COLOURS[z],
            }
            for z in keys
        ]

    logistics_items = _logistics_layers(b, layers, logistics, crs)

    districts = _in_crs(layers.get("districts"), crs, "districts")
    if districts is not None:
        districts = districts.loc[districts.geom_type.isin(["Polygon", "MultiPolygon"])]
        b.add(
            districts,
            id="districts",
            label="行政区 Districts",
            kind="polygon",
            pane="fp-outline",
            styles=[_style(None, "#555555", fo=0, sw=1.2, dash=[2, 4])],
            cols=[
                _column(
                    "source_id",
                    "区县/乡镇 District",
                    districts.get("source_id", districts.index).to_numpy(),
                )
            ],
            tip=["source_id"],
            show=True,
            group="outline",
        )

    # conflicts (or patches) on top
    drawn = _in_crs(patches if patches is not None else conflicts, crs, "conflicts")
    by_patch, by_pair = _decisions(ledger)
    conflict_items: list[dict[str, Any]] = []
    n_conflicts, area_conflicts = 0, 0.0
    if drawn is not None:
        drawn = drawn.loc[drawn.geom_type.isin(["Polygon", "MultiPolygon"])]
        conflict_items = _conflict_layers(
            b, drawn, patches=patches is not None, by_patch=by_patch, by_pair=by_pair
        )
        n_conflicts = len(drawn)
        area_conflicts = (
            float(drawn["area_m2"].sum()) if "area_m2" in drawn.columns else float(drawn.area.sum())
        )

    boundary = _in_crs(layers.get("boundary"), crs, "boundary")
    if boundary is not None:
        outline = gpd.GeoDataFrame(geometry=boundary.geometry.boundary, crs=crs)
        b.add(
            outline,
            id="boundary",
            label="规划范围 Planning boundary",
            kind="line",
            pane="fp-boundary",
            styles=[_style(None, "#000000", sw=2.2, dash=[8, 4])],
            show=True,
            interactive=False,
            group="outline",
        )
        extent = boundary
    else:
        extent = (
            drawn
            if drawn is not None and len(drawn)
            else next(
                (g for g in (_in_crs(f, crs, k) for k, f in layers.items()) if g is not None), None
            )
        )
    if extent is None:
        raise DataError(
            "没有可绘制的图层 — nothing to draw: no boundary, conflicts or layers. "
            "解决 Fix: pass a loaded pilot"
        )
    x0, y0, x1, y1 = gpd.GeoSeries(extent.geometry.to_numpy(), crs=crs).to_crs(4326).total_bounds
    if basemap == "gaode":
        (x0, x1), (y0, y1) = wgs84_to_gcj02(np.array([x0, x1]), np.array([y0, y1]))
        x0, x1, y0, y1 = float(x0), float(x1), float(y0), float(y1)

    if conflict_items:
        legend.append({"title": "冲突类型 Conflict types", "items": conflict_items})
    if plan_items:
        legend.append({"title": "规划用地 Plan land use", "items": plan_items})
    if zone_items:
        legend.append({"title": "三区 Zones", "items": zone_items})
    if logistics_items:
        legend.append({"title": "物流 Logistics", "items": logistics_items})

    tiles, tiles_label, note = (
        None,
        None,
        (
            "底图 无（试点道路与水系，离线可用） — basemap none: the pilot's own roads and water, works offline"
        ),
    )
    if basemap != "none":
        tiles_label, tiles, note = _TILES[basemap]
        tiles = [dict(t) for t in tiles]
        if basemap == "tianditu":
            key = os.environ.get(TIANDITU_ENV, "").strip()
            if not key:
                raise ConfigError(
                    f"缺少天地图密钥 — the Tianditu basemap needs a key. 解决 Fix: set the "
                    f"environment variable {TIANDITU_ENV} (a browser key from "
                    "console.tianditu.gov.cn), or use basemap='osm'/'gaode'/'none'"
                )
            t = tiles[0]
            tiles = [
                {**t, "url": t["url"].replace("{layer}", lay).replace("{key}", key)}
                for lay in t.pop("layers")
            ]
    if patches is not None:  # patches of one type do not overlap: their areas add up
        subtitle = (
            f"{n_conflicts} 处冲突图斑 conflict patches · {area_conflicts / 1e4:,.2f} 公顷 ha · "
            f"{area_conflicts / (1e4 / 15):,.1f} 亩 mu"
        )
    else:  # pairs of one type overlap (two plans on the same land): no total area
        subtitle = f"{n_conflicts} 对冲突 conflict pairs（同类可重叠 pairs may overlap）"
    payload = {
        "title": title or f"{name} 冲突分析图",
        "subtitle": subtitle,
        "q": COORD_QUANTUM_M,
        "bounds": [[y0, x0], [y1, x1]],
        "panes": _PANES,
        "labels": _LABELS,
        "layers": b.specs,
        "legend": legend,
        "notes": [
            note,
            f"坐标系 CRS {pyproj.CRS(crs).to_string()} → Web Mercator；简化容差 simplification "
            f"{tolerance_m:g} m，坐标精度 precision {COORD_QUANTUM_M:g} m",
        ],
        "search": b.search,
        "districts": _district_bounds(layers, conflicts, crs),
        "tiles": tiles,
        "tiles_label": tiles_label,
        "collapsed_layers": True,
        "swipe_start": None,
    }
    if swipe is not None:
        present = {spec["id"] for spec in b.specs if spec.get("swipe")}
        ids = [f"plan_{k}" for k in swipe]
        if len(ids) != 2 or not set(ids) <= present:
            raise ConfigError(
                f"卷帘需要两个已绘制的规划 — swipe={swipe!r} needs two plans drawn on the map. "
                f"解决 Fix: choose two of {', '.join(sorted(p[5:] for p in present))}"
            )
        payload["swipe_start"] = ids
    m = folium.Map(
        location=[(y0 + y1) / 2, (x0 + x1) / 2],
        zoom_start=13,
        tiles=None,
        control_scale=False,
        prefer_canvas=False,
        height=height,
    )
    m.get_root().title = html.escape(payload["title"])
    make_offline(
        m,
        assets=("markercluster", "fullscreen", "polylinemeasure", "search", "sidebyside"),
        online=online,
    )
    m.add_child(_ConflictLayers(_json(payload)), name="fiveplans_conflicts")
    m.get_root().header.add_child(
        Raw('<meta name="generator" content="fiveplans conflict map"/>'), name="fp_meta"
    )
    m.fiveplans_stats = {  # type: ignore[attr-defined]
        "layers": {s["id"]: s["n"] for s in b.specs},
        "basemap": basemap,
    }
    return m


def save_map(m: folium.Map, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Write a map as one self-contained HTML file, atomically (temporary file, then rename).

    Parameters
    ----------
    m
        From :func:`conflict_map` (any folium map works; see
        :func:`fiveplans.maps.offline.make_offline` to make others offline).
    path
        Target ``.html``.
    overwrite
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    text = m.get_root().render()
    dest = Path(path)
    with atomic_path(dest, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    logger.info("map written: %s (%.1f MB)", dest, dest.stat().st_size / 1e6)
    return dest
