"""Named, cited parameter sets and their values at the run temperature.

:func:`resolve` turns a validated :class:`~microsim.config.Config` into one frozen :class:`CellParameters`:
every number the physics uses, at the run temperature, with where it came from. Precedence, highest first:

1. explicit values in the ``[electrolyte]`` section (``conductivity_S_m``, ``diffusivity_m2_s``,
   ``transference_number``, ``concentration_mol_m3``);
2. ``[parameters]`` overrides, by dotted field name (see :data:`OVERRIDES`); an override replaces the value
   *at the run temperature* (no Arrhenius scaling is applied to it) and changes that one number only
   (overriding the conductivity does not move the diffusivity);
3. the named sets (:mod:`.electrolytes`, :mod:`.lfp`, :mod:`.li_metal`) evaluated at the run temperature, times
   the factors of the calibrated parameter set chosen by ``[parameters] set`` (:mod:`.sets`), if any.

With ``model = "single-ion"`` the transference number is 1.

This package imports neither DOLFINx nor ``ufl`` (only ``OCP.ufl`` does, lazily).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from microsim.constants import ZERO_CELSIUS, kelvin
from microsim.parameters import cbd, electrolytes, lfp, li_metal, membrane
from microsim.parameters.concentration_table import ConcentrationLaws, ConcentrationTable
from microsim.parameters.electrolytes import ELECTROLYTES, ElectrolyteSet
from microsim.parameters.ocp import OCP, Afshar2017, FormulaOCP, TableOCP, make_ocp
from microsim.parameters.sets import CALIBRATED_DIR, PARAMETER_SETS, SET_KEY, ParameterSet, load_sets

if TYPE_CHECKING:
    from microsim.config import Config

__all__ = [
    "ELECTROLYTES",
    "OCP",
    "OVERRIDES",
    "PARAMETER_SETS",
    "Afshar2017",
    "CBDParameters",
    "CellParameters",
    "ElectrolyteParameters",
    "ElectrolyteSet",
    "FormulaOCP",
    "LFPParameters",
    "LiMetalParameters",
    "MembraneParameters",
    "OverrideSpec",
    "ParameterSet",
    "TableOCP",
    "make_ocp",
    "resolve",
]


@dataclass(frozen=True)
class ElectrolyteParameters:
    """Electrolyte values at the run temperature (SI units).

    Attributes:
        name: ``"PAL"`` or ``"PPAL"``.
        model: ``"binary"`` or ``"single-ion"``.
        conductivity_S_m: Ionic conductivity κ (S/m).
        diffusivity_m2_s: Salt diffusivity D (m²/s).
        transference_number: Cation transference number t+ (1 for single-ion).
        thermodynamic_factor: 1 + dln f±/dln c.
        concentration_mol_m3: Reference (initial) salt concentration c0 (mol/m³).
        double_layer_F_m2: Double-layer capacitance at both SPE interfaces (F/m²).
        conductivity_exponent: n_κ of κ(c) = κ (c/c0)^n_κ (0: constant).
        diffusivity_exponent: n_D of D(c) = D (c/c0)^n_D (0: constant).
        table: Tabulated concentration laws (``[electrolyte] table``), or None: the power laws and constant t+,
            TDF. A column replaces that property's law (docs/model.md §2.2).
    """

    name: str
    model: str
    conductivity_S_m: float
    diffusivity_m2_s: float
    transference_number: float
    thermodynamic_factor: float
    concentration_mol_m3: float
    double_layer_F_m2: float
    conductivity_exponent: float = 0.0
    diffusivity_exponent: float = 0.0
    table: ConcentrationTable | None = None

    def laws(self) -> ConcentrationLaws | None:
        """The table's laws around c0 (scaled concentration c/c0), or None without a table."""
        return None if self.table is None else ConcentrationLaws.build(self.table, self.concentration_mol_m3)


@dataclass(frozen=True)
class LFPParameters:
    """LiFePO4 particle values at the run temperature (SI units unless the name says otherwise).

    Attributes:
        c_max_mol_m3: Maximum Li concentration (mol/m³).
        diffusivity_m2_s: Solid diffusivity D_s (m²/s).
        conductivity_S_m: Electronic conductivity of the particle phase (S/m).
        exchange_current_A_m2: i0_ref at θ = 0.5, c = c0 (A/m²).
        alpha_a: Anodic transfer coefficient.
        alpha_c: Cathodic transfer coefficient.
        density_kg_m3: Density (kg/m³).
        capacity_mAh_g: Theoretical specific capacity (mAh/g), defines 1C.
        double_layer_F_m2: Double-layer capacitance of the LFP | SPE interface (F/m²).
        ocp: Open-circuit potential U(θ).
        intrinsic_conductivity_S_m: Conductivity of the particles themselves (S/m), used instead of
            ``conductivity_S_m`` when the carbon-binder domain is resolved.
    """

    c_max_mol_m3: float
    diffusivity_m2_s: float
    conductivity_S_m: float
    exchange_current_A_m2: float
    alpha_a: float
    alpha_c: float
    density_kg_m3: float
    capacity_mAh_g: float
    double_layer_F_m2: float
    ocp: OCP
    intrinsic_conductivity_S_m: float = lfp.INTRINSIC_CONDUCTIVITY_S_M


@dataclass(frozen=True)
class LiMetalParameters:
    """Li metal | SPE interface values at the run temperature.

    Attributes:
        exchange_current_A_m2: Exchange current density i0_Li (A/m²).
        alpha: Anodic transfer coefficient (cathodic is 1 - alpha).
        double_layer_F_m2: Double-layer capacitance (F/m²).
    """

    exchange_current_A_m2: float
    alpha: float
    double_layer_F_m2: float


@dataclass(frozen=True)
class CBDParameters:
    """Carbon-binder domain values (used only with ``geometry.cbd_fraction > 0``).

    Attributes:
        conductivity_S_m: Electronic conductivity of the CBD phase (S/m).
        porosity: Nanoporosity (the salt capacity of its electrolyte, nanoporous CBD).
        ionic_factor: Effective ionic conductivity and salt diffusivity factor of its electrolyte, in (0, 1].
    """

    conductivity_S_m: float = cbd.CONDUCTIVITY_S_M
    porosity: float = cbd.POROSITY
    ionic_factor: float = cbd.IONIC_FACTOR


@dataclass(frozen=True)
class MembraneParameters:
    """How the polymer membrane flows (used only by ``contact.model = 'creep'``; docs/parameters.md §2.6).

    Attributes:
        viscosity_ref_Pa_s: Viscosity of the amorphous membrane at 50 °C (Pa s); η(T) is
            :class:`~microsim.parameters.membrane.ViscosityLaw`.
        crystalline_viscosity_factor: Factor on η below a semicrystalline electrolyte's transition (PAL).
        surface_tension_N_m: Surface tension of the polymer (N/m).
        contact_angle_deg: Its contact angle on the cathode (degrees; 0: complete wetting).
    """

    viscosity_ref_Pa_s: float = membrane.VISCOSITY_REF_PA_S
    crystalline_viscosity_factor: float = membrane.CRYSTALLINE_VISCOSITY_FACTOR
    surface_tension_N_m: float = membrane.SURFACE_TENSION_N_M
    contact_angle_deg: float = membrane.CONTACT_ANGLE_DEG


@dataclass(frozen=True)
class CellParameters:
    """Every parameter of a run, at its temperature.

    Attributes:
        temperature_K: Run temperature (K).
        initial_stoichiometry: Initial Li fraction θ0 of the particles.
        electrolyte: Electrolyte values.
        lfp: LiFePO4 values.
        li: Li-metal interface values.
        sources: Where each dotted value came from (citation of the named set, or the config entry).
    """

    temperature_K: float
    initial_stoichiometry: float
    electrolyte: ElectrolyteParameters
    lfp: LFPParameters
    li: LiMetalParameters
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    cbd: CBDParameters = field(default_factory=CBDParameters)
    membrane: MembraneParameters = field(default_factory=MembraneParameters)

    @property
    def temperature_C(self) -> float:
        """Run temperature in °C."""
        return self.temperature_K - ZERO_CELSIUS

    def as_dict(self) -> dict[str, float | str]:
        """Return every value as a flat dict with unit-tagged dotted keys (the OCP as its name)."""
        out: dict[str, float | str] = {
            "temperature_K": self.temperature_K,
            "initial_stoichiometry": self.initial_stoichiometry,
        }
        groups = (
            ("electrolyte", self.electrolyte),
            ("lfp", self.lfp),
            ("li", self.li),
            ("cbd", self.cbd),
            ("membrane", self.membrane),
        )
        for prefix, group in groups:
            for f in fields(group):
                value = getattr(group, f.name)
                if f.name == "table":
                    out[f"{prefix}.{f.name}"] = value.name if value is not None else ""
                else:
                    out[f"{prefix}.{f.name}"] = value.name if f.name == "ocp" else value
        return out


@dataclass(frozen=True)
class OverrideSpec:
    """What a ``[parameters]`` override may be.

    Attributes:
        kind: ``"float"`` or ``"ocp"`` (a string, see :func:`make_ocp`).
        low: Lower bound (``None``: unbounded).
        high: Upper bound (``None``: unbounded).
        low_open: Whether the lower bound is excluded.
        high_open: Whether the upper bound is excluded.
        unit: Unit for messages and comments.
    """

    kind: str = "float"
    low: float | None = 0.0
    high: float | None = None
    low_open: bool = True
    high_open: bool = True
    unit: str = ""


_POSITIVE = OverrideSpec
#: Largest exponents of the power laws accepted (docs/parameters.md §2.4a): beyond them κ or D change by more than
#: a factor 8 between c0/2 and c0, far outside what PEO-LiTFSI shows.
CONDUCTIVITY_EXPONENT_MAX = 3.0
DIFFUSIVITY_EXPONENT_MAX = 3.0
_ALPHA = OverrideSpec(low=0.0, high=1.0, unit="1")

#: The names ``[parameters]`` accepts: exactly the dotted field names of CellParameters' groups.
OVERRIDES: dict[str, OverrideSpec] = {
    "electrolyte.conductivity_S_m": _POSITIVE(unit="S/m"),
    "electrolyte.diffusivity_m2_s": _POSITIVE(unit="m2/s"),
    "electrolyte.transference_number": OverrideSpec(low=-1.0, high=1.0, high_open=False, unit="1"),
    "electrolyte.thermodynamic_factor": _POSITIVE(unit="1"),
    "electrolyte.concentration_mol_m3": _POSITIVE(unit="mol/m3"),
    "electrolyte.double_layer_F_m2": _POSITIVE(unit="F/m2"),
    "electrolyte.conductivity_exponent": OverrideSpec(
        low=0.0, high=CONDUCTIVITY_EXPONENT_MAX, low_open=False, high_open=False, unit="1"
    ),
    "electrolyte.diffusivity_exponent": OverrideSpec(
        low=-DIFFUSIVITY_EXPONENT_MAX, high=DIFFUSIVITY_EXPONENT_MAX, low_open=False, high_open=False, unit="1"
    ),
    "lfp.c_max_mol_m3": _POSITIVE(unit="mol/m3"),
    "lfp.diffusivity_m2_s": _POSITIVE(unit="m2/s"),
    "lfp.conductivity_S_m": _POSITIVE(unit="S/m"),
    "lfp.intrinsic_conductivity_S_m": _POSITIVE(unit="S/m"),
    "lfp.exchange_current_A_m2": _POSITIVE(unit="A/m2"),
    "lfp.alpha_a": _ALPHA,
    "lfp.alpha_c": _ALPHA,
    "lfp.density_kg_m3": _POSITIVE(unit="kg/m3"),
    "lfp.capacity_mAh_g": _POSITIVE(unit="mAh/g"),
    "lfp.double_layer_F_m2": _POSITIVE(unit="F/m2"),
    "lfp.ocp": OverrideSpec(kind="ocp", low=None, unit="V"),
    "li.exchange_current_A_m2": _POSITIVE(unit="A/m2"),
    "li.alpha": _ALPHA,
    "li.double_layer_F_m2": _POSITIVE(unit="F/m2"),
    "cbd.conductivity_S_m": _POSITIVE(unit="S/m"),
    "cbd.porosity": OverrideSpec(low=0.0, high=1.0, high_open=False, unit="1"),
    "cbd.ionic_factor": OverrideSpec(low=0.0, high=1.0, high_open=False, unit="1"),
    "membrane.viscosity_ref_Pa_s": _POSITIVE(unit="Pa s"),
    "membrane.crystalline_viscosity_factor": OverrideSpec(low=1.0, low_open=False, unit="1"),
    "membrane.surface_tension_N_m": OverrideSpec(low=0.0, low_open=False, unit="N/m"),
    "membrane.contact_angle_deg": OverrideSpec(low=0.0, high=90.0, low_open=False, high_open=False, unit="deg"),
}

# The [electrolyte] keys that, when given, replace the named set's value (highest precedence).
_ELECTROLYTE_SECTION_KEYS = (
    "conductivity_S_m",
    "diffusivity_m2_s",
    "transference_number",
    "concentration_mol_m3",
    "conductivity_exponent",
    "diffusivity_exponent",
)


def named_values(electrolyte_name: str, temperature_K: float) -> dict[str, float | str]:
    """Return the named sets at ``temperature_K`` as a flat dict keyed like :data:`OVERRIDES`."""
    values: dict[str, float | str] = {}
    values.update({f"electrolyte.{k}": v for k, v in ELECTROLYTES[electrolyte_name].at(temperature_K).items()})
    values.update({f"lfp.{k}": v for k, v in lfp.at(temperature_K).items()})
    values.update({f"li.{k}": v for k, v in li_metal.at(temperature_K).items()})
    values.update({f"cbd.{k}": v for k, v in cbd.at(temperature_K).items()})
    values.update({f"membrane.{k}": v for k, v in membrane.at(temperature_K).items()})
    return values


def _named_sources(electrolyte_name: str) -> dict[str, str]:
    sources = {f"electrolyte.{k}": f"{electrolyte_name}: {v}" for k, v in electrolytes.SOURCES.items()}
    sources.update({f"lfp.{k}": v for k, v in lfp.SOURCES.items()})
    sources.update({f"li.{k}": v for k, v in li_metal.SOURCES.items()})
    sources.update({f"cbd.{k}": v for k, v in cbd.SOURCES.items()})
    sources.update({f"membrane.{k}": v for k, v in membrane.SOURCES.items()})
    return sources


def resolve(cfg: Config) -> CellParameters:
    """Evaluate all parameters of ``cfg`` at its temperature, applying the overrides.

    Args:
        cfg: A validated configuration.

    Returns:
        The frozen parameter set.

    Raises:
        ConfigError: If the OCP given in ``[parameters]`` cannot be built (config validation checked it
            already, so this only happens when a table file disappeared since).
    """
    temperature_K = kelvin(cfg.conditions.temperature_C)
    el = cfg.electrolyte
    values = named_values(el.name, temperature_K)
    sources = _named_sources(el.name)
    set_name = cfg.parameters.get(SET_KEY)
    if set_name is not None:
        PARAMETER_SETS[str(set_name)].apply(values, sources)
    for name, value in cfg.parameters.items():
        if name == SET_KEY:
            continue
        values[name] = value
        sources[name] = f"[parameters] override {name} = {value!r}"
    for key in _ELECTROLYTE_SECTION_KEYS:
        value = getattr(el, key)
        if value is not None:
            values[f"electrolyte.{key}"] = value
            sources[f"electrolyte.{key}"] = f"[electrolyte] {key} = {value!r}"
    if el.model == "single-ion":
        # A single-ion conductor carries all current by the cation: no salt gradients form.
        values["electrolyte.transference_number"] = 1.0
        sources["electrolyte.transference_number"] = "single-ion model: t+ = 1"

    table = el.concentration_table()
    if table is not None:
        for column in table.columns:
            sources[f"electrolyte.{column}"] = f"[electrolyte] table = {el.table!r}: column {column} (c-dependent)"
    base_dir = Path(cfg.source).parent if cfg.source is not None else None
    ocp = make_ocp(str(values["lfp.ocp"]), base_dir)

    def group(prefix: str) -> dict[str, float]:
        return {
            name.split(".", 1)[1]: float(value)
            for name, value in values.items()
            if name.startswith(prefix + ".") and name != "lfp.ocp"
        }

    return CellParameters(
        temperature_K=temperature_K,
        initial_stoichiometry=cfg.conditions.initial_stoichiometry,
        electrolyte=ElectrolyteParameters(name=el.name, model=el.model, table=table, **group("electrolyte")),
        lfp=LFPParameters(ocp=ocp, **group("lfp")),
        li=LiMetalParameters(**group("li")),
        sources=sources,
        cbd=CBDParameters(**group("cbd")),
        membrane=MembraneParameters(**group("membrane")),
    )


# The calibrated sets shipped with microsim (``calibrated/NAME.json``); read once, after OVERRIDES exists.
PARAMETER_SETS.update(load_sets(CALIBRATED_DIR))
