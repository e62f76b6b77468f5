"""Discharge protocols on small packings: conservation, capacity, cut-off landing, retries, 1 vs 2 ranks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

from microsim.constants import FARADAY
from microsim.errors import ConvergenceError
from microsim.studies.discharge import DischargeCell
from microsim.studies.rate import run_rate
from microsim.studies.stepping import Step, capacity_mAh_g
from tests._cases import small

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]


def _cfg(interface: str, **changes: object):
    base = {
        "geometry.interface": interface,
        "study.kind": "discharge",
        "conditions.initial_stoichiometry": 0.01,
        "output.xdmf": False,
    }
    base.update(changes)
    return small(**base)


def test_lithium_inventory_over_a_discharge() -> None:
    cell = DischargeCell(_cfg("filled"), MPI.COMM_WORLD)
    cell.reset()
    q0 = cell.quantities.evaluate()
    steps = [Step("cc", cell.one_c, 1.0, cutoff_V=3.0, duration_s=600.0)]
    res = cell.run(steps, None)
    q1 = cell.quantities.evaluate()
    li = (q1["lithium_solid"] + q1["lithium_electrolyte"]) - (q0["lithium_solid"] + q0["lithium_electrolyte"])
    assert res["end_reason"] == "duration"
    assert li * FARADAY == pytest.approx(cell.one_c * 600.0, rel=1e-8)
    # the breakdown closes on U(θ̄) − V
    over = res["overpotential_at_end_V"]
    parts = ("electrolyte_ohmic", "salt_depletion", "solid_diffusion", "charge_transfer", "solid_ohmic")
    assert sum(over[p] for p in parts) == pytest.approx(over["total_V"], rel=1e-6)


@pytest.mark.slow  # about 15 s serially, 40 s on 2 ranks
def test_low_rate_capacity_approaches_the_ocp_window() -> None:
    cell = DischargeCell(_cfg("filled"), MPI.COMM_WORLD)
    res = cell.run([Step("cc", 0.05 * cell.one_c, 0.05, cutoff_V=3.0)], None)
    assert res["end_reason"] == "cutoff"
    assert res["capacity_mAh_g"] == pytest.approx(cell.window_capacity_mAh_g(), rel=0.03)


def test_cutoff_landing_and_step_size_independence() -> None:
    caps = []
    for vstep in (0.004, 0.002):
        cfg = _cfg("point-contact", **{"study.voltage_step_V": vstep})
        cell = DischargeCell(cfg, MPI.COMM_WORLD)
        res = cell.run([Step("cc", 0.1 * cell.one_c, 0.1, cutoff_V=3.0)], None)
        assert res["end_reason"] == "cutoff"
        assert res["final_voltage_V"] == pytest.approx(3.0, abs=1e-4)
        caps.append(res["capacity_mAh_g"])
    # what remains is the time-discretisation error of the whole discharge, not the landing
    assert caps[0] == pytest.approx(caps[1], rel=0.02)


def test_same_capacity_on_world_and_one_rank() -> None:
    caps = []
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        cell = DischargeCell(_cfg("point-contact"), comm)
        caps.append(cell.run([Step("cc", 0.05 * cell.one_c, 0.05, cutoff_V=3.0)], None)["capacity_mAh_g"])
    assert caps[0] == pytest.approx(caps[1], rel=1e-6)


def test_failed_newton_step_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    cell = DischargeCell(_cfg("point-contact"), MPI.COMM_WORLD)
    real = cell.solver.solve
    state = {"failed": False}

    def flaky(galvanostatic: bool = True):
        if not state["failed"] and float(cell.model.dt.value) > 2.0:
            state["failed"] = True
            raise ConvergenceError("injected failure")
        return real(galvanostatic)

    monkeypatch.setattr(cell.solver, "solve", flaky)
    res = cell.run([Step("cc", 0.05 * cell.one_c, 0.05, cutoff_V=3.0)], None)
    assert state["failed"]
    assert res["steps"][0]["cutbacks"] == 1
    assert res["final_voltage_V"] == pytest.approx(3.0, abs=1e-4)


def test_rate_study_outputs(mpi_tmp_path) -> None:
    cfg = _cfg("point-contact", **{"study.kind": "rate", "study.c_rates": [0.05, 0.1], "output.xdmf": True})
    s = run_rate(cfg, mpi_tmp_path, MPI.COMM_WORLD)
    rate = s["rate"]
    assert rate["c_rates"] == [0.05, 0.1]
    assert rate["capacity_mAh_g"][0] > rate["capacity_mAh_g"][1] > 0
    assert set(rate) >= {"c_rates", "capacity_mAh_g", "c80", "c50", "limiting_mechanism", "energy_Wh_kg"}
    if MPI.COMM_WORLD.rank == 0:
        on_disk = json.loads((mpi_tmp_path / "summary.json").read_text())
        assert on_disk["rate"]["capacity_mAh_g"] == pytest.approx(rate["capacity_mAh_g"])
        run = mpi_tmp_path / "runs" / "0.05C"
        header = (run / "timeseries.csv").read_text().splitlines()[0]
        for col in ("Time [s]", "Voltage [V]", "Capacity [mAh/g]", "Solid diffusion [V]"):
            assert col in header
        # the snapshots are one time series per group: meshio's reader sees every step with every field
        import meshio

        with meshio.xdmf.TimeSeriesReader(run / "fields_series" / "particles.xdmf") as reader:
            reader.read_points_cells()
            assert reader.num_steps >= 2
            steps = [reader.read_data(k) for k in range(reader.num_steps)]
        assert [t for t, _, _ in steps] == sorted(t for t, _, _ in steps) and steps[0][0] == 0.0
        assert all(set(data) == {"phi_s_V", "theta"} for _, data, _ in steps)
        assert steps[-1][1]["theta"].mean() > steps[0][1]["theta"].mean()  # discharge lithiates the particles
        assert (run / "fields" / "particles.xdmf").is_file()
        assert (mpi_tmp_path / "rate.csv").is_file()


def test_capacity_units() -> None:
    # 1 mAh/g of 1 kg/m² of LFP is 3600 C/m²
    assert capacity_mAh_g(3600.0, 1.0) == pytest.approx(1.0)


def _planar_salt_cell(**changes: object):
    """The planar Sand's-time cell (only the salt limits: fast kinetics and solid diffusion), with ``changes``."""
    return small(
        **{
            "geometry.kind": "planar",
            "geometry.width_um": 2.0,
            "geometry.cathode_thickness_um": 11.2,
            "geometry.membrane_thickness_um": 9.5,
            "geometry.mesh_size_um": 0.5,
            "study.kind": "discharge",
            "conditions.initial_stoichiometry": 0.01,
            "parameters.lfp.exchange_current_A_m2": 1000.0,
            "parameters.li.exchange_current_A_m2": 1000.0,
            "parameters.lfp.diffusivity_m2_s": 1e-10,
            "output.xdmf": False,
            **changes,
        }
    )


def test_salt_depletion_ends_a_discharge_at_sands_time() -> None:
    """docs/model.md §4.4: above the limiting current the salt at Γ runs out; the run ends at the cut-off, at
    Sand's time, and names salt depletion as the limiting mechanism.

    Planar cell (9.5 µm PPAL membrane at 30 °C), kinetics and solid diffusion made fast so that only the salt
    limits. Twice the limiting current ``2FDc0/((1 − t+)L)``: the diffusion layer (``√(D t)`` ≈ 2 µm) stays thin
    against the membrane, so the semi-infinite result holds, ``c(Γ) = 0`` at
    ``t_Sand = π D (F c0)² / (4 (1 − t+)² I²)``.
    """
    from microsim.parameters import resolve

    cfg = _planar_salt_cell()
    el = resolve(cfg).electrolyte
    i_lim = 2 * FARADAY * el.diffusivity_m2_s * el.concentration_mol_m3 / ((1 - el.transference_number) * 9.5e-6)
    current = 2.0 * i_lim
    t_sand = (
        math.pi
        * el.diffusivity_m2_s
        * (FARADAY * el.concentration_mol_m3) ** 2
        / (4 * (1 - el.transference_number) ** 2 * current**2)
    )
    cell = DischargeCell(cfg, MPI.COMM_WORLD)
    res = cell.run([Step("cc", current, current / cell.one_c, cutoff_V=3.0)], None)
    assert res["end_reason"] == "cutoff"
    assert res["limiting_mechanism"] == "salt_depletion"
    assert res["largest_overpotential_at_end"] == "salt_depletion"  # also the largest part: only the salt limits
    assert res["overpotential_growth_V"]["salt_depletion"] > 0.4
    # where: at the cathode surface (the membrane's bottom, z = L_c), the salt all but gone there
    site = res["salt_minimum"]
    assert site["region"] == "membrane"
    assert site["position_um"][-1] == pytest.approx(11.2, abs=1e-9)
    assert site["c_min_mol_m3"] < 0.01 * el.concentration_mol_m3
    assert 0.0 < site["depleted_volume_fraction"] < 0.1  # a thin layer next to Γ
    # c/c0 changes by at most 0.19 across one element (at the Li side, where the salt piles up): resolved
    assert res["resolution_at_end"]["salt"]["max_change_per_element"] < 0.25 and res["resolution_at_end"]["resolved"]
    end_time = cell.records[-1].time_s
    assert end_time == pytest.approx(t_sand, rel=0.03)  # measured 10.77 s against 10.61 s (1.5 % late)
    over = res["overpotential_at_end_V"]
    parts = ("electrolyte_ohmic", "salt_depletion", "solid_diffusion", "charge_transfer", "solid_ohmic")
    assert sum(over[p] for p in parts) == pytest.approx(over["total_V"], rel=1e-9)  # exact at every instant
    # the salt's effect on the kinetics (i0 ∝ c^α_a) is part of salt depletion, and has its sign
    assert 0.0 < over["salt_depletion_kinetic"] < over["salt_depletion"]
    early = cell.records[1].extra  # one second in: the ohmic drop is the membrane's L/κ
    assert early["electrolyte_ohmic"] == pytest.approx(current * 9.5e-6 / el.conductivity_S_m, rel=0.01)


def test_a_salt_layer_under_three_elements_is_reported_after_the_run() -> None:
    """The Sand's-time cell on a 1.9 µm bulk mesh: c/c0 changes by about 0.5 across an element next to the Li metal
    (the salt piles up there); the run warns and says where, though the estimate before it (√(D · 1 h/C)) passed.

    Measured: Sand's time 0.6 % late at h = 0.5 µm (largest change 0.19), 0.9 % at 1.0 (0.35), 1.2 % at 1.9 (0.54).
    """
    from microsim.parameters import resolve

    cfg = _planar_salt_cell(**{"geometry.mesh_size_um": 1.9})
    el = resolve(cfg).electrolyte
    i_lim = 2 * FARADAY * el.diffusivity_m2_s * el.concentration_mol_m3 / ((1 - el.transference_number) * 9.5e-6)
    cell = DischargeCell(cfg, MPI.COMM_WORLD)
    assert cell.resolution["salt_diffusion"]["resolved"] is True
    with pytest.warns(UserWarning, match=r"the salt concentration c/c0 changes by 0\.5\d of its scale"):
        res = cell.run([Step("cc", 2.0 * i_lim, 2.0 * i_lim / cell.one_c, cutoff_V=3.0)], None)
    salt = res["resolution_at_end"]["salt"]
    assert salt["resolved"] is False and res["resolution_at_end"]["resolved"] is False
    assert 11.2 + 4.75 < salt["position_um"][-1] < 20.7  # the membrane's upper half, by the Li metal
    assert "refine geometry.interface_mesh_size_um and geometry.mesh_size_um" in salt["note"]
    cell.destroy()


def test_above_the_limiting_current_a_table_law_depletes_cleanly(mpi_tmp_path) -> None:
    """docs/model.md §2.2, §4.4: at 1.5 i_lim with tabulated κ(c), t+(c) (a table from c = 0) the salt at Γ runs out;
    the run ends at the cut-off with salt depletion limiting, every number finite, the breakdown with B(c) closed.

    The t+ i_e flux of the salt equation is written relative to t+ at the table's lowest c (model.md §2.2): with
    t+ itself in the bulk, i_e's β∇c/c makes it blow up as the salt runs out, and Newton stalled below c/c0 ≈ 1e-6
    before the cut-off (at 17.7 s). Measured: 18.1 s, salt depletion 0.42 V of 0.42 V, c_min 0.21 mol/m³.
    """
    from microsim.parameters import resolve

    table = mpi_tmp_path / "from_zero.csv"
    if MPI.COMM_WORLD.rank == 0:
        rows = "\n".join(
            f"{c:.6g},{0.3 + 0.7 * c / 2200:.6g},{0.1 + 0.1 * c / 1100:.6g}"
            for c in (0, 200, 500, 800, 1100, 1600, 2200, 3000)
        )
        table.write_text("c_mol_m3,conductivity_S_m,transference_number\n" + rows + "\n", encoding="utf-8")
    MPI.COMM_WORLD.barrier()
    cfg = _planar_salt_cell(**{"electrolyte.table": str(table)})
    el = resolve(cfg).electrolyte
    t_plus0 = 0.2  # the table's t+ at c0 = 1100 mol/m³
    i_lim = 2 * FARADAY * el.diffusivity_m2_s * el.concentration_mol_m3 / ((1 - t_plus0) * 9.5e-6)
    current = 1.5 * i_lim
    cell = DischargeCell(cfg, MPI.COMM_WORLD)
    assert cell.model.B_c is not None and cell.model.t_plus_c is not None
    res = cell.run([Step("cc", current, current / cell.one_c, cutoff_V=3.0)], None)
    assert res["end_reason"] == "cutoff"
    assert res["limiting_mechanism"] == "salt_depletion"
    over = res["overpotential_at_end_V"]
    assert all(math.isfinite(v) for v in over.values()), over
    assert all(math.isfinite(r.voltage_V) for r in cell.records)
    parts = ("electrolyte_ohmic", "salt_depletion", "solid_diffusion", "charge_transfer", "solid_ohmic")
    assert sum(over[p] for p in parts) == pytest.approx(over["total_V"], rel=1e-9)
    assert res["state_at_end"]["c_min_mol_m3"] < 1e-3 * el.concentration_mol_m3  # measured 1.9e-4 of c0
    assert over["salt_depletion"] > 0.8 * over["total_V"]  # measured 0.420 V of 0.423 V


def test_leaving_the_table_stops_the_run() -> None:
    """The Edman table starts at 742 mol/m³: a depleting cell leaves it, and the run stops with the reason."""
    from microsim.errors import TableRangeError
    from microsim.parameters import resolve

    cfg = _planar_salt_cell(**{"electrolyte.table": "edman2000"})
    el = resolve(cfg).electrolyte
    current = 3 * FARADAY * el.diffusivity_m2_s * el.concentration_mol_m3 / ((1 - 0.27) * 9.5e-6)
    cell = DischargeCell(cfg, MPI.COMM_WORLD)
    with pytest.raises(TableRangeError, match=r"outside electrolyte.table = 'edman2000'.*\[742, 2982\].*c → 0") as info:
        cell.run([Step("cc", current, current / cell.one_c, cutoff_V=3.0)], None)
    reached = float(str(info.value).split("reached ")[1].split(" mol")[0])
    assert 600.0 < reached < 742.0  # stopped at the first accepted state outside, not after sliding far below


def test_power_laws_deplete_to_the_cutoff_without_nan() -> None:
    """docs/model.md §2.2: with κ ∝ c and D ∝ c^0.5 (both vanish with the salt, floored at c/c0 = 1e-8) a
    discharge at 1.5 i_lim ends at the 3.0 V cut-off naming salt depletion, every number finite.

    Measured: 10.9 s, salt depletion 0.84 V of 0.44 V total (the ohmic part −0.40 V: the P1 symptom of depletion,
    docs/model.md §4.4), c_min 7e-4 mol/m³.
    """
    from microsim.parameters import resolve

    cfg = _planar_salt_cell(**{"electrolyte.conductivity_exponent": 1.0, "electrolyte.diffusivity_exponent": 0.5})
    el = resolve(cfg).electrolyte
    current = (
        1.5 * 2 * FARADAY * el.diffusivity_m2_s * el.concentration_mol_m3 / ((1 - el.transference_number) * 9.5e-6)
    )
    cell = DischargeCell(cfg, MPI.COMM_WORLD)
    res = cell.run([Step("cc", current, current / cell.one_c, cutoff_V=3.0)], None)
    assert res["end_reason"] == "cutoff" and res["limiting_mechanism"] == "salt_depletion"
    over = res["overpotential_at_end_V"]
    assert all(math.isfinite(v) for v in over.values()), over
    assert all(math.isfinite(r.voltage_V) and math.isfinite(r.extra["salt_depletion"]) for r in cell.records)
    parts = ("electrolyte_ohmic", "salt_depletion", "solid_diffusion", "charge_transfer", "solid_ohmic")
    assert sum(over[p] for p in parts) == pytest.approx(over["total_V"], rel=1e-9)
    assert res["state_at_end"]["c_min_mol_m3"] < 1e-3 * el.concentration_mol_m3


def test_a_discharge_from_part_lithiated_says_so() -> None:
    """θ0 = 0.5 (the default, right for a resistance) caps a discharge at half the window: warned and recorded."""
    with pytest.warns(UserWarning, match=r"initial_stoichiometry = 0\.5: the discharge starts 50 % lithiated"):
        cell = DischargeCell(_cfg("filled", **{"conditions.initial_stoichiometry": 0.5}), MPI.COMM_WORLD)
    note = cell.base_summary("discharge")["initial_state_note"]
    half, full = cell.window_capacity_mAh_g(), cell.window_capacity_mAh_g(0.0)
    assert half == pytest.approx(full - 0.5 * cell.params.lfp.capacity_mAh_g, rel=1e-6)
    assert f"at most {half:.0f} of the {full:.0f} mAh/g" in note and "0.01 to start charged" in note
    cell.destroy()
    charged = DischargeCell(_cfg("filled", **{"conditions.initial_stoichiometry": 0.01}), MPI.COMM_WORLD)
    assert charged.base_summary("discharge")["initial_state_note"] is None
    charged.destroy()


def test_the_final_fields_carry_the_end_time(mpi_tmp_path) -> None:
    import re

    from microsim.studies import run_study

    cfg = _cfg("filled", **{"output.xdmf": True, "study.c_rate": 2.0, "study.snapshots": 0})
    summary = run_study(cfg, mpi_tmp_path, MPI.COMM_WORLD)
    t_end = summary["discharge"]["final_time_s"]
    path = mpi_tmp_path / "fields" / "particles.xdmf"
    (stamp,) = re.findall(r'<Grid Name="t = ([^ ]+) s"', path.read_text())
    assert float(stamp) == pytest.approx(t_end, rel=1e-6) and t_end > 0
    # one grid with every function: meshio reads it as written (DOLFINx's own layout it refuses)
    import meshio

    mesh = meshio.read(path)
    assert {"theta", "phi_s_V"} <= set(mesh.point_data) and mesh.points.shape[0] > 0
    assert np.all((mesh.point_data["theta"] >= 0) & (mesh.point_data["theta"] <= 1))


def test_a_fast_discharge_on_a_coarse_surface_mesh_says_so() -> None:
    """√(D_s · 1 h/C) against the interface element size: unresolved at 20C, resolved at 0.1C and when refined."""
    import math

    fast = {"study.c_rate": 20.0, "parameters.lfp.diffusivity_m2_s": 1e-16}
    with pytest.warns(UserWarning, match=r"at 20C the solid-diffusion layer sqrt\(D t\) = 0\.134 µm spans 1\.1 "):
        cell = DischargeCell(_cfg("filled", **fast), MPI.COMM_WORLD)
    res = cell.base_summary("discharge")["resolution"]
    solid = res["solid_diffusion"]
    assert solid["layer_um"] == pytest.approx(math.sqrt(1e-16 * 180.0) * 1e6, rel=1e-12)
    assert res["resolved"] is False and solid["resolved"] is False and solid["mesh_um"] == 0.125
    assert "interface_mesh_size_um <=" in solid["note"] and "not converged in the mesh" in solid["note"]
    # the salt's layer over the same 3 minutes, √(D t) with the electrolyte's D, is deep: resolved
    salt = res["salt_diffusion"]
    assert salt["layer_um"] == pytest.approx(math.sqrt(cell.params.electrolyte.diffusivity_m2_s * 180.0) * 1e6)
    assert salt["resolved"] is True
    cell.destroy()
    for changes in ({"study.c_rate": 0.1}, {**fast, "geometry.interface_mesh_size_um": 0.04}):
        cell = DischargeCell(_cfg("filled", **changes), MPI.COMM_WORLD)
        assert cell.resolution["solid_diffusion"]["resolved"] is True and "note" not in cell.resolution
        assert cell.base_summary("discharge")["resolution"]["resolved"] is True
        cell.destroy()
