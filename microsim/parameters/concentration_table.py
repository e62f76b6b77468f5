"""Tabulated concentration laws of the electrolyte: κ(c), D(c), t+(c), TDF(c) (docs/model.md §2.2).

A table is a CSV file with the column ``c_mol_m3`` (strictly increasing) and any of ``conductivity_S_m``,
``diffusivity_m2_s``, ``transference_number``, ``thermodynamic_factor``; lines starting with ``#`` are comments.
Between the rows each property is a PCHIP interpolant (monotone piecewise-cubic Hermite, :class:`Pchip`), with a
NumPy twin of its UFL form. Semantics (docs/model.md §2.2):

* κ and D: only the *shape* ``r(c) = value(c)/value(c0)`` is used, multiplied onto the named set's κ(T), D(T), so
  that the Arrhenius temperature law (and any explicit value) stays on top;
* t+ and TDF: used as absolute values.

Outside the table's range the interpolants hold their end values (a Newton iterate may step outside); an accepted
state that leaves the range stops the run with :class:`~microsim.errors.TableRangeError`.

This module imports no ``ufl`` on import (the UFL forms import it when the physics asks for them).
"""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from microsim.errors import ConfigError

if TYPE_CHECKING:
    from ufl.core.expr import Expr

#: The concentration column (mol/m³) and the property columns a table may hold.
C_COLUMN = "c_mol_m3"
PROPERTY_COLUMNS = ("conductivity_S_m", "diffusivity_m2_s", "transference_number", "thermodynamic_factor")
#: Built-in tables by the name ``[electrolyte] table`` accepts (package data files next to this module).
BUILTIN_TABLES = {"edman2000": "edman2000_peo_litfsi_85C.csv"}
#: Gauss–Legendre points per interval of the integral B(c) (exact for polynomials of degree 2·12 − 1).
_GAUSS_POINTS = 12
#: Pieces of B(u)'s Hermite interpolant: at most this fraction of u long, at most this many per table interval.
_RELATIVE_PIECE = 0.05
_MAX_PIECES = 64


def _scipy_edge(h0: float, h1: float, m0: float, m1: float) -> float:
    """End slope of the PCHIP: the one-sided three-point formula, limited to keep the shape (Fritsch–Carlson)."""
    d = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if np.sign(d) != np.sign(m0):
        return 0.0
    if np.sign(m0) != np.sign(m1) and abs(d) > abs(3.0 * m0):
        return 3.0 * m0
    return d


def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Node slopes of the monotone piecewise-cubic Hermite interpolant (as SciPy's ``PchipInterpolator``).

    Interior nodes: zero where the neighbouring secants differ in sign or one vanishes (a local extremum stays at
    the node, no overshoot), else their weighted harmonic mean (Fritsch & Butland 1984), which satisfies the
    Fritsch–Carlson monotonicity conditions. End nodes: the shape-preserving three-point formula. Two rows: the
    straight line.
    """
    h = np.diff(x)
    m = np.diff(y) / h
    n = x.size
    if n == 2:
        return np.array([m[0], m[0]])
    d = np.zeros(n)
    for k in range(1, n - 1):
        if m[k - 1] * m[k] > 0.0:
            w1, w2 = 2.0 * h[k] + h[k - 1], h[k] + 2.0 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / m[k - 1] + w2 / m[k])
    d[0] = _scipy_edge(h[0], h[1], m[0], m[1])
    d[-1] = _scipy_edge(h[-1], h[-2], m[-1], m[-2])
    return d


@dataclass(frozen=True)
class Hermite:
    """A piecewise-cubic Hermite function of ``x`` given by node values and node slopes; constant outside.

    Attributes:
        x: Nodes, strictly increasing.
        y: Values at the nodes.
        d: Slopes dy/dx at the nodes.
    """

    x: tuple[float, ...]
    y: tuple[float, ...]
    d: tuple[float, ...]

    def scaled(self, factor: float) -> Hermite:
        """The function times ``factor``."""
        return Hermite(self.x, tuple(factor * v for v in self.y), tuple(factor * v for v in self.d))

    def numpy(self, x: Any) -> np.ndarray:
        """Values at ``x`` (the end values held outside the nodes)."""
        xs, ys, ds = (np.asarray(a, dtype=float) for a in (self.x, self.y, self.d))
        xv = np.clip(np.asarray(x, dtype=float), xs[0], xs[-1])
        i = np.clip(np.searchsorted(xs, xv, side="right") - 1, 0, xs.size - 2)
        h = xs[i + 1] - xs[i]
        t = (xv - xs[i]) / h
        return _hermite(t, h, ys[i], ys[i + 1], ds[i], ds[i + 1])

    def ufl(self, x: Expr) -> Expr:
        """The same function as nested ``ufl.conditional`` cubic pieces (one comparison per node)."""
        import ufl

        xs, ys, ds = self.x, self.y, self.d
        # built from the top down: beyond the last node the value is held, as in numpy()
        expr: Any = ufl.as_ufl(ys[-1])
        for i in range(len(xs) - 2, -1, -1):
            h = xs[i + 1] - xs[i]
            piece = _hermite((x - xs[i]) / h, h, ys[i], ys[i + 1], ds[i], ds[i + 1])
            expr = ufl.conditional(ufl.lt(x, xs[i + 1]), piece, expr)
        return ufl.conditional(ufl.lt(x, xs[0]), ys[0], expr)


def _hermite(t: Any, h: Any, y0: Any, y1: Any, d0: Any, d1: Any) -> Any:
    """Cubic Hermite on one interval in Horner form of the local ``t ∈ [0, 1]`` (NumPy arrays or UFL)."""
    # y(t) = y0 + t (h d0 + t (a2 + t a3)), the monomial coefficients of the Hermite basis
    a2 = 3.0 * (y1 - y0) - h * (2.0 * d0 + d1)
    a3 = 2.0 * (y0 - y1) + h * (d0 + d1)
    return y0 + t * (h * d0 + t * (a2 + t * a3))


def pchip(x: Any, y: Any) -> Hermite:
    """The PCHIP interpolant of the points ``(x, y)`` (``x`` strictly increasing, at least two points)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return Hermite(tuple(xa.tolist()), tuple(ya.tolist()), tuple(pchip_slopes(xa, ya).tolist()))


@dataclass(frozen=True)
class ConcentrationTable:
    """A checked table of electrolyte properties against the salt concentration.

    Attributes:
        name: ``"edman2000"`` for a built-in table, else the absolute path of the CSV file.
        c: Concentrations (mol/m³), strictly increasing.
        columns: The property columns present, by name (values in the column's unit).
    """

    name: str
    c: tuple[float, ...]
    columns: dict[str, tuple[float, ...]]

    def __hash__(self) -> int:
        return hash((self.name, self.c, tuple(sorted(self.columns.items()))))

    @property
    def c_range(self) -> tuple[float, float]:
        """The concentrations covered (mol/m³)."""
        return self.c[0], self.c[-1]

    def has(self, column: str) -> bool:
        """Whether the table gives ``column``."""
        return column in self.columns

    def law(self, column: str) -> Hermite:
        """PCHIP of one property column against c (mol/m³)."""
        return pchip(self.c, self.columns[column])

    def check_covers(self, c0: float, field: str = "electrolyte.concentration_mol_m3") -> None:
        """Refuse a reference concentration ``c0`` outside the table.

        Raises:
            ConfigError: ``c0`` outside ``[c_min, c_max]``.
        """
        lo, hi = self.c_range
        if not lo <= c0 <= hi:
            raise ConfigError(
                f"{field} = {c0:g} mol/m³ lies outside electrolyte.table = {self.name!r}, which covers "
                f"c_mol_m3 in [{lo:g}, {hi:g}]: the laws are relative to c0 and cannot be evaluated there"
            )


def builtin_path(name: str) -> Path:
    """The package data file of a built-in table."""
    return Path(str(resources.files("microsim.parameters").joinpath(BUILTIN_TABLES[name.lower()])))


def load_table(spec: str, field: str = "electrolyte.table") -> ConcentrationTable:
    """Read and check a table: a built-in name (:data:`BUILTIN_TABLES`) or a CSV path (already absolute).

    Raises:
        ConfigError: missing or unreadable file, no header or an unknown column, fewer than two rows, non-numeric
            or non-finite entries, c not strictly increasing, non-positive κ, D or TDF, t+ outside [-1, 1].
    """
    builtin = spec.lower() in BUILTIN_TABLES
    path = builtin_path(spec) if builtin else Path(spec)
    name = spec.lower() if builtin else str(path)
    where = f"{field} = {spec!r}"
    if not path.is_file():
        builtins = ", ".join(repr(b) for b in BUILTIN_TABLES)
        raise ConfigError(
            f"{where}: file not found (a CSV file with the column {C_COLUMN} and any of "
            f"{', '.join(PROPERTY_COLUMNS)}; or a built-in table: {builtins})"
        )
    try:
        with path.open(newline="") as handle:
            rows = [
                r for r in csv.reader(handle) if r and any(s.strip() for s in r) and not r[0].lstrip().startswith("#")
            ]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot be read ({type(exc).__name__}: {exc})") from None
    if not rows:
        raise ConfigError(f"{where}: empty (needs a header line with {C_COLUMN} and at least two rows)")
    header = [s.strip() for s in rows[0]]
    unknown = [h for h in header if h != C_COLUMN and h not in PROPERTY_COLUMNS]
    if unknown:
        raise ConfigError(
            f"{where}: unknown column {unknown[0]!r}; the columns are {C_COLUMN} and any of "
            + ", ".join(PROPERTY_COLUMNS)
        )
    if C_COLUMN not in header or len(header) < 2 or len(set(header)) != len(header):
        raise ConfigError(f"{where}: the header must hold {C_COLUMN} and at least one property column, each once")
    try:
        data = np.array([[float(s) for s in r] for r in rows[1:]], dtype=float)
    except ValueError as exc:
        raise ConfigError(f"{where}: non-numeric entry ({exc})") from None
    if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] != len(header):
        raise ConfigError(f"{where}: needs at least two rows of {len(header)} columns ({', '.join(header)})")
    if not np.all(np.isfinite(data)):
        row, col = np.argwhere(~np.isfinite(data))[0]
        raise ConfigError(f"{where}: {header[col]} = {data[row, col]} in data row {row + 1}: entries must be finite")
    cols = {h: data[:, j] for j, h in enumerate(header)}
    c = cols.pop(C_COLUMN)
    if np.any(np.diff(c) <= 0.0):
        raise ConfigError(f"{where}: {C_COLUMN} must be strictly increasing")
    if c[0] < 0.0:
        raise ConfigError(f"{where}: {C_COLUMN} = {c[0]:g}: concentrations must be >= 0")
    for col, values in cols.items():
        if col == "transference_number":
            bad = np.nonzero((values < -1.0) | (values > 1.0))[0]
            allowed = "in [-1, 1]"
        else:
            bad = np.nonzero(values <= 0.0)[0]
            allowed = "> 0"
        if bad.size:
            k = int(bad[0])
            raise ConfigError(f"{where}: {col} = {values[k]:g} at {C_COLUMN} = {c[k]:g}: must be {allowed}")
    return ConcentrationTable(name, tuple(c.tolist()), {k: tuple(v.tolist()) for k, v in cols.items()})


@dataclass(frozen=True)
class ConcentrationLaws:
    """The electrolyte's concentration laws relative to c0, in the scaled concentration ``u = c/c0``.

    Attributes:
        c0: Reference concentration (mol/m³).
        table: The table they come from.
        kappa_rel: Shape ``r_κ(u) = κ(c)/κ(c0)``, or None (the power law applies).
        diffusivity_rel: Shape ``r_D(u)``, or None.
        transference_number: t+(u), or None (constant t+).
        thermodynamic_factor: TDF(u), or None (constant TDF).
    """

    c0: float
    table: ConcentrationTable
    kappa_rel: Hermite | None
    diffusivity_rel: Hermite | None
    transference_number: Hermite | None
    thermodynamic_factor: Hermite | None

    @classmethod
    def build(cls, table: ConcentrationTable, c0: float) -> ConcentrationLaws:
        """The laws of ``table`` around ``c0`` (the table's c axis scaled by c0).

        Raises:
            ConfigError: ``c0`` outside the table.
        """
        table.check_covers(c0)
        u = np.asarray(table.c) / c0

        def shape(col: str, relative: bool) -> Hermite | None:
            if not table.has(col):
                return None
            law = pchip(u, table.columns[col])
            return law.scaled(1.0 / float(law.numpy(1.0))) if relative else law

        return cls(
            c0=c0,
            table=table,
            kappa_rel=shape("conductivity_S_m", True),
            diffusivity_rel=shape("diffusivity_m2_s", True),
            transference_number=shape("transference_number", False),
            thermodynamic_factor=shape("thermodynamic_factor", False),
        )

    @property
    def u_range(self) -> tuple[float, float]:
        """The scaled concentrations covered."""
        lo, hi = self.table.c_range
        return lo / self.c0, hi / self.c0

    @property
    def variable_beta(self) -> bool:
        """Whether β = 2RT/F (1 − t+) TDF depends on c."""
        return self.transference_number is not None or self.thermodynamic_factor is not None

    def beta_numpy(self, u: Any, beta_scale: float, t_plus: float, tdf: float) -> np.ndarray:
        """β(u) [V] = ``beta_scale`` (1 − t+(u)) TDF(u), ``beta_scale = 2RT/F``; constants where not tabulated."""
        uu = np.asarray(u, dtype=float)
        tp = self.transference_number.numpy(uu) if self.transference_number is not None else t_plus
        th = self.thermodynamic_factor.numpy(uu) if self.thermodynamic_factor is not None else tdf
        return np.asarray(beta_scale * (1.0 - tp) * th, dtype=float)

    def diffusion_potential(self, beta_scale: float, t_plus: float, tdf: float) -> Hermite:
        """``B(u) = ∫_1^u β(u')/u' du'`` [V] as a cubic Hermite in u with exact node values and slopes.

        Nodes: the table's and u = 1, intervals subdivided geometrically to pieces of at most 5 % of u (at most
        64 per interval: a table row at c = 0 starts at the model's floor u = 1e-8, where B is logarithmic). Node
        values: Gauss–Legendre quadrature (12 points per interval) of the PCHIP
        β(u)/u, from u = 1 both ways (round-off accuracy for tables whose intervals are shorter than their distance
        from c = 0). The slopes β(u_i)/u_i are exact, so between the nodes the Hermite cubic is O(h⁴) accurate
        (below 1e-7 V on the 20-row Edman table; docs/model.md §2.2). Outside the table B is held: the run stops
        there anyway.
        """
        nodes = np.asarray(self.table.c) / self.c0
        if nodes[0] <= 0.0:
            # the c = 0 row: B has a logarithmic singularity there; start just above it (c/c0 floor of the model)
            nodes = nodes.copy()
            nodes[0] = 1.0e-8

        def integrand(x: np.ndarray) -> np.ndarray:
            return self.beta_numpy(x, beta_scale, t_plus, tdf) / x

        gx, gw = np.polynomial.legendre.leggauss(_GAUSS_POINTS)

        def integral(a: float, b: float) -> float:
            mid, half = 0.5 * (a + b), 0.5 * (b - a)
            return float(half * np.sum(gw * integrand(mid + half * gx)))

        # u = 1 (c0) is a node too, so that B(c0) = 0 exactly rather than to the interpolation error; intervals
        # are subdivided geometrically into pieces of at most 5 % of u, where the 1/u of the integrand varies fast
        points = np.unique(np.concatenate([nodes, [1.0]]))
        pieces = [
            np.geomspace(a, b, 1 + min(_MAX_PIECES, math.ceil(math.log(b / a) / math.log1p(_RELATIVE_PIECE))))[:-1]
            for a, b in _pairs(points)
        ]
        points = np.concatenate([*pieces, points[-1:]])
        cumulative = np.concatenate([[0.0], np.cumsum([integral(a, b) for a, b in _pairs(points)])])
        values = cumulative - cumulative[int(np.searchsorted(points, 1.0))]
        slopes = integrand(points)
        return Hermite(tuple(points.tolist()), tuple(values.tolist()), tuple(slopes.tolist()))


def _pairs(points: np.ndarray) -> list[tuple[float, float]]:
    """Consecutive pairs of an array (the intervals between sorted points)."""
    return [(float(a), float(b)) for a, b in itertools.pairwise(points)]


def table_range_message(table: ConcentrationTable, c_min: float, c_max: float) -> str | None:
    """Why a state with salt concentrations in ``[c_min, c_max]`` (mol/m³) is outside ``table``; None if inside."""
    lo, hi = table.c_range
    # a relative slack of 1e-9: the state at c0 exactly on a table end must pass
    tol = 1.0e-9 * max(abs(hi), 1.0)
    # a table from c = 0 covers the depleted salt: c < 0 there is the P1 solution's undershoot next to a depleted
    # interface, where the laws hold their c = 0 values (as the model floors c/c0 at 1e-8 in logarithms)
    if (c_min >= lo - tol or lo <= 0.0) and c_max <= hi + tol:
        return None
    props = ", ".join(table.columns)
    reached = c_min if c_min < lo - tol else c_max
    return (
        f"the salt concentration reached {reached:.6g} mol/m³, outside electrolyte.table = {table.name!r} "
        f"({props}), which covers c_mol_m3 in [{lo:g}, {hi:g}]; the run stops rather than extrapolate"
        + (" (this table does not cover c → 0: it cannot run a depleting cell)" if lo > 0.0 and c_min < lo else "")
        + f" [c in this state: {c_min:.6g} to {c_max:.6g} mol/m³]"
    )


__all__ = [
    "BUILTIN_TABLES",
    "C_COLUMN",
    "PROPERTY_COLUMNS",
    "ConcentrationLaws",
    "ConcentrationTable",
    "Hermite",
    "builtin_path",
    "load_table",
    "pchip",
    "pchip_slopes",
    "table_range_message",
]
