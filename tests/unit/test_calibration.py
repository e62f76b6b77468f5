"""Calibration file rules, the cases of an evaluation point, and the least-squares fit on analytic models.

The fit tests use a model that is linear in log10 of the knobs, where everything has a closed form: the optimum
(ordinary least squares), the covariance (JᵀJ)⁻¹, and each seed's own optimum (which the linearised refit must
then reproduce exactly).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from microsim.calibration import load_calibration
from microsim.calibration.cases import evaluation_cases, impedance_at, model_values
from microsim.calibration.fit import _Model, fit, result_record
from microsim.calibration.spec import calibration_from_dict
from microsim.errors import ConfigError, MicrosimError
from microsim.sweep import store

CASE = """
[geometry]
kind = "planar"
dim = 2
width_um = {W}
mesh_size_um = 1.0
[conditions]
temperature_C = {T}
initial_stoichiometry = 0.01
"""


def _files(tmp_path: Path, temperature: float = 30.0) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "a.toml").write_text(CASE.format(T=30.0, W=2.0))
    (tmp_path / "b.toml").write_text(CASE.format(T=temperature, W=3.0))
    return tmp_path


def _spec(**head: object) -> dict[str, object]:
    return {
        "calibration": {"name": "test", **head},
        "knob": [
            {"key": "lfp.diffusivity_m2_s", "initial": 1e-17, "low": 1e-19, "high": 1e-15, "source": "test bounds"},
            {"key": "electrolyte.diffusivity_m2_s", "initial": 1e-13, "low": 1e-14, "high": 1e-12, "source": "test"},
        ],
        "target": [
            {"name": "A", "case": "a.toml", "c_rates": [0.1, 0.5], "paper_mAh_g": [120.0, 20.0]},
            {"name": "R", "numerator": "b.toml", "denominator": "a.toml", "frequency_Hz": 0.1, "paper_ratio": 10.0},
        ],
    }


def test_a_valid_file_parses(tmp_path: Path) -> None:
    cal = calibration_from_dict(_spec(seeds=[1, 2]), _files(tmp_path))
    assert [k.key for k in cal.knobs] == ["lfp.diffusivity_m2_s", "electrolyte.diffusivity_m2_s"]
    assert cal.n_residuals == 3 and cal.temperature_C == 30.0 and cal.seeds == (1, 2)
    assert cal.residual_labels() == ["A 0.1C", "A 0.5C", "R 0.1 Hz"]


def test_load_from_file(tmp_path: Path) -> None:
    _files(tmp_path)
    text = """
[calibration]
name = "x"
[[knob]]
key = "li.exchange_current_A_m2"
initial = 0.3
low = 0.01
high = 10.0
source = "test"
[[target]]
name = "A"
case = "a.toml"
c_rates = [0.1]
paper_mAh_g = [100.0]
"""
    (tmp_path / "cal.toml").write_text(text)
    cal = load_calibration(tmp_path / "cal.toml")
    assert cal.source == (tmp_path / "cal.toml").resolve() and cal.knobs[0].unit == "A/m2"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["knob"].extend(
                [dict(d["knob"][0], key=k) for k in ("li.alpha", "lfp.alpha_a", "li.double_layer_F_m2")]
            ),
            "at most 4",
        ),
        (lambda d: d["knob"][0].update(key="lfp.ocp"), "numeric \\[parameters\\] name"),
        (lambda d: d["knob"][0].update(key="lfp.difusivity"), "must be a numeric"),
        (lambda d: d["knob"][0].update(initial=1e-10), "within \\[low, high\\]"),
        (lambda d: d["knob"][0].update(low=1e-14), "must be < high"),
        (lambda d: d["knob"][0].pop("source"), "'source' is required"),
        (lambda d: d["knob"][1].update(key="lfp.diffusivity_m2_s"), "given twice"),
        (lambda d: d["target"][0].update(paper_mAh_g=[1.0]), "one per C-rate"),
        (lambda d: d["target"][0].update(case="missing.toml"), "case file not found"),
        (lambda d: d["target"][0].update(c_rate=[0.1]), "unknown key 'c_rate'"),
        (lambda d: d["calibration"].update(seeds=[1, 1]), "repeated seed"),
        (lambda d: d["calibration"].update(log10_step=2.0), "<= 0.5 decades"),
        (lambda d: d["calibration"].update(jacobian="bfgs"), "calibration.jacobian = 'bfgs'.*broyden"),
        (lambda d: d.update(fidelity={"geometry.width_um": -1.0}), "geometry.width_um"),
    ],
)
def test_bad_files_are_refused_with_the_field(tmp_path: Path, change: object, message: str) -> None:
    d = _spec()
    change(d)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=message):
        calibration_from_dict(d, _files(tmp_path))


def test_a_fidelity_that_makes_a_ratio_trivial_is_refused(tmp_path: Path) -> None:
    d = _spec()
    d["fidelity"] = {"geometry.width_um": 3.0}  # the two cases differ only in their width
    with pytest.raises(ConfigError, match="same case once the fidelity"):
        calibration_from_dict(d, _files(tmp_path))


def test_targets_must_share_one_temperature(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="every target must share it"):
        calibration_from_dict(_spec(), _files(tmp_path, temperature=50.0))


def test_a_case_may_not_set_a_knob(tmp_path: Path) -> None:
    _files(tmp_path)
    (tmp_path / "a.toml").write_text(CASE.format(T=30.0, W=2.0) + '[parameters]\n"lfp.diffusivity_m2_s" = 1e-17\n')
    with pytest.raises(ConfigError, match="which is a knob"):
        calibration_from_dict(_spec(), tmp_path)


def test_residuals_are_scaled_by_the_acceptance_band(tmp_path: Path) -> None:
    cal = calibration_from_dict(_spec(), _files(tmp_path))
    # 120 ± 30 (25 %), 20 ± 5 (the 5 mAh/g floor), ratio 10 within a factor 2
    r = cal.residuals([150.0, 15.0, 20.0])
    assert r == pytest.approx([1.0, -1.0, 1.0])
    assert cal.residuals([120.0, 20.0, 5.0])[2] == pytest.approx(-1.0)


def test_evaluation_cases(tmp_path: Path) -> None:
    d = _spec(seeds=[1, 2])
    d["fidelity"] = {"geometry.mesh_size_um": 0.8}
    cal = calibration_from_dict(d, _files(tmp_path))
    cases = evaluation_cases(cal, [2e-17, 3e-13])
    assert len(cases) == 2 * (1 + 2)  # per seed: one rate case, two impedance cases
    assert len({c.case.hash for c in cases}) == len(cases)
    rate = next(c for c in cases if c.role == "rate" and c.seed == 2).case.config
    assert rate.study.kind == "rate" and list(rate.study.c_rates or []) == [0.1, 0.5]
    assert rate.geometry.seed == 2 and rate.geometry.mesh_size_um == 0.8
    assert rate.parameters["lfp.diffusivity_m2_s"] == 2e-17
    assert rate.parameters["electrolyte.diffusivity_m2_s"] == 3e-13
    num = next(c for c in cases if c.role == "numerator").case.config
    assert num.study.kind == "impedance" and num.study.frequency_min_Hz < 0.1 < num.study.frequency_max_Hz
    again = evaluation_cases(cal, [2e-17, 3e-13])
    assert [c.case.hash for c in again] == [c.case.hash for c in cases]  # a rerun finds its cases
    moved = evaluation_cases(cal, [2.000001e-17, 3e-13])
    assert not {c.case.hash for c in moved} & {c.case.hash for c in cases}


def _write_case(
    out: Path, h: str, summary: dict[str, object] | None, spectrum: tuple[list[float], list[complex]] | None = None
) -> None:
    d = store.case_dir(out, h)
    d.mkdir(parents=True)
    (d / store.STATUS_NAME).write_text(
        json.dumps({"state": "done" if summary is not None else "failed", "error": "boom"})
    )
    if summary is not None:
        (d / store.SUMMARY_NAME).write_text(json.dumps(summary))
    if spectrum is not None:
        f, z = spectrum
        rows = "\n".join(f"{fi},{zi.real},{zi.imag}" for fi, zi in zip(f, z, strict=True))
        (d / "impedance.csv").write_text("frequency_Hz,z_real_ohm_cm2,z_imag_ohm_cm2\n" + rows + "\n")


def test_model_values_read_rates_and_ratios(tmp_path: Path) -> None:
    cal = calibration_from_dict(_spec(), _files(tmp_path / "in"))
    cases = evaluation_cases(cal, [2e-17, 3e-13])
    out = tmp_path / "store"
    f = [0.2, 0.1, 0.05]
    for c in cases:
        if c.role == "rate":
            _write_case(out, c.case.hash, {"rate": {"c_rates": [0.1, 0.5], "capacity_mAh_g": [111.0, 22.0]}})
        else:
            scale = 300.0 if c.role == "numerator" else 100.0  # |Z| ratio 3 at every frequency
            _write_case(out, c.case.hash, {}, (f, [complex(3 * scale, -4 * scale) * (1 + k) for k in range(3)]))
    values = model_values(cal, cases, out)
    assert values[1] == pytest.approx([111.0, 22.0, 3.0])
    # interpolation in log f: halfway (in log) between 0.2 and 0.1 Hz
    z = impedance_at(store.case_dir(out, cases[1].case.hash), math.sqrt(0.02))
    assert z == pytest.approx(complex(3 * 300.0, -4 * 300.0) * 1.5)


def test_a_failed_case_is_named(tmp_path: Path) -> None:
    cal = calibration_from_dict(_spec(), _files(tmp_path / "in"))
    cases = evaluation_cases(cal, [2e-17, 3e-13])
    _write_case(tmp_path / "store", cases[0].case.hash, None)
    with pytest.raises(MicrosimError, match=f"case {cases[0].case.hash}.*boom.*--retry-failed"):
        model_values(cal, cases, tmp_path / "store")


# ----------------------------------------------------------------------------------------------------------------
# The fit on a model linear in log10 of the knobs: m = p + A (x - x_true) + offset_seed
# ----------------------------------------------------------------------------------------------------------------
A = np.array([[40.0, 5.0], [20.0, 30.0], [0.0, 0.2]])  # d model / d log10(knob): two capacities and a ratio-like row


class LinearModel:
    def __init__(self, cal: object, x_true: np.ndarray, offsets: dict[int, np.ndarray], a: np.ndarray = A) -> None:
        self.cal, self.x_true, self.offsets, self.a = cal, x_true, offsets, a
        self.calls = 0
        self.points = 0

    def __call__(self, points: list[list[float]]) -> list[dict[int, list[float]]]:
        self.calls += 1
        self.points += len(points)
        measured = np.array(self.cal.measured())  # type: ignore[attr-defined]
        out = []
        for p in points:
            x = np.log10(np.array(p))
            base = measured + self.a @ (x - self.x_true)
            out.append({s: list(base + off) for s, off in self.offsets.items()})
        return out


def _capacity_only(tmp_path: Path, **head: object) -> object:
    d = _spec(**head)
    d["target"] = [
        {"name": "A", "case": "a.toml", "c_rates": [0.1, 0.2, 0.5], "paper_mAh_g": [120.0, 90.0, 14.0]},
    ]
    return calibration_from_dict(d, _files(tmp_path))


def test_fit_recovers_the_truth_and_its_covariance(tmp_path: Path) -> None:
    cal = _capacity_only(tmp_path, max_evaluations=40)
    x_true = np.log10([3e-18, 2e-13])
    model = LinearModel(cal, x_true, {1: np.zeros(3)})
    res = fit(cal, model)
    assert np.log10(res.values) == pytest.approx(x_true, abs=2e-3)  # the fit's xtol is 1e-3 decades
    assert res.cost < 1e-4
    scale = np.array([30.0, 22.5, 5.0])  # each point's band
    jac = A / scale[:, None]
    assert res.jacobian == pytest.approx(jac, rel=1e-6)
    assert np.array(result_record(cal, res)["jacobian_scaled"]) == pytest.approx(jac, rel=1e-6)
    cov = np.linalg.inv(jac.T @ jac)
    assert res.sigma_log10 == pytest.approx(np.sqrt(np.diag(cov)), rel=1e-6)
    assert res.correlation[0, 1] == pytest.approx(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]), rel=1e-6)
    assert res.identified == (True, True)
    assert len(res.evaluations) <= cal.max_evaluations and model.calls < model.points  # Jacobian columns batched


def test_each_seed_refit_is_exact_for_a_linear_model(tmp_path: Path) -> None:
    cal = _capacity_only(tmp_path, seeds=[1, 2, 3], max_evaluations=40)
    x_true = np.log10([3e-18, 2e-13])
    offsets = {1: np.array([6.0, -3.0, 1.0]), 2: np.array([-6.0, 1.0, -2.0]), 3: np.zeros(3)}
    res = fit(cal, LinearModel(cal, x_true, offsets))
    mean_offset = np.mean(list(offsets.values()), axis=0)
    scale = np.array([30.0, 22.5, 5.0])
    jac = A / scale[:, None]
    for s, off in offsets.items():
        # the exact optimum of seed s alone: x_true - J⁺ (offset_s / band)
        exact = x_true - np.linalg.pinv(jac) @ (off / scale)
        assert np.log10(res.seed_values[s]) == pytest.approx(exact, abs=1e-6)
    # and the mean model's optimum is that of the mean offset
    assert np.log10(res.values) == pytest.approx(x_true - np.linalg.pinv(jac) @ (mean_offset / scale), abs=2e-3)
    rec = result_record(cal, res)
    assert rec["knobs"][0]["seed_spread_log10"] > 0 and len(rec["knobs"][0]["seed_values"]) == 3


def test_a_knob_the_data_do_not_move_is_not_identified(tmp_path: Path) -> None:
    cal = _capacity_only(tmp_path, max_evaluations=40)
    a = A.copy()
    a[:, 1] = 0.0
    res = fit(cal, LinearModel(cal, np.log10([3e-18, 2e-13]), {1: np.zeros(3)}, a))
    assert res.identified == (True, False) and math.isinf(res.sigma_log10[1])
    rec = result_record(cal, res)
    assert rec["knobs"][1]["identified"] is False and rec["knobs"][1]["interval_1sigma"] is None
    json.dumps(rec, allow_nan=False)  # the record is valid JSON


def test_the_fit_stops_at_its_evaluation_budget(tmp_path: Path) -> None:
    cal = _capacity_only(tmp_path, max_evaluations=4)
    model = LinearModel(cal, np.log10([3e-18, 2e-13]), {1: np.zeros(3)})
    res = fit(cal, model)
    assert model.points <= 4 and "budget" in res.status
    assert res.cost <= res.evaluations[0].cost  # the best point seen, never worse than the start


class QuadraticModel(LinearModel):
    """A model whose Jacobian changes along the path: m = p + A dx + B dx², dx = x - x_true (per component)."""

    B = np.array([[15.0, -4.0], [-8.0, 10.0], [3.0, 0.0]])

    def __call__(self, points: list[list[float]]) -> list[dict[int, list[float]]]:
        out = super().__call__(points)
        for p, row in zip(points, out, strict=True):
            dx = np.log10(np.array(p)) - self.x_true
            for s in row:
                row[s] = list(np.array(row[s]) + self.B @ dx**2)
        return out


def test_broyden_needs_fewer_points_and_finds_the_same_optimum(tmp_path: Path) -> None:
    x_true = np.log10([3e-18, 2e-13])
    fd_cal = _capacity_only(tmp_path / "fd", max_evaluations=60)
    br_cal = _capacity_only(tmp_path / "br", max_evaluations=60, jacobian="broyden")
    fd_model = QuadraticModel(fd_cal, x_true, {1: np.zeros(3)})
    br_model = QuadraticModel(br_cal, x_true, {1: np.zeros(3)})
    fd, br = fit(fd_cal, fd_model), fit(br_cal, br_model)
    assert np.log10(br.values) == pytest.approx(x_true, abs=5e-3) and br.cost < 1e-3
    assert np.log10(fd.values) == pytest.approx(x_true, abs=5e-3)
    assert br_model.points < fd_model.points
    # the reported Jacobian is a difference one at the best point, not the secant model: A + 2 B dx (+ B h)
    scale = np.array([30.0, 22.5, 5.0])
    dx = np.log10(br.values) - x_true
    h = br_cal.log10_step
    expected = (A + QuadraticModel.B * (2 * dx + h)[None, :]) / scale[:, None]
    assert br.jacobian == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert "no Jacobian" not in br.status


def test_the_secant_update_matches_the_last_step(tmp_path: Path) -> None:
    cal = _capacity_only(tmp_path, max_evaluations=60, jacobian="broyden")
    x_true = np.log10([3e-18, 2e-13])
    m = _Model(cal, QuadraticModel(cal, x_true, {1: np.zeros(3)}), None)
    lo, hi = (np.array(b) for b in zip(*(k.log_bounds for k in cal.knobs), strict=True))
    x0 = np.log10([k.initial for k in cal.knobs])
    j0 = m.jacobian(x0, lo, hi)
    rejected, x1 = x0 + np.array([0.3, -0.2]), x0 + np.array([-0.2, 0.1])
    r0, r_rej, r1 = m.residuals(x0), m.residuals(rejected), m.residuals(x1)
    j1 = m.jacobian(x1, lo, hi)
    assert not np.allclose(j1, j0)
    # Broyden's condition for the last secant folded in (base x0 → x1), and the base has moved to x1
    assert j1 @ (x1 - x0) == pytest.approx(r1 - r0, rel=1e-9, abs=1e-12)
    assert m.secant is not None and np.array_equal(m.secant[0], x1)
    # the rejected point was folded in first: its own secant held before the second update
    j_rej = j0 + np.outer((r_rej - r0) - j0 @ (rejected - x0), rejected - x0) / float((rejected - x0) @ (rejected - x0))
    d = x1 - x0
    expected = j_rej + np.outer((r1 - r0) - j_rej @ d, d) / float(d @ d)
    assert j1 == pytest.approx(expected, rel=1e-9)
    assert len(m.jacobians) == 1  # the secant Jacobian is never stored as a difference one


def test_broyden_keeps_points_back_for_the_final_jacobian(tmp_path: Path) -> None:
    cal = _capacity_only(tmp_path, max_evaluations=6, jacobian="broyden")  # start (3) + 1 step + reserve (2)
    model = QuadraticModel(cal, np.log10([3e-18, 2e-13]), {1: np.zeros(3)})
    res = fit(cal, model)
    assert model.points <= 6 and "budget" in res.status and "no Jacobian" not in res.status
    assert np.all(np.isfinite(res.jacobian)) and np.all(np.isfinite(res.sigma_log10))


def test_bounds_hold_when_the_truth_is_outside(tmp_path: Path) -> None:
    cal = _capacity_only(tmp_path, max_evaluations=40)
    res = fit(cal, LinearModel(cal, np.log10([1e-21, 2e-13]), {1: np.zeros(3)}))  # truth below the lower bound
    assert res.values[0] == pytest.approx(1e-19, rel=1e-6)
    assert result_record(cal, res)["knobs"][0]["at_bound"] is True


def test_targets_must_share_one_electrolyte(tmp_path: Path) -> None:
    d = _spec()
    folder = _files(tmp_path)
    (folder / "b.toml").write_text(CASE.format(T=30.0, W=3.0) + '[electrolyte]\nname = "PAL"\n')
    with pytest.raises(ConfigError, match=r"electrolytes \['PAL', 'PPAL'\]"):
        calibration_from_dict(d, folder)


def test_the_fit_becomes_a_parameter_set_that_reproduces_the_fitted_values(tmp_path: Path) -> None:
    from microsim import config as config_mod
    from microsim.calibration.fit import parameter_set_record
    from microsim.parameters import PARAMETER_SETS, resolve
    from microsim.parameters.sets import set_from_dict

    cal = _capacity_only(tmp_path, max_evaluations=40)
    res = fit(cal, LinearModel(cal, np.log10([3e-18, 2e-13]), {1: np.zeros(3)}))
    rec = parameter_set_record(cal, res)
    ps = set_from_dict(rec)
    assert ps.name == cal.name and set(ps.entries) == {k.key for k in cal.knobs}
    old = PARAMETER_SETS.get(ps.name)
    PARAMETER_SETS[ps.name] = ps
    try:
        # at the fit's electrolyte and temperature the set gives exactly the fitted values
        p = resolve(config_mod.from_dict({"parameters": {"set": ps.name}, "conditions": {"temperature_C": 30.0}}))
        assert p.lfp.diffusivity_m2_s == pytest.approx(res.values[0], rel=1e-12)
        assert p.electrolyte.diffusivity_m2_s == pytest.approx(res.values[1], rel=1e-12)
    finally:
        if old is None:
            PARAMETER_SETS.pop(ps.name)
        else:
            PARAMETER_SETS[ps.name] = old
    assert "identified" in ps.entries["lfp.diffusivity_m2_s"].source
