"""Tests of fiveplans.analysis.villages (村庄整体改造: homesteads inside the zone)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from fiveplans.analysis.villages import homesteads, villages_in_zone
from fiveplans.errors import ConfigError, DataError, StageSkipped
from fiveplans.schema import SurveyFields

CRS = "EPSG:4547"


def frame(cols: dict, geoms: list[shapely.Geometry]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame(cols), geometry=geoms, crs=CRS)


def fixture() -> tuple[dict, gpd.GeoDataFrame]:
    """Boundary 0..1000 square; zones: built x<400, development 400..700, control x>700;
    districts: 甲 y<500, 乙 y>=500. Homesteads (0702):
    V1 100x100 in built/甲; V2 built/乙; V3 straddles built (70 %) and development (30 %) in 甲;
    V4 development/乙; V5 half outside the boundary, control/甲 (inside part 5 000 m²);
    V6 outside the boundary; one 0701 urban housing parcel that is not a homestead."""
    cur = frame(
        {
            "source_id": ["V1", "V2", "V3", "V4", "V5", "V6", "U1"],
            "DLBM": ["0702", "0702", "0702", "0702", "0702", "0702", "0701"],
            "legend": ["construction"] * 7,
        },
        [
            box(100, 100, 200, 200),
            box(100, 600, 200, 700),
            box(330, 300, 430, 400),
            box(500, 800, 550, 900),
            box(950, 100, 1050, 200),
            box(1200, 100, 1300, 200),
            box(0, 0, 50, 50),
        ],
    )
    layers = {
        "boundary": frame({"legend": ["other"]}, [box(0, 0, 1000, 1000)]),
        "current": cur,
        "districts": frame({"name": ["甲", "乙"]}, [box(0, 0, 1000, 500), box(0, 500, 1000, 1000)]),
    }
    zones = frame(
        {"zone": ["built", "development", "control"], "area_m2": [4e5, 3e5, 3e5]},
        [box(0, 0, 400, 1000), box(400, 0, 700, 1000), box(700, 0, 1000, 1000)],
    )
    return layers, zones


def test_counts_by_zone_and_district() -> None:
    layers, zones = fixture()
    t = villages_in_zone(layers, zones).set_index(["zone", "district"])
    assert t.loc[("built", "甲"), "count"] == 2  # V1 and V3 (70 % built)
    assert t.loc[("built", "甲"), "area_m2"] == pytest.approx(20_000.0)
    assert t.loc[("built", "乙"), "count"] == 1
    assert t.loc[("built", "合计 total"), "count"] == 3
    assert t.loc[("development", "乙"), "area_m2"] == pytest.approx(5_000.0)
    assert t.loc[("control", "甲"), "area_m2"] == pytest.approx(5_000.0)  # clipped
    total = t.loc[("合计 total", "合计 total")]
    assert total["count"] == 5 and total["area_m2"] == pytest.approx(40_000.0)
    assert total["area_ha"] == pytest.approx(4.0)


def test_homestead_detail_and_no_districts() -> None:
    layers, zones = fixture()
    del layers["districts"]
    h = homesteads(layers, zones).set_index("source_id")
    assert sorted(h.index) == ["V1", "V2", "V3", "V4", "V5"]
    assert h.loc["V3", "zone"] == "built" and h.loc["V4", "zone"] == "development"
    assert set(h["district"]) == {"全区 whole zone"}


def test_bad_inputs() -> None:
    layers, zones = fixture()
    with pytest.raises(ConfigError, match="district_field"):
        villages_in_zone(layers, zones, district_field="NAME")
    with pytest.raises(DataError, match="zone"):
        villages_in_zone(layers, zones.drop(columns=["zone"]))
    no_code = dict(layers, current=layers["current"].drop(columns=["DLBM"]))
    with pytest.raises(DataError, match="0702"):
        villages_in_zone(no_code, zones)


def test_without_current_the_table_is_empty_and_says_so() -> None:
    layers, zones = fixture()
    del layers["current"]
    with pytest.warns(StageSkipped, match="villages.*current") as caught:
        t = villages_in_zone(layers, zones)
    assert "current:" in caught[0].message.fix
    assert t["count"].tolist() == [0] and t["district"].tolist() == ["合计 total"]


def test_configured_classification_is_preferred_over_dlbm() -> None:
    layers, zones = fixture()
    cur = layers["current"].copy()
    cur["source_code"] = cur["DLBM"]
    cur["DLBM"] = "0101"  # a stale survey column: the configured classification wins
    t = villages_in_zone(dict(layers, current=cur), zones)
    assert t.iloc[-1]["count"] == 5
    # without source_code the survey's land class column is read, by its configured name
    cur = layers["current"].rename(columns={"DLBM": "DLDM"})
    with pytest.raises(DataError, match="source_code nor DLBM"):
        villages_in_zone(dict(layers, current=cur), zones)
    t = villages_in_zone(dict(layers, current=cur), zones, fields=SurveyFields(land_class="DLDM"))
    assert t.iloc[-1]["count"] == 5
