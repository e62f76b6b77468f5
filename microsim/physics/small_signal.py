"""UFL forms of the small-signal (impedance) operator, derived from the model's residual and current expressions.

Linearising ``M(u)' + K(u) = 0`` about a rest state with ``δu = (x_r + j x_i) e^{jωt}`` and a cell-voltage
perturbation ``δV = 1`` gives the real 2×2 block system of docs/model.md §4.3 (solved by
:mod:`microsim.frequency`)::

    [ K   −ωM ] [x_r]   [ −K_V      ]
    [ ωM   K  ] [x_i] = [ −ω M_V    ]

Everything here is a derivative of an expression the model already defines, never a second hand-written copy:

* ``K``, ``M``, ``K_V``, ``M_V``: :func:`ufl.derivative` of the steady and mass (accumulation) residual forms with
  respect to the unknowns and to ``V`` (``φ_s = V + φ̃_s``, so ∂/∂V is the derivative along φ̃_s = 1);
* the output functionals ``δi_F = g·x + g_V`` and ``δq = h·x + h_V``: derivatives of ``∫_Γ i_n`` and of the
  double-layer charge ``∫_Γ q_dl``;
* each interface's own contribution ``∫ δΔφ conj(δi + jω δq)``: the directional derivatives of the interface
  potential, the Faradaic current (``m.i_n`` on Γ, ``m.i_Li`` at the Li metal) and the double-layer charge, in the
  direction of the real part of the solution plus ``δV`` and of its imaginary part. A new term in the kinetics
  (a concentration dependence of i0, a film resistance) therefore reaches the impedance with no change here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dolfinx_solver  # noqa: F401

import dolfinx
import ufl

from microsim.physics.forms import nonempty
from microsim.physics.model import CellModel

#: The four functionals of one interface: Re and Im of ∫ δΔφ conj(δi), Re and Im of ∫ δΔφ conj(δq).
InterfaceForms = tuple[ufl.Form, ufl.Form, ufl.Form, ufl.Form]


@dataclass
class SmallSignalForms:
    """The linearised operator of a :class:`CellModel` at its present state, as UFL forms (uncompiled).

    Attributes:
        K: Jacobian blocks of the steady terms (None: an absent off-diagonal block; diagonals always present).
        M: Jacobian blocks of the mass terms, same layout.
        K_V: ∂(steady residual)/∂V per block (a zero form where a block does not depend on V).
        M_V: ∂(mass residual)/∂V per block, same.
        layout: the steady residual forms (every block non-empty), for grouping Dirichlet conditions by block.
        g: ∂(∫_Γ i_n dÂ / Â)/∂u per block, zero-filled like ``K_V``.
        g_V: its derivative with respect to V (a scalar form).
        h: ∂(∫_Γ q_dl dÂ / Â)/∂u per block.
        h_V: its derivative with respect to V.
        re: the real part of the solution, one function per block (filled by the solve).
        im: the imaginary part, same.
        cathode: Γ's own contribution (see :data:`InterfaceForms`), per geometric area.
        anode: the Li metal's own contribution, per geometric area.
    """

    K: list[list[ufl.Form | None]]
    M: list[list[ufl.Form | None]]
    K_V: list[ufl.Form]
    M_V: list[ufl.Form]
    layout: list[ufl.Form]
    g: list[ufl.Form]
    g_V: ufl.Form
    h: list[ufl.Form]
    h_V: ufl.Form
    re: list[dolfinx.fem.Function]
    im: list[dolfinx.fem.Function]
    cathode: InterfaceForms
    anode: InterfaceForms


def small_signal_forms(model: CellModel) -> SmallSignalForms:
    """The forms of the small-signal operator of ``model`` about its present state (module docstring).

    Args:
        model: a transient :class:`CellModel` (θ dynamic) or a steady one (θ frozen), normally with
            ``double_layer`` (without it the charge terms are zero forms).
    """
    m = model
    u = m.unknowns
    names = m.names
    du = [ufl.TrialFunction(f.function_space) for f in u]
    zero = dolfinx.fem.Constant(m.cm.mesh, dolfinx.default_scalar_type(0.0))
    phit = m.fields["phi_s"]

    def measure_of(V: dolfinx.fem.FunctionSpace) -> ufl.Measure:
        if V.mesh is m.cm.particle.mesh:
            return m.dx_p
        return m.dx_s if V.mesh is m.cm.solid_phase.mesh else m.dx_e

    def block(forms: dict[str, ufl.Form], i: int, j: int) -> ufl.Form | None:
        f = forms.get(names[i])
        out = None if f is None else nonempty(ufl.derivative(f, u[j], du[j]))
        if out is None and i == j:  # keep every diagonal block so the matrix layout is complete
            out = zero * du[i] * ufl.TestFunction(u[i].function_space) * measure_of(u[i].function_space)
        return out

    def filled(forms: Sequence[ufl.Form | None]) -> list[ufl.Form]:
        # blocked vector assembly needs a form per block: a zero form where a block does not depend on the input
        return [
            f if f is not None else zero * ufl.TestFunction(uj.function_space) * measure_of(uj.function_space)
            for f, uj in zip(forms, u, strict=True)
        ]

    def by_V(form: ufl.Form | None) -> ufl.Form | None:
        return None if form is None else nonempty(ufl.derivative(form, phit, m.ones_p))

    n = len(u)
    a_hat = m.area_hat
    # without a double layer the charge is a zero form (the Constant keeps it compilable)
    q_dl = m.q_dl if m.q_dl is not None else zero * m.interface_potential
    q_li = m.q_dl_li if m.q_dl_li is not None else zero * m.eta_li
    i_far = m.i_n / a_hat * m.dS
    charge = q_dl / a_hat * m.dS

    def gradient(F: ufl.Form) -> list[ufl.Form]:
        return filled([nonempty(ufl.derivative(F, uj, ufl.TestFunction(uj.function_space))) for uj in u])

    re = [dolfinx.fem.Function(f.function_space, name=f"{nm}_re") for nm, f in zip(names, u, strict=True)]
    im = [dolfinx.fem.Function(f.function_space, name=f"{nm}_im") for nm, f in zip(names, u, strict=True)]

    def delta(expr: ufl.core.expr.Expr, parts: list[dolfinx.fem.Function], with_dV: bool) -> ufl.core.expr.Expr:
        """The derivative of ``expr`` along ``parts`` (one direction per unknown), plus δV = 1 if asked."""
        d = ufl.derivative(expr, u[0], parts[0])
        for uj, pj in zip(u[1:], parts[1:], strict=True):
            d = d + ufl.derivative(expr, uj, pj)
        return d + ufl.derivative(expr, phit, m.ones_p) if with_dV else d

    def contribution(
        potential: ufl.core.expr.Expr, current: ufl.core.expr.Expr, q: ufl.core.expr.Expr, meas: ufl.Measure
    ) -> InterfaceForms:
        """Re and Im of ``∫ δΔφ conj(δi)`` and of ``∫ δΔφ conj(δq)`` per geometric area."""
        pr, pi = delta(potential, re, True), delta(potential, im, False)
        ir, ii = delta(current, re, True), delta(current, im, False)
        qr, qi = delta(q, re, True), delta(q, im, False)
        return (
            (pr * ir + pi * ii) / a_hat * meas,
            (pi * ir - pr * ii) / a_hat * meas,
            (pr * qr + pi * qi) / a_hat * meas,
            (pi * qr - pr * qi) / a_hat * meas,
        )

    return SmallSignalForms(
        K=[[block(m.steady_forms, i, j) for j in range(n)] for i in range(n)],
        M=[[block(m.mass_forms, i, j) for j in range(n)] for i in range(n)],
        K_V=filled([by_V(m.steady_forms[nm]) for nm in names]),
        M_V=filled([by_V(m.mass_forms.get(nm)) for nm in names]),
        layout=[m.steady_forms[nm] for nm in names],
        g=gradient(i_far),
        g_V=ufl.derivative(i_far, phit, m.ones_p),
        h=gradient(charge),
        h_V=ufl.derivative(charge, phit, m.ones_p),
        re=re,
        im=im,
        # Γ: Δφ = φ_s − φ_e charges the double layer (docs/model.md §2.8); the Li metal: Δφ = −φ_e = η_Li (U_Li = 0)
        cathode=contribution(m.interface_potential, m.i_n, q_dl, m.dS),
        anode=contribution(m.eta_li, m.i_li, q_li, m.ds_li),
    )
