"""The paper's cell at full size in 3D (issue 15): meshing and the DC resistance of both interfaces.

The bundled paper configurations (``geometries/paper-cathode-supported-3d.toml``, ``paper-conventional-3d.toml``:
cathode 11.2 µm, membrane 9.5 µm, r = 0.5 ± 0.1 µm, mesh 0.5 µm, 0.25 µm on Γ) with the patch widened to the
full ``--width`` (10 µm: about a thousand particles). Every case is its own ``mpiexec`` job:

- ``mesh`` (1 rank; Gmsh runs on rank 0 anyway): packing, the Gmsh split (OCC model and classification, size
  fields, 1D-3D meshing, failed attempts), distribution, cells, attempts, peak memory;
- ``rate`` (2 ranks; ``--rate-interfaces``, filled by default): the rate study 0.1 / 0.2 / 0.5 / 1C from the charged
  end (stoichiometry 0.01), the defaults of a user's run (BDF2, voltage step control, the two-level solver). Per
  C-rate: capacity, end, steps, Newton and Krylov iterations, wall time; the mesh split and peak memory.
- ``resistance`` (1 and 2 ranks): the steady DC solve. Time split into mesh / assembly / linear / other, Newton
  and Krylov iterations, peak memory per rank, and the yardstick: a P1 Poisson solve on the same parent mesh,
  assembled and solved with CG + GAMG (and with MUMPS), in the same job.
  ``newton_iteration_vs_poisson_per_dof_gamg`` is (Newton iteration time / coupled unknowns) over (Poisson time /
  Poisson unknowns).

Usage (from the project root)::

    .venv/bin/python benchmarks/bench_paper_scale.py --out benchmarks/results
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
from typing import Any

from _driver import ROOT, emit, run_cases, write_results
from bench_3d import steady_solve_record, timed_mesh

CONFIGS = {"filled": "paper-cathode-supported-3d.toml", "point-contact": "paper-conventional-3d.toml"}


def _config(interface: str, width: float, solver: str = "auto", seed: int = 0) -> Any:
    from microsim import config

    sets = [f"geometry.width_um={width}", f"solver.linear_solver={solver}", "output.png=false"]
    if seed:
        sets.append(f"geometry.seed={seed}")
    return config.load(ROOT / "geometries" / CONFIGS[interface], sets)


def _mesh(cfg: Any, comm: Any) -> tuple[Any, Any, dict[str, Any]]:
    desc, cm, t_pack, t_mesh = timed_mesh(cfg, comm)
    info = cm.info
    rec = {
        "n_particles": desc.n_particles,
        "width_um": cfg.geometry.width_um,
        "mesh_size_um": cfg.geometry.mesh_size_um,
        "interface_mesh_size_um": cfg.geometry.interface_mesh_size_um,
        "contact_model": cfg.contact.model,
        "n_cells": cm.count_cells()["total"],
        "n_vertices": cm.mesh.geometry.index_map().size_global,
        "meshing_attempts": info.get("meshing_attempts"),
        "time_packing_s": t_pack,
        "time_mesh_s": t_mesh,
        "time_gmsh_s": info.get("time_gmsh_s"),
        "time_gmsh_geometry_s": info.get("time_geometry_s"),
        "time_gmsh_size_fields_s": info.get("time_size_fields_s"),
        "time_gmsh_meshing_s": info.get("time_mesh_s"),
        "time_gmsh_failed_attempts_s": info.get("time_failed_attempts_s"),
        "time_distribute_s": info.get("time_distribute_s"),
    }
    if "mesh_cache" in info:
        rec["mesh_cache_time_read_s"] = info["mesh_cache"]["time_read_s"]
    return desc, cm, rec


def mesh_worker(interface: str, width: float, seed: int) -> None:
    """Packing and meshing of one full-size cell; one JSON line."""
    import dolfinx_solver  # noqa: F401

    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    _, _, rec = _mesh(_config(interface, width, seed=seed), comm)
    rec |= {"kind": "mesh", "interface": interface, "seed": seed or None, "n_ranks": comm.size}
    rec["peak_rss_mb_max_rank"] = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, op=MPI.MAX)
    emit(comm, rec)


def resistance_worker(interface: str, width: float, solver: str, seed: int) -> None:
    """Mesh, the steady DC solve, the Poisson yardsticks; one JSON line on rank 0."""
    import dolfinx_solver  # noqa: F401

    from mpi4py import MPI

    from microsim.parameters import resolve

    comm = MPI.COMM_WORLD
    cfg = _config(interface, width, solver, seed)
    params = resolve(cfg)
    desc, cm, rec = _mesh(cfg, comm)
    rec |= {"kind": "resistance", "interface": interface, "seed": seed or None}
    rec |= steady_solve_record(cm, params, desc, solver, "paper_poisson_")
    rec["time_total_s"] = rec["time_packing_s"] + rec["time_mesh_s"] + rec["time_setup_compile_s"] + rec["time_solve_s"]
    emit(comm, rec)


def rate_worker(interface: str, width: float, c_rates: str, seed: int) -> None:
    """Mesh and the rate study of one full-size cell (nothing written but the JSON line)."""
    import time

    import dolfinx_solver  # noqa: F401

    from mpi4py import MPI

    from microsim import config
    from microsim.studies.rate import run_rate

    comm = MPI.COMM_WORLD
    cache = comm.bcast(tempfile.mkdtemp(prefix="microsim-bench-cache-") if comm.rank == 0 else None, root=0)
    rates = [float(r) for r in c_rates.split(",")]
    cfg = config.replace(
        _config(interface, width, seed=seed),
        **{
            "study.kind": "rate",
            "study.c_rates": rates,
            "conditions.initial_stoichiometry": 0.01,
            "output.mesh_cache": cache,
        },
    )
    # packs and meshes into the cache (timed); the study then reads both back, as a sweep or a second run would
    _, cm, rec = _mesh(cfg, comm)
    del cm
    t0 = time.perf_counter()
    summary = run_rate(cfg, None, comm)
    wall = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    table = summary["rate"]
    rec |= {
        "kind": "rate",
        "interface": interface,
        "seed": seed or None,
        "n_ranks": comm.size,
        "time_scheme": cfg.study.time_scheme,
        "step_control": cfg.study.step_control,
        "c_rates": table["c_rates"],
        "capacity_mAh_g": table["capacity_mAh_g"],
        "end_reason": table["end_reason"],
        "time_steps": table["time_steps"],
        "newton_iterations": table["newton_iterations"],
        "krylov_iterations": table["krylov_iterations"],
        "wall_time_per_rate_s": table["wall_time_s"],
        "failed": table["failed"],
        "timings_s": summary["timings_s"],
        "time_study_s": wall,
        "peak_rss_mb_job_max_rank": comm.allreduce(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, op=MPI.MAX
        ),
    }
    if comm.rank == 0:
        shutil.rmtree(cache, ignore_errors=True)
    emit(comm, rec)


def main() -> int:
    """Run the matrix of cases and write the JSON file."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--width", type=float, default=10.0, help="patch width [µm] (10: the paper-size cell)")
    ap.add_argument("--interfaces", default="filled,point-contact")
    ap.add_argument("--kinds", default="mesh,resistance", help="mesh, resistance, rate (comma-separated)")
    ap.add_argument("--rate-interfaces", default="filled", help="interfaces of the rate cases")
    ap.add_argument("--c-rates", default="0.1,0.2,0.5,1", help="C-rates of the rate cases")
    ap.add_argument("--ranks", default="1,2", help="ranks of the resistance cases")
    ap.add_argument("--solver", default="auto")
    ap.add_argument("--seed", type=int, default=0, help="packing seed (0: the configuration's)")
    ap.add_argument("--name", default="paper_scale_3d", help="results file name (without .json)")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        if args.worker[0] == "mesh":
            mesh_worker(args.worker[1], float(args.worker[2]), int(args.worker[3]))
        elif args.worker[0] == "rate":
            rate_worker(args.worker[1], float(args.worker[2]), args.worker[3], int(args.worker[4]))
        else:
            resistance_worker(args.worker[1], float(args.worker[2]), args.worker[3], int(args.worker[4]))
        return 0
    kinds = args.kinds.split(",")
    cases: list[tuple[dict[str, Any], list[str], int]] = []
    for interface in args.interfaces.split(","):
        if "mesh" in kinds:
            worker = ["mesh", interface, str(args.width), str(args.seed)]
            cases.append(({"kind": "mesh", "interface": interface}, worker, 1))
        if "resistance" in kinds:
            for ranks in args.ranks.split(","):
                labels = {"kind": "resistance", "interface": interface}
                worker = ["resistance", interface, str(args.width), args.solver, str(args.seed)]
                cases.append((labels, worker, int(ranks)))
    if "rate" in kinds:
        for interface in args.rate_interfaces.split(","):
            worker = ["rate", interface, str(args.width), args.c_rates, str(args.seed)]
            cases.append(({"kind": "rate", "interface": interface}, worker, 2))
    results = run_cases(__file__, cases, timeout=4 * 3600)
    parts = {"mesh": "meshing", "resistance": "DC resistance, Poisson yardstick", "rate": "rate study, 2 ranks"}
    title = f"3D paper cell at full size ({args.width:g} µm wide): " + ", ".join(parts[k] for k in kinds if k in parts)
    write_results(args.out, args.name, title, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
