"""Rate capability (``[study] kind = "rate"``): one CC discharge per C-rate, each from the same initial state.

The mesh, the model and the compiled forms are built once; before each rate the fields are reset to the
initial rest state (:meth:`DischargeCell.reset`). Per rate: capacity [mAh/g], energy [Wh/kg], mean voltage,
the overpotential breakdown and the limiting mechanism at the cut-off, and particle utilisation (see
:mod:`microsim.studies.discharge`). C80 and C50 are the C-rates at which the capacity falls to 80 % and 50 % of
the lowest-rate value, interpolated linearly in log C (MODEL.md §3); ``null`` when not reached within the rates.

Outputs: ``summary.json`` (``rate`` table), ``rate.csv``, ``runs/<rate>C/timeseries.csv`` (+ fields and
``fields_series``), ``voltage_capacity.png``, ``rate_capability.png``.

Checkpoints are per rate (``runs/<rate>C/checkpoint.npz``, see :mod:`microsim.studies.discharge`); each rate also
leaves its final state there. A restart takes every rate that has a checkpoint from it (a finished rate only
rewrites its outputs from its final state, an unfinished one continues) and runs the others from the start.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import dolfinx_solver  # noqa: F401

from mpi4py import MPI

from microsim import checkpoint, outputs
from microsim.config import DEFAULT_C_RATES
from microsim.errors import ConfigError
from microsim.studies.common import geometry_record
from microsim.studies.discharge import DischargeCell
from microsim.studies.stepping import rate_at_fraction, steps_from_config


def run_label(c_rate: float) -> str:
    """Folder name of one rate's run, e.g. ``0.1C``."""
    return f"{c_rate:g}C"


def run_rate(cfg: Any, out_dir: Path | None, comm: MPI.Comm, restart: bool = False) -> dict[str, Any]:
    """Run the rate study; write outputs under ``out_dir`` (if given) and return the summary.

    Args:
        cfg: validated configuration.
        out_dir: output folder (also where the per-rate checkpoints go), or None.
        comm: communicator.
        restart: continue from the checkpoints under ``out_dir/runs``.

    Raises:
        ConfigError: ``restart`` and no rate has a checkpoint, or one belongs to another configuration.
    """
    rates = sorted(cfg.study.c_rates or DEFAULT_C_RATES)
    resume: set[str] = set()
    if restart:
        if out_dir is None:
            raise ConfigError("restart: needs the output folder that holds the checkpoints")
        for rate in rates:
            path = Path(out_dir) / "runs" / run_label(rate) / checkpoint.FILENAME
            if checkpoint.exists(path, comm):
                checkpoint.check(path, comm, cfg)  # before the mesh: fail fast
                resume.add(run_label(rate))
        if not resume:
            raise ConfigError(f"no checkpoint in {out_dir} (nor in {Path(out_dir) / 'runs'}/*)")
    cell = DischargeCell(cfg, comm)
    if out_dir is not None:
        out_dir = Path(out_dir)
        if comm.rank == 0:
            out_dir.mkdir(parents=True, exist_ok=True)
        comm.barrier()
    runs: dict[str, dict[str, Any]] = {}
    t = time.perf_counter()
    for rate in rates:
        label = run_label(rate)
        steps = steps_from_config(cfg.study, cell.one_c, cell.C_per_mAh_g, c_rate=rate)
        run_dir = None if out_dir is None else out_dir / "runs" / label
        if run_dir is not None:
            if comm.rank == 0:
                run_dir.mkdir(parents=True, exist_ok=True)
            comm.barrier()
        runs[label] = cell.run(steps, run_dir, label=label, restart=label in resume)
        if comm.rank == 0:
            r = runs[label]
            print(
                f"microsim rate: {cell.desc.interface} {label}: {r['capacity_mAh_g']:.4g} mAh/g, "
                f"end {r['end_reason']} at {r['final_voltage_V']:.4f} V, limited by {r['limiting_mechanism']}, "
                f"{r['time_steps']} steps, {r['wall_time_s']:.1f} s",
                flush=True,
            )
    cell.timer.add("solve_s", time.perf_counter() - t)
    caps = [runs[run_label(r)]["capacity_mAh_g"] for r in rates]
    table = {
        "c_rates": rates,
        "current_density_A_m2": [r * cell.one_c for r in rates],
        "capacity_mAh_g": caps,
        "energy_Wh_kg": [runs[run_label(r)]["energy_Wh_kg"] for r in rates],
        "mean_voltage_V": [runs[run_label(r)]["mean_voltage_V"] for r in rates],
        "c80": rate_at_fraction(rates, caps, 0.8),
        "c50": rate_at_fraction(rates, caps, 0.5),
        "limiting_mechanism": [runs[run_label(r)]["limiting_mechanism"] for r in rates],
        "particle_unused_fraction": [runs[run_label(r)]["particle_unused_fraction"] for r in rates],
        "end_reason": [runs[run_label(r)]["end_reason"] for r in rates],
        "final_voltage_V": [runs[run_label(r)]["final_voltage_V"] for r in rates],
        "overpotential_at_cutoff_V": [runs[run_label(r)]["overpotential_at_end_V"] for r in rates],
        "time_steps": [runs[run_label(r)]["time_steps"] for r in rates],
        "wall_time_s": [runs[run_label(r)]["wall_time_s"] for r in rates],
    }
    summary = {"study": "rate", **cell.base_summary(), "rate": table}
    summary["timings_s"] = {**cell.timer.sections, "compile_s": cell.solver.time_compile_s}
    summary["wall_time_s"] = comm.allreduce(cell.timer.total(), op=MPI.MAX)
    cell.destroy()
    if out_dir is not None:
        rows = []
        for k, r in enumerate(rates):
            over = table["overpotential_at_cutoff_V"][k]
            rows.append(
                {
                    "C-rate [1/h]": r,
                    "Current [A/m2]": table["current_density_A_m2"][k],
                    "Capacity [mAh/g]": caps[k],
                    "Energy [Wh/kg]": table["energy_Wh_kg"][k],
                    "Mean voltage [V]": table["mean_voltage_V"][k] if table["mean_voltage_V"][k] is not None else 0.0,
                    "Limiting mechanism": table["limiting_mechanism"][k],
                    "Unused particle fraction [-]": table["particle_unused_fraction"][k],
                    **{f"{name} at cut-off [V]": over[name] for name in over},
                }
            )
        outputs.write_csv(comm, out_dir / "rate.csv", rows)
        outputs.write_json(comm, out_dir / "geometry.json", geometry_record(cell.desc, cell.cm))
        outputs.write_json(comm, out_dir / "summary.json", summary)
        if comm.rank == 0 and cfg.output.png:
            try:
                from microsim.post.rate_plots import plot_rate_capability, plot_voltage_capacity

                series = {run_label(r): out_dir / "runs" / run_label(r) / "timeseries.csv" for r in rates}
                title = f"{cell.desc.interface}, {cell.params.electrolyte.name}, {summary['temperature_C']:.0f} °C"
                plot_voltage_capacity(series, out_dir / "voltage_capacity.png", title=title)
                plot_rate_capability({cell.desc.interface: summary}, out_dir / "rate_capability.png", title=title)
            except Exception as exc:  # a picture must never cost the results
                print(f"microsim: warning: rate plots not written ({type(exc).__name__}: {exc})")
    return summary
