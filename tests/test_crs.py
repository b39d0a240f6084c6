"""CRS parsing, Gauss-Kruger zones, detection, datum binding and the GCJ-02 diagnosis."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import prcoords
import pyproj
import pytest
import shapely

from fiveplans import crs as fcrs
from fiveplans.errors import ConfigError, CRSError, CRSWarning

HENAN = "henan"
ADMIN = "admin_amap_gcj02.gpkg"
STATIONS = "henan_railway_stations_osm.geojson"


def params_of(crs: pyproj.CRS) -> dict[str, float]:
    """Projection parameters as pyproj reports them."""
    return {p.name: p.value for p in crs.coordinate_operation.params}


def prcoords_unshift(geoms: np.ndarray) -> np.ndarray:
    """Remove GCJ-02 with the independent prcoords package, vertex by vertex."""

    def fix(xy: np.ndarray) -> np.ndarray:
        out = [prcoords.gcj_wgs_bored((lat, lon)) for lon, lat in xy]
        return np.array([[c.lon, c.lat] for c in out])

    return shapely.transform(geoms, fix)


@pytest.fixture(scope="module")
def _tight_prcoords() -> Iterator[None]:
    saved = prcoords.PRC_EPS
    prcoords.PRC_EPS = 1e-12
    yield
    prcoords.PRC_EPS = saved


# ------------------------------------------------------------------------------------- parse_crs


@pytest.mark.parametrize(
    ("value", "epsg"),
    [("EPSG:4547", 4547), (4547, 4547), ("epsg:4547", 4547), ("4547", 4547), (" EPSG:4490 ", 4490)],
)
def test_parse_crs_epsg(value: str | int, epsg: int) -> None:
    spec = fcrs.parse_crs(value)
    assert spec is not None and spec.offset is None
    assert spec.crs == pyproj.CRS.from_epsg(epsg)
    assert spec.text == str(value).strip()


def test_parse_crs_wkt_and_proj() -> None:
    wkt = pyproj.CRS.from_epsg(4547).to_wkt()
    spec = fcrs.parse_crs(wkt)
    assert spec is not None and spec.crs.to_epsg() == 4547
    proj = "+proj=tmerc +lat_0=0 +lon_0=114 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m +no_defs"
    spec = fcrs.parse_crs(proj)
    assert spec is not None
    assert params_of(spec.crs)["Longitude of natural origin"] == 114.0
    assert fcrs.is_projected_metres(spec.crs)


@pytest.mark.parametrize(
    ("value", "offset"),
    [
        ("gcj02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("Gcj_02", "gcj02"),
        ("bd09", "bd09"),
        ("BD-09", "bd09"),
    ],
)
def test_parse_crs_offsets(value: str, offset: str) -> None:
    spec = fcrs.parse_crs(value)
    assert spec is not None
    assert spec.offset == offset
    assert spec.crs == pyproj.CRS.from_epsg(4490)
    assert spec.text == value


@pytest.mark.parametrize("value", [None, "", "   "])
def test_parse_crs_absent(value: str | None) -> None:
    assert fcrs.parse_crs(value) is None


@pytest.mark.parametrize(
    "value", ["EPSG:99999", "WGS1984-ish", "gcj03", "+proj=nonsense", 3.5, True]
)
def test_parse_crs_bad_values_name_key_value_and_fix(value: object) -> None:
    with pytest.raises(ConfigError) as info:
        fcrs.parse_crs(value, key="plans.urban.crs")  # type: ignore[arg-type]
    message = str(info.value)
    assert "plans.urban.crs" in message
    assert str(value) in message
    assert "EPSG:4547" in message and "gcj02" in message
    assert info.value.exit_code == 2


# ------------------------------------------------------------------------------ Gauss-Kruger zones


@pytest.mark.parametrize(
    ("datum", "geodetic"),
    [("cgcs2000", "China Geodetic Coordinate System 2000"), ("xian1980", "Xian 1980"),
     ("beijing1954", "Beijing 1954")],
)  # fmt: skip
@pytest.mark.parametrize("prefixed", [True, False])
@pytest.mark.parametrize(("width", "zones"), [(3, range(25, 46)), (6, range(13, 24))])
def test_gk_crs_for_zone_parameters(
    datum: str, geodetic: str, prefixed: bool, width: int, zones: range
) -> None:
    for zone in zones:
        crs = fcrs.gk_crs_for_zone(zone, width=width, prefixed=prefixed, datum=datum)
        assert crs.to_epsg() is not None
        assert crs.geodetic_crs.name == geodetic
        p = params_of(crs)
        cm = 3 * zone if width == 3 else 6 * zone - 3
        assert p["Longitude of natural origin"] == cm
        assert p["Scale factor at natural origin"] == 1.0
        assert p["False easting"] == (zone * 1_000_000 + 500_000 if prefixed else 500_000)
        assert p["False northing"] == 0.0


def test_gk_codes_match_the_standards_table() -> None:
    # /work/shared/reference/standards.md, CRS table for Henan
    cases = [
        ((37, 3, False, "cgcs2000"), 4546), ((38, 3, False, "cgcs2000"), 4547),
        ((39, 3, False, "cgcs2000"), 4548), ((37, 3, True, "cgcs2000"), 4525),
        ((38, 3, True, "cgcs2000"), 4526), ((39, 3, True, "cgcs2000"), 4527),
        ((19, 6, False, "cgcs2000"), 4508), ((20, 6, False, "cgcs2000"), 4509),
        ((19, 6, True, "cgcs2000"), 4497), ((20, 6, True, "cgcs2000"), 4498),
        ((38, 3, False, "xian1980"), 2383), ((38, 3, True, "xian1980"), 2362),
        ((19, 6, False, "xian1980"), 2344), ((20, 6, True, "xian1980"), 2334),
        ((38, 3, False, "beijing1954"), 2435), ((38, 3, True, "beijing1954"), 2414),
        ((19, 6, False, "beijing1954"), 21459), ((20, 6, True, "beijing1954"), 21420),
    ]  # fmt: skip
    for (zone, width, prefixed, datum), code in cases:
        crs = fcrs.gk_crs_for_zone(zone, width=width, prefixed=prefixed, datum=datum)
        assert crs.to_epsg() == code, (zone, width, prefixed, datum)


@pytest.mark.parametrize("lon", [73.6, 110.3, 111.0, 112.49, 112.51, 113.65, 115.5, 116.7, 134.9])
@pytest.mark.parametrize("width", [3, 6])
def test_gk_crs_zone_contains_longitude(lon: float, width: int) -> None:
    for prefixed in (False, True):
        crs = fcrs.gk_crs(lon, width=width, prefixed=prefixed)
        p = params_of(crs)
        cm = p["Longitude of natural origin"]
        assert abs(lon - cm) <= width / 2
        if prefixed:
            zone = int(p["False easting"] // 1_000_000)
            assert cm == (3 * zone if width == 3 else 6 * zone - 3)
        # a point on the zone's central meridian projects to easting = false easting
        x, _ = pyproj.Transformer.from_crs(4490, crs, always_xy=True).transform(cm, 34.0)
        assert x == pytest.approx(p["False easting"], abs=1e-6)


def test_gk_crs_outside_china_and_bad_datum() -> None:
    with pytest.raises(CRSError, match="outside China"):
        fcrs.gk_crs(10.0)
    with pytest.raises(CRSError, match="zone 46"):
        fcrs.gk_crs_for_zone(46, width=3, prefixed=False)
    with pytest.raises(ConfigError, match="xian1980"):
        fcrs.gk_crs(113.0, datum="wgs72")


def test_default_working_crs() -> None:
    assert fcrs.default_working_crs(113.65, 34.75).to_epsg() == 4547  # Zhengzhou
    assert fcrs.default_working_crs(111.2, 34.77).to_epsg() == 4546  # Sanmenxia
    assert fcrs.default_working_crs(115.65, 34.45).to_epsg() == 4548  # Shangqiu
    with pytest.raises(CRSError, match="crs:"):
        fcrs.default_working_crs(2.35, 48.86)


def test_is_projected_metres() -> None:
    assert fcrs.is_projected_metres(pyproj.CRS.from_epsg(4547))
    assert fcrs.is_projected_metres(pyproj.CRS.from_epsg(3857))
    assert not fcrs.is_projected_metres(pyproj.CRS.from_epsg(4490))
    assert not fcrs.is_projected_metres(pyproj.CRS.from_epsg(2263))  # US survey feet


# ------------------------------------------------------------------------------------ detect_crs


def henan_lonlat(lon0: float, lon1: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.uniform(lon0, lon1, 50), rng.uniform(32.0, 35.5, 50)


def project(lon: np.ndarray, lat: np.ndarray, epsg: int) -> tuple[np.ndarray, np.ndarray]:
    return pyproj.Transformer.from_crs(4490, epsg, always_xy=True).transform(lon, lat)


def test_detect_lonlat_in_henan() -> None:
    det = fcrs.detect_crs(*henan_lonlat(110.4, 116.6))
    assert det.crs is not None and det.crs.to_epsg() == 4490
    assert det.ambiguous_datum
    assert "WGS84" in det.reason and "经纬度" in det.reason


def test_detect_prefixed_3_degree_zone_38() -> None:
    x, y = project(*henan_lonlat(112.8, 115.3), 4526)
    assert np.all(x > 38_000_000)
    det = fcrs.detect_crs(x, y)
    assert det.crs is not None and det.crs.to_epsg() == 4526
    assert det.ambiguous_datum and "CGCS2000" in det.reason and "Xian 1980" in det.reason


@pytest.mark.parametrize(("lons", "epsg"), [((110.4, 113.9), 4497), ((114.1, 116.6), 4498)])
def test_detect_prefixed_6_degree_zones(lons: tuple[float, float], epsg: int) -> None:
    x, y = project(*henan_lonlat(*lons), epsg)
    det = fcrs.detect_crs(x, y)
    assert det.crs is not None and det.crs.to_epsg() == epsg
    assert params_of(det.crs)["False easting"] == params_of(pyproj.CRS(epsg))["False easting"]


@pytest.mark.parametrize(
    ("lons", "epsg", "ref"), [((113.0, 114.6), 4547, 113.8), ((110.5, 112.2), 4546, 111.4)]
)
def test_detect_plain_eastings_need_reference_lon(
    lons: tuple[float, float], epsg: int, ref: float
) -> None:
    x, y = project(*henan_lonlat(*lons), epsg)
    det = fcrs.detect_crs(x, y)
    assert det.crs is None
    assert "crs:" in det.reason and "EPSG:4547" in det.reason
    det = fcrs.detect_crs(x, y, reference_lon=ref)
    assert det.crs is not None and det.crs.to_epsg() == epsg
    assert det.ambiguous_datum


def test_detect_plain_6_degree_eastings_resolve_to_same_meridian() -> None:
    # 6° zone 19 plain (CM 111E) has the same parameters as the 3° CM 111E zone
    x, y = project(*henan_lonlat(110.4, 113.2), 4508)
    det = fcrs.detect_crs(x, y, reference_lon=112.0)
    assert det.crs is not None
    assert params_of(det.crs) == params_of(pyproj.CRS.from_epsg(4508))


@pytest.mark.parametrize(
    ("x", "y", "words"),
    [
        ([2.35, 2.4], [48.85, 48.9], "outside China"),  # Paris lon/lat
        ([5e6, 5.1e6], [5e6, 5.1e6], "crs:"),  # no CRS family has these
        ([12.6e6, 12.7e6], [4.1e6, 4.2e6], "zone 12"),  # Web Mercator metres of Henan
        ([38_950_000.0, 38_960_000.0], [3.8e6, 3.81e6], "outside that zone"),  # 450 km east of CM
        ([38_500_000.0, 39_500_000.0], [3.8e6, 3.81e6], "several zone"),
        ([500_000.0, 510_000.0], [-5.0, 3.8e6], "northings"),
        ([np.nan], [np.nan], "no finite"),
    ],
)
def test_detect_nonsense_gives_no_crs_and_a_reason(x: list, y: list, words: str) -> None:
    det = fcrs.detect_crs(np.array(x), np.array(y), reference_lon=113.0)
    assert det.crs is None
    assert words in det.reason
    assert not det.ambiguous_datum


# ---------------------------------------------------------------------------------- datum binding

XIAN_GK_114 = (
    "+proj=tmerc +lat_0=0 +lon_0=114 +k=1 +x_0=500000 +y_0=0 +ellps=IAU76"  # Xian 1980 ellipsoid
)
CGCS_GK_114 = "+proj=tmerc +lat_0=0 +lon_0=114 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80"


def pipeline(helmert: str) -> pyproj.Transformer:
    """Xian 1980 GK CM 114E -> CGCS2000 GK CM 114E with an explicit Helmert step."""
    text = (
        f"+proj=pipeline +step +inv {XIAN_GK_114} +step +proj=cart +ellps=IAU76 "
        f"+step +proj=helmert {helmert} +step +inv +proj=cart +ellps=GRS80 +step {CGCS_GK_114}"
    )
    return pyproj.Transformer.from_pipeline(text)


def test_with_towgs84_three_parameters() -> None:
    xian = pyproj.CRS.from_epsg(2383)
    bound = fcrs.with_towgs84(xian, [100.0, -50.0, 20.0])
    x0, y0 = 480_000.0, 3_800_000.0
    got = pyproj.Transformer.from_crs(bound, 4547, always_xy=True).transform(x0, y0)
    want = pipeline("+x=100 +y=-50 +z=20").transform(x0, y0)
    assert got == pytest.approx(want, abs=1e-3)
    # the ballpark transform leaves lon/lat unchanged; with the parameters the point moves by
    # the horizontal (east, north) part of the ECEF vector (100, -50, 20) m
    lon, lat = pyproj.Transformer.from_crs(2383, 4490, always_xy=True).transform(x0, y0)
    lon_p, lat_p = pyproj.Transformer.from_crs(4547, 4490, always_xy=True).transform(*got)
    lam, phi = math.radians(lon), math.radians(lat)
    east = -math.sin(lam) * 100 + math.cos(lam) * -50
    north = -math.sin(phi) * math.cos(lam) * 100 - math.sin(phi) * math.sin(lam) * -50
    north += math.cos(phi) * 20
    azimuth, _back, distance = pyproj.Geod(ellps="GRS80").inv(lon, lat, lon_p, lat_p)
    assert distance == pytest.approx(math.hypot(east, north), abs=0.1)
    assert azimuth == pytest.approx(math.degrees(math.atan2(east, north)), abs=0.2)
    assert distance > 50
    ballpark = pyproj.Transformer.from_crs(2383, 4547, always_xy=True).transform(x0, y0)
    assert math.dist(got, ballpark) == pytest.approx(distance, abs=0.1)
    # to_lonlat / from_lonlat go through the parameters too, without a warning
    lon2, lat2 = fcrs.to_lonlat(x0, y0, bound)
    assert np.allclose(pyproj.Transformer.from_crs(4490, 4547, always_xy=True).transform(
        lon2, lat2), want, atol=1e-3)  # fmt: skip
    back = fcrs.from_lonlat(lon2, lat2, bound)
    assert back == pytest.approx((x0, y0), abs=1e-3)


def test_with_towgs84_seven_parameters() -> None:
    values = [24.0, -123.0, -94.0, 0.02, -0.25, -0.13, 1.1]
    bound = fcrs.with_towgs84(pyproj.CRS.from_epsg(2383), values)
    x0, y0 = 530_000.0, 3_750_000.0
    got = pyproj.Transformer.from_crs(bound, 4547, always_xy=True).transform(x0, y0)
    want = pipeline(
        "+x=24 +y=-123 +z=-94 +rx=0.02 +ry=-0.25 +rz=-0.13 +s=1.1 +convention=position_vector"
    ).transform(x0, y0)
    assert got == pytest.approx(want, abs=1e-3)


def test_needs_datum_parameters_and_warnings() -> None:
    assert fcrs.needs_datum_parameters(pyproj.CRS.from_epsg(2383))
    assert fcrs.needs_datum_parameters(pyproj.CRS.from_epsg(4214))
    assert fcrs.needs_datum_parameters(pyproj.CRS.from_epsg(2435))
    assert not fcrs.needs_datum_parameters(pyproj.CRS.from_epsg(4547))
    assert not fcrs.needs_datum_parameters(pyproj.CRS.from_epsg(4326))
    bound = fcrs.with_towgs84(pyproj.CRS.from_epsg(2383), (1.0, 2.0, 3.0))
    assert not fcrs.needs_datum_parameters(bound)
    with pytest.warns(CRSWarning, match="towgs84"):
        fcrs.to_lonlat([500_000.0], [3_800_000.0], pyproj.CRS.from_epsg(2383))
    with pytest.warns(CRSWarning, match="towgs84"):
        fcrs.from_lonlat([114.0], [34.0], "EPSG:2435")


@pytest.mark.parametrize("bad", [[1.0, 2.0], [1, 2, 3, 4], ["a", "b", "c"], [1.0, float("nan"), 2]])
def test_with_towgs84_bad_parameters(bad: list) -> None:
    with pytest.raises(ConfigError, match="towgs84"):
        fcrs.with_towgs84(pyproj.CRS.from_epsg(2383), bad)


def test_to_and_from_lonlat_vectorised() -> None:
    lon = np.array([[113.0, 113.5], [114.0, 114.5]])
    lat = np.array([[34.0, 34.2], [34.4, 34.6]])
    x, y = fcrs.from_lonlat(lon, lat, "EPSG:4547")
    assert x.shape == (2, 2)
    want = pyproj.Transformer.from_crs(4490, 4547, always_xy=True).transform(lon, lat)
    np.testing.assert_allclose(x, want[0], atol=1e-6)
    np.testing.assert_allclose(y, want[1], atol=1e-6)
    lon2, lat2 = fcrs.to_lonlat(x, y, pyproj.CRS.from_epsg(4547))
    np.testing.assert_allclose(lon2, lon, atol=1e-9)
    np.testing.assert_allclose(lat2, lat, atol=1e-9)


def test_offset_to_cgcs2000(_tight_prcoords: None) -> None:
    lon, lat = np.array([113.66, 112.44]), np.array([34.75, 34.69])
    wlon, wlat = fcrs.offset_to_cgcs2000(lon, lat, "gcj02")
    blon, blat = fcrs.offset_to_cgcs2000(lon, lat, "bd09")
    for i in range(2):
        ref = prcoords.gcj_wgs_bored((lat[i], lon[i]))
        assert (wlon[i], wlat[i]) == pytest.approx((ref.lon, ref.lat), abs=1e-7)
        ref = prcoords.bd_wgs_bored((lat[i], lon[i]))
        assert (blon[i], blat[i]) == pytest.approx((ref.lon, ref.lat), abs=1e-7)


# ------------------------------------------------------------------------------ GCJ-02 diagnosis


@pytest.fixture(scope="module")
def counties(real_data: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(real_data / HENAN / ADMIN, layer="county")


@pytest.fixture(scope="module")
def stations(real_data: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(real_data / HENAN / STATIONS)


def corrected(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = gdf.copy()
    out["geometry"] = shapely.transform(
        gdf.geometry.values,
        lambda xy: np.column_stack(fcrs.offset_to_cgcs2000(xy[:, 0], xy[:, 1], "gcj02")),
    )
    return out.set_crs(4490, allow_override=True)


def test_amap_counties_are_flagged_gcj02(
    counties: gpd.GeoDataFrame, stations: gpd.GeoDataFrame
) -> None:
    diag = fcrs.diagnose_gcj02(counties, stations, keys=("adcode", "county_adcode"))
    assert diag.probably_gcj02
    assert 450 <= diag.offset_m <= 700
    assert diag.gcj02_fit_gain > 0.5
    assert "gcj02" in diag.message and "火星坐标" in diag.message
    # offset_m agrees with prcoords' own shift at the counties' representative points
    pts = counties.geometry.representative_point()
    geod = pyproj.Geod(ellps="GRS80")
    shifts = []
    for p in pts:
        ref = prcoords.gcj_wgs_bored((p.y, p.x))
        shifts.append(geod.inv(p.x, p.y, ref.lon, ref.lat)[2])
    assert diag.offset_m == pytest.approx(np.median(shifts), abs=15)


def test_corrected_counties_put_stations_in_the_right_district(
    counties: gpd.GeoDataFrame, stations: gpd.GeoDataFrame
) -> None:
    fixed = corrected(counties).to_crs(4547)
    raw = counties.to_crs(4547)
    pts = stations.to_crs(4547)
    joined = gpd.sjoin(pts, fixed[["adcode", "name", "geometry"]], predicate="within")
    by_name = joined.set_index("name_left")["name_right"]
    assert by_name["洛阳"] == "西工区"  # 洛阳站 (the old Luoyang station)
    assert by_name["郑州"] == "二七区"
    assert by_name["开封"] in {"禹王台区", "鼓楼区"}
    assert by_name["郑州东"] == "金水区"
    # the OSM extract carries its own county codes: the corrected layer agrees with nearly all,
    # the raw GCJ-02 layer visibly less
    agree_fixed = (joined["adcode"] == joined["county_adcode"]).mean()
    joined_raw = gpd.sjoin(pts, raw[["adcode", "geometry"]], predicate="within")
    agree_raw = (joined_raw["adcode"] == joined_raw["county_adcode"]).mean()
    assert agree_fixed > 0.99
    assert agree_raw < agree_fixed - 0.02
    raw_luoyang = joined_raw.loc[joined_raw["name"] == "洛阳", "adcode"].tolist()
    assert raw_luoyang != ["410303"]  # uncorrected, 洛阳站 falls outside 西工区


def test_correct_layer_is_not_flagged(
    counties: gpd.GeoDataFrame, stations: gpd.GeoDataFrame
) -> None:
    fixed = corrected(counties)
    diag = fcrs.diagnose_gcj02(fixed, stations, keys=("adcode", "county_adcode"))
    assert not diag.probably_gcj02
    assert diag.gcj02_fit_gain < 0
    # the stations (true WGS84) are not GCJ-02 either, seen from their side
    diag = fcrs.diagnose_gcj02(stations, fixed.to_crs(4547), keys=("county_adcode", "adcode"))
    assert not diag.probably_gcj02


def test_points_in_tiling_polygons_without_keys_are_inconclusive(
    counties: gpd.GeoDataFrame, stations: gpd.GeoDataFrame
) -> None:
    diag = fcrs.diagnose_gcj02(counties, stations)
    assert not diag.probably_gcj02
    assert "no evidence" in diag.message and "keys" in diag.message


def test_polygons_against_polygons(real_data: Path, _tight_prcoords: None) -> None:
    prefectures = gpd.read_file(real_data / HENAN / ADMIN, layer="prefecture")
    truth = prefectures.copy()
    truth["geometry"] = prcoords_unshift(prefectures.geometry.values)  # independent oracle
    truth = truth.set_crs(4490, allow_override=True).to_crs(4547)
    diag = fcrs.diagnose_gcj02(prefectures, truth)
    assert diag.probably_gcj02 and 450 <= diag.offset_m <= 700
    good = truth.to_crs(4490)
    diag = fcrs.diagnose_gcj02(good, truth)
    assert not diag.probably_gcj02 and diag.gcj02_fit_gain < 0


def test_diagnosis_needs_crs(counties: gpd.GeoDataFrame, stations: gpd.GeoDataFrame) -> None:
    with pytest.raises(CRSError, match="no CRS"):
        fcrs.diagnose_gcj02(gpd.GeoDataFrame(geometry=np.asarray(counties.geometry)), stations)
