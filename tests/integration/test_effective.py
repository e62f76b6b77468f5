"""The effective-properties study: exact stripe cases, Maxwell for a dilute disk array, 1 vs 2 ranks.

Definitions in docs/model.md §4.6.

The Maxwell case is meshed here with Gmsh directly (a 3×3 square array of insulating disks in a square box): the
``particles-file`` archetype requires a particle touching the collector, which would spoil the comparison. The
array between two Dirichlet planes with insulating side walls is exactly a 3×3 block of the infinite square
array (the walls and the planes half-way between rows are symmetry planes), whose κ_eff/κ is Rayleigh's
``1 − 2φ/(1 + φ − 0.3058 φ⁴ − …)``: Maxwell's ``(1 − φ)/(1 + φ)`` up to 5e-6 relative at φ = 0.1. A refinement
run (h = 0.4 … 0.025, interface h/2) gave relative errors 1.8e-2, 5.4e-3, 1.4e-3, 3.5e-4, 8.5e-5: second order,
Richardson-extrapolated to 0.8181777 (Rayleigh 0.8181768, Maxwell 0.8181818). The tolerances below come from
that run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

import dolfinx
from mpi4py import MPI

from microsim import tags
from microsim.studies.effective import conduction_ratio, run_effective
from tests._cases import small

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]

PHI = 0.1  # solid (disk) area fraction of the Maxwell case
BOX_UM = 6.0
N_ROWS = 3


def maxwell_cylinders(phi: float) -> float:
    """Maxwell–Garnett / Rayleigh dilute limit for insulating cylinders (docs/parameters.md §5.5)."""
    return (1.0 - phi) / (1.0 + phi)


def disk_array(comm: MPI.Comm, h: float) -> tuple[dolfinx.mesh.Mesh, dolfinx.mesh.MeshTags]:
    """Square box of side ``BOX_UM`` with an ``N_ROWS``² array of disks of area fraction ``PHI`` (size h, h/2 on Γ)."""
    import gmsh

    if comm.rank == 0:
        gmsh.initialize(interruptible=False)
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)
        occ = gmsh.model.occ
        pitch = BOX_UM / N_ROWS
        r = math.sqrt(PHI * pitch**2 / math.pi)
        box = occ.addRectangle(0.0, 0.0, 0.0, BOX_UM, BOX_UM)
        disks = [
            occ.addDisk(pitch * (i + 0.5), pitch * (j + 0.5), 0.0, r, r) for i in range(N_ROWS) for j in range(N_ROWS)
        ]
        occ.fragment([(2, box)], [(2, d) for d in disks])
        occ.synchronize()
        surfaces = [e[1] for e in gmsh.model.getEntities(2)]

        def is_disk(s: int) -> bool:
            x0, _, _, x1, _, _ = gmsh.model.getBoundingBox(2, s)
            return x1 - x0 < pitch

        particle = [s for s in surfaces if is_disk(s)]
        gmsh.model.addPhysicalGroup(2, particle, tags.PARTICLE)
        gmsh.model.addPhysicalGroup(2, [s for s in surfaces if not is_disk(s)], tags.ELECTROLYTE_PORE)
        circles = [c[1] for c in gmsh.model.getBoundary([(2, s) for s in particle], oriented=False, combined=False)]
        field = gmsh.model.mesh.field
        dist = field.add("Distance")
        field.setNumbers(dist, "CurvesList", circles)
        field.setNumber(dist, "Sampling", 200)
        thr = field.add("Threshold")
        field.setNumber(thr, "InField", dist)
        field.setNumber(thr, "SizeMin", h / 2)
        field.setNumber(thr, "SizeMax", h)
        field.setNumber(thr, "DistMin", 0.0)
        field.setNumber(thr, "DistMax", 0.5)
        field.setAsBackgroundMesh(thr)
        gmsh.option.setNumber("Mesh.MeshSizeMax", h)
        gmsh.model.mesh.generate(2)
    partitioner = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    data = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, 0, gdim=2, partitioner=partitioner)
    if comm.rank == 0:
        gmsh.finalize()
    return data.mesh, data.cell_tags


def tagged_square(
    comm: MPI.Comm, n: int, solid: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> tuple[dolfinx.mesh.Mesh, dolfinx.mesh.MeshTags]:
    """Unit square, n×n cells (right-diagonal triangles); a cell is PARTICLE where ``solid(x, z)`` at its centroid."""
    msh = dolfinx.mesh.create_unit_square(comm, n, n, ghost_mode=dolfinx.mesh.GhostMode.shared_facet)
    imap = msh.topology.index_map(2)
    cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(msh, 2, cells)
    values = np.where(solid(mid[:, 0], mid[:, 1]), tags.PARTICLE, tags.ELECTROLYTE_PORE).astype(np.int32)
    return msh, dolfinx.mesh.meshtags(msh, 2, cells, values)


# ---- exact cases ---------------------------------------------------------------------------------------------
def test_no_particles_gives_one() -> None:
    """Pores filling the layer: κ_eff/κ = 1 and ε = 1 exactly (P1 represents the linear solution)."""
    msh, ct = tagged_square(MPI.COMM_WORLD, 8, lambda x, z: np.zeros_like(x, dtype=bool))
    res = conduction_ratio(msh, ct, tags.ELECTROLYTE_PORE, 0.0, 1.0, 1.0)
    assert res.ratio == pytest.approx(1.0, rel=1e-12)
    assert res.volume_fraction == pytest.approx(1.0, rel=1e-12)
    assert res.conservation_error < 1e-12
    solid = conduction_ratio(msh, ct, tags.PARTICLE, 0.0, 1.0, 1.0)
    assert solid.ratio is None and "no cells" in solid.reason


def test_stripes_parallel_to_the_current() -> None:
    """A solid stripe spanning the layer: parallel connection, κ_eff/κ = ε and σ_eff/σ = 1 − ε exactly."""
    msh, ct = tagged_square(MPI.COMM_WORLD, 8, lambda x, z: (x > 0.25) & (x < 0.5))
    el = conduction_ratio(msh, ct, tags.ELECTROLYTE_PORE, 0.0, 1.0, 1.0)
    assert el.volume_fraction == pytest.approx(0.75, rel=1e-12)
    assert el.ratio == pytest.approx(0.75, rel=1e-10)
    solid = conduction_ratio(msh, ct, tags.PARTICLE, 0.0, 1.0, 1.0)
    assert solid.ratio == pytest.approx(0.25, rel=1e-10)


def test_blocking_layer_with_an_enclosed_pocket() -> None:
    """A solid layer across the current: no pore path (κ_eff = 0); the enclosed pore pocket is pinned, not singular."""

    def solid(x: np.ndarray, z: np.ndarray) -> np.ndarray:
        layer = (z > 0.25) & (z < 0.75)
        pocket = (x > 0.375) & (x < 0.625) & (z > 0.375) & (z < 0.625)
        return layer & ~pocket

    msh, ct = tagged_square(MPI.COMM_WORLD, 16, solid)
    el = conduction_ratio(msh, ct, tags.ELECTROLYTE_PORE, 0.0, 1.0, 1.0)
    assert el.n_components == 3 and el.n_floating_components == 1
    assert el.ratio == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.isfinite(el.phi.x.array))


# ---- Maxwell ------------------------------------------------------------------------------------------------
def rayleigh_cylinders(phi: float) -> float:
    """Rayleigh's square array of insulating cylinders, ``1 − 2φ/(1 + φ − 0.3058 φ⁴)`` (next term O(φ⁸))."""
    return 1.0 - 2.0 * phi / (1.0 + phi - 0.3058 * phi**4)


@pytest.fixture(scope="module")
def disk_results() -> dict:
    out = {}
    for h in (0.2, 0.1 * math.sqrt(2.0), 0.1):
        msh, ct = disk_array(MPI.COMM_WORLD, h)
        out[h] = conduction_ratio(msh, ct, tags.ELECTROLYTE_PORE, 0.0, BOX_UM, BOX_UM)
    msh, ct = disk_array(MPI.COMM_SELF, 0.2)
    out["self"] = conduction_ratio(msh, ct, tags.ELECTROLYTE_PORE, 0.0, BOX_UM, BOX_UM)
    return out


def test_dilute_disk_array_matches_maxwell(disk_results: dict) -> None:
    """κ_eff/κ of a 3×3 array of insulating disks (φ = 0.1) converges to Maxwell at second order."""
    target = maxwell_cylinders(PHI)
    err = {h: disk_results[h].ratio / target - 1.0 for h in (0.2, 0.1)}
    # measured: 5.4e-3 and 1.4e-3 (polygonal disks shrink: the error is positive and O(h²))
    assert 0.0 < err[0.1] < 2.5e-3
    assert err[0.2] / err[0.1] > 3.0
    assert disk_results[0.1].volume_fraction == pytest.approx(1.0 - PHI, rel=1e-3)
    assert disk_results[0.1].conservation_error < 1e-10
    tau = disk_results[0.1].volume_fraction / disk_results[0.1].ratio
    assert tau == pytest.approx(1.0 + PHI, rel=3e-3)  # τ = ε κ/κ_eff = 1 + φ for Maxwell


def test_disk_array_same_on_world_and_one_rank(disk_results: dict) -> None:
    """The partitioned solve (2 ranks under mpiexec) equals a one-rank solve of the same mesh."""
    a, b = disk_results[0.2], disk_results["self"]
    assert a.n_dofs == b.n_dofs
    assert a.ratio == pytest.approx(b.ratio, rel=1e-9)
    assert a.volume_fraction == pytest.approx(b.volume_fraction, rel=1e-12)


def test_richardson_recovers_a_known_expansion() -> None:
    """Exact for ``f = f_∞ + C h²`` with two levels; the observed order of ``f_∞ + C h^1.5`` is 1.5."""
    from microsim.studies.mesh_convergence import richardson

    h = [0.1, 0.1 * math.sqrt(2.0), 0.2]
    two = richardson(h[:2], [0.5 + 0.3 * x**2 for x in h[:2]])
    assert two.value == pytest.approx(0.5, abs=1e-13) and two.order_observed is None and "assumed" in two.note
    three = richardson(h, [0.5 + 0.3 * x**1.5 for x in h])
    assert three.order_observed == pytest.approx(1.5, rel=1e-9) and three.value == pytest.approx(0.5, abs=1e-12)
    noisy = richardson(h, [0.5, 0.51, 0.505])  # not monotone: order 2 assumed, error = the correction
    assert noisy.order_observed is None and noisy.order == 2.0
    assert noisy.error_estimate == pytest.approx(abs(noisy.value - 0.5), rel=1e-12)
    with pytest.raises(ValueError, match="distinct"):
        richardson([0.1, 0.1], [1.0, 1.0])


def test_extrapolation_beats_the_finest_mesh_on_the_disk_array(disk_results: dict) -> None:
    """Richardson from h = 0.1·(1, √2, 2) lands closer to Rayleigh than h = 0.1, and its error estimates hold.

    Measured (1 and 2 ranks): raw 0.819344 (error 1.17e-3), extrapolated 0.818034 (error −1.42e-4, estimate
    3.3e-4), observed order 1.80, finest-error estimate 1.31e-3.
    """
    from microsim.studies.mesh_convergence import richardson

    exact = rayleigh_cylinders(PHI)
    h = sorted(k for k in disk_results if isinstance(k, float))
    ex = richardson(h, [disk_results[x].ratio for x in h])
    true_finest, true_extrapolated = ex.finest - exact, ex.value - exact
    assert abs(true_extrapolated) < 0.25 * abs(true_finest)
    assert 1.5 < ex.order_observed < 2.5
    # the estimates bracket the true errors: the extrapolated one from above within a factor 5, the finest within 2
    assert abs(true_extrapolated) <= ex.error_estimate <= 5.0 * abs(true_extrapolated)
    assert 0.5 <= ex.finest_error_estimate / abs(true_finest) <= 2.0


# ---- the study on the small default packings ---------------------------------------------------------------
@pytest.fixture(scope="module")
def summaries() -> dict:
    out = {}
    for interface in ("filled", "point-contact"):
        cfg = small(**{"geometry.interface": interface, "study.kind": "effective", "output.xdmf": False})
        out[interface] = run_effective(cfg, None, MPI.COMM_WORLD)
        out[interface + "/self"] = run_effective(cfg, None, MPI.COMM_SELF)
    return out


def test_filled_packing_reports_bruggeman(summaries: dict) -> None:
    """Filled: 0 < κ_eff/κ < ε, τ = ε/(κ_eff/κ) > 1, Bruggeman ε^1.5 reported; σ_eff None with the reason."""
    e = summaries["filled"]["effective"]
    eps, ratio = e["porosity"], e["electrolyte_conductivity_ratio"]
    assert 0.0 < ratio < eps < 1.0
    assert e["tortuosity"] == pytest.approx(eps / ratio, rel=1e-12) and e["tortuosity"] > 1.0
    assert e["bruggeman_ratio"] == pytest.approx(eps**1.5, rel=1e-12)
    assert e["solid_conductivity_ratio"] is None and "gap below" in e["solid_note"]
    geo = summaries["filled"]["geometry"]
    assert eps == pytest.approx(1.0 - geo["active_fraction"], abs=0.01)  # mesh vs exact disk union
    assert e["specific_interface_area_m2_m3"] == pytest.approx(geo["specific_interface_area_m2_m3"], rel=0.01)
    assert e["contact_area_fraction"] is None
    assert e["electrolyte_current_conservation"] < 1e-10


def test_filled_packing_reports_the_mesh_convergence(summaries: dict) -> None:
    """Three meshes (default study.convergence_levels): the extrapolated κ_eff/κ lies below the raw P1 values.

    Measured on this cell: raw 0.384245, 0.381135, 0.379541 at h = 0.25, 0.177, 0.125 µm, extrapolated
    0.377866 ± 0.00042, observed order 1.93.
    """
    e = summaries["filled"]["effective"]
    conv = e["mesh_convergence"]
    assert [lv["mesh_size_um"] for lv in conv["levels"]] == pytest.approx([0.25, 0.25 / math.sqrt(2.0), 0.125])
    assert conv["levels"][0]["electrolyte_conductivity_ratio"] == pytest.approx(
        e["electrolyte_conductivity_ratio"], rel=1e-12
    )
    raws = [lv["electrolyte_conductivity_ratio"] for lv in conv["levels"]]
    assert raws[0] > raws[1] > raws[2]  # P1 overestimates the conductance, less on finer meshes
    ratio = e["electrolyte_conductivity_ratio_extrapolated"]
    assert ratio < raws[2] and raws[2] - ratio == pytest.approx(conv["finest_error_estimate"], rel=1e-12)
    assert 0.0 < e["electrolyte_conductivity_ratio_error_estimate"] < raws[2] - ratio
    assert conv["order_observed"] is not None and 1.0 < conv["order_observed"] < 3.0 and conv["note"] == ""
    assert e["tortuosity_extrapolated"] == pytest.approx(conv["porosity_extrapolated"] / ratio, rel=1e-12)
    assert e["tortuosity_extrapolated"] > e["tortuosity"]
    # a known answer on the same meshes: the porosity extrapolates to the exact one of the disk union (measured
    # 0.552486 against 0.552412; the finest mesh 0.553394)
    exact = 1.0 - summaries["filled"]["geometry"]["active_fraction"]
    finest = conv["levels"][-1]["porosity"]
    assert abs(conv["porosity_extrapolated"] - exact) < 0.2 * abs(finest - exact)
    # fully filled: Γ is the whole particle surface, wetted (mesh) against exact (geometry) to the polygon error
    assert e["wetted_specific_interface_area_m2_m3"] == pytest.approx(e["specific_interface_area_m2_m3"], rel=1e-12)
    assert e["wetted_interface_fraction"] == pytest.approx(1.0, abs=0.01)


def test_convergence_levels_off_and_voids_wet_less() -> None:
    """``study.convergence_levels = 1``: no extrapolation. With gas voids the wetted area is below the total."""
    cfg = small(**{"study.kind": "effective", "output.xdmf": False, "study.convergence_levels": 1,
                   "geometry.pore_fill_fraction": 0.85})  # fmt: skip
    s = run_effective(cfg, None, MPI.COMM_WORLD)
    e, geo = s["effective"], s["geometry"]
    assert e["mesh_convergence"] is None and e["electrolyte_conductivity_ratio_extrapolated"] is None
    assert e["wetted_interface_fraction"] == pytest.approx(
        geo["wetted_interface_area_um2"] / geo["interface_area_um2"], rel=0.01
    )
    assert e["wetted_interface_fraction"] < 0.95
    assert e["porosity"] == pytest.approx(0.85 * (1.0 - geo["active_fraction"]), rel=0.03)


def test_partly_infiltrated_extrapolates_the_wet_layer() -> None:
    """Infiltrated to 2.5 µm of 4: the levels solve the wet layer, whose record gets the extrapolated values.

    Measured: 0.329494, 0.326646, 0.325010 at h = 0.25, 0.177, 0.125 µm; extrapolated 0.322805 ± 0.00057, order 1.60.
    """
    cfg = small(**{"geometry.interface": "infiltrated", "geometry.infiltration_depth_um": 2.5,
                   "study.kind": "effective", "output.xdmf": False})  # fmt: skip
    e = run_effective(cfg, None, MPI.COMM_WORLD)["effective"]
    conv, wet = e["mesh_convergence"], e["wet_layer"]
    assert conv["quantity"] == "wet_layer.electrolyte_conductivity_ratio"
    assert conv["levels"][0]["electrolyte_conductivity_ratio"] == pytest.approx(
        wet["electrolyte_conductivity_ratio"], rel=1e-12
    )
    assert conv["levels"][0]["porosity"] == pytest.approx(wet["porosity"], rel=1e-9)
    assert wet["electrolyte_conductivity_ratio_extrapolated"] < conv["levels"][-1]["electrolyte_conductivity_ratio"]
    assert wet["tortuosity_extrapolated"] > wet["tortuosity"]
    # the layer has no electrolyte path to z = 0: no layer value, raw or extrapolated
    assert e["electrolyte_conductivity_ratio"] is None and e["electrolyte_conductivity_ratio_extrapolated"] is None


def test_point_contact_reports_void_pores_and_solid_path(summaries: dict) -> None:
    """Point-contact: electrolyte values 0/None with a note; σ_eff/σ in (0, 1 − void); contact fraction = spots/W."""
    e = summaries["point-contact"]["effective"]
    assert e["porosity"] == 0.0 and e["electrolyte_conductivity_ratio"] == 0.0 and e["tortuosity"] is None
    assert e["mesh_convergence"] is None  # nothing to extrapolate without pore electrolyte
    assert "void" in e["electrolyte_note"]
    assert 0.0 < e["solid_conductivity_ratio"] < e["solid_fraction"]
    geo = summaries["point-contact"]["geometry"]
    assert e["contact_area_fraction"] == pytest.approx(geo["contact_area_fraction"], rel=1e-9)
    assert e["specific_interface_area_m2_m3"] == pytest.approx(geo["specific_interface_area_m2_m3"], rel=1e-9)


@pytest.mark.parametrize("interface", ["filled", "point-contact"])
def test_study_same_on_world_and_one_rank(summaries: dict, interface: str) -> None:
    """Case 6 for this study: every ratio of the partitioned run equals the one-rank run."""
    a, b = summaries[interface], summaries[interface + "/self"]
    assert a["n_cells"] == b["n_cells"]
    for key in (
        "porosity",
        "electrolyte_conductivity_ratio",
        "solid_conductivity_ratio",
        "specific_interface_area_m2_m3",
        "electrolyte_conductivity_ratio_extrapolated",
        "electrolyte_conductivity_ratio_error_estimate",
        "tortuosity_extrapolated",
        "wetted_specific_interface_area_m2_m3",
    ):
        va, vb = a["effective"][key], b["effective"][key]
        assert (va is None) == (vb is None)
        if va is not None:
            assert va == pytest.approx(vb, rel=1e-9, abs=1e-14)


def test_summary_and_fields_written(comm: MPI.Comm, mpi_tmp_path: Path) -> None:
    """``run_study`` dispatches ``effective``; summary.json holds the record and φ goes to XDMF."""
    from microsim.studies import run_study

    cfg = small(**{"geometry.interface": "filled", "study.kind": "effective", "output.xdmf": True})
    run_study(cfg, mpi_tmp_path, comm)
    comm.barrier()
    summary = json.loads((mpi_tmp_path / "summary.json").read_text())
    assert summary["study"] == "effective" and summary["n_ranks"] == comm.size
    for key in (
        "porosity",
        "electrolyte_conductivity_ratio",
        "tortuosity",
        "bruggeman_ratio",
        "solid_conductivity_ratio",
        "specific_interface_area_m2_m3",
        "contact_area_fraction",
    ):
        assert key in summary["effective"]
    assert summary["wall_time_s"] > 0.0 and "geometry" in summary
    assert (mpi_tmp_path / "fields" / "pore_electrolyte.xdmf").is_file()


def test_mesh_solid_fraction_converges_to_the_exact_one() -> None:
    """The effective study reports the mesh's solid fraction (what its solves see) and the particles' exact one.

    Gmsh puts the boundary nodes on the circles, so the polygonal disks are inscribed: the mesh holds less solid
    than the packing, by a deficit of second order in the interface mesh size.
    """
    deficits = []
    for h in (0.2, 0.1):
        cfg = small(**{"geometry.mesh_size_um": 0.25, "geometry.interface_mesh_size_um": h, "output.xdmf": False})
        e = run_effective(cfg, None, MPI.COMM_WORLD)["effective"]
        assert e["solid_fraction_geometry"] == pytest.approx(e["solid_fraction"] / (1 - e["solid_volume_deficit_mesh"]))
        deficits.append(e["solid_volume_deficit_mesh"])
    assert 0.0 < deficits[1] < deficits[0] / 3.0, deficits  # inscribed polygons, O(h²)
