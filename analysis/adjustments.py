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
basic farmland inside the boundary (else grade 1, the strictest), with a warning. Without
quality grades (no grade column, see :class:`~fiveplans.schema.SurveyFields`) the balance is
done by area alone, labelled 数量平衡, 质量未核 (quality not checked), and says so with a
:class:`~fiveplans.errors.StageSkipped` ``farmland_balance.quality``.
Areas are in the working CRS (m²).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from shapely.geometry.base import BaseGeometry

from fiveplans.analysis import overlay
from fiveplans.analysis.context import (
    LayersLike,
    WorkingLayers,
    check_crs,
    check_range,
    unresolved_conflicts,
    working_layers,
)
from fiveplans.analysis.zones import assign_zones
from fiveplans.errors import ConfigError, DataError, FiveplansWarning, StageSkipped
from fiveplans.schema import SurveyFields

__all__ = [
    "ACTIONS",
    "BALANCE_BASIS",
    "AdjustmentOptions",
    "AdjustmentResult",
    "BalanceSolution",
    "propose_adjustments",
    "solve_balance",
]

logger = logging.getLogger(__name__)

ACTIONS = {"out": "调出 out", "in": "调入 in", "move": "迁移 move"}
"""The ``action`` labels of the adjustments layer."""

_M2_PER_HA = 10_000.0
_MIN_PART_M2 = 0.01  # parts smaller than this are overlay noise
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


class _Programme:
    """The variables of the balance programme and its rows (see the module docstring).

    Variables, in order: ``r`` (re-designate, one per conflict), ``y`` (move conflict i to
    site t, one per pair that fits), ``x`` (designate candidate c), ``z`` (``x_c r_i``,
    McCormick), ``s`` (quantity slack).
    """

    def __init__(self, a, g, ac, gc, adj, at, opts: AdjustmentOptions) -> None:
        self.a, self.g, self.ac, self.gc, self.adj, self.at = a, g, ac, gc, adj, at
        self.opts = opts
        ni, nc, nt = len(a), len(ac), len(at)
        self.ni, self.nc = ni, nc
        self.pairs = [(i, t) for i in range(ni) for t in range(nt) if at[t] >= a[i] * (1 - 1e-9)]
        self.o_r, self.o_y, self.o_x = 0, ni, ni + len(self.pairs)
        self.o_z = self.o_x + nc
        self.o_s = self.o_z + ni * nc
        self.n = self.o_s + 1

    def cost(self) -> np.ndarray:
        opts, a, nc = self.opts, self.a, self.nc
        cost = np.zeros(self.n)
        for k, (i, _t) in enumerate(self.pairs):
            cost[self.o_y + k] = opts.move_cost * a[i]
        cost[self.o_x : self.o_x + nc] = self.ac * (
            opts.compensation_cost + opts.detached_cost * (~self.adj)
        )
        cost[self.o_s] = opts.shortfall_cost
        return cost

    def rows(self) -> list[tuple[dict[int, float], float, float]]:
        a, g, ac, gc, at = self.a, self.g, self.ac, self.gc, self.at
        ni, nc, pairs = self.ni, self.nc, self.pairs
        o_r, o_y, o_x, o_z, o_s = self.o_r, self.o_y, self.o_x, self.o_z, self.o_s
        rows: list[tuple[dict[int, float], float, float]] = []
        for i in range(ni):  # each conflict: re-designate or move to one site
            row = {o_r + i: 1.0}
            for k, (ii, _t) in enumerate(pairs):
                if ii == i:
                    row[o_y + k] = 1.0
            rows.append((row, 1.0, 1.0))
        for t in range(len(at)):  # site capacity
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
        return rows

    def constraints(self) -> tuple[sparse.csr_array, list[float], list[float]]:
        data, ri, ci, lb, ub = [], [], [], [], []
        rows = self.rows()
        for k, (row, lo, hi) in enumerate(rows):
            for j, v in row.items():
                ri.append(k)
                ci.append(j)
                data.append(v)
            lb.append(lo)
            ub.append(hi)
        return sparse.csr_array((data, (ri, ci)), shape=(len(rows), self.n)), lb, ub


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
    ni, nc = len(a), len(ac)
    if ni == 0:
        return BalanceSolution(
            np.zeros(0, bool), np.zeros(0, int), np.zeros(nc, bool), 0.0, 0.0, True, "empty"
        )
    prog = _Programme(a, g, ac, gc, adj, at, opts)
    cost, A, lb, ub = prog.cost(), *prog.constraints()
    n, o_r, o_x, o_s = prog.n, prog.o_r, prog.o_x, prog.o_s
    o_y, pairs = prog.o_y, prog.pairs
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

BALANCE_BASIS = {
    True: "数量质量平衡 quantity and quality balanced",
    False: "数量平衡, 质量未核 area only, quality not checked",
}
"""The ``basis`` label of the balance: with quality grades, or by area alone."""


@dataclass
class AdjustmentResult:
    """What :func:`propose_adjustments` returns.

    Attributes
    ----------
    adjustments
        One row per action: ``action`` (调出 out / 调入 in / 迁移 move), ``area_m2``,
        ``grade`` (area-weighted quality grade; null for moves and when grades are missing),
        ``conflict_id`` (the ids of the conflict pieces moved or re-designated,
        comma-separated: pieces of several plan pairs on the same land form one contiguous
        unit; null for 调入, which compensates the pooled 调出), ``district``,
        ``adjacent`` (调入 contiguous with basic farmland), ``source_id`` (current parcel of a
        调入 piece), ``site_id`` (move site), geometry (the re-designated land, the
        compensation piece, or the move destination).
    balance
        Per district and a final 合计 total row: ``out_m2``, ``out_grade``, ``in_m2``,
        ``in_grade``, ``net_m2`` (in − out), ``move_m2``, ``basis`` (:data:`BALANCE_BASIS`).
    feasible
        True when the compensation covers the re-designated area (数量不减少) at no lower
        quality (质量不降低; by area alone when the grades are missing).
    shortfall_m2
        Re-designated area not compensated (0 when feasible in quantity).
    quality_ok
        The area-weighted grade of 调入 is no higher (worse) than that of 调出; ``None`` when
        quality was not checked (no grades: 质量未核).
    optimal
        The solver proved optimality (False after a time-out).
    message
        A bilingual summary.
    candidates
        Every compensation candidate considered (``source_id``, ``grade``, ``area_m2``,
        ``adjacent``).
    sites
        Every move site considered (``site_id``, ``area_m2``).
    quality_checked
        False for the reduced balance by area alone (no quality grades).
    """

    adjustments: gpd.GeoDataFrame
    balance: pd.DataFrame
    feasible: bool
    shortfall_m2: float
    quality_ok: bool | None = True
    optimal: bool = True
    message: str = ""
    candidates: gpd.GeoDataFrame | None = field(default=None, repr=False)
    sites: gpd.GeoDataFrame | None = field(default=None, repr=False)
    quality_checked: bool = True

    @property
    def basis(self) -> str:
        """数量质量平衡 (with grades) or 数量平衡, 质量未核 (area only)."""
        return BALANCE_BASIS[self.quality_checked]

    @property
    def farmland_balance(self) -> dict[str, float]:
        """The contract's ``farmland_balance`` summary: re-designated out, compensated in."""
        adj = self.adjustments
        out = float(adj.loc[adj["action"] == ACTIONS["out"], "area_m2"].sum())
        inn = float(adj.loc[adj["action"] == ACTIONS["in"], "area_m2"].sum())
        return {"out_m2": out, "in_m2": inn}


def _no_grades_fix(fields: SurveyFields) -> str:
    return (
        f"add the grades (耕地质量等别, 1 best … 15 worst) as a {fields.grade!r} column of the "
        "current land use, name another column with `grade_field:` in the pilot, or give a "
        "`grades:` polygon layer (耕地质量等别成果)"
    )


def _cultivated(ctx: WorkingLayers) -> gpd.GeoDataFrame:
    """The current survey's cultivated parcels (耕地, GB/T 21010 01xx) with ``_grade``.

    The land class is the layer's configured classification (``source_code``), else the
    survey's land class column (``SurveyFields.land_class``). ``_grade`` is NaN where the
    parcel has no grade, everywhere when the layer has no grade column.
    """
    fields = ctx.fields
    cur = ctx.get("current")
    if cur is None:
        raise DataError(
            "没有土地利用现状 — layers have no 'current' (现状, current land-use survey): farmland "
            "adjustments need its cultivated parcels (01xx). 解决 Fix: set `current:` in the "
            "pilot YAML"
        )
    code_col = "source_code" if "source_code" in cur.columns else fields.land_class
    if code_col not in cur.columns:
        raise DataError(
            f"现状图层缺少地类编码 — the 'current' layer has neither source_code nor "
            f"{fields.land_class}: cultivated land (01xx) is found by its GB/T 21010 code. "
            "解决 Fix: load it with scheme gbt21010 (fiveplans.load_pilot)"
        )
    if "legend" not in cur.columns:
        raise DataError(
            "现状图层缺少 legend 字段 — the 'current' layer has no 'legend' column. 解决 Fix: "
            "load it through fiveplans.load_pilot (scheme gbt21010) or add the common legend"
        )
    farm = cur.loc[cur[code_col].astype(str).str.strip().str.startswith("01")].copy()
    if fields.grade not in cur.columns:
        farm["_grade"] = np.nan
        return farm
    farm["_grade"] = pd.to_numeric(farm[fields.grade], errors="coerce").astype(float)
    bad = farm["_grade"].notna() & ~farm["_grade"].between(1, 15)
    if bad.any():
        sid = farm.loc[bad, "source_id"].iloc[0] if "source_id" in farm.columns else "?"
        raise DataError(
            f"等别超出范围 — current layer: {fields.grade} {farm.loc[bad, '_grade'].iloc[0]} of "
            f"feature {sid} is outside 1–15 (耕地质量等别). 解决 Fix: correct the grade"
        )
    return farm


def _grades_known(farm: gpd.GeoDataFrame, fields: SurveyFields, cur: gpd.GeoDataFrame) -> bool:
    """Whether quality can be checked; says so (StageSkipped) when it cannot."""
    if fields.grade not in cur.columns:
        reason = (
            f"现状图层没有等别字段 {fields.grade} — the current land use has no quality grade "
            f"column {fields.grade!r}: the balance is done by area alone (数量平衡, 质量未核)"
        )
    elif len(farm) and not farm["_grade"].notna().any():
        reason = (
            f"耕地均无等别 — no cultivated parcel has a grade in {fields.grade!r}: the balance "
            "is done by area alone (数量平衡, 质量未核)"
        )
    else:
        return True
    warnings.warn(
        StageSkipped("farmland_balance.quality", reason, _no_grades_fix(fields)), stacklevel=4
    )
    return False


def _grade_of(geom: BaseGeometry, farm: gpd.GeoDataFrame, tree: Any) -> float | None:
    """Area-weighted grade of the graded cultivated land under ``geom`` (None if none)."""
    num = den = 0.0
    for k in tree.query(geom, predicate="intersects"):
        grade = farm["_grade"].iloc[k]
        if pd.isna(grade):
            continue
        ar = overlay.polygon_intersection(geom, farm.geometry.iloc[k]).area
        num += ar * float(grade)
        den += ar
    return num / den if den > 0 else None


def _district_of(geom: BaseGeometry, districts: gpd.GeoDataFrame | None, col: str) -> str:
    if districts is None or not len(districts) or geom.is_empty:
        return _WHOLE_ZONE
    best, best_area = _WHOLE_ZONE, 0.0
    for name, g in zip(districts[col], districts.geometry, strict=True):
        ar = overlay.polygon_intersection(geom, g).area
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
        piece = overlay.polygon_intersection(site, shapely.buffer(seed, mid, quad_segs=4))
        if abs(piece.area - area) <= 1e-4 * area:
            break
        if piece.area < area:
            lo = mid
        else:
            hi = mid
    if piece.area < area:
        return overlay.polygon_intersection(site, shapely.buffer(seed, hi, quad_segs=4))
    return piece


# --------------------------------------------------------------------------- the stages


@dataclass
class _Inputs:
    """What the adjustment stages share (all in the working CRS)."""

    ctx: WorkingLayers
    boundary: BaseGeometry
    farm: gpd.GeoDataFrame
    graded: bool
    conf: gpd.GeoDataFrame
    fc: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame | None
    dcol: str

    @property
    def basic(self) -> BaseGeometry:
        return self.ctx.basic_farmland()


def _inputs(
    ctx: WorkingLayers,
    conflicts: gpd.GeoDataFrame | None,
    resolved: Collection[str],
    opts: AdjustmentOptions,
) -> _Inputs:
    """Stage 1: check the inputs; the cultivated land, the farmland conflicts, the districts."""
    boundary = ctx.boundary()
    farm = _cultivated(ctx)
    graded = _grades_known(farm, ctx.fields, ctx["current"])
    conf = unresolved_conflicts(conflicts, resolved, crs=ctx.crs)
    if len(conf) and "type" not in conf.columns:
        raise DataError(
            "冲突表缺少 type 字段 — the conflicts table has no 'type' column: farmland conflicts "
            "are the rows of type farmland_construction. 解决 Fix: pass the table of "
            "fiveplans.analysis.find_conflicts"
        )
    fc = conf[conf["type"] == "farmland_construction"].reset_index(drop=True)
    districts = ctx.get("districts")
    dcol = opts.district_field
    if districts is not None and len(districts) and dcol not in districts.columns:
        raise ConfigError(
            f"AdjustmentOptions.district_field = {dcol!r} is not a column of the districts "
            f"layer ({', '.join(map(str, districts.columns))}). 解决 Fix: pass the name column"
        )
    return _Inputs(ctx, boundary, farm, graded, conf, fc, districts, dcol)


def _units(fc: gpd.GeoDataFrame) -> tuple[list[BaseGeometry], list[str]]:
    """Stage 2: the farmland conflict pieces dissolved into contiguous units, with their ids.

    Pieces overlap across plan pairs (cluster and urban over the same basic farmland); within
    one type they count once, so each contiguous area carries the ids of the pieces on it.
    """
    units: list[BaseGeometry] = []
    unit_ids: list[str] = []
    if not len(fc):
        return units, unit_ids
    fc_tree = shapely.STRtree(fc.geometry.to_numpy())
    merged = overlay.union_polygons(fc.geometry)
    for part in sorted(
        overlay.polygon_parts(merged, min_area=_MIN_PART_M2),
        key=lambda p: (-p.area, p.centroid.x, p.centroid.y),
    ):
        ids = sorted(
            str(fc["conflict_id"].iloc[k])
            for k in fc_tree.query(part, predicate="intersects")
            if overlay.polygon_intersection(part, fc.geometry.iloc[k]).area >= 0.01
        )
        if ids:
            units.append(part)
            unit_ids.append(", ".join(ids))
    return units, unit_ids


def _outgoing(
    inp: _Inputs, units: list[BaseGeometry], unit_ids: list[str]
) -> tuple[list[BaseGeometry], list[float | None]]:
    """Stage 3: the basic farmland leaving with each unit (调出), and its grade."""
    basic = inp.basic
    farm_tree = shapely.STRtree(inp.farm.geometry.to_numpy())
    out_geoms: list[BaseGeometry] = []
    out_grades: list[float | None] = []
    fallback = None
    for g, ids in zip(units, unit_ids, strict=True):
        piece = overlay.polygon_intersection(g, basic) if not basic.is_empty else g
        if piece.is_empty:
            piece = overlay.polygonal_part(g)
        grade = None
        if inp.graded:
            grade = _grade_of(piece, inp.farm, farm_tree)
            if grade is None:
                if fallback is None:
                    inside = overlay.polygon_intersection(basic, inp.boundary)
                    fallback = _grade_of(inside, inp.farm, farm_tree) or 1.0
                warnings.warn(
                    f"冲突下无等别耕地 — farmland conflict {ids} has no graded cultivated land "
                    f"under it: its grade is taken as {fallback:.2f} (the basic farmland's mean "
                    f"inside the boundary, else 1, the best). 解决 Fix: add the grades of the "
                    f"cultivated parcels under it ({inp.ctx.fields.grade})",
                    FiveplansWarning,
                    stacklevel=4,
                )
                grade = fallback
        out_geoms.append(piece)
        out_grades.append(grade)
    return out_geoms, out_grades


def _candidates(inp: _Inputs, opts: AdjustmentOptions) -> gpd.GeoDataFrame:
    """Stage 4: compensation candidates (补划): cultivated land outside everything protected."""
    ctx, basic = inp.ctx, inp.basic
    excluded = shapely.union_all([basic, ctx.construction(), ctx.ecological(), ctx.corridors()])
    pool = inp.farm[inp.farm["_grade"].notna()] if inp.graded else inp.farm
    rows = []
    shapely.prepare(basic)
    for _, row in pool.iterrows():
        g = row.geometry
        if opts.within_boundary:
            g = overlay.polygon_intersection(g, inp.boundary)
        g = overlay.polygon_difference(g, excluded)
        for p in overlay.polygon_parts(g, min_area=_MIN_PART_M2):
            if p.area < opts.min_candidate_m2:
                continue
            rows.append(
                {
                    "source_id": row.get("source_id"),
                    "grade": float(row["_grade"]) if inp.graded else np.nan,
                    "area_m2": p.area,
                    "adjacent": bool(shapely.dwithin(p, basic, opts.adjacency_m))
                    if not basic.is_empty
                    else False,
                    "geometry": p,
                }
            )
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["source_id", "grade", "area_m2", "adjacent", "geometry"]),
        geometry="geometry",
        crs=ctx.crs,
    )


def _sites(
    inp: _Inputs, zones: gpd.GeoDataFrame, opts: AdjustmentOptions
) -> tuple[gpd.GeoDataFrame, BaseGeometry]:
    """Stage 5: move sites (free land next to a development block) and the development land."""
    ctx = inp.ctx
    dev = overlay.union_polygons(zones.geometry[zones["zone"] == "development"])
    built = overlay.union_polygons(zones.geometry[zones["zone"] == "built"])
    cultivated = overlay.union_polygons(inp.farm.geometry)
    not_farm_legend = ("farmland", "basic_farmland", "water", "ecological")
    cur = ctx["current"]
    unsuitable = overlay.union_polygons(cur.geometry[cur["legend"].isin(not_farm_legend)])
    blocked = shapely.union_all(
        [
            inp.basic,
            cultivated,
            unsuitable,
            ctx.ecological(),
            ctx.corridors(),
            built,
            dev,
            ctx.construction(),
            overlay.union_polygons(inp.conf.geometry),
        ]
    )
    free = overlay.polygon_difference(inp.boundary, blocked)
    site_rows = []
    if not dev.is_empty:
        for p in overlay.polygon_parts(free, min_area=_MIN_PART_M2):
            if p.area >= opts.min_site_m2 and shapely.dwithin(p, dev, opts.site_contact_m):
                site_rows.append({"area_m2": p.area, "geometry": p})
    sites = gpd.GeoDataFrame(
        pd.DataFrame(site_rows, columns=["area_m2", "geometry"]), geometry="geometry", crs=ctx.crs
    )
    sites["site_id"] = [f"S-{k + 1:03d}" for k in range(len(sites))]
    return sites, dev


_ACTION_COLUMNS = [
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


def _action(action: str, g: BaseGeometry, inp: _Inputs, **values: Any) -> dict[str, Any]:
    row = dict.fromkeys(_ACTION_COLUMNS)
    row.update(action=ACTIONS[action], area_m2=g.area, geometry=g, **values)
    row["district"] = _district_of(g, inp.districts, inp.dcol)
    return row


def _actions(
    inp: _Inputs,
    sol: BalanceSolution,
    units: list[BaseGeometry],
    unit_ids: list[str],
    outgoing: tuple[list[BaseGeometry], list[float | None]],
    cand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    dev: BaseGeometry,
    opts: AdjustmentOptions,
) -> gpd.GeoDataFrame:
    """Stage 7: the chosen actions as a layer (调出, 迁移 carved from its site, 调入)."""
    out_geoms, out_grades = outgoing
    rows = [
        _action("out", out_geoms[i], inp, grade=out_grades[i], conflict_id=unit_ids[i])
        for i in range(len(units))
        if sol.redesignate[i]
    ]
    remaining = {t: sites.geometry.iloc[t] for t in range(len(sites))}
    for i in range(len(units)):
        t = int(sol.site[i])
        if t < 0:
            continue
        site = remaining[t]
        seed = overlay.polygon_intersection(dev, shapely.buffer(site, opts.site_contact_m + 1.0))
        seed = seed.boundary if not seed.is_empty else seed
        piece = _carve(site, seed, units[i].area)
        remaining[t] = overlay.polygon_difference(site, piece)
        rows.append(
            _action("move", piece, inp, conflict_id=unit_ids[i], site_id=sites["site_id"].iloc[t])
        )
    for c in np.flatnonzero(sol.selected):
        grade = cand["grade"].iloc[c]
        rows.append(
            _action(
                "in",
                cand.geometry.iloc[c],
                inp,
                grade=None if pd.isna(grade) else float(grade),
                adjacent=bool(cand["adjacent"].iloc[c]),
                source_id=cand["source_id"].iloc[c],
            )
        )
    adj = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=_ACTION_COLUMNS), geometry="geometry", crs=inp.ctx.crs
    )
    adj["grade"] = adj["grade"].astype(float)
    adj["adjacent"] = adj["adjacent"].astype("boolean")
    return adj


def _verdict(
    adj: gpd.GeoDataFrame, graded: bool, sol: BalanceSolution
) -> tuple[pd.DataFrame, bool, float, bool | None, str]:
    """Stage 8: the balance table, feasibility, shortfall, quality verdict and message."""
    balance = _balance_table(adj)
    balance["basis"] = BALANCE_BASIS[graded]
    total = balance.iloc[-1]
    tol = 1e-6 * max(1.0, float(total["out_m2"]))
    shortfall = max(0.0, float(total["out_m2"] - total["in_m2"]))
    shortfall = 0.0 if shortfall <= tol else shortfall
    # quality is compared when both sides exist; an empty 调入 is a quantity shortfall
    quality_ok: bool | None = None
    if graded:
        quality_ok = bool(
            total["out_m2"] <= tol
            or pd.isna(total["in_grade"])
            or total["in_grade"] <= total["out_grade"] + 1e-9
        )
    feasible = shortfall == 0.0 and quality_ok is not False
    grades = (
        f" (等别 grade {_fmt(total['out_grade'])})",
        f" (等别 grade {_fmt(total['in_grade'])})",
    )
    if not graded:
        grades = ("", "")
    verdict = (
        "占补平衡 balanced" if graded else "数量平衡 balanced by area, 质量未核 quality not checked"
    )
    msg = (
        f"调出 out {total['out_m2'] / 1e4:.2f} ha{grades[0]}, "
        f"调入 in {total['in_m2'] / 1e4:.2f} ha{grades[1]}, "
        f"迁移 moved {total['move_m2'] / 1e4:.2f} ha; "
        + (
            verdict
            if feasible
            else f"不平衡 NOT balanced: 缺口 shortfall {shortfall / 1e4:.2f} ha"
            + ("" if quality_ok is not False else ", 质量降低 quality falls")
            + ("" if graded else " (质量未核 quality not checked)")
        )
    )
    if feasible:
        logger.info("farmland adjustments: %s", msg)
    else:
        warnings.warn(
            f"耕地占补不平衡 — farmland balance not met: {msg}. 解决 Fix: resolve the farmland "
            "conflicts in the plans, or widen the compensation pool (AdjustmentOptions."
            "within_boundary=False)",
            FiveplansWarning,
            stacklevel=3,
        )
    if not sol.optimal:
        warnings.warn(
            f"占补平衡求解未达最优 — the balance programme stopped before optimality "
            f"({sol.message}). 解决 Fix: raise AdjustmentOptions.time_limit_s",
            FiveplansWarning,
            stacklevel=3,
        )
    return balance, feasible, shortfall, quality_ok, msg


def propose_adjustments(
    layers: LayersLike,
    conflicts: gpd.GeoDataFrame | None,
    *,
    zones: gpd.GeoDataFrame | None = None,
    options: AdjustmentOptions | None = None,
    resolved: Collection[str] = (),
    fields: SurveyFields | None = None,
) -> AdjustmentResult:
    """Move or re-designate every farmland conflict, keeping basic farmland in balance.

    Parameters
    ----------
    layers
        A :class:`~fiveplans.analysis.context.WorkingLayers`, or layer key → GeoDataFrame with
        the legend columns in one projected metre CRS: ``boundary``, ``current`` (with the
        quality grades when known), ``land_use`` (basic farmland), the plans,
        ``infrastructure`` (corridors) and ``districts`` when present.
    conflicts
        The conflicts table; its ``farmland_construction`` rows not in ``resolved`` are
        adjusted.
    zones
        The zones table (development blocks for move sites), in the layers' CRS; ``None``
        runs :func:`fiveplans.analysis.assign_zones` with its defaults.
    options
        :class:`AdjustmentOptions`.
    resolved
        Conflict ids already resolved: they need no adjustment.
    fields
        The current survey's field names (:class:`~fiveplans.schema.SurveyFields`: the grade
        column, default ``GDDB``); default: the context's.

    Returns
    -------
    AdjustmentResult
        Without quality grades the balance is done by area alone, labelled 数量平衡, 质量未核
        (``quality_checked`` False, ``quality_ok`` None, ``balance["basis"]``).

    Warns
    -----
    StageSkipped
        ``farmland_balance.quality`` when the current land use has no grades.
    FiveplansWarning
        The balance cannot be met; a conflict without graded land under it; a time-out.

    Raises
    ------
    DataError
        No ``current`` layer; a grade outside 1–15; a programme without solution.
    CRSError
        Layers, conflicts or zones not in one projected metre CRS.
    ConfigError
        An option out of range.
    """
    opts = options if options is not None else AdjustmentOptions()
    if not isinstance(opts, AdjustmentOptions):
        raise ConfigError(
            f"options must be an AdjustmentOptions, not {type(opts).__name__}. 解决 Fix: pass "
            "options=AdjustmentOptions(…)"
        )
    ctx = working_layers(layers, fields=fields)
    inp = _inputs(ctx, conflicts, resolved, opts)
    units, unit_ids = _units(inp.fc)
    outgoing = _outgoing(inp, units, unit_ids)
    cand = _candidates(inp, opts)
    if zones is None:
        zones = assign_zones(ctx, inp.conf)
    else:
        check_crs({"zones": zones}, what="占补平衡 farmland balance", crs=ctx.crs)
    sites, dev = _sites(inp, zones, opts)
    # without grades the quality constraint vanishes (every grade 0): the balance is by area
    out_grade = [0.0 if v is None or not inp.graded else v for v in outgoing[1]]
    cand_grade = (cand["grade"] if inp.graded else cand["area_m2"] * 0.0).tolist()
    sol = solve_balance(
        [g.area / _M2_PER_HA for g in outgoing[0]],
        out_grade,
        cand["area_m2"].to_numpy() / _M2_PER_HA,
        cand_grade,
        cand["adjacent"].to_numpy(dtype=bool),
        sites["area_m2"].to_numpy() / _M2_PER_HA,
        options=opts,
    )
    adj = _actions(inp, sol, units, unit_ids, outgoing, cand, sites, dev, opts)
    balance, feasible, shortfall, quality_ok, msg = _verdict(adj, inp.graded, sol)
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
        quality_checked=inp.graded,
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
