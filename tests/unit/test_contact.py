"""Hertz contact radius: the formula on a hand-computed case, refusal outside Hertz's range."""

from __future__ import annotations

import math

import pytest

from microsim.errors import GeometryError
from microsim.geometry.contact import effective_modulus_MPa, hertz_contact_radius_um


def test_hertz_hand_computed_case():
    # E_SPE = 100 MPa, P = 0.1 MPa, R = 0.5 µm (docs/parameters.md §4.1 range). By hand:
    # 1/E* = 0.9375/125.7e9 + 0.7975/100e6 = 7.9825e-9 /Pa; F = 0.1e6 * (1e-6)^2 = 1e-7 N;
    # a = (3 * 1e-7 * 0.5e-6 / (4 * 1.25274e8))^(1/3) = 6.69e-8 m.
    e_star = 1.0 / (0.9375 / 125.7e9 + 0.7975 / 100e6)
    assert effective_modulus_MPa(100.0) * 1e6 == pytest.approx(e_star, rel=1e-12)
    a = hertz_contact_radius_um(0.1, 0.5, 100.0)
    assert a == pytest.approx((3.0 * 1e-7 * 0.5e-6 / (4.0 * e_star)) ** (1.0 / 3.0) * 1e6, rel=1e-12)
    assert a == pytest.approx(0.0669, abs=5e-4)


def test_hertz_scaling_with_pressure():
    a1 = hertz_contact_radius_um(0.01, 0.5, 100.0)
    a2 = hertz_contact_radius_um(0.08, 0.5, 100.0)
    assert a2 / a1 == pytest.approx(2.0, rel=1e-9)  # a ∝ F^(1/3)


def test_hertz_refused_outside_range():
    # Default soft SPE (3 MPa) at 0.5 MPa: a ≈ 0.74 R.
    with pytest.raises(
        GeometryError, match=r"contact\.stack_pressure_MPa = 0\.5.*outside Hertz.s range.*contact\.model = .elastic."
    ):
        hertz_contact_radius_um(0.5, 0.5, 3.0)
    with pytest.raises(GeometryError, match=r"must be > 0"):
        hertz_contact_radius_um(0.0, 0.5)
    assert math.isfinite(hertz_contact_radius_um(1e-4, 0.5, 3.0))
