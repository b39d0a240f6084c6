"""Overlay and models (fiveplans.analysis): conflicts, zones, adjustments, logistics network.

Every function takes layers (GeoDataFrames with the legend columns, in one projected metre CRS,
checked by :func:`check_crs`, never reprojected) and returns a GeoDataFrame or table aligned to
its input; options are keyword-only. :class:`WorkingLayers` is the context built once per pilot
(checked CRS, survey field names, derived geometries cached): pass it instead of the plain
mapping to share that work across the models.
"""

from __future__ import annotations

from fiveplans.analysis.adjustments import AdjustmentOptions, AdjustmentResult, propose_adjustments
from fiveplans.analysis.conflicts import (
    CONFLICT_TYPES,
    containment_tags,
    find_conflicts,
    four_quadrants,
    summarize_conflicts,
)
from fiveplans.analysis.context import WorkingLayers, check_crs, working_layers
from fiveplans.analysis.efficiency import industrial_efficiency, load_indicators
from fiveplans.analysis.engine import NetworkEngine, engine_for
from fiveplans.analysis.ledger import conflict_ledger, merge_decisions, read_ledger, write_ledger
from fiveplans.analysis.logistics import (
    assign_suppliers,
    catchments,
    cluster_links,
    coverage,
    service_areas,
    service_class,
    site_hubs,
    snap_points,
)
from fiveplans.analysis.network import build_network, dropped_roads
from fiveplans.analysis.villages import homesteads, villages_in_zone
from fiveplans.analysis.zones import ZoneOptions, assign_zones

__all__ = [
    "CONFLICT_TYPES",
    "AdjustmentOptions",
    "AdjustmentResult",
    "NetworkEngine",
    "WorkingLayers",
    "ZoneOptions",
    "assign_suppliers",
    "assign_zones",
    "build_network",
    "catchments",
    "check_crs",
    "cluster_links",
    "conflict_ledger",
    "containment_tags",
    "coverage",
    "dropped_roads",
    "engine_for",
    "find_conflicts",
    "four_quadrants",
    "homesteads",
    "industrial_efficiency",
    "load_indicators",
    "merge_decisions",
    "propose_adjustments",
    "read_ledger",
    "service_areas",
    "service_class",
    "site_hubs",
    "snap_points",
    "summarize_conflicts",
    "villages_in_zone",
    "working_layers",
    "write_ledger",
]
