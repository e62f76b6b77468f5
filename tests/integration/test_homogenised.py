"""The round trip (microsim.export.homogenised, `microsim compare-homogenised`): PyBaMM's half-cell DFN from the
BPX file of a filled cell against the resolved rate study of the same cell.

Where the two models are the same physics (solid diffusion fast, so the particle shape does not matter; the
electrolyte's transport efficiency and the wetted area are what the DFN is given) they must agree; with slow
solid diffusion the comparison is reported, not asserted.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")  # must precede mpi4py
pytest.importorskip("bpx")
os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")  # before PyBaMM's first import
pytest.importorskip("pybamm")
from mpi4py import MPI

from microsim.cli import main
from microsim.errors import MicrosimError
from microsim.export.bpx import export_bpx
from microsim.export.homogenised import compare, pybamm_parameters
from microsim.studies import run_study
from tests._cases import small

pytestmark = [pytest.mark.fenics]

START = {"conditions.initial_stoichiometry": 0.01}


def _cell(root: Path, **changes: Any) -> tuple[Path, Path]:
    """An effective run and its BPX file, and a rate run (0.1C, 1C) of the same small filled cell."""
    run_study(
        small(**{"study.kind": "effective", "study.convergence_levels": 1, **START, **changes}),
        root / "eff",
        MPI.COMM_SELF,
    )
    export_bpx(root / "eff", root / "cell.json")
    rate = small(**{"study.kind": "rate", "study.c_rates": [0.1, 1.0], "output.xdmf": False, **START, **changes})
    run_study(rate, root / "rate", MPI.COMM_SELF)
    return root / "rate", root / "cell.json"


def test_same_physics_same_capacity(tmp_path: Path) -> None:
    """D_s = 1e-14 m²/s (particles equilibrate): DFN and resolved capacities within 1 % at 0.1C and 1C.

    Measured on this 4 µm cell: 0.007 % (0.1C) and 0.045 % (1C); on a 5 µm-wide default-2D cell 0.46 % (0.1C) and
    0.08 % (1C, salt-limited). A factor wrong in the current, the loading, the area or the transport efficiency
    moves them by far more.
    """
    rate_dir, bpx = _cell(tmp_path, **{"parameters.lfp.diffusivity_m2_s": 1e-14})
    table = compare(rate_dir, bpx)
    ratio = table["DFN / resolved [-]"].to_numpy()
    assert np.all(np.abs(ratio - 1.0) < 0.01), table.to_string()
    assert (rate_dir / "homogenised" / "comparison.png").stat().st_size > 10_000
    curve = np.loadtxt(rate_dir / "homogenised" / "dfn_0.1C.csv", delimiter=",", skiprows=1)
    assert curve[-1, -2] == pytest.approx(3.0, abs=0.01)  # the DFN ran to the cut-off


def test_the_parameters_reproduce_the_measured_electrode(tmp_path: Path) -> None:
    """ε_s = a r/3 is the run's solid fraction; ε^b with PyBaMM's 'Bruggeman' b is the transport efficiency."""
    run_study(small(**{"study.kind": "effective", "study.convergence_levels": 1}), tmp_path / "eff", MPI.COMM_SELF)
    export_bpx(tmp_path / "eff", tmp_path / "cell.json")
    doc = json.loads((tmp_path / "cell.json").read_text())
    eff = json.loads((tmp_path / "eff" / "summary.json").read_text())["effective"]
    p = pybamm_parameters(doc, 0.01)
    assert p["Positive electrode active material volume fraction"] == pytest.approx(eff["solid_fraction"], rel=1e-12)
    b = p["Positive electrode Bruggeman coefficient (electrolyte)"]
    assert p["Positive electrode porosity"] ** b == pytest.approx(eff["electrolyte_conductivity_ratio"], rel=1e-12)
    assert p["Initial concentration in positive electrode [mol.m-3]"] == pytest.approx(0.01 * 22800.0)


def test_the_cli_reports_a_slow_diffusion_cell_and_refuses_a_wrong_folder(tmp_path: Path, capsys) -> None:
    """Default D_s: a finite table from the command line (no threshold: the two models differ there)."""
    rate_dir, bpx = _cell(tmp_path)
    assert main(["compare-homogenised", str(rate_dir), "--bpx", str(bpx), "--out", str(tmp_path / "cmp")]) == 0
    assert "note:" not in capsys.readouterr().out  # the same cell on both sides: nothing to warn about
    text = (tmp_path / "cmp" / "comparison.csv").read_text().splitlines()
    assert text[0].startswith("C-rate [1/h],Resolved capacity [mAh/g],DFN capacity [mAh/g]") and len(text) == 3
    assert all(math.isfinite(float(x)) for line in text[1:] for x in line.split(",") if x)
    assert main(["compare-homogenised", str(tmp_path / "eff"), "--bpx", str(bpx)]) == 2
    assert "needs a rate study run" in capsys.readouterr().err
    with pytest.raises(MicrosimError, match="no summary"):
        compare(tmp_path / "nothing", bpx)
    # a point-contact cell against the filled cell's BPX: a table, and the note that the DFN wets every pore
    point = small(
        **{
            "study.kind": "rate",
            "study.c_rates": [0.1],
            "output.xdmf": False,
            "geometry.interface": "point-contact",
            **START,
        }
    )
    run_study(point, tmp_path / "point", MPI.COMM_SELF)
    table = compare(tmp_path / "point", bpx)
    assert table["DFN capacity [mAh/g]"].iloc[0] > table["Resolved capacity [mAh/g]"].iloc[0]
    assert "the resolved cell is point-contact, the BPX electrode filled" in table.attrs["notes"][0]
