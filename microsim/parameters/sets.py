"""Named parameter sets: calibrated factors on the default named laws, each cited and tagged as fitted.

A set changes a few named values by a factor at every temperature, so each law keeps its Arrhenius activation
energy (and PAL its two branches): a value fitted at one temperature carries to another by that law. Select one
with ``[parameters] set = "NAME"``; explicit ``[parameters]`` overrides and ``[electrolyte]`` values still take
precedence (docs/parameters.md §9).

The factors are what ``microsim calibrate`` reports (``calibration.json``: fitted value / named value at the fit's
temperature); the entries keep the fitted value, where it was fitted, its literature bounds and its 1σ interval.
``microsim calibrate`` writes them as ``DIR/parameter_set.json``; a set is registered by placing that file in
``microsim/parameters/calibrated/`` (read on import, checked by :func:`set_from_dict`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from microsim.errors import ConfigError

__all__ = ["CALIBRATED_DIR", "PARAMETER_SETS", "SET_KEY", "ParameterSet", "SetEntry", "load_sets", "set_from_dict"]

#: Where the registered sets' files live (``NAME.json``, as ``microsim calibrate`` writes them).
CALIBRATED_DIR = Path(__file__).parent / "calibrated"

#: The ``[parameters]`` key that selects a set.
SET_KEY = "set"


@dataclass(frozen=True)
class SetEntry:
    """One calibrated value.

    Attributes:
        factor: Multiplies the named law's value at every temperature.
        value: The fitted value where it was fitted (``fitted_at``), in the unit of the name.
        fitted_at: The conditions of the fit, e.g. ``"PPAL, 30 °C"``.
        low: Lower literature bound of ``value``.
        high: Upper literature bound of ``value``.
        interval_1sigma: The fit's 1σ interval of ``value``, or None where the data do not identify it.
        source: Citation of the bounds and of the fit.
    """

    factor: float
    value: float
    fitted_at: str
    low: float
    high: float
    interval_1sigma: tuple[float, float] | None
    source: str


@dataclass(frozen=True)
class ParameterSet:
    """A named, cited set of calibrated factors.

    Attributes:
        name: What ``[parameters] set`` takes.
        citation: The data it was fitted to.
        note: How it was fitted (method, fidelity, seeds).
        entries: ``{dotted parameter name: SetEntry}``.
    """

    name: str
    citation: str
    note: str
    entries: Mapping[str, SetEntry] = field(default_factory=dict)

    def apply(self, values: MutableMapping[str, float | str], sources: MutableMapping[str, str]) -> None:
        """Multiply the named ``values`` (at the run temperature) by the factors and record where they came from."""
        for name, entry in self.entries.items():
            values[name] = float(values[name]) * entry.factor
            sources[name] = (
                f"[F] parameter set {self.name!r}: × {entry.factor:.4g} on the named law (fitted {entry.value:.4g} at "
                f"{entry.fitted_at}; bounds {entry.low:.3g}–{entry.high:.3g}; {entry.source})"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (the inverse of :func:`set_from_dict`)."""
        entries = {k: {**asdict(e), "interval_1sigma": list(e.interval_1sigma) if e.interval_1sigma else None}
                   for k, e in self.entries.items()}  # fmt: skip
        return {"name": self.name, "citation": self.citation, "note": self.note, "entries": entries}


def _positive(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{where} = {value!r}: must be a finite number > 0")
    return float(value)


def set_from_dict(d: Mapping[str, Any], where: str = "parameter set") -> ParameterSet:
    """A :class:`ParameterSet` from its JSON form, checked: every fitted value inside its bounds.

    Raises:
        ConfigError: A missing or invalid field (named), or a fitted value outside its literature bounds.
    """
    from microsim.parameters import OVERRIDES  # the package imports this module first

    name = d.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"{where}: name = {name!r}: must be an identifier")
    for key in ("citation", "note"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            raise ConfigError(f"{where}: {key} = {d.get(key)!r}: must be a non-empty text")
    raw = d.get("entries")
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{where}: entries must be a non-empty table of [parameters] names")
    entries: dict[str, SetEntry] = {}
    for key, e in raw.items():
        at = f"{where}: entries.{key}"
        if key not in OVERRIDES or OVERRIDES[key].kind != "float":
            raise ConfigError(f"{at}: not a numeric [parameters] name")
        if not isinstance(e, Mapping):
            raise ConfigError(f"{at} must be a table")
        factor, value = _positive(e.get("factor"), f"{at}.factor"), _positive(e.get("value"), f"{at}.value")
        low, high = _positive(e.get("low"), f"{at}.low"), _positive(e.get("high"), f"{at}.high")
        if not low <= value <= high:
            raise ConfigError(f"{at}.value = {value:g}: outside its bounds [{low:g}, {high:g}]")
        ci = e.get("interval_1sigma")
        interval = None if ci is None else (_positive(ci[0], f"{at}.interval_1sigma[0]"),
                                            _positive(ci[1], f"{at}.interval_1sigma[1]"))  # fmt: skip
        fitted_at, source = e.get("fitted_at"), e.get("source")
        if not isinstance(fitted_at, str) or not isinstance(source, str) or not source.strip():
            raise ConfigError(f"{at}: fitted_at and source must be texts (where it was fitted, what bounds it)")
        entries[key] = SetEntry(factor, value, fitted_at, low, high, interval, source)
    return ParameterSet(name, d["citation"].strip(), d["note"].strip(), entries)


def load_sets(folder: Path) -> dict[str, ParameterSet]:
    """Every ``NAME.json`` set in ``folder`` (empty when there is none).

    Raises:
        ConfigError: A file that is not a valid set, or whose name differs from its file name.
    """
    out: dict[str, ParameterSet] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"parameter set {path}: cannot read: {exc}") from None
        ps = set_from_dict(data, where=f"parameter set {path}")
        if ps.name != path.stem:
            raise ConfigError(f"parameter set {path}: name = {ps.name!r} must be the file's name ({path.stem!r})")
        out[ps.name] = ps
    return out


#: The registered sets by name.
PARAMETER_SETS: dict[str, ParameterSet] = {}
