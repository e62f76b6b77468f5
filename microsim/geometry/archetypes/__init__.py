"""Interface archetypes: how the electrolyte meets the cathode (docs/model.md §1.3), one object each.

* filled (:mod:`.filled`): the electrolyte fills the cathode pores and forms the membrane; Γ = every particle
  surface facing the pores. Particles stay below ``z = L_c - gap``.
* point-contact (:mod:`.point_contact`): the electrolyte is the membrane only; its flat lower face ``z = L_c``
  rests on the highest particles. Every particle whose top is within ``contact_tolerance`` of ``L_c`` is grown
  about its fixed centre (so its existing contacts stay) until it cuts ``z = L_c`` with a chord of half-width
  ``a = contact_radius_um``: ``R'^2 = (L_c - z_c)^2 + a^2``. The particle is ``disk ∩ {z <= L_c}``, Γ = the
  flat chords. Clusters not connected to the collector are removed.
* infiltrated (:mod:`.infiltrated`): point contact, then the electrolyte fills the pores from the membrane
  down to ``z_w = L_c - infiltration_depth_um``; Γ = the spots plus every particle surface in the wet layer.
* planar (:mod:`.planar`, ``geometry.kind`` planar): a dense LiFePO4 slab under the membrane; Γ = ``z = L_c``.

The registry (:mod:`.registry`) maps names to objects; :func:`describe` (:mod:`.construct`) turns geometry
settings into a :class:`GeometryDescription` (:mod:`.description`). NumPy only. Adding an archetype:
docs/extending.md.
"""

from __future__ import annotations

from microsim.geometry.archetypes.base import (
    PORE_SOLVE,
    SOLID_SOLVE,
    WET_LAYER_SOLVE,
    Archetype,
    EffectiveMeasures,
    GeometryPicture,
)
from microsim.geometry.archetypes.construct import describe
from microsim.geometry.archetypes.description import CONTACT_TOLERANCE_RADII, GeometryDescription
from microsim.geometry.archetypes.registry import (
    ARCHETYPES,
    DEFAULT_INTERFACE,
    DEMO_INTERFACES,
    GEOMETRY_KINDS,
    INTERFACE_NAMES,
    PACKING_KIND,
    PARTICLES_FILE_KIND,
    PLANAR_KIND,
    SPOT_INTERFACES,
    archetype_for,
    get_archetype,
    interface_archetype,
)
from microsim.geometry.archetypes.spec import GeometrySpec

__all__ = [
    "ARCHETYPES",
    "CONTACT_TOLERANCE_RADII",
    "DEFAULT_INTERFACE",
    "DEMO_INTERFACES",
    "GEOMETRY_KINDS",
    "INTERFACE_NAMES",
    "PACKING_KIND",
    "PARTICLES_FILE_KIND",
    "PLANAR_KIND",
    "PORE_SOLVE",
    "SOLID_SOLVE",
    "SPOT_INTERFACES",
    "WET_LAYER_SOLVE",
    "Archetype",
    "EffectiveMeasures",
    "GeometryDescription",
    "GeometryPicture",
    "GeometrySpec",
    "archetype_for",
    "describe",
    "get_archetype",
    "interface_archetype",
]
