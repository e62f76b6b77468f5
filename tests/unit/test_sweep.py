"""Sweep files without the solver: expansion, stable hashes, errors, the output-directory check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from microsim import config
from microsim.errors import ConfigError
from microsim.sweep import case_hash, load_sweep, store
from microsim.sweep.runner import select_cases

GEOMETRIES = Path(__file__).resolve().parents[2] / "geometries"

BASE = """
[base.geometry]
width_um = 4.0
cathode_thickness_um = 4.0
membrane_thickness_um = 3.0
mesh_size_um = 0.3
seed = 3
[base.output]
png = false
xdmf = false
"""


def write(tmp_path: Path, body: str, base: str = BASE) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(base + body)
    return path


def test_grid_zip_ensemble_expansion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[grid]]
key = "geometry.contact_radius_um"
values = [0.05, 0.1, 0.2]
[[grid]]
key = "geometry.interface"
values = ["filled", "point-contact"]
[[zip]]
keys = ["conditions.temperature_C", "electrolyte.name"]
values = [[30, "PPAL"], [50, "PAL"]]
[ensemble]
seeds = { start = 1, count = 2 }
""",
    )
    sweep = load_sweep(path)
    assert len(sweep.cases) == 3 * 2 * 2 * 2
    assert sweep.ensemble_key == "geometry.seed"
    first, last = sweep.cases[0], sweep.cases[-1]
    # Nested loops: first grid axis outermost, ensemble innermost; values as the config holds them.
    assert first.values == {
        "geometry.contact_radius_um": 0.05,
        "geometry.interface": "filled",
        "conditions.temperature_C": 30.0,
        "electrolyte.name": "PPAL",
        "geometry.seed": 1,
    }
    assert sweep.cases[1].values["geometry.seed"] == 2
    assert last.values["geometry.contact_radius_um"] == 0.2 and last.values["electrolyte.name"] == "PAL"
    # Every case is a complete validated config carrying the base and its own values.
    cfg = last.config
    assert cfg.geometry.width_um == 4.0 and cfg.output.png is False
    assert cfg.conditions.temperature_C == 50.0 and cfg.geometry.interface == "point-contact"
    assert len({c.hash for c in sweep.cases}) == len(sweep.cases)
    assert [c.index for c in sweep.cases] == list(range(24))


def test_zip_columns_seed_list_and_base_file(tmp_path: Path) -> None:
    (tmp_path / "case.toml").write_text("[geometry]\nwidth_um = 4.0\nmesh_size_um = 0.3\n[output]\npng = true\n")
    path = write(
        tmp_path,
        """
[base]
file = "case.toml"
[base.output]
png = false
[[zip]]
columns = { "conditions.temperature_C" = [30, 40, 50], "parameters.lfp.exchange_current_A_m2" = [0.1, 0.2, 0.3] }
[ensemble]
seeds = [7, 9]
""",
        base="",
    )
    sweep = load_sweep(path)
    assert len(sweep.cases) == 6
    assert sweep.base.geometry.width_um == 4.0 and sweep.base.output.png is False  # inline wins over the file
    assert sweep.cases[5].config.parameters["lfp.exchange_current_A_m2"] == 0.3
    assert [c.values["geometry.seed"] for c in sweep.cases[:2]] == [7, 9]


def test_plain_base_string_and_no_axes(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'base = "{GEOMETRIES / "default-2d.toml"}"\n')
    sweep = load_sweep(path)
    assert len(sweep.cases) == 1 and sweep.cases[0].values == {}


def test_set_overrides_the_base(tmp_path: Path) -> None:
    path = write(tmp_path, '[[grid]]\nkey = "geometry.seed"\nvalues = [1, 2]\n')
    sweep = load_sweep(path, ["geometry.width_um=5"])
    assert all(c.config.geometry.width_um == 5.0 for c in sweep.cases)


#: The README's quick version of the contact sweep.
QUICK_CONTACT = [
    "geometry.width_um=4",
    "geometry.cathode_thickness_um=4",
    "geometry.membrane_thickness_um=3",
    "geometry.mesh_size_um=0.3",
]


@pytest.mark.parametrize("overrides", [[], QUICK_CONTACT], ids=["as-bundled", "readme-quick"])
def test_bundled_example_sweep(overrides: list[str]) -> None:
    """Every case of the contact sweep, and of the README's quick version of it, has a valid geometry."""
    from microsim.geometry import describe

    sweep = load_sweep(GEOMETRIES / "sweep-contact-2d.toml", overrides)
    assert len(sweep.cases) == 12
    assert sweep.base.output.png is False and sweep.base.geometry.width_um == (4.0 if overrides else 10.0)
    for case in sweep.cases:
        describe(case.config.geometry, config.contact_settings(case.config))  # raises GeometryError if not


def test_bundled_fill_sweep() -> None:
    """The pore-filling example: 6 fractions x 2 seeds on the filled default 2D case."""
    sweep = load_sweep(GEOMETRIES / "sweep-fill-2d.toml")
    assert len(sweep.cases) == 12
    assert {c.config.geometry.pore_fill_fraction for c in sweep.cases} == {1.0, 0.9, 0.8, 0.7, 0.6, 0.5}
    assert all(c.config.geometry.interface == "filled" for c in sweep.cases)


def test_hash_stable_across_processes(tmp_path: Path) -> None:
    path = write(tmp_path, '[[grid]]\nkey = "geometry.contact_radius_um"\nvalues = [0.05, 0.1]\n')
    hashes = [c.hash for c in load_sweep(path).cases]
    code = f"from microsim.sweep import load_sweep; print(' '.join(c.hash for c in load_sweep({str(path)!r}).cases))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.split() == hashes
    assert all(len(h) == 12 and int(h, 16) >= 0 for h in hashes)


def test_hash_changes_with_any_value() -> None:
    cfg = config.default()
    h = case_hash(cfg)
    assert case_hash(config.from_dict(config.to_dict(cfg))) == h  # same content, same hash
    assert case_hash(config.replace(cfg, **{"geometry.seed": 2})) != h
    assert case_hash(config.replace(cfg, **{"solver.newton_tolerance": 1e-9})) != h
    assert case_hash(config.replace(cfg, **{"parameters.lfp.exchange_current_A_m2": 0.1})) != h
    # source is not part of the identity
    assert case_hash(config.load(GEOMETRIES / "default-2d.toml")) == case_hash(
        config.from_dict(config.to_dict(config.load(GEOMETRIES / "default-2d.toml")))
    )


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('[[grid]]\nkey = "geometry.contact_radiu_um"\nvalues = [0.1]\n', "did you mean 'geometry.contact_radius_um'"),
        ('[[grid]]\nkey = "geometri.width_um"\nvalues = [4.0]\n', "did you mean '[geometry]'"),
        (
            '[[zip]]\nkeys = ["conditions.temperature_C", "electrolyte.name"]\nvalues = [[30, "PAL"], [50]]\n',
            "same length",
        ),
        (
            '[[zip]]\ncolumns = { "conditions.temperature_C" = [30, 50], "electrolyte.name" = ["PAL"] }\n',
            "same length",
        ),
        ('[[grid]]\nkey = "geometry.seed"\nvalues = []\n', "at least one value"),
        ('[[grid]]\nkey = "geometry.width_um"\nvalues = [4.0, -1]\n', "geometry.width_um = -1: must be > 0"),
        ('[[grid]]\nkey = "electrolyte.name"\nvalues = ["PAL", "PEO"]\n', "electrolyte.name = 'PEO'"),
        ('[[grid]]\nkey = "geometry.seed"\nvalues = [1, 1]\n', "identical to case 0"),
        ('[[grid]]\nkey = "geometry.seed"\nvalues = [1]\n[ensemble]\nseeds = [1, 2]\n', "swept twice"),
        ('[[gird]]\nkey = "geometry.seed"\nvalues = [1]\n', "did you mean 'grid'"),
        ("[ensemble]\nseeds = { start = 1, count = 0 }\n", "seeds.count"),
    ],
)
def test_bad_sweep_files(tmp_path: Path, body: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_sweep(write(tmp_path, body))
    assert needle in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_invalid_combination_names_the_case(tmp_path: Path) -> None:
    body = '[[grid]]\nkey = "geometry.interface"\nvalues = ["filled", "point-contact"]\n'
    body += '[[grid]]\nkey = "geometry.contact_radius_um"\nvalues = [0.1, 0.7]\n'
    with pytest.raises(ConfigError, match=r"case 3 .*geometry.contact_radius_um = 0.7: must be <"):
        load_sweep(write(tmp_path, body))


def test_missing_base_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="base case file not found"):
        load_sweep(write(tmp_path, "", base='base = "nope.toml"\n'))


def test_output_dir_holding_another_sweep(tmp_path: Path) -> None:
    a = load_sweep(write(tmp_path, '[[grid]]\nkey = "geometry.seed"\nvalues = [1, 2]\n'))
    b = load_sweep(write(tmp_path, '[[grid]]\nkey = "geometry.seed"\nvalues = [1, 3]\n'))
    out = tmp_path / "out"
    assert store.prepare_dir(out, a.definition()) == ["pending", "pending"]
    before = (out / "sweep.json").read_text()
    assert store.prepare_dir(out, a.definition()) == ["pending", "pending"]  # the same sweep: fine
    with pytest.raises(ConfigError, match=r"holds a different sweep .*case 1"):
        store.prepare_dir(out, b.definition())
    assert (out / "sweep.json").read_text() == before  # nothing overwritten
    other = tmp_path / "other"
    other.mkdir()
    (other / "summary.json").write_text("{}")
    with pytest.raises(ConfigError, match="not empty"):
        store.prepare_dir(other, a.definition())


def test_states_and_selection(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, '[[grid]]\nkey = "geometry.seed"\nvalues = [1, 2, 3, 4]\n'))
    out = tmp_path / "out"
    store.prepare_dir(out, sweep.definition())
    h = [c.hash for c in sweep.cases]
    for i, state in [(0, "done"), (1, "failed"), (2, "running")]:
        d = store.case_dir(out, h[i])
        d.mkdir(parents=True)
        (d / "status.json").write_text(json.dumps({"state": state, "error": "boom" if state == "failed" else None}))
    (store.case_dir(out, h[0]) / "summary.json").write_text("{}")
    states = [store.case_state(out, x) for x in h]
    assert states == ["done", "failed", "running", "pending"]
    assert select_cases(states) == [2, 3]  # unfinished only; failed kept
    assert select_cases(states, retry_failed=True) == [1, 2, 3]
    assert select_cases(states, case_index=0) == []  # done: never recomputed
    (store.case_dir(out, h[0]) / "summary.json").unlink()
    assert store.case_state(out, h[0]) == "pending"  # done without its summary is not done
    rows = store.collect_rows(out)
    assert [r["status"] for r in rows] == ["pending", "failed", "running", "pending"]
    assert rows[1]["error"] == "boom" and rows[0]["geometry.seed"] == 1


def test_cli_list_without_solver(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from microsim.cli import main

    path = write(tmp_path, '[[grid]]\nkey = "geometry.seed"\nvalues = [1, 2]\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--list"]) == 0
    out = capsys.readouterr().out
    assert "geometry.seed=2" in out and "2 pending" in out
    bad = write(tmp_path, '[[grid]]\nkey = "geometry.sed"\nvalues = [1]\n')
    assert main(["sweep", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "did you mean 'geometry.seed'" in capsys.readouterr().err


def test_cases_are_dealt_longest_first_to_the_least_loaded_group() -> None:
    from microsim.sweep.runner import deal_cases

    costs = [10.0, 1.0, 1.0, 9.0, 1.0, 1.0, 2.0]
    groups = deal_cases(list(range(7)), costs, 2)
    assert sorted(i for g in groups for i in g) == list(range(7))
    loads = [sum(costs[i] for i in g) for g in groups]
    assert loads == [13.0, 12.0]  # round-robin would give 14 and 11
    assert groups == deal_cases(list(range(7)), costs, 2)  # the same deal on every rank
    # a group without a case is allowed (fewer cases than groups)
    assert deal_cases([4], [1.0], 3) == [[4], [], []]


def test_the_cost_estimate_orders_dimension_size_and_work() -> None:
    from microsim.sweep.runner import estimated_cost

    base = config.replace(config.default(), **{"geometry.dim": 2, "study.kind": "rate", "study.c_rates": [0.1]})
    three_d = config.replace(base, **{"geometry.dim": 3})
    wider = config.replace(three_d, **{"geometry.width_um": 2 * three_d.geometry.width_um})
    more_rates = config.replace(three_d, **{"study.c_rates": [0.1, 0.2, 0.5]})
    spectrum = config.replace(three_d, **{"study.kind": "impedance"})
    assert estimated_cost(base) < estimated_cost(three_d) < estimated_cost(wider)
    assert estimated_cost(more_rates) > estimated_cost(three_d) > estimated_cost(spectrum)
    assert estimated_cost(wider) == pytest.approx(4 * estimated_cost(three_d))


class _Group:
    rank = 0


@pytest.mark.parametrize(
    ("kind", "resume", "refuse", "calls", "resumed"),
    [
        ("rate", True, False, [True], True),  # a checkpoint of this case: continued
        ("rate", True, True, [True, False], False),  # a checkpoint that does not fit: a fresh run
        ("rate", False, False, [False], False),  # a first attempt
        ("resistance", True, False, [False], False),  # a study without checkpoints is never restarted
    ],
)
def test_a_later_attempt_resumes_from_its_checkpoint(
    tmp_path: Path, kind: str, resume: bool, refuse: bool, calls: list[bool], resumed: bool
) -> None:
    from microsim.sweep.runner import _run_or_resume

    seen: list[bool] = []

    def run_study(cfg: object, cdir: Path, group: object, restart: bool = False) -> dict[str, object]:
        seen.append(restart)
        if restart and refuse:
            raise ConfigError("checkpoint x.npz was written for another configuration")
        return {"restart": restart}

    cfg = config.replace(config.default(), **{"study.kind": kind})
    summary, did = _run_or_resume(run_study, cfg, tmp_path, _Group(), resume)  # type: ignore[arg-type]
    assert seen == calls and did is resumed and summary == {"restart": resumed}


def test_a_checkpoint_is_found_in_the_case_or_its_rate_runs(tmp_path: Path) -> None:
    from microsim.sweep.runner import _has_checkpoint

    assert not _has_checkpoint(tmp_path)
    (tmp_path / "runs" / "0.1C").mkdir(parents=True)
    (tmp_path / "runs" / "0.1C" / "timeseries.csv").write_text("")
    assert not _has_checkpoint(tmp_path)
    (tmp_path / "runs" / "0.1C" / "checkpoint.npz").write_bytes(b"")
    assert _has_checkpoint(tmp_path)
    (tmp_path / "runs" / "0.1C" / "checkpoint.npz").unlink()
    (tmp_path / "checkpoint.npz").write_bytes(b"")
    assert _has_checkpoint(tmp_path)


def test_a_store_is_locked_by_one_invocation_and_freed_when_it_dies(tmp_path: Path) -> None:
    first = store.StoreLock(tmp_path)
    assert first.acquire() is None
    with pytest.raises(ConfigError, match=r"in use by another microsim process \(host .*, pid \d+, since "):
        store.StoreLock(tmp_path).acquire()
    first.release()
    again = store.StoreLock(tmp_path)
    assert again.acquire() is None
    again.release()
    # a holder killed with SIGKILL leaves no stale lock: the system drops it with the process
    code = (
        "import sys, time; from microsim.sweep import store; "
        "lock = store.StoreLock(sys.argv[1]); lock.acquire(); print('locked', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match="in use by another microsim process"):
            store.StoreLock(tmp_path).acquire()
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    after = store.StoreLock(tmp_path)
    assert after.acquire() is None
    after.release()


def test_case_names_follow_input_files_by_content_not_path(tmp_path: Path) -> None:
    rows = "x_um,y_um,r_um\n2.0,0.6,0.5\n2.0,3.3,0.5\n"
    for where in ("a", "b"):
        (tmp_path / where).mkdir()
        (tmp_path / where / "p.csv").write_text(rows)

    def cfg(where: str) -> config.Config:
        path = str(tmp_path / where / "p.csv")
        return config.replace(config.default(), **{"geometry.kind": "particles-file", "geometry.particles_file": path})

    assert cfg("a").geometry.particles_file != cfg("b").geometry.particles_file
    assert case_hash(cfg("a")) == case_hash(cfg("b"))  # another machine, another checkout: the same case
    (tmp_path / "b" / "p.csv").write_text(rows.replace("3.3", "3.4"))
    assert case_hash(cfg("a")) != case_hash(cfg("b"))  # other particles: another case
