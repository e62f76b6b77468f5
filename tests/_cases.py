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


def spheres_3d(csv: Any, interface: str, **changes: Any) -> dict[str, Any]:
    """``[geometry]`` of a few spheres from the particle file ``csv`` in a 3 x 3 µm cell (3D cases in seconds).

    The cathode is 1 µm thick (``changes`` may move it, e.g. 1.1 µm for a filled cell), the membrane 1.5 µm.
    """
    geometry = {
        "kind": "particles-file",
        "dim": 3,
        "interface": interface,
        "width_um": 3.0,
        "cathode_thickness_um": 1.0,
        "membrane_thickness_um": 1.5,
        "particles_file": str(csv),
        "radius_mean_um": 0.45,
        "contact_radius_um": 0.15,
        "overlap_fraction": 0.005,
        "mesh_size_um": 0.5,
        "interface_mesh_size_um": 0.12,
    }
    geometry.update(changes)
    return geometry


#: The small 2D cell of :func:`small` as a case file (``{interface}`` to fill in), for runs of the command line.
SMALL_TOML = """
[geometry]
width_um = 4.0
cathode_thickness_um = 4.0
membrane_thickness_um = 3.0
mesh_size_um = 0.25
seed = 3
interface = "{interface}"
[output]
png = false
"""
