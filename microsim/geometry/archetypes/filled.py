"""The filled archetype: the electrolyte fills every pore and forms the membrane.

Γ is every particle surface facing the pores; the particles stay below ``z = L_c - gap``, so the solid does
not reach the membrane plane. With ``geometry.pore_fill_fraction < 1`` gas voids are left in the pores
(:mod:`microsim.geometry.voids`): Γ is then the particle surface outside them. Particle clusters not connected
to the collector are kept: the electrolyte around them fixes their potential (their Butler–Volmer current sums
to zero; with voids, such a cluster keeps some wet surface).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from microsim.geometry.archetypes.base import (
    PORE_SOLVE,
    SOLID_SOLVE,
    EffectiveMeasures,
    GeometryStats,
    ParticleArchetype,
)
from microsim.geometry.archetypes.measures import sphere_union_area
from microsim.geometry.measures2d import DiskUnionMeasures

if TYPE_CHECKING:
    from microsim.geometry.archetypes.description import GeometryDescription

__all__ = ["Filled"]


class Filled(ParticleArchetype):
    """Electrolyte in every pore; Γ = the whole particle surface in the layer."""

    name = "filled"
    uses_pore_fill = True
    supports_cbd = True

    def wet_plane_um(self, cathode_thickness_um: float, infiltration_depth_um: float) -> float:
        """0: every pore is wet."""
        return 0.0

    def reached_by_electrolyte(self, desc: GeometryDescription) -> np.ndarray:
        """Every particle; with voids, those with some surface outside them."""
        if desc.n_voids == 0:
            return np.ones(desc.n_particles, dtype=bool)
        return ~desc.wetted.dry

    def pore_electrolyte_bottom_um(self, desc: GeometryDescription) -> float | None:
        """0: the whole cathode box holds electrolyte."""
        return 0.0

    def interface_area_3d(self, desc: GeometryDescription, out: GeometryStats) -> float:
        """The exposed sphere area inside the layer."""
        out["n_contact_spots"] = 0
        return sphere_union_area(desc.centers, desc.radii, desc.cathode_thickness_um)

    def interface_length_2d(self, desc: GeometryDescription, m: DiskUnionMeasures, out: GeometryStats) -> float:
        """The arcs of the disk union inside the layer."""
        out["n_contact_spots"] = 0
        return m.arc_length

    def effective_measures(self, wet_plane_um: float) -> EffectiveMeasures:
        """Both conductivities across the layer; no contact fraction (Γ is not in a plane)."""
        return EffectiveMeasures(
            solves=(PORE_SOLVE, SOLID_SOLVE),
            electrolyte="measured",
            void_fraction=None,
            contact_area=None,
            solid_gap_note=True,
        )
