"""Li metal | SPE interface parameter set (docs/parameters.md §2.5 and §7.3).

Tags: [S] taken from the cited source, [D] derived, [E] estimate (a calibration knob). No exchange current for
the PEO | Li interface was found in the literature searched, so the value below is an estimate to calibrate.
"""

from __future__ import annotations

from microsim.parameters.arrhenius import Arrhenius

#: i0 referenced to 50 °C (→ about 0.29 A/m² at 30 °C; R_ct = RT/(F i0) = 892 Ω cm² on full contact).
EXCHANGE_CURRENT_A_M2 = Arrhenius(p_ref=1.0, activation_J_mol=50.0e3, reference_K=323.15)
ALPHA = 0.5
DOUBLE_LAYER_F_M2 = 0.1

SOURCES: dict[str, str] = {
    "exchange_current_A_m2": (
        "[E] 1.0 A/m² at 50 °C, Ea 50 kJ/mol; calibration knob, not found in literature (docs/parameters.md §7.3)"
    ),
    "alpha": "[S] 0.5 in all sets (docs/parameters.md §1.5)",
    "double_layer_F_m2": "[E] liquid default 0.2 F/m² reduced for polymer (Asha 2023) (docs/parameters.md §7.3)",
}


def at(temperature_K: float) -> dict[str, float]:
    """Return the Li-metal set at ``temperature_K``, keyed by the field names of ``LiMetalParameters``."""
    return {
        "exchange_current_A_m2": EXCHANGE_CURRENT_A_M2(temperature_K),
        "alpha": ALPHA,
        "double_layer_F_m2": DOUBLE_LAYER_F_M2,
    }
