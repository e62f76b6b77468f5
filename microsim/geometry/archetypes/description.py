"""The description of one geometry (pure NumPy): what the Gmsh builder, the studies and the reports read.

Built by :func:`~microsim.geometry.archetypes.describe`; its statistics (geometry.json) are the common
entries plus those its archetype adds (:meth:`~microsim.geometry.archetypes.base.Archetype.add_stats`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from microsim.geometry.archetypes.base import Archetype
from microsim.geometry.archetypes.registry import PACKING_KIND, get_archetype
from microsim.geometry.cbd import CBDLayout
from microsim.geometry.elastic_contact import top_height_map
from microsim.geometry.particles import Particles
from microsim.geometry.voids import WettedSurface, wetted_surface

__all__ = ["CONTACT_TOLERANCE_RADII", "GeometryDescription"]

#: A particle whose top is within this many mean radii of z = L_c touches the membrane (contact spots).
CONTACT_TOLERANCE_RADII = 0.25

_EMPTY2 = np.zeros((0, 2))


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class GeometryDescription:
    """Everything the Gmsh builder and the reports need to know about one geometry (µm).

    Attributes:
        kind: One of :data:`~microsim.geometry.archetypes.GEOMETRY_KINDS`.
        interface: The archetype's name (one of :data:`~microsim.geometry.archetypes.ARCHETYPES`).
        dim: 2 or 3.
        width_um: Lateral size W (3D: W x W).
        cathode_thickness_um: L_c.
        membrane_thickness_um: L_m.
        centers: ``(N, dim)`` particle centres (last coordinate through the thickness).
        radii: ``(N,)`` radii after the point-contact growth.
        original_radii: ``(N,)`` radii before the growth.
        particle_ids: ``(N,)`` index of each particle in the packing / file it came from.
        touches_collector: ``(N,)`` particles cutting ``z = 0``.
        reaches_membrane: ``(N,)`` particles cut by ``z = L_c`` at a contact spot (point-contact,
            infiltrated; all False otherwise).
        cluster: ``(N,)`` cluster label (particles connected through overlaps share one).
        dead_particle_ids: Source indices of the particles not connected to the collector.
        dead_removed: Whether (some of) those were removed (point-contact: all; infiltrated: the dry ones) or
            kept (filled).
        blocked_contact_ids: Source indices of point-contact particles within the tolerance that were not
            grown (growth would have made a near-tangent neck or crossed a wall; see ``grow_to_contact``).
        mesh_size_um: Element size far from Γ.
        interface_mesh_size_um: Element size on Γ and on the collector.
        contact_radius_um: Chord half-width ``a`` of the contact spots.
        infiltration_depth_um: Infiltrated: depth of the wet layer below ``z = L_c`` as meshed (the asked
            depth, moved by at most a fraction of the interface mesh size off near-tangent planes).
        infiltration_depth_asked_um: Infiltrated: the depth asked for.
        spot_mesh_level: 3D contact spots: mesh level ``s`` of the graded spot fields (1: default; smaller is
            finer; see :mod:`microsim.geometry.gmsh_model`).
        contact_tolerance_um: Distance below ``L_c`` within which a particle top is grown to touch the
            membrane.
        overlap_fraction: Overlap of touching particles.
        min_gap_um: Minimum gap of non-touching particles.
        seed: Packing seed.
        target_active_fraction: Fraction asked for (packings only).
        n_source_particles: Number of particles in the packing / file (before any removal).
        packing_info: Extra figures of the packing search (p_stick, trials, time).
        pore_fill_fraction: ``geometry.pore_fill_fraction`` (1: every pore wet, no voids).
        void_centers: ``(n, dim)`` centres of the gas voids in the pores (:mod:`microsim.geometry.voids`).
        void_radii: ``(n,)`` their radii (the void is the ball less the particles).
        void_info: Figures of the void placement (pore measure, wet fraction as placed, candidates).
        cbd: The resolved carbon-binder domain's bodies (None: no CBD, ``geometry.cbd_fraction = 0``).
        contact: The contact model's statistics (:mod:`microsim.geometry.formation`; None: no contact spots).
    """

    kind: str
    interface: str
    dim: int
    width_um: float
    cathode_thickness_um: float
    membrane_thickness_um: float
    centers: np.ndarray = field(default_factory=lambda: _EMPTY2)
    radii: np.ndarray = field(default_factory=lambda: np.zeros(0))
    original_radii: np.ndarray = field(default_factory=lambda: np.zeros(0))
    particle_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    touches_collector: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    reaches_membrane: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    cluster: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    dead_particle_ids: tuple[int, ...] = ()
    dead_removed: bool = False
    blocked_contact_ids: tuple[int, ...] = ()
    mesh_size_um: float = 0.2
    interface_mesh_size_um: float = 0.1
    contact_radius_um: float = 0.0
    contact_tolerance_um: float = 0.0
    infiltration_depth_um: float = 0.0
    infiltration_depth_asked_um: float = 0.0
    spot_mesh_level: float = 1.0
    overlap_fraction: float = 0.05
    min_gap_um: float = 0.05
    seed: int = 0
    target_active_fraction: float | None = None
    n_source_particles: int = 0
    packing_info: dict[str, Any] = field(default_factory=dict)
    pore_fill_fraction: float = 1.0
    void_centers: np.ndarray = field(default_factory=lambda: _EMPTY2)
    void_radii: np.ndarray = field(default_factory=lambda: np.zeros(0))
    void_info: dict[str, Any] = field(default_factory=dict)
    cbd: CBDLayout | None = None
    contact: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in (
            "centers",
            "radii",
            "original_radii",
            "particle_ids",
            "touches_collector",
            "reaches_membrane",
            "cluster",
            "void_centers",
            "void_radii",
        ):
            object.__setattr__(self, name, _readonly(getattr(self, name)))

    # ---- convenience ---------------------------------------------------------------------------------------
    @property
    def n_particles(self) -> int:
        """Number of particles in the geometry."""
        return int(self.radii.shape[0])

    @property
    def particles(self) -> Particles:
        """The particles (after growth and removal) as a :class:`Particles`."""
        return Particles(self.centers.reshape(-1, self.dim), self.radii)

    @property
    def total_thickness_um(self) -> float:
        """L_c + L_m: the z of the Li metal."""
        return self.cathode_thickness_um + self.membrane_thickness_um

    @property
    def archetype(self) -> Archetype:
        """The interface archetype (from the registry, by :attr:`interface`)."""
        return get_archetype(self.interface)

    @property
    def wet_plane_um(self) -> float:
        """``z_w``: the lower end of the electrolyte in the pores (``L_c``: none; 0: all of them)."""
        return self.archetype.wet_plane_um(self.cathode_thickness_um, self.infiltration_depth_um)

    def reached_by_electrolyte(self) -> np.ndarray:
        """``(N,)`` particles that touch the electrolyte (filled: all; otherwise a spot or the wet layer)."""
        return self.archetype.reached_by_electrolyte(self)

    @property
    def n_voids(self) -> int:
        """Number of gas voids in the pores."""
        return int(self.void_radii.shape[0])

    @cached_property
    def wetted(self) -> WettedSurface:
        """The particle surface the electrolyte wets, sampled (outside the voids; cached)."""
        return wetted_surface(
            self.centers.reshape(-1, self.dim),
            self.radii,
            self.cathode_thickness_um,
            self.void_centers.reshape(-1, self.dim),
            self.void_radii,
        )

    def contact_spots(self) -> list[tuple[float, ...]]:
        """Lateral centres of the point-contact spots, one per particle reaching the membrane."""
        return [tuple(float(v) for v in c[:-1]) for c in self.centers[self.reaches_membrane]]

    # ---- statistics ----------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Statistics for geometry.json (unit-tagged keys; None where not computed analytically).

        The entries every geometry has, in a fixed order, then those its archetype fills in. In 3D with
        particles the measured interface measures come from the Gmsh model (``build_model`` info).
        """
        out: dict[str, Any] = {
            "kind": self.kind,
            "interface": self.interface,
            "dim": self.dim,
            "width_um": self.width_um,
            "cathode_thickness_um": self.cathode_thickness_um,
            "membrane_thickness_um": self.membrane_thickness_um,
            "n_particles": self.n_particles,
            "active_fraction": None,
            "target_active_fraction": self.target_active_fraction,
            "interface_length_um": None,
            "interface_area_um2": None,
            "specific_interface_area_m2_m3": None,
            "contact_area_fraction": None,
            "collector_contact_length_um": None,
            "n_particles_not_connected_to_collector": len(self.dead_particle_ids),
            "particles_not_connected_to_collector": [int(i) for i in self.dead_particle_ids],
            "dead_particles_removed": self.dead_removed,
            "share_particles_not_connected_to_collector": len(self.dead_particle_ids) / max(self.n_source_particles, 1),
            "n_particles_not_reached_by_electrolyte": None,
            "share_particles_not_reached_by_electrolyte": None,
            "n_blocked_contacts": None,
            "n_particles_touching_collector": int(self.touches_collector.sum()),
            "n_contact_spots": None,
            "contact_radius_um": None,
            "infiltration_depth_um": None,
            "infiltration_depth_asked_um": None,
            "pore_fill_fraction": self.pore_fill_fraction,
            "wet_pore_fraction": None,
            "n_voids": self.n_voids,
            "n_dry_particles": None,
            "wetted_interface_area_um2": None,
            "wetted_specific_interface_area_m2_m3": None,
            "voids": [
                {
                    **{n: float(v) for n, v in zip(("x_um", "y_um", "z_um")[: self.dim], c, strict=True)},
                    "r_um": float(r),
                }
                for c, r in zip(self.void_centers.reshape(-1, self.dim), self.void_radii, strict=True)
            ],
            "particles": self._particle_records(),
            "seed": self.seed if self.kind == PACKING_KIND else None,
        }
        if self.packing_info:
            out["packing"] = dict(self.packing_info)
        if self.void_info:
            out["void_placement"] = dict(self.void_info)
        if self.cbd is not None:  # only then: without a CBD geometry.json keeps its keys
            out["cbd"] = self.cbd.stats()
        # the archetype only fills keys listed above, so the key order of geometry.json stays fixed
        self.archetype.add_stats(self, out)
        if self.contact is not None:
            out["contact"] = self.contact_stats(out)
        return out

    def contact_stats(self, out: dict[str, Any]) -> dict[str, Any]:
        """The contact model's block, completed by what the geometry made of it (``out``: the statistics)."""
        block = dict(self.contact or {})
        block["meshed_as"] = self.interface
        block["meshed_depth_um"] = self.infiltration_depth_um
        meshed = self.meshed_contact_fraction()
        if block.get("contact_fraction") is None:
            # fixed, hertz: the flat spots; creep: the membrane touches every particle part above its front
            block["contact_fraction"] = meshed if self.infiltration_depth_um > 0.0 else out.get("contact_area_fraction")
        block["meshed_contact_fraction"] = meshed
        share = out.get("share_particles_not_reached_by_electrolyte")
        block["share_particles_reached"] = None if share is None else 1.0 - float(share)
        block["n_contact_spots"] = out.get("n_contact_spots")
        gamma = out.get("interface_area_um2")
        extent = self.width_um ** (self.dim - 1)  # 2D: Γ per µm of depth over W x 1 µm
        block["interface_area_per_membrane_area"] = None if gamma is None else float(gamma) / extent
        return block

    def meshed_contact_fraction(self, points_per_radius: int = 8) -> float:
        """Share of the membrane plane above particle surface the electrolyte meets at or above the wet plane.

        Point contact: the flat spots (the grown particles cut at ``L_c``); intruded: the projection of every
        particle part above ``z_w = L_c - depth``. On a grid of ``points_per_radius`` per smallest radius.
        """
        n = max(8, math.ceil(points_per_radius * self.width_um / float(self.radii.min())))
        hmap = top_height_map(self.centers, self.radii, self.width_um, n)
        z_w = self.cathode_thickness_um - self.infiltration_depth_um
        return float(np.mean(hmap.heights_um > z_w))

    def _particle_records(self) -> list[dict[str, float]]:
        names = ("x_um", "y_um") if self.dim == 2 else ("x_um", "y_um", "z_um")
        return [
            {**{n: float(v) for n, v in zip(names, c, strict=True)}, "r_um": float(r)}
            for c, r in zip(self.centers, self.radii, strict=True)
        ]
