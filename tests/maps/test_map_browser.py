"""map.html in headless Chromium with the network off: drawn, clickable, findable, safe."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pytest
from shapely.geometry import Point

import fiveplans as fp
from fiveplans.coords import wgs84_to_gcj02
from fiveplans.maps.browser import Chromium, Page

pytestmark = pytest.mark.chromium

LAYER_COUNTS = """JSON.stringify(Object.keys(fiveplansMap.layers).map(function (k) {
  var l = fiveplansMap.layers[k];
  return [k, l.getData().n, fiveplansMap.map.hasLayer(l), l.drawn,
          l.getLayers ? l.getLayers().length : null];
}))"""


def open_map(browser: Chromium, path: Path) -> Page:
    page = browser.open(path.resolve().as_uri())
    page.wait_for("window.fiveplansMap && window.fiveplansMap.rendered", timeout=60)
    return page


@pytest.fixture(scope="module")
def demo_map(demo_analysis: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = demo_analysis
    m = fp.maps.conflict_map(
        d.pilot,
        d.conflicts,
        zones=d.zones,
        logistics=d.logistics,
        ledger=d.ledger,
        patches=d.patches,
    )
    return fp.maps.save_map(m, tmp_path_factory.mktemp("map") / "map.html")


def test_every_feature_is_drawn(
    browser: Chromium, demo_map: Path, demo_analysis: SimpleNamespace, map_artifacts: Path
) -> None:
    page = open_map(browser, demo_map)
    assert page.errors() == []
    shot = page.screenshot(map_artifacts / "demo_map.png")
    assert shot.stat().st_size > 20_000
    counts = {
        k: (n, shown, drawn, markers)
        for k, n, shown, drawn, markers in json.loads(page.evaluate(LAYER_COUNTS))
    }
    d = demo_analysis
    for t, group in d.patches.groupby("type"):
        n, shown, drawn, _ = counts[f"conflicts_{t}"]
        assert (n, shown, drawn) == (len(group), True, len(group)), t
    assert counts["plan_land_use"][:3] == (
        len(d.pilot.layers["land_use"]),
        True,
        len(d.pilot.layers["land_use"]),
    )
    assert counts["clusters"][3] == len(d.pilot.layers["clusters"])
    # every layer, switched on and fitted to its data, draws all its features
    for key, (n, _, _, markers) in counts.items():
        if markers is not None:
            page.evaluate(f"void fiveplansMap.layers['{key}'].addTo(fiveplansMap.map)")
            assert page.evaluate(f"fiveplansMap.layers['{key}'].getLayers().length") == n, key
            continue
        page.evaluate(
            f"fiveplansMap.layers['{key}'].addTo(fiveplansMap.map); void fiveplansMap.fitLayer('{key}')"
        )
        assert page.evaluate(f"fiveplansMap.layers['{key}'].drawn") == n, key
    assert page.errors() == []


def test_legend_and_controls(browser: Chromium, demo_map: Path) -> None:
    page = open_map(browser, demo_map)
    legend = page.evaluate("document.querySelector('.fp-legend').innerText")
    for text in (
        "图例 Legend",
        "冲突类型 Conflict types",
        "建设用地占用永久基本农田",
        "永久基本农田 Permanent basic farmland",
        "三区 Zones",
        "建成区",
        "待定 Undecided",
        "底图 无",
    ):
        assert text in legend, text
    assert legend.index("图例") < legend.index("Legend")
    title = page.evaluate("document.querySelector('.fp-title').innerText")
    assert "冲突分析图" in title and "公顷" in title and "亩" in title
    for selector in (
        ".leaflet-control-scale",
        ".leaflet-control-layers",
        ".leaflet-control-search",
        ".fp-swipe",
        ".polyline-measure-unicode-icon",
        ".leaflet-control-zoom-fullscreen",
    ):
        assert page.evaluate(f"!!document.querySelector('{selector}')"), selector
    layers = page.evaluate("document.querySelector('.leaflet-control-layers').textContent")
    assert "土地利用总体规划 Land-use master plan" in layers and "产业集聚区总体规划" in layers


def test_every_conflict_is_findable_and_clickable(
    browser: Chromium, demo_map: Path, demo_analysis: SimpleNamespace, map_artifacts: Path
) -> None:
    page = open_map(browser, demo_map)
    patches = demo_analysis.patches
    ids = list(patches["patch_id"])
    assert page.evaluate(
        f"{json.dumps(ids)}.every(function (id) {{ return !!fiveplansMap.find(id); }})"
    )
    # search box: typing part of an id lists it
    tips = page.evaluate(
        f"(function () {{ var c = fiveplansMap.searchControl; c._input.value = {json.dumps(ids[0][-6:])};"
        " c._fillRecordsCache(); return c._tooltip.innerText; })()"
    )
    assert ids[0] in tips
    # districts are searchable too
    district = str(patches["district"].dropna().iloc[0])
    assert page.evaluate(f"fiveplansMap.show({json.dumps('区县 ' + district)})")
    # a click on each patch's inner point hits it
    points = patches.geometry.representative_point().to_crs(4326)
    for pid, pt in zip(ids, points, strict=True):
        hits = page.evaluate(
            f"fiveplansMap.hitsAt(L.latLng({pt.y}, {pt.x}), 10).map(function (h) {{"
            " return h.layer.getData().value(h.f, 'patch_id'); }).filter(Boolean)"
        )
        assert pid in hits, pid
    # showing one opens its popup with id, areas in m², 公顷 and 亩, sources and codes
    assert page.evaluate(f"fiveplansMap.show({json.dumps(ids[0])})")
    time.sleep(0.2)
    popup = page.evaluate("document.querySelector('.leaflet-popup-content').innerText")
    row = patches.iloc[0]
    for text in (ids[0], "m²", "公顷", "亩", "涉及图斑", str(row["district"])):
        assert text in popup, text
    page.screenshot(map_artifacts / "demo_map_popup.png")
    # a real mouse click on the map opens the same popup
    page.evaluate("void fiveplansMap.map.closePopup()")
    time.sleep(0.5)  # let the popup's pan animation end
    x, y = page.evaluate(
        f"(function () {{ var p = fiveplansMap.map.latLngToContainerPoint(L.latLng({points.iloc[0].y}, {points.iloc[0].x}));"
        " var r = fiveplansMap.map.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; })()"
    )
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        browser.send(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            session=page.session,
        )
    time.sleep(0.3)
    at = page.evaluate(
        f"(function () {{ var e = document.elementFromPoint({x}, {y}); return e.tagName + ' ' + e.className; }})()"
    )
    assert ids[0] in page.evaluate(
        "(document.querySelector('.leaflet-popup-content') || {}).innerText || ''"
    ), (x, y, at)
    assert page.errors() == []


def test_swipe_between_two_plans(browser: Chromium, demo_map: Path, map_artifacts: Path) -> None:
    page = open_map(browser, demo_map)
    page.evaluate("void fiveplansMap.swipe.start('plan_land_use', 'plan_cluster')")
    clips = page.evaluate(
        "[fiveplansMap.layers.plan_land_use.getContainer().style.clip,"
        " fiveplansMap.layers.plan_cluster.getContainer().style.clip]"
    )
    assert all(c.startswith("rect(") for c in clips) and clips[0] != clips[1]
    page.screenshot(map_artifacts / "demo_map_swipe.png")
    # moving the divider moves the cut; panning keeps it where it is on screen
    page.evaluate(
        "var s = fiveplansMap.swipe.active().sbs; s._range.value = 0.3; void s._updateClip()"
    )
    moved = page.evaluate("fiveplansMap.layers.plan_cluster.getContainer().style.clip")
    assert moved != clips[1]
    page.evaluate("void fiveplansMap.map.panBy([120, 40], {animate: false})")
    assert page.evaluate("fiveplansMap.layers.plan_cluster.getContainer().style.clip") == moved
    page.evaluate("void fiveplansMap.swipe.stop()")
    assert page.evaluate("fiveplansMap.layers.plan_land_use.getContainer().style.clip") == ""
    assert page.errors() == []


def test_markup_probes_do_not_run(
    browser: Chromium, xss: SimpleNamespace, tmp_path: Path, map_artifacts: Path
) -> None:
    path = fp.maps.save_map(fp.maps.conflict_map(xss, xss.conflicts), tmp_path / "xss.html")
    page = open_map(browser, path)
    first = xss.conflicts["conflict_id"].iloc[0]
    assert page.evaluate(f"fiveplansMap.show({json.dumps(first)})")
    time.sleep(0.2)
    popup = page.evaluate("document.querySelector('.leaflet-popup-content').innerText")
    assert xss.probes.img in popup and xss.probes.braces in popup  # shown as text
    # a plan parcel whose id and code are probes: its popup (a click) and tooltip (a hover)
    corner = xss.layers["land_use"].geometry.iloc[0].bounds
    pt = gpd.GeoSeries([Point(corner[0] + 100, corner[1] + 500)], crs=xss.crs).to_crs(4326).iloc[0]
    where = f"{{latlng: L.latLng({pt.y}, {pt.x})}}"
    page.evaluate(f"void fiveplansMap.map.fire('click', {where})")
    popup = page.evaluate("document.querySelector('.leaflet-popup-content').innerText")
    assert xss.probes.img in popup and xss.probes.script in popup
    page.evaluate(f"void fiveplansMap.map.fire('mousemove', {where})")
    time.sleep(0.3)
    assert xss.probes.img in page.evaluate("document.querySelector('.leaflet-tooltip').innerText")
    # the cluster names in the legend, the pilot name in the title, ids in the search list
    legend = page.evaluate("document.querySelector('.fp-legend').innerText")
    assert xss.probes.img in legend
    assert xss.probes.script in page.evaluate("document.querySelector('.fp-title').innerText")
    c = page.evaluate(
        "(function () { var c = fiveplansMap.searchControl; c._input.value = 'onerror';"
        " c._fillRecordsCache(); return c._tooltip.innerText; })()"
    )
    assert xss.probes.img in c
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    page.screenshot(map_artifacts / "xss_probes.png")
    assert page.errors() == []


def test_gaode_map_opens(browser: Chromium, demo_analysis: SimpleNamespace, tmp_path: Path) -> None:
    d = demo_analysis
    path = fp.maps.save_map(
        fp.maps.conflict_map(d.pilot, d.conflicts, basemap="gaode"), tmp_path / "g.html"
    )
    page = open_map(browser, path)
    # the tiles cannot load (network off): those errors are expected, nothing else
    errors = [
        e for e in page.errors() if "autonavi" not in e and "ERR_" not in e and "net::" not in e
    ]
    assert errors == []
    assert "GCJ-02" in page.evaluate("document.querySelector('.fp-legend').innerText")
    # a conflict's inner point, shifted to GCJ-02, hits it
    row = d.conflicts.iloc[0]
    pt = d.conflicts.geometry.representative_point().to_crs(4326).iloc[0]
    gx, gy = wgs84_to_gcj02(pt.x, pt.y)
    hits = page.evaluate(
        f"fiveplansMap.hitsAt(L.latLng({float(gy)}, {float(gx)}), 10).map(function (h) {{"
        " return h.layer.getData().value(h.f, 'conflict_id'); })"
    )
    assert row["conflict_id"] in hits
