"""The registered archetypes and geometry kinds: the one place that maps names to objects.

``geometry.interface`` selects one of :data:`INTERFACE_NAMES`; ``geometry.kind`` one of
:data:`GEOMETRY_KINDS`, and the planar kind implies the planar archetype whatever the interface says
(:func:`archetype_for`). A new archetype is one module and one line in :data:`ARCHETYPES` (see
docs/extending.md).
"""

from __future__ import annotations

import difflib
from types import MappingProxyType
from typing import Final

from microsim.errors import GeometryError
from microsim.geometry.archetypes.base import Archetype
from microsim.geometry.archetypes.filled import Filled
from microsim.geometry.archetypes.infiltrated import Infiltrated
from microsim.geometry.archetypes.planar import Planar
from microsim.geometry.archetypes.point_contact import PointContact

__all__ = [
    "ARCHETYPES",
    "DEFAULT_INTERFACE",
    "DEMO_INTERFACES",
    "GEOMETRY_KINDS",
    "INTERFACE_NAMES",
    "PACKING_KIND",
    "PARTICLES_FILE_KIND",
    "PLANAR_KIND",
    "SPOT_INTERFACES",
    "archetype_for",
    "get_archetype",
    "interface_archetype",
]

FILLED, POINT_CONTACT, INFILTRATED, PLANAR = Filled(), PointContact(), Infiltrated(), Planar()

#: Every archetype by name, in registry order (the order of the docs and of the config's choices).
ARCHETYPES: Final = MappingProxyType({a.name: a for a in (FILLED, POINT_CONTACT, INFILTRATED, PLANAR)})

#: The values of ``geometry.interface``: the particle archetypes (planar comes with ``geometry.kind``).
INTERFACE_NAMES: Final[tuple[str, ...]] = tuple(a.name for a in ARCHETYPES.values() if a.has_particles)

#: Archetypes whose membrane rests on contact spots of radius ``contact_radius_um``.
SPOT_INTERFACES: Final[tuple[str, ...]] = tuple(a.name for a in ARCHETYPES.values() if a.has_spots)

#: ``geometry.interface`` when a record or a config does not say.
DEFAULT_INTERFACE: Final = FILLED.name

#: The two interfaces the demo compares; the breakdown table's ratio column is the second over the first.
DEMO_INTERFACES: Final[tuple[str, str]] = (FILLED.name, POINT_CONTACT.name)

#: ``geometry.kind`` of a seeded packing (:func:`microsim.geometry.packing.pack`).
PACKING_KIND: Final = "packing"
#: ``geometry.kind`` of a dense slab (implies the planar archetype).
PLANAR_KIND: Final = "planar"
#: ``geometry.kind`` of particles read from a CSV file (``geometry.particles_file``).
PARTICLES_FILE_KIND: Final = "particles-file"

#: The values of ``geometry.kind``, in the config's order.
GEOMETRY_KINDS: Final[tuple[str, ...]] = (PACKING_KIND, PLANAR_KIND, PARTICLES_FILE_KIND)


def _unknown(what: str, value: str, allowed: tuple[str, ...]) -> GeometryError:
    hint = difflib.get_close_matches(str(value), allowed, n=1)
    did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
    return GeometryError(f"{what} = {value!r}: expected one of {', '.join(allowed)}{did_you_mean}")


def get_archetype(name: str) -> Archetype:
    """The registered archetype called ``name`` (any of :data:`ARCHETYPES`, planar included).

    Raises:
        GeometryError: Naming the value, the registered names and the closest one.
    """
    try:
        return ARCHETYPES[name]
    except (KeyError, TypeError):
        raise _unknown("interface archetype", name, tuple(ARCHETYPES)) from None


def interface_archetype(name: str) -> Archetype:
    """The archetype selected by ``geometry.interface = name`` (one of :data:`INTERFACE_NAMES`).

    Raises:
        GeometryError: Naming ``geometry.interface``, the value, the allowed names and the closest one.
    """
    if name not in INTERFACE_NAMES:
        raise _unknown("geometry.interface", name, INTERFACE_NAMES)
    return ARCHETYPES[name]


def archetype_for(kind: str, interface: str) -> Archetype:
    """The archetype of a geometry: planar for the planar kind, else the one ``interface`` selects.

    Raises:
        GeometryError: ``kind`` is not one of :data:`GEOMETRY_KINDS`, or ``interface`` not one of
            :data:`INTERFACE_NAMES` (for a particle kind).
    """
    if kind not in GEOMETRY_KINDS:
        raise _unknown("geometry.kind", kind, GEOMETRY_KINDS)
    return PLANAR if kind == PLANAR_KIND else interface_archetype(interface)
