"""Creep of the polymer membrane into a dry cathode: how deep it intrudes during assembly and rest.

Under the stack pressure (plus the capillary pressure of a wetting melt) the polymer flows into the pore throats
of the packing's top. Each throat is taken as a cylinder of radius ``r``: Poiseuille flow with the filled length
``ℓ`` as the only resistance gives Washburn's law (Washburn, Phys. Rev. 17 (1921) 273)

    dℓ/dt = r² Δp / (8 η ℓ)   ⇒   ℓ² = ℓ0² + Σ_k r² Δp_k Δt_k / (4 η(T_k))

for a schedule of (time, temperature, pressure) stages; the intrusion depth is ``ℓ / τ`` for a tortuosity ``τ``
of the paths through the packing. The throat radius of a bed of spheres of diameter ``d`` and porosity ``ε`` is
twice the Kozeny hydraulic radius, ``r = 2 ε d / (6 (1 − ε))`` (Carman, Trans. IChemE 15 (1937) 150), and the
tortuosity Bruggeman's ``τ = ε^(−1/2)``. A time of zero gives no intrusion (point contact); when the depth
reaches the cathode thickness the cell is filled.

Plain arithmetic, no NumPy; the viscosity is a function of temperature given by the caller (the polymer's named
parameter set: Arrhenius, with two branches for a polymer with a crystalline-to-amorphous transition).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from microsim.errors import GeometryError

__all__ = ["CreepStage", "bed_throat_radius_um", "bruggeman_tortuosity", "intrusion_depth_um"]


@dataclass(frozen=True)
class CreepStage:
    """One stage of the assembly/rest schedule.

    Attributes:
        duration_s: how long the stage lasts.
        temperature_K: the cell's temperature during it.
        pressure_Pa: the pressure driving the flow (stack pressure plus any capillary pressure).
    """

    duration_s: float
    temperature_K: float
    pressure_Pa: float


def _finite(name: str, value: float, *, positive: bool = True) -> float:
    v = float(value)
    if not math.isfinite(v) or (v <= 0.0 if positive else v < 0.0):
        raise GeometryError(f"{name} = {value!r}: must be a finite number {'> 0' if positive else '>= 0'}")
    return v


def bed_throat_radius_um(porosity: float, particle_diameter_um: float, dim: int = 3) -> float:
    """Throat radius of a bed: twice the hydraulic radius ``ε / S``, µm.

    ``S`` is the particle surface per bed volume: ``6 (1 − ε) / d`` for spheres (3D), ``4 (1 − ε) / d`` for the
    disks of a 2D cell (cylinders), so ``r = 2 ε d / (6 (1 − ε))`` or ``2 ε d / (4 (1 − ε))``.
    """
    eps = _finite("porosity", porosity)
    if eps >= 1.0:
        raise GeometryError(f"porosity = {porosity!r}: must be below 1")
    d = _finite("particle diameter [µm]", particle_diameter_um)
    if dim not in (2, 3):
        raise GeometryError(f"dim = {dim!r}: must be 2 or 3")
    return 2.0 * eps * d / (2.0 * dim * (1.0 - eps))


def bruggeman_tortuosity(porosity: float) -> float:
    """``τ = ε^(−1/2)`` (Bruggeman)."""
    eps = _finite("porosity", porosity)
    return eps**-0.5


def intrusion_depth_um(
    stages: Sequence[CreepStage],
    viscosity_Pa_s: Callable[[float], float],
    throat_radius_um: float,
    tortuosity: float = 1.0,
) -> float:
    """Depth the polymer reaches into the pores after ``stages`` (Washburn–Poiseuille, module docstring), µm.

    Args:
        stages: the schedule, in order.
        viscosity_Pa_s: the polymer's viscosity at a temperature [K].
        throat_radius_um: pore-throat radius ``r``.
        tortuosity: path length per unit depth, ``τ ≥ 1``.

    Raises:
        GeometryError: a negative or non-finite duration, a non-positive temperature, pressure, viscosity or
            radius, or a tortuosity below 1.
    """
    r_m = _finite("throat radius [µm]", throat_radius_um) * 1e-6
    tau = _finite("tortuosity", tortuosity)
    if tau < 1.0:
        raise GeometryError(f"tortuosity = {tortuosity!r}: must be >= 1")
    length2 = 0.0  # ℓ² [m²]
    for k, st in enumerate(stages):
        dt = _finite(f"creep stage {k} duration [s]", st.duration_s, positive=False)
        temp = _finite(f"creep stage {k} temperature [K]", st.temperature_K)
        dp = _finite(f"creep stage {k} pressure [Pa]", st.pressure_Pa)
        eta = _finite(f"viscosity at {temp:g} K [Pa s]", viscosity_Pa_s(temp))
        length2 += r_m * r_m * dp * dt / (4.0 * eta)
    return math.sqrt(length2) / tau * 1e6
