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
import itertools
import logging
from typing import Any

import geopandas as gpd
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

__all__ = ["OVERLAP_NOTE", "PATCH_COLUMNS", "conflict_patches", "pair_to_patch"]

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


def _overlap_pairs(geoms: np.ndarray, min_overlap_m2: float) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``i < j`` of pieces whose interiors overlap by more than ``min_overlap_m2``."""
    if len(geoms) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    # pieces whose bounding boxes only touch (neighbours along an edge) cannot overlap
    box = shapely.bounds(geoms)
    width = np.minimum(box[left, 2], box[right, 2]) - np.maximum(box[left, 0], box[right, 0])
    height = np.minimum(box[left, 3], box[right, 3]) - np.maximum(box[left, 1], box[right, 1])
    keep = width * height > min_overlap_m2
    left, right = left[keep], right[keep]
    if not len(left):
        return left, right
    try:
        inner = shapely.relate_pattern(geoms[left], geoms[right], "2********")
    except GEOSException:
        inner = np.ones(len(left), dtype=bool)  # decided by the robust intersection below
    left, right = left[inner], right[inner]
    # one vectorised, robust overlay for all candidate pairs (GEOS releases the GIL; a failing
    # batch is redone pair by pair with snap-rounding)
    shared = overlay.intersect_each(geoms[left], geoms[right])
    area = np.array([0.0 if g is None else g.area for g in shared], dtype=float)
    ok = area > min_overlap_m2
    return left[ok], right[ok]


def _column(frame: pd.DataFrame, name: str) -> list[object]:
    return frame[name].tolist() if name in frame.columns else [None] * len(frame)


def _single(
    kind: str,
    prefix: str,
    i: int,
    ids: list[str],
    ends: list[tuple[list, list, list]],
    district: list[object],
    area: float,
) -> dict[str, object]:
    """The patch of one pair (the same fields as the general case, without sets)."""
    plans, sources, codes = [], [], []
    for plan_of, src_of, code_of in ends:
        plan = plan_of[i]
        if _blank(plan):
            continue
        plans.append(str(plan))
        src = src_of[i]
        if not _blank(src):
            sources.append(f"{plan}:{src}")
            code = code_of[i]
            if not _blank(code):
                codes.append(f"{plan}:{code}")
    plans = sorted(set(plans))
    sources = sorted(set(sources))
    return {
        "patch_id": f"{prefix}P-{_patch_hash(kind, sources)}",
        "type": kind,
        "area_m2": area,
        "district": district[i],
        "n_pairs": 1,
        "plans": ",".join(plans),
        "sources": "; ".join(sources),
        "codes": "; ".join(sorted(set(codes))),
        "conflict_ids": ids[i],
    }


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
    rows: list[dict[str, object]] = []
    geoms_out: list[shapely.Geometry] = []
    kinds = [t for t in CONFLICT_TYPES if (conflicts["type"] == t).any()]
    kinds += sorted(set(conflicts["type"].astype(str)) - set(CONFLICT_TYPES))
    for kind in kinds:
        kind_rows, kind_geoms = _patches_of_type(
            kind, conflicts.loc[conflicts["type"] == kind], grid_size, min_overlap_m2
        )
        rows += kind_rows
        geoms_out += kind_geoms
    return _patch_frame(rows, geoms_out, kinds, crs)


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
) -> tuple[list[dict[str, object]], list[shapely.Geometry]]:
    """Stage 2: the pairs of one type grouped by overlap (connected components) into patches."""
    geoms = np.asarray(sel.geometry.to_numpy(), dtype=object)
    ok = np.array([g is not None and not g.is_empty for g in geoms], dtype=bool)
    sel, geoms = sel.loc[ok], geoms[ok]
    n = len(geoms)
    left, right = _overlap_pairs(geoms, min_overlap_m2)
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    order = np.argsort(label, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(label[order]) != 0, True])
    ids = sel["conflict_id"].astype(str).tolist()
    ends = [
        (sel[f"plan_{x}"].tolist(), sel[f"source_{x}"].tolist(), _column(sel, f"code_{x}"))
        for x in ("a", "b")
    ]
    district = _column(sel, "district")
    piece_area = shapely.area(geoms)
    prefix = TYPE_PREFIX.get(kind, kind[:2].upper())
    rows: list[dict[str, object]] = []
    out: list[shapely.Geometry] = []
    for s, e in itertools.pairwise(bounds.tolist()):
        members = order[s:e].tolist()
        if len(members) == 1:  # most patches: one pair, no union (fast path)
            i = members[0]
            rows.append(_single(kind, prefix, i, ids, ends, district, float(piece_area[i])))
            out.append(geoms[i])
            continue
        geom = overlay.union_all(geoms[members], grid_size=grid_size)
        biggest = members[int(np.argmax(piece_area[members]))]
        rows.append(_merged(kind, prefix, members, ids, ends, district[biggest], geom))
        out.append(geom)
    return rows, out


def _merged(
    kind: str,
    prefix: str,
    members: list[int],
    ids: list[str],
    ends: list[tuple[list, list, list]],
    district: object,
    geom: shapely.Geometry,
) -> dict[str, object]:
    """The row of a patch of several pairs: every plan, source and code involved."""
    plans: set[str] = set()
    sources: set[str] = set()
    codes: set[str] = set()
    for i in members:
        for plan_of, src_of, code_of in ends:
            plan, src, code = plan_of[i], src_of[i], code_of[i]
            if _blank(plan):
                continue
            plans.add(str(plan))
            if not _blank(src):
                sources.add(f"{plan}:{src}")
                if not _blank(code):
                    codes.add(f"{plan}:{code}")
    src_list = sorted(sources)
    return {
        "patch_id": f"{prefix}P-{_patch_hash(kind, src_list)}",
        "type": kind,
        "area_m2": float(geom.area),
        "district": district,
        "n_pairs": len(members),
        "plans": ",".join(sorted(plans)),
        "sources": "; ".join(src_list),
        "codes": "; ".join(sorted(codes)),
        "conflict_ids": ",".join(sorted(ids[i] for i in members)),
    }


def _patch_frame(
    rows: list[dict[str, object]], geoms: list[shapely.Geometry], kinds: list[str], crs: Any
) -> gpd.GeoDataFrame:
    """Stage 3: unique ids, order (type, area), derived areas and a point inside each patch."""
    table = pd.DataFrame(rows, columns=[c for c in PATCH_COLUMNS if c not in _DERIVED])
    geometry = np.array(geoms, dtype=object)
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


_DERIVED = ("area_ha", "area_mu", "ellipsoidal_area_m2", "lon", "lat")


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
