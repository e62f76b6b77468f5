"""Seeded particle packings: 2D disks here, 3D spheres by dispatch to :mod:`microsim.geometry.packing3d`.

The exact 2D disk-union measures (:mod:`microsim.geometry.measures2d`), the contact rules and connectivity
(:mod:`microsim.geometry.connectivity`) and the particle CSV format are re-exported here for the callers that
import them from this module.

NumPy only (no gmsh, no MPI), so packings can be built and tested anywhere.

Conventions (µm everywhere): ``x`` lateral in ``[0, W]``; the last coordinate (``y`` in 2D, ``z`` in 3D) runs
through the thickness, ``0`` being the aluminium collector and ``H = L_c`` the top of the cathode layer.

Contact rules shared by every generator and validator here (see :func:`check_gaps`):

* two particles *touch* when they overlap by at least half the nominal overlap; a generated packing puts
  touching particles exactly at centre distance ``(1 - overlap_fraction)(r_i + r_j)``: a sintered neck, so the
  solid is one conducting body and Gmsh never sees tangent circles;
* every other pair keeps a gap ``>= min_gap_fraction * radius_mean`` (no sliver elements);
* a particle on the collector sits at ``z_c = r (1 - overlap_fraction)`` (it cuts ``z = 0`` with a finite
  chord), any other keeps the gap to ``z = 0``; every particle keeps the gap to the side walls.

Disks (2D) are generated here; spheres (3D) by deposition in :mod:`microsim.geometry.packing3d`, which
:func:`pack` dispatches to for ``dim = 3``. Both share the measures, the connectivity, the CSV format and the
looseness search (:mod:`microsim.geometry.search`).
"""

from __future__ import annotations

import math

import numpy as np

from microsim.errors import GeometryError
from microsim.geometry.connectivity import check_gaps, cluster_labels, touches_collector
from microsim.geometry.measures2d import DiskUnionMeasures, area_fraction_2d, disk_union_measures
from microsim.geometry.packing3d import pack_spheres
from microsim.geometry.particles import PackingResult, Particles, read_particles_csv, write_particles_csv
from microsim.geometry.search import LoosenessSearch

__all__ = [
    "DiskUnionMeasures",
    "PackingResult",
    "Particles",
    "area_fraction_2d",
    "check_gaps",
    "cluster_labels",
    "deposit_disks",
    "disk_union_measures",
    "looseness_to_deposition",
    "pack",
    "pack_disks",
    "read_particles_csv",
    "touches_collector",
    "write_particles_csv",
]

# Relative tolerance used to recognise "exactly touching" pairs produced by the deposition (floating point).
_TOUCH_RTOL = 1.0e-9


# ----------------------------------------------------------------------------------------------------------
# 2D deposition
# ----------------------------------------------------------------------------------------------------------
def _lognormal_params(mean: float, std: float) -> tuple[float, float]:
    sigma2 = math.log1p((std / mean) ** 2)
    return math.log(mean) - 0.5 * sigma2, math.sqrt(sigma2)


class _Deposit:
    """Sequential 2D deposition of disks in the box ``[0, W] x [0, H]`` (internal)."""

    def __init__(self, width: float, height: float, overlap: float, gap: float, capacity: int) -> None:
        self.w, self.h, self.o, self.g = width, height, overlap, gap
        self.x = np.empty(capacity)
        self.z = np.empty(capacity)
        self.r = np.empty(capacity)
        self.n = 0

    # ---- one drop ----------------------------------------------------------------------------------------
    def drop(self, x0: float, r: float, stick: bool, capture: float = 0.0) -> tuple[float, float]:
        """Let a disk of radius ``r`` fall at ``x0``; return its resting centre.

        ``capture`` (sticking disks only) is a capture distance: a sticking disk that passes within
        ``contact + capture`` of a deposited disk is pulled onto it (snapped radially to the contact
        distance). It grows lateral branches, hence looser deposits than plain ballistic deposition.
        """
        x, z = x0, math.inf
        support = -1
        first = True
        floor_z = r * (1.0 - self.o)
        for _ in range(10 * self.n + 10):  # each stage lowers the disk: bounded
            n = self.n
            dx = x - self.x[:n]
            contact = (1.0 - self.o) * (r + self.r[:n])
            reach = contact + (capture if (stick and first) else 0.0)
            hit = np.abs(dx) < reach * (1 - 1e-12)
            zc = np.full(n, -math.inf)
            zc[hit] = self.z[:n][hit] + np.sqrt(reach[hit] ** 2 - dx[hit] ** 2)
            if support >= 0:
                zc[support] = -math.inf
            zc[zc > z + 1e-12] = -math.inf  # disks above the current position are not in the way down
            j = int(np.argmax(zc)) if n else -1
            if n == 0 or zc[j] <= floor_z:
                return x, floor_z
            z = float(zc[j])
            if stick and first:
                if capture > 0.0:
                    vx, vz = x - self.x[j], z - self.z[j]
                    scale = contact[j] / math.hypot(vx, vz)
                    return float(self.x[j] + vx * scale), float(self.z[j] + vz * scale)
                return x, z
            first = False
            result = self._roll(j, x, z, r)
            if result[0] == "rest":
                return result[1], result[2]
            _, x, z, support = result
        return x, z  # pragma: no cover - defensive

    def _roll(self, j: int, x: float, z: float, r: float) -> tuple:
        """Roll the disk over support ``j`` (and the supports it meets) until it rests or falls off."""
        o, g = self.o, self.g
        previous = -1
        for _ in range(4 * self.n + 4):
            xj, zj = self.x[j], self.z[j]
            dj = (1.0 - o) * (r + self.r[j])
            s = 1.0 if x >= xj else -1.0
            phi0 = math.atan2(s * (x - xj), z - zj)
            if phi0 >= math.pi / 2 - 1e-12:
                # Touching j at or below its equator: nothing to roll on. Accept the position (it is a valid
                # contact); such wedged configurations are rare and harmless for a geometry generator.
                return ("rest", x, z)
            best_phi, event, other = math.pi / 2, "off", -1
            # Floor.
            cf = (r * (1.0 - o) - zj) / dj
            if 0.0 <= cf < 1.0:
                phi_f = math.acos(cf)
                if phi0 < phi_f < best_phi:
                    best_phi, event = phi_f, "floor"
            # Side wall on the rolling side.
            xw = self.w - g - r if s > 0 else g + r
            sw = s * (xw - xj) / dj
            if 0.0 <= sw <= 1.0:
                phi_w = math.asin(sw)
                if phi0 - 1e-12 <= phi_w < best_phi:
                    best_phi, event = max(phi_w, phi0), "wall"
            # Other disks: intersections of the circle (c_j, d_j) with the circles (c_k, d_k).
            n = self.n
            dxk = self.x[:n] - xj
            dzk = self.z[:n] - zj
            dk = (1.0 - o) * (r + self.r[:n])
            dd = np.hypot(dxk, dzk)
            cand = (dd < dj + dk) & (dd > np.abs(dj - dk)) & (dd > 0)
            cand[j] = False
            if previous >= 0:
                cand[previous] = False
            for k in np.flatnonzero(cand):
                a = (dj * dj - dk[k] ** 2 + dd[k] ** 2) / (2.0 * dd[k])
                hh = math.sqrt(max(dj * dj - a * a, 0.0))
                ux, uz = dxk[k] / dd[k], dzk[k] / dd[k]
                for sign in (1.0, -1.0):
                    px = a * ux - sign * hh * uz
                    pz = a * uz + sign * hh * ux
                    phi = math.atan2(s * px, pz)
                    if phi0 + 1e-10 < phi < best_phi:
                        best_phi, event, other = phi, "disk", int(k)
            px = xj + s * dj * math.sin(best_phi)
            pz = zj + dj * math.cos(best_phi)
            if event in ("floor", "wall"):
                return ("rest", px, pz)
            if event == "off":
                return ("fall", px, pz, j)
            xk = self.x[other]
            if (px - xj) * (px - xk) < 0.0:  # cradled between two supports
                return ("rest", px, pz)
            previous, j, x, z = j, other, px, pz
        return ("rest", x, z)  # pragma: no cover - defensive

    def valid(self, x: float, z: float, r: float) -> bool:
        """Does a disk at (x, z) obey the gap rules against the deposit, the floor and the top?"""
        o, g = self.o, self.g
        if z + r > self.h - g or x - r < g * (1 - 1e-9) or x + r > self.w - g * (1 - 1e-9):
            return False
        floor_z = r * (1.0 - o)
        if abs(z - floor_z) > _TOUCH_RTOL * r and z - r < g:
            return False
        n = self.n
        d = np.hypot(self.x[:n] - x, self.z[:n] - z)
        contact = (1.0 - o) * (r + self.r[:n])
        touching = np.abs(d - contact) <= _TOUCH_RTOL * contact
        return bool(np.all(touching | (d >= r + self.r[:n] + g)))

    def add(self, x: float, z: float, r: float) -> None:
        self.x[self.n], self.z[self.n], self.r[self.n] = x, z, r
        self.n += 1


def deposit_disks(
    width_um: float,
    height_um: float,
    radius_mean_um: float,
    radius_std_um: float,
    p_stick: float,
    rng_seed: int | tuple[int, ...],
    *,
    overlap_fraction: float = 0.05,
    min_gap_um: float | None = None,
    max_consecutive_rejections: int = 60,
    capture_um: float = 0.0,
) -> Particles:
    """One deposit: disks dropped at random x fall until they touch the floor or a deposited disk.

    With probability ``p_stick`` a disk sticks where it first touches (ballistic: porous); otherwise it rolls
    over its supports until it is cradled by two of them, the floor or a wall (dense). Every disk therefore
    touches the floor or an earlier disk: every cluster of the deposit stands on the collector. A disk whose
    resting place would break the gap rules (near-tangent neighbour, wall, top within the gap of ``H``) is
    rejected; a disk too tall for the remaining space is first retried once, shrunk to fit (this fills the
    top layer, so the point-contact archetype finds particles near the membrane). Deposition stops after
    ``max_consecutive_rejections`` rejections in a row.

    The random stream consumes the same numbers per drop whatever ``p_stick`` is, so deposits of one seed
    differ only by the stick decisions: the fraction varies smoothly enough with ``p_stick`` to be bisected.

    Args:
        width_um: Box width W.
        height_um: Box height H (= L_c).
        radius_mean_um: Mean of the lognormal radius distribution.
        radius_std_um: Standard deviation of the lognormal radius distribution (0: monodisperse).
        p_stick: Sticking probability in [0, 1].
        rng_seed: Seed (or seed sequence entropy) of ``numpy.random.default_rng``.
        overlap_fraction: Touching disks sit at centre distance ``(1 - overlap_fraction)(r_i + r_j)``.
        min_gap_um: Minimum gap (default ``0.1 * radius_mean_um``).
        max_consecutive_rejections: Stopping criterion K.
        capture_um: Capture distance of sticking disks (see ``_Deposit.drop``); 0: plain ballistic sticking.

    Returns:
        The deposited disks, in deposition order.
    """
    gap = 0.1 * radius_mean_um if min_gap_um is None else min_gap_um
    rmin, rmax = _radius_bounds(width_um, height_um, radius_mean_um, overlap_fraction, gap)
    mu, sigma = _lognormal_params(radius_mean_um, radius_std_um)
    rng = np.random.default_rng(rng_seed)
    capacity = int(4.0 * width_um * height_um / (math.pi * rmin * rmin)) + 16
    dep = _Deposit(width_um, height_um, overlap_fraction, gap, capacity)
    rejections = 0
    max_drops = 50 * capacity
    for _ in range(max_drops):
        if rejections >= max_consecutive_rejections or dep.n >= capacity:
            break
        # Always draw the same three numbers per drop (see docstring).
        r = float(np.clip(rng.lognormal(mu, sigma), rmin, rmax))
        u_x, u_stick = rng.random(2)
        stick = bool(u_stick < p_stick)
        x0 = gap + r + u_x * (width_um - 2.0 * (gap + r))
        x, z = dep.drop(x0, r, stick, capture_um)
        excess = z + r - (height_um - gap)
        if excess > 0.0 and r - excess - 0.02 * radius_mean_um >= rmin:
            r2 = r - excess - 0.02 * radius_mean_um
            x0 = min(max(x0, gap + r2), width_um - gap - r2)
            x, z = dep.drop(x0, r2, stick, capture_um)
            r = r2
        if dep.valid(x, z, r):
            dep.add(x, z, r)
            rejections = 0
        else:
            rejections += 1
    n = dep.n
    return Particles(np.column_stack([dep.x[:n], dep.z[:n]]), dep.r[:n].copy())


def _radius_bounds(
    width_um: float, height_um: float, radius_mean_um: float, overlap: float, gap: float
) -> tuple[float, float]:
    """Clip range of the radii: [0.4, 2] x mean, and small enough to fit the layer (and the width)."""
    rmin = 0.4 * radius_mean_um
    # A disk on the floor has its top at r (2 - overlap); it must stay below H - gap, and fit between the
    # walls.
    rmax = min(2.0 * radius_mean_um, (height_um - gap) / (2.0 - overlap), height_um / 2.0, 0.5 * width_um - gap)
    rmax *= 1.0 - 1e-9
    if rmax < rmin:
        raise GeometryError(
            f"geometry: particles of mean radius {radius_mean_um:g} µm do not fit a {width_um:g} x "
            f"{height_um:g} µm cathode box (largest radius allowed {rmax:.3g} µm < smallest drawn "
            f"{rmin:.3g} µm)"
        )
    return rmin, rmax


def looseness_to_deposition(looseness: float, radius_mean_um: float) -> tuple[float, float]:
    """Map the scalar looseness ``s`` in [0, 2] to ``(p_stick, capture_um)``.

    ``s`` in [0, 1]: ``p_stick = s`` without capture (rolling -> ballistic); ``s`` in [1, 2]: ballistic with a
    capture distance growing to 1.5 mean radii (ballistic -> branched). The fraction decreases with ``s`` (on
    average), from about 0.8 to about 0.22 for the default 2D box.
    """
    s = min(max(looseness, 0.0), 2.0)
    return min(s, 1.0), max(s - 1.0, 0.0) * _CAPTURE_MAX_RADII * radius_mean_um


_CAPTURE_MAX_RADII = 1.5
_LOOSENESS_MAX = 2.0


def pack_disks(
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
    max_attempts: int = 4,
    max_bisections: int = 14,
) -> PackingResult:
    """Deterministic 2D packing reaching ``active_fraction`` of ``[0, W] x [0, H]`` within ``tolerance``.

    Bisects the looseness of :func:`deposit_disks` (see :func:`looseness_to_deposition`; one fixed RNG stream
    per attempt): looseness 0 gives the densest deposit (rolling), 1 ballistic deposition, 2 ballistic with
    lateral capture (the loosest). If a stream misses the tolerance (the fraction is a noisy function of the
    looseness), the next sub-stream ``(seed, attempt)`` is tried. Every deposit is one body per tree, each
    tree standing on the collector.

    Args:
        width_um: W.
        height_um: H = L_c.
        active_fraction: Target area fraction.
        radius_mean_um: Mean radius.
        radius_std_um: Radius standard deviation.
        seed: Seed; the same seed gives the same packing.
        overlap_fraction: Overlap of touching disks.
        min_gap_fraction: Minimum gap as a fraction of the mean radius.
        tolerance: Absolute tolerance on the fraction.
        max_attempts: Number of RNG sub-streams tried.
        max_bisections: Bisection steps per stream.

    Returns:
        The packing.

    Raises:
        GeometryError: The fraction cannot be reached (the message names ``geometry.active_fraction``, the
            value asked, the best reached and why).
    """
    gap = min_gap_fraction * radius_mean_um

    def deposit(attempt: int, looseness: float) -> Particles:
        p_stick, capture = looseness_to_deposition(looseness, radius_mean_um)
        return deposit_disks(
            width_um,
            height_um,
            radius_mean_um,
            radius_std_um,
            p_stick,
            (int(seed), attempt),
            overlap_fraction=overlap_fraction,
            min_gap_um=gap,
            capture_um=capture,
        )

    # Aim well inside the tolerance; accept the best deposit if it is inside it at the end.
    search = LoosenessSearch(
        deposit, lambda parts: area_fraction_2d(parts, width_um, height_um), active_fraction, 0.25 * tolerance
    )
    for attempt in range(max_attempts):
        f_dense = search.run(attempt, 0.0)
        f_loose = search.run(attempt, _LOOSENESS_MAX)
        if search.done:
            break
        out_of_range = active_fraction > f_dense + tolerance or active_fraction < f_loose - tolerance
        if out_of_range and attempt >= 1:
            break  # two streams agree that the target is out of reach: no need to try more
        search.bisect(attempt, 0.0, _LOOSENESS_MAX, max_bisections)
        if search.done:
            break
    return search.result(
        tolerance,
        "branched ballistic",
        (width_um, height_um, radius_mean_um, radius_std_um),
        lambda looseness: looseness_to_deposition(looseness, radius_mean_um),
    )


#: Largest packing the packers accept (memory and meshing time grow with it).
MAX_PARTICLES = 5_000  # the pair computations are dense (O(N²) memory): a cell list would lift this


def pack(
    dim: int,
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
) -> PackingResult:
    """Dimension-dispatching packing entry point: 2D disks (:func:`pack_disks`), 3D spheres (``pack_spheres``).

    Raises:
        GeometryError: ``dim`` not 2 or 3, the box needs more than :data:`MAX_PARTICLES` particles, or the
            fraction cannot be reached.
    """
    if dim in (2, 3):
        # refuse boxes that would need millions of particles before allocating anything for them
        per_particle = math.pi * radius_mean_um**2 if dim == 2 else 4.0 / 3.0 * math.pi * radius_mean_um**3
        n_estimate = active_fraction * width_um ** (dim - 1) * height_um / per_particle
        if not n_estimate <= MAX_PARTICLES:
            raise GeometryError(
                f"geometry.width_um = {width_um:g}, geometry.cathode_thickness_um = {height_um:g}, "
                f"geometry.radius_mean_um = {radius_mean_um:g}: the packing would need about {n_estimate:.3g} "
                f"particles; at most {MAX_PARTICLES} are allowed (use a smaller box or larger particles)"
            )
    if dim == 2:
        return pack_disks(
            width_um,
            height_um,
            active_fraction,
            radius_mean_um,
            radius_std_um,
            seed,
            overlap_fraction=overlap_fraction,
            min_gap_fraction=min_gap_fraction,
            tolerance=tolerance,
        )
    if dim == 3:
        return pack_spheres(
            width_um,
            height_um,
            active_fraction,
            radius_mean_um,
            radius_std_um,
            seed,
            overlap_fraction=overlap_fraction,
            min_gap_fraction=min_gap_fraction,
            tolerance=tolerance,
        )
    raise GeometryError(f"geometry.dim = {dim}: expected 2 or 3")
