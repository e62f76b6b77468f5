"""Conformal contact of a soft membrane pressed onto the top of the particle packing (docs/model.md §1.4).

The solver for an ``elastic`` contact mode; the archetypes do not use it yet (Hertz and fixed spots do).

The membrane is a linear elastic half-space (Young's modulus ``E``, Poisson's ratio ``ν``) pressed with the mean
stack pressure ``P`` onto the rigid top surface of the packing, ``z = h(x)``: the highest particle surface above
each point of the membrane plane (LiFePO4 is about 4e4 times stiffer than a PEO membrane, so the particles do not
deform). The frictionless, non-adhesive contact problem, find the surface pressure ``p ≥ 0`` and the gap
``g ≥ 0`` with ``p g = 0`` and mean ``p = P``, is solved with the boundary-element solver of tamaas (Polonsky &
Keer's constrained conjugate gradient, the half-space's influence by FFT on a laterally periodic grid; Frérot,
Anciaux, Rey, Molinari, JOSS 5 (2020) 2121). Unlike Hertz it holds for any number of touching particles and any
contact size, as long as the half-space's small-slope assumption does: the contact's largest surface slope is
reported (``max_contact_slope``) so that a user sees when a conforming membrane wraps particles so steeply that
linear half-space theory is stretched.

The result says which particles touch, the area of each one's contact patch, the contact fraction of the
membrane and how deep below the highest summit the membrane reaches (``intrusion_depth_um``). Pure NumPy plus
tamaas (sequential): run it on one rank, like Gmsh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from microsim.errors import GeometryError

__all__ = ["ElasticContact", "HeightMap", "solve_elastic_contact", "top_height_map"]

#: Grid points per particle radius (smallest) below which a height map is refused: the patch of a touching
#: particle must be resolved (the contact area converges as the square of the spacing, tests/unit).
MIN_POINTS_PER_RADIUS = 4
#: Relative tolerance of tamaas' solver (the mean pressure is met to this).
SOLVER_TOLERANCE = 1e-12
#: A contact slope above this (45°) is reported as outside the small-slope assumption of half-space theory.
SMALL_SLOPE_LIMIT = 1.0


@dataclass(frozen=True, eq=False)
class HeightMap:
    """The rigid top surface of the packing on a regular periodic grid of the membrane plane.

    Attributes:
        heights_um: ``(n,)`` (2D cell: a line) or ``(n, n)`` (3D cell) surface heights ``h(x)``, µm above the
            collector; 0 where no particle lies below the point.
        owner: same shape, index of the particle that forms the surface there, -1 for none.
        spacing_um: grid spacing.
        width_um: lateral size of the (square) cell.
        slope: same shape, the surface slope ``|∇h|`` of the particle that forms it (exact for spheres); None:
            finite differences of the heights.
    """

    heights_um: np.ndarray
    owner: np.ndarray
    spacing_um: float
    width_um: float
    slope: np.ndarray | None = None

    def slopes(self) -> np.ndarray:
        """``|∇h|`` on the grid (the exact sphere slopes where known)."""
        if self.slope is not None:
            return self.slope
        g = np.gradient(self.heights_um, self.spacing_um)
        parts = g if isinstance(g, (list, tuple)) else [g]
        return np.sqrt(sum(part**2 for part in parts))

    @property
    def cell_measure_um(self) -> float:
        """Length (2D cell) or area (3D cell) of one grid point, µm^(d-1)."""
        return self.spacing_um**self.heights_um.ndim


def top_height_map(centers: np.ndarray, radii: np.ndarray, width_um: float, n: int) -> HeightMap:
    """The packing's top surface ``h(x) = max_i (z_i + √(r_i² − |x − x_i|²))`` on an ``n`` (per side) grid.

    Args:
        centers: ``(N, dim)`` particle centres, µm; the last coordinate is the height above the collector.
        radii: ``(N,)`` radii, µm.
        width_um: lateral size ``W`` of the cell (3D: ``W × W``), µm.
        n: grid points per side (cell centres of a regular grid on ``[0, W)``).

    Raises:
        GeometryError: no particles, or a grid too coarse to resolve the smallest particle.
    """
    centers = np.asarray(centers, dtype=float)
    radii = np.asarray(radii, dtype=float).reshape(-1)
    if radii.size == 0:
        raise GeometryError("elastic contact: the packing has no particles")
    h = width_um / n
    if float(radii.min()) / h < MIN_POINTS_PER_RADIUS:
        need = math.ceil(MIN_POINTS_PER_RADIUS * width_um / float(radii.min()))
        raise GeometryError(
            f"elastic contact: a grid of {n} points per side over {width_um:g} µm does not resolve particles of "
            f"radius {float(radii.min()):g} µm; use at least {need}"
        )
    dim = centers.shape[1]
    x = (np.arange(n) + 0.5) * h
    pts = np.stack(np.meshgrid(*([x] * (dim - 1)), indexing="ij"), axis=-1)  # (n[, n], dim-1)
    heights = np.zeros(pts.shape[:-1])
    owner = np.full(pts.shape[:-1], -1, dtype=int)
    slope = np.zeros(pts.shape[:-1])
    for i, (c, r) in enumerate(zip(centers, radii, strict=True)):
        d2 = np.sum((pts - c[:-1]) ** 2, axis=-1)
        inside = d2 < r * r
        cap = np.sqrt(np.where(inside, r * r - d2, 1.0))
        top = np.where(inside, c[-1] + cap, -np.inf)
        higher = top > heights
        heights = np.where(higher, top, heights)
        owner = np.where(higher, i, owner)
        slope = np.where(higher, np.sqrt(d2) / cap, slope)  # a sphere's |∇h| = d / √(r² − d²)
    return HeightMap(heights, owner, h, width_um, slope)


@dataclass(frozen=True, eq=False)
class ElasticContact:
    """The solved contact of the membrane with the packing.

    Attributes:
        pressure_MPa: surface pressure on the grid (0 outside the contact).
        contact: boolean contact mask on the grid.
        contact_fraction: contact area / membrane area.
        touching: indices of the particles that touch the membrane.
        patch_um: per touching particle, the contact patch's length (2D) or area (3D), µm^(d-1).
        patch_radius_um: per touching particle, the radius of the disc (3D) or half the length (2D) of its patch.
        intrusion_depth_um: how far below the highest summit the membrane touches (highest minus lowest
            contacted height).
        approach_um: how far the membrane surface under the highest summit moves relative to its least displaced
            point (Hertz's approach ``δ = a²/R`` less the far-field deflection there, for one sphere).
        max_contact_slope: the largest surface slope ``|∇h|`` inside the contact (small-slope check).
        stack_pressure_MPa, modulus_MPa, poisson_ratio: the inputs.
    """

    pressure_MPa: np.ndarray
    contact: np.ndarray
    contact_fraction: float
    touching: np.ndarray
    patch_um: np.ndarray
    patch_radius_um: np.ndarray
    intrusion_depth_um: float
    approach_um: float
    max_contact_slope: float
    stack_pressure_MPa: float
    modulus_MPa: float
    poisson_ratio: float

    @property
    def within_small_slopes(self) -> bool:
        """Whether the contact stays inside the small-slope assumption of half-space theory."""
        return self.max_contact_slope <= SMALL_SLOPE_LIMIT

    def summary(self) -> dict[str, float | int | bool]:
        """The scalar statistics, unit-tagged (for geometry.json)."""
        return {
            "stack_pressure_MPa": self.stack_pressure_MPa,
            "membrane_modulus_MPa": self.modulus_MPa,
            "membrane_poisson_ratio": self.poisson_ratio,
            "contact_fraction": self.contact_fraction,
            "touching_particles": int(self.touching.size),
            "intrusion_depth_um": self.intrusion_depth_um,
            "approach_um": self.approach_um,
            "max_contact_slope": self.max_contact_slope,
            "within_small_slopes": self.within_small_slopes,
        }


def _check_positive(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0.0:
        raise GeometryError(f"{name} = {value!r}: must be a finite number > 0")
    return v


def solve_elastic_contact(
    hmap: HeightMap, stack_pressure_MPa: float, modulus_MPa: float, poisson_ratio: float
) -> ElasticContact:
    """Press an elastic half-space onto the rigid surface ``hmap`` with the mean pressure ``P``.

    Args:
        hmap: the packing's top surface (:func:`top_height_map`).
        stack_pressure_MPa: mean pressure ``P`` over the membrane, MPa.
        modulus_MPa: the membrane's Young's modulus ``E``, MPa (tamaas uses ``E* = E / (1 − ν²)``).
        poisson_ratio: the membrane's ``ν`` in [0, 0.5).

    Raises:
        GeometryError: a non-positive or non-finite pressure or modulus, ``ν`` outside [0, 0.5), or a pressure
            that pushes the membrane down to the collector (the cell is then filled, not point contact).
    """
    import tamaas as tm

    pressure = _check_positive("stack pressure [MPa]", stack_pressure_MPa)
    modulus = _check_positive("membrane modulus [MPa]", modulus_MPa)
    nu = float(poisson_ratio)
    if not (0.0 <= nu < 0.5):
        raise GeometryError(f"membrane Poisson's ratio = {poisson_ratio!r}: must be in [0, 0.5)")
    tm.set_log_level(tm.LogLevel.error)
    heights = np.ascontiguousarray(hmap.heights_um, dtype=float)
    n = heights.shape
    kind = tm.model_type.basic_1d if heights.ndim == 1 else tm.model_type.basic_2d
    model = tm.ModelFactory.createModel(kind, [hmap.width_um] * heights.ndim, list(n))
    model.E, model.nu = modulus, nu
    solver = tm.PolonskyKeerRey(model, heights, SOLVER_TOLERANCE)
    solver.max_iter = 10_000
    solver.solve(pressure)
    p = np.array(model.traction, dtype=float).reshape(n)
    u = np.array(model.displacement, dtype=float).reshape(n)
    contact = p > 1e-9 * pressure
    if not contact.any():  # cannot happen for P > 0; guards a solver failure
        raise GeometryError(f"elastic contact: no contact found at {pressure:g} MPa")
    touched = hmap.owner[contact]
    if (touched < 0).any():
        raise GeometryError(
            f"contact.stack_pressure_MPa = {pressure:g} with contact.membrane_modulus_MPa = {modulus:g}: the "
            "elastic membrane reaches the current collector between the particles, i.e. it fills the cathode: use "
            "geometry.interface = 'filled' (or a lower pressure or a stiffer membrane)"
        )
    touching, counts = np.unique(touched, return_counts=True)
    patch = counts * hmap.cell_measure_um
    radius = np.sqrt(patch / math.pi) if heights.ndim == 2 else patch / 2.0
    slope = hmap.slopes()
    return ElasticContact(
        pressure_MPa=p,
        contact=contact,
        contact_fraction=float(contact.mean()),
        touching=touching,
        patch_um=patch,
        patch_radius_um=radius,
        intrusion_depth_um=float(heights.max() - heights[contact].min()),
        approach_um=float(u.flat[int(np.argmax(heights))] - u.min()),
        max_contact_slope=float(slope[contact].max()),
        stack_pressure_MPa=pressure,
        modulus_MPa=modulus,
        poisson_ratio=nu,
    )
