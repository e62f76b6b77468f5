"""Impedance post-processing from files: Kramers–Kronig check, equivalent-circuit fit, Nyquist/Bode plots.

NumPy/pandas/matplotlib (and the ``impedance`` package for the circuit fit); no DOLFINx.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd
    from impedance.models.circuits import CustomCircuit


class CircuitFit(TypedDict):
    """The result of :func:`fit_circuit`: ``parameters`` after a fit, ``error`` if it failed."""

    circuit: str
    fit_error_rms: float
    parameters: NotRequired[dict[str, float]]
    error: NotRequired[str]


def kramers_kronig_residuals(f: np.ndarray, z: np.ndarray, per_decade: int = 6) -> dict[str, float]:
    """Linear Kramers–Kronig test (Boukamp 1995) by least squares on fixed Voigt time constants.

    ``Z ≈ R0 + Σ R_k/(1 + jωτ_k)`` with τ_k log-spaced over the measured range; a KK-consistent spectrum is fitted
    to round-off. The ``impedance`` package's ``linKK`` fails with NameError in 1.7.1 (docs/solver.md, DOLFINx
    notes), hence this.

    Returns:
        Max and RMS of the residuals relative to |Z|, real and imaginary parts.
    """
    w = 2.0 * np.pi * np.asarray(f, dtype=float)
    n_dec = np.log10(w.max() / w.min())
    tau = np.logspace(np.log10(1.0 / w.max()) - 1, np.log10(1.0 / w.min()) + 1, int((n_dec + 2) * per_decade) + 1)
    basis = 1.0 / (1.0 + 1j * np.outer(w, tau))
    a = np.hstack([np.ones((len(w), 1)), basis])
    mag = np.abs(z)
    # fit real and imaginary parts together, weighted by 1/|Z| (Boukamp's modulus weighting)
    lhs = np.vstack([a.real / mag[:, None], a.imag / mag[:, None]])
    rhs = np.concatenate([z.real / mag, z.imag / mag])
    coef, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
    fit = a @ coef
    res_re = (z.real - fit.real) / mag
    res_im = (z.imag - fit.imag) / mag
    return {
        "max_residual_real": float(np.max(np.abs(res_re))),
        "max_residual_imag": float(np.max(np.abs(res_im))),
        "rms_residual": float(np.sqrt(np.mean(res_re**2 + res_im**2))),
        "n_voigt": len(tau),
    }


def fit_circuit(f: np.ndarray, z: np.ndarray, r_guess: Mapping[str, float]) -> CircuitFit:
    """Fit Randles-type circuits with the ``impedance`` package; return the better one.

    Candidates: ``R0-p(R1,CPE1)-p(R2,CPE2)`` and the same with a finite-length (transmissive) Warburg ``Ws1``.
    ``r_guess`` seeds the fit with the computed per-interface resistances (keys ``R0``, ``R1``, ``R2``).

    Returns:
        ``circuit``, ``parameters`` (name → value, Ω·cm², F·s^(n−1)/cm², ...), ``fit_error_rms`` (relative).
    """
    from impedance.models.circuits import CustomCircuit

    r0 = max(r_guess.get("R0", 1.0), 1e-6)
    r1 = max(r_guess.get("R1", 1.0), 1e-6)
    r2 = max(r_guess.get("R2", 1.0), 1e-6)
    # seed each arc's capacitance from its apex frequency (C = 1/(2π f_apex R)); default: the spectrum's apex
    w_apex = 2 * np.pi * float(np.asarray(f)[np.argmax(-z.imag)])
    q1 = 1.0 / (2 * np.pi * r_guess["f1"] * r1) if "f1" in r_guess else 1.0 / (w_apex * r1)
    q2 = 1.0 / (2 * np.pi * r_guess["f2"] * r2) if "f2" in r_guess else 1.0 / (0.1 * w_apex * r2)
    candidates = {
        "R0-p(R1,CPE1)-p(R2,CPE2)": [r0, r1, q1, 0.95, r2, q2, 0.95],
        "R0-p(R1,CPE1)-p(R2,CPE2)-Ws1": [r0, r1, q1, 0.95, r2, q2, 0.95, 0.1 * (r1 + r2), 10.0],
    }
    best: CircuitFit | None = None
    for circuit, guess in candidates.items():
        model = CustomCircuit(circuit, initial_guess=guess)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(
                    np.asarray(f),
                    np.asarray(z),
                    bounds=_bounds(model, len(guess)),
                    weight_by_modulus=True,
                    maxfev=20000,
                )
        except Exception as exc:  # a failed fit is reported, not fatal
            cand: CircuitFit = {
                "circuit": circuit,
                "error": f"{type(exc).__name__}: {exc}",
                "fit_error_rms": float("inf"),
            }
        else:
            zf = model.predict(np.asarray(f))
            err = float(np.sqrt(np.mean(np.abs(zf - z) ** 2 / np.abs(z) ** 2)))
            names, _units = model.get_param_names()
            cand = {
                "circuit": circuit,
                "parameters": {n: float(v) for n, v in zip(names, model.parameters_, strict=True)},
                "fit_error_rms": err,
            }
        if best is None or cand["fit_error_rms"] < best["fit_error_rms"]:
            best = cand
    if best is None:  # unreachable: candidates is not empty
        raise RuntimeError("no circuit candidates")
    return best


def _bounds(model: CustomCircuit, n: int) -> tuple[list[float], list[float]]:
    names, _ = model.get_param_names()
    lo: list[float] = []
    hi: list[float] = []
    for name in names[:n]:
        if name.endswith("_1") and name.startswith("CPE"):  # CPE exponent
            lo.append(0.5)
            hi.append(1.0)
        else:
            lo.append(0.0)
            hi.append(np.inf)
    return lo, hi


#: The zoomed Nyquist panel covers the first this share of the real-axis span (the high-frequency end).
ZOOM_SHARE = 0.05


def _decade_marks(
    ax: Any, f: np.ndarray, x: np.ndarray, y: np.ndarray, color: Any, within: Any = None, size: float | None = None
) -> None:
    """Mark and label the points at whole decades of frequency (within 2 % in log10).

    A label closer than 4 % of the panel's size to the last one is left out (the decades crowd at the intercept).
    """
    logf = np.log10(f)
    keep = np.ones_like(x, dtype=bool) if within is None else within
    if size is None:
        size = max(float(np.ptp(x[keep])), float(np.ptp(y[keep])), 1e-300) if keep.any() else 1.0
    last: tuple[float, float] | None = None
    for k in range(int(np.floor(logf.min())), int(np.ceil(logf.max())) + 1):
        i = int(np.argmin(np.abs(logf - k)))
        if abs(logf[i] - k) > 0.02 or not keep[i]:
            continue
        if last is not None and np.hypot(x[i] - last[0], y[i] - last[1]) < 0.04 * size:
            continue
        last = (x[i], y[i])
        ax.plot(x[i], y[i], "s", ms=5, mfc="white", mec=color, zorder=3)
        ax.annotate(f"$10^{{{k}}}$ Hz", (x[i], y[i]), textcoords="offset points", xytext=(4, 5), fontsize=7,
                    color=color)  # fmt: skip


#: A small arc's zoom spans this many times its apex's distance from the intercept (the whole arc and a margin).
ZOOM_ARC_FRAME = 2.5


def _first_apex(x: np.ndarray, y: np.ndarray) -> float | None:
    """Z' of the highest-frequency arc's apex (the first interior maximum of −Z'' in frequency order)."""
    peak = np.nonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]))[0]
    return float(x[peak[0] + 1]) if peak.size else None


def plot_spectra(spectra: Mapping[str, pd.DataFrame], nyquist_png: Path, bode_png: Path | None = None) -> None:
    """Nyquist (equal axes, decade markers) and Bode plots of one or more spectra (label → impedance.csv frame).

    When the high-frequency end (first :data:`ZOOM_SHARE` of the real axis) holds five points or more, a second
    panel shows it enlarged: the ohmic intercept, and the Li metal arc beside the large cathode arc of a
    point-contact cell.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = nyquist_figure(spectra)
    fig.savefig(nyquist_png, dpi=120)
    plt.close(fig)
    if bode_png is not None:
        _bode(spectra, bode_png)


def nyquist_figure(spectra: Mapping[str, pd.DataFrame]) -> Any:
    """The Nyquist figure of :func:`plot_spectra` (a matplotlib ``Figure``; the caller saves and closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = {}
    for label, df in spectra.items():
        f = df["frequency_Hz"].to_numpy(dtype=float)
        data[label] = (f, df["z_real_ohm_cm2"].to_numpy(dtype=float), -df["z_imag_ohm_cm2"].to_numpy(dtype=float))
    x_all = np.concatenate([d[1] for d in data.values()])
    lo, hi = float(x_all.min()), float(x_all.max())
    edge = lo + ZOOM_SHARE * (hi - lo)
    # a small arc at the high-frequency end (its apex within the first share): frame that arc
    apexes = [_first_apex(x, y) for _, x, y in data.values()]
    small = [a for a in apexes if a is not None and a < edge]
    if small:
        edge = lo + ZOOM_ARC_FRAME * (max(small) - lo)
    zoom = hi > lo and any(np.count_nonzero(d[1] <= edge) >= 5 for d in data.values())
    fig, axes = plt.subplots(1, 2 if zoom else 1, figsize=(11 if zoom else 6, 5), squeeze=False)
    panels = [(axes[0, 0], None)] + ([(axes[0, 1], edge)] if zoom else [])
    for ax, limit in panels:
        for k, (label, (f, x, y)) in enumerate(data.items()):
            color = f"C{k}"
            keep = np.ones_like(x, dtype=bool) if limit is None else (x <= limit) & (y <= 0.6 * (limit - lo))
            ax.plot(x[keep], y[keep], "o-", ms=3, color=color, label=label)
            _decade_marks(ax, f, x, y, color, keep, None if limit is None else limit - lo)
        ax.set_xlabel("Z' [Ω·cm²]")
        ax.set_ylabel("−Z'' [Ω·cm²]")
        ax.grid(alpha=0.3)
        if limit is None:
            ax.set_aspect("equal", adjustable="datalim")
        else:  # a square window on the real axis from the intercept: the next arc's rise is cut off
            width = limit - lo
            ax.set_xlim(lo - 0.05 * width, limit)
            ax.set_ylim(-0.05 * width, 0.6 * width)
            ax.set_aspect("equal", adjustable="box")
            ax.set_title(f"high-frequency end (Z' ≤ {limit:.4g} Ω·cm²)", fontsize=10)
    axes[0, 0].legend()
    fig.tight_layout()
    return fig


def _bode(spectra: Mapping[str, pd.DataFrame], bode_png: Path) -> None:
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    for label, df in spectra.items():
        zc = df["z_real_ohm_cm2"].to_numpy() + 1j * df["z_imag_ohm_cm2"].to_numpy()
        a1.loglog(df["frequency_Hz"], np.abs(zc), label=label)
        a2.semilogx(df["frequency_Hz"], -np.degrees(np.angle(zc)), label=label)
    a1.set_ylabel("|Z| [Ω·cm²]")
    a2.set_ylabel("−phase [°]")
    a2.set_xlabel("frequency [Hz]")
    for a in (a1, a2):
        a.grid(alpha=0.3, which="both")
    a1.legend()
    fig.tight_layout()
    fig.savefig(bode_png, dpi=120)
    plt.close(fig)
