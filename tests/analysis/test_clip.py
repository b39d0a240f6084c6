"""The compiled convex clipper (fast path of intersect_pairs) against GEOS as the oracle."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fiveplans.analysis import _clip, overlay

X0, Y0 = 438_000.0, 3_715_000.0  # EPSG:4547 (CGCS2000 / 3-degree GK CM 114E) magnitudes


def poly(coords: list[tuple[float, float]], dx: float = X0, dy: float = Y0) -> shapely.Polygon:
    return shapely.Polygon([(x + dx, y + dy) for x, y in coords])


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


L_SHAPE = poly([(0, 0), (30, 0), (30, 10), (10, 10), (10, 30), (0, 30)])
U_SHAPE = poly([(0, 0), (30, 0), (30, 30), (20, 30), (20, 10), (10, 10), (10, 30), (0, 30)])
COMB = poly(
    [
        *[(0, 0), (50, 0), (50, 30), (40, 30), (40, 10), (30, 10), (30, 30), (20, 30)],
        *[(20, 10), (10, 10), (10, 30), (0, 30)],
    ]
)


def geos_piece(a: shapely.Geometry, b: shapely.Geometry) -> shapely.Geometry | None:
    """The oracle: GEOS's intersection, polygonal part, ``None`` when of no area."""
    g = overlay.polygonal([shapely.intersection(a, b)])[0]
    return None if g is None or g.area == 0 else g


def assert_same(piece: shapely.Geometry | None, ref: shapely.Geometry | None) -> None:
    if ref is None:
        assert piece is None
        return
    assert piece is not None
    assert shapely.is_valid(piece)
    assert abs(piece.area - ref.area) <= 1e-9 * ref.area
    assert shapely.equals_exact(shapely.normalize(piece), shapely.normalize(ref), 1e-6)
    assert shapely.area(shapely.symmetric_difference(piece, ref)) <= 1e-9 * ref.area


def clip_one(subject: shapely.Geometry, clip: shapely.Geometry) -> tuple[bool, object]:
    rs, rc = _clip.rings([subject]), _clip.rings([clip])
    done, pieces = _clip.clip_pairs(rs, np.array([0]), rc, np.array([0]))
    return bool(done[0]), pieces[0]


def test_convexity_and_orientation() -> None:
    ccw = box(0, 0, 10, 5)
    cw = shapely.Polygon(list(ccw.exterior.coords)[::-1])
    with_midpoint = poly([(0, 0), (5, 0), (10, 0), (10, 10), (0, 10)])  # collinear vertex
    repeated = poly([(0, 0), (10, 0), (10, 0), (10, 10), (0, 10)])
    holed = shapely.Polygon(box(0, 0, 10, 10).exterior, [box(2, 2, 4, 4).exterior])
    multi = shapely.MultiPolygon([box(0, 0, 1, 1), box(2, 0, 3, 1)])
    r = _clip.rings([ccw, cw, L_SHAPE, with_midpoint, repeated, holed, multi])
    assert shapely.is_ccw(ccw.exterior) and not shapely.is_ccw(cw.exterior)
    assert r.orient.tolist() == [1, -1, 0, 0, 1, 0, 0]
    n = np.diff(r.start)
    assert n.tolist() == [4, 4, 6, 5, 4, 0, 0]  # no closing or repeated points; holes, multi: none


DIAGONAL = poly([(-5, 30), (30, -5), (40, -5), (-5, 40)])  # across both arms of the L
STRIP = box(-5, 20, 60, 25)  # across the arms of the U and the comb


@pytest.mark.parametrize(
    ("subject", "strip"),
    [(L_SHAPE, DIAGONAL), (U_SHAPE, STRIP), (COMB, STRIP)],
    ids=["L", "U", "comb"],
)
def test_disconnected_intersections_go_to_geos(
    subject: shapely.Polygon, strip: shapely.Polygon
) -> None:
    # a convex clip across the shape's arms: the true intersection falls apart
    ref = geos_piece(subject, strip)
    assert ref is not None and ref.geom_type == "MultiPolygon"
    done, piece = clip_one(subject, strip)
    assert not done and piece is None
    il, ir, pieces, area = overlay.intersect_pairs(np.array([subject]), np.array([strip]))
    assert il.tolist() == [0] and ir.tolist() == [0]
    assert_same(pieces[0], ref)
    assert area[0] == pytest.approx(ref.area, rel=1e-12)


@pytest.mark.parametrize("subject", [L_SHAPE, U_SHAPE, COMB], ids=["L", "U", "comb"])
def test_concave_subject_with_connected_intersection_is_clipped(subject: shapely.Polygon) -> None:
    clip = box(-5, -5, 15, 40)  # its edge x = 15 crosses the base twice: a concave L-piece
    done, piece = clip_one(subject, clip)
    ref = geos_piece(subject, clip)
    assert done
    assert_same(piece, ref)
    assert len(shapely.get_coordinates(piece)) == 7  # six corners, closed
    assert not shapely.is_ccw(piece.exterior)  # written clockwise, as GEOS does


@pytest.mark.parametrize("subject", [U_SHAPE, COMB], ids=["U", "comb"])
def test_four_crossings_go_to_geos_even_when_connected(subject: shapely.Polygon) -> None:
    # the top edge crosses the arms: connected here, but not certified by the clipper
    clip = poly([(-3, -4), (45, 2), (44, 14), (-2, 12)])
    done, _ = clip_one(subject, clip)
    assert not done
    _il, _ir, pieces, _area = overlay.intersect_pairs(np.array([subject]), np.array([clip]))
    assert_same(pieces[0], geos_piece(subject, clip))


def test_holes_go_to_geos() -> None:
    holed = shapely.Polygon(box(0, 0, 100, 100).exterior, [box(40, 40, 60, 60).exterior])
    clip = box(30, 30, 70, 50)
    done, _ = clip_one(holed, clip)
    assert not done
    _il, _ir, pieces, _area = overlay.intersect_pairs(np.array([holed]), np.array([clip]))
    assert_same(pieces[0], geos_piece(holed, clip))
    assert pieces[0].area == pytest.approx(40 * 20 - 20 * 10)


def test_touching_pairs_have_no_piece() -> None:
    a = box(0, 0, 10, 10)
    neighbours = np.array(
        [
            box(10, 0, 20, 10),
            box(10, 10, 20, 20),
            box(10, 5, 20, 15),
            poly([(10, 2), (20, 0), (20, 9)]),
        ]
    )
    for b in neighbours:
        _done, piece = clip_one(a, b)
        assert piece is None  # either not done (vertices on the line) or empty
        _done, piece = clip_one(b, a)
        assert piece is None
    il, _ir, _pieces, _area = overlay.intersect_pairs(np.array([a]), neighbours)
    assert len(il) == 0


def test_contained_and_identical_pairs_return_the_input() -> None:
    outer = poly([(0, 0), (100, -10), (120, 60), (10, 80)])
    inner = box(20, 10, 40, 30)
    same = shapely.Polygon(outer.exterior)
    left = np.array([inner, outer])
    right = np.array([outer, same])
    il, ir, pieces, area = overlay.intersect_pairs(left, right, threads=1)
    pairs = list(zip(il.tolist(), ir.tolist(), strict=True))
    assert pairs == [(0, 0), (0, 1), (1, 0), (1, 1)]
    by_pair = dict(zip(pairs, pieces, strict=True))
    assert by_pair[(0, 0)] is inner and by_pair[(0, 1)] is inner  # the covered polygon itself
    assert by_pair[(1, 0)] is outer and by_pair[(1, 1)] is same
    # the identical pair clipped directly: not certified (vertices on clip lines)
    done, _ = clip_one(outer, same)
    assert not done
    assert area == pytest.approx(shapely.area(pieces))


def test_collinear_overlapping_edges_go_to_geos_and_match() -> None:
    a = box(0, 0, 10, 10)
    b = box(5, 0, 15, 8)  # shares part of the bottom edge
    done, _ = clip_one(a, b)
    assert not done
    _il, _ir, pieces, _area = overlay.intersect_pairs(np.array([a]), np.array([b]))
    assert_same(pieces[0], geos_piece(a, b))
    assert pieces[0].area == pytest.approx(40.0)


def test_tiny_sliver_matches_geos() -> None:
    a = box(0, 0, 100, 50)
    # a rotated rectangle whose corner just pokes 1 mm past a's top edge
    b = poly([(40, 50.001), (60, 49.9), (60.1, 70), (40.1, 70)])
    done, piece = clip_one(b, a)
    ref = geos_piece(a, b)
    assert done and ref is not None and ref.area < 1.0
    assert_same(piece, ref)


def test_clip_vertices_are_copied_exactly() -> None:
    subject = poly([(0, 0), (100, 3), (97, 90), (-4, 95)])
    clip = poly([(20.125, 20.25), (60.5, 25.75), (55.0625, 70.5), (18.0, 60.0)])
    done, piece = clip_one(subject, clip)
    assert done
    assert_same(piece, geos_piece(subject, clip))
    assert shapely.equals_exact(shapely.normalize(piece), shapely.normalize(clip), 0.0)


def random_convex(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    pts = rng.uniform(-scale, scale, (n, 8, 2)) + rng.uniform(0, 3 * scale, (n, 1, 2))
    return shapely.convex_hull(shapely.multipoints(pts + np.array([X0, Y0])))


def test_random_convex_pairs_match_geos() -> None:
    rng = np.random.default_rng(7)
    a, b = random_convex(rng, 400, 50.0), random_convex(rng, 400, 50.0)
    il, ir, pieces, _area = overlay.intersect_pairs(a, b, threads=2)
    assert len(il) > 1000
    refs = [geos_piece(a[i], b[j]) for i, j in zip(il, ir, strict=True)]
    for piece, ref in zip(pieces, refs, strict=True):
        assert_same(piece, ref)
    # and no pair GEOS finds a piece for is missing
    qa, qb = shapely.STRtree(b).query(a, predicate="intersects")
    expected = {(i, j) for i, j in zip(qa, qb, strict=True) if geos_piece(a[i], b[j]) is not None}
    assert set(zip(il.tolist(), ir.tolist(), strict=True)) == expected
    r = _clip.rings(a)
    done, _ = _clip.clip_pairs(r, il, _clip.rings(b), ir)
    assert done.mean() > 0.9  # the fast path takes nearly all convex pairs


def star(rng: np.random.Generator, n: int, cx: float, cy: float, r: float) -> shapely.Polygon:
    """A random star-shaped (simple, usually concave) polygon."""
    angle = np.sort(rng.uniform(0, 2 * np.pi, n))
    radius = rng.uniform(0.3 * r, r, n)
    return shapely.Polygon(
        np.column_stack([cx + radius * np.cos(angle), cy + radius * np.sin(angle)])
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 14),
    far=st.sampled_from([0.0, X0, 4.0e6]),
)
def test_property_fast_path_equals_geos(seed: int, n: int, far: float) -> None:
    rng = np.random.default_rng(seed)
    subjects = [
        star(rng, n, far + rng.uniform(0, 40), far + rng.uniform(0, 40), 30.0) for _ in range(6)
    ]
    subjects = [s for s in subjects if s.is_valid]
    clips = random_convex(rng, 6, 20.0)
    clips = shapely.transform(clips, lambda xy: xy - (X0, Y0) + far)
    for s in subjects:
        for c in clips:
            done, piece = clip_one(s, c)
            if done:
                assert_same(piece, geos_piece(s, c))
    left = np.array(subjects, dtype=object)
    il, ir, pieces, _area = overlay.intersect_pairs(left, clips, threads=1)
    for i, j, piece in zip(il, ir, pieces, strict=True):
        assert_same(piece, geos_piece(left[i], clips[j]))


def test_snap_rounding_uses_geos_on_the_grid() -> None:
    a = poly([(0.00003, 0), (100, 3.00007), (97, 90), (-4, 95)])
    b = box(10, 10, 50.00004, 50)
    _il, _ir, pieces, _area = overlay.intersect_pairs(
        np.array([a]), np.array([b]), snap_rounding=True, grid_size=1e-3
    )
    xy = shapely.get_coordinates(pieces[0]) - (X0, Y0)
    assert np.allclose(xy / 1e-3, np.round(xy / 1e-3), atol=1e-6)
    assert pieces[0].area == pytest.approx(geos_piece(a, b).area, rel=1e-6)


def test_warm_up_reports_seconds() -> None:
    assert _clip.warm_up() >= 0.0
    assert _clip.warm_up(once=True) == 0.0


def test_clip_rows_decides_containment_disjointness_and_stats() -> None:
    outer = poly([(0, 0), (100, -10), (120, 60), (10, 80)])  # convex
    inner = box(20, 10, 40, 30)
    far_corner = poly([(115, 75), (135, 55), (135, 75)])  # bounding boxes meet, shapes do not
    crossing = box(90, 20, 150, 40)
    on_line = box(0, 0, 10, 10)  # shares the vertex (0, 0): not certified
    subjects = np.array([inner, outer, far_corner, crossing, on_line])
    clips = np.array([outer, inner, outer, outer, outer])
    rs, rc = _clip.rings(subjects), _clip.rings(clips)
    idx = np.arange(len(subjects))
    res = _clip.clip_rows(rs, idx, rc, idx)
    assert res.status.tolist() == [
        _clip.SUBJECT_IN,
        _clip.CLIP_IN,
        _clip.EMPTY,
        _clip.PIECE,
        _clip.NOT_DONE,
    ]
    assert shapely.bounds(far_corner)[0] < shapely.bounds(outer)[2]  # a bbox-only candidate
    assert geos_piece(far_corner, outer) is None
    assert res.pieces[0] is None and res.pieces[1] is None  # the caller takes the originals
    assert_same(res.pieces[3], geos_piece(crossing, outer))
    # the piece's area is the double shapely computes; centroids as overlay.centroids
    assert res.area[3] == shapely.area(res.pieces[3])
    assert np.isnan(res.area[[0, 1, 2, 4]]).all()
    want = overlay.centroids(np.array([inner, inner, res.pieces[3]]))
    assert np.array_equal(res.centroid[[0, 1, 3]], want)
    geos = shapely.get_coordinates(shapely.centroid(np.array([inner, inner, res.pieces[3]])))
    assert np.abs(res.centroid[[0, 1, 3]] - geos).max() < 1e-6
    assert res.inside[[0, 1, 3]].all() and not res.inside[[2, 4]].any()
    # clip_pairs keeps its meaning: the contained polygon, rebuilt from its ring
    done, pieces = _clip.clip_pairs(rs, idx, rc, idx)
    assert done.tolist() == [True, True, True, True, False]
    assert_same(pieces[0], inner)
    assert_same(pieces[1], inner)
    assert pieces[2] is None and pieces[4] is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 14))
def test_property_clipper_areas_and_centroids_equal_shapely(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    subjects = [star(rng, n, X0 + rng.uniform(0, 40), Y0 + rng.uniform(0, 40), 30.0)]
    subjects += list(random_convex(rng, 5, 20.0))
    subjects = np.array([s for s in subjects if s.is_valid], dtype=object)
    clips = random_convex(rng, 6, 20.0)
    si, ci = np.meshgrid(np.arange(len(subjects)), np.arange(len(clips)), indexing="ij")
    si, ci = si.ravel(), ci.ravel()
    res = _clip.clip_rows(_clip.rings(subjects), si, _clip.rings(clips), ci)
    made = np.flatnonzero(res.status == _clip.PIECE)
    assert np.array_equal(res.area[made], shapely.area(res.pieces[made]))  # bit for bit
    assert np.array_equal(res.centroid[made], overlay.centroids(res.pieces[made]))
    whole = {_clip.SUBJECT_IN: subjects[si], _clip.CLIP_IN: clips[ci]}
    geoms = res.pieces.copy()
    for code, side in whole.items():
        geoms[res.status == code] = side[res.status == code]
    has = np.not_equal(geoms, None)
    assert np.array_equal(res.centroid[has], overlay.centroids(geoms[has]))
    sure = np.flatnonzero(res.inside)
    assert has[sure].all()
    assert shapely.contains_xy(geoms[sure], res.centroid[sure, 0], res.centroid[sure, 1]).all()
    # containment claims hold (GEOS as the oracle)
    for code, piece_side, other_side in (
        (_clip.SUBJECT_IN, subjects[si], clips[ci]),
        (_clip.CLIP_IN, clips[ci], subjects[si]),
    ):
        rows = np.flatnonzero(res.status == code)
        assert shapely.covers(other_side[rows], piece_side[rows]).all()
    # pairs found empty have no area in common
    empty = np.flatnonzero(res.status == _clip.EMPTY)
    for k in empty:
        assert geos_piece(subjects[si[k]], clips[ci[k]]) is None


def test_intersect_pairs_with_centroids() -> None:
    rng = np.random.default_rng(3)
    a, b = random_convex(rng, 200, 50.0), random_convex(rng, 200, 50.0)
    b[:20] = [star(rng, 9, X0 + 70 + 10 * k, Y0 + 70, 40.0) for k in range(20)]  # concave
    b[:20] = [g if g.is_valid else box(0, 0, 1, 1) for g in b[:20]]
    il, ir, pieces, area, xy, inside = overlay.intersect_pairs(a, b, with_centroids=True)
    plain = overlay.intersect_pairs(a, b)
    assert len(plain) == 4
    assert np.array_equal(il, plain[0]) and np.array_equal(ir, plain[1])
    assert np.array_equal(area, plain[3]) and np.array_equal(area, shapely.area(pieces))
    known = ~np.isnan(xy[:, 0])
    assert known.mean() > 0.9
    assert np.array_equal(xy[known], overlay.centroids(pieces[known]))
    assert not inside[~known].any()
    assert shapely.contains_xy(pieces[inside], xy[inside, 0], xy[inside, 1]).all()


def test_neighbours_that_only_touch_are_decided_empty() -> None:
    # a coverage of convex cells: neighbours share edges and corners (copied vertices)
    rng = np.random.default_rng(12)
    frame = box(0, 0, 400, 400)
    pts = rng.uniform((X0, Y0), (X0 + 400, Y0 + 400), (60, 2))
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame, ordered=True)
    )
    cells = shapely.intersection(cells, frame)
    i, j = shapely.STRtree(cells).query(cells)
    i, j = i[i != j], j[i != j]
    r = _clip.rings(cells)
    assert (r.orient != 0).all()
    res = _clip.clip_rows(r, i, r, j)
    meets = shapely.touches(cells[i], cells[j])
    assert meets.sum() > 100
    assert (res.status[meets] == _clip.EMPTY).all()  # decided, exactly: no GEOS needed
    assert (res.status != _clip.NOT_DONE).mean() > 0.99
    # what is not a copied vertex on the line stays with GEOS: a vertex on an edge's
    # interior (T-junction), collinear partly overlapping edges, identical polygons
    a = box(0, 0, 10, 10)
    for b in (poly([(10, 2), (20, 0), (20, 9)]), box(10, 5, 20, 15), box(5, 10, 15, 20), a):
        done, piece = clip_one(b, a)
        assert not done and piece is None
    # boxes touching at a corner: each one's edge lines run through the other's vertices
    assert not clip_one(box(10, 10, 20, 20), a)[0]
    # a shared edge, a corner touch, with copies of the clip's vertices: empty
    for b in (box(10, 0, 20, 10), poly([(10, 10), (20, 12), (12, 20)])):
        for s, c in ((b, a), (a, b)):
            done, piece = clip_one(s, c)
            assert done and piece is None and geos_piece(s, c) is None


def test_clip_rows_builds_only_the_wanted_pieces() -> None:
    rng = np.random.default_rng(8)
    a, b = random_convex(rng, 60, 50.0), random_convex(rng, 60, 50.0)
    si, ci = (x.ravel() for x in np.meshgrid(np.arange(60), np.arange(60), indexing="ij"))
    ra, rb = _clip.rings(a), _clip.rings(b)
    full = _clip.clip_rows(ra, si, rb, ci)
    build = rng.random(len(si)) < 0.5
    part = _clip.clip_rows(ra, si, rb, ci, build=build)
    made = full.status == _clip.PIECE
    assert made.sum() > 50
    assert np.array_equal(part.status, full.status)
    assert np.array_equal(part.area, full.area, equal_nan=True)
    assert np.array_equal(part.centroid, full.centroid, equal_nan=True)
    assert np.array_equal(np.not_equal(part.pieces, None), made & build)
    assert shapely.equals_exact(part.pieces[made & build], full.pieces[made & build], 0).all()


def test_intersect_pairs_area_only() -> None:
    rng = np.random.default_rng(4)
    a, b = random_convex(rng, 150, 50.0), random_convex(rng, 150, 50.0)
    b[:10] = [box(0, 0, 1, 1) if not g.is_valid else g for g in
              (star(rng, 9, X0 + 70 + 10 * k, Y0 + 70, 40.0) for k in range(10))]  # fmt: skip
    whole = overlay.intersect_pairs(a, b, with_centroids=True)
    odd = overlay.intersect_pairs(a, b, with_centroids=True, area_only=lambda _il, ir: ir % 2 == 1)
    for k in (0, 1, 3, 4, 5):
        assert np.array_equal(odd[k], whole[k], equal_nan=True)
    gone = odd[1] % 2 == 1
    assert gone.any() and (~gone).any()
    assert (odd[2][gone] == None).all()  # noqa: E711
    assert shapely.equals_exact(odd[2][~gone], whole[2][~gone], 0).all()
