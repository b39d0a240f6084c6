"""The demo pilot's road network (an osmnx-like edge table), centres and supplier firms.

The network is noded by node ids only: a motorway carriageway passes over the 311 national road
on a bridge without a shared node (the planted grade-separated crossing).
"""

from __future__ import annotations

import itertools
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point
from shapely.ops import substring

from fiveplans.demo import _names as nm
from fiveplans.demo._plant import (
    BOUNDARY_CELLS,
    CELL,
    CITY_CELLS,
    NI,
    NJ,
    U0,
    V0,
    WORK_CRS,
    Plant,
)

__all__ = ["build_network"]

_CARRIAGE_OFFSET = 12.0
_BRIDGE_HALF = 80.0


class _Net:
    """Accumulates nodes (by exact coordinate) and edges."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[float, float], int] = {}
        self.edges: list[dict[str, Any]] = []

    def node(self, xy: tuple[float, float]) -> int:
        key = (round(float(xy[0]), 3), round(float(xy[1]), 3))
        if key not in self.nodes:
            self.nodes[key] = 1_000_001 + len(self.nodes)
        return self.nodes[key]

    def add(self, line: LineString, **attrs: Any) -> None:
        c = np.asarray(line.coords)
        self.edges.append(
            {"u": self.node(tuple(c[0])), "v": self.node(tuple(c[-1])), "geometry": line, **attrs}
        )

    def add_split(self, line: LineString, cuts: list[float], **attrs: Any) -> None:
        """Add ``line`` split at the given distances along it."""
        d = sorted({0.0, line.length, *[float(x) for x in cuts if 0.0 < x < line.length]})
        for a, b in itertools.pairwise(d):
            self.add(substring(line, a, b), **attrs)


def _jitter(rng: np.random.Generator, p0: np.ndarray, p1: np.ndarray, sd: float) -> LineString:
    """A country road from p0 to p1 with three gently displaced intermediate points."""
    d = p1 - p0
    n = np.array([-d[1], d[0]]) / np.linalg.norm(d)
    pts = [p0]
    for t in (0.25, 0.5, 0.75):
        pts.append(p0 + d * t + n * float(rng.normal(0.0, sd)))
    pts.append(p1)
    return LineString(pts)


def _side(line: LineString, s: float, pt: Point) -> float:
    """+1 when ``pt`` lies left of ``line`` at distance ``s``, -1 when right."""
    a = line.interpolate(max(s - 1.0, 0.0))
    b = line.interpolate(min(s + 1.0, line.length))
    return float(np.sign((b.x - a.x) * (pt.y - a.y) - (b.y - a.y) * (pt.x - a.x)))


def build_network(p: Plant) -> dict[str, gpd.GeoDataFrame]:
    """Roads (EPSG:4547 lines), centres and suppliers; sets ``p.extras['motorway_xy']``."""
    rng = np.random.default_rng(31)
    fr = p.frame
    places = p.seeds.places.set_index("name")
    pos = {n: np.array([places.loc[n, "x"], places.loc[n, "y"]]) for n in places.index}
    net = _Net()

    # the zone and county-seat grid (经/纬 roads), arterials across the whole extent
    served = BOUNDARY_CELLS | CITY_CELLS

    def gxy(a: int, b: int) -> np.ndarray:
        x, y = fr.to_xy(U0 + CELL * a, V0 + CELL * b)
        return np.array([float(x), float(y)])

    water = p.extras["water_xy"]
    for a in range(NI + 1):
        for b in range(NJ):
            cells = {(a - 1, b), (a, b)}
            if a % 2 == 1 and not cells & served:
                continue
            _grid_edge(net, gxy(a, b), gxy(a, b + 1), a, "经", cells & served, water)
    for b in range(NJ + 1):
        for a in range(NI):
            cells = {(a, b - 1), (a, b)}
            if b % 2 == 1 and not cells & served:
                continue
            _grid_edge(net, gxy(a, b), gxy(a + 1, b), b, "纬", cells & served, water)

    # regional roads between the grid's edge and the towns
    regional = [
        ("trunk", "311国道", gxy(6, NJ), pos["Pingdingshan"]),
        ("trunk", "平宝公路", pos["Pingdingshan"], pos["Baofeng"]),
        ("primary", "叶襄公路", gxy(NI, NJ), pos["Xiangcheng"]),
        ("primary", "叶舞公路", gxy(NI, 10), pos["Wuyang"]),
        ("primary", "平襄公路", pos["Pingdingshan"], pos["Xiangcheng"]),
        ("secondary", "湛河路", pos["Pingdingshan"], pos["Zhanhe"]),
        ("secondary", "新华路", pos["Pingdingshan"], pos["Xinhua"]),
        ("secondary", "卫东路", pos["Pingdingshan"], pos["Weidong"]),
        ("tertiary", "叶鲁公路", gxy(0, 8), gxy(0, 8) + np.array([-16000.0, 2500.0])),
        ("tertiary", "叶方公路", gxy(8, 0), gxy(8, 0) + np.array([-2500.0, -15000.0])),
    ]
    lines = [(h, n, _jitter(rng, a, b, 250.0 if h != "secondary" else 60.0))
             for h, n, a, b in regional]  # fmt: skip

    # the expressway (宁洛高速) and its interchanges
    mw = LineString(
        [
            pos["Baofeng"] + np.array([1800.0, -2300.0]),
            (-12000.0 + fr.x0, 9500.0 + fr.y0),
            (-2000.0 + fr.x0, 7800.0 + fr.y0),
            (9500.0 + fr.x0, 7300.0 + fr.y0),
            (12800.0 + fr.x0, 2000.0 + fr.y0),
            (14500.0 + fr.x0, -6000.0 + fr.y0),
            pos["Wuyang"] + np.array([-1600.0, 1900.0]),
        ]
    )
    p.extras["motorway_xy"] = mw
    cuts: dict[int, list[float]] = {k: [] for k in range(len(lines))}
    interchanges = []
    bridges = []
    for k, (_h, name, ln) in enumerate(lines):
        x = mw.intersection(ln)
        for pt in shapely.get_parts(x):
            s_mw = mw.project(pt)
            s_ln = ln.project(pt)
            if name in ("叶襄公路", "叶舞公路"):
                interchanges.append((k, s_mw, s_ln))
                cuts[k] += [s_ln - 300.0, s_ln + 300.0]
            bridges.append(s_mw)
    for k, (h, name, ln) in enumerate(lines):
        net.add_split(ln, cuts[k], highway=h, name=name, oneway="no")

    fwd = mw.offset_curve(-_CARRIAGE_OFFSET)  # right-hand traffic: forward on the right
    bwd = mw.offset_curve(_CARRIAGE_OFFSET).reverse()
    ramps: list[tuple[LineString, str]] = []
    fcuts: list[float] = []
    bcuts: list[float] = []
    for s in bridges:
        fs = fwd.project(mw.interpolate(s))
        bs = bwd.project(mw.interpolate(s))
        fcuts += [fs - _BRIDGE_HALF, fs + _BRIDGE_HALF]
        bcuts += [bs - _BRIDGE_HALF, bs + _BRIDGE_HALF]
    for k, s_mw, s_ln in interchanges:
        ln = lines[k][2]
        pa = ln.interpolate(s_ln - 300.0)
        pb = ln.interpolate(s_ln + 300.0)
        right, left = (pa, pb) if _side(mw, s_mw, pa) < 0 else (pb, pa)
        f_off = fwd.project(mw.interpolate(s_mw - 600.0))
        f_on = fwd.project(mw.interpolate(s_mw + 600.0))
        b_off = bwd.project(mw.interpolate(s_mw + 600.0))
        b_on = bwd.project(mw.interpolate(s_mw - 600.0))
        fcuts += [f_off, f_on]
        bcuts += [b_off, b_on]
        ramps += [
            (LineString([fwd.interpolate(f_off), right]), "出口"),
            (LineString([right, fwd.interpolate(f_on)]), "入口"),
            (LineString([bwd.interpolate(b_off), left]), "出口"),
            (LineString([left, bwd.interpolate(b_on)]), "入口"),
        ]
    # the ends: on at the start town, off at the end town (and back)
    bf, wy = Point(pos["Baofeng"]), Point(pos["Wuyang"])
    ramps += [
        (LineString([bf, fwd.interpolate(0.0)]), "宝丰入口"),
        (LineString([bwd.interpolate(bwd.length), bf]), "宝丰出口"),
        (LineString([fwd.interpolate(fwd.length), wy]), "舞阳出口"),
        (LineString([wy, bwd.interpolate(0.0)]), "舞阳入口"),
    ]
    for car, cc in ((fwd, fcuts), (bwd, bcuts)):
        d = sorted({0.0, car.length, *[c for c in cc if 0.0 < c < car.length]})
        for a, b in itertools.pairwise(d):
            mid = car.interpolate((a + b) / 2)
            is_bridge = any(abs(car.project(mw.interpolate(s)) - car.project(mid)) < 1.0
                            for s in bridges)  # fmt: skip
            net.add(
                substring(car, a, b),
                highway="motorway",
                name="宁洛高速",
                oneway="yes",
                bridge="yes" if is_bridge else None,
                layer="1" if is_bridge else None,
            )
    for line, label in ramps:
        net.add(line, highway="motorway_link", name=f"宁洛高速{label}", oneway="yes")

    edges = pd.DataFrame(net.edges)
    edges.insert(0, "osmid", np.arange(200_000_001, 200_000_001 + len(edges), dtype="int64"))
    edges["key"] = 0
    for col in ("bridge", "layer"):
        if col not in edges:
            edges[col] = None
    edges["length"] = np.round(shapely.length(edges["geometry"].to_numpy()), 3)
    edges["source_code"] = edges["highway"]
    edges["legend"] = "other"
    edges["use"] = "transport"
    edges["truth_id"] = edges["osmid"]
    roads = gpd.GeoDataFrame(edges, geometry="geometry", crs=WORK_CRS)

    centres = _centres(p)
    suppliers = _suppliers(p, roads, rng)
    return {"roads": roads, "centres": centres, "suppliers": suppliers}


def _grid_edge(
    net: _Net, p0: np.ndarray, p1: np.ndarray, line: int, prefix: str, served: set, water: Any
) -> None:
    if line % 2 == 0:
        highway = "primary" if line % 4 == 0 else "secondary"
    else:
        highway = "tertiary" if served & BOUNDARY_CELLS else "residential"
    if not served and line % 2 == 0:
        highway = "unclassified"
    geom = LineString([p0, p1])
    bridge = "yes" if geom.intersects(water) else None
    net.add(
        geom,
        highway=highway,
        name=f"{prefix}{line // 2 + 1 if line % 2 == 0 else line}路",
        oneway="no",
        bridge=bridge,
        layer="1" if bridge else None,
    )


def _centres(p: Plant) -> gpd.GeoDataFrame:
    spec = [("Pingdingshan", "平顶山", "city"), ("Ye Xian", "叶县", "county"),
            ("Xiangcheng", "襄城", "county"), ("Wuyang", "舞阳", "county"),
            ("Baofeng", "宝丰", "county")]  # fmt: skip
    places = p.seeds.places.set_index("name")
    rows = [
        {"name": zh, "level": level,
         "geometry": Point(float(places.loc[n, "x"]), float(places.loc[n, "y"]))}
        for n, zh, level in spec
    ]  # fmt: skip
    df = pd.DataFrame(rows)
    df["source_code"] = df["level"]
    df["legend"] = "other"
    df["use"] = None
    df["truth_id"] = df["name"]
    return gpd.GeoDataFrame(df, geometry="geometry", crs=WORK_CRS)


def _suppliers(p: Plant, roads: gpd.GeoDataFrame, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """About 200 firms clustered near the towns, beside non-motorway roads."""
    places = p.seeds.places.set_index("name")
    towns = [("Pingdingshan", 60), ("Ye Xian", 45), ("Xiangcheng", 25), ("Wuyang", 20),
             ("Baofeng", 20), ("Zhanhe", 15), ("Weidong", 15)]  # fmt: skip
    ok = roads[~roads["highway"].str.startswith("motorway")]
    geoms = ok.geometry.to_numpy()
    industries = ["盐化工", "装备制造", "食品加工", "现代物流"]
    seen: set[str] = set()
    rows = []
    for town, n in towns:
        c = Point(float(places.loc[town, "x"]), float(places.loc[town, "y"]))
        d = shapely.distance(geoms, c)
        near = np.flatnonzero(d < 6000.0)
        for _ in range(n):
            g = geoms[int(rng.choice(near))]
            s = float(rng.uniform(0.1, 0.9)) * g.length
            a = g.interpolate(max(s - 1.0, 0.0))
            b = g.interpolate(min(s + 1.0, g.length))
            t = np.array([b.x - a.x, b.y - a.y])
            t /= np.linalg.norm(t)
            off = float(rng.uniform(20.0, 150.0)) * float(rng.choice([-1.0, 1.0]))
            q = g.interpolate(s)
            industry = str(rng.choice(industries, p=[0.3, 0.3, 0.25, 0.15]))
            rows.append({
                "name": nm.firm_name(rng, industry, seen),
                "industry": industry,
                "geometry": Point(q.x - t[1] * off, q.y + t[0] * off),
            })  # fmt: skip
    df = pd.DataFrame(rows)
    df.insert(0, "firm_id", [f"F{k + 1:04d}" for k in range(len(df))])
    df["source_code"] = df["industry"]
    df["legend"] = "other"
    df["use"] = None
    df["truth_id"] = df["firm_id"]
    return gpd.GeoDataFrame(df, geometry="geometry", crs=WORK_CRS)
