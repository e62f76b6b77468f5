"""Effective properties study: tortuosity, effective conductivities and interface measures (docs/model.md §4.6).

Definitions (all ratios are dimensionless and independent of the material conductivities):

* **Electrolyte-phase conductivity ratio** ``κ_eff/κ`` of the cathode layer: steady conduction ``−∇·(κ∇φ) = 0``
  in the pore electrolyte only (cells ``ELECTROLYTE_PORE``), ``φ = 1`` on the pore boundary at ``z = L_c`` (the
  pore|membrane plane), ``φ = 0`` on the pore boundary at ``z = 0`` (the collector plane), no flux anywhere else
  (particles blocking, insulating side walls). ``κ_eff/κ = I L_c / (A Δφ)`` with ``I`` the current through the
  layer and ``A = W^(d−1)`` the geometric area.
* **Porosity** ``ε`` = pore volume / ``(A L_c)``, measured on the mesh; **tortuosity** ``τ = ε κ/κ_eff``;
  **Bruggeman** ``ε^1.5`` for comparison (docs/parameters.md §5.4).
* **Solid-phase conductivity ratio** ``σ_eff/σ``: the same problem in the particle cells, ``φ = 0`` on the
  collector (``z = 0``) and ``φ = 1`` where the solid meets the membrane plane ``z = L_c``. It is defined only
  where the solid touches both planes: the point-contact archetype (the contact spots) and the planar one. In the
  filled archetype the particles keep a gap below ``L_c``, so the solid does not span the layer: ``None`` with the
  reason.
* **Specific interface area**: measured ``∫_Γ dS`` per cathode-layer volume ``A L_c`` (m²/m³), Γ being the
  reacting particle|electrolyte interface (point-contact: the contact spots only).
* **Contact-area fraction** (point-contact): Γ area / geometric area ``A``.

In the point-contact archetype the pores are void (no electrolyte cells): the electrolyte-phase values are 0
(porosity, conductivity ratio, Bruggeman) or ``None`` (tortuosity) and ``electrolyte_note`` says why; the void
fraction is reported separately. In the infiltrated archetype the electrolyte fills the pores of the wet layer
``z_w < z < L_c`` only: unless that is the whole layer, the layer's electrolyte ratio is ``None`` (no electrolyte
path to ``z = 0``) and the same definitions are applied to the wet layer alone (``wet_layer``: its porosity,
conductivity ratio and tortuosity between ``z_w`` and ``L_c``).

Numerics. The current is the Galerkin (reaction) flux ``I = a(φ_h, w)`` with ``w`` the P1 function equal to 1 on
the dofs of one Dirichlet plane and 0 elsewhere: it is the sum of the discrete residuals of those Dirichlet rows,
conservative to round-off (``I_bottom = −I_top``), unlike a gradient evaluated on the boundary. Pore or particle
clusters touching neither plane (enclosed pockets, floating particles) carry no current; their dofs are pinned to
0 so the pure-Neumann blocks they would form do not make the matrix singular.

Mesh convergence. P1 overestimates the conductance (the polygonal pore space is larger than the true one and the
discrete solution is stiffer): on the default meshes κ_eff/κ is far from converged. With
``study.convergence_levels = n >= 2`` the pore solve is repeated on ``n − 1`` finer meshes of the same particles
(both mesh sizes divided by ``√2^k``) and extrapolated to ``h → 0`` (:mod:`microsim.studies.mesh_convergence`):
``electrolyte_conductivity_ratio_extrapolated`` with its error estimate and the observed order, and
``tortuosity_extrapolated`` from the extrapolated porosity and ratio, beside the raw values.

Wetting. ``wetted_specific_interface_area_m2_m3`` is the measured Γ per layer volume: the particle surface the
electrolyte really wets (with gas voids, ``geometry.pore_fill_fraction < 1``, less than the particles' surface,
``particle_specific_surface_area_m2_m3``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import dolfinx_solver  # noqa: F401  (must precede dolfinx/mpi4py/petsc4py)

import dolfinx
import dolfinx.fem.petsc as fpetsc
import numpy as np
import ufl
from mpi4py import MPI

from microsim import tags
from microsim.errors import GeometryError
from microsim.field_output import write_fields_xdmf
from microsim.geometry.archetypes import (
    PORE_SOLVE,
    SOLID_SOLVE,
    WET_LAYER_SOLVE,
    GeometryDescription,
    get_archetype,
)
from microsim.linear import configure_direct, connected_components
from microsim.mesh import CellMesh
from microsim.progress import ProgressLog
from microsim.studies.base import Study, StudyContext, StudyResult, Summary, run_with
from microsim.studies.common import build_cell_mesh
from microsim.studies.mesh_convergence import richardson

if TYPE_CHECKING:
    from microsim.config import Config

__all__ = [
    "CONVERGENCE_RATIO",
    "ConductionResult",
    "conduction_ratio",
    "effective_properties",
    "mesh_convergence",
    "run_effective",
]

#: Relative distance (in units of the layer thickness) within which a dof counts as lying on a Dirichlet plane.
PLANE_TOLERANCE = 1.0e-7
#: Factorisations PETSc can use here; the study falls back to MUMPS for other solver choices (e.g. two-level).
_DIRECT_SOLVERS = ("mumps", "superlu_dist")


@dataclass
class ConductionResult:
    """Steady conduction through one phase of the cathode layer (unit conductivity, ``Δφ = 1``).

    Attributes:
        ratio: Effective / intrinsic conductivity ``I L / (A Δφ)``; ``None`` if the phase does not touch both
            planes (then ``reason`` says which is missing).
        volume_fraction: Phase volume / ``(A L)``.
        current_bottom: Galerkin current through ``z = z_bottom`` per unit conductivity (µm^(d−2)).
        current_top: The same through ``z = z_top`` (equal and opposite up to round-off).
        n_dofs: Global number of P1 unknowns.
        n_components: Connected components of the phase (through cells).
        n_floating_components: Components touching neither plane (pinned, carry no current).
        phi: The potential (P1 on the phase submesh), or ``None`` if the phase is empty.
        reason: Why ``ratio`` is ``None`` (empty otherwise).
    """

    ratio: float | None
    volume_fraction: float
    current_bottom: float = 0.0
    current_top: float = 0.0
    n_dofs: int = 0
    n_components: int = 0
    n_floating_components: int = 0
    phi: dolfinx.fem.Function | None = None
    reason: str = ""

    @property
    def conservation_error(self) -> float:
        """``|I_bottom + I_top| / |I_top|``: zero up to the linear solver's accuracy."""
        if self.current_top == 0.0:
            return 0.0
        return abs(self.current_bottom + self.current_top) / abs(self.current_top)


def conduction_ratio(
    msh: dolfinx.mesh.Mesh,
    cell_tags: dolfinx.mesh.MeshTags,
    cell_tag: int | tuple[int, ...],
    z_bottom: float,
    z_top: float,
    area: float,
    name: str = "phi",
    linear_solver: str = "mumps",
    weights: dict[int, float] | None = None,
) -> ConductionResult:
    """Effective conductivity ratio of the cells ``cell_tag`` between the planes ``z_bottom`` and ``z_top``.

    Solves ``−Δφ = 0`` on the submesh of those cells with ``φ = 0`` on its dofs at ``z = z_bottom``, ``φ = 1`` at
    ``z = z_top`` and natural (no-flux) conditions everywhere else; collective on ``msh.comm``.

    Args:
        msh: Parent mesh (the last coordinate runs through the layer).
        cell_tags: Cell tags of ``msh``.
        cell_tag: Tag of the conducting cells, or several tags (a composite phase).
        z_bottom: The ``φ = 0`` plane.
        z_top: The ``φ = 1`` plane.
        area: Geometric cross-section ``A`` (``W`` in 2D, ``W²`` in 3D), same length unit as the mesh.
        name: Name of the returned potential (XDMF output).
        linear_solver: PETSc factorisation package.
        weights: Conductivity of the cells of each tag relative to the unit one (a tag not named: 1); the
            volume fraction stays the plain cell volume.

    Returns:
        The result; ``ratio`` is 0 for a phase that touches both planes without connecting them, ``None`` if it
        does not touch both (or has no cells).
    """
    comm = msh.comm
    tdim = msh.topology.dim
    length = z_top - z_bottom
    tag_list = (cell_tag,) if isinstance(cell_tag, int) else cell_tag
    cells = np.sort(np.concatenate([cell_tags.find(t) for t in tag_list]))
    if comm.allreduce(len(cells), op=MPI.SUM) == 0:
        return ConductionResult(ratio=None, volume_fraction=0.0, reason="the phase has no cells")
    sub, emap, _, _ = dolfinx.mesh.create_submesh(msh, tdim, cells)
    V = dolfinx.fem.functionspace(sub, ("Lagrange", 1))
    im = V.dofmap.index_map
    dx = ufl.Measure("dx", domain=sub)
    one = dolfinx.fem.Constant(sub, dolfinx.default_scalar_type(1.0))
    volume = comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(one * dx)), op=MPI.SUM)
    fraction = volume / (area * length)

    # Local dofs (owned and ghost) on each plane. Every phase dof at such z lies on the phase boundary, since no
    # phase reaches below z_bottom or above z_top.
    z = V.tabulate_dof_coordinates()[:, tdim - 1]
    tol = PLANE_TOLERANCE * max(abs(length), 1.0)
    bottom = np.flatnonzero(np.abs(z - z_bottom) < tol).astype(np.int32)
    top = np.flatnonzero(np.abs(z - z_top) < tol).astype(np.int32)
    n_bottom = comm.allreduce(int(np.count_nonzero(bottom < im.size_local)), op=MPI.SUM)
    n_top = comm.allreduce(int(np.count_nonzero(top < im.size_local)), op=MPI.SUM)
    missing = [f"z = {zz:g}" for zz, n in ((z_bottom, n_bottom), (z_top, n_top)) if n == 0]
    if missing:
        return ConductionResult(
            ratio=None,
            volume_fraction=fraction,
            n_dofs=im.size_global,
            reason=f"the phase does not touch the plane {' and '.join(missing)}",
        )

    # Components touching neither plane: pin them (they would make the Neumann problem singular).
    labels, n_comp = connected_components(V)
    touched = np.zeros(n_comp, dtype=np.int32)
    touched[labels[bottom]] = 1
    touched[labels[top]] = 1
    comm.Allreduce(MPI.IN_PLACE, touched, op=MPI.MAX)
    floating = np.flatnonzero(touched[labels] == 0).astype(np.int32)
    # components spanning both planes: without one the current is 0 exactly (the solve would give round-off,
    # e.g. pores blocked by gas voids)
    spans = np.zeros((2, n_comp), dtype=np.int32)
    spans[0, labels[bottom]] = 1
    spans[1, labels[top]] = 1
    comm.Allreduce(MPI.IN_PLACE, spans, op=MPI.MAX)
    connected = bool(np.any(spans[0] & spans[1]))

    g = dolfinx.fem.Function(V)
    g.x.array[top] = 1.0
    dofs = np.unique(np.concatenate([bottom, top, floating])).astype(np.int32)
    bc = dolfinx.fem.dirichletbc(g, dofs)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    w_rel = _weight(sub, emap, cell_tags, weights) if weights else None
    a = ufl.inner(ufl.grad(u), ufl.grad(v)) * dx if w_rel is None else w_rel * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx
    rhs = ufl.inner(dolfinx.fem.Constant(sub, dolfinx.default_scalar_type(0.0)), v) * dx
    package = linear_solver if linear_solver in _DIRECT_SOLVERS else "mumps"
    phi = dolfinx.fem.Function(V, name=name)
    problem = fpetsc.LinearProblem(
        a,
        rhs,
        u=phi,
        bcs=[bc],
        petsc_options_prefix=f"microsim_effective_{name}_",
    )
    configure_direct(problem.solver, package)
    problem.solve()
    phi.x.scatter_forward()

    def current(plane: np.ndarray) -> float:
        w = dolfinx.fem.Function(V)
        w.x.array[plane] = 1.0
        flux = ufl.inner(ufl.grad(phi), ufl.grad(w))
        form = dolfinx.fem.form(flux * dx if w_rel is None else w_rel * flux * dx)
        return comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM)

    i_bottom, i_top = current(bottom), current(top)
    return ConductionResult(
        ratio=abs(i_top) * length / area if connected else 0.0,  # Δφ = 1
        volume_fraction=fraction,
        current_bottom=i_bottom,
        current_top=i_top,
        n_dofs=im.size_global,
        n_components=n_comp,
        n_floating_components=int(np.count_nonzero(touched == 0)),
        phi=phi,
    )


def _weight(
    sub: dolfinx.mesh.Mesh, emap: dolfinx.mesh.EntityMap, cell_tags: dolfinx.mesh.MeshTags, weights: dict[int, float]
) -> dolfinx.fem.Function:
    """DG0 relative conductivity on a submesh: ``weights[tag]`` of each cell's parent tag (1 if not named)."""
    tdim = sub.topology.dim
    n_sub = sub.topology.index_map(tdim).size_local + sub.topology.index_map(tdim).num_ghosts
    parent = emap.sub_topology_to_topology(np.arange(n_sub, dtype=np.int32), inverse=False)
    imap = cell_tags.topology.index_map(tdim)
    tag_of = np.zeros(imap.size_local + imap.num_ghosts, dtype=np.int64)
    tag_of[cell_tags.indices] = cell_tags.values
    w = dolfinx.fem.Function(dolfinx.fem.functionspace(sub, ("DG", 0)))
    w.x.array[:] = [weights.get(int(t), 1.0) for t in tag_of[parent]]
    return w


def _cbd_effective(cm: CellMesh, lc: float, area: float, linear_solver: str, ionic_factor: float) -> dict[str, Any]:
    """The carbon-binder domain's effect on the layer (``cbd`` of the effective record).

    ``electrolyte_conductivity_ratio_without_cbd``: κ_eff/κ with the CBD cells filled by electrolyte (the same
    microstructure without the binder); ``..._with_cbd``: as the cell has it (blocking: the pores alone;
    nanoporous: pores plus CBD at the ionic factor). ``electronic_conductivity_ratio``: σ_eff/σ_CBD of the CBD
    network alone between ``z = 0`` and ``z = L_c`` (None where the CBD does not span the layer, e.g. necks
    below the particles' gap to the membrane plane).
    """
    pore_cbd = (tags.ELECTROLYTE_PORE, tags.CBD)
    without = conduction_ratio(cm.mesh, cm.cell_tags, pore_cbd, 0.0, lc, area, "phi_no_cbd", linear_solver)
    if cm.cbd_nanoporous:
        weights = {tags.CBD: ionic_factor}
        with_cbd = conduction_ratio(
            cm.mesh, cm.cell_tags, pore_cbd, 0.0, lc, area, "phi_cbd_pores", linear_solver, weights=weights
        )
    else:
        with_cbd = conduction_ratio(
            cm.mesh, cm.cell_tags, tags.ELECTROLYTE_PORE, 0.0, lc, area, "phi_pores", linear_solver
        )
    network = conduction_ratio(cm.mesh, cm.cell_tags, tags.CBD, 0.0, lc, area, "phi_cbd", linear_solver)
    eps0 = without.volume_fraction

    def tau(res: ConductionResult, eps: float) -> float | None:
        return eps / res.ratio if res.ratio else None

    return {
        "ionic": "nanoporous" if cm.cbd_nanoporous else "blocking",
        "cbd_fraction_mesh": network.volume_fraction,
        "porosity_without_cbd": eps0,
        "electrolyte_conductivity_ratio_without_cbd": without.ratio,
        "tortuosity_without_cbd": tau(without, eps0),
        "electrolyte_conductivity_ratio_with_cbd": with_cbd.ratio,
        "tortuosity_with_cbd": tau(with_cbd, with_cbd.volume_fraction) if not cm.cbd_nanoporous else None,
        "electronic_conductivity_ratio": network.ratio,
        "electronic_note": network.reason,
    }


def _facet_measure(cm: CellMesh, tag: int, interior: bool) -> float:
    """Measured area of the facets of one tag (µm^(d−1)), interior (dS) or exterior (ds)."""
    measure = ufl.Measure("dS" if interior else "ds", domain=cm.mesh, subdomain_data=cm.facet_tags)
    one = dolfinx.fem.Constant(cm.mesh, dolfinx.default_scalar_type(1.0))
    return cm.comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(one * measure(tag))), op=MPI.SUM)


def _interface_area(cm: CellMesh) -> float:
    """Measured ``∫_Γ dS`` (µm^(d−1); 2D: µm² per µm of depth)."""
    dS = cm.measures()["dS"]
    one = dolfinx.fem.Constant(cm.mesh, dolfinx.default_scalar_type(1.0))
    return cm.comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(one * dS(tags.INTERFACE))), op=MPI.SUM)


def _spot_area(cm: CellMesh, lc: float) -> float:
    """Measured area of the Γ facets lying in the membrane plane ``z = L_c`` (the contact spots)."""
    dS = cm.measures()["dS"]
    x = ufl.SpatialCoordinate(cm.mesh)
    tol = PLANE_TOLERANCE * lc
    # 1 on facets whose midpoint lies on the plane: spots are flat, the curved wet Γ touches it at most at a point
    on_plane = ufl.conditional(ufl.lt(abs(x[cm.dim - 1]("+") - lc), tol), 1.0, 0.0)
    form = dolfinx.fem.form(on_plane * dS(tags.INTERFACE))
    return cm.comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM)


def effective_properties(
    cm: CellMesh,
    interface: str,
    cathode_thickness_um: float,
    linear_solver: str = "mumps",
    wet_plane_um: float = 0.0,
    log: ProgressLog | None = None,
    cbd_ionic_factor: float = 1.0,
) -> tuple[dict[str, Any], dict[str, list[dolfinx.fem.Function]]]:
    """Compute the effective properties of the cathode layer of a meshed cell (collective).

    Args:
        cm: The meshed cell (``z = 0`` collector, ``z = L_c`` pore|membrane plane).
        interface: The archetype's name (one of :data:`microsim.geometry.ARCHETYPES`); its
            :meth:`~microsim.geometry.Archetype.effective_measures` selects the solves and the definitions that
            apply.
        cathode_thickness_um: ``L_c``.
        linear_solver: PETSc factorisation package.
        wet_plane_um: Infiltrated: ``z_w``, the lower end of the pore electrolyte.
        log: progress of the conduction solves, if given.
        cbd_ionic_factor: Nanoporous carbon-binder domain: the ionic factor of its electrolyte.

    Returns:
        The ``effective`` record of ``summary.json`` and the potentials grouped for XDMF output.
    """
    lc = cathode_thickness_um
    area = cm.geometric_area_um
    layer_volume = area * lc
    fields: dict[str, list[dolfinx.fem.Function]] = {}

    plan = get_archetype(interface).effective_measures(wet_plane_um)
    n_solves = len(plan.solves)

    def done(k: int, what: str) -> None:
        if log is not None:
            log.update(k / n_solves, {"solved": f"{k}/{n_solves} ({what} conduction)"}, final=k == n_solves)

    el = conduction_ratio(cm.mesh, cm.cell_tags, tags.ELECTROLYTE_PORE, 0.0, lc, area, "phi_pore", linear_solver)
    done(1, PORE_SOLVE)
    solid = conduction_ratio(cm.mesh, cm.cell_tags, tags.PARTICLE, 0.0, lc, area, "phi_solid", linear_solver)
    done(2, SOLID_SOLVE)
    for key, res in (("pore_electrolyte", el), ("particles", solid)):
        if res.phi is not None:
            fields[key] = [res.phi]

    rec: dict[str, Any] = {
        "definitions": {
            "electrolyte_conductivity_ratio": "kappa_eff/kappa: pore electrolyte only, phi=0 at z=0, phi=1 at "
            "z=L_c, particles and side walls insulating; Galerkin current * L_c / (A * dphi)",
            "tortuosity": "epsilon * kappa / kappa_eff",
            "bruggeman_ratio": "epsilon**1.5 (spheres); bruggeman_ratio_cylinders: epsilon**2 (2D only)",
            "bruggeman_exponent_fitted": "ln(kappa_eff/kappa) / ln(epsilon)",
            "solid_conductivity_ratio": "sigma_eff/sigma: particles only, phi=0 on the collector z=0, phi=1 where "
            "the solid meets z=L_c; None where the solid does not touch both planes",
            "specific_interface_area_m2_m3": "measured reacting interface area / (A * L_c)",
            "contact_area_fraction": "point-contact: Gamma area / A; infiltrated: area of the spots on z=L_c / A",
        },
        "solid_fraction": solid.volume_fraction,
        "void_fraction": None,
        "porosity": el.volume_fraction,
        "electrolyte_conductivity_ratio": el.ratio,
        "tortuosity": None,
        "bruggeman_ratio": el.volume_fraction**1.5,
        # the differential-effective-medium analogue for insulating cylinders (what a 2D section represents)
        "bruggeman_ratio_cylinders": el.volume_fraction**2 if cm.dim == 2 else None,
        "bruggeman_exponent_fitted": None,
        "electrolyte_note": "",
        "solid_conductivity_ratio": solid.ratio,
        "solid_note": solid.reason,
        "electrolyte_current_conservation": el.conservation_error,
        "solid_current_conservation": solid.conservation_error,
        "n_dofs": {"pore_electrolyte": el.n_dofs, "particles": solid.n_dofs},
        "n_floating_components": {
            "pore_electrolyte": el.n_floating_components,
            "particles": solid.n_floating_components,
        },
    }
    if plan.void_fraction == "remainder":
        rec["void_fraction"] = max(1.0 - solid.volume_fraction - el.volume_fraction, 0.0)
    elif plan.void_fraction == "solid-complement":
        rec["void_fraction"] = 1.0 - solid.volume_fraction
    # a fully infiltrated layer is a filled one for the electrolyte: its plan says "measured"
    if plan.electrolyte == "wet-layer":
        wet = conduction_ratio(
            cm.mesh, cm.cell_tags, tags.ELECTROLYTE_PORE, wet_plane_um, lc, area, "phi_wet", linear_solver
        )
        done(3, WET_LAYER_SOLVE)
        # the pore volume lies in the wet layer: its porosity there is the layer's, rescaled
        porosity = el.volume_fraction * lc / (lc - wet_plane_um)
        rec["wet_layer"] = {
            "z_bottom_um": wet_plane_um,
            "thickness_um": lc - wet_plane_um,
            "porosity": porosity,
            "electrolyte_conductivity_ratio": wet.ratio,
            "tortuosity": porosity / wet.ratio if wet.ratio else None,
            "note": wet.reason,
        }
        if wet.phi is not None:
            fields["wet_layer_electrolyte"] = [wet.phi]
        rec["electrolyte_conductivity_ratio"] = None
        rec["bruggeman_ratio"] = None
        rec["bruggeman_ratio_cylinders"] = None
        rec["electrolyte_note"] = (
            f"{interface} to z_w = {wet_plane_um:.4g} µm: the pore electrolyte does not reach z = 0 (see "
            "wet_layer for the wet layer alone)"
        )
    elif plan.electrolyte == "void":
        rec["porosity"] = 0.0
        rec["electrolyte_conductivity_ratio"] = 0.0
        rec["bruggeman_ratio"] = 0.0
        rec["bruggeman_ratio_cylinders"] = 0.0 if cm.dim == 2 else None
        rec["electrolyte_note"] = f"{interface}: the pores are void (no electrolyte in the cathode layer)"
    elif el.ratio is None:
        # planar (solid slab) or a filled layer whose pores miss a plane
        rec["electrolyte_conductivity_ratio"] = 0.0 if el.volume_fraction == 0.0 else None
        rec["electrolyte_note"] = f"pore electrolyte: {el.reason}"
    elif el.ratio > 0.0:
        rec["tortuosity"] = el.volume_fraction / el.ratio
        if 0.0 < el.volume_fraction < 1.0:
            # κ_eff/κ = ε^p fitted through this one point (Bruggeman: p = 1.5 for spheres, 2 for 2D cylinders)
            rec["bruggeman_exponent_fitted"] = float(np.log(el.ratio) / np.log(el.volume_fraction))
    else:
        rec["electrolyte_note"] = "the pore electrolyte does not connect z = 0 to z = L_c"
    if plan.solid_gap_note and solid.ratio is None:
        rec["solid_note"] = (
            f"{interface}: the particles keep a gap below the membrane plane z = L_c, so the solid does not span the "
            f"layer ({solid.reason})"
        )

    gamma = _interface_area(cm)
    rec["interface_area_um2"] = gamma
    rec["specific_interface_area_m2_m3"] = gamma / layer_volume * 1.0e6  # 1/µm -> 1/m
    if plan.contact_area == "interface":
        rec["contact_area_fraction"] = gamma / area
    elif plan.contact_area == "spots":
        rec["contact_area_fraction"] = _spot_area(cm, lc) / area
    else:
        rec["contact_area_fraction"] = None
    if cm.has_cbd:
        cbd = _cbd_effective(cm, lc, area, linear_solver, cbd_ionic_factor)
        # Γ is the particle|electrolyte area the electrolyte wets; the particle|CBD area is covered by binder
        covered = _facet_measure(cm, tags.PARTICLE_CBD, interior=True)
        cbd["particle_cbd_area_um2"] = covered
        cbd["wetted_particle_area_share"] = gamma / (gamma + covered) if gamma + covered > 0 else None
        cbd["wetted_specific_interface_area_m2_m3"] = rec["specific_interface_area_m2_m3"]
        rec["cbd"] = cbd
    return rec, fields


#: Each convergence level refines both mesh sizes by this factor (3D: ~2.8x more cells per level). Refined, not
#: coarsened: the default meshes are already coarse (h_Γ = r/2 in 3D), and coarser ones are not in the asymptotic
#: range (default 3D cell: 0.492, 0.519, 0.543 at sizes x 1, √2, 2, differences that do not shrink).
CONVERGENCE_RATIO = 2.0**0.5


def mesh_convergence(
    desc: GeometryDescription,
    comm: MPI.Comm,
    levels: int,
    base: ConductionResult,
    z_bottom: float,
    linear_solver: str = "mumps",
) -> dict[str, Any]:
    """The pore-conduction ratio on ``levels`` meshes and its extrapolation to ``h → 0`` (collective).

    Level 0 is the configured mesh (its result ``base``); level ``k`` has both mesh sizes ``CONVERGENCE_RATIO^k``
    times smaller, on the same particles and voids (the description is reused: only the mesh changes). The
    ratio and the porosity are extrapolated by :func:`~microsim.studies.mesh_convergence.richardson`; a level
    that cannot be meshed ends the series there (the coarser ones are used).

    Args:
        desc: The geometry description of the configured mesh.
        comm: Communicator.
        levels: Number of meshes (>= 2).
        base: The pore-conduction result on the configured mesh.
        z_bottom: Lower plane of the solve (0, or the wet plane of a partly infiltrated layer).
        linear_solver: PETSc factorisation package.

    Returns:
        The ``mesh_convergence`` record of summary.json.
    """
    lc = desc.cathode_thickness_um
    area = desc.width_um ** (desc.dim - 1)
    series = [(1.0, base.ratio, base.volume_fraction, base.n_dofs, 0.0)]
    note = ""
    for k in range(1, levels):
        scale = CONVERGENCE_RATIO ** (-k)
        finer = dataclasses.replace(
            desc,
            mesh_size_um=desc.mesh_size_um * scale,
            interface_mesh_size_um=desc.interface_mesh_size_um * scale,
        )
        t = time.perf_counter()
        try:
            cm = build_cell_mesh(finer, comm)
        except GeometryError as exc:
            note = f"level {k} (mesh sizes x {scale:.3g}) not meshed: {exc}"
            break
        res = conduction_ratio(cm.mesh, cm.cell_tags, tags.ELECTROLYTE_PORE, z_bottom, lc, area, f"phi_level{k}",
                               linear_solver)  # fmt: skip
        if res.ratio is None:
            note = f"level {k} (mesh sizes x {scale:.3g}): {res.reason}"
            break
        series.append((scale, res.ratio, res.volume_fraction, res.n_dofs, comm.allreduce(time.perf_counter() - t,
                                                                                          op=MPI.MAX)))  # fmt: skip
    scales = [row[0] for row in series]
    ratio = richardson(scales, [float(row[1]) for row in series])  # type: ignore[arg-type]  # base.ratio is set
    porosity = richardson(scales, [row[2] for row in series])
    return {
        "levels": [
            {
                "mesh_size_um": desc.mesh_size_um * sc,
                "interface_mesh_size_um": desc.interface_mesh_size_um * sc,
                "electrolyte_conductivity_ratio": r,
                "porosity": eps,
                "n_dofs": n,
                "time_s": ts,
            }
            for sc, r, eps, n, ts in series
        ],
        "electrolyte_conductivity_ratio_extrapolated": ratio.value,
        "electrolyte_conductivity_ratio_error_estimate": ratio.error_estimate,
        "finest_error_estimate": ratio.finest_error_estimate,
        "order_observed": ratio.order_observed,
        "order_used": ratio.order,
        "porosity_extrapolated": porosity.value,
        "tortuosity_extrapolated": porosity.value / ratio.value if ratio.value > 0.0 else None,
        "note": "; ".join(n for n in (note, ratio.note) if n),
    }


def _convergence_and_wetting(ctx: StudyContext, eff: dict[str, Any]) -> None:
    """Add the mesh-convergence check of κ_eff/κ and the wetted specific interface area to ``eff``."""
    cfg, desc = ctx.cfg, ctx.desc
    plan = get_archetype(desc.interface).effective_measures(desc.wet_plane_um)
    levels = cfg.study.convergence_levels
    conv: dict[str, Any] | None = None
    if levels >= 2 and plan.electrolyte in ("measured", "wet-layer"):
        wet = plan.electrolyte == "wet-layer"
        z_bottom = desc.wet_plane_um if wet else 0.0
        area = ctx.cm.geometric_area_um
        # the configured mesh's solve, again (cheap next to the meshes): the record does not keep ConductionResult
        base = conduction_ratio(ctx.cm.mesh, ctx.cm.cell_tags, tags.ELECTROLYTE_PORE, z_bottom,
                                desc.cathode_thickness_um, area, "phi_level0", cfg.solver.linear_solver)  # fmt: skip
        if base.ratio:
            conv = mesh_convergence(desc, ctx.comm, levels, base, z_bottom, cfg.solver.linear_solver)
            conv["quantity"] = "wet_layer.electrolyte_conductivity_ratio" if wet else "electrolyte_conductivity_ratio"
    eff["mesh_convergence"] = conv
    # beside the raw values they extrapolate: the layer's, or (partly infiltrated) the wet layer's
    keys = ("electrolyte_conductivity_ratio_extrapolated", "electrolyte_conductivity_ratio_error_estimate",
            "tortuosity_extrapolated")  # fmt: skip
    wet_layer = plan.electrolyte == "wet-layer"
    for key in keys:
        eff[key] = None if conv is None or wet_layer else conv[key]
        if wet_layer and isinstance(eff.get("wet_layer"), dict):
            eff["wet_layer"][key] = None if conv is None else conv[key]
    eff["definitions"]["electrolyte_conductivity_ratio_extrapolated"] = (
        "kappa_eff/kappa extrapolated to h -> 0 from study.convergence_levels meshes (sizes / sqrt(2)^k), "
        "f(h) = f_inf + C h^p with the observed p (p = 2 with two meshes); tortuosity_extrapolated = "
        "porosity_extrapolated / that"
    )
    # Γ measured on the mesh is the wetted interface (particle surfaces facing a void are not Γ); the particles'
    # whole exposed surface is the geometry's exact one
    geo = ctx.geometry
    layer_volume = ctx.cm.geometric_area_um * desc.cathode_thickness_um
    eff["wetted_specific_interface_area_m2_m3"] = eff["interface_area_um2"] / layer_volume * 1.0e6
    total = geo.get("specific_interface_area_m2_m3") if desc.archetype.uses_pore_fill else None
    eff["particle_specific_surface_area_m2_m3"] = total
    eff["wetted_interface_fraction"] = (
        eff["wetted_specific_interface_area_m2_m3"] / total if isinstance(total, float) and total > 0 else None
    )
    eff["definitions"]["wetted_specific_interface_area_m2_m3"] = (
        "particle|electrolyte area the electrolyte wets (Gamma on the mesh, void-facing surfaces excluded) / "
        "(A * L_c); particle_specific_surface_area_m2_m3: the particles' exposed surface (exact, geometry.json), "
        "wetted_interface_fraction: their ratio"
    )


class EffectiveStudy(Study):
    """``study.kind = "effective"``: effective conductivities, tortuosities and areas of the microstructure."""

    kind: ClassVar[str] = "effective"

    def run(self, ctx: StudyContext) -> StudyResult:
        """The scalar conduction problems of the archetype, scaled by the bulk conductivities."""
        cfg, comm, params, desc, timer = ctx.cfg, ctx.comm, ctx.params, ctx.desc, ctx.timer
        t = time.perf_counter()
        log = ProgressLog(comm, "effective properties", cfg.output.progress_interval_s)
        eff, fields = effective_properties(
            ctx.cm,
            desc.interface,
            desc.cathode_thickness_um,
            cfg.solver.linear_solver,
            desc.wet_plane_um,
            log,
            cbd_ionic_factor=params.cbd.ionic_factor,
        )
        log.close()
        timer.add("solve_s", time.perf_counter() - t)
        kappa = params.electrolyte.conductivity_S_m
        sigma = params.lfp.conductivity_S_m
        ratio_e, ratio_s = eff["electrolyte_conductivity_ratio"], eff["solid_conductivity_ratio"]
        eff["electrolyte_conductivity_S_m"] = kappa
        eff["effective_electrolyte_conductivity_S_m"] = None if ratio_e is None else ratio_e * kappa
        eff["solid_conductivity_S_m"] = sigma
        eff["effective_solid_conductivity_S_m"] = None if ratio_s is None else ratio_s * sigma
        # The fractions above are the mesh's: its flat-faced cells cut the curved particle surfaces, so a coarse
        # mesh holds less solid than the particles (7 % less for r = 0.5 µm at h_Γ = 0.25 µm). τ = ε κ/κ_eff uses
        # the mesh's ε, consistent with the conduction solve on the same cells; the exact fraction is beside it.
        exact = ctx.geometry.get("active_fraction")
        eff["solid_fraction_geometry"] = exact
        eff["solid_volume_deficit_mesh"] = (
            1.0 - eff["solid_fraction"] / exact if isinstance(exact, float) and exact > 0 else None
        )
        t = time.perf_counter()
        _convergence_and_wetting(ctx, eff)
        timer.add("convergence_s", time.perf_counter() - t)
        eff["definitions"]["solid_fraction"] = (
            "solid volume of the mesh / (A * L_c); solid_fraction_geometry: the particles' exact fraction "
            "(geometry.json active_fraction); solid_volume_deficit_mesh: 1 - their ratio"
        )
        summary: Summary = {
            # scalar Poisson solves: a factorisation whatever the choice ("auto", "two-level" mean MUMPS)
            "linear_solver": cfg.solver.linear_solver if cfg.solver.linear_solver in _DIRECT_SOLVERS else "mumps",
            "active_fraction": ctx.geometry.get("active_fraction"),
            "effective": eff,
            "geometry": ctx.geometry,
        }
        if ctx.out_dir is not None and cfg.output.xdmf and fields:
            t = time.perf_counter()
            write_fields_xdmf(comm, ctx.out_dir, fields)
            timer.add("output_s", time.perf_counter() - t)
        return StudyResult(summary)


def run_effective(cfg: Config, out_dir: Path | None, comm: MPI.Comm) -> Summary:
    """Run the effective-properties study on ``cfg``; write outputs under ``out_dir`` and return the summary."""
    return run_with(EffectiveStudy(), cfg, out_dir, comm)
