"""One installable package: `fiveplans` and its parts; the same dependencies for pip and conda."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# Names that differ between PyPI and conda-forge for the same project.
CONDA_NAMES = {"osmium": "pyosmium"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_conda_environment_lists_the_runtime_dependencies() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg", encoding="utf-8")
    pip_names = {
        CONDA_NAMES.get(_name(r), _name(r))
        for r in cfg["options"]["install_requires"].strip().splitlines()
        if r.strip()
    }
    env = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    conda_names = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    assert pip_names == conda_names


def test_folders_are_parts_of_one_package(tmp_path: Path) -> None:
    code = (
        "import importlib.util, fiveplans, fiveplans.layers, fiveplans.analysis, fiveplans.maps\n"
        "print(all(importlib.util.find_spec(n) is None for n in ('analysis', 'layers', 'maps', 'gis')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True"


def test_package_data_is_installed() -> None:
    codes = resources.files("fiveplans.layers") / "codes"
    assert (codes / "gbt21010.csv").is_file()
    seeds = resources.files("fiveplans.demo") / "seeds"
    assert any(p.name.endswith(".geojson") for p in seeds.iterdir())


def test_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("fiveplans")
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert "fiveplans" in result.stdout
