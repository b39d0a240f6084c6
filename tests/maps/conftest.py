"""Fixtures of the map tests: the demo pilot analysed once, a browser, a folder for screenshots."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pytest
from shapely.geometry import box

import fiveplans as fp
from fiveplans.errors import StageSkipped
from fiveplans.maps.browser import Chromium, find_chromium

REPO = Path(__file__).resolve().parents[2]
XSS_IMG = '<img src=x onerror="window.__xss=(window.__xss||0)+1">'
XSS_SCRIPT = "<script>window.__xss=(window.__xss||0)+1</script>"
XSS_BRACES = "{{ 7*7 }}{% raw %}"


@pytest.fixture(scope="session")
def map_artifacts() -> Path:
    """Where screenshots and maps are kept for a person to look at after the run.

    ``$FIVEPLANS_TEST_ARTIFACTS`` or ``out/test-artifacts/maps`` in the repository.
    """
    folder = (
        Path(os.environ.get("FIVEPLANS_TEST_ARTIFACTS", REPO / "out" / "test-artifacts")) / "maps"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def demo_analysis(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The demo pilot, loaded and analysed (conflicts, patches, ledger, zones, logistics)."""
    from fiveplans import pipeline
    from fiveplans.demo import write_demo_inputs

    inputs = write_demo_inputs(tmp_path_factory.mktemp("mapdemo") / "inputs")
    # The demo's loader and analysis warnings are the pipeline tests' business; here they are
    # expected and filtered.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pilot = fp.load_pilot(inputs)
        analysis = pipeline.analyse(pilot)
        logistics = pipeline.logistics(pilot)
    return SimpleNamespace(
        pilot=pilot,
        conflicts=analysis.conflicts,
        patches=analysis.patches,
        ledger=analysis.ledger,
        zones=analysis.zones,
        logistics=logistics,
    )


@pytest.fixture(scope="session")
def browser() -> Chromium:
    """Headless Chromium (network off). Skips when missing — fails under CI (env ``CI``)."""
    if find_chromium() is None:
        message = "Chromium not found: scripts/install-system-deps.sh chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with Chromium() as chromium:
        yield chromium


def xss_pilot() -> SimpleNamespace:
    """A tiny pilot whose name, ids, codes, district and cluster names are markup probes."""
    x0, y0 = 440_000.0, 3_722_000.0

    def frame(rows: list[dict], geoms: list) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4547")

    layers = {
        "boundary": frame(
            [{"source_id": "B", "source_code": "", "legend": "other", "use": None}],
            [box(x0, y0, x0 + 1000, y0 + 1000)],
        ),
        "land_use": frame(
            [
                {
                    "source_id": XSS_IMG,
                    "source_code": XSS_SCRIPT,
                    "legend": "basic_farmland",
                    "use": None,
                },
                {
                    "source_id": "L2",
                    "source_code": "030",
                    "legend": "construction",
                    "use": "residential",
                },
            ],
            [box(x0, y0, x0 + 500, y0 + 1000), box(x0 + 500, y0, x0 + 1000, y0 + 1000)],
        ),
        "cluster": frame(
            [
                {
                    "source_id": XSS_SCRIPT,
                    "source_code": XSS_BRACES,
                    "legend": "construction",
                    "use": "industrial",
                }
            ],
            [box(x0 + 250, y0 + 100, x0 + 750, y0 + 900)],
        ),
        "clusters": frame(
            [
                {
                    "source_id": XSS_IMG,
                    "source_code": "",
                    "legend": "other",
                    "use": None,
                    "industry": XSS_SCRIPT,
                }
            ],
            [box(x0 + 400, y0 + 400, x0 + 420, y0 + 420).centroid],
        ),
    }
    with warnings.catch_warnings():  # stages without their optional plans are skipped, as expected
        warnings.simplefilter("ignore", StageSkipped)
        conflicts = fp.analysis.find_conflicts(layers, sliver_m2=0)
    assert len(conflicts), "the probe pilot must have conflicts"
    conflicts["district"] = XSS_IMG + XSS_BRACES
    return SimpleNamespace(
        name=XSS_SCRIPT + XSS_IMG,
        layers=layers,
        crs=layers["boundary"].crs,
        conflicts=conflicts,
        probes=SimpleNamespace(img=XSS_IMG, script=XSS_SCRIPT, braces=XSS_BRACES),
    )


@pytest.fixture
def xss() -> SimpleNamespace:
    return xss_pilot()


@pytest.fixture
def need() -> object:
    """``need("pdffonts")``: the tool's path; skips when missing — fails under CI."""

    def check(tool: str) -> str:
        path = shutil.which(tool)
        if path is None:
            message = f"{tool} not found: scripts/install-system-deps.sh"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        return path

    return check
