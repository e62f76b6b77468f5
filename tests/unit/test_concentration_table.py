"""docs/model.md §2.2: tabulated concentration laws — PCHIP against SciPy, B(c), the table checks (no DOLFINx)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.interpolate import PchipInterpolator

from microsim import cli, config
from microsim.constants import thermal_voltage
from microsim.errors import ConfigError
from microsim.parameters import resolve
from microsim.parameters.concentration_table import (
    ConcentrationLaws,
    builtin_path,
    load_table,
    pchip,
    table_range_message,
)

REPO = Path(__file__).resolve().parents[2]
HEADER = "c_mol_m3,conductivity_S_m,diffusivity_m2_s,transference_number,thermodynamic_factor"


def write(tmp_path: Path, text: str, name: str = "laws.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(d: dict, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        config.from_dict(d, **kwargs)
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    return message


# --- PCHIP ----------------------------------------------------------------------------------------------------
CASES = {
    # a maximum inside (like κ(c) of PEO-LiTFSI), flat pieces, unequal spacing, sign changes of the secants
    "maximum": (np.array([0.2, 0.5, 0.9, 1.0, 1.6, 2.0, 2.1]), np.array([1.0, 2.0, 2.5, 2.4, 0.5, 0.4, 0.4])),
    "monotone": (np.array([0.0, 0.1, 0.3, 1.0, 1.05, 3.0]), np.array([0.0, 0.05, 0.06, 0.9, 1.6, 1.7])),
    "two-rows": (np.array([1.0, 2.0]), np.array([3.0, 1.0])),
    "three-rows": (np.array([1.0, 2.0, 4.0]), np.array([3.0, 1.0, 1.5])),
}


@pytest.mark.parametrize("case", list(CASES))
def test_pchip_equals_scipy(case: str) -> None:
    x, y = CASES[case]
    law = pchip(x, y)
    xx = np.linspace(x[0], x[-1], 4001)
    np.testing.assert_allclose(law.numpy(xx), PchipInterpolator(x, y)(xx), rtol=0, atol=1e-13 * np.abs(y).max())
    np.testing.assert_allclose(law.numpy(x), y, rtol=0, atol=1e-15 * np.abs(y).max())  # interpolates
    # outside: the end values are held (the run refuses such states; a Newton iterate may visit them)
    assert law.numpy(x[0] - 1.0) == y[0] and law.numpy(x[-1] + 1.0) == y[-1]


def test_pchip_preserves_shape() -> None:
    """No overshoot: on each interval the interpolant stays between its end values, monotone data stay monotone."""
    x, y = CASES["maximum"]
    law = pchip(x, y)
    for a, b, ya, yb in zip(x[:-1], x[1:], y[:-1], y[1:], strict=True):
        v = law.numpy(np.linspace(a, b, 401))
        assert v.min() >= min(ya, yb) - 1e-14 and v.max() <= max(ya, yb) + 1e-14
        steps = np.diff(v)
        assert np.all(steps * np.sign(yb - ya) >= -1e-14)  # monotone on each interval (flat ones stay flat)
    # the maximum stays at its node (2.5 at 0.9), where a cubic spline overshoots it
    from scipy.interpolate import CubicSpline

    grid = np.linspace(0.2, 2.1, 20001)
    assert law.numpy(grid).max() <= 2.5 + 1e-14 and float(law.numpy(0.9)) == 2.5
    assert CubicSpline(x, y)(grid).max() > 2.5 + 1e-3  # the check can fail: a spline is not shape-preserving
    x, y = CASES["monotone"]
    assert np.all(np.diff(pchip(x, y).numpy(np.linspace(x[0], x[-1], 20001))) >= 0.0)


@pytest.mark.parametrize("case", ["maximum", "two-rows"])
def test_pchip_ufl_equals_numpy(case: str) -> None:
    """The UFL form (as the residuals compile it) equals the NumPy twin, inside and outside the nodes."""
    pytest.importorskip("dolfinx_solver")
    import dolfinx
    import ufl
    from mpi4py import MPI

    x, y = CASES[case]
    law = pchip(x, y)
    msh = dolfinx.mesh.create_interval(MPI.COMM_SELF, 97, [x[0] - 0.3, x[-1] + 0.3])
    xi = np.linspace(0.0, 1.0, 7)[:, None]  # reference points per cell
    expr = dolfinx.fem.Expression(law.ufl(ufl.SpatialCoordinate(msh)[0]), xi)
    cells = np.arange(msh.topology.index_map(1).size_local, dtype=np.int32)
    values = expr.eval(msh, cells)
    ends = msh.geometry.x[msh.geometry.dofmaps[0][cells]][:, :, 0]
    points = ends[:, :1] + xi[:, 0][None, :] * (ends[:, 1:] - ends[:, :1])
    np.testing.assert_allclose(values, law.numpy(points), rtol=0, atol=1e-13)
    assert points.min() < x[0] and points.max() > x[-1]


# --- B(c) -----------------------------------------------------------------------------------------------------
def test_diffusion_potential_matches_quadrature(tmp_path: Path) -> None:
    """B(u) = ∫_1^u β(u')/u' du' of the PCHIP β, against adaptive quadrature, at nodes and between them."""
    c = np.array([100.0, 300.0, 600.0, 1000.0, 1500.0, 2400.0])
    t_plus = np.array([0.05, 0.15, 0.2, 0.35, 0.6, 0.55])
    tdf = np.array([1.0, 1.3, 1.8, 2.0, 2.6, 3.2])
    path = write(tmp_path, "c_mol_m3,transference_number,thermodynamic_factor\n" + "\n".join(
        f"{a},{b},{d}" for a, b, d in zip(c, t_plus, tdf, strict=True)
    ))  # fmt: skip
    c0 = 800.0
    laws = ConcentrationLaws.build(load_table(str(path)), c0)
    scale = 2 * thermal_voltage(303.15)
    b = laws.diffusion_potential(scale, 0.2, 1.0)

    def beta(u: float) -> float:
        return float(laws.beta_numpy(u, scale, 0.2, 1.0))

    u = np.concatenate([c / c0, np.linspace(c[0] / c0, c[-1] / c0, 37)])
    exact = np.array([quad(lambda s: beta(s) / s, 1.0, v, epsabs=1e-14, epsrel=1e-13, limit=200)[0] for v in u])
    got = b.numpy(u)
    assert b.numpy(1.0) == pytest.approx(0.0, abs=1e-16)
    nodes = slice(0, c.size)
    np.testing.assert_allclose(got[nodes], exact[nodes], rtol=1e-12, atol=1e-14)  # Gauss: round-off
    err = np.max(np.abs(got - exact))
    # between the nodes the Hermite cubic on pieces at most 5 % of u long: O(h⁴), measured 6.9e-9 V (0.9 mV without
    # the subdivision on these coarse intervals)
    assert err < 1e-7, err
    # its slope is β(u)/u at the nodes: B is not β(c0) ln u once β varies (the constant-β formula is off here)
    assert abs(b.numpy(c[-1] / c0) - beta(1.0) * np.log(c[-1] / c0)) > 5e-3  # 10.6 mV


def test_diffusion_potential_on_edman_is_accurate() -> None:
    """On the 20-row built-in table B(c) is accurate to far below a millivolt everywhere."""
    table = load_table("edman2000")
    laws = ConcentrationLaws.build(table, 1100.0)
    scale = 2 * thermal_voltage(358.15)
    b = laws.diffusion_potential(scale, 0.2, 1.0)
    u = np.linspace(*laws.u_range, 301)
    exact = np.array(
        [quad(lambda s: float(laws.beta_numpy(s, scale, 0.2, 1.0)) / s, 1.0, v, epsabs=1e-15)[0] for v in u]
    )
    assert np.max(np.abs(b.numpy(u) - exact)) < 1e-6  # measured 5.8e-8 V


# --- the built-in table ----------------------------------------------------------------------------------------
def test_edman_table_reproduces_the_dualfoil_polynomials() -> None:
    table = load_table("edman2000")
    assert table.name == "edman2000" and table.c_range == (742.0, 2982.0) and len(table.c) == 20
    assert builtin_path("EDMAN2000").is_file()
    kappa, t_plus = table.law("conductivity_S_m"), table.law("transference_number")
    assert float(kappa.numpy(1000.0)) == pytest.approx(7.35e-2, rel=2e-3)  # 7.35e-4 S/cm (x100: S/m)
    assert float(t_plus.numpy(1000.0)) == pytest.approx(0.24, abs=0.005)
    cc = np.linspace(742.0, 2982.0, 500)
    np.testing.assert_allclose(
        table.law("diffusivity_m2_s").numpy(cc), -6.73e-19 * cc**2 + 4.92e-16 * cc + 5.5e-12, rtol=1e-4
    )


def test_edman_config_resolves_shapes_on_the_named_set() -> None:
    cfg = config.from_dict({"electrolyte": {"table": "edman2000"}, "conditions": {"temperature_C": 85.0}})
    p = resolve(cfg)
    el = p.electrolyte
    laws = el.laws()
    assert laws is not None and el.table is not None
    # κ and D: shapes relative to c0 (1 at c0), the named set's κ(T) stays the scale
    assert float(laws.kappa_rel.numpy(1.0)) == pytest.approx(1.0, rel=1e-14)
    assert (
        el.conductivity_S_m
        == resolve(config.from_dict({"conditions": {"temperature_C": 85.0}})).electrolyte.conductivity_S_m
    )
    # t+ absolute: the table's value at c0 = 1100 mol/m³
    assert float(laws.transference_number.numpy(1.0)) == pytest.approx(0.27, abs=0.005)
    assert p.as_dict()["electrolyte.table"] == "edman2000"
    assert "table" in p.sources["electrolyte.transference_number"]


def test_range_message_names_the_table_and_the_c_reached() -> None:
    table = load_table("edman2000")
    assert table_range_message(table, 800.0, 2000.0) is None
    message = table_range_message(table, 12.5, 1100.0)
    assert message is not None and "12.5 mol/m³" in message and "[742, 2982]" in message and "c → 0" in message
    message = table_range_message(table, 1000.0, 3100.0)
    assert message is not None and "3100" in message and "c → 0" not in message


# --- configuration checks ---------------------------------------------------------------------------------------
GOOD = "c_mol_m3,conductivity_S_m,transference_number\n500,0.01,0.2\n1000,0.02,0.3\n2000,0.015,0.4\n"


def test_relative_table_path_resolves_against_the_config_folder(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    case = write(tmp_path, '[electrolyte]\ntable = "laws.csv"\n', "case.toml")
    cfg = config.load(case)
    assert cfg.electrolyte.table == str((tmp_path / "laws.csv").resolve())
    assert config.from_dict({"electrolyte": {"table": "laws.csv"}}, base_dir=tmp_path).electrolyte.table == str(
        (tmp_path / "laws.csv").resolve()
    )
    assert config.from_dict({"electrolyte": {"table": "Edman2000"}}).electrolyte.table == "Edman2000"  # a name
    assert config.default().electrolyte.table == ""  # the power laws by default


BAD_TABLES = {
    "unknown column": ("c_mol_m3,conductivity\n500,1\n1000,2\n", ["unknown column 'conductivity'", "conductivity_S_m"]),
    "no c column": ("conductivity_S_m,diffusivity_m2_s\n1,1\n2,2\n", ["c_mol_m3"]),
    "one row": ("c_mol_m3,conductivity_S_m\n1000,0.02\n", ["at least two rows"]),
    "not increasing": ("c_mol_m3,conductivity_S_m\n500,1\n1500,2\n1000,3\n", ["strictly increasing"]),
    "non-finite": ("c_mol_m3,diffusivity_m2_s\n500,1e-12\n1500,nan\n", ["diffusivity_m2_s = nan", "finite"]),
    "non-numeric": ("c_mol_m3,conductivity_S_m\n500,1\n1500,lots\n", ["non-numeric"]),
    "kappa <= 0": ("c_mol_m3,conductivity_S_m\n500,0\n1500,2\n", ["conductivity_S_m = 0 at c_mol_m3 = 500", "> 0"]),
    "D <= 0": ("c_mol_m3,diffusivity_m2_s\n500,1e-12\n1500,-1e-12\n", ["diffusivity_m2_s = -1e-12", "> 0"]),
    "TDF <= 0": ("c_mol_m3,thermodynamic_factor\n500,1\n1500,0\n", ["thermodynamic_factor = 0", "> 0"]),
    "t+ > 1": ("c_mol_m3,transference_number\n500,0.5\n1500,1.2\n", ["transference_number = 1.2", "[-1, 1]"]),
    "t+ < -1": ("c_mol_m3,transference_number\n500,-1.5\n1500,0.2\n", ["transference_number = -1.5", "[-1, 1]"]),
    "empty": ("# only a comment\n", ["empty"]),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_bad_tables_are_refused(tmp_path: Path, case: str) -> None:
    text, parts = BAD_TABLES[case]
    path = write(tmp_path, text)
    message = error_of({"electrolyte": {"table": str(path)}})
    assert f"electrolyte.table = '{path}'" in message
    for part in parts:
        assert part in message, (part, message)


def test_missing_and_unreadable_tables_are_refused(tmp_path: Path) -> None:
    message = error_of({"electrolyte": {"table": "nowhere.csv"}}, base_dir=tmp_path)
    assert "nowhere.csv" in message and "file not found" in message and "'edman2000'" in message
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    assert "cannot be read" in error_of({"electrolyte": {"table": str(binary)}})


def test_c0_outside_the_table_is_refused(tmp_path: Path) -> None:
    path = str(write(tmp_path, GOOD))
    message = error_of({"electrolyte": {"table": path, "concentration_mol_m3": 3000.0}})
    assert "electrolyte.concentration_mol_m3 = 3000 mol/m³" in message and "[500, 2000]" in message
    message = error_of({"electrolyte": {"table": path}, "parameters": {"electrolyte.concentration_mol_m3": 400.0}})
    assert "parameters.electrolyte.concentration_mol_m3 = 400" in message
    # the named set's c0 (1100 mol/m³) is inside: accepted
    assert config.from_dict({"electrolyte": {"table": path}}).electrolyte.table == path
    narrow = str(write(tmp_path, "c_mol_m3,transference_number\n1200,0.2\n1500,0.3\n", "narrow.csv"))
    assert "c0 of the named set PPAL = 1100" in error_of({"electrolyte": {"table": narrow}})


def test_a_column_and_its_exponent_are_exclusive(tmp_path: Path) -> None:
    path = str(write(tmp_path, GOOD))
    message = error_of({"electrolyte": {"table": path, "conductivity_exponent": 1.0}})
    assert "electrolyte.conductivity_exponent = 1" in message and "electrolyte.table" in message
    assert "conductivity_S_m" in message
    message = error_of({"electrolyte": {"table": path}, "parameters": {"electrolyte.conductivity_exponent": 1.0}})
    assert "parameters.electrolyte.conductivity_exponent = 1" in message
    # the exponent of a property the table does not give stays usable
    cfg = config.from_dict({"electrolyte": {"table": path, "diffusivity_exponent": -1.0}})
    assert resolve(cfg).electrolyte.diffusivity_exponent == -1.0


def test_single_ion_refuses_a_transference_column(tmp_path: Path) -> None:
    path = str(write(tmp_path, GOOD))
    message = error_of({"electrolyte": {"table": path, "model": "single-ion"}})
    assert "single-ion" in message and "transference_number" in message


def test_cli_check_exits_2_on_a_bad_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "c_mol_m3,conductivity_S_m\n500,1\n400,2\n")
    case = write(tmp_path, '[electrolyte]\ntable = "laws.csv"\n', "case.toml")
    assert cli.main(["check", str(case)]) == 2
    assert "strictly increasing" in capsys.readouterr().err
