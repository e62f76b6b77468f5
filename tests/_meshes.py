"""Structured tagged meshes (no Gmsh) for verification by refinement."""

from __future__ import annotations

import dolfinx_solver  # noqa: F401

import dolfinx
import numpy as np

from microsim import tags
from microsim.mesh import CellMesh, from_tagged_mesh


def planar_box(comm, width: float, lc: float, lm: float, nx: int, ny: int) -> CellMesh:
    """Rectangle [0, W] x [0, L_c + L_m]: particle slab below z = L_c, membrane above; shared-facet ghosts."""
    part = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    msh = dolfinx.mesh.create_rectangle(comm, [[0.0, 0.0], [width, lc + lm]], [nx, ny], partitioner=part)
    tdim = 2
    imap = msh.topology.index_map(tdim)
    cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(msh, tdim, cells)
    ct = dolfinx.mesh.meshtags(
        msh, tdim, cells, np.where(mid[:, 1] < lc, tags.PARTICLE, tags.ELECTROLYTE_MEMBRANE).astype(np.int32)
    )
    msh.topology.create_connectivity(tdim - 1, tdim)
    found = [
        (dolfinx.mesh.locate_entities(msh, 1, lambda x: np.isclose(x[1], lc)), tags.INTERFACE),
        (dolfinx.mesh.locate_entities_boundary(msh, 1, lambda x: np.isclose(x[1], lc + lm)), tags.ANODE),
        (dolfinx.mesh.locate_entities_boundary(msh, 1, lambda x: np.isclose(x[1], 0.0)), tags.COLLECTOR),
    ]
    idx = np.concatenate([f for f, _ in found])
    val = np.concatenate([np.full(len(f), t, dtype=np.int32) for f, t in found])
    order = np.argsort(idx)
    ft = dolfinx.mesh.meshtags(msh, tdim - 1, idx[order], val[order])
    return from_tagged_mesh(msh, ct, ft, width, lc + lm)


def planar_cbd_box(comm, width: float, l_cbd: float, lc: float, lm: float, nx: int, ny: int) -> CellMesh:
    """Rectangle [0, W] x [0, L_c + L_m]: a CBD film below z = l_cbd, the particle slab up to L_c, membrane above.

    The collector touches the CBD only; Γ is the slab's top. ``ny`` must put nodes on ``z = l_cbd`` and ``z = L_c``.
    """
    part = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    msh = dolfinx.mesh.create_rectangle(comm, [[0.0, 0.0], [width, lc + lm]], [nx, ny], partitioner=part)
    tdim = 2
    imap = msh.topology.index_map(tdim)
    cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(msh, tdim, cells)
    values = np.where(mid[:, 1] < l_cbd, tags.CBD, np.where(mid[:, 1] < lc, tags.PARTICLE, tags.ELECTROLYTE_MEMBRANE))
    ct = dolfinx.mesh.meshtags(msh, tdim, cells, values.astype(np.int32))
    msh.topology.create_connectivity(tdim - 1, tdim)
    found = [
        (dolfinx.mesh.locate_entities(msh, 1, lambda x: np.isclose(x[1], lc)), tags.INTERFACE),
        (dolfinx.mesh.locate_entities(msh, 1, lambda x: np.isclose(x[1], l_cbd)), tags.PARTICLE_CBD),
        (dolfinx.mesh.locate_entities_boundary(msh, 1, lambda x: np.isclose(x[1], lc + lm)), tags.ANODE),
        (dolfinx.mesh.locate_entities_boundary(msh, 1, lambda x: np.isclose(x[1], 0.0)), tags.CBD_COLLECTOR),
    ]
    idx = np.concatenate([f for f, _ in found])
    val = np.concatenate([np.full(len(f), t, dtype=np.int32) for f, t in found])
    order = np.argsort(idx)
    ft = dolfinx.mesh.meshtags(msh, tdim - 1, idx[order], val[order])
    return from_tagged_mesh(msh, ct, ft, width, lc + lm)
