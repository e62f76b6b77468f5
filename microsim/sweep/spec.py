"""Sweep files: a base configuration plus axes -> a list of fully resolved, validated cases.

A sweep file is TOML::

    [base]                      # or, without inline overrides: base = "default-2d.toml"
    file = "default-2d.toml"    # relative to the sweep file; optional
    [base.output]               # inline [base.<section>] tables override the file
    png = false

    [[grid]]                    # the product of all grid axes
    key = "geometry.contact_radius_um"
    values = [0.05, 0.1, 0.2]

    [[zip]]                     # varied together (rows), then producted with the grid
    keys = ["conditions.temperature_C", "electrolyte.name"]
    values = [[30, "PPAL"], [50, "PAL"]]

    [ensemble]                  # innermost: repeated cases that differ only by a seed
    key = "geometry.seed"       # the default
    seeds = { start = 1, count = 2 }   # or a list [1, 2]

(``base = "file"`` and ``[base.output]`` cannot both appear: TOML forbids a key that is both a string and a
table, hence the ``[base] file = ...`` form.) A zip may also be given by columns:
``columns = { "conditions.temperature_C" = [30, 50], "electrolyte.name" = ["PPAL", "PAL"] }``.

Cases are ordered like nested loops: grid axes in file order (the first is the outermost), then the zips,
then the ensemble seeds (innermost). Every case is a :class:`~microsim.config.Config` built with
:func:`microsim.config.replace`, so a case is validated exactly like a ``--set`` on ``microsim run``, and
every validation error is raised here, before any run or MPI call.

Each case is named by :func:`case_hash`: the first 12 hex digits of the SHA-256 of the canonical JSON of
``config.to_dict(cfg)`` (sorted keys, no ``source``), stable across processes and machines. Paths inside a
configuration (``geometry.particles_file``, ``table:`` OCPs) are stored absolute, so they are part of the hash.

Pure Python: no DOLFINx, no MPI.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from microsim import config as config_mod
from microsim.config import Config
from microsim.errors import ConfigError
from microsim.parameters.ocp import TABLE_PREFIX

__all__ = [
    "HASH_LENGTH",
    "Axis",
    "AxisRecord",
    "Case",
    "CaseRecord",
    "Sweep",
    "SweepDefinition",
    "case_hash",
    "config_hash_text",
    "load_sweep",
    "sweep_from_dict",
]

HASH_LENGTH = 12
DEFAULT_ENSEMBLE_KEY = "geometry.seed"
_TOP_KEYS = ("base", "grid", "zip", "ensemble")


class AxisRecord(TypedDict):
    """:meth:`Axis.to_dict`: one axis as recorded in ``sweep.json``."""

    kind: str
    keys: list[str]
    values: list[list[object]]


class CaseRecord(TypedDict):
    """One case as recorded in ``sweep.json``."""

    index: int
    hash: str
    values: dict[str, object]


class SweepDefinition(TypedDict):
    """:meth:`Sweep.definition`: the sweep as plain JSON (``sweep.json`` without its ``format``)."""

    source: str | None
    base: dict[str, dict[str, Any]]  # config.to_dict: section -> key -> plain TOML value
    axes: list[AxisRecord]
    keys: list[str]
    ensemble_key: str | None
    cases: list[CaseRecord]


@dataclass(frozen=True)
class Axis:
    """One axis of a sweep: one or more keys varied together over a list of rows.

    Attributes:
        kind: ``"grid"``, ``"zip"`` or ``"ensemble"``.
        keys: Dotted config keys (``section.key``; ``parameters.NAME`` for named overrides).
        rows: One tuple of values per point of the axis, aligned with ``keys``.
    """

    kind: str
    keys: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]

    def to_dict(self) -> AxisRecord:
        """Plain-JSON description (recorded in ``sweep.json``)."""
        return {"kind": self.kind, "keys": list(self.keys), "values": [list(r) for r in self.rows]}


@dataclass(frozen=True)
class Case:
    """One resolved case of a sweep.

    Attributes:
        index: Position in the case list (0-based, stable for a given sweep file).
        hash: :func:`case_hash` of ``config``; also the name of the case directory.
        values: The swept keys -> their values as the validated config holds them (``1`` given for a float
            key appears as ``1.0``).
        config: The complete, validated configuration.
    """

    index: int
    hash: str
    values: dict[str, object]
    config: Config = field(repr=False)

    def label(self) -> str:
        """Short ``key=value`` text of the swept values, for listings and progress lines."""
        return ", ".join(f"{k}={v}" for k, v in self.values.items()) or "(base)"


@dataclass(frozen=True)
class Sweep:
    """A parsed, fully validated sweep.

    Attributes:
        base: The base configuration (file + inline tables + ``--set`` overrides).
        axes: Grid axes, then zips, then the ensemble (at most one), in file order.
        cases: Every case, in nested-loop order.
        source: The sweep file, or ``None``.
        ensemble_key: The key of the ensemble axis, or ``None`` when the sweep has none.
    """

    base: Config
    axes: tuple[Axis, ...]
    cases: tuple[Case, ...]
    source: Path | None = None
    ensemble_key: str | None = None

    @property
    def keys(self) -> list[str]:
        """All swept keys, in axis order."""
        return [k for axis in self.axes for k in axis.keys]

    def definition(self) -> SweepDefinition:
        """The sweep as plain JSON: base config, axes and case list (what ``sweep.json`` records)."""
        return {
            "source": str(self.source) if self.source is not None else None,
            "base": config_mod.to_dict(self.base),
            "axes": [a.to_dict() for a in self.axes],
            "keys": self.keys,
            "ensemble_key": self.ensemble_key,
            "cases": [{"index": c.index, "hash": c.hash, "values": c.values} for c in self.cases],
        }


# ----------------------------------------------------------------------------------------------------
# Hashing
# ----------------------------------------------------------------------------------------------------
def _file_identity(path: str) -> str:
    """A file named by its content, not its place: ``file:<name>:sha256:<digest>`` (the path if unreadable)."""
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return path  # validation already refused a missing file; keep what there is
    return f"file:{Path(path).name}:sha256:{digest}"


def portable_dict(cfg: Config) -> dict[str, dict[str, object]]:
    """``to_dict(cfg)`` with every input file replaced by its content's identity (:func:`_file_identity`).

    The configuration holds absolute paths (``geometry.particles_file``, an ``[electrolyte] table`` CSV, a
    ``table:PATH`` OCP); the same study on another machine, or from another checkout, must get the same name.
    """
    d = config_mod.to_dict(cfg)
    geometry = d.get("geometry", {})
    if geometry.get("particles_file"):
        geometry["particles_file"] = _file_identity(str(geometry["particles_file"]))
    electrolyte = d.get("electrolyte", {})
    table = electrolyte.get("table")
    if isinstance(table, str) and table and Path(table).is_absolute():
        electrolyte["table"] = _file_identity(table)
    for key, value in d.get("parameters", {}).items():
        if isinstance(value, str) and value.strip().startswith(TABLE_PREFIX):
            d["parameters"][key] = TABLE_PREFIX + _file_identity(value.strip()[len(TABLE_PREFIX) :].strip())
    return d


def config_hash_text(cfg: Config) -> str:
    """The canonical JSON text of a configuration that :func:`case_hash` digests.

    Sorted keys, no whitespace, ASCII only, floats as Python's shortest round-trip ``repr``, input files by
    content (:func:`portable_dict`): the same text on every machine and in every process (``source`` is not part
    of ``to_dict``).
    """
    return json.dumps(portable_dict(cfg), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def case_hash(cfg: Config) -> str:
    """Return the stable name of a configuration: the first 12 hex digits of SHA-256 of its canonical JSON."""
    return hashlib.sha256(config_hash_text(cfg).encode("ascii")).hexdigest()[:HASH_LENGTH]


# ----------------------------------------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------------------------------------
def load_sweep(path: str | Path, overrides: Sequence[str] = ()) -> Sweep:
    """Read and validate a sweep file.

    Args:
        path: The sweep TOML file.
        overrides: ``SECTION.KEY=VALUE`` strings applied to the base configuration (like ``--set``).

    Returns:
        The sweep with every case resolved and validated.

    Raises:
        ConfigError: Missing/unreadable file, TOML syntax, bad base, bad axis, or any invalid case.
    """
    path = Path(path)
    d = config_mod.read_toml(path, "sweep")
    try:
        return sweep_from_dict(d, base_dir=path.resolve().parent, overrides=overrides, source=path.resolve())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def sweep_from_dict(
    d: Mapping[str, object],
    base_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
    source: Path | None = None,
) -> Sweep:
    """Build a :class:`Sweep` from a parsed sweep file.

    Args:
        d: The TOML content.
        base_dir: Directory that ``base`` (the file) is relative to; default: the working directory.
        overrides: ``--set`` strings applied to the base configuration.
        source: The sweep file, recorded in :attr:`Sweep.source`.

    Raises:
        ConfigError: One line naming the problem (unknown key with a suggestion, empty axis, zip rows of
            unequal length, invalid value, identical cases...).
    """
    if not isinstance(d, Mapping):
        raise ConfigError("a sweep file must be a table")
    for key in d:
        if key not in _TOP_KEYS:
            hint = difflib.get_close_matches(key, _TOP_KEYS, n=1)
            did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(f"unknown sweep key '{key}'{did_you_mean}; allowed: {', '.join(_TOP_KEYS)}")
    base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    base = _load_base(d.get("base"), base_dir, overrides)

    axes: list[Axis] = []
    for i, table in enumerate(_table_list(d, "grid"), start=1):
        axes.append(_parse_grid(table, f"[[grid]] {i}"))
    for i, table in enumerate(_table_list(d, "zip"), start=1):
        axes.append(_parse_zip(table, f"[[zip]] {i}"))
    ensemble_key: str | None = None
    if "ensemble" in d:
        ens = _parse_ensemble(d["ensemble"])
        axes.append(ens)
        ensemble_key = ens.keys[0]

    seen: dict[str, str] = {}
    for axis in axes:
        for key in axis.keys:
            if key in seen:
                raise ConfigError(f"key '{key}' is swept twice (in a {seen[key]} axis and a {axis.kind} axis)")
            seen[key] = axis.kind
            _check_key(base, key, axis)

    cases = _expand(base, axes)
    return Sweep(base=base, axes=tuple(axes), cases=tuple(cases), source=source, ensemble_key=ensemble_key)


def _load_base(spec: object, base_dir: Path, overrides: Sequence[str]) -> Config:
    """Resolve ``base``: a file path, or a table with an optional ``file`` and inline section tables."""
    file: Path | None = None
    inline: dict[str, object] = {}
    if spec is None:
        pass
    elif isinstance(spec, str):
        file = Path(spec)
    elif isinstance(spec, Mapping):
        inline = {k: v for k, v in spec.items() if k != "file"}
        if "file" in spec:
            if not isinstance(spec["file"], str):
                raise ConfigError(f"base.file = {spec['file']!r}: must be a path (a string)")
            file = Path(spec["file"])
    else:
        raise ConfigError(f"base = {spec!r}: must be a path to a case file or a table ([base])")

    d: dict[str, Any] = {}
    source: Path | None = None
    if file is not None:
        file = (base_dir / file.expanduser()).resolve() if not file.expanduser().is_absolute() else file.expanduser()
        if not file.is_file():
            raise ConfigError(f"base = {str(file)!r}: base case file not found")
        try:
            with file.open("rb") as handle:
                d = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: invalid TOML: {exc}") from None
        source = file
    for section, table in inline.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"base.{section} = {table!r}: must be a table ([base.{section}])")
        merged = dict(d.get(section, {})) if isinstance(d.get(section), Mapping) else {}
        merged.update(table)  # inline keys win over the file's
        d[section] = merged
    d = config_mod.apply_overrides(d, overrides)
    # Relative paths inside the base (particles_file, table: OCPs) resolve against the base file's folder.
    try:
        return config_mod.from_dict(d, base_dir=source.parent if source else base_dir, source=source)
    except ConfigError as exc:
        raise ConfigError(f"base: {exc}") from None


def _table_list(d: Mapping[str, object], name: str) -> list[Mapping[str, object]]:
    value = d.get(name, [])
    if isinstance(value, Mapping):  # [grid] written instead of [[grid]]: accept one axis
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, Mapping) for t in value):
        raise ConfigError(f"{name} = {value!r}: must be tables ([[{name}]])")
    return value


def check_known_keys(table: Mapping[str, object], allowed: Sequence[str], where: str) -> None:
    """Raise a ConfigError naming the first key of ``table`` not in ``allowed`` (with a close match, if any)."""
    for key in table:
        if key not in allowed:
            hint = difflib.get_close_matches(key, allowed, n=1)
            did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(f"{where}: unknown key '{key}'{did_you_mean}; allowed: {', '.join(allowed)}")


def _key(value: object, where: str) -> str:
    if not isinstance(value, str) or "." not in value:
        raise ConfigError(f"{where}: key = {value!r}: must be a dotted config key, e.g. 'geometry.width_um'")
    return value.strip()


def _values(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: values = {value!r}: must be an array")
    if not value:
        raise ConfigError(f"{where}: values = []: an axis needs at least one value")
    return list(value)


def _parse_grid(table: Mapping[str, object], where: str) -> Axis:
    check_known_keys(table, ("key", "values"), where)
    if "key" not in table or "values" not in table:
        raise ConfigError(f"{where}: needs 'key' and 'values'")
    key = _key(table["key"], where)
    values = _values(table["values"], f"{where} ({key})")
    return Axis("grid", (key,), tuple((v,) for v in values))


def _parse_zip(table: Mapping[str, object], where: str) -> Axis:
    check_known_keys(table, ("keys", "values", "columns"), where)
    if "columns" in table:
        if "keys" in table or "values" in table:
            raise ConfigError(f"{where}: give either 'columns' or 'keys' + 'values', not both")
        columns = table["columns"]
        if not isinstance(columns, Mapping) or not columns:
            raise ConfigError(f"{where}: columns must be a non-empty table of key = [values]")
        keys = tuple(_key(k, where) for k in columns)
        lists = [_values(v, f"{where} ({k})") for k, v in columns.items()]
        lengths = {k: len(v) for k, v in zip(keys, lists, strict=True)}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            raise ConfigError(f"{where}: zipped lists must have the same length ({shown})")
        rows = tuple(zip(*lists, strict=True))
        return Axis("zip", keys, rows)
    if "keys" not in table or "values" not in table:
        raise ConfigError(f"{where}: needs 'keys' and 'values' (or 'columns')")
    raw_keys = table["keys"]
    if not isinstance(raw_keys, list) or not raw_keys:
        raise ConfigError(f"{where}: keys = {raw_keys!r}: must be a non-empty array of dotted keys")
    keys = tuple(_key(k, where) for k in raw_keys)
    rows_in = _values(table["values"], f"{where} ({', '.join(keys)})")
    value_rows: list[tuple[object, ...]] = []
    for j, row in enumerate(rows_in, start=1):
        if not isinstance(row, list) or len(row) != len(keys):
            n = len(row) if isinstance(row, list) else 1
            raise ConfigError(
                f"{where}: values row {j} = {row!r} has {n} value(s) for {len(keys)} keys "
                f"({', '.join(keys)}); zipped lists must have the same length"
            )
        value_rows.append(tuple(row))
    return Axis("zip", keys, tuple(value_rows))


def _parse_ensemble(table: object) -> Axis:
    where = "[ensemble]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"ensemble = {table!r}: must be a table ([ensemble])")
    check_known_keys(table, ("key", "seeds"), where)
    key = _key(table.get("key", DEFAULT_ENSEMBLE_KEY), where)
    if "seeds" not in table:
        raise ConfigError(f"{where}: needs 'seeds' (a list, or {{ start = 1, count = 8 }})")
    seeds = table["seeds"]
    values: list[object]
    if isinstance(seeds, Mapping):
        check_known_keys(seeds, ("start", "count"), f"{where} seeds")
        start, count = seeds.get("start", 1), seeds.get("count")
        if not isinstance(start, int) or isinstance(start, bool):
            raise ConfigError(f"{where}: seeds.start = {start!r}: must be an integer")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ConfigError(f"{where}: seeds.count = {count!r}: must be an integer >= 1")
        values = list(range(start, start + count))
    else:
        values = _values(seeds, f"{where} seeds")
    if len(set(map(repr, values))) != len(values):
        raise ConfigError(f"{where}: seeds = {values!r}: each seed must appear once")
    return Axis("ensemble", (key,), tuple((v,) for v in values))


def _check_key(base: Config, key: str, axis: Axis) -> None:
    """Reject an unknown key up front, with config's own message (which suggests the close match).

    Only "unknown" errors are raised here: whether a *value* is valid can depend on the other axes (a
    contact radius valid only with a larger particle radius), so values are checked on the full cases.
    """
    try:
        config_mod.replace(base, **{key: axis.rows[0][axis.keys.index(key)]})
    except ConfigError as exc:
        if "unknown" in str(exc):
            raise ConfigError(f"{axis.kind} axis over '{key}': {exc}") from None


def _resolved_value(cfg: Config, key: str) -> object:
    section, _, name = key.partition(".")
    if section == "parameters":
        return cfg.parameters.get(name)
    return getattr(getattr(cfg, section), name)


def _expand(base: Config, axes: Sequence[Axis]) -> list[Case]:
    """Every combination of the axes' rows (nested loops, first axis outermost) as validated cases."""
    cases: list[Case] = []
    by_hash: dict[str, int] = {}
    for index, combo in enumerate(itertools.product(*(axis.rows for axis in axes))):
        given: dict[str, object] = {}
        for axis, row in zip(axes, combo, strict=True):
            given.update(zip(axis.keys, row, strict=True))
        label = ", ".join(f"{k}={v!r}" for k, v in given.items())
        try:
            cfg = config_mod.replace(base, **copy.deepcopy(given))
        except ConfigError as exc:
            raise ConfigError(f"case {index} ({label}): {exc}") from None
        h = case_hash(cfg)
        if h in by_hash:
            raise ConfigError(
                f"case {index} ({label}) is identical to case {by_hash[h]}: remove the repeated axis value"
            )
        by_hash[h] = index
        values = {k: _resolved_value(cfg, k) for k in given}
        cases.append(Case(index=index, hash=h, values=values, config=cfg))
    return cases
