"""``README.md`` of a paper report: the tables a reader needs, written from the report's record (no DOLFINx).

Sections: how it was made; model vs paper for every point (fitted and predicted, with the acceptance of each);
the impedance ratio; the losses at cut-off at 0.1C and 0.5C, by mechanism; and, when the calibration's result is
given, the sensitivity of each fitted point to each knob (its Jacobian at the fitted values).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from microsim import __version__
from microsim.paper.report import FIT_BAND, LOSS_PARTS, PREDICTION_BAND

__all__ = ["LOSS_RATES", "readme_text"]

#: The C-rates whose losses the README breaks down (where a row has them).
LOSS_RATES = (0.1, 0.5)


def _f(value: object, fmt: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return format(value, fmt)


def _rate_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    out = [
        "| cell | electrolyte | T [°C] | C-rate | fitted | paper [mAh/g] | model [mAh/g] | seeds [mAh/g] | error | "
        "within | limited by | 2D [mAh/g] |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        seeds = ", ".join(f"{v:.1f}" for v in r["model_seeds_mAh_g"]) or "—"
        if r["missing_seeds"]:
            seeds += f" (missing seeds {', '.join(str(s) for s in r['missing_seeds'])})"
        err = "—" if r["error_mAh_g"] is None else f"{r['error_mAh_g']:+.1f} ({100 * r['error_relative']:+.0f} %)"
        within = {True: "yes", False: "**no**", None: "—"}[r["within_band"]]
        out.append(
            f"| {r['cell']} | {r['electrolyte']} | {r['temperature_C']:g} | {r['c_rate']:g}C | "
            f"{'fitted' if r['fitted'] else 'predicted'} | {r['paper_mAh_g']:g} | {_f(r['model_mAh_g'])} | {seeds} | "
            f"{err} | {within} (±{r['band_mAh_g']:.1f}) | {r['limiting_mechanism'] or '—'} | "
            f"{_f(r['model_2d_mAh_g'])} |"
        )
    return out


def _loss_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    picked = [r for r in rows if any(math.isclose(r["c_rate"], c) for c in LOSS_RATES)]
    if not picked:
        return ["No row has a point at 0.1C or 0.5C."]
    head = "| cell | electrolyte | T [°C] | C-rate | " + " | ".join(LOSS_PARTS.values()) + " |"
    out = [head, "|" + "---|" * (4 + len(LOSS_PARTS))]
    for r in picked:
        parts = " | ".join(_f(r["losses_at_cutoff_V"].get(k), ".3f") for k in LOSS_PARTS)
        out.append(f"| {r['cell']} | {r['electrolyte']} | {r['temperature_C']:g} | {r['c_rate']:g}C | {parts} |")
    return out


def _sensitivity(calibration: Mapping[str, Any]) -> list[str]:
    jac = calibration.get("jacobian_scaled")
    points = calibration.get("points") or []
    knobs = calibration.get("knobs") or []
    if not jac or len(jac) != len(points):
        return ["The calibration result holds no Jacobian (rerun `microsim calibrate`; it runs nothing new)."]
    out = [
        "Acceptance bands per decade of each knob, ∂r/∂log10(knob) at the fitted values (|value| ≥ 1: a decade of "
        "the knob moves the point across its whole band). Only the fitted points: the predicted ones were not "
        "differentiated.",
        "",
        "| point | " + " | ".join(k["key"] for k in knobs) + " |",
        "|---|" + "---|" * len(knobs),
    ]
    for p, row in zip(points, jac, strict=True):
        out.append(f"| {p['point']} | " + " | ".join(_f(v, "+.2f") for v in row) + " |")
    return out


def _fitted_values(calibration: Mapping[str, Any]) -> list[str]:
    out = ["| knob | fitted | 1σ interval | bounds | identified | seed refits |", "|---|---|---|---|---|---|"]
    for k in calibration.get("knobs") or []:
        ci = k.get("interval_1sigma")
        interval = f"{ci[0]:.3g} – {ci[1]:.3g}" if ci else "—"
        seeds = ", ".join(f"{v:.3g}" for v in k.get("seed_values") or []) or "—"
        bound = " (at a bound)" if k.get("at_bound") else ""
        out.append(
            f"| {k['key']} [{k.get('unit', '')}] | {k['value']:.4g}{bound} | {interval} | {k['low']:.3g} – "
            f"{k['high']:.3g} | {'yes' if k.get('identified') else '**no**'} | {seeds} |"
        )
    return out


def readme_text(result: Mapping[str, Any], calibration: Mapping[str, Any] | None = None) -> str:
    """The README of a report (``result``: :func:`microsim.paper.report.collect` plus the run's fields)."""
    rows = result["rows"]
    fitted = [r for r in rows if r["fitted"]]
    predicted = [r for r in rows if not r["fitted"]]
    quick = "quick (one seed, a smaller box: a check of the pipeline, not the paper's numbers)"
    mode = quick if result.get("quick") else "full"
    lines = [
        f"# microsim against {result['citation']}",
        "",
        f"Written by `microsim paper` (microsim {__version__}); rerun it rather than edit this file. Mode: {mode}. "
        f"Seeds: {', '.join(str(s) for s in result['seeds'])}. Parameter set: "
        f"{result['parameter_set'] or 'the named defaults'}.",
        "",
        f"Fitted points were used by the calibration (band ±{100 * FIT_BAND[0]:.0f} % or ±{FIT_BAND[1]:.0f} "
        f"mAh/g, whichever is larger); predicted points never were (goal ±{100 * PREDICTION_BAND[0]:.0f} % or "
        f"±{PREDICTION_BAND[1]:.0f} mAh/g). Every number comes from a case in "
        "`cases/` that `microsim run` reproduces.",
        "",
        "## Discharge capacity: model vs paper",
        "",
        *_rate_table(rows),
        "",
        f"Fitted points within their band: {sum(bool(r['within_band']) for r in fitted)} of {len(fitted)}. "
        f"Predicted points within the goal: {sum(bool(r['within_band']) for r in predicted)} of {len(predicted)}.",
        "",
        "![capacity vs rate](capacity_vs_rate.png)",
        "",
        "![voltage curves](voltage_curves.png)",
        "",
        "## Impedance",
        "",
    ]
    ratio = result.get("impedance_ratio")
    if ratio is not None:
        lines += [
            f"|Z| ratio {ratio['numerator']} / {ratio['denominator']} at {ratio['frequency_Hz']:g} Hz: model "
            f"{_f(ratio['model'], '.3g')} (seeds {', '.join(f'{v:.3g}' for v in ratio['model_seeds']) or '—'}), "
            f"paper ≈ {ratio['paper']:g} ({'fitted' if ratio['fitted'] else 'predicted'}; acceptance 5–20: "
            f"{ {True: 'yes', False: 'no', None: '—'}[ratio['within_5_20']] }).",
            "",
        ]
    lines += [
        "![Nyquist plots](nyquist.png)",
        "",
        "## Where the voltage goes: the losses at cut-off",
        "",
        "Each part of the overpotential when the cell reached its cut-off voltage (seed mean), at 0.1C and 0.5C. "
        "The electrolyte's ohmic part includes the constriction of the current through the contact spots of the "
        "conventional cell; the solid phase's ohmic part is the carbon-binder network's.",
        "",
        *_loss_table(rows),
        "",
    ]
    if calibration is not None:
        lines += [
            "## The calibration",
            "",
            f"{calibration.get('method', '')}. Status: {calibration.get('status', '')}; cost "
            f"{_f(calibration.get('cost'), '.4g')} after {calibration.get('n_evaluations', '—')} evaluations; "
            f"fidelity {calibration.get('fidelity') or 'the full cases'}.",
            "",
            *_fitted_values(calibration),
            "",
            "### Which knob moves which point",
            "",
            *_sensitivity(calibration),
            "",
        ]
    return "\n".join(lines)
