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
- **Connectivity.** Only the largest strongly connected component is kept (a vehicle can
  leave and return from any kept junction); what was dropped, and why, is in
  ``graph.graph["dropped"]`` and :func:`dropped_roads`, and is logged.
"""

from __future__ import annotations

import gc
import logging
import math
import warnings
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from fiveplans.errors import ConfigError, CRSError, DataError, FiveplansWarning

__all__ = ["FORWARD", "REVERSE", "build_network", "dropped_roads", "oneway_direction", "speed_of"]

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


def _check_crs(roads: gpd.GeoDataFrame) -> pyproj.CRS:
    if roads.crs is None:
        raise CRSError(
            "roads: the layer has no CRS, so lengths cannot be measured. Fix: load it through "
            "fiveplans.layers.loaders (which sets the working CRS) or call "
            "roads.set_crs(...).to_crs(<projected CRS in metres>)."
        )
    crs = pyproj.CRS.from_user_input(roads.crs)
    if not crs.is_projected:
        raise CRSError(
            f"roads: the layer is in a geographic CRS ({crs.name}); lengths in degrees are "
            "meaningless. Fix: project it first, e.g. roads.to_crs('EPSG:4547') (CGCS2000 "
            "3-degree Gauss-Kruger) or the pilot's working CRS."
        )
    return crs


def _row_ids(roads: gpd.GeoDataFrame) -> np.ndarray:
    if "source_id" in roads.columns:
        return roads["source_id"].astype(str).to_numpy(dtype=object)
    return np.array([str(i) for i in roads.index], dtype=object)


def _examples(ids: np.ndarray, n: int = 5) -> str:
    shown = ", ".join(str(i) for i in ids[:n])
    return shown + (f", … ({len(ids)} in all)" if len(ids) > n else "")


def _lines(
    roads: gpd.GeoDataFrame, has_ids: np.ndarray, ids: np.ndarray
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
    keys: list[Any] = [_plain(k) for k in uniques]
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


def build_network(
    roads: gpd.GeoDataFrame,
    *,
    speeds_kmh: Mapping[str, float],
    class_field: str = "highway",
    snap_m: float = 0.5,
    verbose: bool = False,
) -> nx.MultiDiGraph:
    """Build the travel-time road graph of a roads layer (CONTRACT §2).

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
    verbose
        Also log every dropped road (not only the summary).

    Returns
    -------
    networkx.MultiDiGraph
        Nodes are the ``u``/``v`` ids (negative integers for snapped junctions) with ``x``,
        ``y``. Edges carry ``travel_min``, ``length`` (m), ``highway`` (the class value),
        ``geometry`` (LineString from tail to head), ``source_id``, ``osmid`` (when the layer
        has it), ``oneway`` (bool) and ``road`` (position of the road line; both directions
        of a two-way road share it). Graph attributes: ``crs``, ``speeds_kmh``,
        ``class_field``, ``dropped`` (see :func:`dropped_roads`).

    Raises
    ------
    CRSError
        The layer has no CRS or a geographic one.
    ConfigError
        A speed is not positive, or ``default`` is missing.
    DataError
        The layer is empty, has no ``class_field`` column, has non-line features, or leaves
        no connected road.
    """
    speeds = _check_speeds(speeds_kmh)
    if len(roads) == 0:
        raise DataError(
            "roads: the layer is empty. Fix: check the roads `path:`/`layer:` in the pilot "
            "YAML and that the extract covers the zone."
        )
    crs = _check_crs(roads)
    if class_field not in roads.columns:
        columns = ", ".join(str(c) for c in roads.columns if c != roads.geometry.name)
        raise DataError(
            f"roads: no column '{class_field}' with the road class (columns: {columns}). Fix: "
            "set `field:` of roads in the pilot YAML to the class column."
        )
    if snap_m < 0:
        raise ConfigError(f"build_network: snap_m is {snap_m}; give a distance ≥ 0 metres.")

    ids = _row_ids(roads)
    has_ids = _has_ids(roads)
    lines, row, dropped = _lines(roads, has_ids, ids)
    coords = shapely.get_coordinates(lines)
    counts = shapely.get_num_coordinates(lines)
    last = np.cumsum(counts) - 1
    first = last - counts + 1
    start, end = coords[first], coords[last]
    length = shapely.length(lines)

    ui, vi, node_keys, node_xy = _node_index(roads, row, start, end, has_ids, snap_m)
    loop = (length <= 0) & (ui == vi)
    for pos in np.flatnonzero(loop):
        dropped.append({"row": int(row[pos]), "reason": _REASON_LOOP, "geometry": lines[pos]})
    ok = ~loop
    lines, row, length, ui, vi = lines[ok], row[ok], length[ok], ui[ok], vi[ok]

    raw_class = roads[class_field].to_numpy(dtype=object)[row]
    text = pd.Series(raw_class, dtype=object).astype(str).str.strip()
    blank = (pd.isna(pd.Series(raw_class, dtype=object)) | (text == "")).to_numpy()
    if blank.any():
        rows_blank = np.unique(row[blank])
        warnings.warn(
            f"roads: {len(rows_blank)} lines have no '{class_field}' class (rows "
            f"{_examples(ids[rows_blank])}); they run at the default speed "
            f"{speeds['default']:g} km/h. Fix: fill in their class if they are faster roads.",
            FiveplansWarning,
            stacklevel=2,
        )
    classes = np.where(blank, None, text.to_numpy(dtype=object))
    speed = pd.Series(classes, dtype=object).map(speeds).fillna(speeds["default"]).to_numpy(float)
    travel = length / (speed * 1000.0 / 60.0)

    if "oneway" in roads.columns:
        flag = pd.Series(roads["oneway"].to_numpy(dtype=object)[row], dtype=object)
        flag = flag.astype(str).str.strip().str.lower()
        direction = np.where(flag.isin(FORWARD), 1, np.where(flag.isin(REVERSE), -1, 0))
    else:
        direction = np.zeros(len(row), dtype=np.int64)

    # directed edges: along the line unless one-way against it, and back unless one-way along
    fwd = np.flatnonzero(direction >= 0)
    bwd = np.flatnonzero(direction <= 0)
    e_pos = np.concatenate([fwd, bwd])
    ti = np.concatenate([ui[fwd], vi[bwd]])
    hi = np.concatenate([vi[fwd], ui[bwd]])

    # keep the largest strongly connected component
    n_nodes = len(node_keys)
    used = np.zeros(n_nodes, dtype=bool)
    used[ti] = True
    used[hi] = True
    adj = sparse.csr_matrix((np.ones(len(ti)), (ti, hi)), shape=(n_nodes, n_nodes))
    n_comp, comp = connected_components(adj, directed=True, connection="strong")
    sizes = np.bincount(comp[used], minlength=n_comp)
    if len(e_pos) == 0 or sizes.max() < 2:
        raise DataError(
            "roads: no two junctions are connected both ways, so there is no network to route "
            "on. Fix: check the `oneway` values and that the lines meet at shared node ids or "
            f"ends (within snap_m={snap_m} m)."
        )
    main = int(np.argmax(sizes))
    keep_node = comp == main
    keep_edge = keep_node[ti] & keep_node[hi]
    line_kept = np.zeros(len(row), dtype=bool)
    line_kept[e_pos[keep_edge]] = True
    for p in np.flatnonzero(~line_kept):
        dropped.append({"row": int(row[p]), "reason": _REASON_SCC, "geometry": lines[p]})
    lost_nodes = int((used & ~keep_node).sum())
    lost_components = int(np.count_nonzero(sizes)) - 1

    sel = np.flatnonzero(keep_edge)
    p_sel = e_pos[sel]
    along = sel < len(fwd)
    geoms = lines[p_sel]
    geoms[~along] = shapely.reverse(geoms[~along])
    keys = np.empty(n_nodes, dtype=object)
    keys[:] = node_keys
    osmid = (
        [_plain(o) for o in roads["osmid"].to_numpy(dtype=object)[row[p_sel]]]
        if "osmid" in roads.columns
        else [None] * len(sel)
    )
    graph = nx.MultiDiGraph(crs=crs, speeds_kmh=speeds, class_field=class_field)
    kept_idx = np.flatnonzero(keep_node & used)
    graph.add_nodes_from(
        (k, {"x": x, "y": y})
        for k, x, y in zip(
            keys[kept_idx].tolist(),
            node_xy[kept_idx, 0].tolist(),
            node_xy[kept_idx, 1].tolist(),
            strict=True,
        )
    )
    edges = (
        (
            a,
            b,
            {
                "travel_min": t,
                "length": ln,
                "highway": c,
                "geometry": g,
                "source_id": sid,
                "osmid": oid,
                "oneway": ow,
                "road": rd,
            },
        )
        for a, b, t, ln, c, g, sid, oid, ow, rd in zip(
            keys[ti[sel]].tolist(),
            keys[hi[sel]].tolist(),
            travel[p_sel].tolist(),
            length[p_sel].tolist(),
            classes[p_sel].tolist(),
            geoms.tolist(),
            ids[row[p_sel]].tolist(),
            osmid,
            (direction[p_sel] != 0).tolist(),
            p_sel.tolist(),
            strict=True,
        )
    )
    _add_edges(graph, edges)

    records = []
    for item in dropped:
        r = item["row"]
        records.append(
            {
                "source_id": ids[r],
                "osmid": _plain(roads["osmid"].iloc[r]) if "osmid" in roads else None,
                "highway": None
                if _is_blank(roads[class_field].iloc[r])
                else str(roads[class_field].iloc[r]),
                "reason": item["reason"],
                "geometry": item["geometry"],
            }
        )
    graph.graph["dropped"] = {
        "nodes": lost_nodes,
        "edges": int(len(keep_edge) - keep_edge.sum()),
        "roads": len({rec["source_id"] for rec in records}),
        "components": lost_components,
        "records": records,
    }
    logger.info(
        "road network: %d junctions, %d directed edges kept from %d road lines; dropped %d "
        "junctions and %d directed edges in %d pieces outside the largest strongly connected "
        "component, and %d lines without usable geometry",
        len(kept_idx),
        len(sel),
        len(roads),
        lost_nodes,
        graph.graph["dropped"]["edges"],
        lost_components,
        sum(1 for item in dropped if item["reason"] != _REASON_SCC),
    )
    if verbose:
        for rec in records:
            logger.info("dropped road %s (%s): %s", rec["source_id"], rec["highway"], rec["reason"])
    return graph


def _add_edges(graph: nx.MultiDiGraph, edges: Any) -> None:
    """Add ``(u, v, data)`` edges with integer keys 0, 1, … per node pair.

    The same result as ``graph.add_edges_from(edges)`` on a graph that has all the nodes and no
    edges yet, written straight into networkx's adjacency dicts because ``add_edges_from``
    costs about four times as much on a million edges.
    """
    succ, pred = graph._succ, graph._pred
    enabled = gc.isenabled()
    gc.disable()  # millions of new dicts would trigger full collections for nothing
    try:
        for u, v, data in edges:
            out = succ[u]
            keydict = out.get(v)
            if keydict is None:
                keydict = {0: data}
                out[v] = keydict
                pred[v][u] = keydict
            else:
                keydict[len(keydict)] = data
    finally:
        if enabled:
            gc.enable()
    nx._clear_cache(graph)


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
