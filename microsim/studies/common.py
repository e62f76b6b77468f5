"""Stages shared by every study: geometry description, distributed mesh, output fields."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import dolfinx_solver  # noqa: F401

import dolfinx
import numpy as np
from mpi4py import MPI

from microsim.field_output import write_fields_xdmf
from microsim.geometry import GeometryDescription, build_model, describe
from microsim.mesh import CellMesh, from_gmsh
from microsim.physics.model import CellModel


def describe_geometry(cfg: Any) -> GeometryDescription:
    """Geometry description from the config (NumPy only, identical on every rank: no communication)."""
    return describe(cfg.geometry)


def build_cell_mesh(desc: GeometryDescription, comm: MPI.Comm) -> CellMesh:
    """Mesh the description with Gmsh on rank 0 and distribute it with shared-facet ghosting."""
    area = desc.width_um ** (desc.dim - 1)
    return from_gmsh(comm, lambda: build_model(desc), desc.dim, area, desc.total_thickness_um)


def geometry_record(desc: GeometryDescription, cm: CellMesh) -> dict[str, Any]:
    """``geometry.json``: the description's statistics merged with what Gmsh measured."""
    rec = dict(desc.stats())
    rec["mesh"] = {k: v for k, v in cm.info.items() if not isinstance(v, np.ndarray)}
    rec["mesh"]["n_cells_by_phase"] = cm.count_cells()
    return rec


def stage(cfg: Any, comm: MPI.Comm) -> tuple[Any, GeometryDescription, CellMesh, Timer]:
    """First stages of every steady study: parameters, geometry description, distributed mesh.

    The parameters and the description validate the input identically on every rank before any collective
    call; the returned timer already holds ``mesh_s``.
    """
    from microsim.parameters import resolve

    timer = Timer()
    params = resolve(cfg)
    desc = describe_geometry(cfg)
    t = time.perf_counter()
    cm = build_cell_mesh(desc, comm)
    timer.add("mesh_s", time.perf_counter() - t)
    return params, desc, cm, timer


def run_header(study: str, desc: GeometryDescription, params: Any, cm: CellMesh) -> dict[str, Any]:
    """The keys every study's ``summary.json`` starts with (what was run, on what, how big, where)."""
    return {
        "study": study,
        "interface": desc.interface,
        "geometry_kind": desc.kind,
        "dim": desc.dim,
        "temperature_C": params.temperature_K - 273.15,
        "electrolyte": params.electrolyte.name,
        "electrolyte_model": params.electrolyte.model,
        "n_cells": cm.count_cells()["total"],
        "n_ranks": cm.comm.size,
    }


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
    theta = dolfinx.fem.Function(model.V_p, name="theta")
    theta.x.array[:] = model.theta.x.array
    return {"electrolyte": e, "particles": [phi_s, theta]}


def write_fields(cfg: Any, model: CellModel, out_dir: Path, title: str) -> None:
    """XDMF fields (collective) and, on rank 0, a PNG rendered from those files."""
    comm = model.cm.comm
    if not cfg.output.xdmf:
        return
    write_fields_xdmf(comm, out_dir, physical_fields(model))
    if cfg.output.png:
        err = None
        if comm.rank == 0:
            try:
                from microsim.post.render import render_fields_png

                render_fields_png(out_dir / "fields", out_dir / "fields.png", title=title)
            except Exception as exc:  # a picture must never cost the results
                err = f"{type(exc).__name__}: {exc}"
        err = comm.bcast(err, root=0)
        if err and comm.rank == 0:
            print(f"microsim: warning: fields.png not written ({err})")


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
