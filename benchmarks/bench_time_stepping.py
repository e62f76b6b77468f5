"""Time stepping (issue 15, item 3): capacity against the number of time steps for each scheme and step control.

Schemes (``study.time_scheme``): backward Euler (first order) and variable-step BDF2 (second order). Step
controls (``study.step_control``): the voltage target (``voltage_step_V`` per step) and the local-error estimate
(``error_tolerance_V``, with ``error_tolerance_theta`` = 2 × it). Every case is one 1C discharge to 3.0 V from
θ0 = 0.01, its own ``mpiexec`` job:

- ``2d``: ``geometries/default-2d.toml`` 5 µm wide (1 rank); the reference is BDF2 with a 0.3 mV target;
- ``3d``: the issue's ~100-sphere case, ``geometries/default-3d.toml`` 5 µm wide, 4.5 µm cathode, seed 2, on 2
  ranks: Euler + voltage target (the old default) and BDF2 + voltage target (the new one) with the 3D default
  solver (two-level), and BDF2 with MUMPS.

Each record: steps, rejected steps, Newton and Krylov iterations, capacity, its deviation from the 2D
reference, setup and discharge wall times, peak memory per rank.

Usage (from the project root)::

    .venv/bin/python benchmarks/bench_time_stepping.py --out benchmarks/results [--cases 2d,3d]
"""

from __future__ import annotations

import argparse
import time

from _driver import ROOT, emit, run_cases, write_results
from bench_3d import _peak_memory_mb

BASE = {
    "2d": (
        "default-2d.toml",
        ["geometry.width_um=5"],
    ),
    "3d": (
        "default-3d.toml",
        ["geometry.width_um=5", "geometry.cathode_thickness_um=4.5", "geometry.seed=2"],
    ),
}
COMMON = [
    "study.kind=discharge",
    "study.c_rate=1",
    "conditions.initial_stoichiometry=0.01",
    "output.xdmf=false",
    "output.png=false",
]
#: (scheme, control, setting) of each 2D case; the last is the reference.
CASES_2D = [
    *[("euler", "voltage", v) for v in (0.03, 0.01, 0.003, 0.001)],
    *[("euler", "error", t) for t in (1e-3, 1e-4)],
    *[("bdf2", "voltage", v) for v in (0.03, 0.01, 0.003)],
    *[("bdf2", "error", t) for t in (1e-3, 3e-4, 1e-4)],
]
REFERENCE_2D = ("bdf2", "voltage", 3e-4)
#: (scheme, control, setting, linear solver) of each 3D case.
CASES_3D = [
    ("euler", "voltage", 0.01, "auto"),
    ("bdf2", "voltage", 0.01, "auto"),
    ("bdf2", "voltage", 0.01, "mumps"),
    ("bdf2", "error", 1e-3, "auto"),
]


def _settings(scheme: str, control: str, value: float) -> list[str]:
    out = [f"study.time_scheme={scheme}", f"study.step_control={control}"]
    if control == "voltage":
        return [*out, f"study.voltage_step_V={value}"]
    return [*out, f"study.error_tolerance_V={value}", f"study.error_tolerance_theta={2 * value}"]


def worker(case: str, scheme: str, control: str, value: float, solver: str = "auto") -> None:
    """One discharge inside mpiexec; prints one JSON line on rank 0."""
    import dolfinx_solver  # noqa: F401

    from mpi4py import MPI

    from microsim import config
    from microsim.studies.discharge import DischargeCell
    from microsim.studies.stepping import Step

    comm = MPI.COMM_WORLD
    name, sets = BASE[case]
    sets = [*sets, *COMMON, *_settings(scheme, control, value), f"solver.linear_solver={solver}"]
    cfg = config.load(ROOT / "geometries" / name, sets)
    t0 = time.perf_counter()
    cell = DischargeCell(cfg, comm)
    t_setup = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    t0 = time.perf_counter()
    res = cell.run([Step("cc", cell.one_c, 1.0, cutoff_V=3.0)], None)
    t_run = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    rec = {
        "case": case,
        "time_scheme": scheme,
        "step_control": control,
        "setting": value,
        "n_ranks": comm.size,
        "n_particles": int(cell.desc.n_particles),
        "n_dofs": int(sum(f.function_space.dofmap.index_map.size_global for f in cell.model.unknowns)),
        "linear_solver": cell.solver.linear_solver,
        "time_setup_s": t_setup,
        "time_discharge_s": t_run,
        "time_steps": res["time_steps"],
        "rejected_steps": sum(int(row.get("rejected_steps", 0) or 0) for row in res["steps"]),
        "newton_iterations": res["newton_iterations"],
        "krylov_iterations": res.get("krylov_iterations"),
        "capacity_mAh_g": res["capacity_mAh_g"],
        "end_reason": res["end_reason"],
        "final_voltage_V": res["final_voltage_V"],
        "peak_rss_mb_max_rank": comm.allreduce(_peak_memory_mb(), op=MPI.MAX),
    }
    emit(comm, rec)


def main() -> int:
    """Run the cases as separate mpiexec jobs and write ``time_stepping.json``."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--cases", default="2d,3d")
    ap.add_argument("--worker", nargs=5, metavar=("CASE", "SCHEME", "CONTROL", "VALUE", "SOLVER"))
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.worker[2], float(args.worker[3]), args.worker[4])
        return 0
    chosen = args.cases.split(",")
    cases = []
    if "2d" in chosen:
        for scheme, control, value in [*CASES_2D, REFERENCE_2D]:
            labels = {"case": "2d", "time_scheme": scheme, "step_control": control, "setting": value}
            cases.append((labels, ["2d", scheme, control, value, "mumps"], 1))
    if "3d" in chosen:
        for scheme, control, value, solver in CASES_3D:
            labels = {"case": "3d", "time_scheme": scheme, "step_control": control, "setting": value, "solver": solver}
            cases.append((labels, ["3d", scheme, control, value, solver], 2))
    results = run_cases(__file__, cases, timeout=3600)
    ref = next(
        (r for r in results if (r.get("case"), r.get("time_scheme"), r.get("step_control"), r.get("setting"))
         == ("2d", *REFERENCE_2D) and "capacity_mAh_g" in r),
        None,
    )  # fmt: skip
    for r in results:
        if ref is not None and r.get("case") == "2d" and "capacity_mAh_g" in r:
            r["capacity_error_vs_reference"] = abs(r["capacity_mAh_g"] - ref["capacity_mAh_g"]) / ref["capacity_mAh_g"]
    title = "1C discharge to 3.0 V from θ0 = 0.01: capacity against time steps, Euler/BDF2 × voltage/error control"
    write_results(args.out, "time_stepping", title, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
