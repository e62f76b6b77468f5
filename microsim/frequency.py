"""Small-signal (impedance) response of the cell model about a rest state, in real arithmetic.

Linearising ``M(u)' + K(u) = 0`` about a rest state and writing ``δu = (x_r + j x_i) e^{jωt}`` gives the real
2×2 block system of docs/model.md §4.3 (the PETSc build is real)::

    [ K   −ωM ] [x_r]   [ −K_V      ]
    [ ωM   K  ] [x_i] = [ −ω M_V    ]      for a cell-voltage perturbation δV = 1

where ``K`` and ``M`` are the Jacobians of the steady and accumulation (mass, double-layer) terms, and ``K_V``,
``M_V`` their derivatives with respect to ``V``. The applied current follows from the interface currents,
``δI = −(δi_F + jω δq_dl)`` (discharge positive), and ``Z = −δV/δI``. ``K`` and ``M`` are assembled once; each
frequency builds the block matrix (MatNest → AIJ, same pattern every time so MUMPS reuses its analysis) and
factorises it once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dolfinx_solver  # noqa: F401

import dolfinx
import dolfinx.fem.petsc as fpetsc
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from microsim.errors import ConvergenceError
from microsim.physics.model import CellModel
from microsim.solver import DIRECT_SOLVERS, _ghost_add, _nonempty


@dataclass
class ImpedanceResult:
    """Spectrum and the per-interface contributions (Ω·cm², geometric area)."""

    frequency_Hz: np.ndarray
    z_ohm_cm2: np.ndarray  # complex
    z_cathode_interface_ohm_cm2: np.ndarray  # complex: Γ's own contribution, ∫ δη conj(δi) / |δI|²
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
        m = model
        self.comm: MPI.Comm = m.cm.comm
        emaps = m.cm.entity_maps
        u = m.unknowns
        du = [ufl.TrialFunction(f.function_space) for f in u]
        names = m.names
        zero = dolfinx.fem.Constant(m.cm.mesh, dolfinx.default_scalar_type(0.0))

        def block(forms: dict[str, ufl.Form], i: int, j: int) -> Any:
            f = forms.get(names[i])
            out = None if f is None else _nonempty(ufl.derivative(f, u[j], du[j]))
            if out is None and i == j:  # keep every diagonal block so the matrix layout is complete
                meas = m.dx_p if u[i].function_space.mesh is m.cm.particle.mesh else m.dx_e
                out = zero * du[i] * ufl.TestFunction(u[i].function_space) * meas
            return out

        n = len(u)
        K = [[block(m.steady_forms, i, j) for j in range(n)] for i in range(n)]
        M = [[block(m.mass_forms, i, j) for j in range(n)] for i in range(n)]
        phit = m.fields["phi_s"]
        KV = [_nonempty(ufl.derivative(m.steady_forms[nm], phit, m.ones_p)) for nm in names]
        # block layout reference (every block non-empty): the residual forms themselves
        KV_full = [m.steady_forms[nm] for nm in names]
        MV = [
            None if nm not in m.mass_forms else _nonempty(ufl.derivative(m.mass_forms[nm], phit, m.ones_p))
            for nm in names
        ]
        a_hat = m.area_hat
        lfp = m.params.lfp
        i_far = m.i_n / a_hat * m.dS
        q_dl = (
            lfp.double_layer_F_m2 * m.interface_potential / a_hat * m.dS
            if m.options.double_layer
            else zero * m.eta * m.dS
        )

        def functional_forms(F: ufl.Form) -> tuple[list[Any], Any]:
            g = [_nonempty(ufl.derivative(F, uj, ufl.TestFunction(uj.function_space))) for uj in u]
            return g, ufl.derivative(F, phit, m.ones_p)

        g, gV = functional_forms(i_far)
        h, hV = functional_forms(q_dl)

        def compile_(f: Any) -> Any:
            if f is None:
                return None
            if isinstance(f, list):
                return [compile_(x) for x in f]
            return dolfinx.fem.form(f, entity_maps=emaps)

        bcs = m.bcs
        Kc, Mc = compile_(K), compile_(M)
        self.K = fpetsc.assemble_matrix(Kc, bcs=bcs, diag=1.0, kind="mpi")
        self.K.assemble()
        self.M = fpetsc.assemble_matrix(Mc, bcs=bcs, diag=0.0, kind="mpi")
        self.M.assemble()
        spaces = [f.function_space for f in u]
        bcs0 = dolfinx.fem.bcs_by_block(dolfinx.fem.extract_function_spaces(compile_(KV_full)), bcs)

        def measure_of(V: Any) -> Any:
            return m.dx_p if V.mesh is m.cm.particle.mesh else m.dx_e

        def vec(forms: list[Any]) -> PETSc.Vec:
            # blocked assembly needs a form per block: a zero form where a block does not depend on the input
            forms = [
                f if f is not None else zero * ufl.TestFunction(V) * measure_of(V)
                for f, V in zip(forms, spaces, strict=True)
            ]
            v = fpetsc.create_vector(spaces, kind="mpi")
            with v.localForm() as loc:
                loc.set(0.0)
            fpetsc.assemble_vector(v, compile_(forms))
            _ghost_add(v)
            fpetsc.set_bc(v, bcs0, alpha=0.0)
            return v

        self.KV, self.MV, self.g, self.h = vec(KV), vec(MV), vec(g), vec(h)

        def scalar(f: Any) -> float:
            return self.comm.allreduce(dolfinx.fem.assemble_scalar(compile_(f)), op=MPI.SUM)

        self.gV, self.hV = scalar(gV), scalar(hV)
        self.n_local = self.K.getLocalSize()[0]
        self.spaces = spaces
        self._blocks = self.KV.getAttr("_blocks")

        # per-interface contributions: |δη|² weighted by the conductance G = ∂i/∂η and by C_dl
        self.re = [dolfinx.fem.Function(V) for V in spaces]
        self.im = [dolfinx.fem.Function(V) for V in spaces]
        self.dV = dolfinx.fem.Constant(m.cm.mesh, dolfinx.default_scalar_type(1.0))
        theta_state = m.theta
        # rest state: θ uniform. Reduce over ranks: a rank may own no particle cells, and the value is compiled
        # into the form, which must be identical on every rank (JIT cache)
        n_loc = theta_state.function_space.dofmap.index_map.size_local
        tot = np.array([np.sum(theta_state.x.array[:n_loc]), n_loc], dtype=float)
        self.comm.Allreduce(MPI.IN_PLACE, tot, op=MPI.SUM)
        dU = float(lfp.ocp.derivative_numpy(np.array(tot[0] / tot[1])))
        idx = {nm: k for k, nm in enumerate(names)}

        def deta(parts: list[dolfinx.fem.Function], with_dV: bool) -> Any:
            e = parts[idx["phi_s"]]("+") - parts[idx["phi_e"]]("-")
            if with_dV:
                e = e + self.dV
            if "theta" in idx:
                e = e - dU * parts[idx["theta"]]("+")
            return e

        def djump(parts: list[dolfinx.fem.Function], with_dV: bool) -> Any:
            e = parts[idx["phi_s"]]("+") - parts[idx["phi_e"]]("-")
            return e + self.dV if with_dV else e

        f = m.f
        li = m.params.li
        G = m.i0 * f * (lfp.alpha_a + lfp.alpha_c)
        # Γ's own contribution ∫ δΔφ conj(δi_F + jωC δΔφ): Δφ = φ_s − φ_e, δi_F = G δη (at rest ∂i/∂c = 0)
        jr, ji = djump(self.re, True), djump(self.im, False)
        er, ei = deta(self.re, True), deta(self.im, False)
        li2 = self.re[idx["phi_e"]] ** 2 + self.im[idx["phi_e"]] ** 2
        self._cath = [
            compile_(G * (jr * er + ji * ei) / a_hat * m.dS),
            compile_(G * (ji * er - jr * ei) / a_hat * m.dS),
            compile_(lfp.double_layer_F_m2 * (jr**2 + ji**2) / a_hat * m.dS),
        ]
        g_li = li.exchange_current_A_m2 * f
        self._anode = [compile_(g_li * li2 / a_hat * m.ds_li), compile_(li.double_layer_F_m2 * li2 / a_hat * m.ds_li)]

        ksp = PETSc.KSP().create(self.comm)
        ksp.setOptionsPrefix("microsim_impedance_")
        ksp.setType("preonly")
        pc = ksp.getPC()
        pc.setType("lu")
        linear_solver = linear_solver if linear_solver in DIRECT_SOLVERS else "mumps"
        pc.setFactorSolverType(linear_solver)
        self.ksp = ksp
        self.linear_solver = linear_solver  # the solver used, reported in the study's summary
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

    def solve(
        self, frequencies_Hz: np.ndarray, progress: Callable[[int, float, complex], None] | None = None
    ) -> ImpedanceResult:
        """Impedance at each frequency (ω = 0 allowed: the DC limit).

        Args:
            frequencies_Hz: the frequencies.
            progress: called after each frequency with its index, the frequency and Z [Ω·cm²].
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
            "A0": PETSc.Mat().createNest([[K, None], [None, K]], comm=comm),
            "B": PETSc.Mat().createNest([[None, m_neg], [M, None]], comm=comm),
            "A": PETSc.Mat().createNest([[K, m_neg], [M, K]], comm=comm),
        }
        A0, B, A = (blocks[k].convert("aij") for k in ("A0", "B", "A"))
        b, x = A.createVecs()
        for k, fr in enumerate(frequencies_Hz):
            t0 = time.perf_counter()
            w = 2.0 * np.pi * float(fr)
            A.zeroEntries()
            A.axpy(1.0, A0, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)
            A.axpy(w, B, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)
            b.array[:n] = -self.KV.array_r[:n]
            b.array[n:] = -w * self.MV.array_r[:n]
            self.ksp.setOperators(A)
            if k == 0 and self.linear_solver == "mumps":
                self.ksp.setFromOptions()
                self.ksp.getPC().setFactorSetUpSolverType()
                self.ksp.getPC().getFactorMatrix().setMumpsIcntl(14, 80)
            self.ksp.solve(b, x)
            if self.ksp.getConvergedReason() < 0:
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
            c_r, c_i, c_c = (comm.allreduce(dolfinx.fem.assemble_scalar(f), op=MPI.SUM) for f in self._cath)
            a_g, a_c = (comm.allreduce(dolfinx.fem.assemble_scalar(f), op=MPI.SUM) for f in self._anode)
            zc[k] = (c_r + 1j * c_i - 1j * w * c_c) / mag2 * 1e4
            za[k] = (a_g - 1j * w * a_c) / mag2 * 1e4
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
