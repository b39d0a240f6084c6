"""The outputs of a run (CONTRACT §5): one function per file, written into the run's folder.

:func:`fiveplans.run` computes (:func:`fiveplans.pipeline.analyse`) and then calls
:func:`write_outputs`, which writes every output into a temporary folder beside the target; the
pipeline moves them into place only when all are complete, so a failed run leaves no
half-written file.

=====================  ==================================================================
file                   written by
=====================  ==================================================================
``integrated.gpkg``    :func:`write_integrated`
``results.gpkg``       :func:`write_results`
``map.html``           :func:`write_map` (:func:`fiveplans.maps.conflict_map`)
``report.html/.pdf``   :func:`write_report` (:func:`fiveplans.maps.report.write_report`)
``tables.xlsx``        :func:`fiveplans.maps.tables.write_tables_xlsx` (the report's tables)
``summary.json``       :func:`write_summary` (last: it records every warning of the run)
=====================  ==================================================================
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
import pyogrio

from fiveplans.config import PLAN_LABELS
from fiveplans.diagnostics import Diagnostics

if TYPE_CHECKING:  # the pipeline imports this module; types only
    from fiveplans.pipeline import Analysis, Pilot

__all__ = [
    "LEDGER_SHEET",
    "NOT_YET_AVAILABLE",
    "OUTPUT_NAMES",
    "RunInfo",
    "results_layers",
    "summary",
    "write_integrated",
    "write_map",
    "write_outputs",
    "write_report",
    "write_results",
    "write_summary",
]

log = logging.getLogger(__name__)

#: Outputs of CONTRACT §5 that this version cannot produce yet, with the reason shown to users.
NOT_YET_AVAILABLE: dict[str, str] = {}
#: Every file a run may write (the folder check refuses to overwrite them without --overwrite).
OUTPUT_NAMES = (
    "integrated.gpkg",
    "results.gpkg",
    "map.html",
    "report.html",
    "report.pdf",
    "tables.xlsx",
    "summary.json",
)
LEDGER_SHEET = "冲突台账"

_OVERLAP = "行互不重叠，可相加 rows do not overlap: they add up"
_PAIRS_OVERLAP = (
    "行可能重叠（同一地块每对规划一行），不可相加；相加请用 conflict_patches — rows overlap (the "
    "same land once per pair of plans): do not sum them; sum conflict_patches"
)
#: results.gpkg layer → whether its rows overlap (stored as the layer's description).
LAYER_NOTES: dict[str, str] = {
    "conflicts": _PAIRS_OVERLAP,
    "conflict_patches": (
        "同一类型的图斑互不重叠，可按类型相加；不同类型之间可能重叠 — patches of one type do not "
        "overlap (sum by type); patches of different types may"
    ),
    "zones": _OVERLAP + "（三区划分规划范围 the zones partition the boundary）",
    "adjustments": "调出、调入、迁移各自不重叠 out, in and move rows do not overlap within an action",
    "service_areas": "各时间圈嵌套，不可相加 — the travel-time bands are nested: do not sum them",
    "catchments": _OVERLAP,
    "supplier_assignment": "每个企业一行 one row per supplier",
    "network_pieces": _OVERLAP,
}


class RunInfo:
    """When a run started (for ``summary.json`` ``provenance``)."""

    def __init__(self, started: datetime | None = None, clock: float | None = None) -> None:
        self.started = started if started is not None else datetime.now().astimezone()
        self.clock = clock if clock is not None else time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.clock


# ------------------------------------------------------------------------------------- figures


def _json_number(value: float) -> float:
    return float(round(value, 3)) if math.isfinite(value) else 0.0


def config_scheme(pilot: Pilot, key: str) -> str | None:
    """The code scheme of a layer, or ``None`` for layers that are not land-use layers."""
    src = pilot.config.sources.get(key)
    return src.scheme if src is not None else None


def _conflict_block(analysis: Analysis) -> dict[str, Any]:
    """Per type: the area of the union of its pieces, the number of patches (the ledger's rows)
    and of pairs.

    The union area of a type is the sum of its patches' areas: a patch is the union of the
    type's pieces that overlap, so the patches of one type do not overlap (tested against
    :func:`~fiveplans.analysis.conflicts.summarize_conflicts`, which unions every piece again).
    """
    from fiveplans.analysis.conflicts import CONFLICT_TYPES

    patches = analysis.patches
    conflicts = analysis.conflicts
    area = patches.groupby("type")["area_m2"].sum() if len(patches) else pd.Series(dtype=float)
    count = patches["type"].value_counts() if len(patches) else pd.Series(dtype=int)
    pairs = conflicts["type"].value_counts() if len(conflicts) else pd.Series(dtype=int)
    slivers = dict(conflicts.attrs.get("slivers_dropped", {"count": 0, "area_m2": 0.0}))
    return {
        "conflicts": {
            t: {
                "area_m2": _json_number(float(area.get(t, 0.0))),
                "count": int(count.get(t, 0)),
                "pairs": int(pairs.get(t, 0)),
            }
            for t in CONFLICT_TYPES
        },
        "slivers_dropped": {
            "count": int(slivers.get("count", 0)),
            "area_m2": _json_number(float(slivers.get("area_m2", 0.0))),
        },
    }


def _analysis_summary(analysis: Analysis | None) -> dict[str, Any]:
    if analysis is None:
        return {k: None for k in ("conflicts", "slivers_dropped", "zones", "farmland_balance")}
    out: dict[str, Any] = {**_conflict_block(analysis), "zones": None, "farmland_balance": None}
    if len(analysis.zones):
        areas = analysis.zones.groupby("zone")["area_m2"].sum()
        out["zones"] = {
            z: {"area_m2": _json_number(float(areas.get(z, 0.0)))}
            for z in ("built", "development", "control")
        }
    if analysis.adjustments is not None:
        adj = analysis.adjustments
        out["farmland_balance"] = {
            **{k: _json_number(v) for k, v in adj.farmland_balance.items()},
            "feasible": bool(adj.feasible),
            "shortfall_m2": _json_number(adj.shortfall_m2),
            "quality_checked": bool(analysis.grades),
        }
    if analysis.ledger_report is not None:
        rep = analysis.ledger_report
        out["ledger"] = {
            "kept": rep["kept"],
            "new": len(rep["new"]),
            "gone": rep["gone"],
            "ambiguous": rep.get("ambiguous", []),
        }
    return out


def _catchment_summary(analysis: Analysis | None) -> dict[str, int] | None:
    if analysis is None or analysis.logistics is None:
        return None
    lg = analysis.logistics
    assigned = lg.supplier_assignment
    return {
        "clusters": len(lg.catchments),
        "suppliers": 0 if assigned is None else len(assigned),
        "assigned": 0 if assigned is None else int(assigned["travel_min"].notna().sum()),
    }


def _layer_summary(pilot: Pilot) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, frame in pilot.layers.items():
        entry: dict[str, Any] = {"features": len(frame), "label": PLAN_LABELS.get(key, key)}
        if config_scheme(pilot, key):
            poly = frame.loc[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
            areas = poly.assign(_a=poly.geometry.area).groupby("legend")["_a"].sum()
            entry["area_m2_by_legend"] = {str(k): _json_number(v) for k, v in areas.items()}
        out[key] = entry
    return out


def summary(
    pilot: Pilot,
    analysis: Analysis | None = None,
    *,
    diagnostics: Diagnostics | None = None,
    run: RunInfo | None = None,
) -> dict[str, Any]:
    """The ``summary.json`` content (CONTRACT §5).

    Parameters
    ----------
    pilot, analysis
        The loaded pilot and what was computed from it.
    diagnostics
        The run's sink (``warnings``, ``skipped``); default the analysis's, else the pilot's.
    run
        When the run started: adds ``provenance``.
    """
    diag = diagnostics
    if diag is None:
        diag = analysis.diagnostics if analysis is not None else pilot.diagnostics
    out: dict[str, Any] = {
        "pilot": pilot.id,
        "name": pilot.name,
        "crs": pilot.crs.to_string(),
        "boundary_area_m2": _json_number(float(pilot.layers["boundary"].geometry.area.sum())),
        **_analysis_summary(analysis),
        "catchments": _catchment_summary(analysis),
        "layers": _layer_summary(pilot),
        "skipped": diag.skipped_block(),
    }
    if run is not None:
        from fiveplans.provenance import provenance

        out["provenance"] = provenance(pilot.config, started=run.started, seconds=run.seconds)
    out["warnings"] = diag.messages()
    return out


# ------------------------------------------------------------------------------------- writers


def _write_gpkg(
    layers: dict[str, gpd.GeoDataFrame],
    path: Path,
    *,
    promote_to_multi: bool = False,
    notes: dict[str, str] | None = None,
) -> None:
    for i, (key, frame) in enumerate(layers.items()):
        out = frame.copy()
        for col in out.columns:
            if col != out.geometry.name and out[col].dtype == object:
                out[col] = out[col].map(
                    lambda v: v if v is None or isinstance(v, str | int | float | bool) else str(v)
                )
        polygonal = out.geom_type.isin(["Polygon", "MultiPolygon"]).all()
        note = (notes or {}).get(key)
        pyogrio.write_dataframe(
            out,
            path,
            layer=key,
            driver="GPKG",
            append=i > 0,
            promote_to_multi=promote_to_multi and bool(polygonal),
            layer_options={"DESCRIPTION": note} if note else None,
        )


def write_integrated(pilot: Pilot, path: Path) -> None:
    """``integrated.gpkg``: one layer per loaded source, in the working CRS (一张图)."""
    _write_gpkg(pilot.layers, path)


def results_layers(analysis: Analysis) -> dict[str, gpd.GeoDataFrame]:
    """The layers of ``results.gpkg`` that this version computes (CONTRACT §5)."""
    out: dict[str, Any] = {"conflicts": analysis.conflicts, "conflict_patches": analysis.patches}
    if len(analysis.zones):
        out["zones"] = analysis.zones
    if analysis.adjustments is not None:
        out["adjustments"] = analysis.adjustments.adjustments
    if analysis.logistics is not None:
        lg = analysis.logistics
        out["service_areas"] = lg.service_areas
        out["catchments"] = lg.catchments
        if lg.supplier_assignment is not None:
            out["supplier_assignment"] = lg.supplier_assignment
        out["network_pieces"] = getattr(lg, "network_pieces", None)
    return {k: v for k, v in out.items() if isinstance(v, gpd.GeoDataFrame)}


def write_results(analysis: Analysis, path: Path) -> None:
    """``results.gpkg``: the computed layers; each layer's description says whether its rows
    overlap (:data:`LAYER_NOTES`)."""
    _write_gpkg(results_layers(analysis), path, promote_to_multi=True, notes=LAYER_NOTES)


def write_map(pilot: Pilot, analysis: Analysis, folder: Path) -> Path:
    """``map.html``: the interactive conflict map (:func:`fiveplans.maps.conflict_map`) — the
    plans, the conflict patches (the ledger's unit, with their decision status), zones and
    logistics — one self-contained file that opens offline, written atomically."""
    from fiveplans.maps import conflict_map, save_map

    m = conflict_map(
        pilot,
        analysis.conflicts,
        zones=analysis.zones if len(analysis.zones) else None,
        logistics=analysis.logistics,
        ledger=analysis.ledger,
        patches=analysis.patches,
    )
    return save_map(m, folder / "map.html")


def write_report(
    pilot: Pilot, analysis: Analysis, folder: Path, *, content: dict[str, Any], tables: list[Any]
) -> None:
    """``report.html`` and ``report.pdf`` (:func:`fiveplans.maps.report.write_report`): the same
    tables as ``tables.xlsx`` and the same figures as ``summary.json``."""
    from fiveplans.maps.report import write_report as write_pilot_report

    write_pilot_report(pilot, analysis, content, folder, tables=tables)


def write_summary(
    pilot: Pilot,
    analysis: Analysis | None,
    path: Path,
    *,
    diagnostics: Diagnostics | None = None,
    run: RunInfo | None = None,
    content: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``summary.json`` (CONTRACT §5); returns what was written.

    ``content`` is a summary built earlier in the run (the one the tables and the report
    show): only what changed since — the warnings and skipped stages, the duration — is
    refreshed, so the figures are not recomputed and the inputs not hashed twice.
    """
    if content is None:
        content = summary(pilot, analysis, diagnostics=diagnostics, run=run)
    else:
        diag = diagnostics
        if diag is None:
            diag = analysis.diagnostics if analysis is not None else pilot.diagnostics
        content = {k: v for k, v in content.items() if k != "warnings"}
        content["skipped"] = diag.skipped_block()
        if run is not None and "provenance" in content:
            content["provenance"] = {**content["provenance"], "seconds": round(run.seconds, 3)}
        content["warnings"] = diag.messages()
    text = json.dumps(content, ensure_ascii=False, indent=2)
    path.write_text(text + "\n", encoding="utf-8")
    return content


def write_outputs(
    pilot: Pilot,
    analysis: Analysis,
    folder: Path,
    *,
    diagnostics: Diagnostics,
    run: RunInfo | None = None,
) -> None:
    """Write every output of CONTRACT §5 into ``folder`` (the run's temporary folder).

    The tables (``tables.xlsx``) and the report are built from the same planner tables
    (:func:`fiveplans.maps.tables.planner_tables`) and the same summary content, so every figure
    agrees; ``summary.json`` comes last so that it records every warning the writing raised too.
    """
    from fiveplans.maps.report import find_browser, no_browser_skip, start_report
    from fiveplans.maps.tables import planner_tables, start_tables_xlsx

    if find_browser() is None:  # known now: the 警告与跳过 tables of the report and the
        with diagnostics.capture("report"):  # workbook list it too
            warnings.warn(no_browser_skip(), stacklevel=2)
    content = summary(pilot, analysis, diagnostics=diagnostics, run=run)
    with diagnostics.capture("write"):
        tables = planner_tables(pilot, analysis, content)
        # a large workbook is written by a worker process while this one draws the report
        # and writes the GeoPackages and the map (none of which raises warnings, so the
        # tables' 警告与跳过 sheet misses nothing). The worker's warnings are raised here.
        workbook = start_tables_xlsx(tables, folder / "tables.xlsx", ledger=analysis.ledger)
    report = None
    try:
        with diagnostics.capture("report"):
            # Chromium prints on the other core while this process writes the GeoPackages
            # and the map; with a workbook worker it starts once the worker has ended, so the
            # two never hold memory at once
            report = start_report(
                pilot,
                analysis,
                content,
                folder,
                tables=tables,
                print_after=workbook.wait if workbook.running else None,
            )
        with diagnostics.capture("write"):
            write_integrated(pilot, folder / "integrated.gpkg")
            write_results(analysis, folder / "results.gpkg")
        with diagnostics.capture("map"):
            write_map(pilot, analysis, folder)
    except BaseException:
        workbook.cancel()  # first: a printer waiting for the worker is released
        if report is not None:
            report.cancel()
        raise
    with diagnostics.capture("write"):
        workbook.result()
    with diagnostics.capture("report"):
        report.finish()
    write_summary(
        pilot, analysis, folder / "summary.json", diagnostics=diagnostics, run=run, content=content
    )
