"""Benchmark of the resistance study on the bundled 2D default case: mesh, assembly, solve, memory.

Runs every (interface, mesh size, ranks) combination as its own ``mpiexec`` job and writes one JSON file with
sizes, ranks, times and peak memory, next to a scalar Poisson solve (P1, same parent mesh, same LU) as the
yardstick. Usage (from the project root)::

    .venv/bin/python benchmarks/bench_resistance.py --out benchmarks/results
"""

from __future__ import annotations

import argparse
import resource
import time

from _driver import ROOT, emit, poisson_yardstick, run_cases, write_results


def worker(interface: str, mesh_size: float) -> None:
    """Run inside mpiexec: one case, one JSON line on rank 0's stdout."""
    import dolfinx_solver  # noqa: F401

    from mpi4py import MPI

    from microsim import config
    from microsim.parameters import resolve
    from microsim.physics.model import CellModel, ModelOptions
    from microsim.solver import BorderedNewton
    from microsim.studies.common import build_cell_mesh, describe_geometry, n_dofs
    from microsim.studies.resistance import DEFAULT_CURRENT_A_M2, solve_steady

    comm = MPI.COMM_WORLD
    cfg = config.load(
        ROOT / "geometries" / "default-2d.toml",
        [f"geometry.interface={interface}", f"geometry.mesh_size_um={mesh_size}"],
    )
    params = resolve(cfg)
    desc = describe_geometry(cfg)
    comm.barrier()
    t0 = time.perf_counter()
    cm = build_cell_mesh(desc, comm)
    t_mesh = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = CellModel(cm, params, ModelOptions(binary=True, transient=False))
    solver = BorderedNewton(model)
    t_setup = time.perf_counter() - t0
    model.current_density.value = DEFAULT_CURRENT_A_M2
    model.current_ref.value = DEFAULT_CURRENT_A_M2
    comm.barrier()
    t0 = time.perf_counter()
    reports = solve_steady(model, solver, True, desc.total_thickness_um * 1e-6)
    t_solve = time.perf_counter() - t0
    its = sum(r.iterations for r in reports)

    # yardstick: scalar Poisson on the parent mesh, same LU
    poisson = poisson_yardstick(cm.mesh, comm)
    t_p_setup, t_poisson, poisson_dofs = poisson["setup_s"], poisson["solve_s"], int(poisson["n_dofs"])

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    rec = {
        "interface": interface,
        "mesh_size_um": mesh_size,
        "n_ranks": comm.size,
        "n_cells": cm.count_cells()["total"],
        "n_dofs": n_dofs(model),
        "newton_iterations": its,
        "time_mesh_s": comm.allreduce(t_mesh, op=MPI.MAX),
        "time_gmsh_s": cm.info.get("time_gmsh_s"),
        "time_setup_compile_s": comm.allreduce(t_setup, op=MPI.MAX),
        "time_solve_total_s": comm.allreduce(t_solve, op=MPI.MAX),
        "time_assembly_s": comm.allreduce(sum(r.time_assemble_s for r in reports), op=MPI.MAX),
        "time_linear_solve_s": comm.allreduce(sum(r.time_solve_s for r in reports), op=MPI.MAX),
        "time_per_newton_iteration_s": comm.allreduce(t_solve / max(its, 1), op=MPI.MAX),
        "poisson_n_dofs": poisson_dofs,
        "poisson_setup_s": comm.allreduce(t_p_setup, op=MPI.MAX),
        "poisson_solve_s": comm.allreduce(t_poisson, op=MPI.MAX),
        "peak_rss_mb_max_rank": comm.allreduce(rss_mb, op=MPI.MAX),
        "peak_rss_mb_sum": comm.allreduce(rss_mb, op=MPI.SUM),
    }
    # per dof: one coupled Newton iteration (assembly + 2 LU solves + bordering) vs one Poisson assemble + LU solve
    rec["newton_iteration_vs_poisson_solve_per_dof"] = (rec["time_per_newton_iteration_s"] / rec["n_dofs"]) / (
        rec["poisson_solve_s"] / poisson_dofs
    )
    emit(comm, rec)


def main() -> int:
    """Drive the worker over the matrix of cases and write the JSON file."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--sizes", default="0.2,0.1", help="mesh sizes in µm")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--interfaces", default="filled,point-contact")
    ap.add_argument("--worker", nargs=2, metavar=("INTERFACE", "MESH_SIZE"))
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], float(args.worker[1]))
        return 0
    cases = [
        ({"interface": i, "mesh_size_um": float(h)}, [i, h], int(n))
        for i in args.interfaces.split(",")
        for h in args.sizes.split(",")
        for n in args.ranks.split(",")
    ]
    results = run_cases(__file__, cases, timeout=1800)
    write_results(args.out, "resistance_2d", "resistance study, 2D default case (PPAL, 30 °C), MUMPS LU", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
