"""Calibration: fit at most four estimated parameters to measured rate tables and impedance ratios.

``spec`` parses the calibration file (pure Python), ``cases`` turns an evaluation point into sweep cases and reads
their results back, ``fit`` is the bounded least-squares fit with its uncertainty analysis, and ``runner`` runs it
over MPI groups with a resumable case store (``microsim calibrate``). docs/calibration.md describes the method.
"""

from microsim.calibration.spec import MAX_KNOBS, Calibration, CapacityTarget, Knob, RatioTarget, load_calibration

__all__ = ["MAX_KNOBS", "Calibration", "CapacityTarget", "Knob", "RatioTarget", "load_calibration"]
