"""The looseness search shared by the 2D and the 3D packer: deposits, the best so far, the bisection.

Both packers make deposits whose solid fraction falls (on average) as a scalar *looseness* grows, and look
for the looseness that gives the target fraction. They differ in how they open the bracket (the 2D packer
tries both ends, the 3D one the middle first) but share the bookkeeping and the bisection, which live here so
that both make the same RNG draws in the same order as long as they call :meth:`LoosenessSearch.run` in the
same order.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from microsim.errors import GeometryError
from microsim.geometry.particles import PackingResult, Particles, unreachable_fraction

__all__ = ["LoosenessSearch"]


class LoosenessSearch:
    """Deposits made so far for one target fraction, and the best of them.

    Args:
        deposit: ``(attempt, looseness) -> particles``: one deposit on RNG sub-stream ``attempt``.
        fraction: Solid fraction of a deposit in the box.
        target: The fraction asked for.
        aim: Stop as soon as a deposit is this close to the target (well inside the tolerance).
    """

    def __init__(
        self,
        deposit: Callable[[int, float], Particles],
        fraction: Callable[[Particles], float],
        target: float,
        aim: float,
    ) -> None:
        self._deposit = deposit
        self._fraction = fraction
        self.target = target
        self.aim = aim
        self.t0 = time.perf_counter()
        #: ``(attempt, looseness, fraction)`` of every deposit, in order.
        self.trials: list[tuple[int, float, float]] = []
        # (|error|, particles, fraction, looseness, attempt) of the closest deposit so far
        self._best: tuple[float, Particles, float, float, int] | None = None
        self.lo_all, self.hi_all = float("inf"), float("-inf")

    @property
    def best_error(self) -> float:
        """Distance of the closest deposit to the target (``inf`` before the first deposit)."""
        return float("inf") if self._best is None else self._best[0]

    @property
    def done(self) -> bool:
        """Whether a deposit within :attr:`aim` of the target was found."""
        return self._best is not None and self._best[0] <= self.aim

    def run(self, attempt: int, looseness: float) -> float:
        """Make one deposit, record it and return its fraction."""
        parts = self._deposit(attempt, looseness)
        f = self._fraction(parts)
        self.trials.append((attempt, looseness, f))
        self.lo_all, self.hi_all = min(self.lo_all, f), max(self.hi_all, f)
        err = abs(f - self.target)
        # strictly closer only: on a tie the earlier deposit stays (the packers' results depend on it)
        if self._best is None or err < self._best[0]:
            self._best = (err, parts, f, looseness, attempt)
        return f

    def bisect(self, attempt: int, lo: float, hi: float, steps: int) -> None:
        """Bisect the looseness in ``[lo, hi]`` (``f(lo) > target > f(hi)`` on average) for ``steps`` deposits.

        Stops early at a deposit within :attr:`aim`; the fraction is noisy in the looseness, so the bracket
        is a guide, not a guarantee.
        """
        for _ in range(steps):
            mid = 0.5 * (lo + hi)
            f = self.run(attempt, mid)
            if abs(f - self.target) <= self.aim:
                break
            if f > self.target:
                lo = mid
            else:
                hi = mid

    def result(
        self,
        tolerance: float,
        loosest: str,
        box: tuple[float, float, float, float],
        deposition: Callable[[float], tuple[float, float]],
    ) -> PackingResult:
        """The closest deposit as a :class:`PackingResult`, if it is within ``tolerance``.

        Args:
            tolerance: Allowed deviation from the target.
            loosest: Name of the loosest deposit mode (for the error message).
            box: Width, cathode thickness, mean radius and radius spread [µm] (for the error message).
            deposition: ``looseness -> (p_stick, capture_um)`` reported for the accepted deposit.

        Raises:
            GeometryError: No deposit was made, or the closest misses the tolerance.
        """
        if self._best is None:  # cannot happen: every attempt runs at least one deposit
            raise GeometryError("packing: no deposit was made")
        err, parts, f, looseness, attempt = self._best
        if err > tolerance:
            raise unreachable_fraction(self.target, tolerance, f, (self.lo_all, self.hi_all), loosest, box)
        p_stick, capture = deposition(looseness)
        return PackingResult(
            particles=parts,
            achieved_fraction=f,
            target_fraction=self.target,
            p_stick=p_stick,
            capture_um=capture,
            attempt=attempt,
            n_trials=len(self.trials),
            elapsed_s=time.perf_counter() - self.t0,
            trials=tuple(self.trials),
        )
