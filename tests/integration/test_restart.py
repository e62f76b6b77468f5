"""Checkpoints and restart of transient runs (issue 7, items 3 and 4).

* a run killed after a checkpoint and restarted gives the uninterrupted answer (same step sequence, so equal to
  round-off: the tolerance is 1e-8 relative);
* a time-stepping failure that cut-backs cannot cure saves the last accepted state before the error propagates;
* checkpoints are rank-independent: written on COMM_WORLD, restarted on COMM_SELF and back (2 → 1 → 2 under
  ``mpiexec -n 2``);
* a restart under another configuration, or without a checkpoint, is a ConfigError;
* the rate study resumes its unfinished C-rate and keeps the finished ones;
* ``microsim run --restart`` on the command line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dolfinx_solver")

import numpy as np
import pandas as pd
from mpi4py import MPI

from microsim import checkpoint, config
from microsim.errors import ConfigError, ConvergenceError
from microsim.solver import BorderedNewton
from microsim.studies import discharge as discharge_mod
from microsim.studies import run_study
from microsim.studies.rate import run_rate
from tests._cases import small

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]

BIN = Path(sys.executable).parent
#: A restart that repeats the step sequence agrees with the uninterrupted run to round-off.
SAME = 1e-8
#: Another number of ranks changes the round-off of the solves (cf. test_same_capacity_on_world_and_one_rank).
OTHER_RANKS = 1e-6


def _cfg(**changes: object) -> config.Config:
    # 0.05C point contact: 27 time steps, 2456 s to the 3 V cut-off; a checkpoint every 300 s
    base = {
        "geometry.interface": "point-contact",
        "study.kind": "discharge",
        "study.c_rate": 0.05,
        "study.checkpoint_interval_s": 300.0,
        "conditions.initial_stoichiometry": 0.01,
        "output.xdmf": False,
    }
    base.update(changes)
    return small(**base)


class Killed(Exception):
    """Stands for SIGKILL: raised from inside the run, nothing catches it."""


def _shared_dir(comm: MPI.Comm, base: Path) -> Path:
    path = tempfile.mkdtemp(prefix="restart-", dir=base) if comm.rank == 0 else None
    return Path(comm.bcast(path, root=0))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The uninterrupted run on COMM_WORLD (its summary and time series)."""
    comm = MPI.COMM_WORLD
    out = _shared_dir(comm, tmp_path_factory.getbasetemp())
    summary = run_study(_cfg(), out / "ref", comm)
    comm.barrier()
    yield {"summary": summary["discharge"], "series": pd.read_csv(out / "ref" / "timeseries.csv"), "dir": out}
    comm.barrier()
    if comm.rank == 0:
        shutil.rmtree(out, ignore_errors=True)


def _kill_after_checkpoint(monkeypatch: pytest.MonkeyPatch, out_dir: Path, n_after: int = 3) -> None:
    """Make the run die ``n_after`` accepted steps after its first checkpoint appeared in ``out_dir``."""
    original = discharge_mod.DischargeCell.breakdown  # called once per accepted step, on every rank
    seen = {"n": 0}

    def breakdown(self: Any, current: float) -> dict[str, float]:
        # the checkpoint file is renamed into place before the collective save returns: every rank sees it
        if (out_dir / checkpoint.FILENAME).is_file():
            seen["n"] += 1
            if seen["n"] > n_after:
                raise Killed
        return original(self, current)

    monkeypatch.setattr(discharge_mod.DischargeCell, "breakdown", breakdown)


def _killed_run(monkeypatch: pytest.MonkeyPatch, out_dir: Path, comm: MPI.Comm) -> None:
    with monkeypatch.context() as mp:
        _kill_after_checkpoint(mp, out_dir)
        with pytest.raises(Killed):
            run_study(_cfg(), out_dir, comm)
    assert (out_dir / checkpoint.FILENAME).is_file()
    assert not (out_dir / "summary.json").exists()


def _assert_same(result: dict[str, Any], series: pd.DataFrame, reference: dict[str, Any], rel: float) -> None:
    ref = reference["summary"]
    for key in ("capacity_mAh_g", "energy_Wh_kg", "final_voltage_V", "final_time_s"):
        assert result[key] == pytest.approx(ref[key], rel=rel), key
    assert result["end_reason"] == ref["end_reason"] == "cutoff"
    assert result["particle_unused_fraction"] == ref["particle_unused_fraction"]
    if rel <= SAME:
        assert result["time_steps"] == ref["time_steps"]
        assert series.shape == reference["series"].shape
        np.testing.assert_allclose(series.to_numpy(float), reference["series"].to_numpy(float), rtol=rel, atol=1e-12)


def test_kill_and_restart_equals_uninterrupted(
    reference: dict[str, Any], mpi_tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    comm = MPI.COMM_WORLD
    _killed_run(monkeypatch, mpi_tmp_path, comm)
    saved = np.load(mpi_tmp_path / checkpoint.FILENAME)
    state = json.loads(str(saved["meta"]))["state"]
    assert 0 < state["time_s"] < reference["summary"]["final_time_s"]
    assert state["step_progress"] is not None and not state["step_progress"]["first"]

    result = run_study(_cfg(), mpi_tmp_path, comm, restart=True)["discharge"]
    _assert_same(result, pd.read_csv(mpi_tmp_path / "timeseries.csv"), reference, SAME)
    # the final state is checkpointed too: restarting a finished run rewrites the same answer
    again = run_study(_cfg(), mpi_tmp_path, comm, restart=True)["discharge"]
    _assert_same(again, pd.read_csv(mpi_tmp_path / "timeseries.csv"), reference, SAME)


def test_bdf2_restart_equals_uninterrupted(mpi_tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BDF2 with the error control: the checkpoint carries the state before the last and the error history."""
    comm = MPI.COMM_WORLD
    changes = {"study.time_scheme": "bdf2", "study.step_control": "error"}
    ref_dir, run_dir = mpi_tmp_path / "ref", mpi_tmp_path / "run"
    ref = run_study(_cfg(**changes), ref_dir, comm)["discharge"]
    with monkeypatch.context() as mp:
        _kill_after_checkpoint(mp, run_dir)
        with pytest.raises(Killed):
            run_study(_cfg(**changes), run_dir, comm)
    saved = np.load(run_dir / checkpoint.FILENAME)
    assert any(k.startswith("values_" + checkpoint.PREVIOUS) for k in saved.files)
    progress = json.loads(str(saved["meta"]))["state"]["step_progress"]
    assert progress["dt_prev"] > 0 and len(progress["y_hist"]) == 3  # BDF2's estimate: three states
    result = run_study(_cfg(**changes), run_dir, comm, restart=True)["discharge"]
    reference = {"summary": ref, "series": pd.read_csv(ref_dir / "timeseries.csv")}
    _assert_same(result, pd.read_csv(run_dir / "timeseries.csv"), reference, SAME)


def test_persistent_failure_saves_the_last_good_state(
    reference: dict[str, Any], mpi_tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    comm = MPI.COMM_WORLD
    real = BorderedNewton.solve
    calls = {"n": 0}

    def failing(self: BorderedNewton, galvanostatic: bool = True) -> Any:
        calls["n"] += 1
        if calls["n"] > 12:  # every solve after the 12th fails: cut-backs cannot help
            raise ConvergenceError("injected failure")
        return real(self, galvanostatic)

    cfg = _cfg(**{"output.xdmf": True, "study.snapshots": 0})
    with monkeypatch.context() as mp:
        mp.setattr(BorderedNewton, "solve", failing)
        with pytest.raises(ConvergenceError) as info:
            run_study(cfg, mpi_tmp_path, comm)
    msg = str(info.value)
    assert "at t = " in msg and "step size" in msg and "injected failure" in msg
    assert "last accepted state" in msg and "checkpoint.npz" in msg
    assert (mpi_tmp_path / checkpoint.FILENAME).is_file()
    assert (mpi_tmp_path / "fields" / "particles.xdmf").is_file()
    assert (mpi_tmp_path / "fields" / "electrolyte.xdmf").is_file()
    series = pd.read_csv(mpi_tmp_path / "timeseries.csv")
    ref_series = reference["series"]
    n = len(series)
    assert 1 < n < len(ref_series)
    # the rows so far are those of the uninterrupted run, and the checkpoint is the last of them
    np.testing.assert_allclose(series.to_numpy(float), ref_series.to_numpy(float)[:n], rtol=SAME, atol=1e-12)
    state = json.loads(str(np.load(mpi_tmp_path / checkpoint.FILENAME)["meta"]))["state"]
    assert state["time_s"] == pytest.approx(series["Time [s]"].iloc[-1], rel=1e-14)
    assert len(state["records"]) == n
    # and it is a good state: the run continues from it to the uninterrupted answer
    result = run_study(cfg, mpi_tmp_path, comm, restart=True)["discharge"]
    _assert_same(result, pd.read_csv(mpi_tmp_path / "timeseries.csv"), reference, SAME)


def test_checkpoint_is_rank_independent(
    reference: dict[str, Any], mpi_tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, self_ = MPI.COMM_WORLD, MPI.COMM_SELF
    # N → 1: written on all ranks, each rank restarts alone from its own copy (COMM_SELF runs must not share files)
    _killed_run(monkeypatch, mpi_tmp_path / "world", world)
    own = mpi_tmp_path / f"self{world.rank}"
    own.mkdir()
    shutil.copy(mpi_tmp_path / "world" / checkpoint.FILENAME, own / checkpoint.FILENAME)
    assert json.loads(str(np.load(own / checkpoint.FILENAME)["meta"]))["n_ranks"] == world.size
    result = run_study(_cfg(), own, self_, restart=True)["discharge"]
    _assert_same(result, pd.read_csv(own / "timeseries.csv"), reference, SAME if world.size == 1 else OTHER_RANKS)
    world.barrier()

    # 1 → N: written by rank 0 alone, continued on all ranks
    serial = mpi_tmp_path / "serial"
    if world.rank == 0:
        _killed_run(monkeypatch, serial, self_)
        assert json.loads(str(np.load(serial / checkpoint.FILENAME)["meta"]))["n_ranks"] == 1
    world.barrier()
    result = run_study(_cfg(), serial, world, restart=True)["discharge"]
    _assert_same(result, pd.read_csv(serial / "timeseries.csv"), reference, SAME if world.size == 1 else OTHER_RANKS)


def test_restart_needs_a_checkpoint_of_the_same_configuration(mpi_tmp_path: Path) -> None:
    comm = MPI.COMM_WORLD
    with pytest.raises(ConfigError, match="no checkpoint in"):
        run_study(_cfg(), mpi_tmp_path, comm, restart=True)
    short = {"study.time_limit_s": 60.0}  # a few steps; the final state is checkpointed
    run_study(_cfg(**short), mpi_tmp_path, comm)
    with pytest.raises(ConfigError, match=r"geometry\.seed = 4 differs from the checkpoint's 3"):
        run_study(_cfg(**short, **{"geometry.seed": 4}), mpi_tmp_path, comm, restart=True)
    with pytest.raises(ConfigError, match=r"study\.voltage_step_V"):
        run_study(_cfg(**short, **{"study.voltage_step_V": 0.005}), mpi_tmp_path, comm, restart=True)
    # what cannot change the answer may change: outputs, snapshots, checkpoint settings
    changed = {"output.xdmf": True, "study.snapshots": 2, "study.checkpoint_interval_s": 0.0}
    res = run_study(_cfg(**short, **changed), mpi_tmp_path, comm, restart=True)["discharge"]
    assert res["final_time_s"] == pytest.approx(60.0) and res["end_reason"] == "duration"


def test_rate_study_resumes_the_unfinished_rate(
    reference: dict[str, Any], mpi_tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    comm = MPI.COMM_WORLD
    cfg = _cfg(**{"study.kind": "rate", "study.c_rates": [0.05, 0.1], "study.checkpoint_interval_s": 40.0})
    full = run_rate(cfg, mpi_tmp_path / "full", comm)["rate"]
    out = mpi_tmp_path / "killed"
    with monkeypatch.context() as mp:
        _kill_after_checkpoint(mp, out / "runs" / "0.1C", n_after=2)
        with pytest.raises(Killed):
            run_rate(cfg, out, comm)
    assert (out / "runs" / "0.05C" / checkpoint.FILENAME).is_file()  # finished, with its final state
    restarted = run_rate(cfg, out, comm, restart=True)["rate"]
    for key in ("capacity_mAh_g", "energy_Wh_kg", "final_voltage_V"):
        np.testing.assert_allclose(restarted[key], full[key], rtol=SAME)
    assert restarted["time_steps"] == full["time_steps"]
    assert restarted["capacity_mAh_g"][0] == pytest.approx(reference["summary"]["capacity_mAh_g"], rel=SAME)


def test_a_failed_rate_keeps_the_others_and_restart_completes_it(
    mpi_tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    comm = MPI.COMM_WORLD
    cfg = _cfg(**{"study.kind": "rate", "study.c_rates": [0.05, 0.1], "study.max_cutbacks": 2})
    full = run_rate(cfg, mpi_tmp_path / "full", comm)["rate"]
    out = mpi_tmp_path / "failed"
    real = BorderedNewton.solve
    fast = 0.075 * 2.0  # between the two rates' currents, in units of the 0.05C current (set below)

    def failing(self: BorderedNewton, galvanostatic: bool = True) -> Any:
        # the last C-rate fails for good once it has run 600 s: cut-backs cannot help
        m = self.model
        if float(m.current_density.value) > fast and float(m.V_old.value) < 3.35:
            raise ConvergenceError("injected failure")
        return real(self, galvanostatic)

    with monkeypatch.context() as mp:
        mp.setattr(BorderedNewton, "solve", failing)
        from microsim.studies.discharge import DischargeCell

        probe = DischargeCell(cfg, comm)
        fast = 0.075 * probe.one_c
        probe.destroy()
        with pytest.raises(ConvergenceError) as info:
            run_rate(cfg, out, comm)
    msg = str(info.value)
    assert "1 of 2 C-rates failed" in msg and "0.1C" in msg and "injected failure" in msg and "--restart" in msg
    # the finished rate is on disk, and the failed one is recorded with its reason
    on_disk = json.loads((out / "summary.json").read_text())["rate"]
    assert on_disk["partial"] is True and on_disk["pending"] == []
    assert on_disk["c_rates"] == [0.05] and list(on_disk["failed"]) == ["0.1C"]
    assert "injected failure" in on_disk["failed"]["0.1C"]
    assert on_disk["capacity_mAh_g"][0] == pytest.approx(full["capacity_mAh_g"][0], rel=SAME)
    table = pd.read_csv(out / "rate.csv")
    assert list(table["Status"]) == ["finished", "failed"]
    assert table["Capacity [mAh/g]"].iloc[0] == pytest.approx(full["capacity_mAh_g"][0], rel=SAME)
    assert np.isnan(table["Capacity [mAh/g]"].iloc[1])
    assert (out / "runs" / "0.1C" / checkpoint.FILENAME).is_file()  # its last accepted state
    # the restart continues the failed rate from that state and keeps the finished one
    again = run_rate(cfg, out, comm, restart=True)["rate"]
    assert again["partial"] is False and again["failed"] == {} and again["c_rates"] == [0.05, 0.1]
    np.testing.assert_allclose(again["capacity_mAh_g"], full["capacity_mAh_g"], rtol=SAME)
    assert list(pd.read_csv(out / "rate.csv")["Status"]) == ["finished", "finished"]


def test_a_running_study_keeps_its_time_series_and_checkpoint_current(
    reference: dict[str, Any], mpi_tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    comm = MPI.COMM_WORLD
    # a wall-time interval shorter than any step: the checkpoint and timeseries.csv follow every accepted step;
    # a simulated-time interval that never comes, so only the wall clock writes
    cfg = _cfg(
        **{
            "study.checkpoint_interval_s": 1e6,
            "study.checkpoint_wall_interval_s": 1e-9,
            "output.progress_interval_s": 0.0,
        }
    )
    original = discharge_mod.DischargeCell.breakdown
    seen = {"n": 0}

    def breakdown(self: Any, current: float) -> dict[str, float]:
        seen["n"] += 1
        if seen["n"] > 8:  # the initial state and 7 accepted steps; the job dies in the 8th
            raise Killed
        return original(self, current)

    with monkeypatch.context() as mp:
        mp.setattr(discharge_mod.DischargeCell, "breakdown", breakdown)
        with pytest.raises(Killed):
            run_study(cfg, mpi_tmp_path, comm)
    series = pd.read_csv(mpi_tmp_path / "timeseries.csv")
    # written after the 7th step: the initial state and 7 rows, as in the uninterrupted run
    assert len(series) == 8
    np.testing.assert_allclose(series.to_numpy(float), reference["series"].to_numpy(float)[:8], rtol=SAME, atol=1e-12)
    assert (series["Newton iterations"].iloc[1:] > 0).all() and (series["Krylov iterations"].iloc[1:] > 0).all()
    state = json.loads(str(np.load(mpi_tmp_path / checkpoint.FILENAME)["meta"]))["state"]
    assert state["time_s"] == pytest.approx(series["Time [s]"].iloc[-1], rel=1e-14)
    # batch progress: a line per step on rank 0 (progress_interval_s = 0) with the solver effort, none elsewhere
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("microsim: CC discharge")]
    if comm.rank == 0:
        assert len(lines) == 7
        assert all("Newton" in ln and "Krylov" in ln and "ETA" in ln and "V 3." in ln for ln in lines)
    else:
        assert lines == []


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="runs its own serial subprocesses")
def test_cli_restart(tmp_path: Path) -> None:
    case = tmp_path / "case.toml"
    case.write_text(
        "[geometry]\nwidth_um = 4.0\ncathode_thickness_um = 4.0\nmembrane_thickness_um = 3.0\nmesh_size_um = 0.25\n"
        'seed = 3\ninterface = "point-contact"\n[conditions]\ninitial_stoichiometry = 0.01\n'
        '[study]\nkind = "discharge"\nc_rate = 0.1\ncheckpoint_interval_s = 50.0\n[output]\npng = false\nxdmf = false\n'
    )
    out = tmp_path / "out"

    def cli(*extra: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(BIN / "microsim"), "run", str(case), "--out", str(out), *extra]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=240)

    r = cli("--restart")
    assert r.returncode == 2 and "microsim: error: no checkpoint in" in r.stderr, r.stderr
    r = cli()
    assert r.returncode == 0, r.stderr
    first = json.loads((out / "summary.json").read_text())["discharge"]
    r = cli("--restart")
    assert r.returncode == 0, r.stderr
    again = json.loads((out / "summary.json").read_text())["discharge"]
    assert again["capacity_mAh_g"] == pytest.approx(first["capacity_mAh_g"], rel=SAME)
    assert again["final_voltage_V"] == pytest.approx(first["final_voltage_V"], rel=SAME)
    r = cli("--restart", "--set", "study.c_rate=0.2")
    assert r.returncode == 2 and "study.c_rate = 0.2 differs from the checkpoint's 0.1" in r.stderr, r.stderr
