"""Check yourself: quiz questions and exercise checks that give feedback without the answer.

Each notebook's questions and checks live in `notebooks/checks/NN_name.py` (instructors read
them there); a notebook loads its own with `checks.load("04")`. A check recomputes the truth
from the notebook's state or a small computation, compares the student's answer within a stated
tolerance and prints "correct" or a hint (the hint of a known mistake where the answer matches
one); it never prints the answer. An unanswered check (`None`) prints "not answered yet" and
never raises, so papermill and the smoke profile run every notebook to the end.

Every printed result starts with one of `RESULT_MARKS`, which `python -m workbook checked`
reads back from saved notebooks without running them. No framework is imported here.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbook import settings

CHECKS_DIR = Path(__file__).resolve().parent.parent / "notebooks" / "checks"
CORRECT, WRONG, UNANSWERED = "✔", "✘", "·"
RESULT_MARKS = (CORRECT, WRONG, UNANSWERED)


class ChecksError(ValueError):
    """A check used the wrong way (an unknown key, a missing value it needs)."""


@dataclass(frozen=True)
class Choice:
    """One option of a quiz question: its text, and why a student might pick it."""

    text: str
    feedback: str
    correct: bool = False


@dataclass(frozen=True)
class Question:
    """A multiple-choice quiz question; exactly one choice is correct."""

    key: str
    prompt: str
    choices: tuple[Choice, ...]

    def __post_init__(self) -> None:
        if sum(choice.correct for choice in self.choices) != 1:
            raise ChecksError(f"question {self.key} needs exactly one correct choice")


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer, computed like the truth from the same context, and its hint."""

    answer: Callable[..., Any]
    hint: str


@dataclass(frozen=True)
class Exercise:
    """A checked exercise: `truth` recomputes the answer, `solution` is code a student could write.

    Both take the parts of the context they name (`call`), as do the mistakes' answers.
    """

    key: str
    prompt: str
    truth: Callable[..., Any]
    solution: Callable[..., Any]
    hint: str
    mistakes: tuple[Mistake, ...] = ()
    tolerance: float = 0.0  # relative, for numbers; 0 means exact
    options: dict[str, str] = field(default_factory=dict)  # a choice exercise: key -> text
    needs: str = ""  # "imagenet": the truth needs ImageNet weights; "onnx": an ONNX file (`onnx_path`)
    context: str = ""  # the keyword arguments the notebook's check cell passes, e.g. "model=model"

    def tolerance_text(self) -> str:
        if self.options:
            return "one of the options"
        return "exact" if self.tolerance == 0 else f"within {self.tolerance:.0%} relative"


def matches(answer: Any, truth: Any, tolerance: float = 0.0) -> bool:
    """Whether an answer equals the truth: numbers within a relative tolerance, sequences item by item."""
    answer, truth = _plain(answer), _plain(truth)
    if isinstance(truth, str) or isinstance(answer, str):
        return str(answer).strip().lower() == str(truth).strip().lower()
    if isinstance(truth, (list, tuple)):
        if not isinstance(answer, (list, tuple)) or len(answer) != len(truth):
            return False
        return all(matches(a, t, tolerance) for a, t in zip(answer, truth))
    if truth is None or answer is None:
        return truth is answer
    try:
        answer, truth = float(answer), float(truth)
    except (TypeError, ValueError):
        return False
    if math.isnan(answer) or math.isnan(truth):
        return False
    return math.isclose(answer, truth, rel_tol=tolerance, abs_tol=0.0)


def _plain(value: Any) -> Any:
    """NumPy arrays and scalars (and framework tensors that have `tolist`) as plain Python values."""
    return value.tolist() if hasattr(value, "tolist") and not isinstance(value, (str, bytes)) else value


@dataclass(frozen=True)
class Feedback:
    """The outcome of one check: its status ("correct", "wrong", "unanswered") and the message."""

    notebook: str
    key: str
    status: str
    message: str

    def line(self) -> str:
        mark = {"correct": CORRECT, "wrong": WRONG, "unanswered": UNANSWERED}[self.status]
        return f"{mark} {self.notebook} {self.key}: {self.message}"

    def __str__(self) -> str:
        return self.line()


class Checks:
    """One notebook's quiz and exercise checks, and what this session answered."""

    def __init__(self, notebook: str, questions: Sequence[Question], exercises: Sequence[Exercise]):
        self.notebook = notebook
        self.questions = {question.key: question for question in questions}
        self.exercises = {exercise.key: exercise for exercise in exercises}
        self.results: dict[str, Feedback] = {}

    # quiz ------------------------------------------------------------------------------------
    def answer(self, key: str | int, choice: str | None) -> Feedback:
        """Answer quiz question `key` with a choice letter ("a", "b", ...); print and return the feedback."""
        question = self._question(key)
        letters = "abcdefgh"[: len(question.choices)]
        name = f"quiz {question.key}"
        if choice is None:
            feedback = Feedback(self.notebook, name, "unanswered", "not answered yet")
        elif str(choice).strip().lower() not in letters:
            raise ChecksError(
                f"answer quiz {question.key} with one of the letters {', '.join(letters)}, not {choice!r}"
            )
        else:
            picked = question.choices[letters.index(str(choice).strip().lower())]
            status = "correct" if picked.correct else "wrong"
            message = ("correct. " if picked.correct else "not quite. ") + picked.feedback
            feedback = Feedback(self.notebook, name, status, message)
        return self._record(feedback)

    def show(self) -> None:
        """Show the quiz: widgets in Jupyter, else the questions as text with how to answer them."""
        widgets = _widgets()
        for question in self.questions.values():
            if widgets is None:
                print(self.question_text(question))
            else:
                self._show_widget(widgets, question)

    def question_text(self, question: Question) -> str:
        lines = [f"Quiz {question.key}. {question.prompt}"]
        lines += [f"  ({letter}) {choice.text}" for letter, choice in zip("abcdefgh", question.choices)]
        lines.append(f'  answer with checks.answer("{question.key}", "a")')
        return "\n".join(lines)

    def _show_widget(self, widgets, question: Question) -> None:
        from IPython.display import display

        options = [(f"({letter}) {choice.text}", letter) for letter, choice in zip("abcdefgh", question.choices)]
        buttons = widgets.RadioButtons(options=options, value=None, layout=widgets.Layout(width="auto"))
        submit = widgets.Button(description="Check", button_style="primary")
        output = widgets.Output()

        def on_click(_button) -> None:
            output.clear_output()
            with output:
                if buttons.value is None:
                    print("Pick an answer first.")
                else:
                    self.answer(question.key, buttons.value)

        submit.on_click(on_click)
        prompt = widgets.HTML(f"<b>Quiz {question.key}.</b> {question.prompt}")
        display(widgets.VBox([prompt, buttons, submit, output], _dom_classes=["check-yourself-quiz"]))

    # exercises -------------------------------------------------------------------------------
    def check(self, key: str | int, answer: Any, **context: Any) -> Feedback:
        """Check exercise `key`: print "correct" or a hint, never the answer; `None` is "not answered yet"."""
        exercise = self._exercise(key)
        name = f"exercise {exercise.key}"
        if answer is None:
            return self._record(Feedback(self.notebook, name, "unanswered", "not answered yet"))
        if exercise.options and str(answer).strip().lower() not in exercise.options:
            letters = ", ".join(exercise.options)
            raise ChecksError(f"answer exercise {exercise.key} with one of {letters}, not {answer!r}")
        if exercise.needs == "imagenet" and context.get("weights", "imagenet") is None:
            message = 'not checked: this answer needs ImageNet weights (WEIGHTS = "imagenet"), not random ones'
            return self._record(Feedback(self.notebook, name, "unanswered", message))
        if exercise.needs == "onnx" and "onnx_path" in context and context["onnx_path"] is None:
            message = "not checked: this backend wrote no ONNX file (see the export cell); run this on TensorFlow"
            return self._record(Feedback(self.notebook, name, "unanswered", message))
        truth = call(exercise.truth, context)
        if matches(answer, truth, exercise.tolerance):
            message = f"correct ({exercise.tolerance_text()})."
            return self._record(Feedback(self.notebook, name, "correct", message))
        hint = exercise.hint
        for mistake in exercise.mistakes:
            if matches(answer, call(mistake.answer, context), exercise.tolerance):
                hint = mistake.hint
                break
        return self._record(Feedback(self.notebook, name, "wrong", f"not yet. Hint: {hint}"))

    def summary(self) -> str:
        """Which of this notebook's checks passed in this session, one line each; printed and returned."""
        keys = [f"quiz {key}" for key in self.questions] + [f"exercise {key}" for key in self.exercises]
        passed = sum(self.results.get(key) is not None and self.results[key].status == "correct" for key in keys)
        lines = [f"Notebook {self.notebook}: {passed} of {len(keys)} checks passed"]
        for key in keys:
            result = self.results.get(key)
            status = result.status if result else "unanswered"
            mark = {"correct": CORRECT, "wrong": WRONG, "unanswered": UNANSWERED}[status]
            lines.append(f"  {mark} {key}: {'passed' if status == 'correct' else status}")
        text = "\n".join(lines)
        print(text)
        return text

    def _record(self, feedback: Feedback) -> Feedback:
        self.results[feedback.key] = feedback
        print(feedback.line())
        return feedback

    def _question(self, key: str | int) -> Question:
        if str(key) not in self.questions:
            raise ChecksError(f"notebook {self.notebook} has quiz questions {', '.join(self.questions)}, not {key!r}")
        return self.questions[str(key)]

    def _exercise(self, key: str | int) -> Exercise:
        if str(key) not in self.exercises:
            raise ChecksError(f"notebook {self.notebook} checks exercises {', '.join(self.exercises)}, not {key!r}")
        return self.exercises[str(key)]


def call(function: Callable[..., Any], context: dict[str, Any]) -> Any:
    """Call a truth, mistake or solution with the parts of the context it names (a notebook passes more)."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return function(**context)
    missing = [name for name, p in parameters.items() if p.default is p.empty and name not in context]
    if missing:
        raise ChecksError(f"this check needs {', '.join(missing)}: pass it to check(), as in the notebook's check cell")
    return function(**{name: context[name] for name in parameters if name in context})


def _widgets():
    """ipywidgets in a Jupyter kernel someone watches; else None (terminals, plain Python, `workbook run`).

    A kernel of `python -m workbook run` (papermill) gets the text form: nobody can press a button
    there, and saved widget outputs show as nothing outside JupyterLab.
    """
    shell = sys.modules.get("IPython")
    if (
        settings.headless()
        or shell is None
        or shell.get_ipython() is None
        or "IPKernelApp" not in shell.get_ipython().config
    ):
        return None
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


def check_file(notebook: str) -> Path:
    """The check file of notebook `notebook` ("04"), in notebooks/checks/."""
    found = sorted(CHECKS_DIR.glob(f"{notebook}_*.py"))
    if not found:
        raise ChecksError(f"no check file for notebook {notebook} in {CHECKS_DIR}: add {notebook}_name.py there")
    return found[0]


def load(notebook: str | int) -> Checks:
    """Notebook `notebook`'s quiz and exercise checks, from its file in notebooks/checks/."""
    number = f"{int(notebook):02d}"
    path = check_file(number)
    spec = importlib.util.spec_from_file_location(f"workbook_checks_{number}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Checks(number, module.QUIZ, module.EXERCISES)


def saved_results(notebook_path: Path) -> dict[str, str]:
    """The last result of each check printed in a saved notebook (without running it): key -> status."""
    import json

    cells = json.loads(Path(notebook_path).read_text(encoding="utf-8")).get("cells", [])
    marks = {CORRECT: "correct", WRONG: "wrong", UNANSWERED: "unanswered"}
    results: dict[str, str] = {}
    for cell in cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            for line in text if isinstance(text, list) else text.splitlines():
                parts = line.strip().split(" ", 3)
                if len(parts) >= 4 and parts[0] in marks and parts[1].isdigit() and ":" in parts[3]:
                    results[f"{parts[2]} {parts[3].split(':', 1)[0]}"] = marks[parts[0]]
    return results


def checked(folder: Path) -> str:
    """Per notebook in `folder`, how many of its checks the saved outputs show as passed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ChecksError(f"{folder} is not a folder: give the folder of your saved notebooks")
    lines = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        number = path.name[:2]
        try:
            checks = load(number)
        except ChecksError:
            lines.append(f"{path.name}: no checks")
            continue
        total = len(checks.questions) + len(checks.exercises)
        results = saved_results(path)
        passed = sorted(key for key, status in results.items() if status == "correct")
        lines.append(
            f"{path.name}: {len(passed)} of {total} checks passed" + (f" ({', '.join(passed)})" if passed else "")
        )
    if not lines:
        raise ChecksError(f"no notebooks (NN_name.ipynb) in {folder}")
    return "\n".join(lines)
