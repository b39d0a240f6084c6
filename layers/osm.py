"""Read OpenStreetMap roads (道路网) as edges between junctions.

:func:`read_osm_roads` reads ``.osm`` (XML) and ``.osm.pbf`` extracts with pyosmium and returns
one row per road segment between junctions, with the OSM node ids of its ends (``u``, ``v``).
Junctions are nodes that several kept ways share (or a way visits twice) and the ends of ways;
roads that merely cross in the plane — bridges, tunnels, interchange ramps (立交) — share no
node and are never joined. Data © OpenStreetMap contributors, ODbL.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas
import numpy as np
import osmium
import shapely

from fiveplans.errors import DataError

__all__ = ["DRIVABLE", "TAGS", "read_osm_roads"]

logger = logging.getLogger(__name__)

#: ``highway`` values a car can use (机动车道路): the default road classes kept.
DRIVABLE: frozenset[str] = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "road",
    }
)

#: OSM tags copied to columns (missing tags are null).
TAGS: tuple[str, ...] = (
    "highway",
    "name",
    "ref",
    "oneway",
    "bridge",
    "tunnel",
    "layer",
    "maxspeed",
)

_SUFFIXES = (".osm", ".osm.pbf", ".pbf", ".osm.gz", ".osm.bz2", ".osm.xml")


@dataclass(frozen=True)
class _Way:
    """A kept way: id, copied tags, node ids and their locations (NaN where missing)."""

    id: int
    tags: dict[str, str | None]
    nodes: np.ndarray  # int64
    lonlat: np.ndarray  # float64 (n, 2), NaN where the node is not in the file


def read_osm_roads(
    path: str | os.PathLike[str],
    *,
    highway: Collection[str] | None = DRIVABLE,
) -> geopandas.GeoDataFrame:
    """Read the roads of an OSM extract, split into edges between junctions.

    Parameters
    ----------
    path
        An OSM XML (``.osm``) or PBF (``.osm.pbf``) file.
    highway
        ``highway`` tag values to keep (default :data:`DRIVABLE`); ``None`` keeps every way
        with a ``highway`` tag. Ways tagged ``area=yes`` (squares, car parks) are never kept.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per edge, in EPSG:4326: ``osmid`` (way id), ``u``, ``v`` (OSM node ids of the
        edge's first and last vertex, int64, in the way's direction), ``highway``, ``name``,
        ``ref``, ``oneway``, ``bridge``, ``tunnel``, ``layer``, ``maxspeed`` (raw tag strings,
        ``None`` when absent) and ``geometry`` (LineString). Ways cut by the extract's
        bounding box keep their located parts.

    Raises
    ------
    DataError
        The file is missing or unreadable, or holds no way of the requested classes.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: file not found; check the roads `path:` in the pilot YAML.")
    if not file.name.lower().endswith(_SUFFIXES):
        raise DataError(
            f"{file}: not an OSM file name (expected one of {', '.join(_SUFFIXES)}); rename it "
            "or convert it with `osmium cat` to .osm.pbf."
        )
    keep = None if highway is None else frozenset(highway)
    ways = list(_read_ways(file, keep))
    if not ways:
        wanted = "any highway" if keep is None else f"highway in {sorted(keep)}"
        raise DataError(
            f"{file}: no OSM way with {wanted}; check that the extract covers the zone, or "
            "widen the road classes."
        )

    uses = Counter(int(n) for way in ways for n in way.nodes)
    rows: list[dict[str, object]] = []
    cut_ways = 0
    missing_nodes = 0
    for way in ways:
        located = ~np.isnan(way.lonlat[:, 0])
        if not located.all():
            cut_ways += 1
            missing_nodes += int((~located).sum())
        for start, stop in _runs(located):
            for a, b in _split(way.nodes, start, stop, uses):
                rows.append(
                    {
                        "osmid": way.id,
                        "u": int(way.nodes[a]),
                        "v": int(way.nodes[b]),
                        **way.tags,
                        "geometry": shapely.LineString(way.lonlat[a : b + 1]),
                    }
                )
    if cut_ways:
        logger.info(
            "%s: %d ways reference %d nodes missing from the file (cut at the extract's "
            "bounding box); kept their located parts",
            file,
            cut_ways,
            missing_nodes,
        )
    columns = ["osmid", "u", "v", *TAGS, "geometry"]
    gdf = geopandas.GeoDataFrame(rows, columns=columns, geometry="geometry", crs="EPSG:4326")
    gdf = gdf.astype({"osmid": "int64", "u": "int64", "v": "int64"})
    for tag in TAGS:  # object columns with None for missing tags, whatever pandas infers
        column = gdf[tag].astype(object)
        gdf[tag] = column.where(column.notna(), None)
    logger.info("%s: %d road edges from %d ways", file, len(gdf), len(ways))
    return gdf


def _read_ways(file: Path, keep: frozenset[str] | None) -> Iterator[_Way]:
    """The file's ways with a kept ``highway`` tag, with node locations where known."""
    try:
        processor = osmium.FileProcessor(
            str(file), osmium.osm.NODE | osmium.osm.WAY
        ).with_locations()
        for obj in processor:
            if not obj.is_way():
                continue
            value = obj.tags.get("highway")
            if value is None or (keep is not None and value not in keep):
                continue
            if obj.tags.get("area") == "yes":
                continue
            refs = obj.nodes
            nodes = np.fromiter((r.ref for r in refs), dtype=np.int64, count=len(refs))
            lonlat = np.full((len(refs), 2), np.nan)
            for i, ref in enumerate(refs):
                if ref.location.valid():
                    lonlat[i] = (ref.location.lon, ref.location.lat)
            tags = {key: obj.tags.get(key) for key in TAGS}
            yield _Way(int(obj.id), tags, nodes, lonlat)
    except RuntimeError as exc:
        raise DataError(
            f"{file}: cannot read it as OSM data ({exc}); re-download the extract or check it "
            "with `osmium fileinfo`."
        ) from exc


def _runs(located: np.ndarray) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` index ranges (inclusive) of consecutive located nodes, 2+ long."""
    start: int | None = None
    for i, ok in enumerate([*located.tolist(), False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            if i - 1 > start:
                yield start, i - 1
            start = None


def _split(
    nodes: np.ndarray, start: int, stop: int, uses: Counter[int]
) -> Iterator[tuple[int, int]]:
    """Index pairs of the edges of ``nodes[start:stop + 1]``, split at junction nodes."""
    a = start
    for i in range(start + 1, stop):
        if uses[int(nodes[i])] > 1:
            yield a, i
            a = i
    yield a, stop
