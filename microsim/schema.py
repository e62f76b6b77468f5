"""JSON Schema of a case file (``microsim schema``), generated from the configuration's own field metadata.

TOML editors that read JSON Schema (e.g. the Even Better TOML extension, taplo) then complete and check the keys
of a case file as it is typed: the sections, each key with its type, unit, default, allowed values and bounds,
the ``[[study.steps]]`` tables and the ``[parameters]`` overrides. The schema is derived from the same metadata
that :mod:`microsim.config` validates with, so the two cannot drift apart; it does not replace that validation
(cross-field rules, such as "either ``c_rate`` or ``current_density_A_m2``", are only in the code).

No DOLFINx here: the schema can be written on any machine.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from microsim import config
from microsim.parameters import OVERRIDES

#: JSON Schema dialect of the output.
DIALECT = "https://json-schema.org/draft/2020-12/schema"

_TYPES = {float: "number", int: "integer", str: "string", bool: "boolean", list: "array"}


def _bounds(
    out: dict[str, Any], low: float | None, high: float | None, low_open: bool = True, high_open: bool = True
) -> None:
    if low is not None:
        out["exclusiveMinimum" if low_open else "minimum"] = low
    if high is not None:
        out["exclusiveMaximum" if high_open else "maximum"] = high


def _description(doc: str, unit: str, unset: str = "") -> str:
    text = doc
    if unit and unit != "1":
        text += f" [{unit}]"
    if unset:
        text += f"; unset: {unset}"
    return text


def _field_schema(section: str, f: dataclasses.Field[Any]) -> dict[str, Any]:
    meta: Mapping[str, Any] = f.metadata
    kind = meta["kind"]
    out: dict[str, Any] = {"description": _description(meta["doc"], meta["unit"], meta["unset"])}
    if f"{section}.{f.name}" == "study.steps":
        out.update(type="array", items=_step_schema())
        return out
    if kind is list:
        # the only other array: study.c_rates, positive numbers
        out.update(type="array", items={"type": "number", "exclusiveMinimum": 0.0}, minItems=1)
        return out
    out["type"] = _TYPES[kind]
    if meta["choices"] is not None:
        out["enum"] = list(meta["choices"])
    if kind in (float, int):
        _bounds(out, meta["low"], meta["high"], meta["low_open"], meta["high_open"])
    if f.default is not None and f.default is not dataclasses.MISSING:
        out["default"] = f.default
    return out


def _step_schema() -> dict[str, Any]:
    """One ``[[study.steps]]`` table: its keys depend on its kind (from the typed step classes' metadata)."""
    by_kind = []
    for kind, cls in config.STEP_TYPES.items():
        props: dict[str, Any] = {"kind": {"const": kind}}
        props.update({f.name: _field_schema("study.steps[]", f) for f in dataclasses.fields(cls)})
        then = {"additionalProperties": False, "properties": props}
        by_kind.append({"if": {"properties": {"kind": {"const": kind}}}, "then": then})
    return {
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"type": "string", "enum": list(config.STEP_KINDS), "description": "cc, cv or rest"}},
        "allOf": by_kind,
    }


def _override_schema(spec: Any) -> dict[str, Any]:
    if spec.kind == "ocp":
        return {"type": "string", "description": "OCP: a named curve, a formula in x, or 'table:<file.csv>'"}
    out: dict[str, Any] = {"type": "number"}
    _bounds(out, spec.low, spec.high, spec.low_open, spec.high_open)
    if spec.unit and spec.unit != "1":
        out["description"] = f"[{spec.unit}]"
    return out


def _parameters_schema() -> dict[str, Any]:
    """``[parameters]``: dotted names (``"lfp.alpha_a" = 0.5``) or nested tables (``[parameters.lfp]``)."""
    flat = {name: _override_schema(spec) for name, spec in OVERRIDES.items()}
    groups: dict[str, dict[str, Any]] = {}
    for name, schema in flat.items():
        group, key = name.split(".", 1)
        groups.setdefault(group, {"type": "object", "additionalProperties": False, "properties": {}})
        groups[group]["properties"][key] = schema
    return {
        "type": "object",
        "description": "named overrides of material values at the run temperature (docs/parameters.md)",
        "additionalProperties": False,
        "properties": {**flat, **groups},
    }


def case_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a microsim case file."""
    props: dict[str, Any] = {}
    for section, cls in config.SECTION_TYPES.items():
        if not dataclasses.is_dataclass(cls):  # [parameters]: a flat table of named overrides
            props[section] = _parameters_schema()
            continue
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        props[section] = {
            "type": "object",
            "description": doc,
            "additionalProperties": False,
            "properties": {f.name: _field_schema(section, f) for f in dataclasses.fields(cls)},
        }
    return {
        "$schema": DIALECT,
        "title": "microsim case file",
        "description": "A microsim run configuration (TOML). Generated by `microsim schema`.",
        "type": "object",
        "additionalProperties": False,
        "properties": props,
    }


def dumps() -> str:
    """The schema as indented JSON text."""
    return json.dumps(case_schema(), indent=2, ensure_ascii=False) + "\n"


__all__ = ["DIALECT", "case_schema", "dumps"]
