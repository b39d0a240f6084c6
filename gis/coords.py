"""Chinese web-map offsets: GCJ-02 (火星坐标, Amap/Tencent) and BD-09 (Baidu).

Public algorithm: GCJ-02 perturbs WGS84/CGCS2000 lon/lat with a fixed polynomial-trigonometric
field on the Krasovsky ellipsoid (``a = 6378245.0``, ``ee = 0.00669342162296594323``); BD-09
adds a small rotation and a shift of (0.0065°, 0.006°). The forward transforms are closed
formulas; the inverses have none and are solved here by fixed-point iteration to 1e-10 degrees
(about a centimetre is 1e-7°), vectorised over numpy arrays.

CGCS2000 and WGS84 agree to well under a metre, so ``wgs84`` here stands for both.
The implementation is tested against the independent ``prcoords`` package.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_TOL_DEG = 1e-10
_MAX_ITER = 30

Array = NDArray[np.float64]


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    x = np.asarray(lon, dtype="float64")
    y = np.asarray(lat, dtype="float64")
    return np.broadcast_arrays(x, y)  # type: ignore[return-value]


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Whether points lie outside the rough box where the GCJ-02 offset applies."""
    x, y = _arrays(lon, lat)
    return (x < 72.004) | (x > 137.8347) | (y < 0.8293) | (y > 55.8271)


def _delta(x: Array, y: Array) -> tuple[Array, Array]:
    """The GCJ-02 offset (degrees) at WGS84 lon/lat ``x``, ``y``."""
    dx = x - 105.0
    dy = y - 35.0
    t_lat = (
        -100.0
        + 2.0 * dx
        + 3.0 * dy
        + 0.2 * dy * dy
        + 0.1 * dx * dy
        + 0.2 * np.sqrt(np.abs(dx))
        + (20.0 * np.sin(6.0 * dx * np.pi) + 20.0 * np.sin(2.0 * dx * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(dy * np.pi) + 40.0 * np.sin(dy / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(dy / 12.0 * np.pi) + 320.0 * np.sin(dy * np.pi / 30.0)) * 2.0 / 3.0
    )
    t_lon = (
        300.0
        + dx
        + 2.0 * dy
        + 0.1 * dx * dx
        + 0.1 * dx * dy
        + 0.1 * np.sqrt(np.abs(dx))
        + (20.0 * np.sin(6.0 * dx * np.pi) + 20.0 * np.sin(2.0 * dx * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(dx * np.pi) + 40.0 * np.sin(dx / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(dx / 12.0 * np.pi) + 300.0 * np.sin(dx / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = y / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (t_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (t_lon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = out_of_china(x, y)
    return np.where(outside, 0.0, d_lon), np.where(outside, 0.0, d_lat)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """WGS84/CGCS2000 lon/lat to GCJ-02 (closed formula)."""
    x, y = _arrays(lon, lat)
    d_lon, d_lat = _delta(x, y)
    return x + d_lon, y + d_lat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 lon/lat to WGS84/CGCS2000, iterated until the forward map matches to 1e-10°."""
    gx, gy = _arrays(lon, lat)
    x, y = gx.copy(), gy.copy()
    for _ in range(_MAX_ITER):
        fx, fy = wgs84_to_gcj02(x, y)
        ex, ey = fx - gx, fy - gy
        x = x - ex
        y = y - ey
        if np.all(np.abs(ex) < _TOL_DEG) and np.all(np.abs(ey) < _TOL_DEG):
            break
    return x, y


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 lon/lat to BD-09 (closed formula)."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """BD-09 lon/lat to GCJ-02, iterated until the forward map matches to 1e-10°."""
    bx, by = _arrays(lon, lat)
    x, y = bx - 0.0065, by - 0.006
    for _ in range(_MAX_ITER):
        fx, fy = gcj02_to_bd09(x, y)
        ex, ey = fx - bx, fy - by
        x = x - ex
        y = y - ey
        if np.all(np.abs(ex) < _TOL_DEG) and np.all(np.abs(ey) < _TOL_DEG):
            break
    return x, y


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """WGS84/CGCS2000 lon/lat to BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """BD-09 lon/lat to WGS84/CGCS2000 (both inverses iterated)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
