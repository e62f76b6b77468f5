"""The limiting mechanism is the loss that grew to the cut-off, not the largest one (docs/model.md §4.4)."""

from __future__ import annotations

import pytest

from microsim.studies.discharge import MECHANISMS, limiting_mechanism
from microsim.studies.stepping import Record


def _record(t: float, current: float, **parts: float) -> Record:
    extra = dict.fromkeys(MECHANISMS, 0.0) | parts
    extra["total_V"] = sum(extra[k] for k in MECHANISMS)
    return Record(t, 0, 3.3, current, 0.0, 0.0, 1.0, 3, extra)


def _history(ct: list[float], salt: list[float], diff: list[float]) -> list[Record]:
    rest = Record(0.0, 0, 3.5, 0.0, 0.0, 0.0, 0.0, 0, dict.fromkeys([*MECHANISMS, "total_V"], 0.0))
    rows = [
        _record(float(i + 1), 1.5, charge_transfer=a, salt_depletion=b, solid_diffusion=c)
        for i, (a, b, c) in enumerate(zip(ct, salt, diff, strict=True))
    ]
    return [rest, *rows]


def test_a_large_constant_loss_does_not_limit() -> None:
    """The shape of the paper cell at 0.5C: charge transfer is largest but falls; salt depletion rises."""
    recs = _history(
        ct=[0.25, 0.23, 0.20, 0.21, 0.22], salt=[0.0, 0.01, 0.05, 0.09, 0.13], diff=[0.05, 0.0, 0.0, 0.01, 0.04]
    )
    by_growth, growth, largest = limiting_mechanism(recs)
    assert largest == "charge_transfer"
    assert by_growth == "salt_depletion"
    # growth is measured from the least-loss record (total 0.23 + 0.01 + 0 at t = 2 s), not from the first
    assert growth["salt_depletion"] == pytest.approx(0.13 - 0.01)
    assert growth["charge_transfer"] == pytest.approx(0.22 - 0.23)
    assert growth["solid_diffusion"] == pytest.approx(0.04)


def test_growth_picks_each_candidate() -> None:
    recs = _history(ct=[0.1, 0.1, 0.1, 0.1], salt=[0.02, 0.02, 0.02, 0.02], diff=[0.0, 0.01, 0.1, 0.3])
    assert limiting_mechanism(recs)[0] == "solid_diffusion"
    recs = _history(ct=[0.1, 0.1, 0.2, 0.4], salt=[0.02, 0.02, 0.03, 0.03], diff=[0.0, 0.0, 0.0, 0.0])
    assert limiting_mechanism(recs)[0] == "charge_transfer"


def test_a_cutoff_met_at_once_names_the_largest_part() -> None:
    """No part rose (the least-loss state is the end): the largest at the end is named."""
    recs = _history(ct=[0.5, 0.45], salt=[0.01, 0.01], diff=[0.02, 0.0])
    assert limiting_mechanism(recs) == ("charge_transfer", limiting_mechanism(recs)[1], "charge_transfer")
    assert limiting_mechanism(recs[:1]) == ("none", {}, "none")
