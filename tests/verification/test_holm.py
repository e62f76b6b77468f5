"""docs/model.md §5.3 (Holm constriction): one contact spot of radius ``a`` under a thick membrane adds
``ψ/(4κa)`` to the 1D membrane resistance; also §5.6 (same result on 1 and 2 ranks).

The case and the solver calls are those of ``scripts/holm_convergence.py`` (loaded from its file): a W = 4 µm
box, ``L_m = W``, fast kinetics, metallic particle; ``R_c`` = membrane Joule part − ``L_m/κ``, and ψ the
square-tube factor of that script (image lattice of pitch W: ψ = 0.93796 at a = 0.1 µm, 0.87609 at 0.2 µm).

Tolerances, from the study (``benchmarks/results/holm_convergence.json``, graded meshes, levels s = 1 … 1/8,
13k … 465k cells, ``R_c / (ψ/4κa)`` for a = 0.1 µm):

* levels 0.920, 0.960, 0.973, 0.981, 0.987, 0.992: monotone from below (P1 underestimates resistance) at the
  observed rate p ≈ 1 (the ``1/√r`` edge singularity); extrapolated 1.0019 ± 0.0007, of which +0.0011 is the
  spot's Robin (finite-kinetics) bias measured with i0 × 10. The reference therefore holds to about 0.1 %.
* the test's shortcut, rate-1 Richardson from the two coarsest levels (s = 1, 1/2: 13k + 39k cells), gives
  1.0004, within 0.2 % of the fine extrapolation. :data:`TOL` = 2 % leaves a factor 10 for mesh changes
  (another Gmsh version) while every wrong answer is far outside: no box correction (ψ = 1) is 6.2 % off,
  ``1/(πκa)`` 21 %, ``1/(2κa)`` 50 %.
* ``1/a``: at the same relative resolution the two radii agree to 0.4 % in ``R_c/(ψ/4κa)`` (0.920 vs 0.916 at
  s = 1), so ``R_c(0.1)/R_c(0.2) = 2 ψ(0.025)/ψ(0.05)`` holds to :data:`SCALING_TOL` = 1.5 %; ``1/a`` without ψ
  (ratio 2) is 7.5 % off.
* the user path (``run_resistance``; the library meshes its spots with the same graded fields, refined by
  ``geometry.spot_mesh_level``): 0.921 at level 1 (17.6k cells), 0.960 at 1/2 (42k), 0.981 at 1/4 (134k); the
  rate-1 extrapolation of levels 1 and 1/2 is 0.9986, held to :data:`TOL` as well, and level 1 to
  :data:`LIBRARY_BAND`. (The former rule, spot size a/6 at slope 1/2, gave 0.901 at 18k cells and 0.940 at 325k.)
"""

from __future__ import annotations

import importlib.util
import math
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "holm_convergence.py"
TOL = 0.02
SCALING_TOL = 0.015
LIBRARY_BAND = (0.90, 0.945)  # level 1 measured 0.921: the default spot meshing is 8 % low, not more


def _load_study() -> Any:
    spec = importlib.util.spec_from_file_location("holm_convergence", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


study = _load_study()


@pytest.fixture(scope="module")
def spot_csv(comm: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The one-sphere particle file in a folder shared by all ranks (module scope: the solves are cached)."""
    folder = tempfile.mkdtemp(prefix="holm-", dir=tmp_path_factory.getbasetemp()) if comm.rank == 0 else None
    folder = Path(comm.bcast(folder, root=0))
    if comm.rank == 0:
        study.write_particles(folder)
    comm.barrier()
    yield folder / "holm_particle.csv"
    comm.barrier()
    if comm.rank == 0:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def solved(comm: Any, spot_csv: Path) -> dict[str, dict[str, Any]]:
    """The graded-mesh solves every test reads: a = 0.1 µm at levels 1 and 1/2, a = 0.2 µm at level 1."""
    small = study.spot_case(spot_csv, 0.1)
    return {
        "coarse": study.solve_spot(small, comm, 1.0),
        "fine": study.solve_spot(small, comm, 0.5),
        "large_spot": study.solve_spot(study.spot_case(spot_csv, 0.2), comm, 1.0),
    }


def _extrapolated(solved: dict[str, dict[str, Any]]) -> float:
    """``R_c`` [Ω] from levels 1 and 1/2 at the singularity's rate 1 (Richardson)."""
    return 2.0 * solved["fine"]["constriction_ohm"] - solved["coarse"]["constriction_ohm"]


def test_constriction_matches_holm(solved: dict[str, dict[str, Any]]) -> None:
    coarse, fine = solved["coarse"], solved["fine"]
    reference = fine["psi"] * fine["holm_half_space_ohm"]  # ψ/(4κa)
    # converges from below, monotonically
    assert coarse["ratio"] < fine["ratio"] < 1.0
    assert _extrapolated(solved) / reference == pytest.approx(1.0, abs=TOL)
    # the spot's own charge transfer is small: the Joule part is Holm's term (fast kinetics, as intended)
    assert fine["spot_charge_transfer_over_holm"] < 0.02


def test_tolerance_rejects_wrong_factors(solved: dict[str, dict[str, Any]]) -> None:
    fine = solved["fine"]
    kappa_a = 1.0 / (4.0 * fine["holm_half_space_ohm"])  # κa [S]
    r_c = _extrapolated(solved)
    wrong = {
        "1/(4κa), no box correction": 1.0 / (4.0 * kappa_a),
        "ψ/(πκa)": fine["psi"] / (math.pi * kappa_a),
        "ψ/(2κa)": fine["psi"] / (2.0 * kappa_a),
    }
    for name, value in wrong.items():
        assert abs(r_c / value - 1.0) > 2.0 * TOL, name


def test_constriction_scales_as_psi_over_a(solved: dict[str, dict[str, Any]]) -> None:
    small, large = solved["coarse"], solved["large_spot"]
    # same relative resolution (sizes ∝ a): the discretisation error cancels in the ratio
    expected = (large["a_um"] / small["a_um"]) * small["psi"] / large["psi"]
    assert small["constriction_ohm"] / large["constriction_ohm"] == pytest.approx(expected, rel=SCALING_TOL)
    assert abs(small["constriction_ohm"] / large["constriction_ohm"] / 2.0 - 1.0) > 2.0 * SCALING_TOL


def test_same_on_one_and_two_ranks(comm: Any, spot_csv: Path, solved: dict[str, dict[str, Any]]) -> None:
    if comm.size == 1:
        pytest.skip("needs mpiexec -n 2")
    alone = study.solve_spot(study.spot_case(spot_csv, 0.1), MPI.COMM_SELF, 1.0)
    world = solved["coarse"]
    assert alone["n_cells"] == world["n_cells"]
    assert alone["constriction_ohm"] == pytest.approx(world["constriction_ohm"], rel=1e-8)


def test_library_spot_meshing_converges_to_holm(comm: Any, spot_csv: Path) -> None:
    """The user path (``run_resistance`` at spot_mesh_level 1 and 1/2) lands in its band and extrapolates to Holm."""
    coarse = study.solve_spot(study.spot_case(spot_csv, 0.1), comm)
    fine = study.solve_spot(study.spot_case(spot_csv, 0.1, spot_mesh_level=0.5), comm)
    assert LIBRARY_BAND[0] < coarse["ratio"] < LIBRARY_BAND[1]
    assert coarse["ratio"] < fine["ratio"] < 1.0
    extrapolated = 2.0 * fine["constriction_ohm"] - coarse["constriction_ohm"]
    reference = coarse["psi"] * coarse["holm_half_space_ohm"]
    assert extrapolated == pytest.approx(reference, rel=TOL)
