"""Planner-ready tables (规划人员用表): the report's tables and ``tables.xlsx``.

:func:`planner_tables` turns a run (pilot, analysis, ``summary.json`` content) into numbered
tables (表 1, 表 2, …) that a planner reads without the code book: Chinese headers first with
English in a second header row, units in the header (面积 m², 公顷, 亩; shares in %), values in
Chinese with the raw codes kept in their own column, areas rounded to 0.01, totals rows that
reconcile with ``summary.json``, and a note on every table saying whether its rows may be summed
(不重叠 rows do not overlap) or not (重叠 rows overlap). The report
(:mod:`fiveplans.maps.report`) shows the same :class:`Table` objects, so a figure in
``report.html`` is the figure in ``tables.xlsx``.

:func:`write_tables_xlsx` writes them with XlsxWriter in constant-memory mode: frozen header
rows, number formats, column widths that fit, the conflict ledger (冲突台账) first with its
drop-down, so :func:`fiveplans.analysis.ledger.read_ledger` reads it back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
import os
import pickle
import re
import subprocess
import sys
import tempfile
import threading
import unicodedata
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ACRES_PER_HA",
    "TIER_LABELS",
    "Column",
    "PendingWorkbook",
    "Table",
    "development_tiers",
    "planner_tables",
    "start_tables_xlsx",
    "write_tables_xlsx",
]

log = logging.getLogger(__name__)

ACRES_PER_HA = 15.0
"""亩 per 公顷 (1 亩 = 666.67 m²)."""
_MU_M2 = 10_000.0 / ACRES_PER_HA

ZONE_ZH = {"built": "建成区", "development": "发展区", "control": "控制区"}
ZONE_EN = {"built": "built-up", "development": "development", "control": "control"}
TAG_ZH = {"inside": "位于其内 (≥90%)", "outside": "位于其外 (≤10%)", "straddling": "跨越 (10–90%)"}
LEVEL_ZH = {"cluster": "集聚区 cluster", "district": "行政区 district"}
SERVICE_ZH = {"near": "依托城市", "mid": "适度配套", "far": "独立配套"}
TIER_LABELS = {1: "一级 近期开发", 2: "二级 中期开发", 3: "三级 远期开发"}
"""Development tiers (开发时序) of :func:`development_tiers`."""
INFILL_SHARE = 2.0 / 3.0
"""A development block is infill (填充式) when at least this share of its edge touches built land."""
CORE_NEAR_M = 1_000.0
"""A development block is near a cluster core (临近集群核心) within this distance."""

# kinds of column → (xlsx number format, decimals used when rounding, html formatter)
_FORMATS: dict[str, tuple[str | None, int | None]] = {
    "text": (None, None),
    "code": (None, None),
    "int": ("#,##0", 0),
    "m2": ("#,##0.00", 2),
    "ha": ("#,##0.00", 2),
    "mu": ("#,##0.00", 2),
    "km2": ("#,##0.00", 2),
    "share": ("0.0%", 4),
    "pct": ("0.0", 1),
    "min": ("0.0", 1),
    "m": ("#,##0.0", 1),
    "mm": ("0.000", 3),
    "grade": ("0.00", 2),
    "ratio": ("0.00", 2),
}


@dataclass(frozen=True)
class Column:
    """One column of a planner table.

    Attributes
    ----------
    key
        Column name in :attr:`Table.rows`.
    zh, en
        Header, Chinese (first header row) and English (second header row).
    unit
        Unit shown in both headers, e.g. ``m²``, ``公顷 ha``, ``%``.
    kind
        ``text``, ``code`` (a raw code kept beside its Chinese value), ``int``, ``m2``, ``ha``,
        ``mu``, ``km2``, ``share`` (a fraction shown as %), ``pct`` (already in %), ``min``,
        ``m``, ``grade``, ``ratio``.
    """

    key: str
    zh: str
    en: str
    unit: str = ""
    kind: str = "text"

    @property
    def header_zh(self) -> str:
        return f"{self.zh} ({self.unit})" if self.unit else self.zh

    @property
    def header_en(self) -> str:
        unit = self.unit.split(" ")[-1] if self.unit else ""
        return f"{self.en} ({unit})" if unit else self.en

    @property
    def number_format(self) -> str | None:
        return _FORMATS[self.kind][0]

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "code")


@dataclass
class Table:
    """A numbered planner table (表 N), the same in ``report.html`` and ``tables.xlsx``.

    Attributes
    ----------
    key
        Stable id (``conflict_types``, ``zones`` …).
    number
        Its number in the report (表 1 …).
    sheet
        Sheet name in ``tables.xlsx`` (≤ 31 characters).
    title_zh, title_en
        Title, Chinese and English.
    columns
        The columns, in order.
    rows
        The body: one column per :attr:`Column.key`, values rounded as shown.
    total
        The totals row (合计), column key → value, or ``None``.
    note
        What a planner should know: whether rows may be summed, what a code means.
    additive
        ``True``: rows do not overlap and may be summed; ``False``: rows overlap (do not sum);
        ``None``: nothing to sum.
    section
        Report section the table belongs to.
    in_report
        Shown in the report (else only in ``tables.xlsx``, numbered after the report's tables).
    """

    key: str
    sheet: str
    title_zh: str
    title_en: str
    columns: list[Column]
    rows: pd.DataFrame
    total: dict[str, Any] | None = None
    note: str = ""
    additive: bool | None = None
    section: str = ""
    number: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    in_report: bool = True

    @property
    def caption(self) -> str:
        return f"表 {self.number} {self.title_zh}"

    @property
    def full_note(self) -> str:
        parts = []
        if self.additive is True:
            parts.append("各行互不重叠，可相加 — rows do not overlap and may be summed.")
        elif self.additive is False:
            parts.append("各行相互重叠，不可相加 — rows overlap: do not sum them.")
        if self.note:
            parts.append(self.note)
        return " ".join(parts)

    def body(self) -> list[list[Any]]:
        """Body rows as cell values (None for blanks), without the totals row."""
        keys = [c.key for c in self.columns]
        return [[_cell(v) for v in row] for row in self.rows[keys].itertuples(index=False)]

    def records(self) -> list[list[Any]]:
        """Body rows then the totals row, as cell values (None for blanks)."""
        out = self.body()
        if self.total is not None:
            out.append([_cell(self.total.get(c.key)) for c in self.columns])
        return out


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_ | bool):
        return "是" if value else "否"
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _round(kind: str, value: Any) -> Any:
    value = _cell(value)
    digits = _FORMATS[kind][1]
    if digits is None or value is None or isinstance(value, str):
        return value
    if kind == "int":
        return round(float(value))
    return round(float(value), digits)


def _frame(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    data = [{c.key: _round(c.kind, r.get(c.key)) for c in columns} for r in rows]
    return pd.DataFrame(data, columns=[c.key for c in columns], dtype=object)


def _rounded(values: pd.Series, digits: int) -> pd.Series:
    """Numbers rounded as shown, blanks (NaN, NA) as ``None``; an object column."""
    num = pd.to_numeric(values, errors="coerce").astype(float).round(digits)
    return num.astype(object).where(num.notna(), None)


def _total(columns: Sequence[Column], values: Mapping[str, Any]) -> dict[str, Any]:
    return {c.key: _round(c.kind, values.get(c.key)) for c in columns}


def _areas(prefix: str = "") -> list[Column]:
    return [
        Column(f"{prefix}area_m2", "面积", "area", "m²", "m2"),
        Column(f"{prefix}area_ha", "面积", "area", "公顷 ha", "ha"),
        Column(f"{prefix}area_mu", "面积", "area", "亩 mu", "mu"),
    ]


def _area_values(m2: Any, prefix: str = "") -> dict[str, Any]:
    m2 = _cell(m2)
    if m2 is None:
        return {f"{prefix}area_m2": None, f"{prefix}area_ha": None, f"{prefix}area_mu": None}
    return {
        f"{prefix}area_m2": m2,
        f"{prefix}area_ha": m2 / 10_000.0,
        f"{prefix}area_mu": m2 / _MU_M2,
    }


def _split_label(text: Any) -> tuple[str, str]:
    """``'调出 out'`` → (``'调出'``, ``'out'``): the Chinese words before the first ASCII word."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return "", ""
    s = str(text).strip()
    m = re.match(r"^([^A-Za-z]*?)\s+([A-Za-z].*)$", s)
    if m:
        return m.group(1).strip(), m.group(2).strip()
    return s, ""


def _plan_zh(key: Any) -> str:
    from fiveplans.config import LAYER_NAMES_ZH

    return LAYER_NAMES_ZH.get(str(key), str(key)) if key is not None else ""


def _type_zh(code: Any) -> str:
    from fiveplans.analysis.conflicts import TYPE_LABELS

    return TYPE_LABELS.get(str(code), str(code))


def _no_geometry(frame: pd.DataFrame | None) -> pd.DataFrame:
    if frame is None:
        return pd.DataFrame()
    return pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))


# ---------------------------------------------------------------------------------------------
# the tables


def _overview(pilot: Any, summary: Mapping[str, Any]) -> list[Table]:
    cols = [
        Column("item", "项目", "item"),
        Column("value", "数值", "value"),
        Column("area_m2", "面积", "area", "m²", "m2"),
        Column("area_ha", "面积", "area", "公顷 ha", "ha"),
        Column("area_mu", "面积", "area", "亩 mu", "mu"),
    ]
    rows = [
        {"item": "试点名称 pilot", "value": f"{summary.get('name', '')} ({summary.get('pilot')})"},
        {"item": "工作坐标系 working CRS", "value": summary.get("crs", "")},
        {"item": "规划范围 planning boundary", **_area_values(summary.get("boundary_area_m2"))},
    ]
    overview = Table(
        "overview",
        "概况 overview",
        "试点概况",
        "Pilot overview",
        cols,
        _frame(cols, rows),
        note="面积为工作坐标系中的平面面积 — areas are planar in the working CRS.",
        section="overview",
    )

    report = pilot.load_report() if hasattr(pilot, "load_report") else pd.DataFrame()
    lcols = [
        Column("layer_zh", "图层", "layer"),
        Column("layer", "图层代码", "layer key", kind="code"),
        Column("format", "格式", "format"),
        Column("features", "要素数", "features", "个", "int"),
        Column("crs_used", "采用坐标系", "CRS used"),
        Column("crs_reason", "坐标系判定依据", "CRS decision"),
        Column("encoding", "编码", "encoding"),
        Column("encoding_reason", "编码判定依据", "encoding decision"),
        Column("warnings", "警告", "warnings"),
    ]
    lrows = []
    for _, r in report.iterrows():
        layer = str(r.get("layer", ""))
        lrows.append(
            {
                "layer_zh": _plan_zh(layer),
                "layer": layer,
                "format": r.get("format"),
                "features": r.get("features_loaded"),
                "crs_used": r.get("crs_used"),
                "crs_reason": r.get("crs_reason"),
                "encoding": r.get("encoding"),
                "encoding_reason": r.get("encoding_reason"),
                "warnings": r.get("warnings") or None,
            }
        )
    layers = Table(
        "layers",
        "加载图层 layers",
        "五规及其他图层的加载情况",
        "The plans and other layers as loaded (CRS and encoding decisions)",
        lcols,
        _frame(lcols, lrows),
        note="要素数为载入的要素 — features loaded into the working CRS.",
        section="overview",
    )
    return [overview, layers]


def _qa(pilot: Any) -> list[Table]:
    out = []
    qa = pilot.qa_table() if hasattr(pilot, "qa_table") else pd.DataFrame()
    cols = [
        Column("layer_zh", "图层", "layer"),
        Column("layer", "图层代码", "layer key", kind="code"),
        Column("check", "检查项", "check", kind="code"),
        Column("count", "数量", "count", "个", "int"),
        Column("area_m2", "面积", "area", "m²", "m2"),
        Column("detail", "说明", "detail"),
        Column("warn", "是否警告", "warning"),
    ]
    rows = [
        {
            "layer_zh": _plan_zh(r.get("layer")),
            "layer": r.get("layer"),
            "check": r.get("check"),
            "count": r.get("count"),
            "area_m2": r.get("area_m2"),
            "detail": r.get("detail"),
            "warn": r.get("warn"),
        }
        for _, r in qa.iterrows()
    ]
    out.append(
        Table(
            "qa",
            "数据质量 QA",
            "数据质量检查",
            "Data quality checks",
            cols,
            _frame(cols, rows),
            note="无记录表示检查均通过 — no rows: every check passed.",
            section="overview",
        )
    )
    unknown = [
        r.unknown_codes.assign(layer=k)
        for k, r in getattr(pilot, "reports", {}).items()
        if getattr(r, "unknown_codes", None) is not None and len(r.unknown_codes)
    ]
    ucols = [
        Column("layer_zh", "图层", "layer"),
        Column("layer", "图层代码", "layer key", kind="code"),
        Column("value", "未识别代码", "unknown code", kind="code"),
        Column("count", "要素数", "features", "个", "int"),
    ]
    urows = []
    for frame in unknown:
        for _, r in frame.iterrows():
            urows.append(
                {
                    "layer_zh": _plan_zh(r.get("layer")),
                    "layer": r.get("layer"),
                    "value": r.get("value"),
                    "count": r.get("count"),
                }
            )
    out.append(
        Table(
            "unknown_codes",
            "未知代码 unknown codes",
            "未识别的分类代码",
            "Classification codes not in the code table (legend 其他 other)",
            ucols,
            _frame(ucols, urows),
            note="这些要素按“其他”处理 — these features were treated as 其他 other.",
            section="overview",
        )
    )
    cps = [
        r.control_points.assign(layer=k)
        for k, r in getattr(pilot, "reports", {}).items()
        if getattr(r, "control_points", None) is not None
    ]
    if cps:
        frame = pd.concat(cps, ignore_index=True)
        known = {
            "point_id": ("控制点", "control point", "", "code"),
            "dx": ("X 残差", "residual x", "m", "mm"),
            "dy": ("Y 残差", "residual y", "m", "mm"),
            "residual_m": ("残差", "residual", "m", "mm"),
        }
        ccols = [
            Column("layer_zh", "图层", "layer"),
            Column("layer", "图层代码", "layer key", kind="code"),
        ]
        for c in frame.columns:
            if c == "layer":
                continue
            zh, en, unit, kind = known.get(
                str(c),
                (str(c), str(c), "m" if pd.api.types.is_float_dtype(frame[c]) else "", "mm")
                if pd.api.types.is_float_dtype(frame[c])
                else (str(c), str(c), "", "text"),
            )
            ccols.append(Column(str(c), zh, en, unit, kind))
        crows = [{**r.to_dict(), "layer_zh": _plan_zh(r["layer"])} for _, r in frame.iterrows()]
        out.append(
            Table(
                "control_points",
                "控制点 control points",
                "CAD 控制点配准残差",
                "CAD control points and their residuals",
                ccols,
                _frame(ccols, crows),
                section="overview",
            )
        )
    return out


def _warnings_table(summary: Mapping[str, Any]) -> Table:
    cols = [
        Column("kind", "类别", "kind"),
        Column("stage", "环节", "stage", kind="code"),
        Column("message", "内容", "message"),
        Column("fix", "解决办法", "fix"),
    ]
    rows: list[dict[str, Any]] = []
    for stage, info in (summary.get("skipped") or {}).items():
        info = info if isinstance(info, Mapping) else {"reason": str(info)}
        rows.append(
            {
                "kind": "跳过 skipped",
                "stage": stage,
                "message": info.get("reason"),
                "fix": info.get("fix"),
            }
        )
    stages = tuple(f"{stage}: " for stage in (summary.get("skipped") or {}))
    for w in summary.get("warnings") or []:
        if isinstance(w, str) and stages and w.startswith(stages):
            continue  # a skipped stage, listed above with its reason and fix
        if isinstance(w, Mapping):
            rows.append(
                {
                    "kind": "警告 warning",
                    "stage": w.get("stage"),
                    "message": w.get("message") or w.get("text"),
                    "fix": w.get("fix"),
                }
            )
        else:
            rows.append({"kind": "警告 warning", "stage": None, "message": str(w), "fix": None})
    return Table(
        "warnings",
        "警告与跳过 warnings",
        "警告与跳过的环节",
        "Warnings and skipped stages (summary.json warnings / skipped)",
        cols,
        _frame(cols, rows),
        note="与 summary.json 的 warnings、skipped 一致 — as in summary.json.",
        section="overview",
    )


def _quadrants(analysis: Any) -> list[Table]:
    out = []
    for plan, q in (analysis.quadrants or {}).items():
        name = _plan_zh(plan)
        cols = [
            Column("quadrant_zh", "象限", "quadrant"),
            Column("quadrant", "象限代码", "quadrant code", kind="code"),
            Column("count", "图斑数", "polygons", "个", "int"),
            *_areas(),
            Column("share", "占规划范围比例", "share of the zone", "%", "share"),
        ]
        rows = [
            {
                "district": r.get("district"),
                "quadrant_zh": r.get("quadrant_zh"),
                "quadrant": r.get("quadrant"),
                "count": r.get("count"),
                **_area_values(r.get("area_m2")),
                "share": r.get("share"),
            }
            for _, r in q.iterrows()
        ]
        whole = [r for r in rows if str(r["district"]).startswith("合计")]
        parts = [r for r in rows if not str(r["district"]).startswith("合计")]
        if not whole:  # no districts: the rows are the whole zone
            whole, parts = rows, []
        area = sum(float(r["area_m2"] or 0.0) for r in whole)
        total = {
            "quadrant_zh": "合计 total",
            "count": sum(int(r["count"] or 0) for r in whole),
            **_area_values(area),
            "share": 1.0 if area else None,
        }
        out.append(
            Table(
                f"quadrants_{plan}",
                f"四象限 {plan}",
                f"四象限对比：{name}与土地利用总体规划",
                f"Four-quadrant comparison: {plan} plan vs land-use plan",
                cols,
                _frame(cols, whole),
                total=_total(cols, total),
                note="四个象限互不重叠，合计为规划范围面积 — the quadrants partition the zone.",
                additive=True,
                section="quadrants",
            )
        )
        if parts:
            dcols = [Column("district", "行政区", "district"), *cols]
            dcols[-1] = Column("share", "占行政区比例", "share of district", "%", "share")
            out.append(
                Table(
                    f"quadrants_{plan}_districts",
                    f"四象限分区 {plan}",
                    f"四象限对比（分行政区）：{name}与土地利用总体规划",
                    f"Four-quadrant comparison by district: {plan} plan vs land-use plan",
                    dcols,
                    _frame(dcols, parts),
                    total=_total(dcols, {**total, "district": "合计 total", "quadrant_zh": None}),
                    note="各行政区、各象限互不重叠 — districts and quadrants do not overlap.",
                    additive=True,
                    section="quadrants",
                )
            )
    return out


def _conflict_types(analysis: Any, summary: Mapping[str, Any]) -> list[Table]:
    from fiveplans.analysis.conflicts import TYPE_LABELS

    block = summary.get("conflicts") or {}
    cols = [
        Column("type_zh", "冲突类型", "conflict type"),
        Column("type", "类型代码", "type code", kind="code"),
        Column("count", "冲突图斑数", "conflict patches", "个", "int"),
        *_areas(),
    ]
    with_pairs = any("pairs" in (v or {}) for v in block.values())
    if with_pairs:
        cols.insert(3, Column("pairs", "规划冲突对数", "plan pairs", "对", "int"))
    rows = []
    for t in TYPE_LABELS:
        v = block.get(t) or {}
        rows.append(
            {
                "type_zh": _type_zh(t),
                "type": t,
                "count": v.get("count", 0),
                "pairs": v.get("pairs"),
                **_area_values(v.get("area_m2", 0.0)),
            }
        )
    slivers = summary.get("slivers_dropped") or {}
    types = Table(
        "conflict_types",
        "冲突类型 conflicts",
        "各类冲突面积",
        "Conflicts by type",
        cols,
        _frame(cols, rows),
        note=(
            "一块土地可同时属于多种类型（如既占基本农田又与土规不一致），同一类型内重叠部分只计一次；"
            f"另有 {int(slivers.get('count') or 0):,d} 个碎片（共 "
            f"{float(slivers.get('area_m2') or 0.0):,.2f} m²）低于碎片阈值被剔除 — a piece of "
            "land can belong to several types; within a type overlaps count once; "
            "slivers below the threshold were dropped."
        ),
        additive=False,
        section="conflicts",
    )
    patches = getattr(analysis, "patches", None)
    if patches is not None and len(patches) and "patch_id" in patches.columns:
        lcols, lrows = _largest_patches(_no_geometry(patches))
    else:
        lcols, lrows = _largest_pairs(_no_geometry(analysis.conflicts))
    largest = Table(
        "largest_conflicts",
        "最大冲突 largest",
        "面积最大的二十处冲突",
        "The twenty largest conflicts, with their ids and source parcels",
        lcols,
        _frame(lcols, lrows),
        note=(
            "完整清单（全部图斑编号与冲突对）见“冲突台账” — the full list, with every source "
            "parcel and conflict pair, is the 冲突台账 ledger sheet."
        ),
        additive=False,
        section="conflicts",
        extra={"report_rows": 20},
    )
    return [types, largest]


def _plans_zh(value: Any) -> str | None:
    """``'cluster,land_use'`` → ``'产业集聚区总体规划、土地利用总体规划'``."""
    if _cell(value) is None:
        return None
    return "、".join(_plan_zh(p.strip()) for p in str(value).split(",") if p.strip())


def _first(value: Any, n: int) -> Any:
    """The first ``n`` items of a ``'; '``-separated list, and how many there are in all."""
    if _cell(value) is None:
        return None
    items = [v.strip() for v in str(value).split(";") if v.strip()]
    if len(items) <= n:
        return "; ".join(items)
    return "; ".join(items[:n]) + f" … 共 {len(items)} 个 ({len(items)} in all, see the ledger)"


def _largest_patches(patches: pd.DataFrame) -> tuple[list[Column], list[dict[str, Any]]]:
    cols = [
        Column("rank", "序号", "rank", kind="int"),
        Column("patch_id", "冲突图斑编号", "patch id", kind="code"),
        Column("type_zh", "冲突类型", "conflict type"),
        Column("type", "类型代码", "type code", kind="code"),
        *_areas(),
        Column("plans_zh", "涉及规划", "plans"),
        Column("sources", "涉及图斑（规划:编号）", "source parcels (plan:id)", kind="code"),
        Column("codes", "用地代码", "codes", kind="code"),
        Column("district", "行政区", "district"),
        Column("n_pairs", "规划冲突对数", "plan pairs", "对", "int"),
    ]
    top = patches.sort_values(["area_m2", "patch_id"], ascending=[False, True]).head(20)
    rows = [
        {
            "rank": i,
            "patch_id": r.get("patch_id"),
            "type_zh": _type_zh(r.get("type")),
            "type": r.get("type"),
            **_area_values(r.get("area_m2")),
            "plans_zh": _plans_zh(r.get("plans")),
            "sources": _first(r.get("sources"), 6),
            "codes": _first(r.get("codes"), 6),
            "district": r.get("district"),
            "n_pairs": r.get("n_pairs"),
        }
        for i, (_, r) in enumerate(top.iterrows(), start=1)
    ]
    return cols, rows


def _largest_pairs(conf: pd.DataFrame) -> tuple[list[Column], list[dict[str, Any]]]:
    cols = [
        Column("rank", "序号", "rank", kind="int"),
        Column("conflict_id", "冲突编号", "conflict id", kind="code"),
        Column("type_zh", "冲突类型", "conflict type"),
        Column("type", "类型代码", "type code", kind="code"),
        *_areas(),
        Column("plan_a_zh", "规划A", "plan A"),
        Column("source_a", "图斑编号A", "source A", kind="code"),
        Column("code_a", "用地代码A", "code A", kind="code"),
        Column("plan_b_zh", "规划B", "plan B"),
        Column("source_b", "图斑编号B", "source B", kind="code"),
        Column("code_b", "用地代码B", "code B", kind="code"),
        Column("district", "行政区", "district"),
    ]
    rows = []
    if len(conf):
        top = conf.sort_values(["area_m2", "conflict_id"], ascending=[False, True]).head(20)
        for i, (_, r) in enumerate(top.iterrows(), start=1):
            rows.append(
                {
                    "rank": i,
                    "conflict_id": r.get("conflict_id"),
                    "type_zh": _type_zh(r.get("type")),
                    "type": r.get("type"),
                    **_area_values(r.get("area_m2")),
                    "plan_a_zh": _plan_zh(r.get("plan_a")),
                    "source_a": r.get("source_a"),
                    "code_a": r.get("code_a"),
                    "plan_b_zh": _plan_zh(r.get("plan_b")),
                    "source_b": r.get("source_b"),
                    "code_b": r.get("code_b"),
                    "district": r.get("district"),
                }
            )
    return cols, rows


def _ledger_status(analysis: Any) -> Table:
    from fiveplans.analysis.ledger import ADJUSTMENT, ID

    ledger = analysis.ledger
    type_col = next((c for c in ledger.columns if str(c).startswith("类型")), None)
    area_col = next((c for c in ledger.columns if "area m²" in str(c)), None)
    cols = [
        Column("type_zh", "冲突类型", "conflict type"),
        Column("type", "类型代码", "type code", kind="code"),
        Column("count", "冲突数", "conflicts", "个", "int"),
        Column("decided", "已决定", "decided", "个", "int"),
        Column("undecided", "待决定", "undecided", "个", "int"),
        Column("decided_m2", "已决定面积", "decided area", "m²", "m2"),
        Column("undecided_m2", "待决定面积", "undecided area", "m²", "m2"),
    ]
    rows = []
    if len(ledger) and type_col is not None:
        codes = ledger[type_col].astype(str).str.split().str[-1]
        decided = ledger[ADJUSTMENT].notna() & (ledger[ADJUSTMENT].astype(str).str.strip() != "")
        area = ledger[area_col].astype(float) if area_col else pd.Series(0.0, index=ledger.index)
        for t in dict.fromkeys(codes):
            m = codes == t
            rows.append(
                {
                    "type_zh": _type_zh(t),
                    "type": t,
                    "count": int(m.sum()),
                    "decided": int((m & decided).sum()),
                    "undecided": int((m & ~decided).sum()),
                    "decided_m2": float(area[m & decided].sum()),
                    "undecided_m2": float(area[m & ~decided].sum()),
                }
            )
        total = {
            "type_zh": "合计 total",
            "count": len(ledger),
            "decided": int(decided.sum()),
            "undecided": int((~decided).sum()),
            "decided_m2": float(area[decided].sum()),
            "undecided_m2": float(area[~decided].sum()),
        }
        by_kind = ledger.loc[decided, ADJUSTMENT].astype(str).value_counts().to_dict()
    else:
        total, by_kind = None, {}
    kinds = "；".join(f"{k} {v}" for k, v in by_kind.items()) or "无 none"
    return Table(
        "ledger_status",
        "台账状态 ledger status",
        "冲突台账决定情况",
        "Conflict ledger: decided and undecided",
        cols,
        _frame(cols, rows),
        total=_total(cols, total) if total else None,
        note=(
            f"已决定的调整类型 decisions by kind: {kinds}。冲突数按台账行计，"
            f"台账共 {len(ledger)} 行（{ID}）— counts are ledger rows; the areas of different "
            "types overlap, so the area totals are sums of rows, not land."
        ),
        additive=None,
        section="ledger",
    )


def development_tiers(
    zones: pd.DataFrame, clusters: pd.DataFrame | None = None, *, contact_m: float = 1.0
) -> pd.DataFrame:
    """Development tiers (开发时序) of the development blocks, by two attributes a planner reads.

    A block is *infill* (填充式) when at least :data:`INFILL_SHARE` of its edge touches the built
    zone, and *near a cluster core* (临近集群核心) within :data:`CORE_NEAR_M` of one. Tier 1
    (近期): both; tier 2 (中期): one; tier 3 (远期): neither. Without cluster cores the second
    test is dropped: tier 1 infill, tier 2 touching built land, tier 3 the rest.

    Parameters
    ----------
    zones
        The zones GeoDataFrame of :func:`fiveplans.analysis.zones.assign_zones`.
    clusters
        Cluster cores (points or polygons) in the same CRS, or ``None``.
    contact_m
        Distance within which a block edge counts as touching built land.

    Returns
    -------
    pandas.DataFrame
        Indexed like the development rows of ``zones``: ``contact_share``, ``core_m``
        (NaN without cores), ``tier`` (1–3), ``tier_label``.
    """
    import shapely

    dev = zones.loc[zones["zone"] == "development"]
    built = shapely.union_all(zones.loc[zones["zone"] == "built"].geometry.to_numpy())
    near = shapely.buffer(built, contact_m) if not built.is_empty else None
    shares = []
    for g in dev.geometry:
        perim = g.length
        if near is None or not perim:
            shares.append(0.0)
        else:
            shares.append(float(shapely.intersection(g.boundary, near).length) / perim)
    share = pd.Series(shares, index=dev.index, dtype=float)
    if clusters is not None and len(clusters):
        cores = shapely.union_all(clusters.geometry.to_numpy())
        core_m = pd.Series(shapely.distance(dev.geometry.to_numpy(), cores), index=dev.index)
        score = (share >= INFILL_SHARE).astype(int) + (core_m <= CORE_NEAR_M).astype(int)
        tier = 3 - score
    else:
        core_m = pd.Series(np.nan, index=dev.index)
        tier = pd.Series(
            np.where(share >= INFILL_SHARE, 1, np.where(share > 0, 2, 3)), index=dev.index
        )
    return pd.DataFrame(
        {
            "contact_share": share,
            "core_m": core_m,
            "tier": tier.astype(int),
            "tier_label": tier.astype(int).map(TIER_LABELS),
        }
    )


def _zones(pilot: Any, analysis: Any, summary: Mapping[str, Any]) -> list[Table]:
    zones = analysis.zones
    block = summary.get("zones") or {}
    if not len(zones) or not block:
        return []
    boundary = float(summary.get("boundary_area_m2") or 0.0)
    cols = [
        Column("zone_zh", "分区", "zone"),
        Column("zone", "分区代码", "zone code", kind="code"),
        Column("blocks", "地块数", "blocks", "个", "int"),
        *_areas(),
        Column("share", "占规划范围比例", "share of boundary", "%", "share"),
    ]
    counts = zones["zone"].value_counts()
    rows = []
    for z in ("built", "development", "control"):
        m2 = float((block.get(z) or {}).get("area_m2") or 0.0)
        rows.append(
            {
                "zone_zh": ZONE_ZH[z],
                "zone": z,
                "blocks": int(counts.get(z, 0)),
                **_area_values(m2),
                "share": m2 / boundary if boundary else None,
            }
        )
    whole = sum(float(r["area_m2"]) for r in rows)
    summary_table = Table(
        "zones",
        "三区 zones",
        "三区划定",
        "Built, development and control zones",
        cols,
        _frame(cols, rows),
        total=_total(
            cols,
            {
                "zone_zh": "合计 total",
                "blocks": len(zones),
                **_area_values(whole),
                "share": whole / boundary if boundary else None,
            },
        ),
        note="三区互不重叠且覆盖整个规划范围 — the zones partition the boundary.",
        additive=True,
        section="zones",
    )

    frame = _no_geometry(zones)
    tiers = development_tiers(zones, pilot.layers.get("clusters"))
    bcols = [
        Column("block_id", "地块编号", "block id", kind="code"),
        Column("zone_zh", "分区", "zone"),
        Column("zone", "分区代码", "zone code", kind="code"),
        *_areas(),
        Column("tier_label", "开发时序", "development tier"),
        Column("contact_share", "与建成区接壤比例", "edge touching built land", "%", "share"),
        Column("core_m", "距集群核心", "to nearest cluster core", "m", "m"),
        Column("rank", "原排序", "rank (analysis)", kind="int"),
        Column("reason", "划定理由", "reason"),
        Column("conflict_ids", "相关冲突", "conflicts", kind="code"),
    ]
    brows = []
    order = frame.assign(
        _z=frame["zone"].map({"development": 0, "built": 1, "control": 2}).fillna(3),
        _t=tiers["tier"].reindex(frame.index).fillna(9),
        _r=pd.to_numeric(frame["rank"], errors="coerce").astype(float).fillna(np.inf)
        if "rank" in frame
        else np.inf,
    ).sort_values(["_z", "_t", "_r", "block_id"], kind="stable")
    for idx, r in order.iterrows():
        t = tiers.loc[idx] if idx in tiers.index else None
        brows.append(
            {
                "block_id": r.get("block_id"),
                "zone_zh": ZONE_ZH.get(str(r.get("zone")), r.get("zone")),
                "zone": r.get("zone"),
                **_area_values(r.get("area_m2")),
                "tier_label": None if t is None else t["tier_label"],
                "contact_share": None if t is None else t["contact_share"],
                "core_m": None if t is None else t["core_m"],
                "rank": r.get("rank"),
                "reason": r.get("reason"),
                "conflict_ids": r.get("conflict_ids"),
            }
        )
    tier_counts = tiers["tier"].value_counts()
    tier_text = "，".join(f"{TIER_LABELS[t]} {int(tier_counts.get(t, 0))} 块" for t in (1, 2, 3))
    blocks = Table(
        "zone_blocks",
        "三区地块 zone blocks",
        "三区地块与发展区开发时序",
        "Zone blocks and the development tiers",
        bcols,
        _frame(bcols, brows),
        total=_total(bcols, {"block_id": "合计 total", **_area_values(whole)}),
        note=(
            f"开发时序分级：与建成区接壤比例 ≥ {INFILL_SHARE:.0%}（填充式）且距集群核心 ≤ "
            f"{CORE_NEAR_M:,.0f} m 为一级，满足其一为二级，均不满足为三级（{tier_text}）— "
            "development tiers: tier 1 infill (≥ 2/3 of the edge on built land) and within "
            "1 km of a cluster core, tier 2 one of the two, tier 3 neither."
        ),
        additive=True,
        section="zones",
        extra={"tiers": {int(k): int(v) for k, v in tier_counts.items()}},
    )
    return [summary_table, blocks]


def _balance(analysis: Any, summary: Mapping[str, Any]) -> list[Table]:
    adj = analysis.adjustments
    if adj is None:
        return []
    grade_note = "耕地质量等别 1 等最好、15 等最差 — quality grade 1 is the best, 15 the worst."
    cols = [
        Column("district", "行政区", "district"),
        *[Column(f"out_{c.key}", "调出", "out", c.unit, c.kind) for c in _areas()],
        Column("out_grade", "调出平均等别", "out mean grade", "等", "grade"),
        *[Column(f"in_{c.key}", "调入", "in", c.unit, c.kind) for c in _areas()],
        Column("in_grade", "调入平均等别", "in mean grade", "等", "grade"),
        Column("net_m2", "净增减", "net", "m²", "m2"),
        Column("move_m2", "迁移", "moved", "m²", "m2"),
    ]
    body, total = [], None
    for _, r in adj.balance.iterrows():
        row = {
            "district": r.get("district"),
            **_area_values(r.get("out_m2"), "out_"),
            "out_grade": r.get("out_grade"),
            **_area_values(r.get("in_m2"), "in_"),
            "in_grade": r.get("in_grade"),
            "net_m2": r.get("net_m2"),
            "move_m2": r.get("move_m2"),
        }
        if str(r.get("district")).startswith("合计"):
            total = row
        else:
            body.append(row)
    fb = summary.get("farmland_balance") or {}
    state = "平衡 balanced" if fb.get("feasible") else "不平衡 NOT balanced"
    balance = Table(
        "balance",
        "占补平衡 balance",
        "耕地占补平衡",
        "Farmland balance (调出 out / 调入 in)",
        cols,
        _frame(cols, body),
        total=_total(cols, total) if total else None,
        note=(
            f"{state}，缺口 shortfall {float(fb.get('shortfall_m2') or 0.0):,.2f} m²。"
            f"{grade_note} {getattr(adj, 'message', '')}"
        ),
        additive=True,
        section="balance",
    )
    frame = _no_geometry(adj.adjustments)
    acols = [
        Column("action_zh", "调整", "action"),
        Column("action", "调整代码", "action code", kind="code"),
        *_areas(),
        Column("grade", "等别", "quality grade", "等", "grade"),
        Column("district", "行政区", "district"),
        Column("conflict_id", "相关冲突", "conflicts", kind="code"),
        Column("source_id", "现状图斑", "current-use parcel", kind="code"),
        Column("adjacent", "与基本农田相邻", "adjacent to basic farmland"),
    ]
    arows = []
    for _, r in frame.iterrows():
        zh, en = _split_label(r.get("action"))
        arows.append(
            {
                "action_zh": zh,
                "action": en or r.get("action"),
                **_area_values(r.get("area_m2")),
                "grade": r.get("grade"),
                "district": r.get("district"),
                "conflict_id": r.get("conflict_id"),
                "source_id": r.get("source_id"),
                "adjacent": r.get("adjacent"),
            }
        )
    adjustments = Table(
        "adjustments",
        "调整方案 adjustments",
        "基本农田调整方案",
        "Proposed basic-farmland adjustments",
        acols,
        _frame(acols, arows),
        note=f"调出行合计等于表“耕地占补平衡”调出，调入行合计等于调入 — out rows sum to the "
        f"balance's out, in rows to its in. {grade_note}",
        additive=True,
        section="balance",
    )
    return [balance, adjustments]


_EFF_CHECKS = [
    ("far", "far_min", "容积率", "floor-area ratio", "", "ratio", "下限 min"),
    ("coverage", "coverage_min", "建筑系数", "building coverage", "%", "pct", "下限 min"),
    ("green", "green_max", "绿地率", "green ratio", "%", "pct", "上限 max"),
    (
        "admin",
        "admin_max",
        "行政办公及生活服务设施用地比重",
        "admin/living share",
        "%",
        "pct",
        "上限 max",
    ),
]


def _efficiency(analysis: Any) -> list[Table]:
    eff = analysis.efficiency
    if eff is None:
        return []
    frame = _no_geometry(eff)
    name_col = next(
        (c for c in ("QYMC", "name", "company", "企业名称") if c in frame.columns), None
    )
    ind_col = next((c for c in ("HYDM", "hydm", "industry") if c in frame.columns), None)
    cols = [
        Column("source_id", "图斑编号", "parcel id", kind="code"),
        Column("company", "企业名称", "company"),
        Column("industry", "行业代码 (GB/T 4754)", "industry code", kind="code"),
        *_areas(),
    ]
    for value, limit, zh, en, unit, kind, lim in _EFF_CHECKS:
        if value in frame.columns:
            cols.append(Column(value, zh, en, unit, kind))
            if limit in frame.columns:
                cols.append(
                    Column(limit, f"{zh}{lim.split()[0]}", f"{en} {lim.split()[1]}", unit, kind)
                )
    cols += [
        Column("failed", "未达标指标", "failed checks"),
        Column("n_failed", "未达标项数", "checks failed", "项", "int"),
        Column("unchecked", "未检查指标", "not checked"),
        Column("candidate", "低效用地（再开发候选）", "low-efficiency (redevelopment candidate)"),
    ]
    rows = []
    if len(frame):  # redevelopment candidates first, most checks failed first
        frame = frame.assign(
            _c=frame["redevelopment_candidate"].fillna(False).astype(bool),
            _n=frame["n_failed"].fillna(0),
        ).sort_values(["_c", "_n", "area_m2"], ascending=[False, False, False], kind="stable")
    for _, r in frame.iterrows():
        row = {
            "source_id": r.get("source_id"),
            "company": r.get(name_col) if name_col else None,
            "industry": r.get(ind_col) if ind_col else None,
            **_area_values(r.get("area_m2")),
            "failed": r.get("failed") or "—",
            "n_failed": r.get("n_failed"),
            "unchecked": _unchecked_zh(r.get("unchecked")),
            "candidate": r.get("redevelopment_candidate"),
        }
        for value, limit, *_ in _EFF_CHECKS:
            if value in frame.columns:
                row[value] = r.get(value)
            if limit in frame.columns:
                row[limit] = r.get(limit)
        rows.append(row)
    n_cand = (
        int(frame["redevelopment_candidate"].fillna(False).astype(bool).sum()) if len(frame) else 0
    )
    cand_m2 = (
        float(
            frame.loc[frame["redevelopment_candidate"].fillna(False).astype(bool), "area_m2"].sum()
        )
        if len(frame)
        else 0.0
    )
    skipped = eff.attrs.get("skipped", {}) if hasattr(eff, "attrs") else {}
    skipped_text = "；".join(f"{_unchecked_zh(k)}: {v}" for k, v in skipped.items())
    return [
        Table(
            "efficiency",
            "低效用地 efficiency",
            "工业用地效率与低效用地",
            "Industrial land efficiency and low-efficiency parcels",
            cols,
            _frame(cols, rows),
            total=_total(
                cols,
                {
                    "source_id": "合计 total",
                    **_area_values(float(frame["area_m2"].sum()) if len(frame) else 0.0),
                    "n_failed": None,
                    "candidate": f"{n_cand} 宗 parcels, {cand_m2:,.2f} m²",
                },
            ),
            note=(
                "容积率、建筑系数不得低于下限，绿地率、行政办公及生活服务设施用地比重不得高于上限"
                "（《工业项目建设用地控制指标》）— FAR and coverage have minima, green and admin "
                f"shares maxima. {('未检查 not checked: ' + skipped_text) if skipped_text else ''}"
            ).strip(),
            additive=True,
            section="efficiency",
            extra={"candidates": n_cand, "candidates_m2": cand_m2},
        )
    ]


def _unchecked_zh(value: Any) -> Any:
    names = {"investment": "投资强度 investment", "output": "产出强度 output"}
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    return ", ".join(names.get(v.strip(), v.strip()) for v in str(value).split(","))


def _villages(analysis: Any) -> list[Table]:
    v = analysis.villages
    if v is None:
        return []
    cols = [
        Column("zone_zh", "分区", "zone"),
        Column("zone", "分区代码", "zone code", kind="code"),
        Column("district", "行政区", "district"),
        Column("count", "村庄图斑数", "village parcels", "个", "int"),
        *_areas(),
    ]
    body, total = [], None
    for _, r in v.iterrows():
        zone = str(r.get("zone"))
        row = {
            "zone_zh": ZONE_ZH.get(zone, zone),
            "zone": None if zone.startswith("合计") else zone,
            "district": r.get("district"),
            "count": r.get("count"),
            **_area_values(r.get("area_m2")),
        }
        if zone.startswith("合计"):
            total = {**row, "zone_zh": "合计 total"}
        elif str(r.get("district")).startswith("合计"):
            continue  # per-zone subtotals: the totals row sums the districts
        else:
            body.append(row)
    return [
        Table(
            "villages",
            "村庄 villages",
            "规划范围内的村庄",
            "Villages inside the zone, by zone and district",
            cols,
            _frame(cols, body),
            total=_total(cols, total) if total else None,
            note="村庄用地按所在分区与行政区统计 — village land by zone and district.",
            additive=True,
            section="villages",
        )
    ]


def _logistics(pilot: Any, analysis: Any, summary: Mapping[str, Any]) -> list[Table]:
    lg = analysis.logistics
    if lg is None:
        return []
    out: list[Table] = []
    ccols = [
        Column("cluster", "产业集群", "cluster"),
        Column("radius_min", "时间半径", "radius", "分钟 min", "min"),
        Column("area_km2", "腹地面积", "catchment area", "km²", "km2"),
        Column("area_ha", "腹地面积", "catchment area", "公顷 ha", "ha"),
        Column("suppliers", "配套企业", "suppliers", "家", "int"),
        Column("mean_min", "平均车程", "mean travel time", "分钟 min", "min"),
        Column("max_min", "最长车程", "longest travel time", "分钟 min", "min"),
    ]
    assigned = _no_geometry(lg.supplier_assignment) if lg.supplier_assignment is not None else None
    crow = []
    for _, r in _no_geometry(lg.catchments).iterrows():
        name = r.get("cluster")
        sub = (
            assigned.loc[(assigned["cluster"] == name) & assigned["travel_min"].notna()]
            if assigned is not None
            else None
        )
        crow.append(
            {
                "cluster": name,
                "radius_min": r.get("radius_min"),
                "area_km2": float(r.get("area_m2")) / 1e6,
                "area_ha": float(r.get("area_m2")) / 1e4,
                "suppliers": None if sub is None else len(sub),
                "mean_min": None if sub is None or not len(sub) else sub["travel_min"].mean(),
                "max_min": None if sub is None or not len(sub) else sub["travel_min"].max(),
            }
        )
    cat = summary.get("catchments") or {}
    out.append(
        Table(
            "catchments",
            "物流腹地 catchments",
            "产业集群物流腹地（最佳物流半径）",
            "Cluster catchments on the road network (best logistics radius)",
            ccols,
            _frame(ccols, crow),
            total=_total(
                ccols,
                {
                    "cluster": "合计 total",
                    "area_km2": sum(r["area_km2"] for r in crow),
                    "area_ha": sum(r["area_ha"] for r in crow),
                    "suppliers": cat.get("assigned"),
                },
            ),
            note=(
                f"腹地为各集群在时间半径内最先到达的区域，互不重叠；{cat.get('assigned', 0)} / "
                f"{cat.get('suppliers', 0)} 家配套企业在半径内 — each catchment is the land a "
                "cluster reaches first within the radius (no overlaps)."
            ),
            additive=True,
            section="logistics",
        )
    )
    scols = [
        Column("cluster", "产业集群", "cluster"),
        Column("break_min", "时间", "travel time", "分钟 min", "min"),
        Column("area_km2", "服务区面积", "service area", "km²", "km2"),
    ]
    srows = [
        {
            "cluster": r.get("cluster"),
            "break_min": r.get("break_min"),
            "area_km2": float(r.get("area_m2")) / 1e6,
        }
        for _, r in _no_geometry(lg.service_areas).iterrows()
    ]
    out.append(
        Table(
            "service_areas",
            "服务区 service areas",
            "产业集群服务区",
            "Service areas of the cluster cores",
            scols,
            _frame(scols, srows),
            note="各集群服务区相互重叠 — service areas of different clusters overlap.",
            additive=False,
            section="logistics",
        )
    )
    if lg.coverage is not None:
        out.append(_coverage(pilot, lg))
    if assigned is not None:
        names = {}
        sup = pilot.layers.get("suppliers")
        if sup is not None and "name" in sup.columns:
            names = dict(zip(sup["source_id"].astype(str), sup["name"], strict=False))
        acols = [
            Column("id", "企业编号", "supplier id", kind="code"),
            Column("name", "企业名称", "name"),
            Column("cluster", "所属产业集群", "assigned cluster"),
            Column("travel_min", "车程", "travel time", "分钟 min", "min"),
            Column("snap_m", "至路网距离", "access leg to the road", "m", "m"),
            Column("status", "状态", "status"),
        ]
        arows = [
            {
                "id": r.get("id"),
                "name": names.get(str(r.get("id"))),
                "cluster": r.get("cluster"),
                "travel_min": r.get("travel_min"),
                "snap_m": r.get("snap_m"),
                "status": "半径内 within radius"
                if pd.notna(r.get("travel_min"))
                else "半径外 beyond radius",
            }
            for _, r in assigned.iterrows()
        ]
        out.append(
            Table(
                "suppliers",
                "配套企业 suppliers",
                "配套企业归属",
                "Supplier assignment to the nearest cluster by travel time",
                acols,
                _frame(acols, arows),
                note="每家企业只归属一个集群 — each supplier belongs to one cluster.",
                additive=True,
                section="logistics",
            )
        )
    lcols = [
        Column("cluster_a", "集群A", "cluster A"),
        Column("industry_a", "产业A", "industry A"),
        Column("cluster_b", "集群B", "cluster B"),
        Column("industry_b", "产业B", "industry B"),
        Column("travel_min_ab", "车程 A→B", "travel time A→B", "分钟 min", "min"),
        Column("travel_min_ba", "车程 B→A", "travel time B→A", "分钟 min", "min"),
    ]
    out.append(
        Table(
            "cluster_links",
            "集群协同 cluster links",
            "产业集群之间的车程",
            "Travel times between cluster cores",
            lcols,
            _frame(lcols, [r.to_dict() for _, r in lg.links.iterrows()]),
            note="双向车程可不同（单行道）— the two directions can differ (one-way streets).",
            section="logistics",
        )
    )
    if lg.service_class is not None:
        kcols = [
            Column("id", "产业集群", "cluster"),
            Column("centre", "最近城镇中心", "nearest centre"),
            Column("travel_min", "车程", "travel time", "分钟 min", "min"),
            Column("class_zh", "配套分类", "service class"),
            Column("service_class", "分类代码", "class code", kind="code"),
        ]
        krows = []
        for _, r in lg.service_class.iterrows():
            zh, _en = _split_label(r.get("label"))
            code = r.get("service_class")
            krows.append({**r.to_dict(), "class_zh": zh or SERVICE_ZH.get(str(code), code)})
        out.append(
            Table(
                "service_class",
                "配套分类 service class",
                "生活服务配套分类（按至城镇中心车程）",
                "Service configuration class by travel time to the nearest centre",
                kcols,
                _frame(kcols, krows),
                note=(
                    "依托城市：车程短，可依托城市配套；独立配套：车程长，需自建生活服务设施 — "
                    "near: relies on the city; far: needs its own services."
                ),
                section="logistics",
            )
        )
    return out


def _coverage(pilot: Any, lg: Any) -> Table:
    cov = lg.coverage
    cols = [
        Column("level_zh", "统计单元类别", "unit kind"),
        Column("unit", "单元", "unit"),
        Column("suppliers", "配套企业", "suppliers", "家", "int"),
        Column("covered", "半径内", "within the radius", "家", "int"),
        Column("share", "覆盖率", "covered share", "%", "share"),
        Column("mean_travel_min", "平均车程", "mean travel time", "分钟 min", "min"),
        Column("max_travel_min", "最长车程", "longest travel time", "分钟 min", "min"),
    ]
    rows = []
    for _, r in cov.iterrows():
        rows.append({**r.to_dict(), "level_zh": LEVEL_ZH.get(str(r.get("level")), r.get("level"))})
    assigned = lg.supplier_assignment
    districts = pilot.layers.get("districts")
    has_district_rows = (cov["level"] == "district").any()
    if (
        has_district_rows
        and assigned is not None
        and districts is not None
        and "geometry" in assigned
    ):
        inside = np.zeros(len(assigned), dtype=bool)
        area = districts.geometry.union_all()
        inside = assigned.geometry.intersects(area).to_numpy()
        outside = assigned.loc[~inside]
        reached = outside["travel_min"].notna()
        rows.append(
            {
                "level_zh": LEVEL_ZH["district"],
                "unit": "区外 outside the districts",
                "suppliers": len(outside),
                "covered": int(reached.sum()),
                "share": reached.mean() if len(outside) else None,
                "mean_travel_min": outside.loc[reached, "travel_min"].mean()
                if reached.any()
                else None,
                "max_travel_min": outside.loc[reached, "travel_min"].max()
                if reached.any()
                else None,
            }
        )
    n = 0 if assigned is None else len(assigned)
    covered = 0 if assigned is None else int(assigned["travel_min"].notna().sum())
    return Table(
        "coverage",
        "覆盖 coverage",
        "配套企业覆盖率",
        "Suppliers within the radius, by cluster and by district",
        cols,
        _frame(cols, rows),
        total=_total(
            cols,
            {
                "level_zh": "合计 total",
                "suppliers": n,
                "covered": covered,
                "share": covered / n if n else None,
            },
        ),
        note=(
            "集聚区行与行政区行（含“区外”）各自合计为全部企业，两组不可相加 — the cluster rows and "
            "the district rows (with 区外) each add up to all suppliers; do not add the two groups."
        ),
        additive=False,
        section="logistics",
    )


def _containment(analysis: Any) -> list[Table]:
    c = _no_geometry(analysis.containment)
    if not len(c):
        return []
    cols = [
        Column("plan_zh", "规划", "plan"),
        Column("plan", "规划代码", "plan key", kind="code"),
        Column("source_id", "图斑编号", "parcel id", kind="code"),
        Column("source_code", "用地代码", "land-use code", kind="code"),
        Column("use_zh", "用途", "use"),
        Column("area_m2", "面积", "area", "m²", "m2"),
    ]
    names = {
        "basic_farmland": ("永久基本农田", "basic farmland"),
        "ecological": ("生态保护空间", "ecological land"),
    }
    tag_cols = []
    for col in c.columns:
        if not col.startswith("share_"):
            continue
        what = col[len("share_") :]
        if what in names:
            zh, en = names[what]
        elif what.startswith("construction_"):
            plan = what[len("construction_") :]
            zh, en = f"{_plan_zh(plan)}建设用地", f"construction in {plan}"
        else:
            zh, en = what, what
        cols.append(Column(col, f"位于{zh}内比例", f"share in {en}", "%", "share"))
        cols.append(Column(f"tag_{what}_zh", f"与{zh}关系", f"vs {en}"))
        tag_cols.append(what)
    from fiveplans.layers.legend import USE_LABELS

    # vectorised: a county-sized pilot has tens of thousands of parcels
    def text(col: str) -> pd.Series:
        return c[col].astype(object).where(c[col].notna(), None)

    use_zh = {k: _split_label(v)[0] for k, v in USE_LABELS.items()}
    frame = pd.DataFrame(
        {
            "plan_zh": c["plan"].map(lambda p: _plan_zh(p)).astype(object),
            "plan": text("plan"),
            "source_id": text("source_id"),
            "source_code": text("source_code"),
            "use_zh": c["use"].map(use_zh).astype(object).where(c["use"].notna(), None),
            "area_m2": _rounded(c["area_m2"], 2),
        }
    )
    for what in tag_cols:
        frame[f"share_{what}"] = _rounded(c[f"share_{what}"], 4)
        tag = c[f"tag_{what}"]
        frame[f"tag_{what}_zh"] = (
            tag.map(lambda v: TAG_ZH.get(str(v), str(v))).where(tag.notna(), "本规划 (same plan)")
        ).astype(object)
    frame = frame[[col.key for col in cols]]
    return [
        Table(
            "containment",
            "图斑包含 containment",
            "规划图斑与保护空间、他规建设用地的包含关系",
            "Each plan parcel inside / outside protected land and the other plans' construction",
            cols,
            frame.reset_index(drop=True),
            note=(
                "≥90% 为位于其内，≤10% 为位于其外，其间为跨越；不同规划的图斑相互重叠 — inside ≥ "
                "90%, outside ≤ 10%, straddling between; parcels of different plans overlap."
            ),
            additive=False,
            section="conflicts",
            in_report=False,
        )
    ]


_PROVENANCE_ZH = {
    "fiveplans": "软件版本 fiveplans",
    "python": "Python 版本 Python",
    "platform": "运行平台 platform",
    "config_sha256": "配置文件哈希 config SHA-256",
    "started": "开始时间 started",
    "seconds": "运行时长（秒）seconds",
}


def _provenance(summary: Mapping[str, Any]) -> list[Table]:
    prov = summary.get("provenance")
    if not prov:
        return []
    cols = [Column("item", "项目", "item"), Column("value", "内容", "value")]
    rows = []
    for key, label in _PROVENANCE_ZH.items():
        if key in prov:
            rows.append({"item": label, "value": str(prov[key])})
    for key, info in (prov.get("inputs") or {}).items():
        label = f"输入 input {_plan_zh(key)} {key}"
        if isinstance(info, Mapping):
            value = f"{info.get('path', '')}  SHA-256 {info.get('sha256', '')}"
        else:
            value = str(info)
        rows.append({"item": label, "value": value})
    for lib, ver in (prov.get("libraries") or {}).items():
        rows.append({"item": f"依赖库 library {lib}", "value": str(ver)})
    known = {*_PROVENANCE_ZH, "libraries", "inputs"}
    for key, value in prov.items():
        if key not in known:
            rows.append({"item": key, "value": str(value)})
    return [
        Table(
            "provenance",
            "来源 provenance",
            "运行来源信息",
            "Provenance: versions, config hash, input files and their SHA-256",
            cols,
            _frame(cols, rows),
            note="同 summary.json provenance — as in summary.json.",
            section="appendix",
            extra={"report_rows": len(rows)},  # the appendix shows all of it
        )
    ]


def planner_tables(pilot: Any, analysis: Any, summary: Mapping[str, Any]) -> list[Table]:
    """The report's tables, numbered (表 1 …), ready for ``tables.xlsx`` and ``report.html``.

    Parameters
    ----------
    pilot
        The loaded :class:`fiveplans.pipeline.Pilot`.
    analysis
        Its :class:`fiveplans.pipeline.Analysis` (or ``None``: only the overview tables).
    summary
        The ``summary.json`` content (:func:`fiveplans.pipeline.summary`); the tables' totals
        are taken from it, so they reconcile.

    Returns
    -------
    list of Table
        In report order; each has a unique :attr:`Table.sheet` name.
    """
    tables: list[Table] = []
    tables += _overview(pilot, summary)
    tables += _qa(pilot)
    tables.append(_warnings_table(summary))
    if analysis is not None:
        tables += _quadrants(analysis)
        tables += _conflict_types(analysis, summary)
        tables += _containment(analysis)
        tables.append(_ledger_status(analysis))
        tables += _zones(pilot, analysis, summary)
        tables += _balance(analysis, summary)
        tables += _efficiency(analysis)
        tables += _villages(analysis)
        tables += _logistics(pilot, analysis, summary)
    tables += _provenance(summary)
    tables = [t for t in tables if t.in_report] + [t for t in tables if not t.in_report]
    used: set[str] = set()
    for i, t in enumerate(tables, start=1):
        t.number = i
        t.sheet = _sheet_name(f"表{i} {t.sheet}", used)
    return tables


def _sheet_name(name: str, used: set[str]) -> str:
    name = re.sub(r"[\[\]:*?/\\]", " ", name)[:31].strip()
    base, n = name, 2
    while name.lower() in used:
        suffix = f" ({n})"
        name = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(name.lower())
    return name


# ---------------------------------------------------------------------------------------------
# xlsx


def _text_width(value: Any) -> float:
    if value is None:
        return 0
    s = (
        value
        if isinstance(value, str)
        else f"{value:,.2f}"
        if isinstance(value, float)
        else str(value)
    )
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def write_tables_xlsx(
    tables: Sequence[Table],
    path: str | os.PathLike[str],
    *,
    ledger: pd.DataFrame | None = None,
) -> Path:
    """Write the planner tables (and the conflict ledger) to an ``.xlsx`` atomically.

    Each table gets one sheet: its caption (表 N …) and note on top, a Chinese and an English
    header row (frozen), the body with number formats (areas ``#,##0.00``, shares ``0.0%``) and
    the bold totals row. The ledger, when given, is the first sheet (冲突台账) with its single
    header row and the adjustment drop-down, as :func:`fiveplans.analysis.ledger.read_ledger`
    expects.

    Parameters
    ----------
    tables
        From :func:`planner_tables`.
    path
        Target ``.xlsx`` (replaced; written to a temporary file then renamed).
    ledger
        The conflict ledger (:attr:`fiveplans.pipeline.Analysis.ledger`).

    Returns
    -------
    pathlib.Path
    """
    import xlsxwriter

    from fiveplans.io import atomic_path

    target = Path(path)
    with atomic_path(target) as tmp:
        wb = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "nan_inf_to_errors": False})
        try:
            fmt_cache: dict[tuple[str | None, bool, bool], Any] = {}

            def fmt(num: str | None, bold: bool = False, wrap: bool = False) -> Any:
                key = (num, bold, wrap)
                if key not in fmt_cache:
                    props: dict[str, Any] = {"valign": "top"}
                    if num:
                        props["num_format"] = num
                    if bold:
                        props["bold"] = True
                    if wrap:
                        props["text_wrap"] = True
                    fmt_cache[key] = wb.add_format(props)
                return fmt_cache[key]

            header = wb.add_format(
                {
                    "bold": True,
                    "bg_color": "#DDEBF7",
                    "border": 1,
                    "text_wrap": True,
                    "valign": "top",
                }
            )
            header_en = wb.add_format(
                {
                    "italic": True,
                    "font_color": "#555555",
                    "bg_color": "#F2F2F2",
                    "border": 1,
                    "text_wrap": True,
                    "valign": "top",
                }
            )
            title = wb.add_format({"bold": True, "font_size": 13})
            note = wb.add_format({"font_color": "#444444", "text_wrap": False, "valign": "top"})
            if ledger is not None:
                _write_ledger_sheet(wb, ledger, header, fmt)
            _write_contents(wb, tables, header, header_en, title, fmt)
            for t in tables:
                _write_table(wb, t, header, header_en, title, note, fmt)
        finally:
            wb.close()
    return target


PROCESS_ROWS = 20_000
"""Workbooks of more rows than this (tables and ledger together) are written by a worker
process (:func:`start_tables_xlsx`): building the sheets' XML is pure Python, so a second
process is the only way to use a second core while the run draws the report's maps."""


# The worker is a fresh interpreter started on this module, not a multiprocessing child: a
# spawned child re-imports the caller's ``__main__``, so a planner's script without an
# ``if __name__ == "__main__":`` guard would run a second time in it (its whole run).
_WORKER_CODE = (
    "import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
    "from fiveplans.maps.tables import _worker_main; _worker_main()"
)


def _worker_main() -> None:
    """The worker's side: the pickled ``(tables, path, ledger)`` on stdin; the pickled
    ``("ok", warnings)`` or ``("error", exception)`` on stdout."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the answer's channel
    try:
        args = pickle.load(stdin)
    except Exception as exc:  # the tables did not arrive whole: the caller writes them itself
        answer: tuple[str, Any] = ("unreadable", repr(exc))
    else:
        try:  # the warnings it raises go back to the run, to be raised there
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                write_tables_xlsx(args[0], args[1], ledger=args[2])
            answer = ("ok", [(w.category, str(w.message)) for w in caught])
        except Exception as exc:
            answer = ("error", exc)
    try:
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an exception that does not pickle: its text
        data = pickle.dumps(("error", RuntimeError(f"tables.xlsx worker: {answer[1]!r}")))
    stdout.write(data)
    stdout.flush()


def _python_executable() -> bool:
    """Whether ``sys.executable`` is a Python interpreter the worker can be started with (not
    an application embedding Python, such as QGIS, whose executable would open its window)."""
    name = re.split(r"[\\/]", sys.executable or "")[-1].lower()  # either separator
    return re.fullmatch(r"python(w)?(\d+(\.\d+)?)?(\.exe)?", name) is not None


class _Worker:
    """A worker process writing one workbook, and the thread feeding it the tables."""

    def __init__(self, args: tuple[Any, ...]) -> None:
        self.args = args
        self.error: BaseException | None = None
        # the worker's messages (read when it gives no answer); closed by answer() or stop()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER_CODE, json.dumps([p for p in sys.path if p])],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
            )
        except BaseException:
            self._stderr.close()
            raise
        # the tables are pickled into the pipe on a thread: this process goes on meanwhile
        self._feeder = threading.Thread(target=self._feed, name="tables-xlsx-feed", daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            pickle.dump(self.args, stdin, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # unpicklable tables, or the worker gone
            self.error = exc
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def answer(self) -> tuple[str, Any] | None:
        """The worker's answer, or ``None`` when it gave none (it could not start or died)."""
        stdout = self.proc.stdout
        assert stdout is not None
        data = stdout.read()
        stdout.close()
        self.proc.wait()
        self._feeder.join()
        self._stderr.seek(0)
        err = self._stderr.read().decode("utf-8", "replace").strip()
        self._stderr.close()
        if self.error is not None:
            log.info("tables.xlsx: the worker was not given the tables (%s)", self.error)
            return None
        try:
            return pickle.loads(data)
        except Exception:
            log.info(
                "tables.xlsx worker gave no answer (exit %s): %s", self.proc.returncode, err[-2000:]
            )
            return None

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()
        self._feeder.join()
        for f in (self.proc.stdout, self._stderr):
            if f is not None:
                f.close()


class PendingWorkbook:
    """A ``tables.xlsx`` being written (see :func:`start_tables_xlsx`)."""

    def __init__(self, path: Path, job: _Worker | None = None) -> None:
        self.path = path
        self._job = job

    @property
    def running(self) -> bool:
        """Whether a worker process is still to be waited for (False: written already)."""
        return self._job is not None

    def wait(self) -> None:
        """Wait until the worker process has ended (from any thread; :meth:`result` gives its
        answer and is still to be called)."""
        job = self._job
        if job is not None:
            job.proc.wait()

    def result(self) -> Path:
        """Wait for the workbook; re-raise the writer's warnings and errors here."""
        if self._job is None:
            return self.path
        job, self._job = self._job, None
        answer = job.answer()
        if answer is None or answer[0] == "unreadable":
            # the worker could not start, receive the tables or finish: write them here
            log.info("tables.xlsx written in this process (worker: %s)", answer)
            write_tables_xlsx(job.args[0], job.args[1], ledger=job.args[2])
            return self.path
        kind, value = answer
        if kind == "error":
            raise value
        for category, message in value:
            warnings.warn(message, category, stacklevel=2)
        return self.path

    def cancel(self) -> None:
        """Stop waiting (the run failed): the worker is stopped; the workbook is written
        atomically, so no half-written file is left either way."""
        if self._job is not None:
            job, self._job = self._job, None
            job.stop()


def start_tables_xlsx(
    tables: Sequence[Table],
    path: str | os.PathLike[str],
    *,
    ledger: pd.DataFrame | None = None,
    process: bool | None = None,
) -> PendingWorkbook:
    """:func:`write_tables_xlsx`, in a worker process when the workbook is large.

    Parameters
    ----------
    tables, path, ledger
        As :func:`write_tables_xlsx`.
    process
        Write in a worker process (``True``), in this one (``False``), or by size (``None``:
        more than :data:`PROCESS_ROWS` rows). A daemonic process (a Dask worker, say), or
        Python embedded in an application (QGIS, say: no interpreter to start), always
        writes here. The worker is a fresh interpreter that imports only this package (never
        the caller's script); when it cannot start or dies, the workbook is written here.

    Returns
    -------
    PendingWorkbook
        Call :meth:`PendingWorkbook.result` (or :meth:`~PendingWorkbook.cancel`).
    """
    tables = list(tables)
    rows = sum(len(t.rows) for t in tables) + (0 if ledger is None else len(ledger))
    if process is None:
        process = rows > PROCESS_ROWS
    if process and _python_executable() and not multiprocessing.current_process().daemon:
        try:
            return PendingWorkbook(Path(path), _Worker((tables, str(path), ledger)))
        except OSError as exc:
            log.info("tables.xlsx written in this process (no worker: %s)", exc)
    write_tables_xlsx(tables, path, ledger=ledger)
    return PendingWorkbook(Path(path))


def _write_contents(
    wb: Any, tables: Sequence[Table], header: Any, header_en: Any, title: Any, fmt: Any
) -> None:
    ws = wb.add_worksheet("目录 contents")
    ws.write(0, 0, "目录 Contents — 各表见对应工作表 (each table has its sheet)", title)
    heads = [
        ("表号", "no."),
        ("工作表", "sheet"),
        ("标题", "title"),
        ("English", "title (English)"),
        ("可否相加", "rows may be summed"),
    ]
    # constant_memory: write each row whole before the next one
    for j, (zh, _) in enumerate(heads):
        ws.write(1, j, zh, header)
    for j, (_, en) in enumerate(heads):
        ws.write(2, j, en, header_en)
    for i, t in enumerate(tables, start=3):
        ws.write_string(i, 0, f"表 {t.number}")
        ws.write_url(i, 1, f"internal:'{t.sheet}'!A1", string=t.sheet)
        ws.write_string(i, 2, t.title_zh)
        ws.write_string(i, 3, t.title_en)
        add = {True: "可相加 yes (no overlap)", False: "不可相加 no (rows overlap)", None: "—"}[
            t.additive
        ]
        ws.write_string(i, 4, add)
    ws.freeze_panes(3, 0)
    for j, w in enumerate([8, 30, 40, 60, 28]):
        ws.set_column(j, j, w)


def _write_table(
    wb: Any, t: Table, header: Any, header_en: Any, title: Any, note: Any, fmt: Any
) -> None:
    ws = wb.add_worksheet(t.sheet)
    sample = t.rows.head(2000)
    widths = []
    for c in t.columns:
        w = max(_text_width(c.header_zh), _text_width(c.header_en) * 0.9)
        for v in sample[c.key].tolist():
            w = max(w, _text_width(_cell(v)))
        if t.total is not None:
            w = max(w, _text_width(_cell(t.total.get(c.key))))
        widths.append(min(max(w + 2, 8), 60))
    for j, w in enumerate(widths):
        ws.set_column(j, j, w)
    ws.set_row(0, 20)
    ws.write_string(0, 0, f"{t.caption}  {t.title_en}", title)
    ws.write_string(1, 0, t.full_note or " ", note)
    for j, c in enumerate(t.columns):  # constant_memory: one whole row after the other
        ws.write_string(2, j, c.header_zh, header)
    for j, c in enumerate(t.columns):
        ws.write_string(3, j, c.header_en, header_en)
    ws.freeze_panes(4, 0)
    n = len(t.rows)
    if n:
        styles = [fmt(c.number_format if c.numeric else None) for c in t.columns]
        _stream_rows(ws, 4, [t.rows[c.key] for c in t.columns], styles)
    else:
        ws.write_string(4, 0, "（无 none）")
    if t.total is not None:
        for j, c in enumerate(t.columns):
            f = fmt(c.number_format if c.numeric else None, True)
            v = _cell(t.total.get(c.key))
            if v is None:
                ws.write_blank(4 + max(n, 1), j, None, f)
            elif isinstance(v, int | float) and not isinstance(v, bool):
                ws.write_number(4 + max(n, 1), j, v, f)
            else:
                ws.write_string(4 + max(n, 1), j, str(v), f)


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# xml:space="preserve" only where leading or trailing white space needs it (xlsxwriter's rule)
_PRESERVE = ' xml:space="preserve"'


def _is_empty_cell(v: Any) -> bool:
    return v is None or (isinstance(v, float) and not math.isfinite(v)) or v is pd.NA


def _is_number_cell(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _kind(v: Any) -> int:
    """0 empty, 1 number, 2 text (booleans are text: 是/否)."""
    return 0 if _is_empty_cell(v) else 1 if _is_number_cell(v) else 2


_KIND_OF_TYPE: dict[type, int] = {str: 2, bool: 2, int: 1, type(None): 0}


def _kinds(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The column's values (object array) and the kind of each (:func:`_kind`), by dtype where
    the dtype decides it (floats, integers, strings), else value by value."""
    dtype = values.dtype
    if pd.api.types.is_float_dtype(dtype) and isinstance(dtype, np.dtype) and dtype == np.float64:
        arr = values.to_numpy()
        obj = arr.astype(object)
        return obj, np.where(np.isfinite(arr), 1, 0).astype(np.int8)
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return values.to_numpy(dtype=object), np.ones(len(values), dtype=np.int8)
    obj = values.to_numpy(dtype=object)
    if isinstance(dtype, pd.StringDtype):  # text, or a missing marker (NaN or pd.NA)
        return obj, np.where(values.isna().to_numpy(), 0, 2).astype(np.int8)
    kinds = np.fromiter(
        (_KIND_OF_TYPE.get(type(v), -1) for v in obj), dtype=np.int8, count=len(obj)
    )
    other = np.flatnonzero(kinds == -1)
    if len(other):
        kinds[other] = [_kind(v) for v in obj[other]]
    return obj, kinds


def _column_cells(values: pd.Series, refs: np.ndarray, style: str) -> np.ndarray:
    """The ``<c>`` elements of one column (``""`` where empty), vectorised: numbers as numbers
    (shortest round-trip text), everything else as inline text (XML-escaped), booleans as 是/否;
    ``xml:space="preserve"`` where leading or trailing white space needs it."""
    obj, kinds = _kinds(values)
    out = np.full(len(obj), "", dtype=object)
    num = np.flatnonzero(kinds == 1)
    if len(num):
        text = [
            repr(v) if type(v) is float or type(v) is int else _number_text(v)
            for v in obj[num].tolist()
        ]
        out[num] = [
            f'<c r="{r}"{style}><v>{t}</v></c>'
            for r, t in zip(refs[num].tolist(), text, strict=True)
        ]
    txt = np.flatnonzero(kinds == 2)
    if len(txt):
        raw = ["是" if v is True else "否" if v is False else str(v) for v in obj[txt].tolist()]
        joined = "\x1f".join(raw)  # one pass in C decides which fixes are needed
        if _XML_ILLEGAL.search(joined.replace("\x1f", "")):
            raw = [_XML_ILLEGAL.sub("", t) for t in raw]
        if len(joined) > 32_767:
            raw = [t[:32_767] for t in raw]
        edge = [t[:1].isspace() or t[-1:].isspace() for t in raw]  # as r"^\s|\s$" finds
        for ch, esc in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
            if ch in joined:
                raw = [t.replace(ch, esc) for t in raw]
        opening = (f'{style} t="inlineStr"><is><t>', f'{style} t="inlineStr"><is><t{_PRESERVE}>')
        out[txt] = [
            f'<c r="{r}"{opening[e]}{t}</t></is></c>'
            for r, t, e in zip(refs[txt].tolist(), raw, edge, strict=True)
        ]
    return out


def _number_text(v: Any) -> str:
    return repr(int(v)) if isinstance(v, int | np.integer) else repr(float(v))


def _stream_rows(ws: Any, first: int, columns: Sequence[pd.Series], styles: Sequence[Any]) -> None:
    """Stream a table body into a constant-memory XlsxWriter sheet from 0-based row ``first``.

    The rows are turned into sheet XML a column at a time and written to the sheet's stream, as
    large sheets need; each cell carries its column's number format (its XF index).
    """
    from itertools import chain

    from xlsxwriter.utility import xl_col_to_name

    n = len(columns[0])
    ws._write_single_row(first)  # flush the rows above; the body follows in order
    for start in range(0, n, 20_000):
        stop = min(start + 20_000, n)
        numbers = np.arange(first + start + 1, first + stop + 1).astype(str).astype(object)
        cells = [('<row r="' + numbers + '">').tolist()]
        for j, (col, f) in enumerate(zip(columns, styles, strict=True)):
            style = f' s="{f._get_xf_index()}"' if f is not None else ""
            refs = xl_col_to_name(j) + numbers
            cells.append(_column_cells(col.iloc[start:stop], refs, style).tolist())
        cells.append(["</row>"] * (stop - start))
        ws.fh.write("".join(chain.from_iterable(zip(*cells, strict=True))))
    ws._check_dimensions(first + n - 1, len(columns) - 1)
    ws.previous_row = first + n - 1


def _write_ledger_sheet(wb: Any, ledger: pd.DataFrame, header: Any, fmt: Any) -> None:
    from fiveplans.analysis.ledger import ADJUSTMENT, ADJUSTMENTS, LEDGER_COLUMNS

    ws = wb.add_worksheet("冲突台账")
    columns = [c for c in LEDGER_COLUMNS if c in ledger.columns] + [
        c for c in ledger.columns if c not in LEDGER_COLUMNS
    ]
    styles = []
    for j, name in enumerate(columns):
        width = max(12, min(40, _text_width(name) + 2))
        numeric = pd.api.types.is_float_dtype(ledger[name])
        digits = "0.000000" if ("经度" in name or "纬度" in name) else "#,##0.00"
        styles.append(fmt(digits if numeric else None))
        ws.set_column(j, j, width, styles[-1])
        ws.write_string(0, j, name, header)
    ws.write_comment(
        0,
        0,
        "一行一处冲突；不同类型可重叠，面积不可跨类型相加。在“调整类型”列选择决定 — one row per "
        "conflict; types overlap, do not add areas across types. Choose a decision in 调整类型.",
        {"x_scale": 3, "y_scale": 2},
    )
    ws.freeze_panes(1, 1)
    if len(ledger):
        _stream_rows(ws, 1, [ledger[c] for c in columns], styles)
    if ADJUSTMENT in columns:
        col = columns.index(ADJUSTMENT)
        ws.data_validation(
            1,
            col,
            max(len(ledger) + 1, 2) + 1000,
            col,
            {
                "validate": "list",
                "source": list(ADJUSTMENTS),
                "ignore_blank": True,
                "error_title": "调整类型 adjustment",
                "error_message": "请选择 choose: " + " / ".join(ADJUSTMENTS),
            },
        )
