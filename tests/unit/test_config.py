"""Configuration: defaults, validation messages, overrides, TOML round trip (no DOLFINx needed)."""

from __future__ import annotations

import pickle
import tomllib
from pathlib import Path

import pytest

from microsim import config
from microsim.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
GEOMETRIES = REPO / "geometries"


def error_of(d: dict, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        config.from_dict(d, **kwargs)
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    return message


def test_defaults_validate() -> None:
    cfg = config.default()
    assert cfg == config.from_dict({})
    assert cfg.geometry.kind == "packing" and cfg.geometry.dim == 2 and cfg.geometry.interface == "filled"
    assert cfg.geometry.interface_mesh_size_um == pytest.approx(cfg.geometry.mesh_size_um / 2)
    assert cfg.electrolyte.name == "PPAL" and cfg.conditions.temperature_C == 30.0
    assert cfg.parameters == {} and cfg.source is None
    assert cfg.study.kind in config.STUDY_KINDS
    assert hash(cfg) == hash(config.default())


# sweep-*.toml are sweep files (microsim sweep), not cases; tests/unit/test_sweep.py loads them.
@pytest.mark.parametrize(
    "path", sorted(p for p in GEOMETRIES.glob("*.toml") if not p.name.startswith("sweep-")), ids=lambda p: p.name
)
def test_bundled_cases_load(path: Path) -> None:
    cfg = config.load(path)
    assert cfg.source == path.resolve()


def test_default_case_is_ppal_30c_packing_filled() -> None:
    cfg = config.load(GEOMETRIES / "default-2d.toml")
    assert (cfg.electrolyte.name, cfg.conditions.temperature_C) == ("PPAL", 30.0)
    assert (cfg.geometry.kind, cfg.geometry.dim, cfg.geometry.interface) == ("packing", 2, "filled")
    assert config.load(GEOMETRIES / "planar-2d.toml").geometry.kind == "planar"


def test_unknown_key_suggests_close_match() -> None:
    message = error_of({"geometry": {"widht_um": 20}})
    assert message == "unknown key 'geometry.widht_um' (did you mean 'geometry.width_um'?)"


def test_unknown_section_suggests_close_match() -> None:
    message = error_of({"geomtry": {"width_um": 20}})
    assert "unknown section '[geomtry]'" in message and "'[geometry]'" in message


def test_unknown_parameter_name_suggests_close_match() -> None:
    message = error_of({"parameters": {"lfp.exchange_curent_A_m2": 0.1}})
    assert "parameters.lfp.exchange_curent_A_m2" in message
    assert "did you mean 'parameters.lfp.exchange_current_A_m2'" in message


@pytest.mark.parametrize(
    ("section", "key", "value", "shown"),
    [
        ("geometry", "width_um", "ten", "'ten'"),
        ("geometry", "width_um", True, "true"),
        ("conditions", "temperature_C", False, "false"),
        ("solver", "newton_max_iterations", 2.5, "2.5"),
        ("geometry", "seed", 1.0, "1.0"),
        ("output", "png", 1, "1"),
        ("geometry", "kind", 3, "3"),
    ],
)
def test_wrong_type(section: str, key: str, value: object, shown: str) -> None:
    message = error_of({section: {key: value}})
    assert message.startswith(f"{section}.{key} = {shown}: must be")


def test_int_accepted_for_float() -> None:
    cfg = config.from_dict({"geometry": {"width_um": 20}})
    assert cfg.geometry.width_um == 20.0 and isinstance(cfg.geometry.width_um, float)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cathode_thickness_um", 0),
        ("membrane_thickness_um", -1.0),
        ("width_um", 0.0),
        ("radius_mean_um", 0),
        ("radius_mean_um", -0.5),
        ("contact_radius_um", 0.0),
    ],
)
def test_non_positive_lengths(key: str, value: float) -> None:
    assert error_of({"geometry": {key: value}}) == f"geometry.{key} = {value!r}: must be > 0"


def test_temperature_below_absolute_zero() -> None:
    message = error_of({"conditions": {"temperature_C": -300.0}})
    assert message.startswith("conditions.temperature_C = -300.0: must be in (-273.15, 200)")


def test_temperature_sanity_bound_is_explained() -> None:
    message = error_of({"conditions": {"temperature_C": 250}})
    assert "conditions.temperature_C = 250" in message and "sanity" in message


@pytest.mark.parametrize("value", [0.0, 0.9, 0.95, -0.1])
def test_active_fraction_range(value: float) -> None:
    assert error_of({"geometry": {"active_fraction": value}}) == (
        f"geometry.active_fraction = {value!r}: must be in (0, 0.9)"
    )


def test_choices_with_suggestion() -> None:
    message = error_of({"geometry": {"interface": "point_contact"}})
    assert "geometry.interface = 'point_contact'" in message and "did you mean 'point-contact'" in message


def test_current_density_and_c_rate_not_both() -> None:
    message = error_of({"study": {"current_density_A_m2": 1.0, "c_rate": 0.1}})
    assert "study.c_rate = 0.1" in message and "study.current_density_A_m2" in message and "not both" in message


def test_potentiostatic_needs_voltage() -> None:
    message = error_of({"study": {"mode": "potentiostatic"}})
    assert message.startswith("study.voltage_V: required") and "(2, 4.5)" in message
    cfg = config.from_dict({"study": {"mode": "potentiostatic", "voltage_V": 3.3}})
    assert cfg.study.voltage_V == 3.3


def test_voltage_only_when_potentiostatic() -> None:
    assert "study.voltage_V = 3.3" in error_of({"study": {"voltage_V": 3.3}})
    assert "must be in (2, 4.5)" in error_of({"study": {"mode": "potentiostatic", "voltage_V": 5.0}})


def test_particles_file_required(tmp_path: Path) -> None:
    message = error_of({"geometry": {"kind": "particles-file"}})
    assert message.startswith("geometry.particles_file = '': required")


def test_particles_file_missing(tmp_path: Path) -> None:
    message = error_of({"geometry": {"kind": "particles-file", "particles_file": "nope.csv"}}, base_dir=tmp_path)
    assert "geometry.particles_file" in message and "nope.csv" in message and "not found" in message


def test_particles_file_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "parts.csv").write_text("x,y,r\n1,1,0.5\n")
    (tmp_path / "case.toml").write_text('[geometry]\nkind = "particles-file"\nparticles_file = "parts.csv"\n')
    cfg = config.load(tmp_path / "case.toml")
    assert Path(cfg.geometry.particles_file) == (tmp_path / "parts.csv").resolve()


def test_cross_checks() -> None:
    assert "2*radius_mean_um must be < geometry.cathode_thickness_um" in error_of({"geometry": {"radius_mean_um": 6.0}})
    assert error_of({"geometry": {"mesh_size_um": 9.5}}).startswith("geometry.mesh_size_um = 9.5: must be < 9.5")


def test_single_ion_transference() -> None:
    assert "electrolyte.transference_number = 0.3" in error_of(
        {"electrolyte": {"model": "single-ion", "transference_number": 0.3}}
    )


def test_solver_tolerance_range() -> None:
    assert error_of({"solver": {"newton_tolerance": 0.01}}) == "solver.newton_tolerance = 0.01: must be in (0, 0.001]"


def test_non_finite_rejected() -> None:
    assert "must be a finite number" in error_of({"geometry": {"width_um": float("inf")}})


def test_parameters_nested_and_dotted_normalise() -> None:
    nested = config.from_dict({"parameters": {"lfp": {"exchange_current_A_m2": 0.05}}})
    dotted = config.from_dict({"parameters": {"lfp.exchange_current_A_m2": 0.05}})
    assert nested.parameters == dotted.parameters == {"lfp.exchange_current_A_m2": 0.05}
    assert "given twice" in error_of({"parameters": {"lfp": {"alpha_a": 0.5}, "lfp.alpha_a": 0.4}})


def test_parameter_override_values_checked() -> None:
    assert error_of({"parameters": {"li.alpha": 1.5}}) == "parameters.li.alpha = 1.5: must be in (0, 1)"
    assert "parameters.lfp.conductivity_S_m = true" in error_of({"parameters": {"lfp.conductivity_S_m": True}})
    assert "unknown name '__import__'" in error_of({"parameters": {"lfp.ocp": "__import__"}})
    assert "parameters.lfp.ocp" in error_of({"parameters": {"lfp.ocp": "__import__('os').system('true')"}})
    assert "parameters.lfp.ocp = 3" in error_of({"parameters": {"lfp.ocp": 3}})


def test_set_override_applies(tmp_path: Path) -> None:
    cfg = config.load(GEOMETRIES / "default-2d.toml", overrides=["geometry.width_um=20"])
    assert cfg.geometry.width_um == 20.0
    cfg = config.load(
        GEOMETRIES / "default-2d.toml",
        overrides=[
            "geometry.interface=point-contact",
            "output.png=false",
            "parameters.lfp.ocp=3.4 - 0.1*x",
            "parameters.lfp.exchange_current_A_m2=0.1",
        ],
    )
    assert cfg.geometry.interface == "point-contact" and cfg.output.png is False
    assert cfg.parameters == {"lfp.ocp": "3.4 - 0.1*x", "lfp.exchange_current_A_m2": 0.1}


@pytest.mark.parametrize(("item", "needle"), [("foo", "--set 'foo'"), ("width_um=3", "SECTION.KEY")])
def test_bad_set_syntax(item: str, needle: str) -> None:
    with pytest.raises(ConfigError, match="--set") as info:
        config.apply_overrides({}, [item])
    assert needle in str(info.value)


def test_bad_set_value_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"geometry.width_um = 'wide': must be a number"):
        config.from_dict(config.apply_overrides({}, ["geometry.width_um=wide"]))


def test_apply_overrides_does_not_mutate() -> None:
    d = {"geometry": {"width_um": 10.0}}
    config.apply_overrides(d, ["geometry.width_um=20"])
    assert d == {"geometry": {"width_um": 10.0}}


def test_replace_is_validated() -> None:
    cfg = config.default()
    point = config.replace(cfg, **{"geometry.interface": "point-contact"})
    assert point.geometry.interface == "point-contact" and cfg.geometry.interface == "filled"
    assert point != cfg
    with pytest.raises(ConfigError, match=r"geometry\.active_fraction"):
        config.replace(cfg, **{"geometry.active_fraction": 1.2})
    # The interface mesh size follows the mesh size unless it was set.
    assert config.replace(cfg, **{"geometry.mesh_size_um": 0.4}).geometry.interface_mesh_size_um == 0.2


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[geometry\nwidth_um = 3\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        config.load(bad)


def test_dumps_round_trips(tmp_path: Path) -> None:
    cfg = config.from_dict(
        {
            "geometry": {"width_um": 12.5, "interface_mesh_size_um": 0.05, "seed": 7},
            "electrolyte": {"name": "PAL", "conductivity_S_m": 1e-3},
            "conditions": {"temperature_C": 50},
            "parameters": {"lfp": {"exchange_current_A_m2": 0.02, "ocp": "3.4 - 0.1*tanh(x)"}},
            "study": {"c_rate": 0.1},
            "output": {"xdmf": False},
        }
    )
    text = config.dumps(cfg)
    tomllib.loads(text)
    path = tmp_path / "dumped.toml"
    path.write_text(text)
    assert config.load(path) == cfg
    default_path = tmp_path / "default.toml"
    default_path.write_text(config.dumps(config.default()))
    assert config.load(default_path) == config.default()


def test_to_dict_omits_none() -> None:
    d = config.to_dict(config.default())
    assert "conductivity_S_m" not in d["electrolyte"] and "voltage_V" not in d["study"]
    assert all(v is not None for table in d.values() for v in table.values())


def test_config_is_frozen_and_picklable() -> None:
    cfg = config.default()
    with pytest.raises(AttributeError):
        cfg.geometry.width_um = 3.0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(cfg)) == cfg


def test_size_guards_name_the_fields() -> None:
    """Typos that would ask for billions of cells or particles are refused before anything is built."""
    from microsim.errors import GeometryError
    from microsim.geometry import describe

    with pytest.raises(ConfigError, match=r"geometry\.mesh_size_um = 1e-05.*cells"):
        config.replace(config.default(), **{"geometry.mesh_size_um": 1e-5})
    with pytest.raises(ConfigError, match=r"geometry\.interface_mesh_size_um = 0\.0001"):
        config.replace(config.default(), **{"geometry.interface_mesh_size_um": 1e-4})
    # a locally refined interface is fine even when its size would be absurd for the whole box
    config.replace(config.default(), **{"geometry.interface_mesh_size_um": 0.005})
    with pytest.raises(GeometryError, match=r"geometry\.width_um = 1e\+06.*particles"):
        describe(config.replace(config.default(), **{"geometry.width_um": 1e6, "geometry.mesh_size_um": 1.0}).geometry)


def test_overlap_fraction_zero_is_refused() -> None:
    """Found by the property test: tangent particles (no neck, or one too thin to mesh) are refused."""
    for value in (0.0, 5e-20):
        with pytest.raises(ConfigError, match=r"geometry\.overlap_fraction = .*: must be in \[0\.001, 0\.3\)"):
            config.replace(config.default(), **{"geometry.overlap_fraction": value})


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("conductivity_exponent", 3.5, ["electrolyte.conductivity_exponent = 3.5", "[0, 3]", "§2.4a"]),
        ("conductivity_exponent", -0.5, ["electrolyte.conductivity_exponent = -0.5", "[0, 3]"]),
        ("diffusivity_exponent", float("inf"), ["electrolyte.diffusivity_exponent = inf", "finite"]),
        ("diffusivity_exponent", "one", ["electrolyte.diffusivity_exponent = 'one'", "a number"]),
    ],
)
def test_concentration_law_exponents_are_checked(key: str, value: object, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        config.from_dict({"electrolyte": {key: value}})
    assert all(w in str(err.value) for w in words), str(err.value)


def test_concentration_law_exponents_reach_the_parameters() -> None:
    from microsim.parameters import resolve

    cfg = config.from_dict({"electrolyte": {"conductivity_exponent": 1, "diffusivity_exponent": -0.5}})
    el = resolve(cfg).electrolyte
    assert (el.conductivity_exponent, el.diffusivity_exponent) == (1.0, -0.5)
    assert resolve(config.default()).electrolyte.conductivity_exponent == 0.0  # the constant law by default
    # [parameters] overrides are checked with the same bounds
    with pytest.raises(ConfigError, match=r"parameters\.electrolyte\.conductivity_exponent = 4"):
        config.from_dict({"parameters": {"electrolyte.conductivity_exponent": 4.0}})
