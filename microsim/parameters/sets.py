"""Named parameter sets: calibrated factors on the default named laws, each cited and tagged as fitted.

A set changes a few named values by a factor at every temperature, so each law keeps its Arrhenius activation
energy (and PAL its two branches): a value fitted at one temperature carries to another by that law. Select one
with ``[parameters] set = "NAME"``; explicit ``[parameters]`` overrides and ``[electrolyte]`` values still take
precedence (docs/parameters.md §9).

The factors are what ``microsim calibrate`` reports (``calibration.json``: fitted value / named value at the fit's
temperature); the entries keep the fitted value, where it was fitted, its literature bounds and its 1σ interval.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

__all__ = ["PARAMETER_SETS", "SET_KEY", "ParameterSet", "SetEntry"]

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


#: The registered sets by name.
PARAMETER_SETS: dict[str, ParameterSet] = {}
