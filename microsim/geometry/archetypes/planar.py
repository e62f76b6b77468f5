"""The planar archetype (``geometry.kind`` planar): a dense LiFePO4 slab ``0 < z < L_c`` under the membrane.

Γ = the plane ``z = L_c``. It is not selectable by ``geometry.interface``: the geometry kind implies it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from microsim.geometry.archetypes.base import (
    PORE_SOLVE,
    SOLID_SOLVE,
    Archetype,
    EffectiveMeasures,
    GeometryPicture,
    GeometryStats,
)

if TYPE_CHECKING:
    from microsim.geometry.archetypes.description import GeometryDescription

__all__ = ["Planar"]


class Planar(Archetype):
    """A dense slab: no particles, no pores; Γ is the whole membrane plane."""

    name = "planar"
    has_particles = False

    def wet_plane_um(self, cathode_thickness_um: float, infiltration_depth_um: float) -> float:
        """0 (there are no pores; the value is not used)."""
        return 0.0

    def reached_by_electrolyte(self, desc: GeometryDescription) -> np.ndarray:
        """Every particle (there are none)."""
        return np.ones(desc.n_particles, dtype=bool)

    def pore_electrolyte_bottom_um(self, desc: GeometryDescription) -> float | None:
        """None: no pores."""
        return None

    def add_stats(self, desc: GeometryDescription, out: GeometryStats) -> None:
        """Active fraction 1; Γ = the cross-section ``W`` (2D) or ``W²`` (3D)."""
        w, lc = desc.width_um, desc.cathode_thickness_um
        layer_volume = w * lc * (w if desc.dim == 3 else 1.0)  # µm³ (2D: per µm of depth)
        area = w * w if desc.dim == 3 else w
        out.update(active_fraction=1.0, interface_area_um2=area, contact_area_fraction=1.0, n_contact_spots=None)
        if desc.dim == 2:
            out["interface_length_um"] = w
            out["collector_contact_length_um"] = w
        out["specific_interface_area_m2_m3"] = area / layer_volume * 1.0e6

    def effective_measures(self, wet_plane_um: float) -> EffectiveMeasures:
        """The slab's conductivity; Γ lies in ``z = L_c``."""
        return EffectiveMeasures(
            solves=(PORE_SOLVE, SOLID_SOLVE),
            electrolyte="measured",
            void_fraction=None,
            contact_area="interface",
        )

    def picture(self, infiltration_depth_um: float) -> GeometryPicture:
        """The slab."""
        return GeometryPicture(slab=True)
