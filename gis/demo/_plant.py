"""The planted geometry of the demo pilot, in the working CRS EPSG:4547.

Everything areal is built from one planar partition ("atoms"): the road grid's reservation
edges, parcel subdivisions, the zone boundary, the river's water and red-line edges, villages
and a few patches are noded together and polygonized once. Every polygon of every layer is a
union of atoms, so layers share edges exactly and plans differ by whole parcels or blocks.

The grid is laid out in a local frame (u, v) rotated by :data:`THETA_DEG` about the Ye Xian
county seat: 400 m cells, arterials (40 m reservations) every 800 m, secondary roads (24 m)
between. Cells are indexed ``(i, j)`` from the south-west corner ``(U0, V0)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, box

from fiveplans.demo import _names as nm

__all__ = ["Frame", "Plant", "plant"]

SEED = 20090601
THETA_DEG = 3.0
CELL = 400.0
U0 = -3200.0
V0 = -3200.0
NI = 28
NJ = 22
ART_HW = 20.0
SEC_HW = 12.0
WATER_HW = 45.0
BELT_M = 200.0
WORK_CRS = "EPSG:4547"

Cell = tuple[int, int]


def _cells(i0: int, i1: int, j0: int, j1: int) -> set[Cell]:
    return {(i, j) for i in range(i0, i1) for j in range(j0, j1)}


BOUNDARY_CELLS: set[Cell] = (
    (_cells(12, 24, 2, 17) - _cells(22, 24, 2, 4) - _cells(12, 14, 15, 17) - _cells(12, 13, 2, 6))
    | _cells(24, 26, 4, 14)
    | _cells(14, 22, 17, 19)
)
CITY_CELLS: set[Cell] = _cells(2, 12, 2, 13)
"""The county seat's part of the central city (the urban plan covers it and the zone)."""
BUILT_CITY_CELLS: set[Cell] = _cells(3, 12, 3, 12)
EXISTING_INDUSTRY_CELLS: set[Cell] = _cells(13, 17, 6, 12)
EXISTING_RESIDENTIAL_CELLS: set[Cell] = {(12, j) for j in range(6, 12)}

# planted conflicts (cells)
FARMLAND_CELLS: tuple[Cell, ...] = ((19, 14), (24, 12), (14, 3))
"""Cluster construction on land-use-plan basic farmland (010)."""
GJZ_CELL: Cell = (14, 17)
"""A bus depot of the infrastructure plan on basic farmland the other plans keep."""
REVERSE_MISMATCH_CELL: Cell = (14, 18)
"""Land-use plan construction (030) that the cluster and urban plans keep as farmland."""
URBAN_ONLY_CELL: Cell = (21, 17)
"""Urban-plan construction on land the cluster and land-use plans keep as farmland."""
USE_MISMATCH: dict[Cell, tuple[str, str]] = {(12, 9): ("B1", "R2"), (15, 3): ("M1", "W1")}
USE_MISMATCH[(22, 11)] = ("W1", "M2")
"""cell: (cluster code, urban code)."""


def hw(line: int) -> float:
    """Half width of the reservation of grid line ``line`` (arterial on even lines)."""
    return ART_HW if line % 2 == 0 else SEC_HW


@dataclass(frozen=True)
class Frame:
    """The rotated local grid frame: ``(u, v)`` metres about the county seat ``(x0, y0)``."""

    x0: float
    y0: float
    theta: float = math.radians(THETA_DEG)

    def to_xy(self, u: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
        """Local grid coordinates to EPSG:4547."""
        c, s = math.cos(self.theta), math.sin(self.theta)
        u = np.asarray(u, dtype="float64")
        v = np.asarray(v, dtype="float64")
        return self.x0 + u * c - v * s, self.y0 + u * s + v * c

    def to_uv(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """EPSG:4547 to local grid coordinates."""
        c, s = math.cos(self.theta), math.sin(self.theta)
        dx = np.asarray(x, dtype="float64") - self.x0
        dy = np.asarray(y, dtype="float64") - self.y0
        return dx * c + dy * s, -dx * s + dy * c

    def geom(self, g: Any) -> Any:
        """A shapely geometry given in (u, v) as EPSG:4547."""

        def f(coords: np.ndarray) -> np.ndarray:
            x, y = self.to_xy(coords[:, 0], coords[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(g, f)


@dataclass
class Seeds:
    """The shipped seeds, projected to EPSG:4547."""

    places: pd.DataFrame
    river: LineString
    townships: dict[str, str]


def load_seeds() -> Seeds:
    """Read the seeds shipped in ``fiveplans.demo/seeds`` (never the shared data folder)."""
    root = resources.files("fiveplans.demo") / "seeds"
    to_m = Transformer.from_crs("EPSG:4326", WORK_CRS, always_xy=True)
    doc = json.loads((root / "places.geojson").read_text(encoding="utf-8"))
    rows = []
    for f in doc["features"]:
        lon, lat = f["geometry"]["coordinates"]
        x, y = to_m.transform(lon, lat)
        rows.append({**f["properties"], "lon": lon, "lat": lat, "x": x, "y": y})
    places = pd.DataFrame(rows)
    rdoc = json.loads((root / "river.geojson").read_text(encoding="utf-8"))
    coords = np.asarray(rdoc["features"][0]["geometry"]["coordinates"], dtype="float64")
    rx, ry = to_m.transform(coords[:, 0], coords[:, 1])
    river = LineString(np.column_stack([rx, ry]))
    townships: dict[str, str] = {}
    for line in (root / "townships.csv").read_text(encoding="utf-8").splitlines()[1:]:
        code, name = line.split(",")[:2]
        townships[name] = code
    return Seeds(places=places, river=river, townships=townships)


@dataclass
class Plant:
    """Everything planted, in EPSG:4547 (see :func:`plant`)."""

    frame: Frame
    seeds: Seeds
    atoms: pd.DataFrame
    extras: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- geometry helpers


def _blob(rng: np.random.Generator, cx: float, cy: float, r: float, n: int = 11) -> Polygon:
    """An irregular star-shaped polygon about (cx, cy) with mean radius r (in u, v)."""
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.85, 1.12, n)
    return Polygon(np.column_stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)]))


def _split_patterns(rng: np.random.Generator) -> dict[Cell, tuple[int, list[float]]]:
    """Per block: split axis (0: cuts at u positions, 1: at v positions) and cut positions
    as fractions of the block width."""
    out: dict[Cell, tuple[int, list[float]]] = {}
    for i in range(NI):
        for j in range(NJ):
            n = int(rng.choice([1, 2, 2, 3, 3, 4]))
            axis = int(rng.integers(2))
            base = np.arange(1, n) / n
            cuts = sorted(float(c) for c in base + rng.uniform(-0.06, 0.06, n - 1))
            out[(i, j)] = (axis, cuts)
    for c in [(20, 9), (16, 13), (25, 8), (3, 8), (6, 6), (8, 9), GJZ_CELL]:
        out[c] = (0, [0.3, 0.65])  # facility blocks: a ~2.5-4.5 ha first parcel
    return out


def _block_box(i: int, j: int) -> tuple[float, float, float, float]:
    """The block of cell (i, j) inside the road reservations, in (u, v)."""
    return (
        U0 + CELL * i + hw(i),
        V0 + CELL * j + hw(j),
        U0 + CELL * (i + 1) - hw(i + 1),
        V0 + CELL * (j + 1) - hw(j + 1),
    )


def _cell_poly(cells: Iterable[Cell]) -> Polygon:
    """Union of cells at road centerlines, in (u, v)."""
    boxes = [
        box(U0 + CELL * i, V0 + CELL * j, U0 + CELL * (i + 1), V0 + CELL * (j + 1))
        for i, j in sorted(cells)
    ]
    return shapely.union_all(boxes)


# --------------------------------------------------------------------------- the partition


def _linework(fr: Frame, rng: np.random.Generator, seeds: Seeds, ex: dict[str, Any]) -> list:
    umax, vmax = U0 + CELL * NI, V0 + CELL * NJ
    lines: list[Any] = [box(U0, V0, umax, vmax).exterior]
    for a in range(NI + 1):
        for sgn in (-1, 1):
            u = U0 + CELL * a + sgn * hw(a)
            if U0 < u < umax:
                lines.append(LineString([(u, V0 - 1), (u, vmax + 1)]))
    for b in range(NJ + 1):
        for sgn in (-1, 1):
            v = V0 + CELL * b + sgn * hw(b)
            if V0 < v < vmax:
                lines.append(LineString([(U0 - 1, v), (umax + 1, v)]))
    for (i, j), (axis, cuts) in ex["splits"].items():
        u0, v0, u1, v1 = _block_box(i, j)
        for c in cuts:
            if axis == 0:
                u = u0 + c * (u1 - u0)
                lines.append(LineString([(u, v0 - 1), (u, v1 + 1)]))
            else:
                v = v0 + c * (v1 - v0)
                lines.append(LineString([(u0 - 1, v), (u1 + 1, v)]))
    uv_lines = [fr.geom(g) for g in lines]
    xy_extra = [
        ex["boundary_uv_xy"].exterior,
        ex["city_xy"].exterior,
        ex["water_xy"].boundary,
        ex["belt_outer_xy"].boundary,
        ex["wsz_xy"].boundary,
        ex["wsclc_xy"].exterior,
        ex["forest_xy"].exterior,
        ex["ybstkj_xy"].exterior,
        ex["stld_xy"].exterior,
        *[v.exterior for v in ex["villages_xy"]],
    ]
    return uv_lines + xy_extra


def _setup(fr: Frame, rng: np.random.Generator, seeds: Seeds) -> dict[str, Any]:
    ex: dict[str, Any] = {}
    ex["splits"] = _split_patterns(rng)
    umax, vmax = U0 + CELL * NI, V0 + CELL * NJ
    extent_uv = box(U0, V0, umax, vmax)
    ex["extent_xy"] = fr.geom(extent_uv)
    ex["boundary_uv_xy"] = fr.geom(_cell_poly(BOUNDARY_CELLS))
    ex["city_xy"] = fr.geom(_cell_poly(CITY_CELLS))
    river = shapely.intersection(seeds.river, ex["extent_xy"].buffer(3000))
    ex["river_xy"] = river
    water = river.buffer(WATER_HW, quad_segs=8)
    belt_outer = river.buffer(WATER_HW + BELT_M, quad_segs=8)
    ex["water_xy"] = water
    ex["belt_outer_xy"] = belt_outer
    # drinking-water source zone upstream (west) of the county seat
    ru, rv = fr.to_uv(*np.asarray(river.coords).T)
    k = int(np.argmin(np.abs(ru - (-2650.0))))
    intake = river.interpolate(river.project(Point(*fr.to_xy(ru[k], rv[k]))))
    ex["intake_xy"] = intake
    ex["wsz_xy"] = shapely.difference(intake.buffer(560.0, quad_segs=16), belt_outer)
    # waste-water plant inside the red-line belt, on the zone's bank
    ex["wsclc_xy"] = _wsclc_site(fr, river)
    ex["forest_xy"] = fr.geom(_blob(rng, 6900.0, 4480.0, 300.0))
    ex["ybstkj_xy"] = fr.geom(_blob(rng, 6950.0, -2680.0, 240.0))
    ex["stld_xy"] = shapely.difference(fr.geom(box(7560.0, V0 - 1, 7640.0, vmax + 1)), belt_outer)
    ex["villages_xy"] = []
    return ex


def _wsclc_site(fr: Frame, river: LineString) -> Polygon:
    """A 160 m x 100 m plant 100-200 m from the river centre line, inside the zone's belt."""
    boundary = fr.geom(_cell_poly(BOUNDARY_CELLS))
    best = None
    for s in np.arange(0.0, river.length, 50.0):
        p = river.interpolate(s)
        q = river.interpolate(min(s + 1.0, river.length))
        t = np.array([q.x - p.x, q.y - p.y])
        t /= np.linalg.norm(t)
        for side in (1.0, -1.0):
            n = np.array([-t[1], t[0]]) * side
            c = np.array([p.x, p.y]) + n * 150.0
            corners = [
                c + a * t * 80.0 + b * n * 50.0 for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1))
            ]
            poly = Polygon(corners)
            ok = boundary.buffer(-50.0).contains(poly) and river.distance(poly) > WATER_HW + 40.0
            far = max(river.distance(Point(*xy)) for xy in corners)
            if ok and far < WATER_HW + BELT_M - 30.0:
                u, _v = fr.to_uv(c[0], c[1])
                if best is None or float(u) < best[0]:
                    best = (float(u), poly)
    if best is None:  # the layout constants guarantee a site; keep a clear message if not
        raise RuntimeError("demo generator: no site for the waste-water plant in the belt")
    return best[1]


def _atoms(fr: Frame, rng: np.random.Generator, seeds: Seeds, ex: dict[str, Any]) -> pd.DataFrame:
    lines = _linework(fr, rng, seeds, ex)
    noded = shapely.union_all(lines)
    polys = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    polys = polys[shapely.area(polys) > 0]
    polys = polys[
        shapely.contains_xy(
            ex["extent_xy"], *shapely.get_coordinates(shapely.point_on_surface(polys)).T
        )
    ]
    rp = shapely.point_on_surface(polys)
    px, py = shapely.get_coordinates(rp).T
    u, v = fr.to_uv(px, py)
    df = pd.DataFrame({"geometry": polys, "x": px, "y": py, "u": u, "v": v})
    flags = {
        "water": ex["water_xy"],
        "belt": ex["belt_outer_xy"],
        "wsz": ex["wsz_xy"],
        "wsclc": ex["wsclc_xy"],
        "forest": ex["forest_xy"],
        "ybstkj": ex["ybstkj_xy"],
        "stld": ex["stld_xy"],
        "in_boundary": ex["boundary_uv_xy"],
        "in_city": ex["city_xy"],
    }
    for name, g in flags.items():
        shapely.prepare(g)
        df[name] = shapely.contains_xy(g, px, py)
    df["belt"] &= ~df["water"]
    df["village"] = -1
    for k, g in enumerate(ex["villages_xy"]):
        df.loc[shapely.contains_xy(g, px, py), "village"] = k
    # grid position
    a = np.rint((u - U0) / CELL).astype(int)
    b = np.rint((v - V0) / CELL).astype(int)
    hwa = np.where(a % 2 == 0, ART_HW, SEC_HW)
    hwb = np.where(b % 2 == 0, ART_HW, SEC_HW)
    on_u = np.abs(u - (U0 + CELL * a)) < hwa  # a road running along v (constant u)
    on_v = np.abs(v - (V0 + CELL * b)) < hwb
    i = np.clip(np.floor((u - U0) / CELL).astype(int), 0, NI - 1)
    j = np.clip(np.floor((v - V0) / CELL).astype(int), 0, NJ - 1)
    df["i"], df["j"] = i, j
    own_u = on_u & (~on_v | (hwa >= hwb))
    own_v = on_v & ~own_u
    df["road"] = ""
    df.loc[own_u, "road"] = [f"U{aa}-{jj}" for aa, jj in zip(a[own_u], j[own_u], strict=True)]
    df.loc[own_v, "road"] = [f"V{bb}-{ii}" for bb, ii in zip(b[own_v], i[own_v], strict=True)]
    df["arterial"] = (own_u & (a % 2 == 0)) | (own_v & (b % 2 == 0))
    touching: list[tuple[Cell, ...]] = []
    for k in range(len(df)):
        if own_u[k]:
            cand = [(a[k] - 1, j[k]), (a[k], j[k])]
        elif own_v[k]:
            cand = [(i[k], b[k] - 1), (i[k], b[k])]
        else:
            cand = [(i[k], j[k])]
        touching.append(tuple(c for c in cand if 0 <= c[0] < NI and 0 <= c[1] < NJ))
    df["touch"] = touching
    # parcel index within the block
    parcel = np.zeros(len(df), dtype=int)
    for k in np.flatnonzero(df["road"].to_numpy() == ""):
        axis, cuts = ex["splits"][(int(i[k]), int(j[k]))]
        bu0, bv0, bu1, bv1 = _block_box(int(i[k]), int(j[k]))
        f = (u[k] - bu0) / (bu1 - bu0) if axis == 0 else (v[k] - bv0) / (bv1 - bv0)
        parcel[k] = int(np.searchsorted(np.asarray(cuts), f))
    df["p"] = parcel
    # kind by precedence
    kind = np.where(df["road"] != "", "road", "block").astype(object)
    for name in ["stld", "village", "ybstkj", "forest", "wsz", "belt", "wsclc", "water"]:
        mask = df[name] >= 0 if name == "village" else df[name]
        if name == "stld":
            mask = mask & (kind == "block")
        kind = np.where(mask, name, kind)
    df["kind"] = kind
    df["eco"] = df["belt"] | df["wsz"] | df["stld"] | df["ybstkj"] | df["forest"]
    # towns
    north = _north_region(ex)
    shapely.prepare(north)
    nmask = shapely.contains_xy(north, px, py)
    town = np.where(
        nmask, "九龙街道", np.where(u < 1600, "昆阳街道", np.where(v >= 400, "盐都街道", "任店镇"))
    )
    df["town"] = town
    df["area"] = shapely.area(df["geometry"].to_numpy())
    return df.reset_index(drop=True)


def _north_region(ex: dict[str, Any]) -> Polygon:
    """The part of the extent on the far (north-west) side of the river."""
    from shapely.ops import split

    pieces = shapely.get_parts(split(ex["extent_xy"], ex["river_xy"]))
    # the NW corner of the extent lies north of the river
    corner = Point(*np.asarray(ex["extent_xy"].exterior.coords)[2])  # box(): SE, NE, NW, SW
    dist = [p.distance(corner) for p in pieces]
    return pieces[int(np.argmin(dist))]


# --------------------------------------------------------------------------- the plans


def _village_sites(rng: np.random.Generator, fr: Frame, ex: dict[str, Any], cl: dict) -> None:
    """Scatter 2-8 ha villages in blocks: in rural cells, and in zone cells planned for
    construction in every plan (villages to be relocated)."""
    ok_cells = []
    for i in range(NI):
        for j in range(NJ):
            c = (i, j)
            if c in CITY_CELLS or c in EXISTING_INDUSTRY_CELLS or c in EXISTING_RESIDENTIAL_CELLS:
                continue
            if c in BOUNDARY_CELLS and (cl.get(c) in (None, "E2") or c in USE_MISMATCH):
                continue
            if c in FARMLAND_CELLS or c in (GJZ_CELL, REVERSE_MISMATCH_CELL, URBAN_ONLY_CELL):
                continue
            ok_cells.append(c)
    order = rng.permutation(len(ok_cells))
    avoid = shapely.union_all(
        [ex["belt_outer_xy"], ex["wsz_xy"], ex["forest_xy"], ex["ybstkj_xy"], ex["stld_xy"]]
    ).buffer(30.0)
    used: set[Cell] = set()
    sites = []
    for k in order:
        c = ok_cells[int(k)]
        if any(abs(c[0] - d[0]) <= 1 and abs(c[1] - d[1]) <= 1 for d in used):
            continue
        u0, v0, u1, v1 = _block_box(*c)
        cu = (u0 + u1) / 2 + rng.uniform(-12, 12)
        cv = (v0 + v1) / 2 + rng.uniform(-12, 12)
        r = float(rng.uniform(90.0, 140.0))
        blob = _blob(rng, cu, cv, r)
        if not 21_000.0 < blob.area < 75_000.0:  # villages of 2-8 ha
            continue
        if not box(u0 + 4, v0 + 4, u1 - 4, v1 - 4).contains(blob):
            continue
        g = fr.geom(blob)
        if g.intersects(avoid):
            continue
        used.add(c)
        sites.append(g)
        if len(sites) >= 26:
            break
    ex["villages_xy"] = sites
    ex["village_cells"] = sorted(used)


def _cluster_cells(
    rng: np.random.Generator,
) -> tuple[dict[Cell, str], dict[tuple[int, int, int], str]]:
    """Cell and parcel codes of the cluster plan (产业集聚区总体规划), inside the boundary."""
    cc: dict[Cell, str] = {c: "M2" for c in BOUNDARY_CELLS}
    for c in _cells(18, 22, 2, 8):
        cc[c] = "M3"
    for c in _cells(17, 18, 2, 8):
        cc[c] = "G2"
    for c in _cells(13, 17, 2, 6):
        cc[c] = "M1"
    for c in sorted(EXISTING_INDUSTRY_CELLS):
        cc[c] = str(rng.choice(["M1", "M2", "M2"]))
    for j in range(6, 15):
        cc[(12, j)] = "R2"
    cc[(12, 12)] = "A33"
    cc[(12, 14)] = "G1"
    for c in _cells(24, 26, 4, 14) | _cells(22, 24, 10, 14):
        cc[c] = "W1"
    cc[(15, 13)] = "G1"
    for c in _cells(14, 22, 17, 19):
        cc[c] = "E2"
    for c in _cells(14, 22, 14, 17) & BOUNDARY_CELLS:
        cc[c] = str(rng.choice(["M1", "M2"]))
    for c, (code, _) in USE_MISMATCH.items():
        cc[c] = code
    cc = {c: code for c, code in cc.items() if c in BOUNDARY_CELLS}
    parcels = {(20, 9, 0): "U12", (16, 13, 0): "U31", (12, 10, 0): "B1"}
    return cc, parcels


def _urban_cells(
    rng: np.random.Generator, cc: dict[Cell, str]
) -> tuple[dict[Cell, str], dict[tuple[int, int, int], str]]:
    """Cell and parcel codes of the urban master plan (城市总体规划): the county seat and zone."""
    uc: dict[Cell, str] = dict(cc)
    for c, (_, code) in USE_MISMATCH.items():
        uc[c] = code
    uc[URBAN_ONLY_CELL] = "M1"
    for c in sorted(CITY_CELLS):
        uc[c] = str(rng.choice(["R2", "R2", "R2", "R2", "B1", "A1", "G1", "M1"]))
    for c in sorted(CITY_CELLS - BUILT_CITY_CELLS):
        if rng.random() < 0.3:
            uc[c] = "E2"
    parcels = {
        (20, 9, 0): "U12",
        (16, 13, 0): "U31",
        (12, 10, 0): "B1",
        (3, 8, 0): "U11",
        (6, 6, 0): "A33",
        (8, 9, 0): "A51",
    }
    for c in [(3, 8), (6, 6), (8, 9)]:
        uc[c] = "R2"
    return uc, parcels


def _landuse_cells(rng: np.random.Generator, cc: dict[Cell, str]) -> dict[Cell, str]:
    """Cell codes of the land-use master plan (土地利用总体规划, 土地用途区)."""
    lc: dict[Cell, str] = {}
    for i in range(NI):
        for j in range(NJ):
            c = (i, j)
            if c in BOUNDARY_CELLS:
                lc[c] = "030" if nm.GB50137[cc[c]][1] == "construction" else "020"
            elif c in CITY_CELLS:
                lc[c] = "030"
            else:
                lc[c] = "020" if rng.random() < 0.25 else "010"
    for c in _cells(14, 22, 17, 19):
        lc[c] = "010" if (c[0] + c[1]) % 3 else "020"
    for c in FARMLAND_CELLS:
        lc[c] = "010"
    lc[GJZ_CELL] = "010"
    lc[REVERSE_MISMATCH_CELL] = "030"
    lc[URBAN_ONLY_CELL] = "020"
    lc[(1, 16)] = "050"  # an independent mine outside the zone (独立工矿区)
    return lc


def _constr(scheme: dict[str, tuple[str, str, str | None]], code: str | None) -> bool:
    return code is not None and scheme[code][1] == "construction"


def _plan_codes(
    df: pd.DataFrame,
    cells: dict[Cell, str],
    parcels: dict[tuple[int, int, int], str],
    *,
    scheme: dict[str, tuple[str, str, str | None]],
    road_code: str,
    water_code: str,
    eco_code: str,
    eco_plant: set[int],
    extent: str,
) -> np.ndarray:
    """The code of every atom in one plan (None where the plan does not cover it)."""
    out = np.full(len(df), None, dtype=object)
    for k, row in enumerate(df.itertuples(index=False)):
        if extent == "boundary" and not row.in_boundary:
            continue
        if extent == "urban" and not (row.in_boundary or row.in_city):
            continue
        key = (row.i, row.j, row.p)
        if row.water:
            out[k] = water_code
        elif row.eco and k not in eco_plant:
            out[k] = eco_code
        elif row.road:
            codes = [cells.get(c) for c in row.touch]
            if any(_constr(scheme, c) for c in codes):
                out[k] = road_code
            else:
                known = [c for c in codes if c is not None]
                # between kept farmland and basic farmland, a planned road verge is farmland
                out[k] = "020" if "020" in known else (known[0] if known else eco_code)
        else:
            out[k] = parcels.get(key, cells.get((row.i, row.j)))
    return out


def plant() -> Plant:
    """Plant the whole demo pilot (deterministic)."""
    rng = np.random.default_rng(SEED)
    seeds = load_seeds()
    ye = seeds.places.loc[seeds.places["name"] == "Ye Xian"].iloc[0]
    fr = Frame(float(ye["x"]), float(ye["y"]))
    ex = _setup(fr, rng, seeds)
    cc, cparcels = _cluster_cells(rng)
    _village_sites(rng, fr, ex, cc)
    df = _atoms(fr, rng, seeds, ex)
    uc, uparcels = _urban_cells(rng, cc)
    lc = _landuse_cells(rng, cc)
    # the ecology plant: the cluster block with the most red-line belt inside the boundary
    eco_plant = _eco_plant_parcels(df, cc)
    df["cluster"] = _plan_codes(
        df, cc, cparcels, scheme=nm.GB50137, road_code="S1", water_code="E1",
        eco_code="E2", eco_plant=eco_plant, extent="boundary",
    )  # fmt: skip
    df["urban"] = _plan_codes(
        df, uc, uparcels, scheme=nm.GB50137, road_code="S1", water_code="E1",
        eco_code="E2", eco_plant=eco_plant, extent="urban",
    )  # fmt: skip
    lu = _plan_codes(
        df, lc, {}, scheme=nm.TDYTQ, road_code="030", water_code="070",
        eco_code="070", eco_plant=set(), extent="all",
    )  # fmt: skip
    lu = np.where(df["forest"], "090", lu)
    lu = np.where(df["stld"] & ~df["belt"] & ~df["water"], "020", lu)
    lu = np.where(df["ybstkj"], "020", lu)
    village_rural = (df["village"] >= 0) & ~df["in_boundary"]
    lu = np.where(village_rural, "040", lu)
    df["land_use"] = lu
    p = Plant(frame=fr, seeds=seeds, atoms=df)
    p.extras = ex
    p.extras["cells"] = {"cluster": cc, "urban": uc, "land_use": lc}
    p.extras["eco_plant"] = sorted(eco_plant)
    return p


def _eco_plant_parcels(df: pd.DataFrame, cc: dict[Cell, str]) -> set[int]:
    """Atoms of the red-line part of one parcel that the cluster and urban plans zone as
    construction: the parcel whose belt part is one polygon of 1.5-4.5 ha, largest first."""
    sel = df[df["belt"] & df["in_boundary"] & (df["road"] == "") & ~df["wsz"]]
    sel = sel[[nm.GB50137.get(cc.get((i, j), "E2"), ("", ""))[1] == "construction"
               for i, j in zip(sel["i"], sel["j"], strict=True)]]  # fmt: skip
    if sel.empty:
        raise RuntimeError("demo generator: no block touches the red-line belt")
    best: tuple[float, list[int]] | None = None
    for _key, grp in sel.groupby(["i", "j", "p"], sort=True):
        parts = shapely.get_parts(shapely.coverage_union_all(grp["geometry"].to_numpy()))
        if len(parts) != 1 or not 15_000 < parts[0].area < 45_000 or grp["wsclc"].any():
            continue
        if best is None or parts[0].area > best[0]:
            best = (parts[0].area, [int(x) for x in grp.index])
    if best is None:
        raise RuntimeError("demo generator: no parcel for the red-line intrusion")
    return set(best[1])
