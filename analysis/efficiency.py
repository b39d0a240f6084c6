"""Low-efficiency industrial land (低效工业用地) against the 2008 control indicators.

Each existing industrial parcel (current land use 0601 工业用地) is checked against the
industrial project land control indicators (工业项目建设用地控制指标, 国土资发〔2008〕24号):

=================== ======================================== ============================
check               rule                                     default field (unit)
=================== ======================================== ============================
``far``             floor-area ratio ≥ minimum of the        ``RJL`` (ratio), industry
                    GB/T 4754-2002 two-digit industry          from ``HYDM``
``coverage``        building coverage (建筑系数) ≥ 30 %       ``JZXS`` (%)
``green``           green ratio (绿地率) ≤ 20 %               ``LDL`` (%)
``admin``           admin/living land share ≤ 7 %            ``XZBL`` (%)
``investment``      investment intensity ≥ ``investment_min``  ``TZQD`` (万元/亩)
``output``          output intensity ≥ ``output_min``         ``CCQD`` (万元/亩)
=================== ======================================== ============================

The thresholds come from ``analysis/data/industrial_indicators_2008.csv`` (with sources) or
a user table of the same columns (e.g. a later edition). Investment and output intensity
depend on the region class and land grade (附表1 of the 2008 document, not transcribed): they
are checked only when the user supplies ``investment_min`` / ``output_min``.

A check that cannot be made is never a silent pass: a missing column or an unsupplied
threshold skips that check for every parcel (logged, and listed in ``attrs["skipped"]``); a
missing value or an industry without a minimum skips it for that parcel (listed in the
parcel's ``unchecked``), and a parcel that failed nothing but could not be fully checked
gets ``redevelopment_candidate`` = <NA>, not False.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from importlib import resources
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from fiveplans.errors import ConfigError, DataError

__all__ = [
    "CHECKS",
    "DEFAULT_FIELDS",
    "industrial_efficiency",
    "load_indicators",
]

logger = logging.getLogger(__name__)

CHECKS = ("far", "coverage", "green", "admin", "investment", "output")
"""The checks, in output order."""

LABELS = {
    "far": "容积率 floor-area ratio",
    "coverage": "建筑系数 building coverage",
    "green": "绿地率 green ratio",
    "admin": "行政办公及生活服务设施用地比重 admin/living share",
    "investment": "投资强度 investment intensity",
    "output": "产出强度 output intensity",
}

DEFAULT_FIELDS: dict[str, str] = {
    "code": "DLBM",
    "name": "QYMC",
    "industry": "HYDM",
    "far": "RJL",
    "coverage": "JZXS",
    "green": "LDL",
    "admin": "XZBL",
    "investment": "TZQD",
    "output": "CCQD",
}
"""Attribute names of the current land-use survey (三调-style) read by default."""

INDUSTRIAL_CODE = "0601"
_GENERAL = {"building_coverage": "coverage", "green_ratio": "green", "admin_share": "admin"}
_COLUMNS = ("indicator", "hydm", "op", "value")


def load_indicators(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The control indicator table (the shipped 2008 edition, or ``path``).

    Parameters
    ----------
    path
        A CSV with columns ``indicator`` (``floor_area_ratio``, ``building_coverage``,
        ``green_ratio``, ``admin_share``), ``hydm`` (two-digit industry code, ``*`` for all),
        ``op`` (``>=`` or ``<=``) and ``value``; ``None`` reads the shipped table.

    Returns
    -------
    pandas.DataFrame
        The table, ``hydm`` as two-digit strings.

    Raises
    ------
    DataError
        The file lacks a column or has a bad row.
    """
    if path is None:
        ref = resources.files("fiveplans.analysis") / "data" / "industrial_indicators_2008.csv"
        with resources.as_file(ref) as p:
            table = pd.read_csv(p, dtype={"hydm": str}, encoding="utf-8")
        where = "the shipped industrial_indicators_2008.csv"
    else:
        table = pd.read_csv(path, dtype={"hydm": str}, encoding="utf-8")
        where = str(path)
    return _check_table(table, where)


def _check_table(table: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"indicator table {where} lacks column(s) {', '.join(missing)}: it needs "
            f"{', '.join(_COLUMNS)} (see analysis/data/industrial_indicators_2008.csv)"
        )
    out = table.copy()
    out["hydm"] = out["hydm"].astype(str).str.strip()
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    bad = out["value"].isna() | ~out["op"].isin([">=", "<="])
    bad |= ~out["indicator"].isin(["floor_area_ratio", *_GENERAL])
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(
            f"indicator table {where}, row {row + 2}: indicator must be floor_area_ratio, "
            "building_coverage, green_ratio or admin_share, op >= or <=, value a number; "
            "fix that row"
        )
    return out


def _industry_code(value: Any) -> str | None:
    """The GB/T 4754 two-digit division of an industry code (``'1310'`` → ``'13'``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value).strip()
    if len(s) < 2 or not s[:2].isdigit():
        return None
    return s[:2]


def _threshold(name: str, value: Any) -> float | dict[str, float] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            code = _industry_code(k)
            if code is None:
                raise ConfigError(
                    f"{name}: key {k!r} is not a GB/T 4754 industry code: key the table by "
                    "two-digit codes such as '13'"
                )
            out[code] = _positive(f"{name}[{k!r}]", v)
        return out
    return _positive(name, value)


def _positive(name: str, v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} = {v!r} is not a number: pass 万元/亩 (> 0)") from None
    if isinstance(v, bool) or not math.isfinite(x) or x <= 0 or x > 1e6:
        raise ConfigError(f"{name} = {v!r} is out of range: pass 万元/亩 in (0, 1e6]")
    return x


def _numeric(df: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(df[col], errors="coerce").astype("Float64")


def industrial_efficiency(
    current: gpd.GeoDataFrame,
    *,
    indicators: pd.DataFrame | str | os.PathLike[str] | None = None,
    investment_min: float | Mapping[str, float] | None = None,
    output_min: float | Mapping[str, float] | None = None,
    fields: Mapping[str, str] | None = None,
    zones: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Check existing industrial parcels against the control indicators.

    Parameters
    ----------
    current
        The current land-use layer (现状) with the attributes named in ``fields``.
    indicators
        The indicator table (DataFrame or CSV path, columns as in :func:`load_indicators`);
        ``None`` uses the shipped 2008 table.
    investment_min, output_min
        Minimum investment / output intensity in 万元/亩: one number, or a mapping of
        two-digit industry code to number. ``None`` skips that check (reported).
    fields
        Attribute names overriding :data:`DEFAULT_FIELDS` (keys ``code``, ``name``,
        ``industry``, ``far``, ``coverage``, ``green``, ``admin``, ``investment``,
        ``output``). Coverage, green and admin values are percentages.
    zones
        Optional zones table of :func:`fiveplans.analysis.assign_zones`: only parcels whose
        representative point lies in the built zone are checked.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per industrial parcel (``source_id`` and enterprise name/industry when
        present, ``hydm2`` the two-digit GB/T 4754 division), per check the value, the threshold (``far_min`` …) and ``fail_<check>``
        (True/False, <NA> when not checked), ``failed`` (bilingual labels of failed checks,
        ``; ``-separated), ``n_failed``, ``unchecked`` (checks not made for that parcel),
        ``redevelopment_candidate`` (二次开发: True when any check failed, <NA> when none
        failed but some could not be made, else False). ``attrs["skipped"]`` maps each check
        skipped for every parcel to the reason.

    Raises
    ------
    DataError
        No code column to find industrial parcels, or a bad indicator table.
    ConfigError
        A threshold out of range or an unknown ``fields`` key.
    """
    f = dict(DEFAULT_FIELDS)
    if fields:
        unknown = sorted(set(fields) - set(DEFAULT_FIELDS))
        if unknown:
            raise ConfigError(
                f"fields: unknown key(s) {', '.join(unknown)}: use {', '.join(DEFAULT_FIELDS)}"
            )
        f.update(fields)
    inv = _threshold("investment_min", investment_min)
    outp = _threshold("output_min", output_min)
    if isinstance(indicators, pd.DataFrame):
        table = _check_table(indicators, "(indicators DataFrame)")
    else:
        table = load_indicators(indicators)

    code_col = f["code"] if f["code"] in current.columns else "source_code"
    if code_col not in current.columns:
        raise DataError(
            f"the current layer has neither {f['code']!r} nor 'source_code': industrial "
            "parcels (0601 工业用地) are found by their GB/T 21010 code; pass "
            "fields={'code': <your code column>}"
        )
    codes = current[code_col].astype(str).str.strip()
    ind = current.loc[codes.str.startswith(INDUSTRIAL_CODE)].copy()
    if zones is not None and "zone" not in zones.columns:
        raise DataError(
            "the zones table has no 'zone' column: pass the table of "
            "fiveplans.analysis.assign_zones"
        )
    if zones is not None and len(ind):
        built = zones[zones["zone"] == "built"]
        if built.crs is not None and ind.crs is not None and built.crs != ind.crs:
            built = built.to_crs(ind.crs)
        geom = shapely.union_all(built.geometry.to_numpy()) if len(built) else shapely.Polygon()
        shapely.prepare(geom)
        rp = shapely.point_on_surface(ind.geometry.to_numpy())
        ind = ind.loc[shapely.contains(geom, rp)]

    skipped: dict[str, str] = {}
    out = gpd.GeoDataFrame(index=ind.index, geometry=ind.geometry, crs=current.crs)
    for col in ("source_id", f["name"], f["industry"]):
        if col in ind.columns:
            out[col] = ind[col]
    division = (
        ind[f["industry"]].map(_industry_code)
        if f["industry"] in ind.columns
        else pd.Series(None, index=ind.index, dtype=object)
    )
    out["hydm2"] = division.astype(object)

    far_min = {
        str(r.hydm): float(r.value)
        for r in table[table["indicator"] == "floor_area_ratio"].itertuples(index=False)
    }
    general = {}
    for indicator, check in _GENERAL.items():
        rows = table[(table["indicator"] == indicator) & (table["hydm"] == "*")]
        if len(rows):
            general[check] = (str(rows["op"].iloc[0]), float(rows["value"].iloc[0]))
        else:
            skipped[check] = f"the indicator table has no '{indicator}' row for all industries"

    fails: dict[str, pd.Series] = {}
    not_requested: set[str] = set()

    def compare(check: str, values: pd.Series, limit: pd.Series, op: str) -> None:
        out[check] = values
        out[f"{check}_{'min' if op == '>=' else 'max'}"] = limit
        res = values < limit if op == ">=" else values > limit
        res = res.astype("boolean")
        res[values.isna() | limit.isna()] = pd.NA
        fails[check] = res

    def column(check: str) -> pd.Series | None:
        if check in skipped:
            return None
        col = f[check]
        if col not in ind.columns:
            skipped[check] = f"the current layer has no column {col!r}"
            return None
        return _numeric(ind, col)

    if (v := column("far")) is not None:
        if f["industry"] not in ind.columns:
            skipped["far"] = f"the current layer has no industry column {f['industry']!r}"
        else:
            lim = division.map(far_min).astype("Float64")
            compare("far", v, lim, ">=")
    for check in ("coverage", "green", "admin"):
        if (v := column(check)) is not None:
            op, val = general[check]
            compare(check, v, pd.Series(val, index=ind.index, dtype="Float64"), op)
    for check, thr, arg in (
        ("investment", inv, "investment_min"),
        ("output", outp, "output_min"),
    ):
        if thr is None:
            skipped[check] = f"no threshold given ({arg}=None): pass 万元/亩 to check it"
            not_requested.add(check)
            continue
        if (v := column(check)) is None:
            continue
        if isinstance(thr, dict):
            lim = division.map(thr).astype("Float64")
        else:
            lim = pd.Series(thr, index=ind.index, dtype="Float64")
        compare(check, v, lim, ">=")

    for check in CHECKS:
        out[f"fail_{check}"] = fails.get(check, pd.Series(pd.NA, index=ind.index, dtype="boolean"))
    failed, unchecked, n_failed, candidate = [], [], [], []
    run = [c for c in CHECKS if c in fails]
    for idx in ind.index:
        verdict = {c: fails[c].loc[idx] for c in run}
        miss = [c for c in run if verdict[c] is pd.NA]
        bad = [c for c in run if verdict[c] is not pd.NA and bool(verdict[c])]
        failed.append("; ".join(LABELS[c] for c in bad))
        unchecked.append(", ".join([*miss, *[c for c in CHECKS if c in skipped]]))
        n_failed.append(len(bad))
        incomplete = bool(miss) or any(c not in not_requested for c in skipped)
        candidate.append(True if bad else (pd.NA if incomplete else False))
    out["failed"] = failed
    out["n_failed"] = pd.Series(n_failed, index=ind.index, dtype="int64")
    out["unchecked"] = unchecked
    out["redevelopment_candidate"] = pd.array(candidate, dtype="boolean")
    out["area_m2"] = ind.geometry.area
    out = out[[c for c in out.columns if c != "geometry"] + ["geometry"]]
    out.attrs["skipped"] = dict(skipped)
    for check, why in skipped.items():
        logger.warning("low-efficiency check %s skipped: %s", LABELS[check], why)
    logger.info(
        "%d industrial parcel(s): %d redevelopment candidate(s), %d not fully checked",
        len(out),
        int(out["redevelopment_candidate"].fillna(False).sum()),
        int(out["redevelopment_candidate"].isna().sum()),
    )
    return out.reset_index(drop=True)
