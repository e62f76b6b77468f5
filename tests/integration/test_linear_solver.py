"""Linear solver choice (issue 3): the ``auto`` rule, and the two-level iterative solver against MUMPS in 3D."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

from microsim import config
from microsim.solver import resolve_linear_solver
from microsim.studies.effective import run_effective
from microsim.studies.impedance import run_impedance
from microsim.studies.resistance import run_resistance
from tests._cases import small, spheres_3d

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]

# two spheres on the collector, one reaching the membrane plane: a 3D cell of a few thousand unknowns (~1 s)
PARTICLES = "x_um,y_um,z_um,r_um\n1.0,1.0,0.4975,0.5\n2.05,2.05,0.3980,0.4\n"


def cfg_3d(folder: Path, linear_solver: str) -> config.Config:
    csv = folder / "particles.csv"
    if MPI.COMM_WORLD.rank == 0:
        csv.write_text(PARTICLES)
    MPI.COMM_WORLD.barrier()
    return config.from_dict(
        {
            "geometry": spheres_3d(csv, "filled", cathode_thickness_um=1.1),
            "solver": {"linear_solver": linear_solver},
            "output": {"png": False, "xdmf": False},
        }
    )


def test_auto_is_the_default_and_resolves_by_dimension() -> None:
    assert config.default().solver.linear_solver == "auto"
    assert set(config.LINEAR_SOLVERS) == {"auto", "mumps", "superlu_dist", "two-level"}
    assert resolve_linear_solver("auto", 2) == "mumps"
    assert resolve_linear_solver("auto", 3) == "two-level"
    for explicit in ("mumps", "superlu_dist", "two-level"):
        assert resolve_linear_solver(explicit, 2) == explicit
        assert resolve_linear_solver(explicit, 3) == explicit


def test_two_level_matches_mumps_in_3d(mpi_tmp_path: Path) -> None:
    direct = run_resistance(cfg_3d(mpi_tmp_path, "mumps"), None, MPI.COMM_WORLD)
    iterative = run_resistance(cfg_3d(mpi_tmp_path, "two-level"), None, MPI.COMM_WORLD)
    assert direct["dim"] == 3
    assert (direct["linear_solver"], iterative["linear_solver"]) == ("mumps", "two-level")
    # inexact Newton (GMRES to NEWTON_KRYLOV_RTOL) contracts linearly at the end: at most one more step than LU
    assert direct["newton_iterations"] <= iterative["newton_iterations"] <= direct["newton_iterations"] + 1
    assert iterative["resistance_ohm_cm2"]["total"] == pytest.approx(direct["resistance_ohm_cm2"]["total"], rel=1e-9)


def test_auto_reports_what_it_resolved_to(mpi_tmp_path: Path) -> None:
    """The summary names the solver that ran: two-level for a 3D cell, MUMPS for a 2D one."""
    assert run_resistance(cfg_3d(mpi_tmp_path, "auto"), None, MPI.COMM_WORLD)["linear_solver"] == "two-level"
    assert run_resistance(small(**{"output.xdmf": False}), None, MPI.COMM_WORLD)["linear_solver"] == "mumps"


@pytest.mark.parametrize("choice", ["auto", "two-level"])
def test_direct_only_studies_accept_every_choice(choice: str) -> None:
    """Impedance (complex system in real form) and effective properties (scalar Poisson) factorise with MUMPS."""
    imp = small(**{"study.kind": "impedance", "output.xdmf": False, "solver.linear_solver": choice})
    assert run_impedance(imp, None, MPI.COMM_WORLD, freqs=np.array([1e3, 1.0]))["linear_solver"] == "mumps"
    eff = small(**{"study.kind": "effective", "output.xdmf": False, "solver.linear_solver": choice})
    assert run_effective(eff, None, MPI.COMM_WORLD)["linear_solver"] == "mumps"


def test_failed_iterative_solve_falls_back_to_mumps(mpi_tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A GMRES failure (here: an iteration limit of 1) hands the run to MUMPS instead of ending it."""
    import microsim.linear

    original = microsim.linear.configure_two_level

    def starved(ksp: Any, *args: Any, **kwargs: Any) -> Any:
        ctx = original(ksp, *args, **kwargs)
        ksp.setTolerances(max_it=1)
        return ctx

    direct = run_resistance(cfg_3d(mpi_tmp_path, "mumps"), None, MPI.COMM_WORLD)
    monkeypatch.setattr(microsim.linear, "configure_two_level", starved)
    rescued = run_resistance(cfg_3d(mpi_tmp_path, "two-level"), None, MPI.COMM_WORLD)
    assert direct["linear_solver_fallback"] is None
    assert rescued["linear_solver"] == "mumps"
    assert rescued["linear_solver_fallback"] == "two-level -> mumps (GMRES failed)"
    assert rescued["resistance_ohm_cm2"]["total"] == pytest.approx(direct["resistance_ohm_cm2"]["total"], rel=1e-9)
