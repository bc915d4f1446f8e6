"""Check yourself in JupyterLab: a quiz widget answered wrongly then rightly, an exercise check failed then passed.

A notebook of two check cells (notebook 07's quiz and its exercise 4, which need no framework) runs
in `make lab`'s JupyterLab, driven headless by Playwright like tests/test_browser.py, whose helpers
it uses; skipped where that test is skipped.
"""

from __future__ import annotations

import nbformat
import pytest
from test_browser import (  # noqa: F401 (browser_available is an autouse fixture)
    PREFIX,
    browser_available,
    chromium,
    open_notebook,
    run_all,
    running_lab,
    shut_down,
    wait_for,
    wait_until_run_is_over,
)

from workbook import checks, run

NAME = f"{PREFIX}checks.ipynb"


@pytest.fixture(scope="module")
def page(dataset_root, tmp_path_factory):
    """JupyterLab with the two-cell notebook open and run, in a Chromium page."""
    from playwright.sync_api import sync_playwright

    path = run.NOTEBOOKS_DIR / NAME
    cells = [
        nbformat.v4.new_code_cell('from workbook import checks\n\nchecker = checks.load("07")\nchecker.show()'),
        nbformat.v4.new_code_cell('answer_4 = None\nchecker.check("4", answer_4);'),
    ]
    metadata = nbformat.read(run.NOTEBOOKS_DIR / "07_inner_layers.ipynb", as_version=4).metadata  # its kernel
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=metadata), path)
    try:
        with running_lab(tmp_path_factory.mktemp("checks-lab")) as lab, sync_playwright() as playwright:
            chrome = playwright.chromium.launch(executable_path=chromium())
            page = chrome.new_page(viewport={"width": 1400, "height": 1000})
            open_notebook(page, lab, NAME)
            run_all(page)
            wait_until_run_is_over(page)
            yield page
            shut_down(lab, NAME)
            chrome.close()
    finally:
        path.unlink(missing_ok=True)


def test_quiz_feedback_changes_from_the_misconception_to_correct(page):
    quiz = page.locator(".check-yourself-quiz").first
    wait_for(lambda: quiz.count() == 1, 60, "the first quiz widget")
    question = checks.load("07").questions["1"]
    labelled = {choice: f"({letter}) {choice.text}" for letter, choice in zip("abc", question.choices)}
    wrong = next(choice for choice in question.choices if not choice.correct)
    right = next(choice for choice in question.choices if choice.correct)
    for choice, expected in ((wrong, "not quite"), (right, "correct")):
        quiz.get_by_text(labelled[choice], exact=True).click()
        quiz.get_by_role("button", name="Check").click()
        output = quiz.locator(".jp-OutputArea-output")
        wait_for(
            lambda shown=choice.feedback, area=output: shown in area.inner_text(),
            30,
            f"the feedback on {choice.text!r}",
        )
        assert output.inner_text().count("\n") <= 2 and expected in output.inner_text()


def test_exercise_check_fails_with_its_hint_then_passes(page):
    cell = page.locator(".jp-CodeCell").nth(1)
    exercise = checks.load("07").exercises["4"]
    truth = checks.call(exercise.truth, {})
    for answer, expected in (
        (checks.call(exercise.mistakes[0].answer, {}), exercise.mistakes[0].hint),
        (truth, "correct"),
    ):
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+a")
        page.keyboard.type(f'answer_4 = {answer}\nchecker.check("4", answer_4);')
        page.keyboard.press("Shift+Enter")
        output = cell.locator(".jp-OutputArea-output")
        wait_for(lambda shown=expected, area=output: shown in area.inner_text(), 60, f"the check's answer to {answer}")
        assert str(truth) not in output.inner_text().replace(",", "")
