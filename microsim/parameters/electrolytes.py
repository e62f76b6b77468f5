"""PEO-based solid polymer electrolytes of the target paper: PAL and PPAL (docs/parameters.md §2 and §7.1).

Tags: [S] taken from the cited source, [D] derived, [E] estimate (a calibration knob).

How σ(T) is built [E]: one anchor σ(50 °C) = 1.3e-4 S/cm for both electrolytes (median of 23 literature
PEO-LiTFSI points, docs/parameters.md §2.1), extrapolated with the paper's activation energies. PAL has two
branches meeting at the crystalline-amorphous transition at 50 °C (79.8 kJ/mol below, 34.1 above); PPAL, "PAL
kept amorphous", one branch (32.5 kJ/mol). The salt diffusivity is taken proportional to σ, anchored to Edman's
85 °C pair: D = 7.24e-9 m²/s per S/cm of σ.

Resulting values (S/cm): PAL 1.83e-5 at 30 °C, 1.30e-4 at 50 °C; PPAL 5.85e-5 at 30 °C.
"""

from __future__ import annotations

from dataclasses import dataclass

from microsim.parameters.arrhenius import Arrhenius, TwoBranchArrhenius

TRANSITION_K = 323.15  # 50 °C: PAL's branches meet here; the reference temperature of both sets
CONDUCTIVITY_ANCHOR_S_CM = 1.3e-4  # σ(50 °C), both electrolytes
S_CM_TO_S_M = 100.0
DIFFUSIVITY_PER_CONDUCTIVITY = 7.24e-9  # m²/s per S/cm
TRANSFERENCE_NUMBER = 0.2
THERMODYNAMIC_FACTOR = 1.0
CONCENTRATION_MOL_M3 = 1100.0
#: Exponents of the power laws κ ∝ (c/c0)^n_κ and D ∝ (c/c0)^n_D: 0 (constant) until a calibration decides.
CONDUCTIVITY_EXPONENT = 0.0
DIFFUSIVITY_EXPONENT = 0.0
DOUBLE_LAYER_F_M2 = 0.1

SOURCES: dict[str, str] = {
    "conductivity_S_m": (
        "[E] anchor σ(50 °C) = 1.3e-4 S/cm (median of PEO-LiTFSI literature, docs/parameters.md §2.1) with the "
        "paper's Ea: PAL 79.8 kJ/mol below 50 °C, 34.1 above; PPAL 32.5 (Chen et al., EES 2019) "
        "(docs/parameters.md §7.1)"
    ),
    "diffusivity_m2_s": (
        "[E] D = 7.24e-9 m²/s per S/cm of σ, anchored to Edman's 85 °C pair 5.32e-12 m²/s ↔ 7.35e-4 S/cm "
        "(dualfoil5.2, docs/parameters.md §2.2, §7.1)"
    ),
    "transference_number": "[S]-based choice 0.2 (range 0.15-0.35; Edman 2000, NMR) (docs/parameters.md §2.3, §7.1)",
    "thermodynamic_factor": "[S] ideal default 1 (dualfoil Edman set; values not found) (docs/parameters.md §2.4)",
    "concentration_mol_m3": "[E] EO/Li ≈ 20, ρ ≈ 1.3 g/cm³ (docs/parameters.md §2.4, §7.1)",
    "conductivity_exponent": (
        "[E] 0: κ independent of c (the default until the paper calibration decides); PEO-LiTFSI's κ(c) rises about "
        "linearly below its maximum (docs/parameters.md §2.4a)"
    ),
    "diffusivity_exponent": "[E] 0: D independent of c (docs/parameters.md §2.4a)",
    "double_layer_F_m2": "[E] liquid default 0.2 F/m² reduced for polymer (Asha 2023) (docs/parameters.md §7.1)",
}


@dataclass(frozen=True)
class ElectrolyteSet:
    """A named electrolyte: its conductivity law and the shared salt properties.

    Attributes:
        name: ``"PAL"`` or ``"PPAL"``.
        conductivity_S_cm: σ(T) in S/cm (the unit of the source tables).
        description: One line for summaries.
    """

    name: str
    conductivity_S_cm: Arrhenius | TwoBranchArrhenius
    description: str

    def conductivity_S_m(self, temperature_K: float) -> float:
        """Return σ(T) in S/m."""
        return S_CM_TO_S_M * self.conductivity_S_cm(temperature_K)

    def diffusivity_m2_s(self, temperature_K: float) -> float:
        """Return the salt diffusivity D(T) = 7.24e-9 * σ[S/cm] in m²/s."""
        return DIFFUSIVITY_PER_CONDUCTIVITY * self.conductivity_S_cm(temperature_K)

    def at(self, temperature_K: float) -> dict[str, float]:
        """Return the set at ``temperature_K``, keyed by the numeric fields of ``ElectrolyteParameters``."""
        return {
            "conductivity_S_m": self.conductivity_S_m(temperature_K),
            "diffusivity_m2_s": self.diffusivity_m2_s(temperature_K),
            "transference_number": TRANSFERENCE_NUMBER,
            "thermodynamic_factor": THERMODYNAMIC_FACTOR,
            "concentration_mol_m3": CONCENTRATION_MOL_M3,
            "double_layer_F_m2": DOUBLE_LAYER_F_M2,
            "conductivity_exponent": CONDUCTIVITY_EXPONENT,
            "diffusivity_exponent": DIFFUSIVITY_EXPONENT,
        }


PAL = ElectrolyteSet(
    name="PAL",
    conductivity_S_cm=TwoBranchArrhenius(
        p_break=CONDUCTIVITY_ANCHOR_S_CM,
        activation_low_J_mol=79.8e3,
        activation_high_J_mol=34.1e3,
        break_K=TRANSITION_K,
    ),
    description="PEO-based SPE, crystalline-amorphous transition at about 50 °C (composition: paper's ESI)",
)

PPAL = ElectrolyteSet(
    name="PPAL",
    conductivity_S_cm=Arrhenius(p_ref=CONDUCTIVITY_ANCHOR_S_CM, activation_J_mol=32.5e3, reference_K=TRANSITION_K),
    description="PEO-based SPE, amorphous from room temperature to 60 °C (composition in the paper's ESI)",
)

#: The named sets, by the name used in ``[electrolyte] name``.
ELECTROLYTES: dict[str, ElectrolyteSet] = {"PAL": PAL, "PPAL": PPAL}
