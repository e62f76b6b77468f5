"""Tables from ``summary.json`` files: the DC resistance breakdown and flat records for sweeps.

NumPy/pandas only (no DOLFINx): a laptop can rebuild every table from the files of a cluster run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from microsim.errors import MicrosimError
from microsim.geometry.archetypes import DEMO_INTERFACES

__all__ = [
    "PART_LABELS",
    "RATIO_COLUMN",
    "breakdown_table",
    "flatten_summary",
    "format_breakdown",
    "load_summary",
]

SUMMARY_NAME = "summary.json"
RATIO_COLUMN = "ratio"
#: Parts only some cells have: their row is left out when no case has them.
OPTIONAL_PARTS = ("cbd",)

#: Resistance parts in display order (keys of ``summary["resistance_ohm_cm2"]``) -> row labels with units.
#: All are area-specific resistances from the dissipation split (docs/model.md §4.2); the six after ``total`` (seven
#: with a carbon-binder domain) sum to it, the last is derived (total minus the 1D membrane and Li-metal parts).
PART_LABELS: dict[str, str] = {
    "total": "total (V_eq - V)/I [Ω·cm²]",
    "membrane": "membrane (ohmic) [Ω·cm²]",
    "cathode_electrolyte": "cathode pores (ohmic) [Ω·cm²]",
    "solid": "particles (solid ohmic) [Ω·cm²]",
    "cbd": "carbon-binder (solid ohmic) [Ω·cm²]",
    "charge_transfer_cathode": "charge transfer, cathode [Ω·cm²]",
    "charge_transfer_anode": "charge transfer, Li metal [Ω·cm²]",
    "concentration": "salt concentration [Ω·cm²]",
    "interfacial_effective": "effective interfacial [Ω·cm²]",
}


def load_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a run's ``summary.json``.

    Args:
        path: the JSON file, or a run folder that contains ``summary.json``.

    Returns:
        The summary as a dict.

    Raises:
        MicrosimError: if the file is missing, not JSON, or not a JSON object.
    """
    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MicrosimError(f"summary not found: {path}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MicrosimError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MicrosimError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _first_with_interface(summaries: Mapping[str, Mapping[str, Any]], interface: str) -> str | None:
    """Label of the first case whose ``interface`` is ``interface`` (dict order), or ``None``."""
    for label, summary in summaries.items():
        if str(summary.get("interface", "")).lower() == interface:
            return label
    return None


def breakdown_table(summaries: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Resistance breakdown of several runs side by side.

    Args:
        summaries: case label -> summary dict (as from :func:`load_summary`). Column order follows it.

    Returns:
        A DataFrame with one row per resistance part (in :data:`PART_LABELS` order, index = readable label
        with units, index name ``"part"``), one column per case (missing parts are NaN) and, when a case of
        each of :data:`microsim.geometry.DEMO_INTERFACES` is present (the filled and the point-contact
        archetypes), a ``ratio`` column = second / first (NaN where the first is zero).
        ``df.attrs["parts"]`` holds the raw part keys in row order and ``df.attrs["ratio_cases"]`` the two
        labels the ratio was taken from.
    """
    columns: dict[str, list[float]] = {}
    for label, summary in summaries.items():
        parts = summary.get("resistance_ohm_cm2") or {}
        columns[str(label)] = [_as_float(parts.get(key)) for key in PART_LABELS]
    df = pd.DataFrame(columns, index=pd.Index(list(PART_LABELS.values()), name="part"), dtype=float)
    optional = [PART_LABELS[k] for k in OPTIONAL_PARTS if df.loc[PART_LABELS[k]].isna().all()]
    df = df.drop(index=optional)  # a part no case has (no carbon-binder domain) is no row

    reference, compared = DEMO_INTERFACES
    filled = _first_with_interface(summaries, reference)
    point = _first_with_interface(summaries, compared)
    if filled is not None and point is not None:
        denominator = df[str(filled)].where(df[str(filled)] != 0.0)
        df[RATIO_COLUMN] = df[str(point)] / denominator
        df.attrs["ratio_cases"] = (str(point), str(filled))
    df.attrs["parts"] = [k for k, label in PART_LABELS.items() if label in df.index]
    return df


def _as_float(value: Any) -> float:
    """A number from a summary entry; ``None``/missing/non-numeric -> NaN (shown as 'n/a')."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _fmt(value: Any) -> str:
    """4 significant digits; NaN -> 'n/a'; text (already formatted) as it is."""
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "n/a"
    return f"{number:.4g}"


def format_breakdown(df: pd.DataFrame) -> str:
    """Fixed-width plain-text rendering of :func:`breakdown_table` for a terminal.

    Args:
        df: a breakdown table (any DataFrame with a labelled index works).

    Returns:
        The table as text: header, rule, one line per part; numbers with 4 significant digits, the first
        column left-aligned and the numbers right-aligned. A note says how the ratio was taken.
    """
    index_title = str(df.index.name or "")
    first = [index_title, *[str(i) for i in df.index]]
    cells = [[str(c), *[_fmt(v) for v in df[c]]] for c in df.columns]
    width0 = max(len(s) for s in first)
    widths = [max(len(s) for s in col) for col in cells]

    lines = []
    for row in range(len(first)):
        parts = [first[row].ljust(width0)] + [col[row].rjust(w) for col, w in zip(cells, widths, strict=True)]
        lines.append("  ".join(parts).rstrip())
        if row == 0:
            lines.append("-" * (width0 + sum(w + 2 for w in widths)))
    ratio_cases = df.attrs.get("ratio_cases")
    if RATIO_COLUMN in df.columns and ratio_cases:
        lines.append(f"{RATIO_COLUMN} = {ratio_cases[0]} / {ratio_cases[1]}")
    return "\n".join(lines) + "\n"


def flatten_summary(summary: Mapping[str, Any], sep: str = ".") -> dict[str, Any]:
    """Flatten nested dicts into one level, joining keys with ``sep`` (lists are kept as values).

    Unit-tagged names are kept as they are, e.g. ``resistance_ohm_cm2.membrane`` or
    ``parameters.kappa_S_m``, so sweep tables stay self-describing.

    Args:
        summary: a summary dict.
        sep: the key separator.

    Returns:
        A flat dict, in the order of the original keys.
    """
    flat: dict[str, Any] = {}

    def _walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{sep}{key}" if prefix else str(key)
            if isinstance(value, Mapping) and value:
                _walk(value, name)
            else:
                flat[name] = value

    _walk(summary, "")
    return flat
