"""The sphere turning of the 3D Gmsh model: poles away from necks, cuts and walls (NumPy only, no Gmsh)."""

from __future__ import annotations

import math
import types

import numpy as np

from microsim.geometry.gmsh_model import pole_axes


def _desc(centers: list[list[float]], radii: list[float], width: float = 4.0, lc: float = 4.0) -> object:
    return types.SimpleNamespace(
        centers=np.array(centers), radii=np.array(radii), width_um=width, cathode_thickness_um=lc
    )


def test_a_stacked_pair_gets_horizontal_axes() -> None:
    # a sphere on the collector with a neighbour on top (a neck straight up): poles along z would sit in the
    # collector cut and in the neck, so the axis must be horizontal
    r = 0.5
    desc = _desc([[2.0, 2.0, 0.95 * r], [2.0, 2.0, 0.95 * r + 1.9 * r]], [r, r])
    axes = pole_axes(desc)
    assert np.allclose(np.linalg.norm(axes, axis=1), 1.0)
    assert np.all(np.abs(axes[:, 2]) < 0.1)


def test_poles_clear_every_neck_cap() -> None:
    # a sphere with six touching neighbours along ±x, ±y, ±z (necks of angular radius ~18°): the best axis
    # points between them (a cube diagonal is 54.7° from each), never into a neck
    r, d = 0.5, 0.95 * 1.0
    c = np.array([2.0, 2.0, 2.0])
    nbrs = [c + d * e for e in np.vstack([np.eye(3), -np.eye(3)])]
    desc = _desc([c.tolist(), *[n.tolist() for n in nbrs]], [r] * 7)
    axis = pole_axes(desc)[0]
    cap = math.degrees(math.acos((d * d + r * r - r * r) / (2 * d * r)))
    angles = np.degrees(np.arccos(np.abs(np.vstack([np.eye(3)]) @ axis)))
    assert np.all(angles > cap + 15.0), (angles, cap)


def test_a_lone_sphere_keeps_its_axis() -> None:
    axes = pole_axes(_desc([[2.0, 2.0, 2.0]], [0.5]))
    assert np.allclose(axes[0], [0.0, 0.0, 1.0])
