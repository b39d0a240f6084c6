"""Loaders: every delivered form into one CRS and one legend, with clear errors and QA."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import LineString, Point, Polygon, box

from fiveplans import coords
from fiveplans.config import SourceConfig
from fiveplans.crs import parse_crs
from fiveplans.errors import ConfigError, CRSError, CRSWarning, DataError, FiveplansWarning
from fiveplans.layers.loaders import load_layer, read_source

WORKING = pyproj.CRS.from_epsg(4547)
X0, Y0 = 440_000.0, 3_722_000.0  # near Ye County (叶县), zone 38


def _src(key: str, path: Path, **kw: object) -> SourceConfig:
    crs = kw.pop("crs", None)
    return SourceConfig(key=key, path=path, crs=parse_crs(crs) if crs else None, **kw)  # type: ignore[arg-type]


def _parcels() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "BSM": [1, 2, 3],
            "TDYTQLXDM": ["010", "030", "020"],
            "TDYTQMC": ["基本农田保护区", "城镇建设用地区", "一般农地区"],
            "XZQMC": ["昆阳街道", "任店镇", "廉村镇"],
        },
        geometry=[
            box(X0, Y0, X0 + 400, Y0 + 300),
            box(X0 + 400, Y0, X0 + 1000, Y0 + 300),
            box(X0, Y0 + 300, X0 + 1000, Y0 + 700),
        ],
        crs=WORKING,
    )


def _write_gbk_shapefile(folder: Path, gdf: gpd.GeoDataFrame, *, cpg: str | None = None) -> Path:
    """A GBK Shapefile in zone-prefixed CGCS2000 GK (EPSG:4526) with no .prj (and no .cpg)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "TDYTQ.shp"
    prefixed = gdf.to_crs(4526)
    pyogrio.write_dataframe(prefixed, path, encoding="GBK")
    for ext in (".prj", ".cpg"):
        path.with_suffix(ext).unlink(missing_ok=True)
    if cpg is not None:
        path.with_suffix(".cpg").write_text(cpg, encoding="ascii")
    return path


def test_gbk_shapefile_without_cpg_or_prj(tmp_path: Path) -> None:
    truth = _parcels()
    path = _write_gbk_shapefile(tmp_path / "tugui", truth)
    raw = path.with_suffix(".dbf").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    src = _src("land_use", path, field="TDYTQLXDM", scheme="tdytq", id="BSM")
    with pytest.warns(CRSWarning, match="zone"):
        loaded = load_layer(src, working_crs=WORKING, reference_lon=113.36)
    frame, report = loaded.frame, loaded.report
    assert report.encoding == "GBK"
    assert "no .cpg" in report.encoding_reason
    assert frame["TDYTQMC"].tolist() == truth["TDYTQMC"].tolist()
    assert frame["XZQMC"].tolist() == truth["XZQMC"].tolist()
    assert frame.crs.equals(WORKING)
    assert "4526" in report.crs_used
    # geometry back in the working CRS to well under 5 cm
    dist = shapely.hausdorff_distance(frame.geometry.values, truth.geometry.values)
    assert np.max(dist) < 0.05
    assert frame["legend"].tolist() == ["basic_farmland", "construction", "farmland"]
    assert frame["source_id"].tolist() == ["1", "2", "3"]


def test_wrong_cpg_is_overruled_by_the_bytes(tmp_path: Path) -> None:
    path = _write_gbk_shapefile(tmp_path / "t", _parcels(), cpg="UTF-8")
    src = _src("land_use", path, field="TDYTQLXDM", scheme="tdytq", crs="EPSG:4526")
    loaded = load_layer(src, working_crs=WORKING)
    assert loaded.report.encoding == "GBK"
    assert ".cpg says UTF-8" in loaded.report.encoding_reason
    assert loaded.frame["TDYTQMC"].iloc[0] == "基本农田保护区"


def test_gcj02_geojson_round_trips_to_centimetres(tmp_path: Path) -> None:
    truth = _parcels()
    ll = truth.to_crs(4490)

    def to_gcj(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(coords.wgs84_to_gcj02(xy[:, 0], xy[:, 1]))

    gcj = ll.copy()
    gcj.geometry = shapely.transform(ll.geometry.values, to_gcj)
    path = tmp_path / "eco.geojson"
    pyogrio.write_dataframe(gcj.set_crs(4326, allow_override=True), path, driver="GeoJSON")
    src = _src("ecology", path, field="TDYTQLXDM", scheme="tdytq", crs="gcj02")
    frame = load_layer(src, working_crs=WORKING).frame
    assert np.max(shapely.hausdorff_distance(frame.geometry.values, truth.geometry.values)) < 0.01
    # read naively as WGS84 it would sit hundreds of metres off
    naive = gcj.set_crs(4326, allow_override=True).to_crs(WORKING)
    assert np.min(shapely.hausdorff_distance(naive.geometry.values, truth.geometry.values)) > 400


def test_bd09_csv_points_in_gbk(tmp_path: Path) -> None:
    lon, lat = 113.36, 33.62
    blon, blat = coords.wgs84_to_bd09(lon, lat)
    path = tmp_path / "firms.csv"
    path.write_bytes(
        f"firm_id,name,lon,lat\nF001,叶县盐化有限公司,{blon:.8f},{blat:.8f}\n".encode("gbk")
    )
    src = _src("suppliers", path, x="lon", y="lat", crs="bd09", id="firm_id")
    loaded = load_layer(src, working_crs=WORKING)
    assert loaded.report.encoding == "GBK"
    assert loaded.frame["name"].iloc[0] == "叶县盐化有限公司"
    expected = Point(
        *pyproj.Transformer.from_crs(4490, WORKING, always_xy=True).transform(lon, lat)
    )
    assert loaded.frame.geometry.iloc[0].distance(expected) < 0.05


def test_csv_rows_without_coordinates_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("name,lon,lat\n叶县,113.36,33.62\n坏行,,\n", encoding="utf-8")
    src = _src("centres", path, x="lon", y="lat", crs="EPSG:4490")
    with pytest.warns(FiveplansWarning, match="CSV lines 3"):
        loaded = load_layer(src, working_crs=WORKING)
    assert len(loaded.frame) == 1


def test_invalid_geometry_repaired_z_dropped_empty_counted(tmp_path: Path) -> None:
    bowtie = Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)])
    with_z = shapely.force_3d(box(X0 + 200, Y0, X0 + 300, Y0 + 100), z=55.0)
    gdf = gpd.GeoDataFrame(
        {"code": ["M1", "R2", "B1"]}, geometry=[bowtie, with_z, Polygon()], crs=WORKING
    )
    path = tmp_path / "c.gpkg"
    gdf.to_file(path)
    loaded = load_layer(_src("cluster", path, field="code", scheme="gb50137"), working_crs=WORKING)
    frame, qa = loaded.frame, loaded.report.qa
    assert len(frame) == 2
    assert frame.geometry.is_valid.all()
    assert not frame.geometry.has_z.any()
    assert frame.geometry.iloc[0].area == pytest.approx(
        5000.0
    )  # both triangles of the bow-tie kept
    checks = dict(zip(qa["check"], qa["count"], strict=True))
    assert checks["invalid_repaired 无效几何已修复"] == 1
    assert checks["empty_geometry 空几何"] == 1
    assert checks["z_dropped 去除Z值"] == 1


def test_overlaps_inside_a_plan_are_reported_with_area(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"code": ["M1", "M2", "R2"]},
        geometry=[
            box(X0, Y0, X0 + 100, Y0 + 100),
            box(X0 + 60, Y0, X0 + 160, Y0 + 100),
            box(X0 + 160, Y0, X0 + 200, Y0 + 100),
        ],
        crs=WORKING,
    )
    path = tmp_path / "c.gpkg"
    gdf.to_file(path)
    loaded = load_layer(_src("cluster", path, field="code", scheme="gb50137"), working_crs=WORKING)
    row = loaded.report.qa.set_index("check").loc["overlap 图斑重叠"]
    assert row["count"] == 1
    assert row["area_m2"] == pytest.approx(4000.0)


def test_mixed_geometry_types_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.geojson"
    gpd.GeoDataFrame(
        {"code": ["M1", "R2"]},
        geometry=[box(X0, Y0, X0 + 10, Y0 + 10), LineString([(X0, Y0), (X0 + 5, Y0 + 5)])],
        crs=WORKING,
    ).to_file(path, driver="GeoJSON")
    with pytest.raises(DataError, match=r"expected polygon geometries.*LineString.*Fix"):
        load_layer(_src("cluster", path, field="code", scheme="gb50137"), working_crs=WORKING)


def test_outside_china_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "far.gpkg"
    gpd.GeoDataFrame({"code": ["M1"]}, geometry=[box(10, 50, 10.01, 50.01)], crs=4326).to_file(path)
    with pytest.raises(CRSError, match="outside China"):
        load_layer(_src("cluster", path, field="code", scheme="gb50137"), working_crs=WORKING)


def test_no_crs_and_nothing_detectable_names_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "local.gpkg"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        gpd.GeoDataFrame({"code": ["M1"]}, geometry=[box(1000, 1000, 1100, 1100)]).to_file(path)
    with pytest.raises(CRSError, match=r"add `crs:`"):
        load_layer(_src("cluster", path, field="code", scheme="gb50137"), working_crs=WORKING)


def test_layer_not_found_lists_layers(tmp_path: Path) -> None:
    path = tmp_path / "two.gpkg"
    _parcels().to_file(path, layer="TDYTQ")
    _parcels().to_file(path, layer="XZQ")
    with pytest.raises(
        DataError, match=r"layer 'TDYTQQ' not found.*TDYTQ, XZQ.*Did you mean 'TDYTQ'"
    ):
        read_source(_src("land_use", path, layer=("TDYTQQ",), field="TDYTQLXDM", scheme="tdytq"))
    with pytest.raises(DataError, match=r"holds 2 layers.*add `layer: NAME`"):
        read_source(_src("land_use", path, field="TDYTQLXDM", scheme="tdytq"))


def test_field_not_found_suggests_closest(tmp_path: Path) -> None:
    path = tmp_path / "t.gpkg"
    _parcels().to_file(path)
    # a field the pilot names is a config problem (exit 2); the suggestion is the code field
    with pytest.raises(ConfigError, match=r"field 'TDYTQDM' not found.*set `field: TDYTQLXDM`"):
        load_layer(_src("land_use", path, field="TDYTQDM", scheme="tdytq"), working_crs=WORKING)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    gdf = _parcels()
    gdf["BSM"] = [1, 1, 2]
    path = tmp_path / "t.gpkg"
    gdf.to_file(path)
    with pytest.raises(DataError, match=r"'BSM' is not unique"):
        load_layer(
            _src("land_use", path, field="TDYTQLXDM", scheme="tdytq", id="BSM"), working_crs=WORKING
        )


def test_unknown_codes_are_kept_and_reported(tmp_path: Path) -> None:
    gdf = _parcels()
    gdf["TDYTQLXDM"] = ["010", "999", "999"]
    path = tmp_path / "t.gpkg"
    gdf.to_file(path)
    with pytest.warns(FiveplansWarning, match="'999' ×2"):
        loaded = load_layer(
            _src("land_use", path, field="TDYTQLXDM", scheme="tdytq"), working_crs=WORKING
        )
    assert len(loaded.frame) == 3
    assert loaded.frame["legend"].tolist() == ["basic_farmland", "other", "other"]


def test_xian1980_without_parameters_warns_loudly(tmp_path: Path) -> None:
    path = tmp_path / "x80.gpkg"
    _parcels().set_crs(2383, allow_override=True).to_file(path)  # Xian 1980 3° GK CM 114E
    with pytest.warns(CRSWarning, match=r"Xian 1980 / Beijing 1954.*towgs84"):
        load_layer(_src("land_use", path, field="TDYTQLXDM", scheme="tdytq"), working_crs=WORKING)


def test_xian1980_with_parameters_applies_them(tmp_path: Path) -> None:
    path = tmp_path / "x80.gpkg"
    _parcels().set_crs(2383, allow_override=True).to_file(path)
    src = _src("land_use", path, field="TDYTQLXDM", scheme="tdytq", towgs84=(100.0, 0.0, 0.0))
    shifted = load_layer(src, working_crs=WORKING).frame
    with pytest.warns(CRSWarning):
        ballpark = load_layer(
            _src("land_use", path, field="TDYTQLXDM", scheme="tdytq"), working_crs=WORKING
        ).frame
    moved = shapely.distance(shifted.geometry.centroid.values, ballpark.geometry.centroid.values)
    assert np.all((moved > 20) & (moved < 120))  # a 100 m geocentric dx shows up as tens of metres


def test_input_frames_are_not_mutated(tmp_path: Path) -> None:
    from fiveplans.layers.loaders import harmonize

    path = tmp_path / "t.gpkg"
    _parcels().to_file(path)
    src = _src("land_use", path, field="TDYTQLXDM", scheme="tdytq")
    raw, report = read_source(src)
    before = raw.copy()
    harmonize(raw, src, report, working_crs=WORKING)
    assert_geodataframe_equal(raw, before)


@pytest.mark.postgis
def test_postgis_table_loads_like_a_file(postgis_url: str) -> None:
    from fiveplans.layers.postgis import write_postgis

    truth = _parcels()
    write_postgis(truth, postgis_url, "public.tdytq_loader", if_exists="replace")
    src = SourceConfig(
        key="land_use",
        path=None,
        url=postgis_url,
        layer=("public.tdytq_loader",),
        field="TDYTQLXDM",
        scheme="tdytq",
        id="BSM",
    )
    loaded = load_layer(src, working_crs=WORKING)
    assert loaded.report.format == "PostGIS"
    assert loaded.frame["TDYTQMC"].tolist() == truth["TDYTQMC"].tolist()
    assert loaded.frame["legend"].tolist() == ["basic_farmland", "construction", "farmland"]
    assert np.allclose(loaded.frame.area.to_numpy(), truth.area.to_numpy())


def _local_grid(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A city grid: EPSG:4547 shifted, rotated 2° and scaled (what CAD drawings are in)."""
    a = np.deg2rad(2.0)
    s = 1.00002
    dx, dy = x - 440_000.0, y - 3_720_000.0
    return s * (np.cos(a) * dx + np.sin(a) * dy) + 5000.0, s * (
        -np.sin(a) * dx + np.cos(a) * dy
    ) + 8000.0


def _write_cad(
    folder: Path, truth: gpd.GeoDataFrame, *, bad_point_m: float = 0.0
) -> tuple[Path, Path]:
    import ezdxf

    folder.mkdir(parents=True, exist_ok=True)
    doc = ezdxf.new("R2010")
    msp = doc.modelspace()
    for code, geom in zip(["M1", "R2", "G1"], truth.geometry, strict=True):
        xs, ys = _local_grid(*np.asarray(geom.exterior.coords).T)
        msp.add_lwpolyline(
            list(zip(xs[:-1], ys[:-1], strict=True)), close=True, dxfattribs={"layer": code}
        )
    msp.add_text("一类工业用地", dxfattribs={"layer": "标注"})
    dxf = folder / "urban.dxf"
    doc.saveas(dxf)
    pts = np.array(
        [
            [439_000, 3_721_000],
            [442_000, 3_721_500],
            [441_000, 3_724_000],
            [439_500, 3_723_500],
            [440_700, 3_722_400],
        ],
        float,
    )
    lx, ly = _local_grid(pts[:, 0], pts[:, 1])
    pts[0, 0] += bad_point_m
    lines = ["point_id,local_x,local_y,x,y"] + [
        f"K{i},{lx[i]:.4f},{ly[i]:.4f},{pts[i, 0]:.4f},{pts[i, 1]:.4f}" for i in range(len(pts))
    ]
    cp = folder / "urban_cp.csv"
    cp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dxf, cp


def test_cad_registered_by_control_points(tmp_path: Path) -> None:
    truth = _parcels()
    dxf, cp = _write_cad(tmp_path / "cad", truth)
    src = _src(
        "urban",
        dxf,
        field="Layer",
        scheme="gb50137",
        control_points=cp,
        layer=("M1", "R2", "G1"),
        crs="EPSG:4547",
    )
    loaded = load_layer(src, working_crs=WORKING)
    frame = loaded.frame.sort_values("Layer")
    expected = truth.assign(Layer=["M1", "R2", "G1"]).sort_values("Layer")
    assert (
        np.max(shapely.hausdorff_distance(frame.geometry.values, expected.geometry.values)) < 0.05
    )
    assert loaded.report.control_rms_m is not None and loaded.report.control_rms_m < 0.01
    assert frame["use"].tolist() == ["green", "industrial", "residential"]
    assert "Helmert" in loaded.report.crs_reason


def test_cad_bad_control_point_warns_with_the_point(tmp_path: Path) -> None:
    dxf, cp = _write_cad(tmp_path / "cad", _parcels(), bad_point_m=3.0)
    src = _src(
        "urban",
        dxf,
        field="Layer",
        scheme="gb50137",
        control_points=cp,
        layer=("M1", "R2", "G1"),
        crs="EPSG:4547",
    )
    with pytest.warns(FiveplansWarning, match=r"RMS .* exceeds 0.5 m .*worst point K0"):
        load_layer(src, working_crs=WORKING)


def test_osm_roads_load_into_the_working_crs(real_data: Path) -> None:
    src = _src("roads", real_data / "roads" / "shenzhen_longgang_map.osm", field="highway")
    loaded = load_layer(src, working_crs=WORKING)
    frame = loaded.frame
    assert loaded.report.format == "OSM"
    assert {"u", "v", "osmid", "highway", "oneway"} <= set(frame.columns)
    assert frame.crs.equals(WORKING)
    assert (frame.length > 0).all()
    assert (
        frame["source_code"].isin(["motorway", "trunk", "primary", "secondary", "tertiary"]).any()
    )


def test_geotiff_classes_become_polygons_with_the_legend(tmp_path: Path) -> None:
    import rasterio
    from affine import Affine

    data = np.array([[101, 101, 601], [101, 702, 601], [0, 0, 601]], dtype="int32")
    path = tmp_path / "status.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=3,
        height=3,
        count=1,
        dtype="int32",
        crs="EPSG:4547",
        transform=Affine(30.0, 0.0, X0, 0.0, -30.0, Y0 + 90),
        nodata=0,
    ) as ds:
        ds.write(data, 1)
    src = _src("current", path, field="value", scheme="gbt21010")
    frame = load_layer(src, working_crs=WORKING).frame
    areas = frame.assign(a=frame.area).groupby("legend")["a"].sum()
    assert areas["farmland"] == pytest.approx(3 * 900.0)
    assert areas["construction"] == pytest.approx(4 * 900.0)
    assert set(frame["source_code"].astype(str)) == {"101", "601", "702"}


def test_undecodable_text_names_the_encoding_fix(tmp_path: Path) -> None:
    path = tmp_path / "firms.csv"
    path.write_bytes("firm_id,name,lon,lat\nF1,叶县盐化,113.36,33.62\n".encode("gbk"))
    src = _src("suppliers", path, x="lon", y="lat", crs="EPSG:4490", encoding="UTF-8")
    with pytest.raises(DataError, match=r"cannot decode as UTF-8.*set `encoding:`"):
        load_layer(src, working_crs=WORKING)


def test_all_codes_unknown_suggests_the_scheme(tmp_path: Path) -> None:
    path = tmp_path / "t.gpkg"
    _parcels().to_file(path)
    with pytest.raises(DataError, match="tdytq"):
        load_layer(_src("land_use", path, field="TDYTQLXDM", scheme="gb50137"), working_crs=WORKING)


@pytest.mark.parametrize("part", [".shp", ".dbf"])
def test_truncated_shapefile_is_refused(tmp_path: Path, part: str) -> None:
    path = _write_gbk_shapefile(tmp_path / "t", _parcels())
    target = path.with_suffix(part)
    data = target.read_bytes()
    target.write_bytes(data[: len(data) - 40])
    src = _src("land_use", path, field="TDYTQLXDM", scheme="tdytq", crs="EPSG:4526")
    with pytest.raises(DataError, match=r"truncated.*Fix: copy the complete"):
        load_layer(src, working_crs=WORKING)


@pytest.mark.parametrize("offset", [True, False])
def test_a_plan_sitting_gcj02_off_the_boundary_is_flagged(tmp_path: Path, offset: bool) -> None:
    import warnings

    import yaml
    from tinypilot import write_tiny_pilot

    import fiveplans as fp

    pilot = write_tiny_pilot(tmp_path / "p")
    cluster = gpd.read_file(pilot.parent / "cluster.gpkg").to_crs(4490)
    if offset:  # what an Amap export labelled WGS84 looks like

        def to_gcj(xy: np.ndarray) -> np.ndarray:
            return np.column_stack(coords.wgs84_to_gcj02(xy[:, 0], xy[:, 1]))

        cluster.geometry = shapely.transform(cluster.geometry.values, to_gcj)
    cluster.to_file(pilot.parent / "cluster.geojson", driver="GeoJSON")
    doc = yaml.safe_load(pilot.read_text(encoding="utf-8"))
    doc["plans"]["cluster"]["path"] = "cluster.geojson"
    pilot.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = fp.load_pilot(pilot)
    flagged = [str(w.message) for w in caught if "probably GCJ-02" in str(w.message)]
    if offset:
        assert flagged and "cluster" in flagged[0] and "crs: gcj02" in flagged[0]
    else:
        assert not flagged
        assert not loaded.warnings
