"""build_network and the engine on real OpenStreetMap networks (© OpenStreetMap contributors).

Oracle: networkx itself on an independent graph of the raw edge rows, with the test's own
reading of ``oneway`` and its own travel times (strongly connected components, Dijkstra,
descendants and ancestors of the cluster cores), and on the built graph.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pyproj
import pytest
import shapely

from fiveplans.analysis.logistics import assign_suppliers, network_pieces
from fiveplans.analysis.network import build_network
from fiveplans.config import SourceConfig
from fiveplans.errors import FiveplansWarning
from fiveplans.layers.loaders import load_layer
from fiveplans.layers.osm import read_osm_roads

SPEEDS = {
    "motorway": 100.0,
    "trunk": 80.0,
    "primary": 60.0,
    "secondary": 50.0,
    "tertiary": 40.0,
    "default": 30.0,
}

OSM = {
    "shenzhen_longgang_map.osm": "EPSG:4547",  # CGCS2000 3-degree GK, CM 114E
    "shanghai_jingan.osm": "EPSG:32651",
    "liechtenstein-latest.osm.pbf": "EPSG:32632",
    "helsinki.osm.pbf": "EPSG:32635",
}


def load(real_data: Path, name: str) -> gpd.GeoDataFrame:
    path = real_data / "roads" / name
    if name == "coquimbo_chile_aequilibrae_osm.gpkg":
        links = gpd.read_file(path, layer="links")
        links = links[links["link_type"] != "centroid_connector"]
        out = links.rename(columns={"a_node": "u", "b_node": "v", "link_type": "highway"})
        out["oneway"] = out["direction"].map({1: "yes", 0: "no", -1: "-1"})
        return out.to_crs("EPSG:32719")
    if name.startswith("shenzhen"):
        src = SourceConfig(key="roads", path=path, field="highway")
        return load_layer(src, working_crs=pyproj.CRS(OSM[name])).frame
    return read_osm_roads(path).to_crs(OSM[name])


def row_ids(roads: gpd.GeoDataFrame) -> list[str]:
    if "source_id" in roads.columns:
        return roads["source_id"].astype(str).tolist()
    return [str(i) for i in roads.index]


def raw_graph(roads: gpd.GeoDataFrame) -> nx.MultiDiGraph:
    """The directed graph of the rows, by the test's own reading of `oneway` and speeds.

    Edge key: the row id and the direction (1 drawn, -1 against); weight ``w``: planar length over the class speed (minutes).
    """
    g = nx.MultiDiGraph()
    lengths = roads.geometry.length.to_numpy()
    rows = zip(
        roads["u"],
        roads["v"],
        roads["oneway"],
        roads["highway"],
        lengths,
        row_ids(roads),
        strict=True,
    )
    for u, v, ow, cls, length, rid in rows:
        w = length / 1000 / SPEEDS.get(str(cls), SPEEDS["default"]) * 60
        flag = str(ow).strip().lower()
        if flag in ("yes", "1", "true"):
            g.add_edge(int(u), int(v), key=(rid, 1), w=w)
        elif flag == "-1":
            g.add_edge(int(v), int(u), key=(rid, -1), w=w)
        else:
            g.add_edge(int(u), int(v), key=(rid, 1), w=w)
            g.add_edge(int(v), int(u), key=(rid, -1), w=w)
    return g


NAMES = [*OSM, "coquimbo_chile_aequilibrae_osm.gpkg"]


@pytest.fixture(scope="module", params=NAMES)
def network(request, real_data: Path) -> tuple[str, gpd.GeoDataFrame, nx.MultiDiGraph]:
    roads = load(real_data, request.param)
    return request.param, roads, build_network(roads, speeds_kmh=SPEEDS)


def test_every_drawn_road_is_kept(network) -> None:
    """The network as drawn (CONTRACT §2): every junction and directed edge of the rows."""
    name, roads, g = network
    raw = raw_graph(roads)
    assert set(g.nodes) == set(raw.nodes)
    assert g.number_of_edges() == raw.number_of_edges()
    assert g.graph["dropped"]["roads"] == 0
    comps = list(nx.strongly_connected_components(raw))
    assert g.graph["components"] == {"count": len(comps), "largest": max(map(len, comps))}
    if name == "coquimbo_chile_aequilibrae_osm.gpkg":
        assert len(roads) == 19_983 - 137


def test_largest_strongly_connected_component_matches_networkx(network) -> None:
    name, roads, _ = network
    g = build_network(roads, speeds_kmh=SPEEDS, keep="largest_scc")
    raw = raw_graph(roads)
    comps = sorted(nx.strongly_connected_components(raw), key=len, reverse=True)
    assert set(g.nodes) == comps[0]
    assert nx.number_strongly_connected_components(g) == 1
    dropped = g.graph["dropped"]
    assert dropped["components"] == len(comps) - 1
    assert dropped["nodes"] == raw.number_of_nodes() - len(comps[0])
    assert dropped["edges"] == raw.number_of_edges() - g.number_of_edges()
    if name == "shanghai_jingan.osm":  # cut at the bbox: fragmented
        assert dropped["components"] > 100


def test_shortest_times_match_networkx_on_the_whole_graph(network) -> None:
    _, roads, g = network
    raw = raw_graph(roads)
    engine = g.engine
    rng = np.random.default_rng(3)
    nodes = list(g.nodes)
    sources = [nodes[i] for i in rng.choice(len(nodes), 4, replace=False)]
    for source in sources:
        ref = nx.single_source_dijkstra_path_length(raw, source, weight="w")
        row = engine.shortest(engine.index_of([source]), min_only=False)[0]
        assert {engine.nodes[i] for i in np.flatnonzero(np.isfinite(row))} == set(ref)
        np.testing.assert_allclose(row[engine.index_of(ref)], list(ref.values()), atol=1e-9)
    ref = nx.multi_source_dijkstra_path_length(raw, sources, cutoff=5.0, weight="w")
    dist, _ = engine.shortest(engine.index_of(sources), limit=5.0)
    assert {engine.nodes[i] for i in np.flatnonzero(np.isfinite(dist))} == set(ref)
    np.testing.assert_allclose(dist[engine.index_of(ref)], list(ref.values()), rtol=0, atol=1e-9)


def test_network_pieces_match_networkx(network) -> None:
    """Roads no core reaches / that cannot get back, against descendants and ancestors."""
    _, roads, g = network
    raw = raw_graph(roads)
    rng = np.random.default_rng(11)
    nodes = list(g.nodes)
    picked = [nodes[i] for i in rng.choice(len(nodes), 3, replace=False)]
    cores = gpd.GeoDataFrame(
        {"source_id": [f"c{i}" for i in range(3)]},
        geometry=[shapely.Point(g.nodes[k]["x"], g.nodes[k]["y"]) for k in picked],
        crs=g.graph["crs"],
    )
    down = set(picked).union(*(nx.descendants(raw, k) for k in picked))
    up = set(picked).union(*(nx.ancestors(raw, k) for k in picked))
    status: dict[str, str] = {}
    edges_of: dict[str, list[tuple[int, int]]] = {}
    for t, h, (rid, _) in raw.edges(keys=True):
        edges_of.setdefault(rid, []).append((t, h))
    for rid, dirs in edges_of.items():
        if not any(t in down and h in up for t, h in dirs):
            status[rid] = "no_return" if any(t in down for t, _ in dirs) else "unreached"
    pieces = network_pieces(g, cores)
    assert dict(zip(pieces["source_id"], pieces["status"], strict=True)) == status
    lengths = dict(zip(row_ids(roads), roads.geometry.length, strict=True))
    np.testing.assert_allclose(pieces["length_m"], [lengths[r] for r in pieces["source_id"]])


def test_points_join_the_nearest_drawn_road(real_data: Path) -> None:
    """On a fragmented extract, points beside roads outside the largest strongly connected
    component join their own road (reached or not, with the reason), where the
    largest-component habit joins them to roads farther away."""
    roads = load(real_data, "shanghai_jingan.osm")
    full = build_network(roads, speeds_kmh=SPEEDS)
    scc = build_network(roads, speeds_kmh=SPEEDS, keep="largest_scc")
    kept = set(scc.nodes)
    lost = roads[~roads["u"].isin(kept) | ~roads["v"].isin(kept)]
    lost = lost[lost.geometry.length > 50]
    assert len(lost) > 20
    spots = shapely.line_interpolate_point(lost.geometry.to_numpy(), 0.5, normalized=True)
    sup = gpd.GeoDataFrame(
        {"source_id": [f"s{i}" for i in range(len(spots))]}, geometry=spots, crs=roads.crs
    )
    start = next(iter(kept))
    core = gpd.GeoDataFrame(
        {"source_id": ["c"]},
        geometry=[shapely.Point(scc.nodes[start]["x"], scc.nodes[start]["y"])],
        crs=roads.crs,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FiveplansWarning)  # long access legs on the SCC graph
        on_scc = assign_suppliers(scc, core, sup, radius_min=60)
    on_full = assign_suppliers(full, core, sup, radius_min=60)
    assert on_full["snap_m"].max() < 1e-6  # each point joins its own road
    assert on_scc["snap_m"].median() > 20
    # the reason agrees with networkx reachability on the raw graph: a point is reachable when
    # the tail of a directed edge of a road it lies on is reached from the core's junction
    raw = raw_graph(roads)
    down = nx.descendants(raw, start) | {start}
    tails: dict[str, set[int]] = {}
    for t, _, (rid, _) in raw.edges(keys=True):
        tails.setdefault(rid, set()).add(t)
    ids = np.array(row_ids(roads), dtype=object)
    p_idx, r_idx = shapely.STRtree(roads.geometry.to_numpy()).query(
        spots, predicate="dwithin", distance=1e-6
    )
    reachable = np.zeros(len(spots), dtype=bool)
    for p, r in zip(p_idx, r_idx, strict=True):
        reachable[p] |= bool(tails.get(ids[r], set()) & down)
    got = on_full["reason"].to_numpy()
    assert ((got == "unreachable") == ~reachable).all()
    assert (got == "unreachable").sum() > 0 and reachable.sum() > 0


def test_travel_min_follows_the_class_speed(network) -> None:
    name, roads, g = network
    for _, _, d in list(g.edges(data=True))[:500]:
        speed = SPEEDS.get(d["highway"], SPEEDS["default"])
        assert d["travel_min"] == pytest.approx(d["geometry"].length / 1000 / speed * 60)
        assert d["length"] == pytest.approx(d["geometry"].length)
    if name == "coquimbo_chile_aequilibrae_osm.gpkg":  # planar UTM length vs aequilibrae's
        lengths = roads.geometry.length.to_numpy()
        rel = np.abs(lengths - roads["distance"].to_numpy()) / roads["distance"].to_numpy()
        assert np.median(rel) < 0.005


def test_longgang_crossings_are_not_junctions(real_data: Path) -> None:
    roads = load(real_data, "shenzhen_longgang_map.osm")
    g = build_network(roads, speeds_kmh=SPEEDS)
    geoms = roads.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="crosses")
    pairs = a < b
    a, b = a[pairs], b[pairs]
    inter = shapely.intersection(geoms[a], geoms[b])
    parts, which = shapely.get_parts(inter, return_index=True)
    ends = shapely.multipoints(
        np.stack(
            [
                shapely.get_coordinates(shapely.get_point(geoms[x], i))
                for x in (a, b)
                for i in (0, -1)
            ],
            axis=1,
        )
    )
    # points where two edges cross in the plane, away from the ends (junctions) of both
    interior = (shapely.get_type_id(parts) == 0) & (shapely.distance(parts, ends[which]) > 0.5)
    crossings = parts[interior]
    assert len(crossings) > 20  # expressway interchanges, bridges over roads
    xy = np.array([(d["x"], d["y"]) for _, d in g.nodes(data=True)])
    near = shapely.STRtree(shapely.points(xy)).query(crossings, predicate="dwithin", distance=0.5)
    assert near.shape[1] == 0  # no node where roads merely cross
    ids = set(roads["u"]) | set(roads["v"])
    assert set(g.nodes) <= ids  # no invented junctions
    motorway = roads[roads["highway"] == "motorway"]
    assert len(motorway) and g.graph["crs"].equals(pyproj.CRS("EPSG:4547"))
