"""NetworkEngine: scipy csgraph times equal networkx's, and points join per CONTRACT §2."""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point

from fiveplans.analysis.engine import NetworkEngine, engine_for
from fiveplans.analysis.network import build_network
from fiveplans.errors import DataError

CRS = "EPSG:4547"
X0, Y0 = 500_000.0, 3_800_000.0
SPEEDS = {"primary": 60.0, "default": 30.0}  # primary: 1 min per km; access legs 2 min per km


def random_multidigraph(seed: int, n: int = 60, m: int = 260) -> nx.MultiDiGraph:
    rng = np.random.default_rng(seed)
    g = nx.MultiDiGraph()
    g.add_nodes_from((f"n{i}", {"x": float(i), "y": 0.0}) for i in range(n))
    for _ in range(m):
        a, b = rng.integers(0, n, 2)
        w = 0.0 if rng.random() < 0.05 else float(rng.exponential(3.0))
        g.add_edge(f"n{a}", f"n{b}", travel_min=w)
    for _ in range(40):  # parallel edges with other times
        a, b, _k = list(g.edges(keys=True))[int(rng.integers(g.number_of_edges()))]
        g.add_edge(a, b, travel_min=float(rng.exponential(3.0)))
    return g


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("limit", [math.inf, 4.0])
def test_times_equal_networkx_on_random_multigraphs(seed: int, limit: float) -> None:
    g = random_multidigraph(seed)
    engine = NetworkEngine(g)
    cutoff = None if math.isinf(limit) else limit
    for source in ["n0", "n7", "n33"]:
        ref = nx.single_source_dijkstra_path_length(g, source, cutoff=cutoff, weight="travel_min")
        row = engine.shortest(engine.index_of([source]), limit=limit, min_only=False)[0]
        got = {engine.nodes[i]: row[i] for i in np.flatnonzero(np.isfinite(row))}
        assert set(got) == set(ref)
        for node, t in ref.items():
            assert got[node] == pytest.approx(t, abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_multi_source_nearest_equals_networkx(seed: int) -> None:
    g = random_multidigraph(seed)
    engine = NetworkEngine(g)
    sources = ["n1", "n20", "n40"]
    ref = nx.multi_source_dijkstra_path_length(g, sources, cutoff=6.0, weight="travel_min")
    dist, which = engine.shortest(engine.index_of(sources), limit=6.0)
    assert {engine.nodes[i] for i in np.flatnonzero(np.isfinite(dist))} == set(ref)
    rows = engine.shortest(engine.index_of(sources), limit=6.0, min_only=False)
    for node, t in ref.items():
        i = engine.index_of([node])[0]
        assert dist[i] == pytest.approx(t, abs=1e-9)
        assert rows[which[i], i] == pytest.approx(t, abs=1e-9)  # the named source is a nearest one
    assert (which[~np.isfinite(dist)] == -1).all()


def test_parallel_edges_collapse_to_least_time() -> None:
    g = nx.MultiDiGraph()
    g.add_edge("a", "b", travel_min=5.0)
    g.add_edge("a", "b", travel_min=2.0)
    g.add_edge("a", "b", travel_min=0.0)
    g.add_edge("b", "a", travel_min=7.0)
    engine = NetworkEngine(g)
    assert engine.csr.nnz == 2
    assert engine.shortest([0], min_only=False)[0].tolist() == [0.0, 0.0]
    assert engine.shortest([1], min_only=False)[0].tolist() == [7.0, 0.0]


def test_bad_weights_are_refused() -> None:
    g = nx.MultiDiGraph()
    g.add_edge("a", "b", travel_min=-1.0)
    with pytest.raises(DataError, match="finite and ≥ 0"):
        NetworkEngine(g)
    with pytest.raises(DataError, match="no nodes"):
        NetworkEngine(nx.MultiDiGraph())


# -- a 3 x 3 grid of 1 km primary roads ------------------------------------------------------
def grid(oneway_edge: bool = False) -> nx.MultiDiGraph:
    rows = []
    for i in range(3):
        for j in range(2):
            rows.append(((j * 1000, i * 1000), ((j + 1) * 1000, i * 1000)))
            rows.append(((i * 1000, j * 1000), (i * 1000, (j + 1) * 1000)))
    lines = [LineString([(X0 + a[0], Y0 + a[1]), (X0 + b[0], Y0 + b[1])]) for a, b in rows]
    oneway = ["no"] * len(lines)
    if oneway_edge:
        oneway[0] = "yes"  # (0,0) -> (1000,0) only
    frame = gpd.GeoDataFrame({"highway": "primary", "oneway": oneway}, geometry=lines, crs=CRS)
    return build_network(frame, speeds_kmh=SPEEDS)


def node_at(engine: NetworkEngine, x: float, y: float) -> int:
    (i,) = np.flatnonzero((engine.x == X0 + x) & (engine.y == Y0 + y))
    return int(i)


def test_snap_access_leg_and_partial_edge() -> None:
    engine = engine_for(grid())
    snap = engine.snap([Point(X0 + 300, Y0 - 40)])
    assert snap.distance_m[0] == pytest.approx(40.0)
    assert snap.access_min[0] == pytest.approx(40 / 1000 / 30 * 60)  # default speed
    assert snap.location[0].equals(Point(X0 + 300, Y0))
    assert len(snap.tie_edge) == 2  # both directions of the two-way road
    dist = engine.from_points(snap)[0]
    access = 0.08
    assert dist[node_at(engine, 1000, 0)] == pytest.approx(access + 0.7)
    assert dist[node_at(engine, 0, 0)] == pytest.approx(access + 0.3)
    assert dist[node_at(engine, 2000, 2000)] == pytest.approx(access + 0.7 + 3.0)


def test_snap_respects_oneway_from_the_core_outward() -> None:
    engine = NetworkEngine(grid(oneway_edge=True))
    snap = engine.snap([Point(X0 + 300, Y0 - 40)])
    assert len(snap.tie_edge) == 1
    dist = engine.from_points(snap)[0]
    # leaving along the one-way road only: (0,0) is reached round the block
    assert dist[node_at(engine, 1000, 0)] == pytest.approx(0.08 + 0.7)
    assert dist[node_at(engine, 0, 0)] == pytest.approx(0.08 + 0.7 + 3.0)
    # arriving: a target on the one-way road is entered from its tail (0,0) only
    target = engine.snap([Point(X0 + 600, Y0 + 10)])
    start = engine.snap([Point(X0 + 1000, Y0 + 1000)])
    t = engine.od_matrix(start, target)[0, 0]
    assert t == pytest.approx(2.0 + 0.6 + 10 / 1000 / 30 * 60)


def test_same_edge_points_reach_each_other_directly() -> None:
    engine = NetworkEngine(grid())
    a = engine.snap([Point(X0 + 200, Y0 + 5)])
    b = engine.snap([Point(X0 + 700, Y0 - 20)])
    leg = lambda m: m / 1000 / 30 * 60  # noqa: E731
    assert engine.od_matrix(a, b)[0, 0] == pytest.approx(leg(5) + 0.5 + leg(20))
    assert engine.od_matrix(b, a)[0, 0] == pytest.approx(leg(20) + 0.5 + leg(5))


def test_points_on_a_junction_tie_all_its_edges() -> None:
    engine = NetworkEngine(grid())
    snap = engine.snap([Point(X0 + 1000, Y0 + 1000)])
    assert snap.distance_m[0] == 0
    assert len(snap.tie_edge) == 8  # 4 roads meet there, both directions each
    dist = engine.from_points(snap)[0]
    assert dist[node_at(engine, 1000, 1000)] == 0
    assert dist[node_at(engine, 0, 0)] == pytest.approx(2.0)


def oracle_od(g: nx.MultiDiGraph, src: list[Point], dst: list[Point], leg_kmh: float) -> np.ndarray:
    """Insert every point into a copy of the graph by splitting its nearest road, then Dijkstra."""
    h = nx.MultiDiGraph()
    roads: dict[int, list] = {}
    for u, v, d in g.edges(data=True):
        roads.setdefault(d["road"], []).append((u, v, d))
    for pair in roads.values():
        geom = pair[0][2]["geometry"]
        cuts = []
        for name, p in [(("s", i), p) for i, p in enumerate(src)] + [
            (("t", i), p) for i, p in enumerate(dst)
        ]:
            near = min(
                (dd["geometry"].distance(p) for _, _, dd in g.edges(data=True)), default=math.inf
            )
            if geom.distance(p) <= near + 1e-6:
                cuts.append((geom.project(p, normalized=True), name, geom.distance(p)))
        u0, v0 = pair[0][0], pair[0][1]
        chain = [(0.0, u0), *sorted((f, name) for f, name, _ in cuts), (1.0, v0)]
        tt = pair[0][2]["travel_min"]
        both = len(pair) == 2
        for (fa, a), (fb, b) in itertools.pairwise(chain):
            h.add_edge(("x", a), ("x", b), w=(fb - fa) * tt)
            if both:
                h.add_edge(("x", b), ("x", a), w=(fb - fa) * tt)
        for _, name, d in cuts:
            h.add_edge(name, ("x", name), w=d / 1000 / leg_kmh * 60)
            h.add_edge(("x", name), name, w=d / 1000 / leg_kmh * 60)
    out = np.full((len(src), len(dst)), math.inf)
    for i in range(len(src)):
        lengths = nx.single_source_dijkstra_path_length(h, ("s", i), weight="w")
        for j in range(len(dst)):
            out[i, j] = lengths.get(("t", j), math.inf)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_od_matrix_equals_split_graph_oracle(seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = grid(oneway_edge=bool(seed % 2))
    # points off the roads, away from junction ties, each on its own road
    spots = [(300, -50), (1450, 1030), (2040, 620), (760, 1980), (-30, 1350), (1620, 2090)]
    rng.shuffle(spots)
    pts = [Point(X0 + x + rng.uniform(-5, 5), Y0 + y + rng.uniform(-5, 5)) for x, y in spots]
    src, dst = pts[:3], pts[3:]
    engine = NetworkEngine(g)
    got = engine.od_matrix(engine.snap(src), engine.snap(dst))
    np.testing.assert_allclose(got, oracle_od(g, src, dst, 30.0), rtol=0, atol=1e-9)


def test_catchment_and_isochrone() -> None:
    g = grid()
    engine = NetworkEngine(g)
    snap = engine.snap([Point(X0, Y0), Point(X0 + 2000, Y0 + 2000)])
    dist, which = engine.catchment(snap, limit=2.0)
    ref = nx.multi_source_dijkstra_path_length(
        g,
        [
            n
            for n, d in g.nodes(data=True)
            if (d["x"], d["y"]) in {(X0, Y0), (X0 + 2000, Y0 + 2000)}
        ],
        cutoff=2.0,
        weight="travel_min",
    )
    for node, t in ref.items():
        assert dist[engine.index_of([node])[0]] == pytest.approx(t, abs=1e-12)
    assert which[node_at(engine, 0, 1000)] == 0 and which[node_at(engine, 2000, 1000)] == 1
    assert dist[node_at(engine, 2000, 0)] == 2.0  # exactly at the limit: included
    reached, times = engine.isochrone(engine.index_of([next(iter(g))])[0], limit=1.0)
    assert len(reached) == len(times) == 3  # the corner and its two neighbours


def test_edges_without_geometry_are_straight_and_cache_is_refreshed() -> None:
    g = nx.MultiDiGraph(crs=CRS)
    g.add_node("a", x=X0, y=Y0)
    g.add_node("b", x=X0 + 1000, y=Y0)
    g.add_edge("a", "b", travel_min=1.0)
    g.add_edge("b", "a", travel_min=1.0)
    engine = engine_for(g)
    assert engine_for(g) is engine
    snap = engine.snap([Point(X0 + 250, Y0 + 30)])
    assert shapely.equals(snap.location[0], Point(X0 + 250, Y0))
    g.add_node("c", x=X0, y=Y0 + 1000)
    assert engine_for(g) is not engine


@pytest.mark.parametrize("oneway_edge", [False, True])
def test_nearest_source_equals_the_least_of_the_od_matrix(oneway_edge: bool) -> None:
    """One search from all sources gives each target the least time over the OD rows."""
    engine = NetworkEngine(grid(oneway_edge=oneway_edge))
    rng = np.random.default_rng(4)
    src = engine.snap([Point(X0 + x, Y0 + y) for x, y in rng.uniform(-50, 2050, (3, 2))])
    dst = engine.snap([Point(X0 + x, Y0 + y) for x, y in rng.uniform(-50, 2050, (40, 2))])
    same_edge = engine.snap([Point(X0 + 350, Y0 + 3), Point(X0 + 900, Y0 - 7)])
    for targets in (dst, same_edge):
        for limit in (math.inf, 1.5):
            od = engine.od_matrix(src if targets is dst else same_edge.subset([0]), targets)
            best, which = engine.nearest_source(
                src if targets is dst else same_edge.subset([0]), targets, limit=limit
            )
            want = od.min(axis=0)
            want = np.where(want <= limit, want, np.inf)
            np.testing.assert_allclose(best, want, rtol=0, atol=1e-12)
            hit = np.isfinite(want)
            np.testing.assert_array_equal(which[hit], od.argmin(axis=0)[hit])
            assert (which[~hit] == -1).all()


def random_roads(seed: int, n: int = 400) -> gpd.GeoDataFrame:
    """Random crooked two-way and one-way roads between random junctions (with u/v ids)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 5000, (120, 2)) + np.array([X0, Y0])
    a, b = rng.integers(0, 120, n), rng.integers(0, 120, n)
    ok = a != b
    a, b = a[ok], b[ok]
    mid = (xy[a] + xy[b]) / 2 + rng.normal(0, 80, (len(a), 2))
    return gpd.GeoDataFrame(
        {
            "u": a,
            "v": b,
            "highway": rng.choice(["primary", "residential"], len(a)),
            "oneway": np.where(rng.random(len(a)) < 0.3, "yes", "no"),
        },
        geometry=shapely.linestrings(np.stack([xy[a], mid, xy[b]], axis=1)),
        crs=CRS,
    )


@pytest.mark.parametrize("seed", range(3))
def test_snap_by_road_lines_equals_snap_by_directed_edges(seed: int) -> None:
    """build_network's engine indexes each road line once (its windows, then the tree's own
    nearest search for far points); the snap equals one over every directed edge's geometry."""
    g = build_network(random_roads(seed), speeds_kmh=SPEEDS)
    own = g.engine
    ref = NetworkEngine(g)  # reads every directed edge (and its reversed geometry) back
    rng = np.random.default_rng(seed)
    near = rng.uniform(0, 5000, (300, 2)) + np.array([X0, Y0])
    far = rng.uniform(-1e5, 1e5, (20, 2)) + np.array([X0 + 2500, Y0 + 2500])  # beyond windows
    on_nodes = np.column_stack([own.x[:10], own.y[:10]])  # junctions: every edge there ties
    pts = shapely.points(np.vstack([near, far, on_nodes]))
    a, b = own.snap(pts), ref.snap(pts)
    np.testing.assert_allclose(a.distance_m, b.distance_m, rtol=1e-12, atol=1e-9)
    # the same edges tie for each point (ref's edges are numbered the same: graph order)
    key = {
        (t, h, r): i
        for i, (t, h, r) in enumerate(zip(ref.edge_tail, ref.edge_head, ref.edge_road, strict=True))
    }
    mapped = np.array(
        [key[(own.edge_tail[e], own.edge_head[e], own.edge_road[e])] for e in a.tie_edge]
    )
    assert sorted(zip(a.tie_point.tolist(), mapped.tolist(), strict=True)) == sorted(
        zip(b.tie_point.tolist(), b.tie_edge.tolist(), strict=True)
    )
    order_a = np.lexsort((mapped, a.tie_point))
    order_b = np.lexsort((b.tie_edge, b.tie_point))
    np.testing.assert_allclose(a.tie_fraction[order_a], b.tie_fraction[order_b], atol=1e-9)
    assert shapely.equals_exact(a.location, b.location, tolerance=1e-6).all()
    # and the edge geometries made on demand are the graph's
    index = {k: i for i, k in enumerate(own.nodes)}
    edge_of = {
        (t, h, r): i
        for i, (t, h, r) in enumerate(zip(own.edge_tail, own.edge_head, own.edge_road, strict=True))
    }
    for u, v, d in g.edges(data=True):
        i = edge_of[(index[u], index[v], d["road"])]
        assert shapely.equals_exact(own.edge_geom[i], d["geometry"], tolerance=0)
