"""The colour scale of a field picture (microsim.post.render.shown_scalars): readable for any range."""

from __future__ import annotations

import numpy as np
import pytest

from microsim.post.render import shown_scalars


def test_a_field_that_varies_shows_its_own_range() -> None:
    s = shown_scalars(np.array([0.1, 0.5, 0.9]), "theta [-]")
    assert s.clim == (0.1, 0.9) and s.title == "theta [-]" and np.array_equal(s.values, [0.1, 0.5, 0.9])


def test_a_near_uniform_field_shows_its_deviation_with_enough_digits() -> None:
    c = 1100.0 + np.array([-0.004, 0.0, 0.003])
    s = shown_scalars(c, "c [mol/m^3]")
    name, ref = s.title.split(" - ")[0], float(s.title.split(" - ")[1].split(" [")[0])
    assert name == "c" and s.title.endswith("[mol/m^3]")
    assert s.values + ref == pytest.approx(c, abs=1e-12)  # what is drawn plus the reference is the field
    assert s.clim[1] - s.clim[0] == pytest.approx(0.007, rel=1e-9)
    assert abs(ref - c.mean()) < 0.1 * np.ptp(c)  # the reference is rounded well below the variation


def test_a_uniform_field_is_one_mid_scale_colour_with_its_value() -> None:
    s = shown_scalars(np.full(5, 0.5), "theta [-]")
    assert s.title == "theta [-]: uniform 0.5" and s.n_labels == 0
    assert s.clim[0] < 0.5 < s.clim[1] and (s.clim[0] + s.clim[1]) / 2 == pytest.approx(0.5)
