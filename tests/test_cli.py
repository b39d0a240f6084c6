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
    assert "not yet" not in result.stderr
    for name in ("map.html", "report.html", "tables.xlsx", "results.gpkg"):
        assert (tmp_path / "o" / name).stat().st_size > 0, name
    summary = json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))
    # M1 over x 250–750 m; basic farmland x 0–500 m; land-use construction x 500–1000 m
    assert summary["conflicts"]["farmland_construction"]["area_m2"] == pytest.approx(250_000)
    assert summary["conflicts"]["plan_mismatch"]["area_m2"] == pytest.approx(250_000)
    assert summary["conflicts"]["ecology_construction"]["area_m2"] == 0
    # no current land use: the zones cannot be drawn, and the summary says so
    assert summary["zones"] is None
    assert "no current land use" in summary["skipped"]["zones"]["reason"]
    assert any(w.startswith("zones: ") for w in summary["warnings"])
    assert "zones" in result.stderr  # printed as it was recorded
    assert "not_yet_available" not in summary


def test_bad_config_exits_2_without_traceback(
    runner: CliRunner, tiny_pilot: Path, tmp_path: Path
) -> None:
    tiny_pilot.write_text(
        tiny_pilot.read_text(encoding="utf-8") + "colour: red\n", encoding="utf-8"
    )
    result = runner.invoke(cli, ["run", str(tiny_pilot), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "'colour'" in result.stderr and "unknown key" in result.stderr
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
    assert result.exit_code == 2  # a field the pilot names is a config problem (docs: exit codes)
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


def _printed_warnings(stderr: str) -> list[str]:
    return [
        line[len("warning: ") :] for line in stderr.splitlines() if line.startswith("warning: ")
    ]


def _first_lines(messages: list[str]) -> list[str]:
    return [m.splitlines()[0] if m else m for m in messages]


def test_demo_prints_exactly_what_summary_records(runner: CliRunner, tmp_path: Path) -> None:
    """One diagnostics sink: every warning the CLI prints is in summary.json (and the other way
    round), once, in order — also the stages skipped (issue 12 §4)."""
    from fiveplans.demo import write_demo_inputs

    out = tmp_path / "demo"
    result = runner.invoke(cli, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["warnings"], "the demo has warnings (its land-use CRS is detected)"
    assert _printed_warnings(result.stderr) == _first_lines(summary["warnings"])

    # radius_min: 1 — no supplier is reachable; the warning saying so reaches summary.json
    pilot = write_demo_inputs(tmp_path / "r1")
    text = pilot.read_text(encoding="utf-8").replace("radius_min: 60", "radius_min: 1")
    assert "radius_min: 1," in text
    pilot.write_text(text, encoding="utf-8")
    r1 = runner.invoke(cli, ["run", str(pilot), "--out", str(tmp_path / "r1out")])
    assert r1.exit_code == 0, r1.stderr
    s1 = json.loads((tmp_path / "r1out" / "summary.json").read_text(encoding="utf-8"))
    assert s1["catchments"]["assigned"] < summary["catchments"]["assigned"]
    printed = _printed_warnings(r1.stderr)
    assert printed == _first_lines(s1["warnings"])
    new = set(s1["warnings"]) - set(summary["warnings"])
    assert any("radius" in w or "半径" in w for w in new), new
    # quiet: nothing printed, the same recorded
    quiet = runner.invoke(
        cli, ["run", str(pilot), "--out", str(tmp_path / "r1out"), "--overwrite", "-q"]
    )
    assert quiet.exit_code == 0, quiet.stderr
    assert _printed_warnings(quiet.stderr) == []
    again = json.loads((tmp_path / "r1out" / "summary.json").read_text(encoding="utf-8"))
    assert again["warnings"] == s1["warnings"] and again["skipped"] == s1["skipped"]
