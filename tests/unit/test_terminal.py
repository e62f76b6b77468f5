"""What `microsim run` prints at the end (microsim.post.terminal): each study's numbers, with units."""

from __future__ import annotations

from typing import Any

from microsim.post.terminal import FORMATTERS, format_result

HEAD = {"interface": "filled", "electrolyte": "PPAL", "temperature_C": 30.0, "dim": 3, "n_cells": 1000, "n_ranks": 2}


def _row(text: str, start: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if ln.startswith(start))
    return line[len(start) :].split()


def test_every_study_kind_has_a_formatter() -> None:
    from microsim.config import STUDY_REGISTRY

    assert set(STUDY_REGISTRY) <= set(FORMATTERS)


def test_rate_table() -> None:
    s: dict[str, Any] = {
        **HEAD,
        "study": "rate",
        "wall_time_s": 12.0,
        "rate": {
            "c_rates": [0.1, 0.5],
            "capacity_mAh_g": [158.56, 33.91],
            "energy_Wh_kg": [526.5, 100.2],
            "mean_voltage_V": [3.3204, 3.101],
            "limiting_mechanism": ["solid_diffusion", "salt_depletion"],
            "end_reason": ["cutoff", "cutoff"],
            "c80": 0.21,
            "c50": None,
            "failed": {},
            "pending": [],
        },
    }
    text = format_result(s)
    assert text.startswith("rate study, filled, PPAL, 30 °C, 3D, 1000 cells on 2 rank(s), 12 s")
    assert "C-rate  capacity [mAh/g]  energy [Wh/kg]  mean voltage [V]" in text
    assert _row(text, "0.1C") == ["158.6", "526.5", "3.3204", "solid_diffusion", "cutoff"]
    assert _row(text, "0.5C") == ["33.91", "100.2", "3.1010", "salt_depletion", "cutoff"]
    assert "C80 = 0.21, C50 = n/a" in text


def test_impedance_table() -> None:
    s = {
        **HEAD,
        "study": "impedance",
        "impedance": {
            "n_frequencies": 3,
            "frequency_range_Hz": [0.01, 1e6],
            "high_frequency_intercept_ohm_cm2": 10.7,
            "low_frequency_limit_ohm_cm2": {"real": 4000.0, "imag": -413.0},
            "arcs": {"cathode_interface_ohm_cm2": 3040.0, "anode_interface_ohm_cm2": 891.7,
                     "cathode_apex_frequency_Hz": 0.3162, "anode_apex_frequency_Hz": 19.95},
            "at": {"0.1_Hz": {"abs_ohm_cm2": 3619.0}},
        },
    }  # fmt: skip
    text = format_result(s)
    assert _row(text, "high-frequency intercept [Ω·cm²]") == ["10.7"]
    assert _row(text, "Li metal interface arc [Ω·cm²]") == ["891.7"]
    assert _row(text, "lowest-frequency -Z'' [Ω·cm²]") == ["413"]  # the sign of -Z''
    assert _row(text, "|Z| at 0.1 Hz [Ω·cm²]") == ["3619"]


def test_discharge_losses_are_in_millivolts() -> None:
    s = {
        **HEAD,
        "study": "discharge",
        "discharge": {
            "steps": [{"label": "CC discharge 0.1C", "capacity_mAh_g": 158.6, "energy_Wh_kg": 526.5,
                       "mean_voltage_V": 3.32, "final_voltage_V": 3.0, "end_reason": "cutoff"}],
            "limiting_mechanism": "solid_diffusion",
            "largest_overpotential_at_end": "charge_transfer",
            "overpotential_at_end_V": {"salt_depletion": 0.0083, "solid_diffusion": 0.0676},
            "salt_minimum": {"c_min_mol_m3": 885.6, "region": "cathode pores"},
        },
    }  # fmt: skip
    text = format_result(s)
    assert _row(text, "CC discharge 0.1C") == ["158.6", "526.5", "3.3200", "3.0000", "cutoff"]
    assert "salt depletion 8.3, solid diffusion 67.6" in text and "[mV]" in text
    assert "885.6 mol/m³ in the cathode pores" in text


def test_resistance_and_effective_and_unknown() -> None:
    s = {**HEAD, "study": "resistance", "resistance_ohm_cm2": {"total": 1921.0, "membrane": 17.05}}
    text = format_result(s)
    assert _row(text, "total (V_eq - V)/I [Ω·cm²]") == ["1921"] and _row(text, "membrane (ohmic) [Ω·cm²]") == ["17.05"]
    eff = {
        "porosity": 0.5533,
        "tortuosity": 2.54,
        "electrolyte_conductivity_ratio_extrapolated": 0.2143,
        "electrolyte_conductivity_ratio_error_estimate": 2.5e-4,
    }
    e = {**HEAD, "study": "effective", "effective": eff}
    text = format_result(e)
    assert _row(text, "porosity [-]") == ["0.5533"] and _row(text, "κ_eff / κ, mesh-extrapolated [-]") == [
        "0.2143", "±", "0.00025"
    ]  # fmt: skip
    other = format_result({**HEAD, "study": "new-kind", "answer_V": 3.2, "nested": {"x": 1}})
    assert _row(other, "answer_V") == ["3.2"] and "nested" not in other


def test_mesh_notes_follow_the_answer_once_each() -> None:
    """Every failed resolution check's note is printed after the tables, once, with the knob (docs/outputs.md §2.7)."""
    solid = {"resolved": False, "note": "at 1C the solid-diffusion layer ... set geometry.interface_mesh_size_um"}
    salt = {"resolved": False, "note": "the salt concentration c/c0 changes by 0.5 ..."}
    s: dict[str, Any] = {
        **HEAD,
        "study": "rate",
        "resolution": {"fastest_c_rate": 1.0, "solid_diffusion": solid, "salt_diffusion": {"resolved": True}},
        "wall_time_s": 12.0,
        "rate": {
            "c_rates": [0.1, 1.0],
            "capacity_mAh_g": [150.0, 20.0],
            "energy_Wh_kg": [500.0, 60.0],
            "mean_voltage_V": [3.3, 3.0],
            "limiting_mechanism": ["solid_diffusion", "salt_depletion"],
            "end_reason": ["cutoff", "cutoff"],
            "c80": 0.2,
            "c50": 0.5,
            "failed": {},
            "pending": [],
            "resolution_at_cutoff": [{"salt": {"resolved": True}}, {"salt": salt, "resolved": False}],
        },
    }
    text = format_result(s)
    lines = [ln for ln in text.splitlines() if ln.startswith("mesh: ")]
    assert lines == [f"mesh: {solid['note']}", f"mesh: {salt['note']}"]
    s["rate"]["resolution_at_cutoff"].append({"salt": salt})  # a second rate with the same note: still once
    assert format_result(s).count(salt["note"]) == 1
    assert "mesh: " not in format_result({**HEAD, "study": "resistance", "resistance_ohm_cm2": {}})
