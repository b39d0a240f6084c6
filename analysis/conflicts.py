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
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from fiveplans.analysis import overlay
from fiveplans.analysis.context import LayersLike, WorkingLayers, check_crs, working_layers
from fiveplans.config import LAYER_NAMES_ZH
from fiveplans.errors import DataError, StageSkipped
from fiveplans.schema import CITY_PLANS, CONSTRUCTION_PLANS, CORRIDOR_PLANS
from fiveplans.schema import PLAN_KEYS as PLANS

__all__ = [
    "COLUMNS",
    "CONFLICT_TYPES",
    "CONSTRUCTION_PLANS",
    "PLANS",
    "QUADRANTS",
    "TEXT_CATEGORIES",
    "TOTAL",
    "TYPE_LABELS",
    "containment_tags",
    "find_conflicts",
    "four_quadrants",
    "summarize_conflicts",
]

logger = logging.getLogger(__name__)

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
_HASH_CHARS = 12
_ID_CHUNK = 16_384
_PAIRED_CATEGORIES = ("plan", "legend", "code", "use")  # ``<name>_a`` and ``<name>_b``
TEXT_CATEGORIES = (
    "type",
    *(f"{name}_{side}" for name in _PAIRED_CATEGORIES for side in "ab"),
    "district",
)
"""Columns of the conflicts table held as pandas categoricals: a few distinct values repeated on
every row (one byte per row instead of an 8-byte object pointer; values and comparisons as text)."""


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


def _plan_features(ctx: WorkingLayers, plan: str) -> _Features:
    """The cleaned polygons of one plan, computed once per context."""
    return ctx.derive(
        "conflicts.features", lambda: _features(plan, ctx[plan], ctx.grid_size), key=plan
    )


def _clip(f: _Features, boundary: shapely.Geometry, grid_size: float, snap: bool) -> _Features:
    """Features cut to the boundary (those outside dropped)."""
    if len(f) == 0:
        return f
    shapely.prepare(boundary)
    inside = shapely.covers(boundary, f.geoms)
    # GEOS may call a feature covered that only touches the boundary an ulp away (see
    # overlay.vertices_covered): such a feature is cut like any crossing one
    inside[inside] = overlay.vertices_covered(
        f.geoms[inside], np.full(int(inside.sum()), boundary, dtype=object)
    )
    meets = inside.copy()  # what the boundary covers meets it: only the rest is tested
    meets[~inside] = shapely.intersects(boundary, f.geoms[~inside])
    cross = meets & ~inside
    geoms = f.geoms.copy()
    if cross.any():
        geoms[cross] = overlay.intersect_each(
            geoms[cross], boundary, grid_size=grid_size, snap_rounding=snap
        )
    out = _Features(f.plan, geoms, f.sid, f.code, f.legend, f.use)
    keep = meets & np.not_equal(geoms, None)
    keep[keep] &= shapely.area(geoms[keep]) > 0
    return out.take(keep)


def _clipped(
    ctx: WorkingLayers, plan: str, legend: str | None, buffer_m: float, snap: bool
) -> _Features:
    """A plan's features (all, or those of one legend) cut to the boundary, once per context."""

    def compute() -> _Features:
        f = _plan_features(ctx, plan)
        if legend is not None:
            f = f.take(f.legend == legend)
        return _clip(f, ctx.boundary(buffer_m), ctx.grid_size, snap)

    return ctx.derive("conflicts.clipped", compute, key=(plan, legend, float(buffer_m), snap))


def _context(
    layers: LayersLike, grid_size: float, *, need: Iterable[str] = ()
) -> tuple[WorkingLayers, list[str]]:
    """The checked context and the plans present (legend columns checked, boundary required)."""
    ctx = working_layers(layers, grid_size=grid_size)
    plans = ctx.plans
    missing = [k for k in need if k not in plans]
    if missing:
        raise DataError(
            f"缺少图层 — layer(s) {', '.join(missing)} missing (have: {', '.join(ctx)}). "
            "解决 Fix: load a pilot that has them"
        )
    ctx.boundary_polygons()  # a clear error when there is no boundary
    ctx.require_legend(plans)
    return ctx, plans


def _corridors(ctx: WorkingLayers) -> _Features:
    """Protection strips of the infrastructure plan's corridor lines (the schema's rule)."""
    inf = ctx.get("infrastructure")
    if inf is None:
        return _concat([], "infrastructure")
    rule = ctx.corridor_strips()  # warns once about lines without a width
    rows = inf.iloc[rule.rows]
    f = _Features(
        "infrastructure",
        overlay.clean_polygons(rule.strips, grid_size=ctx.grid_size),
        _text(rows["source_id"]),
        _text(rows["source_code"]),
        _text(rows["legend"]),
        _text(rows["use"]),
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


def _mismatch(
    a: _Features, b_all: _Features, opts: dict, pairs: tuple[np.ndarray, ...] | None = None
) -> list[_Pieces]:
    """Pieces of a's construction outside b's construction, split by what b says there.

    One piece per parcel of ``a`` and parcel of ``b`` of another kind it overlaps (minus b's
    construction), and one per parcel of ``a`` for what lies outside every parcel of ``b``
    (:func:`fiveplans.analysis.overlay.split_outside`). ``pairs``: :func:`_split_pairs` of
    the two, when computed already.
    """
    s = overlay.split_outside(
        a.geoms,
        b_all.geoms,
        removed=b_all.legend == "construction",
        rank=b_all.rank,
        pairs=pairs,
        **opts,
    )
    del pairs
    out = []
    if len(s.i_geom):
        out.append(
            _Pieces(
                "plan_mismatch",
                a,
                b_all,
                b_all.plan,
                s.i_geom,
                s.i_other,
                s.pieces,
                s.areas,
                s.centroids,
                s.inside,
            )
        )
    if len(s.i_rest):
        out.append(
            _Pieces(
                "plan_mismatch", a, None, b_all.plan, s.i_rest, None, s.rest, shapely.area(s.rest)
            )
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
    raw = chars.view(f"S{3 + _HASH_CHARS}").ravel()
    out = np.empty(len(h), dtype=object)
    for i in range(0, len(h), _ID_CHUNK):  # chunks: no whole-column unicode temporary
        out[i : i + _ID_CHUNK] = raw[i : i + _ID_CHUNK].astype(str)
    return out


def _unique(ids: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Suffix repeated ids -2, -3, … in row order (pairs of features with repeated source ids).

    ``code`` is one integer per id, equal exactly when the ids are (checked cheaply first).
    """
    order = np.argsort(code)  # only equal neighbours matter: any order of ties
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
    """Sort ranks, id hashes and attributes of the features the pieces use, shared by all.

    Every feature a piece refers to (on side a or b) gets one row, and each plan named as
    side b of pieces without a feature there ("nobody") one more: ranks order the rows by
    plan then source id as strings (missing ids as ""); hashes of ``plan + "\x1f" + source
    id`` use pandas' fixed-key SipHash, so they are the same across runs, machines and row
    orders; ``plan``, ``sid``, ``legend``, ``code``, ``use`` are the rows' attributes
    (``None`` for the nobody rows, but ``plan``).
    """

    def __init__(self, pieces: list[_Pieces]) -> None:
        sides: dict[int, tuple[_Features, list[np.ndarray]]] = {}
        for p in pieces:
            sides.setdefault(id(p.a), (p.a, []))[1].append(p.ia)
            if p.b is not None and p.ib is not None:
                sides.setdefault(id(p.b), (p.b, []))[1].append(p.ib)
        self._row: dict[int, np.ndarray] = {}  # per side: feature -> row (-1: unused)
        attrs: dict[str, list[np.ndarray]] = {
            k: [] for k in ("plan", "sid", "legend", "code", "use")
        }
        n = 0
        for key, (f, refs) in sides.items():
            used = overlay.unique_rows(np.concatenate(refs), len(f))
            row = np.full(len(f), -1, dtype=np.int64)
            row[used] = np.arange(n, n + len(used))
            self._row[key] = row
            attrs["plan"].append(f.plan_of()[used])
            for k in ("sid", "legend", "code", "use"):
                attrs[k].append(getattr(f, k)[used])
            n += len(used)
        nobody = sorted({p.plan_b for p in pieces if p.b is None or p.ib is None})
        self._nobody = {plan: n + i for i, plan in enumerate(nobody)}
        attrs["plan"].append(np.array(nobody, dtype=object))
        for k in ("sid", "legend", "code", "use"):
            attrs[k].append(np.full(len(nobody), None, dtype=object))
        self.plan, self.sid, self.legend, self.code, self.use = (
            np.concatenate(attrs[k]) if len(attrs[k]) > 1 else attrs[k][0]
            for k in ("plan", "sid", "legend", "code", "use")
        )
        del attrs
        text = np.array(
            [
                f"{plan}\x1f{'' if sid is None else sid}"
                for plan, sid in zip(self.plan.tolist(), self.sid.tolist(), strict=True)
            ],
            dtype=object,
        )
        codes, uniques = pd.factorize(text, sort=True)
        self.rank = codes.astype(np.int64)
        self.count = max(1, len(uniques))
        self.hash = pd.util.hash_array(text, categorize=False)

    def a(self, p: _Pieces) -> np.ndarray:
        return self._row[id(p.a)][p.ia]

    def b(self, p: _Pieces) -> np.ndarray:
        if p.b is None or p.ib is None:
            return np.full(len(p.ia), self._nobody[p.plan_b], dtype=np.int64)
        return self._row[id(p.b)][p.ib]


def _table(
    pieces: list[_Pieces], crs: pyproj.CRS, threads: int
) -> tuple[dict[str, np.ndarray], np.ndarray, set[str]]:
    """The conflict columns (plain arrays, sorted rows), the pieces in the same order and the
    text columns with missing values.

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
    order = np.argsort(compact)  # keys are distinct (else the stable lexsort below)
    if (compact[order][1:] == compact[order][:-1]).any():  # repeated source ids: then by area
        order = np.lexsort((area, compact))
    del compact
    fa, fb, t, area = fa[order], fb[order], t[order], area[order]
    type_hash = pd.util.hash_array(np.array(CONFLICT_TYPES, dtype=object), categorize=False)
    with np.errstate(over="ignore"):
        h = _mix64(_mix64(type_hash[t] ^ keys.hash[fa]) + keys.hash[fb] * np.uint64(3))

    def column(get) -> np.ndarray:
        if len(pieces) == 1:  # no concatenated copy
            return get(pieces[0])[order]
        return np.concatenate([get(p) for p in pieces])[order]

    cols: dict[str, np.ndarray] = {
        "conflict_id": _unique(
            _id_text(t, h),
            (h >> np.uint64(64 - 4 * _HASH_CHARS)) ^ (t.astype(np.uint64) << 60),
        ),
        "type": pd.Categorical.from_codes(t, categories=list(CONFLICT_TYPES)),
        "area_m2": area,
    }
    del h, t
    for name in _PAIRED_CATEGORIES:
        codes, categories = _categories(getattr(keys, name))
        for side, f in (("a", fa), ("b", fb)):
            cols[f"{name}_{side}"] = pd.Categorical.from_codes(codes[f], categories=categories)
    cols["source_a"], cols["source_b"] = keys.sid[fa], keys.sid[fb]
    none = pd.isna(keys.sid)
    missing = {c for c, f in (("source_a", fa), ("source_b", fb)) if none[f].any()}
    cols["area_ha"] = area / 1e4
    cols["area_mu"] = area / overlay.M2_PER_MU
    del fa, fb, keys
    geoms = column(lambda p: p.geoms)
    xy = column(lambda p: p.centroids()[0])
    inside = column(lambda p: p.centroids()[1])
    for p in pieces:  # internal records: their centroids are not needed again
        p.centroid = p.inside = None
    lon, lat, scale = overlay.lonlat_scale(geoms, crs, threads=threads, centroid=xy, inside=inside)
    del xy, inside
    cols.update(ellipsoidal_area_m2=area / scale, lon=lon, lat=lat)
    return cols, geoms, missing


def _categories(values: np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """Category codes of *values* (-1 where missing) and their sorted categories, as text."""
    codes, categories = pd.factorize(values, sort=True, use_na_sentinel=True)
    categories = pd.Index(categories, dtype=object).map(str)
    return codes, categories


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
        dtype: object = object
        if c in ("area_m2", "area_ha", "area_mu", "ellipsoidal_area_m2", "lon", "lat"):
            dtype = "float64"
        elif c in TEXT_CATEGORIES:
            dtype = pd.CategoricalDtype(list(CONFLICT_TYPES) if c == "type" else [])
        data[c] = pd.Series([], dtype=dtype)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


@dataclass
class _Run:
    """One find_conflicts call: the context, its options and the construction land."""

    ctx: WorkingLayers
    plans: list[str]
    buffer_m: float
    opts: dict
    say: Callable[..., None]
    constr: dict[str, _Features]
    wanted: tuple[str, ...] = CONFLICT_TYPES
    memo: dict = field(default_factory=dict)  # pairwise pieces shared by two stages

    def feats(self, plan: str) -> _Features:
        return _plan_features(self.ctx, plan)

    def clipped(self, plan: str, legend: str | None = None) -> _Features:
        return _clipped(self.ctx, plan, legend, self.buffer_m, self.opts["snap_rounding"])


def _check_types(types: Iterable[str] | None) -> tuple[str, ...]:
    wanted = tuple(CONFLICT_TYPES if types is None else types)
    unknown = sorted(set(wanted) - set(CONFLICT_TYPES))
    if unknown:
        raise DataError(
            f"未知冲突类型 — unknown conflict type(s) {', '.join(unknown)}; known: "
            f"{', '.join(CONFLICT_TYPES)}"
        )
    return wanted


def _start(
    layers: LayersLike,
    *,
    buffer_m: float,
    grid_size: float,
    snap_rounding: bool,
    threads: int,
    verbose: bool,
    districts: bool,
    wanted: tuple[str, ...] = CONFLICT_TYPES,
) -> _Run:
    """Stage 1: check the layers (CRS, legend, boundary) and cut construction to the boundary."""
    ctx, plans = _context(layers, grid_size)
    if districts and ctx.get("districts") is not None:
        check_crs(ctx, keys=["boundary", "districts"], what="冲突检测 conflict detection")
    say = logger.info if verbose else logger.debug
    opts = {"grid_size": ctx.grid_size, "snap_rounding": snap_rounding, "threads": threads}
    run = _Run(ctx, plans, buffer_m, opts, say, {}, wanted)
    for k in CONSTRUCTION_PLANS:
        if k in plans:
            run.constr[k] = run.clipped(k, "construction")
            if len(run.constr[k]) == 0:
                logger.info("plan %r has no construction land inside the boundary", k)
    say("construction polygons inside the boundary: %s", {k: len(v) for k, v in run.constr.items()})
    return run


def _shares_mismatch(run: _Run, plan: str) -> bool:
    """Whether plan_mismatch will overlay *plan*'s construction with the land-use plan."""
    return "plan_mismatch" in run.wanted and plan in CITY_PLANS and "land_use" in run.plans


def _split_pairs(run: _Run, plan: str) -> tuple[np.ndarray, ...]:
    """The pairwise pieces of *plan*'s construction with every land-use polygon, once per run.

    ``plan_mismatch`` splits the city plan's construction by them; the protected-land types
    take the pieces with the land-use plan's basic farmland and ecological land from them
    (the same pairs: computed once). Pieces with land-use construction are areas only (the
    mismatch subtracts that land; no polygon is built for it).
    """
    key = ("split", plan)
    if key not in run.memo:
        b = run.clipped("land_use")
        removed = b.legend == "construction"
        run.memo[key] = overlay.intersect_pairs(
            run.constr[plan].geoms,
            b.geoms,
            with_centroids=True,
            area_only=lambda _i, j: removed[j],
            **run.opts,
        )
    return run.memo[key]


def _protected_pieces(run: _Run, t: str, legend: str) -> list[_Pieces]:
    """Stage 2: construction of every plan ∩ protected land (basic farmland, ecological).

    A city plan's pieces with the land-use plan's protected land come from
    :func:`_split_pairs` when plan_mismatch is computed too (the pairs are the same).
    """
    parts = {k: run.feats(k).take(run.feats(k).legend == legend) for k in run.plans}
    if sum(len(f) for f in parts.values()) == 0:
        if legend == "ecological" and "ecology" not in run.plans:
            warnings.warn(
                StageSkipped(
                    f"conflicts.{t}",
                    "没有生态环境规划，其他规划中也没有生态用地 — no ecological plan and no "
                    "ecological land in any other plan",
                    "add the ecological plan under `plans: ecology:` in the pilot",
                ),
                stacklevel=3,
            )
        else:
            logger.info("%s: no %s polygons in any plan", t, legend)
        return []
    targets: dict[bool, tuple[_Features, shapely.STRtree | None]] = {}
    pieces = []
    for k, c in run.constr.items():
        shared = _shares_mismatch(run, k) and len(parts["land_use"]) > 0
        if shared:
            lu = run.clipped("land_use")
            ia, ib, g, area, xy, inside = _split_pairs(run, k)
            sel = np.flatnonzero(lu.legend[ib] == legend)
            pieces.append(
                _Pieces(
                    t, c, lu, lu.plan, ia[sel], ib[sel], g[sel], area[sel], xy[sel], inside[sel]
                )
            )
        if shared not in targets:
            target = _concat([f for p, f in parts.items() if not (shared and p == "land_use")])
            targets[shared] = (target, shapely.STRtree(target.geoms) if len(target) else None)
        target, tree = targets[shared]
        if len(target):
            pieces.append(_pairs(t, c, target, run.opts, tree=tree))
    run.say("%s: %d pieces before sliver removal", t, sum(len(p.ia) for p in pieces))
    return pieces


def _plan_mismatch_pieces(run: _Run) -> list[_Pieces]:
    """Stage 3: construction of a city plan outside the land-use plan's, and the reverse."""
    if "land_use" not in run.plans:
        warnings.warn(
            StageSkipped(
                "conflicts.plan_mismatch",
                "没有土地利用总体规划 — no land_use plan to compare with",
                "add `plans: land_use:` to the pilot",
            ),
            stacklevel=3,
        )
        return []
    pieces: list[_Pieces] = []
    for p in CITY_PLANS:
        if p in run.plans:
            pairs = _split_pairs(run, p)
            run.memo.pop(("split", p))
            pieces.extend(_mismatch(run.constr[p], run.clipped("land_use"), run.opts, pairs))
            del pairs
            pieces.extend(_mismatch(run.constr["land_use"], run.clipped(p), run.opts))
    run.say("plan_mismatch done")
    return pieces


def _use_mismatch_pieces(run: _Run) -> list[_Pieces]:
    """Stage 4: cluster construction ∩ urban construction with a different ``use``."""
    if "cluster" not in run.constr or "urban" not in run.constr:
        warnings.warn(
            StageSkipped(
                "conflicts.use_mismatch",
                "需要产业集聚区与城市两个规划 — use_mismatch needs both the cluster and the "
                "urban plan",
                "add the missing one under `plans:` (cluster, urban)",
            ),
            stacklevel=3,
        )
        return []
    a, b = run.constr["cluster"], run.constr["urban"]

    def differs(ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        ua, ub = a.use[ia], b.use[ib]
        known = np.not_equal(ua, None) & np.not_equal(ub, None)
        return known & (ua != ub)

    return [_pairs("use_mismatch", a, b, run.opts, keep_pair=differs)]


def _corridor_pieces(run: _Run) -> list[_Pieces]:
    """Stage 5: construction ∩ the infrastructure corridors' protection strips."""
    if "infrastructure" not in run.plans:
        warnings.warn(
            StageSkipped(
                "conflicts.corridor_construction",
                "没有基础设施规划 — no infrastructure plan: corridors not checked",
                "add `plans: infrastructure:` to the pilot",
            ),
            stacklevel=3,
        )
        return []
    strips = _corridors(run.ctx)
    if len(strips) == 0:
        return []
    tree = shapely.STRtree(strips.geoms)
    return [
        _pairs("corridor_construction", run.constr[k], strips, run.opts, tree=tree)
        for k in CORRIDOR_PLANS
        if k in run.constr
    ]


def _drop_slivers(pieces: list[_Pieces], sliver_m2: float) -> tuple[list[_Pieces], dict]:
    """Stage 6: pieces under ``sliver_m2`` dropped and counted."""
    slivers = {"count": 0, "area_m2": 0.0}
    kept: list[_Pieces] = []
    for p in pieces:
        small = p.area < sliver_m2
        slivers["count"] += int(small.sum())
        slivers["area_m2"] += float(p.area[small].sum())
        if (~small).any():
            kept.append(p.take(~small) if small.any() else p)
    return kept, slivers


def _frame(
    kept: list[_Pieces], ctx: WorkingLayers, threads: int, districts_field: str | None
) -> gpd.GeoDataFrame:
    """Stage 7: the conflicts table (columns :data:`COLUMNS`, sorted, with districts)."""
    crs = ctx.crs
    if not kept:
        return _empty(crs)
    cols, geoms, missing = _table(kept, crs, threads)
    kept.clear()
    units = _district_names(ctx, districts_field)
    names = (
        np.full(len(geoms), None, dtype=object) if units is None else _largest_share(geoms, *units)
    )
    codes, categories = _categories(names)
    cols["district"] = pd.Categorical.from_codes(codes, categories=categories)
    del names, codes
    data: dict[str, pd.Series] = {}
    for c in COLUMNS:  # one column at a time, each array freed once pandas holds it
        v = cols.pop(c)
        # text with missing values stays object (None): pandas would infer str with NaN
        data[c] = (
            pd.Series(v, dtype=object, copy=False) if c in missing else pd.Series(v, copy=False)
        )
        del v
    data["geometry"] = gpd.GeoSeries(geoms, crs=crs)
    del geoms
    # copy=False: the columns are new arrays, held once (no consolidated copy)
    return gpd.GeoDataFrame(data, geometry="geometry", crs=crs, copy=False)


def find_conflicts(
    layers: LayersLike,
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
        A :class:`~fiveplans.analysis.context.WorkingLayers`, or layer key → GeoDataFrame, all
        in one projected metre CRS, plan layers carrying the legend columns ``source_id``,
        ``source_code``, ``legend``, ``use`` (what ``fiveplans.load_pilot(...).layers``
        holds). Needs ``boundary``; uses the plans present among ``cluster``, ``land_use``,
        ``urban``, ``ecology``, ``infrastructure`` and, when given, ``districts``.
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
        area). ``attrs`` holds ``slivers_dropped`` (``{"count", "area_m2"}``) and
        ``boundary_area_m2``. Corridor strips follow the schema's rule
        (:func:`fiveplans.schema.corridor_strips`): the code table's ``corridor_width_m``,
        overridden per line by a ``corridor_width_m`` column. The repeated text columns
        (:data:`TEXT_CATEGORIES`: type, plans, legends, codes, uses, district) are pandas
        categoricals — compared, grouped and written as text, one byte per row instead of an
        8-byte pointer — with missing values as ``NaN``; ``conflict_id`` and the source ids
        stay text.

    Warns
    -----
    StageSkipped
        A type that cannot be computed for want of an optional plan (``conflicts.<type>``).
    FiveplansWarning
        Corridor lines without a known width (not checked).

    Raises
    ------
    DataError
        No boundary, a plan layer without the legend columns, or an unknown type.
    CRSError
        Layers in different CRSs, in a geographic CRS, or without a CRS.
    """
    wanted = _check_types(types)
    run = _start(
        layers,
        buffer_m=buffer_m,
        grid_size=grid_size,
        snap_rounding=snap_rounding,
        threads=threads,
        verbose=verbose,
        districts=True,
        wanted=wanted,
    )
    pieces: list[_Pieces] = []
    if "farmland_construction" in wanted:
        pieces += _protected_pieces(run, "farmland_construction", "basic_farmland")
    if "ecology_construction" in wanted:
        pieces += _protected_pieces(run, "ecology_construction", "ecological")
    if "plan_mismatch" in wanted:
        pieces += _plan_mismatch_pieces(run)
    if "use_mismatch" in wanted:
        pieces += _use_mismatch_pieces(run)
    if "corridor_construction" in wanted:
        pieces += _corridor_pieces(run)
    kept, slivers = _drop_slivers(pieces, sliver_m2)
    del pieces
    run.say(
        "%d pieces kept, %d slivers dropped (%.1f m²)",
        sum(len(p.ia) for p in kept),
        slivers["count"],
        slivers["area_m2"],
    )
    result = _frame(kept, run.ctx, threads, districts_field)
    result.attrs.update(
        slivers_dropped=slivers, boundary_area_m2=float(run.ctx.boundary(buffer_m).area)
    )
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


def _parts_count(g: shapely.Geometry) -> int:
    return 0 if g.is_empty else len(shapely.get_parts(g))


#: Threads of the four-quadrant overlays (GEOS releases the GIL).
_QUADRANT_THREADS = min(2, os.cpu_count() or 1)


def _quadrant_unions(
    ctx: WorkingLayers, keys: tuple[str, ...], buffer_m: float, grid_size: float, pool: Executor
) -> list[shapely.Geometry]:
    """The union of each plan's construction land cut to the boundary, once per context (the
    land-use plan's is shared by the cluster and urban quadrants); the missing ones are built
    side by side on ``pool`` (GEOS releases the GIL)."""
    cache: dict[tuple, shapely.Geometry] = ctx.derive("conflicts.quadrant_unions", dict)
    slots = [(k, float(buffer_m), grid_size) for k in keys]
    todo = [slot for slot in dict.fromkeys(slots) if slot not in cache]
    # the clipped features come from the context's cache, filled on this thread
    geoms = [_clipped(ctx, k, "construction", buffer_m, False).geoms for k, _b, _g in todo]
    built = pool.map(lambda g: overlay.union_all(g, grid_size=grid_size), geoms)
    cache.update(zip(todo, built, strict=True))
    return [cache[slot] for slot in slots]


def _quadrant_op(
    op: Callable[..., object], a: shapely.Geometry, b: shapely.Geometry, grid_size: float
) -> shapely.Geometry:
    """:func:`~fiveplans.analysis.overlay.robust_op` without its second pass: a (Multi)Polygon
    result of the overlay is its own polygonal part and is kept as is (re-unioning a quadrant
    of thousands of polygons costs three times the overlay); a mixed result takes the full
    route."""
    pair = np.array([a], dtype=object), np.array([b], dtype=object)
    out = overlay.overlay_each(op, *pair, grid_size=grid_size)[0]
    if out is not None and shapely.get_type_id(out) in (3, 6):  # Polygon, MultiPolygon
        return out
    return overlay.robust_op(op, a, b, grid_size=grid_size)


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
    ctx, _plans = _context(layers, grid_size, need=[plan, "land_use"])
    if districts is not None:
        check_crs({"districts": districts}, what="四象限 four quadrants", crs=ctx.crs)
    boundary = ctx.boundary(buffer_m)
    with ThreadPoolExecutor(_QUADRANT_THREADS) as pool:
        p_u, l_u = _quadrant_unions(ctx, (plan, "land_use"), buffer_m, grid_size, pool)

        def op(f: Callable[..., object], a: shapely.Geometry, b: shapely.Geometry) -> Future:
            return pool.submit(_quadrant_op, f, a, b, grid_size)

        # the four overlays side by side; "neither" waits for "either"
        either = op(shapely.union, p_u, l_u)
        jobs = {
            "both": op(shapely.intersection, p_u, l_u),
            "plan_only": op(shapely.difference, p_u, l_u),
            "land_use_only": op(shapely.difference, l_u, p_u),
        }
        jobs["neither"] = op(shapely.difference, boundary, either.result())
        quads = {q: jobs[q].result() for q in QUADRANTS}
        units: list[tuple[str, shapely.Geometry]] = []
        if districts is not None:
            geoms, names = _district_names({"districts": districts}, districts_field)  # type: ignore[misc]
            cut = [op(shapely.intersection, g, boundary) for g in geoms]
            units = [(str(n), c.result()) for c, n in zip(cut, names, strict=True)]
        pieces = {
            (name, q): op(shapely.intersection, quads[q], unit)
            for name, unit in units
            for q in QUADRANTS
        }
    units.append((TOTAL, boundary))
    rows = []
    for name, unit in units:
        unit_area = float(unit.area)
        for q in QUADRANTS:
            piece = quads[q] if name == TOTAL else pieces[name, q].result()
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


def _share_inside(
    geoms: np.ndarray,
    cover: np.ndarray,
    grid_size: float,
    *,
    threads: int = 2,
    clean: np.ndarray | None = None,
) -> np.ndarray:
    """Share of each geometry's area inside the union of *cover*, without building the union.

    The pieces ``geom ∩ cover[j]`` come from the pairwise overlay (exact compiled clipper for
    convex pairs); where the cover polygons a geometry meets are certified not to overlap one
    another (:func:`~fiveplans.analysis.overlay.non_overlapping`: a coverage such as a
    land-use plan) the area inside is the sum of its pieces; elsewhere it is the geometry's
    area minus what :func:`~fiveplans.analysis.overlay.subtract_each` leaves of it. ``clean``:
    ``non_overlapping(cover)`` when the caller has it (one cover, several parcel sets).
    """
    share = np.zeros(len(geoms))
    if len(geoms) == 0 or len(cover) == 0:
        return share
    opts = {"grid_size": grid_size, "threads": threads}
    ig, ic, _g, area = overlay.intersect_pairs(geoms, cover, **opts)
    del _g
    own = shapely.area(geoms)
    inside = np.bincount(ig, weights=area, minlength=len(geoms))
    if len(ic):
        if clean is None:
            partners = overlay.unique_rows(ic, len(cover))
            clean = np.zeros(len(cover), dtype=bool)
            clean[partners] = overlay.non_overlapping(cover[partners])
        dirty = overlay.unique_rows(ig[~clean[ic]], len(geoms))
        if len(dirty):
            left = overlay.subtract_each(geoms[dirty], cover, **opts)
            has = np.not_equal(left, None)
            left_area = np.zeros(len(left))
            left_area[has] = shapely.area(left[has])
            inside[dirty] = own[dirty] - left_area
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(np.where(own > 0, inside / own, 0.0), 0.0, 1.0)


def containment_tags(
    layers: Mapping[str, gpd.GeoDataFrame], *, buffer_m: float = 0, grid_size: float = 1e-4
) -> gpd.GeoDataFrame:
    """Every construction parcel of each plan, tagged by its overlap with protected land.

    For each construction parcel of cluster, urban, land_use and infrastructure (cut to the
    boundary), the share of its area inside permanent basic farmland, inside ecological land
    (both from any plan) and inside each other plan's construction land, with the peers' tag
    (standards.md): ``inside`` (share ≥ 0.9), ``outside`` (≤ 0.1), else ``straddling``.

    No union of any layer is built: the shares come from the pairwise pieces of the parcels
    with the cover polygons (:func:`_share_inside`). Pass the same
    :class:`~fiveplans.analysis.context.WorkingLayers` as to :func:`find_conflicts` to reuse
    its cleaned and clipped polygons.

    Parameters
    ----------
    layers
        As for :func:`find_conflicts` (a ``WorkingLayers`` or layer key → GeoDataFrame).
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
    ctx, present = _context(layers, grid_size)
    crs = ctx.crs
    feats = {k: _plan_features(ctx, k) for k in present}
    plans = [k for k in CONSTRUCTION_PLANS if k in feats]
    # the construction land find_conflicts cut to the boundary (shared through the context)
    constr = {k: _clipped(ctx, k, "construction", buffer_m, False) for k in plans}
    covers = {
        "basic_farmland": np.concatenate(
            [f.geoms[f.legend == "basic_farmland"] for f in feats.values()]
        ),
        "ecological": np.concatenate([f.geoms[f.legend == "ecological"] for f in feats.values()]),
    }
    covers.update({f"construction_{k}": constr[k].geoms for k in plans})
    # GEOS's coverage flags of a cover that several plans' parcels meet, computed once
    # (parcels meeting only unflagged polygons of it take the sum of pieces: _share_inside)
    clean = {
        name: overlay.non_overlapping(cover)
        for name, cover in covers.items()
        if sum(f"construction_{k}" != name and len(constr[k]) > 0 for k in plans) > 1
    }
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
            share = _share_inside(c.geoms, cover, grid_size, clean=clean.get(name))
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
