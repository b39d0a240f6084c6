"""The analysis context (分析上下文): one CRS guard and the working layers of a pilot.

Every public model of :mod:`fiveplans.analysis` works on layers in one projected CRS in
metres. :func:`check_crs` is the one guard they call: it raises :class:`~fiveplans.errors.
CRSError` naming the layer and the fix, and never reprojects (a model that reprojected silently
would compute on data the planner did not check).

:class:`WorkingLayers` is what the models share for one pilot: the layers (checked once), the
survey field names (:class:`~fiveplans.schema.SurveyFields`) and the derived geometries —
the planning boundary (and its buffer), construction land, permanent basic farmland,
ecological land and the infrastructure corridor strips — each computed once, on first use.
The public functions accept either a ``WorkingLayers`` or a plain mapping of layer key to
GeoDataFrame (they build the context for the user)::

    ctx = WorkingLayers(pilot.layers)
    conflicts = find_conflicts(ctx, sliver_m2=400)
    zones = assign_zones(ctx, conflicts)
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from fiveplans.analysis import overlay
from fiveplans.crs import is_projected_metres
from fiveplans.errors import ConfigError, CRSError, DataError, FiveplansWarning
from fiveplans.schema import (
    CONSTRUCTION_PLANS,
    CORRIDOR_WIDTH_COLUMN,
    LEGEND_COLUMNS,
    PLAN_KEYS,
    PROTECTION_PLANS,
    CorridorStrips,
    SurveyFields,
    corridor_strips,
)

__all__ = [
    "LayersLike",
    "WorkingLayers",
    "check_crs",
    "check_range",
    "unresolved_conflicts",
    "working_layers",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_FIX_LOAD = (
    "or load the layers with fiveplans.load_pilot, which puts every layer in the pilot's "
    "working CRS (`crs:` in the pilot YAML)"
)


def _label(crs: pyproj.CRS) -> str:
    return crs.to_string()


def check_crs(
    layers: Mapping[str, gpd.GeoDataFrame | None] | gpd.GeoDataFrame,
    *,
    keys: Iterable[str] | None = None,
    what: str = "分析 the analysis",
    crs: Any = None,
) -> pyproj.CRS:
    """The one projected metre CRS of the given layers, or a :class:`CRSError` naming the layer.

    Parameters
    ----------
    layers
        Layer key → GeoDataFrame (``None`` values are skipped), or one GeoDataFrame.
    keys
        The keys to check (default: every layer given); a key not in ``layers`` is skipped.
    what
        What needs the CRS, for the message (e.g. ``"冲突检测 conflict detection"``).
    crs
        The CRS the layers must be in (e.g. ``pilot.crs``); default: the first layer's.

    Returns
    -------
    pyproj.CRS
        The CRS every checked layer is in.

    Raises
    ------
    CRSError
        A layer without a CRS, in a geographic CRS or a CRS not in metres, or layers in
        different CRSs; no layer to check.
    """
    if isinstance(layers, gpd.GeoDataFrame):
        items: list[tuple[str, gpd.GeoDataFrame]] = [("layer", layers)]
    else:
        wanted = list(layers) if keys is None else [k for k in keys if k in layers]
        items = [(k, layers[k]) for k in wanted if layers[k] is not None]
    want = None if crs is None else pyproj.CRS.from_user_input(crs)
    if want is not None:
        _check_one("the expected CRS", want, what)
    found: pyproj.CRS | None = want
    first = "" if want is None else "expected"
    for key, gdf in items:
        if not isinstance(gdf, gpd.GeoDataFrame):
            raise DataError(
                f"图层 {key!r} 不是 GeoDataFrame — layer {key!r} is a {type(gdf).__name__}, "
                "not a GeoDataFrame. 解决 Fix: pass GeoDataFrames "
                "(fiveplans.load_pilot(...).layers)"
            )
        if gdf.crs is None:
            raise CRSError(
                f"图层 {key!r} 没有坐标系 — layer {key!r} has no CRS: {what} needs every layer "
                "in one projected CRS in metres. 解决 Fix: gdf.set_crs(<the CRS its "
                f"coordinates are in>).to_crs(pilot.crs), {_FIX_LOAD}"
            )
        this = pyproj.CRS.from_user_input(gdf.crs)
        _check_one(f"layer {key!r}", this, what, key=key)
        if found is None:
            found, first = this, key
        elif not found.equals(this):
            if first == "expected":
                raise CRSError(
                    f"图层 {key!r} 坐标系不符 — layer {key!r} is in {_label(this)}, not the "
                    f"working CRS {_label(found)}; fiveplans never reprojects silently. "
                    f"解决 Fix: gdf.to_crs({_label(found)!r}) (the pilot's crs), {_FIX_LOAD}"
                )
            raise CRSError(
                f"图层坐标系不一致 — layers {first!r} ({_label(found)}) and {key!r} "
                f"({_label(this)}) are in different CRSs; fiveplans never reprojects silently. "
                f"解决 Fix: reproject {key!r} with gdf.to_crs({_label(found)!r}) (the pilot's "
                f"crs), {_FIX_LOAD}"
            )
    if found is None:
        raise CRSError(
            f"没有可分析的图层 — no layers to check for {what}. 解决 Fix: give at least the "
            "boundary and the plans (fiveplans.load_pilot(...).layers)"
        )
    return found


def _check_one(name: str, crs: pyproj.CRS, what: str, *, key: str | None = None) -> None:
    if is_projected_metres(crs):
        return
    who = f"图层 {key!r}" if key is not None else "坐标系"
    if crs.is_geographic or not crs.is_projected:
        raise CRSError(
            f"{who} 是地理坐标系（经纬度）— {name} is in a geographic CRS ({_label(crs)}): "
            f"{what} cannot compute areas or distances in degrees. 解决 Fix: gdf.to_crs(pilot.crs)"
            " — a projected CRS in metres, e.g. 'EPSG:4547' (CGCS2000 3-degree zone 38) — "
            f"{_FIX_LOAD}"
        )
    units = ", ".join(sorted({a.unit_name for a in crs.axis_info[:2]})) or "?"
    raise CRSError(
        f"{who} 的单位不是米 — {name} is in {_label(crs)} with units {units!r}: areas are in "
        f"m² and distances in m. 解决 Fix: gdf.to_crs(<a metre CRS>), e.g. 'EPSG:4547', "
        f"{_FIX_LOAD}"
    )


# --------------------------------------------------------------------------- the context


class WorkingLayers(Mapping[str, gpd.GeoDataFrame]):
    """The layers of one pilot, checked once, with their derived geometries cached.

    A read-only mapping of layer key → GeoDataFrame (``None`` values dropped), so it can be
    passed wherever layers are expected.

    Parameters
    ----------
    layers
        Layer key → GeoDataFrame with the legend columns (``fiveplans.load_pilot(...).layers``).
    fields
        Names of the current survey's fields (:class:`~fiveplans.schema.SurveyFields`).
    grid_size
        Precision grid (m) of the overlays.
    crs
        The working CRS the layers must be in (default: the layers' own, which must agree).

    Raises
    ------
    CRSError
        Layers without a CRS, in a geographic or non-metre CRS, or in different CRSs.
    DataError
        A value that is not a GeoDataFrame.

    Attributes
    ----------
    crs
        The checked working CRS.
    computed
        How many times each derived geometry was computed (each once per context).
    """

    def __init__(
        self,
        layers: Mapping[str, gpd.GeoDataFrame | None],
        *,
        fields: SurveyFields | None = None,
        grid_size: float = 1e-4,
        crs: Any = None,
    ) -> None:
        if isinstance(layers, WorkingLayers):
            layers = layers._layers
        self._layers: dict[str, gpd.GeoDataFrame] = {
            k: v for k, v in layers.items() if v is not None
        }
        self.fields = fields if fields is not None else SurveyFields()
        if not isinstance(self.fields, SurveyFields):
            raise DataError(
                f"fields 须为 SurveyFields — fields must be a SurveyFields, not "
                f"{type(self.fields).__name__}. 解决 Fix: fields=SurveyFields(grade='…')"
            )
        self.grid_size = float(grid_size)
        self.crs: pyproj.CRS = check_crs(self._layers, what="分析 the analysis", crs=crs)
        self._cache: dict[Any, Any] = {}
        self.computed: Counter[str] = Counter()

    # mapping protocol ------------------------------------------------------------------
    def __getitem__(self, key: str) -> gpd.GeoDataFrame:
        return self._layers[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def __repr__(self) -> str:
        return f"WorkingLayers({', '.join(self._layers)}; crs={self.crs.to_string()})"

    @property
    def plans(self) -> list[str]:
        """The plans present, in :data:`~fiveplans.schema.PLAN_KEYS` order."""
        return [k for k in PLAN_KEYS if k in self._layers]

    def with_fields(self, fields: SurveyFields | None) -> WorkingLayers:
        """This context (sharing its cache) when ``fields`` is ``None`` or equal, else a new one."""
        if fields is None or fields == self.fields:
            return self
        return WorkingLayers(self._layers, fields=fields, grid_size=self.grid_size, crs=self.crs)

    # cache -----------------------------------------------------------------------------
    def derive(self, name: str, compute: Callable[[], T], *, key: Any = None) -> T:
        """``compute()`` once per context (and ``key``); later calls return the same object.

        Models use it to share their own derived data (e.g. cleaned features) across calls.
        """
        slot = (name, key)
        if slot not in self._cache:
            self.computed[name] += 1
            logger.debug("computing %s%s", name, "" if key is None else f" ({key})")
            self._cache[slot] = compute()
        return self._cache[slot]

    # checks ----------------------------------------------------------------------------
    def require_legend(self, keys: Iterable[str]) -> None:
        """A :class:`DataError` when a layer among ``keys`` lacks a legend column."""
        for key in keys:
            gdf = self._layers.get(key)
            if gdf is None:
                continue
            missing = [c for c in LEGEND_COLUMNS if c not in gdf.columns]
            if missing:
                raise DataError(
                    f"图层 {key!r} 缺少图例字段 — layer {key!r} lacks the legend column(s) "
                    f"{', '.join(missing)} (needed: {', '.join(LEGEND_COLUMNS)}; it has: "
                    f"{', '.join(map(str, gdf.columns))}). 解决 Fix: load it with "
                    "fiveplans.load_pilot, or add them with fiveplans.layers.legend.apply_legend"
                )

    # derived geometries ----------------------------------------------------------------
    def boundary_polygons(self) -> np.ndarray:
        """The boundary layer's polygons, cleaned (:func:`overlay.clean_polygons`)."""

        def compute() -> np.ndarray:
            b = self._layers.get("boundary")
            if b is None or len(b) == 0:
                raise DataError(
                    "没有规划范围 — no 'boundary' layer (规划范围): the analysis is done "
                    "inside the planning boundary. 解决 Fix: set `boundary:` in the pilot "
                    f"YAML or add layers['boundary'] (have: {', '.join(self._layers) or '—'})"
                )
            geoms = overlay.clean_polygons(b.geometry.to_numpy(), grid_size=self.grid_size)
            return geoms[np.not_equal(geoms, None)]

        return self.derive("boundary_polygons", compute)

    def boundary(self, buffer_m: float = 0.0) -> BaseGeometry:
        """The planning boundary (规划范围) as one polygon, buffered by ``buffer_m`` metres."""

        def compute() -> BaseGeometry:
            if buffer_m:
                b = shapely.buffer(self.boundary(), buffer_m)
                return overlay.clean_polygons([b], grid_size=self.grid_size)[0]
            b = overlay.union_all(self.boundary_polygons(), grid_size=self.grid_size)
            if b.is_empty or b.area <= 0:
                raise DataError(
                    "规划范围没有面 — the 'boundary' layer has no polygon with area. 解决 Fix: "
                    "give the planning boundary (规划范围) as polygons"
                )
            return b

        return self.derive("boundary", compute, key=float(buffer_m) or None)

    def legend_union(self, legend: str, keys: Iterable[str]) -> BaseGeometry:
        """The union of the features whose ``legend`` is ``legend`` in the layers ``keys``."""
        keys = tuple(keys)

        def layer_union(k: str) -> BaseGeometry:
            gdf = self._layers.get(k)
            if gdf is None or len(gdf) == 0 or "legend" not in gdf.columns:
                return shapely.Polygon()
            geoms = gdf.geometry[(gdf["legend"] == legend).to_numpy()].to_numpy()
            return overlay.union_polygons(geoms, grid_size=self.grid_size)

        def compute() -> BaseGeometry:
            # per layer, then across layers: each layer's union is shared by every key set
            parts = [
                self.derive(f"legend_union:{legend}", lambda k=k: layer_union(k), key=(k,))
                for k in keys
            ]
            return overlay.union_polygons(parts, grid_size=self.grid_size)

        if len(keys) == 1:
            return self.derive(f"legend_union:{legend}", lambda: layer_union(keys[0]), key=keys)
        return self.derive(f"legend_union:{legend}", compute, key=keys)

    def construction(self) -> BaseGeometry:
        """Construction land of every construction plan (:data:`~fiveplans.schema.
        CONSTRUCTION_PLANS`), as one geometry (not clipped)."""
        return self.legend_union("construction", CONSTRUCTION_PLANS)

    def basic_farmland(self) -> BaseGeometry:
        """Permanent basic farmland (永久基本农田) of every plan, as one geometry."""
        return self.legend_union("basic_farmland", PROTECTION_PLANS)

    def ecological(self) -> BaseGeometry:
        """Ecological land (生态用地, 生态保护红线) of every plan, as one geometry."""
        return self.legend_union("ecological", PROTECTION_PLANS)

    def corridor_strips(self) -> CorridorStrips:
        """The infrastructure lines' protection strips (the schema's corridor rule), with the
        rows they come from; empty when there is no infrastructure plan."""

        def compute() -> CorridorStrips:
            inf = self._layers.get("infrastructure")
            if inf is None or len(inf) == 0:
                e = np.empty(0, dtype=object)
                i = np.empty(0, dtype=np.intp)
                return CorridorStrips(e, i, np.empty(0), i.copy())
            rule = corridor_strips(inf, _corridor_width_table())
            if len(rule.missing):
                codes = inf["source_code"].iloc[rule.missing] if "source_code" in inf else []
                bad = sorted({str(c) for c in codes})
                warnings.warn(
                    f"基础设施廊道缺少宽度 — infrastructure: {len(rule.missing)} line(s) with "
                    f"code(s) {', '.join(bad) or '—'} have no corridor width: their corridors "
                    "are not checked for conflicts nor kept free of farmland compensation. "
                    f"解决 Fix: add a {CORRIDOR_WIDTH_COLUMN} column (total width, m) to those "
                    "lines, or the code's corridor_width_m to the infrastructure code table "
                    "(`codes:` in the pilot)",
                    FiveplansWarning,
                    stacklevel=2,
                )
            return rule

        return self.derive("corridor_strips", compute)

    def corridors(self) -> BaseGeometry:
        """The union of the corridor strips (走廊控制范围)."""
        return self.derive(
            "corridors",
            lambda: overlay.union_polygons(self.corridor_strips().strips, grid_size=self.grid_size),
        )


def _corridor_width_table() -> dict[str, float]:
    from fiveplans.layers.legend import code_table

    # the code table's column has the same name as the per-line override
    table = code_table("infrastructure").set_index("code")[CORRIDOR_WIDTH_COLUMN]
    return {str(k): float(v) for k, v in table.items()}


LayersLike = Mapping[str, gpd.GeoDataFrame | None]
"""What the public models accept: a :class:`WorkingLayers` or a plain mapping of GeoDataFrames."""


def working_layers(
    layers: LayersLike, *, fields: SurveyFields | None = None, grid_size: float | None = None
) -> WorkingLayers:
    """``layers`` as a :class:`WorkingLayers` (itself when it already is one).

    Parameters
    ----------
    layers
        A context, or layer key → GeoDataFrame.
    fields
        Survey field names; a context with other fields gets a fresh context.
    grid_size
        Precision grid; a context with another grid gets a fresh context.
    """
    if isinstance(layers, WorkingLayers):
        if grid_size is not None and float(grid_size) != layers.grid_size:
            return WorkingLayers(layers, fields=fields or layers.fields, grid_size=grid_size)
        return layers.with_fields(fields)
    if not isinstance(layers, Mapping):
        raise DataError(
            f"图层须为映射 — layers must be a mapping of layer key to GeoDataFrame, not "
            f"{type(layers).__name__}. 解决 Fix: pass fiveplans.load_pilot(...).layers"
        )
    return WorkingLayers(layers, fields=fields, grid_size=1e-4 if grid_size is None else grid_size)


# --------------------------------------------------------------------------- shared checks


def check_range(name: str, value: Any, lo: float, hi: float, unit: str) -> float:
    """``value`` as a float in ``[lo, hi]``, else :class:`ConfigError` naming ``name``."""
    fix = f"解决 Fix: pass a number in [{lo:g}, {hi:g}] {unit}"
    if isinstance(value, bool):
        raise ConfigError(f"{name} = {value!r} 不是数值 — is not a number. {fix}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} = {value!r} 不是数值 — is not a number. {fix}") from None
    if not math.isfinite(x) or not lo <= x <= hi:
        raise ConfigError(f"{name} = {value!r} 超出范围 — is out of range. {fix}")
    return x


def _warn_unknown(unknown: list[str]) -> None:
    if unknown:
        warnings.warn(
            f"已解决的冲突编号不在冲突表中（已忽略）— resolved conflict ids not in the conflicts "
            f"table (ignored): {', '.join(unknown[:10])}{' …' if len(unknown) > 10 else ''}. "
            "解决 Fix: check them against the current conflicts (ids are stable only on the "
            "same inputs)",
            FiveplansWarning,
            stacklevel=4,
        )


def unresolved_conflicts(
    conflicts: gpd.GeoDataFrame | None,
    resolved: Collection[str] = (),
    *,
    crs: Any = None,
) -> gpd.GeoDataFrame:
    """The conflict rows whose ``conflict_id`` is not in ``resolved`` (a copy).

    Parameters
    ----------
    conflicts
        The table of :func:`fiveplans.analysis.find_conflicts` (``None``: no conflicts).
    resolved
        Conflict ids already resolved.
    crs
        The working CRS the table must be in (checked, never reprojected).

    Raises
    ------
    DataError
        The table lacks ``conflict_id`` or a geometry.
    CRSError
        The table is not in ``crs``.
    """
    if conflicts is None or len(conflicts) == 0:
        _warn_unknown(sorted(set(map(str, resolved))))
        return gpd.GeoDataFrame(
            {"conflict_id": pd.Series(dtype=str), "type": pd.Series(dtype=str)},
            geometry=gpd.GeoSeries([], crs=crs),
            crs=crs,
        )
    if "conflict_id" not in conflicts.columns or not isinstance(conflicts, gpd.GeoDataFrame):
        raise DataError(
            "冲突表缺少 conflict_id 或几何 — the conflicts table has no 'conflict_id' column or no "
            "geometry. 解决 Fix: pass the table returned by fiveplans.analysis.find_conflicts"
        )
    if crs is not None:
        check_crs({"conflicts": conflicts}, what="冲突表 the conflicts table", crs=crs)
    ids = set(map(str, resolved))
    known = set(conflicts["conflict_id"].astype(str))
    _warn_unknown(sorted(ids - known))
    keep = ~conflicts["conflict_id"].astype(str).isin(ids)
    return conflicts.loc[keep].copy()
