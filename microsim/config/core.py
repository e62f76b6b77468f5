"""The complete run configuration :class:`Config`, and conversion from and to nested dicts."""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from microsim.config.contact import MOVED_FROM_GEOMETRY, ContactConfig, check_against_geometry
from microsim.config.fields import Section, did_you_mean, show
from microsim.config.geometry import GeometryConfig
from microsim.config.materials import TABLE_REPLACES, ConditionsConfig, ElectrolyteConfig, table_spec
from microsim.config.numerics import OutputConfig, SolverConfig
from microsim.config.overrides import absolute_table, check_parameters, flatten_parameters
from microsim.config.protocol import check_protocol_against_ocp
from microsim.config.study import StudyConfig
from microsim.errors import ConfigError
from microsim.parameters.electrolytes import CONCENTRATION_MOL_M3
from microsim.parameters.ocp import AFSHAR2017

#: The sections of a case file, in file order; ``[parameters]`` is a flat table of named overrides.
SECTION_TYPES: dict[str, type[Section] | type[dict[str, Any]]] = {
    "geometry": GeometryConfig,
    "contact": ContactConfig,
    "electrolyte": ElectrolyteConfig,
    "conditions": ConditionsConfig,
    "parameters": dict,
    "study": StudyConfig,
    "solver": SolverConfig,
    "output": OutputConfig,
}
SECTION_NAMES = tuple(SECTION_TYPES)


@dataclass(frozen=True)
class Config:
    """A complete, validated run configuration.

    Attributes:
        geometry: ``[geometry]``.
        contact: ``[contact]``.
        electrolyte: ``[electrolyte]``.
        conditions: ``[conditions]``.
        parameters: ``[parameters]`` overrides, flat dotted names -> value (a private copy; do not mutate).
        study: ``[study]``.
        solver: ``[solver]``.
        output: ``[output]``.
        source: The file it was loaded from, or ``None`` (not part of equality).
    """

    geometry: GeometryConfig = field(default_factory=GeometryConfig)
    contact: ContactConfig = field(default_factory=ContactConfig)
    electrolyte: ElectrolyteConfig = field(default_factory=ElectrolyteConfig)
    conditions: ConditionsConfig = field(default_factory=ConditionsConfig)
    parameters: dict[str, float | str] = field(default_factory=dict)
    study: StudyConfig = field(default_factory=StudyConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    source: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name, cls in SECTION_TYPES.items():
            if name != "parameters" and not isinstance(getattr(self, name), cls):
                raise ConfigError(f"section '[{name}]' must be a {cls.__name__}")
        if not isinstance(self.parameters, Mapping):
            raise ConfigError(f"section '[parameters]' = {show(self.parameters)}: must be a table")
        object.__setattr__(self, "parameters", check_parameters(self.parameters))
        check_against_geometry(self)
        if self.study.study_kind.protocol:
            check_protocol_against_ocp(
                self.study.steps,
                (self.study.cutoff_discharge_V, self.study.cutoff_charge_V),
                str(self.parameters.get("lfp.ocp", AFSHAR2017)),
                self.conditions.initial_stoichiometry,
            )
        t_plus = self.parameters.get("electrolyte.transference_number")
        if self.electrolyte.model == "single-ion" and t_plus not in (None, 1.0):
            raise ConfigError(
                f"parameters.electrolyte.transference_number = {show(t_plus)}: must be 1 (or unset) "
                "when electrolyte.model = 'single-ion'"
            )
        self._check_table()

    def _check_table(self) -> None:
        """The table's laws against the overrides, and c0 inside the table (before any mesh or MPI collective)."""
        el = self.electrolyte
        table = el.concentration_table()
        if table is None:
            return
        for column, key in TABLE_REPLACES.items():
            if table.has(column) and f"electrolyte.{key}" in self.parameters:
                raise ConfigError(
                    f"parameters.electrolyte.{key} = {show(self.parameters[f'electrolyte.{key}'])} and "
                    f"electrolyte.table = {el.table!r} (column {column}) both give the concentration law of "
                    f"{column}: set one of them"
                )
        c0 = el.concentration_mol_m3
        field_name = "electrolyte.concentration_mol_m3"
        if c0 is None and "electrolyte.concentration_mol_m3" in self.parameters:
            c0, field_name = float(self.parameters["electrolyte.concentration_mol_m3"]), "parameters." + field_name
        if c0 is None:
            c0, field_name = CONCENTRATION_MOL_M3, f"c0 of the named set {el.name}"
        table.check_covers(float(c0), field_name)

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
        raise ConfigError(f"configuration = {show(d)}: must be a table of sections")
    source_path = Path(source).resolve() if source is not None else None
    if base_dir is None:
        base_dir = source_path.parent if source_path is not None else Path.cwd()
    base = Path(base_dir)
    sections: dict[str, Any] = {}
    for name, table in d.items():
        if name not in SECTION_TYPES:
            hint = difflib.get_close_matches(name, SECTION_NAMES, n=1)
            suggestion = f" (did you mean '[{hint[0]}]'?)" if hint else ""
            raise ConfigError(f"unknown section '[{name}]'{suggestion}; sections are " + ", ".join(SECTION_NAMES))
        if not isinstance(table, Mapping):
            raise ConfigError(f"{name} = {show(table)}: must be a table ([{name}])")
        if name == "parameters":
            flat = flatten_parameters(table)
            if "lfp.ocp" in flat:
                flat["lfp.ocp"] = absolute_table(flat["lfp.ocp"], base)
            sections[name] = flat
            continue
        cls = SECTION_TYPES[name]
        known = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        for key in table:
            if name == "geometry" and key in MOVED_FROM_GEOMETRY:
                raise ConfigError(f"geometry.{key}: moved to {MOVED_FROM_GEOMETRY[key]}")
            if key not in known:
                raise ConfigError(f"unknown key '{name}.{key}'{did_you_mean(key, known, prefix=f'{name}.')}")
        values = dict(table)
        if name == "geometry" and isinstance(values.get("particles_file"), str) and values["particles_file"]:
            path = Path(values["particles_file"]).expanduser()
            values["particles_file"] = str(path if path.is_absolute() else (base / path).resolve())
        if name == "electrolyte" and isinstance(values.get("table"), str):
            values["table"] = table_spec(values["table"], base)
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
        if name == "study" and "steps" in table:
            table["steps"] = cfg.study.protocol_tables()
        if name == "geometry" and math.isclose(table["interface_mesh_size_um"], table["mesh_size_um"] / 2.0):
            del table["interface_mesh_size_um"]
        out[name] = table
    return out


def replace(cfg: Config, **changes: object) -> Config:
    """Return a validated copy of ``cfg`` with dotted fields changed.

    Args:
        cfg: The configuration to start from.
        **changes: ``"section.key": value`` (``"parameters.lfp.ocp": "..."`` for overrides); ``None`` restores
            the default. Pass them as ``**{"geometry.width_um": 20.0}``.

    Raises:
        ConfigError: Unknown or invalid field.
    """
    d = to_dict(cfg)
    for dotted, value in changes.items():
        section, key = split_dotted(dotted, what=f"replace({dotted}=...)")
        table = d.setdefault(section, {})
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return from_dict(d, source=cfg.source)


def split_dotted(dotted: str, what: str) -> tuple[str, str]:
    """``"section.key"`` -> ``("section", "key")``.

    Raises:
        ConfigError: Not of the form SECTION.KEY (``what`` names the input in the message).
    """
    section, _, key = dotted.strip().partition(".")
    if not section or not key:
        raise ConfigError(f"{what}: the name must be SECTION.KEY, e.g. geometry.width_um")
    return section, key


__all__ = ["SECTION_NAMES", "SECTION_TYPES", "Config", "default", "from_dict", "replace", "split_dotted", "to_dict"]
