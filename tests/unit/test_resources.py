"""The memory guard's arithmetic (microsim.resources): the size model's terms and the refusal."""

from __future__ import annotations

import pytest

from microsim import config, resources
from microsim.geometry import describe


def _desc(**changes: object):
    return describe(config.replace(config.default(), **changes).geometry)


def test_the_graded_layer_integral_is_the_closed_form() -> None:
    """∫_0^{2(h−g)} [(g + r/2)^−d − h^−d] dr, against a midpoint sum; zero when the surface is not finer."""
    h, g = 0.5, 0.1
    for d in (2, 3):
        n = 200_000
        dr = 2.0 * (h - g) / n
        numeric = sum(((g + (k + 0.5) * dr / 2.0) ** -d - h**-d) * dr for k in range(n))
        assert resources._layer_integral(d, h, g) == pytest.approx(numeric, rel=1e-6)
        assert resources._layer_integral(d, h, h) == 0.0


def test_cells_scale_with_the_mesh_size() -> None:
    """Halving h and h_Γ in 2D: the bulk term × 4, the graded layer (half as thick, sizes halved) × 2."""
    coarse = _desc(**{"geometry.mesh_size_um": 0.4, "geometry.interface_mesh_size_um": 0.2})
    fine = _desc(**{"geometry.mesh_size_um": 0.2, "geometry.interface_mesh_size_um": 0.1})
    (b0, g0, s0), (b1, g1, s1) = resources._features(coarse), resources._features(fine)
    assert b1 / b0 == pytest.approx(4.0, rel=1e-12) and g1 / g0 == pytest.approx(2.0, rel=1e-12) and s1 == s0
    assert 2.0 < resources.cell_count(fine) / resources.cell_count(coarse) < 4.0


def test_refusal_counts_every_rank_on_the_node() -> None:
    est = resources.Estimate(n_cells=1_000_000, n_dofs=500_000, peak_mb_per_rank=3000.0, ranks=4)
    assert resources.refusal(est, ranks_on_node=4, available_mb=16_000.0) is None  # 12 GB of 16
    message = resources.refusal(est, ranks_on_node=8, available_mb=16_000.0)  # 24 GB of 16
    assert message is not None
    for words in ("1,000,000 cells", "2.93 GB per rank", "8 ranks need about 23.4 GB", "15.6 GB are available"):
        assert words in message
    assert "geometry.mesh_size_um" in message and "--force" in message
    assert resources.refusal(est, ranks_on_node=8, available_mb=None) is None  # unknown memory: never refused


def test_memory_grows_with_the_study_and_shrinks_with_ranks() -> None:
    desc = _desc()
    one = resources.estimate(desc, "resistance", 1)
    two = resources.estimate(desc, "resistance", 2)
    rate = resources.estimate(desc, "rate", 1)
    assert one.n_cells == two.n_cells and two.peak_mb_per_rank < one.peak_mb_per_rank < rate.peak_mb_per_rank
    assert one.peak_mb_per_rank > resources.BASE_MB


def test_force_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(resources.FORCE_ENV, raising=False)
    assert not resources.forced()
    monkeypatch.setenv(resources.FORCE_ENV, "1")
    assert resources.forced()
