"""``[parameters] set``: a calibrated set multiplies named laws at every temperature; overrides still win."""

from __future__ import annotations

from pathlib import Path

import pytest

from microsim import config as config_mod
from microsim.constants import kelvin
from microsim.errors import ConfigError
from microsim.parameters import PARAMETER_SETS, ParameterSet, named_values, resolve
from microsim.parameters.sets import SetEntry

ENTRY = SetEntry(factor=0.1, value=1e-17, fitted_at="PPAL, 30 °C", low=1e-20, high=1e-16, interval_1sigma=None,
                 source="test")  # fmt: skip


@pytest.fixture
def a_set(monkeypatch: pytest.MonkeyPatch) -> str:
    entries = {"lfp.diffusivity_m2_s": ENTRY, "electrolyte.diffusivity_m2_s": ENTRY}
    monkeypatch.setitem(PARAMETER_SETS, "testset", ParameterSet("testset", "a test", "none", entries))
    return "testset"


@pytest.mark.parametrize("electrolyte", ["PAL", "PPAL"])
@pytest.mark.parametrize("temperature_C", [30.0, 50.0, 70.0])
def test_factors_apply_at_every_temperature(a_set: str, electrolyte: str, temperature_C: float) -> None:
    d = {
        "parameters": {"set": a_set},
        "conditions": {"temperature_C": temperature_C},
        "electrolyte": {"name": electrolyte},
    }
    p = resolve(config_mod.from_dict(d))
    named = named_values(electrolyte, kelvin(temperature_C))
    assert p.lfp.diffusivity_m2_s == pytest.approx(0.1 * float(named["lfp.diffusivity_m2_s"]), rel=1e-12)
    assert p.electrolyte.diffusivity_m2_s == pytest.approx(
        0.1 * float(named["electrolyte.diffusivity_m2_s"]), rel=1e-12
    )
    # the conductivity is not in the set: unchanged
    assert p.electrolyte.conductivity_S_m == pytest.approx(float(named["electrolyte.conductivity_S_m"]), rel=1e-12)
    assert "testset" in p.sources["lfp.diffusivity_m2_s"] and "[F]" in p.sources["lfp.diffusivity_m2_s"]


def test_an_override_wins_over_the_set(a_set: str) -> None:
    p = resolve(config_mod.from_dict({"parameters": {"set": a_set, "lfp.diffusivity_m2_s": 3e-18}}))
    assert p.lfp.diffusivity_m2_s == 3e-18


def test_the_set_round_trips_through_toml(a_set: str, tmp_path: Path) -> None:
    cfg = config_mod.from_dict({"parameters": {"set": a_set}})
    (tmp_path / "case.toml").write_text(config_mod.dumps(cfg))
    again = config_mod.load(tmp_path / "case.toml")
    assert again == cfg and again.parameters["set"] == a_set


def test_an_unknown_set_is_refused_with_the_field() -> None:
    with pytest.raises(ConfigError, match=r"parameters\.set = 'nope': must name a parameter set"):
        config_mod.from_dict({"parameters": {"set": "nope"}})


def _set_dict(**entry: object) -> dict[str, object]:
    e = {"factor": 0.1, "value": 1e-17, "fitted_at": "PPAL, 30 °C", "low": 1e-20, "high": 1e-16,
         "interval_1sigma": [5e-18, 2e-17], "source": "test", **entry}  # fmt: skip
    return {"name": "fileset", "citation": "a test", "note": "by hand", "entries": {"lfp.diffusivity_m2_s": e}}


def test_a_set_file_round_trips_and_registers(tmp_path: Path) -> None:
    from microsim.parameters.sets import load_sets, set_from_dict

    ps = set_from_dict(_set_dict())
    assert set_from_dict(ps.to_dict()) == ps
    assert ps.entries["lfp.diffusivity_m2_s"].interval_1sigma == (5e-18, 2e-17)
    (tmp_path / "fileset.json").write_text(__import__("json").dumps(ps.to_dict()))
    assert load_sets(tmp_path) == {"fileset": ps}
    (tmp_path / "other.json").write_text(__import__("json").dumps(ps.to_dict()))
    with pytest.raises(ConfigError, match=r"name = 'fileset' must be the file's name \('other'\)"):
        load_sets(tmp_path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"value": 1e-15}, "value = 1e-15: outside its bounds"),
        ({"factor": -1.0}, "factor = -1.0: must be a finite number > 0"),
        ({"source": ""}, "fitted_at and source must be texts"),
    ],
)
def test_a_bad_set_file_is_refused_with_the_field(entry: dict[str, object], message: str) -> None:
    from microsim.parameters.sets import set_from_dict

    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        set_from_dict(_set_dict(**entry))
    with pytest.raises(ConfigError, match="not a numeric"):
        set_from_dict({**_set_dict(), "entries": {"lfp.ocp": _set_dict()["entries"]["lfp.diffusivity_m2_s"]}})  # type: ignore[index]


def test_the_shipped_sets_are_valid() -> None:
    from microsim.parameters.sets import CALIBRATED_DIR, load_sets

    assert set(load_sets(CALIBRATED_DIR)) <= set(PARAMETER_SETS)
