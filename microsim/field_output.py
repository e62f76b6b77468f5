"""XDMF field output of a run (``fields/<group>.xdmf`` + ``.h5``): collective, atomic, checked for NaN first.

Kept apart from :mod:`microsim.outputs` because it needs DOLFINx, which post-processing must not import.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import dolfinx_solver  # noqa: F401

import numpy as np
from dolfinx.io import XDMFFile

from microsim.outputs import collective_check, fsync_dir, run_on_root

if TYPE_CHECKING:  # pragma: no cover - typing only
    from dolfinx.fem import Function
    from mpi4py import MPI

FIELDS_DIRNAME = "fields"


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
    fsync_dir(dst.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


#: Room kept beside the estimated size of the field files (XML, HDF5 metadata) [bytes] and the relative margin.
_SPACE_SLACK_BYTES, _SPACE_MARGIN = 256 * 1024, 1.25


def _check_space(comm: MPI.Comm, where: Path, groups: Mapping[str, Sequence[Function]], final_dir: Path) -> None:
    """Refuse, on every rank, to start HDF5 writes that cannot fit: HDF5 can abort the process when a disk fills.

    Raises:
        OSError: ``ENOSPC`` naming ``where``, the estimated size and the free space.
    """
    local = 0
    for functions in groups.values():
        mesh = functions[0].function_space.mesh
        tdim = mesh.topology.dim
        cells = mesh.topology.index_map(tdim).size_local
        local += mesh.geometry.x.shape[0] * 3 * 8 + cells * mesh.geometry.dofmaps[0].shape[1] * 8
        local += sum(f.x.array.size * 8 for f in functions)
    needed = comm.allreduce(local) * _SPACE_MARGIN + _SPACE_SLACK_BYTES
    free = comm.bcast(shutil.disk_usage(where).free if comm.rank == 0 else None, root=0)
    if needed > free:
        raise OSError(
            errno.ENOSPC,
            f"No space left: the fields need about {needed / 1e6:.3g} MB, {free / 1e6:.3g} MB are free "
            "(output.xdmf = false writes none)",
            str(final_dir),
        )


def write_fields_xdmf(
    comm: MPI.Comm | None,
    out_dir: str | os.PathLike[str],
    groups: Mapping[str, Sequence[Function]],
    time: float = 0.0,
    dirname: str = FIELDS_DIRNAME,
    grid_names: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Write groups of P1 functions to ``out_dir/<dirname>/<group>.xdmf`` (+ ``.h5``); collective.

    Each group holds functions on one (sub)mesh, e.g. ``{"particles": [theta, phi_s_V], "electrolyte":
    [c_mol_m3, phi_e_V]}``; the mesh of the first function is written once, then every function under its
    ``name``. Files go to ``out_dir/.<dirname>.tmp`` first; after all ranks have closed them, rank 0 renames
    that folder to ``out_dir/<dirname>`` (replacing an older one). The ``.xdmf`` refers to its ``.h5`` by
    relative name, so the rename keeps them valid. ParaView opens the ``.xdmf`` (reader ``Xdmf3ReaderS``).

    Args:
        comm: the communicator of the meshes (every rank must call this function).
        out_dir: run output folder.
        groups: group name -> list of ``dolfinx.fem.Function`` on the same mesh (P1, scalar or vector).
        time: time value stored with the functions [s].
        dirname: the folder under ``out_dir`` (``fields`` by default), replaced as a whole.
        grid_names: group -> the name of its file's grid (default ``t = <time> s``), e.g. a frequency.

    Returns:
        Group name -> path of the final ``.xdmf`` file.

    Raises:
        SolutionError: on every rank, if a function holds NaN/Inf (nothing is written).
        ValueError: if a group is empty, mixes meshes, or repeats a function name.
        OSError: the files cannot be written (a full or read-only folder); the previous ``fields/`` stays.
    """
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
    collective_check(comm, {key: float("nan") for key in bad}, str(out_dir / dirname))

    tmp_dir = out_dir / f".{dirname}.tmp"
    final_dir = out_dir / dirname

    def _prepare() -> None:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir)  # leftover of an interrupted run
        tmp_dir.mkdir(parents=True)

    run_on_root(comm, _prepare)
    _check_space(comm, tmp_dir, groups, final_dir)

    paths: dict[str, Path] = {}
    for group, functions in groups.items():
        mesh = functions[0].function_space.mesh
        target = tmp_dir / f"{group}.xdmf"
        try:
            with XDMFFile(comm, str(target), "w") as xdmf:
                xdmf.write_mesh(mesh)
                for f in functions:
                    xdmf.write_function(f, float(time))
        except RuntimeError as exc:  # HDF5 says only "failed to write": name the place and its free space
            free = shutil.disk_usage(tmp_dir).free
            raise OSError(errno.EIO, f"HDF5 write failed ({exc}; {free} bytes free there)", str(target)) from exc
        paths[group] = final_dir / f"{group}.xdmf"

    # All ranks have closed their files (XDMFFile close is collective); now rank 0 renames the folder.
    comm.barrier()

    def _finish() -> None:
        for group in groups:
            single_grid(tmp_dir / f"{group}.xdmf", None if grid_names is None else grid_names.get(group))
        _replace_dir(tmp_dir, final_dir)

    run_on_root(comm, _finish)
    return paths


def single_grid(path: Path, name: str | None = None) -> None:
    """Rewrite a one-state DOLFINx XDMF file as one grid holding every function (serial; the HDF5 is untouched).

    DOLFINx writes the mesh as one grid and each function as a temporal collection of its own, which
    ``meshio.read`` refuses ("only supports one grid"). One uniform grid with the topology, the geometry and one
    attribute per function (the time in its name, ``t = 33579 s``) is plain XDMF that ParaView, VTK and meshio
    all read.
    """
    import xml.etree.ElementTree as ET

    tree = ET.parse(path)
    domain = tree.getroot().find("Domain")
    if domain is None:
        return
    grids = domain.findall("Grid")
    mesh = next((g for g in grids if g.get("GridType") == "Uniform"), None)
    collections = [g for g in grids if g.get("GridType") == "Collection"]
    if mesh is None or not collections:
        return
    times = set()
    for coll in collections:
        steps = coll.findall("Grid")
        if len(steps) != 1:
            return  # a time series: left as DOLFINx wrote it
        for t in steps[0].findall("Time"):
            times.add(t.get("Value"))
        mesh.extend(steps[0].findall("Attribute"))
        domain.remove(coll)
    if name is not None:
        mesh.set("Name", name)
    elif len(times) == 1:  # meshio refuses a <Time> in a uniform grid: the time goes into the grid's name
        mesh.set("Name", f"t = {times.pop()} s")
    tmp = path.with_name(f".{path.name}.tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)


def merge_time_series(path: Path) -> int:
    """Rewrite a DOLFINx XDMF time series as one temporal collection of steps (serial; the HDF5 is untouched).

    DOLFINx writes a mesh grid, then one temporal collection per function whose steps ``xi:include`` the mesh.
    ``meshio.xdmf.TimeSeriesReader`` reads one collection (the last), so it saw one field of the series, and
    VTK's XDMF reader crashed on the includes. Here each time becomes one uniform grid with the topology, the
    geometry (the same HDF5 datasets, referenced again) and every function at that time, in a single temporal
    collection: the plain XDMF time series that ParaView, VTK and meshio all read.

    Returns:
        The number of time steps (0: the file was not a DOLFINx series and is left as it was).
    """
    import copy
    import xml.etree.ElementTree as ET

    tree = ET.parse(path)
    domain = tree.getroot().find("Domain")
    if domain is None:
        return 0
    grids = domain.findall("Grid")
    mesh = next((g for g in grids if g.get("GridType") == "Uniform"), None)
    collections = [g for g in grids if g.get("CollectionType") == "Temporal"]
    topology = None if mesh is None else mesh.find("Topology")
    geometry = None if mesh is None else mesh.find("Geometry")
    if mesh is None or topology is None or geometry is None or not collections:
        return 0
    steps: dict[str, ET.Element] = {}  # time value (as written) -> its grid, in the order first seen
    for coll in collections:
        for grid in coll.findall("Grid"):
            time = grid.find("Time")
            if time is None:
                return 0
            value = str(time.get("Value"))
            step = steps.get(value)
            if step is None:
                step = ET.Element("Grid", {"Name": f"t = {value} s", "GridType": "Uniform"})
                step.extend([copy.deepcopy(topology), copy.deepcopy(geometry), copy.deepcopy(time)])
                steps[value] = step
            step.extend(grid.findall("Attribute"))
    for grid in grids:
        domain.remove(grid)
    series = ET.SubElement(domain, "Grid", {"Name": "fields", "GridType": "Collection", "CollectionType": "Temporal"})
    series.extend(steps.values())
    ET.indent(tree)
    tmp = path.with_name(f".{path.name}.tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)
    return len(steps)


__all__ = ["FIELDS_DIRNAME", "merge_time_series", "single_grid", "write_fields_xdmf"]
