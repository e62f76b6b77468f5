"""DC resistance study: steady polarisation at a small current and its exact dissipation breakdown.

Steps: geometry → mesh → model (θ frozen at the initial stoichiometry, so ``U`` is uniform and the breakdown is
exact) → Newton on the steady charge balance with the salt relaxed to steady state by pseudo-transient steps →
resistance parts (docs/model.md §4.2) → ``summary.json``, ``geometry.json``, fields.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import dolfinx_solver  # noqa: F401

import numpy as np
from mpi4py import MPI

from microsim.constants import thermal_voltage
from microsim.errors import ConvergenceError
from microsim.parameters import CellParameters
from microsim.physics.functionals import Quantities, parts_of
from microsim.physics.model import CellModel, options_for
from microsim.progress import ProgressLog
from microsim.solver import BorderedNewton, NewtonReport, newton_from_config
from microsim.studies.base import Study, StudyContext, StudyResult, Summary, run_with
from microsim.studies.common import n_dofs, write_fields

if TYPE_CHECKING:
    from microsim.config import Config

#: Default current density of the resistance study [A/m²] (about 3e-6 C): small enough that even the
#: point-contact spots stay in the linear Butler–Volmer regime (reported as ``eta_rms_over_RT_F``).
DEFAULT_CURRENT_A_M2 = 1.0e-5
#: Pseudo-transient salt step in units of the diffusion time L²/D: each step shrinks the remaining transient
#: by about this factor.
SALT_STEP_DIFFUSION_TIMES = 1.0e4
MAX_SALT_STEPS = 6


def one_c_current_density(params: CellParameters, particle_volume_per_area_m: float) -> float:
    """1C current density [A/m²]: delivers the theoretical capacity of the LFP in the cell in one hour."""
    capacity_C_per_kg = params.lfp.capacity_mAh_g * 3.6 * 1.0e3  # mAh/g → C/kg
    return capacity_C_per_kg * params.lfp.density_kg_m3 * particle_volume_per_area_m / 3600.0


def solve_steady(
    model: CellModel,
    solver: BorderedNewton,
    galvanostatic: bool,
    total_thickness_m: float,
    log: ProgressLog | None = None,
) -> list[NewtonReport]:
    """Newton on the steady problem; the salt (if any) relaxes by pseudo-transient steps. One report per solve.

    Args:
        model: the steady cell model.
        solver: its Newton solver.
        galvanostatic: solve for V under the applied current (else V is imposed).
        total_thickness_m: cathode plus membrane (sets the pseudo-transient step).
        log: progress of the relaxation steps, if given.
    """
    el = model.params.electrolyte
    if "c" not in model.fields:
        reports = [solver.solve(galvanostatic)]
        if log is not None:
            r = reports[0]
            log.update(1.0, {"Newton": str(r.iterations), "Krylov": str(r.linear_iterations)}, final=True)
        return reports
    model.dt.value = SALT_STEP_DIFFUSION_TIMES * total_thickness_m**2 / el.diffusivity_m2_s  # type: ignore[assignment]  # dolfinx: Constant.value
    v_prev = float(model.V.value)
    reports = []
    for k in range(MAX_SALT_STEPS):
        reports.append(solver.solve(galvanostatic))
        model.commit_step()
        v = float(model.V.value)
        # the transient left decays by ~1e-4 per step; stop once V no longer moves at round-off level
        settled = abs(v - v_prev) < 1e-13 * max(1.0, abs(v))
        if log is not None:
            r = reports[-1]
            log.update(
                1.0 if settled else (k + 1) / MAX_SALT_STEPS,
                {
                    "salt relaxation step": str(k + 1),
                    "V": f"{v:.6f} V",
                    "ΔV": f"{abs(v - v_prev):.2e} V",
                    "Newton": str(r.iterations),
                    "Krylov": str(r.linear_iterations),
                },
                final=settled,
            )
        if settled:
            break
        v_prev = v
    model.check_table_range()  # a tabulated law: the steady salt must stay inside its table
    return reports


class ResistanceStudy(Study):
    """``study.kind = "resistance"``: the steady polarisation and its breakdown."""

    kind: ClassVar[str] = "resistance"

    def run(self, ctx: StudyContext) -> StudyResult:
        """Solve the steady problem at the study's current (or voltage); the breakdown and its checks."""
        cfg, comm, params, desc, cm, timer = ctx.cfg, ctx.comm, ctx.params, ctx.desc, ctx.cm, ctx.timer
        t = time.perf_counter()
        model = CellModel(cm, params, options_for(cfg, self.kind))
        solver = newton_from_config(model, cfg.solver)
        quantities = Quantities(model)
        timer.add("setup_s", time.perf_counter() - t)

        q0 = quantities.evaluate()
        particle_volume_per_area = q0["volume_particle"]
        i_1c = one_c_current_density(params, particle_volume_per_area)
        study = cfg.study
        galvanostatic = study.mode == "galvanostatic"
        theta0 = params.initial_stoichiometry
        v_eq = float(params.lfp.ocp.numpy(np.array(theta0)))
        if galvanostatic:
            if study.current_density_A_m2 is not None:
                current = float(study.current_density_A_m2)
            elif study.c_rate is not None:
                current = float(study.c_rate) * i_1c
            else:
                current = DEFAULT_CURRENT_A_M2
            model.current_density.value = current  # type: ignore[assignment]  # dolfinx: Constant.value
            model.current_ref.value = current  # type: ignore[assignment]  # dolfinx: Constant.value
        else:
            # potentiostatic: the config requires voltage_V
            model.V.value = float(study.voltage_V or 0.0)  # type: ignore[assignment]  # dolfinx: Constant.value

        t = time.perf_counter()
        total_m = desc.total_thickness_um * 1e-6
        log = ProgressLog(comm, "resistance", cfg.output.progress_interval_s)
        reports = solve_steady(model, solver, galvanostatic, total_m, log)
        log.close()
        iterations = sum(r.iterations for r in reports)
        timer.add("solve_s", time.perf_counter() - t)

        q = quantities.evaluate()
        if not galvanostatic:
            current = q["current_anode"]
            if abs(current) < 1e-30:
                raise ConvergenceError("potentiostatic resistance study: the cell carries no current at this voltage")
            model.current_density.value = current  # type: ignore[assignment]  # dolfinx: Constant.value
        br = quantities.breakdown(v_eq)
        kappa = params.electrolyte.conductivity_S_m
        rt_f = thermal_voltage(params.temperature_K)
        r_membrane_1d = desc.membrane_thickness_um * 1e-6 / kappa * 1e4
        r_li_1d = rt_f / params.li.exchange_current_A_m2 * 1e4
        resistance = {p: br[p] for p in parts_of(model)}
        resistance["total"] = br["total"]
        resistance["interfacial_effective"] = br["total"] - r_membrane_1d - r_li_1d
        area_hat = model.area_hat
        # Γ per geometric area × Â: µm² in 3D, µm (= µm² per µm of depth) in 2D
        interface_area_um2 = q["interface_area"] * area_hat
        eta_rms = float(np.sqrt(q["eta_squared"] / q["interface_area"])) if q["interface_area"] > 0 else 0.0

        summary: Summary = {
            "mode": study.mode,
            "n_dofs": n_dofs(model),
            "linear_solver": solver.linear_solver,
            "linear_solver_fallback": solver.fallback,
            "active_fraction": ctx.geometry.get("active_fraction"),
            "interface_area_um2": interface_area_um2,
            "interface_area_per_geometric_area": q["interface_area"],
            "current_density_A_m2": current,
            "one_c_current_density_A_m2": i_1c,
            "cell_voltage_V": float(model.V.value),
            "equilibrium_voltage_V": v_eq,
            "resistance_ohm_cm2": resistance,
            "reference_ohm_cm2": {"membrane_1d": r_membrane_1d, "li_charge_transfer_1d": r_li_1d},
            "breakdown_closure_relative": abs(br["sum_of_parts"] / br["total"] - 1.0),
            "conservation": {
                "interface_current_A_m2": -q["current_interface"],
                "anode_current_A_m2": q["current_anode"],
                "applied_current_A_m2": current,
            },
            "eta_rms_over_RT_F": eta_rms / rt_f,
            "linear_regime": bool(eta_rms / rt_f < 0.1),
            "newton_iterations": iterations,
            "timings_s": {"compile_s": solver.time_compile_s},
            "parameters": params.as_dict(),
        }
        solver.destroy()
        if ctx.out_dir is not None:
            t = time.perf_counter()
            write_fields(cfg, model, ctx.out_dir, ctx.title())
            timer.add("output_s", time.perf_counter() - t)
        return StudyResult(summary)


def run_resistance(cfg: Config, out_dir: Path | None, comm: MPI.Comm) -> Summary:
    """Run the resistance study on ``cfg``; write outputs under ``out_dir`` (if given) and return the summary."""
    return run_with(ResistanceStudy(), cfg, out_dir, comm)
