"""BPX export: a homogenised-model parameter set of the cathode, measured on the resolved microstructure.

BPX (Battery Parameter eXchange, https://bpxstandard.com) is what PyBaMM and other porous-electrode codes read.
The input is the folder of an **effective-properties run** (``study.kind = "effective"``), which measured on the
mesh what a Bruggeman guess would otherwise stand in for:

* ``Porosity``: the electrolyte-filled pore volume of the cathode layer;
* ``Transport efficiency``: ``κ_eff / κ`` of the layer (its mesh-extrapolated value where the run has one), the
  BPX quantity itself, so no Bruggeman exponent is fitted;
* ``Surface area per unit volume``: the wetted particle|electrolyte area per layer volume;
* ``Particle radius``: ``3 ε_s / a``, the radius of spheres with the measured active fraction ``ε_s`` and the
  wetted area ``a``. A porous-electrode model takes its active fraction from ``a r / 3``, so with this radius it
  holds exactly the capacity and the reaction area of the packing (the mean radius is in ``User-defined``).

The rest comes from the run's parameters at its temperature, which is BPX's reference temperature; the activation
energies are those of microsim's laws (docs/parameters.md). What BPX cannot say goes into ``User-defined`` and
the export's notes: the Li-metal counter electrode (BPX describes full cells, so the file is a BPX ``Partial``
parameterisation with no negative electrode, and the Li metal's kinetics are given under the names PyBaMM's
half-cell option reads), a tabulated t+(c) and thermodynamic factor, the measurement's own uncertainty.

Pure Python and pydantic (the ``bpx`` package validates the file): no DOLFINx.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from microsim import config as config_mod
from microsim import outputs
from microsim.constants import FARADAY
from microsim.errors import MicrosimError
from microsim.parameters import CellParameters, resolve
from microsim.parameters.arrhenius import TwoBranchArrhenius
from microsim.parameters.electrolytes import ELECTROLYTES

__all__ = ["BPX_VERSION", "ExportError", "bpx_document", "export_bpx", "validate"]

#: The BPX schema version the file claims (validated by the ``bpx`` package of that major version).
BPX_VERSION = "1.1.0"
#: Geometric electrode area of the exported cell [m²]: 1 cm² (every microsim result is per area).
AREA_M2 = 1.0e-4
#: Li metal's electronic conductivity [S/m] (room temperature; it never limits a half cell).
LI_CONDUCTIVITY_S_M = 1.1e7
#: Thickness of the Li foil [m] (it only sets PyBaMM's counter-electrode ohmic drop, negligible).
LI_THICKNESS_M = 50.0e-6
#: Points of the tabulated OCP and concentration laws.
TABLE_POINTS = 201


class ExportError(MicrosimError):
    """A run folder that lacks what the export needs (the message says what, and how to get it)."""


def _read_run(run_dir: Path) -> tuple[dict[str, Any], config_mod.Config]:
    path = run_dir / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{path}: no summary (export-bpx needs a finished run folder)") from None
    if summary.get("study") != "effective":
        raise ExportError(
            f"{run_dir}: a {summary.get('study')!r} run; export-bpx needs an effective-properties run, which measures "
            "the porosity, transport efficiency and wetted area: microsim run CASE.toml --set study.kind=effective "
            "--out DIR"
        )
    return summary, config_mod.load(run_dir / "config.toml")


def _stoichiometry_at(params: CellParameters, voltage_V: float, lithiated_end: bool) -> float:
    """θ where the OCP crosses ``voltage_V`` (the first crossing from the charged end, or from the lithiated one)."""
    grid = np.linspace(1e-6, 1.0 - 1e-6, 200_001)
    u = params.lfp.ocp.numpy(grid)
    if lithiated_end:
        idx = np.nonzero(u >= voltage_V)[0]
        return float(grid[idx[-1]]) if idx.size else float(grid[0])
    idx = np.nonzero(u <= voltage_V)[0]
    return float(grid[idx[0]]) if idx.size else float(grid[-1])


def _law(value: float, c0: float, exponent: float, rel: Any, c_range: tuple[float, float]) -> Any:
    """A concentration law in BPX form: a number, a power-law expression in ``x`` [mol/m³], or a table."""
    if rel is not None:
        c = np.linspace(c_range[0], c_range[1], TABLE_POINTS)
        return {"x": c.tolist(), "y": (value * np.asarray(rel.numpy(c / c0))).tolist()}
    if exponent == 0.0:
        return value
    return f"{value!r} * (x / {c0!r}) ** {exponent!r}"


def bpx_document(run_dir: str | Path) -> tuple[dict[str, Any], list[str]]:
    """The BPX document of an effective-properties run folder, and the notes on what it leaves out.

    Raises:
        ExportError: not an effective run, or a cell a porous-electrode model cannot hold (the message says why).
    """
    run_dir = Path(run_dir)
    summary, cfg = _read_run(run_dir)
    eff, geo = summary["effective"], summary["geometry"]
    params = resolve(cfg)
    lfp, el, li = params.lfp, params.electrolyte, params.li
    notes: list[str] = []

    porosity = float(eff.get("porosity") or 0.0)
    ratio = eff.get("electrolyte_conductivity_ratio_extrapolated") or eff.get("electrolyte_conductivity_ratio")
    if geo.get("interface") != "filled" or not porosity or not ratio:
        why = eff.get("electrolyte_note") or f"interface {geo.get('interface')!r}"
        raise ExportError(
            f"{run_dir}: effective.electrolyte_conductivity_ratio = {ratio}, porosity = {porosity:g} ({why}): a "
            "porous-electrode model needs electrolyte through the whole cathode; only filled cells are exported "
            "(point-contact and partly infiltrated cells have dry pores that BPX cannot describe)"
        )
    if not (lfp.alpha_a == lfp.alpha_c == 0.5):
        raise ExportError(
            f"lfp.alpha_a = {lfp.alpha_a:g}, lfp.alpha_c = {lfp.alpha_c:g}: BPX kinetics are symmetric (0.5, 0.5)"
        )
    active = float(eff["solid_fraction"])
    area = float(eff["wetted_specific_interface_area_m2_m3"])
    radius_eq = 3.0 * active / area
    radii = [float(p["r_um"]) * 1e-6 for p in geo.get("particles", [])]
    mean_radius = float(np.mean(radii)) if radii else radius_eq
    if geo.get("dim") == 2:
        notes.append(
            "2D packing: its particles are cylinders (area 2/r per volume) while a porous-electrode model's are "
            f"spheres; the exported radius 3 eps_s/a = {radius_eq * 1e6:.3g} µm keeps the capacity and the reaction "
            f"area, but the diffusion length differs from the mean disk radius {mean_radius * 1e6:.3g} µm"
        )
    sigma_eff = eff.get("effective_solid_conductivity_S_m")
    if not sigma_eff:
        sigma_eff = float(eff["solid_conductivity_S_m"]) * active**1.5
        notes.append(
            f"the particles do not span the layer ({eff.get('solid_note') or 'no solid path'}): the electrode "
            f"conductivity {sigma_eff:.3g} S/m is Bruggeman's sigma eps_s^1.5, not measured"
        )
    t_k = params.temperature_K
    theta_min = _stoichiometry_at(params, cfg.study.cutoff_charge_V, lithiated_end=False)
    theta_max = _stoichiometry_at(params, cfg.study.cutoff_discharge_V, lithiated_end=True)
    thickness = float(geo["cathode_thickness_um"]) * 1e-6
    capacity_Ah = active * thickness * AREA_M2 * lfp.c_max_mol_m3 * FARADAY * (theta_max - theta_min) / 3600.0
    grid = np.linspace(1e-4, 1.0 - 1e-4, TABLE_POINTS)
    ocp = {"x": grid.tolist(), "y": np.asarray(lfp.ocp.numpy(grid), dtype=float).tolist()}

    laws = el.laws()
    c0 = el.concentration_mol_m3
    c_range = laws.table.c_range if laws is not None else (0.0, 2.0 * c0)
    kappa = _law(el.conductivity_S_m, c0, el.conductivity_exponent, laws and laws.kappa_rel, c_range)
    diff = _law(el.diffusivity_m2_s, c0, el.diffusivity_exponent, laws and laws.diffusivity_rel, c_range)
    law = ELECTROLYTES[el.name].conductivity_S_cm
    ea_kappa = float(law.activation_J_mol(t_k) if isinstance(law, TwoBranchArrhenius) else law.activation_J_mol)

    user: dict[str, Any] = {
        "description": (
            "microsim export of a resolved-microstructure run: LiFePO4 | polymer electrolyte | Li metal half "
            "cell; the Li-metal counter electrode under PyBaMM's half-cell names"
        ),
        "Lithium counter electrode exchange-current density [A.m-2]": li.exchange_current_A_m2,
        "Lithium counter electrode conductivity [S.m-1]": LI_CONDUCTIVITY_S_M,
        "Lithium counter electrode thickness [m]": LI_THICKNESS_M,
        "Thermodynamic factor": el.thermodynamic_factor,
        "microsim: mean particle radius [m]": mean_radius,
        "microsim: tortuosity": float(eff.get("tortuosity_extrapolated") or eff["tortuosity"]),
        "microsim: transport efficiency error estimate": float(
            eff.get("electrolyte_conductivity_ratio_error_estimate") or 0.0
        ),
        "microsim: Bruggeman transport efficiency eps^1.5": porosity**1.5,
        "microsim: wetted interface fraction": float(eff.get("wetted_interface_fraction") or 1.0),
        "microsim: dimension": int(geo.get("dim", 3)),
    }
    if laws is not None and laws.transference_number is not None:
        c = np.linspace(c_range[0], c_range[1], TABLE_POINTS)
        user["microsim: cation transference number table"] = {
            "x": c.tolist(),
            "y": np.asarray(laws.transference_number.numpy(c / c0)).tolist(),
        }
        notes.append("t+(c) is tabulated: BPX's 'Cation transference number' holds its value at c0 only")
    if laws is not None and laws.thermodynamic_factor is not None:
        notes.append("the thermodynamic factor is tabulated: 'User-defined' holds its value at c0 only")

    doc: dict[str, Any] = {
        "Header": {
            "BPX": BPX_VERSION,
            "Title": f"microsim {geo.get('interface')} LiFePO4 cathode, {el.name} at {t_k - 273.15:.0f} C",
            "Description": (
                f"From the effective-properties run {run_dir.name}: {geo.get('dim')}D packing of "
                f"{geo.get('n_particles')} particles, W = {geo.get('width_um')} µm. Porosity, transport efficiency "
                "and wetted area measured on the mesh; half cell against Li metal (see User-defined)."
            ),
            "References": "microsim docs/parameters.md (sources of every value); Chen et al., EES 2019",
            "Model": "Partial",
        },
        "Parameterisation": {
            "Cell": {
                "Electrode area [m2]": AREA_M2,
                "External surface area [m2]": 2.0 * AREA_M2,
                "Volume [m3]": AREA_M2 * (thickness + float(geo["membrane_thickness_um"]) * 1e-6),
                "Number of electrode pairs connected in parallel to make a cell": 1,
                "Lower voltage cut-off [V]": float(cfg.study.cutoff_discharge_V),
                "Upper voltage cut-off [V]": float(cfg.study.cutoff_charge_V),
                "Nominal cell capacity [A.h]": capacity_Ah,
                "Reference temperature [K]": t_k,
            },
            "Electrolyte": {
                "Cation transference number": float(el.transference_number),
                "Diffusivity [m2.s-1]": diff,
                "Diffusivity activation energy [J.mol-1]": ea_kappa,  # D ∝ σ (microsim.parameters.electrolytes)
                "Conductivity [S.m-1]": kappa,
                "Conductivity activation energy [J.mol-1]": ea_kappa,
            },
            "Positive electrode": {
                "Thickness [m]": thickness,
                "Porosity": porosity,
                "Transport efficiency": float(ratio),
                "Conductivity [S.m-1]": float(sigma_eff),
                "Minimum stoichiometry": theta_min,
                "Maximum stoichiometry": theta_max,
                "Maximum concentration [mol.m-3]": lfp.c_max_mol_m3,
                "Particle radius [m]": radius_eq,
                "Surface area per unit volume [m-1]": area,
                "Diffusivity [m2.s-1]": lfp.diffusivity_m2_s,
                "Diffusivity activation energy [J.mol-1]": _lfp_activation("DIFFUSIVITY_M2_S"),
                "OCP [V]": ocp,
                "Entropic change coefficient [V.K-1]": 0.0,
                # BPX: j0 = F k sqrt((c/c0) θ (1 − θ)); microsim: i0 = i0_ref (c/c0)^½ 2 (θ (1 − θ))^½
                "Reaction rate constant [mol.m-2.s-1]": 2.0 * lfp.exchange_current_A_m2 / FARADAY,
                "Reaction rate constant activation energy [J.mol-1]": _lfp_activation("EXCHANGE_CURRENT_A_M2"),
            },
            "Separator": {
                "Thickness [m]": float(geo["membrane_thickness_um"]) * 1e-6,
                "Porosity": 1.0,  # the membrane is all electrolyte
                "Transport efficiency": 1.0,
            },
            "User-defined": user,
        },
        "State": {
            "Initial conditions": {
                "Initial temperature [K]": t_k,
                "Initial electrolyte concentration [mol.m-3]": c0,
            },
            "Thermal environment": {"Ambient temperature [K]": t_k},
        },
    }
    notes.append(
        "activation energies are those of microsim's laws; values set in the case at the run temperature keep "
        "them (BPX's reference temperature is the run's)"
    )
    if not math.isfinite(capacity_Ah) or capacity_Ah <= 0:
        raise ExportError(f"nominal capacity {capacity_Ah!r} A h: the OCP window between the cut-offs is empty")
    return doc, notes


def _lfp_activation(name: str) -> float:
    from microsim.parameters import lfp as lfp_laws

    return float(getattr(lfp_laws, name).activation_J_mol)


def validate(doc: dict[str, Any]) -> Any:
    """Validate with the ``bpx`` package's own schema; return the parsed object.

    Raises:
        ExportError: ``bpx`` is not installed, or the document does not validate (its first errors).
    """
    try:
        import bpx
    except ImportError:
        raise ExportError("export-bpx needs the bpx package: .venv/bin/pip install bpx (or the 'bpx' extra)") from None
    try:
        return bpx.parse_bpx_obj(json.loads(json.dumps(doc)))
    except Exception as exc:  # pydantic's ValidationError and the package's own ValueErrors
        raise ExportError(f"the BPX document does not validate: {' '.join(str(exc).split())[:600]}") from None


def export_bpx(run_dir: str | Path, out: str | Path) -> list[str]:
    """Write the validated BPX file of ``run_dir`` to ``out`` (atomically); return the notes.

    Raises:
        ExportError: see :func:`bpx_document` and :func:`validate`.
    """
    doc, notes = bpx_document(run_dir)
    validate(doc)
    outputs.write_json_local(Path(out), doc)
    return notes
