"""A protocol as runtime steps: the ``[study]`` section → :class:`Step` list, and capacity/energy units.

A :class:`Step` is what :class:`~microsim.studies.stepping.ProtocolRunner` executes: a signed current density
(positive on discharge) and the events that end it. :func:`steps_from_config` builds them from the typed steps of
the configuration (:mod:`microsim.config.protocol`) and the cell's 1C current. No DOLFINx.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from microsim.config import CCStep, CVStep, RestStep, StudyConfig
from microsim.errors import ConfigError

#: Coulomb per (mAh/g · kg/m²): capacity [mAh/g] = charge [C/m²] / (3.6 · 1000 · m [kg/m²]).
C_PER_MAH = 3.6


@dataclass(frozen=True)
class Step:
    """One protocol step; currents are signed, positive on discharge (the model's convention).

    Attributes:
        kind: ``"cc"``, ``"cv"`` or ``"rest"``.
        current_A_m2: applied current density of a CC step (0 for rest).
        c_rate: its C-rate (for labels and the default step size), or None.
        cutoff_V: CC voltage cut-off (below it on discharge, above it on charge).
        voltage_V: held voltage of a CV step.
        until_current_A_m2: a CV step ends when |I| falls to this.
        duration_s: the step ends after this time.
        capacity_limit_C_m2: a CC step ends after this charge per geometric area.
        label: text for progress lines and the time series.
    """

    kind: str
    current_A_m2: float = 0.0
    c_rate: float | None = None
    cutoff_V: float | None = None
    voltage_V: float | None = None
    until_current_A_m2: float | None = None
    duration_s: float | None = None
    capacity_limit_C_m2: float | None = None
    label: str = ""

    @property
    def held_V(self) -> float:
        """The voltage of a CV step.

        Raises:
            ConfigError: not a CV step with a voltage (only from code: the config requires one).
        """
        if self.voltage_V is None:
            raise ConfigError(f"protocol step {self.label!r}: a voltage hold needs voltage_V")
        return float(self.voltage_V)

    @property
    def direction(self) -> str:
        """``"discharge"``, ``"charge"`` or ``"none"`` (rest, CV)."""
        if self.kind != "cc" or self.current_A_m2 == 0.0:
            return "none"
        return "discharge" if self.current_A_m2 > 0 else "charge"


def steps_from_config(
    study: StudyConfig, one_c_A_m2: float, capacity_C_m2_per_mAh_g: float, c_rate: float | None = None
) -> list[Step]:
    """The protocol of a ``[study]`` section.

    Args:
        study: the ``[study]`` section (its ``steps`` typed and complete: the config resolved them).
        one_c_A_m2: the 1C current density of this cell [A/m²].
        capacity_C_m2_per_mAh_g: charge per geometric area of 1 mAh/g of this cell's LFP [C/m²].
        c_rate: if given, the default single CC discharge runs at this rate (a rate-study run).

    Raises:
        ConfigError: a non-positive rate or current (reaches here only from code, not from a validated config).
    """
    if one_c_A_m2 <= 0:
        raise ConfigError(f"1C current density = {one_c_A_m2}: the cell has no active material")
    cap_limit = None if study.capacity_limit_mAh_g is None else study.capacity_limit_mAh_g * capacity_C_m2_per_mAh_g
    if c_rate is not None or not study.steps:
        if c_rate is not None:
            rate, current = float(c_rate), float(c_rate) * one_c_A_m2
        elif study.current_density_A_m2 is not None:
            current = float(study.current_density_A_m2)
            rate = current / one_c_A_m2
        else:
            rate = 0.1 if study.c_rate is None else float(study.c_rate)
            current = rate * one_c_A_m2
        if not current > 0:
            raise ConfigError(f"study.c_rate = {rate}: must be > 0")
        return [
            Step(
                "cc",
                current,
                rate,
                cutoff_V=study.cutoff_discharge_V,
                duration_s=study.time_limit_s,
                capacity_limit_C_m2=cap_limit,
                label=f"CC discharge {rate:g}C",
            )
        ]
    steps: list[Step] = []
    for st in study.steps:
        match st:
            case CCStep():
                sign = 1.0 if st.direction == "discharge" else -1.0
                if st.c_rate is not None:
                    rate, current = st.c_rate, st.c_rate * one_c_A_m2
                else:
                    current = float(st.current_density_A_m2 or 0.0)  # exactly one is set (config)
                    rate = current / one_c_A_m2
                cap = st.capacity_limit_mAh_g
                steps.append(
                    Step(
                        "cc",
                        sign * current,
                        rate,
                        cutoff_V=st.cutoff_V,
                        duration_s=st.duration_s if st.duration_s is not None else study.time_limit_s,
                        capacity_limit_C_m2=cap * capacity_C_m2_per_mAh_g if cap is not None else cap_limit,
                        label=f"CC {st.direction} {rate:g}C",
                    )
                )
            case CVStep():
                until = st.until_current_density_A_m2
                if st.until_c_rate is not None:
                    until = st.until_c_rate * one_c_A_m2
                steps.append(
                    Step(
                        "cv",
                        voltage_V=st.voltage_V,
                        until_current_A_m2=until,
                        duration_s=st.duration_s,
                        label=f"CV {st.voltage_V:g} V",
                    )
                )
            case RestStep():
                steps.append(Step("rest", 0.0, duration_s=st.duration_s, label=f"rest {st.duration_s:g} s"))
    return steps


def capacity_mAh_g(charge_C_m2: float, mass_kg_m2: float) -> float:
    """Specific capacity [mAh/g] of a charge per geometric area and an LFP mass per geometric area."""
    return charge_C_m2 / C_PER_MAH / (mass_kg_m2 * 1.0e3)


def energy_Wh_kg(energy_J_m2: float, mass_kg_m2: float) -> float:
    """Specific energy [Wh/kg] of an energy per geometric area and an LFP mass per geometric area."""
    return energy_J_m2 / 3600.0 / mass_kg_m2


def rate_at_fraction(c_rates: Sequence[float], capacities: Sequence[float], fraction: float) -> float | None:
    """The C-rate at which capacity falls to ``fraction`` of the lowest-rate value, interpolated in log C.

    Returns ``None`` when it never falls that low within the rates given (the value is above the highest rate)
    or when the lowest-rate capacity is not positive.
    """
    pairs = sorted(zip(c_rates, capacities, strict=True))
    if not pairs or pairs[0][1] <= 0:
        return None
    target = fraction * pairs[0][1]
    for (c0, q0), (c1, q1) in itertools.pairwise(pairs):
        if q1 <= target:  # q0 > target, or the previous pair would have returned
            if q0 == q1:
                return c0
            w = (q0 - target) / (q0 - q1)
            return float(math.exp(math.log(c0) + w * (math.log(c1) - math.log(c0))))
    return None


__all__ = ["C_PER_MAH", "Step", "capacity_mAh_g", "energy_Wh_kg", "rate_at_fraction", "steps_from_config"]
