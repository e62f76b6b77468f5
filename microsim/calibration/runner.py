"""``microsim calibrate``: the fit on MPI groups, every case in a resumable store, every evaluation recorded.

Layout of ``--out DIR``::

    DIR/cases/<hash>/        one folder per case (config.toml, status.json, summary.json, the study's files)
    DIR/history.csv          one row per evaluated point: kind, knob values, model values, scaled residuals, cost
    DIR/calibration.json     the result (fitted values, intervals, correlation, identifiability, seed spread)
    DIR/parameter_set.json   the fit as a named parameter set (factors on the named laws; docs/parameters.md §9)
    DIR/mesh-cache/          the meshes the cases share (one per seed and cell)
    DIR/calibration.toml     a copy of the calibration file

MPI: every rank runs the same optimiser on the same numbers (residuals are computed on rank 0 and broadcast), so
all ranks take the same steps; each batch of cases (a point, or the Jacobian's columns at once) is dealt to the
groups of ``--ranks-per-case`` ranks by :func:`microsim.sweep.runner.run_cases`. A rerun finds the finished cases
in ``DIR/cases`` and replays the fit up to where it stopped (the optimiser is deterministic).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from microsim.calibration.cases import EvaluationCase, evaluation_cases, model_values
from microsim.calibration.fit import Evaluation, FitResult, fit, parameter_set_record, result_record
from microsim.calibration.spec import Calibration
from microsim.errors import MicrosimError
from microsim.sweep import store
from microsim.sweep.runner import check_ranks_per_case, exclusive_store, run_cases

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mpi4py import MPI

__all__ = ["CaseEvaluator", "run_calibration"]

HISTORY_NAME = "history.csv"
RESULT_NAME = "calibration.json"
#: The fit as a parameter set; copy it to microsim/parameters/calibrated/NAME.json to register it.
SET_NAME = "parameter_set.json"


class CaseEvaluator:
    """Evaluate batches of points by running their cases (collective over ``comm``).

    Args:
        cal: The calibration.
        out_dir: ``DIR``; cases go to ``DIR/cases``.
        comm: The world communicator.
        ranks_per_case: Ranks per case.
        retry_failed: Rerun cases that failed in an earlier invocation.
        progress: One line per finished case.
    """

    def __init__(
        self,
        cal: Calibration,
        out_dir: Path,
        comm: MPI.Comm,
        ranks_per_case: int = 1,
        retry_failed: bool = False,
        progress: bool = True,
    ) -> None:
        self.cal, self.comm = cal, comm
        self.cases_dir = out_dir  # the sweep store: cases in out_dir/cases/<hash>, meshes in out_dir/mesh-cache
        self.ranks_per_case, self.retry_failed, self.progress = ranks_per_case, retry_failed, progress
        self.cases_run = 0

    def __call__(self, points: Sequence[Sequence[float]]) -> list[dict[int, list[float]]]:
        """Run every unfinished case of ``points`` and return each point's model values per seed."""
        per_point: list[list[EvaluationCase]] = [evaluation_cases(self.cal, p) for p in points]
        unique = list({ec.case.hash: ec.case for cases in per_point for ec in cases}.values())
        states: list[str] | None = None
        if self.comm.rank == 0:
            states = [store.case_state(self.cases_dir, c.hash) for c in unique]
        states = self.comm.bcast(states, root=0)
        assert states is not None
        wanted = {store.PENDING, store.RUNNING} | ({store.FAILED} if self.retry_failed else set())
        selected = [i for i, s in enumerate(states) if s in wanted]
        if selected:
            run_cases(unique, selected, self.cases_dir, self.comm, ranks_per_case=self.ranks_per_case,
                      progress=self.progress)  # fmt: skip
            self.cases_run += len(selected)
        values: list[dict[int, list[float]]] | None = None
        error: str | None = None
        if self.comm.rank == 0:
            try:
                values = [model_values(self.cal, cases, self.cases_dir) for cases in per_point]
            except MicrosimError as exc:
                error = str(exc)
        values, error = self.comm.bcast((values, error), root=0)
        if error is not None:
            raise MicrosimError(error)
        assert values is not None
        return values


def history_text(cal: Calibration, evaluations: Sequence[Evaluation]) -> str:
    """``history.csv``: one row per evaluated point (per-seed values in ``seed S: point`` columns)."""
    labels = cal.residual_labels()
    head = ["evaluation", "kind"] + [f"{k.key} [{k.unit}]" for k in cal.knobs] + ["cost"]
    head += [f"model: {p}" for p in labels] + [f"residual: {p}" for p in labels]
    head += [f"seed {s}: {p}" for s in cal.seeds for p in labels]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(head)
    for e in evaluations:
        row: list[object] = [e.index, e.kind, *(f"{v:.10g}" for v in e.values), f"{e.cost:.6g}"]
        row += [f"{v:.6g}" for v in e.model] + [f"{r:.6g}" for r in e.residuals]
        row += [f"{v:.6g}" for s in cal.seeds for v in e.per_seed[s]]
        writer.writerow(row)
    return buf.getvalue()


def run_calibration(
    cal: Calibration,
    out_dir: str | Path,
    comm: MPI.Comm,
    *,
    ranks_per_case: int = 1,
    retry_failed: bool = False,
    progress: bool = True,
) -> FitResult:
    """Fit ``cal``, writing the case store, the history and the result into ``out_dir``; collective.

    Raises:
        ConfigError: Bad ``ranks_per_case`` (before any collective call).
        MicrosimError: A case failed (named), or ``out_dir`` cannot be written.
    """
    check_ranks_per_case(ranks_per_case, comm.size)
    out_dir = Path(out_dir)
    error: str | None = None
    if comm.rank == 0:
        try:
            (out_dir / store.CASES_DIRNAME).mkdir(parents=True, exist_ok=True)
            if cal.source is not None:
                store.write_text_atomic(out_dir / "calibration.toml", Path(cal.source).read_text())
        except OSError as exc:
            error = f"--out {out_dir}: cannot write: {exc}"
    error = comm.bcast(error, root=0)
    if error is not None:
        raise MicrosimError(error)
    evaluator = CaseEvaluator(cal, out_dir, comm, ranks_per_case, retry_failed, progress)
    seen: list[Evaluation] = []
    t0 = time.time()

    def record(ev: Evaluation) -> None:
        seen.append(ev)
        if comm.rank == 0:  # no collective call here
            store.write_text_atomic(out_dir / HISTORY_NAME, history_text(cal, seen))
            if progress:
                parts = ", ".join(f"{k.key} = {v:.4g}" for k, v in zip(cal.knobs, ev.values, strict=True))
                print(f"microsim calibrate: evaluation {ev.index} ({ev.kind}): {parts}: cost {ev.cost:.4g}", flush=True)

    with exclusive_store(out_dir, comm):  # one invocation per store
        result = fit(cal, evaluator, record)
    if comm.rank == 0:
        rec = result_record(cal, result)
        rec["wall_time_s"] = time.time() - t0
        rec["cases_run_now"] = evaluator.cases_run
        store.write_text_atomic(out_dir / RESULT_NAME, json.dumps(rec, indent=2, allow_nan=False) + "\n")
        text = json.dumps(parameter_set_record(cal, result), indent=2, allow_nan=False) + "\n"
        store.write_text_atomic(out_dir / SET_NAME, text)
    comm.barrier()
    return result
