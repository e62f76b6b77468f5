"""Galvanostatic discharge/charge protocols on the resolved cell (``[study] kind = "discharge"``).

Stages: geometry → mesh → transient model (θ solved in time, optional double layer) → the protocol of
``[study]`` (one CC discharge at ``study.c_rate`` to ``study.cutoff_discharge_V`` by default, or the
``[[study.steps]]`` experiment) run by :class:`~microsim.studies.stepping.ProtocolRunner` → ``timeseries.csv``,
field snapshots (``fields_series/*.xdmf``), final fields and ``summary.json["discharge"]``.

Overpotential breakdown (volts, positive = loss, for the direction of the current ``s = sign(I)``). For the
discrete solution, testing the charge equations with the potentials gives exactly

    s·(U(θ̄) − V) = s·(U(θ̄) − Ū_Γ) + η_ct,c + η_ct,Li + P_e/|I| + P_conc/|I| + P_s/|I|

with θ̄ the volume-mean lithiation, ``Ū_Γ = ∫_Γ i_n U dA / ∫_Γ i_n dA`` the current-weighted surface OCP,
``η_ct,c = −s ∫ i_n η / ∫ i_n`` and ``η_ct,Li = s ∫ i_Li η_Li / ∫ i_Li`` the current-weighted kinetic
overpotentials, and ``P_e``, ``P_conc``, ``P_s`` the Joule power in the electrolyte, the salt-diffusion
(concentration) power and the Joule power in the solid per geometric area
(:class:`~microsim.physics.functionals.Quantities`). So:

* **solid diffusion** = ``s·(U(θ̄) − Ū_Γ)``: the OCP the current sees at the particle surfaces versus the OCP
  of the mean lithiation. It contains the radial gradients inside particles *and* the imbalance between
  particles (a particle under a contact spot full while the others are empty), both solid-state transport;
* **charge transfer** = cathode + Li metal kinetic overpotentials;
* **electrolyte ohmic** = ``P_e/|I|``; **salt depletion** = ``P_conc/|I|`` (also reported: the smallest salt
  concentration);
* solid ohmic = ``P_s/|I|`` (tiny; reported, not a candidate).

The **limiting mechanism** at the cut-off is the largest of the four candidates. The sum closes on
``U(θ̄) − V`` without the double layer (with it, the charging current is a few ppm at these rates).

**Particle utilisation**: per-particle mean lithiation from the cell averages of θ, each particle-mesh cell
binned to the particle of the geometry description whose surface is nearest to its midpoint; a particle is
*unused* when its mean lithiation changed by less than 0.05 since the start.

**Checkpoints and restart** (:mod:`microsim.checkpoint`): with an output folder, a run writes ``checkpoint.npz``
every ``study.checkpoint_interval_s`` simulated seconds (and/or ``study.checkpoint_every_steps`` time steps) and
once at the end; ``restart=True`` continues from it with the same step-size sequence, so the answer is that of an
uninterrupted run. When time stepping fails for good (a :class:`~microsim.errors.ConvergenceError` after the
cut-backs), the last accepted state is saved before the error propagates: ``timeseries.csv`` so far,
``checkpoint.npz`` and ``fields/``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import dolfinx_solver  # noqa: F401

import dolfinx
import numpy as np
from mpi4py import MPI

from microsim import checkpoint, outputs
from microsim.errors import ConfigError, ConvergenceError, MicrosimError
from microsim.field_output import write_fields_xdmf
from microsim.parameters import resolve
from microsim.physics.functionals import Quantities, cell_volumes, current_weighted_forms
from microsim.physics.model import CellModel, options_for
from microsim.progress import ProgressLog, WallClock
from microsim.solver import newton_from_config
from microsim.studies.common import (
    Timer,
    build_cell_mesh,
    describe_geometry,
    geometry_record,
    n_dofs,
    physical_fields,
    write_fields,
)
from microsim.studies.resistance import one_c_current_density
from microsim.studies.stepping import (
    C_PER_MAH,
    ProtocolRunner,
    Record,
    Step,
    SteppingSettings,
    capacity_mAh_g,
    energy_Wh_kg,
    steps_from_config,
)

#: Candidates of the limiting mechanism (keys of the overpotential breakdown).
MECHANISMS = ("electrolyte_ohmic", "salt_depletion", "solid_diffusion", "charge_transfer")
#: A particle whose mean lithiation changed by less than this is unused (docs/model.md §4.5).
UNUSED_CHANGE = 0.05

#: timeseries.csv column for each breakdown key.
COLUMNS = {
    "ocv_mean_V": "OCV at mean lithiation [V]",
    "total_V": "Total overpotential [V]",
    "electrolyte_ohmic": "Electrolyte ohmic [V]",
    "salt_depletion": "Salt depletion [V]",
    "solid_diffusion": "Solid diffusion [V]",
    "charge_transfer": "Charge transfer [V]",
    "charge_transfer_cathode": "Charge transfer cathode [V]",
    "charge_transfer_anode": "Charge transfer anode [V]",
    "solid_ohmic": "Solid ohmic [V]",
    "theta_mean": "Mean lithiation [-]",
    "theta_surface": "Surface lithiation (current-weighted) [-]",
    "c_min_mol_m3": "Minimum salt concentration [mol/m3]",
}


class DischargeCell:
    """A meshed cell with a transient model, a solver and compiled functionals, reusable for many runs.

    Args:
        cfg: validated configuration (``study.kind`` discharge or rate).
        comm: communicator.
    """

    def __init__(self, cfg: Any, comm: MPI.Comm) -> None:
        self.cfg = cfg
        self.comm = comm
        self.timer = Timer()
        self.params = resolve(cfg)  # validation first: no collective work before this
        self.desc = describe_geometry(cfg)
        t = time.perf_counter()
        self.cm = build_cell_mesh(self.desc, comm)
        self.timer.add("mesh_s", time.perf_counter() - t)
        t = time.perf_counter()
        self.model = CellModel(self.cm, self.params, options_for(cfg, "discharge"))
        self.solver = newton_from_config(self.model, cfg.solver)
        self.quantities = Quantities(self.model)
        self._compile_breakdown()
        self._setup_particle_bins()
        self.timer.add("setup_s", time.perf_counter() - t)
        q = self.quantities.evaluate()
        self.volume_particle_m = q["volume_particle"]  # particle volume per geometric area [m]
        self.one_c = one_c_current_density(self.params, self.volume_particle_m)
        self.mass_kg_m2 = self.params.lfp.density_kg_m3 * self.volume_particle_m
        self.C_per_mAh_g = C_PER_MAH * self.mass_kg_m2 * 1.0e3  # C/m² of 1 mAh/g
        self.theta0 = float(self.params.initial_stoichiometry)
        self.ocp = self.params.lfp.ocp

    # --- set-up -------------------------------------------------------------------------------------------
    def _compile_breakdown(self) -> None:
        forms = current_weighted_forms(self.model)
        self._bforms = {k: dolfinx.fem.form(f, entity_maps=self.cm.entity_maps) for k, f in forms.items()}

    def _setup_particle_bins(self) -> None:
        """Bin the owned particle-mesh cells to the particles of the description (nearest surface)."""
        pm = self.model.V_p.mesh
        tdim = pm.topology.dim
        n_owned = pm.topology.index_map(tdim).size_local
        cells = np.arange(n_owned, dtype=np.int32)
        mid = dolfinx.mesh.compute_midpoints(pm, tdim, cells)[:, : self.cm.dim]
        parts = self.desc.particles
        centers, radii = np.asarray(parts.centers), np.asarray(parts.radii)
        self.n_particles = len(radii)
        if self.n_particles == 0 or n_owned == 0:
            self._bins = np.zeros(n_owned, dtype=np.int64)
        else:
            gap = np.linalg.norm(mid[:, None, :] - centers[None, :, :], axis=2) - radii[None, :]
            self._bins = np.argmin(gap, axis=1)
        self.V_dg0 = dolfinx.fem.functionspace(pm, ("DG", 0))
        self._cell_volume = cell_volumes(self.V_dg0)
        self._theta_dg0 = dolfinx.fem.Function(self.V_dg0)
        self._n_owned = n_owned

    # --- state --------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the initial rest state: θ = θ0, c = c0, potentials at equilibrium, V = U(θ0)."""
        m = self.model
        for name, f in m.fields.items():
            f.x.array[:] = {"c": 1.0, "theta": self.theta0}.get(name, 0.0)
        m.V.value = float(self.ocp.numpy(np.array(self.theta0)))  # type: ignore[assignment]
        m.current_density.value = 0.0  # type: ignore[assignment]
        m.commit_step()

    def particle_theta(self) -> np.ndarray:
        """Volume-mean lithiation of each particle of the description (all ranks)."""
        self._theta_dg0.interpolate(self.model.theta)  # P1 → DG0: the cell mean on simplices
        th = self._theta_dg0.x.array[: self._n_owned]
        n = max(self.n_particles, 1)
        num = np.bincount(self._bins, weights=th * self._cell_volume, minlength=n)
        den = np.bincount(self._bins, weights=self._cell_volume, minlength=n)
        num = self.comm.allreduce(num, op=MPI.SUM)
        den = self.comm.allreduce(den, op=MPI.SUM)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    def breakdown(self, current_A_m2: float) -> dict[str, float]:
        """Overpotential parts [V] of the present state (module docstring), plus mean/surface θ and min c."""
        q = self.quantities.evaluate()
        b = {k: self.comm.allreduce(dolfinx.fem.assemble_scalar(f), op=MPI.SUM) for k, f in self._bforms.items()}
        theta_mean = q["lithium_solid"] / (self.params.lfp.c_max_mol_m3 * q["volume_particle"])
        u_mean = float(self.ocp.numpy(np.array(theta_mean)))
        c_arr = self.model.fields["c"].x.array if "c" in self.model.fields else np.ones(1)
        c_min = self.comm.allreduce(float(np.min(c_arr)) if c_arr.size else np.inf, op=MPI.MIN)
        out = dict.fromkeys(COLUMNS, 0.0)
        out["ocv_mean_V"] = u_mean
        out["theta_mean"] = theta_mean
        out["theta_surface"] = b["itheta"] / b["i"] if abs(b["i"]) > 0 else theta_mean
        out["c_min_mol_m3"] = c_min * self.params.electrolyte.concentration_mol_m3
        big = abs(current_A_m2)
        if big < 1e-30 or abs(b["i"]) < 1e-30:
            return out
        s = 1.0 if current_A_m2 > 0 else -1.0
        out["total_V"] = s * (u_mean - float(self.model.V.value))
        out["solid_diffusion"] = s * (u_mean - b["iU"] / b["i"])
        out["charge_transfer_cathode"] = -s * b["ieta"] / b["i"]
        out["charge_transfer_anode"] = s * b["ieta_li"] / b["i_li"] if abs(b["i_li"]) > 0 else 0.0
        out["charge_transfer"] = out["charge_transfer_cathode"] + out["charge_transfer_anode"]
        out["electrolyte_ohmic"] = (q["membrane"] + q["cathode_electrolyte"]) / big
        out["salt_depletion"] = q["concentration"] / big
        out["solid_ohmic"] = q["solid"] / big
        return out

    # --- runs ---------------------------------------------------------------------------------------------
    def run(self, steps: list[Step], out_dir: Path | None, label: str = "", restart: bool = False) -> dict[str, Any]:
        """Run a protocol from the initial state; write ``timeseries.csv`` and fields under ``out_dir``.

        With ``out_dir``, checkpoints go to ``out_dir/checkpoint.npz`` (module docstring).

        Args:
            steps: the protocol.
            out_dir: output folder, or None (no files, no checkpoints).
            label: name of the run (progress lines, summary).
            restart: continue from ``out_dir/checkpoint.npz`` instead of the initial state.

        Returns:
            The run's results (capacities, energies, end reasons, breakdown at the end, utilisation).

        Raises:
            ConfigError: ``restart`` without a usable checkpoint (missing, another configuration or run).
            ConvergenceError: time stepping failed; with ``out_dir`` the last accepted state was saved first.
        """
        cfg, comm = self.cfg, self.comm
        t_start = time.perf_counter()
        self.reset()
        last_current = [0.0]

        def observe(rec: Record) -> dict[str, float]:
            last_current[0] = rec.current_A_m2
            return self.breakdown(rec.current_A_m2)

        runner = ProtocolRunner(
            self.model,
            self.solver,
            SteppingSettings.from_study(cfg.study),
            self.one_c,
            observe=observe,
        )
        ckpt_path = None if out_dir is None else Path(out_dir) / checkpoint.FILENAME
        keys = checkpoint.field_keys(self.model) if ckpt_path is not None else None
        if restart:
            if ckpt_path is None:
                raise ConfigError("restart: needs the output folder that holds the checkpoint")
            loaded = checkpoint.load(ckpt_path, comm, self.model, cfg, keys)
            if loaded.extra.get("label") != label:
                raise ConfigError(f"checkpoint {ckpt_path} belongs to run {loaded.extra.get('label')!r}, not {label!r}")
            runner.restore(loaded.state)
            theta_start = np.asarray(loaded.extra["theta_start"], dtype=float)
        else:
            theta_start = self.particle_theta()
        extra = {"label": label, "theta_start": [float(x) for x in theta_start]}
        writer = None
        st = cfg.study
        if ckpt_path is not None and (
            st.checkpoint_interval_s > 0 or st.checkpoint_every_steps > 0 or st.checkpoint_wall_interval_s > 0
        ):
            writer = _Checkpointer(self, ckpt_path, keys, extra, runner.time_s)
            runner.checkpoint = writer

        fraction0 = runner.step_fraction(steps[runner.step_index]) if runner.step_index < len(steps) else 1.0
        series = (
            _Snapshots(self, out_dir, cfg.study.snapshots, runner.time_s, fraction0)
            if out_dir is not None and cfg.output.xdmf
            else None
        )
        progress = _Progress(
            comm,
            label or (steps[0].label if steps else "") or "protocol",
            series,
            len(steps),
            cfg.output.progress_interval_s,
        )
        runner.progress = progress
        try:
            try:
                summaries = runner.run(steps)
            except ConvergenceError as exc:
                if out_dir is None:
                    raise
                raise ConvergenceError(self._save_last_good(runner, Path(out_dir), keys, extra, exc)) from exc
            if series is not None and series.files:
                series.write(runner.time_s)  # the final state, at the cut-off
            end = runner.records[-1]
            progress.log.update(
                1.0,
                {"t": f"{end.time_s:.6g} s", "V": f"{end.voltage_V:.4f} V", "end": summaries[-1].end_reason},
                final=True,
            )
        finally:
            progress.close()
            if series is not None:
                series.close()
        if writer is not None:
            # the finished state: a restart of a finished run only rewrites its outputs (rate: keeps its result)
            writer.write(runner)
        end = runner.records[-1]
        theta_end = self.particle_theta()
        change = np.abs(theta_end - theta_start)
        valid = np.isfinite(change)
        unused = float(np.mean(change[valid] < UNUSED_CHANGE)) if valid.any() else float("nan")
        parts = {k: end.extra[k] for k in MECHANISMS}
        limiting = max(parts, key=lambda k: parts[k]) if end.current_A_m2 != 0 else "none"
        step_rows = []
        for st, sm in zip(steps, summaries, strict=True):
            q = capacity_mAh_g(abs(sm.charge_C_m2), self.mass_kg_m2)
            e = energy_Wh_kg(abs(sm.energy_J_m2), self.mass_kg_m2)
            step_rows.append(
                {
                    "index": sm.index,
                    "kind": sm.kind,
                    "label": sm.label,
                    "c_rate": st.c_rate,
                    "current_density_A_m2": st.current_A_m2 if st.kind != "cv" else None,
                    "end_reason": sm.end_reason,
                    "duration_s": sm.duration_s,
                    "capacity_mAh_g": q,
                    "energy_Wh_kg": e,
                    "mean_voltage_V": (sm.energy_J_m2 / sm.charge_C_m2) if sm.charge_C_m2 != 0 else None,
                    "final_voltage_V": sm.final_voltage_V,
                    "time_steps": sm.time_steps,
                    "rejected_steps": sm.rejected_steps,
                    "cutbacks": sm.cutbacks,
                }
            )
        first_discharge = next((r for r in step_rows if r["kind"] == "cc" and r["current_density_A_m2"] > 0), None)  # type: ignore[operator]
        result: dict[str, Any] = {
            "label": label,
            "capacity_mAh_g": first_discharge["capacity_mAh_g"] if first_discharge else 0.0,
            "energy_Wh_kg": first_discharge["energy_Wh_kg"] if first_discharge else 0.0,
            "mean_voltage_V": first_discharge["mean_voltage_V"] if first_discharge else None,
            "end_reason": summaries[-1].end_reason,
            "final_voltage_V": float(self.model.V.value),
            "final_time_s": runner.time_s,
            "net_charge_C_m2": runner.charge_C_m2,
            "overpotential_at_end_V": {k: end.extra[k] for k in COLUMNS if k not in ("theta_mean",)},
            "limiting_mechanism": limiting,
            "theta_mean_end": end.extra["theta_mean"],
            "particle_unused_fraction": unused,
            "particle_theta_end": [float(x) for x in theta_end],
            "time_steps": sum(s.time_steps for s in summaries),
            "newton_iterations": sum(r.newton_iterations for r in runner.records),
            "krylov_iterations": sum(r.krylov_iterations for r in runner.records),
            "steps": step_rows,
            "wall_time_s": comm.allreduce(time.perf_counter() - t_start, op=MPI.MAX),
        }
        self.records = runner.records
        if out_dir is not None:
            self.write_timeseries(Path(out_dir), runner.records)
            title = f"{self.desc.interface}, {self.params.electrolyte.name}, {label}"
            write_fields(cfg, self.model, Path(out_dir), title)
        return result

    def write_timeseries(self, out_dir: Path, records: list[Record]) -> None:
        """Write ``out_dir/timeseries.csv`` from ``records`` (atomic, collective)."""
        outputs.write_csv(self.comm, out_dir / "timeseries.csv", self.timeseries_rows(records))

    def timeseries_rows(self, records: list[Record]) -> list[dict[str, Any]]:
        """Rows of ``timeseries.csv`` (unit-tagged headers)."""
        rows = []
        for r in records:
            row: dict[str, Any] = {
                "Time [s]": r.time_s,
                "Step": r.step_index,
                "Voltage [V]": r.voltage_V,
                "Current [A/m2]": r.current_A_m2,
                "C-rate [1/h]": r.current_A_m2 / self.one_c,
                "Capacity [mAh/g]": capacity_mAh_g(r.charge_C_m2, self.mass_kg_m2),
                "Energy [Wh/kg]": energy_Wh_kg(r.energy_J_m2, self.mass_kg_m2),
                "Time step [s]": r.dt_s,
                "Newton iterations": r.newton_iterations,
                "Krylov iterations": r.krylov_iterations,
            }
            for key, col in COLUMNS.items():
                row[col] = r.extra.get(key, 0.0)
            total = r.extra.get("total_V", 0.0)
            for key in MECHANISMS:
                name = COLUMNS[key].replace(" [V]", " share [-]")
                row[name] = r.extra.get(key, 0.0) / total if abs(total) > 1e-12 else 0.0
            rows.append(row)
        return rows

    def _save_last_good(
        self,
        runner: ProtocolRunner,
        out_dir: Path,
        keys: dict[str, checkpoint.NodeKeys] | None,
        extra: dict[str, Any],
        exc: ConvergenceError,
    ) -> str:
        """After a failed run: save the last accepted state (time series, checkpoint, fields); collective.

        Returns:
            The message of the error to raise: the original one plus where the state went.
        """
        self.model.restore_step()  # the failed attempt may still be in the fields (event landing)
        state = runner.state()
        try:
            self.write_timeseries(out_dir, runner.records[: state["n_records"]])
            checkpoint.save(out_dir / checkpoint.FILENAME, self.comm, self.model, self.cfg, state, extra, keys)
            saved = f"timeseries.csv, {checkpoint.FILENAME}"
            if self.cfg.output.xdmf:
                write_fields_xdmf(self.comm, out_dir, physical_fields(self.model), time=state["time_s"])
                saved += ", fields/"
        except (MicrosimError, OSError) as err:  # saving must not hide the original failure
            return f"{exc}; saving the last accepted state failed too ({type(err).__name__}: {err})"
        return f"{exc}; the last accepted state (t = {state['time_s']:.6g} s) is saved in {out_dir}: {saved}"

    def base_summary(self) -> dict[str, Any]:
        """Summary keys shared by the discharge and rate studies."""
        geometry = geometry_record(self.desc, self.cm)
        return {
            "interface": self.desc.interface,
            "geometry_kind": self.desc.kind,
            "dim": self.desc.dim,
            "temperature_C": self.params.temperature_K - 273.15,
            "electrolyte": self.params.electrolyte.name,
            "electrolyte_model": self.params.electrolyte.model,
            "double_layer": self.cfg.study.double_layer,
            "n_cells": self.cm.count_cells()["total"],
            "n_dofs": n_dofs(self.model),
            "linear_solver": self.solver.linear_solver,
            "linear_solver_fallback": self.solver.fallback,
            "n_ranks": self.comm.size,
            "n_particles": self.n_particles,
            "active_fraction": geometry.get("active_fraction"),
            "initial_stoichiometry": self.theta0,
            "one_c_current_density_A_m2": self.one_c,
            "lfp_loading_mg_cm2": self.mass_kg_m2 * 100.0,
            "theoretical_window_capacity_mAh_g": self.window_capacity_mAh_g(),
            "cutoff_discharge_V": self.cfg.study.cutoff_discharge_V,
            "cutoff_charge_V": self.cfg.study.cutoff_charge_V,
            "parameters": self.params.as_dict(),
        }

    def window_capacity_mAh_g(self) -> float:
        """Theoretical capacity from θ0 to the θ where U equals the discharge cut-off [mAh/g]."""
        grid = np.linspace(self.theta0, 1.0 - 1e-9, 200001)
        u = self.ocp.numpy(grid)
        below = np.nonzero(u <= self.cfg.study.cutoff_discharge_V)[0]
        theta_cut = grid[below[0]] if below.size else 1.0
        return (theta_cut - self.theta0) * self.params.lfp.capacity_mAh_g

    def destroy(self) -> None:
        """Free PETSc objects."""
        self.solver.destroy()


class _Snapshots:
    """A few field snapshots in time (``fields_series/particles.xdmf``, ``electrolyte.xdmf``); collective."""

    def __init__(self, cell: DischargeCell, out_dir: Path, n: int, t0: float = 0.0, fraction0: float = 0.0) -> None:
        self.cell = cell
        self.n = n
        self.files: dict[str, Any] = {}
        self.next_fraction = 0.0
        if n <= 0:
            return
        folder = Path(out_dir) / "fields_series"
        if cell.comm.rank == 0:
            folder.mkdir(parents=True, exist_ok=True)
        cell.comm.barrier()
        groups = physical_fields(cell.model)
        for group, funcs in groups.items():
            xf = dolfinx.io.XDMFFile(cell.comm, str(folder / f"{group}.xdmf"), "w")
            xf.write_mesh(funcs[0].function_space.mesh)
            self.files[group] = xf
        # a restarted run starts a new series at the restart time (XDMF files cannot be appended to safely)
        self.write(t0)
        self.next_fraction = 1.0 / n
        while self.next_fraction <= fraction0:
            self.next_fraction += 1.0 / n

    def write(self, t: float) -> None:
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
        for xf in self.files.values():
            xf.close()
        self.files = {}


class _Checkpointer:
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


class _Progress:
    """Progress of a protocol run (:class:`~microsim.progress.ProgressLog`) plus the field snapshots."""

    def __init__(self, comm: MPI.Comm, label: str, snapshots: _Snapshots | None, n_steps: int, interval_s: float):
        self.log = ProgressLog(comm, label, interval_s)
        self.snapshots = snapshots
        self.n_steps = max(n_steps, 1)
        self.time_steps = 0

    def __call__(self, rec: Record, step: Step, fraction: float) -> None:
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
        self.log.close()


def run_discharge(cfg: Any, out_dir: Path | None, comm: MPI.Comm, restart: bool = False) -> dict[str, Any]:
    """Run ``[study] kind = "discharge"``: the protocol from the initial state; write outputs; return the summary.

    Args:
        cfg: validated configuration.
        out_dir: output folder (also where checkpoints go), or None.
        comm: communicator.
        restart: continue from ``out_dir/checkpoint.npz`` (written on any number of ranks).

    Raises:
        ConfigError: ``restart`` and no checkpoint of this configuration in ``out_dir``.
    """
    if restart:
        if out_dir is None:
            raise ConfigError("restart: needs the output folder that holds the checkpoint")
        checkpoint.check(Path(out_dir) / checkpoint.FILENAME, comm, cfg)  # before the mesh: fail fast
    cell = DischargeCell(cfg, comm)
    if out_dir is not None:
        out_dir = Path(out_dir)
        if comm.rank == 0:
            out_dir.mkdir(parents=True, exist_ok=True)
        comm.barrier()
    steps = steps_from_config(cfg.study, cell.one_c, cell.C_per_mAh_g)
    t = time.perf_counter()
    result = cell.run(steps, out_dir, label=steps[0].label if len(steps) == 1 else "protocol", restart=restart)
    cell.timer.add("solve_s", time.perf_counter() - t)
    summary = {"study": "discharge", **cell.base_summary(), "discharge": result}
    summary["timings_s"] = {**cell.timer.sections, "compile_s": cell.solver.time_compile_s}
    summary["wall_time_s"] = comm.allreduce(cell.timer.total(), op=MPI.MAX)
    cell.destroy()
    if out_dir is not None:
        outputs.write_json(comm, out_dir / "geometry.json", geometry_record(cell.desc, cell.cm))
        outputs.write_json(comm, out_dir / "summary.json", summary)
        if comm.rank == 0 and cfg.output.png:
            try:
                from microsim.post.rate_plots import plot_voltage_capacity

                plot_voltage_capacity({result["label"]: out_dir / "timeseries.csv"}, out_dir / "voltage_capacity.png")
            except Exception as exc:  # a picture must never cost the results
                print(f"microsim: warning: voltage_capacity.png not written ({type(exc).__name__}: {exc})")
    return summary
