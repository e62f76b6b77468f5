"""``[contact]``: how the membrane's contact with a dry cathode forms (pressure, stiffness, rest time, temperature).

Applies to ``geometry.interface = 'point-contact'`` (the conventional cell); docs/model.md §1.4 gives the models.
:func:`contact_settings` turns the section, the rest temperature and the membrane's named flow parameters into
the geometry stage's :class:`~microsim.geometry.formation.ContactSettings`, once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from microsim.config.fields import Section, spec
from microsim.constants import ZERO_CELSIUS, kelvin
from microsim.errors import ConfigError
from microsim.geometry.formation import CONTACT_MODEL_NAMES, CONTACT_MODELS, ContactSettings, misfit

if TYPE_CHECKING:
    from microsim.config.core import Config

__all__ = [
    "CONTACT_MODEL_NAMES",
    "MAX_GRID_POINTS",
    "MAX_STACK_PRESSURE_MPA",
    "MOVED_FROM_GEOMETRY",
    "ContactConfig",
    "check_against_geometry",
    "contact_settings",
]

#: Largest height-map grid per side (a 3D solve of 1024² points takes minutes; far beyond what a spot needs).
MAX_GRID_POINTS = 2048
#: Upper bound of the stack pressure: far above a coin cell's ~1 MPa and a polymer's flow stress (~5 MPa).
MAX_STACK_PRESSURE_MPA = 100.0
#: Largest rest: a month.
MAX_REST_TIME_H = 24.0 * 31.0
#: Keys that lived in ``[geometry]`` before the section existed (their new home, for the message).
MOVED_FROM_GEOMETRY = {
    "stack_pressure_MPa": "contact.stack_pressure_MPa (with contact.model = 'hertz')",
    "membrane_modulus_MPa": "contact.membrane_modulus_MPa",
}


@dataclass(frozen=True)
class ContactConfig(Section):
    """``[contact]``: the contact model and the cell's making."""

    SECTION: ClassVar[str] = "contact"

    model: str = spec(
        "fixed",
        choices=CONTACT_MODEL_NAMES,
        doc=(
            "fixed: spots of geometry.contact_radius_um; hertz: spot radius from the stack pressure (a <= 0.3 R); "
            "elastic: conformal contact of an elastic membrane (boundary elements); creep: viscous flow into the "
            "pores during the rest"
        ),
    )
    stack_pressure_MPa: float | None = spec(
        None, kind=float, low=0.0, high=MAX_STACK_PRESSURE_MPA, high_open=False, unit="MPa",
        doc="mean pressure on the membrane (hertz, elastic, creep; recorded but unused by fixed)",
        unset="required by hertz, elastic and creep",
    )  # fmt: skip
    membrane_modulus_MPa: float = spec(
        3.0, low=0.0, high=1.0e5, unit="MPa", doc="Young's modulus of the membrane (hertz, elastic)"
    )
    membrane_poisson_ratio: float = spec(
        0.45, low=0.0, high=0.5, low_open=False, unit="1", doc="Poisson's ratio of the membrane (hertz, elastic)"
    )
    grid_points: int | None = spec(
        None, kind=int, low=8, high=MAX_GRID_POINTS, low_open=False, high_open=False, unit="1",
        doc="elastic: height-map points per side", unset="8 per mean particle radius",
    )  # fmt: skip
    rest_time_h: float = spec(
        12.0, low=0.0, high=MAX_REST_TIME_H, low_open=False, high_open=False, unit="h",
        doc="creep: time under the stack pressure before the test",
    )  # fmt: skip
    rest_temperature_C: float | None = spec(
        None, kind=float, low=-ZERO_CELSIUS, high=200.0, high_open=False, unit="°C",
        doc="creep: temperature of the rest", unset="conditions.temperature_C",
    )  # fmt: skip

    def _cross_check(self) -> None:
        model = CONTACT_MODELS[self.model]
        if model.needs_pressure and self.stack_pressure_MPa is None:
            raise ConfigError(
                f"contact.stack_pressure_MPa is not set: required by contact.model = {self.model!r} (a coin cell "
                "presses with about 0.5-1 MPa)"
            )


def check_against_geometry(cfg: Config) -> None:
    """The contact model against the interface (before any packing or MPI collective work)."""
    from microsim.geometry.archetypes import archetype_for

    problem = misfit(CONTACT_MODELS[cfg.contact.model], archetype_for(cfg.geometry.kind, cfg.geometry.interface))
    if problem is not None:
        raise ConfigError(problem)


def contact_settings(cfg: Config) -> ContactSettings:
    """The geometry stage's contact settings: ``[contact]``, the rest temperature and the membrane's flow law."""
    from microsim.parameters import ELECTROLYTES, resolve
    from microsim.parameters.membrane import ViscosityLaw

    c = cfg.contact
    rest_C = c.rest_temperature_C if c.rest_temperature_C is not None else cfg.conditions.temperature_C
    settings = ContactSettings(
        model=c.model,
        stack_pressure_MPa=c.stack_pressure_MPa,
        membrane_modulus_MPa=c.membrane_modulus_MPa,
        membrane_poisson_ratio=c.membrane_poisson_ratio,
        grid_points=c.grid_points,
        rest_time_s=c.rest_time_h * 3600.0,
        rest_temperature_K=kelvin(rest_C),
    )
    if c.model != "creep":  # only creep needs the membrane's flow; the others keep the defaults
        return settings
    m = resolve(cfg).membrane
    law = ViscosityLaw(ELECTROLYTES[cfg.electrolyte.name], m.viscosity_ref_Pa_s, m.crystalline_viscosity_factor)
    jump = f" x {m.crystalline_viscosity_factor:g} below the transition" if law.transition_K is not None else ""
    return dataclasses.replace(
        settings,
        viscosity_Pa_s=law,
        viscosity_note=f"{cfg.electrolyte.name}: {m.viscosity_ref_Pa_s:.3g} Pa s at 50 °C (amorphous) x "
        f"sigma(50 °C)/sigma(T){jump}",
        surface_tension_N_m=m.surface_tension_N_m,
        contact_angle_deg=m.contact_angle_deg,
    )
