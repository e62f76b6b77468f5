"""The Python API (microsim.api): cases, overrides, runs on an explicit communicator, results; the examples run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dolfinx_solver")  # must precede mpi4py

import microsim
from microsim.errors import ConfigError, MicrosimError

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / "geometries" / "default-2d.toml"
SMALL = ("geometry.width_um=4.0", "geometry.mesh_size_um=0.4", "output.png=false")

pytestmark = [pytest.mark.fenics]


def _numbers(d: Any, prefix: str = "") -> dict[str, float]:
    """Every number of a summary by its path, without what differs between two runs of one case."""
    skip = ("provenance", "timings_s", "wall_time_s", "time_per_frequency_s", "time_")
    out: dict[str, float] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            if not any(str(k).startswith(s) for s in skip):
                out.update(_numbers(v, f"{prefix}{k}."))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out.update(_numbers(v, f"{prefix}{i}."))
    elif isinstance(d, int | float) and not isinstance(d, bool):
        out[prefix] = float(d)
    return out


def test_overrides_as_strings_and_as_values() -> None:
    """Strings parse as --set does, keyword values are typed; the case is unchanged; bad input names the field."""
    case = microsim.Case.from_toml(CASE, SMALL)
    other = case.with_overrides("geometry.interface=point-contact", **{"study.c_rates": [0.5, 2.0]})
    assert other.config.geometry.interface == "point-contact" and tuple(other.config.study.c_rates) == (0.5, 2.0)
    assert case.config.geometry.interface == "filled" and case.config.geometry.width_um == 4.0
    assert other.config.source == case.config.source  # relative paths still resolve against the case file
    assert 'interface = "point-contact"' in other.to_toml() and other.study == "resistance"
    with pytest.raises(ConfigError, match=r"geometry.active_fraction = 0.95: must be in"):
        case.with_overrides("geometry.active_fraction=0.95")
    with pytest.raises(ConfigError, match=r"geometry\.no_such_key"):
        case.with_overrides(**{"geometry.no_such_key": 1})


@pytest.mark.mpi
def test_the_api_and_the_cli_write_the_same_run(comm, mpi_tmp_path: Path) -> None:
    """One case through ``microsim run`` and through ``Case.run``: the same summary numbers, the same files."""
    from microsim.cli import main

    case = microsim.Case.from_toml(CASE, SMALL).with_overrides("geometry.interface=point-contact")
    result = case.run(comm, mpi_tmp_path / "api")
    args = [str(CASE), "--out", str(mpi_tmp_path / "cli"), "--quiet"]
    for item in (*SMALL, "geometry.interface=point-contact"):
        args += ["--set", item]
    assert main(["run", *args]) == 0
    cli = microsim.Result.load(mpi_tmp_path / "cli")
    a, b = _numbers(result.summary), _numbers(cli.summary)
    assert a.keys() == b.keys() and len(a) > 50
    assert all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a), [k for k in a if a[k] != b[k]]
    assert set(result.paths) == set(cli.paths) and "summary.json" in result.paths
    # what the API returns is summary.json (the resistance study returns nothing beyond it)
    on_disk = json.loads((mpi_tmp_path / "api" / "summary.json").read_text(encoding="utf-8"))
    assert _numbers(on_disk) == a
    table = cli.breakdown()
    assert table[cli.summary["interface"]].iloc[0] == pytest.approx(cli.summary["resistance_ohm_cm2"]["total"])
    assert cli.case.config.geometry.interface == "point-contact"
    with pytest.raises(MicrosimError, match=r"timeseries.csv: no time series in this resistance run"):
        cli.timeseries()
    with pytest.raises(MicrosimError, match="has no resistance breakdown"):
        microsim.Result(mpi_tmp_path, {"study": "rate"}).breakdown()
    with pytest.raises(ConfigError, match="holds"):  # a second, different study into the same folder is refused
        case.with_overrides("study.kind=impedance").run(comm, mpi_tmp_path / "api")


def test_a_folder_without_a_summary_says_so(tmp_path: Path) -> None:
    with pytest.raises(MicrosimError, match=r"summary.json: no summary \(the run did not finish; see run.json\)"):
        microsim.Result.load(tmp_path)


def _example(name: str, out: Path) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), str(out)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_example_resistance_filled_vs_point_contact(tmp_path: Path) -> None:
    """The printed ratio is the two summaries' total resistances' ratio, and point contact is the larger."""
    text = _example("resistance_filled_vs_point_contact.py", tmp_path)
    totals = {
        i: microsim.Result.load(tmp_path / i).summary["resistance_ohm_cm2"]["total"]
        for i in ("filled", "point-contact")
    }
    ratio = totals["point-contact"] / totals["filled"]
    assert ratio > 10.0 and f"point-contact / filled, total: {ratio:.3g}" in text


def test_example_rate_scan_temperature(tmp_path: Path) -> None:
    """Four finite capacities; the warmer cell (conductivity and kinetics up) delivers more at each rate."""
    import pandas as pd

    _example("rate_scan_temperature.py", tmp_path)
    scan = pd.read_csv(tmp_path / "rate_scan.csv")
    assert len(scan) == 4 and scan["Capacity [mAh/g]"].notna().all()
    caps = scan.pivot(index="C-rate [1/h]", columns="temperature_C", values="Capacity [mAh/g]")
    assert (caps[50.0] > caps[30.0]).all() and (tmp_path / "rate_scan.png").stat().st_size > 10_000
