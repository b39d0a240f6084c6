"""The subtraction kernels of the plan-mismatch overlay: ``overlay.subtract_each``,
``overlapping_pairs``, ``non_overlapping`` and ``split_outside``, checked against plain
shapely (GEOS) differences and ``geopandas.overlay`` on random and degenerate cases."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from fiveplans.analysis import overlay

REL = 1e-6


def _area(g: shapely.Geometry | None) -> float:
    return 0.0 if g is None else float(shapely.area(g))


def _oracle(geoms: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Each geometry minus the union of the others it meets, by GEOS directly."""
    union = shapely.union_all(others) if len(others) else shapely.Polygon()
    return np.array([_area(shapely.difference(g, union)) for g in geoms])


def _rotated_rects(rng: np.random.Generator, n: int, side: float, size: float) -> np.ndarray:
    w = size * np.exp(rng.normal(0.0, 0.5, n))
    h = w * rng.uniform(0.5, 2.0, n)
    cx, cy = rng.uniform(0, side, n), rng.uniform(0, side, n)
    angle = rng.uniform(0, np.pi, n)
    rects = shapely.box(-w / 2, -h / 2, w / 2, h / 2)
    xy, idx = shapely.get_coordinates(rects, return_index=True)
    c, s = np.cos(angle)[idx], np.sin(angle)[idx]
    moved = np.column_stack(
        [xy[:, 0] * c - xy[:, 1] * s + cx[idx], xy[:, 0] * s + xy[:, 1] * c + cy[idx]]
    )
    return shapely.set_coordinates(rects.copy(), moved)


def _voronoi(rng: np.random.Generator, n: int, side: float) -> np.ndarray:
    frame = box(0, 0, side, side)
    pts = rng.uniform(0, side, (n, 2))
    cells = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame, ordered=True)
    return shapely.intersection(shapely.get_parts(cells), frame)


def _concave(rng: np.random.Generator, n: int, side: float) -> np.ndarray:
    """L-shaped and holed polygons, and two-part multipolygons."""
    out = []
    for k in range(n):
        x, y = rng.uniform(0, side, 2)
        s = rng.uniform(20, 80)
        kind = k % 3
        if kind == 0:
            out.append(Polygon([(x, y), (x + s, y), (x + s, y + s / 2), (x + s / 2, y + s / 2),
                                (x + s / 2, y + s), (x, y + s)]))  # fmt: skip
        elif kind == 1:
            out.append(box(x, y, x + s, y + s).difference(box(x + s / 4, y + s / 4,
                                                              x + s / 2, y + s / 2)))  # fmt: skip
        else:
            out.append(MultiPolygon([box(x, y, x + s / 3, y + s / 3),
                                     box(x + s / 2, y, x + s, y + s / 2)]))  # fmt: skip
    return np.array(out, dtype=object)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["rects_minus_cells", "cells_minus_rects", "concave"])
def test_random_against_geos_and_geopandas(seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    cells = overlay.clean_polygons(_voronoi(rng, 300, 1000.0))
    rects = overlay.clean_polygons(_rotated_rects(rng, 150, 1000.0, 60.0))
    if kind == "rects_minus_cells":
        geoms, others = rects, cells[rng.random(len(cells)) < 0.4]
    elif kind == "cells_minus_rects":
        geoms, others = cells, rects
    else:
        geoms = overlay.clean_polygons(_concave(rng, 120, 1000.0))
        others = np.concatenate([rects, overlay.clean_polygons(_concave(rng, 80, 1000.0))])
    got = overlay.subtract_each(geoms, others)
    want = _oracle(geoms, others)
    areas = np.array([_area(g) for g in got])
    np.testing.assert_allclose(areas, want, rtol=REL, atol=1e-6)
    assert all(
        g is None or (g.is_valid and g.geom_type in ("Polygon", "MultiPolygon")) for g in got
    )
    # nothing left exactly where GEOS leaves nothing (a rounding sliver of < 1e-6 m² may stay)
    assert all(w <= 1e-6 for g, w in zip(got, want, strict=True) if g is None)
    assert all(g is not None for g, w in zip(got, want, strict=True) if w > 1e-6)
    # geopandas' difference overlay: one row per geometry with something left
    frame = gpd.GeoDataFrame({"i": np.arange(len(geoms))}, geometry=list(geoms))
    peer = gpd.overlay(frame, gpd.GeoDataFrame(geometry=list(others)), how="difference")
    peer_area = np.zeros(len(geoms))
    peer_area[peer["i"].to_numpy()] = peer.geometry.area.to_numpy()
    np.testing.assert_allclose(areas, peer_area, rtol=REL, atol=1e-6)


def test_inputs_unchanged_and_options_agree() -> None:
    rng = np.random.default_rng(5)
    geoms = overlay.clean_polygons(_rotated_rects(rng, 200, 800.0, 50.0))
    others = overlay.clean_polygons(_voronoi(rng, 200, 800.0))[::2]
    before = shapely.to_wkb(geoms)
    base = overlay.subtract_each(geoms, others)
    assert list(shapely.to_wkb(geoms)) == list(before)
    a0 = np.array([_area(g) for g in base])
    again = overlay.subtract_each(geoms, others, threads=1)
    np.testing.assert_allclose([_area(g) for g in again], a0, rtol=REL, atol=1e-6)
    # snap-rounding on the 0.1 mm grid moves each edge by up to 0.05 mm
    snapped = overlay.subtract_each(geoms, others, snap_rounding=True)
    perimeter = shapely.length(geoms)
    assert (np.abs([_area(g) for g in snapped] - a0) <= perimeter * 1e-4).all()
    # a canonical rank gives the same result whatever the others' row order
    perm = rng.permutation(len(others))
    rank = np.argsort(np.argsort(shapely.bounds(others)[:, 0]))
    one = overlay.subtract_each(geoms, others, rank=rank)
    two = overlay.subtract_each(geoms, others[perm], rank=rank[perm])
    assert [None if g is None else g.wkb for g in one] == [
        None if g is None else g.wkb for g in two
    ]


def test_degenerate_cases() -> None:
    square = box(0, 0, 10, 10)
    holed = box(0, 0, 10, 10).difference(box(3, 3, 7, 7))
    multi = MultiPolygon([box(0, 0, 4, 4), box(6, 6, 10, 10)])
    geoms = np.array([square, square, square, holed, holed, multi, square, square], dtype=object)
    cases = [
        (0, [box(10, 0, 20, 10)], 100.0),  # touching along an edge: unchanged
        (1, [box(0, 0, 10, 10)], 0.0),  # identical: nothing left
        (2, [box(10, 10, 12, 12)], 100.0),  # touching at a corner
        (3, [box(3, 3, 7, 7)], 84.0),  # the hole's own shape: nothing of the polygon
        (4, [box(-1, -1, 11, 5)], 42.0),  # cuts through the hole
        (5, [box(2, 2, 8, 8)], 16 + 16 - 4 - 4),  # one cut off each part
        (6, [box(2, 2, 4, 4), box(6, 6, 8, 8)], 92.0),  # two holes punched
        (7, [box(-5, -5, 15, 15)], 0.0),  # covered
    ]
    for i, others, want in cases:
        got = overlay.subtract_each(geoms[i : i + 1], np.array(others, dtype=object))[0]
        assert _area(got) == pytest.approx(want, rel=1e-12, abs=1e-9), (i, got)
        if want == 0.0:
            assert got is None
        if i in (0, 2):
            assert got.equals(square)
    # all at once (the rounds subtract each geometry's others together)
    others = np.array([o for _i, os_, _w in cases for o in os_], dtype=object)
    got = overlay.subtract_each(geoms, others)
    np.testing.assert_allclose([_area(g) for g in got], _oracle(geoms, others), atol=1e-9)


def test_empty_inputs() -> None:
    geoms = np.array([box(0, 0, 1, 1)], dtype=object)
    none = np.empty(0, dtype=object)
    assert overlay.subtract_each(none, geoms).shape == (0,)
    kept = overlay.subtract_each(geoms, none)
    assert kept[0].equals(geoms[0]) and kept is not geoms
    far = overlay.subtract_each(geoms, np.array([box(5, 5, 6, 6)], dtype=object))
    assert far[0] is geoms[0]


def test_overlapping_pairs_against_relate() -> None:
    rng = np.random.default_rng(3)
    geoms = overlay.clean_polygons(
        np.concatenate([_rotated_rects(rng, 150, 600.0, 50.0), _concave(rng, 40, 600.0)])
    )
    others = overlay.clean_polygons(_voronoi(rng, 150, 600.0))
    others = np.concatenate([others, geoms[:5]])  # identical polygons on both sides
    ig, io, covered = overlay.overlapping_pairs(geoms, others)
    a, b = np.meshgrid(np.arange(len(geoms)), np.arange(len(others)), indexing="ij")
    a, b = a.ravel(), b.ravel()
    m = np.array(shapely.relate(geoms[a], others[b]), dtype="U9").view("U1").reshape(-1, 9)
    meet = m[:, 0] != "F"
    assert set(zip(ig.tolist(), io.tolist(), strict=True)) == set(
        zip(a[meet].tolist(), b[meet].tolist(), strict=True)
    )
    want_cov = np.zeros(len(geoms), dtype=bool)
    want_cov[a[meet & shapely.covered_by(geoms[a], others[b])]] = True
    np.testing.assert_array_equal(covered, want_cov)
    assert covered[:5].all()


def test_non_overlapping() -> None:
    rng = np.random.default_rng(4)
    cells = overlay.clean_polygons(_voronoi(rng, 100, 500.0))
    assert overlay.non_overlapping(cells).all()
    # a square over a few cells, one cell inside another, a duplicate: of every two polygons
    # that share area at least one is flagged (a set of unflagged polygons shares no area)
    inner = shapely.buffer(shapely.centroid(cells[7]), 2.0)
    extra = np.concatenate([cells, [box(100, 100, 140, 140), inner, cells[20]]])
    flags = overlay.non_overlapping(extra)
    assert not flags[-3:].any()
    a, b = np.triu_indices(len(extra), 1)
    m = np.array(shapely.relate(extra[a], extra[b]), dtype="U9").view("U1").reshape(-1, 9)
    overlap = m[:, 0] != "F"
    assert overlap.sum() >= 4
    assert (~(flags[a] & flags[b]))[overlap].all()
    assert flags[: len(cells)].sum() >= len(cells) - 10  # the cells away from them stay clean


def _split_oracle(geoms, others, removed):
    """{(g, o): area of (g − removed) ∩ o} and {g: area of g − all others}."""
    cut = shapely.union_all(others[removed]) if removed.any() else shapely.Polygon()
    every = shapely.union_all(others)
    pieces, rest = {}, {}
    for i, g in enumerate(geoms):
        d = shapely.difference(g, cut)
        for j in np.flatnonzero(~removed):
            a = _area(shapely.intersection(d, others[j]))
            if a > 1e-6:
                pieces[(i, int(j))] = a
        r = _area(shapely.difference(g, every))
        if r > 1e-6:
            rest[i] = r
    return pieces, rest


@pytest.mark.parametrize("layout", ["coverage", "overlapping", "nested", "all_removed"])
def test_split_outside_against_geos(layout: str) -> None:
    rng = np.random.default_rng(7)
    geoms = overlay.clean_polygons(
        np.concatenate([_rotated_rects(rng, 120, 700.0, 60.0), _concave(rng, 30, 700.0)])
    )
    others = overlay.clean_polygons(_voronoi(rng, 200, 600.0))  # leaves a strip uncovered
    if layout == "overlapping":
        others = np.concatenate([others, overlay.clean_polygons(_rotated_rects(rng, 40, 700, 80))])
    removed = rng.random(len(others)) < 0.3
    if layout == "nested":  # construction drawn inside farmland polygons (not a coverage)
        inner = shapely.buffer(shapely.point_on_surface(others[::3]), 8.0, quad_segs=2)
        others = np.concatenate([others, overlay.clean_polygons(inner)])
        removed = np.r_[np.zeros(len(others) - len(inner), dtype=bool), np.ones(len(inner), bool)]
    if layout == "all_removed":
        removed[:] = True
    got = overlay.split_outside(geoms, others, removed=removed)
    want_pieces, want_rest = _split_oracle(geoms, others, removed)
    have = {}
    for i, j, a in zip(got.i_geom, got.i_other, got.areas, strict=True):
        assert not removed[j]
        have[(int(i), int(j))] = have.get((int(i), int(j)), 0.0) + a
    assert {k for k, v in have.items() if v > 1e-6} == set(want_pieces)
    for k, v in want_pieces.items():
        assert have[k] == pytest.approx(v, rel=REL)
    np.testing.assert_allclose(got.areas, shapely.area(got.pieces), rtol=1e-12)
    rest = {int(i): _area(g) for i, g in zip(got.i_rest, got.rest, strict=True) if _area(g) > 1e-6}
    assert set(rest) == set(want_rest)
    for k, v in want_rest.items():
        assert rest[k] == pytest.approx(v, rel=REL)
    known = ~np.isnan(got.centroids[:, 0])
    if known.any():
        np.testing.assert_allclose(
            got.centroids[known], overlay.centroids(got.pieces[known]), rtol=0, atol=1e-6
        )


def test_non_overlapping_in_bands_on_threads() -> None:
    rng = np.random.default_rng(11)
    cells = _voronoi(rng, 40_000, 20_000.0)
    squares = _rotated_rects(rng, 30, 20_000.0, 300.0)  # over cells, across band edges too
    geoms = np.concatenate([cells, squares])
    whole = overlay.non_overlapping(geoms, threads=1)
    banded = overlay.non_overlapping(geoms, threads=2)
    assert len(geoms) >= 4 * overlay._BAND  # the banded path ran
    # a band may flag more (conservative), never less; every overlapping pair is flagged
    assert not (banded & ~whole).any()
    assert not banded[-30:].any() and banded[:-30].mean() > 0.99
    a, b = shapely.STRtree(geoms).query(geoms[-30:], predicate="intersects")
    a += len(geoms) - 30
    m = np.array(shapely.relate(geoms[a], geoms[b]), dtype="U9").view("U1").reshape(-1, 9)
    overlap = (m[:, 0] != "F") & (a != b)
    assert overlap.sum() > 30 and not (banded[a] & banded[b])[overlap].any()


def test_non_overlapping_coverage_needs_no_geos_validation(monkeypatch) -> None:
    rng = np.random.default_rng(9)
    cells = overlay.clean_polygons(_voronoi(rng, 400, 2000.0))

    def no_geos(arr, threads):
        raise AssertionError(f"GEOS validation of {len(arr)} polygons")

    monkeypatch.setattr(overlay, "_coverage_clean", no_geos)
    assert overlay.non_overlapping(cells).all()  # every neighbour pair decided by the clipper
    # parcels over the cells: the parcel (overlapping most) is flagged, the cells stay clean
    rects = overlay.clean_polygons(_rotated_rects(rng, 5, 2000.0, 150.0))
    flags = overlay.non_overlapping(np.concatenate([cells, rects]))
    assert not flags[-5:].any() and flags[:-5].all()


def test_non_overlapping_undecided_pairs_go_to_geos() -> None:
    rng = np.random.default_rng(10)
    cells = overlay.clean_polygons(_voronoi(rng, 200, 1000.0))
    concave = overlay.clean_polygons(_concave(rng, 30, 1000.0))  # holes, multipolygons, L
    geoms = np.concatenate([cells, concave, concave[:3]])  # with duplicates
    flags = overlay.non_overlapping(geoms)
    a, b = shapely.STRtree(geoms).query(geoms)
    a, b = a[a < b], b[a < b]
    m = np.array(shapely.relate(geoms[a], geoms[b]), dtype="U9").view("U1").reshape(-1, 9)
    overlap = m[:, 0] != "F"
    assert overlap.sum() > 30
    assert not (flags[a] & flags[b])[overlap].any()  # unflagged polygons share no area
    assert flags[: len(cells)].mean() > 0.7


def test_split_outside_takes_the_callers_pairs() -> None:
    rng = np.random.default_rng(13)
    geoms = overlay.clean_polygons(_rotated_rects(rng, 120, 700.0, 60.0))
    others = overlay.clean_polygons(_voronoi(rng, 200, 600.0))
    removed = rng.random(len(others)) < 0.3
    own = overlay.split_outside(geoms, others, removed=removed)
    pairs = overlay.intersect_pairs(geoms, others, with_centroids=True)
    given = overlay.split_outside(geoms, others, removed=removed, pairs=pairs)
    for x, y in zip(own, given, strict=True):
        if x.dtype == object:
            assert shapely.equals_exact(x, y, 0).all()
        else:
            assert np.array_equal(x, y, equal_nan=True)
    assert not removed[own.i_other].any() and len(own.i_geom) > 100


# A triangle beside the tip of a spike, their vertices a float ulp apart (county benchmark
# pieces PM-c2ca68423435 / PM-55f73fe3effa): GEOS's covers/relate call the triangle covered
# although the two share only ~1e-20 m²; the overlay must not report the triangle's 544.5 m².
_TRIANGLE = (
    "POLYGON ((446272.8458155856 3719681.2348121335, 446226.8505809591 3719666.2774059777, "
    "446234.4938831201 3719692.4394280333, 446272.8458155856 3719681.2348121335))"
)
_SPIKE = (
    "POLYGON ((446389.14150501136 3719684.7738762004, 446404.5610507899 3719682.1278186534, "
    "446429.9189697165 3719638.7216698295, 446430.6697408329 3719628.738174734, "
    "446267.9520183141 3719473.0887979795, 446149.93832458317 3719504.5960183595, "
    "446136.5721862355 3719543.9611800546, 446154.91142353544 3719594.0652837683, "
    "446269.0598948582 3719487.201837501, 446367.1069628394 3719591.932906156, "
    "446284.1340016666 3719669.610482344, 446286.3752960859 3719677.2821395406, "
    "446272.84581558546 3719681.2348121335, 446365.12939933874 3719711.244943724, "
    "446391.5257245555 3719698.667596104, 446389.14150501136 3719684.7738762004))"
)


def test_an_ulp_touch_is_not_taken_for_covered() -> None:
    from fiveplans.analysis.overlay import intersect_pairs, subtract_each, vertices_covered

    tri, spike = shapely.from_wkt(_TRIANGLE), shapely.from_wkt(_SPIKE)
    assert shapely.intersection(tri, spike).area < 1e-6  # GEOS's overlay: they only touch
    assert not vertices_covered(np.array([tri]), np.array([spike]))[0]
    for left, right in ((tri, spike), (spike, tri)):
        *_, area = intersect_pairs(np.array([left]), np.array([right]))
        assert area.sum() < 1e-6
    rest = subtract_each(np.array([tri]), np.array([spike]))
    assert rest[0] is not None and abs(rest[0].area - tri.area) < 1e-6
