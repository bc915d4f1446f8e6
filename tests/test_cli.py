"""The command line as users call it: doctor, and run when the ImageNet weights cannot be had."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from workbook import data
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


def test_doctor_reports_versions_device_dataset_and_weights(dataset_root, tmp_path, monkeypatch, capsys):
    import keras
    import tensorflow as tf

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    (tmp_path / "keras" / "models").mkdir(parents=True)
    (tmp_path / "keras" / "models" / "imagenet_class_index.json").write_text("{}")
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert f"TensorFlow  {tf.__version__}" in out and f"Keras       {keras.__version__}" in out
    assert "CPU only" in out or "GPU:" in out
    expected = "verified against data/manifest" if data.verify(dataset_root) == [] else "files differ"
    assert f"Dataset     {dataset_root}: " in out and expected in out
    assert "imagenet_class_index.json: cached" in out
    assert "xception_weights_tf_dim_ordering_tf_kernels_notop.h5: not cached" in out
    assert "fetch --weights" in out
    assert code == (0 if expected.startswith("verified") else 1)


def test_doctor_says_how_to_get_a_missing_dataset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBOOK_DATA", str(tmp_path / "none"))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"Dataset     missing at {tmp_path / 'none'}" in out and "make fetch" in out


def test_summary_shows_each_configuration_of_a_sweep_on_its_own_line():
    from workbook import run

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
    (folder / "xception_v1_01_0.500.keras").write_text("from an earlier run into the same folder")
    assert list(session.output_dir("06_checkpointing").iterdir()) == []  # a rerun starts empty
    monkeypatch.delenv(session.METRICS_ENV)
    monkeypatch.setenv("WORKBOOK_RUNS", str(tmp_path / "runs"))
    first, second = session.output_dir("06_checkpointing"), session.output_dir("06_checkpointing")
    assert first != second and first.parent == second.parent == tmp_path / "runs"
    assert first.name.startswith("06_checkpointing-")
