"""Conflict detection between the five plans (冲突检测, 五规合一).

:func:`find_conflicts` finds, inside the planning boundary (规划范围), the pieces of land where
the plans disagree (contract §5):

=========================  ==========================================================
type                       definition (construction = polygons with legend construction)
=========================  ==========================================================
farmland_construction      construction of any plan (cluster, urban, land_use,
                           infrastructure) ∩ permanent basic farmland (永久基本农田)
ecology_construction       construction of any plan ∩ ecological land (生态保护红线/生态空间)
plan_mismatch              cluster or urban construction outside land-use construction,
                           and land-use construction outside cluster or urban construction
use_mismatch               cluster construction ∩ urban construction with different ``use``
corridor_construction      construction of cluster, urban, land_use ∩ an infrastructure
                           corridor's protection width (走廊控制宽度)
=========================  ==========================================================

One row per piece (a pair of source features); within one type pieces of different plans can
overlap, so :func:`summarize_conflicts` reports the area of their union. Also here: the
four-quadrant comparison of a city plan with the land-use plan (:func:`four_quadrants`, 四象限)
and per-parcel containment tags (:func:`containment_tags`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from fiveplans.analysis import overlay
from fiveplans.config import LAYER_NAMES_ZH
from fiveplans.errors import CRSError, DataError
from fiveplans.layers.legend import code_table

__all__ = [
    "COLUMNS",
    "CONFLICT_TYPES",
    "CONSTRUCTION_PLANS",
    "PLANS",
    "QUADRANTS",
    "TOTAL",
    "TYPE_LABELS",
    "containment_tags",
    "find_conflicts",
    "four_quadrants",
    "summarize_conflicts",
]

logger = logging.getLogger(__name__)

PLANS = ("cluster", "land_use", "urban", "ecology", "infrastructure")
"""The five plans (五规); ``current`` (现状) is not a plan."""
CONSTRUCTION_PLANS = ("cluster", "urban", "land_use", "infrastructure")
CITY_PLANS = ("cluster", "urban")
CORRIDOR_PLANS = ("cluster", "urban", "land_use")
CONFLICT_TYPES = (
    "farmland_construction",
    "ecology_construction",
    "plan_mismatch",
    "use_mismatch",
    "corridor_construction",
)
TYPE_PREFIX = {
    "farmland_construction": "FC",
    "ecology_construction": "EC",
    "plan_mismatch": "PM",
    "use_mismatch": "UM",
    "corridor_construction": "CC",
}
TYPE_LABELS = {
    "farmland_construction": "建设用地占用永久基本农田",
    "ecology_construction": "建设用地占用生态保护空间",
    "plan_mismatch": "规划建设用地不一致",
    "use_mismatch": "建设用地用途不一致",
    "corridor_construction": "建设用地占用基础设施廊道",
}
"""Chinese labels of the conflict types (for tables and maps)."""
COLUMNS = [
    "conflict_id",
    "type",
    "area_m2",
    "plan_a",
    "plan_b",
    "source_a",
    "source_b",
    "legend_a",
    "legend_b",
    "code_a",
    "code_b",
    "use_a",
    "use_b",
    "area_ha",
    "area_mu",
    "ellipsoidal_area_m2",
    "lon",
    "lat",
    "district",
]
"""Columns of the conflicts table, in order (then ``geometry``)."""
LEGEND_COLUMNS = ("source_id", "source_code", "legend", "use")
_LINES = ("LineString", "MultiLineString", "LinearRing")
_HASH_CHARS = 12


# --------------------------------------------------------------------------- inputs


def _full(n: int, value: object) -> np.ndarray:
    """An object array of *n* references to one value (``np.full`` would copy a str n times)."""
    out = np.empty(n, dtype=object)
    out[:] = [value] * n if n else []
    return out


@dataclass
class _Features:
    """Cleaned polygons of one plan with their legend attributes (plain arrays)."""

    plan: str
    geoms: np.ndarray
    sid: np.ndarray
    code: np.ndarray
    legend: np.ndarray
    use: np.ndarray
    plans: np.ndarray | None = None  # per feature, when gathered from several plans

    def __len__(self) -> int:
        return len(self.geoms)

    def take(self, mask: np.ndarray) -> _Features:
        return _Features(
            self.plan,
            self.geoms[mask],
            self.sid[mask],
            self.code[mask],
            self.legend[mask],
            self.use[mask],
            None if self.plans is None else self.plans[mask],
        )

    def plan_of(self) -> np.ndarray:
        """The plan of each feature."""
        if self.plans is not None:
            return self.plans
        return _full(len(self), self.plan)

    def rank(self) -> np.ndarray:
        """A canonical order of the features, independent of row order."""
        if len(self) == 0:
            return np.empty(0, dtype=np.intp)
        b = shapely.bounds(self.geoms)
        order = np.lexsort((shapely.area(self.geoms), b[:, 1], b[:, 0], self.sid.astype(str)))
        rank = np.empty(len(order), dtype=np.intp)
        rank[order] = np.arange(len(order))
        return rank


def _concat(parts: list[_Features], plan: str = "*") -> _Features:
    if not parts:
        e = np.empty(0, dtype=object)
        return _Features(plan, e, e.copy(), e.copy(), e.copy(), e.copy())
    return _Features(
        plan,
        np.concatenate([p.geoms for p in parts]),
        np.concatenate([p.sid for p in parts]),
        np.concatenate([p.code for p in parts]),
        np.concatenate([p.legend for p in parts]),
        np.concatenate([p.use for p in parts]),
        np.concatenate([p.plan_of() for p in parts]),
    )


def _text(values: pd.Series) -> np.ndarray:
    """Values as str, missing as None (object array)."""
    out = values.astype(object).to_numpy(copy=True)
    missing = pd.isna(values).to_numpy()
    if pd.api.types.infer_dtype(out, skipna=True) not in ("string", "empty"):
        out[~missing] = [str(v) for v in out[~missing]]
    out[missing] = None
    return out


def _check_crs(layers: Mapping[str, gpd.GeoDataFrame], keys: Iterable[str]) -> pyproj.CRS:
    """The one projected metre CRS of the given layers, or a CRSError naming the culprits."""
    crs: pyproj.CRS | None = None
    first = ""
    for key in keys:
        gdf = layers[key]
        if gdf.crs is None:
            raise CRSError(
                f"layer {key!r} has no CRS: conflicts need every layer in one projected CRS. "
                f"Fix: set it (gdf.set_crs(...)) or load the layers with fiveplans.load_pilot"
            )
        this = pyproj.CRS(gdf.crs)
        if this.is_geographic or not this.is_projected:
            raise CRSError(
                f"layer {key!r} is in a geographic CRS ({this.to_string()}): areas cannot be "
                "computed in degrees. Fix: reproject every layer to the pilot's projected "
                "working CRS, e.g. gdf.to_crs('EPSG:4547') (CGCS2000 3-degree zone 38)"
            )
        unit = this.axis_info[0].unit_name if this.axis_info else ""
        if unit not in ("metre", "meter", "m"):
            raise CRSError(
                f"layer {key!r} is in {this.to_string()} with units {unit!r}: areas are in m². "
                "Fix: reproject to a metre CRS (e.g. EPSG:4547)"
            )
        if crs is None:
            crs, first = this, key
        elif not crs.equals(this):
            raise CRSError(
                f"layers {first!r} ({crs.to_string()}) and {key!r} ({this.to_string()}) are in "
                f"different CRSs. Fix: reproject {key!r} with gdf.to_crs({crs.to_string()!r}) "
                "(fiveplans.load_pilot does this for every layer)"
            )
    if crs is None:
        raise CRSError("no layers to analyse: give at least the boundary and two plans")
    return crs


def _check_columns(layers: Mapping[str, gpd.GeoDataFrame], keys: Iterable[str]) -> None:
    for key in keys:
        gdf = layers[key]
        if not isinstance(gdf, gpd.GeoDataFrame):
            raise DataError(
                f"layer {key!r} is a {type(gdf).__name__}, not a GeoDataFrame. "
                "Fix: pass GeoDataFrames (fiveplans.load_pilot(...).layers)"
            )
        missing = [c for c in LEGEND_COLUMNS if c not in gdf.columns]
        if missing:
            raise DataError(
                f"layer {key!r} lacks the legend column(s) {', '.join(missing)} "
                f"(needed: {', '.join(LEGEND_COLUMNS)}; it has: {', '.join(map(str, gdf.columns))}). "
                "Fix: load it with fiveplans.load_pilot, or add them with "
                "fiveplans.layers.legend.apply_legend"
            )


def _features(plan: str, gdf: gpd.GeoDataFrame, grid_size: float) -> _Features:
    geoms = overlay.clean_polygons(gdf.geometry.to_numpy(), grid_size=grid_size)
    keep = np.not_equal(geoms, None)
    f = _Features(
        plan,
        geoms,
        _text(gdf["source_id"]),
        _text(gdf["source_code"]),
        _text(gdf["legend"]),
        _text(gdf["use"]),
    )
    return f.take(keep)


def _clip(f: _Features, boundary: shapely.Geometry, grid_size: float, snap: bool) -> _Features:
    """Features cut to the boundary (those outside dropped)."""
    if len(f) == 0:
        return f
    shapely.prepare(boundary)
    inside = shapely.covers(boundary, f.geoms)
    meets = shapely.intersects(boundary, f.geoms)
    cross = meets & ~inside
    geoms = f.geoms.copy()
    if cross.any():
        n = int(cross.sum())
        cut = overlay._robust(
            shapely.intersection, geoms[cross], np.full(n, boundary, dtype=object), grid_size, snap
        )
        geoms[cross] = overlay.polygonal(cut)
    out = _Features(f.plan, geoms, f.sid, f.code, f.legend, f.use)
    keep = meets & np.not_equal(geoms, None)
    keep[keep] &= shapely.area(geoms[keep]) > 0
    return out.take(keep)


def _boundary(layers: Mapping[str, gpd.GeoDataFrame], buffer_m: float, grid_size: float):
    if "boundary" not in layers:
        raise DataError(
            "no 'boundary' layer: conflicts are sought inside the planning boundary (规划范围). "
            f"Fix: add layers['boundary'] (have: {', '.join(layers)})"
        )
    geoms = overlay.clean_polygons(layers["boundary"].geometry.to_numpy(), grid_size=grid_size)
    b = overlay.union_all(geoms, grid_size=grid_size)
    if b.is_empty:
        raise DataError(
            "the 'boundary' layer has no polygon with area. Fix: give the planning boundary "
            "(规划范围) as polygons"
        )
    if buffer_m:
        b = overlay.clean_polygons([shapely.buffer(b, buffer_m)], grid_size=grid_size)[0]
    return b


def _corridors(inf: gpd.GeoDataFrame, grid_size: float, notes: list[str]) -> _Features:
    """Protection strips of the infrastructure plan's corridor lines (width/2 each side)."""
    lines = inf[inf.geometry.geom_type.isin(_LINES).to_numpy()]
    if lines.empty:
        return _concat([], "infrastructure")
    table = code_table("infrastructure").set_index("code")["corridor_width_m"]
    codes = _text(lines["source_code"])
    width = np.array([table.get(c, np.nan) if c is not None else np.nan for c in codes], float)
    if "corridor_width_m" in lines.columns:
        own = pd.to_numeric(lines["corridor_width_m"], errors="coerce").to_numpy(float)
        width = np.where(np.isfinite(own) & (own > 0), own, width)
    ok = np.isfinite(width) & (width > 0)
    if (~ok).any():
        bad = sorted({str(c) for c in codes[~ok]})
        msg = (
            f"infrastructure: {int((~ok).sum())} line(s) with code(s) {', '.join(bad)} have no "
            "corridor width (corridor_width_m in the infrastructure code table or a "
            "corridor_width_m column) and were not checked"
        )
        logger.warning(msg)
        notes.append(msg)
    strips = shapely.buffer(lines.geometry.to_numpy()[ok], width[ok] / 2.0)
    f = _Features(
        "infrastructure",
        overlay.clean_polygons(strips, grid_size=grid_size),
        _text(lines["source_id"])[ok],
        codes[ok],
        _text(lines["legend"])[ok],
        _text(lines["use"])[ok],
    )
    return f.take(np.not_equal(f.geoms, None))


# --------------------------------------------------------------------------- pieces


@dataclass
class _Pieces:
    type: str
    a: _Features
    b: _Features | None  # None: nothing on side b (plan_b still named)
    plan_b: str
    ia: np.ndarray
    ib: np.ndarray | None
    geoms: np.ndarray
    area: np.ndarray
    centroid: np.ndarray | None = None  # (n, 2), NaN where not known
    inside: np.ndarray | None = None  # centroid certified inside the piece

    def take(self, mask: np.ndarray) -> _Pieces:
        return _Pieces(
            self.type,
            self.a,
            self.b,
            self.plan_b,
            self.ia[mask],
            None if self.ib is None else self.ib[mask],
            self.geoms[mask],
            self.area[mask],
            None if self.centroid is None else self.centroid[mask],
            None if self.inside is None else self.inside[mask],
        )

    def centroids(self) -> tuple[np.ndarray, np.ndarray]:
        """Known centroids (NaN where not known) and whether each is certified inside."""
        if self.centroid is None or self.inside is None:
            return np.full((len(self.ia), 2), np.nan), np.zeros(len(self.ia), dtype=bool)
        return self.centroid, self.inside


def _pairs(t: str, a: _Features, b: _Features, opts: dict, *, tree=None, keep_pair=None) -> _Pieces:
    ia, ib, g, area, xy, inside = overlay.intersect_pairs(
        a.geoms, b.geoms, tree=tree, keep_pair=keep_pair, with_centroids=True, **opts
    )
    return _Pieces(t, a, b, b.plan, ia, ib, g, area, xy, inside)


def _mismatch(a: _Features, b_all: _Features, opts: dict) -> list[_Pieces]:
    """Pieces of a's construction outside b's construction, split by what b says there."""
    b_con = b_all.take(b_all.legend == "construction")
    rest = overlay.subtract_each(a.geoms, b_con.geoms, rank=b_con.rank(), **opts)
    has = np.not_equal(rest, None)
    idx = np.flatnonzero(has)
    d = _Features(a.plan, rest[has], a.sid[has], a.code[has], a.legend[has], a.use[has])
    b_other = b_all.take(b_all.legend != "construction")
    out = []
    if len(d) and len(b_other):
        ia, ib, g, area = overlay.intersect_pairs(d.geoms, b_other.geoms, **opts)
        out.append(_Pieces("plan_mismatch", a, b_other, b_all.plan, idx[ia], ib, g, area))
    if len(d):
        left = overlay.subtract_each(d.geoms, b_other.geoms, rank=b_other.rank(), **opts)
        keep = np.not_equal(left, None)
        g = left[keep]
        out.append(
            _Pieces("plan_mismatch", a, None, b_all.plan, idx[keep], None, g, shapely.area(g))
        )
    return out


def _mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (uint64 arithmetic wraps)."""
    h = h.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return h


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _id_text(t: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``"<type prefix>-<first 12 hex digits of h>"`` per row (``t``: index in CONFLICT_TYPES)."""
    prefixes = np.array(
        [list(TYPE_PREFIX[x].encode("ascii")) for x in CONFLICT_TYPES], dtype=np.uint8
    )
    chars = np.empty((len(h), 3 + _HASH_CHARS), dtype=np.uint8)
    chars[:, :2] = prefixes[t]
    chars[:, 2] = ord("-")
    for k in range(_HASH_CHARS):  # one digit at a time: no (n, 12) temporaries
        chars[:, 3 + k] = _HEX[((h >> np.uint64(60 - 4 * k)) & np.uint64(0xF)).astype(np.intp)]
    return chars.view(f"S{3 + _HASH_CHARS}").ravel().astype(str).astype(object)


def _unique(ids: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Suffix repeated ids -2, -3, … in row order (pairs of features with repeated source ids).

    ``code`` is one integer per id, equal exactly when the ids are (checked cheaply first).
    """
    order = np.argsort(code, kind="stable")
    repeated = np.zeros(len(code), dtype=bool)
    same = code[order][1:] == code[order][:-1]
    if not same.any():
        return ids
    repeated[order[1:][same]] = True
    repeated[order[:-1][same]] = True
    out = ids.copy()
    seen: dict[str, int] = {}
    for i in np.flatnonzero(repeated):
        v = ids[i]
        seen[v] = seen.get(v, 0) + 1
        if seen[v] > 1:
            out[i] = f"{v}-{seen[v]}"
    return out


class _Keys:
    """Sort ranks and id hashes of ``(plan, source_id)`` per feature, shared by all pieces.

    Ranks order features by plan then source id as strings (missing ids as ""); hashes
    use pandas' fixed-key SipHash, so they are the same across runs, machines and row
    orders.
    """

    def __init__(self, pieces: list[_Pieces]) -> None:
        sides: dict[int, _Features] = {}
        for p in pieces:
            sides[id(p.a)] = p.a
            if p.b is not None:
                sides[id(p.b)] = p.b
        self._start: dict[int, int] = {}
        texts: list[np.ndarray] = []
        n = 0
        for key, f in sides.items():
            self._start[key] = n
            sid = np.where(pd.isna(f.sid), "", f.sid).astype(str)
            plan = f.plan_of().astype(str)
            texts.append(np.char.add(np.char.add(plan, "\x1f"), sid))
            n += len(f)
        nobody = sorted({p.plan_b for p in pieces if p.b is None})
        self._nobody = {plan: n + i for i, plan in enumerate(nobody)}
        texts.append(np.array([f"{plan}\x1f" for plan in nobody], dtype=str))
        text = np.concatenate(texts).astype(object)
        codes, uniques = pd.factorize(text, sort=True)
        self.rank = codes.astype(np.int64)
        self.count = max(1, len(uniques))
        self.hash = pd.util.hash_array(text, categorize=False)

    def a(self, p: _Pieces) -> np.ndarray:
        return self._start[id(p.a)] + p.ia

    def b(self, p: _Pieces) -> np.ndarray:
        if p.b is None or p.ib is None:
            return np.full(len(p.ia), self._nobody[p.plan_b], dtype=np.int64)
        return self._start[id(p.b)] + p.ib


def _table(
    pieces: list[_Pieces], crs: pyproj.CRS, threads: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The conflict columns (plain arrays, sorted rows) and the pieces, in the same order.

    Rows are sorted by type, then plan and source id of side a, then of side b (as strings),
    then area; ``conflict_id`` hashes the type and the two ``(plan, source_id)`` pairs, so it
    is stable across reruns and input row orders.
    """
    keys = _Keys(pieces)
    type_rank = {t: i for i, t in enumerate(CONFLICT_TYPES)}
    fa = np.concatenate([keys.a(p) for p in pieces])
    fb = np.concatenate([keys.b(p) for p in pieces])
    t = np.concatenate([np.full(len(p.ia), type_rank[p.type], dtype=np.int64) for p in pieces])
    area = np.concatenate([p.area for p in pieces])
    compact = (t * keys.count + keys.rank[fa]) * keys.count + keys.rank[fb]
    order = np.argsort(compact, kind="stable")
    if (compact[order][1:] == compact[order][:-1]).any():  # repeated source ids: then by area
        order = np.lexsort((area, compact))
    fa, fb, t, area = fa[order], fb[order], t[order], area[order]
    type_hash = pd.util.hash_array(np.array(CONFLICT_TYPES, dtype=object), categorize=False)
    with np.errstate(over="ignore"):
        h = _mix64(_mix64(type_hash[t] ^ keys.hash[fa]) + keys.hash[fb] * np.uint64(3))

    def column(get) -> np.ndarray:
        if len(pieces) == 1:  # no concatenated copy
            return get(pieces[0])[order]
        return np.concatenate([get(p) for p in pieces])[order]

    def side_b(attr: str):
        def get(p: _Pieces) -> np.ndarray:
            if p.b is None or p.ib is None:
                return np.full(len(p.ia), None, dtype=object)
            return getattr(p.b, attr)[p.ib]

        return get

    cols: dict[str, np.ndarray] = {
        "conflict_id": _unique(
            _id_text(t, h),
            (h >> np.uint64(64 - 4 * _HASH_CHARS)) ^ (t.astype(np.uint64) << 60),
        ),
        "type": np.array(CONFLICT_TYPES, dtype=object)[t],
        "area_m2": area,
        "plan_a": column(lambda p: p.a.plan_of()[p.ia]),
        "plan_b": column(
            lambda p: (
                _full(len(p.ia), p.plan_b) if p.b is None or p.ib is None else p.b.plan_of()[p.ib]
            )
        ),
        "source_a": column(lambda p: p.a.sid[p.ia]),
        "source_b": column(side_b("sid")),
        "legend_a": column(lambda p: p.a.legend[p.ia]),
        "legend_b": column(side_b("legend")),
        "code_a": column(lambda p: p.a.code[p.ia]),
        "code_b": column(side_b("code")),
        "use_a": column(lambda p: p.a.use[p.ia]),
        "use_b": column(side_b("use")),
        "area_ha": area / 1e4,
        "area_mu": area / overlay.M2_PER_MU,
    }
    geoms = column(lambda p: p.geoms)
    xy = column(lambda p: p.centroids()[0])
    inside = column(lambda p: p.centroids()[1])
    for p in pieces:  # internal records: their centroids are not needed again
        p.centroid = p.inside = None
    lon, lat, scale = overlay.lonlat_scale(geoms, crs, threads=threads, centroid=xy, inside=inside)
    del xy, inside
    cols.update(ellipsoidal_area_m2=area / scale, lon=lon, lat=lat)
    return cols, geoms


def _district_names(
    layers: Mapping[str, gpd.GeoDataFrame], districts_field: str | None
) -> tuple[np.ndarray, np.ndarray] | None:
    if "districts" not in layers or layers["districts"] is None:
        return None
    d = layers["districts"]
    if districts_field is not None:
        if districts_field not in d.columns:
            raise DataError(
                f"districts layer has no column {districts_field!r} (has: "
                f"{', '.join(map(str, d.columns))}). Fix: pass districts_field= one of those"
            )
        field = districts_field
    else:
        field = next((c for c in ("name", "source_id", "id") if c in d.columns), None)
        if field is None:
            raise DataError(
                "districts layer has none of the columns name, source_id, id for the district "
                f"name (has: {', '.join(map(str, d.columns))}). Fix: pass districts_field="
            )
    geoms = overlay.clean_polygons(d.geometry.to_numpy(), grid_size=0)
    keep = np.not_equal(geoms, None)
    return geoms[keep], _text(d[field])[keep]


def _largest_share(pieces: np.ndarray, units: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Name of the unit holding the largest area of each piece (None when none)."""
    out = np.full(len(pieces), None, dtype=object)
    if len(pieces) == 0 or len(units) == 0:
        return out
    ip, iu, _g, area = overlay.intersect_pairs(pieces, units)
    if len(ip) == 0:
        return out
    order = np.lexsort((iu, -area, ip))  # largest first, ties by unit order
    ip, iu = ip[order], iu[order]
    first = np.r_[True, ip[1:] != ip[:-1]]
    out[ip[first]] = names[iu[first]]
    return out


def _empty(crs: pyproj.CRS) -> gpd.GeoDataFrame:
    data: dict[str, pd.Series] = {}
    for c in COLUMNS:
        dtype = (
            "float64"
            if c in ("area_m2", "area_ha", "area_mu", "ellipsoidal_area_m2", "lon", "lat")
            else object
        )
        data[c] = pd.Series([], dtype=dtype)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def find_conflicts(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    sliver_m2: float = 400,
    buffer_m: float = 0,
    grid_size: float = 1e-4,
    districts_field: str | None = None,
    types: Iterable[str] | None = None,
    snap_rounding: bool = False,
    threads: int = 2,
    verbose: bool = False,
) -> gpd.GeoDataFrame:
    """Find the conflicts between the plans inside the planning boundary.

    Parameters
    ----------
    layers
        Layer key → GeoDataFrame, all in one projected metre CRS, plan layers carrying the
        legend columns ``source_id``, ``source_code``, ``legend``, ``use`` (what
        ``fiveplans.load_pilot(...).layers`` holds). Needs ``boundary``; uses the plans present
        among ``cluster``, ``land_use``, ``urban``, ``ecology``, ``infrastructure`` and, when
        given, ``districts``.
    sliver_m2
        Pieces smaller than this are dropped and counted in ``attrs["slivers_dropped"]``.
    buffer_m
        Conflicts are sought inside the boundary buffered by this distance.
    grid_size
        Precision grid in metres (repaired inputs and snap-rounded overlays use it).
    districts_field
        Column of ``layers["districts"]`` naming a district; default ``name``, else
        ``source_id``.
    types
        Conflict types to compute (default: all five).
    snap_rounding
        Run every overlay with snap-rounding on the grid (slower; by default only a batch
        GEOS cannot overlay is redone that way).
    threads
        Worker threads for the overlays.
    verbose
        Log each step at INFO level (default DEBUG).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per piece, columns :data:`COLUMNS` and ``geometry`` (Polygon/MultiPolygon in
        the working CRS), sorted by type, plans and source ids. ``conflict_id`` is the type
        prefix (``FC``, ``EC``, ``PM``, ``UM``, ``CC``) and 12 hex digits of a fixed-key hash
        of ``(type, plan_a, source_a, plan_b, source_b)`` — one row per pair of source
        features, so the id is stable across reruns and input row orders; when source ids
        repeat within a layer, the repeated ids get ``-2``, ``-3``, … (rows then ordered by
        area). ``attrs`` holds
        ``slivers_dropped`` (``{"count", "area_m2"}``), ``notes`` (list of str) and
        ``boundary_area_m2``. Corridor widths come from the infrastructure code table
        (``corridor_width_m``), overridden per line by a ``corridor_width_m`` column.

    Raises
    ------
    DataError
        No boundary, a plan layer without the legend columns, or an unknown type.
    CRSError
        Layers in different CRSs, in a geographic CRS, or without a CRS.
    """
    say = logger.info if verbose else logger.debug
    wanted = tuple(CONFLICT_TYPES if types is None else types)
    unknown = sorted(set(wanted) - set(CONFLICT_TYPES))
    if unknown:
        raise DataError(
            f"unknown conflict type(s) {', '.join(unknown)}; known: {', '.join(CONFLICT_TYPES)}"
        )
    plans = [k for k in PLANS if k in layers and layers[k] is not None]
    if "boundary" not in layers:
        _boundary(layers, buffer_m, grid_size)  # raises the message
    _check_columns(layers, plans)
    geo_keys = ["boundary", *plans] + (["districts"] if layers.get("districts") is not None else [])
    crs = _check_crs(layers, geo_keys)
    boundary = _boundary(layers, buffer_m, grid_size)
    opts = {"grid_size": grid_size, "snap_rounding": snap_rounding, "threads": threads}
    notes: list[str] = []

    feats = {k: _features(k, layers[k], grid_size) for k in plans}
    constr: dict[str, _Features] = {}
    for k in CONSTRUCTION_PLANS:
        if k not in feats:
            continue
        c = _clip(
            feats[k].take(feats[k].legend == "construction"), boundary, grid_size, snap_rounding
        )
        constr[k] = c
        if len(c) == 0:
            msg = f"plan {k!r} has no construction land inside the boundary"
            logger.info(msg)
            notes.append(msg)
    say("construction polygons inside the boundary: %s", {k: len(v) for k, v in constr.items()})

    pieces: list[_Pieces] = []
    for t, legend in (
        ("farmland_construction", "basic_farmland"),
        ("ecology_construction", "ecological"),
    ):
        if t not in wanted:
            continue
        target = _concat([feats[k].take(feats[k].legend == legend) for k in plans])
        if len(target) == 0:
            notes.append(f"{t}: no {legend} polygons in any plan")
            continue
        tree = shapely.STRtree(target.geoms)
        for c in constr.values():
            pieces.append(_pairs(t, c, target, opts, tree=tree))
        say("%s: %d pieces before sliver removal", t, sum(len(p.ia) for p in pieces if p.type == t))

    if "plan_mismatch" in wanted:
        if "land_use" not in feats:
            notes.append("plan_mismatch: no land_use plan to compare with")
        lu_all = None
        for p in CITY_PLANS:
            if p not in feats or "land_use" not in feats:
                continue
            if lu_all is None:
                lu_all = _clip(feats["land_use"], boundary, grid_size, snap_rounding)
            p_all = _clip(feats[p], boundary, grid_size, snap_rounding)
            pieces.extend(_mismatch(constr[p], lu_all, opts))
            pieces.extend(_mismatch(constr["land_use"], p_all, opts))
        say("plan_mismatch done")

    if "use_mismatch" in wanted and "cluster" in constr and "urban" in constr:
        a, b = constr["cluster"], constr["urban"]

        def differs(ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
            ua, ub = a.use[ia], b.use[ib]
            known = np.not_equal(ua, None) & np.not_equal(ub, None)
            return known & (ua != ub)

        pieces.append(_pairs("use_mismatch", a, b, opts, keep_pair=differs))
    elif "use_mismatch" in wanted:
        notes.append("use_mismatch: needs both the cluster and the urban plan")

    if "corridor_construction" in wanted and "infrastructure" in feats:
        strips = _corridors(layers["infrastructure"], grid_size, notes)
        if len(strips):
            tree = shapely.STRtree(strips.geoms)
            for k in CORRIDOR_PLANS:
                if k in constr:
                    pieces.append(
                        _pairs("corridor_construction", constr[k], strips, opts, tree=tree)
                    )

    slivers = {"count": 0, "area_m2": 0.0}
    kept: list[_Pieces] = []
    for p in pieces:
        small = p.area < sliver_m2
        slivers["count"] += int(small.sum())
        slivers["area_m2"] += float(p.area[small].sum())
        if (~small).any():
            kept.append(p.take(~small) if small.any() else p)
    del pieces
    say(
        "%d pieces kept, %d slivers dropped (%.1f m²)",
        sum(len(p.ia) for p in kept),
        slivers["count"],
        slivers["area_m2"],
    )
    attrs = {"slivers_dropped": slivers, "notes": notes, "boundary_area_m2": float(boundary.area)}
    if not kept:
        result = _empty(crs)
        result.attrs.update(attrs)
        return result
    cols, geoms = _table(kept, crs, threads)
    del kept
    units = _district_names(layers, districts_field)
    cols["district"] = (
        np.full(len(geoms), None, dtype=object) if units is None else _largest_share(geoms, *units)
    )
    maybe_missing = {"source_a", "source_b", "legend_b", "code_a", "code_b", "use_a", "use_b"}
    data: dict[str, pd.Series] = {}
    for c in COLUMNS:  # one column at a time, each array freed once pandas holds its copy
        v = cols.pop(c)
        # text with missing values stays object (None): pandas would infer str with NaN
        keep_object = c == "district" or (c in maybe_missing and pd.isna(v).any())
        data[c] = pd.Series(v, dtype=object) if keep_object else pd.Series(v)
        del v
    result = gpd.GeoDataFrame(
        pd.DataFrame(data, copy=False),
        geometry=gpd.GeoSeries(geoms, crs=crs),
        crs=crs,
    )
    result.attrs.update(attrs)
    return result


def summarize_conflicts(conflicts: gpd.GeoDataFrame, *, grid_size: float = 1e-4) -> dict:
    """The conflict figures of ``summary.json`` (contract §5).

    Parameters
    ----------
    conflicts
        The result of :func:`find_conflicts`.
    grid_size
        Grid of the snap-rounding fallback of the union.

    Returns
    -------
    dict
        ``{"conflicts": {type: {"area_m2", "count"}} for all five types, "slivers_dropped":
        {"count", "area_m2"}}``: ``area_m2`` is the area of the union of the type's pieces
        (overlapping pieces of different plans count once), ``count`` the number of pieces;
        merge it into summary.json with ``summary.update(...)``.
    """
    block: dict[str, dict[str, float | int]] = {}
    for t in CONFLICT_TYPES:
        sel = conflicts[conflicts["type"] == t]
        geoms = sel.geometry.to_numpy()
        area = float(overlay.union_all(geoms, grid_size=grid_size).area) if len(sel) else 0.0
        block[t] = {"area_m2": area, "count": len(sel)}
    slivers = dict(conflicts.attrs.get("slivers_dropped", {"count": 0, "area_m2": 0.0}))
    return {
        "conflicts": block,
        "slivers_dropped": {
            "count": int(slivers.get("count", 0)),
            "area_m2": float(slivers.get("area_m2", 0.0)),
        },
    }


# --------------------------------------------------------------------------- views

QUADRANTS = ("both", "plan_only", "land_use_only", "neither")
QUADRANT_LABELS = {
    "both": "两规均为建设用地",
    "plan_only": "仅{plan}为建设用地",
    "land_use_only": "仅土地利用总体规划为建设用地",
    "neither": "两规均非建设用地",
}
TOTAL = "合计 total"


def _setup(
    layers: Mapping[str, gpd.GeoDataFrame], needed: Iterable[str], buffer_m: float, grid_size: float
) -> tuple[pyproj.CRS, shapely.Geometry, dict[str, _Features]]:
    plans = [k for k in PLANS if layers.get(k) is not None]
    missing = [k for k in needed if k not in plans]
    if missing:
        raise DataError(
            f"layer(s) {', '.join(missing)} missing (have: {', '.join(layers)}). "
            "Fix: load a pilot that has them"
        )
    if "boundary" not in layers:
        _boundary(layers, buffer_m, grid_size)
    _check_columns(layers, plans)
    crs = _check_crs(layers, ["boundary", *plans])
    boundary = _boundary(layers, buffer_m, grid_size)
    return crs, boundary, {k: _features(k, layers[k], grid_size) for k in plans}


def _parts_count(g: shapely.Geometry) -> int:
    return 0 if g.is_empty else len(shapely.get_parts(g))


def four_quadrants(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    plan: str = "cluster",
    districts: gpd.GeoDataFrame | None = None,
    districts_field: str | None = None,
    buffer_m: float = 0,
    grid_size: float = 1e-4,
) -> pd.DataFrame:
    """The four-quadrant comparison (四象限) of a city plan with the land-use plan.

    Inside the boundary, land is construction land in both plans, only in *plan*, only in the
    land-use plan, or in neither — the standard view of 多规合一 platforms.

    Parameters
    ----------
    layers
        As for :func:`find_conflicts` (needs ``boundary``, ``land_use`` and *plan*).
    plan
        ``"cluster"`` or ``"urban"``.
    districts
        Units for per-district rows (e.g. ``layers["districts"]``), in the layers' CRS.
    districts_field
        Column naming a district; default ``name``, else ``source_id``.
    buffer_m, grid_size
        As for :func:`find_conflicts`.

    Returns
    -------
    pandas.DataFrame
        One row per (district, quadrant), then the total rows (``district`` = ``合计 total``):
        ``district``, ``quadrant`` (``both``, ``plan_only``, ``land_use_only``, ``neither``),
        ``quadrant_zh``, ``count`` (separate polygons), ``area_m2``, ``area_ha`` and ``share``
        (of the district's area inside the boundary, or of the boundary for the totals).
    """
    if plan not in CITY_PLANS:
        raise DataError(f"plan must be 'cluster' or 'urban', not {plan!r}")
    layers = dict(layers)
    if districts is not None:
        layers["districts"] = districts
    _crs, boundary, feats = _setup(layers, [plan, "land_use"], buffer_m, grid_size)
    if districts is not None:
        _check_crs(layers, ["boundary", "districts"])
    p_con = _clip(
        feats[plan].take(feats[plan].legend == "construction"), boundary, grid_size, False
    )
    l_con = _clip(
        feats["land_use"].take(feats["land_use"].legend == "construction"),
        boundary,
        grid_size,
        False,
    )
    p_u = overlay.union_all(p_con.geoms, grid_size=grid_size)
    l_u = overlay.union_all(l_con.geoms, grid_size=grid_size)
    op = overlay.robust_op
    either = op(shapely.union, p_u, l_u, grid_size=grid_size)
    quads = {
        "both": op(shapely.intersection, p_u, l_u, grid_size=grid_size),
        "plan_only": op(shapely.difference, p_u, l_u, grid_size=grid_size),
        "land_use_only": op(shapely.difference, l_u, p_u, grid_size=grid_size),
        "neither": op(shapely.difference, boundary, either, grid_size=grid_size),
    }
    units: list[tuple[str, shapely.Geometry]] = []
    if districts is not None:
        geoms, names = _district_names(layers, districts_field)  # type: ignore[misc]
        units = [
            (str(n), op(shapely.intersection, g, boundary, grid_size=grid_size))
            for g, n in zip(geoms, names, strict=True)
        ]
    units.append((TOTAL, boundary))
    rows = []
    for name, unit in units:
        unit_area = float(unit.area)
        for q in QUADRANTS:
            piece = (
                quads[q]
                if name == TOTAL
                else op(shapely.intersection, quads[q], unit, grid_size=grid_size)
            )
            area = float(piece.area)
            rows.append(
                {
                    "district": name,
                    "quadrant": q,
                    "quadrant_zh": QUADRANT_LABELS[q].format(plan=LAYER_NAMES_ZH[plan]),
                    "count": _parts_count(piece),
                    "area_m2": area,
                    "area_ha": area / 1e4,
                    "share": area / unit_area if unit_area > 0 else 0.0,
                }
            )
    return pd.DataFrame(rows)


def _tag(share: np.ndarray) -> np.ndarray:
    return np.where(share >= 0.9, "inside", np.where(share <= 0.1, "outside", "straddling")).astype(
        object
    )


def _share_inside(geoms: np.ndarray, cover: np.ndarray, grid_size: float) -> np.ndarray:
    """Share of each geometry's area inside the union of *cover*."""
    share = np.zeros(len(geoms))
    parts = overlay.union_parts(cover, grid_size=grid_size)
    if len(geoms) == 0 or len(parts) == 0:
        return share
    ig, _ip, _g, area = overlay.intersect_pairs(geoms, parts, grid_size=grid_size)
    inside = np.bincount(ig, weights=area, minlength=len(geoms))
    return np.clip(inside / shapely.area(geoms), 0.0, 1.0)


def containment_tags(
    layers: Mapping[str, gpd.GeoDataFrame], *, buffer_m: float = 0, grid_size: float = 1e-4
) -> gpd.GeoDataFrame:
    """Every construction parcel of each plan, tagged by its overlap with protected land.

    For each construction parcel of cluster, urban, land_use and infrastructure (cut to the
    boundary), the share of its area inside permanent basic farmland, inside ecological land
    (both from any plan) and inside each other plan's construction land, with the peers' tag
    (standards.md): ``inside`` (share ≥ 0.9), ``outside`` (≤ 0.1), else ``straddling``.

    Parameters
    ----------
    layers
        As for :func:`find_conflicts`.
    buffer_m, grid_size
        As for :func:`find_conflicts`.

    Returns
    -------
    geopandas.GeoDataFrame
        ``plan``, ``source_id``, ``source_code``, ``use``, ``area_m2``,
        ``share_basic_farmland``/``tag_basic_farmland``, ``share_ecological``/
        ``tag_ecological``, and ``share_construction_<plan>``/``tag_construction_<plan>`` per
        other construction plan present (null for the parcel's own plan), plus ``geometry``.
    """
    crs, boundary, feats = _setup(layers, [], buffer_m, grid_size)
    plans = [k for k in CONSTRUCTION_PLANS if k in feats]
    constr = {
        k: _clip(feats[k].take(feats[k].legend == "construction"), boundary, grid_size, False)
        for k in plans
    }
    covers = {
        "basic_farmland": np.concatenate(
            [f.geoms[f.legend == "basic_farmland"] for f in feats.values()]
        ),
        "ecological": np.concatenate([f.geoms[f.legend == "ecological"] for f in feats.values()]),
    }
    covers.update({f"construction_{k}": constr[k].geoms for k in plans})
    frames = []
    for k in plans:
        c = constr[k]
        df = pd.DataFrame(
            {
                "plan": np.full(len(c), k, dtype=object),
                "source_id": c.sid,
                "source_code": c.code,
                "use": c.use,
                "area_m2": shapely.area(c.geoms) if len(c) else np.empty(0),
            }
        )
        for name, cover in covers.items():
            if name == f"construction_{k}":
                df[f"share_{name}"] = np.nan
                df[f"tag_{name}"] = None
                continue
            share = _share_inside(c.geoms, cover, grid_size)
            df[f"share_{name}"] = share
            df[f"tag_{name}"] = _tag(share)
        frames.append(gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(c.geoms, crs=crs), crs=crs))
    if not frames:
        return gpd.GeoDataFrame(
            {"plan": [], "source_id": [], "area_m2": []},
            geometry=gpd.GeoSeries([], crs=crs),
            crs=crs,
        )
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)
