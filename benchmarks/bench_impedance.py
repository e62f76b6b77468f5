"""Benchmark of the impedance study on the bundled 2D default case, against one DC solve on the same mesh.

For each (interface, ranks): setup (assembly of K, M), time per frequency and for a 71-point spectrum
(1e6 → 1e-1 Hz, 10 per decade), and the DC resistance solve (steady Newton) on the same mesh; JSON out::

    .venv/bin/python benchmarks/bench_impedance.py --out benchmarks/results
"""

from __future__ import annotations

import argparse
import resource
import time

from _driver import ROOT, emit, run_cases, write_results


def worker(interface: str, n_freq: int) -> None:
    """One case inside mpiexec; prints one JSON line on rank 0."""
    import dolfinx_solver  # noqa: F401

    import numpy as np
    from mpi4py import MPI

    from microsim import config
    from microsim.frequency import FrequencyResponse
    from microsim.parameters import resolve
    from microsim.physics.model import CellModel, ModelOptions
    from microsim.solver import BorderedNewton
    from microsim.studies.common import build_cell_mesh, describe_geometry, n_dofs
    from microsim.studies.impedance import rest_model
    from microsim.studies.resistance import DEFAULT_CURRENT_A_M2, solve_steady

    comm = MPI.COMM_WORLD
    cfg = config.load(ROOT / "geometries" / "default-2d.toml", [f"geometry.interface={interface}"])
    params = resolve(cfg)
    desc = describe_geometry(cfg)
    cm = build_cell_mesh(desc, comm)
    # DC yardstick: the resistance study's steady solve on the same mesh
    dc = CellModel(cm, params, ModelOptions(binary=True, transient=False))
    newton = BorderedNewton(dc)
    dc.current_density.value = DEFAULT_CURRENT_A_M2
    dc.current_ref.value = DEFAULT_CURRENT_A_M2
    comm.barrier()
    t0 = time.perf_counter()
    reports = solve_steady(dc, newton, True, desc.total_thickness_um * 1e-6)
    t_dc = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    model = rest_model(cm, params, params.initial_stoichiometry)
    comm.barrier()
    t0 = time.perf_counter()
    fr = FrequencyResponse(model)
    t_setup = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    freqs = np.logspace(6, -1, n_freq)
    comm.barrier()
    t0 = time.perf_counter()
    fr.solve(freqs)
    t_spec = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    rec = {
        "interface": interface,
        "n_ranks": comm.size,
        "n_cells": cm.count_cells()["total"],
        "n_dofs_impedance_real": 2 * (n_dofs(model) - 1),
        "n_dofs_dc": n_dofs(dc),
        "n_frequencies": n_freq,
        "time_setup_s": t_setup,
        "time_spectrum_s": t_spec,
        "time_per_frequency_s": t_spec / n_freq,
        "time_dc_solve_s": t_dc,
        "dc_newton_iterations": sum(r.iterations for r in reports),
        "per_frequency_vs_dc_solve": (t_spec / n_freq) / t_dc,
        "peak_rss_mb_max_rank": comm.allreduce(rss, op=MPI.MAX),
    }
    emit(comm, rec)


def main() -> int:
    """Run the matrix of cases as separate mpiexec jobs and write the JSON file."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--interfaces", default="filled,point-contact")
    ap.add_argument("--frequencies", type=int, default=71)
    ap.add_argument("--worker", nargs=2, metavar=("INTERFACE", "N_FREQ"))
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return 0
    cases = [
        ({"interface": i}, [i, args.frequencies], int(n))
        for i in args.interfaces.split(",")
        for n in args.ranks.split(",")
    ]
    results = run_cases(__file__, cases, timeout=1800)
    title = "impedance study, 2D default case (PPAL, 30 °C), MUMPS LU of the real 2x2 block system"
    write_results(args.out, "impedance_2d", title, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
