"""The resolved carbon-binder domain (docs/model.md §1.6, §2.11): analytic bilayer, connectivity, κ_eff, ranks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

from microsim import config
from microsim.parameters import resolve
from microsim.physics.functionals import Quantities
from microsim.physics.model import CellModel, ModelOptions
from microsim.solver import BorderedNewton
from microsim.studies.effective import run_effective
from microsim.studies.resistance import run_resistance
from tests._meshes import planar_cbd_box

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]

SIGMA_CBD, SIGMA_LFP = 2.0e-3, 1.0e-3  # S/m: both layers' ohmic drops are of order 10 Ω·cm²
L_CBD, L_C, L_M = 0.5, 1.5, 1.0  # µm


def test_planar_bilayer_matches_series_resistance() -> None:
    """CBD film | LFP slab | membrane: the solid and CBD Joule parts are L/σ of each layer, and the sum closes."""
    cfg = config.replace(
        config.default(),
        **{
            "electrolyte.model": "single-ion",
            "parameters.cbd.conductivity_S_m": SIGMA_CBD,
            "parameters.lfp.intrinsic_conductivity_S_m": SIGMA_LFP,
        },
    )
    p = resolve(cfg)
    cm = planar_cbd_box(MPI.COMM_WORLD, 0.1, L_CBD, L_C, L_M, 2, 50)
    assert cm.has_cbd and not cm.cbd_nanoporous
    model = CellModel(cm, p, ModelOptions(binary=False))
    model.current_density.value = 1.0  # A/m²
    BorderedNewton(model, linear_solver="mumps").solve(True)
    v_eq = float(p.lfp.ocp.numpy(np.array(p.initial_stoichiometry)))
    br = Quantities(model).breakdown(v_eq)
    r_cbd = L_CBD * 1e-6 / SIGMA_CBD * 1e4  # Ω·cm²
    r_lfp = (L_C - L_CBD) * 1e-6 / SIGMA_LFP * 1e4
    assert br["cbd"] == pytest.approx(r_cbd, rel=1e-8)
    assert br["solid"] == pytest.approx(r_lfp, rel=1e-8)
    assert br["membrane"] == pytest.approx(L_M * 1e-6 / p.electrolyte.conductivity_S_m * 1e4, rel=1e-8)
    assert br["sum_of_parts"] == pytest.approx(br["total"], rel=1e-8)


def _two_particle_file(tmp: Path) -> Path:
    """Particle 0 cuts the collector; particle 1 sits 0.2 µm above it, touching neither it nor the collector."""
    path = tmp / "two.csv"
    path.write_text("x_um,y_um,r_um\n1.0,0.45,0.5\n1.0,1.65,0.5\n")
    return path


def _two_particle_cfg(path: Path, **changes: object) -> config.Config:
    base: dict[str, object] = {
        "geometry.kind": "particles-file",
        "geometry.particles_file": str(path),
        "geometry.width_um": 2.0,
        "geometry.cathode_thickness_um": 3.0,
        "geometry.membrane_thickness_um": 2.0,
        "geometry.mesh_size_um": 0.2,
        "geometry.cbd_fraction": 0.03,
        "output.png": False,
        "output.xdmf": False,
        "electrolyte.model": "single-ion",
    }
    base.update(changes)
    return config.replace(config.default(), **base)


@pytest.fixture(scope="module")
def two_particles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    # every rank writes the same file name in its own tmp dir: the path must be the same on all ranks
    tmp = Path(MPI.COMM_WORLD.bcast(str(tmp_path_factory.mktemp("cbd")) if MPI.COMM_WORLD.rank == 0 else None))
    if MPI.COMM_WORLD.rank == 0:
        _two_particle_file(tmp)
    MPI.COMM_WORLD.barrier()
    path = tmp / "two.csv"
    out = {}
    out["with"] = run_resistance(_two_particle_cfg(path), None, MPI.COMM_WORLD)
    out["with/self"] = run_resistance(_two_particle_cfg(path), None, MPI.COMM_SELF)
    out["nanoporous"] = run_resistance(
        _two_particle_cfg(path, **{"geometry.cbd_ionic": "nanoporous"}), None, MPI.COMM_WORLD
    )
    out["without"] = run_effective(_two_particle_cfg(path, **{"geometry.cbd_fraction": 0.0}), None, MPI.COMM_WORLD)
    out["effective"] = run_effective(_two_particle_cfg(path), None, MPI.COMM_WORLD)
    out["effective/nanoporous"] = run_effective(
        _two_particle_cfg(path, **{"geometry.cbd_ionic": "nanoporous"}), None, MPI.COMM_WORLD
    )
    return out


def test_cbd_connects_a_particle_the_particles_leave_floating(two_particles: dict) -> None:
    """Without the CBD particle 1 is not connected; the neck bridge connects it (geometry.json and physics)."""
    geo_without = two_particles["without"]["geometry"]
    geo_with = two_particles["effective"]["geometry"]
    assert geo_without["n_particles_not_connected_to_collector"] == 1
    assert "cbd" not in geo_without
    cbd = geo_with["cbd"]
    assert cbd["n_particles_not_electronically_connected"] == 0
    assert cbd["connected_fraction"] == pytest.approx(1.0)
    assert cbd["fraction_measured"] == pytest.approx(0.03, rel=0.1)
    assert cbd["n_necks"] == 2 and cbd["n_collector_necks"] == 1
    r = two_particles["with"]["resistance_ohm_cm2"]
    assert r["cbd"] > 0.0
    assert two_particles["with"]["breakdown_closure_relative"] < 1e-8
    assert two_particles["nanoporous"]["breakdown_closure_relative"] < 1e-8
    # a nanoporous CBD lets ions through it: the cathode electrolyte resists less than with a blocking one
    rn = two_particles["nanoporous"]["resistance_ohm_cm2"]
    assert rn["cathode_electrolyte"] < r["cathode_electrolyte"]


def test_same_answer_on_world_and_one_rank(two_particles: dict) -> None:
    """With the CBD the partitioned run (2 ranks under mpiexec) equals a one-rank run."""
    a, b = two_particles["with"], two_particles["with/self"]
    assert a["n_cells"] == b["n_cells"]
    for key, value in b["resistance_ohm_cm2"].items():
        assert a["resistance_ohm_cm2"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


def test_blocking_cbd_lowers_the_effective_ionic_conductivity(two_particles: dict) -> None:
    blocking = two_particles["effective"]["effective"]["cbd"]
    nano = two_particles["effective/nanoporous"]["effective"]["cbd"]
    assert blocking["ionic"] == "blocking" and nano["ionic"] == "nanoporous"
    k_without = blocking["electrolyte_conductivity_ratio_without_cbd"]
    assert blocking["electrolyte_conductivity_ratio_with_cbd"] < k_without
    assert (
        blocking["electrolyte_conductivity_ratio_with_cbd"]
        < nano["electrolyte_conductivity_ratio_with_cbd"]
        < k_without
    )
    # the wetted particle surface excludes what the binder covers
    assert 0.0 < blocking["wetted_particle_area_share"] < 1.0


def _two_spheres_cfg(tmp: Path, placement: str, fraction: float) -> config.Config:
    path = tmp / "two3d.csv"
    return config.replace(
        config.default(),
        **{
            "geometry.dim": 3,
            "geometry.kind": "particles-file",
            "geometry.particles_file": str(path),
            "geometry.width_um": 2.0,
            "geometry.cathode_thickness_um": 3.0,
            "geometry.membrane_thickness_um": 1.5,
            "geometry.mesh_size_um": 0.4,
            "geometry.interface_mesh_size_um": 0.2,
            "geometry.cbd_fraction": fraction,
            "geometry.cbd_placement": placement,
            "output.png": False,
            "output.xdmf": False,
            "electrolyte.model": "single-ion",
        },
    )


@pytest.mark.parametrize(("placement", "fraction"), [("necks", 0.01), ("coating", 0.04)])
def test_3d_cbd_meshes_connects_and_closes(tmp_path_factory: pytest.TempPathFactory, placement: str, fraction: float):
    """3D: two spheres one above the other; necks bridge the 0.2 µm gap, a cap film may not; the breakdown closes."""
    comm = MPI.COMM_WORLD
    tmp = Path(comm.bcast(str(tmp_path_factory.mktemp("cbd3")) if comm.rank == 0 else None))
    if comm.rank == 0:
        (tmp / "two3d.csv").write_text("x_um,y_um,z_um,r_um\n1.0,1.0,0.45,0.5\n1.0,1.0,1.65,0.5\n")
    comm.barrier()
    cfg = _two_spheres_cfg(tmp, placement, fraction)
    eff = run_effective(cfg, None, comm)
    cbd = eff["geometry"]["cbd"]
    assert cbd["fraction_measured"] == pytest.approx(fraction, rel=0.15)
    if placement == "necks":
        assert cbd["n_particles_not_electronically_connected"] == 0
    assert eff["geometry"]["n_particles_not_connected_to_collector"] == 1
    k = eff["effective"]["cbd"]
    assert k["electrolyte_conductivity_ratio_with_cbd"] < k["electrolyte_conductivity_ratio_without_cbd"]
    res = run_resistance(cfg, None, comm)
    assert res["breakdown_closure_relative"] < 1e-8
    assert res["resistance_ohm_cm2"]["cbd"] > 0.0


def test_pores_enclosed_by_binder_are_filled_and_the_cell_solves() -> None:
    """The default 2D packing with a 0.15 coating encloses a pore pocket touching no particle: it becomes CBD.

    Left as electrolyte it is a pure-Neumann block; MUMPS failed to factor it on 2 ranks (PETSc reason -11).
    """
    cfg = config.load(
        Path(__file__).resolve().parents[2] / "geometries" / "default-2d.toml",
        ["geometry.cbd_fraction=0.15", "geometry.cbd_placement=coating", "output.png=false", "output.xdmf=false"],
    )
    eff = run_effective(cfg, None, MPI.COMM_WORLD)
    cbd = eff["geometry"]["cbd"]
    assert cbd["n_enclosed_pores_filled"] >= 1
    assert cbd["fraction_measured"] == pytest.approx(0.15, rel=0.05)
    res = run_resistance(cfg, None, MPI.COMM_WORLD)
    assert res["breakdown_closure_relative"] < 1e-8
