"""Insert each notebook's check-yourself cells from its check file: `python notebooks/checks/add_cells.py [--check]`.

Idempotent: every cell it adds carries the tag `check-yourself`; a run first removes the tagged
cells, then inserts them again from the check files. The quiz goes under `### Check yourself`,
just before `## Exercises`; the exercise checks and the notebook's summary of its checks go after
the exercises. A notebook whose exercises sit inside its summary cell gets its own `## Exercises`
cell. A notebook without a check file is left as it is, with a message. `--check` changes
nothing and exits with 1 when a notebook is not what this script would make of it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from workbook import checks  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
TAG = "check-yourself"

QUIZ_INTRO = """### Check yourself

Answer these questions on the lesson's key ideas. In JupyterLab, pick an answer and press **Check**: the feedback says whether it is right, or which misconception that answer reflects. Without widgets (a terminal, papermill) the cell prints the questions; answer one with `checker.answer("1", "b")`."""

QUIZ_CODE = """from workbook import checks

checker = checks.load("{number}")
checker.show()"""

EXERCISES_INTRO = """### Check your answers

After an exercise, replace `None` in its cell below by your answer and run the cell. The check recomputes the answer from this notebook's state or a small computation, says "correct" (with its tolerance) or gives a hint, and never prints the answer; an unanswered check says "not answered yet". Open questions have no check: `SOLUTIONS.md` discusses them, and the check file `notebooks/checks/{file}` holds the solutions."""

SUMMARY_INTRO = """See which of this notebook's checks pass. `python -m workbook checked notebooks` lists them for every saved notebook in a folder, without running them."""


def tagged(cell):
    cell.metadata["tags"] = [*cell.metadata.get("tags", []), TAG]
    return cell


def exercise_cells(exercise: checks.Exercise) -> list:
    variable = f"answer_{exercise.key}"
    arguments = ", ".join(filter(None, [f'"{exercise.key}"', variable, exercise.context]))
    sentence = f"Exercise {exercise.key}: {exercise.prompt}."
    if exercise.options:
        sentence += " Answer with the letter."
    code = f"{variable} = None  # your answer\nchecker.check({arguments});"
    return [tagged(nbformat.v4.new_markdown_cell(sentence)), tagged(nbformat.v4.new_code_cell(code))]


def split_exercises(cells: list) -> int:
    """The index of the `## Exercises` cell, splitting it off a summary cell that contains it."""
    for index, cell in enumerate(cells):
        if cell.cell_type != "markdown" or "## Exercises" not in cell.source:
            continue
        if cell.source.lstrip().startswith("## Exercises"):
            return index
        before, after = cell.source.split("## Exercises", 1)
        cell.source = before.rstrip()
        exercises = nbformat.v4.new_markdown_cell("## Exercises" + after)
        exercises.id = "exercises"
        cells.insert(index + 1, exercises)
        return index + 1
    raise ValueError("no `## Exercises` heading: add one before running this script")


def with_checks(notebook, number: str, loaded: checks.Checks, file: str):
    cells = [cell for cell in notebook.cells if TAG not in cell.metadata.get("tags", [])]
    exercises_at = split_exercises(cells)
    quiz = [
        tagged(nbformat.v4.new_markdown_cell(QUIZ_INTRO)),
        tagged(nbformat.v4.new_code_cell(QUIZ_CODE.format(number=number))),
    ]
    answers = [tagged(nbformat.v4.new_markdown_cell(EXERCISES_INTRO.format(file=file)))]
    for exercise in loaded.exercises.values():
        answers += exercise_cells(exercise)
    answers += [
        tagged(nbformat.v4.new_markdown_cell(SUMMARY_INTRO)),
        tagged(nbformat.v4.new_code_cell("checker.summary();")),
    ]
    for index, cell in enumerate(quiz + answers):  # stable ids: the same input gives the same file
        cell.id = f"check-yourself-{index:02d}"
    notebook.cells = cells[:exercises_at] + quiz + cells[exercises_at:] + answers
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        number = path.name[:2]
        try:
            file = checks.check_file(number).name
        except checks.ChecksError:
            print(f"skip {path.name}: no check file notebooks/checks/{number}_*.py yet")
            continue
        before = path.read_text(encoding="utf-8")
        notebook = with_checks(nbformat.reads(before, as_version=4), number, checks.load(number), file)
        after = nbformat.writes(notebook) + "\n"
        if after == before:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(after, encoding="utf-8")
            print(f"updated {path.name}")
    if args.check and stale:
        print("out of date (run python notebooks/checks/add_cells.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
