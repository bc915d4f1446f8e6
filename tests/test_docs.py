"""The documentation: every relative link resolves, and every shell command shown is run here or listed as not run.

A command in a ```bash block of README.md, CONTRIBUTING.md, data/README.md, benchmarks/README.md or docs/*.md must be
in RUN (the test runs it as written, offline, in a minute or two) or in NOT_RUN with the reason. A new command in a
document fails `test_every_command_is_classified` until it is added to one of them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *ROOT.glob("data/*.md"), *ROOT.glob("benchmarks/*.md")]
    + list((ROOT / "docs").glob("*.md"))
    + [ROOT / "notebooks" / "SOLUTIONS.md"]
)
FULL_RUN = "full size: ImageNet weights (a download) and minutes to an hour of training"
NEEDS_ENV = "creates or installs an environment (downloads from PyPI); tests/test_makefile.py covers make's part"

# Command as written -> expected exit status. `.venv/bin/python` runs as this test's Python (the same environment
# under `make test`); the gates command gets the smoke run folder this test made instead of the example's name.
RUN = {
    "make help": 0,
    ".venv/bin/python -m workbook doctor": None,  # 0 or 1 (1: advice, such as weights not cached); never a crash
    ".venv/bin/python -m workbook check": 0,
    ".venv/bin/python -m workbook run --profile smoke --notebooks 01": 0,
    ".venv/bin/python -m workbook gates runs/full-20250101-120000": 0,
}
NOT_RUN = {
    "git clone <this repository> && cd <its folder>": "a placeholder for the reader's clone",
    "make lab": "starts a server and waits; tests/test_browser.py starts the same command (make -n lab)",
    "python3.11 -m venv .venv": NEEDS_ENV,
    ".venv/bin/pip install -r requirements.txt": NEEDS_ENV,
    ".venv/bin/jupyter lab --ServerApp.root_dir=. --ContentsManager.preferred_dir=notebooks": "starts a server",
    "pip install '.[tensorflow]'": NEEDS_ENV + "; tests/test_packaging.py checks what it declares",
    '.venv/bin/python -c "from pathlib import Path; from workbook import dataset; '
    "dataset.write_manifest(Path('/path/to/clothing-dataset-small'))\"": "rewrites the manifest: a maintainer's step",
    "make test": "the whole suite: this test is part of it",
    "make test BACKEND=jax": "the whole suite in another environment (CI runs it)",
    "make test BACKEND=torch": "the whole suite in another environment",
    "make run BACKEND=jax PROFILE=smoke": NEEDS_ENV,
    "make BACKEND=jax .venv-jax/installed": NEEDS_ENV,
    ".venv-jax/bin/pip install 'jax[cuda12]~=0.10.2'": "a GPU install (downloads)",
    ".venv-jax/bin/python -m workbook fetch --weights": "downloads",
    "make gpu-check BACKEND=jax": "needs a GPU",
    'make gpu-check NOTEBOOKS="04 05" PARAMS="-p EPOCHS 3"': "needs a GPU",
    "WORKBOOK_DATA=/path/to/clothing-dataset-small .venv/bin/python benchmarks/sweep_speed.py": "about 13 minutes",
    "make run": FULL_RUN,
    "make run PROFILE=smoke": "every notebook: the smoke run in tests/test_notebooks.py runs the same",
    'make run NOTEBOOKS="05 06 07 08" PARAMS="-p WEIGHTS None"': "about 4 minutes at full size",
    ".venv/bin/python -m workbook run --notebooks 04 -p EPOCHS 3 -p LEARNING_RATE 0.001 --out runs/short": FULL_RUN,
    "cd notebooks && ../.venv/bin/papermill 04_transfer_learning.ipynb /tmp/04.ipynb -p EPOCHS 3 -p WEIGHTS None": (
        "notebook 04 at full size with random weights: minutes"
    ),
    "make fetch": "downloads",
    "python3.11 -m pip download -d wheels -r requirements.txt 'setuptools>=77'": "downloads",
    ".venv/bin/pip install --no-index --find-links wheels -r requirements.txt": "needs the downloaded wheels",
}


def shell_commands(text: str) -> list[str]:
    """Each command line of the document's ```bash blocks, comments and continuation lines joined."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|shell|console)\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def all_commands() -> dict[str, str]:
    return {command: path.relative_to(ROOT).as_posix() for path in DOCUMENTS for command in shell_commands(read(path))}


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the document's headings."""
    found = set()
    for heading in re.findall(r"^#+\s+(.*)$", re.sub(r"```.*?```", "", read(path), flags=re.S), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        found.add(slug)
    return found


def test_the_documents_exist():
    names = {path.relative_to(ROOT).as_posix() for path in DOCUMENTS}
    expected = {"docs/instructors.md", "docs/caching.md", "docs/backends.md", "docs/troubleshooting.md"}
    assert {"README.md", "CONTRIBUTING.md"} | expected <= names


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(path):
    broken = []
    text = re.sub(r"```.*?```", "", read(path), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor}")
    assert broken == [], f"{path.relative_to(ROOT)} has broken links: {broken}"


def test_every_command_is_classified():
    commands = all_commands()
    unclassified = [f"{where}: {command}" for command, where in commands.items() if command not in RUN | NOT_RUN]
    assert unclassified == [], "add each to RUN or NOT_RUN (with the reason) in tests/test_docs.py"
    assert not set(RUN) & set(NOT_RUN)
    stale = sorted((set(RUN) | set(NOT_RUN)) - set(commands))
    assert stale == [], "no document shows these any more: remove them from tests/test_docs.py"


def run_command(command: str, env: dict) -> subprocess.CompletedProcess:
    words = shlex.split(command)
    if words[0] == ".venv/bin/python":
        words[0] = sys.executable
    return subprocess.run(words, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_commands_run_as_written(dataset_root, tmp_path):
    env = {**os.environ, "WORKBOOK_DATA": str(dataset_root), "WORKBOOK_CACHE": str(tmp_path / "cache")}
    env["WORKBOOK_RUNS"] = str(tmp_path / "runs")
    env.pop("MAKEFLAGS", None)
    shown = all_commands()
    run_folder = tmp_path / "runs" / "smoke"
    for command, status in RUN.items():
        assert command in shown, command
        if command.startswith(".venv/bin/python -m workbook run "):
            command += f" --out {run_folder}"
        if " gates " in command:
            command = command.rsplit(" ", 1)[0] + f" {run_folder}"
        result = run_command(command, env)
        output = result.stdout + result.stderr
        assert "Traceback" not in output, f"{command}\n{output}"
        if status is None:
            assert result.returncode in (0, 1), f"{command}\n{output}"
        else:
            assert result.returncode == status, f"{command}\n{output}"
        if command == "make help":
            assert "make lab" in result.stdout
        if " gates " in command:  # the smoke run holds notebook 01 alone: every gate's notebook is "not run"
            assert "not run" in result.stdout and "FAIL" not in result.stdout
