"""The demo pilot generator: delivered forms, ground truth and an independent re-computation."""

from __future__ import annotations

import csv
import io
import json
import struct
from pathlib import Path

import ezdxf
import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from fiveplans.coords import bd09_to_wgs84, gcj02_to_wgs84
from fiveplans.demo import write_demo_inputs
from fiveplans.errors import ConfigError

TRUTH_LAYERS = ["boundary", "cluster", "land_use", "urban", "ecology", "infrastructure",
                "current", "roads", "centres", "suppliers", "clusters", "districts"]  # fmt: skip
TO_M = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pilot = write_demo_inputs(tmp_path_factory.mktemp("demo") / "inputs")
    assert pilot.name == "pilot.yml"
    return pilot.parent


@pytest.fixture(scope="session")
def truth(demo: Path) -> dict:
    return json.loads((demo / "ground_truth.json").read_text(encoding="utf-8"))


def _t(demo: Path, layer: str) -> gpd.GeoDataFrame:
    return gpd.read_file(demo / "ground_truth.gpkg", layer=layer)


def test_files_exist(demo: Path) -> None:
    for name in ["pilot.yml", "boundary.gpkg", "tugui/TDYTQ.shp", "tugui/TDYTQ.dbf",
                 "tugui/TDYTQ.shx", "cluster.gdb", "urban/urban.dxf", "urban/urban_cp.csv",
                 "eco.geojson", "infra.gpkg", "status.gpkg", "roads.gpkg", "centres.csv",
                 "firms.csv", "cores.gpkg", "towns.gpkg", "ground_truth.gpkg",
                 "ground_truth.json"]:  # fmt: skip
        assert (demo / name).exists(), name
    text = (demo / "pilot.yml").read_text(encoding="utf-8")
    assert "tugui/TDYTQ.shp" in text and "crs: bd09" in text and "sliver_m2: 400" in text
    assert set(pyogrio.list_layers(demo / "ground_truth.gpkg")[:, 0]) >= set(TRUTH_LAYERS)


def test_refuses_non_empty_then_overwrites(tmp_path: Path) -> None:
    (tmp_path / "junk.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="not empty"):
        write_demo_inputs(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["junk.txt"]
    assert not [p for p in tmp_path.parent.iterdir() if ".tmp-" in p.name]


def test_shapefile_is_gbk_prefixed_without_prj(demo: Path, truth: dict) -> None:
    folder = demo / "tugui"
    assert not list(folder.glob("*.cpg")) and not list(folder.glob("*.prj"))
    assert not list(folder.glob("*.CPG")) and not list(folder.glob("*.PRJ"))
    raw = (folder / "TDYTQ.dbf").read_bytes()
    header_len = struct.unpack("<H", raw[8:10])[0]
    records = raw[header_len:-1]
    records.decode("gbk")  # must decode
    with pytest.raises(UnicodeDecodeError):
        records.decode("utf-8")
    assert "基本农田保护区".encode("gbk") in records
    info = pyogrio.read_info(folder / "TDYTQ.shp")
    assert info["crs"] is None
    xmin, _, xmax, _ = info["total_bounds"]
    assert 38_000_000 < xmin < xmax < 39_000_000
    gdf = gpd.read_file(folder / "TDYTQ.shp", encoding="gbk")
    t = _t(demo, "land_use")
    assert list(gdf["BSM"]) == list(t["truth_id"])
    assert list(gdf["TDYTQMC"]) == list(t["TDYTQMC"])
    assert set(gdf["TDYTQLXDM"]) <= {"010", "020", "030", "040", "050", "070", "090"}
    shifted = shapely.transform(gdf.geometry.to_numpy(), lambda c: c - [38_000_000.0, 0.0])
    assert np.allclose(shapely.area(shifted), shapely.area(t.geometry.to_numpy()), rtol=1e-9)


def test_filegdb_cluster(demo: Path) -> None:
    assert "YDGH" in pyogrio.list_layers(demo / "cluster.gdb")[:, 0]
    gdf = gpd.read_file(demo / "cluster.gdb", layer="YDGH")
    assert gdf.crs.to_epsg() == 4547
    t = _t(demo, "cluster")
    assert list(gdf["DKBH"]) == list(t["truth_id"])
    assert gdf["YDDM"].isin(["M1", "M2", "M3", "W1", "R2", "A33", "B1", "S1", "U12", "U31",
                             "G1", "G2", "E1", "E2"]).all()  # fmt: skip
    # FileGDB stores coordinates on its default 0.1 mm grid
    d = shapely.hausdorff_distance(gdf.geometry.to_numpy(), t.geometry.to_numpy())
    assert d.max() < 1e-3
    b = _t(demo, "boundary").geometry.iloc[0]
    assert gdf.union_all().symmetric_difference(b).area < 5.0


def _fit_similarity(local: np.ndarray, world: np.ndarray) -> np.ndarray:
    """Least-squares 4-parameter similarity local -> world: returns (a, b, tx, ty)."""
    rows, rhs = [], []
    for (lx, ly), (x, y) in zip(local, world, strict=True):
        rows += [[lx, -ly, 1, 0], [ly, lx, 0, 1]]
        rhs += [x, y]
    return np.linalg.lstsq(np.asarray(rows), np.asarray(rhs), rcond=None)[0]


def test_dxf_local_grid_and_control_points(demo: Path) -> None:
    doc = ezdxf.readfile(demo / "urban/urban.dxf")
    msp = doc.modelspace()
    polys = list(msp.query("LWPOLYLINE"))
    hatches = list(msp.query("HATCH"))
    assert polys and hatches and list(msp.query("TEXT"))
    assert {e.dxf.layer for e in polys} <= {"R2", "A1", "A33", "A51", "B1", "M1", "M2", "M3",
                                             "W1", "S1", "U11", "U12", "U31", "G1", "G2",
                                             "E1", "E2"}  # fmt: skip
    t = _t(demo, "urban").set_index("truth_id")
    assert {e.dxf.handle for e in polys + hatches} == set(t.index)
    cp = pd.read_csv(demo / "urban/urban_cp.csv", encoding="utf-8")
    assert list(cp.columns) == ["point_id", "local_x", "local_y", "x", "y"] and len(cp) >= 6
    a, b, tx, ty = _fit_similarity(cp[["local_x", "local_y"]].to_numpy(), cp[["x", "y"]].to_numpy())
    assert abs(float(np.hypot(a, b)) - 1.0) < 1e-4  # scale about 1.00002
    assert 1.0 < abs(np.degrees(np.arctan2(b, a))) < 3.0
    assert np.hypot(tx, ty) > 100_000.0  # a local grid, far from EPSG:4547 numbers
    pred = np.column_stack(
        [a * cp.local_x - b * cp.local_y + tx, b * cp.local_x + a * cp.local_y + ty]
    )
    resid = np.hypot(*(pred - cp[["x", "y"]].to_numpy()).T)
    assert resid.max() < 0.05 and resid.mean() > 0.002  # survey noise of a few cm
    e = polys[0]
    lxy = np.asarray([(p[0], p[1]) for p in e.get_points()])
    xy = np.column_stack([a * lxy[:, 0] - b * lxy[:, 1] + tx, b * lxy[:, 0] + a * lxy[:, 1] + ty])
    ring = np.asarray(t.loc[e.dxf.handle, "geometry"].exterior.coords)[:-1]
    assert np.abs(xy - ring).max() < 0.05


def test_ecology_is_gcj02(demo: Path) -> None:
    doc = json.loads((demo / "eco.geojson").read_text(encoding="utf-8"))
    t = _t(demo, "ecology")
    assert len(doc["features"]) == len(t)
    assert {f["properties"]["type"] for f in doc["features"]} >= {"STBHHX", "HLSM", "YYSBH"}
    off_raw, off_fixed = [], []
    for f, g in zip(doc["features"], t.geometry, strict=True):
        assert f["properties"]["id"] == t.loc[t.geometry == g, "truth_id"].iloc[0]
        c = np.asarray(f["geometry"]["coordinates"][0])
        assert all(len(repr(float(v)).split(".")[1]) <= 7 for v in c[:5].ravel())
        truth_xy = np.asarray(g.exterior.coords)
        x, y = TO_M.transform(c[:, 0], c[:, 1])
        off_raw.append(np.hypot(x - truth_xy[:, 0], y - truth_xy[:, 1]))
        lon, lat = gcj02_to_wgs84(c[:, 0], c[:, 1])
        x, y = TO_M.transform(lon, lat)
        off_fixed.append(np.hypot(x - truth_xy[:, 0], y - truth_xy[:, 1]))
    off_raw_a, off_fixed_a = np.concatenate(off_raw), np.concatenate(off_fixed)
    assert off_raw_a.min() > 450.0 and off_raw_a.max() < 700.0  # about 610 m at Ye Xian
    assert off_fixed_a.max() < 0.01


def test_firms_gbk_bd09(demo: Path) -> None:
    raw = (demo / "firms.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(raw.decode("gbk"))))
    assert 150 <= len(rows) <= 250
    t = _t(demo, "suppliers").set_index("truth_id")
    lon = np.array([float(r["lon"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])
    tx = t.loc[[r["firm_id"] for r in rows]].geometry
    x, y = TO_M.transform(lon, lat)
    off = np.hypot(x - tx.x.to_numpy(), y - tx.y.to_numpy())
    assert off.min() > 900.0 and off.max() < 1600.0
    wlon, wlat = bd09_to_wgs84(lon, lat)
    x, y = TO_M.transform(wlon, wlat)
    assert np.hypot(x - tx.x.to_numpy(), y - tx.y.to_numpy()).max() < 0.02
    ye = t.geometry.distance(_t(demo, "centres").set_index("truth_id").geometry["叶县"])
    assert ye.max() < 50_000.0


def test_other_forms(demo: Path) -> None:
    assert pyogrio.read_info(demo / "infra.gpkg", layer="corridor")["crs"] == "EPSG:4490"
    assert pyogrio.read_info(demo / "infra.gpkg", layer="facility")["geometry_type"] == "Polygon"
    cores = gpd.read_file(demo / "cores.gpkg", layer="cores")
    b = gpd.read_file(demo / "boundary.gpkg", layer="boundary")
    assert len(cores) == 4 and cores.within(b.geometry.iloc[0]).all()
    towns = gpd.read_file(demo / "towns.gpkg", layer="towns")
    assert 2 <= len(towns) <= 4 and towns["code"].str.startswith("410422").all()
    assert abs(towns.union_all().intersection(b.geometry.iloc[0]).area - b.area.iloc[0]) < 1.0
    centres = pd.read_csv(demo / "centres.csv", encoding="utf-8")
    assert {"平顶山", "叶县"} <= set(centres["name"])


def test_boundary_and_farmland_patches(demo: Path, truth: dict) -> None:
    b = gpd.read_file(demo / "boundary.gpkg", layer="boundary")
    assert b.crs.to_epsg() == 4547 and len(b) == 1
    assert 20e6 < b.area.iloc[0] < 40e6
    assert truth["boundary_area_m2"] == pytest.approx(b.area.iloc[0], rel=1e-9)
    cur = gpd.read_file(demo / "status.gpkg", layer="DLTB")
    farm = cur[cur["DLBM"].str.startswith("01")]
    assert len(farm) > 100
    assert farm.area.min() >= 5_000.0 and farm.area.max() <= 200_000.0
    assert farm["GDDB"].between(1, 15).all()
    village = cur[cur["DLBM"] == "0702"]
    assert village.area.between(20_000.0, 80_000.0).all()


def test_current_codes_are_real(demo: Path, real_data: Path) -> None:
    table = real_data.parents[1] / "reference" / "codes" / "gbt21010_2017.csv"
    codes = set(pd.read_csv(table, dtype=str)["code"])
    cur = gpd.read_file(demo / "status.gpkg", layer="DLTB")
    assert set(cur["DLBM"]) <= codes


def test_industrial_indicators_about_a_third_below(demo: Path) -> None:
    cur = gpd.read_file(demo / "status.gpkg", layer="DLTB")
    ind = cur[cur["DLBM"] == "0601"]
    assert ind["QYMC"].notna().all() and len(ind) > 20
    min_far = {}
    for codes, v in [
        ("13 14 15 16 18 19 24 30 40 41 42", 1.0),
        ("17 20 21 22 23 28 29", 0.8),
        ("27 31 34 35 36 37 39 43", 0.7),
        ("26 32 33", 0.6),
        ("25", 0.5),
    ]:
        min_far.update(dict.fromkeys(codes.split(), v))
    bad = ((ind["JZXS"] < 30) | (ind["XZBL"] > 7) | (ind["LDL"] > 20)
           | (ind["RJL"] < ind["HYDM"].map(min_far)))  # fmt: skip
    assert 0.25 < bad.mean() < 0.45


def test_roads_network(demo: Path) -> None:
    roads = gpd.read_file(demo / "roads.gpkg", layer="roads")
    assert roads.crs.to_epsg() == 4326
    g = nx.MultiDiGraph()
    for r in roads.itertuples():
        g.add_edge(r.u, r.v)
        if r.oneway != "yes":
            g.add_edge(r.v, r.u)
    assert nx.is_strongly_connected(g)
    m = roads.to_crs(4547)
    extent = m.total_bounds
    assert 40_000 < extent[2] - extent[0] < 70_000 and 40_000 < extent[3] - extent[1] < 70_000
    mw = m[(m["highway"] == "motorway") & (m["bridge"] == "yes")]
    other = m[~m["highway"].str.startswith("motorway")]
    crossings = [
        (a, b)
        for a in mw.itertuples()
        for b in other.itertuples()
        if a.geometry.crosses(b.geometry) and not {a.u, a.v} & {b.u, b.v}
    ]
    assert crossings, "expected a grade-separated crossing without a shared node"
    assert set(roads["highway"]) >= {"motorway", "trunk", "primary", "secondary", "tertiary"}


def test_truth_layers(demo: Path) -> None:
    for key in TRUTH_LAYERS:
        t = _t(demo, key)
        assert t.crs.to_epsg() == 4547, key
        assert {"truth_id", "source_code", "legend", "use"} <= set(t.columns), key
        assert t["truth_id"].is_unique, key
    cur = gpd.read_file(demo / "status.gpkg", layer="DLTB")
    assert list(cur["BSM"]) == list(_t(demo, "current")["truth_id"])


def test_conflicts_and_zones(truth: dict) -> None:
    c = truth["conflicts"]
    for t in ["farmland_construction", "ecology_construction", "plan_mismatch",
              "use_mismatch", "corridor_construction"]:  # fmt: skip
        assert c[t]["area_m2"] > 10_000.0 and c[t]["count"] > 0, t
    assert 200_000 <= c["farmland_construction"]["area_m2"] <= 600_000
    assert truth["slivers_dropped"]["count"] == 0
    z = truth["zones"]
    total = sum(z[k]["area_m2"] for k in ("built", "development", "control"))
    assert total == pytest.approx(truth["boundary_area_m2"], rel=1e-9)
    fb = truth["farmland_balance"]
    assert fb["out_m2"] == c["farmland_construction"]["area_m2"]
    assert fb["in_pool_m2"] > 0 and 1 <= fb["in_pool_mean_grade"] <= 15
    assert len(truth["notes"]) >= 5


def _constr(demo: Path, key: str) -> gpd.GeoDataFrame:
    t = _t(demo, key)
    t = t[(t["legend"] == "construction") & t.geom_type.isin(["Polygon", "MultiPolygon"])]
    return t[["use", "geometry"]]


def test_independent_overlay(demo: Path, truth: dict) -> None:
    """Re-compute two conflict types with geopandas.overlay instead of shapely unions."""
    b = _t(demo, "boundary")[["geometry"]]
    lu = _t(demo, "land_use")
    basic = lu.loc[lu["legend"] == "basic_farmland", ["geometry"]]
    constr = pd.concat([_constr(demo, k) for k in ["cluster", "urban", "land_use",
                                                   "infrastructure"]])  # fmt: skip
    hit = gpd.overlay(constr, basic, how="intersection", keep_geom_type=True)
    hit = gpd.overlay(hit, b, how="intersection", keep_geom_type=True)
    area = hit.dissolve().explode(index_parts=False)
    area = area[area.area >= 400.0].area.sum()
    assert area == pytest.approx(truth["conflicts"]["farmland_construction"]["area_m2"], rel=1e-6)

    pair = gpd.overlay(
        _constr(demo, "cluster"), _constr(demo, "urban"), how="intersection", keep_geom_type=True
    )
    pair = pair[pair["use_1"] != pair["use_2"]]
    pieces = gpd.overlay(pair[["geometry"]], b, how="intersection", keep_geom_type=True)
    pieces = pieces.dissolve()
    parts = pieces.explode(index_parts=False)
    parts = parts[parts.area >= 400.0]
    assert parts.area.sum() == pytest.approx(
        truth["conflicts"]["use_mismatch"]["area_m2"], rel=1e-6
    )
    assert len(parts) == truth["conflicts"]["use_mismatch"]["count"]


def test_deterministic(demo: Path, tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("stale", encoding="utf-8")
    again = write_demo_inputs(tmp_path, overwrite=True).parent
    assert not (again / "old.txt").exists()
    assert (again / "ground_truth.json").read_bytes() == (demo / "ground_truth.json").read_bytes()
    for key in TRUTH_LAYERS:
        a = _t(demo, key)
        b = gpd.read_file(again / "ground_truth.gpkg", layer=key)
        assert list(shapely.to_wkb(a.geometry.to_numpy())) == list(
            shapely.to_wkb(b.geometry.to_numpy())
        ), key
