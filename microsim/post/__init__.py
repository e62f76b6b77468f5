"""Post-processing from written files only (NumPy/pandas/meshio/pyvista; never DOLFINx).

A laptop can rebuild the tables and pictures of a cluster run from its ``summary.json`` and ``fields/``.
The rendering functions import pyvista on first use, so ``import microsim.post`` stays light.
"""

from __future__ import annotations

from typing import Any

from microsim.post.tables import (
    PART_LABELS,
    breakdown_table,
    flatten_summary,
    format_breakdown,
    load_summary,
)

__all__ = [
    "PART_LABELS",
    "breakdown_table",
    "flatten_summary",
    "format_breakdown",
    "load_summary",
    "read_xdmf_fields",
    "render_fields_png",
]

_LAZY = {"read_xdmf_fields", "render_fields_png"}


def __getattr__(name: str) -> Any:
    """Import the rendering functions (pyvista, meshio) only when they are asked for."""
    if name in _LAZY:
        from microsim.post import render

        return getattr(render, name)
    raise AttributeError(f"module 'microsim.post' has no attribute {name!r}")
