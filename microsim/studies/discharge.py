"""Galvanostatic discharge/charge protocols on the resolved cell (``[study] kind = "discharge"``).

Stages: geometry → mesh → transient model (θ solved in time, optional double layer) → the protocol of
``[study]`` (one CC discharge at ``study.c_rate`` to ``study.cutoff_discharge_V`` by default, or the
``[[study.steps]]`` experiment) run by :class:`~microsim.studies.stepping.ProtocolRunner` → ``timeseries.csv``,
field snapshots (``fields_series/*.xdmf``), final fields and ``summary.json["discharge"]``.

Overpotential breakdown (volts, positive = loss, for the direction of the current ``s = sign(I)``). Averaging the
interface condition ``V + φ̃_s − φ_e = U + η`` over Γ with the weights ``i_n / ∫ i_n`` (written ``⟨·⟩_Γ``), and
``φ_e = −η_Li`` over the Li metal with the weights ``i_Li / ∫ i_Li`` (``⟨·⟩_Li``), gives exactly, at every
instant,

    s·(U(θ̄) − V) = s·(U(θ̄) − ⟨U⟩_Γ) − s⟨η⟩_Γ + s⟨η_Li⟩_Li + s(⟨ψ⟩_Li − ⟨ψ⟩_Γ) + sβ(⟨ln c⟩_Li − ⟨ln c⟩_Γ)
                   + s⟨φ̃_s⟩_Γ,        ψ = φ_e − β ln(c/c0)

with θ̄ the volume-mean lithiation. So:

* **solid diffusion** = ``s·(U(θ̄) − ⟨U⟩_Γ)``: the OCP the current sees at the particle surfaces versus the OCP
  of the mean lithiation. It contains the radial gradients inside particles *and* the imbalance between
  particles (a particle under a contact spot full while the others are empty), both solid-state transport;
* **charge transfer** = cathode ``−s⟨η_c0⟩_Γ`` + Li metal ``s⟨η_Li⟩_Li`` kinetic overpotentials, ``η_c0`` the
  overpotential that would carry the same ``i_n`` at the reference salt (symmetric kinetics; docs/model.md §4.4);
* **salt depletion** = the diffusion potential ``sβ(⟨ln c⟩_Li − ⟨ln c⟩_Γ)`` between the electrodes plus the
  salt's effect on the cathode kinetics ``−s⟨η − η_c0⟩_Γ`` (reported on its own too; also reported: the smallest
  salt concentration); **electrolyte ohmic** = the rest of the electrolyte's drop,
  ``s(⟨ψ⟩_Li − ⟨ψ⟩_Γ)``, the drop of the potential whose gradient drives the current (``i_e = −κ ∇ψ``). Both
  stay finite as the salt runs out (``c/c0`` is floored at 1e-8 inside the logarithm). The split of the
  dissipation (Joule heating and the concentration term, the resistance study's exact DC breakdown) does not:
  near depletion the steep ``∇ln c`` inside the cells next to Γ inflates both with opposite signs (+11 V and
  −15 V at a 0.43 V total in a planar cell at Sand's time, where this split gives 0.50 V of salt depletion).
  Once the salt next to Γ falls below about 1 % of c0, P1 cannot follow ``ln c`` across the cell next to Γ
  and the ohmic part turns negative (−0.24 V in that cell at the cut-off): a sign of the depletion, not of
  resistance;
* solid ohmic = ``s⟨φ̃_s⟩_Γ`` (small; reported, not a candidate).

The **limiting mechanism** is the candidate that grew most between the last step's least-loss state (its
smallest total overpotential) and its end (:func:`limiting_mechanism`); the largest at the end is reported beside
it. The sum closes on ``U(θ̄) − V`` exactly, with or without the double layer (the weights are the faradaic
currents).

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
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import dolfinx_solver  # noqa: F401

import dolfinx
import numpy as np
from mpi4py import MPI

from microsim import checkpoint, interrupt, outputs, tags
from microsim.config import DEFAULT_C_RATES
from microsim.errors import ConfigError, ConvergenceError, MicrosimError, TableRangeError
from microsim.field_output import write_fields_xdmf
from microsim.physics.functionals import Quantities, cell_volumes, current_weighted_forms
from microsim.physics.model import CellModel, options_for
from microsim.solver import newton_from_config
from microsim.studies import resolution
from microsim.studies.base import Study, StudyContext, StudyResult, Summary, run_with
from microsim.studies.common import n_dofs, physical_fields, write_fields
from microsim.studies.observers import Checkpointer, ProtocolProgress, Snapshots
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

if TYPE_CHECKING:
    from microsim.config import Config

#: Candidates of the limiting mechanism (keys of the overpotential breakdown).
MECHANISMS = ("electrolyte_ohmic", "salt_depletion", "solid_diffusion", "charge_transfer")
#: A particle whose mean lithiation changed by less than this is unused (docs/model.md §4.5).
UNUSED_CHANGE = 0.05
#: A discharge from a lithiation above this is not from the charged state (a note in the log and the summary).
CHARGED_START_MAX = 0.05
#: Salt below this fraction of c0 counts as depleted (``salt_minimum``; measured with a degree-4 rule).
DEPLETED = 0.05

#: timeseries.csv column for each breakdown key.
COLUMNS = {
    "ocv_mean_V": "OCV at mean lithiation [V]",
    "total_V": "Total overpotential [V]",
    "electrolyte_ohmic": "Electrolyte ohmic [V]",
    "salt_depletion": "Salt depletion [V]",
    "salt_depletion_kinetic": "Salt depletion (kinetic part) [V]",  # no comma: CSV headers stay unquoted
    "solid_diffusion": "Solid diffusion [V]",
    "charge_transfer": "Charge transfer [V]",
    "charge_transfer_cathode": "Charge transfer cathode [V]",
    "charge_transfer_anode": "Charge transfer anode [V]",
    "solid_ohmic": "Solid ohmic [V]",
    "theta_mean": "Mean lithiation [-]",
    "theta_surface": "Surface lithiation (current-weighted) [-]",
    "c_min_mol_m3": "Minimum salt concentration [mol/m3]",
}


#: The columns that describe the state, not a voltage (dimensionless lithiation, salt in mol/m³).
STATE_COLUMNS = ("theta_mean", "theta_surface", "c_min_mol_m3")


def limiting_mechanism(records: list[Record]) -> tuple[str, dict[str, float], str]:
    """The mechanism that ended a constant-current step, from its breakdown history (docs/model.md §4.4).

    The part that *grew* most between the step's least-loss state (the smallest total overpotential, once the
    start-up transients of the surface lithiation are over) and its end: with LiFePO4's flat OCP a loss that is
    large but constant (the Tafel overpotential of a fixed current) shifts the whole curve and does not end the
    discharge; what brings the voltage down to the cut-off is the part that rises. When nothing rose (the cut-off
    was met at the start), the largest part at the end.

    Args:
        records: the accepted records of one step at non-zero current, in time order, each with the breakdown
            keys of :data:`MECHANISMS` and ``total_V`` in ``extra``.

    Returns:
        ``(by_growth, growth_V, largest_at_end)``: the limiting mechanism, each candidate's growth [V] from the
        least-loss state to the end, and the largest candidate at the end. ``("none", {}, "none")`` for no records.
    """
    loaded = [r for r in records if r.current_A_m2 != 0]
    if not loaded:
        return "none", {}, "none"
    end = loaded[-1].extra
    largest = max(MECHANISMS, key=lambda k: end[k])
    ref = min(loaded, key=lambda r: r.extra["total_V"]).extra
    growth = {k: end[k] - ref[k] for k in MECHANISMS}
    by_growth = max(MECHANISMS, key=lambda k: growth[k])
    return (by_growth if growth[by_growth] > 0.0 else largest), growth, largest


class DischargeCell:
    """A meshed cell with a transient model, a solver and compiled functionals, reusable for many runs.

    Args:
        cfg: validated configuration (``study.kind`` discharge or rate).
        comm: communicator.
    """

    def __init__(self, cfg: Config, comm: MPI.Comm, ctx: StudyContext | None = None) -> None:
        if ctx is None:
            ctx = StudyContext.prepare(cfg, comm)  # validation first: no collective work before this
        self.ctx = ctx
        self.cfg = cfg
        self.comm = comm
        self.timer = ctx.timer
        self.params = ctx.params
        self.desc = ctx.desc
        self.cm = ctx.cm
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
        self._depleted_form: tuple[Any, Any] | None = None  # compiled on first use (salt_minimum)
        self.C_per_mAh_g = C_PER_MAH * self.mass_kg_m2 * 1.0e3  # C/m² of 1 mAh/g
        self.theta0 = float(self.params.initial_stoichiometry)
        self.ocp = self.params.lfp.ocp
        self.start_note = self._start_note()
        if self.start_note is not None:
            warnings.warn(self.start_note, stacklevel=2)  # printed once, by rank 0 (microsim.cli)
        self.resolution = self._resolution()
        for key in ("solid_diffusion", "salt_diffusion"):  # the spots' note came with the mesh
            if "note" in self.resolution.get(key, {}):
                warnings.warn(str(self.resolution[key]["note"]), stacklevel=2)

    # --- set-up -------------------------------------------------------------------------------------------
    def _compile_breakdown(self) -> None:
        forms = current_weighted_forms(self.model)
        self._bforms = {k: dolfinx.fem.form(f, entity_maps=self.cm.entity_maps) for k, f in forms.items()}

    def _setup_particle_bins(self) -> None:
        """Bin the owned particle-mesh cells to the particles of the description (nearest surface)."""
        pm = self.model.V_theta.mesh  # the particles' own (θ) submesh, also with a carbon-binder domain
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
        m.V.value = float(self.ocp.numpy(np.array(self.theta0)))  # type: ignore[assignment]  # dolfinx: Constant.value
        m.current_density.value = 0.0  # type: ignore[assignment]  # dolfinx: Constant.value
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

    def _error_scalars(self) -> list[float]:
        """What the error step control watches besides V: each meshed particle's mean lithiation."""
        th = self.particle_theta()
        return [float(x) for x in th[np.isfinite(th)]]

    def breakdown(self, current_A_m2: float) -> dict[str, float]:
        """Overpotential parts [V] of the present state (module docstring), plus mean/surface θ and min c."""
        q = self.quantities.evaluate(("lithium_solid",))  # the rest of the breakdown is on the interfaces
        b = {k: self.comm.allreduce(dolfinx.fem.assemble_scalar(f), op=MPI.SUM) for k, f in self._bforms.items()}
        theta_mean = q["lithium_solid"] / (self.params.lfp.c_max_mol_m3 * self.volume_particle_m)
        u_mean = float(self.ocp.numpy(np.array(theta_mean)))
        c_arr = self.model.fields["c"].x.array if "c" in self.model.fields else np.ones(1)
        c_min = self.comm.allreduce(float(np.min(c_arr)) if c_arr.size else np.inf, op=MPI.MIN)
        self.model.check_table_range()  # a tabulated law: stop once the accepted state leaves the table
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
        # the electrolyte's share: the drop of φ_e between the electrodes as each electrode's current sees it, split
        # into the diffusion potential β Δln c and the drop of ψ = φ_e − β ln c (i_e = −κ ∇ψ): both stay finite
        # as the salt runs out, unlike the split of the dissipation (module docstring)
        beta = float(self.model.beta)
        lnc_li = b["ilnc_li"] / b["i_li"] if abs(b["i_li"]) > 0 else 0.0
        phie_li = -b["ieta_li"] / b["i_li"] if abs(b["i_li"]) > 0 else 0.0
        lnc_g, phie_g = b["ilnc"] / b["i"], b["iphie"] / b["i"]
        if "iB" in b:
            # β(c): the diffusion potential is B(c) = ∫_c0^c β/c' dc' (ψ = φ_e − B(c)); written as β ln c with
            # β = 1 so that the lines below serve both laws (constant β: the arithmetic as it always was)
            beta = 1.0
            lnc_li = b["iB_li"] / b["i_li"] if abs(b["i_li"]) > 0 else 0.0
            lnc_g = b["iB"] / b["i"]
        # the salt's effect on the cathode kinetics (i0 ∝ (c/c0)^α_a) counts as salt depletion, not charge transfer
        kinetic_salt = -s * (b["ieta"] - b["ieta_c0"]) / b["i"]
        out["charge_transfer_cathode"] -= kinetic_salt
        out["charge_transfer"] -= kinetic_salt
        out["salt_depletion_kinetic"] = kinetic_salt
        out["salt_depletion"] = s * beta * (lnc_li - lnc_g) + kinetic_salt
        out["electrolyte_ohmic"] = s * ((phie_li - beta * lnc_li) - (phie_g - beta * lnc_g))
        out["solid_ohmic"] = s * b["iphis"] / b["i"]
        return out

    def salt_minimum(self) -> dict[str, Any] | None:
        """Where the salt is lowest now, and how much of the electrolyte is depleted (collective; None: no salt).

        ``depleted_volume_fraction`` is the share of the electrolyte volume below 5 % of ``c0``; ``region`` says
        whether the minimum sits in the cathode's pores (with its depth below the membrane) or in the membrane.
        """
        c = self.model.fields.get("c")
        if c is None:
            return None
        comm = self.comm
        n = c.function_space.dofmap.index_map.size_local
        arr = c.x.array[:n]
        local = (float(arr.min()), comm.rank) if n else (np.inf, comm.rank)
        c_min, owner = comm.allreduce(local, op=MPI.MINLOC)
        xyz = c.function_space.tabulate_dof_coordinates()[:n]
        mine = [float(v) for v in xyz[int(np.argmin(arr))][: self.cm.dim]] if comm.rank == owner else None
        pos = comm.bcast(mine, root=owner)
        if self._depleted_form is None:
            import ufl

            low = ufl.conditional(ufl.lt(c, DEPLETED), 1.0, 0.0)
            emaps = self.cm.entity_maps
            # the conditional needs more than one point per cell
            dx_e = self.model.dx(tags.ELECTROLYTE_CELLS, metadata={"quadrature_degree": 4})
            self._depleted_form = tuple(dolfinx.fem.form(f * dx_e, entity_maps=emaps) for f in (low, 1.0))
        vol = [comm.allreduce(dolfinx.fem.assemble_scalar(f), op=MPI.SUM) for f in self._depleted_form]
        z, top = pos[-1], self.desc.cathode_thickness_um
        return {
            "c_min_mol_m3": c_min * self.params.electrolyte.concentration_mol_m3,
            "position_um": pos,
            "region": "cathode pores" if z < top - 1e-9 else "membrane",
            "depth_below_membrane_um": max(top - z, 0.0),
            "depleted_volume_fraction": vol[0] / vol[1] if vol[1] > 0 else 0.0,
        }

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
            error_scalars=self._error_scalars,
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
            st.checkpoint_interval_s > 0
            or st.checkpoint_every_steps > 0
            or st.checkpoint_wall_interval_s > 0
            or interrupt.installed()  # a stop request (SIGTERM, --max-wall-time) writes one
        ):
            writer = Checkpointer(self, ckpt_path, keys, extra, runner.time_s)
            runner.checkpoint = writer

        fraction0 = runner.step_fraction(steps[runner.step_index]) if runner.step_index < len(steps) else 1.0
        series = (
            Snapshots(self, out_dir, cfg.study.snapshots, runner.time_s, fraction0)
            if out_dir is not None and cfg.output.xdmf
            else None
        )
        progress = ProtocolProgress(
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
            except (ConvergenceError, TableRangeError) as exc:
                if out_dir is None:
                    raise
                raise type(exc)(self._save_last_good(runner, Path(out_dir), keys, extra, exc)) from exc
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
        last_step = [r for r in runner.records if r.step_index == end.step_index]
        limiting, growth, largest_at_end = (
            limiting_mechanism(last_step) if end.current_A_m2 != 0 else ("none", {}, "none")
        )
        step_rows: list[dict[str, Any]] = []
        for step, sm in zip(steps, summaries, strict=True):
            q = capacity_mAh_g(abs(sm.charge_C_m2), self.mass_kg_m2)
            e = energy_Wh_kg(abs(sm.energy_J_m2), self.mass_kg_m2)
            step_rows.append(
                {
                    "index": sm.index,
                    "kind": sm.kind,
                    "label": sm.label,
                    "c_rate": step.c_rate,
                    "current_density_A_m2": step.current_A_m2 if step.kind != "cv" else None,
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
        first_discharge = next((r for r in step_rows if r["kind"] == "cc" and r["current_density_A_m2"] > 0), None)
        result: dict[str, Any] = {
            "label": label,
            "capacity_mAh_g": first_discharge["capacity_mAh_g"] if first_discharge else 0.0,
            "energy_Wh_kg": first_discharge["energy_Wh_kg"] if first_discharge else 0.0,
            "mean_voltage_V": first_discharge["mean_voltage_V"] if first_discharge else None,
            "end_reason": summaries[-1].end_reason,
            "final_voltage_V": float(self.model.V.value),
            "final_time_s": runner.time_s,
            "net_charge_C_m2": runner.charge_C_m2,
            "overpotential_at_end_V": {k: end.extra[k] for k in COLUMNS if k not in STATE_COLUMNS},
            # not voltages: kept out of the block whose name says V
            "state_at_end": {k: end.extra[k] for k in STATE_COLUMNS if k != "theta_mean"},
            "limiting_mechanism": limiting,
            "overpotential_growth_V": growth,
            "salt_minimum": self.salt_minimum(),
            "resolution_at_end": self.mesh_check(),
            "largest_overpotential_at_end": largest_at_end,
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
            write_fields(cfg, self.model, Path(out_dir), title, runner.time_s)  # the end state, at its time
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
        exc: ConvergenceError | TableRangeError,
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

    def base_summary(self, study: str) -> dict[str, Any]:
        """Summary keys shared by the discharge and rate studies (the run header first)."""
        return {
            **self.ctx.header(study),
            "double_layer": self.cfg.study.double_layer,
            "n_dofs": n_dofs(self.model),
            "linear_solver": self.solver.linear_solver,
            "linear_solver_fallback": self.solver.fallback,
            "n_particles": self.n_particles,
            "active_fraction": self.ctx.geometry.get("active_fraction"),
            "initial_stoichiometry": self.theta0,
            "one_c_current_density_A_m2": self.one_c,
            "lfp_loading_mg_cm2": self.mass_kg_m2 * 100.0,
            "theoretical_window_capacity_mAh_g": self.window_capacity_mAh_g(),
            "initial_state_note": self.start_note,
            "resolution": {**self.resolution, "resolved": resolution.all_resolved(self.resolution)},
            "cutoff_discharge_V": self.cfg.study.cutoff_discharge_V,
            "cutoff_charge_V": self.cfg.study.cutoff_charge_V,
            "parameters": self.params.as_dict(),
        }

    def _start_note(self) -> str | None:
        """Why a discharge that starts part-lithiated delivers less than the voltage window (``None``: it does not).

        The default ``conditions.initial_stoichiometry`` (0.5) suits a resistance; a discharge or rate study from
        there counts only the rest of the window, which once went unnoticed (77 mAh/g "at 0.1C").
        """
        st = self.cfg.study
        first = st.steps[0] if st.steps else None
        discharges = st.kind == "rate" or first is None or getattr(first, "direction", None) == "discharge"
        if not discharges or self.theta0 <= CHARGED_START_MAX:
            return None
        return (
            f"conditions.initial_stoichiometry = {self.theta0:g}: the discharge starts {100 * self.theta0:.0f} % "
            f"lithiated, so it can deliver at most {self.window_capacity_mAh_g():.0f} of the "
            f"{self.window_capacity_mAh_g(0.0):.0f} mAh/g of the voltage window; set it to 0.01 to start charged"
        )

    def _fastest_c_rate(self) -> float:
        st = self.cfg.study
        if st.kind == "rate":
            return max(st.c_rates or DEFAULT_C_RATES)
        steps = steps_from_config(st, self.one_c, self.C_per_mAh_g)
        rates = [abs(s.current_A_m2) / self.one_c for s in steps if s.kind == "cc" and s.current_A_m2]
        return max(rates, default=0.0)

    def _resolution(self) -> dict[str, Any]:
        """The diffusion layers of the fastest discharge against the interface mesh (:mod:`.resolution`).

        Over a discharge of ``t = 1 h / C`` lithium enters a layer ``√(D_s t)`` deep, and the salt a layer
        ``√(D t)``. Where the solid layer is shorter than the particles' radius and spans fewer than
        :data:`~microsim.studies.resolution.LAYER_ELEMENTS` interface elements, the P1 θ field smears it. With 2.6
        elements a 2 µm sphere at 1C gave 20.2 instead of 21.1 mAh/g (4 % low); with a third of an element
        (D_s = 9.3e-19 m²/s, 0.5 µm particles, h_Γ = 0.25 µm) the 2D default packing gave 73.8 / 54.5 / 48.8 mAh/g
        at 0.1C as h_Γ halved twice (docs/solver.md, "Resolving thin layers").
        """
        rate = self._fastest_c_rate()
        out: dict[str, Any] = {**self.ctx.resolution, "fastest_c_rate": rate}
        if rate <= 0:
            return out
        t = 3600.0 / rate
        h_um = float(self.cfg.geometry.interface_mesh_size_um or 0.5 * self.cfg.geometry.mesh_size_um)
        knob = "geometry.interface_mesh_size_um"
        if self.n_particles:
            radius_um = float(np.mean(np.asarray(self.desc.particles.radii)))
            d_s = self.params.lfp.diffusivity_m2_s
            solid = resolution.diffusion_layer("solid-diffusion", d_s, t, h_um, knob, radius_um)
            out["solid_diffusion"] = {**solid, "mean_radius_um": radius_um}
        if "c" in self.model.fields:
            out["salt_diffusion"] = resolution.diffusion_layer(
                "salt-diffusion", self.params.electrolyte.diffusivity_m2_s, t, h_um, knob
            )
        for block in (out.get("solid_diffusion", {}), out.get("salt_diffusion", {})):
            if "note" in block:
                block["note"] = f"at {rate:g}C {block['note']}"
        return out

    def mesh_check(self) -> dict[str, Any]:
        """The largest change of ``c/c0`` and θ across one element now (collective; :func:`.element_change`).

        Warns for a layer the estimates before the run (:meth:`_resolution`) passed.
        """
        out: dict[str, Any] = {}
        c = self.model.fields.get("c")
        if c is not None:
            out["salt"] = resolution.element_change(
                c, 1.0, "the salt concentration c/c0", "geometry.interface_mesh_size_um and geometry.mesh_size_um"
            )
        out["lithiation"] = resolution.element_change(
            self.model.theta, 1.0, "the lithiation theta", "geometry.interface_mesh_size_um"
        )
        for key, before in (("salt", "salt_diffusion"), ("lithiation", "solid_diffusion")):
            flagged = not self.resolution.get(before, {}).get("resolved", True)
            if key in out and "note" in out[key] and not flagged:
                warnings.warn(str(out[key]["note"]), stacklevel=2)
        out["resolved"] = resolution.all_resolved(out)
        return out

    def window_capacity_mAh_g(self, theta_start: float | None = None) -> float:
        """Theoretical capacity from θ0 (or ``theta_start``) to the θ where U equals the discharge cut-off [mAh/g]."""
        theta0 = self.theta0 if theta_start is None else float(theta_start)
        grid = np.linspace(theta0, 1.0 - 1e-9, 200001)
        u = self.ocp.numpy(grid)
        below = np.nonzero(u <= self.cfg.study.cutoff_discharge_V)[0]
        theta_cut = grid[below[0]] if below.size else 1.0
        return (theta_cut - theta0) * self.params.lfp.capacity_mAh_g

    def destroy(self) -> None:
        """Free PETSc objects."""
        self.solver.destroy()


class DischargeStudy(Study):
    """``study.kind = "discharge"``: the ``[[study.steps]]`` protocol (or one CC discharge) from the initial state."""

    kind: ClassVar[str] = "discharge"

    def check(self, cfg: Config, out_dir: Path | None, comm: MPI.Comm, restart: bool) -> None:
        """A restart needs this configuration's checkpoint in ``out_dir`` (checked before the mesh: fail fast)."""
        if restart:
            if out_dir is None:
                raise ConfigError("restart: needs the output folder that holds the checkpoint")
            checkpoint.check(Path(out_dir) / checkpoint.FILENAME, comm, cfg)

    def run(self, ctx: StudyContext) -> StudyResult:
        """Build the transient cell, run the protocol, write the time series and the fields."""
        cell = DischargeCell(ctx.cfg, ctx.comm, ctx)
        steps = steps_from_config(ctx.cfg.study, cell.one_c, cell.C_per_mAh_g)
        t = time.perf_counter()
        label = steps[0].label if len(steps) == 1 else "protocol"
        result = cell.run(steps, ctx.out_dir, label=label, restart=ctx.restart)
        cell.timer.add("solve_s", time.perf_counter() - t)
        self.label = result["label"]
        summary = {**cell.base_summary(self.kind), "discharge": result}
        summary["timings_s"] = {"compile_s": cell.solver.time_compile_s}
        cell.destroy()
        return StudyResult(summary)

    def pictures(self, ctx: StudyContext, summary: Summary) -> dict[str, Callable[[Path], object]]:
        """The voltage-capacity curve of the run."""
        from microsim.post.rate_plots import plot_voltage_capacity

        series = {self.label: Path(ctx.out_dir or ".") / "timeseries.csv"}
        return {"voltage_capacity.png": lambda out: plot_voltage_capacity(series, out)}


def run_discharge(cfg: Config, out_dir: Path | None, comm: MPI.Comm, restart: bool = False) -> Summary:
    """Run the discharge study on ``cfg``: the protocol from the initial state; write outputs; return the summary.

    Args:
        cfg: validated configuration.
        out_dir: output folder (also where checkpoints go), or None.
        comm: communicator.
        restart: continue from ``out_dir/checkpoint.npz`` (written on any number of ranks).

    Raises:
        ConfigError: ``restart`` and no checkpoint of this configuration in ``out_dir``.
    """
    return run_with(DischargeStudy(), cfg, out_dir, comm, restart)
