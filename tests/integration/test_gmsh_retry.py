"""3D meshing attempts: a failed surface mesh is retried from a restarted Gmsh, and a geometry no attempt can
mesh is a GeometryError naming every attempt (never a crash of the process)."""

from __future__ import annotations

from pathlib import Path

import pytest

gmsh = pytest.importorskip("gmsh")

from microsim import config  # noqa: E402
from microsim.errors import GeometryError  # noqa: E402
from microsim.geometry import describe, gmsh_model  # noqa: E402
from tests._cases import spheres_3d  # noqa: E402

pytestmark = pytest.mark.fenics

PARTICLES = "x_um,y_um,z_um,r_um\n1.0,1.0,0.4975,0.5\n2.05,2.05,0.3980,0.4\n"


@pytest.fixture
def desc(tmp_path: Path) -> object:
    csv = tmp_path / "particles.csv"
    csv.write_text(PARTICLES)
    geometry = spheres_3d(csv, "point-contact")
    return describe(config.from_dict({"geometry": geometry}).geometry)


def _build(desc: object) -> dict:
    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        return gmsh_model.build_model(desc)
    finally:
        gmsh.finalize()


def test_first_attempt_meshes_a_simple_cell(desc: object) -> None:
    info = _build(desc)
    assert (
        info["meshing_attempts"] == 1
        and info["surface_algorithm"] == gmsh_model._SURFACE_ATTEMPTS[0][0]
        and info["n_elements"] > 0
    )


def test_failed_attempt_is_retried_from_scratch(desc: object, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = _build(desc)
    real = gmsh_model._generate
    calls = []

    def fail_first(g: object, dim: int, algorithm: int, switch: int) -> None:
        calls.append((algorithm, switch))
        real(g, dim, algorithm, switch)
        if len(calls) == 1:  # a mesh was made, then declared failed: the retry must not inherit it
            raise gmsh_model._MeshingFailed("injected")

    monkeypatch.setattr(gmsh_model, "_generate", fail_first)
    info = _build(desc)
    assert calls == list(gmsh_model._SURFACE_ATTEMPTS[:2])
    assert info["meshing_attempts"] == 2 and info["surface_algorithm"] == gmsh_model._SURFACE_ATTEMPTS[1][0]
    assert info["n_cells"]["particle"] > 0 and info["n_cells"]["electrolyte_membrane"] > 0
    assert info["interface_area_um2"] == pytest.approx(reference["interface_area_um2"], rel=1e-9)


def test_no_attempt_meshes_gives_a_geometry_error(desc: object, monkeypatch: pytest.MonkeyPatch) -> None:
    def always(g: object, dim: int, algorithm: int, switch: int) -> None:
        raise gmsh_model._MeshingFailed("injected")

    monkeypatch.setattr(gmsh_model, "_generate", always)
    with pytest.raises(GeometryError, match=r"gmsh could not mesh.*algorithm 6.*algorithm 5.*geometry\.seed"):
        _build(desc)


def _box(report) -> dict:
    """A unit square meshed with one physical group: the smallest build."""
    report("the only attempt")
    gmsh.model.add("box")
    surface = gmsh.model.occ.addRectangle(0.0, 0.0, 0.0, 1.0, 1.0)
    gmsh.model.occ.synchronize()
    gmsh.model.addPhysicalGroup(2, [surface], 7, name="box")
    gmsh.option.setNumber("Mesh.MeshSizeMax", 0.25)
    gmsh.model.mesh.generate(2)
    return {"n_nodes": len(gmsh.model.mesh.getNodes()[0])}


def test_a_build_in_the_child_is_loaded_here() -> None:
    from microsim.geometry.gmsh_child import build_in_child

    info = build_in_child(_box)
    try:
        assert gmsh.isInitialized()
        assert gmsh.model.getPhysicalGroups() == [(2, 7)]
        assert gmsh.model.getPhysicalName(2, 7) == "box"
        assert len(gmsh.model.mesh.getNodes()[0]) == info["n_nodes"] > 4
    finally:
        gmsh.finalize()


def test_a_crash_in_gmsh_is_a_geometry_error_naming_the_attempt() -> None:
    import os
    import signal

    from microsim.geometry.gmsh_child import build_in_child

    def crash(report) -> dict:
        report("surface algorithm 6 with MeshAdapt fallback (attempt 3 of 3)")
        os.kill(os.getpid(), signal.SIGSEGV)  # what Gmsh's MeshAdapt fallback did on one packing
        return {}

    with pytest.raises(GeometryError, match=r"SIGSEGV during surface algorithm 6 .*attempt 3 of 3.*geometry\.seed"):
        build_in_child(crash)
    assert not gmsh.isInitialized()  # nothing is left for the caller to finalise

    def refuse(report) -> dict:
        raise GeometryError("no particle reaches the membrane plane")

    with pytest.raises(GeometryError, match=r"^no particle reaches the membrane plane$"):
        build_in_child(refuse)


def test_a_gmsh_crash_in_one_sweep_case_leaves_the_others_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seed 4's meshing dies of SIGSEGV: its case is failed with the reason, seed 3's runs to the end."""
    import json
    import os
    import signal

    from mpi4py import MPI

    from microsim.sweep import load_sweep
    from microsim.sweep.runner import run_sweep

    real = gmsh_model._build

    def crash_on_seed_4(g, desc, algorithm, switch):
        if desc.seed == 4:
            os.kill(os.getpid(), signal.SIGSEGV)
        return real(g, desc, algorithm, switch)

    monkeypatch.setattr(gmsh_model, "_build", crash_on_seed_4)  # the forked child inherits it
    path = tmp_path / "sweep.toml"
    path.write_text(
        "[base.geometry]\nwidth_um = 4.0\ncathode_thickness_um = 4.0\nmembrane_thickness_um = 3.0\n"
        "mesh_size_um = 0.3\n[base.output]\npng = false\nxdmf = false\n[ensemble]\nseeds = [3, 4]\n"
    )
    out = tmp_path / "out"
    result = run_sweep(load_sweep(path), out, MPI.COMM_SELF, progress=False)
    assert result["states"] == ["done", "failed"]
    record = json.loads((out / "sweep.json").read_text())
    failed = json.loads((out / "cases" / record["cases"][1]["hash"] / "status.json").read_text())
    assert "SIGSEGV" in failed["error"] and "gmsh crashed" in failed["error"]
    assert (out / "cases" / record["cases"][0]["hash"] / "summary.json").is_file()
