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

from fiveplans.config import PLAN_LABELS, PilotConfig, read_config
from fiveplans.errors import ConfigError, FiveplansWarning

__all__ = ["NOT_YET_AVAILABLE", "Pilot", "load_pilot", "run"]

log = logging.getLogger(__name__)

#: Outputs of CONTRACT §5 that this version cannot produce yet, with the reason shown to users.
NOT_YET_AVAILABLE: dict[str, str] = {
    "conflicts": "conflict detection (冲突检测) is not in this version yet",
    "zones": "built/development/control zoning (三区划定) is not in this version yet",
    "adjustments": "farmland adjustments (占补平衡) are not in this version yet",
    "logistics": "the logistics network model (物流半径) is not in this version yet",
    "maps": "the interactive map and the report (map.html, report.html/pdf) are not in this version yet",
}


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


def config_scheme(pilot: Pilot, key: str) -> str | None:
    """The code scheme of a layer, or ``None`` for layers that are not land-use layers."""
    src = pilot.config.sources.get(key)
    return src.scheme if src is not None else None


def _json_number(value: float) -> float:
    return float(round(value, 3)) if math.isfinite(value) else 0.0


def summary(pilot: Pilot) -> dict[str, Any]:
    """The ``summary.json`` content for what this version computes (CONTRACT §5)."""
    boundary_area = float(pilot.layers["boundary"].geometry.area.sum())
    pending = {
        k: None for k in ("conflicts", "slivers_dropped", "zones", "farmland_balance", "catchments")
    }
    return {
        "pilot": pilot.id,
        "name": pilot.name,
        "crs": pilot.crs.to_string(),
        "boundary_area_m2": _json_number(boundary_area),
        **pending,
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
        "warnings": list(pilot.warnings),
    }


def _write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    for i, (key, frame) in enumerate(layers.items()):
        out = frame.copy()
        for col in out.columns:
            if col != out.geometry.name and out[col].dtype == object:
                out[col] = out[col].map(
                    lambda v: v if v is None or isinstance(v, str | int | float | bool) else str(v)
                )
        pyogrio.write_dataframe(
            out, path, layer=key, driver="GPKG", append=i > 0, promote_to_multi=False
        )


def _write_tables(pilot: Pilot, path: Path) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
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

    Returns
    -------
    Path
        The output folder.
    """
    if not isinstance(pilot, Pilot):
        config = read_config(pilot)
        outdir = Path(out) if out is not None else Path("out") / config.id
        _check_outdir(outdir, overwrite=overwrite)
        pilot = load_pilot(config, verbose=verbose)
    else:
        outdir = Path(out) if out is not None else Path("out") / pilot.id
        _check_outdir(outdir, overwrite=overwrite)
    outdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fiveplans-run-", dir=outdir))
    try:
        _write_gpkg(pilot.layers, tmp / "integrated.gpkg")
        _write_tables(pilot, tmp / "tables.xlsx")
        text = json.dumps(summary(pilot), ensure_ascii=False, indent=2)
        (tmp / "summary.json").write_text(text + "\n", encoding="utf-8")
        for item in sorted(tmp.iterdir()):
            os.replace(item, outdir / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name, reason in NOT_YET_AVAILABLE.items():
        log.info("%s: %s", name, reason)
    return outdir


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
