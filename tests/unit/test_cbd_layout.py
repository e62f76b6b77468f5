"""Carbon-binder domain: configuration checks, layout sizing and determinism (no mesh)."""

from __future__ import annotations

import numpy as np
import pytest

from microsim import config
from microsim.errors import ConfigError, GeometryError
from microsim.geometry.archetypes import describe
from microsim.geometry.cbd import MAX_COATING_COVERAGE, layout_cbd
from microsim.parameters import resolve

CENTERS = np.array([[1.0, 0.45], [1.0, 1.65], [2.2, 0.6]])
RADII = np.array([0.5, 0.5, 0.5])


def _layout(fraction: float, placement: str = "necks", seed: int = 1, thickness: float = 0.15):
    return layout_cbd(
        2,
        3.5,
        3.0,
        CENTERS,
        RADII,
        fraction=fraction,
        placement=placement,
        thickness_um=thickness,
        ionic="blocking",
        seed=seed,
        radius_mean_um=0.5,
    )


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("geometry.cbd_fraction", 1.0, "geometry.cbd_fraction"),
        ("geometry.cbd_fraction", -0.1, "geometry.cbd_fraction"),
        ("geometry.cbd_placement", "fillets", "geometry.cbd_placement"),
        ("geometry.cbd_ionic", "porous", "geometry.cbd_ionic"),
        ("geometry.cbd_thickness_um", 0.0, "geometry.cbd_thickness_um"),
        ("parameters.cbd.conductivity_S_m", 0.0, "cbd.conductivity_S_m"),
        ("parameters.cbd.conductivity_S_m", -5.0, "cbd.conductivity_S_m"),
        ("parameters.cbd.ionic_factor", 0.0, "cbd.ionic_factor"),
        ("parameters.cbd.ionic_factor", 1.5, "cbd.ionic_factor"),
        ("parameters.lfp.intrinsic_conductivity_S_m", 0.0, "lfp.intrinsic_conductivity_S_m"),
    ],
)
def test_bad_cbd_input_names_the_key(key: str, value: object, words: str) -> None:
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        config.replace(config.default(), **{key: value})


def test_cbd_needs_the_filled_interface() -> None:
    with pytest.raises(ConfigError, match=r"geometry\.cbd_fraction.*filled"):
        config.replace(config.default(), **{"geometry.cbd_fraction": 0.1, "geometry.interface": "point-contact"})


def test_factor_of_one_and_defaults_are_accepted() -> None:
    cfg = config.replace(config.default(), **{"parameters.cbd.ionic_factor": 1.0})
    p = resolve(cfg)
    assert p.cbd.ionic_factor == 1.0
    assert p.cbd.porosity == pytest.approx(0.476)
    assert resolve(config.default()).cbd.ionic_factor == pytest.approx(0.476**1.5)
    assert "cbd.conductivity_S_m" in p.as_dict()


def test_off_by_default_leaves_the_description_without_cbd() -> None:
    desc = describe(config.default().geometry)
    assert desc.cbd is None
    assert "cbd" not in desc.stats()


@pytest.mark.parametrize("placement", ["necks", "coating"])
def test_layout_reaches_the_fraction_and_is_deterministic(placement: str) -> None:
    a, b = _layout(0.05, placement), _layout(0.05, placement)
    assert a.fraction_estimate == pytest.approx(0.05, rel=0.05)
    assert np.array_equal(a.neck_centers, b.neck_centers)
    assert np.array_equal(a.coat_normals, b.coat_normals)
    if placement == "coating":
        assert 0.0 < a.coverage <= MAX_COATING_COVERAGE
        assert not np.array_equal(a.coat_normals, _layout(0.05, placement, seed=2).coat_normals)
    else:
        # the bridge 0-1 (gap 0.2 µm) and the collector neck of particle 0 at least
        pairs = {tuple(p) for p in a.neck_contacts.tolist()}
        assert (0, -1) in pairs


def test_fraction_grows_with_the_neck_radius() -> None:
    radii = [_layout(f).neck_radius_um for f in (0.02, 0.05, 0.08)]
    assert radii == sorted(radii)


@pytest.mark.parametrize(("placement", "words"), [("necks", "neck radius"), ("coating", "cbd_thickness_um")])
def test_unreachable_fraction_names_the_key_and_the_best(placement: str, words: str) -> None:
    with pytest.raises(GeometryError, match=r"geometry\.cbd_fraction = 0\.6: unreachable.*at most") as err:
        _layout(0.6, placement)
    assert words in str(err.value)


def test_unknown_placement_is_a_geometry_error() -> None:
    with pytest.raises(GeometryError, match=r"geometry\.cbd_placement = 'fillets'"):
        _layout(0.05, "fillets")
