"""``[[study.steps]]``: the experiment of a discharge study as typed steps, and their checks against the OCP.

Each table of ``[[study.steps]]`` becomes one frozen step object (:class:`CCStep`, :class:`CVStep`,
:class:`RestStep`) with every key of its kind present (unset ones ``None``); a CC step's cut-off is resolved from
the study's cut-offs when not given. ``to_table`` gives the table back (the form that ``to_dict`` writes and
that sweeps and checkpoints hash), in the same key order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from microsim.config.fields import check_value, did_you_mean, meta_for, show, spec
from microsim.errors import ConfigError
from microsim.parameters.ocp import make_ocp

STEP_DIRECTIONS = ("discharge", "charge")
_V_LOW, _V_HIGH = 2.0, 4.5  # the voltage window of every cut-off and hold [V]


@dataclass(frozen=True)
class _Step:
    """Shared behaviour of the step kinds: table I/O with field checks."""

    KIND: ClassVar[str] = ""

    @property
    def kind(self) -> str:
        """``cc``, ``cv`` or ``rest``."""
        return self.KIND

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys a table of this kind may have (``kind`` first)."""
        return ("kind", *(f.name for f in fields(cls)))

    def voltages(self) -> dict[str, float]:
        """The step's voltages that the OCP must be able to reach (key -> V)."""
        return {}

    def to_table(self) -> dict[str, Any]:
        """The step as a table with every key of its kind (``None`` for unset)."""
        return {"kind": self.KIND, **{f.name: getattr(self, f.name) for f in fields(self)}}

    @classmethod
    def _checked(cls, where: str, table: Mapping[str, Any]) -> dict[str, Any]:
        for key in table:
            if key not in cls.keys():
                hint = did_you_mean(key, list(cls.keys()), prefix=f"{where}.")
                raise ConfigError(f"unknown key '{where}.{key}' for a {cls.KIND!r} step{hint}")
        out: dict[str, Any] = {}
        for f in fields(cls):
            value = table.get(f.name, f.default)
            out[f.name] = None if value is None else check_value(f"{where}.{f.name}", value, f.metadata)
        return out


def _duration() -> Any:
    return spec(None, kind=float, low=0.0, unit="s", doc="end the step after this time", unset="no limit")


@dataclass(frozen=True)
class CCStep(_Step):
    """Constant current until a cut-off voltage, a capacity or a duration."""

    KIND: ClassVar[str] = "cc"

    c_rate: float | None = spec(None, kind=float, low=0.0, unit="1/h", doc="current as a C-rate")
    current_density_A_m2: float | None = spec(None, kind=float, low=0.0, unit="A/m2", doc="current density")
    direction: str = spec("discharge", choices=STEP_DIRECTIONS, doc="discharge or charge")
    cutoff_V: float | None = spec(
        None, kind=float, low=_V_LOW, high=_V_HIGH, unit="V", doc="cut-off voltage",
        unset="study.cutoff_discharge_V or study.cutoff_charge_V",
    )  # fmt: skip
    capacity_limit_mAh_g: float | None = spec(
        None, kind=float, low=0.0, unit="mAh/g", doc="end after this capacity", unset="no limit"
    )
    duration_s: float | None = _duration()

    def voltages(self) -> dict[str, float]:
        """The cut-off (resolved from the study's when not given)."""
        return {"cutoff_V": self.cutoff_V} if self.cutoff_V is not None else {}

    @classmethod
    def from_table(cls, where: str, table: Mapping[str, Any], cutoffs: tuple[float, float]) -> CCStep:
        """Check a ``cc`` table; ``cutoffs`` = (discharge, charge) cut-offs of the study for an unset one."""
        v = cls._checked(where, table)
        if (v["c_rate"] is None) == (v["current_density_A_m2"] is None):
            raise ConfigError(f"{where}.c_rate: a 'cc' step needs exactly one of c_rate and current_density_A_m2")
        if v["cutoff_V"] is None:
            v["cutoff_V"] = cutoffs[0] if v["direction"] == "discharge" else cutoffs[1]
        return cls(**v)


@dataclass(frozen=True)
class CVStep(_Step):
    """Constant voltage until the current falls below a limit, or for a duration."""

    KIND: ClassVar[str] = "cv"

    voltage_V: float | None = spec(None, kind=float, low=_V_LOW, high=_V_HIGH, unit="V", doc="held cell voltage")
    until_c_rate: float | None = spec(None, kind=float, low=0.0, unit="1/h", doc="end below this C-rate")
    until_current_density_A_m2: float | None = spec(
        None, kind=float, low=0.0, unit="A/m2", doc="end below this current density"
    )
    duration_s: float | None = _duration()

    def voltages(self) -> dict[str, float]:
        """The held voltage."""
        return {"voltage_V": self.voltage_V} if self.voltage_V is not None else {}

    @classmethod
    def from_table(cls, where: str, table: Mapping[str, Any], cutoffs: tuple[float, float]) -> CVStep:
        """Check a ``cv`` table (``cutoffs`` unused: a hold has no cut-off)."""
        v = cls._checked(where, table)
        if v["voltage_V"] is None:
            raise ConfigError(f"{where}.voltage_V: required for a 'cv' step (the held cell voltage, V)")
        if v["until_c_rate"] is not None and v["until_current_density_A_m2"] is not None:
            raise ConfigError(f"{where}.until_c_rate: give until_c_rate or until_current_density_A_m2, not both")
        if v["until_c_rate"] is None and v["until_current_density_A_m2"] is None and v["duration_s"] is None:
            raise ConfigError(
                f"{where}.until_c_rate: a 'cv' step needs an end: until_c_rate, until_current_density_A_m2 "
                "or duration_s"
            )
        return cls(**v)


@dataclass(frozen=True)
class RestStep(_Step):
    """Open circuit for a duration."""

    KIND: ClassVar[str] = "rest"

    duration_s: float | None = spec(None, kind=float, low=0.0, unit="s", doc="rest time")

    @classmethod
    def from_table(cls, where: str, table: Mapping[str, Any], cutoffs: tuple[float, float]) -> RestStep:
        """Check a ``rest`` table (``cutoffs`` unused)."""
        v = cls._checked(where, table)
        if v["duration_s"] is None:
            raise ConfigError(f"{where}.duration_s: required for a 'rest' step (s)")
        return cls(**v)


#: The step kinds by their ``kind`` key.
STEP_TYPES: dict[str, type[CCStep] | type[CVStep] | type[RestStep]] = {t.KIND: t for t in (CCStep, CVStep, RestStep)}
STEP_KINDS = tuple(STEP_TYPES)
ProtocolStep = CCStep | CVStep | RestStep


def parse_step(k: int, table: object, cutoffs: tuple[float, float]) -> ProtocolStep:
    """One ``[[study.steps]]`` table (or an already typed step) -> its typed step.

    Raises:
        ConfigError: Not a table, unknown kind or key, out-of-range value, missing end or voltage.
    """
    where = f"study.steps[{k}]"
    if isinstance(table, CCStep | CVStep | RestStep):
        table = table.to_table()
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} = {show(table)}: must be a table ([[study.steps]])")
    kind = check_value(f"{where}.kind", table.get("kind", None), meta_for(str, choices=STEP_KINDS))
    return STEP_TYPES[kind].from_table(where, {k2: v for k2, v in table.items() if k2 != "kind"}, cutoffs)


def check_protocol_against_ocp(
    steps: tuple[ProtocolStep, ...] | None,
    cutoffs: tuple[float, float],
    ocp_spec: str,
    theta0: float,
    field: str = "lfp.ocp",
) -> None:
    """Cut-offs and held voltages must lie inside the OCP range, and a discharge must start above its cut-off.

    A cut-off outside ``(min U, max U)`` over ``0 < θ < 1`` could never be reached by the open-circuit curve: at
    a low rate the run would saturate the particles instead of ending.

    Args:
        steps: The typed steps, or ``None`` for the default single CC discharge.
        cutoffs: ``(study.cutoff_discharge_V, study.cutoff_charge_V)``.
        ocp_spec: The LiFePO4 OCP (``parameters.lfp.ocp``).
        theta0: Initial stoichiometry.
        field: The parameter name of the OCP, for messages.

    Raises:
        ConfigError: naming the offending field, the value and the OCP range.
    """
    ocp = make_ocp(ocp_spec, field=f"parameters.{field}")
    grid = np.linspace(1e-6, 1.0 - 1e-6, 2001)
    u = ocp.numpy(grid)
    lo, hi = float(np.min(u)), float(np.max(u))
    u0 = float(ocp.numpy(np.array(theta0)))

    def check(name: str, value: float | None) -> None:
        if value is not None and not lo < value < hi:
            raise ConfigError(
                f"{name} = {show(value)}: outside the OCP range ({lo:.4g}, {hi:.4g}) V of the LiFePO4 curve "
                f"({ocp.name}); a cut-off there can never be reached"
            )

    if steps is None:
        check("study.cutoff_discharge_V", cutoffs[0])
        check("study.cutoff_charge_V", cutoffs[1])
        if cutoffs[0] >= u0:
            raise ConfigError(
                f"study.cutoff_discharge_V = {show(cutoffs[0])}: must be below the open-circuit "
                f"voltage U(θ0) = {u0:.4g} V at conditions.initial_stoichiometry = {show(theta0)}"
            )
        return
    for k, st in enumerate(steps):
        for key, value in st.voltages().items():
            check(f"study.steps[{k}].{key}", value)


__all__ = [
    "STEP_DIRECTIONS",
    "STEP_KINDS",
    "STEP_TYPES",
    "CCStep",
    "CVStep",
    "ProtocolStep",
    "RestStep",
    "check_protocol_against_ocp",
    "parse_step",
]
