"""3D Gmsh model: tags, conforming Γ, collector and anode facets, resolved contact spots; loaded into DOLFINx."""

from __future__ import annotations

import math
import time
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
from microsim.geometry import build_model, describe  # noqa: E402

LM = 2.0


def make_geo(**overrides):
    values = dict(
        kind="packing", dim=3, interface="filled", width_um=4.0, cathode_thickness_um=4.0,
        membrane_thickness_um=LM, active_fraction=0.45, radius_mean_um=0.5, radius_std_um=0.1,
        contact_radius_um=0.15, particles_file="", seed=1, mesh_size_um=0.5, interface_mesh_size_um=0.25,
        overlap_fraction=0.05, min_gap_fraction=0.1, infiltration_depth_um=0.0, spot_mesh_level=1.0,
        pore_fill_fraction=1.0,
    )  # fmt: skip
    values.update(overrides)
    return types.SimpleNamespace(**values)


@pytest.fixture
def session():
    gmsh.initialize()
    gmsh.option.setNumber("General.Terminal", 0)
    yield gmsh
    gmsh.finalize()


def check_mesh_3d(mesh, cell_tags, facet_tags, expected_cells, top):
    """Every tag non-empty and every cell tagged; Γ between P and E; collector at z = 0 on P; anode at the top."""
    tdim, fdim = 3, 2
    n_cells = mesh.topology.index_map(tdim).size_local
    cell_value = np.full(n_cells, -1)
    cell_value[cell_tags.indices] = cell_tags.values
    assert np.all(cell_value >= 0), "untagged cells"
    assert set(np.unique(cell_value)) == set(expected_cells)
    for t in (tags.INTERFACE, tags.COLLECTOR, tags.ANODE):
        assert facet_tags.find(t).size > 0, tags.FACET_NAMES[t]
    mesh.topology.create_connectivity(fdim, tdim)
    f2c = mesh.topology.connectivity(fdim, tdim)
    offsets, links = f2c.offsets, f2c.array
    electrolyte = np.array(sorted(tags.ELECTROLYTE_CELLS))

    def owners(facets):
        counts = offsets[facets + 1] - offsets[facets]
        first = cell_value[links[offsets[facets]]]
        second = np.where(counts == 2, cell_value[links[np.minimum(offsets[facets] + 1, len(links) - 1)]], -1)
        return counts, first, second

    gamma = facet_tags.find(tags.INTERFACE)
    counts, a, b = owners(gamma)
    assert np.all(counts == 2)
    is_p = (a == tags.PARTICLE).astype(int) + (b == tags.PARTICLE).astype(int)
    is_e = np.isin(a, electrolyte).astype(int) + np.isin(b, electrolyte).astype(int)
    assert np.all(is_p == 1) and np.all(is_e == 1), "an INTERFACE facet not between one P and one E cell"
    for t, plane, owner in ((tags.COLLECTOR, 0.0, [tags.PARTICLE]), (tags.ANODE, top, electrolyte)):
        facets = facet_tags.find(t)
        mid = dolfinx.mesh.compute_midpoints(mesh, fdim, facets)
        assert np.allclose(mid[:, 2], plane, atol=1e-9)
        counts, a, _ = owners(facets)
        assert np.all(counts == 1) and np.all(np.isin(a, owner))
    # Conversely every P|E facet is an INTERFACE facet.
    all_f = np.arange(mesh.topology.index_map(fdim).size_local, dtype=np.int32)
    counts, a, b = owners(all_f)
    shared = all_f[
        (counts == 2)
        & (((a == tags.PARTICLE) & np.isin(b, electrolyte)) | ((b == tags.PARTICLE) & np.isin(a, electrolyte)))
    ]
    assert set(shared.tolist()) == set(gamma.tolist())


def _build(interface, **kw):
    desc = describe(make_geo(interface=interface, **kw))
    t0 = time.perf_counter()
    info = build_model(desc)
    info["time_total_s"] = time.perf_counter() - t0
    return desc, info


@pytest.mark.parametrize("interface", ["filled", "point-contact"])
def test_3d_model_tags_and_dolfinx(session, interface):
    desc, info = _build(interface)
    assert 25 <= desc.n_particles <= 80
    expected = (
        {tags.PARTICLE, tags.ELECTROLYTE_PORE, tags.ELECTROLYTE_MEMBRANE}
        if interface == "filled"
        else {tags.PARTICLE, tags.ELECTROLYTE_MEMBRANE}
    )
    data = gmshio.model_to_mesh(gmsh.model, MPI.COMM_WORLD, 0, gdim=3)
    check_mesh_3d(data.mesh, data.cell_tags, data.facet_tags, expected, 4.0 + LM)
    # Γ area measured by Gmsh is reported, and matches the area of the tagged facets.
    assert info["interface_area_um2"] > 0
    if interface == "point-contact":
        a = desc.contact_radius_um
        n_spots = len(info["chord_lengths_um"])
        assert n_spots >= 1
        assert info["interface_area_um2"] == pytest.approx(n_spots * math.pi * a * a, rel=0.05)
        # At least 6 elements across each spot radius (the size field on the spots).
        assert a / info["chord_mesh_size_um"] >= 6 - 1e-9
        # ... measured: the mean edge of the Γ triangles.
        gamma = data.facet_tags.find(tags.INTERFACE)
        n_tri = len(gamma)
        mean_tri_area = info["interface_area_um2"] / n_tri
        edge = math.sqrt(4.0 * mean_tri_area / math.sqrt(3.0))
        assert a / edge >= 5.0
        # Not the whole domain refined: far fewer cells than a uniform spot-size mesh would need.
        assert info["n_elements"] < 0.05 * (4.0 * 4.0 * (4.0 + LM)) / (info["chord_mesh_size_um"] ** 3 / 6.0)
    else:
        assert info["interface_area_um2"] > 0.5 * 3 * 0.45 / 0.5 * 4.0 * 4.0 * 4.0


def test_surface_size_grid_bounds_the_exact_grading(session, tmp_path):
    """The 3D Γ size grid: at every node no larger than the exact grading at the node's distance to Γ (so the
    trilinear interpolation never exceeds it), and the fine size within the fine band: a wrong slope, a
    missing half-diagonal offset or a sphere fitted wrong fails."""
    from microsim.geometry import gmsh_model

    desc = describe(make_geo(interface="filled"))
    gmsh.model.add("grid")
    gmsh_model._set_options(gmsh, 3, desc.mesh_size_um)
    particle, pore, membrane, remove, _ = gmsh_model._classify_cells(gmsh, desc)
    gmsh.model.occ.remove(remove, recursive=True)
    gmsh.model.occ.synchronize()
    interface, collector, _, _ = gmsh_model._classify_facets(gmsh, desc, particle, pore + membrane)
    spheres = [f for f in interface if gmsh.model.getType(2, f) == "Sphere"]
    centre, radius = gmsh_model._sphere_of(gmsh, spheres[0])
    k = int(np.argmin(np.linalg.norm(desc.centers - centre, axis=1)))
    assert np.allclose(centre, desc.centers[k], atol=1e-9) and radius == pytest.approx(desc.radii[k], rel=1e-9)
    h, hg = desc.mesh_size_um, desc.interface_mesh_size_um
    gmsh_model._surface_size_grid(gmsh, desc, interface + collector, hg, h, tmp_path)
    raw = (tmp_path / "surface-sizes.bin").read_bytes()
    origin = np.frombuffer(raw[:24], "<f8")
    step = np.frombuffer(raw[24:48], "<f8")
    n = np.frombuffer(raw[48:60], "<i4")
    size = np.frombuffer(raw[60:], "<f8").reshape(tuple(n))
    x, y, z = np.meshgrid(*(origin[i] + step[i] * np.arange(n[i]) for i in range(3)), indexing="ij")
    pts = np.c_[x.ravel(), y.ravel(), z.ravel()]
    # exact distance to the sphere surfaces (the particles are Γ everywhere except on the collector, z < 0)
    dist = np.full(len(pts), np.inf)
    for c, r in zip(desc.centers, desc.radii, strict=True):
        dist = np.minimum(dist, np.abs(np.linalg.norm(pts - c, axis=1) - r))
    exact = np.clip(hg + 0.5 * (dist - hg), hg, h)
    flat = size.ravel()
    assert np.all(flat <= exact + 1e-12)
    assert flat.min() == pytest.approx(hg) and flat.max() == pytest.approx(h)
    # away from the collector discs (whose distance is bounded by their boxes): no finer than the grading at the
    # distance less the half-diagonal (the band is widened, no more)
    half = 0.5 * math.sqrt(3.0) * step[0]
    far = pts[:, 2] > 1.0
    assert np.all(flat[far] >= np.clip(hg + 0.5 * (dist[far] - half - hg), hg, h) - 1e-12)
