"""Pictures of written fields: read ``fields/*.xdmf`` with meshio, render off-screen with pyvista.

No DOLFINx here: this works on a laptop from the files of a cluster run. ``pyvista.read`` of XDMF crashed
with the PyPI VTK (docs/solver.md, DOLFINx notes), so the files are read by meshio (which needs h5py) and handed to
pyvista as an ``UnstructuredGrid``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from microsim.post import units

if TYPE_CHECKING:  # pragma: no cover - typing only
    import meshio
    import pyvista

__all__ = [
    "PANELS",
    "Cut",
    "Panel",
    "Shown",
    "hotspot",
    "plan_cut",
    "read_xdmf_fields",
    "render_fields_png",
    "shown_scalars",
]


@dataclass(frozen=True)
class Panel:
    """One picture panel: which array of which field file, and how to label it.

    Attributes:
        group: file stem in ``fields/`` (``electrolyte`` -> ``fields/electrolyte.xdmf``).
        pattern: regular expression matched against the array names (first match is shown).
        title: panel title.
        label: scalar-bar title, with units.
        cmap: colour map.
    """

    group: str
    pattern: str
    title: str
    label: str
    cmap: str = "viridis"


#: The standard panels, in display order (names as the solver writes them: unit-tagged, e.g. ``phi_e_V``).
PANELS: tuple[Panel, ...] = (
    Panel("electrolyte", r"^phi_e", "electrolyte potential", "phi_e [V]", "coolwarm"),
    Panel("electrolyte", r"^c(_mol_m3)?$|^c_e|^c_salt", "salt concentration", "c [mol/m^3]", "viridis"),
    Panel("particles", r"^phi_s", "particle potential", "phi_s [V]", "coolwarm"),
    Panel("particles", r"^theta|^x_Li|^lithiation", "particle lithiation", "theta = c_s/c_s,max [-]", "magma"),
    Panel("particles", r"^c_s", "particle Li concentration", "c_s [mol/m^3]", "magma"),
)


#: A field whose range is below this fraction of its magnitude is drawn as its deviation from its mean.
SMALL_VARIATION = 1e-3
#: ... and below this one (round-off) as uniform: one colour, its value in the bar title.
UNIFORM = 1e-12


@dataclass(frozen=True)
class Shown:
    """What a panel draws: the values, the colour range, the bar title and its number format."""

    values: np.ndarray
    clim: tuple[float, float]
    title: str
    fmt: str
    n_labels: int = 2


def shown_scalars(values: np.ndarray, label: str) -> Shown:
    """The scale a reader can read: a near-uniform field as its deviation from the mean, a uniform one as one value.

    A 1100 mol/m³ salt field that varies by 0.3 mol/m³ gave a bar "1100 – 1100"; a uniform lithiation gave a black
    panel. Here the first becomes ``c − 1100 [mol/m^3]`` from −0.15 to 0.15, the second a mid-scale colour with
    "uniform 0.5" in its title.
    """
    v = np.asarray(values, dtype=float).reshape(-1)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return Shown(v, (0.0, 1.0), f"{label} (no finite value)", "%.4g")
    lo, hi = float(finite.min()), float(finite.max())
    mean = float(finite.mean())
    magnitude = max(abs(lo), abs(hi))
    span = hi - lo
    if span <= UNIFORM * max(magnitude, 1e-300):
        half = max(magnitude * 1e-3, 1e-12)
        return Shown(v, (mean - half, mean + half), f"{label}: uniform {mean:.6g}", "%.6g", n_labels=0)
    if span < SMALL_VARIATION * magnitude:
        # enough digits in the reference that the deviations are not swamped by its rounding
        digits = min(17, math.ceil(math.log10(magnitude / span)) + 2)
        text = f"{mean:.{digits}g}"
        ref = float(text)
        name, _, unit = label.partition(" [")
        delta = f"{name} - {text}" + (f" [{unit}" if unit else "")
        return Shown(v - ref, (lo - ref, hi - ref), delta, "%.3g")
    return Shown(v, (lo, hi), label, "%.4g")


def _meshio_to_pyvista(
    points: np.ndarray, cells: Sequence[meshio.CellBlock], point_data: dict[str, np.ndarray]
) -> pyvista.UnstructuredGrid:
    """Build a pyvista grid from meshio points/cells, padding 2D points to 3D (VTK needs xyz)."""
    import meshio
    import pyvista

    points = np.asarray(points, dtype=float)
    if points.ndim == 2 and points.shape[1] < 3:
        points = np.hstack([points, np.zeros((points.shape[0], 3 - points.shape[1]))])
    mesh = meshio.Mesh(points, cells, point_data=point_data)
    grid = pyvista.from_meshio(mesh)
    return grid


def read_xdmf_fields(path: str | os.PathLike[str]) -> pyvista.UnstructuredGrid:
    """Read an XDMF file (DOLFINx ``XDMFFile`` or meshio layout) into a ``pyvista.UnstructuredGrid``.

    DOLFINx writes one mesh grid and one temporal collection per function; meshio's plain reader accepts
    a single grid only, so those files go through ``meshio.xdmf.TimeSeriesReader`` and each collection's
    last step is read. Point data of all functions end up on the one grid, under the function names.

    Args:
        path: the ``.xdmf`` file (its ``.h5`` beside it).

    Returns:
        A ``pyvista.UnstructuredGrid`` with 3D points (z = 0 for 2D meshes) and the point arrays.
    """
    import xml.etree.ElementTree as ET

    import meshio

    path = Path(path)
    root = ET.parse(path).getroot()
    domain = root.find("Domain")
    grids = [] if domain is None else domain.findall("Grid")
    collections = [g for g in grids if g.get("GridType") == "Collection"]
    if not collections:
        mesh = meshio.read(path)
        return _meshio_to_pyvista(mesh.points, mesh.cells, dict(mesh.point_data))

    point_data: dict[str, np.ndarray] = {}
    with meshio.xdmf.TimeSeriesReader(path) as reader:
        points, cells = reader.read_points_cells()
        for collection in collections:
            # TimeSeriesReader reads its `collection` attribute: point it at each function in turn.
            reader.collection = list(collection)
            reader.num_steps = len(reader.collection)
            if reader.num_steps == 0:
                continue
            _, step_point_data, _ = reader.read_data(reader.num_steps - 1)
            point_data.update(step_point_data)
    return _meshio_to_pyvista(points, cells, point_data)


def _is_planar(grid: pyvista.DataSet) -> bool:
    """True for a 2D mesh (all z equal): viewed from +z in the xy plane."""
    z = np.asarray(grid.points)[:, 2]
    extent = float(np.ptp(np.asarray(grid.points), axis=0).max()) if grid.n_points else 0.0
    return bool(z.size == 0 or np.ptp(z) <= 1e-12 * max(extent, 1e-300))


def hotspot(grid: pyvista.DataSet, name: str) -> np.ndarray | None:
    """The point where ``|∇ name|`` is largest (where the current crowds: a contact spot), or None if flat.

    Args:
        grid: a grid with point array ``name`` (scalar).
        name: the array, e.g. ``phi_e_V``.
    """
    found = _gradient_peak(grid, name)
    return None if found is None else found[0]


def _gradient_peak(grid: pyvista.DataSet, name: str) -> tuple[np.ndarray, float] | None:
    """The point of largest ``|∇ name|`` and the distance from it to where the gradient falls below a quarter."""
    data = np.asarray(grid.point_data[name], dtype=float)
    if data.ndim != 1 or grid.n_points < 2 or not np.all(np.isfinite(data)):
        return None
    derived = grid.compute_derivative(scalars=name, gradient="_gradient")
    magnitude = np.linalg.norm(np.asarray(derived.point_data["_gradient"]), axis=1)
    if not np.all(np.isfinite(magnitude)) or magnitude.max() <= 0.0:
        return None
    k = int(np.argmax(magnitude))
    points = np.asarray(grid.points, dtype=float)
    weak = points[magnitude < 0.25 * magnitude[k]]
    if weak.size == 0:
        return None  # a uniform gradient: no spot
    return points[k], float(np.linalg.norm(weak - points[k], axis=1).min())


@dataclass(frozen=True)
class Cut:
    """How 3D grids are opened up: the half ``y > origin_y`` is removed, so the camera sees inside.

    Attributes:
        origin: a point of the cutting plane (normal +y), the hotspot of the electrolyte potential by default.
        close_up: half-width of the close-up box around ``origin`` (coordinate units), or None for no close-up.
    """

    origin: tuple[float, float, float]
    close_up: float | None


#: The close-up box's half-width: three times the distance from the gradient's peak to where it falls below a
#: quarter of the peak (the spot's size), within these fractions of the fields' largest extent.
CLOSE_UP_FRACTIONS = (0.04, 0.2)


def plan_cut(grids: dict[str, pyvista.UnstructuredGrid]) -> Cut | None:
    """The cut through the electrolyte potential's hotspot (the centre when it is flat); None without grids."""
    if not grids:
        return None
    lows = np.min([np.asarray(g.points).min(axis=0) for g in grids.values() if g.n_points], axis=0)
    highs = np.max([np.asarray(g.points).max(axis=0) for g in grids.values() if g.n_points], axis=0)
    centre = 0.5 * (lows + highs)
    electrolyte = grids.get("electrolyte")
    names = [] if electrolyte is None else [n for n in electrolyte.point_data.keys() if re.search(r"^phi_e", n)]
    peak = None if electrolyte is None or not names else _gradient_peak(electrolyte, names[0])
    if peak is not None:
        spot, radius = peak
        extent = float((highs - lows).max())
        half = float(np.clip(3.0 * radius, CLOSE_UP_FRACTIONS[0] * extent, CLOSE_UP_FRACTIONS[1] * extent))
        return Cut((float(spot[0]), float(spot[1]), float(spot[2])), half)
    return Cut((float(centre[0]), float(centre[1]), float(centre[2])), None)


def _opened(grid: pyvista.UnstructuredGrid, cut: Cut | None) -> pyvista.DataSet:
    """A 3D grid with the half beyond the cutting plane removed (2D grids and no cut: unchanged)."""
    if cut is None or _is_planar(grid):
        return grid
    opened = grid.clip(normal="y", origin=cut.origin, invert=True)
    return opened if opened.n_points else grid


def _boxed(grid: pyvista.DataSet, cut: Cut) -> pyvista.DataSet:
    """The part of a grid inside the close-up box (for 3D, of the opened grid)."""
    assert cut.close_up is not None
    o, h = np.asarray(cut.origin), cut.close_up
    planar = _is_planar(grid)
    zlo, zhi = (o[2] - 1.0, o[2] + 1.0) if planar else (o[2] - h, o[2] + h)
    bounds = [o[0] - h, o[0] + h, o[1] - h, o[1] + (h if planar else 0.0), zlo, zhi]
    return grid.clip_box(bounds, invert=False)


def _plan_panels(
    grids: dict[str, pyvista.UnstructuredGrid],
) -> list[tuple[Panel, pyvista.UnstructuredGrid, str]]:
    """Panels to draw: the standard ones that exist, then any other arrays (label from its name)."""
    planned: list[tuple[Panel, pyvista.UnstructuredGrid, str]] = []
    used: set[tuple[str, str]] = set()
    for panel in PANELS:
        grid = grids.get(panel.group)
        if grid is None:
            continue
        for name in grid.point_data.keys():
            if re.search(panel.pattern, name) and (panel.group, name) not in used:
                planned.append((panel, grid, name))
                used.add((panel.group, name))
                break
    # Whatever else was written still gets a panel, so new fields show up without touching this table.
    for group, grid in grids.items():
        for name in grid.point_data.keys():
            if (group, name) in used:
                continue
            data = np.asarray(grid.point_data[name])
            if data.ndim > 1 and data.shape[1] > 1:
                title = f"{group}: |{name}|"
            else:
                title = f"{group}: {name}"
            planned.append((Panel(group, re.escape(name), title, units.label(name)), grid, name))
            used.add((group, name))
    return planned


def _close_up_panel(
    grids: dict[str, pyvista.UnstructuredGrid], cut: Cut | None
) -> tuple[Panel, pyvista.DataSet, str, list[pyvista.DataSet]] | None:
    """The electrolyte potential in a box around its hotspot, particles in grey beside it; None if flat."""
    if cut is None or cut.close_up is None or "electrolyte" not in grids:
        return None
    electrolyte = grids["electrolyte"]
    name = next(n for n in electrolyte.point_data.keys() if re.search(r"^phi_e", n))
    boxed = _boxed(_opened(electrolyte, cut), cut)
    if boxed.n_points == 0:
        return None
    context = []
    for group, grid in grids.items():
        if group != "electrolyte":
            part = _boxed(_opened(grid, cut), cut)
            if part.n_points:
                context.append(part)
                break  # one solid group is enough for the outline (particles or the whole solid)
    panel = Panel("electrolyte", re.escape(name), "close-up at the largest gradient of phi_e", "phi_e [V]", "coolwarm")
    return panel, boxed, name, context


def _draw_panel(
    plotter: pyvista.Plotter,
    grid: pyvista.DataSet,
    name: str,
    panel: Panel,
    title: str,
    k: int,
    three_d: bool,
    zoom: float = 0.8,
    face_on: bool = False,
) -> None:
    """One panel: the array ``name`` of ``grid`` on a readable scale, its title and scalar bar, the camera."""
    data = np.asarray(grid.point_data[name])
    mesh = grid.copy(deep=False)
    if data.ndim > 1 and data.shape[1] > 1:
        scalars = np.linalg.norm(data, axis=1)  # vectors: show the magnitude
    else:
        scalars = data.reshape(-1)
    shown = shown_scalars(scalars, panel.label)
    mesh.point_data["_shown"] = shown.values
    plotter.add_text(title, position="upper_edge", font_size=11, color="black")
    bar_title = f"{shown.title} " + " " * k
    plotter.add_mesh(
        mesh,
        scalars="_shown",
        clim=list(shown.clim),
        cmap=panel.cmap,  # type: ignore[arg-type]  # any registered colour map name, not only pyvista's Literal
        show_edges=False,
        # Titles must differ between panels, or pyvista shares one bar (and one range) among them.
        scalar_bar_args={
            "title": bar_title,
            "color": "black",
            "vertical": False,
            "position_x": 0.2,
            "position_y": 0.02,
            "height": 0.12,
            "width": 0.6,
            # min and max only: VTK centres the title over the labels, a middle label would collide
            "n_labels": shown.n_labels,
            "fmt": shown.fmt,
            "title_font_size": 16,
            "label_font_size": 14,
        },
    )
    if three_d and face_on:
        plotter.view_vector((0.0, 1.0, 0.0), viewup=(0.0, 0.0, 1.0))  # type: ignore[arg-type]
    elif three_d:
        plotter.view_isometric()  # type: ignore[call-arg]
    else:
        plotter.view_xy()  # type: ignore[call-arg]
    plotter.reset_camera()  # type: ignore[call-arg]
    plotter.camera.zoom(zoom)  # leave room for the title above and the scalar bar below


def render_fields_png(
    fields_dir: str | os.PathLike[str],
    png_path: str | os.PathLike[str],
    title: str = "",
    window_size: tuple[int, int] | None = None,
) -> Path:
    """Render the fields of a run into one PNG, off-screen.

    Panels (those whose data exist): electrolyte potential, salt concentration (on the electrolyte mesh),
    particle potential, particle lithiation (on the particle mesh), then any other written array. 2D
    meshes are viewed in the xy plane, 3D meshes isometrically; each panel has a scalar bar with units.

    Args:
        fields_dir: a run's ``fields/`` folder (``<group>.xdmf`` + ``.h5``).
        png_path: the PNG to write (parent folders are created).
        title: optional figure title (a row above the panels).
        window_size: image size in pixels; default 700 x 560 per panel.

    Returns:
        The PNG path.

    Raises:
        FileNotFoundError: if ``fields_dir`` has no ``.xdmf`` file or no point data to show.
    """
    import pyvista

    fields_dir = Path(fields_dir)
    png_path = Path(png_path)
    if not any(fields_dir.glob("*.xdmf")):
        raise FileNotFoundError(f"no .xdmf files in {fields_dir}")
    grids = {xdmf.stem: read_xdmf_fields(xdmf) for xdmf in sorted(fields_dir.glob("*.xdmf"))}
    planned = _plan_panels(grids)
    if not planned:
        raise FileNotFoundError(f"no point data to render in {fields_dir}")
    cut = plan_cut(grids)
    three_d = not all(_is_planar(g) for g in grids.values())
    close_up = _close_up_panel(grids, cut)

    pyvista.OFF_SCREEN = True
    n = len(planned) + (close_up is not None)
    ncols = min(n, 2)
    nrows = math.ceil(n / ncols)
    size = window_size or (700 * ncols, 560 * nrows + (80 if title else 0))
    png_path.parent.mkdir(parents=True, exist_ok=True)

    def _draw() -> None:
        if title:
            # One title row over all columns, a fraction of a panel's height.
            plotter = pyvista.Plotter(
                off_screen=True,
                shape=(nrows + 1, ncols),
                # pyvista's annotations want int weights and int groups; it takes (and documents) these.
                row_weights=[0.15] + [1.0] * nrows,  # type: ignore[arg-type]
                groups=[(0, np.s_[:])],  # type: ignore[list-item]
                window_size=list(size),
                border=False,
            )
            plotter.subplot(0, 0)
            plotter.add_text(title, position="upper_edge", font_size=14, color="black")
            offset = 1
        else:
            plotter = pyvista.Plotter(off_screen=True, shape=(nrows, ncols), window_size=list(size), border=False)
            offset = 0
        # pyvista's method decorators lose `self` in their annotations (here and for the view calls below).
        plotter.set_background("white")  # type: ignore[arg-type]
        for k, (panel, grid, name) in enumerate(planned):
            plotter.subplot(offset + k // ncols, k % ncols)
            title_k = panel.title
            if three_d and cut is not None:
                title_k += f" (cut at y = {cut.origin[1]:.3g} µm)"
            _draw_panel(plotter, _opened(grid, cut) if three_d else grid, name, panel, title_k, k, three_d)
        if close_up is not None:
            k = len(planned)
            plotter.subplot(offset + k // ncols, k % ncols)
            panel, boxed, name, context = close_up
            for solid in context:
                plotter.add_mesh(solid, color="lightgrey", show_edges=False)
            # straight at the cut face: the section through the spot, electrolyte above the grey solid
            _draw_panel(plotter, boxed, name, panel, panel.title, k, three_d, zoom=0.8, face_on=True)
        plotter.screenshot(str(png_path))
        plotter.close()

    # VTK first tries X11 and, without a display, falls back to EGL and logs a warning: silence it.
    with pyvista.vtk_verbosity("off"):
        try:
            _draw()
        except Exception:  # no usable off-screen context: try a virtual X server once, if there is one
            if os.environ.get("DISPLAY"):
                raise
            pyvista.start_xvfb()
            _draw()
    return png_path
