"""The pilot configuration (试点配置): parse and validate a pilot YAML file.

The format is fixed by CONTRACT §2. Every problem raises :class:`~fiveplans.errors.ConfigError`
with a message that names the YAML file, the key and the fix; nothing touches the data files
beyond checking that they exist.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

import yaml

from fiveplans.crs import CrsSpec, parse_crs
from fiveplans.errors import ConfigError
from fiveplans.schema import PLAN_KEYS, SOURCE_KEYS
from fiveplans.yamlslips import explain_yaml_error, find_duplicate_key, find_slip, line_of_key

__all__ = [
    "LAYER_NAMES_ZH",
    "PLAN_KEYS",
    "PLAN_LABELS",
    "SOURCE_KEYS",
    "LogisticsConfig",
    "PilotConfig",
    "SourceConfig",
    "Thresholds",
    "closest_hint",
    "read_config",
    "scheme_name",
    "yaml_key",
]

log = logging.getLogger(__name__)

#: Chinese names of the layers (the plans by their official names).
LAYER_NAMES_ZH: dict[str, str] = {
    "cluster": "产业集聚区总体规划",
    "land_use": "土地利用总体规划",
    "urban": "城市总体规划",
    "ecology": "生态环境规划",
    "infrastructure": "区域公共服务基础设施规划",
    "current": "土地利用现状",
    "roads": "道路网",
    "centres": "城镇中心",
    "suppliers": "配套企业",
    "clusters": "产业集群核心",
    "districts": "行政区",
    "grades": "耕地质量等别",
    "boundary": "规划范围",
}
#: Bilingual labels of the layers, Chinese first.
PLAN_LABELS: dict[str, str] = {
    "cluster": "产业集聚区总体规划 Zone master plan",
    "land_use": "土地利用总体规划 Land-use master plan",
    "urban": "城市总体规划 Urban master plan",
    "ecology": "生态环境规划 Ecological plan",
    "infrastructure": "区域公共服务基础设施规划 Regional infrastructure plan",
    "current": "土地利用现状 Current land use",
    "roads": "道路网 Road network",
    "centres": "城镇中心 City and county centres",
    "suppliers": "配套企业 Suppliers",
    "clusters": "产业集群核心 Cluster cores",
    "districts": "行政区 Districts",
    "grades": "耕地质量等别成果 Farmland quality grades",
    "boundary": "规划范围 Planning boundary",
}

_TOP_KEYS = {
    "name",
    "id",
    "crs",
    "boundary",
    "plans",
    "current",
    "roads",
    "centres",
    "suppliers",
    "clusters",
    "districts",
    "grades",
    "logistics",
    "thresholds",
    "ledger",
    "codes",
    "zones",
    "adjustments",
    "efficiency",
    "service_class",
}
#: Option sections passed to the analysis functions (validated when the pipeline builds them).
OPTION_SECTIONS = ("zones", "adjustments", "efficiency", "service_class")
_SOURCE_FIELDS = {
    "path",
    "layer",
    "crs",
    "encoding",
    "field",
    "scheme",
    "id",
    "x",
    "y",
    "control_points",
    "industry",
    "grade_field",
    "towgs84",
    "helmert",
    "codes",
}
#: Files that belong to a Shapefile or a GIS project but are never a layer source themselves.
_SIDECARS = (".shx", ".dbf", ".prj", ".cpg", ".sbn", ".sbx", ".qix", ".qmd", ".shp.xml", ".aux.xml")
_ID_RE = re.compile(r"^[a-z0-9_-]+$")
_SPEED_DEFAULTS = {
    "motorway": 100.0,
    "trunk": 80.0,
    "primary": 60.0,
    "secondary": 50.0,
    "tertiary": 40.0,
    "default": 30.0,
}


@dataclass(frozen=True)
class SourceConfig:
    """One layer source of the pilot: where it is and how to read it.

    Attributes mirror the YAML keys of CONTRACT §2. ``path`` is resolved against the YAML's
    folder (a ``postgresql://`` URL is kept as text in ``url``).
    """

    key: str
    path: Path | None
    url: str | None = None
    layer: tuple[str, ...] = ()
    crs: CrsSpec | None = None
    encoding: str | None = None
    field: str | None = None
    scheme: str | None = None
    id: str | None = None
    x: str | None = None
    y: str | None = None
    control_points: Path | None = None
    industry: str | None = None
    #: ``current`` only: the column of the quality grade (耕地质量等别); default ``GDDB``.
    grade_field: str | None = None
    towgs84: tuple[float, ...] | None = None
    codes: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def location(self) -> str:
        """The file or table as a user wrote it, for messages."""
        if self.url is not None:
            return f"{_hide_password(self.url)} {','.join(self.layer)}".strip()
        return str(self.path)

    @property
    def where(self) -> str:
        """``key (file[, layer L][, field F])`` — the prefix of every message about this source."""
        parts = [self.location]
        if self.layer and self.url is None:
            parts.append(f"layer {', '.join(self.layer)}")
        if self.field:
            parts.append(f"field {self.field}")
        return f"{self.key} ({', '.join(parts)})"


@dataclass(frozen=True)
class LogisticsConfig:
    """Travel-time settings (CONTRACT §2 ``logistics``)."""

    radius_min: float | dict[str, float] = 60.0
    speeds_kmh: dict[str, float] = dataclasses.field(default_factory=lambda: dict(_SPEED_DEFAULTS))
    breaks_min: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Thresholds:
    """Geometry thresholds (CONTRACT §2 ``thresholds``)."""

    sliver_m2: float = 400.0
    buffer_m: float = 0.0


@dataclass(frozen=True)
class PilotConfig:
    """A validated pilot configuration."""

    path: Path
    name: str
    id: str
    crs: CrsSpec | None
    sources: dict[str, SourceConfig]
    logistics: LogisticsConfig
    thresholds: Thresholds
    ledger: Path | None = None
    codes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    options: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """The YAML file's folder, against which relative paths resolve."""
        return self.path.parent

    @property
    def plans(self) -> dict[str, SourceConfig]:
        """The plan sources present, in :data:`PLAN_KEYS` order."""
        return {k: self.sources[k] for k in PLAN_KEYS if k in self.sources}


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def yaml_key(key: str) -> str:
    """Where a layer source sits in the pilot YAML (``plans.land_use`` or ``current``)."""
    return f"plans.{key}" if key in PLAN_KEYS else key


def closest_hint(word: str, options: set[str] | list[str]) -> str:
    """`` Did you mean 'x'?`` for the closest option, or an empty string."""
    match = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.5)
    return f" 是否应为 Did you mean '{match[0]}'?" if match else ""


def scheme_name(text: str) -> str:
    """A ``scheme:`` as written, in the form of the code-table names (``gb50137``).

    Case, spaces and the slash of "GB/T" do not matter, nor a standard's year after a dash:
    ``GB50137``, ``GB 50137-2011`` and ``gb/t 21010-2017`` name ``gb50137`` and ``gbt21010``.
    """
    name = re.sub(r"[\s/]+", "", text.strip().lower())
    return re.sub(r"^(gbt?\d+)[-_]\d{4}$", r"\1", name)


class _Ctx:
    """Message builder bound to one YAML file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.path}: '{key}': {problem}. 解决 Fix: {fix}")


def read_config(path: str | os.PathLike[str]) -> PilotConfig:
    """Read and validate a pilot YAML file.

    Parameters
    ----------
    path
        The pilot YAML (UTF-8). Relative paths inside it resolve against its folder.

    Returns
    -------
    PilotConfig

    Raises
    ------
    ConfigError
        Unreadable or non-UTF-8 file, bad YAML, unknown keys, missing required keys or files,
        bad ids or CRS strings — each naming the key and the fix.
    """
    path = Path(path).expanduser().resolve()
    ctx = _Ctx(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: 找不到试点配置文件 pilot file not found. 解决 Fix: give the path of an existing "
            "pilot YAML (try `fiveplans demo` for an example)."
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        hint = ""
        try:
            raw.decode("gb18030")
            hint = " 看起来是 GBK/GB18030 It looks like GBK/GB18030."
        except UnicodeDecodeError:
            pass
        raise ConfigError(
            f"{path}: 文件不是 UTF-8 编码 not UTF-8 (byte {exc.start}).{hint} 解决 Fix: save the file as UTF-8 "
            "(e.g. in VS Code: 'Save with Encoding' → UTF-8; or `iconv -f GBK -t UTF-8`)."
        ) from None
    slip = find_slip(text)  # full-width punctuation, tabs: named on their own line
    if slip is not None:
        raise ConfigError(slip.message(path))
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(explain_yaml_error(path, text, exc)) from None
    duplicate = find_duplicate_key(text)
    if duplicate is not None:
        raise ConfigError(duplicate.message(path))
    if not isinstance(doc, dict):
        raise ConfigError(
            f"{path}: 应为“键: 值”的配置 expected a mapping of keys (name:, boundary:, plans:, …), "
            f"found {type(doc).__name__}. 解决 Fix: see docs/pilot.md or the demo's pilot.yml "
            "(`fiveplans demo`)."
        )
    unknown = set(doc) - _TOP_KEYS
    misplaced = sorted(k for k in map(str, unknown) if k in PLAN_KEYS)
    if misplaced:  # `plans:` followed by a plan that is not indented under it
        key = misplaced[0]
        number = line_of_key(text, key)
        at = f" 第 {number} 行 line {number}" if number else ""
        raise ctx.error(
            key,
            f"规划应写在 plans: 之下{at} — '{key}' is a plan, but it is not indented under `plans:`",
            f"indent it by two spaces under `plans:` (`  {key}: {{path: …}}`)",
        )
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise ctx.error(
            key,
            "未知的键 unknown key",
            f"remove it or correct the spelling.{closest_hint(key, _TOP_KEYS)} "
            f"Valid keys: {', '.join(sorted(_TOP_KEYS))}",
        )

    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ctx.error(
            "name", "缺少或为空 missing or empty", "add a display name, e.g. `name: 示范产业集聚区`"
        )
    pilot_id = doc.get("id", path.stem)
    if not isinstance(pilot_id, str) or not _ID_RE.match(pilot_id):
        hint = re.sub(r"[^a-z0-9_-]+", "_", str(pilot_id).lower()).strip("_") or "pilot1"
        raise ctx.error(
            "id",
            f"'{pilot_id}' 不是有效的 id — is not a valid id (lower-case letters, digits, '_' and '-' only)",
            f"use e.g. `id: {hint}`",
        )
    crs = _parse_crs(ctx, "crs", doc.get("crs"))
    if crs is not None and crs.offset is not None:
        raise ctx.error(
            "crs",
            f"工作坐标系不能是网络地图偏移坐标 the working CRS cannot be the web-map offset '{crs.text}'",
            "give a projected CRS in metres, e.g. `crs: EPSG:4547`, or omit it",
        )
    if crs is not None and (crs.crs is None or not crs.crs.is_projected):
        raise ctx.error(
            "crs",
            f"工作坐标系不是投影坐标系 the working CRS '{crs.text}' is not projected; areas and distances need metres",
            "use a CGCS2000 Gauss-Kruger CRS, e.g. `crs: EPSG:4547` (3° zone 38, CM 114°E), "
            "or omit it to take the zone of the boundary centroid",
        )
    codes = {  # keyed by scheme, as `scheme:` is: case and spaces do not matter
        scheme_name(str(k)): v for k, v in _mapping(ctx, "codes", doc.get("codes", {})).items()
    }

    sources: dict[str, SourceConfig] = {}
    if "boundary" not in doc:
        raise ctx.error(
            "boundary", "缺少规划范围 missing", "add `boundary: boundary.gpkg` (规划范围)"
        )
    sources["boundary"] = _source(ctx, "boundary", doc["boundary"], layer_key="boundary")
    plans = doc.get("plans")
    if not isinstance(plans, dict):
        raise ctx.error(
            "plans",
            "缺少或格式不对 missing or not a mapping",
            "add `plans:` with at least land_use and one of cluster/urban",
        )
    for key, value in plans.items():
        if key not in PLAN_KEYS:
            raise ctx.error(
                f"plans.{key}",
                "未知的规划 unknown plan",
                f"use one of {', '.join(PLAN_KEYS)}.{closest_hint(str(key), list(PLAN_KEYS))}",
            )
        sources[key] = _source(ctx, f"plans.{key}", value, layer_key=key)
    if "land_use" not in sources:
        raise ctx.error(
            "plans.land_use",
            "缺少土地利用总体规划 missing: the land-use master plan is required",
            "add `land_use: {path: …, field: …, scheme: tdytq}` under plans",
        )
    if "cluster" not in sources and "urban" not in sources:
        raise ctx.error(
            "plans",
            "需要产业集聚区总体规划或城市总体规划 needs the zone master plan (cluster) or the urban master plan (urban)",
            "add `cluster: {…}` or `urban: {…}` under plans",
        )
    for key in ("current", "roads", "centres", "suppliers", "clusters", "districts", "grades"):
        if doc.get(key) is not None:
            sources[key] = _source(ctx, key, doc[key], layer_key=key)

    ledger = None
    if doc.get("ledger") is not None:
        ledger = _existing_path(ctx, "ledger", doc["ledger"])

    return PilotConfig(
        path=path,
        name=name.strip(),
        id=pilot_id,
        crs=crs,
        sources=sources,
        logistics=_logistics(ctx, doc.get("logistics") or {}),
        thresholds=_thresholds(ctx, doc.get("thresholds") or {}),
        ledger=ledger,
        codes=codes,
        options={k: _mapping(ctx, k, doc.get(k)) for k in OPTION_SECTIONS},
    )


def _mapping(ctx: _Ctx, key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ctx.error(
            key, f"应为“键: 值”表 expected a mapping, found {value!r}", f"write `{key}: {{…}}`"
        )
    return dict(value)


def _parse_crs(ctx: _Ctx, key: str, value: Any) -> CrsSpec | None:
    if value is None:
        return None
    try:
        return parse_crs(value, key=key)
    except ConfigError as exc:
        raise ConfigError(f"{ctx.path}: {exc}") from None


def _existing_path(ctx: _Ctx, key: str, value: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ctx.error(
            key, f"应为文件路径 expected a file path, found {value!r}", "give a path as text"
        )
    path = (ctx.path.parent / value.strip()).resolve()
    if not path.exists():
        folder = path.parent
        near = ""
        if folder.is_dir():
            names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
            # a Shapefile's sidecars (.shx, .dbf, …) are never what `path:` should name
            names = [n for n in names if not n.lower().endswith(_SIDECARS)]
            same_kind = [n for n in names if n.lower().endswith(path.suffix.lower())]
            near = closest_hint(path.name, same_kind or names) if path.suffix else ""
            near = near or closest_hint(path.name, names)
            parts = [
                p.name
                for p in folder.glob(f"{glob_escape(path.stem)}.*")
                if p.suffix.lower() in (".shx", ".dbf", ".prj", ".cpg")
            ]
            if path.suffix.lower() == ".shp" and parts:
                near = (
                    f" 只有 {', '.join(sorted(parts))}，缺少 .shp 主文件 — only the Shapefile's "
                    f"{', '.join(sorted(parts))} are there: the .shp itself is missing from the "
                    "delivery; ask for the complete Shapefile (.shp + .shx + .dbf + .prj)."
                ) + near
            elif not near and names:
                near = (
                    f" 该文件夹中有 The folder has: {', '.join(names[:8])}"
                    f"{' …' if len(names) > 8 else ''}."
                )
        raise ctx.error(
            key,
            f"找不到文件 file not found: {path}",
            f"check the path (relative paths start at the YAML's folder {ctx.path.parent}).{near}",
        )
    return path


def _source(ctx: _Ctx, key: str, value: Any, *, layer_key: str) -> SourceConfig:
    """Validate one layer source; ``key`` is its YAML path, ``layer_key`` its layer name."""
    if isinstance(value, str):
        value = {"path": value}
    if not isinstance(value, dict):
        raise ctx.error(
            key,
            f"应为路径或“键: 值”表 expected a path or a mapping, found {value!r}",
            f"write `{key}: {{path: …}}`",
        )
    unknown = set(value) - _SOURCE_FIELDS
    if unknown:
        bad = sorted(map(str, unknown))[0]
        raise ctx.error(
            f"{key}.{bad}",
            "未知的选项 unknown option",
            f"remove it.{closest_hint(bad, _SOURCE_FIELDS)} Valid: {', '.join(sorted(_SOURCE_FIELDS))}",
        )
    if "path" not in value:
        raise ctx.error(key, "缺少 path 没有文件路径 no `path`", f"add `path: …` to {key}")
    raw_path = value["path"]
    url = None
    path: Path | None = None
    if isinstance(raw_path, str) and raw_path.startswith(("postgresql://", "postgres://")):
        url = raw_path
        if not value.get("layer"):
            raise ctx.error(
                f"{key}.layer",
                "PostGIS 数据源需要表名 a PostGIS source needs the table",
                "add `layer: schema.table`",
            )
    else:
        path = _existing_path(ctx, f"{key}.path", raw_path)

    layer = value.get("layer")
    if layer is None:
        layers: tuple[str, ...] = ()
    elif isinstance(layer, str) and layer.strip():
        layers = (layer.strip(),)
    elif isinstance(layer, list) and layer and all(isinstance(v, str) and v for v in layer):
        layers = tuple(layer)
    else:
        raise ctx.error(
            f"{key}.layer",
            f"应为图层名或图层名列表 expected a layer name or a list of names, found {layer!r}",
            "e.g. `layer: TDYTQ`",
        )

    strings: dict[str, str | None] = {}
    for opt in ("encoding", "field", "scheme", "id", "x", "y", "industry", "grade_field"):
        v = value.get(opt)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise ctx.error(
                f"{key}.{opt}", f"应为文字 expected text, found {v!r}", f"write `{opt}: NAME`"
            )
        strings[opt] = v.strip() if isinstance(v, str) else None
    if strings["scheme"] is not None:
        strings["scheme"] = scheme_name(strings["scheme"])
    if strings["encoding"] is not None:
        import codecs

        try:
            codecs.lookup(strings["encoding"])
        except LookupError:
            raise ctx.error(
                f"{key}.encoding",
                f"未知的编码 unknown encoding '{strings['encoding']}'",
                "use e.g. GBK, GB18030 or UTF-8, or omit it to detect the encoding",
            ) from None
    if (strings["scheme"] is None) != (strings["field"] is None) and layer_key in (
        *PLAN_KEYS,
        "current",
    ):
        missing = "scheme" if strings["scheme"] is None else "field"
        raise ctx.error(
            f"{key}.{missing}",
            f"规划图层需要 field（分类字段）和 scheme（代码表）— a plan needs both `field` (the classification field) and `scheme` (its code table); {missing} is missing",
            f"add `{missing}: …`",
        )
    if layer_key in (*PLAN_KEYS, "current") and strings["field"] is None:
        raise ctx.error(
            f"{key}.field",
            "缺少分类字段 missing: which field holds the land-use code",
            f"add `field: …` and `scheme: …` to {key}",
        )
    if strings["grade_field"] is not None and layer_key != "current":
        raise ctx.error(
            f"{key}.grade_field",
            "等别字段只用于现状 — `grade_field` names the quality-grade column of the current "
            "land use only",
            "move it to `current:`, or for a grades layer name its column with `field:`",
        )
    if layer_key == "grades" and strings["field"] is None:
        strings["field"] = "GDDB"  # the 等别 column of 耕地质量等别成果 (schema.SurveyFields)
    if (strings["x"] is None) != (strings["y"] is None):
        raise ctx.error(
            f"{key}.x/y", "x 和 y 须同时给出 give both `x` and `y` columns", "add the missing one"
        )
    if path is not None and path.suffix.lower() == ".csv" and strings["x"] is None:
        raise ctx.error(
            key,
            "CSV 数据源需要坐标列 a CSV source needs its coordinate columns",
            "add `x: lon` and `y: lat` (and `crs:`)",
        )

    control_points = None
    if value.get("control_points") is not None:
        control_points = _existing_path(ctx, f"{key}.control_points", value["control_points"])
    towgs84 = _towgs84(ctx, key, value)
    return SourceConfig(
        key=layer_key,
        path=path,
        url=url,
        layer=layers,
        crs=_parse_crs(ctx, f"{key}.crs", value.get("crs")),
        encoding=strings["encoding"],
        field=strings["field"],
        scheme=strings["scheme"],
        id=strings["id"],
        x=strings["x"],
        y=strings["y"],
        control_points=control_points,
        industry=strings["industry"],
        grade_field=strings["grade_field"],
        towgs84=towgs84,
        codes=_mapping(ctx, f"{key}.codes", value.get("codes")),
    )


def _towgs84(ctx: _Ctx, key: str, value: dict[str, Any]) -> tuple[float, ...] | None:
    given = [k for k in ("towgs84", "helmert") if value.get(k) is not None]
    if not given:
        return None
    if len(given) == 2:
        raise ctx.error(
            f"{key}.helmert",
            "towgs84 与 helmert 只能给一个 give `towgs84` or `helmert`, not both",
            "keep one",
        )
    opt = given[0]
    params = value[opt]
    if isinstance(params, str):
        params = [p for p in re.split(r"[,\s]+", params.strip()) if p]
    try:
        numbers = tuple(float(p) for p in params)
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) not in (3, 7) or not all(math.isfinite(n) for n in numbers):
        raise ctx.error(
            f"{key}.{opt}",
            f"应为 3 个或 7 个参数 expected 3 or 7 numbers (dx, dy, dz [m], rx, ry, rz [arc-seconds], ds [ppm]), found {params!r}",
            f"write e.g. `{opt}: [24.0, -123.0, -94.0, 0.02, -0.25, -0.13, 1.1]` "
            "with the parameters your surveying bureau published",
        )
    return numbers


def _number(ctx: _Ctx, key: str, value: Any, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ctx.error(
            key, f"应为数字 expected a number, found {value!r}", f"write `{key.split('.')[-1]}: 60`"
        )
    if not low <= value <= high:
        raise ctx.error(
            key, f"{value} 超出范围 is out of range", f"use a value between {low:g} and {high:g}"
        )
    return float(value)


def _logistics(ctx: _Ctx, doc: Any) -> LogisticsConfig:
    doc = _mapping(ctx, "logistics", doc)
    unknown = set(doc) - {"radius_min", "speeds_kmh", "breaks_min"}
    if unknown:
        bad = sorted(unknown)[0]
        raise ctx.error(
            f"logistics.{bad}",
            "未知的选项 unknown option",
            "use radius_min, speeds_kmh and breaks_min",
        )
    radius: float | dict[str, float] = 60.0
    if "radius_min" in doc:
        value = doc["radius_min"]
        if isinstance(value, dict):
            radius = {
                str(k): _number(ctx, f"logistics.radius_min.{k}", v, low=1, high=1440)
                for k, v in value.items()
            }
            if not radius:
                raise ctx.error(
                    "logistics.radius_min", "空表 empty table", "give minutes per industry"
                )
        else:
            radius = _number(ctx, "logistics.radius_min", value, low=1, high=1440)
    speeds = dict(_SPEED_DEFAULTS)
    for k, v in _mapping(ctx, "logistics.speeds_kmh", doc.get("speeds_kmh")).items():
        speeds[str(k)] = _number(ctx, f"logistics.speeds_kmh.{k}", v, low=0.1, high=200)
    breaks = None
    if doc.get("breaks_min") is not None:
        raw = doc["breaks_min"]
        if not isinstance(raw, list) or not raw:
            raise ctx.error(
                "logistics.breaks_min",
                f"应为分钟数列表 expected a list of minutes, found {raw!r}",
                "write e.g. `breaks_min: [30, 60, 90]`",
            )
        breaks = tuple(
            sorted(
                _number(ctx, f"logistics.breaks_min[{i}]", v, low=1, high=1440)
                for i, v in enumerate(raw)
            )
        )
    return LogisticsConfig(radius_min=radius, speeds_kmh=speeds, breaks_min=breaks)


def _thresholds(ctx: _Ctx, doc: Any) -> Thresholds:
    doc = _mapping(ctx, "thresholds", doc)
    unknown = set(doc) - {"sliver_m2", "buffer_m"}
    if unknown:
        bad = sorted(unknown)[0]
        raise ctx.error(
            f"thresholds.{bad}",
            "未知的选项 unknown option",
            f"use sliver_m2 or buffer_m.{closest_hint(bad, {'sliver_m2', 'buffer_m'})}",
        )
    return Thresholds(
        sliver_m2=_number(ctx, "thresholds.sliver_m2", doc.get("sliver_m2", 400), low=0, high=1e6),
        buffer_m=_number(ctx, "thresholds.buffer_m", doc.get("buffer_m", 0), low=0, high=1e5),
    )
