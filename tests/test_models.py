"""Weights handling and the notebook-04 model builder. No test may reach the network."""

from __future__ import annotations

import hashlib
import inspect
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from workbook import backend, cache, files, imagenet, models, settings


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty Keras cache and every ImageNet file's address on a closed local port."""
    cache = tmp_path / "keras" / "models"
    monkeypatch.setattr(imagenet, "keras_cache", lambda: cache)
    monkeypatch.setattr(imagenet, "keras_home", lambda: str(tmp_path / "keras"))
    monkeypatch.setattr(imagenet, "URLS", {name: f"http://127.0.0.1:9/{name}" for name in imagenet.URLS})
    return cache


def test_read_only_shared_keras_home_is_used_where_keras_looks(offline, tmp_path, monkeypatch):
    """A shared KERAS_HOME Keras cannot write to: Keras reads /tmp/.keras instead; the workbook links files there."""
    shared = tmp_path / "shared-keras"
    (shared / "models").mkdir(parents=True)
    name = imagenet.WEIGHT_FILES[False]
    (shared / "models" / name).write_bytes(b"weights")
    monkeypatch.setattr(imagenet, "keras_home", lambda: str(shared))  # offline: its downloads go nowhere
    assert imagenet.weights_status()[name] and not (offline / name).exists()
    models.ensure_weights("imagenet")  # would raise WeightsUnavailable if it tried to download
    assert (offline / name).is_symlink() and (offline / name).read_bytes() == b"weights"
    models.ensure_weights("imagenet")  # a second notebook finds the link
    assert os.readlink(offline / name) == str(shared / "models" / name)


def test_imagenet_offline_raises_one_clear_error_that_starts_in_the_notebook(offline, capfd):
    with pytest.raises(models.WeightsUnavailable) as error:
        models.ensure_weights("imagenet")
    message = str(error.value)
    assert "set WEIGHTS = None in the parameters cell" in message.splitlines()[0]
    assert message.index("WEIGHTS = None in the parameters cell") < message.index("make fetch")
    assert "fetch --weights" in message and "PROFILE=smoke" in message
    assert "Downloading data from" not in "".join(capfd.readouterr())  # Keras never started a download
    assert not offline.exists() or list(offline.iterdir()) == []


def test_workbook_errors_render_in_a_notebook_as_their_message_alone():
    error = models.WeightsUnavailable("Cannot download it.\nWhat to do:\n  - set WEIGHTS = None")
    rendered = error._render_traceback_()  # what IPython shows instead of a traceback
    assert len(rendered) == 1 and rendered[0].endswith("WeightsUnavailable\x1b[0m: " + str(error))
    assert isinstance(models.ArgumentError("x"), ValueError)


@pytest.mark.parametrize("behaviour", ["cut", "stall"])
def test_a_download_that_breaks_off_raises_with_remedies_and_leaves_nothing(
    offline, http_server, monkeypatch, behaviour
):
    name = imagenet.WEIGHT_FILES[False]
    http_server.files[name] = bytes(range(256)) * 400
    monkeypatch.setattr(imagenet, "URLS", {name: http_server.url(behaviour, name)})
    monkeypatch.setitem(imagenet.MD5, name, hashlib.md5(http_server.files[name]).hexdigest())
    monkeypatch.setattr(files, "DOWNLOAD_TIMEOUT", 0.5)
    with pytest.raises(models.WeightsUnavailable, match="WEIGHTS = None"):
        models.ensure_weights("imagenet")
    assert list(offline.iterdir()) == []  # neither the file nor a partial one


def test_weights_download_into_the_keras_cache(offline, http_server, monkeypatch):
    name = imagenet.WEIGHT_FILES[False]
    http_server.files[name] = bytes(range(256)) * 400
    monkeypatch.setattr(imagenet, "URLS", {name: http_server.url("ok", name)})
    monkeypatch.setitem(imagenet.MD5, name, hashlib.md5(http_server.files[name]).hexdigest())
    models.ensure_weights("imagenet")
    assert [path.name for path in offline.iterdir()] == [name]
    assert (offline / name).read_bytes() == http_server.files[name]
    assert imagenet.weights_status()[name]


def test_a_downloaded_file_with_another_digest_is_refused_and_leaves_nothing(offline, http_server, monkeypatch):
    """A proxy's error page or a changed file at the same address: Keras would refuse it too (the same MD5)."""
    name = imagenet.WEIGHT_FILES[False]
    http_server.files[name] = b"<html>Sign in to the network</html>"
    monkeypatch.setattr(imagenet, "URLS", {name: http_server.url("ok", name)})
    with pytest.raises(models.WeightsUnavailable, match=f"not the expected {imagenet.MD5[name]}"):
        models.ensure_weights("imagenet")
    assert list(offline.iterdir()) == []


def test_the_imagenet_addresses_and_digests_are_those_of_the_installed_keras():
    from keras.src.applications import imagenet_utils, xception  # a test may read Keras' private modules

    assert imagenet.URLS == {
        imagenet.WEIGHT_FILES[True]: xception.WEIGHTS_PATH,
        imagenet.WEIGHT_FILES[False]: xception.WEIGHTS_PATH_NO_TOP,
        imagenet.CLASS_INDEX_FILE: imagenet_utils.CLASS_INDEX_PATH,
    }
    defined_in = dict.fromkeys(imagenet.WEIGHT_FILES.values(), xception) | {imagenet.CLASS_INDEX_FILE: imagenet_utils}
    for name, module in defined_in.items():
        assert f'file_hash="{imagenet.MD5[name]}"' in inspect.getsource(module), name


def test_keras_get_file_still_has_no_timeout_which_is_why_the_workbook_downloads_itself(http_server, tmp_path):
    """If this fails, a Keras release added a timeout: docs/architecture.md says to switch to get_file then."""
    assert "timeout" not in inspect.signature(keras.utils.get_file).parameters
    http_server.files["slow.bin"] = bytes(1000)  # the server sends 10 bytes, then nothing for 5 s
    outcome = []

    def fetch():
        try:
            keras.utils.get_file("slow.bin", http_server.url("stall", "slow.bin"), cache_dir=str(tmp_path))
            outcome.append("done")
        except Exception as error:  # cut short when the server gives up
            outcome.append(error)

    thread = threading.Thread(target=fetch, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(2.0)
    assert thread.is_alive() and not outcome  # still waiting, where files.download gives up after its timeout
    thread.join(10)
    assert time.monotonic() - started > 4 and outcome and outcome != ["done"]


def test_class_names_offline_raise_for_imagenet_weights(offline):
    with pytest.raises(models.WeightsUnavailable, match="class names"):
        models.decode_predictions(np.ones((1, 1000)) / 1000, weights="imagenet")


def test_random_weights_get_numbered_placeholder_labels(offline):
    predictions = np.zeros((2, 1000))
    predictions[0, 417], predictions[1, 3] = 0.9, 0.5
    decoded = models.decode_predictions(predictions, top=2, weights=None)
    assert decoded[0][0] == ("n00000417", "class_417", 0.9)
    assert decoded[1][0][1] == "class_3" and len(decoded[1]) == 2


def test_local_weights_without_class_names_get_placeholders(offline, capsys):
    decoded = models.decode_predictions(np.eye(1000)[[7]], top=1, weights="/some/xception.h5")
    assert decoded == [[("n00000007", "class_7", 1.0)]]
    assert "showing class numbers instead" in capsys.readouterr().out


def test_remedies_name_the_keras_cache_in_use(offline):
    assert str(offline) in imagenet.remedies() and "--notebooks 04 -p WEIGHTS" in imagenet.remedies()


def test_weights_status_sees_cached_files(offline):
    assert not any(imagenet.weights_status().values())
    offline.mkdir(parents=True)
    (offline / imagenet.WEIGHT_FILES[False]).write_bytes(b"")
    status = imagenet.weights_status()
    assert status[imagenet.WEIGHT_FILES[False]] and not status[imagenet.WEIGHT_FILES[True]]


PROBE = """
import keras
from workbook import imagenet
imagenet.keras_cache().mkdir(parents=True, exist_ok=True)
(imagenet.keras_cache() / "probe.txt").write_text("cached")
print(imagenet.keras_cache())
print(keras.utils.get_file("probe.txt", origin="http://127.0.0.1:9/probe.txt", cache_subdir="models"))
"""


def test_keras_cache_is_where_keras_looks_for_downloads(tmp_path):
    """KERAS_HOME is read when Keras is imported, so it is set for a new process."""
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras-home")}
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    cache, found = result.stdout.split()
    assert Path(cache) == tmp_path / "keras-home" / "models" and Path(found) == Path(cache) / "probe.txt"


def test_keras_cache_follows_keras_fallback_when_its_home_is_read_only(monkeypatch):
    home, access = os.path.expanduser(imagenet.keras_home()), os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == home else access(path, mode))
    name = f"probe-{os.getpid()}.txt"
    imagenet.keras_cache().mkdir(parents=True, exist_ok=True)
    (imagenet.keras_cache() / name).write_text("cached")
    try:
        found = keras.utils.get_file(name, origin=f"http://127.0.0.1:9/{name}", cache_subdir="models")
        assert Path(found) == imagenet.keras_cache() / name and not str(found).startswith(home)
    finally:
        (imagenet.keras_cache() / name).unlink()


def test_missing_weights_file_is_a_value_error():
    with pytest.raises(models.ArgumentError, match="existing weights file"):
        models.ensure_weights("/no/such/weights.h5")


def test_base_loads_a_local_weights_file(tmp_path):
    source = models.base_model(weights=None, input_size=71, seed=1)  # not the seed-0 weights it loads over
    path = tmp_path / "xception_notop.weights.h5"
    source.save_weights(path)
    loaded = models.base_model(weights=str(path), input_size=71)
    assert not loaded.trainable
    for mine, theirs in zip(source.weights, loaded.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_random_weights_are_the_seeds_alone_at_every_size_and_leave_pythons_random_alone():
    """So cached vectors of random weights are reused across notebooks as ImageNet's are (issue 21)."""
    keras.utils.set_random_seed(1)
    first = models.base_model(None, 71)
    next_draw = random.random()
    keras.utils.set_random_seed(2)
    np.random.random(5), random.random()  # whatever a notebook drew before
    larger = models.base_model(None, 96)
    other_seed = models.base_model(None, 71, seed=1)
    keras.utils.set_random_seed(1)
    assert next_draw == random.random()
    assert len(first.weights) == len(larger.weights) == 234
    for mine, theirs in zip(first.weights, larger.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert not np.array_equal(first.weights[0].numpy(), other_seed.weights[0].numpy())


def test_make_model_builds_the_notebook_04_model():
    model = models.make_model(input_size=71, weights=None)
    assert model.output_shape == (None, 10)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 2048 * 10 + 10
    assert model.loss.from_logits and model.optimizer.learning_rate.numpy() == pytest.approx(0.01)


def test_make_model_inner_layer_and_dropout():
    model = models.make_model(input_size=71, learning_rate=0.001, size_inner=100, droprate=0.5, weights=None)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[-3:] == ["Dense", "Dropout", "Dense"]
    assert model.layers[-2].rate == 0.5 and model.layers[-3].units == 100
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 2048 * 100 + 100 + 100 * 10 + 10


@pytest.mark.parametrize(
    "kwargs, message",
    [({"learning_rate": 0}, "learning_rate"), ({"droprate": 1.0}, "droprate"), ({"size_inner": 0}, "size_inner")],
)
def test_make_model_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.make_model(input_size=71, weights=None, **kwargs)


# --- initial weights of the heads a sweep compares (notebooks 07 and 08) ----------------------


def initial_weights(seed: int = 1, **options) -> list[np.ndarray]:
    keras.utils.set_random_seed(seed)
    return models.make_head(**options).get_weights()


def same(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))


def test_heads_differing_only_in_dropout_start_from_the_same_weights():
    """Notebook 08's comparison: 0.0 has no Dropout layer, yet must start where 0.2, 0.5 and 0.8 start."""
    heads = [initial_weights(size_inner=100, droprate=rate) for rate in (0.0, 0.2, 0.5, 0.8)]
    assert all(same(heads[0], other) for other in heads[1:])
    assert not same(heads[0], initial_weights(seed=2, size_inner=100))  # the seed still decides them


def test_heads_start_from_the_same_weights_whatever_their_options_where_shapes_allow():
    """After the same seed, any two heads whose weights have the same shapes start from the same values."""
    by_shapes: dict[tuple, list] = {}
    for size_inner in (None, 10, 100, 1000):  # notebook 07's sizes and its baseline
        for droprate in (0.0, 0.5):
            for learning_rate in (0.001, 0.1):
                weights = initial_weights(size_inner=size_inner, droprate=droprate, learning_rate=learning_rate)
                by_shapes.setdefault(tuple(w.shape for w in weights), []).append(weights)
    assert len(by_shapes) == 4  # one group per inner size, four heads in each
    for heads in by_shapes.values():
        assert len(heads) == 4 and all(same(heads[0], other) for other in heads[1:])


# --- batch normalization in a frozen base (notebook 04) --------------------------------------


def nested_batch_norm_model(base_trainable: bool):
    """A small stand-in for notebook 04's model: a base with a BatchNormalization layer, called with training=False."""
    keras.utils.set_random_seed(1)
    base_inputs = keras.Input((8,))
    normalization = keras.layers.BatchNormalization()
    base = keras.Model(base_inputs, normalization(keras.layers.Dense(8)(base_inputs)))
    base.trainable = base_trainable
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(3)(base(inputs, training=False)))
    model.compile(optimizer="adam", loss="mse")
    return model, base, normalization


def fit_once(model) -> None:
    rng = np.random.default_rng(0)
    model.fit(rng.normal(3.0, 2.0, (64, 8)), rng.normal(size=(64, 3)), batch_size=16, epochs=1, verbose=0)


def test_a_frozen_base_runs_its_batch_normalization_in_inference_mode():
    """What notebook 04 teaches: freezing, not training=False, keeps the statistics during fit."""
    model, base, normalization = nested_batch_norm_model(base_trainable=False)
    x = np.random.default_rng(1).normal(3.0, 2.0, (16, 8)).astype("float32")
    assert np.array_equal(base(x, training=True), base(x, training=False))
    before = [w.numpy().copy() for w in (normalization.moving_mean, normalization.moving_variance)]
    fit_once(model)
    after = [w.numpy() for w in (normalization.moving_mean, normalization.moving_variance)]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_fit_overrides_training_false_for_an_unfrozen_base():
    """The Keras 3.15 trap notebook 04 warns about (keras-team/keras #20285).

    If this fails, the installed Keras no longer overrides training=False: update notebook 04's
    explanation and the known pitfall (fine-tuning still needs frozen BatchNormalization layers).
    """
    model, _, normalization = nested_batch_norm_model(base_trainable=True)
    before = normalization.moving_mean.numpy().copy()
    fit_once(model)
    assert not np.array_equal(before, normalization.moving_mean.numpy())


# --- fine-tuning block 14 (notebook 11) ------------------------------------------------------------


def test_fine_tuning_model_trains_block_14_and_the_head_and_leaves_batch_norm_and_its_sources_alone():
    pass  # (no workbook module left)

    keras.utils.set_random_seed(1)
    base, head = models.base_model(None, 71), models.make_head(size_inner=10)
    base_digest, head_weights = cache.weights_digest(base), head.get_weights()
    tuned = models.fine_tuning_model(base, head, learning_rate=1e-3)
    assert tuned.input_shape == (None, 3, 3, 1024) and tuned.output_shape == (None, 10)
    top = tuned.layers[1]
    assert [layer.name for layer in top.layers if not layer.trainable] == ["block14_sepconv1_bn", "block14_sepconv2_bn"]
    trainable = sum(int(np.prod(weight.shape)) for weight in tuned.trainable_weights)
    assert trainable == 4_755_968 - 4 * (1536 + 2048) + head.count_params()  # BatchNormalization: 4 per channel
    statistics = [weight.numpy().copy() for weight in top.non_trainable_weights]
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(16, 3, 3, 1024)).astype("float32")
    tuned.fit(maps, np.eye(10, dtype="float32")[rng.integers(0, 10, 16)], epochs=1, verbose=0)
    assert all(np.array_equal(before, after.numpy()) for before, after in zip(statistics, top.non_trainable_weights))
    assert cache.weights_digest(base) == base_digest  # a copy trained, not the base
    assert all(np.array_equal(a, b) for a, b in zip(head.get_weights(), head_weights))

    image_model = models.join(*models.fine_tuned_parts(base, tuned))
    images = rng.uniform(-1, 1, (4, 71, 71, 3)).astype("float32")  # preprocessed pixels, as join takes
    on_maps = tuned.predict(models.maps_below(base).predict(images, verbose=0), verbose=0)
    on_images = image_model.predict(images, verbose=0)
    assert np.abs(on_images - on_maps).max() <= 1e-5 * max(1.0, np.abs(on_maps).max())
    assert cache.weights_digest(base) == base_digest
    with pytest.raises(ValueError, match="fine_tuning_model"):
        models.fine_tuned_parts(base, head)
    with pytest.raises(ValueError, match="no layer 'block99'"):
        models.maps_below(base, "block99")


@pytest.mark.skipif(backend.name() != "jax", reason="JAX's compiled-program cache; other backends keep none")
@pytest.mark.skipif(bool(os.environ.get("JAX_COMPILATION_CACHE_DIR")), reason="JAX_COMPILATION_CACHE_DIR is set")
def test_jax_keeps_each_compiled_program_in_the_cache_folder():
    """A program compiled for the first time is written to the cache's jax/ folder, for the next process."""
    folder = settings.cache_dir() / "jax"
    before = set(folder.iterdir()) if folder.is_dir() else set()
    keras.ops.convert_to_numpy(keras.ops.cumsum(keras.ops.ones((3, 5, 7, 11)), axis=2))  # a shape no other test uses
    assert set(folder.iterdir()) - before
