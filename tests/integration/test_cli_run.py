"""The real command line: `microsim run` and `mesh` as a user types them, serially and under mpiexec -n 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dolfinx_solver")

from tests._cases import SMALL_TOML

pytestmark = pytest.mark.fenics

BIN = Path(sys.executable).parent
SMALL = SMALL_TOML


def run_cli(args: list[str], ranks: int = 1, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "microsim"), *args]
    if ranks > 1:
        cmd = [str(BIN / "mpiexec"), "-n", str(ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("interface", ["filled", "point-contact"])
def test_two_ranks_match_serial(tmp_path: Path, interface: str) -> None:
    case = tmp_path / "case.toml"
    case.write_text(SMALL.format(interface=interface))
    r1 = run_cli(["run", str(case), "--out", str(tmp_path / "serial")])
    assert r1.returncode == 0, r1.stderr
    r2 = run_cli(["run", str(case), "--out", str(tmp_path / "mpi")], ranks=2)
    assert r2.returncode == 0, r2.stderr
    s1 = json.loads((tmp_path / "serial" / "summary.json").read_text())
    s2 = json.loads((tmp_path / "mpi" / "summary.json").read_text())
    assert s2["n_ranks"] == 2 and s1["n_ranks"] == 1
    t1, t2 = s1["resistance_ohm_cm2"]["total"], s2["resistance_ohm_cm2"]["total"]
    assert abs(t2 / t1 - 1) < 1e-6
    assert (tmp_path / "mpi" / "fields" / "particles.xdmf").is_file()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("geometry.active_fraction=0.89", "active_fraction"),
        ("geometry.membrane_thickness_um=-1", "membrane_thickness_um"),
        ("conditions.temperature_C=-300", "temperature_C"),
        ("geometry.kind=particles-file", "particles_file"),
    ],
)
def test_bad_input_exit_2_one_line_nothing_written(tmp_path: Path, change: str, field: str) -> None:
    case = tmp_path / "case.toml"
    case.write_text(SMALL.format(interface="filled"))
    out = tmp_path / "out"
    r = run_cli(["run", str(case), "--out", str(out), "--set", change], ranks=2)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr  # once, not once per rank
    assert "Traceback" not in r.stderr and field in lines[0]
    assert not (out / "summary.json").exists()


def test_point_contact_without_contact_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text("x_um,y_um,r_um\n1.0,0.45,0.5\n3.0,0.45,0.5\n")  # two particles on the collector only
    case = tmp_path / "case.toml"
    case.write_text(SMALL.format(interface="point-contact"))
    r = run_cli(
        ["run", str(case), "--out", str(tmp_path / "o"), "--set", "geometry.kind=particles-file",
         "--set", f"geometry.particles_file={csv}"]
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "membrane" in r.stderr and "Traceback" not in r.stderr


def test_mesh_command(tmp_path: Path) -> None:
    case = tmp_path / "case.toml"
    case.write_text(SMALL.format(interface="point-contact"))
    r = run_cli(["mesh", str(case), "--out", str(tmp_path / "m")])
    assert r.returncode == 0, r.stderr
    geo = json.loads((tmp_path / "m" / "geometry.json").read_text())
    assert geo["n_contact_spots"] >= 1 and geo["contact_area_fraction"] > 0
    assert (tmp_path / "m" / "mesh.xdmf").is_file()
