"""The Makefile: help, the backend choice, paths shared with `python -m workbook run`, and bad Pythons.

Every test runs make on a throwaway environment folder (VENV=...) holding small fake programs, so nothing is installed.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from workbook import settings

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    # What `make test BACKEND=jax` passes down (BACKEND, MAKEFLAGS, ...) must not choose for the make tested here.
    chosen = ("KERAS_BACKEND", "BACKEND", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", *settings.PATH_VARIABLES)
    base = {k: v for k, v in os.environ.items() if k not in chosen}
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *args],
        env=base | (env or {}),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def ready_venv(tmp_path: Path) -> Path:
    """An environment make counts as installed, whose python and jupyter print the paths they were given."""
    venv = tmp_path / "venv"
    report = 'echo "DATA=$WORKBOOK_DATA CACHE=$WORKBOOK_CACHE RUNS=$WORKBOOK_RUNS BACKEND=$KERAS_BACKEND"'
    script(venv / "bin" / "python", report)
    script(venv / "bin" / "jupyter", report)
    (venv / "installed").touch()
    return venv


def test_bare_make_prints_every_target_with_its_description():
    result = make()
    assert result.returncode == 0, result.stderr
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = re.findall(r"^([a-z][a-z-]*):.*## ", makefile, flags=re.M)
    assert {"help", "run", "test", "lab", "smoke", "fetch"} <= set(targets)
    for target in targets:
        assert re.search(rf"^  make {target} +\S", result.stdout, flags=re.M), target
    assert result.stdout == make("help").stdout


@pytest.mark.parametrize(
    ("env", "args", "venv"),
    [
        ({}, (), ".venv/"),
        ({"KERAS_BACKEND": "jax"}, (), ".venv-jax/"),
        ({"KERAS_BACKEND": "torch"}, (), ".venv-torch/"),
        ({"KERAS_BACKEND": "jax"}, ("BACKEND=tensorflow",), ".venv/"),
        ({}, ("BACKEND=torch",), ".venv-torch/"),
    ],
)
def test_backend_comes_from_keras_backend_unless_given(env, args, venv):
    result = make("-n", "lab", *args, env=env)
    assert result.returncode == 0, result.stderr
    assert f"{venv}bin/jupyter lab" in result.stdout


def test_unknown_backend_stops_with_the_choices():
    result = make("-n", "lab", env={"KERAS_BACKEND": "mxnet"})
    assert result.returncode != 0 and "BACKEND must be tensorflow, jax or torch" in result.stderr


def test_relative_paths_mean_the_same_under_make_lab_and_the_run_command(tmp_path):
    """`WORKBOOK_DATA=mydata make lab` looks in ./mydata, as `python -m workbook run` does (not notebooks/mydata)."""
    venv = ready_venv(tmp_path)
    env = {"WORKBOOK_DATA": "mydata", "WORKBOOK_CACHE": "c", "WORKBOOK_RUNS": "~/r", "KERAS_BACKEND": "jax"}
    expected = subprocess.run(
        ["python3", "-c", "import os, sys; print(*(os.path.abspath(os.environ[n]) for n in sys.argv[1:]))"]
        + ["WORKBOOK_DATA", "WORKBOOK_CACHE"],
        env=os.environ | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert expected == [str(ROOT / "mydata"), str(ROOT / "c")]
    for target in ("lab", "run"):
        result = make(target, f"VENV={venv}", env=env)
        assert result.returncode == 0, result.stderr
        line = result.stdout.strip().splitlines()[-1]
        # ~ is left for the workbook to expand, as path_from_env does.
        assert line == f"DATA={expected[0]} CACHE={expected[1]} RUNS=~/r BACKEND=jax", target


def test_python_older_than_311_stops_at_once_naming_the_fix(tmp_path):
    old = script(tmp_path / "python3.10", 'case "$1" in -c) echo 3.10;; *) echo "pip must not run" >&2; exit 9;; esac')
    result = make("run", f"VENV={tmp_path / 'venv'}", f"PYTHON={old}")
    assert result.returncode != 0
    assert f"PYTHON={old} is 3.10" in result.stderr and "make run PYTHON=python3.11" in result.stderr
    assert "pip must not run" not in result.stderr and not (tmp_path / "venv").exists()


def test_environment_without_pip_is_rebuilt_and_a_missing_ensurepip_is_named(tmp_path):
    """A venv whose python cannot import pip is rebuilt; if venv again makes one without pip, make names the fix."""
    venv = tmp_path / "venv"
    script(venv / "bin" / "python", "exit 1")  # exists, but unusable
    log = tmp_path / "venv-calls"
    # A Python 3.11 whose ensurepip is missing: `-m venv DIR` leaves DIR/bin/python without pip and fails.
    broken = script(
        tmp_path / "python3.11",
        f'case "$1" in -c) echo 3.11;; -m) echo "$3" >> {log}; mkdir -p "$3/bin"; '
        f'printf "#!/bin/sh\\nexit 1\\n" > "$3/bin/python"; chmod +x "$3/bin/python"; exit 1;; esac',
    )
    result = make("run", f"VENV={venv}", f"PYTHON={broken}")
    assert result.returncode != 0
    assert f"{venv} has no usable Python 3.11 with pip: rebuilding it" in result.stdout
    assert log.read_text().split() == [str(venv)]
    assert "sudo apt-get install python3-venv" in result.stderr and "without pip" in result.stderr
    assert not venv.exists()  # the next make starts again instead of failing the same way
