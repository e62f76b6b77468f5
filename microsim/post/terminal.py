"""What ``microsim run`` prints when a run ends: the study's answer as plain-text tables, from its summary.

One formatter per study kind, registered in :data:`FORMATTERS` (a new study adds one; a kind without one gets
its scalar keys). Pure Python and pandas: ``microsim show DIR`` style reuse on a laptop needs no DOLFINx.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from microsim.post.tables import breakdown_table, format_breakdown

__all__ = ["FORMATTERS", "format_result", "formatter", "mesh_notes"]

Formatter = Callable[[Mapping[str, Any]], str]

#: ``study`` of a summary -> its formatter.
FORMATTERS: dict[str, Formatter] = {}


def formatter(kind: str) -> Callable[[Formatter], Formatter]:
    """Register the formatter of one study kind."""

    def register(func: Formatter) -> Formatter:
        FORMATTERS[kind] = func
        return func

    return register


def _num(value: Any, fmt: str = ".4g") -> str:
    """A number for a table; ``None``/NaN -> ``n/a``."""
    if value is None:
        return "n/a"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "n/a" if math.isnan(x) else format(x, fmt)


def _table(rows: list[tuple[str, Any]], title: str, column: str = "value") -> str:
    """Two-column table (quantity with its unit, value), rendered like the resistance breakdown."""
    df = pd.DataFrame({column: [v for _, v in rows]}, index=pd.Index([k for k, _ in rows], name=title), dtype=object)
    return format_breakdown(df)


def _frame(columns: Mapping[str, list[Any]], index: list[str], title: str) -> str:
    df = pd.DataFrame(dict(columns), index=pd.Index(index, name=title), dtype=object)
    return format_breakdown(df)


def _header(s: Mapping[str, Any]) -> str:
    parts = [
        f"{s.get('study', '?')} study",
        str(s.get("interface", "")),
        str(s.get("electrolyte", "")),
        f"{_num(s.get('temperature_C'), 'g')} °C",
        f"{s.get('dim', '?')}D",
        f"{s.get('n_cells', '?')} cells on {s.get('n_ranks', '?')} rank(s)",
    ]
    if s.get("wall_time_s") is not None:
        parts.append(f"{_num(s['wall_time_s'], '.3g')} s")
    return ", ".join(p for p in parts if p)


@formatter("resistance")
def _resistance(s: Mapping[str, Any]) -> str:
    label = str(s.get("interface", "value"))
    return format_breakdown(breakdown_table({label: s}))


@formatter("impedance")
def _impedance(s: Mapping[str, Any]) -> str:
    imp = s.get("impedance", {})
    arcs = imp.get("arcs", {})
    low = imp.get("low_frequency_limit_ohm_cm2", {})
    rows = [
        ("high-frequency intercept [Ω·cm²]", _num(imp.get("high_frequency_intercept_ohm_cm2"))),
        ("cathode interface arc [Ω·cm²]", _num(arcs.get("cathode_interface_ohm_cm2"))),
        ("  apex frequency [Hz]", _num(arcs.get("cathode_apex_frequency_Hz"))),
        ("Li metal interface arc [Ω·cm²]", _num(arcs.get("anode_interface_ohm_cm2"))),
        ("  apex frequency [Hz]", _num(arcs.get("anode_apex_frequency_Hz"))),
        ("lowest-frequency Z' [Ω·cm²]", _num(low.get("real"))),
        ("lowest-frequency -Z'' [Ω·cm²]", _num(-low["imag"] if isinstance(low.get("imag"), int | float) else None)),
    ]
    for label, z in (imp.get("at") or {}).items():
        rows.append((f"|Z| at {label.replace('_', ' ')} [Ω·cm²]", _num(z.get("abs_ohm_cm2"))))
    f_range = imp.get("frequency_range_Hz") or [None, None]
    text = _table(rows, f"impedance, {imp.get('n_frequencies', '?')} frequencies {_num(f_range[0])}–"
                  f"{_num(f_range[-1])} Hz")  # fmt: skip
    kk = imp.get("kramers_kronig") or {}
    if kk:
        text += f"Kramers–Kronig rms residual {_num(kk.get('rms_residual'), '.2g')} (a consistent spectrum: ≪ 1e-2)\n"
    fit = imp.get("fit") or {}
    if fit.get("circuit"):
        params = ", ".join(f"{k} = {_num(v)}" for k, v in (fit.get("parameters") or {}).items())
        text += f"equivalent circuit {fit['circuit']}: {params} (rms error {_num(fit.get('fit_error_rms'), '.2g')})\n"
    return text


def _losses(over: Mapping[str, Any]) -> str:
    keys = (
        ("electrolyte_ohmic", "electrolyte ohmic"),
        ("salt_depletion", "salt depletion"),
        ("solid_diffusion", "solid diffusion"),
        ("charge_transfer_cathode", "charge transfer, cathode"),
        ("charge_transfer_anode", "charge transfer, Li metal"),
        ("solid_ohmic", "solid ohmic"),
    )
    parts = [f"{label} {1e3 * float(over[k]):.1f}" for k, label in keys if isinstance(over.get(k), int | float)]
    return "losses at the end [mV]: " + ", ".join(parts) if parts else ""


@formatter("discharge")
def _discharge(s: Mapping[str, Any]) -> str:
    d = s.get("discharge", {})
    steps = d.get("steps") or []
    text = _frame(
        {
            "capacity [mAh/g]": [_num(r.get("capacity_mAh_g")) for r in steps],
            "energy [Wh/kg]": [_num(r.get("energy_Wh_kg")) for r in steps],
            "mean voltage [V]": [_num(r.get("mean_voltage_V"), ".4f") for r in steps],
            "end voltage [V]": [_num(r.get("final_voltage_V"), ".4f") for r in steps],
            "end": [str(r.get("end_reason", "")) for r in steps],
        },
        [str(r.get("label", r.get("index"))) for r in steps],
        "step",
    )
    text += f"limited by {d.get('limiting_mechanism', '?')} (largest loss at the end: "
    text += f"{d.get('largest_overpotential_at_end', '?')})\n"
    losses = _losses(d.get("overpotential_at_end_V") or {})
    if losses:
        text += losses + "\n"
    salt = d.get("salt_minimum") or {}
    if salt.get("c_min_mol_m3") is not None:
        text += f"lowest salt concentration {_num(salt['c_min_mol_m3'])} mol/m³ in the {salt.get('region', '?')}\n"
    return text


@formatter("rate")
def _rate(s: Mapping[str, Any]) -> str:
    r = s.get("rate", {})
    rates = r.get("c_rates") or []
    text = _frame(
        {
            "capacity [mAh/g]": [_num(v) for v in r.get("capacity_mAh_g") or []],
            "energy [Wh/kg]": [_num(v) for v in r.get("energy_Wh_kg") or []],
            "mean voltage [V]": [_num(v, ".4f") for v in r.get("mean_voltage_V") or []],
            "limited by": [str(v) for v in r.get("limiting_mechanism") or []],
            "end": [str(v) for v in r.get("end_reason") or []],
        },
        [f"{c:g}C" for c in rates],
        "C-rate",
    )
    text += (
        f"C80 = {_num(r.get('c80'), '.3g')}, C50 = {_num(r.get('c50'), '.3g')} "
        "(C-rates at 80 % and 50 % of the lowest rate's capacity; n/a: not reached)\n"
    )
    if r.get("failed"):
        text += "FAILED: " + "; ".join(f"{k}: {v}" for k, v in r["failed"].items()) + "\n"
    if r.get("pending"):
        text += "not run: " + ", ".join(r["pending"]) + "\n"
    return text


@formatter("effective")
def _effective(s: Mapping[str, Any]) -> str:
    e = s.get("effective", {})
    extrapolated = e.get("electrolyte_conductivity_ratio_extrapolated")
    error = e.get("electrolyte_conductivity_ratio_error_estimate")
    rows = [
        ("porosity [-]", _num(e.get("porosity"))),
        ("solid fraction [-]", _num(e.get("solid_fraction"))),
        ("κ_eff / κ [-]", _num(e.get("electrolyte_conductivity_ratio"))),
        ("κ_eff / κ, mesh-extrapolated [-]", f"{_num(extrapolated)} ± {_num(error, '.2g')}" if extrapolated else "n/a"),
        ("tortuosity ε κ / κ_eff [-]", _num(e.get("tortuosity"))),
        ("Bruggeman ε^1.5 [-]", _num(e.get("bruggeman_ratio"))),
        ("Bruggeman exponent fitted [-]", _num(e.get("bruggeman_exponent_fitted"))),
        ("σ_eff / σ of the solid [-]", _num(e.get("solid_conductivity_ratio"))),
        ("specific interface area [1/m]", _num(e.get("specific_interface_area_m2_m3"))),
        ("contact area fraction [-]", _num(e.get("contact_area_fraction"))),
    ]
    text = _table(rows, "effective property")
    for note in ("electrolyte_note", "solid_note"):
        if e.get(note):
            text += f"note: {e[note]}\n"
    return text


def _scalars(s: Mapping[str, Any]) -> str:
    rows = [(k, _num(v) if isinstance(v, int | float) else str(v)) for k, v in s.items() if _is_scalar(v)]
    return _table(rows, "key")


def _is_scalar(v: Any) -> bool:
    return isinstance(v, int | float | str | bool) or v is None


def format_result(summary: Mapping[str, Any]) -> str:
    """The text ``microsim run`` prints at the end: a header line and the study's tables.

    Args:
        summary: A run's summary (``summary.json``).

    Returns:
        Plain text ending in a newline.
    """
    body = FORMATTERS.get(str(summary.get("study")), _scalars)(summary)
    notes = "".join(f"mesh: {n}\n" for n in mesh_notes(summary))
    return _header(summary) + "\n\n" + body + notes


def mesh_notes(summary: Mapping[str, Any]) -> list[str]:
    """The notes of the summary's mesh-resolution checks (docs/outputs.md §2.7), each once, in order."""
    blocks: list[Any] = [summary.get("resolution")]
    for study in ("discharge", "rate"):
        part = summary.get(study)
        if isinstance(part, Mapping):
            blocks += [part.get("resolution_at_end"), *(part.get("resolution_at_cutoff") or [])]
    notes: list[str] = []
    for block in blocks:
        for check in (block or {}).values():
            note = check.get("note") if isinstance(check, Mapping) else None
            if note and note not in notes:
                notes.append(str(note))
    return notes
