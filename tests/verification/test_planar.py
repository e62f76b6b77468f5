"""docs/model.md §5.1 (planar stack, analytic resistance) and §5.8 (breakdown closes), per part.

Every part of the dissipation breakdown is compared with its own 1D formula, so a wrong sign, unit or factor in
any transport or kinetic term fails here.
"""

from __future__ import annotations

import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

from microsim.constants import FARADAY, thermal_voltage
from microsim.parameters import resolve
from microsim.studies.resistance import run_resistance
from tests._cases import small

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]


def analytic_parts(cfg) -> dict[str, float]:
    p = resolve(cfg)
    el = p.electrolyte
    rt_f = thermal_voltage(p.temperature_K)
    lm = cfg.geometry.membrane_thickness_um * 1e-6
    lc = cfg.geometry.cathode_thickness_um * 1e-6
    parts = {
        "membrane": lm / el.conductivity_S_m,
        "cathode_electrolyte": 0.0,
        "solid": lc / p.lfp.conductivity_S_m,
        "charge_transfer_cathode": rt_f / p.lfp.exchange_current_A_m2,  # θ0 = 0.5: i0 = i0_ref
        "charge_transfer_anode": rt_f / p.li.exchange_current_A_m2,
        "concentration": 0.0,
    }
    if el.model == "binary":
        # dilute binary salt, linear regime: 2RT(1 − t+)² L TDF / (F² D c0)
        parts["concentration"] = (
            2 * rt_f * FARADAY * (1 - el.transference_number) ** 2 * lm * el.thermodynamic_factor
        ) / (FARADAY**2 * el.diffusivity_m2_s * el.concentration_mol_m3)
    return {k: v * 1e4 for k, v in parts.items()}  # Ω·cm²


@pytest.mark.parametrize("model", ["single-ion", "binary"])
def test_planar_resistance_matches_analytic(model: str) -> None:
    cfg = small(
        **{
            "geometry.kind": "planar",
            "geometry.width_um": 1.0,
            "geometry.mesh_size_um": 0.5,
            "electrolyte.model": model,
            "study.current_density_A_m2": 1e-6,
            "output.xdmf": False,
        }
    )
    s = run_resistance(cfg, None, MPI.COMM_WORLD)
    r = s["resistance_ohm_cm2"]
    exact = analytic_parts(cfg)
    total_exact = sum(exact.values())
    assert r["total"] == pytest.approx(total_exact, rel=1e-5)
    for part, value in exact.items():
        # tiny parts (solid ~0.01 Ω·cm²) compared absolutely against the total
        assert r[part] == pytest.approx(value, rel=1e-4, abs=1e-7 * total_exact), part
    # docs/model.md §5.8: the parts close the power balance
    assert sum(r[p] for p in exact) == pytest.approx(r["total"], rel=1e-9)
    # interfacial effective = total − membrane(1D) − Li(1D): the planar cathode's own charge transfer + rest
    assert r["interfacial_effective"] == pytest.approx(
        r["total"] - exact["membrane"] - exact["charge_transfer_anode"], rel=1e-12
    )


def test_temperature_raises_conductance() -> None:
    """Arrhenius enters with the right sign: the same planar cell is less resistive at 50 °C than at 30 °C."""
    base = {"geometry.kind": "planar", "geometry.width_um": 1.0, "geometry.mesh_size_um": 0.5, "output.xdmf": False}
    r30 = run_resistance(small(**base), None, MPI.COMM_WORLD)["resistance_ohm_cm2"]["total"]
    r50 = run_resistance(small(**base, **{"conditions.temperature_C": 50.0}), None, MPI.COMM_WORLD)
    assert r50["resistance_ohm_cm2"]["total"] < 0.5 * r30
