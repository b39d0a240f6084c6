"""Tests of fiveplans.analysis.efficiency (低效工业用地 against the 2008 indicators)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from fiveplans.analysis.efficiency import industrial_efficiency, load_indicators
from fiveplans.errors import ConfigError, CRSError, DataError, StageSkipped
from fiveplans.schema import SurveyFields

CRS = "EPSG:4547"

# the 2008 minimum floor-area ratios as listed in the project's reference (standards.md),
# typed here independently of the shipped CSV
REFERENCE_FAR = {
    1.0: "13 14 15 16 18 19 24 30 40 41 42",
    0.8: "17 20 21 22 23 28 29",
    0.7: "27 31 34 35 36 37 39 43",
    0.6: "26 32 33",
    0.5: "25",
}


def parcels() -> gpd.GeoDataFrame:
    """Six parcels; the expected failures are written beside each row."""
    rows = [
        # code, HYDM, RJL, JZXS, LDL, XZBL, TZQD, CCQD
        ("0601", "13", 0.9, 35.0, 10.0, 5.0, 200.0, 300.0),  # far (0.9 < 1.0)
        ("0601", "2610", 0.7, 25.0, 25.0, 8.0, 90.0, 100.0),  # coverage, green, admin (26: 0.6)
        ("0601", "35", 0.75, 30.0, 20.0, 7.0, 150.0, 250.0),  # none (limits are inclusive)
        ("0601", "31", None, 40.0, 10.0, 5.0, 150.0, 250.0),  # far unchecked, nothing failed
        ("0702", "13", 0.1, 1.0, 90.0, 50.0, 1.0, 1.0),  # homestead: not checked at all
        ("0601", "44", 0.1, 40.0, 10.0, 5.0, 150.0, 250.0),  # 44: no floor-area minimum
    ]
    df = pd.DataFrame(rows, columns=["DLBM", "HYDM", "RJL", "JZXS", "LDL", "XZBL", "TZQD", "CCQD"])
    df["source_id"] = [f"P{k}" for k in range(len(df))]
    df["QYMC"] = [f"企业{k}" for k in range(len(df))]
    geoms = [box(k * 100.0, 0.0, k * 100.0 + 80.0, 50.0) for k in range(len(df))]
    return gpd.GeoDataFrame(df, geometry=geoms, crs=CRS)


def test_flags_match_hand_computed_failures() -> None:
    with pytest.warns(StageSkipped) as caught:
        r = industrial_efficiency(parcels()).set_index("source_id")
    stages = sorted(w.message.stage for w in caught if isinstance(w.message, StageSkipped))
    assert stages == ["efficiency.investment", "efficiency.output"]
    assert "investment_min" in next(w.message.fix for w in caught if "investment" in str(w.message))
    assert list(r.index) == ["P0", "P1", "P2", "P3", "P5"]  # the homestead is left out
    assert r.loc["P0", "fail_far"] and r.loc["P0", "n_failed"] == 1
    assert r.loc["P0", "far_min"] == 1.0
    assert r.loc["P1", "far_min"] == 0.6 and not r.loc["P1", "fail_far"]
    assert bool(r.loc["P1", "fail_coverage"]) and bool(r.loc["P1", "fail_green"])
    assert bool(r.loc["P1", "fail_admin"]) and r.loc["P1", "n_failed"] == 3
    assert r.loc["P1", "failed"].split("; ") == [
        "建筑系数 building coverage",
        "绿地率 green ratio",
        "行政办公及生活服务设施用地比重 admin/living share",
    ]
    assert r.loc["P2", "n_failed"] == 0 and r.loc["P2", "redevelopment_candidate"] is np.False_
    # a missing value is never a pass: the parcel is not fully checked
    assert r.loc["P3", "fail_far"] is pd.NA
    assert r.loc["P3", "redevelopment_candidate"] is pd.NA
    assert "far" in r.loc["P3", "unchecked"]
    assert r.loc["P5", "fail_far"] is pd.NA and r.loc["P5", "redevelopment_candidate"] is pd.NA
    assert bool(r.loc["P0", "redevelopment_candidate"]) and bool(
        r.loc["P1", "redevelopment_candidate"]
    )
    # investment and output were not asked for: skipped and said so
    assert set(r.attrs["skipped"]) == {"investment", "output"}
    assert r["fail_investment"].isna().all()
    assert (r["area_m2"] == 4000.0).all()


def test_investment_and_output_thresholds() -> None:
    r = industrial_efficiency(
        parcels(), investment_min=100.0, output_min={"13": 350.0, "26": 50.0, "35": 200.0}
    ).set_index("source_id")
    assert r.attrs["skipped"] == {}
    assert bool(r.loc["P1", "fail_investment"]) and not r.loc["P0", "fail_investment"]
    assert bool(r.loc["P0", "fail_output"])  # 300 < 350
    assert not r.loc["P1", "fail_output"] and not r.loc["P2", "fail_output"]
    assert r.loc["P3", "fail_output"] is pd.NA  # 31 has no output threshold
    assert r.loc["P1", "n_failed"] == 4


def test_missing_column_skips_check_and_says_so() -> None:
    cur = parcels().drop(columns=["LDL"])
    with pytest.warns(StageSkipped, match="efficiency.green.*绿地率.*LDL") as caught:
        r = industrial_efficiency(cur, investment_min=1.0, output_min=1.0)
    assert len(caught) == 1 and "fields={'green'" in caught[0].message.fix
    assert "LDL" in r.attrs["skipped"]["green"]
    assert r["fail_green"].isna().all()
    r = r.set_index("source_id")
    # P2 failed nothing but could not be checked for green: not a pass
    assert r.loc["P2", "redevelopment_candidate"] is pd.NA
    assert bool(r.loc["P1", "redevelopment_candidate"])


@pytest.mark.filterwarnings("ignore::fiveplans.errors.StageSkipped")  # investment, output
def test_zone_filter_keeps_built_parcels() -> None:
    zones = gpd.GeoDataFrame(
        {"zone": ["built", "control"]},
        geometry=[box(-10, -10, 250, 60), box(250, -10, 700, 60)],
        crs=CRS,
    )
    r = industrial_efficiency(parcels(), zones=zones)
    assert r["source_id"].tolist() == ["P0", "P1", "P2"]


def test_shipped_table_matches_the_reference() -> None:
    t = load_indicators()
    far = t[t["indicator"] == "floor_area_ratio"].set_index("hydm")["value"].to_dict()
    expected = {c: v for v, codes in REFERENCE_FAR.items() for c in codes.split()}
    assert far == expected
    general = t[t["hydm"] == "*"].set_index("indicator")
    assert general.loc["building_coverage", ["op", "value"]].tolist() == [">=", 30]
    assert general.loc["green_ratio", ["op", "value"]].tolist() == ["<=", 20]
    assert general.loc["admin_share", ["op", "value"]].tolist() == ["<=", 7]
    assert t["source"].str.contains("2008").all()


@pytest.mark.filterwarnings("ignore::fiveplans.errors.StageSkipped")  # investment, output
def test_user_table_overrides() -> None:
    t = load_indicators()
    t.loc[(t["indicator"] == "floor_area_ratio") & (t["hydm"] == "13"), "value"] = 0.8
    r = industrial_efficiency(parcels(), indicators=t).set_index("source_id")
    assert not r.loc["P0", "fail_far"]


def test_bad_inputs() -> None:
    with pytest.raises(ConfigError, match="investment_min"):
        industrial_efficiency(parcels(), investment_min=-5)
    with pytest.raises(ConfigError, match="output_min"):
        industrial_efficiency(parcels(), output_min={"x1": 5.0})
    with pytest.raises(ConfigError, match="unknown key"):
        industrial_efficiency(parcels(), fields={"ratio": "RJL"})
    with pytest.raises(DataError, match="lacks column"):
        industrial_efficiency(parcels(), indicators=pd.DataFrame({"indicator": ["x"]}))
    with pytest.raises(DataError, match="DLBM"):
        industrial_efficiency(parcels().drop(columns=["DLBM"]))
    with pytest.raises(CRSError, match="'current' is in a geographic CRS"):
        industrial_efficiency(parcels().to_crs(4490))


@pytest.mark.filterwarnings("ignore::fiveplans.errors.StageSkipped")  # investment, output
def test_configured_classification_is_preferred_over_dlbm() -> None:
    cur = parcels()
    cur["source_code"] = cur["DLBM"]
    cur["DLBM"] = "0101"  # a stale survey column: the configured classification wins
    assert len(industrial_efficiency(cur)) == 5
    # a code column named by the caller is read as named
    assert len(industrial_efficiency(cur, fields={"code": "DLBM"})) == 0
    renamed = parcels().rename(columns={"DLBM": "DLDM"})
    assert len(industrial_efficiency(renamed, fields=SurveyFields(land_class="DLDM"))) == 5
