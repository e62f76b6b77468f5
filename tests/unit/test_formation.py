"""The contact models of ``[contact]`` as they shape the geometry (NumPy and tamaas; no DOLFINx).

Checked: ``fixed`` leaves the point-contact geometry as it was; ``hertz`` gives Hertz's spot radius; ``elastic``
wets every particle the membrane touches, its meshed projection covers at least the computed contact, and the
contact fraction converges with the grid and follows pressure and modulus; ``creep`` reproduces Washburn's law
from the reported throat, pressure, viscosity and tortuosity, grows with time, pressure and temperature, is the
point-contact cell at zero time and the fully wet cell at long times; PAL's viscosity has its crystalline jump;
bad input is refused naming the field.
"""

from __future__ import annotations

import math
import warnings
from itertools import pairwise

import numpy as np
import pytest

from microsim import config
from microsim.errors import ConfigError, GeometryError
from microsim.geometry import describe
from microsim.geometry.contact import hertz_contact_radius_um
from microsim.geometry.formation import ContactWarning
from microsim.parameters.electrolytes import PAL, PPAL, TRANSITION_K
from microsim.parameters.membrane import CRYSTALLINE_VISCOSITY_FACTOR, ViscosityLaw

BASE = {
    "geometry.interface": "point-contact",
    "geometry.width_um": 6.0,
    "geometry.cathode_thickness_um": 4.0,
    "geometry.membrane_thickness_um": 3.0,
    "geometry.seed": 3,
    "output.png": False,
}


def cell(**changes: object) -> config.Config:
    """A small 2D point-contact cell with the given ``[contact]`` (and other) changes."""
    return config.replace(config.default(), **{**BASE, **changes})


def described(cfg: config.Config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ContactWarning)
        return describe(cfg.geometry, config.contact_settings(cfg))


def elastic(pressure: float, modulus: float = 3.0, **changes: object) -> config.Config:
    return cell(
        **{
            "contact.model": "elastic",
            "contact.stack_pressure_MPa": pressure,
            "contact.membrane_modulus_MPa": modulus,
            **changes,
        }
    )


def creep(hours: float, pressure: float = 1.0, **changes: object) -> config.Config:
    return cell(
        **{"contact.model": "creep", "contact.stack_pressure_MPa": pressure, "contact.rest_time_h": hours, **changes}
    )


# ---- fixed and hertz -----------------------------------------------------------------------------------------
def test_fixed_is_the_point_contact_geometry() -> None:
    cfg = cell()
    a = describe(cfg.geometry)
    b = described(cfg)
    assert np.array_equal(a.radii, b.radii) and np.array_equal(a.centers, b.centers)
    assert b.interface == "point-contact" and b.infiltration_depth_um == 0.0
    block = b.stats()["contact"]
    assert block["model"] == "fixed" and block["contact_radius_um"] == 0.1
    # a pressure given with fixed spots (e.g. a sweep over the models) is recorded and does not enter
    c = described(cell(**{"contact.stack_pressure_MPa": 1.0}))
    assert np.array_equal(c.radii, b.radii) and "does not enter" in c.stats()["contact"]["note"]
    assert block["contact_fraction"] == pytest.approx(b.stats()["contact_area_fraction"])


def test_hertz_sets_the_spot_radius() -> None:
    cfg = cell(**{"contact.model": "hertz", "contact.stack_pressure_MPa": 0.01})
    desc = described(cfg)
    assert desc.contact_radius_um == pytest.approx(hertz_contact_radius_um(0.01, 0.5, 3.0))
    assert desc.interface == "point-contact"
    with pytest.raises(GeometryError, match=r"outside Hertz's range.*contact\.model = 'elastic'"):
        described(cell(**{"contact.model": "hertz", "contact.stack_pressure_MPa": 0.5}))


# ---- elastic ---------------------------------------------------------------------------------------------------
def test_elastic_wets_every_touching_particle() -> None:
    desc = described(elastic(0.5))
    block = desc.stats()["contact"]
    assert desc.interface == "infiltrated" and desc.infiltration_depth_um > 0.0
    assert block["meshed_depth_um"] == pytest.approx(block["intrusion_depth_um"], abs=0.05)
    # every particle the membrane touches lies (partly) above the wet plane, hence is reached
    n_reached = int(desc.reached_by_electrolyte().sum())
    assert n_reached >= block["n_touching_particles"] >= 2
    # the meshed wet caps project onto at least the contact area, and not onto much more
    assert block["contact_fraction"] <= block["meshed_contact_fraction"] <= 1.6 * block["contact_fraction"]
    assert block["penetration_um"] <= block["intrusion_depth_um"]


def test_elastic_contact_converges_with_the_grid() -> None:
    auto = described(elastic(0.5)).stats()["contact"]
    fine = described(elastic(0.5, **{"contact.grid_points": 2 * auto["grid_points"]})).stats()["contact"]
    assert fine["contact_fraction"] == pytest.approx(auto["contact_fraction"], rel=0.03)
    assert fine["intrusion_depth_um"] == pytest.approx(auto["intrusion_depth_um"], abs=0.03)


def test_elastic_contact_follows_pressure_and_modulus() -> None:
    by_pressure = [described(elastic(p)).stats()["contact"] for p in (0.1, 0.3, 1.0)]
    fractions = [b["contact_fraction"] for b in by_pressure]
    depths = [b["intrusion_depth_um"] for b in by_pressure]
    assert all(a < b for a, b in pairwise(fractions)), fractions
    assert all(a <= b for a, b in pairwise(depths)), depths
    stiff = described(elastic(0.3, modulus=30.0)).stats()["contact"]
    assert stiff["contact_fraction"] < by_pressure[1]["contact_fraction"]


def test_elastic_membrane_through_the_layer_is_refused() -> None:
    # a very soft membrane at a high pressure reaches the collector between the particles
    with pytest.raises(
        GeometryError, match=r"contact\.stack_pressure_MPa = 20 .*reaches the current collector.*'filled'"
    ):
        described(elastic(20.0, modulus=0.3, **{"geometry.active_fraction": 0.35}))


# ---- creep -----------------------------------------------------------------------------------------------------
def test_creep_is_washburn_through_the_reported_throat() -> None:
    block = described(creep(6.0)).stats()["contact"]
    r = block["throat_radius_um"] * 1e-6
    dp = block["driving_pressure_MPa"] * 1e6
    washburn = math.sqrt(r * r * dp * 6.0 * 3600.0 / (4.0 * block["viscosity_Pa_s"])) / block["tortuosity"] * 1e6
    assert block["intrusion_depth_um"] == pytest.approx(washburn, rel=1e-12)
    # capillary pressure of a wetting polymer in the throat, 2 γ cos θ / r, on top of the stack pressure
    assert block["capillary_pressure_MPa"] == pytest.approx(2 * 0.042 / r * 1e-6, rel=1e-12)
    assert block["driving_pressure_MPa"] == pytest.approx(1.0 + block["capillary_pressure_MPa"], rel=1e-12)
    # 2D throat: twice the hydraulic radius of a bed of disks, ε d / (4 (1 − ε)) x 2
    eps = block["porosity"]
    assert block["throat_radius_um"] == pytest.approx(2 * eps * 1.0 / (4 * (1 - eps)), rel=1e-12)


def test_creep_grows_with_time_pressure_and_temperature() -> None:
    depth = lambda cfg: described(cfg).stats()["contact"]["intrusion_depth_um"]  # noqa: E731
    times = [depth(creep(h)) for h in (1.0, 4.0, 16.0)]
    assert times[1] == pytest.approx(2.0 * times[0], rel=1e-9)  # ℓ ∝ √t
    assert times[2] == pytest.approx(2.0 * times[1], rel=1e-9)
    pressures = [depth(creep(1.0, p)) for p in (0.2, 1.0, 4.0)]
    assert all(a < b for a, b in pairwise(pressures)), pressures
    temps = [depth(creep(1.0, **{"contact.rest_temperature_C": t})) for t in (25.0, 40.0, 60.0)]
    assert all(a < b for a, b in pairwise(temps)), temps


def test_creep_limits_point_contact_and_filled() -> None:
    none = described(creep(0.0))
    assert none.interface == "point-contact" and none.infiltration_depth_um == 0.0
    fixed = described(cell())
    assert np.array_equal(none.radii, fixed.radii)
    full = described(creep(24.0 * 30, 20.0))  # a month at 20 MPa
    block = full.stats()["contact"]
    assert block["reaches_collector"] and full.infiltration_depth_um == 4.0
    assert full.interface == "infiltrated" and bool(full.reached_by_electrolyte().all())


def test_pal_creeps_deeper_at_50_than_at_30_C() -> None:
    pal = lambda t: described(creep(12.0, **{"electrolyte.name": "PAL", "conditions.temperature_C": t}))  # noqa: E731
    cold, warm = pal(30.0).stats()["contact"], pal(50.0).stats()["contact"]
    assert warm["intrusion_depth_um"] > 3.0 * cold["intrusion_depth_um"] > 0.0
    assert cold["viscosity_Pa_s"] > 100.0 * warm["viscosity_Pa_s"]


def test_viscosity_law() -> None:
    ppal, pal = ViscosityLaw(PPAL), ViscosityLaw(PAL)
    # η ∝ 1/σ: PPAL's ratio between two temperatures is the inverse of its conductivity ratio
    assert ppal(303.15) / ppal(323.15) == pytest.approx(
        PPAL.conductivity_S_cm(323.15) / PPAL.conductivity_S_cm(303.15), rel=1e-12
    )
    assert ppal.transition_K is None and pal.transition_K == TRANSITION_K
    # PAL: the crystalline factor just below its transition, none above
    below, above = pal(TRANSITION_K - 1e-6), pal(TRANSITION_K)
    assert below / above == pytest.approx(CRYSTALLINE_VISCOSITY_FACTOR, rel=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        ppal(float("nan"))


# ---- bad input -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"contact.model": "elastic", "contact.stack_pressure_MPa": 0.0}, r"contact\.stack_pressure_MPa = 0"),
        ({"contact.model": "elastic", "contact.stack_pressure_MPa": -1.0}, r"contact\.stack_pressure_MPa = -1"),
        ({"contact.model": "elastic", "contact.stack_pressure_MPa": math.nan}, r"contact\.stack_pressure_MPa"),
        ({"contact.model": "elastic", "contact.stack_pressure_MPa": math.inf}, r"contact\.stack_pressure_MPa"),
        ({"contact.model": "elastic"}, r"contact\.stack_pressure_MPa is not set"),
        (
            {"contact.model": "hertz", "contact.stack_pressure_MPa": 1.0, "contact.membrane_modulus_MPa": 0.0},
            r"contact\.membrane_modulus_MPa = 0",
        ),
        ({"contact.model": "creep", "contact.stack_pressure_MPa": 1.0, "contact.rest_time_h": -1.0}, r"rest_time_h"),
        (
            {"contact.model": "creep", "contact.stack_pressure_MPa": 1.0, "contact.rest_time_h": math.inf},
            r"rest_time_h",
        ),
        (
            {"contact.model": "elastic", "contact.stack_pressure_MPa": 1.0, "geometry.interface": "filled"},
            r"contact\.model = 'elastic'.*not to geometry\.interface = 'filled'",
        ),
        (
            {"contact.model": "creep", "contact.stack_pressure_MPa": 1.0, "geometry.interface": "infiltrated"},
            r"use geometry\.interface = 'point-contact'",
        ),
        (
            {"contact.model": "elastic", "contact.stack_pressure_MPa": 1.0, "contact.membrane_poisson_ratio": 0.5},
            r"contact\.membrane_poisson_ratio",
        ),
        ({"parameters.membrane.viscosity_ref_Pa_s": 0.0}, r"membrane\.viscosity_ref_Pa_s"),
    ],
)
def test_bad_contact_input_is_refused(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        cell(**changes)


def test_moved_geometry_keys_say_where_they_went() -> None:
    with pytest.raises(ConfigError, match=r"geometry\.stack_pressure_MPa: moved to contact\.stack_pressure_MPa"):
        config.from_dict({"geometry": {"stack_pressure_MPa": 1.0}})
