"""Loading + harmonising 200,000 polygons vs a bare ``pyogrio.read_dataframe`` + ``to_crs``.

Goal (issue: loaders): fiveplans' load costs at most 3x the bare read and reprojection of the
same GeoPackage. The file is a coverage of 200,000 irregular (Voronoi) parcels over a 22 km square, in CGCS2000 lon/lat (EPSG:4490) with
land-use-plan codes and Chinese names; the working CRS is EPSG:4547. Run:
``python -m benchmarks loaders``.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import shapely

from fiveplans.config import SourceConfig
from fiveplans.crs import parse_crs
from fiveplans.layers.loaders import load_layer

N_POLYGONS = 200_000
CODES = np.array(["010", "020", "030", "040", "050", "070", "090"])
NAMES = np.array(
    [
        "基本农田保护区",
        "一般农地区",
        "城镇建设用地区",
        "村镇建设用地区",
        "独立工矿区",
        "生态环境安全控制区",
        "林业用地区",
    ]
)


def make_file(folder: Path) -> Path:
    rng = np.random.default_rng(7)
    x0, y0, side = 430_000.0, 3_715_000.0, 22_000.0
    frame = shapely.box(x0, y0, x0 + side, y0 + side)
    seeds = shapely.multipoints(rng.uniform((x0, y0), (x0 + side, y0 + side), (N_POLYGONS, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame))
    geoms = shapely.intersection(cells, frame)
    pick = rng.integers(0, len(CODES), len(geoms))
    gdf = gpd.GeoDataFrame(
        {"BSM": np.arange(len(geoms)), "TDYTQLXDM": CODES[pick], "TDYTQMC": NAMES[pick]},
        geometry=geoms,
        crs=4547,
    ).to_crs(4490)
    path = folder / "big.gpkg"
    pyogrio.write_dataframe(gdf, path, layer="TDYTQ")
    return path


def best_of(func, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    working = pyproj.CRS.from_epsg(4547)
    with tempfile.TemporaryDirectory() as tmp:
        path = make_file(Path(tmp))
        src = SourceConfig(
            key="land_use",
            path=path,
            field="TDYTQLXDM",
            scheme="tdytq",
            id="BSM",
            crs=parse_crs("EPSG:4490"),
        )

        def bare() -> None:
            pyogrio.read_dataframe(path).to_crs(working)

        def ours() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                load_layer(src, working_crs=working, reference_lon=114.0)

        n = N_POLYGONS
        t_bare = best_of(bare)
        t_ours = best_of(ours)
        print(f"polygons: {n:,}")
        print(f"bare pyogrio.read_dataframe + to_crs: {t_bare:.2f} s")
        print(
            f"fiveplans load_layer (read, CRS, legend, QA incl. coverage overlaps): {t_ours:.2f} s"
        )
        print(f"ratio: {t_ours / t_bare:.2f}x (goal ≤ 3x)")


if __name__ == "__main__":
    main()
