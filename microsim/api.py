"""The Python API: load a case, change it, run a study on an explicit communicator, read its results.

For notebooks and sweep scripts; ``microsim run`` is this module's :func:`run_case` behind a command line, so a
run through the API and through the CLI write the same folder and the same numbers.

Example (``examples/`` has two complete scripts that the test suite runs)::

    from mpi4py import MPI
    import microsim

    case = microsim.Case.from_toml("geometries/default-2d.toml").with_overrides("geometry.interface=point-contact")
    result = case.run(MPI.COMM_WORLD, "runs/point-contact")
    result.summary["resistance_ohm_cm2"]["total"]
    result.breakdown()            # pandas: the resistance breakdown
    microsim.Result.load("runs/point-contact").paths["summary.json"]   # later, without DOLFINx

Only :meth:`Case.run` needs DOLFINx (imported when it is called); :class:`Result` reads a run folder with pandas.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from microsim import config as config_mod
from microsim import run_folder
from microsim.errors import MicrosimError

if TYPE_CHECKING:
    from mpi4py import MPI

__all__ = ["Case", "Result", "run_case"]

#: The folder of one rate's run inside a rate study's folder (``runs/0.1C``), as the rate study names it.
RATE_RUNS = "runs"


@dataclass(frozen=True)
class Case:
    """One validated configuration: what to simulate and which study to run.

    Attributes:
        config: the validated configuration (``microsim.config.Config``); relative file paths in it resolve
            against the TOML file it came from.
    """

    config: config_mod.Config

    @classmethod
    def from_toml(cls, path: str | Path, overrides: Sequence[str] = ()) -> Case:
        """Read a TOML case file, with ``SECTION.KEY=VALUE`` overrides as ``--set`` takes them.

        Raises:
            ConfigError: unreadable file, TOML syntax, or any invalid field (one line naming it).
        """
        return cls(config_mod.load(path, overrides))

    @classmethod
    def default(cls) -> Case:
        """The built-in defaults (``microsim defaults`` prints them)."""
        return cls(config_mod.default())

    def with_overrides(self, *assignments: str, **changes: object) -> Case:
        """A copy with fields changed, given as ``"section.key=value"`` strings or as typed keyword values.

        ``case.with_overrides("study.kind=rate", **{"study.c_rates": [0.1, 1.0]})``; a value of ``None`` restores
        the default. Named parameters are ``"parameters.lfp.exchange_current_A_m2=0.1"``.

        Raises:
            ConfigError: unknown or invalid field.
        """
        cfg = self.config
        if assignments:
            d = config_mod.apply_overrides(config_mod.to_dict(cfg), assignments)
            cfg = config_mod.from_dict(d, source=cfg.source)
        if changes:
            cfg = config_mod.replace(cfg, **changes)
        return Case(cfg)

    @property
    def study(self) -> str:
        """``study.kind``."""
        return str(self.config.study.kind)

    def to_toml(self) -> str:
        """The complete configuration as TOML (what the run folder's ``config.toml`` holds)."""
        return config_mod.dumps(self.config)

    def run(self, comm: MPI.Comm, out_dir: str | Path, *, restart: bool = False, overwrite: bool = False) -> Result:
        """Run the case's study on ``comm`` (collective), writing into ``out_dir``.

        Args:
            comm: the communicator: every rank of it calls ``run`` with the same arguments.
            out_dir: the run folder (created; refused if it holds another study's outputs).
            restart: continue a transient study from the checkpoints in ``out_dir``.
            overwrite: clear a previous run in ``out_dir`` first.

        Raises:
            ConfigError, GeometryError, ConvergenceError, ResourceError: as ``microsim run`` raises them (exit 2).
        """
        summary = run_case(self.config, Path(out_dir), comm, restart=restart, overwrite=overwrite)
        return Result(Path(out_dir), summary)


def run_case(
    cfg: config_mod.Config, out_dir: Path, comm: MPI.Comm, *, restart: bool = False, overwrite: bool = False
) -> dict[str, Any]:
    """Check the run folder, clear it if asked, run the study; return the summary (collective).

    Every rank checks the folder before any MPI call, so a refusal is the same everywhere; the ranks then agree
    on whether to clear it before rank 0 does.
    """
    must_clear = run_folder.check(out_dir, cfg.study.kind, restart=restart, overwrite=overwrite)
    from mpi4py import MPI

    from microsim import outputs
    from microsim.studies import run_study

    # every rank has looked at the folder before rank 0 may clear it (a rank that looked later would see it empty,
    # skip the clearing's collective and meet rank 0 in the wrong one)
    if comm is not None and comm.size > 1:
        must_clear = comm.allreduce(must_clear, op=MPI.LOR)
    if must_clear:
        outputs.run_on_root(comm, lambda: run_folder.clear(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    # restart only when asked: a plain run keeps the (cfg, out_dir, comm) call that studies and fakes expect
    return run_study(cfg, out_dir, comm, restart=True) if restart else run_study(cfg, out_dir, comm)


@dataclass
class Result:
    """A finished (or partial) run: its summary, its files and its tables (docs/outputs.md).

    Attributes:
        out_dir: the run folder.
        summary: ``summary.json`` as a dict (with, after :meth:`Case.run`, what the study returns beyond it,
            e.g. the impedance ``spectrum``).
    """

    out_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, out_dir: str | Path) -> Result:
        """Read a run folder written by ``microsim run``, a sweep case or :meth:`Case.run` (no DOLFINx needed).

        Raises:
            MicrosimError: no ``summary.json`` in ``out_dir`` (the run did not finish; ``run.json`` says why).
        """
        path = Path(out_dir) / "summary.json"
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MicrosimError(f"{path}: no summary (the run did not finish; see run.json)") from None
        return cls(Path(out_dir), summary)

    @property
    def study(self) -> str:
        """The study kind that ran."""
        return str(self.summary.get("study", ""))

    @property
    def case(self) -> Case:
        """The resolved configuration the run used (its ``config.toml``)."""
        return Case.from_toml(self.out_dir / "config.toml")

    @property
    def paths(self) -> dict[str, Path]:
        """Every file of the run folder, by its path relative to the folder (``"fields/electrolyte.xdmf"``)."""
        return {p.relative_to(self.out_dir).as_posix(): p for p in sorted(self.out_dir.rglob("*")) if p.is_file()}

    def _csv(self, name: str, what: str) -> pd.DataFrame:
        path = self.out_dir / name
        if not path.is_file():
            raise MicrosimError(f"{path}: no {what} in this {self.study or 'unknown'} run (docs/outputs.md §4)")
        return pd.read_csv(path)

    def timeseries(self, c_rate: float | None = None) -> pd.DataFrame:
        """``timeseries.csv`` of a discharge, or of one rate of a rate study (``c_rate``, e.g. 0.1)."""
        if c_rate is None:
            return self._csv("timeseries.csv", "time series")
        return self._csv(f"{RATE_RUNS}/{c_rate:g}C/timeseries.csv", f"time series at {c_rate:g}C")

    def rate_table(self) -> pd.DataFrame:
        """``rate.csv``: one row per C-rate (capacity, energy, limiting mechanism, losses at cut-off)."""
        return self._csv("rate.csv", "rate table")

    def spectrum(self) -> pd.DataFrame:
        """``impedance.csv``: the spectrum, one row per frequency."""
        return self._csv("impedance.csv", "impedance spectrum")

    def breakdown(self) -> pd.DataFrame:
        """The resistance breakdown of a resistance study as a table [Ω·cm²] (docs/outputs.md §3.1)."""
        from microsim.post.tables import breakdown_table

        if "resistance_ohm_cm2" not in self.summary:
            raise MicrosimError(f"{self.out_dir}: a {self.study or 'unknown'} run has no resistance breakdown")
        return breakdown_table({self.summary.get("interface", "run"): self.summary})

    def to_json(self) -> Mapping[str, Any]:
        """The summary (a JSON-ready mapping)."""
        return self.summary
