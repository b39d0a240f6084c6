"""Quality checks on load (数据质量检查): repair, count and report, never hide.

Each check returns rows for the layer's QA table (``check``, ``count``, ``area_m2``,
``detail``) — the table that goes to the run's outputs and whose problems become warnings in
``summary.json``. Areas are planar m² and only computed once the layer is in the projected
working CRS.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = [
    "GeometryKind",
    "QARow",
    "coverage_overlaps",
    "drop_exact_duplicates",
    "duplicate_geometries",
    "qa_table",
    "repair_geometries",
    "shared_ids",
]

log = logging.getLogger(__name__)

GeometryKind = Literal["polygon", "line", "point", "any", "point_or_polygon"]

_POLYGONAL = {"Polygon", "MultiPolygon"}
_LINEAR = {"LineString", "MultiLineString", "LinearRing"}
_PUNTAL = {"Point", "MultiPoint"}
_ALLOWED: dict[str, set[str]] = {
    "polygon": _POLYGONAL,
    "line": _LINEAR,
    "point": _PUNTAL,
    "point_or_polygon": _POLYGONAL | _PUNTAL,
    "any": _POLYGONAL | _LINEAR | _PUNTAL,
}


@dataclass(frozen=True)
class QARow:
    """One finding of a quality check."""

    check: str
    count: int
    area_m2: float | None = None
    detail: str = ""
    warn: bool = True


def qa_table(layer: str, rows: list[QARow]) -> pd.DataFrame:
    """The rows of one layer as a table with a ``layer`` column."""
    return pd.DataFrame(
        [
            {
                "layer": layer,
                "check": r.check,
                "count": r.count,
                "area_m2": r.area_m2,
                "detail": r.detail,
                "warn": r.warn,
            }
            for r in rows
        ],
        columns=["layer", "check", "count", "area_m2", "detail", "warn"],
    )


def _keep_kind(geoms: np.ndarray, allowed: set[str]) -> np.ndarray:
    """From each geometry keep the parts of the allowed type (e.g. polygons of a collection)."""
    out = geoms.copy()
    types = shapely.get_type_id(geoms)
    collections = np.flatnonzero(types == 7)
    for i in collections:
        parts = [p for p in shapely.get_parts(geoms[i]) if p.geom_type in allowed]
        if not parts:
            out[i] = None
        else:
            out[i] = shapely.union_all(parts) if len(parts) > 1 else parts[0]
    return out


def repair_geometries(
    gdf: gpd.GeoDataFrame, *, kind: GeometryKind, where: str, id_column: str | None = None
) -> tuple[gpd.GeoDataFrame, list[QARow]]:
    """Drop Z/M, drop null and empty geometries, repair invalid ones (polygonal parts kept).

    Returns a new frame (the input is not changed) and the QA rows. Geometry types outside
    ``kind`` raise :class:`~fiveplans.errors.DataError` naming example features.
    """
    from fiveplans.errors import DataError

    rows: list[QARow] = []
    geoms = np.array(gdf.geometry.values, dtype=object)  # a copy: the input is never changed

    has_z = shapely.has_z(geoms)
    n_z = int(np.count_nonzero(has_z))
    if n_z:
        geoms = shapely.force_2d(geoms)
        rows.append(QARow("z_dropped 去除Z值", n_z, detail="Z/M coordinates dropped", warn=False))

    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    n_missing = int(np.count_nonzero(missing))
    if n_missing:
        ids = _examples(gdf, missing, id_column)
        rows.append(QARow("empty_geometry 空几何", n_missing, detail=f"dropped; e.g. {ids}"))
        log.warning("%s: %d null or empty geometries dropped (e.g. %s)", where, n_missing, ids)

    keep = ~missing
    valid = np.ones(len(geoms), dtype=bool)
    valid[keep] = shapely.is_valid(geoms[keep])
    invalid = keep & ~valid
    n_invalid = int(np.count_nonzero(invalid))
    allowed = _ALLOWED[kind]
    if n_invalid:
        reasons = shapely.is_valid_reason(geoms[invalid][:3])
        ids = _examples(gdf, invalid, id_column)
        repaired = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        geoms[invalid] = _keep_kind(np.asarray(repaired, dtype=object), allowed)
        rows.append(
            QARow(
                "invalid_repaired 无效几何已修复",
                n_invalid,
                detail=f"repaired with make_valid (structure); e.g. {ids}: {'; '.join(reasons)}",
            )
        )
        collapsed = keep & (shapely.is_missing(geoms) | shapely.is_empty(geoms))
        n_collapsed = int(np.count_nonzero(collapsed))
        if n_collapsed:
            rows.append(
                QARow(
                    "collapsed_dropped 退化几何已删除",
                    n_collapsed,
                    detail=f"invalid geometries with no {kind} part left; e.g. "
                    f"{_examples(gdf, collapsed, id_column)}",
                )
            )
        keep = keep & ~collapsed

    types = shapely.get_type_id(geoms[keep])
    names = np.array(
        [
            "Point",
            "LineString",
            "LinearRing",
            "Polygon",
            "MultiPoint",
            "MultiLineString",
            "MultiPolygon",
            "GeometryCollection",
        ]
    )
    type_names = names[types] if len(types) else np.array([], dtype=str)
    bad = ~np.isin(type_names, list(allowed))
    if bad.any():
        kept_idx = np.flatnonzero(keep)
        bad_mask = np.zeros(len(geoms), dtype=bool)
        bad_mask[kept_idx[bad]] = True
        found = pd.Series(type_names[bad]).value_counts().to_dict()
        raise DataError(
            f"{where}: expected {kind} geometries but found "
            f"{', '.join(f'{n} × {t}' for t, n in found.items())} "
            f"(e.g. features {_examples(gdf, bad_mask, id_column)}). Fix: split the layer by "
            "geometry type in GIS/CAD and load only the "
            f"{kind}s here (or name the right layer with `layer:`)."
        )
    out = gdf.copy()
    out = out.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    return out.loc[keep], rows


def _examples(gdf: gpd.GeoDataFrame, mask: np.ndarray, id_column: str | None, n: int = 3) -> str:
    idx = np.flatnonzero(mask)[:n]
    if id_column and id_column in gdf.columns:
        values = gdf[id_column].iloc[idx].tolist()
        return ", ".join(f"{id_column}={v}" for v in values)
    return ", ".join(f"row {i + 1}" for i in idx)


def duplicate_geometries(gdf: gpd.GeoDataFrame) -> QARow | None:
    """Features whose geometry repeats another's exactly (after normalisation).

    Only features that share their bounds and area with another are compared exactly
    (normalised WKB), so a layer without repeats costs two vectorised measurements.
    """
    if len(gdf) < 2:
        return None
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    key = pd.DataFrame(shapely.bounds(geoms), columns=["x0", "y0", "x1", "y1"])
    key["area"] = shapely.area(geoms)
    suspects = np.flatnonzero(key.duplicated(keep=False).to_numpy())
    if not len(suspects):
        return None
    wkb = shapely.to_wkb(shapely.normalize(geoms[suspects]), hex=False)
    repeated = pd.Series(wkb).duplicated(keep="first").to_numpy()
    dup = np.zeros(len(geoms), dtype=bool)
    dup[suspects[repeated]] = True
    n = int(dup.sum())
    if not n:
        return None
    area = float(shapely.area(geoms[dup]).sum())
    rows = ", ".join(str(i + 1) for i in np.flatnonzero(dup)[:5])
    return QARow(
        "duplicate_geometry 重复图斑",
        n,
        area_m2=area,
        detail=f"{n} features repeat an earlier geometry (rows {rows})",
    )


def _hashable(values: pd.Series) -> pd.Series:
    """A column as hashable values for ``duplicated`` (lists/dicts of GeoJSON properties → text)."""
    if values.dtype != object:
        return values
    return values.map(lambda v: repr(v) if isinstance(v, (list, dict, set)) else v)


def _normalised_wkb(geoms: np.ndarray) -> np.ndarray:
    return np.asarray(shapely.to_wkb(shapely.normalize(geoms), hex=False), dtype=object)


def _row_labels(gdf: gpd.GeoDataFrame, positions: np.ndarray, id_column: str | None) -> list[str]:
    if id_column and id_column in gdf.columns:
        return [f"{id_column}={v}" for v in gdf[id_column].iloc[positions].tolist()]
    return [f"row {i + 1}" for i in positions]


def drop_exact_duplicates(
    gdf: gpd.GeoDataFrame,
    *,
    id_column: str | None = None,
    ignore: tuple[str, ...] = (),
    row_numbers: np.ndarray | None = None,
) -> tuple[gpd.GeoDataFrame, QARow | None]:
    """Drop records that repeat an earlier one exactly: every attribute and the geometry equal.

    Geometries are compared after :func:`shapely.normalize` (ring start and orientation, part
    order do not matter); attributes as stored (two missing values are equal). The first of each
    group is kept. Only rows whose bounds repeat are compared in full, so a layer without
    repeated geometries costs one pass over four numbers per feature.

    Parameters
    ----------
    gdf
        The layer (not changed).
    id_column
        The id field, used to name the dropped records (else their row numbers).
    ignore
        Bookkeeping columns left out of the comparison (e.g. a CAD entity handle).
    row_numbers
        1-based row numbers of ``gdf``'s records in the delivered file (default: positions + 1).

    Returns
    -------
    frame
        ``gdf`` without the repeats.
    row
        The QA row (``duplicate_record 重复记录``) naming the dropped records, or None.
    """
    if len(gdf) < 2:
        return gdf, None
    geom_name = gdf.geometry.name
    columns = [c for c in gdf.columns if c != geom_name and c not in ignore]
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    # equal records have equal bounds: only rows whose bounds repeat are compared in full
    bounds = pd.DataFrame(shapely.bounds(geoms), columns=["x0", "y0", "x1", "y1"])
    suspects = np.flatnonzero(bounds.duplicated(keep=False).to_numpy())
    if not len(suspects):
        return gdf, None
    sub = gdf.iloc[suspects]
    exact = pd.DataFrame(
        {f"a{i}": _hashable(sub[c]).to_numpy() for i, c in enumerate(columns)},
        index=pd.RangeIndex(len(suspects)),
    )
    exact["wkb"] = _normalised_wkb(geoms[suspects])
    repeated = exact.duplicated(keep="first").to_numpy()
    if not repeated.any():
        return gdf, None
    drop = np.zeros(len(gdf), dtype=bool)
    drop[suspects[repeated]] = True
    n = int(drop.sum())
    numbers = (np.asarray(row_numbers) if row_numbers is not None else np.arange(1, len(gdf) + 1))[
        np.flatnonzero(drop)
    ]
    if id_column and id_column in gdf.columns:
        names = _row_labels(gdf, np.flatnonzero(drop), id_column)
        named = [f"{a} (row {r})" for a, r in zip(names, numbers, strict=True)]
    else:
        named = [f"row {r}" for r in numbers]
    shown = ", ".join(named[:10]) + (f" … (+{n - 10})" if n > 10 else "")
    row = QARow(
        "duplicate_record 重复记录",
        n,
        detail=f"重复记录已删除 — {n} records repeat an earlier one exactly (every attribute "
        f"and the geometry) and were dropped: {shown}",
    )
    return gdf.loc[~drop], row


def shared_ids(
    gdf: gpd.GeoDataFrame,
    id_column: str,
    *,
    ignore: tuple[str, ...] = (),
    row_numbers: np.ndarray | None = None,
    limit: int = 5,
) -> list[str]:
    """Ids carried by records that differ, each with what differs (for the id check's message).

    Run after :func:`drop_exact_duplicates`: the records sharing an id then differ in an
    attribute or in the geometry. Returns one description per shared id (at most ``limit``,
    plus a count of the rest), empty when every id is unique.
    """
    column = gdf[id_column]
    if column.dtype != object and not column.duplicated().any():
        return []  # fast path: distinct numbers or strings have distinct text
    ids = column.astype(str)
    dup = ids.duplicated(keep=False).to_numpy()
    if not dup.any():
        return []
    numbers = np.asarray(row_numbers) if row_numbers is not None else np.arange(1, len(gdf) + 1)
    geom_name = gdf.geometry.name
    columns = [c for c in gdf.columns if c not in (geom_name, id_column) and c not in ignore]
    groups = pd.Series(np.flatnonzero(dup)).groupby(ids.to_numpy()[dup], sort=False)
    out: list[str] = []
    n_groups = groups.ngroups
    for value, members in groups:
        if len(out) == limit:
            out.append(f"… and {n_groups - limit} more ids")
            break
        pos = members.to_numpy()
        sub = gdf.iloc[pos]
        differs: list[str] = []
        for c in columns:
            vals = _hashable(sub[c])
            if vals.nunique(dropna=False) > 1:
                shown = " ≠ ".join(repr(v) for v in pd.unique(vals)[:3].tolist())
                differs.append(f"{c} {shown}")
        geoms = np.asarray(sub.geometry.values, dtype=object)
        if len(set(_normalised_wkb(geoms).tolist())) > 1:
            dims = shapely.get_dimensions(geoms)
            if (dims == 2).all():
                sizes = " ≠ ".join(f"{a:,.1f} m²" for a in shapely.area(geoms)[:3])
            elif (dims == 1).all():
                sizes = " ≠ ".join(f"{a:,.1f} m" for a in shapely.length(geoms)[:3])
            else:
                c0 = shapely.centroid(geoms[0])
                sizes = ", ".join(
                    f"{shapely.distance(c0, shapely.centroid(g)):,.1f} m apart" for g in geoms[1:3]
                )
            differs.append(f"geometry ({sizes})")
        rows = ", ".join(str(r) for r in numbers[pos][:5])
        out.append(f"{id_column}={value} (rows {rows}: {'; '.join(differs) or 'differ'})")
    return out


def _invalid_edges(geoms: np.ndarray, *, min_chunk: int = 20_000) -> np.ndarray:
    """``shapely.coverage_invalid_edges`` on all cores.

    The coverage is cut into vertical strips by centroid; each strip is validated together
    with the polygons of other strips whose extent reaches into it (every polygon that can touch
    a strip's polygons), so each polygon's result is the same as over the whole coverage. GEOS
    releases the GIL, so the strips run in threads.
    """
    workers = min(os.cpu_count() or 1, max(1, len(geoms) // min_chunk))
    if workers < 2:
        return shapely.coverage_invalid_edges(geoms)
    bounds = shapely.bounds(geoms)
    centre = (bounds[:, 0] + bounds[:, 2]) / 2
    cuts = np.quantile(centre, np.linspace(0, 1, workers + 1)[1:-1])
    strip = np.searchsorted(cuts, centre, side="right")
    jobs = []
    for k in range(workers):
        own = np.flatnonzero(strip == k)
        lo, hi = bounds[own, 0].min(), bounds[own, 2].max()
        near = np.flatnonzero((strip != k) & (bounds[:, 0] <= hi) & (bounds[:, 2] >= lo))
        jobs.append((own, near))

    def run(job: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        own, near = job
        return shapely.coverage_invalid_edges(geoms[np.concatenate([own, near])])[: len(own)]

    out = np.empty(len(geoms), dtype=object)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for (own, _), result in zip(jobs, pool.map(run, jobs), strict=True):
            out[own] = result
    return out


def coverage_overlaps(gdf: gpd.GeoDataFrame, *, tolerance_m2: float = 1.0) -> QARow | None:
    """Overlaps between features of one plan, which should be a coverage (no overlaps).

    GEOS's coverage validator first finds the polygons whose edges do not match a neighbour's
    (a valid coverage has no overlaps, so most layers stop there); only those are paired with an
    STRtree and tested for intersecting interiors. Overlap pieces smaller than ``tolerance_m2``
    (digitising noise) are ignored.
    """
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if len(geoms) < 2:
        return None
    poly = np.isin(shapely.get_type_id(geoms), (3, 6))
    if poly.sum() < 2:
        return None
    poly_idx = np.flatnonzero(poly)
    edges = _invalid_edges(geoms[poly_idx])
    suspect = poly_idx[~(shapely.is_missing(edges) | shapely.is_empty(edges))]
    if len(suspect) < 2:
        return None
    sub = geoms[suspect]
    left, right = shapely.STRtree(sub).query(sub, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    interior = shapely.relate_pattern(sub[left], sub[right], "T********")
    left, right = suspect[left[interior]], suspect[right[interior]]
    if not len(left):
        return None
    areas = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    big = areas >= tolerance_m2
    if not big.any():
        return None
    lb, rb, ab = left[big], right[big], areas[big]
    worst = np.argsort(-ab)[:3]
    examples = "; ".join(f"rows {lb[i] + 1} & {rb[i] + 1}: {ab[i]:.1f} m²" for i in worst)
    return QARow(
        "overlap 图斑重叠",
        int(big.sum()),
        area_m2=float(ab.sum()),
        detail=f"a plan should be a coverage without overlaps; largest: {examples}",
    )
