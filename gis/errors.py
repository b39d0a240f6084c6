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
