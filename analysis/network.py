"""The road network (路网) as a travel-time graph for the logistics radius (最佳物流半径).

:func:`build_network` turns a roads layer into a :class:`networkx.MultiDiGraph` whose edges
carry ``travel_min`` (CONTRACT §2): an edge's planar length in metres over the speed of its
road class. Roads are noded by their ``u``/``v`` node ids where the layer has them (OSM
junctions), otherwise by line ends that meet within ``snap_m`` — never where lines merely cross
in the plane, so bridges, tunnels and interchanges (立交) stay grade-separated.

Choices made here (documented, tested):

- **Speed of a class.** ``speeds_kmh[class]`` if the exact class value is listed, else
  ``speeds_kmh["default"]``. Link roads are not folded into their parent class:
  ``motorway_link`` runs at ``speeds_kmh["motorway_link"]`` when given, else at ``default``
  (ramps are slow; list them explicitly to change that). ``default`` is required, since it is
  also the speed of the straight access legs of points joining the network.
- **Lines without a class** (null or blank) are kept and run at the ``default`` speed; a
  :class:`~fiveplans.errors.FiveplansWarning` gives their count and the first row ids.
- **One-way roads.** ``oneway`` ``yes``/``1``/``true`` gives one edge along the line,
  ``-1``/``reverse`` one edge against it, anything else (``no``, null, ``reversible``) both.
- **The network as drawn (CONTRACT §2).** Every drivable piece is kept (``keep="all"``, the
  default): one-way streets cut at an extract's edge and one-way dead ends are real roads, and
  routing is directional on the whole graph. The pieces that the cluster cores cannot reach, or
  from which no core can be reached again, are reported by
  :func:`fiveplans.analysis.logistics.network_pieces`, not removed. ``keep="largest_scc"``
  keeps only the largest strongly connected component (the osmnx habit). Lines left out (no
  geometry, zero-length loops, outside the kept component) are in ``graph.graph["dropped"]``
  and :func:`dropped_roads`, and are logged.
- **Built once, from arrays.** The graph is a :class:`RoadGraph`: a
  :class:`networkx.MultiDiGraph` that carries its routing engine
  (:class:`~fiveplans.analysis.engine.NetworkEngine`: the compressed travel-time matrix, the
  spatial index of the road lines and the graph of strongly connected pieces), built from the
  same arrays as the graph, so the first query is as fast as the tenth. networkx's own dicts
  (one per node and per edge, with the edges' attributes and geometries) are filled from
  those arrays the first time anything reads them through networkx — any networkx function,
  view or iteration sees the whole graph, and routing through the engine never pays for them.
"""

from __future__ import annotations

import logging
import math
import operator
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from fiveplans.analysis.context import check_crs
from fiveplans.analysis.engine import NetworkEngine, no_gc
from fiveplans.errors import ConfigError, DataError, FiveplansWarning

__all__ = [
    "FORWARD",
    "REVERSE",
    "Keep",
    "RoadGraph",
    "build_network",
    "dropped_roads",
    "oneway_direction",
    "speed_of",
]

logger = logging.getLogger(__name__)

#: ``oneway`` values meaning "one way, along the line" (case-insensitive).
FORWARD: frozenset[str] = frozenset({"yes", "1", "true", "1.0"})
#: ``oneway`` values meaning "one way, against the line".
REVERSE: frozenset[str] = frozenset({"-1", "reverse", "-1.0"})

_REASON_EMPTY = "no geometry 无几何"
_REASON_LOOP = "zero-length loop 零长度环"
_REASON_MULTI = "multi-part line with one pair of node ids 多段线只有一对节点号"
_REASON_SCC = (
    "outside the largest strongly connected component 不在最大强连通路网内 "
    "(cannot both be reached from and return to the main network: one-way dead end, "
    "cut at the map edge, or an isolated piece)"
)


def oneway_direction(value: Any) -> int:
    """Direction code of an OSM ``oneway`` value: 1 along the line, -1 against it, 0 both ways.

    Parameters
    ----------
    value
        The raw tag: a string, a boolean, a number, or null.
    """
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, (int, float, np.integer, np.floating)):
        if isinstance(value, (float, np.floating)) and math.isnan(value):
            return 0
        return 1 if value == 1 else -1 if value == -1 else 0
    text = str(value).strip().lower()
    if text in FORWARD:
        return 1
    if text in REVERSE:
        return -1
    return 0


def speed_of(road_class: Any, speeds_kmh: Mapping[str, float]) -> float:
    """The speed (km/h) of a road class: ``speeds_kmh[class]``, else ``speeds_kmh["default"]``.

    Parameters
    ----------
    road_class
        The class value (e.g. ``"primary"``); null or blank takes ``default``.
    speeds_kmh
        Speeds by class, with a ``default`` entry.
    """
    if _is_blank(road_class):
        return float(speeds_kmh["default"])
    return float(speeds_kmh.get(str(road_class), speeds_kmh["default"]))


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _check_speeds(speeds_kmh: Mapping[str, float]) -> dict[str, float]:
    speeds: dict[str, float] = {}
    for key, value in speeds_kmh.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number <= 0:
            raise ConfigError(
                f"logistics.speeds_kmh: the speed of road class '{key}' is {value!r}; speeds "
                "must be positive km/h. Fix: give a positive number for it in the pilot YAML "
                "(or remove the class to use `default`)."
            )
        speeds[str(key)] = number
    if "default" not in speeds:
        raise ConfigError(
            "logistics.speeds_kmh has no `default` speed; it is used for road classes not "
            "listed and for the access legs of points joining the network. Fix: add e.g. "
            "`default: 30` under logistics.speeds_kmh."
        )
    return speeds


class _RowIds:
    """Row ids of a roads layer (``source_id`` as text, else the index), made on first use.

    Indexed like the array itself (``ids[rows]``); most builds only need them for messages
    and the dropped lines.
    """

    def __init__(self, roads: gpd.GeoDataFrame) -> None:
        self._source: pd.Series | pd.Index = (
            roads["source_id"] if "source_id" in roads.columns else roads.index
        )
        self._array: np.ndarray | None = None

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = self._source.astype(str).to_numpy(dtype=object)
        return self._array

    def __getitem__(self, key: Any) -> Any:
        return self.array[key]

    def __len__(self) -> int:
        return len(self._source)


def _examples(ids: np.ndarray, n: int = 5) -> str:
    shown = ", ".join(str(i) for i in ids[:n])
    return shown + (f", … ({len(ids)} in all)" if len(ids) > n else "")


def _lines(
    roads: gpd.GeoDataFrame, has_ids: np.ndarray, ids: _RowIds
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Line geometries and the row position of each; drops empty rows and bad multi-parts."""
    geoms = roads.geometry.to_numpy()
    dropped: list[dict[str, Any]] = []
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    kinds = shapely.get_type_id(geoms)
    line_kinds = np.isin(kinds, [1, 2, 5])  # LineString, LinearRing, MultiLineString
    bad = ~empty & ~line_kinds
    if bad.any():
        raise DataError(
            f"roads: {int(bad.sum())} features are not lines (rows {_examples(ids[bad])}; "
            f"e.g. a {geoms[bad][0].geom_type}). Fix: give the roads layer "
            "as LineStrings, e.g. pick the right `layer:` or drop the non-line features."
        )
    for pos in np.flatnonzero(empty):
        dropped.append({"row": int(pos), "reason": _REASON_EMPTY, "geometry": None})
    rows: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    keep = np.flatnonzero(~empty)
    geoms_keep = geoms[keep]
    multi = shapely.get_type_id(geoms_keep) == 5
    single_pos = keep[~multi]
    rows.append(single_pos)
    parts.append(geoms_keep[~multi])
    for pos, geom in zip(keep[multi], geoms_keep[multi], strict=True):
        if has_ids[pos]:
            merged = shapely.line_merge(geom)
            if shapely.get_type_id(merged) == 1:
                rows.append(np.array([pos]))
                parts.append(np.array([merged]))
            else:
                dropped.append({"row": int(pos), "reason": _REASON_MULTI, "geometry": geom})
        else:
            pieces = shapely.get_parts(geom)
            rows.append(np.full(len(pieces), pos))
            parts.append(pieces)
    row = np.concatenate(rows).astype(np.int64)
    lines = np.concatenate(parts)
    if shapely.has_z(lines).any():
        lines = shapely.force_2d(lines)
    order = np.argsort(row, kind="stable")
    return lines[order], row[order], dropped


def _cluster_points(xy: np.ndarray, snap_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Group points within ``snap_m`` of each other (transitively): labels and mean coordinates."""
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2))
    uniq, inverse = np.unique(xy, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    if snap_m > 0 and len(uniq) > 1:
        pairs = cKDTree(uniq).query_pairs(snap_m, output_type="ndarray")
        adj = sparse.coo_matrix(
            (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(uniq), len(uniq))
        )
        _, group = connected_components(adj, directed=False)
    else:
        group = np.arange(len(uniq))
    counts = np.bincount(group)
    mean = (
        np.column_stack(
            [np.bincount(group, weights=uniq[:, 0]), np.bincount(group, weights=uniq[:, 1])]
        )
        / counts[:, None]
    )
    return group[inverse], mean


def _node_index(
    roads: gpd.GeoDataFrame,
    row: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    has_ids: np.ndarray,
    snap_m: float,
) -> tuple[np.ndarray, np.ndarray, list[Any], np.ndarray]:
    """Node index of each line's ends, the node keys and the node coordinates (n, 2)."""
    n = len(row)
    with_ids = has_ids[row]
    ids_pos = np.flatnonzero(with_ids)
    raw = np.concatenate(
        [roads["u"].to_numpy()[row[ids_pos]], roads["v"].to_numpy()[row[ids_pos]]]
        if len(ids_pos)
        else [np.zeros(0, dtype=np.int64)]
    )
    codes, uniques = pd.factorize(raw)
    keys = _plain_keys(uniques)
    xy = np.full((len(keys), 2), np.nan)
    # a node's coordinate: the first vertex of a line leaving it (else the last of one arriving)
    xy[codes[len(ids_pos) :]] = end[ids_pos]
    xy[codes[: len(ids_pos)]] = start[ids_pos]
    ui = np.full(n, -1, dtype=np.int64)
    vi = np.full(n, -1, dtype=np.int64)
    ui[ids_pos] = codes[: len(ids_pos)]
    vi[ids_pos] = codes[len(ids_pos) :]
    rest = np.flatnonzero(~with_ids)
    if len(rest):
        ends = np.vstack([start[rest], end[rest]])
        resolved = np.full(len(ends), -1, dtype=np.int64)
        if keys:
            dist, idx = cKDTree(xy).query(ends, distance_upper_bound=snap_m)
            hit = np.isfinite(dist)
            resolved[hit] = idx[hit]
        free = np.flatnonzero(resolved < 0)
        group, mean = _cluster_points(ends[free], snap_m)
        numeric = [k for k in keys if isinstance(k, int)]
        base = min(0, min(numeric, default=0)) - 1
        resolved[free] = len(keys) + group
        keys.extend(base - g for g in range(len(mean)))
        xy = np.vstack([xy, mean])
        ui[rest] = resolved[: len(rest)]
        vi[rest] = resolved[len(rest) :]
    return ui, vi, keys, xy


def _plain_keys(uniques: Any) -> list[Any]:
    """Node keys as plain Python values (what :func:`_plain` gives each), for a whole array."""
    values = np.asarray(uniques)
    if values.dtype.kind in "iu":
        return values.tolist()
    if values.dtype.kind == "f" and bool(np.all(np.isfinite(values))):
        whole = values == np.round(values)
        if whole.all() and bool(np.all(np.abs(values) < 2.0**62)):
            return values.astype(np.int64).tolist()
    return [_plain(k) for k in values]


def _plain(key: Any) -> Any:
    if isinstance(key, np.integer):
        return int(key)
    if isinstance(key, (float, np.floating)) and float(key).is_integer():
        return int(key)
    return key


def _has_ids(roads: gpd.GeoDataFrame) -> np.ndarray:
    if "u" not in roads.columns or "v" not in roads.columns:
        return np.zeros(len(roads), dtype=bool)
    return (roads["u"].notna() & roads["v"].notna()).to_numpy()


Keep = Literal["all", "largest_scc"]


class _NetworkxDict:
    """One of networkx's storage dicts (``_node``, ``_adj``/``_succ``, ``_pred``) of a RoadGraph.

    A data descriptor, as networkx's own are: reading it first fills the graph's dicts when
    they are still pending (see :class:`RoadGraph`); setting it goes through networkx's own
    descriptor (which resets its cached views).
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.parent = next(
            (k.__dict__[name] for k in owner.__mro__[1:] if name in k.__dict__), None
        )

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        od = obj.__dict__
        if "_pending" in od:
            obj._materialize()
        try:
            return od[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, obj: Any, value: Any) -> None:
        if "_pending" in obj.__dict__:
            obj._materialize()
        if self.parent is not None and hasattr(self.parent, "__set__"):
            self.parent.__set__(obj, value)
        else:
            obj.__dict__[self.name] = value


class RoadGraph(nx.MultiDiGraph):
    """A road graph that carries its routing engine (CONTRACT §6).

    A :class:`networkx.MultiDiGraph` in every respect (``travel_min`` on the edges, ``x``/``y``
    on the nodes); :attr:`engine` is the :class:`~fiveplans.analysis.engine.NetworkEngine` that
    :func:`build_network` built from the same arrays. :func:`fiveplans.analysis.engine.engine_for`
    returns it; adding or removing nodes or edges through networkx's methods drops it (a new
    one is then built from the graph on first use); after changing edge attributes, call
    ``engine_for(graph, refresh=True)``.

    The networkx dicts of a graph from :func:`build_network` are filled from its arrays the
    first time anything reads them (any networkx function or view, iteration, ``g[u]``, …):
    routing through the engine never pays for millions of Python dicts it does not use. The
    counts (``len(g)``, ``number_of_nodes()``, ``number_of_edges()``) are known without them.
    """

    _node = _NetworkxDict()
    _adj = _NetworkxDict()
    _succ = _NetworkxDict()
    _pred = _NetworkxDict()

    def __init__(
        self, incoming_graph_data: Any = None, multigraph_input: bool | None = None, **attr: Any
    ) -> None:
        self.engine: NetworkEngine | None = None
        super().__init__(incoming_graph_data, multigraph_input, **attr)

    def _materialize(self) -> None:
        """Fill networkx's dicts from the pending arrays (once; see the class notes)."""
        pending = self.__dict__.pop("_pending", None)
        if pending is None:
            return
        nodes, succ, pred = pending.dicts()
        self._node = nodes
        self._adj = succ
        self._pred = pred

    def __len__(self) -> int:
        pending = self.__dict__.get("_pending")
        return pending.n_nodes if pending is not None else super().__len__()

    def number_of_nodes(self) -> int:
        return len(self)

    def number_of_edges(self, u: Any = None, v: Any = None) -> int:
        pending = self.__dict__.get("_pending")
        if pending is not None and u is None and v is None:
            return pending.n_edges
        return super().number_of_edges(u, v)

    # every change of nodes or edges through networkx's API drops the engine (engine_for then
    # builds a new one from the graph); changed edge attributes need engine_for(refresh=True)
    def add_node(self, *args: Any, **kwargs: Any) -> Any:
        self.engine = None
        return super().add_node(*args, **kwargs)

    def add_nodes_from(self, *args: Any, **kwargs: Any) -> Any:
        self.engine = None
        return super().add_nodes_from(*args, **kwargs)

    def remove_node(self, *args: Any, **kwargs: Any) -> Any:
        self.engine = None
        return super().remove_node(*args, **kwargs)

    def remove_nodes_from(self, *args: Any, **kwargs: Any) -> Any:
        self.engine = None
        return super().remove_nodes_from(*args, **kwargs)

    def add_edge(self, *args: Any, **kwargs: Any) -> Any:
        self.engine = None
        return super().add_edge(*args, **kwargs)

    def add_edges_from(self, *args: Any, **kwargs: Any) -> Any:
        self.engine = None
        return super().add_edges_from(*args, **kwargs)

    def remove_edge(self, *args: Any, **kwargs: Any) -> Any:
        self.engine = None
        return super().remove_edge(*args, **kwargs)

    def remove_edges_from(self, *args: Any, **kwargs: Any) -> Any:
        self.engine = None
        return super().remove_edges_from(*args, **kwargs)

    def clear(self) -> None:
        self.engine = None
        super().clear()

    def clear_edges(self) -> None:
        self.engine = None
        super().clear_edges()


# -- stages of build_network ----------------------------------------------------------------
def _check_inputs(
    roads: gpd.GeoDataFrame,
    speeds_kmh: Mapping[str, float],
    class_field: str,
    snap_m: float,
    keep: str,
) -> tuple[dict[str, float], pyproj.CRS]:
    """Checked speeds and the layer's CRS (projected, metres), or a clear error."""
    speeds = _check_speeds(speeds_kmh)
    if keep not in ("all", "largest_scc"):
        raise ConfigError(
            f"build_network: keep={keep!r}; use 'all' (the network as drawn, the default) or "
            "'largest_scc' (only the largest strongly connected component)."
        )
    if len(roads) == 0:
        raise DataError(
            "roads: 路网图层为空 — the layer is empty. 解决 Fix: check the roads `path:`/`layer:` "
            "in the pilot YAML and that the extract covers the zone."
        )
    crs = check_crs({"roads": roads}, what="路网 the road network (lengths in metres)")
    if class_field not in roads.columns:
        columns = ", ".join(str(c) for c in roads.columns if c != roads.geometry.name)
        raise DataError(
            f"roads: 缺少道路等级字段 — no column '{class_field}' with the road class "
            f"(columns: {columns}). 解决 Fix: set `field:` of roads in the pilot YAML to the "
            "class column."
        )
    if snap_m < 0:
        raise ConfigError(f"build_network: snap_m is {snap_m}; give a distance ≥ 0 metres.")
    return speeds, crs


@dataclass
class _Lines:
    """The usable road lines: geometry, source row, length and end node indices."""

    geoms: np.ndarray
    row: np.ndarray
    length: np.ndarray
    ui: np.ndarray
    vi: np.ndarray


def _noded_lines(
    roads: gpd.GeoDataFrame, ids: _RowIds, snap_m: float, dropped: list[dict[str, Any]]
) -> tuple[_Lines, list[Any], np.ndarray]:
    """Lines with their end junctions; the node keys and coordinates. Drops zero-length loops."""
    has_ids = _has_ids(roads)
    lines, row, bad = _lines(roads, has_ids, ids)
    dropped.extend(bad)
    coords = shapely.get_coordinates(lines)
    counts = shapely.get_num_coordinates(lines)
    last = np.cumsum(counts) - 1
    first = last - counts + 1
    length = shapely.length(lines)
    ui, vi, node_keys, node_xy = _node_index(
        roads, row, coords[first], coords[last], has_ids, snap_m
    )
    loop = (length <= 0) & (ui == vi)
    for pos in np.flatnonzero(loop):
        dropped.append({"row": int(row[pos]), "reason": _REASON_LOOP, "geometry": lines[pos]})
    ok = ~loop
    return _Lines(lines[ok], row[ok], length[ok], ui[ok], vi[ok]), node_keys, node_xy


def _normalised(values: np.ndarray, *, lower: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Stripped text and a blank mask of raw values (worked out on the distinct values)."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    text = np.array([str(u).strip() for u in uniques], dtype=object)
    if lower:
        text = np.array([t.lower() for t in text], dtype=object)
    out = np.empty(len(values), dtype=object)
    out[:] = None
    known = codes >= 0
    out[known] = text[codes[known]]
    blank = ~known | np.isin(codes, np.flatnonzero(text == ""))
    return out, blank


def _travel_times(
    roads: gpd.GeoDataFrame,
    lines: _Lines,
    class_field: str,
    speeds: dict[str, float],
    ids: _RowIds,
) -> tuple[np.ndarray, np.ndarray]:
    """Class of each line (``None`` when blank, warned) and its travel time in minutes."""
    text, blank = _normalised(roads[class_field].to_numpy(dtype=object)[lines.row])
    if blank.any():
        rows_blank = np.unique(lines.row[blank])
        warnings.warn(
            f"roads: 道路缺少等级 — {len(rows_blank)} lines have no '{class_field}' class (rows "
            f"{_examples(ids[rows_blank])}); they run at the default speed "
            f"{speeds['default']:g} km/h. 解决 Fix: fill in their class if they are faster roads.",
            FiveplansWarning,
            stacklevel=3,
        )
    classes = np.where(blank, None, text)
    speed = pd.Series(classes, dtype=object).map(speeds).fillna(speeds["default"]).to_numpy(float)
    return classes, lines.length / (speed * 1000.0 / 60.0)


def _directions(roads: gpd.GeoDataFrame, row: np.ndarray) -> np.ndarray:
    """1 one-way along the line, -1 one-way against it, 0 both ways (see :data:`FORWARD`)."""
    if "oneway" not in roads.columns:
        return np.zeros(len(row), dtype=np.int64)
    text, _ = _normalised(roads["oneway"].to_numpy(dtype=object)[row], lower=True)
    flag = pd.Series(text, dtype=object)
    return np.where(flag.isin(FORWARD), 1, np.where(flag.isin(REVERSE), -1, 0))


@dataclass
class _Directed:
    """Directed edges: the line each drives (``pos``), tail and head nodes, drawn direction."""

    pos: np.ndarray
    tail: np.ndarray
    head: np.ndarray
    along: np.ndarray

    def take(self, which: np.ndarray) -> _Directed:
        return _Directed(self.pos[which], self.tail[which], self.head[which], self.along[which])


def _directed(lines: _Lines, direction: np.ndarray) -> _Directed:
    """Along the line unless one-way against it, and back unless one-way along it."""
    fwd = np.flatnonzero(direction >= 0)
    bwd = np.flatnonzero(direction <= 0)
    return _Directed(
        pos=np.concatenate([fwd, bwd]),
        tail=np.concatenate([lines.ui[fwd], lines.vi[bwd]]),
        head=np.concatenate([lines.vi[fwd], lines.ui[bwd]]),
        along=np.concatenate([np.ones(len(fwd), bool), np.zeros(len(bwd), bool)]),
    )


def _components(edges: _Directed, n_nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strongly connected component of each node, used nodes, and component sizes."""
    used = np.zeros(n_nodes, dtype=bool)
    used[edges.tail] = True
    used[edges.head] = True
    adj = sparse.csr_matrix(
        (np.ones(len(edges.tail)), (edges.tail, edges.head)), shape=(n_nodes, n_nodes)
    )
    n_comp, comp = connected_components(adj, directed=True, connection="strong")
    sizes = np.bincount(comp[used], minlength=n_comp)
    return comp, used, sizes


def _keep_largest(
    edges: _Directed,
    lines: _Lines,
    n_nodes: int,
    snap_m: float,
    dropped: list[dict[str, Any]],
) -> tuple[_Directed, np.ndarray, dict[str, int]]:
    """Only the largest strongly connected component (``keep="largest_scc"``)."""
    comp, used, sizes = _components(edges, n_nodes)
    if len(edges.pos) == 0 or sizes.max() < 2:
        raise DataError(
            "roads: no two junctions are connected both ways, so there is no network to route "
            "on. 解决 Fix: check the `oneway` values and that the lines meet at shared node ids "
            f"or ends (within snap_m={snap_m} m), or build with keep='all'."
        )
    keep_node = comp == int(np.argmax(sizes))
    keep_edge = keep_node[edges.tail] & keep_node[edges.head]
    line_kept = np.zeros(len(lines.row), dtype=bool)
    line_kept[edges.pos[keep_edge]] = True
    for p in np.flatnonzero(~line_kept):
        dropped.append(
            {"row": int(lines.row[p]), "reason": _REASON_SCC, "geometry": lines.geoms[p]}
        )
    lost = {
        "nodes": int((used & ~keep_node).sum()),
        "edges": int(len(keep_edge) - keep_edge.sum()),
        "components": int(np.count_nonzero(sizes)) - 1,
    }
    return edges.take(np.flatnonzero(keep_edge)), keep_node & used, lost


def _twins(edges: _Directed, direction: np.ndarray) -> np.ndarray:
    """The opposite direction of the same two-way line, per directed edge (-1 none)."""
    twin = np.full(len(edges.pos), -1, dtype=np.int64)
    both = direction[edges.pos] == 0
    idx = np.flatnonzero(both)
    order = idx[np.lexsort((edges.along[idx], edges.pos[idx]))]
    # two-way lines give an along and a back edge each, adjacent after sorting by line
    pos = edges.pos[order]
    pair = np.flatnonzero(pos[1:] == pos[:-1])
    a, b = order[pair], order[pair + 1]
    twin[a], twin[b] = b, a
    return twin


def _graph_dicts(
    keys: np.ndarray,
    node_xy: np.ndarray,
    nodes_kept: np.ndarray,
    edges: _Directed,
    data: list[dict[str, Any]],
) -> tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
    """networkx's node, successor and predecessor dicts; parallel edges keyed 0, 1, …"""
    kept = np.flatnonzero(nodes_kept)
    node_keys = keys[kept].tolist()
    with no_gc():  # millions of new dicts would trigger full collections for nothing
        nodes = {
            k: {"x": x, "y": y}
            for k, x, y in zip(
                node_keys, node_xy[kept, 0].tolist(), node_xy[kept, 1].tolist(), strict=True
            )
        }
        succ: dict[Any, Any] = {k: {} for k in node_keys}
        pred: dict[Any, Any] = {k: {} for k in node_keys}
        for u, v, d in zip(keys[edges.tail].tolist(), keys[edges.head].tolist(), data, strict=True):
            out = succ[u]
            keydict = out.get(v)
            if keydict is None:
                keydict = {0: d}
                out[v] = keydict
                pred[v][u] = keydict
            else:
                keydict[len(keydict)] = d
    return nodes, succ, pred


def _edge_data(
    osmids: pd.Series | None,
    lines: _Lines,
    edges: _Directed,
    geoms: np.ndarray,
    classes: np.ndarray,
    travel: np.ndarray,
    direction: np.ndarray,
    ids: _RowIds,
) -> list[dict[str, Any]]:
    """One attribute dict per directed edge (see :func:`build_network`)."""
    p = edges.pos
    rows = lines.row[p]
    osmid = (
        [_plain(o) for o in osmids.to_numpy(dtype=object)[rows]]
        if osmids is not None
        else [None] * len(p)
    )
    with no_gc():
        return [
            {
                "travel_min": t,
                "length": ln,
                "highway": c,
                "geometry": g,
                "source_id": sid,
                "osmid": oid,
                "oneway": ow,
                "road": rd,
            }
            for t, ln, c, g, sid, oid, ow, rd in zip(
                travel[p].tolist(),
                lines.length[p].tolist(),
                classes[p].tolist(),
                geoms.tolist(),
                ids[rows].tolist(),
                osmid,
                (direction[p] != 0).tolist(),
                p.tolist(),
                strict=True,
            )
        ]


def _dropped_records(
    roads: gpd.GeoDataFrame, dropped: list[dict[str, Any]], ids: _RowIds, class_field: str
) -> list[dict[str, Any]]:
    records = []
    for item in dropped:
        r = item["row"]
        value = roads[class_field].iloc[r]
        records.append(
            {
                "source_id": ids[r],
                "osmid": _plain(roads["osmid"].iloc[r]) if "osmid" in roads else None,
                "highway": None if _is_blank(value) else str(value),
                "reason": item["reason"],
                "geometry": item["geometry"],
            }
        )
    return records


@dataclass
class _Pending:
    """What a :class:`RoadGraph`'s networkx dicts are made from, the first time they are read."""

    keys: np.ndarray
    node_xy: np.ndarray
    nodes_kept: np.ndarray
    edges: _Directed
    lines: _Lines
    classes: np.ndarray
    travel: np.ndarray
    direction: np.ndarray
    ids: _RowIds
    osmids: pd.Series | None
    engine: NetworkEngine
    n_nodes: int
    n_edges: int

    def dicts(self) -> tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
        """networkx's node, successor and predecessor dicts (edge geometries: the engine's)."""
        geoms = self.engine.edge_geom
        data = _edge_data(
            self.osmids,
            self.lines,
            self.edges,
            geoms,
            self.classes,
            self.travel,
            self.direction,
            self.ids,
        )
        return _graph_dicts(self.keys, self.node_xy, self.nodes_kept, self.edges, data)


def _report(graph: RoadGraph, n_edges: int, n_lines: int, verbose: bool) -> None:
    dropped = graph.graph["dropped"]
    comps = graph.graph["components"]
    logger.info(
        "road network (keep=%s): %d junctions, %d directed edges from %d road lines in %d "
        "strongly connected pieces (the largest holds %d junctions); dropped %d junctions and "
        "%d directed edges in %d pieces outside the largest strongly connected component, and "
        "%d lines without usable geometry",
        graph.graph["keep"],
        graph.number_of_nodes(),
        n_edges,
        n_lines,
        comps["count"],
        comps["largest"],
        dropped["nodes"],
        dropped["edges"],
        dropped["components"],
        sum(1 for rec in dropped["records"] if rec["reason"] != _REASON_SCC),
    )
    if verbose:
        for rec in dropped["records"]:
            logger.info("dropped road %s (%s): %s", rec["source_id"], rec["highway"], rec["reason"])


def build_network(
    roads: gpd.GeoDataFrame,
    *,
    speeds_kmh: Mapping[str, float],
    class_field: str = "highway",
    snap_m: float = 0.5,
    keep: Keep = "all",
    verbose: bool = False,
) -> RoadGraph:
    """Build the travel-time road graph of a roads layer (CONTRACT §2), with its engine.

    Parameters
    ----------
    roads
        Road lines in a projected CRS (metres). Optional columns: ``u``, ``v`` (node ids of the
        line's first and last vertex, as :func:`fiveplans.layers.osm.read_osm_roads` writes
        them), ``oneway``, ``osmid``, ``source_id``. Not changed.
    speeds_kmh
        Speed by road class in km/h, with a ``default`` entry (see the module notes).
    class_field
        Column with the road class (e.g. OSM ``highway``).
    snap_m
        For lines without node ids: line ends closer than this (metres, transitively) are one
        junction, placed at their mean. Crossings are never junctions.
    keep
        ``"all"``: the drivable network as drawn (CONTRACT §2); ``"largest_scc"``: only the
        largest strongly connected component.
    verbose
        Also log every dropped road (not only the summary).

    Returns
    -------
    RoadGraph
        A :class:`networkx.MultiDiGraph`. Nodes are the ``u``/``v`` ids (negative integers for
        snapped junctions) with ``x``, ``y``. Edges carry ``travel_min``, ``length`` (m),
        ``highway`` (the class value), ``geometry`` (LineString from tail to head),
        ``source_id``, ``osmid`` (when the layer has it), ``oneway`` (bool) and ``road``
        (position of the road line; both directions of a two-way road share it). Graph
        attributes: ``crs``, ``speeds_kmh``, ``class_field``, ``keep``, ``components``
        (``count`` and ``largest`` of the strongly connected pieces) and ``dropped`` (see
        :func:`dropped_roads`). ``graph.engine`` is its routing engine.

    Raises
    ------
    CRSError
        The layer has no CRS, or one not projected in metres.
    ConfigError
        A speed is not positive, ``default`` is missing, or ``keep`` is unknown.
    DataError
        The layer is empty, has no ``class_field`` column, has non-line features, or leaves
        no road (with ``largest_scc``: no two junctions connected both ways).
    """
    speeds, crs = _check_inputs(roads, speeds_kmh, class_field, snap_m, keep)
    ids = _RowIds(roads)
    dropped: list[dict[str, Any]] = []
    lines, node_keys, node_xy = _noded_lines(roads, ids, snap_m, dropped)
    classes, travel = _travel_times(roads, lines, class_field, speeds, ids)
    direction = _directions(roads, lines.row)
    edges = _directed(lines, direction)
    if keep == "largest_scc":
        edges, nodes_kept, lost = _keep_largest(edges, lines, len(node_keys), snap_m, dropped)
    else:
        nodes_kept, lost = _keep_all(edges, len(node_keys))
    keys = np.empty(len(node_keys), dtype=object)
    keys[:] = node_keys
    records = _dropped_records(roads, dropped, ids, class_field)
    comp, _, sizes = _components(edges, len(node_keys))
    engine = _engine(
        lines, ids, classes, keys, node_xy, nodes_kept, edges, travel, direction, crs, speeds, comp
    )
    graph = RoadGraph(
        crs=crs,
        speeds_kmh=speeds,
        class_field=class_field,
        keep=keep,
        components={"count": int(np.count_nonzero(sizes)), "largest": int(sizes.max())},
        dropped={**lost, "roads": len({r["source_id"] for r in records}), "records": records},
    )
    graph.engine = engine
    # networkx's dicts are made from these arrays when first read (see RoadGraph)
    graph._pending = _Pending(
        keys=keys,
        node_xy=node_xy,
        nodes_kept=nodes_kept,
        edges=edges,
        lines=lines,
        classes=classes,
        travel=travel,
        direction=direction,
        ids=ids,
        osmids=roads["osmid"] if "osmid" in roads.columns else None,
        engine=engine,
        n_nodes=engine.n,
        n_edges=len(edges.pos),
    )
    _report(graph, len(edges.pos), len(roads), verbose)
    return graph


def _keep_all(edges: _Directed, n_nodes: int) -> tuple[np.ndarray, dict[str, int]]:
    """Every drivable piece (``keep="all"``): the junctions that some edge uses."""
    if len(edges.pos) == 0:
        raise DataError(
            "roads: 没有可用的道路 — no usable road lines (all empty or zero-length). "
            "解决 Fix: check the roads layer's geometry."
        )
    nodes_kept = np.zeros(n_nodes, dtype=bool)
    nodes_kept[edges.tail] = True
    nodes_kept[edges.head] = True
    return nodes_kept, {"nodes": 0, "edges": 0, "components": 0}


def _engine(
    lines: _Lines,
    ids: _RowIds,
    classes: np.ndarray,
    keys: np.ndarray,
    node_xy: np.ndarray,
    nodes_kept: np.ndarray,
    edges: _Directed,
    travel: np.ndarray,
    direction: np.ndarray,
    crs: pyproj.CRS,
    speeds: dict[str, float],
    component: np.ndarray,
) -> NetworkEngine:
    """The routing engine from the build's arrays (same node and edge order as the graph).

    The spatial index holds each road line once; the edges' own geometries (reversed where
    an edge drives against the line) and their source ids are made on first use.
    """
    kept = np.flatnonzero(nodes_kept)
    renumber = np.full(len(keys), -1, dtype=np.int64)
    renumber[kept] = np.arange(len(kept))
    rows = lines.row[edges.pos]
    return NetworkEngine.from_arrays(
        nodes=keys[kept].tolist(),
        x=node_xy[kept, 0],
        y=node_xy[kept, 1],
        tail=renumber[edges.tail],
        head=renumber[edges.head],
        time=travel[edges.pos],
        lines=lines.geoms,
        along=edges.along,
        road=edges.pos,
        twin=_twins(edges, direction),
        info={"source_id": partial(operator.getitem, ids, rows), "highway": classes[edges.pos]},
        crs=crs,
        default_kmh=speeds["default"],
        component=component[kept],
    )


def dropped_roads(graph: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """The road lines :func:`build_network` left out, one row per line, with the reason.

    Parameters
    ----------
    graph
        A graph from :func:`build_network`.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``source_id``, ``osmid``, ``highway``, ``reason``, geometry, in the graph's CRS.
    """
    records = graph.graph.get("dropped", {}).get("records", [])
    frame = pd.DataFrame(records, columns=["source_id", "osmid", "highway", "reason", "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=graph.graph.get("crs"))
