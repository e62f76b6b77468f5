"""A paper file (``PAPER.toml``): the measured rows a calibrated model is run against, fitted and predicted.

Pure Python (no DOLFINx, no MPI): a bad file raises one :class:`~microsim.errors.ConfigError` on every rank
before any collective call. The format (docs/calibration.md §5)::

    [paper]
    citation = "Chen et al., Energy Environ. Sci. 2019, 12, 938"
    seeds = [1, 2, 3]                    # packing seeds; each row is reported as their mean and spread
    calibration = "calibration.toml"     # its targets mark which points were fitted (the rest are predictions)
    parameter_set = "chen2019"           # optional: [parameters] set applied to every case

    [quick]                              # `microsim paper --quick`: one seed, a smaller box
    seeds = [1]
    overrides = { "geometry.width_um" = 3.0 }

    [two_d]                              # optional: the 2D counterpart of every row, reported next to it
    overrides = { "geometry.dim" = 2 }

    [[row]]                              # a measured rate table; cell, electrolyte and temperature are the case's
    case = "cases/filled-ppal-30C.toml"  # relative to this file; reproduces the row with `microsim run`
    c_rates = [0.1, 0.2, 0.5]
    paper_mAh_g = [125, 90, 14]

    [[spectrum]]                         # an impedance spectrum (a Nyquist plot)
    case = "cases/filled-ppal-30C.toml"
    frequency_min_Hz = 0.01
    frequency_max_Hz = 1e6
    points_per_decade = 4

    [ratio]                              # a measured impedance ratio of two spectra (their case files)
    numerator = "cases/conventional-ppal-30C.toml"
    denominator = "cases/filled-ppal-30C.toml"
    frequency_Hz = 0.1
    paper_ratio = 10

A point is *fitted* when the calibration file has a target with the same case file and that C-rate (and the
ratio when the calibration fits the same ratio); every other point is a prediction, by construction never seen by
the fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microsim import config as config_mod
from microsim.calibration.spec import Calibration, case_file, load_calibration, positive_number, positive_numbers
from microsim.config import Config
from microsim.errors import ConfigError
from microsim.parameters.sets import PARAMETER_SETS
from microsim.sweep.spec import check_known_keys

__all__ = ["CELL_NAMES", "PaperSpec", "Ratio", "Row", "Spectrum", "cell_name", "load_paper", "paper_from_dict"]

#: The paper's names of the two designs, by ``geometry.interface``.
CELL_NAMES = {"filled": "cathode-supported", "point-contact": "conventional"}

_TOP_KEYS = ("paper", "quick", "two_d", "row", "spectrum", "ratio")
_PAPER_KEYS = ("citation", "seeds", "calibration", "parameter_set")
_VARIANT_KEYS = ("seeds", "overrides")
_ROW_KEYS = ("case", "c_rates", "paper_mAh_g")
_SPECTRUM_KEYS = ("case", "frequency_min_Hz", "frequency_max_Hz", "points_per_decade")
_RATIO_KEYS = ("numerator", "denominator", "frequency_Hz", "paper_ratio")


def cell_name(cfg: Config) -> str:
    """The paper's name of a case's design (``cathode-supported`` or ``conventional``)."""
    return CELL_NAMES.get(cfg.geometry.interface, cfg.geometry.interface)


@dataclass(frozen=True)
class Row:
    """One measured rate table.

    Attributes:
        case_path: The case file, as written in the paper file (relative to it).
        case: The validated case.
        c_rates: C-rates [1/h].
        paper_mAh_g: Measured capacities [mAh/g], one per C-rate.
        fitted: Per C-rate, whether the calibration fitted this point.
    """

    case_path: str
    case: Config
    c_rates: tuple[float, ...]
    paper_mAh_g: tuple[float, ...]
    fitted: tuple[bool, ...]

    @property
    def cell(self) -> str:
        """``cathode-supported`` or ``conventional``."""
        return cell_name(self.case)

    @property
    def electrolyte(self) -> str:
        """The electrolyte's name."""
        return self.case.electrolyte.name

    @property
    def temperature_C(self) -> float:
        """The test temperature [°C]."""
        return float(self.case.conditions.temperature_C)

    @property
    def label(self) -> str:
        """``cathode-supported, PPAL, 30 °C``."""
        return f"{self.cell}, {self.electrolyte}, {self.temperature_C:g} °C"


@dataclass(frozen=True)
class Spectrum:
    """One impedance spectrum.

    Attributes:
        case_path: The case file, as written in the paper file.
        case: The validated case (its study becomes an impedance study).
        frequency_min_Hz: Lowest frequency [Hz].
        frequency_max_Hz: Highest frequency [Hz].
        points_per_decade: Frequencies per decade.
    """

    case_path: str
    case: Config
    frequency_min_Hz: float
    frequency_max_Hz: float
    points_per_decade: int

    @property
    def label(self) -> str:
        """``conventional, PPAL, 30 °C``."""
        return f"{cell_name(self.case)}, {self.case.electrolyte.name}, {self.case.conditions.temperature_C:g} °C"


@dataclass(frozen=True)
class Ratio:
    """A measured ratio |Z_numerator| / |Z_denominator| of two spectra at one frequency.

    Attributes:
        numerator: Index of the numerator's spectrum.
        denominator: Index of the denominator's spectrum.
        frequency_Hz: Where the two are compared [Hz].
        paper_ratio: The measured ratio.
        fitted: Whether the calibration fitted it.
    """

    numerator: int
    denominator: int
    frequency_Hz: float
    paper_ratio: float
    fitted: bool


@dataclass(frozen=True)
class PaperSpec:
    """A parsed, validated paper file.

    Attributes:
        citation: The paper.
        rows: The measured rate tables.
        spectra: The impedance spectra.
        ratio: The measured impedance ratio, or None.
        seeds: Packing seeds of the full run.
        quick_seeds: Packing seeds of ``--quick``.
        quick_overrides: ``section.key`` overrides of ``--quick``.
        two_d_overrides: Overrides that make a row's 2D counterpart; empty: no 2D counterparts.
        parameter_set: ``[parameters] set`` applied to every case, or None.
        calibration: The calibration whose targets mark the fitted points, or None (nothing fitted).
        source: The paper file.
    """

    citation: str
    rows: tuple[Row, ...]
    spectra: tuple[Spectrum, ...]
    ratio: Ratio | None = None
    seeds: tuple[int, ...] = (1,)
    quick_seeds: tuple[int, ...] = (1,)
    quick_overrides: Mapping[str, object] = field(default_factory=dict)
    two_d_overrides: Mapping[str, object] = field(default_factory=dict)
    parameter_set: str | None = None
    calibration: Calibration | None = None
    source: Path | None = None

    @property
    def base_dir(self) -> Path:
        """The folder the case paths are relative to."""
        return self.source.parent if self.source is not None else Path.cwd()


def _seeds(value: object, where: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in value)
        or len(set(value)) != len(value)
    ):
        raise ConfigError(f"{where} = {value!r}: must be a non-empty array of distinct integers >= 0")
    return tuple(int(s) for s in value)


def _table(d: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = d.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _overrides(table: Mapping[str, Any], where: str) -> dict[str, object]:
    value = table.get("overrides", {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}.overrides = {value!r}: must be a table of SECTION.KEY = value overrides")
    return dict(value)


def _case(value: object, where: str, base_dir: Path) -> tuple[Path, Config]:
    cfg = case_file(value, where, base_dir, relative_to="the paper file")
    return Path(str(cfg.source)).resolve(), cfg


def _fitted_points(cal: Calibration | None) -> tuple[set[tuple[Path, float]], set[tuple[Path, Path, float]]]:
    rates: set[tuple[Path, float]] = set()
    ratios: set[tuple[Path, Path, float]] = set()
    if cal is None:
        return rates, ratios
    for t in cal.capacity_targets:
        rates |= {(Path(str(t.case.source)).resolve(), c) for c in t.c_rates}
    for r in cal.ratio_targets:
        num, den = Path(str(r.numerator.source)).resolve(), Path(str(r.denominator.source)).resolve()
        ratios.add((num, den, r.frequency_Hz))
    return rates, ratios


def _check_variant(cfg: Config, overrides: Mapping[str, object], where: str) -> None:
    try:
        config_mod.replace(cfg, **overrides)
    except ConfigError as exc:
        raise ConfigError(f"{where}: case {cfg.source}: {exc}") from None


def paper_from_dict(d: Mapping[str, Any], base_dir: Path, source: Path | None = None) -> PaperSpec:
    """Build a :class:`PaperSpec` from parsed TOML; paths resolve against ``base_dir``.

    Raises:
        ConfigError: One line naming the table, the key, the value and what is allowed.
    """
    check_known_keys(d, _TOP_KEYS, "paper file")
    head = _table(d, "paper")
    check_known_keys(head, _PAPER_KEYS, "[paper]")
    citation = head.get("citation", "")
    if not isinstance(citation, str) or not citation.strip():
        raise ConfigError(f"paper.citation = {citation!r}: must cite the measurements")
    seeds = _seeds(head.get("seeds", [1]), "paper.seeds")
    set_name = head.get("parameter_set")
    if set_name is not None and set_name not in PARAMETER_SETS:
        known = ", ".join(sorted(PARAMETER_SETS)) or "none registered yet"
        raise ConfigError(f"paper.parameter_set = {set_name!r}: not a registered parameter set ({known})")
    cal: Calibration | None = None
    if "calibration" in head:
        value = head["calibration"]
        if not isinstance(value, str) or not value:
            raise ConfigError(f"paper.calibration = {value!r}: must be the path of a calibration file")
        cal_path = Path(value).expanduser()
        cal = load_calibration(cal_path if cal_path.is_absolute() else base_dir / cal_path)
    fitted_rates, fitted_ratios = _fitted_points(cal)

    quick = _table(d, "quick")
    check_known_keys(quick, _VARIANT_KEYS, "[quick]")
    quick_seeds = _seeds(quick.get("seeds", [seeds[0]]), "quick.seeds")
    quick_overrides = _overrides(quick, "quick")
    two_d = _table(d, "two_d")
    check_known_keys(two_d, ("overrides",), "[two_d]")
    two_d_overrides = _overrides(two_d, "two_d")

    common: dict[str, object] = {} if set_name is None else {"parameters.set": set_name}
    rows: list[Row] = []
    row_tables = d.get("row", [])
    if not isinstance(row_tables, list) or not row_tables:
        raise ConfigError("paper file: at least one [[row]] is required")
    for i, t in enumerate(row_tables, start=1):
        where = f"[[row]] {i}"
        if not isinstance(t, Mapping):
            raise ConfigError(f"{where} must be a table")
        check_known_keys(t, _ROW_KEYS, where)
        for key in _ROW_KEYS:
            if key not in t:
                raise ConfigError(f"{where}: '{key}' is required")
        path, cfg = _case(t["case"], f"{where}.case", base_dir)
        c_rates = positive_numbers(t["c_rates"], f"{where}.c_rates")
        paper = positive_numbers(t["paper_mAh_g"], f"{where}.paper_mAh_g")
        if len(c_rates) != len(paper):
            raise ConfigError(
                f"{where}: c_rates has {len(c_rates)} values and paper_mAh_g {len(paper)}: one per C-rate"
            )
        if len(set(c_rates)) != len(c_rates):
            raise ConfigError(f"{where}.c_rates = {list(c_rates)}: repeated C-rate")
        for variant, overrides in (("quick", quick_overrides), ("two_d", two_d_overrides)):
            _check_variant(cfg, {**common, **overrides}, f"{where} with [{variant}]")
        fitted = tuple(any(p == path and math.isclose(c, fc) for p, fc in fitted_rates) for c in c_rates)
        rows.append(Row(str(t["case"]), cfg, c_rates, paper, fitted))
    if cal is not None:
        covered = {(Path(r.case.source or "").resolve(), c) for r in rows for c in r.c_rates}
        missing = [f"{p.name} {c:g}C" for p, c in sorted(fitted_rates) if not any(
            p == q and math.isclose(c, qc) for q, qc in covered)]  # fmt: skip
        if missing:
            raise ConfigError(f"paper file: the calibration fits points that no [[row]] reports: {', '.join(missing)}")

    spectra: list[Spectrum] = []
    for i, t in enumerate(d.get("spectrum", []) or [], start=1):
        where = f"[[spectrum]] {i}"
        if not isinstance(t, Mapping):
            raise ConfigError(f"{where} must be a table")
        check_known_keys(t, _SPECTRUM_KEYS, where)
        if "case" not in t:
            raise ConfigError(f"{where}: 'case' is required")
        path, cfg = _case(t["case"], f"{where}.case", base_dir)
        f_lo = positive_number(t.get("frequency_min_Hz", 0.01), f"{where}.frequency_min_Hz")
        f_hi = positive_number(t.get("frequency_max_Hz", 1e6), f"{where}.frequency_max_Hz")
        if not f_lo < f_hi:
            raise ConfigError(f"{where}: frequency_min_Hz = {f_lo:g} must be < frequency_max_Hz = {f_hi:g}")
        ppd = t.get("points_per_decade", 4)
        if isinstance(ppd, bool) or not isinstance(ppd, int) or ppd < 1:
            raise ConfigError(f"{where}.points_per_decade = {ppd!r}: must be an integer >= 1")
        spectra.append(Spectrum(str(t["case"]), cfg, f_lo, f_hi, ppd))

    ratio: Ratio | None = None
    if "ratio" in d:
        t = _table(d, "ratio")
        check_known_keys(t, _RATIO_KEYS, "[ratio]")
        for key in _RATIO_KEYS:
            if key not in t:
                raise ConfigError(f"[ratio]: '{key}' is required")
        f = positive_number(t["frequency_Hz"], "ratio.frequency_Hz")
        index = {}
        for role in ("numerator", "denominator"):
            path, _ = _case(t[role], f"ratio.{role}", base_dir)
            found = [
                k for k, s in enumerate(spectra)
                if Path(s.case.source or "").resolve() == path and s.frequency_min_Hz <= f <= s.frequency_max_Hz
            ]  # fmt: skip
            if not found:
                raise ConfigError(f"ratio.{role} = {t[role]!r}: no [[spectrum]] of that case spans {f:g} Hz (add one)")
            index[role] = found[0]
        num_path = Path(spectra[index["numerator"]].case.source or "").resolve()
        den_path = Path(spectra[index["denominator"]].case.source or "").resolve()
        ratio_fitted = any(n == num_path and dn == den_path and math.isclose(f, ff) for n, dn, ff in fitted_ratios)
        paper_ratio = positive_number(t["paper_ratio"], "ratio.paper_ratio")
        ratio = Ratio(index["numerator"], index["denominator"], f, paper_ratio, ratio_fitted)

    return PaperSpec(
        citation=citation.strip(),
        rows=tuple(rows),
        spectra=tuple(spectra),
        ratio=ratio,
        seeds=seeds,
        quick_seeds=quick_seeds,
        quick_overrides=quick_overrides,
        two_d_overrides=two_d_overrides,
        parameter_set=set_name,
        calibration=cal,
        source=source,
    )


def load_paper(path: str | Path) -> PaperSpec:
    """Read and validate a paper file.

    Raises:
        ConfigError: Missing file, TOML syntax, or any rule of :func:`paper_from_dict` (prefixed by the path).
    """
    path = Path(path)
    d = config_mod.read_toml(path, "paper")
    try:
        return paper_from_dict(d, path.resolve().parent, source=path.resolve())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
