"""A mesh cache: a geometry is meshed once and read back by any later run, on any number of ranks.

``[output] mesh_cache = "DIR"`` keeps, per geometry, ``DIR/<key>/mesh.xdmf`` (+ ``.h5``: the parent mesh with its
cell and facet tags, written by DOLFINx's parallel XDMF writer) and ``info.json`` (what Gmsh measured). The key
is a hash of the geometry description's statistics (particles, voids, carbon-binder bodies, contact, mesh sizes)
and of the versions that decide the mesh (this format, Gmsh, DOLFINx), so a rate study, an impedance run and a
sweep over non-geometric parameters of the same cell mesh once.

A run that meshes writes the entry from rank 0 alone (the mesh as one serial piece, so an entry does not depend
on the rank count of the run that wrote it), then every rank reads it back like a later run would: all runs of
one geometry then use the same mesh and node order, so a cached run gives the answer of the run that wrote it,
and a restart (checkpoints are keyed by mesh node) finds the nodes of the run it continues. A run with the cache
and one without number their nodes differently: the checkpoint identity records whether the cache is on, and a
restart that switches it is refused. An entry is written to a temporary folder and renamed, so a killed run or
two runs meshing the same cell at once leave no half entry. The packings of the cells are kept in the same folder
(``DIR/packings``, :mod:`microsim.geometry.packing_store`), so a hit skips the packing search too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dolfinx_solver  # noqa: F401  (must precede dolfinx)

import dolfinx
import numpy as np
from mpi4py import MPI

from microsim.errors import GeometryError, MicrosimError
from microsim.geometry import GeometryDescription
from microsim.mesh import CellMesh, from_tagged_mesh

__all__ = ["MESH_CACHE_FORMAT", "cached_cell_mesh", "mesh_key"]

#: Version of the entry layout and of what decides a mesh; raise it when the Gmsh model builder changes.
MESH_CACHE_FORMAT = 1
_MESH = "mesh.xdmf"
_INFO = "info.json"
#: Statistics that vary from run to run without changing the geometry (timings of the packing search).
_VOLATILE = ("packing",)


def _plain(value: Any) -> Any:
    """JSON-able copy (NumPy arrays and scalars to lists and numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def mesh_key(desc: GeometryDescription) -> str:
    """The cache key of a geometry: a hash of its statistics and of the versions that decide its mesh."""
    import gmsh

    stats = {k: v for k, v in desc.stats().items() if k not in _VOLATILE}
    stats["mesh_size_um"] = desc.mesh_size_um
    stats["interface_mesh_size_um"] = desc.interface_mesh_size_um
    stats["spot_mesh_level"] = desc.spot_mesh_level
    stats["versions"] = {"format": MESH_CACHE_FORMAT, "gmsh": gmsh.__version__, "dolfinx": dolfinx.__version__}
    text = json.dumps(_plain(stats), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read(comm: MPI.Comm, entry: Path, geometric_area_um: float, top_um: float) -> CellMesh:
    with dolfinx.io.XDMFFile(comm, str(entry / _MESH), "r") as xdmf:
        msh = xdmf.read_mesh(ghost_mode=dolfinx.mesh.GhostMode.shared_facet, name="mesh")
        tdim = msh.topology.dim
        msh.topology.create_connectivity(tdim - 1, tdim)
        cell_tags = xdmf.read_meshtags(msh, name="cell_tags")
        facet_tags = xdmf.read_meshtags(msh, name="facet_tags")
    info = json.loads((entry / _INFO).read_text()) if comm.rank == 0 else None
    return from_tagged_mesh(msh, cell_tags, facet_tags, geometric_area_um, top_um, comm.bcast(info, root=0))


def _write(cm: CellMesh, entry: Path) -> None:
    """Write the serial ``cm`` as the entry ``entry``: into a temporary folder, then renamed (rank 0 only)."""
    tmp = entry.parent / f".{entry.name}.{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    cm.cell_tags.name, cm.facet_tags.name = "cell_tags", "facet_tags"
    with dolfinx.io.XDMFFile(MPI.COMM_SELF, str(tmp / _MESH), "w") as xdmf:
        xdmf.write_mesh(cm.mesh)
        xdmf.write_meshtags(cm.cell_tags, cm.mesh.geometry)
        xdmf.write_meshtags(cm.facet_tags, cm.mesh.geometry)
    (tmp / _INFO).write_text(json.dumps(_plain(cm.info), indent=1))
    try:
        os.rename(tmp, entry)
    except OSError:  # another run wrote the same entry meanwhile: keep that one
        shutil.rmtree(tmp, ignore_errors=True)


def cached_cell_mesh(
    desc: GeometryDescription,
    comm: MPI.Comm,
    cache_dir: str | os.PathLike[str],
    build: Callable[[MPI.Comm], CellMesh],
) -> CellMesh:
    """The cell mesh of ``desc`` from the cache ``cache_dir``, meshed by ``build(MPI.COMM_SELF)`` on rank 0 if absent.

    ``info["mesh_cache"]`` says what happened: ``{"key", "entry", "status": "hit" | "written", "time_read_s"}``.
    A meshing failure on rank 0 is raised on every rank.
    """
    key = mesh_key(desc)
    entry = Path(cache_dir) / key
    area = desc.width_um ** (desc.dim - 1)
    hit = comm.bcast((entry / _INFO).is_file() if comm.rank == 0 else None, root=0)
    built_info: dict[str, object] = {}
    if not hit:
        error: str | None = None
        if comm.rank == 0:
            try:
                built = build(MPI.COMM_SELF)
                built_info = dict(built.info)
                _write(built, entry)
                del built
            except MicrosimError as exc:
                error = str(exc)
        error = comm.bcast(error, root=0)
        if error is not None:
            raise GeometryError(error)
        built_info = comm.bcast(_plain(built_info), root=0)
    t0 = time.perf_counter()
    cm = _read(comm, entry, area, desc.total_thickness_um)
    if hit:  # the meshing timings of the run that wrote the entry do not belong to this run
        for k in [k for k in cm.info if k.startswith("time_")]:
            cm.info[f"cached_{k}"] = cm.info.pop(k)
    else:
        cm.info.update({k: v for k, v in built_info.items() if k.startswith("time_")})
    cm.info["mesh_cache"] = {
        "key": key,
        "entry": str(entry),
        "status": "hit" if hit else "written",
        "time_read_s": time.perf_counter() - t0,
    }
    return cm
