"""Run the cases of a sweep: resumable, fault-isolated, in MPI groups.

``mpiexec -n N microsim sweep SWEEP.toml --out DIR --ranks-per-case k`` splits ``COMM_WORLD`` into N/k groups
(``color = rank // k``); the pending cases are dealt to the groups before any runs (static: MPI and the batch
scheduler are the engine, there is no scheduler here), the most expensive first, each to the group with the least
estimated work so far (:func:`deal_cases`), and each case runs on its group's communicator.

MPI rules followed here:

* The sweep is parsed and validated on every rank before this module is used (deterministic, so a bad
  sweep raises the same ``ConfigError`` everywhere, before any collective call).
* Rank-0-only work (checking and recording ``DIR``, rewriting ``results.csv``) contains no collective call;
  its outcome is broadcast afterwards so that all ranks raise together or go on together.
* A case's exception is caught on every rank of its group; the group then agrees on the outcome with an
  ``allgather`` of the (possibly empty) error before anyone writes the status, so one rank's failure never
  leaves the others waiting. (A study must itself raise on all ranks together, which microsim's studies
  do: their rank-0 steps broadcast their errors. A rank that fails alone *inside* a collective of the study
  cannot be rescued from outside.)
* ``results.csv`` is rewritten by the group leader after each case (atomic rename, so concurrent leaders
  only race on which complete file is the latest) and once more by world rank 0 after a world barrier.

Needs mpi4py and, to run cases, DOLFINx (imported lazily through :func:`microsim.studies.run_study`).
"""

from __future__ import annotations

import contextlib
import math
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from microsim import checkpoint, interrupt, outputs
from microsim import config as config_mod
from microsim.errors import ConfigError, Interrupted, MicrosimError, one_line
from microsim.sweep import store
from microsim.sweep.spec import Case, Sweep

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mpi4py import MPI
    from tqdm import tqdm

__all__ = [
    "SweepResult",
    "check_ranks_per_case",
    "deal_cases",
    "estimated_cost",
    "exclusive_store",
    "run_cases",
    "run_sweep",
    "select_cases",
]

PROG = "microsim sweep"
#: Where a sweep keeps the meshes its cases share, under its output folder (unless the case sets output.mesh_cache).
MESH_CACHE_DIRNAME = "mesh-cache"
#: The scalar shown in progress lines (when the study produces it).
HEADLINE = ("resistance_ohm_cm2", "interfacial_effective", "R_eff", "Ω·cm²")


class SweepResult(TypedDict):
    """What :func:`run_sweep` returns (the same on every rank)."""

    selected: list[int]  # indices of the cases run by this invocation
    states: list[str]  # every case's final state (:func:`microsim.sweep.store.case_state`)
    counts: dict[str, int]  # number of cases per state


class _CaseResult(TypedDict):
    status: dict[str, object]  # as written to the case's status.json
    summary: dict[str, object] | None  # the study's summary; None when the case failed


def select_cases(states: Sequence[str], case_index: int | None = None, retry_failed: bool = False) -> list[int]:
    """Indices of the cases to run now.

    Done cases are never rerun. Pending cases (never started, or ``running`` from a killed job) always run.
    Failed cases run only with ``retry_failed`` (a plain rerun leaves them failed: most failures, such as an
    unreachable packing fraction, would just fail again).

    Args:
        states: Every case's state (:func:`microsim.sweep.store.case_state`).
        case_index: Consider only this case.
        retry_failed: Also rerun failed cases.
    """
    candidates = range(len(states)) if case_index is None else [case_index]
    wanted = {store.PENDING, store.RUNNING} | ({store.FAILED} if retry_failed else set())
    return [i for i in candidates if states[i] in wanted]


def estimated_cost(cfg: config_mod.Config) -> float:
    """A rough relative cost of running ``cfg``, for dealing cases to groups (not a prediction of time).

    Cells scale as ``(W/h)^(dim-1) · (L/h)`` (box width W, stack thickness L, mesh size h); a rate study costs
    about four setups per C-rate, an impedance study a setup plus a little per frequency (measured on the paper's
    3D cases: a 0.1C discharge about 4x an impedance spectrum of the same mesh).
    """
    g, study = cfg.geometry, cfg.study
    h = float(g.mesh_size_um)
    cells = (float(g.width_um) / h) ** (int(g.dim) - 1) * (float(g.cathode_thickness_um + g.membrane_thickness_um) / h)
    if study.kind == "rate":
        work = 1.0 + 4.0 * len(study.c_rates or ())
    elif study.kind == "impedance":
        decades = math.log10(float(study.frequency_max_Hz) / float(study.frequency_min_Hz))
        work = 1.0 + 0.03 * decades * int(study.points_per_decade)
    elif study.kind in ("discharge", "protocol"):
        work = 5.0
    else:
        work = 1.0
    return cells * work


def deal_cases(selected: Sequence[int], costs: Sequence[float], n_groups: int) -> list[list[int]]:
    """Deal ``selected`` case indices to ``n_groups`` groups: longest first, each to the least-loaded group.

    Deterministic (ties go to the lower group and the lower index), so every rank computes the same deal with no
    communication. Within a group the cases keep their sweep order.

    Args:
        selected: Indices of the cases to run.
        costs: Estimated cost of each selected case (same order as ``selected``).
        n_groups: Number of groups.
    """
    load = [0.0] * n_groups
    out: list[list[int]] = [[] for _ in range(n_groups)]
    for k in sorted(range(len(selected)), key=lambda k: (-costs[k], selected[k])):
        g = min(range(n_groups), key=lambda g: (load[g], g))
        load[g] += costs[k]
        out[g].append(selected[k])
    return [sorted(group) for group in out]


def check_ranks_per_case(ranks_per_case: int, size: int) -> None:
    """Raise a ConfigError unless ``ranks_per_case`` is >= 1 and divides ``size`` (the number of MPI ranks)."""
    if ranks_per_case < 1 or size % ranks_per_case:
        raise ConfigError(
            f"--ranks-per-case {ranks_per_case}: must be >= 1 and divide the number of MPI ranks ({size})"
        )


def _now() -> tuple[float, str]:
    t = time.time()
    return t, datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


class _Reporter:
    """Progress: a tqdm bar on world rank 0 when stderr is a terminal, and one stdout line per finished case.

    Counts come from the status files (the only shared state), so every group leader can report the whole
    sweep's progress without any communication between groups.
    """

    def __init__(self, cases: Sequence[Case], out_dir: Path, selected: list[int], t0: float, use_bar: bool) -> None:
        self.cases, self.out_dir, self.selected, self.t0 = cases, out_dir, selected, t0
        self.bar: tqdm | None = None
        if use_bar:
            from tqdm import tqdm

            self.bar = tqdm(total=len(selected), desc=PROG, unit="case", dynamic_ncols=True)

    def scan(self) -> tuple[dict[str, int], int]:
        """State counts of all cases, and how many selected cases finished since this invocation began."""
        states = []
        finished = 0
        for i, case in enumerate(self.cases):
            state = store.case_state(self.out_dir, case.hash)
            states.append(state)
            if i in self.selected and state in (store.DONE, store.FAILED):
                status = store.read_status(self.out_dir, case.hash) or {}
                if float(status.get("end_epoch") or 0.0) >= self.t0:
                    finished += 1
        return store.counts(states), finished

    def case_finished(self, case: Case, status: Mapping[str, object], summary: Mapping[str, object] | None) -> None:
        c, finished = self.scan()
        remaining = max(len(self.selected) - finished, 0)
        elapsed = time.time() - self.t0
        eta = f"{elapsed / finished * remaining:.0f} s" if finished else "?"
        head = ""
        if summary is not None:
            table = summary.get(HEADLINE[0])
            value = table.get(HEADLINE[1]) if isinstance(table, dict) else None
            if isinstance(value, int | float) and math.isfinite(value):
                head = f" | {HEADLINE[2]} = {value:.4g} {HEADLINE[3]}"
        if status["state"] == store.DONE:
            what = "done"
        elif status["state"] == store.INTERRUPTED:
            what = "interrupted (checkpoint kept; the next invocation continues it)"
        else:
            what = f"FAILED ({status['error_type']}: {status['error']})"
        line = (
            f"{PROG}: [{finished}/{len(self.selected)}] case {case.index} {case.hash} {what} in "
            f"{status['elapsed_s']:.1f} s: {case.label()}{head} | done {c['done']}, failed {c['failed']}, "
            f"running {c['running']}, left {remaining}, ETA {eta}"
        )
        if self.bar is not None:
            self.bar.write(line)
            self.bar.n = finished
            self.bar.set_postfix(done=c["done"], failed=c["failed"], running=c["running"], refresh=False)
            self.bar.refresh()
        else:
            try:
                print(line, flush=True)
            except OSError:  # stdout closed (a pipe into `head`, a dead terminal): the sweep goes on silently
                pass

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_case(case: Case, out_dir: Path, group: MPI.Comm, world_rank: int, attempt: int) -> _CaseResult:
    """Run one case on ``group``; record its status; never raise for a failure of the case itself.

    Returns:
        The final status (identical on every rank of the group).
    """
    from microsim.studies import run_study  # DOLFINx: only once the MPI stack is loaded

    cdir = store.case_dir(out_dir, case.hash)
    cfg = case.config
    if not cfg.output.mesh_cache:  # cases that share a geometry mesh it once (microsim.mesh_cache)
        cfg = config_mod.replace(cfg, **{"output.mesh_cache": str(out_dir / MESH_CACHE_DIRNAME)})
    hosts = group.allgather(socket.gethostname())
    world_ranks = group.allgather(world_rank)
    t_start, start = _now()
    t_start = group.bcast(t_start, root=0)
    start = group.bcast(start, root=0)

    prep_error: str | None = None
    resume = False
    if group.rank == 0:
        # A later attempt continues from the checkpoints an interrupted one left (a killed 3D discharge would
        # otherwise start again from zero); a checkpoint of another configuration falls back to a fresh run.
        resume = attempt > 1 and _has_checkpoint(cdir)
        try:
            cdir.mkdir(parents=True, exist_ok=True)
            store.write_text_atomic(cdir / "config.toml", config_mod.dumps(cfg))
            # A summary left by an earlier, interrupted attempt must not pass for this attempt's result.
            (cdir / store.SUMMARY_NAME).unlink(missing_ok=True)
        except OSError as exc:
            prep_error = f"cannot prepare {cdir}: {exc}"
    prep_error, resume = group.bcast((prep_error, resume), root=0)
    status: dict[str, object] = {
        "state": store.RUNNING,
        "index": case.index,
        "hash": case.hash,
        "values": case.values,
        "attempt": attempt,
        "resumed": resume,
        "start": start,
        "start_epoch": t_start,
        "end": None,
        "end_epoch": None,
        "elapsed_s": None,
        "host": hosts[0],
        "hosts": sorted(set(hosts)),
        "ranks": group.size,
        "world_ranks": world_ranks,
        "error": None,
        "error_type": None,
    }
    if prep_error is None:
        outputs.write_json(group, cdir / store.STATUS_NAME, status)

    error: tuple[str, str, str] | None = None
    summary: dict[str, object] | None = None
    if prep_error is not None:
        error = ("OSError", prep_error, "")
    else:
        try:
            summary, resumed = _run_or_resume(run_study, cfg, cdir, group, resume)
            status["resumed"] = resumed
        except MicrosimError as exc:
            error = (type(exc).__name__, one_line(exc), "")
        except Exception as exc:  # recorded with its type and traceback; the sweep goes on
            error = (type(exc).__name__, one_line(exc), traceback.format_exc())
    # Agree on the outcome: a failure on any rank fails the case on all ranks of the group.
    errors = group.allgather(error)
    first = next((e for e in errors if e is not None), None)
    t_end, end = _now()
    t_end = group.bcast(t_end, root=0)
    end = group.bcast(end, root=0)
    status.update(end=end, end_epoch=t_end, elapsed_s=t_end - t_start)
    if first is None:
        status["state"] = store.DONE
    elif first[0] == Interrupted.__name__:  # stopped with its checkpoint: the next invocation continues it
        status.update(state=store.INTERRUPTED, error=first[1])
        summary = None
    else:
        status.update(state=store.FAILED, error_type=first[0], error=first[1] or first[0])
        if first[2]:
            status["traceback"] = first[2]
        summary = None
    outputs.write_json(group, cdir / store.STATUS_NAME, status)
    return {"status": status, "summary": summary}


@contextlib.contextmanager
def exclusive_store(out_dir: Path, comm: MPI.Comm) -> Iterator[None]:
    """Hold ``out_dir``'s :class:`~microsim.sweep.store.StoreLock` on world rank 0 while the body runs; collective.

    Raises:
        ConfigError: On every rank, when another process holds the lock.
    """
    lock = store.StoreLock(out_dir)
    error: str | None = None
    warning: str | None = None
    if comm.rank == 0:
        try:
            warning = lock.acquire()
        except ConfigError as exc:
            error = str(exc)
        except OSError as exc:
            error = f"--out {out_dir}: cannot write: {exc}"
    error, warning = comm.bcast((error, warning), root=0)
    if error is not None:
        raise ConfigError(error)
    if warning is not None and comm.rank == 0:
        print(f"{PROG}: warning: {warning}", file=sys.stderr, flush=True)
    try:
        yield
    finally:
        if comm.rank == 0:
            lock.release()


def _has_checkpoint(cdir: Path) -> bool:
    """Whether a case folder holds a checkpoint (``checkpoint.npz``, or ``runs/*/checkpoint.npz`` of a rate study)."""
    return (cdir / checkpoint.FILENAME).is_file() or any((cdir / "runs").glob(f"*/{checkpoint.FILENAME}"))


def _run_or_resume(
    run_study: Callable[..., dict[str, object]], cfg: config_mod.Config, cdir: Path, group: MPI.Comm, resume: bool
) -> tuple[dict[str, object], bool]:
    """Run the case, from its checkpoints when ``resume``; a checkpoint that does not fit means a fresh run.

    Returns:
        The summary, and whether it continued from a checkpoint.
    """
    if resume and "checkpoint" in cfg.study.study_kind.groups:
        try:
            return run_study(cfg, cdir, group, restart=True), True
        except ConfigError as exc:  # raised on every rank alike, before the mesh (the study's check)
            if group.rank == 0:
                print(f"{PROG}: {cdir.name}: not resumed ({exc}); running it again", file=sys.stderr, flush=True)
    return run_study(cfg, cdir, group), False


def run_sweep(
    sweep: Sweep,
    out_dir: str | Path,
    comm: MPI.Comm,
    *,
    ranks_per_case: int = 1,
    case_index: int | None = None,
    retry_failed: bool = False,
    progress: bool = True,
) -> SweepResult:
    """Run the unfinished cases of a sweep into ``out_dir``; collective over ``comm``.

    Args:
        sweep: The parsed, validated sweep (:func:`microsim.sweep.load_sweep`), identical on every rank.
        out_dir: The sweep directory: empty/new, or holding this same sweep (then finished cases are kept).
        comm: The world communicator.
        ranks_per_case: Ranks per case; ``comm.size`` must be a multiple. Ignored with ``case_index`` (the
            case then runs on all of ``comm``).
        case_index: Run only this case (job arrays).
        retry_failed: Rerun failed cases too.
        progress: Report progress (bar on a terminal, else one line per finished case).

    Returns:
        ``{"selected": [...indices run now], "states": [...every case's final state], "counts": {...}}``,
        the same on every rank.

    Raises:
        ConfigError: Bad ``ranks_per_case``/``case_index``, or ``out_dir`` holds a different sweep (nothing
            is written then), on every rank.
    """
    out_dir = Path(out_dir)
    n = len(sweep.cases)
    # Argument checks are deterministic: every rank raises the same error before any collective call.
    if case_index is not None:
        if not 0 <= case_index < n:
            raise ConfigError(f"--case-index {case_index}: must be in [0, {n - 1}] (the sweep has {n} cases)")
        ranks_per_case = comm.size
    check_ranks_per_case(ranks_per_case, comm.size)
    # one invocation per folder (job-array tasks, one case each, share it by design)
    with exclusive_store(out_dir, comm) if case_index is None else contextlib.nullcontext():
        return _run_sweep(sweep, out_dir, comm, ranks_per_case, case_index, retry_failed, progress)


def _run_sweep(
    sweep: Sweep,
    out_dir: Path,
    comm: MPI.Comm,
    ranks_per_case: int,
    case_index: int | None,
    retry_failed: bool,
    progress: bool,
) -> SweepResult:
    n = len(sweep.cases)
    definition = sweep.definition()
    error: str | None = None
    states: list[str] | None = None
    t0 = time.time()
    use_bar = False
    if comm.rank == 0:
        try:
            states = store.prepare_dir(out_dir, definition)
        except MicrosimError as exc:
            error = str(exc)
        except OSError as exc:
            error = f"--out {out_dir}: cannot write: {exc}"
        use_bar = progress and sys.stderr.isatty() and case_index is None
    error, states, t0, use_bar = comm.bcast((error, states, t0, use_bar), root=0)
    if error is not None:
        raise ConfigError(error)
    if states is None:  # rank 0 either fills it or reports an error
        raise MicrosimError("sweep: no case states received from rank 0")

    selected = select_cases(states, case_index, retry_failed)
    if comm.rank == 0 and progress:
        c = store.counts(states)
        skipped = "" if retry_failed or not c["failed"] else f"; {c['failed']} failed kept (use --retry-failed)"
        print(
            f"{PROG}: {n} cases, {c['done']} done, {len(selected)} to run on {comm.size // ranks_per_case} group(s) "
            f"of {ranks_per_case} rank(s){skipped}: {out_dir}",
            flush=True,
        )
    stopped: Interrupted | None = None
    try:
        final = run_cases(
            sweep.cases, selected, out_dir, comm, ranks_per_case=ranks_per_case, progress=progress,
            use_bar=use_bar, t0=t0, on_case_done=lambda: store.write_results(out_dir, definition),
        )  # fmt: skip
    except Interrupted as exc:  # on every rank: write the results of what finished, then stop
        stopped = exc
    write_error: str | None = None
    if comm.rank == 0:
        try:
            store.write_results(out_dir, definition)
        except (OSError, MicrosimError) as exc:
            write_error = f"{out_dir / store.RESULTS_NAME}: not written ({exc})"
    write_error = comm.bcast(write_error, root=0)
    if write_error is not None:
        raise MicrosimError(write_error)
    if stopped is not None:
        raise stopped
    counts = store.counts(final)
    if comm.rank == 0 and progress:
        print(
            f"{PROG}: {counts['done']}/{n} done, {counts['failed']} failed, "
            f"{counts['pending'] + counts['running']} unfinished ({time.time() - t0:.1f} s); "
            f"results: {out_dir / store.RESULTS_NAME}",
            flush=True,
        )
    return {"selected": selected, "states": final, "counts": counts}


def run_cases(
    cases: Sequence[Case],
    selected: Sequence[int],
    out_dir: Path,
    comm: MPI.Comm,
    *,
    ranks_per_case: int = 1,
    progress: bool = True,
    use_bar: bool = False,
    t0: float | None = None,
    on_case_done: Callable[[], object] | None = None,
) -> list[str]:
    """Run ``cases[i]`` for each ``i`` in ``selected`` in groups of ``ranks_per_case`` ranks; collective.

    The selected cases are dealt to the ``comm.size // ranks_per_case`` groups by :func:`deal_cases` (the
    estimated cost of each, :func:`estimated_cost`, balanced over the groups); each case's folder
    is ``out_dir/<hash>`` (:func:`microsim.sweep.store.case_dir`). A failed case is recorded in its
    ``status.json`` and the others go on.

    Args:
        cases: Every case (the progress line counts all of them).
        selected: Indices into ``cases`` to run now (e.g. from :func:`select_cases`).
        out_dir: The case store.
        comm: The communicator to split; ``comm.size`` must be a multiple of ``ranks_per_case``.
        ranks_per_case: Ranks per case.
        progress: One line per finished case (and a bar with ``use_bar``) from each group leader.
        use_bar: Show a tqdm bar on ``comm`` rank 0.
        t0: Start time of the invocation (default now), for the ETA.
        on_case_done: Called by each group leader after each of its cases (e.g. to refresh a results table);
            an ``OSError`` or :class:`~microsim.errors.MicrosimError` from it is only warned about.

    Returns:
        Every case's final state, the same on every rank.

    Raises:
        ConfigError: ``ranks_per_case`` does not divide ``comm.size`` (on every rank, before any collective).
    """
    check_ranks_per_case(ranks_per_case, comm.size)
    # dolfinx initialises PETSc when it is first imported, collectively over COMM_WORLD: every rank imports it
    # before the split, or a group left without a case would keep the others waiting in PetscInitialize
    import dolfinx_solver  # noqa: F401

    import dolfinx  # noqa: F401

    t0 = time.time() if t0 is None else t0
    n_groups = comm.size // ranks_per_case
    color = comm.rank // ranks_per_case
    group = comm.Split(color, comm.rank)
    mine = deal_cases(list(selected), [estimated_cost(cases[i].config) for i in selected], n_groups)[color]
    leader = group.rank == 0
    reporter = None
    if leader and progress:
        reporter = _Reporter(cases, out_dir, list(selected), t0, use_bar and comm.rank == 0)
    stopped = False
    try:
        for i in mine:
            if interrupt.requested(group):  # asked to stop (SIGTERM, --max-wall-time): start no new case
                stopped = True
                break
            case = cases[i]
            attempt = 1
            if leader:
                previous = store.read_status(out_dir, case.hash) or {}
                attempt = int(previous.get("attempt") or 0) + 1
            attempt = group.bcast(attempt, root=0)
            result = _run_case(case, out_dir, group, comm.rank, attempt)
            if leader:
                if on_case_done is not None:
                    try:  # refreshed as cases finish; a failure here is repaired by the caller's final rewrite
                        on_case_done()
                    except (OSError, MicrosimError) as exc:
                        print(f"{PROG}: warning: results not refreshed ({exc})", file=sys.stderr, flush=True)
                if reporter is not None:
                    reporter.case_finished(case, result["status"], result["summary"])
            if result["status"]["state"] == store.INTERRUPTED:
                stopped = True
                break
    finally:
        if reporter is not None:
            reporter.close()
    group.Free()

    comm.barrier()  # every group has written its last status
    final: list[str] | None = None
    if comm.rank == 0:
        final = [store.case_state(out_dir, c.hash) for c in cases]
    final = comm.bcast(final, root=0)
    if final is None:
        raise MicrosimError("sweep: no final case states received from rank 0")
    if any(comm.allgather(stopped)):
        left = sum(1 for st in final if st != store.DONE and st != store.FAILED)
        raise Interrupted(
            f"stopped on request with {left} case(s) unfinished in {out_dir}; the same command continues them "
            "(an interrupted case from its checkpoint)"
        )
    return final
