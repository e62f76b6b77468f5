"""Particle lists: the packed particles, how a packing was obtained, and the particle CSV format.

Shared by the 2D packer (:mod:`microsim.geometry.packing`), the 3D packer (:mod:`microsim.geometry.packing3d`)
and everything that reads a particle file, so that neither packer imports the other. NumPy only.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microsim.errors import GeometryError

__all__ = ["PackingResult", "Particles", "read_particles_csv", "unreachable_fraction", "write_particles_csv"]


@dataclass(frozen=True, eq=False)
class Particles:
    """Particle centres and radii in µm.

    Attributes:
        centers: ``(N, dim)`` array; the last column is the through-thickness coordinate.
        radii: ``(N,)`` array of radii.
    """

    centers: np.ndarray
    radii: np.ndarray

    def __post_init__(self) -> None:
        centers = np.array(self.centers, dtype=float, copy=True)
        radii = np.array(self.radii, dtype=float, copy=True).reshape(-1)
        if centers.size == 0:
            centers = centers.reshape(0, centers.shape[1] if centers.ndim == 2 else 2)
        if centers.ndim != 2 or centers.shape[1] not in (2, 3) or centers.shape[0] != radii.shape[0]:
            raise ValueError(f"Particles: centers must be (N, 2|3) and radii (N,), got {centers.shape}, {radii.shape}")
        # Read-only arrays: a frozen description must not be changed behind its back.
        centers.setflags(write=False)
        radii.setflags(write=False)
        object.__setattr__(self, "centers", centers)
        object.__setattr__(self, "radii", radii)

    @property
    def dim(self) -> int:
        """Spatial dimension (2 or 3)."""
        return int(self.centers.shape[1])

    def __len__(self) -> int:
        return int(self.radii.shape[0])

    def subset(self, keep: np.ndarray) -> Particles:
        """Return the particles selected by a boolean mask or an index array."""
        return Particles(self.centers[keep], self.radii[keep])

    def with_radii(self, radii: np.ndarray) -> Particles:
        """Return the same centres with new radii."""
        return Particles(self.centers, radii)


@dataclass(frozen=True, eq=False)
class PackingResult:
    """A generated packing and how it was obtained.

    Attributes:
        particles: The packed particles.
        achieved_fraction: Area (volume) of the particle union inside the cathode box / box area.
        target_fraction: The fraction asked for.
        p_stick: The sticking probability of the accepted deposit.
        capture_um: The capture distance of the accepted deposit.
        attempt: Index of the RNG sub-stream that produced it (0 unless the first stream missed the
            tolerance).
        n_trials: Number of deposits computed in total.
        elapsed_s: Wall time of the whole search.
        trials: ``(attempt, looseness, fraction)`` of every deposit tried (for diagnostics).
    """

    particles: Particles
    achieved_fraction: float
    target_fraction: float
    p_stick: float
    capture_um: float
    attempt: int
    n_trials: int
    elapsed_s: float
    trials: tuple[tuple[int, float, float], ...] = field(default=())


def unreachable_fraction(
    target: float,
    tolerance: float,
    best: float,
    reached: tuple[float, float],
    loosest: str,
    box: tuple[float, float, float, float],
) -> GeometryError:
    """The error of a packer that missed its target: the best reached, why, and every field that matters.

    Args:
        target: ``geometry.active_fraction`` asked for.
        tolerance: Allowed deviation.
        best: Closest fraction reached.
        reached: Lowest and highest fractions any deposit reached.
        loosest: Name of the packer's loosest deposit mode (for the message).
        box: Width, cathode thickness, mean radius and radius spread [µm].
    """
    lo, hi = reached
    if target > hi:
        why = f"jammed: the densest deposit reaches {hi:.3f}"
    elif target < lo:
        why = f"too porous: the loosest ({loosest}) deposit reaches {lo:.3f}"
    else:
        why = f"the deposits found jump over the target (range {lo:.3f} to {hi:.3f})"
    w, h, r, r_std = box
    return GeometryError(
        f"geometry.active_fraction = {target:g} cannot be reached within ±{tolerance:g}: best reached {best:.3f} "
        f"({why}; with geometry.width_um = {w:g}, geometry.cathode_thickness_um = {h:g}, "
        f"geometry.radius_mean_um = {r:g}, geometry.radius_std_um = {r_std:g})"
    )


# ----------------------------------------------------------------------------------------------------------
# CSV I/O
# ----------------------------------------------------------------------------------------------------------
def _columns(dim: int) -> tuple[str, ...]:
    return ("x_um", "y_um", "r_um") if dim == 2 else ("x_um", "y_um", "z_um", "r_um")


def read_particles_csv(path: str | Path, dim: int, box: tuple[float, float] | None = None) -> Particles:
    """Read particles from a CSV file with a header ``x_um,y_um[,z_um],r_um`` (extra columns are ignored).

    Args:
        path: The file.
        dim: 2 (columns x_um, y_um, r_um; y through the thickness) or 3 (x_um, y_um, z_um, r_um; z through
            it).
        box: ``(W, L_c)``: if given, every centre must lie in the cathode box and every particle between the
            side walls.

    Returns:
        The particles, in file order.

    Raises:
        GeometryError: Missing file, missing column, non-numeric value, ``r <= 0``, particle outside the box;
            the message names the file, the line and the problem.
    """
    path = Path(path)
    if dim not in (2, 3):
        raise GeometryError(f"particles file {path}: dim must be 2 or 3, got {dim}")
    if not path.is_file():
        raise GeometryError(f"particles file {path}: no such file")
    try:
        return _read_rows(path, dim, box)
    except UnicodeDecodeError as exc:
        raise GeometryError(f"particles file {path}: not UTF-8 text (byte {exc.start}); save it as plain CSV") from None
    except csv.Error as exc:  # a NUL byte, an unterminated quote
        raise GeometryError(f"particles file {path}: not a CSV file ({exc})") from None


def _read_rows(path: Path, dim: int, box: tuple[float, float] | None) -> Particles:
    """The body of :func:`read_particles_csv` (its decoding errors become GeometryError there)."""
    cols = _columns(dim)
    rows: list[list[float]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header: list[str] | None = None
        index: list[int] = []
        for line_no, row in enumerate(reader, start=1):
            if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                missing = [c for c in cols if c not in header]
                if missing:
                    raise GeometryError(
                        f"particles file {path}, line {line_no}: missing column(s) {', '.join(missing)} in "
                        f"header {','.join(header)} (a {dim}D file needs {','.join(cols)})"
                    )
                index = [header.index(c) for c in cols]
                continue
            values = []
            for col, k in zip(cols, index, strict=True):
                cell = row[k].strip() if k < len(row) else ""
                try:
                    v = float(cell)
                except ValueError:
                    raise GeometryError(
                        f"particles file {path}, line {line_no}: column {col} = {cell!r} is not a number"
                    ) from None
                if not math.isfinite(v):
                    raise GeometryError(f"particles file {path}, line {line_no}: column {col} = {cell!r} is not finite")
                values.append(v)
            r = values[-1]
            if r <= 0.0:
                raise GeometryError(f"particles file {path}, line {line_no}: r_um = {r:g} must be > 0")
            if box is not None:
                width, height = box
                centre = values[:-1]
                for k, c in enumerate(centre[:-1]):
                    if c - r < 0.0 or c + r > width:
                        raise GeometryError(
                            f"particles file {path}, line {line_no}: particle outside the box: "
                            f"{cols[k]} = {c:g} with r = {r:g} crosses a side wall "
                            f"(0 <= {cols[k]} ± r <= {width:g} µm)"
                        )
                zc = centre[-1]
                if not 0.0 <= zc <= height:
                    raise GeometryError(
                        f"particles file {path}, line {line_no}: particle outside the box: "
                        f"{cols[dim - 1]} = {zc:g} not in the cathode layer [0, {height:g}] µm"
                    )
            rows.append(values)
    if header is None:
        raise GeometryError(f"particles file {path}: empty file (a header {','.join(cols)} is required)")
    data = np.array(rows, dtype=float).reshape(-1, dim + 1)
    return Particles(data[:, :dim], data[:, dim])


def write_particles_csv(path: str | Path, particles: Particles) -> None:
    """Write particles as CSV (header ``x_um,y_um[,z_um],r_um``) with round-trip exact floats."""
    path = Path(path)
    cols = _columns(particles.dim)
    with path.open("w", newline="", encoding="utf-8") as fh:
        fh.write(",".join(cols) + "\n")
        for c, r in zip(particles.centers, particles.radii, strict=True):
            fh.write(",".join(repr(float(v)) for v in (*c, r)) + "\n")
