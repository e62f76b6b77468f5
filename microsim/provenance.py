"""Where a result came from: versions, git revision, command line, ranks and hosts.

Every run folder records it (``run.json`` and ``summary.json["provenance"]``).

The versions come from the installed distributions' metadata and from modules already loaded (nothing heavy is
imported here); the git revision from ``git`` in the package's folder, when that is a checkout. The per-process
part is computed once.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import shlex
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mpi4py import MPI

__all__ = ["collect", "git_revision", "version", "versions"]

_PACKAGE_DIR = Path(__file__).resolve().parent
#: Distributions whose versions a result depends on (name in the record -> distribution).
_DISTRIBUTIONS = {
    "dolfinx": "dolfinx-solver-real",
    "basix": "fenics-basix",
    "ffcx": "fenics-ffcx",
    "ufl": "fenics-ufl",
    "gmsh": "gmsh",
    "mpi4py": "mpi4py",
    "numpy": "numpy",
    "scipy": "scipy",
}


def version() -> str:
    """The version of microsim (the installed distribution's, else the package's)."""
    try:
        return importlib.metadata.version("microsim")
    except importlib.metadata.PackageNotFoundError:
        from microsim import __version__

        return __version__


@functools.cache
def git_revision() -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the checkout microsim runs from; ``None`` when it is not one (an installed copy)."""
    root = _PACKAGE_DIR.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "microsim"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}  # dirty: the library's own files were changed


@functools.cache
def versions() -> dict[str, str | None]:
    """Versions of Python, PETSc, the MPI library and the distributions in :data:`_DISTRIBUTIONS`."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name, dist in _DISTRIBUTIONS.items():
        try:
            out[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    petsc = sys.modules.get("petsc4py.PETSc")
    out["petsc"] = ".".join(map(str, petsc.Sys.getVersion())) if petsc is not None else None
    mpi = sys.modules.get("mpi4py.MPI")
    out["mpi_library"] = mpi.Get_library_version().splitlines()[0].strip() if mpi is not None else None
    return out


def collect(comm: MPI.Comm) -> dict[str, Any]:
    """The provenance record of a run on ``comm``; collective (the hosts are gathered, rank 0's record is shared).

    Returns:
        ``microsim_version``, ``git``, ``versions``, ``command``, ``cwd``, ``n_ranks``, ``hosts``, ``platform``
        and ``recorded_utc``.
    """
    hosts = sorted(set(comm.allgather(socket.gethostname())))
    record: dict[str, Any] | None = None
    if comm.rank == 0:
        record = {
            "microsim_version": version(),
            "git": git_revision(),
            "versions": versions(),
            "command": shlex.join(sys.argv),
            "cwd": str(Path.cwd()),
            "n_ranks": comm.size,
            "hosts": hosts,
            "platform": platform.platform(),
            "recorded_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    return dict(comm.bcast(record, root=0))
