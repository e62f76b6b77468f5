"""The real command line: `microsim run` and `mesh` as a user types them, serially and under mpiexec -n 2."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


def test_run_prints_its_answer_records_its_provenance_and_json_is_pure(tmp_path: Path) -> None:
    from microsim import config

    case = tmp_path / "case.toml"
    case.write_text(SMALL.format(interface="filled"))
    out = tmp_path / "out"
    r = run_cli(["run", str(case), "--out", str(out)], ranks=2)
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    total = summary["resistance_ohm_cm2"]["total"]
    # the breakdown on the terminal, with the same number as summary.json
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("total (V_eq - V)/I [Ω·cm²]"))
    assert float(line.split()[-1]) == pytest.approx(total, rel=1e-3)
    assert "resistance study, filled, PPAL, 30 °C, 2D" in r.stdout and "on 2 rank(s)" in r.stdout
    # provenance in run.json and summary.json; the resolved configuration reloads to the same case
    run = json.loads((out / "run.json").read_text())
    assert run["state"] == "done" and run["study"] == "resistance"
    prov = summary["provenance"]
    assert prov == run["provenance"] and prov["n_ranks"] == 2 and len(prov["hosts"]) == 1
    assert prov["versions"]["dolfinx"] and prov["versions"]["petsc"].startswith("3.") and prov["versions"]["gmsh"]
    assert "run" in prov["command"] and str(case) in prov["command"]
    assert config.load(out / "config.toml") == config.load(case)
    # --json: standard output is the summary and nothing else
    rj = run_cli(["run", str(case), "--out", str(out), "--json"])
    assert rj.returncode == 0, rj.stderr
    assert json.loads(rj.stdout)["resistance_ohm_cm2"]["total"] == pytest.approx(total, rel=1e-6)
    rq = run_cli(["run", str(case), "--out", str(out), "--quiet"])
    assert rq.returncode == 0 and rq.stdout == "", rq.stdout


def test_another_studys_folder_is_refused_or_cleared(tmp_path: Path) -> None:
    case = tmp_path / "case.toml"
    case.write_text(SMALL.format(interface="filled"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"study": "impedance"}')
    (out / "impedance.csv").write_text("Frequency [Hz]\n")
    r = run_cli(["run", str(case), "--out", str(out)], ranks=2)
    assert r.returncode == 2 and "holds the outputs of a 'impedance' run" in r.stderr and "--overwrite" in r.stderr
    assert (out / "impedance.csv").is_file()  # untouched
    r = run_cli(["run", str(case), "--out", str(out), "--overwrite"], ranks=2)
    assert r.returncode == 0, r.stderr
    assert not (out / "impedance.csv").exists() and json.loads((out / "run.json").read_text())["state"] == "done"


def test_version() -> None:
    r = run_cli(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("microsim 0.") and "DOLFINx 0.11" in r.stdout
    assert len(r.stdout.strip().splitlines()) == 1


@pytest.fixture
def small_mount(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``mount(options)``: a fresh tmpfs with those options (root only; skips where mounting is not allowed)."""
    import os

    mounted: list[Path] = []

    def mount(options: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root")
        where = tmp_path / f"mnt{len(mounted)}"
        where.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", str(where)], capture_output=True)


def test_a_full_folder_ends_with_the_path_and_keeps_what_was_written(small_mount: Any, tmp_path: Path) -> None:
    case = tmp_path / "case.toml"
    case.write_text(SMALL.format(interface="filled"))
    full = small_mount("size=64k")
    r = run_cli(["run", str(case), "--out", str(full / "run")])
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert f"microsim: error: cannot write {full / 'run'}" in r.stderr and "Traceback" not in r.stderr
    run = json.loads((full / "run" / "run.json").read_text())  # what was written is whole
    assert run["state"] == "running" and run["study"] == "resistance"


def test_a_read_only_folder_gives_exit_2_with_the_path(small_mount: Any, tmp_path: Path) -> None:
    case = tmp_path / "case.toml"
    case.write_text(SMALL.format(interface="filled"))
    ro = small_mount("ro,size=64k")
    for ranks in (1, 2):
        r = run_cli(["run", str(case), "--out", str(ro / "run")], ranks=ranks)
        assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
        assert f"cannot write {ro / 'run'}: Read-only file system" in r.stderr and "Traceback" not in r.stderr
