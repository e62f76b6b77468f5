"""Butler–Volmer kinetics as pure functions, usable with NumPy arrays and UFL expressions alike.

Sign convention (docs/model.md §2.1): current density positive = anodic = lithium leaves the solid (cathode) or the
metal (anode). ``exp`` is passed in so that one formula serves both NumPy and UFL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def butler_volmer(
    i0: Any, eta: Any, alpha_a: float, alpha_c: float, f: float, exp: Callable[[Any], Any] = np.exp
) -> Any:
    """Butler–Volmer current density ``i0 [exp(α_a f η) − exp(−α_c f η)]`` with ``f = F/RT``."""
    return i0 * (exp(alpha_a * f * eta) - exp(-alpha_c * f * eta))


def exchange_current_lfp(
    i0_ref: float,
    c_rel: Any,
    theta: Any,
    alpha_a: float,
    alpha_c: float,
    power: Callable[[Any, Any], Any] | None = None,
) -> Any:
    """Exchange current density of LiFePO4, normalised to ``i0_ref`` at ``θ = 0.5``, ``c = c0`` (docs/model.md §2.5).

    ``i0 = i0_ref (c/c0)^α_a (2θ)^α_c (2(1 − θ))^α_a``.
    """
    pw = power if power is not None else (lambda a, b: a**b)
    return i0_ref * pw(c_rel, alpha_a) * pw(2.0 * theta, alpha_c) * pw(2.0 * (1.0 - theta), alpha_a)


def overpotential_at_ratio(
    eta: Any,
    i0_ratio: Any,
    alpha: float,
    f: float,
    sinh: Callable[[Any], Any] = np.sinh,
    asinh: Callable[[Any], Any] = np.arcsinh,
) -> Any:
    """The overpotential that drives the same symmetric Butler–Volmer current with ``i0 / i0_ratio``.

    ``i0 r · 2 sinh(α f η) = i0 · 2 sinh(α f η')``, so ``η' = asinh(r sinh(α f η))/(α f)``. For ``α_a = α_c = α``
    only (there is no closed form otherwise). ``sinh`` and ``asinh`` are passed in so that the formula serves NumPy
    and UFL alike.
    """
    return asinh(i0_ratio * sinh(alpha * f * eta)) / (alpha * f)


def ufl_asinh(x: Any) -> Any:
    """``asinh`` for UFL (which has none): ``sign(x) ln(|x| + sqrt(x² + 1))``, odd, 0 at 0, precise for large |x|."""
    import ufl

    return ufl.sign(x) * ufl.ln(abs(x) + ufl.sqrt(x * x + 1.0))


def charge_transfer_resistance(i0: float, f: float) -> float:
    """Linearised charge-transfer resistance ``RT/(F i0)`` in Ω·m² (α_a + α_c = 1)."""
    return 1.0 / (f * i0)
