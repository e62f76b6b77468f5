"""3D resistance study on particle files: same R_total on 1 and 2 ranks, breakdown closes (issue 3 groundwork)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

from microsim import config
from microsim.physics.functionals import PARTS
from microsim.studies.resistance import run_resistance
from tests._cases import spheres_3d

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]

# two spheres on the collector, one reaching the membrane plane: a 3D cell meshing in ~1 s
PARTICLES = "x_um,y_um,z_um,r_um\n1.0,1.0,0.4975,0.5\n2.05,2.05,0.3980,0.4\n"


def cfg_3d(folder: Path, interface: str) -> config.Config:
    csv = folder / "particles.csv"
    if MPI.COMM_WORLD.rank == 0:
        csv.write_text(PARTICLES)
    MPI.COMM_WORLD.barrier()
    return config.from_dict(
        {
            "geometry": spheres_3d(csv, interface, cathode_thickness_um=1.1 if interface == "filled" else 1.0),
            "output": {"png": False, "xdmf": False},
        }
    )


@pytest.mark.parametrize("interface", ["filled", "point-contact"])
def test_3d_same_answer_on_world_and_one_rank(mpi_tmp_path: Path, interface: str) -> None:
    cfg = cfg_3d(mpi_tmp_path, interface)
    a = run_resistance(cfg, None, MPI.COMM_WORLD)
    b = run_resistance(cfg, None, MPI.COMM_SELF)
    assert a["dim"] == 3 and a["n_cells"] == b["n_cells"]
    ra, rb = a["resistance_ohm_cm2"], b["resistance_ohm_cm2"]
    assert ra["total"] == pytest.approx(rb["total"], rel=1e-8)
    assert sum(ra[p] for p in PARTS) == pytest.approx(ra["total"], rel=1e-6)
    cons = a["conservation"]
    assert cons["interface_current_A_m2"] == pytest.approx(cons["applied_current_A_m2"], rel=1e-8)
    if interface == "point-contact":
        assert ra["cathode_electrolyte"] == 0.0
        assert ra["interfacial_effective"] > 10 * ra["membrane"]
