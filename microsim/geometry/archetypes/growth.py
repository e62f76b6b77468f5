"""How the particle set is adapted to the membrane: spot growth, and the wet plane kept off near-tangents.

Used by :func:`~microsim.geometry.archetypes.describe` for the archetypes with contact spots (NumPy only).
"""

from __future__ import annotations

import math

import numpy as np

from microsim.errors import GeometryError
from microsim.geometry.measures2d import disk_union_measures

__all__ = ["grow_to_contact", "wet_depth"]


def grow_to_contact(
    centers: np.ndarray,
    radii: np.ndarray,
    reaches: np.ndarray,
    lc: float,
    a: float,
    width: float,
    overlap: float,
    min_feature_um: float,
    wet_gap_um: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Grow the particles that reach ``z = L_c`` to a chord of half-width ``a`` about their fixed centres.

    A particle whose growth would make a *shallow* overlap with another particle (a neck narrower than the
    nominal sintered one: ``r_i + r_j > d > (1 - overlap/2)(r_i + r_j)``, which would need sliver elements in
    the particle) or push it through a side wall is left as it was (it then keeps a void gap under the
    membrane) and reported as blocked. This departs from "grow every particle within the tolerance",
    deliberately: otherwise about a third of the seeds fail. Near-tangent pairs *without* overlap are harmless
    where the pores are void; where they hold electrolyte (infiltrated), a growth that leaves a gap narrower than
    ``wet_gap_um`` (half the packing's minimum gap) is blocked too: a thinner electrolyte film needs slivers.

    Returns:
        The new radii and the mask of blocked particles.

    Raises:
        GeometryError: ``a <= 0``, or ``a`` not smaller than the radius of a particle that reaches the plane,
            or a (file) particle already crossing the plane with a wider chord.
    """
    if a <= 0.0:
        raise GeometryError(f"geometry.contact_radius_um = {a:g}: must be > 0 for point-contact")
    new = radii.copy()
    for i in np.flatnonzero(reaches):
        r, zc = radii[i], centers[i, -1]
        if a >= r:
            raise GeometryError(
                f"point-contact: geometry.contact_radius_um = {a:g} µm is not smaller than the radius "
                f"{r:.4g} µm of particle {i} (centre z = {zc:.4g} µm) that reaches the membrane: the contact "
                "spot would be wider than the particle"
            )
        grown = math.hypot(lc - zc, a)
        if a > grown:  # cannot happen with R'^2 = h^2 + a^2; kept as the documented guard
            raise GeometryError(f"point-contact: contact half-width {a:g} µm > grown radius {grown:.4g} µm")
        if grown < r * (1.0 - 1.0e-9):
            raise GeometryError(
                f"point-contact: particle {i} already crosses z = L_c = {lc:g} µm with a chord half-width "
                f"{math.sqrt(max(r * r - (lc - zc) ** 2, 0.0)):.4g} µm > contact_radius_um = {a:g} µm"
            )
        new[i] = max(grown, r)
    # Accept the growths one at a time (deterministic order) against the radii accepted so far.
    grown_radii, new = new, radii.copy()
    blocked = np.zeros(radii.shape[0], dtype=bool)
    lateral = centers[:, :-1]
    dist = np.sqrt(((centers[:, None, :] - centers[None, :, :]) ** 2).sum(-1))
    arcs_now = _min_arcs(centers, new, lc)
    for i in np.flatnonzero(grown_radii > radii):
        trial = new.copy()
        trial[i] = grown_radii[i]
        r = trial[i]
        crosses_wall = bool(np.any(lateral[i] - r < 0.0) or np.any(lateral[i] + r > width))
        rsum = trial + r
        shallow = (dist[i] < rsum + wet_gap_um) & (dist[i] > (1.0 - overlap / 2.0) * rsum)
        shallow[i] = False
        ok = not crosses_wall and not shallow.any()
        if ok and arcs_now is not None:
            arcs = _min_arcs(centers, trial, lc)
            # A boundary arc shorter than min_feature_um that the growth created (or shortened) is a sliver.
            ok = arcs is not None and not np.any((arcs < min_feature_um) & (arcs < arcs_now - 1e-12))
            if ok:
                arcs_now = arcs
        if ok:
            new = trial
        else:
            blocked[i] = True
    return new, blocked


def _min_arcs(centers: np.ndarray, radii: np.ndarray, lc: float) -> np.ndarray | None:
    """Shortest boundary arc of each particle of the clipped union (2D); None in 3D (not computed)."""
    if centers.shape[1] != 2:
        return None
    return disk_union_measures(centers, radii, 0.0, lc).min_arc_per_particle


def wet_depth(centers: np.ndarray, radii: np.ndarray, lc: float, depth: float, h_gamma: float) -> float:
    """The infiltration depth to mesh: ``depth``, moved the least so the wet plane cuts no sliver cap.

    A plane at distance ``t`` from a particle's top or bottom cuts a cap of radius ``√(2 r t)``; caps narrower
    than a quarter of the interface mesh size need flat, tiny elements, so the plane keeps
    ``t >= (h_Γ/4)² / (2r)`` from every particle's top and bottom. Depths at or beyond ``L_c`` mean "every pore"
    and are returned as ``L_c``.
    """
    if depth >= lc:
        return lc
    z = centers[:, -1]
    clear = np.concatenate([(0.25 * h_gamma) ** 2 / (2.0 * radii)] * 2)
    tangents = np.concatenate([z - radii, z + radii])
    lo, hi = tangents - clear, tangents + clear

    def allowed(zw: float) -> bool:
        return 0.0 < zw < lc and not np.any((lo < zw) & (zw < hi))

    z_asked = lc - depth
    candidates = [z_asked, *lo, *hi]
    ok = [zw for zw in candidates if allowed(zw)]
    if not ok:  # cannot happen for finitely many particles; keep the asked depth
        return depth
    best = min(ok, key=lambda zw: abs(zw - z_asked))
    return lc - best
