"""The point-contact archetype: the electrolyte is the membrane only, resting on the highest particles.

Its flat lower face ``z = L_c`` touches the particles grown to their contact spots; the pores are void (not
meshed); Γ = the spots. Clusters not connected to the collector are removed (electronically dead and, with
void pores, ionically isolated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from microsim.geometry.archetypes.base import PORE_SOLVE, SOLID_SOLVE, EffectiveMeasures
from microsim.geometry.archetypes.spots import SpotArchetype

if TYPE_CHECKING:
    from microsim.geometry.archetypes.description import GeometryDescription

__all__ = ["PointContact"]


class PointContact(SpotArchetype):
    """A membrane on contact spots over void pores."""

    name = "point-contact"
    intruded = "infiltrated"

    def wet_plane_um(self, cathode_thickness_um: float, infiltration_depth_um: float) -> float:
        """``L_c``: only the membrane plane is wet."""
        return cathode_thickness_um

    def pore_electrolyte_bottom_um(self, desc: GeometryDescription) -> float | None:
        """None: the pores are void."""
        return None

    def effective_measures(self, wet_plane_um: float) -> EffectiveMeasures:
        """The solid across the layer; no pore electrolyte; every pore void; Γ lies in ``z = L_c``."""
        return EffectiveMeasures(
            solves=(PORE_SOLVE, SOLID_SOLVE),
            electrolyte="void",
            void_fraction="solid-complement",
            contact_area="interface",
        )
