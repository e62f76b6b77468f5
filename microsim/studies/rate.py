"""Rate capability (``[study] kind = "rate"``): one CC discharge per C-rate, each from the same initial state.

The mesh, the model and the compiled forms are built once; before each rate the fields are reset to the
initial rest state (:meth:`DischargeCell.reset`). Per rate: capacity [mAh/g], energy [Wh/kg], mean voltage,
the overpotential breakdown and the limiting mechanism at the cut-off, and particle utilisation (see
:mod:`microsim.studies.discharge`). C80 and C50 are the C-rates at which the capacity falls to 80 % and 50 % of
the lowest-rate value, interpolated linearly in log C (docs/model.md §4.4); ``null`` when not reached within the rates.

Outputs: ``summary.json`` (``rate`` table), ``rate.csv``, ``runs/<rate>C/timeseries.csv`` (+ fields and
``fields_series``), ``voltage_capacity.png``, ``rate_capability.png``.

Nothing finished is lost: after each C-rate, ``rate.csv`` (one row per finished or failed rate, with its
``Status``) and ``summary.json`` (``rate.partial`` true while a rate failed or is still to run, ``rate.failed``
with each failure's reason, ``rate.pending``) are rewritten atomically. A C-rate whose time stepping fails for good
(or whose salt leaves the range of ``electrolyte.table``) is recorded and the others still run; the study then
ends with a :class:`~microsim.errors.ConvergenceError` that names the failures (exit status 2 from the command
line), after everything else is written.

Checkpoints are per rate (``runs/<rate>C/checkpoint.npz``, see :mod:`microsim.studies.discharge`); each rate also
leaves its final state there, and a failed one its last accepted state. A restart takes every rate that has a
checkpoint from it (a finished rate only rewrites its outputs from its final state, an unfinished or failed one
continues) and runs the others from the start.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import dolfinx_solver  # noqa: F401

from mpi4py import MPI

from microsim import checkpoint, outputs
from microsim.config import DEFAULT_C_RATES
from microsim.errors import ConfigError, ConvergenceError, SolutionError, TableRangeError
from microsim.studies.base import Study, StudyContext, StudyResult, Summary, run_with
from microsim.studies.common import make_out_dir
from microsim.studies.discharge import COLUMNS, DischargeCell
from microsim.studies.stepping import rate_at_fraction, steps_from_config

if TYPE_CHECKING:
    from microsim.config import Config


def run_label(c_rate: float) -> str:
    """Folder name of one rate's run, e.g. ``0.1C``."""
    return f"{c_rate:g}C"


class RateStudy(Study):
    """``study.kind = "rate"``: one CC discharge per C-rate from the same initial state, on one mesh and model."""

    kind: ClassVar[str] = "rate"

    def check(self, cfg: Config, out_dir: Path | None, comm: MPI.Comm, restart: bool) -> None:
        """A restart needs at least one rate's checkpoint of this configuration (checked before the mesh)."""
        self.rates = sorted(cfg.study.c_rates or DEFAULT_C_RATES)
        self.resume: set[str] = set()
        if not restart:
            return
        if out_dir is None:
            raise ConfigError("restart: needs the output folder that holds the checkpoints")
        for rate in self.rates:
            path = Path(out_dir) / "runs" / run_label(rate) / checkpoint.FILENAME
            if checkpoint.exists(path, comm):
                checkpoint.check(path, comm, cfg)  # before the mesh: fail fast
                self.resume.add(run_label(rate))
        if not self.resume:
            raise ConfigError(f"no checkpoint in {out_dir} (nor in {Path(out_dir) / 'runs'}/*)")

    def run(self, ctx: StudyContext) -> StudyResult:
        """Every rate in turn; a rate that fails is recorded and the others still run."""
        cfg, comm, out_dir, rates = ctx.cfg, ctx.comm, ctx.out_dir, self.rates
        cell = DischargeCell(cfg, comm, ctx)
        runs: dict[str, dict[str, Any]] = {}
        failed: dict[str, str] = {}
        t = time.perf_counter()
        summary: Summary = {}
        for k, rate in enumerate(rates):
            label = run_label(rate)
            steps = steps_from_config(cfg.study, cell.one_c, cell.C_per_mAh_g, c_rate=rate)
            run_dir = None if out_dir is None else make_out_dir(comm, out_dir / "runs" / label)
            try:
                runs[label] = cell.run(steps, run_dir, label=label, restart=label in self.resume)
            except (ConvergenceError, SolutionError, TableRangeError) as exc:
                # one C-rate that cannot be finished (or whose salt leaves the electrolyte's table) must not cost
                # the others: record it and go on
                failed[label] = str(exc)
                if comm.rank == 0:
                    print(f"microsim rate: {cell.desc.interface} {label}: FAILED: {exc}", file=sys.stderr, flush=True)
            else:
                if comm.rank == 0:
                    r = runs[label]
                    print(
                        f"microsim rate: {cell.desc.interface} {label}: {r['capacity_mAh_g']:.4g} mAh/g, "
                        f"end {r['end_reason']} at {r['final_voltage_V']:.4f} V, limited by "
                        f"{r['limiting_mechanism']}, {r['time_steps']} steps, {r['wall_time_s']:.1f} s",
                        flush=True,
                    )
            pending = [run_label(r) for r in rates[k + 1 :]]
            summary = _summary(
                cell, cell.base_summary(self.kind), rates, runs, failed, pending, time.perf_counter() - t
            )
            if out_dir is not None:
                # each finished (or failed) C-rate is on disk at once: a job killed later keeps it
                _write_tables(comm, out_dir, cell, summary, rates, runs, failed)
        cell.destroy()
        self.finished = [r for r in rates if run_label(r) in runs]
        error = None
        if failed:
            where = f"; the finished ones are in {out_dir / 'rate.csv'} and summary.json" if out_dir is not None else ""
            error = ConvergenceError(
                f"rate study: {len(failed)} of {len(rates)} C-rates failed ("
                + "; ".join(f"{k}: {v}" for k, v in failed.items())
                + f"){where}; `microsim run --restart` continues the missing ones"
            )
        return StudyResult(summary, error=error)

    def pictures(self, ctx: StudyContext, summary: Summary) -> dict[str, Callable[[Path], object]]:
        """Voltage-capacity curves of the finished rates and the rate-capability plot."""
        if not self.finished or ctx.out_dir is None:
            return {}
        from microsim.post.rate_plots import plot_rate_capability, plot_voltage_capacity

        runs_dir = ctx.out_dir / "runs"
        series = {run_label(r): runs_dir / run_label(r) / "timeseries.csv" for r in self.finished}
        title = ctx.title()
        label = ctx.desc.interface
        return {
            "voltage_capacity.png": lambda out: plot_voltage_capacity(series, out, title=title),
            "rate_capability.png": lambda out: plot_rate_capability({label: summary}, out, title=title),
        }


def run_rate(cfg: Config, out_dir: Path | None, comm: MPI.Comm, restart: bool = False) -> Summary:
    """Run the rate study on ``cfg``; write outputs under ``out_dir`` (if given) and return the summary.

    Args:
        cfg: validated configuration.
        out_dir: output folder (also where the per-rate checkpoints go), or None.
        comm: communicator.
        restart: continue from the checkpoints under ``out_dir/runs``.

    Raises:
        ConfigError: ``restart`` and no rate has a checkpoint, or one belongs to another configuration.
        ConvergenceError: some C-rates failed (after everything else is written).
    """
    return run_with(RateStudy(), cfg, out_dir, comm, restart)


def _summary(
    cell: DischargeCell,
    base: dict[str, Any],
    rates: list[float],
    runs: dict[str, dict[str, Any]],
    failed: dict[str, str],
    pending: list[str],
    solve_s: float,
) -> dict[str, Any]:
    """``summary.json`` of the rates finished so far (``partial`` while any is failed or still to run)."""
    done = [r for r in rates if run_label(r) in runs]
    caps = [runs[run_label(r)]["capacity_mAh_g"] for r in done]

    def col(key: str) -> list[Any]:
        return [runs[run_label(r)][key] for r in done]

    table = {
        "c_rates": done,
        "current_density_A_m2": [r * cell.one_c for r in done],
        "capacity_mAh_g": caps,
        "energy_Wh_kg": col("energy_Wh_kg"),
        "mean_voltage_V": col("mean_voltage_V"),
        "c80": rate_at_fraction(done, caps, 0.8),
        "c50": rate_at_fraction(done, caps, 0.5),
        "limiting_mechanism": col("limiting_mechanism"),
        "largest_overpotential_at_cutoff": [runs[run_label(r)].get("largest_overpotential_at_end") for r in done],
        "overpotential_growth_V": [runs[run_label(r)].get("overpotential_growth_V") for r in done],
        "particle_unused_fraction": col("particle_unused_fraction"),
        "end_reason": col("end_reason"),
        "final_voltage_V": col("final_voltage_V"),
        "overpotential_at_cutoff_V": col("overpotential_at_end_V"),
        "state_at_cutoff": [runs[run_label(r)].get("state_at_end") for r in done],
        "resolution_at_cutoff": [runs[run_label(r)].get("resolution_at_end") for r in done],
        "time_steps": col("time_steps"),
        "newton_iterations": col("newton_iterations"),
        "krylov_iterations": col("krylov_iterations"),
        "wall_time_s": col("wall_time_s"),
        "c_rates_requested": list(rates),
        "failed": dict(failed),
        "pending": list(pending),
        "partial": bool(failed or pending),
    }
    summary = {**base, "rate": table}
    summary["timings_s"] = {**cell.timer.sections, "solve_s": solve_s, "compile_s": cell.solver.time_compile_s}
    summary["wall_time_s"] = cell.comm.allreduce(cell.timer.total() + solve_s, op=MPI.MAX)
    return summary


def _at_cutoff(key: str) -> str:
    """rate.csv header of a breakdown key: its timeseries.csv column with " at cut-off" before the unit."""
    name, _, unit = COLUMNS.get(key, key).partition(" [")
    return f"{name} at cut-off [{unit}" if unit else f"{name} at cut-off"


def _write_tables(
    comm: MPI.Comm,
    out_dir: Path,
    cell: DischargeCell,
    summary: dict[str, Any],
    rates: list[float],
    runs: dict[str, dict[str, Any]],
    failed: dict[str, str],
) -> None:
    """``rate.csv`` (a row per finished or failed C-rate, in rate order) and ``summary.json``; collective."""
    rows = []
    for r in rates:
        label = run_label(r)
        if label in runs:
            res = runs[label]
            over = {**res["overpotential_at_end_V"], **(res.get("state_at_end") or {})}
            rows.append(
                {
                    "C-rate [1/h]": r,
                    "Status": "finished",
                    "Current [A/m2]": r * cell.one_c,
                    "Capacity [mAh/g]": res["capacity_mAh_g"],
                    "Energy [Wh/kg]": res["energy_Wh_kg"],
                    "Mean voltage [V]": res["mean_voltage_V"] if res["mean_voltage_V"] is not None else 0.0,
                    "Limiting mechanism": res["limiting_mechanism"],
                    "Largest part at cut-off": res.get("largest_overpotential_at_end", ""),
                    "Unused particle fraction [-]": res["particle_unused_fraction"],
                    **{_at_cutoff(name): over[name] for name in over},
                }
            )
        elif label in failed:
            rows.append({"C-rate [1/h]": r, "Status": "failed", "Current [A/m2]": r * cell.one_c})
    outputs.write_csv(comm, out_dir / "rate.csv", rows)
    outputs.write_json(comm, out_dir / "summary.json", summary)
