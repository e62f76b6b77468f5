"""Correctness on 3 and 4 ranks (oversubscribed on a 2-core machine): the partitioned runs equal one-rank runs.

Odd rank counts and more ranks than cores exercise partitions that 2 ranks never make (a rank holding only
electrolyte cells, shared facets on Γ between three ranks). The runs under ``mpiexec`` are the command line as a
user types it; the one-rank references run in this process. This file spawns ``mpiexec`` itself, so it is not
marked ``mpi`` (it runs in the serial pass).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

from microsim import config
from microsim.studies import run_study
from tests._cases import SMALL_TOML

pytestmark = pytest.mark.fenics

BIN = Path(sys.executable).parent
#: Another partition changes only the round-off of the solves (cf. test_restart.OTHER_RANKS).
OTHER_RANKS = 1e-6

SMALL_2D = SMALL_TOML + "xdmf = false\n"

SPHERES = "x_um,y_um,z_um,r_um\n0.8,0.8,0.4975,0.5\n1.95,1.6,0.3980,0.4\n2.2,0.75,0.5,0.35\n"
SMALL_3D = """
[geometry]
kind = "particles-file"
dim = 3
interface = "filled"
width_um = 3.0
cathode_thickness_um = 1.1
membrane_thickness_um = 1.5
particles_file = "{csv}"
radius_mean_um = 0.45
overlap_fraction = 0.005
mesh_size_um = 0.5
interface_mesh_size_um = 0.25
[output]
png = false
xdmf = false
"""

DISCHARGE = [
    "study.kind=discharge",
    "study.c_rate=0.05",
    "study.time_limit_s=300",
    "conditions.initial_stoichiometry=0.01",
]


def _mpi_run(case: Path, out: Path, ranks: int, sets: list[str]) -> dict:
    cmd = [str(BIN / "mpiexec"), "-n", str(ranks), str(BIN / "microsim"), "run", str(case), "--out", str(out)]
    for s in sets:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_ranks"] == ranks
    return summary


def _serial(case: Path, out: Path, sets: list[str]) -> dict:
    return run_study(config.load(case, sets), out, MPI.COMM_WORLD)


@pytest.mark.parametrize(("interface", "ranks"), [("filled", 3), ("point-contact", 4)])
def test_resistance_2d_on_3_and_4_ranks(tmp_path: Path, interface: str, ranks: int) -> None:
    case = tmp_path / "case.toml"
    case.write_text(SMALL_2D.format(interface=interface))
    one = _serial(case, tmp_path / "one", [])["resistance_ohm_cm2"]
    many = _mpi_run(case, tmp_path / "many", ranks, [])["resistance_ohm_cm2"]
    for part in ("total", "membrane", "charge_transfer_cathode", "concentration"):
        assert many[part] == pytest.approx(one[part], rel=OTHER_RANKS), part


def test_discharge_2d_on_4_ranks(tmp_path: Path) -> None:
    case = tmp_path / "case.toml"
    case.write_text(SMALL_2D.format(interface="point-contact"))
    one = _serial(case, tmp_path / "one", DISCHARGE)["discharge"]
    many = _mpi_run(case, tmp_path / "many", 4, DISCHARGE)["discharge"]
    assert many["end_reason"] == one["end_reason"] == "duration"
    assert many["time_steps"] == one["time_steps"]
    for key in ("final_voltage_V", "capacity_mAh_g"):
        assert many[key] == pytest.approx(one[key], rel=OTHER_RANKS), key


def test_resistance_3d_on_3_ranks(tmp_path: Path) -> None:
    csv = tmp_path / "particles.csv"
    csv.write_text(SPHERES)
    case = tmp_path / "case.toml"
    case.write_text(SMALL_3D.format(csv=csv))
    one = _serial(case, tmp_path / "one", [])["resistance_ohm_cm2"]
    many = _mpi_run(case, tmp_path / "many", 3, [])["resistance_ohm_cm2"]
    assert many["total"] == pytest.approx(one["total"], rel=OTHER_RANKS)
