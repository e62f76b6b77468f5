"""The interface every archetype implements, and the small records it answers with.

An archetype says how the electrolyte meets the cathode (docs/model.md §1.3). Everything that depends on it
asks the archetype object instead of comparing its name: :func:`~microsim.geometry.archetypes.describe` (spot
growth, which dead clusters go), :class:`~microsim.geometry.archetypes.GeometryDescription` (wet plane, the
particles the electrolyte reaches, the statistics of geometry.json), the Gmsh builder (particles cut at
``z = L_c``, where the electrolyte-filled pores begin), the effective-properties study (the solves and what
they report) and the geometry picture.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from microsim.geometry.measures2d import DiskUnionMeasures, disk_union_measures
from microsim.geometry.packing3d import sphere_union_volume

if TYPE_CHECKING:
    from microsim.geometry.archetypes.description import GeometryDescription

__all__ = [
    "PORE_SOLVE",
    "SOLID_SOLVE",
    "WET_LAYER_SOLVE",
    "Archetype",
    "EffectiveMeasures",
    "GeometryPicture",
    "GeometryStats",
    "ParticleArchetype",
]

#: The geometry.json statistics of one geometry: unit-tagged keys -> JSON values (None: not computed).
type GeometryStats = dict[str, object]

#: The conduction solves of the effective-properties study (their names appear in its progress line).
PORE_SOLVE = "pore electrolyte"
SOLID_SOLVE = "particle network"
WET_LAYER_SOLVE = "wet-layer electrolyte"


@dataclass(frozen=True)
class EffectiveMeasures:
    """What the effective-properties study solves and reports for one archetype (declarative).

    Attributes:
        solves: The conduction solves, in order (:data:`PORE_SOLVE`, :data:`SOLID_SOLVE`, optionally
            :data:`WET_LAYER_SOLVE`: the pore electrolyte of the wet layer ``z_w < z < L_c`` alone).
        electrolyte: How the pore-electrolyte conductivity is reported: ``"measured"`` (the solve between
            ``z = 0`` and ``z = L_c``), ``"void"`` (no electrolyte in the pores: ratio and porosity 0) or
            ``"wet-layer"`` (the pores hold electrolyte above ``z_w`` only: the layer ratio is undefined and the
            wet layer is reported on its own).
        void_fraction: ``None`` (no void pores), ``"remainder"`` (1 - solid - pore electrolyte) or
            ``"solid-complement"`` (1 - solid: every pore is void).
        contact_area: ``contact_area_fraction``: ``None`` (not reported), ``"interface"`` (all of Γ lies in
            ``z = L_c``) or ``"spots"`` (only the Γ facets in ``z = L_c``).
        solid_gap_note: Explain a missing solid ratio by the gap the particles keep below ``z = L_c``.
    """

    solves: tuple[str, ...]
    electrolyte: Literal["measured", "void", "wet-layer"]
    void_fraction: Literal["remainder", "solid-complement"] | None
    contact_area: Literal["interface", "spots"] | None
    solid_gap_note: bool = False

    def __post_init__(self) -> None:
        # the wet-layer report is made from the wet-layer solve: one without the other is a coding error
        if (self.electrolyte == "wet-layer") != (WET_LAYER_SOLVE in self.solves):
            raise ValueError(f"EffectiveMeasures: electrolyte {self.electrolyte!r} with solves {self.solves}")


@dataclass(frozen=True)
class GeometryPicture:
    """What the geometry picture draws besides the particles and the membrane.

    Attributes:
        slab: A dense cathode slab instead of particles.
        spots: The particles are cut at ``z = L_c`` and their contact spots drawn.
        wet_depth_um: Depth of the shaded electrolyte-filled layer below ``z = L_c`` (0: none).
        title_note: Appended to the picture's title.
    """

    slab: bool = False
    spots: bool = False
    wet_depth_um: float = 0.0
    title_note: str = ""


class Archetype(ABC):
    """One way the electrolyte meets the cathode. Subclasses are stateless; the registry holds one of each.

    Attributes:
        name: The name in ``geometry.interface`` and in geometry.json's ``interface``.
        has_particles: The cathode is made of particles (False: a dense slab).
        has_spots: The membrane rests on the highest particles: those within the contact tolerance of
            ``z = L_c`` are grown to contact spots of radius ``contact_radius_um``, and cut at ``z = L_c``.
        uses_infiltration_depth: ``geometry.infiltration_depth_um`` applies.
        uses_pore_fill: ``geometry.pore_fill_fraction`` applies (gas voids may be left in the wet pores).
        supports_cbd: A resolved carbon-binder domain (``geometry.cbd_fraction > 0``) can be placed: it needs
            particles and electrolyte-filled pores around them (void pores would leave the CBD's ionic role
            undefined, contact spots would need the CBD cut at ``z = L_c``).
        intruded: The archetype that meshes this one's membrane once a contact model has it enter the pores
            (``contact.model = 'elastic'`` or ``'creep'``); None: such models do not apply.
    """

    name: ClassVar[str]
    has_particles: ClassVar[bool] = True
    has_spots: ClassVar[bool] = False
    uses_infiltration_depth: ClassVar[bool] = False
    uses_pore_fill: ClassVar[bool] = False
    supports_cbd: ClassVar[bool] = False
    intruded: ClassVar[str | None] = None

    @abstractmethod
    def wet_plane_um(self, cathode_thickness_um: float, infiltration_depth_um: float) -> float:
        """``z_w``: the lower end of the electrolyte in the cathode layer (0: every pore is wet).

        Args:
            cathode_thickness_um: ``L_c``.
            infiltration_depth_um: The infiltration depth as meshed (used where it applies).
        """

    @abstractmethod
    def reached_by_electrolyte(self, desc: GeometryDescription) -> np.ndarray:
        """``(N,)`` mask of the particles the electrolyte touches."""

    @abstractmethod
    def pore_electrolyte_bottom_um(self, desc: GeometryDescription) -> float | None:
        """Where the electrolyte-filled pores begin: the Gmsh builder splits the cathode box there.

        Returns:
            ``z`` of the lower end of the pore electrolyte (0: the whole layer), or None where the pores hold
            no electrolyte (they are void and not meshed).
        """

    def removed_dead(self, dead: np.ndarray, labels: np.ndarray, wet: np.ndarray) -> np.ndarray:
        """Which of the particles not connected to the collector :func:`describe` removes.

        Args:
            dead: ``(N,)`` particles whose cluster does not touch the collector.
            labels: ``(N,)`` cluster labels.
            wet: ``(N,)`` particles the electrolyte reaches.

        Returns:
            The ``(N,)`` mask to remove. Default: none (the electrolyte fixes their potential).
        """
        return np.zeros_like(dead)

    @abstractmethod
    def add_stats(self, desc: GeometryDescription, out: GeometryStats) -> None:
        """Fill in the archetype's entries of the geometry.json statistics ``out`` (its keys exist already)."""

    @abstractmethod
    def effective_measures(self, wet_plane_um: float) -> EffectiveMeasures:
        """What the effective-properties study solves and reports, for the wet plane ``z_w`` as meshed."""

    def picture(self, infiltration_depth_um: float) -> GeometryPicture:
        """What the geometry picture draws, given the record's infiltration depth. Default: particles only."""
        return GeometryPicture()

    def contact_summary(self, spot: str, infiltration_depth_um: float) -> str:
        """The ``microsim check`` words on the contact (e.g. ``" (spot radius 0.1 µm)"``; default: none).

        Args:
            spot: How the spot radius is set, in words.
            infiltration_depth_um: ``geometry.infiltration_depth_um``.
        """
        return ""

    def __repr__(self) -> str:
        return f"<archetype {self.name}>"


class ParticleArchetype(Archetype):
    """An archetype with particles: the statistics common to all of them, with hooks for Γ."""

    def add_stats(self, desc: GeometryDescription, out: GeometryStats) -> None:
        """Active fraction, collector contact, Γ and the particles the electrolyte misses.

        2D lengths are exact (arcs of the disk union, see :func:`disk_union_measures`); areas per unit depth
        (1 µm). 3D volumes and areas are exact up to triple overlaps (see ``sphere_union_volume``).
        """
        w, lc = desc.width_um, desc.cathode_thickness_um
        layer_volume = w * lc * (w if desc.dim == 3 else 1.0)  # µm³ (2D: per µm of depth)
        dry = ~self.reached_by_electrolyte(desc)
        out["n_particles_not_reached_by_electrolyte"] = int(dry.sum())
        out["share_particles_not_reached_by_electrolyte"] = float(dry.sum()) / max(desc.n_particles, 1)
        if desc.dim == 3:
            out["active_fraction"] = sphere_union_volume(desc.centers, desc.radii, 0.0, lc) / layer_volume
            gamma = self.interface_area_3d(desc, out)
            out["interface_area_um2"] = gamma
            out["specific_interface_area_m2_m3"] = gamma / layer_volume * 1.0e6
            self._wetting_stats(desc, out, layer_volume)
            return
        m = disk_union_measures(desc.centers, desc.radii, 0.0, lc)
        out["active_fraction"] = m.area / (w * lc)
        out["collector_contact_length_um"] = m.bottom_length
        gamma = self.interface_length_2d(desc, m, out)
        out["interface_length_um"] = gamma
        out["interface_area_um2"] = gamma * 1.0
        out["specific_interface_area_m2_m3"] = gamma * 1.0 / layer_volume * 1.0e6
        self._wetting_stats(desc, out, layer_volume)

    def _wetting_stats(self, desc: GeometryDescription, out: GeometryStats, layer_volume: float) -> None:
        """The pore filling: wet fraction, voids, dry particles, wetted Γ (archetypes with ``uses_pore_fill``).

        Without voids the wetted Γ is the exact one above; with voids it is sampled (``desc.wetted``) and the
        wet fraction is the placement's grid count (geometry.json's ``mesh`` has the exact one of the model).
        """
        if not self.uses_pore_fill:
            return
        if desc.n_voids == 0:
            out["wet_pore_fraction"] = 1.0
            out["n_dry_particles"] = 0
            wetted = float(out["interface_area_um2"])  # type: ignore[arg-type]  # set just above
        else:
            out["wet_pore_fraction"] = desc.void_info["wet_fraction"]
            out["n_dry_particles"] = int(desc.wetted.dry.sum())
            wetted = desc.wetted.area
        out["wetted_interface_area_um2"] = wetted
        out["wetted_specific_interface_area_m2_m3"] = wetted / layer_volume * 1.0e6

    @abstractmethod
    def interface_area_3d(self, desc: GeometryDescription, out: GeometryStats) -> float:
        """Γ's area in 3D (µm²); may set the spot entries of ``out``."""

    @abstractmethod
    def interface_length_2d(self, desc: GeometryDescription, m: DiskUnionMeasures, out: GeometryStats) -> float:
        """Γ's length in 2D (µm) from the measures ``m`` of the layer; may set the spot entries of ``out``."""
