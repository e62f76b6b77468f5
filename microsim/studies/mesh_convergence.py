"""Mesh-convergence extrapolation of a discretised quantity: ``f(h) = f_∞ + C h^p`` (Richardson; NumPy only).

The effective-properties study solves its pore conduction problem on the configured mesh and on coarser ones
(``study.convergence_levels``) and reports the extrapolated ``κ_eff/κ`` (docs/model.md §4.6). P1 conduction
through a polygonal pore space converges at second order (tests/verification/test_effective_3d.py: orders 1.76,
1.89, 1.98 for the cubic array of spheres), so:

* three or more levels: the observed order ``p`` from the three finest, ``(f₃ − f₂)/(f₂ − f₁) =
  (h₃^p − h₂^p)/(h₂^p − h₁^p)``, and ``f_∞ = f₁ + (f₁ − f₂)/((h₂/h₁)^p − 1)``. The error estimate of ``f_∞`` is
  the spread between that extrapolation and the one of the two finest levels at the nominal ``p = 2``, but at
  least a quarter of the correction ``|f_∞ − f₁|`` applied (the next term of the expansion is not known; an
  extrapolation is not trusted beyond that). Outside ``[MIN_ORDER, MAX_ORDER]``, or with differences of
  opposite sign (not in the asymptotic range), the order is not used: ``p = 2`` with a note, and the error
  estimate is the correction ``|f_∞ − f₁|``;
* two levels: ``p = 2`` (assumed) and the error estimate ``|f_∞ − f₁|`` (the correction itself);
* one level: nothing to extrapolate.

The error estimate of the finest raw value is ``|f₁ − f_∞|``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MAX_ORDER", "MIN_ORDER", "NOMINAL_ORDER", "Extrapolation", "richardson"]

#: Convergence order of P1 conduction on a mesh fitted to curved interfaces (assumed with two levels).
NOMINAL_ORDER = 2.0
#: Observed orders outside [MIN_ORDER, MAX_ORDER] are not used (the levels are not in the asymptotic range).
MIN_ORDER = 0.5
MAX_ORDER = 4.0
#: The error estimate of an extrapolated value is at least this fraction of the correction applied.
_MIN_ERROR_SHARE = 0.25


@dataclass(frozen=True)
class Extrapolation:
    """The extrapolation of one quantity to ``h → 0``.

    Attributes:
        value: ``f_∞``.
        error_estimate: Estimated ``|f_∞ − f_exact|``.
        finest: The value on the finest mesh ``f₁``.
        finest_error_estimate: Estimated error of the finest value, ``|f₁ − f_∞|``.
        order: The order ``p`` used.
        order_observed: The observed order (three or more levels; None otherwise, or when not computable).
        note: Why the observed order was not used (empty otherwise).
    """

    value: float
    error_estimate: float
    finest: float
    finest_error_estimate: float
    order: float
    order_observed: float | None
    note: str = ""


def _extrapolate(h1: float, h2: float, f1: float, f2: float, p: float) -> float:
    return f1 + (f1 - f2) / ((h2 / h1) ** p - 1.0)


def _observed_order(h: Sequence[float], f: Sequence[float]) -> float | None:
    """``p`` with ``(f₃ − f₂)/(f₂ − f₁) = (h₃^p − h₂^p)/(h₂^p − h₁^p)`` (bisection; that ratio grows with p)."""
    d21, d32 = f[1] - f[0], f[2] - f[1]
    if d21 == 0.0 or d32 / d21 <= 0.0:
        return None
    q = d32 / d21

    def g(p: float) -> float:
        return (h[2] ** p - h[1] ** p) / (h[1] ** p - h[0] ** p) - q

    lo, hi = 1.0e-3, 20.0
    if g(lo) > 0.0 or g(hi) < 0.0:
        return None
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if g(mid) > 0.0:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def richardson(h: Sequence[float], values: Sequence[float]) -> Extrapolation:
    """Extrapolate ``values`` computed at mesh sizes ``h`` to ``h → 0`` (see the module docstring).

    Args:
        h: Mesh sizes (any common unit or scale), one per value; at least one, all distinct and positive.
        values: The quantity on each mesh.

    Returns:
        The extrapolation (one level: the value itself, error estimate ``nan``).

    Raises:
        ValueError: Mismatched lengths, no level, or non-positive or repeated sizes.
    """
    if len(h) != len(values) or not h:
        raise ValueError(f"richardson: {len(h)} sizes for {len(values)} values")
    pairs = sorted(zip((float(x) for x in h), (float(v) for v in values), strict=True))
    hs, fs = [p[0] for p in pairs], [p[1] for p in pairs]
    if hs[0] <= 0.0 or len(set(hs)) != len(hs):
        raise ValueError(f"richardson: mesh sizes must be positive and distinct, got {list(h)}")
    f1 = fs[0]
    if len(hs) == 1:
        return Extrapolation(f1, math.nan, f1, math.nan, NOMINAL_ORDER, None, "one mesh: nothing to extrapolate")
    nominal = _extrapolate(hs[0], hs[1], fs[0], fs[1], NOMINAL_ORDER)
    if len(hs) == 2:
        err = abs(nominal - f1)
        return Extrapolation(nominal, err, f1, err, NOMINAL_ORDER, None, "two meshes: order 2 assumed")
    observed = _observed_order(hs[:3], fs[:3])
    note = ""
    if observed is None:
        d21, d32 = fs[1] - fs[0], fs[2] - fs[1]
        why = "change sign" if d21 * d32 <= 0.0 else "do not shrink with h"
        note = f"the differences between levels {why}: not in the asymptotic range, order 2 assumed"
    elif not MIN_ORDER <= observed <= MAX_ORDER:
        note = f"observed order {observed:.3g} outside [{MIN_ORDER:g}, {MAX_ORDER:g}]: order 2 assumed"
    if note:
        value, p = nominal, NOMINAL_ORDER
    else:
        assert observed is not None  # for mypy: note is empty only with an observed order
        value, p = _extrapolate(hs[0], hs[1], fs[0], fs[1], observed), observed
    correction = abs(value - f1)
    # without a usable observed order the assumed one is all there is: trust the extrapolation no better than the
    # correction it applies
    err = correction if note else max(abs(value - nominal), _MIN_ERROR_SHARE * correction)
    return Extrapolation(value, err, f1, correction, p, observed, note)
