"""Paper file rules, the cases of a paper run, and the report built from a hand-written case store (no solver).

The store holds summaries and spectra written here, so every number the report gives is known: the seed mean and
spread of a capacity, its error and band, the fitted/predicted split that comes from the calibration file, a point
with a missing seed (no model value, never dropped), and the geometric-mean impedance ratio.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microsim.errors import ConfigError
from microsim.paper.cases import ROW, ROW_2D, SPECTRUM, paper_cases
from microsim.paper.report import FIT_BAND, PREDICTION_BAND, collect, write_report
from microsim.paper.spec import load_paper
from microsim.sweep import store

CASE = """
[geometry]
kind = "planar"
dim = 2
width_um = {W}
mesh_size_um = 1.0
[electrolyte]
name = "{E}"
[conditions]
temperature_C = {T}
initial_stoichiometry = 0.01
"""
CAL = """
[calibration]
name = "t"
[[knob]]
key = "lfp.diffusivity_m2_s"
initial = 1e-17
low = 1e-19
high = 1e-15
source = "test"
[[target]]
name = "a"
case = "a.toml"
c_rates = [0.1]
paper_mAh_g = [100.0]
[[target]]
name = "ratio"
numerator = "b.toml"
denominator = "a.toml"
frequency_Hz = 0.1
paper_ratio = 10.0
"""
PAPER = """
[paper]
citation = "a test"
seeds = [1, 2]
calibration = "cal.toml"
[quick]
seeds = [7]
overrides = {{ "geometry.width_um" = 1.5 }}
{two_d}
[[row]]
case = "a.toml"
c_rates = [0.1, 0.5]
paper_mAh_g = [100.0, 10.0]
[[row]]
case = "c.toml"
c_rates = [0.1]
paper_mAh_g = [150.0]
[[spectrum]]
case = "a.toml"
frequency_min_Hz = 0.01
frequency_max_Hz = 10.0
points_per_decade = 2
[[spectrum]]
case = "b.toml"
frequency_min_Hz = 0.01
frequency_max_Hz = 10.0
points_per_decade = 2
[ratio]
numerator = "b.toml"
denominator = "a.toml"
frequency_Hz = 0.1
paper_ratio = 10.0
"""


def _folder(tmp_path: Path, paper: str = PAPER, two_d: str = "") -> Path:
    (tmp_path / "a.toml").write_text(CASE.format(W=2.0, E="PPAL", T=30.0))
    (tmp_path / "b.toml").write_text(CASE.format(W=3.0, E="PPAL", T=30.0))
    (tmp_path / "c.toml").write_text(CASE.format(W=2.0, E="PAL", T=50.0))
    (tmp_path / "cal.toml").write_text(CAL)
    (tmp_path / "paper.toml").write_text(paper.format(two_d=two_d))
    return tmp_path / "paper.toml"


def test_fitted_points_come_from_the_calibration_targets(tmp_path: Path) -> None:
    spec = load_paper(_folder(tmp_path))
    assert [r.fitted for r in spec.rows] == [(True, False), (False,)]
    assert spec.rows[1].label == "cathode-supported, PAL, 50 °C"
    assert spec.ratio is not None and spec.ratio.fitted
    assert (spec.ratio.numerator, spec.ratio.denominator) == (1, 0)


def test_cases_per_seed_with_the_study_and_the_variants(tmp_path: Path) -> None:
    spec = load_paper(_folder(tmp_path, two_d='[two_d]\noverrides = { "geometry.width_um" = 2.5 }'))
    cases = paper_cases(spec)
    kinds = [c.kind for c in cases]
    assert kinds.count(ROW) == 4 and kinds.count(ROW_2D) == 4 and kinds.count(SPECTRUM) == 4
    assert len({c.case.hash for c in cases}) == len(cases)
    row = next(c for c in cases if c.kind == ROW and c.index == 0 and c.seed == 2)
    assert row.case.config.study.kind == "rate" and list(row.case.config.study.c_rates) == [0.1, 0.5]
    assert row.case.config.geometry.seed == 2
    spec_case = next(c for c in cases if c.kind == SPECTRUM)
    assert spec_case.case.config.study.kind == "impedance"
    assert spec_case.case.config.study.frequency_max_Hz == 10.0
    assert "--set geometry.seed=1" in spec_case.command(spec) and "study.kind=impedance" in spec_case.command(spec)
    quick = paper_cases(spec, quick=True)
    assert {c.seed for c in quick} == {7}
    assert all(c.case.config.geometry.width_um == 1.5 for c in quick if c.kind != ROW_2D)
    assert not {c.case.hash for c in quick} & {c.case.hash for c in cases}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("seeds = [1, 2]", "seeds = [1, 1]", "paper.seeds = [1, 1]"),
        ('citation = "a test"', 'citation = ""', "paper.citation"),
        ("c_rates = [0.1, 0.5]", "c_rates = [0.1]", "one per C-rate"),
        ('case = "c.toml"', 'case = "missing.toml"', "case file not found"),
        ("paper_ratio = 10.0\n", "paper_ratio = 10.0\nspan = 3\n", "span"),
        ('numerator = "b.toml"\ndenominator', 'numerator = "c.toml"\ndenominator', "no [[spectrum]] of that case"),
        ("frequency_Hz = 0.1\npaper", "frequency_Hz = 100.0\npaper", "spans 100 Hz"),
        ('calibration = "cal.toml"', 'calibration = "cal.toml"\nparameter_set = "nope"', "paper.parameter_set"),
        ("c_rates = [0.1, 0.5]\npaper_mAh_g = [100.0, 10.0]", "c_rates = [0.5]\npaper_mAh_g = [10.0]",
         "fits points that no [[row]] reports: a.toml 0.1C"),
        ('"geometry.width_um" = 1.5', '"geometry.width_um" = -1.0', "with [quick]"),
    ],
)  # fmt: skip
def test_bad_paper_files_name_the_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in PAPER.format(two_d="")
    path = _folder(tmp_path, paper=PAPER.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_paper(path)
    assert message in str(err.value) and str(path) in str(err.value)


def _done(out: Path, case_hash: str, summary: dict[str, object], spectrum: pd.DataFrame | None = None) -> None:
    d = store.case_dir(out, case_hash)
    d.mkdir(parents=True)
    (d / store.SUMMARY_NAME).write_text(json.dumps(summary))
    (d / "config.toml").write_text("# resolved\n")
    (d / store.STATUS_NAME).write_text(json.dumps({"state": store.DONE}))
    if spectrum is not None:
        spectrum.to_csv(d / "impedance.csv", index=False)


def _rate(caps: list[float], mech: str) -> dict[str, object]:
    losses = {"electrolyte_ohmic": 0.01, "salt_depletion": 0.2, "solid_diffusion": 0.05}
    n = len(caps)
    rate = {"c_rates": [0.1, 0.5][:n], "capacity_mAh_g": caps, "limiting_mechanism": [mech] * n}
    return {"rate": {**rate, "overpotential_at_cutoff_V": [losses] * n}}


def _spectrum(scale: float) -> pd.DataFrame:
    f = np.logspace(-2, 1, 7)
    return pd.DataFrame({"frequency_Hz": f, "z_real_ohm_cm2": scale * (1 + 1 / f), "z_imag_ohm_cm2": -scale / f})


def test_the_report_from_a_store(tmp_path: Path) -> None:
    spec = load_paper(_folder(tmp_path))
    cases = paper_cases(spec)
    out = tmp_path / "store"
    pick = {(c.kind, c.index, c.seed): c.case.hash for c in cases}
    _done(out, pick[(ROW, 0, 1)], _rate([90.0, 30.0], "solid_diffusion"))
    _done(out, pick[(ROW, 0, 2)], _rate([110.0, 20.0], "salt_depletion"))
    _done(out, pick[(ROW, 1, 1)], _rate([140.0], "solid_diffusion"))  # seed 2 of row 1 never ran
    for seed, (za, zb) in {1: (1.0, 8.0), 2: (1.0, 18.0)}.items():
        _done(out, pick[(SPECTRUM, 0, seed)], {}, _spectrum(za))
        _done(out, pick[(SPECTRUM, 1, seed)], {}, _spectrum(zb))

    rec = collect(spec, cases, out)
    first, second, third = rec["rows"]
    assert first["model_mAh_g"] == pytest.approx(100.0) and first["fitted"]
    assert first["model_seeds_mAh_g"] == [90.0, 110.0]
    assert first["seed_std_mAh_g"] == pytest.approx(np.std([90.0, 110.0], ddof=1))
    assert first["error_mAh_g"] == pytest.approx(0.0) and first["within_band"]
    assert first["band_mAh_g"] == pytest.approx(max(FIT_BAND[0] * 100.0, FIT_BAND[1]))
    assert first["losses_at_cutoff_V"]["salt_depletion"] == pytest.approx(0.2)
    assert first["losses_at_cutoff_V"]["solid_ohmic"] is None
    # a predicted point: the prediction band; 25 vs 10 is outside max(0.35 * 10, 8)
    assert not second["fitted"] and second["band_mAh_g"] == pytest.approx(PREDICTION_BAND[1])
    assert second["model_mAh_g"] == pytest.approx(25.0) and second["within_band"] is False
    assert second["error_relative"] == pytest.approx(1.5)
    # a point with a seed missing has no model value, but is kept with what there is
    assert third["model_mAh_g"] is None and third["missing_seeds"] == [2] and third["model_seeds_mAh_g"] == [140.0]
    assert third["within_band"] is None
    ratio = rec["impedance_ratio"]
    assert ratio["model_seeds"] == pytest.approx([8.0, 18.0])
    assert ratio["model"] == pytest.approx(math.sqrt(8.0 * 18.0)) and ratio["within_5_20"]

    report = tmp_path / "report"
    written = write_report(spec, cases, out, report)
    assert written["impedance_ratio_0p1Hz"] == pytest.approx(12.0)
    assert json.loads((report / "results.json").read_text())["rows"][2]["model_mAh_g"] is None
    table = pd.read_csv(report / "results.csv")
    assert len(table) == 3 and "salt depletion [V]" in table.columns
    for name in ("capacity_vs_rate.png", "nyquist.png"):
        assert (report / name).stat().st_size > 1000
    assert (report / "cases" / "a-s1.toml").is_file() and (report / "cases" / "b-eis-s2.toml").is_file()
    assert written["rows"][0]["resolved_case"] == "cases/a-s1.toml"


def test_the_readme_gives_every_point_the_losses_and_the_sensitivity(tmp_path: Path) -> None:
    from microsim.paper.readme import readme_text

    spec = load_paper(_folder(tmp_path))
    cases = paper_cases(spec)
    out = tmp_path / "store"
    for c in cases:
        if c.kind == ROW:
            _done(out, c.case.hash, _rate([90.0, 30.0][: len(spec.rows[c.index].c_rates)], "salt_depletion"))
    rec = collect(spec, cases, out)
    calibration = {
        "method": "least squares", "status": "done", "cost": 0.5, "n_evaluations": 6, "fidelity": {},
        "knobs": [{"key": "lfp.diffusivity_m2_s", "unit": "m2/s", "value": 2e-18, "low": 1e-20, "high": 2e-16,
                   "interval_1sigma": [1e-18, 4e-18], "identified": True, "seed_values": [1.9e-18, 2.1e-18]}],
        "points": [{"point": "a 0.1C"}, {"point": "ratio 0.1 Hz"}],
        "jacobian_scaled": [[1.25], [-0.5]],
    }  # fmt: skip
    text = readme_text(rec, calibration)
    assert "| cathode-supported | PPAL | 30 | 0.1C | fitted | 100 | 90.0 | 90.0, 90.0 | -10.0 (-10 %) | yes" in text
    assert "| cathode-supported | PAL | 50 | 0.1C | predicted | 150 | 90.0 |" in text
    assert "Fitted points within their band: 1 of 1. Predicted points within the goal: 0 of 2." in text
    assert "| 0.200 | " in text  # the salt-depletion loss at 0.1C
    assert "| a 0.1C | +1.25 |" in text and "| ratio 0.1 Hz | -0.50 |" in text
    assert "| lfp.diffusivity_m2_s [m2/s] | 2e-18 | 1e-18 – 4e-18 |" in text
    assert "holds no Jacobian" in readme_text(rec, {**calibration, "jacobian_scaled": None})


def test_the_bundled_paper_file_fits_only_the_ppal_rows_at_30_c() -> None:
    root = Path(__file__).resolve().parents[2]
    spec = load_paper(root / "validation" / "paper" / "paper.toml")
    for row in spec.rows:
        fitted = row.electrolyte == "PPAL" and row.temperature_C == 30.0
        assert row.fitted == (fitted,) * len(row.c_rates), row.label
        assert row.case.geometry.dim == 3 and row.case.geometry.width_um >= 6.0
        assert (row.case.geometry.cathode_thickness_um, row.case.geometry.membrane_thickness_um) == (11.2, 9.5)
    assert spec.ratio is not None and spec.ratio.fitted and spec.ratio.frequency_Hz == 0.1
    assert len(spec.seeds) >= 3 and sum(len(r.c_rates) for r in spec.rows) == 16
    cal = spec.calibration
    assert cal is not None and len(cal.knobs) <= 4 and cal.electrolyte == "PPAL" and cal.temperature_C == 30.0
    assert len(paper_cases(spec, quick=True)) == 14
