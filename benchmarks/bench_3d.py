"""3D benchmark (issue 3): mesh generation and the resistance study on 3D packings of 25, 100 and 200 spheres.

Each case is one ``mpiexec`` job: packing + Gmsh time and cell count, then the steady resistance solve with
MUMPS and with the two-level iterative solver (Newton and Krylov iterations, times, peak memory), and a scalar
Poisson solve (P1, MUMPS) on the same mesh as the yardstick. Results go to ``benchmarks/results/resistance_3d.json``::

    .venv/bin/python benchmarks/bench_3d.py --out benchmarks/results
"""

from __future__ import annotations

import argparse
import math
import resource
import time

from _driver import ROOT, emit, run_cases, write_results


def width_for(n_particles: int, thickness_um: float = 4.0, fraction: float = 0.45, radius_um: float = 0.5) -> float:
    """Box width giving about ``n_particles`` spheres at the target fraction.

    The 0.76 is empirical: lognormal radii (r̄³ > r̄³ of the mean) and the packer's fill put ~1.7x more spheres
    in the box than the mean-radius estimate.
    """
    return 0.76 * math.sqrt(n_particles * 4.0 / 3.0 * math.pi * radius_um**3 / (fraction * thickness_um))


def worker(interface: str, n_particles: int, solver: str) -> None:
    """One case inside mpiexec; prints one JSON line on rank 0."""
    import dolfinx_solver  # noqa: F401

    import dolfinx
    import dolfinx.fem.petsc
    import numpy as np
    import ufl
    from mpi4py import MPI

    from microsim import config
    from microsim.parameters import resolve
    from microsim.physics.model import CellModel, ModelOptions
    from microsim.solver import BorderedNewton
    from microsim.studies.common import build_cell_mesh, describe_geometry, n_dofs
    from microsim.studies.resistance import DEFAULT_CURRENT_A_M2, solve_steady

    comm = MPI.COMM_WORLD
    w = width_for(n_particles)
    cfg = config.load(
        ROOT / "geometries" / "default-3d.toml",
        [f"geometry.interface={interface}", f"geometry.width_um={w:.3f}", f"solver.linear_solver={solver}"],
    )
    params = resolve(cfg)
    t0 = time.perf_counter()
    desc = describe_geometry(cfg)
    t_pack = time.perf_counter() - t0
    comm.barrier()
    t0 = time.perf_counter()
    cm = build_cell_mesh(desc, comm)
    t_mesh = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    model = CellModel(cm, params, ModelOptions(binary=True, transient=False))
    newton = BorderedNewton(model, solver)
    model.current_density.value = DEFAULT_CURRENT_A_M2
    model.current_ref.value = DEFAULT_CURRENT_A_M2
    comm.barrier()
    t0 = time.perf_counter()
    reports = solve_steady(model, newton, True, desc.total_thickness_um * 1e-6)
    t_solve = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    its = sum(r.iterations for r in reports)
    msh = cm.mesh
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    facets = dolfinx.mesh.locate_entities_boundary(msh, 2, lambda x: np.isclose(x[2], 0.0))
    bc = dolfinx.fem.dirichletbc(0.0, dolfinx.fem.locate_dofs_topological(V, 2, facets), V)
    problem = dolfinx.fem.petsc.LinearProblem(
        ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx,
        1.0 * v * ufl.dx,
        bcs=[bc],
        petsc_options_prefix="bench3d_poisson_",
        petsc_options={"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
    )
    comm.barrier()
    t0 = time.perf_counter()
    problem.solve()
    t_poisson = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    dofs = n_dofs(model)
    rec = {
        "interface": interface,
        "n_particles": desc.n_particles,
        "width_um": w,
        "solver": solver,
        "n_ranks": comm.size,
        "n_cells": cm.count_cells()["total"],
        "n_dofs": dofs,
        "time_packing_s": t_pack,
        "time_mesh_s": t_mesh,
        "newton_iterations": its,
        "krylov_iterations": sum(r.linear_iterations for r in reports),
        "time_solve_s": t_solve,
        "poisson_n_dofs": V.dofmap.index_map.size_global,
        "poisson_solve_s": t_poisson,
        "newton_iteration_vs_poisson_per_dof": (t_solve / max(its, 1) / dofs)
        / (t_poisson / V.dofmap.index_map.size_global),
        "resistance_total_ohm_cm2": None,
        "peak_rss_mb_max_rank": comm.allreduce(rss, op=MPI.MAX),
    }
    v_eq = float(params.lfp.ocp.numpy(np.array(params.initial_stoichiometry)))
    rec["resistance_total_ohm_cm2"] = (v_eq - float(model.V.value)) / DEFAULT_CURRENT_A_M2 * 1e4
    emit(comm, rec)


def main() -> int:
    """Run the matrix of cases and write the JSON file."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--particles", default="25,100,200")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--solvers", default="mumps,two-level")
    ap.add_argument("--interfaces", default="filled,point-contact")
    ap.add_argument("--worker", nargs=3, metavar=("INTERFACE", "N_PARTICLES", "SOLVER"))
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.worker[2])
        return 0
    cases = [
        ({"interface": i, "n_particles_target": int(n), "solver": s}, [i, n, s], int(r))
        for n in args.particles.split(",")
        for i in args.interfaces.split(",")
        for s in args.solvers.split(",")
        for r in args.ranks.split(",")
    ]
    results = run_cases(__file__, cases, timeout=1800)
    title = "3D resistance study (default-3d.toml scaled in width), MUMPS vs two-level, Poisson yardstick"
    write_results(args.out, "resistance_3d", title, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
