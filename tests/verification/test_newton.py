"""Newton's convergence test: what the arithmetic can meet, and failures that are failures.

* A problem whose update cannot reach the update tolerance (here 0: no floating-point update is below it) used
  to iterate to the limit and fail; the residual test ends it at the answer, and the report says why.
* With no relative tolerance at all, the round-off floors end it once the updates stop shrinking: they are
  reachable, and small.
* A genuinely divergent start (the electrolyte potential 5 V off) still fails and the time stepper cuts the step
  back and recovers.
"""

from __future__ import annotations

import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

from microsim.errors import ConvergenceError
from microsim.parameters import resolve
from microsim.physics.model import CellModel, ModelOptions
from microsim.solver import BorderedNewton, update_test
from microsim.studies.common import build_cell_mesh, describe_geometry
from microsim.studies.discharge import DischargeCell
from microsim.studies.stepping import Step
from tests._cases import small

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]


def _model() -> CellModel:
    cfg = small(**{"geometry.interface": "filled"})
    cm = build_cell_mesh(describe_geometry(cfg), MPI.COMM_WORLD)
    model = CellModel(cm, resolve(cfg), ModelOptions(binary=True, transient=True))
    model.current_density.value = 3.0  # about 1C
    model.current_ref.value = 3.0
    model.dt.value = 5.0
    return model


def _reset(model: CellModel) -> None:
    model.restore_step()  # back to the rest state the model was built in


@pytest.mark.parametrize("reuse", [False, True], ids=["newton", "chord"])
def test_residual_test_ends_a_solve_the_update_test_cannot(reuse: bool) -> None:
    model = _model()
    ref = BorderedNewton(model, reuse_jacobian=reuse)
    rep = ref.solve()
    v_ref = float(model.V.value)  # to the update tolerance, 1e-10 (it may end on the contraction estimate)
    ref.destroy()
    _reset(model)
    # tolerance 0: the update test can never hold, as when round-off keeps updates above a tight tolerance
    solver = BorderedNewton(model, tolerance=0.0, reuse_jacobian=reuse)
    out = solver.solve()
    if reuse:
        # chord steps (Jacobian kept once the update is below 1e-3) converge linearly: a few more iterations
        # to reach the round-off floor than full Newton, with fewer Jacobians than iterations
        assert out.converged and out.reason in ("residual", "floor")
        assert out.jacobians == solver.jacobians < out.iterations <= rep.iterations + 4
        assert float(model.V.value) == pytest.approx(v_ref, abs=1e-10)
        solver.destroy()
        return
    # the relative test, or the floor once the updates are round-off noise (a block that starts near zero, like
    # φ_e at the start of a step, has a relative target below round-off)
    assert out.converged and out.reason in ("residual", "floor")
    assert out.residual_ratio <= 1.0
    # at most the two noise-level steps that show the updates stopped shrinking, beyond the usual count, and the
    # step the reference saves by ending on the contraction estimate (update_test)
    assert out.iterations <= rep.iterations + 3 < solver.max_iterations
    assert float(model.V.value) == pytest.approx(v_ref, abs=1e-10)
    solver.destroy()


def test_round_off_floors_alone_are_reachable_and_small() -> None:
    model = _model()
    solver = BorderedNewton(model, tolerance=0.0, rtol=0.0, reuse_jacobian=False)  # full Newton steps
    out = solver.solve()
    # ended at the floor once the updates stopped shrinking (round-off noise), within a few steps
    assert out.reason == "floor" and out.iterations < 10
    assert out.history[-1] < 1e-12
    floors = solver._floors(float(model.V.value), solver._scalar(solver.gV))
    # positive (an exact zero would be unreachable) and far below any residual that still means something
    assert (floors > 0).all() and (floors < 1e-9).all()
    solver.destroy()


def test_a_divergent_start_fails_and_the_time_step_is_cut_back(monkeypatch: pytest.MonkeyPatch) -> None:
    cell = DischargeCell(small(**{"study.kind": "discharge", "output.xdmf": False}), MPI.COMM_WORLD)
    real = cell.solver.solve
    seen = {"calls": 0, "failed": 0}

    def divergent_once(galvanostatic: bool = True):  # type: ignore[no-untyped-def]
        seen["calls"] += 1
        if seen["calls"] == 4:
            # a starting guess 5 V away: Butler–Volmer at exp(95); Newton cannot recover within its limit
            cell.model.fields["phi_e"].x.array[:] += 5.0
        try:
            return real(galvanostatic)
        except ConvergenceError:
            seen["failed"] += 1
            raise

    monkeypatch.setattr(cell.solver, "solve", divergent_once)
    res = cell.run([Step("cc", cell.one_c, 1.0, cutoff_V=3.0, duration_s=120.0)], None)
    cell.destroy()
    assert seen["failed"] == 1
    assert res["steps"][0]["cutbacks"] == 1
    assert res["end_reason"] in ("duration", "cutoff")


def test_the_update_test_trusts_a_quadratic_contraction_only() -> None:
    full = [1.0, 1.0, 1.0]
    # 2e-5 → 4e-9: ρ = 2e-4, about 1e-12 left, so no further step is needed to show it
    assert update_test([5e-3, 2e-5, 4e-9], full, 1e-10)
    assert not update_test([5e-3, 2e-5], full[:2], 1e-10)  # ρ = 4e-3: about 8e-8 left
    assert update_test([3e-11], full[:1], 1e-10)  # below the tolerance itself
    # a slow contraction (ρ = 0.75) says little about what is left: the update itself must pass
    assert not update_test([2e-10, 1.5e-10], full[:2], 1e-10)
    # after a damped step the ratio is not a contraction
    assert not update_test([5e-3, 1e-9], [0.5, 1.0], 1e-10)
    assert update_test([5e-3, 1e-9], [1.0, 1.0], 1e-10)
    # steady solves do not trust it (BorderedNewton.trust_contraction)
    assert not update_test([5e-3, 2e-5, 4e-9], full, 1e-10, contraction=False)
    # tolerance 0 (test_residual_test_ends_a_solve_the_update_test_cannot) stays unreachable
    assert not update_test([1e-3, 1e-9], full[:2], 0.0)


def test_the_next_step_starts_from_the_kept_jacobian_only_under_the_same_constants() -> None:
    model = _model()
    solver = BorderedNewton(model)
    first = solver.solve()
    assert not first.carried and first.jacobians > 0
    model.commit_step()
    start = {n: f.x.array.copy() for n, f in model.fields.items()}
    second = solver.solve()  # the next time step, same dt and current
    assert second.carried
    v_carried = float(model.V.value)
    # the same step from the same start with fresh Jacobians only: the same solution
    model.restore_step()
    for n, f in model.fields.items():
        f.x.array[:] = start[n]
    ref = BorderedNewton(model, reuse_jacobian=False)
    ref.solve()
    assert float(model.V.value) == pytest.approx(v_carried, abs=1e-9)
    ref.destroy()
    # another time step size changes the Jacobian's mass terms: no carry
    model.commit_step()
    model.dt.value = 2.5
    third = solver.solve()
    assert not third.carried and third.jacobians > 0
    # nor across a change of mode (potentiostatic solves assemble no bordered terms)
    model.commit_step()
    assert not solver.solve(galvanostatic=False).carried
    solver.destroy()


def test_the_predictor_starts_within_the_bounds_and_changes_only_the_iteration_count() -> None:
    runs = {}
    for predictor in (False, True):
        cfg = small(**{"study.kind": "discharge", "output.xdmf": False, "study.predictor": predictor})
        cell = DischargeCell(cfg, MPI.COMM_WORLD)
        res = cell.run([Step("cc", cell.one_c, 1.0, cutoff_V=3.0, duration_s=900.0)], None)
        runs[predictor] = (res, cell)
    (off, _), (on, cell) = runs[False], runs[True]
    assert off["time_steps"] == on["time_steps"]
    # the converged states agree to the Newton tolerance, so the step sequence and the voltage do too
    assert on["final_voltage_V"] == pytest.approx(off["final_voltage_V"], abs=1e-8)
    assert on["newton_iterations"] < off["newton_iterations"]
    # u_n + ω (u_n − u_{n−1}) where it keeps half the distance to a bound; clipped where it would not
    m = cell.model
    th1, th0 = m.old["theta"].x.array.copy(), m.old2["theta"].x.array.copy()
    assert m.predict(0.5)
    assert m.fields["theta"].x.array == pytest.approx(th1 + 0.5 * (th1 - th0), abs=1e-15)
    assert float(m.V.value) == pytest.approx(
        float(m.V_old.value) + 0.5 * (float(m.V_old.value) - float(m.V_old2.value))
    )
    assert m.predict(1e6)
    th = m.fields["theta"].x.array
    assert (th >= 0.5 * th1 - 1e-15).all() and (th <= 0.5 * (1 + th1) + 1e-15).all()
    c = m.fields["c"].x.array
    assert (c >= 0.5 * m.old["c"].x.array - 1e-15).all()
    m.restore_step()
    for _, cell_ in runs.values():
        cell_.destroy()
