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
