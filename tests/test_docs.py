"""The documentation is tested: every YAML snippet in docs/ is a valid pilot or pilot part, and
the README's Python examples run.

A snippet that is a whole pilot (it has ``name`` and ``plans``) is written beside the demo's
inputs and validated by :func:`fiveplans.config.read_config` (and its schemes checked); any
other snippet (a source entry such as ``current: {…}``, ``plans: {cluster: {…}}``, or a section
such as ``codes:``) is merged into the demo pilot and validated the same way.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import pytest
import yaml

from fiveplans.config import PLAN_KEYS, read_config
from fiveplans.demo import write_demo_inputs
from fiveplans.errors import FiveplansWarning
from fiveplans.pipeline import check_schemes

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks(path: Path, lang: str) -> list[tuple[str, int, str]]:
    text = path.read_text(encoding="utf-8")
    return [
        (path.name, text[: m.start()].count("\n") + 1, m.group(2))
        for m in FENCE.finditer(text)
        if m.group(1) == lang
    ]


YAML_BLOCKS = [b for page in sorted(DOCS.glob("*.md")) for b in _blocks(page, "yaml")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pilot = write_demo_inputs(tmp_path_factory.mktemp("docs") / "inputs")
    folder = pilot.parent
    # the grades example reads a grades layer: make a real one from the demo's survey
    import geopandas as gpd

    status = gpd.read_file(folder / "status.gpkg", layer="DLTB")
    grades = status[status["GDDB"].notna()].dissolve(by="GDDB").reset_index()[["GDDB", "geometry"]]
    grades.to_file(folder / "grades.gpkg", layer="grades")
    return pilot


def test_docs_exist_and_are_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("index", "install", "getting-started", "pilot", "outputs", "decisions", "errors"):
        assert (DOCS / f"{page}.md").is_file(), page
    assert "docs/" in readme
    assert "CONTRACT.md" not in readme  # the docs carry the reference now
    assert len(YAML_BLOCKS) >= 10


def _merge(base: dict, part: dict) -> dict:
    out = dict(base)
    for key, value in part.items():
        if key == "plans" and isinstance(value, dict):
            out["plans"] = {**out["plans"], **value}
        elif key in PLAN_KEYS:  # an entry as `inspect --yaml` prints it, pasted under plans:
            out["plans"] = {**out["plans"], key: value}
        else:
            out[key] = value
    return out


@pytest.mark.parametrize(
    "block", YAML_BLOCKS, ids=[f"{name}:{line}" for name, line, _ in YAML_BLOCKS]
)
def test_yaml_snippet_is_valid(block: tuple[str, int, str], demo: Path) -> None:
    name, line, text = block
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict), f"{name}:{line} is not a mapping"
    base = yaml.safe_load(demo.read_text(encoding="utf-8"))
    whole = "name" in doc and "plans" in doc
    pilot = doc if whole else _merge(base, doc)
    path = demo.parent / f"snippet_{name.replace('.', '_')}_{line}.yml"
    path.write_text(yaml.safe_dump(pilot, allow_unicode=True), encoding="utf-8")
    config = read_config(path)
    check_schemes(config)
    for key in doc if not whole else ():
        if key in config.sources:
            assert config.sources[key].path is not None


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's Python block, run as written from a folder holding `out/demo/inputs`."""
    blocks = _blocks(ROOT / "README.md", "python")
    assert blocks
    pilot = write_demo_inputs(tmp_path / "out" / "demo" / "inputs")
    assert pilot.is_file()
    monkeypatch.chdir(tmp_path)
    for _, _, code in blocks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FiveplansWarning)
            exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "out" / "demo" / "summary.json").is_file()
    shutil.rmtree(tmp_path / "out")
