"""microsim: particle-scale finite-element simulation of battery electrode|electrolyte interfaces.

Data flow: :mod:`microsim.config` → :mod:`microsim.geometry` → :mod:`microsim.mesh` → :mod:`microsim.physics` →
:mod:`microsim.solver` → :mod:`microsim.studies` → :mod:`microsim.outputs` → :mod:`microsim.post`.
Only ``mesh``, ``physics``, ``solver``, ``frequency`` and ``studies`` need DOLFINx. The Python API is
:mod:`microsim.api` (``microsim.Case``, ``microsim.Result``).
"""

from typing import Any

from microsim.errors import ConfigError, ConvergenceError, GeometryError, MicrosimError, SolutionError

__version__ = "0.1.0"

__all__ = [
    "Case",
    "ConfigError",
    "ConvergenceError",
    "GeometryError",
    "MicrosimError",
    "Result",
    "SolutionError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """``microsim.Case`` and ``microsim.Result`` (:mod:`microsim.api`), imported on first use (pandas is slow)."""
    if name in ("Case", "Result"):
        from microsim import api

        return getattr(api, name)
    raise AttributeError(f"module 'microsim' has no attribute {name!r}")
