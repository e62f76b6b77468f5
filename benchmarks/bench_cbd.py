"""Benchmark of the cost of a resolved carbon-binder domain: the same cell with and without it.

Runs the resistance study's steady Newton solve on the 2D (or 3D) default case for every (CBD fraction,
placement, ranks) combination, each as its own ``mpiexec`` job, and writes one JSON file with cells by phase,
unknowns, Newton iterations, time per iteration, mesh time and peak memory, next to a scalar Poisson solve (P1,
same parent mesh, same LU) as the yardstick. Fraction 0 is the cell without CBD. Usage (from the project root)::

    .venv/bin/python benchmarks/bench_cbd.py --out benchmarks/results
    .venv/bin/python benchmarks/bench_cbd.py --dim 3 --ranks 2 --fractions 0,0.2 --placements coating
"""

from __future__ import annotations

import argparse
import resource
import time

from _driver import ROOT, emit, poisson_yardstick, run_cases, write_results


def worker(dim: int, fraction: float, placement: str) -> None:
    """Run inside mpiexec: one case, one JSON line on rank 0's stdout."""
    import dolfinx_solver  # noqa: F401

    from mpi4py import MPI

    from microsim import config
    from microsim.parameters import resolve
    from microsim.physics.model import CellModel, ModelOptions
    from microsim.solver import newton_from_config
    from microsim.studies.common import build_cell_mesh, describe_geometry, n_dofs
    from microsim.studies.resistance import DEFAULT_CURRENT_A_M2, solve_steady

    comm = MPI.COMM_WORLD
    cfg = config.load(
        ROOT / "geometries" / f"default-{dim}d.toml",
        [f"geometry.cbd_fraction={fraction}", f"geometry.cbd_placement={placement}"],
    )
    params = resolve(cfg)
    t0 = time.perf_counter()
    desc = describe_geometry(cfg)
    t_describe = time.perf_counter() - t0
    comm.barrier()
    t0 = time.perf_counter()
    cm = build_cell_mesh(desc, comm)
    t_mesh = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = CellModel(cm, params, ModelOptions(binary=True, transient=False))
    solver = newton_from_config(model, cfg.solver)
    t_setup = time.perf_counter() - t0
    model.current_density.value = DEFAULT_CURRENT_A_M2
    model.current_ref.value = DEFAULT_CURRENT_A_M2
    comm.barrier()
    t0 = time.perf_counter()
    reports = solve_steady(model, solver, True, desc.total_thickness_um * 1e-6)
    t_solve = time.perf_counter() - t0
    its = sum(r.iterations for r in reports)

    poisson = poisson_yardstick(cm.mesh, comm)
    t_poisson, poisson_dofs = poisson["solve_s"], int(poisson["n_dofs"])

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    cbd = cm.info.get("cbd")
    rec = {
        "dim": dim,
        "cbd_fraction": fraction,
        "cbd_placement": placement if fraction > 0 else None,
        "cbd_fraction_measured": cbd.get("fraction_measured") if isinstance(cbd, dict) else None,
        "n_ranks": comm.size,
        "n_cells": cm.count_cells()["total"],
        "n_cells_by_tag": cm.info.get("n_cells"),
        "n_dofs": n_dofs(model),
        "n_dofs_phi_s": model.V_p.dofmap.index_map.size_global,
        "linear_solver": solver.linear_solver,
        "newton_iterations": its,
        "time_describe_s": t_describe,
        "time_mesh_s": comm.allreduce(t_mesh, op=MPI.MAX),
        "time_gmsh_s": cm.info.get("time_gmsh_s"),
        "time_setup_compile_s": comm.allreduce(t_setup, op=MPI.MAX),
        "time_solve_total_s": comm.allreduce(t_solve, op=MPI.MAX),
        "time_assembly_s": comm.allreduce(sum(r.time_assemble_s for r in reports), op=MPI.MAX),
        "time_linear_solve_s": comm.allreduce(sum(r.time_solve_s for r in reports), op=MPI.MAX),
        "time_per_newton_iteration_s": comm.allreduce(t_solve / max(its, 1), op=MPI.MAX),
        "poisson_n_dofs": poisson_dofs,
        "poisson_solve_s": comm.allreduce(t_poisson, op=MPI.MAX),
        "peak_rss_mb_max_rank": comm.allreduce(rss_mb, op=MPI.MAX),
        "peak_rss_mb_sum": comm.allreduce(rss_mb, op=MPI.SUM),
    }
    rec["newton_iteration_vs_poisson_solve_per_dof"] = (rec["time_per_newton_iteration_s"] / rec["n_dofs"]) / (
        rec["poisson_solve_s"] / poisson_dofs
    )
    solver.destroy()
    emit(comm, rec)


def main() -> int:
    """Drive the worker over the matrix of cases and write the JSON file."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--dim", type=int, default=2, choices=(2, 3))
    ap.add_argument("--fractions", default="0,0.15", help="CBD volume fractions (0: without CBD)")
    ap.add_argument("--placements", default="necks,coating")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--worker", nargs=3, metavar=("DIM", "FRACTION", "PLACEMENT"))
    args = ap.parse_args()
    if args.worker:
        worker(int(args.worker[0]), float(args.worker[1]), args.worker[2])
        return 0
    cases = []
    for f in args.fractions.split(","):
        # the cell without CBD once, not once per placement
        for p in args.placements.split(",") if float(f) > 0 else args.placements.split(",")[:1]:
            for n in args.ranks.split(","):
                cases.append(
                    ({"dim": args.dim, "cbd_fraction": float(f), "cbd_placement": p}, [args.dim, f, p], int(n))
                )
    results = run_cases(__file__, cases, timeout=1800)
    write_results(
        args.out,
        f"cbd_{args.dim}d",
        f"carbon-binder domain cost, {args.dim}D default case (PPAL, 30 °C), resistance Newton solve",
        results,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
