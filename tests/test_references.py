"""The nbval references (tests/reference/) must be executions of today's student notebooks."""

from __future__ import annotations

import nbformat
import pytest
from test_notebooks import NOTEBOOKS, code_cells  # noqa: I001

from workbook import run

REFERENCE_DIR = run.data.REPO_ROOT / "tests" / "reference"


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


def test_references_check_some_cells_and_hold_no_errors():
    for path in sorted(REFERENCE_DIR.glob("*.ipynb")):
        cells = code_cells(nbformat.read(path, as_version=4))
        assert any("nbval-check-output" in c.metadata.get("tags", []) for c in cells), path.name
        assert not [o for c in cells for o in c.outputs if o.output_type == "error"], path.name
