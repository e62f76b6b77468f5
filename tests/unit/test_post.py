"""Post-processing from files, without DOLFINx: breakdown tables and field pictures."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from microsim.post import tables
from microsim.post.tables import PART_LABELS, breakdown_table, flatten_summary, format_breakdown, load_summary

PARTS = list(PART_LABELS)


def _summary(interface: str, scale: float) -> dict:
    parts = {key: scale * (i + 1) for i, key in enumerate(PARTS)}
    return {
        "interface": interface,
        "dim": 2,
        "temperature_C": 50.0,
        "n_cells": 1000,
        "resistance_ohm_cm2": parts,
        "parameters": {"kappa_S_m": 0.01, "electrolyte": "PAL"},
    }


@pytest.fixture
def summaries() -> dict[str, dict]:
    return {"filled": _summary("filled", 1.0), "point-contact": _summary("point-contact", 10.0)}


def test_breakdown_rows_values_ratio(summaries):
    df = breakdown_table(summaries)
    assert list(df.index) == list(PART_LABELS.values())
    assert list(df.columns) == ["filled", "point-contact", tables.RATIO_COLUMN]
    assert df.attrs["parts"] == PARTS
    assert "membrane (ohmic) [Ω·cm²]" in df.index
    for i, key in enumerate(PARTS):
        label = PART_LABELS[key]
        assert df.loc[label, "filled"] == pytest.approx(i + 1)
        assert df.loc[label, "point-contact"] == pytest.approx(10.0 * (i + 1))
        assert df.loc[label, "ratio"] == pytest.approx(10.0)


def test_breakdown_labels_are_free_and_ratio_needs_both(summaries):
    df = breakdown_table({"a": summaries["point-contact"], "b": summaries["filled"]})
    assert df["ratio"].tolist() == pytest.approx([10.0] * len(PARTS))
    only = breakdown_table({"filled": summaries["filled"]})
    assert "ratio" not in only.columns


def test_breakdown_missing_part_and_zero_denominator(summaries):
    summaries["filled"]["resistance_ohm_cm2"].pop("solid")
    summaries["filled"]["resistance_ohm_cm2"]["concentration"] = 0.0
    df = breakdown_table(summaries)
    assert math.isnan(df.loc[PART_LABELS["solid"], "filled"])
    assert math.isnan(df.loc[PART_LABELS["concentration"], "ratio"])
    text = format_breakdown(df)
    assert "n/a" in text


def test_format_breakdown(summaries):
    summaries["filled"]["resistance_ohm_cm2"]["total"] = 123.456789
    text = format_breakdown(breakdown_table(summaries))
    for label in PART_LABELS.values():
        assert label in text
    assert "123.5" in text  # 4 significant digits
    assert "123.45" not in text
    lines = text.splitlines()
    assert "filled" in lines[0] and "point-contact" in lines[0] and "ratio" in lines[0]
    # fixed width: all table rows (header + parts) have the same length once right-aligned
    body = [line for line in lines[2 : 2 + len(PARTS)]]
    assert len({len(line) for line in body}) == 1


def test_flatten_summary(summaries):
    flat = flatten_summary(summaries["filled"])
    assert flat["interface"] == "filled"
    assert flat["resistance_ohm_cm2.membrane"] == pytest.approx(2.0)
    assert flat["parameters.kappa_S_m"] == pytest.approx(0.01)
    assert "resistance_ohm_cm2" not in flat
    assert all(not isinstance(v, dict) for v in flat.values())


def test_load_summary(tmp_path, summaries):
    (tmp_path / "summary.json").write_text(json.dumps(summaries["filled"]))
    assert load_summary(tmp_path) == summaries["filled"]
    assert load_summary(tmp_path / "summary.json")["interface"] == "filled"
    from microsim.errors import MicrosimError

    with pytest.raises(MicrosimError, match="not found"):
        load_summary(tmp_path / "nope.json")


def _write_xdmf(path, points, cells, point_data, cell_type="triangle"):
    meshio = pytest.importorskip("meshio")
    pytest.importorskip("h5py")
    meshio.write(path, meshio.Mesh(points, [(cell_type, cells)], point_data=point_data))


def test_render_fields_png(tmp_path):
    pytest.importorskip("pyvista")
    from microsim.post.render import read_xdmf_fields, render_fields_png

    fields = tmp_path / "fields"
    fields.mkdir()
    # electrolyte: a 3 x 2 grid of points, 4 triangles
    x, y = np.meshgrid(np.linspace(0.0, 2.0, 3), np.linspace(1.0, 2.0, 2))
    pts = np.column_stack([x.ravel(), y.ravel()])
    tri = np.array([[0, 1, 4], [0, 4, 3], [1, 2, 5], [1, 5, 4]])
    _write_xdmf(
        fields / "electrolyte.xdmf",
        pts,
        tri,
        {"phi_e_V": pts[:, 0] + 2 * pts[:, 1], "c_mol_m3": 1000.0 + 100 * pts[:, 1]},
    )
    # particles: two triangles below
    ppts = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    _write_xdmf(
        fields / "particles.xdmf",
        ppts,
        np.array([[0, 1, 2], [0, 2, 3]]),
        {"theta": np.array([0.1, 0.2, 0.5, 0.9])},
    )

    grid = read_xdmf_fields(fields / "electrolyte.xdmf")
    assert grid.n_points == 6 and grid.n_cells == 4
    assert grid.points.shape == (6, 3)
    np.testing.assert_allclose(grid.point_data["phi_e_V"], grid.points[:, 0] + 2 * grid.points[:, 1])

    png = render_fields_png(fields, tmp_path / "out" / "fields.png", title="test")
    assert png.stat().st_size > 1000
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 10


def test_render_needs_files(tmp_path):
    pytest.importorskip("pyvista")
    from microsim.post.render import render_fields_png

    with pytest.raises(FileNotFoundError):
        render_fields_png(tmp_path, tmp_path / "x.png")


def test_post_imports_no_dolfinx():
    import subprocess
    import sys

    code = (
        "import sys, microsim.post, microsim.post.tables, microsim.post.render, microsim.outputs; "
        "assert 'dolfinx' not in sys.modules, 'post imported dolfinx'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_carbon_binder_row_appears_only_with_a_carbon_binder_domain(summaries):
    without = {k: {**s, "resistance_ohm_cm2": {p: v for p, v in s["resistance_ohm_cm2"].items() if p != "cbd"}}
               for k, s in summaries.items()}  # fmt: skip
    df = breakdown_table(without)
    assert PART_LABELS["cbd"] not in df.index and "cbd" not in df.attrs["parts"]
    assert "carbon-binder" not in format_breakdown(df)
    mixed = {"filled": summaries["filled"], "point-contact": without["point-contact"]}
    df = breakdown_table(mixed)
    assert df.loc[PART_LABELS["cbd"], "filled"] == pytest.approx(PARTS.index("cbd") + 1)
    assert math.isnan(df.loc[PART_LABELS["cbd"], "point-contact"])


def _box_tets(lo, hi, n):
    """A structured tetrahedral mesh of a box (pyvista's grid split into tets): points, tets."""
    pv = pytest.importorskip("pyvista")
    axes = [np.linspace(a, b, n) for a, b in zip(lo, hi, strict=True)]
    grid = pv.RectilinearGrid(*axes).cast_to_unstructured_grid().triangulate()
    return np.asarray(grid.points), grid.cells_dict[10]


def test_3d_fields_are_cut_through_the_hotspot_with_a_close_up(tmp_path):
    """A membrane over a solid with a constriction at one spot: the cut goes through it, the close-up frames it."""
    pytest.importorskip("pyvista")
    from microsim.post.render import _opened, hotspot, plan_cut, read_xdmf_fields, render_fields_png

    spot = np.array([1.2, 0.8, 2.0])  # on the membrane's bottom face
    fields = tmp_path / "fields"
    fields.mkdir()
    pts, tets = _box_tets((0.0, 0.0, 2.0), (3.0, 3.0, 4.0), 13)
    distance = np.linalg.norm(pts - spot, axis=1)
    # a point-contact potential: phi ~ -1/(r + a) near the spot, tending to a uniform field far from it
    phi = 1e-3 * (pts[:, 2] - 1.0 / (distance + 0.15))
    _write_xdmf(fields / "electrolyte.xdmf", pts, tets, {"phi_e_V": phi, "c_mol_m3": 1000.0 + 0.0 * phi}, "tetra")
    spts, stets = _box_tets((0.0, 0.0, 0.0), (3.0, 3.0, 2.0), 7)
    _write_xdmf(fields / "particles.xdmf", spts, stets, {"theta": 0.5 + 0.1 * spts[:, 2]}, "tetra")

    grids = {name: read_xdmf_fields(fields / f"{name}.xdmf") for name in ("electrolyte", "particles")}
    found = hotspot(grids["electrolyte"], "phi_e_V")
    assert found is not None
    assert np.linalg.norm(found - spot) < 0.3  # the mesh spacing is 0.25
    cut = plan_cut(grids)
    assert cut is not None and cut.close_up is not None
    assert cut.origin[1] == pytest.approx(found[1])
    # the close-up is a few spot sizes, not the whole box
    assert 0.04 * 4.0 <= cut.close_up < 0.2 * 4.0 + 1e-12
    opened = _opened(grids["electrolyte"], cut)
    assert np.asarray(opened.points)[:, 1].max() <= cut.origin[1] + 1e-9  # the +y half is gone
    assert opened.n_points < grids["electrolyte"].n_points

    # a flat potential has no hotspot (no close-up), and the cut goes through the middle
    flat = grids["electrolyte"].copy()
    flat.point_data["phi_e_V"] = np.full(flat.n_points, 0.25)
    assert hotspot(flat, "phi_e_V") is None
    flat_cut = plan_cut({"electrolyte": flat, "particles": grids["particles"]})
    assert flat_cut is not None and flat_cut.close_up is None
    assert flat_cut.origin == pytest.approx((1.5, 1.5, 2.0))

    png = render_fields_png(fields, tmp_path / "fields.png", title="3D test")
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB"))
    # three field panels and the close-up: two rows of 560 pixels under the title row
    assert img.shape[0] == 2 * 560 + 80 and img.shape[1] == 1400
    # the close-up panel (bottom right) is drawn: more than background and bar
    panel = img[80 + 560 :, 700:].reshape(-1, 3)
    assert len(np.unique(panel, axis=0)) > 50
