"""Studies: each turns a validated config into outputs (``summary.json`` and friends).

The CLI imports these lazily; they need DOLFINx.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mpi4py import MPI

from microsim import outputs
from microsim.errors import ConfigError

STUDIES = ("resistance", "impedance", "discharge", "rate", "effective")


def run_study(cfg: Any, out_dir: Path, comm: MPI.Comm, restart: bool = False) -> dict[str, Any]:
    """Run the study named in ``cfg.study.kind``; outputs go to ``out_dir``.

    Args:
        cfg: validated configuration.
        out_dir: output folder.
        comm: communicator.
        restart: discharge and rate studies continue from the checkpoints in ``out_dir`` (``microsim run
            --restart``); the steady studies (resistance, impedance, effective) ignore it.
    """
    kind = cfg.study.kind
    if kind == "resistance":
        from microsim.studies.resistance import run_resistance

        return run_resistance(cfg, Path(out_dir), comm)
    if kind == "impedance":
        from microsim.studies.impedance import run_impedance

        return run_impedance(cfg, Path(out_dir), comm)
    if kind == "discharge":
        from microsim.studies.discharge import run_discharge

        return run_discharge(cfg, Path(out_dir), comm, restart=restart)
    if kind == "rate":
        from microsim.studies.rate import run_rate

        return run_rate(cfg, Path(out_dir), comm, restart=restart)
    if kind == "effective":
        from microsim.studies.effective import run_effective

        return run_effective(cfg, Path(out_dir), comm)
    raise ConfigError(f"study.kind = {kind!r}: not available (allowed: {', '.join(STUDIES)})")


def build_mesh_only(cfg: Any, out_dir: Path, comm: MPI.Comm) -> dict[str, Any]:
    """Build the geometry and mesh; write ``geometry.json`` and ``mesh.xdmf`` (cell and facet tags)."""
    import dolfinx

    from microsim.studies.common import build_cell_mesh, describe_geometry, geometry_record

    desc = describe_geometry(cfg)
    cm = build_cell_mesh(desc, comm)
    out_dir = Path(out_dir)
    if comm.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    rec = geometry_record(desc, cm)
    outputs.write_json(comm, out_dir / "geometry.json", rec)
    with dolfinx.io.XDMFFile(comm, str(out_dir / "mesh.xdmf"), "w") as xf:
        xf.write_mesh(cm.mesh)
        cm.mesh.topology.create_connectivity(cm.dim - 1, cm.dim)
        xf.write_meshtags(cm.cell_tags, cm.mesh.geometry)
        xf.write_meshtags(cm.facet_tags, cm.mesh.geometry)
    err = None
    if comm.rank == 0:
        try:
            from microsim.post.geometry_plot import render_geometry_png

            render_geometry_png(out_dir / "geometry.json", out_dir / "geometry.png")
        except Exception as exc:  # a picture must never cost the mesh
            err = f"{type(exc).__name__}: {exc}"
    err = comm.bcast(err, root=0)
    if err and comm.rank == 0:
        print(f"microsim: warning: geometry.png not written ({err})")
    if comm.rank == 0:
        print(
            f"mesh: {rec['mesh']['n_cells_by_phase']['total']} cells, "
            f"{rec.get('n_particles')} particles, active fraction {rec.get('active_fraction')}: {out_dir}"
        )
    return rec


def run_demo(out_dir: Path, comm: MPI.Comm, configs: list[Any]) -> None:
    """Run the default case for each interface and print the resistance table with the ratio."""
    from microsim.post.tables import breakdown_table, format_breakdown

    summaries: dict[str, dict[str, Any]] = {}
    for cfg in configs:
        label = cfg.geometry.interface
        if comm.rank == 0:
            print(f"microsim demo: {label} ...", flush=True)
        summaries[label] = run_study(cfg, Path(out_dir) / label, comm)
        if comm.rank == 0:
            s = summaries[label]
            print(
                f"  {s['n_cells']} cells, {s['n_dofs']} dofs, {s['wall_time_s']:.1f} s, "
                f"R_total = {s['resistance_ohm_cm2']['total']:.4g} Ω·cm²",
                flush=True,
            )
    if comm.rank == 0:
        print()
        print(format_breakdown(breakdown_table(summaries)))
        print(f"\nOutputs (summary.json, geometry.json, fields/*.xdmf, fields.png): {out_dir}")
