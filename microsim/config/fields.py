"""Field metadata and the checks every configuration value goes through.

A configuration field is a dataclass field whose metadata says its type, allowed values, unit and meaning
(:func:`spec`). :class:`Section` validates those in ``__post_init__``; the same metadata writes the commented
TOML (:mod:`microsim.config.toml_io`) and the JSON Schema (:mod:`microsim.schema`), so the three cannot drift.
Messages are one line: the field (``section.key``), the value as written, what is allowed, and a close match
for misspelt choices.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import field, fields
from typing import Any, ClassVar

from microsim.errors import ConfigError

#: What a field's value may be: the TOML types a case file can hold.
FieldValue = float | int | str | bool | tuple[Any, ...] | None

_KIND_NAMES = {float: "a number", int: "an integer", str: "a string", bool: "true or false", list: "an array"}


def spec(
    default: Any,
    *,
    kind: type | None = None,
    choices: tuple[Any, ...] | None = None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = True,
    high_open: bool = True,
    unit: str = "",
    doc: str = "",
    unset: str = "",
    note: str = "",
) -> Any:
    """Declare a config field: its default, type and allowed values (kept in the dataclass field metadata).

    Args:
        default: Default value; ``None`` means "unset" (then ``kind`` is required and ``unset`` says what
            happens).
        kind: ``float``, ``int``, ``str``, ``bool`` or ``list``; inferred from ``default`` when omitted.
        choices: Allowed values.
        low: Lower bound of numbers.
        high: Upper bound of numbers.
        low_open: Whether ``low`` itself is excluded.
        high_open: Whether ``high`` itself is excluded.
        unit: Unit, for comments.
        doc: One-line description, for comments.
        unset: What an unset (``None``) value means.
        note: Appended to range errors (why the bound exists).

    Returns:
        A ``dataclasses.field`` (typed ``Any`` so that it can stand for any annotated default).
    """
    meta = meta_for(
        kind if kind is not None else type(default), choices, low, high, low_open, high_open, unit, doc, unset, note
    )
    return field(default=default, metadata=meta)


def meta_for(
    kind: type,
    choices: tuple[Any, ...] | None = None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = True,
    high_open: bool = True,
    unit: str = "",
    doc: str = "",
    unset: str = "",
    note: str = "",
) -> dict[str, Any]:
    """The metadata mapping of one field (also used for values that are not dataclass fields, e.g. arrays)."""
    return {
        "kind": kind,
        "choices": choices,
        "low": low,
        "high": high,
        "low_open": low_open,
        "high_open": high_open,
        "unit": unit,
        "doc": doc,
        "unset": unset,
        "note": note,
    }


def show(value: object) -> str:
    """Render a value for a message the way it would appear in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float):
        return repr(value)  # keeps 1.0 distinct from 1 in "must be an integer" messages
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return repr(value)


def fmt(x: float) -> str:
    """A bound in a message (shortest ``g`` form)."""
    return f"{x:g}"


def allowed(meta: Mapping[str, Any]) -> str:
    """Describe the allowed values of a field."""
    if meta["choices"] is not None:
        return "one of " + ", ".join(show(c) for c in meta["choices"])
    low, high = meta["low"], meta["high"]
    if low is not None and high is not None:
        left = "(" if meta["low_open"] else "["
        right = ")" if meta["high_open"] else "]"
        return f"in {left}{fmt(low)}, {fmt(high)}{right}"
    if low is not None:
        return f"{'>' if meta['low_open'] else '>='} {fmt(low)}"
    if high is not None:
        return f"{'<' if meta['high_open'] else '<='} {fmt(high)}"
    return _KIND_NAMES[meta["kind"]]


def did_you_mean(value: str, choices: list[str], prefix: str = "") -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    hint = difflib.get_close_matches(value, choices, n=1)
    return f" (did you mean '{prefix}{hint[0]}'?)" if hint else ""


def check_value(name: str, value: object, meta: Mapping[str, Any]) -> Any:
    """Check one value against its metadata; return it normalised (ints given for floats become floats).

    Args:
        name: The dotted field name for the message.
        value: The value as read.
        meta: The field's metadata (:func:`meta_for`).

    Raises:
        ConfigError: Wrong type, not finite, out of range or not one of the choices.
    """
    kind = meta["kind"]
    given = value  # shown in messages as the user wrote it (0, not 0.0)
    if kind is float:
        # bool is a subclass of int in Python but never a number in a config file.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} = {show(value)}: must be a number ({allowed(meta)})")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{name} = {show(value)}: must be a finite number ({allowed(meta)})")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} = {show(value)}: must be an integer ({allowed(meta)})")
    elif kind is list:
        # arrays (study.c_rates, study.steps): elements are checked by the section's cross-check
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{name} = {show(value)}: must be an array")
        value = tuple(value)
    elif not isinstance(value, kind):
        raise ConfigError(f"{name} = {show(value)}: must be {_KIND_NAMES[kind]}")
    if meta["choices"] is not None and value not in meta["choices"]:
        hint = difflib.get_close_matches(str(value), [str(c) for c in meta["choices"]], n=1)
        suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(f"{name} = {show(value)}: must be {allowed(meta)}{suffix}")
    low, high = meta["low"], meta["high"]
    if kind in (float, int):
        too_low = low is not None and (value <= low if meta["low_open"] else value < low)
        too_high = high is not None and (value >= high if meta["high_open"] else value > high)
        if too_low or too_high:
            note = f" ({meta['note']})" if meta["note"] else ""
            raise ConfigError(f"{name} = {show(given)}: must be {allowed(meta)}{note}")
    return value


def check_number(name: str, value: object, low: float | None = 0.0, high: float | None = None) -> float:
    """A finite number in the open interval ``(low, high)`` (either end may be absent)."""
    return float(check_value(name, value, meta_for(float, low=low, high=high)))


class Section:
    """Mixin of the section dataclasses: field checks in ``__post_init__``, then section cross-checks.

    A section whose fields are ``None`` by default leaves them ``None`` (unset) unless given.
    """

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue
            object.__setattr__(self, f.name, check_value(f"{self.SECTION}.{f.name}", value, f.metadata))
        self._cross_check()

    def _cross_check(self) -> None:
        """Checks that involve more than one key of the section."""


__all__ = [
    "FieldValue",
    "Section",
    "allowed",
    "check_number",
    "check_value",
    "did_you_mean",
    "fmt",
    "meta_for",
    "show",
    "spec",
]
