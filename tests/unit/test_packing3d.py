"""3D sphere packings: fraction, determinism, neck/gap rules, collector connectivity, volume and area measures.

0.45 in the narrow default box (W = 4 µm, L_c = 11.2 µm); 0.55 needs a wider box (W = 6 µm): the insulating
side walls keep a loose layer of spheres next to them, and the densest deposit of the narrow box reaches about
0.51 (see microsim.geometry.packing3d).
"""

from __future__ import annotations

import math
import types

import numpy as np
import pytest

from microsim.errors import GeometryError
from microsim.geometry import describe, pack
from microsim.geometry.formation import ContactSettings
from microsim.geometry.packing import Particles, check_gaps, cluster_labels, touches_collector
from microsim.geometry.packing3d import lens_volume, sphere_union_volume

W, LC, R, STD = 4.0, 11.2, 0.5, 0.1
OVERLAP, GAP = 0.05, 0.05


W55, LC55 = 6.0, 6.0


@pytest.fixture(scope="module")
def packing45():
    return pack(3, W, LC, 0.45, R, STD, 1)


@pytest.fixture(scope="module")
def packing55():
    return pack(3, W55, LC55, 0.55, R, STD, 1)


def _rules_and_connectivity(res, width, height):
    p = res.particles
    assert check_gaps(p, width, height, OVERLAP, GAP) == []
    d = np.sqrt(((p.centers[:, None] - p.centers[None]) ** 2).sum(-1))
    rsum = p.radii[:, None] + p.radii[None]
    touching = np.triu(d < rsum, 1)
    rel = d[touching] / rsum[touching]
    assert rel.min() >= 1 - 2 * OVERLAP and rel.max() <= 1 - OVERLAP / 2
    assert abs(np.median(rel) - (1 - OVERLAP)) < 0.1 * OVERLAP
    # Deposition: every sphere stands on the collector or on spheres, so all of them conduct to it.
    labels = cluster_labels(p)
    live = np.unique(labels[touches_collector(p)])
    assert np.isin(labels, live).all()
    # Collector spheres sit at the neck depth.
    floor = touches_collector(p)
    assert np.allclose(p.centers[floor, 2], p.radii[floor] * (1 - OVERLAP))


def test_fraction_055_rules_connectivity(packing55):
    assert abs(packing55.achieved_fraction - 0.55) <= 0.02
    assert 100 <= len(packing55.particles) <= 400
    _rules_and_connectivity(packing55, W55, LC55)


def test_fraction_045_rules_connectivity(packing45):
    _rules_and_connectivity(packing45, W, LC)
    assert packing45.elapsed_s < 30.0


def test_fraction_within_tolerance(packing45):
    p = packing45.particles
    assert p.dim == 3
    assert abs(packing45.achieved_fraction - 0.45) <= 0.02
    # Independent estimate of the fraction: Monte Carlo on the box.
    rng = np.random.default_rng(0)
    pts = rng.random((40000, 3)) * [W, W, LC]
    d2 = ((pts[:, None, :] - p.centers[None, :, :]) ** 2).sum(-1)
    inside = (d2 <= p.radii**2).any(axis=1).mean()
    assert inside == pytest.approx(packing45.achieved_fraction, abs=0.012)


def test_deterministic_by_seed(packing45):
    again = pack(3, W, LC, 0.45, R, STD, 1)
    assert np.array_equal(again.particles.centers, packing45.particles.centers)
    assert np.array_equal(again.particles.radii, packing45.particles.radii)
    other = pack(3, W, LC, 0.45, R, STD, 2)
    assert not np.array_equal(other.particles.radii[:5], packing45.particles.radii[:5]) or not np.array_equal(
        other.particles.centers[:5], packing45.particles.centers[:5]
    )


def test_neck_and_gap_rules(packing45):
    p = packing45.particles
    assert check_gaps(p, W, LC, OVERLAP, GAP) == []
    # Touching pairs sit near the neck distance (1 - overlap)(r_i + r_j), never deeper than (1 - 2 overlap).
    d = np.sqrt(((p.centers[:, None] - p.centers[None]) ** 2).sum(-1))
    rsum = p.radii[:, None] + p.radii[None]
    touching = np.triu(d < rsum, 1)
    assert touching.sum() >= len(p)
    rel = d[touching] / rsum[touching]
    assert rel.min() >= 1 - 2 * OVERLAP and rel.max() <= 1 - OVERLAP / 2
    assert abs(np.median(rel) - (1 - OVERLAP)) < 0.25 * OVERLAP


@pytest.mark.slow  # several 3D packings (10–20 s): run with -m slow
def test_deterministic_by_seed_055(packing55):
    again = pack(3, W55, LC55, 0.55, R, STD, 1)
    assert np.array_equal(again.particles.centers, packing55.particles.centers)
    assert np.array_equal(again.particles.radii, packing55.particles.radii)


def test_collector_connectivity(packing45):
    p = packing45.particles
    labels = cluster_labels(p)
    live = np.unique(labels[touches_collector(p)])
    dead = ~np.isin(labels, live)
    assert touches_collector(p).sum() >= 5
    assert not dead.any()


def test_unreachable_fraction_names_the_key():
    with pytest.raises(GeometryError, match=r"geometry\.active_fraction = 0\.75.*best reached"):
        pack(3, 3.0, 6.0, 0.75, R, STD, 1)


def test_sphere_union_volume_exact_cases():
    # Two spheres overlapping: lens formula against the closed form for equal radii.
    r, d = 1.0, 1.5
    expected = math.pi * (4 * r + d) * (2 * r - d) ** 2 / 12
    assert lens_volume(np.array(d), np.array(r), np.array(r)) == pytest.approx(expected)
    c = np.array([[0.0, 0.0, 5.0], [d, 0.0, 5.0]])
    assert sphere_union_volume(c, np.array([r, r])) == pytest.approx(2 * 4 / 3 * math.pi - expected)
    # A sphere cut in half by z = 0.
    assert sphere_union_volume(np.array([[0.0, 0.0, 0.0]]), np.array([1.0])) == pytest.approx(2 / 3 * math.pi)


def _geo(**kw):
    values = dict(
        kind="packing", dim=3, interface="filled", width_um=W, cathode_thickness_um=LC, membrane_thickness_um=9.5,
        active_fraction=0.45, radius_mean_um=R, radius_std_um=STD, contact_radius_um=0.1, particles_file="",
        seed=1, mesh_size_um=0.2, interface_mesh_size_um=None, overlap_fraction=OVERLAP, min_gap_fraction=0.1,
        infiltration_depth_um=0.0, spot_mesh_level=1.0,
        pore_fill_fraction=1.0,
    )  # fmt: skip
    values.update(kw)
    return types.SimpleNamespace(**values)


@pytest.mark.slow  # several 3D packings (10–20 s): run with -m slow
def test_describe_3d_stats():
    desc = describe(_geo())
    st = desc.stats()
    assert st["dim"] == 3 and abs(st["active_fraction"] - 0.45) <= 0.02
    # Specific area of the union is below that of free spheres, 3 φ / r.
    assert 0.5 * 3 * 0.45 / R * 1e6 < st["specific_interface_area_m2_m3"] < 3 * 0.45 / (0.8 * R) * 1e6
    pc = describe(_geo(interface="point-contact", contact_radius_um=0.1)).stats()
    assert pc["n_contact_spots"] >= 1
    assert pc["contact_area_fraction"] == pytest.approx(pc["n_contact_spots"] * math.pi * 0.01 / W**2)


@pytest.mark.slow  # several 3D packings (10–20 s): run with -m slow
def test_describe_3d_hertz_and_too_wide_spot():
    hertz = ContactSettings(model="hertz", stack_pressure_MPa=0.1, membrane_modulus_MPa=100.0)
    desc = describe(_geo(interface="point-contact"), hertz)
    assert desc.contact_radius_um == pytest.approx(0.0669, abs=5e-4)
    with pytest.raises(GeometryError, match="outside Hertz's range"):
        describe(_geo(interface="point-contact"), ContactSettings(model="hertz", stack_pressure_MPa=0.5))
    with pytest.raises(GeometryError, match="contact_radius_um"):
        describe(_geo(interface="point-contact", contact_radius_um=2.5))


def test_particles_file_3d_round_trip(tmp_path, packing45):
    from microsim.geometry import read_particles_csv, write_particles_csv

    path = tmp_path / "p.csv"
    write_particles_csv(path, packing45.particles)
    back = read_particles_csv(path, 3, box=(W, LC))
    assert np.array_equal(back.centers, packing45.particles.centers)
    assert np.array_equal(back.radii, packing45.particles.radii)
    desc = describe(_geo(kind="particles-file", particles_file=str(path)))
    assert desc.n_particles == len(packing45.particles)
    # A pair in the forbidden band is refused.
    bad = Particles(np.array([[2.0, 2.0, 0.475], [2.0, 2.0 + 0.99, 0.475]]), np.array([0.5, 0.5]))
    write_particles_csv(path, bad)
    with pytest.raises(GeometryError, match="near-tangent"):
        describe(_geo(kind="particles-file", particles_file=str(path)))


def test_particles_file_3d_checks(tmp_path):
    from microsim.geometry import write_particles_csv

    path = tmp_path / "p3.csv"
    cases = [
        # pair overlapping beyond 2 x overlap_fraction of the radii sum
        (Particles(np.array([[2.0, 2.0, 0.475], [2.0, 2.8, 0.475]]), np.array([0.5, 0.5])), r"particles 0 and 1 "),
        # particle cut deep by the collector
        (Particles(np.array([[2.0, 2.0, 0.2]]), np.array([0.5])), r"particle 0 crosses the collector"),
        # particle crossing the top of the filled layer
        (Particles(np.array([[2.0, 2.0, 0.475], [2.0, 2.0, LC - 0.3]]), np.array([0.5, 0.5])), r"particle 1 top"),
    ]
    for parts, pattern in cases:
        write_particles_csv(path, parts)
        with pytest.raises(GeometryError, match=r"p3\.csv.*" + pattern):
            describe(_geo(kind="particles-file", particles_file=str(path)))
    write_particles_csv(path, Particles(np.array([[2.0, 2.0, LC - 0.45]]), np.array([0.5])))
    with pytest.raises(GeometryError, match="contact_radius_um"):
        describe(
            _geo(kind="particles-file", particles_file=str(path), interface="point-contact", contact_radius_um=0.8)
        )
