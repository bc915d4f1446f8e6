"""Repository hygiene: generated figures, lint, README commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def test_figures_are_exactly_what_the_script_draws(tmp_path):
    sys.path.insert(0, str(ROOT / "images"))
    try:
        import make_figures
    finally:
        sys.path.pop(0)
    drawn = {path.name: path for path in make_figures.main(tmp_path)}
    committed = {path.name: path for path in (ROOT / "images").glob("*.png")}
    assert sorted(drawn) == sorted(committed)
    for name, path in drawn.items():
        redrawn, stored = (np.asarray(Image.open(file).convert("RGB"), dtype=float) for file in (path, committed[name]))
        assert redrawn.shape == stored.shape, f"{name}: size changed; run `make figures`"
        assert np.abs(redrawn - stored).mean() < 2.0, f"{name} differs from what make_figures draws: `make figures`"


def test_ci_fails_with_a_message_when_the_shared_dataset_is_missing(tmp_path):
    (tmp_path / "clone" / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", tmp_path / "clone" / ".ci" / "run")
    result = subprocess.run(["bash", str(tmp_path / "clone" / ".ci" / "run")], capture_output=True, text=True)
    assert result.returncode != 0
    assert "../shared/data/clothing-dataset-small" in result.stderr and "missing" in result.stderr
    assert not (tmp_path / "clone" / ".venv").exists()  # stopped before installing anything


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


def test_readme_documents_the_start_and_every_notebook():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and len(readme.encode()) <= 10_000, "the README is for students: short"
    assert "make run" in (ROOT / "docs" / "instructors.md").read_text()
    assert "make test" in (ROOT / "CONTRIBUTING.md").read_text()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert path.name in readme, f"README does not list {path.name}"
