"""Shared fixtures: the dataset the tests use, bad-file trees, and nbval settings."""

from __future__ import annotations

import http.server
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbook import backend, settings

CLASSES = ["dress", "hat", "longsleeve", "outwear", "pants", "shirt", "shoes", "shorts", "skirt", "t-shirt"]
REQUIRE_ENV = "WORKBOOK_REQUIRE_DATA"
REAL_DATA = settings.dataset_dir().is_dir()


def pytest_configure(config):
    """With WORKBOOK_REQUIRE_DATA=1 (CI), a missing dataset fails the run instead of using generated data.

    Files the notebooks write (06's checkpoints) and the caches go to a temporary folder of this test
    session, not the repository's runs/ and .cache/: no test depends on what an earlier run left
    (unless WORKBOOK_RUNS or WORKBOOK_CACHE is set, as one test does for a subprocess).
    """
    if os.environ.get(REQUIRE_ENV) == "1" and not REAL_DATA:
        pytest.exit(
            f"{REQUIRE_ENV}=1 but there is no dataset at {settings.dataset_dir()}. "
            "Set WORKBOOK_DATA to the clothing dataset (CI: ../shared/data/clothing-dataset-small) "
            "or unset WORKBOOK_REQUIRE_DATA to test on a small generated dataset.",
            returncode=1,
        )
    config._workbook_tmp = tempfile.mkdtemp(prefix="workbook-tests-")
    for name in ("WORKBOOK_RUNS", "WORKBOOK_CACHE"):  # unless the caller chose a folder (a test's subprocess)
        if not os.environ.get(name, "").strip():
            os.environ[name] = os.path.join(config._workbook_tmp, name.split("_")[1].lower())
    backend.keep_compiled_programs(settings.cache_dir() / "jax")  # the session's cache, not .cache/ (set on import)


def pytest_unconfigure(config):
    if hasattr(config, "_workbook_tmp"):
        shutil.rmtree(config._workbook_tmp, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, config):
    """Lines tests leave for the end of the report: where the browser test put its screenshots, or why it skipped."""
    for line in config.__dict__.get("_workbook_summary", []):
        terminalreporter.write_line(line)


def pytest_ignore_collect(collection_path, config):
    """Collect the nbval references only when named on the command line (`pytest tests/reference/04_*.ipynb`).

    `make test` does not execute them again: the smoke run executes every notebook under the same
    profile, and test_references compares its checked cells with the references as nbval would.
    """
    if collection_path.suffix == ".ipynb" and collection_path.parent.name == "reference":
        named = {Path(arg.split("::")[0]).resolve() for arg in config.args}
        return collection_path.resolve() not in named and collection_path.parent.resolve() not in named
    return None


# Test files that run no Keras backend (documents and their commands, the Makefile, packaging, run folders
# and gates, plots, progress bars): they run with TensorFlow only, so another backend's suite (`make test
# BACKEND=jax`) spends its time on what differs between backends.
BACKEND_FREE = {
    "test_docs.py", "test_gates.py", "test_layout.py", "test_makefile.py",
    "test_packaging.py", "test_plots.py", "test_progress.py", "test_repo.py",
}  # fmt: skip


def pytest_collection_modifyitems(config, items):
    """nbval references were executed on the real dataset with TensorFlow: compare them only there.

    Other backends start from other random weights, so their numbers differ; the smoke run of every
    notebook (test_notebooks) is what checks them. BACKEND_FREE files also run on TensorFlow only.
    """
    skip = pytest.mark.skip(reason="nbval references need the real dataset (set WORKBOOK_DATA)")
    other_backend = pytest.mark.skip(reason=f"nbval references were executed on TensorFlow, not {backend.name()}")
    backend_free = pytest.mark.skip(reason="runs no Keras backend: tested in the TensorFlow suite")
    for item in items:
        if item.path.name in BACKEND_FREE and backend.name() != "tensorflow":
            item.add_marker(backend_free)
        if item.path.suffix == ".ipynb":
            if "stderr" not in item.parent.skip_compare:  # TensorFlow log lines are not results
                item.parent.skip_compare = (*item.parent.skip_compare, "stderr")
            if not REAL_DATA:
                item.add_marker(skip)
            elif backend.name() != "tensorflow":
                item.add_marker(other_backend)


def write_image(path: Path, size=(96, 120), mode="RGB", seed=0, image_format=None) -> Path:
    """Save a random image (noise on a colour) of the given size and mode."""
    rng = np.random.default_rng(seed)
    pixels = (rng.random((size[1], size[0], 3)) * 60 + rng.integers(0, 190, 3)).astype("uint8")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).convert(mode).save(path, format=image_format)
    return path


def make_dataset(root: Path, per_split=None) -> Path:
    """A small clothing-like dataset: the ten class folders in every split, random JPEGs."""
    per_split = per_split or {"train": 4, "validation": 2, "test": 1}
    for split, count in per_split.items():
        for class_index, name in enumerate(CLASSES):
            for index in range(count):
                write_image(root / split / name / f"{index}.jpg", seed=class_index * 100 + index)
    return root


@pytest.fixture(scope="session")
def dataset_root(tmp_path_factory) -> Path:
    """The real dataset when present (WORKBOOK_DATA), else a small generated one, exported for kernels."""
    if REAL_DATA:
        return settings.dataset_dir()
    root = make_dataset(tmp_path_factory.mktemp("generated") / "clothing")
    os.environ["WORKBOOK_DATA"] = str(root)
    return root


@pytest.fixture(scope="session")
def smoke_run(dataset_root, tmp_path_factory):
    """`python -m workbook run --profile smoke` over every notebook, once per test session (a run folder)."""
    from workbook import run

    out = tmp_path_factory.mktemp("smoke-run")
    results = run.run("smoke", out=out)
    return out, results


@pytest.fixture
def small_dataset(tmp_path) -> Path:
    """A fresh generated dataset a test may damage."""
    return make_dataset(tmp_path / "clothing")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache folder for this test."""
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET /<behaviour>/<name>: ok sends the file, cut closes halfway, stall sends a little and goes quiet."""

    def do_GET(self):
        behaviour, _, name = self.path.strip("/").partition("/")
        body = self.server.files.get(name, b"")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if behaviour == "ok":
            self.wfile.write(body)
        elif behaviour == "cut":
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        elif behaviour == "stall":
            self.wfile.write(body[:10])
            self.wfile.flush()
            time.sleep(5)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A local web server (127.0.0.1 only) for download tests: put bytes in `.files`, then fetch `.url(kind, name)`."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads, server.block_on_close, server.files = True, False, {}
    server.url = lambda behaviour, name: f"http://127.0.0.1:{server.server_port}/{behaviour}/{name}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
