"""Provenance (CONTRACT §5): versions, config and input hashes, timing."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import pytest
import yaml
from shapely.geometry import box
from tinypilot import write_tiny_pilot

import fiveplans
from fiveplans.config import read_config
from fiveplans.provenance import config_sha256, file_sha256, input_files, provenance


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shp_pilot(tmp_path: Path) -> Path:
    yml = write_tiny_pilot(tmp_path)
    gdf = gpd.read_file(tmp_path / "tugui.gpkg")
    (tmp_path / "tugui").mkdir()
    gdf.to_file(tmp_path / "tugui" / "TDYTQ.shp", encoding="GBK")
    (tmp_path / "tugui" / "TDYTQ.cpg").write_text("GBK", encoding="ascii")
    doc = yaml.safe_load(yml.read_text(encoding="utf-8"))
    doc["plans"]["land_use"]["path"] = "tugui/TDYTQ.shp"
    yml.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return yml


def test_shapefile_sidecars_are_hashed(tmp_path: Path) -> None:
    cfg = read_config(_shp_pilot(tmp_path))
    files = input_files(cfg)
    folder = tmp_path / "tugui"
    for key, name in [
        ("land_use", "TDYTQ.shp"),
        ("land_use.dbf", "TDYTQ.dbf"),
        ("land_use.shx", "TDYTQ.shx"),
        ("land_use.prj", "TDYTQ.prj"),
        ("land_use.cpg", "TDYTQ.cpg"),
    ]:
        assert files[key] == {"path": str(folder / name), "sha256": _sha(folder / name)}
    assert files["boundary"]["sha256"] == _sha(tmp_path / "boundary.gpkg")
    assert files["cluster"]["sha256"] == _sha(tmp_path / "cluster.gpkg")
    # the digests are those of sha256sum, so a reader can check them by hand
    out = subprocess.run(
        ["sha256sum", str(folder / "TDYTQ.dbf")], capture_output=True, text=True, check=True
    )
    assert out.stdout.split()[0] == files["land_use.dbf"]["sha256"]


def test_a_changed_sidecar_changes_the_inputs(tmp_path: Path) -> None:
    cfg = read_config(_shp_pilot(tmp_path))
    before = input_files(cfg)
    (tmp_path / "tugui" / "TDYTQ.cpg").write_text("UTF-8", encoding="ascii")
    after = input_files(cfg)
    assert before["land_use.cpg"] != after["land_use.cpg"]
    assert before["land_use"] == after["land_use"]


def test_filegdb_folder_hashed_over_its_files(tmp_path: Path) -> None:
    yml = write_tiny_pilot(tmp_path)
    gdf = gpd.read_file(tmp_path / "cluster.gpkg")
    gdb = tmp_path / "cluster.gdb"
    gdf.to_file(gdb, layer="YDGH", driver="OpenFileGDB")
    doc = yaml.safe_load(yml.read_text(encoding="utf-8"))
    doc["plans"]["cluster"].update(path="cluster.gdb", layer="YDGH")
    yml.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    cfg = read_config(yml)
    first = input_files(cfg)["cluster"]
    assert first["path"] == str(gdb) and len(first["sha256"]) == 64
    # an ArcGIS lock file does not change the data
    (gdb / "a00000001.sr.lock").write_bytes(b"lock")
    assert input_files(cfg)["cluster"] == first
    # any changed table file does
    table = sorted(gdb.glob("*.gdbtable"))[-1]
    table.write_bytes(table.read_bytes() + b"\0")
    assert input_files(cfg)["cluster"]["sha256"] != first["sha256"]


def test_postgis_source_recorded_by_url_without_password(tmp_path: Path) -> None:
    yml = write_tiny_pilot(
        tmp_path,
        current={
            "path": "postgresql://planner:s3cret@db.example:5432/henan",
            "layer": "public.dltb",
            "field": "DLBM",
            "scheme": "gbt21010",
        },
    )
    files = input_files(read_config(yml))
    assert files["current"]["sha256"] is None
    assert "s3cret" not in files["current"]["path"]
    assert files["current"]["path"].startswith("postgresql://planner@db.example:5432/henan")
    assert "public.dltb" in files["current"]["path"]


def test_cad_control_points_and_ledger(tmp_path: Path) -> None:
    cp = tmp_path / "urban_cp.csv"
    cp.write_text("x,y,X,Y\n0,0,1,1\n", encoding="utf-8")
    ledger = tmp_path / "ledger.xlsx"
    ledger.write_bytes(b"not really xlsx, only hashed")
    x0, y0 = 440_000.0, 3_722_000.0
    gpd.GeoDataFrame(
        {"Layer": ["M1"]}, geometry=[box(x0, y0, x0 + 10, y0 + 10)], crs="EPSG:4547"
    ).to_file(tmp_path / "urban.gpkg")
    yml = write_tiny_pilot(tmp_path, ledger="ledger.xlsx")
    doc = yaml.safe_load(yml.read_text(encoding="utf-8"))
    doc["plans"]["urban"] = {
        "path": "urban.gpkg",
        "field": "Layer",
        "scheme": "gb50137",
        "control_points": "urban_cp.csv",
    }
    yml.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    files = input_files(read_config(yml))
    assert files["urban.control_points"]["sha256"] == _sha(cp)
    assert files["ledger"]["sha256"] == _sha(ledger)


def test_large_file_hashed_in_chunks(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    block = bytes(range(256)) * 4096  # 1 MiB
    with big.open("wb") as f:
        for i in range(5):
            f.write(block[i:] + block[:i])
        f.write(b"tail")
    assert file_sha256(big) == _sha(big)


def test_provenance_block(tmp_path: Path) -> None:
    yml = write_tiny_pilot(tmp_path)
    cfg = read_config(yml)
    started = datetime(2026, 3, 1, 8, 30, 5, tzinfo=timezone.utc)
    prov = provenance(cfg, started=started, seconds=12.34567)
    assert set(prov) == {
        "fiveplans",
        "python",
        "libraries",
        "config_sha256",
        "inputs",
        "started",
        "seconds",
    }
    assert prov["fiveplans"] == fiveplans.__version__
    assert prov["python"] == platform.python_version()
    libs = prov["libraries"]
    for name in ("geopandas", "shapely", "pyproj", "pyogrio", "networkx", "numpy", "pandas"):
        assert libs[name] and libs[name][0].isdigit()
    for name in ("GDAL", "GEOS", "PROJ"):
        assert libs[name][0].isdigit()
    assert prov["config_sha256"] == _sha(yml) == config_sha256(cfg)
    assert prov["inputs"] == input_files(cfg)
    assert prov["started"] == "2026-03-01T08:30:05+00:00"
    assert datetime.fromisoformat(prov["started"]) == started
    assert prov["seconds"] == pytest.approx(12.346)
    json.dumps(prov)  # JSON-serialisable as summary.json needs


def test_naive_start_gets_an_offset(tmp_path: Path) -> None:
    cfg = read_config(write_tiny_pilot(tmp_path))
    prov = provenance(cfg, started=datetime(2026, 3, 1, 8, 30), seconds=0)
    assert datetime.fromisoformat(prov["started"]).tzinfo is not None
