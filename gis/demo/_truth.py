"""The oracle: expected figures of the demo pilot, computed directly from the planted
geometries (EPSG:4547) with plain shapely set operations and the contract's definitions."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = ["CONFLICT_TYPES", "PLANS", "compute_truth", "polygonal"]

PLANS = ("cluster", "urban", "land_use", "ecology", "infrastructure")
CONSTRUCTION_PLANS = ("cluster", "urban", "land_use", "infrastructure")
CONFLICT_TYPES = (
    "farmland_construction",
    "ecology_construction",
    "plan_mismatch",
    "use_mismatch",
    "corridor_construction",
)
_EMPTY = shapely.Polygon()


def polygonal(g: BaseGeometry | None) -> BaseGeometry:
    """The polygonal part of ``g`` (a Polygon/MultiPolygon, possibly empty)."""
    if g is None or g.is_empty:
        return _EMPTY
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return _EMPTY
    return shapely.union_all(parts)


def _union(gdf: gpd.GeoDataFrame, mask: Any = None) -> BaseGeometry:
    sel = gdf if mask is None else gdf[mask]
    polys = [g for g in sel.geometry if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else _EMPTY


def _construction(layers: dict[str, gpd.GeoDataFrame], key: str) -> BaseGeometry:
    gdf = layers[key]
    return _union(gdf, gdf["legend"] == "construction")


def compute_truth(
    layers: dict[str, gpd.GeoDataFrame], *, sliver_m2: float = 400.0
) -> dict[str, Any]:
    """Expected conflicts, zones and farmland balance inside the boundary.

    Parameters
    ----------
    layers
        The planted layers in EPSG:4547 with ``legend`` and ``use`` columns.
    sliver_m2
        Conflict parts below this area are dropped (and counted).

    Returns
    -------
    dict
        ``conflicts``, ``slivers_dropped``, ``zones``, ``farmland_balance``, ``pieces`` (the
        kept conflict geometries per type, for writing) and ``boundary_area_m2``.
    """
    b = layers["boundary"].geometry.iloc[0]
    constr = {k: _construction(layers, k) for k in CONSTRUCTION_PLANS}
    any_constr = shapely.union_all(list(constr.values()))
    lu = layers["land_use"]
    basic = _union(lu, lu["legend"] == "basic_farmland")
    ecological = shapely.union_all(
        [_union(layers[k], layers[k]["legend"] == "ecological") for k in PLANS]
    )
    raw: dict[str, BaseGeometry] = {}
    raw["farmland_construction"] = any_constr & basic & b
    raw["ecology_construction"] = any_constr & ecological & b
    mism = [constr[p] - constr["land_use"] for p in ("cluster", "urban")]
    mism += [constr["land_use"] - constr[p] for p in ("cluster", "urban")]
    raw["plan_mismatch"] = shapely.union_all(mism) & b
    cl, ur = layers["cluster"], layers["urban"]
    cl_c, ur_c = cl[cl["legend"] == "construction"], ur[ur["legend"] == "construction"]
    uses = sorted(set(cl_c["use"]) | set(ur_c["use"]))
    by_cl = {u: _union(cl_c, cl_c["use"] == u) for u in uses}
    by_ur = {u: _union(ur_c, ur_c["use"] == u) for u in uses}
    raw["use_mismatch"] = (
        shapely.union_all([by_cl[x] & by_ur[y] for x in uses for y in uses if x != y]) & b
    )
    inf = layers["infrastructure"]
    lines = inf[inf.geometry.geom_type.isin(["LineString", "MultiLineString"])]
    buffers = shapely.union_all(
        [g.buffer(w / 2.0) for g, w in zip(lines.geometry, lines["width_m"], strict=True)]
    )
    three = shapely.union_all([constr["cluster"], constr["urban"], constr["land_use"]])
    raw["corridor_construction"] = three & buffers & b

    conflicts: dict[str, dict[str, float | int]] = {}
    pieces: dict[str, list[BaseGeometry]] = {}
    dropped_n, dropped_a = 0, 0.0
    for t in CONFLICT_TYPES:
        parts = [p for p in shapely.get_parts(polygonal(raw[t])) if p.area > 0]
        keep = [p for p in parts if p.area >= sliver_m2]
        dropped_n += len(parts) - len(keep)
        dropped_a += sum(p.area for p in parts if p.area < sliver_m2)
        pieces[t] = keep
        conflicts[t] = {"area_m2": _r(sum(p.area for p in keep)), "count": len(keep)}

    cur = layers["current"]
    built = _union(cur, cur["legend"] == "construction") & b
    all_pieces = shapely.union_all([p for ps in pieces.values() for p in ps])
    development = polygonal(constr["cluster"] & b) - built - all_pieces - ecological
    development = polygonal(development)
    control = polygonal(b - built - development)
    zones = {
        "built": {"area_m2": _r(built.area)},
        "development": {"area_m2": _r(development.area)},
        "control": {"area_m2": _r(control.area)},
    }

    excluded = shapely.union_all([basic, any_constr, ecological, buffers])
    farm = cur[cur["DLBM"].astype(str).str.startswith("01")]
    pool_area, pool_grade = 0.0, 0.0
    for g, grade in zip(farm.geometry, farm["GDDB"], strict=True):
        piece = polygonal((g & b) - excluded)
        pool_area += piece.area
        pool_grade += piece.area * float(grade)
    balance = {
        "out_m2": conflicts["farmland_construction"]["area_m2"],
        "in_pool_m2": _r(pool_area),
        "in_pool_mean_grade": round(pool_grade / pool_area, 4) if pool_area else None,
    }
    return {
        "boundary_area_m2": _r(b.area),
        "conflicts": conflicts,
        "slivers_dropped": {"count": dropped_n, "area_m2": _r(dropped_a)},
        "zones": zones,
        "farmland_balance": balance,
        "pieces": pieces,
        "zone_geoms": {"built": built, "development": development, "control": control},
    }


def _r(x: float) -> float:
    return float(np.round(float(x), 4))
