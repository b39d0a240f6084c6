"""Streaming Excel workbooks (流式写出 Excel): many tables, county-sized, in little memory.

:func:`write_workbook` writes a list of tables as the sheets of one ``.xlsx`` with XlsxWriter in
its constant-memory mode: each row goes to disk as it is written, so memory does not grow with
the table (openpyxl holds every cell of the workbook as a Python object: about 4 GB for the
2.8 million cells of a county-sized run). Tables are turned into sheet XML a column at a time
(vectorised text formatting, not one Python call per cell), then handed to XlsxWriter's row
stream; XlsxWriter writes everything else (styles, frozen panes, column widths, drop-down lists,
header comments, the package).

Cells: numbers as numbers (shortest round-trip text, so a float reads back bit for bit),
booleans as booleans, text as inline strings (XML-escaped, characters XML forbids removed,
longer than Excel's 32,767 characters cut), missing values (``None``, NaN, NaT, ±inf) as empty
cells, dates and anything else as their text. Read the workbook back with openpyxl or pandas.

A sheet's look is a :class:`SheetFormat`: bold header, frozen panes, column widths, drop-down
lists (:class:`DropDown`, e.g. the ledger's 调整类型 column) and header comments.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fiveplans.errors import DataError
from fiveplans.io import atomic_path

__all__ = ["DropDown", "SheetFormat", "write_workbook"]

log = logging.getLogger(__name__)

MAX_ROWS = 1_048_576
"""Rows of an Excel sheet (the header included)."""
MAX_TEXT = 32_767
"""Characters of an Excel cell."""
_CHUNK = 20_000  # rows turned into XML at a time (bounded temporaries)
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1e\ufffe\uffff]")  # \x1f: our separator
_ILLEGAL_ALL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EDGE_SPACE = re.compile("\x1f[ \t\n\r\u3000]|[ \t\n\r\u3000]\x1f")


@dataclass(frozen=True)
class DropDown:
    """A drop-down list (数据验证) on one column: the values a cell may take.

    Attributes
    ----------
    column
        The column's header.
    values
        The allowed values (Excel limits the list to 255 characters in all).
    title, message
        Title and text of the message shown for a value not in the list.
    extra_rows
        Rows below the table that get the drop-down too (for rows added by hand).
    """

    column: str
    values: Sequence[str]
    title: str = ""
    message: str = ""
    extra_rows: int = 1000


@dataclass(frozen=True)
class SheetFormat:
    """How one sheet looks.

    Attributes
    ----------
    freeze
        ``(rows, columns)`` kept in view when scrolling; default the header row.
    widths
        Column header → width in characters; default: from the header's length (12 to 40).
    drop_downs
        Drop-down lists (:class:`DropDown`).
    comments
        Column header → a comment on the header cell.
    bold_header
        The header row in bold.
    """

    freeze: tuple[int, int] = (1, 0)
    widths: Mapping[str, float] | None = None
    drop_downs: Sequence[DropDown] = ()
    comments: Mapping[str, str] = field(default_factory=dict)
    bold_header: bool = True


def _column_letters(n: int) -> list[str]:
    out = []
    for i in range(n):
        name, k = "", i + 1
        while k:
            k, r = divmod(k - 1, 26)
            name = chr(65 + r) + name
        out.append(name)
    return out


def _escape(text: np.ndarray) -> np.ndarray:
    """XML text (object array of str): ``&``, ``<``, ``>`` escaped, characters XML forbids
    removed, cut to Excel's limit. Checked on the joined column first (one pass in C)."""
    joined = "\x1f".join(text.tolist())
    long = len(joined) > MAX_TEXT and any(len(x) > MAX_TEXT for x in text)
    bad = _ILLEGAL.search(joined) is not None or joined.count("\x1f") != len(text) - 1
    amp, lt, gt = "&" in joined, "<" in joined, ">" in joined
    if not (long or bad or amp or lt or gt):
        return text
    s = pd.Series(text, dtype=object)
    if long:
        s = s.str.slice(0, MAX_TEXT)
    if bad:
        s = s.str.replace(_ILLEGAL_ALL, "", regex=True)
    for flag, raw, esc in ((amp, "&", "&amp;"), (lt, "<", "&lt;"), (gt, ">", "&gt;")):
        if flag:
            s = s.str.replace(raw, esc, regex=False)
    return s.to_numpy(dtype=object)


def _numbers(x: np.ndarray) -> np.ndarray:
    """Shortest round-trip text of floats (what ``repr`` gives: read back bit for bit)."""
    return np.array(list(map(repr, x.tolist())), dtype=object)


def _cells(values: pd.Series, ref: np.ndarray) -> np.ndarray:
    """The ``<c>`` elements of one column (``ref``: the cell references), ``""`` where empty."""
    n = len(values)
    out = np.full(n, "", dtype=object)
    if n == 0:
        return out
    v = values
    if pd.api.types.is_bool_dtype(v.dtype) and not v.isna().any():
        b = v.to_numpy(dtype=bool)
        out[:] = np.where(b, "1", "0").astype(object)
        return '<c r="' + ref + '" t="b"><v>' + out + "</v></c>"
    if pd.api.types.is_numeric_dtype(v.dtype) and not isinstance(v.dtype, pd.CategoricalDtype):
        num = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(num)
        if pd.api.types.is_integer_dtype(v.dtype):
            text = v.astype(object).astype(str).to_numpy(dtype=object)  # exact beyond 2**53
            text = text[ok]
        else:
            text = _numbers(num[ok])
        out[ok] = '<c r="' + ref[ok] + '"><v>' + text + "</v></c>"
        return out
    obj = v.astype(object).to_numpy()
    missing = pd.isna(v).to_numpy()
    kinds = np.zeros(n, dtype=np.int8)  # 0 text, 1 number, 2 bool, 3 empty
    kinds[missing] = 3
    rest = np.flatnonzero(~missing)
    if len(rest) and pd.api.types.infer_dtype(obj[rest], skipna=False) != "string":
        types = [type(x) for x in obj[rest]]
        kinds[rest] = [
            2 if t is bool or t is np.bool_ else 1 if issubclass(t, int | float | np.number) else 0
            for t in types
        ]
    num = np.flatnonzero(kinds == 1)
    if len(num):
        x = np.array([float(obj[i]) for i in num])
        ok = np.isfinite(x)
        kinds[num[~ok]] = 3
        num = num[ok]
        text = np.array([repr(obj[i]) if isinstance(obj[i], int) else repr(float(obj[i]))
                         for i in num], dtype=object)  # fmt: skip
        out[num] = '<c r="' + ref[num] + '"><v>' + text + "</v></c>"
    flag = np.flatnonzero(kinds == 2)
    if len(flag):
        bits = np.array(["1" if obj[i] else "0" for i in flag], dtype=object)
        out[flag] = '<c r="' + ref[flag] + '" t="b"><v>' + bits + "</v></c>"
    txt = np.flatnonzero(kinds == 0)
    if len(txt):
        s = obj[txt]
        if not all(type(x) is str for x in s):
            s = np.array([str(x) for x in s], dtype=object)
        s = _escape(s)
        keep = np.array(list(map(len, s)), dtype=np.int64) > 0
        tag = "<t>"
        if _EDGE_SPACE.search("\x1f" + "\x1f".join(s.tolist()) + "\x1f"):
            tag = '<t xml:space="preserve">'  # keeps leading and trailing blanks
        cell = '<c r="' + ref[txt] + '" t="inlineStr"><is>' + tag + s
        out[txt[keep]] = (cell + "</t></is></c>")[keep]
    return out


def _rows_xml(frame: pd.DataFrame, first_row: int, letters: list[str]) -> str:
    """``<row>`` elements of ``frame`` starting at 0-based sheet row ``first_row``."""
    numbers = np.arange(first_row + 1, first_row + 1 + len(frame)).astype(str).astype(object)
    row = '<row r="' + numbers + '">'
    for j, name in enumerate(frame.columns):
        col = frame.iloc[:, j]
        row = row + _cells(col, letters[j] + numbers)
        del col, name
    return "".join(row + "</row>")


def _sheet(workbook, name: str, frame: pd.DataFrame, fmt: SheetFormat) -> None:
    """One sheet: header (with its look) through the XlsxWriter API, rows streamed."""
    import xlsxwriter.worksheet

    ws = workbook.add_worksheet(name)
    if not isinstance(ws, xlsxwriter.worksheet.Worksheet) or not ws.constant_memory:
        raise DataError(f"internal: sheet {name!r} is not in constant-memory mode")
    columns = [str(c) for c in frame.columns]
    n_cols = len(columns)
    if len(frame) + 1 > MAX_ROWS:
        raise DataError(
            f"表 {name!r} 行数超过 Excel 上限 — sheet {name!r} has {len(frame):,} rows, more than "
            f"an Excel sheet holds ({MAX_ROWS - 1:,}). 解决 Fix: use the GeoPackage outputs "
            "(results.gpkg) for tables of this size"
        )
    header = workbook.add_format({"bold": True}) if fmt.bold_header else None
    widths = dict(fmt.widths or {})
    for j, c in enumerate(columns):
        ws.set_column(j, j, widths.get(c, max(12, min(40, len(c) + 4))))
    if fmt.freeze != (0, 0):
        ws.freeze_panes(*fmt.freeze)
    for j, c in enumerate(columns):
        ws.write_string(0, j, c, header)
    for c, text in fmt.comments.items():
        if c in columns:
            ws.write_comment(0, columns.index(c), text, {"author": "fiveplans", "x_scale": 3})
    for dd in fmt.drop_downs:
        if dd.column not in columns:
            continue
        j = columns.index(dd.column)
        options = {
            "validate": "list",
            "source": list(dd.values),
            "ignore_blank": True,
            "show_error": True,
        }
        if dd.title:
            options["error_title"] = dd.title[:32]
        if dd.message:
            options["error_message"] = dd.message[:255]
        ws.data_validation(1, j, max(len(frame), 1) + dd.extra_rows, j, options)
    if len(frame) == 0 or n_cols == 0:
        return
    letters = _column_letters(n_cols)
    ws._write_single_row(1)  # the header row goes to the stream; rows follow in order
    for start in range(0, len(frame), _CHUNK):
        part = frame.iloc[start : start + _CHUNK]
        ws.fh.write(_rows_xml(part, 1 + start, letters))
    ws._check_dimensions(len(frame), n_cols - 1)
    ws.previous_row = len(frame)


def write_workbook(
    path: str | os.PathLike[str],
    sheets: Iterable[tuple[str, pd.DataFrame]],
    *,
    formats: Mapping[str, SheetFormat] | None = None,
) -> Path:
    """Write tables as the sheets of one ``.xlsx``, streaming (constant memory).

    Parameters
    ----------
    path
        The workbook to write (written beside it, then renamed: never half-written).
    sheets
        ``(sheet name, table)`` in order; the index is not written, a ``geometry`` column
        should be dropped first (it is written as text otherwise).
    formats
        Sheet name → :class:`SheetFormat`; the others get the default (bold frozen header).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import xlsxwriter

    formats = formats or {}
    target = Path(path)
    with atomic_path(target) as tmp:
        workbook = xlsxwriter.Workbook(
            str(tmp), {"constant_memory": True, "tmpdir": str(target.parent)}
        )
        try:
            for name, frame in sheets:
                _sheet(workbook, name, frame, formats.get(name, SheetFormat()))
        finally:
            workbook.close()
    log.debug("wrote %s", target)
    return target
