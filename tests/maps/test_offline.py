"""The shipped web assets (with their licences) and offline folium maps."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import fiveplans as fp
from fiveplans.maps import offline


def test_every_asset_is_shipped_with_its_licence() -> None:
    root = offline._root()
    for name, (js, css) in offline.ASSETS.items():
        for rel in (*js, *css):
            assert (root / rel).is_file(), rel
        folder = root / Path(js[0]).parent
        licence = (folder / "LICENSE").read_text(encoding="utf-8")
        assert re.search(r"MIT|BSD|Permission is hereby granted|Redistribution", licence), name
    readme = (root / "README.md").read_text(encoding="utf-8")
    for version in ("1.9.4", "1.5.3", "5.3.3", "3.0.0", "4.0.0", "2.2.0"):
        assert version in readme


def test_inlined_css_images_become_data_uris() -> None:
    text = offline.inline_assets(("leaflet", "search", "sidebyside"))
    assert "images/layers.png" not in text and "range-icon.png" not in text
    assert text.count("data:image/png;base64,") >= 3
    assert "</script" not in text.replace("</script>", "")  # no early close inside the code


@pytest.mark.parametrize("column", ["legend", "use"])
def test_explore_is_offline_and_chinese_first(demo_analysis: SimpleNamespace, column: str) -> None:
    layer = demo_analysis.pilot.layers["cluster"]
    m = fp.maps.explore(layer, column=column, tooltip=["source_id"])
    html = m.get_root().render()
    assert not re.findall(r'<(?:script|link)[^>]+(?:src|href)="https?:', html)
    assert "jquery" not in html.lower() and "bootstrap" not in html.lower()
    assert "图例 Legend" in html and "工业 Industrial" in html


def test_make_offline_strips_cdn_links() -> None:
    import folium

    m = offline.make_offline(folium.Map(tiles=None))
    html = m.get_root().render()
    assert "cdn.jsdelivr" not in html and "cdnjs" not in html
    assert "Leaflet 1.9.4" in html or "leaflet" in html.lower()
