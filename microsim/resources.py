"""What a run will need, estimated before meshing: cells, unknowns and peak memory per rank, and the guard.

A 3D paper-size rate study needs about 10 GB per rank on two ranks; started on a laptop it meshes for a minute,
then dies with the kernel's out-of-memory kill and no message. Here the geometry description (NumPy only, known
before Gmsh runs) gives the cell count through the size-field model below, and the study's memory per cell,
measured in ``benchmarks/results/*.json``, gives the peak per rank. ``microsim check`` prints the estimate; a
run refuses to start when it would not fit in the memory this node has (``--force`` runs anyway).

Cell count. Gmsh grades the size from ``h_Γ`` on the fine surfaces (Γ both sides in a filled cell, the
collector) to ``h`` at slope 1/2, so a fine surface of measure S adds ``S·I_d`` elements-per-``κ_d`` to the
bulk's ``V/h^d``, with ``I_d = ∫_0^{2(h−h_Γ)} [(h_Γ + r/2)^−d − h^−d] dr``. The constants ``κ_d`` (elements
per ``h^d``), ``λ_d`` (how much of the layer integral the packing leaves room for) and the cells per contact
spot were fitted to meshes of the default cells (docs/solver.md, "Estimating a run's size": within 12 % there,
+15 % and +64 % on the two paper-size cells), which is what a guard needs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from microsim.geometry import GeometryDescription

__all__ = ["FORCE_ENV", "MEMORY_MB_PER_KCELL", "Estimate", "available_memory_mb", "estimate", "forced", "refusal"]

#: Set to 1 (``microsim ... --force`` does) to run what the memory guard would refuse.
FORCE_ENV = "MICROSIM_FORCE"


def forced() -> bool:
    """Whether the memory guard is overridden (``--force``, or ``MICROSIM_FORCE=1`` in a job script)."""
    return os.environ.get(FORCE_ENV, "").strip().lower() in {"1", "true", "yes"}


#: Elements per ``h^d`` of bulk volume, per dimension (fitted; a regular simplex packing gives 2.3 and 8.5).
KAPPA = {2: 2.43, 3: 25.9}
#: Share of the graded layer around the fine surfaces that is meshed (fitted: neighbouring layers overlap).
LAMBDA = {2: 1.76, 3: 0.263}
#: Cells added per contact spot at ``spot_mesh_level = 1`` (3D; fitted) and per chord in 2D.
CELLS_PER_SPOT = {2: 416.0, 3: 5800.0}
#: Peak resident memory per 1000 cells of a rank's part, by study and dimension [MB]: the largest ratio
#: ``(peak − base) / (cells / ranks)`` in benchmarks/results (resistance: resistance_3d, paper_scale_3d;
#: transient: paper_scale_rate; impedance: impedance_2d), rounded up.
MEMORY_MB_PER_KCELL: dict[tuple[str, int], float] = {
    ("resistance", 2): 2.0,
    ("resistance", 3): 7.0,
    ("effective", 2): 2.0,
    ("effective", 3): 7.0,
    ("impedance", 2): 10.0,
    ("impedance", 3): 35.0,
    ("discharge", 2): 3.0,
    ("discharge", 3): 31.0,
    ("rate", 2): 3.0,
    ("rate", 3): 31.0,
}
#: What every rank holds before the mesh (Python, NumPy, PETSc, DOLFINx, the JIT) [MB].
BASE_MB = 250.0
#: Rank 0 also holds Gmsh's copy of the whole mesh while it is distributed [MB per 1000 cells].
GMSH_MB_PER_KCELL = {2: 0.5, 3: 1.5}
#: Degrees of freedom per cell (all fields), for the printed estimate only.
DOFS_PER_CELL = {2: 1.0, 3: 0.5}


@dataclass(frozen=True)
class Estimate:
    """A run's estimated size.

    Attributes:
        n_cells: cells of the whole mesh.
        n_dofs: unknowns of the whole model (rough).
        peak_mb_per_rank: peak resident memory of the busiest rank (rank 0, which also holds Gmsh's mesh).
        ranks: the ranks it was estimated for.
    """

    n_cells: int
    n_dofs: int
    peak_mb_per_rank: float
    ranks: int

    def line(self) -> str:
        """The estimate in words: ``Estimate: about 649,000 cells, 300,000 unknowns, 5.1 GB per rank on 2 ranks``."""
        return (
            f"Estimate: about {self.n_cells:,} cells, {self.n_dofs:,} unknowns, "
            f"{self.peak_mb_per_rank / 1024:.3g} GB per rank on {self.ranks} rank{'s' if self.ranks > 1 else ''}"
        )


def _layer_integral(dim: int, h: float, hg: float) -> float:
    """``∫_0^{2(h−hg)} [(hg + r/2)^−d − h^−d] dr``: the extra elements (per κ) of a unit fine surface."""
    if hg >= h:
        return 0.0
    return 2.0 / (dim - 1) * (hg ** (1 - dim) - h ** (1 - dim)) - 2.0 * (h - hg) / h**dim


def _features(desc: GeometryDescription) -> tuple[float, float, float]:
    """The bulk term ``V/h^d``, the graded-layer term ``S·I_d`` and the spots (scaled by their mesh level)."""
    d = desc.dim
    h = desc.mesh_size_um
    hg = min(desc.interface_mesh_size_um, h)
    area = desc.width_um ** (d - 1)
    radii = [float(r) for r in desc.radii]
    if d == 2:
        particle_volume = sum(math.pi * r * r for r in radii)
        particle_surface = sum(2.0 * math.pi * r for r in radii)
    else:
        particle_volume = sum(4.0 / 3.0 * math.pi * r**3 for r in radii)
        particle_surface = sum(4.0 * math.pi * r * r for r in radii)
    layer = area * desc.cathode_thickness_um
    particle_volume = min(particle_volume, layer)
    membrane = area * desc.membrane_thickness_um
    if desc.interface == "filled":
        meshed = layer + membrane
        fine = 2.0 * particle_surface + area  # Γ, both sides, and the collector
        spots = 0
    elif desc.interface == "infiltrated":
        depth = desc.infiltration_depth_um or 0.0
        wet = depth / desc.cathode_thickness_um
        meshed = particle_volume + wet * (layer - particle_volume) + membrane
        fine = particle_surface * (1.0 + wet) + area
        spots = 0
    else:  # point contact: particles and membrane, Γ is the spots
        meshed = particle_volume + membrane
        fine = area
        spots = int(sum(bool(x) for x in desc.reaches_membrane))
    level = desc.spot_mesh_level if d == 3 else 1.0
    return meshed / h**d, fine * _layer_integral(d, h, hg), spots / max(level, 1e-3) ** 2


def cell_count(desc: GeometryDescription) -> int:
    """Estimated cells of the mesh of ``desc`` (module docstring)."""
    bulk, graded, spots = _features(desc)
    d = desc.dim
    return int(KAPPA[d] * (bulk + LAMBDA[d] * graded) + CELLS_PER_SPOT[d] * spots)


def estimate(desc: GeometryDescription, study: str, ranks: int) -> Estimate:
    """Cells, unknowns and the peak memory per rank of a ``study`` run of ``desc`` on ``ranks`` ranks."""
    cells = cell_count(desc)
    per_rank_kcells = cells / max(ranks, 1) / 1000.0
    per_kcell = MEMORY_MB_PER_KCELL.get((study, desc.dim), max(MEMORY_MB_PER_KCELL.values()))
    peak = BASE_MB + per_kcell * per_rank_kcells + GMSH_MB_PER_KCELL[desc.dim] * cells / 1000.0
    return Estimate(cells, int(DOFS_PER_CELL[desc.dim] * cells), peak, ranks)


def available_memory_mb() -> float | None:
    """Memory this node can give now [MB]: ``MemAvailable`` (Linux), else the physical memory; None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) / 2**20
    except (OSError, ValueError, AttributeError):
        return None


def refusal(est: Estimate, ranks_on_node: int, available_mb: float | None) -> str | None:
    """Why the run cannot fit (a message with the estimate and what to change), or None when it fits.

    Args:
        est: the estimate.
        ranks_on_node: ranks sharing this node's memory.
        available_mb: the node's available memory (None: unknown, never refused).
    """
    if available_mb is None:
        return None
    need = est.peak_mb_per_rank * ranks_on_node
    if need <= available_mb:
        return None
    return (
        f"{est.line()}: {ranks_on_node} rank{'s need' if ranks_on_node > 1 else ' needs'} about "
        f"{need / 1024:.3g} GB on this node, {available_mb / 1024:.3g} GB are available: it does not fit. Use more "
        "nodes (the "
        "per-rank share shrinks with the rank count), a larger geometry.mesh_size_um or "
        "geometry.interface_mesh_size_um, or a smaller geometry.width_um; --force runs it anyway"
    )
