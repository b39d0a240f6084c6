"""The common legend (一张图): code tables of the plans and their crosswalk to one legend.

Every plan codes its land by its own standard: the current land-use survey by GB/T 21010-2017,
the cluster and urban plans by GB 50137-2011 or 用地用海 (2020 trial or 2023 edition), the old
land-use master plan by 土地用途区 (TDYTQ) and 建设用地管制区 (GZQ) codes. Each scheme is a CSV
table shipped in ``fiveplans/layers/codes`` whose columns ``legend`` and ``use`` place every code
in the common legend of CONTRACT §3; :func:`apply_legend` reads a classification field through
one of these tables, reports every code it does not know, and accepts a user's overrides.
"""

from __future__ import annotations

import difflib
import functools
import logging
import math
import numbers
import re
import unicodedata
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fiveplans.errors import ConfigError, DataError
from fiveplans.schema import LEGEND_VALUES, USE_VALUES

__all__ = [
    "LEGEND_CLASSES",
    "LEGEND_LABELS",
    "USE_CLASSES",
    "USE_LABELS",
    "LegendResult",
    "apply_legend",
    "code_table",
    "guess_scheme",
    "normalize_code",
    "recognised_share",
    "schemes",
]

logger = logging.getLogger(__name__)

#: The common legend and the uses of construction land (CONTRACT §3): one definition, in
#: :mod:`fiveplans.schema`.
LEGEND_CLASSES: tuple[str, ...] = LEGEND_VALUES
USE_CLASSES: tuple[str, ...] = USE_VALUES
LEGEND_LABELS: dict[str, str] = {
    "basic_farmland": "永久基本农田 Permanent basic farmland",
    "farmland": "一般农用地 Other farmland",
    "construction": "建设用地 Construction land",
    "ecological": "生态保护空间 Ecological protection",
    "water": "水域 Water",
    "forest": "林地 Forest",
    "grassland": "草地 Grassland",
    "other": "其他 Other",
}
USE_LABELS: dict[str, str] = {
    "industrial": "工业 Industrial",
    "logistics": "物流仓储 Logistics and warehousing",
    "residential": "居住 Residential",
    "public": "公共管理与公共服务 Public services",
    "commercial": "商业服务业 Commercial",
    "transport": "交通运输 Transport",
    "utilities": "公用设施 Utilities",
    "green": "绿地与广场 Green space and squares",
    "other": "其他建设用地 Other construction",
}

#: Preferred order of the shipped schemes (national standards first, project tables last).
_SCHEME_ORDER = (
    "gbt21010",
    "gb50137",
    "ydyh2023",
    "ydyh2020",
    "tdytq",
    "gzq",
    "ecology",
    "infrastructure",
)
_TEXT_COLUMNS = (
    "code",
    "name_zh",
    "parent_code",
    "legend",
    "use",
    "aliases",
    "note",
    "authority",
    "checked",
    "cross_checks",
)
_OVERRIDE_KEYS = ("legend", "use", "name_zh")
_EXAMPLES = 5
_CODE_FIRST = re.compile(r"^([0-9A-Za-z]+)(?=$|[^0-9A-Za-z])")
_FLOAT_TEXT = re.compile(r"^(\d+)\.0*$")


_CODES_DIR = Path(__file__).resolve().parent / "codes"


@functools.lru_cache(maxsize=1)
def _scheme_names() -> tuple[str, ...]:
    found = {path.stem for path in _CODES_DIR.glob("*.csv")}
    ordered = [name for name in _SCHEME_ORDER if name in found]
    return tuple(ordered + sorted(found - set(ordered)))


def schemes() -> list[str]:
    """Names of the code schemes shipped with fiveplans.

    Returns
    -------
    list of str
        Scheme ids, usable as ``scheme:`` in the pilot config: national standards first
        (``gbt21010``, ``gb50137``, ``ydyh2023``, ``ydyh2020``, ``tdytq``, ``gzq``), then the
        project tables (``ecology``, ``infrastructure``).
    """
    return list(_scheme_names())


def _check_scheme(scheme: str) -> str:
    names = _scheme_names()
    if isinstance(scheme, str):
        key = scheme.strip().lower()
        if key in names:
            return key
    close = difflib.get_close_matches(str(scheme).strip().lower(), names, n=1, cutoff=0.5)
    hint = f" 是否应为 Did you mean '{close[0]}'?" if close else ""
    raise ConfigError(
        f"未知的代码表 unknown code scheme '{scheme}'.{hint} 解决 Fix: use one of "
        f"{', '.join(names)} (docs/pilot.md lists their standards)"
    )


@functools.cache
def _load_table(scheme: str) -> pd.DataFrame:
    table = pd.read_csv(
        _CODES_DIR / f"{scheme}.csv", dtype=str, keep_default_na=False, encoding="utf-8"
    )
    table["level"] = table["level"].astype(int)
    if "corridor_width_m" in table.columns:
        table["corridor_width_m"] = pd.to_numeric(table["corridor_width_m"]).astype(float)
    for column in table.columns:
        if column not in ("level", "corridor_width_m"):
            text = table[column].astype(object)
            table[column] = text.where(text != "", None)
    return table


def code_table(scheme: str) -> pd.DataFrame:
    """The code table of one scheme.

    Parameters
    ----------
    scheme
        A scheme id from :func:`schemes` (case and surrounding spaces are ignored).

    Returns
    -------
    pandas.DataFrame
        One row per code: ``code``, ``name_zh``, ``level``, ``parent_code``, ``legend``, ``use``
        (construction rows only), ``aliases`` (``;``-separated variant codes and names seen in
        deliveries), ``note``, ``authority`` (the standard the code belongs to, e.g. GB/T
        21010-2017; for the project tables ``ecology`` and ``infrastructure`` the project
        itself), ``checked`` (how the row was checked: several public copies agree, a single
        copy, or unverified), ``cross_checks`` (the public copies compared — never the
        authority), plus scheme-specific columns (``edition_2020_differs``,
        ``differs_from_2023``, ``geometry``, ``corridor_width_m``). Missing values are ``None``
        (``NaN`` for ``corridor_width_m``). A fresh copy: changing it does not change the table.

    Raises
    ------
    ConfigError
        The scheme is not shipped; the message lists the schemes and the closest name.
    """
    return _load_table(_check_scheme(scheme)).copy()


@dataclass(frozen=True)
class _Lookup:
    """Indexes of one table for :func:`normalize_code`."""

    codes: frozenset[str]
    aliases: Mapping[str, str]
    names: Mapping[str, str]
    lengths: tuple[int, ...]
    rows: Mapping[str, tuple[str, str | None, str]]


@functools.cache
def _lookup(scheme: str) -> _Lookup:
    table = _load_table(scheme)
    codes = frozenset(table["code"])
    aliases: dict[str, str] = {}
    names: dict[str, str] = {}
    ambiguous: set[str] = set()

    def add_name(name: str, code: str) -> None:
        if name in names and names[name] != code:
            ambiguous.add(name)
        names[name] = code

    for code, name, alias_text in zip(
        table["code"], table["name_zh"], table["aliases"], strict=True
    ):
        add_name(_clean_text(name), code)
        for alias in (alias_text or "").split(";"):
            alias = _clean_text(alias)
            if not alias:
                continue
            if _CODE_FIRST.fullmatch(alias) and alias.isascii():
                aliases[alias.upper()] = code
            else:
                add_name(alias, code)
    for name in ambiguous:  # e.g. GB 50137 住宅用地 is R11, R21 and R31: a name alone cannot say
        del names[name]
    lengths = tuple(sorted({len(code) for code in codes | set(aliases)}))
    rows = {
        code: (legend, use, name)
        for code, legend, use, name in zip(
            table["code"], table["legend"], table["use"], table["name_zh"], strict=True
        )
    }
    return _Lookup(codes, aliases, names, lengths, rows)


def _clean_text(text: str | None) -> str:
    """NFKC (full-width to half-width), collapse spaces, strip."""
    if text is None:
        return ""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def _number_text(value: Any) -> str | None:
    """Digits of an integral number (``10`` -> "10", ``101.0`` -> "101"), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Integral):
        return str(int(value)) if int(value) >= 0 else None
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number) and number >= 0 and number.is_integer():
            return str(int(number))
    return None


def _find(candidate: str, lookup: _Lookup) -> str | None:
    key = candidate.upper()
    if key in lookup.codes:
        return key
    return lookup.aliases.get(key)


def _find_padded(digits: str, lookup: _Lookup) -> str | None:
    """A number whose leading zeros were lost: try it zero-padded to each code length."""
    found = _find(digits, lookup)
    if found is not None:
        return found
    for length in lookup.lengths:
        if length > len(digits):
            found = _find(digits.zfill(length), lookup)
            if found is not None:
                return found
    return None


def _normalize(value: Any, lookup: _Lookup) -> str | None:
    if _is_missing(value):
        return None
    digits = _number_text(value)
    if digits is not None:
        return _find_padded(digits, lookup)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = _clean_text(str(value))
    float_text = _FLOAT_TEXT.fullmatch(text)
    if float_text:  # "101.0": a number written out by a spreadsheet or a float column
        return _find_padded(float_text.group(1), lookup)
    found = _find(text, lookup)
    if found is not None:
        return found
    lead = _CODE_FIRST.match(text)
    if lead and lead.group(1) != text:  # "M1-一类工业用地", "M1 一类工业", "0702农村宅基地"
        found = _find(lead.group(1), lookup)
        if found is not None:
            return found
    return lookup.names.get(text)


def normalize_code(value: Any, scheme: str) -> str | None:
    """The canonical code of one raw classification value.

    Tolerates what deliveries contain: integers and floats for numeric codes whose leading
    zeros were lost (``10`` -> ``"010"`` in ``tdytq``, ``101.0`` -> ``"0101"`` in ``gbt21010``),
    surrounding whitespace, full-width characters (``"Ｍ１"`` -> ``"M1"``), lower case, a code
    followed by its name (``"M1-一类工业用地"``, ``"M1 一类工业"``), the Chinese name alone
    (``"一类工业用地"`` -> ``"M1"``, matching ``name_zh`` exactly or a variant listed in
    ``aliases``), and variant codes listed in ``aliases`` (``110`` -> ``"100"`` in ``tdytq``).
    Digit strings keep their zeros: ``"011"`` is a GB/T 21010-2007 code, not ``"0011"``.

    Parameters
    ----------
    value
        The raw value of the classification field.
    scheme
        A scheme id from :func:`schemes`.

    Returns
    -------
    str or None
        The code as written in the scheme's table; ``None`` for an empty value (``None``, NaN,
        blank text) and for a value that is not a code of the scheme. A Chinese name shared by
        several codes (GB 50137 住宅用地: R11, R21, R31) is not a code.

    Raises
    ------
    ConfigError
        Unknown scheme.
    """
    return _normalize(value, _lookup(_check_scheme(scheme)))


def _raw_text(value: Any) -> str | None:
    """The raw value as text for ``source_code``: numbers without a spurious ``.0``."""
    if _is_missing(value):
        return None
    digits = _number_text(value)
    if digits is not None:
        return digits
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (np.generic,)):
        return str(value.item())
    return str(value)


@dataclass(frozen=True)
class LegendResult:
    """What :func:`apply_legend` found.

    Attributes
    ----------
    frame
        Aligned to the input's index: ``source_code`` (the raw value as text), ``code`` (the
        canonical code, ``None`` when unknown or empty), ``legend`` (always set), ``use`` (set
        for construction land only), ``name_zh`` (``None`` when unknown).
    unknown
        One row per raw value the table does not know: ``value`` (as in ``source_code``),
        ``count``, ``example_ids`` (a list of up to five index labels), most frequent first.
        Such rows get legend ``other``; nothing is dropped.
    """

    frame: pd.DataFrame
    unknown: pd.DataFrame


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _validated_overrides(
    overrides: Mapping[Any, Mapping[str, Any] | str] | None,
    scheme: str,
    lookup: _Lookup,
    where: str,
) -> dict[str, tuple[str, str | None, str | None]]:
    """Overrides keyed by canonical code (or cleaned raw text) -> (legend, use, name_zh)."""
    if overrides is None:
        return {}
    pre = _prefix(where)
    if not isinstance(overrides, Mapping):
        raise ConfigError(
            f"{pre}代码覆盖应为“代码: 图例”表 — the code overrides must be a table of code: legend (or code: {{legend: …, "
            f"use: …, name_zh: …}}), got {type(overrides).__name__}; write it as a YAML mapping"
        )
    valid_legends = ", ".join(LEGEND_CLASSES)
    valid_uses = ", ".join(USE_CLASSES)
    result: dict[str, tuple[str, str | None, str | None]] = {}
    for raw_key, spec in overrides.items():
        if _is_missing(raw_key):
            raise ConfigError(
                f"{pre}代码覆盖缺少代码 — a code override has an empty code. 解决 Fix: give "
                "the code it maps"
            )
        key = _normalize(raw_key, lookup) or _clean_text(_raw_text(raw_key)).upper()
        label = f"代码覆盖 code override '{raw_key}'"
        if isinstance(spec, str):
            spec = {"legend": spec}
        if not isinstance(spec, Mapping):
            raise ConfigError(
                f"{pre}{label}: 格式不对 — must be a legend class or a table with keys "
                f"{', '.join(_OVERRIDE_KEYS)}; got {spec!r}. 解决 Fix: write e.g. `M1: construction`"
            )
        extra = sorted(str(k) for k in spec if k not in _OVERRIDE_KEYS)
        if extra:
            raise ConfigError(
                f"{pre}{label}: 未知的键 — has unknown key(s) {', '.join(extra)}. "
                f"解决 Fix: use only {', '.join(_OVERRIDE_KEYS)}"
            )
        known = lookup.rows.get(key)
        legend = spec.get("legend", known[0] if known else None)
        if legend is None:
            raise ConfigError(
                f"{pre}{label}: '{raw_key}' is not a code of scheme '{scheme}', so the override "
                f"needs a legend. 解决 Fix: add legend: one of {valid_legends}"
            )
        legend = str(legend).strip()
        if legend not in LEGEND_CLASSES:
            raise ConfigError(
                f"{pre}{label}: 不是图例类 — maps to legend '{legend}', which is not a legend class. "
                f"解决 Fix: use one of {valid_legends}"
            )
        use = spec.get("use")
        if use is not None and str(use).strip():
            use = str(use).strip()
            if use not in USE_CLASSES:
                raise ConfigError(
                    f"{pre}{label}: 不是用途类 — gives use '{use}', which is not a use class. "
                    f"解决 Fix: use one of {valid_uses}"
                )
            if legend != "construction":
                raise ConfigError(
                    f"{pre}{label}: 只有建设用地有用途 — gives use '{use}' with legend '{legend}': a use "
                    f"applies to construction land only. 解决 Fix: set legend: construction or drop the use"
                )
        elif legend == "construction":
            use = known[1] if known and known[1] else "other"
        else:
            use = None
        name = spec.get("name_zh", known[2] if known else None)
        result[key] = (legend, use, None if name is None else str(name))
    return result


def _suggestion(values: pd.Series, scheme: str) -> str:
    ranked = [(name, share) for name, share in guess_scheme(values) if name != scheme]
    if ranked and ranked[0][1] > 0:
        best = ranked[0][1]
        tied = [name for name, share in ranked if share == best]
        names = " or ".join(f"'{name}'" for name in tied)
        return (
            f"the values look like scheme {names} ({best:.0%} recognised): set scheme: "
            f"{tied[0]}, or map the codes with a codes: table (code: legend) in the pilot config"
        )
    return (
        "no shipped scheme recognises them: map the codes with a codes: table (code: legend) "
        "in the pilot config, or check that `field` names the classification field"
    )


def apply_legend(
    values: pd.Series,
    scheme: str,
    *,
    overrides: Mapping[Any, Mapping[str, Any] | str] | None = None,
    where: str = "",
) -> LegendResult:
    """Place raw classification values in the common legend.

    Parameters
    ----------
    values
        The classification field of a layer (any index; not modified).
    scheme
        The scheme the values are coded in; only this table is used (``ydyh2020`` and
        ``ydyh2023`` share code shapes but not meanings).
    overrides
        The user's table from the pilot config: ``{code: legend}`` or ``{code: {legend: …,
        use: …, name_zh: …}}``. A key that is a code of the scheme (in any form
        :func:`normalize_code` accepts) changes that code; any other key is matched against the
        raw values (trimmed, full-width folded, upper case) and makes them known. A
        construction override without ``use`` keeps the table's use, else ``other``.
    where
        Prefix for messages, e.g. ``"land_use (tugui/TDYTQ.shp, field TDYTQLXDM)"``.

    Returns
    -------
    LegendResult
        The aligned legend columns and the table of unknown values.

    Raises
    ------
    ConfigError
        Unknown scheme, or an override that names an unknown legend or use class.
    DataError
        Every non-empty value is unknown (the message suggests the scheme that recognises the
        most values, or an overrides table), or the field holds no value at all.
    """
    scheme = _check_scheme(scheme)
    lookup = _lookup(scheme)
    table = _validated_overrides(overrides, scheme, lookup, where)
    if not isinstance(values, pd.Series):
        raise TypeError(f"apply_legend expects a pandas Series, got {type(values).__name__}")

    # Work once per distinct raw value (a plan has a few dozen codes over many features), then
    # broadcast back to the features.
    try:
        positions_of, uniques = pd.factorize(values.array, use_na_sentinel=True)
        distinct = list(uniques)
    except TypeError:  # unhashable cells: fall back to one entry per feature
        positions_of = np.arange(len(values))
        distinct = list(values.array)
    n_distinct = len(distinct)
    per_value: list[tuple[str | None, str | None, str, str | None, str | None, bool]] = []
    for value in [*distinct, None]:  # the extra entry stands for missing values
        text = _raw_text(value)
        if text is None:
            per_value.append((None, None, "other", None, None, False))
            continue
        code = _normalize(value, lookup)
        key = code if code is not None else _clean_text(text).upper()
        if key in table:
            legend, use, name = table[key]
            per_value.append((text, key, legend, use, name, False))
        elif code is not None:
            legend, use, name = lookup.rows[code]
            per_value.append((text, code, legend, use, name, False))
        else:
            per_value.append((text, None, "other", None, None, True))
    take = np.where(positions_of < 0, n_distinct, positions_of)
    columns = list(zip(*per_value, strict=True))

    def column(i: int) -> pd.Series:
        return pd.Series(
            np.asarray(columns[i], dtype=object)[take], index=values.index, dtype=object
        )

    frame = pd.DataFrame(
        {
            "source_code": column(0),
            "code": column(1),
            "legend": column(2),
            "use": column(3),
            "name_zh": column(4),
        },
        index=values.index.copy(),
    )
    raw = frame["source_code"]
    n_empty = int(raw.isna().sum())
    unknown_positions: dict[str, list[int]] = {}
    unknown_values = [k for k, entry in enumerate(per_value) if entry[5]]
    if unknown_values:
        order = np.argsort(take, kind="stable")
        bounds = np.searchsorted(take[order], np.arange(n_distinct + 2))
        for k in unknown_values:
            text = per_value[k][0]
            assert text is not None
            found = order[bounds[k] : bounds[k + 1]].tolist()
            unknown_positions.setdefault(text, []).extend(found)
        for text in unknown_positions:
            unknown_positions[text].sort()

    index = values.index
    rows = [
        {
            "value": text,
            "count": len(positions),
            "example_ids": index[positions[:_EXAMPLES]].tolist(),
        }
        for text, positions in unknown_positions.items()
    ]
    rows.sort(key=lambda row: (-row["count"], row["value"]))
    unknown = pd.DataFrame(rows, columns=["value", "count", "example_ids"])
    unknown["count"] = unknown["count"].astype("int64")

    n_values = len(raw) - n_empty
    pre = _prefix(where)
    if len(raw) and n_values == 0:
        raise DataError(
            f"{pre}分类字段全为空 — all {len(raw)} features have an empty classification value. "
            f"解决 Fix: check that `field` names the field that holds the {scheme} codes"
        )
    n_unknown = int(unknown["count"].sum())
    if n_values and n_unknown == n_values:
        examples = ", ".join(repr(v) for v in unknown["value"].head(_EXAMPLES))
        raise DataError(
            f"{pre}没有一个值在代码表中 — none of the {n_values} values is a code of scheme "
            f"'{scheme}' (examples: {examples}). 解决 Fix: {_suggestion(values, scheme)}"
        )
    if n_unknown:  # the loader warns (FiveplansWarning); `unknown` holds them all
        logger.info(
            "%s%d of %d values are not codes of scheme '%s' and were mapped to 'other': %s",
            pre,
            n_unknown,
            n_values,
            scheme,
            ", ".join(
                f"{v!r} ({c})" for v, c in zip(unknown["value"], unknown["count"], strict=True)
            ),
        )
    if n_empty:
        logger.info("%s%d features have no classification value (legend 'other')", pre, n_empty)
    return LegendResult(frame=frame, unknown=unknown)


def guess_scheme(values: pd.Series | Iterable[Any]) -> list[tuple[str, float]]:
    """Rank the shipped schemes by the share of values they recognise.

    Parameters
    ----------
    values
        Raw classification values; empty ones are ignored.

    Returns
    -------
    list of (str, float)
        Every scheme with the share (0–1) of the non-empty values it recognises, best first;
        ties keep the order of :func:`schemes`. All shares are 0 when nothing is recognised or
        there are no values.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    present = [v for v in series.array if not _is_missing(v)]
    counts: dict[tuple[type, Hashable], tuple[Any, int]] = {}
    for value in present:
        try:
            key = (type(value), value)
            hash(key)
        except TypeError:
            key = (type(value), repr(value))
        held = counts.get(key)
        counts[key] = (value, (held[1] if held else 0) + 1)
    ranked: list[tuple[str, float]] = []
    for name in _scheme_names():
        lookup = _lookup(name)
        hits = sum(n for value, n in counts.values() if _normalize(value, lookup) is not None)
        ranked.append((name, hits / len(present) if present else 0.0))
    order = {name: i for i, name in enumerate(_scheme_names())}
    ranked.sort(key=lambda item: (-item[1], order[item[0]]))
    return ranked


def recognised_share(values: pd.Series | Iterable[Any], scheme: str) -> float:
    """The share (0–1) of the non-empty values that are codes (or names) of one scheme.

    Parameters
    ----------
    values
        Raw values of a field; empty ones are ignored.
    scheme
        A scheme id from :func:`schemes` (case is ignored).

    Returns
    -------
    float
        0 when there is no non-empty value. Distinct values are looked up once each.
    """
    lookup = _lookup(_check_scheme(scheme))
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    try:
        counts = series.value_counts(dropna=True)
    except TypeError:  # unhashable cells
        counts = series.astype(str).value_counts(dropna=True)
    total = hits = 0
    for value, n in counts.items():
        if _is_missing(value):
            continue
        total += int(n)
        if _normalize(value, lookup) is not None:
            hits += int(n)
    return hits / total if total else 0.0
