"""Bounded least squares over the knobs in log10, with the uncertainty and identifiability of the result.

The fit minimises ``Σ r_k²`` of the scaled residuals of :meth:`Calibration.residuals` (|r| ≤ 1: inside the
acceptance band) with ``scipy.optimize.least_squares`` (trust-region reflective, bounds = the knobs' literature
bounds), on ``x = log10(value)``. The model is evaluated in batches: the Jacobian is a forward difference of
``log10_step`` decades per knob (backward where the step would leave the bounds), and all its columns are one
batch, so their cases run in parallel. The model is the mean over the packing seeds (capacities averaged, ratios
averaged in log).

With ``calibration.jacobian = "finite-difference"`` every accepted step costs a new difference Jacobian (n + 1
points less the cached one). With ``"broyden"`` only the starting point gets one; after that the Jacobian follows
the steps by Broyden's secant update ``J += (Δr − J Δx) Δxᵀ / |Δx|²`` from every point evaluated since the last
accepted one (rejected trial points included), so a step costs one point. The optimiser then works on a secant
model, but the uncertainty below never does: the budget keeps ``n`` points back for a difference Jacobian at the
best point.

After the fit, from the Jacobian ``J`` at the best point (docs/calibration.md §3):

* covariance of ``x``: ``(JᵀJ)⁻¹``, i.e. the acceptance band of each point taken as one standard deviation of
  the data (the paper gives no error bars); 1σ intervals and the correlation matrix follow;
* identifiability: a knob whose 1σ interval spans more than half its bounds' width (in decades), or that the
  data do not move at all, is reported as not identified by these data;
* seed spread: the linearised refit of each seed alone, ``x_s = x* − J⁺ r_s``, with ``r_s`` that seed's
  residuals at ``x*`` (one Gauss–Newton step, exact for a model linear in ``x``); the spread of ``x_s`` is the
  packing's share of the uncertainty.

No DOLFINx here: the evaluator is any callable (:class:`microsim.calibration.runner.CaseEvaluator` runs cases).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from microsim.calibration.spec import Calibration

__all__ = ["Evaluation", "Evaluator", "FitResult", "fit", "parameter_set_record", "result_record"]

#: Evaluates a batch of points (knob values, physical units) -> for each point ``{seed: [model values]}``.
Evaluator = Callable[[Sequence[Sequence[float]]], list[dict[int, list[float]]]]


@dataclass(frozen=True)
class Evaluation:
    """One evaluated point.

    Attributes:
        index: Order of evaluation (0-based).
        kind: ``"point"`` (a step of the fit) or ``"jacobian"`` (a difference column).
        values: Knob values.
        per_seed: ``{seed: model values}`` in residual order.
        model: The seed mean in residual order.
        residuals: Scaled residuals of ``model``.
    """

    index: int
    kind: str
    values: tuple[float, ...]
    per_seed: dict[int, list[float]]
    model: tuple[float, ...]
    residuals: tuple[float, ...]

    @property
    def cost(self) -> float:
        """``Σ r²``."""
        return float(sum(r * r for r in self.residuals))


@dataclass
class FitResult:
    """The outcome of :func:`fit`.

    Attributes:
        values: Best knob values.
        residuals: Their scaled residuals (seed mean).
        model: Seed-mean model values at the best point.
        jacobian: ``∂r/∂log10(value)`` at the best point (n_residuals × n_knobs).
        sigma_log10: 1σ of each knob in decades (``inf`` where not identified).
        correlation: Correlation matrix of the knobs (NaN rows for unidentified knobs).
        identified: Whether the data constrain each knob (see the module docstring).
        seed_values: ``{seed: knob values}`` of the linearised refit of each seed.
        evaluations: Every evaluated point, in order.
        status: What ended the fit (scipy's message, or the evaluation budget).
        singular_values: Of the Jacobian.
    """

    values: tuple[float, ...]
    residuals: tuple[float, ...]
    model: tuple[float, ...]
    jacobian: np.ndarray
    sigma_log10: tuple[float, ...]
    correlation: np.ndarray
    identified: tuple[bool, ...]
    seed_values: dict[int, tuple[float, ...]]
    evaluations: list[Evaluation] = field(default_factory=list)
    status: str = ""
    singular_values: tuple[float, ...] = ()

    @property
    def cost(self) -> float:
        """``Σ r²`` at the best point."""
        return float(sum(r * r for r in self.residuals))


class _BudgetSpent(Exception):
    """Raised inside the optimiser when the next batch would exceed ``max_evaluations``."""


def _seed_mean(cal: Calibration, per_seed: dict[int, list[float]]) -> list[float]:
    rows = np.array([per_seed[s] for s in cal.seeds], dtype=float)
    n_cap = cal.n_residuals - len(cal.ratio_targets)
    mean = rows.mean(axis=0)
    if len(cal.ratio_targets):
        mean[n_cap:] = np.exp(np.log(np.maximum(rows[:, n_cap:], 1e-300)).mean(axis=0))
    return [float(v) for v in mean]


class _Model:
    """Caches evaluations by point and keeps the budget; every point goes through :meth:`batch`."""

    def __init__(self, cal: Calibration, evaluate: Evaluator, on_evaluation: Callable[[Evaluation], None] | None):
        self.cal, self.evaluate, self.on_evaluation = cal, evaluate, on_evaluation
        self.cache: dict[tuple[float, ...], Evaluation] = {}
        self.evaluations: list[Evaluation] = []
        self.jacobians: dict[tuple[float, ...], np.ndarray] = {}  # difference Jacobians only
        self.secant: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (x, r(x), J) of the secant model
        self.secant_seen = 0  # evaluations already folded into the secant model
        # Points kept back for the difference Jacobian at the best point (the secant model's uncertainty is not one).
        self.reserve = len(cal.knobs) if cal.jacobian == "broyden" else 0

    @staticmethod
    def key(x: np.ndarray) -> tuple[float, ...]:
        return tuple(float(v) for v in np.round(np.asarray(x, dtype=float), 12))

    def batch(self, xs: Sequence[np.ndarray], kind: str, reserve: int = 0) -> list[Evaluation]:
        keys = [self.key(x) for x in xs]
        new = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if new:
            if len(self.evaluations) + len(new) > self.cal.max_evaluations - reserve:
                raise _BudgetSpent
            results = self.evaluate([[10.0**v for v in k] for k in new])
            for k, per_seed in zip(new, results, strict=True):
                model = _seed_mean(self.cal, per_seed)
                ev = Evaluation(
                    index=len(self.evaluations),
                    kind=kind,
                    values=tuple(10.0**v for v in k),
                    per_seed={int(s): list(map(float, v)) for s, v in per_seed.items()},
                    model=tuple(model),
                    residuals=tuple(self.cal.residuals(model)),
                )
                self.cache[k] = ev
                self.evaluations.append(ev)
                if self.on_evaluation is not None:
                    self.on_evaluation(ev)
        return [self.cache[k] for k in keys]

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return np.array(self.batch([x], "point", self.reserve)[0].residuals)

    def jacobian(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The optimiser's Jacobian at ``x``: a difference one, or the secant model's (``jacobian = "broyden"``)."""
        if self.cal.jacobian == "broyden" and self.secant is not None:
            return self.secant_update(x)
        jac = self.difference_jacobian(x, lo, hi, self.reserve)
        r = np.array(self.cache[self.key(x)].residuals, dtype=float)
        self.secant, self.secant_seen = (x.copy(), r, jac.copy()), len(self.evaluations)
        return jac

    def difference_jacobian(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, reserve: int = 0) -> np.ndarray:
        h = self.cal.log10_step
        steps = np.where(x + h <= hi, h, -h)  # backward at the upper bound
        xs = [x.copy()] + [x + steps[i] * np.eye(len(x))[i] for i in range(len(x))]
        evs = self.batch(xs, "jacobian", reserve)
        r0 = np.array(evs[0].residuals)
        jac = np.column_stack([(np.array(e.residuals) - r0) / steps[i] for i, e in enumerate(evs[1:])])
        self.jacobians[self.key(x)] = jac
        return jac

    def secant_update(self, x: np.ndarray) -> np.ndarray:
        """Fold every point evaluated since the last update into the secant model, then move its base to ``x``."""
        assert self.secant is not None
        x0, r0, jac = self.secant
        for ev in self.evaluations[self.secant_seen :]:
            dx = np.log10(np.array(ev.values)) - x0
            dr = np.array(ev.residuals, dtype=float) - r0
            norm2 = float(dx @ dx)
            if norm2 > 0.0 and np.all(np.isfinite(dr)):
                jac = jac + np.outer(dr - jac @ dx, dx) / norm2
        self.secant_seen = len(self.evaluations)
        r = np.array(self.batch([x], "point", self.reserve)[0].residuals, dtype=float)
        self.secant = (x.copy(), r, jac)
        return jac


def fit(cal: Calibration, evaluate: Evaluator, on_evaluation: Callable[[Evaluation], None] | None = None) -> FitResult:
    """Fit the knobs of ``cal`` with ``evaluate`` (see the module docstring).

    Args:
        cal: The calibration.
        evaluate: Batch evaluator of model values per seed.
        on_evaluation: Called after each new point (e.g. to write the history).

    Returns:
        The best point with its uncertainty, identifiability and seed spread.
    """
    lo = np.array([k.log_bounds[0] for k in cal.knobs])
    hi = np.array([k.log_bounds[1] for k in cal.knobs])
    x0 = np.array([math.log10(k.initial) for k in cal.knobs])
    model = _Model(cal, evaluate, on_evaluation)
    status = ""
    try:
        result = least_squares(
            model.residuals,
            x0,
            jac=lambda x: model.jacobian(x, lo, hi),
            bounds=(lo, hi),
            method="trf",
            x_scale=1.0,
            xtol=1e-3,
            ftol=1e-4,
            gtol=1e-6,
        )
        status = str(result.message)
    except _BudgetSpent:
        status = f"evaluation budget spent (calibration.max_evaluations = {cal.max_evaluations})"
    points = [e for e in model.evaluations if e.kind == "point" or model.key(np.log10(e.values)) in model.jacobians]
    best = min(points or model.evaluations, key=lambda e: e.cost)
    x_best = np.log10(np.array(best.values))
    key = model.key(x_best)
    if key not in model.jacobians:
        try:
            model.difference_jacobian(x_best, lo, hi)
        except _BudgetSpent:
            status += "; no Jacobian at the best point within the budget (uncertainty not computed)"
    jac = model.jacobians.get(key, np.full((cal.n_residuals, len(cal.knobs)), np.nan))
    return _analyse(cal, best, jac, model.evaluations, status, lo, hi)


def _analyse(
    cal: Calibration,
    best: Evaluation,
    jac: np.ndarray,
    evaluations: list[Evaluation],
    status: str,
    lo: np.ndarray,
    hi: np.ndarray,
) -> FitResult:
    n = len(cal.knobs)
    x = np.log10(np.array(best.values))
    if not np.all(np.isfinite(jac)):
        nan = np.full(n, np.nan)
        return FitResult(
            best.values, best.residuals, best.model, jac, tuple(nan), np.full((n, n), np.nan),
            tuple(False for _ in range(n)), {}, evaluations, status,
        )  # fmt: skip
    sv = np.linalg.svd(jac, compute_uv=False)
    moved = np.linalg.norm(jac, axis=0) > 1e-12
    cov = np.full((n, n), np.nan)
    sigma = np.full(n, np.inf)
    if moved.any():
        sub = jac[:, moved]
        cov_sub = np.linalg.pinv(sub.T @ sub)
        idx = np.flatnonzero(moved)
        cov[np.ix_(idx, idx)] = cov_sub
        sigma[idx] = np.sqrt(np.maximum(np.diag(cov_sub), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sigma, sigma)
    identified = tuple(bool(moved[i] and sigma[i] <= 0.5 * (hi[i] - lo[i])) for i in range(n))
    pinv = np.linalg.pinv(jac)
    seed_values: dict[int, tuple[float, ...]] = {}
    for seed, values in best.per_seed.items():
        r_s = np.array(cal.residuals(values))
        x_s = np.clip(x - pinv @ r_s, lo, hi)
        seed_values[seed] = tuple(float(10.0**v) for v in x_s)
    return FitResult(
        values=best.values,
        residuals=best.residuals,
        model=best.model,
        jacobian=jac,
        sigma_log10=tuple(float(s) for s in sigma),
        correlation=corr,
        identified=identified,
        seed_values=seed_values,
        evaluations=evaluations,
        status=status,
        singular_values=tuple(float(s) for s in sv),
    )


def result_record(cal: Calibration, res: FitResult) -> dict[str, Any]:
    """``calibration.json``: the fitted knobs with intervals, the residuals and the fit's diagnostics."""
    knobs = []
    for i, k in enumerate(cal.knobs):
        s = res.sigma_log10[i]
        seeds = [v[i] for v in res.seed_values.values()]
        knobs.append(
            {
                "key": k.key,
                "unit": k.unit,
                "value": res.values[i],
                "initial": k.initial,
                "low": k.low,
                "high": k.high,
                "source": k.source,
                "at_bound": bool(
                    math.isclose(math.log10(res.values[i]), k.log_bounds[0], abs_tol=1e-3)
                    or math.isclose(math.log10(res.values[i]), k.log_bounds[1], abs_tol=1e-3)
                ),
                "sigma_log10": s if math.isfinite(s) else None,
                "interval_1sigma": [res.values[i] / 10**s, res.values[i] * 10**s] if math.isfinite(s) else None,
                "identified": res.identified[i],
                "seed_values": seeds,
                "seed_spread_log10": float(np.std(np.log10(seeds), ddof=1)) if len(seeds) > 1 else None,
            }
        )
    corr = [[None if not math.isfinite(v) else float(v) for v in row] for row in np.asarray(res.correlation)]
    points = []
    for label, m, p, r in zip(cal.residual_labels(), res.model, cal.measured(), res.residuals, strict=True):
        points.append({"point": label, "model": m, "measured": p, "scaled_residual": r, "within": abs(r) <= 1.0})
    return {
        "name": cal.name,
        "temperature_C": cal.temperature_C,
        "seeds": list(cal.seeds),
        "fidelity": dict(cal.fidelity),
        "status": res.status,
        "cost": res.cost,
        "n_evaluations": len(res.evaluations),
        "knobs": knobs,
        "correlation": corr,
        "singular_values": list(res.singular_values),
        # ∂r/∂log10(knob) at the best point, one row per point: how many acceptance bands a decade of each knob
        # moves each point (the sensitivity table of validation/paper/README.md)
        "jacobian_scaled": [[float(v) if math.isfinite(v) else None for v in row] for row in np.asarray(res.jacobian)],
        "points": points,
        "method": (
            "scipy.optimize.least_squares (trf, bounds) on log10 of each knob; residuals scaled by each point's "
            "acceptance band; forward-difference Jacobian; covariance (JᵀJ)⁻¹; seed spread by a linearised refit"
        ),
    }


def parameter_set_record(cal: Calibration, res: FitResult) -> dict[str, Any]:
    """``parameter_set.json``: the fit as a named set of factors on the named laws (docs/parameters.md §9).

    Each factor is fitted / named at the fit's electrolyte and temperature, so each law keeps its activation
    energy. A knob the data do not identify is kept (the set reproduces the fit) but said so in its source.
    """
    from microsim.constants import kelvin
    from microsim.parameters import named_values

    named = named_values(cal.electrolyte, kelvin(cal.temperature_C))
    rec = result_record(cal, res)
    entries: dict[str, Any] = {}
    for k in rec["knobs"]:
        flags = [] if k["identified"] else ["NOT identified by the data"]
        flags += ["at a bound"] if k["at_bound"] else []
        entries[k["key"]] = {
            "factor": k["value"] / float(named[k["key"]]),
            "value": k["value"],
            "fitted_at": f"{cal.electrolyte}, {cal.temperature_C:g} °C",
            "low": k["low"],
            "high": k["high"],
            "interval_1sigma": k["interval_1sigma"],
            "source": f"fitted ({'; '.join(flags) or 'identified'}); bounds: {k['source']}",
        }
    seeds = ", ".join(str(s) for s in cal.seeds)
    fidelity = ", ".join(f"{key} = {v}" for key, v in cal.fidelity.items()) or "the full cases"
    return {
        "name": cal.name,
        "citation": cal.citation or f"the targets of {cal.source}",
        "note": (
            f"microsim calibrate: {rec['method']}; {len(res.evaluations)} evaluations ({res.status}); seeds {seeds}; "
            f"fidelity: {fidelity}; cost {res.cost:.4g}"
        ),
        "entries": entries,
    }
