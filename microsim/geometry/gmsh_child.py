"""Gmsh in a child process: a native crash while meshing becomes a :class:`GeometryError`, not a dead MPI job.

Gmsh has crashed (SIGSEGV in its MeshAdapt fallback) on packings that other attempts mesh. Inside the MPI job
that killed every rank with no message and no record in a sweep. Here rank 0 forks a child that builds and
meshes the model and writes it as a binary ``.msh`` (exact doubles, physical groups and their names); the
parent loads that file into its own Gmsh for ``model_to_mesh``. If the child dies, the error names the signal
and the meshing attempt it was in.

``fork`` (not ``spawn``): the child starts in microseconds with the caller's modules, and it touches neither
MPI nor threads of the parent; it leaves with ``os._exit`` (multiprocessing's fork start does so), so no
``atexit`` handler of the parent (``MPI_Finalize``) runs in it.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import shutil
import signal
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from microsim.errors import GeometryError

__all__ = ["Build", "build_in_child"]

#: A model builder: given a callback that names each meshing attempt, it builds and meshes the current Gmsh model
#: (``gmsh.initialize()`` done) and returns its info.
Build = Callable[[Callable[[str], None]], Mapping[str, object]]


#: The signals of a native crash (PETSc installs handlers for all of them).
_CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT)


def _configure(gmsh: Any) -> None:
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.option.setNumber("General.NumThreads", 1)  # more threads: cell counts not deterministic


def _child(build: Build, msh: str, conn: multiprocessing.connection.Connection) -> None:
    """In the child: build, mesh, write ``msh``; send ``("attempt", name)`` as it goes, then the outcome."""
    import faulthandler

    import gmsh

    # The parent's crash handlers must not run here: PETSc's calls MPI_Abort, which would take the whole job
    # down for a crash this process exists to contain. The default action kills only the child.
    faulthandler.disable()
    for number in _CRASH_SIGNALS:
        signal.signal(number, signal.SIG_DFL)

    try:
        gmsh.initialize(interruptible=False)
        _configure(gmsh)
        info = build(lambda name: conn.send(("attempt", name)))
        gmsh.option.setNumber("Mesh.Binary", 1)
        gmsh.write(msh)
        conn.send(("done", dict(info)))
    except GeometryError as exc:
        conn.send(("error", str(exc)))
    except Exception as exc:  # any failure of the build is the parent's GeometryError
        conn.send(("error", f"gmsh failed to build the geometry: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _signal_name(exitcode: int) -> str:
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"


def build_in_child(build: Build) -> dict[str, object]:
    """Run ``build`` in a forked child and load the mesh it wrote into this process's Gmsh (serial).

    On return ``gmsh`` is initialised here with the child's model (nodes, elements, physical groups) loaded;
    the caller finalises it.

    Returns:
        The info the build returned.

    Raises:
        GeometryError: The build raised (its message), or the child died (the signal and the attempt).
    """
    import gmsh

    folder = Path(tempfile.mkdtemp(prefix="microsim-gmsh-"))
    try:
        msh = folder / "model.msh"
        ctx = multiprocessing.get_context("fork")
        receive, send = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_child, args=(build, str(msh), send), name="microsim-gmsh", daemon=True)
        with warnings.catch_warnings():
            # Python warns that fork in a threaded process may deadlock: the child uses no lock of the parent's
            warnings.simplefilter("ignore", DeprecationWarning)
            process.start()
        send.close()
        attempt = "building the model (before meshing)"
        outcome: tuple[str, Any] | None = None
        while outcome is None:
            try:
                kind, payload = receive.recv()
            except EOFError:
                break
            if kind == "attempt":
                attempt = str(payload)
            else:
                outcome = (kind, payload)
        receive.close()
        process.join()
        if outcome is None or process.exitcode != 0:
            code = process.exitcode if process.exitcode is not None else 0
            how = f"was killed by {_signal_name(code)}" if code < 0 else f"exited with status {code}"
            raise GeometryError(
                f"gmsh crashed: its process {how} during {attempt}; nothing was meshed. Another "
                "geometry.seed, a slightly different geometry.width_um or geometry.interface_mesh_size_um "
                "usually meshes"
            )
        kind, payload = outcome
        if kind == "error":
            raise GeometryError(str(payload))
        gmsh.initialize(interruptible=False)
        _configure(gmsh)
        gmsh.open(str(msh))
        return dict(payload)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
