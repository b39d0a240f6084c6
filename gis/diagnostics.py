"""One diagnostics sink (诊断): every warning and every skipped stage of a run, recorded once.

Library code has one channel for things a planner should know: it emits
:class:`~fiveplans.errors.FiveplansWarning` (or :class:`~fiveplans.errors.StageSkipped` for a
stage skipped or reduced because an optional input is missing) with :func:`warnings.warn`.
Notebook users see them as ordinary Python warnings. A run passes one :class:`Diagnostics` through
load → analyse → write; :meth:`Diagnostics.capture` records what each stage emits, once, in order,
so the CLI output, ``summary.json`` (``warnings``, ``skipped``), ``tables.xlsx`` and the report
all show the same list.

>>> import warnings
>>> from fiveplans.errors import FiveplansWarning, StageSkipped
>>> diag = Diagnostics()
>>> with diag.capture("zones"):
...     warnings.warn("闭运算距离过大 closing distance is large", FiveplansWarning)
...     warnings.warn("闭运算距离过大 closing distance is large", FiveplansWarning)
>>> with diag.capture("farmland_balance"):
...     warnings.warn(StageSkipped("farmland_balance", "没有等别 no grades", "add GDDB"))
>>> len(diag.messages())
2
>>> diag.skipped_block()["farmland_balance"]["fix"]
'add GDDB'
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd

from fiveplans.errors import FiveplansWarning, StageSkipped

__all__ = ["TABLE_COLUMNS", "Diagnostic", "Diagnostics", "Skip"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Diagnostic:
    """One recorded warning: the stage that emitted it, its text and its kind."""

    stage: str
    message: str
    category: str = "FiveplansWarning"


@dataclass(frozen=True)
class Skip:
    """A stage skipped or reduced: why, and how to get it."""

    stage: str
    reason: str
    fix: str


@dataclass
class Diagnostics:
    """The run's sink of warnings and skipped stages.

    Parameters
    ----------
    echo
        Called with each new message as it is recorded (the CLI prints it), so what is shown
        equals what is recorded.
    """

    echo: Callable[[str], None] | None = None
    records: list[Diagnostic] = field(default_factory=list)
    skipped: dict[str, Skip] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set, repr=False)
    _shown: int = field(default=0, repr=False)
    _classes: dict[str, type[Warning]] = field(default_factory=dict, repr=False)

    def warn(
        self, message: str, *, stage: str = "run", category: type[Warning] = FiveplansWarning
    ) -> None:
        """Record a warning once (the same text twice is recorded once)."""
        text = str(message)
        self._classes.setdefault(category.__name__, category)
        if text in self._seen:
            if category is not FiveplansWarning:  # a log line first, then its warning: keep
                for i, d in enumerate(self.records):  # the warning's (more specific) kind
                    if d.message == text and d.category == FiveplansWarning.__name__:
                        self.records[i] = Diagnostic(d.stage, text, category.__name__)
                        break
            return
        self._seen.add(text)
        self.records.append(Diagnostic(stage, text, category.__name__))
        log.debug("[%s] %s", stage, text)
        if self.echo is not None:
            self.echo(text)

    def skip(self, stage: str, reason: str, fix: str) -> None:
        """Record a stage skipped or reduced, with a warning line that says so — once per stage
        (a second report about the same stage, e.g. from the library function that the run
        already knew would be reduced, is not repeated)."""
        if stage in self.skipped:
            log.debug("[%s] skipped again: %s", stage, reason)
            return
        self.skipped[stage] = Skip(stage, reason, fix)
        self.warn(str(StageSkipped(stage, reason, fix)), stage=stage, category=StageSkipped)

    def record(self, caught: Warning, *, stage: str) -> bool:
        """Record one caught warning; ``False`` when it is not one of fiveplans' own."""
        if isinstance(caught, StageSkipped):
            self.skip(caught.stage, caught.reason, caught.fix)
            return True
        if isinstance(caught, FiveplansWarning):
            self.warn(str(caught), stage=stage, category=type(caught))
            return True
        return False

    @contextmanager
    def capture(self, stage: str) -> Iterator[Diagnostics]:
        """Record every :class:`FiveplansWarning` emitted inside the block; others pass on.

        ``WARNING`` records of the ``fiveplans`` loggers are recorded too (and marked
        ``recorded``, so a handler that prints them can leave them to :attr:`echo`): what a
        planner is told is never lost, whichever channel a module still uses.
        """
        bridge = _LogBridge(self, stage)
        root = logging.getLogger("fiveplans")
        root.handlers.insert(0, bridge)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", FiveplansWarning)
                try:
                    yield self
                finally:
                    others = [w for w in caught if not self.record(w.message, stage=stage)]
        finally:
            if bridge in root.handlers:
                root.handlers.remove(bridge)
        for w in others:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def mark_shown(self) -> None:
        """The records so far were already shown: :meth:`replay` leaves them out."""
        self._shown = len(self.records)

    def replay(self) -> None:
        """Emit the records not shown yet as Python warnings (for a caller that passed no sink:
        a notebook user sees them as ordinary warnings, once)."""
        import fiveplans.errors as errors

        start, self._shown = self._shown, len(self.records)
        for d in self.records[start:]:
            if d.category == StageSkipped.__name__ and d.stage in self.skipped:
                s = self.skipped[d.stage]
                warnings.warn(StageSkipped(s.stage, s.reason, s.fix), stacklevel=3)
                continue
            category = self._classes.get(d.category) or getattr(
                errors, d.category, FiveplansWarning
            )
            if not (isinstance(category, type) and issubclass(category, FiveplansWarning)):
                category = FiveplansWarning
            warnings.warn(d.message, category, stacklevel=3)

    def extend(self, other: Diagnostics) -> None:
        """Add another sink's records (e.g. a worker process's) in order."""
        for s in other.skipped.values():
            self.skipped.setdefault(s.stage, s)
        for name, cls in other._classes.items():
            self._classes.setdefault(name, cls)
        for d in other.records:
            if d.message not in self._seen:
                self._seen.add(d.message)
                self.records.append(d)
                if self.echo is not None:
                    self.echo(d.message)

    def messages(self) -> list[str]:
        """Every recorded warning, in order (``summary.json`` ``warnings``)."""
        return [d.message for d in self.records]

    def skipped_block(self) -> dict[str, dict[str, str]]:
        """``summary.json`` ``skipped``: stage → reason and fix."""
        return {k: {"reason": s.reason, "fix": s.fix} for k, s in self.skipped.items()}

    def table(self) -> pd.DataFrame:
        """The 警告与跳过 (warnings and skipped stages) table: one row per recorded message,
        in order; a skipped stage carries its reason and fix."""
        rows = []
        for d in self.records:
            skip = self.skipped.get(d.stage) if d.category == StageSkipped.__name__ else None
            rows.append(
                {
                    "阶段 stage": d.stage,
                    "类别 kind": "跳过/简化 skipped" if skip is not None else "警告 warning",
                    "原因 reason": skip.reason if skip is not None else "",
                    "解决 fix": skip.fix if skip is not None else "",
                    "消息 message": d.message,
                }
            )
        return pd.DataFrame(rows, columns=TABLE_COLUMNS)

    def __len__(self) -> int:
        return len(self.records)


#: Columns of :meth:`Diagnostics.table` (the 警告与跳过 sheet).
TABLE_COLUMNS = ["阶段 stage", "类别 kind", "原因 reason", "解决 fix", "消息 message"]


class _LogBridge(logging.Handler):
    """Records ``WARNING`` log records of the ``fiveplans`` loggers into a sink."""

    def __init__(self, sink: Diagnostics, stage: str) -> None:
        super().__init__(level=logging.WARNING)
        self.sink, self.stage = sink, stage

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "recorded", False):
            return
        record.recorded = True
        self.sink.warn(record.getMessage(), stage=self.stage)
