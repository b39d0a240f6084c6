"""Quick offline maps of any layer, with the project's palette and Chinese-first labels.

:func:`explore` is :meth:`geopandas.GeoDataFrame.explore` for the notebooks: the classes of the
common legend (``legend``/``use``), conflict ``type`` and ``zone`` are shown by their bilingual
labels (中文 first) in the national land-use colours of :mod:`fiveplans.maps.palette`, the legend
is plain HTML (geopandas' legend loads jQuery UI from a CDN) and Leaflet is inlined, so the map
also works on an offline intranet.
"""

from __future__ import annotations

import html
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
from branca.element import MacroElement

from fiveplans.maps import palette
from fiveplans.maps.offline import Raw, make_offline

__all__ = ["explore", "labelled"]


def labelled(frame: pd.DataFrame, column: str) -> tuple[list[str], dict[str, str]]:
    """Bilingual labels of a column's values and the colour of each label.

    ``legend`` (construction land by ``use`` when present), ``use``, ``type`` (conflicts),
    ``zone`` get the palette's labels and colours; other columns their values as text, coloured
    from a qualitative palette.
    """
    values = frame[column]
    if column == "legend":
        uses = frame["use"] if "use" in frame.columns else pd.Series([None] * len(frame))
        pairs = list(zip(values, uses, strict=True))
        labels = [palette.class_label(lg, u) for lg, u in pairs]
        colours = {palette.class_label(lg, u): palette.feature_colour(lg, u) for lg, u in pairs}
    elif column == "use":
        labels = [palette.USE_LABELS.get(v, str(v)) for v in values]
        colours = {
            palette.USE_LABELS.get(v, str(v)): palette.USE_COLOURS.get(v, "#c8a0a0") for v in values
        }
    elif column == "type":
        labels = [palette.CONFLICT_LABELS.get(v, str(v)) for v in values]
        colours = {
            palette.CONFLICT_LABELS.get(v, str(v)): palette.CONFLICT_COLOURS.get(v, "#000000")
            for v in values
        }
    elif column == "zone":
        labels = [palette.ZONE_LABELS.get(v, str(v)) for v in values]
        colours = {
            palette.ZONE_LABELS.get(v, str(v)): palette.ZONE_COLOURS.get(v, "#999999")
            for v in values
        }
    else:
        labels = ["" if pd.isna(v) else str(v) for v in values]
        cycle = palette.CATCHMENT_COLOURS
        colours = {lab: cycle[i % len(cycle)] for i, lab in enumerate(dict.fromkeys(labels))}
    return labels, colours


class _Legend(MacroElement):
    """A plain HTML legend (escaped text; added raw, never parsed as a template)."""

    def __init__(self, title: str, items: dict[str, str]) -> None:
        super().__init__()
        self._name = "FiveplansLegend"
        rows = "".join(
            '<div><span style="display:inline-block;width:14px;height:10px;margin-right:5px;'
            f'border:1px solid #666;background:{html.escape(colour)}"></span>'
            f"{html.escape(label)}</div>"
            for label, colour in items.items()
        )
        self.text = (
            '<div style="position:absolute;z-index:1000;bottom:24px;right:10px;'
            "background:rgba(255,255,255,.92);padding:6px 9px;border-radius:4px;"
            "box-shadow:0 1px 4px rgba(0,0,0,.3);max-height:50%;overflow-y:auto;"
            "font:12px/1.45 'Noto Sans CJK SC','Microsoft YaHei',sans-serif\">"
            f'<div style="font-weight:bold">{html.escape(title)}</div>{rows}</div>'
        )

    def render(self, **kwargs: Any) -> None:
        self.get_root().html.add_child(Raw(self.text), name=self.get_name())


def explore(
    gdf: gpd.GeoDataFrame,
    column: str | None = None,
    *,
    m: folium.Map | None = None,
    title: str | None = None,
    **kwargs: Any,
) -> folium.Map:
    """``gdf.explore`` with the palette, bilingual labels and a legend that work offline.

    Parameters
    ----------
    gdf
        Any layer (in any CRS; shown in Web Mercator).
    column
        Colour by this column: ``legend``, ``use``, ``type``, ``zone`` get the project's labels
        and colours; any other column is categorical.
    m
        Add to this map instead of a new one.
    title
        Legend title (default: the column name, 图例 Legend).
    **kwargs
        Passed to :meth:`geopandas.GeoDataFrame.explore` (``tooltip``, ``style_kwds``, …).

    Returns
    -------
    folium.Map
        With Leaflet inlined and no CDN links (see :func:`fiveplans.maps.make_offline`).
    """
    kwargs.setdefault("tiles", None)
    if column is None:
        out = gdf.explore(m=m, **kwargs)
        return make_offline(out)
    labels, colours = labelled(gdf, column)
    label_col = "图例 legend" if column == "legend" else f"{column} 标注"
    data = gdf.assign(**{label_col: labels})
    if isinstance(kwargs.get("tooltip"), list | tuple):
        kwargs["tooltip"] = [label_col, *[c for c in kwargs["tooltip"] if c != column]]
    cats = list(colours)
    out = data.explore(
        column=label_col,
        categorical=True,
        categories=cats,
        cmap=[colours[c] for c in cats],
        legend=False,
        m=m,
        **kwargs,
    )
    out.add_child(_Legend(title or f"图例 Legend · {column}", colours))
    return make_offline(out)
