"""The polymer membrane as a material that flows: viscosity η(T), surface tension, wetting (docs/parameters.md §2.6).

Used by the ``creep`` contact model only (how deep a pressed membrane creeps into a dry cathode). No viscosity,
flow activation energy or creep compliance of PEO–LiTFSI was found (docs/parameters.md §2.6), so the law is
built from what is known, with one [E] scale:

* **Temperature dependence [D]**: the viscosity follows the inverse of the ionic conductivity,
  ``η(T) ∝ 1/σ(T)``. Ion transport in PEO is coupled to the segmental motion of the chains (the Walden-type
  coupling of polymer electrolytes), so the conductivity's activation energies from the paper serve as the flow
  activation energies: PPAL 32.5 kJ/mol throughout; PAL 34.1 kJ/mol above its crystalline-to-amorphous transition
  at 50 °C and 79.8 kJ/mol below it.
* **The crystalline jump [E]**: below the transition PAL is semicrystalline; crystallites carry load and stop flow
  far more than they slow ion transport in the amorphous phase. The law multiplies η by
  ``CRYSTALLINE_VISCOSITY_FACTOR`` below PAL's transition (PPAL, "kept amorphous", has no jump).
* **The scale [E]**: ``VISCOSITY_REF_PA_S``, the viscosity of the amorphous polymer at 50 °C.

``η(T) = η_ref · σ(T_ref)/σ(T) · (f_cr if semicrystalline at T else 1)``, ``T_ref`` = 323.15 K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from microsim.parameters.arrhenius import TwoBranchArrhenius
from microsim.parameters.electrolytes import TRANSITION_K, ElectrolyteSet

__all__ = [
    "CONTACT_ANGLE_DEG",
    "CRYSTALLINE_VISCOSITY_FACTOR",
    "SOURCES",
    "SURFACE_TENSION_N_M",
    "VISCOSITY_REF_PA_S",
    "ViscosityLaw",
    "at",
]

#: Viscosity of the amorphous membrane at 50 °C [E]: chosen so that a PPAL membrane pressed with 1 MPa creeps
#: about one particle layer (≈ 1 µm) into the paper's cathode during a 12 h rest at 30 °C (docs/parameters.md
#: §2.6; range 1e7–1e10 Pa s: from an entangled PEO melt to a soft solid that creeps below its flow stress).
VISCOSITY_REF_PA_S = 3.0e8
#: Factor on η below a semicrystalline electrolyte's transition (PAL) [E], range 10–1e4.
CRYSTALLINE_VISCOSITY_FACTOR = 100.0
#: Surface tension of PEO at room temperature [S] 41–44 mJ/m² (Polym. Eng. Sci. 32 (1992), doi 10.1002/pen.760320208).
SURFACE_TENSION_N_M = 0.042
#: Contact angle of the polymer on the cathode [E]: 0 (complete wetting; the upper bound of the capillary pressure).
CONTACT_ANGLE_DEG = 0.0

SOURCES: dict[str, str] = {
    "viscosity_ref_Pa_s": (
        "[E] 3e8 Pa s: amorphous membrane at 50 °C, range 1e7-1e10; no PEO-LiTFSI viscosity found; T dependence "
        "[D] η ∝ 1/σ(T) with the paper's activation energies (docs/parameters.md §2.6)"
    ),
    "crystalline_viscosity_factor": (
        "[E] 100, range 10-1e4: PAL below its 50 °C crystalline-amorphous transition (docs/parameters.md §2.6)"
    ),
    "surface_tension_N_m": "[S] 0.042 N/m, PEO at room temperature 41-44 mJ/m² (docs/parameters.md §2.6)",
    "contact_angle_deg": "[E] 0° (complete wetting: the largest capillary pressure) (docs/parameters.md §2.6)",
}


def at(temperature_K: float) -> dict[str, float]:
    """The named membrane values (temperature independent scales; η(T) is :class:`ViscosityLaw`)."""
    del temperature_K
    return {
        "viscosity_ref_Pa_s": VISCOSITY_REF_PA_S,
        "crystalline_viscosity_factor": CRYSTALLINE_VISCOSITY_FACTOR,
        "surface_tension_N_m": SURFACE_TENSION_N_M,
        "contact_angle_deg": CONTACT_ANGLE_DEG,
    }


@dataclass(frozen=True)
class ViscosityLaw:
    """``η(T)`` of one electrolyte's membrane (module docstring).

    Attributes:
        electrolyte: The named set whose conductivity law gives the temperature dependence.
        viscosity_ref_Pa_s: η of the amorphous polymer at ``reference_K``.
        crystalline_factor: Factor below the transition of a two-branch (semicrystalline) electrolyte.
        reference_K: 323.15 K, the conductivity laws' reference.
    """

    electrolyte: ElectrolyteSet
    viscosity_ref_Pa_s: float = VISCOSITY_REF_PA_S
    crystalline_factor: float = CRYSTALLINE_VISCOSITY_FACTOR
    reference_K: float = TRANSITION_K

    @property
    def transition_K(self) -> float | None:
        """The crystalline-to-amorphous transition (a two-branch conductivity law's break), or None."""
        law = self.electrolyte.conductivity_S_cm
        return law.break_K if isinstance(law, TwoBranchArrhenius) else None

    def semicrystalline(self, temperature_K: float) -> bool:
        """Whether the membrane is below a crystalline-to-amorphous transition at ``temperature_K``."""
        t = self.transition_K
        return t is not None and temperature_K < t

    def __call__(self, temperature_K: float) -> float:
        """η at ``temperature_K`` in Pa s."""
        if not (math.isfinite(temperature_K) and temperature_K > 0.0):
            raise ValueError(f"temperature = {temperature_K!r} K: must be a finite number > 0")
        law = self.electrolyte.conductivity_S_cm
        eta = self.viscosity_ref_Pa_s * law(self.reference_K) / law(temperature_K)
        return eta * (self.crystalline_factor if self.semicrystalline(temperature_K) else 1.0)

    def describe(self, temperature_K: float) -> str:
        """One line: the value and the branch."""
        phase = "semicrystalline" if self.semicrystalline(temperature_K) else "amorphous"
        return f"{self(temperature_K):.3g} Pa s ({self.electrolyte.name}, {phase})"
