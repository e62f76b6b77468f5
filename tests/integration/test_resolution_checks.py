"""The after-the-solve mesh check (microsim.studies.resolution.element_change), and the studies' resolution blocks."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")  # must precede dolfinx / mpi4py
import dolfinx
import dolfinx.fem
import dolfinx.mesh

from microsim.studies import resolution

pytestmark = [pytest.mark.mpi, pytest.mark.fenics]


def _front(comm, width: float) -> dolfinx.fem.Function:
    """A step of height 1 at x = 0.55 and of half-width ``width`` on a 20 × 20 square (h = 0.05)."""
    mesh = dolfinx.mesh.create_unit_square(comm, 20, 20)
    u = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("Lagrange", 1)))
    u.interpolate(lambda x: 0.5 * (1.0 + np.tanh((x[0] - 0.55) / width)))
    return u


def test_a_front_under_one_element_is_found_where_it_is(comm) -> None:
    """A front 0.02 wide on 0.05 elements: the change across the worst cell and its place, the same on every rank."""
    u = _front(comm, 0.02)
    out = resolution.element_change(u, 1.0, "the test field", "geometry.mesh_size_um")
    # the steepest vertex pair straddles x = 0.55 (vertices at 0.55 ± 0.05 and 0.55): tanh(0.05/0.02)/2 = 0.493
    assert out["max_change_per_element"] == pytest.approx(0.5 * np.tanh(0.05 / 0.02), rel=1e-9)
    assert abs(out["position_um"][0] - 0.55) < 0.05 and out["resolved"] is False
    assert "refine geometry.mesh_size_um" in out["note"] and "the test field changes by 0.49" in out["note"]
    assert comm.allgather(out["position_um"]) == [out["position_um"]] * comm.size
    # the scale divides: the same front in a field of scale 2 changes by half as much of it
    assert resolution.element_change(u, 2.0, "x", "k")["max_change_per_element"] == pytest.approx(
        0.25 * np.tanh(0.05 / 0.02), rel=1e-9
    )


def test_a_wide_front_passes(comm) -> None:
    """Half-width 0.2 = four elements: the largest change is 0.5 tanh(0.05/0.2) < 1/3, no note."""
    out = resolution.element_change(_front(comm, 0.2), 1.0, "the test field", "k")
    assert out["max_change_per_element"] == pytest.approx(0.5 * np.tanh(0.05 / 0.2), rel=1e-9)
    assert out["resolved"] is True and "note" not in out
