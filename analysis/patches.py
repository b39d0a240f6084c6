"""Conflict patches (冲突图斑): the ledger's unit, one distinct piece of land per conflict type.

:func:`~fiveplans.analysis.conflicts.find_conflicts` reports *pairs*: one row per pair of
parcels that conflict. The same land appears once per plan that puts construction on it (the
cluster and the urban plans often both do), so the pairs of a type overlap and their areas must
not be summed. A decision is taken about a piece of land, not a pair: :func:`conflict_patches`
merges the pairs of each type whose pieces overlap into one patch, listing every plan, source
parcel and pair inside it. Within one type the patches do not overlap, so their areas add up to
the type's area in ``summary.json`` (the union of its pieces); across types they may (a piece
can be both ``farmland_construction`` and ``plan_mismatch``, CONTRACT §5).

>>> import geopandas as gpd, shapely
>>> pairs = gpd.GeoDataFrame(
...     {"conflict_id": ["FC-a", "FC-b"], "type": ["farmland_construction"] * 2,
...      "plan_a": ["cluster", "urban"], "source_a": ["C1", "U1"],
...      "plan_b": ["land_use", "land_use"], "source_b": ["F1", "F1"]},
...     geometry=[shapely.box(0, 0, 100, 100), shapely.box(50, 0, 150, 100)], crs="EPSG:4547")
>>> patches = conflict_patches(pairs)
>>> len(patches), float(patches["area_m2"].iloc[0]), patches["plans"].iloc[0]
(1, 15000.0, 'cluster,land_use,urban')
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import geopandas as gpd
import numba
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.errors import GEOSException

from fiveplans.analysis import overlay
from fiveplans.analysis.conflicts import CONFLICT_TYPES, TYPE_PREFIX
from fiveplans.errors import DataError

__all__ = [
    "OVERLAP_NOTE",
    "PATCH_COLUMNS",
    "blank_mask",
    "conflict_patches",
    "pair_to_patch",
]

log = logging.getLogger(__name__)

PATCH_COLUMNS = [
    "patch_id",
    "type",
    "area_m2",
    "area_ha",
    "area_mu",
    "ellipsoidal_area_m2",
    "lon",
    "lat",
    "district",
    "n_pairs",
    "plans",
    "sources",
    "codes",
    "conflict_ids",
]
"""Columns of the patches table, in order (then ``geometry``)."""
OVERLAP_NOTE = (
    "同一类型的图斑互不重叠，面积可相加；不同类型之间可能重叠（同一地块可既占基本农田又规划不一致）— "
    "patches of one type do not overlap and their areas add up; patches of different types may "
    "overlap (a piece can be both farmland_construction and plan_mismatch)"
)
"""What a planner may sum in the patches table (shown with every copy of it)."""
_DERIVED = ("area_ha", "area_mu", "ellipsoidal_area_m2", "lon", "lat")
#: The columns :func:`_patches_of_type` builds (the others are derived by :func:`_patch_frame`).
_BUILT = [c for c in PATCH_COLUMNS if c not in _DERIVED]
_REQUIRED = ("conflict_id", "type", "plan_a", "plan_b", "source_a", "source_b")
_HASH_CHARS = 12
#: Two pieces of one type belong to one patch when their interiors share more than this (m²);
#: shared edges and numerical slivers of the overlay do not join patches.
MIN_OVERLAP_M2 = 0.01


def is_blank(value: object) -> bool:
    """None, NaN, pd.NA, NaT or blank text (an empty cell of a table or ledger)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


_blank = is_blank


#: Worker threads of the pairwise tests and the unions (GEOS releases the GIL).
_THREADS = min(2, os.cpu_count() or 1)
#: Rows per vectorised GEOS call (small enough to spread over the threads, large enough that
#: the per-call overhead vanishes).
_CHUNK = 8192


def _on_threads(func: Callable[[np.ndarray], np.ndarray], n: int) -> np.ndarray:
    """``func(rows)`` over chunks of ``range(n)`` on :data:`_THREADS` threads, joined in order."""
    chunks = [np.arange(i, min(i + _CHUNK, n)) for i in range(0, n, _CHUNK)]
    if len(chunks) < 2 or _THREADS < 2:
        return func(np.arange(n))
    with ThreadPoolExecutor(_THREADS) as pool:
        return np.concatenate(list(pool.map(func, chunks)))


def _jit(func: Callable) -> Callable:
    """``numba.njit(nogil=True)`` with an on-disk cache when a cache directory is writable."""
    try:
        return numba.njit(nogil=True, cache=True)(func)
    except RuntimeError:  # no writable cache location: compile in memory
        return numba.njit(nogil=True)(func)


@_jit
def _separated_kernel(
    xy: np.ndarray, start: np.ndarray, left: np.ndarray, right: np.ndarray, tol: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """Per pair: a line through two consecutive vertices of either piece that has every
    vertex of one piece on one side and every vertex of the other on the other, up to
    ``tol`` (m) across it."""
    out = np.zeros(len(left), dtype=np.bool_)
    for k in range(len(left)):
        a0, a1 = start[left[k]], start[left[k] + 1]
        b0, b1 = start[right[k]], start[right[k] + 1]
        t = tol[k]
        found = False
        for side in range(2):
            e0, e1 = (a0, a1) if side == 0 else (b0, b1)
            for e in range(e0, e1 - 1):
                px, py = xy[e, 0], xy[e, 1]
                dx, dy = xy[e + 1, 0] - px, xy[e + 1, 1] - py
                norm = np.sqrt(dx * dx + dy * dy)
                if norm == 0.0:
                    continue
                lo_a, hi_a, lo_b, hi_b = np.inf, -np.inf, np.inf, -np.inf
                for v in range(a0, a1):
                    d = (dx * (xy[v, 1] - py) - dy * (xy[v, 0] - px)) / norm
                    lo_a, hi_a = min(lo_a, d), max(hi_a, d)
                for v in range(b0, b1):
                    d = (dx * (xy[v, 1] - py) - dy * (xy[v, 0] - px)) / norm
                    lo_b, hi_b = min(lo_b, d), max(hi_b, d)
                if (lo_a >= -t and hi_b <= t) or (hi_a <= t and lo_b >= -t):
                    found = True
                    break
            if found:
                break
        out[k] = found
    return out


def _separated(
    geoms: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    width: np.ndarray,
    height: np.ndarray,
    min_overlap_m2: float,
) -> np.ndarray:
    """Pairs that certainly share less than ``min_overlap_m2``: a line (through an edge of
    either piece) has one piece on each side, up to a strip whose part inside both bounding
    boxes is under half that area (no tolerance when the threshold is under 1e-4 m², where
    rounding could matter: then nothing is certified)."""
    out = np.zeros(len(left), dtype=bool)
    if min_overlap_m2 < 1e-4 or not len(left):
        return out
    xy, owner = shapely.get_coordinates(geoms, return_index=True)
    start = np.searchsorted(owner, np.arange(len(geoms) + 1)).astype(np.int64)
    # the pair's common area lies in the strip and in both boxes: 2 * tol * diagonal
    tol = 0.25 * min_overlap_m2 / np.maximum(np.hypot(width, height), 1e-9)
    return _separated_kernel(xy, start, left.astype(np.int64), right.astype(np.int64), tol)


@_jit
def _convex_kernel(xy: np.ndarray, start: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Per ring (closed, ``xy[start[k]:start[k + 1]]``): every turn the same way (or none)."""
    n = len(start) - 1
    out = np.zeros(n, dtype=np.bool_)
    for k in range(n):
        s0, s1 = start[k], start[k + 1] - 1  # without the closing point
        m = s1 - s0
        if m < 3:
            continue
        pos, neg = False, False
        for t in range(m):
            a, b, c = s0 + t, s0 + (t + 1) % m, s0 + (t + 2) % m
            cr = (xy[b, 0] - xy[a, 0]) * (xy[c, 1] - xy[b, 1]) - (xy[b, 1] - xy[a, 1]) * (
                xy[c, 0] - xy[b, 0]
            )
            pos |= cr > 0.0
            neg |= cr < 0.0
        out[k] = not (pos and neg)
    return out


@_jit
def _convex_overlap_kernel(
    xy: np.ndarray, start: np.ndarray, left: np.ndarray, right: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """Area shared by two convex rings per pair (Sutherland–Hodgman, then the shoelace), in
    coordinates relative to the first ring's first vertex."""
    out = np.empty(len(left))
    for k in range(len(left)):
        a0, a1 = start[left[k]], start[left[k] + 1] - 1
        b0, b1 = start[right[k]], start[right[k] + 1] - 1
        ox, oy = xy[a0, 0], xy[a0, 1]
        na, nb = a1 - a0, b1 - b0
        cap = 2 * (na + nb) + 4
        px = np.empty(cap)
        py = np.empty(cap)
        qx = np.empty(cap)
        qy = np.empty(cap)
        area_a = 0.0
        for t in range(na):
            px[t], py[t] = xy[a0 + t, 0] - ox, xy[a0 + t, 1] - oy
        for t in range(na):
            u = (t + 1) % na
            area_a += px[t] * py[u] - px[u] * py[t]
        if area_a < 0.0:  # counter-clockwise subject
            px[:na], py[:na] = px[:na][::-1].copy(), py[:na][::-1].copy()
        area_b = 0.0
        for t in range(nb):
            u = (t + 1) % nb
            area_b += (xy[b0 + t, 0] - ox) * (xy[b0 + u, 1] - oy) - (xy[b0 + u, 0] - ox) * (
                xy[b0 + t, 1] - oy
            )
        step = 1 if area_b >= 0.0 else -1
        n = na
        for e in range(nb):
            i0 = e if step == 1 else nb - 1 - e
            i1 = (i0 + step) % nb
            cx, cy = xy[b0 + i0, 0] - ox, xy[b0 + i0, 1] - oy
            dx, dy = xy[b0 + i1, 0] - ox - cx, xy[b0 + i1, 1] - oy - cy
            m = 0
            for t in range(n):
                sx, sy = px[t], py[t]
                ex, ey = px[(t + 1) % n], py[(t + 1) % n]
                ds = dx * (sy - cy) - dy * (sx - cx)
                de = dx * (ey - cy) - dy * (ex - cx)
                if ds >= 0.0:
                    qx[m], qy[m] = sx, sy
                    m += 1
                if (ds >= 0.0) != (de >= 0.0):
                    f = ds / (ds - de)
                    qx[m], qy[m] = sx + f * (ex - sx), sy + f * (ey - sy)
                    m += 1
            n = m
            px[:n], py[:n] = qx[:n], qy[:n]
            if n == 0:
                break
        area = 0.0
        for t in range(n):
            u = (t + 1) % n
            area += px[t] * py[u] - px[u] * py[t]
        out[k] = 0.5 * area
    return out


def _convex_overlap(geoms: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The area two pieces share where both are convex polygons (one ring), NaN elsewhere."""
    out = np.full(len(left), np.nan)
    if not len(left):
        return out
    simple = (shapely.get_type_id(geoms) == 3) & (shapely.get_num_interior_rings(geoms) == 0)
    rings = shapely.get_exterior_ring(geoms[simple])
    xy, owner = shapely.get_coordinates(rings, return_index=True)
    start = np.searchsorted(owner, np.arange(len(rings) + 1)).astype(np.int64)
    row = np.full(len(geoms), -1, dtype=np.int64)
    row[simple] = np.arange(int(simple.sum()))
    convex = np.zeros(len(geoms), dtype=bool)
    convex[simple] = _convex_kernel(xy, start)
    both = np.flatnonzero(convex[left] & convex[right])
    if len(both):
        out[both] = _convex_overlap_kernel(xy, start, row[left[both]], row[right[both]])
    return out


def _overlap_pairs(geoms: np.ndarray, min_overlap_m2: float) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``i < j`` of pieces whose interiors overlap by more than ``min_overlap_m2``."""
    if len(geoms) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    # candidate pairs by bounding box; the exact tests below decide (an ``intersects``
    # predicate in the query would only repeat what relate_pattern decides)
    left, right = shapely.STRtree(geoms).query(geoms)
    keep = left < right
    left, right = left[keep], right[keep]
    # pieces whose bounding boxes only touch (neighbours along an edge) cannot overlap
    box = shapely.bounds(geoms)
    width = np.minimum(box[left, 2], box[right, 2]) - np.maximum(box[left, 0], box[right, 0])
    height = np.minimum(box[left, 3], box[right, 3]) - np.maximum(box[left, 1], box[right, 1])
    keep = (width > 0) & (height > 0) & (width * height > min_overlap_m2)
    left, right = left[keep], right[keep]
    # pieces a line separates (neighbours along a shared edge, nearly all candidates) need no
    # GEOS test (a compiled kernel; its tolerance keeps any overlap it passes under half the
    # threshold)
    keep = ~_separated(geoms, left, right, width[keep], height[keep], min_overlap_m2)
    left, right = left[keep], right[keep]
    if not len(left):
        return left, right
    piece_area = shapely.area(geoms)

    def inner(rows: np.ndarray) -> np.ndarray:
        try:
            return shapely.relate_pattern(geoms[left[rows]], geoms[right[rows]], "2********")
        except GEOSException:
            return np.ones(len(rows), dtype=bool)  # decided by the robust intersection below

    keep = _on_threads(inner, len(left))
    left, right = left[keep], right[keep]
    # the shared area of two convex pieces from the compiled clipper where it is clearly on
    # one side of the threshold (GEOS's intersection agrees to ~1e-9 of the areas)
    area = _convex_overlap(geoms, left, right)
    scale = np.maximum(piece_area[left], piece_area[right]) if len(left) else np.empty(0)
    margin = 1e-6 + 1e-7 * scale
    unsure = np.flatnonzero(~(np.abs(area - min_overlap_m2) > margin))  # NaN: unsure
    if len(unsure):
        l_u, r_u = left[unsure], right[unsure]

        # one vectorised, robust overlay for the other pairs (GEOS releases the GIL; a failing
        # batch is redone pair by pair with snap-rounding)
        def shared_area(rows: np.ndarray) -> np.ndarray:
            shared = overlay.intersect_each(geoms[l_u[rows]], geoms[r_u[rows]])
            has = np.not_equal(shared, None)
            out = np.zeros(len(rows))
            out[has] = shapely.area(shared[has])
            return out

        area[unsure] = _on_threads(shared_area, len(unsure))
    ok = area > min_overlap_m2
    return left[ok], right[ok]


def _union_groups(
    geoms: np.ndarray, members: np.ndarray, group: np.ndarray, n_groups: int, grid_size: float
) -> np.ndarray:
    """The polygonal union of each group of pieces, as :func:`overlay.union_all` gives it.

    ``members`` lists the pieces group by group (``group`` their group, ascending); the groups
    are unioned in vectorised GEOS calls (one row of a ``None``-padded table per group, the
    pieces in the order of ``members``); a chunk GEOS fails on is redone group by group with
    the snap-rounding fallback of :func:`overlay.union_all`.
    """
    out = np.empty(n_groups, dtype=object)
    if n_groups == 0:
        return out
    size = np.bincount(group, minlength=n_groups)
    start = np.cumsum(size) - size
    table = np.full((n_groups, int(size.max())), None, dtype=object)
    table[group, np.arange(len(members)) - start[group]] = geoms[members]

    def union(rows: np.ndarray) -> np.ndarray:
        try:
            merged = shapely.union_all(table[rows], axis=1)
        except GEOSException:
            redo = [
                overlay.union_all(r[np.not_equal(r, None)], grid_size=grid_size)
                for r in table[rows]
            ]
            done = np.empty(len(rows), dtype=object)
            done[:] = redo
            return done
        parts = overlay.polygonal_each(merged)
        empty = np.equal(parts, None)
        parts[empty] = [shapely.Polygon() for _ in range(int(empty.sum()))]
        return parts

    out[:] = _on_threads(union, n_groups)
    return out


def blank_mask(values: list[object]) -> np.ndarray:
    """:func:`is_blank` of each value of a list, vectorised (missing values, then blank
    texts)."""
    arr = np.fromiter(values, dtype=object, count=len(values))
    mask = np.asarray(pd.isna(arr), dtype=bool)
    text = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))
    if text.any():
        mask[text] = np.array([not v.strip() for v in arr[text].tolist()], dtype=bool)
    return mask


def _end_texts(
    plan_of: list[object], src_of: list[object], code_of: list[object]
) -> tuple[list[str | None], list[str | None], list[str | None]]:
    """One end of every pair: its plan, ``plan:source`` and ``plan:code`` texts (``None``
    where blank; a source needs its plan, a code its source)."""
    no_plan, no_src, no_code = blank_mask(plan_of), blank_mask(src_of), blank_mask(code_of)
    plans: list[str | None] = [None] * len(plan_of)
    sources: list[str | None] = [None] * len(plan_of)
    codes: list[str | None] = [None] * len(plan_of)
    for i in np.flatnonzero(~no_plan).tolist():
        plan = plan_of[i]
        plans[i] = str(plan)
        if not no_src[i]:
            sources[i] = f"{plan}:{src_of[i]}"
            if not no_code[i]:
                codes[i] = f"{plan}:{code_of[i]}"
    return plans, sources, codes


def _texts(members: list[int], a: list[str | None], b: list[str | None]) -> list[str]:
    """The distinct texts of both ends of the pairs ``members``, sorted (blanks left out)."""
    return sorted({t for i in members for t in (a[i], b[i]) if t is not None})


def _column(frame: pd.DataFrame, name: str) -> list[object]:
    return frame[name].tolist() if name in frame.columns else [None] * len(frame)


def _patch_hash(kind: str, sources: list[str]) -> str:
    text = "\x1f".join([kind, *sources]).encode("utf-8")
    return hashlib.sha1(text, usedforsecurity=False).hexdigest()[:_HASH_CHARS]


def conflict_patches(
    conflicts: gpd.GeoDataFrame,
    *,
    grid_size: float = 1e-4,
    min_overlap_m2: float = MIN_OVERLAP_M2,
) -> gpd.GeoDataFrame:
    """Merge the conflict pairs of each type into distinct patches of land (冲突图斑).

    Parameters
    ----------
    conflicts
        The pairs table of :func:`~fiveplans.analysis.conflicts.find_conflicts` (in a
        projected CRS, metres).
    grid_size
        Grid of the snap-rounding fallback of the unions.
    min_overlap_m2
        Pieces of one type whose interiors share more than this join one patch.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per patch, columns :data:`PATCH_COLUMNS` then ``geometry``: ``patch_id``
        (type prefix + ``P-`` + a hash of the type and the sorted ``plan:source`` ids, stable
        across reruns and row orders), ``type``, ``area_m2`` (of the union of its pieces; the
        patches of one type sum to the type's area in ``summary.json``), ``area_ha``,
        ``area_mu``, ``ellipsoidal_area_m2``, ``lon``/``lat`` (a point inside, CGCS2000),
        ``district`` (of its largest pair), ``n_pairs``, ``plans`` (every plan involved,
        comma-separated), ``sources`` (every ``plan:source_id``, ``; ``-separated), ``codes``
        (``plan:code`` of those parcels) and ``conflict_ids`` (its pairs, comma-separated).
        Rows are ordered by type, then area (largest first). ``attrs["rows_overlap"]`` holds
        :data:`OVERLAP_NOTE`.
    """
    crs = _check_table(conflicts)
    cols: dict[str, list[object]] = {c: [] for c in _BUILT}
    geoms_out: list[np.ndarray] = []
    kinds = [t for t in CONFLICT_TYPES if (conflicts["type"] == t).any()]
    kinds += sorted(set(conflicts["type"].astype(str)) - set(CONFLICT_TYPES))
    for kind in kinds:
        kind_cols, kind_geoms = _patches_of_type(
            kind, conflicts.loc[conflicts["type"] == kind], grid_size, min_overlap_m2
        )
        for c in _BUILT:
            cols[c] += kind_cols[c]
        geoms_out.append(kind_geoms)
    geometry = np.concatenate(geoms_out) if geoms_out else np.empty(0, dtype=object)
    return _patch_frame(cols, geometry, kinds, crs)


def _check_table(conflicts: gpd.GeoDataFrame) -> Any:
    """Stage 1: the pairs table has the columns and a projected CRS; returns the CRS."""
    missing = [c for c in _REQUIRED if c not in conflicts.columns]
    if missing:
        raise DataError(
            f"冲突表缺少列 — the conflicts table lacks column(s) {', '.join(missing)}. "
            "解决 Fix: pass the result of fiveplans.analysis.find_conflicts"
        )
    crs = conflicts.crs
    if crs is not None and not pyproj.CRS(crs).is_projected:
        raise DataError(
            f"冲突表不是投影坐标 — the conflicts table is in {pyproj.CRS(crs).name}, not a "
            "projected CRS in metres. 解决 Fix: pass the result of find_conflicts unchanged"
        )
    return crs


def _patches_of_type(
    kind: str, sel: gpd.GeoDataFrame, grid_size: float, min_overlap_m2: float
) -> tuple[dict[str, list[object]], np.ndarray]:
    """Stage 2: the pairs of one type grouped by overlap (connected components) into patches.

    Returns the patches' columns (those of :data:`PATCH_COLUMNS` not derived later) and their
    geometries: a patch of one pair keeps the pair's piece; a larger one is the union of its
    pieces (all unions in vectorised calls, :func:`_union_groups`).
    """
    geoms = np.asarray(sel.geometry.to_numpy(), dtype=object)
    ok = np.array([g is not None and not g.is_empty for g in geoms], dtype=bool)
    sel, geoms = sel.loc[ok], geoms[ok]
    n = len(geoms)
    left, right = _overlap_pairs(geoms, min_overlap_m2)
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    n_groups, label = connected_components(graph, directed=False)
    piece_area = shapely.area(geoms)
    # the pieces group by group (ascending within a group); per group its largest piece
    # (the first of equal ones), whose district the patch takes
    order = np.argsort(label, kind="stable")
    size = np.bincount(label, minlength=n_groups)
    first = np.cumsum(size) - size
    by_area = np.lexsort((np.arange(n), -piece_area, label))
    biggest = by_area[first]
    # merged patches: one vectorised union per chunk of groups
    multi = size > 1
    renum = np.cumsum(multi) - 1  # group -> its row among the merged ones
    in_multi = multi[label[order]]
    unions = _union_groups(
        geoms, order[in_multi], renum[label[order[in_multi]]], int(multi.sum()), grid_size
    )
    area = piece_area[biggest]  # a single pair's own area (its piece is the patch)
    area[multi] = shapely.area(unions) if len(unions) else np.empty(0)
    patch_geoms = geoms[biggest]
    patch_geoms[multi] = unions

    ids = sel["conflict_id"].astype(str).tolist()
    ends = [
        _end_texts(
            sel[f"plan_{x}"].tolist(), sel[f"source_{x}"].tolist(), _column(sel, f"code_{x}")
        )
        for x in ("a", "b")
    ]
    (plan_a, src_a, code_a), (plan_b, src_b, code_b) = ends
    district = _column(sel, "district")
    prefix = TYPE_PREFIX.get(kind, kind[:2].upper())
    cols: dict[str, list[object]] = {c: [] for c in _BUILT}
    bounds = np.r_[first, n].tolist()
    members_all = order.tolist()
    for g in range(n_groups):
        members = members_all[bounds[g] : bounds[g + 1]]
        plans = _texts(members, plan_a, plan_b)
        sources = _texts(members, src_a, src_b)
        codes = _texts(members, code_a, code_b)
        cols["patch_id"].append(f"{prefix}P-{_patch_hash(kind, sources)}")
        cols["district"].append(district[biggest[g]])
        cols["n_pairs"].append(len(members))
        cols["plans"].append(",".join(plans))
        cols["sources"].append("; ".join(sources))
        cols["codes"].append("; ".join(codes))
        cols["conflict_ids"].append(",".join(sorted(ids[i] for i in members)))
    cols["type"] = [kind] * n_groups
    cols["area_m2"] = area.tolist()
    return cols, patch_geoms


def _patch_frame(
    cols: dict[str, list[object]], geometry: np.ndarray, kinds: list[str], crs: Any
) -> gpd.GeoDataFrame:
    """Stage 3: unique ids, order (type, area), derived areas and a point inside each patch."""
    table = pd.DataFrame(cols, columns=_BUILT)
    table = _unique_ids(table)
    rank = {t: i for i, t in enumerate(kinds)}
    order = (
        np.lexsort(
            (
                table["patch_id"].to_numpy(),
                -table["area_m2"].to_numpy(),
                table["type"].map(rank).to_numpy(),
            )
        )
        if len(table)
        else np.empty(0, np.int64)
    )
    table = table.iloc[order].reset_index(drop=True)
    geometry = geometry[order]
    area = table["area_m2"].to_numpy(dtype=float)
    table["area_ha"] = area / 1e4
    table["area_mu"] = area / overlay.M2_PER_MU
    if len(table) and crs is not None:
        table["ellipsoidal_area_m2"] = overlay.ellipsoidal_area(geometry, pyproj.CRS(crs))
        lon, lat = overlay.lonlat(shapely.point_on_surface(geometry), pyproj.CRS(crs))
        table["lon"], table["lat"] = lon, lat
    else:
        for col in ("ellipsoidal_area_m2", "lon", "lat"):
            table[col] = np.full(len(table), np.nan)
    out = gpd.GeoDataFrame(
        table[PATCH_COLUMNS], geometry=list(geometry) if len(geometry) else [], crs=crs
    )
    out.attrs["rows_overlap"] = OVERLAP_NOTE
    return out


def _unique_ids(table: pd.DataFrame) -> pd.DataFrame:
    """Patches of one type over the same sources (disjoint pieces of the same parcels) get
    ``-2``, ``-3`` … in the order of their pair ids (stable)."""
    if not len(table) or table["patch_id"].is_unique:
        return table
    table = table.copy()
    ranks = table.sort_values(["patch_id", "conflict_ids"]).groupby("patch_id").cumcount() + 1
    ranks = ranks.reindex(table.index)
    table["patch_id"] = [
        pid if r == 1 else f"{pid}-{r}" for pid, r in zip(table["patch_id"], ranks, strict=True)
    ]
    return table


def pair_to_patch(patches: pd.DataFrame) -> dict[str, str]:
    """Conflict (pair) id → the id of the patch that holds it."""
    out: dict[str, str] = {}
    for pid, ids in zip(patches["patch_id"], patches["conflict_ids"], strict=True):
        for cid in str(ids).split(","):
            if cid:
                out[cid] = str(pid)
    return out
