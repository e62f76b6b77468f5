"""LiFePO4 parameter set (docs/parameters.md §1 and §7.2). Every number lives here once, with its source in SOURCES.

Tags: [S] taken from the cited source, [D] derived here from [S] numbers, [E] estimate (a calibration knob).

Radius pairing: the solid diffusivity D_s(25 °C) = 6.87e-17 m²/s comes from a fit (BPX) with a particle radius
of 0.5 µm; only the time constant R²/D_s is fixed by such fits, so keep the two together (the geometry default
``radius_mean_um = 0.5`` matches). The alternative pair is R = 50 nm with D_s = 5.9e-18 m²/s (PyBaMM
Prada2013).
"""

from __future__ import annotations

from microsim.parameters.arrhenius import Arrhenius
from microsim.parameters.ocp import AFSHAR2017

C_MAX_MOL_M3 = 22800.0
DENSITY_KG_M3 = 3600.0
CAPACITY_MAH_G = 170.0

#: Solid diffusivity, with the particle radius it was fitted with.
DIFFUSIVITY_M2_S = Arrhenius(p_ref=6.87e-17, activation_J_mol=80.0e3, reference_K=298.15)
PAIRED_RADIUS_UM = 0.5

# The particle phase stands in for particle + carbon network, so its conductivity is the BPX effective
# composite value divided by the Bruggeman factor of the LFP solid volume fraction:
# 0.8 / 0.43**1.5 = 2.84 S/m.
BPX_EFFECTIVE_CONDUCTIVITY_S_M = 0.8
SOLID_VOLUME_FRACTION = 0.43
BRUGGEMAN_EXPONENT = 1.5
CONDUCTIVITY_S_M = BPX_EFFECTIVE_CONDUCTIVITY_S_M / SOLID_VOLUME_FRACTION**BRUGGEMAN_EXPONENT
# With a resolved carbon-binder domain the particles conduct with their own (carbon-coated) conductivity. Bare
# LiFePO4 is ~1e-9–1e-7 S/m: a micron particle would then pass no current. A value for one carbon-coated particle
# was not found; 1e-2 S/m (range 1e-7 bare to ~1 S/m well coated) keeps the ohmic drop across a 1 µm particle
# at 1 mV for 10 A/m², so the CBD network, not the particle, carries the current over distance.
INTRINSIC_CONDUCTIVITY_S_M = 1.0e-2

#: i0_ref at θ = 0.5, c = c0, referenced to 50 °C (→ about 0.019 A/m² at 30 °C).
EXCHANGE_CURRENT_A_M2 = Arrhenius(p_ref=0.05, activation_J_mol=40.0e3, reference_K=323.15)
ALPHA_A = 0.5
ALPHA_C = 0.5
DOUBLE_LAYER_F_M2 = 0.1
OCP = AFSHAR2017

SOURCES: dict[str, str] = {
    "c_max_mol_m3": "[D] from ρ = 3.6 g/cm³ (ICSD 72545); PyBaMM Prada2013: 22806 [S] (docs/parameters.md §1.1)",
    "density_kg_m3": "[S] ICSD 72545 crystal density 3.6 g/cm³ (docs/parameters.md §1.1)",
    "capacity_mAh_g": "[D] F/(3.6 M), M = 157.76 g/mol: 169.9 ≈ 170 mAh/g (docs/parameters.md §1.1)",
    "diffusivity_m2_s": (
        "[S] BPX About:Energy LFP 18650: 6.87e-17 m²/s at 25 °C, Ea 80 kJ/mol, paired with R = 0.5 µm "
        "(docs/parameters.md §1.2, §7.2)"
    ),
    "conductivity_S_m": (
        "[E] BPX effective composite σ 0.8 S/m [S] divided by Bruggeman 0.43^1.5 (LFP solid fraction [E]): "
        "the particles stand in for particle + carbon network (docs/parameters.md §1.3, §7.2)"
    ),
    "intrinsic_conductivity_S_m": (
        "[E] 1e-2 S/m, carbon-coated particle, used only with a resolved carbon-binder domain (range 1e-7 S/m "
        "bare LFP to ~1 S/m; no single-particle measurement found) (docs/parameters.md §1.3a)"
    ),
    "exchange_current_A_m2": (
        "[E] 0.05 A/m² at θ = 0.5, c = c0, 50 °C, Ea 40 kJ/mol (magnitude from the liquid-electrolyte sets, "
        "Ea ≈ Kashkooli 39.57 kJ/mol) (docs/parameters.md §1.5, §7.2)"
    ),
    "alpha_a": "[S] 0.5 in all sets (docs/parameters.md §1.5)",
    "alpha_c": "[S] 0.5 in all sets (docs/parameters.md §1.5)",
    "double_layer_F_m2": "[E] liquid default 0.2 F/m² reduced for polymer (Asha 2023) (docs/parameters.md §7.2)",
    "ocp": "[S] Afshar 2017 (arXiv:1709.03970) via PyBaMM Prada2013 (docs/parameters.md §1.4)",
}


def at(temperature_K: float) -> dict[str, float | str]:
    """Return the named LFP set at ``temperature_K``, keyed by the field names of ``LFPParameters``."""
    return {
        "c_max_mol_m3": C_MAX_MOL_M3,
        "diffusivity_m2_s": DIFFUSIVITY_M2_S(temperature_K),
        "conductivity_S_m": CONDUCTIVITY_S_M,
        "intrinsic_conductivity_S_m": INTRINSIC_CONDUCTIVITY_S_M,
        "exchange_current_A_m2": EXCHANGE_CURRENT_A_M2(temperature_K),
        "alpha_a": ALPHA_A,
        "alpha_c": ALPHA_C,
        "density_kg_m3": DENSITY_KG_M3,
        "capacity_mAh_g": CAPACITY_MAH_G,
        "double_layer_F_m2": DOUBLE_LAYER_F_M2,
        "ocp": OCP,
    }
