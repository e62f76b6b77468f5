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
