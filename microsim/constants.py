"""Physical constants (SI) and unit helpers."""

from __future__ import annotations

FARADAY = 96485.33212  # C/mol
GAS_CONSTANT = 8.314462618  # J/(mol K)
ZERO_CELSIUS = 273.15  # K
MICRON = 1.0e-6  # m: the length unit of every mesh microsim builds


def kelvin(temperature_C: float) -> float:
    """Convert a temperature from degrees Celsius to kelvin."""
    return temperature_C + ZERO_CELSIUS


def celsius(temperature_K: float) -> float:
    """Convert a temperature from kelvin to degrees Celsius."""
    return temperature_K - ZERO_CELSIUS


def thermal_voltage(temperature_K: float) -> float:
    """Return RT/F in volts."""
    return GAS_CONSTANT * temperature_K / FARADAY
