"""Repository hygiene: generated figures, lint, README commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_figures_are_exactly_what_the_script_draws(tmp_path):
    sys.path.insert(0, str(ROOT / "images"))
    try:
        import make_figures
    finally:
        sys.path.pop(0)
    drawn = {path.name for path in make_figures.main(tmp_path)}
    committed = {path.name for path in (ROOT / "images").glob("*.png")}
    assert drawn == committed


def test_markdown_images_exist():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", cell.source):
                    assert (path.parent / target).is_file(), f"{path.name} shows missing {target}"


@pytest.mark.skipif(shutil.which("ruff", path=str(Path(sys.executable).parent)) is None, reason="ruff not installed")
def test_code_passes_the_linter_and_formatter():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    lint = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    formatted = subprocess.run(
        [ruff, "format", "--check", "workbook", "tests", "images", "notebooks", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert formatted.returncode == 0, formatted.stdout


def test_readme_documents_the_two_commands_and_every_notebook():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme and "PROFILE=smoke" in readme
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert path.name in readme, f"README does not list {path.name}"
