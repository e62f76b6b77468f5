"""Stopping on request (issue 18, item 1): SIGTERM or --max-wall-time saves the state, exits 75, and a restart
ends exactly where the uninterrupted run ends; a sweep starts no new case and its rerun resumes the stopped one.

The MPI parts spawn ``mpiexec`` themselves (it forwards SIGTERM to the ranks), so this file runs in the serial pass.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("dolfinx_solver")

from microsim.errors import EXIT_INTERRUPTED
from tests._cases import SMALL_TOML

pytestmark = pytest.mark.fenics

BIN = Path(sys.executable).parent
#: A 0.05C point-contact discharge: 28 time steps, about 2 s of stepping after the mesh (no periodic checkpoint).
CASE = (
    SMALL_TOML.format(interface="point-contact").replace("[output]\n", "[output]\nxdmf = false\n")
    + """
[conditions]
initial_stoichiometry = 0.01
[study]
kind = "discharge"
c_rate = 0.05
checkpoint_wall_interval_s = 0.0
"""
)


def _cmd(args: list[str], ranks: int) -> list[str]:
    cmd = [str(BIN / "microsim"), *args]
    return [str(BIN / "mpiexec"), "-n", str(ranks), *cmd] if ranks > 1 else cmd


def _run(args: list[str], ranks: int = 1) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cmd(args, ranks), capture_output=True, text=True, timeout=300)


def _terminate_when(args: list[str], ranks: int, folder: Path, pattern: str) -> subprocess.CompletedProcess[str]:
    """Start the command, send SIGTERM as soon as ``folder/pattern`` exists (a run.json: the mesh is built)."""
    proc = subprocess.Popen(_cmd(args, ranks), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not any(folder.glob(pattern)):
        assert proc.poll() is None, "the run ended before it could be stopped"
        assert time.monotonic() < deadline, f"{folder / pattern} never appeared"
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=240)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _discharge(out: Path) -> dict[str, float]:
    return json.loads((out / "summary.json").read_text())["discharge"]


@pytest.mark.parametrize("ranks", [1, 2])
def test_sigterm_mid_discharge_then_restart_equals_the_uninterrupted_run(tmp_path: Path, ranks: int) -> None:
    case = tmp_path / "case.toml"
    case.write_text(CASE)
    ref = _run(["run", str(case), "--out", str(tmp_path / "ref"), "--quiet"], ranks)
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "out"
    r = _terminate_when(["run", str(case), "--out", str(out)], ranks, out, "run.json")
    assert r.returncode == EXIT_INTERRUPTED, (r.returncode, r.stderr)
    assert "microsim: stopped: SIGTERM received" in r.stderr and "--restart" in r.stderr
    assert r.stderr.count("microsim: stopped") == 1  # one message, from rank 0
    assert json.loads((out / "run.json").read_text())["state"] == "interrupted"
    assert (out / "checkpoint.npz").is_file() and not (out / "summary.json").exists()
    again = _run(["run", str(case), "--out", str(out), "--restart", "--quiet"], ranks)
    assert again.returncode == 0, again.stderr
    a, b = _discharge(tmp_path / "ref"), _discharge(out)
    assert b["capacity_mAh_g"] == pytest.approx(a["capacity_mAh_g"], rel=1e-9)
    assert b["final_voltage_V"] == pytest.approx(a["final_voltage_V"], rel=1e-9)
    assert b["time_steps"] == a["time_steps"]


def test_max_wall_time_stops_with_a_checkpoint(tmp_path: Path) -> None:
    case = tmp_path / "case.toml"
    case.write_text(CASE)
    out = tmp_path / "out"
    r = _run(["run", str(case), "--out", str(out), "--max-wall-time", "0.001"])
    assert r.returncode == EXIT_INTERRUPTED, r.stderr
    assert "wall-time limit (--max-wall-time)" in r.stderr and (out / "checkpoint.npz").is_file()
    bad = _run(["run", str(case), "--out", str(out), "--max-wall-time", "1:30"])
    assert bad.returncode == 2 and "expected seconds, HH:MM:SS or D-HH:MM:SS" in bad.stderr


def test_a_stopped_sweep_starts_no_new_case_and_its_rerun_resumes(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.toml"
    body = "\n".join(f"[base.{line[1:]}" if line.startswith("[") else line for line in CASE.strip().splitlines())
    sweep.write_text(body + '\n[[grid]]\nkey = "study.c_rate"\nvalues = [0.05, 0.06]\n')
    out = tmp_path / "out"
    r = _terminate_when(["sweep", str(sweep), "--out", str(out)], 1, out, "cases/*/run.json")
    assert r.returncode == EXIT_INTERRUPTED, (r.returncode, r.stderr)
    assert "stopped on request with 2 case(s) unfinished" in r.stderr
    assert "interrupted (checkpoint kept" in r.stdout and "FAILED" not in r.stdout
    states = {p.parent.name: json.loads(p.read_text())["state"] for p in (out / "cases").glob("*/status.json")}
    assert list(states.values()) == ["interrupted"]  # the second case never started
    assert (out / "results.csv").is_file()
    again = _run(["sweep", str(sweep), "--out", str(out)])
    assert again.returncode == 0, again.stderr
    (stopped,) = states
    status = json.loads((out / "cases" / stopped / "status.json").read_text())
    assert status["state"] == "done" and status["resumed"] is True and status["attempt"] == 2
