"""Studies: each turns a validated config into outputs (``summary.json`` and friends).

The CLI imports these lazily; they need DOLFINx. One module per study kind, each a
:class:`~microsim.studies.base.Study` registered in :data:`microsim.config.STUDY_REGISTRY`; the shared stages are in
:mod:`microsim.studies.base`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpi4py import MPI

from microsim.config import STUDY_KINDS

if TYPE_CHECKING:
    from microsim.config import Config

#: The registered study kinds (:data:`microsim.config.STUDY_REGISTRY`).
STUDIES = STUDY_KINDS


def run_study(cfg: Config, out_dir: Path | None, comm: MPI.Comm, restart: bool = False) -> dict[str, Any]:
    """Run the study named in ``cfg.study.kind`` (see :func:`microsim.studies.base.run_study`)."""
    from microsim.studies.base import run_study as run

    return run(cfg, out_dir, comm, restart)


def build_mesh_only(cfg: Config, out_dir: Path, comm: MPI.Comm) -> dict[str, Any]:
    """Build the geometry and mesh; write ``geometry.json``, ``mesh.xdmf`` (cell and facet tags), ``geometry.png``."""
    import dolfinx

    from microsim.studies.base import StudyContext
    from microsim.studies.common import draw_picture

    ctx = StudyContext.prepare(cfg, comm, Path(out_dir))
    cm, rec = ctx.cm, ctx.geometry
    ctx.write_json("geometry.json", rec)
    with dolfinx.io.XDMFFile(comm, str(Path(out_dir) / "mesh.xdmf"), "w") as xf:
        xf.write_mesh(cm.mesh)
        cm.mesh.topology.create_connectivity(cm.dim - 1, cm.dim)
        xf.write_meshtags(cm.cell_tags, cm.mesh.geometry)
        xf.write_meshtags(cm.facet_tags, cm.mesh.geometry)

    def draw(out: Path) -> None:
        from microsim.post.geometry_plot import render_geometry_png

        render_geometry_png(out.with_name("geometry.json"), out)

    # the mesh command always draws its picture (it is what one looks at first), whatever output.png says
    picture = Path(out_dir) / "geometry.png"
    draw_picture(comm, "geometry.png", lambda: draw(picture))
    if comm.rank == 0:
        print(
            f"mesh: {rec['mesh']['n_cells_by_phase']['total']} cells, "
            f"{rec.get('n_particles')} particles, active fraction {rec.get('active_fraction')}: {out_dir}"
        )
    return rec


def run_demo(out_dir: Path, comm: MPI.Comm, configs: list[Config]) -> None:
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
