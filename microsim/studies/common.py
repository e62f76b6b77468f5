"""Helpers shared by the studies: geometry description, distributed mesh, output fields, pictures, timing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dolfinx_solver  # noqa: F401

import dolfinx
import numpy as np
from mpi4py import MPI

from microsim import resources
from microsim.config import contact_settings
from microsim.errors import ResourceError
from microsim.field_output import write_fields_xdmf
from microsim.geometry import GeometryDescription, build_model, describe
from microsim.mesh import CellMesh, from_gmsh
from microsim.mesh_cache import cached_cell_mesh
from microsim.physics.model import CellModel

if TYPE_CHECKING:
    from microsim.config import Config


def describe_geometry(cfg: Config) -> GeometryDescription:
    """Geometry description from the config (NumPy only, identical on every rank: no communication).

    With ``output.mesh_cache`` the packing is kept there too and read back by later runs
    (:mod:`microsim.geometry.packing_store`).
    """
    return describe(cfg.geometry, contact_settings(cfg), cfg.output.mesh_cache or None)


def check_memory(desc: GeometryDescription, study: str, comm: MPI.Comm) -> None:
    """Refuse, on every rank, a run whose estimated peak memory exceeds what its nodes have (collective).

    Each node's ranks share its available memory (:mod:`microsim.resources`); nothing is refused when the
    guard is overridden (``--force``) or the memory cannot be read.

    Raises:
        ResourceError: the estimate does not fit, with the figures and what to change.
    """
    est = resources.estimate(desc, study, comm.size)
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        ranks_on_node = node.size
        available = resources.available_memory_mb() if node.rank == 0 else None
        message = resources.refusal(est, ranks_on_node, available) if node.rank == 0 else None
    finally:
        node.Free()
    found = [m for m in comm.allgather(message) if m]
    if found and not resources.forced():
        raise ResourceError(found[0])


def build_cell_mesh(desc: GeometryDescription, comm: MPI.Comm, cache_dir: str | Path | None = None) -> CellMesh:
    """Mesh the description with Gmsh on rank 0 and distribute it with shared-facet ghosting.

    With ``cache_dir`` (``output.mesh_cache``) the mesh is read from the cache, or meshed and written there first
    (:mod:`microsim.mesh_cache`).
    """
    area = desc.width_um ** (desc.dim - 1)

    def mesh(on: MPI.Comm) -> CellMesh:
        return from_gmsh(on, lambda report: build_model(desc, report), desc.dim, area, desc.total_thickness_um)

    return cached_cell_mesh(desc, comm, cache_dir, mesh) if cache_dir else mesh(comm)


def geometry_record(desc: GeometryDescription, cm: CellMesh) -> dict[str, Any]:
    """``geometry.json``: the description's statistics merged with what Gmsh measured."""
    rec = dict(desc.stats())
    rec["mesh"] = {k: v for k, v in cm.info.items() if not isinstance(v, np.ndarray)}
    rec["mesh"]["n_cells_by_phase"] = cm.count_cells()
    cbd = cm.info.get("cbd")
    if isinstance(cbd, dict) and isinstance(rec.get("cbd"), dict):
        rec["cbd"].update(cbd)  # the fraction Gmsh measured and the electronic connectivity beside the layout
        # Γ is what the electrolyte wets: the particle surface minus what the binder covers, as Gmsh measured it
        # (the description's values are the bare particle surface, kept beside it)
        layer_um3 = desc.width_um ** (desc.dim - 1) * desc.cathode_thickness_um
        for key in ("interface_length_um", "interface_area_um2"):
            measured = cm.info.get(key)
            if isinstance(measured, float):
                rec["cbd"][f"bare_{key}"] = rec.get(key)
                rec[key] = measured
        if isinstance(rec.get("interface_area_um2"), float):
            rec["specific_interface_area_m2_m3"] = rec["interface_area_um2"] / layer_um3 * 1.0e6
    return rec


def physical_fields(model: CellModel) -> dict[str, list[dolfinx.fem.Function]]:
    """Copies of the solution in physical units, named for ParaView, grouped by submesh."""
    p = model.params
    e: list[dolfinx.fem.Function] = []
    phi_e = dolfinx.fem.Function(model.V_e, name="phi_e_V")
    phi_e.x.array[:] = model.fields["phi_e"].x.array
    e.append(phi_e)
    c = dolfinx.fem.Function(model.V_e, name="c_mol_m3")
    c_rel = model.fields["c"].x.array if "c" in model.fields else 1.0
    c.x.array[:] = p.electrolyte.concentration_mol_m3 * c_rel
    e.append(c)
    phi_s = dolfinx.fem.Function(model.V_p, name="phi_s_V")
    phi_s.x.array[:] = float(model.V.value) + model.fields["phi_s"].x.array
    theta = dolfinx.fem.Function(model.V_theta, name="theta")
    theta.x.array[:] = model.theta.x.array
    if model.has_cbd:  # φ_s on the solid (particles and CBD), θ on the particles: two submeshes
        return {"electrolyte": e, "particles": [theta], "solid": [phi_s]}
    return {"electrolyte": e, "particles": [phi_s, theta]}


def write_fields(cfg: Config, model: CellModel, out_dir: Path, title: str, time_s: float = 0.0) -> None:
    """XDMF fields stamped with ``time_s`` (collective) and, on rank 0, a PNG rendered from those files."""
    comm = model.cm.comm
    if not cfg.output.xdmf:
        return
    write_fields_xdmf(comm, out_dir, physical_fields(model), time=time_s)
    if cfg.output.png:
        draw_picture(comm, "fields.png", lambda: _render_fields(out_dir, title))


def _render_fields(out_dir: Path, title: str) -> None:
    from microsim.post.render import render_fields_png  # PyVista: only when a picture is drawn

    render_fields_png(out_dir / "fields", out_dir / "fields.png", title=title)


def n_dofs(model: CellModel) -> int:
    """Global number of unknowns, the cell voltage included."""
    total = 1
    for f in model.unknowns:
        im = f.function_space.dofmap.index_map
        total += im.size_global * f.function_space.dofmap.index_map_bs
    return total


class Timer:
    """Wall-clock sections, reported in ``summary.json``."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.sections: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        """Accumulate a section."""
        self.sections[name] = self.sections.get(name, 0.0) + seconds

    def total(self) -> float:
        """Seconds since construction."""
        return time.perf_counter() - self.t0


def draw_picture(comm: MPI.Comm, what: str, draw: Callable[[], object]) -> bool:
    """Draw a picture on rank 0; a failure there is a warning, never an error.

    A picture must never cost the results. Collective: every rank learns the outcome.

    Args:
        comm: communicator of the run.
        what: the picture, for the warning (e.g. ``"fields.png"``).
        draw: the drawing (runs on rank 0 only; must not communicate).

    Returns:
        Whether it was drawn.
    """
    err = None
    if comm.rank == 0:
        try:
            draw()
        except Exception as exc:  # any plotting failure, by design
            err = f"{type(exc).__name__}: {exc}"
    err = comm.bcast(err, root=0)
    if err and comm.rank == 0:
        print(f"microsim: warning: {what} not written ({err})", flush=True)
    return err is None


def make_out_dir(comm: MPI.Comm, path: Path) -> Path:
    """Create an output folder on rank 0; every rank returns after it exists (collective)."""
    if comm.rank == 0:
        path.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    return path
