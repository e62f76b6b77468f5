"""Contact rules and connectivity of particle sets (2D and 3D; NumPy only).

See :mod:`microsim.geometry.packing` for the rules every generator and validator shares.
"""

from __future__ import annotations

import numpy as np

from microsim.geometry.particles import Particles

__all__ = ["check_gaps", "cluster_labels", "touches_collector"]


def _pair_geometry(particles: Particles) -> tuple[np.ndarray, np.ndarray]:
    c = particles.centers
    dist = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(-1))
    rsum = particles.radii[:, None] + particles.radii[None, :]
    return dist, rsum


def cluster_labels(particles: Particles) -> np.ndarray:
    """Label the connected clusters of overlapping particles (0, 1, ... in order of first member)."""
    n = len(particles)
    labels = np.full(n, -1, dtype=int)
    if n == 0:
        return labels
    dist, rsum = _pair_geometry(particles)
    adjacency = (dist < rsum) & ~np.eye(n, dtype=bool)
    current = 0
    for start in range(n):
        if labels[start] >= 0:
            continue
        labels[start] = current
        stack = [start]
        while stack:
            i = stack.pop()
            for j in np.flatnonzero(adjacency[i] & (labels < 0)):
                labels[j] = current
                stack.append(int(j))
        current += 1
    return labels


def touches_collector(particles: Particles) -> np.ndarray:
    """Particles that cut the collector plane (through-thickness coordinate 0)."""
    return particles.centers[:, -1] - particles.radii < 0.0


def check_gaps(
    particles: Particles,
    width_um: float,
    height_um: float | None,
    overlap_fraction: float,
    min_gap_um: float,
    *,
    exempt_top: np.ndarray | None = None,
    max_report: int = 5,
) -> list[str]:
    """Check the contact rules; return human-readable violations (empty list: the particles are valid).

    A pair is valid when it overlaps by at least half the nominal overlap
    (``d <= (1 - overlap_fraction / 2)(r_i + r_j)``) or keeps the gap (``d >= r_i + r_j + gap``). A particle
    is valid against the collector when it cuts ``z = 0`` by at least half the nominal depth or keeps the gap;
    against the side walls when it keeps the gap (lateral walls are insulating, never crossed); against the
    top plane ``z = height_um`` (if given) when it keeps the gap, unless exempted (point-contact particles
    crossing it).

    Args:
        particles: The particles.
        width_um: Lateral size (3D: both lateral directions).
        height_um: Plane the particles must stay under with the gap (None: not checked).
        overlap_fraction: Nominal overlap of touching particles.
        min_gap_um: The minimum gap.
        exempt_top: Boolean mask of particles allowed to cross the top plane.
        max_report: Stop after this many violations.

    Returns:
        The violations, each naming the particle indices (0-based) and the distances.
    """
    problems: list[str] = []
    n = len(particles)
    if n == 0:
        return problems
    c, r = particles.centers, particles.radii
    lateral = c[:, :-1]
    for i in range(n):
        for k in range(lateral.shape[1]):
            lo, hi = lateral[i, k] - r[i], width_um - lateral[i, k] - r[i]
            if min(lo, hi) < min_gap_um * (1 - 1e-9):
                problems.append(
                    f"particle {i} is {min(lo, hi):.4g} µm from a side wall (minimum gap {min_gap_um:.4g} µm)"
                )
        bottom = c[i, -1] - r[i]
        if -overlap_fraction * r[i] / 2 < bottom < min_gap_um * (1 - 1e-9):
            problems.append(
                f"particle {i} bottom at z = {bottom:.4g} µm: it must cut the collector by at least "
                f"{overlap_fraction * r[i] / 2:.3g} µm or keep a gap of {min_gap_um:.4g} µm"
            )
        if height_um is not None and not (exempt_top is not None and exempt_top[i]):
            top = c[i, -1] + r[i]
            if top > height_um - min_gap_um * (1 - 1e-9):
                problems.append(
                    f"particle {i} top at z = {top:.4g} µm is closer than {min_gap_um:.4g} µm to z = {height_um:.4g}"
                )
        if len(problems) >= max_report:
            return problems
    dist, rsum = _pair_geometry(particles)
    bad = (dist > (1.0 - overlap_fraction / 2.0) * rsum) & (dist < rsum + min_gap_um * (1 - 1e-9))
    for i, j in zip(*np.nonzero(np.triu(bad, 1)), strict=True):
        problems.append(
            f"particles {i} and {j} are near-tangent: centre distance {dist[i, j]:.5g} µm, radii sum "
            f"{rsum[i, j]:.5g} µm (they must overlap by >= {overlap_fraction / 2:.3g} of the radii sum or "
            f"keep a gap >= {min_gap_um:.4g} µm)"
        )
        if len(problems) >= max_report:
            break
    return problems
