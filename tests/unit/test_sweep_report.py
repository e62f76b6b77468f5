"""The sweep report's figure (microsim.sweep.report): units on the axes, honest bands, n per point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from microsim.sweep.report import aggregate, axis_label, draw_sweep


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("geometry.contact_radius_um", "geometry.contact_radius_um [µm]"),
        ("conditions.temperature_C", "conditions.temperature_C [°C]"),
        ("parameters.lfp.exchange_current_A_m2", "parameters.lfp.exchange_current_A_m2 [A/m²]"),
        ("resistance_ohm_cm2.interfacial_effective", "resistance_ohm_cm2.interfacial_effective [Ω·cm²]"),
        ("rate.capacity_mAh_g", "rate.capacity_mAh_g [mAh/g]"),
        ("geometry.interface", "geometry.interface"),
    ],
)
def test_axis_labels_carry_units(key: str, label: str) -> None:
    assert axis_label(key) == label


def _frame(values: dict[float, list[float]]) -> pd.DataFrame:
    rows = [
        {"geometry.contact_radius_um": x, "geometry.seed": s, "status": "done", "resistance_ohm_cm2.total": y}
        for x, ys in values.items()
        for s, y in enumerate(ys)
    ]
    return pd.DataFrame(rows)


def test_a_log_axis_band_is_the_interval_of_log_y_and_stays_positive() -> None:
    # spread over two decades at each point: the linear t-interval goes far below zero, the log one cannot
    df = _frame({0.05: [1e5, 1e7, 3e6], 0.1: [5e3, 4e5, 2e5], 0.2: [2e1, 1e3, 9e2]})
    stats = aggregate(df, "resistance_ohm_cm2.total", ["geometry.contact_radius_um"])
    assert (stats["ci_low"] < 0).any() and (stats["ci_low_log"] > 0).all()
    logs = np.log10([1e5, 1e7, 3e6])
    assert stats["ci_low_log"][0] * stats["ci_high_log"][0] == pytest.approx(10 ** (2 * logs.mean()), rel=1e-9)
    fig, _ = draw_sweep(df, x="geometry.contact_radius_um", y="resistance_ohm_cm2.total")
    ax = fig.axes[0]
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert ax.get_yscale() == "log" and band.get_paths()[0].vertices[:, 1].min() > 0
    assert ax.get_ylabel() == "resistance_ohm_cm2.total [Ω·cm²]" and ax.get_xlabel().endswith("[µm]")
    assert "in log" in fig._suptitle.get_text()


def test_points_with_fewer_seeds_are_marked_and_the_title_says_so() -> None:
    df = _frame({0.05: [10.0, 11.0, 12.0], 0.1: [20.0], 0.2: [30.0, 31.0, 29.0]})
    fig, stats = draw_sweep(df, x="geometry.contact_radius_um", y="resistance_ohm_cm2.total")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(texts) == ["n=1", "n=3", "n=3"] and list(stats["n"]) == [3, 1, 3]
    assert "1–3 seeds per point" in fig._suptitle.get_text()
