"""`microsim sweep` and `microsim report` as a user runs them: resume, kill, failures, MPI groups, plots.

The MPI parts spawn ``mpiexec`` themselves, so this file is not marked ``mpi`` (it runs in the serial pass).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("dolfinx_solver")

pytestmark = pytest.mark.fenics

BIN = Path(sys.executable).parent
TINY = """
[base.geometry]
width_um = 4.0
cathode_thickness_um = 4.0
membrane_thickness_um = 3.0
mesh_size_um = 0.3
seed = 3
[base.output]
png = false
xdmf = false
"""
# 2 interfaces x 2 seeds (seeds 3 and 4 both have a particle at the membrane, as point-contact needs).
FOUR = (
    TINY
    + """
[[grid]]
key = "geometry.interface"
values = ["filled", "point-contact"]
[ensemble]
seeds = [3, 4]
"""
)


def sweep_cli(args: list[str], ranks: int = 1, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "microsim"), *args]
    if ranks > 1:
        cmd = [str(BIN / "mpiexec"), "-n", str(ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def start_sweep(path: Path, out: Path) -> subprocess.Popen[bytes]:
    """``microsim sweep PATH --out OUT`` in the background (to be killed or raced by the test)."""
    cmd = [str(BIN / "microsim"), "sweep", str(path), "--out", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def statuses(out: Path) -> list[dict[str, Any]]:
    record = json.loads((out / "sweep.json").read_text())
    result = []
    for case in record["cases"]:
        path = out / "cases" / case["hash"] / "status.json"
        result.append(json.loads(path.read_text()) if path.is_file() else {})
    return result


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The 4-case sweep, run once serially: (sweep file, output directory)."""
    root = tmp_path_factory.mktemp("sweep4")
    path = root / "four.toml"
    path.write_text(FOUR)
    out = root / "serial"
    r = sweep_cli(["sweep", str(path), "--out", str(out)])
    assert r.returncode == 0, r.stdout + r.stderr
    return path, out


def test_runs_to_the_end_one_row_per_case(four: tuple[Path, Path]) -> None:
    _, out = four
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 4 and list(df["index"]) == [0, 1, 2, 3]
    assert (df["status"] == "done").all()
    assert {"hash", "geometry.interface", "geometry.seed", "resistance_ohm_cm2.total", "n_cells"} <= set(df.columns)
    assert not any(c.startswith("conservation") and df[c].dtype == object for c in df.columns)
    assert (df["resistance_ohm_cm2.interfacial_effective"] > 0).all()
    for s in statuses(out):
        assert s["state"] == "done" and s["ranks"] == 1 and s["host"] and s["end_epoch"] >= s["start_epoch"]
    case = out / "cases" / df["hash"][0]
    assert (case / "summary.json").is_file() and (case / "config.toml").is_file()


def test_rerun_recomputes_nothing(four: tuple[Path, Path]) -> None:
    path, out = four
    before = [(out / "cases" / h / "status.json").read_text() for h in pd.read_csv(out / "results.csv")["hash"]]
    r = sweep_cli(["sweep", str(path), "--out", str(out)])
    assert r.returncode == 0, r.stderr
    assert "0 to run" in r.stdout
    after = [(out / "cases" / h / "status.json").read_text() for h in pd.read_csv(out / "results.csv")["hash"]]
    assert after == before


def test_other_sweep_in_same_dir_is_refused(four: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = four
    other = tmp_path / "other.toml"
    other.write_text(FOUR.replace("[3, 4]", "[3, 5]"))
    before = (out / "sweep.json").read_text()
    r = sweep_cli(["sweep", str(other), "--out", str(out)])
    assert r.returncode == 2 and "different sweep" in r.stderr
    assert (out / "sweep.json").read_text() == before


def test_two_groups_run_at_once_and_match_serial(four: tuple[Path, Path]) -> None:
    path, serial = four
    out = serial.parent / "mpi"
    r = sweep_cli(["sweep", str(path), "--out", str(out), "--ranks-per-case", "1"], ranks=2)
    assert r.returncode == 0, r.stdout + r.stderr
    st = statuses(out)
    assert {s["world_ranks"][0] for s in st} == {0, 1}
    overlapping = any(
        a["world_ranks"] != b["world_ranks"] and a["start_epoch"] < b["end_epoch"] and b["start_epoch"] < a["end_epoch"]
        for a in st
        for b in st
    )
    assert overlapping, st
    s1, s2 = pd.read_csv(serial / "results.csv"), pd.read_csv(out / "results.csv")
    assert list(s1["hash"]) == list(s2["hash"])
    rel = (s2["resistance_ohm_cm2.total"] / s1["resistance_ohm_cm2.total"] - 1).abs()
    assert rel.max() < 1e-8


def test_a_group_without_a_case_does_not_hold_the_others(four: tuple[Path, Path]) -> None:
    """One pending case on two groups of one rank: the idle group waits at the end, not in PETSc's start.

    dolfinx initialises PETSc on its first import, collectively over COMM_WORLD; when only the working group
    imported it, the sweep hung there until the time limit. The rerun of a finished sweep with one case added.
    """
    path, serial = four
    out = serial.parent / "one-pending"
    one = path.parent / "one.toml"
    one.write_text(FOUR.replace("[3, 4]", "[3]").replace('["filled", "point-contact"]', '["filled"]'))
    r = sweep_cli(["sweep", str(one), "--out", str(out), "--ranks-per-case", "1"], ranks=2, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    (st,) = statuses(out)
    assert st["state"] == "done" and len(st["world_ranks"]) == 1


def test_report_of_a_two_seed_sweep(four: tuple[Path, Path]) -> None:
    _, out = four
    r = sweep_cli(["report", str(out), "--x", "geometry.interface"])
    assert r.returncode == 0, r.stderr
    pngs = list((out / "plots").glob("*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stats = pd.read_csv(pngs[0].with_suffix(".csv"))
    assert (stats["n"] == 2).all() and (stats["ci_high"] > stats["ci_low"]).all()
    # In-process too: the figure has a band (a filled polygon) per line of the 2-seed ensemble.
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    from microsim.sweep import report as sweep_plots

    df, _ = sweep_plots.load_results(out)
    fig, _ = sweep_plots.draw_sweep(df, x="geometry.seed", y="resistance_ohm_cm2.total", hue="geometry.interface")
    try:
        bands = [c for ax in fig.axes for c in ax.collections if isinstance(c, PolyCollection)]
    finally:
        plt.close(fig)
    assert bands == []  # x is the seed itself: one seed per point, no band
    fig, stats = sweep_plots.draw_sweep(df, x="geometry.interface", y="resistance_ohm_cm2.total")
    try:
        bands = [c for ax in fig.axes for c in ax.collections if isinstance(c, PolyCollection)]
        title = fig._suptitle.get_text() if fig._suptitle is not None else ""
    finally:
        plt.close(fig)
    # two seeds: a t-interval 12.7 standard deviations wide would say nothing; the mean only, and the title says so
    assert bands == [] and (stats["n"] == 2).all() and "no band below 3" in title


def test_failing_case_is_recorded_and_retried_alone(tmp_path: Path) -> None:
    path = tmp_path / "fail.toml"
    path.write_text(TINY + '[[grid]]\nkey = "geometry.active_fraction"\nvalues = [0.45, 0.89]\n')
    out = tmp_path / "out"
    r = sweep_cli(["sweep", str(path), "--out", str(out)])
    assert r.returncode == 3, r.stdout + r.stderr  # ran to the end, with a failed case
    ok, bad = statuses(out)
    assert ok["state"] == "done"
    assert bad["state"] == "failed" and bad["error_type"] == "GeometryError"
    assert "cannot be reached" in bad["error"]
    df = pd.read_csv(out / "results.csv")
    assert list(df["status"]) == ["done", "failed"] and "cannot be reached" in df["error"][1]
    r = sweep_cli(["sweep", str(path), "--out", str(out)])  # a plain rerun keeps the failure
    assert r.returncode == 0 and statuses(out)[1] == bad
    r = sweep_cli(["sweep", str(path), "--out", str(out), "--retry-failed"])
    assert r.returncode == 3
    ok2, bad2 = statuses(out)
    assert ok2 == ok  # the done case was not touched
    assert bad2["attempt"] == 2 and bad2["start_epoch"] > bad["end_epoch"]


def test_resume_after_sigkill(tmp_path: Path) -> None:
    # The second case has a fine mesh so that it runs long enough to be killed in the middle.
    path = tmp_path / "kill.toml"
    path.write_text(TINY + '[[grid]]\nkey = "geometry.mesh_size_um"\nvalues = [0.3, 0.1, 0.28, 0.26]\n')
    out = tmp_path / "out"
    proc = start_sweep(path, out)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (out / "sweep.json").is_file():
                st = statuses(out)
                if st[0].get("state") == "done" and st[1].get("state") == "running":
                    break
            assert proc.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.01)
        else:
            pytest.fail("case 1 never started")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = statuses(out)
    assert killed[0]["state"] == "done" and killed[1]["state"] == "running"
    r = sweep_cli(["sweep", str(path), "--out", str(out)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 done, 3 to run" in r.stdout
    final = statuses(out)
    assert final[0] == killed[0]  # the finished case was not recomputed
    assert all(s["state"] == "done" for s in final)
    assert final[1]["attempt"] == 2
    assert (pd.read_csv(out / "results.csv")["status"] == "done").all()


def test_cases_of_one_geometry_mesh_it_once(tmp_path: Path) -> None:
    """Cases that differ only in non-geometric values share one entry of the sweep's mesh cache."""
    path = tmp_path / "temps.toml"
    path.write_text(TINY + '\n[[grid]]\nkey = "conditions.temperature_C"\nvalues = [30.0, 50.0]\n')
    out = tmp_path / "out"
    r = sweep_cli(["sweep", str(path), "--out", str(out)])
    assert r.returncode == 0, r.stdout + r.stderr
    cache = out / "mesh-cache"
    assert len([p for p in cache.iterdir() if p.name != "packings"]) == 1
    assert len(list((cache / "packings").glob("*.npz"))) == 1  # and one packing, searched once
    record = json.loads((out / "sweep.json").read_text())
    states = [
        json.loads((out / "cases" / c["hash"] / "geometry.json").read_text())["mesh"]["mesh_cache"]["status"]
        for c in record["cases"]
    ]
    assert states == ["written", "hit"]
    rows = pd.read_csv(out / "results.csv")
    r30, r50 = rows["resistance_ohm_cm2.total"]
    assert r50 < r30  # the same mesh, a warmer cell


def test_a_case_interrupted_after_a_checkpoint_resumes_from_it(tmp_path: Path) -> None:
    """A later attempt of a rate case continues from its checkpoints (here: the finished state of each rate)."""
    path = tmp_path / "rate.toml"
    path.write_text(
        TINY
        + '[base.study]\nkind = "rate"\nc_rates = [2.0, 5.0]\n'
        + '[[grid]]\nkey = "conditions.temperature_C"\nvalues = [30.0]\n'
    )
    out = tmp_path / "out"
    r = sweep_cli(["sweep", str(path), "--out", str(out)])
    assert r.returncode == 0, r.stdout + r.stderr
    (first,) = statuses(out)
    assert first["attempt"] == 1 and first["resumed"] is False
    cdir = out / "cases" / first["hash"]
    before = json.loads((cdir / "summary.json").read_text())["rate"]
    assert sorted(p.parent.name for p in (cdir / "runs").glob("*/checkpoint.npz")) == ["2C", "5C"]
    # as if the job had been killed after the checkpoints were written, before the status said done
    (cdir / "status.json").write_text(json.dumps({**first, "state": "running", "end": None, "end_epoch": None}))
    (cdir / "summary.json").unlink()
    r = sweep_cli(["sweep", str(path), "--out", str(out)])
    assert r.returncode == 0, r.stdout + r.stderr
    (second,) = statuses(out)
    assert second["state"] == "done" and second["attempt"] == 2 and second["resumed"] is True
    after = json.loads((cdir / "summary.json").read_text())["rate"]
    assert after["c_rates"] == before["c_rates"] == [2.0, 5.0]
    assert after["capacity_mAh_g"] == pytest.approx(before["capacity_mAh_g"], rel=1e-9)
    assert after["time_steps"] == before["time_steps"]


def test_a_second_invocation_on_a_running_sweep_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "busy.toml"
    path.write_text(TINY + '[[grid]]\nkey = "geometry.mesh_size_um"\nvalues = [0.1, 0.3]\n')
    out = tmp_path / "out"
    proc = start_sweep(path, out)
    try:
        deadline = time.monotonic() + 120
        while not (out / "sweep.json").is_file() or not any(s.get("state") == "running" for s in statuses(out)):
            assert proc.poll() is None and time.monotonic() < deadline, "the first sweep never started a case"
            time.sleep(0.01)
        r = sweep_cli(["sweep", str(path), "--out", str(out)])
        assert r.returncode == 2 and "is in use by another microsim process" in r.stderr, r.stderr
        assert f"pid {proc.pid}" in r.stderr
        # job-array tasks share the folder by design: --case-index does not lock (case 1 runs beside case 0)
        r = sweep_cli(["sweep", str(path), "--out", str(out), "--case-index", "1"])
        assert r.returncode == 0, r.stderr
    finally:
        proc.kill()
        proc.wait(timeout=30)
