"""The conflict ledger (冲突台账): one row per conflict piece, for the districts to decide on.

Planning bureaus hand the conflicts to the district (区县) and township governments as an Excel
ledger: each piece with its id, type, area (m², 公顷, 亩), location and the two plans' parcels,
plus decision columns they fill in — the adjustment kind (调整类型: 基本农田调整, 开发边界调整,
生态红线调整 or 规划调整), the reason, the coordination method and the district's opinion.
:func:`merge_decisions` carries those decisions over to the ledger of a later run.
"""

from __future__ import annotations

import os
import tempfile
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from fiveplans.analysis.conflicts import TYPE_LABELS
from fiveplans.config import LAYER_NAMES_ZH
from fiveplans.errors import DataError

__all__ = [
    "ADJUSTMENTS",
    "DECISION_COLUMNS",
    "LEDGER_COLUMNS",
    "conflict_ledger",
    "merge_decisions",
    "read_ledger",
    "style_ledger_sheet",
    "write_ledger",
]

ID = "冲突编号 conflict_id"
ADJUSTMENT = "调整类型 adjustment"
_FIELDS = {
    "conflict_id": ID,
    "type": "类型 type",
    "area_m2": "面积(平方米) area m²",
    "area_ha": "面积(公顷) area ha",
    "area_mu": "面积(亩) area mu",
    "ellipsoidal_area_m2": "椭球面积(平方米) ellipsoidal area m²",
    "lon": "经度 longitude",
    "lat": "纬度 latitude",
    "district": "区县/乡镇 district",
    "plan_a": "规划A plan A",
    "plan_b": "规划B plan B",
    "source_a": "图斑编号A source A",
    "source_b": "图斑编号B source B",
    "code_a": "代码A code A",
    "code_b": "代码B code B",
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
ADJUSTMENTS = ("基本农田调整", "开发边界调整", "生态红线调整", "规划调整")
"""Allowed values of the adjustment column (empty: not decided yet)."""
PLAN_LABELS = {key: f"{name} {key}" for key, name in LAYER_NAMES_ZH.items()}
"""Plan labels in the ledger: the official Chinese name, then the layer key."""
_NUMERIC = ("area_m2", "area_ha", "area_mu", "ellipsoidal_area_m2", "lon", "lat")


def conflict_ledger(conflicts: pd.DataFrame) -> pd.DataFrame:
    """The ledger of a conflicts table, with empty decision columns.

    Parameters
    ----------
    conflicts
        The result of :func:`fiveplans.analysis.conflicts.find_conflicts`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LEGEND_COLUMNS` (bilingual names, 中文 first); types and plans as
        bilingual labels; areas rounded to 0.01 (m²) / 0.0001 (ha, 亩), coordinates to 1e-6°.
    """
    missing = [c for c in _FIELDS if c not in conflicts.columns]
    if missing:
        raise DataError(
            f"the conflicts table lacks column(s) {', '.join(missing)}. "
            "Fix: pass the result of fiveplans.analysis.find_conflicts"
        )
    out = pd.DataFrame(index=range(len(conflicts)))
    for key, label in _FIELDS.items():
        values = conflicts[key].reset_index(drop=True)
        if key == "type":
            values = values.map(lambda t: f"{TYPE_LABELS.get(t, t)} {t}")
        elif key in ("plan_a", "plan_b"):
            values = values.map(lambda p: PLAN_LABELS.get(p, p))
        elif key in _NUMERIC:
            digits = 6 if key in ("lon", "lat") else (2 if key.endswith("m2") else 4)
            values = values.astype(float).round(digits)
        out[label] = values.to_numpy()
    for label in DECISION_COLUMNS:
        out[label] = pd.Series([None] * len(out), dtype=object)
    return out


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


def _blank(value: object) -> bool:
    """None, NaN, pd.NA, NaT or blank text."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _cell(value: object) -> object:
    if _blank(value):
        return None
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_columns(columns: pd.Index, where: str) -> None:
    have = [str(c) for c in columns]
    unknown = [c for c in have if c not in LEDGER_COLUMNS]
    missing = [c for c in LEDGER_COLUMNS if c not in have]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        raise DataError(
            f"ledger {where}: {'; '.join(parts)}. Expected exactly: {', '.join(LEDGER_COLUMNS)}. "
            "Fix: keep the header row as written by fiveplans (rename or drop added columns)"
        )


def read_ledger(path: str | PathLike[str], *, sheet: str | None = None) -> pd.DataFrame:
    """Read and validate a ledger written by :func:`write_ledger` (and filled in by hand).

    Parameters
    ----------
    path
        The ``.xlsx``.
    sheet
        Sheet name; default the first sheet.

    Returns
    -------
    pandas.DataFrame
        The ledger, columns :data:`LEDGER_COLUMNS`.

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
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
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
    _check_columns(df.columns, where)
    df = df[LEDGER_COLUMNS]
    ids = df[ID]
    excel_rows = np.arange(len(df)) + 2
    empty = ids.map(_blank).astype(bool)
    if empty.any():
        raise DataError(
            f"ledger {where}: empty {ID} in row(s) {', '.join(map(str, excel_rows[empty]))}. "
            "Fix: restore the ids (do not edit the id column)"
        )
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise DataError(
            f"ledger {where}: repeated {ID} {', '.join(sorted(set(ids[dup].astype(str))))} in "
            f"row(s) {', '.join(map(str, excel_rows[dup]))}. Fix: keep each conflict once"
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
    return df.reset_index(drop=True)


def merge_decisions(
    new_ledger: pd.DataFrame, old_ledger: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Carry the decisions of an earlier ledger over to a new one, by conflict id.

    Parameters
    ----------
    new_ledger
        The ledger of the current run (its decision columns are overwritten where the old
        ledger has the same id).
    old_ledger
        A filled-in ledger (e.g. from :func:`read_ledger`).

    Returns
    -------
    tuple
        ``(merged, report)``: the new ledger with decisions copied (a new frame), and
        ``{"kept": n ids with decisions carried over, "new": [ids only in the new ledger],
        "gone": [ids only in the old ledger], "gone_with_decisions": [those of them that
        carried a decision]}``.
    """
    _check_columns(new_ledger.columns, "new ledger")
    _check_columns(old_ledger.columns, "old ledger")
    merged = new_ledger.copy()
    old = old_ledger.drop_duplicates(ID, keep="last").set_index(ID)
    new_ids = merged[ID].astype(str)
    old_ids = old.index.astype(str)
    match = new_ids.isin(old_ids).to_numpy()
    for col in DECISION_COLUMNS:
        merged[col] = merged[col].astype(object)
        values = old[col].reindex(merged.loc[match, ID]).to_numpy()
        merged.loc[match, col] = values
    decided = old[DECISION_COLUMNS].map(lambda v: not _blank(v)).any(axis=1)
    decided.index = decided.index.astype(str)
    gone = sorted(set(old_ids) - set(new_ids))
    carried = new_ids[match].map(lambda i: bool(decided.get(i, False)))
    report: dict[str, object] = {
        "kept": int(carried.sum()),
        "new": sorted(set(new_ids) - set(old_ids)),
        "gone": gone,
        "gone_with_decisions": sorted(i for i in gone if bool(decided.get(i, False))),
    }
    return merged, report
