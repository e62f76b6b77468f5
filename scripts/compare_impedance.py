"""Impedance of the bundled default case for both interfaces: one Nyquist/Bode figure and the ratios.

Usage (from the project root; any number of ranks)::

    .venv/bin/mpiexec -n 2 .venv/bin/python scripts/compare_impedance.py --out results/impedance

Prints the overall impedance of each cell at 0.1 Hz and the ratio point-contact / filled, and the same for the
cathode-interface arc (each interface's own contribution, computed from the fields), then writes
``nyquist.png`` and ``bode.png`` with both spectra.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import dolfinx_solver  # noqa: F401

import pandas as pd
from mpi4py import MPI

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from microsim import config  # noqa: E402
from microsim.studies.impedance import run_impedance  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/impedance")
    ap.add_argument("--case", default=str(ROOT / "geometries" / "default-2d.toml"))
    ap.add_argument("--set", action="append", default=[], help="section.key=value override (repeatable)")
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    out = Path(args.out)
    summaries = {}
    for interface in ("filled", "point-contact"):
        cfg = config.load(args.case, [*args.set, "study.kind=impedance", f"geometry.interface={interface}"])
        if comm.rank == 0:
            print(f"impedance: {interface} ...", flush=True)
        summaries[interface] = run_impedance(cfg, out / interface, comm)
        if comm.rank == 0:
            s = summaries[interface]
            print(
                f"  {s['n_dofs']} dofs, {s['impedance']['n_frequencies']} frequencies, {s['wall_time_s']:.1f} s "
                f"({s['impedance']['time_per_frequency_s']:.3f} s per frequency on {comm.size} rank(s))",
                flush=True,
            )
    if comm.rank == 0:
        from microsim.post.impedance import plot_spectra

        tables = {k: pd.read_csv(out / k / "impedance.csv") for k in summaries}
        plot_spectra(tables, out / "nyquist.png", out / "bode.png")
        f, p = summaries["filled"]["impedance"], summaries["point-contact"]["impedance"]
        rows = [
            ("|Z| at 0.1 Hz [Ω·cm²]", f["at"]["0.1_Hz"]["abs_ohm_cm2"], p["at"]["0.1_Hz"]["abs_ohm_cm2"]),
            (
                "high-frequency intercept [Ω·cm²]",
                f["high_frequency_intercept_ohm_cm2"],
                p["high_frequency_intercept_ohm_cm2"],
            ),
            (
                "cathode interface arc [Ω·cm²]",
                f["arcs"]["cathode_interface_ohm_cm2"],
                p["arcs"]["cathode_interface_ohm_cm2"],
            ),
            ("Li metal arc [Ω·cm²]", f["arcs"]["anode_interface_ohm_cm2"], p["arcs"]["anode_interface_ohm_cm2"]),
        ]
        print(f"\n{'':34s}{'filled':>12s}{'point-contact':>15s}{'ratio':>10s}")
        for name, a, b in rows:
            print(f"{name:34s}{a:12.4g}{b:15.4g}{b / a:10.3g}")
        for label, imp in (("filled", f), ("point-contact", p)):
            fit = imp["fit"]
            print(f"fit ({label}): {fit.get('circuit')}  rms error {fit.get('fit_error_rms', float('nan')):.3g}")
        print(f"plots: {out / 'nyquist.png'}, {out / 'bode.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
