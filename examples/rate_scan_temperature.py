"""A sweep script with the Python API: rate capability of the filled cell at two temperatures.

For each temperature the script runs a rate study (CC discharges from the charged state to the cut-off at
each C-rate), then reads the results back with pandas: the rate table (capacity per C-rate) and the voltage
curve of each rate. It writes ``rate_scan.csv`` and ``rate_scan.png`` into the output folder.

The cell is the bundled 2D default case made small (4 µm wide, coarse mesh) so that the example runs in well under a
minute; drop the ``SMALL`` overrides for the full default cell. For many cases on a cluster, ``microsim sweep``
adds resumable, locked, parallel runs (docs/sweeps.md).

Run::

    .venv/bin/python examples/rate_scan_contact_radius.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import dolfinx_solver  # noqa: F401  (before mpi4py/petsc4py: the wheel's MPI and PETSc)
import pandas as pd
from mpi4py import MPI

import microsim

ROOT = Path(__file__).resolve().parents[1]
#: A small, quick version of the default cell.
SMALL = ("geometry.width_um=4.0", "geometry.mesh_size_um=0.4", "output.xdmf=false", "output.png=false")
TEMPERATURES_C = (30.0, 50.0)
C_RATES = [0.5, 2.0]


def main(out_dir: Path, comm: MPI.Comm) -> pd.DataFrame:
    """Run the scan; return one row per (temperature, C-rate)."""
    base = microsim.Case.from_toml(ROOT / "geometries" / "default-2d.toml", SMALL).with_overrides(
        "study.kind=rate",
        "conditions.initial_stoichiometry=0.01",  # start charged (the default 0.5 suits a resistance)
        **{"study.c_rates": C_RATES},
    )
    rows = []
    for t in TEMPERATURES_C:
        result = base.with_overrides(f"conditions.temperature_C={t}").run(comm, out_dir / f"{t:g}C", overwrite=True)
        for _, row in result.rate_table().iterrows():
            rows.append({"temperature_C": t, **row.to_dict()})
    return pd.DataFrame(rows)


def plot(out_dir: Path, scan: pd.DataFrame) -> None:
    """Voltage against capacity for every run, read back from the run folders."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for t in TEMPERATURES_C:
        result = microsim.Result.load(out_dir / f"{t:g}C")
        for rate in C_RATES:
            ts = result.timeseries(rate)
            ax.plot(ts["Capacity [mAh/g]"], ts["Voltage [V]"], label=f"{t:g} °C, {rate:g}C")
    ax.set_xlabel("Capacity [mAh/g]")
    ax.set_ylabel("Voltage [V]")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "rate_scan.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs") / "example-rate-scan"
    comm = MPI.COMM_WORLD
    scan = main(out, comm)
    if comm.rank == 0:
        scan.to_csv(out / "rate_scan.csv", index=False)
        plot(out, scan)
        print(scan[["temperature_C", "C-rate [1/h]", "Capacity [mAh/g]", "Limiting mechanism"]].to_string())
