"""Distributed mesh, phase submeshes and interface integration data.

Gmsh runs on rank 0 only; :func:`dolfinx.io.gmsh.model_to_mesh` distributes the mesh with shared-facet ghosting,
which interior-facet (dS) integrals over the particle|electrolyte interface need on every rank. Every integral of
the model is written on the parent mesh; the unknowns live on the particle and electrolyte submeshes and the forms
receive the two entity maps (DOLFINx 0.11 mixed-domain assembly).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import dolfinx_solver  # noqa: F401  (must precede dolfinx: loads the MPI library the wheel was built with)

import dolfinx
import numpy as np
import ufl
from mpi4py import MPI

from microsim import tags
from microsim.errors import GeometryError
from microsim.geometry.gmsh_child import Build, build_in_child

#: Quadrature degree of every interface and boundary integral. Residual, constraint and dissipation functionals
#: must use the same rule, so that the discrete power balance (docs/model.md §4.2) holds to solver precision.
FACET_QUADRATURE_DEGREE = 4


@dataclass
class Phase:
    """One phase (particles or electrolyte) as a submesh of the parent mesh."""

    mesh: dolfinx.mesh.Mesh
    entity_map: dolfinx.mesh.EntityMap  # submesh cell -> parent cell
    parent_cells: np.ndarray  # parent cell index of every local submesh cell (owned + ghost)
    # parent geometry node of every local submesh geometry node (checkpoints key dof values by Gmsh node)
    node_map: np.ndarray | None = None


@dataclass
class CellMesh:
    """The meshed cell: parent mesh, tags, phase submeshes and interface integration data.

    Coordinates are in micrometres (``constants.MICRON`` metres per unit). ``solid`` is the submesh of the solid
    potential: the particle phase itself (the same object) without a carbon-binder domain, the particle and CBD
    cells with one; θ always lives on ``particle``. ``electrolyte`` holds the CBD cells too when the CBD is
    nanoporous.
    """

    comm: MPI.Comm
    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags
    facet_tags: dolfinx.mesh.MeshTags
    particle: Phase
    electrolyte: Phase
    interface_entities: np.ndarray  # (n, 4): cell_P, local facet_P, cell_E, local facet_E (owned facets only)
    geometric_area_um: float  # W (2D, per µm of depth) or W^2 (3D): the area in µm^(d-1)
    top_um: float  # z of the Li metal
    info: dict[str, object] = field(default_factory=dict)
    solid: Phase | None = None  # None: the particle phase (set in __post_init__)

    def __post_init__(self) -> None:
        if self.solid is None:
            self.solid = self.particle

    @property
    def solid_phase(self) -> Phase:
        """The phase of the solid potential (typed access to :attr:`solid`)."""
        assert self.solid is not None  # set in __post_init__
        return self.solid

    @property
    def has_cbd(self) -> bool:
        """Whether a carbon-binder domain is resolved (the solid submesh is then not the particle one)."""
        return self.solid is not self.particle

    @property
    def cbd_nanoporous(self) -> bool:
        """Whether the CBD cells belong to the electrolyte submesh too."""
        return bool(self.info.get("cbd_nanoporous", False))

    @property
    def dim(self) -> int:
        """Topological (= geometric) dimension."""
        return self.mesh.topology.dim

    @property
    def entity_maps(self) -> list[dolfinx.mesh.EntityMap]:
        """Entity maps to hand to every form (the solid's first when it is a submesh of its own)."""
        if self.has_cbd:
            return [self.solid_phase.entity_map, self.particle.entity_map, self.electrolyte.entity_map]
        return [self.particle.entity_map, self.electrolyte.entity_map]

    def measures(self) -> dict[str, ufl.Measure]:
        """Integration measures on the parent mesh: ``dx`` (cell tags), ``ds`` (facet tags), ``dS`` (Γ)."""
        md = {"quadrature_degree": FACET_QUADRATURE_DEGREE}
        return {
            "dx": ufl.Measure("dx", domain=self.mesh, subdomain_data=self.cell_tags),
            "ds": ufl.Measure("ds", domain=self.mesh, subdomain_data=self.facet_tags, metadata=md),
            "dS": ufl.Measure(
                "dS",
                domain=self.mesh,
                subdomain_data=[(tags.INTERFACE, self.interface_entities.ravel())],
                metadata=md,
            ),
        }

    def count_cells(self) -> dict[str, int]:
        """Global number of cells per phase and in total."""
        imap = self.mesh.topology.index_map(self.dim)
        out = {"total": imap.size_global}
        for name, ph in (("particle", self.particle), ("electrolyte", self.electrolyte)):
            out[name] = ph.mesh.topology.index_map(self.dim).size_global
        if self.has_cbd:
            out["solid"] = self.solid_phase.mesh.topology.index_map(self.dim).size_global
        return out


def _phase(msh: dolfinx.mesh.Mesh, cells: np.ndarray) -> Phase:
    tdim = msh.topology.dim
    sub, emap, _, node_map = dolfinx.mesh.create_submesh(msh, tdim, cells)
    n_sub = sub.topology.index_map(tdim).size_local + sub.topology.index_map(tdim).num_ghosts
    parent = emap.sub_topology_to_topology(np.arange(n_sub, dtype=np.int32), inverse=False)
    return Phase(
        mesh=sub,
        entity_map=emap,
        parent_cells=np.asarray(parent, dtype=np.int32),
        node_map=np.asarray(node_map, dtype=np.int64),
    )


def from_tagged_mesh(
    msh: dolfinx.mesh.Mesh,
    cell_tags: dolfinx.mesh.MeshTags,
    facet_tags: dolfinx.mesh.MeshTags,
    geometric_area_um: float,
    top_um: float,
    info: Mapping[str, object] | None = None,
) -> CellMesh:
    """Build phase submeshes and oriented interface data from a tagged parent mesh.

    The parent mesh must ghost shared facets when run on more than one rank.

    Raises:
        GeometryError: if a phase or the interface is empty on all ranks.
    """
    comm = msh.comm
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    msh.topology.create_connectivity(tdim, tdim - 1)
    info = dict(info or {})
    cells_p = cell_tags.find(tags.PARTICLE)
    cells_c = cell_tags.find(tags.CBD)
    # collective decision: every rank must build the same set of submeshes
    has_cbd = comm.allreduce(len(cells_c), op=MPI.SUM) > 0
    nanoporous = has_cbd and bool(info.get("cbd_nanoporous", False))
    e_tags = (*tags.ELECTROLYTE_CELLS, tags.CBD) if nanoporous else tags.ELECTROLYTE_CELLS
    cells_e = np.sort(np.concatenate([cell_tags.find(t) for t in e_tags]))
    for name, cells in (("particle", cells_p), ("electrolyte", cells_e)):
        if comm.allreduce(len(cells), op=MPI.SUM) == 0:
            raise GeometryError(f"the mesh has no {name} cells")
    particle = _phase(msh, cells_p)
    electrolyte = _phase(msh, cells_e)
    solid = _phase(msh, np.sort(np.concatenate([cells_p, cells_c]))) if has_cbd else None

    n_cells = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
    is_particle = np.zeros(n_cells, dtype=bool)
    is_particle[particle.parent_cells] = True
    facets = facet_tags.find(tags.INTERFACE)
    ents = dolfinx.fem.compute_integration_domains(
        dolfinx.fem.IntegralType.interior_facet, msh.topology, facets
    ).reshape(-1, 4)
    # Orientation is silent in DOLFINx: make "+" (columns 0, 1) the particle side of every interface facet.
    swap = ~is_particle[ents[:, 0]]
    ents[swap] = ents[swap][:, [2, 3, 0, 1]]
    if not np.all(is_particle[ents[:, 0]] & ~is_particle[ents[:, 2]]):
        raise GeometryError("an interface facet does not separate a particle cell from an electrolyte cell")
    if comm.allreduce(len(ents), op=MPI.SUM) == 0:
        raise GeometryError("the particle|electrolyte interface is empty")
    return CellMesh(
        comm=comm,
        mesh=msh,
        cell_tags=cell_tags,
        facet_tags=facet_tags,
        particle=particle,
        electrolyte=electrolyte,
        interface_entities=np.ascontiguousarray(ents, dtype=np.int32),
        geometric_area_um=geometric_area_um,
        top_um=top_um,
        info=info,
        solid=solid,
    )


def from_gmsh(
    comm: MPI.Comm,
    build: Build,
    dim: int,
    geometric_area_um: float,
    top_um: float,
) -> CellMesh:
    """Run ``build`` (which creates and meshes the Gmsh model) on rank 0 and distribute the mesh.

    ``build`` runs in a child process of rank 0 (:mod:`microsim.geometry.gmsh_child`), so a native crash in Gmsh
    is a :class:`GeometryError` naming the attempt. A failure on rank 0 is broadcast, so every rank raises the
    same :class:`GeometryError` instead of hanging.
    """
    import gmsh

    info: Mapping[str, object] | None = None
    error: str | None = None
    t0 = time.perf_counter()
    if comm.rank == 0:
        try:
            info = build_in_child(build)
        except GeometryError as exc:
            error = str(exc)
        except Exception as exc:  # a Gmsh failure must not leave the other ranks waiting
            error = f"gmsh failed to build the geometry: {exc}"
    error = comm.bcast(error, root=0)
    if error is not None:
        if comm.rank == 0 and gmsh.isInitialized():
            gmsh.finalize()
        raise GeometryError(error)
    info = comm.bcast(info, root=0)
    t_gmsh = time.perf_counter() - t0
    # create_cell_partitioner is a singledispatch function: mypy sees only the base (part, mode, links) signature.
    partitioner = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)  # type: ignore[call-arg]
    data = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, 0, gdim=dim, partitioner=partitioner)
    if comm.rank == 0:
        gmsh.finalize()
    info = dict(info or {})
    info["time_gmsh_s"] = t_gmsh
    info["time_distribute_s"] = time.perf_counter() - t0 - t_gmsh
    if data.cell_tags is None or data.facet_tags is None:
        raise GeometryError("the Gmsh model has no cell or facet physical groups")
    return from_tagged_mesh(data.mesh, data.cell_tags, data.facet_tags, geometric_area_um, top_um, info)
