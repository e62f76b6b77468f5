"""docs/parameters.md §5.6: one 3D sphere with a fast electrolyte follows the analytic constant-flux solution.

A sphere of radius R under a constant inward flux j [mol/m²/s] (Crank, *The Mathematics of Diffusion*, §6.3.1):

    θ_surf(t) = θ0 + (j R / (D_s c_max)) · [3τ + 1/5 − 2 Σ_n exp(−λ_n² τ) / λ_n²],   τ = D_s t / R²,

λ_n the positive roots of tan λ = λ. With the electrolyte, the solid and the kinetics uniform over Γ (a single
centred sphere, κ and σ huge), the cell voltage is the single-particle one:

    V = U(θ_s) − (2RT/F) asinh(i / (2 i0(θ_s))) − (2RT/F) asinh(I / (2 i0,Li)) − I L_m / κ,

with i = I A_geo / A_Γ the current density on the sphere and i0(θ) = i0_ref · 2 sqrt(θ(1 − θ)) (α = 1/2).

The particle is a 3D sphere (a 2D disk resting on the collector would lose ~9 % of its perimeter to the cut
z = 0): W = 1.4 µm, L_c = 1.2 µm, L_m = 0.5 µm, R = 0.5 µm, centre at z = R (1 − 0.002), so the collector cuts a
cap of 0.1 % of the sphere's area. j comes from the measured Γ area, so the cap does not bias the local flux; it
does take 0.1 % of the lithium away (no flux through the cap), which biases the rise by up to −0.1 % at late
times. The kinetics are deliberately *slow enough to be seen* (i0 = 1 and 2 A/m²: ~33 mV and ~22 mV of charge
transfer overpotential); by symmetry they do not make the current non-uniform.

Refinement study (run by hand; mesh_size_um = 0.3, relative error of the rise (θ_num − θ0)/(θ_ex − θ0) − 1;
time steps graded from dt0 by ×1.3 up to dt_max, both in units of R²/D_s = 250 s):

    interface h   dt0 / dt_max        τ = 0.01   0.05      0.1       0.2       cells
    0.1           5e-4 / 0.02         −13.9 %   −1.91 %   −0.79 %   −0.16 %    6356
    0.1           2.5e-4 / 0.01       −13.7 %   −1.84 %   −0.55 %   −0.10 %    6356
    0.1           1.25e-4 / 0.005     −13.5 %   −1.43 %   −0.33 %   −0.07 %    6356
    0.1           6.25e-5 / 0.0025    −13.6 %   −1.07 %   −0.19 %   −0.05 %    6356
    0.07          1.25e-4 / 0.005     −7.1 %    −1.07 %   −0.40 %   −0.17 %   13268
    0.05          1.25e-4 / 0.005     −4.1 %    −1.00 %   −0.43 %   −0.21 %   26202

At τ = 0.01 the diffusion length sqrt(D_s t) = 0.05 µm is half an interface element: the error there is spatial
and falls with h (13.5 → 7.1 → 4.1 %); from τ = 0.05 on it is backward Euler's and falls with dt. The cell voltage
matches the formula evaluated at the *computed* Γ-average θ_s to < 6e-7 V at every time and mesh (of ~55 mV of
kinetic overpotential); against the *analytic* θ_s it is off by dU/dθ · δθ: 1.0e-4 V at τ = 0.01, 1.5e-5 V at
0.05, ≤ 3e-6 V later. (A first try with overlap 0.02, a 1 % cap, gave −0.75 % at τ = 0.2: the cap's lost lithium.)

The test runs the 0.1 / (1.25e-4, 0.005) schedule with tolerances about 1.5–3x the errors above, and the
0.1 / (5e-4, 0.02) schedule to show the error at τ = 0.05 and 0.1 falls with dt.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

import dolfinx
from mpi4py import MPI

from microsim import config
from microsim.constants import FARADAY, thermal_voltage
from microsim.parameters import resolve
from microsim.physics.functionals import Quantities
from microsim.physics.model import CellModel, ModelOptions
from microsim.solver import BorderedNewton
from microsim.studies.common import build_cell_mesh, describe_geometry

R_UM = 0.5
OVERLAP = 0.002
THETA0 = 0.2
FLUX_SCALE = 0.25  # j R / (D_s c_max): θ_s rises by ~0.2 up to τ = 0.2
TAUS = (0.01, 0.05, 0.1, 0.2)
# tolerance on the relative error of the rise, per τ (measured −13.5 %, −1.43 %, −0.33 %, −0.07 %)
RISE_TOL = {0.01: 0.2, 0.05: 0.03, 0.1: 0.01, 0.2: 0.005}
# voltage against the formula at the analytic θ_s (measured 1.0e-4, 1.1e-5, 6e-7, 1.2e-6 V)
V_TOL = {0.01: 2.5e-4, 0.05: 3e-5, 0.1: 1e-5, 0.2: 1e-5}
# the same with the lumped θ mass of transient studies (measured −32.9 %, −7.37 %, −2.29 %, −0.371 %: at this
# interface mesh the surface rise lags; the error is spatial and falls with h, see docs/solver.md)
RISE_TOL_LUMPED = {0.01: 0.45, 0.05: 0.1, 0.1: 0.032, 0.2: 0.0055}
V_TOL_LUMPED = {0.01: 5e-4, 0.05: 1e-4, 0.1: 3e-5, 0.2: 1e-5}


def tan_roots(n: int) -> np.ndarray:
    """The first n positive roots of tan λ = λ (λ_k in (kπ, kπ + π/2)), by bisection of sin λ − λ cos λ."""
    k = np.arange(1, n + 1, dtype=float)
    lo, hi = k * np.pi, k * np.pi + 0.5 * np.pi
    sign_lo = np.sign(np.sin(lo) - lo * np.cos(lo))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        same = np.sign(np.sin(mid) - mid * np.cos(mid)) == sign_lo
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    return 0.5 * (lo + hi)


_LAMBDA = tan_roots(4000)


def bracket(tau: float) -> float:
    """3τ + 1/5 − 2 Σ exp(−λ_n² τ)/λ_n² (the truncated tail is < 2/(π² 4000) exp(−(4000π)² τ))."""
    return 3.0 * tau + 0.2 - 2.0 * float(np.sum(np.exp(-(_LAMBDA**2) * tau) / _LAMBDA**2))


def test_series_matches_reference_values() -> None:
    assert _LAMBDA[:4] == pytest.approx([4.4934, 7.7253, 10.9041, 14.0662], abs=1e-4)
    assert np.all(np.abs(np.tan(_LAMBDA[:50]) - _LAMBDA[:50]) < 1e-8 * _LAMBDA[:50] ** 2)
    assert bracket(0.0) == pytest.approx(0.0, abs=1e-3)  # Σ 1/λ² = 1/10 (tail ≈ 5e-5 at 4000 roots)
    for tau, ref in ((0.001, 0.0367), (0.01, 0.1236), (0.05, 0.3122), (0.1, 0.4868), (0.2, 0.7983)):
        assert bracket(tau) == pytest.approx(ref, abs=1e-4), tau


def _config(particles_csv: str) -> config.Config:
    return config.replace(
        config.default(),
        **{
            "geometry.kind": "particles-file",
            "geometry.dim": 3,
            "geometry.interface": "filled",
            "geometry.particles_file": particles_csv,
            "geometry.width_um": 1.4,
            "geometry.cathode_thickness_um": 1.2,
            "geometry.membrane_thickness_um": 0.5,
            "geometry.radius_mean_um": R_UM,
            "geometry.overlap_fraction": OVERLAP,
            "geometry.mesh_size_um": 0.3,
            "geometry.interface_mesh_size_um": 0.1,
            "electrolyte.model": "single-ion",
            "conditions.initial_stoichiometry": THETA0,
            "output.png": False,
            "output.xdmf": False,
            "parameters.electrolyte.conductivity_S_m": 1e3,
            "parameters.lfp.conductivity_S_m": 1e3,
            "parameters.lfp.diffusivity_m2_s": 1e-15,  # R²/D_s = 250 s
            "parameters.lfp.exchange_current_A_m2": 1.0,
            "parameters.li.exchange_current_A_m2": 2.0,
        },
    )


def _run(model, solver, theta_surface, t_scale: float, dt0: float, dt_max: float) -> dict[float, tuple[float, float]]:
    """Backward Euler from θ0 with steps dt0·1.3^k ≤ dt_max (units of R²/D_s), landing on TAUS; (θ_s, V) there."""
    for f in model.unknowns:
        f.x.array[:] = THETA0 if f is model.theta else 0.0
    model.V.value = float(model.params.lfp.ocp.numpy(np.array(THETA0)))
    model.commit_step()
    out, tau, step = {}, 0.0, dt0
    for target in TAUS:
        while tau < target - 1e-12:
            dtau = min(step, dt_max, target - tau)
            model.dt.value = dtau * t_scale
            solver.solve()
            model.commit_step()
            tau += dtau
            step *= 1.3
        out[target] = (theta_surface(), float(model.V.value))
    return out


@pytest.mark.fenics
@pytest.mark.mpi
@pytest.mark.parametrize("lumped", [False, True], ids=["consistent", "lumped"])
def test_sphere_surface_concentration_and_voltage(mpi_tmp_path, lumped: bool) -> None:
    comm = MPI.COMM_WORLD
    csv = mpi_tmp_path / "particle.csv"
    if comm.rank == 0:
        csv.write_text(f"x_um,y_um,z_um,r_um\n0.7,0.7,{R_UM * (1.0 - OVERLAP)!r},{R_UM!r}\n", encoding="utf-8")
    comm.barrier()
    cfg = _config(str(csv))
    p = resolve(cfg)
    cm = build_cell_mesh(describe_geometry(cfg), comm)
    model = CellModel(cm, p, ModelOptions(binary=False, transient=True, lumped_theta_mass=lumped))
    solver = BorderedNewton(model, tolerance=1e-10)
    rise_tol, v_tol = (RISE_TOL_LUMPED, V_TOL_LUMPED) if lumped else (RISE_TOL, V_TOL)

    # Γ area per geometric area, measured on the mesh (the cap and the facetting make it < 4πR²/W²)
    area_ratio = Quantities(model).evaluate()["interface_area"]
    assert area_ratio == pytest.approx(4 * math.pi * R_UM**2 / 1.4**2, rel=0.02)
    ds_, cmax, r_m = p.lfp.diffusivity_m2_s, p.lfp.c_max_mol_m3, R_UM * 1e-6
    j = FLUX_SCALE * ds_ * cmax / r_m  # mol/m²/s into the sphere
    current = FARADAY * j * area_ratio  # A/m² of geometric area
    model.current_density.value = current
    model.current_ref.value = current

    theta_form = dolfinx.fem.form(model.theta("+") * model.dS, entity_maps=cm.entity_maps)
    area_form = dolfinx.fem.form(1.0 * model.dS, entity_maps=cm.entity_maps)
    gamma_area = comm.allreduce(dolfinx.fem.assemble_scalar(area_form), op=MPI.SUM)

    def theta_surface() -> float:
        return comm.allreduce(dolfinx.fem.assemble_scalar(theta_form), op=MPI.SUM) / gamma_area

    rt_f = thermal_voltage(p.temperature_K)
    i_gamma = current / area_ratio  # A/m² on the sphere
    lm = cfg.geometry.membrane_thickness_um * 1e-6

    def voltage(theta_s: float) -> float:
        i0 = p.lfp.exchange_current_A_m2 * 2.0 * math.sqrt(theta_s * (1.0 - theta_s))
        return (
            float(p.lfp.ocp.numpy(np.array(theta_s)))
            - 2.0 * rt_f * math.asinh(i_gamma / (2.0 * i0))
            - 2.0 * rt_f * math.asinh(current / (2.0 * p.li.exchange_current_A_m2))
            - current * lm / p.electrolyte.conductivity_S_m
        )

    t_scale = r_m**2 / ds_
    coarse = _run(model, solver, theta_surface, t_scale, 5e-4, 0.02)
    fine = _run(model, solver, theta_surface, t_scale, 1.25e-4, 0.005)

    def rise_error(theta_s: float, tau: float) -> float:
        return (theta_s - THETA0) / (FLUX_SCALE * bracket(tau)) - 1.0

    for tau in TAUS:
        theta_s, v = fine[tau]
        assert abs(rise_error(theta_s, tau)) < rise_tol[tau], (tau, theta_s, THETA0 + FLUX_SCALE * bracket(tau))
        # the voltage chain (U, both Butler–Volmer inversions, the membrane) at the computed θ_s ...
        assert v == pytest.approx(voltage(theta_s), abs=2e-6), tau
        # ... and at the analytic θ_s
        assert v == pytest.approx(voltage(THETA0 + FLUX_SCALE * bracket(tau)), abs=v_tol[tau]), tau
    if lumped:
        # the lumped error is the mesh's, not the time step's: it is the same on both schedules, and it is a lag
        for tau in TAUS:
            assert -rise_tol[tau] < rise_error(coarse[tau][0], tau) < 0.0
        return
    # the backward Euler error falls with dt once the diffusion layer is resolved (τ ≥ 0.05)
    for tau in (0.05, 0.1):
        err_fine, err_coarse = abs(rise_error(fine[tau][0], tau)), abs(rise_error(coarse[tau][0], tau))
        assert err_fine < 0.85 * err_coarse, (tau, err_fine, err_coarse)
