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
threshold skips that check for every parcel (a :class:`~fiveplans.errors.StageSkipped`
``efficiency.<check>``, and listed in ``attrs["skipped"]``); a
missing value or an industry without a minimum skips it for that parcel (listed in the
parcel's ``unchecked``), and a parcel that failed nothing but could not be fully checked
gets ``redevelopment_candidate`` = <NA>, not False.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Mapping
from importlib import resources
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from fiveplans.analysis.context import check_crs
from fiveplans.errors import ConfigError, DataError, StageSkipped
from fiveplans.schema import SurveyFields

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
    "code": SurveyFields().land_class,
    "name": "QYMC",
    "industry": "HYDM",
    "far": "RJL",
    "coverage": "JZXS",
    "green": "LDL",
    "admin": "XZBL",
    "investment": "TZQD",
    "output": "CCQD",
}
"""Attribute names of the current land-use survey (三调-style) read by default; industrial
parcels are found by the layer's configured classification (``source_code``) first, by
``code`` when the layer has none or when ``fields`` names it."""

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


def _field_names(fields: Mapping[str, str] | SurveyFields | None) -> tuple[dict[str, str], bool]:
    """The field names to read, and whether the code column was named by the caller."""
    f = dict(DEFAULT_FIELDS)
    if isinstance(fields, SurveyFields):
        f["code"] = fields.land_class
        return f, False
    if fields:
        unknown = sorted(set(fields) - set(DEFAULT_FIELDS))
        if unknown:
            raise ConfigError(
                f"fields: unknown key(s) {', '.join(unknown)}. 解决 Fix: use "
                f"{', '.join(DEFAULT_FIELDS)}"
            )
        f.update(fields)
    return f, fields is not None and "code" in fields


def _industrial_parcels(
    current: gpd.GeoDataFrame,
    f: dict[str, str],
    named: bool,
    zones: gpd.GeoDataFrame | None,
) -> gpd.GeoDataFrame:
    """Stage 1: the industrial parcels (0601), only those in the built zone when given."""
    if named or "source_code" not in current.columns:
        code_col = f["code"] if f["code"] in current.columns else "source_code"
    else:
        code_col = "source_code"
    if code_col not in current.columns:
        raise DataError(
            f"现状图层缺少地类编码 — the current layer has neither {f['code']!r} nor "
            "'source_code': industrial parcels (0601 工业用地) are found by their GB/T 21010 "
            "code. 解决 Fix: pass fields={'code': <your code column>}"
        )
    codes = current[code_col].astype(str).str.strip()
    ind = current.loc[codes.str.startswith(INDUSTRIAL_CODE)].copy()
    if zones is not None and "zone" not in zones.columns:
        raise DataError(
            "分区表缺少 zone 字段 — the zones table has no 'zone' column. 解决 Fix: pass the "
            "table of fiveplans.analysis.assign_zones"
        )
    if zones is not None and len(ind):
        built = zones[zones["zone"] == "built"]
        geom = shapely.union_all(built.geometry.to_numpy()) if len(built) else shapely.Polygon()
        shapely.prepare(geom)
        rp = shapely.point_on_surface(ind.geometry.to_numpy())
        ind = ind.loc[shapely.contains(geom, rp)]
    return ind


class _Checks:
    """Stage 2: the checks on the industrial parcels, their results and what was skipped."""

    def __init__(self, ind: gpd.GeoDataFrame, f: dict[str, str], crs: Any) -> None:
        self.ind, self.f = ind, f
        self.out = gpd.GeoDataFrame(index=ind.index, geometry=ind.geometry, crs=crs)
        for col in ("source_id", f["name"], f["industry"]):
            if col in ind.columns:
                self.out[col] = ind[col]
        self.division = (
            ind[f["industry"]].map(_industry_code)
            if f["industry"] in ind.columns
            else pd.Series(None, index=ind.index, dtype=object)
        )
        self.out["hydm2"] = self.division.astype(object)
        self.skipped: dict[str, str] = {}
        self.fixes: dict[str, str] = {}
        self.fails: dict[str, pd.Series] = {}
        self.not_requested: set[str] = set()

    def skip(self, check: str, why: str, fix: str) -> None:
        self.skipped[check] = why
        self.fixes[check] = fix

    def compare(self, check: str, values: pd.Series, limit: pd.Series, op: str) -> None:
        self.out[check] = values
        self.out[f"{check}_{'min' if op == '>=' else 'max'}"] = limit
        res = values < limit if op == ">=" else values > limit
        res = res.astype("boolean")
        res[values.isna() | limit.isna()] = pd.NA
        self.fails[check] = res

    def column(self, check: str) -> pd.Series | None:
        if check in self.skipped:
            return None
        col = self.f[check]
        if col not in self.ind.columns:
            self.skip(
                check,
                f"the current layer has no column {col!r}",
                f"add the column {col!r} to the current land use, or name yours with "
                f"fields={{{check!r}: <column>}} (pilot `efficiency: fields:`)",
            )
            return None
        return _numeric(self.ind, col)

    def run(self, table: pd.DataFrame, inv: Any, outp: Any) -> None:
        index = self.ind.index
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
                self.skip(
                    check,
                    f"the indicator table has no '{indicator}' row for all industries",
                    f"add a '{indicator}' row with hydm '*' to the indicator table",
                )
        if (v := self.column("far")) is not None:
            if self.f["industry"] not in self.ind.columns:
                self.skip(
                    "far",
                    f"the current layer has no industry column {self.f['industry']!r}",
                    "add the GB/T 4754 industry code column, or name it with "
                    "fields={'industry': <column>}",
                )
            else:
                self.compare("far", v, self.division.map(far_min).astype("Float64"), ">=")
        for check in ("coverage", "green", "admin"):
            if (v := self.column(check)) is not None:
                op, val = general[check]
                self.compare(check, v, pd.Series(val, index=index, dtype="Float64"), op)
        for check, thr, arg in (
            ("investment", inv, "investment_min"),
            ("output", outp, "output_min"),
        ):
            if thr is None:
                self.skip(
                    check,
                    f"no threshold given ({arg}=None)",
                    f"pass {arg}= in 万元/亩 (pilot `efficiency: {arg}:`; 附表1 of the 2008 "
                    "indicators by region class and land grade)",
                )
                self.not_requested.add(check)
                continue
            if (v := self.column(check)) is None:
                continue
            if isinstance(thr, dict):
                lim = self.division.map(thr).astype("Float64")
            else:
                lim = pd.Series(thr, index=index, dtype="Float64")
            self.compare(check, v, lim, ">=")

    def verdicts(self) -> gpd.GeoDataFrame:
        """Stage 3: per parcel the failed and unchecked checks and the candidate flag."""
        out, index = self.out, self.ind.index
        for check in CHECKS:
            out[f"fail_{check}"] = self.fails.get(
                check, pd.Series(pd.NA, index=index, dtype="boolean")
            )
        failed, unchecked, n_failed, candidate = [], [], [], []
        run = [c for c in CHECKS if c in self.fails]
        for idx in index:
            verdict = {c: self.fails[c].loc[idx] for c in run}
            miss = [c for c in run if verdict[c] is pd.NA]
            bad = [c for c in run if verdict[c] is not pd.NA and bool(verdict[c])]
            failed.append("; ".join(LABELS[c] for c in bad))
            unchecked.append(", ".join([*miss, *[c for c in CHECKS if c in self.skipped]]))
            n_failed.append(len(bad))
            incomplete = bool(miss) or any(c not in self.not_requested for c in self.skipped)
            candidate.append(True if bad else (pd.NA if incomplete else False))
        out["failed"] = failed
        out["n_failed"] = pd.Series(n_failed, index=index, dtype="int64")
        out["unchecked"] = unchecked
        out["redevelopment_candidate"] = pd.array(candidate, dtype="boolean")
        out["area_m2"] = self.ind.geometry.area
        out = out[[c for c in out.columns if c != "geometry"] + ["geometry"]]
        out.attrs["skipped"] = dict(self.skipped)
        return out

    def report(self) -> None:
        """Each check skipped for every parcel, once, as a StageSkipped."""
        for check in CHECKS:
            if check in self.skipped:
                warnings.warn(
                    StageSkipped(
                        f"efficiency.{check}",
                        f"低效用地检查“{LABELS[check]}”未做 — check {check} not made: "
                        f"{self.skipped[check]}",
                        self.fixes[check],
                    ),
                    stacklevel=4,
                )


def industrial_efficiency(
    current: gpd.GeoDataFrame,
    *,
    indicators: pd.DataFrame | str | os.PathLike[str] | None = None,
    investment_min: float | Mapping[str, float] | None = None,
    output_min: float | Mapping[str, float] | None = None,
    fields: Mapping[str, str] | SurveyFields | None = None,
    zones: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Check existing industrial parcels against the control indicators.

    Parameters
    ----------
    current
        The current land-use layer (现状) with the attributes named in ``fields``, in a
        projected metre CRS.
    indicators
        The indicator table (DataFrame or CSV path, columns as in :func:`load_indicators`);
        ``None`` uses the shipped 2008 table.
    investment_min, output_min
        Minimum investment / output intensity in 万元/亩: one number, or a mapping of
        two-digit industry code to number. ``None`` skips that check (reported).
    fields
        Attribute names overriding :data:`DEFAULT_FIELDS` (keys ``code``, ``name``,
        ``industry``, ``far``, ``coverage``, ``green``, ``admin``, ``investment``,
        ``output``), or a :class:`~fiveplans.schema.SurveyFields` (its ``land_class``).
        Coverage, green and admin values are percentages. Industrial parcels are found by
        ``source_code`` (the configured classification) unless ``code`` is named here.
    zones
        Optional zones table of :func:`fiveplans.analysis.assign_zones` (same CRS): only
        parcels whose representative point lies in the built zone are checked.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per industrial parcel (``source_id`` and enterprise name/industry when
        present, ``hydm2`` the two-digit GB/T 4754 division), per check the value, the
        threshold (``far_min`` …) and ``fail_<check>`` (True/False, <NA> when not checked),
        ``failed`` (bilingual labels of failed checks, ``; ``-separated), ``n_failed``,
        ``unchecked`` (checks not made for that parcel), ``redevelopment_candidate``
        (二次开发: True when any check failed, <NA> when none failed but some could not be
        made, else False). ``attrs["skipped"]`` maps each check skipped for every parcel to
        the reason.

    Warns
    -----
    StageSkipped
        ``efficiency.<check>`` for each check skipped for every parcel (a missing column or
        threshold): the stage runs reduced.

    Raises
    ------
    DataError
        No code column to find industrial parcels, or a bad indicator table.
    CRSError
        The layer (or the zones) not in one projected metre CRS.
    ConfigError
        A threshold out of range or an unknown ``fields`` key.
    """
    f, named = _field_names(fields)
    inv = _threshold("investment_min", investment_min)
    outp = _threshold("output_min", output_min)
    if isinstance(indicators, pd.DataFrame):
        table = _check_table(indicators, "(indicators DataFrame)")
    else:
        table = load_indicators(indicators)
    crs = check_crs({"current": current, "zones": zones}, what="低效工业用地 industrial efficiency")
    ind = _industrial_parcels(current, f, named, zones)
    checks = _Checks(ind, f, crs)
    checks.run(table, inv, outp)
    out = checks.verdicts()
    checks.report()
    logger.info(
        "%d industrial parcel(s): %d redevelopment candidate(s), %d not fully checked",
        len(out),
        int(out["redevelopment_candidate"].fillna(False).sum()),
        int(out["redevelopment_candidate"].isna().sum()),
    )
    return out.reset_index(drop=True)
