"""Does the mesh resolve the thin layers of the physics? Estimates before the solve, checks after it.

A P1 field represents a layer that spans a few elements; a layer thinner than one element is smeared over it and
the answer moves with the mesh (docs/solver.md, "Resolving thin layers"). Three layers matter here:

* **diffusion layers** (solid lithiation, salt): over a time ``t`` a diffusion front goes ``δ = √(D t)`` deep; at a
  frequency ``f`` it is ``√(D / 2πf)``. Resolved when it spans :data:`LAYER_ELEMENTS` elements of the size at the
  interface it grows from, or when it is deeper than the particle it fills;
* **contact spots**: the Holm constriction of an equipotential 3D spot on the library's spot mesh converges from
  below at first order in ``geometry.spot_mesh_level`` (``scripts/holm_convergence.py``: 8 % low at level 1,
  4 % at 1/2, 2 % at 1/4). Charge transfer on the spot (Wagner number ``Wa = κ R_ct / a``) adds a resistance in
  series that the mesh resolves exactly and that makes the current uniform, so ``0.08 s / (1 + 4 Wa / π)`` bounds
  the relative error of the spot's series resistance;
* **after the solve**, the largest change of a scaled field across one element (``c / c0`` in the electrolyte,
  ``θ`` in the particles): more than 1/:data:`LAYER_ELEMENTS` means some layer spans fewer than that many
  elements, whatever the estimates said.

Every check returns a JSON-ready block with ``resolved`` and, when false, a ``note`` naming the knob.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from mpi4py import MPI

from microsim.constants import FARADAY, GAS_CONSTANT

__all__ = [
    "HOLM_DEFICIT_PER_LEVEL",
    "LAYER_ELEMENTS",
    "SPOT_ERROR_MAX",
    "all_resolved",
    "contact_spots",
    "diffusion_layer",
    "element_change",
    "frequency_layer",
]

#: Elements a layer must span to count as resolved.
LAYER_ELEMENTS = 3.0
#: Holm study, 3D equipotential spot: the constriction's relative deficit per unit of ``spot_mesh_level``.
HOLM_DEFICIT_PER_LEVEL = 0.08
#: Largest bound on a spot's series-resistance error that passes without a note.
SPOT_ERROR_MAX = 0.05


def diffusion_layer(
    what: str, diffusivity_m2_s: float, time_s: float, mesh_um: float, knob: str, depth_um: float | None = None
) -> dict[str, Any]:
    """The diffusion layer ``√(D t)`` against the element size it grows from.

    Args:
        what: the layer's name in the note (``solid-diffusion``, ``salt-diffusion``).
        diffusivity_m2_s: D [m²/s].
        time_s: t [s] (> 0).
        mesh_um: element size where the layer starts [µm].
        knob: the configuration key that sets ``mesh_um``.
        depth_um: the depth beyond which the layer fills its domain (a particle's radius); None: unbounded.

    Returns:
        ``layer_um``, ``mesh_um``, ``elements_across_layer``, ``resolved`` and, if not, ``note``.
    """
    layer_um = math.sqrt(diffusivity_m2_s * time_s) * 1e6
    across = layer_um / mesh_um
    out: dict[str, Any] = {"layer_um": layer_um, "mesh_um": mesh_um, "elements_across_layer": across}
    out["resolved"] = bool(across >= LAYER_ELEMENTS or (depth_um is not None and layer_um >= depth_um))
    if not out["resolved"]:
        out["note"] = (
            f"the {what} layer sqrt(D t) = {layer_um:.3g} µm spans {across:.2g} elements ({knob} = {mesh_um:g}): "
            f"the result is not converged in the mesh (docs/solver.md); set {knob} <= "
            f"{layer_um / LAYER_ELEMENTS:.2g} to resolve it"
        )
    return out


def frequency_layer(what: str, diffusivity_m2_s: float, mesh_um: float, f_max_Hz: float) -> dict[str, Any]:
    """The highest frequency whose diffusion layer ``√(D / 2πf)`` still spans :data:`LAYER_ELEMENTS` elements.

    Above it the spectrum's ``what`` response is not mesh-converged (it is small there when the process is slow).

    Args:
        what: the process (``solid diffusion``, ``salt diffusion``).
        diffusivity_m2_s: D [m²/s].
        mesh_um: element size where the layer starts [µm].
        f_max_Hz: the highest frequency of the sweep [Hz].

    Returns:
        ``resolved_up_to_Hz``, ``mesh_um``, ``resolved`` (the whole sweep) and, if not, ``note``.
    """
    f_res = diffusivity_m2_s / (2.0 * math.pi * (LAYER_ELEMENTS * mesh_um * 1e-6) ** 2)
    out: dict[str, Any] = {"resolved_up_to_Hz": f_res, "mesh_um": mesh_um, "resolved": bool(f_res >= f_max_Hz)}
    if not out["resolved"]:
        out["note"] = (
            f"above {f_res:.3g} Hz the {what} layer sqrt(D/2 pi f) spans fewer than {LAYER_ELEMENTS:g} elements "
            f"of {mesh_um:g} µm: that part of the spectrum's {what} response is not mesh-converged"
        )
    return out


def contact_spots(
    info: Mapping[str, Any],
    dim: int,
    spot_mesh_level: float,
    conductivity_S_m: float,
    exchange_current_A_m2: float,
    temperature_K: float,
) -> dict[str, Any] | None:
    """The smallest contact spot against its mesh (None: no spots).

    Args:
        info: the mesh's information (``chord_lengths_um``: 2D chord lengths, 3D spot areas;
            ``chord_mesh_size_um``: the element size on the smallest spot's edge).
        dim: 2 or 3.
        spot_mesh_level: ``geometry.spot_mesh_level`` (3D).
        conductivity_S_m: κ of the electrolyte at the spot.
        exchange_current_A_m2: i0 of the cathode kinetics.
        temperature_K: T.

    Returns:
        ``spot_radius_um`` (2D: half the chord), ``edge_mesh_um``, ``elements_across_spot``, ``wagner_number``,
        ``resolved`` and, in 3D, ``series_resistance_error_bound`` (module docstring) and, if above
        :data:`SPOT_ERROR_MAX`, ``note``.
    """
    sizes = list(info.get("chord_lengths_um") or [])
    h = info.get("chord_mesh_size_um")
    if not sizes or not h:
        return None
    a_um = 0.5 * min(sizes) if dim == 2 else math.sqrt(min(sizes) / math.pi)
    r_ct = GAS_CONSTANT * temperature_K / (FARADAY * exchange_current_A_m2)  # linear charge-transfer resistance [Ω m²]
    wagner = conductivity_S_m * r_ct / (a_um * 1e-6)
    out: dict[str, Any] = {
        "spot_radius_um": a_um,
        "edge_mesh_um": float(h),
        "elements_across_spot": 2.0 * a_um / float(h),
        "wagner_number": wagner,
        "resolved": True,
    }
    if dim == 3:
        bound = HOLM_DEFICIT_PER_LEVEL * spot_mesh_level / (1.0 + 4.0 * wagner / math.pi)
        out["series_resistance_error_bound"] = bound
        if bound > SPOT_ERROR_MAX:
            level = 0.02 * (1.0 + 4.0 * wagner / math.pi) / HOLM_DEFICIT_PER_LEVEL
            out["resolved"] = False
            out["note"] = (
                f"the contact spots (radius {a_um:.3g} µm, Wagner number {wagner:.2g}) are meshed at "
                f"geometry.spot_mesh_level = {spot_mesh_level:g}: their resistance may be up to "
                f"{100 * bound:.0f} % low (scripts/holm_convergence.py); set geometry.spot_mesh_level <= "
                f"{min(level, 1.0):.2g} for 2 %"
            )
    return out


def element_change(u: Any, scale: float, what: str, knob: str) -> dict[str, Any]:
    """The largest change of a P1 field across one cell, over ``scale`` (collective).

    For P1 the change across a cell is the spread of its vertex values. More than 1/:data:`LAYER_ELEMENTS` of
    ``scale`` means a layer of the field spans fewer than :data:`LAYER_ELEMENTS` elements there.

    Args:
        u: a scalar P1 ``dolfinx.fem.Function``.
        scale: the field's scale (1 for ``c / c0`` and θ).
        what: the field's name in the note.
        knob: the configuration key that refines where the field lives.

    Returns:
        ``max_change_per_element`` (over ``scale``), ``position_um`` (the centre of that cell), ``resolved`` and,
        if not, ``note``.
    """
    V = u.function_space
    comm: MPI.Comm = V.mesh.comm
    tdim = V.mesh.topology.dim
    n_cells = V.mesh.topology.index_map(tdim).size_local
    dofs = np.asarray(V.dofmap.list)[:n_cells]
    vals = u.x.array[dofs] if n_cells else np.zeros((0, 1))
    spread = (vals.max(axis=1) - vals.min(axis=1)) / scale if n_cells else np.zeros(0)
    k = int(np.argmax(spread)) if spread.size else -1
    local = (float(spread[k]) if k >= 0 else -1.0, comm.rank)
    worst, owner = comm.allreduce(local, op=MPI.MAXLOC)
    mine = None
    if comm.rank == owner and k >= 0:
        mine = [float(x) for x in V.tabulate_dof_coordinates()[dofs[k]].mean(axis=0)[: V.mesh.geometry.dim]]
    pos = comm.bcast(mine, root=owner)
    worst = max(worst, 0.0)
    out: dict[str, Any] = {"max_change_per_element": worst, "position_um": pos, "resolved": True}
    if worst > 1.0 / LAYER_ELEMENTS:
        where = ", ".join(f"{x:.3g}" for x in pos or [])
        out["resolved"] = False
        out["note"] = (
            f"{what} changes by {worst:.2g} of its scale across one element at ({where}) µm: a layer there "
            f"spans fewer than {LAYER_ELEMENTS:g} elements and the result may not be converged in the mesh; "
            f"refine {knob} and compare"
        )
    return out


def all_resolved(block: Mapping[str, Any]) -> bool:
    """Whether every check of a ``resolution`` block (its dict entries with ``resolved``) passed."""
    return all(bool(v.get("resolved", True)) for v in block.values() if isinstance(v, Mapping))
