"""Residual blocks of the coupled cell model (docs/model.md §2) on the phase submeshes.

Unknowns (scaled so that Newton sees O(1) numbers), in this fixed order when present:

=========  =========================  ===========  =================================================
name       meaning                    space        scaling
=========  =========================  ===========  =================================================
``c``      salt concentration         electrolyte  c / c0 (binary model only)
``phi_e``  electrolyte potential      electrolyte  volts vs Li metal
``theta``  lithiation of LiFePO4      particles    c_s / c_max (transient runs only)
``phi_s``  solid potential minus V    solid        volts; the collector is at the cell voltage V
=========  =========================  ===========  =================================================

"solid" is the particle submesh, or with a resolved carbon-binder domain (CBD) the submesh of the particle and
CBD cells (:attr:`CellMesh.solid`): φ_s then conducts with σ_LFP (intrinsic) in the particles and σ_CBD in the
CBD, and θ stays on the particle submesh. A nanoporous CBD also carries electrolyte (its cells are then in the
electrolyte submesh, with the ionic factor on κ and D and its porosity on the salt capacity).

The solid potential is written ``φ_s = V + φ̃_s`` with ``φ̃_s = 0`` on the collector: the cell voltage ``V`` is a
global unknown (a :class:`dolfinx.fem.Constant`) closed by the galvanostatic constraint ``∫_Γ i_n dA = −I A_geo``
(discharge current ``I > 0`` enters the particles). Lengths are in µm (``ℓ = 1e-6`` m); each block is divided by
its own transport coefficient so that its stiffness part has unit coefficients. In steady runs ``θ`` is frozen at
its initial value and the salt is relaxed by pseudo-transient steps (backward Euler with a step of many diffusion
times), which keeps the total salt exactly conserved and removes the pure-Neumann singularity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dolfinx_solver  # noqa: F401

import dolfinx
import numpy as np
import ufl
from mpi4py import MPI

from microsim import tags
from microsim.config import STUDY_REGISTRY
from microsim.constants import FARADAY, MICRON, thermal_voltage
from microsim.errors import GeometryError, TableRangeError
from microsim.mesh import CellMesh
from microsim.parameters import CBDParameters
from microsim.parameters.concentration_table import ConcentrationLaws, table_range_message
from microsim.physics.kinetics import butler_volmer, exchange_current_lfp, overpotential_at_ratio, ufl_asinh

if TYPE_CHECKING:
    from microsim.config import Config
    from microsim.parameters import CellParameters

#: The fixed order of the unknowns (those present in a run keep this order).
FIELD_ORDER = ("c", "phi_e", "theta", "phi_s")

#: The vertex quadrature rule (nodal lumping of P1 terms).
VERTEX_RULE = {"quadrature_rule": "vertex", "quadrature_degree": 1}

_C_FLOOR = 1.0e-8  # lower bound of c/c0 inside logarithms and powers, so a Newton iterate never produces NaN


def _power(c_pos: ufl.core.expr.Expr, exponent: float) -> ufl.core.expr.Expr | None:
    """``(c/c0)^n`` of a concentration law, or None for n = 0 (the constant law: no factor in the forms)."""
    return None if exponent == 0.0 else c_pos**exponent


@dataclass
class ModelOptions:
    """Which equations are active."""

    binary: bool = True  # binary salt (c, φ_e); False: single-ion conductor (c = c0 uniform, t+ = 1)
    transient: bool = False  # solve θ in time; False: θ frozen (steady DC problems)
    # C_dl ∂(φ_s − φ_e)/∂t on Γ and at the Li metal (impedance, fast transients), not C_dl ∂η/∂t (docs/model.md
    # §2.8): the double layer is charged by the interfacial potential difference, so a change of U(θ_surface) does
    # not charge it (Randles: C_dl in parallel with R_ct + Z_W). test_impedance_planar pins this against the
    # analytic Randles.
    double_layer: bool = False
    # Lumped (vertex-quadrature) mass of the θ equation. With the consistent P1 mass and steps far below h²/D_s
    # (seconds against minutes), backward Euler is not monotone: a surface flux pushes the nodes next to the surface
    # the other way, below θ0 in a discharge from a nearly empty particle (0.01 → −0.005 in 6 s at 0.2C), and the
    # discrete solution leaves [0, 1]. Lumping makes the θ operator an M-matrix on non-obtuse meshes (a discrete
    # maximum principle) at the same O(h²) accuracy; total lithium is unchanged (same row sums).
    lumped_theta_mass: bool = False
    # Variable-step BDF2 instead of backward Euler: the time derivatives become (a₀ M(u) + a₁ M(u_n) + a₂ M(u_{n−1}))
    # /dt with weights the runner sets per step (:meth:`CellModel.set_time_weights`; (1, −1, 0) is backward Euler),
    # and the model keeps the state before the last accepted one.
    bdf2: bool = False

    @classmethod
    def for_study(
        cls,
        kind: str,
        *,
        electrolyte_model: str,
        theta_mass: str = "lumped",
        double_layer: bool = False,
        solid_diffusion: bool = True,
        time_scheme: str = "euler",
    ) -> ModelOptions:
        """The equations a study of ``kind`` solves: its registry entry's ``cell_model`` (one place for all studies).

        * ``steady`` (resistance): θ frozen at its initial value, no double layer;
        * ``transient`` (discharge, rate): θ in time, the double layer if ``double_layer``, the θ mass of
          ``theta_mass``;
        * ``small-signal`` (impedance): θ dynamic unless ``solid_diffusion`` is False, always with the double layer
          (the capacitive arcs) and the consistent θ mass (lumping is there for backward Euler's maximum
          principle; the frequency-domain solve takes no time step).

        Args:
            kind: the study kind (``study.kind``, a key of :data:`microsim.config.STUDY_REGISTRY`).
            electrolyte_model: ``electrolyte.model``: ``"binary"`` (salt transport) or ``"single-ion"``.
            theta_mass: ``solver.theta_mass`` (``"lumped"`` or ``"consistent"``).
            double_layer: ``study.double_layer`` (transient studies only).
            solid_diffusion: small-signal only: False freezes θ (ω → 0 then gives the steady DC value).
            time_scheme: ``study.time_scheme`` (transient studies only): ``"euler"`` or ``"bdf2"``.

        Raises:
            ValueError: a study kind without a cell model (``effective``) or an unknown one.
        """
        entry = STUDY_REGISTRY.get(kind)
        regime = entry.cell_model if entry is not None else None
        binary = electrolyte_model == "binary"
        match regime:
            case "steady":
                return cls(binary=binary, transient=False)
            case "transient":
                return cls(
                    binary=binary,
                    transient=True,
                    double_layer=double_layer,
                    lumped_theta_mass=theta_mass == "lumped",
                    bdf2=time_scheme == "bdf2",
                )
            case "small-signal":
                return cls(binary=binary, transient=solid_diffusion, double_layer=True)
        raise ValueError(f"study kind {kind!r} has no cell model")


def options_for(cfg: Config, kind: str | None = None, *, solid_diffusion: bool = True) -> ModelOptions:
    """The model options of a study of ``cfg`` (:meth:`ModelOptions.for_study` with the configured choices).

    Args:
        cfg: validated configuration.
        kind: the study kind; None: ``study.kind``.
        solid_diffusion: impedance only: False freezes θ.
    """
    return ModelOptions.for_study(
        cfg.study.kind if kind is None else kind,
        electrolyte_model=cfg.electrolyte.model,
        theta_mass=cfg.solver.theta_mass,
        double_layer=cfg.study.double_layer,
        solid_diffusion=solid_diffusion,
        time_scheme=cfg.study.time_scheme,
    )


class CellModel:
    """UFL residuals, the galvanostatic constraint and the physical expressions of one cell.

    Attributes:
        fields: the unknown functions by name (only the active ones), in :data:`FIELD_ORDER`.
        residuals: residual forms, one per unknown, same order.
        constraint: scalar form ``G`` of the galvanostatic constraint (zero when satisfied).
        V: the cell voltage (V), a constant updated by the solver.
        current_density: applied current density ``I`` (A/m², positive on discharge).
    """

    def __init__(self, cm: CellMesh, params: CellParameters, options: ModelOptions | None = None) -> None:
        self.cm = cm
        self.params = params
        self.options = options or ModelOptions()
        opts = self.options
        msh = cm.mesh
        el, lfp, li = params.electrolyte, params.lfp, params.li
        self.f = 1.0 / thermal_voltage(params.temperature_K)  # F/RT [1/V]
        m = cm.measures()
        dx, ds = m["dx"], m["ds"]
        # Γ only: a bare dS would integrate over every interior facet. With the lumped θ mass the interface terms
        # take the vertex rule too: the Faradaic source of a node then depends on that node's θ and c alone, and it
        # vanishes as θ → 1 or c → 0 (i0 ∝ (1 − θ)^α_a c^α_a). With Gauss points between the nodes, a node at θ = 1
        # still receives Li through its neighbours' values, the discrete solution leaves [0, 1] and Newton stalls on
        # the bound (a 3D cell at 0.5C with D_s = 1.8e-18 m²/s, θ = 0.998 after 331 s). Every functional integrates
        # over the model's dS, so the dissipation split and the constraint keep the residual's rule.
        dS = m["dS"](tags.INTERFACE, metadata=VERTEX_RULE) if opts.lumped_theta_mass else m["dS"](tags.INTERFACE)
        dx_e = dx(tags.ELECTROLYTE_PORE) + dx(tags.ELECTROLYTE_MEMBRANE)
        dx_p = dx(tags.PARTICLE)
        dx_cbd = dx(tags.CBD)
        self.dx, self.ds, self.dS, self.dx_e, self.dx_p = dx, ds, dS, dx_e, dx_p
        # carbon-binder domain (docs/model.md §2.11): dx_s is where φ_s lives; without a CBD it is dx_p itself
        # a parameter set without the CBD group (hand-made in tests and scripts) gets the named defaults
        cbd = getattr(params, "cbd", None) or CBDParameters()
        self.has_cbd = cm.has_cbd
        self.dx_cbd = dx_cbd
        self.dx_s = dx_p + self.dx_cbd if cm.has_cbd else dx_p
        # nanoporous CBD: factor on κ and D of its electrolyte (0: no electrolyte there) and its salt capacity
        self.cbd_ionic_factor = cbd.ionic_factor if cm.cbd_nanoporous else 0.0
        self.cbd_porosity = cbd.porosity if cm.cbd_nanoporous else 0.0
        # the θ accumulation term: vertex quadrature lumps the P1 mass matrix (ModelOptions.lumped_theta_mass)
        dx_p_mass = dx(tags.PARTICLE, metadata=VERTEX_RULE) if opts.lumped_theta_mass else dx_p

        V_e = dolfinx.fem.functionspace(cm.electrolyte.mesh, ("Lagrange", 1))
        V_p = dolfinx.fem.functionspace(cm.solid_phase.mesh, ("Lagrange", 1))
        # θ gets its own space object: Dirichlet conditions are matched to blocks by space, and the collector
        # condition of φ̃_s must not constrain θ.
        V_theta = dolfinx.fem.functionspace(cm.particle.mesh, ("Lagrange", 1))
        self.V_e, self.V_p, self.V_theta = V_e, V_p, V_theta

        def const(value: float) -> dolfinx.fem.Constant:
            return dolfinx.fem.Constant(msh, dolfinx.default_scalar_type(value))

        theta0 = float(params.initial_stoichiometry)
        self.V = const(float(lfp.ocp.numpy(np.array(theta0))))
        self.current_density = const(0.0)
        self.dt = const(1.0)  # s (transient step, or the pseudo-transient salt step in steady runs)
        self.current_ref = const(1.0)  # A/m², scale of the constraint
        self.area_hat = float(cm.geometric_area_um)

        # --- unknowns and previous-step values ---
        fields: dict[str, dolfinx.fem.Function] = {}
        if opts.binary:
            fields["c"] = dolfinx.fem.Function(V_e, name="c")
            fields["c"].x.array[:] = 1.0
        fields["phi_e"] = dolfinx.fem.Function(V_e, name="phi_e")
        theta = dolfinx.fem.Function(V_theta, name="theta")
        theta.x.array[:] = theta0
        if opts.transient:
            fields["theta"] = theta
        fields["phi_s"] = dolfinx.fem.Function(V_p, name="phi_s_tilde")
        self.fields = fields
        self.theta = theta
        # previous accepted state (backward Euler); a frozen θ is its own old value
        self.old = {n: dolfinx.fem.Function(f.function_space, name=f"{n}_old") for n, f in fields.items()}
        for n, f in fields.items():
            self.old[n].x.array[:] = f.x.array
        self.V_old = const(float(self.V.value))
        # BDF2: the state before the previous one (only then), and the weights of the three states in the time
        # derivative
        self.old2 = (
            {n: dolfinx.fem.Function(f.function_space, name=f"{n}_old2") for n, f in fields.items()}
            if opts.bdf2
            else {}
        )
        for n, f in self.old2.items():
            f.x.array[:] = fields[n].x.array
        self.V_old2 = const(float(self.V.value))
        self.time_weights = (const(1.0), const(-1.0), const(0.0))
        self.c_old = self.old.get("c")
        self.theta_old = self.old.get("theta", theta)
        self.ones_p = dolfinx.fem.Function(V_p)
        self.ones_p.x.array[:] = 1.0

        c_rel = fields["c"] if opts.binary else const(1.0)
        self.c_rel = c_rel
        phi_e, phit = fields["phi_e"], fields["phi_s"]
        self.phi_s = self.V + phit

        # --- electrolyte transport ---
        kappa = el.conductivity_S_m
        t_plus = el.transference_number if opts.binary else 1.0
        beta_scale = 2.0 * thermal_voltage(params.temperature_K)  # 2RT/F
        beta = beta_scale * (1.0 - t_plus) * el.thermodynamic_factor
        self.kappa, self.beta, self.t_plus = kappa, beta if opts.binary else 0.0, t_plus
        c_pos = ufl.max_value(c_rel, _C_FLOOR) if opts.binary else c_rel
        # tabulated laws ([electrolyte] table), binary only: a single-ion conductor keeps c = c0, t+ = 1
        table = getattr(el, "table", None)
        laws = ConcentrationLaws.build(table, el.concentration_mol_m3) if opts.binary and table is not None else None
        self.laws = laws
        # concentration laws κ(c) = κ r_κ(c), D(c) = D r_D(c), relative to c0 (docs/model.md §2.2): the residuals
        # keep κ and D as their scales, so r = 1 (the constant law) leaves the forms exactly as they were
        self.kappa_rel = _power(c_pos, el.conductivity_exponent) if opts.binary else None
        self.diffusivity_rel = _power(c_pos, el.diffusivity_exponent) if opts.binary else None
        if laws is not None and laws.kappa_rel is not None:
            self.kappa_rel = laws.kappa_rel.ufl(c_rel)
        if laws is not None and laws.diffusivity_rel is not None:
            self.diffusivity_rel = laws.diffusivity_rel.ufl(c_rel)
        # t+(c) and TDF(c) (None: constant): then β(c) = 2RT/F (1 − t+(c)) TDF(c) and the diffusion potential is
        # B(c) = ∫_c0^c β/c' dc' (docs/model.md §2.2); constant β keeps β ln(c/c0) and the forms as they were
        self.t_plus_c: ufl.core.expr.Expr | None = None
        self.beta_c: ufl.core.expr.Expr | None = None
        self.B_c: ufl.core.expr.Expr | None = None
        if laws is not None and laws.variable_beta:
            tp_law, tdf_law = laws.transference_number, laws.thermodynamic_factor
            self.t_plus_c = tp_law.ufl(c_rel) if tp_law is not None else None
            tp: Any = self.t_plus_c if self.t_plus_c is not None else t_plus
            tdf = tdf_law.ufl(c_rel) if tdf_law is not None else el.thermodynamic_factor
            self.beta_c = beta_scale * (1.0 - tp) * tdf
            self.B_c = laws.diffusion_potential(beta_scale, t_plus, el.thermodynamic_factor).ufl(c_rel)
        self.grad_ln_c = ufl.grad(c_rel) / c_pos if opts.binary else ufl.as_vector([0.0] * cm.dim)
        # ln(c/c0) with the same floor (0 for a single-ion conductor): the diffusion potential is β Δln c
        self.ln_c = ufl.ln(c_pos) if opts.binary else const(0.0)
        # hat-scaled driving force g, with i_e = −(κ/ℓ) g  [A/m²]
        self.g_e = ufl.grad(phi_e) - (self.beta if self.beta_c is None else self.beta_c) * self.grad_ln_c

        # --- kinetics on Γ (particle side "+", electrolyte side "−") and at the Li metal ---
        ocp = lfp.ocp

        def interface_potential(V: Any, phit_: Any, phi_e_: Any) -> Any:
            return V + phit_("+") - phi_e_("-")

        def overpotential(V: Any, phit_: Any, phi_e_: Any, theta_: Any) -> Any:
            return interface_potential(V, phit_, phi_e_) - ocp.ufl(theta_("+"))

        th_p = theta("+")
        self.U = ocp.ufl(th_p)
        self.eta = overpotential(self.V, phit, phi_e, theta)
        self.interface_potential = interface_potential(self.V, phit, phi_e)
        i0 = exchange_current_lfp(
            lfp.exchange_current_A_m2, c_pos("-") if opts.binary else 1.0, th_p, lfp.alpha_a, lfp.alpha_c
        )
        self.i0 = i0
        # the kinetic overpotential that would carry the same i_n at the reference salt c0: the rest, η − η_c0, is
        # the salt's effect on the kinetics (i0 ∝ (c/c0)^α_a, a Nernstian term); symmetric kinetics only
        self.eta_at_c0 = (
            overpotential_at_ratio(
                self.eta, c_pos("-") ** lfp.alpha_a, lfp.alpha_a, self.f, sinh=ufl.sinh, asinh=ufl_asinh
            )
            if opts.binary and lfp.alpha_a == lfp.alpha_c
            else None
        )
        self.i_n = butler_volmer(i0, self.eta, lfp.alpha_a, lfp.alpha_c, self.f, exp=ufl.exp)
        self.eta_li = -phi_e
        self.i_li = butler_volmer(li.exchange_current_A_m2, self.eta_li, li.alpha, 1.0 - li.alpha, self.f, exp=ufl.exp)
        ds_li = ds(tags.ANODE)
        self.ds_li = ds_li

        # --- mass terms M(u) (time derivatives are (M(u) − M(u_old))/dt) and steady terms, in FIELD_ORDER ---
        ell = MICRON
        # σ scales the φ_s block: the particle conductivity, or with a CBD the CBD's (then the particles' own,
        # intrinsic conductivity enters as the ratio σ_LFP/σ_CBD)
        sigma = cbd.conductivity_S_m if cm.has_cbd else lfp.conductivity_S_m
        self.sigma = sigma
        self.sigma_particle = lfp.intrinsic_conductivity_S_m if cm.has_cbd else lfp.conductivity_S_m
        self.sigma_cbd = cbd.conductivity_S_m if cm.has_cbd else 0.0
        v_e, v_s = ufl.TestFunction(V_e), ufl.TestFunction(V_p)
        old = self.old

        def mass_terms(st: dict[str, Any], V: Any) -> dict[str, ufl.Form]:
            """Accumulated quantities of each equation for the state ``st`` (current or old fields)."""
            out: dict[str, ufl.Form] = {}
            if opts.binary:
                out["c"] = ell**2 / el.diffusivity_m2_s * st["c"] * ufl.TestFunction(V_e) * dx_e
                if self.cbd_porosity:
                    out["c"] += (
                        self.cbd_porosity * ell**2 / el.diffusivity_m2_s * st["c"] * ufl.TestFunction(V_e) * dx_cbd
                    )
            if opts.transient:
                out["theta"] = ell**2 / lfp.diffusivity_m2_s * st["theta"] * ufl.TestFunction(V_theta) * dx_p_mass
            if opts.double_layer:
                (c_g, dphi_g), (c_li, dphi_li) = double_layers(V, st)
                # the double-layer charge C_dl (φ_s − φ_e) on Γ leaves the solid and enters the electrolyte, like i_n
                out["phi_e"] = (
                    -(ell / kappa) * c_g * dphi_g * v_e("-") * dS - (ell / kappa) * c_li * dphi_li * v_e * ds_li
                )
                out["phi_s"] = (ell / sigma) * c_g * dphi_g * v_s("+") * dS
            return out

        def double_layers(V: Any, st: dict[str, Any]) -> tuple[tuple[float, Any], tuple[float, Any]]:
            """Capacitance [F/m²] and charging potential difference of the double layers on Γ and at the Li metal.

            Γ: Δφ = φ_s − φ_e; the Li metal: Δφ = −φ_e (the metal is the reference, U_Li = 0). Kept as pairs so
            that the residual multiplies its coefficients first, as it always has (identical round-off).
            """
            return (
                (lfp.double_layer_F_m2, interface_potential(V, st["phi_s"], st["phi_e"])),
                (li.double_layer_F_m2, -st["phi_e"]),
            )

        # the charge densities [C/m²] of the present state, for the small-signal operator (None: no double layer)
        self.q_dl: ufl.core.expr.Expr | None = None
        self.q_dl_li: ufl.core.expr.Expr | None = None
        if opts.double_layer:
            (c_g, dphi_g), (c_li, dphi_li) = double_layers(self.V, fields)
            self.q_dl, self.q_dl_li = c_g * dphi_g, c_li * dphi_li

        self.mass_forms = mass_terms(fields, self.V)
        mass_old = mass_terms(old, self.V_old)
        mass_old2 = mass_terms(self.old2, self.V_old2) if opts.bdf2 else {}
        a0, a1, a2 = self.time_weights
        steady: dict[str, ufl.Form] = {}
        self.i_e_hat = self.g_e if self.kappa_rel is None else self.kappa_rel * self.g_e  # i_e = −(κ/ℓ) i_e_hat
        if opts.binary:
            q = ufl.TestFunction(V_e)
            flux_c = ufl.grad(c_rel) if self.diffusivity_rel is None else self.diffusivity_rel * ufl.grad(c_rel)
            if self.t_plus_c is None:
                k_c = (1.0 - t_plus) * ell / (FARADAY * el.concentration_mol_m3 * el.diffusivity_m2_s)
                steady["c"] = (
                    ufl.inner(flux_c, ufl.grad(q)) * dx_e - k_c * self.i_n * q("-") * dS - k_c * self.i_li * q * ds_li
                )
                if self.cbd_ionic_factor:
                    steady["c"] += self.cbd_ionic_factor * ufl.inner(flux_c, ufl.grad(q)) * dx_cbd
            else:
                # t+(c): the cation flux N+ = −D∇c + t+ i_e/F, in weak form ∫ (D∇c − t+ i_e/F)·∇q − ∫ i_n q/F over
                # Γ and the Li metal; integrated by parts with ∇·i_e = 0 it is the constant-t+ form plus the bulk
                # term ∫ (i_e·∇t+/F) q (docs/model.md §2.2). Written with t+ = t_ref + δ(c), t_ref the table's value
                # at its lowest c: the φ_e equation turns the t_ref part into the interface fluxes (1 − t_ref) i_n/F
                # (as the constant law; the salt stays exactly conserved), and only δ(c) i_e stays in the bulk. Why:
                # i_e holds β∇c/c, which blows up as the salt runs out; δ(c) → 0 there for a table from c = 0.
                t_ref = laws.transference_number.y[0] if laws is not None and laws.transference_number else t_plus
                k_b = (1.0 - t_ref) * ell / (FARADAY * el.concentration_mol_m3 * el.diffusivity_m2_s)
                k_t = kappa / (FARADAY * el.concentration_mol_m3 * el.diffusivity_m2_s)  # −t+ i_e/F, scaled
                delta = self.t_plus_c - t_ref
                steady["c"] = (
                    ufl.inner(flux_c + k_t * delta * self.i_e_hat, ufl.grad(q)) * dx_e
                    - k_b * self.i_n * q("-") * dS
                    - k_b * self.i_li * q * ds_li
                )
                if self.cbd_ionic_factor:  # the nanoporous CBD carries the same fluxes, scaled by its factor
                    steady["c"] += (
                        self.cbd_ionic_factor * ufl.inner(flux_c + k_t * delta * self.i_e_hat, ufl.grad(q)) * dx_cbd
                    )
        steady["phi_e"] = (
            ufl.inner(self.i_e_hat, ufl.grad(v_e)) * dx_e
            - (ell / kappa) * self.i_n * v_e("-") * dS
            - (ell / kappa) * self.i_li * v_e * ds_li
        )
        if self.cbd_ionic_factor:
            steady["phi_e"] += self.cbd_ionic_factor * ufl.inner(self.i_e_hat, ufl.grad(v_e)) * dx_cbd
        if opts.transient:
            w = ufl.TestFunction(V_theta)
            steady["theta"] = (
                ufl.inner(ufl.grad(theta), ufl.grad(w)) * dx_p
                + ell / (FARADAY * lfp.c_max_mol_m3 * lfp.diffusivity_m2_s) * self.i_n * w("+") * dS
            )
        if cm.has_cbd:
            steady["phi_s"] = (
                (self.sigma_particle / sigma) * ufl.inner(ufl.grad(phit), ufl.grad(v_s)) * dx_p
                + ufl.inner(ufl.grad(phit), ufl.grad(v_s)) * dx_cbd
                + (ell / sigma) * self.i_n * v_s("+") * dS
            )
        else:
            steady["phi_s"] = ufl.inner(ufl.grad(phit), ufl.grad(v_s)) * dx_p + (ell / sigma) * self.i_n * v_s("+") * dS
        self.steady_forms = steady
        res: dict[str, ufl.Form] = {}
        for name in fields:
            res[name] = steady[name]
            if name in self.mass_forms and opts.bdf2:
                rate = a0 * self.mass_forms[name] + a1 * mass_old[name] + a2 * mass_old2[name]
                res[name] = res[name] + (1.0 / self.dt) * rate
            elif name in self.mass_forms:
                res[name] = res[name] + (1.0 / self.dt) * (self.mass_forms[name] - mass_old[name])
        self.residuals_by_name = res

        # total current density leaving the particles through Γ [A/m²]: faradaic plus double-layer charging
        self.i_dl: Any = 0.0
        if opts.double_layer:
            dphi_old = interface_potential(self.V_old, old["phi_s"], old["phi_e"])
            if opts.bdf2:
                dphi_old2 = interface_potential(self.V_old2, self.old2["phi_s"], self.old2["phi_e"])
                rate_dl = a0 * self.interface_potential + a1 * dphi_old + a2 * dphi_old2
            else:
                rate_dl = self.interface_potential - dphi_old
            self.i_dl = lfp.double_layer_F_m2 * rate_dl / self.dt
        # G = ∫_Γ i_total dÂ / (I_ref Â) + I / I_ref: zero when the interface carries the applied current. The form
        # holds the field-dependent part; the solver adds the constant I / I_ref.
        self.constraint = ((self.i_n + self.i_dl) / (self.current_ref * self.area_hat)) * dS

        # φ̃_s = 0 on the collector (z = 0): particles and, with a CBD, the CBD touching it
        fdim = cm.dim - 1
        zero_facets = dolfinx.mesh.locate_entities_boundary(
            cm.solid_phase.mesh, fdim, lambda x: np.isclose(x[cm.dim - 1], 0.0, atol=1e-9)
        )
        dofs = dolfinx.fem.locate_dofs_topological(V_p, fdim, zero_facets)
        self.bcs = [dolfinx.fem.dirichletbc(dolfinx.default_scalar_type(0.0), dofs, V_p)]  # type: ignore[arg-type]
        if cm.comm.allreduce(len(dofs), op=MPI.SUM) == 0:
            raise GeometryError("no particle touches the current collector (z = 0)")
        # where Newton bounds θ (bound_mask): its Γ nodes
        self._theta_mask: np.ndarray | None = self._interface_nodes() if opts.transient else None

    def bound_mask(self, name: str) -> np.ndarray | None:
        """Owned dofs of field ``name`` where Newton must keep it inside its bounds; None: every dof.

        θ enters a nonlinearity only on Γ (the OCP and i0 read its trace, which P1 takes from the Γ nodes alone),
        so only its Γ nodes are bounded; inside a particle it is linear diffusion, and there the discrete solution
        may dip below its start: P1 with a lumped mass has a maximum principle only on non-obtuse meshes, and a
        Gmsh tetrahedral mesh has obtuse angles. Seen in a 3D discharge at 0.5C with D_s = 1.8e-18 m²/s: the one
        interior node of a small particle fell from θ0 = 0.01 to 1e-5 while its surface filled, and a bound there
        held every Newton step still. c is bounded everywhere (ln c and the powers of c in the bulk laws).
        """
        return self._theta_mask if name == "theta" else None

    def _interface_nodes(self) -> np.ndarray:
        """Owned θ dofs on Γ (collective: built once in the constructor, as a rank may own no θ dof at all)."""
        w = ufl.TestFunction(self.V_theta)
        b = dolfinx.fem.assemble_vector(dolfinx.fem.form(w("+") * self.dS, entity_maps=self.cm.entity_maps))
        b.scatter_reverse(dolfinx.la.InsertMode.add)
        n_owned = self.V_theta.dofmap.index_map.size_local
        return np.abs(b.array[:n_owned]) > 0.0

    @property
    def names(self) -> list[str]:
        """Names of the active unknowns, in order."""
        return list(self.fields)

    @property
    def unknowns(self) -> list[dolfinx.fem.Function]:
        """Active unknown functions, in order."""
        return list(self.fields.values())

    @property
    def residuals(self) -> list[ufl.Form]:
        """Residual forms, in the order of :attr:`unknowns`."""
        return [self.residuals_by_name[n] for n in self.fields]

    def add_terms(self, name: str, form: ufl.Form) -> None:
        """Add terms to one residual block before compilation (sources of manufactured solutions)."""
        self.residuals_by_name[name] = self.residuals_by_name[name] + form

    def check_table_range(self) -> None:
        """Stop when the salt concentration of the present state has left the electrolyte's table (collective).

        The interpolants hold their end values outside the table, so a Newton iterate there is harmless, but an
        accepted state there would rest on made-up values: the run stops instead (docs/model.md §2.2).

        Raises:
            TableRangeError: some c outside the table's c range (the message names it and the c reached).
        """
        if self.laws is None:
            return
        arr = self.fields["c"].x.array
        c0 = self.params.electrolyte.concentration_mol_m3
        lo = self.cm.comm.allreduce(float(np.min(arr)) if arr.size else np.inf, op=MPI.MIN) * c0
        hi = self.cm.comm.allreduce(float(np.max(arr)) if arr.size else -np.inf, op=MPI.MAX) * c0
        message = table_range_message(self.laws.table, lo, hi)
        if message is not None:
            raise TableRangeError(message)

    @property
    def previous_state(self) -> tuple[dict[str, dolfinx.fem.Function], dolfinx.fem.Constant] | None:
        """BDF2: the accepted state before the last (fields, V), which a restart needs too; None otherwise."""
        return (self.old2, self.V_old2) if self.options.bdf2 else None

    def set_time_weights(self, new: float, old: float, older: float) -> None:
        """The weights of the state, the last and the one before in the time derivative (BDF2 models only)."""
        if not self.options.bdf2 and (new, old, older) != (1.0, -1.0, 0.0):
            raise ValueError("set_time_weights: this model was built for backward Euler (ModelOptions.bdf2)")
        for c, v in zip(self.time_weights, (new, old, older), strict=True):
            c.value = v  # type: ignore[assignment]  # dolfinx types the setter as ndarray only

    def predict(self, omega: float, voltage: bool = True) -> bool:
        """Start the next solve from the linear extrapolation of the last two accepted states (BDF2 models).

        ``u = u_n + ω (u_n − u_{n−1})`` with ``ω = h_{n+1}/h_n``, the predictor of variable-step BDF codes: Newton
        then starts within O(h²) of the solution instead of O(h). θ and c keep at least half of their distance to
        a bound (the same rule as Newton's step-length limit), so the start stays physical.

        Args:
            omega: the step ratio ``h_{n+1}/h_n`` (> 0).
            voltage: extrapolate the cell voltage too (False where a protocol step holds it).

        Returns:
            False (state left as it is) for a backward-Euler model, which keeps no earlier state.
        """
        if not self.options.bdf2 or omega <= 0.0:
            return False
        for n, f in self.fields.items():
            u1, u0 = self.old[n].x.array, self.old2[n].x.array
            pred = u1 + omega * (u1 - u0)
            if n == "c":
                pred = np.maximum(pred, 0.5 * u1)
            elif n == "theta":
                pred = np.clip(pred, 0.5 * u1, 0.5 * (1.0 + u1))
            f.x.array[:] = pred
        if voltage:
            v1, v0 = float(self.V_old.value), float(self.V_old2.value)
            self.V.value = v1 + omega * (v1 - v0)  # type: ignore[assignment]
        return True

    def commit_step(self) -> None:
        """Accept the current state as the previous-step state (BDF2: the previous one moves one back)."""
        if self.options.bdf2:
            for n, f in self.old.items():
                self.old2[n].x.array[:] = f.x.array
            self.V_old2.value = float(self.V_old.value)  # type: ignore[assignment]
        for n, f in self.fields.items():
            self.old[n].x.array[:] = f.x.array
        self.V_old.value = float(self.V.value)  # type: ignore[assignment]

    def restore_step(self) -> None:
        """Go back to the previous accepted state (after a failed step)."""
        for n, f in self.fields.items():
            f.x.array[:] = self.old[n].x.array
        self.V.value = float(self.V_old.value)  # type: ignore[assignment]
