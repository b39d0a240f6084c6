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
import math
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from fiveplans.analysis import overlay
from fiveplans.errors import ConfigError, DataError, FiveplansWarning

__all__ = [
    "ECOLOGY_KEYS",
    "ZONES",
    "ZoneOptions",
    "assign_zones",
    "boundary_of",
    "ecological_land",
    "unresolved_conflicts",
]

logger = logging.getLogger(__name__)

ZONES = ("built", "development", "control")
"""Zone names, in the contract's order."""

ECOLOGY_KEYS = ("cluster", "urban", "land_use", "ecology", "infrastructure")
"""Layer keys whose ``ecological`` legend counts as ecological land (生态用地)."""

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


def check_range(name: str, value: Any, lo: float, hi: float, unit: str) -> float:
    """``value`` as a float in ``[lo, hi]``, else :class:`ConfigError` naming ``name``."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} = {value!r} is not a number: pass a number in [{lo}, {hi}]")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{name} = {value!r} is not a number: pass a number in [{lo:g}, {hi:g}] {unit}"
        ) from None
    if not math.isfinite(x) or not lo <= x <= hi:
        raise ConfigError(
            f"{name} = {value!r} is out of range: pass a number in [{lo:g}, {hi:g}] {unit}"
        )
    return x


# --------------------------------------------------------------------------- geometry helpers


polygonal = overlay.polygonal_part  # the polygonal part of one geometry


def union_polygons(geoms: Any) -> BaseGeometry:
    """Union of the polygonal geometries in ``geoms`` (invalid ones repaired)."""
    arr = np.asarray([g for g in geoms if g is not None and not g.is_empty], dtype=object)
    if not len(arr):
        return _EMPTY
    bad = ~shapely.is_valid(arr)
    if bad.any():
        arr[bad] = shapely.make_valid(arr[bad])
    polys = [polygonal(g) for g in arr]
    polys = [p for p in polys if not p.is_empty]
    return shapely.union_all(polys) if polys else _EMPTY


def parts_of(g: BaseGeometry) -> list[BaseGeometry]:
    """Polygon parts of ``g`` with area of at least the overlay-noise floor."""
    g = polygonal(g)
    return [p for p in shapely.get_parts(g) if p.area >= _MIN_PART_M2]


def legend_union(gdf: gpd.GeoDataFrame | None, legend: str) -> BaseGeometry:
    """Union of the features of ``gdf`` whose ``legend`` is ``legend``."""
    if gdf is None or len(gdf) == 0 or "legend" not in gdf.columns:
        return _EMPTY
    return union_polygons(gdf.geometry[gdf["legend"] == legend])


def boundary_of(layers: Mapping[str, gpd.GeoDataFrame]) -> tuple[BaseGeometry, Any]:
    """The planning boundary (union of the ``boundary`` layer) and its CRS.

    Raises
    ------
    DataError
        No ``boundary`` layer, an empty one, or one in a geographic CRS.
    """
    b = layers.get("boundary")
    if b is None or len(b) == 0:
        raise DataError(
            "layers have no 'boundary' (规划范围): the zones partition the planning boundary; "
            "load a pilot with `boundary:` set or add a 'boundary' polygon layer"
        )
    if b.crs is not None and b.crs.is_geographic:
        raise DataError(
            f"the 'boundary' layer is in a geographic CRS ({b.crs.to_string()}): areas need "
            "metres; reproject the layers to the pilot's projected working CRS first"
        )
    geom = union_polygons(b.geometry)
    if geom.is_empty or geom.area <= 0:
        raise DataError(
            "the 'boundary' layer has no polygon with an area: give the planning boundary "
            "(规划范围) as a polygon"
        )
    return geom, b.crs


def ecological_land(layers: Mapping[str, gpd.GeoDataFrame]) -> BaseGeometry:
    """Union of legend ``ecological`` over the plans in :data:`ECOLOGY_KEYS`."""
    return union_polygons(legend_union(layers.get(k), "ecological") for k in ECOLOGY_KEYS)


def _same_crs(gdf: gpd.GeoDataFrame, crs: Any, what: str) -> gpd.GeoDataFrame:
    if crs is None or gdf.crs is None or gdf.crs == crs:
        return gdf
    logger.info("reprojecting %s from %s to %s", what, gdf.crs, crs)
    return gdf.to_crs(crs)


def _warn_unknown(unknown: list[str]) -> None:
    if unknown:
        warnings.warn(
            f"resolved conflict ids not in the conflicts table (ignored): {', '.join(unknown[:10])}"
            f"{' …' if len(unknown) > 10 else ''}; check them against the current conflicts "
            "(ids are stable only on the same inputs)",
            FiveplansWarning,
            stacklevel=4,
        )


def unresolved_conflicts(
    conflicts: gpd.GeoDataFrame | None,
    resolved: Collection[str] = (),
    *,
    crs: Any = None,
) -> gpd.GeoDataFrame:
    """The conflict rows whose ``conflict_id`` is not in ``resolved`` (a copy).

    Raises
    ------
    DataError
        The table lacks ``conflict_id`` or a geometry.
    """
    if conflicts is None or len(conflicts) == 0:
        _warn_unknown(sorted(set(map(str, resolved))))
        return gpd.GeoDataFrame(
            {"conflict_id": pd.Series(dtype=str), "type": pd.Series(dtype=str)},
            geometry=gpd.GeoSeries([], crs=crs),
            crs=crs,
        )
    if "conflict_id" not in conflicts.columns or not isinstance(conflicts, gpd.GeoDataFrame):
        raise DataError(
            "the conflicts table has no 'conflict_id' column or no geometry: pass the table "
            "returned by fiveplans.analysis.find_conflicts"
        )
    ids = set(map(str, resolved))
    known = set(conflicts["conflict_id"].astype(str))
    _warn_unknown(sorted(ids - known))
    keep = ~conflicts["conflict_id"].astype(str).isin(ids)
    return _same_crs(conflicts.loc[keep].copy(), crs, "the conflicts table")


# --------------------------------------------------------------------------- the zones


def _roads_geometry(layers: Mapping[str, gpd.GeoDataFrame], crs: Any) -> BaseGeometry | None:
    roads = layers.get("roads")
    if roads is not None and len(roads):
        r = _same_crs(roads, crs, "the roads layer")
        geoms = [g for g in r.geometry if g is not None and not g.is_empty]
        if geoms:
            return shapely.union_all(geoms)
    cur = layers.get("current")
    if cur is not None and len(cur) and "use" in cur.columns:
        tr = cur[(cur["legend"] == "construction") & (cur["use"] == "transport")]
        if len(tr):
            return union_polygons(_same_crs(tr, crs, "the current layer").geometry)
    return None


_NO_CURRENT = (
    "layers have no 'current' (现状, current land-use survey): the built zone (建成区) is the "
    "existing construction land of that survey; set `current:` in the pilot YAML "
    "(e.g. {path: status.gpkg, field: DLBM, scheme: gbt21010})"
)


def _built(
    layers: Mapping[str, gpd.GeoDataFrame],
    boundary: BaseGeometry,
    crs: Any,
    blocked: BaseGeometry,
    opts: ZoneOptions,
) -> tuple[BaseGeometry, BaseGeometry, BaseGeometry]:
    """(built, scattered existing construction, raw existing construction) in the boundary."""
    cur = layers.get("current")
    if cur is None:
        raise DataError(_NO_CURRENT)
    if len(cur) and "legend" not in cur.columns:
        raise DataError(
            "the 'current' layer has no 'legend' column: the built zone needs the common "
            "legend; load it through fiveplans.load_pilot (scheme gbt21010) or add the column"
        )
    cur = _same_crs(cur, crs, "the current layer")
    every = legend_union(cur, "construction")
    raw = polygonal(every & boundary)
    built = raw
    if opts.closing_m > 0 and not raw.is_empty:
        r = opts.closing_m
        # close with the construction just outside the boundary as context, so blocks that
        # run across the boundary consolidate as they do on the ground, then clip
        context = polygonal(every & shapely.buffer(boundary, 2 * r + 1.0))
        closed = shapely.buffer(shapely.buffer(context, r, quad_segs=8), -r, quad_segs=8)
        closed = polygonal(closed)
        fill = polygonal((closed & boundary) - raw - blocked)
        fill_parts = parts_of(fill)
        fill_parts = [p for p in fill_parts if p.area >= 1.0]
        if fill_parts:
            built = polygonal(shapely.union_all([raw, *fill_parts]))
            logger.info(
                "closing %.0f m adds %.0f m² to the built zone", r, sum(p.area for p in fill_parts)
            )
    blocks = parts_of(built)
    small = [p for p in blocks if p.area < opts.min_block_m2]
    if small:
        scattered = polygonal(shapely.union_all(small) & raw)
        built = polygonal(shapely.union_all([p for p in blocks if p.area >= opts.min_block_m2]))
        logger.info(
            "%d built block(s) below %.0f m² (%.0f m²) left out of the built zone",
            len(small),
            opts.min_block_m2,
            sum(p.area for p in small),
        )
    else:
        scattered = _EMPTY
    return built, scattered, raw


def _plan_key(layers: Mapping[str, gpd.GeoDataFrame], opts: ZoneOptions) -> str:
    if opts.plan is not None:
        if layers.get(opts.plan) is None:
            raise DataError(
                f"ZoneOptions.plan = {opts.plan!r} but the layers have no {opts.plan!r} plan: "
                "load it or pass plan=None"
            )
        return opts.plan
    for key in ("cluster", "urban"):
        if layers.get(key) is not None:
            return key
    raise DataError(
        "layers have neither 'cluster' (产业集聚区总体规划) nor 'urban' (城市总体规划): the "
        "development zone (发展区) is the zone plan's construction land; set one of them under "
        "`plans:` in the pilot YAML"
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


def _conflict_reason(piece: BaseGeometry, conf: gpd.GeoDataFrame, tree: Any) -> str:
    hits = tree.query(piece, predicate="intersects")
    ids = []
    for i in sorted(hits):
        g = conf.geometry.iloc[i]
        if polygonal(shapely.intersection(piece, g)).area >= _MIN_PART_M2:
            ids.append(str(conf["conflict_id"].iloc[i]))
    ids = sorted(set(ids))
    return f"{REASONS['conflict']}: {', '.join(ids)}" if ids else REASONS["conflict"]


def assign_zones(
    layers: Mapping[str, gpd.GeoDataFrame],
    conflicts: gpd.GeoDataFrame | None,
    *,
    options: ZoneOptions | None = None,
    resolved: Collection[str] = (),
) -> gpd.GeoDataFrame:
    """Partition the planning boundary into built, development and control zones.

    Parameters
    ----------
    layers
        Layer key to GeoDataFrame with the legend columns, in one projected (metre) CRS:
        ``boundary`` and ``current`` are required, ``cluster`` or ``urban`` too; ``roads`` and
        the other plans are used when present.
    conflicts
        The conflicts table of :func:`fiveplans.analysis.find_conflicts` (``conflict_id``,
        ``type``, polygon geometry); ``None`` or empty means no conflicts.
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
        unresolved conflicts, comma-separated), in the boundary's CRS. Rows are ordered by
        zone (built, development, control), then block.

    Raises
    ------
    DataError
        No ``current`` layer (the built zone needs it), no ``boundary``, no zone plan, or a
        malformed conflicts table.
    ConfigError
        An option out of range (see :class:`ZoneOptions`).
    """
    opts = options if options is not None else ZoneOptions()
    if not isinstance(opts, ZoneOptions):
        raise ConfigError(
            f"options must be a ZoneOptions, not {type(opts).__name__}: pass "
            "options=ZoneOptions(closing_m=…, …)"
        )
    boundary, crs = boundary_of(layers)
    if layers.get("current") is None:
        raise DataError(_NO_CURRENT)
    conf = unresolved_conflicts(conflicts, resolved, crs=crs)
    conf_union = polygonal(union_polygons(conf.geometry) & boundary)
    eco = polygonal(
        ecological_land(
            {k: _same_crs(layers[k], crs, k) for k in ECOLOGY_KEYS if layers.get(k) is not None}
        )
    )
    blocked = polygonal(shapely.union_all([conf_union, eco]))
    built, scattered, _raw = _built(layers, boundary, crs, blocked, opts)

    key = _plan_key(layers, opts)
    plan = _same_crs(layers[key], crs, f"the {key} plan")
    planned = polygonal(legend_union(plan, "construction") & boundary)
    dev_all = polygonal(planned - built - conf_union - eco)
    dev_parts = parts_of(dev_all)
    keep = [p for p in dev_parts if p.area >= opts.min_development_m2]
    frag = [p for p in dev_parts if p.area < opts.min_development_m2]
    development = polygonal(shapely.union_all(keep)) if keep else _EMPTY
    fragments = polygonal(shapely.union_all(frag)) if frag else _EMPTY
    if frag:
        logger.info(
            "%d development piece(s) below %.0f m² (%.0f m²) go to control",
            len(frag),
            opts.min_development_m2,
            fragments.area,
        )

    control = polygonal(boundary - built - development)
    rows: list[dict[str, Any]] = []
    for n, g in enumerate(sorted(parts_of(built), key=lambda p: -p.area)):
        rows.append(_row("built", g, REASONS["built"], f"B-{n + 1:04d}"))

    dev_blocks = parts_of(development)
    ranks = _rank_blocks(dev_blocks, built, _roads_geometry(layers, crs), opts)
    order = ranks.sort_values("rank").index
    for k in order:
        g = dev_blocks[k]
        r = ranks.loc[k]
        touches = r["share"] > 0
        why = (
            "现状建设用地毗邻 next to built land"
            if touches
            else "不毗邻建成区 not next to built land"
        )
        road = "临路 near a road" if r["road"] else "不临路 away from roads"
        row = _row(
            "development",
            g,
            f"规划建设用地 planned construction ({key}); {why}; {road}",
            f"D-{int(r['rank']):04d}",
        )
        row["rank"] = int(r["rank"])
        row["priority"] = PRIORITY[int(r["tier"])]
        rows.append(row)

    remaining = control
    pieces: list[tuple[str, BaseGeometry]] = []
    for name, mask in (
        ("conflict", conf_union),
        ("ecological", eco),
        ("fragment", fragments),
        ("scattered", scattered),
    ):
        if mask.is_empty or remaining.is_empty:
            continue
        pieces.append((name, polygonal(remaining & mask)))
        remaining = polygonal(remaining - mask)
    pieces.append(("reserve", remaining))
    tree = shapely.STRtree(conf.geometry.to_numpy()) if len(conf) else None
    n = 0
    for name, geom in pieces:
        for g in sorted(parts_of(geom), key=lambda p: -p.area):
            n += 1
            if name == "conflict" and tree is not None:
                reason = _conflict_reason(g, conf, tree)
            else:
                reason = REASONS[name]
            row = _row("control", g, reason, f"C-{n:04d}")
            if reason.startswith(REASONS["conflict"] + ":"):
                row["conflict_ids"] = reason.split(": ", 1)[1]
            rows.append(row)

    out = gpd.GeoDataFrame(
        pd.DataFrame(
            rows,
            columns=[
                "zone",
                "area_m2",
                "reason",
                "block_id",
                "rank",
                "priority",
                "conflict_ids",
                "geometry",
            ],
        ),
        geometry="geometry",
        crs=crs,
    )
    out["rank"] = out["rank"].astype("Int64")
    for col in ("zone", "reason", "block_id", "priority", "conflict_ids"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
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
