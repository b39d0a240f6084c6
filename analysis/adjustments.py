"""Farmland adjustments with balance (基本农田调整 · 占补平衡).

Every ``farmland_construction`` conflict (planned construction on permanent basic farmland,
永久基本农田) is resolved one of two ways:

迁移 move
    The construction moves to a site in the zone that is not farmland (no cultivated land
    of the current survey, no basic farmland), not ecological, not in an infrastructure
    corridor, not built, not already planned and not another unresolved conflict, and that
    touches a development block (within ``site_contact_m``). A site can take several moved
    conflicts up to its area; a conflict moves whole to one site.
调出 out + 调入 in (re-designate and compensate, 补划)
    The basic farmland under the conflict is re-designated (调出), and general cultivated land
    is designated basic farmland in exchange (调入): current cultivated parcels (01xx) with a
    quality grade (GDDB 耕地质量等别, 1 best … 15 worst), outside basic farmland, construction of
    any plan, ecological land and corridor widths (inside the boundary unless
    ``within_boundary=False``).

The choice is one mixed-integer programme (:func:`scipy.optimize.milp`, HiGHS):

* binaries ``r_i`` (re-designate conflict i) and ``y_it`` (move conflict i to site t), with
  ``r_i + Σ_t y_it = 1``; site capacity ``Σ_i a_i y_it ≤ A_t``;
* binaries ``x_c`` (designate candidate parcel c);
* 数量不减少 quantity: ``Σ_c A_c x_c + s ≥ Σ_i a_i r_i``;
* 质量不降低 quality, a hard constraint: the area-weighted grade of what comes in is no worse
  (no higher number) than that of what goes out, ``Σ_c Σ_i A_c a_i (G_c − g_i) x_c r_i ≤ 0``
  (the ratio inequality multiplied out, exact; the products ``x_c r_i`` linearised by
  McCormick envelopes);
* objective: ``move_cost`` per ha moved + ``compensation_cost`` per ha designated +
  ``detached_cost`` per ha designated away from existing basic farmland (farther than
  ``adjacency_m``: fragmentation, 破碎化) + ``shortfall_cost`` per ha of quantity slack ``s``.

The slack keeps the programme solvable (re-designating everything and designating nothing
meets every constraint but quantity): a balance that cannot be met is returned with
``feasible`` False and the shortfall in area, never silently; quality is never traded for
area. A conflict with no graded cultivated land under it takes the area-weighted grade of the
basic farmland inside the boundary (else grade 1, the strictest), with a logged warning.
Areas are in the working CRS (m²).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from shapely.geometry.base import BaseGeometry

from fiveplans.analysis.zones import (
    assign_zones,
    boundary_of,
    check_range,
    ecological_land,
    legend_union,
    parts_of,
    polygonal,
    union_polygons,
    unresolved_conflicts,
)
from fiveplans.errors import ConfigError, DataError

__all__ = [
    "ACTIONS",
    "AdjustmentOptions",
    "AdjustmentResult",
    "BalanceSolution",
    "propose_adjustments",
    "solve_balance",
]

logger = logging.getLogger(__name__)

ACTIONS = {"out": "调出 out", "in": "调入 in", "move": "迁移 move"}
"""The ``action`` labels of the adjustments layer."""

CONSTRUCTION_KEYS = ("cluster", "urban", "land_use", "infrastructure")
BASIC_KEYS = ("land_use", "cluster", "urban", "ecology", "infrastructure")
_M2_PER_HA = 10_000.0
_WHOLE_ZONE = "全区 whole zone"


@dataclass(frozen=True)
class AdjustmentOptions:
    """Options of :func:`propose_adjustments` (validated on creation).

    Parameters
    ----------
    move_cost
        Cost per hectare moved (迁移). Range 0–1000, default 1.
    compensation_cost
        Cost per hectare designated (调入): keeps the compensation no larger than needed.
        Range 0–1000, default 0.01.
    detached_cost
        Extra cost per hectare designated farther than ``adjacency_m`` from existing basic
        farmland (fragmentation). Range 0–1000, default 0.5.
    shortfall_cost
        Cost per hectare of quantity shortfall (compensation missing); must exceed the other costs so the balance is met whenever it can be. Range 1–1e6,
        default 1000.
    adjacency_m
        A candidate within this distance of basic farmland is contiguous with it (a rural
        road or ditch between is allowed). Range 0–1000, default 30.
    site_contact_m
        A move site within this distance of a development block is adjacent to it.
        Range 0–1000, default 30.
    min_candidate_m2
        Smallest compensation piece (m²). Range 0–1e6, default 400.
    min_site_m2
        Smallest move site (m²). Range 0–1e7, default 10 000.
    within_boundary
        Take compensation land inside the planning boundary only (default True).
    time_limit_s
        HiGHS time limit. Range 1–3600, default 60; on time-out the best solution found is
        used and ``optimal`` is False.
    district_field
        Name column of the ``districts`` layer (default ``name``).
    """

    move_cost: float = 1.0
    compensation_cost: float = 0.01
    detached_cost: float = 0.5
    shortfall_cost: float = 1000.0
    adjacency_m: float = 30.0
    site_contact_m: float = 30.0
    min_candidate_m2: float = 400.0
    min_site_m2: float = 10_000.0
    within_boundary: bool = True
    time_limit_s: float = 60.0
    district_field: str = "name"

    def __post_init__(self) -> None:
        ranges = {
            "move_cost": (0.0, 1000.0, "per ha"),
            "compensation_cost": (0.0, 1000.0, "per ha"),
            "detached_cost": (0.0, 1000.0, "per ha"),
            "shortfall_cost": (1.0, 1e6, "per ha"),
            "adjacency_m": (0.0, 1000.0, "m"),
            "site_contact_m": (0.0, 1000.0, "m"),
            "min_candidate_m2": (0.0, 1e6, "m²"),
            "min_site_m2": (0.0, 1e7, "m²"),
            "time_limit_s": (1.0, 3600.0, "s"),
        }
        for f in fields(self):
            if f.name in ranges:
                lo, hi, unit = ranges[f.name]
                check_range(f"AdjustmentOptions.{f.name}", getattr(self, f.name), lo, hi, unit)
        others = max(self.move_cost, self.compensation_cost + self.detached_cost)
        if self.shortfall_cost <= others:
            raise ConfigError(
                f"AdjustmentOptions.shortfall_cost = {self.shortfall_cost} must exceed the "
                f"other costs ({others}): otherwise a shortfall is cheaper than a real "
                "balance; raise shortfall_cost"
            )
        if not isinstance(self.within_boundary, bool):
            raise ConfigError("AdjustmentOptions.within_boundary must be True or False")


# --------------------------------------------------------------------------- the programme


@dataclass(frozen=True)
class BalanceSolution:
    """The optimum of :func:`solve_balance`.

    ``redesignate[i]`` is True when conflict i is re-designated, ``site[i]`` the index of its
    move site (or -1), ``selected[c]`` True when candidate c is designated; ``shortfall_ha``
    the quantity slack; ``objective`` the programme's value.
    """

    redesignate: np.ndarray
    site: np.ndarray
    selected: np.ndarray
    shortfall_ha: float
    objective: float
    optimal: bool
    message: str


def _objective(
    moved_ha: float,
    selected_ha: np.ndarray,
    detached: np.ndarray,
    shortfall_ha: float,
    opts: AdjustmentOptions,
) -> float:
    return float(
        opts.move_cost * moved_ha
        + float(np.sum(selected_ha * (opts.compensation_cost + opts.detached_cost * detached)))
        + opts.shortfall_cost * shortfall_ha
    )


def solve_balance(
    out_ha: Sequence[float],
    out_grade: Sequence[float],
    cand_ha: Sequence[float],
    cand_grade: Sequence[float],
    cand_adjacent: Sequence[bool],
    site_ha: Sequence[float],
    *,
    options: AdjustmentOptions | None = None,
) -> BalanceSolution:
    """Solve the move / re-designate / compensate programme (see the module docstring).

    Parameters
    ----------
    out_ha, out_grade
        Per farmland conflict: area (ha) and area-weighted quality grade of its basic farmland.
    cand_ha, cand_grade, cand_adjacent
        Per compensation candidate: area (ha), grade, contiguous with basic farmland.
    site_ha
        Per move site: area (ha).
    options
        :class:`AdjustmentOptions` (costs, time limit).

    Returns
    -------
    BalanceSolution
    """
    opts = options if options is not None else AdjustmentOptions()
    a = np.asarray(out_ha, dtype=float)
    g = np.asarray(out_grade, dtype=float)
    ac = np.asarray(cand_ha, dtype=float)
    gc = np.asarray(cand_grade, dtype=float)
    adj = np.asarray(cand_adjacent, dtype=bool)
    at = np.asarray(site_ha, dtype=float)
    ni, nc, nt = len(a), len(ac), len(at)
    if ni == 0:
        return BalanceSolution(
            np.zeros(0, bool), np.zeros(0, int), np.zeros(nc, bool), 0.0, 0.0, True, "empty"
        )
    # variables: r (ni), y (pairs), x (nc), z (ni*nc), s
    pairs = [(i, t) for i in range(ni) for t in range(nt) if at[t] >= a[i] * (1 - 1e-9)]
    ny, nz = len(pairs), ni * nc
    o_r, o_y, o_x = 0, ni, ni + ny
    o_z = o_x + nc
    o_s = o_z + nz
    n = o_s + 1
    cost = np.zeros(n)
    for k, (i, _t) in enumerate(pairs):
        cost[o_y + k] = opts.move_cost * a[i]
    cost[o_x : o_x + nc] = ac * (opts.compensation_cost + opts.detached_cost * (~adj))
    cost[o_s] = opts.shortfall_cost
    rows: list[tuple[dict[int, float], float, float]] = []
    for i in range(ni):  # each conflict: re-designate or move to one site
        row = {o_r + i: 1.0}
        for k, (ii, _t) in enumerate(pairs):
            if ii == i:
                row[o_y + k] = 1.0
        rows.append((row, 1.0, 1.0))
    for t in range(nt):  # site capacity
        row = {o_y + k: a[i] for k, (i, tt) in enumerate(pairs) if tt == t}
        if row:
            rows.append((row, -np.inf, at[t]))
    # quantity: sum ac x + s - sum a r >= 0
    row = {o_x + c: ac[c] for c in range(nc)}
    row.update({o_r + i: -a[i] for i in range(ni)})
    row[o_s] = 1.0
    rows.append((row, 0.0, np.inf))
    # quality: sum_ci ac a (gc - g) z / sum a <= 0
    total = float(a.sum())
    row = {}
    for i in range(ni):
        for c in range(nc):
            coef = ac[c] * a[i] * (gc[c] - g[i]) / total
            if coef != 0.0:
                row[o_z + i * nc + c] = coef
    if row:
        rows.append((row, -np.inf, 0.0))
    for i in range(ni):  # McCormick: z = x r
        for c in range(nc):
            z = o_z + i * nc + c
            rows.append(({z: 1.0, o_x + c: -1.0}, -np.inf, 0.0))
            rows.append(({z: 1.0, o_r + i: -1.0}, -np.inf, 0.0))
            rows.append(({z: 1.0, o_x + c: -1.0, o_r + i: -1.0}, -1.0, np.inf))
    data, ri, ci, lb, ub = [], [], [], [], []
    for k, (row, lo, hi) in enumerate(rows):
        for j, v in row.items():
            ri.append(k)
            ci.append(j)
            data.append(v)
        lb.append(lo)
        ub.append(hi)
    A = sparse.csr_array((data, (ri, ci)), shape=(len(rows), n))
    integrality = np.ones(n)
    integrality[o_s] = 0
    upper = np.ones(n)
    upper[o_s] = np.inf
    res = milp(
        cost,
        constraints=LinearConstraint(A, lb, ub),
        integrality=integrality,
        bounds=Bounds(np.zeros(n), upper),
        options={"time_limit": float(opts.time_limit_s), "mip_rel_gap": 1e-9},
    )
    if res.x is None:
        raise DataError(
            f"the farmland balance programme found no solution ({res.message}): raise "
            "AdjustmentOptions.time_limit_s or reduce the candidates (min_candidate_m2)"
        )
    x = res.x
    red = x[o_r : o_r + ni] > 0.5
    site = np.full(ni, -1, dtype=int)
    for k, (i, t) in enumerate(pairs):
        if x[o_y + k] > 0.5:
            site[i] = t
    sel = x[o_x : o_x + nc] > 0.5
    # recompute the slack from the rounded choice (exact, no solver tolerance)
    s = max(0.0, float(a[red].sum() - ac[sel].sum()))
    moved = float(a[site >= 0].sum())
    obj = _objective(moved, ac[sel], ~adj[sel], s, opts)
    return BalanceSolution(red, site, sel, s, obj, res.status == 0, str(res.message))


# --------------------------------------------------------------------------- geometry


@dataclass
class AdjustmentResult:
    """What :func:`propose_adjustments` returns.

    Attributes
    ----------
    adjustments
        One row per action: ``action`` (调出 out / 调入 in / 迁移 move), ``area_m2``,
        ``grade`` (area-weighted GDDB; null for moves), ``conflict_id`` (the ids of the conflict
        pieces moved or re-designated, comma-separated: pieces of several plan pairs on the
        same land form one contiguous unit; null for 调入, which compensates the pooled
        调出), ``district``,
        ``adjacent`` (调入 contiguous with basic farmland), ``source_id`` (current parcel of a
        调入 piece), ``site_id`` (move site), geometry (the re-designated land, the
        compensation piece, or the move destination).
    balance
        Per district and a final 合计 total row: ``out_m2``, ``out_grade``, ``in_m2``,
        ``in_grade``, ``net_m2`` (in − out), ``move_m2``.
    feasible
        True when the compensation covers the re-designated area (数量不减少) at no lower
        quality (质量不降低).
    shortfall_m2
        Re-designated area not compensated (0 when feasible in quantity).
    quality_ok
        The area-weighted grade of 调入 is no higher (worse) than that of 调出.
    optimal
        The solver proved optimality (False after a time-out).
    message
        A bilingual summary.
    candidates
        Every compensation candidate considered (``source_id``, ``grade``, ``area_m2``,
        ``adjacent``).
    sites
        Every move site considered (``site_id``, ``area_m2``).
    """

    adjustments: gpd.GeoDataFrame
    balance: pd.DataFrame
    feasible: bool
    shortfall_m2: float
    quality_ok: bool = True
    optimal: bool = True
    message: str = ""
    candidates: gpd.GeoDataFrame | None = field(default=None, repr=False)
    sites: gpd.GeoDataFrame | None = field(default=None, repr=False)

    @property
    def farmland_balance(self) -> dict[str, float]:
        """The contract's ``farmland_balance`` summary: re-designated out, compensated in."""
        adj = self.adjustments
        out = float(adj.loc[adj["action"] == ACTIONS["out"], "area_m2"].sum())
        inn = float(adj.loc[adj["action"] == ACTIONS["in"], "area_m2"].sum())
        return {"out_m2": out, "in_m2": inn}


def _graded(layers: Mapping[str, gpd.GeoDataFrame], crs: Any) -> gpd.GeoDataFrame:
    cur = layers.get("current")
    if cur is None:
        raise DataError(
            "layers have no 'current' (现状, current land-use survey): farmland adjustments "
            "need its cultivated parcels (01xx) and quality grades (GDDB); set `current:` in "
            "the pilot YAML"
        )
    if cur.crs is not None and crs is not None and cur.crs != crs:
        cur = cur.to_crs(crs)
    code = cur["DLBM"] if "DLBM" in cur.columns else cur.get("source_code")
    if code is None:
        raise DataError(
            "the 'current' layer has neither DLBM nor source_code: cultivated land (01xx) is "
            "found by its GB/T 21010 code; load it with scheme gbt21010"
        )
    if "legend" not in cur.columns:
        raise DataError(
            "the 'current' layer has no 'legend' column: load it through "
            "fiveplans.load_pilot (scheme gbt21010) or add the common legend"
        )
    if "GDDB" not in cur.columns:
        raise DataError(
            "the 'current' layer has no GDDB (耕地质量等别) column: 质量不降低 needs the "
            "quality grade of cultivated parcels; add the grades (1 best … 15 worst)"
        )
    farm = cur.loc[code.astype(str).str.startswith("01")].copy()
    farm["_grade"] = pd.to_numeric(farm["GDDB"], errors="coerce")
    bad = farm["_grade"].notna() & ~farm["_grade"].between(1, 15)
    if bad.any():
        sid = farm.loc[bad, "source_id"].iloc[0] if "source_id" in farm.columns else "?"
        raise DataError(
            f"current layer: GDDB {farm.loc[bad, '_grade'].iloc[0]} of feature {sid} is "
            "outside 1–15 (耕地质量等别): fix the grade"
        )
    return farm


def _grade_of(geom: BaseGeometry, farm: gpd.GeoDataFrame, tree: Any) -> float | None:
    """Area-weighted GDDB of the graded cultivated land under ``geom`` (None if none)."""
    num = den = 0.0
    for k in tree.query(geom, predicate="intersects"):
        grade = farm["_grade"].iloc[k]
        if pd.isna(grade):
            continue
        ar = polygonal(shapely.intersection(geom, farm.geometry.iloc[k])).area
        num += ar * float(grade)
        den += ar
    return num / den if den > 0 else None


def _corridors(layers: Mapping[str, gpd.GeoDataFrame], crs: Any) -> BaseGeometry:
    inf = layers.get("infrastructure")
    if inf is None or not len(inf):
        return shapely.Polygon()
    if inf.crs is not None and crs is not None and inf.crs != crs:
        inf = inf.to_crs(crs)
    lines = inf[inf.geometry.geom_type.isin(["LineString", "MultiLineString"])]
    if not len(lines):
        return shapely.Polygon()
    from fiveplans.layers.legend import code_table

    widths = code_table("infrastructure").set_index("code")["corridor_width_m"].to_dict()
    bufs = []
    for _, row in lines.iterrows():
        w = row.get("width_m")
        if w is None or pd.isna(w):
            w = widths.get(str(row.get("source_code")))
        if w is None or pd.isna(w):
            logger.warning(
                "infrastructure line %s (%s) has no corridor width: not excluded",
                row.get("source_id"),
                row.get("source_code"),
            )
            continue
        bufs.append(row.geometry.buffer(float(w) / 2.0))
    return shapely.union_all(bufs) if bufs else shapely.Polygon()


def _district_of(geom: BaseGeometry, districts: gpd.GeoDataFrame | None, col: str) -> str:
    if districts is None or not len(districts) or geom.is_empty:
        return _WHOLE_ZONE
    best, best_area = _WHOLE_ZONE, 0.0
    for name, g in zip(districts[col], districts.geometry, strict=True):
        ar = polygonal(shapely.intersection(geom, g)).area
        if ar > best_area:
            best, best_area = str(name), ar
    return best


def _carve(site: BaseGeometry, seed: BaseGeometry, area: float) -> BaseGeometry:
    """A piece of ``site`` of ``area`` m² grown from ``seed`` (the development side)."""
    if area >= site.area * (1 - 1e-9):
        return site
    if seed.is_empty:
        seed = site.exterior if site.geom_type == "Polygon" else site.boundary
    lo, hi = 0.0, math.sqrt(site.area) + site.length
    piece = site
    for _ in range(60):
        mid = (lo + hi) / 2
        piece = polygonal(site & shapely.buffer(seed, mid, quad_segs=4))
        if abs(piece.area - area) <= 1e-4 * area:
            break
        if piece.area < area:
            lo = mid
        else:
            hi = mid
    return polygonal(site & shapely.buffer(seed, hi, quad_segs=4)) if piece.area < area else piece


def propose_adjustments(
    layers: Mapping[str, gpd.GeoDataFrame],
    conflicts: gpd.GeoDataFrame | None,
    *,
    zones: gpd.GeoDataFrame | None = None,
    options: AdjustmentOptions | None = None,
    resolved: Collection[str] = (),
) -> AdjustmentResult:
    """Move or re-designate every farmland conflict, keeping basic farmland in balance.

    Parameters
    ----------
    layers
        Layer key to GeoDataFrame with the legend columns in one projected CRS:
        ``boundary``, ``current`` (with ``GDDB``), ``land_use`` (basic farmland), the plans,
        ``infrastructure`` (corridors) and ``districts`` when present.
    conflicts
        The conflicts table; its ``farmland_construction`` rows not in ``resolved`` are
        adjusted.
    zones
        The zones table (development blocks for move sites); ``None`` runs
        :func:`fiveplans.analysis.assign_zones` with its defaults.
    options
        :class:`AdjustmentOptions`.
    resolved
        Conflict ids already resolved: they need no adjustment.

    Returns
    -------
    AdjustmentResult

    Raises
    ------
    DataError
        No ``current`` layer or no ``GDDB`` grades; a programme without solution.
    ConfigError
        An option out of range.
    """
    opts = options if options is not None else AdjustmentOptions()
    if not isinstance(opts, AdjustmentOptions):
        raise ConfigError(
            f"options must be an AdjustmentOptions, not {type(opts).__name__}: pass "
            "options=AdjustmentOptions(…)"
        )
    boundary, crs = boundary_of(layers)
    farm = _graded(layers, crs)
    conf = unresolved_conflicts(conflicts, resolved, crs=crs)
    if len(conf) and "type" not in conf.columns:
        raise DataError(
            "the conflicts table has no 'type' column: farmland conflicts are the rows of type "
            "farmland_construction; pass the table of fiveplans.analysis.find_conflicts"
        )
    fc = conf[conf["type"] == "farmland_construction"].reset_index(drop=True)
    layers_crs = {
        k: (v.to_crs(crs) if v.crs is not None and crs is not None and v.crs != crs else v)
        for k, v in layers.items()
        if isinstance(v, gpd.GeoDataFrame)
    }
    basic = union_polygons(legend_union(layers_crs.get(k), "basic_farmland") for k in BASIC_KEYS)
    construction = union_polygons(
        legend_union(layers_crs.get(k), "construction") for k in CONSTRUCTION_KEYS
    )
    eco = ecological_land(layers_crs)
    corridors = _corridors(layers_crs, crs)
    districts = layers_crs.get("districts")
    dcol = opts.district_field
    if districts is not None and len(districts) and dcol not in districts.columns:
        raise ConfigError(
            f"AdjustmentOptions.district_field = {dcol!r} is not a column of the districts "
            f"layer ({', '.join(map(str, districts.columns))}): pass the name column"
        )
    farm_tree = shapely.STRtree(farm.geometry.to_numpy())

    # the units: farmland conflict pieces overlap across plan pairs (cluster and urban over
    # the same basic farmland); within one type they count once, so they are dissolved into
    # contiguous conflict areas, each carrying the ids of the pieces on it
    units, unit_ids = [], []
    if len(fc):
        fc_tree = shapely.STRtree(fc.geometry.to_numpy())
        merged = union_polygons(fc.geometry)
        for part in sorted(parts_of(merged), key=lambda p: (-p.area, p.centroid.x, p.centroid.y)):
            ids = sorted(
                str(fc["conflict_id"].iloc[k])
                for k in fc_tree.query(part, predicate="intersects")
                if polygonal(shapely.intersection(part, fc.geometry.iloc[k])).area >= 0.01
            )
            if ids:
                units.append(part)
                unit_ids.append(", ".join(ids))

    # the basic farmland leaving with each unit, and its grade
    out_geoms, out_grades = [], []
    fallback = None
    for g, ids in zip(units, unit_ids, strict=True):
        piece = polygonal(g & basic) if not basic.is_empty else polygonal(g)
        if piece.is_empty:
            piece = polygonal(g)
        grade = _grade_of(piece, farm, farm_tree)
        if grade is None:
            if fallback is None:
                fallback = _grade_of(polygonal(basic & boundary), farm, farm_tree) or 1.0
            logger.warning(
                "farmland conflict %s has no graded cultivated land under it: its grade is "
                "taken as %.2f (the basic farmland's mean inside the boundary, else 1, the best)",
                ids,
                fallback,
            )
            grade = fallback
        out_geoms.append(piece)
        out_grades.append(grade)

    # compensation candidates (补划)
    excluded = shapely.union_all([basic, construction, eco, corridors])
    rows = []
    shapely.prepare(basic)
    for _, row in farm[farm["_grade"].notna()].iterrows():
        g = row.geometry
        if opts.within_boundary:
            g = polygonal(g & boundary)
        g = polygonal(g - excluded)
        for p in parts_of(g):
            if p.area < opts.min_candidate_m2:
                continue
            rows.append(
                {
                    "source_id": row.get("source_id"),
                    "grade": float(row["_grade"]),
                    "area_m2": p.area,
                    "adjacent": bool(shapely.dwithin(p, basic, opts.adjacency_m))
                    if not basic.is_empty
                    else False,
                    "geometry": p,
                }
            )
    cand = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["source_id", "grade", "area_m2", "adjacent", "geometry"]),
        geometry="geometry",
        crs=crs,
    )

    # move sites
    if zones is None:
        zones = assign_zones(layers, conf)
    elif zones.crs is not None and crs is not None and zones.crs != crs:
        zones = zones.to_crs(crs)
    dev = union_polygons(zones.geometry[zones["zone"] == "development"])
    built = union_polygons(zones.geometry[zones["zone"] == "built"])
    cultivated = union_polygons(farm.geometry)
    not_farm_legend = ("farmland", "basic_farmland", "water", "ecological")
    cur = layers_crs["current"]
    unsuitable = union_polygons(cur.geometry[cur["legend"].isin(not_farm_legend)])
    planned = construction
    conf_all = union_polygons(conf.geometry)
    blocked = shapely.union_all(
        [basic, cultivated, unsuitable, eco, corridors, built, dev, planned, conf_all]
    )
    free = polygonal(boundary - blocked)
    site_rows = []
    if not dev.is_empty:
        for p in parts_of(free):
            if p.area >= opts.min_site_m2 and shapely.dwithin(p, dev, opts.site_contact_m):
                site_rows.append({"area_m2": p.area, "geometry": p})
    sites = gpd.GeoDataFrame(
        pd.DataFrame(site_rows, columns=["area_m2", "geometry"]), geometry="geometry", crs=crs
    )
    sites["site_id"] = [f"S-{k + 1:03d}" for k in range(len(sites))]

    sol = solve_balance(
        [g.area / _M2_PER_HA for g in out_geoms],
        out_grades,
        cand["area_m2"].to_numpy() / _M2_PER_HA,
        cand["grade"].to_numpy(),
        cand["adjacent"].to_numpy(dtype=bool),
        sites["area_m2"].to_numpy() / _M2_PER_HA,
        options=opts,
    )

    actions = []
    for i in range(len(units)):
        cid = unit_ids[i]
        if sol.redesignate[i]:
            g = out_geoms[i]
            actions.append(
                {
                    "action": ACTIONS["out"],
                    "area_m2": g.area,
                    "grade": out_grades[i],
                    "conflict_id": cid,
                    "district": _district_of(g, districts, dcol),
                    "adjacent": None,
                    "source_id": None,
                    "site_id": None,
                    "geometry": g,
                }
            )
    remaining = {t: sites.geometry.iloc[t] for t in range(len(sites))}
    for i in range(len(units)):
        t = int(sol.site[i])
        if t < 0:
            continue
        site = remaining[t]
        seed = polygonal(dev & shapely.buffer(site, opts.site_contact_m + 1.0))
        seed = seed.boundary if not seed.is_empty else seed
        piece = _carve(site, seed, units[i].area)
        remaining[t] = polygonal(site - piece)
        actions.append(
            {
                "action": ACTIONS["move"],
                "area_m2": piece.area,
                "grade": None,
                "conflict_id": unit_ids[i],
                "district": _district_of(piece, districts, dcol),
                "adjacent": None,
                "source_id": None,
                "site_id": sites["site_id"].iloc[t],
                "geometry": piece,
            }
        )
    for c in np.flatnonzero(sol.selected):
        g = cand.geometry.iloc[c]
        actions.append(
            {
                "action": ACTIONS["in"],
                "area_m2": g.area,
                "grade": float(cand["grade"].iloc[c]),
                "conflict_id": None,
                "district": _district_of(g, districts, dcol),
                "adjacent": bool(cand["adjacent"].iloc[c]),
                "source_id": cand["source_id"].iloc[c],
                "site_id": None,
                "geometry": g,
            }
        )
    cols = [
        "action",
        "area_m2",
        "grade",
        "conflict_id",
        "district",
        "adjacent",
        "source_id",
        "site_id",
        "geometry",
    ]
    adj = gpd.GeoDataFrame(pd.DataFrame(actions, columns=cols), geometry="geometry", crs=crs)
    adj["grade"] = adj["grade"].astype(float)
    adj["adjacent"] = adj["adjacent"].astype("boolean")

    balance = _balance_table(adj)
    total = balance.iloc[-1]
    tol = 1e-6 * max(1.0, float(total["out_m2"]))
    shortfall = max(0.0, float(total["out_m2"] - total["in_m2"]))
    shortfall = 0.0 if shortfall <= tol else shortfall
    # quality is compared when both sides exist; an empty 调入 is a quantity shortfall
    quality_ok = bool(
        total["out_m2"] <= tol
        or pd.isna(total["in_grade"])
        or total["in_grade"] <= total["out_grade"] + 1e-9
    )
    feasible = shortfall == 0.0 and quality_ok
    msg = (
        f"调出 out {total['out_m2'] / 1e4:.2f} ha (等别 grade {_fmt(total['out_grade'])}), "
        f"调入 in {total['in_m2'] / 1e4:.2f} ha (等别 grade {_fmt(total['in_grade'])}), "
        f"迁移 moved {total['move_m2'] / 1e4:.2f} ha; "
        + (
            "占补平衡 balanced"
            if feasible
            else f"不平衡 NOT balanced: 缺口 shortfall {shortfall / 1e4:.2f} ha"
            + ("" if quality_ok else ", 质量降低 quality falls")
        )
    )
    (logger.info if feasible else logger.warning)("farmland adjustments: %s", msg)
    if not sol.optimal:
        logger.warning("the balance programme stopped before optimality: %s", sol.message)
    return AdjustmentResult(
        adjustments=adj,
        balance=balance,
        feasible=feasible,
        shortfall_m2=shortfall,
        quality_ok=quality_ok,
        optimal=sol.optimal,
        message=msg,
        candidates=cand,
        sites=sites,
    )


def _fmt(x: Any) -> str:
    return "—" if x is None or pd.isna(x) else f"{float(x):.2f}"


def _balance_table(adj: gpd.GeoDataFrame) -> pd.DataFrame:
    names = sorted(set(adj["district"].dropna()))
    rows = []
    for name in [*names, None]:
        sub = adj if name is None else adj[adj["district"] == name]
        out = sub[sub["action"] == ACTIONS["out"]]
        inn = sub[sub["action"] == ACTIONS["in"]]
        mov = sub[sub["action"] == ACTIONS["move"]]
        rows.append(
            {
                "district": "合计 total" if name is None else name,
                "out_m2": float(out["area_m2"].sum()),
                "out_grade": _mean_grade(out),
                "in_m2": float(inn["area_m2"].sum()),
                "in_grade": _mean_grade(inn),
                "net_m2": float(inn["area_m2"].sum() - out["area_m2"].sum()),
                "move_m2": float(mov["area_m2"].sum()),
            }
        )
    return pd.DataFrame(rows)


def _mean_grade(df: pd.DataFrame) -> float:
    w = df["area_m2"].to_numpy(dtype=float)
    g = df["grade"].to_numpy(dtype=float)
    return float(np.sum(w * g) / np.sum(w)) if len(df) and np.sum(w) > 0 else float("nan")
