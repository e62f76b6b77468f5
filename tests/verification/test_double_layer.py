"""Transient double layer (docs/model.md §2.8): charging currents carry charge, not lithium.

With C_dl on Γ and at the Li metal, in every backward-Euler step of a galvanostatic discharge (per geometric
area, I > 0 on discharge, i_n < 0 cathodic):
- the solid gains the cathode's *faradaic* charge only: Δ∫c_s = −∫_Γ i_n dt / F (not I dt / F);
- the salt changes by the faradaic imbalance of the two electrodes (the salt fluxes of docs/model.md §2.4 and
  §2.6 are faradaic): Δ∫c = (1 − t+)(∫_Γ i_n + ∫_Li i_Li) dt / F;
- each double layer stores the rest of the applied current: ∫_Γ C_dl ΔΔφ = −(I + ∫_Γ i_n) dt and
  ∫_Li C_dl,Li Δη_Li = (I − ∫_Li i_Li) dt.
A wrong sign of a charging term, or charging counted in a lithium or salt balance, breaks these equalities.
Early steps are short so that charging carries most of the current; its share fades as the layers charge.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("dolfinx_solver")

import dolfinx
from mpi4py import MPI

from microsim.constants import FARADAY
from microsim.parameters import resolve
from microsim.physics.functionals import Quantities
from microsim.physics.model import CellModel, ModelOptions
from microsim.solver import BorderedNewton
from microsim.studies.common import build_cell_mesh, describe_geometry
from tests._cases import small

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]


def _cell(bdf2: bool) -> tuple[Any, CellModel, BorderedNewton, Quantities, Callable[[], tuple[float, float]]]:
    """The small filled cell with double layers: parameters, model, solver, quantities, the two layers' charges."""
    cfg = small(**{"geometry.interface": "filled"})
    params = resolve(cfg)
    cm = build_cell_mesh(describe_geometry(cfg), MPI.COMM_WORLD)
    model = CellModel(cm, params, ModelOptions(binary=True, transient=True, double_layer=True, bdf2=bdf2))
    solver = BorderedNewton(model, tolerance=1e-12)
    a_hat = model.area_hat
    forms = [
        dolfinx.fem.form(f, entity_maps=cm.entity_maps)
        for f in (
            params.lfp.double_layer_F_m2 * model.interface_potential / a_hat * model.dS,
            params.li.double_layer_F_m2 * model.eta_li / a_hat * model.ds_li,
        )
    ]

    def q_dl() -> tuple[float, float]:
        """∫ C_dl Δφ per geometric area on Γ and at the Li metal [C/m²]."""
        a, b = (cm.comm.allreduce(dolfinx.fem.assemble_scalar(f), op=MPI.SUM) for f in forms)
        return a, b

    return params, model, solver, Quantities(model), q_dl


def test_charging_current_carries_no_lithium() -> None:
    params, model, solver, q, q_dl = _cell(bdf2=False)

    current = 0.3  # A/m²
    model.current_density.value = current
    model.current_ref.value = current
    shares = []
    for dt in (1e-3, 1e-2, 1e-1, 1.0):
        before = q.evaluate()
        qdl0 = q_dl()
        model.dt.value = dt
        solver.solve()
        after = q.evaluate()
        i_gamma = after["current_interface"]  # ∫_Γ i_n per geometric area (negative: cathodic)
        i_li = after["current_anode"]  # ∫_Li i_Li per geometric area (positive: Li → Li⁺)
        d_solid = after["lithium_solid"] - before["lithium_solid"]
        d_salt = after["lithium_electrolyte"] - before["lithium_electrolyte"]
        # the first step's uptake (2.2e-11 mol/m²) is a difference of inventories of 0.02 mol/m²: its error
        # (2.7e-17, 1.2e-6 relative) is their round-off, so bound it by 1e-14 of the inventory (pytest's default
        # abs=1e-12 would have passed it at 5 %)
        assert d_solid == pytest.approx(-i_gamma * dt / FARADAY, rel=1e-7, abs=1e-14 * after["lithium_solid"])
        t_plus = params.electrolyte.transference_number
        assert d_salt == pytest.approx((1 - t_plus) * (i_gamma + i_li) * dt / FARADAY, rel=1e-6, abs=1e-9 * d_solid)
        q1 = q_dl()
        assert q1[0] - qdl0[0] == pytest.approx(-(current + i_gamma) * dt, rel=1e-6)
        assert q1[1] - qdl0[1] == pytest.approx((current - i_li) * dt, rel=1e-6)
        shares.append(-i_gamma / current)
        model.commit_step()
    # charging dominates the first, shortest step and fades as the double layer charges
    assert shares[0] < 0.5 < shares[-1]
    assert all(a < b for a, b in itertools.pairwise(shares))


def test_bdf2_balances_hold_in_the_schemes_own_form() -> None:
    """BDF2 (docs/solver.md): each balance holds with the step's weights, a₀X_{n+1} + a₁X_n + a₂X_{n−1} = rhs dt.

    The weights enter the salt, lithiation and both double-layer terms and the charging current of the current
    constraint: one of them left at backward Euler, or a wrong weight, breaks one of these equalities.
    """
    from microsim.studies.stepping import bdf2_weights

    params, model, solver, q, q_dl = _cell(bdf2=True)

    def state() -> dict[str, float]:
        out = q.evaluate()
        dl = q_dl()
        return {"solid": out["lithium_solid"], "salt": out["lithium_electrolyte"], "dl": dl[0], "dl_li": dl[1]}

    current = 0.3  # A/m²
    model.current_density.value = current
    model.current_ref.value = current
    t_plus = params.electrolyte.transference_number
    history = [state()]
    dt_prev = 0.0
    for dt in (1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2):
        w = bdf2_weights(dt / dt_prev if dt_prev else 0.0)
        model.set_time_weights(*w)
        model.dt.value = dt
        solver.solve()
        now = state()
        flux = q.evaluate()
        i_gamma, i_li = flux["current_interface"], flux["current_anode"]
        past = [now, history[-1], history[-2] if len(history) > 1 else history[-1]]

        def rate(key: str, states: list[dict[str, float]] = past, w: tuple[float, float, float] = w) -> float:
            return sum(wk * s[key] for wk, s in zip(w, states, strict=True))

        scale = now["solid"]
        assert rate("solid") == pytest.approx(-i_gamma * dt / FARADAY, rel=1e-7, abs=1e-14 * scale)
        assert rate("salt") == pytest.approx(
            (1 - t_plus) * (i_gamma + i_li) * dt / FARADAY, rel=1e-6, abs=1e-14 * scale
        )
        assert rate("dl") == pytest.approx(-(current + i_gamma) * dt, rel=1e-6)
        assert rate("dl_li") == pytest.approx((current - i_li) * dt, rel=1e-6)
        model.commit_step()
        history.append(now)
        dt_prev = dt
