"""Plots of discharge and rate studies from their files alone (matplotlib, Agg; no DOLFINx).

* :func:`plot_voltage_capacity`: voltage vs capacity, one curve per run (``timeseries.csv``);
* :func:`plot_rate_capability`: capacity vs C-rate on a log axis, one line per study (``summary.json``),
  optionally with reference points (the paper's).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast


def _use_agg() -> None:
    import matplotlib

    matplotlib.use("Agg")


def plot_voltage_capacity(
    series: Mapping[str, str | os.PathLike[str]], png_path: str | os.PathLike[str], title: str = ""
) -> Path:
    """Voltage [V] vs capacity [mAh/g], one curve per ``label -> timeseries.csv``."""
    import pandas as pd

    _use_agg()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for label, path in series.items():
        df = pd.read_csv(path)
        ax.plot(df["Capacity [mAh/g]"], df["Voltage [V]"], label=label)
    ax.set_xlabel("Capacity [mAh/g]")
    ax.set_ylabel("Voltage [V]")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return png_path


def c_rate_axis(ax: Any, rates: Sequence[float]) -> None:
    """A log C-rate axis with a plain label at each rate run (0.05, 0.1, 0.24 ...) and no minor labels.

    Matplotlib's log ticks gave "10⁻¹" and "2×10⁻¹" (overlapping when rates are close); a reader wants the rates.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log")
    if rates:
        ax.set_xlim(min(rates) / 1.5, max(rates) * 1.5)
        ax.xaxis.set_major_locator(FixedLocator(sorted(rates)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("C-rate [1/h]")


def plot_rate_capability(
    summaries: Mapping[str, Mapping[str, object]],
    png_path: str | os.PathLike[str],
    title: str = "",
    reference: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
) -> Path:
    """Capacity [mAh/g] vs C-rate (log axis), one line per ``label -> summary`` (with a ``rate`` table).

    Args:
        summaries: rate-study summaries by label.
        png_path: the PNG to write.
        title: figure title.
        reference: optional ``label -> (c_rates, capacities)`` drawn as open markers (e.g. the paper).
    """
    _use_agg()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    shown: set[float] = set()
    for label, s in summaries.items():
        rate = cast("Mapping[str, Sequence[float]]", s["rate"])
        ax.plot(rate["c_rates"], rate["capacity_mAh_g"], "o-", label=f"{label} (model)")
        shown.update(float(c) for c in rate["c_rates"])
    for label, (rates, caps) in (reference or {}).items():
        ax.plot(rates, caps, "s--", mfc="none", label=f"{label} (paper)")
        shown.update(float(c) for c in rates)
    c_rate_axis(ax, sorted(shown))
    ax.set_ylabel("Capacity [mAh/g]")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    if title:
        ax.set_title(title)
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return png_path
