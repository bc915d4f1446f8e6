"""Re-execute the nbval references: `make references [NOTEBOOKS="11 12"]` (needs the real dataset, e.g. WORKBOOK_DATA).

Each student notebook is executed under the smoke profile into tests/reference/; pytest's nbval
then re-runs those copies and compares the cells tagged `nbval-check-output`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from workbook import backend, data, run

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


def tidy(path: Path) -> None:
    """Drop what nbval does not compare and what changes on every run: figures, timings."""
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata.pop("papermill", None)
    for cell in notebook.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = "injected-parameters"  # papermill draws a new random id every run
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            for key in [key for key in output.get("data", {}) if key.startswith("image/")]:
                del output["data"][key]
    nbformat.write(notebook, path)


def main() -> int:
    if backend.name() != "tensorflow":
        print(f"The references are executed on TensorFlow, not {backend.name()}: run `make references`.")
        return 2
    data.find_dataset(download=True)
    REFERENCE_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as out:  # metrics and files the notebooks write stay out of the repo
        results = [run.execute(notebook, Path(out), "smoke") for notebook in run.select_notebooks(sys.argv[1:])]
        for executed in Path(out).glob("*.ipynb"):
            tidy(executed)
            shutil.copy(executed, REFERENCE_DIR / executed.name)
    print(run.summary_table(results))
    return 0 if all(result.status == "ok" for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
