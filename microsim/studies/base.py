"""The one study pipeline: what every study shares, and the small interface a study implements.

:func:`run_study` runs the stages in a fixed order:

1. look up ``study.kind`` in the registry (:data:`microsim.config.STUDY_REGISTRY`) and import its class;
2. :meth:`Study.check`: input checks that need no mesh (e.g. a restart's checkpoint), identical on every rank;
3. :meth:`StudyContext.prepare`: parameters at the run temperature → geometry description → distributed mesh,
   and the output folder (created once, on rank 0, before a barrier);
4. :meth:`Study.run`: the study's own work; it returns the summary keys it computed and may write its own files
   through the context (``ctx.write_json``, ``ctx.write_csv``, ``ctx.picture``);
5. the run header (:meth:`StudyContext.header`), ``geometry.json``, then ``summary.json`` with the timings, the
   wall time (maximum over ranks) and the provenance, and the study's pictures through one MPI-safe helper
   (:func:`draw_picture`).

With an output folder, the resolved ``config.toml`` and ``run.json`` (:mod:`microsim.provenance`: versions, git
revision, command, ranks, hosts; ``state`` running → done/failed) are written once the mesh exists, so that a run
that dies later still says what it was.

A new study is one module with a :class:`Study` subclass plus one :class:`~microsim.config.StudyKind` entry
(docs/extending.md).
"""

from __future__ import annotations

import importlib
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mpi4py import MPI

from microsim import config as config_mod
from microsim import interrupt, outputs, provenance
from microsim.config import STUDY_REGISTRY, Config
from microsim.constants import celsius
from microsim.errors import ConfigError, Interrupted, MicrosimError, one_line
from microsim.geometry import GeometryDescription
from microsim.mesh import CellMesh
from microsim.parameters import CellParameters, resolve
from microsim.studies import resolution
from microsim.studies.common import (
    Timer,
    build_cell_mesh,
    check_memory,
    describe_geometry,
    draw_picture,
    geometry_record,
    make_out_dir,
)
from microsim.studies.resolution import all_resolved

#: A JSON-ready summary (nested dicts, lists, numbers, strings).
Summary = dict[str, Any]
#: The run record (state and provenance) and the resolved configuration in every run folder.
RUN_NAME = "run.json"
CONFIG_NAME = "config.toml"


@dataclass
class StudyContext:
    """What the shared stages give a study: the inputs, the mesh, the output folder and a timer.

    Attributes:
        cfg: the validated configuration.
        comm: communicator of the run.
        out_dir: the output folder (exists), or ``None`` to write nothing.
        params: parameters at the run temperature.
        desc: the geometry description (identical on every rank).
        cm: the distributed mesh.
        timer: wall-clock sections (``mesh_s`` already in it).
        restart: continue from the checkpoints in ``out_dir`` (transient studies).
        resolution: the mesh checks every study shares (:mod:`microsim.studies.resolution`; ``contact_spots``
            where the cell has spots); a study adds its own and the block goes into ``summary.json``.
    """

    cfg: Config
    comm: MPI.Comm
    out_dir: Path | None
    params: CellParameters
    desc: GeometryDescription
    cm: CellMesh
    timer: Timer = field(default_factory=Timer)
    restart: bool = False
    resolution: Summary = field(default_factory=dict)
    _geometry: Summary | None = None

    @classmethod
    def prepare(cls, cfg: Config, comm: MPI.Comm, out_dir: Path | None = None, restart: bool = False) -> StudyContext:
        """Parameters, geometry description and mesh; the output folder.

        The parameters and the description validate the input identically on every rank before any collective
        call.
        """
        timer = Timer()
        params = resolve(cfg)
        desc = describe_geometry(cfg)
        check_memory(desc, cfg.study.kind, comm)
        t = time.perf_counter()
        cm = build_cell_mesh(desc, comm, cfg.output.mesh_cache or None)
        timer.add("mesh_s", time.perf_counter() - t)
        if out_dir is not None:
            out_dir = make_out_dir(comm, Path(out_dir))
        ctx = cls(cfg, comm, out_dir, params, desc, cm, timer, restart)
        spots = resolution.contact_spots(
            cm.info,
            desc.dim,
            desc.spot_mesh_level,
            params.electrolyte.conductivity_S_m,
            params.lfp.exchange_current_A_m2,
            params.temperature_K,
        )
        if spots is not None:
            ctx.resolution["contact_spots"] = spots
            if "note" in spots:
                warnings.warn(str(spots["note"]), stacklevel=2)  # printed once, by rank 0 (microsim.cli)
        return ctx

    @property
    def geometry(self) -> Summary:
        """``geometry.json``: the description's statistics and what the mesh measured (computed once)."""
        if self._geometry is None:
            self._geometry = geometry_record(self.desc, self.cm)
        return self._geometry

    def header(self, study: str) -> Summary:
        """The keys every ``summary.json`` starts with: what was run, on what, how big, where.

        With contact spots, ``contact`` is the contact block of geometry.json (model, pressure, modulus, times,
        contact fraction, depth, share of particles reached).
        """
        head: Summary = {
            "study": study,
            "interface": self.desc.interface,
            "geometry_kind": self.desc.kind,
            "dim": self.desc.dim,
            "temperature_C": celsius(self.params.temperature_K),
            "electrolyte": self.params.electrolyte.name,
            "electrolyte_model": self.params.electrolyte.model,
            "n_cells": self.cm.count_cells()["total"],
            "n_ranks": self.cm.comm.size,
        }
        contact = self.geometry.get("contact")
        if contact is not None:
            head["contact"] = contact
        if self.resolution:
            head["resolution"] = {**self.resolution, "resolved": all_resolved(self.resolution)}
        return head

    def title(self) -> str:
        """A picture title: interface, electrolyte, temperature."""
        return f"{self.desc.interface}, {self.params.electrolyte.name}, {celsius(self.params.temperature_K):.0f} °C"

    def write_json(self, name: str, data: Mapping[str, Any]) -> None:
        """Write ``out_dir/name`` atomically from rank 0 (collective; nothing without an output folder)."""
        if self.out_dir is not None:
            outputs.write_json(self.comm, self.out_dir / name, data)

    def picture(self, name: str, draw: Callable[[Path], object]) -> None:
        """Draw ``out_dir/name`` on rank 0 if pictures are asked for (collective)."""
        if self.out_dir is not None and self.cfg.output.png:
            out = self.out_dir / name
            draw_picture(self.comm, name, lambda: draw(out))


@dataclass
class StudyResult:
    """What :meth:`Study.run` returns.

    Attributes:
        summary: the study's own summary keys (after the run header in ``summary.json``).
        returned_only: keys returned to the caller but not written to ``summary.json`` (e.g. the full spectrum,
            which has its own CSV file).
        error: raised after everything is written (e.g. the failed C-rates of a rate study).
    """

    summary: Summary
    returned_only: Summary = field(default_factory=dict)
    error: Exception | None = None


class Study(ABC):
    """One kind of study. Subclasses set :attr:`kind` and implement :meth:`run`."""

    #: The ``study.kind`` value (its registry entry in :data:`microsim.config.STUDY_REGISTRY`).
    kind: ClassVar[str] = ""

    def check(self, cfg: Config, out_dir: Path | None, comm: MPI.Comm, restart: bool) -> None:  # noqa: B027
        """Checks before the mesh is built (identical on every rank); default: none.

        Raises:
            ConfigError: the input cannot run.
        """

    @abstractmethod
    def run(self, ctx: StudyContext) -> StudyResult:
        """The study's own work on the prepared cell."""

    def pictures(self, ctx: StudyContext, summary: Summary) -> dict[str, Callable[[Path], object]]:
        """Pictures drawn after ``summary.json`` (file name -> drawing); default: none."""
        return {}


def study_class(kind: str) -> type[Study]:
    """The study class registered for ``kind`` (imported on first use: the studies need DOLFINx).

    Raises:
        ConfigError: ``kind`` is not registered.
    """
    entry = STUDY_REGISTRY.get(kind)
    if entry is None:
        raise ConfigError(f"study.kind = {kind!r}: not available (allowed: {', '.join(STUDY_REGISTRY)})")
    module, _, name = entry.entry.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Study)) or cls.kind != kind:
        raise TypeError(f"study registry: {entry.entry} is not the Study of kind {kind!r}")
    return cls


def run_study(cfg: Config, out_dir: Path | None, comm: MPI.Comm, restart: bool = False) -> Summary:
    """Run the study named in ``cfg.study.kind``; outputs go to ``out_dir`` (``None``: write nothing).

    Args:
        cfg: validated configuration.
        out_dir: output folder.
        comm: communicator.
        restart: discharge and rate studies continue from the checkpoints in ``out_dir`` (``microsim run
            --restart``); the steady studies ignore it.

    Returns:
        The summary (as in ``summary.json``, plus any returned-only keys).
    """
    return run_with(study_class(cfg.study.kind)(), cfg, out_dir, comm, restart)


def run_with(study: Study, cfg: Config, out_dir: Path | None, comm: MPI.Comm, restart: bool = False) -> Summary:
    """Run ``study`` on ``cfg`` through the shared stages (whatever ``cfg.study.kind`` says).

    Args:
        study: the study object.
        cfg: validated configuration.
        out_dir: output folder (``None``: write nothing).
        comm: communicator.
        restart: continue from checkpoints (transient studies).
    """
    study.check(cfg, out_dir, comm, restart)
    ctx = StudyContext.prepare(cfg, comm, out_dir, restart)
    interrupt.rearm()  # PETSc and Gmsh took SIGTERM over while they started
    prov = provenance.collect(comm)
    run_record: Summary = {"state": "running", "study": study.kind, "restart": restart, "provenance": prov}
    if ctx.out_dir is not None:
        config_path = ctx.out_dir / CONFIG_NAME
        outputs.run_on_root(comm, lambda: outputs.atomic_write_text(config_path, config_mod.dumps(cfg)))
        ctx.write_json(RUN_NAME, run_record)
    try:
        result = study.run(ctx)
    except MicrosimError as exc:  # raised on every rank alike (the studies' rule), so the write below is safe
        state = "interrupted" if isinstance(exc, Interrupted) else "failed"
        ctx.write_json(RUN_NAME, {**run_record, "state": state, "error": one_line(exc)})
        raise
    summary: Summary = {**ctx.header(study.kind), **result.summary}
    timings = summary.setdefault("timings_s", {})
    timings.update({k: v for k, v in ctx.timer.sections.items() if k not in timings})
    if ctx.out_dir is not None:
        t = time.perf_counter()
        ctx.write_json("geometry.json", ctx.geometry)
        timings["output_s"] = timings.get("output_s", 0.0) + time.perf_counter() - t
    summary["wall_time_s"] = comm.allreduce(ctx.timer.total(), op=MPI.MAX)
    summary["provenance"] = prov
    ctx.write_json("summary.json", summary)
    for name, draw in study.pictures(ctx, summary).items():
        ctx.picture(name, draw)
    end = {"state": "failed" if result.error is not None else "done", "wall_time_s": summary["wall_time_s"]}
    if result.error is not None:
        end["error"] = one_line(result.error)
    ctx.write_json(RUN_NAME, {**run_record, **end})
    if result.error is not None:
        raise result.error
    return {**summary, **result.returned_only}


__all__ = [
    "Study",
    "StudyContext",
    "StudyResult",
    "Summary",
    "Timer",
    "draw_picture",
    "make_out_dir",
    "run_study",
    "run_with",
    "study_class",
]
