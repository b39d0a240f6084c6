"""Read planning polygons from CAD drawings (DXF, 城市规划 CAD 图).

Urban plans (城市总体规划/控制性详细规划) often arrive as AutoCAD drawings whose land-use
classes are CAD layer names (图层名, e.g. ``M1``, ``R2``, ``一类工业用地``). :func:`read_dxf`
turns the model space's closed polylines and hatches (填充) into polygons, one row per CAD
entity, keeping the layer name as the classification field. Coordinates stay in the
drawing's local system; :mod:`fiveplans.layers.loaders` georeferences them with control points.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from difflib import get_close_matches
from functools import reduce
from pathlib import Path
from typing import cast

import ezdxf
import geopandas
import numpy as np
import shapely
from ezdxf import path as ezpath
from ezdxf.lldxf import encoding as dxf_encoding
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from fiveplans.errors import DataError

__all__ = ["CLOSE_TOLERANCE", "SAGITTA", "read_dxf"]

logger = logging.getLogger(__name__)

#: First and last vertex closer than this (drawing units, metres) make a polyline closed.
CLOSE_TOLERANCE = 0.001
#: Largest distance (metres) between an arc or bulge and the chords that replace it.
SAGITTA = 0.05

_POLYLINE_TYPES = ("LWPOLYLINE", "POLYLINE")
_ENTITY_ORDER = {"LWPOLYLINE": 0, "POLYLINE": 1, "HATCH": 2}


def read_dxf(
    path: str | os.PathLike[str],
    *,
    layers: Sequence[str] | None = None,
    encoding: str | None = None,
) -> geopandas.GeoDataFrame:
    """Read the polygons of a DXF drawing's model space.

    Closed ``LWPOLYLINE``/``POLYLINE`` entities (closed flag set, or first and last vertex
    within :data:`CLOSE_TOLERANCE`) and ``HATCH`` boundaries (outer boundary with holes,
    even-odd nesting) become polygons. Bulges, arcs, ellipses and splines are flattened to
    chords within :data:`SAGITTA`; Z is dropped. Text, blocks (``INSERT``), dimensions and
    other entities are ignored and counted in the log. A hatch that repeats a closed polyline's
    outline on the same layer is dropped as a duplicate.

    Parameters
    ----------
    path
        The ``.dxf`` file, any version: R2007+ files are UTF-8; older ones are decoded with
        their ``$DWGCODEPAGE`` (e.g. ``ANSI_936`` = GBK), and ``\\U+XXXX`` / ``\\M+NXXXX``
        escapes in layer names are resolved.
    layers
        CAD layer names to read (case-insensitive); all layers when omitted.
    encoding
        Text encoding overriding the file's declared code page, for drawings whose
        ``$DWGCODEPAGE`` is wrong.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``Layer`` (CAD layer name), ``entity`` (``LWPOLYLINE``, ``POLYLINE`` or
        ``HATCH``), ``handle`` (the entity's DXF handle) and ``geometry`` (Polygon or
        MultiPolygon), without CRS (local drawing coordinates).

    Raises
    ------
    DataError
        The file is missing, not a DXF or corrupt; a requested layer does not exist; an open
        polyline lies on a selected layer; or no polygon is found.
    """
    file = Path(path)
    doc = _open(file, encoding)
    msp = doc.modelspace()
    all_layers = sorted(
        {_layer_name(e) for e in msp} | {_decode(layer.dxf.name) for layer in doc.layers}
    )
    selected = _select_layers(file, all_layers, layers)

    rows: list[dict[str, object]] = []
    open_lines: list[tuple[str, str, tuple[float, float]]] = []
    ignored: Counter[str] = Counter()
    degenerate: list[str] = []
    for entity in msp:
        kind = entity.dxftype()
        layer = _layer_name(entity)
        if selected is not None and layer.casefold() not in selected:
            continue
        if kind in _POLYLINE_TYPES:
            if kind == "POLYLINE" and not (entity.is_2d_polyline or entity.is_3d_polyline):
                ignored["POLYLINE (mesh)"] += 1
                continue
            closed, first = _polyline_closed(entity)
            if not closed:
                open_lines.append((entity.dxf.handle, layer, first))
                continue
            geom = _polygon_from_paths([ezpath.make_path(entity)])
        elif kind == "HATCH":
            geom = _polygon_from_paths(list(ezpath.from_hatch(entity)))
        else:
            ignored[kind] += 1
            continue
        if geom is None:
            degenerate.append(entity.dxf.handle)
            continue
        rows.append({"Layer": layer, "entity": kind, "handle": entity.dxf.handle, "geometry": geom})

    if open_lines:
        raise DataError(_open_message(file, open_lines, selected is None))
    if ignored:
        logger.info(
            "%s: ignored %d non-polygon entities (%s)",
            file,
            sum(ignored.values()),
            ", ".join(f"{n} {k}" for k, n in sorted(ignored.items())),
        )
    if degenerate:
        logger.warning(
            "%s: skipped %d closed polylines/hatches with zero area (handles %s)",
            file,
            len(degenerate),
            _short_list(degenerate),
        )
    rows, dropped = _dedupe(file, rows)
    if not rows:
        where = "any layer" if selected is None else f"layers {sorted(layers or [])}"
        raise DataError(
            f"{file}: no closed polyline or hatch on {where} of the model space; the plan's "
            "land-use polygons must be closed polylines or hatches — close them in CAD "
            "(PEDIT → Close) or choose the layers that hold them with `layer:` in the pilot."
        )
    gdf = geopandas.GeoDataFrame(rows, geometry="geometry", crs=None)
    gdf.attrs["duplicates_dropped"] = dropped  # counted in the loader's QA
    logger.info("%s: read %d polygons from %d layers", file, len(gdf), gdf["Layer"].nunique())
    return gdf


def _open(file: Path, encoding: str | None) -> ezdxf.document.Drawing:
    """Open *file* with ezdxf, turning every failure into a :class:`DataError`."""
    if not file.is_file():
        raise DataError(f"{file}: file not found; check `path:` (relative to the pilot YAML).")
    with file.open("rb") as fh:
        head = fh.read(6)
    if head.startswith(b"AC10"):
        raise DataError(
            f"{file}: this is a DWG drawing, not DXF; save it as DXF in CAD "
            "(SAVEAS → AutoCAD DXF, R2000 or later) or convert it with ODA File Converter."
        )
    try:
        return ezdxf.readfile(file, encoding=encoding)
    except (ezdxf.DXFError, OSError, UnicodeError, ValueError, IndexError) as exc:
        raise DataError(
            f"{file}: not a readable DXF file ({type(exc).__name__}: {exc}); re-export it from "
            "CAD as DXF (R2000 or later) or run AUDIT/RECOVER on it first."
        ) from exc


def _decode(text: str) -> str:
    """Resolve DXF text escapes: ``\\U+7269`` (R2000–R2004 non-code-page characters) and
    ``\\M+5B9D0`` (MIF double-byte characters of old Chinese/Japanese/Korean drawings)."""
    if dxf_encoding.has_dxf_unicode(text):
        text = dxf_encoding.decode_dxf_unicode(text)
    if dxf_encoding.has_mif_encoding(text):
        text = dxf_encoding.decode_mif_to_unicode(text)
    return text


def _layer_name(entity: ezdxf.entities.DXFGraphic) -> str:
    """The entity's CAD layer name, decoded."""
    return _decode(str(entity.dxf.layer))


def _select_layers(
    file: Path, all_layers: Sequence[str], layers: Sequence[str] | None
) -> set[str] | None:
    """Casefolded names of the requested layers, ``None`` for all; unknown names are an error."""
    if layers is None:
        return None
    if isinstance(layers, str):
        layers = [layers]
    known = {name.casefold() for name in all_layers}
    unknown = [name for name in layers if name.casefold() not in known]
    if unknown:
        hints = []
        for name in unknown:
            close = get_close_matches(name, all_layers, n=1)
            if close:
                hints.append(f"{name!r} → did you mean {close[0]!r}?")
        raise DataError(
            f"{file}: layer(s) {unknown} not found in the drawing. "
            + (" ".join(hints) + " " if hints else "")
            + f"Layers present: {list(all_layers)}; fix `layer:` in the pilot YAML."
        )
    return {name.casefold() for name in layers}


def _polyline_closed(entity: ezdxf.entities.DXFGraphic) -> tuple[bool, tuple[float, float]]:
    """Whether a polyline is closed (flag or coincident ends), and its first vertex (x, y)."""
    if entity.dxftype() == "LWPOLYLINE":
        flag = bool(entity.closed)
        points = [(float(x), float(y)) for x, y in entity.get_points("xy")]
        # LWPOLYLINE vertices are in the OCS; report WCS coordinates.
        ocs = entity.ocs()
        elevation = float(entity.dxf.elevation)
        points = [(v.x, v.y) for v in ocs.points_to_wcs([(x, y, elevation) for x, y in points])]
    else:
        flag = bool(entity.is_closed)
        points = [(float(v.x), float(v.y)) for v in entity.points_in_wcs()]
    if not points:
        return flag, (float("nan"), float("nan"))
    first, last = points[0], points[-1]
    ends_meet = len(points) > 2 and np.hypot(first[0] - last[0], first[1] - last[1]) <= (
        CLOSE_TOLERANCE
    )
    return flag or bool(ends_meet), first


def _polygon_from_paths(paths: Iterable[ezpath.Path]) -> BaseGeometry | None:
    """Even-odd fill of the closed rings *paths* (outer boundaries and holes), or ``None``."""
    rings = []
    for p in paths:
        vertices = [(v.x, v.y) for v in p.flattening(SAGITTA)]
        if len(vertices) < 3:
            continue
        ring = Polygon(vertices)
        if not ring.is_valid:
            ring = shapely.make_valid(ring)
        if ring.area > 0:
            rings.append(ring)
    if not rings:
        return None
    geom = reduce(shapely.symmetric_difference, rings)
    geom = _polygonal(geom)
    return geom if geom is not None and geom.area > 0 else None


def _polygonal(geom: BaseGeometry) -> BaseGeometry | None:
    """The polygonal part of *geom* (Polygon or MultiPolygon), dropping stray lines/points."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    return shapely.union_all(parts)


def _dedupe(file: Path, rows: list[dict[str, object]]) -> tuple[list[dict[str, object]], list[str]]:
    """Drop repeats of the same outline on the same layer (hatch over its closed polyline).

    Returns the rows kept and the dropped entities (``KIND HANDLE = KIND HANDLE`` kept)."""
    seen: dict[tuple[str, bytes], str] = {}
    dropped: list[str] = []
    order = sorted(range(len(rows)), key=lambda i: (_ENTITY_ORDER[str(rows[i]["entity"])], i))
    keep_index = set()
    for i in order:
        row = rows[i]
        geom = cast(BaseGeometry, row["geometry"])
        snapped = shapely.normalize(shapely.set_precision(shapely.normalize(geom), CLOSE_TOLERANCE))
        key = (str(row["Layer"]).casefold(), shapely.to_wkb(snapped))
        if key in seen:
            dropped.append(f"{row['entity']} {row['handle']} = {seen[key]}")
            continue
        seen[key] = f"{row['entity']} {row['handle']}"
        keep_index.add(i)
    kept = [row for i, row in enumerate(rows) if i in keep_index]
    if dropped:
        logger.info(
            "%s: dropped %d duplicate outlines (same polygon on the same layer): %s",
            file,
            len(dropped),
            _short_list(dropped),
        )
    return kept, dropped


def _open_message(
    file: Path, open_lines: list[tuple[str, str, tuple[float, float]]], all_layers: bool
) -> str:
    """The DataError text for open polylines on the selected layers."""
    by_layer: dict[str, list[str]] = {}
    for handle, layer, (x, y) in open_lines:
        by_layer.setdefault(layer, []).append(f"{handle} at ({x:.3f}, {y:.3f})")
    details = "; ".join(
        f"layer {layer!r}: {len(items)} ({_short_list(items)})" for layer, items in by_layer.items()
    )
    names = sorted(by_layer)
    exclude = (
        f"list only the land-use CAD layers under `layer:` in the pilot (leaving out {names})"
        if all_layers
        else f"drop {names} from `layer:` in the pilot"
    )
    return (
        f"{file}: {len(open_lines)} open polyline(s) on the selected layers cannot be land-use "
        f"polygons — {details}. Fix: close them in CAD (PEDIT → Close), or {exclude}."
    )


def _short_list(items: Sequence[str], limit: int = 10) -> str:
    """Comma-joined *items*, the first *limit* of them and a count of the rest."""
    text = ", ".join(items[:limit])
    return text + (f", … ({len(items) - limit} more)" if len(items) > limit else "")
