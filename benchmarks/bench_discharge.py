"""Benchmark of galvanostatic discharge (2D paper-like cells): steps, Newton iterations, wall time, memory.

Each (interface, C-rate, ranks) is its own ``mpiexec`` job on the bundled paper configs (2D, PPAL, 30 °C)::

    .venv/bin/python benchmarks/bench_discharge.py --out benchmarks/results
"""

from __future__ import annotations

import argparse
import resource
import time

from _driver import ROOT, emit, run_cases, write_results

CASES = {
    "filled": ROOT / "geometries" / "paper-cathode-supported-ppal-30C.toml",
    "point-contact": ROOT / "geometries" / "paper-conventional-ppal-30C.toml",
}


def worker(interface: str, c_rate: float) -> None:
    """One discharge inside mpiexec; prints one JSON line on rank 0."""
    import dolfinx_solver  # noqa: F401

    from mpi4py import MPI

    from microsim import config
    from microsim.studies.discharge import DischargeCell
    from microsim.studies.stepping import Step

    comm = MPI.COMM_WORLD
    cfg = config.load(CASES[interface], ["study.kind=discharge", f"study.c_rate={c_rate}", "output.png=false"])
    t0 = time.perf_counter()
    cell = DischargeCell(cfg, comm)
    t_setup = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    t0 = time.perf_counter()
    res = cell.run([Step("cc", c_rate * cell.one_c, c_rate, cutoff_V=cfg.study.cutoff_discharge_V)], None)
    t_run = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    rec = {
        "interface": interface,
        "c_rate": c_rate,
        "n_ranks": comm.size,
        "n_cells": cell.cm.count_cells()["total"],
        "time_setup_s": t_setup,
        "time_discharge_s": t_run,
        "time_steps": res["time_steps"],
        "newton_iterations": res["newton_iterations"],
        "capacity_mAh_g": res["capacity_mAh_g"],
        "end_reason": res["end_reason"],
        "peak_rss_mb_max_rank": comm.allreduce(rss, op=MPI.MAX),
    }
    emit(comm, rec)


def main() -> int:
    """Run the matrix of cases as separate mpiexec jobs and write the JSON file."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--c-rates", default="0.1,1.0")
    ap.add_argument("--interfaces", default="filled,point-contact")
    ap.add_argument("--worker", nargs=2, metavar=("INTERFACE", "C_RATE"))
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], float(args.worker[1]))
        return 0
    cases = [
        ({"interface": i, "c_rate": float(c)}, [i, c], int(n))
        for i in args.interfaces.split(",")
        for c in args.c_rates.split(",")
        for n in args.ranks.split(",")
    ]
    results = run_cases(__file__, cases, timeout=3600)
    title = "galvanostatic discharge to 3.0 V, 2D paper configs (PPAL, 30 °C), MUMPS LU"
    write_results(args.out, "discharge_2d", title, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
