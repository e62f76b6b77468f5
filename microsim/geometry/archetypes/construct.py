"""Geometry settings -> :class:`GeometryDescription`: packing or file, spot growth, dead-cluster removal.

Everything that depends on the interface archetype is asked of the archetype object
(:mod:`microsim.geometry.archetypes.registry`); the steps themselves are the same for all of them.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from microsim.errors import GeometryError
from microsim.geometry.archetypes.description import CONTACT_TOLERANCE_RADII, GeometryDescription
from microsim.geometry.archetypes.growth import grow_to_contact, wet_depth
from microsim.geometry.archetypes.measures import reached
from microsim.geometry.archetypes.registry import GEOMETRY_KINDS, PACKING_KIND, archetype_for, get_archetype
from microsim.geometry.archetypes.spec import GeometrySpec
from microsim.geometry.cbd import layout_cbd
from microsim.geometry.connectivity import check_gaps, cluster_labels, touches_collector
from microsim.geometry.formation import ContactSettings, TopLayer, misfit, resolve_contact
from microsim.geometry.packing_store import stored_pack
from microsim.geometry.particles import Particles, read_particles_csv
from microsim.geometry.voids import place_voids

__all__ = ["describe"]


#: What to change when no particle meets the membrane: a random packing may leave its top layer a little low.
_REMEDY = (
    "try another packing (this one is geometry.seed = {seed}; in a sweep, list seeds that work in [ensemble]), a wider "
    "cell (geometry.width_um: more particles along the top) or another cathode thickness "
    "(geometry.cathode_thickness_um)"
)


def describe(
    geo: GeometrySpec, contact: ContactSettings | None = None, packing_cache: str | os.PathLike[str] | None = None
) -> GeometryDescription:
    """Turn the geometry settings into a :class:`GeometryDescription`.

    Args:
        geo: The geometry settings (a ``microsim.config.GeometryConfig``, or anything with its fields).
        contact: How the membrane's contact forms (``[contact]``); None: fixed spots of
            ``geo.contact_radius_um``. A model that decides an intrusion depth (``elastic``, ``creep``) turns
            a point-contact geometry into the archetype that meshes the intruded membrane (``infiltrated``)
            when the depth is above zero.
        packing_cache: A folder where packings are kept and read back (the mesh cache); None: search every
            packing (:mod:`microsim.geometry.packing_store`).

    Returns:
        The description.

    Raises:
        GeometryError: Unknown kind or interface, unreachable packing, bad particle file, particles breaking
            the contact rules, no particle reaching the membrane (contact spots), contact radius larger than a
            particle.
    """
    kind, dim = geo.kind, int(geo.dim)
    if kind not in GEOMETRY_KINDS:
        raise GeometryError(f"geometry.kind = {kind!r}: expected one of {', '.join(GEOMETRY_KINDS)}")
    if dim not in (2, 3):
        raise GeometryError(f"geometry.dim = {dim!r}: expected 2 or 3")
    w, lc, lm = float(geo.width_um), float(geo.cathode_thickness_um), float(geo.membrane_thickness_um)
    h = float(geo.mesh_size_um)
    h_gamma = float(geo.interface_mesh_size_um) if geo.interface_mesh_size_um is not None else 0.5 * h
    overlap = float(geo.overlap_fraction)
    r_mean = float(geo.radius_mean_um)
    gap = float(geo.min_gap_fraction) * r_mean
    common: dict[str, Any] = dict(
        dim=dim,
        width_um=w,
        cathode_thickness_um=lc,
        membrane_thickness_um=lm,
        mesh_size_um=h,
        interface_mesh_size_um=h_gamma,
        spot_mesh_level=float(geo.spot_mesh_level),
        overlap_fraction=overlap,
        min_gap_um=gap,
        seed=int(geo.seed),
    )
    arch = archetype_for(kind, geo.interface)
    interface = arch.name
    settings = contact if contact is not None else ContactSettings()
    model = settings.contact_model
    problem = misfit(model, arch)
    if problem is not None:
        raise GeometryError(problem)
    if not arch.has_particles:
        return GeometryDescription(kind=kind, interface=interface, centers=np.zeros((0, dim)), **common)

    packing_info: dict[str, Any] = {}
    target = None
    if kind == PACKING_KIND:
        result, stored = stored_pack(
            packing_cache,
            dim,
            w,
            lc,
            float(geo.active_fraction),
            r_mean,
            float(geo.radius_std_um),
            int(geo.seed),
            overlap_fraction=overlap,
            min_gap_fraction=float(geo.min_gap_fraction),
        )
        particles = result.particles
        target = float(geo.active_fraction)
        packing_info = {
            "achieved_fraction": result.achieved_fraction,
            "p_stick": result.p_stick,
            "capture_um": result.capture_um,
            "n_trials": result.n_trials,
            "elapsed_s": stored["time_s"],
            "store": stored["status"],
        }
        source = f"packing (seed {geo.seed})"
    else:
        if not geo.particles_file:
            raise GeometryError(f"geometry.particles_file is empty but geometry.kind = {kind!r}")
        particles = read_particles_csv(geo.particles_file, dim, box=(w, lc))
        source = f"particles file {geo.particles_file}"
        # Particles that reach the membrane plane may have been grown to their spot (a geometry written by
        # microsim and read back): their deeper overlaps are the growth's, not interpenetration.
        grown = (
            particles.centers[:, -1] + particles.radii >= lc - CONTACT_TOLERANCE_RADII * r_mean
            if arch.has_spots
            else np.zeros(len(particles), dtype=bool)
        )
        _check_file_overlaps(particles, overlap, source, grown)
    if len(particles) == 0:
        raise GeometryError(f"{source}: no particles")

    centers, radii = particles.centers, particles.radii
    ids = np.arange(len(particles))
    tolerance = CONTACT_TOLERANCE_RADII * r_mean
    a = float(geo.contact_radius_um)
    depth_asked = float(geo.infiltration_depth_um) if arch.uses_infiltration_depth else 0.0
    contact_stats: dict[str, Any] | None = None
    if arch.has_spots:
        top = TopLayer(dim, w, lc, centers, radii, r_mean, a, h_gamma)
        outcome = resolve_contact(top, settings)
        a, contact_stats = outcome.contact_radius_um, dict(outcome.stats)
        if model.forms_depth and outcome.infiltration_depth_um > 0.0 and arch.intruded is not None:
            arch = get_archetype(arch.intruded)
            interface = arch.name
            depth_asked = outcome.infiltration_depth_um
    if not arch.has_spots:
        problems = check_gaps(particles, w, lc, overlap, gap)
        if problems:
            raise GeometryError(
                f"{source}: particles break the {interface}-geometry rules (geometry.overlap_fraction = "
                f"{overlap:g}, geometry.min_gap_fraction = {gap / r_mean:g}): " + "; ".join(problems)
            )
        new_radii = radii
        reaches = np.zeros(len(particles), dtype=bool)
        blocked = np.zeros(len(particles), dtype=bool)
    else:
        tops = centers[:, -1] + radii
        reaches = tops >= lc - tolerance
        if not reaches.any():
            raise GeometryError(
                f"{interface}: no particle reaches the membrane plane z = L_c = {lc:g} µm within the "
                f"contact tolerance {tolerance:.3g} µm (highest particle top at {tops.max():.4g} µm); "
                + _REMEDY.format(seed=geo.seed)
            )
        problems = check_gaps(particles, w, lc, overlap, gap, exempt_top=reaches)
        if problems:
            raise GeometryError(
                f"{source}: particles break the {interface} rules (geometry.overlap_fraction = {overlap:g}, "
                f"geometry.min_gap_fraction = {gap / r_mean:g}): " + "; ".join(problems)
            )
        # half the packing's gap: the filled geometry meshes such gaps; a near-tangent one would need slivers
        wet_gap = 0.5 * gap if depth_asked > 0.0 else 0.0
        new_radii, blocked = grow_to_contact(centers, radii, reaches, lc, a, w, overlap, 0.25 * h_gamma, wet_gap)
        reaches = reaches & ~blocked
        if not reaches.any():
            raise GeometryError(
                f"{interface}: no particle reaches the membrane plane z = L_c = {lc:g} µm: the "
                f"{int(blocked.sum())} particle(s) within the contact tolerance cannot be grown to a contact "
                f"half-width a = {a:g} µm without a near-tangent contact with a neighbour or crossing a side "
                "wall; try a smaller contact (geometry.contact_radius_um or the contact model's pressure), or "
                + _REMEDY.format(seed=geo.seed)
            )
    labels = cluster_labels(Particles(centers, new_radii))
    collector = touches_collector(Particles(centers, new_radii))
    live_clusters = np.unique(labels[collector])
    dead = ~np.isin(labels, live_clusters)
    dead_ids = tuple(int(i) for i in ids[dead])
    dead_removed = False
    keep = np.ones(len(particles), dtype=bool)
    depth = wet_depth(centers, new_radii, lc, depth_asked, h_gamma) if depth_asked else 0.0
    if arch.has_spots and dead.any():
        wet = reached(centers, new_radii, reaches, arch.wet_plane_um(lc, depth))
        remove = arch.removed_dead(dead, labels, wet)
        keep = ~remove
        dead_removed = bool(remove.any())
        if not (reaches & ~dead).any():
            raise GeometryError(
                f"{interface}: no particle connected to the collector reaches the membrane plane z = L_c = "
                f"{lc:g} µm (the {int(reaches.sum())} reaching it belong to clusters not connected to the "
                "collector); " + _REMEDY.format(seed=geo.seed)
            )
    centers_k, radii_k = centers[keep], new_radii[keep]
    kept = Particles(centers_k, radii_k)
    labels_k = cluster_labels(kept)
    voids = _voids(geo, arch.uses_pore_fill, kept, labels_k, w, lc, r_mean, gap)
    # read with defaults: a GeometrySpec from before the CBD existed (tests, scripts) has no CBD
    cbd_fraction = float(getattr(geo, "cbd_fraction", 0.0))
    cbd = None
    if cbd_fraction > 0.0:
        if not arch.supports_cbd:
            raise GeometryError(
                f"geometry.cbd_fraction = {cbd_fraction:g}: a resolved carbon-binder domain needs "
                f"geometry.interface = 'filled' (not {interface!r})"
            )
        cbd = layout_cbd(
            dim,
            w,
            lc,
            centers_k,
            radii_k,
            fraction=cbd_fraction,
            placement=str(getattr(geo, "cbd_placement", "necks")),
            thickness_um=float(getattr(geo, "cbd_thickness_um", 0.0)),
            ionic=str(getattr(geo, "cbd_ionic", "blocking")),
            seed=int(geo.seed),
            radius_mean_um=r_mean,
        )
    return GeometryDescription(
        kind=kind,
        interface=interface,
        centers=centers_k,
        radii=radii_k,
        original_radii=radii[keep],
        particle_ids=ids[keep],
        touches_collector=touches_collector(kept),
        reaches_membrane=reaches[keep],
        cluster=labels_k,
        dead_particle_ids=dead_ids,
        dead_removed=dead_removed,
        blocked_contact_ids=tuple(int(i) for i in ids[blocked]),
        contact_radius_um=a if arch.has_spots else 0.0,
        contact_tolerance_um=tolerance if arch.has_spots else 0.0,
        infiltration_depth_um=depth,
        infiltration_depth_asked_um=depth_asked,
        target_active_fraction=target,
        n_source_particles=len(particles),
        packing_info=packing_info,
        **voids,
        cbd=cbd,
        contact=contact_stats,
        **common,
    )


def _voids(
    geo: GeometrySpec,
    applies: bool,
    particles: Particles,
    labels: np.ndarray,
    w: float,
    lc: float,
    r_mean: float,
    gap: float,
) -> dict[str, Any]:
    """The gas voids of ``geometry.pore_fill_fraction < 1`` (:mod:`microsim.geometry.voids`), as description fields.

    The voids have the mean particle radius (a bubble of the pore size) and keep the packing's gap. Clusters not
    connected to the collector must keep a wet surface (the electrolyte fixes their potential).
    """
    fill = float(geo.pore_fill_fraction)
    if fill >= 1.0:
        return {}
    if not applies:
        raise GeometryError(
            f"geometry.pore_fill_fraction = {fill:g}: applies to geometry.interface = 'filled' only "
            f"(interface {geo.interface!r})"
        )
    dead = ~np.isin(labels, np.unique(labels[touches_collector(particles)]))
    placement = place_voids(
        particles.centers,
        particles.radii,
        w,
        lc,
        fill,
        r_mean,
        gap,
        int(geo.seed),
        keep_wet=np.where(dead, labels, -1),
    )
    info = {
        "pore_measure": placement.pore_measure,
        "void_measure": float(placement.void_measure),
        "wet_fraction": float(placement.wet_fraction),
        "n_candidates": placement.n_candidates,
    }
    return {
        "pore_fill_fraction": fill,
        "void_centers": placement.centers,
        "void_radii": placement.radii,
        "void_info": info,
    }


def _check_file_overlaps(particles: Particles, overlap: float, source: str, exempt: np.ndarray) -> None:
    """Refuse imported particles that overlap far deeper than a sintered neck (2D and 3D).

    A generated packing never does this, but an imported one (e.g. from a discrete-element code with soft
    contacts) may: a pair closer than ``(1 - 2 overlap)(r_i + r_j)`` or a particle cutting the collector
    deeper than ``2 overlap r`` is not a neck but interpenetration, which makes tiny slivers and a wrong
    solid volume.

    Args:
        particles: The particles read.
        overlap: ``geometry.overlap_fraction``.
        source: Names the file in the messages.
        exempt: Particles whose pairs are not checked (point-contact particles grown to their spot).

    Raises:
        GeometryError: Naming the file, the pair (0-based rows) or the particle, and the overlap.
    """
    c, r = particles.centers, particles.radii
    bottom = c[:, -1] - r
    deep_floor = np.flatnonzero(bottom < -2.0 * overlap * r)
    if len(deep_floor):
        i = int(deep_floor[0])
        raise GeometryError(
            f"{source}: particle {i} crosses the collector z = 0 by {-bottom[i]:.4g} µm = "
            f"{-bottom[i] / r[i]:.3g} r (at most 2 x overlap_fraction = {2 * overlap:g} r: a neck, not a particle "
            f"cut by the collector)"
        )
    if len(particles) < 2:
        return
    from scipy.spatial import cKDTree  # local: SciPy is only needed for imported particles

    pairs = cKDTree(c).query_pairs(2.0 * float(r.max()), output_type="ndarray")
    if len(pairs) == 0:
        return
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    i, j = pairs[:, 0], pairs[:, 1]
    d = np.sqrt(((c[i] - c[j]) ** 2).sum(axis=1))
    rsum = r[i] + r[j]
    deep = np.flatnonzero((d < (1.0 - 2.0 * overlap) * rsum) & ~exempt[i] & ~exempt[j])
    if len(deep):
        k = int(deep[0])
        raise GeometryError(
            f"{source}: particles {int(i[k])} and {int(j[k])} overlap too much: centre distance {d[k]:.5g} µm "
            f"= {d[k] / rsum[k]:.4g} x the radii sum {rsum[k]:.5g} µm, overlap {1 - d[k] / rsum[k]:.3g} of the "
            f"radii sum (at most 2 x overlap_fraction = {2 * overlap:g}; {len(deep)} pair(s) in all)"
        )
