"""The archetype registry: names, lookup errors, the interface every archetype implements, the wet planes."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from microsim.errors import GeometryError
from microsim.geometry import ARCHETYPES, DEMO_INTERFACES, GEOMETRY_KINDS, INTERFACE_NAMES, describe
from microsim.geometry.archetypes import (
    PLANAR_KIND,
    SPOT_INTERFACES,
    WET_LAYER_SOLVE,
    Archetype,
    EffectiveMeasures,
    archetype_for,
    get_archetype,
    interface_archetype,
)

LC = 11.2


def _geo(**overrides):
    from microsim import config

    return config.replace(config.default(), **{f"geometry.{k}": v for k, v in overrides.items()}).geometry


def test_names_in_registry_order():
    assert INTERFACE_NAMES == ("filled", "point-contact", "infiltrated")
    assert tuple(ARCHETYPES) == (*INTERFACE_NAMES, "planar")
    assert GEOMETRY_KINDS == ("packing", "planar", "particles-file")
    assert SPOT_INTERFACES == ("point-contact", "infiltrated")
    assert DEMO_INTERFACES == ("filled", "point-contact")
    assert set(DEMO_INTERFACES) <= set(INTERFACE_NAMES)


def test_config_choices_match_the_registry():
    from microsim import config

    # the config keeps its own tuples until it imports these; they must not drift apart meanwhile
    assert tuple(getattr(config, "INTERFACES", INTERFACE_NAMES)) == INTERFACE_NAMES
    assert tuple(config.GEOMETRY_KINDS) == GEOMETRY_KINDS


@pytest.mark.parametrize("name", list(ARCHETYPES))
def test_lookup_returns_the_registered_object(name):
    arch = get_archetype(name)
    assert arch is ARCHETYPES[name]
    assert arch.name == name
    assert name in repr(arch)


def test_unknown_name_names_the_value_the_choices_and_a_close_match():
    with pytest.raises(GeometryError, match=r"'point-contct'.*filled, point-contact, infiltrated, planar") as exc:
        get_archetype("point-contct")
    assert "did you mean 'point-contact'?" in str(exc.value)
    with pytest.raises(GeometryError, match=r"geometry\.interface = 'infiltrate'.*did you mean 'infiltrated'"):
        interface_archetype("infiltrate")
    with pytest.raises(GeometryError, match=r"geometry\.interface = 'xyz': expected one of filled, point-contact, "):
        interface_archetype("xyz")
    with pytest.raises(GeometryError, match=r"geometry\.interface = 'planar'"):
        interface_archetype("planar")  # the planar archetype comes with geometry.kind, not geometry.interface
    with pytest.raises(GeometryError, match=r"geometry\.kind = 'packin'.*did you mean 'packing'"):
        archetype_for("packin", "filled")


def test_planar_kind_implies_the_planar_archetype():
    assert archetype_for(PLANAR_KIND, "point-contact") is ARCHETYPES["planar"]
    assert archetype_for("packing", "infiltrated") is ARCHETYPES["infiltrated"]
    assert archetype_for("particles-file", "filled") is ARCHETYPES["filled"]


@pytest.mark.parametrize("name", list(ARCHETYPES))
def test_every_archetype_implements_the_interface(name):
    arch = ARCHETYPES[name]
    assert isinstance(arch, Archetype)
    assert not inspect.isabstract(type(arch))
    assert isinstance(arch.has_particles, bool) and isinstance(arch.has_spots, bool)
    assert arch.has_spots == (name in SPOT_INTERFACES)
    assert arch.has_particles == (name in INTERFACE_NAMES)
    for wet_plane in (0.0, 0.5 * LC, LC):
        plan = arch.effective_measures(wet_plane)
        assert isinstance(plan, EffectiveMeasures)
        assert plan.solves[:2] == ("pore electrolyte", "particle network")
    picture = arch.picture(2.0)
    assert picture.spots == arch.has_spots and picture.slab == (not arch.has_particles)
    assert isinstance(arch.contact_summary("spot radius 0.1 µm", 2.0), str)


@pytest.mark.parametrize(
    ("name", "depth", "expected"),
    [
        ("filled", 3.0, 0.0),  # the whole cathode is wet
        ("point-contact", 3.0, LC),  # only the membrane plane
        ("infiltrated", 3.0, LC - 3.0),
        ("infiltrated", 0.0, LC),
        ("infiltrated", LC, 0.0),
        ("planar", 3.0, 0.0),
    ],
)
def test_wet_plane(name, depth, expected):
    assert ARCHETYPES[name].wet_plane_um(LC, depth) == pytest.approx(expected)


def test_only_a_partly_infiltrated_layer_gets_the_wet_layer_solve():
    infiltrated = ARCHETYPES["infiltrated"]
    assert WET_LAYER_SOLVE in infiltrated.effective_measures(0.5 * LC).solves
    assert WET_LAYER_SOLVE not in infiltrated.effective_measures(0.0).solves
    for name in ("filled", "point-contact", "planar"):
        assert WET_LAYER_SOLVE not in ARCHETYPES[name].effective_measures(0.5 * LC).solves
    with pytest.raises(ValueError, match="wet-layer"):
        EffectiveMeasures(solves=("pore electrolyte",), electrolyte="wet-layer", void_fraction=None, contact_area=None)


@pytest.mark.parametrize("interface", INTERFACE_NAMES)
def test_description_asks_its_archetype(interface):
    desc = describe(_geo(interface=interface, infiltration_depth_um=3.0))
    arch = desc.archetype
    assert arch is ARCHETYPES[interface]
    assert desc.wet_plane_um == arch.wet_plane_um(desc.cathode_thickness_um, desc.infiltration_depth_um)
    assert desc.reached_by_electrolyte().dtype == np.bool_
    assert desc.reaches_membrane.any() == arch.has_spots
    stats = desc.stats()
    assert stats["interface"] == interface
    assert (stats["contact_radius_um"] is not None) == arch.has_spots
    assert (stats["infiltration_depth_um"] is not None) == arch.uses_infiltration_depth


def test_planar_description():
    desc = describe(_geo(kind="planar", interface="point-contact"))
    assert desc.interface == "planar" and desc.archetype is ARCHETYPES["planar"]
    assert desc.n_particles == 0
