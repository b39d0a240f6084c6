"""QA checks: overlaps in a coverage, duplicates, repairs — against direct shapely computations."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import box

from fiveplans.config import SourceConfig
from fiveplans.crs import parse_crs
from fiveplans.errors import DataError
from fiveplans.layers import qa
from fiveplans.layers.loaders import load_layer


def _voronoi(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frame = box(0, 0, 2000, 2000)
    seeds = shapely.multipoints(rng.uniform(0, 2000, (n, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame))
    return shapely.intersection(cells, frame)


def test_parallel_invalid_edges_equal_the_whole_coverage_result() -> None:
    geoms = _voronoi(3000)
    # plant an overlap across the middle of the coverage and one at the edge
    geoms[10] = shapely.buffer(geoms[10], 5.0)
    middle = int(np.argmin(np.abs(shapely.get_x(shapely.centroid(geoms)) - 1000)))
    geoms[middle] = shapely.buffer(geoms[middle], 3.0)
    whole = shapely.coverage_invalid_edges(geoms)
    parallel = qa._invalid_edges(geoms, min_chunk=500)
    assert np.array_equal(shapely.is_empty(whole), shapely.is_empty(parallel))
    assert np.allclose(shapely.length(whole), shapely.length(parallel))


def test_coverage_overlaps_area_equals_pairwise_intersections() -> None:
    geoms = _voronoi(400)
    geoms[5] = shapely.buffer(geoms[5], 4.0)
    gdf = gpd.GeoDataFrame(geometry=geoms, crs=4547)
    row = qa.coverage_overlaps(gdf)
    assert row is not None
    # oracle: brute-force pairwise intersection areas of the grown cell with every other cell
    others = np.delete(np.arange(len(geoms)), 5)
    areas = shapely.area(shapely.intersection(geoms[5], geoms[others]))
    expected = areas[areas >= 1.0]
    assert row.count == len(expected)
    assert row.area_m2 == pytest.approx(expected.sum(), rel=1e-9)


def test_clean_coverage_has_no_overlaps() -> None:
    gdf = gpd.GeoDataFrame(geometry=_voronoi(400), crs=4547)
    assert qa.coverage_overlaps(gdf) is None


def test_duplicates_counted() -> None:
    a, b = box(0, 0, 10, 10), box(10, 0, 20, 10)
    gdf = gpd.GeoDataFrame(geometry=[a, b, shapely.reverse(a)], crs=4547)
    row = qa.duplicate_geometries(gdf)
    assert row is not None and row.count == 1 and row.area_m2 == pytest.approx(100.0)


def test_repair_keeps_polygonal_parts_only() -> None:
    # a polygon with a dangling spike: make_valid gives a polygon plus a line; the line goes
    spiky = shapely.Polygon([(0, 0), (10, 0), (10, 10), (10, 20), (10, 10), (0, 10)])
    gdf = gpd.GeoDataFrame({"id": [1]}, geometry=[spiky], crs=4547)
    fixed, rows = qa.repair_geometries(gdf, kind="polygon", where="t")
    geom = fixed.geometry.iloc[0]
    assert geom.geom_type in ("Polygon", "MultiPolygon")
    assert geom.area == pytest.approx(100.0)
    assert rows[0].check.startswith("invalid_repaired")
    assert gdf.geometry.iloc[0].equals(spiky)  # input untouched


# ---- exact duplicate records (issue 11 §2) -------------------------------------------------

WORKING = pyproj.CRS.from_epsg(4547)
X0, Y0 = 440_000.0, 3_722_000.0


def _src(key: str, path: Path, **kw: object) -> SourceConfig:
    crs = kw.pop("crs", None)
    return SourceConfig(key=key, path=path, crs=parse_crs(crs) if crs else None, **kw)  # type: ignore[arg-type]


def _parcels() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "BSM": [1, 2, 3],
            "TDYTQLXDM": ["010", "030", "020"],
            "TDYTQMC": ["基本农田保护区", "城镇建设用地区", "一般农地区"],
        },
        geometry=[
            box(X0, Y0, X0 + 400, Y0 + 300),
            box(X0 + 400, Y0, X0 + 1000, Y0 + 300),
            box(X0, Y0 + 300, X0 + 1000, Y0 + 700),
        ],
        crs=WORKING,
    )


def _qa_row(loaded: object, check: str) -> pd.Series:
    table = loaded.report.qa  # type: ignore[attr-defined]
    hit = table[table["check"].str.startswith(check)]
    assert len(hit) == 1, table
    return hit.iloc[0]


def test_same_parcel_twice_is_dropped_and_counted(tmp_path: Path) -> None:
    gdf = _parcels()
    # an export that lists parcel 2 twice, the second copy with its ring starting elsewhere
    # and wound the other way: the same feature after normalisation
    twin = gdf.iloc[[1]].copy()
    twin["geometry"] = [
        shapely.reverse(
            shapely.Polygon(
                np.roll(np.asarray(gdf.geometry.iloc[1].exterior.coords)[:-1], 2, axis=0)
            )
        )
    ]
    messy = pd.concat([gdf, twin, gdf.iloc[[0]]], ignore_index=True)
    path = tmp_path / "tugui.gpkg"
    messy.to_file(path)
    loaded = load_layer(
        _src("land_use", path, field="TDYTQLXDM", scheme="tdytq", id="BSM"), working_crs=WORKING
    )
    assert sorted(loaded.frame["source_id"]) == ["1", "2", "3"]
    row = _qa_row(loaded, "duplicate_record")
    assert row["count"] == 2
    assert "BSM=2 (row 4)" in row["detail"] and "BSM=1 (row 5)" in row["detail"]
    assert any("duplicate_record" in w for w in loaded.report.warnings)
    # the kept layer equals the clean delivery
    clean = load_layer(
        _src(
            "land_use",
            _write(tmp_path / "clean.gpkg", gdf),
            field="TDYTQLXDM",
            scheme="tdytq",
            id="BSM",
        ),
        working_crs=WORKING,
    )
    assert loaded.frame.geometry.area.sum() == pytest.approx(clean.frame.geometry.area.sum())


def _write(path: Path, gdf: gpd.GeoDataFrame) -> Path:
    gdf.to_file(path)
    return path


def test_same_id_different_attribute_is_refused_naming_what_differs(tmp_path: Path) -> None:
    gdf = _parcels()
    other = gdf.iloc[[1]].assign(TDYTQLXDM="010", TDYTQMC="基本农田保护区")
    path = _write(tmp_path / "t.gpkg", pd.concat([gdf, other], ignore_index=True))
    with pytest.raises(DataError) as err:
        load_layer(
            _src("land_use", path, field="TDYTQLXDM", scheme="tdytq", id="BSM"),
            working_crs=WORKING,
        )
    msg = str(err.value)
    assert "'BSM' is not unique" in msg and "BSM=2 (rows 2, 4" in msg
    assert "TDYTQLXDM '030' ≠ '010'" in msg
    assert "geometry" not in msg.split("BSM=2")[1]  # same geometry: only the code differs


def test_same_id_different_geometry_is_refused_with_both_areas(tmp_path: Path) -> None:
    gdf = _parcels()
    moved = gdf.iloc[[0]].copy()
    moved["geometry"] = [box(X0, Y0, X0 + 400, Y0 + 350)]
    path = _write(tmp_path / "t.gpkg", pd.concat([gdf, moved], ignore_index=True))
    with pytest.raises(
        DataError, match=r"BSM=1 \(rows 1, 4: geometry \(120,000.0 m² ≠ 140,000.0 m²\)\)"
    ):
        load_layer(
            _src("land_use", path, field="TDYTQLXDM", scheme="tdytq", id="BSM"),
            working_crs=WORKING,
        )


def test_exact_duplicates_without_an_id_are_dropped(tmp_path: Path) -> None:
    gdf = _parcels()
    path = _write(tmp_path / "t.gpkg", pd.concat([gdf, gdf.iloc[[2]]], ignore_index=True))
    loaded = load_layer(
        _src("land_use", path, field="TDYTQLXDM", scheme="tdytq"), working_crs=WORKING
    )
    assert loaded.frame["source_id"].tolist() == ["1", "2", "3"]
    assert "row 4" in _qa_row(loaded, "duplicate_record")["detail"]


def test_real_rivers_listed_twice_as_lines(real_data: Path, tmp_path: Path) -> None:
    rivers = gpd.read_file(real_data / "henan" / "ne_10m_rivers_henan_buf20km.geojson")
    messy = pd.concat([rivers, rivers.iloc[[0, 3]]], ignore_index=True)
    f = _write(tmp_path / "rivers.gpkg", messy)
    loaded = load_layer(_src("roads", f), working_crs=WORKING)
    assert len(loaded.frame) == len(rivers)
    row = _qa_row(loaded, "duplicate_record")
    assert row["count"] == 2 and f"row {len(rivers) + 1}" in row["detail"]


def test_real_stations_scraped_twice_as_csv_points(real_data: Path, tmp_path: Path) -> None:
    stations = gpd.read_file(real_data / "henan" / "henan_railway_stations_osm.geojson")
    stations = stations[stations.geometry.geom_type == "Point"].head(60).reset_index(drop=True)
    table = pd.DataFrame(
        {
            "sid": [f"S{i:03d}" for i in range(len(stations))],
            "name": stations["name"].fillna(""),
            "lon": stations.geometry.x.map("{:.7f}".format),
            "lat": stations.geometry.y.map("{:.7f}".format),
        }
    )
    # a scraper that fetched pages 2 and 5 twice
    messy = pd.concat([table, table.iloc[10:20], table.iloc[40:45]], ignore_index=True)
    csv = tmp_path / "firms.csv"
    messy.to_csv(csv, index=False, encoding="gb18030")
    src = _src("suppliers", csv, x="lon", y="lat", crs="EPSG:4326", id="sid", encoding="gb18030")
    loaded = load_layer(src, working_crs=WORKING)
    assert sorted(loaded.frame["source_id"]) == table["sid"].tolist()
    row = _qa_row(loaded, "duplicate_record")
    assert row["count"] == 15 and "sid=S010 (row 61)" in row["detail"]
    # the same id at another place is a different record: refused, with the distance
    moved = table.iloc[[7]].assign(lon=f"{float(table['lon'][7]) + 0.01:.7f}")
    pd.concat([table, moved], ignore_index=True).to_csv(csv, index=False, encoding="gb18030")
    with pytest.raises(DataError, match=r"sid=S007 \(rows 8, 61: lon .*; geometry \(.* m apart\)"):
        load_layer(src, working_crs=WORKING)


def test_cad_outline_drawn_twice_is_counted(tmp_path: Path) -> None:
    import ezdxf

    doc = ezdxf.new("R2010")
    msp = doc.modelspace()
    square = [(X0, Y0), (X0 + 100, Y0), (X0 + 100, Y0 + 100), (X0, Y0 + 100)]
    other = [(X0 + 100, Y0), (X0 + 200, Y0), (X0 + 200, Y0 + 100), (X0 + 100, Y0 + 100)]
    msp.add_lwpolyline(square, close=True, dxfattribs={"layer": "M1"})
    msp.add_lwpolyline(square[2:] + square[:2], close=True, dxfattribs={"layer": "M1"})
    msp.add_lwpolyline(other, close=True, dxfattribs={"layer": "G1"})
    dxf = tmp_path / "urban.dxf"
    doc.saveas(dxf)
    loaded = load_layer(
        _src("urban", dxf, field="Layer", scheme="gb50137", crs="EPSG:4547"), working_crs=WORKING
    )
    assert len(loaded.frame) == 2
    assert "duplicates_dropped" not in loaded.frame.attrs
    row = _qa_row(loaded, "duplicate_record")
    assert row["count"] == 1 and "LWPOLYLINE" in row["detail"]


def test_drop_exact_duplicates_keeps_nan_equal_and_input_untouched() -> None:
    a, b = box(0, 0, 10, 10), box(10, 0, 20, 10)
    gdf = gpd.GeoDataFrame(
        {"k": ["x", None, None, "x"], "v": [1.0, np.nan, np.nan, 2.0]},
        geometry=[a, b, shapely.reverse(b), a],
        crs=4547,
    )
    before = gdf.copy()
    out, row = qa.drop_exact_duplicates(gdf)
    assert out.index.tolist() == [0, 1, 3]  # rows 1 and 2 equal (missing == missing)
    assert row is not None and row.count == 1 and "row 3" in row.detail
    assert_geodataframe_equal(gdf, before)
    # rows 1 and 4 share k=x but differ in v: that is what the id check names
    assert qa.shared_ids(out, "k", row_numbers=np.array([1, 2, 4])) == [
        "k=x (rows 1, 4: v 1.0 ≠ 2.0)"
    ]
    assert qa.shared_ids(out, "v") == []


def test_duplicate_search_is_cheap_without_repeats() -> None:
    geoms = _voronoi(2000)
    gdf = gpd.GeoDataFrame({"id": np.arange(len(geoms))}, geometry=geoms, crs=4547)
    out, row = qa.drop_exact_duplicates(gdf, id_column="id")
    assert row is None and out is gdf
