"""Observers of a protocol run: field snapshots, checkpoints and progress lines.

:class:`~microsim.studies.discharge.DischargeCell` hands them to the
:class:`~microsim.studies.stepping.ProtocolRunner`, which calls them after each accepted time step; all of them
are collective and decide alike on every rank.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dolfinx_solver  # noqa: F401

import dolfinx
from mpi4py import MPI

from microsim import checkpoint, interrupt
from microsim.errors import Interrupted
from microsim.field_output import merge_time_series
from microsim.outputs import run_on_root
from microsim.progress import ProgressLog, WallClock
from microsim.studies.common import make_out_dir, physical_fields
from microsim.studies.stepping import ProtocolRunner, Record, Step

if TYPE_CHECKING:
    from microsim.studies.discharge import DischargeCell


class Snapshots:
    """A few field snapshots in time (``fields_series/particles.xdmf``, ``electrolyte.xdmf``); collective."""

    def __init__(self, cell: DischargeCell, out_dir: Path, n: int, t0: float = 0.0, fraction0: float = 0.0) -> None:
        self.cell = cell
        self.n = n
        self.files: dict[str, Any] = {}
        self.paths: list[Path] = []
        self.next_fraction = 0.0
        if n <= 0:
            return
        folder = make_out_dir(cell.comm, Path(out_dir) / "fields_series")
        groups = physical_fields(cell.model)
        for group, funcs in groups.items():
            self.paths.append(folder / f"{group}.xdmf")
            xf = dolfinx.io.XDMFFile(cell.comm, str(self.paths[-1]), "w")
            xf.write_mesh(funcs[0].function_space.mesh)
            self.files[group] = xf
        # a restarted run starts a new series at the restart time (XDMF files cannot be appended to safely)
        self.write(t0)
        self.next_fraction = 1.0 / n
        while self.next_fraction <= fraction0:
            self.next_fraction += 1.0 / n

    def write(self, t: float) -> None:
        """Write every field at time ``t``."""
        for group, funcs in physical_fields(self.cell.model).items():
            for f in funcs:
                self.files[group].write_function(f, float(t))

    def maybe_write(self, t: float, fraction: float, final: bool) -> None:
        """Write when the step's progress passed the next 1/n mark (the same decision on every rank)."""
        if not self.files:
            return
        if final or fraction >= self.next_fraction:
            self.write(t)
            while self.next_fraction <= fraction:
                self.next_fraction += 1.0 / self.n

    def close(self) -> None:
        """Close the XDMF files (collective), then lay each out as one time series meshio and ParaView read."""
        if not self.files:
            return
        paths = self.paths
        for xf in self.files.values():
            xf.close()
        self.files = {}
        self.cell.comm.barrier()  # every rank has closed its part before rank 0 rewrites the XML

        def merge() -> None:
            for path in paths:
                merge_time_series(path)

        run_on_root(self.cell.comm, merge)


class Checkpointer:
    """Writes ``checkpoint.npz`` (and refreshes ``timeseries.csv``) while a run goes on.

    Due after ``study.checkpoint_interval_s`` simulated seconds, ``study.checkpoint_every_steps`` accepted time
    steps, or ``study.checkpoint_wall_interval_s`` of wall time. The first two count what every rank shares; the
    wall time is decided by rank 0 and broadcast (:class:`~microsim.progress.WallClock`): all ranks decide alike
    and write (a collective call) together.
    """

    def __init__(
        self,
        cell: DischargeCell,
        path: Path,
        keys: dict[str, checkpoint.NodeKeys] | None,
        extra: dict[str, Any],
        t0: float,
    ) -> None:
        self.cell = cell
        self.path = path
        self.keys = keys
        self.extra = extra
        self.interval = float(cell.cfg.study.checkpoint_interval_s)
        self.every = int(cell.cfg.study.checkpoint_every_steps)
        self.wall = WallClock(cell.comm, cell.cfg.study.checkpoint_wall_interval_s)
        self.next_time = t0 + self.interval
        self.steps = 0
        self.written = 0

    def __call__(self, runner: ProtocolRunner) -> None:
        """After an accepted time step: write if due; on a stop request, write and raise.

        Raises:
            Interrupted: A rank was asked to stop (:mod:`microsim.interrupt`), after the checkpoint is written.
        """
        reason = interrupt.requested(self.cell.comm)
        if reason is not None:
            self.write(runner)
            self.cell.write_timeseries(self.path.parent, runner.records[: runner.state()["n_records"]])
            raise Interrupted(
                f"{reason}: stopped at t = {runner.time_s:.6g} s with its state in {self.path}; "
                "`microsim run ... --restart` continues it (a sweep, calibration or paper run: the same command again)"
            )
        self.steps += 1
        due_time = self.interval > 0 and runner.time_s >= self.next_time
        due_steps = self.every > 0 and self.steps >= self.every
        if self.wall.due():
            # a long run keeps what it computed visible and restartable, whatever its step sizes
            self.write(runner)
            self.cell.write_timeseries(self.path.parent, runner.records[: runner.state()["n_records"]])
        elif due_time or due_steps:
            self.write(runner)

    def write(self, runner: ProtocolRunner) -> None:
        """Write the runner's last accepted state now."""
        t = time.perf_counter()
        c = self.cell
        checkpoint.save(self.path, c.comm, c.model, c.cfg, runner.state(), self.extra, self.keys)
        c.timer.add("checkpoint_s", time.perf_counter() - t)
        self.written += 1
        self.steps = 0
        if self.interval > 0:
            while self.next_time <= runner.time_s:
                self.next_time += self.interval


class ProtocolProgress:
    """Progress of a protocol run (:class:`~microsim.progress.ProgressLog`) plus the field snapshots."""

    def __init__(self, comm: MPI.Comm, label: str, snapshots: Snapshots | None, n_steps: int, interval_s: float):
        self.log = ProgressLog(comm, label, interval_s)
        self.snapshots = snapshots
        self.n_steps = max(n_steps, 1)
        self.time_steps = 0

    def __call__(self, rec: Record, step: Step, fraction: float) -> None:
        """After an accepted time step: a snapshot if due, and a progress line."""
        if self.snapshots is not None:
            self.snapshots.maybe_write(rec.time_s, fraction, False)
        self.time_steps += 1
        fields = {} if self.n_steps == 1 else {"": f"step {rec.step_index + 1}/{self.n_steps} ({step.label})"}
        fields.update(
            {
                "t": f"{rec.time_s:.6g} s",
                "time step": str(self.time_steps),
                "dt": f"{rec.dt_s:.3g} s",
                "V": f"{rec.voltage_V:.4f} V",
                "Newton": str(rec.newton_iterations),
                "Krylov": str(rec.krylov_iterations),
            }
        )
        self.log.update((rec.step_index + fraction) / self.n_steps, fields)

    def close(self) -> None:
        """End the progress display."""
        self.log.close()


__all__ = ["Checkpointer", "ProtocolProgress", "Snapshots"]
