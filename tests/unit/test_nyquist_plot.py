"""The Nyquist picture (microsim.post.impedance.nyquist_figure): decade markers, and a zoom on small arcs."""

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
