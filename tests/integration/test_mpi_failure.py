"""Issue 7: an exception on ONE rank ends the whole mpiexec job promptly, with the message shown once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("dolfinx_solver")

pytestmark = pytest.mark.fenics

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys
    import dolfinx_solver  # noqa: F401
    from mpi4py import MPI
    sys.path.insert(0, {root!r})
    import microsim.physics.functionals as q
    from microsim import cli

    original = q.Quantities.evaluate

    def failing(self):
        # rank 1 fails in the middle of the run; rank 0 goes on into the next collective call
        if MPI.COMM_WORLD.rank == 1:
            raise RuntimeError("injected failure on rank 1")
        return original(self)

    q.Quantities.evaluate = failing
    sys.exit(cli.main(["run", {case!r}, "--out", {out!r}]))
    """
)


def test_one_rank_failure_aborts_all_ranks(tmp_path: Path) -> None:
    case = tmp_path / "case.toml"
    case.write_text(
        "[geometry]\nwidth_um = 4.0\ncathode_thickness_um = 4.0\nmembrane_thickness_um = 3.0\nmesh_size_um = 0.3\n"
        "[output]\npng = false\n"
    )
    script = tmp_path / "inject.py"
    script.write_text(SCRIPT.format(root=str(ROOT), case=str(case), out=str(tmp_path / "out")))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "mpiexec"), "-n", "2", sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode != 0
    assert proc.stderr.count("RuntimeError: injected failure on rank 1") == 1, proc.stderr  # once, not per rank
    assert not (tmp_path / "out" / "summary.json").exists()
    # a hang would run into the 120 s timeout; the job must end within seconds of the failure
    assert elapsed < 60, elapsed
