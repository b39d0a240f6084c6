"""``fiveplans.xlsx.write_workbook``: what it writes reads back (openpyxl, pandas) as pandas'
own openpyxl writer's workbook does, with the ledger sheet's look (drop-down, frozen panes,
bold header, header comment, widths), in constant memory."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from fiveplans.errors import DataError
from fiveplans.xlsx import MAX_TEXT, DropDown, SheetFormat, write_workbook


def _mixed(n: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1e6, n)
    x[3] = np.nan
    x[4] = 1e-300
    x[5] = 0.1 + 0.2  # needs 17 digits to read back exactly
    return pd.DataFrame(
        {
            "冲突编号 id": [f"PM-{i:012x}" for i in range(n)],
            "area": x,
            "count": np.arange(n, dtype=np.int64) * 10**12,
            "flag": rng.random(n) < 0.5,
            "text": ["a < b & c > d", " lead", "trail ", None, "中文 UTF-8", "x\x01y"]
            + ["t"] * (n - 6),
            "mixed": pd.Series([1, 2.5, "s", None, True, np.nan] + [np.int64(7)] * (n - 6)),
            "nullable": pd.array([1, None] * (n // 2), dtype="Int64"),
        }
    )


def test_values_read_back_as_written(tmp_path) -> None:
    frame = _mixed()
    path = write_workbook(tmp_path / "t.xlsx", [("表 one", frame), ("empty", frame.iloc[:0])])
    back = pd.read_excel(path, sheet_name=None)
    assert list(back) == ["表 one", "empty"]
    got = back["表 one"]
    assert list(got.columns) == list(frame.columns)
    np.testing.assert_array_equal(got["area"].to_numpy(), frame["area"].to_numpy())  # exact
    assert got["area"][5] == 0.1 + 0.2
    assert list(got["count"]) == list(frame["count"])
    assert list(got["flag"]) == list(frame["flag"])
    assert list(got["text"][:6].fillna("∅")) == ["a < b & c > d", " lead", "trail ", "∅",
                                                 "中文 UTF-8", "xy"]  # fmt: skip
    assert got["mixed"][0] == 1 and got["mixed"][1] == 2.5 and got["mixed"][2] == "s"
    assert pd.isna(got["mixed"][3]) and got["mixed"][4] is True and pd.isna(got["mixed"][5])
    assert list(got["nullable"][:4].fillna(-1)) == [1, -1, 1, -1]
    assert list(back["empty"].columns) == list(frame.columns) and len(back["empty"]) == 0


def test_same_as_the_openpyxl_writer(tmp_path) -> None:
    frame = _mixed().drop(columns=["text", "mixed"])  # cleaned / typed the same way by both
    frame["when"] = [dt.date(2024, 1, 1).isoformat()] * len(frame)
    ours = write_workbook(tmp_path / "a.xlsx", [("s", frame)])
    with pd.ExcelWriter(tmp_path / "b.xlsx", engine="openpyxl") as xl:
        frame.to_excel(xl, sheet_name="s", index=False)
    pd.testing.assert_frame_equal(pd.read_excel(ours), pd.read_excel(tmp_path / "b.xlsx"))


def test_ledger_look(tmp_path) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "area": [1.0, 2.0], "调整类型 adjustment": [None, ""]})
    fmt = SheetFormat(
        freeze=(1, 1),
        widths={"id": 30},
        drop_downs=[
            DropDown("调整类型 adjustment", ["基本农田调整", "规划调整"], "调整类型", "请选择")
        ],
        comments={"area": "行可能重叠 rows may overlap"},
    )
    path = write_workbook(
        tmp_path / "l.xlsx", [("冲突台账 ledger", frame)], formats={"冲突台账 ledger": fmt}
    )
    wb = load_workbook(path)
    ws = wb["冲突台账 ledger"]
    assert ws.freeze_panes == "B2"
    assert ws["A1"].font.b and ws["C1"].value == "调整类型 adjustment"
    assert ws["B1"].comment is not None and "overlap" in ws["B1"].comment.text
    assert math.isclose(ws.column_dimensions["A"].width, 30, abs_tol=1)
    (check,) = ws.data_validations.dataValidation
    assert check.type == "list" and check.formula1 == '"基本农田调整,规划调整"'
    assert str(check.sqref) == "C2:C1003"  # the rows, then 1000 more for rows added by hand
    assert check.error == "请选择"
    assert ws.max_row == 3 and ws["A3"].value == "b" and ws["C2"].value is None


def test_long_text_cut_and_too_many_rows(tmp_path) -> None:
    frame = pd.DataFrame({"t": ["x" * (MAX_TEXT + 10)]})
    back = pd.read_excel(write_workbook(tmp_path / "t.xlsx", [("t", frame)]))
    assert len(back["t"][0]) == MAX_TEXT
    big = pd.DataFrame({"i": np.zeros(1_048_576, dtype=np.int8)})
    with pytest.raises(DataError, match=r"results\.gpkg"):
        write_workbook(tmp_path / "big.xlsx", [("big", big)])
    assert not (tmp_path / "big.xlsx").exists()
