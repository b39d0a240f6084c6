"""The bundled demo pilot end to end: loaders against the generator's ground truth (the oracle)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import fiveplans as fp
from fiveplans.demo import write_demo_inputs
from fiveplans.errors import CRSWarning

#: How the delivered features are matched to the truth (the field that carries `truth_id`).
MATCH = {
    "boundary": None,
    "cluster": "DKBH",
    "land_use": "BSM",
    "urban": "handle",
    "ecology": "id",
    "infrastructure": "id",
    "current": "BSM",
    "roads": "osmid",
    "centres": "name",
    "suppliers": "firm_id",
    "clusters": "name",
    "districts": "name",
}
#: Geometry tolerance (m): web-map offsets and CAD through control points get 0.5 m.
TOLERANCE = {"ecology": 0.5, "suppliers": 0.5, "urban": 0.5}
CHINESE = ["TDYTQMC", "XZQMC", "YDMC", "DLMC", "ZLDWMC", "QYMC", "name", "industry", "kind", "type"]


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_inputs(tmp_path_factory.mktemp("demo") / "inputs")


@pytest.fixture(scope="module")
def demo_pilot(demo_inputs: Path) -> tuple[fp.Pilot, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pilot = fp.load_pilot(demo_inputs)
    return pilot, caught


def _truth(demo_inputs: Path, key: str) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(demo_inputs.parent / "ground_truth.gpkg", layer=key)


def test_only_the_expected_warning(
    demo_pilot: tuple[fp.Pilot, list[warnings.WarningMessage]],
) -> None:
    pilot, caught = demo_pilot
    messages = [str(w.message) for w in caught]
    # the land-use Shapefile deliberately has no .prj: its CRS is detected and the datum assumed
    assert any(issubclass(w.category, CRSWarning) and "EPSG:4526" in str(w.message) for w in caught)
    assert all("land_use" in m for m in messages), messages
    assert pilot.crs.to_epsg() == 4547


@pytest.mark.parametrize("key", list(MATCH))
def test_layer_matches_ground_truth(
    demo_pilot: tuple[fp.Pilot, list[warnings.WarningMessage]], demo_inputs: Path, key: str
) -> None:
    pilot, _ = demo_pilot
    loaded = pilot.layers[key]
    truth = _truth(demo_inputs, key)
    assert len(loaded) == len(truth)
    field = MATCH[key]
    if field is None:
        left, right = loaded.reset_index(drop=True), truth.reset_index(drop=True)
    else:
        left = loaded.assign(_k=loaded[field].astype(str)).set_index("_k")
        right = truth.assign(_k=truth["truth_id"].astype(str)).set_index("_k")
        assert set(left.index) == set(right.index)
        right = right.loc[left.index]
    dist = shapely.hausdorff_distance(left.geometry.values, right.geometry.values)
    assert np.nanmax(dist) < TOLERANCE.get(key, 0.05), f"{key}: worst {np.nanmax(dist):.4f} m"
    for col in CHINESE:
        if col in left.columns and col in right.columns:
            assert left[col].astype(str).tolist() == right[col].astype(str).tolist(), col
    # the package's code tables agree with the generator's own legend mapping (land-use layers)
    if pilot.config.sources[key].scheme is not None:
        assert left["legend"].fillna("").tolist() == right["legend"].fillna("").tolist()
        assert left["use"].fillna("").tolist() == right["use"].fillna("").tolist()


def test_numeric_attributes_survive(
    demo_pilot: tuple[fp.Pilot, list[warnings.WarningMessage]], demo_inputs: Path
) -> None:
    pilot, _ = demo_pilot
    current = pilot.layers["current"].set_index("BSM").sort_index()
    truth = _truth(demo_inputs, "current").set_index("BSM").sort_index()
    for col in ("GDDB", "RJL", "JZXS", "LDL", "XZBL", "TZQD", "CCQD"):
        a = pd.to_numeric(current[col], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(truth[col], errors="coerce").to_numpy(dtype=float)
        assert np.allclose(a, b, equal_nan=True), col


def test_load_report_explains_each_decision(
    demo_pilot: tuple[fp.Pilot, list[warnings.WarningMessage]],
) -> None:
    pilot, _ = demo_pilot
    report = pilot.load_report().set_index("layer")
    assert report.at["land_use", "encoding"] == "GBK"
    assert "no .cpg" in report.at["land_use", "encoding_reason"]
    assert "4526" in report.at["land_use", "crs_used"]
    assert "GCJ02" in report.at["ecology", "crs_reason"]
    assert "BD09" in report.at["suppliers", "crs_reason"]
    assert report.at["suppliers", "encoding"] == "GBK"
    assert "Helmert" in report.at["urban", "crs_reason"]
    assert report.at["urban", "control_rms_m"] < 0.5


def test_cli_demo_end_to_end(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("fiveplans")
    out = tmp_path / "demo"
    result = subprocess.run(
        [str(exe), "demo", "--out", str(out), "-q"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for name in (
        "pilot.yml",
        "ground_truth.gpkg",
        "ground_truth.json",
        "tugui/TDYTQ.shp",
        "cluster.gdb",
        "urban/urban.dxf",
        "eco.geojson",
        "firms.csv",
    ):
        assert (out / "inputs" / name).exists(), name
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    truth = json.loads((out / "inputs" / "ground_truth.json").read_text(encoding="utf-8"))
    assert summary["boundary_area_m2"] == pytest.approx(truth["boundary_area_m2"], rel=1e-9)
    layers = set(pyogrio.list_layers(out / "integrated.gpkg")[:, 0])
    assert layers == set(MATCH)
    again = subprocess.run([str(exe), "demo", "--out", str(out)], capture_output=True, text=True)
    assert again.returncode == 2 and "--overwrite" in again.stderr
