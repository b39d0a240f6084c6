"""Tests of fiveplans.layers.cad.read_dxf on DXF drawings built with ezdxf."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import ezdxf
import pytest
import shapely

from fiveplans.errors import DataError
from fiveplans.layers.cad import read_dxf

SQUARE = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)]


def _new(version: str = "R2010") -> ezdxf.document.Drawing:
    return ezdxf.new(version)


def test_bulged_lwpolyline_area_matches_analytic(tmp_path: Path) -> None:
    doc = _new()
    msp = doc.modelspace()
    # Top side (100,100) -> (0,100) with bulge 1: a half circle of radius 50 bulging outward.
    msp.add_lwpolyline(
        [(0, 0, 0), (100, 0, 0), (100, 100, 1.0), (0, 100, 0)],
        format="xyb",
        close=True,
        dxfattribs={"layer": "M1"},
    )
    doc.saveas(tmp_path / "bulge.dxf")
    gdf = read_dxf(tmp_path / "bulge.dxf")
    assert len(gdf) == 1
    row = gdf.iloc[0]
    assert row["Layer"] == "M1"
    assert row["entity"] == "LWPOLYLINE"
    assert gdf.crs is None
    expected = 100 * 100 + math.pi * 50**2 / 2
    assert row.geometry.area == pytest.approx(expected, rel=1e-3)
    # the arc reaches (50, 150); flattening keeps every vertex on or inside the true circle
    assert row.geometry.bounds[3] == pytest.approx(150.0, abs=0.05)
    assert row.geometry.bounds[3] <= 150.0 + 1e-9


def test_hatch_with_hole_and_edge_path(tmp_path: Path) -> None:
    doc = _new()
    msp = doc.modelspace()
    hatch = msp.add_hatch(dxfattribs={"layer": "R2"})
    hatch.paths.add_polyline_path(SQUARE, is_closed=True, flags=ezdxf.const.BOUNDARY_PATH_EXTERNAL)
    hatch.paths.add_polyline_path(
        [(40, 40), (60, 40), (60, 60), (40, 60)],
        is_closed=True,
        flags=ezdxf.const.BOUNDARY_PATH_DEFAULT,
    )
    circle = msp.add_hatch(dxfattribs={"layer": "G1"})
    edges = circle.paths.add_edge_path(flags=ezdxf.const.BOUNDARY_PATH_EXTERNAL)
    edges.add_arc((500, 500), radius=30, start_angle=0, end_angle=360)
    doc.saveas(tmp_path / "hatch.dxf")
    gdf = read_dxf(tmp_path / "hatch.dxf").set_index("Layer")
    assert set(gdf["entity"]) == {"HATCH"}
    holed = gdf.loc["R2", "geometry"]
    assert holed.geom_type == "Polygon"
    assert len(holed.interiors) == 1
    assert holed.area == pytest.approx(100 * 100 - 20 * 20)
    # chords within 0.05 m of the arc: the polygon lies between circles of radius 29.95 and 30
    disc = gdf.loc["G1", "geometry"]
    assert math.pi * 29.95**2 <= disc.area <= math.pi * 30**2
    assert disc.centroid.distance(shapely.Point(500, 500)) < 1e-6


def test_polyline_and_z_dropped(tmp_path: Path) -> None:
    doc = _new()
    msp = doc.modelspace()
    msp.add_polyline3d(
        [(0, 0, 12.5), (50, 0, 13.0), (50, 40, 14.0), (0, 40, 11.0)],
        close=True,
        dxfattribs={"layer": "U"},
    )
    # closed by coincident ends (0.4 mm apart), closed flag not set, at elevation 35 m
    msp.add_lwpolyline(
        [(200, 0), (230, 0), (230, 30), (200.0004, 0)], dxfattribs={"layer": "U", "elevation": 35}
    )
    doc.saveas(tmp_path / "poly.dxf")
    gdf = read_dxf(tmp_path / "poly.dxf")
    assert sorted(gdf["entity"]) == ["LWPOLYLINE", "POLYLINE"]
    assert not gdf.has_z.any()
    areas = dict(zip(gdf["entity"], gdf.area, strict=True))
    assert areas["POLYLINE"] == pytest.approx(50 * 40)
    assert areas["LWPOLYLINE"] == pytest.approx(30 * 30 / 2, rel=1e-4)
    handles = {e.dxf.handle for e in msp}
    assert set(gdf["handle"]) == handles


def test_open_polyline_is_an_error_naming_handle_layer_and_fix(tmp_path: Path) -> None:
    doc = _new()
    msp = doc.modelspace()
    msp.add_lwpolyline(SQUARE, close=True, dxfattribs={"layer": "M1"})
    road = msp.add_lwpolyline([(12.5, 7.25), (300, 7.25)], dxfattribs={"layer": "道路中心线"})
    doc.saveas(tmp_path / "open.dxf")
    with pytest.raises(DataError) as err:
        read_dxf(tmp_path / "open.dxf")
    message = str(err.value)
    assert road.dxf.handle in message
    assert "道路中心线" in message
    assert "(12.500, 7.250)" in message
    assert "PEDIT" in message
    assert "open.dxf" in message
    # choosing the land-use layer alone reads fine
    gdf = read_dxf(tmp_path / "open.dxf", layers=["m1"])
    assert list(gdf["Layer"]) == ["M1"]


def test_gbk_layer_names_in_r12_ansi_936(tmp_path: Path) -> None:
    doc = _new("R12")
    doc.encoding = "gbk"
    doc.layers.add("一类工业用地")
    doc.modelspace().add_polyline2d(
        [(0, 0), (10, 0), (10, 10), (0, 10)], close=True, dxfattribs={"layer": "一类工业用地"}
    )
    file = tmp_path / "gbk.dxf"
    doc.saveas(file)
    raw = file.read_bytes()
    # independent check of the file itself: GBK bytes under the ANSI_936 code page
    assert b"ANSI_936" in raw
    assert "一类工业用地".encode("gbk") in raw
    assert "一类工业用地".encode() not in raw
    gdf = read_dxf(file)
    assert list(gdf["Layer"]) == ["一类工业用地"]
    assert gdf.area.iloc[0] == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("version", "stored"),
    [
        ("R2010", "物流仓储用地".encode()),  # R2007+ DXF is UTF-8
        ("R2000", rb"\U+7269\U+6D41\U+4ED3\U+50A8\U+7528\U+5730"),  # escapes before R2007
    ],
)
def test_unicode_layer_names(tmp_path: Path, version: str, stored: bytes) -> None:
    doc = _new(version)
    doc.modelspace().add_lwpolyline(SQUARE, close=True, dxfattribs={"layer": "物流仓储用地"})
    file = tmp_path / "unicode.dxf"
    doc.saveas(file)
    assert stored.lower() in file.read_bytes().lower()
    assert list(read_dxf(file, layers=["物流仓储用地"])["Layer"]) == ["物流仓储用地"]


def test_mif_escaped_layer_name(tmp_path: Path) -> None:
    # Old Chinese AutoCAD wrote double-byte names as \M+5XXXX (5 = cp936, XXXX = GBK bytes)
    gbk = "工业".encode("gbk")
    escaped = "".join(f"\\M+5{gbk[i]:02X}{gbk[i + 1]:02X}" for i in range(0, len(gbk), 2))
    doc = _new("R12")
    doc.modelspace().add_polyline2d(SQUARE, close=True, dxfattribs={"layer": escaped})
    doc.saveas(tmp_path / "mif.dxf")
    assert escaped.encode("ascii") in (tmp_path / "mif.dxf").read_bytes()
    assert list(read_dxf(tmp_path / "mif.dxf")["Layer"]) == ["工业"]


def test_hatch_over_its_polyline_is_deduplicated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    doc = _new()
    msp = doc.modelspace()
    outline = msp.add_lwpolyline(SQUARE, close=True, dxfattribs={"layer": "M1"})
    same = msp.add_hatch(dxfattribs={"layer": "M1"})
    # same outline, other start vertex and direction
    same.paths.add_polyline_path(list(reversed(SQUARE[1:] + SQUARE[:1])), is_closed=True)
    other_layer = msp.add_hatch(dxfattribs={"layer": "R2"})
    other_layer.paths.add_polyline_path(SQUARE, is_closed=True)
    msp.add_text("一类工业", dxfattribs={"layer": "M1"})
    block = doc.blocks.new("TREE")
    block.add_circle((0, 0), 1)
    msp.add_blockref("TREE", (5, 5), dxfattribs={"layer": "M1"})
    doc.saveas(tmp_path / "dup.dxf")
    with caplog.at_level(logging.INFO, logger="fiveplans.layers.cad"):
        gdf = read_dxf(tmp_path / "dup.dxf")
    assert sorted(zip(gdf["Layer"], gdf["entity"], strict=True)) == [
        ("M1", "LWPOLYLINE"),
        ("R2", "HATCH"),
    ]
    assert gdf.loc[gdf["Layer"] == "M1", "handle"].item() == outline.dxf.handle
    assert same.dxf.handle in caplog.text
    assert "1 INSERT" in caplog.text
    assert "1 TEXT" in caplog.text


def test_unknown_layer_suggests_the_closest(tmp_path: Path) -> None:
    doc = _new()
    doc.modelspace().add_lwpolyline(SQUARE, close=True, dxfattribs={"layer": "YDGH_M1"})
    doc.saveas(tmp_path / "x.dxf")
    with pytest.raises(DataError, match=r"did you mean 'YDGH_M1'") as err:
        read_dxf(tmp_path / "x.dxf", layers=["YDGH-M1"])
    assert "x.dxf" in str(err.value)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"this is not a drawing\n", "not a readable DXF"),
        (b"AC1032\x00\x00\x00\x00binary", "DWG"),
        (b"  0\nSECTION\n  2\nENTITIES\n  0\nLWPOLYLINE\n 10\n", "not a readable DXF"),
    ],
)
def test_not_a_dxf(tmp_path: Path, content: bytes, match: str) -> None:
    file = tmp_path / "bad.dxf"
    file.write_bytes(content)
    with pytest.raises(DataError, match=match):
        read_dxf(file)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_dxf(tmp_path / "nope.dxf")
