"""Size convergence of the 3D resistance study with insulating side walls.

The 3D cells have no periodic directions: the four side walls are insulating (no flux of charge or salt) and the
packer keeps every particle off them, so a box of width W is a sample of the electrode with a wall layer that a
laterally infinite electrode would not have. This script measures how the resistance depends on W: for each
width, interface and seed it runs ``microsim run geometries/default-3d.toml`` with ``geometry.width_um = W``
(one process per case, so a failing case cannot take the study down) and reads ``summary.json`` and
``geometry.json``. Per (interface, W) it reports the number of particles, the mean and standard deviation over
the seeds of the total resistance and of the effective interfacial resistance (total less the 1D membrane and
Li charge-transfer references, Ω·cm²), the achieved active fraction and the wall-affected share. It also
reports ``R_int,eff · Γ/A`` (Γ/A: reacting interface per geometric area), the interfacial resistance per unit of
reacting area, which takes out how much interface (filled) or how many contact spots (point-contact) a packing
happened to get, leaving the transport (and wall) effects.

Wall-affected share: the fraction of particles whose gap to the nearest side wall is less than their own radius,
and the share of the cross-section within one mean particle diameter of a wall, ``1 − (1 − 2d/W)²``.

Results go to ``benchmarks/results/wall_convergence_3d.json``, rewritten atomically after every case; cases
already there are skipped, so the script resumes where it stopped (``--retry-failed`` reruns failed ones,
``--rerun-stale`` the ones run with other package sources; every case records a hash of ``microsim/``)::

    nice -n 10 .venv/bin/python scripts/wall_convergence.py
    nice -n 10 .venv/bin/python scripts/wall_convergence.py --ranks 2 --widths 3 4 5 6 8 --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "geometries" / "default-3d.toml"
RESULTS = ROOT / "benchmarks" / "results" / "wall_convergence_3d.json"
VENV_BIN = ROOT / ".venv" / "bin"


def library_stamp() -> dict[str, str]:
    """The code the runs use: git HEAD and a hash of the package sources and the case (uncommitted edits count)."""
    digest = hashlib.sha256()
    for path in [*sorted((ROOT / "microsim").rglob("*.py")), CASE]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"git_head": head, "sources_sha256": digest.hexdigest()[:16]}


def case_key(interface: str, width: float, seed: int) -> str:
    """Key of one case in the results file."""
    return f"{interface}/W={width:g}/seed={seed}"


def write_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON through a temporary file in the same folder and ``os.replace`` (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def wall_measures(geometry: dict[str, Any]) -> dict[str, Any]:
    """Wall-affected share of a packing from ``geometry.json`` (particles with x, y, z, r in µm)."""
    w = float(geometry["width_um"])
    parts = geometry.get("particles") or []
    gaps = [min(p["x_um"], w - p["x_um"], p["y_um"], w - p["y_um"]) - p["r_um"] for p in parts]
    near = sum(1 for p, g in zip(parts, gaps, strict=True) if g < p["r_um"])
    d_mean = 2.0 * sum(p["r_um"] for p in parts) / max(len(parts), 1)
    return {
        "n_particles_within_one_radius_of_a_wall": near,
        "share_particles_within_one_radius_of_a_wall": near / max(len(parts), 1),
        "share_area_within_one_diameter_of_a_wall": 1.0 - max(1.0 - 2.0 * d_mean / w, 0.0) ** 2,
        "min_wall_gap_um": min(gaps) if gaps else None,
        "mean_particle_diameter_um": d_mean,
    }


def run_case(interface: str, width: float, seed: int, ranks: int, work: Path, timeout_s: float) -> dict[str, Any]:
    """Run one case through the CLI; return its record (``status`` "ok" or "failed" with the reason)."""
    out = work / f"{interface}-W{width:g}-s{seed}"
    cmd = [str(VENV_BIN / "microsim"), "run", str(CASE), "--out", str(out)]
    for setting in (
        f"geometry.width_um={width:g}",
        f"geometry.seed={seed}",
        f"geometry.interface={interface}",
        "output.xdmf=false",  # only the numbers are needed
        "output.png=false",
    ):
        cmd += ["--set", setting]
    if ranks > 1:
        cmd = [str(VENV_BIN / "mpiexec"), "-n", str(ranks), *cmd]
    rec: dict[str, Any] = {
        "interface": interface,
        "width_um": width,
        "seed": seed,
        "n_ranks": ranks,
        "library": library_stamp(),
    }
    # a crash in C (Gmsh, PETSc) then leaves the Python stack on stderr instead of nothing
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        rec.update(status="failed", reason=f"timed out after {timeout_s:g} s", wall_time_job_s=timeout_s)
        return rec
    rec["wall_time_job_s"] = time.perf_counter() - t0
    summary_file, geometry_file = out / "summary.json", out / "geometry.json"
    if proc.returncode != 0 or not summary_file.is_file():
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()]
        reason = (errors or lines or ["no output"])[-1]
        if proc.returncode < 0:
            reason = f"killed by {signal.Signals(-proc.returncode).name}"
        rec.update(status="failed", exit_code=proc.returncode, reason=reason, output_tail=lines[-15:])
        return rec
    summary = json.loads(summary_file.read_text())
    geometry = json.loads(geometry_file.read_text())
    res = summary["resistance_ohm_cm2"]
    rec.update(
        status="ok",
        n_particles=geometry["n_particles"],
        active_fraction=summary["active_fraction"],
        n_contact_spots=geometry.get("n_contact_spots"),
        contact_area_fraction=geometry.get("contact_area_fraction"),
        interface_area_per_geometric_area=summary["interface_area_per_geometric_area"],
        r_total_ohm_cm2=res["total"],
        r_interfacial_effective_ohm_cm2=res["interfacial_effective"],
        # per unit of reacting area: takes out how much interface (or how many spots) this packing happened to get
        r_interfacial_per_interface_area_ohm_cm2=res["interfacial_effective"]
        * summary["interface_area_per_geometric_area"],
        resistance_ohm_cm2=res,
        reference_ohm_cm2=summary["reference_ohm_cm2"],
        linear_regime=summary["linear_regime"],
        linear_solver=summary.get("linear_solver"),
        linear_solver_fallback=summary.get("linear_solver_fallback"),
        breakdown_closure_relative=summary["breakdown_closure_relative"],
        n_cells=summary["n_cells"],
        n_dofs=summary["n_dofs"],
        wall_time_s=summary["wall_time_s"],
        **wall_measures(geometry),
    )
    return rec


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None where undefined)."""
    if not values:
        return None, None
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, None
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def aggregate(cases: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (interface, W): statistics over the seeds that succeeded, and the failures with reasons."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for rec in cases.values():
        groups.setdefault((rec["interface"], rec["width_um"]), []).append(rec)
    rows = []
    for (interface, width), recs in sorted(groups.items()):
        ok = [r for r in recs if r["status"] == "ok"]
        row: dict[str, Any] = {
            "interface": interface,
            "width_um": width,
            "n_seeds_ok": len(ok),
            "failed": {str(r["seed"]): r["reason"] for r in recs if r["status"] != "ok"},
        }
        for key in (
            "n_particles",
            "active_fraction",
            "r_total_ohm_cm2",
            "r_interfacial_effective_ohm_cm2",
            "interface_area_per_geometric_area",
            "r_interfacial_per_interface_area_ohm_cm2",
            "share_particles_within_one_radius_of_a_wall",
            "share_area_within_one_diameter_of_a_wall",
            "n_contact_spots",
            "wall_time_job_s",
        ):
            values = [float(r[key]) for r in ok if r.get(key) is not None]
            m, s = mean_std(values)
            row[key] = {"mean": m, "std": s, "values": values}
        for key in ("r_total_ohm_cm2", "r_interfacial_effective_ohm_cm2", "r_interfacial_per_interface_area_ohm_cm2"):
            m, s = row[key]["mean"], row[key]["std"]
            row[key]["relative_std"] = s / m if m and s is not None else None
        row["libraries"] = sorted({r["library"]["sources_sha256"] for r in recs if "library" in r})
        rows.append(row)
    return rows


def machine() -> dict[str, Any]:
    """Where the study ran."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=float, nargs="+", default=[3.0, 4.0, 5.0, 6.0, 8.0], metavar="W")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5], metavar="S")
    parser.add_argument("--interfaces", nargs="+", default=["filled", "point-contact"])
    parser.add_argument("--ranks", type=int, default=1, help="MPI ranks per case (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    parser.add_argument("--work", type=Path, default=Path("/tmp/walls"), help="folder for the runs' outputs")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per case before it counts as failed")
    parser.add_argument("--retry-failed", action="store_true", help="rerun cases recorded as failed")
    parser.add_argument("--note", action="append", default=[], help="add a remark to the results file")
    parser.add_argument(
        "--rerun-stale", action="store_true", help="rerun cases run with other package sources than the current ones"
    )
    args = parser.parse_args(argv)

    data: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    cases: dict[str, dict[str, Any]] = data.get("cases", {})
    data.setdefault("study", "3D resistance vs box width, insulating side walls (scripts/wall_convergence.py)")
    data.setdefault("machine", machine())
    data.setdefault("date", datetime.date.today().isoformat())
    data["config"] = str(CASE.relative_to(ROOT))
    geo = tomllib.loads(CASE.read_text())["geometry"]
    data["sizes"] = {
        "widths_um": sorted({*args.widths, *(c["width_um"] for c in cases.values())}),
        "seeds": sorted({*args.seeds, *(c["seed"] for c in cases.values())}),
        **{k: geo.get(k) for k in ("cathode_thickness_um", "membrane_thickness_um", "active_fraction")},
        **{k: geo.get(k) for k in ("radius_mean_um", "radius_std_um", "mesh_size_um", "interface_mesh_size_um")},
        "n_cells_and_dofs": "per case: n_cells, n_dofs",
    }
    data["notes"] = [*data.get("notes", []), *(n for n in args.note if n not in data.get("notes", []))]
    data["definitions"] = {
        "r_total_ohm_cm2": "resistance_ohm_cm2.total of summary.json: (U_eq - V)/I per geometric area",
        "r_interfacial_effective_ohm_cm2": "total - membrane_1d - li_charge_transfer_1d (summary.json)",
        "share_particles_within_one_radius_of_a_wall": "particles whose gap to the nearest side wall < own radius",
        "share_area_within_one_diameter_of_a_wall": "1 - (1 - 2 d_mean / W)^2",
        "std": "sample standard deviation over the seeds that succeeded",
    }
    args.work.mkdir(parents=True, exist_ok=True)
    stamp = library_stamp()

    def wanted(key: str) -> bool:
        rec = cases.get(key)
        if rec is None:
            return True
        if args.retry_failed and rec["status"] != "ok":
            return True
        return args.rerun_stale and rec.get("library") != stamp

    todo = [(i, w, s) for i in args.interfaces for w in args.widths for s in args.seeds if wanted(case_key(i, w, s))]
    print(f"{len(todo)} cases to run ({len(cases)} already recorded) -> {args.out}", flush=True)
    for interface, width, seed in todo:
        key = case_key(interface, width, seed)
        rec = run_case(interface, width, seed, args.ranks, args.work, args.timeout)
        old = cases.get(key)
        if old is not None:  # a rerun keeps the earlier attempts (failures must stay on record)
            earlier = old.pop("earlier_attempts", [])
            rec["earlier_attempts"] = [*earlier, {k: old.get(k) for k in ("status", "reason", "exit_code", "library")}]
        cases[key] = rec
        data["cases"] = dict(sorted(cases.items()))
        data["summary"] = aggregate(cases)
        data["last_update"] = datetime.datetime.now().isoformat(timespec="seconds")
        write_atomic(args.out, data)
        if rec["status"] == "ok":
            print(
                f"{case_key(interface, width, seed)}: {rec['n_particles']} particles, R_total "
                f"{rec['r_total_ohm_cm2']:.5g}, R_int,eff {rec['r_interfacial_effective_ohm_cm2']:.5g} Ω·cm², "
                f"{rec['wall_time_job_s']:.0f} s",
                flush=True,
            )
        else:
            print(f"{case_key(interface, width, seed)}: FAILED ({rec['reason']})", flush=True)
    data["summary"] = aggregate(cases)
    write_atomic(args.out, data)
    print(f"{'interface':>13} {'W':>3} ok {'N':>6} {'R_total':>19} {'R_int,eff':>19} {'R_int*Gamma/A':>17} near-wall")
    for row in data["summary"]:

        def ms(key: str, fmt: str = ".4g", row: dict[str, Any] = row) -> str:
            m, s = row[key]["mean"], row[key]["std"]
            return "-" if m is None else f"{m:{fmt}} ± {s:{fmt}}" if s is not None else f"{m:{fmt}}"

        print(
            f"{row['interface']:>13} {row['width_um']:>3g} {row['n_seeds_ok']:>2} {ms('n_particles', '.0f'):>6} "
            f"{ms('r_total_ohm_cm2'):>19} {ms('r_interfacial_effective_ohm_cm2'):>19} "
            f"{ms('r_interfacial_per_interface_area_ohm_cm2', '.3g'):>17} "
            f"{ms('share_particles_within_one_radius_of_a_wall', '.2f')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
