"""Progress of long studies: a tqdm bar on a terminal, a line at a steady wall-time interval in batch jobs.

A cluster job has no terminal: its log is the only sign of life. Every long study (discharge, rate, impedance,
the salt relaxation of the resistance study, the conduction solves of the effective study) therefore reports
through :class:`ProgressLog`, which prints on rank 0 only

* on a terminal: a tqdm bar with the same fields;
* otherwise: one line whenever at least ``interval_s`` of wall time has passed since the start or the last line,
  and a last line at the end of a task that printed any (a task shorter than the interval stays quiet), e.g.
  ``microsim: CC discharge 1C: 42 %  t = 1512 s  step 31  V = 3.2190 V  Newton 4  Krylov 71  elapsed 2m31s
  ETA 3m28s``.

Printing is local to rank 0 and never collective. What must be decided alike on every rank (writing a checkpoint
or refreshing ``timeseries.csv``, both collective) uses :class:`WallClock`, whose decision rank 0 takes and
broadcasts. This module does not import DOLFINx.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mpi4py import MPI
    from tqdm import tqdm


def format_duration(seconds: float) -> str:
    """``95`` → ``1m35s``; ``3725`` → ``1h02m``; under a minute with one decimal."""
    if seconds != seconds or seconds < 0 or seconds == float("inf"):  # NaN, negative or unknown
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def eta_s(elapsed_s: float, fraction: float) -> float:
    """Remaining wall time if progress stays proportional to elapsed time (inf before any progress).

    :class:`ProgressLog` uses the pace since its previous line instead, once it has one.
    """
    if fraction <= 0.0:
        return float("inf")
    return max(0.0, elapsed_s * (1.0 - min(fraction, 1.0)) / fraction)


class ProgressLog:
    """Progress of one long task on rank 0 (module docstring).

    Args:
        comm: the task's communicator (only its rank is read: nothing here is collective).
        label: what runs, e.g. ``"CC discharge 1C"`` or ``"impedance"``.
        interval_s: wall seconds between lines without a terminal; 0 prints every update.
        stream: where lines go (default ``sys.stdout``).
        tty: force the terminal (bar) or batch (lines) behaviour; default: ``stream.isatty()``.
        clock: wall-clock seconds (tests pass their own).
    """

    def __init__(
        self,
        comm: MPI.Comm,
        label: str,
        interval_s: float = 30.0,
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rank0 = comm.rank == 0
        self.label = label
        self.interval_s = float(interval_s)
        self.stream = stream if stream is not None else sys.stdout
        self.tty = self.rank0 and (self.stream.isatty() if tty is None else tty)
        self.clock = clock
        self.t_start = clock()
        self._t_last = self.t_start
        self._f_last = 0.0
        self._bar: tqdm | None = None
        self.lines = 0

    @property
    def elapsed_s(self) -> float:
        """Wall time since this log was made."""
        return self.clock() - self.t_start

    def update(self, fraction: float, fields: Mapping[str, str], final: bool = False) -> None:
        """Report progress ``fraction`` in [0, 1] with ``fields`` (name → formatted value).

        Args:
            fraction: rough progress of the task.
            fields: shown after the percentage, in order, as ``name value``.
            final: the last update of the task (always printed).
        """
        if not self.rank0:
            return
        elapsed = self.elapsed_s
        text = "  ".join(f"{k} {v}" if k else v for k, v in fields.items())
        if self.tty:
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(total=100, desc=self.label, unit="%", leave=False, file=self.stream)
            self._bar.n = round(100 * min(max(fraction, 0.0), 1.0))
            self._bar.set_postfix_str(text)
            self._bar.refresh()
            return
        now = self.clock()
        due = now - self._t_last >= self.interval_s
        if not (due or (final and self.lines > 0)):
            return
        if final:
            eta = 0.0
        elif fraction > self._f_last and now > self._t_last:
            # the pace since the last line: time steps grow as a run settles, so the whole-run average is pessimistic
            eta = (1.0 - min(fraction, 1.0)) * (now - self._t_last) / (fraction - self._f_last)
        else:
            eta = eta_s(elapsed, fraction)
        self._t_last, self._f_last = now, fraction
        print(
            f"microsim: {self.label}: {100 * fraction:3.0f} %  {text}  elapsed {format_duration(elapsed)}  "
            f"ETA {format_duration(eta)}",
            file=self.stream,
            flush=True,
        )
        self.lines += 1

    def close(self) -> None:
        """Close the bar (if any)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class WallClock:
    """A wall-time interval that every rank sees expire at the same call (rank 0 decides, all follow).

    Args:
        comm: the communicator whose ranks must agree (each :meth:`due` is one broadcast on it).
        interval_s: wall seconds; 0 or less: never due.
    """

    def __init__(self, comm: MPI.Comm, interval_s: float) -> None:
        self.comm = comm
        self.interval_s = float(interval_s)
        self._t_last = time.monotonic()

    def due(self) -> bool:
        """Whether the interval has passed since the last time this returned True (collective)."""
        if self.interval_s <= 0:
            return False
        now = time.monotonic()
        hit = self.comm.bcast(now - self._t_last >= self.interval_s if self.comm.rank == 0 else None, root=0)
        if hit:
            self._t_last = now
        return bool(hit)


__all__ = ["ProgressLog", "WallClock", "eta_s", "format_duration"]
