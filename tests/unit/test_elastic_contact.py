"""Elastic contact of the membrane with the packing (microsim.geometry.elastic_contact): classical solutions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from microsim.errors import GeometryError
from microsim.geometry.elastic_contact import HeightMap, solve_elastic_contact, top_height_map

E_MPA, NU = 3.0, 0.45
E_STAR = E_MPA / (1.0 - NU**2)


def _one_particle(dim: int, n: int, width: float = 8.0, radius: float = 1.0) -> HeightMap:
    center = np.full((1, dim), width / 2.0)
    center[0, -1] = 1.5  # the summit at z = 2.5 µm
    return top_height_map(center, np.array([radius]), width, n)


def test_hertz_sphere() -> None:
    """A sphere (3D cell): a = (3 F R / (4 E*))^(1/3); the cap under the patch has the Hertz depth a²/(2R)."""
    width, radius, a_hertz = 8.0, 1.0, 0.2
    force = 4.0 * E_STAR * a_hertz**3 / (3.0 * radius)
    res = solve_elastic_contact(_one_particle(3, 256, width, radius), force / width**2, E_MPA, NU)
    assert res.touching.tolist() == [0]
    # measured 1.3 % above Hertz: the patch is counted in grid cells (its edge is a staircase)
    assert res.patch_radius_um[0] == pytest.approx(a_hertz, rel=0.03)
    # Hertz's peak pressure p0 = 3F/(2πa²) (measured 0.08 % off)
    assert res.pressure_MPa.max() == pytest.approx(3 * force / (2 * math.pi * a_hertz**2), rel=0.01)
    assert res.intrusion_depth_um == pytest.approx(a_hertz**2 / (2 * radius), rel=0.1)
    # Hertz's approach δ = a²/R, seen from the cell's corner, which the half-space lifts by
    # u(r) = [(2a² − r²) asin(a/r) + a √(r² − a²)] / (π R) (Johnson 1985, eq. 3.42; 1.3 % off at 256²)
    r = width / math.sqrt(2.0)
    lift = ((2 * a_hertz**2 - r * r) * math.asin(a_hertz / r) + a_hertz * math.sqrt(r * r - a_hertz**2)) / (
        math.pi * radius
    )
    assert res.approach_um == pytest.approx(a_hertz**2 / radius - lift, rel=0.03)
    assert res.contact_fraction == pytest.approx(math.pi * a_hertz**2 / width**2, rel=0.06)
    assert res.within_small_slopes


def test_hertz_cylinder() -> None:
    """A cylinder (2D cell, per unit depth): the half-width b = √(4 F' R / (π E*))."""
    width, radius, b_hertz = 8.0, 1.0, 0.15
    force = math.pi * E_STAR * b_hertz**2 / (4.0 * radius)
    res = solve_elastic_contact(_one_particle(2, 8192, width, radius), force / width, E_MPA, NU)
    assert res.patch_radius_um[0] == pytest.approx(b_hertz, rel=0.01)


def test_hertz_converges_with_the_grid() -> None:
    """The contact radius from the peak pressure, a = √(3F/(2π p0)), converges to Hertz's as the grid is refined.

    Measured errors 3.3, 1.9, 1.1, 0.40 % at 64, 96, 128, 192 points per side (8 µm cell, a = 0.2 µm). The
    patch area counted in grid cells converges too, but not monotonically (its staircase edge).
    """
    width, radius, a_hertz = 8.0, 1.0, 0.2
    force = 4.0 * E_STAR * a_hertz**3 / (3.0 * radius)
    errors = []
    for n in (64, 96, 128, 192):
        p0 = solve_elastic_contact(_one_particle(3, n), force / width**2, E_MPA, NU).pressure_MPa.max()
        errors.append(abs(math.sqrt(3 * force / (2 * math.pi * p0)) / a_hertz - 1))
    assert errors[0] > errors[1] > errors[2] > errors[3]
    assert errors[3] < 0.006


def _sinusoid(n: int, wavelength: float, amplitude: float) -> HeightMap:
    x = (np.arange(n) + 0.5) * wavelength / n
    h = 5.0 + amplitude * np.cos(2 * math.pi * x / wavelength)
    return HeightMap(h, np.zeros(n, dtype=int), wavelength / n, wavelength)


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_johnson_wavy_surface(ratio: float) -> None:
    """Johnson's wavy contact: sin²(π a / λ) = p / p*, p* = π E* Δ / λ (full contact from p*)."""
    lam, amp = 2.0, 0.05
    p_star = math.pi * E_STAR * amp / lam
    res = solve_elastic_contact(_sinusoid(1024, lam, amp), ratio * p_star, E_MPA, NU)
    fraction = 2.0 * math.asin(math.sqrt(ratio)) / math.pi  # 2a/λ
    assert res.contact_fraction == pytest.approx(fraction, abs=2e-3)


def test_full_contact_above_johnson_pressure() -> None:
    lam, amp = 2.0, 0.05
    p_star = math.pi * E_STAR * amp / lam
    assert solve_elastic_contact(_sinusoid(1024, lam, amp), 1.05 * p_star, E_MPA, NU).contact_fraction == 1.0
    assert solve_elastic_contact(_sinusoid(1024, lam, amp), 0.95 * p_star, E_MPA, NU).contact_fraction < 1.0


def _layer(dim: int) -> tuple[np.ndarray, np.ndarray, float]:
    """A rough top layer: particles of scattered radii and heights."""
    rng = np.random.default_rng(3)
    width = 6.0
    if dim == 2:
        xs = np.arange(0.5, width, 1.0)
        centers = np.column_stack([xs, 9.0 + rng.uniform(-0.3, 0.3, xs.size)])
    else:
        g = np.arange(0.5, width, 1.0)
        X, Y = np.meshgrid(g, g, indexing="ij")
        centers = np.column_stack([X.ravel(), Y.ravel(), 9.0 + rng.uniform(-0.3, 0.3, X.size)])
    radii = rng.uniform(0.45, 0.55, centers.shape[0])
    return centers, radii, width


@pytest.mark.parametrize("dim", [2, 3])
def test_contact_grows_with_pressure_and_falls_with_modulus(dim: int) -> None:
    centers, radii, width = _layer(dim)
    hmap = top_height_map(centers, radii, width, 2048 if dim == 2 else 96)
    fr = [solve_elastic_contact(hmap, p, E_MPA, NU) for p in (0.05, 0.2, 0.8)]
    assert fr[0].contact_fraction < fr[1].contact_fraction < fr[2].contact_fraction
    assert fr[0].touching.size <= fr[1].touching.size <= fr[2].touching.size
    assert fr[0].intrusion_depth_um < fr[1].intrusion_depth_um < fr[2].intrusion_depth_um
    # a soft membrane pressed hard wraps the tops steeply: flagged as outside the small-slope assumption
    assert fr[0].within_small_slopes and not fr[2].within_small_slopes
    stiff = solve_elastic_contact(hmap, 0.2, 10 * E_MPA, NU)
    assert stiff.contact_fraction < fr[1].contact_fraction
    # the patches tile the contact: their sum is the contact area
    total = fr[1].contact_fraction * width ** (dim - 1)
    assert fr[1].patch_um.sum() == pytest.approx(total, rel=1e-12)


def test_bad_input() -> None:
    hmap = _one_particle(3, 64)
    with pytest.raises(GeometryError, match="stack pressure"):
        solve_elastic_contact(hmap, -1.0, E_MPA, NU)
    with pytest.raises(GeometryError, match="modulus"):
        solve_elastic_contact(hmap, 0.1, float("nan"), NU)
    with pytest.raises(GeometryError, match="Poisson"):
        solve_elastic_contact(hmap, 0.1, E_MPA, 0.5)
    with pytest.raises(GeometryError, match="does not resolve"):
        _one_particle(3, 16)
    # two spheres with a wide gap, pressed far beyond full conformity: the membrane reaches the collector
    centers = np.array([[1.0, 1.0], [5.0, 1.0]])
    hmap = top_height_map(centers, np.array([1.0, 1.0]), 8.0, 1024)
    with pytest.raises(GeometryError, match="filled"):
        solve_elastic_contact(hmap, 1000.0, E_MPA, NU)
