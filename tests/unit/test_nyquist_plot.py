"""Plots a reader must not misread: Nyquist (decade markers, a zoom on small arcs) and the C-rate axis."""

from __future__ import annotations

import numpy as np
import pandas as pd

from microsim.post.impedance import nyquist_figure


def _rc_spectrum(r0: float, arcs: list[tuple[float, float]]) -> pd.DataFrame:
    """R0 + Σ R/(1 + jωRC) over 1 mHz–1 MHz, 10 points per decade."""
    f = np.logspace(6, -3, 91)
    w = 2 * np.pi * f
    z = r0 + sum(r / (1 + 1j * w * r * c) for r, c in arcs)
    return pd.DataFrame({"frequency_Hz": f, "z_real_ohm_cm2": z.real, "z_imag_ohm_cm2": z.imag})


def _labels(ax: object) -> list[str]:
    return [t.get_text() for t in ax.texts]  # type: ignore[attr-defined]


def test_a_spectrum_with_a_small_arc_gets_a_zoom_panel_with_decades() -> None:
    import matplotlib.pyplot as plt

    # a 900 Ω·cm² Li arc at ~20 Hz beside a 2.8e5 cathode arc at ~1 mHz: invisible at full scale
    fig = nyquist_figure({"point contact": _rc_spectrum(10.7, [(892.0, 9e-6), (2.8e5, 5.7e-4)])})
    full, zoom = fig.axes
    assert "high-frequency end" in zoom.get_title()
    assert any("10^{1}" in t for t in _labels(zoom))  # the Li arc's decades are labelled in the zoom
    labels = _labels(full)
    assert any("10^{-1}" in t for t in labels) and len(labels) == len(set(labels))
    plt.close(fig)


def test_the_zoom_shows_only_the_high_frequency_end() -> None:
    import matplotlib.pyplot as plt

    df = _rc_spectrum(17.0, [(3000.0, 5e-5)])
    fig = nyquist_figure({"filled": df})
    _, zoom = fig.axes
    x = zoom.lines[0].get_xdata()
    edge = 17.0 + 0.05 * (df["z_real_ohm_cm2"].max() - 17.0)
    assert len(x) >= 5 and max(x) <= edge + 1e-9 and min(x) == df["z_real_ohm_cm2"].min()
    plt.close(fig)
    few = nyquist_figure({"coarse": df.iloc[::20]})  # too few points at the end to need a zoom
    assert len(few.axes) == 1
    plt.close(few)


def test_the_c_rate_axis_labels_the_rates_run() -> None:
    import matplotlib.pyplot as plt

    from microsim.post.rate_plots import c_rate_axis

    fig, ax = plt.subplots()
    rates = [0.05, 0.1, 0.24, 0.5, 1.0]
    ax.plot(rates, [169, 167, 163, 137, 36])
    c_rate_axis(ax, rates)
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.05", "0.1", "0.24", "0.5", "1"]
    assert ax.get_xticklabels(minor=True) == [] or all(t.get_text() == "" for t in ax.get_xticklabels(minor=True))
    plt.close(fig)
