"""Villages for whole-village redevelopment (村庄整体改造) inside the zone.

Rural homesteads (农村宅基地, current land use 0702) inside the planning boundary are counted
by zone (built, development, control) and district. A village is redeveloped as a whole, so
each homestead parcel is counted once, in the zone and the district that hold the largest
part of it; its area is the part inside the boundary.
"""

from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from fiveplans.analysis import overlay
from fiveplans.analysis.context import LayersLike, WorkingLayers, check_crs, working_layers
from fiveplans.errors import ConfigError, DataError, StageSkipped
from fiveplans.schema import ZONES, SurveyFields

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
            ar = overlay.polygon_intersection(g, areas.geometry.iloc[k]).area
            if ar > best_area:
                best, best_area = str(areas[col].iloc[k]), ar
        out.append(best)
    return out


def _homestead_parcels(ctx: WorkingLayers) -> gpd.GeoDataFrame | None:
    """The current survey's homestead parcels (0702), or ``None`` without a current layer.

    The land class is the layer's configured classification (``source_code``), else the
    survey's land class column (:class:`~fiveplans.schema.SurveyFields` ``land_class``).
    """
    cur = ctx.get("current")
    if cur is None:
        warnings.warn(
            StageSkipped(
                "villages",
                "没有土地利用现状 — no current land-use layer (现状): rural homesteads (0702 "
                "农村宅基地) come from it; the villages table is empty",
                "set `current:` in the pilot YAML (the 三调 DLTB layer, scheme gbt21010)",
            ),
            stacklevel=4,
        )
        return None
    code_col = "source_code" if "source_code" in cur.columns else ctx.fields.land_class
    if code_col not in cur.columns:
        raise DataError(
            f"现状图层缺少地类编码 — the 'current' layer has neither source_code nor "
            f"{ctx.fields.land_class}: homesteads are found by the GB/T 21010 code 0702. "
            "解决 Fix: load it with scheme gbt21010 (fiveplans.load_pilot)"
        )
    return cur.loc[cur[code_col].astype(str).str.strip().str.startswith(HOMESTEAD_CODE)]


def _districts(
    ctx: WorkingLayers, districts: gpd.GeoDataFrame | None, district_field: str
) -> gpd.GeoDataFrame | None:
    if districts is None:
        districts = ctx.get("districts")
    if districts is None or not len(districts):
        return None
    if district_field not in districts.columns:
        raise ConfigError(
            f"district_field = {district_field!r} is not a column of the districts "
            f"({', '.join(map(str, districts.columns))}). 解决 Fix: pass the name column"
        )
    check_crs({"districts": districts}, what="村庄 villages", crs=ctx.crs)
    return districts


def homesteads(
    layers: LayersLike,
    zones: gpd.GeoDataFrame,
    *,
    districts: gpd.GeoDataFrame | None = None,
    district_field: str = "name",
    fields: SurveyFields | None = None,
) -> gpd.GeoDataFrame:
    """The homestead parcels inside the boundary, each with its ``zone`` and ``district``.

    Parameters
    ----------
    layers
        A :class:`~fiveplans.analysis.context.WorkingLayers`, or layer key → GeoDataFrame in
        one projected metre CRS; needs ``boundary``, uses ``current`` (GB/T 21010 codes in
        ``source_code``, else the survey's land class column).
    zones
        The zones table of :func:`fiveplans.analysis.assign_zones`, in the layers' CRS.
    districts
        District polygons; default ``layers["districts"]`` when present.
    district_field
        The district name column.
    fields
        The current survey's field names (default: the context's).

    Returns
    -------
    geopandas.GeoDataFrame
        ``source_id`` (when present), ``zone``, ``district``, ``area_m2`` (inside the
        boundary), geometry (clipped to the boundary); empty without a current layer.

    Warns
    -----
    StageSkipped
        ``villages`` when there is no current land-use layer.

    Raises
    ------
    DataError
        A current layer without a code column; zones without a ``zone`` column.
    CRSError
        Layers, zones or districts not in one projected metre CRS.
    ConfigError
        ``district_field`` is not a column of the districts.
    """
    ctx = working_layers(layers, fields=fields)
    boundary = ctx.boundary()
    if "zone" not in zones.columns:
        raise DataError(
            "分区表缺少 zone 字段 — the zones table has no 'zone' column. 解决 Fix: pass the "
            "table of fiveplans.analysis.assign_zones"
        )
    check_crs({"zones": zones}, what="村庄 villages", crs=ctx.crs)
    dist = _districts(ctx, districts, district_field)
    sel = _homestead_parcels(ctx)
    if sel is None:
        sel = gpd.GeoDataFrame({"source_id": []}, geometry=gpd.GeoSeries([]), crs=ctx.crs)
    geoms = overlay.intersect_each(sel.geometry.to_numpy(), boundary)
    keep = np.asarray([g is not None and g.area > 0 for g in geoms], dtype=bool)
    sel, geoms = sel.loc[keep], geoms[keep]
    out = gpd.GeoDataFrame(index=range(len(sel)), geometry=list(geoms), crs=ctx.crs)
    if "source_id" in sel.columns:
        out.insert(0, "source_id", sel["source_id"].to_numpy())
    out["zone"] = _majority(geoms, zones, "zone", "control")
    out["district"] = _majority(geoms, dist, district_field, _WHOLE_ZONE)
    out["area_m2"] = shapely.area(geoms) if len(geoms) else np.zeros(0)
    return out[[c for c in out.columns if c != "geometry"] + ["geometry"]]


def villages_in_zone(
    layers: LayersLike,
    zones: gpd.GeoDataFrame,
    *,
    districts: gpd.GeoDataFrame | None = None,
    district_field: str = "name",
    fields: SurveyFields | None = None,
) -> pd.DataFrame:
    """Count and area of rural homesteads inside the zone, by zone type and district.

    Parameters
    ----------
    layers, zones, districts, district_field, fields
        As in :func:`homesteads`.

    Returns
    -------
    pandas.DataFrame
        One row per (``zone``, ``district``) with homesteads, then per-zone subtotals
        (district ``合计 total``) and a grand total (zone and district ``合计 total``):
        ``count`` (homestead parcels), ``area_m2``, ``area_ha``.
    """
    h = homesteads(layers, zones, districts=districts, district_field=district_field, fields=fields)
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
