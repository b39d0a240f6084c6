"""The logistics radius (最佳物流半径) of industrial clusters on the road network.

Everything here runs on a road graph from :func:`fiveplans.analysis.network.build_network`
through its :class:`~fiveplans.analysis.engine.NetworkEngine` (built once per graph). Points
join the network as CONTRACT §2 says: at the nearest point of the nearest edge, the straight
access leg at the ``default`` speed, polygon cores at their representative point; times run
from the cluster core outward (ArcGIS "away from facilities").

- :func:`service_areas` — reach polygons per cluster core and time break (服务范围), in the
  ArcGIS Network Analyst modes ``overlap``, ``split`` and ``dissolve``;
- :func:`assign_suppliers` — each supplier (配套企业) to the quickest cluster within its radius;
- :func:`catchments`, :func:`cluster_links`, :func:`coverage` — competitive catchments,
  neighbouring clusters whose catchments meet (相邻产业集聚区协同), suppliers covered;
- :func:`service_class` — reliance on the city, own supporting area or the nearby town by the
  travel time to the nearest city/county centre;
- :func:`site_hubs` — maximal covering location of logistics hubs (greedy and exact MILP).

Every cluster function works on one :class:`ClusterNetwork` (the cluster-network context): the
engine, the cluster ids, radii and industries, the snapped cores and the travel times from the
cores, built once and shared. The public functions accept ``(graph, clusters, …)`` as in
CONTRACT §6 and build the context for the user; pass a context (built by
:func:`cluster_network`) in place of ``graph`` or of ``clusters`` to share it across calls.

The network is the network as drawn (CONTRACT §2): a supplier that no core can reach on it is
left unassigned with ``reason`` ``unreachable``; one that is reached, but beyond every radius,
with ``beyond_radius``. :func:`network_pieces` lists the roads that no core reaches or from
which no core can be reached again. No layer is reprojected here: every layer must be in the
road network's CRS (:func:`fiveplans.analysis.context.check_crs`).

Polygons are buffers of the reached road pieces (fully reached edges, and partly reached edges
cut at the reachable fraction), never convex hulls; ``buffer_m`` (default 100 m, as ArcGIS's
trim distance) is how far off the road a place still counts as served.
"""

from __future__ import annotations

import itertools
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import connected_components

from fiveplans.analysis import overlay
from fiveplans.analysis.context import check_crs
from fiveplans.analysis.engine import NetworkEngine, Snap, engine_for
from fiveplans.errors import ConfigError, CRSError, DataError, FiveplansWarning

__all__ = [
    "REASONS",
    "SERVICE_LABELS",
    "ClusterNetwork",
    "HubSiting",
    "assign_suppliers",
    "catchments",
    "cluster_links",
    "cluster_network",
    "coverage",
    "network_pieces",
    "service_areas",
    "service_class",
    "site_hubs",
    "snap_points",
]

logger = logging.getLogger(__name__)

#: Bilingual labels of :func:`service_class` (中文 first).
SERVICE_LABELS: dict[str, str] = {
    "near": "依托城市 relies on the city",
    "large": "独立配套 own supporting area",
    "far": "依托邻近城镇 relies on the nearby town",
}

#: Why a supplier is left unassigned (``reason`` of :func:`assign_suppliers`).
REASONS: dict[str, str] = {
    "unreachable": "路网上无集聚区核心可达 no cluster core reaches it on the network as drawn",
    "beyond_radius": "超出物流半径 reached, but beyond every cluster's radius",
}

#: Default longest access leg (m) before points are named in a warning.
MAX_ACCESS_M = 500.0

_GRID_M = 1e-3  # precision grid (m) of the overlays splitting service areas

Mode = Literal["overlap", "split", "dissolve"]
Graphish = nx.MultiDiGraph | NetworkEngine


# -- inputs ----------------------------------------------------------------------------------
def _ids(frame: gpd.GeoDataFrame, id_field: str | None) -> np.ndarray:
    if id_field is not None and id_field in frame.columns:
        ids = frame[id_field].astype(str).to_numpy(dtype=object)
    else:
        ids = np.array([str(i) for i in frame.index], dtype=object)
    return ids


def _core_points(frame: gpd.GeoDataFrame, engine: NetworkEngine, what: str) -> np.ndarray:
    """Points of a layer (in the graph's CRS); other geometries at their representative point."""
    if not isinstance(frame, gpd.GeoDataFrame):
        raise DataError(f"{what}: expected a GeoDataFrame, got {type(frame).__name__}.")
    check_crs({what: frame}, crs=engine.crs, what="路网分析 routing on the road network")
    arr = frame.geometry.to_numpy()
    point = shapely.get_type_id(arr) == 0
    out = arr.copy()
    other = ~point & ~shapely.is_missing(arr)
    out[other] = shapely.point_on_surface(arr[other])
    return out


def _snap(
    engine: NetworkEngine,
    frame: gpd.GeoDataFrame,
    ids: np.ndarray,
    what: str,
    max_snap_m: float,
) -> Snap:
    snap = engine.snap(_core_points(frame, engine, what))
    far = np.flatnonzero(snap.distance_m > max_snap_m)
    if len(far):
        shown = ", ".join(f"{ids[i]} ({snap.distance_m[i]:,.0f} m)" for i in far[:10])
        more = f", … {len(far)} in all" if len(far) > 10 else ""
        warnings.warn(
            f"{what}: 接入路网距离过长 — {len(far)} points lie more than {max_snap_m:g} m from "
            f"the nearest road: {shown}{more}; their straight access legs are counted at the "
            "default speed. 解决 Fix: check their coordinates and CRS, or add the missing roads.",
            FiveplansWarning,
            stacklevel=4,
        )
    return snap


def _radii(
    clusters: gpd.GeoDataFrame,
    ids: np.ndarray,
    radius_min: float | Mapping[str, float],
    industry_field: str,
) -> np.ndarray:
    """Radius (minutes) of each cluster: one number, or by industry (with optional default)."""
    if isinstance(radius_min, Mapping):
        if industry_field not in clusters.columns:
            raise ConfigError(
                f"clusters: radius_min is given per industry but the layer has no column "
                f"'{industry_field}'. Fix: set `industry:` of clusters in the pilot YAML."
            )
        table = {str(k): float(v) for k, v in radius_min.items()}
        industry = clusters[industry_field].to_numpy(dtype=object)
        out = np.empty(len(clusters))
        missing: list[str] = []
        for i, value in enumerate(industry):
            key = (
                None
                if value is None or (isinstance(value, float) and math.isnan(value))
                else str(value)
            )
            if key in table:
                out[i] = table[key]
            elif "default" in table:
                out[i] = table["default"]
            else:
                missing.append(f"{ids[i]} ({key})")
        if missing:
            raise ConfigError(
                f"logistics.radius_min: no radius for the industry of clusters "
                f"{', '.join(missing[:10])}. Fix: add these industries (or a `default`) to "
                "logistics.radius_min in the pilot YAML."
            )
    else:
        out = np.full(len(clusters), float(radius_min))
    bad = ~np.isfinite(out) | (out <= 0)
    if bad.any():
        raise ConfigError(
            f"logistics.radius_min: radius {out[bad][0]!r} of cluster {ids[bad][0]} is not a "
            "positive number of minutes. Fix: give positive minutes in the pilot YAML."
        )
    return out


def _check_nonempty(frame: gpd.GeoDataFrame, what: str) -> None:
    if len(frame) == 0:
        raise DataError(f"{what}: the layer is empty. Fix: check its `path:` in the pilot YAML.")


@dataclass(eq=False)
class ClusterNetwork:
    """The cluster-network context: everything the cluster functions share, built once.

    Built by :func:`cluster_network`. The travel times from the cores are computed on first
    need, to the farthest limit asked so far, and reused for every nearer one (times within a
    limit do not depend on it).

    Attributes
    ----------
    engine
        The routing engine of the road graph.
    clusters
        The cluster layer it was built from (not changed).
    ids, industry, radii
        Per cluster: id (text), industry (or ``None``) and radius (minutes).
    snap
        The cores joined to the network.
    max_snap_m
        Access legs longer than this (m) were named in a warning.
    """

    engine: NetworkEngine
    clusters: gpd.GeoDataFrame
    ids: np.ndarray
    industry: np.ndarray
    radii: np.ndarray
    snap: Snap
    max_snap_m: float
    _dist: np.ndarray | None = field(default=None, repr=False)
    _limit: float = field(default=-1.0, repr=False)
    _reached: np.ndarray | None = field(default=None, repr=False)
    _returning: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def times(self, limit: float) -> np.ndarray:
        """``(clusters × nodes)`` travel times from the cores, ``inf`` beyond ``limit`` minutes."""
        limit = float(limit)
        if self._dist is None or limit > self._limit:
            self._dist = np.asarray(self.engine.from_points(self.snap, limit=limit))
            self._limit = limit
            return self._dist
        if limit == self._limit:
            return self._dist
        return np.where(self._dist <= limit, self._dist, np.inf)

    def has_times(self, limit: float) -> bool:
        """Whether the times from the cores to ``limit`` minutes are already computed."""
        return self._dist is not None and float(limit) <= self._limit

    def reached(self) -> np.ndarray:
        """Node mask: junctions some core reaches at all (any time)."""
        if self._reached is None:
            exits = self.engine.edge_head[self.snap.tie_edge]
            self._reached = self.engine.reachable(exits)
        return self._reached

    def returning(self) -> np.ndarray:
        """Node mask: junctions from which some core can be reached."""
        if self._returning is None:
            entries = self.engine.edge_tail[self.snap.tie_edge]
            self._returning = self.engine.reachable(entries, backward=True)
        return self._returning


def cluster_network(
    graph: Graphish,
    clusters: gpd.GeoDataFrame,
    *,
    radius_min: float | Mapping[str, float] = 60,
    id_field: str = "source_id",
    industry_field: str = "industry",
    max_snap_m: float = MAX_ACCESS_M,
) -> ClusterNetwork:
    """Build the cluster-network context once: engine, ids, radii, snapped cores.

    Parameters
    ----------
    graph
        The road graph (or its engine).
    clusters
        Cluster cores: points or polygons (joined at their representative point), in the
        graph's CRS.
    radius_min
        The logistics radius in minutes, or a table by industry (with an optional
        ``default``).
    id_field, industry_field
        Id and industry columns of ``clusters``.
    max_snap_m
        Cores whose access leg is longer than this (m) are named in a warning.
    """
    _check_nonempty(clusters, "clusters")
    engine = engine_for(graph)
    ids = _ids(clusters, id_field)
    radii = _radii(clusters, ids, radius_min, industry_field)
    industry = (
        clusters[industry_field].to_numpy(dtype=object)
        if industry_field in clusters.columns
        else np.full(len(ids), None, dtype=object)
    )
    snap = _snap(engine, clusters, ids, "clusters", max_snap_m)
    return ClusterNetwork(engine, clusters, ids, industry, radii, snap, float(max_snap_m))


def _context(
    graph: Graphish | ClusterNetwork,
    clusters: gpd.GeoDataFrame | ClusterNetwork | None,
    **options: Any,
) -> ClusterNetwork:
    """The context given (as ``graph`` or ``clusters``), else one built from the options."""
    for given in (graph, clusters):
        if isinstance(given, ClusterNetwork):
            other = clusters if given is graph else None
            if other is not None and other is not given.clusters:
                raise ConfigError(
                    "logistics: a ClusterNetwork was given together with another clusters "
                    "layer. Fix: pass the context alone (it holds its clusters), or build a new "
                    "one with cluster_network(graph, clusters, ...)."
                )
            return given
    if clusters is None:
        raise ConfigError(
            "logistics: no clusters given. Fix: pass the cluster cores layer, or a context "
            "from cluster_network(graph, clusters, ...)."
        )
    return cluster_network(graph, clusters, **options)


def snap_points(
    graph: Graphish,
    points: gpd.GeoDataFrame,
    *,
    id_field: str = "source_id",
    max_snap_m: float = MAX_ACCESS_M,
) -> gpd.GeoDataFrame:
    """Where points join the network, and how far they are from it.

    Parameters
    ----------
    graph
        The road graph (or its engine).
    points
        Points, or polygons (joined at their representative point).
    id_field
        Id column (default: the row index).
    max_snap_m
        Points farther from every road are named in a warning.

    Returns
    -------
    geopandas.GeoDataFrame
        Aligned to ``points``: ``id``, ``snap_m`` (access leg length), ``access_min``, and the
        joining point on the network as geometry.
    """
    engine = engine_for(graph)
    ids = _ids(points, id_field)
    snap = _snap(engine, points, ids, "points", max_snap_m)
    return gpd.GeoDataFrame(
        {"id": ids, "snap_m": snap.distance_m, "access_min": snap.access_min},
        geometry=list(snap.location),
        crs=engine.crs,
        index=points.index,
    )


# -- reached pieces and polygons ---------------------------------------------------------------
def _polygon(pieces: list[Any], buffer_m: float) -> Any:
    if not pieces:
        return shapely.Polygon()
    return shapely.buffer(shapely.multilinestrings(pieces), buffer_m)


def _reach_pieces(engine: NetworkEngine, dist: np.ndarray, limit: float) -> list[Any]:
    frac = engine.reach_fraction(dist, limit)
    edges = np.flatnonzero(frac > 0)
    return engine.pieces(edges, np.zeros(len(edges)), frac[edges])


def _owned_pieces(
    engine: NetworkEngine,
    dist: np.ndarray,
    limits: np.ndarray,
    snap: Snap,
    members: np.ndarray,
) -> dict[int, list[Any]]:
    """Reached pieces per nearest source: ``dist`` is (k, n) for the sources ``members``.

    A place belongs to the source that reaches it first, among those reaching it within their
    own limit. Where a two-way road is reached from both ends by different sources, it is cut
    where their arrival times meet.
    """
    k = len(members)
    masked = np.where(dist <= limits[:, None], dist, np.inf)
    best = masked.min(axis=0)
    owner = np.where(np.isfinite(best), masked.argmin(axis=0), -1)
    tail = engine.edge_tail
    own = owner[tail]
    lim = np.where(own >= 0, limits[np.clip(own, 0, None)], 0.0)
    frac = engine.reach_fraction(best, lim)
    twin = engine.twin
    has = (twin >= 0) & (own >= 0)
    other = np.where(has, owner[tail[np.clip(twin, 0, None)]], -1)
    cut = has & (other >= 0) & (other != own)
    if cut.any():
        e = np.flatnonzero(cut)
        t = twin[e]
        total = engine.edge_time[e] + engine.edge_time[t]
        with np.errstate(divide="ignore", invalid="ignore"):
            meet = (best[tail[t]] + engine.edge_time[t] - best[tail[e]]) / total
        meet = np.where(total > 0, np.clip(meet, 0.0, 1.0), 0.5)
        frac[e] = np.minimum(frac[e], meet)
    out: dict[int, list[Any]] = {}
    for j in range(k):
        edges = np.flatnonzero((own == j) & (frac > 0))
        pieces = engine.pieces(edges, np.zeros(len(edges)), frac[edges])
        pieces.extend(engine.source_pieces(snap, int(members[j]), float(limits[j])))
        out[j] = pieces
    return out


def _partition(pieces: dict[int, list[Any]], buffer_m: float) -> dict[int, Any]:
    """Buffers of each owner's pieces, with overlaps split to the nearest owner's road.

    The union of all buffers is divided by the Voronoi cells of points sampled along the pieces
    (about every ``buffer_m / 2`` metres), dissolved per owner: each place goes to the owner
    whose road is nearest, so the polygons do not overlap and leave no gap.
    """
    owners = [o for o, p in pieces.items() if p]
    result = {o: shapely.Polygon() for o in pieces}
    if not owners:
        return result
    if len(owners) == 1:
        result[owners[0]] = _polygon(pieces[owners[0]], buffer_m)
        return result
    everything = [g for o in owners for g in pieces[o]]
    total = _polygon(everything, buffer_m)
    length = float(sum(shapely.length(np.asarray(everything, dtype=object))))
    step = max(buffer_m / 2.0, length / 200_000.0, 1e-3)
    xy_parts, label_parts = [], []
    for o in owners:
        dense = shapely.segmentize(np.asarray(pieces[o], dtype=object), step)
        xy = shapely.get_coordinates(dense)
        xy_parts.append(xy)
        label_parts.append(np.full(len(xy), o))
    # local coordinates on a 1 cm grid: near-duplicate samples would make sliver cells
    origin = shapely.get_coordinates(shapely.centroid(total))[0]
    xy = np.round(np.vstack(xy_parts) - origin, 2)
    label = np.concatenate(label_parts)
    xy, first = np.unique(xy, axis=0, return_index=True)
    label = label[first]
    pts = shapely.points(xy)
    local = shapely.transform(total, lambda c: c - origin)
    box = shapely.envelope(local).buffer(buffer_m * 2 + 1.0)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=box))
    broken = ~shapely.is_valid(cells)  # GEOS now and then returns a self-touching cell
    cells[broken] = shapely.make_valid(cells[broken])
    tree = shapely.STRtree(cells)
    p_idx, c_idx = tree.query(pts, predicate="intersects")
    cell_owner = np.full(len(cells), -1)
    cell_owner[c_idx] = label[p_idx]
    for o in owners:
        # snap-rounded overlay (1 mm grid): Voronoi cells are not noded exactly for GEOS
        region = shapely.union_all(cells[cell_owner == o], grid_size=_GRID_M)
        part = overlay.polygonal_part(shapely.intersection(local, region, grid_size=_GRID_M))
        result[o] = shapely.transform(part, lambda c: c + origin)
    return result


def _breaks_of(radii: np.ndarray, breaks: Sequence[float] | None) -> list[tuple[float, np.ndarray]]:
    """(break, clusters having it) pairs, in increasing break order."""
    if breaks is None:
        values = sorted(set(radii.tolist()))
        return [(b, np.flatnonzero(radii == b)) for b in values]
    clean = sorted({float(b) for b in breaks})
    if not clean or clean[0] <= 0 or not math.isfinite(clean[-1]):
        raise ConfigError(
            f"service_areas: breaks {list(breaks)!r} must be positive minutes, e.g. [30, 60, 90]."
        )
    everyone = np.arange(len(radii))
    return [(b, everyone) for b in clean]


def service_areas(
    graph: Graphish | ClusterNetwork,
    clusters: gpd.GeoDataFrame | ClusterNetwork | None = None,
    *,
    radius_min: float | Mapping[str, float] = 60,
    breaks: Sequence[float] | None = None,
    mode: Mode = "overlap",
    id_field: str = "source_id",
    industry_field: str = "industry",
    buffer_m: float = 100.0,
    max_snap_m: float = MAX_ACCESS_M,
) -> gpd.GeoDataFrame:
    """Service areas (服务范围) of cluster cores: what each reaches by road within a time.

    Parameters
    ----------
    graph
        The road graph (or its engine), or a :class:`ClusterNetwork` (then ``clusters`` is
        ``None`` and the cluster options are the context's).
    clusters
        Cluster cores: points or polygons (joined at their representative point), or a
        :class:`ClusterNetwork`.
    radius_min
        The logistics radius in minutes, or a table by industry (with an optional
        ``default``). Used as each cluster's single break when ``breaks`` is not given.
    breaks
        Time breaks for every cluster (e.g. ``[30, 60, 90]``); each polygon covers everything
        within its break (a disk, not a ring).
    mode
        ``overlap``: one polygon per cluster and break, overlapping its neighbours';
        ``split``: every place to the cluster reaching it first (no overlaps);
        ``dissolve``: one polygon per break, the union over clusters (``cluster`` null).
    id_field, industry_field
        Id and industry columns of ``clusters``.
    buffer_m
        Half-width of the band along the reached roads that counts as served (m).
    max_snap_m
        Cores whose access leg is longer than this (m, default 500) are named in a warning.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cluster``, ``break_min``, ``area_m2`` and geometry, in the graph's CRS.
    """
    if mode not in ("overlap", "split", "dissolve"):
        raise ConfigError(f"service_areas: mode {mode!r}; use 'overlap', 'split' or 'dissolve'.")
    ctx = _context(
        graph,
        clusters,
        radius_min=radius_min,
        id_field=id_field,
        industry_field=industry_field,
        max_snap_m=max_snap_m,
    )
    plan = _breaks_of(ctx.radii, breaks)
    dist = ctx.times(max(b for b, _ in plan))
    rows: list[dict[str, Any]] = []
    for b, members in plan:
        if mode == "overlap":
            rows.extend(_overlap_rows(ctx, dist, b, members, buffer_m))
        elif mode == "dissolve":
            rows.append(_dissolve_row(ctx, dist, b, members, buffer_m))
        else:
            limits = np.full(len(members), b)
            owned = _owned_pieces(ctx.engine, dist[members], limits, ctx.snap, members)
            parts = _partition(owned, buffer_m)
            for j, i in enumerate(members):
                rows.append({"cluster": ctx.ids[i], "break_min": b, "geometry": parts[j]})
    return _frame(rows, ctx.engine, ["cluster", "break_min"])


def _overlap_rows(
    ctx: ClusterNetwork, dist: np.ndarray, b: float, members: np.ndarray, buffer_m: float
) -> list[dict[str, Any]]:
    """One polygon per cluster: its own reach within ``b`` minutes."""
    rows = []
    for i in members:
        pieces = _reach_pieces(ctx.engine, dist[i], b)
        pieces += ctx.engine.source_pieces(ctx.snap, int(i), b)
        rows.append({"cluster": ctx.ids[i], "break_min": b, "geometry": _polygon(pieces, buffer_m)})
    return rows


def _dissolve_row(
    ctx: ClusterNetwork, dist: np.ndarray, b: float, members: np.ndarray, buffer_m: float
) -> dict[str, Any]:
    """One polygon for all clusters: the union of their reach within ``b`` minutes."""
    pieces = _reach_pieces(ctx.engine, dist[members].min(axis=0), b)
    for i in members:
        pieces.extend(ctx.engine.source_pieces(ctx.snap, int(i), b))
    return {"cluster": None, "break_min": b, "geometry": _polygon(pieces, buffer_m)}


def _frame(
    rows: list[dict[str, Any]], engine: NetworkEngine, columns: list[str]
) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=[*columns, "geometry"]), geometry="geometry", crs=engine.crs
    )
    area = frame.geometry.area.to_numpy()
    frame.insert(len(columns), "area_m2", area)
    return frame


# -- suppliers ---------------------------------------------------------------------------------
def _quickest_cluster(ctx: ClusterNetwork, targets: Snap) -> tuple[np.ndarray, np.ndarray]:
    """Per target: the least time from a cluster within that cluster's radius, and which.

    ``inf`` and -1 where none. With the context's times from the cores at hand, or radii that
    differ, from the clusters × targets times (ties to the first cluster); with one radius
    and no times yet, from one search of the least time from any core (no clusters × nodes
    matrix; an exact tie may go to either cluster).
    """
    radius = float(ctx.radii.max())
    if ctx.has_times(radius) or not (ctx.radii == radius).all():
        dist = ctx.times(radius)
        times = ctx.engine.to_points(dist, targets, sources=ctx.snap)
        times[times > ctx.radii[:, None]] = np.inf
        best = times.min(axis=0)
        which = np.where(np.isfinite(best), times.argmin(axis=0), -1)
        return best, which
    return ctx.engine.nearest_source(ctx.snap, targets, limit=radius)


def _reasons(ctx: ClusterNetwork, targets: Snap, reached: np.ndarray) -> np.ndarray:
    """Why each target is not assigned: ``unreachable`` or ``beyond_radius`` (``None`` if it is).

    A target is reachable when the tail of an edge it joins is reached from a core at all, or
    it lies on a core's own edge ahead of the core.
    """
    out = np.full(len(targets), None, dtype=object)
    missing = ~reached
    if not missing.any():
        return out
    engine = ctx.engine
    tail_ok = ctx.reached()[engine.edge_tail[targets.tie_edge]]
    ok = np.zeros(len(targets), dtype=bool)
    np.logical_or.at(ok, targets.tie_point, tail_ok)
    core = pd.DataFrame({"edge": ctx.snap.tie_edge, "fs": ctx.snap.tie_fraction})
    mine = pd.DataFrame(
        {"point": targets.tie_point, "edge": targets.tie_edge, "ft": targets.tie_fraction}
    )
    same = mine.merge(core, on="edge")
    ok[same.loc[same["ft"] >= same["fs"], "point"].to_numpy(dtype=np.int64)] = True
    out[missing] = np.where(ok[missing], "beyond_radius", "unreachable")
    return out


def assign_suppliers(
    graph: Graphish | ClusterNetwork,
    clusters: gpd.GeoDataFrame | ClusterNetwork | None,
    suppliers: gpd.GeoDataFrame,
    *,
    radius_min: float | Mapping[str, float] = 60,
    supplier_id: str = "source_id",
    id_field: str = "source_id",
    industry_field: str = "industry",
    max_snap_m: float = MAX_ACCESS_M,
) -> gpd.GeoDataFrame:
    """Assign each supplier (配套企业) to the quickest cluster core within that core's radius.

    Parameters
    ----------
    graph
        The road graph (or its engine), or a :class:`ClusterNetwork` (then ``clusters`` is
        ``None`` and the cluster options are the context's).
    clusters
        Cluster cores (points or polygons), or a :class:`ClusterNetwork`.
    suppliers
        Supplier points, in the graph's CRS.
    radius_min
        Minutes, or a table by the clusters' industry (with an optional ``default``).
    supplier_id, id_field, industry_field
        Id column of suppliers; id and industry columns of clusters.
    max_snap_m
        Points whose access leg is longer than this (m, default 500) are named in a warning.

    Returns
    -------
    geopandas.GeoDataFrame
        Aligned to ``suppliers`` (same index): ``id``, ``cluster`` (null when no core reaches
        it within its radius), ``travel_min`` (core to supplier; null likewise), ``reason``
        (why it is null: ``unreachable`` — no core reaches it on the network as drawn — or
        ``beyond_radius``; see :data:`REASONS`), ``snap_m`` (the supplier's access leg) and
        the supplier's geometry. Ties go to the first cluster (with one radius for all and a
        fresh context, one search serves every cluster and an exact tie may go to either).
    """
    ctx = _context(
        graph,
        clusters,
        radius_min=radius_min,
        id_field=id_field,
        industry_field=industry_field,
        max_snap_m=max_snap_m,
    )
    s_ids = _ids(suppliers, supplier_id)
    if len(suppliers) == 0:
        best, which = np.zeros(0), np.zeros(0, dtype=np.int64)
        snap_m, reason = np.zeros(0), np.zeros(0, dtype=object)
    else:
        s_snap = _snap(ctx.engine, suppliers, s_ids, "suppliers", ctx.max_snap_m)
        best, which = _quickest_cluster(ctx, s_snap)
        snap_m = s_snap.distance_m
        reason = _reasons(ctx, s_snap, np.isfinite(best))
    reached = np.isfinite(best)
    index = suppliers.index
    out = gpd.GeoDataFrame(
        {
            "id": s_ids,
            "cluster": pd.Series(
                np.where(reached, ctx.ids[which], None), index=index, dtype=object
            ),
            "travel_min": pd.Series(np.where(reached, best, np.nan), index=index),
            "reason": pd.Series(reason, index=index, dtype=object),
            "snap_m": snap_m,
        },
        geometry=suppliers.geometry.to_numpy(),
        crs=suppliers.crs,
        index=index,
    )
    logger.info("suppliers: %d of %d assigned to %d clusters", reached.sum(), len(out), len(ctx))
    if len(suppliers) and not reached.any():
        _warn_nobody_reached(ctx, s_snap, len(suppliers))
    return out


def _warn_nobody_reached(ctx: ClusterNetwork, s_snap: Snap, n: int) -> None:
    """A radius nobody reaches: say how far the nearest supplier really is."""
    free = ctx.engine.to_points(ctx.times(math.inf), s_snap, sources=ctx.snap)
    nearest = float(np.min(free)) if np.isfinite(free).any() else math.inf
    far = (
        f"the nearest is {nearest:.1f} min away"
        if math.isfinite(nearest)
        else ("no cluster core reaches any of them on the network")
    )
    radii = ", ".join(f"{r:g}" for r in sorted(set(ctx.radii.tolist())))
    warnings.warn(
        f"suppliers: 物流半径内没有配套企业 — none of the {n} suppliers lies within any "
        f"cluster's radius ({radii} min); {far}. 解决 Fix: raise `logistics.radius_min` (or the "
        "industry's entry) in the pilot.",
        FiveplansWarning,
        stacklevel=3,
    )


def catchments(
    graph: Graphish | ClusterNetwork,
    clusters: gpd.GeoDataFrame | ClusterNetwork | None = None,
    *,
    radius_min: float | Mapping[str, float] = 60,
    id_field: str = "source_id",
    industry_field: str = "industry",
    buffer_m: float = 100.0,
    max_snap_m: float = MAX_ACCESS_M,
) -> gpd.GeoDataFrame:
    """Competitive catchments (腹地): every reached road to the core reaching it first.

    Each place on the network belongs to the core that reaches it first among the cores
    reaching it within their own radius; the reached road pieces are buffered by ``buffer_m``
    and dissolved per core, overlaps split to the nearest road (see ``service_areas`` mode
    ``split``, which this equals when all radii are the same). ``graph``/``clusters`` and the
    options are as in :func:`service_areas`.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cluster``, ``radius_min``, ``area_m2`` and geometry, one row per core.
    """
    ctx = _context(
        graph,
        clusters,
        radius_min=radius_min,
        id_field=id_field,
        industry_field=industry_field,
        max_snap_m=max_snap_m,
    )
    dist = ctx.times(float(ctx.radii.max()))
    members = np.arange(len(ctx))
    owned = _owned_pieces(ctx.engine, dist, ctx.radii, ctx.snap, members)
    parts = _partition(owned, buffer_m)
    rows = [
        {"cluster": ctx.ids[i], "radius_min": float(ctx.radii[i]), "geometry": parts[i]}
        for i in members
    ]
    return _frame(rows, ctx.engine, ["cluster", "radius_min"])


def _linked(ctx: ClusterNetwork, dist: np.ndarray) -> list[tuple[int, int]]:
    """Pairs of cores whose reach within their radii meets (a junction or a two-way road)."""
    engine = ctx.engine
    within = dist <= ctx.radii[:, None]
    frac = np.vstack([engine.reach_fraction(dist[i], ctx.radii[i]) for i in range(len(ctx))])
    twin = engine.twin
    paired = np.flatnonzero(twin >= 0)
    pairs = []
    for a, b in itertools.combinations(range(len(ctx)), 2):
        meet = bool((within[a] & within[b]).any())
        if not meet and len(paired):
            fa, fb = frac[a][paired], frac[b][twin[paired]]
            meet = bool(((fa > 0) & (fb > 0) & (fa + fb >= 1.0)).any())
        if meet:
            pairs.append((a, b))
    return pairs


_LINK_COLUMNS = [
    "cluster_a",
    "cluster_b",
    "industry_a",
    "industry_b",
    "travel_min_ab",
    "travel_min_ba",
    "travel_min",
]


def cluster_links(
    graph: Graphish | ClusterNetwork,
    clusters: gpd.GeoDataFrame | ClusterNetwork | None = None,
    *,
    radius_min: float | Mapping[str, float] = 60,
    id_field: str = "source_id",
    industry_field: str = "industry",
    max_snap_m: float = MAX_ACCESS_M,
) -> tuple[pd.DataFrame, nx.Graph]:
    """Neighbouring clusters whose catchments meet (相邻产业集聚区协同).

    Two cores are linked when some place on the network is reached by both within their own
    radii: a junction, or a two-way road reached from its two ends by the two cores whose
    reached parts touch. ``graph``/``clusters`` and the options are as in
    :func:`service_areas`.

    Returns
    -------
    tuple of pandas.DataFrame and networkx.Graph
        The table: ``cluster_a``, ``cluster_b``, ``industry_a``, ``industry_b``,
        ``travel_min_ab`` (core a to core b), ``travel_min_ba`` and ``travel_min`` (the less of
        the two); and the graph of the same links (nodes: cluster ids with ``industry``,
        ``radius_min``, ``x``, ``y``; edges with the three times).
    """
    ctx = _context(
        graph,
        clusters,
        radius_min=radius_min,
        id_field=id_field,
        industry_field=industry_field,
        max_snap_m=max_snap_m,
    )
    ids, industry = ctx.ids, ctx.industry
    dist = ctx.times(2.0 * float(ctx.radii.max()))
    times = ctx.engine.to_points(dist, ctx.snap, sources=ctx.snap)
    rows: list[dict[str, Any]] = []
    for a, b in _linked(ctx, dist):
        ab, ba = float(times[a, b]), float(times[b, a])
        rows.append(
            {
                "cluster_a": ids[a],
                "cluster_b": ids[b],
                "industry_a": industry[a],
                "industry_b": industry[b],
                "travel_min_ab": ab if math.isfinite(ab) else np.nan,
                "travel_min_ba": ba if math.isfinite(ba) else np.nan,
                "travel_min": min(ab, ba) if math.isfinite(min(ab, ba)) else np.nan,
            }
        )
    table = pd.DataFrame(rows, columns=_LINK_COLUMNS)
    return table, _links_graph(ctx, table)


def _links_graph(ctx: ClusterNetwork, table: pd.DataFrame) -> nx.Graph:
    links = nx.Graph()
    for i, cid in enumerate(ctx.ids):
        links.add_node(
            cid,
            industry=ctx.industry[i],
            radius_min=float(ctx.radii[i]),
            x=float(ctx.snap.points[i].x),
            y=float(ctx.snap.points[i].y),
        )
    for row in table.itertuples(index=False):
        links.add_edge(
            row.cluster_a,
            row.cluster_b,
            travel_min=row.travel_min,
            travel_min_ab=row.travel_min_ab,
            travel_min_ba=row.travel_min_ba,
        )
    return links


def network_pieces(
    graph: Graphish | ClusterNetwork,
    clusters: gpd.GeoDataFrame | ClusterNetwork | None = None,
    *,
    id_field: str = "source_id",
    industry_field: str = "industry",
    max_snap_m: float = MAX_ACCESS_M,
    warn: bool = False,
) -> gpd.GeoDataFrame:
    """The roads no cluster core reaches, or from which no core can be reached again.

    The network is kept as drawn (CONTRACT §2); these are the parts of it that routing from
    the cores cannot use both ways — one-way streets cut at an extract's edge, one-way dead
    ends, pieces not joined to the rest. A road line is listed when none of its directions is
    both reached from a core and able to get back to one.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per road line: ``piece`` (number of the connected piece it belongs to, 0, 1,
        …), ``status`` (``unreached``: no core reaches it; ``no_return``: reached, but no core
        can be reached from it), ``length_m``, ``source_id`` and ``highway`` (when the graph
        has them), geometry (the road line, in a direction it may be driven; the graph's
        CRS). The count of pieces is
        ``frame["piece"].nunique()``, their length ``frame["length_m"].sum()``.

    Other Parameters
    ----------------
    warn
        Also say so in a :class:`~fiveplans.errors.FiveplansWarning` (count, length, share of
        the network) when there are such pieces (what a run reports).
    """
    ctx = _context(
        graph,
        clusters,
        id_field=id_field,
        industry_field=industry_field,
        max_snap_m=max_snap_m,
    )
    engine = ctx.engine
    # a core's own edge: reached beyond the core, and the part before it leads back to it
    after = np.zeros(len(engine.edge_tail), dtype=bool)
    before = np.zeros(len(engine.edge_tail), dtype=bool)
    after[ctx.snap.tie_edge[ctx.snap.tie_fraction < 1.0]] = True
    before[ctx.snap.tie_edge[ctx.snap.tie_fraction > 0.0]] = True
    reached = ctx.reached()[engine.edge_tail] | after
    back = ctx.returning()[engine.edge_head] | before
    road = np.where(engine.edge_road >= 0, engine.edge_road, -1 - np.arange(len(reached)))
    frame = pd.DataFrame({"road": road, "reached": reached, "ok": reached & back})
    per_road = frame.groupby("road", sort=False).agg(reached=("reached", "any"), ok=("ok", "any"))
    bad_roads = per_road.index[~per_road["ok"].to_numpy()]
    edges = np.flatnonzero(np.isin(road, bad_roads))
    first = edges[~pd.Series(road[edges]).duplicated().to_numpy()]
    status = np.where(per_road.loc[road[first], "reached"].to_numpy(), "no_return", "unreached")
    geoms = engine.edge_geometry(first)
    info = getattr(engine, "edge_info", {}) or {}
    out = gpd.GeoDataFrame(
        {
            "piece": _piece_numbers(engine, first),
            "status": status,
            "length_m": shapely.length(geoms),
            "source_id": info.get("source_id", np.full(len(reached), None))[first],
            "highway": info.get("highway", np.full(len(reached), None))[first],
        },
        geometry=geoms,
        crs=engine.crs,
    )
    out = out.sort_values(["piece", "source_id"], kind="stable").reset_index(drop=True)
    if warn and len(out):
        _warn_pieces(out, engine, road)
    return out


def _warn_pieces(pieces: gpd.GeoDataFrame, engine: NetworkEngine, road: np.ndarray) -> None:
    _, first = np.unique(road, return_index=True)
    total = float(shapely.length(engine.edge_geometry(first)).sum())
    km = pieces.groupby("status")["length_m"].sum() / 1000.0
    n = int(pieces["piece"].nunique())
    length = float(pieces["length_m"].sum())
    share = length / total if total > 0 else 0.0
    warnings.warn(
        f"路网: {n} 片道路（{length / 1000:,.1f} km，占路网 {share:.1%}）集聚区核心到不了或回不来 — "
        f"{n} pieces of road ({length / 1000:,.1f} km, {share:.1%} of the network) cannot be "
        f"reached from any cluster core ({km.get('unreached', 0.0):,.1f} km) or cannot get back "
        f"to one ({km.get('no_return', 0.0):,.1f} km): one-way streets cut at the extract's edge, "
        "one-way dead ends or unjoined pieces. They are kept (results.gpkg network_pieces); "
        "suppliers on them are left unassigned with reason `unreachable`. 解决 Fix: extend the "
        "roads extract beyond the zone's edge and check `oneway` on the listed roads.",
        FiveplansWarning,
        stacklevel=3,
    )


def _piece_numbers(engine: NetworkEngine, edges: np.ndarray) -> np.ndarray:
    """Number of the connected piece (over shared junctions) of each listed edge."""
    if len(edges) == 0:
        return np.zeros(0, dtype=np.int64)
    t, h = engine.edge_tail[edges], engine.edge_head[edges]
    nodes, inverse = np.unique(np.concatenate([t, h]), return_inverse=True)
    m = len(edges)
    adj = sparse.coo_matrix(
        (np.ones(m), (inverse[:m], inverse[m:])), shape=(len(nodes), len(nodes))
    )
    _, label = connected_components(adj, directed=False)
    # number pieces by their first listed edge, so the numbering is stable
    raw = label[inverse[:m]]
    _, first_seen = np.unique(raw, return_index=True)
    rank = np.empty(len(first_seen), dtype=np.int64)
    rank[np.argsort(first_seen)] = np.arange(len(first_seen))
    return rank[raw]


def coverage(
    assigned: pd.DataFrame,
    districts: gpd.GeoDataFrame | None = None,
    *,
    district_id: str = "source_id",
) -> pd.DataFrame:
    """Suppliers covered per cluster and, given districts, per district.

    Parameters
    ----------
    assigned
        The table of :func:`assign_suppliers` (with geometry when ``districts`` is given).
    districts
        Polygons of the units for per-district counts (e.g. towns 乡镇).
    district_id
        Id column of ``districts``.

    Returns
    -------
    pandas.DataFrame
        ``level`` (``cluster`` or ``district``), ``unit``, ``suppliers`` (in the unit; for
        clusters, those assigned to it), ``covered`` (assigned to some cluster), ``share``
        (covered / suppliers), ``mean_travel_min``, ``max_travel_min``. Cluster rows end with
        an ``未覆盖 uncovered`` row of the suppliers no cluster reaches.
    """
    rows = _cluster_rows(assigned)
    if districts is not None:
        rows.extend(_district_rows(assigned, districts, district_id))
    return pd.DataFrame(rows, columns=_COVERAGE_COLUMNS)


_COVERAGE_COLUMNS = [
    "level",
    "unit",
    "suppliers",
    "covered",
    "share",
    "mean_travel_min",
    "max_travel_min",
]


def _cluster_rows(assigned: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    covered = assigned["cluster"].notna()
    for unit, group in assigned[covered].groupby("cluster", sort=True):
        rows.append(
            {
                "level": "cluster",
                "unit": unit,
                "suppliers": len(group),
                "covered": len(group),
                "share": 1.0,
                "mean_travel_min": float(group["travel_min"].mean()),
                "max_travel_min": float(group["travel_min"].max()),
            }
        )
    rows.append(
        {
            "level": "cluster",
            "unit": "未覆盖 uncovered",
            "suppliers": int((~covered).sum()),
            "covered": 0,
            "share": 0.0,
            "mean_travel_min": np.nan,
            "max_travel_min": np.nan,
        }
    )
    return rows


def _district_rows(
    assigned: pd.DataFrame, districts: gpd.GeoDataFrame, district_id: str
) -> list[dict[str, Any]]:
    if not isinstance(assigned, gpd.GeoDataFrame):
        raise DataError(
            "coverage: per-district counts need the suppliers' points; pass the "
            "GeoDataFrame returned by assign_suppliers."
        )
    check_crs(
        {"suppliers": assigned, "districts": districts}, what="覆盖统计 coverage per district"
    )
    d_ids = _ids(districts, district_id)
    zones = gpd.GeoDataFrame(
        {"unit": d_ids}, geometry=districts.geometry.to_numpy(), crs=districts.crs
    )
    joined = gpd.sjoin(
        assigned[["cluster", "travel_min", assigned.geometry.name]],
        zones,
        how="inner",
        predicate="intersects",
    )
    joined = joined[~joined.index.duplicated(keep="first")]
    rows: list[dict[str, Any]] = []
    for unit in d_ids:
        group = joined[joined["unit"] == unit]
        n = len(group)
        hit = group["cluster"].notna()
        times = group.loc[hit, "travel_min"]
        rows.append(
            {
                "level": "district",
                "unit": unit,
                "suppliers": n,
                "covered": int(hit.sum()),
                "share": float(hit.sum() / n) if n else np.nan,
                "mean_travel_min": float(times.mean()) if len(times) else np.nan,
                "max_travel_min": float(times.max()) if len(times) else np.nan,
            }
        )
    return rows


# -- reliance on centres -----------------------------------------------------------------------
def service_class(
    graph: Graphish | ClusterNetwork,
    zones_or_clusters: gpd.GeoDataFrame | ClusterNetwork,
    centres: gpd.GeoDataFrame,
    *,
    near_min: float = 30,
    far_min: float = 60,
    large_m2: float | None = None,
    id_field: str = "source_id",
    centre_id: str = "source_id",
    max_snap_m: float = MAX_ACCESS_M,
) -> pd.DataFrame:
    """How a zone is served, by its travel time to the nearest city/county centre.

    The rule of section 二(一) of the policy, by time from the zone's core to the nearest
    centre (城市/县城中心) over the network:

    - ``near`` 依托城市 (relies on the city): within ``near_min`` minutes, it uses the city's
      services;
    - ``large`` 独立配套 (own supporting area): beyond ``near_min`` and within ``far_min``,
      too far for daily use of the city, it builds its own supporting services;
    - ``far`` 依托邻近城镇 (relies on the nearby town): beyond ``far_min`` (or unreachable), it
      leans on the nearest town.

    With ``large_m2``, a polygon zone in the middle band smaller than that area is ``far``
    instead (only large zones carry their own supporting area).

    Parameters
    ----------
    graph
        The road graph (or its engine), or a :class:`ClusterNetwork`.
    zones_or_clusters
        Zones or cluster cores (polygons join at their representative point), or a
        :class:`ClusterNetwork` (its cores and their times are reused).
    centres
        City and county centre points.
    near_min, far_min
        The two time thresholds (minutes), ``near_min < far_min``.
    large_m2
        Optional least area of a zone owning its supporting area.
    id_field, centre_id
        Id columns.
    max_snap_m
        Points whose access leg to the nearest road is longer than this (m, default 500) are
        named in a warning.

    Returns
    -------
    pandas.DataFrame
        Aligned to the zones: ``id``, ``centre`` (nearest by time), ``travel_min``,
        ``service_class`` (``near``/``large``/``far``) and ``label`` (bilingual).
    """
    if not 0 < near_min < far_min:
        raise ConfigError(
            f"service_class: need 0 < near_min < far_min, got {near_min} and {far_min}."
        )
    _check_nonempty(centres, "centres")
    ctx = next((g for g in (graph, zones_or_clusters) if isinstance(g, ClusterNetwork)), None)
    if ctx is not None:
        engine, zones, z_ids, z_snap = ctx.engine, ctx.clusters, ctx.ids, ctx.snap
        dist = ctx.times(math.inf)
    else:
        _check_nonempty(zones_or_clusters, "zones")
        engine, zones = engine_for(graph), zones_or_clusters
        z_ids = _ids(zones, id_field)
        z_snap = _snap(engine, zones, z_ids, "zones", max_snap_m)
        dist = engine.from_points(z_snap)
    c_ids = _ids(centres, centre_id)
    c_snap = _snap(engine, centres, c_ids, "centres", max_snap_m)
    times = engine.to_points(dist, c_snap, sources=z_snap)
    best = times.min(axis=1)
    which = times.argmin(axis=1)
    klass = _service_classes(best, zones, near_min, far_min, large_m2)
    reached = np.isfinite(best)
    return pd.DataFrame(
        {
            "id": z_ids,
            "centre": np.where(reached, c_ids[which], None),
            "travel_min": np.where(reached, best, np.nan),
            "service_class": klass,
            "label": [SERVICE_LABELS[k] for k in klass],
        },
        index=zones.index,
    )


def _service_classes(
    best: np.ndarray,
    zones: gpd.GeoDataFrame,
    near_min: float,
    far_min: float,
    large_m2: float | None,
) -> np.ndarray:
    """``near`` / ``large`` / ``far`` by time to the nearest centre (and the zone's area)."""
    klass = np.where(best <= near_min, "near", np.where(best <= far_min, "large", "far"))
    if large_m2 is not None:
        if not (zones.crs and zones.crs.is_projected):
            raise CRSError("service_class: large_m2 needs the zones in a projected CRS (metres).")
        area = zones.geometry.area.to_numpy()
        klass = np.where((klass == "large") & (area < large_m2), "far", klass)
    return klass


# -- hub siting --------------------------------------------------------------------------------
@dataclass(frozen=True)
class HubSiting:
    """Result of :func:`site_hubs`.

    Attributes
    ----------
    method
        ``greedy`` or ``milp``.
    chosen
        Ids of the chosen candidates (greedy: in the order picked).
    covered
        Suppliers (or weight) within ``radius_min`` of a chosen hub.
    total
        All suppliers (or total weight).
    upper_bound
        The best coverage possible is at most this: greedy ``covered / (1 - 1/e)`` (capped at
        ``total``); the MILP optimum itself when solved to optimality.
    optimal
        Whether ``covered`` is proven optimal.
    candidates
        Per candidate: ``id``, ``chosen``, ``order`` (greedy pick order), ``gain`` (suppliers
        newly covered when picked), ``covers`` (suppliers within reach alone).
    suppliers
        Per supplier: ``id``, ``hub`` (nearest chosen hub within reach, else null),
        ``travel_min``.
    """

    method: str
    chosen: list[str]
    covered: float
    total: float
    upper_bound: float
    optimal: bool
    candidates: pd.DataFrame = field(repr=False)
    suppliers: pd.DataFrame = field(repr=False)


def _greedy(cover: np.ndarray, weight: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    picked: list[int] = []
    gains: list[float] = []
    done = np.zeros(cover.shape[0], dtype=bool)
    for _ in range(k):
        gain = (cover[~done] * weight[~done, None]).sum(axis=0)
        gain[picked] = -1.0
        j = int(np.argmax(gain))
        if gain[j] <= 0 and picked:
            break
        picked.append(j)
        gains.append(float(gain[j]))
        done |= cover[:, j]
    return picked, gains


def _milp(cover: np.ndarray, weight: np.ndarray, k: int) -> tuple[list[int], bool]:
    m, c = cover.shape
    # variables: x_j (open candidate j), then y_i (supplier i covered); maximise sum w_i y_i
    cost = np.concatenate([np.zeros(c), -weight])
    a_cover = np.hstack([-cover.astype(float), np.eye(m)])  # y_i - sum_j a_ij x_j <= 0
    a_k = np.concatenate([np.ones(c), np.zeros(m)])[None, :]
    constraints = [
        LinearConstraint(a_cover, -np.inf, 0.0),
        LinearConstraint(a_k, 0.0, float(k)),
    ]
    res = milp(
        cost,
        constraints=constraints,
        integrality=np.ones(c + m),
        bounds=Bounds(np.zeros(c + m), np.ones(c + m)),
    )
    if res.x is None:
        raise DataError(f"site_hubs: the MILP solver failed ({res.message}).")
    chosen = [j for j in range(c) if res.x[j] > 0.5]
    return chosen, bool(res.status == 0)


def site_hubs(
    graph: Graphish,
    suppliers: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    *,
    k: int,
    radius_min: float,
    method: Literal["greedy", "milp"] = "greedy",
    supplier_id: str = "source_id",
    candidate_id: str = "source_id",
    weight: str | None = None,
    max_snap_m: float = MAX_ACCESS_M,
) -> HubSiting:
    """Site ``k`` logistics hubs (物流节点) covering the most suppliers (maximal covering location).

    A supplier is covered when a chosen hub reaches it within ``radius_min`` (hub outward).

    Parameters
    ----------
    graph
        The road graph (or its engine).
    suppliers, candidates
        Supplier points and candidate hub sites.
    k
        Number of hubs to open.
    radius_min
        Coverage time (minutes).
    method
        ``greedy`` (fast; covers at least ``1 - 1/e`` ≈ 63 % of the optimum, reported as
        ``upper_bound``) or ``milp`` (exact, :func:`scipy.optimize.milp`).
    supplier_id, candidate_id
        Id columns.
    weight
        Optional supplier column to weight coverage by (e.g. jobs); default one per supplier.
    max_snap_m
        Points whose access leg to the nearest road is longer than this (m, default 500) are
        named in a warning.
    """
    if method not in ("greedy", "milp"):
        raise ConfigError(f"site_hubs: method {method!r}; use 'greedy' or 'milp'.")
    _check_nonempty(candidates, "candidates")
    if not 1 <= k <= len(candidates):
        raise ConfigError(
            f"site_hubs: k={k} hubs but {len(candidates)} candidates; give 1 ≤ k ≤ the number "
            "of candidate sites."
        )
    if not radius_min > 0:
        raise ConfigError(f"site_hubs: radius_min {radius_min!r} must be positive minutes.")
    engine = engine_for(graph)
    s_ids = _ids(suppliers, supplier_id)
    c_ids = _ids(candidates, candidate_id)
    w = suppliers[weight].to_numpy(dtype=float) if weight is not None else np.ones(len(suppliers))
    if len(suppliers):
        s_snap = _snap(engine, suppliers, s_ids, "suppliers", max_snap_m)
        c_snap = _snap(engine, candidates, c_ids, "candidates", max_snap_m)
        times = engine.od_matrix(c_snap, s_snap, limit=float(radius_min)).T  # suppliers × cands
    else:
        times = np.full((0, len(candidates)), np.inf)
    cover = times <= radius_min
    total = float(w.sum())
    order = np.full(len(c_ids), np.nan)
    gains = np.full(len(c_ids), np.nan)
    if method == "greedy":
        picked, gain_list = _greedy(cover, w, k)
        order[picked] = np.arange(1, len(picked) + 1)
        gains[picked] = gain_list
        covered = float(sum(gain_list))
        bound = min(total, covered / (1.0 - 1.0 / math.e))
        optimal = covered >= total
    else:
        picked, optimal = _milp(cover, w, k)
        covered = float(w[cover[:, picked].any(axis=1)].sum()) if picked else 0.0
        bound = covered if optimal else total
    chosen = np.zeros(len(c_ids), dtype=bool)
    chosen[picked] = True
    return HubSiting(
        method=method,
        chosen=[str(c_ids[j]) for j in picked],
        covered=covered,
        total=total,
        upper_bound=bound,
        optimal=bool(optimal),
        candidates=pd.DataFrame(
            {
                "id": c_ids,
                "chosen": chosen,
                "order": order,
                "gain": gains,
                "covers": (cover * w[:, None]).sum(axis=0),
            }
        ),
        suppliers=_hub_of(times, chosen, s_ids, c_ids),
    )


def _hub_of(
    times: np.ndarray, chosen: np.ndarray, s_ids: np.ndarray, c_ids: np.ndarray
) -> pd.DataFrame:
    """Nearest chosen hub within reach of each supplier (``None`` beyond)."""
    sub = np.where(chosen[None, :], times, np.inf)
    best = sub.min(axis=1) if len(c_ids) else np.full(len(s_ids), np.inf)
    hub = np.where(np.isfinite(best), c_ids[sub.argmin(axis=1)], None) if len(s_ids) else []
    return pd.DataFrame(
        {"id": s_ids, "hub": hub, "travel_min": np.where(np.isfinite(best), best, np.nan)}
    )
