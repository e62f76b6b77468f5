"""Geometry configuration -> :class:`GeometryDescription` (pure NumPy), and the statistics of geometry.json.

The three archetypes (docs/model.md §1.3):

* ``filled``: the electrolyte fills the cathode pores and forms the membrane; Γ = every particle surface
  facing the pores. Particles stay below ``z = L_c - gap``.
* ``point-contact``: the electrolyte is the membrane only; its flat lower face ``z = L_c`` rests on the
  highest particles. Every particle whose top is within ``contact_tolerance`` of ``L_c`` is grown about its
  fixed centre (so its existing contacts stay) until it cuts ``z = L_c`` with a chord of half-width ``a =
  contact_radius_um``: ``R'^2 = (L_c - z_c)^2 + a^2``. The particle is ``disk ∩ {z <= L_c}``, Γ = the flat
  chords. Clusters not connected to the collector are removed (electronically dead and, with void pores,
  ionically isolated).
* ``infiltrated``: point contact, then the electrolyte fills the pores from the membrane down to
  ``z_w = L_c - infiltration_depth_um`` (a membrane pressed on a dry cathode and partly infiltrated, e.g. by
  heating). Γ = the contact spots plus every particle surface in the wet layer ``z_w < z < L_c``. Depth 0 is
  the point-contact geometry; depth ``L_c`` wets every pore, i.e. the filled geometry with the top particles
  grown to their spots. Particle clusters that neither touch the collector nor the electrolyte are removed
  (nothing would fix their potential); dead clusters the electrolyte reaches are kept, as in ``filled``.
* ``planar``: a dense LiFePO4 slab ``0 < z < L_c`` under the membrane; Γ = the plane ``z = L_c``.

Particle-based geometries come from a seeded packing (:mod:`microsim.geometry.packing`) or a particle CSV
file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microsim.errors import GeometryError
from microsim.geometry.contact import hertz_contact_radius_um
from microsim.geometry.packing import (
    Particles,
    check_gaps,
    cluster_labels,
    disk_union_measures,
    pack,
    read_particles_csv,
    touches_collector,
)
from microsim.geometry.packing3d import sphere_union_volume

__all__ = ["CONTACT_TOLERANCE_RADII", "SPOT_INTERFACES", "GeometryDescription", "describe"]

# A particle whose top is within this many mean radii of z = L_c touches the membrane in point-contact.
CONTACT_TOLERANCE_RADII = 0.25

_KINDS = ("packing", "planar", "particles-file")
_INTERFACES = ("filled", "point-contact", "infiltrated")
#: Interfaces whose membrane rests on the top particles (contact spots of radius ``contact_radius_um``).
SPOT_INTERFACES = ("point-contact", "infiltrated")

_EMPTY2 = np.zeros((0, 2))


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class GeometryDescription:
    """Everything the Gmsh builder and the reports need to know about one geometry (µm).

    Attributes:
        kind: ``"packing"``, ``"planar"`` or ``"particles-file"``.
        interface: ``"filled"``, ``"point-contact"``, ``"infiltrated"`` or ``"planar"``.
        dim: 2 or 3.
        width_um: Lateral size W (3D: W x W).
        cathode_thickness_um: L_c.
        membrane_thickness_um: L_m.
        centers: ``(N, dim)`` particle centres (last coordinate through the thickness).
        radii: ``(N,)`` radii after the point-contact growth.
        original_radii: ``(N,)`` radii before the growth.
        particle_ids: ``(N,)`` index of each particle in the packing / file it came from.
        touches_collector: ``(N,)`` particles cutting ``z = 0``.
        reaches_membrane: ``(N,)`` particles cut by ``z = L_c`` at a contact spot (point-contact,
            infiltrated; all False otherwise).
        cluster: ``(N,)`` cluster label (particles connected through overlaps share one).
        dead_particle_ids: Source indices of the particles not connected to the collector.
        dead_removed: Whether (some of) those were removed (point-contact: all; infiltrated: the dry ones) or
            kept (filled).
        blocked_contact_ids: Source indices of point-contact particles within the tolerance that were not
            grown (growth would have made a near-tangent neck or crossed a wall; see ``_grow_to_contact``).
        mesh_size_um: Element size far from Γ.
        interface_mesh_size_um: Element size on Γ and on the collector.
        contact_radius_um: Chord half-width ``a`` of the contact spots.
        infiltration_depth_um: Infiltrated: depth of the wet layer below ``z = L_c`` as meshed (the asked
            depth, moved by at most a fraction of the interface mesh size off near-tangent planes).
        infiltration_depth_asked_um: Infiltrated: the depth asked for.
        spot_mesh_level: 3D contact spots: mesh level ``s`` of the graded spot fields (1: default; smaller is
            finer; see :mod:`microsim.geometry.gmsh_model`).
        contact_tolerance_um: Distance below ``L_c`` within which a particle top is grown to touch the
            membrane.
        overlap_fraction: Overlap of touching particles.
        min_gap_um: Minimum gap of non-touching particles.
        seed: Packing seed.
        target_active_fraction: Fraction asked for (packings only).
        n_source_particles: Number of particles in the packing / file (before any removal).
        packing_info: Extra figures of the packing search (p_stick, trials, time).
    """

    kind: str
    interface: str
    dim: int
    width_um: float
    cathode_thickness_um: float
    membrane_thickness_um: float
    centers: np.ndarray = field(default_factory=lambda: _EMPTY2)
    radii: np.ndarray = field(default_factory=lambda: np.zeros(0))
    original_radii: np.ndarray = field(default_factory=lambda: np.zeros(0))
    particle_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    touches_collector: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    reaches_membrane: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    cluster: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    dead_particle_ids: tuple[int, ...] = ()
    dead_removed: bool = False
    blocked_contact_ids: tuple[int, ...] = ()
    mesh_size_um: float = 0.2
    interface_mesh_size_um: float = 0.1
    contact_radius_um: float = 0.0
    contact_tolerance_um: float = 0.0
    infiltration_depth_um: float = 0.0
    infiltration_depth_asked_um: float = 0.0
    spot_mesh_level: float = 1.0
    overlap_fraction: float = 0.05
    min_gap_um: float = 0.05
    seed: int = 0
    target_active_fraction: float | None = None
    n_source_particles: int = 0
    packing_info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in (
            "centers",
            "radii",
            "original_radii",
            "particle_ids",
            "touches_collector",
            "reaches_membrane",
            "cluster",
        ):
            object.__setattr__(self, name, _readonly(getattr(self, name)))

    # ---- convenience ---------------------------------------------------------------------------------------
    @property
    def n_particles(self) -> int:
        """Number of particles in the geometry."""
        return int(self.radii.shape[0])

    @property
    def particles(self) -> Particles:
        """The particles (after growth and removal) as a :class:`Particles`."""
        return Particles(self.centers.reshape(-1, self.dim), self.radii)

    @property
    def total_thickness_um(self) -> float:
        """L_c + L_m: the z of the Li metal."""
        return self.cathode_thickness_um + self.membrane_thickness_um

    @property
    def wet_plane_um(self) -> float:
        """``z_w``: the lower end of the electrolyte in the pores (``L_c`` for point contact, 0 for filled)."""
        if self.interface == "infiltrated":
            return self.cathode_thickness_um - self.infiltration_depth_um
        return self.cathode_thickness_um if self.interface == "point-contact" else 0.0

    def reached_by_electrolyte(self) -> np.ndarray:
        """``(N,)`` particles that touch the electrolyte (filled: all; otherwise a spot or the wet layer)."""
        if self.interface in ("filled", "planar"):
            return np.ones(self.n_particles, dtype=bool)
        return _reached(self.centers, self.radii, self.reaches_membrane, self.wet_plane_um)

    def contact_spots(self) -> list[tuple[float, ...]]:
        """Lateral centres of the point-contact spots, one per particle reaching the membrane."""
        return [tuple(float(v) for v in c[:-1]) for c in self.centers[self.reaches_membrane]]

    # ---- statistics ----------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Statistics for geometry.json (unit-tagged keys; None where not computed analytically).

        2D lengths are exact (arcs of the disk union, see :func:`disk_union_measures`); areas per unit depth
        (1 µm). In 3D with particles the interface measures come from the Gmsh model (``build_model`` info).
        """
        w, lc = self.width_um, self.cathode_thickness_um
        spots = self.interface in SPOT_INTERFACES
        out: dict[str, Any] = {
            "kind": self.kind,
            "interface": self.interface,
            "dim": self.dim,
            "width_um": w,
            "cathode_thickness_um": lc,
            "membrane_thickness_um": self.membrane_thickness_um,
            "n_particles": self.n_particles,
            "active_fraction": None,
            "target_active_fraction": self.target_active_fraction,
            "interface_length_um": None,
            "interface_area_um2": None,
            "specific_interface_area_m2_m3": None,
            "contact_area_fraction": None,
            "collector_contact_length_um": None,
            "n_particles_not_connected_to_collector": len(self.dead_particle_ids),
            "particles_not_connected_to_collector": [int(i) for i in self.dead_particle_ids],
            "dead_particles_removed": self.dead_removed,
            "share_particles_not_connected_to_collector": len(self.dead_particle_ids) / max(self.n_source_particles, 1),
            "n_particles_not_reached_by_electrolyte": None,
            "share_particles_not_reached_by_electrolyte": None,
            "n_blocked_contacts": len(self.blocked_contact_ids) if spots else None,
            "n_particles_touching_collector": int(self.touches_collector.sum()),
            "n_contact_spots": None,
            "contact_radius_um": self.contact_radius_um if spots else None,
            "infiltration_depth_um": self.infiltration_depth_um if self.interface == "infiltrated" else None,
            "infiltration_depth_asked_um": (
                self.infiltration_depth_asked_um if self.interface == "infiltrated" else None
            ),
            "particles": self._particle_records(),
            "seed": self.seed if self.kind == "packing" else None,
        }
        if self.packing_info:
            out["packing"] = dict(self.packing_info)
        layer_volume = w * lc * (w if self.dim == 3 else 1.0)  # µm³ (2D: per µm of depth)
        if self.interface != "planar":
            dry = ~self.reached_by_electrolyte()
            out["n_particles_not_reached_by_electrolyte"] = int(dry.sum())
            out["share_particles_not_reached_by_electrolyte"] = float(dry.sum()) / max(self.n_particles, 1)
        if self.interface == "planar":
            area = w * w if self.dim == 3 else w
            out.update(
                active_fraction=1.0,
                interface_area_um2=area,
                contact_area_fraction=1.0,
                n_contact_spots=None,
            )
            if self.dim == 2:
                out["interface_length_um"] = w
                out["collector_contact_length_um"] = w
            out["specific_interface_area_m2_m3"] = area / layer_volume * 1.0e6
            return out
        if self.dim == 3:
            # Exact up to triple overlaps (see packing3d.sphere_union_volume / _sphere_union_area).
            out["active_fraction"] = sphere_union_volume(self.centers, self.radii, 0.0, lc) / layer_volume
            if spots:
                n_spots = int(self.reaches_membrane.sum())
                out["n_contact_spots"] = n_spots
                gamma = n_spots * math.pi * self.contact_radius_um**2
                out["contact_area_fraction"] = gamma / (w * w)
                if self.interface == "infiltrated" and self.infiltration_depth_um > 0.0:
                    gamma += _sphere_union_area(self.centers, self.radii, lc, self.wet_plane_um)
            else:
                out["n_contact_spots"] = 0
                gamma = _sphere_union_area(self.centers, self.radii, lc)
            out["interface_area_um2"] = gamma
            out["specific_interface_area_m2_m3"] = gamma / layer_volume * 1.0e6
            out["n_particles_not_connected_to_collector"] = len(self.dead_particle_ids)
            return out
        m = disk_union_measures(self.centers, self.radii, 0.0, lc)
        out["active_fraction"] = m.area / (w * lc)
        out["collector_contact_length_um"] = m.bottom_length
        if self.interface == "filled":
            gamma = m.arc_length
            out["n_contact_spots"] = 0
        else:
            gamma = m.top_length
            out["contact_area_fraction"] = gamma / w
            out["n_contact_spots"] = _count_spots(self.centers, self.radii, lc)
            if self.interface == "infiltrated" and self.infiltration_depth_um > 0.0:
                gamma += disk_union_measures(self.centers, self.radii, self.wet_plane_um, lc).arc_length
        out["interface_length_um"] = gamma
        out["interface_area_um2"] = gamma * 1.0
        out["specific_interface_area_m2_m3"] = gamma * 1.0 / layer_volume * 1.0e6
        return out

    def _particle_records(self) -> list[dict[str, float]]:
        names = ("x_um", "y_um") if self.dim == 2 else ("x_um", "y_um", "z_um")
        return [
            {**{n: float(v) for n, v in zip(names, c, strict=True)}, "r_um": float(r)}
            for c, r in zip(self.centers, self.radii, strict=True)
        ]


def _sphere_union_area(centers: np.ndarray, radii: np.ndarray, lc: float, z_lo: float = 0.0) -> float:
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


def _count_spots(centers: np.ndarray, radii: np.ndarray, z: float) -> int:
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


def _get(geo: Any, name: str, default: Any) -> Any:
    """Optional config attribute (older configs may lack the packing-rule fields)."""
    value = getattr(geo, name, default)
    return default if value is None else value


def describe(geo: Any) -> GeometryDescription:
    """Turn a geometry config into a :class:`GeometryDescription`.

    Args:
        geo: The geometry config (attributes ``kind``, ``dim``, ``interface``, ``width_um``,
            ``cathode_thickness_um``, ``membrane_thickness_um``, ``active_fraction``, ``radius_mean_um``,
            ``radius_std_um``, ``contact_radius_um``, ``particles_file``, ``seed``, ``mesh_size_um``,
            ``interface_mesh_size_um``, ``overlap_fraction``, ``min_gap_fraction``).

    Returns:
        The description.

    Raises:
        GeometryError: Unreachable packing, bad particle file, particles breaking the contact rules, no
            particle reaching the membrane (point-contact), contact radius larger than a particle.
    """
    kind, dim, interface = geo.kind, int(geo.dim), geo.interface
    if kind not in _KINDS:
        raise GeometryError(f"geometry.kind = {kind!r}: expected one of {', '.join(_KINDS)}")
    if dim not in (2, 3):
        raise GeometryError(f"geometry.dim = {dim!r}: expected 2 or 3")
    w, lc, lm = float(geo.width_um), float(geo.cathode_thickness_um), float(geo.membrane_thickness_um)
    h = float(geo.mesh_size_um)
    h_gamma = float(geo.interface_mesh_size_um) if geo.interface_mesh_size_um is not None else 0.5 * h
    overlap = float(_get(geo, "overlap_fraction", 0.05))
    r_mean = float(geo.radius_mean_um)
    gap = float(_get(geo, "min_gap_fraction", 0.1)) * r_mean
    common = dict(
        dim=dim,
        width_um=w,
        cathode_thickness_um=lc,
        membrane_thickness_um=lm,
        mesh_size_um=h,
        interface_mesh_size_um=h_gamma,
        spot_mesh_level=float(_get(geo, "spot_mesh_level", 1.0)),
        overlap_fraction=overlap,
        min_gap_um=gap,
        seed=int(geo.seed),
    )
    if kind == "planar":
        return GeometryDescription(kind=kind, interface="planar", centers=np.zeros((0, dim)), **common)
    if interface not in _INTERFACES:
        raise GeometryError(f"geometry.interface = {interface!r}: expected one of {', '.join(_INTERFACES)}")

    packing_info: dict[str, Any] = {}
    target = None
    if kind == "packing":
        result = pack(
            dim,
            w,
            lc,
            float(geo.active_fraction),
            r_mean,
            float(geo.radius_std_um),
            int(geo.seed),
            overlap_fraction=overlap,
            min_gap_fraction=float(_get(geo, "min_gap_fraction", 0.1)),
        )
        particles = result.particles
        target = float(geo.active_fraction)
        packing_info = {
            "achieved_fraction": result.achieved_fraction,
            "p_stick": result.p_stick,
            "capture_um": result.capture_um,
            "n_trials": result.n_trials,
            "elapsed_s": result.elapsed_s,
        }
        source = f"packing (seed {geo.seed})"
    else:
        if not geo.particles_file:
            raise GeometryError("geometry.particles_file is empty but geometry.kind = 'particles-file'")
        particles = read_particles_csv(geo.particles_file, dim, box=(w, lc))
        source = f"particles file {geo.particles_file}"
        # Point-contact particles that reach the membrane plane may have been grown to their spot (a geometry
        # written by microsim and read back): their deeper overlaps are the growth's, not interpenetration.
        grown = (
            particles.centers[:, -1] + particles.radii >= lc - CONTACT_TOLERANCE_RADII * r_mean
            if interface in SPOT_INTERFACES
            else np.zeros(len(particles), dtype=bool)
        )
        _check_file_overlaps(particles, overlap, source, grown)
    if len(particles) == 0:
        raise GeometryError(f"{source}: no particles")

    centers, radii = particles.centers, particles.radii
    ids = np.arange(len(particles))
    tolerance = CONTACT_TOLERANCE_RADII * r_mean
    a = float(geo.contact_radius_um)
    pressure = getattr(geo, "stack_pressure_MPa", None)
    if interface in SPOT_INTERFACES and pressure is not None:
        # Hertz at the mean radius (one spot radius for the whole geometry; see microsim.geometry.contact).
        a = hertz_contact_radius_um(float(pressure), r_mean, float(_get(geo, "membrane_modulus_MPa", 3.0)))

    depth_asked = float(_get(geo, "infiltration_depth_um", 0.0)) if interface == "infiltrated" else 0.0
    if interface == "filled":
        problems = check_gaps(particles, w, lc, overlap, gap)
        if problems:
            raise GeometryError(
                f"{source}: particles break the filled-geometry rules (geometry.overlap_fraction = {overlap:g}, "
                f"geometry.min_gap_fraction = {gap / r_mean:g}): " + "; ".join(problems)
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
                f"contact tolerance {tolerance:.3g} µm (highest particle top at {tops.max():.4g} µm)"
            )
        problems = check_gaps(particles, w, lc, overlap, gap, exempt_top=reaches)
        if problems:
            raise GeometryError(
                f"{source}: particles break the {interface} rules (geometry.overlap_fraction = {overlap:g}, "
                f"geometry.min_gap_fraction = {gap / r_mean:g}): " + "; ".join(problems)
            )
        # half the packing's gap: the filled geometry meshes such gaps; a near-tangent one would need slivers
        wet_gap = 0.5 * gap if depth_asked > 0.0 else 0.0
        new_radii, blocked = _grow_to_contact(centers, radii, reaches, lc, a, w, overlap, 0.25 * h_gamma, wet_gap)
        reaches = reaches & ~blocked
        if not reaches.any():
            raise GeometryError(
                f"{interface}: no particle reaches the membrane plane z = L_c = {lc:g} µm: the "
                f"{int(blocked.sum())} particle(s) within the contact tolerance cannot be grown to a contact "
                f"half-width a = {a:g} µm without a near-tangent contact with a neighbour or crossing a side "
                "wall"
            )
    labels = cluster_labels(Particles(centers, new_radii))
    collector = touches_collector(Particles(centers, new_radii))
    live_clusters = np.unique(labels[collector])
    dead = ~np.isin(labels, live_clusters)
    dead_ids = tuple(int(i) for i in ids[dead])
    dead_removed = False
    keep = np.ones(len(particles), dtype=bool)
    depth = _wet_depth(centers, new_radii, lc, depth_asked, h_gamma) if depth_asked else 0.0
    if interface in SPOT_INTERFACES and dead.any():
        remove = dead
        if interface == "infiltrated":
            # dead clusters the electrolyte reaches keep a potential (their Butler–Volmer current sums to 0)
            wet = _reached(centers, new_radii, reaches, lc - depth)
            remove = dead & ~np.isin(labels, np.unique(labels[wet]))
        keep = ~remove
        dead_removed = bool(remove.any())
        if not (reaches & ~dead).any():
            raise GeometryError(
                f"{interface}: no particle connected to the collector reaches the membrane plane z = L_c = "
                f"{lc:g} µm (the {int(reaches.sum())} reaching it belong to clusters not connected to the "
                "collector)"
            )
    centers_k, radii_k = centers[keep], new_radii[keep]
    kept = Particles(centers_k, radii_k)
    labels_k = cluster_labels(kept)
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
        contact_radius_um=a if interface in SPOT_INTERFACES else 0.0,
        contact_tolerance_um=tolerance if interface in SPOT_INTERFACES else 0.0,
        infiltration_depth_um=depth,
        infiltration_depth_asked_um=depth_asked,
        target_active_fraction=target,
        n_source_particles=len(particles),
        packing_info=packing_info,
        **common,
    )


def _reached(centers: np.ndarray, radii: np.ndarray, spots: np.ndarray, wet_plane_um: float) -> np.ndarray:
    """Particles the electrolyte touches: a contact spot, or a top above the wet plane (``L_c``: none)."""
    return spots | (centers[:, -1] + radii > wet_plane_um)


def _wet_depth(centers: np.ndarray, radii: np.ndarray, lc: float, depth: float, h_gamma: float) -> float:
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


def _grow_to_contact(
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
            ok = not np.any((arcs < min_feature_um) & (arcs < arcs_now - 1e-12))
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
