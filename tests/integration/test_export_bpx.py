"""BPX export (microsim.export.bpx, `microsim export-bpx`): what a porous-electrode model reads equals what the
resolved run measured and used; the file validates with the bpx package; runs BPX cannot hold are refused."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")  # must precede mpi4py
pytest.importorskip("bpx")
from mpi4py import MPI

from microsim.cli import main
from microsim.constants import FARADAY
from microsim.export.bpx import ExportError, bpx_document
from microsim.parameters import resolve
from microsim.physics.kinetics import exchange_current_lfp
from microsim.studies import run_study
from tests._cases import small

pytestmark = [pytest.mark.fenics]


def _effective(out: Path, **changes: Any) -> Path:
    cfg = small(**{"study.kind": "effective", "study.convergence_levels": 2, **changes})
    run_study(cfg, out, MPI.COMM_SELF)
    return out


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _effective(tmp_path_factory.mktemp("bpx") / "filled")


def test_the_electrode_holds_the_measured_capacity_area_and_transport(filled: Path) -> None:
    """PyBaMM's ε_s = a r / 3 gives back the measured active fraction; porosity and κ_eff/κ are the run's."""
    doc, notes = bpx_document(filled)
    eff = json.loads((filled / "summary.json").read_text())["effective"]
    pe = doc["Parameterisation"]["Positive electrode"]
    a, r = pe["Surface area per unit volume [m-1]"], pe["Particle radius [m]"]
    assert a * r / 3.0 == pytest.approx(eff["solid_fraction"], rel=1e-12)
    assert a == eff["wetted_specific_interface_area_m2_m3"] and pe["Porosity"] == eff["porosity"]
    assert pe["Transport efficiency"] == eff["electrolyte_conductivity_ratio_extrapolated"]
    assert pe["Transport efficiency"] != pytest.approx(eff["porosity"] ** 1.5, rel=0.05)  # not Bruggeman's guess
    assert any("2D packing" in n for n in notes) and any("Bruggeman" in n for n in notes)  # σ_eff is a guess: said
    cell = doc["Parameterisation"]["Cell"]
    thickness = pe["Thickness [m]"]
    window = pe["Maximum stoichiometry"] - pe["Minimum stoichiometry"]
    q = eff["solid_fraction"] * thickness * pe["Maximum concentration [mol.m-3]"] * FARADAY * window  # C/m²
    assert cell["Nominal cell capacity [A.h]"] == pytest.approx(q * cell["Electrode area [m2]"] / 3600.0, rel=1e-12)


def test_kinetics_ocp_and_window_mean_the_same_as_in_microsim(filled: Path) -> None:
    """BPX's j0 = F k √((c/c0) θ(1−θ)) equals microsim's i0(θ, c0) (a factor 2 off fails); the OCP table and the
    stoichiometry window reproduce U(θ) and the cut-offs."""
    from microsim import config

    doc, _ = bpx_document(filled)
    params = resolve(config.load(filled / "config.toml"))
    pe = doc["Parameterisation"]["Positive electrode"]
    theta = np.array([0.05, 0.3, 0.5, 0.8, 0.95])
    j0 = FARADAY * pe["Reaction rate constant [mol.m-2.s-1]"] * np.sqrt(theta * (1.0 - theta))
    i0 = exchange_current_lfp(params.lfp.exchange_current_A_m2, 1.0, theta, 0.5, 0.5)
    assert np.allclose(j0, i0, rtol=1e-12)
    table = pe["OCP [V]"]
    probe = np.linspace(0.02, 0.98, 37)
    assert np.allclose(np.interp(probe, table["x"], table["y"]), params.lfp.ocp.numpy(probe), atol=2e-3)
    cell = doc["Parameterisation"]["Cell"]
    u = params.lfp.ocp.numpy(np.array([pe["Minimum stoichiometry"], pe["Maximum stoichiometry"]]))
    assert u[0] == pytest.approx(cell["Upper voltage cut-off [V]"], abs=2e-3)
    assert u[1] == pytest.approx(cell["Lower voltage cut-off [V]"], abs=2e-3)
    el = doc["Parameterisation"]["Electrolyte"]
    assert el["Conductivity [S.m-1]"] == params.electrolyte.conductivity_S_m  # constant law: a number
    user = doc["Parameterisation"]["User-defined"]
    assert user["Lithium counter electrode exchange-current density [A.m-2]"] == params.li.exchange_current_A_m2
    assert doc["Header"]["Model"] == "Partial" and "Negative electrode" not in doc["Parameterisation"]


def test_a_power_law_and_a_table_become_bpx_laws(tmp_path: Path) -> None:
    """κ = κ0 (c/c0)^n becomes an expression in x [mol/m³] that bpx evaluates to the law; a table becomes a table."""
    from bpx import Function

    run = _effective(tmp_path / "power", **{"electrolyte.conductivity_exponent": 1.5, "study.convergence_levels": 1})
    doc, _ = bpx_document(run)
    expr = doc["Parameterisation"]["Electrolyte"]["Conductivity [S.m-1]"]
    from microsim import config

    el = resolve(config.load(run / "config.toml")).electrolyte
    f = Function(expr).to_python_function()
    for c in (200.0, el.concentration_mol_m3, 1800.0):
        assert f(c) == pytest.approx(el.conductivity_S_m * (c / el.concentration_mol_m3) ** 1.5, rel=1e-12)
    run = _effective(tmp_path / "table", **{"electrolyte.table": "edman2000", "study.convergence_levels": 1})
    doc, notes = bpx_document(run)
    el = resolve(config.load(run / "config.toml")).electrolyte
    kappa = doc["Parameterisation"]["Electrolyte"]["Conductivity [S.m-1]"]
    c0 = el.concentration_mol_m3
    assert np.interp(c0, kappa["x"], kappa["y"]) == pytest.approx(el.conductivity_S_m, rel=1e-3)
    assert any("t+(c) is tabulated" in n for n in notes)


def test_the_cli_writes_a_valid_file_and_refuses_what_bpx_cannot_hold(filled: Path, tmp_path: Path, capsys) -> None:
    import bpx

    out = tmp_path / "cell.json"
    assert main(["export-bpx", str(filled), "--out", str(out)]) == 0
    parsed = bpx.parse_bpx_file(str(out))
    assert math.isclose(
        parsed.parameterisation.positive_electrode.porosity,
        json.loads((filled / "summary.json").read_text())["effective"]["porosity"],
        rel_tol=1e-12,
    )
    point = _effective(tmp_path / "point", **{"geometry.interface": "point-contact", "study.convergence_levels": 1})
    with pytest.raises(ExportError, match="only filled cells are exported"):
        bpx_document(point)
    assert main(["export-bpx", str(point), "--out", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()
    resistance = tmp_path / "resistance"
    run_study(small(), resistance, MPI.COMM_SELF)
    assert main(["export-bpx", str(resistance), "--out", str(tmp_path / "y.json")]) == 2
    err = capsys.readouterr().err
    assert "needs an effective-properties run" in err and "--set study.kind=effective" in err
    assert main(["export-bpx", str(tmp_path / "nothing"), "--out", str(tmp_path / "z.json")]) == 2
    assert "no summary" in capsys.readouterr().err
