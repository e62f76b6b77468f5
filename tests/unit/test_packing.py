"""Packing: target fraction, determinism, connectivity, contact rules, exact measures, particle CSV I/O."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from microsim.errors import GeometryError
from microsim.geometry.packing import (
    Particles,
    area_fraction_2d,
    check_gaps,
    cluster_labels,
    disk_union_measures,
    pack,
    pack_disks,
    read_particles_csv,
    touches_collector,
    write_particles_csv,
)

W, LC, RM, RS = 10.0, 11.2, 0.5, 0.15
OVERLAP, GAP = 0.05, 0.1 * RM


def _pack(fraction: float, seed: int = 0):
    return pack_disks(W, LC, fraction, RM, RS, seed, overlap_fraction=OVERLAP, min_gap_fraction=0.1)


@pytest.fixture(scope="module")
def packings():
    """A few packings reused by several tests (fractions x seeds)."""
    return {(f, s): _pack(f, s) for f in (0.35, 0.45, 0.55) for s in (0, 1)}


@pytest.mark.parametrize("fraction", [0.35, 0.45, 0.55])
def test_target_fraction_met(packings, fraction):
    for seed in (0, 1):
        result = packings[(fraction, seed)]
        # The achieved fraction is recomputed here from the particles, not taken from the result only.
        f = area_fraction_2d(result.particles, W, LC)
        assert f == pytest.approx(result.achieved_fraction, abs=1e-12)
        assert abs(f - fraction) <= 0.02, (fraction, seed, f)


def test_same_seed_same_particles_different_seed_different():
    a, b, c = _pack(0.45, 7), _pack(0.45, 7), _pack(0.45, 8)
    assert np.array_equal(a.particles.centers, b.particles.centers)
    assert np.array_equal(a.particles.radii, b.particles.radii)
    assert len(a.particles) != len(c.particles) or not np.array_equal(a.particles.centers, c.particles.centers)


def test_every_particle_connected_to_collector(packings):
    for result in packings.values():
        p = result.particles
        labels = cluster_labels(p)
        live = set(labels[touches_collector(p)].tolist())
        assert set(labels.tolist()) <= live


def test_min_gap_rule_holds(packings):
    """Independent check of the contact rules on generated packings (exact touch or full gap)."""
    for result in packings.values():
        p = result.particles
        c, r = p.centers, p.radii
        n = len(p)
        for i in range(n):
            assert c[i, 0] - r[i] >= GAP - 1e-12 and c[i, 0] + r[i] <= W - GAP + 1e-12  # side walls
            assert c[i, 1] + r[i] <= LC - GAP + 1e-12  # top of the layer (filled archetype)
            on_floor = math.isclose(c[i, 1], r[i] * (1 - OVERLAP), rel_tol=1e-9)
            assert on_floor or c[i, 1] - r[i] >= GAP - 1e-12
            for j in range(i + 1, n):
                d = math.dist(c[i], c[j])
                touching = math.isclose(d, (1 - OVERLAP) * (r[i] + r[j]), rel_tol=1e-8)
                assert touching or d >= r[i] + r[j] + GAP - 1e-12, (i, j, d, r[i] + r[j])
        assert check_gaps(p, W, LC, OVERLAP, GAP) == []


def test_radii_clipped(packings):
    for result in packings.values():
        r = result.particles.radii
        assert r.min() >= 0.4 * RM - 1e-12 and r.max() <= 2.0 * RM


def test_check_gaps_detects_violations():
    near = Particles([[2.0, 3.0], [3.0 + 0.01, 3.0]], [0.5, 0.5])  # gap 0.01 < 0.05
    assert any("near-tangent" in m for m in check_gaps(near, W, LC, OVERLAP, GAP))
    wall = Particles([[0.52, 3.0]], [0.5])
    assert any("side wall" in m for m in check_gaps(wall, W, LC, OVERLAP, GAP))
    floor = Particles([[3.0, 0.51]], [0.5])  # 0.01 above the collector: sliver
    assert any("collector" in m for m in check_gaps(floor, W, LC, OVERLAP, GAP))
    top = Particles([[3.0, LC - 0.52]], [0.5])
    assert any("closer than" in m for m in check_gaps(top, W, LC, OVERLAP, GAP))
    good = Particles([[2.0, 0.475], [2.95, 0.475]], [0.5, 0.5])
    assert check_gaps(good, W, LC, OVERLAP, GAP) == []


def test_disk_union_measures_exact():
    # One disk: area, perimeter.
    m = disk_union_measures(np.array([[5.0, 5.0]]), np.array([1.0]))
    assert m.area == pytest.approx(math.pi) and m.arc_length == pytest.approx(2 * math.pi)
    # Half disk cut by the collector.
    m = disk_union_measures(np.array([[5.0, 0.0]]), np.array([1.0]))
    assert m.area == pytest.approx(math.pi / 2) and m.bottom_length == pytest.approx(2.0)
    assert m.arc_length == pytest.approx(math.pi)
    # Two equal disks at distance d: union = 2πr² − lens.
    r, d = 1.0, 1.2
    lens = 2 * r * r * math.acos(d / (2 * r)) - 0.5 * d * math.sqrt(4 * r * r - d * d)
    m = disk_union_measures(np.array([[3.0, 5.0], [3.0 + d, 5.0]]), np.array([r, r]))
    assert m.area == pytest.approx(2 * math.pi * r * r - lens, rel=1e-12)
    assert m.arc_length == pytest.approx(2 * (2 * math.pi - 2 * math.acos(d / (2 * r))) * r, rel=1e-12)
    # Top clip: chord on z_max.
    m = disk_union_measures(np.array([[5.0, 4.0]]), np.array([1.0]), 0.0, 4.0)
    assert m.area == pytest.approx(math.pi / 2) and m.top_length == pytest.approx(2.0)


def test_seam_angle_inside_covered_arc():
    # Disk 0 overlaps disk 1 on its right (angle 0) and is cut by the collector: its longest covered arc is
    # the part below z = 0 (centre at z = 0.5: covered from 210° to 330°, middle 270°), longer than the lens.
    m = disk_union_measures(np.array([[3.0, 0.5], [4.9, 0.5]]), np.array([1.0, 1.0]))
    assert m.seam_angle_per_particle[0] == pytest.approx(1.5 * math.pi)
    # A lone disk above the collector has nothing covered: seam left at 0, no short arc.
    m = disk_union_measures(np.array([[3.0, 5.0]]), np.array([1.0]))
    assert m.seam_angle_per_particle[0] == 0.0 and math.isinf(m.min_arc_per_particle[0])
    # The lens of two disks: seam of the left one points at the right one (angle 0 -> middle of the lens arc).
    m = disk_union_measures(np.array([[3.0, 5.0], [4.5, 5.0]]), np.array([1.0, 1.0]))
    assert m.seam_angle_per_particle[0] == pytest.approx(0.0, abs=1e-12) or m.seam_angle_per_particle[
        0
    ] == pytest.approx(2 * math.pi)
    assert m.seam_angle_per_particle[1] == pytest.approx(math.pi)


def test_area_fraction_matches_raster(packings):
    p = packings[(0.45, 0)].particles
    xs = np.linspace(0, W, 1501)
    zs = np.linspace(0, LC, 1681)
    x, z = np.meshgrid(xs, zs)
    inside = np.zeros_like(x, dtype=bool)
    for (cx, cz), r in zip(p.centers, p.radii, strict=True):
        inside |= (x - cx) ** 2 + (z - cz) ** 2 < r * r
    assert inside.mean() == pytest.approx(area_fraction_2d(p, W, LC), abs=3e-3)


def test_unreachable_fraction_raises():
    with pytest.raises(GeometryError, match=r"geometry\.active_fraction = 0\.89.*best reached 0\.[0-9]+.*jammed"):
        _pack(0.89)


def test_3d_dispatches_to_spheres_and_bad_dim_refused():
    res = pack(3, 4.0, LC, 0.45, RM, RS, 0)
    assert res.particles.dim == 3 and abs(res.achieved_fraction - 0.45) <= 0.02
    with pytest.raises(GeometryError, match=r"geometry\.dim = 4"):
        pack(4, W, LC, 0.45, RM, RS, 0)


def test_default_pack_is_fast():
    t0 = time.perf_counter()
    _pack(0.45, 3)
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize("dim", [2, 3])
def test_csv_round_trip(tmp_path, dim):
    rng = np.random.default_rng(1)
    p = Particles(rng.uniform(1, 5, (7, dim)), rng.uniform(0.2, 0.7, 7))
    path = tmp_path / "p.csv"
    write_particles_csv(path, p)
    header = path.read_text().splitlines()[0]
    assert header == ("x_um,y_um,r_um" if dim == 2 else "x_um,y_um,z_um,r_um")
    q = read_particles_csv(path, dim)
    assert np.array_equal(p.centers, q.centers) and np.array_equal(p.radii, q.radii)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "no such file"),
        ("x_um,r_um\n1,0.5\n", r"line 1: missing column\(s\) y_um"),
        ("x_um,y_um,r_um\n1,2,0.5\n1,abc,0.5\n", r"line 3: column y_um = 'abc' is not a number"),
        ("x_um,y_um,r_um\n1,2,0\n", r"line 2: r_um = 0 must be > 0"),
        ("x_um,y_um,r_um\n1,2,-1\n", r"line 2: r_um = -1 must be > 0"),
        ("x_um,y_um,r_um\n0.2,2,0.5\n", r"line 2: particle outside the box.*side wall"),
        ("x_um,y_um,r_um\n3,12,0.5\n", r"line 2: particle outside the box.*cathode layer"),
        ("", "empty file"),
    ],
)
def test_bad_particle_files(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(GeometryError, match=match) as err:
        read_particles_csv(path, 2, box=(W, LC))
    assert str(path) in str(err.value)
