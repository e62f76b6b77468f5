"""Gmsh model: tags, conforming interfaces, determinism, measured Γ; loaded serially into DOLFINx."""

from __future__ import annotations

import math
import types

import numpy as np
import pytest

pytestmark = pytest.mark.fenics

# dolfinx_solver sets up the MPI/PETSc runtime: it must be imported before dolfinx and petsc4py.
dolfinx_solver = pytest.importorskip("dolfinx_solver")
gmsh = pytest.importorskip("gmsh")

# isort: split
import dolfinx  # noqa: E402
from dolfinx.io import gmsh as gmshio  # noqa: E402
from mpi4py import MPI  # noqa: E402

from microsim import tags  # noqa: E402
from microsim.geometry import build_model, describe, write_particles_csv  # noqa: E402
from microsim.geometry.packing import Particles  # noqa: E402

W, LC, LM = 10.0, 11.2, 9.5


def make_geo(**overrides):
    values = dict(
        kind="packing",
        dim=2,
        interface="filled",
        width_um=W,
        cathode_thickness_um=LC,
        membrane_thickness_um=LM,
        active_fraction=0.45,
        radius_mean_um=0.5,
        radius_std_um=0.15,
        contact_radius_um=0.1,
        particles_file="",
        seed=0,
        mesh_size_um=0.2,
        interface_mesh_size_um=None,
        overlap_fraction=0.05,
        min_gap_fraction=0.1,
        infiltration_depth_um=0.0,
        spot_mesh_level=1.0,
        pore_fill_fraction=1.0,
    )
    values.update(overrides)
    return types.SimpleNamespace(**values)


@pytest.fixture
def session():
    gmsh.initialize()
    gmsh.option.setNumber("General.Terminal", 0)
    yield gmsh
    gmsh.finalize()


def _to_dolfinx(dim):
    data = gmshio.model_to_mesh(gmsh.model, MPI.COMM_WORLD, 0, gdim=dim)
    return data.mesh, data.cell_tags, data.facet_tags


def check_mesh(mesh, cell_tags, facet_tags, expected_cells, top):
    """Every tag non-empty, every cell tagged, facets on the right cells and planes."""
    tdim = mesh.topology.dim
    fdim = tdim - 1
    n_cells = mesh.topology.index_map(tdim).size_local
    cell_value = np.full(n_cells, -1)
    cell_value[cell_tags.indices] = cell_tags.values
    assert np.all(cell_value >= 0), "untagged cells"
    assert set(np.unique(cell_value)) == set(expected_cells)
    for t in (tags.INTERFACE, tags.COLLECTOR, tags.ANODE):
        assert facet_tags.find(t).size > 0, tags.FACET_NAMES[t]
    mesh.topology.create_connectivity(fdim, tdim)
    f2c = mesh.topology.connectivity(fdim, tdim)
    electrolyte = set(tags.ELECTROLYTE_CELLS)
    axis = tdim - 1  # through-thickness coordinate

    def cells_of(f):
        return [int(cell_value[c]) for c in f2c.links(f)]

    gamma = facet_tags.find(tags.INTERFACE)
    for f in gamma:
        values = cells_of(f)
        assert len(values) == 2 and tags.PARTICLE in values and (set(values) - {tags.PARTICLE}) <= electrolyte
        assert sum(v in electrolyte for v in values) == 1
    for t, plane, owner in ((tags.COLLECTOR, 0.0, {tags.PARTICLE}), (tags.ANODE, top, electrolyte)):
        facets = facet_tags.find(t)
        mid = dolfinx.mesh.compute_midpoints(mesh, fdim, facets)
        assert np.allclose(mid[:, axis], plane, atol=1e-9)
        for f in facets:
            values = cells_of(f)
            assert len(values) == 1 and values[0] in owner
    # Conversely: every exterior facet of a particle cell on z = 0 is a collector facet.
    exterior = dolfinx.mesh.exterior_facet_indices(mesh.topology)
    mid = dolfinx.mesh.compute_midpoints(mesh, fdim, exterior)
    on_floor = exterior[np.isclose(mid[:, axis], 0.0, atol=1e-9)]
    p_floor = [f for f in on_floor if cells_of(f)[0] == tags.PARTICLE]
    assert set(p_floor) == set(facet_tags.find(tags.COLLECTOR).tolist())
    # And every facet shared by a particle and an electrolyte cell is an interface facet.
    n_facets = mesh.topology.index_map(fdim).size_local
    shared = [
        f
        for f in range(n_facets)
        if len(f2c.links(f)) == 2 and sorted(v == tags.PARTICLE for v in cells_of(f)) == [False, True]
    ]
    assert set(shared) == set(gamma.tolist())


@pytest.mark.parametrize("interface", ["filled", "point-contact"])
def test_packing_model_tags_and_dolfinx(session, interface):
    desc = describe(make_geo(interface=interface))
    info = build_model(desc)
    expected = (
        {tags.PARTICLE, tags.ELECTROLYTE_PORE, tags.ELECTROLYTE_MEMBRANE}
        if interface == "filled"
        else {tags.PARTICLE, tags.ELECTROLYTE_MEMBRANE}
    )
    assert {k for k, v in info["n_cells"].items() if v > 0} == {tags.CELL_NAMES[t] for t in expected}
    mesh, ct, ft = _to_dolfinx(2)
    check_mesh(mesh, ct, ft, expected, LC + LM)
    stats = desc.stats()
    # The measured Γ equals the exact arc/chord length; the particle area the exact union area.
    assert info["interface_length_um"] == pytest.approx(stats["interface_length_um"], rel=1e-7)
    assert info["active_fraction_measured"] == pytest.approx(stats["active_fraction"], rel=1e-7)
    assert info["anode_measure_um"] == pytest.approx(W, rel=1e-9)
    # No sliver: seams hidden inside the union, near-tangent pairs and tiny features refused.
    assert info["min_element_quality"] > 0.3
    if interface == "point-contact":
        a = desc.contact_radius_um
        assert info["chord_lengths_um"] and np.allclose(info["chord_lengths_um"], 2 * a, rtol=1e-7)
        # At least ~6 elements across every chord.
        assert info["n_facets"]["interface"] >= 6 * len(info["chord_lengths_um"])
        assert (
            min(
                info["n_facets"]["interface"] / len(info["chord_lengths_um"]),
                2 * a / info["chord_mesh_size_um"],
            )
            >= 6
        )


def test_cell_counts_deterministic(session):
    desc = describe(make_geo(seed=4, interface="point-contact"))
    first = build_model(desc)
    second = build_model(describe(make_geo(seed=4, interface="point-contact")))
    assert first["n_cells"] == second["n_cells"] and first["n_nodes"] == second["n_nodes"]
    assert first["n_facets"] == second["n_facets"]


@pytest.mark.parametrize("dim", [2, 3])
def test_planar_interface_measure(session, dim):
    desc = describe(
        make_geo(kind="planar", dim=dim, width_um=4.0 if dim == 3 else W, mesh_size_um=0.5 if dim == 3 else 0.2)
    )
    info = build_model(desc)
    w = desc.width_um
    key = "interface_length_um" if dim == 2 else "interface_area_um2"
    assert info[key] == pytest.approx(w if dim == 2 else w * w, rel=1e-12)
    assert info["collector_measure_um"] == pytest.approx(info[key], rel=1e-12)
    mesh, ct, ft = _to_dolfinx(dim)
    check_mesh(mesh, ct, ft, {tags.PARTICLE, tags.ELECTROLYTE_MEMBRANE}, LC + LM)
    # Γ facets tile the plane z = L_c exactly.
    fdim = dim - 1
    mid = dolfinx.mesh.compute_midpoints(mesh, fdim, ft.find(tags.INTERFACE))
    assert np.allclose(mid[:, dim - 1], LC)


@pytest.mark.parametrize("interface", ["filled", "point-contact"])
def test_3d_spheres_from_file(session, tmp_path, interface):
    """A small 3D particle file: a sphere column touching the collector (and the membrane in
    point-contact)."""
    w, lc, r = 3.0, 3.0, 0.6
    z0 = r * 0.95
    z1 = z0 + 0.95 * 2 * r
    # Top of the upper sphere: 0.57 + 1.14 + 0.6 = 2.31; put L_c so it is within the tolerance (0.125).
    lc = z1 + r + 0.08
    centers = [[1.5, 1.5, z0], [1.5, 1.5, z1]]
    path = tmp_path / "spheres.csv"
    write_particles_csv(path, Particles(np.array(centers), np.array([r, r])))
    geo = make_geo(
        kind="particles-file",
        particles_file=str(path),
        dim=3,
        interface=interface,
        width_um=w,
        cathode_thickness_um=lc,
        membrane_thickness_um=1.5,
        mesh_size_um=0.4,
        interface_mesh_size_um=0.2,
        contact_radius_um=0.2,
    )
    desc = describe(geo)
    info = build_model(desc)
    expected = {tags.PARTICLE, tags.ELECTROLYTE_MEMBRANE} | (
        {tags.ELECTROLYTE_PORE} if interface == "filled" else set()
    )
    mesh, ct, ft = _to_dolfinx(3)
    check_mesh(mesh, ct, ft, expected, lc + 1.5)
    if interface == "point-contact":
        assert info["interface_area_um2"] == pytest.approx(math.pi * 0.2**2, rel=0.02)
