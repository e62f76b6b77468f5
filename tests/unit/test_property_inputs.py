"""Property-based input robustness (issue 7): random and malformed configs never crash ``microsim``.

Every generated config is fed to ``microsim check`` (and the invalid ones also to ``microsim run``, which must
refuse them before importing the solver stack). Each either passes or exits with code 2 and ONE line naming
the offending field — never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import math
import string
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microsim import cli, config

BASE = config.to_dict(
    config.replace(
        config.default(),
        **{"geometry.width_um": 4.0, "geometry.cathode_thickness_um": 4.0, "geometry.membrane_thickness_um": 3.0},
    )
)
KEYS = [(sec, key) for sec, table in BASE.items() if isinstance(table, dict) for key in table]
HINT_WORDS = ("must", "allowed", "expected", "did you mean", "unknown", "required", "not ", "give either", "only")


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(d: dict[str, Any]) -> str:
    lines = []
    for sec, table in d.items():
        lines.append(f"[{sec}]")
        for k, v in table.items():
            lines.append(f'"{k}" = {toml_value(v)}' if "." in k else f"{k} = {toml_value(v)}")
    return "\n".join(lines) + "\n"


junk = st.one_of(
    st.text(alphabet=string.ascii_letters + "-_ ", max_size=8),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.just({"a": 1}),
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    d = {sec: dict(table) for sec, table in BASE.items()}
    touched: list[str] = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["value", "unknown-key", "unknown-section", "scale"]))
        if kind == "unknown-key":
            sec = draw(st.sampled_from(sorted(d)))
            key = draw(st.text(alphabet=string.ascii_lowercase + "_", min_size=3, max_size=10))
            if key in d[sec]:
                continue
            d[sec][key] = draw(junk)
            touched.append(key)
        elif kind == "unknown-section":
            sec = draw(st.text(alphabet=string.ascii_lowercase, min_size=3, max_size=8))
            if sec in d:
                continue
            d[sec] = {"x": 1}
            touched.append(sec)
        else:
            sec, key = draw(st.sampled_from(KEYS))
            old = d[sec][key]
            if kind == "scale" and isinstance(old, int | float) and not isinstance(old, bool):
                d[sec][key] = old * draw(st.sampled_from([-1.0, 0.0, 1e-9, 0.5, 2.0, 1e9]))
            else:
                d[sec][key] = draw(junk)
            touched.append(key)
    return d, touched


def run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = cli.main(argv)
        except SystemExit as exc:  # argparse
            rc = int(exc.code or 0)
    return rc, err.getvalue()


def assert_clean(rc: int, err: str, touched: list[str]) -> None:
    assert rc in (0, 2), (rc, err)
    if rc == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1, err
        assert lines[0].startswith("microsim: error:"), err
        assert "Traceback" not in err
        low = lines[0].lower()
        assert any(t.lower() in low for t in touched) or not touched, (touched, err)
        assert any(w in low for w in HINT_WORDS), err


@settings(max_examples=220, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated())
def test_check_never_crashes(tmp_path_factory, case) -> None:
    d, touched = case
    path = Path(tmp_path_factory.mktemp("cfg")) / "case.toml"
    path.write_text(to_toml(d))
    rc, err = run_cli(["check", str(path)])
    assert_clean(rc, err, touched)
    if rc == 2:
        # run refuses the same input the same way, before any solver import or collective call
        out = path.parent / "out"
        rc_run, err_run = run_cli(["run", str(path), "--out", str(out)])
        assert rc_run == 2 and err_run == err
        assert not (out / "summary.json").exists()


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=60))
def test_garbage_files_and_set_options(tmp_path_factory, text: str) -> None:
    path = Path(tmp_path_factory.mktemp("cfg")) / "case.toml"
    path.write_text(text)
    rc, err = run_cli(["check", str(path)])
    assert rc in (0, 2) and "Traceback" not in err
    rc, err = run_cli(["check", str(path), "--set", text or "x"])
    assert rc in (0, 2) and "Traceback" not in err


# --- particle files and sweep files (issue 18, item 7) -----------------------------------------------------------

cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1.0, max_value=5.0),
    st.floats(min_value=0.05, max_value=0.8),
    st.text(alphabet=string.printable, max_size=6),
    st.just(""),
)
CELL_GEOMETRY = {"width_um": 4.0, "cathode_thickness_um": 4.0, "membrane_thickness_um": 3.0, "seed": 1}


def particle_case(tmp: Path, text: str | bytes, dim: int, interface: str = "filled") -> Path:
    csv = tmp / "particles.csv"
    if isinstance(text, bytes):
        csv.write_bytes(text)
    else:
        csv.write_text(text, encoding="utf-8")
    geometry = {**CELL_GEOMETRY, "kind": "particles-file", "dim": dim, "interface": interface,
                "particles_file": str(csv)}  # fmt: skip
    path = tmp / "case.toml"
    path.write_text(to_toml({"geometry": geometry}))
    return path


@st.composite
def particle_files(draw: st.DrawFn) -> tuple[int, str, str]:
    dim = draw(st.sampled_from([2, 3]))
    columns = ["x_um", "y_um", "z_um", "r_um"] if dim == 3 else ["x_um", "y_um", "r_um"]
    header = draw(st.one_of(st.just(columns), st.permutations(columns), st.lists(st.sampled_from(columns), max_size=4)))
    rows = draw(st.lists(st.lists(cell, min_size=0, max_size=len(columns) + 1), max_size=8))
    text = ",".join(header) + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)
    return dim, text, draw(st.sampled_from(["filled", "point-contact"]))


def assert_one_line_error(rc: int, err: str) -> None:
    assert rc in (0, 2), (rc, err)
    assert "Traceback" not in err, err
    if rc == 2:
        lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("microsim: warning:")]
        assert len(lines) == 1 and lines[0].startswith("microsim: error:"), err


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=particle_files())
def test_random_particle_files_never_crash(tmp_path_factory, case) -> None:
    """Random rows, missing and repeated columns, NaN, text, overlaps: ``check`` passes or names the problem."""
    dim, text, interface = case
    path = particle_case(Path(tmp_path_factory.mktemp("pf")), text, dim, interface)
    rc, err = run_cli(["check", str(path)])
    assert_one_line_error(rc, err)
    if rc == 2 and "particles file" in err:
        assert "line" in err or "empty" in err or "no particle" in err or "overlap" in err or "column" in err, err


def test_binary_and_huge_particle_files(tmp_path: Path) -> None:
    """Not UTF-8, and 20,000 random disks (about 1.9 million overlapping pairs): refused in seconds, one line."""
    for garbage in (
        b"x_um,y_um,r_um\n\xff\xfe\x00,1,2\n",
        b"x_um,y_um,r_um\n1,\x00,2\n",
        b'x_um,y_um,r_um\n"1,2,0.3\n',
    ):
        rc, err = run_cli(["check", str(particle_case(tmp_path, garbage, 2))])
        assert_one_line_error(rc, err)
        assert rc == 2 and "particles file" in err
    import numpy as np

    rng = np.random.default_rng(0)
    xyz = rng.uniform(0.2, 3.8, (20_000, 2))
    r = rng.uniform(0.01, 0.2, 20_000)
    text = "x_um,y_um,r_um\n" + "".join(f"{a},{b},{c}\n" for (a, b), c in zip(xyz, r, strict=True))
    rc, err = run_cli(["check", str(particle_case(tmp_path, text, 2))])
    assert rc == 2 and "overlap" in err
    assert_one_line_error(rc, err)


SWEEP = """
[base.geometry]
width_um = 4.0
cathode_thickness_um = 4.0
membrane_thickness_um = 3.0
[[grid]]
key = "geometry.interface"
values = ["filled", "point-contact"]
[ensemble]
seeds = [3, 4]
"""
sweep_junk = st.one_of(junk, st.lists(junk, max_size=3), st.sampled_from(["geometry.seed", "nope.key"]))


@st.composite
def sweep_files(draw: st.DrawFn) -> str:
    lines = SWEEP.strip().splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        k = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        if "=" in lines[k] and draw(st.booleans()):
            key = lines[k].split("=")[0].strip()
            lines[k] = f"{key} = {toml_value(draw(sweep_junk))}"
        else:
            lines.insert(k, draw(st.sampled_from(["[zip]", "[[grid]]", 'key = "x"', "values = [1, 2]", "bogus = 1"])))
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=sweep_files())
def test_mutated_sweep_files_never_crash(tmp_path_factory, text: str) -> None:
    """A sweep file with junk values, unknown keys and stray tables: listed, or refused in one line."""
    folder = Path(tmp_path_factory.mktemp("sweep"))
    path = folder / "sweep.toml"
    path.write_text(text)
    rc, err = run_cli(["sweep", str(path), "--out", str(folder / "out"), "--list"])
    assert_one_line_error(rc, err)
