"""Service areas, supplier assignment, catchments, links, service class and hub siting."""

from __future__ import annotations

import itertools
import math
import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point

from fiveplans.analysis.engine import NetworkEngine
from fiveplans.analysis.logistics import (
    SERVICE_LABELS,
    ClusterNetwork,
    assign_suppliers,
    catchments,
    cluster_links,
    cluster_network,
    coverage,
    network_pieces,
    service_areas,
    service_class,
    site_hubs,
    snap_points,
)
from fiveplans.analysis.network import build_network
from fiveplans.errors import ConfigError, CRSError, FiveplansWarning

CRS = "EPSG:4547"
X0, Y0 = 500_000.0, 3_800_000.0
SPEEDS = {"primary": 60.0, "default": 30.0}  # 1 min per km on the grid; access 2 min per km
N = 7  # 7 x 7 junctions, 1 km apart


def leg(m: float) -> float:
    return m / 1000 / 30 * 60


@pytest.fixture(scope="module")
def graph() -> nx.MultiDiGraph:
    lines = []
    for i in range(N):
        for j in range(N - 1):
            lines.append(
                LineString([(X0 + j * 1e3, Y0 + i * 1e3), (X0 + (j + 1) * 1e3, Y0 + i * 1e3)])
            )
            lines.append(
                LineString([(X0 + i * 1e3, Y0 + j * 1e3), (X0 + i * 1e3, Y0 + (j + 1) * 1e3)])
            )
    frame = gpd.GeoDataFrame({"highway": ["primary"] * len(lines)}, geometry=lines, crs=CRS)
    return build_network(frame, speeds_kmh=SPEEDS)


def pts(*xy: tuple[float, float], **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=[Point(X0 + x, Y0 + y) for x, y in xy], crs=CRS)


def diamond_reach(cx: float, cy: float, r_km: float) -> shapely.Geometry:
    """Grid-line points within r_km of (cx, cy) by Manhattan distance (= network time)."""
    grid_lines = []
    for i in range(N):
        grid_lines.append(LineString([(X0, Y0 + i * 1e3), (X0 + (N - 1) * 1e3, Y0 + i * 1e3)]))
        grid_lines.append(LineString([(X0 + i * 1e3, Y0), (X0 + i * 1e3, Y0 + (N - 1) * 1e3)]))
    r = r_km * 1000
    ball = shapely.Polygon(
        [
            (X0 + cx + r, Y0 + cy),
            (X0 + cx, Y0 + cy + r),
            (X0 + cx - r, Y0 + cy),
            (X0 + cx, Y0 + cy - r),
        ]
    )
    return shapely.union_all([g.intersection(ball) for g in grid_lines])


def test_service_area_is_buffered_reached_roads_not_a_hull(graph) -> None:
    cores = pts((3000, 3000), source_id=["A"], industry=["food"])
    out = service_areas(graph, cores, radius_min=2.5, buffer_m=50)
    assert list(out.columns) == ["cluster", "break_min", "area_m2", "geometry"]
    assert out.loc[0, "cluster"] == "A" and out.loc[0, "break_min"] == 2.5
    expected = diamond_reach(3000, 3000, 2.5).buffer(50)
    got = out.loc[0, "geometry"]
    assert got.symmetric_difference(expected).area < 1e-3 * expected.area
    assert out.loc[0, "area_m2"] == pytest.approx(got.area)
    assert got.area < 0.5 * got.convex_hull.area  # a star of roads, not a hull


def test_breaks_give_growing_disks(graph) -> None:
    cores = pts((3000, 3000), (1000, 1000), source_id=["A", "B"])
    out = service_areas(graph, cores, breaks=[3, 1, 2], buffer_m=30)
    assert len(out) == 6
    for _, group in out.groupby("cluster"):
        areas = group.sort_values("break_min")["area_m2"].to_numpy()
        assert (np.diff(areas) > 0).all()
        polys = group.sort_values("break_min")["geometry"].tolist()
        assert polys[1].buffer(1e-6).contains(polys[0])
    a1 = out[(out.cluster == "A") & (out.break_min == 1)].geometry.iloc[0]
    assert a1.symmetric_difference(diamond_reach(3000, 3000, 1).buffer(30)).area < 1e-3 * a1.area


def test_split_and_dissolve_modes(graph) -> None:
    cores = pts((1000, 3000), (4000, 3000), source_id=["W", "E"])
    overlap = service_areas(graph, cores, radius_min=3, buffer_m=40)
    split = service_areas(graph, cores, radius_min=3, buffer_m=40, mode="split")
    dissolve = service_areas(graph, cores, radius_min=3, buffer_m=40, mode="dissolve")
    assert overlap.geometry.iloc[0].intersection(overlap.geometry.iloc[1]).area > 1e5
    w, e = split.set_index("cluster").geometry.loc[["W", "E"]]
    assert w.intersection(e).area < 1e-6 * w.area  # split: no overlaps
    union = shapely.union_all(overlap.geometry.to_numpy())
    assert len(dissolve) == 1 and dissolve["cluster"].isna().all()
    assert dissolve.geometry.iloc[0].symmetric_difference(union).area < 1e-6 * union.area
    assert w.union(e).symmetric_difference(union).area < 1e-3 * union.area  # no gaps either
    # nearest core owns: the road at x = 2 km is W's (1 min vs 2), x = 3 km E's (1 vs 2)
    assert w.contains(Point(X0 + 2000, Y0 + 3500)) and e.contains(Point(X0 + 3000, Y0 + 3500))


def test_radius_by_industry(graph) -> None:
    cores = pts((3000, 3000), (0, 0), source_id=["A", "B"], industry=["food", "steel"])
    out = service_areas(graph, cores, radius_min={"food": 1, "default": 2}, buffer_m=20)
    assert out.set_index("cluster")["break_min"].to_dict() == {"A": 1.0, "B": 2.0}
    with pytest.raises(ConfigError, match=r"B \(steel\)"):
        service_areas(graph, cores, radius_min={"food": 1})


def test_polygon_cores_join_at_their_representative_point(graph) -> None:
    core = gpd.GeoDataFrame(
        {"source_id": ["P"]},
        geometry=[shapely.box(X0 + 2900, Y0 + 2900, X0 + 3100, Y0 + 3100)],
        crs=CRS,
    )
    rep = core.geometry.iloc[0].representative_point()
    snap = snap_points(graph, core)
    assert snap.loc[0, "snap_m"] == pytest.approx(
        min(abs(rep.x - X0 - 3000), abs(rep.y - Y0 - 3000))
    )


def test_assign_suppliers_against_manhattan_oracle(graph) -> None:
    cores = pts((1000, 1000), (5000, 5000), source_id=["A", "B"], industry=["food", "steel"])
    spots = [(1000, 1400), (1300, 2020), (4980, 3500), (3000, 3000), (6200, 200), (2500, 30)]
    sup = pts(*spots, firm=[f"f{i}" for i in range(len(spots))])
    sup.index = [10, 11, 12, 13, 14, 15]
    out = assign_suppliers(
        graph, cores, sup, radius_min={"food": 2.5, "steel": 4}, supplier_id="firm"
    )
    assert list(out.index) == list(sup.index)
    assert list(out.columns[:5]) == ["id", "cluster", "travel_min", "reason", "snap_m"]
    snap_m = [0, 20, 20, 0, 200, 30]
    np.testing.assert_allclose(out["snap_m"], snap_m)
    # oracle: on the grid, time = Manhattan distance from core to the joining point + access leg
    joins = [(1000, 1400), (1300, 2000), (5000, 3500), (3000, 3000), (6000, 200), (2500, 0)]
    radii = {"A": 2.5, "B": 4.0}
    centre = {"A": (1000, 1000), "B": (5000, 5000)}
    for k, (jx, jy) in enumerate(joins):
        times = {
            c: (abs(jx - cx) + abs(jy - cy)) / 1000 + leg(snap_m[k])
            for c, (cx, cy) in centre.items()
        }
        ok = {c: t for c, t in times.items() if t <= radii[c]}
        row = out.iloc[k]
        if ok:
            best = min(ok, key=ok.get)
            assert row["cluster"] == best and row["travel_min"] == pytest.approx(ok[best])
        else:
            assert row["cluster"] is None and math.isnan(row["travel_min"])
    assert out["cluster"].tolist() == ["A", "A", "B", "B", None, None]
    assert out["reason"].tolist() == [None] * 4 + ["beyond_radius"] * 2


def test_far_points_are_named_in_a_warning(graph) -> None:
    cores = pts((1000, 1000), source_id=["A"])
    sup = pts((1200, 1500), (-2500, 1000), source_id=["near", "lost"])
    with pytest.warns(FiveplansWarning, match=r"1 points lie more than 500 m .*lost \(2,500 m\)"):
        out = assign_suppliers(graph, cores, sup, radius_min=60)
    with pytest.warns(FiveplansWarning, match=r"2 points lie more than 100 m .*near \(200 m\)"):
        assign_suppliers(graph, cores, sup, radius_min=60, max_snap_m=100)
    assert out.loc[1, "snap_m"] == pytest.approx(2500)
    assert out.loc[1, "travel_min"] == pytest.approx(1.0 + leg(2500))


def test_catchments_partition_the_reach(graph) -> None:
    cores = pts((1000, 1000), (5000, 1000), (3000, 5000), source_id=["a", "b", "c"])
    out = catchments(graph, cores, radius_min=3, buffer_m=40)
    assert list(out.columns) == ["cluster", "radius_min", "area_m2", "geometry"]
    geoms = out.geometry.tolist()
    for g1, g2 in itertools.combinations(geoms, 2):
        assert g1.intersection(g2).area < 1e-6 * g1.area
    for geom, (x, y) in zip(geoms, [(1000, 1000), (5000, 1000), (3000, 5000)], strict=True):
        assert geom.contains(Point(X0 + x, Y0 + y))
    reach = shapely.union_all(
        [
            diamond_reach(x, y, 3).buffer(40)
            for x, y in [(1, 1), (5, 1), (3, 5)]
            for x, y in [(x * 1000, y * 1000)]
        ]
    )
    assert shapely.union_all(geoms).symmetric_difference(reach).area < 1e-3 * reach.area


def test_cluster_links(graph) -> None:
    cores = pts(
        (0, 0), (2000, 1000), (6000, 6000), source_id=["a", "b", "c"], industry=["x", "y", "z"]
    )
    table, links = cluster_links(graph, cores, radius_min=2)
    # a and b: 3 min apart, radii 2 + 2 -> meet; c is 9+ min from both
    assert table[["cluster_a", "cluster_b"]].values.tolist() == [["a", "b"]]
    assert table.loc[0, "travel_min_ab"] == pytest.approx(3.0)
    assert table.loc[0, "travel_min"] == pytest.approx(3.0)
    assert set(links.nodes) == {"a", "b", "c"} and list(links.edges) == [("a", "b")]
    assert links.nodes["a"]["industry"] == "x"
    # radii 1 + 1 < 3: they do not meet
    table2, _ = cluster_links(graph, cores, radius_min=1)
    assert table2.empty
    # 1.5 + 1.5 = 3: the reached parts touch in the middle of a road
    table3, _ = cluster_links(graph, cores, radius_min=1.5)
    assert len(table3) == 1


def test_coverage_per_cluster_and_district(graph) -> None:
    cores = pts((1000, 1000), (5000, 5000), source_id=["A", "B"])
    sup = pts((1000, 1500), (1500, 1000), (5000, 4500), (3000, 3000), source_id=list("pqrs"))
    assigned = assign_suppliers(graph, cores, sup, radius_min=1)
    districts = gpd.GeoDataFrame(
        {"source_id": ["west", "east"]},
        geometry=[
            shapely.box(X0 - 100, Y0 - 100, X0 + 3500, Y0 + 7000),
            shapely.box(X0 + 3500, Y0 - 100, X0 + 7000, Y0 + 7000),
        ],
        crs=CRS,
    )
    table = coverage(assigned, districts)
    by = table.set_index(["level", "unit"])
    assert by.loc[("cluster", "A"), "suppliers"] == 2
    assert by.loc[("cluster", "B"), "suppliers"] == 1
    assert by.loc[("cluster", "未覆盖 uncovered"), "suppliers"] == 1
    assert by.loc[("district", "west"), ["suppliers", "covered"]].tolist() == [3, 2]
    assert by.loc[("district", "west"), "share"] == pytest.approx(2 / 3)
    assert by.loc[("district", "east"), "max_travel_min"] == pytest.approx(0.5)


def test_service_class_thresholds(graph) -> None:
    zones = pts((0, 0), (3000, 0), (6000, 6000), (3000, 3000), source_id=list("abcd"))
    centres = pts((0, 1000), source_id=["city"])
    # times: a 1, b 4, c 11, d 5 (minutes)
    out = service_class(graph, zones, centres, near_min=2, far_min=5)
    assert out["service_class"].tolist() == ["near", "large", "far", "large"]
    np.testing.assert_allclose(out["travel_min"], [1, 4, 11, 5])
    assert out["label"].tolist()[0] == SERVICE_LABELS["near"] == "依托城市 relies on the city"
    assert out["centre"].tolist() == ["city"] * 4
    with pytest.raises(ConfigError, match="near_min < far_min"):
        service_class(graph, zones, centres, near_min=5, far_min=5)


def brute_force(cover: np.ndarray, k: int) -> int:
    return max(
        int(cover[:, list(c)].any(axis=1).sum())
        for c in itertools.combinations(range(cover.shape[1]), k)
    )


@pytest.mark.parametrize("seed", range(4))
def test_site_hubs_greedy_milp_and_brute_force(graph, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sup = pts(
        *[tuple(rng.uniform(0, 6000, 2)) for _ in range(25)], source_id=[f"s{i}" for i in range(25)]
    )
    cand = pts(
        *[tuple(rng.uniform(0, 6000, 2)) for _ in range(7)], source_id=[f"c{i}" for i in range(7)]
    )
    k, radius = 2, 2.5
    engine = NetworkEngine(graph)
    times = engine.od_matrix(
        engine.snap(cand.geometry.to_numpy()), engine.snap(sup.geometry.to_numpy())
    )
    cover = np.less_equal(times.T, radius)
    best = brute_force(cover, k)
    greedy = site_hubs(graph, sup, cand, k=k, radius_min=radius)
    exact = site_hubs(graph, sup, cand, k=k, radius_min=radius, method="milp")
    assert exact.covered == best and exact.optimal and exact.upper_bound == best
    assert greedy.covered <= exact.covered
    assert greedy.covered >= (1 - 1 / math.e) * best
    assert greedy.upper_bound >= best
    assert len(greedy.chosen) <= k and len(exact.chosen) <= k
    hubs = exact.suppliers
    assert hubs["hub"].notna().sum() == exact.covered
    assert set(hubs["hub"].dropna()) <= set(exact.chosen)
    assert greedy.candidates.loc[greedy.candidates.chosen, "gain"].sum() == greedy.covered
    with pytest.raises(ConfigError, match="k=9"):
        site_hubs(graph, sup, cand, k=9, radius_min=radius)


def test_inputs_not_mutated(graph) -> None:
    cores = pts((1000, 1000), source_id=["A"])
    sup = pts((1000, 1500), source_id=["s"])
    before = (cores.copy(), sup.copy())
    assign_suppliers(graph, cores, sup)
    service_areas(graph, cores, radius_min=1)
    pd.testing.assert_frame_equal(cores, before[0])
    pd.testing.assert_frame_equal(sup, before[1])


def test_a_radius_nobody_reaches_says_how_far_the_nearest_is() -> None:
    """Two junctions 6 km apart on a 60 km/h road: a 1-minute radius reaches nobody."""
    from fiveplans.analysis.network import build_network
    from fiveplans.errors import FiveplansWarning

    roads = gpd.GeoDataFrame(
        {"highway": ["primary"], "u": [1], "v": [2], "oneway": ["no"]},
        geometry=[LineString([(440_000, 3_720_000), (446_000, 3_720_000)])],
        crs=4547,
    )
    graph = build_network(roads, speeds_kmh={"primary": 60, "default": 30})
    clusters = gpd.GeoDataFrame(
        {"source_id": ["A"], "industry": ["x"]}, geometry=[Point(440_000, 3_720_000)], crs=4547
    )
    suppliers = gpd.GeoDataFrame(
        {"source_id": ["s1"]}, geometry=[Point(446_000, 3_720_000)], crs=4547
    )
    with pytest.warns(
        FiveplansWarning, match=r"nearest is 6\.0 min away.*raise `logistics.radius_min`"
    ):
        out = assign_suppliers(graph, clusters, suppliers, radius_min=1)
    assert out["travel_min"].isna().all()


# -- the network as drawn: unreachable suppliers, pieces, one context ----------------------------
def drawn_network() -> tuple[nx.MultiDiGraph, gpd.GeoDataFrame]:
    """A two-way 3 x 3 km square road with one-way spurs and an island (node ids as in OSM).

    - ``out``: one-way from the square's corner 2 eastward to 5: reached, no way back;
    - ``in``: one-way from 6 (north of corner 3) into the square: never reached;
    - ``island``: a two-way road 7-8 joined to nothing.
    """
    xy = {1: (0, 0), 2: (3000, 0), 3: (3000, 3000), 4: (0, 3000), 5: (5000, 0), 6: (3000, 5000)}
    xy |= {7: (8000, 8000), 8: (9000, 8000)}
    rows = [(1, 2, "no", "sq1"), (2, 3, "no", "sq2"), (3, 4, "no", "sq3"), (4, 1, "no", "sq4")]
    rows += [(2, 5, "yes", "out"), (6, 3, "yes", "in"), (7, 8, "no", "island")]
    frame = gpd.GeoDataFrame(
        {
            "u": [a for a, *_ in rows],
            "v": [b for _, b, *_ in rows],
            "oneway": [o for _, _, o, _ in rows],
            "source_id": [i for *_, i in rows],
            "highway": "primary",
        },
        geometry=[
            LineString([(X0 + xy[a][0], Y0 + xy[a][1]), (X0 + xy[b][0], Y0 + xy[b][1])])
            for a, b, *_ in rows
        ],
        crs=CRS,
    )
    return build_network(frame, speeds_kmh=SPEEDS), frame


def test_unreachable_suppliers_are_null_with_the_reason() -> None:
    graph, _ = drawn_network()
    core = pts((0, 0), source_id=["C"])
    sup = pts(
        (1500, 50),  # on the square: 1.5 min
        (4000, 40),  # on the outbound spur: 3 + 1 min
        (3030, 4000),  # on the inbound spur: cannot be reached
        (8500, 8020),  # on the island
        (0, 2600),  # on the square, but 2.6 min > 2
        source_id=list("abcde"),
    )
    radius = 4.5
    out = assign_suppliers(graph, core, sup, radius_min=radius)
    # joined to the nearest edge of the network as drawn, not to the square hundreds of m away
    np.testing.assert_allclose(out["snap_m"], [50, 40, 30, 20, 0])
    # oracle: networkx on the same graph, from the core's junction 1 (the core is on it)
    ref = nx.single_source_dijkstra_path_length(graph, 1, weight="travel_min")
    on_edge = {"a": (1, 1.5), "b": (2, 1.0), "c": (6, 1.0), "d": (7, 0.5), "e": (1, 2.6)}
    expected = {}
    for sid, (node, extra) in on_edge.items():
        t = ref.get(node, math.inf) + extra + leg(out.set_index("id").loc[sid, "snap_m"])
        expected[sid] = t if t <= radius else math.nan
    assert out["travel_min"].tolist() == pytest.approx(list(expected.values()), nan_ok=True)
    assert out["reason"].tolist() == [None, None, "unreachable", "unreachable", None]
    tight = assign_suppliers(graph, core, sup, radius_min=2)
    assert tight["reason"].tolist() == [
        None,
        "beyond_radius",
        "unreachable",
        "unreachable",
        "beyond_radius",
    ]


def test_network_pieces_match_networkx_reachability() -> None:
    graph, frame = drawn_network()
    core = pts((0, 0), source_id=["C"])
    pieces = network_pieces(graph, core)
    assert list(pieces.columns) == [
        "piece",
        "status",
        "length_m",
        "source_id",
        "highway",
        "geometry",
    ]
    # oracle: networkx descendants / ancestors of the core's junction
    down = nx.descendants(graph, 1) | {1}
    up = nx.ancestors(graph, 1) | {1}
    expected = {}
    for row in frame.itertuples():
        dirs = [(row.u, row.v)] if row.oneway == "yes" else [(row.u, row.v), (row.v, row.u)]
        if any(t in down and h in up for t, h in dirs):
            continue
        expected[row.source_id] = "no_return" if any(t in down for t, _ in dirs) else "unreached"
    assert expected == {"out": "no_return", "in": "unreached", "island": "unreached"}
    assert dict(zip(pieces["source_id"], pieces["status"], strict=True)) == expected
    assert pieces["piece"].nunique() == 3
    assert pieces["length_m"].sum() == pytest.approx(2000 + 2000 + 1000)
    assert pieces.crs == graph.graph["crs"]
    # a core on the island: now the square is the piece nobody reaches
    both = pts((0, 0), (8500, 8000), source_id=["C", "I"])
    assert set(network_pieces(graph, both)["source_id"]) == {"out", "in"}


def test_one_context_serves_every_function(graph, monkeypatch: pytest.MonkeyPatch) -> None:
    cores = pts((1000, 1000), (5000, 1000), (3000, 5000), source_id=["a", "b", "c"])
    sup = pts((1000, 1400), (4000, 1000), (3000, 3000), source_id=list("xyz"))
    centres = pts((0, 1000), source_id=["city"])
    common = {"radius_min": 3}
    plain = (
        service_areas(graph, cores, buffer_m=40, **common),
        catchments(graph, cores, buffer_m=40, **common),
        cluster_links(graph, cores, **common)[0],
        assign_suppliers(graph, cores, sup, **common),
        service_class(graph, cores, centres, near_min=2, far_min=5),
    )
    ctx = cluster_network(graph, cores, **common)
    assert isinstance(ctx, ClusterNetwork) and len(ctx) == 3
    calls = {"snap": 0, "from_points": 0}
    engine = ctx.engine
    for name in calls:
        real = getattr(engine, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(engine, name, counted)
    ctx.times(math.inf)  # prime once with the farthest limit needed
    shared = (
        service_areas(ctx, buffer_m=40),
        catchments(ctx, buffer_m=40),
        cluster_links(ctx)[0],
        assign_suppliers(ctx, None, sup),
        service_class(ctx, ctx, centres, near_min=2, far_min=5),
    )
    assert calls == {"snap": 2, "from_points": 1}  # suppliers and centres; one search
    for a, b in zip(plain, shared, strict=True):
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
    assert_frame = assign_suppliers(graph, ctx, sup)  # the context as `clusters` too
    pd.testing.assert_frame_equal(assert_frame, shared[3])
    with pytest.raises(ConfigError, match="together with another clusters"):
        service_areas(ctx, cores.copy())


def test_no_silent_reprojection(graph) -> None:
    cores = pts((1000, 1000), source_id=["A"])
    sup = pts((1000, 1400), source_id=["s"]).to_crs("EPSG:4326")
    with pytest.raises(CRSError, match="suppliers"):
        assign_suppliers(graph, cores, sup)
    with pytest.raises(CRSError, match="clusters"):
        service_areas(graph, cores.to_crs("EPSG:32650"), radius_min=1)


# -- the run's logistics stage (fiveplans.pipeline.logistics) on the demo pilot ------------------
@pytest.fixture(scope="module")
def demo_pilot(tmp_path_factory: pytest.TempPathFactory):
    import fiveplans as fp
    from fiveplans.demo import write_demo_inputs

    pilot_yml = write_demo_inputs(tmp_path_factory.mktemp("demo") / "inputs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FiveplansWarning)  # loading notes, not under test here
        return fp.load_pilot(pilot_yml)


def _with(pilot, *, radius_min=None, drop=()):
    import dataclasses

    config = pilot.config
    if radius_min is not None:
        config = dataclasses.replace(
            config, logistics=dataclasses.replace(config.logistics, radius_min=radius_min)
        )
    layers = {k: v for k, v in pilot.layers.items() if k not in drop}
    return dataclasses.replace(pilot, config=config, layers=layers)


def test_run_stage_shares_one_context_and_keeps_the_demo_results(demo_pilot) -> None:
    from fiveplans.diagnostics import Diagnostics
    from fiveplans.pipeline import Logistics, logistics

    diag = Diagnostics()
    with diag.capture("logistics"):
        result = logistics(demo_pilot)
    assert isinstance(result, Logistics) and diag.messages() == []
    assigned = result.supplier_assignment
    # the demo's network is one strongly connected piece: nothing to report, all assigned
    assert assigned["cluster"].notna().sum() == len(assigned) == 200
    assert assigned["reason"].isna().all()
    assert len(result.network_pieces) == 0
    ctx = result.context
    assert isinstance(ctx, ClusterNetwork) and result.graph.engine is ctx.engine
    # the same tables as the public functions called one by one on the graph
    radius = demo_pilot.config.logistics.radius_min
    industry = demo_pilot.config.sources["clusters"].industry or "industry"
    one = assign_suppliers(
        result.graph,
        demo_pilot.layers["clusters"],
        demo_pilot.layers["suppliers"],
        radius_min=radius,
        industry_field=industry,
    )
    pd.testing.assert_frame_equal(pd.DataFrame(one), pd.DataFrame(assigned))
    links, _ = cluster_links(
        result.graph, demo_pilot.layers["clusters"], radius_min=radius, industry_field=industry
    )
    pd.testing.assert_frame_equal(links, result.links)


def test_run_stage_reports_a_radius_nobody_reaches_and_skipped_inputs(demo_pilot) -> None:
    from fiveplans.diagnostics import Diagnostics
    from fiveplans.pipeline import logistics

    diag = Diagnostics()
    with diag.capture("logistics"):
        result = logistics(_with(demo_pilot, radius_min=1, drop=("centres",)))
    assert result.supplier_assignment["cluster"].isna().all()
    assert set(result.supplier_assignment["reason"]) == {"beyond_radius"}
    assert any("物流半径内没有配套企业" in m and "nearest is" in m for m in diag.messages())
    assert set(diag.skipped_block()) == {"service_class"}
    diag = Diagnostics()
    with diag.capture("logistics"):
        result = logistics(_with(demo_pilot, drop=("suppliers",)))
    assert result.supplier_assignment is None and set(diag.skipped_block()) == {
        "supplier_assignment"
    }
    diag = Diagnostics()
    with diag.capture("logistics"):
        assert logistics(_with(demo_pilot, drop=("roads",))) is None
    assert "`roads:`" in diag.skipped_block()["logistics"]["reason"]
