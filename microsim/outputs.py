"""Writers for run outputs: ``summary.json``/CSV tables (atomic, rank 0) and XDMF fields (collective).

Every writer is atomic: it writes a temporary file (or folder) beside the target and renames it into place,
so an interrupted or failed run never leaves a half-written ``summary.json`` or ``fields/`` folder that a
later ``post`` step would mistake for a result.

MPI rules: ``comm`` may be ``None`` (serial tools). With a communicator, all ranks call the writer; the
checks that can fail (NaN/Inf) run on every rank *before* any writing so that an error is raised on all
ranks together and nobody waits in a barrier for a rank that has already raised.

DOLFINx is imported lazily inside :func:`write_fields_xdmf` only, so ``microsim.outputs`` imports on a laptop
without the solver stack.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from microsim.errors import SolutionError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = [
    "check_finite",
    "write_csv",
    "write_fields_xdmf",
    "write_json",
    "write_json_local",
]

FIELDS_DIRNAME = "fields"
_FIELDS_TMP_DIRNAME = ".fields.tmp"


# --------------------------------------------------------------------------------------------------------
# finiteness checks
# --------------------------------------------------------------------------------------------------------
def _first_non_finite(data: Any, prefix: str = "") -> str | None:
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


def check_finite(data: Any, what: str = "data") -> None:
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


def _collective_check(comm: Any, data: Any, what: str) -> None:
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
def _json_default(obj: Any) -> Any:
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


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[Any]], None], binary: bool = False) -> Path:
    """Write a file atomically: ``write(fh)`` into a temp file in the same directory, fsync, ``os.replace``.

    Same directory so that ``os.replace`` is a rename on one filesystem (atomic on POSIX); the old file stays
    intact until the new one is complete, and a failure leaves no partial file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(text))


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def _fsync_dir(directory: Path) -> None:
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


def _json_text(data: Any) -> str:
    # allow_nan=False is a second line of defence behind check_finite.
    return json.dumps(data, indent=2, sort_keys=False, default=_json_default, allow_nan=False) + "\n"


def write_json_local(path: str | os.PathLike[str], data: Any) -> Path:
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


def _run_on_root(comm: Any, action: Any) -> None:
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


def write_json(comm: Any, path: str | os.PathLike[str], data: Any) -> Path:
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
    _collective_check(comm, data, str(path))
    # Serialise on every rank: a non-serialisable value then raises TypeError everywhere, not on rank 0 only.
    text = _json_text(data)
    _run_on_root(comm, lambda: _atomic_write_text(path, text))
    return path


def write_csv(comm: Any, path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> Path:
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
    _collective_check(comm, {bad_key: float("nan")} if bad_key else {}, str(path))
    text = frame.to_csv(index=False, lineterminator="\n")
    _run_on_root(comm, lambda: _atomic_write_text(path, text))
    return path


# --------------------------------------------------------------------------------------------------------
# XDMF fields
# --------------------------------------------------------------------------------------------------------
def _replace_dir(src: Path, dst: Path) -> None:
    """Move directory ``src`` to ``dst``, replacing an older ``dst``, with the shortest possible gap.

    ``os.replace`` cannot replace a non-empty directory, so the old one is first renamed aside and removed
    only after the new one is in place.
    """
    old: Path | None = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old.{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(dst, old)
    os.replace(src, dst)
    _fsync_dir(dst.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_fields_xdmf(
    comm: Any,
    out_dir: str | os.PathLike[str],
    groups: Mapping[str, Sequence[Any]],
    time: float = 0.0,
) -> dict[str, Path]:
    """Write groups of P1 functions to ``out_dir/fields/<group>.xdmf`` (+ ``.h5``); collective.

    Each group holds functions on one (sub)mesh, e.g. ``{"particles": [theta, phi_s_V], "electrolyte":
    [c_mol_m3, phi_e_V]}``; the mesh of the first function is written once, then every function under its
    ``name``. Files go to ``out_dir/.fields.tmp`` first; after all ranks have closed them, rank 0 renames
    that folder to ``out_dir/fields`` (replacing an older one). The ``.xdmf`` refers to its ``.h5`` by
    relative name, so the rename keeps them valid. ParaView opens the ``.xdmf`` (reader ``Xdmf3ReaderS``).

    Args:
        comm: the communicator of the meshes (every rank must call this function).
        out_dir: run output folder.
        groups: group name -> list of ``dolfinx.fem.Function`` on the same mesh (P1, scalar or vector).
        time: time value stored with the functions [s].

    Returns:
        Group name -> path of the final ``.xdmf`` file.

    Raises:
        SolutionError: on every rank, if a function holds NaN/Inf (nothing is written).
        ValueError: if a group is empty, mixes meshes, or repeats a function name.
    """
    from dolfinx.io import XDMFFile  # lazy: keep `microsim.outputs` importable without DOLFINx

    out_dir = Path(out_dir)
    if not groups:
        return {}
    for group, functions in groups.items():
        if not functions:
            raise ValueError(f"write_fields_xdmf: group '{group}' has no functions")
        mesh = functions[0].function_space.mesh
        names = [f.name for f in functions]
        if len(set(names)) != len(names):
            raise ValueError(f"write_fields_xdmf: group '{group}' repeats a function name: {names}")
        for f in functions:
            if f.function_space.mesh is not mesh:
                raise ValueError(f"write_fields_xdmf: function '{f.name}' of group '{group}' is on another mesh")

    if comm is None:
        # The meshes know their communicator; XDMFFile must be opened on exactly that one.
        comm = next(iter(groups.values()))[0].function_space.mesh.comm

    # NaN check first, on all ranks (each rank checks its owned + ghost values).
    bad = [
        f"{group}.{f.name}"
        for group, functions in groups.items()
        for f in functions
        if not np.all(np.isfinite(f.x.array))
    ]
    _collective_check(comm, {key: float("nan") for key in bad}, str(out_dir / FIELDS_DIRNAME))

    tmp_dir = out_dir / _FIELDS_TMP_DIRNAME
    final_dir = out_dir / FIELDS_DIRNAME

    def _prepare() -> None:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir)  # leftover of an interrupted run
        tmp_dir.mkdir(parents=True)

    _run_on_root(comm, _prepare)

    paths: dict[str, Path] = {}
    for group, functions in groups.items():
        mesh = functions[0].function_space.mesh
        with XDMFFile(comm, str(tmp_dir / f"{group}.xdmf"), "w") as xdmf:
            xdmf.write_mesh(mesh)
            for f in functions:
                xdmf.write_function(f, float(time))
        paths[group] = final_dir / f"{group}.xdmf"

    # All ranks have closed their files (XDMFFile close is collective); now rank 0 renames the folder.
    comm.barrier()
    _run_on_root(comm, lambda: _replace_dir(tmp_dir, final_dir))
    return paths
