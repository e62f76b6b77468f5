"""Geometry stage: particle packings, interface archetypes, geometry descriptions and the tagged Gmsh model.

The archetype registry (``ARCHETYPES``, ``INTERFACE_NAMES``, ``GEOMETRY_KINDS``, ``get_archetype``) lives in
:mod:`microsim.geometry.archetypes`. Everything here but ``build_model`` needs NumPy only (SciPy for 3D
packings and particle files); ``build_model`` imports gmsh when called. The package never imports
``microsim.config``: :func:`describe` takes any object with the fields of ``GeometrySpec``.
"""

from __future__ import annotations

from microsim.geometry.archetypes import (
    ARCHETYPES,
    CONTACT_TOLERANCE_RADII,
    DEMO_INTERFACES,
    GEOMETRY_KINDS,
    INTERFACE_NAMES,
    Archetype,
    GeometryDescription,
    GeometrySpec,
    archetype_for,
    describe,
    get_archetype,
    interface_archetype,
)
from microsim.geometry.gmsh_model import build_model
from microsim.geometry.packing import (
    DiskUnionMeasures,
    PackingResult,
    Particles,
    area_fraction_2d,
    check_gaps,
    cluster_labels,
    deposit_disks,
    disk_union_measures,
    pack,
    pack_disks,
    read_particles_csv,
    touches_collector,
    write_particles_csv,
)

__all__ = [
    "ARCHETYPES",
    "CONTACT_TOLERANCE_RADII",
    "DEMO_INTERFACES",
    "GEOMETRY_KINDS",
    "INTERFACE_NAMES",
    "Archetype",
    "DiskUnionMeasures",
    "GeometryDescription",
    "GeometrySpec",
    "PackingResult",
    "Particles",
    "archetype_for",
    "area_fraction_2d",
    "build_model",
    "check_gaps",
    "cluster_labels",
    "deposit_disks",
    "describe",
    "disk_union_measures",
    "get_archetype",
    "interface_archetype",
    "pack",
    "pack_disks",
    "read_particles_csv",
    "touches_collector",
    "write_particles_csv",
]
