"""Butler–Volmer helpers (docs/model.md §2.4, §2.5, §4.4): signs, the exchange-current law, the c0 overpotential."""

from __future__ import annotations

import numpy as np
import pytest

from microsim.physics.kinetics import butler_volmer, exchange_current_lfp, overpotential_at_ratio

F_RT = 1.0 / 0.026121  # 1/V at 30 °C


def test_butler_volmer_is_anodic_for_positive_overpotential_and_linear_at_rest() -> None:
    eta = np.array([-0.1, -1e-6, 0.0, 1e-6, 0.1])
    i = butler_volmer(2.0, eta, 0.5, 0.5, F_RT)
    assert i[2] == 0.0 and np.all(np.sign(i) == np.sign(eta))
    assert i[3] == pytest.approx(2.0 * F_RT * 1e-6, rel=1e-9)  # slope i0 f (α_a + α_c)


def test_exchange_current_law_at_its_reference_and_in_the_salt() -> None:
    assert exchange_current_lfp(0.02, 1.0, 0.5, 0.5, 0.5) == pytest.approx(0.02, rel=1e-15)
    assert exchange_current_lfp(0.02, 0.25, 0.5, 0.5, 0.5) == pytest.approx(0.01, rel=1e-15)  # ∝ (c/c0)^α_a


@pytest.mark.parametrize("ratio", [1e-4, 0.3, 1.0, 2.5])
def test_overpotential_at_ratio_carries_the_same_current(ratio: float) -> None:
    """η' carries with i0 what η carries with i0·ratio; ratio 1 gives η back; the salt's share has η's sign."""
    eta = np.array([-0.4, -0.05, 0.0, 0.03, 0.25])
    eta_ref = overpotential_at_ratio(eta, ratio, 0.5, F_RT)
    np.testing.assert_allclose(
        butler_volmer(1.0, eta_ref, 0.5, 0.5, F_RT), butler_volmer(ratio, eta, 0.5, 0.5, F_RT), rtol=1e-12, atol=1e-15
    )
    if ratio == 1.0:
        np.testing.assert_allclose(eta_ref, eta, rtol=1e-14, atol=0)
    if ratio < 1.0:  # less salt: more overpotential for the same current, so |η| > |η'|
        assert np.all(np.abs(eta_ref) <= np.abs(eta)) and np.all(np.sign(eta_ref) == np.sign(eta))
