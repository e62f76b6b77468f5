"""Units read from output names: the suffix convention of summary keys, CSV columns and field names.

Every number microsim writes carries its unit in its name (``capacity_mAh_g``, ``Voltage [V]``), inherits it
from the block it sits in (``resistance_ohm_cm2.total``), or is dimensionless by name (a count ``n_cells``, a
``*_fraction``, a lithiation ``theta``). This module reads that convention back, for axis labels and for the
test that holds every output to it. Pure Python: no DOLFINx.
"""

from __future__ import annotations

import re

__all__ = ["DIMENSIONLESS", "NAMED_UNITS", "UNIT_SUFFIXES", "column_unit", "label", "unit_of", "unit_of_path"]

#: Name suffix -> unit, longest first where one ends another (``_um2`` before ``_um``).
UNIT_SUFFIXES: dict[str, str] = {
    "_ohm_cm2": "Ω·cm²",
    "_mAh_g": "mAh/g",
    "_Wh_kg": "Wh/kg",
    "_A_m2": "A/m²",
    "_C_m2": "C/m²",
    "_F_m2": "F/m²",
    "_mol_m3": "mol/m³",
    "_m2_m3": "m²/m³",
    "_m2_s": "m²/s",
    "_mg_cm2": "mg/cm²",
    "_kg_m3": "kg/m³",
    "_S_m": "S/m",
    "_Pa_s": "Pa·s",
    "_MPa": "MPa",
    "_measure_um": "µm^(d-1)",  # a facet measure: a length in 2D, an area in 3D
    "_um2": "µm²",
    "_um3": "µm³",
    "_um": "µm",
    "_Hz": "Hz",
    "_V": "V",
    "_s": "s",
    "_h": "h",
    "_C": "°C",
    "_K": "K",
}

#: Whole names whose unit no suffix can say.
NAMED_UNITS: dict[str, str] = {
    "particle_measure": "µm^d",  # the particles' area in 2D, volume in 3D
    "measure": "µm^d",  # the carbon-binder domain's area in 2D, volume in 3D
    "pore_measure": "µm^d",
    "void_measure": "µm^d",
    "chord_lengths_um": "µm^(d-1)",  # 2D chord lengths, 3D spot areas
    "surface_algorithm": "-",  # Gmsh's number of the 2D meshing algorithm that worked
}

#: Names that are dimensionless (or counts, or C-rates in multiples of 1C per hour) by what they say.
DIMENSIONLESS = re.compile(
    r"^(n|share)_|_(n|share)_|"  # counts and shares
    r"fraction|ratio|relative|residual|error|share|_per_|_over_|"  # ratios of like quantities
    r"iterations$|steps$|attempts$|^cutbacks$|^index$|^seed$|^dim$|^order|exponent|quality|"
    r"theta|stoichiometry|state_of_charge|porosity|tortuosity|p_stick|conservation|deficit|^elements_|^step$|_number$|"
    r"^c_rates?$|^c80$|^c50$|c_rates?_|_c_rate$",  # C-rates: multiples of 1C (1/h by definition)
    re.IGNORECASE,
)


def unit_of(name: str) -> str | None:
    """The unit a name carries: its suffix's unit, ``"-"`` if dimensionless by name, None if it says nothing.

    >>> unit_of("capacity_mAh_g"), unit_of("n_cells"), unit_of("total")
    ('mAh/g', '-', None)
    """
    if name in NAMED_UNITS:
        return NAMED_UNITS[name]
    for suffix, unit in UNIT_SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return unit
    if DIMENSIONLESS.search(name):
        return "-"
    return None


def unit_of_path(path: str) -> str | None:
    """The unit of a dotted summary key: the leaf's own, else the nearest enclosing block's.

    ``resistance_ohm_cm2.total`` is in Ω·cm² (its block says so); ``at.0.1_Hz.real_ohm_cm2`` in Ω·cm² (its own).
    """
    parts = [p.removesuffix("[]") for p in path.split(".")]
    for part in reversed(parts):
        unit = unit_of(part)
        if unit is not None:
            return unit
    return None


_BRACKETS = re.compile(r"\[([^\]]+)\]\s*$")


def column_unit(header: str) -> str | None:
    """The unit of a CSV column: ``Voltage [V]`` -> ``V``; else as :func:`unit_of` reads a plain name."""
    found = _BRACKETS.search(header)
    if found:
        return found.group(1)
    return unit_of(header)


def label(name: str) -> str:
    """An axis or colour-bar label from a unit-tagged name: ``phi_e_V`` -> ``phi_e [V]``."""
    for suffix, unit in UNIT_SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"{name[: -len(suffix)]} [{unit}]"
    return name
