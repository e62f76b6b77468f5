"""Small-signal (impedance) response of the cell model about a rest state: the PETSc solve of the 2×2 real system.

The forms (``K``, ``M``, their ``V`` derivatives, the output functionals and the per-interface contributions) are
derived from the model's residuals in :mod:`microsim.physics.small_signal` (docs/model.md §4.3); this module
assembles them and solves (the PETSc build is real)::

    [ K   −ωM ] [x_r]   [ −K_V      ]
    [ ωM   K  ] [x_i] = [ −ω M_V    ]      for a cell-voltage perturbation δV = 1

The applied current follows from the interface currents, ``δI = −(δi_F + jω δq_dl)`` (discharge positive), and
``Z = −δV/δI``. ``K`` and ``M`` are assembled once; each frequency builds the block matrix (MatNest → AIJ, same
pattern every time so MUMPS reuses its analysis) and factorises it once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import dolfinx_solver  # noqa: F401

import dolfinx
import dolfinx.fem.petsc as fpetsc
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from microsim.errors import ConvergenceError
from microsim.linear import configure_direct, direct_package, ghost_add
from microsim.physics.model import CellModel
from microsim.physics.small_signal import small_signal_forms


@dataclass
class ImpedanceResult:
    """Spectrum and the per-interface contributions (Ω·cm², geometric area)."""

    frequency_Hz: np.ndarray
    z_ohm_cm2: np.ndarray  # complex
    z_cathode_interface_ohm_cm2: np.ndarray  # complex: Γ's own contribution, ∫ δΔφ conj(δi) / |δI|²
    z_anode_interface_ohm_cm2: np.ndarray  # complex: the Li metal's own contribution
    time_per_frequency_s: float
    time_setup_s: float


class FrequencyResponse:
    """Assembles K, M and the output functionals of a model at its current (rest) state.

    Args:
        model: a transient :class:`CellModel` (θ dynamic) or a steady one (θ frozen); with ``double_layer``.
        linear_solver: direct solver for the 2×2 block system; ``"auto"`` and ``"two-level"`` (whose coarse space
            is built for the real Jacobian, not for this complex system in real form) mean MUMPS.
    """

    def __init__(self, model: CellModel, linear_solver: str = "mumps") -> None:
        t0 = time.perf_counter()
        self.model = model
        self.comm: MPI.Comm = model.cm.comm
        emaps = model.cm.entity_maps
        forms = small_signal_forms(model)

        def compile_one(f: ufl.Form) -> dolfinx.fem.Form:
            return dolfinx.fem.form(f, entity_maps=emaps)

        def compile_blocks(a: Sequence[Sequence[ufl.Form | None]]) -> list[list[dolfinx.fem.Form | None]]:
            return [[None if f is None else compile_one(f) for f in row] for row in a]

        bcs = model.bcs
        self.K = fpetsc.assemble_matrix(compile_blocks(forms.K), bcs=bcs, diag=1.0, kind="mpi")  # type: ignore[arg-type]
        self.K.assemble()
        self.M = fpetsc.assemble_matrix(compile_blocks(forms.M), bcs=bcs, diag=0.0, kind="mpi")  # type: ignore[arg-type]
        self.M.assemble()
        spaces = [f.function_space for f in model.unknowns]
        layout = [compile_one(f) for f in forms.layout]
        bcs0 = dolfinx.fem.bcs_by_block(dolfinx.fem.extract_function_spaces(layout), bcs)  # type: ignore[arg-type]

        def vec(blocks: list[ufl.Form]) -> PETSc.Vec:
            v = fpetsc.create_vector(spaces, kind="mpi")
            with v.localForm() as loc:
                loc.set(0.0)
            fpetsc.assemble_vector(v, [compile_one(f) for f in blocks])  # type: ignore[arg-type,misc]  # stubs lack (b, L)
            ghost_add(v)
            fpetsc.set_bc(v, bcs0, alpha=0.0)
            return v

        self.KV, self.MV, self.g, self.h = vec(forms.K_V), vec(forms.M_V), vec(forms.g), vec(forms.h)

        def scalar(f: ufl.Form) -> float:
            return float(self.comm.allreduce(dolfinx.fem.assemble_scalar(compile_one(f)), op=MPI.SUM))

        self.gV, self.hV = scalar(forms.g_V), scalar(forms.h_V)
        self.n_local = self.K.getLocalSize()[0]
        self.spaces = spaces
        self._blocks = cast("tuple[list[int], list[int]]", self.KV.getAttr("_blocks"))  # owned, ghost offsets
        # the real and imaginary parts of the solution, read by the per-interface forms
        self.re, self.im = forms.re, forms.im
        self._cath = [compile_one(f) for f in forms.cathode]
        self._anode = [compile_one(f) for f in forms.anode]

        ksp = PETSc.KSP().create(self.comm)  # type: ignore[arg-type]  # petsc4py accepts an mpi4py communicator
        ksp.setOptionsPrefix("microsim_impedance_")
        self.ksp = ksp
        self.linear_solver = direct_package(linear_solver)  # the solver used, reported in the study's summary
        self.time_setup_s = time.perf_counter() - t0

    def _split(self, x: PETSc.Vec, dest: list[dolfinx.fem.Function], part: int) -> None:
        """Scatter the real (part 0) or imaginary (part 1) half of the big vector into block functions."""
        n = self.n_local
        arr = x.array_r[part * n : (part + 1) * n]
        owned = self._blocks[0]
        for k, fn in enumerate(dest):
            nloc = owned[k + 1] - owned[k]
            fn.x.array[:nloc] = arr[owned[k] : owned[k + 1]]
            fn.x.scatter_forward()

    def _contribution(self, forms: list[dolfinx.fem.Form], w: float) -> complex:
        """``∫ δΔφ conj(δi) − jω ∫ δΔφ conj(δq)`` from the four assembled parts."""
        i_r, i_i, q_r, q_i = (self.comm.allreduce(dolfinx.fem.assemble_scalar(f), op=MPI.SUM) for f in forms)
        return complex(i_r + 1j * i_i - 1j * w * (q_r + 1j * q_i))

    def solve(
        self,
        frequencies_Hz: np.ndarray,
        progress: Callable[[int, float, complex], None] | None = None,
        on_solution: Callable[[int, complex], None] | None = None,
    ) -> ImpedanceResult:
        """Impedance at each frequency (ω = 0 allowed: the DC limit).

        Args:
            frequencies_Hz: the frequencies.
            progress: called after each frequency with its index, the frequency and Z [Ω·cm²].
            on_solution: called (collectively) after each frequency with its index and the applied current per
                unit cell voltage δI/δV [A/m² per V], while :attr:`re` and :attr:`im` hold that frequency's
                small-signal solution (for δV = 1 V; the unknowns' own variables, φ_s without V).
        """
        comm = self.comm
        K, M = self.K, self.M
        n = self.n_local
        z = np.zeros(len(frequencies_Hz), dtype=complex)
        zc = np.zeros_like(z)
        za = np.zeros_like(z)
        t_total = 0.0
        # A(ω) = A0 + ω B with A0 = diag(K, K) and B = [[0, −M], [M, 0]]; one matrix object with a fixed pattern,
        # so MUMPS does its symbolic analysis once and only refactorises numerically per frequency
        m_neg = M.copy()
        m_neg.scale(-1.0)
        blocks = {
            "A0": PETSc.Mat().createNest([[K, None], [None, K]], comm=comm),  # type: ignore[arg-type, list-item]
            "B": PETSc.Mat().createNest([[None, m_neg], [M, None]], comm=comm),  # type: ignore[arg-type, list-item]
            "A": PETSc.Mat().createNest([[K, m_neg], [M, K]], comm=comm),  # type: ignore[arg-type]
        }
        A0, B, A = (blocks[k].convert("aij") for k in ("A0", "B", "A"))
        b, x = A.createVecs()  # type: ignore[misc]
        for k, fr in enumerate(frequencies_Hz):
            t0 = time.perf_counter()
            w = 2.0 * np.pi * float(fr)
            A.zeroEntries()
            A.axpy(1.0, A0, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)  # type: ignore[arg-type]
            A.axpy(w, B, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)  # type: ignore[arg-type]
            b.array[:n] = -self.KV.array_r[:n]
            b.array[n:] = -w * self.MV.array_r[:n]
            self.ksp.setOperators(A)
            if k == 0:  # the factor matrix (MUMPS's settings) exists once the KSP has its operator
                configure_direct(self.ksp, self.linear_solver)
            self.ksp.solve(b, x)
            if self.ksp.getConvergedReason() < 0:  # type: ignore[operator]  # stubs: the reason is an int
                raise ConvergenceError(
                    f"impedance solve failed at {fr:g} Hz (PETSc reason {self.ksp.getConvergedReason()})"
                )
            xr, xi = x.array_r[:n], x.array_r[n:]
            g, h = self.g.array_r[:n], self.h.array_r[:n]
            di_far = complex(
                comm.allreduce(float(g @ xr), op=MPI.SUM) + self.gV, comm.allreduce(float(g @ xi), op=MPI.SUM)
            )
            dq = complex(comm.allreduce(float(h @ xr), op=MPI.SUM) + self.hV, comm.allreduce(float(h @ xi), op=MPI.SUM))
            d_current = -(di_far + 1j * w * dq)  # applied current density per unit δV [A/m² per V]
            z[k] = -1.0 / d_current * 1e4
            self._split(x, self.re, 0)
            self._split(x, self.im, 1)
            mag2 = abs(d_current) ** 2
            # an interface's own contribution ∫ δΔφ conj(δi + jω δq) / |δI|² (physics.small_signal)
            zc[k] = self._contribution(self._cath, w) / mag2 * 1e4
            za[k] = self._contribution(self._anode, w) / mag2 * 1e4
            if on_solution is not None:
                on_solution(k, d_current)
            t_total += time.perf_counter() - t0
            if progress is not None:
                progress(k, float(fr), complex(z[k]))
        for obj in (m_neg, A0, B, A, b, x, *blocks.values()):
            obj.destroy()
        if not np.all(np.isfinite(z)):
            raise ConvergenceError("impedance: non-finite values in the spectrum")
        return ImpedanceResult(
            np.asarray(frequencies_Hz, dtype=float), z, zc, za, t_total / max(len(frequencies_Hz), 1), self.time_setup_s
        )

    def destroy(self) -> None:
        """Free PETSc objects."""
        for obj in (self.ksp, self.K, self.M, self.KV, self.MV, self.g, self.h):
            obj.destroy()
