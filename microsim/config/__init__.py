"""Run configuration: TOML -> one frozen, validated :class:`Config`.

A configuration file has the sections ``[geometry]``, ``[contact]``, ``[electrolyte]``, ``[conditions]``,
``[parameters]``, ``[study]``, ``[solver]`` and ``[output]``; every key has a default (``microsim defaults`` prints
them all).

Validation happens here, entirely in Python and before any MPI collective work. It is deterministic, so every
rank raises the same :class:`~microsim.errors.ConfigError`. Each message is one line naming the field
(``section.key``), the value and what is allowed, e.g.
``geometry.active_fraction = 0.95: must be in (0, 0.9)``. Every section dataclass validates itself in
``__post_init__``, so no invalid ``Config`` can exist.

Modules: :mod:`~microsim.config.fields` (field metadata and checks), one module per section
(:mod:`~microsim.config.geometry`, :mod:`~microsim.config.contact`, :mod:`~microsim.config.materials`,
:mod:`~microsim.config.study` with the study registry, :mod:`~microsim.config.protocol` for ``[[study.steps]]``,
:mod:`~microsim.config.numerics`, :mod:`~microsim.config.overrides` for ``[parameters]``),
:mod:`~microsim.config.core` (``Config``, dict conversion) and :mod:`~microsim.config.toml_io` (TOML read and
write).

Example:
    >>> cfg = load("geometries/default-2d.toml", overrides=["geometry.width_um=20"])
    >>> other = replace(cfg, **{"geometry.seed": 2})
"""

from __future__ import annotations

from microsim.config.contact import CONTACT_MODEL_NAMES, ContactConfig, contact_settings
from microsim.config.core import SECTION_NAMES, SECTION_TYPES, Config, default, from_dict, replace, to_dict
from microsim.config.geometry import GEOMETRY_KINDS, INTERFACES, GeometryConfig
from microsim.config.materials import ELECTROLYTE_MODELS, ELECTROLYTE_NAMES, ConditionsConfig, ElectrolyteConfig
from microsim.config.numerics import LINEAR_SOLVERS, THETA_MASS, OutputConfig, SolverConfig
from microsim.config.protocol import STEP_DIRECTIONS, STEP_KINDS, STEP_TYPES, CCStep, CVStep, ProtocolStep, RestStep
from microsim.config.study import (
    DEFAULT_C_RATES,
    STUDY_KINDS,
    STUDY_MODES,
    STUDY_REGISTRY,
    StudyConfig,
    StudyKind,
    register_study,
)
from microsim.config.toml_io import apply_overrides, dumps, load, read_toml

__all__ = [
    "CONTACT_MODEL_NAMES",
    "DEFAULT_C_RATES",
    "ELECTROLYTE_MODELS",
    "ELECTROLYTE_NAMES",
    "GEOMETRY_KINDS",
    "INTERFACES",
    "LINEAR_SOLVERS",
    "SECTION_NAMES",
    "SECTION_TYPES",
    "STEP_DIRECTIONS",
    "STEP_KINDS",
    "STEP_TYPES",
    "STUDY_KINDS",
    "STUDY_MODES",
    "STUDY_REGISTRY",
    "THETA_MASS",
    "CCStep",
    "CVStep",
    "ConditionsConfig",
    "Config",
    "ContactConfig",
    "ElectrolyteConfig",
    "GeometryConfig",
    "OutputConfig",
    "ProtocolStep",
    "RestStep",
    "SolverConfig",
    "StudyConfig",
    "StudyKind",
    "apply_overrides",
    "contact_settings",
    "default",
    "dumps",
    "from_dict",
    "load",
    "read_toml",
    "register_study",
    "replace",
    "to_dict",
]
