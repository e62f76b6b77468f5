"""Filled vs point-contact interface: the resistance breakdown of both cells, side by side, through the Python API.

The two archetypes of the reference paper (Chen et al., EES 2019): the electrolyte cast into the cathode's pores
("filled", cathode-supported) and a membrane pressed onto the dry cathode ("point-contact", conventional). Each
run writes a complete run folder (summary.json, config.toml, fields for ParaView, ...), the same as
``microsim run`` would.

Run (about 10 s; any number of ranks)::

    .venv/bin/python examples/resistance_filled_vs_point_contact.py [OUT_DIR]
    .venv/bin/mpiexec -n 2 .venv/bin/python examples/resistance_filled_vs_point_contact.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import dolfinx_solver  # noqa: F401  (before mpi4py/petsc4py: the wheel's MPI and PETSc)
from mpi4py import MPI

import microsim
from microsim.post.tables import breakdown_table, format_breakdown

ROOT = Path(__file__).resolve().parents[1]


def main(out_dir: Path, comm: MPI.Comm) -> dict[str, microsim.Result]:
    """Run both archetypes of the bundled 2D default case; return their results by interface."""
    base = microsim.Case.from_toml(ROOT / "geometries" / "default-2d.toml").with_overrides("output.png=false")
    results = {}
    for interface in ("filled", "point-contact"):
        case = base.with_overrides(f"geometry.interface={interface}")
        results[interface] = case.run(comm, out_dir / interface, overwrite=True)
    return results


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs") / "example-resistance"
    comm = MPI.COMM_WORLD
    results = main(out, comm)
    if comm.rank == 0:
        table = breakdown_table({name: r.summary for name, r in results.items()})
        print(format_breakdown(table))
        ratio = table["ratio"].iloc[table.attrs["parts"].index("total")]
        print(f"\npoint-contact / filled, total: {ratio:.3g}")
        print("files of the filled run:", ", ".join(sorted(results["filled"].paths)[:6]), "...")
