"""Print-ready static maps (PNG, PDF) for the report: conflicts, zones, catchments.

Drawn with matplotlib in the working CRS (metres), in the palette of the interactive map
(:mod:`fiveplans.maps.palette`), each with a title, a Chinese-first legend (图例), a north arrow
and a scale bar (比例尺, matplotlib-scalebar). Chinese text needs a CJK font: :func:`cjk_font`
finds an installed one through matplotlib's font manager (Noto Sans CJK SC first — Debian's
``fonts-noto-cjk``, installed by ``scripts/install-system-deps.sh fonts``); without one the
maps are still drawn and a :class:`~fiveplans.errors.FiveplansWarning` says the Chinese text
would show as boxes. PDFs embed the font (TrueType/Type 42 subsets), so they print anywhere.

>>> fig = static.conflict_figure(pilot, conflicts, ledger=ledger)  # doctest: +SKIP
>>> static.save_figure(fig, "out/demo/conflicts.pdf")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely
from matplotlib import font_manager
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.path import Path as MplPath
from matplotlib_scalebar.scalebar import ScaleBar

from fiveplans.errors import DataError, FiveplansWarning
from fiveplans.io import atomic_path
from fiveplans.maps import palette
from fiveplans.maps.interactive import _decisions, _in_crs, _layers_of

__all__ = [
    "CJK_FONTS",
    "catchments_figure",
    "cjk_font",
    "conflict_figure",
    "missing_glyphs",
    "save_figure",
    "zones_figure",
]

logger = logging.getLogger(__name__)

CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Noto Serif CJK SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
)
"""CJK font families tried, in order (simplified Chinese faces first)."""


@functools.lru_cache(maxsize=1)
def cjk_font() -> font_manager.FontProperties | None:
    """The first installed font of :data:`CJK_FONTS` (None, with a warning, when none is)."""
    installed = {f.name: f for f in font_manager.fontManager.ttflist}
    for family in CJK_FONTS:
        if family in installed:
            logger.debug("CJK font: %s (%s)", family, installed[family].fname)
            return font_manager.FontProperties(family=family)
    return None


def _font() -> font_manager.FontProperties:
    font = cjk_font()
    if font is None:
        warnings.warn(
            "未找到中文字体，中文会显示为方框 — no CJK font found: Chinese labels would show as "
            "boxes. 解决 Fix: scripts/install-system-deps.sh fonts (Debian: apt-get install "
            "fonts-noto-cjk), then delete matplotlib's font cache",
            FiveplansWarning,
            stacklevel=3,
        )
        return font_manager.FontProperties()
    return font


def missing_glyphs(text: str, font: font_manager.FontProperties | None = None) -> list[str]:
    """Characters of ``text`` the font has no glyph for (they would be drawn as boxes)."""
    from matplotlib.ft2font import FT2Font

    props = font or cjk_font() or font_manager.FontProperties()
    path = font_manager.findfont(props, fallback_to_default=False)
    ft = FT2Font(path)
    return sorted({ch for ch in text if not ch.isspace() and ft.get_char_index(ord(ch)) == 0})


def _north_arrow(ax: Any, font: font_manager.FontProperties) -> None:
    ax.annotate(
        "北\nN",
        xy=(0.95, 0.93),
        xytext=(0.95, 0.80),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontproperties=font,
        fontsize=10,
        arrowprops={"facecolor": "black", "edgecolor": "black", "width": 4, "headwidth": 12},
    )


def _frame(
    title: str, figsize: tuple[float, float]
) -> tuple[Figure, Any, font_manager.FontProperties]:
    font = _font()
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontproperties=font, fontsize=15, fontweight="bold")
    return fig, ax, font


def _finish(ax: Any, font: font_manager.FontProperties, handles: list[Any], extent: Any) -> None:
    fig = ax.get_figure()
    if extent is not None:
        x0, y0, x1, y1 = extent.total_bounds
        pad = 0.03 * max(x1 - x0, y1 - y0)
        ax.set_xlim(x0 - pad, x1 + pad)
        ax.set_ylim(y0 - pad, y1 + pad)
    ax.add_artist(
        ScaleBar(
            1.0,
            "m",
            location="lower left",
            label="比例尺 Scale",
            font_properties={"family": font.get_family(), "size": 9},
            box_alpha=0.8,
            scale_loc="bottom",
            label_loc="top",
        )
    )
    _north_arrow(ax, font)
    if handles:
        legend = fig.legend(
            handles=handles,
            title="图例 Legend",
            prop=font.copy(),
            title_fontproperties=font.copy(),
            loc="outside right upper",
            frameon=True,
        )
        for text in legend.get_texts():
            text.set_fontsize(8)
        legend.get_title().set_fontsize(10)


# ------------------------------------------------------------------------------------ polygons
# A county plan is ~10⁵ small polygons. geopandas' ``GeoDataFrame.plot`` builds one matplotlib
# ``PathPatch`` per row (an Artist each: properties, colour parsing, transforms) before it puts
# them into one collection; that object churn, not the drawing, was most of a report's time.
# :func:`_fill` builds the very same paths — one compound path per row, every ring of the row's
# normalised geometry with MOVETO … CLOSEPOLY codes, exterior then holes, as geopandas'
# ``_PolygonPatch`` makes them — straight from the coordinate array (shapely.to_ragged_array)
# and draws them as one PathCollection with the same style, so the figure (raster or vector)
# is the same, path for path, in the same drawing order.

_POLYGONAL = ("Polygon", "MultiPolygon")


def _axis_labels(ax: Any, crs: Any) -> None:
    """The axis labels geopandas' ``plot`` sets from the CRS (hidden with the axes; kept so
    the figure's artists are those of a geopandas plot)."""
    if crs:
        info = crs.axis_info
        x_label = f"{info[0].name} [{info[0].unit_name}]"
        y_label = f"{info[1].name} [{info[1].unit_name}]"
        if info[0].direction == "north":
            x_label, y_label = y_label, x_label
    else:
        x_label, y_label = "x", "y"
    if ax.get_xlabel() == "":
        ax.set_xlabel(x_label, fontsize="small")
    if ax.get_ylabel() == "":
        ax.set_ylabel(y_label, fontsize="small")


def polygon_paths(geoms: Any) -> list[MplPath]:
    """One matplotlib compound path per (Multi)Polygon, as geopandas draws it.

    Each geometry is normalised (exterior rings clockwise, holes counter-clockwise: the winding
    matplotlib fills holes by), and its rings — exterior then holes, part by part — become
    MOVETO, LINETO …, CLOSEPOLY runs of one path. Built from the coordinate array in a few
    vectorised steps instead of one shapely/matplotlib object per ring.

    Parameters
    ----------
    geoms
        Polygons and MultiPolygons (no missing or empty geometry).

    Returns
    -------
    list of matplotlib.path.Path
        In the order of ``geoms``.
    """
    arr = shapely.normalize(np.asarray(geoms, dtype=object))
    if not len(arr):
        return []
    kind, coords, offsets = shapely.to_ragged_array(arr, include_z=False)
    rings = offsets[0]
    if kind == shapely.GeometryType.MULTIPOLYGON:
        bounds = rings[offsets[1][offsets[2]]]
    else:
        bounds = rings[offsets[1]]
    codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
    codes[rings[1:] - 1] = MplPath.CLOSEPOLY
    codes[rings[:-1]] = MplPath.MOVETO
    return [
        MplPath(coords[a:b], codes[a:b])
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
    ]


def _colours(values: Any) -> Any:
    """Per-row colours as an RGBA array, each distinct colour parsed once (one colour as is)."""
    if values is None or isinstance(values, str | tuple):
        return values
    index: dict[Any, int] = {}
    rows = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.intp)
    return to_rgba_array(list(index))[rows]


def _fill(
    ax: Any,
    frame: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    facecolor: Any,
    **style: Any,
) -> None:
    """Draw polygons like ``frame.plot(ax=ax, facecolor=..., **style)``, as one collection.

    ``facecolor`` is one colour or one per row. Anything but Polygons and MultiPolygons
    (e.g. a GeometryCollection) is left to geopandas.
    """
    geoms = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    values = np.asarray(geoms.array, dtype=object)
    plain = np.isin(shapely.get_type_id(values), (3, 6)) & ~shapely.is_empty(values)
    geographic = geoms.crs is not None and geoms.crs.is_geographic
    if not plain.all() or geographic:  # collections, empties, degrees: geopandas' own rules
        key = "facecolor" if facecolor is None or isinstance(facecolor, str) else "color"
        geoms.plot(ax=ax, **{key: facecolor}, **style)
        return
    _axis_labels(ax, geoms.crs)
    if not len(values):
        return
    ax.set_aspect("equal")
    collection = PathCollection(polygon_paths(values), facecolor=_colours(facecolor), **style)
    ax.add_collection(collection, autolim=True)
    ax.autoscale_view()


def _draw_plan(ax: Any, frame: gpd.GeoDataFrame | None) -> list[Any]:
    if frame is None:
        return []
    frame = frame.loc[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if not len(frame):
        return []
    legend = frame["legend"] if "legend" in frame.columns else pd.Series("other", index=frame.index)
    use = frame["use"] if "use" in frame.columns else pd.Series(None, index=frame.index)
    known: dict[tuple[Any, Any], str] = {}  # a plan has a handful of classes: each looked up once
    colours = [
        known[key] if key in known else known.setdefault(key, palette.feature_colour(*key))
        for key in zip(legend.tolist(), use.tolist(), strict=True)
    ]
    _fill(ax, frame, facecolor=colours, edgecolor="#8c8c8c", linewidth=0.15, zorder=1)
    seen = dict.fromkeys(zip(legend, use.where(legend == "construction"), strict=True))
    return [
        Patch(
            facecolor=palette.feature_colour(lg, u),
            edgecolor="#8c8c8c",
            label=palette.class_label(lg, u),
        )
        for lg, u in seen
    ]


def _base(ax: Any, layers: Mapping[str, gpd.GeoDataFrame], crs: Any) -> None:
    roads = _in_crs(layers.get("roads"), crs, "roads")
    if roads is not None:
        roads.plot(ax=ax, color="#b0b0b0", linewidth=0.4, zorder=0.5)


def _boundary(ax: Any, layers: Mapping[str, gpd.GeoDataFrame], crs: Any) -> gpd.GeoDataFrame | None:
    boundary = _in_crs(layers.get("boundary"), crs, "boundary")
    if boundary is not None:
        boundary.boundary.plot(ax=ax, color="black", linewidth=1.4, linestyle="--", zorder=6)
    return boundary


def conflict_figure(
    pilot: Any,
    conflicts: gpd.GeoDataFrame,
    ledger: Any = None,
    *,
    patches: gpd.GeoDataFrame | None = None,
    plan: str = "land_use",
    title: str | None = None,
    figsize: tuple[float, float] = (11.0, 8.0),
) -> Figure:
    """Conflicts (or conflict patches) by type over one plan (冲突分析图).

    Parameters
    ----------
    pilot
        A :class:`fiveplans.Pilot` or a mapping of layers.
    conflicts
        The pairs of :func:`fiveplans.analysis.find_conflicts` (drawn unless ``patches``).
    ledger
        The ledger (DataFrame or path): decided conflicts are hatched.
    patches
        The conflict patches, drawn instead of the pairs.
    plan
        The plan drawn under the conflicts.
    title
        Default: the pilot's name + 冲突分析图.
    figsize
        Inches.

    Returns
    -------
    matplotlib.figure.Figure
        Save with :func:`save_figure`.
    """
    layers, crs, name = _layers_of(pilot)
    fig, ax, font = _frame(title or f"{name} 冲突分析图 Conflict map", figsize)
    _base(ax, layers, crs)
    handles = _draw_plan(ax, _in_crs(layers.get(plan), crs, plan))
    drawn = _in_crs(patches if patches is not None else conflicts, crs, "conflicts")
    by_patch, by_pair = _decisions(ledger)
    conflict_handles = []
    if drawn is not None and len(drawn):
        id_col = "patch_id" if patches is not None else "conflict_id"
        lookup = by_patch if patches is not None else by_pair
        decided = (
            drawn[id_col].astype(str).map(lookup).notna()
            if id_col in drawn.columns
            else pd.Series(False, index=drawn.index)
        )
        for t, colour in reversed(palette.CONFLICT_COLOURS.items()):
            sel = drawn["type"] == t
            if not sel.any():
                continue
            for flag, group in drawn.loc[sel].groupby(decided.loc[sel]):
                _fill(
                    ax,
                    group,
                    facecolor=colour,
                    edgecolor=colour,
                    alpha=0.45 if flag else 0.75,
                    hatch="////" if flag else None,
                    linewidth=0.6,
                    zorder=5,
                )
            conflict_handles.insert(
                0,
                Patch(
                    facecolor=colour, edgecolor=colour, alpha=0.75, label=palette.CONFLICT_LABELS[t]
                ),
            )
        if decided.any():
            conflict_handles.append(
                Patch(facecolor="#bbbbbb", hatch="////", label="已定调整类型 Decided")
            )
    boundary = _boundary(ax, layers, crs)
    plan_label = Patch(
        facecolor="none", edgecolor="none", label=f"— {palette.PLAN_LABELS.get(plan, plan)} —"
    )
    _finish(
        ax,
        font,
        [*conflict_handles, plan_label, *handles],
        boundary if boundary is not None else drawn,
    )
    return fig


def zones_figure(
    pilot: Any,
    zones: gpd.GeoDataFrame,
    *,
    title: str | None = None,
    figsize: tuple[float, float] = (11.0, 8.0),
) -> Figure:
    """Built / development / control zones (三区划定图)."""
    layers, crs, name = _layers_of(pilot)
    frame = _in_crs(zones, crs, "zones")
    if frame is None or "zone" not in frame.columns:
        raise DataError(
            "三区图层为空或缺少 zone 列 — the zones table is empty or has no `zone` column. "
            "解决 Fix: pass the result of fiveplans.analysis.assign_zones"
        )
    fig, ax, font = _frame(title or f"{name} 三区划定图 Zones", figsize)
    _base(ax, layers, crs)
    handles = []
    for zone, colour in palette.ZONE_COLOURS.items():
        sel = frame["zone"] == zone
        if sel.any():
            _fill(
                ax,
                frame.loc[sel],
                facecolor=colour,
                edgecolor="white",
                linewidth=0.3,
                alpha=0.8,
                zorder=2,
            )
            handles.append(Patch(facecolor=colour, label=palette.ZONE_LABELS[zone]))
    boundary = _boundary(ax, layers, crs)
    _finish(ax, font, handles, boundary if boundary is not None else frame)
    return fig


def catchments_figure(
    pilot: Any,
    logistics: Any,
    *,
    title: str | None = None,
    figsize: tuple[float, float] = (11.0, 8.0),
) -> Figure:
    """Cluster catchments (else service areas), cores and suppliers (物流腹地图)."""
    layers, crs, name = _layers_of(pilot)
    catchments = _in_crs(getattr(logistics, "catchments", None), crs, "catchments")
    areas = _in_crs(getattr(logistics, "service_areas", None), crs, "service_areas")
    if catchments is None and areas is None:
        raise DataError(
            "没有腹地或服务区 — no catchments or service areas to draw. 解决 Fix: run the "
            "logistics stage (roads and clusters in the pilot)"
        )
    fig, ax, font = _frame(title or f"{name} 物流腹地图 Catchments", figsize)
    _base(ax, layers, crs)
    handles = []
    clusters = sorted(
        {
            str(c)
            for f in (catchments, areas)
            if f is not None and "cluster" in f.columns
            for c in f["cluster"]
        }
    )
    colour = {
        c: palette.CATCHMENT_COLOURS[i % len(palette.CATCHMENT_COLOURS)]
        for i, c in enumerate(clusters)
    }
    # catchments partition the land between the clusters; service areas overlap, so they are
    # drawn only when there are no catchments
    frame = catchments if catchments is not None else areas
    for c, group in frame.groupby(frame["cluster"].astype(str)):
        _fill(ax, group, facecolor=colour[c], edgecolor="none", alpha=0.45, zorder=2)
    for c in clusters:
        handles.append(Patch(facecolor=colour[c], alpha=0.5, label=f"集群 Cluster {c}"))
    suppliers = _in_crs(getattr(logistics, "supplier_assignment", None), crs, "suppliers")
    if suppliers is not None and "cluster" in suppliers.columns:
        cols = [
            colour.get(str(c), "#9e9e9e") if pd.notna(c) else "#9e9e9e"
            for c in suppliers["cluster"]
        ]
        suppliers.plot(
            ax=ax, color=cols, markersize=14, edgecolor="#333333", linewidth=0.3, zorder=4
        )
        handles.append(
            matplotlib.lines.Line2D(
                [], [], marker="o", linestyle="", color="#9e9e9e", label="配套企业 Suppliers"
            )
        )
    cores = _in_crs(layers.get("clusters"), crs, "clusters")
    if cores is not None:
        pts = cores.geometry.representative_point()
        ax.scatter(pts.x, pts.y, s=90, c="white", edgecolors="black", linewidths=1.8, zorder=5)
        handles.append(
            matplotlib.lines.Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markerfacecolor="white",
                markeredgecolor="black",
                label="产业集群核心 Cluster cores",
            )
        )
    handles.append(
        Patch(
            facecolor="#cccccc",
            label="集聚区腹地 Catchments" if catchments is not None else "服务区 Service areas",
        )
    )
    boundary = _boundary(ax, layers, crs)
    _finish(
        ax,
        font,
        handles,
        boundary if boundary is not None else (catchments if catchments is not None else areas),
    )
    return fig


def save_figure(
    fig: Figure, path: str | os.PathLike[str], *, dpi: int = 200, overwrite: bool = True
) -> Path:
    """Write a figure (``.png``, ``.pdf`` or ``.svg`` by suffix) atomically.

    PDF and SVG embed the fonts as TrueType subsets (Type 42), so Chinese text prints and
    copies as text.
    """
    dest = Path(path)
    fmt = dest.suffix.lstrip(".").lower()
    if fmt not in ("png", "pdf", "svg"):
        raise DataError(
            f"不支持的格式 {dest.suffix} — save as .png, .pdf or .svg. 解决 Fix: change {dest.name}"
        )
    with (
        matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "path"}),
        atomic_path(dest, overwrite=overwrite) as tmp,
    ):
        fig.savefig(
            tmp,
            format=fmt,
            dpi=dpi,
            metadata=None if fmt == "png" else {"Creator": "fiveplans"},
        )
    return dest
