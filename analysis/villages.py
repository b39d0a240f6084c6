"""Villages for whole-village redevelopment (村庄整体改造) inside the zone.

Rural homesteads (农村宅基地, current land use 0702) inside the planning boundary are counted
by zone (built, development, control) and district. A village is redeveloped as a whole, so
each homestead parcel is counted once, in the zone and the district that hold the largest
part of it; its area is the part inside the boundary.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from fiveplans.analysis.zones import ZONES, boundary_of, polygonal
from fiveplans.errors import ConfigError, DataError

__all__ = ["HOMESTEAD_CODE", "homesteads", "villages_in_zone"]

logger = logging.getLogger(__name__)

HOMESTEAD_CODE = "0702"
"""GB/T 21010-2017 农村宅基地 (rural homestead)."""

_WHOLE_ZONE = "全区 whole zone"
_TOTAL = "合计 total"


def _majority(geoms: np.ndarray, areas: gpd.GeoDataFrame, col: str, default: str) -> list[str]:
    """Per geometry, the ``col`` value of the feature in ``areas`` covering most of it."""
    if areas is None or not len(areas):
        return [default] * len(geoms)
    tree = shapely.STRtree(areas.geometry.to_numpy())
    out = []
    for g in geoms:
        best, best_area = default, 0.0
        for k in tree.query(g, predicate="intersects"):
            ar = polygonal(shapely.intersection(g, areas.geometry.iloc[k])).area
            if ar > best_area:
                best, best_area = str(areas[col].iloc[k]), ar
        out.append(best)
    return out


def homesteads(
    layers: Mapping[str, gpd.GeoDataFrame],
    zones: gpd.GeoDataFrame,
    *,
    districts: gpd.GeoDataFrame | None = None,
    district_field: str = "name",
) -> gpd.GeoDataFrame:
    """The homestead parcels inside the boundary, each with its ``zone`` and ``district``.

    Parameters
    ----------
    layers
        Layer key to GeoDataFrame; needs ``boundary`` and ``current`` (GB/T 21010 codes in
        ``DLBM`` or ``source_code``).
    zones
        The zones table of :func:`fiveplans.analysis.assign_zones`.
    districts
        District polygons; default ``layers["districts"]`` when present.
    district_field
        The district name column.

    Returns
    -------
    geopandas.GeoDataFrame
        ``source_id`` (when present), ``zone``, ``district``, ``area_m2`` (inside the
        boundary), geometry (clipped to the boundary).

    Raises
    ------
    DataError
        No ``current`` layer or no code column; zones without a ``zone`` column.
    ConfigError
        ``district_field`` is not a column of the districts.
    """
    boundary, crs = boundary_of(layers)
    cur = layers.get("current")
    if cur is None:
        raise DataError(
            "layers have no 'current' (现状): rural homesteads (0702 农村宅基地) come from the "
            "current land-use survey; set `current:` in the pilot YAML"
        )
    if "zone" not in zones.columns:
        raise DataError(
            "the zones table has no 'zone' column: pass the table of "
            "fiveplans.analysis.assign_zones"
        )
    code_col = "DLBM" if "DLBM" in cur.columns else "source_code"
    if code_col not in cur.columns:
        raise DataError(
            "the 'current' layer has neither DLBM nor source_code: homesteads are found by the "
            "GB/T 21010 code 0702; load it with scheme gbt21010"
        )
    if crs is not None and cur.crs is not None and cur.crs != crs:
        cur = cur.to_crs(crs)
    if crs is not None and zones.crs is not None and zones.crs != crs:
        zones = zones.to_crs(crs)
    if districts is None:
        districts = layers.get("districts")
    if districts is not None and len(districts):
        if district_field not in districts.columns:
            raise ConfigError(
                f"district_field = {district_field!r} is not a column of the districts "
                f"({', '.join(map(str, districts.columns))}): pass the name column"
            )
        if crs is not None and districts.crs is not None and districts.crs != crs:
            districts = districts.to_crs(crs)
    sel = cur.loc[cur[code_col].astype(str).str.strip().str.startswith(HOMESTEAD_CODE)]
    geoms = np.asarray(
        [polygonal(shapely.intersection(g, boundary)) for g in sel.geometry], dtype=object
    )
    keep = np.asarray([not g.is_empty and g.area > 0 for g in geoms], dtype=bool)
    sel, geoms = sel.loc[keep], geoms[keep]
    out = gpd.GeoDataFrame(index=range(len(sel)), geometry=list(geoms), crs=crs)
    if "source_id" in sel.columns:
        out.insert(0, "source_id", sel["source_id"].to_numpy())
    out["zone"] = _majority(geoms, zones, "zone", "control")
    out["district"] = _majority(geoms, districts, district_field, _WHOLE_ZONE)
    out["area_m2"] = shapely.area(geoms) if len(geoms) else np.zeros(0)
    return out[[c for c in out.columns if c != "geometry"] + ["geometry"]]


def villages_in_zone(
    layers: Mapping[str, gpd.GeoDataFrame],
    zones: gpd.GeoDataFrame,
    *,
    districts: gpd.GeoDataFrame | None = None,
    district_field: str = "name",
) -> pd.DataFrame:
    """Count and area of rural homesteads inside the zone, by zone type and district.

    Parameters
    ----------
    layers, zones, districts, district_field
        As in :func:`homesteads`.

    Returns
    -------
    pandas.DataFrame
        One row per (``zone``, ``district``) with homesteads, then per-zone subtotals
        (district ``合计 total``) and a grand total (zone and district ``合计 total``):
        ``count`` (homestead parcels), ``area_m2``, ``area_ha``.
    """
    h = homesteads(layers, zones, districts=districts, district_field=district_field)
    order = {z: k for k, z in enumerate(ZONES)}
    rows = []
    for (zone, district), grp in h.groupby(["zone", "district"], sort=True):
        rows.append((zone, district, len(grp), float(grp["area_m2"].sum())))
    rows.sort(key=lambda r: (order.get(r[0], 99), r[1]))
    out = []
    for zone in ZONES:
        sub = [r for r in rows if r[0] == zone]
        out.extend(sub)
        if sub:
            out.append((zone, _TOTAL, sum(r[2] for r in sub), sum(r[3] for r in sub)))
    out.append((_TOTAL, _TOTAL, len(h), float(h["area_m2"].sum())))
    df = pd.DataFrame(out, columns=["zone", "district", "count", "area_m2"])
    df["count"] = df["count"].astype("int64")
    df["area_ha"] = df["area_m2"] / 10_000.0
    logger.info(
        "%d rural homestead parcel(s), %.2f ha, inside the zone", len(h), h["area_m2"].sum()
    )
    return df
