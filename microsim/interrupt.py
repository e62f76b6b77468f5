"""Stopping a run on request, with its state saved: batch-system signals and a wall-time limit.

SLURM sends SIGTERM (or the signal given with ``sbatch --signal=B:USR1@300``) before it kills a job at its time
limit. :func:`install` turns SIGTERM and SIGUSR1 into a flag, and ``--max-wall-time`` into a deadline; nothing
stops at once. PETSc and Gmsh replace the handlers when they start, so :func:`rearm` takes them back once the
mesh exists (a signal while Gmsh meshes still ends the process, as a kill would: the case runs again).

The transient studies ask :func:`requested` after every accepted time step (a collective call on their
communicator, so every rank stops at the same step even when only some got the signal), write a checkpoint and
raise :class:`~microsim.errors.Interrupted`; a sweep starts no new case once asked. The steady studies finish
what they do (they take minutes, not hours).

Pure Python; never imports DOLFINx.
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mpi4py import MPI

__all__ = ["SIGNALS", "install", "installed", "local_reason", "rearm", "requested", "reset"]

#: The signals that ask for a stop (SIGTERM: SLURM's default, also ``kill``; SIGUSR1: ``--signal=USR1@...``).
SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

_state: dict[str, object] = {"reason": None, "deadline": None, "installed": False}


def _handler(signum: int, frame: object) -> None:
    if _state["reason"] is None:
        _state["reason"] = f"{signal.Signals(signum).name} received"


def install(max_wall_time_s: float | None = None) -> None:
    """Catch :data:`SIGNALS` from now on, and stop after ``max_wall_time_s`` of wall time (``None``: no limit)."""
    for sig in SIGNALS:
        signal.signal(sig, _handler)
    _state["installed"] = True
    _state["deadline"] = None if max_wall_time_s is None else time.monotonic() + float(max_wall_time_s)


def rearm() -> None:
    """Take the signals back after a library replaced the handlers (no-op unless :func:`install` was called).

    PETSc's initialisation (the first ``import dolfinx``) and Gmsh's install C handlers that end the process on
    SIGTERM; the pipeline calls this once the mesh exists, before the long part of a run.
    """
    if _state["installed"]:
        for sig in SIGNALS:
            signal.signal(sig, _handler)


def reset() -> None:
    """Forget a request and the deadline, and restore the default handlers (tests)."""
    if _state["installed"]:
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
    _state.update(reason=None, deadline=None, installed=False)


def local_reason() -> str | None:
    """Why this process was asked to stop (``None``: it was not); not collective."""
    deadline = _state["deadline"]
    if _state["reason"] is None and isinstance(deadline, float) and time.monotonic() >= deadline:
        _state["reason"] = "the wall-time limit (--max-wall-time) was reached"
    reason = _state["reason"]
    return reason if isinstance(reason, str) else None


def requested(comm: MPI.Comm) -> str | None:
    """Whether any rank of ``comm`` was asked to stop, and why; collective (every rank gets the same answer)."""
    if not _state["installed"]:
        return None  # nothing was installed on any rank (the same configuration everywhere): no collective call
    reasons = comm.allgather(local_reason())
    return next((r for r in reasons if r is not None), None)


def installed() -> bool:
    """Whether :func:`install` was called (a study then checks for requests even without periodic checkpoints)."""
    return bool(_state["installed"])
