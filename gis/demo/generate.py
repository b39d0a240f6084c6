"""Write the bundled demo pilot (叶县示范产业集聚区) and its ground truth.

The pilot is synthetic but shaped like a real delivery: the cluster plan in a FileGDB, the old
land-use plan as a GBK shapefile with zone-prefixed Gauss-Kruger eastings and no ``.prj``, the
urban plan as a DXF in a local city grid with control points, the ecology plan in GCJ-02, the
infrastructure plan in CGCS2000 lon/lat, the suppliers in BD-09 in a GBK CSV, roads as an
osmnx-like WGS84 edge table. ``ground_truth.gpkg`` holds every feature as planted (EPSG:4547,
before any delivery transform or noise) and ``ground_truth.json`` the expected figures,
computed from those geometries with plain shapely (:mod:`fiveplans.demo._truth`).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import pathlib
import shutil
import tempfile
from typing import Any

import ezdxf
import geopandas as gpd
import numpy as np
import shapely
from ezdxf import const as dxfconst
from pyproj import Transformer

from fiveplans.coords import wgs84_to_bd09, wgs84_to_gcj02
from fiveplans.demo import _truth
from fiveplans.demo._layers import build_layers
from fiveplans.demo._plant import WORK_CRS, plant
from fiveplans.demo._roads import build_network
from fiveplans.errors import ConfigError

__all__ = ["PILOT_YAML", "SLIVER_M2", "URBAN_GRID", "build_truth", "write_demo_inputs"]

log = logging.getLogger(__name__)

SLIVER_M2 = 400.0

URBAN_GRID: dict[str, float] = {
    "x0": 440_000.0,
    "y0": 3_720_000.0,
    "local_x0": 52_000.0,
    "local_y0": 31_000.0,
    "rotation_deg": 1.7,
    "scale": 1.000021,
}
"""叶县城建坐标系: local = scale * R(rotation) * ((x, y) - (x0, y0)) + (local_x0, local_y0)."""

PILOT_YAML = """\
name: 叶县示范产业集聚区
id: demo
crs: EPSG:4547
boundary: boundary.gpkg
plans:
  cluster: {path: cluster.gdb, layer: YDGH, field: YDDM, scheme: gb50137, id: DKBH}
  land_use: {path: tugui/TDYTQ.shp, field: TDYTQLXDM, scheme: tdytq, id: BSM}
  urban: {path: urban/urban.dxf, field: Layer, scheme: gb50137, control_points: urban/urban_cp.csv, crs: EPSG:4547}
  ecology: {path: eco.geojson, crs: gcj02, field: type, scheme: ecology}
  infrastructure: {path: infra.gpkg, layer: [corridor, facility], field: kind, scheme: infrastructure}
current: {path: status.gpkg, layer: DLTB, field: DLBM, scheme: gbt21010}
roads: {path: roads.gpkg, field: highway}
centres: {path: centres.csv, x: lon, y: lat, crs: EPSG:4490, id: name}
suppliers: {path: firms.csv, x: lon, y: lat, crs: bd09, id: firm_id}
clusters: {path: cores.gpkg, id: name, industry: industry}
districts: {path: towns.gpkg, id: name}
logistics: {radius_min: 60, speeds_kmh: {motorway: 100, trunk: 80, primary: 60, secondary: 50, tertiary: 40, default: 30}}
thresholds: {sliver_m2: 400}
"""

_TRUTH_KEYS = (
    "boundary", "cluster", "land_use", "urban", "ecology", "infrastructure", "current",
    "roads", "centres", "suppliers", "clusters", "districts",
)  # fmt: skip
_LEGEND_COLS = ["truth_id", "truth_row", "source_code", "legend", "use"]


def write_demo_inputs(out_dir: str | os.PathLike[str], *, overwrite: bool = False) -> pathlib.Path:
    """Write the demo pilot's inputs into out_dir; return the path of out_dir/pilot.yml.

    Parameters
    ----------
    out_dir
        Target folder. It is built in a temporary sibling folder and renamed into place.
    overwrite
        Replace an existing non-empty ``out_dir``.

    Returns
    -------
    pathlib.Path
        ``out_dir / "pilot.yml"``.

    Raises
    ------
    ConfigError
        ``out_dir`` exists and is not empty (and ``overwrite`` is false), or is a file.
    """
    out = pathlib.Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"demo output {out} is a file, not a folder: choose another --out path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(
            f"demo output folder {out} is not empty: pass overwrite=True (--overwrite) "
            "or choose an empty folder"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
        _write_all(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("demo pilot written to %s", out)
    return out / "pilot.yml"


def build_truth() -> tuple[dict[str, gpd.GeoDataFrame], dict[str, Any]]:
    """The planted layers (EPSG:4547) and the oracle's figures, without writing anything."""
    p = plant()
    net = build_network(p)  # sets the motorway used by the infrastructure plan
    layers = build_layers(p)
    layers.update(net)
    truth = _truth.compute_truth(layers, sliver_m2=SLIVER_M2)
    truth["_plant"] = p
    return layers, truth


# --------------------------------------------------------------------------- writers


def _write_all(d: pathlib.Path) -> None:
    layers, truth = build_truth()
    p = truth.pop("_plant")
    rows: dict[str, np.ndarray] = {}

    b = layers["boundary"]
    b[["name", "geometry"]].to_file(d / "boundary.gpkg", layer="boundary", engine="pyogrio")

    _write_tugui(layers["land_use"], d / "tugui")
    cl = layers["cluster"]
    cl[["DKBH", "YDDM", "YDMC", "RJL", "geometry"]].to_file(
        d / "cluster.gdb", layer="YDGH", driver="OpenFileGDB", engine="pyogrio"
    )
    _write_urban(layers, p, d / "urban")
    _write_eco(layers["ecology"], d / "eco.geojson")
    rows["infrastructure"] = _write_infra(layers["infrastructure"], d / "infra.gpkg")
    cur = layers["current"]
    cur_cols = ["BSM", "DLBM", "DLMC", "ZLDWMC", "GDDB", "QYMC", "HYDM", "RJL", "JZXS", "LDL",
                "XZBL", "TZQD", "CCQD"]  # fmt: skip
    cur[[*cur_cols, "geometry"]].to_file(d / "status.gpkg", layer="DLTB", engine="pyogrio")
    roads = layers["roads"]
    road_cols = ["osmid", "u", "v", "key", "highway", "name", "oneway", "bridge", "layer", "length"]
    roads[[*road_cols, "geometry"]].to_crs("EPSG:4326").to_file(
        d / "roads.gpkg", layer="roads", engine="pyogrio"
    )
    _write_points_csv(layers["centres"], d / "centres.csv", ["name", "level"], "utf-8", "cgcs")
    _write_points_csv(
        layers["suppliers"], d / "firms.csv", ["firm_id", "name", "industry"], "gbk", "bd09"
    )
    layers["clusters"][["name", "industry", "geometry"]].to_file(
        d / "cores.gpkg", layer="cores", engine="pyogrio"
    )
    layers["districts"][["name", "code", "geometry"]].to_file(
        d / "towns.gpkg", layer="towns", engine="pyogrio"
    )
    (d / "pilot.yml").write_text(PILOT_YAML, encoding="utf-8")
    _write_truth(layers, truth, rows, d)


def _write_tugui(gdf: gpd.GeoDataFrame, folder: pathlib.Path) -> None:
    """GBK shapefile, zone-prefixed eastings (EPSG:4526 style), no .cpg and no .prj."""
    folder.mkdir()
    shp = gdf[["BSM", "TDYTQLXDM", "TDYTQMC", "XZQMC", "MJ", "geometry"]].copy()
    shp["geometry"] = shapely.transform(
        shp.geometry.to_numpy(), lambda c: c + np.array([38_000_000.0, 0.0])
    )
    shp = gpd.GeoDataFrame(shp, geometry="geometry", crs=None)
    shp.to_file(folder / "TDYTQ.shp", encoding="GBK", engine="pyogrio")
    for ext in (".cpg", ".prj", ".CPG", ".PRJ"):
        (folder / f"TDYTQ{ext}").unlink(missing_ok=True)


def urban_to_local(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:4547 to the local city grid (叶县城建坐标系) of the demo's urban plan."""
    g = URBAN_GRID
    a = math.radians(g["rotation_deg"])
    dx = np.asarray(x, dtype="float64") - g["x0"]
    dy = np.asarray(y, dtype="float64") - g["y0"]
    s = g["scale"]
    return (
        g["local_x0"] + s * (math.cos(a) * dx - math.sin(a) * dy),
        g["local_y0"] + s * (math.sin(a) * dx + math.cos(a) * dy),
    )


def _local_ring(ring: Any) -> list[tuple[float, float]]:
    c = np.asarray(ring.coords)[:-1]
    lx, ly = urban_to_local(c[:, 0], c[:, 1])
    return [(float(a), float(b)) for a, b in zip(lx, ly, strict=True)]


def _write_urban(layers: dict[str, gpd.GeoDataFrame], p: Any, folder: pathlib.Path) -> None:
    """DXF R2010 in the local grid: closed LWPOLYLINEs, some HATCHes, TEXT labels; plus the
    control points. Sets the urban layer's ``truth_id`` to the entity handles."""
    folder.mkdir()
    ur = layers["urban"]
    doc = ezdxf.new("R2010")
    msp = doc.modelspace()
    for code in sorted(set(ur["Layer"])):
        doc.layers.add(code)
    doc.layers.add("注记")
    handles = []
    for k, row in enumerate(ur.itertuples(index=False)):
        g = row.geometry
        attribs = {"layer": row.Layer}
        if len(g.interiors) or k % 5 == 2:
            e = msp.add_hatch(color=7, dxfattribs=attribs)
            e.paths.add_polyline_path(
                _local_ring(g.exterior), is_closed=True, flags=dxfconst.BOUNDARY_PATH_EXTERNAL
            )
            for hole in g.interiors:
                e.paths.add_polyline_path(_local_ring(hole), is_closed=True)
        else:
            e = msp.add_lwpolyline(_local_ring(g.exterior), close=True, dxfattribs=attribs)
        handles.append(e.dxf.handle)
        if g.area > 60_000:
            rp = g.representative_point()
            lx, ly = urban_to_local(rp.x, rp.y)
            t = msp.add_text(f"{row.Layer} {row.YDMC}", height=25.0, dxfattribs={"layer": "注记"})
            t.set_placement((float(lx), float(ly)))
    doc.saveas(folder / "urban.dxf")
    ur["truth_id"] = handles

    # control points: well spread over the central city; surveyed x/y carry 1-3 cm noise
    rng = np.random.default_rng(97)
    x0, y0, x1, y1 = ur.total_bounds
    fx = [0.05, 0.5, 0.95, 0.05, 0.5, 0.95, 0.3, 0.7]
    fy = [0.05, 0.1, 0.05, 0.95, 0.9, 0.95, 0.5, 0.5]
    with open(folder / "urban_cp.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["point_id", "local_x", "local_y", "x", "y"])
        for n, (a, b) in enumerate(zip(fx, fy, strict=True)):
            x = round(x0 + a * (x1 - x0), 1)
            y = round(y0 + b * (y1 - y0), 1)
            lx, ly = urban_to_local(x, y)
            r = float(rng.uniform(0.01, 0.03))
            t = float(rng.uniform(0, 2 * math.pi))
            w.writerow([f"KZ{n + 1:02d}", f"{float(lx):.3f}", f"{float(ly):.3f}",
                        f"{x + r * math.cos(t):.3f}", f"{y + r * math.sin(t):.3f}"])  # fmt: skip


def _to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tr = Transformer.from_crs(WORK_CRS, "EPSG:4490", always_xy=True)
    lon, lat = tr.transform(x, y)
    return np.asarray(lon), np.asarray(lat)


def _gcj_ring(ring: Any) -> list[list[float]]:
    c = np.asarray(ring.coords)
    lon, lat = _to_lonlat(c[:, 0], c[:, 1])
    glon, glat = wgs84_to_gcj02(lon, lat)
    return [[round(float(a), 7), round(float(b), 7)] for a, b in zip(glon, glat, strict=True)]


def _write_eco(eco: gpd.GeoDataFrame, path: pathlib.Path) -> None:
    """GeoJSON in GCJ-02 lon/lat (7 decimals), no crs member: what Amap-based tools export."""
    feats = []
    for row in eco.itertuples(index=False):
        g = row.geometry
        rings = [_gcj_ring(g.exterior), *[_gcj_ring(h) for h in g.interiors]]
        feats.append({
            "type": "Feature",
            "properties": {"id": row.id, "type": row.type, "name": row.name},
            "geometry": {"type": "Polygon", "coordinates": rings},
        })  # fmt: skip
    doc = {"type": "FeatureCollection", "name": "eco", "features": feats}
    path.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_infra(inf: gpd.GeoDataFrame, path: pathlib.Path) -> np.ndarray:
    rows = np.zeros(len(inf), dtype="int64")
    for layer in ("corridor", "facility"):
        mask = (inf["layer"] == layer).to_numpy()
        rows[mask] = np.arange(int(mask.sum()))
        sub = inf.loc[mask, ["id", "kind", "name", "geometry"]].to_crs("EPSG:4490")
        sub.to_file(path, layer=layer, engine="pyogrio")
    return rows


def _write_points_csv(
    gdf: gpd.GeoDataFrame, path: pathlib.Path, cols: list[str], encoding: str, kind: str
) -> None:
    lon, lat = _to_lonlat(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy())
    if kind == "bd09":
        lon, lat = wgs84_to_bd09(lon, lat)
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n" if encoding == "gbk" else "\n")
        w.writerow([*cols, "lon", "lat"])
        for k, row in enumerate(gdf[cols].itertuples(index=False)):
            w.writerow([*row, f"{float(lon[k]):.7f}", f"{float(lat[k]):.7f}"])


def _write_truth(
    layers: dict[str, gpd.GeoDataFrame],
    truth: dict[str, Any],
    rows: dict[str, np.ndarray],
    d: pathlib.Path,
) -> None:
    path = d / "ground_truth.gpkg"
    counts = {}
    for key in _TRUTH_KEYS:
        gdf = layers[key].copy()
        gdf["truth_row"] = rows.get(key, np.arange(len(gdf)))
        gdf["truth_id"] = gdf["truth_id"].astype(str) if key == "urban" else gdf["truth_id"]
        extra = [c for c in gdf.columns if c not in (*_LEGEND_COLS, "geometry")]
        gdf = gdf[[*_LEGEND_COLS, *extra, "geometry"]]
        gdf.to_file(path, layer=key, engine="pyogrio")
        counts[key] = len(gdf)
    conf = [
        {"type": t, "area_m2": g.area, "geometry": g}
        for t in _truth.CONFLICT_TYPES
        for g in truth["pieces"][t]
    ]
    gpd.GeoDataFrame(conf, geometry="geometry", crs=WORK_CRS).to_file(
        path, layer="expected_conflicts", engine="pyogrio", promote_to_multi=True
    )
    zones = [{"zone": z, "area_m2": g.area, "geometry": g} for z, g in truth["zone_geoms"].items()]
    gpd.GeoDataFrame(zones, geometry="geometry", crs=WORK_CRS).to_file(
        path, layer="expected_zones", engine="pyogrio", promote_to_multi=True
    )
    doc = {
        "pilot": "demo",
        "name": "叶县示范产业集聚区",
        "crs": WORK_CRS,
        "boundary_area_m2": truth["boundary_area_m2"],
        "counts": counts,
        "conflicts": truth["conflicts"],
        "slivers_dropped": truth["slivers_dropped"],
        "zones": truth["zones"],
        "farmland_balance": truth["farmland_balance"],
        "notes": _notes(layers, truth),
    }
    (d / "ground_truth.json").write_text(
        json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


def _notes(layers: dict[str, gpd.GeoDataFrame], truth: dict[str, Any]) -> list[str]:
    c = truth["conflicts"]

    def ha(t: str) -> str:
        return f"{c[t]['area_m2'] / 1e4:.2f} ha in {c[t]['count']} pieces"

    return [
        "farmland_construction: the cluster plan zones three whole blocks (食品加工 south-west, "
        "装备制造 north, 物流 east lobe) for industry/logistics where the land-use plan keeps "
        "basic farmland (010); the infrastructure plan's north bus depot (GJZ) sits on basic "
        "farmland north of the river; " + ha("farmland_construction"),
        "ecology_construction: the cluster and urban plans extend one industrial parcel into the "
        "river's 200 m red line at the meander; the infrastructure plan puts the waste-water "
        "plant (WSCLC) inside the red line on the north bank; " + ha("ecology_construction"),
        "plan_mismatch: the three farmland blocks and the red-line parcel (cluster/urban "
        "construction, not land-use construction), one north-lobe block that the urban plan "
        "alone zones M1, and one north-lobe block that only the land-use plan zones 030; "
        + ha("plan_mismatch"),
        "use_mismatch: three blocks where cluster and urban plans disagree on use (B1 vs R2 by "
        "the county seat, M1 vs W1 in the south-west, W1 vs M2 in the east); " + ha("use_mismatch"),
        "corridor_construction: the 220 kV line (40 m corridor) crosses planned industrial "
        "blocks from the south-east to the zone's 220 kV substation; "
        + ha("corridor_construction"),
        f"slivers dropped: {truth['slivers_dropped']['count']} (layers share edges exactly)",
    ]
