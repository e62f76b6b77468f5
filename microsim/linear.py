"""Scalable linear solver for the coupled Jacobian: a two-level preconditioner.

Why (SOLVER-NOTES "Linear solvers"): each block of the Jacobian is nearly singular on every connected component
of its phase — the potentials are pure Neumann up to the weak Butler–Volmer Robin term, the salt up to a tiny
pseudo-transient mass term — so one-level preconditioners (GAMG per field, ILU) stall. A coarse space of one
indicator vector per (field, connected component) removes exactly those modes; around it a fieldsplit smoother
with GAMG on each field handles the rest. The preconditioner is applied multiplicatively:

    y = S r;   y += Z A_c⁻¹ Zᵀ (r − A y);   y += S (r − A y)

with ``A_c = Zᵀ A Z`` (small and dense, factorised on every rank). Krylov method: GMRES.
"""

from __future__ import annotations

from typing import Any

import dolfinx_solver  # noqa: F401

import dolfinx
import dolfinx.fem.petsc as fpetsc
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

#: Components smaller than this many dofs (globally) are not given a coarse vector of their own.
MIN_COMPONENT_DOFS = 1


def connected_components(V: dolfinx.fem.FunctionSpace) -> tuple[np.ndarray, int]:
    """Label the dofs of a P1 space by the connected component (through cells) of its mesh.

    Parallel label propagation: every dof starts with its global index, takes the minimum over the cells it
    belongs to, and shared dofs agree through a ghost reduction, until nothing changes.

    Returns:
        Labels 0..k−1 for the local dofs (owned and ghosts) and the global number k of components.
    """
    comm = V.mesh.comm
    im = V.dofmap.index_map
    n_owned, n_ghost = im.size_local, im.num_ghosts
    cells = V.dofmap.list
    vec = fpetsc.create_vector(V)
    # labels are −(global index): PETSc reduces ghosts with MAX, which then picks the smallest index
    with vec.localForm() as loc:
        loc.array[:] = -im.local_to_global(np.arange(n_owned + n_ghost, dtype=np.int32)).astype(float)
    while True:
        with vec.localForm() as loc:
            lab = loc.array
            old = lab.copy()
            cell_max = lab[cells].max(axis=1)
            np.maximum.at(lab, cells, cell_max[:, None])
        vec.ghostUpdate(addv=PETSc.InsertMode.MAX_VALUES, mode=PETSc.ScatterMode.REVERSE)
        vec.ghostUpdate(addv=PETSc.InsertMode.INSERT_VALUES, mode=PETSc.ScatterMode.FORWARD)
        with vec.localForm() as loc:
            changed = bool(np.any(loc.array != old))
        if not comm.allreduce(changed, op=MPI.LOR):
            break
    with vec.localForm() as loc:
        lab = loc.array.copy()
    vec.destroy()
    roots = np.unique(np.concatenate(comm.allgather(np.unique(lab[:n_owned]))))
    return np.searchsorted(roots, lab).astype(np.int32), len(roots)


class TwoLevelPC:
    """Python context of a PETSc ``python`` PC (see module docstring).

    Args:
        spaces: the block function spaces in the order of the monolithic matrix.
        blocks: the matrix's local block offsets (``_blocks`` attribute of DOLFINx blocked vectors).
        constrained: per block, a boolean mask of Dirichlet rows (local owned dofs): excluded from coarse vectors.
    """

    def __init__(self, spaces: list[Any], blocks: Any, constrained: list[np.ndarray]) -> None:
        self.spaces = spaces
        self.blocks = blocks
        self.constrained = constrained
        self.Z: list[PETSc.Vec] = []
        self.smoother: PETSc.PC | None = None
        self.n_coarse = 0

    def _coarse_vectors(self, A: PETSc.Mat) -> list[PETSc.Vec]:
        owned = self.blocks[0]
        vecs = []
        for k, V in enumerate(self.spaces):
            labels, n_comp = connected_components(V)
            n_loc = V.dofmap.index_map.size_local
            lab = labels[:n_loc]
            free = ~self.constrained[k]
            for c in range(n_comp):
                mask = (lab == c) & free
                if V.mesh.comm.allreduce(int(mask.sum()), op=MPI.SUM) < MIN_COMPONENT_DOFS:
                    continue
                z = A.createVecRight()
                z.set(0.0)
                arr = z.getArray()
                arr[owned[k] : owned[k + 1]][mask] = 1.0
                z.setArray(arr)
                vecs.append(z)
        return vecs

    def setUp(self, pc: PETSc.PC) -> None:  # PETSc calls it by this name
        """Build the smoother and the coarse operator for the current matrix."""
        A, P = pc.getOperators()
        comm = A.getComm()
        if self.smoother is None:
            sm = PETSc.PC().create(comm)
            sm.setType("fieldsplit")
            sm.setOperators(A, P)
            owned = self.blocks[0]
            rstart = A.getOwnershipRange()[0]
            splits = []
            for k in range(len(self.spaces)):
                idx = np.arange(owned[k], owned[k + 1], dtype=np.int32) + rstart
                splits.append((str(k), PETSc.IS().createGeneral(idx, comm=comm)))
            sm.setFieldSplitIS(*splits)
            sm.setFieldSplitType(PETSc.PC.CompositeType.MULTIPLICATIVE)
            sm.setUp()
            for sub in sm.getFieldSplitSubKSP():
                sub.setType("preonly")
                sub.getPC().setType("gamg")
            self.smoother = sm
            self.Z = self._coarse_vectors(A)
            self.n_coarse = len(self.Z)
        else:
            self.smoother.setOperators(A, P)
        self.smoother.setUp()
        # coarse operator A_c = Zᵀ A Z
        k = len(self.Z)
        self.AZ = [A.createVecLeft() for _ in range(k)]
        for z, az in zip(self.Z, self.AZ, strict=True):
            A.mult(z, az)
        ac = np.array([[zi.dot(azj) for azj in self.AZ] for zi in self.Z]) if k else np.zeros((0, 0))
        self.Ac_inv = np.linalg.pinv(ac) if k else ac
        self.A = A
        self.work = A.createVecLeft()
        self.work2 = A.createVecLeft()

    def _coarse(self, r: PETSc.Vec, y: PETSc.Vec) -> None:
        if not self.Z:
            return
        rhs = np.array([z.dot(r) for z in self.Z])
        coef = self.Ac_inv @ rhs
        for c, z in zip(coef, self.Z, strict=True):
            y.axpy(float(c), z)

    def apply(self, pc: PETSc.PC, r: PETSc.Vec, y: PETSc.Vec) -> None:
        """Multiplicative two-level cycle: smooth, coarse-correct, smooth."""
        if self.smoother is None:
            raise RuntimeError("TwoLevelPC.apply called before setUp")
        A, t, s = self.A, self.work, self.work2
        self.smoother.apply(r, y)
        A.mult(y, t)
        t.aypx(-1.0, r)  # t = r − A y
        self._coarse(t, y)
        A.mult(y, t)
        t.aypx(-1.0, r)
        self.smoother.apply(t, s)
        y.axpy(1.0, s)


def configure_two_level(
    ksp: PETSc.KSP, spaces: list[Any], blocks: Any, bcs_by_block: list[list[Any]], rtol: float = 1e-10
) -> TwoLevelPC:
    """Make ``ksp`` GMRES with the two-level preconditioner; returns the Python context.

    Args:
        ksp: the Krylov solver of the monolithic block matrix.
        spaces: block function spaces, in matrix order.
        blocks: the block offsets of the matrix's vectors (``vec.getAttr("_blocks")``).
        bcs_by_block: Dirichlet conditions grouped by block (their rows get no coarse vector).
        rtol: relative tolerance of GMRES.
    """
    constrained = []
    for V, bcs_k in zip(spaces, bcs_by_block, strict=True):
        n_loc = V.dofmap.index_map.size_local
        mask = np.zeros(n_loc, dtype=bool)
        for bc in bcs_k:
            dofs = bc.dof_indices()[0]
            mask[dofs[dofs < n_loc]] = True
        constrained.append(mask)
    ctx = TwoLevelPC(spaces, blocks, constrained)
    ksp.setType("gmres")
    ksp.setGMRESRestart(200)
    ksp.setTolerances(rtol=rtol, atol=1e-50, max_it=1000)
    pc = ksp.getPC()
    pc.setType("python")
    pc.setPythonContext(ctx)
    return ctx
