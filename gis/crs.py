"""Coordinate reference systems (坐标系) for Chinese planning data.

Parses the ``crs:`` values of a pilot config, picks CGCS2000 Gauss-Kruger zones
(高斯-克吕格投影分带), detects the CRS of coordinates that come without one, binds Xian 1980 /
Beijing 1954 CRSs to user-supplied datum-shift parameters, transforms points, and diagnoses
layers that are labelled WGS84/CGCS2000 but really carry the GCJ-02 web-map offset (火星坐标).

Every transformer here is built with ``always_xy=True``: the EPSG definitions of the Chinese
Gauss-Kruger CRSs declare northing-first axes, and this module always speaks (x, y) = (easting,
northing) or (lon, lat).
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj.crs import BoundCRS
from pyproj.crs.coordinate_operation import ToWGS84Transformation
from pyproj.exceptions import CRSError as PyprojCRSError

from fiveplans.coords import bd09_to_wgs84, gcj02_to_wgs84
from fiveplans.errors import ConfigError, CRSError, CRSWarning, DataError

if TYPE_CHECKING:
    import geopandas

__all__ = [
    "CGCS2000_GEOGRAPHIC",
    "CrsDetection",
    "CrsSpec",
    "OffsetDiagnosis",
    "default_working_crs",
    "detect_crs",
    "diagnose_gcj02",
    "from_lonlat",
    "gk_crs",
    "gk_crs_for_zone",
    "is_projected_metres",
    "needs_datum_parameters",
    "offset_to_cgcs2000",
    "parse_crs",
    "to_lonlat",
    "with_towgs84",
]

logger = logging.getLogger(__name__)

CGCS2000_GEOGRAPHIC = pyproj.CRS.from_epsg(4490)
"""CGCS2000 geographic lon/lat (EPSG:4490); WGS84 agrees with it to well under a metre."""

Offset = Literal["gcj02", "bd09"]
Array = NDArray[np.float64]

_VALID_EXAMPLES = (
    "an EPSG code such as EPSG:4547 or 4547 (CGCS2000 3-degree Gauss-Kruger CM 114E), "
    "EPSG:4490 (CGCS2000 lon/lat), a WKT or PROJ string, gcj02 (Amap/Tencent 高德/腾讯) "
    "or bd09 (Baidu 百度)"
)

# First EPSG code of each family, by datum: 3° zone-prefixed (zone 25), 3° plain (CM 75E),
# 6° zone-prefixed (zone 13), 6° plain (CM 75E). Each family is contiguous in the EPSG registry;
# tests/test_crs.py checks every code against the name and parameters pyproj reports.
_GK_BASE: dict[str, dict[tuple[int, bool], int]] = {
    "cgcs2000": {(3, True): 4513, (3, False): 4534, (6, True): 4491, (6, False): 4502},
    "xian1980": {(3, True): 2349, (3, False): 2370, (6, True): 2327, (6, False): 2338},
    "beijing1954": {(3, True): 2401, (3, False): 2422, (6, True): 21413, (6, False): 21453},
}
_DATUM_ALIASES = {
    "cgcs2000": "cgcs2000",
    "cgcs": "cgcs2000",
    "china2000": "cgcs2000",
    "xian1980": "xian1980",
    "xian80": "xian1980",
    "xa80": "xian1980",
    "beijing1954": "beijing1954",
    "beijing54": "beijing1954",
    "bj54": "beijing1954",
}
_ZONES = {3: range(25, 46), 6: range(13, 24)}

# Rough lon/lat box of China (with its seas), used to recognise geographic coordinates.
_CHINA_LON = (73.0, 136.0)
_CHINA_LAT = (3.0, 54.0)
# Northings of Gauss-Kruger coordinates in China (about 3° to 54° north).
_GK_NORTHING = (0.0, 6_100_000.0)
# Tolerance (degrees) beyond a zone's edge: real deliveries spill over slightly.
_ZONE_SLACK_DEG = 0.5

# Datums that need user-supplied shift parameters to reach CGCS2000 (no public transformation).
_LEGACY_DATUM_WORDS = ("xian 1980", "xian_1980", "xi'an 1980", "beijing 1954", "beijing_1954")
_LEGACY_ELLIPSOIDS = ("iag 1975", "iau 1976", "krassowsky 1940", "krasovsky 1940")


@dataclass(frozen=True)
class CrsSpec:
    """A parsed ``crs:`` config value.

    Attributes
    ----------
    crs
        The CRS; for ``gcj02``/``bd09`` the CRS after removing the offset, CGCS2000 lon/lat
        (EPSG:4490).
    offset
        ``"gcj02"`` or ``"bd09"`` when the coordinates carry a Chinese web-map offset, else None.
    text
        What the user wrote.
    """

    crs: pyproj.CRS | None
    offset: Offset | None
    text: str


@dataclass(frozen=True)
class CrsDetection:
    """The outcome of :func:`detect_crs`.

    Attributes
    ----------
    crs
        The detected CRS, or None when the numbers do not allow a decision.
    reason
        A sentence (English, with Chinese gloss) saying why, and what to write in ``crs:``
        when nothing was detected.
    ambiguous_datum
        True when CGCS2000 was assumed although Xian 1980 / Beijing 1954 coordinates look alike.
    """

    crs: pyproj.CRS | None
    reason: str
    ambiguous_datum: bool


@dataclass(frozen=True)
class OffsetDiagnosis:
    """The outcome of :func:`diagnose_gcj02`.

    Attributes
    ----------
    offset_m
        Median displacement, in metres, between the layer as given and the layer with the GCJ-02
        offset removed: how far the layer sits from the reference if it is GCJ-02.
    gcj02_fit_gain
        Relative improvement of the fit to the reference after the GCJ-02 correction, in
        [-1, 1]: ``(misfit_as_given - misfit_corrected) / max(both)``; 1 means the corrected
        layer fits perfectly, 0 no difference, negative means the correction makes it worse.
    probably_gcj02
        True when the corrected layer fits clearly better and the shift is 400–700 m.
    message
        A finished sentence for the user (English, with Chinese gloss).
    """

    offset_m: float
    gcj02_fit_gain: float
    probably_gcj02: bool
    message: str


# --------------------------------------------------------------------------------------------
# parsing


def parse_crs(value: str | int | None, *, key: str = "crs") -> CrsSpec | None:
    """Parse a ``crs:`` config value.

    Parameters
    ----------
    value
        An EPSG code (``"EPSG:4547"``, ``"epsg:4547"``, ``4547``, ``"4547"``), a WKT or PROJ
        string, or ``gcj02``/``GCJ-02``/``bd09``/``BD-09`` (case-insensitive). None or an
        empty/blank string means "not given".
    key
        The config key the value came from, named in error messages (e.g. ``plans.urban.crs``).

    Returns
    -------
    CrsSpec or None
        None when no value was given.

    Raises
    ------
    ConfigError
        When the value is not a CRS; the message names ``key``, the value and valid examples.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConfigError(
            f"`{key}: {value!r}` is not a coordinate reference system (坐标系): expected "
            f"{_VALID_EXAMPLES}."
        )
    text = str(value).strip()
    if not text:
        return None
    squeezed = re.sub(r"[\s_\-]", "", text).lower()
    if squeezed in ("gcj02", "bd09"):
        offset: Offset = "gcj02" if squeezed == "gcj02" else "bd09"
        return CrsSpec(crs=CGCS2000_GEOGRAPHIC, offset=offset, text=text)
    try:
        if re.fullmatch(r"\d+", text):
            crs = pyproj.CRS.from_epsg(int(text))
        else:
            crs = pyproj.CRS.from_user_input(text)
    except PyprojCRSError as exc:
        raise ConfigError(
            f"`{key}: {text}` is not a coordinate reference system (坐标系) that PROJ knows "
            f"({exc}). Write {_VALID_EXAMPLES}."
        ) from None
    return CrsSpec(crs=crs, offset=None, text=text)


# --------------------------------------------------------------------------------------------
# Gauss-Kruger zones


def _datum_key(datum: str) -> str:
    squeezed = re.sub(r"[\s_\-']", "", datum).lower()
    if squeezed not in _DATUM_ALIASES:
        raise ConfigError(
            f"`datum: {datum}` is not a Chinese geodetic datum fiveplans knows: write cgcs2000 "
            "(2000国家大地坐标系), xian1980 (1980西安坐标系) or beijing1954 (1954北京坐标系)."
        )
    return _DATUM_ALIASES[squeezed]


def gk_crs_for_zone(
    zone: int, *, width: Literal[3, 6], prefixed: bool, datum: str = "cgcs2000"
) -> pyproj.CRS:
    """The Gauss-Kruger CRS of a zone number (带号), as its EPSG code.

    Parameters
    ----------
    zone
        3° zones 25–45 (central meridian ``3 * zone``) or 6° zones 13–23 (``6 * zone - 3``).
    width
        Zone width in degrees, 3 or 6.
    prefixed
        True for eastings carrying the zone number (false easting ``zone * 1e6 + 500 000``),
        False for the plain false easting of 500 000 m.
    datum
        ``cgcs2000`` (default), ``xian1980`` or ``beijing1954``.

    Raises
    ------
    CRSError
        When the zone lies outside China's range of zones for that width.
    """
    if width not in (3, 6):
        raise ConfigError(f"Gauss-Kruger zone width must be 3 or 6 degrees, not {width!r}.")
    zones = _ZONES[width]
    if int(zone) != zone or zone not in zones:
        raise CRSError(
            f"Gauss-Kruger {width}° zone {zone} is outside China (zones {zones.start}–"
            f"{zones.stop - 1}): check the zone number (带号) or the coordinates."
        )
    code = _GK_BASE[_datum_key(datum)][(width, prefixed)] + int(zone) - zones.start
    return pyproj.CRS.from_epsg(code)


def _zone_of(lon: float, width: Literal[3, 6]) -> int:
    if width == 3:
        return math.floor((lon + 1.5) / 3.0)
    return math.floor(lon / 6.0) + 1


def gk_crs(
    lon: float, *, width: Literal[3, 6] = 3, prefixed: bool = False, datum: str = "cgcs2000"
) -> pyproj.CRS:
    """The Gauss-Kruger zone CRS containing longitude ``lon``.

    Parameters
    ----------
    lon
        Longitude in degrees east.
    width
        Zone width, 3 (default) or 6 degrees.
    prefixed
        Whether eastings carry the zone number (see :func:`gk_crs_for_zone`).
    datum
        ``cgcs2000`` (default), ``xian1980`` or ``beijing1954``.

    Raises
    ------
    CRSError
        When ``lon`` is not finite or lies outside China's zones.
    """
    if not math.isfinite(lon):
        raise CRSError(f"cannot pick a Gauss-Kruger zone for longitude {lon!r}.")
    return gk_crs_for_zone(_zone_of(lon, width), width=width, prefixed=prefixed, datum=datum)


def default_working_crs(lon: float, lat: float) -> pyproj.CRS:
    """The default working CRS: CGCS2000 3° Gauss-Kruger zone of the point, false easting 500 km.

    Parameters
    ----------
    lon, lat
        The point in CGCS2000/WGS84 degrees, usually the planning boundary's centroid.

    Raises
    ------
    CRSError
        When the point is not in China.
    """
    if not (math.isfinite(lon) and math.isfinite(lat)) or not (
        _CHINA_LON[0] <= lon <= _CHINA_LON[1] and _CHINA_LAT[0] <= lat <= _CHINA_LAT[1]
    ):
        raise CRSError(
            f"the point ({lon}, {lat}) is not lon/lat in China, so no default working CRS can "
            "be chosen: set `crs:` in the pilot YAML, e.g. `crs: EPSG:4547`."
        )
    return gk_crs(lon, width=3, prefixed=False)


def is_projected_metres(crs: pyproj.CRS) -> bool:
    """Whether ``crs`` is projected with both horizontal axes in metres."""
    if not crs.is_projected:
        return False
    axes = crs.axis_info[:2]
    return len(axes) == 2 and all(
        math.isclose(axis.unit_conversion_factor, 1.0) and axis.unit_name in ("metre", "meter")
        for axis in axes
    )


# --------------------------------------------------------------------------------------------
# detection


def _fmt_range(values: Array) -> str:
    return f"{values.min():,.6g}–{values.max():,.6g}"


def _check_zone(
    x: Array, y: Array, crs: pyproj.CRS, cm: float, half_width: float
) -> tuple[bool, Array]:
    lon, _lat = _transformer(crs, CGCS2000_GEOGRAPHIC).transform(x, y)
    ok = bool(np.all(np.isfinite(lon)) and np.all(np.abs(lon - cm) <= half_width + _ZONE_SLACK_DEG))
    return ok, lon


def detect_crs(x: ArrayLike, y: ArrayLike, *, reference_lon: float | None = None) -> CrsDetection:
    """Guess the CRS of coordinates from their ranges.

    Parameters
    ----------
    x, y
        Eastings/longitudes and northings/latitudes (any shape; non-finite values are ignored).
    reference_lon
        Longitude of the study area (e.g. the planning boundary's centroid), needed to pick the
        zone of plain Gauss-Kruger eastings (false easting 500 km, no zone number).

    Returns
    -------
    CrsDetection
        ``crs`` is None when the numbers do not decide; ``reason`` then says which ``crs:`` to
        add. A detected CRS is always CGCS2000-based: Xian 1980 and Beijing 1954 coordinates
        look alike, so ``ambiguous_datum`` is set.
    """
    xs = np.asarray(x, dtype="float64").ravel()
    ys = np.asarray(y, dtype="float64").ravel()
    finite = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[finite], ys[finite]
    datum_note = (
        " The datum cannot be told from the numbers: CGCS2000 (2000国家大地坐标系) is assumed; "
        "if the data are Xian 1980 (1980西安) or Beijing 1954 (1954北京), set `crs:` and give "
        "`towgs84:` parameters."
    )
    if xs.size == 0:
        return CrsDetection(
            None,
            "no finite coordinates to detect a CRS from (没有有效坐标): set `crs:`, "
            "e.g. `crs: EPSG:4547`.",
            False,
        )
    ranges = f"x {_fmt_range(xs)}, y {_fmt_range(ys)}"

    # lon/lat degrees
    if np.all(np.abs(xs) <= 180.0) and np.all(np.abs(ys) <= 90.0):
        in_china = (
            (xs >= _CHINA_LON[0]) & (xs <= _CHINA_LON[1])
            & (ys >= _CHINA_LAT[0]) & (ys <= _CHINA_LAT[1])
        )  # fmt: skip
        if np.all(in_china):
            return CrsDetection(
                CGCS2000_GEOGRAPHIC,
                f"coordinates ({ranges}) are longitude/latitude degrees inside China "
                "(经纬度): CGCS2000 lon/lat (EPSG:4490) assumed; WGS84 is indistinguishable "
                "(under 1 m apart), and a GCJ-02 (火星坐标) offset cannot be seen from numbers "
                "alone, set `crs: gcj02` if the data come from Amap/Tencent." + datum_note,
                True,
            )
        return CrsDetection(
            None,
            f"coordinates ({ranges}) look like longitude/latitude but lie outside China "
            "(经纬度超出中国范围): fiveplans cannot guess their CRS; set `crs:` for this layer, "
            "e.g. `crs: EPSG:4326`, or check the x/y columns are not swapped.",
            False,
        )

    if np.any(ys <= _GK_NORTHING[0]) or np.any(ys >= _GK_NORTHING[1]):
        return CrsDetection(
            None,
            f"northings ({_fmt_range(ys)}) are not Gauss-Kruger northings in China "
            f"(0–{_GK_NORTHING[1]:,.0f} m) (北坐标超出范围): set `crs:` for this layer, "
            "e.g. `crs: EPSG:4547`, or check that x and y are not swapped.",
            False,
        )

    # zone-prefixed eastings (带号坐标)
    if np.all(xs > 1e7):
        zones = np.unique(np.floor(xs / 1e6).astype(int))
        if zones.size > 1:
            return CrsDetection(
                None,
                f"eastings ({_fmt_range(xs)}) carry several zone numbers {zones.tolist()} "
                "(带号不一致): split the layer by zone or set `crs:`.",
                False,
            )
        zone = int(zones[0])
        if zone in _ZONES[3]:
            width: Literal[3, 6] = 3
            cm, half = 3.0 * zone, 1.5
        elif zone in _ZONES[6]:
            width, cm, half = 6, 6.0 * zone - 3.0, 3.0
        else:
            return CrsDetection(
                None,
                f"eastings ({_fmt_range(xs)}) above 10 000 000 m imply zone {zone}, which is "
                "neither a 6° zone (13–23) nor a 3° zone (25–45) of China (带号无效): set "
                "`crs:`, e.g. `crs: EPSG:3857` for Web Mercator or `crs: EPSG:4526` for "
                "3° zone 38 with zone-prefixed eastings.",
                False,
            )
        crs = gk_crs_for_zone(zone, width=width, prefixed=True)
        ok, lon = _check_zone(xs, ys, crs, cm, half)
        if not ok:
            return CrsDetection(
                None,
                f"eastings ({_fmt_range(xs)}) name {width}° zone {zone} (central meridian "
                f"{cm:g}°E), but their longitudes ({_fmt_range(lon)}) fall outside that zone "
                "(坐标超出带号范围): set `crs:` for this layer.",
                False,
            )
        mercator_note = (
            " (Web Mercator metres, EPSG:3857, can look alike in this range: set "
            "`crs: EPSG:3857` if the data came from a web map.)"
            if xs.max() < 1.6e7
            else ""
        )
        return CrsDetection(
            crs,
            f"eastings ({_fmt_range(xs)}) carry zone number {zone}: CGCS2000 {width}° "
            f"Gauss-Kruger zone {zone} with zone-prefixed eastings (带号坐标), central meridian "
            f"{cm:g}°E, {crs.to_string()}." + mercator_note + datum_note,
            True,
        )

    # plain eastings (false easting 500 km, no zone number)
    if np.all((xs > 0.0) & (xs < 1e6)):
        if reference_lon is None or not math.isfinite(reference_lon):
            return CrsDetection(
                None,
                f"eastings ({_fmt_range(xs)}) are Gauss-Kruger eastings without a zone number "
                "(无带号坐标), so the zone cannot be told: set `crs:` for this layer, e.g. "
                "`crs: EPSG:4546` (CM 111°E), `crs: EPSG:4547` (CM 114°E) or "
                "`crs: EPSG:4548` (CM 117°E) for Henan.",
                False,
            )
        # 6° central meridians are multiples of 3 too: try the 3° meridians around the area
        # and keep the one placing the data closest to the reference longitude.
        best: tuple[float, int, Array] | None = None
        base = _zone_of(reference_lon, 3)
        for zone in (base - 1, base, base + 1):
            if zone not in _ZONES[3]:
                continue
            crs = gk_crs_for_zone(zone, width=3, prefixed=False)
            lon, _lat = _transformer(crs, CGCS2000_GEOGRAPHIC).transform(xs, ys)
            miss = float(abs(np.median(lon) - reference_lon))
            if best is None or miss < best[0]:
                best = (miss, zone, lon)
        if best is None or best[0] > 1.5:
            return CrsDetection(
                None,
                f"eastings ({_fmt_range(xs)}) are Gauss-Kruger eastings without a zone number, "
                f"and no zone places them near the reference longitude {reference_lon:g}°E "
                "(无法确定投影带): set `crs:` for this layer.",
                False,
            )
        _miss, zone, lon = best
        crs = gk_crs_for_zone(zone, width=3, prefixed=False)
        return CrsDetection(
            crs,
            f"eastings ({_fmt_range(xs)}) have no zone number; the zone with central meridian "
            f"{3 * zone}°E places them at {_fmt_range(lon)}°E, next to the study area "
            f"({reference_lon:g}°E): CGCS2000 3° Gauss-Kruger CM {3 * zone}E, "
            f"{crs.to_string()} (the 6° zone with the same meridian has identical "
            "coordinates)." + datum_note,
            True,
        )

    return CrsDetection(
        None,
        f"coordinates ({ranges}) match neither lon/lat in China nor Gauss-Kruger metres "
        "(坐标范围无法识别): set `crs:` for this layer, e.g. `crs: EPSG:4547`.",
        False,
    )


# --------------------------------------------------------------------------------------------
# datum shifts and transformations


def with_towgs84(crs: pyproj.CRS, towgs84: Sequence[float]) -> pyproj.CRS:
    """Bind a Xian 1980 / Beijing 1954 CRS to CGCS2000 with user-supplied Helmert parameters.

    Parameters
    ----------
    crs
        The source CRS (projected or geographic).
    towgs84
        3 (dx, dy, dz in metres) or 7 parameters (plus rx, ry, rz in arc-seconds and the scale
        difference in ppm), in the PROJ ``+towgs84`` convention (position vector rotations).

    Returns
    -------
    pyproj.CRS
        A bound CRS (``BOUNDCRS``) whose hub is CGCS2000 (EPSG:4490): transformations to
        CGCS2000-based CRSs (EPSG:4490, 4547, …) use these parameters. The parameters that local
        surveys publish lead to CGCS2000; WGS84 is treated as equal to it (under 1 m).

    Raises
    ------
    ConfigError
        When there are not 3 or 7 finite numbers.
    """
    try:
        values = [float(v) for v in towgs84]
    except (TypeError, ValueError):
        values = []
    if len(values) not in (3, 7) or not all(math.isfinite(v) for v in values):
        raise ConfigError(
            f"`towgs84: {list(towgs84) if isinstance(towgs84, Sequence) else towgs84!r}` must be "
            "3 numbers (dx, dy, dz in metres) or 7 (dx, dy, dz, rx, ry, rz in arc-seconds, scale "
            "in ppm), e.g. `towgs84: [15.8, -154.4, -82.3]`."
        )
    source = crs.source_crs if crs.is_bound and crs.source_crs is not None else crs
    names = (
        "x_axis_translation",
        "y_axis_translation",
        "z_axis_translation",
        "x_axis_rotation",
        "y_axis_rotation",
        "z_axis_rotation",
        "scale_difference",
    )
    params = dict(zip(names, values, strict=False))
    transformation = ToWGS84Transformation(source.geodetic_crs, **params)
    bound = BoundCRS(
        source_crs=source, target_crs=CGCS2000_GEOGRAPHIC, transformation=transformation
    )
    return pyproj.CRS.from_wkt(bound.to_wkt())


def needs_datum_parameters(crs: pyproj.CRS) -> bool:
    """Whether ``crs`` is Xian 1980 / Beijing 1954 based and not bound to shift parameters."""
    if crs.is_bound:
        return False
    geodetic = crs.geodetic_crs
    if geodetic is None:
        return False
    datum = (geodetic.datum.name if geodetic.datum is not None else "").lower()
    if any(word in datum for word in _LEGACY_DATUM_WORDS):
        return True
    ellipsoid = (geodetic.ellipsoid.name if geodetic.ellipsoid is not None else "").lower()
    return any(word in ellipsoid for word in _LEGACY_ELLIPSOIDS)


@lru_cache(maxsize=128)
def _transformer(source: pyproj.CRS, target: pyproj.CRS) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def _warn_ballpark(crs: pyproj.CRS) -> None:
    if needs_datum_parameters(crs):
        warnings.warn(
            f"{crs.name} has no public transformation to CGCS2000 (1980西安/1954北京 → 2000国家"
            "大地坐标系): PROJ applies a zero 'ballpark' shift, off by tens of metres. Give the "
            "layer `towgs84:` (3 or 7 parameters) or `helmert:` control parameters.",
            CRSWarning,
            stacklevel=3,
        )


def _as_crs(crs: pyproj.CRS | str | int) -> pyproj.CRS:
    return crs if isinstance(crs, pyproj.CRS) else pyproj.CRS.from_user_input(crs)


def to_lonlat(x: ArrayLike, y: ArrayLike, crs: pyproj.CRS | str | int) -> tuple[Array, Array]:
    """Transform coordinates in ``crs`` to CGCS2000 lon/lat (EPSG:4490), vectorised.

    Warns :class:`~fiveplans.errors.CRSWarning` when ``crs`` is Xian 1980 / Beijing 1954 without
    shift parameters (see :func:`with_towgs84`).
    """
    source = _as_crs(crs)
    _warn_ballpark(source)
    lon, lat = _transformer(source, CGCS2000_GEOGRAPHIC).transform(
        np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    )
    return np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")


def from_lonlat(lon: ArrayLike, lat: ArrayLike, crs: pyproj.CRS | str | int) -> tuple[Array, Array]:
    """Transform CGCS2000 lon/lat (EPSG:4490) to coordinates in ``crs``, vectorised.

    Warns like :func:`to_lonlat` for Xian 1980 / Beijing 1954 without shift parameters.
    """
    target = _as_crs(crs)
    _warn_ballpark(target)
    x, y = _transformer(CGCS2000_GEOGRAPHIC, target).transform(
        np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")
    )
    return np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")


def offset_to_cgcs2000(lon: ArrayLike, lat: ArrayLike, offset: Offset) -> tuple[Array, Array]:
    """Remove a Chinese web-map offset: GCJ-02 or BD-09 lon/lat to CGCS2000/WGS84 lon/lat."""
    if offset == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if offset == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise ConfigError(f"unknown coordinate offset {offset!r}: write gcj02 or bd09.")


# --------------------------------------------------------------------------------------------
# GCJ-02 diagnosis

_MAX_SAMPLES = 4000
_GAIN_THRESHOLD = 0.5
_SHIFT_RANGE_M = (400.0, 700.0)
_MIN_DISCRIMINATING = 3


def _correct_geometries(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    def fix(xy: Array) -> Array:
        lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, fix)


def _sample_vertices(geoms: NDArray[np.object_], limit: int = _MAX_SAMPLES) -> Array:
    """Coordinates of the geometries' vertices (polygon rings, lines, points), thinned evenly."""
    lines = shapely.boundary(geoms[shapely.get_dimensions(geoms) == 2])
    others = geoms[shapely.get_dimensions(geoms) < 2]
    coords = shapely.get_coordinates(np.concatenate([lines, others]))
    if len(coords) > limit:
        coords = coords[(np.arange(limit) * (len(coords) / limit)).astype(int)]
    return coords


def _nearest_distance(points: NDArray[np.object_], geoms: NDArray[np.object_]) -> Array:
    """Distance from each point to the nearest of ``geoms`` (0 inside a polygon)."""
    if len(points) == 0:
        return np.array([], dtype="float64")
    tree = shapely.STRtree(geoms)
    (idx, _), dist = tree.query_nearest(points, return_distance=True, all_matches=False)
    out = np.full(len(points), np.nan)
    out[idx] = dist
    return out


def _by_key(
    points: NDArray[np.object_],
    point_keys: NDArray[np.object_] | None,
    geoms: NDArray[np.object_],
    geom_keys: NDArray[np.object_] | None,
) -> Array:
    """Distance from each point to the nearest geometry, restricted to the same key if keyed."""
    if point_keys is None or geom_keys is None:
        return _nearest_distance(points, geoms)
    out = np.full(len(points), np.nan)
    for key in np.unique(point_keys):
        hit = point_keys == key
        same = geoms[geom_keys == key]
        if len(same):
            out[hit] = _nearest_distance(points[hit], same)
    return out


def _point_polygon_misfit(
    points: NDArray[np.object_],
    point_keys: NDArray[np.object_] | None,
    polygons: NDArray[np.object_],
    polygon_keys: NDArray[np.object_] | None,
) -> Array:
    """Distance (m) from each point to its (same-key) polygon; 0 inside; NaN without one."""
    return _by_key(points, point_keys, polygons, polygon_keys)


def _linework_misfit(
    layer: NDArray[np.object_],
    layer_keys: NDArray[np.object_] | None,
    reference: NDArray[np.object_],
    reference_keys: NDArray[np.object_] | None,
) -> Array:
    """Distance (m) from sampled layer vertices to the (same-key) reference linework/points."""
    linework = np.where(
        shapely.get_dimensions(reference) == 2, shapely.boundary(reference), reference
    )
    if layer_keys is None:
        return _nearest_distance(shapely.points(_sample_vertices(layer)), linework)
    parts = []
    unique = np.unique(layer_keys)
    limit = max(200, _MAX_SAMPLES // len(unique))
    for key in unique:
        pts = shapely.points(_sample_vertices(layer[layer_keys == key], limit))
        keys = np.full(len(pts), key, dtype=object)
        parts.append(_by_key(pts, keys, linework, reference_keys))
    return np.concatenate(parts) if parts else np.array([], dtype="float64")


def diagnose_gcj02(
    layer: geopandas.GeoDataFrame,
    reference: geopandas.GeoDataFrame,
    *,
    keys: tuple[str, str] | None = None,
) -> OffsetDiagnosis:
    """Tell whether a layer labelled WGS84/CGCS2000 really carries the GCJ-02 offset.

    The layer is compared with a correctly referenced ``reference``, both as given and with the
    GCJ-02 offset removed, in the CGCS2000 3° Gauss-Kruger zone of the layer (all distances are
    planar metres):

    - points against polygons (either way round): the distance from each point to the polygons
      (0 inside), averaged; with ``keys``, to the polygon of the same key — e.g. stations
      carrying their county code against county polygons;
    - anything else: the median distance from the layer's vertices (polygon boundaries, lines,
      points) to the reference's boundaries, lines or points (of the same key with ``keys``).

    Parameters
    ----------
    layer
        The suspect layer; its CRS is taken as what it claims (lon/lat or projected).
    reference
        A correctly referenced layer covering the same area, any CRS.
    keys
        ``(layer column, reference column)`` whose equal values mark features that belong
        together (compared as text). Without keys, points in tiling polygons (stations in
        counties) carry no evidence: every point is inside some polygon either way.

    Returns
    -------
    OffsetDiagnosis

    Raises
    ------
    CRSError
        When either layer has no CRS.
    DataError
        When ``keys`` names a missing column.
    """
    for name, gdf in (("layer", layer), ("reference", reference)):
        if gdf.crs is None:
            raise CRSError(
                f"the {name} given to the GCJ-02 diagnosis has no CRS: set its `crs:` first."
            )
    if keys is not None:
        for name, gdf, column in (("layer", layer, keys[0]), ("reference", reference, keys[1])):
            if column not in gdf.columns:
                raise DataError(
                    f"the {name} has no column {column!r} for matching features; found "
                    f"{list(map(str, gdf.columns))}."
                )

    def clean(gdf: geopandas.GeoDataFrame, column: str | None) -> geopandas.GeoDataFrame:
        keep = gdf.geometry.notna() & ~gdf.geometry.is_empty
        if column is not None:
            keep &= gdf[column].notna()
        return gdf.loc[keep]

    layer_c = clean(layer, keys[0] if keys else None)
    reference_c = clean(reference, keys[1] if keys else None)
    if layer_c.empty or reference_c.empty:
        return OffsetDiagnosis(
            0.0, 0.0, False, "no features to compare: the GCJ-02 diagnosis was skipped."
        )

    lonlat = layer_c.to_crs(CGCS2000_GEOGRAPHIC) if not layer_c.crs.is_geographic else layer_c
    geoms_given = np.asarray(lonlat.geometry.values, dtype=object)
    geoms_fixed = _correct_geometries(geoms_given)
    centre = shapely.centroid(shapely.envelope(shapely.union_all(shapely.envelope(geoms_given))))
    try:
        work = default_working_crs(float(shapely.get_x(centre)), float(shapely.get_y(centre)))
    except CRSError:
        return OffsetDiagnosis(
            0.0,
            0.0,
            False,
            "the layer does not lie in China, where the GCJ-02 offset applies: not GCJ-02.",
        )
    to_work = _transformer(CGCS2000_GEOGRAPHIC, work)

    def project(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
        return shapely.transform(geoms, lambda xy: np.column_stack(to_work.transform(*xy.T)))

    given = project(geoms_given)
    fixed = project(geoms_fixed)
    ref = np.asarray(reference_c.to_crs(work).geometry.values, dtype=object)

    shift = np.hypot(*(shapely.get_coordinates(given) - shapely.get_coordinates(fixed)).T)
    offset_m = float(np.median(shift))

    layer_keys = layer_c[keys[0]].astype(str).to_numpy(dtype=object) if keys else None
    ref_keys = reference_c[keys[1]].astype(str).to_numpy(dtype=object) if keys else None
    layer_dim = int(shapely.get_dimensions(given).max())
    ref_dim = int(shapely.get_dimensions(ref).max())
    if layer_dim == 0 and ref_dim == 2:
        mis_given = _point_polygon_misfit(given, layer_keys, ref, ref_keys)
        mis_fixed = _point_polygon_misfit(fixed, layer_keys, ref, ref_keys)
        stat, how = np.mean, "mean distance of points outside their polygons"
    elif layer_dim == 2 and ref_dim == 0:
        mis_given = _point_polygon_misfit(ref, ref_keys, given, layer_keys)
        mis_fixed = _point_polygon_misfit(ref, ref_keys, fixed, layer_keys)
        stat, how = np.mean, "mean distance of reference points outside the layer's polygons"
    else:
        mis_given = _linework_misfit(given, layer_keys, ref, ref_keys)
        mis_fixed = _linework_misfit(fixed, layer_keys, ref, ref_keys)
        stat, how = np.median, "median distance of the layer's vertices to the reference"
    mis_given = mis_given[np.isfinite(mis_given)]
    mis_fixed = mis_fixed[np.isfinite(mis_fixed)]
    if mis_given.size == 0 or mis_fixed.size == 0:
        return OffsetDiagnosis(
            offset_m,
            0.0,
            False,
            "the layer and the reference share no features to compare (check `keys`): the "
            "GCJ-02 diagnosis was inconclusive.",
        )
    m_given, m_fixed = float(stat(mis_given)), float(stat(mis_fixed))
    worst = max(m_given, m_fixed)
    gain = (m_given - m_fixed) / worst if worst > 0 else 0.0
    if mis_given.size == mis_fixed.size:
        discriminating = int(np.count_nonzero(np.abs(mis_given - mis_fixed) > 1.0))
    else:
        discriminating = min(mis_given.size, mis_fixed.size)
    in_range = _SHIFT_RANGE_M[0] <= offset_m <= _SHIFT_RANGE_M[1]
    probably = gain >= _GAIN_THRESHOLD and in_range and discriminating >= _MIN_DISCRIMINATING
    detail = f"{how}: {m_given:.1f} m as given, {m_fixed:.1f} m after GCJ-02 correction"
    if probably:
        message = (
            f"the layer looks GCJ-02 (火星坐标, Amap/Tencent) although labelled "
            f"{layer.crs.name}: removing the offset moves it {offset_m:.0f} m and fits the "
            f"reference clearly better ({detail}). Set `crs: gcj02` for this layer."
        )
    elif discriminating < _MIN_DISCRIMINATING:
        message = (
            f"no evidence for or against a GCJ-02 offset ({detail}): the reference does not "
            "discriminate; compare with a layer sharing boundaries, or pass matching `keys`."
        )
    else:
        message = f"the layer does not look GCJ-02 ({detail})."
    logger.debug("GCJ-02 diagnosis: %s", message)
    return OffsetDiagnosis(offset_m, float(gain), probably, message)
