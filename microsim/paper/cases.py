"""The cases of a paper run: every row and spectrum of a paper file, per packing seed, as sweep cases.

Each case is the row's (or spectrum's) case file with a few overrides: the packing seed, the parameter set, the
study (a rate study at the row's C-rates, an impedance study over the spectrum's band) and, with ``--quick`` or for
a 2D counterpart, the variant's overrides. The overrides travel with the case, so every number of the report
names the command that reproduces it. Cases are named by their configuration hash: a rerun finds them done.

Pure Python (no DOLFINx).
"""

from __future__ import annotations

from dataclasses import dataclass

from microsim import config as config_mod
from microsim.config import Config
from microsim.errors import ConfigError
from microsim.paper.spec import PaperSpec
from microsim.sweep.spec import Case, case_hash

__all__ = ["ROW", "ROW_2D", "SPECTRUM", "PaperCase", "paper_cases"]

ROW, ROW_2D, SPECTRUM = "row", "row_2d", "spectrum"


@dataclass(frozen=True)
class PaperCase:
    """One case of a paper run.

    Attributes:
        kind: :data:`ROW`, :data:`ROW_2D` or :data:`SPECTRUM`.
        index: The row's or spectrum's index in the paper file.
        seed: The packing seed.
        case_path: The case file, as the paper file names it.
        overrides: ``section.key`` overrides on that file (``microsim run FILE --set KEY=VALUE`` reproduces it).
        case: The sweep case (hash, labels, validated config).
    """

    kind: str
    index: int
    seed: int
    case_path: str
    overrides: dict[str, object]
    case: Case

    def command(self, spec: PaperSpec) -> str:
        """The ``microsim run`` command line that reproduces this case."""
        path = spec.base_dir / self.case_path
        sets = " ".join(f"--set {k}={_toml_value(v)}" for k, v in self.overrides.items())
        return f"microsim run {path} --out OUT {sets}".strip()


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "[" + ",".join(_toml_value(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)


def _make(kind: str, index: int, seed: int, case_path: str, cfg: Config, overrides: dict[str, object],
          n: int, label: str) -> PaperCase:  # fmt: skip
    try:
        resolved = config_mod.replace(cfg, **overrides)
    except ConfigError as exc:
        raise ConfigError(f"paper case {case_path} ({label}, seed {seed}): {exc}") from None
    values: dict[str, object] = {"point": label, "seed": seed}
    return PaperCase(kind, index, seed, case_path, overrides, Case(n, case_hash(resolved), values, resolved))


def paper_cases(spec: PaperSpec, quick: bool = False) -> list[PaperCase]:
    """Every case of a paper run (rows, their 2D counterparts, spectra), seeds innermost.

    Raises:
        ConfigError: A case is invalid with its overrides (named, with the seed).
    """
    seeds = spec.quick_seeds if quick else spec.seeds
    common: dict[str, object] = {} if spec.parameter_set is None else {"parameters.set": spec.parameter_set}
    if quick:
        common.update(spec.quick_overrides)
    out: list[PaperCase] = []
    for i, row in enumerate(spec.rows):
        study: dict[str, object] = {"study.kind": "rate", "study.c_rates": list(row.c_rates)}
        variants: list[tuple[str, dict[str, object], str]] = [(ROW, {}, "")] + (
            [(ROW_2D, dict(spec.two_d_overrides), " (2D)")] if spec.two_d_overrides else []
        )
        for kind, extra, suffix in variants:
            for seed in seeds:
                overrides = {**common, **study, **extra, "geometry.seed": seed}
                out.append(_make(kind, i, seed, row.case_path, row.case, overrides, len(out), row.label + suffix))
    for j, s in enumerate(spec.spectra):
        study = {
            "study.kind": "impedance",
            "study.frequency_min_Hz": s.frequency_min_Hz,
            "study.frequency_max_Hz": s.frequency_max_Hz,
            "study.points_per_decade": s.points_per_decade,
        }
        for seed in seeds:
            overrides = {**common, **study, "geometry.seed": seed}
            out.append(_make(SPECTRUM, j, seed, s.case_path, s.case, overrides, len(out), s.label + " (impedance)"))
    return out
