"""Washburn–Poiseuille creep of the membrane into the pores (microsim.geometry.creep)."""

from __future__ import annotations

import math

import pytest
from scipy.integrate import solve_ivp

from microsim.errors import GeometryError
from microsim.geometry.creep import CreepStage, bed_throat_radius_um, bruggeman_tortuosity, intrusion_depth_um


def _arrhenius(eta_ref: float = 1e5, ea: float = 40e3, t_ref: float = 353.15):
    return lambda temp: eta_ref * math.exp(ea / 8.314462618 * (1.0 / temp - 1.0 / t_ref))


def test_single_pore_against_poiseuille_flow() -> None:
    """The depth solves dℓ/dt = r² Δp / (8 η ℓ), integrated numerically (independent of the closed form)."""
    r, dp, eta, t_end = 0.2e-6, 1e6, 1e5, 3600.0
    sol = solve_ivp(lambda t, y: [r * r * dp / (8 * eta * y[0])], (0.0, t_end), [1e-12], rtol=1e-10, atol=1e-16)
    depth = intrusion_depth_um([CreepStage(t_end, 300.0, dp)], lambda _t: eta, r * 1e6)
    assert depth == pytest.approx(sol.y[0, -1] * 1e6, rel=1e-6)
    assert depth == pytest.approx(math.sqrt(r * r * dp * t_end / (4 * eta)) * 1e6, rel=1e-12)


def test_zero_time_is_point_contact_and_depth_grows() -> None:
    visc = _arrhenius()
    base = dict(viscosity_Pa_s=visc, throat_radius_um=0.15, tortuosity=1.5)
    assert intrusion_depth_um([CreepStage(0.0, 303.15, 1e6)], **base) == 0.0
    d = [intrusion_depth_um([CreepStage(t, 303.15, 1e6)], **base) for t in (60.0, 3600.0, 86400.0)]
    assert d[0] < d[1] < d[2]
    assert d[2] / d[1] == pytest.approx(math.sqrt(24.0), rel=1e-12)  # √t
    p = [intrusion_depth_um([CreepStage(3600.0, 303.15, dp)], **base) for dp in (1e5, 1e6)]
    assert p[1] / p[0] == pytest.approx(math.sqrt(10.0), rel=1e-12)  # √Δp
    hot = intrusion_depth_um([CreepStage(3600.0, 323.15, 1e6)], **base)
    assert hot > d[1]  # warmer: less viscous, deeper


def test_stages_add_in_length_squared() -> None:
    visc = _arrhenius()
    one = intrusion_depth_um([CreepStage(7200.0, 330.0, 5e5)], visc, 0.1)
    two = intrusion_depth_um([CreepStage(3600.0, 330.0, 5e5), CreepStage(3600.0, 330.0, 5e5)], visc, 0.1)
    assert two == pytest.approx(one, rel=1e-12)
    mixed = intrusion_depth_um([CreepStage(3600.0, 350.0, 5e5), CreepStage(3600.0, 300.0, 5e5)], visc, 0.1)
    a = intrusion_depth_um([CreepStage(3600.0, 350.0, 5e5)], visc, 0.1)
    b = intrusion_depth_um([CreepStage(3600.0, 300.0, 5e5)], visc, 0.1)
    assert mixed == pytest.approx(math.hypot(a, b), rel=1e-12)


def test_bed_of_spheres() -> None:
    """Kozeny: r = 2 ε d / (6 (1 − ε)); Bruggeman τ = ε^(−1/2)."""
    assert bed_throat_radius_um(0.4, 1.0) == pytest.approx(2 * 0.4 / (6 * 0.6))
    assert bruggeman_tortuosity(0.25) == pytest.approx(2.0)
    with pytest.raises(GeometryError, match="porosity"):
        bed_throat_radius_um(1.0, 1.0)


@pytest.mark.parametrize(
    ("stage", "match"),
    [
        (CreepStage(-1.0, 300.0, 1e6), "duration"),
        (CreepStage(10.0, 0.0, 1e6), "temperature"),
        (CreepStage(10.0, 300.0, float("nan")), "pressure"),
        (CreepStage(10.0, 300.0, 0.0), "pressure"),
    ],
)
def test_bad_stages(stage: CreepStage, match: str) -> None:
    with pytest.raises(GeometryError, match=match):
        intrusion_depth_um([stage], _arrhenius(), 0.1)
    with pytest.raises(GeometryError, match="viscosity"):
        intrusion_depth_um([CreepStage(10.0, 300.0, 1e6)], lambda _t: -1.0, 0.1)
    with pytest.raises(GeometryError, match="tortuosity"):
        intrusion_depth_um([CreepStage(10.0, 300.0, 1e6)], _arrhenius(), 0.1, 0.5)
