"""The pilot report (试点报告): ``report.html`` and ``report.pdf``.

The report is rendered from Jinja2 templates shipped in the package (``maps/templates``,
autoescaped: a pilot name or attribute such as ``<img src=x onerror=…>`` is shown as text). It
is Chinese first with English subtitles and follows the pilot's analysis: 概况 overview, 四象限,
冲突, 冲突台账, 三区, 占补平衡, 低效用地, 村庄, 物流半径 and a provenance appendix. Its numbered
tables (表 N) are the :class:`fiveplans.maps.tables.Table` objects of ``tables.xlsx``, so a
figure in the report is the figure in the workbook; its figures (图 N) are charts drawn with
matplotlib in a CJK font and, when :mod:`fiveplans.maps.static` can draw them, the static maps.
Every image is inlined (``data:`` URIs): the HTML opens offline and prints without network.

The PDF is printed by headless Chromium (DevTools ``Page.printToPDF`` through
:class:`fiveplans.maps.browser.Chromium`, network off, fresh profile), which embeds the fonts it
draws with (Noto Sans CJK through fontconfig) and lays CSS out as the HTML shows it (``@page``
A4, wide tables on landscape pages). The browser starts before the figures are drawn, so its
start-up overlaps them, and :func:`start_report` lets a caller write other files while it
prints (``fiveplans run`` writes ``tables.xlsx`` meanwhile). Chromium was
chosen over WeasyPrint because the project already relies on it (static map and ``map.html``
tests, ``scripts/install-system-deps.sh chromium``) and it needs no extra Python or Pango stack.
Without a browser the PDF is skipped with a :class:`~fiveplans.errors.StageSkipped` warning and
the HTML is still written.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import math
import os
import shutil
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fiveplans.errors import FiveplansWarning, StageSkipped
from fiveplans.io import atomic_path
from fiveplans.maps.tables import ACRES_PER_HA, Table, planner_tables

__all__ = [
    "BROWSER_ENV",
    "Figure",
    "PendingReport",
    "ReportEngineMissing",
    "find_browser",
    "format_value",
    "print_pdf",
    "render_html",
    "report_figures",
    "start_report",
    "write_report",
]

log = logging.getLogger(__name__)

BROWSER_ENV = "FIVEPLANS_CHROMIUM"
"""Environment variable naming the Chromium/Chrome executable to print PDFs with."""
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_TEMPLATES = Path(__file__).with_name("templates")
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
)
_PALETTE = {
    "farmland_construction": "#d7301f",
    "ecology_construction": "#238b45",
    "plan_mismatch": "#6a51a3",
    "use_mismatch": "#ec7014",
    "corridor_construction": "#2171b5",
    "built": "#bdbdbd",
    "development": "#fdae6b",
    "control": "#74c476",
}


class ReportEngineMissing(RuntimeError):
    """No PDF engine (headless Chromium) was found."""


@dataclass
class Figure:
    """A numbered figure of the report (图 N): an inline PNG."""

    key: str
    caption_zh: str
    caption_en: str
    src: str
    section: str
    number: int = 0

    @classmethod
    def from_png(
        cls,
        key: str,
        caption_zh: str,
        caption_en: str,
        png: bytes | str | os.PathLike[str],
        section: str,
    ) -> Figure:
        """A figure from PNG bytes or a PNG file (e.g. a static map), inlined as a data URI.

        ``section`` is one of ``overview``, ``quadrants``, ``conflicts``, ``ledger``, ``zones``,
        ``balance``, ``efficiency``, ``villages``, ``logistics``.
        """
        data = png if isinstance(png, bytes) else Path(png).read_bytes()
        src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        return cls(key, caption_zh, caption_en, src, section)


@dataclass
class _Section:
    key: str
    zh: str
    en: str
    paragraphs: list[str]
    missing: str = ""


# ---------------------------------------------------------------------------------------------
# formatting


def format_value(value: Any, kind: str = "text") -> str:
    """A cell as the report prints it: the same rounding as ``tables.xlsx``'s number formats.

    ``m2``/``ha``/``mu``/``km2``: ``1,234.50``; ``share`` (a fraction): ``12.3%``; ``pct``,
    ``min``, ``m``: one decimal; ``grade``/``ratio``: two; ``mm``: three; ``int``: ``1,234``;
    ``None``: ``—``.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, str) or kind in ("text", "code"):
        return str(value)
    v = float(value)
    if kind == "int":
        return f"{round(v):,d}"
    if kind in ("m2", "ha", "mu", "km2"):
        return f"{v:,.2f}"
    if kind == "share":
        return f"{v * 100:.1f}%"
    if kind in ("pct", "min"):
        return f"{v:.1f}"
    if kind == "m":
        return f"{v:,.1f}"
    if kind in ("grade", "ratio"):
        return f"{v:.2f}"
    if kind == "mm":
        return f"{v:.3f}"
    return str(value)


def _m2(value: Any) -> str:
    """An area as m² / 公顷 / 亩."""
    v = float(value or 0.0)
    return f"{v:,.2f} m²（{v / 1e4:,.2f} 公顷 ha，{v / 1e4 * ACRES_PER_HA:,.2f} 亩 mu）"


# ---------------------------------------------------------------------------------------------
# figures


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed CJK font matplotlib can draw Chinese with (``None``: none)."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in _CJK_FONTS:
        if name in names:
            return name
    return None


def _png(fig: Any, *, dpi: int = 120) -> str:
    """A figure as a PNG data URI (one draw: the figures use constrained layout)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _subplots(width: float, height: float) -> tuple[Any, Any]:
    """A pyplot-free figure (no global state), constrained layout."""
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _rc() -> dict[str, Any]:
    font = cjk_font()
    rc: dict[str, Any] = {"axes.unicode_minus": False, "font.size": 9}
    if font:
        rc["font.family"] = [font, "DejaVu Sans"]
    return rc


def _colours() -> dict[str, str]:
    """The maps' palette (:mod:`fiveplans.maps.palette`), so charts and maps agree."""
    try:
        from fiveplans.maps import palette
    except ImportError:  # pragma: no cover - the palette is part of the package
        return dict(_PALETTE)
    return {**_PALETTE, **palette.CONFLICT_COLOURS, **palette.ZONE_COLOURS}


def _by_key(tables: Sequence[Table]) -> dict[str, Table]:
    return {t.key: t for t in tables}


def _charts(tables: Sequence[Table]) -> list[Figure]:
    import matplotlib

    if cjk_font() is None:
        warnings.warn(
            "未找到中文字体 — no CJK font found: the report's charts would show empty boxes, so "
            "they are left out. 解决 Fix: install Noto Sans CJK (scripts/install-system-deps.sh "
            "fonts).",
            FiveplansWarning,
            stacklevel=3,
        )
        return []
    t = _by_key(tables)
    colours = _colours()
    out: list[Figure] = []
    with matplotlib.rc_context(_rc()):
        plans = [k for k in t if k.startswith("quadrants_") and not k.endswith("_districts")]
        if plans:
            fig, ax = _subplots(7.5, 1.0 + 0.8 * len(plans))
            colors = ["#d95f02", "#7570b3", "#1b9e77", "#d9d9d9"]
            labels = []
            for i, key in enumerate(plans):
                left = 0.0
                for j, (_, r) in enumerate(t[key].rows.iterrows()):
                    ha = float(r["area_ha"] or 0.0)
                    ax.barh(
                        i,
                        ha,
                        left=left,
                        color=colors[j % 4],
                        edgecolor="white",
                        label=r["quadrant_zh"] if i == 0 else None,
                    )
                    left += ha
                labels.append(t[key].title_zh.split("：")[-1].replace("与土地利用总体规划", ""))
            ax.set_yticks(range(len(plans)), labels)
            ax.set_xlabel("面积 area (公顷 ha)")
            fig.legend(loc="outside lower center", ncol=2, frameon=False, fontsize=8)
            ax.spines[["top", "right"]].set_visible(False)
            out.append(
                Figure(
                    "quadrants",
                    "四象限面积对比（对土地利用总体规划）",
                    "Four quadrants against the land-use plan (ha)",
                    _png(fig),
                    "quadrants",
                )
            )
        if "conflict_types" in t:
            rows = t["conflict_types"].rows
            fig, ax = _subplots(7.5, 2.6)
            ha = [float(v or 0.0) for v in rows["area_ha"]]
            bars = ax.barh(
                range(len(rows)), ha, color=[colours.get(c, "#888") for c in rows["type"]]
            )
            ax.set_yticks(range(len(rows)), list(rows["type_zh"]))
            ax.invert_yaxis()
            ax.bar_label(bars, labels=[format_value(v, "ha") for v in ha], padding=3, fontsize=8)
            ax.set_xlabel("面积 area (公顷 ha)")
            ax.margins(x=0.15)
            ax.spines[["top", "right"]].set_visible(False)
            out.append(
                Figure(
                    "conflict_types",
                    "各类冲突面积",
                    "Conflict area by type (ha)",
                    _png(fig),
                    "conflicts",
                )
            )
        if "zones" in t:
            rows = t["zones"].rows
            fig, ax = _subplots(7.5, 1.6)
            left = 0.0
            for _, r in rows.iterrows():
                ha = float(r["area_ha"] or 0.0)
                ax.barh(0, ha, left=left, color=colours[r["zone"]], edgecolor="white")
                rgb = matplotlib.colors.to_rgb(colours[r["zone"]])
                ink = (
                    "white" if 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 0.55 else "black"
                )
                ax.text(
                    left + ha / 2,
                    0,
                    f"{r['zone_zh']}\n{format_value(ha, 'ha')} 公顷",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color=ink,
                )
                left += ha
            ax.set_yticks([])
            ax.set_xlabel("面积 area (公顷 ha)")
            ax.spines[["top", "right", "left"]].set_visible(False)
            out.append(
                Figure(
                    "zones",
                    "三区面积构成",
                    "Built, development and control zones (ha)",
                    _png(fig),
                    "zones",
                )
            )
        if "balance" in t and len(t["balance"].rows):
            rows = t["balance"].rows
            fig, ax = _subplots(7.5, 2.4)
            x = range(len(rows))
            outs = [float(v or 0.0) for v in rows["out_area_ha"]]
            ins = [float(v or 0.0) for v in rows["in_area_ha"]]
            ax.bar([i - 0.2 for i in x], outs, width=0.4, color="#d7301f", label="调出 out")
            ax.bar([i + 0.2 for i in x], ins, width=0.4, color="#31a354", label="调入 in")
            ax.set_xticks(list(x), list(rows["district"]))
            ax.set_ylabel("公顷 ha")
            ax.legend(frameon=False)
            ax.spines[["top", "right"]].set_visible(False)
            out.append(
                Figure(
                    "balance",
                    "各行政区耕地调出与调入",
                    "Farmland out and in by district (ha)",
                    _png(fig),
                    "balance",
                )
            )
        if "suppliers" in t and len(t["suppliers"].rows):
            rows = t["suppliers"].rows
            fig, ax = _subplots(7.5, 2.6)
            groups = [
                (name, [float(v) for v in g["travel_min"] if v is not None])
                for name, g in rows.groupby("cluster", dropna=True)
            ]
            groups = [(n, v) for n, v in groups if v]
            if groups:
                ax.hist(
                    [v for _, v in groups], bins=12, stacked=True, label=[str(n) for n, _ in groups]
                )
                ax.set_xlabel("车程 travel time (分钟 min)")
                ax.set_ylabel("配套企业 suppliers")
                ax.legend(frameon=False, fontsize=8)
                ax.spines[["top", "right"]].set_visible(False)
                out.append(
                    Figure(
                        "supplier_times",
                        "配套企业至所属集群车程分布",
                        "Suppliers' travel time to their cluster",
                        _png(fig),
                        "logistics",
                    )
                )
    return out


def _static_maps(pilot: Any, analysis: Any) -> list[Figure]:
    """The static maps of :mod:`fiveplans.maps.static` (conflicts, zones, catchments), inlined."""
    from fiveplans.errors import FiveplansError
    from fiveplans.maps import static

    jobs: list[tuple[str, str, str, str, Any]] = []
    patches = getattr(analysis, "patches", None)
    jobs.append(
        (
            "conflict_map",
            "冲突分析图（底图为土地利用总体规划）",
            "Conflicts over the land-use plan",
            "conflicts",
            lambda: static.conflict_figure(
                pilot,
                analysis.conflicts,
                analysis.ledger,
                patches=patches if patches is not None and len(patches) else None,
                title=f"{pilot.name} 冲突分析图",
            ),
        )
    )
    if analysis.zones is not None and len(analysis.zones):
        jobs.append(
            (
                "zones_map",
                "三区划定图",
                "Built, development and control zones",
                "zones",
                lambda: static.zones_figure(
                    pilot, analysis.zones, title=f"{pilot.name} 三区划定图"
                ),
            )
        )
    if analysis.logistics is not None:
        jobs.append(
            (
                "catchments_map",
                "产业集群物流腹地图",
                "Cluster catchments, cores and suppliers",
                "logistics",
                lambda: static.catchments_figure(
                    pilot, analysis.logistics, title=f"{pilot.name} 物流腹地图"
                ),
            )
        )
    out = []
    for key, zh, en, section, draw in jobs:
        try:
            fig = draw()
        except FiveplansError as exc:
            warnings.warn(
                f"报告地图未绘制 — report map {key} not drawn: {exc}",
                FiveplansWarning,
                stacklevel=3,
            )
            continue
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)  # the maps use constrained layout
        out.append(Figure.from_png(key, zh, en, buf.getvalue(), section))
    return out


def report_figures(pilot: Any, analysis: Any, tables: Sequence[Table]) -> list[Figure]:
    """The report's figures: static maps (when available) and charts of the tables."""
    figures = []
    if analysis is not None:
        figures += _static_maps(pilot, analysis)
    figures += _charts(tables)
    return figures


# ---------------------------------------------------------------------------------------------
# html

_SECTIONS = (
    ("overview", "概况", "Overview"),
    ("quadrants", "四象限对比", "Four-quadrant comparison"),
    ("conflicts", "规划冲突", "Conflicts between the plans"),
    ("ledger", "冲突台账", "Conflict ledger"),
    ("zones", "三区划定", "Built, development and control zones"),
    ("balance", "耕地占补平衡", "Farmland balance"),
    ("efficiency", "低效工业用地", "Low-efficiency industrial land"),
    ("villages", "村庄", "Villages"),
    ("logistics", "物流半径", "Logistics radius and catchments"),
    ("appendix", "附录：运行来源", "Appendix: provenance"),
)


def _skipped_text(summary: Mapping[str, Any], *words: str) -> str:
    for stage, info in (summary.get("skipped") or {}).items():
        if any(w in stage for w in words):
            if isinstance(info, Mapping):
                return f"{info.get('reason', '')} 解决 Fix: {info.get('fix', '')}".strip()
            return str(info)
    for w in summary.get("warnings") or []:
        text = w if isinstance(w, str) else str(w.get("message", w))
        if any(word in text for word in words) and ("skip" in text or "not" in text):
            return text
    return ""


def _sections(
    pilot: Any, analysis: Any, summary: Mapping[str, Any], tables: Sequence[Table]
) -> list[_Section]:
    t = _by_key(tables)
    out = []
    for key, zh, en in _SECTIONS:
        paragraphs: list[str] = []
        missing = ""
        if key == "overview":
            layers = summary.get("layers") or {}
            paragraphs.append(
                f"规划范围面积 boundary area：{_m2(summary.get('boundary_area_m2'))}。"
                f"工作坐标系 working CRS：{summary.get('crs', '')}。"
                f"共载入 {len(layers)} 个图层 layers loaded（表 {t['layers'].number}）。"
            )
            n_warn = len(summary.get("warnings") or [])
            n_skip = len(summary.get("skipped") or {})
            paragraphs.append(
                f"警告 {n_warn} 条、跳过的环节 {n_skip} 个，见表 {t['warnings'].number} — "
                f"{n_warn} warning(s) and {n_skip} skipped stage(s)."
            )
        elif key == "quadrants":
            if not any(k.startswith("quadrants_") for k in t):
                missing = "需要产业集聚区总体规划或城市总体规划 — needs the cluster or urban plan."
        elif key == "conflicts":
            block = summary.get("conflicts") or {}
            if block and "conflict_types" in t:
                parts = [
                    f"{t['conflict_types'].rows.loc[i, 'type_zh']} "
                    f"{format_value(t['conflict_types'].rows.loc[i, 'area_ha'], 'ha')} 公顷"
                    for i in t["conflict_types"].rows.index
                ]
                count = sum(int((v or {}).get("count") or 0) for v in block.values())
                paragraphs.append(
                    f"共识别冲突图斑 {count:,d} 处 — {count:,d} conflict pieces: "
                    + "；".join(parts)
                    + "。各类型可重叠 — types overlap."
                )
            else:
                missing = "未运行冲突分析 — the conflict analysis did not run."
        elif key == "ledger":
            if "ledger_status" in t and t["ledger_status"].total:
                tot = t["ledger_status"].total
                paragraphs.append(
                    f"台账 {format_value(tot.get('count'), 'int')} 条：已决定 "
                    f"{format_value(tot.get('decided'), 'int')} 条，待决定 "
                    f"{format_value(tot.get('undecided'), 'int')} 条 — decided / undecided. "
                    "在 tables.xlsx 的“冲突台账”工作表中填写调整类型，下次运行时保留 — fill "
                    "in the 冲突台账 sheet; the next run keeps the decisions."
                )
            carried = summary.get("ledger")
            if isinstance(carried, Mapping):
                gone = carried.get("gone")
                gone_n = len(gone) if isinstance(gone, list | tuple) else gone
                paragraphs.append(
                    f"沿用上次台账：保留决定 {carried.get('kept', 0)} 条，新增冲突 "
                    f"{carried.get('new', 0)} 条，已消失 {gone_n or 0} 条 — from the previous "
                    "ledger: decisions kept, new conflicts, conflicts gone."
                )
        elif key == "zones":
            if "zones" in t:
                tiers = t["zone_blocks"].extra.get("tiers", {}) if "zone_blocks" in t else {}
                paragraphs.append(
                    "三区划定见表 {}；发展区地块开发时序见表 {}（一级 {} 块、二级 {} 块、"
                    "三级 {} 块）— zones and development tiers.".format(
                        t["zones"].number,
                        t["zone_blocks"].number if "zone_blocks" in t else "—",
                        tiers.get(1, 0),
                        tiers.get(2, 0),
                        tiers.get(3, 0),
                    )
                )
            else:
                missing = _skipped_text(summary, "zone", "current") or (
                    "需要土地利用现状图层 — needs the current land-use layer (`current:`)."
                )
        elif key == "balance":
            fb = summary.get("farmland_balance")
            if fb:
                state = "平衡 balanced" if fb.get("feasible") else "不平衡 NOT balanced"
                paragraphs.append(
                    f"调出 out {_m2(fb.get('out_m2'))}，调入 in {_m2(fb.get('in_m2'))}；"
                    f"{state}，缺口 shortfall {_m2(fb.get('shortfall_m2'))}。"
                )
                adj = getattr(analysis, "adjustments", None)
                graded = _graded(pilot, analysis)
                if graded:
                    paragraphs.append(
                        "按面积与耕地质量等别（1 等最好）平衡 — balanced by area and by quality "
                        "grade (等别 1 is the best)."
                        + (
                            ""
                            if adj is None or adj.quality_ok
                            else " 调入耕地质量低于调出 — the "
                            "land brought in is of lower quality than the land taken out."
                        )
                    )
                else:
                    paragraphs.append(
                        "仅按面积平衡：无耕地质量等别数据（GDDB 字段或 grades: 图层）— area-only: "
                        "no quality grades (a GDDB column or a `grades:` layer)."
                    )
            else:
                missing = _skipped_text(summary, "balance", "adjust", "current") or (
                    "需要土地利用现状图层 — needs the current land-use layer."
                )
        elif key == "efficiency":
            if "efficiency" in t:
                ex = t["efficiency"].extra
                paragraphs.append(
                    f"低效工业用地（再开发候选）{ex.get('candidates', 0)} 宗，"
                    f"{_m2(ex.get('candidates_m2'))} — low-efficiency parcels."
                )
            else:
                missing = _skipped_text(summary, "efficiency", "current") or (
                    "需要土地利用现状图层 — needs the current land-use layer."
                )
        elif key == "villages":
            if "villages" not in t:
                missing = _skipped_text(summary, "village", "current") or (
                    "需要土地利用现状图层 — needs the current land-use layer."
                )
        elif key == "logistics":
            cat = summary.get("catchments")
            if cat:
                paragraphs.append(
                    f"{cat.get('clusters', 0)} 个产业集群，{cat.get('suppliers', 0)} 家配套企业中 "
                    f"{cat.get('assigned', 0)} 家在时间半径内 — suppliers within the radius."
                )
            else:
                missing = _skipped_text(summary, "logistic", "road", "cluster") or (
                    "需要道路网 roads: 与产业集群核心 clusters: — needs `roads:` and `clusters:`."
                )
        elif key == "appendix" and "provenance" not in t:
            missing = "summary.json 未记录来源 — summary.json has no provenance block."
        out.append(_Section(key, zh, en, paragraphs, missing))
    return out


def _graded(pilot: Any, analysis: Any = None) -> bool:
    """Whether the farmland balance had quality grades (``Analysis.grades``, else the layers)."""
    if isinstance(getattr(analysis, "grades", None), bool):
        return analysis.grades
    cfg = getattr(pilot, "config", None)
    if cfg is not None and "grades" in getattr(cfg, "sources", {}):
        return True
    current = getattr(pilot, "layers", {}).get("current")
    if current is None:
        return False
    field = getattr(getattr(cfg, "options", {}), "get", lambda *_: None)("grade_field")
    return any(c in current.columns for c in (field, "GDDB") if c)


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = format_value
    return env


def render_html(
    pilot: Any,
    analysis: Any,
    summary: Mapping[str, Any],
    *,
    tables: Sequence[Table] | None = None,
    figures: Sequence[Figure] | None = None,
) -> str:
    """The report as one self-contained HTML document (autoescaped; images inline)."""
    from fiveplans import __version__ as version

    tables = list(tables) if tables is not None else planner_tables(pilot, analysis, summary)
    figures = list(figures) if figures is not None else report_figures(pilot, analysis, tables)
    order = {key: i for i, (key, _, _) in enumerate(_SECTIONS)}
    figures = sorted(figures, key=lambda f: order.get(f.section, len(order)))
    for i, f in enumerate(figures, start=1):
        f.number = i
    started = (summary.get("provenance") or {}).get("started", "")
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            summary=summary,
            tables=tables,
            figures=figures,
            sections=_sections(pilot, analysis, summary, tables),
            css=(_TEMPLATES / "report.css").read_text(encoding="utf-8"),
            version=version,
            started=started,
        )
    )


# ---------------------------------------------------------------------------------------------
# pdf


def no_browser_skip() -> StageSkipped:
    """The skipped stage a report without a headless browser reports (``report_pdf``)."""
    return StageSkipped(
        "report_pdf",
        "未找到无头浏览器，未生成 report.pdf（report.html 已生成）— no headless Chromium, so "
        "report.pdf was not written (report.html was).",
        f"install Chromium (scripts/install-system-deps.sh chromium) or set {BROWSER_ENV}",
    )


def find_browser() -> str | None:
    """The Chromium/Chrome executable (``$FIVEPLANS_CHROMIUM``, else the first on ``PATH``), as
    :func:`fiveplans.maps.browser.find_chromium` finds it for the map tests."""
    try:
        from fiveplans.maps.browser import find_chromium
    except ImportError:  # pragma: no cover - the browser helper is part of the package
        given = os.environ.get(BROWSER_ENV)
        if given and Path(given).is_file():
            return given
        return next((p for p in map(shutil.which, _BROWSERS) if p), None)
    return find_chromium()


def print_pdf(html: str | os.PathLike[str], pdf: str | os.PathLike[str]) -> Path:
    """Print an HTML file to PDF with headless Chromium (network off), atomically.

    Raises
    ------
    ReportEngineMissing
        No Chromium/Chrome executable found.
    RuntimeError
        Chromium failed (:class:`fiveplans.maps.browser.BrowserError`) or wrote no PDF.
    """
    browser = _start_browser()
    if browser is None:
        raise ReportEngineMissing(
            "未找到无头浏览器 — no headless Chromium/Chrome found to print the PDF. "
            "解决 Fix: install it (scripts/install-system-deps.sh chromium) or set "
            f"{BROWSER_ENV} to its path."
        )
    try:
        return _print_with(browser, Path(html), Path(pdf))
    finally:
        browser.close()


def write_report(
    pilot: Any,
    analysis: Any,
    summary: Mapping[str, Any],
    outdir: str | os.PathLike[str],
    *,
    tables: Sequence[Table] | None = None,
    figures: Sequence[Figure] | None = None,
    pdf: bool = True,
) -> tuple[Path, Path | None]:
    """Write ``report.html`` and ``report.pdf`` into ``outdir`` (each atomically).

    Parameters
    ----------
    pilot
        The loaded pilot.
    analysis
        Its analysis (``None``: overview only).
    summary
        The ``summary.json`` content.
    outdir
        Output folder.
    tables
        The planner tables (default :func:`~fiveplans.maps.tables.planner_tables`); pass the
        ones written to ``tables.xlsx`` so both show the same numbers.
    figures
        The figures (default :func:`report_figures`).
    pdf
        Also print the PDF.

    Returns
    -------
    (pathlib.Path, pathlib.Path or None)
        ``report.html`` and ``report.pdf`` (``None`` when the PDF was skipped: no browser, a
        :class:`~fiveplans.errors.StageSkipped` warning; or the browser failed, a
        :class:`~fiveplans.errors.FiveplansWarning`).
    """
    pending = start_report(
        pilot, analysis, summary, outdir, tables=tables, figures=figures, pdf=pdf
    )
    return pending.finish(stacklevel=3)


class PendingReport:
    """A report whose ``report.html`` is written and whose ``report.pdf`` Chromium is still
    printing (:func:`start_report`); :meth:`finish` waits for it.

    The printing is Chromium's work in its own processes; a thread here only waits on its
    DevTools pipe (no Python work, no warnings), so the caller can write other outputs on the
    other core meanwhile. Every warning is raised by :meth:`finish`, in the caller's thread.
    """

    def __init__(
        self,
        html: Path,
        pdf: Path | None,
        browser: Any = None,
        *,
        after: Callable[[], object] | None = None,
    ) -> None:
        self.html = html
        self.pdf = pdf
        self._browser = browser
        self._after = after  # waited for, then Chromium started, on the printing thread
        self._error: BaseException | None = None
        self._close_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if (browser is not None or after is not None) and pdf is not None:
            self._thread = threading.Thread(
                target=self._print, name="fiveplans-report-pdf", daemon=True
            )
            self._thread.start()

    def _print(self) -> None:
        try:
            if self._browser is None:
                assert self._after is not None
                self._after()
                self._browser = _start_browser()
                if self._browser is None:
                    raise RuntimeError("headless Chromium could not be found any more")
            _print_with(self._browser, self.html, self.pdf)  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised (or warned about) by finish()
            self._error = exc
        finally:  # Chromium's shutdown (~0.5 s) is waited for here too, not by the caller
            try:
                if self._browser is not None:
                    self._browser.close()
            except BaseException as exc:  # raised by finish(), as write_report's close was
                self._close_error = exc

    def _wait(self) -> None:
        try:
            if self._thread is not None:
                self._thread.join()
                self._thread = None
        finally:
            if self._browser is not None:
                self._browser.close()
                self._browser = None

    def cancel(self) -> None:
        """Wait for the printer and close the browser, ignoring its outcome (on an error
        elsewhere: nothing is left running)."""
        self._wait()

    def finish(self, *, stacklevel: int = 2) -> tuple[Path, Path | None]:
        """``report.html`` and ``report.pdf`` (``None``, with a warning, when Chromium failed),
        once the PDF is printed."""
        self._wait()
        if self._close_error is not None:
            exc, self._close_error = self._close_error, None
            raise exc
        exc, self._error = self._error, None
        if exc is None:
            return self.html, self.pdf
        if isinstance(exc, RuntimeError | OSError):  # BrowserError is a RuntimeError
            warnings.warn(
                f"report.pdf 未生成 not written: {exc}. 解决 Fix: open report.html and print it, "
                "or check that Chromium starts (`chromium --headless --version`).",
                FiveplansWarning,
                stacklevel=stacklevel,
            )
            self.pdf = None
            return self.html, None
        raise exc


def start_report(
    pilot: Any,
    analysis: Any,
    summary: Mapping[str, Any],
    outdir: str | os.PathLike[str],
    *,
    tables: Sequence[Table] | None = None,
    figures: Sequence[Figure] | None = None,
    pdf: bool = True,
    print_after: Callable[[], object] | None = None,
) -> PendingReport:
    """:func:`write_report`, returning as soon as ``report.html`` is written: Chromium prints
    ``report.pdf`` in the background until :meth:`PendingReport.finish` (or
    :meth:`PendingReport.cancel`), which the caller must call.

    Parameters and warnings as :func:`write_report` (a missing browser is reported here, a
    failed print by :meth:`PendingReport.finish`), and:

    print_after
        Called on the printing thread before Chromium starts (e.g. waiting for another
        worker process to end, so that the two never hold memory at once). Without it
        Chromium starts at once and boots while the figures are drawn.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    if print_after is None:
        # Chromium boots (~2 s) while the figures are drawn: the browser runs on the other core
        browser = _start_browser() if pdf else None
        found = browser is not None
    else:
        browser, found = None, pdf and find_browser() is not None
    try:
        text = render_html(pilot, analysis, summary, tables=tables, figures=figures)
        html_path = out / "report.html"
        with atomic_path(html_path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        if pdf and not found:
            warnings.warn(no_browser_skip(), stacklevel=3)
        pending = PendingReport(
            html_path,
            out / "report.pdf" if found else None,
            browser,
            after=print_after if found else None,
        )
    except BaseException:
        if browser is not None:
            browser.close()
        raise
    return pending


def _start_browser() -> Any:
    """A started :class:`fiveplans.maps.browser.Chromium` (network off), or ``None``."""
    from fiveplans.maps.browser import Chromium

    executable = find_browser()
    if executable is None:
        return None
    browser = Chromium(executable, timeout=180.0)
    browser.start()
    return browser


def _print_with(browser: Any, html: Path, pdf: Path) -> Path:
    """Print ``html`` to ``pdf`` (atomically) in a started browser, by the page's CSS size."""
    page = browser.open(html.resolve().as_uri(), timeout=120.0)
    with atomic_path(pdf) as tmp:
        page.pdf(
            tmp,
            printBackground=True,
            preferCSSPageSize=True,
            displayHeaderFooter=False,
            generateTaggedPDF=False,
        )
        if tmp.stat().st_size < 100 or tmp.read_bytes()[:5] != b"%PDF-":
            raise RuntimeError(f"Chromium wrote no PDF for {html}")
    return pdf
