"""`microsim paper` as a user runs it: real (planar, 2D) cases, the report, resuming, MPI groups, bad input.

Two thin LiFePO4 slabs (the second with a thicker membrane, so its impedance is larger) stand in for the two
cells; the report's numbers must be the cases' own (capacities from their summaries, the ratio from their
spectra). The MPI part spawns ``mpiexec`` itself, so this file is not marked ``mpi`` (it runs in the serial pass).
The paper's own quick run (3D, about 20 minutes) is ``test_the_bundled_quick_run``, marked ``slow``.
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
ROOT = Path(__file__).resolve().parents[2]
SLAB = """
[geometry]
kind = "planar"
dim = 2
width_um = 1.0
cathode_thickness_um = 0.5
membrane_thickness_um = {L}
mesh_size_um = 0.25
[conditions]
temperature_C = {T}
initial_stoichiometry = 0.01
[output]
png = false
xdmf = false
"""
CAL = """
[calibration]
name = "slab"
[[knob]]
key = "lfp.diffusivity_m2_s"
initial = 3e-17
low = 1e-18
high = 1e-15
source = "test bounds"
[[target]]
name = "slab"
case = "a.toml"
c_rates = [2.0]
paper_mAh_g = [100.0]
"""
PAPER = """
[paper]
citation = "a test"
seeds = [1]
calibration = "cal.toml"
[quick]
seeds = [2]
[[row]]
case = "a.toml"
c_rates = [2.0, 4.0]
paper_mAh_g = [100.0, 60.0]
[[row]]
case = "c.toml"
c_rates = [2.0]
paper_mAh_g = [120.0]
[[spectrum]]
case = "a.toml"
frequency_min_Hz = 0.05
frequency_max_Hz = 10.0
points_per_decade = 2
[[spectrum]]
case = "b.toml"
frequency_min_Hz = 0.05
frequency_max_Hz = 10.0
points_per_decade = 2
[ratio]
numerator = "b.toml"
denominator = "a.toml"
frequency_Hz = 0.1
paper_ratio = 3.0
"""


def paper(folder: Path, out: Path, ranks: int = 1, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "microsim"), "paper", str(folder / "paper.toml"), "--out", str(out), *extra]
    if ranks > 1:
        cmd = [str(BIN / "mpiexec"), "-n", str(ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("paper")
    (d / "a.toml").write_text(SLAB.format(L=2.0, T=30.0))
    (d / "b.toml").write_text(SLAB.format(L=6.0, T=30.0))
    (d / "c.toml").write_text(SLAB.format(L=2.0, T=50.0))
    (d / "cal.toml").write_text(CAL)
    (d / "paper.toml").write_text(PAPER)
    return d


@pytest.fixture(scope="module")
def serial(folder: Path) -> Path:
    out = folder / "serial"
    run = paper(folder, out)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def _summary(out: Path, case_file: Path) -> dict[str, object]:
    text = case_file.read_text()
    for d in (out / "cases").iterdir():
        summary = d / "summary.json"
        if summary.is_file() and (d / "config.toml").read_text() == text:
            return dict(json.loads(summary.read_text()))
    raise AssertionError(f"no case with the resolved config {case_file}")


def test_the_report_holds_the_cases_numbers(serial: Path) -> None:
    report = serial / "report"
    rec = json.loads((report / "results.json").read_text())
    rows = rec["rows"]
    assert [(r["c_rate"], r["fitted"]) for r in rows] == [(2.0, True), (4.0, False), (2.0, False)]
    for r in rows:
        assert r["model_mAh_g"] is not None and r["model_mAh_g"] > 0 and r["limiting_mechanism"]
        summary = _summary(serial, report / r["resolved_case"])
        rate = summary["rate"]
        assert isinstance(rate, dict)
        k = rate["c_rates"].index(r["c_rate"])
        assert r["model_mAh_g"] == pytest.approx(rate["capacity_mAh_g"][k], rel=1e-12)
    # the slab at 50 °C is faster than at 30 °C: more capacity at 2C
    assert rows[2]["model_mAh_g"] > rows[0]["model_mAh_g"]
    assert rows[1]["model_mAh_g"] < rows[0]["model_mAh_g"]
    ratio = rec["impedance_ratio"]
    assert not ratio["fitted"] and ratio["model"] > 1.0  # the thicker membrane has the larger impedance
    from microsim.calibration.cases import impedance_at

    za = abs(impedance_at(_dir_of(serial, report / "cases" / "a-eis-s1.toml"), 0.1))
    zb = abs(impedance_at(_dir_of(serial, report / "cases" / "b-eis-s1.toml"), 0.1))
    assert ratio["model"] == pytest.approx(zb / za, rel=1e-12) == rec["impedance_ratio_0p1Hz"]
    for name in ("capacity_vs_rate.png", "voltage_curves.png", "nyquist.png"):
        assert (report / name).stat().st_size > 1000, name
    assert len(pd.read_csv(report / "results.csv")) == 3


def _dir_of(out: Path, case_file: Path) -> Path:
    for d in (out / "cases").iterdir():
        if (d / "config.toml").is_file() and (d / "config.toml").read_text() == case_file.read_text():
            return d
    raise AssertionError(case_file)


def test_a_resolved_case_file_reproduces_its_number(serial: Path, tmp_path: Path) -> None:
    rec = json.loads((serial / "report" / "results.json").read_text())
    row = rec["rows"][2]
    out = tmp_path / "again"
    run = subprocess.run(
        [str(BIN / "microsim"), "run", str(serial / "report" / row["resolved_case"]), "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    again = json.loads((out / "summary.json").read_text())
    assert again["rate"]["capacity_mAh_g"][0] == pytest.approx(row["model_mAh_g"], rel=1e-9)


def test_a_rerun_runs_nothing(folder: Path, serial: Path) -> None:
    first = json.loads((serial / "report" / "results.json").read_text())
    run = paper(folder, serial)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 cases run" in run.stdout and "(fitted)" in run.stdout and "(predicted)" in run.stdout
    again = json.loads((serial / "report" / "results.json").read_text())
    assert again["rows"] == first["rows"]


def test_two_groups_give_the_serial_numbers(folder: Path, serial: Path) -> None:
    out = folder / "mpi"
    run = paper(folder, out, ranks=2, extra=("--ranks-per-case", "1"))
    assert run.returncode == 0, run.stdout + run.stderr
    a = json.loads((serial / "report" / "results.json").read_text())
    b = json.loads((out / "report" / "results.json").read_text())
    for ra, rb in zip(a["rows"], b["rows"], strict=True):
        assert rb["model_mAh_g"] == pytest.approx(ra["model_mAh_g"], rel=1e-9)
    assert b["impedance_ratio"]["model"] == pytest.approx(a["impedance_ratio"]["model"], rel=1e-9)


def test_a_bad_file_fails_before_any_run(folder: Path) -> None:
    bad = folder / "bad"
    bad.mkdir()
    for name in ("a.toml", "b.toml", "c.toml", "cal.toml"):
        (bad / name).write_text((folder / name).read_text())
    (bad / "paper.toml").write_text(PAPER.replace("c_rates = [2.0]\npaper_mAh_g = [120.0]", "c_rates = [2.0]"))
    run = paper(bad, bad / "out")
    assert run.returncode == 2 and "'paper_mAh_g' is required" in run.stderr
    assert not (bad / "out").exists()


@pytest.mark.slow
def test_the_bundled_quick_run(tmp_path: Path) -> None:
    """The paper's own file in its quick variant (one seed, a 3 µm box): every point gets a model value."""
    run = subprocess.run(
        [str(BIN / "mpiexec"), "-n", "2", str(BIN / "microsim"), "paper", str(ROOT / "validation/paper/paper.toml"),
         "--out", str(tmp_path / "quick"), "--quick", "--quiet"],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    rec = json.loads((tmp_path / "quick" / "report" / "results.json").read_text())
    assert len(rec["rows"]) == 16 and all(r["model_mAh_g"] is not None for r in rec["rows"])
    assert rec["impedance_ratio_0p1Hz"] is not None and rec["impedance_ratio_0p1Hz"] > 1.0
