"""The shared schema (数据约定) of fiveplans: one definition each, imported everywhere.

Layer keys of a pilot (the five plans, the required and optional inputs), the common legend
columns and values (CONTRACT §3), which plans take part in which rule, the corridor-strip rule
of infrastructure lines (走廊控制宽度) and the field names of the third land survey (三调) that
the models read, as configurable defaults (:class:`SurveyFields`).

The core (``fiveplans``) holds it so the config, the loaders and the models all import it
without importing each other.

>>> SurveyFields().grade
'GDDB'
>>> SurveyFields(grade="ZLDB").land_class
'DLBM'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

__all__ = [
    "CITY_PLANS",
    "CONSTRUCTION_PLANS",
    "CORRIDOR_PLANS",
    "CORRIDOR_QUAD_SEGS",
    "CORRIDOR_WIDTH_COLUMN",
    "LEGEND_COLUMNS",
    "LEGEND_VALUES",
    "LINE_TYPES",
    "OPTIONAL_KEYS",
    "PLAN_KEYS",
    "PROTECTION_PLANS",
    "REQUIRED_KEYS",
    "REQUIRED_ONE_OF",
    "SOURCE_KEYS",
    "USE_VALUES",
    "ZONES",
    "CorridorStrips",
    "SurveyFields",
    "corridor_strips",
    "corridor_widths",
]

#: The five plans (五规), in the order reports show them; ``current`` (现状) is not a plan.
PLAN_KEYS: tuple[str, ...] = ("cluster", "land_use", "urban", "ecology", "infrastructure")
#: Every layer key a pilot can carry, plans first; also the layer names of ``integrated.gpkg``.
SOURCE_KEYS: tuple[str, ...] = (
    *PLAN_KEYS,
    "current",
    "roads",
    "centres",
    "suppliers",
    "clusters",
    "districts",
    "grades",
    "boundary",
)
#: Inputs a run cannot do without (CONTRACT §2), plus one of :data:`REQUIRED_ONE_OF`.
REQUIRED_KEYS: tuple[str, ...] = ("boundary", "land_use")
#: At least one of these plans is required (the zone plan).
REQUIRED_ONE_OF: tuple[str, ...] = ("cluster", "urban")
#: Inputs whose absence skips or reduces a stage (never fatal).
OPTIONAL_KEYS: tuple[str, ...] = tuple(
    k for k in SOURCE_KEYS if k not in REQUIRED_KEYS and k not in REQUIRED_ONE_OF
)

#: Plans whose ``construction`` legend counts as construction land (conflicts, adjustments).
CONSTRUCTION_PLANS: tuple[str, ...] = ("cluster", "urban", "land_use", "infrastructure")
#: The city plans compared with the land-use plan (plan_mismatch, four quadrants, zone plan).
CITY_PLANS: tuple[str, ...] = ("cluster", "urban")
#: Plans whose construction land is checked against infrastructure corridors.
CORRIDOR_PLANS: tuple[str, ...] = ("cluster", "urban", "land_use")
#: Plans whose ``basic_farmland`` and ``ecological`` legends count as protected land (every
#: plan; the current survey records land cover, not protection).
PROTECTION_PLANS: tuple[str, ...] = ("cluster", "urban", "land_use", "ecology", "infrastructure")

#: Columns every loaded feature carries (CONTRACT §3).
LEGEND_COLUMNS: tuple[str, ...] = ("source_id", "source_code", "legend", "use")
#: Values of the ``legend`` column (CONTRACT §3).
LEGEND_VALUES: tuple[str, ...] = (
    "basic_farmland",
    "farmland",
    "construction",
    "ecological",
    "water",
    "forest",
    "grassland",
    "other",
)
#: Values of the ``use`` column of construction land (CONTRACT §3).
USE_VALUES: tuple[str, ...] = (
    "industrial",
    "logistics",
    "residential",
    "public",
    "commercial",
    "transport",
    "utilities",
    "green",
    "other",
)

#: The zones that partition the planning boundary (CONTRACT §5), in order.
ZONES: tuple[str, ...] = ("built", "development", "control")

#: Geometry types of infrastructure corridors (lines).
LINE_TYPES: tuple[str, ...] = ("LineString", "MultiLineString", "LinearRing")
#: The one per-line column that overrides the code table's corridor width (total width, m).
CORRIDOR_WIDTH_COLUMN = "corridor_width_m"
#: Segments per quarter circle of the strips' round ends and bends (GEOS's usual 16; the
#: conflicts and the adjustments once drew the same strips with 8 and 16).
CORRIDOR_QUAD_SEGS = 16


@dataclass(frozen=True)
class SurveyFields:
    """Field names of the current land-use survey (三调 DLTB) that the models read.

    Parameters
    ----------
    land_class
        The GB/T 21010 land class code (地类编码). The models prefer the layer's configured
        classification result (``source_code``, ``legend``) and read this column only when a
        layer has no ``source_code``.
    grade
        The cultivated-land quality grade (耕地质量等别, 1 best … 15 worst); a pilot names
        another with ``grade_field:``, or joins a ``grades:`` layer into this column.
    """

    land_class: str = "DLBM"
    grade: str = "GDDB"

    def __post_init__(self) -> None:
        for name in ("land_class", "grade"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                from fiveplans.errors import ConfigError

                raise ConfigError(
                    f"SurveyFields.{name} = {value!r} 不是字段名 — is not a column name. "
                    f"解决 Fix: pass the column's name, e.g. SurveyFields({name}='…')"
                )


def corridor_widths(
    lines: pd.DataFrame, default_widths: Mapping[str, float] | pd.Series
) -> np.ndarray:
    """The total protection width (m) of each infrastructure line; NaN where none is known.

    The width of a line's code in ``default_widths`` (the infrastructure code table's
    ``corridor_width_m``), overridden by a positive value in the line's own
    :data:`CORRIDOR_WIDTH_COLUMN` column.

    Parameters
    ----------
    lines
        Rows with ``source_code`` and optionally :data:`CORRIDOR_WIDTH_COLUMN`.
    default_widths
        Code → total width in metres.

    Returns
    -------
    numpy.ndarray
        One float per row; NaN (or not positive) where no width is known.
    """
    table = dict(default_widths.items())
    codes = (
        lines["source_code"]
        if "source_code" in lines.columns
        else pd.Series(None, index=lines.index)
    )
    width = np.array(
        [np.nan if pd.isna(c) else table.get(str(c), np.nan) for c in codes], dtype=float
    )
    if CORRIDOR_WIDTH_COLUMN in lines.columns:
        own = pd.to_numeric(lines[CORRIDOR_WIDTH_COLUMN], errors="coerce").to_numpy(float)
        width = np.where(np.isfinite(own) & (own > 0), own, width)
    return width


@dataclass(frozen=True)
class CorridorStrips:
    """Protection strips of infrastructure lines: ``strips[k]`` belongs to row ``rows[k]``.

    ``missing`` holds the row positions of lines with no known width (not checked).
    """

    strips: np.ndarray
    rows: np.ndarray
    widths: np.ndarray
    missing: np.ndarray


def corridor_strips(
    layer: pd.DataFrame, default_widths: Mapping[str, float] | pd.Series
) -> CorridorStrips:
    """The corridor rule (走廊控制宽度): each line of ``layer`` buffered by half its width
    (round ends, :data:`CORRIDOR_QUAD_SEGS` segments per quarter circle).

    Parameters
    ----------
    layer
        The infrastructure plan (a GeoDataFrame; only its line features count).
    default_widths
        Code → total width in metres (see :func:`corridor_widths`).

    Returns
    -------
    CorridorStrips
        The strips (polygons, not yet cleaned) and the positions of their rows in ``layer``.
    """
    geoms = np.asarray(layer.geometry.to_numpy(), dtype=object)
    is_line = np.isin(shapely.get_type_id(geoms), (1, 2, 5)) if len(geoms) else np.zeros(0, bool)
    line_rows = np.flatnonzero(is_line)
    width = corridor_widths(layer.iloc[line_rows], default_widths)
    ok = np.isfinite(width) & (width > 0)
    rows = line_rows[ok]
    strips = shapely.buffer(geoms[rows], width[ok] / 2.0, quad_segs=CORRIDOR_QUAD_SEGS)
    return CorridorStrips(
        np.asarray(strips, dtype=object).reshape(-1), rows, width[ok], line_rows[~ok]
    )
