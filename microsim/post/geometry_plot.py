"""Picture of a geometry from its ``geometry.json`` (PyVista off-screen; no DOLFINx, no Gmsh).

Drawn from the particle list, not from the mesh, so the picture is cheap and available for any geometry that
was described (``microsim mesh CONFIG --out DIR`` writes ``DIR/geometry.png``):

* 3D: the particles as spheres clipped at the collector ``z = 0``, the cathode box outline, the membrane as a
  translucent slab above ``z = L_c``, (point-contact, infiltrated) the contact spots as red disks on ``z = L_c``
  and (infiltrated) the wet layer ``z_w < z < L_c`` as a translucent slab in the membrane's colour;
* 2D: the same with disks in the ``x``–``y`` plane (``y`` through the thickness) and the spots as red
  segments;
* both: (filled, ``geometry.pore_fill_fraction < 1``) the gas voids in the pores, grey (3D: translucent), behind
  the particles (where they overlap, the particle wins).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from microsim.geometry.archetypes import DEFAULT_INTERFACE, get_archetype

__all__ = ["render_geometry_png"]

_PARTICLE_COLOR = "#6f8fb8"
_SPOT_COLOR = "#d62728"
_MEMBRANE_COLOR = "#f2c14e"
_VOID_COLOR = "#b0b0b0"


def _spots(centers: np.ndarray, radii: np.ndarray, lc: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres (lateral coordinates) and radii of the traces the particles cut on the plane ``z = L_c``."""
    dz = lc - centers[:, -1]
    cut = np.abs(dz) < radii
    return centers[cut, :-1], np.sqrt(np.maximum(radii[cut] ** 2 - dz[cut] ** 2, 0.0))


def _draw_voids(plotter: Any, pv: Any, rec: dict[str, Any], dim: int, w: float, lc: float) -> str:
    """Draw the gas voids of ``rec["voids"]`` (clipped to the cathode box); return the title note (or "")."""
    voids = rec.get("voids") or []
    if not voids:
        return ""
    names = ("x_um", "y_um") if dim == 2 else ("x_um", "y_um", "z_um")
    for v in voids:
        c, r = tuple(float(v[n]) for n in names), float(v["r_um"])
        if dim == 3:
            ball = pv.Sphere(radius=r, center=c, theta_resolution=24, phi_resolution=16)
            ball = ball.clip_box((0.0, w, 0.0, w, 0.0, lc), invert=False)
            plotter.add_mesh(ball, color=_VOID_COLOR, opacity=0.35, smooth_shading=True)
        else:
            disc = pv.Disc(center=(c[0], c[1], -5e-4), inner=0.0, outer=r, normal=(0, 0, 1), c_res=48)
            for normal, origin in (("x", (w, 0, 0)), ("-x", (0, 0, 0))):
                disc = disc.clip(normal=normal, origin=origin)
            plotter.add_mesh(disc, color=_VOID_COLOR)
    wet = rec.get("wet_pore_fraction")
    return f", {len(voids)} voids" + (f" (pores {wet:.0%} wet)" if isinstance(wet, (int, float)) else "")


def _read(path: Path) -> dict[str, Any]:
    rec = json.loads(Path(path).read_text(encoding="utf-8"))
    if "particles" not in rec and isinstance(rec.get("geometry"), dict):
        rec = rec["geometry"]  # tolerate a record that nests the geometry statistics
    return rec


def render_geometry_png(
    geometry_json_path: str | Path, png_path: str | Path, *, window_size: tuple[int, int] = (900, 900)
) -> Path:
    """Render the particles, the membrane and the contact spots of a geometry to a PNG.

    Args:
        geometry_json_path: A ``geometry.json`` written by ``microsim mesh`` or a study (keys ``dim``,
            ``width_um``, ``cathode_thickness_um``, ``membrane_thickness_um``, ``interface``, ``particles``).
        png_path: The picture to write.
        window_size: Pixel size of the picture.

    Returns:
        The path of the PNG written.

    Raises:
        KeyError: The record lacks a key listed above.
        GeometryError: Its ``interface`` is not a registered archetype.
    """
    import pyvista as pv  # local: only the picture needs it

    rec = _read(Path(geometry_json_path))
    dim = int(rec["dim"])
    w = float(rec["width_um"])
    lc = float(rec["cathode_thickness_um"])
    lm = float(rec.get("membrane_thickness_um") or 0.0)
    interface = str(rec.get("interface", DEFAULT_INTERFACE))
    # what to draw besides the particles: the archetype knows (slab, spots, wet layer)
    picture = get_archetype(interface).picture(float(rec.get("infiltration_depth_um") or 0.0))
    spotted, depth = picture.spots, picture.wet_depth_um
    names = ("x_um", "y_um") if dim == 2 else ("x_um", "y_um", "z_um")
    parts = rec.get("particles") or []
    centers = np.array([[p[n] for n in names] for p in parts], dtype=float).reshape(-1, dim)
    radii = np.array([p["r_um"] for p in parts], dtype=float)

    pv.OFF_SCREEN = True
    # Any: pyvista's decorated methods carry types mypy misreads (they take the plotter as an argument)
    plotter: Any = pv.Plotter(off_screen=True, window_size=list(window_size))
    plotter.set_background("white")
    if picture.slab:
        lateral = (0.0, w, 0.0, w) if dim == 3 else (0.0, w, -0.005 * w, 0.005 * w)
        slab = pv.Box(bounds=(*lateral, 0.0, lc)) if dim == 3 else pv.Box(bounds=(0.0, w, 0.0, lc, 0.0, 0.0))
        plotter.add_mesh(slab, color=_PARTICLE_COLOR)
    if dim == 3:
        if len(radii):
            spheres = pv.merge(
                [
                    pv.Sphere(radius=float(r), center=tuple(c), theta_resolution=24, phi_resolution=16)
                    for c, r in zip(centers, radii, strict=True)
                ]
            ).clip(normal="-z", origin=(0.0, 0.0, 0.0))
            if spotted:
                spheres = spheres.clip(normal="z", origin=(0.0, 0.0, lc))
            plotter.add_mesh(spheres, color=_PARTICLE_COLOR, smooth_shading=True)
        plotter.add_mesh(pv.Box(bounds=(0.0, w, 0.0, w, 0.0, lc)).outline(), color="black", line_width=2)
        if lm > 0.0:
            plotter.add_mesh(pv.Box(bounds=(0.0, w, 0.0, w, lc, lc + lm)), color=_MEMBRANE_COLOR, opacity=0.15)
        if depth > 0.0:
            plotter.add_mesh(pv.Box(bounds=(0.0, w, 0.0, w, lc - depth, lc)), color=_MEMBRANE_COLOR, opacity=0.3)
        if spotted and len(radii):
            xy, a = _spots(centers, radii, lc)
            for (x, y), ra in zip(xy, a, strict=True):
                disc = pv.Disc(center=(x, y, lc + 1e-3 * w), inner=0.0, outer=float(ra), normal=(0, 0, 1), c_res=32)
                plotter.add_mesh(disc, color=_SPOT_COLOR, lighting=False)
        plotter.camera_position = "iso"
        plotter.camera.azimuth = 20.0
    else:
        for (x, y), r in zip(centers, radii, strict=True):
            disc = pv.Disc(center=(x, y, 0.0), inner=0.0, outer=float(r), normal=(0, 0, 1), c_res=48)
            if spotted:
                disc = disc.clip(normal="y", origin=(0.0, lc, 0.0))
            disc = disc.clip(normal="-y", origin=(0.0, 0.0, 0.0))
            plotter.add_mesh(disc, color=_PARTICLE_COLOR)
        plotter.add_mesh(pv.Box(bounds=(0.0, w, 0.0, lc, 0.0, 0.0)).outline(), color="black", line_width=2)
        if lm > 0.0:
            plotter.add_mesh(pv.Box(bounds=(0.0, w, lc, lc + lm, -1e-3, -1e-3)), color=_MEMBRANE_COLOR, opacity=0.35)
        if depth > 0.0:
            wet = pv.Box(bounds=(0.0, w, lc - depth, lc, -1e-3, -1e-3))
            plotter.add_mesh(wet, color=_MEMBRANE_COLOR, opacity=0.35)
        if spotted and len(radii):
            xs, a = _spots(centers, radii, lc)
            for x, ra in zip(xs[:, 0], a, strict=True):
                seg = pv.Line((x - ra, lc, 1e-3), (x + ra, lc, 1e-3))
                plotter.add_mesh(seg, color=_SPOT_COLOR, line_width=6)
        plotter.view_xy()
    void_note = _draw_voids(plotter, pv, rec, dim, w, lc)
    title = f"{dim}D {interface}: {len(radii)} particles{picture.title_note}{void_note}"
    fraction = rec.get("active_fraction")
    if isinstance(fraction, (int, float)) and math.isfinite(fraction):
        title += f", active fraction {fraction:.3f}"
    plotter.add_text(title, font_size=10, color="black")
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(str(png_path))
    plotter.close()
    return png_path
