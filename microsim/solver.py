"""Bordered Newton solver for the coupled blocks plus the global cell voltage.

PETSc SNES cannot carry the one global unknown ``V`` of the galvanostatic constraint next to the DOLFINx blocks
(the wheel has no real-space support: no scifem), so each Newton step solves the block Jacobian ``J`` twice with
one factorisation and eliminates ``δV`` from the linearised constraint (a bordered, or "Schur complement on one
scalar", step):

    J x₁ = −R,   J x₂ = ∂R/∂V,   δV = −(G + g·x₁) / (g_V − g·x₂),   δu = x₁ − δV x₂

with ``g = ∂G/∂u`` and ``g_V = ∂G/∂V``. In potentiostatic mode ``δV = 0``. Forms are compiled once; everything
that changes between solves is a :class:`dolfinx.fem.Constant` or a :class:`dolfinx.fem.Function`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import dolfinx_solver  # noqa: F401

import dolfinx
import dolfinx.fem.petsc as fpetsc
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from microsim import linear
from microsim.errors import ConvergenceError, SolutionError
from microsim.linear import TwoLevelPC, configure_direct, ghost_add, ghost_forward
from microsim.physics.forms import nonempty
from microsim.physics.model import CellModel

if TYPE_CHECKING:
    from microsim.config import SolverConfig

#: Residual floors are this many units of round-off of the largest term assembled into a row (see
#: :meth:`BorderedNewton._floors`): a row sums tens of element contributions, each carrying a few ulps.
FLOOR_ULPS = 100.0
#: Iterations over which a stagnating residual is judged (full Newton steps only).
STAGNATION_WINDOW = 3
#: A residual that fell by less than this factor over :data:`STAGNATION_WINDOW` full steps has stagnated.
STAGNATION_FACTOR = 0.5
#: A damping factor below this for :data:`STAGNATION_WINDOW` iterations in a row means a bound holds Newton still.
STALL_STEP_LENGTH = 1.0e-3
#: A full Newton step whose scaled update is below this lets the next step reuse its Jacobian (a chord step): the
#: chord iteration then contracts by about the size of that update per step. Measured on the 3D discharge of the
#: test suite: one Jacobian assembly (0.2 s) costs eight residual assemblies with the direct solve.
REUSE_BELOW = 1.0e-3
#: After a chord step, a fresh Jacobian unless the update shrank at least by this factor.
REUSE_CONTRACTION = 0.1
#: Relative tolerance of the iterative linear solves inside Newton (inexact Newton: a linear error of this
#: fraction of the update slows Newton's quadratic convergence to a contraction by this factor at worst; Dembo,
#: Eisenstat & Steihaug, SIAM J. Numer. Anal. 19, 1982). Updates of 5e-3 → 2e-5 → 2e-9 end a step either way. On
#: the 124-sphere 3D 1C discharge (2 ranks) 1e-4 instead of 1e-9 cut the Krylov iterations to a third and the
#: run by a third, for about the same Newton iterations and the same capacity to 1e-10 (docs/solver.md).
NEWTON_KRYLOV_RTOL = 1.0e-4
#: Steady solves keep the tight tolerance: their answers (a resistance from a small current) must agree on 1 and 2
#: ranks to 1e-10, which an inexact last step does not give.
KRYLOV_RTOL_STEADY = linear.KRYLOV_DEFAULTS["rtol"]
#: The update test trusts the contraction of the last two full steps as an error estimate below this ratio.
CONTRACTION_TRUSTED = 0.5


@dataclass
class NewtonReport:
    """What one nonlinear solve did.

    Attributes:
        iterations: linear (Newton) steps taken; 0 when the starting state already met the residual test.
        converged: always True for a returned report (failures raise).
        last_update: max-norm of the last scaled update (0 when no step was taken).
        history: the update norms, one per step.
        reason: ``"residual"`` (every block and the constraint met the residual test), ``"update"`` (a full
            step below :attr:`BorderedNewton.tolerance`) or ``"floor"`` (residuals at their round-off floors and
            updates no longer shrinking).
        residual_ratio: the largest residual over its target at the end (≤ 1 when ``reason == "residual"``).
        linear_iterations: Krylov iterations of all linear solves (a direct solve counts 1).
        jacobians: Jacobian assemblies (fewer than ``iterations`` where chord steps reused one).
        carried: whether the first step used the Jacobian the previous solve left (same constants).
    """

    iterations: int
    converged: bool
    last_update: float
    history: list[float] = field(default_factory=list)
    time_assemble_s: float = 0.0
    time_solve_s: float = 0.0
    linear_iterations: int = 0
    reason: str = "update"
    residual_ratio: float = 0.0
    jacobians: int = 0
    carried: bool = False


def update_test(history: list[float], lams: list[float], tolerance: float, contraction: bool = True) -> bool:
    """The update test after a full Newton step: the error left after it is estimated below ``tolerance``.

    The error left is at most the last update (the next one is smaller) and, once two full steps show the
    contraction ``ρ = ‖δ_k‖/‖δ_{k−1}‖ < 1``, about ``ρ/(1 − ρ) ‖δ_k‖`` (the geometric tail of the updates to
    come; the stopping rule of simplified Newton in Hairer & Wanner, Solving ODEs II, §IV.8). Newton's quadratic
    steps make ρ small, so a sequence such as 2e-5 → 4e-9 ends the iteration without another step whose only
    purpose would be to show an update below the tolerance.

    Args:
        history: the scaled update norms of the steps so far (the last one just taken, a full step).
        lams: their step lengths (1: full).
        tolerance: the update tolerance.
        contraction: trust the contraction estimate (else only the update itself counts).
    """
    upd = history[-1]
    if upd < tolerance:
        return True
    if not contraction or len(history) < 2 or lams[-2] < 1.0:
        return False
    rho = upd / history[-2]
    return rho < CONTRACTION_TRUSTED and rho / (1.0 - rho) * upd < tolerance


def resolve_linear_solver(choice: str, dim: int) -> str:
    """The linear solver that ``choice`` means for a problem of this dimension.

    ``"auto"`` is the two-level iterative solver in 3D and MUMPS in 2D. Measured with the resistance study
    (benchmarks/bench_3d.py): in 3D the two-level solver's linear solves took less time than MUMPS's at every size
    tried, from 4k to 132k unknowns, serial and on 2 ranks (about 1.5× less at 10k–20k, 3× at 66k, 5× at 132k),
    with less peak memory (half at 132k); MUMPS's fill grows like N^(4/3) in 3D. In 2D MUMPS factorises 67k
    unknowns in a fraction of a second while GMRES needs 150–250 iterations per solve (about 20× slower).

    Args:
        choice: a value of ``solver.linear_solver``: ``"auto"`` or an explicit solver (returned unchanged).
        dim: spatial dimension of the mesh.
    """
    if choice != "auto":
        return choice
    return "two-level" if dim == 3 else "mumps"


class BorderedNewton:
    """Newton's method for ``R(u, V) = 0`` and, galvanostatically, ``G(u) = −I/I_ref``.

    Args:
        model: the cell model (forms are compiled here, once).
        linear_solver: ``"mumps"`` or ``"superlu_dist"`` (direct LU of the monolithic block matrix),
            ``"two-level"`` (GMRES with :mod:`microsim.linear`'s preconditioner) or ``"auto"`` (see
            :func:`resolve_linear_solver`; the choice made is :attr:`linear_solver`).
        max_iterations: Newton iteration limit.
        tolerance: a full step whose scaled update (and δV in volts) is below this in the max-norm ends the
            iteration (the update test).
        rtol: the residual test: every block's residual (max-norm of its scaled rows) at most ``rtol`` times
            its value at the first iteration; the same for the constraint.
        atol: an absolute residual that always passes; also added to the round-off floors of :meth:`_floors`.
        prefix: PETSc options prefix, unique per solver object.

    Convergence (docs/solver.md): the residual test (every block below ``rtol`` times its first value, or
    ``atol``) and the floor test (every block below ``max(rtol · first, round-off floor)`` and the last two full
    updates no longer shrinking) are checked before each linear solve, so a state that meets them costs one
    residual assembly and no solve; the update test after each full step. A solve that
    stagnates (the residual measure fell by less than :data:`STAGNATION_FACTOR` over
    :data:`STAGNATION_WINDOW` full steps, or the step-length limiter held the iterate still for as many
    iterations, or a bound on θ or c damped :data:`STAGNATION_WINDOW` steps in a row without the update
    shrinking) fails at once with the reason, instead of spending the remaining iterations.
    """

    _count = 0

    def __init__(
        self,
        model: CellModel,
        linear_solver: str = "auto",
        max_iterations: int = 30,
        tolerance: float = 1e-10,
        prefix: str | None = None,
        rtol: float = 1e-10,
        atol: float = 0.0,
        reuse_jacobian: bool = True,
    ) -> None:
        self.model = model
        self.reuse_jacobian = reuse_jacobian
        # time-stepping solves only: the contraction estimate of the update test and GMRES to NEWTON_KRYLOV_RTOL.
        # A steady solve such as the resistance study's divides a voltage by a small current: its parts close to
        # 1e-10, and its 1- and 2-rank answers agree, only with tight linear solves and the last quadratic step.
        self.time_stepping = bool(getattr(model.options, "transient", False))
        #: Jacobian assemblies of the last solve (fewer than its iterations when a Jacobian was reused)
        self.jacobians = 0
        self.comm: MPI.Comm = model.cm.comm
        self.max_iterations = max_iterations
        self.tolerance = tolerance
        self.rtol = rtol
        self.atol = atol
        #: why the last step-length limit applied (field and bound), for failure messages
        self.limited_by = ""
        self.max_potential_step = 0.1  # V per Newton iteration (about 4 RT/F)
        emaps = model.cm.entity_maps
        u = model.unknowns
        R = model.residuals
        du = [ufl.TrialFunction(f.function_space) for f in u]
        J = [[nonempty(ufl.derivative(Ri, uj, duj)) for uj, duj in zip(u, du, strict=True)] for Ri in R]
        phit = model.fields["phi_s"]
        dRdV = [nonempty(ufl.derivative(Ri, phit, model.ones_p)) for Ri in R]
        G = model.constraint
        g = [nonempty(ufl.derivative(G, uj, ufl.TestFunction(uj.function_space))) for uj in u]
        gV = ufl.derivative(G, phit, model.ones_p)
        t0 = time.perf_counter()
        self.R = dolfinx.fem.form(R, entity_maps=emaps)
        self.J = dolfinx.fem.form(J, entity_maps=emaps)  # type: ignore[arg-type]
        self.dRdV = [None if f is None else dolfinx.fem.form(f, entity_maps=emaps) for f in dRdV]
        self.G = dolfinx.fem.form(G, entity_maps=emaps)
        self.g = [None if f is None else dolfinx.fem.form(f, entity_maps=emaps) for f in g]
        self.gV = dolfinx.fem.form(gV, entity_maps=emaps)
        self.time_compile_s = time.perf_counter() - t0

        self.u = u
        self.bcs = model.bcs
        spaces = [f.function_space for f in u]
        self.A = fpetsc.create_matrix(self.J, kind="mpi")
        self.b = fpetsc.create_vector(spaces, kind="mpi")
        self.x = fpetsc.create_vector(spaces, kind="mpi")
        self.rV = fpetsc.create_vector(spaces, kind="mpi")
        self.gvec = fpetsc.create_vector(spaces, kind="mpi")
        self.x1 = fpetsc.create_vector(spaces, kind="mpi")
        self.x2 = fpetsc.create_vector(spaces, kind="mpi")
        self._blocks = cast("tuple[list[int], list[int]]", self.b.getAttr("_blocks"))  # owned, ghost offsets
        self._bcs0 = dolfinx.fem.bcs_by_block(dolfinx.fem.extract_function_spaces(self.R), self.bcs)  # type: ignore[arg-type]

        BorderedNewton._count += 1
        self.prefix = prefix or f"microsim_newton{BorderedNewton._count}_"
        #: the solver actually used (``"auto"`` resolved), for the run's summary
        self.linear_solver = resolve_linear_solver(linear_solver, model.cm.dim)
        linear_solver = self.linear_solver
        #: set when the iterative solver failed and MUMPS took over (reported in the run's summary)
        self.fallback: str | None = None
        self._x2_guess = False  # whether x2 holds the previous solution of J x₂ = ∂R/∂V (a Krylov initial guess)
        # the Jacobian left by the last solve may start the next one (a chord step) while the constants it was
        # assembled with are unchanged: every Constant of the Jacobian forms but V, which is an unknown
        consts: dict[int, dolfinx.fem.Constant] = {}
        for form in [f for row in J for f in row] + dRdV + g + [gV]:
            if form is not None:
                consts.update({id(c): c for c in form.constants()})
        consts.pop(id(model.V), None)
        self._jacobian_constants = list(consts.values())
        self._carry: tuple[Any, ...] | None = None  # the key of the kept Jacobian (None: none to keep)
        self._gV = 0.0
        ksp = PETSc.KSP().create(self.comm)  # type: ignore[arg-type]  # petsc4py takes an mpi4py communicator
        ksp.setOptionsPrefix(self.prefix)
        ksp.setOperators(self.A)
        self.two_level: TwoLevelPC | None = None
        if linear_solver == "two-level":
            # looked up on the module at call time, so a test can substitute it
            self.two_level = linear.configure_two_level(
                ksp,
                spaces,
                self._blocks,
                self._bcs0,
                rtol=NEWTON_KRYLOV_RTOL if self.time_stepping else KRYLOV_RTOL_STEADY,
            )
            ksp.setFromOptions()
        else:
            configure_direct(ksp, linear_solver)
        self.ksp = ksp

    # --- assembly helpers -------------------------------------------------------------------------------------
    def _assemble_linear(self, vec: PETSc.Vec, forms: list[Any]) -> None:
        with vec.localForm() as loc:
            loc.set(0.0)
        fpetsc.assemble_vector(vec, forms)  # type: ignore[arg-type]  # stubs lack the (b, L) signature
        ghost_add(vec)
        # Dirichlet rows carry no V- or constraint-dependence
        fpetsc.set_bc(vec, self._bcs0, alpha=0.0)

    def _scalar(self, form: Any) -> float:
        return float(self.comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM))

    def constraint_value(self) -> float:
        """``G`` including the constant ``I/I_ref`` part."""
        m = self.model
        return self._scalar(self.G) + float(m.current_density.value) / float(m.current_ref.value)

    def solve(self, galvanostatic: bool = True) -> NewtonReport:
        """Run Newton from the current state of the model's functions and ``V``.

        Raises:
            ConvergenceError: no convergence within the iteration limit, a stagnating iteration (with the
                reason), or a non-finite iterate.
        """
        m = self.model
        fpetsc.assign(self.u, self.x)
        ghost_forward(self.x)
        history: list[float] = []
        ratios: list[float] = []  # residual measure (largest residual / target) before each step
        lams: list[float] = []
        t_asm = t_sol = 0.0
        linear_its = 0
        r0: np.ndarray | None = None
        floors: np.ndarray | None = None
        bounded: list[bool] = []  # per step: damped by a bound on θ or c
        steps = 0
        self.jacobians = 0
        reused = False  # whether the last step used an earlier iteration's Jacobian
        key = self._jacobian_key(galvanostatic)
        carry = self.reuse_jacobian and self._carry == key
        self._carry = None  # set again only by a successful return
        gV = self._gV if carry else 0.0
        for it in range(1, self.max_iterations + 2):
            t0 = time.perf_counter()
            fpetsc.assemble_residual(None, self.x, self.b, self.u, self.R, self.J, self.bcs, self._blocks)  # type: ignore[arg-type]
            G = self.constraint_value() if galvanostatic else 0.0
            res = np.append(self._block_norms(self.b), abs(G))
            t_asm += time.perf_counter() - t0
            t0 = time.perf_counter()
            if r0 is None:
                r0 = res.copy()
            if floors is not None:
                # floors need the Jacobian: from the second assembly on (the first iteration always steps unless
                # the residual is exactly zero)
                target = np.maximum(self.rtol * r0, floors)
                ratio = float(np.max(res / np.where(target > 0, target, np.inf), initial=0.0))
                if not np.all(np.isfinite(res)):
                    self._x2_guess = False
                    raise ConvergenceError(f"Newton iteration {it}: non-finite residual in {self._worst(res, target)}")
                ratios.append(ratio)
                reason = ""
                if np.all(res <= np.maximum(self.rtol * r0, self.atol)):
                    reason = "residual"
                elif ratio <= 1.0 and self._update_stalled(history, lams):
                    # at the round-off floor and the updates no longer shrink: as converged as arithmetic allows
                    reason = "floor"
                if reason:
                    self._check_finite()
                    self._keep(key, carry)
                    return NewtonReport(
                        steps,
                        True,
                        history[-1] if history else 0.0,
                        history,
                        t_asm,
                        t_sol,
                        linear_its,
                        reason,
                        ratio,
                        self.jacobians,
                        carry,
                    )
                self._check_stagnation(ratios, lams, bounded, history, res, target)
            elif not np.any(res):
                return NewtonReport(0, True, 0.0, history, t_asm, t_sol, linear_its, "residual", 0.0)
            if steps == self.max_iterations:
                break
            reuse = (carry and steps == 0) or self._reuse(history, lams, reused)
            if not reuse:
                fpetsc.assemble_jacobian(None, self.x, self.A, None, self.u, self.J, None, self.bcs)  # type: ignore[arg-type]
                self.jacobians += 1
                if galvanostatic:
                    self._assemble_linear(self.rV, self.dRdV)
                    self._assemble_linear(self.gvec, self.g)
                    gV = self._scalar(self.gV)
                    self._gV = gV
            reused = reuse
            if floors is None:  # once per solve: the scales change little between iterations
                floors = self._floors(float(m.V.value), gV if galvanostatic else None)
            t1 = time.perf_counter()
            self.b.scale(-1.0)
            linear_its += self._linear_solve(self.b, self.x1, it)
            dV = 0.0
            if galvanostatic:
                if not reuse:  # a reused bordered Jacobian has its x₂ already
                    # ∂R/∂V and J change little between Newton iterations and time steps: the last x₂ is a good start
                    linear_its += self._linear_solve(self.rV, self.x2, it, guess=self._x2_guess)
                    self._x2_guess = self.two_level is not None
                denom = gV - float(self.gvec.dot(self.x2))  # type: ignore[arg-type]
                dV = -(G + float(self.gvec.dot(self.x1))) / denom  # type: ignore[arg-type]
                self.x1.axpy(-dV, self.x2)
            t_sol += time.perf_counter() - t1
            t_asm += t1 - t0
            steps += 1
            # petsc4py's stubs type NormType members as int and norm() as possibly a pair
            upd = max(float(self.x1.norm(PETSc.NormType.NORM_INFINITY)), abs(dV))  # type: ignore[arg-type]
            if not np.isfinite(upd):
                self._x2_guess = False
                raise ConvergenceError(f"Newton iteration {it} produced a non-finite update")
            lam = self._step_length(dV)
            lams.append(lam)
            bounded.append(lam < 1.0 and "bound" in self.limited_by)
            if lam < 1.0:
                self.x1.scale(lam)
                dV *= lam
            self.x.axpy(1.0, self.x1)
            ghost_forward(self.x)
            fpetsc.assign(self.x, self.u)  # type: ignore[arg-type]
            m.V.value = float(m.V.value) + dV  # type: ignore[assignment]  # stubs: the setter takes a scalar
            history.append(upd)
            if lam == 1.0 and update_test(history, lams, self.tolerance, self.time_stepping):
                self._check_finite()
                self._keep(key, carry)
                return NewtonReport(
                    steps,
                    True,
                    upd,
                    history,
                    t_asm,
                    t_sol,
                    linear_its,
                    "update",
                    ratios[-1] if ratios else 0.0,
                    self.jacobians,
                    carry,
                )
        self._x2_guess = False  # a diverging iteration leaves no useful start
        raise ConvergenceError(
            f"Newton did not converge in {self.max_iterations} iterations "
            f"(last updates: {', '.join(f'{h:.2e}' for h in history[-3:])}; "
            f"residual {ratios[-1] if ratios else float('nan'):.2e} × its target)"
        )

    def _jacobian_key(self, galvanostatic: bool) -> tuple[Any, ...]:
        """What a kept Jacobian must match to start another solve: the mode and the constants of its forms."""
        values = [np.asarray(c.value, dtype=float).ravel() for c in self._jacobian_constants]
        return (galvanostatic, *(float(v) for arr in values for v in arr))

    def _keep(self, key: tuple[Any, ...], carried: bool) -> None:
        """After a converged solve: its Jacobian (if it assembled one, or kept the carried one) may start the next."""
        if self.jacobians > 0 or carried:
            self._carry = key

    def _reuse(self, history: list[float], lams: list[float], reused: bool) -> bool:
        """Whether this step keeps the last Jacobian (a chord step) instead of assembling a new one.

        Only inside Newton's quadratic range: the last step was full and its update below :data:`REUSE_BELOW`,
        and, after a chord step, the update shrank by at least :data:`REUSE_CONTRACTION` (else the chord
        iteration converges too slowly and a fresh Jacobian is cheaper). The bordered solve's ∂R/∂V, ∂G/∂u and
        ∂G/∂V are kept with it, so the step solves the same frozen linear system, only once (no second solve).
        """
        if not self.reuse_jacobian or not history or lams[-1] < 1.0 or history[-1] > REUSE_BELOW:
            return False
        return not (reused and len(history) >= 2 and history[-1] > REUSE_CONTRACTION * history[-2])

    # --- convergence helpers ----------------------------------------------------------------------------------
    def _block_norms(self, vec: PETSc.Vec) -> np.ndarray:
        """Max-norm of each block's owned entries, reduced over ranks (one value per unknown)."""
        owned = self._blocks[0]
        arr = vec.array_r
        loc = np.array(
            [np.max(np.abs(arr[owned[k] : owned[k + 1]]), initial=0.0) for k in range(len(owned) - 1)], dtype=float
        )
        self.comm.Allreduce(MPI.IN_PLACE, loc, op=MPI.MAX)
        return loc

    def _floors(self, V: float, gV: float | None) -> np.ndarray:
        """Round-off floors of the block residuals and of the constraint.

        A residual row is a sum of element terms, each computed to a few ulps of its own size. The size of the
        largest term in row ``i`` is bounded by ``Σ_j |J_ij| X + |∂R_i/∂V| |V|`` with ``X = max(1, ‖u‖∞)`` (the
        unknowns are scaled to O(1), potentials in volts), so a row cannot be trusted below
        :data:`FLOOR_ULPS` ulps of that. The constraint is a sum of interface currents normalised by the applied
        one: its floor is :data:`FLOOR_ULPS` ulps of ``1 + |g|·X + |g_V||V|``. ``atol`` is added to each.

        Args:
            V: the cell voltage [V].
            gV: ``∂G/∂V`` of a galvanostatic solve (as assembled for the step), or None (potentiostatic).
        """
        eps = np.finfo(float).eps
        owned = self._blocks[0]
        n_owned = owned[-1]
        indptr, _, data = self.A.getValuesCSR()
        row_of = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        rows = np.bincount(row_of, weights=np.abs(data), minlength=n_owned)[:n_owned]
        X = max(1.0, self.comm.allreduce(float(np.max(np.abs(self.x.array_r), initial=0.0)), op=MPI.MAX))
        scale = rows * X
        if gV is not None:
            scale = scale + np.abs(self.rV.array_r[:n_owned]) * abs(V)
        loc = np.array(
            [np.max(scale[owned[k] : owned[k + 1]], initial=0.0) for k in range(len(owned) - 1)], dtype=float
        )
        self.comm.Allreduce(MPI.IN_PLACE, loc, op=MPI.MAX)
        blocks = loc
        if gV is not None:
            g_scale = 1.0 + self.gvec.norm(PETSc.NormType.NORM_1) * X + abs(gV) * abs(V)  # type: ignore[arg-type]
        else:
            g_scale = 0.0
        return FLOOR_ULPS * eps * np.append(blocks, g_scale) + self.atol

    def _worst(self, res: np.ndarray, target: np.ndarray) -> str:
        """The block (or the constraint) furthest above its target, with its residual and target."""
        names = [*self.model.fields, "current constraint"]
        with np.errstate(divide="ignore", invalid="ignore"):
            k = int(np.argmax(np.where(np.isfinite(res), res / np.where(target > 0, target, np.inf), np.inf)))
        return f"{names[k]} (residual {res[k]:.3e}, target {target[k]:.3e})"

    @staticmethod
    def _update_stalled(history: list[float], lams: list[float]) -> bool:
        """Whether the last two full steps show updates that no longer shrink (round-off noise, not progress)."""
        if len(history) < 2 or lams[-1] < 1.0 or lams[-2] < 1.0:
            return False
        return history[-1] > STAGNATION_FACTOR * history[-2]

    def _check_stagnation(
        self,
        ratios: list[float],
        lams: list[float],
        bounded: list[bool],
        history: list[float],
        res: np.ndarray,
        target: np.ndarray,
    ) -> None:
        """Fail at once when the iteration can no longer meet the residual test (class docstring).

        Args:
            ratios: residual measure (largest residual over its target) before each step.
            lams: step lengths.
            bounded: whether a bound on θ or c damped each step.
            history: update norms.
            res: the residuals now.
            target: their targets.
        """
        w = STAGNATION_WINDOW
        if len(history) > w and all(bounded[-w:]) and history[-1] > STAGNATION_FACTOR * history[-1 - w]:
            # a bound damped every step and the update is not shrinking: the iterate makes no headway (the discrete
            # solution lies outside the bound, or the bound blocks the only way to it)
            self._x2_guess = False
            hint = (
                ' (the discrete θ leaves [0, 1]: solver.theta_mass = "lumped" keeps it inside)'
                if self.limited_by.startswith("theta") and not getattr(self.model.options, "lumped_theta_mass", True)
                else ""
            )
            raise ConvergenceError(
                f"Newton stalled: {w} steps in a row damped by a bound ({self.limited_by}; step length "
                f"{lams[-1]:.2e}) while the update stayed at {history[-1]:.2e}; worst block: "
                f"{self._worst(res, target)}{hint}"
            )
        if len(lams) >= w and all(lam < STALL_STEP_LENGTH for lam in lams[-w:]):
            self._x2_guess = False
            raise ConvergenceError(
                f"Newton stalled: the step-length limit held the iterate still for {w} iterations "
                f"(step length {lams[-1]:.2e}; {self.limited_by}); worst block: {self._worst(res, target)}"
            )
        # full steps only: a damped iteration may legitimately reduce the residual slowly
        if len(ratios) > w and len(lams) >= w and all(lam == 1.0 for lam in lams[-w:]):
            if ratios[-1] > STAGNATION_FACTOR * ratios[-1 - w]:
                self._x2_guess = False
                raise ConvergenceError(
                    f"Newton stagnated: the residual fell from {ratios[-1 - w]:.2e} to {ratios[-1]:.2e} × its "
                    f"target in {w} full steps; worst block: {self._worst(res, target)}"
                )

    def _linear_solve(self, rhs: PETSc.Vec, x: PETSc.Vec, newton_it: int, guess: bool = False) -> int:
        """One solve with the current operator; returns the Krylov iterations (1 for a direct solve).

        Args:
            rhs: right-hand side.
            x: solution; with ``guess``, also the initial guess of the Krylov method.
            newton_it: Newton iteration (for the error message).
            guess: start from ``x`` instead of zero (iterative solvers only).
        """
        self.ksp.setInitialGuessNonzero(guess)
        self.ksp.solve(rhs, x)
        reason = self.ksp.getConvergedReason()  # collective: the same on every rank
        if reason < 0 and self.two_level is not None:  # type: ignore[operator]
            # the iterative default must not end a run MUMPS could finish: fall back once, for good, and say so
            its = self.ksp.getIterationNumber()
            self._fall_back_to_direct()
            if self.comm.rank == 0:
                print(
                    f"microsim: warning: GMRES with the two-level preconditioner failed (PETSc reason {reason}, "
                    f"{its} iterations) at Newton iteration {newton_it}; continuing with MUMPS",
                    file=sys.stderr,
                    flush=True,
                )
            self.ksp.setInitialGuessNonzero(False)
            self.ksp.solve(rhs, x)
            reason = self.ksp.getConvergedReason()
        if reason < 0:  # type: ignore[operator]
            self._x2_guess = False
            raise ConvergenceError(f"linear solver failed (PETSc reason {reason}) at Newton iteration {newton_it}")
        return self.ksp.getIterationNumber()

    def _fall_back_to_direct(self) -> None:
        """Replace the two-level preconditioner by a MUMPS factorisation (``linear_solver`` records it)."""
        ctx, self.two_level = self.two_level, None
        self._x2_guess = False
        configure_direct(self.ksp, "mumps")
        if ctx is not None:
            ctx.destroy()
        self.linear_solver = "mumps"
        self.fallback = "two-level -> mumps (GMRES failed)"

    def _step_length(self, dV: float) -> float:
        """Damping factor that keeps an iterate physical; :attr:`limited_by` says what limited it.

        Butler–Volmer is exponential: a full Newton step from the linearised kinetics can overshoot by volts and
        push θ or c out of their domain (NaN in the exchange current). Potentials may move by at most
        :attr:`max_potential_step` per iteration; θ, 1 − θ and c/c0 may shrink by at most half.
        """
        lam, why = 1.0, ""
        owned = self._blocks[0]
        bound_mask = getattr(self.model, "bound_mask", None)  # where a bound holds (None: every dof)
        arr_x = self.x.array_r
        arr_d = self.x1.array_r
        for k, name in enumerate(self.model.fields):
            d = arr_d[owned[k] : owned[k + 1]]
            if d.size == 0:
                continue
            v = arr_x[owned[k] : owned[k + 1]]
            if name in ("phi_e", "phi_s"):
                big = np.max(np.abs(d))
                if big > self.max_potential_step and self.max_potential_step / big < lam:
                    lam, why = self.max_potential_step / big, f"{name} moves by at most {self.max_potential_step} V"
            else:
                mask = bound_mask(name) if bound_mask is not None else None
                if mask is not None:
                    v, d = v[mask], d[mask]
                lows = [v] if name == "c" else [v, 1.0 - v]
                steps = [d] if name == "c" else [d, -d]
                bounds = ["lower bound 0"] if name == "c" else ["lower bound 0", "upper bound 1"]
                for lo, st, bound in zip(lows, steps, bounds, strict=True):
                    neg = st < 0
                    if np.any(neg):
                        cand = 0.5 * lo[neg] / -st[neg]
                        j = int(np.argmin(cand))
                        if cand[j] < lam:
                            lam = float(cand[j])
                            why = f"{name} at its {bound} ({np.count_nonzero(cand < 1.0)} dofs, value {lo[neg][j]:.3g})"
        if abs(dV) > self.max_potential_step and self.max_potential_step / abs(dV) < lam:
            lam, why = self.max_potential_step / abs(dV), f"V moves by at most {self.max_potential_step} V"
        glam = self.comm.allreduce(lam, op=MPI.MIN)
        # the reason of the rank that set the minimum (one small allgather, only when damped)
        if glam < 1.0:
            whys = self.comm.allgather((lam, why))
            self.limited_by = min(whys, key=lambda t: t[0])[1]
        else:
            self.limited_by = ""
        return glam

    def _check_finite(self) -> None:
        bad = [f.name for f in self.u if not np.all(np.isfinite(f.x.array))]
        bad = self.comm.allreduce(bad, op=MPI.SUM)
        if bad or not np.isfinite(float(self.model.V.value)):
            raise SolutionError(f"non-finite values in {sorted(set(bad)) or ['cell voltage']}")

    def destroy(self) -> None:
        """Free PETSc objects."""
        for obj in (self.ksp, self.A, self.b, self.x, self.rV, self.gvec, self.x1, self.x2):
            obj.destroy()


def newton_from_config(model: CellModel, solver_cfg: SolverConfig) -> BorderedNewton:
    """A :class:`BorderedNewton` with the settings of a ``[solver]`` section."""
    return BorderedNewton(
        model,
        solver_cfg.linear_solver,
        solver_cfg.newton_max_iterations,
        solver_cfg.newton_tolerance,
        rtol=solver_cfg.newton_rtol,
        atol=solver_cfg.newton_atol,
        reuse_jacobian=solver_cfg.reuse_jacobian,
    )
