"""The sweep output directory: ``sweep.json``, one folder per case with ``status.json``, ``results.csv``.

Layout::

    DIR/sweep.json            the sweep definition and case list (index, hash, swept values)
    DIR/results.csv           one row per case: index, hash, swept values, status, error, summary scalars
    DIR/cases/<hash>/         config.toml, status.json, and the run's outputs (summary.json, geometry.json...)
    DIR/mesh-cache/<key>/     the meshes the cases share (``microsim.mesh_cache``), unless a case sets its own
    DIR/plots/                written by ``microsim report``

The files on disk are the only state: a case is *done* when its ``status.json`` says so **and** its
``summary.json`` exists; a ``running`` status left by a killed job is just unfinished. Every write is atomic
(temporary file + rename), so a kill at any moment leaves either the old or the new file, never half of one.

Pure Python (no DOLFINx, no MPI): ``microsim report`` and ``--list`` use it on a laptop.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microsim.errors import ConfigError, MicrosimError
from microsim.outputs import atomic_write_text, write_csv, write_json_local
from microsim.post.tables import flatten_summary

if TYPE_CHECKING:  # pragma: no cover - typing only
    from microsim.sweep.spec import SweepDefinition

__all__ = [
    "CASES_DIRNAME",
    "RESULTS_NAME",
    "STATUS_NAME",
    "SWEEP_NAME",
    "StoreLock",
    "case_dir",
    "case_state",
    "collect_rows",
    "counts",
    "prepare_dir",
    "read_status",
    "read_sweep_record",
    "write_results",
    "write_text_atomic",
]

SWEEP_NAME = "sweep.json"
#: The lock of a store folder held by the invocation that runs its cases (:class:`StoreLock`).
LOCK_NAME = ".microsim.lock"
RESULTS_NAME = "results.csv"
STATUS_NAME = "status.json"
SUMMARY_NAME = "summary.json"
CASES_DIRNAME = "cases"
FORMAT_VERSION = 1

#: Case states. ``pending``: never started, or interrupted (a ``running`` status without a live job).
DONE, FAILED, RUNNING, PENDING = "done", "failed", "running", "pending"
#: A case stopped on request (SIGTERM, --max-wall-time) with its checkpoint: pending for the next invocation.
INTERRUPTED = "interrupted"


def case_dir(out_dir: str | os.PathLike[str], case_hash: str) -> Path:
    """The folder of one case."""
    return Path(out_dir) / CASES_DIRNAME / case_hash


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file atomically (temporary file in the same folder, fsync, rename)."""
    atomic_write_text(path, text)


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or ``None`` if it is missing or unreadable (treated as "no record")."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_status(out_dir: str | os.PathLike[str], case_hash: str) -> dict[str, Any] | None:
    """The ``status.json`` of a case, or ``None`` when the case never started."""
    return _read_json(case_dir(out_dir, case_hash) / STATUS_NAME)


def case_state(out_dir: str | os.PathLike[str], case_hash: str) -> str:
    """``done``, ``failed``, ``running`` (as recorded; may be a killed job) or ``pending``.

    Pending: never started, or ``interrupted`` (stopped on request with its checkpoint).
    """
    status = read_status(out_dir, case_hash)
    if status is None:
        return PENDING
    state = status.get("state")
    if state == DONE:
        # A done status without its summary (deleted by hand) must be recomputed.
        return DONE if (case_dir(out_dir, case_hash) / SUMMARY_NAME).is_file() else PENDING
    return state if state in (FAILED, RUNNING) else PENDING


def read_sweep_record(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``DIR/sweep.json``.

    Raises:
        MicrosimError: ``DIR`` holds no sweep.
    """
    path = Path(out_dir) / SWEEP_NAME
    record = _read_json(path)
    if record is None or "cases" not in record:
        raise MicrosimError(f"{out_dir}: not a sweep directory (no readable {SWEEP_NAME})")
    return record


def _same_sweep(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """Why ``old`` and ``new`` sweep records differ, or ``None`` if they are the same sweep.

    Same sweep = the same case hashes in the same order (the hashes cover the whole resolved configs) and
    the same axis keys; the sweep file's location may differ (a moved or copied file is still the same sweep).
    """
    old_hashes = [c.get("hash") for c in old.get("cases", [])]
    new_hashes = [c["hash"] for c in new["cases"]]
    if old.get("keys") != new["keys"]:
        return f"swept keys {old.get('keys')} there, {new['keys']} here"
    if old_hashes != new_hashes:
        if len(old_hashes) != len(new_hashes):
            return f"{len(old_hashes)} cases there, {len(new_hashes)} here"
        first = next(i for i, (a, b) in enumerate(zip(old_hashes, new_hashes, strict=True)) if a != b)
        return f"case {first} is {old_hashes[first]} there, {new_hashes[first]} here"
    return None


class StoreLock:
    """An exclusive lock on a store folder (``DIR/.microsim.lock``) for one invocation; serial (one rank).

    ``fcntl.flock`` on an open file: the operating system releases it when the process ends, even when it is
    killed, so a stale lock cannot outlive its job. A file system without locks (some network mounts) gives a
    warning and no lock.
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.path = Path(out_dir) / LOCK_NAME
        self._fh: Any = None

    def acquire(self) -> str | None:
        """Take the lock; the warning to print when the file system cannot lock (``None``: locked).

        Raises:
            ConfigError: Another process holds it (its host, pid and start are named).
        """
        import fcntl
        import socket

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # held open for the lock's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip() or "unknown"
            fh.close()
            raise ConfigError(
                f"--out {self.path.parent} is in use by another microsim process ({owner}); wait for it to end, "
                "or give this one another --out (job-array tasks use --case-index, which does not lock)"
            ) from None
        except OSError as exc:  # ENOLCK, EOPNOTSUPP: no locks on this file system
            fh.close()
            return f"{self.path}: cannot lock ({exc.strerror}); do not start two runs on this folder at once"
        fh.seek(0)
        fh.truncate()
        fh.write(
            f"host {socket.gethostname()}, pid {os.getpid()}, since {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        )
        fh.flush()
        self._fh = fh
        return None

    def release(self) -> None:
        """Let go (the file stays: removing it would race with a process that opened it to wait)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def prepare_dir(out_dir: str | os.PathLike[str], definition: SweepDefinition) -> list[str]:
    """Check that ``out_dir`` is empty or holds this sweep, record it in ``sweep.json``, return case states.

    Serial (called by world rank 0 only). Nothing is written when the check fails.

    Args:
        out_dir: The sweep output directory (created if missing).
        definition: :meth:`Sweep.definition`.

    Returns:
        The state of every case, in case order.

    Raises:
        ConfigError: ``out_dir`` holds a different sweep, or other files that are not a sweep's.
    """
    out_dir = Path(out_dir)
    path = out_dir / SWEEP_NAME
    record = {"format": FORMAT_VERSION, **definition}
    if path.exists():
        old = _read_json(path)
        if old is None:
            raise ConfigError(f"{path}: unreadable; not overwriting it (choose another --out)")
        why = _same_sweep(old, record)
        if why is not None:
            raise ConfigError(
                f"--out {out_dir} holds a different sweep ({why}); choose another --out or remove it "
                "(nothing was overwritten)"
            )
    else:
        # Hidden temporaries and a sweep.json that a concurrent job-array task has just written are fine.
        visible = [
            p.name for p in (out_dir.iterdir() if out_dir.is_dir() else []) if not p.name.startswith(".")
            and p.name != SWEEP_NAME
        ]  # fmt: skip
        if visible:
            raise ConfigError(
                f"--out {out_dir} is not empty and holds no {SWEEP_NAME} ({', '.join(sorted(visible)[:3])}...); "
                "choose an empty or new directory"
            )
        write_json_local(path, record)
    return [case_state(out_dir, c["hash"]) for c in definition["cases"]]


def _scalar(value: object) -> bool:
    if isinstance(value, bool | int | str):
        return True
    return isinstance(value, float) and math.isfinite(value)


def collect_rows(
    out_dir: str | os.PathLike[str], record: Mapping[str, Any] | SweepDefinition | None = None
) -> list[dict[str, object]]:
    """One row per case from the files on disk: index, hash, swept values, status, error, summary scalars.

    Summary values are flattened with their unit-tagged dotted names (``resistance_ohm_cm2.total``); lists
    and other non-scalars are dropped. Pending and failed cases have empty summary columns.

    Args:
        out_dir: The sweep directory.
        record: Its ``sweep.json`` content (read when omitted).
    """
    out_dir = Path(out_dir)
    record = record if record is not None else read_sweep_record(out_dir)
    rows: list[dict[str, object]] = []
    for case in record["cases"]:
        h = case["hash"]
        status = read_status(out_dir, h) or {}
        state = case_state(out_dir, h)
        row: dict[str, object] = {"index": case["index"], "hash": h}
        row.update(case.get("values", {}))
        row["status"] = state
        row["error"] = (status.get("error") or "") if state == FAILED else ""
        row["error_type"] = (status.get("error_type") or "") if state == FAILED else ""
        elapsed = status.get("elapsed_s")
        if state in (DONE, FAILED) and isinstance(elapsed, int | float) and math.isfinite(elapsed):
            row["elapsed_s"] = float(elapsed)
        if state == DONE:
            summary = _read_json(case_dir(out_dir, h) / SUMMARY_NAME) or {}
            for key, value in flatten_summary(summary).items():
                if _scalar(value) and key not in row:
                    row[key] = value
        rows.append(row)
    return rows


def write_results(out_dir: str | os.PathLike[str], record: Mapping[str, Any] | SweepDefinition | None = None) -> Path:
    """Rebuild ``DIR/results.csv`` from the case folders, atomically (serial; the caller decides who writes)."""
    rows = collect_rows(out_dir, record)
    return write_csv(None, Path(out_dir) / RESULTS_NAME, rows)


def counts(states: Sequence[str]) -> dict[str, int]:
    """Number of cases per state."""
    return {s: sum(1 for x in states if x == s) for s in (DONE, FAILED, RUNNING, PENDING)}
