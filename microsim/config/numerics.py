"""``[solver]`` and ``[output]``: how to solve and what to write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from microsim.config.fields import Section, spec

#: ``auto``: the two-level iterative solver in 3D, MUMPS in 2D (microsim.solver.resolve_linear_solver).
LINEAR_SOLVERS = ("auto", "mumps", "superlu_dist", "two-level")
#: Mass matrix of the lithiation equation in transient runs (docs/solver.md).
THETA_MASS = ("lumped", "consistent")


@dataclass(frozen=True)
class SolverConfig(Section):
    """``[solver]``: linear and nonlinear solver settings."""

    SECTION: ClassVar[str] = "solver"

    linear_solver: str = spec(
        "auto",
        choices=LINEAR_SOLVERS,
        doc="linear solver: auto (two-level in 3D, mumps in 2D), mumps, superlu_dist or two-level",
    )
    newton_max_iterations: int = spec(30, low=1, low_open=False, doc="Newton iteration limit")
    newton_tolerance: float = spec(
        1e-10,
        low=0.0,
        high=1e-3,
        high_open=False,
        unit="1",
        doc="update test: a full Newton step below this (max-norm of the scaled update, V for potentials) ends it",
    )
    newton_rtol: float = spec(
        1e-10,
        low=0.0,
        low_open=False,
        high=1e-3,
        high_open=False,
        unit="1",
        doc="residual test: every block's scaled residual below this fraction of its first value",
    )
    reuse_jacobian: bool = spec(
        True,
        doc="keep the Jacobian (and its factorisation or preconditioner) for the next Newton step once the update "
        "is below 1e-3 (a chord step; same converged answer, fewer assemblies)",
    )
    theta_mass: str = spec(
        "lumped",
        choices=THETA_MASS,
        doc="discharge/rate: lithiation mass matrix; lumped keeps θ in [0, 1], consistent is more accurate at "
        "the surface on coarse meshes but can leave [0, 1] from a nearly empty or full particle",
    )
    newton_atol: float = spec(
        0.0,
        low=0.0,
        low_open=False,
        high=1e-3,
        high_open=False,
        unit="1",
        doc="absolute residual that always passes the residual test (also added to the round-off floors)",
    )


@dataclass(frozen=True)
class OutputConfig(Section):
    """``[output]``: what to write besides the summary."""

    SECTION: ClassVar[str] = "output"

    xdmf: bool = spec(True, doc="write fields as XDMF")
    png: bool = spec(True, doc="write PNG figures")
    mesh_cache: str = spec(
        "",
        doc="folder of meshed geometries: a cell meshed once is read back by later runs on any rank count "
        "(relative to the working directory; '' = off)",
    )
    progress_interval_s: float = spec(
        30.0, low=0.0, low_open=False, unit="s",
        doc="without a terminal: wall time between progress lines of long studies; 0: every step",
    )  # fmt: skip


__all__ = ["LINEAR_SOLVERS", "THETA_MASS", "OutputConfig", "SolverConfig"]
