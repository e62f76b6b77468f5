"""Partial pore filling (``geometry.pore_fill_fraction < 1``): seeded gas voids in the pores of the filled cell.

Checked here: the wet fraction reached (grid count of the placement and exact Gmsh measure) is within the
tolerance of the one asked for in 2D and 3D, the placement is deterministic for a seed and changes with it, the
wetted Γ falls with the fraction, Γ measured on the Gmsh model is the sampled wetted surface (particle surfaces
facing a void are not Γ) and no Γ curve lies in a void, the resistance of the partly filled cell is higher,
1 and 2 ranks agree, and bad input is refused naming the key.
"""

from __future__ import annotations

import math
import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from microsim import config
from microsim.errors import ConfigError, GeometryError
from microsim.geometry import GeometryDescription, describe
from microsim.geometry.voids import FILL_TOLERANCE
from tests._cases import small

FRACTIONS = (1.0, 0.85, 0.7)
# five spheres on the collector of a 3 µm x 3 µm x 2 µm layer: a 3D case that meshes in about 2 s
PARTICLES_3D = "x_um,y_um,z_um,r_um\n" + "".join(
    f"{x},{y},0.43,0.45\n" for x, y in ((0.8, 0.8), (2.2, 0.8), (0.8, 2.2), (2.2, 2.2), (1.5, 1.5))
)


def filled(fraction: float, **changes: object) -> config.Config:
    """The small 2D filled cell with the pores ``fraction`` wet."""
    return small(**{"geometry.pore_fill_fraction": fraction, "output.xdmf": False, **changes})


def filled_3d(csv: Path, fraction: float) -> config.Config:
    """The five-sphere 3D filled cell with the pores ``fraction`` wet."""
    geometry = {
        "kind": "particles-file",
        "dim": 3,
        "interface": "filled",
        "width_um": 3.0,
        "cathode_thickness_um": 2.0,
        "membrane_thickness_um": 1.0,
        "particles_file": str(csv),
        "radius_mean_um": 0.45,
        "mesh_size_um": 0.4,
        "pore_fill_fraction": fraction,
    }
    return config.from_dict({"geometry": geometry, "output": {"png": False, "xdmf": False}})


def build(desc: GeometryDescription) -> tuple[dict, np.ndarray]:
    """``build_model`` info, and the Γ curve midpoints (2D) of the model."""
    gmsh = pytest.importorskip("gmsh")
    from microsim import tags
    from microsim.geometry import build_model

    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        info = build_model(desc)
        mids = []
        if desc.dim == 2:
            for c in gmsh.model.getEntitiesForPhysicalGroup(1, tags.INTERFACE):
                lo, hi = gmsh.model.getParametrizationBounds(1, int(c))
                mids.append(gmsh.model.getValue(1, int(c), [0.5 * (lo[0] + hi[0])])[:2])
    finally:
        gmsh.finalize()
    return info, np.array(mids)


# ---- description (NumPy only) -----------------------------------------------------------------------------------
def test_fraction_reached_and_wetted_area_falls_2d() -> None:
    stats = [describe(filled(f).geometry).stats() for f in FRACTIONS]
    for f, s in zip(FRACTIONS, stats, strict=True):
        assert abs(s["wet_pore_fraction"] - f) <= FILL_TOLERANCE, (f, s["wet_pore_fraction"])
        assert s["pore_fill_fraction"] == f
    assert stats[0]["n_voids"] == 0 and stats[0]["wetted_interface_area_um2"] == stats[0]["interface_area_um2"]
    n_voids = [s["n_voids"] for s in stats]
    wetted = [s["wetted_interface_area_um2"] for s in stats]
    assert all(a < b for a, b in pairwise(n_voids)), n_voids
    assert all(a > b for a, b in pairwise(wetted)), wetted
    # the particles and their total surface are the same: only the wetting changes
    assert len({s["interface_area_um2"] for s in stats}) == 1
    for s in stats:
        assert s["wetted_specific_interface_area_m2_m3"] == pytest.approx(
            s["wetted_interface_area_um2"] / (4.0 * 4.0) * 1e6, rel=1e-12
        )
        assert s["n_dry_particles"] == s["n_particles_not_reached_by_electrolyte"]
        assert len(s["voids"]) == s["n_voids"]


def test_placement_is_deterministic_for_a_seed() -> None:
    a, b = describe(filled(0.7).geometry), describe(filled(0.7).geometry)
    assert np.array_equal(a.void_centers, b.void_centers) and np.array_equal(a.void_radii, b.void_radii)
    c = describe(filled(0.7, **{"geometry.seed": 4}).geometry)
    assert not np.array_equal(a.void_centers[:1], c.void_centers[:1])
    # the voids draw from their own stream: the packing of a seed does not depend on the fill fraction
    full = describe(filled(1.0).geometry)
    assert np.array_equal(a.centers, full.centers) and np.array_equal(a.radii, full.radii)


def test_voids_lie_in_the_pores_and_the_layer() -> None:
    desc = describe(filled(0.7).geometry)
    gap = desc.min_gap_um
    for v, rho in zip(desc.void_centers, desc.void_radii, strict=True):
        assert np.all(np.linalg.norm(desc.centers - v, axis=1) > desc.radii)  # centre in the pores
        assert gap + rho <= v[-1] <= desc.cathode_thickness_um - rho - gap  # off the collector and membrane
        assert 0.5 * desc.radii.mean() <= rho <= desc.radii.max()


def test_unreachable_fraction_names_the_key_and_the_best() -> None:
    with pytest.raises(
        GeometryError, match=r"geometry\.pore_fill_fraction = 0\.3: cannot be reached.*best reached 0\.\d+"
    ):
        describe(filled(0.3).geometry)


# ---- bad input ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [0.0, -0.2, 1.5, math.nan, math.inf, "half"])
def test_bad_fraction_is_refused_naming_the_key(value: object) -> None:
    with pytest.raises(ConfigError, match=r"geometry\.pore_fill_fraction = .*(in \(0, 1\]|a number)"):
        filled(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"geometry.interface": "point-contact"}, "geometry.interface = 'point-contact'"),
        ({"geometry.interface": "infiltrated", "geometry.infiltration_depth_um": 2.0}, "'infiltrated'"),
        ({"geometry.kind": "planar"}, "geometry.kind = 'planar'"),
    ],
)
def test_fraction_below_one_only_for_filled(changes: dict, where: str) -> None:
    with pytest.raises(ConfigError, match=r"geometry\.pore_fill_fraction = 0\.8: applies to geometry\.interface = "
                       rf"'filled' only .*{where}"):  # fmt: skip
        filled(0.8, **changes)
    filled(1.0, **changes)  # the default is fine everywhere


def test_cli_check_exits_2_on_a_bad_fraction_and_reports_the_voids(capsys: pytest.CaptureFixture[str]) -> None:
    from microsim import cli

    default = Path(__file__).parents[2] / "geometries" / "default-2d.toml"
    assert cli.main(["check", str(default), "--set", "geometry.pore_fill_fraction=1.2"]) == 2
    assert "geometry.pore_fill_fraction" in capsys.readouterr().err
    assert cli.main(["check", str(default), "--set", "geometry.pore_fill_fraction=0.9"]) == 0
    assert re.search(r"\d+ gas voids, pores 0\.9\d\d wet", capsys.readouterr().out)


# ---- Gmsh model ---------------------------------------------------------------------------------------------------
@pytest.mark.fenics
def test_model_wet_fraction_and_gamma_2d() -> None:
    desc = describe(filled(0.7).geometry)
    info, mids = build(desc)
    stats = desc.stats()
    assert info["n_voids"] == desc.n_voids > 0
    assert abs(info["wet_pore_fraction"] - 0.7) <= FILL_TOLERANCE
    assert info["wet_pore_fraction"] == pytest.approx(stats["wet_pore_fraction"], abs=1e-3)  # grid vs exact
    # Γ is the wetted surface only: the sampled one, and no Γ curve runs inside a void
    assert info["interface_length_um"] == pytest.approx(stats["wetted_interface_area_um2"], rel=1e-3)
    assert info["interface_length_um"] < 0.9 * stats["interface_length_um"]
    for v, rho in zip(desc.void_centers, desc.void_radii, strict=True):
        assert np.all(np.linalg.norm(mids - v, axis=1) > rho)
    full, _ = build(describe(filled(1.0).geometry))
    assert full["wet_pore_fraction"] is None and full["n_voids"] == 0
    assert full["interface_length_um"] == pytest.approx(stats["interface_length_um"], rel=1e-9)


@pytest.mark.fenics
def test_model_wet_fraction_and_gamma_3d(tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text(PARTICLES_3D)
    desc = describe(filled_3d(csv, 0.85).geometry)
    stats = desc.stats()
    assert abs(stats["wet_pore_fraction"] - 0.85) <= FILL_TOLERANCE and desc.n_voids > 0
    info, _ = build(desc)
    assert abs(info["wet_pore_fraction"] - 0.85) <= FILL_TOLERANCE
    assert info["wet_pore_fraction"] == pytest.approx(stats["wet_pore_fraction"], abs=2e-3)
    assert info["interface_area_um2"] == pytest.approx(stats["wetted_interface_area_um2"], rel=2e-3)
    assert stats["wetted_interface_area_um2"] < 0.95 * stats["interface_area_um2"]


@pytest.mark.fenics
def test_orphan_pockets_are_found() -> None:
    """A pore piece touching neither a particle nor the membrane (through pores) is an orphan; one that does is not.

    Row of unit squares, left to right: membrane M, pore A (touches M), pore B (touches A), a gap, pore C touching
    only particle P, and a gap, pore D alone (the orphan).
    """
    gmsh = pytest.importorskip("gmsh")
    from microsim.geometry.gmsh_model import _orphan_pores

    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("orphans")
        occ = gmsh.model.occ
        squares = {name: occ.addRectangle(x, 0.0, 0.0, 1.0, 1.0) for name, x in
                   (("M", 0.0), ("A", 1.0), ("B", 2.0), ("C", 4.0), ("P", 5.0), ("D", 7.0))}  # fmt: skip
        _, out_map = occ.fragment([(2, t) for t in squares.values()], [])
        occ.synchronize()
        tag = {name: out_map[k][0][1] for k, name in enumerate(squares)}
        pore = [tag[n] for n in "ABCD"]
        assert _orphan_pores(gmsh, 2, pore, [tag["P"]], [tag["M"]]) == [tag["D"]]
        assert _orphan_pores(gmsh, 2, pore, [], [tag["M"]]) == [tag["C"], tag["D"]]
    finally:
        gmsh.finalize()


# ---- resistance -----------------------------------------------------------------------------------------------------
@pytest.mark.fenics
def test_partly_filled_cell_has_a_higher_interfacial_resistance() -> None:
    pytest.importorskip("dolfinx_solver")
    from mpi4py import MPI

    from microsim.studies.resistance import run_resistance

    r = {f: run_resistance(filled(f), None, MPI.COMM_SELF) for f in (1.0, 0.7)}
    ct = {f: s["resistance_ohm_cm2"]["charge_transfer_cathode"] for f, s in r.items()}
    assert ct[0.7] > 1.3 * ct[1.0], ct  # less Γ, and the current crowds onto it
    assert r[0.7]["resistance_ohm_cm2"]["total"] > r[1.0]["resistance_ohm_cm2"]["total"]
    assert r[0.7]["interface_area_um2"] < r[1.0]["interface_area_um2"]
    cons = r[0.7]["conservation"]
    assert cons["interface_current_A_m2"] == pytest.approx(cons["applied_current_A_m2"], rel=1e-8)


@pytest.mark.fenics
@pytest.mark.mpi
@pytest.mark.parametrize("dim", [2, 3])
def test_partly_filled_same_answer_on_world_and_one_rank(mpi_tmp_path: Path, dim: int) -> None:
    """2D small cell at f = 0.7, 3D five-sphere cell at f = 0.85 (R_ct 10443 -> 11513 Ω·cm² with Γ 12.02 -> 10.91)."""
    pytest.importorskip("dolfinx_solver")
    from mpi4py import MPI

    from microsim.studies.resistance import run_resistance

    if dim == 2:
        cfg = filled(0.7)
    else:
        csv = mpi_tmp_path / "particles.csv"
        if MPI.COMM_WORLD.rank == 0:
            csv.write_text(PARTICLES_3D)
        MPI.COMM_WORLD.barrier()
        cfg = filled_3d(csv, 0.85)
    a = run_resistance(cfg, None, MPI.COMM_WORLD)
    b = run_resistance(cfg, None, MPI.COMM_SELF)
    assert a["n_cells"] == b["n_cells"]
    for part in ("total", "charge_transfer_cathode", "cathode_electrolyte"):
        assert a["resistance_ohm_cm2"][part] == pytest.approx(b["resistance_ohm_cm2"][part], rel=1e-8)
    assert a["interface_area_um2"] == pytest.approx(b["interface_area_um2"], rel=1e-12)
