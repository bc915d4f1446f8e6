"""The embedding cache, heads on cached vectors, sweeps and resuming. No test may reach the network."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import REAL_DATA, write_image

from workbook import batches, data, embeddings, models, training
from workbook import cache as workbook_cache  # `cache` is the fixture of an empty cache folder

SIZE = 71  # Xception's smallest input: the fastest base for these tests


def random_base(seed: int = 1, size: int = SIZE) -> keras.Model:
    return models.base_model(None, size, seed)


def stand_in_base(seed: int = 1, size: int = SIZE) -> keras.Model:
    """For tests of the cache's bookkeeping, not of Xception: images in, 2,048 channels out, many times faster."""
    initializer = keras.initializers.GlorotUniform(seed)
    return keras.Sequential(
        [keras.Input((size, size, 3)), keras.layers.Conv2D(2048, 8, strides=8, kernel_initializer=initializer)]
    )


def synthetic(count: int, seed: int = 0) -> embeddings.Embeddings:
    rng = np.random.default_rng(seed)
    labels = np.eye(10, dtype="float32")[rng.integers(0, 10, count)]
    vectors = rng.normal(size=(count, 2048)).astype("float32") + labels.repeat(205, axis=1)[:, :2048]
    return embeddings.Embeddings(vectors, labels, [f"class{i}" for i in range(10)], [], Path("unused"))


@pytest.fixture
def computed(monkeypatch):
    """Counts the vector extractions that actually run (cache misses)."""
    calls = []
    extract = embeddings._extract

    def counting(*args, **kwargs):
        calls.append(args[2])
        return extract(*args, **kwargs)

    monkeypatch.setattr(embeddings, "_extract", counting)
    return calls


def test_vectors_are_computed_once_then_read_from_the_cache(small_dataset, cache, computed, capsys):
    base = stand_in_base()
    first = embeddings.embed("train", base, batch_size=8, root=small_dataset)
    second = embeddings.embed("train", base, batch_size=8, root=small_dataset)
    assert len(computed) == 1 and "loaded from the cache" in capsys.readouterr().out
    assert first.features.shape == (40, 2048) and first.labels.shape == (40, 10)
    assert np.array_equal(first.features, second.features) and np.array_equal(first.labels, second.labels)
    assert first.files == second.files and first.files[0] == "dress/0.jpg"
    assert first.path == second.path and first.path.parent == cache / "embeddings"
    assert first.class_names == second.class_names == sorted(path.name for path in (small_dataset / "train").iterdir())


def test_cached_vectors_are_what_the_base_computes(small_dataset, cache):
    base = stand_in_base()
    cached = embeddings.embed("validation", base, batch_size=8, root=small_dataset)
    images = np.concatenate([batch for batch, _ in data.load_split("validation", SIZE, 8, root=small_dataset)])
    pooled = keras.ops.convert_to_numpy(keras.ops.mean(base(images, training=False), axis=(1, 2)))
    assert np.allclose(cached.features, pooled, atol=1e-5)


@pytest.mark.parametrize("change", ["file contents", "image size", "weights", "batches"])
def test_any_changed_input_computes_the_vectors_again(small_dataset, cache, computed, change):
    embeddings.embed("train", stand_in_base(), batch_size=8, root=small_dataset)
    base, max_batches = stand_in_base(), None
    if change == "file contents":
        write_image(small_dataset / "train" / "hat" / "0.jpg", seed=999)
    elif change == "image size":
        base = stand_in_base(size=SIZE + 1)
    elif change == "weights":
        base = stand_in_base(seed=2)
    else:
        max_batches = 2
    again = embeddings.embed("train", base, batch_size=8, max_batches=max_batches, root=small_dataset)
    assert len(computed) == 2
    assert len(list((cache / "embeddings").glob("*.npz"))) == 2
    assert len(again.features) == (16 if change == "batches" else 40)


def test_an_interrupted_write_is_never_read_as_complete(small_dataset, cache, computed, monkeypatch):
    base = stand_in_base()
    real_savez = np.savez

    def interrupted(file, **arrays):
        real_savez(file, **arrays)
        file.truncate(100)  # half written when the interruption comes
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        embeddings.embed("train", base, batch_size=8, root=small_dataset)
    assert list((cache / "embeddings").iterdir()) == []  # no cache file, no partial one left behind
    monkeypatch.setattr(np, "savez", real_savez)
    complete = embeddings.embed("train", base, batch_size=8, root=small_dataset)
    assert len(computed) == 2 and complete.features.shape == (40, 2048)


def test_a_damaged_cache_file_is_computed_again(small_dataset, cache, computed, capsys):
    base = stand_in_base()
    first = embeddings.embed("train", base, batch_size=8, root=small_dataset)
    first.path.write_bytes(first.path.read_bytes()[:500])
    again = embeddings.embed("train", base, batch_size=8, root=small_dataset)
    assert len(computed) == 2 and "unreadable" in capsys.readouterr().out
    assert np.array_equal(first.features, again.features)


@pytest.mark.skipif(not REAL_DATA, reason="the equivalence is checked on the real images (set WORKBOOK_DATA)")
@pytest.mark.parametrize("size_inner", [None, 100])
def test_head_on_cached_vectors_learns_what_the_full_model_learns(cache, size_inner):
    """One epoch over the same real batches in the same order: the same head weights."""
    base = random_base()
    batches = 3
    vectors = embeddings.embed("train", base, batch_size=32, max_batches=batches)
    images = data.load_split("train", SIZE, 32, max_batches=batches, shuffle=False)
    keras.utils.set_random_seed(7)
    on_vectors = models.make_head(learning_rate=0.01, size_inner=size_inner)
    on_images = models.make_head(learning_rate=0.01, size_inner=size_inner)
    on_images.set_weights(on_vectors.get_weights())
    start = on_vectors.get_weights()
    on_vectors.fit(vectors.features, vectors.labels, batch_size=32, epochs=1, shuffle=False, verbose=0)
    models.join(base, on_images).fit(images, epochs=1, shuffle=False, verbose=0)  # trains on_images itself
    moved = max(np.abs(a - b).max() for a, b in zip(on_vectors.get_weights(), start))
    difference = max(np.abs(a - b).max() for a, b in zip(on_vectors.get_weights(), on_images.get_weights()))
    assert moved > 1e-3 and difference <= 1e-5


def test_make_head_is_the_top_of_make_model():
    for size_inner, droprate in [(None, 0.0), (100, 0.0), (10, 0.5)]:
        full = models.make_model(input_size=SIZE, size_inner=size_inner, droprate=droprate, weights=None)
        head = models.make_head(size_inner=size_inner, droprate=droprate)
        assert [type(layer) for layer in full.layers[3:]] == [type(layer) for layer in head.layers[1:]]
        assert full.count_params() - full.layers[1].count_params() == head.count_params()
        assert type(head.optimizer) is type(full.optimizer) and head.loss.get_config() == full.loss.get_config()
    with pytest.raises(ValueError, match="droprate"):
        models.make_head(droprate=1.0)


def test_joined_model_takes_images_and_saves_and_reloads(small_dataset, cache, tmp_path):
    base = random_base()
    vectors = embeddings.embed("validation", base, batch_size=8, root=small_dataset)
    head = models.make_head(learning_rate=0.001, size_inner=10)
    head.fit(vectors.features, vectors.labels, epochs=2, verbose=0)
    model = models.join(base, head)
    images = np.concatenate([batch for batch, _ in data.load_split("validation", SIZE, 8, root=small_dataset)])
    assert model.input_shape == (None, SIZE, SIZE, 3)
    assert np.allclose(model.predict(images, verbose=0), head.predict(vectors.features, verbose=0), atol=1e-5)
    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert np.allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    assert np.isclose(float(reloaded.optimizer.learning_rate), 0.001)
    with pytest.raises(ValueError, match="not compiled"):
        models.join(base, keras.Sequential([keras.Input((2048,)), keras.layers.Dense(10)]))


def test_sweep_trains_one_head_per_configuration():
    train, val = synthetic(200), synthetic(60, seed=1)
    configs = [{"learning_rate": 0.001}, {"learning_rate": 0.001, "size_inner": 10}]
    histories = training.sweep(configs, train, val, epochs=3, batch_size=32, seed=4)
    assert list(histories) == ["learning_rate=0.001", "learning_rate=0.001, size_inner=10"]
    assert all(len(history.history["val_accuracy"]) == 3 for history in histories.values())
    assert histories["learning_rate=0.001, size_inner=10"].model.count_params() == 2048 * 10 + 10 + 10 * 10 + 10
    again = training.sweep(configs[:1], train, val, epochs=3, batch_size=32, seed=4)
    assert again["learning_rate=0.001"].history == histories["learning_rate=0.001"].history  # same seed, same run
    assert histories["learning_rate=0.001"].history["val_accuracy"][-1] > 0.5  # separable vectors: it learns
    with pytest.raises(ValueError, match="repeats"):
        training.sweep(configs[:1] * 2, train, val, epochs=1)


def test_sweep_passes_the_same_options_to_every_head_and_names_each_by_its_configuration():
    train, val = synthetic(200), synthetic(60, seed=1)
    config = {"learning_rate": 0.001}
    swept = training.sweep([config], train, val, 2, 32, 4, shuffle=False)["learning_rate=0.001"]
    alone = training.train_head(config, train, val, 2, 32, 4, shuffle=False)
    shuffled = training.train_head(config, train, val, 2, 32, 4)
    assert swept.history == alone.history != shuffled.history
    with pytest.raises(ValueError, match="call train_head to choose a label"):
        training.sweep([config], train, val, 1, label="mine")
    with pytest.raises(TypeError):  # options are named: a fifth positional value is no silent shuffle
        training.train_head(config, train, val, 1, 32, 4, False)


@pytest.mark.parametrize(
    "configs, epochs, message",
    [
        ([], 1, "non-empty list"),
        ({"learning_rate": 0.01}, 1, "non-empty list"),
        ([0.01, 0.001], 1, "must be a dict"),
        ([{"learning_rate": 0.01}, {"learning_rat": 0.01}], 1, r"\['learning_rat'\]; a sweep can set learning_rate"),
        ([{"learning_rate": 0.01}, {"droprate": 1.0}], 1, "droprate must be in"),
        ([{"learning_rate": 0.01}], 0, "epochs must be at least 1"),
    ],
)
def test_sweep_refuses_bad_configurations_before_training_any(configs, epochs, message, capsys):
    with pytest.raises(ValueError, match=message):
        training.sweep(configs, synthetic(64), synthetic(32), epochs=epochs)
    assert "best val_accuracy" not in capsys.readouterr().out  # nothing trained first


def test_best_and_results_report_the_best_epoch():
    history = {"val_accuracy": [0.2, 0.6, 0.5, 0.6], "val_loss": [2.0, 1.0, 1.5, 1.2], "accuracy": [0.3, 0.7, 0.8, 0.9]}
    assert training.best(history) == (0.6, 2) and training.best(history, "val_loss") == (1.0, 2)
    assert training.best({"val_auc": [0.5, 0.9, 0.7]}, "val_auc") == (0.9, 2)
    assert training.results({"a": history}) == {"a": {"best_val_accuracy": 0.6, "best_epoch": 2, "final_gap": 0.3}}


def test_interrupt_after_stops_fit_at_the_end_of_that_epoch():
    train = synthetic(64)
    head = models.make_head()
    with pytest.raises(training.Interrupted, match="after epoch 2"):
        head.fit(train.features, train.labels, epochs=5, callbacks=[training.InterruptAfter(2)], verbose=0)
    assert int(head.optimizer.iterations) == 2 * 2
    with pytest.raises(ValueError):
        training.InterruptAfter(0)


WORKER = Path(__file__).with_name("resume_worker.py")
EPOCHS, STEPS = 6, 10  # what resume_worker.py trains: 6 epochs of 10 batches


def start_worker(backup: Path, log: Path, result: Path, pause_epoch: int = -1) -> subprocess.Popen:
    command = [sys.executable, str(WORKER), str(backup), str(log), str(result), str(pause_epoch)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(log: Path, line: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and line in log.read_text().splitlines():
            return
        if process.poll() is not None:
            pytest.fail(f"worker ended before {line!r}: {process.stderr.read()}")
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"no {line!r} in {log} after {timeout} s")


def test_a_killed_training_process_resumes_after_its_last_finished_epoch(tmp_path):
    backup, log, result = tmp_path / "backup", tmp_path / "log.txt", tmp_path / "weights.npz"
    first = start_worker(backup, log, result, pause_epoch=3)
    wait_for(log, "paused", first)  # in the middle of epoch 3 (0-based): epochs 0-2 are done
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(timeout=30) == -signal.SIGKILL and not result.exists()
    before = log.read_text().splitlines()
    second = start_worker(backup, log, result)
    assert second.wait(timeout=300) == 0, second.stderr.read()
    after = log.read_text().splitlines()[len(before) :]

    finished_before = [int(line.split()[1]) for line in before if line.startswith("end")]
    assert finished_before == [0, 1, 2]
    assert after[0] == "begin 3"  # resumed right after the last finished epoch
    finished = finished_before + [int(line.split()[1]) for line in after if line.startswith("end")]
    assert finished == list(range(EPOCHS))  # every planned epoch exactly once
    resumed = np.load(result)
    assert int(resumed["iterations"]) == EPOCHS * STEPS and not backup.exists()

    uninterrupted = start_worker(tmp_path / "backup2", tmp_path / "log2.txt", tmp_path / "reference.npz")
    assert uninterrupted.wait(timeout=300) == 0, uninterrupted.stderr.read()
    reference = np.load(tmp_path / "reference.npz")
    for name in reference.files:
        assert np.array_equal(resumed[name], reference[name]), name  # the same training as without the kill


def test_changing_the_code_that_computes_vectors_computes_them_again(small_dataset, cache, computed, monkeypatch):
    base = stand_in_base()
    average = embeddings.embed("validation", base, batch_size=8, root=small_dataset)

    def max_pooled_vectors(base):
        inputs = keras.Input(shape=base.input_shape[1:])
        return inputs, keras.layers.GlobalMaxPooling2D()(base(inputs, training=False))

    monkeypatch.setattr(models, "pooled_vectors", max_pooled_vectors)
    # The key reads the code from the module files: the edit a developer would make there.
    source, edited = workbook_cache.source, workbook_cache.source("workbook.models").replace("Average", "Max")
    monkeypatch.setattr(workbook_cache, "source", lambda m: edited if m == "workbook.models" else source(m))
    maximum = embeddings.embed("validation", base, batch_size=8, root=small_dataset)
    assert len(computed) == 2 and maximum.path != average.path
    assert not np.allclose(maximum.features, average.features)


def test_the_cache_key_sees_the_decoding_and_resizing_code_of_every_backend():
    closure = workbook_cache.closure("workbook.embeddings")
    assert {"workbook.backend", "workbook.images", "workbook.batches", "workbook.data", "workbook.models"} <= closure
    assert "workbook.training" not in closure and "workbook.plots" not in closure


def test_changed_pipeline_code_computes_the_vectors_again(small_dataset, cache, computed, monkeypatch):
    """A change to the numpy resize (what JAX and PyTorch read images with) gives a new cache key."""
    base = stand_in_base()
    first = embeddings.embed("validation", base, batch_size=8, root=small_dataset)
    source = workbook_cache.source
    changed = workbook_cache.source("workbook.images").replace("def resize_bilinear(", "def resize_bilinear(  # x\n")

    def patched(module):
        return changed + "\nCHANGED = 1\n" if module == "workbook.images" else source(module)

    monkeypatch.setattr(workbook_cache, "source", patched)
    second = embeddings.embed("validation", base, batch_size=8, root=small_dataset)
    assert len(computed) == 2 and second.path != first.path
    monkeypatch.setattr(workbook_cache, "source", source)
    embeddings.embed("validation", base, batch_size=8, root=small_dataset)
    assert len(computed) == 2  # the unchanged code finds the first file again


def test_prose_changes_keep_the_cache(monkeypatch):
    source, before = workbook_cache.source, workbook_cache.code_digest()
    documented = source("workbook.images").replace('"""Reading images', '"""Reading image files')
    monkeypatch.setattr(workbook_cache, "source", lambda m: documented if m == "workbook.images" else source(m))
    assert workbook_cache.code_digest() == before


def test_the_dtype_policy_is_part_of_the_cache_key(monkeypatch):
    before = workbook_cache.code_digest()
    monkeypatch.setattr(keras.config, "dtype_policy", lambda: keras.DTypePolicy("mixed_float16"))
    assert workbook_cache.code_digest() != before


def test_best_never_picks_a_nan_epoch():
    diverged = {"val_accuracy": [float("nan"), 0.4, float("nan")], "val_loss": [float("nan"), 2.0, 1.5]}
    assert training.best(diverged) == (0.4, 2) and training.best(diverged, "val_loss") == (1.5, 3)
    value, epoch = training.best({"val_loss": [float("nan")] * 3}, "val_loss")
    assert np.isnan(value) and epoch is None


# --- augmented views, cached (notebook 09) ----------------------------------------------------


def augmentation() -> keras.Sequential:
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal"),
            keras.layers.RandomRotation(0.05),
            keras.layers.RandomZoom(0.1),
            keras.layers.RandomTranslation(0.1, 0.1),
            keras.layers.RandomContrast(0.2),
        ]
    )


def test_view_v_of_image_i_depends_only_on_the_seed_i_and_v(small_dataset, cache):
    images = next(iter(data.load_split("train", SIZE, 8, root=small_dataset, shuffle=False, preprocess=False)))[0]
    together = embeddings.augmented_views(images, augmentation(), 3, seed=5)
    assert together.shape == (8 * 3, SIZE, SIZE, 3)
    alone = embeddings.augmented_views(images[5:6], augmentation(), 3, seed=5, first_index=5)
    assert np.array_equal(alone, together[15:18])  # image 5's views, whatever batch it is in
    assert not np.array_equal(together[15], together[16])  # its views differ from each other
    other_seed = embeddings.augmented_views(images[5:6], augmentation(), 3, seed=6, first_index=5)
    assert not np.array_equal(other_seed, alone)
    assert not np.array_equal(together[15], images[5])  # augmented, not the image itself


def test_augmented_views_are_computed_once_then_read_from_the_cache(small_dataset, cache, computed, capsys):
    base = stand_in_base()
    first = embeddings.embed_views("train", base, augmentation(), 3, seed=5, batch_size=8, root=small_dataset)
    again = embeddings.embed_views("train", base, augmentation(), 3, seed=5, batch_size=8, root=small_dataset)
    assert len(computed) == 1 and "augmented views of 40 images loaded from the cache" in capsys.readouterr().out
    assert first.features.shape == (3, 40, 2048) and first.labels.shape == (40, 10)
    assert np.array_equal(first.features, again.features)
    assert not np.allclose(first.features[0], first.features[1])
    plain = embeddings.embed("train", base, batch_size=8, root=small_dataset)
    assert not np.allclose(first.features[0], plain.features)
    other = embeddings.embed_views("train", base, augmentation(), 3, seed=6, batch_size=8, root=small_dataset)
    fewer = embeddings.embed_views("train", base, augmentation(), 2, seed=5, batch_size=8, root=small_dataset)
    assert len(computed) == 4 and other.path != first.path != fewer.path


def test_views_go_through_the_base_in_pieces_of_the_batch_size(small_dataset, cache, monkeypatch):
    """Memory grows with the batch size, not with views: 8 images x 5 views never reach the base at once."""
    base, sizes = stand_in_base(), []
    predict_on_batch = keras.Model.predict_on_batch

    def recording(self, x):
        sizes.append(len(x))
        return predict_on_batch(self, x)

    monkeypatch.setattr(keras.Model, "predict_on_batch", recording)
    views = embeddings.embed_views("train", base, augmentation(), 5, seed=5, batch_size=8, root=small_dataset)
    assert views.features.shape == (5, 40, 2048) and max(sizes) == 8 and sum(sizes) == 5 * 40
    monkeypatch.setattr(keras.Model, "predict_on_batch", predict_on_batch)
    images = np.concatenate(
        [x for x, _ in data.load_split("train", SIZE, 8, root=small_dataset, shuffle=False, preprocess=False)]
    )
    alone = embeddings.augmented_views(images[13:14], augmentation(), 5, seed=5, first_index=13)
    extractor = keras.Model(*models.pooled_vectors(base))
    expected = extractor.predict(keras.applications.xception.preprocess_input(alone), verbose=0)
    assert np.abs(views.features[:, 13] - expected).max() < 1e-4  # view v of image 13 in its place


@pytest.mark.parametrize("split", ["validation", "test"])
def test_validation_and_test_images_are_never_augmented(small_dataset, cache, split):
    with pytest.raises(ValueError, match="never augmented"):
        embeddings.embed_views(split, stand_in_base(), augmentation(), 2, root=small_dataset)
    first, second = (
        np.concatenate([images for images, _ in data.load_split(split, SIZE, 8, root=small_dataset)]) for _ in range(2)
    )
    assert np.array_equal(first, second)  # the evaluation pipelines hold no random step


def test_each_epoch_trains_on_the_next_view(monkeypatch):
    vectors = np.stack([np.full((64, 2048), view, dtype="float32") for view in range(3)])
    names = [f"class{i}" for i in range(10)]
    train = embeddings.Embeddings(vectors, synthetic(64).labels, names, [], Path("unused"), kind="views")
    served = []
    getitem = batches.EpochViews.__getitem__

    def recording(self, index):
        batch = getitem(self, index)
        served.append((self.epoch, int(batch[0][0, 0])))
        return batch

    monkeypatch.setattr(batches.EpochViews, "__getitem__", recording)
    training.train_head({"learning_rate": 0.001}, train, synthetic(32), epochs=5, batch_size=16)
    for epoch in range(5):
        assert {view for seen, view in served if seen == epoch} == {epoch % 3}
        assert len([view for seen, view in served if seen == epoch]) >= 4  # every batch of the epoch


@pytest.mark.skipif(not REAL_DATA, reason="the equivalence is checked on the real images (set WORKBOOK_DATA)")
def test_head_on_cached_views_learns_what_the_full_model_learns_on_the_augmented_images(cache):
    """One epoch over the same augmented real images in the same order: the same head weights."""
    base, batches, config = random_base(), 3, {"learning_rate": 0.01, "size_inner": 100, "droprate": 0.2}
    views = embeddings.embed_views("train", base, augmentation(), 2, seed=3, batch_size=32, max_batches=batches)
    val = dataclasses.replace(views, features=views.features[0], kind="vectors")  # any validation data: not trained on
    history = training.train_head(config, views, val, epochs=1, batch_size=32, seed=7, shuffle=False)
    raw = data.load_split("train", SIZE, 32, max_batches=batches, shuffle=False, preprocess=False)
    views_of = embeddings.augmented_views
    images = np.concatenate([views_of(x, augmentation(), 2, 3, 32 * k) for k, (x, _) in enumerate(raw)])
    labels = np.concatenate([y for _, y in raw])
    keras.utils.set_random_seed(7)
    on_images = models.make_head(**config)
    start = on_images.get_weights()
    full = models.join(base, on_images)
    full.fit(
        keras.applications.xception.preprocess_input(images[0::2]), labels, batch_size=32, shuffle=False, verbose=0
    )
    moved = max(np.abs(a - b).max() for a, b in zip(history.model.get_weights(), start))
    difference = max(np.abs(a - b).max() for a, b in zip(history.model.get_weights(), on_images.get_weights()))
    assert moved > 1e-3 and difference <= 1e-5


# --- feature maps below block 14, cached, and fine-tuning on them (notebook 11) -------------------


def test_feature_maps_are_cached_with_the_layer_in_the_key(small_dataset, cache, computed, capsys):
    base = random_base()
    first = embeddings.embed_maps("validation", base, batch_size=8, root=small_dataset)
    again = embeddings.embed_maps("validation", base, batch_size=8, root=small_dataset)
    assert len(computed) == 1 and "feature maps below block14_sepconv1 of 20 images loaded" in capsys.readouterr().out
    assert len(list((cache / "embeddings").glob("validation_71px_*.npz"))) == 2  # the maps and their pooled vectors
    assert first.features.shape == (20, 3, 3, 1024) and np.array_equal(first.features, again.features)
    images = np.concatenate([batch for batch, _ in data.load_split("validation", SIZE, 8, root=small_dataset)])
    below = keras.ops.convert_to_numpy(models.maps_below(base)(images))
    assert np.allclose(first.features, below, rtol=1e-5, atol=1e-5 * np.abs(below).max())
    lower = embeddings.embed_maps("validation", base, "block13_sepconv1_act", batch_size=8, root=small_dataset)
    vectors = embeddings.embed("validation", base, batch_size=8, root=small_dataset)  # pooled from the maps
    assert len(computed) == 2 and len({first.path, lower.path, vectors.path}) == 3
    pooled = keras.ops.convert_to_numpy(keras.ops.mean(base(images, training=False), axis=(1, 2)))
    assert np.allclose(vectors.features, pooled, rtol=1e-5, atol=1e-5 * np.abs(pooled).max())
    assert lower.features.shape == (20, 5, 5, 728) and "block13_sepconv1_act" in lower.path.name
    with pytest.raises(ValueError, match="no layer 'block15'"):
        embeddings.embed_maps("validation", base, "block15", root=small_dataset)
    with pytest.raises(ValueError, match="shortcut connection"):  # block 13's shortcut starts below this layer
        embeddings.embed_maps("validation", base, "block13_sepconv1", root=small_dataset)


def full_image_model(base: keras.Model, head: keras.Model, learning_rate: float) -> tuple[keras.Model, keras.Model]:
    """The course's way to fine-tune block 14: a copy of the whole base, unfrozen from block 14 on except its
    BatchNormalization layers, under a copy of the head; returns the model and its base."""
    copy = keras.models.clone_model(base)
    copy.set_weights(base.get_weights())
    copy.trainable = True
    for layer in copy.layers:
        layer.trainable = layer.name.startswith("block14") and not isinstance(layer, keras.layers.BatchNormalization)
    inputs = keras.Input(shape=base.input_shape[1:])
    vectors = keras.layers.GlobalAveragePooling2D()(copy(inputs, training=False))
    model = keras.Model(inputs, models.copy_of(head, learning_rate)(vectors))
    return models._compile(model, learning_rate), copy


@pytest.mark.skipif(not REAL_DATA, reason="the equivalence is checked on the real images (set WORKBOOK_DATA)")
@pytest.mark.parametrize("droprate", [0.0, 0.2])
def test_fine_tuning_on_cached_maps_learns_what_the_full_image_model_learns(cache, droprate):
    """One epoch over the same real batches in the same order: the same block-14 and head weights."""
    base, batches, rate = random_base(), 3, 1e-3
    maps = embeddings.embed_maps("train", base, batch_size=32, max_batches=batches)
    images = data.load_split("train", SIZE, 32, max_batches=batches, shuffle=False)
    keras.utils.set_random_seed(7)
    head = models.make_head(learning_rate=0.01, size_inner=100, droprate=droprate)
    on_maps = models.fine_tuning_model(base, head, learning_rate=rate)
    full, full_base = full_image_model(base, head, rate)
    for mine, theirs in zip(on_maps.layers[-1].layers, full.layers[-1].layers):
        if isinstance(mine, keras.layers.Dropout):  # each copy drew its own seed: give both the same masks
            theirs.seed_generator.state.assign(keras.ops.convert_to_numpy(mine.seed_generator.state))
    start = on_maps.get_weights()
    keras.utils.set_random_seed(8)
    on_maps.fit(maps.features, maps.labels, batch_size=32, epochs=1, shuffle=False, verbose=0)
    keras.utils.set_random_seed(8)
    full.fit(images, epochs=1, shuffle=False, verbose=0)
    top, tuned_head, full_head = on_maps.layers[1], on_maps.layers[-1], full.layers[-1]
    pairs = [(layer.get_weights(), full_base.get_layer(layer.name).get_weights()) for layer in top.layers[1:]]
    pairs.append((tuned_head.get_weights(), full_head.get_weights()))
    difference = max(np.abs(a - b).max() for mine, theirs in pairs for a, b in zip(mine, theirs))
    moved = max(np.abs(a - b).max() for a, b in zip(on_maps.get_weights(), start))
    print(f"largest weight change {moved:.2e}, largest difference between the two ways {difference:.2e}")
    assert moved > 1e-3 and difference <= 1e-5
    assert len(on_maps.trainable_weights) == len(full.trainable_weights) == 4 + 2 * 2  # 2 separable convs, 2 Dense


def test_fine_tune_keeps_the_best_epoch_and_caches_the_result(cache, capsys):
    train, val = synthetic(200), synthetic(60, seed=1)

    def start(learning_rate=0.01):
        keras.utils.set_random_seed(2)
        return models.make_head(learning_rate=learning_rate, size_inner=10)

    first = training.fine_tune(start(), train, val, epochs=4, batch_size=32, seed=3)
    best_accuracy, _ = training.best(first)
    assert np.isclose(first.model.evaluate(val.features, val.labels, verbose=0)[1], best_accuracy)
    again = training.fine_tune(start(), train, val, epochs=4, batch_size=32, seed=3)
    assert "loaded from the cache" in capsys.readouterr().out
    assert again.history == first.history and again.model is not first.model
    assert all(np.array_equal(a, b) for a, b in zip(again.model.get_weights(), first.model.get_weights()))
    assert len(list((cache / "trained").glob("*.npz"))) == 1
    training.fine_tune(start(), train, val, epochs=3, batch_size=32, seed=3)
    training.fine_tune(start(), train, val, epochs=4, batch_size=32, seed=4)
    training.fine_tune(start(0.001), train, val, epochs=4, batch_size=32, seed=3)
    training.fine_tune(start(), synthetic(200, seed=5), val, epochs=4, batch_size=32, seed=3)
    assert "loaded from the cache" not in capsys.readouterr().out
    assert len(list((cache / "trained").glob("*.npz"))) == 5
