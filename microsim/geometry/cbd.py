"""Layout of a resolved carbon-binder domain (CBD) around given particles (2D and 3D; NumPy and SciPy only).

Two morphologies (docs/model.md §1.6):

* ``necks``: balls (2D: disks) of one radius ``ρ`` centred in the middle of every particle|particle contact or
  gap narrower than ``ρ``, and of every particle|collector contact or gap narrower than ``ρ`` (centred on the
  axis, half-way down to ``z = 0``). Outside the particles they are the fillets and bridges PVDF and carbon black
  form where particles meet, and they connect particles that do not touch.
* ``coating``: a film of thickness ``t`` on a cap of each particle: the shell ``r < |x − c| < r + t`` on the
  side ``(x − c)·n ≥ r (1 − 2s)`` of a plane, with ``n`` a seeded random direction per particle. ``s`` is the
  share of each sphere's surface under the film (exact in 3D: a sphere zone's area is linear in its height); a
  full shell would leave no particle|electrolyte interface, hence the cap.

The CBD is the union of those bodies inside the cathode box, minus the particles. Its volume fraction of the
cathode layer is set to ``geometry.cbd_fraction`` by choosing ``ρ`` (necks) or ``s`` (coating): both
fractions grow monotonically with their parameter, so the parameter is a quantile of a per-point threshold on a
regular grid of cell centres (the exact inverse of the grid estimate, no bisection needed). The Gmsh builder
measures the fraction of the exact bodies afterwards (geometry.json ``cbd.fraction_measured``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microsim.errors import GeometryError

__all__ = [
    "CBD_IONIC",
    "CBD_PLACEMENTS",
    "COATING",
    "MAX_COATING_COVERAGE",
    "MAX_NECK_RADIUS_RADII",
    "NECKS",
    "CBDLayout",
    "layout_cbd",
]

NECKS, COATING = "necks", "coating"
#: The values of ``geometry.cbd_placement``.
CBD_PLACEMENTS = (NECKS, COATING)
#: The values of ``geometry.cbd_ionic``: the CBD blocks ions, or conducts them through its nanopores.
CBD_IONIC = ("blocking", "nanoporous")
#: Largest neck radius, in mean particle radii: beyond it a "neck" is a lump that engulfs whole particles.
MAX_NECK_RADIUS_RADII = 1.5
#: Largest share of a particle's surface under the coating film: some particle|electrolyte interface must remain.
MAX_COATING_COVERAGE = 0.9
# Grid spacing of the fraction estimate, in mean radii (2D, 3D); the point count is capped for large boxes.
_GRID_SPACING_RADII = {2: 0.05, 3: 0.12}
_MAX_GRID_POINTS = 2_000_000


@dataclass(frozen=True, eq=False)
class CBDLayout:
    """The CBD bodies the Gmsh builder makes (µm).

    Attributes:
        placement: ``necks`` or ``coating``.
        ionic: ``blocking`` or ``nanoporous``.
        target_fraction: ``geometry.cbd_fraction``.
        fraction_estimate: Grid estimate of the CBD volume fraction of the cathode layer with these bodies.
        neck_radius_um: Necks: ``ρ``; coating: 0.
        thickness_um: Coating: film thickness ``t``; necks: 0.
        coverage: Coating: ``s``, the share of each particle's surface under the film; necks: 0.
        neck_centers: ``(K, dim)`` neck centres (necks).
        neck_contacts: ``(K, 2)`` the particles each neck joins (``-1`` as the second: the collector).
        coat_normals: ``(N, dim)`` unit normal of each particle's film cap (coating).
        coat_offsets_um: ``(N,)`` offset ``r (1 − 2s)`` of the cap's plane from the centre along the normal.
        grid_spacing_um: Spacing of the estimate's grid.
    """

    placement: str
    ionic: str
    target_fraction: float
    fraction_estimate: float
    neck_radius_um: float = 0.0
    thickness_um: float = 0.0
    coverage: float = 0.0
    neck_centers: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    neck_contacts: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=int))
    coat_normals: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    coat_offsets_um: np.ndarray = field(default_factory=lambda: np.zeros(0))
    grid_spacing_um: float = 0.0

    @property
    def nanoporous(self) -> bool:
        """Whether the CBD carries electrolyte (its cells then belong to the electrolyte too)."""
        return self.ionic == "nanoporous"

    def stats(self) -> dict[str, Any]:
        """The ``cbd`` entry of geometry.json (the builder adds the measured values)."""
        return {
            "placement": self.placement,
            "ionic": self.ionic,
            "target_fraction": self.target_fraction,
            "fraction_estimate": self.fraction_estimate,
            "neck_radius_um": self.neck_radius_um if self.placement == NECKS else None,
            "n_necks": len(self.neck_centers) if self.placement == NECKS else None,
            "n_collector_necks": int(np.count_nonzero(self.neck_contacts[:, 1] < 0))
            if self.placement == NECKS
            else None,
            "thickness_um": self.thickness_um if self.placement == COATING else None,
            "coverage": self.coverage if self.placement == COATING else None,
            "grid_spacing_um": self.grid_spacing_um,
        }


def _grid(dim: int, width_um: float, lc: float, r_mean: float) -> tuple[np.ndarray, float]:
    """Cell centres of a regular grid over the cathode box and its spacing."""
    h = _GRID_SPACING_RADII[dim] * r_mean
    volume = width_um ** (dim - 1) * lc
    h = max(h, (volume / _MAX_GRID_POINTS) ** (1.0 / dim))
    axes = [np.arange(0.5 * h, width_um, h)] * (dim - 1) + [np.arange(0.5 * h, lc, h)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, dim)
    return pts, h


def _pairs_within(pts: np.ndarray, centers: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (point, centre) pair closer than ``reach``: point indices, centre indices, distances."""
    from scipy.spatial import cKDTree  # local: SciPy only where a CBD is asked for

    if len(centers) == 0 or len(pts) == 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0)
    coo = cKDTree(pts).sparse_distance_matrix(cKDTree(centers), reach, output_type="coo_matrix")
    return np.asarray(coo.row), np.asarray(coo.col), np.asarray(coo.data)


def _outside_particles(pts: np.ndarray, centers: np.ndarray, radii: np.ndarray) -> np.ndarray:
    p, k, dist = _pairs_within(pts, centers, float(radii.max()))
    inside = np.zeros(len(pts), dtype=bool)
    inside[p[dist < radii[k]]] = True
    return ~inside


def _neck_candidates(
    centers: np.ndarray, radii: np.ndarray, rho_max: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres, activation gaps and contacts of all necks that some ``ρ <= rho_max`` creates."""
    from scipy.spatial import cKDTree

    dim = centers.shape[1]
    c_list: list[np.ndarray] = []
    gaps: list[float] = []
    contacts: list[tuple[int, int]] = []
    tree = cKDTree(centers)
    pairs = tree.query_pairs(2.0 * float(radii.max()) + rho_max, output_type="ndarray")
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))] if len(pairs) else pairs
    for i, j in pairs:
        d_vec = centers[j] - centers[i]
        dist = float(np.linalg.norm(d_vec))
        gap = dist - radii[i] - radii[j]
        if gap < rho_max:
            # the middle of the gap (of the lens, for overlapping particles) on the line of centres
            c_list.append(centers[i] + d_vec / dist * (radii[i] + 0.5 * gap))
            gaps.append(max(gap, 0.0))
            contacts.append((int(i), int(j)))
    for i in range(len(radii)):
        gap = float(centers[i, -1] - radii[i])
        if gap < rho_max:
            c = centers[i].copy()
            c[-1] = 0.5 * max(gap, 0.0)
            c_list.append(c)
            gaps.append(max(gap, 0.0))
            contacts.append((i, -1))
    if not c_list:
        return np.zeros((0, dim)), np.zeros(0), np.zeros((0, 2), dtype=int)
    return np.asarray(c_list), np.asarray(gaps), np.asarray(contacts, dtype=int)


def _min_threshold(pts: np.ndarray, centers: np.ndarray, reach: float, value: Any) -> np.ndarray:
    """``min_k value(p, k, |x_p − c_k|)`` over the bodies ``k`` within ``reach`` of each point ``p`` (inf: none)."""
    out = np.full(len(pts), np.inf)
    p, k, dist = _pairs_within(pts, centers, reach)
    if len(p):
        np.minimum.at(out, p, value(p, k, dist))
    return out


def layout_cbd(
    dim: int,
    width_um: float,
    cathode_thickness_um: float,
    centers: np.ndarray,
    radii: np.ndarray,
    *,
    fraction: float,
    placement: str,
    thickness_um: float,
    ionic: str,
    seed: int,
    radius_mean_um: float,
) -> CBDLayout:
    """Size the CBD bodies so that their volume fraction of the cathode layer is ``fraction``.

    Args:
        dim: 2 or 3.
        width_um: W.
        cathode_thickness_um: L_c.
        centers: ``(N, dim)`` particle centres.
        radii: ``(N,)`` particle radii.
        fraction: ``geometry.cbd_fraction`` (> 0).
        placement: ``geometry.cbd_placement``.
        thickness_um: ``geometry.cbd_thickness_um`` (coating).
        ionic: ``geometry.cbd_ionic``.
        seed: ``geometry.seed`` (the coating caps' directions).
        radius_mean_um: Mean particle radius (grid spacing, largest neck).

    Returns:
        The layout.

    Raises:
        GeometryError: Unknown placement, or the fraction cannot be reached (naming the key and the best reached).
    """
    if placement not in CBD_PLACEMENTS:
        raise GeometryError(f"geometry.cbd_placement = {placement!r}: expected one of {', '.join(CBD_PLACEMENTS)}")
    centers = np.asarray(centers, dtype=float).reshape(-1, dim)
    radii = np.asarray(radii, dtype=float)
    pts, h = _grid(dim, width_um, cathode_thickness_um, radius_mean_um)
    pore = _outside_particles(pts, centers, radii)
    pts_pore = pts[pore]
    n_all = len(pts)
    if placement == NECKS:
        rho_max = MAX_NECK_RADIUS_RADII * radius_mean_um
        nc, gaps, contacts = _neck_candidates(centers, radii, rho_max)
        # a point lies in the CBD at radius ρ when some neck is active (gap < ρ) and within ρ of it
        m = _min_threshold(pts_pore, nc, rho_max, lambda p, k, dist: np.maximum(gaps[k], dist))
        param, best = _quantile(m, fraction, n_all, rho_max)
        if param is None:
            raise GeometryError(
                f"geometry.cbd_fraction = {fraction:g}: unreachable with cbd_placement = 'necks' at this packing "
                f"(at most {best:.4g} with the largest neck radius {rho_max:g} µm = "
                f"{MAX_NECK_RADIUS_RADII:g} x radius_mean_um); use a smaller cbd_fraction or cbd_placement = "
                "'coating'"
            )
        active = gaps < param
        return CBDLayout(
            placement=placement,
            ionic=ionic,
            target_fraction=fraction,
            fraction_estimate=float(np.count_nonzero(m < param)) / n_all,
            neck_radius_um=param,
            neck_centers=nc[active],
            neck_contacts=contacts[active],
            coat_normals=np.zeros((0, dim)),
            grid_spacing_um=h,
        )
    t = float(thickness_um)
    rng = np.random.default_rng([int(seed), 0xCBD])
    normals = rng.normal(size=(len(radii), dim))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)

    def share(p: np.ndarray, k: np.ndarray, dist: np.ndarray) -> np.ndarray:
        # the smallest s that puts point p under particle k's film; inf outside its shell
        rel = pts_pore[p] - centers[k]
        s = 0.5 * (1.0 - np.einsum("ij,ij->i", rel, normals[k]) / radii[k])
        return np.where(dist < radii[k] + t, np.maximum(s, 0.0), np.inf)

    m = _min_threshold(pts_pore, centers, float(radii.max()) + t, share)
    param, best = _quantile(m, fraction, n_all, MAX_COATING_COVERAGE)
    if param is None:
        raise GeometryError(
            f"geometry.cbd_fraction = {fraction:g}: unreachable with cbd_placement = 'coating' and "
            f"cbd_thickness_um = {t:g} at this packing (at most {best:.4g} with {MAX_COATING_COVERAGE:g} of each "
            "particle's surface covered); use a thicker film (geometry.cbd_thickness_um) or a smaller cbd_fraction"
        )
    return CBDLayout(
        placement=placement,
        ionic=ionic,
        target_fraction=fraction,
        fraction_estimate=float(np.count_nonzero(m <= param)) / n_all,
        thickness_um=t,
        coverage=param,
        coat_normals=normals,
        coat_offsets_um=radii * (1.0 - 2.0 * param),
        grid_spacing_um=h,
    )


def _quantile(m: np.ndarray, fraction: float, n_all: int, cap: float) -> tuple[float | None, float]:
    """The parameter at which ``fraction`` of all grid points have a threshold below it (None: above ``cap``)."""
    finite = np.sort(m[np.isfinite(m)])
    best = float(np.count_nonzero(finite < cap)) / n_all
    k = math.ceil(fraction * n_all)
    if k < 1 or k > len(finite) or finite[k - 1] >= cap:
        return None, best
    # just above the k-th threshold: exactly k points are inside (ties aside)
    lo = float(finite[k - 1])
    hi = float(finite[k]) if k < len(finite) else cap
    # strictly above lo: a neck whose activation gap is the k-th threshold must be active (ties: many points share
    # the gap of a bridge as their threshold)
    param = 0.5 * (lo + hi) if hi > lo else lo * (1.0 + 1.0e-9) + 1.0e-12
    return min(param, cap), best
