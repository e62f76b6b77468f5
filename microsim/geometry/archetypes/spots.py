"""What the archetypes whose membrane rests on the highest particles share (point contact, infiltrated).

Every particle whose top is within the contact tolerance of ``z = L_c`` is grown about its fixed centre to a
contact spot of half-width ``a = contact_radius_um`` (see :mod:`microsim.geometry.archetypes.growth`) and
cut at ``z = L_c``; Γ includes the flat spots.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from microsim.geometry.archetypes.base import GeometryPicture, GeometryStats, ParticleArchetype
from microsim.geometry.archetypes.measures import count_spots, reached
from microsim.geometry.measures2d import DiskUnionMeasures

if TYPE_CHECKING:
    from microsim.geometry.archetypes.description import GeometryDescription

__all__ = ["SpotArchetype"]


class SpotArchetype(ParticleArchetype):
    """A membrane on contact spots; subclasses say how far the electrolyte enters the pores."""

    has_spots = True

    def reached_by_electrolyte(self, desc: GeometryDescription) -> np.ndarray:
        """The particles with a contact spot, and those whose top lies above the wet plane."""
        return reached(desc.centers, desc.radii, desc.reaches_membrane, desc.wet_plane_um)

    def removed_dead(self, dead: np.ndarray, labels: np.ndarray, wet: np.ndarray) -> np.ndarray:
        """Every cluster not connected to the collector: with void pores nothing fixes its potential."""
        return dead

    def add_stats(self, desc: GeometryDescription, out: GeometryStats) -> None:
        """The common statistics, plus the contact radius and the spots that could not be grown."""
        out["n_blocked_contacts"] = len(desc.blocked_contact_ids)
        out["contact_radius_um"] = desc.contact_radius_um
        super().add_stats(desc, out)

    def interface_area_3d(self, desc: GeometryDescription, out: GeometryStats) -> float:
        """The spot discs ``π a²`` (one per particle reaching the membrane)."""
        n_spots = int(desc.reaches_membrane.sum())
        out["n_contact_spots"] = n_spots
        gamma = n_spots * math.pi * desc.contact_radius_um**2
        out["contact_area_fraction"] = gamma / (desc.width_um * desc.width_um)
        return gamma

    def interface_length_2d(self, desc: GeometryDescription, m: DiskUnionMeasures, out: GeometryStats) -> float:
        """The union's trace on ``z = L_c`` (merged chords count as one spot)."""
        gamma = m.top_length
        out["contact_area_fraction"] = gamma / desc.width_um
        out["n_contact_spots"] = count_spots(desc.centers, desc.radii, desc.cathode_thickness_um)
        return gamma

    def picture(self, infiltration_depth_um: float) -> GeometryPicture:
        """The particles cut at ``z = L_c`` and their spots."""
        return GeometryPicture(spots=True)

    def contact_summary(self, spot: str, infiltration_depth_um: float) -> str:
        """How the spot radius is set."""
        return f" ({spot})"
