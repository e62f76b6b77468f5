"""Exact measures of a union of disks clipped to a horizontal strip (2D; NumPy only).

The filled archetype's Γ is the arc length, the point-contact spots are the trace on ``z = L_c``, the
collector contact the trace on ``z = 0`` (see :class:`DiskUnionMeasures`). Used by the 2D packer (the
fraction it bisects on), the archetype statistics and the Gmsh builder (the seam angles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from microsim.geometry.particles import Particles

__all__ = ["DiskUnionMeasures", "area_fraction_2d", "disk_union_measures"]


@dataclass(frozen=True)
class DiskUnionMeasures:
    """Exact measures of ``(union of disks) ∩ {z_min <= z <= z_max}`` in 2D.

    Attributes:
        area: Area of the clipped union (µm²).
        arc_length: Length of the circle arcs on its boundary, i.e. the union boundary strictly inside the
            strip (µm). In the filled archetype this is Γ.
        bottom_length: Length of the union's trace on ``z = z_min`` (collector contact, µm).
        top_length: Length of the union's trace on ``z = z_max`` (point-contact spots, µm).
        arc_length_per_particle: Boundary arc length owned by each disk (µm).
        min_arc_per_particle: Shortest separate boundary arc of each disk (µm; ``inf`` if its whole circle
            is exposed or covered). A tiny arc is a tiny feature: it forces tiny, badly shaped elements.
        seam_angle_per_particle: Middle of the longest covered arc of each disk (rad; 0 if none). Gmsh's OCC
            circles carry a vertex (the seam) at angle 0; turning each disk so its seam is there hides the
            seam inside the union, instead of leaving a vertex that may fall next to an intersection point.
    """

    area: float
    arc_length: float
    bottom_length: float
    top_length: float
    arc_length_per_particle: np.ndarray
    min_arc_per_particle: np.ndarray
    seam_angle_per_particle: np.ndarray


def _merge_intervals(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Merge overlapping intervals of the real line."""
    if not intervals:
        return []
    intervals = sorted(intervals)
    merged = [intervals[0]]
    for lo, hi in intervals[1:]:
        if lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _add_angular(covered: list[tuple[float, float]], lo: float, hi: float) -> None:
    """Add the angular interval [lo, hi] (hi - lo <= 2π) to ``covered``, split into pieces of [0, 2π)."""
    two_pi = 2.0 * math.pi
    if hi - lo >= two_pi:
        covered.append((0.0, two_pi))
        return
    width = max(hi - lo, 0.0)
    lo = lo % two_pi
    if lo + width <= two_pi:
        covered.append((lo, lo + width))
    else:
        covered.append((lo, two_pi))
        covered.append((0.0, lo + width - two_pi))


def _union_trace_on_line(centers: np.ndarray, radii: np.ndarray, z: float) -> float:
    """Length of the union of the chords the disks cut on the line ``z``."""
    dz = centers[:, 1] - z
    cut = np.abs(dz) < radii
    half = np.sqrt(np.maximum(radii[cut] ** 2 - dz[cut] ** 2, 0.0))
    xs = centers[cut, 0]
    merged = _merge_intervals(list(zip((xs - half).tolist(), (xs + half).tolist(), strict=True)))
    return float(sum(hi - lo for lo, hi in merged))


def disk_union_measures(
    centers: np.ndarray, radii: np.ndarray, z_min: float = 0.0, z_max: float = math.inf
) -> DiskUnionMeasures:
    """Exact area and boundary lengths of a union of disks clipped to the strip ``z_min <= z <= z_max``.

    The boundary of the clipped union is made of the arcs of each circle not covered by another disk nor lying
    outside the strip, plus its traces on the two lines. The area follows from Green's theorem
    ``A = ½ ∮ (x dz − z dx)`` over that boundary, which is exact whatever the number of mutual overlaps (no
    inclusion-exclusion truncation). Side walls are not clipped: every validated particle keeps a gap to them.

    Args:
        centers: ``(N, 2)`` centres (x, z).
        radii: ``(N,)`` radii.
        z_min: Lower clipping line (the collector).
        z_max: Upper clipping line (``inf``: none).

    Returns:
        The measures.
    """
    centers = np.asarray(centers, dtype=float).reshape(-1, 2)
    radii = np.asarray(radii, dtype=float).reshape(-1)
    n = radii.shape[0]
    per_particle = np.zeros(n)
    min_arc = np.full(n, math.inf)
    seam = np.zeros(n)
    if n == 0:
        return DiskUnionMeasures(0.0, 0.0, 0.0, 0.0, per_particle, min_arc, seam)
    two_pi = 2.0 * math.pi
    diff = centers[None, :, :] - centers[:, None, :]  # diff[i, j] = c_j - c_i
    dist = np.hypot(diff[..., 0], diff[..., 1])
    rsum = radii[:, None] + radii[None, :]
    overlapping = (dist < rsum) & ~np.eye(n, dtype=bool)
    area_twice = 0.0
    for i in range(n):
        cx, cz = centers[i]
        r = radii[i]
        covered: list[tuple[float, float]] = []
        for j in np.flatnonzero(overlapping[i]):
            d = dist[i, j]
            if d + r <= radii[j]:  # i inside j: nothing of i's circle is boundary
                covered.append((0.0, two_pi))
                break
            if d + radii[j] <= r:  # j inside i: covers none of i's circle
                continue
            phi = math.atan2(diff[i, j, 1], diff[i, j, 0])
            cos_alpha = (r * r + d * d - radii[j] ** 2) / (2.0 * r * d)
            alpha = math.acos(min(1.0, max(-1.0, cos_alpha)))
            _add_angular(covered, phi - alpha, phi + alpha)
        # Below z_min: sin θ < s.
        s = (z_min - cz) / r
        if s >= 1.0:
            covered.append((0.0, two_pi))
        elif s > -1.0:
            b = math.asin(s)
            _add_angular(covered, math.pi - b, two_pi + b)
        # Above z_max: sin θ > t.
        if math.isfinite(z_max):
            t = (z_max - cz) / r
            if t <= -1.0:
                covered.append((0.0, two_pi))
            elif t < 1.0:
                b = math.asin(t)
                _add_angular(covered, b, math.pi - b)
        merged = _merge_intervals(covered)
        # Complement of the covered set in [0, 2π): the exposed arcs.
        exposed = []
        start = 0.0
        for lo, hi in merged:
            if lo > start:
                exposed.append((start, lo))
            start = max(start, hi)
        if start < two_pi:
            exposed.append((start, two_pi))
        pieces = [r * (t2 - t1) for t1, t2 in exposed]
        if len(pieces) > 1 and exposed[0][0] == 0.0 and exposed[-1][1] == two_pi:
            pieces = [pieces[0] + pieces[-1], *pieces[1:-1]]  # one arc across θ = 0, not two
        if merged:  # a piece with end points (not a whole free circle)
            min_arc[i] = min(pieces, default=math.inf)
            covered_pieces = [(hi - lo, lo) for lo, hi in merged]
            if len(merged) > 1 and merged[0][0] == 0.0 and merged[-1][1] == two_pi:
                lo = merged[-1][0]
                covered_pieces = [(two_pi - lo + merged[0][1], lo), *covered_pieces[1:-1]]
            width, lo = max(covered_pieces)
            seam[i] = (lo + 0.5 * width) % two_pi
        for t1, t2 in exposed:
            per_particle[i] += r * (t2 - t1)
            # ∫ (x dz - z dx) along the CCW arc from t1 to t2.
            area_twice += (
                r * r * (t2 - t1) + r * cx * (math.sin(t2) - math.sin(t1)) - r * cz * (math.cos(t2) - math.cos(t1))
            )
    bottom = _union_trace_on_line(centers, radii, z_min)
    top = _union_trace_on_line(centers, radii, z_max) if math.isfinite(z_max) else 0.0
    # Boundary segments: on z = z_min traversed in +x (contributes -z_min * length), on z = z_max in -x.
    area_twice -= z_min * bottom
    if math.isfinite(z_max):
        area_twice += z_max * top
    return DiskUnionMeasures(
        area=0.5 * area_twice,
        arc_length=float(per_particle.sum()),
        bottom_length=bottom,
        top_length=top,
        arc_length_per_particle=per_particle,
        min_arc_per_particle=min_arc,
        seam_angle_per_particle=seam,
    )


def area_fraction_2d(particles: Particles, width_um: float, height_um: float) -> float:
    """Area of the disk union clipped to the box ``[0, W] x [0, H]``, divided by ``W H``."""
    m = disk_union_measures(particles.centers, particles.radii, 0.0, height_um)
    return m.area / (width_um * height_um)
