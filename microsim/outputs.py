"""Writers for run outputs: ``summary.json`` and CSV tables (atomic, from rank 0).

Every writer is atomic: it writes a temporary file (or folder) beside the target and renames it into place,
so an interrupted or failed run never leaves a half-written ``summary.json`` or CSV table that a
later ``post`` step would mistake for a result.

MPI rules: ``comm`` may be ``None`` (serial tools). With a communicator, all ranks call the writer; the
checks that can fail (NaN/Inf) run on every rank *before* any writing so that an error is raised on all
ranks together and nobody waits in a barrier for a rank that has already raised.

No DOLFINx here (post-processing imports this module on machines without the solver stack): the XDMF field
writer is :mod:`microsim.field_output`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, Literal, TextIO, cast, overload

import numpy as np

from microsim.errors import SolutionError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd
    from mpi4py import MPI

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "check_finite",
    "collective_check",
    "fsync_dir",
    "run_on_root",
    "write_csv",
    "write_json",
    "write_json_local",
]


# --------------------------------------------------------------------------------------------------------
# finiteness checks
# --------------------------------------------------------------------------------------------------------
def _first_non_finite(data: object, prefix: str = "") -> str | None:
    """Return the dotted key of the first NaN/Inf number in a nested structure, or ``None``."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            found = _first_non_finite(value, f"{prefix}.{key}" if prefix else str(key))
            if found is not None:
                return found
        return None
    if isinstance(data, str | bytes):
        return None
    if isinstance(data, np.ndarray):
        if data.dtype.kind in "fc" and not np.all(np.isfinite(data)):
            index = np.argwhere(~np.isfinite(data))[0]
            return f"{prefix}[{', '.join(str(int(i)) for i in index)}]"
        if data.dtype.kind == "O":
            return _first_non_finite(data.tolist(), prefix)
        return None
    if isinstance(data, Sequence | set | frozenset | tuple):
        for i, value in enumerate(data):
            found = _first_non_finite(value, f"{prefix}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(data, bool | int | np.integer | np.bool_):
        return None
    if isinstance(data, float | np.floating):
        return None if math.isfinite(float(data)) else (prefix or "<value>")
    if isinstance(data, complex | np.complexfloating):
        ok = math.isfinite(data.real) and math.isfinite(data.imag)
        return None if ok else (prefix or "<value>")
    return None


def check_finite(data: object, what: str = "data") -> None:
    """Raise :class:`SolutionError` naming the key of the first NaN/Inf number in ``data``.

    Args:
        data: nested dicts/lists/tuples/NumPy arrays of numbers and strings.
        what: a name for the message (usually the file being written).

    Raises:
        SolutionError: if any number is NaN or infinite.
    """
    key = _first_non_finite(data)
    if key is not None:
        raise SolutionError(f"{what}: non-finite value (NaN/Inf) at key '{key}'; nothing written")


def collective_check(comm: MPI.Comm | None, data: object, what: str) -> None:
    """Check finiteness on every rank and raise on all of them if any rank found a bad value.

    The data are usually identical on all ranks, but a rank-local NaN must still stop everyone, hence the
    allreduce: a rank that raised alone would leave the others waiting forever in the final barrier.
    """
    key = _first_non_finite(data)
    if comm is not None and comm.size > 1:
        keys = comm.allgather(key)
        bad = [(r, k) for r, k in enumerate(keys) if k is not None]
        if bad:
            rank, key = bad[0]
            raise SolutionError(f"{what}: non-finite value (NaN/Inf) at key '{key}' (rank {rank}); nothing written")
    elif key is not None:
        raise SolutionError(f"{what}: non-finite value (NaN/Inf) at key '{key}'; nothing written")


# --------------------------------------------------------------------------------------------------------
# atomic files
# --------------------------------------------------------------------------------------------------------
def _json_default(obj: object) -> object:
    """Convert NumPy scalars/arrays and paths, which ``json`` does not know, to plain Python."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


@overload
def atomic_write(
    path: str | os.PathLike[str], write: Callable[[TextIO], object], binary: Literal[False] = False
) -> Path: ...
@overload
def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object], binary: Literal[True]) -> Path: ...
def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[TextIO], object] | Callable[[BinaryIO], object],
    binary: bool = False,
) -> Path:
    """Write a file atomically: ``write(fh)`` into a temp file in the same directory, fsync, ``os.replace``.

    Same directory so that ``os.replace`` is a rename on one filesystem (atomic on POSIX); the old file stays
    intact until the new one is complete, and a failure leaves no partial file behind. ``fh`` is a binary
    file with ``binary=True``, else a UTF-8 text file without newline translation.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        fh: IO[bytes] | IO[str]
        if binary:
            fh = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
        with fh:
            # The overloads pair a text writer with binary=False and a binary one with binary=True.
            cast("Callable[[IO[bytes] | IO[str]], object]", write)(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(text))


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def fsync_dir(directory: Path) -> None:
    """Persist a rename by syncing its directory (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_text(data: object) -> str:
    # allow_nan=False is a second line of defence behind check_finite.
    return json.dumps(data, indent=2, sort_keys=False, default=_json_default, allow_nan=False) + "\n"


def write_json_local(path: str | os.PathLike[str], data: object) -> Path:
    """Write ``data`` as JSON atomically, without MPI (serial tools, post-processing).

    Args:
        path: target file.
        data: JSON-serialisable data (NumPy scalars/arrays allowed); all numbers must be finite.

    Returns:
        The path written.

    Raises:
        SolutionError: if a number is NaN/Inf (nothing is written).
    """
    path = Path(path)
    check_finite(data, str(path))
    _atomic_write_text(path, _json_text(data))
    return path


def run_on_root(comm: MPI.Comm | None, action: Callable[[], object]) -> None:
    """Run ``action()`` on rank 0 and raise its error on every rank (after a barrier).

    A failure on rank 0 (disk full, permission) is broadcast so that the other ranks raise too instead of
    hanging in the barrier; rank 0 re-raises the original exception, the others an ``OSError`` naming it.
    """
    if comm is None or comm.size == 1:
        action()
        return
    error: BaseException | None = None
    message: str | None = None
    if comm.rank == 0:
        try:
            action()
        except Exception as exc:  # re-raised below, on all ranks
            error = exc
            message = f"{type(exc).__name__}: {exc}"
    message = comm.bcast(message, root=0)
    comm.barrier()
    if error is not None:
        raise error
    if message is not None:
        raise OSError(f"rank 0 failed to write output: {message}")


def write_json(comm: MPI.Comm | None, path: str | os.PathLike[str], data: object) -> Path:
    """Write ``data`` as JSON from rank 0, atomically; collective over ``comm``.

    Args:
        comm: an ``mpi4py`` communicator, or ``None`` for serial use.
        path: target file (the same on all ranks).
        data: JSON-serialisable data; every number must be finite.

    Returns:
        The path written.

    Raises:
        SolutionError: on every rank, if any rank's data holds a NaN/Inf (nothing is written).
        OSError: on every rank, if rank 0 could not write.
    """
    path = Path(path)
    collective_check(comm, data, str(path))
    # Serialise on every rank: a non-serialisable value then raises TypeError everywhere, not on rank 0 only.
    text = _json_text(data)
    run_on_root(comm, lambda: _atomic_write_text(path, text))
    return path


def write_csv(
    comm: MPI.Comm | None, path: str | os.PathLike[str], rows: Iterable[Mapping[str, object]] | pd.DataFrame
) -> Path:
    """Write a table as CSV from rank 0, atomically; collective over ``comm``.

    Args:
        comm: an ``mpi4py`` communicator, or ``None`` for serial use.
        path: target file.
        rows: a list of dicts (one per row; keys = columns, union kept in first-seen order; a missing key is
            an empty cell) or a DataFrame (where NaN cannot be told from "missing" and is refused).

    Returns:
        The path written.

    Raises:
        SolutionError: on every rank, if a number is NaN/Inf (nothing is written).
        OSError: on every rank, if rank 0 could not write.
    """
    import pandas as pd  # pandas is a core dependency, imported here to keep `import microsim` light

    path = Path(path)
    bad_key: str | None = None
    if isinstance(rows, pd.DataFrame):
        frame = rows
        numeric = frame.select_dtypes(include=["number"])
        if not numeric.empty:
            mask = ~np.isfinite(numeric.to_numpy(dtype=float))
            if mask.any():
                i, j = np.argwhere(mask)[0]
                bad_key = f"row {i}, column '{numeric.columns[j]}'"
    else:
        records = [dict(row) for row in rows]
        # Check the given values, not the frame: a key missing from a row is an empty cell, not a NaN.
        for i, row in enumerate(records):
            found = _first_non_finite(row)
            if found is not None:
                bad_key = f"row {i}, column '{found}'"
                break
        frame = pd.DataFrame.from_records(records)
    # All ranks must agree on refusing, or rank 0 alone would raise and the others would hang.
    collective_check(comm, {bad_key: float("nan")} if bad_key else {}, str(path))
    text = frame.to_csv(index=False, lineterminator="\n")
    run_on_root(comm, lambda: _atomic_write_text(path, text))
    return path


# --------------------------------------------------------------------------------------------------------
# XDMF fields
# --------------------------------------------------------------------------------------------------------
