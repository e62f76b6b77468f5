"""The report of a paper run: model vs paper for every point, from the case store alone (no DOLFINx).

Writes into the report folder::

    results.json          one record per row and C-rate (and the impedance ratio): paper, model seed mean and
                          seeds, error, fitted or predicted, limiting mechanism, losses at cut-off, 2D counterpart,
                          the case file and the command that reproduces it
    results.csv           the same records as a table
    cases/<slug>-s<S>.toml  the exact resolved configuration of every case (``microsim run`` reproduces it)
    capacity_vs_rate.png  one panel per electrolyte and temperature: both cells, the paper's points, seed spread
    voltage_curves.png    voltage vs capacity of each row at each C-rate (first seed), like the paper's Fig. 4a/b
    nyquist.png           one panel per temperature: both cells' spectra, like the paper's Fig. 4e/f
    README.md             the tables: model vs paper, the ratio, the losses at cut-off, the sensitivity

A point whose cases are not all done is reported with ``model_mAh_g = null`` and its missing seeds, never
dropped; the report is rewritten as cases finish.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microsim.calibration.cases import impedance_at
from microsim.errors import MicrosimError
from microsim.paper.cases import ROW, ROW_2D, SPECTRUM, PaperCase
from microsim.paper.spec import PaperSpec, cell_name
from microsim.post.rate_plots import c_rate_axis
from microsim.sweep import store

__all__ = [
    "FIT_BAND",
    "LOSS_PARTS",
    "PREDICTION_BAND",
    "collect",
    "impedance_ratio",
    "write_report",
]

#: Acceptance band of a fitted capacity point: (relative, floor in mAh/g), whichever is larger.
FIT_BAND = (0.25, 5.0)
#: Goal band of a predicted (out-of-sample) capacity point.
PREDICTION_BAND = (0.35, 8.0)
#: The parts of the overpotential at cut-off in the report, with their names there (the summary's keys).
LOSS_PARTS = {
    "electrolyte_ohmic": "electrolyte ohmic, incl. contact constriction [V]",
    "salt_depletion": "salt depletion [V]",
    "charge_transfer_cathode": "charge transfer, cathode [V]",
    "charge_transfer_anode": "charge transfer, Li metal [V]",
    "solid_diffusion": "solid diffusion [V]",
    "solid_ohmic": "solid phase (CBD) ohmic [V]",
}


def _summary(out_dir: Path, case_hash: str) -> dict[str, Any] | None:
    if store.case_state(out_dir, case_hash) != store.DONE:
        return None
    data: dict[str, Any] = json.loads((store.case_dir(out_dir, case_hash) / store.SUMMARY_NAME).read_text())
    return data


def _rate_entry(summary: Mapping[str, Any], c_rate: float) -> dict[str, Any] | None:
    rate = summary.get("rate") or {}
    for k, c in enumerate(rate.get("c_rates", [])):
        if math.isclose(float(c), c_rate):
            cap = (rate.get("capacity_mAh_g") or [None])[k]
            if cap is None or not math.isfinite(float(cap)):
                return None
            return {
                "capacity": float(cap),
                "mechanism": (rate.get("limiting_mechanism") or [None] * (k + 1))[k],
                "losses": (rate.get("overpotential_at_cutoff_V") or [{}] * (k + 1))[k] or {},
            }
    return None


def _band(paper: float, fitted: bool) -> float:
    rel, floor = FIT_BAND if fitted else PREDICTION_BAND
    return max(rel * paper, floor)


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def impedance_ratio(spec: PaperSpec, cases: Sequence[PaperCase], out_dir: Path) -> dict[str, Any] | None:
    """The ratio record: per seed |Z_num| / |Z_den| at the ratio's frequency, their geometric mean."""
    if spec.ratio is None:
        return None
    r = spec.ratio
    per_seed: list[float] = []
    missing: list[int] = []
    seeds = sorted({c.seed for c in cases if c.kind == SPECTRUM})
    for seed in seeds:
        z = {}
        for role, index in (("numerator", r.numerator), ("denominator", r.denominator)):
            pc = next(c for c in cases if c.kind == SPECTRUM and c.index == index and c.seed == seed)
            if _summary(out_dir, pc.case.hash) is None:
                break
            z[role] = abs(impedance_at(store.case_dir(out_dir, pc.case.hash), r.frequency_Hz))
        if len(z) == 2:
            per_seed.append(z["numerator"] / z["denominator"])
        else:
            missing.append(seed)
    model = float(np.exp(np.mean(np.log(per_seed)))) if per_seed else None
    return {
        "quantity": "impedance ratio |Z(conventional)| / |Z(cathode-supported)|",
        "numerator": spec.spectra[r.numerator].label,
        "denominator": spec.spectra[r.denominator].label,
        "frequency_Hz": r.frequency_Hz,
        "fitted": r.fitted,
        "paper": r.paper_ratio,
        "model": model,
        "model_seeds": per_seed,
        "missing_seeds": missing,
        "within_5_20": None if model is None else bool(5.0 <= model <= 20.0),
    }


def collect(spec: PaperSpec, cases: Sequence[PaperCase], out_dir: Path) -> dict[str, Any]:
    """Every record of the report from the case store (``out_dir``)."""
    records: list[dict[str, Any]] = []
    for i, row in enumerate(spec.rows):
        mine = [c for c in cases if c.kind == ROW and c.index == i]
        twod = [c for c in cases if c.kind == ROW_2D and c.index == i]
        summaries = {c.seed: _summary(out_dir, c.case.hash) for c in mine}
        summaries_2d = {c.seed: _summary(out_dir, c.case.hash) for c in twod}
        for c_rate, paper, fitted in zip(row.c_rates, row.paper_mAh_g, row.fitted, strict=True):
            entries = {s: _rate_entry(m, c_rate) if m is not None else None for s, m in summaries.items()}
            done = {s: e for s, e in entries.items() if e is not None}
            caps = [done[s]["capacity"] for s in sorted(done)]
            complete = len(done) == len(entries) and bool(entries)
            model = _mean(caps) if complete else None
            mechanisms = Counter(str(e["mechanism"]) for e in done.values() if e["mechanism"])
            losses = {
                key: _mean([float(e["losses"][key]) for e in done.values() if key in e["losses"]]) for key in LOSS_PARTS
            }
            caps_2d = [e["capacity"] for m in summaries_2d.values() if m is not None
                       if (e := _rate_entry(m, c_rate)) is not None]  # fmt: skip
            band = _band(paper, fitted)
            first = mine[0] if mine else None
            records.append(
                {
                    "cell": row.cell,
                    "electrolyte": row.electrolyte,
                    "temperature_C": row.temperature_C,
                    "c_rate": c_rate,
                    "fitted": fitted,
                    "paper_mAh_g": paper,
                    "model_mAh_g": model,
                    "model_seeds_mAh_g": caps,
                    "seeds": sorted(done),
                    "missing_seeds": sorted(s for s in entries if s not in done),
                    "seed_std_mAh_g": float(np.std(caps, ddof=1)) if len(caps) > 1 else None,
                    "error_mAh_g": None if model is None else model - paper,
                    "error_relative": None if model is None else (model - paper) / paper,
                    "band_mAh_g": band,
                    "within_band": None if model is None else bool(abs(model - paper) <= band),
                    "limiting_mechanism": mechanisms.most_common(1)[0][0] if mechanisms else None,
                    "losses_at_cutoff_V": losses,
                    "model_2d_mAh_g": _mean(caps_2d) if caps_2d and len(caps_2d) == len(twod) else None,
                    "case": row.case_path,
                    "command": first.command(spec) if first is not None else None,
                }
            )
    return {
        "citation": spec.citation,
        "parameter_set": spec.parameter_set,
        "seeds": sorted({c.seed for c in cases}),
        "rows": records,
        "impedance_ratio": impedance_ratio(spec, cases, out_dir),
        "impedance_ratio_0p1Hz": None,
    }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _write_resolved_cases(cases: Sequence[PaperCase], out_dir: Path, report_dir: Path) -> dict[str, str]:
    """Copy each done case's resolved ``config.toml`` to ``report_dir/cases``; returns hash -> relative path."""
    target = report_dir / "cases"
    out: dict[str, str] = {}
    for c in cases:
        src = store.case_dir(out_dir, c.case.hash) / "config.toml"
        if not src.is_file():
            continue
        stem = Path(c.case_path).stem + ("-2d" if c.kind == ROW_2D else "") + ("-eis" if c.kind == SPECTRUM else "")
        name = f"{_slug(stem)}-s{c.seed}.toml"
        target.mkdir(parents=True, exist_ok=True)
        store.write_text_atomic(target / name, src.read_text())
        out[c.case.hash] = f"cases/{name}"
    return out


def _save(fig: Any, png: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def _plot_capacity(spec: PaperSpec, result: Mapping[str, Any], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in result["rows"]:
        groups.setdefault((r["electrolyte"], r["temperature_C"]), []).append(r)
    n = len(groups)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.8), squeeze=False)
    for ax, ((el, t), recs) in zip(axes[0], sorted(groups.items()), strict=True):
        for k, cell in enumerate(sorted({r["cell"] for r in recs})):
            mine = sorted((r for r in recs if r["cell"] == cell), key=lambda r: r["c_rate"])
            colour = f"C{k}"
            x = [r["c_rate"] for r in mine]
            ax.plot(x, [r["paper_mAh_g"] for r in mine], "s", mfc="none", color=colour, label=f"{cell}: paper")
            xs = [r["c_rate"] for r in mine if r["model_seeds_mAh_g"]]
            means = [float(np.mean(r["model_seeds_mAh_g"])) for r in mine if r["model_seeds_mAh_g"]]
            lo = [m - min(r["model_seeds_mAh_g"]) for m, r in zip(means, (r for r in mine if r["model_seeds_mAh_g"]),
                                                                  strict=True)]  # fmt: skip
            hi = [max(r["model_seeds_mAh_g"]) - m for m, r in zip(means, (r for r in mine if r["model_seeds_mAh_g"]),
                                                                  strict=True)]  # fmt: skip
            if xs:
                ax.errorbar(xs, means, yerr=[lo, hi], fmt="o-", color=colour, capsize=3,
                            label=f"{cell}: model (seed range)")  # fmt: skip
            fitted = [r["c_rate"] for r in mine if r["fitted"]]
            if fitted:
                ax.plot(fitted, [r["paper_mAh_g"] for r in mine if r["fitted"]], "x", color="k", ms=4)
        rates = sorted({r["c_rate"] for r in recs})
        c_rate_axis(ax, rates)
        top = max([r["paper_mAh_g"] for r in recs] + [v for r in recs for v in r["model_seeds_mAh_g"]])
        ax.set_ylim(0, 1.25 * top)
        ax.set_title(f"{el}, {t:g} °C")
        ax.set_ylabel("discharge capacity [mAh/g]")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle("model vs paper (× marks a fitted point)", fontsize=9)
    _save(fig, png)


def _plot_voltage(spec: PaperSpec, cases: Sequence[PaperCase], out_dir: Path, png: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    panels = []
    for i, row in enumerate(spec.rows):
        first = min((c for c in cases if c.kind == ROW and c.index == i), key=lambda c: c.seed, default=None)
        if first is None or _summary(out_dir, first.case.hash) is None:
            continue
        runs = store.case_dir(out_dir, first.case.hash) / "runs"
        curves = [(c, runs / f"{c:g}C" / "timeseries.csv") for c in row.c_rates]
        curves = [(c, p) for c, p in curves if p.is_file()]
        if curves:
            panels.append((row, first.seed, curves))
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.6), squeeze=False)
    for ax, (row, seed, curves) in zip(axes[0], panels, strict=True):
        for k, (c, path) in enumerate(curves):
            df = pd.read_csv(path)
            ax.plot(df["Capacity [mAh/g]"], df["Voltage [V]"], color=f"C{k}", label=f"{c:g}C")
        ax.set_title(f"{row.label} (seed {seed})", fontsize=8)
        ax.set_xlabel("capacity [mAh/g]")
        ax.set_ylabel("voltage [V]")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _save(fig, png)
    return True


def _plot_nyquist(spec: PaperSpec, cases: Sequence[PaperCase], out_dir: Path, png: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    by_t: dict[float, list[tuple[str, pd.DataFrame]]] = {}
    for j, s in enumerate(spec.spectra):
        first = min((c for c in cases if c.kind == SPECTRUM and c.index == j), key=lambda c: c.seed, default=None)
        if first is None or _summary(out_dir, first.case.hash) is None:
            continue
        df = pd.read_csv(store.case_dir(out_dir, first.case.hash) / "impedance.csv")
        label = f"{cell_name(s.case)}, {s.case.electrolyte.name} (seed {first.seed})"
        by_t.setdefault(float(s.case.conditions.temperature_C), []).append((label, df))
    if not by_t:
        return False
    fig, axes = plt.subplots(1, len(by_t), figsize=(4.6 * len(by_t), 4.2), squeeze=False)
    for ax, (t, spectra) in zip(axes[0], sorted(by_t.items()), strict=True):
        for k, (label, df) in enumerate(spectra):
            ax.plot(df["z_real_ohm_cm2"], -df["z_imag_ohm_cm2"], "o-", ms=2.5, color=f"C{k}", label=label)
            for decade in range(-3, 7):  # frequency markers at whole decades
                f = df["frequency_Hz"].to_numpy()
                hit = np.flatnonzero(np.isclose(np.log10(f), decade, atol=1e-6))
                for h in hit:
                    ax.annotate(f"{10.0**decade:g} Hz", (df["z_real_ohm_cm2"].iloc[h], -df["z_imag_ohm_cm2"].iloc[h]),
                                fontsize=6, color=f"C{k}")  # fmt: skip
        ax.set_title(f"{t:g} °C")
        ax.set_xlabel("Z' [Ω·cm²]")
        ax.set_ylabel("−Z'' [Ω·cm²]")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _save(fig, png)
    return True


def _csv(result: Mapping[str, Any]) -> str:
    import pandas as pd

    rows = []
    for r in result["rows"]:
        flat = {k: v for k, v in r.items() if k not in ("losses_at_cutoff_V", "model_seeds_mAh_g", "seeds",
                                                        "missing_seeds")}  # fmt: skip
        flat["model_seeds_mAh_g"] = " ".join(f"{v:.4g}" for v in r["model_seeds_mAh_g"])
        for key, name in LOSS_PARTS.items():
            flat[name] = r["losses_at_cutoff_V"].get(key)
        rows.append(flat)
    text: str = pd.DataFrame(rows).to_csv(index=False)
    return text


def write_report(
    spec: PaperSpec,
    cases: Sequence[PaperCase],
    out_dir: Path,
    report_dir: Path,
    *,
    quick: bool = False,
    calibration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Collect every record from the store and write the report files into ``report_dir``; returns the record.

    Args:
        spec: The paper file.
        cases: Its cases (:func:`microsim.paper.cases.paper_cases`).
        out_dir: The case store.
        report_dir: Where the report goes.
        quick: The cases are the quick variant's (said in the README).
        calibration: The calibration's result (``calibration.json``), for the fitted values and the sensitivity
            table of the README.

    Raises:
        MicrosimError: ``report_dir`` cannot be written (named).
    """
    from microsim.paper.readme import readme_text

    result = collect(spec, cases, out_dir)
    result["quick"] = quick
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        resolved = _write_resolved_cases(cases, out_dir, report_dir)
        row_of_record = [i for i, row in enumerate(spec.rows) for _ in row.c_rates]
        for r, i in zip(result["rows"], row_of_record, strict=True):
            first = min((c for c in cases if c.kind == ROW and c.index == i), key=lambda c: c.seed, default=None)
            r["resolved_case"] = resolved.get(first.case.hash) if first is not None else None
        ratio = result["impedance_ratio"]
        result["impedance_ratio_0p1Hz"] = (
            ratio["model"] if ratio is not None and math.isclose(ratio["frequency_Hz"], 0.1) else None
        )
        store.write_text_atomic(report_dir / "results.json", json.dumps(result, indent=2, allow_nan=False) + "\n")
        store.write_text_atomic(report_dir / "results.csv", _csv(result))
        _plot_capacity(spec, result, report_dir / "capacity_vs_rate.png")
        _plot_voltage(spec, cases, out_dir, report_dir / "voltage_curves.png")
        _plot_nyquist(spec, cases, out_dir, report_dir / "nyquist.png")
        store.write_text_atomic(report_dir / "README.md", readme_text(result, calibration))
    except OSError as exc:
        raise MicrosimError(f"paper report: cannot write {report_dir}: {exc}") from None
    return result
