"""Tests of fiveplans.layers.osm.read_osm_roads on a tiny hand-made file and the real extracts."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import osmium
import pytest

from fiveplans.errors import DataError
from fiveplans.layers.osm import DRIVABLE, read_osm_roads

TINY = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
 <node id="1" lat="34.000" lon="113.000"/>
 <node id="2" lat="34.000" lon="113.001"/>
 <node id="3" lat="34.000" lon="113.002"/>
 <node id="4" lat="34.000" lon="113.003"/>
 <node id="5" lat="34.000" lon="113.004"/>
 <node id="6" lat="33.999" lon="113.002"/>
 <node id="7" lat="34.001" lon="113.002"/>
 <node id="8" lat="34.001" lon="113.003"/>
 <node id="10" lat="33.999" lon="113.0005"/>
 <node id="11" lat="34.001" lon="113.0005"/>
 <node id="20" lat="34.010" lon="113.000"/>
 <node id="21" lat="34.010" lon="113.001"/>
 <node id="23" lat="34.010" lon="113.003"/>
 <node id="24" lat="34.010" lon="113.004"/>
 <way id="100">
  <nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="5"/>
  <tag k="highway" v="primary"/><tag k="name" v="中原路"/><tag k="oneway" v="yes"/>
 </way>
 <way id="101">
  <nd ref="6"/><nd ref="3"/><nd ref="7"/>
  <tag k="highway" v="secondary"/><tag k="maxspeed" v="60"/>
 </way>
 <way id="102">
  <nd ref="4"/><nd ref="8"/>
  <tag k="highway" v="footway"/>
 </way>
 <way id="103">
  <nd ref="10"/><nd ref="11"/>
  <tag k="highway" v="trunk"/><tag k="bridge" v="yes"/><tag k="layer" v="1"/>
 </way>
 <way id="104">
  <nd ref="20"/><nd ref="21"/><nd ref="99"/><nd ref="23"/><nd ref="24"/>
  <tag k="highway" v="residential"/>
 </way>
 <way id="105">
  <nd ref="8"/><nd ref="7"/>
  <tag k="highway" v="service"/><tag k="area" v="yes"/>
 </way>
</osm>
"""


def test_tiny_file_edges(tmp_path: Path) -> None:
    file = tmp_path / "tiny.osm"
    file.write_text(TINY, encoding="utf-8")
    gdf = read_osm_roads(file)
    assert gdf.crs == "EPSG:4326"
    edges = {(int(r.osmid), int(r.u), int(r.v)) for r in gdf.itertuples()}
    # way 100 splits at node 3 (shared with 101), not at 4 (shared only with a footway);
    # the trunk bridge 103 crosses 100 between nodes 1 and 2 but shares no node;
    # way 104 loses its missing node 99 and keeps the two located parts
    assert edges == {
        (100, 1, 3),
        (100, 3, 5),
        (101, 6, 3),
        (101, 3, 7),
        (103, 10, 11),
        (104, 20, 21),
        (104, 23, 24),
    }
    assert len(gdf) == len(edges)
    for column in ("osmid", "u", "v"):
        assert gdf[column].dtype == np.int64
    main = gdf[gdf["osmid"] == 100].set_index("v")
    assert main.loc[3, "geometry"].coords[:] == [(113.0, 34.0), (113.001, 34.0), (113.002, 34.0)]
    assert set(main["name"]) == {"中原路"}
    assert set(main["oneway"]) == {"yes"}
    bridge = gdf[gdf["osmid"] == 103].iloc[0]
    assert (bridge["bridge"], bridge["layer"], bridge["tunnel"]) == ("yes", "1", None)
    assert bridge.geometry.crosses(main.loc[3, "geometry"])
    assert gdf.loc[gdf["osmid"] == 101, "maxspeed"].tolist() == ["60", "60"]
    # every class kept when asked
    everything = read_osm_roads(file, highway=None)
    assert set(everything["highway"]) == {"primary", "secondary", "footway", "trunk", "residential"}
    # now the footway is kept, node 4 is a junction
    assert {(100, 3, 4), (100, 4, 5), (102, 4, 8)} <= {
        (int(r.osmid), int(r.u), int(r.v)) for r in everything.itertuples()
    }


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_osm_roads(tmp_path / "none.osm")
    bad = tmp_path / "bad.osm"
    bad.write_text("<osm><node id='1' lat='x'", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.osm"):
        read_osm_roads(bad)
    empty = tmp_path / "empty.osm"
    empty.write_text('<osm version="0.6"><node id="1" lat="1" lon="1"/></osm>', encoding="utf-8")
    with pytest.raises(DataError, match="no OSM way"):
        read_osm_roads(empty)
    shapefile = tmp_path / "roads.shp"
    shapefile.write_bytes(b"")
    with pytest.raises(DataError, match="not an OSM file"):
        read_osm_roads(shapefile)


def _parse_xml(file: Path) -> tuple[dict[int, tuple[float, float]], dict[int, dict]]:
    """Nodes (id -> lon, lat) and kept drivable ways (id -> nodes, tags) via xml.etree."""
    nodes: dict[int, tuple[float, float]] = {}
    ways: dict[int, dict] = {}
    for element in ET.parse(file).getroot():
        if element.tag == "node":
            nodes[int(element.get("id"))] = (float(element.get("lon")), float(element.get("lat")))
        elif element.tag == "way":
            tags = {t.get("k"): t.get("v") for t in element.iter("tag")}
            if tags.get("highway") in DRIVABLE and tags.get("area") != "yes":
                refs = [int(nd.get("ref")) for nd in element.iter("nd")]
                ways[int(element.get("id"))] = {"nodes": refs, "tags": tags}
    return nodes, ways


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [("shenzhen_longgang_map.osm", 600, 1000), ("shanghai_jingan.osm", 900, 1500)],
)
def test_real_xml_against_etree(real_data: Path, name: str, low: int, high: int) -> None:
    file = real_data / "roads" / name
    gdf = read_osm_roads(file)
    assert low <= len(gdf) <= high  # PROVENANCE.md: about 800 / 1,200 drivable edges
    nodes, ways = _parse_xml(file)
    assert set(gdf["osmid"]) == set(ways)
    assert set(gdf["u"]) | set(gdf["v"]) <= set(nodes)
    uses = Counter(n for way in ways.values() for n in way["nodes"])
    for row in gdf.itertuples():
        refs = ways[row.osmid]["nodes"]
        for end in (row.u, row.v):
            i = refs.index(end)
            is_end = i in (0, len(refs) - 1)
            next_to_missing = any(
                refs[j] not in nodes for j in (i - 1, i + 1) if 0 <= j < len(refs)
            )
            assert is_end or uses[end] >= 2 or next_to_missing, (row.osmid, end)
        coords = row.geometry.coords
        assert coords[0] == pytest.approx(nodes[row.u], abs=1e-7)
        assert coords[-1] == pytest.approx(nodes[row.v], abs=1e-7)
        assert row.highway == ways[row.osmid]["tags"]["highway"]
        assert row.name == ways[row.osmid]["tags"].get("name")
    # each way's located nodes are all covered by its edges: vertices = nodes + inner splits
    located = {w: sum(n in nodes for n in way["nodes"]) for w, way in ways.items()}
    vertices = gdf.groupby("osmid")["geometry"].apply(lambda s: sum(len(g.coords) for g in s))
    pieces = gdf.groupby("osmid").size()
    for way_id, n in located.items():
        parts = _located_runs(ways[way_id]["nodes"], nodes)
        assert vertices[way_id] - pieces[way_id] + parts == n


def _located_runs(refs: list[int], nodes: dict) -> int:
    """Number of runs of 2+ consecutive nodes present in the file."""
    return sum(
        1
        for ok, run in itertools.groupby(refs, key=lambda n: n in nodes)
        if ok and len(list(run)) > 1
    )


def test_longgang_grade_separated_crossing(real_data: Path) -> None:
    file = real_data / "roads" / "shenzhen_longgang_map.osm"
    gdf = read_osm_roads(file)
    _, ways = _parse_xml(file)
    fast = gdf[gdf["highway"].isin(["motorway", "trunk"])].reset_index(drop=True)
    crossings = []
    for i, j in itertools.combinations(range(len(fast)), 2):
        a, b = fast.iloc[i], fast.iloc[j]
        if a.geometry.crosses(b.geometry):
            crossings.append((a, b))
    assert crossings, "expected interchanges/bridges among Longgang's motorways and trunks"
    separated = 0
    for a, b in crossings:
        # roads crossing in the plane: neither edge ends at the crossing, and no node is shared
        assert not {a.u, a.v} & {b.u, b.v}
        if not set(ways[a.osmid]["nodes"]) & set(ways[b.osmid]["nodes"]):
            separated += 1
    assert separated >= 1


def test_real_pbf(real_data: Path) -> None:
    lie = real_data / "roads" / "liechtenstein-latest.osm.pbf"
    every = read_osm_roads(lie, highway=None)
    assert 7000 <= len(every) <= 9000  # PROVENANCE.md: about 7,900 highway edges
    drivable = read_osm_roads(lie)
    assert 2000 <= len(drivable) < len(every)
    assert set(drivable["highway"]) <= DRIVABLE
    helsinki = real_data / "roads" / "helsinki.osm.pbf"
    roads = read_osm_roads(helsinki)
    # PROVENANCE.md: about 1,500 drivable edges (counted per direction)
    two_way = ~roads["oneway"].isin(["yes", "1", "true", "-1"])
    assert 1000 <= len(roads) + int(two_way.sum()) <= 2500
    node_ids = {
        n.id for n in osmium.FileProcessor(str(helsinki), osmium.osm.NODE) if n.location.valid()
    }
    assert set(roads["u"]) | set(roads["v"]) <= node_ids
    assert roads.geometry.is_valid.all()
    assert (roads.geometry.apply(lambda g: len(g.coords)) >= 2).all()
