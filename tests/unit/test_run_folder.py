"""The run folder rules (microsim.run_folder) and the provenance record (microsim.provenance), without MPI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from microsim import provenance, run_folder
from microsim.errors import ConfigError


def _run_dir(tmp_path: Path, study: str, record: str = "summary.json") -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / record).write_text(json.dumps({"study": study}))
    (out / "nyquist.png").write_bytes(b"png")
    (out / "fields").mkdir()
    (out / "fields" / "cell.xdmf").write_text("<Xdmf/>")
    return out


def test_a_new_or_empty_folder_is_taken(tmp_path: Path) -> None:
    assert run_folder.check(tmp_path / "new", "rate") is False
    (tmp_path / "empty").mkdir()
    assert run_folder.check(tmp_path / "empty", "rate", overwrite=True) is False


@pytest.mark.parametrize("record", ["summary.json", "run.json"])
def test_the_same_study_may_rerun_another_is_refused(tmp_path: Path, record: str) -> None:
    out = _run_dir(tmp_path, "impedance", record)
    assert run_folder.previous_study(out) == "impedance"
    assert run_folder.check(out, "impedance") is False
    with pytest.raises(ConfigError, match=r"holds the outputs of a 'impedance' run; a 'resistance' run.*--overwrite"):
        run_folder.check(out, "resistance")


def test_overwrite_clears_a_run_folder_only(tmp_path: Path) -> None:
    out = _run_dir(tmp_path, "impedance")
    assert run_folder.check(out, "resistance", overwrite=True) is True
    run_folder.clear(out)
    assert out.is_dir() and not any(out.iterdir())
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("...")
    with pytest.raises(ConfigError, match="clears only a microsim run folder"):
        run_folder.check(other, "rate", overwrite=True)


def test_stores_files_and_restart_with_overwrite_are_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "sweep.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"holds sweep\.json"):
        run_folder.check(store, "rate")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        run_folder.check(tmp_path / "file", "rate")
    out = _run_dir(tmp_path, "rate")
    with pytest.raises(ConfigError, match="--overwrite would delete them"):
        run_folder.check(out, "rate", restart=True, overwrite=True)


class _Comm:
    rank, size = 0, 3

    def allgather(self, value: object) -> list[object]:
        return [value, value, "node2"]

    def bcast(self, value: object, root: int = 0) -> object:
        return value


def test_the_provenance_record(tmp_path: Path) -> None:
    rec = provenance.collect(_Comm())  # type: ignore[arg-type]
    assert rec["n_ranks"] == 3 and len(rec["hosts"]) == 2 and "node2" in rec["hosts"]
    assert rec["microsim_version"] == provenance.version() and rec["versions"]["python"].startswith("3.")
    assert rec["versions"]["numpy"] and rec["recorded_utc"].endswith("+00:00")
    git = rec["git"]
    assert git is None or (len(git["commit"]) == 40 and isinstance(git["dirty"], bool))
    json.dumps(rec)  # JSON-ready
