"""Farmland × construction conflicts: ``find_conflicts`` vs ``geopandas.overlay``.

Goal (issue: conflicts): on a synthetic coverage of 50,000 farmland patches (Voronoi cells of
random points over a 20 km square, all permanent basic farmland) × 20,000 construction parcels
(rotated rectangles, log-normal sizes: median 100 m side, a few up to ~1 km, from several
plans so they overlap) and on 4x that (same densities, a 40 km square),
``find_conflicts(layers, types=["farmland_construction"], sliver_m2=0)`` — the whole call,
ids, ellipsoidal areas and coordinates included — must be at least 3x faster than
``geopandas.overlay(construction, farmland, how="intersection")`` doing the same
intersection, with equal total area and no more peak memory.

The Voronoi cells are convex, and ``find_conflicts`` clips a pair exactly with compiled code
when one polygon is convex and the other has no holes (GEOS only for the doubtful pairs), so a
second, *concave* variant merges random neighbouring cells pairwise into concave patches (the
same number of patches over the same area) to show the speed-up when the farmland is not
convex: both are reported. The compiled clipper is warmed up (compiled, or loaded from numba's
on-disk cache) before the timed runs; that one-time cost is reported separately.

Each method runs in its own subprocess (so peak memory is its own): the data are generated,
then the method runs twice (best time kept) while a sampler thread reads the process's
resident memory (/proc/self/statm) every 2 ms; the peak above the level before the call is
reported, with the process CPU time. Before each call the heap's free pages are given back to the
system (``gc.collect()``, then glibc's ``malloc_trim(0)``): otherwise the level before the call
includes the garbage of generating the data, and a method gets credit for reusing it (the peer's
county pieces alone hold 52 MB — 42 MB of GEOS geometries, 10 MB of columns — yet it showed
+19 MB). After the call the same release gives the memory the result holds ("held"), so the peak
splits into what the answer needs and what the computation needed on the way (wall < CPU shows the threads at work; the machine's
load average is printed first, as other processes on the 2 cores skew the times). Run:
``python -m benchmarks conflicts``.

The whole call (issue: trust, §4): a land-use plan of 50,176 Voronoi cells over 908 km²
(50% permanent basic farmland, 25% other farmland, 25% construction, drawn at random) and a
cluster plan of 20,000 construction parcels (as above), boundary around both, and 4x that
(:func:`make_county_layers`). ``find_conflicts(layers, sliver_m2=0)`` — every conflict type
the layers support: farmland ∩ construction of both plans and both ``plan_mismatch``
directions, split by what the other plan says there, ids, ellipsoidal areas and coordinates
included — against geopandas doing the same contract work: ``overlay(..., "intersection")`` of
each plan's construction with the basic farmland and ``overlay(..., "difference")`` of each
plan's construction with the other's. Goal: at least 3x, equal areas per type (1e-6
relative), no more peak memory. Only the whole-call part: ``python -m benchmarks.bench_conflicts
whole``.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import subprocess
import sys
import threading
import time
import warnings

import numpy as np

N_FARMLAND = 50_000
N_CONSTRUCTION = 20_000
SIDE_M = 20_000.0
X0, Y0 = 430_000.0, 3_715_000.0


def _voronoi(points: np.ndarray, frame):
    """Voronoi cells of *points*, in point order, clipped to *frame*."""
    import shapely

    cells = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=frame, ordered=True)
    return shapely.intersection(shapely.get_parts(cells), frame)


def _concave_cells(rng: np.random.Generator, n: int, frame) -> np.ndarray:
    """*n* patches over *frame*: Voronoi cells, random neighbouring pairs merged (concave)."""
    import shapely
    from scipy.spatial import Delaunay

    n_cells = int(n * 1.6)  # 0.6 n merges leave n patches
    x0, y0, x1, y1 = frame.bounds
    points = rng.uniform((x0, y0), (x1, y1), (n_cells, 2))
    cells = _voronoi(points, frame)
    ptr, nbr = Delaunay(points).vertex_neighbor_vertices  # Voronoi neighbours
    partner = np.full(n_cells, -1)
    merges = 0
    for i in rng.permutation(n_cells):
        if merges == n_cells - n:
            break
        if partner[i] >= 0:
            continue
        free = [j for j in nbr[ptr[i] : ptr[i + 1]] if partner[j] < 0 and j != i]
        if free:
            j = free[rng.integers(len(free))]
            partner[i], partner[j] = j, i
            merges += 1
    first = np.flatnonzero((partner < 0) | (np.arange(n_cells) < partner))
    merged = np.flatnonzero(partner[first] >= 0)
    out = cells[first].copy()
    out[merged] = shapely.union(cells[first[merged]], cells[partner[first[merged]]])
    return out


def make_layers(scale: int = 1, seed: int = 11, *, concave: bool = False) -> dict:
    """The synthetic layers (EPSG:4547): ``land_use`` farmland, ``cluster`` parcels, boundary.

    ``concave=True``: the farmland patches are pairs of neighbouring Voronoi cells merged
    (mostly concave), the same number of patches; the parcels are the same.
    """
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    side = SIDE_M * np.sqrt(scale)
    frame = shapely.box(X0, Y0, X0 + side, Y0 + side)
    points = rng.uniform((X0, Y0), (X0 + side, Y0 + side), (N_FARMLAND * scale, 2))
    if concave:
        cells = _concave_cells(np.random.default_rng(seed + 1), N_FARMLAND * scale, frame)
    else:
        cells = _voronoi(points, frame)
    n = N_CONSTRUCTION * scale
    w = np.clip(100.0 * np.exp(rng.normal(0.0, 0.8, n)), 15.0, 1_000.0)
    h = w * rng.uniform(0.5, 2.0, n)
    cx = rng.uniform(X0 + 800, X0 + side - 800, n)
    cy = rng.uniform(Y0 + 800, Y0 + side - 800, n)
    angle = rng.uniform(0.0, np.pi, n)
    rects = shapely.box(-w / 2, -h / 2, w / 2, h / 2)
    xy, idx = shapely.get_coordinates(rects, return_index=True)
    c, s = np.cos(angle)[idx], np.sin(angle)[idx]
    rotated = np.column_stack(
        [xy[:, 0] * c - xy[:, 1] * s + cx[idx], xy[:, 0] * s + xy[:, 1] * c + cy[idx]]
    )
    parcels = shapely.set_coordinates(rects.copy(), rotated)

    def frame_of(geoms, legend, code, use, prefix):
        return gpd.GeoDataFrame(
            {
                "source_id": [f"{prefix}{i}" for i in range(len(geoms))],
                "source_code": code,
                "legend": legend,
                "use": use,
            },
            geometry=geoms,
            crs=4547,
        )

    return {
        "boundary": frame_of([frame], "other", "", None, "B"),
        "land_use": frame_of(cells, "basic_farmland", "010", None, "F"),
        "cluster": frame_of(parcels, "construction", "M1", "industrial", "C"),
    }


N_CELLS = 50_176
COUNTY_SIDE_M = 30_133.0  # 908 km²


def make_county_layers(scale: int = 1, seed: int = 5) -> dict:
    """The county-sized pilot's layers (EPSG:4547): ``land_use`` (Voronoi cells of a square,
    legends drawn 50% ``basic_farmland``, 25% ``farmland``, 25% ``construction``), ``cluster``
    (construction parcels as in :func:`make_layers`) and ``boundary`` (the rectangle around
    both: at 4x a few large parcels reach past the square)."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    side = COUNTY_SIDE_M * np.sqrt(scale)
    frame = shapely.box(X0, Y0, X0 + side, Y0 + side)
    points = rng.uniform((X0, Y0), (X0 + side, Y0 + side), (N_CELLS * scale, 2))
    cells = _voronoi(points, frame)
    legend = rng.choice(
        np.array(["basic_farmland", "farmland", "construction"], dtype=object),
        len(cells),
        p=[0.5, 0.25, 0.25],
    )
    code = np.where(
        legend == "construction", "20", np.where(legend == "basic_farmland", "011", "012")
    ).astype(object)
    n = N_CONSTRUCTION * scale
    w = np.clip(100.0 * np.exp(rng.normal(0.0, 0.8, n)), 15.0, 1_000.0)
    h = w * rng.uniform(0.5, 2.0, n)
    cx = rng.uniform(X0 + 800, X0 + side - 800, n)
    cy = rng.uniform(Y0 + 800, Y0 + side - 800, n)
    angle = rng.uniform(0.0, np.pi, n)
    rects = shapely.box(-w / 2, -h / 2, w / 2, h / 2)
    xy, idx = shapely.get_coordinates(rects, return_index=True)
    c, s = np.cos(angle)[idx], np.sin(angle)[idx]
    rotated = np.column_stack(
        [xy[:, 0] * c - xy[:, 1] * s + cx[idx], xy[:, 0] * s + xy[:, 1] * c + cy[idx]]
    )
    parcels = shapely.set_coordinates(rects.copy(), rotated)
    # the boundary around both (a large parcel near the edge may reach past the cells)
    around = shapely.box(*shapely.total_bounds(np.concatenate([[frame], parcels])))

    def frame_of(geoms, legend, code, use, prefix):
        return gpd.GeoDataFrame(
            {
                "source_id": [f"{prefix}{i}" for i in range(len(geoms))],
                "source_code": code,
                "legend": legend,
                "use": use,
            },
            geometry=list(geoms),
            crs=4547,
        )

    return {
        "boundary": frame_of([around], "other", "", None, "B"),
        "land_use": frame_of(cells, legend, code, None, "L"),
        "cluster": frame_of(parcels, "construction", "M1", "industrial", "C"),
    }


def peer_whole(layers: dict) -> dict[str, list]:
    """geopandas doing the contract work of ``find_conflicts`` on the county layers: the
    pieces of each conflict type (kept, as ``find_conflicts`` keeps its table)."""
    import geopandas as gpd

    lu, cl = layers["land_use"], layers["cluster"]
    farmland = lu[lu["legend"] == "basic_farmland"]
    plans = {"cluster": cl[cl["legend"] == "construction"]}
    plans["land_use"] = lu[lu["legend"] == "construction"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "farmland_construction": [
                gpd.overlay(c, farmland, how="intersection") for c in plans.values()
            ],
            "plan_mismatch": [
                gpd.overlay(plans["cluster"], plans["land_use"], how="difference"),
                gpd.overlay(plans["land_use"], plans["cluster"], how="difference"),
            ],
        }


def _areas(pieces: dict[str, list]) -> dict[str, float]:
    return {t: sum(float(f.geometry.area.sum()) for f in frames) for t, frames in pieces.items()}


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _release() -> None:
    """Free what is garbage and give the heap's free pages back to the system (glibc)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: the level stays as it is
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _measure(func) -> tuple[float, int, object, float, int]:
    """Time, peak resident memory above the level before, result, CPU time and the memory the
    result still holds once the garbage is freed."""
    peak = [0]
    stop = threading.Event()
    _release()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    base = _rss()
    peak[0] = base
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0, c0 = time.perf_counter(), time.process_time()
    result = func()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    stop.set()
    sampler.join()
    top = max(peak[0], _rss())
    _release()
    return elapsed, top - base, result, cpu, _rss() - base


def _child(method: str, scale: int, variant: str) -> None:
    import geopandas as gpd

    from fiveplans.analysis import _clip
    from fiveplans.analysis.conflicts import find_conflicts

    whole = variant == "county"
    if whole:
        layers = make_county_layers(scale)
    else:
        layers = make_layers(scale, concave=variant == "concave")
    warm_up = _clip.warm_up() if method == "fiveplans" else 0.0

    def ours():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the types these layers cannot have
            if whole:
                return find_conflicts(layers, sliver_m2=0)
            return find_conflicts(layers, types=["farmland_construction"], sliver_m2=0)

    def theirs():
        if whole:
            return peer_whole(layers)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return gpd.overlay(layers["cluster"], layers["land_use"], how="intersection")

    def summary(out) -> tuple:
        """(area, pieces) of a result: per type for the whole call."""
        if whole and method == "fiveplans":
            return out.groupby("type", observed=True)["area_m2"].sum().to_dict(), len(out)
        if whole:
            return _areas(out), sum(len(f) for frames in out.values() for f in frames)
        if method == "fiveplans":
            return float(out["area_m2"].sum()), len(out)
        return float(out.geometry.area.sum()), len(out)

    func = ours if method == "fiveplans" else theirs
    runs = []
    for _ in range(2):  # each result is dropped before the next run's baseline
        elapsed, top, result, cpu, held = _measure(func)
        runs.append((elapsed, top, summary(result), cpu, held))
        del result
    best = min(runs, key=lambda r: r[0])
    peak = max(r[1] for r in runs)
    held = max(r[4] for r in runs)
    area, count = runs[0][2]
    print(
        json.dumps(
            {
                "time_s": best[0],
                "cpu_s": best[3],
                "peak_mb": peak / 2**20,
                "held_mb": held / 2**20,
                "area_m2": area,
                "pieces": count,
                "warm_up_s": warm_up,
            }
        )
    )


def _run(method: str, scale: int, variant: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_conflicts", method, str(scale), variant],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def whole() -> None:
    """The whole ``find_conflicts`` call on the county layers against the geopandas peer."""
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)", flush=True)
    for scale in (1, 4):
        ref = _run("overlay", scale, "county")
        ours = _run("fiveplans", scale, "county")
        speed = ref["time_s"] / ours["time_s"]
        rel = max(
            abs(ours["area_m2"].get(t, 0.0) - a) / a for t, a in ref["area_m2"].items() if a > 0
        )
        print(
            f"whole call, county land use {N_CELLS * scale:,} cells x "
            f"{N_CONSTRUCTION * scale:,} cluster parcels: geopandas (farmland ∩ construction of "
            f"both plans + both plan_mismatch differences) {ref['time_s']:.2f} s "
            f"(cpu {ref['cpu_s']:.2f} s), peak +{ref['peak_mb']:.0f} MB (result holds "
            f"{ref['held_mb']:.0f} MB), {ref['pieces']:,} pieces; find_conflicts "
            f"{ours['time_s']:.2f} s (cpu {ours['cpu_s']:.2f} s), peak +{ours['peak_mb']:.0f} MB "
            f"(result holds {ours['held_mb']:.0f} MB), {ours['pieces']:,} rows; speed-up {speed:.2f}x (goal >= 3x), largest area rel. "
            f"diff per type {rel:.2e} (goal <= 1e-6), memory "
            f"{'ok' if ours['peak_mb'] <= ref['peak_mb'] else 'HIGHER'}",
            flush=True,
        )


def main() -> None:
    whole()
    for variant, scale in [(v, s) for v in ("convex", "concave") for s in (1, 4)]:
        n_f, n_c = N_FARMLAND * scale, N_CONSTRUCTION * scale
        ref = _run("overlay", scale, variant)
        ours = _run("fiveplans", scale, variant)
        speed = ref["time_s"] / ours["time_s"]
        rel = abs(ours["area_m2"] - ref["area_m2"]) / ref["area_m2"]
        print(
            f"{variant} farmland, {n_f:,} x {n_c:,} construction: "
            f"geopandas.overlay {ref['time_s']:.2f} s (cpu {ref['cpu_s']:.2f} s), "
            f"peak +{ref['peak_mb']:.0f} MB, {ref['pieces']:,} pieces, {ref['area_m2']:.1f} m²; "
            f"find_conflicts {ours['time_s']:.2f} s (cpu {ours['cpu_s']:.2f} s), "
            f"peak +{ours['peak_mb']:.0f} MB, "
            f"{ours['pieces']:,} pieces, {ours['area_m2']:.1f} m²; "
            f"speed-up {speed:.2f}x (goal >= 3x), area rel. diff {rel:.2e}, "
            f"memory {'ok' if ours['peak_mb'] <= ref['peak_mb'] else 'HIGHER'}; "
            f"one-time clipper warm-up (compile or cache load) {ours['warm_up_s']:.2f} s",
            flush=True,
        )


if __name__ == "__main__":
    if len(sys.argv) == 4:
        _child(sys.argv[1], int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1:] == ["whole"]:
        whole()
    else:
        main()
