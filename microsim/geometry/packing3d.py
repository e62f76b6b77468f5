"""Seeded 3D sphere packings by gravitational deposition with rolling (NumPy + cKDTree).

Box: ``[0, W] x [0, W] x [0, H]`` (µm), ``z`` through the thickness, ``z = 0`` the collector. The lateral walls
are insulating (DOLFINx has no periodic topology without dolfinx_mpc): every sphere stays inside ``[0, W]²``
with the gap.

Method (the 3D counterpart of :func:`microsim.geometry.packing.deposit_disks`; deterministic for a seed):

1. **Drop.** Each sphere (lognormal radius, clipped to ``[0.4, 2]`` x mean) is dropped at a random ``(x, y)``
   and falls vertically until it meets the collector or a deposited sphere at the *neck distance*
   ``D = (1 - overlap)(r_i + r_j)`` (a sintered neck, never a tangent contact).
2. **Stick or roll.** With probability ``p_stick`` it stays where it first touched (ballistic deposition:
   loose, branched). Otherwise it rolls: a projected steepest descent (step down, then project the centre
   back out of every sphere it would enter deeper than ``D``, and inside the side walls), with the step
   halved whenever it stops descending, until it rests on its supports (three spheres, or spheres and a
   wall) or reaches the collector. Projected descent handles the one-, two- and three-support stages of the
   classical rolling algorithm (Visscher–Bolsterli) without enumerating them.
3. **Accept.** The resting sphere is kept if it obeys the rules of
   :func:`microsim.geometry.packing.check_gaps`: every touching pair is near its neck distance (inside
   ``(1 - 1.75 overlap) <= d / (r_i + r_j) <= (1 - 0.6 overlap)``), every other pair keeps the gap, it is on
   the collector (``z = r (1 - overlap)``) or keeps the gap to it, it stays below ``H - gap`` (a sphere that
   pokes out is retried once with the radius that fits). Deposition stops after ``K`` consecutive rejections.

Every accepted sphere touches the collector or a sphere deposited before it, so the whole solid is one
network standing on the collector: every particle conducts to the collector by construction.

The fraction is tuned by one scalar, the *looseness* ``s`` in ``[-1, 1]``: ``s >= 0`` is ``p_stick = s``
(rolling -> ballistic); ``s < 0`` makes the deposit denser than plain rolling by drawing ``1 + round(-15 s)``
candidate positions for each sphere, rolling the four whose vertical falls end lowest and keeping the lowest
rest (a "lowest of k" deposition, which fills the hollows first). The fraction decreases with ``s`` on
average, and ``s`` is bisected to hit the target (the fraction is a noisy function of ``s``; when a stream
misses, the next RNG sub-stream is tried).

An earlier version grew the radii of random centres and projected the necks afterwards; above a fraction of
0.5 the network of touching pairs was over-constrained (shallow necks that moving centres cannot deepen).
Deposition forms each neck when its sphere arrives, so that problem does not arise. Its limit is density
next to the insulating side walls: the densest deposit reaches about 0.51 in a 4 µm wide box, 0.53 at 5 µm
and 0.55 at 6 µm (r = 0.5 ± 0.1 µm); a higher target is refused with the fraction reached.

The volume fraction of the (overlapping) union is :func:`sphere_union_volume`: exact for the clipped spheres
and their pairwise lenses; triple overlaps of necks are neglected (each neck lens is about 0.4 % of a
sphere; three mutually overlapping lenses are rarer and far smaller).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from microsim.errors import GeometryError
from microsim.geometry.particles import PackingResult, Particles
from microsim.geometry.search import LoosenessSearch

__all__ = ["deposit_spheres", "lens_volume", "pack_spheres", "sphere_union_volume", "volume_fraction_3d"]

# Accepted band of a touching pair: (1 - overlap (1 + _NECK_DEEP)) <= d / (r_i + r_j) <= (1 - overlap (1 -
# _NECK_SHALLOW)): inside check_gaps' d <= (1 - overlap/2)(r_i + r_j) and the import rule d >= (1 - 2 overlap)(...).
_NECK_DEEP = 0.75
_NECK_SHALLOW = 0.4


def lens_volume(d: np.ndarray, r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Volume of the intersection of two spheres at centre distance ``d`` (vectorised; 0 if apart)."""
    d = np.asarray(d, dtype=float)
    r1 = np.asarray(r1, dtype=float)
    r2 = np.asarray(r2, dtype=float)
    out = np.zeros(np.broadcast(d, r1, r2).shape)
    small = np.minimum(r1, r2)
    inside = d <= np.abs(r1 - r2)
    out = np.where(inside, 4.0 / 3.0 * math.pi * small**3, out)
    lens = (d < r1 + r2) & ~inside
    dd = np.where(lens, d, 1.0)
    v = math.pi * (r1 + r2 - dd) ** 2 * (dd**2 + 2.0 * dd * (r1 + r2) - 3.0 * (r1 - r2) ** 2) / (12.0 * dd)
    return np.where(lens, v, out)


def _clipped_sphere_volume(z: np.ndarray, r: np.ndarray, z_min: float, z_max: float) -> np.ndarray:
    """Volume of each sphere inside the slab ``z_min <= z <= z_max`` (caps removed analytically)."""

    def cap(h: np.ndarray) -> np.ndarray:  # cap of height h in [0, 2r]
        h = np.clip(h, 0.0, 2.0 * r)
        return math.pi * h * h * (3.0 * r - h) / 3.0

    full = 4.0 / 3.0 * math.pi * r**3
    below = cap(z_min - (z - r))
    above = cap((z + r) - z_max) if math.isfinite(z_max) else 0.0
    return np.maximum(full - below - above, 0.0)


def sphere_union_volume(centers: np.ndarray, radii: np.ndarray, z_min: float = 0.0, z_max: float = math.inf) -> float:
    """Volume of the union of spheres clipped to the slab ``z_min <= z <= z_max`` (µm³).

    Clipped spheres minus pairwise lenses (inclusion-exclusion to second order): exact unless three spheres
    share a point. The lenses are not clipped: a neck lens lies near the middle of its pair, far from the
    collector and the membrane plane for the overlaps used here.
    """
    centers = np.asarray(centers, dtype=float).reshape(-1, 3)
    radii = np.asarray(radii, dtype=float).reshape(-1)
    if radii.size == 0:
        return 0.0
    vol = float(_clipped_sphere_volume(centers[:, 2], radii, z_min, z_max).sum())
    tree = cKDTree(centers)
    pairs = tree.query_pairs(2.0 * float(radii.max()), output_type="ndarray")
    if len(pairs):
        i, j = pairs[:, 0], pairs[:, 1]
        d = np.linalg.norm(centers[i] - centers[j], axis=1)
        vol -= float(lens_volume(d, radii[i], radii[j]).sum())
    return vol


def volume_fraction_3d(particles: Particles, width_um: float, height_um: float) -> float:
    """Volume of the sphere union inside ``[0, W]² x [0, H]`` divided by ``W² H``."""
    return sphere_union_volume(particles.centers, particles.radii, 0.0, height_um) / (width_um**2 * height_um)


# ----------------------------------------------------------------------------------------------------------
# Deposition
# ----------------------------------------------------------------------------------------------------------
def _lognormal(mean: float, std: float) -> tuple[float, float]:
    sigma2 = math.log1p((std / mean) ** 2)
    return math.log(mean) - 0.5 * sigma2, math.sqrt(sigma2)


class _Deposit3D:
    """Sequential deposition of spheres in ``[0, W]² x [0, H]`` (internal; see the module docstring)."""

    def __init__(self, width: float, height: float, overlap: float, gap: float, capacity: int) -> None:
        self.w, self.h, self.o, self.g = width, height, overlap, gap
        self.c = np.empty((capacity, 3))
        self.r = np.empty(capacity)
        self.n = 0
        self.rmax = 0.0

    def _fall(self, x: float, y: float, r: float) -> tuple[np.ndarray, int]:
        """Fall vertically at ``(x, y)`` from above everything; return the first contact and its sphere (-1: floor)."""
        n = self.n
        floor = r * (1.0 - self.o)
        if n == 0:
            return np.array([x, y, floor]), -1
        c = self.c[:n]
        h2 = (c[:, 0] - x) ** 2 + (c[:, 1] - y) ** 2
        dd = ((1.0 - self.o) * (r + self.r[:n])) ** 2
        hit = h2 < dd
        if not hit.any():
            return np.array([x, y, floor]), -1
        zc = np.where(hit, c[:, 2] + np.sqrt(np.where(hit, dd - h2, 0.0)), -math.inf)
        j = int(np.argmax(zc))
        if zc[j] <= floor:
            return np.array([x, y, floor]), -1
        return np.array([x, y, float(zc[j])]), j

    def _project(self, q: np.ndarray, r: float, idx: np.ndarray) -> np.ndarray:
        """Move ``q`` out of every sphere in ``idx`` deeper than the neck, inside the walls, above the floor.

        Alternating projections onto the worst violated constraint: with the small steps of the descent the
        violations are tiny and this converges in a few iterations.
        """
        lo, hi = r + self.g, self.w - r - self.g
        floor = r * (1.0 - self.o)
        c = self.c[idx]
        neck = (1.0 - self.o) * (r + self.r[idx])
        tol = 1e-9 * r
        for _ in range(40):
            q[0] = min(max(q[0], lo), hi)
            q[1] = min(max(q[1], lo), hi)
            q[2] = max(q[2], floor)
            if len(idx) == 0:
                break
            v = q - c
            d = np.sqrt(np.einsum("ij,ij->i", v, v))
            pen = neck - d
            k = int(np.argmax(pen))
            if pen[k] <= tol:
                break
            q = c[k] + v[k] * (neck[k] / max(d[k], 1e-12))
        return q

    def _neighbours(self, p: np.ndarray, r: float) -> np.ndarray:
        """Spheres that the rolling sphere can meet while it moves less than ``r`` from ``p``."""
        n = self.n
        if n == 0:
            return np.zeros(0, dtype=np.intp)
        d = np.sqrt(((self.c[:n] - p) ** 2).sum(axis=1))
        return np.flatnonzero(d < (1.0 - self.o) * (r + self.r[:n]) + 2.0 * r)

    def drop(self, x: float, y: float, r: float, stick: bool) -> np.ndarray:
        """Drop a sphere of radius ``r`` at ``(x, y)``; return its resting centre (not yet validated)."""
        p, j = self._fall(x, y, r)
        if j < 0 or stick:
            return self._capture(p, r)
        floor = r * (1.0 - self.o)
        step = 0.25 * r
        anchor = p.copy()
        idx = self._neighbours(p, r)
        for _ in range(4000):
            if np.abs(p - anchor).max() > 0.5 * r:  # moved far: refresh the neighbour list
                anchor = p.copy()
                idx = self._neighbours(p, r)
            q = p.copy()
            q[2] -= step
            q = self._project(q, r, idx)
            if q[2] <= floor * (1.0 + 1e-12):
                q[2] = floor  # reached the collector: it rests on it (a neck with z = 0)
                return q
            moved = float(np.sqrt(((q - p) ** 2).sum()))
            if moved < 0.01 * step or q[2] >= p[2] - 1e-3 * step:
                step *= 0.5  # blocked (cradled) or oscillating: refine until it rests
                if step < 1e-2 * r:
                    break
            if q[2] < p[2]:
                p = q
        return self._capture(p, r)

    def _capture(self, p: np.ndarray, r: float) -> np.ndarray:
        """Pull the resting sphere onto neighbours left in the forbidden band (closer than the gap, not a neck).

        Such a neighbour would make a near-tangent pair; making it one more neck (moving the sphere along
        the line of centres to the neck distance, then out of the others again) keeps the drop instead of
        rejecting it, and only densifies the deposit.
        """
        idx = self._neighbours(p, r)
        if len(idx) == 0:
            return p
        o, g = self.o, self.g
        for _ in range(4):
            v = p - self.c[idx]
            d = np.sqrt(np.einsum("ij,ij->i", v, v))
            rs = r + self.r[idx]
            bad = (d > (1.0 - o * (1.0 - _NECK_SHALLOW)) * rs) & (d < rs + g)
            if not bad.any():
                break
            k = int(np.argmin(np.where(bad, d - rs, math.inf)))
            q = self.c[idx[k]] + v[k] * ((1.0 - o) * rs[k] / d[k])
            p = self._project(q, r, idx)
        return p

    def valid(self, p: np.ndarray, r: float) -> bool:
        """Does a sphere at ``p`` obey the neck/gap rules against the deposit, the collector and the top?"""
        o, g = self.o, self.g
        if p[2] + r > self.h - g:
            return False
        if min(p[0], p[1]) - r < g * (1 - 1e-9) or max(p[0], p[1]) + r > self.w - g * (1 - 1e-9):
            return False
        floor = r * (1.0 - o)
        if abs(p[2] - floor) > 1e-9 * r and p[2] - r < g:
            return False
        n = self.n
        if n == 0:
            return True
        rs = r + self.r[:n]
        d = np.sqrt(((self.c[:n] - p) ** 2).sum(axis=1))
        rel = d / rs
        touching = (rel >= 1.0 - o * (1.0 + _NECK_DEEP)) & (rel <= 1.0 - o * (1.0 - _NECK_SHALLOW))
        return bool(np.all(touching | (d >= rs + g)))

    def add(self, p: np.ndarray, r: float) -> None:
        self.c[self.n] = p
        self.r[self.n] = r
        self.n += 1
        self.rmax = max(self.rmax, r)


#: Largest number of candidate drops of the densest deposits (looseness -1).
_LOWEST_OF_MAX = 16
#: Number of the lowest-falling candidates that roll (the rest only fall: cheap).
_ROLLED = 4


def deposit_spheres(
    width_um: float,
    height_um: float,
    radius_mean_um: float,
    radius_std_um: float,
    looseness: float,
    rng_seed: int | tuple[int, ...],
    *,
    overlap_fraction: float = 0.05,
    min_gap_um: float | None = None,
    max_consecutive_rejections: int = 40,
) -> Particles:
    """One seeded deposit of spheres (see the module docstring).

    Every drop draws the same numbers from the RNG whatever happens to it (a radius, a sticking draw and
    ``_LOWEST_OF_MAX`` candidate positions), so a change of the looseness changes the deposit smoothly.

    Args:
        width_um: W.
        height_um: H = L_c.
        radius_mean_um: Mean radius.
        radius_std_um: Radius standard deviation (0: monodisperse).
        looseness: ``s`` in ``[-1, 1]``: ``p_stick = max(s, 0)``; below 0, the lowest rest of
            ``1 + round(-15 s)`` candidate drops is kept (see the module docstring).
        rng_seed: Seed of the deposit's RNG stream.
        overlap_fraction: Touching spheres sit at ``(1 - overlap_fraction)(r_i + r_j)``.
        min_gap_um: Gap of the other pairs and to the walls (default 0.1 mean radii).
        max_consecutive_rejections: Stopping criterion K.

    Returns:
        The deposited spheres, in deposition order.
    """
    gap = 0.1 * radius_mean_um if min_gap_um is None else min_gap_um
    rmin = 0.4 * radius_mean_um
    rmax = min(2.0 * radius_mean_um, (height_um - gap) / (2.0 - overlap_fraction), 0.5 * width_um - gap)
    rmax *= 1.0 - 1e-9
    if rmax < rmin:
        raise GeometryError(
            f"geometry: spheres of mean radius {radius_mean_um:g} µm do not fit a {width_um:g} x {width_um:g} x "
            f"{height_um:g} µm cathode box (largest radius allowed {rmax:.3g} µm < smallest drawn {rmin:.3g} µm)"
        )
    s = min(max(float(looseness), -1.0), 1.0)
    p_stick = max(s, 0.0)
    k_drops = 1 + round(-(_LOWEST_OF_MAX - 1) * min(s, 0.0))
    mu, sigma = _lognormal(radius_mean_um, radius_std_um)
    rng = np.random.default_rng(rng_seed)
    capacity = int(width_um * width_um * height_um / (4.0 / 3.0 * math.pi * rmin**3)) + 16
    dep = _Deposit3D(width_um, height_um, overlap_fraction, gap, capacity)
    rejections = 0
    for _ in range(50 * capacity):
        if rejections >= max_consecutive_rejections or dep.n >= capacity:
            break
        radius = float(np.clip(rng.lognormal(mu, sigma), rmin, rmax)) if radius_std_um > 0 else radius_mean_um
        u_stick = float(rng.random())
        u_xy = rng.random((_LOWEST_OF_MAX, 2))
        stick = u_stick < p_stick
        # Lowest of k: the candidates whose vertical falls end lowest (a cheap proxy for the deepest hollows)
        # roll, and the one that rests lowest is kept.
        order = [0]
        if k_drops > 1:
            xy = gap + radius + u_xy[:k_drops] * (width_um - 2.0 * (gap + radius))
            heights = np.array([dep._fall(float(x), float(y), radius)[0][2] for x, y in xy])
            order = np.argsort(heights, kind="stable")[:_ROLLED].tolist()
        best: tuple[float, np.ndarray, float] | None = None
        for m in order:
            u = u_xy[m]
            r = radius
            x, y = gap + r + u * (width_um - 2.0 * (gap + r))
            p = dep.drop(float(x), float(y), r, stick)
            excess = p[2] + r - (height_um - gap)
            if excess > 0.0 and r - excess - 0.02 * radius_mean_um >= rmin:
                # Pokes out of the layer: retry once with the radius that fits (fills the top layer).
                r = r - excess - 0.02 * radius_mean_um
                x, y = gap + r + u * (width_um - 2.0 * (gap + r))
                p = dep.drop(float(x), float(y), r, stick)
            if dep.valid(p, r) and (best is None or p[2] < best[0]):
                best = (float(p[2]), p, r)
        if best is not None:
            dep.add(best[1], best[2])
            rejections = 0
        else:
            rejections += 1
    n = dep.n
    return Particles(dep.c[:n].copy(), dep.r[:n].copy())


_LOOSENESS_MIN, _LOOSENESS_MAX = -1.0, 1.0


def pack_spheres(
    width_um: float,
    height_um: float,
    active_fraction: float,
    radius_mean_um: float,
    radius_std_um: float,
    seed: int,
    *,
    overlap_fraction: float = 0.05,
    min_gap_fraction: float = 0.1,
    tolerance: float = 0.02,
    max_attempts: int = 3,
    max_bisections: int = 8,
) -> PackingResult:
    """Deterministic 3D sphere packing of ``[0, W]² x [0, H]`` reaching ``active_fraction`` within ``tolerance``.

    Bisects the looseness of :func:`deposit_spheres` (one fixed RNG stream per attempt, ``(seed, 3,
    attempt)``); if a stream misses the tolerance, the next sub-stream is tried.

    Args:
        width_um: W (both lateral directions).
        height_um: H = L_c.
        active_fraction: Target volume fraction of the sphere union in the box.
        radius_mean_um: Mean of the lognormal radii.
        radius_std_um: Their standard deviation (0: monodisperse).
        seed: Seed; the same seed gives the same spheres, bit for bit.
        overlap_fraction: Touching spheres sit at centre distance ``(1 - overlap_fraction)(r_i + r_j)``.
        min_gap_fraction: Gap of non-touching pairs and to the walls/planes, in mean radii.
        tolerance: Absolute tolerance on the fraction.
        max_attempts: Number of RNG sub-streams tried.
        max_bisections: Bisection steps per stream.

    Returns:
        The packing (``p_stick`` is that of the accepted deposit, ``capture_um`` 0).

    Raises:
        GeometryError: The fraction cannot be reached; the message names ``geometry.active_fraction``, the
            value, the best reached and why.
    """
    gap = min_gap_fraction * radius_mean_um

    def deposit(attempt: int, looseness: float) -> Particles:
        return deposit_spheres(
            width_um,
            height_um,
            radius_mean_um,
            radius_std_um,
            looseness,
            (int(seed), 3, attempt),
            overlap_fraction=overlap_fraction,
            min_gap_um=gap,
        )

    # Aim inside half the tolerance: the fraction is a noisy function of the looseness, so tighter aims cost
    # many deposits for nothing.
    search = LoosenessSearch(
        deposit, lambda parts: volume_fraction_3d(parts, width_um, height_um), active_fraction, 0.5 * tolerance
    )
    aim = search.aim
    for attempt in range(max_attempts):
        lo, hi = _LOOSENESS_MIN, _LOOSENESS_MAX  # f(lo) > target > f(hi) on average
        f_mid = search.run(attempt, 0.0)  # plain rolling: the usual case, tried first
        if abs(f_mid - active_fraction) > aim:
            if f_mid > active_fraction:
                lo = 0.0
            else:
                hi = 0.0
                if search.run(attempt, _LOOSENESS_MIN) < active_fraction - tolerance:
                    if attempt >= 1:
                        break  # two streams agree that even the densest deposit is too loose
                    continue  # no bisection can reach it on this stream; try the next one once
            search.bisect(attempt, lo, hi, max_bisections if search.best_error > aim else 0)
        if search.done:
            break
    return search.result(
        tolerance,
        "ballistic",
        (width_um, height_um, radius_mean_um, radius_std_um),
        lambda looseness: (max(looseness, 0.0), 0.0),
    )
