"""geometry.png from geometry.json: written, not blank, 2D and 3D, filled and point-contact."""

from __future__ import annotations

import json

import numpy as np
import pytest

pv = pytest.importorskip("pyvista")

from microsim.post.geometry_plot import render_geometry_png  # noqa: E402


def _record(dim, interface):
    rng = np.random.default_rng(0)
    names = ("x_um", "y_um") if dim == 2 else ("x_um", "y_um", "z_um")
    parts = []
    for _ in range(12):
        c = list(rng.uniform(0.6, 3.4, dim))
        c[-1] = rng.uniform(0.5, 3.5)
        parts.append({**dict(zip(names, c, strict=True)), "r_um": 0.5})
    parts.append({**dict(zip(names, [2.0] * (dim - 1) + [3.8], strict=True)), "r_um": 0.5})  # cuts z = L_c
    return dict(
        dim=dim, interface=interface, width_um=4.0, cathode_thickness_um=4.0, membrane_thickness_um=2.0,
        particles=parts, active_fraction=0.4,
    )  # fmt: skip


@pytest.mark.parametrize("dim,interface", [(3, "point-contact"), (3, "filled"), (2, "point-contact")])
def test_png_written_and_not_blank(tmp_path, dim, interface):
    src = tmp_path / "geometry.json"
    src.write_text(json.dumps(_record(dim, interface)))
    png = render_geometry_png(src, tmp_path / "out" / "geometry.png", window_size=(300, 300))
    assert png.is_file() and png.stat().st_size > 1000
    img = _pixels(png)
    # Not blank: a good share of non-white pixels, and the spot colour where there are spots.
    non_white = (img[..., :3] < 240).any(axis=-1).mean()
    assert non_white > 0.03
    if interface == "point-contact":
        red = (img[..., 0] > 180) & (img[..., 1] < 90) & (img[..., 2] < 90)
        assert red.sum() > 5


def _pixels(png):
    from PIL import Image

    return np.asarray(Image.open(png).convert("RGB")).astype(int)


@pytest.mark.parametrize("dim", [2, 3])
def test_voids_drawn_grey(tmp_path, dim):
    """Gas voids (geometry.pore_fill_fraction < 1) show as grey regions the plain record does not have."""
    rec = _record(dim, "filled")
    names = ("x_um", "y_um") if dim == 2 else ("x_um", "y_um", "z_um")
    plain = render_geometry_png(_write(tmp_path / "a.json", rec), tmp_path / "a.png", window_size=(300, 300))
    rec["voids"] = [{**dict(zip(names, [3.9] * (dim - 1) + [2.0], strict=True)), "r_um": 0.8}]
    rec["wet_pore_fraction"] = 0.8
    voided = render_geometry_png(_write(tmp_path / "b.json", rec), tmp_path / "b.png", window_size=(300, 300))

    def grey(png):
        img = _pixels(png)
        spread = img.max(axis=-1) - img.min(axis=-1)
        return ((spread < 12) & (img[..., 0] > 120) & (img[..., 0] < 235)).sum()

    assert grey(voided) > grey(plain) + 50


def _write(path, rec):
    path.write_text(json.dumps(rec))
    return path
