"""Progress lines of long studies in batch jobs, and the wall-time interval all ranks agree on (no DOLFINx)."""

from __future__ import annotations

import io
import time

import pytest

from microsim.progress import ProgressLog, WallClock, eta_s, format_duration


class FakeComm:
    """A one-rank communicator (rank and bcast are all ProgressLog and WallClock use)."""

    def __init__(self, rank: int = 0) -> None:
        self.rank = rank
        self.bcasts = 0

    def bcast(self, obj: object, root: int = 0) -> object:
        self.bcasts += 1
        return obj


def test_format_duration_and_eta() -> None:
    assert format_duration(5.04) == "5.0s"
    assert format_duration(95) == "1m35s"
    assert format_duration(3725) == "1h02m"
    assert format_duration(float("inf")) == "?"
    # a quarter done in 10 s: 30 s to go
    assert eta_s(10.0, 0.25) == pytest.approx(30.0)
    assert eta_s(10.0, 0.0) == float("inf")
    assert eta_s(10.0, 1.2) == 0.0


def test_batch_lines_every_update_with_a_zero_interval() -> None:
    out = io.StringIO()
    log = ProgressLog(FakeComm(), "CC discharge 1C", interval_s=0.0, stream=out, tty=False)
    log.update(0.25, {"t": "900 s", "V": "3.2100 V", "Newton": "4", "Krylov": "80"})
    log.update(0.5, {"t": "1800 s", "V": "3.2000 V", "Newton": "3", "Krylov": "61"})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 == log.lines
    assert lines[0].startswith("microsim: CC discharge 1C:  25 %  t 900 s  V 3.2100 V  Newton 4  Krylov 80  elapsed ")
    assert " ETA " in lines[0]


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_batch_lines_are_throttled_by_wall_time_and_closed_by_a_final_one() -> None:
    out, clock = io.StringIO(), FakeClock()
    log = ProgressLog(FakeComm(), "impedance", interval_s=30.0, stream=out, tty=False, clock=clock)
    for k in range(1, 50):
        clock.t += 1.0  # a frequency per wall second: a line after 30 s
        log.update(k / 50, {"frequency": str(k)})
    log.update(1.0, {"frequency": "50"}, final=True)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "frequency 30" in lines[0] and "elapsed 30.0s" in lines[0]
    # the pace since the start: 30 of 50 in 30 s, so 20 s to go
    assert lines[0].endswith("ETA 20.0s")
    assert "frequency 50" in lines[1] and lines[1].endswith("ETA 0.0s")


def test_a_task_shorter_than_the_interval_prints_nothing() -> None:
    out, clock = io.StringIO(), FakeClock()
    log = ProgressLog(FakeComm(), "resistance", interval_s=30.0, stream=out, tty=False, clock=clock)
    clock.t += 2.0
    log.update(0.5, {"step": "1"})
    log.update(1.0, {"step": "2"}, final=True)
    assert out.getvalue() == "" and log.lines == 0


def test_only_rank_0_prints() -> None:
    out = io.StringIO()
    log = ProgressLog(FakeComm(rank=1), "rate", interval_s=0.0, stream=out, tty=False)
    log.update(0.5, {"t": "1 s"}, final=True)
    assert out.getvalue() == "" and log.lines == 0


def test_terminal_gets_a_bar_not_lines() -> None:
    out = io.StringIO()
    log = ProgressLog(FakeComm(), "rate", interval_s=0.0, stream=out, tty=True)
    log.update(0.5, {"t": "1 s"})
    log.close()
    assert log.lines == 0
    assert "rate" in out.getvalue()  # tqdm drew (and cleared) its bar on the stream


def test_wall_clock_is_due_after_its_interval_and_decided_by_one_broadcast() -> None:
    comm = FakeComm()
    clock = WallClock(comm, 0.05)
    assert not clock.due()
    time.sleep(0.06)
    assert clock.due()
    assert not clock.due()  # restarted at the last hit
    assert comm.bcasts == 3
    never = WallClock(comm, 0.0)
    time.sleep(0.01)
    assert not never.due() and comm.bcasts == 3  # off: no communication at all
