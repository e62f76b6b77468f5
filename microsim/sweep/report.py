"""Plots of a sweep from its files: a scalar against one axis, one line per value of a second axis.

Ensembles (several seeds at the same point) are drawn as their mean with a 95 % confidence band from the
t-distribution, ``mean ± t(0.975, n-1) · s / sqrt(n)``; a single seed is just the point. An axis whose
values span more than two decades is drawn logarithmic. Every other swept axis gets its own panel.

pandas/matplotlib/scipy only (no DOLFINx, no MPI): a laptop can redraw a cluster sweep from ``DIR``.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import pandas as pd

from microsim import config as config_mod
from microsim.errors import MicrosimError
from microsim.outputs import write_csv
from microsim.post import units
from microsim.sweep.store import collect_rows, read_sweep_record, write_results

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

__all__ = ["DEFAULT_Y", "PlotAxes", "aggregate", "default_axes", "draw_sweep", "load_results", "plot_sweep", "report"]

DEFAULT_Y = "resistance_ohm_cm2.interfacial_effective"
PLOTS_DIRNAME = "plots"
CONFIDENCE = 0.95
#: Values spanning more than this ratio get a logarithmic axis (two decades).
LOG_SPAN = 100.0


class PlotAxes(TypedDict):
    """:func:`default_axes`: which swept keys a sweep's plots use."""

    x: str  # horizontal axis
    hue: str | None  # one line per value
    panels: list[str]  # one panel per combination of values
    ensemble: str | None  # averaged over (the seeds)


def load_results(out_dir: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The sweep's table (rebuilt from the case folders, so it is current even mid-run) and ``sweep.json``."""
    record = read_sweep_record(out_dir)
    return pd.DataFrame.from_records(collect_rows(out_dir, record)), record


def default_axes(record: Mapping[str, Any], x: str | None = None, hue: str | None = None) -> PlotAxes:
    """Choose x, hue and panel keys of a sweep.

    x defaults to the first grid axis (else the first non-ensemble key), hue to the next axis. Keys zipped
    with x or hue vary with them and are not separate dimensions; the ensemble key is averaged over; every
    remaining swept key becomes a panel.

    Returns:
        ``{"x": key, "hue": key or None, "panels": [keys], "ensemble": key or None}``.

    Raises:
        MicrosimError: ``x``/``hue`` is not a swept key (with a close-match suggestion).
    """
    all_axes = list(record.get("axes", []))
    ensemble = record.get("ensemble_key")
    keys = [k for a in all_axes for k in a["keys"]]
    for name, value in (("--x", x), ("--hue", hue)):
        if value is not None and value not in keys:
            hint = difflib.get_close_matches(value, keys, n=1)
            did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise MicrosimError(f"{name} {value}: not a swept key{did_you_mean}; swept: {', '.join(keys) or 'none'}")
    # The ensemble axis is averaged over unless it is asked for explicitly as x or hue.
    axes = [a for a in all_axes if a.get("kind") != "ensemble" or {x, hue} & set(a["keys"])]
    if not axes:
        raise MicrosimError("the sweep has no axis besides the ensemble: nothing to plot against")

    def axis_of(key: str) -> int:
        return next(i for i, a in enumerate(axes) if key in a["keys"])

    if x is None:
        grid = [a for a in axes if a["kind"] == "grid"]
        x = (grid[0] if grid else axes[0])["keys"][0]
    used = {axis_of(x)}
    if hue is None:
        rest = [i for i in range(len(axes)) if i not in used and axes[i]["kind"] != "ensemble"]
        hue = axes[rest[0]]["keys"][0] if rest else None
    if hue is not None:
        if axis_of(hue) in used:
            raise MicrosimError(f"--hue {hue}: varies together with --x {x} (same zip)")
        used.add(axis_of(hue))
    panels = [axes[i]["keys"][0] for i in range(len(axes)) if i not in used]
    if ensemble in (x, hue):
        ensemble = None
    return {"x": x, "hue": hue, "panels": panels, "ensemble": ensemble}


def _t_quantile(n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + CONFIDENCE / 2.0, n - 1))


def aggregate(df: pd.DataFrame, y: str, by: Sequence[str]) -> pd.DataFrame:
    """Mean and 95 % confidence interval of ``y`` over the rows sharing the values of ``by`` (the seeds).

    Args:
        df: The results table (only ``status == "done"`` rows are used).
        y: The scalar column.
        by: The columns that define a point (x, hue, panel keys).

    Returns:
        One row per point: the ``by`` columns, ``n``, ``mean``, ``std`` (NaN for n = 1), ``ci_low``,
        ``ci_high`` (the mean itself for n = 1), and for positive values with n > 1 ``ci_low_log``/``ci_high_log``
        (the interval of log10 y, for log axes).
    """
    done = df[df["status"] == "done"] if "status" in df.columns else df
    if y not in done.columns or done.empty:
        numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
        hint = difflib.get_close_matches(y, numeric, n=1)
        did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
        why = "no finished case yet" if done.empty else f"no column '{y}' in the results{did_you_mean}"
        raise MicrosimError(f"--y {y}: {why}")
    values = pd.to_numeric(done[y], errors="coerce")
    frame = done[list(by)].copy()
    frame["_y"] = values
    frame = frame.dropna(subset=["_y"])
    rows: list[dict[str, object]] = []
    for key, group in frame.groupby(list(by), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        ys = group["_y"].to_numpy(dtype=float)
        n = len(ys)
        mean = float(ys.mean())
        std = float(ys.std(ddof=1)) if n > 1 else math.nan
        half = _t_quantile(n) * std / math.sqrt(n) if n > 1 else 0.0
        row = {**dict(zip(by, key, strict=True)), "n": n, "mean": mean, "std": std,
               "ci_low": mean - half, "ci_high": mean + half}  # fmt: skip
        if n > 1 and np.all(ys > 0):  # the band of a log axis: the t-interval of log10(y), never below 0
            logs = np.log10(ys)
            half_log = _t_quantile(n) * float(logs.std(ddof=1)) / math.sqrt(n)
            row.update(ci_low_log=10.0 ** (logs.mean() - half_log), ci_high_log=10.0 ** (logs.mean() + half_log))
        rows.append(row)
    return pd.DataFrame.from_records(rows)


def _numeric(values: Sequence[object]) -> bool:
    return all(isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool) for v in values)


def _spans_decades(values: np.ndarray) -> bool:
    values = values[np.isfinite(values)]
    return bool(values.size and np.all(values > 0) and values.max() / values.min() > LOG_SPAN)


#: The fewest seeds at a point for which a confidence band is drawn.
MIN_BAND_N = 3


#: Units of the unit-tagged names of summary scalars (longest suffix first).
def axis_label(key: str) -> str:
    """``key [unit]``: from the configuration's metadata for a case key, from the name's tag for a result.

    ``geometry.contact_radius_um`` → ``geometry.contact_radius_um [µm]``; ``conditions.temperature_C`` →
    ``… [°C]``; ``resistance_ohm_cm2.total`` → ``… [Ω·cm²]``; an untagged name is returned as it is.
    """
    section, _, name = key.partition(".")
    cls = config_mod.SECTION_TYPES.get(section)
    if cls is not None and dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if f.name == name:
                unit = f.metadata.get("unit", "")
                return f"{key} [{unit}]" if unit else key
    unit = units.unit_of_path(key)
    return f"{key} [{unit}]" if unit else key


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def draw_sweep(
    df: pd.DataFrame,
    *,
    x: str,
    y: str,
    hue: str | None = None,
    panels: Sequence[str] = (),
    title: str = "",
) -> tuple[Figure, pd.DataFrame]:
    """Draw ``y`` against ``x``, one line per ``hue`` value, one panel per combination of ``panels``.

    Args:
        df: The results table.
        x: Swept key on the horizontal axis.
        y: Scalar column on the vertical axis.
        hue: Swept key of the lines, or ``None``.
        panels: Other swept keys, one panel per combination of their values.
        title: Figure title.

    Returns:
        The matplotlib figure (the caller saves and closes it) and the aggregated table that was drawn.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a cluster node
    import matplotlib.pyplot as plt

    by = [*panels, *([hue] if hue else []), x]
    stats = aggregate(df, y, by)
    panel_values = [list(dict.fromkeys(stats[k])) for k in panels]
    combos = list(itertools.product(*panel_values)) or [()]
    ncols = min(3, len(combos))
    nrows = math.ceil(len(combos) / ncols)
    fig, axs = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.9 * nrows), squeeze=False)

    x_values = list(dict.fromkeys(stats[x]))
    numeric_x = _numeric(x_values)
    positions = {v: i for i, v in enumerate(x_values)}
    log_x = numeric_x and _spans_decades(np.asarray(x_values, dtype=float))
    log_y = _spans_decades(stats["mean"].to_numpy(dtype=float))
    hue_values = list(dict.fromkeys(stats[hue])) if hue else [None]
    n_min = int(stats["n"].min()) if not stats.empty else 0
    n_max = int(stats["n"].max()) if not stats.empty else 0
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    for k, combo in enumerate(combos):
        ax = axs[k // ncols][k % ncols]
        sub = stats
        for key, value in zip(panels, combo, strict=True):
            sub = sub[sub[key] == value]
        for j, hv in enumerate(hue_values):
            line = sub if hue is None else sub[sub[hue] == hv]
            if line.empty:
                continue
            if numeric_x:
                line = line.sort_values(x)
                xs = line[x].to_numpy(dtype=float)
            else:
                xs = np.array([positions[v] for v in line[x]], dtype=float)
            color = colors[j % len(colors)]
            label = f"{hv}" if hue else None
            ax.plot(xs, line["mean"], "o-", color=color, label=label, markersize=4)
            # a band only where n >= MIN_BAND_N (two seeds give a t-interval 12.7 std wide); in log space on log axes
            low, high = ("ci_low_log", "ci_high_log") if log_y and "ci_low_log" in line else ("ci_low", "ci_high")
            banded = (line["n"] >= MIN_BAND_N).to_numpy() & line[low].notna().to_numpy()
            if banded.any():
                ax.fill_between(xs, line[low].where(banded), line[high].where(banded), color=color, alpha=0.25,
                                linewidth=0)  # fmt: skip
            if n_min != n_max:  # seeds missing at some points: say how many each point has
                for xv, yv, nv in zip(xs, line["mean"], line["n"], strict=True):
                    ax.annotate(f"n={nv}", (xv, yv), textcoords="offset points", xytext=(3, 4), fontsize=6,
                                color=color)  # fmt: skip
        if log_x:
            ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        if not numeric_x:
            ax.set_xticks(range(len(x_values)), [str(v) for v in x_values])
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(y))
        ax.grid(True, alpha=0.3)
        if panels:
            ax.set_title(", ".join(f"{key} = {v}" for key, v in zip(panels, combo, strict=True)), fontsize=9)
        if hue:
            ax.legend(title=axis_label(hue), fontsize=8, title_fontsize=8)
    for k in range(len(combos), nrows * ncols):
        axs[k // ncols][k % ncols].set_visible(False)
    seeds = f"{n_min}–{n_max} seeds per point" if n_min != n_max else f"{n_max} seeds"
    band = ""
    if n_max >= MIN_BAND_N:
        band = f"; mean ± {CONFIDENCE:.0%} CI (t{', in log' if log_y else ''}) over {seeds}"
    elif n_max > 1:
        band = f"; mean over {seeds} (no band below {MIN_BAND_N})"
    fig.suptitle((title + band).strip("; "), fontsize=10)
    fig.tight_layout()
    return fig, stats


def plot_sweep(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    x: str,
    y: str,
    hue: str | None = None,
    panels: Sequence[str] = (),
    title: str = "",
) -> tuple[Path, pd.DataFrame]:
    """:func:`draw_sweep` into a PNG file (written atomically).

    Returns:
        The PNG path and the aggregated table that was drawn.
    """
    import matplotlib.pyplot as plt

    fig, stats = draw_sweep(df, x=x, y=y, hue=hue, panels=panels, title=title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Atomic like every other output: draw into a temporary file, then rename.
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.savefig(tmp, dpi=130)
    finally:
        plt.close(fig)
    os.replace(tmp, path)
    return path, stats


def report(
    out_dir: str | os.PathLike[str],
    ys: Sequence[str] = (DEFAULT_Y,),
    x: str | None = None,
    hue: str | None = None,
    plot_dir: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Refresh ``results.csv`` and draw one PNG (plus its aggregated CSV) per ``y`` into ``DIR/plots``.

    Args:
        out_dir: The sweep directory.
        ys: Scalar columns to plot (dotted, unit-tagged summary names).
        x: Horizontal-axis key (default: first grid axis).
        hue: Line key (default: the next axis).
        plot_dir: Where to write (default ``DIR/plots``).

    Returns:
        The PNG paths.

    Raises:
        MicrosimError: Not a sweep directory, unknown key, nothing finished yet.
    """
    out_dir = Path(out_dir)
    record = read_sweep_record(out_dir)
    write_results(out_dir, record)  # the table may be stale if the last job was killed
    df = pd.DataFrame.from_records(collect_rows(out_dir, record))
    choice = default_axes(record, x, hue)
    plot_dir = Path(plot_dir) if plot_dir is not None else out_dir / PLOTS_DIRNAME
    done = int((df["status"] == "done").sum())
    title = f"{out_dir.name}: {done}/{len(df)} cases done"
    paths: list[Path] = []
    for y in ys:
        stem = _safe(f"{y}_vs_{choice['x']}" + (f"_by_{choice['hue']}" if choice["hue"] else ""))
        path, stats = plot_sweep(
            df, plot_dir / f"{stem}.png", x=choice["x"], y=y, hue=choice["hue"], panels=choice["panels"], title=title
        )
        records = [{k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))} for row in
                   stats.to_dict("records")]  # fmt: skip
        write_csv(None, plot_dir / f"{stem}.csv", records)
        paths.append(path)
    return paths
