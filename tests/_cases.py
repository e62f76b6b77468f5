"""Small, fast cases shared by the solver tests."""

from __future__ import annotations

from typing import Any

from microsim import config


def small(**changes: Any) -> config.Config:
    """A small 2D cell (4 µm wide) that meshes and solves in about a second."""
    base = {
        "geometry.width_um": 4.0,
        "geometry.cathode_thickness_um": 4.0,
        "geometry.membrane_thickness_um": 3.0,
        "geometry.mesh_size_um": 0.25,
        "geometry.seed": 3,
        "output.png": False,
    }
    base.update(changes)
    return config.replace(config.default(), **base)
