"""A packing store: a seeded packing searched once and read back by every later run of the same cell.

The full-size 3D paper cell needs about a thousand spheres; the looseness search behind it (several deposits
of pure-Python rolling) takes 20-50 s on every rank of every run, even when the mesh cache then skips Gmsh.
With ``[output] mesh_cache = "DIR"`` the packings are kept beside the meshes, as ``DIR/packings/<key>.npz``
(centres, radii and the search's figures), so a sweep over non-geometric parameters, a rate study run again or
an impedance run of a cell already meshed starts in seconds.

The key hashes every argument of :func:`microsim.geometry.packing.pack`, the NumPy version (its random
streams are not promised stable across versions) and the source text of the modules whose code decides a
packing: a change of the packing code can never read back a packing the old code made. The read is exact
(float64 in ``.npz``), so a stored packing gives the same spheres, bit for bit, as the search. Each run writes
its entry to a temporary file and renames it (ranks and runs that search the same packing at once write the
same bytes, and a killed run leaves no half entry); a failed search is not stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import time
import uuid
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from microsim.geometry import packing, packing3d, particles, search
from microsim.geometry.particles import PackingResult, Particles

__all__ = ["PACKINGS_DIRNAME", "packing_key", "stored_pack"]

#: Folder of the packings inside a mesh cache.
PACKINGS_DIRNAME = "packings"
#: Layout of an entry; raise it when the stored fields change.
_FORMAT = 1


@cache
def _code_hash() -> str:
    """Hash of the source of the modules that decide a packing (read once per process)."""
    text = "".join(inspect.getsource(m) for m in (packing, packing3d, particles, search))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def packing_key(dim: int, *args: Any, **kwargs: Any) -> str:
    """The key of the packing ``pack(dim, *args, **kwargs)``: its arguments, NumPy's version, the packing code."""
    text = json.dumps(
        {
            "dim": int(dim),
            "args": [float(a) for a in args],
            "kwargs": {k: float(v) for k, v in sorted(kwargs.items())},
            "numpy": np.__version__,
            "code": _code_hash(),
            "format": _FORMAT,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: The search's figures stored beside the spheres: every field of a PackingResult but the particles.
_META = tuple(f.name for f in fields(PackingResult) if f.name != "particles")


def _read(path: Path) -> PackingResult:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        meta["trials"] = tuple(tuple(t) for t in meta["trials"])
        return PackingResult(Particles(np.array(data["centers"]), np.array(data["radii"])), **meta)


def _write(path: Path, result: PackingResult) -> None:
    meta = {name: getattr(result, name) for name in _META}
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, centers=result.particles.centers, radii=result.particles.radii, meta=json.dumps(meta))
        os.replace(tmp, path)
    except OSError:  # a full or read-only cache loses only the saving: the packing itself is in hand
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def stored_pack(
    cache_dir: str | os.PathLike[str] | None, dim: int, *args: Any, **kwargs: Any
) -> tuple[PackingResult, dict[str, Any]]:
    """``pack(dim, *args, **kwargs)``, read from the store under ``cache_dir`` if there, else searched (and stored).

    Args:
        cache_dir: The mesh cache (``output.mesh_cache``); None or empty: no store, always search.
        dim: The dimension (the first argument of :func:`microsim.geometry.packing.pack`).
        *args: Its positional arguments after ``dim``.
        **kwargs: Its keyword arguments.

    Returns:
        The packing, and what happened: ``{"key", "status": "hit" | "written" | "off", "time_s"}``.

    Raises:
        GeometryError: The search fails (as :func:`~microsim.geometry.packing.pack`).
    """
    t0 = time.perf_counter()
    if not cache_dir:
        return packing.pack(dim, *args, **kwargs), {"status": "off", "time_s": time.perf_counter() - t0}
    key = packing_key(dim, *args, **kwargs)
    path = Path(cache_dir) / PACKINGS_DIRNAME / f"{key}.npz"
    if path.is_file():
        try:
            result = _read(path)
            return result, {"key": key, "status": "hit", "time_s": time.perf_counter() - t0}
        except (OSError, ValueError, KeyError, TypeError):  # unreadable entry: search again and replace it
            pass
    result = packing.pack(dim, *args, **kwargs)
    _write(path, result)
    return result, {"key": key, "status": "written", "time_s": time.perf_counter() - t0}
