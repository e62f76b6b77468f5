"""Exception hierarchy: every failure a user can cause has its own class and a one-line message."""

from __future__ import annotations


class MicrosimError(Exception):
    """Base class of all errors microsim raises on purpose."""


class ConfigError(MicrosimError):
    """Invalid configuration: the message names the field, the value and what is allowed."""


class GeometryError(MicrosimError):
    """A geometry that cannot be built (unreachable fraction, bad particle file, no contact...)."""


class ConvergenceError(MicrosimError):
    """The nonlinear or linear solver failed."""


class SolutionError(MicrosimError):
    """A solution that must not be written (NaN/Inf, violated bounds)."""


class TableRangeError(MicrosimError):
    """The salt concentration left the range of the electrolyte's property table (no extrapolation)."""


class ResourceError(MicrosimError):
    """A run that would not fit the machine (its estimated memory); ``--force`` runs it anyway."""


class Interrupted(MicrosimError):
    """A run stopped on request (SIGTERM/SIGUSR1 from a batch system, or ``--max-wall-time``) after saving its state.

    The command line exits with :data:`EXIT_INTERRUPTED`; ``--restart`` (or rerunning a sweep) continues.
    """


#: Exit status of a run that stopped on request with its state saved (``EX_TEMPFAIL``: try again later).
EXIT_INTERRUPTED = 75


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (whitespace runs, newlines included, become one space)."""
    return " ".join(str(exc).split())
