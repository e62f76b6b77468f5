"""The impedance study end to end: files a user gets and the ordering of the two interfaces."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

from microsim.studies.impedance import run_impedance
from tests._cases import small

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]


def test_outputs_and_interface_ordering(mpi_tmp_path) -> None:
    comm = MPI.COMM_WORLD
    f = np.logspace(4, -1, 11)
    out = {}
    for interface in ("filled", "point-contact"):
        cfg = small(**{"geometry.interface": interface, "study.kind": "impedance", "output.png": True})
        out[interface] = run_impedance(cfg, mpi_tmp_path / interface, comm, freqs=f)
    zf = np.array(out["filled"]["spectrum"]["z_real_ohm_cm2"]) + 1j * np.array(
        out["filled"]["spectrum"]["z_imag_ohm_cm2"]
    )
    zp = np.array(out["point-contact"]["spectrum"]["z_real_ohm_cm2"]) + 1j * np.array(
        out["point-contact"]["spectrum"]["z_imag_ohm_cm2"]
    )
    below_1khz = f < 1e3
    assert np.all(np.abs(zp[below_1khz]) > np.abs(zf[below_1khz]))  # issue 5 acceptance, on the small cell
    for s in out.values():
        imp = s["impedance"]
        assert imp["kramers_kronig"]["rms_residual"] < 1e-3
        assert imp["fit"]["fit_error_rms"] < 0.1
        assert imp["arcs"]["cathode_interface_ohm_cm2"] > 0 and imp["arcs"]["anode_interface_ohm_cm2"] > 0
    if comm.rank == 0:
        import impedance.preprocessing as ipp

        d = mpi_tmp_path / "filled"
        freq, z = ipp.readCSV(str(d / "impedance.csv"))
        np.testing.assert_allclose(freq[1:], f)  # row 0 is the header (NaN)
        np.testing.assert_allclose(z[1:], zf, rtol=1e-12)
        summary = json.loads((d / "summary.json").read_text())
        for key in ("high_frequency_intercept_ohm_cm2", "low_frequency_limit_ohm_cm2", "fit", "kramers_kronig", "arcs"):
            assert key in summary["impedance"]
        assert (d / "nyquist.png").stat().st_size > 1000 and (d / "bode.png").is_file()
        assert (d / "impedance_interfaces.csv").is_file()
