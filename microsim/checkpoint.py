"""Checkpoints of transient runs: one rank-independent ``.npz`` file per run, for restarts and failed runs.

A checkpoint holds the model fields at the last accepted time step, the cell voltage, the protocol runner's state
(:meth:`~microsim.studies.stepping.ProtocolRunner.state`: step index, time within the step, charge and energy so
far, next step size, records and summaries...) and the configuration it belongs to.

**N-to-M.** The mesh is not stored: a restart rebuilds it from the configuration, and the same configuration gives
the same Gmsh mesh on any number of ranks (Gmsh runs with one thread on rank 0). What changes with the number of
ranks is the distribution, i.e. the local numbering of dofs. So every P1 dof value is keyed by the Gmsh node it
sits on: dof → submesh geometry node (for P1 on a linear mesh a cell's dofs and geometry nodes correspond position
by position), submesh node → parent geometry node (:attr:`microsim.mesh.Phase.node_map`), parent node →
``mesh.geometry.input_global_indices`` (the original Gmsh node index). Rank 0 gathers (key, value) pairs of the
owned dofs and writes them sorted by key; a restart broadcasts them and each rank looks its dofs up with
:func:`numpy.searchsorted`. The node coordinates are stored too and compared on loading, so a checkpoint never
silently lands on a different mesh.

**Atomic.** Rank 0 writes ``.checkpoint.npz.*.tmp`` beside the target, syncs it and renames it over the previous
checkpoint with :func:`os.replace`: a run killed at any moment leaves either the old or the new checkpoint, never
a partial one.

**Same configuration.** The checkpoint stores the configuration (minus keys that cannot change the answer:
``[output]``, ``study.snapshots`` and the checkpoint settings) and its hash; loading it under a different
configuration raises a :class:`~microsim.errors.ConfigError` naming the first key that differs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import numpy as np

from microsim import outputs
from microsim.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import dolfinx
    from mpi4py import MPI

    from microsim.config import Config
    from microsim.mesh import CellMesh, Phase

#: File name of a run's checkpoint in its output folder.
FILENAME = "checkpoint.npz"
#: Version of the file layout; a restart refuses other versions.
FORMAT_VERSION = 1
#: Configuration keys a restart may change: they do not change the computed answer.
IGNORED_KEYS = frozenset(
    {
        "study.checkpoint_interval_s",
        "study.checkpoint_every_steps",
        "study.checkpoint_wall_interval_s",
        "study.snapshots",
    }
)
IGNORED_SECTIONS = frozenset({"output"})


# --------------------------------------------------------------------------------------------------------
# configuration identity
# --------------------------------------------------------------------------------------------------------
def config_identity(cfg: Config) -> dict[str, object]:
    """The configuration as flat ``section.key -> value`` (JSON values), without the keys a restart may change."""
    from microsim.config import to_dict

    flat: dict[str, object] = {}
    for section, table in to_dict(cfg).items():
        if section in IGNORED_SECTIONS:
            continue
        for key, value in table.items():
            name = f"{section}.{key}"
            if name not in IGNORED_KEYS:
                flat[name] = value
    # a mesh read from the cache numbers its nodes in the entry's order, not Gmsh's: switching it is a new mesh
    flat["output.mesh_cache"] = bool(cfg.output.mesh_cache)
    # a JSON round trip: tuples become lists, as they will be when read back from the file
    return json.loads(json.dumps(flat, sort_keys=True, default=str))


def config_hash(identity: Mapping[str, object]) -> str:
    """SHA-256 of a :func:`config_identity`."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _mismatch(saved: Mapping[str, object], current: Mapping[str, object]) -> str:
    """The first differing key, as ``key = saved in the checkpoint, now value``."""
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key, "<unset>"), current.get(key, "<unset>")
        if old != new:
            return f"{key} = {json.dumps(new)} differs from the checkpoint's {json.dumps(old)}"
    return "the configuration hash differs"


class CheckpointModel(Protocol):
    """What a checkpoint reads and sets of a model (a :class:`~microsim.physics.model.CellModel`)."""

    @property
    def cm(self) -> CellMesh:
        """The meshed cell the fields live on."""
        ...

    @property
    def fields(self) -> Mapping[str, dolfinx.fem.Function]:
        """The unknown functions by name (scalar P1 on a phase submesh)."""
        ...

    @property
    def V(self) -> dolfinx.fem.Constant:
        """The cell voltage (V)."""
        ...

    @property
    def previous_state(self) -> tuple[Mapping[str, dolfinx.fem.Function], dolfinx.fem.Constant] | None:
        """The accepted state before the last (fields and V) where the time scheme needs it (BDF2), else None."""
        ...

    def commit_step(self) -> None:
        """Make the fields the accepted state."""
        ...


# --------------------------------------------------------------------------------------------------------
# dof keys
# --------------------------------------------------------------------------------------------------------
class NodeKeys:
    """The Gmsh node index (key) and coordinates of every local dof of a P1 space on a phase submesh.

    Args:
        space: scalar P1 function space on ``phase.mesh``.
        phase: the phase submesh with its ``node_map`` (submesh node → parent node).
        parent: the parent mesh (its ``geometry.input_global_indices`` are the Gmsh node indices).

    Raises:
        RuntimeError: the dofs do not sit on geometry nodes (not P1 on a linear mesh).
    """

    def __init__(self, space: dolfinx.fem.FunctionSpace, phase: Phase, parent: dolfinx.mesh.Mesh) -> None:
        if phase.node_map is None:
            raise RuntimeError("the phase submesh has no geometry node map")
        sub = phase.mesh
        imap = space.dofmap.index_map
        if space.dofmap.index_map_bs != 1:
            raise RuntimeError("checkpoints hold scalar P1 fields only")
        n_local = imap.size_local + imap.num_ghosts
        cell_dofs = np.asarray(space.dofmap.list)
        cell_nodes = np.asarray(sub.geometry.dofmaps[0])  # the (only) coordinate element
        if cell_dofs.shape != cell_nodes.shape:
            raise RuntimeError("checkpoints need P1 fields on a linear mesh")
        node_of_dof = np.full(n_local, -1, dtype=np.int64)
        node_of_dof[cell_dofs.ravel()] = cell_nodes.ravel()
        if np.any(node_of_dof < 0):
            raise RuntimeError("a dof belongs to no local cell")
        self.coords = np.asarray(sub.geometry.x[node_of_dof], dtype=np.float64)
        # the position-by-position correspondence is what P1 on a linear mesh gives; make sure of it
        if not np.allclose(self.coords, space.tabulate_dof_coordinates(), rtol=0.0, atol=1e-12):
            raise RuntimeError("P1 dofs do not coincide with the geometry nodes")
        parent_nodes = np.asarray(phase.node_map)[node_of_dof]
        self.keys = np.asarray(parent.geometry.input_global_indices, dtype=np.int64)[parent_nodes]
        self.n_owned = imap.size_local


#: Name prefix of the fields of the state before the last (BDF2) in a checkpoint file.
PREVIOUS = "previous_"


def field_keys(model: CheckpointModel) -> dict[str, NodeKeys]:
    """:class:`NodeKeys` of every unknown of a :class:`~microsim.physics.model.CellModel`."""
    cm = model.cm
    out: dict[str, NodeKeys] = {}
    for name, f in model.fields.items():
        space = f.function_space
        phase = cm.particle if space.mesh is cm.particle.mesh else cm.electrolyte
        if space.mesh is cm.solid_phase.mesh:
            phase = cm.solid_phase
        if space.mesh is not phase.mesh:
            raise RuntimeError(f"field {name} is on neither phase submesh")
        out[name] = NodeKeys(space, phase, cm.mesh)
    return out


# --------------------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------------------
def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` to a temp file beside ``path``, fsync, ``os.replace`` (the old file stays until then)."""

    def write(fh: BinaryIO) -> None:
        # numpy's stub matches **arrays against the allow_pickle flag; savez takes arrays by name (documented).
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]

    outputs.atomic_write(path, write, binary=True)


def save(
    path: str | os.PathLike[str],
    comm: MPI.Comm,
    model: CheckpointModel,
    cfg: Config,
    state: Mapping[str, object],
    extra: Mapping[str, object] | None = None,
    keys: dict[str, NodeKeys] | None = None,
) -> Path:
    """Write a checkpoint of the model's current fields and ``state``; collective.

    Args:
        path: the checkpoint file.
        comm: the model's communicator.
        model: the cell model; its fields must hold the state to save (the last accepted one).
        cfg: the run's configuration.
        state: the runner's :meth:`~microsim.studies.stepping.ProtocolRunner.state` (JSON-able).
        extra: more JSON-able data of the study (returned by :func:`load`).
        keys: :func:`field_keys` of the model (computed when not given).

    Returns:
        The path written.

    Raises:
        OSError: on every rank, if rank 0 could not write.
    """
    path = Path(path)
    keys = keys or field_keys(model)
    local = {
        name: (k.keys[: k.n_owned], k.coords[: k.n_owned], np.array(model.fields[name].x.array[: k.n_owned]))
        for name, k in keys.items()
    }
    prev = model.previous_state
    if prev is not None:  # BDF2: the state before, on the same nodes
        for name, k in keys.items():
            local[PREVIOUS + name] = (local[name][0], local[name][1], np.array(prev[0][name].x.array[: k.n_owned]))
    gathered = comm.gather(local, root=0)
    identity = config_identity(cfg)
    meta = {
        "format": FORMAT_VERSION,
        "config_hash": config_hash(identity),
        "config": identity,
        "n_ranks": comm.size,
        "V": float(model.V.value),
        "V_previous": None if prev is None else float(prev[1].value),
        "state": state,
        "extra": extra or {},
    }
    text = json.dumps(meta)  # NaN/inf allowed: g_prev is inf outside CC steps

    def write() -> None:  # on rank 0, where gather returned the list
        if gathered is None:
            raise RuntimeError("checkpoint: write() runs on the gathering rank only")
        arrays: dict[str, np.ndarray] = {"meta": np.array(text)}
        for name in local:
            k = np.concatenate([g[name][0] for g in gathered])
            order = np.argsort(k, kind="stable")
            k = k[order]
            if k.size > 1 and np.any(k[1:] == k[:-1]):
                raise RuntimeError(f"checkpoint: a node of field {name} is owned by two ranks")
            arrays[f"keys_{name}"] = k
            arrays[f"x_{name}"] = np.concatenate([g[name][1] for g in gathered])[order]
            arrays[f"values_{name}"] = np.concatenate([g[name][2] for g in gathered])[order]
        _atomic_savez(path, arrays)

    outputs.run_on_root(comm, write)
    return path


# --------------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------------
@dataclass
class Loaded:
    """What :func:`load` returns besides setting the fields."""

    state: dict[str, object]
    extra: dict[str, object]
    n_ranks: int  # the number of ranks that wrote it


def _read_meta(path: Path, cfg: Config) -> tuple[dict[str, Any] | None, str | None]:
    """Meta data of a checkpoint file, or an error message (missing file, other format, other configuration)."""
    if not path.is_file():
        return None, f"no checkpoint in {path.parent} ({path.name} not found)"
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
    except Exception as exc:  # a foreign or damaged file: say so instead of a traceback
        return None, f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc})"
    if meta.get("format") != FORMAT_VERSION:
        return None, f"checkpoint {path} has format {meta.get('format')}, this microsim reads {FORMAT_VERSION}"
    identity = config_identity(cfg)
    if meta.get("config_hash") != config_hash(identity):
        return None, (
            f"checkpoint {path} was written with another configuration: {_mismatch(meta.get('config', {}), identity)}"
        )
    return meta, None


def check(path: str | os.PathLike[str], comm: MPI.Comm, cfg: Config) -> None:
    """Make sure ``path`` is a checkpoint of this configuration (cheap: reads the meta data only); collective.

    Raises:
        ConfigError: on every rank, naming the problem (``no checkpoint in DIR``, another configuration...).
    """
    msg = None
    if comm.rank == 0:
        _, msg = _read_meta(Path(path), cfg)
    msg = comm.bcast(msg, root=0)
    if msg is not None:
        raise ConfigError(msg)


def exists(path: str | os.PathLike[str], comm: MPI.Comm) -> bool:
    """Whether the checkpoint file exists (rank 0 looks; every rank gets the answer)."""
    return bool(comm.bcast(Path(path).is_file() if comm.rank == 0 else None, root=0))


def load(
    path: str | os.PathLike[str],
    comm: MPI.Comm,
    model: CheckpointModel,
    cfg: Config,
    keys: dict[str, NodeKeys] | None = None,
) -> Loaded:
    """Set the model's fields and voltage from a checkpoint written on any number of ranks; collective.

    The fields become the accepted state too (``model.commit_step()``).

    Raises:
        ConfigError: on every rank: no checkpoint, another configuration or format, or a mesh whose nodes do not
            match the checkpoint's.
    """
    path = Path(path)
    payload: dict[str, Any] | None = None
    msg: str | None = None
    if comm.rank == 0:
        meta, msg = _read_meta(path, cfg)
        if msg is None:
            with np.load(path, allow_pickle=False) as data:
                payload = {"meta": meta, **{k: data[k] for k in data.files if k != "meta"}}
    msg = comm.bcast(msg, root=0)
    if msg is not None:
        raise ConfigError(msg)
    payload = comm.bcast(payload, root=0)
    if payload is None:  # rank 0 either loads it or reports an error
        raise ConfigError("checkpoint: nothing received from rank 0")
    keys = keys or field_keys(model)
    problem = ""
    values: dict[str, np.ndarray] = {}
    prev = model.previous_state
    wanted = list(keys.items())
    if prev is not None:
        wanted += [(PREVIOUS + name, k) for name, k in keys.items()]
    for name, k in wanted:
        if f"keys_{name}" not in payload:
            problem = problem or f"field {name} is missing"
            continue
        saved = payload[f"keys_{name}"]
        idx = np.searchsorted(saved, k.keys)
        idx_c = np.minimum(idx, max(saved.size - 1, 0))
        found = saved.size > 0 and bool(np.all(saved[idx_c] == k.keys))
        if not found:
            problem = problem or f"field {name}: a mesh node of this run is not in the checkpoint"
            continue
        x = payload[f"x_{name}"][idx_c]
        scale = max(1.0, float(np.max(np.abs(x))) if x.size else 1.0)
        if x.size and float(np.max(np.abs(x - k.coords))) > 1e-9 * scale:
            problem = problem or f"field {name}: the mesh nodes moved"
            continue
        values[name] = payload[f"values_{name}"][idx_c]
    problems = [p for p in comm.allgather(problem) if p]
    if problems:
        raise ConfigError(f"checkpoint {path} does not match this mesh ({problems[0]})")
    meta = payload["meta"]
    if prev is not None:
        # the state before first, committed, then the last one: the model's history is as it was when saved
        for name in keys:
            model.fields[name].x.array[:] = values[PREVIOUS + name]
        model.V.value = float(meta["V_previous"])  # type: ignore[assignment]
        model.commit_step()
    for name in keys:
        model.fields[name].x.array[:] = values[name]
    model.V.value = float(meta["V"])  # type: ignore[assignment]  # dolfinx types the setter as ndarray only
    model.commit_step()
    return Loaded(state=meta["state"], extra=meta.get("extra", {}), n_ranks=int(meta.get("n_ranks", 0)))


__all__ = [
    "FILENAME",
    "Loaded",
    "NodeKeys",
    "check",
    "config_hash",
    "config_identity",
    "exists",
    "field_keys",
    "load",
    "save",
]
