"""fiveplans — 五规合一 (five plans into one) toolkit for industrial agglomeration zones.

The planner's face of the package::

    import fiveplans as fp
    pilot = fp.load_pilot("pilot.yml")   # five plans in one CRS and one legend (一张图)
    fp.run(pilot, out="out/demo")        # what `fiveplans run` does

Parts: :mod:`fiveplans.layers` (loaders, code tables), :mod:`fiveplans.analysis` (overlay,
zoning, logistics) and :mod:`fiveplans.maps` (maps and reports) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from fiveplans.config import PilotConfig, read_config
from fiveplans.errors import (
    ConfigError,
    CRSError,
    CRSWarning,
    DataError,
    FiveplansError,
    FiveplansWarning,
)
from fiveplans.pipeline import Pilot, load_pilot, run

__version__ = "0.1.0"

__all__ = [
    "CRSError",
    "CRSWarning",
    "ConfigError",
    "DataError",
    "FiveplansError",
    "FiveplansWarning",
    "Pilot",
    "PilotConfig",
    "__version__",
    "analysis",
    "demo",
    "layers",
    "load_pilot",
    "maps",
    "read_config",
    "run",
]

_SUBPACKAGES = {"analysis", "layers", "maps", "demo"}


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"fiveplans.{name}")
    raise AttributeError(f"module 'fiveplans' has no attribute {name!r}")
