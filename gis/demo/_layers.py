"""The demo pilot's layers as planted, in EPSG:4547, with their delivered attributes.

Every areal layer is a dissolve of the shared atoms (:mod:`fiveplans.demo._plant`), so the
layers share edges exactly.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point

from fiveplans.demo import _names as nm
from fiveplans.demo._plant import (
    BUILT_CITY_CELLS,
    EXISTING_INDUSTRY_CELLS,
    EXISTING_RESIDENTIAL_CELLS,
    GJZ_CELL,
    WORK_CRS,
    Plant,
    _block_box,
)

__all__ = ["build_layers"]

_RJL = {"M1": 1.2, "M2": 1.0, "M3": 0.8, "W1": 0.8, "R2": 2.0, "B1": 2.5, "A1": 1.5,
        "A33": 0.8, "A51": 1.5, "U11": 0.4, "U12": 0.4, "U21": 0.4, "U31": 0.8, "S41": 0.3}  # fmt: skip
_HYDM = {"13": 1.0, "14": 1.0, "26": 0.6, "27": 0.7, "31": 0.7, "35": 0.7, "36": 0.7, "39": 0.7}
"""GB/T 4754-2002 two-digit industry codes used and their 2008 minimum floor-area ratios."""
_HY_INDUSTRY = {"13": "食品加工", "14": "食品加工", "26": "盐化工", "27": "盐化工",
                "31": "装备制造", "35": "装备制造", "36": "装备制造", "39": "装备制造"}  # fmt: skip


def _group_key(row: Any, *, villages: bool) -> tuple:
    if row.water:
        return ("W", row.i // 2, row.j // 2)
    if row.kind == "village" and villages:
        return ("V", row.village)
    if row.kind in ("belt", "wsz", "wsclc", "forest", "ybstkj"):
        return ("X", row.kind, row.i, row.j)
    if row.road:
        return ("R", row.road)
    return ("P", row.i, row.j, row.p)


def _dissolve(atoms: pd.DataFrame, codes: np.ndarray, keys: list[tuple]) -> pd.DataFrame:
    """Union atoms by (code, key); one row per polygon part, sorted stably."""
    df = pd.DataFrame({"code": codes, "key": keys, "geometry": atoms["geometry"].to_numpy()})
    df = df[df["code"].notna()]
    rows = []
    for (code, key), grp in df.groupby(["code", "key"], sort=True):
        geom = shapely.coverage_union_all(grp["geometry"].to_numpy())
        for part in shapely.get_parts(geom):
            if part.geom_type == "Polygon" and part.area > 0:
                rows.append({"code": code, "key": key, "geometry": shapely.normalize(part)})
    out = pd.DataFrame(rows)
    rp = shapely.point_on_surface(out["geometry"].to_numpy())
    xy = shapely.get_coordinates(rp)
    out["_y"] = -np.round(xy[:, 1], 3)
    out["_x"] = np.round(xy[:, 0], 3)
    return out.sort_values(["_y", "_x", "code"]).drop(columns=["_y", "_x"]).reset_index(drop=True)


def _gdf(df: pd.DataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(df, geometry="geometry", crs=WORK_CRS)


def _legend(
    gdf: pd.DataFrame, scheme: dict[str, tuple[str, str, str | None]], col: str
) -> pd.DataFrame:
    gdf["source_code"] = gdf[col]
    gdf["legend"] = [scheme[c][1] for c in gdf[col]]
    gdf["use"] = [scheme[c][2] for c in gdf[col]]
    return gdf


def build_layers(p: Plant) -> dict[str, gpd.GeoDataFrame]:
    """All planted layers (truth geometry, EPSG:4547) with delivered and legend attributes."""
    rng = np.random.default_rng(7)
    a = p.atoms
    keys = [_group_key(r, villages=False) for r in a.itertuples(index=False)]
    out: dict[str, gpd.GeoDataFrame] = {}

    b = shapely.coverage_union_all(a.loc[a["in_boundary"], "geometry"].to_numpy())
    out["boundary"] = _gdf(pd.DataFrame({"name": ["叶县示范产业集聚区"], "geometry": [b]}))
    out["boundary"]["source_code"] = None
    out["boundary"]["legend"] = "other"
    out["boundary"]["use"] = None
    out["boundary"]["truth_id"] = out["boundary"]["name"]

    # cluster plan (产业集聚区总体规划), FileGDB YDGH
    cl = _dissolve(a, a["cluster"].to_numpy(), keys)
    cl["DKBH"] = [f"YD{k + 1:04d}" for k in range(len(cl))]
    cl["YDDM"] = cl["code"]
    cl["YDMC"] = [nm.GB50137[c][0] for c in cl["code"]]
    cl["RJL"] = [round(_RJL.get(c, 0.0) + float(rng.uniform(-0.1, 0.2)) * (c in _RJL), 2)
                 for c in cl["code"]]  # fmt: skip
    cl = _legend(cl, nm.GB50137, "YDDM")
    cl["truth_id"] = cl["DKBH"]
    out["cluster"] = _gdf(cl.drop(columns=["code", "key"]))

    # urban master plan (城市总体规划), DXF; truth_id is set by the DXF writer (entity handle)
    ur = _dissolve(a, a["urban"].to_numpy(), keys)
    ur["Layer"] = ur["code"]
    ur["YDMC"] = [nm.GB50137[c][0] for c in ur["code"]]
    ur = _legend(ur, nm.GB50137, "Layer")
    out["urban"] = _gdf(ur.drop(columns=["code", "key"]))

    # land-use master plan (土地利用总体规划): zones dissolved per township
    lkeys = list(a["town"])
    lu = _dissolve(a, a["land_use"].to_numpy(), lkeys)
    lu["BSM"] = np.arange(1, len(lu) + 1, dtype="int64")
    lu["TDYTQLXDM"] = lu["code"]
    lu["TDYTQMC"] = [nm.TDYTQ[c][0] for c in lu["code"]]
    lu["XZQMC"] = lu["key"]
    lu["MJ"] = np.round(shapely.area(lu["geometry"].to_numpy()), 2)
    lu = _legend(lu, nm.TDYTQ, "TDYTQLXDM")
    lu["truth_id"] = lu["BSM"]
    out["land_use"] = _gdf(lu.drop(columns=["code", "key"]))

    out["ecology"] = _ecology(a)
    out["infrastructure"] = _infrastructure(p)
    out["current"] = _current(p, rng)
    out["districts"] = _districts(p)
    out["clusters"] = _cores(p)
    return out


def _ecology(a: pd.DataFrame) -> gpd.GeoDataFrame:
    parts = [
        ("HLSM", a["water"], "河流水面（叶县段）"),
        ("STBHHX", a["belt"], "河流生态保护红线"),
        ("YYSBH", a["wsz"], "县城饮用水水源保护区"),
        ("STLD", a["stld"] & ~a["belt"] & ~a["water"], "东部生态廊道"),
        ("YBSTKJ", a["ybstkj"], "坑塘湿地一般生态空间"),
        ("GYL", a["forest"], "公益林"),
    ]
    rows = []
    for code, mask, name in parts:
        geom = shapely.coverage_union_all(a.loc[mask, "geometry"].to_numpy())
        for k, part in enumerate(sorted(shapely.get_parts(geom), key=lambda g: -g.area)):
            rows.append({"id": f"{code}-{k + 1}", "type": code, "name": name,
                         "geometry": shapely.normalize(part)})  # fmt: skip
    eco = pd.DataFrame(rows)
    eco = _legend(eco, nm.ECO_NAMES, "type")
    eco["truth_id"] = eco["id"]
    return _gdf(eco)


def _parcel(a: pd.DataFrame, i: int, j: int, p: int) -> Any:
    sel = a[(a["i"] == i) & (a["j"] == j) & (a["p"] == p) & (a["road"] == "")]
    sel = sel[~sel["water"] & ~sel["eco"]]
    return shapely.normalize(shapely.coverage_union_all(sel["geometry"].to_numpy()))


def _infrastructure(p: Plant) -> gpd.GeoDataFrame:
    a, fr, ex = p.atoms, p.frame, p.extras
    fac = [
        ("BDZ", "集聚区220kV变电站", _parcel(a, 20, 9, 0)),
        ("XFZ", "集聚区消防站", _parcel(a, 16, 13, 0)),
        ("WLZX", "叶县公铁物流中心", _parcel(a, 25, 8, 0)),
        ("GJZ", "集聚区北公交场站", _parcel(a, *GJZ_CELL, 0)),
        ("WSCLC", "集聚区污水处理厂", shapely.normalize(shapely.coverage_union_all(
            a.loc[a["wsclc"], "geometry"].to_numpy()))),
        ("SC", "叶县第二水厂", _parcel(a, 3, 8, 0)),
        ("XX", "昆阳第三中学", _parcel(a, 6, 6, 0)),
        ("YY", "叶县人民医院新院区", _parcel(a, 8, 9, 0)),
    ]  # fmt: skip
    bdz = fac[0][2].representative_point()
    bu, bv = fr.to_uv(bdz.x, bdz.y)
    lines = [
        ("DL220", "220kV叶南—集聚区线", LineString(
            np.column_stack(fr.to_xy([9800.0, 7300.0, float(bu)], [-5200.0, -2000.0, float(bv)])))),
        ("DL500", "500kV姚孟—周口线", LineString(
            np.column_stack(fr.to_xy([-5600.0, -5400.0, -5700.0], [-9000.0, 1000.0, 11000.0])))),
        ("DL110", "110kV城南线", LineString(
            np.column_stack(fr.to_xy([-1000.0, -900.0, -1400.0], [-1200.0, -4000.0, -9000.0])))),
        ("RQGD", "西气东输平顶山支线", LineString(
            np.column_stack(fr.to_xy([-9000.0, 2000.0, 12000.0], [-2860.0, -2880.0, -2950.0])))),
        ("TL", "漯宝铁路", LineString(
            np.column_stack(fr.to_xy([-20000.0, 0.0, 24000.0], [-4600.0, -4300.0, -5200.0])))),
        ("GSGL", "宁洛高速", ex["motorway_xy"]),
    ]  # fmt: skip
    rows = [
        {"layer": "corridor", "id": f"{k}-{n + 1}", "kind": k, "name": name, "geometry": g}
        for n, (k, name, g) in enumerate(lines)
    ] + [
        {"layer": "facility", "id": f"{k}-{n + 1}", "kind": k, "name": name, "geometry": g}
        for n, (k, name, g) in enumerate(fac)
    ]
    df = pd.DataFrame(rows)
    df = _legend(df, nm.INFRA_NAMES, "kind")
    df["width_m"] = [nm.INFRA_WIDTH_M.get(k) for k in df["kind"]]
    df["truth_id"] = df["id"]
    return _gdf(df)


def _current_code(row: Any, rng: np.random.Generator, urban_code: str | None) -> str:
    cell = (row.i, row.j)
    if row.water:
        return "1101"
    if row.kind == "village":
        return "0702"
    if row.kind in ("belt", "wsz", "wsclc"):
        return "0301" if (row.i + 2 * row.j) % 3 else "0404"
    if row.kind == "forest":
        return "0301"
    if row.kind == "ybstkj":
        return "0305"
    touch_built = any(
        c in BUILT_CITY_CELLS or c in EXISTING_INDUSTRY_CELLS or c in EXISTING_RESIDENTIAL_CELLS
        for c in row.touch
    )
    if row.road:
        if touch_built:
            return "1004"
        return "1003" if row.arterial else "1006"
    if row.kind == "stld":
        return "0301"
    if cell in BUILT_CITY_CELLS:
        m = {"R2": "0701", "B1": "0505", "A1": "0801", "A33": "0803", "A51": "0805",
             "U11": "0809", "U12": "0809", "G1": "0810", "M1": "0601", "E2": "0103"}  # fmt: skip
        return m.get(urban_code or "R2", "0701")
    if cell in EXISTING_INDUSTRY_CELLS:
        return "0601" if (row.p + row.i + row.j) % 7 else "0809"
    if cell in EXISTING_RESIDENTIAL_CELLS:
        return "0701"
    return str(rng.choice(["0103", "0103", "0103", "0102", "0102", "0101", "0201"]))


def _current(p: Plant, rng: np.random.Generator) -> gpd.GeoDataFrame:
    a = p.atoms
    keys = [_group_key(r, villages=True) for r in a.itertuples(index=False)]
    # one random farmland code per parcel (not per atom)
    parcel_code: dict[tuple, str] = {}
    codes = []
    for r, key in zip(a.itertuples(index=False), keys, strict=True):
        if key not in parcel_code:
            parcel_code[key] = _current_code(r, rng, r.urban)
        codes.append(parcel_code[key])
    cur = _dissolve(a, np.asarray(codes, dtype=object), keys)
    area = shapely.area(cur["geometry"].to_numpy())
    small_farm = cur["code"].str.startswith(("01", "02")) & (area < 5000.0)
    cur.loc[small_farm, "code"] = "1104"
    big_farm = cur["code"].str.startswith("01") & (area > 200_000.0)
    if big_farm.any():  # cannot happen with 400 m blocks; keep the promise explicit
        raise RuntimeError("demo generator: a farmland patch exceeds 20 ha")
    n = len(cur)
    cur["BSM"] = np.arange(1, n + 1, dtype="int64")
    cur["DLBM"] = cur["code"]
    cur["DLMC"] = [nm.GBT21010[c][0] for c in cur["code"]]
    # 坐落单位: the nearest village
    vnames = nm.village_names(np.random.default_rng(11), len(p.extras["villages_xy"]))
    vcent = shapely.centroid(np.asarray(p.extras["villages_xy"], dtype=object))
    rp = shapely.point_on_surface(cur["geometry"].to_numpy())
    dist = shapely.distance(rp[:, None], vcent[None, :])
    nearest = np.argmin(dist, axis=1)
    cu, cv = p.frame.to_uv(*shapely.get_coordinates(rp).T)
    cur["ZLDWMC"] = [
        "昆阳街道城关社区" if u < 1600 and -2400 <= v < 2000 else vnames[k]
        for k, u, v in zip(nearest, cu, cv, strict=True)
    ]
    # 耕地质量等别 (1 best .. 15), Henan plains 6-10, with a gentle west-east trend
    grade = np.clip(np.rint(8.0 + 1.3 * np.sin(cu / 2500.0) + rng.normal(0, 0.8, n)), 5, 11)
    cur["GDDB"] = pd.array(
        [int(g) if c.startswith("01") else None for g, c in zip(grade, cur["code"], strict=True)],
        dtype="Int64",
    )
    _industry_attributes(cur, cu, cv, rng)
    cur = _legend(cur, nm.GBT21010, "DLBM")
    cur["truth_id"] = cur["BSM"]
    return _gdf(cur.drop(columns=["code", "key"]))


def _industry_attributes(
    cur: pd.DataFrame, cu: np.ndarray, cv: np.ndarray, rng: np.random.Generator
) -> None:
    """Enterprise indicators on existing industrial parcels (0601); about a third fall below
    the 2008 control indicators (工业项目建设用地控制指标)."""
    ind = np.flatnonzero(cur["code"].to_numpy() == "0601")
    cols = {c: pd.array([None] * len(cur), dtype=t) for c, t in
            [("QYMC", "string"), ("HYDM", "string"), ("RJL", "Float64"), ("JZXS", "Float64"),
             ("LDL", "Float64"), ("XZBL", "Float64"), ("TZQD", "Float64"),
             ("CCQD", "Float64")]}  # fmt: skip
    seen: set[str] = set()
    for n, k in enumerate(ind):
        hy = str(rng.choice(sorted(_HYDM)))
        fmin = _HYDM[hy]
        bad = n % 3 == 1
        rjl = fmin + float(rng.uniform(0.05, 0.6))
        jzxs = float(rng.uniform(32, 55))
        ldl = float(rng.uniform(8, 18))
        xzbl = float(rng.uniform(3, 6.8))
        if bad:
            which = n % 4
            if which == 0:
                rjl = fmin * float(rng.uniform(0.4, 0.9))
            elif which == 1:
                jzxs = float(rng.uniform(15, 28))
            elif which == 2:
                xzbl = float(rng.uniform(8, 15))
            else:
                ldl = float(rng.uniform(22, 30))
                rjl = fmin * float(rng.uniform(0.5, 0.9))
        cols["QYMC"][k] = nm.firm_name(rng, _HY_INDUSTRY[hy], seen)
        cols["HYDM"][k] = hy
        cols["RJL"][k] = round(rjl, 2)
        cols["JZXS"][k] = round(jzxs, 1)
        cols["LDL"][k] = round(ldl, 1)
        cols["XZBL"][k] = round(xzbl, 1)
        cols["TZQD"][k] = round(float(rng.uniform(80, 260)) * (0.6 if bad else 1.0), 1)
        cols["CCQD"][k] = round(float(rng.uniform(120, 420)) * (0.6 if bad else 1.0), 1)
    for c, arr in cols.items():
        cur[c] = arr


def _districts(p: Plant) -> gpd.GeoDataFrame:
    a = p.atoms
    rows = []
    for town, grp in a.groupby("town", sort=True):
        geom = shapely.coverage_union_all(grp["geometry"].to_numpy())
        rows.append({"name": town, "code": p.seeds.townships[town],
                     "geometry": shapely.normalize(geom)})  # fmt: skip
    df = pd.DataFrame(rows)
    df["source_code"] = df["code"]
    df["legend"] = "other"
    df["use"] = None
    df["truth_id"] = df["name"]
    return _gdf(df)


def _cores(p: Plant) -> gpd.GeoDataFrame:
    fr = p.frame
    spec = [
        ("盐化工产业园", "盐化工", (20, 4)),
        ("装备制造产业园", "装备制造", (19, 11)),
        ("食品加工产业园", "食品加工", (16, 4)),
        ("现代物流园", "现代物流", (25, 9)),
    ]
    rows = []
    for name, industry, (i, j) in spec:
        u0, v0, u1, v1 = _block_box(i, j)
        x, y = fr.to_xy((u0 + u1) / 2, (v0 + v1) / 2)
        rows.append({"name": name, "industry": industry, "geometry": Point(float(x), float(y))})
    df = pd.DataFrame(rows)
    df["source_code"] = df["industry"]
    df["legend"] = "other"
    df["use"] = None
    df["truth_id"] = df["name"]
    return _gdf(df)
