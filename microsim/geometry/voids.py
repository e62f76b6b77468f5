"""Partial pore filling: seeded gas voids in the pores of the cathode layer (2D disks, 3D spheres; NumPy only).

When the solvent of a cast electrolyte evaporates it leaves gas bubbles in the pores (``geometry.pore_fill_fraction
< 1``). A void is a disk / sphere of the mean particle radius, centred in the pore space; where it overlaps a
particle the particle wins (the void is the bubble less the solid), so a particle surface inside a void is dry.
The Gmsh builder removes the void regions from the mesh: their boundaries are natural no-flux boundaries for the
electrolyte, and the particle surfaces facing a void are not Γ.

Placement (deterministic for a seed): candidate centres are drawn uniformly in the layer; a candidate is kept if
it lies in the pores, keeps the packing's smallest gap to the membrane plane, to the collector and to the other
voids, is not near-tangent to a side wall (it may cross one: the walls are mirror planes) and not near-tangent
to any particle (its circle either clears a particle by the gap or cuts it by at least the gap: a near-tangent
pair would need sliver elements). Voids are added at full radius while they fit the void volume asked for,
``(1 − f)`` times the pore volume; a candidate that is refused at full radius, or the last one, is shrunk (down
to half the radius) to be valid or to land on the volume asked for. The electrolyte a void removes (the void
less the particles) is counted on a regular grid of ``_GRID_PER_RADIUS`` points per radius: the wet fraction it
gives agrees with the exact one the Gmsh model measures to about 5e-4 (tests/integration/test_pore_fill.py).

Clusters not connected to the collector keep their potential through the electrolyte (filled archetype): a
candidate that would leave such a cluster without any wet surface is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from microsim.errors import GeometryError

__all__ = [
    "FILL_TOLERANCE",
    "VoidPlacement",
    "WettedSurface",
    "place_voids",
    "surface_samples",
    "wetted_surface",
]

#: Largest |wet fraction reached − pore_fill_fraction| accepted (absolute, fraction of the pore volume).
FILL_TOLERANCE = 0.02
#: Grid points per void radius used to count the electrolyte a void removes.
_GRID_PER_RADIUS = {2: 100, 3: 30}
#: Surface sample points per particle (wetted area, dry particles).
_SURFACE_SAMPLES = {2: 2048, 3: 4096}
#: Candidate centres drawn per void before giving up (the pores are jammed).
_ATTEMPTS_PER_VOID = 2000
#: The last void is shrunk to at most this fraction of the full radius (smaller would need a finer mesh).
_MIN_RADIUS_FRACTION = 0.5
_SHRINK_STEPS = 41
#: Placement stops once the void volume is within this fraction of the pore volume of the one asked for.
_CLOSE_ENOUGH = 1.0e-3


@dataclass(frozen=True)
class VoidPlacement:
    """The voids placed in the pores of one geometry (µm).

    Attributes:
        centers: ``(n, dim)`` void centres.
        radii: ``(n,)`` void radii.
        pore_measure: Pore area (2D, per µm of depth) / volume of the layer without voids.
        void_measure: Electrolyte the voids remove (void less particles), counted on the grid.
        fill_fraction_asked: ``geometry.pore_fill_fraction``.
        n_candidates: Candidate centres drawn.
    """

    centers: np.ndarray
    radii: np.ndarray
    pore_measure: float
    void_measure: float
    fill_fraction_asked: float
    n_candidates: int

    @property
    def wet_fraction(self) -> float:
        """Electrolyte / pore measure of the layer as placed (grid count)."""
        return 1.0 - self.void_measure / self.pore_measure if self.pore_measure > 0.0 else 1.0

    @property
    def n_voids(self) -> int:
        """Number of voids."""
        return int(self.radii.shape[0])


@dataclass(frozen=True)
class WettedSurface:
    """The particle surface the electrolyte wets (sampled; µm², 2D: µm² per µm of depth).

    Attributes:
        per_particle: ``(N,)`` wetted area of each particle (exposed: not inside another particle, inside the
            layer, and outside every void).
        exposed_per_particle: ``(N,)`` exposed area, voids ignored.
    """

    per_particle: np.ndarray
    exposed_per_particle: np.ndarray

    @property
    def area(self) -> float:
        """Total wetted area."""
        return float(self.per_particle.sum())

    @property
    def dry(self) -> np.ndarray:
        """``(N,)`` particles without any wetted surface."""
        return self.per_particle <= 0.0


def surface_samples(centers: np.ndarray, radii: np.ndarray, lc: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points on the exposed particle surface: ``(points (M, dim), owner (M,), weight (M,))``.

    Exposed: inside ``0 <= z <= L_c`` and not strictly inside another particle. The weights are the surface
    measure each point stands for (uniform in angle in 2D, a Fibonacci lattice in 3D).
    """
    dim = centers.shape[1]
    n_s = _SURFACE_SAMPLES[dim]
    if dim == 2:
        t = 2.0 * math.pi * (np.arange(n_s) + 0.5) / n_s
        unit = np.stack([np.cos(t), np.sin(t)], axis=1)
    else:
        k = np.arange(n_s) + 0.5
        z = 1.0 - 2.0 * k / n_s
        phi = math.pi * (3.0 - math.sqrt(5.0)) * k
        s = np.sqrt(1.0 - z * z)
        unit = np.stack([s * np.cos(phi), s * np.sin(phi), z], axis=1)
    points, owner, weight = [], [], []
    for i, (c, r) in enumerate(zip(centers, radii, strict=True)):
        p = c + r * unit
        keep = (p[:, -1] >= 0.0) & (p[:, -1] <= lc)
        near = np.flatnonzero(np.linalg.norm(centers - c, axis=1) < radii + r)
        for j in near:
            if j != i:
                keep &= np.linalg.norm(p - centers[j], axis=1) >= radii[j]
        area = (2.0 * math.pi * r if dim == 2 else 4.0 * math.pi * r * r) / n_s
        points.append(p[keep])
        owner.append(np.full(int(keep.sum()), i))
        weight.append(np.full(int(keep.sum()), area))
    if not points:
        return np.zeros((0, dim)), np.zeros(0, dtype=int), np.zeros(0)
    return np.concatenate(points), np.concatenate(owner), np.concatenate(weight)


def _covered(points: np.ndarray, centers: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Points strictly inside any of the balls ``(centers, radii)``."""
    out = np.zeros(len(points), dtype=bool)
    for c, r in zip(centers, radii, strict=True):
        out |= np.linalg.norm(points - c, axis=1) < r
    return out


def wetted_surface(
    centers: np.ndarray, radii: np.ndarray, lc: float, void_centers: np.ndarray, void_radii: np.ndarray
) -> WettedSurface:
    """The wetted and the exposed surface of each particle (sampled, see :func:`surface_samples`)."""
    n = len(radii)
    points, owner, weight = surface_samples(centers, radii, lc)
    wet = ~_covered(points, void_centers, void_radii)
    return WettedSurface(
        per_particle=np.bincount(owner[wet], weights=weight[wet], minlength=n),
        exposed_per_particle=np.bincount(owner, weights=weight, minlength=n),
    )


class _Grid:
    """Grid points of a full-radius void about its centre, with their distance to it (counting removed pores)."""

    def __init__(self, dim: int, radius: float) -> None:
        m = _GRID_PER_RADIUS[dim]
        self.cell = radius / m
        axis = (np.arange(-m, m) + 0.5) * self.cell
        mesh = np.meshgrid(*([axis] * dim), indexing="ij")
        offsets = np.stack([g.ravel() for g in mesh], axis=1)
        dist = np.linalg.norm(offsets, axis=1)
        inside = dist < radius
        self.offsets, self.dist = offsets[inside], dist[inside]
        self.weight = self.cell**dim


def place_voids(
    centers: np.ndarray,
    radii: np.ndarray,
    width_um: float,
    cathode_thickness_um: float,
    fill_fraction: float,
    void_radius_um: float,
    gap_um: float,
    seed: int,
    keep_wet: np.ndarray | None = None,
    pore_measure: float | None = None,
) -> VoidPlacement:
    """Place seeded voids in the pores until the wet fraction of the pore volume is ``fill_fraction``.

    Args:
        centers: ``(N, dim)`` particle centres.
        radii: ``(N,)`` particle radii.
        width_um: W (3D: W x W).
        cathode_thickness_um: L_c.
        fill_fraction: ``geometry.pore_fill_fraction`` in (0, 1]; 1 places none.
        void_radius_um: Full void radius.
        gap_um: Smallest gap to walls, planes and other voids, and the smallest distance of a void's circle
            from a particle's circle (clear or cut).
        seed: ``geometry.seed`` (the voids draw from their own stream: the packing is not changed).
        keep_wet: ``(N,)`` cluster labels of particles that must keep some wet surface (-1: no constraint).
        pore_measure: Pore measure of the layer (None: the exact one, layer less the disk / sphere union).

    Returns:
        The placement.

    Raises:
        GeometryError: Naming ``geometry.pore_fill_fraction``, when the fraction cannot be reached within
            :data:`FILL_TOLERANCE` (the best reached is given).
    """
    centers = np.asarray(centers, dtype=float)
    dim = centers.shape[1]
    w, lc = float(width_um), float(cathode_thickness_um)
    layer = w ** (dim - 1) * lc
    empty = np.zeros((0, dim))
    if pore_measure is None:
        pore_measure = layer - _solid_measure(centers, radii, w, lc)
    if fill_fraction >= 1.0:
        return VoidPlacement(empty, np.zeros(0), pore_measure, 0.0, fill_fraction, 0)
    rho = min(void_radius_um, 0.5 * min(w, lc) - 2.0 * gap_um)
    target = (1.0 - fill_fraction) * pore_measure
    grid = _Grid(dim, rho)
    rng = np.random.default_rng([int(seed), 0x701D])  # own stream: voids never change the packing
    points, owner, _ = surface_samples(centers, radii, lc)
    # the clusters that must keep a wet surface, and which of their sample points are still wet
    labels = np.full(len(radii), -1) if keep_wet is None else np.asarray(keep_wet)
    guarded = labels[owner] >= 0
    wet_points = np.ones(len(points), dtype=bool)

    placed_c: list[np.ndarray] = []
    placed_r: list[float] = []
    removed = 0.0
    n_cand = 0
    # the voids may cross the side walls (mirror planes: a bubble cut by one is half of a bubble of the periodic
    # continuation), not the collector nor the membrane plane: they lie in the cathode layer
    lo = np.array([0.0] * (dim - 1) + [rho + gap_um])
    hi = np.array([w] * (dim - 1) + [lc - rho - gap_um])
    if np.any(hi <= lo):
        raise GeometryError(
            f"geometry.pore_fill_fraction = {fill_fraction:g}: a void of radius {rho:.3g} µm does not fit the layer"
        )
    done = False
    # close enough: the last void would only trade 0.1 % of the pore volume for another near-tangency risk
    while (
        not done
        and target - removed > _CLOSE_ENOUGH * pore_measure
        and n_cand < _ATTEMPTS_PER_VOID * (len(placed_r) + 1)
    ):
        n_cand += 1
        v = lo + (hi - lo) * rng.random(dim)
        d = np.linalg.norm(centers - v, axis=1)
        if np.any(d <= radii):  # the centre lies in a particle: not in the pore space
            continue
        if placed_c and np.any(np.linalg.norm(np.array(placed_c) - v, axis=1) < rho + np.array(placed_r) + gap_um):
            continue
        near = d < rho + radii + gap_um
        pts = v + grid.offsets
        walls = np.concatenate([v[:-1], w - v[:-1]])  # distances to the side walls
        # outside the box counts as solid: it is no pore
        solid = np.any((pts[:, :-1] < 0.0) | (pts[:, :-1] > w), axis=1)
        for j in np.flatnonzero(near):
            solid |= np.linalg.norm(pts - centers[j], axis=1) < radii[j]
        dist = grid.dist[~solid]
        point_d = np.linalg.norm(points - v, axis=1) if guarded.any() else None

        def ok(r: float, d: np.ndarray = d, point_d: np.ndarray | None = point_d, walls: np.ndarray = walls) -> bool:
            """Not near-tangent to a particle or a side wall; no guarded cluster loses its last wet point."""
            if np.any(np.abs(d - (r + radii)) < gap_um) or np.any(np.abs(d - (r - radii)) < gap_um):
                return False
            if np.any(np.abs(walls - r) < gap_um):
                return False
            return point_d is None or _clusters_stay_wet(wet_points & ~(point_d < r), guarded, labels[owner])

        # the largest valid radius that still fits the void volume asked for; if even the smallest overshoots, the
        # one landing closest to it (the last void)
        radii_try = np.linspace(rho, _MIN_RADIUS_FRACTION * rho, _SHRINK_STEPS)
        measure = np.array([np.count_nonzero(dist < r) for r in radii_try]) * grid.weight
        fits = np.flatnonzero(removed + measure <= target)
        chosen = next((float(radii_try[k]) for k in fits if ok(float(radii_try[k]))), 0.0)
        if chosen == 0.0:
            remaining = target - removed
            over = [k for k in range(_SHRINK_STEPS) if k not in set(fits)]
            best = abs(remaining)
            for k in sorted(over, key=lambda k: abs(remaining - measure[k])):
                if abs(remaining - measure[k]) >= best:
                    break
                if ok(float(radii_try[k])):
                    chosen = float(radii_try[k])
                    done = True
                    break
            if chosen == 0.0:
                # nothing valid here: another candidate may do better (this one only overshoots or is refused)
                continue
        full = float(np.count_nonzero(dist < chosen)) * grid.weight
        placed_c.append(v)
        placed_r.append(chosen)
        removed += full
        if point_d is not None:
            np.logical_and(wet_points, point_d >= chosen, out=wet_points)  # in place: ok() reads it
    out = VoidPlacement(
        np.array(placed_c).reshape(-1, dim), np.array(placed_r), pore_measure, removed, fill_fraction, n_cand
    )
    if abs(out.wet_fraction - fill_fraction) > FILL_TOLERANCE:
        raise GeometryError(
            f"geometry.pore_fill_fraction = {fill_fraction:g}: cannot be reached within {FILL_TOLERANCE:g} (best "
            f"reached {out.wet_fraction:.4f} with {out.n_voids} void(s) of radius {rho:.3g} µm after {n_cand} "
            "candidate centres; the pores are too crowded for more voids: use a larger fraction, a lower "
            "geometry.active_fraction or a larger box)"
        )
    return out


def _clusters_stay_wet(wet: np.ndarray, guarded: np.ndarray, point_labels: np.ndarray) -> bool:
    """Every guarded cluster keeps at least one wet sample point."""
    return all(wet[guarded & (point_labels == k)].any() for k in np.unique(point_labels[guarded]))


def _solid_measure(centers: np.ndarray, radii: np.ndarray, w: float, lc: float) -> float:
    """Particle area / volume in the layer (exact: the 2D disk union, the 3D sphere union)."""
    if centers.shape[1] == 2:
        from microsim.geometry.measures2d import disk_union_measures

        return disk_union_measures(centers, radii, 0.0, lc).area
    from microsim.geometry.packing3d import sphere_union_volume

    return sphere_union_volume(centers, radii, 0.0, lc)
