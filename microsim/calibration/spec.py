"""A calibration file (``CALIBRATION.toml``): the knobs, the measured targets and the fidelity of the fit.

Pure Python (no DOLFINx, no MPI): a bad file raises one :class:`~microsim.errors.ConfigError` on every rank
before any collective call. The format (docs/calibration.md)::

    [calibration]
    name = "chen2019"            # the parameter set the fit produces
    citation = "Chen et al. ..." # the measurements (carried into the set)
    seeds = [1, 2, 3]            # packing seeds; the fit matches their mean
    max_evaluations = 12         # model evaluations (points), Jacobian columns included
    log10_step = 0.05            # forward-difference step of the Jacobian, in decades of each knob
    jacobian = "broyden"         # or "finite-difference": how the Jacobian follows the accepted steps

    [fidelity]                   # overrides applied to every case of the fit (a cheaper model)
    "geometry.width_um" = 3.0

    [[knob]]                     # at most four, each a [parameters] name tagged [E]
    key = "lfp.diffusivity_m2_s" # its value at the targets' temperature (an override, no Arrhenius)
    initial = 1.2e-16
    low = 1e-19                  # literature bounds of that value, cited
    high = 1e-15
    source = "Prosini 2002 ... (docs/calibration.md §2)"

    [[target]]                   # a measured rate table
    name = "filled, PPAL, 30 °C"
    case = "cases/filled.toml"   # relative to this file
    c_rates = [0.1, 0.2, 0.5]
    paper_mAh_g = [125, 90, 14]

    [[target]]                   # a measured ratio of two impedances
    name = "impedance ratio"
    numerator = "cases/conventional.toml"
    denominator = "cases/filled.toml"
    frequency_Hz = 0.1
    paper_ratio = 10

Each residual is scaled by the acceptance band of its point, so |r| ≤ 1 means "within": a capacity by
``max(capacity_tolerance * paper, capacity_floor_mAh_g)``, a ratio by ``log(ratio_tolerance_factor)`` in log space.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microsim import config as config_mod
from microsim.config import Config
from microsim.errors import ConfigError
from microsim.parameters import OVERRIDES
from microsim.sweep.spec import check_known_keys

__all__ = [
    "JACOBIAN_UPDATES",
    "MAX_KNOBS",
    "Calibration",
    "CapacityTarget",
    "Knob",
    "RatioTarget",
    "case_file",
    "load_calibration",
    "positive_number",
    "positive_numbers",
]

#: The most knobs a calibration may fit (the issue's rule: a handful of estimates, not a free fit).
MAX_KNOBS = 4
_TOP_KEYS = ("calibration", "fidelity", "knob", "target")
_CALIBRATION_KEYS = (
    "name", "citation", "seeds", "max_evaluations", "log10_step", "jacobian", "capacity_tolerance",
    "capacity_floor_mAh_g", "ratio_tolerance_factor",
)  # fmt: skip
#: How the fit's Jacobian follows its steps (microsim.calibration.fit).
JACOBIAN_UPDATES = ("finite-difference", "broyden")
_KNOB_KEYS = ("key", "initial", "low", "high", "source", "unit")
_CAPACITY_KEYS = ("name", "case", "c_rates", "paper_mAh_g")
_RATIO_KEYS = ("name", "numerator", "denominator", "frequency_Hz", "paper_ratio")


@dataclass(frozen=True)
class Knob:
    """One fitted parameter, searched in log10 between literature bounds.

    Attributes:
        key: A ``[parameters]`` name (``lfp.diffusivity_m2_s``); the value applies at the targets' temperature.
        initial: Start value.
        low: Lower literature bound.
        high: Upper literature bound.
        source: Where the bounds come from (a citation or a docs section).
        unit: Its unit, for tables.
    """

    key: str
    initial: float
    low: float
    high: float
    source: str
    unit: str = ""

    @property
    def log_bounds(self) -> tuple[float, float]:
        """``(log10 low, log10 high)``."""
        return math.log10(self.low), math.log10(self.high)


@dataclass(frozen=True)
class CapacityTarget:
    """Measured discharge capacities of one cell at several C-rates (a rate study of ``case``).

    Attributes:
        name: Label in tables.
        case: The validated case (its study is replaced by a rate study at ``c_rates``).
        c_rates: C-rates [1/h].
        paper_mAh_g: Measured capacities [mAh/g], one per C-rate.
    """

    name: str
    case: Config
    c_rates: tuple[float, ...]
    paper_mAh_g: tuple[float, ...]


@dataclass(frozen=True)
class RatioTarget:
    """A measured ratio |Z_numerator| / |Z_denominator| at one frequency (two impedance studies).

    Attributes:
        name: Label in tables.
        numerator: The validated case of the numerator cell.
        denominator: The validated case of the denominator cell.
        frequency_Hz: Where the impedances are compared.
        paper_ratio: The measured ratio.
    """

    name: str
    numerator: Config
    denominator: Config
    frequency_Hz: float
    paper_ratio: float


@dataclass(frozen=True)
class Calibration:
    """A parsed, validated calibration file.

    Attributes:
        name: Name of the parameter set it produces.
        knobs: The fitted parameters (1 to :data:`MAX_KNOBS`).
        capacity_targets: Rate tables to match.
        ratio_targets: Impedance ratios to match.
        seeds: Packing seeds; each case runs once per seed and the fit matches the seed mean.
        fidelity: ``section.key`` overrides applied to every case (the cheaper model of the fit).
        max_evaluations: Budget of model evaluations (points of parameter space).
        log10_step: Forward-difference step of the Jacobian [decades].
        jacobian: ``"finite-difference"`` (a new difference Jacobian at every accepted step) or ``"broyden"``
            (one difference Jacobian at the start, secant updates after, and a difference Jacobian at the best
            point for the uncertainty).
        capacity_tolerance: Relative band of a capacity point.
        capacity_floor_mAh_g: Smallest band of a capacity point [mAh/g].
        ratio_tolerance_factor: A ratio is within when it is within this factor of the measured one.
        temperature_C: The temperature every target runs at (where the knob values apply).
        electrolyte: The electrolyte every target uses (the knob values are its values).
        citation: The measurements fitted (carried into the parameter set).
        source: The calibration file.
    """

    name: str
    knobs: tuple[Knob, ...]
    capacity_targets: tuple[CapacityTarget, ...]
    ratio_targets: tuple[RatioTarget, ...]
    seeds: tuple[int, ...] = (1,)
    fidelity: Mapping[str, object] = field(default_factory=dict)
    max_evaluations: int = 12
    log10_step: float = 0.05
    jacobian: str = "finite-difference"
    capacity_tolerance: float = 0.25
    capacity_floor_mAh_g: float = 5.0
    ratio_tolerance_factor: float = 2.0
    temperature_C: float = 30.0
    electrolyte: str = "PPAL"
    citation: str = ""
    source: Path | None = None

    @property
    def n_residuals(self) -> int:
        """Capacity points plus ratios."""
        return sum(len(t.c_rates) for t in self.capacity_targets) + len(self.ratio_targets)

    def residual_labels(self) -> list[str]:
        """One label per residual, in residual order."""
        labels = [f"{t.name} {c:g}C" for t in self.capacity_targets for c in t.c_rates]
        return labels + [f"{t.name} {t.frequency_Hz:g} Hz" for t in self.ratio_targets]

    def measured(self) -> list[float]:
        """The measured value of each residual, in residual order."""
        return [p for t in self.capacity_targets for p in t.paper_mAh_g] + [t.paper_ratio for t in self.ratio_targets]

    def residuals(self, model: Sequence[float]) -> list[float]:
        """Scaled residuals of ``model`` (same order as :meth:`measured`); |r| ≤ 1 is inside the band."""
        out: list[float] = []
        n_cap = self.n_residuals - len(self.ratio_targets)
        for k, (m, p) in enumerate(zip(model, self.measured(), strict=True)):
            if k < n_cap:
                out.append((m - p) / max(self.capacity_tolerance * p, self.capacity_floor_mAh_g))
            else:
                out.append(math.log(m / p) / math.log(self.ratio_tolerance_factor) if m > 0 else math.inf)
        return out


def positive_number(value: object, where: str, positive: bool = True) -> float:
    """``value`` as a float: finite and (with ``positive``) > 0, else a ConfigError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where} = {value!r}: must be a finite number")
    if positive and value <= 0:
        raise ConfigError(f"{where} = {value!r}: must be > 0")
    return float(value)


def positive_numbers(value: object, where: str) -> tuple[float, ...]:
    """A non-empty array of :func:`positive_number` values."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where} = {value!r}: must be a non-empty array of numbers")
    return tuple(positive_number(v, f"{where}[{i}]") for i, v in enumerate(value))


def case_file(value: object, where: str, base_dir: Path, relative_to: str = "the calibration file") -> Config:
    """The validated case of a ``case = "PATH"`` key (``PATH`` relative to ``base_dir``); ``source`` is its path.

    Raises:
        ConfigError: Not a path, no such file, or an invalid case (named by ``where``).
    """
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} = {value!r}: must be the path of a case file (relative to {relative_to})")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise ConfigError(f"{where} = {value!r}: case file not found ({path})")
    try:
        return config_mod.load(path)
    except ConfigError as exc:
        raise ConfigError(f"{where} = {value!r}: {exc}") from None


def _parse_knob(table: Mapping[str, Any], where: str) -> Knob:
    check_known_keys(table, _KNOB_KEYS, where)
    for key in ("key", "initial", "low", "high", "source"):
        if key not in table:
            raise ConfigError(f"{where}: '{key}' is required")
    key = table["key"]
    spec = OVERRIDES.get(key) if isinstance(key, str) else None
    if spec is None or spec.kind != "float":
        raise ConfigError(f"{where}.key = {key!r}: must be a numeric [parameters] name, one of {', '.join(OVERRIDES)}")
    low, high = positive_number(table["low"], f"{where}.low"), positive_number(table["high"], f"{where}.high")
    initial = positive_number(table["initial"], f"{where}.initial")
    if not low < high:
        raise ConfigError(f"{where}: low = {low:g} must be < high = {high:g}")
    if not low <= initial <= high:
        raise ConfigError(f"{where}.initial = {initial:g}: must be within [low, high] = [{low:g}, {high:g}]")
    source = table["source"]
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"{where}.source = {source!r}: must cite where the bounds come from")
    unit = table.get("unit", spec.unit)
    return Knob(key=key, initial=initial, low=low, high=high, source=source.strip(), unit=str(unit))


def _parse_target(table: Mapping[str, Any], where: str, base_dir: Path) -> CapacityTarget | RatioTarget:
    if "paper_ratio" in table or "numerator" in table:
        check_known_keys(table, _RATIO_KEYS, where)
        for key in _RATIO_KEYS:
            if key not in table:
                raise ConfigError(f"{where}: '{key}' is required for an impedance ratio")
        return RatioTarget(
            name=str(table["name"]),
            numerator=case_file(table["numerator"], f"{where}.numerator", base_dir),
            denominator=case_file(table["denominator"], f"{where}.denominator", base_dir),
            frequency_Hz=positive_number(table["frequency_Hz"], f"{where}.frequency_Hz"),
            paper_ratio=positive_number(table["paper_ratio"], f"{where}.paper_ratio"),
        )
    check_known_keys(table, _CAPACITY_KEYS, where)
    for key in _CAPACITY_KEYS:
        if key not in table:
            raise ConfigError(f"{where}: '{key}' is required for a rate table (or give numerator/denominator)")
    c_rates = positive_numbers(table["c_rates"], f"{where}.c_rates")
    paper = positive_numbers(table["paper_mAh_g"], f"{where}.paper_mAh_g")
    if len(c_rates) != len(paper):
        raise ConfigError(f"{where}: c_rates has {len(c_rates)} values and paper_mAh_g {len(paper)}: one per C-rate")
    if len(set(c_rates)) != len(c_rates):
        raise ConfigError(f"{where}.c_rates = {list(c_rates)}: repeated C-rate")
    return CapacityTarget(
        name=str(table["name"]),
        case=case_file(table["case"], f"{where}.case", base_dir),
        c_rates=c_rates,
        paper_mAh_g=paper,
    )


def calibration_from_dict(d: Mapping[str, Any], base_dir: Path, source: Path | None = None) -> Calibration:
    """Build a :class:`Calibration` from parsed TOML; case paths resolve against ``base_dir``.

    Raises:
        ConfigError: One line naming the table, the key, the value and what is allowed.
    """
    check_known_keys(d, _TOP_KEYS, "calibration file")
    head = d.get("calibration", {})
    if not isinstance(head, Mapping):
        raise ConfigError("[calibration] must be a table")
    check_known_keys(head, _CALIBRATION_KEYS, "[calibration]")
    name = head.get("name", "")
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"calibration.name = {name!r}: must name the parameter set (letters, digits, _)")
    seeds_raw = head.get("seeds", [1])
    if (
        not isinstance(seeds_raw, list)
        or not seeds_raw
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds_raw)
    ):
        raise ConfigError(f"calibration.seeds = {seeds_raw!r}: must be a non-empty array of integers >= 0")
    if len(set(seeds_raw)) != len(seeds_raw):
        raise ConfigError(f"calibration.seeds = {seeds_raw!r}: repeated seed")
    max_eval = head.get("max_evaluations", 12)
    if isinstance(max_eval, bool) or not isinstance(max_eval, int) or max_eval < 1:
        raise ConfigError(f"calibration.max_evaluations = {max_eval!r}: must be an integer >= 1")
    step = positive_number(head.get("log10_step", 0.05), "calibration.log10_step")
    if step > 0.5:
        raise ConfigError(f"calibration.log10_step = {step:g}: must be <= 0.5 decades (a derivative, not a jump)")
    jacobian = head.get("jacobian", "finite-difference")
    if jacobian not in JACOBIAN_UPDATES:
        raise ConfigError(f"calibration.jacobian = {jacobian!r}: must be one of {', '.join(JACOBIAN_UPDATES)}")
    tol = positive_number(head.get("capacity_tolerance", 0.25), "calibration.capacity_tolerance")
    floor = positive_number(head.get("capacity_floor_mAh_g", 5.0), "calibration.capacity_floor_mAh_g")
    factor = positive_number(head.get("ratio_tolerance_factor", 2.0), "calibration.ratio_tolerance_factor")
    if factor <= 1.0:
        raise ConfigError(f"calibration.ratio_tolerance_factor = {factor:g}: must be > 1")

    fidelity = d.get("fidelity", {})
    if not isinstance(fidelity, Mapping):
        raise ConfigError("[fidelity] must be a table of SECTION.KEY = value overrides")

    knob_tables = d.get("knob", [])
    if not isinstance(knob_tables, list) or not knob_tables:
        raise ConfigError("calibration file: at least one [[knob]] is required")
    if len(knob_tables) > MAX_KNOBS:
        raise ConfigError(f"calibration file: {len(knob_tables)} [[knob]] tables; at most {MAX_KNOBS} may be fitted")
    knobs = tuple(_parse_knob(t, f"[[knob]] {i}") for i, t in enumerate(knob_tables, start=1))
    keys = [k.key for k in knobs]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"calibration file: a knob is given twice ({keys})")

    target_tables = d.get("target", [])
    if not isinstance(target_tables, list) or not target_tables:
        raise ConfigError("calibration file: at least one [[target]] is required")
    targets = [_parse_target(t, f"[[target]] {i}", base_dir) for i, t in enumerate(target_tables, start=1)]
    capacity = tuple(t for t in targets if isinstance(t, CapacityTarget))
    ratios = tuple(t for t in targets if isinstance(t, RatioTarget))
    if len(knobs) > sum(len(t.c_rates) for t in capacity) + len(ratios):
        raise ConfigError(f"calibration file: {len(knobs)} knobs and fewer measured points: the fit is underdetermined")

    cases = [t.case for t in capacity] + [c for t in ratios for c in (t.numerator, t.denominator)]
    temperatures = {c.conditions.temperature_C for c in cases}
    if len(temperatures) != 1:
        raise ConfigError(
            f"calibration file: the targets run at {sorted(temperatures)} °C; the knobs are values at one "
            "temperature, so every target must share it"
        )
    electrolytes = {c.electrolyte.name for c in cases}
    if len(electrolytes) != 1:
        raise ConfigError(
            f"calibration file: the targets use the electrolytes {sorted(electrolytes)}; the knobs are values of "
            "one electrolyte, so every target must share it"
        )
    citation = head.get("citation", "")
    if not isinstance(citation, str):
        raise ConfigError(f"calibration.citation = {citation!r}: must be a text (the measurements fitted)")
    for key in keys:
        for c in cases:
            if key in c.parameters:
                raise ConfigError(f"calibration file: case {c.source} sets parameters.{key}, which is a knob")
    calibration = Calibration(
        name=name,
        knobs=knobs,
        capacity_targets=capacity,
        ratio_targets=ratios,
        seeds=tuple(int(s) for s in seeds_raw),
        fidelity=dict(fidelity),
        max_evaluations=max_eval,
        log10_step=step,
        jacobian=jacobian,
        capacity_tolerance=tol,
        capacity_floor_mAh_g=floor,
        ratio_tolerance_factor=factor,
        temperature_C=temperatures.pop(),
        electrolyte=electrolytes.pop(),
        citation=citation.strip(),
        source=source,
    )
    # Every case must stay valid with the fidelity overrides and each seed (fail here, not after an hour).
    from microsim.calibration.cases import evaluation_cases

    evaluation_cases(calibration, [k.initial for k in knobs])
    return calibration


def load_calibration(path: str | Path) -> Calibration:
    """Read and validate a calibration file.

    Raises:
        ConfigError: Missing file, TOML syntax, or any rule of :func:`calibration_from_dict` (prefixed by the path).
    """
    path = Path(path)
    d = config_mod.read_toml(path, "calibration")
    try:
        return calibration_from_dict(d, path.resolve().parent, source=path.resolve())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
