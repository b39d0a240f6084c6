"""The package's top-level face: :func:`load_pilot` and :func:`run` (what ``fiveplans run`` does).

This is the one core module allowed to reach across ``layers``, ``analysis`` and ``maps``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj

from fiveplans.config import PLAN_LABELS, PilotConfig, closest_hint, read_config, yaml_key
from fiveplans.errors import ConfigError, FiveplansWarning

__all__ = ["NOT_YET_AVAILABLE", "Analysis", "Pilot", "analyse", "load_pilot", "run", "summary"]

log = logging.getLogger(__name__)

#: Outputs of CONTRACT §5 that this version cannot produce yet, with the reason shown to users.
NOT_YET_AVAILABLE: dict[str, str] = {
    "maps": "the interactive map and the report (map.html, report.html/pdf) are not in this version yet",
}
LEDGER_SHEET = "冲突台账"


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
    """

    config: PilotConfig
    layers: dict[str, gpd.GeoDataFrame]
    reports: dict[str, Any]
    crs: pyproj.CRS
    warnings: list[str] = field(default_factory=list)

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


def load_pilot(path: str | os.PathLike[str] | PilotConfig, *, verbose: bool = False) -> Pilot:
    """Read a pilot YAML and load its layers into one CRS and legend (一张图).

    Parameters
    ----------
    path
        The pilot YAML file (or an already validated :class:`PilotConfig`).
    verbose
        Show a progress bar while loading.

    Returns
    -------
    Pilot
    """
    from fiveplans.layers.loaders import load_layers

    config = path if isinstance(path, PilotConfig) else read_config(path)
    check_schemes(config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FiveplansWarning)
        layers, reports, crs = load_layers(config, verbose=verbose)
    seen: dict[str, type[Warning]] = {}
    for w in caught:
        if issubclass(w.category, FiveplansWarning):
            seen.setdefault(str(w.message), w.category)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for text, category in seen.items():
        warnings.warn(text, category, stacklevel=2)
    all_warnings = list(dict.fromkeys([*seen, *(w for r in reports.values() for w in r.warnings)]))
    return Pilot(config=config, layers=layers, reports=reports, crs=crs, warnings=all_warnings)


@dataclass
class Logistics:
    """The network model's results (最佳物流半径)."""

    graph: Any  # networkx.MultiDiGraph
    service_areas: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    supplier_assignment: gpd.GeoDataFrame | None
    links: pd.DataFrame
    coverage: pd.DataFrame | None
    service_class: pd.DataFrame | None


def logistics(
    pilot: Pilot, *, verbose: bool = False, service: dict[str, Any] | None = None
) -> Logistics | None:
    """Travel times on the road network from each cluster core (CONTRACT §2 travel model):
    service areas, competitive catchments, supplier assignment, cluster links, coverage and the
    service-configuration class by travel time to the nearest centre.

    Returns ``None`` when the pilot has no ``roads`` or no ``clusters``.
    """
    from fiveplans.analysis.logistics import (
        assign_suppliers,
        catchments,
        cluster_links,
        coverage,
        service_areas,
        service_class,
    )
    from fiveplans.analysis.network import build_network

    layers = pilot.layers
    if "roads" not in layers or "clusters" not in layers:
        return None
    cfg = pilot.config.logistics
    industry = pilot.config.sources["clusters"].industry or "industry"
    radius = cfg.radius_min
    graph = build_network(layers["roads"], speeds_kmh=cfg.speeds_kmh, verbose=verbose)
    clusters = layers["clusters"]
    common = {"radius_min": radius, "industry_field": industry}
    areas = service_areas(graph, clusters, breaks=cfg.breaks_min, **common)
    owned = catchments(graph, clusters, **common)
    links, _ = cluster_links(graph, clusters, **common)
    assigned = cover = None
    if "suppliers" in layers:
        assigned = assign_suppliers(graph, clusters, layers["suppliers"], **common)
        cover = coverage(assigned, layers.get("districts"))
    classes = None
    if "centres" in layers:
        classes = service_class(graph, clusters, layers["centres"], **(service or {}))
    return Logistics(graph, areas, owned, assigned, links, cover, classes)


@dataclass
class Analysis:
    """Everything :func:`analyse` computes for a pilot (the contents of ``results.gpkg`` and
    ``tables.xlsx``)."""

    conflicts: gpd.GeoDataFrame
    ledger: pd.DataFrame
    ledger_report: dict[str, Any] | None
    zones: gpd.GeoDataFrame
    adjustments: Any  # fiveplans.analysis.adjustments.AdjustmentResult
    quadrants: dict[str, pd.DataFrame]
    containment: gpd.GeoDataFrame
    efficiency: gpd.GeoDataFrame | None
    villages: pd.DataFrame | None
    logistics: Logistics | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def resolved(self) -> list[str]:
        """Conflict ids with a decision (调整类型) in the ledger."""
        from fiveplans.analysis.ledger import ADJUSTMENT, ID

        decided = self.ledger[ADJUSTMENT].notna()
        return self.ledger.loc[decided, ID].astype(str).tolist()


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
        from fiveplans.errors import DataError

        raise DataError(
            f"ledger {path}: cannot be read as an .xlsx workbook ({exc}). Fix: give the "
            "tables.xlsx of an earlier run or a ledger written by fiveplans."
        ) from None
    return read_ledger(path, sheet=LEDGER_SHEET if LEDGER_SHEET in names else None)


def analyse(
    pilot: Pilot, *, ledger: str | os.PathLike[str] | None = None, verbose: bool = False
) -> Analysis:
    """Overlay the five plans: conflicts, the ledger, zones, farmland adjustments and the views
    planners decide from (four quadrants, containment tags, low-efficiency industry, villages).

    Parameters
    ----------
    pilot
        A loaded pilot.
    ledger
        A filled-in ledger (``tables.xlsx`` of an earlier run, or the pilot's ``ledger:``) whose
        decisions are kept on matching conflict ids; conflicts with a decision count as resolved
        when the zones are drawn.
    verbose
        Progress output.
    """
    from fiveplans.analysis.adjustments import propose_adjustments
    from fiveplans.analysis.conflicts import containment_tags, find_conflicts, four_quadrants
    from fiveplans.analysis.efficiency import industrial_efficiency
    from fiveplans.analysis.ledger import conflict_ledger, merge_decisions
    from fiveplans.analysis.villages import villages_in_zone
    from fiveplans.analysis.zones import assign_zones

    layers = pilot.layers
    thresholds = pilot.config.thresholds
    options = analysis_options(pilot.config)
    notes: list[str] = []
    conflicts = find_conflicts(
        layers, sliver_m2=thresholds.sliver_m2, buffer_m=thresholds.buffer_m, verbose=verbose
    )
    new_ledger = conflict_ledger(conflicts)
    ledger_report = None
    source = ledger if ledger is not None else pilot.config.ledger
    if source is not None:
        merged, ledger_report = merge_decisions(new_ledger, _previous_ledger(Path(source)))
        new_ledger = merged
        gone = ledger_report["gone_with_decisions"]
        if gone:
            notes.append(
                f"ledger {source}: {len(gone)} decided conflict(s) no longer exist "
                f"({', '.join(map(str, gone[:10]))}{' …' if len(gone) > 10 else ''}); "
                "their decisions were not carried over"
            )
        log.info("ledger %s: decisions kept on %s conflicts", source, ledger_report["kept"])
    result = Analysis(
        conflicts=conflicts,
        ledger=new_ledger,
        ledger_report=ledger_report,
        zones=gpd.GeoDataFrame(),
        adjustments=None,
        quadrants={},
        containment=containment_tags(layers, buffer_m=thresholds.buffer_m),
        efficiency=None,
        villages=None,
        warnings=notes,
    )
    resolved = result.resolved
    districts = layers.get("districts")
    for plan in ("cluster", "urban"):
        if plan in layers:
            result.quadrants[plan] = four_quadrants(
                layers, plan=plan, districts=districts, buffer_m=thresholds.buffer_m
            )
    if "current" not in layers:
        notes.append(
            "zones, farmland adjustments, low-efficiency industry and villages need the current "
            "land-use layer (现状, `current:` in the pilot): not computed"
        )
        result.logistics = logistics(pilot, verbose=verbose, service=options["service_class"])
        return result
    result.zones = assign_zones(layers, conflicts, options=options["zones"], resolved=resolved)
    result.adjustments = propose_adjustments(
        layers, conflicts, zones=result.zones, options=options["adjustments"], resolved=resolved
    )
    if not result.adjustments.feasible:
        notes.append(f"farmland balance 占补平衡: {result.adjustments.message}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result.efficiency = industrial_efficiency(
            layers["current"], zones=result.zones, **options["efficiency"]
        )
    for w in caught:
        notes.append(str(w.message))
    skipped = result.efficiency.attrs.get("skipped", {})
    notes.extend(f"low-efficiency check {k} skipped: {v}" for k, v in skipped.items())
    result.villages = villages_in_zone(layers, result.zones, districts=districts)
    result.logistics = logistics(pilot, verbose=verbose, service=options["service_class"])
    if result.logistics is None:
        notes.append("no `roads:` or `clusters:` in the pilot: the logistics model was not run")
    return result


def config_scheme(pilot: Pilot, key: str) -> str | None:
    """The code scheme of a layer, or ``None`` for layers that are not land-use layers."""
    src = pilot.config.sources.get(key)
    return src.scheme if src is not None else None


def _json_number(value: float) -> float:
    return float(round(value, 3)) if math.isfinite(value) else 0.0


def _analysis_summary(analysis: Analysis | None) -> dict[str, Any]:
    if analysis is None:
        return {k: None for k in ("conflicts", "slivers_dropped", "zones", "farmland_balance")}
    from fiveplans.analysis.conflicts import summarize_conflicts

    block = summarize_conflicts(analysis.conflicts)
    out: dict[str, Any] = {
        "conflicts": {
            t: {"area_m2": _json_number(v["area_m2"]), "count": int(v["count"])}
            for t, v in block["conflicts"].items()
        },
        "slivers_dropped": {
            "count": int(block["slivers_dropped"]["count"]),
            "area_m2": _json_number(block["slivers_dropped"]["area_m2"]),
        },
        "zones": None,
        "farmland_balance": None,
    }
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
        }
    if analysis.ledger_report is not None:
        out["ledger"] = {
            "kept": analysis.ledger_report["kept"],
            "new": len(analysis.ledger_report["new"]),
            "gone": analysis.ledger_report["gone"],
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


def summary(pilot: Pilot, analysis: Analysis | None = None) -> dict[str, Any]:
    """The ``summary.json`` content (CONTRACT §5) for what this version computes."""
    boundary_area = float(pilot.layers["boundary"].geometry.area.sum())
    return {
        "pilot": pilot.id,
        "name": pilot.name,
        "crs": pilot.crs.to_string(),
        "boundary_area_m2": _json_number(boundary_area),
        **_analysis_summary(analysis),
        "catchments": _catchment_summary(analysis),
        "layers": {
            key: {
                "features": len(frame),
                "label": PLAN_LABELS.get(key, key),
                **(
                    {
                        "area_m2_by_legend": {
                            str(k): _json_number(v)
                            for k, v in frame.loc[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
                            .assign(_a=lambda d: d.geometry.area)
                            .groupby("legend")["_a"]
                            .sum()
                            .items()
                        }
                    }
                    if config_scheme(pilot, key)
                    else {}
                ),
            }
            for key, frame in pilot.layers.items()
        },
        "not_yet_available": dict(NOT_YET_AVAILABLE),
        "warnings": list(pilot.warnings) + (analysis.warnings if analysis is not None else []),
    }


def _write_gpkg(
    layers: dict[str, gpd.GeoDataFrame], path: Path, *, promote_to_multi: bool = False
) -> None:
    for i, (key, frame) in enumerate(layers.items()):
        out = frame.copy()
        for col in out.columns:
            if col != out.geometry.name and out[col].dtype == object:
                out[col] = out[col].map(
                    lambda v: v if v is None or isinstance(v, str | int | float | bool) else str(v)
                )
        polygonal = out.geom_type.isin(["Polygon", "MultiPolygon"]).all()
        pyogrio.write_dataframe(
            out,
            path,
            layer=key,
            driver="GPKG",
            append=i > 0,
            promote_to_multi=promote_to_multi and bool(polygonal),
        )


def _table(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame fit for a sheet: no geometry column."""
    return pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))


def _write_tables(pilot: Pilot, analysis: Analysis | None, path: Path) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        if analysis is not None:
            from fiveplans.analysis.ledger import style_ledger_sheet

            analysis.ledger.to_excel(xl, sheet_name=LEDGER_SHEET, index=False)
            style_ledger_sheet(xl.book[LEDGER_SHEET], len(analysis.ledger))
            for plan, table in analysis.quadrants.items():
                table.to_excel(xl, sheet_name=f"四象限 quadrants {plan}", index=False)
            _table(analysis.containment).to_excel(
                xl, sheet_name="图斑包含 containment", index=False
            )
            if len(analysis.zones):
                _table(analysis.zones).to_excel(xl, sheet_name="三区 zones", index=False)
            if analysis.adjustments is not None:
                analysis.adjustments.balance.to_excel(
                    xl, sheet_name="占补平衡 balance", index=False
                )
                _table(analysis.adjustments.adjustments).to_excel(
                    xl, sheet_name="调整方案 adjustments", index=False
                )
            if analysis.efficiency is not None:
                _table(analysis.efficiency).to_excel(
                    xl, sheet_name="低效工业用地 efficiency", index=False
                )
            if analysis.villages is not None:
                analysis.villages.to_excel(xl, sheet_name="村庄 villages", index=False)
            if analysis.logistics is not None:
                lg = analysis.logistics
                if lg.supplier_assignment is not None:
                    _table(lg.supplier_assignment).to_excel(
                        xl, sheet_name="配套企业 suppliers", index=False
                    )
                if lg.coverage is not None:
                    lg.coverage.to_excel(xl, sheet_name="覆盖 coverage", index=False)
                lg.links.to_excel(xl, sheet_name="集聚区协同 cluster links", index=False)
                if lg.service_class is not None:
                    lg.service_class.to_excel(xl, sheet_name="配套分类 service class", index=False)
                _table(lg.service_areas).to_excel(
                    xl, sheet_name="服务区 service areas", index=False
                )
        pilot.load_report().to_excel(xl, sheet_name="加载报告 Load report", index=False)
        pilot.qa_table().to_excel(xl, sheet_name="数据质量 QA", index=False)
        unknown = [
            r.unknown_codes.assign(layer=k)
            for k, r in pilot.reports.items()
            if len(r.unknown_codes)
        ]
        (
            pd.concat(unknown, ignore_index=True)
            if unknown
            else pd.DataFrame(columns=["layer", "value", "count"])
        ).to_excel(xl, sheet_name="未知代码 Unknown codes", index=False)
        cps = [
            r.control_points.assign(layer=k)
            for k, r in pilot.reports.items()
            if r.control_points is not None
        ]
        if cps:
            pd.concat(cps, ignore_index=True).to_excel(
                xl, sheet_name="控制点 Control points", index=False
            )
        pd.DataFrame([{"output": k, "status": v} for k, v in NOT_YET_AVAILABLE.items()]).to_excel(
            xl, sheet_name="尚未提供 Not yet available", index=False
        )


def run(
    pilot: Pilot | str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    verbose: bool = False,
    ledger: str | os.PathLike[str] | None = None,
) -> Path:
    """Run the whole pipeline for one pilot and write its outputs (CONTRACT §5).

    Outputs are built in a temporary folder and moved into ``out`` only when all of them are
    complete, so a failed run never leaves half-written files.

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

    Returns
    -------
    Path
        The output folder.
    """
    if not isinstance(pilot, Pilot):
        config = read_config(pilot)
        outdir = Path(out) if out is not None else Path("out") / config.id
        _check_outdir(outdir, overwrite=overwrite)
        check_schemes(config)  # bad schemes and options fail before the layers are loaded
        analysis_options(config)
        pilot = load_pilot(config, verbose=verbose)
    else:
        outdir = Path(out) if out is not None else Path("out") / pilot.id
        _check_outdir(outdir, overwrite=overwrite)
    if ledger is None and pilot.config.ledger is None and (outdir / "tables.xlsx").exists():
        ledger = outdir / "tables.xlsx"
    analysis = analyse(pilot, ledger=ledger, verbose=verbose)
    outdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fiveplans-run-", dir=outdir))
    try:
        _write_gpkg(pilot.layers, tmp / "integrated.gpkg")
        _write_gpkg(_results_layers(analysis), tmp / "results.gpkg", promote_to_multi=True)
        _write_tables(pilot, analysis, tmp / "tables.xlsx")
        text = json.dumps(summary(pilot, analysis), ensure_ascii=False, indent=2)
        (tmp / "summary.json").write_text(text + "\n", encoding="utf-8")
        for item in sorted(tmp.iterdir()):
            os.replace(item, outdir / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name, reason in NOT_YET_AVAILABLE.items():
        log.info("%s: %s", name, reason)
    return outdir


def _results_layers(analysis: Analysis) -> dict[str, gpd.GeoDataFrame]:
    """The layers of ``results.gpkg`` that this version computes (CONTRACT §5)."""
    out: dict[str, gpd.GeoDataFrame] = {"conflicts": analysis.conflicts}
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
    return {k: v for k, v in out.items() if isinstance(v, gpd.GeoDataFrame)}


_OUTPUT_NAMES = (
    "integrated.gpkg",
    "results.gpkg",
    "map.html",
    "report.html",
    "report.pdf",
    "tables.xlsx",
    "summary.json",
)


def _check_outdir(outdir: Path, *, overwrite: bool) -> None:
    if outdir.exists() and not outdir.is_dir():
        raise ConfigError(f"--out {outdir}: exists and is not a folder. Fix: choose a folder path.")
    existing = [n for n in _OUTPUT_NAMES if (outdir / n).exists()]
    if existing and not overwrite:
        raise ConfigError(
            f"--out {outdir}: already holds outputs ({', '.join(existing)}). "
            "Fix: pass --overwrite to replace them, or choose another --out."
        )
