"""`microsim calibrate` as a user runs it: a real (planar, 2D) model, the history, resuming, MPI groups.

One knob (the solid diffusivity of a thin LiFePO4 slab, which sets its 2C capacity) fitted to one capacity. The
MPI part spawns ``mpiexec`` itself, so this file is not marked ``mpi`` (it runs in the serial pass).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("dolfinx_solver")

pytestmark = pytest.mark.fenics

BIN = Path(sys.executable).parent
SLAB = """
[geometry]
kind = "planar"
dim = 2
width_um = 1.0
cathode_thickness_um = 0.5
membrane_thickness_um = 2.0
mesh_size_um = 0.25
[conditions]
temperature_C = 30.0
initial_stoichiometry = 0.01
[output]
png = false
xdmf = false
"""
CALIBRATION = """
[calibration]
name = "slab"
max_evaluations = {budget}
log10_step = 0.1
[[knob]]
key = "lfp.diffusivity_m2_s"
initial = 3e-17
low = 1e-18
high = 1e-15
source = "test bounds"
[[target]]
name = "slab"
case = "slab.toml"
c_rates = [2.0]
paper_mAh_g = [{paper}]
"""


def calibrate(folder: Path, out: Path, ranks: int = 1, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "microsim"), "calibrate", str(folder / "cal.toml"), "--out", str(out), *extra]
    if ranks > 1:
        cmd = [str(BIN / "mpiexec"), "-n", str(ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cal")
    (d / "slab.toml").write_text(SLAB)
    (d / "cal.toml").write_text(CALIBRATION.format(budget=4, paper=100.0))
    return d


@pytest.fixture(scope="module")
def serial(folder: Path) -> Path:
    out = folder / "serial"
    run = calibrate(folder, out)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def test_history_and_result(serial: Path) -> None:
    rec = json.loads((serial / "calibration.json").read_text())
    history = pd.read_csv(serial / "history.csv")
    assert len(history) == rec["n_evaluations"] <= 4
    assert set(history["kind"]) <= {"point", "jacobian"}
    knob = rec["knobs"][0]
    assert 1e-18 <= knob["value"] <= 1e-15 and knob["key"] == "lfp.diffusivity_m2_s"
    # the capacity rises with the solid diffusivity (a slower solid empties less of the slab at 2C)
    col_x = "lfp.diffusivity_m2_s [m2/s]"
    col_m = "model: slab 2C"
    h = history.sort_values(col_x)
    assert h[col_m].is_monotonic_increasing and h[col_m].iloc[0] < h[col_m].iloc[-1]
    # the best point is the one closest to the measured 100 mAh/g among those evaluated
    best = history.loc[(history[col_m] - 100.0).abs().idxmin()]
    assert rec["points"][0]["model"] == pytest.approx(best[col_m], rel=1e-5)
    assert (serial / "cases").is_dir() and len(list((serial / "cases").iterdir())) == len(history)


def test_a_rerun_runs_nothing_and_gives_the_same_answer(folder: Path, serial: Path) -> None:
    first = json.loads((serial / "calibration.json").read_text())
    run = calibrate(folder, serial)
    assert run.returncode == 0, run.stdout + run.stderr
    again = json.loads((serial / "calibration.json").read_text())
    assert again["cases_run_now"] == 0
    assert again["knobs"][0]["value"] == first["knobs"][0]["value"]
    assert "slab 2C" in run.stdout


def test_two_ranks_give_the_serial_answer(folder: Path, serial: Path) -> None:
    # one group of two ranks: the fit's numbers do not depend on the ranks of a case (groups of one rank:
    # tests/integration/test_paper_run.py and test_sweep_run.py)
    out = folder / "mpi"
    run = calibrate(folder, out, ranks=2, extra=("--ranks-per-case", "2"))
    assert run.returncode == 0, run.stdout + run.stderr
    a = json.loads((serial / "calibration.json").read_text())
    b = json.loads((out / "calibration.json").read_text())
    assert b["knobs"][0]["value"] == pytest.approx(a["knobs"][0]["value"], rel=1e-9)
    assert b["points"][0]["model"] == pytest.approx(a["points"][0]["model"], rel=1e-9)


def test_a_bad_file_fails_before_any_run(folder: Path) -> None:
    bad = folder / "bad"
    bad.mkdir()
    (bad / "slab.toml").write_text(SLAB)
    (bad / "cal.toml").write_text(CALIBRATION.format(budget=0, paper=100.0))
    run = calibrate(bad, bad / "out")
    assert run.returncode == 2 and "calibration.max_evaluations = 0" in run.stderr
    assert not (bad / "out").exists()
