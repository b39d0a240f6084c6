"""A fast routing engine on the road graph: compressed sparse rows and scipy's Dijkstra.

:class:`NetworkEngine` holds the graph as arrays: integer node indices (keys in
:attr:`NetworkEngine.nodes` / :meth:`NetworkEngine.index_of`), the directed edges (tail, head,
``travel_min``, geometry, road line), a CSR matrix of the least ``travel_min`` per node pair
(parallel edges collapse to their minimum) and the spatial index of the edges.
:func:`scipy.sparse.csgraph.dijkstra` answers multi-source searches with a time ``limit`` —
the same times as networkx's Dijkstra, about fifty times faster.
:func:`~fiveplans.analysis.network.build_network` builds it from its own arrays
(:meth:`NetworkEngine.from_arrays`, with the graph); ``NetworkEngine(graph)`` reads any
networkx graph through its public API, and :func:`engine_for` finds or builds the one of a
graph.

Points (cluster cores, suppliers, centres) are not nodes. :meth:`NetworkEngine.snap` joins
each at the nearest point of the nearest edge (CONTRACT §2): the straight access leg runs at
the ``default`` speed, then the partial edge to the edge's end nodes. Leaving a point you can
only go along an edge's direction (one-way roads respected): a point on a two-way road can leave
toward both ends, a point on a one-way road only toward its head. Arriving at a point, the
mirror image holds. Searches from points add one virtual node per point, linked to the exit
nodes by those partial costs, so every time runs from the point outward.
:meth:`NetworkEngine.reachable` tells which junctions can be reached at all (or can reach given
ones), for the network as drawn, where not every junction reaches every other.
"""

from __future__ import annotations

import gc
import itertools
import logging
import math
import weakref
from array import array
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import breadth_first_order, connected_components, dijkstra
from shapely.ops import substring

from fiveplans.errors import DataError

__all__ = ["NetworkEngine", "Snap", "engine_for", "no_gc"]

logger = logging.getLogger(__name__)

_TIE_M = 1e-6  # edges within this many metres of the nearest are equally near (both directions)


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while creating millions of small objects.

    Such bursts trigger full collections that find nothing (none of them are garbage) and
    otherwise cost more than the work itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class Snap:
    """Points joined to the network.

    Attributes
    ----------
    points
        The input points (shapely Points), one per point.
    location
        The nearest point on the network, one per point.
    distance_m
        Length of the straight access leg (m).
    access_min
        Its travel time at the ``default`` speed (minutes).
    tie_point, tie_edge, tie_fraction
        One row per nearest directed edge of a point (both directions of a two-way road, or
        all edges meeting at a junction the point is nearest to): the point's index, the
        edge's index in the engine and the position along the edge (0 at its tail, 1 at its
        head, by length).
    """

    points: np.ndarray
    location: np.ndarray
    distance_m: np.ndarray
    access_min: np.ndarray
    tie_point: np.ndarray
    tie_edge: np.ndarray
    tie_fraction: np.ndarray

    def __len__(self) -> int:
        return len(self.points)

    def subset(self, which: Sequence[int] | np.ndarray) -> Snap:
        """The snap of some of the points, renumbered 0, 1, … in the given order."""
        which = np.asarray(which, dtype=np.int64)
        renumber = np.full(len(self.points), -1, dtype=np.int64)
        renumber[which] = np.arange(len(which))
        rows = np.flatnonzero(np.isin(self.tie_point, which))
        return Snap(
            points=self.points[which],
            location=self.location[which],
            distance_m=self.distance_m[which],
            access_min=self.access_min[which],
            tie_point=renumber[self.tie_point[rows]],
            tie_edge=self.tie_edge[rows],
            tie_fraction=self.tie_fraction[rows],
        )


class NetworkEngine:
    """Compressed sparse travel-time graph with multi-source Dijkstra, snapping and pieces.

    Parameters
    ----------
    graph
        A road graph with a ``weight`` attribute on every edge; node attributes ``x``, ``y``
        and edge ``geometry`` (LineString from tail to head) are needed for snapping and
        polygons (edges without geometry are straight lines between their nodes).
    weight
        The edge attribute holding the travel time (minutes).
    default_kmh
        Speed of the access legs; default: ``graph.graph["speeds_kmh"]["default"]``, else 30.
    """

    def __init__(
        self,
        graph: nx.MultiDiGraph,
        *,
        weight: str = "travel_min",
        default_kmh: float | None = None,
    ) -> None:
        if graph.number_of_nodes() == 0:
            raise DataError(
                "network: the graph has no nodes; build it from a non-empty roads layer."
            )
        speeds = graph.graph.get("speeds_kmh") or {}
        nodes: list[Hashable] = list(graph.nodes)
        index = {key: i for i, key in enumerate(nodes)}
        with no_gc():
            xy = [(d.get("x", math.nan), d.get("y", math.nan)) for _, d in graph.nodes(data=True)]
        arr = np.array(xy, dtype=float).reshape(len(nodes), 2)
        # compact typed buffers: no Python object per edge (memory stays below networkx's own)
        tl, hl, rl = array("q"), array("q"), array("q")
        wl = array("d")
        gl: list[Any] = []
        info: dict[str, list[Any]] = {"source_id": [], "highway": []}
        try:
            with no_gc():
                _collect(graph, index, weight, tl, hl, wl, gl, rl, info)
        except TypeError as exc:
            raise DataError(
                f"network: an edge's '{weight}' is not a number ({exc}); travel times must be "
                "minutes. Fix: build the graph with fiveplans.analysis.build_network."
            ) from exc
        times = np.frombuffer(wl, dtype=float).copy()
        bad = ~np.isfinite(times) | (times < 0)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            edge = next(itertools.islice(graph.edges(keys=True), first, None))
            raise DataError(
                f"network: {int(bad.sum())} edges have no valid '{weight}' (e.g. edge {edge}: "
                f"{times[first]!r}); travel times must be finite and ≥ 0 minutes. Fix: build the "
                "graph with fiveplans.analysis.build_network or set the attribute on every edge."
            )
        geoms = np.empty(len(gl), dtype=object)
        geoms[:] = gl
        del gl
        self._setup(
            nodes=nodes,
            index=index,
            x=arr[:, 0],
            y=arr[:, 1],
            tail=np.frombuffer(tl, dtype=np.int64).copy(),
            head=np.frombuffer(hl, dtype=np.int64).copy(),
            time=times,
            geometry=geoms,
            road=np.frombuffer(rl, dtype=np.int64).copy(),
            twin=None,
            info={k: np.array(v, dtype=object) for k, v in info.items()},
            crs=graph.graph.get("crs"),
            default_kmh=float(
                default_kmh if default_kmh is not None else speeds.get("default", 30.0)
            ),
        )

    @classmethod
    def from_arrays(
        cls,
        *,
        nodes: list[Hashable],
        x: np.ndarray,
        y: np.ndarray,
        tail: np.ndarray,
        head: np.ndarray,
        time: np.ndarray,
        geometry: np.ndarray | None = None,
        road: np.ndarray,
        twin: np.ndarray | None,
        crs: Any,
        default_kmh: float,
        info: dict[str, np.ndarray | Callable[[], np.ndarray]] | None = None,
        lines: np.ndarray | None = None,
        along: np.ndarray | None = None,
        component: np.ndarray | None = None,
    ) -> NetworkEngine:
        """An engine straight from node and edge arrays (what ``build_network`` has at hand).

        The edge index (:attr:`tree`) is built here too, so the first query is as fast as the
        tenth.

        Parameters
        ----------
        nodes
            Node keys; node ``i`` of the arrays is ``nodes[i]``.
        x, y
            Node coordinates.
        tail, head, time, geometry, road
            Per directed edge: node indices, minutes, LineString from tail to head, and the
            road line it drives (both directions of a two-way road share it; -1 unknown).
            ``geometry`` may be left out when ``lines`` is given.
        twin
            The opposite direction of the same road per edge (-1 none); computed when ``None``.
        info
            Further per-edge columns kept in :attr:`edge_info` (e.g. ``source_id``); a
            column may be given as a function returning it, called on first use.
        crs, default_kmh
            The CRS and the speed of access legs.
        lines, along
            Instead of ``geometry``: the LineString of each road line as drawn (indexed by
            ``road``) and, per edge, whether it drives the line as drawn (else against it).
            The spatial index then holds each road line once, and the edges' own geometries
            (:attr:`edge_geom`) are made on first use.
        component
            Strongly connected component of each node, when known (else computed on first
            need by :meth:`reachable`).
        """
        if len(nodes) == 0:
            raise DataError("network: no nodes; build it from a non-empty roads layer.")
        if (geometry is None) == (lines is None) or (lines is not None and along is None):
            raise ValueError("NetworkEngine.from_arrays: give `geometry`, or `lines` and `along`")
        engine = cls.__new__(cls)
        engine._setup(
            nodes=list(nodes),
            index=None,
            x=np.asarray(x, dtype=float),
            y=np.asarray(y, dtype=float),
            tail=np.asarray(tail, dtype=np.int64),
            head=np.asarray(head, dtype=np.int64),
            time=np.asarray(time, dtype=float),
            geometry=None if geometry is None else np.asarray(geometry, dtype=object),
            road=np.asarray(road, dtype=np.int64),
            twin=twin,
            info=info,
            crs=crs,
            default_kmh=float(default_kmh),
            lines=None if lines is None else np.asarray(lines, dtype=object),
            along=None if along is None else np.asarray(along, dtype=bool),
            component=None if component is None else np.asarray(component, dtype=np.int64),
        )
        # the edge index and the graph of strong components, built now: the first query is
        # as fast as the tenth
        _ = engine.tree
        engine._condensed(backward=False)
        return engine

    def _setup(
        self,
        *,
        nodes: list[Hashable],
        index: dict[Hashable, int] | None,
        x: np.ndarray,
        y: np.ndarray,
        tail: np.ndarray,
        head: np.ndarray,
        time: np.ndarray,
        geometry: np.ndarray | None,
        road: np.ndarray,
        twin: np.ndarray | None,
        info: dict[str, np.ndarray | Callable[[], np.ndarray]] | None,
        crs: Any,
        default_kmh: float,
        lines: np.ndarray | None = None,
        along: np.ndarray | None = None,
        component: np.ndarray | None = None,
    ) -> None:
        self.crs = crs
        self._info: dict[str, np.ndarray | Callable[[], np.ndarray]] = dict(info or {})
        self.default_kmh = default_kmh
        self.nodes = nodes
        self._index_map = index
        n = len(nodes)
        self.n = n
        self.x, self.y = x, y
        self.edge_tail, self.edge_head, self.edge_time = tail, head, time
        self.edge_road = road
        self._lines = lines
        self._along = along
        if geometry is not None:
            geoms = geometry
            located = np.isfinite(x) & np.isfinite(y)
            missing = shapely.is_missing(geoms)
            missing &= located[tail] & located[head]  # unlocated nodes: no geometry, no snapping
            if missing.any():
                pts = np.column_stack([x, y])
                geoms = geoms.copy()
                geoms[missing] = shapely.linestrings(
                    np.stack([pts[tail[missing]], pts[head[missing]]], axis=1)
                )
            self._edge_geom: np.ndarray | None = geoms
        else:
            self._edge_geom = None
        self.csr = _least_time_csr(tail, head, time, n)
        self._tree: shapely.STRtree | None = None
        self._items: _Items | None = None
        self._twin: np.ndarray | None = None if twin is None else np.asarray(twin, np.int64)
        self._csr_t: sparse.csr_matrix | None = None
        self._component = component
        self._dag: dict[bool, sparse.csr_matrix] = {}

    @property
    def edge_info(self) -> dict[str, np.ndarray]:
        """Further per-edge columns (e.g. ``source_id``, ``highway``), made on first use."""
        for key, value in self._info.items():
            if callable(value):
                self._info[key] = np.asarray(value())
        return self._info  # type: ignore[return-value]

    @edge_info.setter
    def edge_info(self, value: dict[str, np.ndarray]) -> None:
        self._info = dict(value)

    def edge_geometry(self, edges: np.ndarray) -> np.ndarray:
        """LineStrings of some directed edges, from tail to head (see :attr:`edge_geom`)."""
        edges = np.asarray(edges, dtype=np.int64)
        if self._edge_geom is not None or self._lines is None or self._along is None:
            return self.edge_geom[edges]
        geoms = self._lines[self.edge_road[edges]]
        back = ~self._along[edges]
        if back.any():
            geoms[back] = shapely.reverse(geoms[back])
        return geoms

    @property
    def edge_geom(self) -> np.ndarray:
        """LineString of each directed edge, from its tail to its head."""
        if self._edge_geom is None:
            assert self._lines is not None and self._along is not None
            geoms = self._lines[self.edge_road]
            back = ~self._along
            if back.any():
                geoms[back] = shapely.reverse(geoms[back])
            self._edge_geom = geoms
        return self._edge_geom

    @edge_geom.setter
    def edge_geom(self, value: np.ndarray) -> None:
        self._edge_geom = np.asarray(value, dtype=object)
        self._lines = self._along = None
        self._tree = self._items = None

    @property
    def _index(self) -> dict[Hashable, int]:
        if self._index_map is None:
            self._index_map = {key: i for i, key in enumerate(self.nodes)}
        return self._index_map

    # -- nodes -----------------------------------------------------------------------------
    def index_of(self, keys: Iterable[Hashable]) -> np.ndarray:
        """Integer indices of graph node keys."""
        try:
            return np.array([self._index[k] for k in keys], dtype=np.int64)
        except KeyError as exc:
            raise DataError(f"network: node {exc.args[0]!r} is not in the graph.") from exc

    def shortest(
        self,
        sources: Sequence[int] | np.ndarray,
        *,
        limit: float = math.inf,
        min_only: bool = True,
    ) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
        """Dijkstra from node indices.

        Parameters
        ----------
        sources
            Node indices (see :meth:`index_of`).
        limit
            Stop at this many minutes; nodes farther are ``inf``.
        min_only
            One row: the least time over the sources and which source (index into
            ``sources``, -1 unreached). Else a ``(len(sources), n)`` array of times.
        """
        src = np.asarray(sources, dtype=np.int64)
        return self._run(self.csr, src, limit=limit, min_only=min_only, n_out=self.n)

    def _run(
        self,
        matrix: sparse.csr_matrix,
        src: np.ndarray,
        *,
        limit: float,
        min_only: bool,
        n_out: int,
    ) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
        if len(src) == 0:
            if min_only:
                return np.full(n_out, math.inf), np.full(n_out, -1, dtype=np.int64)
            return np.full((0, n_out), math.inf)
        lim = math.inf if limit is None else float(limit)
        if min_only:
            dist, _, origin = dijkstra(
                matrix,
                directed=True,
                indices=src,
                limit=lim,
                min_only=True,
                return_predecessors=True,
            )
            lookup = np.full(matrix.shape[0], -1, dtype=np.int64)
            lookup[src] = np.arange(len(src))
            which = np.where(origin >= 0, lookup[np.clip(origin, 0, None)], -1)
            return dist[:n_out], which[:n_out]
        dist = dijkstra(matrix, directed=True, indices=src, limit=lim)
        return np.atleast_2d(dist)[:, :n_out]

    def reachable(self, sources: np.ndarray, *, backward: bool = False) -> np.ndarray:
        """Nodes reachable from any of ``sources`` (node indices) at any time, as a mask.

        With ``backward``, the nodes from which some source can be reached instead. Searched
        on the graph of strongly connected components (every node of a component reaches
        every other), so it costs little more than the number of components.
        """
        src = np.unique(np.asarray(sources, dtype=np.int64))
        out = np.zeros(self.n, dtype=bool)
        if len(src) == 0:
            return out
        comp = self.component
        base = self._condensed(backward)
        # one virtual source linked to every given component: a single breadth-first search
        nc = base.shape[0]
        start = np.unique(comp[src])
        indptr = np.concatenate([base.indptr, [base.indptr[-1] + len(start)]]).astype(np.int32)
        indices = np.concatenate([base.indices, start]).astype(np.int32)
        data = np.ones(len(indices))
        matrix = sparse.csr_matrix((data, indices, indptr), shape=(nc + 1, nc + 1))
        order = breadth_first_order(matrix, nc, directed=True, return_predecessors=False)
        hit = np.zeros(nc + 1, dtype=bool)
        hit[order] = True
        return hit[:nc][comp]

    @property
    def component(self) -> np.ndarray:
        """Strongly connected component of each node (an integer label per component)."""
        if self._component is None:
            _, self._component = connected_components(
                self._adjacency(), directed=True, connection="strong"
            )
        return self._component

    def _adjacency(self) -> sparse.csr_matrix:
        n = self.n
        return sparse.csr_matrix(
            (np.ones(len(self.edge_tail)), (self.edge_tail, self.edge_head)), shape=(n, n)
        )

    def _condensed(self, backward: bool) -> sparse.csr_matrix:
        """The graph of strongly connected components (reversed with ``backward``)."""
        if backward not in self._dag:
            comp = self.component
            nc = int(comp.max()) + 1 if len(comp) else 0
            ct, ch = comp[self.edge_tail], comp[self.edge_head]
            cross = ct != ch
            a, b = (ch[cross], ct[cross]) if backward else (ct[cross], ch[cross])
            dag = sparse.csr_matrix((np.ones(len(a)), (a, b)), shape=(nc, nc))
            dag.sum_duplicates()
            self._dag[backward] = dag
        return self._dag[backward]

    # -- points ----------------------------------------------------------------------------
    @property
    def tree(self) -> shapely.STRtree:
        """Spatial index of the road geometries (each road line once, or each edge)."""
        if self._tree is None:
            self._tree = shapely.STRtree(self._index_items().geoms)
        return self._tree

    def _index_items(self) -> _Items:
        """What the spatial index holds, and the directed edges of each of its entries."""
        if self._items is None:
            m = len(self.edge_tail)
            if self._lines is not None and self._along is not None:
                used, first, counts = np.unique(
                    self.edge_road, return_index=True, return_counts=True
                )
                del first
                order = np.argsort(self.edge_road, kind="stable")
                indptr = np.zeros(len(used) + 1, dtype=np.int64)
                np.cumsum(counts, out=indptr[1:])
                self._items = _Items(
                    geoms=self._lines[used],
                    indptr=indptr,
                    edges=order,
                    back=~self._along[order],
                )
            else:
                self._items = _Items(
                    geoms=self.edge_geom,
                    indptr=np.arange(m + 1, dtype=np.int64),
                    edges=np.arange(m, dtype=np.int64),
                    back=np.zeros(m, dtype=bool),
                )
        return self._items

    def snap(self, points: Sequence[Any] | np.ndarray) -> Snap:
        """Join points to the network at the nearest point of the nearest edge.

        Parameters
        ----------
        points
            Shapely Points in the graph's CRS.
        """
        pts = np.asarray(points, dtype=object)
        if len(pts) == 0:
            empty = np.zeros(0)
            return Snap(
                pts, pts, empty, empty, empty.astype(np.int64), empty.astype(np.int64), empty
            )
        bad = shapely.is_missing(pts) | shapely.is_empty(pts)
        if bad.any():
            raise DataError(
                f"network: points {np.flatnonzero(bad)[:5].tolist()} have no geometry and cannot "
                "join the road network. Fix: give them coordinates or drop them."
            )
        items = self._index_items()
        nearest, ip, ii = _nearest_items(self.tree, items.geoms, pts)
        ifrac = shapely.line_locate_point(items.geoms[ii], pts[ip], normalized=True)
        # every directed edge of each nearest road line (both directions of a two-way road)
        starts, counts = items.indptr[ii], items.indptr[ii + 1] - items.indptr[ii]
        row = np.repeat(np.arange(len(ii)), counts)
        offset = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
        slot = starts[row] + offset
        te = items.edges[slot]
        tp = ip[row]
        frac = np.where(items.back[slot], 1.0 - ifrac[row], ifrac[row])
        frac = np.nan_to_num(frac, nan=0.0)
        order = np.lexsort((te, tp))
        tp, te, frac, row = tp[order], te[order], frac[order], row[order]
        first = np.ones(len(tp), dtype=bool)
        first[1:] = tp[1:] != tp[:-1]
        location = np.empty(len(pts), dtype=object)
        location[tp[first]] = shapely.line_interpolate_point(
            items.geoms[ii[row[first]]], np.nan_to_num(ifrac[row[first]], nan=0.0), normalized=True
        )
        access = nearest / (self.default_kmh * 1000.0 / 60.0)
        return Snap(
            points=pts,
            location=location,
            distance_m=nearest,
            access_min=access,
            tie_point=tp.astype(np.int64),
            tie_edge=te.astype(np.int64),
            tie_fraction=frac,
        )

    def _exits(self, snap: Snap) -> pd.DataFrame:
        """Least cost from each point to each node it can leave toward."""
        e = snap.tie_edge
        cost = snap.access_min[snap.tie_point] + (1.0 - snap.tie_fraction) * self.edge_time[e]
        frame = pd.DataFrame({"point": snap.tie_point, "node": self.edge_head[e], "cost": cost})
        return frame.groupby(["point", "node"], as_index=False, sort=True)["cost"].min()

    def from_points(
        self,
        snap: Snap,
        *,
        limit: float = math.inf,
        min_only: bool = False,
    ) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
        """Dijkstra from snapped points outward: times to every node.

        Parameters
        ----------
        snap
            The sources (from :meth:`snap`).
        limit
            Stop at this many minutes (``inf`` beyond).
        min_only
            One row with the least time and the source index per node (-1 unreached);
            else a ``(len(snap), n)`` array.
        """
        k = len(snap)
        exits = self._exits(snap)
        counts = np.bincount(exits["point"].to_numpy(), minlength=k)
        base = self.csr
        nnz = base.indptr[-1]
        indptr = np.concatenate([base.indptr, (nnz + np.cumsum(counts)).astype(np.int32)])
        indices = np.concatenate([base.indices, exits["node"].to_numpy(dtype=np.int32)])
        data = np.concatenate([base.data, exits["cost"].to_numpy(dtype=float)])
        size = self.n + k
        matrix = sparse.csr_matrix((data, indices, indptr), shape=(size, size))
        return self._run(
            matrix, np.arange(self.n, size), limit=limit, min_only=min_only, n_out=self.n
        )

    def to_points(
        self,
        dist: np.ndarray,
        targets: Snap,
        *,
        sources: Snap | None = None,
        source_rows: Sequence[int] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Times from search rows to snapped target points.

        Parameters
        ----------
        dist
            ``(k, n)`` node times from :meth:`from_points` (or :meth:`shortest`).
        targets
            The target points.
        sources
            The source points of the rows, when they are points: a source and a target on
            the same edge also reach each other directly along it.
        source_rows
            Which source point each row of ``dist`` is (default: row i is point i).
        """
        dist = np.atleast_2d(dist)
        k, m = dist.shape[0], len(targets)
        out = np.full((k, m), math.inf)
        if m == 0 or k == 0:
            return out
        e = targets.tie_edge
        cost = dist[:, self.edge_tail[e]] + targets.tie_fraction * self.edge_time[e]
        order = np.argsort(targets.tie_point, kind="stable")
        tp = targets.tie_point[order]
        starts = np.flatnonzero(np.r_[True, tp[1:] != tp[:-1]])
        out[:, tp[starts]] = np.minimum.reduceat(cost[:, order], starts, axis=1)
        out += targets.access_min[None, :]
        if sources is not None:
            rows = np.arange(k) if source_rows is None else np.asarray(source_rows)
            row_of = pd.DataFrame({"point": rows, "row": np.arange(k)})
            s = pd.DataFrame(
                {"point": sources.tie_point, "edge": sources.tie_edge, "fs": sources.tie_fraction}
            ).merge(row_of, on="point")
            t = pd.DataFrame(
                {"target": targets.tie_point, "edge": targets.tie_edge, "ft": targets.tie_fraction}
            )
            both = s.merge(t, on="edge")
            both = both[both["ft"] >= both["fs"]]
            if len(both):
                direct = (
                    sources.access_min[both["point"].to_numpy()]
                    + (both["ft"] - both["fs"]).to_numpy() * self.edge_time[both["edge"].to_numpy()]
                    + targets.access_min[both["target"].to_numpy()]
                )
                np.minimum.at(out, (both["row"].to_numpy(), both["target"].to_numpy()), direct)
        return out

    def nearest_source(
        self, sources: Snap, targets: Snap, *, limit: float = math.inf
    ) -> tuple[np.ndarray, np.ndarray]:
        """The quickest source of each target point within ``limit``: (minutes, source index).

        One search from all sources at once (no sources × nodes matrix): ``inf`` and -1 where
        no source reaches the target within ``limit``. The same times as the least over the
        rows of :meth:`od_matrix`; where two sources tie exactly, either may be given.
        """
        m = len(targets)
        best = np.full(m, math.inf)
        which = np.full(m, -1, dtype=np.int64)
        if m == 0 or len(sources) == 0:
            return best, which
        dist, src = self.from_points(sources, limit=limit, min_only=True)
        e = targets.tie_edge
        cost = dist[self.edge_tail[e]] + targets.tie_fraction * self.edge_time[e]
        owner = src[self.edge_tail[e]]
        point = targets.tie_point
        # directly along a shared edge, from a source ahead of the target on it
        s = pd.DataFrame(
            {"source": sources.tie_point, "edge": sources.tie_edge, "fs": sources.tie_fraction}
        )
        t = pd.DataFrame({"target": point, "edge": e, "ft": targets.tie_fraction})
        both = s.merge(t, on="edge")
        both = both[both["ft"] >= both["fs"]]
        if len(both):
            direct = (
                sources.access_min[both["source"].to_numpy()]
                + (both["ft"] - both["fs"]).to_numpy() * self.edge_time[both["edge"].to_numpy()]
            )
            cost = np.concatenate([cost, direct])
            owner = np.concatenate([owner, both["source"].to_numpy()])
            point = np.concatenate([point, both["target"].to_numpy()])
        cost = cost + targets.access_min[point]
        ok = np.isfinite(cost) & (cost <= limit) & (owner >= 0)
        cost, owner, point = cost[ok], owner[ok], point[ok]
        order = np.lexsort((owner, cost, point))  # per target: least time, then first source
        first = np.ones(len(order), dtype=bool)
        first[1:] = point[order][1:] != point[order][:-1]
        pick = order[first]
        best[point[pick]] = cost[pick]
        which[point[pick]] = owner[pick]
        return best, which

    def od_matrix(self, sources: Snap, targets: Snap, *, limit: float = math.inf) -> np.ndarray:
        """Travel times (minutes) from every source point to every target point.

        Pairs farther than ``limit`` are ``inf``.
        """
        dist = self.from_points(sources, limit=limit)
        out = self.to_points(dist, targets, sources=sources)
        out[out > limit] = math.inf
        return out

    def catchment(self, sources: Snap, *, limit: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
        """Nearest source of every node within ``limit``: (time, source index or -1)."""
        return self.from_points(sources, limit=limit, min_only=True)

    def isochrone(self, source: Snap | int, *, limit: float) -> tuple[np.ndarray, np.ndarray]:
        """Nodes reached from one source within ``limit`` minutes and their times.

        Parameters
        ----------
        source
            A one-point :class:`Snap` or a node index.
        limit
            Minutes.
        """
        if isinstance(source, Snap):
            dist, _ = self.from_points(source, limit=limit, min_only=True)
        else:
            dist, _ = self.shortest([int(source)], limit=limit)
        reached = np.flatnonzero(np.isfinite(dist))
        return reached, dist[reached]

    # -- geometry of what is reached -------------------------------------------------------
    @property
    def twin(self) -> np.ndarray:
        """Index of the opposite direction of the same road (-1 when there is none)."""
        if self._twin is None:
            twin = np.full(len(self.edge_tail), -1, dtype=np.int64)
            known = np.flatnonzero(self.edge_road >= 0)
            frame = pd.DataFrame(
                {
                    "road": self.edge_road[known],
                    "tail": self.edge_tail[known],
                    "head": self.edge_head[known],
                    "edge": known,
                }
            )
            pair = frame.merge(
                frame.rename(columns={"tail": "head", "head": "tail", "edge": "other"}),
                on=["road", "tail", "head"],
            )
            pair = pair[pair["edge"] != pair["other"]].drop_duplicates("edge")
            twin[pair["edge"].to_numpy()] = pair["other"].to_numpy()
            self._twin = twin
        return self._twin

    def reach_fraction(self, dist: np.ndarray, limit: np.ndarray | float) -> np.ndarray:
        """How much of each directed edge is reached from its tail (0–1).

        Parameters
        ----------
        dist
            Node times (n,).
        limit
            Minutes, one value or one per edge.
        """
        left = np.asarray(limit, dtype=float) - dist[self.edge_tail]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(self.edge_time > 0, left / self.edge_time, np.where(left >= 0, 1, 0))
        frac = np.where(np.isfinite(left), frac, 0.0)
        return np.clip(frac, 0.0, 1.0)

    def pieces(self, edges: np.ndarray, start: np.ndarray, end: np.ndarray) -> list[Any]:
        """Parts of edges between fractions ``start`` and ``end`` (0–1, along the edge)."""
        out: list[Any] = []
        geoms = self.edge_geometry(edges)
        whole = (start <= 0) & (end >= 1)
        out.extend(geoms[whole].tolist())
        for g, a, b in zip(geoms[~whole], start[~whole], end[~whole], strict=True):
            if b > a:
                out.append(substring(g, float(a), float(b), normalized=True))
        return _lines_only(out)

    def source_pieces(self, snap: Snap, point: int, limit: float) -> list[Any]:
        """The access leg and the partial edges a source point reaches before leaving them."""
        out: list[Any] = []
        access = float(snap.access_min[point])
        if snap.distance_m[point] > 0:
            leg = shapely.LineString([snap.points[point], snap.location[point]])
            part = 1.0 if access <= limit else limit / access
            out.append(leg if part >= 1 else substring(leg, 0.0, part, normalized=True))
        left = limit - access
        if left <= 0:
            return _lines_only(out)
        rows = np.flatnonzero(snap.tie_point == point)
        edges = snap.tie_edge[rows]
        start = snap.tie_fraction[rows]
        time = self.edge_time[edges]
        with np.errstate(divide="ignore"):
            end = np.minimum(1.0, start + np.where(time > 0, left / time, 1.0))
        out.extend(self.pieces(edges, start, end))
        return _lines_only(out)


@dataclass(frozen=True)
class _Items:
    """The spatial index's entries: geometry of each, and the directed edges it carries.

    The edges of entry ``i`` are ``edges[indptr[i]:indptr[i + 1]]``; ``back`` tells, per slot,
    whether the edge runs against the entry's geometry.
    """

    geoms: np.ndarray
    indptr: np.ndarray
    edges: np.ndarray
    back: np.ndarray


_BOX_ROUNDS = 3  # windows tried (each 4x wider) before the tree's own nearest search


def _nearest_items(
    tree: shapely.STRtree, geoms: np.ndarray, pts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance from each point to the nearest indexed geometry, and every geometry as near.

    Returns the distances (one per point) and the (point, geometry) pairs within
    :data:`_TIE_M` (plus 1e-9 relative) of each point's nearest. Candidates come from a window
    around each point (an envelope query, then exact distances): a point whose nearest lies
    well inside its window has all its near geometries among the candidates; the others try
    a window four times wider, and after :data:`_BOX_ROUNDS` rounds the tree's own nearest
    search. The same distances as :meth:`shapely.STRtree.query_nearest`, several times faster
    for many points.
    """
    n = len(pts)
    nearest = np.full(n, math.inf)
    found_p: list[np.ndarray] = []
    found_i: list[np.ndarray] = []
    bounds = shapely.bounds(pts)
    todo = np.arange(n)
    radius = _start_radius(tree, geoms)
    for _ in range(_BOX_ROUNDS):
        if not len(todo) or not math.isfinite(radius) or radius <= 0:
            break
        b = bounds[todo]
        windows = shapely.box(
            b[:, 0] - radius, b[:, 1] - radius, b[:, 2] + radius, b[:, 3] + radius
        )
        qp, qi = tree.query(windows)
        dist = shapely.distance(pts[todo[qp]], geoms[qi])
        least = np.full(len(todo), math.inf)
        np.minimum.at(least, qp, dist)
        limit = least + _TIE_M + 1e-9 * least
        done = limit <= radius - _TIE_M  # all geometries that near lie inside the window
        keep = done[qp] & (dist <= limit[qp])
        found_p.append(todo[qp[keep]])
        found_i.append(qi[keep])
        nearest[todo[done]] = least[done]
        todo = todo[~done]
        radius *= 4.0
    if len(todo):
        rest = pts[todo]
        (p_idx, _), dist = tree.query_nearest(rest, return_distance=True, all_matches=False)
        least = np.full(len(todo), math.inf)
        np.minimum.at(least, p_idx, dist)
        qp, qi = tree.query(rest, predicate="dwithin", distance=least + _TIE_M + 1e-9 * least)
        dist = shapely.distance(rest[qp], geoms[qi])
        keep = dist <= least[qp] + _TIE_M + 1e-9 * least[qp]
        found_p.append(todo[qp[keep]])
        found_i.append(qi[keep])
        nearest[todo] = least
    return (
        nearest,
        np.concatenate(found_p).astype(np.int64),
        np.concatenate(found_i).astype(np.int64),
    )


def _start_radius(tree: shapely.STRtree, geoms: np.ndarray) -> float:
    """First window half-width: a quarter of the typical extent of the indexed geometries."""
    if len(tree) == 0:
        return math.nan
    sample = geoms[:: max(1, len(geoms) // 2000)]
    b = shapely.bounds(sample[~(shapely.is_missing(sample) | shapely.is_empty(sample))])
    extent = np.nanmax(np.column_stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]]), axis=1)
    typical = float(np.nanmedian(extent)) if len(extent) else math.nan
    return typical / 4.0 if typical > 0 else 1.0


def _least_time_csr(
    tail: np.ndarray, head: np.ndarray, time: np.ndarray, n: int
) -> sparse.csr_matrix:
    """CSR of the least time per node pair (parallel edges collapse to their minimum)."""
    key = tail * np.int64(n) + head
    order = np.argsort(key, kind="stable")
    key_s = key[order]
    starts = np.flatnonzero(np.r_[True, key_s[1:] != key_s[:-1]]) if len(key_s) else key_s
    least = np.minimum.reduceat(time[order], starts) if len(starts) else time[:0]
    t_s = tail[order[starts]]
    h_s = head[order[starts]]
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(t_s, minlength=n), out=indptr[1:])
    # explicit zeros are kept: scipy's csgraph reads them as zero-time edges
    return sparse.csr_matrix((least.astype(float), h_s.astype(np.int32), indptr), shape=(n, n))


def _collect(
    graph: nx.MultiDiGraph,
    index: dict[Hashable, int],
    weight: str,
    tl: array[int],
    hl: array[int],
    wl: array[float],
    gl: list[Any],
    rl: array[int],
    info: dict[str, list[Any]],
) -> None:
    """Edge arrays of a networkx graph, through its public adjacency view."""
    nan = math.nan
    sid, cls = info["source_id"], info["highway"]
    for u, nbrs in graph.adjacency():
        iu = index[u]
        for v, keydict in nbrs.items():
            iv = index[v]
            for data in keydict.values():
                tl.append(iu)
                hl.append(iv)
                w = data.get(weight)
                wl.append(nan if w is None else w)
                gl.append(data.get("geometry"))
                road = data.get("road")
                rl.append(road if isinstance(road, int) else -1)
                sid.append(data.get("source_id"))
                cls.append(data.get("highway"))


def _lines_only(geoms: list[Any]) -> list[Any]:
    """Drop empty, point-like and zero-length results of cutting lines."""
    if not geoms:
        return []
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    keep = (shapely.get_type_id(arr) == 1) & (shapely.length(arr) > 0)
    return arr[keep].tolist()


_CACHE: weakref.WeakKeyDictionary[nx.MultiDiGraph, tuple[tuple[int, int], NetworkEngine]] = (
    weakref.WeakKeyDictionary()
)


def engine_for(graph: nx.MultiDiGraph | NetworkEngine, *, refresh: bool = False) -> NetworkEngine:
    """The :class:`NetworkEngine` of a graph, built once and reused.

    A graph from :func:`~fiveplans.analysis.network.build_network` carries its engine (built
    from the same arrays); any other networkx graph gets one built from its edges on first use
    and kept for it.

    Parameters
    ----------
    graph
        A road graph (or an engine, returned as is).
    refresh
        Rebuild it; needed after changing edge attributes of a graph already used (a change of
        node or edge count is noticed without it).
    """
    if isinstance(graph, NetworkEngine):
        return graph
    if not isinstance(graph, nx.MultiDiGraph):
        raise DataError(
            f"network: expected a road graph from fiveplans.analysis.build_network, got "
            f"{type(graph).__name__}."
        )
    if "engine" in vars(graph):  # a RoadGraph: its engine is dropped when the graph changes
        own = graph.engine
        if isinstance(own, NetworkEngine) and not refresh and own.n == len(graph):
            return own
        graph.engine = NetworkEngine(graph)
        return graph.engine
    signature = (graph.number_of_nodes(), graph.number_of_edges())
    cached = _CACHE.get(graph)
    if cached is not None and cached[0] == signature and not refresh:
        return cached[1]
    engine = NetworkEngine(graph)
    _CACHE[graph] = (signature, engine)
    return engine
