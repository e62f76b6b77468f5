"""``[parameters]``: overrides of named parameters, as a flat table of dotted names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from microsim.config.fields import check_value, did_you_mean, meta_for, show
from microsim.errors import ConfigError
from microsim.parameters import OVERRIDES
from microsim.parameters.ocp import AFSHAR2017, TABLE_PREFIX, Afshar2017, make_ocp
from microsim.parameters.sets import PARAMETER_SETS, SET_KEY


def flatten_parameters(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested tables (``[parameters.lfp]``) into dotted names; quoted dotted keys pass through.

    Raises:
        ConfigError: The same name given twice (e.g. nested and quoted).
    """
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        items = flatten_parameters(value, name + ".") if isinstance(value, Mapping) else {name: value}
        for sub, val in items.items():
            if sub in flat:
                raise ConfigError(f"parameters.{sub}: given twice (as a nested table and as a dotted key)")
            flat[sub] = val
    return flat


def absolute_table(spec: object, base_dir: Path | None) -> object:
    """Make the path of a ``table:PATH`` OCP spec absolute (relative to ``base_dir``)."""
    if isinstance(spec, str) and spec.strip().startswith(TABLE_PREFIX):
        path = Path(spec.strip()[len(TABLE_PREFIX) :].strip()).expanduser()
        if not path.is_absolute():
            path = Path(base_dir or Path.cwd()) / path
        return TABLE_PREFIX + str(path.resolve())
    return spec


def check_parameters(table: Mapping[str, Any]) -> dict[str, float | str]:
    """Check ``[parameters]`` overrides: known names, types and ranges. Returns the normalised flat dict."""
    out: dict[str, float | str] = {}
    for name, value in flatten_parameters(table).items():
        if name == SET_KEY:
            if not isinstance(value, str) or value not in PARAMETER_SETS:
                allowed = ", ".join(repr(k) for k in PARAMETER_SETS) or "none is registered"
                raise ConfigError(f"parameters.{SET_KEY} = {show(value)}: must name a parameter set ({allowed})")
            out[name] = value
            continue
        spec = OVERRIDES.get(name)
        if spec is None:
            hint = did_you_mean(name, list(OVERRIDES), prefix="parameters.")
            raise ConfigError(f"unknown key 'parameters.{name}'{hint}")
        if spec.kind == "ocp":
            if not isinstance(value, str):
                raise ConfigError(
                    f"parameters.{name} = {show(value)}: must be a string: '{AFSHAR2017}', "
                    f"'{TABLE_PREFIX}PATH' or a formula in x"
                )
            ocp = make_ocp(value, field=f"parameters.{name}")
            # Canonical text, so that equal configurations compare and hash equal.
            out[name] = AFSHAR2017 if isinstance(ocp, Afshar2017) else ocp.name
        else:
            meta = meta_for(float, low=spec.low, high=spec.high, low_open=spec.low_open, high_open=spec.high_open)
            out[name] = check_value(f"parameters.{name}", value, meta)
    return out


__all__ = ["absolute_table", "check_parameters", "flatten_parameters"]
