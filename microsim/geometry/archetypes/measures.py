"""Measures of particle sets the archetypes' statistics and :func:`describe` share (NumPy only)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["count_spots", "reached", "sphere_union_area"]


def sphere_union_area(centers: np.ndarray, radii: np.ndarray, lc: float, z_lo: float = 0.0) -> float:
    """Exposed area of a union of spheres inside ``z_lo < z < L_c`` (µm²).

    Sphere areas less the caps covered by each overlapping neighbour and cut by the two planes (exact unless
    three spheres share a point, or a neighbour's cap is also cut by a plane).
    """
    area = 4.0 * math.pi * radii**2
    z = centers[:, -1]
    area -= 2.0 * math.pi * radii * np.clip(radii - (z - z_lo), 0.0, 2.0 * radii)  # below z = z_lo
    area -= 2.0 * math.pi * radii * np.clip(z + radii - lc, 0.0, 2.0 * radii)  # above z = L_c
    d = np.sqrt(((centers[:, None, :] - centers[None, :, :]) ** 2).sum(-1))
    n = radii.shape[0]
    over = (d < radii[:, None] + radii[None, :]) & ~np.eye(n, dtype=bool)
    for i, j in zip(*np.nonzero(over), strict=True):
        dij, ri, rj = d[i, j], radii[i], radii[j]
        h = ri - (dij * dij + ri * ri - rj * rj) / (2.0 * dij)  # height of i's cap inside j
        area[i] -= 2.0 * math.pi * ri * min(max(h, 0.0), 2.0 * ri)
    return float(np.maximum(area, 0.0).sum())


def reached(centers: np.ndarray, radii: np.ndarray, spots: np.ndarray, wet_plane_um: float) -> np.ndarray:
    """Particles the electrolyte touches: a contact spot, or a top above the wet plane (``L_c``: none)."""
    return spots | (centers[:, -1] + radii > wet_plane_um)


def count_spots(centers: np.ndarray, radii: np.ndarray, z: float) -> int:
    """Number of separate pieces of the union's trace on the line z (merged chords count once)."""
    dz = centers[:, -1] - z
    cut = np.abs(dz) < radii
    half = np.sqrt(radii[cut] ** 2 - dz[cut] ** 2)
    order = np.argsort(centers[cut, 0] - half)
    lo, hi = (centers[cut, 0] - half)[order], (centers[cut, 0] + half)[order]
    count, end = 0, -math.inf
    for a, b in zip(lo, hi, strict=True):
        if a > end:
            count += 1
        end = max(end, b)
    return count
