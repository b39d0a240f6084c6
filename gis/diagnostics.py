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

__all__ = ["Diagnostic", "Diagnostics", "Skip"]

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

    def warn(
        self, message: str, *, stage: str = "run", category: type[Warning] = FiveplansWarning
    ) -> None:
        """Record a warning once (the same text twice is recorded once)."""
        text = str(message)
        if text in self._seen:
            return
        self._seen.add(text)
        self.records.append(Diagnostic(stage, text, category.__name__))
        log.debug("[%s] %s", stage, text)
        if self.echo is not None:
            self.echo(text)

    def skip(self, stage: str, reason: str, fix: str) -> None:
        """Record a stage skipped or reduced, with a warning line that says so."""
        item = StageSkipped(stage, reason, fix)
        if stage not in self.skipped:
            self.skipped[stage] = Skip(stage, reason, fix)
        self.warn(str(item), stage=stage, category=StageSkipped)

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
        """Record every :class:`FiveplansWarning` emitted inside the block; others pass on."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FiveplansWarning)
            try:
                yield self
            finally:
                others = [w for w in caught if not self.record(w.message, stage=stage)]
        for w in others:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def extend(self, other: Diagnostics) -> None:
        """Add another sink's records (e.g. a worker process's) in order."""
        for s in other.skipped.values():
            self.skipped.setdefault(s.stage, s)
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
        """The 警告与跳过 (warnings and skipped stages) table."""
        return pd.DataFrame(
            [
                {
                    "stage": d.stage,
                    "kind": "skipped" if d.category == StageSkipped.__name__ else "warning",
                    "message": d.message,
                    "fix": self.skipped[d.stage].fix
                    if d.category == StageSkipped.__name__ and d.stage in self.skipped
                    else "",
                }
                for d in self.records
            ],
            columns=["stage", "kind", "message", "fix"],
        )
