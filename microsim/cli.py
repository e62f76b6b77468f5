"""Command line: ``microsim check|defaults|mesh|run|demo|sweep|calibrate|paper|report``.

``check`` and ``defaults`` are pure Python (no DOLFINx, no MPI). ``mesh``, ``run`` and ``demo`` import the
solver stack lazily, after the configuration has been validated, so a bad configuration fails fast and
identically on every rank before any MPI collective call.

Exit codes: 0 success; 2 a :class:`~microsim.errors.MicrosimError` (printed once as ``microsim: error: ...``,
no traceback) or a usage error; 1 an unexpected exception (with more than one MPI rank the traceback is
printed and ``MPI_Abort`` is called, so that the other ranks do not hang).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from microsim import config as config_mod
from microsim.config import Config
from microsim.errors import EXIT_INTERRUPTED, ConfigError, Interrupted, MicrosimError, ResourceError, one_line

PROG = "microsim"

#: The bundled cases (``geometries/`` beside the package).
GEOMETRIES_DIR = Path(__file__).resolve().parents[1] / "geometries"
DEFAULT_CASE = GEOMETRIES_DIR / "default-2d.toml"

# Rank variables set by common MPI launchers (used only to print errors once before MPI is imported).
_LAUNCHER_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "MPI_LOCALRANKID", "SLURM_PROCID")


#: Seconds a failing rank waits, after printing its traceback, before aborting the MPI job.
ABORT_GRACE_S = 0.5


def _rank() -> int:
    """This process's rank: from mpi4py when it is loaded, else from the launcher's environment, else 0."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None:
        return int(mpi.COMM_WORLD.rank)
    for var in _LAUNCHER_RANK_VARS:
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 0


def _world_size() -> int:
    mpi = sys.modules.get("mpi4py.MPI")
    return int(mpi.COMM_WORLD.size) if mpi is not None else 1


def _comm() -> Any:
    """Import the solver stack and return ``MPI.COMM_WORLD``.

    Raises:
        MicrosimError: The solver stack is not installed.
    """
    try:
        # dolfinx_solver must come first: it loads the MPI library that mpi4py, petsc4py and dolfinx link to.
        import dolfinx_solver  # noqa: F401

        from mpi4py import MPI
    except ImportError as exc:
        raise MicrosimError(
            f"the solver stack is not installed ({exc}); install it with: pip install 'microsim[fenics]'"
        ) from None
    return MPI.COMM_WORLD


def summary(cfg: Config) -> str:
    """Return a one-paragraph description of a configuration and its key parameters at the run temperature."""
    from microsim.geometry import archetype_for
    from microsim.parameters import resolve

    p = resolve(cfg)
    g, e, s = cfg.geometry, cfg.electrolyte, cfg.study
    archetype = archetype_for(g.kind, g.interface)
    if not archetype.has_particles:
        cathode = f"planar LiFePO4 slab {g.cathode_thickness_um:g} µm"
    else:
        particles = (
            f"particles from {g.particles_file}"
            if g.kind == "particles-file"
            else f"packing of radius {g.radius_mean_um:g} ± {g.radius_std_um:g} µm, active fraction "
            f"{g.active_fraction:g}, seed {g.seed}"
        )
        settings = config_mod.contact_settings(cfg)
        spot = settings.contact_model.words(settings, g.contact_radius_um)
        contact = archetype.contact_summary(spot, g.infiltration_depth_um)
        cathode = f"cathode {g.cathode_thickness_um:g} µm, {particles}, {g.interface} interface{contact}"
    if s.mode == "potentiostatic":
        drive = f"potentiostatic at {s.voltage_V:g} V"
    elif s.current_density_A_m2 is not None:
        drive = f"galvanostatic at {s.current_density_A_m2:g} A/m²"
    elif s.c_rate is not None:
        drive = f"galvanostatic at {s.c_rate:g}C"
    else:
        drive = "galvanostatic at the study's default current"
    overrides = f"; overrides: {', '.join(sorted(cfg.parameters))}" if cfg.parameters else ""
    return (
        f"{g.dim}D {g.kind} cell, {g.width_um:g} µm wide: {cathode}; {e.name} membrane "
        f"{g.membrane_thickness_um:g} µm ({e.model}); mesh {g.mesh_size_um:g} µm "
        f"(interfaces {g.interface_mesh_size_um:g} µm). {cfg.conditions.temperature_C:g} °C, θ0 = "
        f"{cfg.conditions.initial_stoichiometry:g}; study {s.kind}, {drive}. At this temperature: "
        f"κ = {p.electrolyte.conductivity_S_m:.3g} S/m, D = {p.electrolyte.diffusivity_m2_s:.3g} m²/s, "
        f"t+ = {p.electrolyte.transference_number:g}, c0 = {p.electrolyte.concentration_mol_m3:g} mol/m³, "
        f"i0(LFP) = {p.lfp.exchange_current_A_m2:.3g} A/m², i0(Li) = {p.li.exchange_current_A_m2:.3g} A/m², "
        f"D_s = {p.lfp.diffusivity_m2_s:.3g} m²/s, OCP {p.lfp.ocp.name}{overrides}."
    )


def _print_result(title: str, result: Any, out_dir: Path) -> None:
    if _rank() != 0:
        return
    print(f"{PROG} {title}: outputs in {out_dir}")
    if isinstance(result, dict):
        for key, value in result.items():
            if isinstance(value, int | float | str | bool):
                print(f"  {key}: {value}")


# ----------------------------------------------------------------------------------------------------
# Subcommands
# ----------------------------------------------------------------------------------------------------
def _cmd_check(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config, args.set)
    # The geometry description is NumPy only: packing targets, particle files and contact rules are checked
    # here too, so everything a run would refuse before meshing is refused by `check`.
    from microsim.geometry import describe

    desc = describe(cfg.geometry, config_mod.contact_settings(cfg))
    stats = desc.stats()
    print(f"{args.config}: ok")
    print(summary(cfg))
    fraction = stats.get("active_fraction")
    parts = [
        f"Geometry: {stats.get('n_particles')} particles",
        f"active fraction {fraction:.4g}" if isinstance(fraction, float) else "",
        f"{stats.get('n_particles_not_connected_to_collector', 0)} not connected to the collector",
    ]
    if stats.get("n_contact_spots"):
        parts.append(f"{stats['n_contact_spots']} contact spots")
    if stats.get("n_particles_not_reached_by_electrolyte") is not None:
        parts.append(f"{stats['n_particles_not_reached_by_electrolyte']} not reached by the electrolyte")
    if stats.get("infiltration_depth_um") is not None:
        parts.append(f"wet layer {stats['infiltration_depth_um']:.4g} µm deep")
    if stats.get("n_voids"):
        parts.append(f"{stats['n_voids']} gas voids, pores {stats['wet_pore_fraction']:.3f} wet")
    cbd = stats.get("cbd")
    if isinstance(cbd, dict):
        size = (
            f"neck radius {cbd['neck_radius_um']:.3g} µm, {cbd['n_necks']} necks"
            if cbd["placement"] == "necks"
            else f"film {cbd['thickness_um']:.3g} µm on {cbd['coverage']:.2f} of each particle"
        )
        parts.append(f"carbon-binder {cbd['placement']} ({cbd['ionic']}) {cbd['fraction_estimate']:.4g} ({size})")
    print(", ".join(p for p in parts if p) + ".")
    contact = stats.get("contact")
    if isinstance(contact, dict) and contact.get("model") != "fixed":
        print(_contact_line(contact))
    return _check_resources(desc, cfg.study.kind, args.ranks, args.force)


def _check_resources(desc: Any, study: str, ranks: int, force: bool) -> int:
    """``microsim check``'s size estimate; exit 2 where the run would be refused for its memory."""
    from microsim import resources

    if ranks < 1:
        raise ConfigError(f"--ranks {ranks}: must be >= 1")
    est = resources.estimate(desc, study, ranks)
    available = resources.available_memory_mb()
    have = f"{available / 1024:.3g} GB available here" if available is not None else "available memory unknown"
    print(f"{est.line()} ({study} study; {have}).")
    refused = resources.refusal(est, ranks, available)
    if refused is None:
        return 0
    if force:
        print(f"Would be refused without --force: {refused}")
        return 0
    raise ResourceError(refused)


def _contact_line(c: dict[str, Any]) -> str:
    """``microsim check``'s words on the contact model's result."""
    words = [f"Contact ({c['model']}): contact fraction {c['contact_fraction']:.3g}"]
    if c.get("n_touching_particles") is not None:
        words.append(f"{c['n_touching_particles']} particles touching")
    words.append(f"membrane {c['intrusion_depth_um']:.3g} µm into the pores (meshed {c['meshed_depth_um']:.3g} µm)")
    if c.get("viscosity_Pa_s") is not None:
        words.append(
            f"viscosity {c['viscosity_Pa_s']:.3g} Pa s at {c['rest_temperature_C']:g} °C for {c['rest_time_h']:g} h"
        )
    if c.get("share_particles_reached") is not None:
        words.append(f"{100 * c['share_particles_reached']:.1f} % of the particles reached")
    return ", ".join(words) + "."


def _cmd_defaults(args: argparse.Namespace) -> int:
    sys.stdout.write(config_mod.dumps(config_mod.default()))
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from microsim import outputs, schema

    text = schema.dumps()
    if args.out is None:
        sys.stdout.write(text)
    else:
        outputs.atomic_write_text(args.out, text)
        print(f"{PROG} schema: {args.out}")
    return 0


def _cmd_mesh(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config, args.set)  # validated before any MPI work
    comm = _comm()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    from microsim.studies import build_mesh_only  # DOLFINx: only after _comm() loaded the MPI stack

    result = build_mesh_only(cfg, out_dir, comm)
    _print_result("mesh", result, out_dir)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from microsim import run_folder

    if args.quiet and args.json:
        raise MicrosimError("--quiet and --json: choose one (--json prints only the summary)")
    cfg = config_mod.load(args.config, args.set)
    out_dir = Path(args.out)
    # every rank reads the same files before any MPI call, so a refusal is the same everywhere
    run_folder.check(out_dir, cfg.study.kind, restart=args.restart, overwrite=args.overwrite)
    comm = _comm()
    from microsim.api import run_case

    # --json: standard output carries the summary alone (progress goes to standard error); --quiet: nothing
    with contextlib.ExitStack() as stack:
        if args.json:
            stack.enter_context(contextlib.redirect_stdout(sys.stderr))
        elif args.quiet:
            stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w"))))
        result = run_case(cfg, out_dir, comm, restart=args.restart, overwrite=args.overwrite)
    if _rank() == 0:
        if args.json:
            summary_path = out_dir / "summary.json"
            sys.stdout.write(summary_path.read_text(encoding="utf-8") if summary_path.is_file() else "{}\n")
        elif not args.quiet:
            from microsim.post.terminal import format_result

            print()
            print(format_result(result), end="")
            print(f"\nOutputs: {out_dir} (summary.json, run.json, config.toml, ...)")
    return 0


def demo_configs() -> list[Config]:
    """Return the demo cases: the bundled default case, and it with the second of ``DEMO_INTERFACES``.

    The default case has the filled archetype, so the pair is the one the breakdown table's ratio compares.
    """
    from microsim.geometry import DEMO_INTERFACES

    base = config_mod.load(DEFAULT_CASE) if DEFAULT_CASE.is_file() else config_mod.default()
    return [base, config_mod.replace(base, **{"geometry.interface": DEMO_INTERFACES[1]})]


def _cmd_demo(args: argparse.Namespace) -> int:
    configs = demo_configs()
    comm = _comm()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    from microsim.studies import run_demo

    run_demo(out_dir, comm, configs)
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    """``microsim sweep``: parse and validate every case first (no MPI), then list or run them."""
    from microsim.sweep import load_sweep, store

    sweep = load_sweep(args.sweep, args.set)  # every case validated before any MPI work
    if args.list:
        if _rank() == 0:
            states = [store.case_state(args.out, c.hash) for c in sweep.cases]
            print(f"{'index':>5}  {'hash':<12}  {'status':<7}  swept values")
            for case, state in zip(sweep.cases, states, strict=True):
                print(f"{case.index:>5}  {case.hash:<12}  {state:<7}  {case.label()}")
            c = store.counts(states)
            print(f"{len(states)} cases: {c['done']} done, {c['failed']} failed, {c['running']} running, "
                  f"{c['pending']} pending")  # fmt: skip
        return 0
    comm = _comm()
    from microsim.sweep.runner import run_sweep

    result = run_sweep(
        sweep,
        args.out,
        comm,
        ranks_per_case=args.ranks_per_case,
        case_index=args.case_index,
        retry_failed=args.retry_failed,
        progress=not args.quiet,
    )
    # Exit 3: the sweep ran to the end but some of the cases it ran failed (recorded in status.json).
    return 3 if any(result["states"][i] == "failed" for i in result["selected"]) else 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    """``microsim calibrate``: validate the calibration file and every case first (no MPI), then fit."""
    from microsim.calibration import load_calibration

    cal = load_calibration(args.calibration)
    comm = _comm()
    from microsim.calibration.fit import result_record
    from microsim.calibration.runner import run_calibration

    result = run_calibration(
        cal, args.out, comm, ranks_per_case=args.ranks_per_case, retry_failed=args.retry_failed, progress=not args.quiet
    )
    if comm.rank == 0:
        rec = result_record(cal, result)
        print(f"{PROG} calibrate: {rec['status']}; cost {rec['cost']:.4g} after {rec['n_evaluations']} evaluations")
        for k in rec["knobs"]:
            ci = k["interval_1sigma"]
            interval = f"1σ [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else "interval not computed"
            ident = "" if k["identified"] else " (NOT identified by these data)"
            bounds = f"bounds [{k['low']:.3g}, {k['high']:.3g}]"
            print(f"  {k['key']} = {k['value']:.4g} {k['unit']} ({interval}; {bounds}){ident}")
        for p in rec["points"]:
            mark = "within" if p["within"] else "OUTSIDE"
            print(f"  {p['point']}: model {p['model']:.4g}, measured {p['measured']:.4g} ({mark})")
        print(f"  results: {Path(args.out) / 'calibration.json'}")
        print(
            f"  parameter set: {Path(args.out) / 'parameter_set.json'} (register it as "
            f"microsim/parameters/calibrated/{rec['name']}.json)"
        )
    return 0


def _fmt_or(value: object, fmt: str, missing: str = "—") -> str:
    return missing if value is None else format(value, fmt)


def _cmd_paper(args: argparse.Namespace) -> int:
    """``microsim paper``: validate the paper file and every case first (no MPI), then run and report."""
    from microsim.paper import load_paper
    from microsim.paper.cases import paper_cases

    spec = load_paper(args.paper)
    paper_cases(spec, quick=args.quick)  # every case valid before any collective call
    comm = _comm()
    from microsim.paper.runner import run_paper

    rec = run_paper(
        spec, args.out, comm, report_dir=args.report_dir, quick=args.quick, ranks_per_case=args.ranks_per_case,
        retry_failed=args.retry_failed, progress=not args.quiet, calibration_result=args.calibration_result,
    )  # fmt: skip
    if comm.rank == 0:
        mode = "quick" if args.quick else "full"
        print(f"{PROG} paper ({mode}): {rec['cases_run_now']} cases run in {rec['wall_time_s']:.0f} s")
        for r in rec["rows"]:
            tag = "fitted" if r["fitted"] else "predicted"
            within = {True: "within", False: "OUTSIDE", None: "incomplete"}[r["within_band"]]
            print(
                f"  {r['cell']}, {r['electrolyte']}, {r['temperature_C']:g} °C, {r['c_rate']:g}C ({tag}): "
                f"model {_fmt_or(r['model_mAh_g'], '.1f')} mAh/g, paper {r['paper_mAh_g']:g} ({within}; "
                f"{r['limiting_mechanism'] or '—'})"
            )
        ratio = rec["impedance_ratio"]
        if ratio is not None:
            print(f"  impedance ratio at {ratio['frequency_Hz']:g} Hz: model {_fmt_or(ratio['model'], '.3g')}, "
                  f"paper {ratio['paper']:g}")  # fmt: skip
        report = args.report_dir if args.report_dir is not None else Path(args.out) / "report"
        print(f"  report: {report}")
        if rec["cases_failed"]:
            print(f"{PROG} paper: {len(rec['cases_failed'])} cases failed: {', '.join(rec['cases_failed'])}",
                  file=sys.stderr)  # fmt: skip
    return 3 if rec["cases_failed"] else 0


def _cmd_report(args: argparse.Namespace) -> int:
    """``microsim report``: redraw a sweep's plots from its files (no DOLFINx, no MPI)."""
    if _rank() != 0:
        return 0
    from microsim.sweep.report import DEFAULT_Y, report

    paths = report(args.dir, ys=args.y or [DEFAULT_Y], x=args.x, hue=args.hue, plot_dir=args.plots)
    print(f"{PROG} report: results {Path(args.dir) / 'results.csv'}")
    for path in paths:
        print(f"  {path}")
    return 0


def _cmd_export_bpx(args: argparse.Namespace) -> int:
    """``microsim export-bpx``: the BPX parameter set of an effective-properties run (no DOLFINx, no MPI)."""
    if _rank() != 0:
        return 0
    from microsim.export.bpx import export_bpx

    notes = export_bpx(args.dir, args.out)
    print(f"{PROG} export-bpx: {args.out} (BPX, validated with the bpx package)")
    for note in notes:
        print(f"  note: {note}")
    return 0


def _cmd_compare_homogenised(args: argparse.Namespace) -> int:
    """``microsim compare-homogenised``: PyBaMM's half-cell DFN from a BPX file against a resolved rate study."""
    if _rank() != 0:
        return 0
    from microsim.export.homogenised import compare

    out = args.out or args.dir / "homogenised"
    table = compare(args.dir, args.bpx, out)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    for note in table.attrs.get("notes", []):
        print(f"note: {note}")
    print(f"\n{PROG} compare-homogenised: {out} (comparison.csv, comparison.png, dfn_<rate>C.csv)")
    return 0


def version_text() -> str:
    """``microsim --version``: microsim's version, the git commit it runs from, DOLFINx and Gmsh (no imports)."""
    from microsim import provenance

    git = provenance.git_revision()
    rev = f", git {git['commit'][:12]}{' (modified)' if git['dirty'] else ''}" if git else ""
    v = provenance.versions()
    return (
        f"{PROG} {provenance.version()}{rev}; DOLFINx {v.get('dolfinx') or 'not installed'}, "
        f"Gmsh {v.get('gmsh') or 'not installed'}, Python {v['python']}"
    )


class _VersionAction(argparse.Action):
    """``--version`` as one unwrapped line (argparse's own action wraps it at the terminal width)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(version_text())
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``microsim``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Particle-scale finite-element simulation of LiFePO4 | PEO-based SPE | Li metal cells.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="print the versions and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("config", type=Path, metavar="CONFIG", help="TOML configuration file")
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="SECTION.KEY=VALUE",
            help="override one configuration value (repeatable), e.g. --set geometry.width_um=20",
        )

    p = sub.add_parser("check", help="validate a configuration and summarise it (no solver needed)")
    add_config(p)
    p.add_argument(
        "--ranks", type=int, default=1, metavar="N", help="estimate the memory per rank for N ranks on this node"
    )
    _add_force(p)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("defaults", help="print the full default configuration as TOML")
    p.set_defaults(func=_cmd_defaults)

    p = sub.add_parser("schema", help="print the JSON Schema of a case file (for TOML editors)")
    p.add_argument("--out", type=Path, metavar="FILE", help="write it to FILE instead of standard output")
    p.set_defaults(func=_cmd_schema)

    p = sub.add_parser("mesh", help="build and write the mesh only")
    add_config(p)
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    p.set_defaults(func=_cmd_mesh)

    p = sub.add_parser("run", help="run the study of a configuration")
    add_config(p)
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    p.add_argument(
        "--restart",
        action="store_true",
        help="discharge/rate: continue from the last checkpoint in DIR (same configuration; any number of ranks)",
    )
    p.add_argument("--overwrite", action="store_true", help="clear DIR first (only a microsim run folder)")
    p.add_argument("--quiet", action="store_true", help="print nothing but warnings and errors")
    p.add_argument("--json", action="store_true", help="print summary.json on standard output (progress: stderr)")
    _add_stop_options(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("demo", help="run the bundled default case with both interfaces and print the table")
    p.add_argument("--out", type=Path, default=Path("results/demo"), metavar="DIR", help="output directory")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("sweep", help="run a parameter sweep (resumable; MPI groups; job arrays)")
    p.add_argument("sweep", type=Path, metavar="SWEEP", help="sweep TOML file (base case + axes)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="sweep output directory")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one value of the base configuration (repeatable)",
    )
    p.add_argument(
        "--ranks-per-case", type=int, default=1, metavar="K", help="MPI ranks per case; N/K cases run at once"
    )
    p.add_argument("--case-index", type=int, metavar="I", help="run only case I, on all ranks (job arrays)")
    p.add_argument("--retry-failed", action="store_true", help="also rerun failed cases (done ones are kept)")
    p.add_argument("--list", action="store_true", help="print the cases (index, hash, status, values) and exit")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    _add_stop_options(p)
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("calibrate", help="fit estimated parameters to measured data (resumable; MPI groups)")
    p.add_argument("calibration", type=Path, metavar="CALIBRATION", help="calibration TOML file (knobs + targets)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="calibration output directory")
    p.add_argument(
        "--ranks-per-case", type=int, default=1, metavar="K", help="MPI ranks per case; N/K cases run at once"
    )
    p.add_argument("--retry-failed", action="store_true", help="rerun cases that failed before")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    _add_stop_options(p)
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser("paper", help="run a calibrated model against a paper's table (resumable; MPI groups)")
    p.add_argument("paper", type=Path, metavar="PAPER", help="paper TOML file (rows, spectra, seeds)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="case store (resumable)")
    p.add_argument("--report-dir", type=Path, metavar="R", help="where the report goes (default DIR/report)")
    p.add_argument("--quick", action="store_true", help="the paper file's [quick] variant: one seed, a smaller box")
    p.add_argument(
        "--calibration-result", type=Path, metavar="JSON",
        help="the calibration's calibration.json: its fitted values and sensitivity go into the README",
    )  # fmt: skip
    p.add_argument(
        "--ranks-per-case", type=int, default=1, metavar="K", help="MPI ranks per case; N/K cases run at once"
    )
    p.add_argument("--retry-failed", action="store_true", help="rerun cases that failed before")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    _add_stop_options(p)
    p.set_defaults(func=_cmd_paper)

    p = sub.add_parser(
        "export-bpx", help="write the BPX parameter set of an effective-properties run folder (no solver needed)"
    )
    p.add_argument("dir", type=Path, metavar="RUN_DIR", help="folder of a study.kind = effective run")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="the BPX JSON file to write")
    p.set_defaults(func=_cmd_export_bpx)

    p = sub.add_parser(
        "compare-homogenised",
        help="run PyBaMM's half-cell DFN from a BPX file with a rate study's protocol and compare (needs pybamm)",
    )
    p.add_argument("dir", type=Path, metavar="RATE_DIR", help="folder of a finished study.kind = rate run")
    p.add_argument("--bpx", type=Path, required=True, metavar="FILE", help="BPX file from microsim export-bpx")
    p.add_argument(
        "--out", type=Path, metavar="DIR", help="where to write the comparison (default RATE_DIR/homogenised)"
    )
    p.set_defaults(func=_cmd_compare_homogenised)

    p = sub.add_parser("report", help="plot a sweep's results into DIR/plots (no solver needed)")
    p.add_argument("dir", type=Path, metavar="DIR", help="sweep output directory")
    p.add_argument(
        "--y", action="append", metavar="KEY", help="scalar to plot (repeatable; default the effective interfacial R)"
    )
    p.add_argument("--x", metavar="KEY", help="swept key on the x axis (default: the first grid axis)")
    p.add_argument("--hue", metavar="KEY", help="swept key of the lines (default: the next axis)")
    p.add_argument("--plots", type=Path, metavar="DIR", help="where to write the PNGs (default DIR/plots)")
    p.set_defaults(func=_cmd_report)
    return parser


def wall_time(text: str) -> float:
    """``--max-wall-time``: seconds, ``HH:MM:SS`` or ``D-HH:MM:SS``."""
    try:
        days = 0.0
        if "-" in text:
            d, text = text.split("-", 1)
            days = float(d)
        parts = [float(x) for x in text.split(":")]
        if len(parts) == 1 and days == 0.0:
            seconds = parts[0]
        elif len(parts) == 3:  # not SLURM's ambiguous MM:SS
            h, m, sec = parts
            seconds = days * 86400 + h * 3600 + m * 60 + sec
        else:
            raise ValueError(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds, HH:MM:SS or D-HH:MM:SS") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be > 0")
    return seconds


def _add_stop_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-wall-time",
        type=wall_time,
        metavar="T",
        help="stop cleanly after T (seconds, HH:MM:SS or D-HH:MM:SS): transient runs save a checkpoint and the command "
        f"exits {EXIT_INTERRUPTED}; SIGTERM and SIGUSR1 do the same (sbatch --signal=B:USR1@300)",
    )
    _add_force(p)


def _add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--force",
        action="store_true",
        help="run even where the estimated memory exceeds what this node has (the estimate is rough; "
        "MICROSIM_FORCE=1 does the same)",
    )


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """A warning as one line, ``microsim: warning: ...``, from rank 0 only (every rank raises the same one)."""
    if _rank() == 0:
        print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 success, 2 user error (bad configuration, usage), 1 unexpected failure.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse reports usage errors (2) and --help (0) by exiting
        return int(exc.code) if isinstance(exc.code, int) else 2
    func: Callable[[argparse.Namespace], int] = args.func
    warnings.showwarning = _show_warning
    stoppable = hasattr(args, "max_wall_time")  # the long-running commands stop cleanly on a batch system's signal
    if getattr(args, "force", False):
        from microsim.resources import FORCE_ENV

        os.environ[FORCE_ENV] = "1"  # read where the guard is, in every case of a sweep, calibration or paper run
    try:
        if stoppable:
            from microsim import interrupt

            interrupt.install(args.max_wall_time)
        return func(args)
    except Interrupted as exc:
        if _rank() == 0:
            print(f"{PROG}: stopped: {one_line(exc)}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except MicrosimError as exc:
        if _rank() == 0:
            message = " ".join(str(exc).split("\n"))
            print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
        return 2
    except OSError as exc:  # a full, read-only or missing output place: say which, keep what was written
        where = f"{exc.filename}: " if exc.filename else ""
        print(
            f"{PROG}: error: cannot write {where}{exc.strerror or exc} (a full, read-only or missing folder?); "
            "every file written before is complete (atomic writes), and a rerun continues where it stopped",
            file=sys.stderr,
            flush=True,
        )
        if _world_size() > 1:
            # it may have hit one rank only: end the job rather than leave the others in a collective call
            time.sleep(ABORT_GRACE_S)
            try:
                sys.modules["mpi4py.MPI"].COMM_WORLD.Abort(2)
            finally:
                os._exit(2)
        return 2
    except Exception:
        if _world_size() > 1:
            # One rank failing alone would leave the others waiting in a collective call forever.
            traceback.print_exc()
            sys.stderr.flush()
            # the launcher forwards each rank's output asynchronously and MPI_Abort tears the job down at once:
            # without a pause the traceback was lost about one time in five
            time.sleep(ABORT_GRACE_S)
            try:
                sys.modules["mpi4py.MPI"].COMM_WORLD.Abort(1)
            finally:
                os._exit(1)  # MPI_Abort may return before the job is torn down: print nothing more
        raise
    finally:
        if stoppable:  # an in-process call (tests, scripts) gets the default handlers back
            from microsim import interrupt

            interrupt.reset()


if __name__ == "__main__":
    sys.exit(main())
