"""Carbon-binder domain (CBD) parameter set (docs/parameters.md §1.3a). Used only with geometry.cbd_fraction > 0.

Tags as in :mod:`microsim.parameters.lfp`: [S] taken from the cited source, [D] derived, [E] estimate.
"""

from __future__ import annotations

#: Electronic conductivity of the CBD phase itself. Measured carbon-black/PVDF films and CBD phases span about
#: 1–100 S/m; BattMo-style resolved models use 100 S/m as a placeholder. The geometric middle of that range.
CONDUCTIVITY_S_M = 10.0
#: Nanoporosity of the CBD (Chouchane 2021, as quoted in a code comment; docs/parameters.md §5).
POROSITY = 0.476
#: Effective ionic conductivity (and salt diffusivity) factor of the electrolyte in the CBD's nanopores:
#: Bruggeman ε^1.5 of that porosity, 0.476^1.5 = 0.328.
IONIC_FACTOR = POROSITY**1.5

SOURCES: dict[str, str] = {
    "conductivity_S_m": (
        "[E] 10 S/m, range 1–100 S/m (measured CBD films ~1–100 S/m; 100 S/m BattMo-style placeholder; BPX "
        "effective composite 0.8 S/m is a whole-electrode value) (docs/parameters.md §1.3a)"
    ),
    "porosity": "[E] 0.476 nanoporosity (Chouchane 2021 per a code comment; range 0.3–0.6) (docs/parameters.md §1.3a)",
    "ionic_factor": "[D] Bruggeman porosity^1.5 = 0.328 [E], range 0.1–0.5 (docs/parameters.md §1.3a)",
}


def at(temperature_K: float) -> dict[str, float | str]:
    """Return the named CBD set (temperature independent), keyed by the field names of ``CBDParameters``."""
    del temperature_K  # no temperature dependence is known for these estimates
    return {"conductivity_S_m": CONDUCTIVITY_S_M, "porosity": POROSITY, "ionic_factor": IONIC_FACTOR}
