"""Protocol engine: constant current, constant voltage and rest steps with adaptive time stepping.

A protocol (an "experiment", as in PyBaMM) is a list of :class:`~microsim.studies.protocol.Step`.
:class:`ProtocolRunner` advances a cell model through it with backward Euler steps whose size adapts to

* the voltage change per step (target ``voltage_step_V``; a step that moves the voltage by more than
  :data:`REJECT_FACTOR` times the target is redone smaller, except the first of a protocol step, where the
  jump to the new current is instantaneous whatever the step);
* the Newton iteration count (many iterations: the next step shrinks);
* failures: on a :class:`~microsim.errors.ConvergenceError` the state is restored, the step halved and retried,
  up to ``max_cutbacks`` times, then a ConvergenceError names the time, the step size and the last Newton
  updates.

Events end a step exactly. Time and capacity limits are linear in the step size under a constant current, so
the last step is clipped to hit them. Voltage cut-offs (CC) and the end current of a CV hold are located by
regula falsi (Illinois) on the step size of the last step, between the last accepted state and the first one
past the event, each trial re-solved from the last accepted state, until the voltage is within
``cutoff_tolerance_V`` of the cut-off: the final state and the reported capacity are *at* the cut-off.

Checkpoints: :meth:`ProtocolRunner.state` returns everything the runner needs to continue exactly where it was
after the last accepted step (protocol step index, time within the step, charge and energy so far, the next step
size, the event value and first-step flag, the records and summaries, cut-back counters) as a JSON-able dict;
:meth:`ProtocolRunner.restore` takes it back. A restarted run then repeats the step-size sequence of an
uninterrupted one exactly. The model fields themselves are saved by :mod:`microsim.checkpoint`.

This module does not import DOLFINx: the model only needs ``dt``, ``V``, ``current_density`` and
``current_ref`` objects with a ``value`` attribute plus ``commit_step()``/``restore_step()``, and the solver a
``solve(galvanostatic)`` method and ``constraint_value()``. The unit tests drive it with a zero-dimensional
cell.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from microsim.config import StudyConfig
from microsim.config.study import STEP_CONTROLS, TIME_SCHEMES
from microsim.errors import ConfigError, ConvergenceError, SolutionError

# the protocol definition and its units; re-exported here, where the runner that uses them always was
from microsim.studies.protocol import (
    C_PER_MAH,
    Step,
    capacity_mAh_g,
    energy_Wh_kg,
    rate_at_fraction,
    steps_from_config,
)


def bdf2_weights(omega: float) -> tuple[float, float, float]:
    """Weights of ``u_{n+1}, u_n, u_{n−1}`` in ``h u'`` for variable-step BDF2, ``ω = h_{n+1}/h_n``.

    ``u' ≈ [(1 + 2ω)/(1 + ω) u_{n+1} − (1 + ω) u_n + ω²/(1 + ω) u_{n−1}] / h``; ω = 0 (no previous step) gives
    backward Euler, ``(1, −1, 0)``.
    """
    if omega <= 0.0:
        return 1.0, -1.0, 0.0
    return (1.0 + 2.0 * omega) / (1.0 + omega), -(1.0 + omega), omega * omega / (1.0 + omega)


def extrapolate(times: Sequence[float], values: Sequence[float], t: float) -> float:
    """The polynomial through ``(times, values)`` (Lagrange form) at ``t``."""
    out = 0.0
    for j, (tj, vj) in enumerate(zip(times, values, strict=True)):
        w = 1.0
        for k, tk in enumerate(times):
            if k != j:
                w *= (t - tk) / (tj - tk)
        out += w * vj
    return out


def error_factor(times: Sequence[float], t_new: float, order: int) -> float:
    """Local error of a step over (its result less the extrapolation of the ``order + 1`` states at ``times``).

    Both differences lead with ``y^(order+1)``: evaluated on ``y = (t − t_n)^(order+1)``, for which the
    expansions end there, the ratio is exact for these step sizes (ω = 1: 2/11 for BDF2, 1/3 for backward Euler).
    """
    tn = times[-1]
    h = t_new - tn

    def y(t: float) -> float:
        return (t - tn) ** (order + 1)

    f_new = (order + 1) * h**order  # y'(t_new)
    if order == 1:
        y_step = y(tn) + h * f_new
    else:
        a0, a1, a2 = bdf2_weights(h / (tn - times[-2]))
        y_step = (h * f_new - a1 * y(tn) - a2 * y(times[-2])) / a0
    e_step = y_step - y(t_new)
    e_pred = y(t_new) - extrapolate(times, [y(t) for t in times], t_new)
    return abs(e_step / (e_step + e_pred))


class Adjustable(Protocol):
    """A model constant the runner sets: ``value`` is a float (a DOLFINx ``Constant`` in the real model)."""

    @property
    def value(self) -> Any:  # a float in the unit tests' cell, an array in a DOLFINx Constant
        """The current value."""

    @value.setter
    def value(self, v: Any) -> None: ...  # dolfinx types the setter for arrays; a float works


class SteppableModel(Protocol):
    """What :class:`ProtocolRunner` needs of a cell model (the DOLFINx model or a zero-dimensional one)."""

    @property
    def dt(self) -> Adjustable:
        """The time step [s]."""

    @property
    def V(self) -> Adjustable:
        """The cell voltage [V]."""

    @property
    def current_density(self) -> Adjustable:
        """The applied current density [A/m²]."""

    @property
    def current_ref(self) -> Adjustable:
        """The scale of the current constraint [A/m²]."""

    def commit_step(self) -> None:
        """Accept the current state as the old state of the next time step."""

    def restore_step(self) -> None:
        """Go back to the last accepted state."""


class SolveReport(Protocol):
    """What the runner reads of a solve's report."""

    iterations: int


class SteppableSolver(Protocol):
    """What :class:`ProtocolRunner` needs of a nonlinear solver."""

    def solve(self, galvanostatic: bool = True) -> SolveReport:
        """One time step's solve; the report has ``iterations`` (and optionally ``linear_iterations``)."""

    def constraint_value(self) -> float:
        """The cell current of the current state [A/m²] (for CV and rest steps)."""


#: A step whose voltage moved by more than this many times the target is redone with a smaller step.
REJECT_FACTOR = 3.0
#: Largest growth and shrink factors of the step size between two accepted steps.
GROWTH_MAX, SHRINK_MIN = 2.0, 0.2
#: Newton iterations above which the next step is shrunk.
NEWTON_BUSY = 8
#: Largest step of a CC step as a fraction of the hour/C-rate (the time to pass the theoretical capacity).
CC_STEP_FRACTION = 0.02
#: Largest step of rest and CV steps without study.dt_max_s [s].
OTHER_DT_MAX_S = 600.0
#: Regula-falsi iterations allowed to land on a cut-off.
MAX_EVENT_ITERATIONS = 40
#: Largest step of a CC step under the error control, as a fraction of the hour/C-rate: the error estimate
#: bounds the step on the voltage plateau far less than the voltage change, so a looser cap than
#: :data:`CC_STEP_FRACTION` (still 20 points per curve).
CC_STEP_FRACTION_ERROR = 0.05


@dataclass(frozen=True)
class SteppingSettings:
    """Time-step control (``[study]`` keys of the same names)."""

    dt_initial_s: float = 1.0
    dt_min_s: float = 1.0e-6
    dt_max_s: float | None = None
    voltage_step_V: float = 0.01
    max_cutbacks: int = 10
    cutoff_tolerance_V: float = 1.0e-5
    max_steps: int = 100_000
    step_control: str = "voltage"
    error_tolerance_V: float = 1.0e-3
    error_tolerance_theta: float = 2.0e-3
    time_scheme: str = "euler"
    predictor: bool = True

    def __post_init__(self) -> None:
        if self.step_control not in STEP_CONTROLS:
            raise ConfigError(f"study.step_control = {self.step_control!r}: must be one of {STEP_CONTROLS}")
        if self.time_scheme not in TIME_SCHEMES:
            raise ConfigError(f"study.time_scheme = {self.time_scheme!r}: must be one of {TIME_SCHEMES}")

    @property
    def order(self) -> int:
        """The order of the time scheme (1: backward Euler, 2: BDF2)."""
        return 2 if self.time_scheme == "bdf2" else 1

    @classmethod
    def from_study(cls, study: StudyConfig) -> SteppingSettings:
        """Settings from a ``[study]`` section."""
        return cls(
            dt_initial_s=study.dt_initial_s,
            dt_min_s=study.dt_min_s,
            dt_max_s=study.dt_max_s,
            voltage_step_V=study.voltage_step_V,
            max_cutbacks=study.max_cutbacks,
            cutoff_tolerance_V=study.cutoff_tolerance_V,
            step_control=study.step_control,
            error_tolerance_V=study.error_tolerance_V,
            error_tolerance_theta=study.error_tolerance_theta,
            time_scheme=study.time_scheme,
            predictor=study.predictor,
        )


@dataclass
class Record:
    """The cell after one accepted time step (SI; capacity is charge per geometric area)."""

    time_s: float
    step_index: int
    voltage_V: float
    current_A_m2: float
    charge_C_m2: float  # net discharge charge since the start of the protocol
    energy_J_m2: float  # net discharge energy since the start of the protocol
    dt_s: float
    newton_iterations: int
    extra: dict[str, float] = field(default_factory=dict)
    krylov_iterations: int = 0  # of the accepted solve (a direct solve counts 1 per linear solve)


@dataclass
class StepSummary:
    """How one protocol step ended."""

    index: int
    kind: str
    label: str
    end_reason: str  # "cutoff", "current", "duration", "capacity", "cutoff_at_start"
    duration_s: float
    charge_C_m2: float  # charge passed in this step, positive on discharge
    energy_J_m2: float
    final_voltage_V: float
    time_steps: int
    rejected_steps: int
    cutbacks: int


@dataclass
class StepProgress:
    """Where a protocol step stands after its last accepted time step (what a restart needs to continue it)."""

    t_step: float = 0.0  # time since the step began [s]
    q_step: float = 0.0  # charge passed in the step [C/m²]
    e_step: float = 0.0  # energy passed in the step [J/m²]
    dt: float = 0.0  # the next trial step size [s]
    n_steps: int = 0  # accepted time steps
    rejected: int = 0  # time steps redone smaller by the voltage error control
    cutbacks0: int = 0  # the runner's cut-back count when the step began
    first: bool = True  # no time step accepted yet (the voltage jumps with the current)
    g_prev: float = math.inf  # event value at the last accepted state
    # the error control's history in this step (the last order + 1 accepted states): their times, the voltage
    # after each accepted time step (the jump at the step's start excluded), the error scalars (lithiation per
    # particle, continuous across the jump) including the start; and the size of the last accepted time step
    # (BDF2's step ratio; 0: none yet in this step)
    t_hist: list[float] = field(default_factory=list)
    v_hist: list[float] = field(default_factory=list)
    y_hist: list[list[float]] = field(default_factory=list)
    dt_prev: float = 0.0


class ProtocolRunner:
    """Advance a cell model through a protocol.

    Args:
        model: the cell model (``dt``, ``V``, ``current_density``, ``current_ref``, ``commit_step``,
            ``restore_step``).
        solver: ``solve(galvanostatic: bool)`` returning a report with ``iterations``; ``constraint_value()``.
        settings: time-step control.
        one_c_A_m2: 1C current density (scale of the current constraint in rest and CV steps).
        observe: called after every accepted step with the record; returns extra columns (overpotentials).
        progress: called after every accepted step with ``(record, step, step_fraction)``.
        time_s: time at the start (a protocol continues the clock of an earlier one).
        checkpoint: called with the runner after every accepted time step that does not end its protocol step,
            once :meth:`state` describes that step (the caller decides whether to write a checkpoint).
        error_scalars: the state variables the error control watches besides the voltage (the mean lithiation
            of each particle), the same on every rank; None: the voltage alone.
    """

    def __init__(
        self,
        model: SteppableModel,
        solver: SteppableSolver,
        settings: SteppingSettings,
        one_c_A_m2: float,
        observe: Callable[[Record], Mapping[str, float]] | None = None,
        progress: Callable[[Record, Step, float], None] | None = None,
        time_s: float = 0.0,
        checkpoint: Callable[[ProtocolRunner], None] | None = None,
        error_scalars: Callable[[], Sequence[float]] | None = None,
    ) -> None:
        self.model = model
        self.solver = solver
        self.settings = settings
        self.one_c = one_c_A_m2
        self.observe = observe
        self.progress = progress
        self.checkpoint = checkpoint
        self.error_scalars = error_scalars if settings.step_control == "error" else None
        self.time_s = time_s
        self.charge_C_m2 = 0.0
        self.energy_J_m2 = 0.0
        self.records: list[Record] = []
        self.summaries: list[StepSummary] = []
        self.current_A_m2 = float(model.current_density.value)
        self._cutbacks = 0
        self._krylov = 0  # Krylov iterations of the last converged solve
        #: the protocol step running (the number of steps once the protocol is done)
        self.step_index = 0
        #: the running step's state after its last accepted time step; None before its first one
        self.step_progress: StepProgress | None = None
        self._last_good: dict[str, Any] = {}
        self._mark_good()

    # --- public ---------------------------------------------------------------------------------------------
    def run(self, steps: Sequence[Step]) -> list[StepSummary]:
        """Run every step in order (from where :meth:`restore` left off); returns one summary per step."""
        if not steps:
            raise ConfigError("study.steps = []: empty step list")
        if not self.records:
            self._record(0, 0.0, 0)  # the initial state
            self._mark_good()
        while self.step_index < len(steps):
            k = self.step_index
            self.summaries.append(self.run_step(k, steps[k], self.step_progress))
            self.step_index, self.step_progress = k + 1, None
            self._mark_good()
        return self.summaries

    @property
    def finished(self) -> bool:
        """Whether :meth:`run` has completed every step (only known once it ran; False before)."""
        return bool(self.summaries) and self.step_index == len(self.summaries) and self.step_progress is None

    def state(self) -> dict[str, Any]:
        """The runner at its last accepted time step, as a JSON-able dict (see :meth:`restore`).

        After a failed time step this is still the last accepted state, not the failed attempt.
        """
        st = dict(self._last_good)
        st["records"] = [asdict(r) for r in self.records[: st["n_records"]]]
        st["summaries"] = [asdict(r) for r in self.summaries[: st["n_summaries"]]]
        return st

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state` dict; the model fields must already hold the matching solution."""
        self.time_s = float(state["time_s"])
        self.charge_C_m2 = float(state["charge_C_m2"])
        self.energy_J_m2 = float(state["energy_J_m2"])
        self.current_A_m2 = float(state["current_A_m2"])
        self._cutbacks = int(state["cutbacks"])
        self.step_index = int(state["step_index"])
        prog = state["step_progress"]
        self.step_progress = None if prog is None else StepProgress(**prog)
        self.records = [Record(**r) for r in state["records"]]
        self.summaries = [StepSummary(**r) for r in state["summaries"]]
        self._mark_good()

    def run_step(self, index: int, step: Step, resume: StepProgress | None = None) -> StepSummary:
        """Run one step to its end event.

        Args:
            index: the step's position in the protocol (for records).
            step: the step.
            resume: the state of this step after an accepted time step (a restart), or None to begin it.
        """
        m, s = self.model, self.settings
        self._configure(step)
        if resume is None:
            v_start = float(m.V.value)
            p = StepProgress(
                dt=s.dt_initial_s,
                cutbacks0=self._cutbacks,
                g_prev=self._event_value(step, v_start, self.current_A_m2) if step.kind == "cc" else math.inf,
                y_hist=[] if self.error_scalars is None else [list(map(float, self.error_scalars()))],
                t_hist=[0.0],
            )
        else:
            p = replace(resume)  # a copy: the caller's object stays the state it handed in
        dt = p.dt
        dt_max = self._dt_max(step)
        reason = ""
        while True:
            if p.n_steps >= s.max_steps:
                raise ConvergenceError(f"{step.label}: more than {s.max_steps} time steps at t = {self.time_s:.6g} s")
            dt = min(dt, dt_max)
            clipped = ""
            # time and capacity limits: linear in dt for the constant current of a CC step, so clip exactly
            if step.duration_s is not None and p.t_step + dt >= step.duration_s * (1 - 1e-12):
                dt, clipped = step.duration_s - p.t_step, "duration"
            if step.kind == "cc" and step.capacity_limit_C_m2 is not None and step.current_A_m2 != 0:
                left = (step.capacity_limit_C_m2 - abs(p.q_step)) / abs(step.current_A_m2)
                if dt >= left * (1 - 1e-12):
                    dt, clipped = left, "capacity"
            v_old = float(m.V.value)
            dt, its = self._advance(dt, step, p.dt_prev, predict=p.n_steps >= 2)
            v_new, i_new = float(m.V.value), self._current(step)
            g_new = self._event_value(step, v_new, i_new)
            y_new: list[float] = []
            ratio = None  # the error estimate over its tolerance (error control; None without a history)
            if self.error_scalars is not None and g_new > 0.0:
                y_new = list(map(float, self.error_scalars()))
                ratio = self._error_ratio(p, dt, v_new, y_new)
            if g_new <= 0.0:
                # the event lies inside this step: land on it
                dt, its, v_new, i_new, reason = self._locate_event(
                    step, p.g_prev, dt, its, p.first, p.dt_prev, predict=p.n_steps >= 2
                )
                clipped = ""
            elif not p.first and not clipped and dt > 4 * s.dt_min_s and self._reject(ratio, v_new - v_old):
                # the error estimate (or the voltage change) is too large: redo the step smaller
                m.restore_step()
                p.rejected += 1
                dt *= max(SHRINK_MIN, self._factor(ratio, v_new - v_old))
                continue
            m.commit_step()
            p.n_steps += 1
            p.t_step += dt
            self.time_s += dt
            self.current_A_m2 = i_new
            dq = i_new * dt
            p.q_step += dq
            p.e_step += dq * v_new
            self.charge_C_m2 += dq
            self.energy_J_m2 += dq * v_new
            rec = self._record(index, dt, its)
            if self.progress is not None:
                self.progress(rec, step, self._fraction(step, p.t_step, p.q_step))
            if reason or clipped:
                reason = reason or clipped
                break
            p.g_prev = g_new
            p.dt_prev = dt
            if self.error_scalars is not None:
                keep = s.order  # the predictor of the error estimate interpolates order + 1 states
                p.t_hist = [*p.t_hist[-keep:], p.t_step]
                p.v_hist = [*p.v_hist[-keep:], v_new]
                p.y_hist = [*p.y_hist[-keep:], y_new]
            # next step size: error estimate (or voltage change) and Newton effort
            grow = GROWTH_MAX if p.first else min(GROWTH_MAX, max(SHRINK_MIN, self._factor(ratio, v_new - v_old)))
            if its > NEWTON_BUSY:
                grow = min(grow, 0.5)
            dt = max(s.dt_min_s, dt * grow)
            p.first = False
            p.dt = dt
            self.step_progress = replace(p)
            self._mark_good()
            if self.checkpoint is not None:
                self.checkpoint(self)
        return StepSummary(
            index,
            step.kind,
            step.label,
            reason,
            p.t_step,
            p.q_step,
            p.e_step,
            float(m.V.value),
            p.n_steps,
            p.rejected,
            self._cutbacks - p.cutbacks0,
        )

    def _error_ratio(self, p: StepProgress, dt: float, v_new: float, y_new: list[float]) -> float | None:
        """The local truncation error of the step just solved over its tolerance (the larger of V and θ).

        The step's result less the polynomial extrapolation of the last ``order + 1`` accepted states is a
        multiple of the scheme's local error (both lead with ``y^(order+1)``); the factor between the two,
        :func:`error_factor`, is exact for the step sizes at hand. None until the history is long enough.
        """
        s = self.settings
        n = s.order + 1
        t_new = p.t_step + dt
        ratio = None
        if len(p.v_hist) >= n:
            times = p.t_hist[-n:]
            k = error_factor(times, t_new, s.order)
            ratio = k * abs(v_new - extrapolate(times, p.v_hist[-n:], t_new)) / s.error_tolerance_V
        if len(p.y_hist) >= n and y_new:
            times = p.t_hist[-n:]
            k = error_factor(times, t_new, s.order)
            cols = list(zip(*p.y_hist[-n:], strict=True))
            dy = max(abs(y - extrapolate(times, list(c), t_new)) for c, y in zip(cols, y_new, strict=True))
            ratio = max(ratio or 0.0, k * dy / s.error_tolerance_theta)
        return ratio

    def _reject(self, ratio: float | None, dv: float) -> bool:
        """Whether an accepted-looking step is redone smaller (error above its tolerance, or too large a jump)."""
        if self.settings.step_control == "error":
            return ratio is not None and ratio > 1.0
        return abs(dv) > REJECT_FACTOR * self.settings.voltage_step_V

    def _factor(self, ratio: float | None, dv: float) -> float:
        """Step size factor towards the target (error: ``0.9 ratio^(-1/2)``, first order; voltage: ΔV target)."""
        if self.settings.step_control == "error":
            return GROWTH_MAX if ratio is None else 0.9 * max(ratio, 1e-12) ** (-1.0 / (self.settings.order + 1))
        return 0.9 * self.settings.voltage_step_V / max(abs(dv), 1e-15)

    def step_fraction(self, step: Step) -> float:
        """Rough progress in [0, 1] of the running step at its last accepted time step."""
        p = self.step_progress
        return 0.0 if p is None else self._fraction(step, p.t_step, p.q_step)

    # --- internals ------------------------------------------------------------------------------------------
    def _mark_good(self) -> None:
        """Remember the runner's scalars as the last accepted state (records and summaries by count)."""
        self._last_good = {
            "time_s": self.time_s,
            "charge_C_m2": self.charge_C_m2,
            "energy_J_m2": self.energy_J_m2,
            "current_A_m2": self.current_A_m2,
            "cutbacks": self._cutbacks,
            "step_index": self.step_index,
            "step_progress": None if self.step_progress is None else asdict(self.step_progress),
            "n_records": len(self.records),
            "n_summaries": len(self.summaries),
        }

    def _configure(self, step: Step) -> None:
        m = self.model
        if step.kind == "cc":
            m.current_density.value = step.current_A_m2
            m.current_ref.value = abs(step.current_A_m2) if step.current_A_m2 != 0 else self.one_c
        elif step.kind == "rest":
            m.current_density.value = 0.0
            m.current_ref.value = self.one_c  # the constraint needs a nonzero scale
        else:
            # potentiostatic: V is imposed; current_density 0 makes constraint_value() the cell current
            m.current_density.value = 0.0
            m.current_ref.value = self.one_c
            m.V.value = step.held_V

    def _dt_max(self, step: Step) -> float:
        s = self.settings
        if s.dt_max_s is not None:
            return s.dt_max_s
        if step.kind == "cc" and step.c_rate:
            frac = CC_STEP_FRACTION_ERROR if s.step_control == "error" else CC_STEP_FRACTION
            return frac * 3600.0 / step.c_rate
        return OTHER_DT_MAX_S

    def _current(self, step: Step) -> float:
        """Cell current density after a solve (positive on discharge)."""
        if step.kind == "cv":
            return -float(self.solver.constraint_value()) * float(self.model.current_ref.value)
        return step.current_A_m2

    def _event_value(self, step: Step, v: float, i: float) -> float:
        """Positive before the step's end event, <= 0 at or past it (inf: no such event)."""
        if step.kind == "cc" and step.cutoff_V is not None and step.current_A_m2 != 0:
            return (v - step.cutoff_V) if step.current_A_m2 > 0 else (step.cutoff_V - v)
        if step.kind == "cv" and step.until_current_A_m2 is not None:
            return abs(i) - step.until_current_A_m2
        return math.inf

    def _advance(self, dt: float, step: Step, dt_prev: float = 0.0, predict: bool = False) -> tuple[float, int]:
        """Solve one time step of (at most) ``dt`` from the last accepted state, halving on failure.

        Args:
            dt: the step size to try.
            step: the protocol step.
            dt_prev: the last accepted step of this protocol step (BDF2's step ratio); 0: backward Euler.
            predict: start from the model's extrapolation of its last two states (``study.predictor``); only
                when both are states of this protocol step, since the potentials jump with the current.

        Returns:
            The step size that converged and the Newton iterations.
        """
        m, s = self.model, self.settings
        tries = 0
        while True:
            m.dt.value = dt
            if s.time_scheme == "bdf2":
                setter = getattr(m, "set_time_weights", None)
                if setter is None:
                    raise ConfigError("study.time_scheme = 'bdf2': this model has no BDF2 time derivative")
                setter(*bdf2_weights(dt / dt_prev if dt_prev > 0.0 else 0.0))
                predictor = getattr(m, "predict", None)
                if s.predictor and predict and dt_prev > 0.0 and predictor is not None:
                    predictor(dt / dt_prev, voltage=step.kind != "cv")
            try:
                report = self.solver.solve(step.kind != "cv")
                self._krylov = int(getattr(report, "linear_iterations", 0))
                return dt, int(getattr(report, "iterations", 0))
            except (ConvergenceError, SolutionError) as exc:
                m.restore_step()
                if step.kind == "cv":
                    m.V.value = step.held_V
                tries += 1
                self._cutbacks += 1
                if tries > s.max_cutbacks or dt / 2 < s.dt_min_s:
                    raise ConvergenceError(
                        f"time stepping failed in '{step.label}' at t = {self.time_s:.6g} s: step size {dt:.3g} s "
                        f"after {tries - 1} cut-backs (dt_min_s = {s.dt_min_s:g}); last Newton: {exc}"
                    ) from exc
                dt /= 2.0

    def _locate_event(
        self,
        step: Step,
        g0: float,
        dt_hi: float,
        its: int,
        first: bool,
        dt_prev: float = 0.0,
        predict: bool = False,
    ) -> tuple[float, int, float, float, str]:
        """Find the step size at which the event function crosses zero; leave the model solved there.

        ``g0 > 0`` is the event value at the last accepted state, and the state solved with ``dt_hi`` is past the
        event. Regula falsi with the Illinois modification; every trial is re-solved from the accepted state.
        """
        m, s = self.model, self.settings
        tol_g = s.cutoff_tolerance_V if step.kind == "cc" else 1e-3 * (step.until_current_A_m2 or 0.0)
        v_hi, i_hi = float(m.V.value), self._current(step)
        g_hi = self._event_value(step, v_hi, i_hi)
        if abs(g_hi) <= tol_g:
            return dt_hi, its, v_hi, i_hi, self._reason(step)
        lo, g_lo = 0.0, g0
        if first or not math.isfinite(g0):
            # the value just after the switch is not the one before it (the voltage jumps with the current):
            # probe the smallest step; if that is already past the event, the step ends at its start
            m.restore_step()
            self._configure(step)
            dt_probe, its = self._advance(max(s.dt_min_s, 1e-9 * dt_hi), step)
            v_p, i_p = float(m.V.value), self._current(step)
            g_p = self._event_value(step, v_p, i_p)
            if g_p <= tol_g:
                return dt_probe, its, v_p, i_p, "cutoff_at_start" if g_p < -tol_g else self._reason(step)
            lo, g_lo = dt_probe, g_p
        hi = dt_hi
        side = 0
        for _ in range(MAX_EVENT_ITERATIONS):
            dt = hi - g_hi * (hi - lo) / (g_hi - g_lo)
            dt = min(max(dt, lo + 1e-6 * (hi - lo)), hi - 1e-6 * (hi - lo))
            m.restore_step()
            self._configure(step)
            dt, its = self._advance(dt, step, dt_prev, predict)
            v, i = float(m.V.value), self._current(step)
            g = self._event_value(step, v, i)
            if abs(g) <= tol_g or (hi - lo) < 1e-12 * max(1.0, hi):
                return dt, its, v, i, self._reason(step)
            if g > 0:
                lo, g_lo = dt, g
                if side == 1:
                    g_hi /= 2.0
                side = 1
            else:
                hi, g_hi = dt, g
                if side == -1:
                    g_lo /= 2.0
                side = -1
        raise ConvergenceError(
            f"'{step.label}': could not land on the end event at t = {self.time_s:.6g} s "
            f"(bracket {lo:.3g}..{hi:.3g} s, event value {g:.3g})"
        )

    @staticmethod
    def _reason(step: Step) -> str:
        return "cutoff" if step.kind == "cc" else "current"

    def _fraction(self, step: Step, t_step: float, q_step: float) -> float:
        """Rough progress of a step in [0, 1] (time or theoretical capacity)."""
        if step.duration_s:
            return min(1.0, t_step / step.duration_s)
        if step.kind == "cc" and step.c_rate:
            return min(1.0, t_step * step.c_rate / 3600.0)
        return 0.0

    def _record(self, index: int, dt: float, its: int) -> Record:
        rec = Record(
            self.time_s,
            index,
            float(self.model.V.value),
            self.current_A_m2,
            self.charge_C_m2,
            self.energy_J_m2,
            dt,
            its,
            krylov_iterations=self._krylov if its else 0,
        )
        if self.observe is not None:
            rec.extra = dict(self.observe(rec))
        self.records.append(rec)
        return rec


__all__ = [
    "C_PER_MAH",
    "ProtocolRunner",
    "Record",
    "Step",
    "StepProgress",
    "StepSummary",
    "SteppingSettings",
    "bdf2_weights",
    "capacity_mAh_g",
    "energy_Wh_kg",
    "error_factor",
    "extrapolate",
    "rate_at_fraction",
    "steps_from_config",
]
