"""The protocol engine on a zero-dimensional cell (no DOLFINx), and the protocol configuration checks."""

from __future__ import annotations

import math
import re

import pytest

from microsim import config
from microsim.errors import ConfigError, ConvergenceError
from microsim.studies.stepping import ProtocolRunner, Step, SteppingSettings, rate_at_fraction, steps_from_config

Q = 1000.0  # C/m² between θ = 0 and θ = 1
R = 0.05  # Ω·m²


class _Value:
    def __init__(self, v: float) -> None:
        self.value = v


class ToyCell:
    """U(θ) = 3.5 − θ, V = U(θ) − R I; backward Euler θ = θ_old + I dt / Q (discharge I > 0)."""

    def __init__(self, theta0: float = 0.1) -> None:
        self.theta = self.theta_old = theta0
        self.V = _Value(3.5 - theta0)
        self.V_old = self.V.value
        self.dt = _Value(1.0)
        self.current_density = _Value(0.0)
        self.current_ref = _Value(1.0)
        self.fail_next = 0
        self.calls = 0

    # model side
    def commit_step(self) -> None:
        self.theta_old, self.V_old = self.theta, self.V.value

    def restore_step(self) -> None:
        self.theta, self.V.value = self.theta_old, self.V_old

    # solver side
    def solve(self, galvanostatic: bool = True) -> object:
        self.calls += 1
        if self.fail_next:
            self.fail_next -= 1
            self.theta = float("nan")
            raise ConvergenceError("Newton did not converge in 30 iterations (last updates: 1e-2)")
        dt = self.dt.value
        if galvanostatic:
            i = self.current_density.value
            self.theta = self.theta_old + i * dt / Q
            self.V.value = 3.5 - self.theta - R * i
            self._i = i
        else:
            i = (3.5 - self.theta_old - self.V.value) / (dt / Q + R)
            self.theta = self.theta_old + i * dt / Q
            self._i = i
        return type("Report", (), {"iterations": 3})()

    def constraint_value(self) -> float:
        return -self._i / self.current_ref.value + self.current_density.value / self.current_ref.value


def _run(steps: list[Step], cell: ToyCell | None = None, **settings: float) -> tuple[ProtocolRunner, ToyCell]:
    cell = cell or ToyCell()
    runner = ProtocolRunner(cell, cell, SteppingSettings(**settings), one_c_A_m2=Q / 3600.0)
    runner.run(steps)
    return runner, cell


def test_cc_discharge_lands_on_the_cutoff_independent_of_step_size() -> None:
    i = 0.5  # A/m² (1.8C)
    exact = (3.5 - 0.1 - R * i - 3.0) * Q  # charge until V = 3.0
    charges = []
    for vstep, dt_max in ((0.02, 200.0), (0.002, 20.0)):
        runner, cell = _run([Step("cc", i, 1.8, cutoff_V=3.0)], voltage_step_V=vstep, dt_max_s=dt_max)
        assert cell.V.value == pytest.approx(3.0, abs=1e-5)
        assert runner.summaries[0].end_reason == "cutoff"
        charges.append(runner.charge_C_m2)
        assert runner.charge_C_m2 == pytest.approx(exact, rel=1e-5)
    assert charges[0] == pytest.approx(charges[1], rel=1e-5)


def test_failed_newton_step_is_retried_smaller() -> None:
    cell = ToyCell()
    cell.fail_next = 1
    runner, _ = _run([Step("cc", 0.5, 1.8, cutoff_V=3.0)], cell)
    assert runner.summaries[0].cutbacks == 1
    assert runner.records[1].dt_s == pytest.approx(0.5)  # the first step (1 s) was halved
    assert cell.V.value == pytest.approx(3.0, abs=1e-5)


def test_persistent_failure_names_time_and_step_size() -> None:
    cell = ToyCell()
    cell.fail_next = 10**6
    with pytest.raises(ConvergenceError, match=r"t = 0 s: step size .* after 3 cut-backs.*last Newton"):
        _run([Step("cc", 0.5, 1.8, cutoff_V=3.0)], cell, max_cutbacks=3)


def test_cc_cv_rest_experiment() -> None:
    steps = [
        Step("cc", -0.5, 1.8, cutoff_V=3.3, label="charge"),
        Step("cv", voltage_V=3.3, until_current_A_m2=0.01, label="hold"),
        Step("rest", 0.0, duration_s=600.0, label="rest"),
    ]
    runner, cell = _run(steps, ToyCell(theta0=0.5))
    s = runner.summaries
    assert [x.end_reason for x in s] == ["cutoff", "current", "duration"]
    assert s[0].final_voltage_V == pytest.approx(3.3, abs=1e-5)
    cv_end = [r for r in runner.records if r.step_index == 1][-1]
    assert abs(cv_end.current_A_m2) == pytest.approx(0.01, rel=2e-3)  # the CV end current
    assert s[2].duration_s == pytest.approx(600.0)
    # the charge passed is the lithium taken out of the toy particle
    assert -runner.charge_C_m2 == pytest.approx((0.5 - cell.theta) * Q, rel=1e-9)


def test_capacity_and_time_limits_are_hit_exactly() -> None:
    runner, _ = _run([Step("cc", 0.5, 1.8, cutoff_V=3.0, capacity_limit_C_m2=100.0)])
    assert runner.summaries[0].end_reason == "capacity"
    assert runner.charge_C_m2 == pytest.approx(100.0, rel=1e-12)
    runner, _ = _run([Step("cc", 0.5, 1.8, cutoff_V=3.0, duration_s=123.0)])
    assert runner.summaries[0].end_reason == "duration"
    assert runner.time_s == pytest.approx(123.0, rel=1e-12)


def test_cutoff_at_the_start_ends_with_no_capacity() -> None:
    runner, _ = _run([Step("cc", 20.0, 72.0, cutoff_V=3.0)])  # R I = 1 V: below 3 V at once
    assert runner.summaries[0].end_reason == "cutoff_at_start"
    assert runner.charge_C_m2 < 1e-3


def test_rate_at_fraction_interpolates_in_log_c() -> None:
    assert rate_at_fraction([0.1, 1.0], [100.0, 0.0], 0.5) == pytest.approx(math.sqrt(0.1))
    assert rate_at_fraction([0.1, 0.2], [100.0, 90.0], 0.8) is None
    assert rate_at_fraction([1.0, 0.1, 0.2], [10.0, 100.0, 80.0], 0.8) == pytest.approx(0.2)


# --- configuration --------------------------------------------------------------------------------------
def _cfg(**study: object) -> config.Config:
    return config.from_dict({"conditions": {"initial_stoichiometry": 0.01}, "study": {"kind": "discharge", **study}})


def test_default_protocol_is_one_cc_discharge() -> None:
    cfg = _cfg(c_rate=0.2)
    (step,) = steps_from_config(cfg.study, 3.0, 1.0)
    assert step.kind == "cc" and step.current_A_m2 == pytest.approx(0.6) and step.cutoff_V == 3.0


def test_experiment_from_config() -> None:
    cfg = _cfg(
        steps=[
            {"kind": "cc", "c_rate": 0.1, "direction": "discharge", "cutoff_V": 3.0},
            {"kind": "cc", "current_density_A_m2": 0.3, "direction": "charge"},
            {"kind": "cv", "voltage_V": 3.8, "until_c_rate": 0.02},
            {"kind": "rest", "duration_s": 600},
        ]
    )
    steps = steps_from_config(cfg.study, 3.0, 1.0)
    assert [s.kind for s in steps] == ["cc", "cc", "cv", "rest"]
    assert steps[1].current_A_m2 == pytest.approx(-0.3) and steps[1].cutoff_V == 3.8
    assert steps[2].until_current_A_m2 == pytest.approx(0.06)


@pytest.mark.parametrize(
    ("study", "field"),
    [
        ({"cutoff_discharge_V": 2.3}, "study.cutoff_discharge_V"),  # below the OCP range (U(1) = 2.49 V)
        ({"cutoff_charge_V": 4.2}, "study.cutoff_charge_V"),  # above the OCP range (U(0) = 3.91 V)
        ({"c_rate": 0}, "study.c_rate"),
        ({"c_rate": -0.1}, "study.c_rate"),
        ({"kind": "rate", "c_rates": [0.1, 0.0]}, "study.c_rates[1]"),
        ({"steps": []}, "study.steps"),
        ({"steps": [{"kind": "cv", "until_c_rate": 0.02}]}, "study.steps[0].voltage_V"),
        ({"steps": [{"kind": "cc", "c_rate": 0.1, "cutoff_V": 2.2}]}, "study.steps[0].cutoff_V"),
        ({"steps": [{"kind": "cc", "c_rate": -1}]}, "study.steps[0].c_rate"),
        ({"steps": [{"kind": "rest"}]}, "study.steps[0].duration_s"),
        ({"steps": [{"kind": "hold", "duration_s": 1}]}, "study.steps[0].kind"),
        ({"step_control": "bdf9"}, "study.step_control"),
        ({"time_scheme": "rk4"}, "study.time_scheme"),
        ({"error_tolerance_V": 0.0}, "study.error_tolerance_V"),
    ],
)
def test_bad_protocol_input_names_the_field(study: dict, field: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(field) + "[ :]"):
        _cfg(**study)


def test_protocol_config_round_trips_through_toml(tmp_path) -> None:
    cfg = _cfg(steps=[{"kind": "cc", "c_rate": 0.1}, {"kind": "rest", "duration_s": 60}], c_rates=None)
    path = tmp_path / "case.toml"
    path.write_text(config.dumps(cfg))
    assert config.load(path) == cfg


# --- error-controlled step size --------------------------------------------------------------------------
TAU = 300.0  # s: relaxation time of the toy's surface lithiation
A_SURF = 4.0  # the surface runs ahead of the bulk: θ_s − θ → (A_SURF − 1) I τ / Q


class RelaxingCell(ToyCell):
    """A toy with curvature: bulk θ' = I/Q, surface θ_s' = (θ − θ_s)/τ + a I/Q, V = 3.5 − θ_s − R I.

    Backward Euler, or BDF2 with the weights the runner sets (the linear system solved exactly).
    """

    def __init__(self, theta0: float = 0.1) -> None:
        super().__init__(theta0)
        self.s = self.s_old = self.s_old2 = theta0
        self.theta_old2 = theta0
        self.weights = (1.0, -1.0, 0.0)

    def set_time_weights(self, new: float, old: float, older: float) -> None:
        self.weights = (new, old, older)

    def commit_step(self) -> None:
        self.theta_old2, self.s_old2 = self.theta_old, self.s_old
        super().commit_step()
        self.s_old = self.s

    def restore_step(self) -> None:
        super().restore_step()
        self.s = self.s_old

    def solve(self, galvanostatic: bool = True) -> object:
        dt, i = self.dt.value, self.current_density.value
        a0, a1, a2 = self.weights
        self.calls += 1
        self.theta = (dt * i / Q - a1 * self.theta_old - a2 * self.theta_old2) / a0
        self.s = (dt * (self.theta / TAU + A_SURF * i / Q) - a1 * self.s_old - a2 * self.s_old2) / (a0 + dt / TAU)
        self.V.value = 3.5 - self.s - R * i
        self._i = i
        return type("Report", (), {"iterations": 3})()

    def scalars(self) -> list[float]:
        return [self.s]


def _exact_cutoff_charge(i: float, theta0: float = 0.1, cutoff: float = 3.0) -> float:
    """Charge [C/m²] at which the exact toy voltage reaches the cut-off (bisection on t)."""

    def v(t: float) -> float:
        e_inf = (A_SURF - 1.0) * i * TAU / Q
        return 3.5 - (theta0 + i * t / Q) - e_inf * (1.0 - math.exp(-t / TAU)) - R * i

    lo, hi = 0.0, 1.0e5
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if v(mid) > cutoff else (lo, mid)
    return i * lo


def _run_relaxing(**settings: object) -> ProtocolRunner:
    cell = RelaxingCell()
    runner = ProtocolRunner(
        cell,
        cell,
        SteppingSettings(**settings),
        one_c_A_m2=Q / 3600.0,
        error_scalars=cell.scalars,  # type: ignore[arg-type]
    )
    runner.run([Step("cc", 0.5, 1.8, cutoff_V=3.0)])
    return runner


@pytest.mark.parametrize("scheme", ["euler", "bdf2"])
@pytest.mark.parametrize("omega", [0.5, 1.0, 2.0])
def test_error_estimate_is_the_schemes_local_error(scheme: str, omega: float) -> None:
    """y' = −y: the estimate from exact states and one step of the scheme is that step's true error."""
    from microsim.studies.stepping import StepProgress, bdf2_weights

    h_p = 0.01
    h = omega * h_p
    times = [-2 * h_p, -h_p, 0.0]
    y = [math.exp(-t) for t in times]
    if scheme == "euler":
        y_step = y[-1] / (1.0 + h)
        times, y = times[1:], y[1:]
    else:
        a0, a1, a2 = bdf2_weights(omega)
        y_step = -(a1 * y[-1] + a2 * y[-2]) / (a0 + h)
    true_error = abs(y_step - math.exp(-h))
    settings = SteppingSettings(step_control="error", time_scheme=scheme)
    runner = ProtocolRunner(ToyCell(), ToyCell(), settings, one_c_A_m2=1.0)
    # the history as the runner keeps it: times since the step's start, the start included
    p = StepProgress(t_step=-times[0], t_hist=[t - times[0] for t in times], y_hist=[[v] for v in y], dt_prev=h_p)
    estimate = runner._error_ratio(p, h, 0.0, [y_step]) * settings.error_tolerance_theta  # type: ignore[operator]
    assert estimate == pytest.approx(true_error, rel=0.05)


def _charge_error(**settings: object) -> tuple[float, int]:
    r = _run_relaxing(**settings)
    assert r.summaries[0].end_reason == "cutoff"
    exact = _exact_cutoff_charge(0.5)
    return abs(r.charge_C_m2 - exact) / exact, r.summaries[0].time_steps


def test_bdf2_is_second_order() -> None:
    """Fixed steps (the voltage target never binds): the error falls 4× per halved step, Euler's 2×."""
    errors = {
        scheme: [_charge_error(time_scheme=scheme, voltage_step_V=1.0, dt_max_s=h)[0] for h in (20.0, 10.0)]
        for scheme in ("euler", "bdf2")
    }
    assert errors["euler"][0] / errors["euler"][1] == pytest.approx(2.0, rel=0.15)
    assert errors["bdf2"][0] / errors["bdf2"][1] == pytest.approx(4.0, rel=0.15)


def test_bdf2_with_error_control_needs_fewer_steps_for_the_same_accuracy() -> None:
    # measured: BDF2 + error control 15 steps for 8.8e-4; Euler + the voltage target 140 steps for 1.7e-3
    e_bdf, n_bdf = _charge_error(time_scheme="bdf2", step_control="error", error_tolerance_V=3e-5)
    e_eul, n_eul = _charge_error(time_scheme="euler", step_control="voltage", voltage_step_V=0.003)
    assert e_bdf < e_eul and n_bdf < n_eul / 4, (e_bdf, n_bdf, e_eul, n_eul)
    # the error control converges: a third of the tolerance, a smaller error for more steps
    e_tight, n_tight = _charge_error(time_scheme="bdf2", step_control="error", error_tolerance_V=1e-5)
    assert e_tight < 0.7 * e_bdf and n_tight > n_bdf
    # the same steps with the voltage target, BDF2 against Euler: the second-order scheme is far more accurate
    assert _charge_error(time_scheme="bdf2", voltage_step_V=0.01)[0] < 0.05 * _charge_error(voltage_step_V=0.01)[0]


def test_unknown_step_control_or_scheme_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"study.step_control = 'bdf9'.*voltage"):
        SteppingSettings(step_control="bdf9")
    with pytest.raises(ConfigError, match=r"study.time_scheme = 'rk4'.*bdf2"):
        SteppingSettings(time_scheme="rk4")
    with pytest.raises(ConfigError, match=r"time_scheme = 'bdf2': this model has no BDF2"):
        _run([Step("cc", 0.5, 1.8, cutoff_V=3.0)], time_scheme="bdf2")
