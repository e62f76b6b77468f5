"""Model vs paper capacities of the PPAL cells at 30 °C, side by side.

Usage (after running the two rate studies, e.g. on 2 cores):

    .venv/bin/mpiexec -n 2 .venv/bin/microsim run geometries/paper-cathode-supported-ppal-30C.toml \
        --out results/paper-filled
    .venv/bin/mpiexec -n 2 .venv/bin/microsim run geometries/paper-conventional-ppal-30C.toml \
        --out results/paper-point
    .venv/bin/python scripts/compare_paper.py results/paper-filled results/paper-point [--png compare.png]

Paper values: Chen et al., Energy Environ. Sci. 2019, 12, 938 (docs/parameters.md §0.2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: Paper capacities [mAh/g] at 30 °C by C-rate.
PAPER = {
    "cathode-supported (filled)": {0.1: 125.0, 0.2: 90.0, 0.5: 14.0},
    "conventional (point-contact)": {0.1: 20.0, 0.2: 7.0},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("filled", type=Path, help="rate-study folder of the cathode-supported cell")
    ap.add_argument("point", type=Path, help="rate-study folder of the conventional cell")
    ap.add_argument("--png", type=Path, help="also plot capacity vs C-rate with the paper's points")
    args = ap.parse_args()
    summaries = {}
    for (label, paper), folder in zip(PAPER.items(), (args.filled, args.point), strict=True):
        s = json.loads((folder / "summary.json").read_text())
        summaries[label] = s
        rate = s["rate"]
        print(f"{label}: {s['interface']}, {s['electrolyte']}, {s['temperature_C']:.0f} °C, {s['n_cells']} cells")
        print(f"  {'C-rate':>6}  {'model':>10}  {'paper':>7}  {'model/paper':>11}  limited by")
        for c, q, mech in zip(rate["c_rates"], rate["capacity_mAh_g"], rate["limiting_mechanism"], strict=True):
            p = paper.get(c)
            ratio = f"{q / p:11.3g}" if p else f"{'':>11}"
            print(f"  {c:6g}  {q:10.4g}  {p if p is not None else '-':>7}  {ratio}  {mech}")
    f, p = (summaries[k]["rate"] for k in PAPER)
    common = [c for c in f["c_rates"] if c in p["c_rates"]]
    ranked = all(
        f["capacity_mAh_g"][f["c_rates"].index(c)] > p["capacity_mAh_g"][p["c_rates"].index(c)] for c in common
    )
    print(f"filled > point-contact at every common rate: {ranked}")
    if args.png:
        from microsim.post.rate_plots import plot_rate_capability

        ref = {k: (list(v), list(v.values())) for k, v in PAPER.items()}
        plot_rate_capability(summaries, args.png, title="PPAL, 30 °C: model vs paper", reference=ref)
        print(f"plot: {args.png}")


if __name__ == "__main__":
    main()
