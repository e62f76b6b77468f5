"""The README works as written: every command in its shell blocks is run here (the fast ones) or named with the
reason it is not (a placeholder file, a 3D run of minutes). A new command in the README fails this test until it is
classified. ``--out results/...`` goes to a temporary folder; ``.venv/bin/`` is this interpreter's ``bin``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dolfinx_solver")

pytestmark = pytest.mark.fenics

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: Commands not run here, with the reason (matched as substrings of the command).
NOT_RUN = {
    "paper-cathode-supported-ppal-30C.toml": "a 3D paper cell: minutes on 2 cores (benchmarks/, validation/)",
    "paper-conventional-ppal-30C.toml": "a 3D paper cell: minutes on 2 cores",
    "run case.toml": "case.toml is the reader's own file (the restart itself is tested in test_restart.py)",
    "sweep geometries/sweep-contact-2d.toml --out results/sweep-contact ": "12 full cases; its quick version runs",
    "mpiexec -n 4 microsim sweep": "12 full cases on 4 ranks; the quick version runs serially",
}
#: The README's quick version of the contact sweep (its prose gives these overrides).
QUICK = (
    "--set geometry.width_um=4 --set geometry.cathode_thickness_um=4 --set geometry.membrane_thickness_um=3 "
    "--set geometry.mesh_size_um=0.3"
)


def readme_commands() -> list[str]:
    """Every ``microsim``/``mpiexec`` line of the README's bash blocks, without comments."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    out = []
    for body in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in body.splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#") and "microsim" in line:
                out.append(line)
    return out


def _argv(command: str, tmp: Path) -> list[str]:
    argv = shlex.split(command.replace(".venv/bin/", ""))
    argv = [str(BIN / a) if a in ("microsim", "mpiexec") else a for a in argv]
    # results/... -> the temporary folder (the README writes under the checkout)
    return [str(tmp / a) if a.startswith("results/") else a for a in argv]


def test_every_readme_command_is_classified() -> None:
    commands = readme_commands()
    assert len(commands) >= 6
    for c in commands:
        assert any(k in c + " " for k in NOT_RUN) or _runs(c), f"README command neither run nor skipped: {c}"


def _runs(command: str) -> bool:
    return any(command.replace(".venv/bin/", "").startswith(p) for p in ("microsim run geometries/default-2d",
               "mpiexec -n 4 microsim run geometries/default-2d", "microsim report results/sweep-contact"))  # fmt: skip


def test_the_fast_readme_commands_run_as_written(tmp_path: Path) -> None:
    ran = []
    commands = [c for c in readme_commands() if _runs(c)]
    # the quick sweep first: the report command reads its results
    sweep = f"microsim sweep geometries/sweep-contact-2d.toml --out results/sweep-contact {QUICK}"
    for command in [sweep, *commands]:
        r = subprocess.run(_argv(command, tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{command}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
        ran.append(command)
    assert (tmp_path / "results" / "run1" / "summary.json").is_file()
    assert list((tmp_path / "results" / "sweep-contact" / "plots").glob("*.png"))
    assert len(ran) == 4  # the quick sweep, run1 serially and on 4 ranks, the report


def test_the_readme_python_blocks_run(tmp_path: Path) -> None:
    """Each ```python block of the README's API section runs as written (``results/...`` in a temporary folder).

    The other Python block reads the demo's folders (``make demo``), which the demo test covers.
    """
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "microsim.Case" in b]
    assert blocks
    for code in blocks:
        code = code.replace('"results/', f'"{tmp_path}/')
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
