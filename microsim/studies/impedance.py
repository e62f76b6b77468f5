"""Impedance study: small-signal spectrum about a rest state, per-interface arcs, KK check, circuit fit.

Stages: geometry → mesh → transient model with double layer at the rest state (θ0 uniform, c = c0, V = U(θ0)) →
K, M assembled once → one LU per frequency (:mod:`microsim.frequency`) → ``impedance.csv``, Nyquist/Bode PNGs,
``summary.json["impedance"]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import dolfinx_solver  # noqa: F401

import numpy as np
import pandas as pd
from mpi4py import MPI

from microsim import outputs
from microsim.frequency import FrequencyResponse, ImpedanceResult
from microsim.physics.model import CellModel, ModelOptions, options_for
from microsim.progress import ProgressLog
from microsim.studies import resolution
from microsim.studies.base import Study, StudyContext, StudyResult, Summary, run_with
from microsim.studies.common import n_dofs

if TYPE_CHECKING:
    from microsim.config import Config
    from microsim.mesh import CellMesh
    from microsim.parameters import CellParameters


def frequencies(cfg: Config) -> np.ndarray:
    """Log-spaced frequencies from high to low (the paper's 1e6 → 1e-2 Hz by default), both ends included."""
    s = cfg.study
    decades = np.log10(s.frequency_max_Hz / s.frequency_min_Hz)
    n = round(decades * s.points_per_decade) + 1
    return np.logspace(np.log10(s.frequency_max_Hz), np.log10(s.frequency_min_Hz), n)


def rest_model(
    cm: CellMesh,
    params: CellParameters,
    theta0: float,
    solid_diffusion: bool = True,
    options: ModelOptions | None = None,
) -> CellModel:
    """A model at rest: uniform θ0, c = c0, zero potentials, V = U(θ0) (an exact equilibrium).

    ``options`` default to the impedance study's for the electrolyte model of ``params``.
    """
    if options is None:
        options = ModelOptions.for_study(
            "impedance", electrolyte_model=params.electrolyte.model, solid_diffusion=solid_diffusion
        )
    model = CellModel(cm, params, options)
    model.theta.x.array[:] = theta0
    model.theta_old.x.array[:] = theta0
    model.V.value = float(params.lfp.ocp.numpy(np.array(theta0)))  # type: ignore[assignment]  # dolfinx: Constant.value
    model.commit_step()
    return model


def spectrum_table(res: ImpedanceResult) -> pd.DataFrame:
    """``impedance.csv``: frequency, real and imaginary part.

    These are the three columns ``impedance.preprocessing.readCSV`` expects; it reads the header as a NaN row.
    """
    return pd.DataFrame(
        {"frequency_Hz": res.frequency_Hz, "z_real_ohm_cm2": res.z_ohm_cm2.real, "z_imag_ohm_cm2": res.z_ohm_cm2.imag}
    )


def interfaces_table(res: ImpedanceResult) -> pd.DataFrame:
    """``impedance_interfaces.csv``: each interface's own contribution to Z (the rest is bulk transport)."""
    rest = res.z_ohm_cm2 - res.z_cathode_interface_ohm_cm2 - res.z_anode_interface_ohm_cm2
    return pd.DataFrame(
        {
            "frequency_Hz": res.frequency_Hz,
            "cathode_interface_real_ohm_cm2": res.z_cathode_interface_ohm_cm2.real,
            "cathode_interface_imag_ohm_cm2": res.z_cathode_interface_ohm_cm2.imag,
            "anode_interface_real_ohm_cm2": res.z_anode_interface_ohm_cm2.real,
            "anode_interface_imag_ohm_cm2": res.z_anode_interface_ohm_cm2.imag,
            "bulk_real_ohm_cm2": rest.real,
            "bulk_imag_ohm_cm2": rest.imag,
        }
    )


def analyse(res: ImpedanceResult) -> Summary:
    """Intercepts, arcs, KK residuals and the circuit fit of one spectrum (rank-0 work, no MPI)."""
    from microsim.post.impedance import fit_circuit, kramers_kronig_residuals

    f, z = res.frequency_Hz, res.z_ohm_cm2
    lo = int(np.argmin(f))
    hi = int(np.argmax(f))
    zc, za = res.z_cathode_interface_ohm_cm2, res.z_anode_interface_ohm_cm2
    arcs = {
        # an interface's arc: its own contribution, the part that is resistive at the lowest frequency
        "cathode_interface_ohm_cm2": float(zc[lo].real),
        "anode_interface_ohm_cm2": float(za[lo].real),
        "cathode_apex_frequency_Hz": float(f[int(np.argmax(-zc.imag))]),
        "anode_apex_frequency_Hz": float(f[int(np.argmax(-za.imag))]),
    }
    r0 = float(z[hi].real)
    seeds = {
        "R0": r0,
        "R1": arcs["anode_interface_ohm_cm2"],
        "f1": arcs["anode_apex_frequency_Hz"],
        "R2": arcs["cathode_interface_ohm_cm2"],
        "f2": arcs["cathode_apex_frequency_Hz"],
    }
    fit = fit_circuit(f, z, seeds)
    at = {}
    for target in (0.1, 1.0, 1000.0):
        if f.min() <= target <= f.max():
            zt = complex(np.interp(np.log10(target), np.log10(f[::-1]), z.real[::-1])) + 1j * float(
                np.interp(np.log10(target), np.log10(f[::-1]), z.imag[::-1])
            )
            at[f"{target:g}_Hz"] = {"real_ohm_cm2": zt.real, "imag_ohm_cm2": zt.imag, "abs_ohm_cm2": abs(zt)}
    return {
        "n_frequencies": len(f),
        "frequency_range_Hz": [float(f.min()), float(f.max())],
        "high_frequency_intercept_ohm_cm2": r0,
        "low_frequency_limit_ohm_cm2": {"real": float(z[lo].real), "imag": float(z[lo].imag)},
        "arcs": arcs,
        "at": at,
        "kramers_kronig": kramers_kronig_residuals(f, z),
        "fit": fit,
    }


#: Where the small-signal fields go (one file per group and frequency).
SMALL_SIGNAL_DIRNAME = "fields_small_signal"


def apex_frequencies(analysis: Summary) -> dict[str, float]:
    """The arcs' apex frequencies of an analysed spectrum (``cathode_arc``, ``anode_arc``), one entry per distinct f."""
    arcs = analysis.get("arcs") or {}
    chosen: dict[str, float] = {}
    for label, key in (("cathode_arc", "cathode_apex_frequency_Hz"), ("anode_arc", "anode_apex_frequency_Hz")):
        f = arcs.get(key)
        if isinstance(f, float) and f > 0.0 and f not in chosen.values():
            chosen[label] = f
    return chosen


def small_signal_fields(model: CellModel, re: list, im: list, d_current: complex) -> dict[str, list]:
    """Real and imaginary parts of each field's response to an applied current of amplitude 1 A/m², by group.

    The solve gives the response ``x`` to δV = 1 V, with δI = ``d_current`` A/m² (discharge positive); per unit
    current that is ``x / d_current``. φ_s is the unknown φ̃_s plus δV; the salt concentration is in mol/m³.
    The names carry the part and the unit per 1 A/m²: ``dphi_e_re_V``, ``dc_im_mol_m3``, ``dtheta_re``.
    """
    import dolfinx

    per_amp = 1.0 / d_current
    names = model.names
    out: dict[str, list] = {}

    def part(name: str, label: str, unit: str, scale: float, shift: float = 0.0) -> list:
        k = names.index(name)
        xr, xi = re[k].x.array + shift, im[k].x.array
        funcs = []
        for tag, values in (
            ("re", xr * per_amp.real - xi * per_amp.imag),
            ("im", xr * per_amp.imag + xi * per_amp.real),
        ):
            f = dolfinx.fem.Function(re[k].function_space, name=f"d{label}_{tag}{unit}")
            f.x.array[:] = scale * values
            funcs.append(f)
        return funcs

    electrolyte = part("phi_e", "phi_e", "_V", 1.0)
    if "c" in names:
        electrolyte += part("c", "c", "_mol_m3", model.params.electrolyte.concentration_mol_m3)
    out["electrolyte"] = electrolyte
    solid = part("phi_s", "phi_s", "_V", 1.0, shift=1.0)  # φ_s = V + φ̃_s and δV = 1 in this solution
    theta = part("theta", "theta", "", 1.0) if "theta" in names else []
    if model.has_cbd:
        out["solid"] = solid
        if theta:
            out["particles"] = theta
    else:
        out["particles"] = solid + theta
    return out


def write_small_signal_fields(response: FrequencyResponse, at: dict[str, float], out_dir: Path) -> dict[str, float]:
    """Solve at the frequencies ``at`` again and write their small-signal fields (collective).

    Files: ``fields_small_signal/<group>_<label>.xdmf`` (+ ``.h5``), one grid named by its frequency. Returns
    ``at`` (what was written), empty when there is nothing to write.
    """
    from microsim.field_output import write_fields_xdmf

    if not at:
        return {}
    labels = list(at)
    groups: dict[str, list] = {}
    grid_names: dict[str, str] = {}

    def keep(k: int, d_current: complex) -> None:
        for group, funcs in small_signal_fields(response.model, response.re, response.im, d_current).items():
            groups[f"{group}_{labels[k]}"] = funcs
            grid_names[f"{group}_{labels[k]}"] = f"f = {at[labels[k]]:.6g} Hz ({labels[k]}), per 1 A/m2 applied"

    response.solve(np.array([at[label] for label in labels]), on_solution=keep)
    write_fields_xdmf(response.comm, out_dir, groups, dirname=SMALL_SIGNAL_DIRNAME, grid_names=grid_names)
    return dict(at)


class ImpedanceStudy(Study):
    """``study.kind = "impedance"``: the small-signal spectrum about a rest state.

    Args:
        solid_diffusion: False freezes θ (then ω → 0 gives the DC resistance of the resistance study).
        freqs: override of the configured frequencies (tests).
    """

    kind: ClassVar[str] = "impedance"

    def __init__(self, solid_diffusion: bool = True, freqs: np.ndarray | None = None) -> None:
        self.solid_diffusion = solid_diffusion
        self.freqs = freqs

    def run(self, ctx: StudyContext) -> StudyResult:
        """Assemble the operator once, solve every frequency, analyse the spectrum on rank 0."""
        cfg, comm, params, timer = ctx.cfg, ctx.comm, ctx.params, ctx.timer
        fr_list = frequencies(cfg) if self.freqs is None else np.asarray(self.freqs, dtype=float)
        soc = cfg.study.state_of_charge
        theta0 = (1.0 - soc) if soc is not None else params.initial_stoichiometry
        model = rest_model(
            ctx.cm, params, theta0, options=options_for(cfg, self.kind, solid_diffusion=self.solid_diffusion)
        )
        response = FrequencyResponse(model, cfg.solver.linear_solver)
        timer.add("setup_s", response.time_setup_s)
        t = time.perf_counter()
        log = ProgressLog(comm, "impedance", cfg.output.progress_interval_s)
        n_fr = len(fr_list)

        def progress(k: int, fr: float, z: complex) -> None:
            log.update(
                (k + 1) / n_fr,
                {"frequency": f"{k + 1}/{n_fr} ({fr:.4g} Hz)", "|Z|": f"{abs(z):.4g} Ω·cm²"},
                final=k + 1 == n_fr,
            )

        res = response.solve(fr_list, progress)
        log.close()
        timer.add("solve_s", time.perf_counter() - t)

        analysis: Summary | None = None
        err = None
        if comm.rank == 0 and len(fr_list) > 3:
            try:
                analysis = analyse(res)
            except Exception as exc:  # the spectrum itself must survive a failed fit
                err = f"{type(exc).__name__}: {exc}"
        analysis = comm.bcast(analysis if analysis is not None else {"analysis_error": err}, root=0)
        written: dict[str, float] = {}
        if ctx.out_dir is not None and cfg.output.xdmf:
            t = time.perf_counter()
            written = write_small_signal_fields(response, apex_frequencies(analysis), ctx.out_dir)
            timer.add("small_signal_fields_s", time.perf_counter() - t)
        response.destroy()
        summary: Summary = {
            "state_of_charge": 1.0 - theta0,
            "equilibrium_voltage_V": float(params.lfp.ocp.numpy(np.array(theta0))),
            "n_dofs": n_dofs(model),
            "linear_solver": response.linear_solver,
            "active_fraction": ctx.geometry.get("active_fraction"),
            "interface_area_um2": ctx.geometry.get("interface_area_um2"),
            "impedance": {
                **analysis,
                "time_per_frequency_s": res.time_per_frequency_s,
                "small_signal_fields_Hz": written,
            },
            "resolution": self._resolution(ctx, model, float(np.max(fr_list))),
            "parameters": params.as_dict(),
        }
        self.table = spectrum_table(res)
        if ctx.out_dir is not None:
            outputs.write_csv(comm, ctx.out_dir / "impedance.csv", self.table)
            outputs.write_csv(comm, ctx.out_dir / "impedance_interfaces.csv", interfaces_table(res))
        spectrum = {
            "frequency_Hz": res.frequency_Hz.tolist(),
            "z_real_ohm_cm2": res.z_ohm_cm2.real.tolist(),
            "z_imag_ohm_cm2": res.z_ohm_cm2.imag.tolist(),
        }
        return StudyResult(summary, returned_only={"spectrum": spectrum})

    def _resolution(self, ctx: StudyContext, model: CellModel, f_max_Hz: float) -> Summary:
        """The spots, and the highest frequency whose diffusion layers the interface mesh resolves (a note only)."""
        geo = ctx.cfg.geometry
        h_um = float(geo.interface_mesh_size_um or 0.5 * geo.mesh_size_um)
        out: Summary = dict(ctx.resolution)
        if self.solid_diffusion:
            out["solid_diffusion"] = resolution.frequency_layer(
                "solid diffusion", ctx.params.lfp.diffusivity_m2_s, h_um, f_max_Hz
            )
        if "c" in model.fields:
            out["salt_diffusion"] = resolution.frequency_layer(
                "salt diffusion", ctx.params.electrolyte.diffusivity_m2_s, h_um, f_max_Hz
            )
        out["resolved"] = resolution.all_resolved(out)
        return out

    def pictures(self, ctx: StudyContext, summary: Summary) -> dict[str, Callable[[Path], object]]:
        """Nyquist and Bode plots (one drawing writes both)."""
        from microsim.post.impedance import plot_spectra

        label = ctx.desc.interface
        return {"nyquist.png": lambda out: plot_spectra({label: self.table}, out, out.with_name("bode.png"))}


def run_impedance(
    cfg: Config, out_dir: Path | None, comm: MPI.Comm, solid_diffusion: bool = True, freqs: np.ndarray | None = None
) -> Summary:
    """Run the impedance study on ``cfg``; returns the summary (and writes outputs under ``out_dir`` if given).

    Args:
        cfg: validated configuration.
        out_dir: where ``impedance.csv``, ``summary.json`` and the plots go; None writes nothing.
        comm: communicator of the run.
        solid_diffusion: False freezes θ (then ω → 0 gives the DC resistance of the resistance study).
        freqs: override of the configured frequencies (tests).
    """
    return run_with(ImpedanceStudy(solid_diffusion, freqs), cfg, out_dir, comm)
