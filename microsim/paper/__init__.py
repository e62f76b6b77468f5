"""``microsim paper``: a calibrated model run against every row of a paper's table, fitted and predicted.

* :mod:`microsim.paper.spec`: the paper file (rows, spectra, the ratio, seeds, the quick variant);
* :mod:`microsim.paper.cases`: its cases, per seed, as sweep cases;
* :mod:`microsim.paper.runner`: runs them on MPI groups (resumable) and writes the report;
* :mod:`microsim.paper.report`: the report from the case store alone (no DOLFINx).
"""

from microsim.paper.spec import PaperSpec, load_paper

__all__ = ["PaperSpec", "load_paper"]
