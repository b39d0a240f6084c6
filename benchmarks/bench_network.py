"""Road network build and routing on a 200,000-junction, 500,000-road road-like graph.

Goals (issue: logistics network): ``build_network`` ≤ 3 s; 20-source catchments at least 20x
faster than ``networkx.multi_source_dijkstra``; one 30-minute isochrone ≤ 30 ms; peak memory of
the engine and its search no more than networkx's search alone. The graph is a jittered
447 x 447 grid of 200 m blocks (about 89 km square) with diagonals and 3 % of the roads removed,
five road classes and 10 % one-way roads. Run: ``python -m benchmarks network``.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from fiveplans.analysis.engine import NetworkEngine
from fiveplans.analysis.network import build_network

SIDE = 447  # 447 x 447 = 199,809 junctions
SPACING = 200.0
SPEEDS = {
    "motorway": 100.0,
    "primary": 60.0,
    "secondary": 50.0,
    "tertiary": 40.0,
    "residential": 30.0,
    "default": 30.0,
}


def road_grid(seed: int = 1) -> gpd.GeoDataFrame:
    """About 500,000 road lines between 200,000 junctions, with OSM-like ``u``/``v`` ids."""
    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(SIDE), np.arange(SIDE), indexing="ij")
    xy = np.column_stack([ii.ravel() * SPACING, jj.ravel() * SPACING])
    xy += rng.normal(0.0, 30.0, xy.shape) + np.array([400_000.0, 3_700_000.0])
    nid = ii * SIDE + jj
    a = [nid[:-1, :].ravel(), nid[:, :-1].ravel()]
    b = [nid[1:, :].ravel(), nid[:, 1:].ravel()]
    d1, d2 = nid[:-1, :-1].ravel(), nid[1:, 1:].ravel()
    diagonal = rng.random(len(d1)) < 0.585
    a.append(d1[diagonal])
    b.append(d2[diagonal])
    a_all, b_all = np.concatenate(a), np.concatenate(b)
    keep = rng.random(len(a_all)) > 0.03
    a_all, b_all = a_all[keep], b_all[keep]
    mid = (xy[a_all] + xy[b_all]) / 2 + rng.normal(0.0, 10.0, (len(a_all), 2))
    lines = shapely.linestrings(np.stack([xy[a_all], mid, xy[b_all]], axis=1))
    classes = rng.choice(list(SPEEDS)[:5], len(a_all), p=[0.02, 0.08, 0.15, 0.25, 0.5])
    oneway = np.where(rng.random(len(a_all)) < 0.1, "yes", "no")
    return gpd.GeoDataFrame(
        {"u": a_all + 1, "v": b_all + 1, "highway": classes, "oneway": oneway},
        geometry=lines,
        crs="EPSG:4547",
    )


def best_of(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t)
    return min(times), result


def peak_mb(func: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    result = func()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return peak / 2**20


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    roads = road_grid()
    print(f"roads: {len(roads):,} lines", flush=True)

    t_build, graph = best_of(lambda: build_network(roads, speeds_kmh=SPEEDS), 2)
    print(
        f"build_network: {t_build:.2f} s -> {graph.number_of_nodes():,} junctions, "
        f"{graph.number_of_edges():,} directed edges  [goal <= 3 s: {verdict(t_build <= 3)}]",
        flush=True,
    )
    t_engine, engine = best_of(lambda: NetworkEngine(graph), 2)
    print(f"NetworkEngine (CSR, once per graph): {t_engine:.2f} s", flush=True)

    rng = np.random.default_rng(5)
    src_idx = rng.choice(engine.n, 20, replace=False)
    src_keys = [engine.nodes[i] for i in src_idx]
    t_nx, nx_result = best_of(
        lambda: nx.multi_source_dijkstra(graph, src_keys, weight="travel_min"), 1
    )
    nx_dist = nx_result[0]
    del nx_result
    t_cs, (dist, _) = best_of(lambda: engine.shortest(src_idx), 5)
    ref = np.array([nx_dist[k] for k in engine.nodes])
    diff = float(np.max(np.abs(ref - dist)))
    print(
        f"20-source catchments, whole network: networkx.multi_source_dijkstra {t_nx:.2f} s, "
        f"engine {t_cs * 1000:.0f} ms = {t_nx / t_cs:.0f}x faster  "
        f"[goal >= 20x: {verdict(t_nx / t_cs >= 20)}]; max |difference| {diff:.1e} min",
        flush=True,
    )
    t_nx_len, _ = best_of(
        lambda: nx.multi_source_dijkstra_path_length(graph, src_keys, weight="travel_min"), 1
    )
    print(
        f"  (networkx.multi_source_dijkstra_path_length, no paths: {t_nx_len:.2f} s = "
        f"{t_nx_len / t_cs:.0f}x)",
        flush=True,
    )
    points = shapely.points(np.column_stack([engine.x[src_idx] + 37.0, engine.y[src_idx] + 11.0]))
    t_snap, snap = best_of(lambda: engine.snap(points), 1)
    t_pts, _ = best_of(lambda: engine.catchment(snap, limit=60.0), 5)
    print(
        f"20 snapped cluster cores: snap {t_snap * 1000:.0f} ms (builds the edge index once), "
        f"60-minute catchments {t_pts * 1000:.0f} ms",
        flush=True,
    )

    one = engine.snap(points[:1])
    t_iso, (reached, _) = best_of(lambda: engine.isochrone(one, limit=30.0), 7)
    print(
        f"one 30-minute isochrone from a snapped point: {t_iso * 1000:.1f} ms, "
        f"{len(reached):,} junctions reached  [goal <= 30 ms: {verdict(t_iso <= 0.030)}]",
        flush=True,
    )

    del nx_dist
    mem_nx = peak_mb(lambda: nx.multi_source_dijkstra(graph, src_keys, weight="travel_min"))
    mem_engine = peak_mb(lambda: (NetworkEngine(graph), None)[0].shortest(src_idx))
    mem_graph = peak_mb(lambda: build_network(roads, speeds_kmh=SPEEDS))
    print(
        f"peak memory: networkx search {mem_nx:.0f} MB; engine build + search {mem_engine:.0f} MB "
        f"[goal <= networkx: {verdict(mem_engine <= mem_nx)}]; (the graph itself, built: "
        f"{mem_graph:.0f} MB)",
        flush=True,
    )
