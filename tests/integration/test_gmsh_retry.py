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
