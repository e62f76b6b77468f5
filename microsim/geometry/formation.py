"""How a pressed membrane meets a dry cathode: the contact models (docs/model.md §1.4, ``[contact]``).

A contact model answers, for the packing and the cell's making (stack pressure, membrane stiffness, rest time
and temperature), two things the point-contact geometry is built from:

* the radius of the flat contact spots of the top particles (``fixed``: ``geometry.contact_radius_um``;
  ``hertz``: Hertz at the mean radius, within its range);
* how deep below ``z = L_c`` the membrane fills the pores between the top particles (``elastic``: the deepest
  point where the conformed membrane touches a particle, from a boundary-element contact solve of the packing's
  top surface, :mod:`microsim.geometry.elastic_contact`; ``creep``: Washburn flow of the viscous polymer into the
  pore throats during the rest, :mod:`microsim.geometry.creep`). A depth above zero is meshed by the
  ``infiltrated`` archetype: every particle surface above ``L_c − depth`` is wetted.

Each model is a small stateless class in :data:`CONTACT_MODELS`; :func:`resolve_contact` looks one up. The
statistics they return are geometry.json's and summary.json's ``contact`` block (unit-tagged keys).
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from microsim.errors import GeometryError
from microsim.geometry.contact import hertz_contact_radius_um
from microsim.geometry.creep import CreepStage, bed_throat_radius_um, bruggeman_tortuosity, intrusion_depth_um
from microsim.geometry.elastic_contact import MIN_POINTS_PER_RADIUS, solve_elastic_contact, top_height_map
from microsim.geometry.measures2d import disk_union_measures
from microsim.geometry.packing3d import sphere_union_volume

if TYPE_CHECKING:
    from microsim.geometry.archetypes.base import Archetype

__all__ = [
    "CONTACT_MODELS",
    "CONTACT_MODEL_NAMES",
    "DEFAULT_POINTS_PER_RADIUS",
    "ContactModel",
    "ContactOutcome",
    "ContactSettings",
    "ContactWarning",
    "TopLayer",
    "misfit",
    "resolve_contact",
]

#: Height-map points per mean particle radius when ``contact.grid_points`` is not given (the contact fraction
#: then changes by < 2 % on doubling the grid, tests/unit/test_formation.py).
DEFAULT_POINTS_PER_RADIUS = 8
#: A depth below this fraction of the interface mesh size is meshed as point contact (a thinner wet layer needs
#: sliver elements); the computed depth is still reported.
MIN_MESHED_DEPTH_FRACTION = 0.5


class ContactWarning(UserWarning):
    """A contact model used outside the range where its assumptions hold (the run goes on)."""


@dataclass(frozen=True)
class ContactSettings:
    """The ``[contact]`` settings in SI-free, resolved form (the config builds it; tests may build it directly).

    Attributes:
        model: One of :data:`CONTACT_MODEL_NAMES`.
        stack_pressure_MPa: Mean pressure on the membrane (``hertz``, ``elastic``, ``creep``).
        membrane_modulus_MPa: Young's modulus of the membrane.
        membrane_poisson_ratio: Its Poisson's ratio, in [0, 0.5).
        grid_points: Height-map points per side (``elastic``); None: :data:`DEFAULT_POINTS_PER_RADIUS` per mean
            radius.
        rest_time_s: Duration of the rest under pressure (``creep``).
        rest_temperature_K: Temperature of the rest (``creep``).
        viscosity_Pa_s: ``η(T)`` of the membrane (``creep``).
        viscosity_note: Where η comes from, in words (reported).
        surface_tension_N_m: Surface tension of the polymer (capillary pressure, ``creep``).
        contact_angle_deg: Its contact angle on the cathode.
    """

    model: str = "fixed"
    stack_pressure_MPa: float | None = None
    membrane_modulus_MPa: float = 3.0
    membrane_poisson_ratio: float = 0.45
    grid_points: int | None = None
    rest_time_s: float = 0.0
    rest_temperature_K: float = 303.15
    viscosity_Pa_s: Callable[[float], float] | None = field(default=None, compare=False)
    viscosity_note: str = ""
    surface_tension_N_m: float = 0.042
    contact_angle_deg: float = 0.0

    @property
    def contact_model(self) -> ContactModel:
        """The model object (GeometryError for an unknown name)."""
        try:
            return CONTACT_MODELS[self.model]
        except KeyError:
            raise GeometryError(
                f"contact.model = {self.model!r}: expected one of {', '.join(CONTACT_MODEL_NAMES)}"
            ) from None


@dataclass(frozen=True, eq=False)
class TopLayer:
    """What a contact model sees of the cathode (µm).

    Attributes:
        dim: 2 or 3.
        width_um: Lateral size W (3D: W x W).
        cathode_thickness_um: L_c (the membrane's lower face).
        centers: ``(N, dim)`` particle centres before the spot growth.
        radii: ``(N,)`` their radii.
        radius_mean_um: Mean radius of the packing.
        contact_radius_um: ``geometry.contact_radius_um``.
        interface_mesh_size_um: Element size on Γ (the smallest wet layer meshed is half of it).
    """

    dim: int
    width_um: float
    cathode_thickness_um: float
    centers: np.ndarray
    radii: np.ndarray
    radius_mean_um: float
    contact_radius_um: float
    interface_mesh_size_um: float

    @property
    def solid_fraction(self) -> float:
        """Volume (2D: area) fraction of the particles in the layer ``0 < z < L_c``."""
        lc, w = self.cathode_thickness_um, self.width_um
        if self.dim == 3:
            return sphere_union_volume(self.centers, self.radii, 0.0, lc) / (w * w * lc)
        return disk_union_measures(self.centers, self.radii, 0.0, lc).area / (w * lc)


@dataclass(frozen=True)
class ContactOutcome:
    """What a contact model decided.

    Attributes:
        contact_radius_um: Radius (2D: half-width) of the flat spots of the top particles.
        infiltration_depth_um: Depth below ``L_c`` the membrane fills the pores to, as asked of the mesher
            (0: point contact; ``L_c``: every pore).
        stats: The ``contact`` block of geometry.json (unit-tagged keys).
    """

    contact_radius_um: float
    infiltration_depth_um: float
    stats: dict[str, object]


def _positive(name: str, value: float | None) -> float:
    if value is None:
        raise GeometryError(f"{name} is not set: required by this contact model")
    v = float(value)
    if not math.isfinite(v) or v <= 0.0:
        raise GeometryError(f"{name} = {value!r}: must be a finite number > 0")
    return v


class ContactModel(ABC):
    """One way to decide the contact. Subclasses are stateless; :data:`CONTACT_MODELS` holds one of each.

    Attributes:
        name: The value of ``contact.model``.
        forms_depth: The model decides an infiltration depth (the geometry is meshed as ``infiltrated`` when it
            is above zero), so ``geometry.infiltration_depth_um`` must be left unset.
        needs_pressure: ``contact.stack_pressure_MPa`` is required.
        needs_spots: The model applies only to a membrane resting on contact spots (point contact); False for the
            model that leaves every geometry as configured (``fixed``).
        uses_modulus: The membrane's elastic constants enter (reported in the statistics).
    """

    name: ClassVar[str]
    forms_depth: ClassVar[bool] = False
    needs_pressure: ClassVar[bool] = True
    needs_spots: ClassVar[bool] = True
    uses_modulus: ClassVar[bool] = True

    @abstractmethod
    def resolve(self, top: TopLayer, s: ContactSettings) -> ContactOutcome:
        """Decide the contact of the membrane with ``top``."""

    @abstractmethod
    def words(self, s: ContactSettings, contact_radius_um: float) -> str:
        """How the contact is set, in a few words (the run summary)."""

    @staticmethod
    def _outcome(top: TopLayer, depth: float, stats: dict[str, object]) -> ContactOutcome:
        """The outcome for an intrusion ``depth``: meshed as point contact where it is below the mesh's reach."""
        meshed = depth if depth >= MIN_MESHED_DEPTH_FRACTION * top.interface_mesh_size_um else 0.0
        if meshed == 0.0 and depth > 0.0:
            stats["note"] = (
                f"intrusion depth {depth:.3g} µm < {MIN_MESHED_DEPTH_FRACTION:g} x interface_mesh_size_um: "
                "meshed as point contact"
            )
        return ContactOutcome(top.contact_radius_um, meshed, stats)

    def _base(self, s: ContactSettings) -> dict[str, object]:
        return {
            "model": self.name,
            "stack_pressure_MPa": s.stack_pressure_MPa,
            "membrane_modulus_MPa": s.membrane_modulus_MPa if self.uses_modulus else None,
        }

    def __repr__(self) -> str:
        return f"<contact model {self.name}>"


class Fixed(ContactModel):
    """Spots of ``geometry.contact_radius_um``; the pores stay dry."""

    name = "fixed"
    needs_pressure = False
    needs_spots = False
    uses_modulus = False

    def words(self, s: ContactSettings, contact_radius_um: float) -> str:
        """The spot radius."""
        return f"spot radius {contact_radius_um:g} µm"

    def resolve(self, top: TopLayer, s: ContactSettings) -> ContactOutcome:
        """The configured spot radius, no intrusion."""
        a = top.contact_radius_um
        stats = {**self._base(s), "contact_radius_um": a, "intrusion_depth_um": 0.0}
        if s.stack_pressure_MPa is not None:
            stats["note"] = "the stack pressure does not enter the fixed spots"
        return ContactOutcome(a, 0.0, stats)


class Hertz(ContactModel):
    """Hertz at the mean radius (:mod:`microsim.geometry.contact`), refused beyond ``a = 0.3 R``."""

    name = "hertz"

    def words(self, s: ContactSettings, contact_radius_um: float) -> str:
        """The pressure Hertz turns into a spot radius."""
        return f"spot radius from {s.stack_pressure_MPa:g} MPa by Hertz"

    def resolve(self, top: TopLayer, s: ContactSettings) -> ContactOutcome:
        """One spot radius from the stack pressure; the pores stay dry."""
        pressure = _positive("contact.stack_pressure_MPa", s.stack_pressure_MPa)
        modulus = _positive("contact.membrane_modulus_MPa", s.membrane_modulus_MPa)
        a = hertz_contact_radius_um(
            pressure,
            top.radius_mean_um,
            modulus,
            nu_membrane=s.membrane_poisson_ratio,
            field="contact.stack_pressure_MPa",
        )
        return ContactOutcome(a, 0.0, {**self._base(s), "contact_radius_um": a, "intrusion_depth_um": 0.0})


class Elastic(ContactModel):
    """The membrane as an elastic half-space pressed onto the packing's top (boundary elements, tamaas)."""

    name = "elastic"
    forms_depth = True

    def words(self, s: ContactSettings, contact_radius_um: float) -> str:
        """Pressure and modulus."""
        return f"elastic membrane contact at {s.stack_pressure_MPa:g} MPa, E = {s.membrane_modulus_MPa:g} MPa"

    def grid_points(self, top: TopLayer, s: ContactSettings) -> int:
        """Points per side: the setting, or :data:`DEFAULT_POINTS_PER_RADIUS` per mean radius (even)."""
        if s.grid_points is not None:
            return int(s.grid_points)
        w = top.width_um
        n = max(
            math.ceil(DEFAULT_POINTS_PER_RADIUS * w / top.radius_mean_um),
            math.ceil(MIN_POINTS_PER_RADIUS * w / float(np.min(top.radii))),
        )
        return n + n % 2

    def resolve(self, top: TopLayer, s: ContactSettings) -> ContactOutcome:
        """Solve the contact; the depth is how far below the highest summit the membrane touches."""
        pressure = _positive("contact.stack_pressure_MPa", s.stack_pressure_MPa)
        modulus = _positive("contact.membrane_modulus_MPa", s.membrane_modulus_MPa)
        n = self.grid_points(top, s)
        try:
            hmap = top_height_map(top.centers, top.radii, top.width_um, n)
        except GeometryError as err:
            raise GeometryError(f"contact.grid_points = {n}: {err}") from None
        result = solve_elastic_contact(hmap, pressure, modulus, s.membrane_poisson_ratio)
        # the mesh keeps the membrane's face at L_c (the top particles grown to touch it): the wet layer reaches
        # down to the lowest point the membrane touches, so every touching particle is wetted
        lowest = float(hmap.heights_um.max()) - result.intrusion_depth_um
        depth = max(top.cathode_thickness_um - lowest, 0.0)
        if not result.within_small_slopes:
            warnings.warn(
                f"contact.model = 'elastic': the membrane touches the particles where their surface slope reaches "
                f"{result.max_contact_slope:.3g} (> 1, i.e. steeper than 45°): beyond the small-slope assumption of "
                "half-space contact; the contact fraction is then an estimate (docs/model.md §1.4)",
                ContactWarning,
                stacklevel=2,
            )
        extent = top.width_um ** (top.dim - 1)
        stats: dict[str, object] = {
            **self._base(s),
            "membrane_poisson_ratio": result.poisson_ratio,
            "grid_points": n,
            "grid_spacing_um": hmap.spacing_um,
            "contact_fraction": result.contact_fraction,
            "contact_area_um2" if top.dim == 3 else "contact_length_um": result.contact_fraction * extent,
            "n_touching_particles": int(result.touching.size),
            "penetration_um": result.intrusion_depth_um,
            "approach_um": result.approach_um,
            "intrusion_depth_um": depth,
            "max_contact_slope": result.max_contact_slope,
            "within_small_slopes": result.within_small_slopes,
            "contact_radius_um": top.contact_radius_um,
        }
        return self._outcome(top, depth, stats)


class Creep(ContactModel):
    """Washburn flow of the membrane into the pore throats during the rest under pressure."""

    name = "creep"
    forms_depth = True
    uses_modulus = False  # the flow is viscous

    def words(self, s: ContactSettings, contact_radius_um: float) -> str:
        """Pressure, rest time and temperature."""
        return (
            f"membrane creep at {s.stack_pressure_MPa:g} MPa for {s.rest_time_s / 3600.0:g} h at "
            f"{s.rest_temperature_K - 273.15:g} °C"
        )

    def resolve(self, top: TopLayer, s: ContactSettings) -> ContactOutcome:
        """The intrusion depth after the rest; capped at ``L_c`` (the filled limit)."""
        pressure = _positive("contact.stack_pressure_MPa", s.stack_pressure_MPa)
        temperature = _positive("contact.rest_temperature_C (in K)", s.rest_temperature_K)
        if s.viscosity_Pa_s is None:
            raise GeometryError("contact.model = 'creep' needs the membrane's viscosity law (none was given)")
        time_s = float(s.rest_time_s)
        if not math.isfinite(time_s) or time_s < 0.0:
            raise GeometryError(f"contact.rest_time_h = {time_s / 3600.0!r}: must be a finite number >= 0")
        porosity = float(1.0 - top.solid_fraction)
        throat = bed_throat_radius_um(porosity, 2.0 * top.radius_mean_um, top.dim)
        tau = bruggeman_tortuosity(porosity)
        cap_MPa = 2.0 * s.surface_tension_N_m * math.cos(math.radians(s.contact_angle_deg)) / (throat * 1e-6) * 1e-6
        drive_MPa = pressure + cap_MPa
        eta = float(s.viscosity_Pa_s(temperature))  # reported; intrusion_depth_um evaluates it per stage
        depth = intrusion_depth_um([CreepStage(time_s, temperature, drive_MPa * 1e6)], s.viscosity_Pa_s, throat, tau)
        lc = top.cathode_thickness_um
        stats: dict[str, object] = {
            **self._base(s),
            "rest_time_h": time_s / 3600.0,
            "rest_temperature_C": temperature - 273.15,
            "viscosity_Pa_s": eta,
            "viscosity_law": s.viscosity_note,
            "surface_tension_N_m": s.surface_tension_N_m,
            "contact_angle_deg": s.contact_angle_deg,
            "porosity": porosity,
            "throat_radius_um": throat,
            "tortuosity": tau,
            "capillary_pressure_MPa": cap_MPa,
            "driving_pressure_MPa": drive_MPa,
            "intrusion_depth_um": depth,
            "reaches_collector": depth >= lc,
            "contact_radius_um": top.contact_radius_um,
        }
        return self._outcome(top, min(depth, lc), stats)


#: The contact models, by ``contact.model``.
CONTACT_MODELS: dict[str, ContactModel] = {m.name: m for m in (Fixed(), Hertz(), Elastic(), Creep())}
#: The values of ``contact.model``.
CONTACT_MODEL_NAMES: tuple[str, ...] = tuple(CONTACT_MODELS)


def misfit(model: ContactModel, archetype: Archetype) -> str | None:
    """Why ``model`` does not apply to ``archetype`` (the message, naming the keys), or None where it does.

    The config refuses the pair with this message before any packing, :func:`describe` for direct callers.
    """
    if model.needs_spots and not archetype.has_spots:
        where = f"geometry.interface = {archetype.name!r}" if archetype.has_particles else "geometry.kind = 'planar'"
        return (
            f"contact.model = {model.name!r}: applies to a membrane pressed on a dry cathode (geometry.interface = "
            f"'point-contact'), not to {where}; remove [contact] or set contact.model = 'fixed'"
        )
    if model.forms_depth and archetype.intruded is None:
        return (
            f"contact.model = {model.name!r} decides how deep the membrane enters the pores; use geometry.interface "
            f"= 'point-contact' (not {archetype.name!r} with geometry.infiltration_depth_um)"
        )
    return None


def resolve_contact(top: TopLayer, s: ContactSettings) -> ContactOutcome:
    """Decide the contact of the membrane with ``top`` by the model ``s.model``."""
    return s.contact_model.resolve(top, s)
