"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from tinypilot import write_tiny_pilot

pytest_plugins = ["postgis_server"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL = SHARED / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The shared real public data folder (``../shared/data/real``); skips when absent."""
    if not REAL.is_dir():
        pytest.skip(f"real data not found at {REAL} (the shared/ folder beside the repo)")
    return REAL


@pytest.fixture
def tiny_pilot(tmp_path: Path) -> Path:
    """A tiny valid pilot YAML in a temp folder (see :func:`write_tiny_pilot`)."""
    return write_tiny_pilot(tmp_path / "tiny")
