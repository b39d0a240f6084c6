"""One installable package: `fiveplans` and its parts; the same dependencies for pip and conda."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements" / "lock.txt"
# Names that differ between PyPI and conda-forge for the same project.
CONDA_NAMES = {"osmium": "pyosmium"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ]", requirement.strip(), maxsplit=1)[0].lower()


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg", encoding="utf-8")
    return cfg


def _requirements(text: str) -> list[Requirement]:
    return [
        Requirement(line.strip())
        for line in text.strip().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _runtime() -> list[Requirement]:
    return _requirements(_setup_cfg()["options"]["install_requires"])


def _extras() -> dict[str, list[Requirement]]:
    cfg = _setup_cfg()
    if not cfg.has_section("options.extras_require"):
        return {}
    return {k: _requirements(v) for k, v in cfg["options.extras_require"].items()}


def _lower_bound(req: Requirement | str) -> str | None:
    spec = req.specifier if isinstance(req, Requirement) else SpecifierSet(req)
    found = [s.version for s in spec if s.operator in (">=", "==", "~=")]
    return found[0] if found else None


def _conda_dependencies() -> dict[str, str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name = _name(dep)
            out[name] = dep[len(name) :].strip()
    out.pop("python", None)
    out.pop("pip", None)
    return out


def test_conda_environment_lists_the_runtime_dependencies() -> None:
    """environment.yml carries every runtime dependency with setup.cfg's lower bound, and
    otherwise only packages of setup.cfg's optional extras."""
    conda = _conda_dependencies()
    runtime = {
        CONDA_NAMES.get(canonicalize_name(r.name), canonicalize_name(r.name)): r for r in _runtime()
    }
    missing = sorted(set(runtime) - set(conda))
    assert not missing, f"add to environment.yml: {missing}"
    for name, req in runtime.items():
        assert _lower_bound(req) == _lower_bound(conda[name] or ""), (
            f"{name}: setup.cfg says {req.specifier}, environment.yml says {conda[name]!r}"
        )
    optional = {
        CONDA_NAMES.get(canonicalize_name(r.name), canonicalize_name(r.name))
        for name, reqs in _extras().items()
        if name != "dev"
        for r in reqs
    }
    stray = sorted(set(conda) - set(runtime) - optional)
    assert not stray, f"environment.yml lists packages setup.cfg does not: {stray}"


def _lock() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        (spec,) = list(req.specifier)
        assert spec.operator == "==", f"{LOCK}: {line!r} is not a pin"
        pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def test_the_lock_pins_every_dependency_within_setup_cfg_bounds() -> None:
    """requirements/lock.txt (``make lock``) pins every runtime and extra dependency."""
    pins = _lock()
    wanted = _runtime() + [r for reqs in _extras().values() for r in reqs]
    unpinned = sorted({r.name for r in wanted if canonicalize_name(r.name) not in pins})
    assert not unpinned, (
        f"{unpinned} are in setup.cfg but not pinned in {LOCK.name}. Fix: run `make lock` "
        "(then `make test`) and commit requirements/lock.txt."
    )
    for req in wanted:
        version = pins[canonicalize_name(req.name)]
        assert req.specifier.contains(version, prereleases=True), (
            f"{req.name}: the lock pins {version}, outside setup.cfg's {req.specifier}. "
            "Fix: run `make lock`."
        )
    header = LOCK.read_text(encoding="utf-8").splitlines()[:3]
    assert any("make lock" in line for line in header), "the lock says how to remake it"


def test_make_and_ci_install_from_the_lock() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "LOCK   := requirements/lock.txt" in makefile
    install = makefile.split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "-c $(LOCK)" in install and "editable_mode=strict" in install
    assert "$(LOCK)" in install.splitlines()[0]  # a new lock reinstalls
    for target in ("demo: install", "test: install"):
        assert target in makefile
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def _fake_make_tree(tmp_path: Path) -> Path:
    """The Makefile with stand-ins for the package and for pip (which records its calls)."""
    tree = tmp_path / "tree"
    for rel in ("Makefile", "setup.cfg", "pyproject.toml", "requirements/lock.txt"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes((REPO / rel).read_bytes())
    for folder in ("gis", "layers", "analysis", "maps"):
        (tree / folder).mkdir()
        (tree / folder / "__init__.py").write_text("", encoding="utf-8")
    fake = tree / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/../pip.log"\n', encoding="utf-8")
    fake.chmod(0o755)
    return tree


def _installs(tree: Path) -> int:
    subprocess.run(["make", "-s", "install"], cwd=tree, check=True, capture_output=True)
    log = tree / ".venv" / "pip.log"
    return sum("-e .[dev]" in line for line in log.read_text().splitlines()) if log.exists() else 0


def test_make_reinstalls_when_package_files_are_added(tmp_path: Path) -> None:
    """Strict editable installs see new files only after a reinstall: make does it by itself."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    tree = _fake_make_tree(tmp_path)
    assert _installs(tree) == 1
    assert _installs(tree) == 1  # nothing changed: no reinstall
    (tree / "analysis" / "__init__.py").write_text("x = 1\n", encoding="utf-8")
    assert _installs(tree) == 1  # an edit is seen through the links
    (tree / "analysis" / "patches.py").write_text("", encoding="utf-8")
    assert _installs(tree) == 2  # a new module needs new links
    (tree / "maps" / "templates").mkdir()
    (tree / "maps" / "templates" / "report.html.j2").write_text("", encoding="utf-8")
    assert _installs(tree) == 3  # so does new package data
    (tree / "maps" / "templates" / "report.html.j2").unlink()
    assert _installs(tree) == 4
    later = time.time() + 5
    os.utime(tree / "requirements" / "lock.txt", (later, later))
    assert _installs(tree) == 5  # a new lock reinstalls


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


# ---- editors and type checkers follow the package (issue 11 §8) ----------------------------

PROBE = "from fiveplans.analysis import find_conflicts\nreveal_type(find_conflicts)\n"


def _strict_install_of_this_tree(tmp: Path) -> Path:
    """``pip install -e . --config-settings editable_mode=strict`` of a copy of this tree into a
    scratch environment (no dependencies: the checkers read source, they do not import it)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    for folder in ("gis", "layers", "analysis", "maps"):
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "-e",
            str(src),
            "--config-settings",
            "editable_mode=strict",
        ],
        check=True,
        capture_output=True,
    )
    return python


def _uses_import_hook(python: str) -> bool:
    """True when ``python``'s environment maps fiveplans through setuptools' import hook."""
    code = (
        "import site, sys, glob\n"
        "dirs = site.getsitepackages() + [site.getusersitepackages()]\n"
        "print(any(glob.glob(d + '/__editable___fiveplans_*finder.py') for d in dirs))\n"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


@pytest.mark.parametrize("where", ["strict install of this tree", "this environment"])
def test_type_checkers_and_editors_follow_the_package(where: str, tmp_path: Path) -> None:
    """mypy resolves fiveplans.analysis.find_conflicts from outside the repository with its real
    signature, and jedi (the editors' "go to definition") lands in analysis/conflicts.py."""
    if where == "this environment":
        python = sys.executable
        if _uses_import_hook(python):
            pytest.skip(
                "this environment installs fiveplans through the import hook (a plain `pip install "
                "-e .`); `make install` installs it in strict mode"
            )
        source = REPO
    else:
        python = str(_strict_install_of_this_tree(tmp_path))
        source = tmp_path / "src"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    probe = outside / "probe.py"
    probe.write_text(PROBE, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--python-executable",
            python,
            "--no-incremental",
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path / ".mypy"),
            str(probe),
        ],
        cwd=outside,
        capture_output=True,
        text=True,
    )
    assert 'Revealed type is "def (layers:' in result.stdout, result.stdout + result.stderr
    assert "sliver_m2: builtins.float" in result.stdout or "sliver_m2: float" in result.stdout
    assert "Cannot find implementation" not in result.stdout

    import jedi

    env_dir = Path(python).parent.parent
    script = jedi.Script(path=str(probe), project=jedi.Project(outside, environment_path=env_dir))
    found = script.goto(1, len("from fiveplans.analysis import find_"), follow_imports=True)
    assert found, "jedi cannot follow fiveplans.analysis.find_conflicts"
    target = Path(found[0].module_path).resolve()
    assert target == (source / "analysis" / "conflicts.py").resolve()
    assert found[0].name == "find_conflicts"
