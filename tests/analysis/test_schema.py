"""Tests of fiveplans.schema: one definition of each shared name, and the corridor rule."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import fiveplans.config
import fiveplans.layers.loaders
from fiveplans import schema
from fiveplans.errors import ConfigError
from fiveplans.schema import (
    CORRIDOR_WIDTH_COLUMN,
    SurveyFields,
    corridor_strips,
    corridor_widths,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_core_and_the_loaders_import_the_schema() -> None:
    assert fiveplans.config.PLAN_KEYS is schema.PLAN_KEYS
    assert fiveplans.config.SOURCE_KEYS is schema.SOURCE_KEYS
    assert fiveplans.layers.loaders.LEGEND_COLUMNS is schema.LEGEND_COLUMNS
    assert set(schema.REQUIRED_KEYS) | set(schema.REQUIRED_ONE_OF) | set(
        schema.OPTIONAL_KEYS
    ) == set(schema.SOURCE_KEYS)
    assert "current" in schema.OPTIONAL_KEYS and "land_use" not in schema.OPTIONAL_KEYS


@pytest.mark.parametrize(
    "pattern",
    [
        r'\("cluster", "land_use", "urban", "ecology", "infrastructure"\)',  # the plan keys
        r'\("cluster", "urban", "land_use", "infrastructure"\)',  # construction plans
        r'\("source_id", "source_code", "legend", "use"\)',  # legend columns
        r'"corridor_width_m"',  # the per-line corridor width column
    ],
)
def test_each_shared_definition_lives_in_the_schema_only(pattern: str) -> None:
    """The analysis modules, the config and the loaders define none of these themselves."""
    files = [ROOT / "gis" / "config.py", ROOT / "layers" / "loaders.py"]
    files += sorted((ROOT / "analysis").glob("*.py"))
    found = [f.name for f in files if re.search(pattern, f.read_text(encoding="utf-8"))]
    assert found == []
    assert re.search(pattern, (ROOT / "gis" / "schema.py").read_text(encoding="utf-8"))


def test_survey_fields_are_frozen_defaults() -> None:
    f = SurveyFields()
    assert (f.land_class, f.grade) == ("DLBM", "GDDB")
    assert SurveyFields(grade="ZLDB").grade == "ZLDB"
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.grade = "X"  # type: ignore[misc]
    with pytest.raises(ConfigError, match=r"SurveyFields\.grade"):
        SurveyFields(grade=" ")


def lines(rows: list[tuple], *, own: bool) -> gpd.GeoDataFrame:
    cols = ["source_code", "geometry"] + ([CORRIDOR_WIDTH_COLUMN] if own else [])
    data = [(r[0], r[1], *r[2:]) for r in rows]
    return gpd.GeoDataFrame(pd.DataFrame(data, columns=cols), geometry="geometry", crs=4547)


def test_per_line_width_overrides_the_code_table() -> None:
    seg = shapely.LineString([(0, 0), (100, 0)])
    table = {"DL110": 25.0, "DL220": 40.0}
    gdf = lines(
        [
            ("DL110", seg, 10.0),  # the line's own width wins
            ("DL220", seg, None),  # no own width: the table's
            ("DL220", seg, 0.0),  # not a width: the table's
            ("XX", seg, None),  # unknown code, no own width: none
            ("XX", seg, "12"),  # unknown code, own width (text is read as a number)
        ],
        own=True,
    )
    w = corridor_widths(gdf, table)
    np.testing.assert_array_equal(w[[0, 1, 2, 4]], [10.0, 40.0, 40.0, 12.0])
    assert np.isnan(w[3])
    # the old adjustments column name is not a second rule
    other = gdf.rename(columns={CORRIDOR_WIDTH_COLUMN: "width_m"})
    np.testing.assert_array_equal(corridor_widths(other, table)[:3], [25.0, 40.0, 40.0])


def test_corridor_strips_are_lines_buffered_by_half_their_width() -> None:
    seg = shapely.LineString([(0, 0), (100, 0)])
    gdf = lines(
        [("DL110", seg), ("XX", seg), ("DL110", shapely.box(0, 0, 1, 1)), ("DL220", seg)],
        own=False,
    )
    rule = corridor_strips(gdf, {"DL110": 20.0, "DL220": 40.0})
    assert rule.rows.tolist() == [0, 3] and rule.missing.tolist() == [1]  # polygons ignored
    assert rule.widths.tolist() == [20.0, 40.0]
    for strip, w in zip(rule.strips, rule.widths, strict=True):
        # a flat strip of width w plus two round ends (a circle of radius w / 2)
        assert strip.area == pytest.approx(100 * w + np.pi * (w / 2) ** 2, rel=1e-3)
        assert strip.bounds[1] == pytest.approx(-w / 2) and strip.bounds[3] == pytest.approx(w / 2)
