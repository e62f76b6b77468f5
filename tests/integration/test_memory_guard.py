"""The memory guard end to end: the estimate against real meshes, and refusals before any meshing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

from microsim import config, resources
from microsim.studies.common import build_cell_mesh, describe_geometry

pytestmark = pytest.mark.fenics

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: 2D default with 2 nm elements: about 10^8 cells, hundreds of GB (no machine of the suite has that).
OVERSIZED = ["--set", "geometry.mesh_size_um=0.002", "--set", "geometry.interface_mesh_size_um=0.001"]


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("default-2d.toml", {}),
        ("default-2d.toml", {"geometry.interface": "point-contact", "geometry.mesh_size_um": 0.3}),
        ("default-2d.toml", {"geometry.seed": 5, "geometry.width_um": 8.0}),
        ("default-3d.toml", {"geometry.interface": "point-contact", "geometry.seed": 3}),
    ],
)
def test_the_estimate_is_within_half_of_the_meshed_count(case: str, changes: dict) -> None:
    """The fitted size model (fitted on other cases than the last three) against Gmsh's count."""
    cfg = config.replace(config.load(ROOT / "geometries" / case), **changes)
    desc = describe_geometry(cfg)
    estimated = resources.cell_count(desc)
    meshed = build_cell_mesh(desc, MPI.COMM_SELF).count_cells()["total"]
    assert 1 / 1.5 < estimated / meshed < 1.5, (estimated, meshed)


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "microsim"), *args], capture_output=True, text=True, timeout=120, env=env)


def test_check_and_run_refuse_an_oversized_case_before_meshing(tmp_path: Path) -> None:
    case = str(ROOT / "geometries" / "default-2d.toml")
    checked = _cli("check", case, *OVERSIZED)
    assert checked.returncode == 2
    assert "cells" in checked.stderr and "GB are available" in checked.stderr and "--force" in checked.stderr
    assert "Estimate: about" in checked.stdout
    assert _cli("check", case, *OVERSIZED, "--force").returncode == 0

    out = tmp_path / "run"
    ran = _cli("run", case, *OVERSIZED, "--out", str(out))
    assert ran.returncode == 2 and "GB are available" in ran.stderr
    assert not (out / "geometry.json").exists() and not (out / "run.json").exists()  # refused before the mesh
