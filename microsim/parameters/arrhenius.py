"""Arrhenius temperature laws: one branch, or two branches that meet at a break temperature.

Every transport and kinetic parameter of microsim follows

    p(T) = p_ref * exp[-(Ea / R) * (1/T - 1/T_ref)]

(docs/model.md §2.9). PAL's conductivity has two activation energies meeting at 50 °C (docs/parameters.md §2.1), which
:class:`TwoBranchArrhenius` expresses with the break temperature as the common reference, so the law is
continuous there by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from microsim.constants import GAS_CONSTANT


def arrhenius(p_ref: float, activation_J_mol: float, temperature_K: float, reference_K: float) -> float:
    """Evaluate ``p_ref * exp[-(Ea/R)(1/T - 1/T_ref)]``.

    Args:
        p_ref: Value at the reference temperature (any unit; the result has the same unit).
        activation_J_mol: Activation energy Ea in J/mol.
        temperature_K: Temperature T in kelvin (> 0).
        reference_K: Reference temperature T_ref in kelvin (> 0).

    Returns:
        The value at ``temperature_K``.

    Raises:
        ValueError: If a temperature is not positive.
    """
    if temperature_K <= 0.0 or reference_K <= 0.0:
        raise ValueError(f"temperatures must be positive kelvin, got T={temperature_K}, T_ref={reference_K}")
    return p_ref * math.exp(-(activation_J_mol / GAS_CONSTANT) * (1.0 / temperature_K - 1.0 / reference_K))


@dataclass(frozen=True)
class Arrhenius:
    """A one-branch Arrhenius law.

    Attributes:
        p_ref: Value at ``reference_K``.
        activation_J_mol: Activation energy in J/mol.
        reference_K: Reference temperature in kelvin.
    """

    p_ref: float
    activation_J_mol: float
    reference_K: float

    def __call__(self, temperature_K: float) -> float:
        """Return the value at ``temperature_K``."""
        return arrhenius(self.p_ref, self.activation_J_mol, temperature_K, self.reference_K)


@dataclass(frozen=True)
class TwoBranchArrhenius:
    """Two Arrhenius branches that share the value ``p_break`` at ``break_K``.

    Below ``break_K`` the law uses ``activation_low_J_mol``, at and above it ``activation_high_J_mol``.
    Using the break temperature as the reference of both branches makes the law continuous there.

    Attributes:
        p_break: Value at the break temperature.
        activation_low_J_mol: Activation energy below ``break_K`` (J/mol).
        activation_high_J_mol: Activation energy at and above ``break_K`` (J/mol).
        break_K: Break (and reference) temperature in kelvin.
    """

    p_break: float
    activation_low_J_mol: float
    activation_high_J_mol: float
    break_K: float

    def activation_J_mol(self, temperature_K: float) -> float:
        """Return the activation energy of the branch that applies at ``temperature_K``."""
        return self.activation_low_J_mol if temperature_K < self.break_K else self.activation_high_J_mol

    def __call__(self, temperature_K: float) -> float:
        """Return the value at ``temperature_K``."""
        return arrhenius(self.p_break, self.activation_J_mol(temperature_K), temperature_K, self.break_K)
