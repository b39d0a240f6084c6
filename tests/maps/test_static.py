"""Static maps: Chinese glyphs really drawn, legend, scale bar, north arrow, PNG/PDF output."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.ft2font import FT2Font
from matplotlib_scalebar.scalebar import ScaleBar

from fiveplans.maps import palette, static

LABELS = (
    "图例比例尺北冲突分析图三区划定图物流腹地图集群配套企业产业核心已定调整类型",
    *palette.CONFLICT_LABELS.values(),
    *palette.ZONE_LABELS.values(),
    *palette.LEGEND_LABELS.values(),
    *palette.USE_LABELS.values(),
    *palette.PLAN_LABELS.values(),
)


@pytest.fixture(scope="module")
def font() -> font_manager.FontProperties:
    found = static.cjk_font()
    if found is None:
        message = "no CJK font installed: scripts/install-system-deps.sh fonts"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_every_label_has_its_glyphs(font: font_manager.FontProperties) -> None:
    assert static.missing_glyphs("".join(LABELS), font) == []
    # the check itself works: a font without CJK lacks them
    dejavu = font_manager.FontProperties(family="DejaVu Sans")
    assert "图" in static.missing_glyphs("图例", dejavu)


def test_glyphs_are_drawn_not_boxes(font: font_manager.FontProperties) -> None:
    """Each character of 图例 比例尺 draws ink unlike the font's missing-glyph box (.notdef)."""
    path = font_manager.findfont(font, fallback_to_default=False)
    ft = FT2Font(path)
    ft.set_size(48, 72)

    def render(text: str) -> np.ndarray:
        ft.set_text(text)
        ft.draw_glyphs_to_bitmap()
        return np.asarray(ft.get_image()).copy()

    with pytest.warns(UserWarning, match="missing from font"):
        notdef = render("\U0010fffd")  # a private-use code point: no glyph, the .notdef box
    for ch in "图例比例尺北冲突":
        ink = render(ch)
        assert ft.get_char_index(ord(ch)) != 0, ch
        assert (ink > 128).sum() > 50, ch
        if ink.shape == notdef.shape:
            assert not np.array_equal(ink, notdef), ch


def test_conflict_figure(
    demo_analysis: SimpleNamespace, tmp_path: Path, map_artifacts: Path, font
) -> None:
    d = demo_analysis
    fig = static.conflict_figure(d.pilot, d.conflicts, d.ledger, patches=d.patches)
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    joined = " ".join(texts)
    for text in (
        "冲突分析图",
        "图例 Legend",
        "北",
        "建设用地占用永久基本农田",
        "永久基本农田 Permanent basic farmland",
    ):
        assert text in joined, text
    assert any(isinstance(a, ScaleBar) for a in fig.axes[0].artists)
    FigureCanvasAgg(
        fig
    ).draw()  # any missing glyph would warn (and fail under filterwarnings=error)
    for t in fig.findobj(lambda a: hasattr(a, "get_fontname") and hasattr(a, "get_text")):
        if any("\u4e00" <= ch <= "\u9fff" for ch in t.get_text()):
            assert "CJK" in t.get_fontname() or t.get_fontname() in static.CJK_FONTS, t.get_text()
    png = static.save_figure(fig, map_artifacts / "conflicts.png", dpi=90)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pdf_embeds_the_font_and_text(
    demo_analysis: SimpleNamespace, tmp_path: Path, need, font
) -> None:
    d = demo_analysis
    pdf = static.save_figure(static.zones_figure(d.pilot, d.zones), tmp_path / "zones.pdf")
    fonts = subprocess.run(
        [need("pdffonts"), str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    assert "CJK" in fonts
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all("yes" in row[-5:-2] for row in rows)  # embedded
    text = subprocess.run([need("pdftotext"), str(pdf), "-"], capture_output=True, text=True).stdout
    for word in ("三区划定图", "图例", "比例尺", "建成区", "控制区"):
        assert word in text, word


def test_catchments_figure(demo_analysis: SimpleNamespace, map_artifacts: Path, font) -> None:
    d = demo_analysis
    fig = static.catchments_figure(d.pilot, d.logistics)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    for cluster in d.logistics.catchments["cluster"].astype(str).unique():
        assert f"集群 Cluster {cluster}" in labels
    static.save_figure(fig, map_artifacts / "catchments.png", dpi=90)
    static.save_figure(static.zones_figure(d.pilot, d.zones), map_artifacts / "zones.png", dpi=90)


def test_save_figure_checks_the_format(
    demo_analysis: SimpleNamespace, tmp_path: Path, font
) -> None:
    from fiveplans.errors import DataError

    fig = static.zones_figure(demo_analysis.pilot, demo_analysis.zones)
    with pytest.raises(DataError, match="png"):
        static.save_figure(fig, tmp_path / "zones.jpg")
    assert not list(tmp_path.iterdir())
    with pytest.raises(DataError, match="zone"):
        static.zones_figure(demo_analysis.pilot, demo_analysis.zones.drop(columns="zone"))


def test_polygons_drawn_as_geopandas_draws_them(demo_analysis: SimpleNamespace) -> None:
    """The vectorised drawing gives the collection geopandas' ``plot`` gives: the same paths
    (vertices and codes, holes and multipolygons included), colours and style, and the same
    pixels."""
    import geopandas as gpd
    from matplotlib.figure import Figure
    from shapely.geometry import MultiPolygon, Polygon

    plan = demo_analysis.pilot.layers["land_use"]
    x0, y0 = plan.total_bounds[:2]
    holed = Polygon(
        [(x0, y0), (x0 + 900, y0), (x0 + 900, y0 + 900), (x0, y0 + 900)],
        [[(x0 + 100, y0 + 100), (x0 + 100, y0 + 300), (x0 + 300, y0 + 300), (x0 + 300, y0 + 100)]],
    )
    multi = MultiPolygon([holed, Polygon([(x0 - 500, y0), (x0 - 100, y0), (x0 - 300, y0 + 400)])])
    extra = gpd.GeoDataFrame(geometry=[holed, multi], crs=plan.crs)
    frame = gpd.GeoDataFrame(
        pd.concat([plan[["geometry"]], extra], ignore_index=True), crs=plan.crs
    )
    cycle = palette.CATCHMENT_COLOURS
    colours = [cycle[i % len(cycle)] for i in range(len(frame))]
    style = {"edgecolor": "#8c8c8c", "linewidth": 0.15, "alpha": 0.7, "zorder": 1}

    def draw(use_geopandas: bool) -> Figure:
        fig = Figure(figsize=(4, 3))
        ax = fig.add_subplot()
        if use_geopandas:
            frame.plot(ax=ax, color=colours, **style)
        else:
            static._fill(ax, frame, facecolor=colours, **style)
        return fig

    ref, ours = draw(True), draw(False)
    (a,) = ref.axes[0].collections
    (b,) = ours.axes[0].collections
    assert len(a.get_paths()) == len(b.get_paths()) == len(frame)
    for p, q in zip(a.get_paths(), b.get_paths(), strict=True):
        np.testing.assert_array_equal(p.vertices, q.vertices)
        np.testing.assert_array_equal(p.codes, q.codes)
        assert p.should_simplify == q.should_simplify
    np.testing.assert_array_equal(a.get_facecolor(), b.get_facecolor())
    np.testing.assert_array_equal(a.get_edgecolor(), b.get_edgecolor())
    np.testing.assert_array_equal(a.get_linewidth(), b.get_linewidth())
    assert a.get_zorder() == b.get_zorder()
    assert ref.axes[0].get_xlim() == ours.axes[0].get_xlim()
    pixels = []
    for fig in (ref, ours):
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        pixels.append(np.asarray(canvas.buffer_rgba()).copy())
    np.testing.assert_array_equal(pixels[0], pixels[1])
