"""Built, development and control zones (建成区 · 发展区 · 控制区).

:func:`assign_zones` cuts the planning boundary (规划范围) into three zones that together cover
it exactly, with no gaps and no overlaps:

``built`` (建成区)
    Existing construction land: legend ``construction`` of the current land-use survey
    (``current``, 现状, GB/T 21010) inside the boundary. It is consolidated into contiguous
    blocks (集中连片) by a morphological closing of ``closing_m`` (gaps narrower than about
    twice that distance between built parcels are filled), and blocks smaller than
    ``min_block_m2`` are dropped as scattered construction (零散建设用地). The closing sees
    the construction just outside the boundary too; the land it adds is clipped back to the
    boundary and to land that is neither an unresolved conflict nor ecological land, so
    consolidation never swallows a conflict or a red line. The existing
    construction itself stays built even where a conflict overlaps it: it is a fact on the
    ground; the conflict stays in the conflicts table.
``development`` (发展区)
    Planned construction land of the zone plan (``cluster``, else ``urban``) inside the
    boundary, minus built land, minus every unresolved conflict piece (conflict ids not in
    ``resolved``) and minus ecological land of any plan. It is grouped into contiguous blocks;
    blocks under ``min_development_m2`` go to control as fragments. The blocks are ranked
    (``rank`` 1 first) by adjacency to built land and to roads (集中连片, 优先开发): blocks
    touching built land and within ``road_adjacency_m`` of a road come first (``priority``
    优先开发), then blocks with one of the two (次优先), then the rest (远期); within a tier,
    by the share of the block's perimeter shared with built land, then by area.
``control`` (控制区)
    Everything else, one polygon per reason: unresolved conflicts (with their ids), ecological
    land, development fragments, scattered existing construction and reserve land that the
    zone plan does not plan for construction.

Every polygon carries a bilingual ``reason`` (中文 first). Ecological land is legend
``ecological`` of the plans ``cluster``, ``urban``, ``land_use``, ``ecology`` and
``infrastructure`` (the current survey records land cover, not protection).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, fields
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from fiveplans.analysis import overlay
from fiveplans.analysis.context import (
    LayersLike,
    WorkingLayers,
    check_range,
    unresolved_conflicts,
    working_layers,
)
from fiveplans.errors import ConfigError, DataError
from fiveplans.schema import CITY_PLANS, ZONES

__all__ = [
    "ZONES",
    "ZoneOptions",
    "assign_zones",
    "boundary_of",
    "ecological_land",
    "unresolved_conflicts",
]

logger = logging.getLogger(__name__)


_EMPTY = shapely.Polygon()
_MIN_PART_M2 = 0.01
"""Parts smaller than this (m²) are overlay noise and are not written as polygons."""

REASONS = {
    "built": "现状建设用地 existing construction land",
    "conflict": "未解决冲突 unresolved conflict",
    "ecological": "生态用地 ecological land",
    "fragment": "零散地块 fragment below the minimum development block",
    "scattered": "零散现状建设用地 scattered existing construction below the minimum block",
    "reserve": "非规划建设用地 reserve: not planned for construction",
}
PRIORITY = ("优先开发 priority", "次优先 secondary", "远期 later")


@dataclass(frozen=True)
class ZoneOptions:
    """Options of :func:`assign_zones` (validated on creation).

    Parameters
    ----------
    closing_m
        Closing distance (m) that consolidates built parcels into contiguous blocks: gaps up
        to about twice this width between built parcels become built. 0 turns it off.
        Range 0–500, default 20: a secondary-road reservation (24 m) or a yard strip between
        built parcels is absorbed, an arterial reservation (40 m) just closes, a farmland
        street block is never swallowed. On the demo pilot it adds 0.2 % to the built zone.
    min_block_m2
        Smallest built block (m²) after the closing; smaller ones are scattered construction
        and go to control (or development where planned). Range 0–10 000 000, default 10 000
        (1 ha).
    min_development_m2
        Smallest development block (m²); smaller pieces are fragments in control.
        Range 0–10 000 000, default 400 (the contract's sliver threshold).
    road_adjacency_m
        A development block within this distance of a road (the ``roads`` layer, else the
        current survey's transport land) counts as road-adjacent. Range 0–5 000, default 50.
    contact_m
        Tolerance (m) for a development block to count as touching built land.
        Range 0–100, default 1.
    plan
        The zone plan whose construction land is development land: ``"cluster"`` or
        ``"urban"``; ``None`` (default) takes ``cluster`` when present, else ``urban``.
    """

    closing_m: float = 20.0
    min_block_m2: float = 10_000.0
    min_development_m2: float = 400.0
    road_adjacency_m: float = 50.0
    contact_m: float = 1.0
    plan: str | None = None

    def __post_init__(self) -> None:
        ranges = {
            "closing_m": (0.0, 500.0, "m"),
            "min_block_m2": (0.0, 1e7, "m²"),
            "min_development_m2": (0.0, 1e7, "m²"),
            "road_adjacency_m": (0.0, 5000.0, "m"),
            "contact_m": (0.0, 100.0, "m"),
        }
        for f in fields(self):
            if f.name not in ranges:
                continue
            lo, hi, unit = ranges[f.name]
            check_range(f"ZoneOptions.{f.name}", getattr(self, f.name), lo, hi, unit)
        if self.plan not in (None, "cluster", "urban"):
            raise ConfigError(
                f"ZoneOptions.plan = {self.plan!r} is not a zone plan: pass 'cluster', 'urban' "
                "or None (cluster when present, else urban)"
            )


# --------------------------------------------------------------------------- geometry helpers


def parts_of(g: BaseGeometry) -> list[BaseGeometry]:
    """Polygon parts of ``g`` with area of at least the overlay-noise floor."""
    return overlay.polygon_parts(g, min_area=_MIN_PART_M2)


def _union(geoms: Any) -> BaseGeometry:
    return overlay.union_polygons(geoms)


def _cut(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    """``a ∩ b`` through the kernel (never a topology error)."""
    return overlay.polygon_intersection(a, b)


def _minus(a: BaseGeometry, *others: BaseGeometry) -> BaseGeometry:
    """``a`` minus ``others`` through the kernel."""
    return overlay.polygon_difference(a, *others)


def boundary_of(layers: LayersLike) -> tuple[BaseGeometry, Any]:
    """The planning boundary (union of the ``boundary`` layer) and the checked working CRS.

    Raises
    ------
    DataError
        No ``boundary`` layer or an empty one.
    CRSError
        Layers in a geographic or non-metre CRS, or in different CRSs.
    """
    ctx = working_layers(layers)
    return ctx.boundary(), ctx.crs


def ecological_land(layers: LayersLike) -> BaseGeometry:
    """Union of legend ``ecological`` over every plan (:data:`fiveplans.schema.PROTECTION_PLANS`)."""
    return working_layers(layers).ecological()


# --------------------------------------------------------------------------- the zones


def _roads_geometry(ctx: WorkingLayers) -> BaseGeometry | None:
    """The roads (the ``roads`` layer, else the current survey's transport land)."""

    def compute() -> BaseGeometry | None:
        roads = ctx.get("roads")
        if roads is not None and len(roads):
            geoms = [g for g in roads.geometry if g is not None and not g.is_empty]
            if geoms:
                return shapely.union_all(geoms)
        cur = ctx.get("current")
        if cur is not None and len(cur) and "use" in cur.columns:
            tr = cur[(cur["legend"] == "construction") & (cur["use"] == "transport")]
            if len(tr):
                return _union(tr.geometry)
        return None

    return ctx.derive("zones.roads", compute)


_NO_CURRENT = (
    "没有土地利用现状 — layers have no 'current' (现状, current land-use survey): the built zone "
    "(建成区) is the existing construction land of that survey. 解决 Fix: set `current:` in the "
    "pilot YAML (e.g. {path: status.gpkg, field: DLBM, scheme: gbt21010})"
)


def _existing_construction(ctx: WorkingLayers) -> BaseGeometry:
    """Construction land of the current survey (现状建设用地), not clipped."""
    cur = ctx.get("current")
    if cur is None:
        raise DataError(_NO_CURRENT)
    if len(cur) and "legend" not in cur.columns:
        raise DataError(
            "现状图层缺少 legend 字段 — the 'current' layer has no 'legend' column: the built "
            "zone needs the common legend. 解决 Fix: load it through fiveplans.load_pilot "
            "(scheme gbt21010) or add the column"
        )
    return ctx.legend_union("construction", ("current",))


def _closing_fill(
    every: BaseGeometry, raw: BaseGeometry, boundary: BaseGeometry, blocked: BaseGeometry, r: float
) -> list[BaseGeometry]:
    """Land the closing of ``r`` metres adds to the built land (outside ``blocked``)."""
    # close with the construction just outside the boundary as context, so blocks that
    # run across the boundary consolidate as they do on the ground, then clip
    context = _cut(every, shapely.buffer(boundary, 2 * r + 1.0))
    closed = overlay.polygonal_part(
        shapely.buffer(shapely.buffer(context, r, quad_segs=8), -r, quad_segs=8)
    )
    fill = _minus(_cut(closed, boundary), raw, blocked)
    return [p for p in parts_of(fill) if p.area >= 1.0]


def _built(
    ctx: WorkingLayers, boundary: BaseGeometry, blocked: BaseGeometry, opts: ZoneOptions
) -> tuple[BaseGeometry, BaseGeometry, BaseGeometry]:
    """(built, scattered existing construction, raw existing construction) in the boundary."""
    every = _existing_construction(ctx)
    raw = _cut(every, boundary)
    built = raw
    if opts.closing_m > 0 and not raw.is_empty:
        fill_parts = _closing_fill(every, raw, boundary, blocked, opts.closing_m)
        if fill_parts:
            built = overlay.polygonal_part(shapely.union_all([raw, *fill_parts]))
            logger.info(
                "closing %.0f m adds %.0f m² to the built zone",
                opts.closing_m,
                sum(p.area for p in fill_parts),
            )
    blocks = parts_of(built)
    small = [p for p in blocks if p.area < opts.min_block_m2]
    if not small:
        return built, _EMPTY, raw
    scattered = _cut(shapely.union_all(small), raw)
    built = overlay.polygonal_part(
        shapely.union_all([p for p in blocks if p.area >= opts.min_block_m2])
    )
    logger.info(
        "%d built block(s) below %.0f m² (%.0f m²) left out of the built zone",
        len(small),
        opts.min_block_m2,
        sum(p.area for p in small),
    )
    return built, scattered, raw


def _plan_key(ctx: WorkingLayers, opts: ZoneOptions) -> str:
    if opts.plan is not None:
        if ctx.get(opts.plan) is None:
            raise DataError(
                f"ZoneOptions.plan = {opts.plan!r} but the layers have no {opts.plan!r} plan. "
                "解决 Fix: load it or pass plan=None"
            )
        return opts.plan
    for key in CITY_PLANS:
        if ctx.get(key) is not None:
            return key
    raise DataError(
        "没有分区规划 — layers have neither 'cluster' (产业集聚区总体规划) nor 'urban' "
        "(城市总体规划): the development zone (发展区) is the zone plan's construction land. "
        "解决 Fix: set one of them under `plans:` in the pilot YAML"
    )


def _rank_blocks(
    blocks: list[BaseGeometry],
    built: BaseGeometry,
    roads: BaseGeometry | None,
    opts: ZoneOptions,
) -> pd.DataFrame:
    """Per development block: contact share with built land, road adjacency, tier, rank."""
    near_built = shapely.buffer(built, opts.contact_m) if not built.is_empty else None
    if roads is not None:
        shapely.prepare(roads)
    rows = []
    for k, g in enumerate(blocks):
        perim = g.length
        contact = 0.0
        if near_built is not None and perim > 0:
            contact = float(shapely.intersection(g.boundary, near_built).length)
        road = bool(roads is not None and shapely.dwithin(g, roads, opts.road_adjacency_m))
        touches = contact > 0
        tier = 0 if touches and road else (1 if touches or road else 2)
        rows.append(
            {
                "k": k,
                "tier": tier,
                "share": contact / perim if perim else 0.0,
                "area": g.area,
                "road": road,
            }
        )
    df = pd.DataFrame(rows, columns=["k", "tier", "share", "area", "road"])
    df = df.sort_values(["tier", "share", "area", "k"], ascending=[True, False, False, True])
    df["rank"] = np.arange(1, len(df) + 1)
    return df.set_index("k").sort_index()


def _conflict_ids(piece: BaseGeometry, conf: gpd.GeoDataFrame, tree: Any) -> list[str]:
    """The ids of the unresolved conflicts with area under ``piece``, sorted."""
    ids = set()
    for i in tree.query(piece, predicate="intersects"):
        if _cut(piece, conf.geometry.iloc[i]).area >= _MIN_PART_M2:
            ids.add(str(conf["conflict_id"].iloc[i]))
    return sorted(ids)


@dataclass
class _Land:
    """The land each zone is drawn from (all cut to the boundary)."""

    boundary: BaseGeometry
    conflicts: BaseGeometry
    ecological: BaseGeometry
    built: BaseGeometry
    scattered: BaseGeometry
    development: BaseGeometry
    fragments: BaseGeometry
    plan: str


def _land(ctx: WorkingLayers, conf: gpd.GeoDataFrame, opts: ZoneOptions) -> _Land:
    """Stage 1: built, development and what blocks development."""
    boundary = ctx.boundary()
    conf_union = _cut(_union(conf.geometry), boundary)
    eco = overlay.polygonal_part(ctx.ecological())
    blocked = overlay.polygonal_part(shapely.union_all([conf_union, eco]))
    built, scattered, _raw = _built(ctx, boundary, blocked, opts)
    key = _plan_key(ctx, opts)
    planned = _cut(ctx.legend_union("construction", (key,)), boundary)
    dev_parts = parts_of(_minus(planned, built, conf_union, eco))
    keep = [p for p in dev_parts if p.area >= opts.min_development_m2]
    frag = [p for p in dev_parts if p.area < opts.min_development_m2]
    development = overlay.polygonal_part(shapely.union_all(keep)) if keep else _EMPTY
    fragments = overlay.polygonal_part(shapely.union_all(frag)) if frag else _EMPTY
    if frag:
        logger.info(
            "%d development piece(s) below %.0f m² (%.0f m²) go to control",
            len(frag),
            opts.min_development_m2,
            fragments.area,
        )
    return _Land(boundary, conf_union, eco, built, scattered, development, fragments, key)


def _built_rows(land: _Land) -> list[dict[str, Any]]:
    """Stage 2: one row per built block, largest first."""
    blocks = sorted(parts_of(land.built), key=lambda p: -p.area)
    return [_row("built", g, REASONS["built"], f"B-{n + 1:04d}") for n, g in enumerate(blocks)]


def _development_rows(
    land: _Land, roads: BaseGeometry | None, opts: ZoneOptions
) -> list[dict[str, Any]]:
    """Stage 3: one row per development block, ranked (集中连片, 优先开发)."""
    blocks = parts_of(land.development)
    ranks = _rank_blocks(blocks, land.built, roads, opts)
    rows = []
    for k in ranks.sort_values("rank").index:
        r = ranks.loc[k]
        why = (
            "现状建设用地毗邻 next to built land"
            if r["share"] > 0
            else "不毗邻建成区 not next to built land"
        )
        road = "临路 near a road" if r["road"] else "不临路 away from roads"
        row = _row(
            "development",
            blocks[k],
            f"规划建设用地 planned construction ({land.plan}); {why}; {road}",
            f"D-{int(r['rank']):04d}",
        )
        row["rank"] = int(r["rank"])
        row["priority"] = PRIORITY[int(r["tier"])]
        rows.append(row)
    return rows


def _control_rows(land: _Land, conf: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """Stage 4: the rest of the boundary, one polygon per reason (conflicts with their ids)."""
    remaining = _minus(land.boundary, land.built, land.development)
    pieces: list[tuple[str, BaseGeometry]] = []
    for name, mask in (
        ("conflict", land.conflicts),
        ("ecological", land.ecological),
        ("fragment", land.fragments),
        ("scattered", land.scattered),
    ):
        if mask.is_empty or remaining.is_empty:
            continue
        pieces.append((name, _cut(remaining, mask)))
        remaining = _minus(remaining, mask)
    pieces.append(("reserve", remaining))
    tree = shapely.STRtree(conf.geometry.to_numpy()) if len(conf) else None
    rows: list[dict[str, Any]] = []
    for name, geom in pieces:
        for g in sorted(parts_of(geom), key=lambda p: -p.area):
            ids = _conflict_ids(g, conf, tree) if name == "conflict" and tree is not None else []
            reason = f"{REASONS['conflict']}: {', '.join(ids)}" if ids else REASONS[name]
            row = _row("control", g, reason, f"C-{len(rows) + 1:04d}")
            row["conflict_ids"] = ", ".join(ids) if ids else None
            rows.append(row)
    return rows


_COLUMNS = ["zone", "area_m2", "reason", "block_id", "rank", "priority", "conflict_ids"]


def _zones_frame(rows: list[dict[str, Any]], crs: Any) -> gpd.GeoDataFrame:
    """Stage 5: the zones table."""
    out = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=[*_COLUMNS, "geometry"]), geometry="geometry", crs=crs
    )
    out["rank"] = out["rank"].astype("Int64")
    for col in ("zone", "reason", "block_id", "priority", "conflict_ids"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def assign_zones(
    layers: LayersLike,
    conflicts: gpd.GeoDataFrame | None,
    *,
    options: ZoneOptions | None = None,
    resolved: Collection[str] = (),
) -> gpd.GeoDataFrame:
    """Partition the planning boundary into built, development and control zones.

    Parameters
    ----------
    layers
        A :class:`~fiveplans.analysis.context.WorkingLayers`, or layer key → GeoDataFrame with
        the legend columns, in one projected (metre) CRS: ``boundary`` and ``current`` are
        required, ``cluster`` or ``urban`` too; ``roads`` and the other plans are used when
        present.
    conflicts
        The conflicts table of :func:`fiveplans.analysis.find_conflicts` (``conflict_id``,
        ``type``, polygon geometry, in the layers' CRS); ``None`` or empty means no conflicts.
    options
        :class:`ZoneOptions`; default ``ZoneOptions()``.
    resolved
        Conflict ids already resolved (e.g. from the ledger): their land may be developed.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per polygon: ``zone`` (built, development, control), ``area_m2``, ``reason``
        (bilingual, 中文 first), ``block_id`` (``B-…`` built blocks, ``D-…`` development
        blocks, ``C-…`` control pieces), ``rank`` (development blocks, 1 first, else null),
        ``priority`` (development tier label, else null), ``conflict_ids`` (control pieces on
        unresolved conflicts, comma-separated), in the working CRS. Rows are ordered by
        zone (built, development, control), then block.

    Raises
    ------
    DataError
        No ``current`` layer (the built zone needs it), no ``boundary``, no zone plan, or a
        malformed conflicts table.
    CRSError
        Layers or the conflicts table not in one projected metre CRS.
    ConfigError
        An option out of range (see :class:`ZoneOptions`).
    """
    opts = options if options is not None else ZoneOptions()
    if not isinstance(opts, ZoneOptions):
        raise ConfigError(
            f"options must be a ZoneOptions, not {type(opts).__name__}. 解决 Fix: pass "
            "options=ZoneOptions(closing_m=…, …)"
        )
    ctx = working_layers(layers)
    ctx.boundary()
    if ctx.get("current") is None:
        raise DataError(_NO_CURRENT)
    conf = unresolved_conflicts(conflicts, resolved, crs=ctx.crs)
    land = _land(ctx, conf, opts)
    rows = _built_rows(land) + _development_rows(land, _roads_geometry(ctx), opts)
    rows += _control_rows(land, conf)
    out = _zones_frame(rows, ctx.crs)
    totals = out.groupby("zone")["area_m2"].sum()
    logger.info(
        "zones: %s",
        ", ".join(f"{z} {totals.get(z, 0.0) / 1e4:.2f} ha" for z in ZONES),
    )
    return out


def _row(zone: str, g: BaseGeometry, reason: str, block_id: str) -> dict[str, Any]:
    return {
        "zone": zone,
        "area_m2": float(g.area),
        "reason": reason,
        "block_id": block_id,
        "rank": None,
        "priority": None,
        "conflict_ids": None,
        "geometry": g,
    }
