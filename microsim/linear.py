"""Scalable linear solver for the coupled Jacobian: a two-level preconditioner.

Why (docs/solver.md, "DOLFINx notes"): each block of the Jacobian is nearly singular on every connected component
of its phase — the potentials are pure Neumann up to the weak Butler–Volmer Robin term, the salt up to a tiny
pseudo-transient mass term — so one-level preconditioners (GAMG per field, ILU) stall. A coarse space of one
indicator vector per (field, connected component) removes exactly those modes; a fieldsplit smoother with GAMG on
each field handles the rest. One application of the preconditioner:

    y = Z A_c⁻¹ Zᵀ r;   y += S (r − A y)

with ``A_c = Zᵀ A Z`` (small and dense, inverted on every rank) and ``S`` one additive-fieldsplit sweep. The
symmetric cycle (``y = S r``, coarse correction, smoothing again) cost twice as much per iteration for about
a quarter fewer iterations, and at the same GMRES tolerance its solutions were 10–100× further from the direct
solution in 3D. Krylov method: GMRES, left-preconditioned.

Z has one nonzero per row (the components of a field partition its dofs), so it is kept as a label per dof:
``Zᵀ r`` is one ``bincount`` and one allreduce, ``Z c`` a gather. ``A_c`` is one sparse ``PtAP`` with Z as a
PETSc matrix. Smoother options live under the prefix ``<ksp prefix>twolevel_`` (fieldsplit) and
``<ksp prefix>twolevel_fieldsplit_<k>_`` (GAMG of block k); :data:`GAMG_DEFAULTS` and :data:`SMOOTHER_DEFAULTS`
are the tuned values, each overridable from the PETSc options database.
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

#: GAMG options of every field's block, measured on 3D resistance Jacobians (21k–132k unknowns): plain (unsmoothed)
#: aggregation, since smoothed prolongators made the Galerkin products a quarter of each Newton iteration for about
#: the same GMRES iterations; aggressive coarsening by MIS-2 instead of PETSc's squared graph (which took 1.8 of the
#: 2.0 s of GAMG set-up and 3× the memory at 21k); one Richardson/SOR sweep per level (about half the iterations
#: of the default Chebyshev/Jacobi); aggregates kept across Newton iterations (same sparsity, same near-null space;
#: 0.5 s less per Newton iteration at 132k).
GAMG_DEFAULTS: dict[str, str] = {
    "ksp_type": "preonly",
    "pc_type": "gamg",
    "pc_gamg_agg_nsmooths": "0",
    "pc_gamg_aggressive_coarsening": "1",
    "pc_gamg_aggressive_square_graph": "false",
    "pc_gamg_reuse_interpolation": "true",
    "mg_levels_ksp_type": "richardson",
    "mg_levels_pc_type": "sor",
    "mg_levels_ksp_max_it": "1",
}

#: Fieldsplit options of the smoother: additive is as good as multiplicative here, with one matrix product less.
SMOOTHER_DEFAULTS: dict[str, str] = {"pc_fieldsplit_type": "additive"}

#: Defaults of the Krylov method (GMRES). 3D solves take 30–60 iterations, 2D ones up to ~250. At a restart PETSc
#: compares the recursion's residual with the recomputed one and stops with "breakdown" when they differ by 10 %:
#: that happened at the 200th iteration of a 2D solve with restart 100, so restarts are kept out of reach (GMRES
#: allocates its vectors as the iterations need them). rtol 1e-9 gave solutions within ~1e-7 (relative, 2-norm) of
#: MUMPS's in 3D, 1e-10 within ~5e-8 for 10 % more iterations; Newton iteration counts did not change (1e-9 and
#: 1e-10 on the 3D resistance study, 1e-8 to 1e-10 on a 3D 1C discharge of 14 steps). Newton's solves use a
#: looser tolerance of their own (:data:`microsim.solver.NEWTON_KRYLOV_RTOL`).
KRYLOV_DEFAULTS: dict[str, Any] = {"restart": 300, "rtol": 1e-9, "max_it": 1000}


#: Values of ``linear_solver`` that factorise the matrix (the others iterate).
DIRECT_SOLVERS = ("mumps", "superlu_dist")

#: MUMPS ICNTL settings of every factorisation: 14 = percentage increase of the estimated workspace. The
#: interface rows of the coupled Jacobian are nearly dense, and the default 20 % ran out of workspace
#: (docs/solver.md, DOLFINx notes).
MUMPS_ICNTL: dict[int, int] = {14: 80}


def direct_package(choice: str) -> str:
    """The LU package that ``choice`` (a ``solver.linear_solver`` value) means for a factorisation.

    ``"auto"`` and ``"two-level"`` (whose coarse space is built for one real Jacobian) mean MUMPS.
    """
    return choice if choice in DIRECT_SOLVERS else "mumps"


def configure_direct(ksp: PETSc.KSP, package: str) -> None:
    """Make ``ksp`` one LU solve with ``package`` (``"mumps"`` or ``"superlu_dist"``), options applied.

    The KSP needs its operator (created, not necessarily assembled): MUMPS's ICNTL settings go on the factor
    matrix, which exists only once the solver type is set up for that operator.

    Args:
        ksp: the solver (its options prefix set, so that ``-<prefix>...`` options still override).
        package: the factorisation package.
    """
    ksp.setType("preonly")
    pc = ksp.getPC()
    pc.setType("lu")
    pc.setFactorSolverType(package)
    ksp.setFromOptions()
    if package == "mumps":
        pc.setFactorSetUpSolverType()
        factor = pc.getFactorMatrix()
        for icntl, ival in MUMPS_ICNTL.items():
            factor.setMumpsIcntl(icntl, ival)


def ghost_add(vec: PETSc.Vec) -> None:
    """Add the ghost contributions of an assembled vector into their owners."""
    dolfinx.la.petsc._ghost_update(vec, PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)  # type: ignore[arg-type]


def ghost_forward(vec: PETSc.Vec) -> None:
    """Copy the owners' values into the ghosts."""
    dolfinx.la.petsc._ghost_update(vec, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)  # type: ignore[arg-type]


def connected_components(V: dolfinx.fem.FunctionSpace) -> tuple[np.ndarray, int]:
    """Label the dofs of a P1 space by the connected component (through cells) of its mesh.

    Each rank labels the components of its local mesh (owned and ghost cells) with SciPy, gives each the smallest
    global dof index in it, then ranks agree through ghost reductions of the minimum, component by component, until
    nothing changes (one round per rank a component spans, not one per mesh layer).

    Returns:
        Labels 0..k−1 for the local dofs (owned and ghosts), ordered by each component's smallest global dof index,
        and the global number k of components.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as local_components

    comm = V.mesh.comm
    im = V.dofmap.index_map
    n_owned, n_ghost = im.size_local, im.num_ghosts
    n = n_owned + n_ghost
    cells = V.dofmap.list
    # a star per cell (its first dof to the others) connects the cell's dofs
    rows = np.repeat(cells[:, 0], cells.shape[1] - 1)
    cols = cells[:, 1:].ravel()
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    n_local, comp = local_components(graph, directed=False)
    global_index = im.local_to_global(np.arange(n, dtype=np.int32)).astype(np.int64)
    root = np.full(n_local, np.iinfo(np.int64).max)
    np.minimum.at(root, comp, global_index)
    vec = fpetsc.create_vector(V)
    # labels are −(root index): PETSc reduces ghosts with MAX, which then picks the smallest index
    while True:
        with vec.localForm() as loc:
            loc.array[:] = -root[comp].astype(float)
        vec.ghostUpdate(addv=PETSc.InsertMode.MAX_VALUES, mode=PETSc.ScatterMode.REVERSE)  # type: ignore[arg-type]
        vec.ghostUpdate(addv=PETSc.InsertMode.INSERT_VALUES, mode=PETSc.ScatterMode.FORWARD)  # type: ignore[arg-type]
        with vec.localForm() as loc:
            seen = (-loc.array).astype(np.int64)
        new_root = root.copy()
        np.minimum.at(new_root, comp, seen)
        changed = bool(np.any(new_root != root))
        root = new_root
        if not comm.allreduce(changed, op=MPI.LOR):
            break
    vec.destroy()
    lab = root[comp]
    roots = np.unique(np.concatenate(comm.allgather(np.unique(lab[:n_owned]))))
    return np.searchsorted(roots, lab).astype(np.int32), len(roots)


def _set_default_options(prefix: str, defaults: dict[str, str]) -> list[str]:
    """Put ``defaults`` into the options database under ``prefix`` unless the user has set them.

    Returns:
        The names set here (to be removed again with the solver).
    """
    opts = PETSc.Options()
    added = []
    for key, value in defaults.items():
        if not opts.hasName(prefix + key):
            opts[prefix + key] = value  # type: ignore[index]
            added.append(prefix + key)
    return added


#: Local offsets of the blocks of a DOLFINx blocked vector (its ``_blocks`` attribute): owned, ghost.
BlockOffsets = tuple[list[int], list[int]]


class TwoLevelPC:
    """Python context of a PETSc ``python`` PC (see module docstring).

    Args:
        blocks: the matrix's local block offsets (``_blocks`` attribute of DOLFINx blocked vectors).
        coarse_labels: per block, the coarse index of every owned dof of that block (a component number
            0..n_k−1) or −1 for dofs in no coarse vector (Dirichlet rows).
        n_components: per block, the global number of components n_k.
        prefix: options prefix of the smoother (fieldsplit), ``...twolevel_``.
    """

    def __init__(
        self,
        blocks: BlockOffsets,
        coarse_labels: list[np.ndarray],
        n_components: list[int],
        prefix: str,
    ) -> None:
        self.blocks = blocks
        self.prefix = prefix
        self.smoother: PETSc.PC | None = None
        self._labels_by_block = coarse_labels
        self._n_by_block = n_components
        self.lab = np.zeros(0, dtype=np.int32)  # coarse index per owned row of the monolithic matrix, −1: none
        self.n_coarse = 0
        self.Ac_inv = np.zeros((0, 0))
        self.n_setups = 0
        self.n_applies = 0
        self._Z: PETSc.Mat | None = None
        self._Ac: PETSc.Mat | None = None
        self._options: list[str] = []
        self._comm: MPI.Comm = MPI.COMM_SELF
        self.A: PETSc.Mat | None = None
        self.work: PETSc.Vec | None = None
        self.work2: PETSc.Vec | None = None

    # --- coarse space -----------------------------------------------------------------------------------------
    def _build_coarse_space(self, A: PETSc.Mat) -> None:
        comm = A.getComm().tompi4py()
        owned = self.blocks[0]
        lab = np.full(owned[-1], -1, dtype=np.int64)
        offset = 0
        for k, (labels, n_comp) in enumerate(zip(self._labels_by_block, self._n_by_block, strict=True)):
            part = lab[owned[k] : owned[k + 1]]
            sel = labels >= 0
            part[sel] = labels[sel] + offset
            offset += n_comp
        # drop components below the size threshold (or emptied by Dirichlet rows) and renumber
        counts = np.bincount(lab[lab >= 0], minlength=offset)
        comm.Allreduce(MPI.IN_PLACE, counts, op=MPI.SUM)
        keep = counts >= MIN_COMPONENT_DOFS
        new_index = np.full(offset + 1, -1, dtype=np.int64)  # last entry maps −1 to −1
        new_index[:offset][keep] = np.arange(int(keep.sum()))
        self.lab = new_index[lab].astype(np.int32)
        self.n_coarse = k = int(keep.sum())
        # Z as a sparse matrix for A_c = Zᵀ A Z; its k columns all belong to rank 0
        n_loc = owned[-1]
        has = (self.lab >= 0).astype(PETSc.IntType)
        indptr = np.concatenate([[0], np.cumsum(has)]).astype(PETSc.IntType)
        cols = self.lab[self.lab >= 0].astype(PETSc.IntType)
        Z = PETSc.Mat().createAIJ(
            ((n_loc, None), (k if comm.rank == 0 else 0, k)),  # type: ignore[arg-type]
            csr=(indptr, cols, np.ones(len(cols))),  # type: ignore[arg-type]
            comm=A.getComm(),
        )
        self._Z = Z

    def _coarse_operator(self, A: PETSc.Mat) -> None:
        comm = A.getComm().tompi4py()
        k = self.n_coarse
        if k == 0 or self._Z is None:
            return
        self._Ac = A.ptap(self._Z, self._Ac)
        inv = np.zeros((k, k))
        if comm.rank == 0:
            indptr, cols, vals = self._Ac.getValuesCSR()
            ac = np.zeros((k, k))
            for i in range(k):
                ac[i, cols[indptr[i] : indptr[i + 1]]] = vals[indptr[i] : indptr[i + 1]]
            inv = np.linalg.pinv(ac)
        comm.Bcast(inv, root=0)
        self.Ac_inv = inv

    def _coarse(self, r: PETSc.Vec, y: PETSc.Vec) -> None:
        """``y += Z A_c⁻¹ Zᵀ r``."""
        if self.n_coarse == 0:
            return
        sel = self.lab >= 0
        idx = self.lab[sel]
        rhs = np.bincount(idx, weights=r.array_r[sel], minlength=self.n_coarse)  # type: ignore[arg-type]
        self._comm.Allreduce(MPI.IN_PLACE, rhs, op=MPI.SUM)
        coef = self.Ac_inv @ rhs
        arr = y.getArray()
        arr[sel] += coef[idx]
        y.setArray(arr)  # type: ignore[arg-type]

    # --- PETSc PC interface -----------------------------------------------------------------------------------
    def setUp(self, pc: PETSc.PC) -> None:  # PETSc calls it by this name
        """Build the smoother and the coarse operator for the current matrix."""
        A, P = pc.getOperators()
        comm = A.getComm()
        self._comm = comm.tompi4py()
        if self.smoother is None:
            sm = PETSc.PC().create(comm)
            sm.setOptionsPrefix(self.prefix)
            sm.setType("fieldsplit")
            sm.setOperators(A, P)
            owned = self.blocks[0]
            rstart = A.getOwnershipRange()[0]
            splits = []
            for k in range(len(owned) - 1):
                idx = np.arange(owned[k], owned[k + 1], dtype=PETSc.IntType) + rstart
                splits.append((str(k), PETSc.IS().createGeneral(idx, comm=comm)))  # type: ignore[arg-type]
                self._options += _set_default_options(f"{self.prefix}fieldsplit_{k}_", GAMG_DEFAULTS)
            sm.setFieldSplitIS(*splits)
            self._options += _set_default_options(self.prefix, SMOOTHER_DEFAULTS)
            sm.setFromOptions()
            sm.setUp()
            for sub in sm.getFieldSplitSubKSP():
                sub.setFromOptions()
            self.smoother = sm
            self._build_coarse_space(A)
        else:
            self.smoother.setOperators(A, P)
        self.smoother.setUp()
        self._coarse_operator(A)
        self.A = A
        if self.work is None or self.work.getSize() != A.getSize()[0]:
            self.work, self.work2 = A.createVecLeft(), A.createVecLeft()
        self.n_setups += 1

    def apply(self, pc: PETSc.PC, r: PETSc.Vec, y: PETSc.Vec) -> None:
        """One two-level cycle: coarse correction, then one smoothing of the residual (module docstring)."""
        if self.smoother is None or self.A is None or self.work is None or self.work2 is None:
            raise RuntimeError("TwoLevelPC.apply called before setUp")
        self.n_applies += 1
        A, t, s = self.A, self.work, self.work2
        y.set(0.0)
        self._coarse(r, y)
        A.mult(y, t)
        t.aypx(-1.0, r)  # t = r − A y
        self.smoother.apply(t, s)
        y.axpy(1.0, s)

    def destroy(self, pc: PETSc.PC | None = None) -> None:
        """Free the PETSc objects of the context and the option defaults it put into the database."""
        for obj in (self.smoother, self._Z, self._Ac, self.work, self.work2):
            if obj is not None:
                obj.destroy()
        self.smoother = self._Z = self._Ac = self.work = self.work2 = self.A = None
        opts = PETSc.Options()
        for name in self._options:
            opts.delValue(name)
        self._options = []


def configure_two_level(
    ksp: PETSc.KSP,
    spaces: list[dolfinx.fem.FunctionSpace],
    blocks: BlockOffsets,
    bcs_by_block: list[list[dolfinx.fem.DirichletBC]],
    rtol: float = KRYLOV_DEFAULTS["rtol"],
) -> TwoLevelPC:
    """Make ``ksp`` GMRES with the two-level preconditioner; returns the Python context.

    Args:
        ksp: the Krylov solver of the monolithic block matrix (its options prefix should be set).
        spaces: block function spaces, in matrix order.
        blocks: the block offsets of the matrix's vectors (``vec.getAttr("_blocks")``).
        bcs_by_block: Dirichlet conditions grouped by block (their rows get no coarse vector).
        rtol: relative tolerance of GMRES.
    """
    labels, n_comp = [], []
    for V, bcs_k in zip(spaces, bcs_by_block, strict=True):
        n_loc = V.dofmap.index_map.size_local
        lab, n = connected_components(V)
        lab = lab[:n_loc].copy()
        for bc in bcs_k:
            dofs = bc.dof_indices()[0]
            lab[dofs[dofs < n_loc]] = -1
        labels.append(lab)
        n_comp.append(n)
    ctx = TwoLevelPC(blocks, labels, n_comp, (ksp.getOptionsPrefix() or "") + "twolevel_")
    ksp.setType("gmres")
    ksp.setGMRESRestart(KRYLOV_DEFAULTS["restart"])
    ksp.setTolerances(rtol=rtol, atol=1e-50, max_it=KRYLOV_DEFAULTS["max_it"])
    pc = ksp.getPC()
    pc.setType("python")
    pc.setPythonContext(ctx)
    return ctx
