"""The output folder of one run: refuse to mix two studies' outputs in it, or clear it on request.

A resistance run into a folder that held an impedance run used to overwrite ``summary.json`` and leave
``impedance.csv`` and ``nyquist.png`` beside it, so the folder described a run that never happened. Pure Python:
:func:`check` runs on every rank before any MPI call (it only reads files), :func:`clear` on one rank.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from microsim.errors import ConfigError

__all__ = ["check", "clear", "previous_study"]

#: Files whose presence makes a folder a microsim run folder (and that name its study).
RECORDS = ("run.json", "summary.json")
#: A sweep's (or calibration's, or paper run's) store is not a run folder.
STORE_MARKERS = ("sweep.json", "history.csv", "results.json")


def previous_study(out_dir: Path) -> str | None:
    """The study kind of the run whose outputs ``out_dir`` holds (``None``: none, or unreadable records)."""
    for name in RECORDS:
        try:
            data = json.loads((out_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("study"), str):
            return data["study"]
    return None


def check(out_dir: Path, study: str, *, restart: bool = False, overwrite: bool = False) -> bool:
    """Whether ``out_dir`` may take a ``study`` run; ``True`` when it must be cleared first (``overwrite``).

    Raises:
        ConfigError: ``out_dir`` is a file, a sweep store, holds another study's outputs (without
            ``overwrite``), or ``overwrite`` would clear a folder that is not a run folder or a restart's.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: is a file, not a folder")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return False
    if restart and overwrite:
        raise ConfigError("--restart continues from the checkpoints in --out; --overwrite would delete them")
    marker = next((m for m in STORE_MARKERS if (out_dir / m).is_file()), None)
    if marker is not None:
        raise ConfigError(
            f"--out {out_dir}: holds {marker}, a sweep, calibration or paper store, not a run folder; choose another"
        )
    before = previous_study(out_dir)
    if overwrite:
        if before is None:
            raise ConfigError(
                f"--out {out_dir}: --overwrite clears only a microsim run folder (one with run.json or summary.json); "
                "this one has neither, so it is left alone: choose an empty or new folder"
            )
        return True
    if before is not None and before != study:
        raise ConfigError(
            f"--out {out_dir}: holds the outputs of a {before!r} run; a {study!r} run would leave them beside its "
            "own. Choose another folder, or pass --overwrite to clear this one"
        )
    return False


def clear(out_dir: Path) -> None:
    """Delete everything inside ``out_dir`` (one rank only; :func:`check` said it is a run folder)."""
    for entry in out_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
