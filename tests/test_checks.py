"""Check yourself: every exercise's solution passes its check, every listed mistake gets its hint,
no feedback contains the answer, and the quiz gives feedback for each choice (notebooks/checks/)."""

from __future__ import annotations

import json

import pytest

from workbook import checks

NOTEBOOKS = sorted(path.name[:2] for path in checks.CHECKS_DIR.glob("[0-9][0-9]_*.py"))


def context_of(notebook: str) -> dict:
    module = _module(notebook)
    return module.context() if hasattr(module, "context") else dict(getattr(module, "CONTEXT", {}))


def _module(notebook: str):
    import importlib.util

    path = checks.check_file(notebook)
    spec = importlib.util.spec_from_file_location(f"test_checks_{notebook}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def answer_forms(truth) -> list[str]:
    """Ways an answer could be written out in a message: repr, str, with thousands separators."""
    truth = checks._plain(truth)
    forms = {repr(truth), str(truth)}
    if isinstance(truth, (int, float)) and not isinstance(truth, bool):
        forms |= {f"{truth:,}", f"{truth:g}"} if abs(truth) >= 10 else set()
    if isinstance(truth, (list, tuple)):
        forms |= {repr(tuple(truth)), repr(list(truth))}
    return [form for form in forms if len(form) > 2]


@pytest.fixture(scope="module")
def contexts():
    return {}


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_notebook_has_a_quiz_and_three_checked_exercises(notebook):
    loaded = checks.load(notebook)
    assert 3 <= len(loaded.questions) <= 5
    assert len(loaded.exercises) >= 3


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_solutions_pass_and_mistakes_get_their_hint(notebook, contexts, capsys):
    loaded = checks.load(notebook)
    context = contexts.setdefault(notebook, context_of(notebook))
    for exercise in loaded.exercises.values():
        if exercise.needs == "imagenet":
            skipped = loaded.check(exercise.key, "a", **context, weights=None)
            assert skipped.status == "unanswered" and "ImageNet" in skipped.message
            continue
        truth = checks.call(exercise.truth, context)
        right = loaded.check(exercise.key, checks.call(exercise.solution, context), **context)
        assert right.status == "correct", (exercise.key, right.message)
        assert loaded.check(exercise.key, None, **context).status == "unanswered"
        assert exercise.mistakes, f"exercise {exercise.key} lists no typical mistake"
        for mistake in exercise.mistakes:
            wrong = loaded.check(exercise.key, checks.call(mistake.answer, context), **context)
            assert wrong.status == "wrong" and mistake.hint in wrong.message, (exercise.key, wrong.message)
            for form in answer_forms(truth):
                assert form not in wrong.message, (exercise.key, form)
        for form in answer_forms(truth):
            assert form not in right.message and form not in exercise.hint, (exercise.key, form)
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_quiz_feedback_explains_each_choice(notebook, capsys):
    loaded = checks.load(notebook)
    for question in loaded.questions.values():
        for letter, choice in zip("abcde", question.choices):
            feedback = loaded.answer(question.key, letter)
            assert feedback.status == ("correct" if choice.correct else "wrong")
            assert choice.feedback in feedback.message and len(choice.feedback) > 10
    loaded.show()  # no Jupyter kernel here: the questions as text
    assert f'answer("{next(iter(loaded.questions))}", "a")' in capsys.readouterr().out


def test_unknown_keys_and_bad_answers_say_what_to_do():
    loaded = checks.load("01")
    with pytest.raises(checks.ChecksError, match="checks exercises 1"):
        loaded.check("9", 1)
    with pytest.raises(checks.ChecksError, match="one of the letters a, b, c"):
        loaded.answer("1", "z")
    with pytest.raises(checks.ChecksError, match="needs image_size"):
        loaded.check("1", (1, 2, 3))


def test_summary_and_checked_read_saved_outputs(tmp_path, capsys):
    loaded = checks.load("01")
    right = loaded.check("4", checks.call(loaded.exercises["4"].solution, {}))
    wrong = loaded.answer("1", "b")
    text = loaded.summary()
    assert "1 of" in text and "exercise 4: passed" in text
    outputs = [{"output_type": "stream", "name": "stdout", "text": [right.line() + "\n", wrong.line() + "\n"]}]
    notebook = {"cells": [{"cell_type": "code", "source": "", "outputs": outputs, "metadata": {}}]}
    (tmp_path / "01_images_as_arrays.ipynb").write_text(json.dumps(notebook))
    report = checks.checked(tmp_path)
    assert report.startswith("01_images_as_arrays.ipynb: 1 of") and "exercise 4" in report and "quiz 1" not in report


# Numbers SOLUTIONS.md states, as the checks compute them: (notebook, exercise, how SOLUTIONS.md writes the truth).
SOLUTION_NUMBERS = [
    ("03", "1", lambda truth: str(tuple(truth))),
    ("03", "4a", lambda truth: f"{truth:,}"),
    ("03", "4b", lambda truth: f"{truth:,}"),
    ("03", "5", lambda truth: str(truth.tolist())),
    ("04", "3a", lambda truth: f"{truth - 20_490:,} of the base's weights train, plus the head's 20,490"),
    ("04", "5", lambda truth: f"{truth:.3f}"),
    ("07", "1", lambda truth: "{:,} for 1 unit, {:,} for 2 and {:,} for 5".format(*truth)),
    ("07", "4", lambda truth: f"{truth:,} in all"),
    ("08", "1a", lambda truth: f"multiplied by {truth:.0f}"),
    ("11", "3", lambda truth: f"{truth:,}: block 14"),
    ("13", "1a", lambda truth: f"They add up to {truth:.0f} (to float32 rounding)"),
    ("13", "3", lambda truth: f"(status {truth}, unsupported media type"),
]


@pytest.mark.parametrize("notebook, key, written", SOLUTION_NUMBERS, ids=[f"{n}-{k}" for n, k, _ in SOLUTION_NUMBERS])
def test_solutions_md_agrees_with_the_checks(notebook, key, written, contexts):
    context = contexts.setdefault(notebook, context_of(notebook))
    truth = checks.call(checks.load(notebook).exercises[key].truth, context)
    assert written(truth) in (checks.CHECKS_DIR.parent / "SOLUTIONS.md").read_text(encoding="utf-8")


def test_notebooks_hold_the_cells_of_their_check_files(capsys):
    """add_cells.py --check: every notebook with a check file has its cells, as the script makes them."""
    spec = __import__("importlib.util").util.spec_from_file_location("add_cells", checks.CHECKS_DIR / "add_cells.py")
    add_cells = __import__("importlib.util").util.module_from_spec(spec)
    spec.loader.exec_module(add_cells)
    assert add_cells.main(["--check"]) == 0, capsys.readouterr().out


def test_checked_command(tmp_path, capsys):
    from workbook.__main__ import main

    assert main(["checked", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_a_check_that_needs_imagenet_does_not_grade_random_weights(capsys):
    exercise = checks.Exercise(
        "9", "a label", truth=lambda predictions: "jersey", solution=lambda: "jersey", hint="look at the top label."
    )
    needs = checks.Exercise(**{**exercise.__dict__, "needs": "imagenet"})
    loaded = checks.Checks("02", [], [needs])
    skipped = loaded.check("9", "jersey", predictions=None, weights=None)
    assert skipped.status == "unanswered" and "ImageNet weights" in skipped.message
    assert loaded.check("9", "jersey", predictions=None, weights="imagenet").status == "correct"


def test_a_check_that_needs_an_onnx_file_says_so_where_the_backend_wrote_none(capsys):
    """Notebook 13 on JAX has no ONNX file (`onnx_path = None`): its check says so instead of failing."""
    loaded = checks.load("13")
    needing = [exercise.key for exercise in loaded.exercises.values() if exercise.needs == "onnx"]
    assert needing, "notebook 13 has no check that needs the ONNX file"
    for key in needing:
        skipped = loaded.check(key, 1.0, onnx_path=None, photo=None)
        assert skipped.status == "unanswered" and "no ONNX file" in skipped.message
        assert loaded.check(key, None, onnx_path=None, photo=None).status == "unanswered"
