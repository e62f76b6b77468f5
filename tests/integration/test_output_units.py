"""Every number a run writes says its unit, and docs/outputs.md defines every key (issue 19, item 6).

One small run of each study; then each ``summary.json``/``geometry.json`` key with a numeric value must carry a
unit (its own name's tag, its block's, or be dimensionless by name: :mod:`microsim.post.units`), each numeric
CSV column and XDMF field too, and every key's name must appear in docs/outputs.md.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dolfinx_solver")

from mpi4py import MPI

from microsim.post.units import column_unit, unit_of, unit_of_path
from microsim.studies.discharge import run_discharge
from microsim.studies.effective import run_effective
from microsim.studies.impedance import run_impedance
from microsim.studies.rate import run_rate
from microsim.studies.resistance import run_resistance
from tests._cases import small

pytestmark = [pytest.mark.fenics]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "outputs.md"
#: Blocks documented as a whole: the parameter set (docs/parameters.md), the provenance record, the fitted
#: circuit's parameters (named by the circuit, units in docs/outputs.md) and the effective study's own glossary.
DOCUMENTED_AS_BLOCKS = ("parameters", "provenance", "definitions", "fit.parameters")
#: Keys made from values, not names: ``at.0.1_Hz``, ``runs.0.1C``.
VALUE_KEYS = re.compile(r"^\d[\d.]*(_Hz|C)$")


def _leaves(data: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted key, value)`` for every leaf; a list of records is walked as ``key[]``, a list of numbers kept."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        for item in data:
            yield from _leaves(item, f"{path}[]")
    elif isinstance(data, list):
        flat = np.asarray([x for x in data if x is not None], dtype=object).ravel()
        yield path, flat[0] if flat.size else None
    else:
        yield path, data


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _documented_names() -> set[str]:
    text = re.sub(r"^```.*?^```", "", DOCS.read_text(encoding="utf-8"), flags=re.S | re.M)  # code blocks define nothing
    names: set[str] = set()
    for span in re.findall(r"`([^`]+)`", text):
        names.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span))
    return names


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small run of each study (about 30 s together)."""
    root = tmp_path_factory.mktemp("units")
    comm = MPI.COMM_SELF
    discharge = {"conditions.initial_stoichiometry": 0.01, "study.snapshots": 2}
    run_resistance(small(), root / "resistance", comm)
    run_resistance(small(**{"geometry.interface": "point-contact"}), root / "resistance-point", comm)
    run_impedance(small(**{"study.kind": "impedance"}), root / "impedance", comm, freqs=np.logspace(4, -1, 6))
    run_discharge(small(**{"study.kind": "discharge", "study.c_rate": 2.0, **discharge}), root / "discharge", comm)
    run_rate(small(**{"study.kind": "rate", "study.c_rates": [1.0, 2.0], **discharge}), root / "rate", comm)
    run_effective(small(**{"study.kind": "effective", "study.convergence_levels": 1}), root / "effective", comm)
    return root


def test_every_number_in_the_json_records_has_a_unit_and_a_definition(runs: Path) -> None:
    documented = _documented_names()
    no_unit, undocumented = set(), set()
    files = sorted(runs.rglob("summary.json")) + sorted(runs.rglob("geometry.json"))
    assert len(files) >= 12  # six runs with both records, plus the rate study's runs
    for path in files:
        for key, value in _leaves(json.loads(path.read_text(encoding="utf-8"))):
            if any(key == b or key.startswith(f"{b}.") or f".{b}." in f".{key}" for b in DOCUMENTED_AS_BLOCKS):
                continue
            leaf = key.split(".")[-1].removesuffix("[]")
            if not VALUE_KEYS.match(leaf) and leaf not in documented:
                undocumented.add(f"{path.name}: {key}")
            if _is_number(value) and unit_of_path(key) is None:
                no_unit.add(f"{path.name}: {key} = {value!r}")
    assert not no_unit, "numbers without a unit in their name or block:\n" + "\n".join(sorted(no_unit))
    assert not undocumented, "keys docs/outputs.md does not define:\n" + "\n".join(sorted(undocumented))


def test_every_numeric_csv_column_and_field_has_a_unit(runs: Path) -> None:
    tables = sorted(runs.rglob("*.csv"))
    names = {p.name for p in tables}
    assert {"timeseries.csv", "rate.csv", "impedance.csv", "impedance_interfaces.csv"} <= names
    missing = []
    for path in tables:
        frame = pd.read_csv(path)
        for column in frame.columns:
            if pd.api.types.is_numeric_dtype(frame[column]) and column_unit(column) is None:
                missing.append(f"{path.relative_to(runs)}: {column!r}")
    fields = sorted(runs.rglob("*.xdmf"))
    assert any("fields_small_signal" in str(p) for p in fields) and any("fields_series" in str(p) for p in fields)
    for path in fields:
        for attribute in ET.parse(path).getroot().iter("Attribute"):
            name = attribute.get("Name", "")
            if unit_of(name) is None and not re.fullmatch(r"phi_(pore|solid|wet)", name):  # docs/outputs.md §5
                missing.append(f"{path.relative_to(runs)}: field {name!r}")
    assert not missing, "columns or fields without a unit:\n" + "\n".join(missing)


def test_a_misnamed_key_is_caught() -> None:
    """The checks bite: an untagged number and a key in a block of the wrong name are found."""
    leaves = dict(_leaves({"resistance_ohm_cm2": {"total": 1.0}, "capacity": 3.0, "runs": [{"c_rate": 1}]}))
    assert unit_of_path("resistance_ohm_cm2.total") == "Ω·cm²"
    assert [k for k, v in leaves.items() if _is_number(v) and unit_of_path(k) is None] == ["capacity"]
    assert "runs[].c_rate" in leaves
