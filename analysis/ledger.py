"""The conflict ledger (冲突台账): one row per conflict patch, for the districts to decide on.

Planning bureaus hand the conflicts to the district (区县) and township governments as an Excel
ledger. Its unit is the conflict patch (冲突图斑, :mod:`fiveplans.analysis.patches`): one distinct
piece of land per conflict type, with its id, type, area (m², 公顷, 亩), location, every plan and
source parcel involved and the conflict pairs inside it, plus decision columns they fill in — the
adjustment kind (调整类型: 基本农田调整, 开发边界调整, 生态红线调整 or 规划调整), the reason, the
coordination method and the district's opinion. Within one type the rows do not overlap, so their
areas add up to ``summary.json``'s; across types they may. :func:`merge_decisions` carries the
decisions over to the ledger of a later run, also from an earlier pair-based ledger.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from fiveplans.analysis.conflicts import TYPE_LABELS
from fiveplans.analysis.patches import blank_mask
from fiveplans.analysis.patches import is_blank as _blank
from fiveplans.config import LAYER_NAMES_ZH
from fiveplans.errors import DataError

__all__ = [
    "ADJUSTMENTS",
    "DECISION_COLUMNS",
    "LEDGER_COLUMNS",
    "PAIRS",
    "PAIR_ID",
    "PAIR_LEDGER_COLUMNS",
    "conflict_ledger",
    "merge_decisions",
    "patch_pairs",
    "read_ledger",
    "style_ledger_sheet",
    "write_ledger",
]

ID = "冲突图斑编号 patch_id"
"""The id column of a ledger: the conflict patch (冲突图斑, :mod:`fiveplans.analysis.patches`)."""
PAIRS = "冲突对编号 conflict_ids"
"""The pairs (``conflicts`` rows of ``results.gpkg``) inside each patch."""
ADJUSTMENT = "调整类型 adjustment"
_FIELDS = {
    "patch_id": ID,
    "type": "类型 type",
    "area_m2": "面积(平方米) area m²",
    "area_ha": "面积(公顷) area ha",
    "area_mu": "面积(亩) area mu",
    "ellipsoidal_area_m2": "椭球面积(平方米) ellipsoidal area m²",
    "lon": "经度 longitude",
    "lat": "纬度 latitude",
    "district": "区县/乡镇 district",
    "plans": "涉及规划 plans",
    "sources": "涉及图斑 source parcels",
    "codes": "用地代码 codes",
    "n_pairs": "冲突对数 pairs",
    "conflict_ids": PAIRS,
}
DECISION_COLUMNS = [
    ADJUSTMENT,
    "调整缘由 reason",
    "协调方式 coordination",
    "区县意见 district opinion",
]
"""The columns the districts fill in."""
LEDGER_COLUMNS = [*_FIELDS.values(), *DECISION_COLUMNS]
"""Every column of a ledger, in order."""
PAIR_ID = "冲突编号 conflict_id"
"""The id column of the pair-based ledgers written before the ledger's unit became the patch."""
PAIR_LEDGER_COLUMNS = [
    PAIR_ID,
    "类型 type",
    "面积(平方米) area m²",
    "面积(公顷) area ha",
    "面积(亩) area mu",
    "椭球面积(平方米) ellipsoidal area m²",
    "经度 longitude",
    "纬度 latitude",
    "区县/乡镇 district",
    "规划A plan A",
    "规划B plan B",
    "图斑编号A source A",
    "图斑编号B source B",
    "代码A code A",
    "代码B code B",
    *DECISION_COLUMNS,
]
"""Every column of an earlier pair-based ledger (read back so its decisions carry over)."""
ADJUSTMENTS = ("基本农田调整", "开发边界调整", "生态红线调整", "规划调整")
"""Allowed values of the adjustment column (empty: not decided yet)."""
PLAN_LABELS = {key: f"{name} {key}" for key, name in LAYER_NAMES_ZH.items()}
"""Plan labels in the ledger: the official Chinese name, then the layer key."""
_NUMERIC = ("area_m2", "area_ha", "area_mu", "ellipsoidal_area_m2", "lon", "lat")


def conflict_ledger(conflicts: pd.DataFrame) -> pd.DataFrame:
    """The ledger (one row per conflict patch) with empty decision columns.

    Parameters
    ----------
    conflicts
        The patches of :func:`fiveplans.analysis.patches.conflict_patches`, or the pairs of
        :func:`fiveplans.analysis.conflicts.find_conflicts` (merged into patches here).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LEDGER_COLUMNS` (bilingual names, 中文 first); types and plans as
        bilingual labels; areas rounded to 0.01 (m²) / 0.0001 (ha, 亩), coordinates to 1e-6°.
        Within one type the rows do not overlap (their areas add up to ``summary.json``'s);
        across types they may (``attrs["rows_overlap"]`` says so).
    """
    if "patch_id" not in conflicts.columns and "conflict_id" in conflicts.columns:
        from fiveplans.analysis.patches import conflict_patches

        conflicts = conflict_patches(conflicts)
    missing = [c for c in _FIELDS if c not in conflicts.columns]
    if missing:
        raise DataError(
            f"冲突图斑表缺少列 — the patches table lacks column(s) {', '.join(missing)}. "
            "解决 Fix: pass the result of fiveplans.analysis.conflict_patches (or find_conflicts)"
        )
    out = pd.DataFrame(index=range(len(conflicts)))
    for key, label in _FIELDS.items():
        values = conflicts[key].reset_index(drop=True)
        if key == "type":
            values = values.map(lambda t: f"{TYPE_LABELS.get(t, t)} {t}")
        elif key == "plans":
            values = values.map(
                lambda ps: "、".join(PLAN_LABELS.get(p, p) for p in str(ps).split(",") if p)
            )
        elif key in _NUMERIC:
            digits = 6 if key in ("lon", "lat") else (2 if key.endswith("m2") else 4)
            values = values.astype(float).round(digits)
        out[label] = values.to_numpy()
    for label in DECISION_COLUMNS:
        out[label] = pd.Series([None] * len(out), dtype=object)
    from fiveplans.analysis.patches import OVERLAP_NOTE

    out.attrs["rows_overlap"] = OVERLAP_NOTE
    return out


def patch_pairs(ledger: pd.DataFrame) -> dict[str, list[str]]:
    """Patch id → the pair (conflict) ids inside it, from a ledger's :data:`PAIRS` column."""
    pids, pairs = ledger[ID].tolist(), ledger[PAIRS].tolist()
    return {
        str(pid): [] if blank else [c for c in str(ids).split(",") if c]
        for pid, ids, blank in zip(pids, pairs, blank_mask(pairs), strict=True)
    }


def write_ledger(
    ledger: pd.DataFrame, path: str | PathLike[str], *, sheet: str = "冲突台账"
) -> Path:
    """Write a ledger to an xlsx file atomically (temporary file, then rename).

    Parameters
    ----------
    ledger
        From :func:`conflict_ledger` (or :func:`merge_decisions`).
    path
        Target ``.xlsx``; replaced if it exists.
    sheet
        Sheet name.

    Returns
    -------
    pathlib.Path
        The written path. The adjustment column carries a drop-down list (data validation)
        of :data:`ADJUSTMENTS`; the header is frozen.
    """
    _check_columns(ledger.columns, str(path))
    target = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(LEDGER_COLUMNS)
    for row in ledger[LEDGER_COLUMNS].itertuples(index=False):
        ws.append([_cell(v) for v in row])
    style_ledger_sheet(ws, len(ledger))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        wb.save(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def style_ledger_sheet(ws: Worksheet, n_rows: int) -> None:
    """Bold frozen header, column widths and the adjustment drop-down on a ledger sheet.

    Used by :func:`write_ledger` and by the run's ``tables.xlsx``, whose ledger sheet is
    written with the other tables.
    """
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "B2"
    for i, name in enumerate(LEDGER_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(12, min(40, len(name) + 4))
    col = get_column_letter(LEDGER_COLUMNS.index(ADJUSTMENT) + 1)
    check = DataValidation(
        type="list",
        formula1='"' + ",".join(ADJUSTMENTS) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="调整类型 adjustment",
        error="请选择 choose: " + " / ".join(ADJUSTMENTS),
    )
    ws.add_data_validation(check)
    check.add(f"{col}2:{col}{max(n_rows + 1, 2) + 1000}")
    from fiveplans.analysis.patches import OVERLAP_NOTE

    area = ws.cell(row=1, column=LEDGER_COLUMNS.index(_FIELDS["area_m2"]) + 1)
    area.comment = Comment(OVERLAP_NOTE, "fiveplans", width=360, height=120)


def _cell(value: object) -> object:
    if _blank(value):
        return None
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_columns(columns: pd.Index, where: str, expected: list[str] | None = None) -> None:
    expected = LEDGER_COLUMNS if expected is None else expected
    have = [str(c) for c in columns]
    unknown = [c for c in have if c not in expected]
    missing = [c for c in expected if c not in have]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        raise DataError(
            f"台账列不符 — ledger {where}: {'; '.join(parts)}. Expected exactly: "
            f"{', '.join(expected)}. 解决 Fix: keep the header row as written by fiveplans "
            "(rename or drop added columns)"
        )


def _unit(columns: pd.Index) -> str:
    """``"patch"`` for a ledger of this version, ``"pair"`` for an earlier pair-based one."""
    have = {str(c) for c in columns}
    return "pair" if PAIR_ID in have and ID not in have else "patch"


def read_ledger(
    path: str | PathLike[str], *, sheet: str | None = None, decisions_only: bool = False
) -> pd.DataFrame:
    """Read and validate a ledger written by :func:`write_ledger` (and filled in by hand).

    Parameters
    ----------
    path
        The ``.xlsx``.
    sheet
        Sheet name; default the 冲突台账 sheet when there is one (a run's ``tables.xlsx``),
        else the first sheet.
    decisions_only
        Read only what :func:`merge_decisions` uses — the id, pairs and decision columns (the
        others are left empty) — in about a third of the time: the cells of the other columns
        are dropped from the sheet before openpyxl parses it (a sheet whose cells this cannot
        place safely is read whole).

    Returns
    -------
    pandas.DataFrame
        The ledger, columns :data:`LEDGER_COLUMNS`; an earlier pair-based ledger (one row per
        conflict pair, id column :data:`PAIR_ID`) is read with :data:`PAIR_LEDGER_COLUMNS` so
        :func:`merge_decisions` can carry its decisions over. ``attrs["unit"]`` is ``"patch"``
        or ``"pair"``.

    Raises
    ------
    DataError
        The file cannot be read, its columns differ from the expected ones (named), an id is
        empty or repeated, or an adjustment is not one of :data:`ADJUSTMENTS` (rows named).
    """
    where = str(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise DataError(f"cannot read ledger {where}: {exc}. Fix: give an .xlsx file") from exc
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise DataError(
                f"ledger {where} has no sheet {sheet!r} (has: {', '.join(wb.sheetnames)})"
            )
        if sheet is None and "冲突台账" in wb.sheetnames:  # a run's tables.xlsx
            sheet = "冲突台账"
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        if decisions_only:
            _keep_decision_cells(ws)
        rows = list(ws.iter_rows(values_only=True))
    finally:
        wb.close()
    if not rows:
        raise DataError(f"ledger {where} is empty. Fix: write it with write_ledger")
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    while header and header[-1] == "":
        header.pop()
    body = [list(r[: len(header)]) for r in rows[1:] if any(v is not None for v in r)]
    df = pd.DataFrame(body, columns=header)
    unit = _unit(df.columns)
    expected, id_col = (PAIR_LEDGER_COLUMNS, PAIR_ID) if unit == "pair" else (LEDGER_COLUMNS, ID)
    _check_columns(df.columns, where, expected)
    df = df[expected]
    ids = df[id_col]
    excel_rows = np.arange(len(df)) + 2
    empty = ids.map(_blank).astype(bool)
    if empty.any():
        raise DataError(
            f"ledger {where}: empty {id_col} in row(s) "
            f"{', '.join(map(str, excel_rows[empty]))}. "
            "Fix: restore the ids (do not edit the id column)"
        )
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise DataError(
            f"ledger {where}: repeated {id_col} {', '.join(sorted(set(ids[dup].astype(str))))} "
            f"in row(s) {', '.join(map(str, excel_rows[dup]))}. Fix: keep each conflict once"
        )
    adj = df[ADJUSTMENT].map(lambda v: None if _blank(v) else str(v).strip()).astype(object)
    bad = adj.notna() & ~adj.isin(ADJUSTMENTS)
    if bad.any():
        listing = ", ".join(
            f"row {r} ({i}: {v!r})"
            for r, i, v in zip(excel_rows[bad], ids[bad], adj[bad], strict=True)
        )
        raise DataError(
            f"ledger {where}: {ADJUSTMENT} not allowed in {listing}. "
            f"Fix: use one of {', '.join(ADJUSTMENTS)} or leave it empty"
        )
    df[ADJUSTMENT] = adj
    df = df.reset_index(drop=True)
    df.attrs["unit"] = unit
    return df


#: A cell of a sheet's XML without its reference (``r="B12"``): placed by its order alone.
_CELL_WITHOUT_REF = re.compile(rb"<c(?=[\s/>])(?![^>]*\br=)")
#: A plain inline string cell (one run of text): read as the same text in a ``str`` cell,
#: which openpyxl takes as it is instead of building a rich-text object per cell.
_INLINE_TEXT = re.compile(
    rb'(<c\b[^>]*?) t="inlineStr"><is><t(?: xml:space="preserve")?>([^<]+)</t></is></c>'
)


def _keep_decision_cells(ws: Any) -> None:
    """Make the read-only sheet *ws* parse only the header row and the columns
    :func:`merge_decisions` reads (ids, pairs, decisions): the cells of the other columns are
    cut from its XML before openpyxl reads it, so openpyxl still decodes every cell it returns
    (shared strings, numbers, dates; plain inline strings as the same text in a ``str``
    cell). Nothing is changed when a cell lacks its reference (its place would shift) or the
    sheet cannot be opened this way."""
    try:
        header = next(ws.iter_rows(max_row=1, values_only=True), ())
        with ws._get_source() as src:  # openpyxl's read-only sheet: its XML in the archive
            xml = src.read()
    except Exception:  # an openpyxl without these internals: read the whole sheet
        return
    needed = {ID, PAIR_ID, PAIRS, *DECISION_COLUMNS}
    drop = [
        get_column_letter(i + 1)
        for i, h in enumerate(header)
        if h is None or str(h).strip() not in needed
    ]
    if not drop or _CELL_WITHOUT_REF.search(xml):
        return
    columns = b"|".join(c.encode("ascii") for c in drop)
    # the cells of the dropped columns, except those of row 1 (the header is checked)
    cut = re.compile(
        rb'<c\b[^>]*?\br="(?:' + columns + rb')(?!1")[0-9]+"[^>]*?(?:/>|>.*?</c>)', re.S
    )
    xml = _INLINE_TEXT.sub(rb'\1 t="str"><v>\2</v></c>', cut.sub(b"", xml))
    ws._get_source = lambda: io.BytesIO(xml)


def _decisions(ledger: pd.DataFrame) -> list[tuple[object, ...] | None]:
    """The decision columns of each row (blanks as None); ``None`` where nothing is filled in."""
    columns = []
    for c in DECISION_COLUMNS:
        values = ledger[c].astype(object).tolist()
        columns.append([None if b else v for v, b in zip(values, blank_mask(values), strict=True)])
    return [None if all(v is None for v in row) else row for row in zip(*columns, strict=True)]


def merge_decisions(
    new_ledger: pd.DataFrame, old_ledger: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Carry the decisions of an earlier ledger over to a new one.

    A patch keeps the decisions of the earlier ledger's row with the same patch id. Otherwise
    (the patch is new, or the earlier ledger was pair-based) it takes the decisions filled in
    for the pairs inside it — from a pair-based ledger's rows, or from the earlier patches that
    held those pairs — when all of them agree; when they disagree, nothing is carried over and
    the patch is reported as ambiguous.

    Parameters
    ----------
    new_ledger
        The ledger of the current run (:func:`conflict_ledger`).
    old_ledger
        A filled-in ledger (:func:`read_ledger`): patch-based, or pair-based (earlier versions).

    Returns
    -------
    tuple
        ``(merged, report)``: the new ledger with decisions copied (a new frame), and
        ``{"kept": n patches with decisions carried over, "new": [patch ids with no earlier
        row], "gone": [earlier ids that match no patch], "gone_with_decisions": [those of
        them that carried a decision], "ambiguous": [patch ids whose pairs carry different
        decisions (not carried over)], "ambiguous_detail": {patch id: [pair or earlier
        patch ids with a decision]}}``.
    """
    _check_columns(new_ledger.columns, "new ledger")
    unit = _unit(old_ledger.columns)
    old_id = PAIR_ID if unit == "pair" else ID
    _check_columns(
        old_ledger.columns, "old ledger", PAIR_LEDGER_COLUMNS if unit == "pair" else None
    )
    merged = new_ledger.copy()
    chosen = {col: merged[col].astype(object).tolist() for col in DECISION_COLUMNS}
    old = old_ledger.drop_duplicates(old_id, keep="last").reset_index(drop=True)
    old_ids = old[old_id].astype(str).tolist()
    decisions = dict(zip(old_ids, _decisions(old), strict=True))
    # pair id -> [(earlier row id, its decision)]
    by_pair: dict[str, list[str]] = {}
    if unit == "pair":
        for i in old_ids:
            by_pair.setdefault(i, []).append(i)
    else:
        for i, pairs in patch_pairs(old).items():
            for c in pairs:
                by_pair.setdefault(c, []).append(i)
    new_ids = merged[ID].astype(str).tolist()
    new_pairs = patch_pairs(merged)
    used: set[str] = set()
    kept, fresh, ambiguous = 0, [], []
    detail: dict[str, list[str]] = {}
    for row, pid in enumerate(new_ids):
        if unit == "patch" and pid in decisions:
            sources = [pid]
        else:
            sources = sorted({o for c in new_pairs.get(pid, []) for o in by_pair.get(c, [])})
        used.update(sources)
        if not sources:
            fresh.append(pid)
            continue
        decided = {o: decisions[o] for o in sources if decisions[o] is not None}
        distinct = set(decided.values())
        if len(distinct) == 1:
            values = next(iter(distinct))
            for col, v in zip(DECISION_COLUMNS, values, strict=True):
                chosen[col][row] = v
            kept += 1
        elif len(distinct) > 1:
            ambiguous.append(pid)
            detail[pid] = sorted(decided)
    for col in DECISION_COLUMNS:
        merged[col] = pd.Series(chosen[col], index=merged.index, dtype=object)
    gone = sorted(set(old_ids) - used)
    report: dict[str, object] = {
        "kept": kept,
        "new": sorted(fresh),
        "gone": gone,
        "gone_with_decisions": [i for i in gone if decisions[i] is not None],
        "ambiguous": sorted(ambiguous),
        "ambiguous_detail": detail,
        "unit": unit,
    }
    return merged, report
