"""The conflict map's data: encoding, offline assets, escaping, basemaps, ledger status, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

import fiveplans as fp
from fiveplans.coords import wgs84_to_gcj02
from fiveplans.errors import ConfigError, DataError
from fiveplans.maps import interactive
from fiveplans.maps.interactive import _simplify, _varints

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def decode(text: str) -> list[int]:
    """Reference decoder of the page's varints (written from the format's definition)."""
    out, value, shift = [], 0, 0
    for ch in text:
        b = ALPHABET.index(ch)
        value |= (b & 31) << shift
        shift += 5
        if b < 32:
            out.append(-(value + 1) // 2 if value & 1 else value // 2)
            value, shift = 0, 0
    return out


def payload(m) -> dict:
    html = m.get_root().render()
    found = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', html, re.S)
    assert found
    return json.loads(found.group(1))


def column(spec: dict, key: str) -> list:
    """A layer's column decoded (dictionary and indexes, or values with a common prefix)."""
    col = next(c for c in spec["cols"] if c["key"] == key)
    if "dict" in col:
        idx = decode(col["idx"]) if isinstance(col["idx"], str) else [col["idx"]] * spec["n"]
        return [None if i < 0 else col["dict"][i] for i in idx]
    return [
        None if v is None else col.get("prefix", "") + v if isinstance(v, str) else v
        for v in col["values"]
    ]


def styles(spec: dict) -> list[int]:
    return decode(spec["style"]) if isinstance(spec["style"], str) else [spec["style"]] * spec["n"]


def coords(spec: dict) -> np.ndarray:
    """A layer's vertices in Web Mercator metres."""
    return np.cumsum(np.array(decode(spec["xy"])).reshape(-1, 2), axis=0) * spec_q


spec_q = interactive.COORD_QUANTUM_M


def test_varints_round_trip() -> None:
    rng = np.random.default_rng(7)
    values = np.r_[0, 1, -1, 15, 16, -16, -17, 31, 32, 1023, 1024, -1025, 2**40, -(2**40)]
    values = np.r_[values, rng.integers(-(2**45), 2**45, 500), rng.integers(-500, 500, 500)]
    text = _varints(values)
    assert set(text) <= set(ALPHABET)
    assert decode(text) == values.tolist()


def test_layers_carry_every_feature(demo_analysis: SimpleNamespace) -> None:
    d = demo_analysis
    m = fp.maps.conflict_map(
        d.pilot,
        d.conflicts,
        zones=d.zones,
        logistics=d.logistics,
        ledger=d.ledger,
        patches=d.patches,
    )
    specs = {s["id"]: s for s in payload(m)["layers"]}
    for t, group in d.patches.groupby("type"):
        spec = specs[f"conflicts_{t}"]
        assert spec["n"] == len(group)
        assert len(decode(spec["rings"])) == len(group)
        assert sorted(column(spec, "patch_id")) == sorted(group["patch_id"])
        areas = dict(zip(column(spec, "patch_id"), column(spec, "area_m2"), strict=True))
        for pid, area in zip(group["patch_id"], group["area_m2"], strict=True):
            assert areas[pid] == pytest.approx(area, abs=0.01)
    assert specs["plan_land_use"]["n"] == len(d.pilot.layers["land_use"])
    assert specs["zones"]["n"] == len(d.zones)
    assert specs["suppliers"]["n"] == len(d.logistics.supplier_assignment)
    assert specs["clusters"]["n"] == len(d.pilot.layers["clusters"])
    # the decoded vertices are the input's, in Web Mercator, to the rounding quantum
    frame = d.pilot.layers["land_use"].to_crs(3857)
    xy = coords(specs["plan_land_use"])
    assert np.allclose(
        [xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()],
        frame.total_bounds,
        atol=0.2,
    )


def test_offline_by_default_online_links_cdns(
    tmp_path: Path, demo_analysis: SimpleNamespace
) -> None:
    d = demo_analysis
    path = fp.maps.save_map(fp.maps.conflict_map(d.pilot, d.conflicts), tmp_path / "map.html")
    html = path.read_text(encoding="utf-8")
    assert not re.findall(r'<(?:script|link)[^>]+(?:src|href)="https?:', html)
    assert "L.Control.SideBySide" in html and "markerClusterGroup" in html
    online = fp.maps.conflict_map(d.pilot, d.conflicts, online=True).get_root().render()
    assert 'src="https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js"' in online
    assert not list(tmp_path.glob(".map*"))  # no temporary file left behind


def test_markup_in_the_data_is_escaped(xss: SimpleNamespace) -> None:
    m = fp.maps.conflict_map(xss, xss.conflicts)
    html = m.get_root().render()
    for probe in (xss.probes.img, xss.probes.script):
        assert probe not in html  # never verbatim in the page
    data = payload(m)
    assert data["title"].startswith(xss.probes.script)  # kept as text, escaped only for the page
    assert xss.probes.braces in json.dumps(data, ensure_ascii=False)  # not read as a template
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert "&lt;script&gt;" in title


def test_gaode_shifts_the_overlays(demo_analysis: SimpleNamespace) -> None:
    d = demo_analysis
    plain = payload(fp.maps.conflict_map(d.pilot, d.conflicts, basemap="none"))
    gaode = payload(fp.maps.conflict_map(d.pilot, d.conflicts, basemap="gaode"))
    assert "GCJ-02" in " ".join(gaode["notes"]) and "未偏移" not in " ".join(gaode["notes"])
    a = {s["id"]: s for s in plain["layers"]}["boundary"]
    b = {s["id"]: s for s in gaode["layers"]}["boundary"]
    lonlat = d.pilot.layers["boundary"].boundary.to_crs(4326).get_coordinates().to_numpy()[0]
    gx, gy = wgs84_to_gcj02(lonlat[0], lonlat[1])
    expected = np.array(
        [np.radians(gx) * 6378137.0, np.log(np.tan(np.pi / 4 + np.radians(gy) / 2)) * 6378137.0]
    )
    assert np.allclose(coords(b)[0], expected.ravel(), atol=0.2)
    shift = np.hypot(*(coords(b)[0] - coords(a)[0]))
    assert 100 < shift < 1500  # GCJ-02 moves Henan by some hundreds of metres


def test_tianditu_needs_a_key(
    monkeypatch: pytest.MonkeyPatch, demo_analysis: SimpleNamespace
) -> None:
    d = demo_analysis
    monkeypatch.delenv("FIVEPLANS_TIANDITU_KEY", raising=False)
    with pytest.raises(ConfigError, match="FIVEPLANS_TIANDITU_KEY"):
        fp.maps.conflict_map(d.pilot, d.conflicts, basemap="tianditu")
    monkeypatch.setenv("FIVEPLANS_TIANDITU_KEY", "abc123")
    data = payload(fp.maps.conflict_map(d.pilot, d.conflicts, basemap="tianditu"))
    assert all("tk=abc123" in t["url"] for t in data["tiles"])
    assert {("vec_w" in t["url"]) for t in data["tiles"]} == {True, False}
    with pytest.raises(ConfigError, match="basemap"):
        fp.maps.conflict_map(d.pilot, d.conflicts, basemap="google")


def test_ledger_decisions_show(demo_analysis: SimpleNamespace) -> None:
    from fiveplans.analysis.ledger import ADJUSTMENT, ID

    d = demo_analysis
    ledger = d.ledger.copy()
    decided = ledger[ID].iloc[0]
    ledger.loc[ledger.index[0], ADJUSTMENT] = "规划调整"
    data = payload(fp.maps.conflict_map(d.pilot, d.conflicts, ledger=ledger, patches=d.patches))
    found = False
    for spec in data["layers"]:
        if not spec["id"].startswith("conflicts_"):
            continue
        style, status = styles(spec), column(spec, "status")
        for i, v in enumerate(column(spec, "patch_id")):
            if v == decided:
                found = True
                assert style[i] == 1  # the decided style: hatched, dashed outline
                assert status[i].endswith("规划调整")
            else:
                assert style[i] == 0
                assert status[i] == "待定 Undecided"
    assert found


def test_coverage_simplification_keeps_shared_edges() -> None:
    # two parcels sharing a dense wavy edge (a digitised curve): simplified, the edge stays shared
    t = np.linspace(0, 1000, 400)
    wave = 500 + 3 * np.sin(t / 40) + 0.05 * np.sin(t * 3)
    left = Polygon([(0, 0), *zip(wave, t, strict=True), (0, 1000)][::-1])
    right = Polygon([(1000, 0), (1000, 1000), *zip(wave[::-1], t[::-1], strict=True)])
    geoms = np.array([left, right], dtype=object)
    simple = _simplify(geoms, 0.5)
    assert shapely.get_num_coordinates(simple).sum() < shapely.get_num_coordinates(geoms).sum() / 2
    assert shapely.area(shapely.intersection(simple[0], simple[1])) < 1e-6  # no overlap
    assert abs(shapely.union_all(simple).area - 1e6) < 1e-3  # no gap
    # simple parcels (few vertices per ring) are left alone: nothing to remove
    boxes = np.array([box(0, 0, 10, 10), box(10, 0, 20, 10)], dtype=object)
    assert _simplify(boxes, 0.5) is boxes


def test_bad_inputs_say_what_to_do(demo_analysis: SimpleNamespace) -> None:
    with pytest.raises(DataError, match="Fix"):
        fp.maps.conflict_map(42, None)
    layers = {k: g.to_crs(4326) for k, g in demo_analysis.pilot.layers.items() if k == "boundary"}
    with pytest.raises(DataError, match="geographic"):
        fp.maps.conflict_map(layers, None)
    with pytest.raises(DataError, match="conflict_id"):
        fp.maps.conflict_map(
            demo_analysis.pilot, demo_analysis.conflicts.drop(columns="conflict_id")
        )
    no_crs = gpd.GeoDataFrame({"zone": ["built"]}, geometry=[box(0, 0, 1, 1)])
    with pytest.raises(DataError, match="CRS"):
        fp.maps.conflict_map(demo_analysis.pilot, None, zones=no_crs)


def test_save_is_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_analysis: SimpleNamespace
) -> None:
    m = fp.maps.conflict_map(demo_analysis.pilot, demo_analysis.conflicts)
    target = tmp_path / "map.html"
    target.write_text("old", encoding="utf-8")

    def boom() -> str:
        raise RuntimeError("render failed")

    monkeypatch.setattr(m.get_root(), "render", boom)
    with pytest.raises(RuntimeError):
        fp.maps.save_map(m, target)
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.html"]


def test_without_optional_layers(demo_analysis: SimpleNamespace) -> None:
    """Only the required layers: the map still draws (no zones, logistics, roads, districts)."""
    layers = {
        k: v
        for k, v in demo_analysis.pilot.layers.items()
        if k in ("boundary", "land_use", "cluster")
    }
    data = payload(fp.maps.conflict_map(layers, demo_analysis.conflicts))
    ids = {s["id"] for s in data["layers"]}
    assert {"boundary", "plan_land_use", "plan_cluster"} <= ids
    assert not ids & {"zones", "suppliers", "base_roads", "districts"}
    assert data["districts"]  # districts from the conflicts' district column


def test_ledger_decisions_read_from_decided_rows_only() -> None:
    """Only filled-in rows count; ids and pair lists as text, later rows win, blanks skipped."""
    import pandas as pd

    from fiveplans.analysis.ledger import ADJUSTMENT, ID, PAIRS
    from fiveplans.maps.interactive import _decisions

    ledger = pd.DataFrame(
        {
            ID: ["P1", "P2", "P3", "P4", None],
            PAIRS: ["C1,C2", "C3; C4", None, "C1", "C9"],
            ADJUSTMENT: [" 规划调整 ", None, "  ", "基本农田调整", "开发边界调整"],
        }
    )
    by_patch, by_pair = _decisions(ledger)
    assert by_patch == {"P1": "规划调整", "P4": "基本农田调整"}
    assert by_pair == {"C1": "基本农田调整", "C2": "规划调整", "C9": "开发边界调整"}
    assert _decisions(ledger.iloc[:0]) == ({}, {})
    assert _decisions(None) == ({}, {})
