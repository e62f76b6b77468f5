"""Case files: read TOML (with ``--set`` overrides) into a :class:`Config`, and write one back as commented TOML."""

from __future__ import annotations

import copy
import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from microsim.config.core import SECTION_NAMES, Config, from_dict, split_dotted, to_dict
from microsim.config.fields import allowed, show
from microsim.config.overrides import flatten_parameters
from microsim.constants import kelvin
from microsim.errors import ConfigError
from microsim.parameters import OVERRIDES, PARAMETER_SETS, named_values


def _parse_value(text: str) -> Any:
    """Parse an override value as a TOML value; fall back to the bare string (``point-contact``, formulas)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(d: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set SECTION.KEY=VALUE`` overrides to a config dict (returns a new dict).

    The value is parsed as a TOML value (``20``, ``1e-8``, ``true``, ``"text"``), falling back to the bare
    string.
    ``--set parameters.lfp.exchange_current_A_m2=0.1`` sets a named parameter override.

    Raises:
        ConfigError: An override without ``=`` or without ``SECTION.KEY``.
    """
    out = copy.deepcopy(dict(d))
    for item in overrides:
        name, eq, text = item.partition("=")
        if not eq:
            raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. --set geometry.width_um=20")
        section, key = split_dotted(name, what=f"--set {item!r}")
        table = out.setdefault(section, {})
        if not isinstance(table, Mapping):
            raise ConfigError(f"{section} = {show(table)}: must be a table ([{section}])")
        table = dict(table)
        if section == "parameters":
            table = flatten_parameters(table)
        table[key] = _parse_value(text.strip())
        out[section] = table
    return out


def load(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read a TOML configuration file, apply ``--set`` overrides and validate.

    Args:
        path: The TOML file; relative paths inside it resolve against its directory.
        overrides: ``SECTION.KEY=VALUE`` strings.

    Raises:
        ConfigError: Missing or unreadable file, TOML syntax error, or any validation error.
    """
    path = Path(path)
    return from_dict(apply_overrides(read_toml(path, "configuration"), overrides), source=path)


def read_toml(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """Read a TOML file; every failure is a one-line :class:`ConfigError` naming the file.

    Args:
        path: The file.
        what: What the file is, for the message (``"configuration"``, ``"sweep"``).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} file not found")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # shortest round-tripping form; 'inf'/'nan' cannot occur (validated finite)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    if isinstance(value, str):
        # JSON string escapes are a subset of TOML basic-string escapes (non-ASCII kept literally).
        # DEL is the one control character JSON leaves raw and TOML forbids.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007F")
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _comment(meta: Mapping[str, Any]) -> str:
    parts = [meta["doc"]] if meta["doc"] else []
    if meta["unit"] and meta["unit"] != "1":
        parts.append(f"[{meta['unit']}]")
    parts.append(f"allowed: {allowed(meta)}")
    return "# " + "; ".join(parts)


def dumps(cfg: Config) -> str:
    """Return the configuration as TOML text, one comment line per key (meaning, unit, allowed values).

    ``load`` of the written text gives back an equal ``Config``. Unset keys are written as comments; the
    ``[parameters]`` section lists every overridable name, commented, with its value at the run temperature.
    """
    d = to_dict(cfg)
    lines = ["# microsim configuration (TOML). Every key is optional; the values shown are in effect."]
    for name in SECTION_NAMES:
        lines += ["", f"[{name}]"]
        if name == "parameters":
            lines += _dump_parameters(cfg)
            continue
        for f in fields(getattr(cfg, name)):
            lines.append(_comment(f.metadata))
            if f.name in d[name]:
                lines.append(f"{f.name} = {_toml_value(d[name][f.name])}")
            else:
                lines.append(f"# {f.name} =   (unset: {f.metadata['unset'] or 'default'})")
    return "\n".join(lines) + "\n"


def _dump_parameters(cfg: Config) -> list[str]:
    lines = [
        "# Overrides of named parameters, at the run temperature (no Arrhenius scaling applied to them).",
        "# Precedence: explicit [electrolyte] values > these > the named sets. Uncomment to override;",
        "# lfp.ocp takes 'afshar2017', a formula in x (exp, log, tanh, sqrt, atan, pi)",
        "# or 'table:PATH' (a CSV file with columns x,U_V). set = 'NAME' applies a calibrated parameter set",
        f"# (factors on the named laws, kept at every temperature): {', '.join(PARAMETER_SETS) or 'none yet'}.",
    ]
    for name, value in cfg.parameters.items():
        lines.append(f"{_toml_key(name)} = {_toml_value(value)}")
    named = named_values(cfg.electrolyte.name, kelvin(cfg.conditions.temperature_C))
    for name, spec in OVERRIDES.items():
        if name in cfg.parameters:
            continue
        value = named[name]
        shown = _toml_value(float(f"{value:.4g}")) if isinstance(value, float) else _toml_value(value)
        unit = f"  # [{spec.unit}]" if spec.unit and spec.unit != "1" else ""
        lines.append(f"# {_toml_key(name)} = {shown}{unit}")
    return lines


__all__ = ["apply_overrides", "dumps", "load", "read_toml"]
