"""The infiltrated archetype: point contact, plus electrolyte in the pores down to ``z_w = L_c - depth``.

A membrane pressed on a dry cathode and partly infiltrated (e.g. by heating). Γ = the contact spots plus every
particle surface in the wet layer ``z_w < z < L_c``. Depth 0 is the point-contact geometry; depth ``L_c`` wets
every pore, i.e. the filled geometry with the top particles grown to their spots. Clusters that neither touch
the collector nor the electrolyte are removed (nothing would fix their potential); dead clusters the
electrolyte reaches are kept, as in the filled archetype.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from microsim.geometry.archetypes.base import (
    PORE_SOLVE,
    SOLID_SOLVE,
    WET_LAYER_SOLVE,
    EffectiveMeasures,
    GeometryPicture,
    GeometryStats,
)
from microsim.geometry.archetypes.measures import sphere_union_area
from microsim.geometry.archetypes.spots import SpotArchetype
from microsim.geometry.measures2d import DiskUnionMeasures, disk_union_measures

if TYPE_CHECKING:
    from microsim.geometry.archetypes.description import GeometryDescription

__all__ = ["Infiltrated"]


class Infiltrated(SpotArchetype):
    """A membrane on contact spots, with the pores wet from ``z_w`` up."""

    name = "infiltrated"
    uses_infiltration_depth = True

    def wet_plane_um(self, cathode_thickness_um: float, infiltration_depth_um: float) -> float:
        """``L_c - depth``."""
        return cathode_thickness_um - infiltration_depth_um

    def pore_electrolyte_bottom_um(self, desc: GeometryDescription) -> float | None:
        """``z_w``; None at depth 0 (the point-contact geometry: void pores)."""
        return desc.wet_plane_um if desc.infiltration_depth_um > 0.0 else None

    def removed_dead(self, dead: np.ndarray, labels: np.ndarray, wet: np.ndarray) -> np.ndarray:
        """The dead clusters the electrolyte does not reach: the others keep a potential."""
        return dead & ~np.isin(labels, np.unique(labels[wet]))

    def add_stats(self, desc: GeometryDescription, out: GeometryStats) -> None:
        """The spot statistics, plus the depth asked for and the depth meshed."""
        out["infiltration_depth_um"] = desc.infiltration_depth_um
        out["infiltration_depth_asked_um"] = desc.infiltration_depth_asked_um
        super().add_stats(desc, out)

    def interface_area_3d(self, desc: GeometryDescription, out: GeometryStats) -> float:
        """The spots plus the exposed sphere area in the wet layer."""
        gamma = super().interface_area_3d(desc, out)
        if desc.infiltration_depth_um > 0.0:
            gamma += sphere_union_area(desc.centers, desc.radii, desc.cathode_thickness_um, desc.wet_plane_um)
        return gamma

    def interface_length_2d(self, desc: GeometryDescription, m: DiskUnionMeasures, out: GeometryStats) -> float:
        """The spots plus the arcs of the disk union in the wet layer."""
        gamma = super().interface_length_2d(desc, m, out)
        if desc.infiltration_depth_um > 0.0:
            wet = disk_union_measures(desc.centers, desc.radii, desc.wet_plane_um, desc.cathode_thickness_um)
            gamma += wet.arc_length
        return gamma

    def effective_measures(self, wet_plane_um: float) -> EffectiveMeasures:
        """Partly wet: the wet layer on its own; fully wet (``z_w = 0``): the pores like the filled archetype."""
        partial = wet_plane_um > 0.0
        return EffectiveMeasures(
            solves=(PORE_SOLVE, SOLID_SOLVE, WET_LAYER_SOLVE) if partial else (PORE_SOLVE, SOLID_SOLVE),
            electrolyte="wet-layer" if partial else "measured",
            void_fraction="remainder",
            contact_area="spots",
        )

    def picture(self, infiltration_depth_um: float) -> GeometryPicture:
        """The spots and the wet layer."""
        depth = infiltration_depth_um
        return GeometryPicture(spots=True, wet_depth_um=depth, title_note=f", wet {depth:.3g} µm deep")

    def contact_summary(self, spot: str, infiltration_depth_um: float) -> str:
        """The spot radius and the depth of the electrolyte."""
        return f" ({spot}, electrolyte {infiltration_depth_um:g} µm into the pores)"
