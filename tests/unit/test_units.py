"""Units read back from output names (microsim.post.units)."""

from __future__ import annotations

import pytest

from microsim.post.units import column_unit, label, unit_of, unit_of_path


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("capacity_mAh_g", "mAh/g"),
        ("interface_area_um2", "µm²"),  # not µm: the longer suffix wins
        ("position_um", "µm"),
        ("temperature_C", "°C"),
        ("specific_interface_area_m2_m3", "m²/m³"),
        ("anode_measure_um", "µm^(d-1)"),
        ("particle_measure", "µm^d"),
        ("n_cells", "-"),
        ("newton_iterations", "-"),
        ("active_fraction", "-"),
        ("theta_surface", "-"),
        ("c80", "-"),
        ("total", None),
        ("interface", None),
        ("_V", None),  # a bare suffix is no name
    ],
)
def test_unit_of_a_name(name: str, unit: str | None) -> None:
    assert unit_of(name) == unit


def test_a_key_inherits_its_blocks_unit_unless_it_has_its_own() -> None:
    assert unit_of_path("resistance_ohm_cm2.total") == "Ω·cm²"
    assert unit_of_path("rate.overpotential_at_cutoff_V[].salt_depletion") == "V"
    assert unit_of_path("impedance.at.0.1_Hz.real_ohm_cm2") == "Ω·cm²"
    assert unit_of_path("state_at_end.c_min_mol_m3") == "mol/m³"
    assert unit_of_path("geometry.kind") is None


def test_csv_columns_and_labels() -> None:
    assert column_unit("Minimum salt concentration at cut-off [mol/m3]") == "mol/m3"
    assert column_unit("z_real_ohm_cm2") == "Ω·cm²"
    assert column_unit("Newton iterations") == "-"
    assert column_unit("Limiting mechanism") is None
    assert label("phi_e_V") == "phi_e [V]" and label("theta") == "theta"
