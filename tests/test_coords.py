"""GCJ-02 / BD-09 conversions checked against the independent ``prcoords`` package."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import prcoords
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fiveplans import coords

R_EARTH = 6_371_000.0
FORWARD_TOL_DEG = 1e-9  # same closed formula: agreement to rounding
INVERSE_TOL_M = 0.01  # the brief's 1 cm

# lon/lat inside China's GCJ-02 box (prcoords.sanity_in_china_p), away from its edges
china_lon = st.floats(min_value=73.6, max_value=134.9, allow_nan=False)
china_lat = st.floats(min_value=18.2, max_value=53.4, allow_nan=False)


@pytest.fixture(autouse=True, scope="module")
def _tight_prcoords() -> Iterator[None]:
    """prcoords' precise inverses stop at 1e-5° of forward mismatch (about 1 cm); tighten it so
    the oracle itself reaches the millimetre (its algorithm, iterated further)."""
    saved = prcoords.PRC_EPS
    prcoords.PRC_EPS = 1e-12
    yield
    prcoords.PRC_EPS = saved


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Local planar distance between two nearby lon/lat points, metres."""
    dy = math.radians(lat2 - lat1) * R_EARTH
    dx = math.radians(lon2 - lon1) * R_EARTH * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


def henan_grid() -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.arange(110.3, 116.71, 0.1), np.arange(31.4, 36.41, 0.1))
    return lon.ravel(), lat.ravel()


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_forward_matches_prcoords_across_china(lon: float, lat: float) -> None:
    glon, glat = coords.wgs84_to_gcj02(lon, lat)
    ref = prcoords.wgs_gcj((lat, lon))
    assert abs(float(glon) - ref.lon) < FORWARD_TOL_DEG
    assert abs(float(glat) - ref.lat) < FORWARD_TOL_DEG
    blon, blat = coords.gcj02_to_bd09(lon, lat)
    ref_bd = prcoords.gcj_bd((lat, lon))
    assert abs(float(blon) - ref_bd.lon) < FORWARD_TOL_DEG
    assert abs(float(blat) - ref_bd.lat) < FORWARD_TOL_DEG
    wlon, wlat = coords.wgs84_to_bd09(lon, lat)
    ref_wbd = prcoords.wgs_bd((lat, lon))
    assert abs(float(wlon) - ref_wbd.lon) < FORWARD_TOL_DEG
    assert abs(float(wlat) - ref_wbd.lat) < FORWARD_TOL_DEG


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_inverse_matches_prcoords_across_china(lon: float, lat: float) -> None:
    wlon, wlat = coords.gcj02_to_wgs84(lon, lat)
    ref = prcoords.gcj_wgs_bored((lat, lon))
    assert metres(float(wlon), float(wlat), ref.lon, ref.lat) <= INVERSE_TOL_M
    glon, glat = coords.bd09_to_gcj02(lon, lat)
    ref_g = prcoords.bd_gcj_bored((lat, lon))
    assert metres(float(glon), float(glat), ref_g.lon, ref_g.lat) <= INVERSE_TOL_M
    w2lon, w2lat = coords.bd09_to_wgs84(lon, lat)
    ref_w = prcoords.bd_wgs_bored((lat, lon))
    assert metres(float(w2lon), float(w2lat), ref_w.lon, ref_w.lat) <= INVERSE_TOL_M
    # the oracle's forward maps our inverses back onto the input
    back = prcoords.wgs_gcj((float(wlat), float(wlon)))
    assert metres(back.lon, back.lat, lon, lat) <= 1e-3
    back = prcoords.wgs_bd((float(w2lat), float(w2lon)))
    assert metres(back.lon, back.lat, lon, lat) <= 1e-3


def test_henan_grid_forward_and_inverse_vectorised() -> None:
    lon, lat = henan_grid()
    glon, glat = coords.wgs84_to_gcj02(lon, lat)
    wlon, wlat = coords.gcj02_to_wgs84(lon, lat)
    blon, blat = coords.wgs84_to_bd09(lon, lat)
    bwlon, bwlat = coords.bd09_to_wgs84(lon, lat)
    for i in range(lon.size):
        ref = prcoords.wgs_gcj((lat[i], lon[i]))
        assert abs(glon[i] - ref.lon) < FORWARD_TOL_DEG
        assert abs(glat[i] - ref.lat) < FORWARD_TOL_DEG
        ref = prcoords.gcj_wgs_bored((lat[i], lon[i]))
        assert metres(wlon[i], wlat[i], ref.lon, ref.lat) <= INVERSE_TOL_M
        ref = prcoords.wgs_bd((lat[i], lon[i]))
        assert abs(blon[i] - ref.lon) < FORWARD_TOL_DEG
        assert abs(blat[i] - ref.lat) < FORWARD_TOL_DEG
        ref = prcoords.bd_wgs_bored((lat[i], lon[i]))
        assert metres(bwlon[i], bwlat[i], ref.lon, ref.lat) <= INVERSE_TOL_M


def test_henan_offsets_have_the_documented_size() -> None:
    # standards.md: GCJ-02 about 530-600 m off in Henan, BD-09 about 1.2-1.3 km
    lon, lat = henan_grid()
    ref_g = [prcoords.wgs_gcj((la, lo)) for lo, la in zip(lon, lat, strict=True)]
    shift = [metres(lo, la, r.lon, r.lat) for lo, la, r in zip(lon, lat, ref_g, strict=True)]
    glon, glat = coords.wgs84_to_gcj02(lon, lat)
    ours = [metres(*v) for v in zip(lon, lat, glon, glat, strict=True)]
    np.testing.assert_allclose(ours, shift, atol=1e-3)
    assert 450 < np.median(ours) < 700


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(2.3522, 48.8566), (-74.006, 40.7128), (151.2093, -33.8688), (139.6917, 35.6895 + 25)],
)
def test_out_of_china_unchanged(lon: float, lat: float) -> None:
    glon, glat = coords.wgs84_to_gcj02(lon, lat)
    wlon, wlat = coords.gcj02_to_wgs84(lon, lat)
    assert (float(glon), float(glat)) == (lon, lat)
    assert (float(wlon), float(wlat)) == (lon, lat)
    assert bool(coords.out_of_china(lon, lat))
    with pytest.warns(UserWarning, match="Non-Chinese"):
        ref = prcoords.wgs_gcj((lat, lon))
    assert (ref.lon, ref.lat) == (lon, lat)


def test_mixed_inside_and_outside_points() -> None:
    lon = np.array([113.65, 2.35, 112.43])
    lat = np.array([34.75, 48.86, 34.69])
    glon, glat = coords.wgs84_to_gcj02(lon, lat)
    assert (glon[1], glat[1]) == (2.35, 48.86)
    for i in (0, 2):
        ref = prcoords.wgs_gcj((lat[i], lon[i]))
        assert abs(glon[i] - ref.lon) < FORWARD_TOL_DEG
        assert abs(glat[i] - ref.lat) < FORWARD_TOL_DEG


@pytest.mark.parametrize(
    "func",
    [
        coords.wgs84_to_gcj02,
        coords.gcj02_to_wgs84,
        coords.gcj02_to_bd09,
        coords.bd09_to_gcj02,
        coords.wgs84_to_bd09,
        coords.bd09_to_wgs84,
    ],
)
def test_shapes_preserved_and_scalars(func) -> None:
    lon = np.linspace(111.0, 116.0, 12).reshape(3, 4)
    lat = np.linspace(32.0, 36.0, 12).reshape(3, 4)
    x, y = func(lon, lat)
    assert x.shape == (3, 4) and y.shape == (3, 4)
    # each element equals the scalar call on it
    sx, sy = func(float(lon[1, 2]), float(lat[1, 2]))
    assert np.ndim(sx) == 0 and np.ndim(sy) == 0
    assert abs(float(sx) - x[1, 2]) < 1e-9 and abs(float(sy) - y[1, 2]) < 1e-9
    # inputs are not modified
    assert lon[0, 0] == 111.0 and lat[0, 0] == 32.0
    # lists work like arrays
    lx, ly = func(list(lon[0]), list(lat[0]))
    np.testing.assert_allclose(lx, x[0], atol=1e-12)
    np.testing.assert_allclose(ly, y[0], atol=1e-12)
