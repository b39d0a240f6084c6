"""A tiny valid pilot written on the fly, for tests of config, loaders and the CLI."""

from __future__ import annotations

from pathlib import Path


def write_tiny_pilot(folder: Path, **overrides: object) -> Path:
    """Write a tiny valid pilot (boundary, land-use and zone plans) and return its YAML path.

    Geometry in EPSG:4547 near Ye County, Henan: a 1 km square boundary; the land-use plan splits
    it into basic farmland (west) and urban construction (east); the zone plan is industrial over
    the middle, so 0.25 km² of industry lies on basic farmland.
    """
    import geopandas as gpd
    import yaml
    from shapely.geometry import box

    folder.mkdir(parents=True, exist_ok=True)
    x0, y0 = 440_000.0, 3_722_000.0
    gpd.GeoDataFrame(
        {"name": ["示范区"]}, geometry=[box(x0, y0, x0 + 1000, y0 + 1000)], crs="EPSG:4547"
    ).to_file(folder / "boundary.gpkg", layer="boundary")
    gpd.GeoDataFrame(
        {
            "BSM": [1, 2],
            "TDYTQLXDM": ["010", "030"],
            "TDYTQMC": ["基本农田保护区", "城镇建设用地区"],
        },
        geometry=[box(x0, y0, x0 + 500, y0 + 1000), box(x0 + 500, y0, x0 + 1000, y0 + 1000)],
        crs="EPSG:4547",
    ).to_file(folder / "tugui.gpkg", layer="TDYTQ")
    gpd.GeoDataFrame(
        {"DKBH": ["A1", "A2"], "YDDM": ["M1", "G1"], "YDMC": ["一类工业用地", "公园绿地"]},
        geometry=[box(x0 + 250, y0, x0 + 750, y0 + 1000), box(x0 + 750, y0, x0 + 1000, y0 + 1000)],
        crs="EPSG:4547",
    ).to_file(folder / "cluster.gpkg", layer="YDGH")
    doc: dict[str, object] = {
        "name": "小试点",
        "id": "tiny",
        "crs": "EPSG:4547",
        "boundary": "boundary.gpkg",
        "plans": {
            "land_use": {
                "path": "tugui.gpkg",
                "field": "TDYTQLXDM",
                "scheme": "tdytq",
                "id": "BSM",
            },
            "cluster": {"path": "cluster.gpkg", "field": "YDDM", "scheme": "gb50137", "id": "DKBH"},
        },
    }
    doc.update(overrides)
    path = folder / "pilot.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
