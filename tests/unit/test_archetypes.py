"""Archetype descriptions: point-contact growth, errors, filled clearance, planar, dead clusters, stats."""

from __future__ import annotations

import json
import math
import types

import numpy as np
import pytest

from microsim.errors import ConfigError, GeometryError
from microsim.geometry.archetypes import CONTACT_TOLERANCE_RADII, describe
from microsim.geometry.packing import Particles, write_particles_csv

LC = 11.2


def make_geo(**overrides):
    """Stand-in for the frozen geometry config (exactly its attributes)."""
    values = dict(
        kind="packing",
        dim=2,
        interface="filled",
        width_um=10.0,
        cathode_thickness_um=LC,
        membrane_thickness_um=9.5,
        active_fraction=0.45,
        radius_mean_um=0.5,
        radius_std_um=0.15,
        contact_radius_um=0.1,
        particles_file="",
        seed=0,
        mesh_size_um=0.2,
        interface_mesh_size_um=None,
        overlap_fraction=0.05,
        min_gap_fraction=0.1,
        infiltration_depth_um=0.0,
        spot_mesh_level=1.0,
        pore_fill_fraction=1.0,
    )
    values.update(overrides)
    return types.SimpleNamespace(**values)


def file_geo(tmp_path, centers, radii, **overrides):
    path = tmp_path / "particles.csv"
    write_particles_csv(path, Particles(np.asarray(centers, float), np.asarray(radii, float)))
    return make_geo(kind="particles-file", particles_file=str(path), **overrides)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_point_contact_chords_have_half_width_a(seed):
    a = 0.1
    desc = describe(make_geo(interface="point-contact", seed=seed, contact_radius_um=a))
    reach = desc.reaches_membrane
    assert reach.any()
    z, r = desc.centers[:, 1], desc.radii
    # Chord half-width on z = L_c is exactly a; centres were not moved, radii only grew.
    assert np.allclose(np.sqrt(r[reach] ** 2 - (LC - z[reach]) ** 2), a, rtol=0, atol=1e-12)
    assert np.all(r >= desc.original_radii)
    assert np.array_equal(r[~reach], desc.original_radii[~reach])
    # Non-contacting particles stay under the plane; no particle of a dead cluster remains.
    assert np.all(z[~reach] + r[~reach] < LC)
    assert desc.dead_removed or not desc.dead_particle_ids
    s = desc.stats()
    assert s["interface_length_um"] == pytest.approx(2 * a * s["n_contact_spots"], rel=1e-9)
    assert s["contact_area_fraction"] == pytest.approx(s["interface_length_um"] / 10.0)
    tol = CONTACT_TOLERANCE_RADII * 0.5
    blocked = np.isin(desc.particle_ids, desc.blocked_contact_ids)
    # Every particle within the tolerance either touches or is reported as blocked.
    near = desc.original_radii + z >= LC - tol
    assert np.all(reach | blocked | ~near)


def test_point_contact_no_particle_reaches(tmp_path):
    geo = file_geo(tmp_path, [[2.0, 0.475], [5.0, 1.6]], [0.5, 0.5], interface="point-contact")
    with pytest.raises(
        GeometryError,
        match=r"no particle reaches the membrane plane z = L_c .*highest particle top at 2\.1.*try another packing "
        r"\(this one is geometry\.seed = .*geometry\.width_um.*geometry\.cathode_thickness_um",
    ):
        describe(geo)


def test_point_contact_contact_radius_larger_than_particle(tmp_path):
    # A column of two touching particles whose top reaches L_c - 0.05; a = 0.6 > r = 0.5.
    z0 = 0.475
    z1 = LC - 0.05 - 0.5
    geo = file_geo(
        tmp_path,
        [[3.0, z0], [3.0, z1]],
        [0.5, 0.5],
        interface="point-contact",
        contact_radius_um=0.6,
    )
    with pytest.raises(GeometryError, match="not smaller than the radius"):
        describe(geo)


def test_point_contact_growth_is_idempotent(tmp_path):
    desc = describe(make_geo(interface="point-contact", seed=1))
    geo = file_geo(tmp_path, desc.centers, desc.radii, interface="point-contact")
    again = describe(geo)
    assert np.allclose(again.radii, desc.radii, rtol=0, atol=1e-12)
    assert np.array_equal(again.reaches_membrane, desc.reaches_membrane)


@pytest.mark.parametrize("seed", [0, 3])
def test_filled_particles_stay_below_membrane_gap(seed):
    desc = describe(make_geo(seed=seed))
    gap = 0.1 * 0.5
    assert desc.n_particles > 30
    assert np.all(desc.centers[:, 1] + desc.radii <= LC - gap + 1e-12)
    assert not desc.reaches_membrane.any()
    s = desc.stats()
    assert abs(s["active_fraction"] - 0.45) <= 0.02
    assert s["target_active_fraction"] == 0.45
    assert s["interface_length_um"] > 0 and s["contact_area_fraction"] is None
    json.dumps(s)  # geometry.json must be serialisable as is


def test_planar_description():
    for dim in (2, 3):
        desc = describe(make_geo(kind="planar", dim=dim))
        assert desc.interface == "planar" and desc.n_particles == 0
        s = desc.stats()
        assert s["active_fraction"] == 1.0
        assert s["interface_area_um2"] == pytest.approx(10.0 if dim == 2 else 100.0)
        assert s["specific_interface_area_m2_m3"] == pytest.approx(1.0 / LC * 1e6)
        json.dumps(s)


def test_dead_clusters_kept_in_filled_removed_in_point_contact(tmp_path):
    # Particles 0-1: a column on the collector; 2: floating (dead).
    centers = [[2.0, 0.475], [2.0, 0.475 + 0.95], [6.0, 5.0]]
    filled = describe(file_geo(tmp_path, centers, [0.5] * 3))
    assert filled.dead_particle_ids == (2,) and not filled.dead_removed and filled.n_particles == 3
    assert filled.stats()["particles_not_connected_to_collector"] == [2]
    # A column of 10 touching particles plus a bigger top one reaching L_c - 0.08; a floating particle in the
    # middle, and a floating one near the top (it would touch the membrane, but it is dead).
    column = [[2.0, 0.475 + k * 0.95] for k in range(10)]
    r_top = (LC - 0.08 - 9.5) / 1.95
    column.append([2.0, column[-1][1] + 0.95 * (0.5 + r_top)])
    radii = [0.5] * 10 + [r_top, 0.5, 0.5]
    geo = file_geo(tmp_path, [*column, [6.0, 5.0], [8.0, LC - 0.08 - 0.5]], radii, interface="point-contact")
    pc = describe(geo)
    assert pc.dead_particle_ids == (11, 12) and pc.dead_removed
    assert pc.n_particles == 11 and pc.reaches_membrane.sum() == 1 and pc.reaches_membrane[-1]
    s = pc.stats()
    assert s["n_particles_not_connected_to_collector"] == 2
    assert s["particles_not_connected_to_collector"] == [11, 12]
    assert s["n_contact_spots"] == 1


def test_file_breaking_the_gap_rule_is_refused(tmp_path):
    geo = file_geo(tmp_path, [[2.0, 0.475], [3.01, 0.475]], [0.5, 0.5])
    with pytest.raises(GeometryError, match="near-tangent"):
        describe(geo)


def test_stats_keys_and_particles_list():
    desc = describe(make_geo(interface="point-contact", seed=2))
    s = desc.stats()
    for key in (
        "n_particles",
        "active_fraction",
        "target_active_fraction",
        "interface_length_um",
        "interface_area_um2",
        "specific_interface_area_m2_m3",
        "contact_area_fraction",
        "n_particles_not_connected_to_collector",
        "particles_not_connected_to_collector",
        "n_contact_spots",
        "particles",
        "seed",
    ):
        assert key in s
    assert len(s["particles"]) == s["n_particles"]
    assert set(s["particles"][0]) == {"x_um", "y_um", "r_um"}
    assert s["interface_area_um2"] == pytest.approx(s["interface_length_um"])
    assert s["specific_interface_area_m2_m3"] == pytest.approx(s["interface_length_um"] / (10.0 * LC) * 1e6)
    assert math.isfinite(s["active_fraction"])


def test_bad_kind_and_interface():
    with pytest.raises(GeometryError, match=r"geometry\.kind"):
        describe(make_geo(kind="spheres"))
    with pytest.raises(GeometryError, match=r"geometry\.interface"):
        describe(make_geo(interface="partial"))


# ---- particles-file checks (2D; the 3D ones are in test_packing3d.py) ---------------------------------------
def test_file_pair_overlapping_too_much_is_refused(tmp_path):
    # d = 0.8 (r_i + r_j) < (1 - 2 x 0.05)(r_i + r_j): interpenetration, not a neck.
    geo = file_geo(tmp_path, [[3.0, 2.0], [3.8, 2.0]], [0.5, 0.5])
    with pytest.raises(GeometryError, match=r"particles\.csv: particles 0 and 1 overlap too much.*overlap 0\.2"):
        describe(geo)


def test_file_particle_deep_in_collector_is_refused(tmp_path):
    geo = file_geo(tmp_path, [[3.0, 0.2]], [0.5])
    with pytest.raises(GeometryError, match=r"particles\.csv: particle 0 crosses the collector"):
        describe(geo)


def test_file_particle_crossing_the_top_is_refused(tmp_path):
    geo = file_geo(tmp_path, [[3.0, 0.475], [3.0, LC - 0.3]], [0.5, 0.5])
    with pytest.raises(GeometryError, match="particle 1 top"):
        describe(geo)


def test_file_contact_radius_larger_than_particle_is_refused(tmp_path):
    geo = file_geo(tmp_path, [[3.0, LC - 0.45]], [0.5], interface="point-contact", contact_radius_um=0.8)
    with pytest.raises(GeometryError, match="contact_radius_um"):
        describe(geo)


def test_a_particle_file_is_checked_against_its_own_radii(tmp_path):
    """A spot larger than radius_mean_um is fine for a file of large particles (issue 18).

    The config no longer compares it with the packing's mean radius; the particles that reach the membrane decide.
    """
    from microsim import config

    path = tmp_path / "big.csv"
    # a column of two 2.86 µm particles: one cutting the collector by 0.1 µm, one reaching L_c - 0.05, overlapping
    # each other by 0.2 µm
    r = (LC + 0.05 + 0.2) / 4.0
    z0 = r - 0.1
    write_particles_csv(path, Particles(np.array([[5.0, z0], [5.0, z0 + 2 * r - 0.2]]), np.array([r, r])))
    cfg = config.replace(
        config.default(),
        **{
            "geometry.kind": "particles-file",
            "geometry.particles_file": str(path),
            "geometry.interface": "point-contact",
            "geometry.contact_radius_um": 0.6,  # > radius_mean_um = 0.5, < the file's 2 µm
        },
    )
    desc = describe(cfg.geometry, config.contact_settings(cfg))
    assert desc.reaches_membrane.tolist() == [False, True]
    with pytest.raises(ConfigError, match=r"contact_radius_um = 0\.6: must be < geometry\.radius_mean_um"):
        config.replace(config.default(), **{"geometry.interface": "point-contact", "geometry.contact_radius_um": 0.6})
