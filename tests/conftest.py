"""Shared fixtures; MPI-safe: every fixture works serially and under ``mpiexec -n 2``.

Markers (mpi, slow, fenics) are declared in pyproject.toml. A module that needs DOLFINx calls
``pytest.importorskip("dolfinx_solver")`` before importing dolfinx (the wheel must be imported first or
libmpi does not load).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _world() -> Any:
    """MPI.COMM_WORLD, importing the DOLFINx wheel first when it is installed (it sets up libmpi)."""
    try:
        import dolfinx_solver  # noqa: F401  (must precede mpi4py)
    except ImportError:
        pass
    pytest.importorskip("mpi4py")
    from mpi4py import MPI

    return MPI.COMM_WORLD


@pytest.fixture(scope="session")
def comm() -> Any:
    """The world communicator (size 1 in a plain pytest run)."""
    return _world()


@pytest.fixture
def mpi_tmp_path(comm: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary folder shared by all ranks: created by rank 0, path broadcast, removed by rank 0.

    Each rank has its own pytest ``tmp_path``, so collective writers need this one instead.
    """
    path: str | None = None
    if comm.rank == 0:
        base = tmp_path_factory.getbasetemp()
        path = tempfile.mkdtemp(prefix="mpi-", dir=base)
    path = comm.bcast(path, root=0)
    comm.barrier()
    try:
        yield Path(path)
    finally:
        # Nobody may still be writing when rank 0 removes the folder.
        comm.barrier()
        if comm.rank == 0:
            shutil.rmtree(path, ignore_errors=True)
