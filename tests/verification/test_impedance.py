"""docs/model.md §5.7 and the impedance study: analytic Randles cells, DC limit, Kramers–Kronig, 1 vs 2 ranks."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

from microsim import config
from microsim.constants import FARADAY, thermal_voltage
from microsim.frequency import FrequencyResponse
from microsim.parameters import resolve
from microsim.post.impedance import kramers_kronig_residuals
from microsim.studies.impedance import rest_model, run_impedance
from microsim.studies.resistance import run_resistance
from tests._cases import small
from tests._meshes import planar_box

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]

LC, LM = 1.0, 9.5  # µm: a thin LFP slab so its finite-length Warburg falls inside the spectrum
FREQ = np.logspace(6, -2, 33)
# Overrides that put every element of the Randles cell on screen: R_ct ≈ 260, R_Li ≈ 26, R_D ≈ 92 Ω·cm²,
# arcs at ~60 Hz and ~600 Hz, the solid-diffusion time L²/D_s = 10 s.
OVERRIDES = {
    "parameters.lfp.exchange_current_A_m2": 1.0,
    "parameters.li.exchange_current_A_m2": 10.0,
    "parameters.lfp.diffusivity_m2_s": 1e-13,
    "parameters.lfp.ocp": "3.6 - 2*x",
}


def planar_spectrum(model_kind: str, ny: int = 525) -> tuple[np.ndarray, np.ndarray, object, object]:
    cfg = config.replace(config.default(), **{"electrolyte.model": model_kind, **OVERRIDES})
    p = resolve(cfg)
    cm = planar_box(MPI.COMM_WORLD, 0.02, LC, LM, 1, ny)
    model = rest_model(cm, p, 0.5)
    res = FrequencyResponse(model).solve(FREQ)
    return res.z_ohm_cm2, res, p, model


def randles(p, binary: bool) -> np.ndarray:
    """R_s + (R_Li ∥ C_Li) + (C ∥ (R_ct + Z_W,solid)) [+ salt Warburg], Ω·cm² (docs/parameters.md §5.2–5.3)."""
    w = 2 * np.pi * FREQ
    rt_f = thermal_voltage(p.temperature_K)
    el, lfp, li = p.electrolyte, p.lfp, p.li
    lc, lm = LC * 1e-6, LM * 1e-6
    r_s = lm / el.conductivity_S_m + lc / lfp.conductivity_S_m
    r_d = 2.0 * lc / (FARADAY * lfp.c_max_mol_m3 * lfp.diffusivity_m2_s)  # −dU/dθ = 2 V
    s = np.sqrt(1j * w * lc**2 / lfp.diffusivity_m2_s)
    z_w = r_d / np.tanh(s) / s  # reflective (the collector blocks Li)
    z = r_s + 1 / (li.exchange_current_A_m2 / rt_f + 1j * w * li.double_layer_F_m2)
    z = z + 1 / (1j * w * lfp.double_layer_F_m2 + 1 / (rt_f / lfp.exchange_current_A_m2 + z_w))
    if binary:
        # salt: transmissive finite-length Warburg over half the membrane (antisymmetric profile)
        r_c = (
            2
            * rt_f
            * (1 - el.transference_number) ** 2
            * lm
            / (FARADAY * el.diffusivity_m2_s * el.concentration_mol_m3)
        )
        sd = np.sqrt(1j * w * lm**2 / (4 * el.diffusivity_m2_s))
        z = z + r_c * np.tanh(sd) / sd
    return z * 1e4


@pytest.mark.parametrize("model_kind", ["single-ion", "binary"])
def test_planar_matches_randles_with_finite_warburg(model_kind: str) -> None:
    z, res, p, _ = planar_spectrum(model_kind)
    exact = randles(p, model_kind == "binary")
    err = np.abs(z - exact) / np.abs(exact)
    # mesh study (single-ion): max error 1.9e-4, 4.4e-5, 1.1e-5 for h = 0.02, 0.01, 0.005 µm (second order)
    tol = 1e-3 if model_kind == "single-ion" else 1e-2
    assert err.max() < tol, (err.max(), FREQ[np.argmax(err)])
    # the interface contributions account for the arcs: what remains is the frequency-independent R_s (single-ion)
    if model_kind == "single-ion":
        rest = z - res.z_cathode_interface_ohm_cm2 - res.z_anode_interface_ohm_cm2
        r_s = (LM * 1e-6 / p.electrolyte.conductivity_S_m + LC * 1e-6 / p.lfp.conductivity_S_m) * 1e4
        np.testing.assert_allclose(rest, r_s, rtol=1e-3, atol=1e-3 * r_s)
    kk = kramers_kronig_residuals(FREQ, z)
    assert kk["max_residual_real"] < 1e-3 and kk["max_residual_imag"] < 1e-3


def test_kramers_kronig_flags_an_inconsistent_spectrum() -> None:
    z = randles(resolve(config.replace(config.default(), **OVERRIDES)), False)
    bad = z.real + 1j * z.imag * 1.5  # imaginary part inconsistent with the real part
    assert kramers_kronig_residuals(FREQ, bad)["max_residual_imag"] > 1e-2


@pytest.mark.parametrize(
    ("interface", "laws"),
    [("filled", (0.0, 0.0)), ("point-contact", (0.0, 0.0)), ("filled", (1.0, -1.0)), ("filled", "edman2000")],
    ids=["filled", "point-contact", "filled-c-dependent", "filled-table"],
)
def test_zero_frequency_limit_is_dc_resistance(interface: str, laws: tuple[float, float] | str) -> None:
    """With θ frozen the ω → 0 response is the linearised steady problem of the resistance study.

    With concentration laws too: the impedance operator is derived from the same residuals. The table case (the
    built-in Edman set: κ(c), D(c), t+(c) from 0.17 to 0.59, TDF) also checks that the DC breakdown closes with
    β(c) in the current law and the dissipation (measured: closure 5.7e-11, z(0)/R_DC − 1 = −1.9e-7).
    """
    if isinstance(laws, str):
        law_keys: dict[str, object] = {"electrolyte.table": laws}
    else:
        law_keys = {"electrolyte.conductivity_exponent": laws[0], "electrolyte.diffusivity_exponent": laws[1]}
    cfg = small(**{"geometry.interface": interface, "output.xdmf": False, **law_keys})
    r = run_resistance(cfg, None, MPI.COMM_WORLD)["resistance_ohm_cm2"]
    dc = r["total"]
    parts = ("membrane", "cathode_electrolyte", "solid", "concentration")
    closed = sum(r[p] for p in parts) + r["charge_transfer_cathode"] + r["charge_transfer_anode"]
    assert closed == pytest.approx(dc, rel=1e-9)
    s = run_impedance(cfg, None, MPI.COMM_WORLD, solid_diffusion=False, freqs=np.array([0.0]))
    z0 = s["spectrum"]["z_real_ohm_cm2"][0]
    assert abs(s["spectrum"]["z_imag_ohm_cm2"][0]) < 1e-9 * z0
    assert z0 == pytest.approx(dc, rel=1e-4)  # DC run at 1e-5 A/m²: Butler–Volmer curvature ~1e-6


def test_same_spectrum_on_world_and_one_rank() -> None:
    cfg = small(**{"geometry.interface": "filled", "study.kind": "impedance", "output.xdmf": False})
    f = np.array([1e4, 10.0, 0.05])
    a = run_impedance(cfg, None, MPI.COMM_WORLD, freqs=f)["spectrum"]
    b = run_impedance(cfg, None, MPI.COMM_SELF, freqs=f)["spectrum"]
    np.testing.assert_allclose(a["z_real_ohm_cm2"], b["z_real_ohm_cm2"], rtol=1e-8)
    np.testing.assert_allclose(a["z_imag_ohm_cm2"], b["z_imag_ohm_cm2"], rtol=1e-8)
