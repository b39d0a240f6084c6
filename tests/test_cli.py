"""The `fiveplans` command line: exit codes, messages, no tracebacks, no half-written outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tinypilot import write_tiny_pilot

from fiveplans.cli import cli


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_help_lists_the_commands(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "batch", "demo", "inspect"):
        assert command in result.output


def test_run_writes_outputs_and_refuses_to_overwrite(
    runner: CliRunner, tiny_pilot: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = runner.invoke(cli, ["run", str(tiny_pilot), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["pilot"] == "tiny"
    assert summary["boundary_area_m2"] == pytest.approx(1e6)
    assert summary["layers"]["land_use"]["area_m2_by_legend"] == {
        "basic_farmland": pytest.approx(5e5),
        "construction": pytest.approx(5e5),
    }
    assert (out / "integrated.gpkg").exists() and (out / "tables.xlsx").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]

    again = runner.invoke(cli, ["run", str(tiny_pilot), "--out", str(out)])
    assert again.exit_code == 2
    assert "--overwrite" in again.stderr
    assert "Traceback" not in again.output

    forced = runner.invoke(cli, ["run", str(tiny_pilot), "--out", str(out), "--overwrite", "-q"])
    assert forced.exit_code == 0, forced.stderr


def test_run_computes_conflicts_and_says_what_is_not_there(
    runner: CliRunner, tiny_pilot: Path, tmp_path: Path
) -> None:
    result = runner.invoke(cli, ["run", str(tiny_pilot), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.stderr
    assert "not yet" in result.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))
    # M1 over x 250–750 m; basic farmland x 0–500 m; land-use construction x 500–1000 m
    assert summary["conflicts"]["farmland_construction"]["area_m2"] == pytest.approx(250_000)
    assert summary["conflicts"]["plan_mismatch"]["area_m2"] == pytest.approx(250_000)
    assert summary["conflicts"]["ecology_construction"]["area_m2"] == 0
    # no current land use: the zones cannot be drawn, and the summary says so
    assert summary["zones"] is None
    assert any("current land-use layer" in w for w in summary["warnings"])
    assert "maps" in summary["not_yet_available"]


def test_bad_config_exits_2_without_traceback(
    runner: CliRunner, tiny_pilot: Path, tmp_path: Path
) -> None:
    tiny_pilot.write_text(
        tiny_pilot.read_text(encoding="utf-8") + "colour: red\n", encoding="utf-8"
    )
    result = runner.invoke(cli, ["run", str(tiny_pilot), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "'colour': unknown key" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_missing_pilot_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["run", str(tmp_path / "none.yml")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_corrupt_data_exits_1_and_writes_nothing(
    runner: CliRunner, tiny_pilot: Path, tmp_path: Path
) -> None:
    (tiny_pilot.parent / "cluster.gpkg").write_bytes(b"this is not a geopackage")
    out = tmp_path / "o"
    result = runner.invoke(cli, ["run", str(tiny_pilot), "--out", str(out)])
    assert result.exit_code == 1
    assert "cluster.gpkg" in result.stderr and "Fix:" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())


def test_field_not_found_lists_fields(runner: CliRunner, tmp_path: Path) -> None:
    pilot = write_tiny_pilot(
        tmp_path / "p",
        plans={
            "land_use": {"path": "tugui.gpkg", "field": "TDYTQDM", "scheme": "tdytq"},
            "cluster": {"path": "cluster.gpkg", "field": "YDDM", "scheme": "gb50137"},
        },
    )
    result = runner.invoke(cli, ["run", str(pilot), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "field 'TDYTQDM' not found" in result.stderr
    assert "TDYTQLXDM" in result.stderr


def test_inspect_readable_and_unreadable(
    runner: CliRunner, tiny_pilot: Path, tmp_path: Path
) -> None:
    ok = runner.invoke(cli, ["inspect", str(tiny_pilot.parent / "tugui.gpkg")])
    assert ok.exit_code == 0, ok.output
    assert "TDYTQ" in ok.output and "2 features" in ok.output and "EPSG:4547" in ok.output
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"\x00garbage")
    bad = runner.invoke(cli, ["inspect", str(junk)])
    assert bad.exit_code == 1
    assert "not readable" in bad.output


def test_batch_one_failure_does_not_stop_the_others(runner: CliRunner, tmp_path: Path) -> None:
    good = write_tiny_pilot(tmp_path / "good", id="good")
    bad = write_tiny_pilot(tmp_path / "bad", id="bad")
    (bad.parent / "cluster.gpkg").write_bytes(b"broken")
    out = tmp_path / "batch"
    result = runner.invoke(cli, ["batch", str(bad), str(good), "--out", str(out), "-q"])
    assert result.exit_code == 1
    assert (out / "good" / "summary.json").exists()
    assert not (out / "bad" / "summary.json").exists()
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "good" in page and "bad" in page and "failed" in page
    assert (out / "summary.xlsx").exists()

    resumed = runner.invoke(cli, ["batch", str(good), "--out", str(out), "--resume", "-q"])
    assert resumed.exit_code == 0
    assert "skipped" in resumed.stderr or "skip" in resumed.stderr
