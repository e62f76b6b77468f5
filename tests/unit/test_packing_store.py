"""The packing store: a stored packing is the searched one bit for bit, and only the same inputs and code read it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from microsim.geometry import packing, packing_store
from microsim.geometry.packing_store import PACKINGS_DIRNAME, packing_key, stored_pack

ARGS = (2, 6.0, 5.0, 0.45, 0.5, 0.1, 3)
KWARGS = {"overlap_fraction": 0.05, "min_gap_fraction": 0.1}


def _no_search(*args, **kwargs):
    raise AssertionError("the store searched a packing it holds")


def test_a_stored_packing_is_the_searched_one_and_is_not_searched_again(tmp_path: Path, monkeypatch) -> None:
    searched = packing.pack(*ARGS, **KWARGS)
    first, info1 = stored_pack(tmp_path, *ARGS, **KWARGS)
    assert info1["status"] == "written"
    assert (tmp_path / PACKINGS_DIRNAME / f"{info1['key']}.npz").is_file()
    monkeypatch.setattr(packing, "pack", _no_search)
    second, info2 = stored_pack(tmp_path, *ARGS, **KWARGS)
    assert info2 == {**info2, "status": "hit", "key": info1["key"]}
    for res in (first, second):
        np.testing.assert_array_equal(res.particles.centers, searched.particles.centers)
        np.testing.assert_array_equal(res.particles.radii, searched.particles.radii)
        assert res.achieved_fraction == searched.achieved_fraction
        assert (res.p_stick, res.attempt, res.n_trials) == (searched.p_stick, searched.attempt, searched.n_trials)
        assert res.trials == searched.trials
    assert not list((tmp_path / PACKINGS_DIRNAME).glob(".*"))  # no temporary file left


def test_without_a_folder_the_store_is_off(monkeypatch) -> None:
    res, info = stored_pack(None, *ARGS, **KWARGS)
    assert info["status"] == "off" and len(res.particles) > 10


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((3, *ARGS[1:]), KWARGS),  # dimension
        ((*ARGS[:3], 0.46, *ARGS[4:]), KWARGS),  # fraction
        ((*ARGS[:6], 4), KWARGS),  # seed
        (ARGS, {**KWARGS, "overlap_fraction": 0.06}),
        (ARGS, {**KWARGS, "tolerance": 0.01}),
    ],
)
def test_every_input_changes_the_key(args, kwargs) -> None:
    assert packing_key(*args, **kwargs) != packing_key(*ARGS, **KWARGS)
    assert packing_key(*ARGS, **KWARGS) == packing_key(*ARGS, **dict(reversed(list(KWARGS.items()))))


def test_a_change_of_the_packing_code_or_numpy_changes_the_key(monkeypatch) -> None:
    key = packing_key(*ARGS, **KWARGS)
    monkeypatch.setattr(packing_store, "_code_hash", lambda: "edited")
    assert packing_key(*ARGS, **KWARGS) != key
    monkeypatch.undo()
    monkeypatch.setattr(np, "__version__", "0.0.0")
    assert packing_key(*ARGS, **KWARGS) != key


def test_the_code_hash_covers_the_deposition_code() -> None:
    import inspect

    from microsim.geometry import packing3d

    assert "def deposit_spheres" in inspect.getsource(packing3d)
    assert len(packing_store._code_hash()) == 16


def test_a_corrupt_entry_is_searched_again_and_replaced(tmp_path: Path) -> None:
    _, info = stored_pack(tmp_path, *ARGS, **KWARGS)
    path = tmp_path / PACKINGS_DIRNAME / f"{info['key']}.npz"
    path.write_bytes(b"not a zip file")
    res, info2 = stored_pack(tmp_path, *ARGS, **KWARGS)
    assert info2["status"] == "written" and len(res.particles) > 10
    _, info3 = stored_pack(tmp_path, *ARGS, **KWARGS)
    assert info3["status"] == "hit"


def test_a_store_that_cannot_be_written_still_gives_the_packing(tmp_path: Path) -> None:
    (tmp_path / PACKINGS_DIRNAME).write_text("a file where the folder should be")
    res, info = stored_pack(tmp_path, *ARGS, **KWARGS)
    assert info["status"] == "written" and len(res.particles) > 10
    assert (tmp_path / PACKINGS_DIRNAME).read_text().startswith("a file")
