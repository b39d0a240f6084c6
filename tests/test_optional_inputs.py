"""Only the required inputs are fatal (issue 11 §1, CONTRACT §2): the demo pilot with each optional
input removed runs to exit 0, says once what was skipped (summary.json ``skipped`` and
``warnings``, tables.xlsx 警告与跳过), and every output that does not depend on the removed input
equals the full run's (areas to 1e-6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl
import pyogrio
import pytest
import yaml
from click.testing import CliRunner

from fiveplans.cli import cli
from fiveplans.demo import write_demo_inputs

#: summary.json blocks compared with the full run, unless a case says otherwise.
BLOCKS = ("conflicts", "zones", "farmland_balance", "catchments")


def _run(pilot_yml: Path, out: Path) -> tuple[Any, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["run", str(pilot_yml), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return result, summary


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The demo inputs (written once) and the full run's summary."""
    folder = tmp_path_factory.mktemp("optional")
    pilot_yml = write_demo_inputs(folder / "inputs")
    _, full = _run(pilot_yml, folder / "full")
    return pilot_yml, full


def _variant(pilot_yml: Path, name: str, edit) -> Path:
    """A copy of the demo's pilot.yml beside it (same data paths), edited by ``edit(doc)``."""
    doc = yaml.safe_load(pilot_yml.read_text(encoding="utf-8"))
    edit(doc)
    path = pilot_yml.with_name(f"pilot_{name}.yml")
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _without_column(pilot_yml: Path, column: str, name: str, *, rename: str | None = None) -> str:
    """A copy of the current land use (status.gpkg DLTB) without (or renaming) ``column``."""
    frame = pyogrio.read_dataframe(pilot_yml.parent / "status.gpkg", layer="DLTB")
    frame = frame.drop(columns=column) if rename is None else frame.rename(columns={column: rename})
    target = pilot_yml.parent / f"status_{name}.gpkg"
    pyogrio.write_dataframe(frame, target, layer="DLTB", driver="GPKG")
    return target.name


def _same(a: Any, b: Any) -> None:
    """Equal figures: numbers to 1e-6 (relative), everything else exactly."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (a, b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, float | int) and not isinstance(a, bool):
        assert b == pytest.approx(a, rel=1e-6, abs=1e-6)
    else:
        assert a == b


def _check(
    full: dict[str, Any],
    summary: dict[str, Any],
    *,
    stage: str | None,
    compare: dict[str, Any],
    out: Path,
) -> None:
    """The skip is reported once (skipped, warnings, xlsx) and the kept outputs are equal."""
    if stage is not None:
        assert stage in summary["skipped"], (summary["skipped"], summary["warnings"])
        entry = summary["skipped"][stage]
        assert entry["reason"] and entry["fix"]
        said = [w for w in summary["warnings"] if w.startswith(f"{stage}: ")]
        assert len(said) == 1, summary["warnings"]
        book = openpyxl.load_workbook(out / "tables.xlsx", read_only=True)
        (sheet,) = [name for name in book.sheetnames if "警告与跳过" in name]
        rows = list(book[sheet].iter_rows(values_only=True))
        book.close()
        assert sum(1 for r in rows if r[1] == stage) == 1
    assert len(summary["warnings"]) == len(set(summary["warnings"]))
    for key, value in compare.items():
        if key == "conflicts":
            for kind, expected in value.items():
                _same(expected["area_m2"], summary["conflicts"][kind]["area_m2"])
                _same(expected["count"], summary["conflicts"][kind]["count"])
        else:
            _same(value, summary[key])
    for key, entry in summary["layers"].items():
        _same(full["layers"][key], entry)


def _blocks(full: dict[str, Any], *keep: str, conflicts: tuple[str, ...] | None = None) -> dict:
    out = {k: full[k] for k in keep}
    if conflicts is not None:
        out["conflicts"] = {t: full["conflicts"][t] for t in conflicts}
    return out


def _drop_top(key: str):
    return lambda doc: doc.pop(key)


def _drop_plan(key: str):
    return lambda doc: doc["plans"].pop(key)


CONFLICT_TYPES = (
    "farmland_construction",
    "ecology_construction",
    "plan_mismatch",
    "use_mismatch",
    "corridor_construction",
)
ALL_BUT_CATCHMENTS = ("conflicts", "zones", "farmland_balance")

#: case → (edit of pilot.yml, the stage reported, summary blocks equal to the full run's)
CASES: dict[str, tuple[Any, str, tuple[str, ...], tuple[str, ...] | None]] = {
    "districts": (_drop_top("districts"), "districts", ("zones", "catchments"), CONFLICT_TYPES),
    "roads": (_drop_top("roads"), "logistics", ALL_BUT_CATCHMENTS, None),
    "clusters": (_drop_top("clusters"), "logistics", ALL_BUT_CATCHMENTS, None),
    "suppliers": (_drop_top("suppliers"), "supplier_assignment", ALL_BUT_CATCHMENTS, None),
    "centres": (_drop_top("centres"), "service_class", BLOCKS, None),
    "current": (_drop_top("current"), "zones", ("catchments",), CONFLICT_TYPES),
    "ecology": (
        _drop_plan("ecology"),
        "conflicts.ecology_construction",
        ("catchments",),
        ("farmland_construction", "plan_mismatch", "use_mismatch", "corridor_construction"),
    ),
    "infrastructure": (
        _drop_plan("infrastructure"),
        "conflicts.corridor_construction",
        ("catchments",),
        ("plan_mismatch", "use_mismatch"),  # corridor facilities are construction land too
    ),
    "urban": (_drop_plan("urban"), "conflicts.use_mismatch", ("catchments",), None),
    "cluster": (_drop_plan("cluster"), "conflicts.use_mismatch", ("catchments",), None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_optional_input_removed(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path, case: str
) -> None:
    pilot_yml, full = demo
    edit, stage, keep, conflicts = CASES[case]
    variant = _variant(pilot_yml, case, edit)
    _, summary = _run(variant, tmp_path / "out")
    _check(
        full,
        summary,
        stage=stage,
        compare=_blocks(full, *keep, conflicts=conflicts),
        out=tmp_path / "out",
    )
    if case == "current":
        assert summary["zones"] is None and summary["farmland_balance"] is None
        for other in ("farmland_balance", "efficiency", "villages"):
            assert other in summary["skipped"]
    if case in ("roads", "clusters"):
        assert summary["catchments"] is None


def test_no_grades_balances_by_area(demo: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """Without GDDB the farmland balance runs by area alone and says so (数量平衡, 质量未核)."""
    pilot_yml, full = demo
    name = _without_column(pilot_yml, "GDDB", "nogrades")

    def edit(doc: dict) -> None:
        doc["current"]["path"] = name

    _, summary = _run(_variant(pilot_yml, "nogrades", edit), tmp_path / "out")
    _check(
        full,
        summary,
        stage="farmland_balance.quality",
        compare=_blocks(full, "zones", "catchments", conflicts=CONFLICT_TYPES),
        out=tmp_path / "out",
    )
    assert "数量平衡" in summary["skipped"]["farmland_balance.quality"]["reason"]
    balance = summary["farmland_balance"]
    assert balance["quality_checked"] is False
    assert balance["out_m2"] == pytest.approx(full["farmland_balance"]["out_m2"], rel=1e-6)


def test_grade_field_names_another_column(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    pilot_yml, full = demo
    name = _without_column(pilot_yml, "GDDB", "zldb", rename="ZLDB")

    def edit(doc: dict) -> None:
        doc["current"].update(path=name, grade_field="ZLDB")

    _, summary = _run(_variant(pilot_yml, "zldb", edit), tmp_path / "out")
    assert "farmland_balance.quality" not in summary["skipped"]
    _same(full["farmland_balance"], summary["farmland_balance"])


def test_grades_layer_joined_by_area_share(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """A separate 耕地质量等别 layer (here: the graded parcels themselves) gives the same balance
    as the column: each parcel's area-weighted grade is its own."""
    pilot_yml, full = demo
    status = pyogrio.read_dataframe(pilot_yml.parent / "status.gpkg", layer="DLTB")
    graded = status.loc[status["GDDB"].notna(), ["GDDB", "geometry"]].rename(columns={"GDDB": "DB"})
    pyogrio.write_dataframe(graded, pilot_yml.parent / "grades.gpkg", driver="GPKG")
    name = _without_column(pilot_yml, "GDDB", "gradeslayer")

    def edit(doc: dict) -> None:
        doc["current"]["path"] = name
        doc["grades"] = {"path": "grades.gpkg", "field": "DB"}

    _, summary = _run(_variant(pilot_yml, "gradeslayer", edit), tmp_path / "out")
    assert "farmland_balance.quality" not in summary["skipped"]
    _same(full["farmland_balance"], summary["farmland_balance"])


def test_named_grade_field_that_is_not_there_is_fatal(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    pilot_yml, _ = demo

    def edit(doc: dict) -> None:
        doc["current"]["grade_field"] = "DENGBIE"

    result = CliRunner().invoke(
        cli, ["run", str(_variant(pilot_yml, "badgrade", edit)), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code in (1, 2)  # a field the pilot names is not there: fatal
    assert "DENGBIE" in result.stderr and "grade_field" in result.stderr
    assert not (tmp_path / "o" / "summary.json").exists()


def test_industrial_indicators_removed(demo: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """Without the investment/output indicators the low-efficiency check is reduced, reported."""
    pilot_yml, full = demo
    frame = pyogrio.read_dataframe(pilot_yml.parent / "status.gpkg", layer="DLTB")
    frame = frame.drop(columns=["RJL", "JZXS", "LDL", "XZBL", "TZQD", "CCQD"])
    pyogrio.write_dataframe(frame, pilot_yml.parent / "status_noind.gpkg", layer="DLTB")

    def edit(doc: dict) -> None:
        doc["current"]["path"] = "status_noind.gpkg"
        doc["efficiency"] = {"investment_min": 200, "output_min": 300}

    _, summary = _run(_variant(pilot_yml, "noind", edit), tmp_path / "out")
    _check(full, summary, stage=None, compare=_blocks(full, *BLOCKS), out=tmp_path / "out")
    new = set(summary["warnings"]) - set(full["warnings"])
    assert new, "the reduced low-efficiency check is not reported"
