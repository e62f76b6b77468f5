"""``[geometry]``: the cell, its particles and its mesh (lengths in µm)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from microsim.config.fields import Section, fmt, show, spec
from microsim.errors import ConfigError
from microsim.geometry.archetypes import (
    ARCHETYPES,
    DEFAULT_INTERFACE,
    GEOMETRY_KINDS,
    INTERFACE_NAMES,
    PACKING_KIND,
    PARTICLES_FILE_KIND,
    PLANAR_KIND,
    interface_archetype,
)
from microsim.geometry.cbd import CBD_IONIC, CBD_PLACEMENTS

#: The values of ``geometry.interface`` (the archetype registry's).
INTERFACES = INTERFACE_NAMES
#: Upper bound on the estimated cell count of a mesh (a guard against typos, far above a cluster run's size).
MAX_CELLS_ESTIMATE = 2.0e8
#: Smallest interface mesh size accepted [µm].
MIN_INTERFACE_MESH_SIZE_UM = 1.0e-3


@dataclass(frozen=True)
class GeometryConfig(Section):
    """``[geometry]``: the cell, its particles and its mesh. Lengths in µm.

    ``interface_mesh_size_um`` is stored resolved: when not given it is ``mesh_size_um / 2``.
    """

    SECTION: ClassVar[str] = "geometry"

    kind: str = spec(PACKING_KIND, choices=GEOMETRY_KINDS, doc="cathode description")
    dim: int = spec(2, choices=(2, 3), doc="spatial dimension")
    interface: str = spec(
        DEFAULT_INTERFACE,
        choices=INTERFACES,
        doc=(
            "filled: SPE fills the pores; point-contact: membrane on the top particles; infiltrated: point "
            "contact plus SPE in the pores down to infiltration_depth_um below the membrane"
        ),
    )
    width_um: float = spec(10.0, low=0.0, unit="µm", doc="lateral size W (2D) or W x W (3D)")
    cathode_thickness_um: float = spec(11.2, low=0.0, unit="µm", doc="cathode layer thickness L_c")
    membrane_thickness_um: float = spec(9.5, low=0.0, unit="µm", doc="electrolyte membrane thickness L_m")
    active_fraction: float = spec(
        0.45, low=0.0, high=0.9, unit="1", doc="target LiFePO4 volume fraction of the cathode layer"
    )
    radius_mean_um: float = spec(0.5, low=0.0, unit="µm", doc="mean particle radius (paired with the LFP D_s)")
    radius_std_um: float = spec(0.1, low=0.0, low_open=False, unit="µm", doc="particle radius standard deviation")
    contact_radius_um: float = spec(
        0.1, low=0.0, unit="µm", doc="contact-spot radius a (point-contact, infiltrated; contact.model = 'fixed')"
    )
    infiltration_depth_um: float = spec(
        0.0,
        low=0.0,
        low_open=False,
        unit="µm",
        doc="infiltrated: depth below z = L_c to which the SPE fills the pores (0: point contact; L_c: all)",
    )
    particles_file: str = spec(
        "", doc="particle list (centres, radii) for kind = particles-file; relative to the config file"
    )
    seed: int = spec(1, low=0, low_open=False, doc="random seed of the packing")
    mesh_size_um: float = spec(0.2, low=0.0, unit="µm", doc="bulk mesh size")
    interface_mesh_size_um: float | None = spec(
        None, kind=float, low=0.0, unit="µm", doc="mesh size at interfaces", unset="mesh_size_um / 2"
    )
    spot_mesh_level: float = spec(
        1.0,
        low=0.0,
        high=4.0,
        unit="1",
        doc="3D contact spots: mesh level s (edge size 0.1a*s, spot 0.35a*sqrt(s)); 0.5 or 0.25 refine",
    )
    # >= 1e-3: touching particles need a neck the mesher can resolve; tangent circles/spheres cannot be meshed
    overlap_fraction: float = spec(
        0.05,
        low=1.0e-3,
        high=0.3,
        low_open=False,
        unit="1",
        doc="particle overlap, fraction of the smaller radius",
    )
    min_gap_fraction: float = spec(
        0.1,
        low=0.0,
        high=1.0,
        unit="1",
        doc="smallest gap kept between non-touching particles, fraction of radius",
    )
    pore_fill_fraction: float = spec(
        1.0,
        low=0.0,
        high=1.0,
        high_open=False,
        unit="1",
        doc="filled: wet fraction of the pore volume; < 1 leaves seeded gas voids in the pores (solvent loss)",
    )
    # the resolved carbon-binder domain (docs/model.md §1.4); its conductivities are the named values cbd.*
    cbd_fraction: float = spec(
        0.0,
        low=0.0,
        high=1.0,
        low_open=False,
        unit="1",
        doc="carbon-binder volume fraction of the cathode layer (0: no resolved CBD; filled interface only)",
    )
    cbd_placement: str = spec(
        "necks",
        choices=CBD_PLACEMENTS,
        doc="necks: bridges at particle|particle and particle|collector contacts; coating: a film on a cap of "
        "each particle",
    )
    cbd_thickness_um: float = spec(0.15, low=0.0, unit="µm", doc="coating: film thickness")
    cbd_ionic: str = spec(
        "blocking",
        choices=CBD_IONIC,
        doc="blocking: no ions in the CBD; nanoporous: electrolyte in its pores (cbd.ionic_factor, cbd.porosity)",
    )

    def _cross_check(self) -> None:
        if self.interface_mesh_size_um is None:
            object.__setattr__(self, "interface_mesh_size_um", self.mesh_size_um / 2.0)
        if self.kind == PACKING_KIND and 2.0 * self.radius_mean_um >= self.cathode_thickness_um:
            raise ConfigError(
                f"geometry.radius_mean_um = {show(self.radius_mean_um)}: 2*radius_mean_um must be < "
                f"geometry.cathode_thickness_um = {show(self.cathode_thickness_um)}"
            )
        # a packing's particles have radius_mean_um; a file's are checked one by one against the spot when the
        # geometry is built (microsim.geometry.archetypes.growth), so radius_mean_um says nothing about them
        if self.kind == PACKING_KIND and interface_archetype(self.interface).has_spots:
            if self.contact_radius_um >= self.radius_mean_um:
                raise ConfigError(
                    f"geometry.contact_radius_um = {show(self.contact_radius_um)}: must be < "
                    f"geometry.radius_mean_um = {show(self.radius_mean_um)} (a spot is a cap of a particle)"
                )
        self._check_pore_fill()
        if self.cbd_fraction > 0.0 and (
            self.kind == PLANAR_KIND or not interface_archetype(self.interface).supports_cbd
        ):
            raise ConfigError(
                f"geometry.cbd_fraction = {show(self.cbd_fraction)}: a resolved carbon-binder domain needs "
                f"particles and geometry.interface = 'filled' (here kind = {self.kind!r}, interface = "
                f"{self.interface!r})"
            )
        if self.cbd_fraction > 0.0 and self.pore_fill_fraction < 1.0:
            # both place seeded bodies in the same pore space; their joint construction is not built or tested
            raise ConfigError(
                f"geometry.pore_fill_fraction = {show(self.pore_fill_fraction)} with geometry.cbd_fraction = "
                f"{show(self.cbd_fraction)}: partial pore filling and a resolved carbon-binder domain cannot be "
                "combined yet; set one of them to its default (1 or 0)"
            )
        if self.infiltration_depth_um > self.cathode_thickness_um:
            raise ConfigError(
                f"geometry.infiltration_depth_um = {show(self.infiltration_depth_um)}: must be <= "
                f"geometry.cathode_thickness_um = {show(self.cathode_thickness_um)} (the SPE cannot go below "
                "the collector)"
            )
        smallest = min(self.width_um, self.cathode_thickness_um, self.membrane_thickness_um)
        # refuse meshes no machine could build (a typo such as mesh_size_um = 2e-5 would run Gmsh for days)
        # the bulk size sets the cell count; interface refinement is local (a shell a few elements thick)
        # (in logarithms: any finite input, however large, must give a message, not an overflow)
        log_cells = (
            (self.dim - 1) * math.log(self.width_um)
            + math.log(self.cathode_thickness_um + self.membrane_thickness_um)
            - self.dim * math.log(self.mesh_size_um)
            + math.log(2.0 if self.dim == 2 else 6.0)
        )
        cells = math.exp(min(log_cells, 700.0))
        if log_cells > math.log(MAX_CELLS_ESTIMATE):
            raise ConfigError(
                f"geometry.mesh_size_um = {show(self.mesh_size_um)} with geometry.width_um = "
                f"{show(self.width_um)}, geometry.cathode_thickness_um = "
                f"{show(self.cathode_thickness_um)}, geometry.membrane_thickness_um = "
                f"{show(self.membrane_thickness_um)}: about {cells:.2g} cells; at most {MAX_CELLS_ESTIMATE:.0e} "
                "are allowed (use a larger mesh size or a smaller box)"
            )
        h_gamma = self.interface_mesh_size_um
        if h_gamma is None or h_gamma < MIN_INTERFACE_MESH_SIZE_UM:  # None cannot occur: resolved above
            raise ConfigError(
                f"geometry.interface_mesh_size_um = {show(self.interface_mesh_size_um)}: must be >= "
                f"{MIN_INTERFACE_MESH_SIZE_UM:g} µm (1 nm: below the continuum model's validity)"
            )
        if self.mesh_size_um >= smallest:
            raise ConfigError(
                f"geometry.mesh_size_um = {show(self.mesh_size_um)}: must be < {fmt(smallest)} "
                "(the smallest of width_um, cathode_thickness_um, membrane_thickness_um)"
            )
        if self.kind == PARTICLES_FILE_KIND:
            if not self.particles_file:
                raise ConfigError(
                    "geometry.particles_file = '': required when geometry.kind = 'particles-file' "
                    "(a file of particle centres and radii)"
                )
            if not Path(self.particles_file).is_file():
                raise ConfigError(
                    f"geometry.particles_file = {self.particles_file!r}: file not found "
                    "(required when geometry.kind = 'particles-file')"
                )

    def _check_pore_fill(self) -> None:
        """``pore_fill_fraction < 1`` only where the archetype leaves voids in wet pores (filled)."""
        if self.pore_fill_fraction >= 1.0:
            return
        where = [a.name for a in ARCHETYPES.values() if a.uses_pore_fill]
        if self.kind == PLANAR_KIND or not interface_archetype(self.interface).uses_pore_fill:
            what = (
                "geometry.kind = 'planar'" if self.kind == PLANAR_KIND else f"geometry.interface = {self.interface!r}"
            )
            raise ConfigError(
                f"geometry.pore_fill_fraction = {show(self.pore_fill_fraction)}: applies to geometry.interface = "
                f"{' or '.join(repr(n) for n in where)} only (gas voids in electrolyte-filled pores), not to {what}; "
                "leave it at 1"
            )


__all__ = ["GEOMETRY_KINDS", "INTERFACES", "MAX_CELLS_ESTIMATE", "MIN_INTERFACE_MESH_SIZE_UM", "GeometryConfig"]
