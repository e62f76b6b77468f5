"""The geometry settings :func:`~microsim.geometry.archetypes.describe` reads, as a structural type.

``microsim.config.GeometryConfig`` satisfies it; the geometry package does not import the config (it sits
below it in the import layers), and tests may pass any object with these attributes.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["GeometrySpec"]


class GeometrySpec(Protocol):
    """The ``[geometry]`` fields a geometry is built from (lengths in µm; see ``microsim.config``).

    Every field is read; none is optional (the config fills in its defaults). ``interface_mesh_size_um``
    None means half the bulk mesh size (the config stores it resolved). The carbon-binder keys
    (``cbd_fraction``, ``cbd_placement``, ``cbd_thickness_um``, ``cbd_ionic``) are read when present (absent:
    no carbon-binder domain), so objects written before they existed still describe the same geometry.
    """

    @property
    def kind(self) -> str:
        """``geometry.kind``."""
        ...

    @property
    def dim(self) -> int:
        """2 or 3."""
        ...

    @property
    def interface(self) -> str:
        """``geometry.interface`` (ignored for the planar kind)."""
        ...

    @property
    def width_um(self) -> float:
        """Lateral size W (3D: W x W)."""
        ...

    @property
    def cathode_thickness_um(self) -> float:
        """L_c."""
        ...

    @property
    def membrane_thickness_um(self) -> float:
        """L_m."""
        ...

    @property
    def active_fraction(self) -> float:
        """Target solid fraction (packings)."""
        ...

    @property
    def radius_mean_um(self) -> float:
        """Mean particle radius."""
        ...

    @property
    def radius_std_um(self) -> float:
        """Particle radius standard deviation."""
        ...

    @property
    def contact_radius_um(self) -> float:
        """Contact-spot radius a (contact model ``fixed``; the spots of the top particles otherwise)."""
        ...

    @property
    def infiltration_depth_um(self) -> float:
        """Depth of the pore electrolyte below z = L_c (archetypes that use it)."""
        ...

    @property
    def particles_file(self) -> str:
        """Particle CSV file (particles-file kind)."""
        ...

    @property
    def seed(self) -> int:
        """Packing seed."""
        ...

    @property
    def mesh_size_um(self) -> float:
        """Bulk mesh size."""
        ...

    @property
    def interface_mesh_size_um(self) -> float | None:
        """Mesh size on Γ (None: half the bulk size)."""
        ...

    @property
    def spot_mesh_level(self) -> float:
        """3D spot mesh level s."""
        ...

    @property
    def overlap_fraction(self) -> float:
        """Overlap of touching particles."""
        ...

    @property
    def min_gap_fraction(self) -> float:
        """Smallest gap of non-touching particles, in mean radii."""
        ...

    @property
    def pore_fill_fraction(self) -> float:
        """Wet fraction of the pore volume (1: no gas voids; archetypes with ``uses_pore_fill``)."""
        ...
