"""Tests of the geometry kernel's public helpers (fiveplans.analysis.overlay)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.errors import GEOSException
from shapely.geometry import box

from fiveplans.analysis import overlay


def flaky(real):
    """``real`` that fails like GEOS on a robustness problem unless snap-rounded."""
    calls: list[object] = []

    def op(a, b, grid_size=None):
        calls.append(grid_size)
        if grid_size is None:
            raise GEOSException("TopologyException: side location conflict")
        return real(a, b, grid_size=grid_size)

    return op, calls


def test_polygonal_each_and_polygonal_part_say_what_they_take() -> None:
    line = shapely.LineString([(0, 0), (1, 1)])
    mixed = shapely.GeometryCollection([box(0, 0, 1, 1), line, box(2, 0, 3, 1)])
    each = overlay.polygonal_each([box(0, 0, 1, 1), line, mixed, None])
    assert each[0].equals(box(0, 0, 1, 1)) and each[1] is None and each[3] is None
    assert each[2].geom_type == "MultiPolygon" and each[2].area == pytest.approx(2.0)
    one = overlay.polygonal_part(mixed)
    assert one.area == pytest.approx(2.0)
    assert overlay.polygonal_part(line).is_empty and overlay.polygonal_part(None).is_empty


def test_intersect_each_against_one_or_many() -> None:
    a = np.array([box(0, 0, 10, 10), box(20, 20, 30, 30), box(5, 5, 15, 15)], dtype=object)
    out = overlay.intersect_each(a, box(0, 0, 12, 12))
    assert [None if g is None else round(g.area, 9) for g in out] == [100.0, None, 49.0]
    touching = overlay.intersect_each(a[:1], np.array([box(10, 0, 20, 10)], dtype=object))
    assert touching[0] is None  # a shared edge is not polygonal


def test_single_geometry_helpers() -> None:
    a, b = box(0, 0, 10, 10), box(5, 0, 15, 10)
    assert overlay.polygon_intersection(a, b).area == pytest.approx(50.0)
    assert overlay.polygon_difference(a, b).area == pytest.approx(50.0)
    assert overlay.polygon_difference(a, b, box(0, 0, 2, 10)).area == pytest.approx(30.0)
    assert overlay.polygon_difference(a, shapely.Polygon()).equals(a)
    assert overlay.polygon_intersection(a, box(20, 20, 30, 30)).is_empty
    u = overlay.union_polygons(
        [a, None, shapely.Polygon(), b, shapely.LineString([(0, 0), (1, 0)])]
    )
    assert u.area == pytest.approx(150.0)
    bowtie = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])  # invalid: repaired
    assert overlay.union_polygons([bowtie]).area == pytest.approx(50.0)
    assert overlay.union_polygons([]).is_empty


def test_overlay_each_retries_with_snap_rounding(monkeypatch: pytest.MonkeyPatch) -> None:
    op, calls = flaky(shapely.intersection)
    out = overlay.overlay_each(op, [box(0, 0, 10, 10)], [box(5, 5, 15, 15)], grid_size=1e-3)
    assert out[0].area == pytest.approx(25.0) and calls[-1] == 1e-3
    # the single-geometry helpers of zones and adjustments take the same fallback
    flaky_cut, cut_calls = flaky(shapely.intersection)
    flaky_diff, diff_calls = flaky(shapely.difference)
    monkeypatch.setattr(overlay.shapely, "intersection", flaky_cut)
    monkeypatch.setattr(overlay.shapely, "difference", flaky_diff)
    assert overlay.polygon_intersection(box(0, 0, 10, 10), box(5, 5, 15, 15)).area == (
        pytest.approx(25.0)
    )
    assert overlay.polygon_difference(box(0, 0, 10, 10), box(5, 5, 15, 15)).area == (
        pytest.approx(75.0)
    )
    assert cut_calls[-1] == 1e-4 and diff_calls[-1] == 1e-4


def test_threaded_validity_leaves_the_warning_filters_alone() -> None:
    """The overlay checks validity on worker threads; ``shapely.is_valid`` would swap the
    process-wide warning filters from each thread (``catch_warnings`` is not thread-safe) and
    the main thread's warnings — a stage reported skipped — were lost now and then."""
    import warnings

    from fiveplans.analysis import overlay
    from fiveplans.errors import FiveplansWarning

    squares = shapely.box(
        np.arange(40_000.0) * 2, np.zeros(40_000), np.arange(40_000.0) * 2 + 1, np.ones(40_000)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FiveplansWarning)
        before = list(warnings.filters)
        for _ in range(3):
            overlay.clean_polygons(squares)
        assert warnings.filters == before
        warnings.warn("a stage skipped", FiveplansWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["a stage skipped"]
