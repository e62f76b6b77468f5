"""Open-circuit potentials U(x) of LiFePO4, x = c_s / c_max the Li fraction in Li_xFePO4.

Every OCP offers the same three methods so the physics code does not care which one it gets:

* ``numpy(x)``: vectorised evaluation (post-processing, analytic checks);
* ``ufl(x)``: a UFL expression of a UFL operand (the weak forms). ``ufl`` is imported inside the method so
  that this module, the configuration and the CLI work without the solver stack;
* ``derivative_numpy(x)``: dU/dx by central differences (linearisation, impedance capacitances).

A user OCP is given in the configuration as one string (``parameters."lfp.ocp"``, see :func:`make_ocp`):
``"afshar2017"`` (the default), a formula in ``x`` such as ``"3.4 - 0.1*x"``, or ``"table:PATH"`` for a CSV
file with the columns ``x,U_V``.
"""

from __future__ import annotations

import ast
import csv
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from microsim.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover - typing only (UFL is imported where a form is built)
    from ufl.core.expr import Expr

#: Name of the default OCP in configurations.
AFSHAR2017 = "afshar2017"

#: Prefix of a tabulated OCP in configurations.
TABLE_PREFIX = "table:"

# Functions a formula may call, with their numpy and ufl spellings (ufl names resolved lazily).
_NUMPY_FUNCTIONS = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "sqrt": np.sqrt, "atan": np.arctan}
_UFL_FUNCTIONS = {"exp": "exp", "log": "ln", "tanh": "tanh", "sqrt": "sqrt", "atan": "atan"}
_CONSTANTS = {"pi": math.pi}
FORMULA_NAMES = ("x", *_NUMPY_FUNCTIONS, *_CONSTANTS)

# Syntax a formula may use: arithmetic on numbers, x, the constants and calls of the functions above.
_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.USub,
    ast.UAdd,
)

# Where a user formula must give a finite value: the open unit interval, sampled.
_CHECK_POINTS = np.linspace(1e-3, 1.0 - 1e-3, 101)


@runtime_checkable
class OCP(Protocol):
    """What the physics code needs from an open-circuit potential."""

    @property
    def name(self) -> str:
        """The configuration string of this OCP (what the run records)."""
        ...

    def numpy(self, x: np.ndarray) -> np.ndarray:
        """Return U(x) in volts."""
        ...

    def ufl(self, x: Expr) -> Expr:
        """Return U(x) as a UFL expression."""
        ...

    def derivative_numpy(self, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
        """Return dU/dx in volts."""
        ...


class _CentralDifference:
    """Mixin: dU/dx by central differences of ``numpy``."""

    def derivative_numpy(self, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
        """Return dU/dx (V) by a central difference with step ``h``.

        Args:
            x: Li fractions.
            h: Finite-difference step in x.

        Returns:
            dU/dx at ``x``, same shape as ``x``.
        """
        x = np.asarray(x, dtype=float)
        return (self.numpy(x + h) - self.numpy(x - h)) / (2.0 * h)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Afshar2017(_CentralDifference):
    """LiFePO4 OCP of Afshar et al. (arXiv:1709.03970), as used in PyBaMM's Prada2013 set [S].

    ``U(x) = 3.4077 - 0.020269 x + 0.5 exp(-150 x) - 0.9 exp(-30 (1 - x))``, smooth on [0, 1].
    Check values (docs/parameters.md §1.4): U(0.05) = 3.407, U(0.5) = 3.398, U(0.9) = 3.345, U(0.97) = 3.022 V.
    """

    name: str = AFSHAR2017
    formula: str = "3.4077 - 0.020269*x + 0.5*exp(-150*x) - 0.9*exp(-30*(1 - x))"
    source: str = (
        "[S] Afshar, Morris, Khajepour, arXiv:1709.03970; pybamm input/parameters/lithium_ion/Prada2013.py "
        "(LFP_ocp_Afshar2017)"
    )

    def numpy(self, x: np.ndarray) -> np.ndarray:
        """Return U(x) in volts."""
        x = np.asarray(x, dtype=float)
        return 3.4077 - 0.020269 * x + 0.5 * np.exp(-150.0 * x) - 0.9 * np.exp(-30.0 * (1.0 - x))

    def ufl(self, x: Expr) -> Expr:
        """Return U(x) as a UFL expression of ``x``."""
        import ufl

        return 3.4077 - 0.020269 * x + 0.5 * ufl.exp(-150.0 * x) - 0.9 * ufl.exp(-30.0 * (1.0 - x))


def _check_formula_syntax(expr: str, field: str) -> ast.Expression:
    """Parse ``expr`` and reject anything but arithmetic on the allowed names.

    Raises:
        ConfigError: Syntax error, a disallowed construct or an unknown name.
    """
    allowed = f"a formula in x using + - * / **, numbers and {', '.join(FORMULA_NAMES[1:])}"
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise ConfigError(f"{field} = {expr!r}: not a valid formula (must be {allowed})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ConfigError(f"{field} = {expr!r}: '{type(node).__name__}' is not allowed (must be {allowed})")
        if isinstance(node, ast.Name) and node.id not in FORMULA_NAMES:
            raise ConfigError(f"{field} = {expr!r}: unknown name '{node.id}' (must be {allowed})")
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, int | float)):
            raise ConfigError(f"{field} = {expr!r}: constant {node.value!r} is not a number")
        if isinstance(node, ast.Call):
            functions = ", ".join(_NUMPY_FUNCTIONS)
            if not isinstance(node.func, ast.Name) or node.func.id not in _NUMPY_FUNCTIONS:
                called = node.func.id if isinstance(node.func, ast.Name) else type(node.func).__name__
                raise ConfigError(f"{field} = {expr!r}: unknown function '{called}' (allowed: {functions})")
            if node.keywords or len(node.args) != 1:
                raise ConfigError(f"{field} = {expr!r}: functions take one argument, f(arg) ({functions})")
    return tree


@dataclass(frozen=True, eq=False)
class FormulaOCP(_CentralDifference):
    """A user formula ``U(x)`` in volts, e.g. ``"3.4 - 0.1*x"``.

    The formula is checked with :mod:`ast` (numbers, ``x``, ``pi``, ``+ - * / **`` and calls of ``exp``,
    ``log``, ``tanh``, ``sqrt``, ``atan``) and evaluated without builtins, so it cannot reach Python.
    It must give finite values on (0, 1).

    Attributes:
        expr: The formula text.
        name: Same as ``expr`` (what the run records).
    """

    expr: str
    name: str = ""
    field: str = "parameters.lfp.ocp"

    def __post_init__(self) -> None:
        _check_formula_syntax(self.expr, self.field)
        object.__setattr__(self, "name", self.expr.strip())
        with np.errstate(all="ignore"):
            try:
                values = self.numpy(_CHECK_POINTS)
            except (ArithmeticError, TypeError, ValueError) as exc:
                raise ConfigError(f"{self.field} = {self.expr!r}: cannot be evaluated ({exc})") from None
        if not np.all(np.isfinite(values)):
            bad = float(_CHECK_POINTS[~np.isfinite(values)][0])
            raise ConfigError(f"{self.field} = {self.expr!r}: not finite at x = {bad:.3g} (must be finite on (0, 1))")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FormulaOCP) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("FormulaOCP", self.name))

    def _evaluate(self, x: np.ndarray | Expr, functions: Mapping[str, Callable[..., object]]) -> object:
        # Compiled per call (formulas are tiny) so that the object stays picklable for MPI broadcasts.
        code = compile(_check_formula_syntax(self.expr, self.field), "<ocp formula>", "eval")
        namespace: dict[str, object] = {"__builtins__": {}, "x": x, **_CONSTANTS, **functions}
        return eval(code, namespace)  # the AST was whitelisted by _check_formula_syntax

    def numpy(self, x: np.ndarray) -> np.ndarray:
        """Return U(x) in volts (a constant formula is broadcast to the shape of ``x``)."""
        x = np.asarray(x, dtype=float)
        return np.broadcast_to(np.asarray(self._evaluate(x, _NUMPY_FUNCTIONS), dtype=float), x.shape).copy()

    def ufl(self, x: Expr) -> Expr:
        """Return U(x) as a UFL expression of ``x``."""
        import ufl

        functions = {key: getattr(ufl, name) for key, name in _UFL_FUNCTIONS.items()}
        return ufl.as_ufl(self._evaluate(x, functions))


@dataclass(frozen=True)
class TableOCP(_CentralDifference):
    """A tabulated OCP read from a CSV file with a header line ``x,U_V``.

    Evaluation interpolates linearly and holds the end values outside the table (as :func:`numpy.interp`).
    The UFL form is a chain of ``ufl.conditional`` linear pieces: fine for tables up to about 100 rows.

    Attributes:
        path: The CSV file (absolute).
        x: Tabulated Li fractions, strictly increasing.
        u: Tabulated potentials in volts.
        name: ``"table:" + path``.
    """

    path: str
    x: tuple[float, ...]
    u: tuple[float, ...]
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", TABLE_PREFIX + self.path)

    @classmethod
    def from_csv(cls, path: str | Path, field: str = "parameters.lfp.ocp") -> TableOCP:
        """Read and check a table.

        Args:
            path: CSV file with the header ``x,U_V`` and at least two rows.
            field: Configuration field named in error messages.

        Raises:
            ConfigError: Missing file, wrong header, non-numeric or non-finite values, x not increasing.
        """
        path = Path(path)
        where = f"{field} = '{TABLE_PREFIX}{path}'"
        if not path.is_file():
            raise ConfigError(f"{where}: file not found (must be a CSV file with columns x,U_V)")
        with path.open(newline="") as handle:
            rows = [row for row in csv.reader(handle) if row and not row[0].lstrip().startswith("#")]
        if not rows or [cell.strip() for cell in rows[0]] != ["x", "U_V"]:
            raise ConfigError(f"{where}: the first line must be the header 'x,U_V'")
        try:
            data = np.array([[float(cell) for cell in row] for row in rows[1:]], dtype=float)
        except ValueError as exc:
            raise ConfigError(f"{where}: non-numeric entry ({exc})") from None
        if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] != 2:
            raise ConfigError(f"{where}: needs at least two rows of two columns x,U_V")
        if not np.all(np.isfinite(data)):
            raise ConfigError(f"{where}: entries must be finite")
        if np.any(np.diff(data[:, 0]) <= 0.0):
            raise ConfigError(f"{where}: x must be strictly increasing")
        return cls(str(path), tuple(data[:, 0].tolist()), tuple(data[:, 1].tolist()))

    def numpy(self, x: np.ndarray) -> np.ndarray:
        """Return U(x) in volts by linear interpolation."""
        return np.interp(np.asarray(x, dtype=float), self.x, self.u)

    def ufl(self, x: Expr) -> Expr:
        """Return the piecewise-linear U(x) as nested ``ufl.conditional`` expressions."""
        import ufl

        xs, us = self.x, self.u
        # Built from the top down: beyond the last node the value is held, as np.interp does.
        expr = ufl.as_ufl(us[-1])
        for i in range(len(xs) - 2, -1, -1):
            slope = (us[i + 1] - us[i]) / (xs[i + 1] - xs[i])
            expr = ufl.conditional(ufl.lt(x, xs[i + 1]), us[i] + slope * (x - xs[i]), expr)
        return ufl.conditional(ufl.lt(x, xs[0]), us[0], expr)


def make_ocp(spec: str, base_dir: str | Path | None = None, field: str = "parameters.lfp.ocp") -> OCP:
    """Build an OCP from its configuration string.

    Args:
        spec: ``"afshar2017"`` (case-insensitive), ``"table:PATH"`` or a formula in ``x``.
        base_dir: Directory that a relative table path is resolved against (default: the working directory).
        field: Configuration field named in error messages.

    Returns:
        The OCP object.

    Raises:
        ConfigError: The spec is empty, the formula is invalid or the table cannot be read.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"{field} = {spec!r}: must be '{AFSHAR2017}', '{TABLE_PREFIX}PATH' or a formula in x")
    text = spec.strip()
    if text.lower() == AFSHAR2017:
        return Afshar2017()
    if text.startswith(TABLE_PREFIX):
        path = Path(text[len(TABLE_PREFIX) :].strip()).expanduser()
        if not path.is_absolute():
            path = Path(base_dir or Path.cwd()) / path
        return TableOCP.from_csv(path.resolve(), field)
    return FormulaOCP(text, field=field)
