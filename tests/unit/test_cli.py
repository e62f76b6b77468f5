"""Command line: check, defaults, error handling and exit codes (no DOLFINx needed)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from microsim import cli, config

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CASE = REPO / "geometries" / "default-2d.toml"
SOLVER_MODULES = ("dolfinx", "dolfinx_solver", "mpi4py", "petsc4py", "gmsh", "ufl")


def test_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", str(DEFAULT_CASE)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{DEFAULT_CASE}: ok"
    assert "PPAL" in out[1] and "30 °C" in out[1] and "filled" in out[1]


def test_check_with_set(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["check", str(DEFAULT_CASE), "--set", "geometry.width_um=20", "--set", "electrolyte.name=PAL"])
    assert code == 0
    summary = capsys.readouterr().out
    assert "20 µm wide" in summary and "PAL membrane" in summary


def test_check_does_not_import_solver_stack() -> None:
    code = (
        "import sys; from microsim import cli; rc = cli.main(['check', sys.argv[1]]); "
        f"loaded = [m for m in {SOLVER_MODULES!r} if m in sys.modules]; "
        "print('LOADED', loaded); sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(DEFAULT_CASE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout


def test_check_bad_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", str(DEFAULT_CASE), "--set", "geometry.widht_um=3"]) == 2
    err = capsys.readouterr().err
    assert err == "microsim: error: unknown key 'geometry.widht_um' (did you mean 'geometry.width_um'?)\n"


def test_check_bad_set_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", str(DEFAULT_CASE), "--set", "foo"]) == 2
    assert "--set 'foo'" in capsys.readouterr().err


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", str(tmp_path / "none.toml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert cli.main(["check"]) == 2
    assert cli.main(["run", str(DEFAULT_CASE)]) == 2  # --out is required
    assert cli.main(["frobnicate"]) == 2
    capsys.readouterr()


def test_defaults_parse_and_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["defaults"]) == 0
    text = capsys.readouterr().out
    d = tomllib.loads(text)
    assert d["geometry"]["width_um"] == 10.0
    path = tmp_path / "defaults.toml"
    path.write_text(text)
    assert config.load(path) == config.default()
    assert cli.main(["check", str(path)]) == 0


def test_subprocess_bad_config_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[geometry]\nactive_fraction = 0.95\n")
    result = subprocess.run(
        [sys.executable, "-m", "microsim.cli", "check", str(bad)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == ["microsim: error: geometry.active_fraction = 0.95: must be in (0, 0.9)"]


def test_demo_configs_are_filled_and_point_contact() -> None:
    configs = cli.demo_configs()
    assert [c.geometry.interface for c in configs] == ["filled", "point-contact"]
    assert configs[0] == config.load(DEFAULT_CASE)


def test_mesh_run_demo_call_studies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The solver commands validate first, then call microsim.studies with (cfg, out_dir, comm)."""
    import types

    calls: list[tuple] = []
    fake = types.ModuleType("microsim.studies")
    fake.build_mesh_only = lambda cfg, out, comm: calls.append(("mesh", cfg, out, comm)) or {"cells": 3}
    fake.run_study = lambda cfg, out, comm: calls.append(("run", cfg, out, comm)) or {"R_total": 1.0}
    fake.run_demo = lambda out, comm, configs: calls.append(("demo", configs, out, comm))
    monkeypatch.setitem(sys.modules, "microsim.studies", fake)
    comm = types.SimpleNamespace(size=1, rank=0)  # a serial communicator stand-in, passed through as is
    monkeypatch.setattr(cli, "_comm", lambda: comm)

    assert cli.main(["mesh", str(DEFAULT_CASE), "--out", str(tmp_path / "m")]) == 0
    assert cli.main(["run", str(DEFAULT_CASE), "--out", str(tmp_path / "r"), "--set", "seed=1"]) == 2
    assert cli.main(["run", str(DEFAULT_CASE), "--out", str(tmp_path / "r"), "--set", "geometry.seed=2"]) == 0
    assert cli.main(["demo", "--out", str(tmp_path / "d")]) == 0
    kinds = [c[0] for c in calls]
    assert kinds == ["mesh", "run", "demo"]
    assert calls[1][1].geometry.seed == 2 and calls[1][2] == tmp_path / "r" and calls[1][3] is comm
    assert len(calls[2][1]) == 2


def test_microsim_error_from_study_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    import types

    from microsim.errors import GeometryError

    def fail(cfg, out, comm):
        raise GeometryError("active fraction 0.45 unreachable\nwith these radii")

    fake = types.ModuleType("microsim.studies")
    fake.run_study = fail
    monkeypatch.setitem(sys.modules, "microsim.studies", fake)
    monkeypatch.setattr(cli, "_comm", lambda: None)
    assert cli.main(["run", str(DEFAULT_CASE), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "microsim: error: active fraction 0.45 unreachable with these radii\n"


def test_check_reports_the_contact(capsys: pytest.CaptureFixture[str]) -> None:
    sets = ["geometry.interface=point-contact", "contact.model=creep", "contact.stack_pressure_MPa=1"]
    code = cli.main(["check", str(DEFAULT_CASE), *[a for s in sets for a in ("--set", s)]])
    assert code == 0
    out = capsys.readouterr().out
    assert "membrane creep at 1 MPa for 12 h at 30 °C" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("Contact (creep)"))
    assert "µm into the pores" in line and "% of the particles reached" in line


def test_check_membrane_through_the_layer_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    sets = [
        "geometry.interface=point-contact", "geometry.width_um=6", "geometry.cathode_thickness_um=4",
        "geometry.active_fraction=0.35", "geometry.seed=3", "contact.model=elastic",
        "contact.stack_pressure_MPa=20", "contact.membrane_modulus_MPa=0.3",
    ]  # fmt: skip
    assert cli.main(["check", str(DEFAULT_CASE), *[a for s in sets for a in ("--set", s)]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "contact.stack_pressure_MPa = 20" in err[0] and "'filled'" in err[0]


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("0.5", 0.5), ("01:30:00", 5400.0), ("1-00:00:10", 86410.0)]
)
def test_max_wall_time_formats(text: str, seconds: float) -> None:
    assert cli.wall_time(text) == seconds


@pytest.mark.parametrize("text", ["1:30", "abc", "0", "-5", "1-2"])
def test_max_wall_time_refuses_ambiguous_or_bad_values(text: str) -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match=r"expected seconds|must be > 0"):
        cli.wall_time(text)


def test_the_stop_request_is_collective_and_forgotten_on_reset() -> None:
    import os
    import signal

    from microsim import interrupt

    class Comm:  # two ranks: only the other one got the signal
        def allgather(self, value: object) -> list[object]:
            return [value, "SIGUSR1 received"]

    interrupt.reset()
    try:
        assert interrupt.requested(Comm()) is None  # type: ignore[arg-type]  # not installed: never asks
        interrupt.install(None)
        assert interrupt.requested(Comm()) == "SIGUSR1 received"  # type: ignore[arg-type]
        os.kill(os.getpid(), signal.SIGTERM)  # caught: the process goes on
        assert interrupt.local_reason() == "SIGTERM received"
    finally:
        interrupt.reset()
    assert interrupt.local_reason() is None and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_an_in_process_run_leaves_the_default_signal_handlers(tmp_path: Path) -> None:
    import signal

    from microsim import interrupt

    assert cli.main(["run", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")]) == 2
    assert not interrupt.installed() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
