"""``[study]``: what to compute, and the registry of study kinds.

The ``[study]`` table is flat in the case file, but its keys belong to groups, one dataclass each: the control
(kind, current or voltage), the impedance settings, the protocol settings (discharge and rate) and the
checkpoint settings. Each group checks its own keys; :class:`StudyConfig` is their union. A study kind in
:data:`STUDY_REGISTRY` says which groups it reads and where its code is; the allowed values of ``study.kind``
come from that registry, so adding a study is one module in :mod:`microsim.studies` plus one entry here
(docs/extending.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from microsim.config.fields import Section, check_number, show, spec
from microsim.config.protocol import ProtocolStep, parse_step
from microsim.errors import ConfigError

#: Time-step controls of the protocol runner (study.step_control).
STEP_CONTROLS = ("voltage", "error")
#: Time integration schemes of the transient studies (study.time_scheme).
TIME_SCHEMES = ("euler", "bdf2")

STUDY_MODES = ("galvanostatic", "potentiostatic")
#: C-rates of a rate study when study.c_rates is not given.
DEFAULT_C_RATES = (0.1, 0.2, 0.5, 1.0)


@dataclass(frozen=True)
class StudyKind:
    """One registered study kind.

    Attributes:
        name: The ``study.kind`` value.
        entry: ``"module:class"`` of its :class:`~microsim.studies.base.Study` (imported only when it runs: the
            studies need DOLFINx, the configuration does not).
        doc: One line for ``microsim defaults`` and the docs.
        groups: The ``[study]`` key groups it reads (besides the control keys).
        protocol: It runs a time-stepped protocol (galvanostatic control; cut-offs checked against the OCP).
        takes_steps: It accepts ``[[study.steps]]`` (otherwise they are refused).
        cell_model: The equations of its cell model (:meth:`microsim.physics.model.ModelOptions.for_study`):
            ``"steady"`` (θ frozen), ``"transient"`` (θ in time, the configured double layer and θ mass),
            ``"small-signal"`` (about a rest state, with the double layer), or ``None`` (no cell model).
    """

    name: str
    entry: str
    doc: str
    groups: tuple[str, ...] = ()
    protocol: bool = False
    takes_steps: bool = False
    cell_model: Literal["steady", "transient", "small-signal"] | None = None


#: The study kinds, in the order ``microsim defaults`` lists them.
STUDY_REGISTRY: dict[str, StudyKind] = {
    k.name: k
    for k in (
        StudyKind(
            "resistance", "microsim.studies.resistance:ResistanceStudy", "steady polarisation: R_eff breakdown",
            cell_model="steady",
        ),
        StudyKind(
            "impedance", "microsim.studies.impedance:ImpedanceStudy", "small-signal spectrum", ("impedance",),
            cell_model="small-signal",
        ),
        StudyKind(
            "discharge", "microsim.studies.discharge:DischargeStudy", "a protocol of CC/CV/rest steps",
            ("protocol", "checkpoint"), protocol=True, takes_steps=True, cell_model="transient",
        ),
        StudyKind(
            "rate", "microsim.studies.rate:RateStudy", "one CC discharge per C-rate", ("protocol", "checkpoint"),
            protocol=True, cell_model="transient",
        ),
        StudyKind(
            "effective", "microsim.studies.effective:EffectiveStudy", "effective transport coefficients",
            ("effective",),
        ),
    )
}  # fmt: skip
STUDY_KINDS = tuple(STUDY_REGISTRY)


def register_study(kind: StudyKind) -> None:
    """Add a study kind (a plug-in: microsim's own are listed in :data:`STUDY_REGISTRY` above).

    ``study.kind`` accepts it from then on (its allowed values are a live view of the registry).

    Raises:
        ConfigError: the name is taken, or the entry is not ``"module:Class"``.
    """
    if kind.name in STUDY_REGISTRY:
        raise ConfigError(f"study kind {kind.name!r}: already registered ({STUDY_REGISTRY[kind.name].entry})")
    module, sep, cls = kind.entry.partition(":")
    if not (module and sep and cls):
        raise ConfigError(f"study kind {kind.name!r}: entry = {kind.entry!r}: must be 'module:Class'")
    STUDY_REGISTRY[kind.name] = kind


@dataclass(frozen=True)
class StudyControl:
    """Control keys every study reads: the kind and what is imposed (a current or a voltage)."""

    # a live view of the registry: a registered plug-in study is accepted too
    kind: str = spec("resistance", choices=STUDY_REGISTRY.keys(), doc="study to run")  # type: ignore[arg-type]
    current_density_A_m2: float | None = spec(
        None, kind=float, low=0.0, unit="A/m²", doc="applied current density, geometric area (discharge > 0)",
        unset="chosen by the study (small, linear regime)",
    )  # fmt: skip
    c_rate: float | None = spec(
        None, kind=float, low=0.0, unit="1/h", doc="applied current as a C-rate (1C: 170 mAh/g in one hour)",
        unset="see current_density_A_m2",
    )  # fmt: skip
    mode: str = spec("galvanostatic", choices=STUDY_MODES, doc="control mode")
    voltage_V: float | None = spec(
        None, kind=float, low=2.0, high=4.5, unit="V", doc="cell voltage (required iff potentiostatic)",
        unset="galvanostatic",
    )  # fmt: skip

    @property
    def study_kind(self) -> StudyKind:
        """The registry entry of ``kind``."""
        return STUDY_REGISTRY[self.kind]

    def _check_control(self) -> None:
        if self.current_density_A_m2 is not None and self.c_rate is not None:
            raise ConfigError(
                f"study.c_rate = {show(self.c_rate)}: give either study.current_density_A_m2 "
                f"(= {show(self.current_density_A_m2)}) or study.c_rate, not both"
            )
        if self.mode == "potentiostatic":
            if self.voltage_V is None:
                raise ConfigError(
                    "study.voltage_V: required when study.mode = 'potentiostatic' (must be in (2, 4.5) V)"
                )
            given = "current_density_A_m2" if self.current_density_A_m2 is not None else "c_rate"
            if self.current_density_A_m2 is not None or self.c_rate is not None:
                raise ConfigError(
                    f"study.{given} = {show(getattr(self, given))}: not allowed when "
                    "study.mode = 'potentiostatic' (the voltage is imposed)"
                )
        elif self.voltage_V is not None:
            raise ConfigError(
                f"study.voltage_V = {show(self.voltage_V)}: only allowed when study.mode = 'potentiostatic' "
                f"(study.mode = {self.mode!r})"
            )


@dataclass(frozen=True)
class ImpedanceSettings:
    """Impedance study: the frequency grid and the rest state."""

    frequency_min_Hz: float = spec(1.0e-2, low=0.0, unit="Hz", doc="impedance: lowest frequency")
    frequency_max_Hz: float = spec(1.0e6, low=0.0, unit="Hz", doc="impedance: highest frequency")
    points_per_decade: int = spec(10, low=1, low_open=False, doc="impedance: log-spaced points per decade")
    state_of_charge: float | None = spec(
        None, kind=float, low=0.0, high=1.0, unit="1", doc="impedance: rest state, SOC = 1 − θ0",
        unset="from conditions.initial_stoichiometry",
    )  # fmt: skip

    def _check_impedance(self) -> None:
        if self.frequency_max_Hz <= self.frequency_min_Hz:
            raise ConfigError(
                f"study.frequency_max_Hz = {show(self.frequency_max_Hz)}: must be larger than "
                f"study.frequency_min_Hz = {show(self.frequency_min_Hz)}"
            )


@dataclass(frozen=True)
class ProtocolSettings:
    """Discharge and rate studies: the protocol, its limits and the adaptive time stepping."""

    c_rates: tuple[float, ...] | None = spec(
        None, kind=list, unit="1/h", doc="rate study: C-rates, each a CC discharge from the initial state",
        unset="0.1, 0.2, 0.5, 1",
    )  # fmt: skip
    steps: tuple[ProtocolStep, ...] | None = spec(
        None, kind=list, doc="discharge: the experiment, [[study.steps]] tables of kind cc | cv | rest",
        unset="one CC discharge at study.c_rate (0.1 if unset) to study.cutoff_discharge_V",
    )  # fmt: skip
    cutoff_discharge_V: float = spec(3.0, low=0.0, unit="V", doc="discharge voltage cut-off")
    cutoff_charge_V: float = spec(3.8, low=0.0, unit="V", doc="charge voltage cut-off")
    capacity_limit_mAh_g: float | None = spec(
        None, kind=float, low=0.0, unit="mAh/g", doc="end a CC step after this capacity", unset="no limit"
    )
    time_limit_s: float | None = spec(
        None, kind=float, low=0.0, unit="s", doc="end a CC step after this time", unset="no limit"
    )
    double_layer: bool = spec(
        False, doc="discharge/rate: include the double-layer charging current C_dl d(φ_s − φ_e)/dt on Γ"
    )
    dt_initial_s: float = spec(1.0, low=0.0, unit="s", doc="first time step of every protocol step")
    dt_min_s: float = spec(1.0e-6, low=0.0, unit="s", doc="smallest time step before giving up")
    dt_max_s: float | None = spec(
        None, kind=float, low=0.0, unit="s", doc="largest time step",
        unset="2 % of the step's 1/C-rate hour for CC, 600 s otherwise",
    )  # fmt: skip
    voltage_step_V: float = spec(
        0.01, low=0.0, unit="V", doc="target voltage change per time step (adaptive step size)"
    )
    time_scheme: str = spec(
        "bdf2",
        choices=TIME_SCHEMES,
        doc="discharge/rate: backward Euler (first order) or variable-step BDF2 (second order; its first step in "
        "every protocol step is backward Euler)",
    )
    predictor: bool = spec(
        True,
        doc="time_scheme = 'bdf2': start each step's Newton iteration from the linear extrapolation of the last two "
        "accepted states (fewer Newton iterations; the converged state does not depend on it)",
    )
    step_control: str = spec(
        "voltage",
        choices=STEP_CONTROLS,
        doc="time-step control: 'voltage' aims at voltage_step_V per step; 'error' keeps the time scheme's "
        "estimated local error in V and in each particle's mean lithiation below the error_tolerance_* keys",
    )
    error_tolerance_V: float = spec(
        1.0e-3, low=0.0, unit="V", doc="step_control = 'error': local error allowed in the voltage per step"
    )
    error_tolerance_theta: float = spec(
        2.0e-3, low=0.0, doc="step_control = 'error': local error allowed in a particle's mean lithiation per step"
    )
    max_cutbacks: int = spec(10, low=0, low_open=False, doc="halvings of a failed time step before giving up")
    cutoff_tolerance_V: float = spec(
        1.0e-5, low=0.0, high=0.01, unit="V", doc="how close the final voltage lands on a cut-off"
    )
    snapshots: int = spec(5, low=0, low_open=False, doc="field snapshots per run in fields_series/*.xdmf")

    def _check_protocol(self, kind: StudyKind, mode: str) -> None:
        """Check ``c_rates`` and ``steps`` (typed, every key present) and the cut-offs."""
        if self.c_rates is not None:
            if not self.c_rates:
                raise ConfigError("study.c_rates = []: give at least one C-rate")
            rates = tuple(check_number(f"study.c_rates[{k}]", r) for k, r in enumerate(self.c_rates))
            object.__setattr__(self, "c_rates", rates)
        if self.steps is not None:
            # the steady studies ignore steps (a sweep may vary study.kind over one base case)
            if kind.protocol and not kind.takes_steps:
                raise ConfigError(
                    f"study.steps: not used by study.kind = {kind.name!r} (it runs one CC discharge per C-rate)"
                )
            if not self.steps:
                raise ConfigError("study.steps = []: empty step list; give at least one step or leave study.steps out")
            cutoffs = (self.cutoff_discharge_V, self.cutoff_charge_V)
            steps = tuple(parse_step(k, st, cutoffs) for k, st in enumerate(self.steps))
            object.__setattr__(self, "steps", steps)
        for name in ("cutoff_discharge_V", "cutoff_charge_V"):
            if not 2.0 < getattr(self, name) < 4.5:
                raise ConfigError(f"study.{name} = {show(getattr(self, name))}: must be in (2, 4.5) V")
        if self.cutoff_charge_V <= self.cutoff_discharge_V:
            raise ConfigError(
                f"study.cutoff_charge_V = {show(self.cutoff_charge_V)}: must be above "
                f"study.cutoff_discharge_V = {show(self.cutoff_discharge_V)}"
            )
        if kind.protocol and mode != "galvanostatic":
            raise ConfigError(
                f"study.mode = {mode!r}: study.kind = {kind.name!r} runs a protocol; use "
                "[[study.steps]] with kind = 'cv' for a voltage hold"
            )
        if self.dt_max_s is not None and self.dt_max_s < self.dt_min_s:
            raise ConfigError(f"study.dt_max_s = {show(self.dt_max_s)}: must be >= study.dt_min_s")


@dataclass(frozen=True)
class CheckpointSettings:
    """Discharge and rate studies: when to write a restart point."""

    checkpoint_interval_s: float = spec(
        600.0, low=0.0, low_open=False, unit="s",
        doc="discharge/rate: simulated time between checkpoints (microsim run --restart); 0: none",
    )  # fmt: skip
    checkpoint_every_steps: int = spec(
        0, low=0, low_open=False, doc="discharge/rate: also a checkpoint every this many time steps; 0: off"
    )
    checkpoint_wall_interval_s: float = spec(
        300.0, low=0.0, low_open=False, unit="s",
        doc="discharge/rate: also a checkpoint (and timeseries.csv) after this much wall time; 0: off",
    )  # fmt: skip


@dataclass(frozen=True)
class EffectiveSettings:
    """Effective-properties study: the mesh-convergence check of κ_eff/κ (docs/model.md §4.6)."""

    convergence_levels: int = spec(
        3, low=0, low_open=False, high=5, high_open=False,
        doc="effective: meshes for the κ_eff extrapolation (the configured one, then sizes / sqrt(2) finer "
        "each); 0 or 1: off",
    )  # fmt: skip


@dataclass(frozen=True)
class StudyConfig(EffectiveSettings, CheckpointSettings, ProtocolSettings, ImpedanceSettings, StudyControl, Section):
    """``[study]``: what to compute. Give at most one of ``current_density_A_m2`` and ``c_rate``.

    The keys, in file order, are those of :class:`StudyControl`, :class:`ImpedanceSettings`,
    :class:`ProtocolSettings`, :class:`CheckpointSettings` and :class:`EffectiveSettings` (dataclass fields are
    collected base-last).
    """

    SECTION: ClassVar[str] = "study"

    def _cross_check(self) -> None:
        self._check_protocol(self.study_kind, self.mode)
        self._check_impedance()
        self._check_control()

    def protocol_tables(self) -> list[dict[str, Any]] | None:
        """``steps`` as plain tables (``None`` when unset)."""
        return None if self.steps is None else [st.to_table() for st in self.steps]


__all__ = [
    "DEFAULT_C_RATES",
    "STUDY_KINDS",
    "STUDY_MODES",
    "STUDY_REGISTRY",
    "CheckpointSettings",
    "EffectiveSettings",
    "ImpedanceSettings",
    "ProtocolSettings",
    "StudyConfig",
    "StudyControl",
    "StudyKind",
    "register_study",
]
