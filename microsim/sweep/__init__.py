"""Parameter sweeps: many cases from one base configuration, resumable and run in MPI groups.

* :mod:`microsim.sweep.spec` parses and validates sweep files (pure Python).
* :mod:`microsim.sweep.store` reads and writes the sweep directory (pure Python).
* :mod:`microsim.sweep.runner` runs the cases (mpi4py; DOLFINx through the studies). It is *not* imported
  here, so ``import microsim.sweep`` works on a laptop without the solver stack.
"""

from __future__ import annotations

from microsim.sweep.spec import Axis, Case, Sweep, case_hash, load_sweep, sweep_from_dict
from microsim.sweep.store import collect_rows, read_sweep_record, write_results

__all__ = [
    "Axis",
    "Case",
    "Sweep",
    "case_hash",
    "collect_rows",
    "load_sweep",
    "read_sweep_record",
    "sweep_from_dict",
    "write_results",
]
