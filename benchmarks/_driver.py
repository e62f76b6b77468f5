"""Shared driver of the benchmark scripts: each case as its own mpiexec job, one JSON results file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARK = "BENCH "


def emit(comm: Any, record: dict[str, Any]) -> None:
    """Worker side: print the case's record once, on rank 0, for the driver to pick up."""
    if comm.rank == 0:
        print(MARK + json.dumps(record), flush=True)


def run_cases(script: str, cases: Sequence[tuple[dict[str, Any], Sequence[str], int]], timeout: float) -> list[dict]:
    """Run ``script --worker ARGS`` under ``mpiexec -n RANKS`` for every case; a failed case keeps its stderr."""
    mpiexec = Path(sys.executable).parent / "mpiexec"
    results = []
    for labels, worker_args, ranks in cases:
        cmd = [str(mpiexec), "-n", str(ranks), sys.executable, script, "--worker", *map(str, worker_args)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)), None)
        rec = json.loads(line[len(MARK) :]) if line else {**labels, "n_ranks": ranks, "error": proc.stderr[-2000:]}
        rec["wall_time_job_s"] = time.perf_counter() - t0
        print(json.dumps(rec), flush=True)
        results.append(rec)
    return results


def write_results(out_dir: str | Path, name: str, title: str, results: list[dict]) -> Path:
    """Write ``out_dir/name.json`` atomically with the machine description."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": title,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }
    path = out / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)
    print(f"wrote {path}")
    return path


def poisson_yardstick(msh: Any, comm: Any) -> dict[str, float]:
    """The yardstick of every benchmark: a scalar P1 Poisson solve on the same parent mesh with the same LU (MUMPS).

    Grounded on the collector plane (the through-thickness coordinate 0), unit source. Runs inside the mpiexec
    worker (DOLFINx is imported here, not by the driver). Returns its dofs, setup and solve times.
    """
    import dolfinx_solver  # noqa: F401

    import dolfinx
    import dolfinx.fem.petsc
    import numpy as np
    import ufl

    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    tdim = msh.topology.dim
    facets = dolfinx.mesh.locate_entities_boundary(msh, tdim - 1, lambda x: np.isclose(x[tdim - 1], 0.0))
    bc = dolfinx.fem.dirichletbc(0.0, dolfinx.fem.locate_dofs_topological(V, tdim - 1, facets), V)
    comm.barrier()
    t0 = time.perf_counter()
    problem = dolfinx.fem.petsc.LinearProblem(
        ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx,
        1.0 * v * ufl.dx,
        bcs=[bc],
        petsc_options_prefix="bench_poisson_",
        petsc_options={"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
    )
    t_setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    problem.solve()
    return {
        "n_dofs": float(V.dofmap.index_map.size_global),
        "setup_s": t_setup,
        "solve_s": time.perf_counter() - t0,
    }
