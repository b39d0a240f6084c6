"""The diagnostics sink: every warning and skipped stage of a run recorded once, in order."""

from __future__ import annotations

import logging
import warnings

import pytest

from fiveplans.diagnostics import TABLE_COLUMNS, Diagnostics
from fiveplans.errors import CRSWarning, FiveplansWarning, StageSkipped


def test_capture_records_once_in_order_and_echoes() -> None:
    shown: list[str] = []
    diag = Diagnostics(echo=shown.append)
    with diag.capture("load"):
        warnings.warn("a", CRSWarning, stacklevel=2)
        warnings.warn("b", FiveplansWarning, stacklevel=2)
        warnings.warn("a", CRSWarning, stacklevel=2)
    with diag.capture("zones"):
        warnings.warn("b", FiveplansWarning, stacklevel=2)
    assert diag.messages() == ["a", "b"] == shown
    assert [d.stage for d in diag.records] == ["load", "load"]
    assert diag.records[0].category == "CRSWarning"


def test_other_warnings_pass_on() -> None:
    diag = Diagnostics()
    with pytest.warns(DeprecationWarning, match="old"), diag.capture("x"):
        warnings.warn("old", DeprecationWarning, stacklevel=2)
    assert diag.messages() == []


def test_a_stage_is_skipped_once() -> None:
    diag = Diagnostics()
    diag.skip("farmland_balance", "没有等别 no grades", "add GDDB")
    with diag.capture("farmland_balance"):
        warnings.warn(StageSkipped("farmland_balance", "other words", "other fix"), stacklevel=2)
    assert diag.skipped_block() == {
        "farmland_balance": {"reason": "没有等别 no grades", "fix": "add GDDB"}
    }
    assert len(diag.messages()) == 1 and diag.messages()[0].startswith("farmland_balance: ")
    table = diag.table()
    assert list(table.columns) == TABLE_COLUMNS
    assert table.iloc[0]["解决 fix"] == "add GDDB"


def test_log_warnings_of_the_package_are_recorded() -> None:
    diag = Diagnostics()
    with diag.capture("adjustments"):
        logging.getLogger("fiveplans.analysis.something").warning("shortfall %d ha", 17)
        logging.getLogger("fiveplans.analysis.something").info("detail")
    assert diag.messages() == ["shortfall 17 ha"]
    assert not [h for h in logging.getLogger("fiveplans").handlers if "Bridge" in type(h).__name__]


def test_replay_and_extend() -> None:
    worker = Diagnostics()
    with worker.capture("load"):
        warnings.warn("w", FiveplansWarning, stacklevel=2)
    worker.skip("logistics", "no roads", "add roads")
    main = Diagnostics()
    main.extend(worker)
    assert main.messages() == worker.messages() and main.skipped_block() == worker.skipped_block()
    with pytest.warns(FiveplansWarning) as caught:
        main.replay()
    assert [str(w.message) for w in caught] == main.messages()
    assert isinstance(caught[1].message, StageSkipped) and caught[1].message.stage == "logistics"
