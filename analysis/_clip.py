"""Exact compiled clipping of polygons by convex polygons (凸多边形裁剪), the fast path of
:func:`fiveplans.analysis.overlay.intersect_pairs`.

A pair is clipped here when one polygon (the *clip*) is strictly convex and the other (the
*subject*) is a polygon without holes: Sutherland–Hodgman clips the subject by the half-plane
of each clip edge in turn, compiled with numba (one call per batch of pairs, without the GIL,
so threads can run batches side by side).

The result is certified, not trusted: a clip step is accepted only when every vertex of the
current polygon lies clearly on one side of the clip line (farther than about 1e-9 of its
distance to the edge's start, far above rounding error, so the side is the exact one) and the
boundary crosses the line at most twice. Under these conditions the clipped polygon is
exactly the intersection (a simple polygon; the closing segment along the clip line lies
inside the polygon), whatever the subject's shape. Every other case — a vertex on or next to
a clip line (shared edges and corners, collinear edges), a boundary crossing a clip line four
or more times (a concave subject whose intersection may fall apart: Sutherland–Hodgman would
join the parts by zero-width bridges), holes, multipolygons, non-convex clips — is reported as
*not done* and left to GEOS, with one exception: polygons that only touch, as neighbours in a
coverage do. When an edge line of the clip (or of a convex subject) has every vertex of the
other polygon either clearly outside or bit for bit equal to one of the edge's two endpoints
(so exactly on the line), the two share no area (``EMPTY``, exact: the shared edge or corner
is made of copied vertices). Intersection points are computed from coordinate differences; a
point where two consecutive clip lines meet is the clip's vertex itself, copied exactly.
Pieces are returned clockwise (as GEOS writes overlay shells). A subject whose every vertex
lies clearly inside every clip half-plane lies inside the clip (``SUBJECT_IN``); a result made
of all the clip's vertices, copied, is the clip itself (``CLIP_IN``): the caller then takes
the original polygon as the piece. Each piece's area is computed with GEOS's own formula (the
same double as ``shapely.area``) and its centroid as
:func:`fiveplans.analysis.overlay.centroids` computes it, with a certified test that the
centroid lies inside the piece.

Compiled code is cached on disk (``cache=True``) when the package directory (or numba's user
cache) is writable, else compiled in memory on first use.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np
import shapely

from fiveplans.errors import FiveplansError

__all__ = ["Clipped", "Rings", "clip_pairs", "clip_rows", "rings", "warm_up"]

logger = logging.getLogger(__name__)

SIDE_TOL = 1e-9
"""A vertex closer to a clip line than this times its distance to the edge start: not done."""
TURN_TOL = 1e-10
"""Sine of the smallest turn accepted at a convex clip polygon's vertex."""

NOT_DONE, EMPTY, PIECE, SUBJECT_IN, CLIP_IN = 0, 1, 2, 3, 4


def _jit(func: Callable) -> Callable:
    """``numba.njit(nogil=True)`` with an on-disk cache when a cache directory is writable."""
    try:
        return numba.njit(nogil=True, cache=True)(func)
    except RuntimeError:  # no writable cache location: compile in memory
        logger.debug("numba cache not writable; %s compiles in memory", func.__name__)
        return numba.njit(nogil=True)(func)


class Rings(NamedTuple):
    """Exterior rings of single-ring polygons, flat.

    Attributes
    ----------
    xy
        ``(n_vertices, 2)`` coordinates, each ring without its closing point and without
        repeated consecutive points.
    start
        Ring ``k`` is ``xy[start[k]:start[k + 1]]``; an empty range marks a polygon the
        fast path does not take (holes, multipolygon, fewer than three distinct points).
    orient
        ``+1`` / ``-1`` for a strictly convex counter-clockwise / clockwise ring, ``0``
        otherwise.
    """

    xy: np.ndarray
    start: np.ndarray
    orient: np.ndarray


@_jit
def _compact(xy: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop closing points and repeated consecutive points; rings under 3 points dropped."""
    n = len(count)
    out = np.empty_like(xy)
    start = np.zeros(n + 1, dtype=np.int64)
    k = 0
    i = 0
    for g in range(n):
        start[g] = k
        first = k
        for t in range(i, i + count[g]):
            x, y = xy[t, 0], xy[t, 1]
            if k > first and out[k - 1, 0] == x and out[k - 1, 1] == y:
                continue
            out[k, 0] = x
            out[k, 1] = y
            k += 1
        while k - first > 1 and out[k - 1, 0] == out[first, 0] and out[k - 1, 1] == out[first, 1]:
            k -= 1
        if k - first < 3:
            k = first
        i += count[g]
    start[n] = k
    return out[:k].copy(), start


@_jit
def _orient(xy: np.ndarray, start: np.ndarray) -> np.ndarray:
    """+1/-1 for strictly convex CCW/CW rings (certified turns, one full turn), else 0."""
    n = len(start) - 1
    out = np.zeros(n, dtype=np.int8)
    for g in range(n):
        a, b = start[g], start[g + 1]
        m = b - a
        if m < 3:
            continue
        sign = 0
        total = 0.0
        ok = True
        for i in range(m):
            p0 = a + (i + m - 1) % m
            p1 = a + i
            p2 = a + (i + 1) % m
            e1x, e1y = xy[p1, 0] - xy[p0, 0], xy[p1, 1] - xy[p0, 1]
            e2x, e2y = xy[p2, 0] - xy[p1, 0], xy[p2, 1] - xy[p1, 1]
            cr = e1x * e2y - e1y * e2x
            scale = (abs(e1x) + abs(e1y)) * (abs(e2x) + abs(e2y))
            if abs(cr) <= TURN_TOL * scale:
                ok = False
                break
            s = 1 if cr > 0 else -1
            if sign == 0:
                sign = s
            elif s != sign:
                ok = False
                break
            total += np.arctan2(cr, e1x * e2x + e1y * e2y)
        if ok and abs(abs(total) - 2.0 * np.pi) < 1e-6:
            out[g] = sign
    return out


def rings(geoms: np.ndarray) -> Rings:
    """The :class:`Rings` of polygons (any geometry; those the fast path cannot take are
    marked by an empty ring)."""
    arr = np.asarray(geoms, dtype=object).reshape(-1)
    n = len(arr)
    count = np.zeros(n, dtype=np.int64)
    usable = np.zeros(n, dtype=bool)
    if n:
        present = np.not_equal(arr, None)
        usable[present] = (shapely.get_type_id(arr[present]) == 3) & (
            shapely.get_num_interior_rings(arr[present]) == 0
        )
    if usable.any():
        xy, index = shapely.get_coordinates(arr[usable], return_index=True)
        count[usable] = np.bincount(index, minlength=int(usable.sum()))
    else:
        xy = np.empty((0, 2))
    xy, start = _compact(np.ascontiguousarray(xy, dtype=np.float64), count)
    return Rings(xy, start, _orient(xy, start))


_SPLIT = 134217729.0  # 2**27 + 1, Dekker's split of a double into two halves


@_jit
def _dd_add(ahi: float, alo: float, bhi: float, blo: float) -> tuple[float, float]:
    """Double-double sum (the steps of GEOS's ``DD::selfAdd``)."""
    big = ahi + bhi
    small = alo + blo
    e = big - ahi
    f = small - alo
    s = (bhi - e) + (ahi - (big - e))
    t = (blo - f) + (alo - (small - f))
    e = s + small
    hi = big + e
    h = e + (big - hi)
    e = t + h
    zhi = hi + e
    return zhi, e + (hi - zhi)


@_jit
def _dd_mul(ahi: float, alo: float, bhi: float, blo: float) -> tuple[float, float]:
    """Double-double product (GEOS's ``DD::selfMultiply``)."""
    c = _SPLIT * ahi
    hx = c - ahi
    d = _SPLIT * bhi
    hx = c - hx
    tx = ahi - hx
    hy = d - bhi
    prod = ahi * bhi
    hy = d - hy
    ty = bhi - hy
    d = ((((hx * hy - prod) + hx * ty) + tx * hy) + tx * ty) + (ahi * blo + alo * bhi)
    zhi = prod + d
    return zhi, d + (prod - zhi)


@_jit
def _dd_div(ahi: float, alo: float, bhi: float, blo: float) -> tuple[float, float]:
    """Double-double quotient (GEOS's ``DD::selfDivide``)."""
    q = ahi / bhi
    c = _SPLIT * q
    hc = c - q
    u = _SPLIT * bhi
    hc = c - hc
    tc = q - hc
    hy = u - bhi
    prod = q * bhi
    hy = u - hy
    ty = bhi - hy
    u = (((hc * hy - prod) + hc * ty) + tc * hy) + tc * ty
    c = ((((ahi - prod) - u) + alo) - q * blo) / bhi
    u = q + c
    return u, (q - u) + c


@_jit
def _meet(
    p1x: float,
    p1y: float,
    p2x: float,
    p2y: float,
    q1x: float,
    q1y: float,
    q2x: float,
    q2y: float,
) -> tuple[float, float]:
    """Where segment p1-p2 crosses segment q1-q2, in double-double arithmetic.

    The steps of GEOS's ``CGAlgorithmsDD::intersection``: the point is the exact crossing
    rounded to doubles (so the pieces carry the vertices GEOS writes). The crossing is
    proper here (p1 and p2 lie clearly on either side of q1-q2's line): no zero division.
    """
    pdx = _dd_add(p2x, 0.0, -p1x, 0.0)
    pdy = _dd_add(p2y, 0.0, -p1y, 0.0)
    qdx = _dd_add(q2x, 0.0, -q1x, 0.0)
    qdy = _dd_add(q2y, 0.0, -q1y, 0.0)
    dy = _dd_add(p1y, 0.0, -q1y, 0.0)
    dx = _dd_add(p1x, 0.0, -q1x, 0.0)
    a = _dd_mul(qdy[0], qdy[1], pdx[0], pdx[1])
    b = _dd_mul(qdx[0], qdx[1], pdy[0], pdy[1])
    denom = _dd_add(a[0], a[1], -b[0], -b[1])
    a = _dd_mul(qdx[0], qdx[1], dy[0], dy[1])
    b = _dd_mul(qdy[0], qdy[1], dx[0], dx[1])
    num = _dd_add(a[0], a[1], -b[0], -b[1])
    frac = _dd_div(num[0], num[1], denom[0], denom[1])
    a = _dd_mul(pdx[0], pdx[1], frac[0], frac[1])
    x = _dd_add(p1x, 0.0, a[0], a[1])
    a = _dd_mul(pdx[0], pdx[1], dy[0], dy[1])
    b = _dd_mul(pdy[0], pdy[1], dx[0], dx[1])
    num = _dd_add(a[0], a[1], -b[0], -b[1])
    frac = _dd_div(num[0], num[1], denom[0], denom[1])
    b = _dd_mul(qdy[0], qdy[1], frac[0], frac[1])
    y = _dd_add(q1y, 0.0, b[0], b[1])  # as GEOS: x along p1-p2, y along q1-q2
    return x[0] + x[1], y[0] + y[1]


@_jit
def _clip_edge(c0: int, m: int, ccw: bool, k: int) -> tuple[int, int]:
    """Rows of the start and end of edge ``k`` of a clip ring, counter-clockwise."""
    if ccw:
        return c0 + k, c0 + (k + 1) % m
    return c0 + (m - k) % m, c0 + (m - k - 1) % m


@_jit
def _ring_stats(
    xy: np.ndarray, a: int, b: int, closed: bool
) -> tuple[float, float, float, float, bool]:
    """Area (GEOS's formula), centroid and certified insideness of a ring's centroid.

    ``xy[a:b]`` is the ring (``closed``: its last point repeats the first). The area is
    computed exactly as GEOS's ``Area::ofRingSigned`` does (the same operations in the same
    order, so the same double), the centroid as :func:`fiveplans.analysis.overlay.centroids`
    does (shoelace relative to the first vertex). ``inside`` is True when the centroid lies
    clearly on the inner side of every edge: then it is in the ring's kernel, so inside the
    polygon (a simple polygon contains the intersection of its edges' inner half-planes).
    """
    n = b - a
    m = n if closed else n + 1  # points of the closed ring
    # GEOS Area::ofRingSigned
    x0 = xy[a, 0]
    p1y = xy[a, 1]
    p2x = xy[a + 1, 0] - x0
    p2y = xy[a + 1, 1]
    total = 0.0
    for i in range(1, m - 1):
        p0y = p1y
        p1x = p2x
        p1y = p2y
        j = a + (i + 1) % n
        p2x = xy[j, 0] - x0
        p2y = xy[j, 1]
        total += p1x * (p0y - p2y)
    area = abs(total / 2.0)
    # centroid, as overlay.centroids (same sums in the same order)
    fx, fy = xy[a, 0], xy[a, 1]
    s2 = 0.0
    sx = 0.0
    sy = 0.0
    for i in range(m - 1):
        u0x, u0y = xy[a + i % n, 0] - fx, xy[a + i % n, 1] - fy
        u1x, u1y = xy[a + (i + 1) % n, 0] - fx, xy[a + (i + 1) % n, 1] - fy
        cross = u0x * u1y - u1x * u0y
        s2 += cross
        sx += (u0x + u1x) * cross
        sy += (u0y + u1y) * cross
    if s2 == 0.0:
        return area, np.nan, np.nan, 0.0, False
    cx = sx / (3.0 * s2) + fx
    cy = sy / (3.0 * s2) + fy
    inside = True
    for i in range(m - 1):
        q0 = a + i % n
        q1 = a + (i + 1) % n
        ex, ey = xy[q1, 0] - xy[q0, 0], xy[q1, 1] - xy[q0, 1]
        vx, vy = cx - xy[q0, 0], cy - xy[q0, 1]
        di = ex * vy - ey * vx
        if s2 < 0.0:
            di = -di
        if not di > SIDE_TOL * (abs(ex) + abs(ey)) * (abs(vx) + abs(vy)):
            inside = False
            break
    return area, cx, cy, s2, inside


@_jit
def _apart(
    axy: np.ndarray, a0: int, a1: int, aorient: int, bxy: np.ndarray, b0: int, b1: int
) -> bool:
    """Whether an edge line of convex ring ``a`` leaves all of ring ``b`` on its outer side.

    Ring ``b``'s vertices must each be a copy of one of the edge's two endpoints (bit for
    bit: then they lie exactly on the line) or lie clearly outside (farther than the
    clipper's side tolerance). Then ``b`` — inside the convex hull of its vertices — lies
    in the closed outer half-plane and ``a`` in the closed inner one: they share no area
    (they touch along the edge, at a corner, or not at all). Exact: no rounded quantity
    decides; neighbours of a coverage that share an edge or a corner are decided here.
    """
    m = a1 - a0
    for j in range(m):
        q0, q1 = _clip_edge(a0, m, aorient > 0, j)
        px, py = axy[q0, 0], axy[q0, 1]
        qx, qy = axy[q1, 0], axy[q1, 1]
        ex, ey = qx - px, qy - py
        escale = abs(ex) + abs(ey)
        ok = True
        for i in range(b0, b1):
            x, y = bxy[i, 0], bxy[i, 1]
            if (x == px and y == py) or (x == qx and y == qy):
                continue
            vx, vy = x - px, y - py
            di = ex * vy - ey * vx
            if not -di > SIDE_TOL * escale * (abs(vx) + abs(vy)):
                ok = False
                break
        if ok:
            return True
    return False


@_jit
def _clip(
    sxy: np.ndarray,
    sstart: np.ndarray,
    sorient: np.ndarray,
    si: np.ndarray,
    cxy: np.ndarray,
    cstart: np.ndarray,
    corient: np.ndarray,
    ci: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clip subject rings ``si`` by convex clip rings ``ci`` pairwise.

    Returns ``(status, count, xy, area, centroid, inside)``: per pair NOT_DONE / EMPTY /
    PIECE / SUBJECT_IN (the subject lies inside the clip: it is the piece) / CLIP_IN (the
    clip lies inside the subject) and the number of coordinates of its piece (PIECE only);
    the pieces' closed clockwise rings, in pair order; per pair the piece's area (PIECE
    only, as GEOS computes it), centroid (any piece) and whether the centroid is certified
    inside the piece.
    """
    n = len(si)
    status = np.zeros(n, dtype=np.int8)
    count = np.zeros(n, dtype=np.int64)
    areas = np.full(n, np.nan)
    cent = np.full((n, 2), np.nan)
    inside_c = np.zeros(n, dtype=np.bool_)
    size = 0
    for p in range(n):
        b = (sstart[si[p] + 1] - sstart[si[p]]) + (cstart[ci[p] + 1] - cstart[ci[p]]) + 1
        size = max(size, b)
    out = np.empty((4 * n + size, 2))  # grown when needed (most pairs give no piece)
    # the current polygon's vertices and, per vertex, the line its outgoing edge lies on:
    # a subject edge (row of its start in sxy, >= 0) or clip edge k (-1 - k); crossings are
    # computed from these original segments, never from rounded points; and whether the
    # vertex is a clip vertex (copied)
    ax = np.empty(size)
    ay = np.empty(size)
    ae = np.empty(size, dtype=np.int64)
    av = np.empty(size, dtype=np.bool_)
    bx = np.empty(size)
    by = np.empty(size)
    be = np.empty(size, dtype=np.int64)
    bv = np.empty(size, dtype=np.bool_)
    d = np.empty(size)
    k = 0
    for p in range(n):
        s0, s1 = sstart[si[p]], sstart[si[p] + 1]
        c0, c1 = cstart[ci[p]], cstart[ci[p] + 1]
        ns, m = s1 - s0, c1 - c0
        if ns < 3 or m < 3 or corient[ci[p]] == 0:
            continue
        ccw = corient[ci[p]] > 0
        na = ns
        for i in range(na):
            ax[i] = sxy[s0 + i, 0]
            ay[i] = sxy[s0 + i, 1]
            ae[i] = s0 + i
            av[i] = False
        state = PIECE
        cut = False
        for j in range(m):
            q0, q1 = _clip_edge(c0, m, ccw, j)
            px, py = cxy[q0, 0], cxy[q0, 1]
            ex, ey = cxy[q1, 0] - px, cxy[q1, 1] - py
            escale = abs(ex) + abs(ey)
            inside = 0
            for i in range(na):
                vx, vy = ax[i] - px, ay[i] - py
                di = ex * vy - ey * vx
                if abs(di) <= SIDE_TOL * escale * (abs(vx) + abs(vy)):
                    state = NOT_DONE
                    break
                d[i] = di
                if di > 0:
                    inside += 1
            if state == NOT_DONE:
                break
            if inside == na:
                continue
            if inside == 0:
                state = EMPTY
                break
            crossings = 0
            for i in range(na):
                if (d[i] > 0) != (d[i - 1 if i > 0 else na - 1] > 0):
                    crossings += 1
            if crossings > 2:
                state = NOT_DONE
                break
            cut = True
            nb = 0
            for i in range(na):
                h = i - 1 if i > 0 else na - 1
                if (d[i] > 0) != (d[h] > 0):
                    e = ae[h]
                    bv[nb] = False
                    if e >= 0:  # along subject edge e
                        e1 = s0 + (e - s0 + 1) % ns
                        bx[nb], by[nb] = _meet(
                            sxy[e, 0], sxy[e, 1], sxy[e1, 0], sxy[e1, 1], px, py, ex + px, ey + py
                        )
                    elif -1 - e == j - 1 or (j == m - 1 and e == -1):
                        # along the previous clip edge (at the last edge: along the first):
                        # the crossing is the clip polygon's vertex between them
                        q = q0 if -1 - e == j - 1 else q1
                        bx[nb], by[nb] = cxy[q, 0], cxy[q, 1]
                        bv[nb] = True
                    else:
                        r0, r1 = _clip_edge(c0, m, ccw, -1 - e)
                        bx[nb], by[nb] = _meet(
                            cxy[r0, 0], cxy[r0, 1], cxy[r1, 0], cxy[r1, 1], px, py, ex + px, ey + py
                        )
                    # leaving: the next edge runs along this clip edge; entering: on along e
                    be[nb] = -1 - j if d[h] > 0 else e
                    nb += 1
                if d[i] > 0:
                    bx[nb], by[nb], be[nb], bv[nb] = ax[i], ay[i], ae[i], av[i]
                    nb += 1
            ax, bx = bx, ax
            ay, by = by, ay
            ae, be = be, ae
            av, bv = bv, av
            na = nb
        if state == NOT_DONE and (
            _apart(cxy, c0, c1, corient[ci[p]], sxy, s0, s1)
            or (sorient[si[p]] != 0 and _apart(sxy, s0, s1, sorient[si[p]], cxy, c0, c1))
        ):
            state = EMPTY  # they only touch: an edge line separates them (exact)
        if state != PIECE:
            status[p] = state
            continue
        if not cut:  # every subject vertex strictly inside every clip half-plane
            status[p] = SUBJECT_IN
            a_, cx, cy, _s, ins = _ring_stats(sxy, s0, s1, False)
            cent[p, 0], cent[p, 1], inside_c[p] = cx, cy, ins
            continue
        if na == m:
            whole = True
            for i in range(na):
                if not av[i]:
                    whole = False
                    break
            if whole:  # m distinct clip vertices: the clip polygon itself
                status[p] = CLIP_IN
                a_, cx, cy, _s, ins = _ring_stats(cxy, c0, c1, False)
                cent[p, 0], cent[p, 1], inside_c[p] = cx, cy, ins
                continue
        area2 = 0.0
        for i in range(1, na - 1):
            area2 += (ax[i] - ax[0]) * (ay[i + 1] - ay[0]) - (ax[i + 1] - ax[0]) * (ay[i] - ay[0])
        if area2 == 0.0:
            status[p] = EMPTY
            continue
        if k + na + 1 > len(out):
            grown = np.empty((2 * len(out) + na + 1, 2))
            grown[:k] = out[:k]
            out = grown
        first = k
        for i in range(na + 1):
            src = (na - i) % na if area2 > 0 else i % na  # clockwise, closed
            out[k, 0] = ax[src]
            out[k, 1] = ay[src]
            k += 1
        a_, cx, cy, _s, ins = _ring_stats(out, first, k, True)
        status[p] = PIECE
        count[p] = na + 1
        areas[p] = a_
        cent[p, 0], cent[p, 1], inside_c[p] = cx, cy, ins
    return status, count, out[:k], areas, cent, inside_c


class Clipped(NamedTuple):
    """The result of :func:`clip_rows` for pairs ``k``.

    Attributes
    ----------
    status
        ``NOT_DONE`` (left to GEOS), ``EMPTY`` (no area in common), ``PIECE`` (a new
        polygon in ``pieces``), ``SUBJECT_IN`` / ``CLIP_IN`` (the subject / clip polygon
        lies inside the other, so it is the piece itself; ``pieces`` holds ``None``).
    pieces
        The new polygons of the PIECE pairs (``None`` elsewhere).
    area
        Their planar areas, bit for bit as ``shapely.area`` gives them (NaN elsewhere).
    centroid
        ``(n, 2)`` area centroid of each piece (PIECE, SUBJECT_IN, CLIP_IN; NaN elsewhere), as
        :func:`fiveplans.analysis.overlay.centroids` computes it.
    inside
        True where the centroid is certified inside the piece.
    """

    status: np.ndarray
    pieces: np.ndarray
    area: np.ndarray
    centroid: np.ndarray
    inside: np.ndarray


def clip_rows(
    subject: Rings,
    i_subject: np.ndarray,
    clip: Rings,
    i_clip: np.ndarray,
    *,
    build: np.ndarray | None = None,
) -> Clipped:
    """Clip subject ring ``i_subject[k]`` by convex clip ring ``i_clip[k]``, with statistics.

    Parameters
    ----------
    subject, clip
        :func:`rings` of the two sides.
    i_subject, i_clip
        The pairs (equal lengths); pairs whose clip ring is not convex are not done.
    build
        Boolean mask over the pairs: the new pieces to build as polygons (default all);
        the others get status, area and centroid only (``pieces`` holds ``None``).

    Returns
    -------
    Clipped
        Status, new pieces, areas and centroids per pair.
    """
    i_subject = np.asarray(i_subject, dtype=np.int64)
    i_clip = np.asarray(i_clip, dtype=np.int64)
    pieces = np.full(len(i_subject), None, dtype=object)
    if len(i_subject) == 0:
        e = np.empty(0)
        return Clipped(np.zeros(0, dtype=np.int8), pieces, e, np.empty((0, 2)), e.astype(bool))
    status, count, xy, area, cent, inside = _clip(
        subject.xy,
        subject.start,
        subject.orient,
        i_subject,
        clip.xy,
        clip.start,
        clip.orient,
        i_clip,
    )
    made = np.flatnonzero(status == PIECE)
    if len(made):
        rings_at = np.zeros(len(made) + 1, dtype=np.int64)
        np.cumsum(count[made], out=rings_at[1:])
        if build is not None:
            wanted = np.asarray(build, dtype=bool)[made]
            if not wanted.all():  # gather the coordinates of the pieces to build
                n = count[made][wanted]
                first = rings_at[:-1][wanted]
                rows = np.repeat(first - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
                xy = xy[rows]
                made = made[wanted]
                rings_at = np.zeros(len(made) + 1, dtype=np.int64)
                np.cumsum(n, out=rings_at[1:])
    if len(made):
        pieces[made] = shapely.from_ragged_array(
            shapely.GeometryType.POLYGON, xy, (rings_at, np.arange(len(made) + 1))
        )
    return Clipped(status, pieces, area, cent, inside)


def _ring_polygons(r: Rings, rows: np.ndarray) -> np.ndarray:
    """Polygons of rings ``rows`` of ``r``, clockwise and closed."""
    out = np.full(len(rows), None, dtype=object)
    for k, g in enumerate(rows):
        ring = r.xy[r.start[g] : r.start[g + 1]]
        if len(ring) >= 3:
            poly = shapely.Polygon(np.vstack([ring, ring[:1]]))
            out[k] = shapely.orient_polygons(poly, exterior_cw=True)
    return out


def clip_pairs(
    subject: Rings, i_subject: np.ndarray, clip: Rings, i_clip: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Intersections of ``subject`` ring ``i_subject[k]`` with convex ``clip`` ring ``i_clip[k]``.

    Parameters
    ----------
    subject, clip
        :func:`rings` of the two sides.
    i_subject, i_clip
        The pairs (equal lengths); pairs whose clip ring is not convex are not done.

    Returns
    -------
    tuple of numpy.ndarray
        ``(done, pieces)``: ``done[k]`` is False for a pair left to GEOS (``pieces[k]`` is
        then ``None``); a done pair's piece is a new valid Polygon (clockwise; a subject or
        clip lying inside the other is rebuilt from its ring), or ``None`` when the two only
        touch or do not meet.
    """
    i_subject = np.asarray(i_subject, dtype=np.int64)
    i_clip = np.asarray(i_clip, dtype=np.int64)
    res = clip_rows(subject, i_subject, clip, i_clip)
    pieces = res.pieces
    for code, r, rows in ((SUBJECT_IN, subject, i_subject), (CLIP_IN, clip, i_clip)):
        sel = np.flatnonzero(res.status == code)
        if len(sel):
            pieces[sel] = _ring_polygons(r, rows[sel])
    return res.status != NOT_DONE, pieces


_warm = threading.Lock()
_compiled: list[float] = []


def warm_up(*, once: bool = False) -> float:
    """Compile the kernels (or load them from numba's cache) now.

    Parameters
    ----------
    once
        Do nothing (and return 0) when they were already compiled in this process.

    Returns
    -------
    float
        Seconds it took.
    """
    with _warm:
        if once and _compiled:
            return 0.0
        t0 = time.perf_counter()
        boxes = np.array([shapely.box(0.0, 0.0, 2.0, 2.0), shapely.box(1.0, 1.0, 3.0, 3.0)])
        r = rings(boxes)
        done, pieces = clip_pairs(r, np.array([0]), r, np.array([1]))
        if not (done[0] and shapely.area(pieces[0]) == 1.0):
            raise FiveplansError(
                "fiveplans.analysis._clip: the numba-compiled polygon clipper failed its "
                "self-check (two overlapping squares). Fix: reinstall numba and llvmlite "
                "(`pip install --force-reinstall numba`) and delete stale numba caches "
                "(analysis/__pycache__/_clip.*.nbi/.nbc)"
            )
        _compiled.append(time.perf_counter() - t0)
        return _compiled[-1]
