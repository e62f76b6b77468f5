"""docs/model.md §5.5: charge and lithium conservation in a transient galvanostatic discharge on a packing."""

from __future__ import annotations

import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

from microsim.constants import FARADAY
from microsim.parameters import resolve
from microsim.physics.functionals import Quantities
from microsim.physics.model import CellModel, ModelOptions
from microsim.solver import BorderedNewton
from microsim.studies.common import build_cell_mesh, describe_geometry
from tests._cases import small

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]


@pytest.mark.parametrize("interface", ["filled", "point-contact"])
def test_lithium_inventory_and_currents(interface: str) -> None:
    cfg = small(**{"geometry.interface": interface})
    params = resolve(cfg)
    cm = build_cell_mesh(describe_geometry(cfg), MPI.COMM_WORLD)
    model = CellModel(cm, params, ModelOptions(binary=True, transient=True))
    solver = BorderedNewton(model, tolerance=1e-11)
    q = Quantities(model)
    # about 0.1C for the filled cell; the point-contact spot saturates the particle under it at that rate within
    # seconds (solid diffusion, the paper's rate limit), so it gets a 30x smaller current
    current = 0.3 if interface == "filled" else 0.01  # A/m²
    model.current_density.value = current
    model.current_ref.value = current
    start = q.evaluate()
    li0 = start["lithium_solid"] + start["lithium_electrolyte"]
    salt0 = start["lithium_electrolyte"]
    dt, steps = 5.0, 4
    for _ in range(steps):
        model.dt.value = dt
        solver.solve()
        model.commit_step()
        now = q.evaluate()
        # charge: interface current = Li-metal current = applied (no double layer)
        assert -now["current_interface"] == pytest.approx(current, rel=1e-9)
        assert now["current_anode"] == pytest.approx(current, rel=1e-9)
    end = q.evaluate()
    passed = current * dt * steps / FARADAY  # mol/m² of Li delivered into the cathode side
    # lithium: solid + Li⁺ in the electrolyte gain exactly I t / F (Li leaves the metal)
    assert end["lithium_solid"] + end["lithium_electrolyte"] - li0 == pytest.approx(passed, rel=1e-8)
    # the solid takes up all of it in discharge (i_n < 0 is cathodic: Li enters the particles)
    assert end["lithium_solid"] - start["lithium_solid"] == pytest.approx(passed, rel=1e-6)
    # and the salt is conserved: total electrolyte Li⁺ is unchanged (Li⁺ in at the anode = out at Γ)
    assert end["lithium_electrolyte"] == pytest.approx(salt0, rel=1e-9)
    # discharge lowers the voltage below the OCP
    assert float(model.V.value) < float(params.lfp.ocp.numpy(0.5))
