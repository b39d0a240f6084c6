"""build_network on tiny inline road layers (CONTRACT §2 travel model)."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point

from fiveplans.analysis.engine import NetworkEngine, engine_for
from fiveplans.analysis.network import RoadGraph, build_network, dropped_roads, oneway_direction
from fiveplans.errors import ConfigError, CRSError, DataError, FiveplansWarning

CRS = "EPSG:4547"
X0, Y0 = 500_000.0, 3_800_000.0
SPEEDS = {"motorway": 100.0, "primary": 60.0, "default": 30.0}


def line(*pts: tuple[float, float]) -> LineString:
    return LineString([(X0 + x, Y0 + y) for x, y in pts])


def roads(rows: list[dict], crs: str = CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def ring(**extra) -> list[dict]:
    """A two-way square ring A(1)-B(2)-C(3)-D(4), 1 km sides, primary."""
    pts = {1: (0, 0), 2: (1000, 0), 3: (1000, 1000), 4: (0, 1000)}
    rows = []
    for a, b in ((1, 2), (2, 3), (3, 4), (4, 1)):
        rows.append(
            {"u": a, "v": b, "highway": "primary", "oneway": "no", "geometry": line(pts[a], pts[b])}
            | extra
        )
    return rows


def minutes(length_m: float, kmh: float) -> float:
    return length_m / 1000.0 / kmh * 60.0


def test_travel_min_is_length_over_class_speed() -> None:
    rows = [
        {"u": 1, "v": 2, "highway": "motorway", "geometry": line((0, 0), (3000, 4000))},
        {"u": 2, "v": 3, "highway": "motorway_link", "geometry": line((3000, 4000), (3000, 5000))},
        {"u": 3, "v": 1, "highway": "track", "geometry": line((3000, 5000), (0, 5000), (0, 0))},
    ]
    g = build_network(roads(rows), speeds_kmh=SPEEDS)
    e = g.edges[1, 2, 0]
    assert e["length"] == pytest.approx(5000.0)
    assert e["travel_min"] == pytest.approx(minutes(5000, 100))
    assert e["highway"] == "motorway"
    # motorway_link is not folded into motorway: unlisted classes run at `default`
    assert g.edges[2, 3, 0]["travel_min"] == pytest.approx(minutes(1000, 30))
    assert g.edges[3, 1, 0]["travel_min"] == pytest.approx(minutes(8000, 30))
    g2 = build_network(roads(rows), speeds_kmh=SPEEDS | {"motorway_link": 50})
    assert g2.edges[2, 3, 0]["travel_min"] == pytest.approx(minutes(1000, 50))
    # both directions, geometry oriented tail -> head, node coordinates, CRS
    back = g.edges[2, 1, 0]["geometry"]
    assert shapely.equals_exact(back, shapely.reverse(e["geometry"]), 0)
    assert Point(back.coords[0]).equals(Point(X0 + 3000, Y0 + 4000))
    assert (g.nodes[2]["x"], g.nodes[2]["y"]) == (X0 + 3000, Y0 + 4000)
    assert g.graph["crs"].equals(gpd.GeoSeries([], crs=CRS).crs)
    assert e["source_id"] == "0"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", 1),
        ("YES", 1),
        ("1", 1),
        ("true", 1),
        (True, 1),
        (1, 1),
        ("-1", -1),
        (-1, -1),
        ("reverse", -1),
        ("no", 0),
        (None, 0),
        (float("nan"), 0),
        ("reversible", 0),
        (False, 0),
    ],
)
def test_oneway_values(value: object, expected: int) -> None:
    assert oneway_direction(value) == expected


def test_oneway_yes_and_minus_one() -> None:
    """A one-way loop 1 -> 2 -> 3 -> 4 -> 1, written four ways, plus a two-way chord 1-3."""
    rows = ring()
    rows[0]["oneway"] = "yes"  # drawn 1 -> 2
    rows[1]["oneway"] = "1"  # drawn 2 -> 3
    rows[2] |= {"u": 4, "v": 3, "oneway": "-1", "geometry": line((0, 1000), (1000, 1000))}
    rows[3]["oneway"] = True  # drawn 4 -> 1
    rows.append(
        {
            "u": 1,
            "v": 3,
            "highway": "primary",
            "oneway": "no",
            "geometry": line((0, 0), (1000, 1000)),
        }
    )
    g = build_network(roads(rows), speeds_kmh=SPEEDS)
    assert set(g.nodes) == {1, 2, 3, 4}
    assert sorted((u, v) for u, v, _ in g.edges(keys=True)) == [
        (1, 2),
        (1, 3),
        (2, 3),
        (3, 1),
        (3, 4),
        (4, 1),
    ]
    geom = g.edges[3, 4, 0]["geometry"]  # driven against its drawing: starts at node 3
    assert Point(geom.coords[0]).equals(Point(X0 + 1000, Y0 + 1000))
    assert g.edges[3, 4, 0]["oneway"] and not g.edges[1, 3, 0]["oneway"]
    # the one-way detour counts: 2 -> 1 goes 2 -> 3 -> 1
    t = nx.shortest_path_length(g, 2, 1, weight="travel_min")
    assert t == pytest.approx(minutes(1000 + 1000 * 2**0.5, 60))


def test_one_way_dead_end_is_kept_by_default() -> None:
    """The network as drawn (CONTRACT §2): a junction you can enter but not leave stays."""
    rows = ring()
    rows[0]["oneway"] = "yes"  # 1 -> 2
    rows[1]["oneway"] = "-1"  # 3 -> 2: node 2 can be entered but not left
    g = build_network(roads(rows), speeds_kmh=SPEEDS)
    assert isinstance(g, RoadGraph) and g.graph["keep"] == "all"
    assert set(g.nodes) == {1, 2, 3, 4}
    assert sorted((u, v) for u, v in g.edges()) == [(1, 2), (1, 4), (3, 2), (3, 4), (4, 1), (4, 3)]
    assert g.graph["dropped"] | {"records": None} == {
        "nodes": 0,
        "edges": 0,
        "roads": 0,
        "components": 0,
        "records": None,
    }
    assert g.graph["components"] == {"count": 2, "largest": 3}
    # routing is directional on the whole graph: 2 is reached, nothing leaves it
    assert nx.shortest_path_length(g, 4, 2, weight="travel_min") == pytest.approx(2.0)
    assert not nx.has_path(g, 2, 1)
    engine = g.engine
    dist, _ = engine.shortest(engine.index_of([2]))
    assert np.isfinite(dist).sum() == 1


def test_one_way_dead_end_is_dropped_with_largest_scc() -> None:
    rows = ring()
    rows[0]["oneway"] = "yes"  # 1 -> 2
    rows[1]["oneway"] = "-1"  # 3 -> 2: node 2 can be entered but not left
    g = build_network(roads(rows), speeds_kmh=SPEEDS, keep="largest_scc")
    assert set(g.nodes) == {1, 3, 4}
    assert g.graph["dropped"] | {"records": None} == {
        "nodes": 1,
        "edges": 2,
        "roads": 2,
        "components": 1,
        "records": None,
    }


def test_parallel_edges_are_kept() -> None:
    rows = ring()
    rows.append(
        {
            "u": 1,
            "v": 2,
            "highway": "motorway",
            "oneway": "no",
            "geometry": line((0, 0), (500, -300), (1000, 0)),
        }
    )
    g = build_network(roads(rows), speeds_kmh=SPEEDS)
    assert g.number_of_edges(1, 2) == 2 and g.number_of_edges(2, 1) == 2
    times = sorted(d["travel_min"] for d in g[1][2].values())
    length = 2 * float(np.hypot(500, 300))
    assert times == pytest.approx(sorted([minutes(1000, 60), minutes(length, 100)]))
    # what networkx's own API would have built
    ref = nx.MultiDiGraph()
    ref.add_edges_from(g.edges(keys=True, data=True))
    assert nx.utils.edges_equal(list(g.edges(keys=True)), list(ref.edges(keys=True)))
    for node in g:
        assert set(g.predecessors(node)) == set(ref.predecessors(node))
        assert set(g.successors(node)) == set(ref.successors(node))


def test_crossing_lines_are_not_junctions_by_ids_or_by_ends() -> None:
    """Two diagonals cross (a bridge over a road); the crossing is no node."""
    rows = ring()
    rows.append({"u": 1, "v": 3, "highway": "motorway", "geometry": line((0, 0), (1000, 1000))})
    rows.append({"u": 2, "v": 4, "highway": "primary", "geometry": line((1000, 0), (0, 1000))})
    for frame in (roads(rows), roads(rows).drop(columns=["u", "v"])):
        g = build_network(frame, speeds_kmh=SPEEDS)
        assert g.number_of_nodes() == 4
        centre = Point(X0 + 500, Y0 + 500)
        assert min(centre.distance(Point(d["x"], d["y"])) for _, d in g.nodes(data=True)) > 700
        # no route turns at the crossing: 1 -> 4 is the ring side, not half of each diagonal
        t = nx.shortest_path_length(g, *_key_at(g, (0, 0), (0, 1000)), weight="travel_min")
        assert t == pytest.approx(minutes(1000, 60))


def _key_at(g: nx.MultiDiGraph, *xys: tuple[float, float]) -> list:
    out = []
    for x, y in xys:
        (key,) = [n for n, d in g.nodes(data=True) if (d["x"], d["y"]) == (X0 + x, Y0 + y)]
        out.append(key)
    return out


def test_ends_snap_within_snap_m_only() -> None:
    rows = [
        {"highway": "primary", "geometry": line((0, 0), (1000, 0))},
        {"highway": "primary", "geometry": line((1000.3, 0), (1000, 1000))},  # 0.3 m gap
        {"highway": "primary", "geometry": line((1000, 1000), (0, 0))},
        {"highway": "primary", "geometry": line((0, 3000), (0, 2000))},  # a separate line
    ]
    g = build_network(roads(rows), speeds_kmh=SPEEDS, snap_m=0.5, keep="largest_scc")
    assert g.number_of_nodes() == 3  # the 0.3 m gap closed; the separate line dropped
    xs = sorted(d["x"] - X0 for _, d in g.nodes(data=True))
    assert xs == pytest.approx([0.0, 1000.0, 1000.15])
    g_all = build_network(roads(rows), speeds_kmh=SPEEDS, snap_m=0.5)  # the separate line kept
    assert g_all.number_of_nodes() == 5
    g_tight = build_network(roads(rows), speeds_kmh=SPEEDS, snap_m=0.1, keep="largest_scc")
    xs = sorted(d["x"] - X0 for _, d in g_tight.nodes(data=True))
    assert xs == pytest.approx([0.0, 1000.0, 1000.0, 1000.3])  # the gap stays open


def test_largest_strongly_connected_component_kept_and_dropped_reported() -> None:
    rows = ring(source_id=None)
    for i, r in enumerate(rows):
        r["source_id"] = f"ring{i}"
    rows.append(  # one-way spur out of the ring: you cannot come back
        {
            "source_id": "spur",
            "u": 2,
            "v": 5,
            "highway": "primary",
            "oneway": "yes",
            "geometry": line((1000, 0), (2000, 0)),
        }
    )
    rows.append(  # an island far away
        {
            "source_id": "island",
            "u": 7,
            "v": 8,
            "highway": "primary",
            "oneway": "no",
            "geometry": line((5000, 5000), (6000, 5000)),
        }
    )
    rows.append({"source_id": "empty", "u": 9, "v": 10, "highway": "primary", "geometry": None})
    frame = roads(rows)
    g = build_network(frame, speeds_kmh=SPEEDS, keep="largest_scc")
    # oracle: networkx SCCs of the full directed graph
    full = nx.MultiDiGraph()
    for r in rows[:-1]:
        full.add_edge(r["u"], r["v"])
        if r["oneway"] != "yes":
            full.add_edge(r["v"], r["u"])
    comps = sorted(nx.strongly_connected_components(full), key=len, reverse=True)
    assert set(g.nodes) == comps[0]
    dropped = g.graph["dropped"]
    assert dropped["nodes"] == len(set(full) - comps[0])
    assert dropped["edges"] == full.number_of_edges() - g.number_of_edges()
    assert dropped["components"] == len(comps) - 1
    table = dropped_roads(g)
    assert isinstance(table, gpd.GeoDataFrame) and table.crs == frame.crs
    assert set(table["source_id"]) == {"spur", "island", "empty"}
    assert table.set_index("source_id").loc["empty", "reason"].startswith("no geometry")
    assert "strongly connected" in table.set_index("source_id").loc["spur", "reason"]
    frame_before = frame.copy()
    build_network(frame, speeds_kmh=SPEEDS)
    assert frame.equals(frame_before)  # input untouched


def test_dropped_pieces_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    rows = ring()
    rows.append({"u": 7, "v": 8, "highway": "primary", "geometry": line((5000, 0), (6000, 0))})
    with caplog.at_level("INFO", logger="fiveplans.analysis.network"):
        build_network(roads(rows), speeds_kmh=SPEEDS, verbose=True, keep="largest_scc")
    text = caplog.text
    assert "dropped 2 junctions and 2 directed edges in 1 pieces" in text
    assert "dropped road 4" in text


def test_missing_class_runs_at_default_with_warning() -> None:
    rows = ring()
    rows[0]["highway"] = None
    rows[1]["highway"] = " "
    with pytest.warns(FiveplansWarning, match=r"2 lines have no 'highway' class \(rows 0, 1\)"):
        g = build_network(roads(rows), speeds_kmh=SPEEDS)
    assert g.edges[1, 2, 0]["travel_min"] == pytest.approx(minutes(1000, 30))
    assert g.edges[1, 2, 0]["highway"] is None


def test_multipart_lines_without_ids_are_split_into_edges() -> None:
    pts = [(0, 0), (1000, 0), (1000, 1000)]
    multi = shapely.MultiLineString([line(pts[0], pts[1]).coords, line(pts[1], pts[2]).coords])
    rows = [
        {"highway": "primary", "geometry": multi},
        {"highway": "primary", "geometry": line(pts[2], pts[0])},
    ]
    g = build_network(roads(rows), speeds_kmh=SPEEDS)
    assert g.number_of_nodes() == 3 and g.number_of_edges() == 6


@pytest.mark.parametrize("bad", [0, -5, float("nan"), "fast"])
def test_bad_speed_names_the_class(bad: object) -> None:
    with pytest.raises(ConfigError, match="road class 'primary'"):
        build_network(roads(ring()), speeds_kmh=SPEEDS | {"primary": bad})


def test_speeds_need_default() -> None:
    with pytest.raises(ConfigError, match="no `default`"):
        build_network(roads(ring()), speeds_kmh={"primary": 60})


def test_geographic_crs_refused() -> None:
    frame = roads(ring()).to_crs("EPSG:4490")
    with pytest.raises(CRSError, match="geographic CRS"):
        build_network(frame, speeds_kmh=SPEEDS)
    with pytest.raises(CRSError, match="no CRS"):
        build_network(roads(ring()).set_crs(None, allow_override=True), speeds_kmh=SPEEDS)


def test_empty_and_unusable_layers() -> None:
    with pytest.raises(DataError, match="empty"):
        build_network(roads(ring()).iloc[:0], speeds_kmh=SPEEDS)
    with pytest.raises(DataError, match="no column 'kind'"):
        build_network(roads(ring()), speeds_kmh=SPEEDS, class_field="kind")
    poly = roads(ring())
    poly.loc[2, "geometry"] = shapely.box(X0, Y0, X0 + 10, Y0 + 10)
    with pytest.raises(DataError, match=r"not lines \(rows 2; e.g. a Polygon\)"):
        build_network(poly, speeds_kmh=SPEEDS)
    one_way_only = roads(ring(oneway="yes")[:2])
    with pytest.raises(DataError, match="no two junctions"):
        build_network(one_way_only, speeds_kmh=SPEEDS, keep="largest_scc")
    g = build_network(one_way_only, speeds_kmh=SPEEDS)  # as drawn: two one-way roads
    assert sorted(g.edges()) == [(1, 2), (2, 3)]
    with pytest.raises(DataError, match="no usable road"):
        build_network(roads(ring()).assign(geometry=None), speeds_kmh=SPEEDS)
    with pytest.raises(ConfigError, match="keep='most'"):
        build_network(roads(ring()), speeds_kmh=SPEEDS, keep="most")  # type: ignore[arg-type]


def test_graph_carries_an_engine_equal_to_one_built_from_the_graph() -> None:
    """The engine built from build_network's arrays equals one read back from networkx."""
    rows = ring()
    rows[0]["oneway"] = "yes"
    rows.append({"u": 1, "v": 3, "highway": "motorway", "geometry": line((0, 0), (1000, 1000))})
    rows.append({"u": 5, "v": 6, "highway": "primary", "geometry": line((4000, 0), (5000, 0))})
    g = build_network(roads(rows), speeds_kmh=SPEEDS)
    assert engine_for(g) is g.engine
    ref = NetworkEngine(g)
    own = g.engine
    assert own.nodes == ref.nodes == list(g.nodes)
    assert (own.csr != ref.csr).nnz == 0
    np.testing.assert_array_equal(own.x, ref.x)
    pairs = {(t, h, w) for t, h, w in zip(own.edge_tail, own.edge_head, own.edge_time, strict=True)}
    assert pairs == {
        (t, h, w) for t, h, w in zip(ref.edge_tail, ref.edge_head, ref.edge_time, strict=True)
    }
    np.testing.assert_array_equal(own.twin >= 0, _twin_ok(own))
    np.testing.assert_array_equal(np.sort(own.twin), np.sort(ref.twin))
    # networkx's own algorithms work on it, and a copy is a plain graph without the engine
    assert nx.number_strongly_connected_components(g) == 2
    copy = g.copy()
    assert copy.engine is None and nx.utils.graphs_equal(copy, g)
    assert engine_for(copy).n == own.n
    # an edge attribute changed: refresh=True rebuilds, and the new engine stays with the graph
    g.edges[5, 6, 0]["travel_min"] = 9.0
    fresh = engine_for(g, refresh=True)
    assert fresh is not own and engine_for(g) is fresh and fresh.csr.max() == 9.0
    # a graph changed through networkx's API gets a new engine by itself
    g.add_edge(5, 1, travel_min=1.0)
    assert g.engine is None
    assert engine_for(g) is not fresh and len(engine_for(g).edge_tail) == len(own.edge_tail) + 1


def _twin_ok(engine: NetworkEngine) -> np.ndarray:
    t, h, r = engine.edge_tail, engine.edge_head, engine.edge_road
    key = {(a, b, c): i for i, (a, b, c) in enumerate(zip(t, h, r, strict=True))}
    return np.array([(b, a, c) in key for a, b, c in zip(t, h, r, strict=True)])


def test_networkx_dicts_are_filled_on_first_read_only() -> None:
    """Routing through the engine never fills networkx's dicts; any networkx read does, and
    sees the whole graph (also after a pickle round trip, before or after)."""
    import pickle

    from fiveplans.analysis.logistics import assign_suppliers

    rows = ring()
    rows[0]["oneway"] = "yes"
    g = build_network(roads(rows), speeds_kmh=SPEEDS)
    assert "_pending" in vars(g)
    assert len(g) == g.number_of_nodes() == 4 and g.number_of_edges() == 7
    pts = gpd.GeoDataFrame(
        {"source_id": ["a", "b"]},
        geometry=[Point(X0 + 10, Y0 + 300), Point(X0 + 600, Y0 + 990)],
        crs=CRS,
    )
    assigned = assign_suppliers(g, pts.iloc[:1], pts.iloc[1:], radius_min=60)
    assert assigned["cluster"].tolist() == ["a"]
    assert "_pending" in vars(g) and engine_for(g) is g.engine
    copy = pickle.loads(pickle.dumps(g))
    # a networkx read fills them: the same graph networkx would build from the edges
    assert nx.shortest_path_length(g, 4, 2, weight="travel_min") == pytest.approx(2.0)
    assert "_pending" not in vars(g) and g.engine is not None
    assert sorted(g.edges()) == sorted([(1, 2), (2, 3), (3, 2), (3, 4), (4, 3), (4, 1), (1, 4)])
    assert nx.utils.graphs_equal(copy, g) and copy.graph["keep"] == "all"
    again = pickle.loads(pickle.dumps(g))
    assert nx.utils.graphs_equal(again, g)
    assert engine_for(again).n == 4
    # setting networkx's dicts works as on any graph (after filling the pending ones)
    fresh = build_network(roads(ring()), speeds_kmh=SPEEDS)
    view = nx.subgraph_view(fresh, filter_node=lambda n: n != 1)
    assert sorted(view.nodes) == [2, 3, 4] and "_pending" not in vars(fresh)
