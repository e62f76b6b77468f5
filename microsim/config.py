"""Run configuration: TOML -> one frozen, validated :class:`Config`.

A configuration file has the sections ``[geometry]``, ``[electrolyte]``, ``[conditions]``, ``[parameters]``,
``[study]``, ``[solver]`` and ``[output]``; every key has a default (``microsim defaults`` prints them all).

Validation happens here, entirely in Python and before any MPI collective work. It is deterministic, so every
rank raises the same :class:`~microsim.errors.ConfigError`. Each message is one line naming the field
(``section.key``), the value and what is allowed, e.g.
``geometry.active_fraction = 0.95: must be in (0, 0.9)``. Every section dataclass validates itself in
``__post_init__``, so no invalid ``Config`` can exist.

Example:
    >>> cfg = load("geometries/default-2d.toml", overrides=["geometry.width_um=20"])
    >>> point = replace(cfg, **{"geometry.interface": "point-contact"})
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from microsim.errors import ConfigError
from microsim.parameters import OVERRIDES, named_values
from microsim.parameters.ocp import AFSHAR2017, TABLE_PREFIX, Afshar2017, make_ocp

# Allowed values, one tuple each, so later work extends them in one place.
GEOMETRY_KINDS = ("packing", "planar", "particles-file")
INTERFACES = ("filled", "point-contact", "infiltrated")
ELECTROLYTE_NAMES = ("PAL", "PPAL")
ELECTROLYTE_MODELS = ("binary", "single-ion")
STUDY_KINDS = ("resistance", "impedance", "discharge", "rate", "effective")
STEP_KINDS = ("cc", "cv", "rest")
STEP_DIRECTIONS = ("discharge", "charge")
#: C-rates of a rate study when study.c_rates is not given.
DEFAULT_C_RATES = (0.1, 0.2, 0.5, 1.0)
STUDY_MODES = ("galvanostatic", "potentiostatic")
#: Upper bound on the estimated cell count of a mesh (a guard against typos, far above a cluster run's size).
MAX_CELLS_ESTIMATE = 2.0e8
#: Smallest interface mesh size accepted [µm].
MIN_INTERFACE_MESH_SIZE_UM = 1.0e-3
#: ``auto``: the two-level iterative solver in 3D, MUMPS in 2D (microsim.solver.resolve_linear_solver).
LINEAR_SOLVERS = ("auto", "mumps", "superlu_dist", "two-level")
#: Mass matrix of the lithiation equation in transient runs (docs/solver.md).
THETA_MASS = ("lumped", "consistent")

ABSOLUTE_ZERO_C = -273.15
MAX_TEMPERATURE_C = 200.0


# ----------------------------------------------------------------------------------------------------
# Field specifications
# ----------------------------------------------------------------------------------------------------
def _spec(
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
        kind: ``float``, ``int``, ``str`` or ``bool``; inferred from ``default`` when omitted.
        choices: Allowed values.
        low: Lower bound of numbers.
        high: Upper bound of numbers.
        low_open: Whether ``low`` itself is excluded.
        high_open: Whether ``high`` itself is excluded.
        unit: Unit, for comments.
        doc: One-line description, for comments.
        unset: What an unset (``None``) value means.
        note: Appended to range errors (why the bound exists).
    """
    meta = {
        "kind": kind if kind is not None else type(default),
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
    return field(default=default, metadata=meta)


_KIND_NAMES = {float: "a number", int: "an integer", str: "a string", bool: "true or false", list: "an array"}


def _show(value: Any) -> str:
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


def _fmt(x: float) -> str:
    return f"{x:g}"


def _allowed(meta: Mapping[str, Any]) -> str:
    """Describe the allowed values of a field."""
    if meta["choices"] is not None:
        return "one of " + ", ".join(_show(c) for c in meta["choices"])
    low, high = meta["low"], meta["high"]
    if low is not None and high is not None:
        left = "(" if meta["low_open"] else "["
        right = ")" if meta["high_open"] else "]"
        return f"in {left}{_fmt(low)}, {_fmt(high)}{right}"
    if low is not None:
        return f"{'>' if meta['low_open'] else '>='} {_fmt(low)}"
    if high is not None:
        return f"{'<' if meta['high_open'] else '<='} {_fmt(high)}"
    return _KIND_NAMES[meta["kind"]]


def _check_value(name: str, value: Any, meta: Mapping[str, Any]) -> Any:
    """Check one value against its spec; return it normalised (ints given for floats become floats).

    Raises:
        ConfigError: Wrong type, not finite, out of range or not one of the choices.
    """
    kind = meta["kind"]
    given = value  # shown in messages as the user wrote it (0, not 0.0)
    if kind is float:
        # bool is a subclass of int in Python but never a number in a config file.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} = {_show(value)}: must be a number ({_allowed(meta)})")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{name} = {_show(value)}: must be a finite number ({_allowed(meta)})")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} = {_show(value)}: must be an integer ({_allowed(meta)})")
    elif kind is list:
        # arrays (study.c_rates, study.steps): elements are checked by the section's cross-check
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{name} = {_show(value)}: must be an array")
        value = tuple(value)
    elif not isinstance(value, kind):
        raise ConfigError(f"{name} = {_show(value)}: must be {_KIND_NAMES[kind]}")
    if meta["choices"] is not None and value not in meta["choices"]:
        hint = difflib.get_close_matches(str(value), [str(c) for c in meta["choices"]], n=1)
        did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(f"{name} = {_show(value)}: must be {_allowed(meta)}{did_you_mean}")
    low, high = meta["low"], meta["high"]
    if kind in (float, int):
        too_low = low is not None and (value <= low if meta["low_open"] else value < low)
        too_high = high is not None and (value >= high if meta["high_open"] else value > high)
        if too_low or too_high:
            note = f" ({meta['note']})" if meta["note"] else ""
            raise ConfigError(f"{name} = {_show(given)}: must be {_allowed(meta)}{note}")
    return value


class _Section:
    """Mixin of the section dataclasses: field checks in ``__post_init__``, then section cross-checks."""

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue
            object.__setattr__(self, f.name, _check_value(f"{self.SECTION}.{f.name}", value, f.metadata))
        self._cross_check()

    def _cross_check(self) -> None:
        """Checks that involve more than one key of the section."""


# ----------------------------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeometryConfig(_Section):
    """``[geometry]``: the cell, its particles and its mesh. Lengths in µm.

    ``interface_mesh_size_um`` is stored resolved: when not given it is ``mesh_size_um / 2``.
    """

    SECTION: ClassVar[str] = "geometry"

    kind: str = _spec("packing", choices=GEOMETRY_KINDS, doc="cathode description")
    dim: int = _spec(2, choices=(2, 3), doc="spatial dimension")
    interface: str = _spec(
        "filled",
        choices=INTERFACES,
        doc=(
            "filled: SPE fills the pores; point-contact: membrane on the top particles; infiltrated: point "
            "contact plus SPE in the pores down to infiltration_depth_um below the membrane"
        ),
    )
    width_um: float = _spec(10.0, low=0.0, unit="µm", doc="lateral size W (2D) or W x W (3D)")
    cathode_thickness_um: float = _spec(11.2, low=0.0, unit="µm", doc="cathode layer thickness L_c")
    membrane_thickness_um: float = _spec(9.5, low=0.0, unit="µm", doc="electrolyte membrane thickness L_m")
    active_fraction: float = _spec(
        0.45, low=0.0, high=0.9, unit="1", doc="target LiFePO4 volume fraction of the cathode layer"
    )
    radius_mean_um: float = _spec(0.5, low=0.0, unit="µm", doc="mean particle radius (paired with the LFP D_s)")
    radius_std_um: float = _spec(0.1, low=0.0, low_open=False, unit="µm", doc="particle radius standard deviation")
    contact_radius_um: float = _spec(0.1, low=0.0, unit="µm", doc="contact-spot radius a (point-contact, infiltrated)")
    infiltration_depth_um: float = _spec(
        0.0,
        low=0.0,
        low_open=False,
        unit="µm",
        doc="infiltrated: depth below z = L_c to which the SPE fills the pores (0: point contact; L_c: all)",
    )
    particles_file: str = _spec(
        "", doc="particle list (centres, radii) for kind = particles-file; relative to the config file"
    )
    seed: int = _spec(1, low=0, low_open=False, doc="random seed of the packing")
    mesh_size_um: float = _spec(0.2, low=0.0, unit="µm", doc="bulk mesh size")
    interface_mesh_size_um: float | None = _spec(
        None, kind=float, low=0.0, unit="µm", doc="mesh size at interfaces", unset="mesh_size_um / 2"
    )
    spot_mesh_level: float = _spec(
        1.0,
        low=0.0,
        high=4.0,
        unit="1",
        doc="3D contact spots: mesh level s (edge size 0.1a*s, spot 0.35a*sqrt(s)); 0.5 or 0.25 refine",
    )
    # >= 1e-3: touching particles need a neck the mesher can resolve; tangent circles/spheres cannot be meshed
    overlap_fraction: float = _spec(
        0.05,
        low=1.0e-3,
        high=0.3,
        low_open=False,
        unit="1",
        doc="particle overlap, fraction of the smaller radius",
    )
    min_gap_fraction: float = _spec(
        0.1,
        low=0.0,
        high=1.0,
        unit="1",
        doc="smallest gap kept between non-touching particles, fraction of radius",
    )
    stack_pressure_MPa: float | None = _spec(
        None, kind=float, low=0.0, unit="MPa", doc="stack pressure: sets the spot radius by Hertz (point-contact)",
        unset="contact_radius_um is used",
    )  # fmt: skip
    membrane_modulus_MPa: float = _spec(3.0, low=0.0, unit="MPa", doc="Young's modulus of the SPE (Hertz contact)")

    def _cross_check(self) -> None:
        if self.interface_mesh_size_um is None:
            object.__setattr__(self, "interface_mesh_size_um", self.mesh_size_um / 2.0)
        if self.kind == "packing" and 2.0 * self.radius_mean_um >= self.cathode_thickness_um:
            raise ConfigError(
                f"geometry.radius_mean_um = {_show(self.radius_mean_um)}: 2*radius_mean_um must be < "
                f"geometry.cathode_thickness_um = {_show(self.cathode_thickness_um)}"
            )
        if self.kind != "planar" and self.interface in ("point-contact", "infiltrated"):
            if self.contact_radius_um >= self.radius_mean_um:
                raise ConfigError(
                    f"geometry.contact_radius_um = {_show(self.contact_radius_um)}: must be < "
                    f"geometry.radius_mean_um = {_show(self.radius_mean_um)} (a spot is a cap of a particle)"
                )
        if self.infiltration_depth_um > self.cathode_thickness_um:
            raise ConfigError(
                f"geometry.infiltration_depth_um = {_show(self.infiltration_depth_um)}: must be <= "
                f"geometry.cathode_thickness_um = {_show(self.cathode_thickness_um)} (the SPE cannot go below "
                "the collector)"
            )
        smallest = min(self.width_um, self.cathode_thickness_um, self.membrane_thickness_um)
        # refuse meshes no machine could build (a typo such as mesh_size_um = 2e-5 would run Gmsh for days)
        # the bulk size sets the cell count; interface refinement is local (a shell a few elements thick)
        # (in logarithms: any finite input, however large, must give a message, not an overflow)
        log_cells = (
            (self.dim - 1) * math.log(self.width_um)
            + math.log(self.cathode_thickness_um + self.membrane_thickness_um)
            - self.dim * math.log(self.mesh_size_um)
            + math.log(2.0 if self.dim == 2 else 6.0)
        )
        cells = math.exp(min(log_cells, 700.0))
        if log_cells > math.log(MAX_CELLS_ESTIMATE):
            raise ConfigError(
                f"geometry.mesh_size_um = {_show(self.mesh_size_um)} with geometry.width_um = "
                f"{_show(self.width_um)}, geometry.cathode_thickness_um = "
                f"{_show(self.cathode_thickness_um)}, geometry.membrane_thickness_um = "
                f"{_show(self.membrane_thickness_um)}: about {cells:.2g} cells; at most {MAX_CELLS_ESTIMATE:.0e} "
                "are allowed (use a larger mesh size or a smaller box)"
            )
        if self.interface_mesh_size_um < MIN_INTERFACE_MESH_SIZE_UM:
            raise ConfigError(
                f"geometry.interface_mesh_size_um = {_show(self.interface_mesh_size_um)}: must be >= "
                f"{MIN_INTERFACE_MESH_SIZE_UM:g} µm (1 nm: below the continuum model's validity)"
            )
        if self.mesh_size_um >= smallest:
            raise ConfigError(
                f"geometry.mesh_size_um = {_show(self.mesh_size_um)}: must be < {_fmt(smallest)} "
                "(the smallest of width_um, cathode_thickness_um, membrane_thickness_um)"
            )
        if self.kind == "particles-file":
            if not self.particles_file:
                raise ConfigError(
                    "geometry.particles_file = '': required when geometry.kind = 'particles-file' "
                    "(a file of particle centres and radii)"
                )
            if not Path(self.particles_file).is_file():
                raise ConfigError(
                    f"geometry.particles_file = {self.particles_file!r}: file not found "
                    "(required when geometry.kind = 'particles-file')"
                )


@dataclass(frozen=True)
class ElectrolyteConfig(_Section):
    """``[electrolyte]``: the named SPE; explicit values here replace the named set's (highest precedence)."""

    SECTION: ClassVar[str] = "electrolyte"

    name: str = _spec("PPAL", choices=ELECTROLYTE_NAMES, doc="named parameter set (docs/parameters.md §7.1)")
    model: str = _spec("binary", choices=ELECTROLYTE_MODELS, doc="binary salt, or single-ion conductor (t+ = 1)")
    conductivity_S_m: float | None = _spec(
        None,
        kind=float,
        low=0.0,
        unit="S/m",
        doc="ionic conductivity",
        unset="the named set at the run temperature",
    )
    diffusivity_m2_s: float | None = _spec(
        None,
        kind=float,
        low=0.0,
        unit="m²/s",
        doc="salt diffusivity",
        unset="the named set at the run temperature",
    )
    transference_number: float | None = _spec(
        None, kind=float, low=-1.0, high=1.0, high_open=False, unit="1", doc="cation transference number t+",
        unset="the named set (0.2; 1 for single-ion)",
    )  # fmt: skip
    concentration_mol_m3: float | None = _spec(
        None, kind=float, low=0.0, unit="mol/m³", doc="salt concentration c0", unset="the named set (1100)"
    )

    def _cross_check(self) -> None:
        if self.model == "single-ion" and self.transference_number not in (None, 1.0):
            raise ConfigError(
                f"electrolyte.transference_number = {_show(self.transference_number)}: must be 1 (or unset) "
                "when electrolyte.model = 'single-ion'"
            )


@dataclass(frozen=True)
class ConditionsConfig(_Section):
    """``[conditions]``: operating temperature and initial state."""

    SECTION: ClassVar[str] = "conditions"

    temperature_C: float = _spec(
        30.0, low=ABSOLUTE_ZERO_C, high=MAX_TEMPERATURE_C, unit="°C", doc="cell temperature (isothermal)",
        note="°C; the upper bound is a sanity limit: Li melts at 180.5 °C",
    )  # fmt: skip
    initial_stoichiometry: float = _spec(
        0.5, low=0.0, high=1.0, unit="1", doc="initial Li fraction θ0 = c_s/c_max of the particles"
    )


@dataclass(frozen=True)
class StudyConfig(_Section):
    """``[study]``: what to compute. Give at most one of ``current_density_A_m2`` and ``c_rate``."""

    SECTION: ClassVar[str] = "study"

    kind: str = _spec("resistance", choices=STUDY_KINDS, doc="study to run")
    current_density_A_m2: float | None = _spec(
        None, kind=float, low=0.0, unit="A/m²", doc="applied current density, geometric area (discharge > 0)",
        unset="chosen by the study (small, linear regime)",
    )  # fmt: skip
    c_rate: float | None = _spec(
        None, kind=float, low=0.0, unit="1/h", doc="applied current as a C-rate (1C: 170 mAh/g in one hour)",
        unset="see current_density_A_m2",
    )  # fmt: skip
    mode: str = _spec("galvanostatic", choices=STUDY_MODES, doc="control mode")
    voltage_V: float | None = _spec(
        None, kind=float, low=2.0, high=4.5, unit="V", doc="cell voltage (required iff potentiostatic)",
        unset="galvanostatic",
    )  # fmt: skip
    frequency_min_Hz: float = _spec(1.0e-2, low=0.0, unit="Hz", doc="impedance: lowest frequency")
    frequency_max_Hz: float = _spec(1.0e6, low=0.0, unit="Hz", doc="impedance: highest frequency")
    points_per_decade: int = _spec(10, low=1, low_open=False, doc="impedance: log-spaced points per decade")
    state_of_charge: float | None = _spec(
        None, kind=float, low=0.0, high=1.0, unit="1", doc="impedance: rest state, SOC = 1 − θ0",
        unset="from conditions.initial_stoichiometry",
    )  # fmt: skip
    # --- discharge / rate (protocols; see microsim.studies.stepping) ---
    c_rates: tuple[float, ...] | None = _spec(
        None, kind=list, unit="1/h", doc="rate study: C-rates, each a CC discharge from the initial state",
        unset="0.1, 0.2, 0.5, 1",
    )  # fmt: skip
    steps: tuple[dict[str, Any], ...] | None = _spec(
        None, kind=list, doc="discharge: the experiment, [[study.steps]] tables of kind cc | cv | rest",
        unset="one CC discharge at study.c_rate (0.1 if unset) to study.cutoff_discharge_V",
    )  # fmt: skip
    cutoff_discharge_V: float = _spec(3.0, low=0.0, unit="V", doc="discharge voltage cut-off")
    cutoff_charge_V: float = _spec(3.8, low=0.0, unit="V", doc="charge voltage cut-off")
    capacity_limit_mAh_g: float | None = _spec(
        None, kind=float, low=0.0, unit="mAh/g", doc="end a CC step after this capacity", unset="no limit"
    )
    time_limit_s: float | None = _spec(
        None, kind=float, low=0.0, unit="s", doc="end a CC step after this time", unset="no limit"
    )
    double_layer: bool = _spec(
        False, doc="discharge/rate: include the double-layer charging current C_dl d(φ_s − φ_e)/dt on Γ"
    )
    dt_initial_s: float = _spec(1.0, low=0.0, unit="s", doc="first time step of every protocol step")
    dt_min_s: float = _spec(1.0e-6, low=0.0, unit="s", doc="smallest time step before giving up")
    dt_max_s: float | None = _spec(
        None, kind=float, low=0.0, unit="s", doc="largest time step",
        unset="2 % of the step's 1/C-rate hour for CC, 600 s otherwise",
    )  # fmt: skip
    voltage_step_V: float = _spec(
        0.01, low=0.0, unit="V", doc="target voltage change per time step (adaptive step size)"
    )
    max_cutbacks: int = _spec(10, low=0, low_open=False, doc="halvings of a failed time step before giving up")
    cutoff_tolerance_V: float = _spec(
        1.0e-5, low=0.0, high=0.01, unit="V", doc="how close the final voltage lands on a cut-off"
    )
    snapshots: int = _spec(5, low=0, low_open=False, doc="field snapshots per run in fields_series/*.xdmf")
    checkpoint_interval_s: float = _spec(
        600.0, low=0.0, low_open=False, unit="s",
        doc="discharge/rate: simulated time between checkpoints (microsim run --restart); 0: none",
    )  # fmt: skip
    checkpoint_every_steps: int = _spec(
        0, low=0, low_open=False, doc="discharge/rate: also a checkpoint every this many time steps; 0: off"
    )
    checkpoint_wall_interval_s: float = _spec(
        300.0, low=0.0, low_open=False, unit="s",
        doc="discharge/rate: also a checkpoint (and timeseries.csv) after this much wall time; 0: off",
    )  # fmt: skip

    def _cross_check(self) -> None:
        self._check_protocol()
        if self.frequency_max_Hz <= self.frequency_min_Hz:
            raise ConfigError(
                f"study.frequency_max_Hz = {_show(self.frequency_max_Hz)}: must be larger than "
                f"study.frequency_min_Hz = {_show(self.frequency_min_Hz)}"
            )
        if self.current_density_A_m2 is not None and self.c_rate is not None:
            raise ConfigError(
                f"study.c_rate = {_show(self.c_rate)}: give either study.current_density_A_m2 "
                f"(= {_show(self.current_density_A_m2)}) or study.c_rate, not both"
            )
        if self.mode == "potentiostatic":
            if self.voltage_V is None:
                raise ConfigError(
                    "study.voltage_V: required when study.mode = 'potentiostatic' (must be in (2, 4.5) V)"
                )
            given = "current_density_A_m2" if self.current_density_A_m2 is not None else "c_rate"
            if self.current_density_A_m2 is not None or self.c_rate is not None:
                raise ConfigError(
                    f"study.{given} = {_show(getattr(self, given))}: not allowed when "
                    "study.mode = 'potentiostatic' (the voltage is imposed)"
                )
        elif self.voltage_V is not None:
            raise ConfigError(
                f"study.voltage_V = {_show(self.voltage_V)}: only allowed when study.mode = 'potentiostatic' "
                f"(study.mode = {self.mode!r})"
            )

    # --- protocol checks (discharge / rate) ---------------------------------------------------------------
    def _check_protocol(self) -> None:
        """Check ``c_rates`` and ``steps`` and normalise each step to a full table (every key present)."""
        if self.c_rates is not None:
            if not self.c_rates:
                raise ConfigError("study.c_rates = []: give at least one C-rate")
            rates = []
            for k, r in enumerate(self.c_rates):
                meta = {"kind": float, "choices": None, "low": 0.0, "high": None, "low_open": True,
                        "high_open": True, "note": ""}  # fmt: skip
                rates.append(_check_value(f"study.c_rates[{k}]", r, meta))
            object.__setattr__(self, "c_rates", tuple(rates))
        if self.steps is not None:
            if self.kind == "rate":
                raise ConfigError("study.steps: not used by study.kind = 'rate' (it runs one CC discharge per C-rate)")
            if not self.steps:
                raise ConfigError("study.steps = []: empty step list; give at least one step or leave study.steps out")
            object.__setattr__(self, "steps", tuple(self._normalise_step(k, st) for k, st in enumerate(self.steps)))
        for name in ("cutoff_discharge_V", "cutoff_charge_V"):
            if not 2.0 < getattr(self, name) < 4.5:
                raise ConfigError(f"study.{name} = {_show(getattr(self, name))}: must be in (2, 4.5) V")
        if self.cutoff_charge_V <= self.cutoff_discharge_V:
            raise ConfigError(
                f"study.cutoff_charge_V = {_show(self.cutoff_charge_V)}: must be above "
                f"study.cutoff_discharge_V = {_show(self.cutoff_discharge_V)}"
            )
        if self.kind in ("discharge", "rate") and self.mode != "galvanostatic":
            raise ConfigError(
                f"study.mode = {self.mode!r}: study.kind = {self.kind!r} runs a protocol; use "
                "[[study.steps]] with kind = 'cv' for a voltage hold"
            )
        if self.dt_max_s is not None and self.dt_max_s < self.dt_min_s:
            raise ConfigError(f"study.dt_max_s = {_show(self.dt_max_s)}: must be >= study.dt_min_s")

    def _normalise_step(self, k: int, step: Any) -> dict[str, Any]:
        """One ``[[study.steps]]`` table -> a dict with every key of its kind (unset ones ``None``)."""
        where = f"study.steps[{k}]"
        if not isinstance(step, Mapping):
            raise ConfigError(f"{where} = {_show(step)}: must be a table ([[study.steps]])")
        allowed = {
            "cc": ("kind", "c_rate", "current_density_A_m2", "direction", "cutoff_V", "capacity_limit_mAh_g",
                   "duration_s"),
            "cv": ("kind", "voltage_V", "until_c_rate", "until_current_density_A_m2", "duration_s"),
            "rest": ("kind", "duration_s"),
        }  # fmt: skip
        kind = _check_value(f"{where}.kind", step.get("kind", None), {
            "kind": str, "choices": STEP_KINDS, "low": None, "high": None, "low_open": True, "high_open": True,
            "note": ""})  # fmt: skip
        for key in step:
            if key not in allowed[kind]:
                hint = difflib.get_close_matches(key, allowed[kind], n=1)
                did_you_mean = f" (did you mean '{where}.{hint[0]}'?)" if hint else ""
                raise ConfigError(f"unknown key '{where}.{key}' for a {kind!r} step{did_you_mean}")

        def num(key: str, low: float | None = 0.0, high: float | None = None) -> float | None:
            if step.get(key) is None:
                return None
            meta = {"kind": float, "choices": None, "low": low, "high": high, "low_open": True, "high_open": True,
                    "note": ""}  # fmt: skip
            return _check_value(f"{where}.{key}", step[key], meta)

        out: dict[str, Any] = {key: None for key in allowed[kind]}
        out["kind"] = kind
        out["duration_s"] = num("duration_s")
        if kind == "cc":
            out["c_rate"], out["current_density_A_m2"] = num("c_rate"), num("current_density_A_m2")
            if (out["c_rate"] is None) == (out["current_density_A_m2"] is None):
                raise ConfigError(f"{where}.c_rate: a 'cc' step needs exactly one of c_rate and current_density_A_m2")
            out["direction"] = _check_value(f"{where}.direction", step.get("direction", "discharge"), {
                "kind": str, "choices": STEP_DIRECTIONS, "low": None, "high": None, "low_open": True,
                "high_open": True, "note": ""})  # fmt: skip
            out["cutoff_V"] = num("cutoff_V", 2.0, 4.5)
            if out["cutoff_V"] is None:
                out["cutoff_V"] = self.cutoff_discharge_V if out["direction"] == "discharge" else self.cutoff_charge_V
            out["capacity_limit_mAh_g"] = num("capacity_limit_mAh_g")
        elif kind == "cv":
            out["voltage_V"] = num("voltage_V", 2.0, 4.5)
            if out["voltage_V"] is None:
                raise ConfigError(f"{where}.voltage_V: required for a 'cv' step (the held cell voltage, V)")
            out["until_c_rate"] = num("until_c_rate")
            out["until_current_density_A_m2"] = num("until_current_density_A_m2")
            if out["until_c_rate"] is not None and out["until_current_density_A_m2"] is not None:
                raise ConfigError(f"{where}.until_c_rate: give until_c_rate or until_current_density_A_m2, not both")
            if out["until_c_rate"] is None and out["until_current_density_A_m2"] is None and out["duration_s"] is None:
                raise ConfigError(
                    f"{where}.until_c_rate: a 'cv' step needs an end: until_c_rate, until_current_density_A_m2 "
                    "or duration_s"
                )
        elif out["duration_s"] is None:
            raise ConfigError(f"{where}.duration_s: required for a 'rest' step (s)")
        return out


def check_protocol_against_ocp(study: StudyConfig, ocp_spec: str, theta0: float, field: str = "lfp.ocp") -> None:
    """Cut-offs and held voltages must lie inside the OCP range, and a discharge must start above its cut-off.

    A cut-off outside ``(min U, max U)`` over ``0 < θ < 1`` could never be reached by the open-circuit curve: at
    a low rate the run would saturate the particles instead of ending.

    Raises:
        ConfigError: naming the offending field, the value and the OCP range.
    """
    import numpy as np

    ocp = make_ocp(ocp_spec, field=f"parameters.{field}")
    grid = np.linspace(1e-6, 1.0 - 1e-6, 2001)
    u = ocp.numpy(grid)
    lo, hi = float(np.min(u)), float(np.max(u))
    u0 = float(ocp.numpy(np.array(theta0)))

    def check(name: str, value: float) -> None:
        if not lo < value < hi:
            raise ConfigError(
                f"{name} = {_show(value)}: outside the OCP range ({lo:.4g}, {hi:.4g}) V of the LiFePO4 curve "
                f"({ocp.name}); a cut-off there can never be reached"
            )

    if study.steps is None:
        check("study.cutoff_discharge_V", study.cutoff_discharge_V)
        check("study.cutoff_charge_V", study.cutoff_charge_V)
        if study.cutoff_discharge_V >= u0:
            raise ConfigError(
                f"study.cutoff_discharge_V = {_show(study.cutoff_discharge_V)}: must be below the open-circuit "
                f"voltage U(θ0) = {u0:.4g} V at conditions.initial_stoichiometry = {_show(theta0)}"
            )
        return
    for k, st in enumerate(study.steps):
        if st["kind"] == "cc":
            check(f"study.steps[{k}].cutoff_V", st["cutoff_V"])
        elif st["kind"] == "cv":
            check(f"study.steps[{k}].voltage_V", st["voltage_V"])


@dataclass(frozen=True)
class SolverConfig(_Section):
    """``[solver]``: linear and nonlinear solver settings."""

    SECTION: ClassVar[str] = "solver"

    linear_solver: str = _spec(
        "auto",
        choices=LINEAR_SOLVERS,
        doc="linear solver: auto (two-level in 3D, mumps in 2D), mumps, superlu_dist or two-level",
    )
    newton_max_iterations: int = _spec(30, low=1, low_open=False, doc="Newton iteration limit")
    newton_tolerance: float = _spec(
        1e-10,
        low=0.0,
        high=1e-3,
        high_open=False,
        unit="1",
        doc="update test: a full Newton step below this (max-norm of the scaled update, V for potentials) ends it",
    )
    newton_rtol: float = _spec(
        1e-10,
        low=0.0,
        low_open=False,
        high=1e-3,
        high_open=False,
        unit="1",
        doc="residual test: every block's scaled residual below this fraction of its first value",
    )
    theta_mass: str = _spec(
        "lumped",
        choices=THETA_MASS,
        doc="discharge/rate: lithiation mass matrix; lumped keeps θ in [0, 1], consistent is more accurate at "
        "the surface on coarse meshes but can leave [0, 1] from a nearly empty or full particle",
    )
    newton_atol: float = _spec(
        0.0,
        low=0.0,
        low_open=False,
        high=1e-3,
        high_open=False,
        unit="1",
        doc="absolute residual that always passes the residual test (also added to the round-off floors)",
    )


@dataclass(frozen=True)
class OutputConfig(_Section):
    """``[output]``: what to write besides the summary."""

    SECTION: ClassVar[str] = "output"

    xdmf: bool = _spec(True, doc="write fields as XDMF")
    png: bool = _spec(True, doc="write PNG figures")
    progress_interval_s: float = _spec(
        30.0, low=0.0, low_open=False, unit="s",
        doc="without a terminal: wall time between progress lines of long studies; 0: every step",
    )  # fmt: skip


_SECTIONS: dict[str, type[_Section]] = {
    "geometry": GeometryConfig,
    "electrolyte": ElectrolyteConfig,
    "conditions": ConditionsConfig,
    "parameters": dict,  # type: ignore[dict-item]  # a flat table of named overrides, checked by Config
    "study": StudyConfig,
    "solver": SolverConfig,
    "output": OutputConfig,
}
SECTION_NAMES = tuple(_SECTIONS)


# ----------------------------------------------------------------------------------------------------
# [parameters]
# ----------------------------------------------------------------------------------------------------
def _flatten_parameters(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested tables (``[parameters.lfp]``) into dotted names; quoted dotted keys pass through.

    Raises:
        ConfigError: The same name given twice (e.g. nested and quoted).
    """
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        items = _flatten_parameters(value, name + ".") if isinstance(value, Mapping) else {name: value}
        for sub, val in items.items():
            if sub in flat:
                raise ConfigError(f"parameters.{sub}: given twice (as a nested table and as a dotted key)")
            flat[sub] = val
    return flat


def _absolute_table(spec: Any, base_dir: Path | None) -> Any:
    """Make the path of a ``table:PATH`` OCP spec absolute (relative to ``base_dir``)."""
    if isinstance(spec, str) and spec.strip().startswith(TABLE_PREFIX):
        path = Path(spec.strip()[len(TABLE_PREFIX) :].strip()).expanduser()
        if not path.is_absolute():
            path = Path(base_dir or Path.cwd()) / path
        return TABLE_PREFIX + str(path.resolve())
    return spec


def _check_parameters(table: Mapping[str, Any]) -> dict[str, float | str]:
    """Check ``[parameters]`` overrides: known names, types and ranges. Returns the normalised flat dict."""
    out: dict[str, float | str] = {}
    for name, value in _flatten_parameters(table).items():
        spec = OVERRIDES.get(name)
        if spec is None:
            hint = difflib.get_close_matches(name, list(OVERRIDES), n=1)
            did_you_mean = f" (did you mean 'parameters.{hint[0]}'?)" if hint else ""
            raise ConfigError(f"unknown key 'parameters.{name}'{did_you_mean}")
        if spec.kind == "ocp":
            if not isinstance(value, str):
                raise ConfigError(
                    f"parameters.{name} = {_show(value)}: must be a string: '{AFSHAR2017}', "
                    f"'{TABLE_PREFIX}PATH' or a formula in x"
                )
            ocp = make_ocp(value, field=f"parameters.{name}")
            # Canonical text, so that equal configurations compare and hash equal.
            out[name] = AFSHAR2017 if isinstance(ocp, Afshar2017) else ocp.name
        else:
            meta = {
                "kind": float,
                "choices": None,
                "low": spec.low,
                "high": spec.high,
                "low_open": spec.low_open,
                "high_open": spec.high_open,
                "note": "",
            }
            out[name] = _check_value(f"parameters.{name}", value, meta)
    return out


# ----------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """A complete, validated run configuration.

    Attributes:
        geometry: ``[geometry]``.
        electrolyte: ``[electrolyte]``.
        conditions: ``[conditions]``.
        parameters: ``[parameters]`` overrides, flat dotted names -> value (a private copy; do not mutate).
        study: ``[study]``.
        solver: ``[solver]``.
        output: ``[output]``.
        source: The file it was loaded from, or ``None`` (not part of equality).
    """

    geometry: GeometryConfig = field(default_factory=GeometryConfig)
    electrolyte: ElectrolyteConfig = field(default_factory=ElectrolyteConfig)
    conditions: ConditionsConfig = field(default_factory=ConditionsConfig)
    parameters: dict[str, float | str] = field(default_factory=dict)
    study: StudyConfig = field(default_factory=StudyConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    source: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            if name != "parameters" and not isinstance(getattr(self, name), cls):
                raise ConfigError(f"section '[{name}]' must be a {cls.__name__}")
        if not isinstance(self.parameters, Mapping):
            raise ConfigError(f"section '[parameters]' = {_show(self.parameters)}: must be a table")
        object.__setattr__(self, "parameters", _check_parameters(self.parameters))
        if self.study.kind in ("discharge", "rate"):
            check_protocol_against_ocp(
                self.study, str(self.parameters.get("lfp.ocp", AFSHAR2017)), self.conditions.initial_stoichiometry
            )
        t_plus = self.parameters.get("electrolyte.transference_number")
        if self.electrolyte.model == "single-ion" and t_plus not in (None, 1.0):
            raise ConfigError(
                f"parameters.electrolyte.transference_number = {_show(t_plus)}: must be 1 (or unset) "
                "when electrolyte.model = 'single-ion'"
            )

    def __hash__(self) -> int:
        # The parameters dict is unhashable; hash the canonical content instead (same as equality).
        return hash(json.dumps(to_dict(self), sort_keys=True))


def default() -> Config:
    """Return the default configuration (PPAL, 30 °C, 2D packing, filled interface, resistance study)."""
    return Config()


def from_dict(d: Mapping[str, Any], base_dir: str | Path | None = None, source: str | Path | None = None) -> Config:
    """Build and validate a configuration from a nested dict (as ``tomllib`` returns it).

    Args:
        d: ``{section: {key: value}}``; missing sections and keys take their defaults.
        base_dir: Directory that relative file paths (``geometry.particles_file``, ``table:`` OCPs) resolve
            against; default: the directory of ``source``, else the working directory.
        source: The file the dict came from, recorded as ``Config.source``.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: Unknown section or key, wrong type, out-of-range or inconsistent value.
    """
    if not isinstance(d, Mapping):
        raise ConfigError(f"configuration = {_show(d)}: must be a table of sections")
    source_path = Path(source).resolve() if source is not None else None
    if base_dir is None:
        base_dir = source_path.parent if source_path is not None else Path.cwd()
    base = Path(base_dir)
    sections: dict[str, Any] = {}
    for name, table in d.items():
        if name not in _SECTIONS:
            hint = difflib.get_close_matches(name, SECTION_NAMES, n=1)
            did_you_mean = f" (did you mean '[{hint[0]}]'?)" if hint else ""
            raise ConfigError(f"unknown section '[{name}]'{did_you_mean}; sections are " + ", ".join(SECTION_NAMES))
        if not isinstance(table, Mapping):
            raise ConfigError(f"{name} = {_show(table)}: must be a table ([{name}])")
        if name == "parameters":
            flat = _flatten_parameters(table)
            if "lfp.ocp" in flat:
                flat["lfp.ocp"] = _absolute_table(flat["lfp.ocp"], base)
            sections[name] = flat
            continue
        cls = _SECTIONS[name]
        known = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        for key in table:
            if key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                did_you_mean = f" (did you mean '{name}.{hint[0]}'?)" if hint else ""
                raise ConfigError(f"unknown key '{name}.{key}'{did_you_mean}")
        values = dict(table)
        if name == "geometry" and isinstance(values.get("particles_file"), str) and values["particles_file"]:
            path = Path(values["particles_file"]).expanduser()
            values["particles_file"] = str(path if path.is_absolute() else (base / path).resolve())
        sections[name] = cls(**values)
    return Config(**sections, source=source_path)


def to_dict(cfg: Config) -> dict[str, dict[str, Any]]:
    """Return the configuration as a nested dict of plain values; ``None`` values are omitted.

    ``geometry.interface_mesh_size_um`` is omitted when it equals ``mesh_size_um / 2`` (its unset meaning), so
    that changing the mesh size later also changes it.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in SECTION_NAMES:
        section = getattr(cfg, name)
        if name == "parameters":
            out[name] = dict(section)
            continue
        table = {f.name: getattr(section, f.name) for f in fields(section) if getattr(section, f.name) is not None}
        if name == "geometry" and math.isclose(table["interface_mesh_size_um"], table["mesh_size_um"] / 2.0):
            del table["interface_mesh_size_um"]
        out[name] = table
    return out


def replace(cfg: Config, **changes: Any) -> Config:
    """Return a validated copy of ``cfg`` with dotted fields changed.

    Args:
        cfg: The configuration to start from.
        **changes: ``"section.key": value`` (``"parameters.lfp.ocp": "..."`` for overrides); ``None`` restores
            the default. Pass them as ``**{"geometry.interface": "point-contact"}``.

    Raises:
        ConfigError: Unknown or invalid field.
    """
    d = to_dict(cfg)
    for dotted, value in changes.items():
        section, key = _split_dotted(dotted, what=f"replace({dotted}=...)")
        table = d.setdefault(section, {})
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return from_dict(d, source=cfg.source)


def _split_dotted(dotted: str, what: str) -> tuple[str, str]:
    section, _, key = dotted.strip().partition(".")
    if not section or not key:
        raise ConfigError(f"{what}: the name must be SECTION.KEY, e.g. geometry.width_um")
    return section, key


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
        section, key = _split_dotted(name, what=f"--set {item!r}")
        table = out.setdefault(section, {})
        if not isinstance(table, Mapping):
            raise ConfigError(f"{section} = {_show(table)}: must be a table ([{section}])")
        table = dict(table)
        if section == "parameters":
            table = _flatten_parameters(table)
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


# ----------------------------------------------------------------------------------------------------
# TOML output
# ----------------------------------------------------------------------------------------------------
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
    parts.append(f"allowed: {_allowed(meta)}")
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
        "# or 'table:PATH' (a CSV file with columns x,U_V).",
    ]
    for name, value in cfg.parameters.items():
        lines.append(f"{_toml_key(name)} = {_toml_value(value)}")
    named = named_values(cfg.electrolyte.name, cfg.conditions.temperature_C - ABSOLUTE_ZERO_C)
    for name, spec in OVERRIDES.items():
        if name in cfg.parameters:
            continue
        value = named[name]
        shown = _toml_value(float(f"{value:.4g}")) if isinstance(value, float) else _toml_value(value)
        unit = f"  # [{spec.unit}]" if spec.unit and spec.unit != "1" else ""
        lines.append(f"# {_toml_key(name)} = {shown}{unit}")
    return lines


__all__ = [
    "ELECTROLYTE_MODELS",
    "ELECTROLYTE_NAMES",
    "GEOMETRY_KINDS",
    "INTERFACES",
    "LINEAR_SOLVERS",
    "SECTION_NAMES",
    "STUDY_KINDS",
    "STUDY_MODES",
    "ConditionsConfig",
    "Config",
    "ElectrolyteConfig",
    "GeometryConfig",
    "OutputConfig",
    "SolverConfig",
    "StudyConfig",
    "apply_overrides",
    "default",
    "dumps",
    "from_dict",
    "load",
    "replace",
    "to_dict",
]
