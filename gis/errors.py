"""Errors and warnings of fiveplans.

Every error a planner can cause (a bad config, a broken file) subclasses :class:`FiveplansError`
and a builtin, and carries a finished message that names the file, layer, feature and the fix.
The CLI prints that message without a traceback and exits with :attr:`FiveplansError.exit_code`.
"""

from __future__ import annotations

__all__ = [
    "CRSError",
    "CRSWarning",
    "ConfigError",
    "DataError",
    "FiveplansError",
    "FiveplansWarning",
    "NotYetAvailableError",
    "StageSkipped",
]


class FiveplansError(Exception):
    """Base class of errors a user can fix; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class ConfigError(FiveplansError, ValueError):
    """The pilot YAML or a command-line option is wrong (exit 2)."""

    exit_code = 2


class DataError(FiveplansError, ValueError):
    """An input file cannot be read or makes no sense (exit 1)."""


class CRSError(DataError):
    """A coordinate reference system is missing, unknown or inconsistent."""


class NotYetAvailableError(FiveplansError, RuntimeError):
    """A capability the toolkit does not have yet was asked for."""


class FiveplansWarning(UserWarning):
    """Something was guessed or repaired; the result may need a look."""


class CRSWarning(FiveplansWarning):
    """A CRS was detected, assumed or shifted without published parameters."""


class StageSkipped(FiveplansWarning):
    """A stage of the analysis was skipped or run in a reduced form because an optional input is
    missing (CONTRACT §2). Carries the ``stage``, the ``reason`` and the ``fix``; the run's
    diagnostics sink records it in ``summary.json`` ``skipped``.

    Library code raises it as a warning: ``warnings.warn(StageSkipped(stage, reason, fix))``.
    """

    def __init__(self, stage: str, reason: str, fix: str) -> None:
        self.stage = stage
        self.reason = reason
        self.fix = fix
        super().__init__(f"{stage}: 已跳过或简化 skipped or reduced — {reason} 解决 Fix: {fix}")

    def __reduce__(self):  # picklable across processes (batch workers)
        return (type(self), (self.stage, self.reason, self.fix))
