"""build_network and the engine on real OpenStreetMap networks (© OpenStreetMap contributors).

Oracle: networkx itself on an independent graph of the raw edge rows (strongly connected
components) and on the built graph (Dijkstra).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pyproj
import pytest
import shapely

from fiveplans.analysis.engine import NetworkEngine
from fiveplans.analysis.network import build_network
from fiveplans.config import SourceConfig
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


def raw_graph(roads: gpd.GeoDataFrame) -> nx.MultiDiGraph:
    """The directed graph of the rows, by the test's own reading of `oneway`."""
    g = nx.MultiDiGraph()
    for u, v, ow in zip(roads["u"], roads["v"], roads["oneway"], strict=True):
        flag = str(ow).strip().lower()
        if flag in ("yes", "1", "true"):
            g.add_edge(int(u), int(v))
        elif flag == "-1":
            g.add_edge(int(v), int(u))
        else:
            g.add_edge(int(u), int(v))
            g.add_edge(int(v), int(u))
    return g


NAMES = [*OSM, "coquimbo_chile_aequilibrae_osm.gpkg"]


@pytest.fixture(scope="module", params=NAMES)
def network(request, real_data: Path) -> tuple[str, gpd.GeoDataFrame, nx.MultiDiGraph]:
    roads = load(real_data, request.param)
    return request.param, roads, build_network(roads, speeds_kmh=SPEEDS)


def test_largest_strongly_connected_component_matches_networkx(network) -> None:
    name, roads, g = network
    raw = raw_graph(roads)
    comps = sorted(nx.strongly_connected_components(raw), key=len, reverse=True)
    assert set(g.nodes) == comps[0]
    assert nx.number_strongly_connected_components(g) == 1
    dropped = g.graph["dropped"]
    assert dropped["components"] == len(comps) - 1
    assert dropped["nodes"] == raw.number_of_nodes() - len(comps[0])
    assert dropped["edges"] == raw.number_of_edges() - g.number_of_edges()
    if name == "coquimbo_chile_aequilibrae_osm.gpkg":
        assert len(roads) == 19_983 - 137
    if name == "shanghai_jingan.osm":  # cut at the bbox: fragmented
        assert dropped["components"] > 100


def test_shortest_times_match_networkx(network) -> None:
    _, _, g = network
    engine = NetworkEngine(g)
    rng = np.random.default_rng(3)
    nodes = list(g.nodes)
    sources = [nodes[i] for i in rng.choice(len(nodes), 4, replace=False)]
    for source in sources:
        ref = nx.single_source_dijkstra_path_length(g, source, weight="travel_min")
        row = engine.shortest(engine.index_of([source]), min_only=False)[0]
        assert np.isfinite(row).all()  # one strongly connected component
        got = row[engine.index_of(ref)]
        np.testing.assert_allclose(got, list(ref.values()), rtol=0, atol=1e-9)
    ref = nx.multi_source_dijkstra_path_length(g, sources, cutoff=5.0, weight="travel_min")
    dist, _ = engine.shortest(engine.index_of(sources), limit=5.0)
    assert {engine.nodes[i] for i in np.flatnonzero(np.isfinite(dist))} == set(ref)
    np.testing.assert_allclose(dist[engine.index_of(ref)], list(ref.values()), rtol=0, atol=1e-9)


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
