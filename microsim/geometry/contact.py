"""Hertz contact of a LiFePO4 sphere pressed into the flat electrolyte membrane (docs/parameters.md §4.1).

``a = (3 F R / (4 E*))^(1/3)`` with ``1/E* = (1 - ν1²)/E1 + (1 - ν2²)/E2``; valid for ``a ≲ 0.3 R``.

Force per particle: ``F = P (2R)²`` (docs/parameters.md §4.1 [E]: a monolayer in square packing carries the stack
pressure P on a (2R)² tile each). Chosen over "P x the particle's share of the area" because it is local and
does not depend on which neighbours happen to reach the membrane; the force balance it implies (Σ F vs P W²) is
reported by the caller where it matters.

Outside Hertz's range (``a > 0.3 R``) the contact radius is **refused** (GeometryError naming the field and
value), not warned about: a soft SPE then conforms to the particle and a Hertz spot would be a wrong geometry.
"""

from __future__ import annotations

import math

from microsim.errors import GeometryError

__all__ = [
    "E_LFP_MPA",
    "HERTZ_MAX_A_OVER_R",
    "NU_LFP",
    "NU_SPE",
    "effective_modulus_MPa",
    "hertz_contact_radius_um",
]

E_LFP_MPA = 125.7e3  # Young's modulus of LiFePO4, MPa (docs/parameters.md §7.4)
NU_LFP = 0.25
NU_SPE = 0.45  # [E]
HERTZ_MAX_A_OVER_R = 0.3


def effective_modulus_MPa(
    membrane_modulus_MPa: float,
    *,
    e_particle_MPa: float = E_LFP_MPA,
    nu_particle: float = NU_LFP,
    nu_membrane: float = NU_SPE,
) -> float:
    """E* from ``1/E* = (1 - ν1²)/E1 + (1 - ν2²)/E2`` (MPa)."""
    return 1.0 / ((1.0 - nu_particle**2) / e_particle_MPa + (1.0 - nu_membrane**2) / membrane_modulus_MPa)


def hertz_contact_radius_um(
    pressure_MPa: float,
    radius_um: float,
    membrane_modulus_MPa: float = 3.0,
    *,
    nu_membrane: float = NU_SPE,
    field: str = "contact.stack_pressure_MPa",
    max_a_over_r: float = HERTZ_MAX_A_OVER_R,
) -> float:
    """Contact-spot radius of a sphere of radius R under the stack pressure P (µm).

    Args:
        pressure_MPa: Stack pressure P (> 0).
        radius_um: Particle radius R.
        membrane_modulus_MPa: Young's modulus of the SPE (default 3 MPa, docs/parameters.md §7.4).
        nu_membrane: Poisson's ratio of the SPE.
        field: Config key named in errors.
        max_a_over_r: Validity limit of Hertz.

    Returns:
        a in µm.

    Raises:
        GeometryError: ``P <= 0`` or ``a > 0.3 R`` ("outside Hertz's range").
    """
    if not pressure_MPa > 0.0:
        raise GeometryError(f"{field} = {pressure_MPa!r}: must be > 0")
    r_m = radius_um * 1e-6
    force_n = pressure_MPa * 1e6 * (2.0 * r_m) ** 2
    e_star_pa = effective_modulus_MPa(membrane_modulus_MPa, nu_membrane=nu_membrane) * 1e6
    a_um = (3.0 * force_n * r_m / (4.0 * e_star_pa)) ** (1.0 / 3.0) * 1e6
    if a_um > max_a_over_r * radius_um:
        raise GeometryError(
            f"{field} = {pressure_MPa:g}: the Hertz contact radius a = {a_um:.4g} µm of a particle of radius "
            f"{radius_um:.4g} µm is {a_um / radius_um:.3g} R > {max_a_over_r:g} R: outside Hertz's range (with "
            f"contact.membrane_modulus_MPa = {membrane_modulus_MPa:g}); use contact.model = 'elastic' (valid for "
            "any contact size) or lower the pressure"
        )
    if not math.isfinite(a_um):
        raise GeometryError(f"{field} = {pressure_MPa!r}: contact radius not finite")
    return a_um
