"""Contact models meshed and solved: the meshed contact is the computed one, and the cell follows the contact.

Checked: the Γ that Gmsh meshes for an elastic or creep contact equals the exact measure of the described
geometry (arcs of the wet caps plus the spots); every particle the elastic membrane touches carries meshed Γ; the
DC resistance falls from the rigid spots through the elastic contact at rising pressure to the filled cell; 1 and
2 ranks give the same answer.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from microsim import config
from microsim.geometry import describe
from microsim.geometry.formation import ContactWarning
from tests._cases import small, spheres_3d


def contact(model: str, pressure: float | None = None, **changes: object) -> config.Config:
    """The small 2D point-contact cell with a contact model."""
    extra: dict[str, object] = {"geometry.interface": "point-contact", "contact.model": model}
    if pressure is not None:
        extra["contact.stack_pressure_MPa"] = pressure
    return small(**{**extra, **changes})


PARTICLES_3D = "x_um,y_um,z_um,r_um\n1.0,1.0,0.4975,0.5\n2.05,2.05,0.3980,0.4\n"


def two_spheres(csv: Path, pressure: float) -> config.Config:
    """Two spheres under an elastic membrane (3D); the lower one is touched from about 0.05 MPa on."""
    geometry = spheres_3d(csv, "point-contact")
    contact = {"model": "elastic", "stack_pressure_MPa": pressure}
    return config.from_dict({"geometry": geometry, "contact": contact, "output": {"png": False, "xdmf": False}})


def meshed(desc) -> dict:
    """The Gmsh model's measures of ``desc`` (built and discarded)."""
    gmsh = pytest.importorskip("gmsh")
    from microsim.geometry import build_model

    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        return build_model(desc)
    finally:
        gmsh.finalize()


def described(cfg: config.Config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ContactWarning)
        return describe(cfg.geometry, config.contact_settings(cfg))


@pytest.mark.parametrize(
    "cfg",
    [contact("elastic", 0.5), contact("creep", 1.0, **{"contact.rest_time_h": 4.0})],
    ids=["elastic", "creep"],
)
def test_meshed_interface_is_the_computed_one(cfg: config.Config) -> None:
    desc = described(cfg)
    assert desc.interface == "infiltrated" and desc.infiltration_depth_um > 0.0
    info = meshed(desc)
    stats = desc.stats()
    assert info["interface_length_um"] == pytest.approx(stats["interface_length_um"], rel=1e-6)
    block = stats["contact"]
    gamma_ratio = info["interface_length_um"] / desc.width_um
    assert block["interface_area_per_membrane_area"] == pytest.approx(gamma_ratio, rel=1e-6)
    if block["model"] == "elastic":
        # every touching particle is wetted: its top lies above the wet plane
        tops = desc.centers[:, -1] + desc.radii
        assert int(np.sum(tops > desc.wet_plane_um)) >= block["n_touching_particles"]


@pytest.mark.parametrize("pressure", [0.1, 0.4])
def test_meshed_interface_is_the_computed_one_3d(tmp_path: Path, pressure: float) -> None:
    csv = tmp_path / "particles.csv"
    csv.write_text(PARTICLES_3D)
    desc = described(two_spheres(csv, pressure))
    block = desc.stats()["contact"]
    assert desc.interface == "infiltrated" and block["n_touching_particles"] == 2
    assert bool(desc.reached_by_electrolyte().all())
    info = meshed(desc)
    # Γ (the wet caps of both spheres and the spot) as Gmsh's OCC measures it, against the exact sphere measure
    # (OCC integrates the turned sphere patches numerically: agreement to ~1e-9, not to round-off)
    assert info["interface_area_um2"] == pytest.approx(desc.stats()["interface_area_um2"], rel=1e-7)
    assert block["interface_area_per_membrane_area"] == pytest.approx(info["interface_area_um2"] / 9.0, rel=1e-7)


@pytest.fixture(scope="module")
def totals() -> dict[str, float]:
    pytest.importorskip("dolfinx_solver")
    from mpi4py import MPI

    from microsim.studies.resistance import run_resistance

    cases = {
        "fixed": contact("fixed"),
        "elastic-0.2": contact("elastic", 0.2),
        "elastic-1": contact("elastic", 1.0),
        "filled": small(),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ContactWarning)
        return {k: run_resistance(c, None, MPI.COMM_SELF)["resistance_ohm_cm2"]["total"] for k, c in cases.items()}


@pytest.mark.fenics
def test_resistance_follows_the_contact(totals: dict[str, float]) -> None:
    r = totals
    assert r["fixed"] > r["elastic-0.2"] > r["elastic-1"] > r["filled"], r
    assert r["fixed"] > 5.0 * r["elastic-1"]  # conforming the membrane is not a small change


@pytest.mark.fenics
@pytest.mark.mpi
@pytest.mark.parametrize("model", ["elastic", "creep", "elastic-3d"])
def test_contact_same_answer_on_world_and_one_rank(mpi_tmp_path: Path, model: str) -> None:
    pytest.importorskip("dolfinx_solver")
    from mpi4py import MPI

    from microsim.studies.resistance import run_resistance

    if model == "elastic-3d":
        csv = mpi_tmp_path / "particles.csv"
        if MPI.COMM_WORLD.rank == 0:
            csv.write_text(PARTICLES_3D)
        MPI.COMM_WORLD.barrier()
        cfg = two_spheres(csv, 0.2)
    else:
        cfg = contact(model, 0.5, **({"contact.rest_time_h": 4.0} if model == "creep" else {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ContactWarning)
        a = run_resistance(cfg, None, MPI.COMM_WORLD)
        b = run_resistance(cfg, None, MPI.COMM_SELF)
    assert a["n_cells"] == b["n_cells"]
    ra, rb = a["resistance_ohm_cm2"], b["resistance_ohm_cm2"]
    assert ra["total"] == pytest.approx(rb["total"], rel=1e-8)
    assert ra["cathode_electrolyte"] > 0.0  # the conformed membrane conducts between the top particles
