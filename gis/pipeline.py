"""The package's top-level face: :func:`load_pilot` and :func:`run` (what ``fiveplans run`` does).

This is the one core module allowed to reach across ``layers``, ``analysis`` and ``maps``. It
computes — load (:func:`load_pilot`) → analyse (:func:`analyse`) — and hands the results to
:mod:`fiveplans.outputs`, which writes them. One :class:`~fiveplans.diagnostics.Diagnostics` sink
goes through all three: each stage runs inside ``diagnostics.capture(stage)``, so every warning
and every stage skipped for want of an optional input is recorded once, and the CLI output,
``summary.json`` and ``tables.xlsx`` show the same list. Only the required inputs (boundary,
land_use, one of cluster/urban) are fatal.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from fiveplans.config import PilotConfig, closest_hint, read_config, yaml_key
from fiveplans.diagnostics import Diagnostics
from fiveplans.errors import ConfigError, DataError, FiveplansWarning
from fiveplans.outputs import LEDGER_SHEET, NOT_YET_AVAILABLE, OUTPUT_NAMES, RunInfo

__all__ = [
    "NOT_YET_AVAILABLE",
    "Analysis",
    "Pilot",
    "analyse",
    "grade_field",
    "join_grades",
    "load_pilot",
    "run",
    "summary",
]

log = logging.getLogger(__name__)


@dataclass
class Pilot:
    """A pilot: its validated config and its layers harmonised into one CRS and legend.

    Attributes
    ----------
    config
        The validated pilot configuration.
    layers
        Layer key → GeoDataFrame in :attr:`crs` with ``source_id``, ``source_code``, ``legend``,
        ``use`` and every original attribute.
    reports
        Layer key → :class:`fiveplans.layers.loaders.LoadReport` (decisions, QA, warnings).
    crs
        The projected working CRS.
    diagnostics
        The warnings and skipped stages recorded while loading (the run's sink).
    """

    config: PilotConfig
    layers: dict[str, gpd.GeoDataFrame]
    reports: dict[str, Any]
    crs: pyproj.CRS
    diagnostics: Diagnostics = field(default_factory=Diagnostics)

    @property
    def warnings(self) -> list[str]:
        """Every warning recorded while loading (and, in a run, after)."""
        return self.diagnostics.messages()

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def name(self) -> str:
        return self.config.name

    def load_report(self) -> pd.DataFrame:
        """One row per layer: format, encoding, CRS decisions, counts, notes and warnings."""
        return pd.DataFrame([r.as_row() for r in self.reports.values()])

    def qa_table(self) -> pd.DataFrame:
        """All layers' QA findings."""
        tables = [r.qa for r in self.reports.values() if len(r.qa)]
        if not tables:
            return pd.DataFrame(columns=["layer", "check", "count", "area_m2", "detail", "warn"])
        return pd.concat(tables, ignore_index=True)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self.layers.items())
        return f"<Pilot {self.id} '{self.name}' {self.crs.name}: {counts}>"


@contextmanager
def _sink(diagnostics: Diagnostics | None) -> Iterator[Diagnostics]:
    """The caller's sink, or a private one whose records are replayed as Python warnings at the
    end (a notebook user who passes no sink still sees every warning, once)."""
    if diagnostics is not None:
        yield diagnostics
        return
    own = Diagnostics()
    yield own
    own.replay()


def load_pilot(
    path: str | os.PathLike[str] | PilotConfig,
    *,
    verbose: bool = False,
    diagnostics: Diagnostics | None = None,
) -> Pilot:
    """Read a pilot YAML and load its layers into one CRS and legend (一张图).

    Parameters
    ----------
    path
        The pilot YAML file (or an already validated :class:`PilotConfig`).
    verbose
        Show a progress bar while loading.
    diagnostics
        The run's sink: every warning of the loading is recorded in it (stage ``load``).
        Without one, the warnings are shown as Python warnings, once each.

    Returns
    -------
    Pilot
    """
    from fiveplans.layers.loaders import load_layers

    with _sink(diagnostics) as diag:
        with diag.capture("config"):
            config = path if isinstance(path, PilotConfig) else read_config(path)
            check_schemes(config)
        with diag.capture("load"):
            layers, reports, crs = load_layers(config, verbose=verbose)
            for report in reports.values():  # findings kept on the report only (QA rows)
                for text in report.warnings:
                    diag.warn(text, stage="load")
        with diag.capture("grades"):
            join_grades(config, layers)
        pilot = Pilot(config=config, layers=layers, reports=reports, crs=crs, diagnostics=diag)
    return pilot


def _overlap_areas(
    left: np.ndarray, right: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index pairs of overlapping polygons and the area they share (robust overlay)."""
    from fiveplans.analysis.overlay import robust_op

    ia, ib = shapely.STRtree(right).query(left, predicate="intersects")
    try:
        area = shapely.area(shapely.intersection(left[ia], right[ib]))
    except shapely.errors.GEOSException:
        area = np.array(
            [
                robust_op(shapely.intersection, left[i], right[j]).area
                for i, j in zip(ia, ib, strict=True)
            ],
            dtype=float,
        )
    return ia, ib, area


def grade_field(config: PilotConfig) -> str:
    """The column of the current land use that holds the quality grade (耕地质量等别): the
    source's ``grade_field:``, else ``GDDB``."""
    from fiveplans.schema import SurveyFields

    src = config.sources.get("current")
    name = getattr(src, "grade_field", None) if src is not None else None
    return name or SurveyFields().grade


def join_grades(config: PilotConfig, layers: dict[str, gpd.GeoDataFrame]) -> None:
    """Join a ``grades:`` layer (耕地质量等别成果) onto the current land use, in place.

    Each current parcel gets the area-weighted grade of the grade polygons that overlap it in
    the :func:`grade_field` column; a parcel that no grade polygon overlaps keeps its own value
    (null when the column is new). Nothing happens without both layers.
    """
    if "grades" not in layers or "current" not in layers:
        return
    column = grade_field(config)
    src = config.sources["grades"]
    grades = layers["grades"]
    values = pd.to_numeric(grades[src.field], errors="coerce").to_numpy(dtype=float)
    bad = np.isfinite(values) & ~((values >= 1) & (values <= 15))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{src.where}: 等别超出 1–15 — grade {values[i]:g} of feature "
            f"{grades['source_id'].iloc[i]} is outside 1 (best) … 15 (worst). 解决 Fix: correct "
            f"the grade, or name the 等别 column with `grades.field:`"
        )
    current = layers["current"]
    cur_geoms = np.asarray(current.geometry.to_numpy(), dtype=object)
    grade_geoms = np.asarray(grades.geometry.to_numpy(), dtype=object)
    ok = np.isfinite(values)
    rows = np.flatnonzero(ok)
    ia, ib, area = _overlap_areas(cur_geoms, grade_geoms[rows])
    num = np.bincount(ia, weights=area * values[rows][ib], minlength=len(current))
    den = np.bincount(ia, weights=area, minlength=len(current))
    joined = np.divide(num, den, out=np.full(len(current), np.nan), where=den > 0)
    own = (
        pd.to_numeric(current[column], errors="coerce").to_numpy(dtype=float)
        if column in current.columns
        else np.full(len(current), np.nan)
    )
    out = current.copy()
    out[column] = np.where(den > 0, np.round(joined, 4), own)
    layers["current"] = out
    log.info(
        "grades: %d of %d current parcels graded from %s by area share",
        int((den > 0).sum()),
        len(current),
        src.where,
    )


@dataclass
class Logistics:
    """The network model's results (最佳物流半径).

    ``graph`` is the road network as drawn (a :class:`networkx.MultiDiGraph` carrying its
    routing engine); ``context`` the cluster-network context every result was computed from
    (:class:`fiveplans.analysis.logistics.ClusterNetwork`); ``network_pieces`` the roads no
    cluster core reaches or that cannot get back to one (``results.gpkg`` layer).
    """

    graph: Any  # fiveplans.analysis.network.RoadGraph
    service_areas: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    supplier_assignment: gpd.GeoDataFrame | None
    links: pd.DataFrame
    coverage: pd.DataFrame | None
    service_class: pd.DataFrame | None
    network_pieces: gpd.GeoDataFrame | None = None
    context: Any = None  # fiveplans.analysis.logistics.ClusterNetwork


def logistics(
    pilot: Pilot, *, verbose: bool = False, service: dict[str, Any] | None = None
) -> Logistics | None:
    """Travel times on the road network from each cluster core (CONTRACT §2 travel model):
    service areas, competitive catchments, supplier assignment, cluster links, coverage, the
    roads the cores cannot use both ways, and the service-configuration class by travel time
    to the nearest centre. The cluster-network context (engine, snapped cores, radii, one
    search from the cores) is built once and shared by all of them.

    Returns ``None`` when the pilot has no ``roads`` or no ``clusters``; a missing optional
    input (``roads``, ``clusters``, ``suppliers``, ``centres``) is reported as
    :class:`~fiveplans.errors.StageSkipped`.
    """
    import math

    from fiveplans.analysis import logistics as lg
    from fiveplans.analysis.network import build_network
    from fiveplans.errors import StageSkipped

    layers = pilot.layers
    missing = [k for k in ("roads", "clusters") if k not in layers]
    if missing:
        names = " / ".join(f"`{k}:`" for k in missing)
        warnings.warn(
            StageSkipped(
                "logistics",
                f"试点没有 {names} — the pilot has no {names}: service areas, catchments, "
                "supplier assignment and cluster links (最佳物流半径) are not computed",
                f"add {names} to the pilot YAML (roads: an OSM extract covering the zone; "
                "clusters: the cluster cores)",
            ),
            stacklevel=2,
        )
        return None
    cfg = pilot.config.logistics
    industry = pilot.config.sources["clusters"].industry or "industry"
    graph = build_network(layers["roads"], speeds_kmh=cfg.speeds_kmh, verbose=verbose)
    ctx = lg.cluster_network(
        graph, layers["clusters"], radius_min=cfg.radius_min, industry_field=industry
    )
    # one search from the cores, to the farthest time any result needs
    farthest = max(2.0 * float(ctx.radii.max()), *(cfg.breaks_min or [0.0]))
    ctx.times(math.inf if "centres" in layers else farthest)
    areas = lg.service_areas(ctx, breaks=cfg.breaks_min)
    owned = lg.catchments(ctx)
    links, _ = lg.cluster_links(ctx)
    pieces = lg.network_pieces(ctx, warn=True)
    assigned = cover = classes = None
    if "suppliers" in layers:
        assigned = lg.assign_suppliers(ctx, None, layers["suppliers"])
        cover = lg.coverage(assigned, layers.get("districts"))
    else:
        warnings.warn(
            _skipped_input("supplier_assignment", "suppliers", "配套企业 suppliers"), stacklevel=2
        )
    if "centres" in layers:
        classes = lg.service_class(ctx, ctx, layers["centres"], **(service or {}))
    else:
        warnings.warn(
            _skipped_input("service_class", "centres", "城市/县城中心 centres"), stacklevel=2
        )
    return Logistics(graph, areas, owned, assigned, links, cover, classes, pieces, ctx)


def _skipped_input(stage: str, key: str, what: str) -> Warning:
    from fiveplans.errors import StageSkipped

    return StageSkipped(
        stage,
        f"试点没有 `{key}:` — the pilot has no {what}: {stage} is not computed",
        f"add `{key}:` (points with an id) to the pilot YAML",
    )


@dataclass
class Analysis:
    """Everything :func:`analyse` computes for a pilot (the contents of ``results.gpkg`` and
    ``tables.xlsx``).

    Attributes
    ----------
    conflicts
        The conflict pairs (:func:`~fiveplans.analysis.conflicts.find_conflicts`); rows overlap.
    patches
        The conflict patches (:func:`~fiveplans.analysis.patches.conflict_patches`): the
        ledger's unit; within a type they do not overlap.
    ledger
        The ledger (冲突台账), one row per patch, with the decisions carried over.
    ledger_report
        What :func:`~fiveplans.analysis.ledger.merge_decisions` carried over, or ``None``.
    grades
        Whether quality grades (耕地质量等别) were available to the farmland balance.
    diagnostics
        The run's warnings and skipped stages.
    """

    conflicts: gpd.GeoDataFrame
    patches: gpd.GeoDataFrame
    ledger: pd.DataFrame
    ledger_report: dict[str, Any] | None
    zones: gpd.GeoDataFrame
    adjustments: Any  # fiveplans.analysis.adjustments.AdjustmentResult
    quadrants: dict[str, pd.DataFrame]
    containment: gpd.GeoDataFrame
    efficiency: gpd.GeoDataFrame | None
    villages: pd.DataFrame | None
    logistics: Logistics | None = None
    grades: bool = False
    diagnostics: Diagnostics = field(default_factory=Diagnostics)

    @property
    def warnings(self) -> list[str]:
        """Every warning recorded (the run's sink)."""
        return self.diagnostics.messages()

    @property
    def resolved_patches(self) -> list[str]:
        """Patch ids with a decision (调整类型) in the ledger."""
        from fiveplans.analysis.ledger import ADJUSTMENT, ID

        decided = self.ledger[ADJUSTMENT].notna()
        return self.ledger.loc[decided, ID].astype(str).tolist()

    @property
    def resolved(self) -> list[str]:
        """The conflict (pair) ids inside the decided patches: what zones and adjustments take
        as resolved."""
        from fiveplans.analysis.ledger import ADJUSTMENT, patch_pairs

        decided = self.ledger.loc[self.ledger[ADJUSTMENT].notna()]
        return sorted({c for ids in patch_pairs(decided).values() for c in ids})


def check_schemes(config: PilotConfig) -> None:
    """Every source's ``scheme:`` names a code table of :mod:`fiveplans.layers.legend`.

    Checked here, not in :mod:`fiveplans.config`, because the code tables belong to
    ``fiveplans.layers`` and the core does not import its parts.
    """
    from fiveplans.layers.legend import schemes

    known = schemes()
    for key, src in config.sources.items():
        if src.scheme is not None and src.scheme not in known:
            raise ConfigError(
                f"{config.path}: '{yaml_key(key)}.scheme': unknown code scheme '{src.scheme}'. "
                f"Fix: use one of {', '.join(known)}.{closest_hint(src.scheme, known)}"
            )


def analysis_options(config: PilotConfig) -> dict[str, Any]:
    """The pilot's option sections as the analysis functions' options objects.

    ``zones:`` → :class:`~fiveplans.analysis.zones.ZoneOptions`, ``adjustments:`` →
    :class:`~fiveplans.analysis.adjustments.AdjustmentOptions`, ``efficiency:`` (investment_min,
    output_min: 万元/亩, one number or by GB/T 4754 industry code), ``service_class:`` (near_min,
    far_min: minutes). Unknown or out-of-range options raise :class:`ConfigError` naming the key.
    """
    import dataclasses as dc

    from fiveplans.analysis.adjustments import AdjustmentOptions
    from fiveplans.analysis.zones import ZoneOptions

    def build(section: str, cls: Any) -> Any:
        given = dict(config.options.get(section) or {})
        names = {f.name for f in dc.fields(cls)}
        unknown = sorted(set(given) - names)
        if unknown:
            raise ConfigError(
                f"{config.path}: '{section}.{unknown[0]}': unknown option. Fix: use one of "
                f"{', '.join(sorted(names))}"
            )
        try:
            return cls(**given)
        except (ConfigError, TypeError, ValueError) as exc:
            raise ConfigError(f"{config.path}: '{section}': {exc}") from None

    def plain(section: str, allowed: dict[str, str]) -> dict[str, Any]:
        given = dict(config.options.get(section) or {})
        unknown = sorted(set(given) - set(allowed))
        if unknown:
            raise ConfigError(
                f"{config.path}: '{section}.{unknown[0]}': unknown option. Fix: use one of "
                f"{', '.join(f'{k} ({v})' for k, v in allowed.items())}"
            )
        for key, value in given.items():
            values = value.values() if isinstance(value, dict) else [value]
            if not all(
                isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in values
            ):
                raise ConfigError(
                    f"{config.path}: '{section}.{key}': expected a positive number (or a table of "
                    f"them), found {value!r}. Fix: write e.g. `{key}: 60`"
                )
        return given

    service = plain("service_class", {"near_min": "minutes", "far_min": "minutes"})
    if service.get("near_min", 30) >= service.get("far_min", 60):
        raise ConfigError(
            f"{config.path}: 'service_class': near_min must be below far_min. Fix: e.g. "
            "`service_class: {near_min: 30, far_min: 60}`"
        )
    return {
        "zones": build("zones", ZoneOptions),
        "adjustments": build("adjustments", AdjustmentOptions),
        "efficiency": plain(
            "efficiency",
            {
                "investment_min": "万元/亩 investment intensity",
                "output_min": "万元/亩 output intensity",
            },
        ),
        "service_class": service,
    }


def _previous_ledger(path: Path) -> pd.DataFrame:
    """A filled-in ledger: a run's ``tables.xlsx`` (its ledger sheet) or a ledger workbook."""
    from openpyxl import load_workbook

    from fiveplans.analysis.ledger import read_ledger

    try:
        wb = load_workbook(path, read_only=True)
        names = wb.sheetnames
        wb.close()
    except Exception as exc:  # openpyxl raises many types for a bad workbook
        raise DataError(
            f"ledger {path}: cannot be read as an .xlsx workbook ({exc}). Fix: give the "
            "tables.xlsx of an earlier run or a ledger written by fiveplans."
        ) from None
    sheet = LEDGER_SHEET if LEDGER_SHEET in names else None
    return read_ledger(path, sheet=sheet, decisions_only=True)


def _listing(ids: list[str], n: int = 10) -> str:
    return ", ".join(map(str, ids[:n])) + (" …" if len(ids) > n else "")


def _ledger(
    pilot: Pilot, patches: gpd.GeoDataFrame, source: str | os.PathLike[str] | None
) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """The ledger of the patches, with the decisions of an earlier ledger carried over."""
    from fiveplans.analysis.ledger import conflict_ledger, merge_decisions

    ledger = conflict_ledger(patches)
    if source is None:
        return ledger, None
    merged, report = merge_decisions(ledger, _previous_ledger(Path(source)))
    gone = report["gone_with_decisions"]
    if gone:
        warnings.warn(
            f"台账决定未能沿用 — ledger {source}: {len(gone)} decided conflict(s) no longer exist "
            f"({_listing(gone)}); their decisions were not carried over. 解决 Fix: check them "
            "against the new conflict_patches and decide again",
            FiveplansWarning,
            stacklevel=2,
        )
    if report["ambiguous"]:
        detail = report["ambiguous_detail"]
        parts = [f"{pid} ← {', '.join(detail[pid])}" for pid in report["ambiguous"][:10]]
        warnings.warn(
            f"台账决定不一致 — ledger {source}: {len(report['ambiguous'])} conflict patch(es) "
            f"hold earlier conflicts with different decisions, not carried over: "
            f"{'; '.join(parts)}{' …' if len(parts) < len(report['ambiguous']) else ''}. "
            "解决 Fix: fill in the decision of these patches in the new 冲突台账",
            FiveplansWarning,
            stacklevel=2,
        )
    log.info("ledger %s: decisions kept on %s conflict patches", source, report["kept"])
    return merged, report


_FIX = {
    "current": "在试点配置中加入现状 add `current: {path: …, field: DLBM, scheme: gbt21010}` (三调 DLTB)",
    "districts": "加入行政区 add `districts: {path: …, id: name}`",
    "ecology": "加入生态环境规划 add `ecology:` under plans",
    "cluster": "加入产业集聚区总体规划 add `cluster:` under plans",
    "urban": "加入城市总体规划 add `urban:` under plans",
}


def _skip_missing_inputs(pilot: Pilot, diag: Diagnostics) -> None:
    """Say once, per stage, what the missing optional inputs take away — for the stages the
    run leaves out or reduces itself. The analysis functions report their own reduced forms
    (``conflicts.*``, ``farmland_balance.quality``, ``logistics``, ``supplier_assignment``,
    ``service_class``, ``efficiency.*``); the sink keeps one report per stage."""
    have = set(pilot.layers)
    skip = diag.skip
    if "ecology" not in have:
        skip(
            "conflicts.ecology_construction",
            "没有生态环境规划 no ecological plan: construction is checked only against the "
            "ecological land of the other plans (生态用地 legend)",
            _FIX["ecology"],
        )
    for plan in ("cluster", "urban"):
        if plan not in have:
            skip(
                f"quadrants.{plan}",
                f"没有{plan}规划 no {plan} plan: its four-quadrant view (四象限) is not drawn",
                _FIX[plan],
            )
    if "districts" not in have:
        skip(
            "districts",
            "没有行政区 no districts: quadrants, villages, coverage and adjustments are for the "
            "whole zone only (全区)",
            _FIX["districts"],
        )
    if "current" not in have:
        for stage, what in (
            ("zones", "三区 the built zone is the survey's construction land"),
            ("farmland_balance", "占补平衡 adjustments need its cultivated parcels"),
            ("efficiency", "低效工业用地 low-efficiency industry is measured on its parcels"),
            ("villages", "村庄 villages are its homesteads"),
        ):
            skip(stage, f"没有现状 no current land use: {what}", _FIX["current"])


def _has_grades(pilot: Pilot, column: str) -> bool:
    current = pilot.layers.get("current")
    if current is None or column not in current.columns:
        return False
    return bool(pd.to_numeric(current[column], errors="coerce").notna().any())


def analyse(
    pilot: Pilot,
    *,
    ledger: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    diagnostics: Diagnostics | None = None,
) -> Analysis:
    """Overlay the five plans: conflicts and their patches, the ledger, zones, farmland
    adjustments and the views planners decide from (four quadrants, containment tags,
    low-efficiency industry, villages, logistics).

    A stage whose optional input is missing is skipped or reduced and recorded once
    (``diagnostics.skipped``); only the required inputs are fatal.

    Parameters
    ----------
    pilot
        A loaded pilot.
    ledger
        A filled-in ledger (``tables.xlsx`` of an earlier run, or the pilot's ``ledger:``) whose
        decisions are kept (see :func:`~fiveplans.analysis.ledger.merge_decisions`); the pairs
        of decided patches count as resolved when the zones are drawn.
    verbose
        Progress output.
    diagnostics
        The run's sink; each stage runs inside ``diagnostics.capture(stage)``. Without one, the
        warnings are shown as Python warnings, once each.
    """
    from fiveplans.analysis.conflicts import containment_tags, find_conflicts, four_quadrants
    from fiveplans.analysis.context import WorkingLayers
    from fiveplans.analysis.patches import conflict_patches
    from fiveplans.schema import SurveyFields

    thresholds = pilot.config.thresholds
    options = analysis_options(pilot.config)
    with _sink(diagnostics) as diag:
        _skip_missing_inputs(pilot, diag)
        # the working-layers context: CRS checked once, derived geometries computed once
        # and shared by conflicts, containment, quadrants, zones, adjustments and villages
        layers = WorkingLayers(
            pilot.layers, fields=SurveyFields(grade=grade_field(pilot.config)), crs=pilot.crs
        )
        with diag.capture("conflicts"):
            conflicts = find_conflicts(
                layers,
                sliver_m2=thresholds.sliver_m2,
                buffer_m=thresholds.buffer_m,
                verbose=verbose,
            )
            patches = conflict_patches(conflicts)
        with diag.capture("ledger"):
            source = ledger if ledger is not None else pilot.config.ledger
            table, report = _ledger(pilot, patches, source)
        with diag.capture("containment"):
            containment = containment_tags(layers, buffer_m=thresholds.buffer_m)
        result = Analysis(
            conflicts=conflicts,
            patches=patches,
            ledger=table,
            ledger_report=report,
            zones=gpd.GeoDataFrame(),
            adjustments=None,
            quadrants={},
            containment=containment,
            efficiency=None,
            villages=None,
            diagnostics=diag,
        )
        districts = layers.get("districts")
        with diag.capture("quadrants"):
            for plan in ("cluster", "urban"):
                if plan in layers:
                    result.quadrants[plan] = four_quadrants(
                        layers, plan=plan, districts=districts, buffer_m=thresholds.buffer_m
                    )
        if "current" in layers:
            _current_stages(pilot, layers, result, options, diag)
        with diag.capture("logistics"):
            result.logistics = logistics(pilot, verbose=verbose, service=options["service_class"])
    return result


def _current_stages(
    pilot: Pilot, layers: Any, result: Analysis, options: dict[str, Any], diag: Diagnostics
) -> None:
    """Zones, farmland balance, low-efficiency industry and villages (need ``current``)."""
    from fiveplans.analysis.adjustments import propose_adjustments
    from fiveplans.analysis.efficiency import industrial_efficiency
    from fiveplans.analysis.villages import villages_in_zone
    from fiveplans.analysis.zones import assign_zones

    resolved = result.resolved
    with diag.capture("zones"):
        result.zones = assign_zones(
            layers, result.conflicts, options=options["zones"], resolved=resolved
        )
    column = grade_field(pilot.config)
    result.grades = _has_grades(pilot, column)
    with diag.capture("farmland_balance"):
        # without grades propose_adjustments balances by area alone and says so
        # (StageSkipped farmland_balance.quality: 数量平衡, 质量未核)
        result.adjustments = propose_adjustments(
            layers,
            result.conflicts,
            zones=result.zones,
            options=options["adjustments"],
            resolved=resolved,
            fields=layers.fields,
        )
    with diag.capture("efficiency"):
        result.efficiency = industrial_efficiency(
            layers["current"], zones=result.zones, fields=layers.fields, **options["efficiency"]
        )
    with diag.capture("villages"):
        result.villages = villages_in_zone(layers, result.zones, districts=layers.get("districts"))


def summary(pilot: Pilot, analysis: Analysis | None = None, **kwargs: Any) -> dict[str, Any]:
    """The ``summary.json`` content (CONTRACT §5); see :func:`fiveplans.outputs.summary`."""
    from fiveplans.outputs import summary as build

    return build(pilot, analysis, **kwargs)


def run(
    pilot: Pilot | str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    verbose: bool = False,
    ledger: str | os.PathLike[str] | None = None,
    diagnostics: Diagnostics | None = None,
) -> Path:
    """Run the whole pipeline for one pilot and write its outputs (CONTRACT §5).

    Load → analyse → write, each stage inside ``diagnostics.capture(stage)``; the outputs
    (:mod:`fiveplans.outputs`) are built in a temporary folder and moved into ``out`` only when
    all of them are complete, so a failed run never leaves half-written files.

    Parameters
    ----------
    pilot
        A loaded :class:`Pilot` or the path of a pilot YAML.
    out
        Output folder; default ``out/<id>/``.
    overwrite
        Replace existing outputs in ``out``.
    verbose
        Show progress bars.
    ledger
        A filled-in conflict ledger whose decisions are kept; default the pilot's ``ledger:``,
        else the ``tables.xlsx`` of the previous run in ``out`` (when overwriting).
    diagnostics
        The run's sink: every warning and skipped stage is recorded in it, and the same list
        goes to ``summary.json`` (``warnings``, ``skipped``) and ``tables.xlsx`` (警告与跳过).
        Without one, they are also shown as Python warnings, once each.

    Returns
    -------
    Path
        The output folder.
    """
    from fiveplans.outputs import write_outputs

    started = RunInfo()
    with _sink(diagnostics) as diag:
        if not isinstance(pilot, Pilot):
            with diag.capture("config"):
                config = read_config(pilot)
                outdir = Path(out) if out is not None else Path("out") / config.id
                _check_outdir(outdir, overwrite=overwrite)
                check_schemes(config)  # bad schemes and options fail before loading
                analysis_options(config)
            pilot = load_pilot(config, verbose=verbose, diagnostics=diag)
        else:
            outdir = Path(out) if out is not None else Path("out") / pilot.id
            _check_outdir(outdir, overwrite=overwrite)
            if pilot.diagnostics is not diag:  # loaded earlier: its warnings belong to the run
                diag.extend(pilot.diagnostics)
                if diagnostics is None:  # shown when the pilot was loaded
                    diag.mark_shown()
        if ledger is None and pilot.config.ledger is None and (outdir / "tables.xlsx").exists():
            ledger = outdir / "tables.xlsx"
        analysis = analyse(pilot, ledger=ledger, verbose=verbose, diagnostics=diag)
        outdir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".fiveplans-run-", dir=outdir))
        try:
            write_outputs(pilot, analysis, tmp, diagnostics=diag, run=started)
            # summary.json last: a run killed while moving leaves no summary that a reader or
            # `batch --resume` would trust over files still from the previous run
            for item in sorted(tmp.iterdir(), key=lambda p: (p.name == "summary.json", p.name)):
                os.replace(item, outdir / item.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return outdir


def _check_outdir(outdir: Path, *, overwrite: bool) -> None:
    if outdir.exists() and not outdir.is_dir():
        raise ConfigError(f"--out {outdir}: exists and is not a folder. Fix: choose a folder path.")
    existing = [n for n in OUTPUT_NAMES if (outdir / n).exists()]
    if existing and not overwrite:
        raise ConfigError(
            f"--out {outdir}: already holds outputs ({', '.join(existing)}). "
            "Fix: pass --overwrite to replace them, or choose another --out."
        )
