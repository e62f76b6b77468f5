"""The cases of one evaluation point of a calibration, and the model values read back from their results.

An evaluation point is one value per knob. For each target and seed it becomes one case: the target's case file
with the fidelity overrides, the seed, the knob values as ``[parameters]`` overrides and the study the target
measures (a rate study at its C-rates, or an impedance study around its frequency). Cases are named by their
configuration hash (:func:`microsim.sweep.spec.case_hash`), so two points that share a case (the same seed and
values) run it once, and a rerun of the calibration finds every finished case in the store.

Pure Python (no DOLFINx): reading results needs only the case folders.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from microsim import config as config_mod
from microsim.config import Config
from microsim.errors import ConfigError, MicrosimError
from microsim.sweep import store
from microsim.sweep.spec import Case, case_hash

if TYPE_CHECKING:
    from microsim.calibration.spec import Calibration

__all__ = ["RATIO_POINTS_PER_DECADE", "RATIO_SPAN", "EvaluationCase", "evaluation_cases", "model_values"]

#: An impedance target is measured on [f / RATIO_SPAN, f * RATIO_SPAN] (enough points for the spectrum analysis).
RATIO_SPAN = 2.0
RATIO_POINTS_PER_DECADE = 5


@dataclass(frozen=True)
class EvaluationCase:
    """One case of an evaluation point.

    Attributes:
        target: Index of the target in ``capacity_targets + ratio_targets``.
        role: ``"rate"``, ``"numerator"`` or ``"denominator"``.
        seed: The packing seed.
        case: The sweep case (hash, values, validated config).
    """

    target: int
    role: str
    seed: int
    case: Case


def _config(cal: Calibration, base: Config, seed: int, values: Sequence[float], study: dict[str, object]) -> Config:
    changes: dict[str, object] = dict(cal.fidelity)
    changes["geometry.seed"] = seed
    changes.update(study)
    for knob, value in zip(cal.knobs, values, strict=True):
        changes[f"parameters.{knob.key}"] = float(value)
    try:
        return config_mod.replace(base, **changes)
    except ConfigError as exc:
        raise ConfigError(f"case {base.source} with the fidelity, seed {seed} and knob values: {exc}") from None


def evaluation_cases(cal: Calibration, values: Sequence[float]) -> list[EvaluationCase]:
    """Every case of the evaluation point ``values`` (one value per knob, in knob order).

    Raises:
        ConfigError: A case is invalid with the fidelity overrides, a seed or these values.
    """
    out: list[EvaluationCase] = []
    labels = {k.key: float(v) for k, v in zip(cal.knobs, values, strict=True)}
    for seed in cal.seeds:
        for i, t in enumerate(cal.capacity_targets):
            cfg = _config(cal, t.case, seed, values, {"study.kind": "rate", "study.c_rates": list(t.c_rates)})
            out.append(_case(len(out), cfg, i, "rate", seed, t.name, labels))
        for j, r in enumerate(cal.ratio_targets):
            study: dict[str, object] = {
                "study.kind": "impedance",
                "study.frequency_min_Hz": r.frequency_Hz / RATIO_SPAN,
                "study.frequency_max_Hz": r.frequency_Hz * RATIO_SPAN,
                "study.points_per_decade": RATIO_POINTS_PER_DECADE,
            }
            index = len(cal.capacity_targets) + j
            pair: list[EvaluationCase] = []
            for role, base in (("numerator", r.numerator), ("denominator", r.denominator)):
                cfg = _config(cal, base, seed, values, study)
                pair.append(_case(len(out) + len(pair), cfg, index, role, seed, f"{r.name} ({role})", labels))
            if pair[0].case.hash == pair[1].case.hash:
                raise ConfigError(
                    f"target {r.name!r}: numerator and denominator are the same case once the fidelity overrides "
                    "are applied (their ratio would be 1)"
                )
            out += pair
    return out


def _case(
    index: int, cfg: Config, target: int, role: str, seed: int, name: str, labels: dict[str, float]
) -> EvaluationCase:
    values: dict[str, object] = {"target": name, "seed": seed, **labels}
    return EvaluationCase(target=target, role=role, seed=seed, case=Case(index, case_hash(cfg), values, cfg))


def _summary(out_dir: Path, case: Case) -> dict[str, Any]:
    path = store.case_dir(out_dir, case.hash) / store.SUMMARY_NAME
    status = store.read_status(out_dir, case.hash) or {}
    if status.get("state") == store.FAILED or not path.is_file():
        why = f"{status.get('error_type')}: {status.get('error')}" if status.get("error") else "no summary.json"
        raise MicrosimError(
            f"calibration: case {case.hash} ({case.label()}) has no result ({why}); see "
            f"{store.case_dir(out_dir, case.hash)}; rerun with --retry-failed after fixing the cause"
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _capacities(summary: dict[str, Any], c_rates: Sequence[float], where: str) -> list[float]:
    rate = summary.get("rate") or {}
    table = dict(zip(rate.get("c_rates", []), rate.get("capacity_mAh_g", []), strict=False))
    out = []
    for c in c_rates:
        value = next((v for k, v in table.items() if math.isclose(float(k), c)), None)
        if value is None or not math.isfinite(float(value)):
            raise MicrosimError(f"calibration: {where}: no capacity at {c:g}C in its rate table")
        out.append(float(value))
    return out


def impedance_at(case_dir: Path, frequency_Hz: float) -> complex:
    """Z [Ω cm²] at ``frequency_Hz`` from a case's ``impedance.csv``, interpolated linearly in log f."""
    import pandas as pd

    table = pd.read_csv(case_dir / "impedance.csv").sort_values("frequency_Hz")
    f = np.log10(table["frequency_Hz"].to_numpy())
    x = math.log10(frequency_Hz)
    if not f[0] - 1e-9 <= x <= f[-1] + 1e-9:
        raise MicrosimError(f"calibration: {case_dir}: {frequency_Hz:g} Hz is outside its spectrum")
    re = float(np.interp(x, f, table["z_real_ohm_cm2"].to_numpy()))
    im = float(np.interp(x, f, table["z_imag_ohm_cm2"].to_numpy()))
    return complex(re, im)


def model_values(cal: Calibration, cases: Sequence[EvaluationCase], out_dir: Path) -> dict[int, list[float]]:
    """The model value of every residual for each seed: ``{seed: [values in residual order]}``.

    Raises:
        MicrosimError: A case failed or left no result (named, with its folder).
    """
    per_seed: dict[int, list[float]] = {}
    for seed in cal.seeds:
        mine = [c for c in cases if c.seed == seed]
        values: list[float] = []
        for i, t in enumerate(cal.capacity_targets):
            ec = next(c for c in mine if c.target == i)
            values += _capacities(_summary(out_dir, ec.case), t.c_rates, f"{t.name}, seed {seed}")
        for j, r in enumerate(cal.ratio_targets):
            index = len(cal.capacity_targets) + j
            z = {}
            for c in mine:
                if c.target == index:
                    _summary(out_dir, c.case)  # raises for a failed case
                    z[c.role] = abs(impedance_at(store.case_dir(out_dir, c.case.hash), r.frequency_Hz))
            values.append(z["numerator"] / z["denominator"])
        per_seed[seed] = values
    return per_seed
