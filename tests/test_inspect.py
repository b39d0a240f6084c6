"""``fiveplans inspect``: on every demo input, the report and the entry it suggests.

The test that matters: a pilot written only from ``inspect --yaml`` entries loads.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import fiveplans as fp
from fiveplans.cli import cli
from fiveplans.config import SOURCE_KEYS
from fiveplans.demo import write_demo_inputs
from fiveplans.errors import FiveplansWarning
from fiveplans.inspect import inspect_path

DEMO_FILES = [
    "boundary.gpkg",
    "cluster.gdb",
    "tugui/TDYTQ.shp",
    "urban/urban.dxf",
    "eco.geojson",
    "infra.gpkg",
    "status.gpkg",
    "roads.gpkg",
    "centres.csv",
    "firms.csv",
    "cores.gpkg",
    "towns.gpkg",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_inputs(tmp_path_factory.mktemp("demo") / "inputs").parent


@pytest.mark.parametrize("name", DEMO_FILES)
def test_every_demo_input_is_described(demo: Path, name: str) -> None:
    report = inspect_path(demo / name)
    assert report.readable, report.error
    text = report.to_text()
    assert "declared" not in text  # "file CRS" and "pilot crs:" only: one meaning each
    assert "文件坐标系 file CRS" in text
    assert "建议 suggested" in text
    if not name.endswith(".dxf"):
        for info in report.layers:
            assert info.lonlat is not None, info.name
            lon0, lat0, lon1, lat1 = info.lonlat
            assert 113.0 < lon0 < lon1 < 113.8 and 33.3 < lat0 < lat1 < 34.0  # Ye County


def test_filegdb_file_crs_agrees_with_the_detected_one(demo: Path) -> None:
    info = inspect_path(demo / "cluster.gdb").layers[0]
    assert info.crs_file.startswith("EPSG:4547")
    assert info.crs_detected.startswith("EPSG:4547")
    assert "undetermined" not in info.crs_detected
    assert info.crs_agree is True


def test_field_values_and_scheme_share(demo: Path) -> None:
    info = inspect_path(demo / "cluster.gdb").layers[0]
    fields = {f.name: f for f in info.field_info}
    assert fields["YDDM"].scheme == "gb50137" and fields["YDDM"].share == 1.0
    assert len(fields["YDDM"].top) == 10
    assert fields["YDDM"].top[0][1] >= fields["YDDM"].top[-1][1]  # most frequent first
    # the name field is recognised too, but the code field is suggested
    assert fields["YDMC"].scheme == "gb50137"
    assert (info.suggested_field, info.suggested_scheme) == ("YDDM", "gb50137")
    assert inspect_path(demo / "tugui/TDYTQ.shp").layers[0].suggested_scheme == "tdytq"
    assert inspect_path(demo / "status.gpkg").layers[0].suggested_field == "DLBM"


def test_dxf_one_line_per_layer_with_used_and_ignored(demo: Path) -> None:
    report = inspect_path(demo / "urban/urban.dxf")
    text = report.to_text()
    names = [info.name for info in report.layers]
    assert len(names) == len(set(names)) == 18
    for name in names:
        assert sum(line.startswith(f"- {name}:") for line in text.splitlines()) == 1
    note = next(info for info in report.layers if info.name == "注记")
    assert "text 注记" in note.ignored and not note.used
    m2 = next(info for info in report.layers if info.name == "M2")
    assert "closed polylines" in m2.used and "hatches" in m2.used
    entry = report.layers[0].entry
    assert entry["field"] == "Layer" and entry["scheme"] == "gb50137"
    assert entry["control_points"] == (demo / "urban/urban_cp.csv").as_posix()


def test_yaml_entries_pasted_into_a_pilot_load(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A planner runs `inspect --yaml` in the pilot's folder and pastes the entries."""
    inputs = demo
    monkeypatch.chdir(inputs)
    runner = CliRunner()
    entries: dict[str, dict] = {}
    for name in DEMO_FILES:
        result = runner.invoke(cli, ["inspect", "--yaml", name])
        assert result.exit_code == 0, result.output
        doc = yaml.safe_load(result.output)  # comments and all: it is valid YAML
        assert isinstance(doc, dict) and len(doc) == 1, result.output
        [(key, entry)] = doc.items()
        assert key in SOURCE_KEYS, key
        assert entry["path"] == name
        entries[name] = entry
    # the planner chooses the keys the entries cannot know (cluster vs urban, centres)
    pilot = {
        "name": "从 inspect 写的试点",
        "boundary": entries["boundary.gpkg"],
        "plans": {
            "cluster": entries["cluster.gdb"],
            "land_use": entries["tugui/TDYTQ.shp"],
            "urban": entries["urban/urban.dxf"],
            "ecology": {**entries["eco.geojson"], "crs": "gcj02"},  # the web-map hint
            "infrastructure": entries["infra.gpkg"],
        },
        "current": entries["status.gpkg"],
        "roads": entries["roads.gpkg"],
        "centres": entries["centres.csv"],
        "suppliers": {**entries["firms.csv"], "crs": "bd09"},
        "clusters": entries["cores.gpkg"],
        "districts": {**entries["towns.gpkg"], "id": "name"},
    }
    path = inputs / "from_inspect.yml"
    path.write_text(yaml.safe_dump(pilot, allow_unicode=True), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FiveplansWarning)
        loaded = fp.load_pilot(path)
    assert set(loaded.layers) >= {"cluster", "land_use", "urban", "ecology", "infrastructure"}
    assert len(loaded.layers["cluster"]) == 969
    assert set(loaded.layers["urban"]["legend"]) >= {"construction"}


def test_unreadable_file_exits_1(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"\x00garbage")
    result = CliRunner().invoke(cli, ["inspect", "--yaml", str(junk)])
    assert result.exit_code == 1
    assert "not readable" in result.output


def test_real_files(real_data: Path) -> None:
    """Public data as delivered: a GCJ-02 GeoPackage of admin areas and an OSM extract."""
    admin = inspect_path(real_data / "henan" / "admin_amap_gcj02.gpkg")
    assert admin.readable and len(admin.layers) == 3
    for info in admin.layers:
        assert info.crs_file.startswith("EPSG:4326") and info.crs_agree is True
        assert info.lonlat is not None and 110 < info.lonlat[0] < info.lonlat[2] < 117
        assert "gcj02" in info.why  # the web-map hint for lon/lat layers
    places = inspect_path(real_data / "henan" / "henan_places_geonames.csv").layers[0]
    assert places.entry["x"] == "longitude" and places.entry["y"] == "latitude"
    assert "scheme" not in places.entry  # one province code repeated is not a land-use field
    osm = inspect_path(real_data / "roads" / "shanghai_jingan.osm")
    assert osm.readable and osm.layers[0].entry == {"field": "highway"}
    assert osm.layers[0].key == "roads"
    highway = next(f for f in osm.layers[0].field_info if f.name == "highway")
    assert highway.top and highway.top[0][1] >= highway.top[-1][1]


def test_dxf_open_polylines_and_text_are_named_and_left_out(tmp_path: Path) -> None:
    import ezdxf

    doc = ezdxf.new("R2010")
    msp = doc.modelspace()
    square = [(0, 0), (100, 0), (100, 100), (0, 100)]
    msp.add_lwpolyline(square, close=True, dxfattribs={"layer": "M1"})
    msp.add_lwpolyline([(200, 0), (300, 0), (300, 100)], dxfattribs={"layer": "R2"})
    msp.add_lwpolyline([(x + 200, y) for x, y in square], close=True, dxfattribs={"layer": "R2"})
    msp.add_text("一类工业", dxfattribs={"layer": "注记"})
    path = tmp_path / "plan.dxf"
    doc.saveas(path)
    report = inspect_path(path)
    assert report.readable, report.error
    by_name = {info.name: info for info in report.layers}
    assert "1 open polylines" in by_name["R2"].ignored and "1 closed" in by_name["R2"].used
    assert "1 text 注记" in by_name["注记"].ignored
    entry = report.layers[0].entry
    assert entry["layer"] == ["M1"]  # R2 would be refused by the loader; 注记 holds no polygon
    assert entry["field"] == "Layer" and entry["scheme"] == "gb50137"
    assert "R2" in " ".join(report.layers[0].notes)
    entries = [line for line in report.to_yaml().splitlines() if not line.startswith("#")]
    assert len(entries) == 1 and entries[0].startswith("urban: {")  # one entry per drawing
