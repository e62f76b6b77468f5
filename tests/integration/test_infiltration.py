"""Partial infiltration (``interface = "infiltrated"``): geometry, mesh and the resistance between the two limits.

The infiltrated cell is the point-contact cell with the pores wetted from the membrane down to
``z_w = L_c − infiltration_depth_um``. Checked here: depth 0 *is* the point-contact cell (same mesh, same
R_total to round-off), the full depth is the filled cell up to the grown contact spots (R_total within 1 %),
R_total falls monotonically with the depth, the pore cells lie in the wet layer only, Γ measured by Gmsh equals
the exact 2D arc length, the statistics count the particles the electrolyte does not reach, and 1 and 2 ranks
give the same answer in 2D and 3D.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from microsim import config
from microsim.errors import ConfigError
from microsim.geometry import describe
from tests._cases import small, spheres_3d

DEPTHS = (0.0, 1.0, 2.5, 4.0)  # small() has L_c = 4 µm


def infiltrated(depth: float, **changes: object) -> config.Config:
    """The small 2D cell, infiltrated to ``depth`` (µm)."""
    return small(**{"geometry.interface": "infiltrated", "geometry.infiltration_depth_um": depth, **changes})


# ---- description and statistics (NumPy only) -----------------------------------------------------------------
def test_depth_zero_describes_the_point_contact_cell() -> None:
    a = describe(infiltrated(0.0).geometry)
    b = describe(small(**{"geometry.interface": "point-contact"}).geometry)
    assert np.array_equal(a.centers, b.centers) and np.array_equal(a.radii, b.radii)
    assert np.array_equal(a.reaches_membrane, b.reaches_membrane)
    assert a.wet_plane_um == b.wet_plane_um == 4.0
    sa, sb = a.stats(), b.stats()
    for key in ("interface_length_um", "n_contact_spots", "n_particles_not_reached_by_electrolyte"):
        assert sa[key] == sb[key], key


def test_statistics_follow_the_depth() -> None:
    stats = [describe(infiltrated(d).geometry).stats() for d in DEPTHS]
    gamma = [s["interface_length_um"] for s in stats]
    dry = [s["n_particles_not_reached_by_electrolyte"] for s in stats]
    assert all(g1 < g2 for g1, g2 in pairwise(gamma)), gamma
    assert all(d1 >= d2 for d1, d2 in pairwise(dry)) and dry[0] > dry[-1] == 0, dry
    n = stats[0]["n_particles"]
    assert stats[0]["share_particles_not_reached_by_electrolyte"] == pytest.approx(dry[0] / n)
    # every pore wet: Γ = the filled arcs (particles grown to their spots change them a little) + the spots
    filled = describe(small().geometry).stats()
    assert gamma[-1] == pytest.approx(filled["interface_length_um"], rel=0.05)
    assert stats[-1]["infiltration_depth_um"] == 4.0


def test_wet_plane_keeps_clear_of_tangent_caps() -> None:
    desc = describe(infiltrated(1.0).geometry)
    z = desc.centers[:, -1]
    gap = np.abs(np.concatenate([z - desc.radii, z + desc.radii]) - desc.wet_plane_um)
    # the cap a plane cuts at distance t has radius sqrt(2 r t) >= h_Γ/4
    clearance = (0.25 * desc.interface_mesh_size_um) ** 2 / (2.0 * np.concatenate([desc.radii] * 2))
    assert np.all(gap >= clearance * (1 - 1e-12))
    assert abs(desc.infiltration_depth_um - 1.0) < 0.1 and desc.infiltration_depth_asked_um == 1.0


def test_depth_beyond_the_layer_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"geometry.infiltration_depth_um = 5.*<= geometry.cathode_thickness_um"):
        infiltrated(5.0)
    with pytest.raises(ConfigError, match=r"geometry\.infiltration_depth_um"):
        infiltrated(-1.0)


# ---- Gmsh model ------------------------------------------------------------------------------------------------
def test_pores_wet_only_above_the_plane_and_gamma_exact() -> None:
    gmsh = pytest.importorskip("gmsh")
    from microsim import tags
    from microsim.geometry import build_model

    desc = describe(infiltrated(2.5).geometry)
    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        info = build_model(desc)
        pore = gmsh.model.getEntitiesForPhysicalGroup(2, tags.ELECTROLYTE_PORE)
        lows = [gmsh.model.getBoundingBox(2, int(e))[1] for e in pore]
        assert len(pore) > 0 and min(lows) >= desc.wet_plane_um - 1e-6
        # the wet plane splits the pore only: the particles it crosses stay whole (cut, they left slivers the
        # 3D mesher could not fill)
        z_w = desc.wet_plane_um
        crossed = (desc.centers[:, 1] - desc.radii < z_w - 1e-6) & (desc.centers[:, 1] + desc.radii > z_w + 1e-6)
        parts = gmsh.model.getEntitiesForPhysicalGroup(2, tags.PARTICLE)
        boxes = [gmsh.model.getBoundingBox(2, int(e)) for e in parts]
        straddling = [b for b in boxes if b[1] < z_w - 1e-6 < z_w + 1e-6 < b[4]]
        assert crossed.any() and straddling
        assert not [b for b in boxes if abs(b[1] - z_w) < 1e-9 or abs(b[4] - z_w) < 1e-9]
    finally:
        gmsh.finalize()
    exact = desc.stats()["interface_length_um"]
    assert info["interface_length_um"] == pytest.approx(exact, rel=1e-6)
    assert info["n_cells"]["electrolyte_pore"] > 0
    assert len(info["chord_lengths_um"]) == desc.stats()["n_contact_spots"]


# ---- resistance ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def totals() -> dict[str, dict]:
    pytest.importorskip("dolfinx_solver")
    from mpi4py import MPI

    from microsim.studies.resistance import run_resistance

    out = {f"d{d:g}": run_resistance(infiltrated(d), None, MPI.COMM_SELF) for d in DEPTHS}
    for interface in ("filled", "point-contact"):
        out[interface] = run_resistance(small(**{"geometry.interface": interface}), None, MPI.COMM_SELF)
    return out


@pytest.mark.fenics
def test_depth_zero_is_point_contact_and_full_depth_is_filled(totals: dict[str, dict]) -> None:
    r = {k: v["resistance_ohm_cm2"] for k, v in totals.items()}
    assert totals["d0"]["n_cells"] == totals["point-contact"]["n_cells"]
    assert r["d0"]["total"] == pytest.approx(r["point-contact"]["total"], rel=1e-10)
    assert r["d0"]["cathode_electrolyte"] == 0.0
    # the fully wet cell keeps the grown contact spots (more Γ, a shorter path): 0.32 % lower here, 0.03 % for the
    # bundled default 2D and 3D cells
    assert r["d4"]["total"] == pytest.approx(r["filled"]["total"], rel=1e-2)
    assert r["d4"]["total"] < r["filled"]["total"]
    # the two limits differ by orders of magnitude: the checks above are not vacuous
    assert r["point-contact"]["total"] > 20 * r["filled"]["total"]


@pytest.mark.fenics
def test_resistance_falls_with_depth_and_balances_close(totals: dict[str, dict]) -> None:
    from microsim.physics.functionals import PARTS

    series = [totals[f"d{d:g}"] for d in DEPTHS]
    total = [s["resistance_ohm_cm2"]["total"] for s in series]
    assert all(a > b for a, b in pairwise(total)), total
    for s in series:
        r = s["resistance_ohm_cm2"]
        assert sum(r[p] for p in PARTS) == pytest.approx(r["total"], rel=1e-8)
        cons = s["conservation"]
        assert cons["interface_current_A_m2"] == pytest.approx(cons["applied_current_A_m2"], rel=1e-8)
    # the wet layer carries pore conduction and more interface; both grow with the depth
    pore = [s["resistance_ohm_cm2"]["cathode_electrolyte"] for s in series]
    assert pore[0] == 0.0 and all(a < b for a, b in pairwise(pore[1:]))
    area = [s["interface_area_um2"] for s in series]
    assert all(a < b for a, b in pairwise(area))


# ---- parallel ---------------------------------------------------------------------------------------------------
PARTICLES_3D = "x_um,y_um,z_um,r_um\n1.0,1.0,0.4975,0.5\n2.05,2.05,0.3980,0.4\n"


@pytest.mark.fenics
@pytest.mark.mpi
@pytest.mark.parametrize("dim", [2, 3])
def test_infiltrated_same_answer_on_world_and_one_rank(mpi_tmp_path: Path, dim: int) -> None:
    pytest.importorskip("dolfinx_solver")
    from mpi4py import MPI

    from microsim.studies.resistance import run_resistance

    if dim == 2:
        cfg = infiltrated(2.5)
    else:
        csv = mpi_tmp_path / "particles.csv"
        if MPI.COMM_WORLD.rank == 0:
            csv.write_text(PARTICLES_3D)
        MPI.COMM_WORLD.barrier()
        geometry = spheres_3d(csv, "infiltrated", infiltration_depth_um=0.5)
        cfg = config.from_dict({"geometry": geometry, "output": {"png": False, "xdmf": False}})
    a = run_resistance(cfg, None, MPI.COMM_WORLD)
    b = run_resistance(cfg, None, MPI.COMM_SELF)
    assert a["n_cells"] == b["n_cells"]
    ra, rb = a["resistance_ohm_cm2"], b["resistance_ohm_cm2"]
    assert ra["total"] == pytest.approx(rb["total"], rel=1e-8)
    assert ra["cathode_electrolyte"] > 0.0  # the wet layer conducts
    assert ra["cathode_electrolyte"] == pytest.approx(rb["cathode_electrolyte"], rel=1e-6)
