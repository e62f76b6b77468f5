"""``microsim paper``: every row and spectrum of a paper file, on MPI groups, resumable, then the report.

Layout of ``--out DIR``::

    DIR/cases/<hash>/     one folder per case (the sweep store: config.toml, status.json, summary.json, ...)
    DIR/mesh-cache/       the meshes the cases share
    REPORT/               results.json, results.csv, the plots, the resolved case files (microsim.paper.report)

A rerun finds the finished cases and runs only the rest; a failed case is recorded and the others go on (the
report names it and leaves its point without a model value). ``--quick`` runs the paper file's ``[quick]``
variant: its seeds and overrides (a smaller box), a separate set of cases in the same store.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microsim.errors import ConfigError, MicrosimError
from microsim.paper.cases import paper_cases
from microsim.paper.report import write_report
from microsim.paper.spec import PaperSpec
from microsim.sweep import store
from microsim.sweep.runner import check_ranks_per_case, exclusive_store, run_cases

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mpi4py import MPI

__all__ = ["run_paper"]


def _read_calibration(path: str | Path | None) -> dict[str, Any] | None:
    """The calibration result, read on every rank before any collective call (a bad file fails everywhere)."""
    if path is None:
        return None
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--calibration-result {path}: cannot read a calibration.json: {exc}") from None
    if not isinstance(data, dict) or "knobs" not in data or "points" not in data:
        raise ConfigError(f"--calibration-result {path}: not a calibration.json (no 'knobs' and 'points')")
    return data


def run_paper(
    spec: PaperSpec,
    out_dir: str | Path,
    comm: MPI.Comm,
    *,
    report_dir: str | Path | None = None,
    quick: bool = False,
    ranks_per_case: int = 1,
    retry_failed: bool = False,
    progress: bool = True,
    calibration_result: str | Path | None = None,
) -> dict[str, Any]:
    """Run every unfinished case of ``spec`` and write the report; collective.

    Args:
        spec: The paper file.
        out_dir: The case store.
        comm: The world communicator.
        report_dir: Where the report goes (default ``out_dir/report``).
        quick: Run the ``[quick]`` variant.
        ranks_per_case: Ranks per case; ``comm.size // ranks_per_case`` cases run at once.
        retry_failed: Rerun cases that failed in an earlier invocation.
        progress: One line per finished case.
        calibration_result: The calibration's ``calibration.json``, for the README's fitted values and
            sensitivity table.

    Returns:
        The report's record (:func:`microsim.paper.report.collect`), on every rank; with ``wall_time_s``,
        ``cases_run_now`` and ``cases_failed``.

    Raises:
        ConfigError: Bad ``ranks_per_case`` or an invalid case (before any collective call).
        MicrosimError: ``out_dir`` or ``report_dir`` cannot be written.
    """
    check_ranks_per_case(ranks_per_case, comm.size)
    calibration = _read_calibration(calibration_result)
    t0 = time.time()
    cases = paper_cases(spec, quick=quick)
    out_dir = Path(out_dir)
    report = Path(report_dir) if report_dir is not None else out_dir / "report"
    states: list[str] | None = None
    error: str | None = None
    if comm.rank == 0:
        try:
            (out_dir / store.CASES_DIRNAME).mkdir(parents=True, exist_ok=True)
            states = [store.case_state(out_dir, c.case.hash) for c in cases]
        except OSError as exc:
            error = f"--out {out_dir}: cannot write: {exc}"
    states, error = comm.bcast((states, error), root=0)
    if error is not None:
        raise MicrosimError(error)
    assert states is not None
    wanted = {store.PENDING, store.RUNNING} | ({store.FAILED} if retry_failed else set())
    selected = [i for i, s in enumerate(states) if s in wanted]
    sweep_cases = [c.case for c in cases]
    final = states
    if selected:
        with exclusive_store(out_dir, comm):  # one invocation per store
            final = run_cases(sweep_cases, selected, out_dir, comm, ranks_per_case=ranks_per_case,
                              progress=progress, t0=t0)  # fmt: skip
    result: dict[str, Any] | None = None
    if comm.rank == 0:
        try:
            result = write_report(spec, cases, out_dir, report, quick=quick, calibration=calibration)
            result["wall_time_s"] = time.time() - t0
            result["cases_run_now"] = len(selected)
            result["cases_failed"] = [c.case.hash for c, s in zip(cases, final, strict=True) if s == store.FAILED]
        except MicrosimError as exc:
            error = str(exc)
    result, error = comm.bcast((result, error), root=0)
    if error is not None:
        raise MicrosimError(error)
    assert result is not None
    return result
