"""The command line as users call it: doctor, and run when the ImageNet weights cannot be had."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REAL_DATA

from workbook import data, dataset, run, settings
from workbook.__main__ import main, parse_value


def offline_env(tmp_path) -> dict:
    """This environment with an empty Keras cache and every download sent to a closed local port."""
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras")}
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env[name] = "http://127.0.0.1:9"
    env["no_proxy"] = env["NO_PROXY"] = ""
    return env


def test_default_run_offline_stops_early_with_remedies(dataset_root, tmp_path):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "workbook", "run", "--notebooks", "04", "--out", str(tmp_path / "run")],
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.monotonic() - started < 60
    assert result.returncode == 2
    assert "Run stopped before the notebooks" in result.stderr
    assert "fetch --weights" in result.stderr and "PROFILE=smoke" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "run").exists()


def test_run_rejects_unknown_notebooks_and_profiles(dataset_root, capsys):
    assert main(["run", "--notebooks", "99"]) == 2
    assert "No notebook '99'" in capsys.readouterr().err
    assert main(["run", "--profile", "huge", "--notebooks", "01"]) == 2
    assert "Unknown profile 'huge'" in capsys.readouterr().err
    assert main(["run", "--notebooks", "04", "-p", "EPOCH", "3"]) == 2
    assert "No selected notebook has a parameter EPOCH; they have BATCH_SIZE, EPOCHS" in capsys.readouterr().err


def test_parameter_values_are_python_literals():
    assert parse_value("None") is None and parse_value("3") == 3 and parse_value("0.01") == 0.01
    assert parse_value("[0.1, 0.01]") == [0.1, 0.01] and parse_value("imagenet") == "imagenet"


def test_doctor_reports_versions_dataset_and_the_keras_cache_in_use(dataset_root, tmp_path):
    """KERAS_HOME is read when Keras is imported, so doctor runs as a new process with it set."""
    import keras

    from workbook import backend

    (tmp_path / "keras" / "models").mkdir(parents=True)
    (tmp_path / "keras" / "models" / "imagenet_class_index.json").write_text("{}")
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras"), "WORKBOOK_DATA": str(dataset_root)}
    result = subprocess.run([sys.executable, "-m", "workbook", "doctor"], env=env, capture_output=True, text=True)
    out = result.stdout
    assert f"Keras       {keras.__version__} (backend: {backend.version()}, images through {backend.FORMAT})" in out
    cache = tmp_path / "keras" / "models"
    assert f"imagenet_class_index.json: cached in {cache}" in out
    assert f"xception_weights_tf_dim_ordering_tf_kernels_notop.h5: not cached in {cache}" in out
    assert "fetch --weights" in out
    if REAL_DATA:  # the shared dataset is the pinned version, file for file
        assert f"Dataset     {dataset_root}: verified against workbook/manifest" in out and result.returncode == 0
    else:  # the generated dataset: all 3781 pinned files missing, its 70 files extra
        assert f"Dataset     {dataset_root}: {3781 + 70} files differ from workbook/manifest" in out
        assert result.returncode == 1


def test_doctor_says_whether_there_is_a_gpu(dataset_root, monkeypatch, capsys):
    from workbook import backend

    monkeypatch.setattr(backend, "gpus", lambda: [])
    main(["doctor"])
    assert f"Device      CPU only ({os.cpu_count()} cores)" in capsys.readouterr().out
    monkeypatch.setattr(backend, "gpus", lambda: ["NVIDIA H200"])
    main(["doctor"])
    out = capsys.readouterr().out
    assert "Device      GPU: NVIDIA H200" in out and "No GPU" not in out


@pytest.mark.parametrize("gpus", [[], ["NVIDIA H200", "NVIDIA H200"]])
def test_doctor_a_notebook_and_a_run_describe_the_device_in_the_same_words(dataset_root, monkeypatch, capsys, gpus):
    from workbook import backend, session

    monkeypatch.setattr(backend, "gpus", lambda: gpus)
    words = backend.device()
    assert words == ("GPU: NVIDIA H200, NVIDIA H200" if gpus else f"CPU only ({os.cpu_count()} cores)")
    main(["doctor"])
    session.setup()
    out = capsys.readouterr().out
    assert f"Device      {words}\n" in out and f"Device: {words}" in out
    assert run.device_line(run.device()).startswith(f"{words}; Keras ")


@pytest.mark.skipif(not REAL_DATA, reason="compares with the committed manifest (set WORKBOOK_DATA)")
def test_doctor_and_check_accept_the_real_dataset_with_mac_and_jupyter_leftovers(dataset_root, tmp_path, capsys):
    copy = tmp_path / "clothing"
    for name in dataset.dataset_files(dataset_root):  # links to the real images, plus dot files
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).symlink_to(dataset_root / name)
    for split in data.SPLITS:
        (copy / split / ".ipynb_checkpoints").mkdir()
        for folder in (copy / split).iterdir():
            (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    os.environ["WORKBOOK_DATA"] = str(copy)
    try:
        assert main(["doctor"]) == 0
        assert f"Dataset     {copy}: verified against workbook/manifest" in capsys.readouterr().out
        assert main(["check", str(copy)]) == 0
        out = capsys.readouterr().out
    finally:
        os.environ["WORKBOOK_DATA"] = str(dataset_root)
    assert "Problems: none" in out and "Ignored, as Keras ignores them (names that start with a dot): 33" in out


@pytest.mark.parametrize(
    "name, value, problem",
    [
        ("IMAGE_SIZE", "64", "IMAGE_SIZE = 64: must be a whole number of at least 71"),
        ("EPOCHS", "0", "EPOCHS = 0: must be a whole number of at least 1"),
        ("BATCH_SIZE", "2.5", "BATCH_SIZE = 2.5: must be a whole number of at least 1"),
        ("MAX_BATCHES", "0", "MAX_BATCHES = 0: must be None or a whole number of at least 1"),
        ("WEIGHTS", "imagnet", "WEIGHTS = 'imagnet': must be 'imagenet', None (random weights) or the path"),
    ],
)
def test_run_checks_shared_parameters_before_any_notebook(dataset_root, tmp_path, capsys, name, value, problem):
    assert main(["run", "--notebooks", "04", "-p", name, value, "--out", str(tmp_path / "run")]) == 2
    assert problem in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_run_with_relative_paths_from_another_folder(dataset_root, tmp_path):
    """docs/instructors.md's `--out runs/short`, with relative WORKBOOK_RUNS and WORKBOOK_CACHE, from any folder."""
    env = {**os.environ, "WORKBOOK_RUNS": "my-runs", "WORKBOOK_CACHE": "my-cache", "WORKBOOK_DATA": str(dataset_root)}
    command = [
        sys.executable,
        "-m",
        "workbook",
        "run",
        "--profile",
        "smoke",
        "--notebooks",
        "01",
        "--out",
        "runs/short",
    ]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    # The kernel's own warnings stay out of the terminal (ipykernel's "running over TCP without encryption").
    assert "Kernel is running over TCP" not in result.stdout + result.stderr
    assert "Smoke profile: run with IMAGE_SIZE = 71, every other setting as in the notebooks." in result.stdout
    record = json.loads((tmp_path / "runs" / "short" / "01_images_as_arrays.metrics.json").read_text())
    assert record["status"] == "ok" and record["metrics"]
    assert not (run.NOTEBOOKS_DIR / "runs").exists()


def test_paths_from_the_environment_become_absolute_and_empty_means_unset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBOOK_CACHE", "relative/cache")
    monkeypatch.setenv("WORKBOOK_RUNS", "")
    monkeypatch.setenv("WORKBOOK_DATA", " ")
    assert settings.cache_dir() == tmp_path / "relative" / "cache"
    assert settings.runs_dir() == settings.REPO_ROOT / "runs" and settings.dataset_dir() == dataset.DEFAULT_DIR
    settings.make_paths_absolute()
    assert os.environ["WORKBOOK_CACHE"] == str(tmp_path / "relative" / "cache")
    assert "WORKBOOK_RUNS" not in os.environ and "WORKBOOK_DATA" not in os.environ


def test_a_metrics_file_left_half_written_reads_as_no_metrics(tmp_path, monkeypatch):
    import papermill

    def killed_while_writing(source, output, **kwargs):
        Path(os.environ["WORKBOOK_METRICS"]).write_text('{"best_val_accuracy": 0.')
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(papermill, "execute_notebook", killed_while_writing)
    result = run.execute(run.select_notebooks(["01"])[0], tmp_path, "smoke")
    assert result.status == "failed" and result.metrics == {} and "Kernel died" in result.error
    assert json.loads((tmp_path / "01_images_as_arrays.metrics.json").read_text())["metrics"] == {}
    assert "01_images_as_arrays  failed" in run.summary_table([result])


def test_doctor_says_how_to_get_a_missing_dataset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBOOK_DATA", str(tmp_path / "none"))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"Dataset     missing at {tmp_path / 'none'}" in out and "make fetch" in out


def test_summary_shows_each_configuration_of_a_sweep_on_its_own_line():
    metrics = {"chosen_learning_rate": 0.001, "learning_rate=0.1": {"best_val_accuracy": 0.6, "best_epoch": 2}}
    table = run.summary_table([run.Result("05_learning_rate", "ok", 12.0, {}, metrics)]).splitlines()
    assert table[2].startswith("05_learning_rate") and table[2].endswith("chosen_learning_rate=0.001")
    assert table[3].strip() == "learning_rate=0.1: best_val_accuracy=0.6, best_epoch=2"


def test_record_metrics_writes_nested_values_and_output_dir_uses_the_run_folder(tmp_path, monkeypatch):
    import json

    import numpy as np

    from workbook import session

    monkeypatch.setenv(session.METRICS_ENV, str(tmp_path / "05.metrics.json"))
    session.record_metrics(best=np.float32(0.5), sweep={"a": {"best_epoch": np.int64(3)}})
    assert json.loads((tmp_path / "05.metrics.json").read_text()) == {"best": 0.5, "sweep": {"a": {"best_epoch": 3}}}
    folder = session.output_dir("06_checkpointing")
    assert folder == tmp_path / "06_checkpointing" and folder.is_dir()
    (folder / "head_v1_01_0.500.keras").write_text("from an earlier run into the same folder")
    assert list(session.output_dir("06_checkpointing").iterdir()) == []  # a rerun starts empty
    monkeypatch.delenv(session.METRICS_ENV)
    monkeypatch.setenv("WORKBOOK_RUNS", str(tmp_path / "runs"))
    first, second = session.output_dir("06_checkpointing"), session.output_dir("06_checkpointing")
    assert first != second and first.parent == second.parent == tmp_path / "runs"
    assert first.name.startswith("06_checkpointing-")


def test_gpu_check_stops_before_any_notebook_without_a_gpu(dataset_root, tmp_path, monkeypatch, capsys):
    from workbook import backend

    monkeypatch.setattr(backend, "gpus", lambda: [])
    assert main(["run", "--gpu", "--notebooks", "01", "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"No GPU is visible to Keras' backend ({backend.version()})" in error and "nvidia-smi" in error
    assert not (tmp_path / "out").exists()


def test_gpu_check_records_the_gpu_and_each_notebooks_time(dataset_root, tmp_path, monkeypatch):
    from workbook import backend

    monkeypatch.setattr(backend, "gpus", lambda: ["NVIDIA H200"])
    seconds = iter([12.5, 30.25])
    monkeypatch.setattr(
        run, "execute", lambda notebook, out, profile, overrides: run.Result(notebook.stem, "ok", next(seconds))
    )
    monkeypatch.setattr(run, "preflight", lambda *args: None)  # no weights to fetch offline
    assert main(["run", "--gpu", "--notebooks", "01", "03", "--out", str(tmp_path / "out")]) == 0
    device = json.loads((tmp_path / "out" / "device.json").read_text())
    assert device["gpus"] == ["NVIDIA H200"] and device["backend"] == backend.version()
    assert device["seconds"] == {"01_images_as_arrays": 12.5, "03_convolutions": 30.25}
    assert (tmp_path / "out" / "summary.txt").read_text().startswith("Device: GPU: NVIDIA H200; Keras ")


def test_without_keras_backend_set_the_installed_backend_is_used(tmp_path):
    """Keras' choice when its backend is installed (its default TensorFlow, or keras.json's); otherwise the
    backend that is installed, so a JAX or PyTorch environment needs no KERAS_BACKEND."""
    import importlib.util

    env = {name: value for name, value in os.environ.items() if name != "KERAS_BACKEND"}
    code = "from workbook.backend import keras; print(keras.config.backend())"
    installed = [name for name in ("tensorflow", "jax", "torch") if importlib.util.find_spec(name)]
    for home, configured in [("fresh", None), ("tensorflow", "tensorflow"), ("torch", "torch")]:
        (tmp_path / home).mkdir()
        if configured:
            (tmp_path / home / "keras.json").write_text(json.dumps({"backend": configured}))
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "KERAS_HOME": str(tmp_path / home)},
            capture_output=True,
            text=True,
        )
        expected = configured if configured in installed else installed[0]
        assert result.stdout.strip() == expected, result.stderr[-2000:]


def test_a_full_size_run_with_random_weights_is_not_called_a_smoke_run(monkeypatch, capsys):
    from workbook import session, settings

    monkeypatch.delenv(settings.PROFILE_ENV, raising=False)
    session.start(1, weights=None)
    out = capsys.readouterr().out
    assert out.startswith("RANDOM WEIGHTS: random weights instead of ImageNet's, every other setting at full size.")
    assert "NOT results" in out and "SMOKE" not in out
    session.start(1, weights=None, max_batches=2)
    assert capsys.readouterr().out.startswith("SMOKE RUN: random weights instead of ImageNet's, only 2 batch(es)")
