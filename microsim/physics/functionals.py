"""Functionals of the cell model's solution: currents, lithium inventory and the dissipation breakdown.

:class:`Quantities` compiles the integrals once and evaluates them reduced over ranks;
:func:`current_weighted_forms` gives the interface averages of the discharge study's overpotential breakdown.

The DC breakdown (docs/model.md §4.2) splits the electrical power ``I (V_eq − V) A_geo`` exactly into Joule heating in
the membrane, in the cathode pores and in the solid, the salt-diffusion (concentration) term
``−∫ β(c) i_e·∇ln c`` and ``∫ i_n η`` on Γ and at the Li metal. The split is exact for the discrete Galerkin
solution (test the charge equations with the potentials themselves) provided the facet integrals use the
residual's quadrature rule, which :meth:`CellMesh.measures` fixes, and ``U`` is uniform (θ frozen).
"""

from __future__ import annotations

import dolfinx_solver  # noqa: F401

import dolfinx
import numpy as np
import ufl
from mpi4py import MPI

from microsim import tags
from microsim.constants import FARADAY, MICRON
from microsim.physics.model import CellModel

#: Resistance parts in output order (keys of ``summary.json["resistance_ohm_cm2"]``).
PARTS = (
    "membrane",
    "cathode_electrolyte",
    "solid",
    "concentration",
    "charge_transfer_cathode",
    "charge_transfer_anode",
)
#: The extra part of a cell with a resolved carbon-binder domain: Joule heating of the electrons in the CBD.
CBD_PARTS = ("cbd",)


def parts_of(model: CellModel) -> tuple[str, ...]:
    """The resistance parts of ``model``: :data:`PARTS`, and :data:`CBD_PARTS` with a carbon-binder domain."""
    return PARTS + CBD_PARTS if model.has_cbd else PARTS


class Quantities:
    """Compiled functionals of a :class:`CellModel` (compiled once, evaluated after every solve)."""

    def __init__(self, model: CellModel) -> None:
        self.model = model
        m = model
        cm = m.cm
        emaps = cm.entity_maps
        dx = m.dx
        ell = MICRON
        a_hat = m.area_hat
        # Powers per geometric area [W/m²]; hat coordinates: ∫ dV = ℓ^d ∫ dV̂, A_geo = ℓ^(d−1) Â.
        # Joule heating |i_e|²/κ(c) = (κ/ℓ²) r_κ |g|² and the concentration term −β i_e·∇ln c with the same κ(c):
        # exactly what the φ_e equation tested with φ_e gives (docs/model.md §4.2)
        k = m.kappa / ell / a_hat
        g, jg = m.g_e, m.i_e_hat
        forms: dict[str, ufl.Form] = {
            "membrane": k * ufl.inner(jg, g) * dx(tags.ELECTROLYTE_MEMBRANE),
            "cathode_electrolyte": k * ufl.inner(jg, g) * dx(tags.ELECTROLYTE_PORE),
            "solid": m.sigma
            / ell
            / a_hat
            * ufl.inner(ufl.grad(m.fields["phi_s"]), ufl.grad(m.fields["phi_s"]))
            * m.dx_p,
            "charge_transfer_cathode": m.i_n * m.eta / a_hat * m.dS,
            "charge_transfer_anode": m.i_li * m.eta_li / a_hat * m.ds_li,
            "current_interface": m.i_n / a_hat * m.dS,
            "current_anode": m.i_li / a_hat * m.ds_li,
            "interface_area": 1.0 / a_hat * m.dS,
            "eta_squared": ufl.inner(m.eta, m.eta) / a_hat * m.dS,
            # lithium inventory per geometric area [mol/m²]
            "lithium_solid": m.params.lfp.c_max_mol_m3 * ell / a_hat * m.theta * m.dx_p,
            "volume_particle": ell / a_hat * m.dx_p,
            "volume_electrolyte": ell / a_hat * m.dx_e,
        }
        if m.has_cbd:
            # with a CBD "solid" is the particles' own Joule heating (σ_LFP intrinsic) and "cbd" the CBD's; a
            # nanoporous CBD's electrolyte adds to the pore electrolyte's heating, salt term and inventory
            grad2 = ufl.inner(ufl.grad(m.fields["phi_s"]), ufl.grad(m.fields["phi_s"]))
            forms["solid"] = m.sigma_particle / ell / a_hat * grad2 * m.dx_p
            forms["cbd"] = m.sigma_cbd / ell / a_hat * grad2 * m.dx_cbd
            if m.cbd_ionic_factor:
                forms["cathode_electrolyte"] += m.cbd_ionic_factor * k * ufl.inner(jg, g) * m.dx_cbd
                forms["volume_electrolyte"] += m.cbd_porosity * ell / a_hat * m.dx_cbd
        if m.options.binary:
            # β(c) ∇ln c with c-dependent t+ or TDF: the same β(c) as in the current law, so the parts still close
            beta = m.beta if m.beta_c is None else m.beta_c
            forms["concentration"] = k * beta * ufl.inner(jg, m.grad_ln_c) * m.dx_e
            forms["lithium_electrolyte"] = (
                m.params.electrolyte.concentration_mol_m3 * ell / a_hat * m.fields["c"] * m.dx_e
            )
            if m.cbd_ionic_factor:
                forms["concentration"] += m.cbd_ionic_factor * k * m.beta * ufl.inner(jg, m.grad_ln_c) * m.dx_cbd
                forms["lithium_electrolyte"] += (
                    m.cbd_porosity * m.params.electrolyte.concentration_mol_m3 * ell / a_hat * m.fields["c"] * m.dx_cbd
                )
        self._forms = {n: dolfinx.fem.form(f, entity_maps=emaps) for n, f in forms.items()}

    def evaluate(self, names: tuple[str, ...] | None = None) -> dict[str, float]:
        """The functionals ``names`` (default: all), summed over ranks (SI, per geometric area).

        A time loop that needs one of them asks for that one: each is an assembly over its whole domain.

        Raises:
            KeyError: a name that is not a compiled functional of this model.
        """
        comm = self.model.cm.comm
        if names is not None:
            return {n: comm.allreduce(dolfinx.fem.assemble_scalar(self._forms[n]), op=MPI.SUM) for n in names}
        out = {n: comm.allreduce(dolfinx.fem.assemble_scalar(f), op=MPI.SUM) for n, f in self._forms.items()}
        out.setdefault("concentration", 0.0)
        if "lithium_electrolyte" not in out:
            # single-ion: Li⁺ concentration is uniform c0 and does not change
            out["lithium_electrolyte"] = self.model.params.electrolyte.concentration_mol_m3 * out["volume_electrolyte"]
        return out

    def breakdown(self, equilibrium_voltage_V: float) -> dict[str, float]:
        """Resistance parts [Ω·cm²] from the dissipation; ``total`` from ``(V_eq − V)/I``."""
        m = self.model
        q = self.evaluate()
        current = float(m.current_density.value)
        scale = 1.0e4 / current**2  # W/m² → Ω·m² (÷ I²) → Ω·cm²
        names = parts_of(m)
        parts = {p: q[p] * scale for p in names}
        parts["total"] = (equilibrium_voltage_V - float(m.V.value)) / current * 1.0e4
        parts["sum_of_parts"] = sum(parts[p] for p in names)
        return parts


def faraday_charge(inventory_change_mol_m2: float) -> float:
    """Charge per area [C/m²] carried by a lithium inventory change."""
    return FARADAY * inventory_change_mol_m2


def current_weighted_forms(model: CellModel) -> dict[str, ufl.Form]:
    """Interface integrals per geometric area whose ratios are the current-weighted averages on Γ and at the Li.

    On Γ, weighted by ``i_n``: ``i`` (∫ i_n), ``iU`` (U), ``itheta`` (θ), ``ieta`` (η), ``ieta_c0`` (the η that
    would carry i_n at the reference salt c0), ``iphie`` (φ_e), ``ilnc`` (ln c/c0), ``iphis`` (φ̃_s); at the Li
    metal, weighted by ``i_Li``: ``i_li``, ``ieta_li`` (η_Li = −φ_e), ``ilnc_li`` (ln c/c0); with c-dependent t+ or
    TDF also ``iB`` and ``iB_li`` (the diffusion potential B(c), docs/model.md §2.2). Their ratios are the
    potentials the current sees, from which the discharge study's overpotential breakdown is built
    (docs/model.md §4.4).
    """
    m = model
    a = m.area_hat
    # with c-dependent t+ or TDF the diffusion potential is B(c) = ∫_c0^c β/c' dc' instead of β ln(c/c0): ``iB``
    # and ``iB_li`` hold its current-weighted averages (absent with constant β, whose path stays as it was)
    extra: dict[str, ufl.Form] = {}
    if m.B_c is not None:
        extra = {"iB": m.i_n * m.B_c("-") / a * m.dS, "iB_li": m.i_li * m.B_c / a * m.ds_li}
    return extra | {
        "i": m.i_n / a * m.dS,
        "iU": m.i_n * m.U / a * m.dS,
        "itheta": m.i_n * m.theta("+") / a * m.dS,
        "ieta": m.i_n * m.eta / a * m.dS,
        "iphie": m.i_n * m.fields["phi_e"]("-") / a * m.dS,
        "ilnc": m.i_n * m.ln_c("-") / a * m.dS if m.options.binary else 0.0 * m.i_n / a * m.dS,
        "iphis": m.i_n * m.fields["phi_s"]("+") / a * m.dS,
        "i_li": m.i_li / a * m.ds_li,
        "ieta_li": m.i_li * m.eta_li / a * m.ds_li,
        "ilnc_li": m.i_li * m.ln_c / a * m.ds_li if m.options.binary else 0.0 * m.i_li / a * m.ds_li,
        # η at the reference salt (symmetric kinetics; otherwise η itself: no split of the salt's kinetic effect)
        "ieta_c0": m.i_n * (m.eta_at_c0 if m.eta_at_c0 is not None else m.eta) / a * m.dS,
    }


def cell_volumes(V_dg0: dolfinx.fem.FunctionSpace) -> np.ndarray:
    """Volume (area in 2D) of each owned cell of the mesh of a DG0 space, in mesh units."""
    vol = dolfinx.fem.assemble_vector(dolfinx.fem.form(ufl.TestFunction(V_dg0) * ufl.dx(domain=V_dg0.mesh)))
    n_owned = V_dg0.mesh.topology.index_map(V_dg0.mesh.topology.dim).size_local
    return np.array(vol.array[:n_owned])
