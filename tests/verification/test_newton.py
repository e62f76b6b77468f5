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
from microsim.solver import BorderedNewton
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
    v_ref = float(model.V.value)
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
        assert float(model.V.value) == pytest.approx(v_ref, abs=1e-12)
        solver.destroy()
        return
    # the relative test, or the floor once the updates are round-off noise (a block that starts near zero, like
    # φ_e at the start of a step, has a relative target below round-off)
    assert out.converged and out.reason in ("residual", "floor")
    assert out.residual_ratio <= 1.0
    # at most the two noise-level steps that show the updates stopped shrinking, beyond the usual count
    assert out.iterations <= rep.iterations + 2 < solver.max_iterations
    assert float(model.V.value) == pytest.approx(v_ref, abs=1e-12)
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
