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


def _p1_integral(mesh, values) -> complex:
    """∫ values dA over a P1 triangle mesh (exact for P1: the vertex mean times the area), coordinates in m."""
    tri = mesh.cells[0].data
    pts = mesh.points[:, :2] * 1e-6
    a, b = pts[tri[:, 1]] - pts[tri[:, 0]], pts[tri[:, 2]] - pts[tri[:, 0]]
    area = 0.5 * np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    return complex((area * values[tri].mean(axis=1)).sum())


def test_small_signal_fields_at_the_arc_apexes(mpi_tmp_path, monkeypatch) -> None:
    """The written small-signal fields, per 1 A/m² applied, reproduce Z, each interface's part and Li balance.

    Planar cell, so the interfaces are uniform: at the collector δφ_s = δV = −Z·δI; at the Li metal δφ_e =
    −Z_Li·δI; across Γ δφ_s − δφ_e = −Z_Γ·δI. At 1 mHz the double layer carries nothing, so the lithium the
    particles take up, jω F c_max ∫δθ dA / W, is the applied 1 A/m².
    """
    import microsim.studies.impedance as impedance_study

    comm = MPI.COMM_WORLD
    real_apexes = impedance_study.apex_frequencies
    monkeypatch.setattr(impedance_study, "apex_frequencies", lambda a: {**real_apexes(a), "slow": 1e-3})
    cfg = small(**{"geometry.kind": "planar", "study.kind": "impedance", "output.xdmf": True})
    f = np.logspace(4, -3, 15)
    s = run_impedance(cfg, mpi_tmp_path, comm, freqs=f)
    written = s["impedance"]["small_signal_fields_Hz"]
    assert set(written) == {"cathode_arc", "anode_arc", "slow"}
    assert written["cathode_arc"] == s["impedance"]["arcs"]["cathode_apex_frequency_Hz"]
    if comm.rank != 0:
        return
    import meshio
    import pandas as pd

    z = np.array(s["spectrum"]["z_real_ohm_cm2"]) + 1j * np.array(s["spectrum"]["z_imag_ohm_cm2"])
    parts = pd.read_csv(mpi_tmp_path / "impedance_interfaces.csv")
    z_gamma = (parts["cathode_interface_real_ohm_cm2"] + 1j * parts["cathode_interface_imag_ohm_cm2"]).to_numpy()
    z_li = (parts["anode_interface_real_ohm_cm2"] + 1j * parts["anode_interface_imag_ohm_cm2"]).to_numpy()
    folder = mpi_tmp_path / "fields_small_signal"
    c_max = s["parameters"]["lfp.c_max_mol_m3"]
    width_m = cfg.geometry.width_um * 1e-6
    for label, fr in written.items():
        k = int(np.argmin(np.abs(np.log(f / fr))))
        to_si = 1e-4  # Ω·cm² -> V per A/m²
        e = meshio.read(folder / f"electrolyte_{label}.xdmf")
        p = meshio.read(folder / f"particles_{label}.xdmf")
        assert set(e.point_data) == {"dphi_e_re_V", "dphi_e_im_V", "dc_re_mol_m3", "dc_im_mol_m3"}
        assert set(p.point_data) == {"dphi_s_re_V", "dphi_s_im_V", "dtheta_re", "dtheta_im"}

        phi_s = p.point_data["dphi_s_re_V"].ravel() + 1j * p.point_data["dphi_s_im_V"].ravel()
        phi_e = e.point_data["dphi_e_re_V"].ravel() + 1j * e.point_data["dphi_e_im_V"].ravel()
        y_p, y_e = p.points[:, 1], e.points[:, 1]
        collector = np.isclose(y_p, 0.0)
        li_metal = np.isclose(y_e, y_e.max())
        gamma_s, gamma_e = np.isclose(y_p, y_p.max()), np.isclose(y_e, y_e.min())
        np.testing.assert_allclose(phi_s[collector], -z[k] * to_si, rtol=1e-6)
        np.testing.assert_allclose(phi_e[li_metal], -z_li[k] * to_si, rtol=1e-3)
        np.testing.assert_allclose(phi_s[gamma_s].mean() - phi_e[gamma_e].mean(), -z_gamma[k] * to_si, rtol=1e-3)
        if label == "slow":
            theta = p.point_data["dtheta_re"].ravel() + 1j * p.point_data["dtheta_im"].ravel()
            uptake = 1j * 2 * np.pi * fr * 96485.33212 * c_max * _p1_integral(p, theta) / width_m
            assert abs(uptake - 1.0) < 1e-3  # A/m²: discharge (positive) current lithiates the particles
