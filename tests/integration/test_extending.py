"""docs/extending.md: its worked example of a new study runs as written, through the one study pipeline."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dolfinx_solver")  # before dolfinx: it loads the MPI library

from microsim import config
from microsim.config.study import STUDY_REGISTRY
from microsim.errors import ConfigError
from microsim.studies import run_study

pytestmark = [pytest.mark.fenics, pytest.mark.mpi]

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending.md"
BOX = ["geometry.width_um=4", "geometry.cathode_thickness_um=4", "geometry.membrane_thickness_um=3"]


def _python_blocks(section: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


@pytest.fixture
def example_module(mpi_tmp_path: Path, comm: Any) -> Iterator[str]:
    """The documented study module, importable as ``phase_volumes``, registered for this test only."""
    module_code = _python_blocks("Adding a study")[0]
    if comm.rank == 0:
        (mpi_tmp_path / "phase_volumes.py").write_text(module_code, encoding="utf-8")
    comm.barrier()
    sys.path.insert(0, str(mpi_tmp_path))
    try:
        yield "phase_volumes"
    finally:
        sys.path.remove(str(mpi_tmp_path))
        sys.modules.pop("phase_volumes", None)
        STUDY_REGISTRY.pop("phase-volumes", None)


def test_the_documented_study_runs_through_the_pipeline(example_module: str, mpi_tmp_path: Path, comm: Any) -> None:
    usage = _python_blocks("Adding a study")[1]
    assert "register_study" in usage and "run_study(cfg, out_dir, comm)" in usage
    config.register_study(
        config.StudyKind("phase-volumes", f"{example_module}:PhaseVolumeStudy", "volume of each phase")
    )
    base = Path(__file__).resolve().parents[2] / "geometries" / "default-2d.toml"
    cfg = config.load(base, ["study.kind=phase-volumes", "output.png=false", *BOX])
    out = mpi_tmp_path / "run"
    summary = run_study(cfg, out, comm)

    # the pipeline's header and files
    assert summary["study"] == "phase-volumes" and summary["n_ranks"] == comm.size
    on_disk = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["phase_volume_um3"] == pytest.approx(summary["phase_volume_um3"], rel=1e-14)
    assert (out / "geometry.json").is_file()
    # filled: the three phases tile the box (no void), to round-off
    total = sum(summary["phase_volume_um3"].values())
    assert total == pytest.approx(4.0 * (4.0 + 3.0), rel=1e-10)
    assert summary["phase_volume_um3"]["membrane"] == pytest.approx(4.0 * 3.0, rel=1e-10)
    # the mesh's active fraction is the packing's to within the polygonal approximation of the disks
    assert summary["active_fraction_mesh"] == pytest.approx(summary["active_fraction_geometry"], rel=0.03)


def test_an_unregistered_kind_is_refused_with_the_registered_ones() -> None:
    with pytest.raises(ConfigError) as err:
        config.from_dict({"study": {"kind": "phase-volume"}})
    assert "study.kind = 'phase-volume'" in str(err.value) and "resistance" in str(err.value)
