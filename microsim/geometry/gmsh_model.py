"""GeometryDescription -> tagged, meshed Gmsh OCC model.

Runs on one rank only (the caller distributes the mesh with ``dolfinx.io.gmsh.model_to_mesh``); no MPI here.
The caller owns ``gmsh.initialize()`` / ``gmsh.finalize()``; :func:`build_model` adds a fresh model and leaves
it current.

Construction (µm):

1. the cathode box ``[0, W] x [0, L_c]`` and the membrane box ``[0, W] x [L_c, L_c + L_m]`` (3D: ``W x W``);
   infiltrated: plus the wet pore, the box ``z_w < z < L_c`` less the particles (so the wet plane never cuts a
   particle);
2. the particles (disks / spheres; each sphere turned so that its parametrisation's poles avoid its necks and
   cuts, :func:`pole_axes`); in point-contact and infiltrated those reaching the membrane are cut by the
   half-space ``z > L_c`` so the membrane stays one flat-bottomed body and Γ is the flat chord (no sliver
   cap);
3. the particles are fused (overlapping particles form one body: no internal particle|particle curves and no
   thin lens elements), then everything is fragmented so all interfaces are conforming;
4. each fragment is classified from the fragment map: particle (child of a particle, inside the cathode box),
   pore (child of the cathode box only; void in point-contact and outside the wet pore, removed), gas void
   (child of a void body of ``geometry.pore_fill_fraction < 1``: the ball less the particles, removed),
   membrane (child of the membrane box); pore pockets the voids cut off from every particle and the membrane
   are removed too; particle pieces below ``z = 0`` are removed;
5. each facet (curve in 2D, surface in 3D) is classified from its adjacent cells: particle|electrolyte ->
   INTERFACE, particle boundary on ``z = 0`` -> COLLECTOR, electrolyte boundary on the top -> ANODE, anything
   else (particle|particle, pore|membrane, walls, void boundaries) -> untagged.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from microsim import tags
from microsim.errors import GeometryError
from microsim.geometry.archetypes import GeometryDescription
from microsim.geometry.measures2d import disk_union_measures

__all__ = ["build_model"]

# Elements across the narrowest point-contact chord (2D: the chord length).
_ELEMENTS_PER_CHORD = 8
# 3D spots (lengths in units of the spot radius a), at spot_mesh_level s = 1: size on the spot's edge circle,
# where the current density of an equipotential spot is singular, size on the spot, and the grading slope away
# from them in the membrane. Level s scales them by s, sqrt(s), sqrt(s): every error term is then first order in
# s (the graded family of scripts/holm_convergence.py). At s = 1 the Holm constriction of a lone spot comes out
# 8 % low with ~13k cells, at s = 1/4 2 % low (converging from below at first order); the former rule (a/6 on
# the spot, slope 1/2) gave 10 % low with 18k cells.
_SPOT_EDGE_SIZE = 0.1
_SPOT_SIZE = 0.35
_SPOT_SLOPE = 0.28
# On the particle side of a spot the (metallic) solid needs no resolution, only a smooth transition.
_SPOT_PARTICLE_SLOPE = 0.5


def _set_options(gmsh: Any, dim: int, h: float) -> None:
    """Meshing options: deterministic, sizes from the background field only."""
    gmsh.option.setNumber("General.NumThreads", 1)  # determinism: identical meshes run to run
    gmsh.option.setNumber("Mesh.Algorithm", 6)  # Frontal-Delaunay (2D and the surfaces of 3D)
    if dim == 3:
        gmsh.option.setNumber("Mesh.Algorithm3D", 1)  # Delaunay: serial and deterministic
    # The background field alone sets the sizes (point sizes and curvature would override it unevenly).
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeMax", h)


# 3D surface meshing attempts, in order: (algorithm, Gmsh's switch to MeshAdapt on a failed surface). A surface
# mesh that overlaps itself is only found by the 3D mesher, after the whole surface mesh is done ("invalid
# boundary mesh (overlapping facets)"), and each attempt rebuilds the model from scratch: on the 984-sphere paper
# cell a failed attempt costs 45 s. Delaunay with the switch (5, 1) meshed, at its first try, all 14 packings of
# 40-80 spheres tried (2 interfaces x 7 seeds, poles turned by pole_axes), the 984-sphere paper cell (where
# (6, 0) and (5, 0) failed, poles turned) and the 1,076-sphere default cell (where both failed, poles not
# turned). Frontal-Delaunay without the switch (6, 0) failed on 1 of the 14. Gmsh 4.15's MeshAdapt fallback
# crashed the process (SIGSEGV) after Frontal-Delaunay failed, (6, 1), on 2 of 24 point-contact packings of the
# wall study (which (5, 1) meshed), and plain MeshAdapt (1, 0) crashed on a 40-sphere point-contact cell: (6, 1)
# stays last and MeshAdapt alone is not tried.
_SURFACE_ATTEMPTS = ((5, 1), (6, 0), (5, 0), (6, 1))


class _MeshingFailed(Exception):
    """One meshing attempt failed."""


def _generate(gmsh: Any, dim: int, algorithm: int, switch: int) -> None:
    """``gmsh.model.mesh.generate(dim)`` with one attempt's surface algorithm; raise if anything stays empty."""
    gmsh.option.setNumber("Mesh.Algorithm", algorithm)
    gmsh.option.setNumber("Mesh.AlgorithmSwitchOnFailure", switch)
    try:
        gmsh.model.mesh.generate(dim)
    except Exception as exc:  # gmsh raises a plain Exception with its last error message
        raise _MeshingFailed(str(exc)) from exc
    # without the switch a failed surface is left empty, and so is the volume behind it
    empty = [t for _, t in gmsh.model.getEntities(dim) if _count_elements(gmsh, dim, [t]) == 0]
    if empty:
        raise _MeshingFailed(f"{len(empty)} {'volume' if dim == 3 else 'surface'}(s) left without elements")


# Candidate pole axes of a sphere: a Fibonacci lattice on the unit sphere (both poles of an axis are judged).
_N_AXES = 400


def pole_axes(desc: GeometryDescription) -> np.ndarray:
    """For each sphere the axis (unit vector) whose two poles lie farthest from everything near the sphere.

    An OCC sphere is parametrised with its poles on its axis. Where a pole lies close to a neck circle, a spot,
    the collector cut or a near neighbour, Gmsh's Frontal-Delaunay and Delaunay surface meshes of the patch
    overlap themselves, which the 3D mesher refuses ("invalid boundary mesh (overlapping facets)", "a segment
    and a facet intersect"): all three failures located this way (two packings of 135 and 40 spheres) were at
    a pole next to a neck. So each sphere is turned (a rigid rotation: the geometry is unchanged) to keep its
    poles away: the axis maximises the smallest angular clearance of both poles from the circles where the
    sphere meets or nears each neighbour, the planes z = 0 and z = L_c and the side walls.
    """
    k = np.arange(_N_AXES) + 0.5
    polar = np.arccos(1.0 - 2.0 * k / _N_AXES)
    azimuth = math.pi * (1.0 + math.sqrt(5.0)) * k
    cand = np.c_[np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)]
    centers, radii = np.asarray(desc.centers, dtype=float), np.asarray(desc.radii, dtype=float)
    w, lc = desc.width_um, desc.cathode_thickness_um
    near = 0.2 * float(np.mean(radii)) if len(radii) else 0.0  # what counts as near (beyond the gap)
    axes = np.zeros_like(centers)
    for i, (c, r) in enumerate(zip(centers, radii, strict=True)):
        dirs, caps = [], []  # obstacle directions and the angular radius of the cap each one marks
        dist = np.linalg.norm(centers - c, axis=1)
        for j in np.flatnonzero((dist < r + radii + near) & (dist > 0.0)):
            dj, rj = dist[j], radii[j]
            dirs.append((centers[j] - c) / dj)
            cos_cap = (dj * dj + r * r - rj * rj) / (2.0 * dj * r)  # > 1: no intersection, a point
            caps.append(math.acos(min(1.0, max(-1.0, cos_cap))))
        # planes: the cut (or nearest) circle of z = 0, z = L_c and the walls
        for normal, height in (
            ((0.0, 0.0, -1.0), c[2]),
            ((0.0, 0.0, 1.0), lc - c[2]),
            ((-1.0, 0.0, 0.0), c[0]),
            ((1.0, 0.0, 0.0), w - c[0]),
            ((0.0, -1.0, 0.0), c[1]),
            ((0.0, 1.0, 0.0), w - c[1]),
        ):
            if height < r + near:
                dirs.append(np.array(normal))
                caps.append(math.acos(min(1.0, max(-1.0, height / r))))
        if not dirs:
            axes[i] = (0.0, 0.0, 1.0)
            continue
        cos = cand @ np.array(dirs).T  # (candidates, obstacles)
        cap = np.array(caps)
        clearance = np.minimum(np.arccos(np.clip(cos, -1.0, 1.0)), np.arccos(np.clip(-cos, -1.0, 1.0))) - cap
        axes[i] = cand[int(np.argmax(clearance.min(axis=1)))]
    return axes


def _turn_poles(occ: Any, tag: int, centre: np.ndarray, axis: np.ndarray) -> None:
    """Rotate the sphere ``tag`` about its centre so that its polar axis (z) becomes ``axis``."""
    turn = np.cross([0.0, 0.0, 1.0], axis)
    norm = float(np.linalg.norm(turn))
    if norm < 1.0e-12:
        if axis[2] < 0.0:
            occ.rotate([(3, tag)], *map(float, centre), 1.0, 0.0, 0.0, math.pi)
        return
    angle = math.atan2(norm, float(axis[2]))
    occ.rotate([(3, tag)], *map(float, centre), *map(float, turn / norm), angle)


def _add_particles(gmsh: Any, desc: GeometryDescription) -> list[tuple[int, int]]:
    """Create the particle bodies (cut at z = L_c where they reach the membrane) and fuse them."""
    occ = gmsh.model.occ
    d, lc = desc.dim, desc.cathode_thickness_um
    bodies: list[tuple[int, int]] = []
    seams = np.zeros(desc.n_particles)
    axes = pole_axes(desc) if d == 3 else np.zeros((desc.n_particles, 3))
    if d == 2:
        seams = disk_union_measures(desc.centers, desc.radii, 0.0, lc).seam_angle_per_particle
    for c, r, reaches, seam, axis in zip(desc.centers, desc.radii, desc.reaches_membrane, seams, axes, strict=True):
        if d == 2:
            tag = occ.addDisk(float(c[0]), float(c[1]), 0.0, float(r), float(r))
            if seam != 0.0:
                # Hide the circle's seam vertex inside the union (see DiskUnionMeasures).
                occ.rotate([(2, tag)], float(c[0]), float(c[1]), 0.0, 0.0, 0.0, 1.0, float(seam))
        else:
            tag = occ.addSphere(float(c[0]), float(c[1]), float(c[2]), float(r))
            _turn_poles(occ, tag, c, axis)
        body = [(d, tag)]
        if reaches:
            # Remove the cap above z = L_c: that space belongs to the (flat-bottomed) membrane.
            if d == 2:
                cap = occ.addRectangle(float(c[0] - 2 * r), lc, 0.0, float(4 * r), float(2 * r))
            else:
                cap = occ.addBox(float(c[0] - 2 * r), float(c[1] - 2 * r), lc, float(4 * r), float(4 * r), float(2 * r))
            body, _ = occ.cut(body, [(d, cap)])
        bodies.extend(body)
    if len(bodies) > 1:
        bodies, _ = occ.fuse(bodies[:1], bodies[1:])
    return bodies


def _add_voids(gmsh: Any, desc: GeometryDescription, particles: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The gas voids of a partly filled layer (disks / spheres less the particles; none when fully filled).

    The particles are cut out of the voids (kept themselves), so a void never splits a particle: the particle
    surface inside a void is a void boundary, not Γ, once the void cells are removed.
    """
    if desc.n_voids == 0:
        return []
    occ = gmsh.model.occ
    d = desc.dim
    balls = []
    for c, r in zip(desc.void_centers, desc.void_radii, strict=True):
        if d == 2:
            balls.append((2, occ.addDisk(float(c[0]), float(c[1]), 0.0, float(r), float(r))))
        else:
            balls.append((3, occ.addSphere(float(c[0]), float(c[1]), float(c[2]), float(r))))
    voids, _ = occ.cut(balls, particles, removeObject=True, removeTool=False)
    # a void may cross a side wall: keep its part in the cathode box
    if d == 2:
        box = occ.addRectangle(0.0, 0.0, 0.0, desc.width_um, desc.cathode_thickness_um)
    else:
        box = occ.addBox(0.0, 0.0, 0.0, desc.width_um, desc.width_um, desc.cathode_thickness_um)
    voids, _ = occ.intersect(voids, [(d, box)], removeObject=True, removeTool=True)
    return list(voids)


def _add_cbd(gmsh: Any, desc: GeometryDescription, particles: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Create the carbon-binder bodies of ``desc.cbd``: fused, minus the particles, inside the cathode box.

    Necks are balls (2D: disks) of the layout's radius; a coating film is a ball of radius ``r + t`` cut by the
    half-space of its cap (a box on the far side of the cap's plane, turned to the cap's normal). Both are made
    whole, fused, and only then cut by the (kept) particle bodies, so the film never subdivides a particle.
    """
    occ = gmsh.model.occ
    lay = desc.cbd
    if lay is None:
        return []
    d, w, lc = desc.dim, desc.width_um, desc.cathode_thickness_um
    bodies: list[tuple[int, int]] = []
    if lay.placement == "necks":
        rho = lay.neck_radius_um
        for c in lay.neck_centers:
            if d == 2:
                bodies.append((2, occ.addDisk(float(c[0]), float(c[1]), 0.0, rho, rho)))
            else:
                bodies.append((3, occ.addSphere(float(c[0]), float(c[1]), float(c[2]), rho)))
    else:
        t = lay.thickness_um
        for c, r, n, off in zip(desc.centers, desc.radii, lay.coat_normals, lay.coat_offsets_um, strict=True):
            big = 4.0 * (float(r) + t)
            if d == 2:
                ball = occ.addDisk(float(c[0]), float(c[1]), 0.0, float(r) + t, float(r) + t)
                # the half-plane y' >= off in the frame whose y' axis is n, then turned and moved to the centre
                half = occ.addRectangle(-0.5 * big, float(off), 0.0, big, big)
                occ.rotate([(2, half)], 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, math.atan2(-float(n[0]), float(n[1])))
            else:
                ball = occ.addSphere(float(c[0]), float(c[1]), float(c[2]), float(r) + t)
                half = occ.addBox(-0.5 * big, -0.5 * big, float(off), big, big, big)
                axis = np.cross([0.0, 0.0, 1.0], n)
                angle = math.acos(max(-1.0, min(1.0, float(n[2]))))
                if np.linalg.norm(axis) < 1.0e-12:
                    axis = np.array([1.0, 0.0, 0.0])  # n = ±z: any axis normal to z
                occ.rotate([(3, half)], 0.0, 0.0, 0.0, float(axis[0]), float(axis[1]), float(axis[2]), angle)
            occ.translate([(d, half)], float(c[0]), float(c[1]), float(c[2]) if d == 3 else 0.0)
            cap, _ = occ.intersect([(d, ball)], [(d, half)])
            bodies.extend(cap)
    if not bodies:
        return []
    if lay.placement == "necks":
        # no union: OCC's fuse of hundreds of mutually overlapping balls gave broken solids (the default 3D cell
        # at fraction 0.05 kept a tenth of the volume) or failed. Each ball is cut by the particles alone; the
        # final fragment resolves the overlaps (CBD|CBD faces are interior, untagged) and the classification
        # clips to the cathode box.
        pieces, _ = occ.cut(bodies, particles, removeTool=False)
        return list(pieces)
    if len(bodies) > 1:
        bodies, _ = occ.fuse(bodies[:1], bodies[1:])
    # clip each fused body by its own box: with several objects OCC's common keeps only what they share with
    # each other as well (measured: 27 neck bodies of 10.0 µm³ in the default 3D cell came out as 1.4 µm³)
    clipped: list[tuple[int, int]] = []
    for body in bodies:
        box = occ.addRectangle(0.0, 0.0, 0.0, w, lc) if d == 2 else occ.addBox(0.0, 0.0, 0.0, w, w, lc)
        part, _ = occ.intersect([body], [(d, box)])
        clipped.extend(part)
    bodies = clipped
    if bodies:
        bodies, _ = occ.cut(bodies, particles, removeTool=False)
    return list(bodies)


def _reaching(gmsh: Any, bodies: list[tuple[int, int]], z: float) -> list[tuple[int, int]]:
    """The bodies whose bounding box reaches above the height ``z`` (the thickness axis)."""
    axis = _thickness_axis(bodies[0][0]) if bodies else 0
    return [b for b in bodies if gmsh.model.occ.getBoundingBox(*b)[axis + 3] > z]


def _classify_cells(
    gmsh: Any, desc: GeometryDescription
) -> tuple[list[int], list[int], list[int], list[tuple[int, int]], list[int]]:
    """Build and fragment the model; return particle, pore, membrane cells, the entities to remove, CBD cells."""
    occ = gmsh.model.occ
    d, w, lc, lm = desc.dim, desc.width_um, desc.cathode_thickness_um, desc.membrane_thickness_um
    if d == 2:
        cath = occ.addRectangle(0.0, 0.0, 0.0, w, lc)
        memb = occ.addRectangle(0.0, lc, 0.0, w, lm)
    else:
        cath = occ.addBox(0.0, 0.0, 0.0, w, w, lc)
        memb = occ.addBox(0.0, 0.0, lc, w, w, lm)
    arch = desc.archetype
    if not arch.has_particles:
        _, out_map = occ.fragment([(d, cath)], [(d, memb)])
        return [t for _, t in out_map[0]], [], [t for _, t in out_map[1]], [], []
    # where the electrolyte-filled pores begin (None: the pores are void)
    z_w = arch.pore_electrolyte_bottom_um(desc)
    bodies = _add_particles(gmsh, desc)
    boxes = [(d, cath)]
    if z_w is not None and z_w > 0.0:
        # the wet pore, ``z_w < z < L_c`` less the particles (kept), so the wet plane splits the pore alone:
        # particles cut by it gave slivers the 3D mesher left empty or facets it found overlapping (the
        # full-width conventional paper cell, seeds 2 and 3)
        wet = occ.addRectangle(0.0, z_w, 0.0, w, lc - z_w) if d == 2 else occ.addBox(0.0, 0.0, z_w, w, w, lc - z_w)
        tools = _reaching(gmsh, bodies, z_w)
        wet_pore = occ.cut([(d, wet)], tools, removeObject=True, removeTool=False)[0] if tools else [(d, wet)]
        boxes += list(wet_pore)
    voids = _add_voids(gmsh, desc, bodies)
    cbd_bodies = _add_cbd(gmsh, desc, bodies)
    _, out_map = occ.fragment([*boxes, (d, memb)], bodies + voids + cbd_bodies)
    nb = len(boxes)
    box_children = [{t for _, t in out_map[k]} for k in range(nb)]
    cath_children = box_children[0]
    memb_children = {t for _, t in out_map[nb]}
    part_children: set[int] = set()
    for children in out_map[nb + 1 : nb + 1 + len(bodies)]:
        part_children.update(t for _, t in children)
    n_parts = nb + 1 + len(bodies)
    void_children = {t for children in out_map[n_parts : n_parts + len(voids)] for _, t in children}
    # the pores that hold electrolyte: those of the upper (or only) cathode box less the gas voids, or none
    wet_children: set[int] = set()
    if z_w is not None:
        wet_children = (set().union(*box_children[1:]) if z_w > 0.0 else box_children[0]) - void_children
    cbd_children: set[int] = set()
    for children in out_map[n_parts + len(voids) :]:
        cbd_children.update(t for _, t in children)
    # the CBD was cut by the particles and clipped to the cathode box: what is left is CBD only
    cbd = sorted((cbd_children & cath_children) - part_children)
    if part_children & memb_children:
        raise GeometryError(
            f"gmsh: {len(part_children & memb_children)} particle piece(s) lie in the membrane (a particle "
            "crosses z = L_c where it should not)"
        )
    particle = sorted(part_children & cath_children)
    outside = sorted(part_children - cath_children - memb_children)  # below the collector
    # unclipped CBD pieces (necks) beyond the cathode box: below the collector or outside the side walls; those
    # above z = L_c are membrane children and stay membrane
    outside += sorted(cbd_children - cath_children - memb_children - part_children)
    pore = sorted(wet_children - part_children - set(cbd))
    void = sorted(cath_children - part_children - set(pore) - set(cbd))
    membrane = sorted(memb_children - part_children)
    remove = [(d, t) for t in outside]
    remove += [(d, t) for t in void]  # void pores are not meshed
    if not particle:
        raise GeometryError("gmsh: no particle piece inside the cathode layer")
    if desc.cbd is not None and not cbd:
        raise GeometryError("gmsh: the carbon-binder bodies left no piece in the cathode layer")
    return particle, pore, membrane, remove, cbd


def _thickness_axis(dim: int) -> int:
    """Index of the through-thickness coordinate in a Gmsh bounding box (y in 2D, z in 3D)."""
    return 1 if dim == 2 else 2


def _classify_facets(
    gmsh: Any, desc: GeometryDescription, particle: list[int], electrolyte: list[int], cbd: list[int] | None = None
) -> tuple[list[int], list[int], list[int], dict[int, list[int]]]:
    """Return the interface, collector and anode facet entities, from each facet's adjacent cells.

    With a carbon-binder domain (``cbd`` cells) the last item holds its facets by tag: particle|CBD, CBD|pore
    (the CBD's cells are not electrolyte cells here even when it is nanoporous) and CBD|collector.
    """
    d = desc.dim
    axis = _thickness_axis(d)
    top = desc.total_thickness_um
    tol = 1.0e-6 * max(desc.width_um, top)
    is_p, is_e, is_c = set(particle), set(electrolyte), set(cbd or [])
    interface, collector, anode = [], [], []
    cbd_facets: dict[int, list[int]] = {tags.PARTICLE_CBD: [], tags.CBD_ELECTROLYTE: [], tags.CBD_COLLECTOR: []}
    for _, f in gmsh.model.getEntities(d - 1):
        up, _ = gmsh.model.getAdjacencies(d - 1, f)
        cells = [int(c) for c in up]
        n_p = sum(c in is_p for c in cells)
        n_e = sum(c in is_e for c in cells)
        box = gmsh.model.getBoundingBox(d - 1, f)
        lo, hi = box[axis], box[axis + 3]
        if len(cells) == 2 and n_p == 1 and n_e == 1:
            interface.append(f)
        elif len(cells) == 1 and n_p == 1 and hi < tol:
            collector.append(f)
        elif len(cells) == 1 and n_e == 1 and lo > top - tol:
            anode.append(f)
        elif is_c:
            n_c = sum(c in is_c for c in cells)
            if len(cells) == 2 and n_c == 1 and n_p == 1:
                cbd_facets[tags.PARTICLE_CBD].append(f)
            elif len(cells) == 2 and n_c == 1 and n_e == 1:
                cbd_facets[tags.CBD_ELECTROLYTE].append(f)
            elif len(cells) == 1 and n_c == 1 and hi < tol:
                cbd_facets[tags.CBD_COLLECTOR].append(f)
    return interface, collector, anode, cbd_facets


def _spot_facets(gmsh: Any, desc: GeometryDescription, interface: list[int]) -> list[int]:
    """The Γ facets that are contact spots: those lying in the membrane plane ``z = L_c``."""
    axis = _thickness_axis(desc.dim)
    lc = desc.cathode_thickness_um
    tol = 1.0e-6 * max(desc.width_um, desc.total_thickness_um)
    spots = []
    for f in interface:
        box = gmsh.model.getBoundingBox(desc.dim - 1, f)
        if abs(box[axis] - lc) < tol and abs(box[axis + 3] - lc) < tol:
            spots.append(f)
    return spots


def _mesh_fields(
    gmsh: Any,
    desc: GeometryDescription,
    fine: list[int],
    chords: list[int],
    chord_sizes: list[float],
    membrane: list[int],
    workdir: Path | None = None,
) -> float:
    """Size fields: fine on Γ and the collector, finer on small chords / spots; return the chord/spot size.

    Γ and the collector: a Distance + Threshold field in 2D; in 3D (with ``workdir``) the same grading sampled
    on a structured grid (:func:`_surface_size_grid`). 2D: a threshold on the chords (``_ELEMENTS_PER_CHORD``
    across the narrowest). 3D: graded fields around each spot's edge circle and the spot, restricted to the
    membrane, plus a coarser grading on the particle side.
    """
    field = gmsh.model.mesh.field
    d = desc.dim
    h, hg = desc.mesh_size_um, min(desc.interface_mesh_size_um, desc.mesh_size_um)
    list_name = "CurvesList" if d == 2 else "SurfacesList"
    longest = max((gmsh.model.occ.getMass(d - 1, f) for f in fine), default=1.0)
    if d == 3:
        longest = math.sqrt(longest)
    # Distance is sampled at points on each entity: keep the spacing below half the fine size.
    sampling = int(min(2000 if d == 2 else 200, max(20, math.ceil(longest / (0.5 * hg)))))
    thresholds = []

    def threshold(entities: list[int], size: float, dist_min: float) -> None:
        dist = field.add("Distance")
        field.setNumbers(dist, list_name, entities)
        field.setNumber(dist, "Sampling", sampling)
        thr = field.add("Threshold")
        field.setNumber(thr, "InField", dist)
        field.setNumber(thr, "SizeMin", size)
        field.setNumber(thr, "SizeMax", h)
        field.setNumber(thr, "DistMin", dist_min)
        # Grade sizes at slope 1/2: smooth transition, few badly shaped elements.
        field.setNumber(thr, "DistMax", dist_min + 2.0 * (h - size))
        thresholds.append(thr)

    if fine and d == 3 and workdir is not None:
        thresholds.append(_surface_size_grid(gmsh, desc, fine, hg, h, workdir))
    elif fine:
        threshold(fine, hg, hg)
    chord_size = hg
    if chords and d == 2:
        chord_size = min(hg, min(chord_sizes) / _ELEMENTS_PER_CHORD)
        if chord_size < hg:
            threshold(chords, chord_size, 0.25 * min(chord_sizes))
    elif chords:
        a = 0.5 * min(chord_sizes)  # 3D chord sizes are spot diameters
        s = desc.spot_mesh_level
        he, hs, slope = _SPOT_EDGE_SIZE * a * s, _SPOT_SIZE * a * math.sqrt(s), _SPOT_SLOPE * math.sqrt(s)
        he, hs = min(hg, he), min(hg, hs)
        edge = sorted({abs(int(t)) for _, t in gmsh.model.getBoundary([(2, f) for f in chords], oriented=False)})
        d_edge = field.add("Distance")
        field.setNumbers(d_edge, "CurvesList", edge)
        field.setNumber(d_edge, "Sampling", int(4.0 * math.pi * a / he) + 20)
        d_spot = field.add("Distance")
        field.setNumbers(d_spot, "SurfacesList", chords)
        field.setNumber(d_spot, "Sampling", int(4.0 * a / hs) + 10)
        graded = field.add("MathEval")
        field.setString(graded, "F", f"min({h}, {he} + {slope}*F{d_edge}, {hs} + {slope}*F{d_spot})")
        in_membrane = field.add("Restrict")
        field.setNumber(in_membrane, "InField", graded)
        field.setNumbers(in_membrane, "VolumesList", membrane)
        field.setNumber(in_membrane, "IncludeBoundary", 1)
        solid_side = field.add("MathEval")
        field.setString(solid_side, "F", f"min({h}, {he} + {_SPOT_PARTICLE_SLOPE}*F{d_edge})")
        thresholds += [in_membrane, solid_side]
        chord_size = he
    if thresholds:
        mn = field.add("Min")
        field.setNumbers(mn, "FieldsList", thresholds)
        field.setAsBackgroundMesh(mn)
    return chord_size


# The 3D fine-surface size grid: spacing in units of the fine size, and the most nodes it may have (the spacing
# grows beyond that; 8M nodes are 64 MB of doubles).
_GRID_SPACING = 1.0
_GRID_MAX_NODES = 8_000_000


def _surface_size_grid(
    gmsh: Any, desc: GeometryDescription, fine: list[int], hg: float, h: float, workdir: Path
) -> int:
    """A Gmsh ``Structured`` field: size ``hg`` within ``hg`` of the fine surfaces, graded at slope 1/2 to ``h``.

    The same grading as the 2D Distance + Threshold field, but Gmsh's Distance field samples every surface with
    OCC point evaluations and trimming tests before meshing starts: 74 s of a 186 s meshing of the 984-sphere
    paper cell. Here the distance is a lower bound computed in NumPy on a regular grid: to a sphere patch the
    larger of the distance to its sphere and to its bounding box, to any other surface the distance to its
    bounding box. Every node's size is taken at its distance less the grid's half-diagonal, so the
    trilinear interpolation Gmsh does between nodes never gives a larger size than the exact grading would; the
    fine band comes out a little wider (by the half-diagonal).
    """
    top = desc.total_thickness_um
    lo = np.array([0.0, 0.0, 0.0])
    hi = np.array([desc.width_um, desc.width_um, top])
    step = _GRID_SPACING * hg
    while np.prod(np.ceil((hi - lo) / step) + 3) > _GRID_MAX_NODES:
        step *= 1.25
    n = (np.ceil((hi - lo) / step) + 3).astype(int)
    origin = lo - step
    axes = [origin[k] + step * np.arange(n[k]) for k in range(3)]
    dist_max = hg + 2.0 * (h - hg)  # beyond: size h
    dist = np.full(tuple(n), np.inf)
    for f in fine:
        box = np.array(gmsh.model.getBoundingBox(2, f))
        b_lo, b_hi = box[:3], box[3:]
        # the grid window that can be within dist_max of the surface
        i0 = np.maximum(np.floor((b_lo - dist_max - origin) / step).astype(int), 0)
        i1 = np.minimum(np.ceil((b_hi + dist_max - origin) / step).astype(int) + 1, n)
        x, y, z = np.meshgrid(*(axes[k][i0[k] : i1[k]] for k in range(3)), indexing="ij")
        gap = [np.maximum(np.maximum(b_lo[k] - c, c - b_hi[k]), 0.0) for k, c in enumerate((x, y, z))]
        d = np.sqrt(gap[0] ** 2 + gap[1] ** 2 + gap[2] ** 2)
        if gmsh.model.getType(2, f) == "Sphere":
            centre, radius = _sphere_of(gmsh, f)
            r = np.sqrt((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2)
            d = np.maximum(d, np.abs(r - radius))
        window = dist[i0[0] : i1[0], i0[1] : i1[1], i0[2] : i1[2]]
        np.minimum(window, d, out=window)
    reach = np.maximum(dist - 0.5 * math.sqrt(3.0) * step, 0.0)
    size = np.clip(hg + 0.5 * (reach - hg), hg, h)
    path = workdir / "surface-sizes.bin"
    with path.open("wb") as out:
        out.write(origin.astype("<f8").tobytes())
        out.write(np.full(3, step).astype("<f8").tobytes())
        out.write(n.astype("<i4").tobytes())
        out.write(np.ascontiguousarray(size, dtype="<f8").tobytes())  # last index fastest, as Gmsh reads it
    field = gmsh.model.mesh.field
    grid = field.add("Structured")
    field.setString(grid, "FileName", str(path))
    field.setNumber(grid, "TextFormat", 0)
    field.setNumber(grid, "SetOutsideValue", 1)
    field.setNumber(grid, "OutsideValue", h)
    return grid


def _sphere_of(gmsh: Any, surface: int) -> tuple[np.ndarray, float]:
    """Centre and radius of the sphere a spherical OCC patch lies on (least squares through nine of its points)."""
    lo, hi = gmsh.model.getParametrizationBounds(2, surface)
    uv = np.array(
        [[lo[0] + a * (hi[0] - lo[0]), lo[1] + b * (hi[1] - lo[1])] for a in (0.2, 0.5, 0.8) for b in (0.2, 0.5, 0.8)]
    )
    pts = np.asarray(gmsh.model.getValue(2, surface, uv.ravel().tolist())).reshape(-1, 3)
    a = np.c_[2.0 * pts, np.ones(len(pts))]
    sol = np.linalg.lstsq(a, (pts**2).sum(axis=1), rcond=None)[0]
    centre = sol[:3]
    return centre, float(math.sqrt(sol[3] + centre @ centre))


def _count_elements(gmsh: Any, dim: int, entities: list[int]) -> int:
    n = 0
    for e in entities:
        _, elem_tags, _ = gmsh.model.mesh.getElements(dim, e)
        n += sum(len(t) for t in elem_tags)
    return n


def _flood(facets_of: dict[int, set[int]], pieces: list[int], seeds: set[int]) -> set[int]:
    """The ``pieces`` reachable from ``seeds`` through shared facets (the seeds included)."""
    reached = set(seeds)
    frontier = list(seeds)
    while frontier:
        c = frontier.pop()
        for other in pieces:
            if other not in reached and facets_of[c] & facets_of[other]:
                reached.add(other)
                frontier.append(other)
    return reached


def _orphan_pores(gmsh: Any, dim: int, pore: list[int], particle: list[int], membrane: list[int]) -> list[int]:
    """Pore pieces that touch neither the membrane nor a particle through electrolyte.

    They are cut off by gas voids or enclosed by a blocking carbon-binder. Such a pocket has no Γ and no
    electrolyte path to the Li metal: its potential would be undetermined (a pure-Neumann block). It carries no
    current; the caller removes it (voids) or makes it binder (the binder fills it). Connected through shared
    facets.
    """
    if not pore:
        return []
    facets_of = {c: {abs(int(f)) for f in gmsh.model.getAdjacencies(dim, c)[1]} for c in pore + particle + membrane}
    anchor = set().union(*(facets_of[c] for c in particle + membrane))
    reached = _flood(facets_of, pore, {c for c in pore if facets_of[c] & anchor})
    return [c for c in pore if c not in reached]


def _isolated_pores(gmsh: Any, dim: int, pore: list[int], membrane: list[int]) -> tuple[int, float]:
    """Pore pieces not connected to the membrane through electrolyte (count, area/volume)."""
    if not pore:
        return 0, 0.0
    facets_of = {c: {int(f) for f in gmsh.model.getAdjacencies(dim, c)[1]} for c in pore + membrane}
    reached = _flood(facets_of, pore, set(membrane))
    isolated = [c for c in pore if c not in reached]
    return len(isolated), float(sum(gmsh.model.occ.getMass(dim, c) for c in isolated))


def build_model(desc: GeometryDescription, report: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build, tag and mesh the geometry in a new Gmsh model (``gmsh.initialize()`` done by the caller).

    Physical groups: cells ``tags.PARTICLE``, ``tags.ELECTROLYTE_PORE`` (filled only),
    ``tags.ELECTROLYTE_MEMBRANE``; facets ``tags.INTERFACE``, ``tags.COLLECTOR``, ``tags.ANODE``. The group
    number is the tag number, the group name the one of ``tags.CELL_NAMES`` / ``tags.FACET_NAMES``.

    Args:
        desc: The geometry (a new Gmsh model named ``microsim`` is added to the module-level ``gmsh.model``
            and left current).
        report: called with the name of each meshing attempt before it starts (a crash names its attempt).

    Returns:
        Info: ``n_nodes``, ``n_elements`` (cells), ``n_cells`` and ``n_facets`` per tag name, measured
        ``interface_length_um`` (2D) or ``interface_area_um2`` (3D), ``collector_measure_um``,
        ``anode_measure_um``, ``particle_measure`` (area/volume), ``active_fraction_measured``,
        ``chord_lengths_um`` (point-contact, 2D: length of each Γ curve; 3D: area of each spot),
        ``chord_mesh_size_um``, ``n_isolated_pores`` and ``isolated_pore_fraction`` (filled: pore area not
        connected to the membrane through electrolyte / pore area), ``min_element_quality`` (minSICN),
        ``n_voids``, ``n_orphan_pores_removed`` (pockets cut off by voids touching neither a particle nor the
        membrane) and ``wet_pore_fraction`` (with voids: electrolyte / pore measure of the layer, exact),
        ``time_geometry_s`` (the OCC model, its classification and the size fields), ``time_size_fields_s``,
        ``time_mesh_s`` (Gmsh's 1D-3D meshing of the successful attempt), ``time_failed_attempts_s``.

    Raises:
        GeometryError: The model cannot be built as described.
    """
    import gmsh  # local: keep the package importable without gmsh

    attempts = _SURFACE_ATTEMPTS if desc.dim == 3 else ((6, 1),)
    errors: list[str] = []
    t_failed = 0.0
    for algorithm, switch in attempts:
        t0 = time.perf_counter()
        if report is not None:
            report(_attempt_name(algorithm, switch, len(errors) + 1, len(attempts)))
        try:
            info = _build(gmsh, desc, algorithm, switch)
            info["surface_algorithm"] = algorithm
            info["meshing_attempts"] = len(errors) + 1
            info["time_failed_attempts_s"] = t_failed
            return info
        except _MeshingFailed as exc:
            t_failed += time.perf_counter() - t0
            errors.append(f"{_attempt_name(algorithm, switch)}: {exc}")
            # a failed mesh leaves state behind that gmsh.clear() does not remove (the next attempt then meshes
            # nothing): restart Gmsh, keeping the caller's verbosity
            terminal = gmsh.option.getNumber("General.Terminal")
            gmsh.finalize()
            gmsh.initialize()
            gmsh.option.setNumber("General.Terminal", terminal)
    raise GeometryError(
        "gmsh could not mesh the geometry (" + "; ".join(errors) + "); another geometry.seed or a slightly "
        "different geometry.width_um or geometry.interface_mesh_size_um usually meshes"
    )


def _attempt_name(algorithm: int, switch: int, k: int | None = None, n: int | None = None) -> str:
    """``surface algorithm 5 with MeshAdapt fallback (attempt 1 of 3)``."""
    name = f"surface algorithm {algorithm}{' with MeshAdapt fallback' if switch else ''}"
    return name if k is None else f"{name} (attempt {k} of {n})"


def _build(gmsh: Any, desc: GeometryDescription, algorithm: int, switch: int) -> dict[str, Any]:
    """One attempt of :func:`build_model` with the given surface algorithm."""
    t0 = time.perf_counter()
    d = desc.dim
    _set_options(gmsh, d, desc.mesh_size_um)
    gmsh.model.add("microsim")
    particle, pore, membrane, remove, cbd = _classify_cells(gmsh, desc)
    if remove:
        gmsh.model.occ.remove(remove, recursive=True)
    gmsh.model.occ.synchronize()

    present = {t for _, t in gmsh.model.getEntities(d)}
    particle = [t for t in particle if t in present]
    pore = [t for t in pore if t in present]
    membrane = [t for t in membrane if t in present]
    orphans = _orphan_pores(gmsh, d, pore, particle, membrane) if desc.n_voids else []
    if orphans:
        gmsh.model.occ.remove([(d, t) for t in orphans], recursive=True)
        gmsh.model.occ.synchronize()
        present -= set(orphans)
        pore = [t for t in pore if t in present]
    cbd = [t for t in cbd if t in present]
    if set(particle) | set(pore) | set(membrane) | set(cbd) != present:
        raise GeometryError(
            f"gmsh: unclassified {d}D entities {sorted(present - set(particle + pore + membrane + cbd))}"
        )
    pockets: list[int] = []
    if cbd and not (desc.cbd is not None and desc.cbd.nanoporous):
        # blocking binder can enclose pore pockets that touch no particle: they would carry a pure-Neumann
        # electrolyte block (singular); the binder fills such pockets, so they become CBD
        pockets = _orphan_pores(gmsh, d, pore, particle, membrane)
        pore = [t for t in pore if t not in pockets]
        cbd = sorted(cbd + pockets)
    electrolyte = pore + membrane
    interface, collector, anode, cbd_facets = _classify_facets(gmsh, desc, particle, electrolyte, cbd)
    if not interface:
        raise GeometryError("gmsh: no particle|electrolyte interface in the model")
    if not collector and not cbd_facets[tags.CBD_COLLECTOR]:
        raise GeometryError("gmsh: no particle touches the collector z = 0")

    for tag, entities in (
        (tags.PARTICLE, particle),
        (tags.ELECTROLYTE_PORE, pore),
        (tags.ELECTROLYTE_MEMBRANE, membrane),
        (tags.CBD, cbd),
    ):
        if entities:
            gmsh.model.addPhysicalGroup(d, entities, tag=tag, name=tags.CELL_NAMES[tag])
    for tag, entities in ((tags.INTERFACE, interface), (tags.COLLECTOR, collector), (tags.ANODE, anode)):
        gmsh.model.addPhysicalGroup(d - 1, entities, tag=tag, name=tags.FACET_NAMES[tag])
    for tag, entities in cbd_facets.items():
        if entities:
            gmsh.model.addPhysicalGroup(d - 1, entities, tag=tag, name=tags.FACET_NAMES[tag])

    mass = gmsh.model.occ.getMass
    gamma = [mass(d - 1, f) for f in interface]
    chords: list[int] = []
    chord_sizes: list[float] = []
    if desc.archetype.has_spots:
        chords = _spot_facets(gmsh, desc, interface)
        spot_measures = [mass(d - 1, f) for f in chords]
        # Size scale of a spot: chord length in 2D, spot diameter in 3D.
        chord_sizes = spot_measures if d == 2 else [2.0 * math.sqrt(g / math.pi) for g in spot_measures]
    # the CBD's facets are resolved like Γ (the film and the necks are thin; empty without a CBD)
    fine = interface + collector + ([f for fs in cbd_facets.values() for f in fs] if d == 2 else [])
    workdir = Path(tempfile.mkdtemp(prefix="microsim-gmsh-"))
    try:
        t_fields = time.perf_counter()
        chord_mesh = _mesh_fields(gmsh, desc, fine, chords, chord_sizes, membrane, workdir)
        t1 = time.perf_counter()
        _generate(gmsh, d, algorithm, switch)
        t2 = time.perf_counter()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    node_tags, _, _ = gmsh.model.mesh.getNodes()
    n_cells = {
        tags.CELL_NAMES[t]: _count_elements(gmsh, d, ents)
        for t, ents in (
            (tags.PARTICLE, particle),
            (tags.ELECTROLYTE_PORE, pore),
            (tags.ELECTROLYTE_MEMBRANE, membrane),
        )
    }
    if cbd:
        n_cells[tags.CELL_NAMES[tags.CBD]] = _count_elements(gmsh, d, cbd)
    n_facets = {
        tags.FACET_NAMES[t]: _count_elements(gmsh, d - 1, ents)
        for t, ents in ((tags.INTERFACE, interface), (tags.COLLECTOR, collector), (tags.ANODE, anode))
    }
    _, elem_tags, _ = gmsh.model.mesh.getElements(d)
    all_cells = np.concatenate([np.asarray(t) for t in elem_tags]) if elem_tags else np.zeros(0)
    quality = gmsh.model.mesh.getElementQualities(all_cells, "minSICN") if all_cells.size else np.zeros(0)
    layer = desc.width_um * desc.cathode_thickness_um * (desc.width_um if d == 3 else 1.0)
    particle_measure = float(sum(mass(d, c) for c in particle))
    pore_measure = float(sum(mass(d, c) for c in pore))
    n_iso, iso_measure = _isolated_pores(gmsh, d, pore, membrane)
    gamma_total = float(sum(gamma))
    pores_total = layer - particle_measure
    info: dict[str, Any] = {
        "n_nodes": len(node_tags),
        "n_elements": int(all_cells.size),
        "n_cells": n_cells,
        "n_facets": n_facets,
        "interface_length_um" if d == 2 else "interface_area_um2": gamma_total,
        "collector_measure_um": float(sum(mass(d - 1, f) for f in collector)),
        "anode_measure_um": float(sum(mass(d - 1, f) for f in anode)),
        "particle_measure": particle_measure,
        "active_fraction_measured": particle_measure / layer,
        "chord_lengths_um": sorted(mass(d - 1, f) for f in chords),
        "chord_mesh_size_um": chord_mesh if chords else None,
        "n_isolated_pores": n_iso,
        "isolated_pore_fraction": iso_measure / pore_measure if pore_measure > 0 else None,
        "min_element_quality": float(np.min(quality)) if len(quality) else None,
        "n_voids": desc.n_voids,
        "n_orphan_pores_removed": len(orphans),
        # the exact wet fraction of the model: electrolyte / (layer less particles) in the cathode layer
        "wet_pore_fraction": pore_measure / pores_total if desc.n_voids and pores_total > 0 else None,
        "time_geometry_s": t1 - t0,
        "time_size_fields_s": t1 - t_fields,
        "time_mesh_s": t2 - t1,
    }
    if d == 2:
        info["interface_area_um2"] = gamma_total * 1.0  # per µm of depth
    if cbd:
        info["cbd"] = _cbd_info(gmsh, desc, particle, cbd, collector, cbd_facets, layer)
        info["cbd"]["n_enclosed_pores_filled"] = len(pockets)
        lay = desc.cbd
        measured = info["cbd"]["fraction_measured"]
        if lay is not None and measured < 0.5 * lay.fraction_estimate:
            # the layout's grid estimate and the exact bodies cannot differ this much unless OCC lost bodies
            raise GeometryError(
                f"geometry.cbd_fraction = {lay.target_fraction:g}: gmsh built a carbon-binder fraction of only "
                f"{measured:.4g} (layout estimate {lay.fraction_estimate:.4g}); the boolean operations failed"
            )
        # read by microsim.mesh: the CBD cells then belong to the electrolyte submesh too
        info["cbd_nanoporous"] = desc.cbd is not None and desc.cbd.nanoporous
        info["n_facets"].update({tags.FACET_NAMES[t]: _count_elements(gmsh, d - 1, fs) for t, fs in cbd_facets.items()})
    return info


def _cbd_info(
    gmsh: Any,
    desc: GeometryDescription,
    particle: list[int],
    cbd: list[int],
    collector: list[int],
    cbd_facets: dict[int, list[int]],
    layer: float,
) -> dict[str, Any]:
    """Measured CBD fraction, areas and electronic connectivity of the solid (particles and CBD) to z = 0.

    The solid pieces (particle and CBD volumes of the model) form a graph through the facets they share; the
    pieces with a collector facet and all pieces reachable from them are connected. A particle is connected if
    its centre lies in a connected particle piece (``particle_ids``: the description's source indices).
    """
    d = desc.dim
    mass = gmsh.model.occ.getMass
    solid = particle + cbd
    facets_of = {c: {abs(int(f)) for f in gmsh.model.getAdjacencies(d, c)[1]} for c in solid}
    grounded = set(collector) | set(cbd_facets[tags.CBD_COLLECTOR])
    reached = _flood(facets_of, solid, {c for c in solid if facets_of[c] & grounded})
    cbd_measure = float(sum(mass(d, c) for c in cbd))
    cbd_connected = float(sum(mass(d, c) for c in cbd if c in reached))
    dead: list[int] = []
    for k, c in enumerate(desc.centers):
        xyz = [float(c[0]), float(c[1]), float(c[2]) if d == 3 else 0.0]
        home = [p for p in particle if gmsh.model.isInside(d, p, xyz)]
        if not home or not any(p in reached for p in home):
            dead.append(int(desc.particle_ids[k]))
    return {
        "fraction_measured": cbd_measure / layer,
        "measure": cbd_measure,
        "connected_fraction": cbd_connected / cbd_measure if cbd_measure > 0 else None,
        "particle_cbd_measure_um": float(sum(mass(d - 1, f) for f in cbd_facets[tags.PARTICLE_CBD])),
        "cbd_electrolyte_measure_um": float(sum(mass(d - 1, f) for f in cbd_facets[tags.CBD_ELECTROLYTE])),
        "cbd_collector_measure_um": float(sum(mass(d - 1, f) for f in cbd_facets[tags.CBD_COLLECTOR])),
        "n_particles_not_electronically_connected": len(dead),
        "particles_not_electronically_connected": dead,
        "nanoporous": desc.cbd.nanoporous if desc.cbd is not None else False,
    }
