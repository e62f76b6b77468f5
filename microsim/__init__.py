"""microsim: particle-scale finite-element simulation of battery electrode|electrolyte interfaces.

Data flow: :mod:`microsim.config` → :mod:`microsim.geometry` → :mod:`microsim.mesh` → :mod:`microsim.physics` →
:mod:`microsim.solver` → :mod:`microsim.studies` → :mod:`microsim.outputs` → :mod:`microsim.post`.
Only ``mesh``, ``physics``, ``solver``, ``frequency`` and ``studies`` need DOLFINx.
"""

from microsim.errors import ConfigError, ConvergenceError, GeometryError, MicrosimError, SolutionError

__version__ = "0.1.0"

__all__ = ["ConfigError", "ConvergenceError", "GeometryError", "MicrosimError", "SolutionError", "__version__"]
