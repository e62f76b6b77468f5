"""The JSON Schema of case files: every bundled case validates, typos and wrong values do not (no DOLFINx)."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

from microsim import config, schema  # noqa: E402
from microsim.cli import main  # noqa: E402

GEOMETRIES = Path(__file__).resolve().parents[2] / "geometries"
#: Bundled case files (sweep files have [base]/[axes] tables and are checked by the sweep loader instead).
CASES = sorted(p for p in GEOMETRIES.glob("*.toml") if not p.name.startswith("sweep-"))


@pytest.fixture(scope="module")
def validator() -> object:
    s = schema.case_schema()
    jsonschema.Draft202012Validator.check_schema(s)
    return jsonschema.Draft202012Validator(s)


def _errors(validator: object, case: dict) -> list[str]:
    return [e.message for e in validator.iter_errors(case)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_every_bundled_case_validates(validator: object, path: Path) -> None:
    case = tomllib.loads(path.read_text(encoding="utf-8"))
    assert _errors(validator, case) == []
    config.load(path)  # and the code accepts it too


def test_the_full_default_configuration_validates(validator: object) -> None:
    dumped = tomllib.loads(config.dumps(config.default()))
    assert _errors(validator, dumped) == []


def test_every_config_field_is_in_the_schema() -> None:
    props = schema.case_schema()["properties"]
    for section, cls in config.SECTION_TYPES.items():
        if section == "parameters":
            continue
        assert set(props[section]["properties"]) == {f.name for f in dataclasses.fields(cls)}, section


@pytest.mark.parametrize(
    ("case", "word"),
    [
        ({"geometry": {"widht_um": 10.0}}, "widht_um"),  # a typo of a key
        ({"geometry": {"interface": "glued"}}, "glued"),  # not an archetype
        ({"geometry": {"dim": 4}}, "4"),
        ({"geometry": {"active_fraction": 0.95}}, "0.95"),  # above the packer's bound
        ({"solver": {"linear_solver": "hypre"}}, "hypre"),
        ({"study": {"steps": [{"kind": "cc", "c_rat": 1.0}]}}, "c_rat"),
        ({"parameters": {"lfp.exchange_currentA_m2": 1.0}}, "exchange_currentA_m2"),
        ({"parameters": {"lfp": {"alpha_a": 1.5}}}, "1.5"),
        ({"meshing": {}}, "meshing"),  # not a section
    ],
)
def test_wrong_keys_and_values_are_rejected(validator: object, case: dict, word: str) -> None:
    errors = _errors(validator, case)
    assert errors and any(word in e for e in errors), errors


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == schema.case_schema()
    out = tmp_path / "microsim.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == printed
