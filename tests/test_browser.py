"""JupyterLab as students use it: notebooks opened in `make lab`'s JupyterLab, then the page read.

Every notebook's smoke-run copy (executed once by the run command, tests/test_notebooks.py) is opened
and its page checked: teaching images load, every figure renders. Three notebooks are also run live,
Run All through the menu, with the cases only a live kernel shows (LIVE below); running all of them
again would execute every notebook a second time for the same figures.

Chromium (Debian's `chromium` package, or WORKBOOK_CHROMIUM=/path/to/chrome) is driven headless by
Playwright for Python (in requirements.txt; no `playwright install`). Without them these tests are
skipped, and the report says how to enable them; WORKBOOK_REQUIRE_BROWSER=1 (CI) makes that a failure.
Screenshots of each notebook's top and first figure go to runs/browser-test/ (or WORKBOOK_SCREENSHOTS).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from workbook import run, session, settings

ROOT = settings.REPO_ROOT
NOTEBOOKS = run.select_notebooks()
REQUIRE_ENV = "WORKBOOK_REQUIRE_BROWSER"
PREFIX = "browser-test-"  # the parameterized copies, beside the notebooks so `../images/` resolves as for them
OFFLINE_02 = f"{PREFIX}offline-02_pretrained_xception.ipynb"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]+\)")
DRAWS = re.compile(r"\bplots\.\w+\(|\bplt\.|\.imshow\(")
RUN_TIMEOUT = 600  # seconds for one notebook's Run All; the smoke profile needs under a minute
# Run All live, each for what only a kernel in JupyterLab shows: 01, where a student starts (a quiz as a
# widget); 05, which computes vectors from an empty cache (its progress bar as a widget); 13, which finds
# notebook 12's model outside a run folder. Every notebook's smoke-run copy is opened besides.
LIVE = [path for path in NOTEBOOKS if path.stem in ("01_images_as_arrays", "05_learning_rate", "13_serving")]
SHOWN = "shown-"  # the smoke run's executed copies, opened without running them


def chromium() -> str | None:
    """The browser to drive: WORKBOOK_CHROMIUM, else chromium (Debian), chromium-browser or google-chrome."""
    if os.environ.get("WORKBOOK_CHROMIUM"):
        return shutil.which(os.environ["WORKBOOK_CHROMIUM"])
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def missing() -> str | None:
    """Why the browser test cannot run here, with how to enable it; None when it can."""
    lacking = []
    if importlib.util.find_spec("playwright") is None:
        lacking.append("Playwright for Python (`pip install -r requirements.txt`)")
    if chromium() is None:
        lacking.append("Chromium (`apt-get install chromium`, or set WORKBOOK_CHROMIUM to a Chrome/Chromium binary)")
    if shutil.which("make") is None:
        lacking.append("make (the test starts JupyterLab with `make lab`'s command)")
    if not lacking:
        return None
    return f"browser test skipped: it needs {' and '.join(lacking)}. Set {REQUIRE_ENV}=1 to make this a failure."


def summary_line(config, line: str) -> None:
    """A line for the end of pytest's report (conftest's pytest_terminal_summary prints it)."""
    lines = config.__dict__.setdefault("_workbook_summary", [])
    if line not in lines:
        lines.append(line)


@pytest.fixture(scope="session", autouse=True)
def browser_available(request) -> None:
    """Skip this module's tests (or fail them, with WORKBOOK_REQUIRE_BROWSER=1) before any costly fixture runs."""
    reason = missing()
    if reason:
        summary_line(request.config, reason)
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(reason.replace("skipped", "required"), pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def screenshots(request) -> Path:
    """An emptied folder for this run's screenshots; its path is printed at the end of the report."""
    folder = Path(os.environ.get("WORKBOOK_SCREENSHOTS") or ROOT / "runs" / "browser-test")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    summary_line(request.config, f"browser test: screenshots in {folder}")
    return folder


# --- the parameterized copies and the JupyterLab server ------------------------------------------------


@pytest.fixture(scope="module")
def prepared(screenshots, smoke_run):
    """Copies in notebooks/ (so `../images/` resolves as for the notebooks): smoke-parameterized ones of LIVE
    (papermill --prepare-only), the smoke run's executed ones of every notebook, and 02 as stored.

    Made before Playwright starts (papermill and Playwright's sync API should not share an event loop);
    smoke_run, whose pages a test opens, runs first for the same reason.
    """
    import papermill

    out, _ = smoke_run
    checkpoints = run.NOTEBOOKS_DIR / ".ipynb_checkpoints"
    had_checkpoints = checkpoints.exists()
    copies = {}
    for notebook in LIVE:
        copies[notebook.stem] = run.NOTEBOOKS_DIR / f"{PREFIX}{notebook.name}"
        parameters = run.parameters_for(notebook, "smoke")
        papermill.execute_notebook(
            str(notebook), str(copies[notebook.stem]), parameters, prepare_only=True, progress_bar=False
        )
    for notebook in NOTEBOOKS:
        copies[SHOWN + notebook.stem] = run.NOTEBOOKS_DIR / f"{PREFIX}{SHOWN}{notebook.name}"
        shutil.copy(out / notebook.name, copies[SHOWN + notebook.stem])
    copies["offline-02"] = run.NOTEBOOKS_DIR / OFFLINE_02
    shutil.copy(run.NOTEBOOKS_DIR / "02_pretrained_xception.ipynb", copies["offline-02"])
    yield copies
    for copy in copies.values():
        copy.unlink(missing_ok=True)
        (checkpoints / f"{copy.stem}-checkpoint.ipynb").unlink(missing_ok=True)
    if not had_checkpoints and checkpoints.is_dir() and not any(checkpoints.iterdir()):
        checkpoints.rmdir()


def lab_command() -> list[str]:
    """The command `make lab` runs (read with `make -n`), with this interpreter's bin folder."""
    shown = subprocess.run(
        ["make", "-s", "-n", "-o", ".venv/installed", "lab", f"BIN={Path(sys.executable).parent}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return shlex.split([line for line in shown.splitlines() if "jupyter" in line][-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab server."""

    url: str
    token: str

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(
            f"{self.url}/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def page_url(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}&reset"


def offline_env(tmp: Path) -> dict:
    """The server's (and so the kernels') environment: no network, no cached ImageNet files, a fresh cache."""
    env = {name: value for name, value in os.environ.items() if name not in (session.METRICS_ENV, session.PROFILE_ENV)}
    env.pop("MPLBACKEND", None)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env[name] = "http://127.0.0.1:9"  # a closed port: every download fails at once
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    env["KERAS_HOME"] = str(tmp / "keras")  # empty: WEIGHTS="imagenet" has to download, and cannot
    env["WORKBOOK_CACHE"] = str(tmp / "cache")  # empty: 05 computes its vectors, with its progress bar
    env["JUPYTERLAB_SETTINGS_DIR"] = str(tmp / "lab-settings")  # the user's own settings stay untouched
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(tmp / "lab-workspaces")
    return env


@pytest.fixture(scope="module")
def lab(prepared, dataset_root, tmp_path_factory):
    """JupyterLab started with `make lab`'s command, headless, on a free port, offline."""
    with running_lab(tmp_path_factory.mktemp("lab")) as handle:
        yield handle


@contextlib.contextmanager
def running_lab(tmp: Path):
    """Start JupyterLab with `make lab`'s command in `tmp`'s offline environment; stop it afterwards."""
    token, port = secrets.token_hex(16), free_port()
    command = lab_command() + ["--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1", "--port-retries=0"]
    command += [f"--IdentityProvider.token={token}"] + (["--allow-root"] if os.geteuid() == 0 else [])
    log = (tmp / "jupyterlab.log").open("w")
    server = subprocess.Popen(command, cwd=ROOT, env=offline_env(tmp), stdout=log, stderr=subprocess.STDOUT)
    handle = Lab(f"http://127.0.0.1:{port}", token)
    deadline = time.monotonic() + 120
    while True:
        try:
            handle.api("status")
            break
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start: {shlex.join(command)}\n{(tmp / 'jupyterlab.log').read_text()}")
            time.sleep(0.5)
    try:
        yield handle
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    """Headless Chromium, driven by Playwright (its own browser builds are not used)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chrome = playwright.chromium.launch(executable_path=chromium())
        yield chrome
        chrome.close()


# --- driving JupyterLab ----------------------------------------------------------------------------------


def wait_for(condition, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def dismiss_news(page) -> None:
    """Answer JupyterLab's first-launch question ('notified about official Jupyter news?') with No."""
    toast = page.locator(".Toastify__toast", has_text="Jupyter news")
    if toast.count():
        toast.get_by_role("button", name="No", exact=True).click()


def open_notebook(page, lab: Lab, name: str) -> None:
    """Open notebooks/<name> and wait until its kernel is idle (the status bar says so)."""
    page.goto(lab.page_url(f"notebooks/{name}"))
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    status = page.locator("#jp-main-statusbar")
    wait_for(lambda: "Idle" in status.inner_text(), 120, f"the kernel of {name} to be idle")
    dismiss_news(page)


def run_all(page) -> None:
    """Run > Run All Cells, through the menu bar as a student does."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


RUNNING = """() => {
  const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
  const queued = Array.from(document.querySelectorAll('.jp-InputPrompt')).some(p => p.textContent.includes('[*]'));
  return queued || !indicator || indicator.dataset.status !== 'idle';
}"""


def wait_until_run_is_over(page, timeout: float = RUN_TIMEOUT) -> None:
    """Over when the execution indicator is idle and no prompt shows [*], three polls in a row."""
    quiet, deadline = 0, time.monotonic() + timeout
    while quiet < 3:
        assert time.monotonic() < deadline, f"Run All did not finish within {timeout} s"
        time.sleep(1)
        quiet = 0 if page.evaluate(RUNNING) else quiet + 1


def save_and_read(page, lab: Lab, name: str):
    """Save the notebook (Ctrl+S) and read it back from the server: outputs as the front-end holds them."""
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    dirty = page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")
    wait_for(lambda: dirty.count() == 0, 60, f"{name} to be saved")
    return nbformat.from_dict(lab.api(f"contents/notebooks/{name}?content=1")["content"])


def shut_down(lab: Lab, name: str) -> None:
    """Delete the notebook's session, so the next notebook gets a fresh kernel."""
    for found in lab.api("sessions"):
        if found["path"].endswith(f"notebooks/{name}"):
            lab.api(f"sessions/{found['id']}", method="DELETE")


IMAGES = """async (selector) => {
  const seen = [];
  for (const image of document.querySelectorAll(selector)) {
    image.scrollIntoView({block: 'center'});
    for (let i = 0; i < 100 && !(image.complete && image.naturalWidth); i++) await new Promise(r => setTimeout(r, 100));
    seen.push({src: (image.getAttribute('src') || '').slice(0, 100), loaded: image.complete && image.naturalWidth > 0});
  }
  return seen;
}"""


SCROLL_THROUGH = """async () => {
  const outer = document.querySelector('.jp-WindowedPanel-outer');
  for (let top = 0; top < outer.scrollHeight; top += outer.clientHeight / 2) {
    outer.scrollTo(0, top);
    await new Promise(r => setTimeout(r, 150));
  }
  outer.scrollTo(0, 0);
}"""


def scroll_through(page, figures: int) -> None:
    """Scroll the notebook from top to bottom, as a reader does, until `figures` figures are on the page.

    JupyterLab renders a notebook opened from disk a part at a time; figure_problems tells what is missing.
    """
    with contextlib.suppress(AssertionError):
        wait_for(
            lambda: page.evaluate(SCROLL_THROUGH) or page.locator(".jp-OutputArea-output img").count() >= figures,
            60,
            "every figure to be on the page",
        )


def images(page, selector: str) -> list[dict]:
    """Every image matching `selector`, each scrolled into view and given up to 10 s to load."""
    return page.evaluate(IMAGES, selector)


def screenshot_element(locator, path: Path) -> None:
    """Scroll an element into view, wait until its box stops moving, then take its picture."""
    locator.scroll_into_view_if_needed()
    boxes = [None]

    def settled():
        boxes.append(locator.bounding_box())
        return boxes[-1] is not None and boxes[-1] == boxes[-2]

    wait_for(settled, 10, "the figure to stop moving", interval=0.3)
    locator.screenshot(path=str(path))


def outputs(notebook, output_type: str, name: str | None = None) -> list[tuple[int, dict]]:
    return [
        (index, output)
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == output_type and (name is None or output.get("name") == name)
    ]


def problems_in(notebook, page) -> list[str]:
    """What a student would see go wrong, read from the saved notebook and from the page."""
    found = []
    code = [(index, cell) for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    not_run = [index for index, cell in code if cell.execution_count is None]
    if not_run:
        found.append(f"{len(not_run)} of {len(code)} code cells did not run (first: cell {not_run[0]})")
    # The page shows tracebacks and stderr alike (application/vnd.jupyter.stderr); the saved outputs tell them apart.
    for index, error in outputs(notebook, "error"):
        found.append(f"cell {index} raised {error.ename}: {error.evalue}")
    for index, stream in outputs(notebook, "stream", "stderr"):
        found.append(f"cell {index} wrote to stderr: {stream.text[:300]!r}")
    return found + image_problems(notebook, page) + figure_problems(notebook, page)


def image_problems(notebook, page) -> list[str]:
    """Every image the markdown cells name is shown on the page and loaded."""
    expected = sum(len(MARKDOWN_IMAGE.findall(cell.source)) for cell in notebook.cells if cell.cell_type == "markdown")
    shown = images(page, ".jp-MarkdownOutput img")
    broken = [image["src"] for image in shown if not image["loaded"]]
    if broken or len(shown) != expected:
        return [f"markdown images: {len(shown)} shown of {expected}, broken: {broken}"]
    return []


def figures_sent(notebook) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def figure_problems(notebook, page) -> list[str]:
    """Every figure the kernel sent is on the page and loaded; a notebook that plots shows at least one."""
    sent = figures_sent(notebook)
    draws = any(DRAWS.search(cell.source) for cell in notebook.cells if cell.cell_type == "code")
    rendered = images(page, ".jp-OutputArea-output img")
    loaded = sum(image["loaded"] for image in rendered)
    found = []
    if draws and not sent:
        found.append("the notebook plots, but no figure came out")
    if loaded != sent:
        found.append(f"figures: {sent} sent by the kernel, {loaded} rendered and loaded on the page")
    return found


def widget_problems(notebook, page, expect_progress: bool) -> list[str]:
    """The widgets the kernel sent render as widgets (ipywidgets is installed): progress bars and the quiz.

    The check-yourself cells (tagged `check-yourself`) send the quiz; every other widget is a progress bar.
    """

    def widgets_sent(quiz: bool) -> int:
        return sum(
            "application/vnd.jupyter.widget-view+json" in output.get("data", {})
            for cell in notebook.cells
            if cell.cell_type == "code" and ("check-yourself" in cell.metadata.get("tags", [])) == quiz
            for output in cell.outputs
        )

    progress, quizzes = widgets_sent(quiz=False), widgets_sent(quiz=True)
    rendered = page.locator(".jp-OutputArea-output .widget-hprogress").count()
    rendered_quizzes = page.locator(".check-yourself-quiz").count()
    found = []
    if expect_progress and not progress:
        found.append("no progress bar widget, though the vectors were computed")
    if rendered < progress:
        found.append(f"widgets: {progress} progress bars sent, {rendered} rendered")
    if rendered_quizzes < quizzes:
        found.append(f"widgets: {quizzes} quizzes sent, {rendered_quizzes} rendered")
    return found


def run_all_and_read(page, lab: Lab, name: str):
    """Open `name` in JupyterLab, Run All Cells through the menu, wait for the end; the saved notebook."""
    open_notebook(page, lab, name)
    run_all(page)
    wait_until_run_is_over(page)
    return save_and_read(page, lab, name)


def screenshots_of(page, folder: Path, stem: str) -> None:
    """The notebook's top, and its first figure if it has one."""
    page.locator(".jp-WindowedPanel-outer").first.evaluate("element => element.scrollTo(0, 0)")
    page.screenshot(path=str(folder / f"{stem}-top.png"))
    figures = page.locator(".jp-OutputArea-output img")
    if figures.count():
        screenshot_element(figures.first, folder / f"{stem}-figure.png")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_smoke_run_copy_shows_its_images_and_figures_in_jupyterlab(notebook, screenshots, prepared, lab, browser):
    """The executed copy, opened as a student opens a notebook: teaching images load, every figure renders."""
    name = prepared[SHOWN + notebook.stem].name
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_notebook(page, lab, name)
        saved = nbformat.read(prepared[SHOWN + notebook.stem], as_version=4)
        scroll_through(page, figures_sent(saved))
        found = image_problems(saved, page) + figure_problems(saved, page)
        screenshots_of(page, screenshots, notebook.stem)
    finally:
        shut_down(lab, name)
        page.close()
    assert found == [], f"{notebook.name} in JupyterLab (screenshots in {screenshots}):\n  " + "\n  ".join(found)


@pytest.mark.parametrize("notebook", LIVE, ids=[path.stem for path in LIVE])
def test_run_all_in_jupyterlab(notebook, screenshots, prepared, lab, browser):
    """Every cell runs, with no error and nothing on stderr; teaching images load; figures and widgets render."""
    name = prepared[notebook.stem].name
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        saved = run_all_and_read(page, lab, name)
        found = problems_in(saved, page)
        found += widget_problems(saved, page, expect_progress=notebook.stem == "05_learning_rate")
        screenshots_of(page, screenshots, f"{notebook.stem}-run-all")
    finally:
        shut_down(lab, name)
        page.close()
    assert found == [], f"{notebook.name} in JupyterLab (screenshots in {screenshots}):\n  " + "\n  ".join(found)


REMEDIES_FOR_THE_COMMAND_LINE = ("make fetch", "fetch --weights", "-p WEIGHTS", "PROFILE=smoke")


@pytest.fixture(scope="module")
def offline_02(screenshots, prepared, lab, browser):
    """02 as stored (WEIGHTS = "imagenet") run offline with no cached weights: its saved outputs and first error."""
    name = prepared["offline-02"].name
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        saved = run_all_and_read(page, lab, name)
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        if errors.count():
            screenshot_element(errors.first, screenshots / "02_pretrained_xception-offline-error.png")
    finally:
        shut_down(lab, name)
        page.close()
    failures = outputs(saved, "error")
    assert failures, "02 ran to the end offline without ImageNet weights"
    index, error = failures[0]
    return saved, index, ANSI.sub("", "\n".join(error.traceback))


def test_offline_02_shows_the_workbook_message_alone(offline_02):
    """No frame of the package's source, no 'Downloading data from' line; WEIGHTS = None before command lines."""
    saved, index, shown = offline_02
    printed = "".join(output.get("text", "") for _, output in outputs(saved, "stream"))
    assert "Downloading data from" not in printed, "Keras announced a download that cannot start"
    assert "workbook/" not in shown and "workbook\\" not in shown, f"cell {index} shows the package's source:\n{shown}"
    assert "Traceback" not in shown, shown
    assert "WEIGHTS = None" in shown, shown
    cli = [shown.index(remedy) for remedy in REMEDIES_FOR_THE_COMMAND_LINE if remedy in shown]
    assert all(shown.index("WEIGHTS = None") < position for position in cli), shown


def test_offline_02_message_names_weights_none_on_its_first_line(offline_02):
    _, _, shown = offline_02
    first = next(line for line in shown.splitlines() if line.strip())
    assert "WEIGHTS = None" in first, shown


def test_run_pages_open_without_a_kernel_and_without_broken_images(screenshots, smoke_run, browser):
    """The smoke run's index.html links every page; the index and a page with figures show no broken image."""
    out, results = smoke_run
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    # The pages must stand alone: nothing but the files themselves and embedded data may load.
    page.route(
        "**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:")) else route.abort()
    )
    try:
        page.goto((out / "index.html").as_uri())
        links = page.eval_on_selector_all("a[href$='.html']", "anchors => anchors.map(a => a.getAttribute('href'))")
        index_images = images(page, "img")
        page.screenshot(path=str(screenshots / "run-index.png"), full_page=True)
        page.goto((out / "04_transfer_learning.html").as_uri())
        page_images = images(page, "img")
        page.screenshot(path=str(screenshots / "run-page-04.png"))
    finally:
        page.close()
    assert set(links) == {f"{result.notebook}.html" for result in results}
    assert all((out / link).is_file() for link in links)
    assert all(image["loaded"] for image in index_images), index_images
    assert len(page_images) >= 2 and all(image["loaded"] for image in page_images), page_images
