"""``[electrolyte]`` and ``[conditions]``: the named electrolyte and the operating state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from microsim.config.fields import Section, show, spec
from microsim.constants import ZERO_CELSIUS
from microsim.errors import ConfigError
from microsim.parameters import CONDUCTIVITY_EXPONENT_MAX, DIFFUSIVITY_EXPONENT_MAX
from microsim.parameters.concentration_table import BUILTIN_TABLES, ConcentrationTable, load_table

ELECTROLYTE_NAMES = ("PAL", "PPAL")
ELECTROLYTE_MODELS = ("binary", "single-ion")
#: Sanity limit of the temperature [°C] (Li melts at 180.5 °C).
MAX_TEMPERATURE_C = 200.0


@dataclass(frozen=True)
class ElectrolyteConfig(Section):
    """``[electrolyte]``: the named SPE; explicit values here replace the named set's (highest precedence)."""

    SECTION: ClassVar[str] = "electrolyte"

    name: str = spec("PPAL", choices=ELECTROLYTE_NAMES, doc="named parameter set (docs/parameters.md §7.1)")
    model: str = spec("binary", choices=ELECTROLYTE_MODELS, doc="binary salt, or single-ion conductor (t+ = 1)")
    conductivity_S_m: float | None = spec(
        None,
        kind=float,
        low=0.0,
        unit="S/m",
        doc="ionic conductivity",
        unset="the named set at the run temperature",
    )
    diffusivity_m2_s: float | None = spec(
        None,
        kind=float,
        low=0.0,
        unit="m²/s",
        doc="salt diffusivity",
        unset="the named set at the run temperature",
    )
    transference_number: float | None = spec(
        None, kind=float, low=-1.0, high=1.0, high_open=False, unit="1", doc="cation transference number t+",
        unset="the named set (0.2; 1 for single-ion)",
    )  # fmt: skip
    concentration_mol_m3: float | None = spec(
        None, kind=float, low=0.0, unit="mol/m³", doc="salt concentration c0", unset="the named set (1100)"
    )
    conductivity_exponent: float | None = spec(
        None, kind=float, low=0.0, high=CONDUCTIVITY_EXPONENT_MAX, low_open=False, high_open=False, unit="1",
        doc="power law of the conductivity in the salt concentration: κ(c) = κ (c/c0)^n (0: constant)",
        unset="the named set (0)", note="documented range of the power law, docs/parameters.md §2.4a",
    )  # fmt: skip
    diffusivity_exponent: float | None = spec(
        None, kind=float, low=-DIFFUSIVITY_EXPONENT_MAX, high=DIFFUSIVITY_EXPONENT_MAX, low_open=False,
        high_open=False, unit="1", doc="power law of the salt diffusivity: D(c) = D (c/c0)^n (0: constant)",
        unset="the named set (0)", note="documented range of the power law, docs/parameters.md §2.4a",
    )  # fmt: skip

    table: str = spec(
        "",
        doc="concentration laws from a table: a built-in name ('edman2000') or a CSV file relative to the config "
        "file, columns c_mol_m3 and any of conductivity_S_m, diffusivity_m2_s, transference_number, "
        "thermodynamic_factor ('': the power laws)",
        note="docs/model.md §2.2",
    )

    def _cross_check(self) -> None:
        if self.model == "single-ion" and self.transference_number not in (None, 1.0):
            raise ConfigError(
                f"electrolyte.transference_number = {show(self.transference_number)}: must be 1 (or unset) "
                "when electrolyte.model = 'single-ion'"
            )
        table = self.concentration_table()
        if table is None:
            return
        for column, key in TABLE_REPLACES.items():
            if table.has(column) and getattr(self, key) is not None:
                raise ConfigError(
                    f"electrolyte.{key} = {show(getattr(self, key))} and electrolyte.table = {self.table!r} "
                    f"(column {column}) both give the concentration law of {column}: set one of them"
                )
        if self.model == "single-ion" and table.has("transference_number"):
            raise ConfigError(
                f"electrolyte.table = {self.table!r} has a transference_number column: a single-ion conductor has "
                "t+ = 1 (electrolyte.model = 'single-ion'); use a table without it"
            )

    def concentration_table(self) -> ConcentrationTable | None:
        """The checked table of ``table``, or None (the power laws).

        Raises:
            ConfigError: the table cannot be read or breaks a rule of :func:`load_table`.
        """
        return load_table(self.table) if self.table else None


#: The power-law key each table column replaces (both given is an error).
TABLE_REPLACES = {"conductivity_S_m": "conductivity_exponent", "diffusivity_m2_s": "diffusivity_exponent"}


def table_spec(value: str, base_dir: object) -> str:
    """``[electrolyte] table`` as stored: a built-in name unchanged, a path made absolute against ``base_dir``."""
    from pathlib import Path

    if not value or value.lower() in BUILTIN_TABLES:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (Path(str(base_dir)) / path).resolve())


@dataclass(frozen=True)
class ConditionsConfig(Section):
    """``[conditions]``: operating temperature and initial state."""

    SECTION: ClassVar[str] = "conditions"

    temperature_C: float = spec(
        30.0, low=-ZERO_CELSIUS, high=MAX_TEMPERATURE_C, unit="°C", doc="cell temperature (isothermal)",
        note="°C; the upper bound is a sanity limit: Li melts at 180.5 °C",
    )  # fmt: skip
    initial_stoichiometry: float = spec(
        0.5, low=0.0, high=1.0, unit="1", doc="initial Li fraction θ0 = c_s/c_max of the particles"
    )


__all__ = [
    "ELECTROLYTE_MODELS",
    "ELECTROLYTE_NAMES",
    "MAX_TEMPERATURE_C",
    "TABLE_REPLACES",
    "ConditionsConfig",
    "ElectrolyteConfig",
    "table_spec",
]
