"""The mesh-resolution estimates (microsim.studies.resolution): layer depths, frequencies, spot error bounds."""

from __future__ import annotations

import math

import pytest

from microsim.constants import FARADAY, GAS_CONSTANT
from microsim.studies import resolution


def test_a_diffusion_layer_is_sqrt_d_t_against_the_element_size() -> None:
    """√(D t) in µm, elements across it, and the h that resolves it (a wrong √, unit or factor 3 fails)."""
    out = resolution.diffusion_layer("salt-diffusion", 1e-14, 100.0, 0.1, "geometry.interface_mesh_size_um")
    assert out["layer_um"] == pytest.approx(1.0, rel=1e-12)
    assert out["elements_across_layer"] == pytest.approx(10.0, rel=1e-12)
    assert out["resolved"] is True and "note" not in out
    thin = resolution.diffusion_layer("solid-diffusion", 1e-18, 3600.0, 0.25, "geometry.interface_mesh_size_um")
    assert thin["layer_um"] == pytest.approx(0.06, rel=1e-12) and thin["resolved"] is False
    assert "geometry.interface_mesh_size_um <= 0.02 " in thin["note"] and "0.06 µm spans 0.24 elements" in thin["note"]
    # a layer deeper than the particle fills it: nothing to resolve, however coarse the mesh
    assert resolution.diffusion_layer("solid-diffusion", 1e-18, 3600.0, 0.25, "k", depth_um=0.05)["resolved"]


def test_the_frequency_limit_is_where_the_layer_spans_three_elements() -> None:
    """√(D / 2πf) at the reported frequency is exactly 3 h; resolved only when the sweep stays below it."""
    d, h = 5e-14, 0.1
    out = resolution.frequency_layer("salt diffusion", d, h, 1e6)
    f = out["resolved_up_to_Hz"]
    assert math.sqrt(d / (2.0 * math.pi * f)) * 1e6 == pytest.approx(resolution.LAYER_ELEMENTS * h, rel=1e-12)
    assert out["resolved"] is False and f"above {f:.3g} Hz" in out["note"]
    assert resolution.frequency_layer("salt diffusion", d, h, 0.5 * f)["resolved"] is True


def _info(dim: int, a_um: float, level: float) -> dict[str, object]:
    size = 2.0 * a_um if dim == 2 else math.pi * a_um**2  # 2D chord length, 3D spot area
    return {"chord_lengths_um": [size, 4.0 * size], "chord_mesh_size_um": 0.1 * a_um * level}


def test_the_spot_bound_follows_the_holm_study_and_the_wagner_number() -> None:
    """Wa = κ (RT/F i0) / a; the bound is 0.08 s at Wa → 0 and falls as 1/(1 + 4 Wa/π); the smallest spot counts."""
    t, kappa, a = 303.15, 0.05, 0.1
    i0 = GAS_CONSTANT * t / FARADAY * kappa / (a * 1e-6)  # Wa = 1
    spots = resolution.contact_spots(_info(3, a, 1.0), 3, 1.0, kappa, i0, t)
    assert spots is not None
    assert spots["spot_radius_um"] == pytest.approx(a, rel=1e-12) and spots["wagner_number"] == pytest.approx(1.0)
    assert spots["elements_across_spot"] == pytest.approx(20.0, rel=1e-12)
    assert spots["series_resistance_error_bound"] == pytest.approx(0.08 / (1.0 + 4.0 / math.pi), rel=1e-12)
    assert spots["resolved"] is True
    # an equipotential spot (fast kinetics) at level 1: 8 % low, flagged, and the level it names gives 2 %
    fast = resolution.contact_spots(_info(3, a, 1.0), 3, 1.0, kappa, 1e6 * i0, t)
    assert fast is not None and fast["series_resistance_error_bound"] == pytest.approx(0.08, rel=1e-5)
    assert fast["resolved"] is False
    level = float(fast["note"].split("spot_mesh_level <= ")[1].split(" ")[0])
    finer = resolution.contact_spots(_info(3, a, level), 3, level, kappa, 1e6 * i0, t)
    assert finer is not None and finer["series_resistance_error_bound"] == pytest.approx(0.02, rel=0.01)


def test_two_d_spots_and_no_spots() -> None:
    """2D: half the chord is the radius and no Holm bound (not measured in 2D); no chords: no block."""
    spots = resolution.contact_spots(_info(2, 0.1, 1.0), 2, 1.0, 0.05, 0.1, 303.15)
    assert spots is not None and spots["spot_radius_um"] == pytest.approx(0.1, rel=1e-12)
    assert "series_resistance_error_bound" not in spots and spots["resolved"] is True
    assert resolution.contact_spots({"chord_lengths_um": [], "chord_mesh_size_um": None}, 3, 1.0, 1, 1, 300) is None


def test_a_block_is_resolved_only_when_every_check_is() -> None:
    """all_resolved looks at the dict entries only (numbers such as fastest_c_rate are not checks)."""
    assert resolution.all_resolved({"fastest_c_rate": 2.0, "a": {"resolved": True}})
    assert not resolution.all_resolved({"a": {"resolved": True}, "b": {"resolved": False}})
