"""The nbval references (tests/reference/): executions of today's student notebooks, stable on any machine."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from collections import defaultdict

import nbformat
import pytest
from conftest import REAL_DATA
from nbval.plugin import coalesce_streams, transform_streams_for_comparison
from test_notebooks import NOTEBOOKS, code_cells  # noqa: I001

from workbook import backend, run

REFERENCE_DIR = run.settings.REPO_ROOT / "tests" / "reference"


@pytest.mark.parametrize("student", NOTEBOOKS, ids=lambda path: path.stem)
def test_reference_matches_the_student_notebook(student):
    reference_path = REFERENCE_DIR / student.name
    assert reference_path.is_file(), f"no reference for {student.name}: run `make references`"
    reference = nbformat.read(reference_path, as_version=4)
    injected = [c for c in code_cells(reference) if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    expected = run.parameters_for(student, "smoke")
    assert all(f"{name} = {value!r}" in injected[0].source for name, value in expected.items())
    kept = [c for c in code_cells(reference) if c is not injected[0]]
    assert [c.source for c in kept] == [c.source for c in code_cells(nbformat.read(student, as_version=4))], (
        f"{student.name} changed since its reference was made: run `make references`"
    )
    assert [c.metadata.get("tags", []) for c in kept] == [
        c.metadata.get("tags", []) for c in code_cells(nbformat.read(student, as_version=4))
    ]
    markdown = [c.source for c in nbformat.read(student, as_version=4).cells if c.cell_type == "markdown"]
    assert [c.source for c in reference.cells if c.cell_type == "markdown"] == markdown, (
        f"{student.name}'s text changed since its reference was made: run `make references`"
    )


def test_references_check_some_cells_and_hold_no_errors():
    for path in sorted(REFERENCE_DIR.glob("*.ipynb")):
        cells = code_cells(nbformat.read(path, as_version=4))
        assert any("nbval-check-output" in c.metadata.get("tags", []) for c in cells), path.name
        assert not [o for c in cells for o in c.outputs if o.output_type == "error"], path.name


def checked_text(cell) -> str:
    """What nbval compares in a checked cell: every output but stderr, as text."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream" and output.name == "stderr":
            continue
        parts.append(output.get("text", "") + output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


# What must not appear in a compared output: it changes between machines, runs, caches or library versions.
VOLATILE = {
    "a path": r"PosixPath|WindowsPath|(?<![\w.])/(?:tmp|home|root|work|Users|var|usr)/|[\w-]+/[\w.-]+\.(?:jpe?g|png)\b",
    "a cache file name": r"\.npz\b|vectors loaded from the cache|computing vectors",
    "a hash": r"(?<![0-9a-f])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{12,}(?![0-9a-f])",
    "a time": r"\b\d+(?:\.\d+)?\s?(?:s|ms|seconds|sec)\b|\d+:\d\d:\d\d|\b20\d\d-\d\d-\d\d\b",
    "a version": r"\b(?:Python|TensorFlow|Keras|keras|numpy)\s+\d|\b\d+\.\d+\.\d+\b",
}


def test_checked_cells_print_no_path_hash_time_or_version():
    for path in sorted(REFERENCE_DIR.glob("*.ipynb")):
        for cell in code_cells(nbformat.read(path, as_version=4)):
            if "nbval-check-output" not in cell.metadata.get("tags", []):
                continue
            text = checked_text(cell)
            for kind, pattern in VOLATILE.items():
                found = re.search(pattern, text)
                assert not found, f"{path.name}: a checked cell prints {kind} ({found.group()!r}):\n{cell.source}"


@pytest.mark.skipif(not REAL_DATA, reason="nbval references need the real dataset (set WORKBOOK_DATA)")
@pytest.mark.skipif(backend.name() != "tensorflow", reason="nbval references were executed on TensorFlow")
def test_a_reference_that_uses_the_cache_passes_alone_from_an_empty_cache(tmp_path):
    """06 on a fresh clone: no vectors cached by 05, nothing in runs/; nbval must still pass."""
    env = {**os.environ, "WORKBOOK_CACHE": str(tmp_path / "cache"), "WORKBOOK_RUNS": str(tmp_path / "runs")}
    command = [sys.executable, "-m", "pytest", str(REFERENCE_DIR / "06_checkpointing.ipynb"), "-q"]
    result = subprocess.run(command, cwd=REFERENCE_DIR.parent.parent, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert list((tmp_path / "cache" / "embeddings").glob("*.npz")), "the notebook did not compute its own vectors"


# What nbval leaves out of a comparison (nbval 0.11's IPyNbFile.skip_compare, without --nbdime), plus stderr,
# which conftest adds for the references: TensorFlow's log lines are not results.
NOT_COMPARED = {
    "metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
    "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg", "stderr",
}  # fmt: skip


def compared(outputs) -> dict[str, list]:
    """A cell's outputs as nbval compares them: streams merged, each field's values in order."""
    fields = defaultdict(list)
    for output in transform_streams_for_comparison(coalesce_streams(copy.deepcopy(outputs))):
        for key, value in output.items():
            items = value.items() if key == "data" else [(key, value)]
            for field, item in items:
                if field not in NOT_COMPARED:
                    fields[field].append(item)
    return dict(fields)


def differences(executed, reference) -> list[str]:
    """The checked cells of `reference` whose outputs differ in `executed` (the same notebook run again)."""
    found = []
    pairs = zip(code_cells(executed), code_cells(reference), strict=True)
    for number, (new, old) in enumerate(pairs):
        if "nbval-check-output" in old.metadata.get("tags", []) and compared(new.outputs) != compared(old.outputs):
            found.append(
                f"code cell {number}:\n{old.source}\nwas: {compared(old.outputs)}\nnow: {compared(new.outputs)}"
            )
    return found


@pytest.mark.skipif(not REAL_DATA, reason="nbval references need the real dataset (set WORKBOOK_DATA)")
@pytest.mark.skipif(backend.name() != "tensorflow", reason="nbval references were executed on TensorFlow")
@pytest.mark.parametrize("student", NOTEBOOKS, ids=lambda path: path.stem[:2])
def test_smoke_run_matches_the_reference(smoke_run, student):
    """nbval's check without a second execution: the smoke run's checked cells against the reference."""
    out, _ = smoke_run
    executed = nbformat.read(out / student.name, as_version=4)
    found = differences(executed, nbformat.read(REFERENCE_DIR / student.name, as_version=4))
    assert not found, f"{student.name}: checked outputs changed (if intended: `make references`)\n" + "\n".join(found)


def test_a_changed_output_is_a_difference():
    """The comparison sees a changed number, ignores stderr and figures, and merges split streams as nbval does."""
    reference = nbformat.read(REFERENCE_DIR / "04_transfer_learning.ipynb", as_version=4)
    checked = [c for c in code_cells(reference) if "nbval-check-output" in c.metadata.get("tags", [])]
    assert checked and all(compared(c.outputs) for c in checked)
    executed = copy.deepcopy(reference)
    for cell in code_cells(executed):
        cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="a log line\n"), *cell.outputs]
        for output in cell.outputs:
            output.get("data", {}).pop("image/png", None)
    assert differences(executed, reference) == []
    target = next(c for c in code_cells(executed) if c.source == checked[0].source)
    target.outputs.append(nbformat.v4.new_output("stream", name="stdout", text="1\n"))
    assert len(differences(executed, reference)) == 1
