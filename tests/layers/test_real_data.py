"""Loaders on the real public data of the shared folder (Amap boundaries, OSM stations)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyproj
import pytest

from fiveplans.config import SourceConfig
from fiveplans.crs import parse_crs
from fiveplans.layers.loaders import load_layer

WORKING = pyproj.CRS.from_epsg(4547)


# OSM names stations without the 站 suffix: "洛阳" is 洛阳站.
def _stations_in_counties(real_data: Path, county_crs: str | None) -> dict[str, str]:
    henan = real_data / "henan"
    counties = load_layer(
        SourceConfig(
            key="districts",
            path=henan / "admin_amap_gcj02.gpkg",
            layer=("county",),
            crs=parse_crs(county_crs) if county_crs else None,
            id="adcode",
        ),
        working_crs=WORKING,
    ).frame
    stations = load_layer(
        SourceConfig(key="centres", path=henan / "henan_railway_stations_osm.geojson"),
        working_crs=WORKING,
    ).frame
    named = stations[stations["name"].isin(["洛阳", "郑州", "开封", "郑州东"])]
    joined = gpd.sjoin(
        named, counties[["name", "geometry"]], predicate="within", lsuffix="s", rsuffix="c"
    )
    return dict(zip(joined["name_s"], joined["name_c"], strict=True))


def test_amap_boundaries_loaded_as_gcj02_put_stations_in_the_right_counties(
    real_data: Path,
) -> None:
    found = _stations_in_counties(real_data, "gcj02")
    assert found["洛阳"] == "西工区"
    assert found["郑州"] == "二七区"
    assert found["开封"] == "禹王台区"
    assert found["郑州东"] == "金水区"


def test_amap_boundaries_taken_at_their_label_misplace_luoyang_station(real_data: Path) -> None:
    found = _stations_in_counties(real_data, None)
    assert found.get("洛阳") != "西工区"


@pytest.mark.parametrize("layer", ["province", "prefecture"])
def test_amap_layers_load_with_chinese_names(real_data: Path, layer: str) -> None:
    loaded = load_layer(
        SourceConfig(
            key="districts",
            path=real_data / "henan" / "admin_amap_gcj02.gpkg",
            layer=(layer,),
            crs=parse_crs("gcj02"),
        ),
        working_crs=WORKING,
    )
    names = set(loaded.frame["name"])
    assert "河南省" in names or "郑州市" in names
    assert loaded.frame.crs.equals(WORKING)
