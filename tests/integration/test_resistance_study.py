"""The resistance study end to end on small packings: both interfaces, outputs, 1 vs 2 ranks.

Cases docs/model.md §5.5, §5.6 and §5.8.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

from microsim.physics.functionals import PARTS
from microsim.studies.resistance import run_resistance
from tests._cases import small

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]


@pytest.fixture(scope="module")
def summaries() -> dict[str, dict]:
    world = MPI.COMM_WORLD
    out = {}
    for interface in ("filled", "point-contact"):
        cfg = small(**{"geometry.interface": interface, "output.xdmf": False})
        out[interface] = run_resistance(cfg, None, world)
        out[interface + "/self"] = run_resistance(cfg, None, MPI.COMM_SELF)
    return out


@pytest.mark.parametrize("interface", ["filled", "point-contact"])
def test_same_answer_on_world_and_one_rank(summaries: dict, interface: str) -> None:
    """Case 6: the partitioned run (2 ranks under mpiexec) equals a one-rank run of the same config."""
    a, b = summaries[interface], summaries[interface + "/self"]
    assert a["n_cells"] == b["n_cells"]
    assert a["resistance_ohm_cm2"]["total"] == pytest.approx(b["resistance_ohm_cm2"]["total"], rel=1e-8)
    for p in PARTS:
        assert a["resistance_ohm_cm2"][p] == pytest.approx(b["resistance_ohm_cm2"][p], rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("interface", ["filled", "point-contact"])
def test_breakdown_closes_and_charge_is_conserved(summaries: dict, interface: str) -> None:
    s = summaries[interface]
    r = s["resistance_ohm_cm2"]
    assert sum(r[p] for p in PARTS) == pytest.approx(r["total"], rel=1e-6)  # docs/model.md §5.8
    assert all(r[p] >= -1e-9 * r["total"] for p in PARTS)  # every dissipation is non-negative
    cons = s["conservation"]  # docs/model.md §5.5, steady state: interface = Li metal = applied
    assert cons["interface_current_A_m2"] == pytest.approx(cons["applied_current_A_m2"], rel=1e-8)
    assert cons["anode_current_A_m2"] == pytest.approx(cons["applied_current_A_m2"], rel=1e-8)
    assert s["linear_regime"]


def test_point_contact_costs_more_than_filled(summaries: dict) -> None:
    f, p = summaries["filled"], summaries["point-contact"]
    assert p["interface_area_um2"] < 0.2 * f["interface_area_um2"]
    assert p["resistance_ohm_cm2"]["interfacial_effective"] > 5 * f["resistance_ohm_cm2"]["interfacial_effective"]
    assert f["resistance_ohm_cm2"]["cathode_electrolyte"] > 0.0
    assert p["resistance_ohm_cm2"]["cathode_electrolyte"] == 0.0  # no electrolyte in the pores


def test_outputs_written(mpi_tmp_path) -> None:
    cfg = small(**{"geometry.interface": "filled"})
    s = run_resistance(cfg, mpi_tmp_path, MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        on_disk = json.loads((mpi_tmp_path / "summary.json").read_text())
        for key in (
            "interface", "dim", "temperature_C", "n_cells", "n_dofs", "n_ranks", "wall_time_s", "active_fraction",
            "interface_area_um2", "parameters", "resistance_ohm_cm2", "current_density_A_m2", "cell_voltage_V",
            "equilibrium_voltage_V",
        ):  # fmt: skip
            assert key in on_disk, key
        assert on_disk["n_ranks"] == MPI.COMM_WORLD.size
        assert on_disk["resistance_ohm_cm2"]["total"] == pytest.approx(s["resistance_ohm_cm2"]["total"])
        assert set(on_disk["resistance_ohm_cm2"]) >= {*PARTS, "total", "interfacial_effective"}
        geo = json.loads((mpi_tmp_path / "geometry.json").read_text())
        assert geo["n_particles"] > 0 and "particles" in geo
        assert (mpi_tmp_path / "fields" / "electrolyte.xdmf").is_file()
        assert (mpi_tmp_path / "fields" / "particles.xdmf").is_file()


def test_two_level_iterative_solver_matches_direct() -> None:
    """The scalable option (GMRES + fieldsplit/GAMG + per-component coarse space) gives the direct solver's answer.

    In 2D, where ``auto`` means MUMPS; the 3D comparison is in test_linear_solver.py.
    """
    cfg = small(**{"geometry.interface": "filled", "output.xdmf": False})
    direct = run_resistance(cfg, None, MPI.COMM_WORLD)
    iterative = run_resistance(
        small(**{"geometry.interface": "filled", "output.xdmf": False, "solver.linear_solver": "two-level"}),
        None,
        MPI.COMM_WORLD,
    )
    assert (direct["linear_solver"], iterative["linear_solver"]) == ("mumps", "two-level")
    # inexact Newton (GMRES to NEWTON_KRYLOV_RTOL) contracts linearly at the end: at most one more step than LU
    assert direct["newton_iterations"] <= iterative["newton_iterations"] <= direct["newton_iterations"] + 1
    r_dir, r_it = direct["resistance_ohm_cm2"], iterative["resistance_ohm_cm2"]
    assert r_it["total"] == pytest.approx(r_dir["total"], rel=1e-9)
    assert r_it["charge_transfer_cathode"] == pytest.approx(r_dir["charge_transfer_cathode"], rel=1e-8)
