"""Pilot config validation: every mistake gets a message naming the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tinypilot import write_tiny_pilot

from fiveplans.config import read_config
from fiveplans.errors import ConfigError


def _edit(path: Path, **changes: object) -> Path:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        target = doc
        parts = key.split(".")
        for part in parts[:-1]:
            target = target[part]
        if value is None:
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = value
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_valid_config_resolves_paths_relative_to_yaml(tiny_pilot: Path) -> None:
    cfg = read_config(tiny_pilot)
    assert cfg.id == "tiny"
    assert cfg.name == "小试点"
    assert cfg.crs is not None and cfg.crs.crs is not None and cfg.crs.crs.to_epsg() == 4547
    assert cfg.sources["land_use"].path == tiny_pilot.parent / "tugui.gpkg"
    assert cfg.sources["cluster"].field == "YDDM"
    assert list(cfg.plans) == ["cluster", "land_use"]
    assert cfg.thresholds.sliver_m2 == 400
    assert cfg.logistics.speeds_kmh["default"] == 30


def test_id_defaults_to_file_stem(tmp_path: Path) -> None:
    path = write_tiny_pilot(tmp_path / "p")
    _edit(path, id=None)
    renamed = path.with_name("zone_7.yml")
    path.rename(renamed)
    assert read_config(renamed).id == "zone_7"


@pytest.mark.parametrize(
    ("changes", "needles"),
    [
        ({"nmae": "x"}, ["'nmae'", "unknown key", "Did you mean 'name'"]),
        ({"id": "Demo Zone"}, ["'id'", "demo_zone"]),
        ({"crs": "EPSG:99999999"}, ["crs", "EPSG:99999999"]),
        ({"crs": "EPSG:4490"}, ["'crs'", "not projected", "EPSG:4547"]),
        ({"crs": "gcj02"}, ["'crs'", "offset"]),
        (
            {"plans.land_use.path": "missing.shp"},
            ["plans.land_use.path", "file not found", "tugui.gpkg"],
        ),
        ({"plans.land_use.feild": "X"}, ["plans.land_use.feild", "Did you mean 'field'"]),
        ({"plans.land_use": None}, ["plans.land_use", "required"]),
        ({"plans.roads": {"path": "tugui.gpkg"}}, ["plans.roads", "unknown plan"]),
        ({"thresholds": {"sliver_m2": -5}}, ["thresholds.sliver_m2", "out of range"]),
        (
            {"logistics": {"speeds_kmh": {"primary": 0}}},
            ["logistics.speeds_kmh.primary", "out of range"],
        ),
        ({"plans.land_use.encoding": "klingon"}, ["plans.land_use.encoding", "GBK"]),
        ({"plans.land_use.towgs84": [1, 2]}, ["plans.land_use.towgs84", "3 or 7"]),
        ({"boundary": None}, ["'boundary'", "missing"]),
        ({"name": ""}, ["'name'", "display name"]),
    ],
)
def test_bad_config_names_key_and_fix(
    tiny_pilot: Path, changes: dict[str, object], needles: list[str]
) -> None:
    _edit(tiny_pilot, **changes)
    with pytest.raises(ConfigError) as info:
        read_config(tiny_pilot)
    message = str(info.value)
    assert str(tiny_pilot) in message
    assert any(word in message for word in ("Fix:", "e.g.", "such as"))
    for needle in needles:
        assert needle in message
    assert info.value.exit_code == 2


def test_non_utf8_yaml_is_refused_with_a_hint(tiny_pilot: Path) -> None:
    text = tiny_pilot.read_text(encoding="utf-8")
    tiny_pilot.write_bytes(text.encode("gbk"))
    with pytest.raises(ConfigError, match=r"not UTF-8.*GBK.*Fix: save the file as UTF-8"):
        read_config(tiny_pilot)


def test_invalid_yaml_gives_the_line(tiny_pilot: Path) -> None:
    tiny_pilot.write_text("name: x\nplans: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"(?s)第 2 行 line 2.*not closed.*解决 Fix"):
        read_config(tiny_pilot)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        read_config(tmp_path / "nope.yml")


def test_csv_needs_coordinates(tiny_pilot: Path) -> None:
    (tiny_pilot.parent / "firms.csv").write_text("id,lon,lat\n1,113.3,33.6\n", encoding="utf-8")
    _edit(tiny_pilot, suppliers={"path": "firms.csv"})
    with pytest.raises(ConfigError, match=r"suppliers.*x: lon"):
        read_config(tiny_pilot)


def test_postgis_url_needs_table(tiny_pilot: Path) -> None:
    _edit(
        tiny_pilot,
        current={
            "path": "postgresql://u:secret@localhost/db",
            "field": "DLBM",
            "scheme": "gbt21010",
        },
    )
    with pytest.raises(ConfigError, match=r"current.layer.*schema.table"):
        read_config(tiny_pilot)


def test_postgis_url_password_hidden(tiny_pilot: Path) -> None:
    _edit(
        tiny_pilot,
        current={
            "path": "postgresql://u:secret@localhost/db",
            "layer": "public.dltb",
            "field": "DLBM",
            "scheme": "gbt21010",
        },
    )
    cfg = read_config(tiny_pilot)
    assert "secret" not in cfg.sources["current"].where
    assert cfg.sources["current"].url == "postgresql://u:secret@localhost/db"


def test_per_industry_radius_table(tiny_pilot: Path) -> None:
    _edit(tiny_pilot, logistics={"radius_min": {"盐化工": 90, "食品加工": 45}})
    cfg = read_config(tiny_pilot)
    assert cfg.logistics.radius_min == {"盐化工": 90.0, "食品加工": 45.0}


def test_unknown_scheme_is_refused_before_loading(tiny_pilot: Path) -> None:
    from fiveplans.pipeline import load_pilot

    _edit(tiny_pilot, **{"plans.land_use.scheme": "tdytqq"})
    with pytest.raises(ConfigError, match=r"'plans.land_use.scheme'.*Did you mean 'tdytq'"):
        load_pilot(tiny_pilot)
