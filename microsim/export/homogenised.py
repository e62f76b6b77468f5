"""The round trip: PyBaMM's half-cell DFN from a microsim BPX file, against the resolved rate study.

:func:`pybamm_parameters` maps a BPX document written by :mod:`microsim.export.bpx` to PyBaMM's parameter names
for ``{"working electrode": "positive"}`` (a Li-metal counter electrode), term by term:

* transport: PyBaMM writes the transport efficiency as ``ε^b``; ``b = ln(τ_e) / ln ε`` gives back the BPX
  value exactly (a name, not a fitted Bruggeman exponent); the electrode conductivity is already effective
  (``b_electrode = 0``);
* kinetics: BPX ``j0 = F k √((c_e/c_e0) θ (1 − θ))``, Arrhenius from the reference temperature; the Li metal's
  ``i0`` does not depend on ``c_e`` (microsim's model);
* active fraction ``ε_s = a r / 3`` (how PyBaMM's own BPX reader sets it; the export chose ``r`` for it).

:func:`compare` runs one CC discharge per C-rate of a finished rate study, from its initial lithiation to its
cut-off, at the same current per area, and tabulates both capacities in mAh/g of the same LiFePO4 loading. PyBaMM
is an optional extra (``pip install pybamm``), imported only here.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from microsim import outputs
from microsim.constants import FARADAY, GAS_CONSTANT
from microsim.export.bpx import ExportError

__all__ = ["compare", "pybamm_parameters", "run_dfn"]

#: Points per domain of PyBaMM's finite-volume mesh (electrode, separator, particle radius).
DFN_POINTS = 30


def _pybamm() -> Any:
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")  # a batch job must not prompt or phone home
    try:
        import pybamm
    except ImportError:
        raise ExportError(
            "compare-homogenised needs PyBaMM: .venv/bin/pip install pybamm (or the 'homogenised' extra)"
        ) from None
    return pybamm


def _law(pybamm: Any, value: Any, name: str) -> Any:
    """A BPX number, table or expression as a function of the concentration ``x`` for PyBaMM."""
    if isinstance(value, int | float):
        return lambda x: float(value) + 0.0 * x
    if isinstance(value, Mapping):
        xs, ys = np.asarray(value["x"], dtype=float), np.asarray(value["y"], dtype=float)
        return lambda x: pybamm.Interpolant(xs, ys, x, name=name, interpolator="linear")
    from bpx import Function

    return Function(str(value)).to_python_function(preamble="from pybamm import exp, tanh, cosh")


def pybamm_parameters(doc: Mapping[str, Any], initial_stoichiometry: float) -> Any:
    """PyBaMM ``ParameterValues`` of the half cell described by a microsim BPX document.

    Args:
        doc: the BPX document (``microsim export-bpx``).
        initial_stoichiometry: θ0 of the discharge.

    Raises:
        ExportError: PyBaMM missing, or a document without the Li-metal counter electrode in ``User-defined``.
    """
    pybamm = _pybamm()
    par = doc["Parameterisation"]
    cell, el, pe, sep = par["Cell"], par["Electrolyte"], par["Positive electrode"], par["Separator"]
    user = par.get("User-defined") or {}
    li_key = "Lithium counter electrode exchange-current density [A.m-2]"
    if li_key not in user:
        raise ExportError(f"the BPX file has no {li_key!r} in User-defined: not a microsim half-cell export")
    t_ref = float(cell["Reference temperature [K]"])
    c0 = float(doc["State"]["Initial conditions"]["Initial electrolyte concentration [mol.m-3]"])
    c_max = float(pe["Maximum concentration [mol.m-3]"])

    def arrhenius(ea: float, temp: Any) -> Any:
        return pybamm.exp(ea / GAS_CONSTANT * (1.0 / t_ref - 1.0 / temp))

    ea_k = float(pe["Reaction rate constant activation energy [J.mol-1]"])
    k_norm = float(pe["Reaction rate constant [mol.m-2.s-1]"])

    def j0_positive(c_e: Any, c_s_surf: Any, c_s_max: Any, temp: Any) -> Any:
        theta = c_s_surf / c_s_max
        return FARADAY * k_norm * (c_e / c0) ** 0.5 * (theta * (1.0 - theta)) ** 0.5 * arrhenius(ea_k, temp)

    i0_li = float(user[li_key])

    def j0_li(c_e: Any, c_li: Any, temp: Any) -> Any:
        return i0_li + 0.0 * c_e  # microsim: independent of c_e; the run's temperature is the reference

    ocp = pe["OCP [V]"]
    ocp_x, ocp_y = np.asarray(ocp["x"], dtype=float), np.asarray(ocp["y"], dtype=float)

    def ocp_positive(sto: Any) -> Any:
        return pybamm.Interpolant(ocp_x, ocp_y, sto, name="microsim OCP", interpolator="linear")

    d_s, ea_ds = float(pe["Diffusivity [m2.s-1]"]), float(pe["Diffusivity activation energy [J.mol-1]"])
    kappa = _law(pybamm, el["Conductivity [S.m-1]"], "kappa")
    diff = _law(pybamm, el["Diffusivity [m2.s-1]"], "D_e")
    ea_kappa = float(el["Conductivity activation energy [J.mol-1]"])
    ea_de = float(el["Diffusivity activation energy [J.mol-1]"])
    porosity, efficiency = float(pe["Porosity"]), float(pe["Transport efficiency"])
    area_m2 = float(cell["Electrode area [m2]"])
    side = math.sqrt(area_m2)
    values = {
        "Electrode height [m]": side,
        "Electrode width [m]": side,
        "Number of electrodes connected in parallel to make a cell": 1,
        "Number of cells connected in series to make a battery": 1,
        "Nominal cell capacity [A.h]": float(cell["Nominal cell capacity [A.h]"]),
        "Current function [A]": float(cell["Nominal cell capacity [A.h]"]),
        "Lower voltage cut-off [V]": float(cell["Lower voltage cut-off [V]"]),
        "Upper voltage cut-off [V]": float(cell["Upper voltage cut-off [V]"]),
        "Open-circuit voltage at 0% SOC [V]": float(cell["Lower voltage cut-off [V]"]),
        "Open-circuit voltage at 100% SOC [V]": float(cell["Upper voltage cut-off [V]"]),
        "Reference temperature [K]": t_ref,
        "Ambient temperature [K]": t_ref,
        "Initial temperature [K]": t_ref,
        "Contact resistance [Ohm]": 0.0,
        "Heat transfer coefficient [W.m-2.K-1]": 0.0,
        "Initial concentration in electrolyte [mol.m-3]": c0,
        "Cation transference number": float(el["Cation transference number"]),
        "Thermodynamic factor": float(user.get("Thermodynamic factor", 1.0)),
        "Electrolyte conductivity [S.m-1]": lambda c_e, temp: kappa(c_e) * arrhenius(ea_kappa, temp),
        "Electrolyte diffusivity [m2.s-1]": lambda c_e, temp: diff(c_e) * arrhenius(ea_de, temp),
        "Positive electrode thickness [m]": float(pe["Thickness [m]"]),
        "Positive electrode porosity": porosity,
        "Positive electrode Bruggeman coefficient (electrolyte)": math.log(efficiency) / math.log(porosity),
        "Positive electrode Bruggeman coefficient (electrode)": 0.0,
        "Positive electrode conductivity [S.m-1]": float(pe["Conductivity [S.m-1]"]),
        "Positive electrode active material volume fraction": float(pe["Surface area per unit volume [m-1]"])
        * float(pe["Particle radius [m]"])
        / 3.0,
        "Positive particle radius [m]": float(pe["Particle radius [m]"]),
        "Maximum concentration in positive electrode [mol.m-3]": c_max,
        "Initial concentration in positive electrode [mol.m-3]": initial_stoichiometry * c_max,
        "Positive particle diffusivity [m2.s-1]": lambda sto, temp: d_s * arrhenius(ea_ds, temp) + 0.0 * sto,
        "Positive electrode OCP [V]": ocp_positive,
        "Positive electrode OCP entropic change [V.K-1]": 0.0,
        "Positive electrode exchange-current density [A.m-2]": j0_positive,
        "Positive electrode charge transfer coefficient": 0.5,
        "Positive electrode double-layer capacity [F.m-2]": 0.1,
        "Separator thickness [m]": float(sep["Thickness [m]"]),
        "Separator porosity": float(sep["Porosity"]),
        "Separator Bruggeman coefficient (electrolyte)": 1.5,  # porosity 1: any exponent gives efficiency 1
        "Exchange-current density for lithium metal electrode [A.m-2]": j0_li,
        "Negative electrode conductivity [S.m-1]": float(user["Lithium counter electrode conductivity [S.m-1]"]),
        "Negative electrode thickness [m]": float(user["Lithium counter electrode thickness [m]"]),
        "Negative electrode OCP [V]": 0.0,
        "Negative electrode OCP entropic change [V.K-1]": 0.0,
        "Negative electrode charge transfer coefficient": 0.5,
        "Negative electrode double-layer capacity [F.m-2]": 0.1,
        "Lithium metal partial molar volume [m3.mol-1]": 1.3e-5,  # the foil's thinning: no effect on the voltage
    }
    return pybamm.ParameterValues(values)


def run_dfn(doc: Mapping[str, Any], c_rate: float, current_A_m2: float, initial_stoichiometry: float) -> pd.DataFrame:
    """One CC discharge of the half-cell DFN to the lower cut-off: time, capacity per area and voltage.

    Returns:
        ``Time [s]``, ``Charge [C/m2]`` (passed per electrode area), ``Voltage [V]``.
    """
    pybamm = _pybamm()
    params = pybamm_parameters(doc, initial_stoichiometry)
    area = float(doc["Parameterisation"]["Cell"]["Electrode area [m2]"])
    params["Current function [A]"] = current_A_m2 * area
    model = pybamm.lithium_ion.DFN(options={"working electrode": "positive"})
    var_pts = {k: DFN_POINTS for k in model.default_var_pts}
    sim = pybamm.Simulation(model, parameter_values=params, var_pts=var_pts)
    t_end = 3600.0 / c_rate * 1.5  # the run stops at the cut-off event well before
    sol = sim.solve([0.0, t_end])
    t = np.asarray(sol["Time [s]"].entries)
    v = np.asarray(sol["Voltage [V]"].entries)
    return pd.DataFrame({"Time [s]": t, "Charge [C/m2]": current_A_m2 * t, "Voltage [V]": v})


def compare(rate_dir: str | Path, bpx_path: str | Path, out_dir: str | Path | None = None) -> pd.DataFrame:
    """Capacity per C-rate: the resolved rate study of ``rate_dir`` against the DFN of ``bpx_path``.

    Writes ``comparison.csv``, ``dfn_<rate>C.csv`` (voltage curves) and ``comparison.png`` into ``out_dir``
    (default ``rate_dir/homogenised``).

    Raises:
        ExportError: ``rate_dir`` is not a finished rate study; PyBaMM missing; the BPX file not microsim's.
    """
    rate_dir = Path(rate_dir)
    try:
        summary = json.loads((rate_dir / "summary.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{rate_dir / 'summary.json'}: no summary (compare-homogenised needs a rate run)") from None
    if summary.get("study") != "rate":
        raise ExportError(f"{rate_dir}: a {summary.get('study')!r} run; compare-homogenised needs a rate study run")
    doc = json.loads(Path(bpx_path).read_text(encoding="utf-8"))
    from microsim.export.bpx import validate

    validate(doc)
    one_c = float(summary["one_c_current_density_A_m2"])
    theta0 = float(summary["initial_stoichiometry"])
    mass_kg_m2 = float(summary["lfp_loading_mg_cm2"]) * 1e-2  # mg/cm² → kg/m²
    table = summary["rate"]
    out = Path(out_dir) if out_dir is not None else rate_dir / "homogenised"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    curves: dict[str, tuple[pd.DataFrame, pd.DataFrame | None]] = {}
    for rate, resolved in zip(table["c_rates"], table["capacity_mAh_g"], strict=True):
        dfn = run_dfn(doc, float(rate), rate * one_c, theta0)
        q_dfn = float(dfn["Charge [C/m2]"].iloc[-1]) / 3.6 / (mass_kg_m2 * 1e3)  # C/m² → mAh/g
        dfn["Capacity [mAh/g]"] = dfn["Charge [C/m2]"] / 3.6 / (mass_kg_m2 * 1e3)
        outputs.write_csv(None, out / f"dfn_{rate:g}C.csv", dfn)
        ts = rate_dir / "runs" / f"{rate:g}C" / "timeseries.csv"
        curves[f"{rate:g}C"] = (dfn, pd.read_csv(ts) if ts.is_file() else None)
        row = {
            "C-rate [1/h]": float(rate),
            "Resolved capacity [mAh/g]": float(resolved),
            "DFN capacity [mAh/g]": q_dfn,
            "DFN - resolved [mAh/g]": q_dfn - float(resolved),
        }
        if resolved > 0:  # a resolved cell that delivers nothing has no ratio (an empty cell)
            row["DFN / resolved [-]"] = q_dfn / float(resolved)
        rows.append(row)
    outputs.write_csv(None, out / "comparison.csv", rows)
    _plot(out / "comparison.png", pd.DataFrame(rows), curves)
    result = pd.DataFrame(rows)
    result.attrs["notes"] = _notes(summary, doc)
    return result


def _notes(summary: Mapping[str, Any], doc: Mapping[str, Any]) -> list[str]:
    """What the reader must know to read the comparison: a resolved cell that is not the one the BPX file holds."""
    title = str(doc.get("Header", {}).get("Title", ""))
    exported = title.split()[1] if title.startswith("microsim ") else None  # bpx.bpx_document's own title
    resolved = summary.get("interface")
    if exported is not None and resolved != exported:
        return [
            f"the resolved cell is {resolved}, the BPX electrode {exported}: the DFN assumes electrolyte in every "
            "pore of the cathode, which the resolved cell does not have; the difference is what a homogenised "
            "model of that cathode misses"
        ]
    return []


def _plot(path: Path, rows: pd.DataFrame, curves: Mapping[str, tuple[pd.DataFrame, pd.DataFrame | None]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
    ax1.semilogx(rows["C-rate [1/h]"], rows["Resolved capacity [mAh/g]"], "o-", label="resolved (microsim)")
    ax1.semilogx(rows["C-rate [1/h]"], rows["DFN capacity [mAh/g]"], "s--", label="DFN (PyBaMM, BPX)")
    ax1.set_xlabel("C-rate [1/h]")
    ax1.set_ylabel("Capacity [mAh/g]")
    ax1.legend(fontsize=8)
    for k, (label, (dfn, resolved)) in enumerate(curves.items()):
        colour = f"C{k}"
        ax2.plot(dfn["Capacity [mAh/g]"], dfn["Voltage [V]"], "--", color=colour, label=f"DFN {label}")
        if resolved is not None:
            ax2.plot(
                resolved["Capacity [mAh/g]"], resolved["Voltage [V]"], "-", color=colour, label=f"resolved {label}"
            )
    ax2.set_xlabel("Capacity [mAh/g]")
    ax2.set_ylabel("Voltage [V]")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
