"""The mesh cache (``output.mesh_cache``): a geometry meshed once, read back by later runs on any rank count.

Checked: the first run writes the entry (and the packing) and the second reads both (no search, no Gmsh), both
give the uncached answer to round-off; another geometry gets another key; a 2-rank run reads an entry and matches
the serial answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from microsim.geometry import describe
from tests._cases import small

pytest.importorskip("dolfinx_solver")
pytestmark = pytest.mark.fenics


def test_second_run_reads_the_entry_and_gives_the_same_answer(tmp_path: Path) -> None:
    from mpi4py import MPI

    from microsim.mesh_cache import mesh_key
    from microsim.studies.resistance import run_resistance

    cache = tmp_path / "meshes"
    cfg = small(**{"output.mesh_cache": str(cache), "geometry.interface": "point-contact"})
    first = run_resistance(cfg, tmp_path / "a", MPI.COMM_SELF)
    second = run_resistance(cfg, tmp_path / "b", MPI.COMM_SELF)
    plain = run_resistance(small(**{"geometry.interface": "point-contact"}), None, MPI.COMM_SELF)
    key = mesh_key(describe(cfg.geometry))
    assert sorted(p.name for p in (cache / key).iterdir()) == ["info.json", "mesh.h5", "mesh.xdmf"]
    import json

    geo_a = json.loads((tmp_path / "a" / "geometry.json").read_text())
    geo_b = json.loads((tmp_path / "b" / "geometry.json").read_text())
    rec_a, rec_b = geo_a["mesh"], geo_b["mesh"]
    # the packing is kept beside the meshes: the second run neither packs nor meshes
    assert geo_a["packing"]["store"] == "written" and geo_b["packing"]["store"] == "hit"
    assert len(list((cache / "packings").glob("*.npz"))) == 1
    assert rec_a["mesh_cache"]["status"] == "written" and rec_b["mesh_cache"]["status"] == "hit"
    assert "time_gmsh_s" in rec_a and "time_gmsh_s" not in rec_b and "cached_time_gmsh_s" in rec_b
    totals = [r["resistance_ohm_cm2"]["total"] for r in (first, second, plain)]
    assert totals[1] == totals[0]
    assert totals[0] == pytest.approx(totals[2], rel=1e-10)
    assert first["n_cells"] == second["n_cells"] == plain["n_cells"]


def test_another_geometry_gets_another_key() -> None:
    from microsim.mesh_cache import mesh_key

    a = mesh_key(describe(small().geometry))
    assert a == mesh_key(describe(small().geometry))  # deterministic: the packing's timings are not in the key
    assert a != mesh_key(describe(small(**{"geometry.seed": 4}).geometry))
    assert a != mesh_key(describe(small(**{"geometry.mesh_size_um": 0.3}).geometry))


@pytest.mark.mpi
def test_world_reads_the_entry_and_matches_one_rank(mpi_tmp_path: Path) -> None:
    from mpi4py import MPI

    from microsim.studies.resistance import run_resistance

    cfg = small(**{"output.mesh_cache": str(mpi_tmp_path / "meshes")})
    written = run_resistance(cfg, None, MPI.COMM_WORLD)
    read = run_resistance(cfg, None, MPI.COMM_WORLD)
    serial = run_resistance(small(), None, MPI.COMM_SELF)
    assert read["resistance_ohm_cm2"]["total"] == pytest.approx(written["resistance_ohm_cm2"]["total"], rel=1e-12)
    assert read["resistance_ohm_cm2"]["total"] == pytest.approx(serial["resistance_ohm_cm2"]["total"], rel=1e-8)
    assert read["n_cells"] == serial["n_cells"]


@pytest.mark.mpi
def test_restart_from_the_cache_and_not_across_it(mpi_tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed cached run restarts to the uninterrupted answer; restarting it without the cache is refused."""
    from mpi4py import MPI

    from microsim import checkpoint
    from microsim.errors import ConfigError
    from microsim.studies import run_study
    from tests.integration.test_restart import Killed, _cfg, _kill_after_checkpoint

    comm = MPI.COMM_WORLD
    cfg = _cfg(**{"output.mesh_cache": str(mpi_tmp_path / "meshes")})
    reference = run_study(cfg, mpi_tmp_path / "ref", comm)["discharge"]
    out = mpi_tmp_path / "killed"
    with monkeypatch.context() as mp:
        _kill_after_checkpoint(mp, out)
        with pytest.raises(Killed):
            run_study(cfg, out, comm)
    assert (out / checkpoint.FILENAME).is_file()
    result = run_study(cfg, out, comm, restart=True)["discharge"]
    for key in ("capacity_mAh_g", "final_time_s", "final_voltage_V"):
        assert result[key] == pytest.approx(reference[key], rel=1e-8), key
    assert result["time_steps"] == reference["time_steps"]
    with pytest.raises(ConfigError, match=r"output\.mesh_cache"):
        run_study(_cfg(), out, comm, restart=True)
