"""Parallel efficiency (issue 15, item 4): strong and weak scaling from 1 to 2 ranks, with per-unknown costs.

Every case is its own ``mpiexec`` job. Strong scaling runs the same problem on 1 and 2 ranks; weak scaling doubles
the problem with the ranks (twice the width in 2D, twice the particles in 3D). Cases:

- ``2d-discharge``: ``geometries/default-2d.toml`` (10 µm wide), 1C to 3.0 V from θ0 = 0.01, MUMPS;
- ``2d-discharge-fine``: the same at half the mesh size (about 4× the unknowns);
- ``2d-discharge-wide``: 20 µm wide (the weak-scaling partner of ``2d-discharge`` on 2 ranks);
- ``3d-resistance``: ``default-3d.toml`` at 5 µm × 4 µm (about 100 spheres), DC resistance, two-level;
- ``3d-resistance-wide``: 7.07 µm wide (about 200 spheres; the weak-scaling partner on 2 ranks);
- ``3d-discharge``: the issue's 124-sphere cell (5 µm, 4.5 µm cathode, seed 2), the first 900 s at 1C, two-level;
- ``3d-discharge-cutoff``: the same cell at 1C to the 3.0 V cut-off (the issue's goal row), 2 ranks only.

Each record: unknowns, particles, times split into packing, meshing (Gmsh on rank 0 plus distribution), setup
(forms and solver), solve, and within the solve assembly / linear / other (summed Newton report times, slowest
rank); Newton, Jacobian and Krylov counts; the solve time per Newton iteration per unknown; peak memory per rank.
The 3D resistance cases also carry the Poisson yardsticks of ``bench_3d`` (CG + GAMG and MUMPS on the same mesh, in
the same job). The driver adds speed-ups (strong) and efficiencies (weak) as ``summary`` rows.

Usage (from the project root)::

    .venv/bin/python benchmarks/bench_scaling.py --out benchmarks/results [--cases 2d-discharge,...] [--merge]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

from _driver import ROOT, emit, run_cases, write_results
from bench_3d import _peak_memory_mb, poisson_yardsticks, steady_solve_record, timed_mesh

DISCHARGE = [
    "study.kind=discharge",
    "study.c_rate=1",
    "conditions.initial_stoichiometry=0.01",
    "output.xdmf=false",
    "output.png=false",
]
#: the issue's 124-sphere 3D cell (5 µm wide, 4.5 µm cathode, seed 2) at 1C
CELL_124 = [*DISCHARGE, "geometry.width_um=5", "geometry.cathode_thickness_um=4.5", "geometry.seed=2"]
#: case: (config, overrides, kind, duration of the discharge [s] or None for the cut-off)
CASES: dict[str, tuple[str, list[str], str, float | None]] = {
    "2d-discharge": ("default-2d.toml", DISCHARGE, "discharge", None),
    "2d-discharge-fine": (
        "default-2d.toml",
        [*DISCHARGE, "geometry.mesh_size_um=0.1", "geometry.interface_mesh_size_um=0.05"],
        "discharge",
        None,
    ),
    "2d-discharge-wide": ("default-2d.toml", [*DISCHARGE, "geometry.width_um=20"], "discharge", None),
    "3d-resistance": (
        "default-3d.toml",
        ["geometry.width_um=5", "geometry.cathode_thickness_um=4"],
        "resistance",
        None,
    ),
    "3d-resistance-wide": (
        "default-3d.toml",
        ["geometry.width_um=7.07", "geometry.cathode_thickness_um=4"],
        "resistance",
        None,
    ),
    "3d-discharge": (
        "default-3d.toml",
        CELL_124,
        "discharge",
        900.0,
    ),
    "3d-discharge-cutoff": (
        "default-3d.toml",
        CELL_124,
        "discharge",
        None,
    ),
}
#: (case on 1 rank, case on 2 ranks) of each weak-scaling pair.
WEAK = [("2d-discharge", "2d-discharge-wide"), ("3d-resistance", "3d-resistance-wide")]
#: case: ranks to run it on.
RANKS = {
    "2d-discharge": (1, 2),
    "2d-discharge-fine": (1, 2),
    "2d-discharge-wide": (2,),
    "3d-resistance": (1, 2),
    "3d-resistance-wide": (2,),
    "3d-discharge": (1, 2),
    "3d-discharge-cutoff": (2,),
}


def _discharge(cfg: Any, comm: Any, duration: float | None) -> dict[str, Any]:
    from mpi4py import MPI

    from microsim.studies.common import n_dofs
    from microsim.studies.discharge import DischargeCell
    from microsim.studies.stepping import Step

    t0 = time.perf_counter()
    cell = DischargeCell(cfg, comm)
    t_setup = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    totals = {"assemble": 0.0, "linear": 0.0, "jacobians": 0}
    solve = cell.solver.solve

    def counted(galvanostatic: bool = True) -> Any:
        rep = solve(galvanostatic)
        totals["assemble"] += rep.time_assemble_s
        totals["linear"] += rep.time_solve_s
        totals["jacobians"] += rep.jacobians
        return rep

    cell.solver.solve = counted  # type: ignore[method-assign]  # this job's own instance: counts its reports
    comm.barrier()
    t0 = time.perf_counter()
    res = cell.run([Step("cc", cell.one_c, 1.0, cutoff_V=3.0, duration_s=duration)], None)
    t_solve = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    t_asm = comm.allreduce(totals["assemble"], op=MPI.MAX)
    t_lin = comm.allreduce(totals["linear"], op=MPI.MAX)
    its = int(res["newton_iterations"])
    dofs = n_dofs(cell.model)
    rec = {
        "n_particles": int(cell.desc.n_particles),
        "n_cells": cell.cm.count_cells()["total"],
        "n_dofs": dofs,
        "linear_solver": cell.solver.linear_solver,
        "coarse_space_size": cell.solver.two_level.n_coarse if cell.solver.two_level is not None else None,
        "time_setup_s": t_setup,
        "time_solve_s": t_solve,
        "time_assemble_s": t_asm,
        "time_linear_s": t_lin,
        "time_other_s": t_solve - t_asm - t_lin,
        "time_steps": res["time_steps"],
        "newton_iterations": its,
        "jacobian_assemblies": totals["jacobians"],
        "krylov_iterations": res.get("krylov_iterations"),
        "capacity_mAh_g": res["capacity_mAh_g"],
        "final_voltage_V": res["final_voltage_V"],
        "end_reason": res["end_reason"],
        "time_per_newton_iteration_s": t_solve / max(its, 1),
        "time_per_newton_iteration_per_dof_us": 1e6 * t_solve / max(its, 1) / dofs,
    }
    if cfg.geometry.dim == 3:
        from microsim.solver import NEWTON_KRYLOV_RTOL

        per_it = t_solve / max(its, 1)
        rec.update(poisson_yardsticks(cell.cm.mesh, "scaling_poisson_", per_it, dofs, NEWTON_KRYLOV_RTOL))
    cell.destroy()
    return rec


def worker(case: str) -> None:
    """One case inside mpiexec; prints one JSON line on rank 0."""
    import dolfinx_solver  # noqa: F401

    from mpi4py import MPI

    from microsim import config
    from microsim.parameters import resolve
    from microsim.studies.common import describe_geometry

    comm = MPI.COMM_WORLD
    name, sets, kind, duration = CASES[case]
    cfg = config.load(ROOT / "geometries" / name, sets)
    rec: dict[str, Any] = {
        "case": case,
        "kind": kind,
        "n_ranks": comm.size,
        "duration_s": duration,
        "date": time.strftime("%Y-%m-%d"),
    }
    if kind == "resistance":
        desc, cm, t_pack, t_mesh = timed_mesh(cfg, comm)
        rec.update({"n_particles": int(desc.n_particles), "n_cells": cm.count_cells()["total"]})
        rec.update({"time_packing_s": t_pack, "time_mesh_s": t_mesh})
        rec.update(steady_solve_record(cm, resolve(cfg), desc, "auto", "scaling_poisson_"))
        rec["time_per_newton_iteration_per_dof_us"] = 1e6 * rec["time_per_newton_iteration_s"] / rec["n_dofs"]
    else:
        t0 = time.perf_counter()
        describe_geometry(cfg)  # the packing alone (DischargeCell packs again: the same seed, the same packing)
        rec["time_packing_s"] = time.perf_counter() - t0
        rec.update(_discharge(cfg, comm, duration))
    rec["peak_rss_mb_max_rank"] = comm.allreduce(_peak_memory_mb(), op=MPI.MAX)
    rec["peak_rss_mb_job_max_rank"] = comm.allreduce(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, op=MPI.MAX
    )
    emit(comm, rec)


def summarise(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Speed-ups of the strong-scaling pairs and efficiencies of the weak-scaling pairs (solve times)."""
    by = {(r.get("case"), r.get("n_ranks")): r for r in results if "time_solve_s" in r}
    rows = []
    for case, ranks in RANKS.items():
        one, two = by.get((case, 1)), by.get((case, 2))
        if len(ranks) == 2 and one and two:
            rows.append(
                {
                    "summary": "strong",
                    "case": case,
                    "n_dofs": one["n_dofs"],
                    "speedup_solve_2_vs_1": one["time_solve_s"] / two["time_solve_s"],
                    "speedup_assemble_2_vs_1": one["time_assemble_s"] / max(two["time_assemble_s"], 1e-12),
                    "speedup_linear_2_vs_1": one["time_linear_s"] / max(two["time_linear_s"], 1e-12),
                    "speedup_job_2_vs_1": one["wall_time_job_s"] / two["wall_time_job_s"],
                    "same_newton_iterations": one["newton_iterations"] == two["newton_iterations"],
                }
            )
    for small, big in WEAK:
        one, two = by.get((small, 1)), by.get((big, 2))
        if one and two:
            per_dof_1 = one["time_solve_s"] / one["n_dofs"] / max(one["newton_iterations"], 1)
            per_dof_2 = two["time_solve_s"] / two["n_dofs"] / max(two["newton_iterations"], 1)
            rows.append(
                {
                    "summary": "weak",
                    "cases": [small, big],
                    "n_dofs": [one["n_dofs"], two["n_dofs"]],
                    # time per Newton iteration per unknown per rank: 1 rank over 2 ranks (1: ideal)
                    "efficiency_per_newton_iteration": per_dof_1 / (2 * per_dof_2) if per_dof_2 else None,
                    "efficiency_solve": one["time_solve_s"] / two["time_solve_s"],
                }
            )
    return rows


def stored_rows(out: str) -> list[dict[str, Any]]:
    """The case rows of ``out/scaling.json`` (not its summary rows), each dated (the file's date if it has none)."""
    doc = json.loads((Path(out) / "scaling.json").read_text())
    rows = [r for r in doc["results"] if "summary" not in r]
    for r in rows:
        r.setdefault("date", doc.get("date"))
    return rows


def main() -> int:
    """Run the cases as separate mpiexec jobs and write ``scaling.json``."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--worker", metavar="CASE")
    ap.add_argument("--summarise", action="store_true", help="recompute the summary rows of an existing scaling.json")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="replace only the rerun cases' rows of an existing scaling.json (the others are kept, with their dates)",
    )
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return 0
    title = "strong and weak scaling, 1 to 2 ranks: 2D discharge (MUMPS), 3D resistance and discharge (two-level)"
    if args.summarise:
        rows = stored_rows(args.out)
        write_results(args.out, "scaling", title, rows + summarise(rows))
        return 0
    cases = []
    for case in args.cases.split(","):
        if case not in CASES:
            ap.error(f"--cases: {case!r} is not one of {', '.join(CASES)}")
        cases += [({"case": case}, [case], n) for n in RANKS[case]]
    results = run_cases(__file__, cases, timeout=3600)
    if args.merge:
        rerun = {c["case"] for c, _, _ in cases}
        results = [r for r in stored_rows(args.out) if r.get("case") not in rerun] + results
    write_results(args.out, "scaling", title, results + summarise(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
