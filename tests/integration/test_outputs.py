"""Writers: XDMF fields read back by a real reader (meshio), atomic JSON/CSV, NaN refusal on all ranks."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")  # must precede dolfinx / mpi4py
import dolfinx
import dolfinx.fem
import dolfinx.mesh

from microsim.errors import SolutionError
from microsim.field_output import merge_time_series, write_fields_xdmf
from microsim.outputs import write_csv, write_json, write_json_local

pytestmark = [pytest.mark.mpi, pytest.mark.fenics]


def _f1(x):
    return x[0] + 2.0 * x[1]


def _f2(x):
    return 3.0 - x[0] + 0.5 * x[1]


def _p1(mesh, name, expr):
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
    f = dolfinx.fem.Function(V, name=name)
    f.interpolate(expr)
    return f


def test_xdmf_fields_read_back(comm, mpi_tmp_path):
    meshio = pytest.importorskip("meshio")
    pytest.importorskip("h5py")
    mesh = dolfinx.mesh.create_unit_square(comm, 8, 8)
    a = _p1(mesh, "phi_e_V", _f1)
    b = _p1(mesh, "c_mol_m3", _f2)
    # a second group on another mesh (a stand-in for the particle submesh)
    mesh2 = dolfinx.mesh.create_unit_square(comm, 3, 5)
    theta = _p1(mesh2, "theta", _f2)

    # a stale folder from an earlier run must be replaced, not merged
    if comm.rank == 0:
        (mpi_tmp_path / "fields").mkdir()
        (mpi_tmp_path / "fields" / "stale.xdmf").write_text("old")
    comm.barrier()

    paths = write_fields_xdmf(comm, mpi_tmp_path, {"electrolyte": [a, b], "particles": [theta]}, time=0.0)
    assert set(paths) == {"electrolyte", "particles"}
    assert paths["electrolyte"] == mpi_tmp_path / "fields" / "electrolyte.xdmf"

    if comm.rank == 0:
        names = sorted(p.name for p in (mpi_tmp_path / "fields").iterdir())
        assert names == ["electrolyte.h5", "electrolyte.xdmf", "particles.h5", "particles.xdmf"]
        assert not (mpi_tmp_path / ".fields.tmp").exists()
        assert not any(p.name.startswith(".fields") for p in mpi_tmp_path.iterdir())

        for group, n_points, funcs in (
            ("electrolyte", 81, {"phi_e_V": _f1, "c_mol_m3": _f2}),
            ("particles", 24, {"theta": _f2}),
        ):
            xdmf = paths[group]
            text = xdmf.read_text()
            # ParaView-compatible: XDMF 3, heavy data in the .h5 beside it, referenced by relative name
            root = ET.fromstring(text)
            assert root.tag == "Xdmf" and root.get("Version", "").startswith("3")
            hdf_refs = {item.text.split(":")[0] for item in root.iter("DataItem") if item.get("Format") == "HDF"}
            assert hdf_refs == {f"{group}.h5"}
            assert str(mpi_tmp_path) not in text

            # one grid with every function: meshio's plain reader takes it as written (DOLFINx's layout it refused)
            m = meshio.read(xdmf)
            assert m.points.shape == (n_points, 2) and m.cells[0].type == "triangle"
            assert set(m.point_data) == set(funcs)
            for name, expr in funcs.items():
                np.testing.assert_allclose(np.asarray(m.point_data[name]).ravel(), expr(m.points.T), atol=1e-12)

            (step,) = _vtk_read(xdmf)  # and by VTK's XDMF reader (ParaView's family)
            assert set(step["arrays"]) == set(funcs) and len(step["points"]) == n_points

            from microsim.post.render import read_xdmf_fields

            grid = read_xdmf_fields(xdmf)
            assert grid.n_points == n_points
            x = grid.points.T
            for name, expr in funcs.items():
                # exact for P1: nodal values are the function at the nodes
                np.testing.assert_allclose(np.asarray(grid.point_data[name]).ravel(), expr(x), atol=1e-12)
    comm.barrier()


#: Reads an XDMF time series with VTK's own XDMF reader (the ParaView family) and prints what it found as JSON;
#: run in a child process, because that reader crashed (SIGSEGV) on DOLFINx's xi:include layout.
_VTK_READ = """
import json, sys
import numpy as np
import vtk
from vtk.util.numpy_support import vtk_to_numpy
reader = vtk.vtkXdmfReader()
reader.SetFileName(sys.argv[1])
reader.UpdateInformation()
info = reader.GetOutputInformation(0)
key = vtk.vtkStreamingDemandDrivenPipeline.TIME_STEPS()
times = [info.Get(key, i) for i in range(info.Length(key))] if info.Has(key) else [None]
steps = []
for t in times:
    if t is not None:
        reader.UpdateTimeStep(t)
    else:
        reader.Update()
    out = reader.GetOutputDataObject(0)
    data = out.GetPointData()
    arrays = {}
    for i in range(data.GetNumberOfArrays()):
        arrays[data.GetArrayName(i)] = vtk_to_numpy(data.GetArray(i)).ravel().tolist()
    points = vtk_to_numpy(out.GetPoints().GetData()).tolist()
    steps.append({"time": t, "class": out.GetClassName(), "points": points, "arrays": arrays})
print(json.dumps(steps))
"""


def _vtk_read(path):
    """What VTK's XDMF reader sees in ``path``: one record per time step."""
    import subprocess
    import sys

    pytest.importorskip("vtk")
    done = subprocess.run([sys.executable, "-c", _VTK_READ, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"VTK's XDMF reader failed on {path} (rc {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def test_xdmf_time_series_read_by_meshio_and_vtk(comm, mpi_tmp_path):
    """A series written as the snapshots are, then merged: every time with every field, in both readers."""
    meshio = pytest.importorskip("meshio")
    pytest.importorskip("h5py")
    mesh = dolfinx.mesh.create_unit_square(comm, 6, 4)
    a = _p1(mesh, "phi_e_V", _f1)
    b = _p1(mesh, "c_mol_m3", _f2)
    path = mpi_tmp_path / "electrolyte.xdmf"
    times = [0.0, 12.5, 40.0]
    with dolfinx.io.XDMFFile(comm, str(path), "w") as xdmf:
        xdmf.write_mesh(mesh)
        for t in times:
            a.interpolate(lambda x, t=t: _f1(x) + t)
            b.interpolate(lambda x, t=t: _f2(x) * (1.0 + t))
            xdmf.write_function(a, t)
            xdmf.write_function(b, t)
    comm.barrier()
    if comm.rank == 0:
        assert merge_time_series(path) == 3
        assert merge_time_series(path) == 0  # already one series: left as it is
        expected = {"phi_e_V": lambda x, t: _f1(x) + t, "c_mol_m3": lambda x, t: _f2(x) * (1.0 + t)}
        with meshio.xdmf.TimeSeriesReader(path) as reader:
            points, cells = reader.read_points_cells()
            assert points.shape == (35, 2) and cells[0].type == "triangle"
            assert reader.num_steps == 3
            for k, t in enumerate(times):
                t_read, point_data, _ = reader.read_data(k)
                assert t_read == t
                assert set(point_data) == set(expected)
                for name, expr in expected.items():
                    np.testing.assert_allclose(point_data[name].ravel(), expr(points.T, t), atol=1e-12)
        steps = _vtk_read(path)
        assert [s["time"] for s in steps] == times
        for s, t in zip(steps, times, strict=True):
            assert s["class"] == "vtkUnstructuredGrid"
            x = np.asarray(s["points"]).T
            for name, expr in expected.items():
                # VTK's XDMF reader hands float32 arrays
                np.testing.assert_allclose(s["arrays"][name], expr(x, t), rtol=1e-6, atol=1e-6)
    comm.barrier()


def test_xdmf_refuses_nan(comm, mpi_tmp_path):
    mesh = dolfinx.mesh.create_unit_square(comm, 4, 4)
    a = _p1(mesh, "phi_e_V", _f1)
    if comm.rank == comm.size - 1:
        a.x.array[0] = np.nan  # only one rank sees it: all must raise
    with pytest.raises(SolutionError, match=r"electrolyte\.phi_e_V"):
        write_fields_xdmf(comm, mpi_tmp_path, {"electrolyte": [a]})
    comm.barrier()
    assert not (mpi_tmp_path / "fields").exists()
    assert not (mpi_tmp_path / ".fields.tmp").exists()


def test_write_json_atomic(comm, mpi_tmp_path):
    path = mpi_tmp_path / "summary.json"
    data = {
        "interface": "filled",
        "resistance_ohm_cm2": {"total": 12.5},
        "n": np.int64(3),
        "v": np.float64(1),
    }
    write_json(comm, path, data)
    # after the collective call every rank sees the complete file
    loaded = json.loads(path.read_text())
    assert loaded["resistance_ohm_cm2"]["total"] == 12.5 and loaded["n"] == 3
    assert sorted(p.name for p in mpi_tmp_path.iterdir()) == ["summary.json"]
    comm.barrier()


def test_write_json_refuses_nan_on_every_rank(comm, mpi_tmp_path):
    path = mpi_tmp_path / "summary.json"
    bad = {"resistance_ohm_cm2": {"total": 1.0, "membrane": math.nan}}
    with pytest.raises(SolutionError, match=r"resistance_ohm_cm2\.membrane"):
        write_json(comm, path, bad)
    # a NaN that only one rank has must still stop all ranks (no hang in the barrier)
    rank_local = {"x": [1.0, math.inf if comm.rank == comm.size - 1 else 2.0]}
    with pytest.raises(SolutionError, match=r"x\[1\]"):
        write_json(comm, path, rank_local)
    comm.barrier()
    assert list(mpi_tmp_path.iterdir()) == []

    # an existing good file is left untouched by a refused write
    write_json(comm, path, {"a": 1})
    with pytest.raises(SolutionError):
        write_json(comm, path, {"a": float("nan")})
    assert json.loads(path.read_text()) == {"a": 1}
    comm.barrier()


def test_write_csv(comm, mpi_tmp_path):
    pd = pytest.importorskip("pandas")
    path = mpi_tmp_path / "series.csv"
    write_csv(comm, path, [{"t_s": 0.0, "V": 3.4}, {"t_s": 1.0, "V": 3.39, "note": "x"}])
    df = pd.read_csv(path)
    assert list(df.columns) == ["t_s", "V", "note"] and df["V"].tolist() == [3.4, 3.39]
    with pytest.raises(SolutionError, match="'V'"):
        write_csv(comm, path, pd.DataFrame({"t_s": [0.0], "V": [np.nan]}))
    with pytest.raises(SolutionError, match="row 1"):
        write_csv(comm, path, [{"t_s": 0.0}, {"t_s": math.nan}])
    assert pd.read_csv(path).shape == (2, 3)
    comm.barrier()
    assert sorted(p.name for p in mpi_tmp_path.iterdir()) == ["series.csv"]
    comm.barrier()


def test_write_json_local_serial(tmp_path):
    path = write_json_local(tmp_path / "sub" / "g.json", {"a": [1, 2.5]})
    assert json.loads(path.read_text()) == {"a": [1, 2.5]}
    with pytest.raises(SolutionError):
        write_json_local(tmp_path / "h.json", {"a": -math.inf})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]
    write_json(None, tmp_path / "i.json", {"b": 1})
    assert json.loads((tmp_path / "i.json").read_text()) == {"b": 1}
