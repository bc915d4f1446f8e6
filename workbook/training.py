"""Training on cached features: heads, sweeps of heads, cached fine-tuning, and the results of a sweep.

Notebook 05 (`05_learning_rate.ipynb`) introduces `sweep` and `train_head`; notebook 11 `fine_tune`.
The features come from `embeddings`.
"""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np

from workbook import cache, models
from workbook.backend import keras
from workbook.batches import EpochViews
from workbook.embeddings import Embeddings
from workbook.errors import ArgumentError

HEAD_OPTIONS = ("learning_rate", "size_inner", "droprate")


def best(history, metric: str = "val_accuracy") -> tuple[float, int | None]:
    """The best value of `metric` in a Keras History and its epoch (counting from 1); NaN epochs never win.

    Best is the lowest for a loss, the highest for anything else (accuracy, AUC, ...). When every
    value is NaN (training diverged from the start), the answer is (nan, None).
    """
    values = np.asarray(getattr(history, "history", history)[metric], dtype=float)
    if np.isnan(values).all():
        return float("nan"), None
    index = int(np.nanargmin(values)) if "loss" in metric else int(np.nanargmax(values))
    return float(values[index]), index + 1


def sweep(
    configs: list[dict],
    train: Embeddings,
    val: Embeddings,
    epochs: int,
    batch_size: int = 32,
    seed: int = 1,
    **options,
) -> dict[str, keras.callbacks.History]:
    """Train one head per configuration (keyword arguments of `models.make_head`) and return the histories.

    Every head starts from the same seed, so the configurations differ only in what they set.
    The trained head of each is `history.model`. `options` go to every `train_head` call
    (`shuffle=False` keeps the vectors in file order); the label of each is its configuration.
    """
    _check_configs(configs, epochs)
    labels = [", ".join(f"{name}={value}" for name, value in config.items()) for config in configs]
    if len(set(labels)) < len(labels):
        raise ArgumentError(f"configs repeats a configuration: {labels}")
    if "label" in options:
        raise ArgumentError("sweep labels each head by its configuration; call train_head to choose a label")
    return {
        label: train_head(config, train, val, epochs, batch_size, seed, label=label, **options)
        for label, config in zip(labels, configs)
    }


def train_head(
    config: dict,
    train: Embeddings,
    val: Embeddings,
    epochs: int,
    batch_size: int = 32,
    seed: int = 1,
    *,
    shuffle: bool = True,
    label: str = "head",
    callbacks: list | None = None,
) -> keras.callbacks.History:
    """Train one head (`config`: keyword arguments of `models.make_head`) from `seed`; print its best epoch.

    With augmented views (`embed_views`), epoch e trains on view e % views of every image: fresh
    views in every epoch when there are as many views as epochs, a reused pool otherwise.
    """
    _check_configs([config], epochs)
    keras.utils.set_random_seed(seed)
    head = models.make_head(**config, num_features=train.features.shape[-1], num_classes=len(train.class_names))
    started = time.perf_counter()
    if train.kind == "views":
        views = EpochViews(train.features, train.labels, batch_size, seed, shuffle)
        fit_data = {"x": views, "shuffle": False, "callbacks": [views.follower(), *(callbacks or [])]}
    else:
        fit_data = {"x": train.features, "y": train.labels, "batch_size": batch_size, "shuffle": shuffle}
        fit_data["callbacks"] = callbacks or []
    history = head.fit(**fit_data, epochs=epochs, validation_data=(val.features, val.labels), verbose=0)
    _report(label, history, f"{time.perf_counter() - started:.1f} s")
    return history


def _report(label: str, history, how: str) -> None:
    accuracy, epoch = best(history)
    print(f"{label}: best val_accuracy {accuracy:.3f} at epoch {epoch} ({how})")


def fine_tune(
    model: keras.Model,
    train: Embeddings,
    val: Embeddings,
    epochs: int,
    batch_size: int = 32,
    seed: int = 1,
    label: str = "fine-tuned",
) -> keras.callbacks.History:
    """Fit the compiled `model` on cached maps (or vectors) from `seed`, keep its best epoch's weights; cached.

    Notebook 11 explains it. The result (best weights and history) is cached, keyed by what the
    model computes and trains, its starting weights, its optimizer, the data, `epochs`, `batch_size`,
    `seed` and the code: a later run with the same inputs (notebook 12 after 11) loads it in seconds.
    A loaded model's optimizer starts afresh if you train it further.
    """
    if epochs < 1:
        raise ArgumentError(f"epochs must be at least 1, not {epochs}")
    key = _training_key(model, train, val, epochs, batch_size, seed)
    path = cache.cache_file("trained", model.name, key)
    stored = cache.read(path, key)
    if stored is not None:
        model.set_weights([stored[f"weight_{index}"] for index in range(len(model.weights))])
        history = keras.callbacks.History()
        history.history = json.loads(str(stored["history"]))
        history.set_model(model)
        _report(label, history, "trained by an earlier run with the same inputs, loaded from the cache")
        return history
    keras.utils.set_random_seed(seed)
    keep_best = keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=epochs, restore_best_weights=True)
    started = time.perf_counter()
    fit_data = {"x": train.features, "y": train.labels, "batch_size": batch_size, "callbacks": [keep_best]}
    history = model.fit(**fit_data, epochs=epochs, validation_data=(val.features, val.labels), verbose=0)
    weights = {f"weight_{index}": weight for index, weight in enumerate(model.get_weights())}
    cache.write(path, key, history=json.dumps(history.history), **weights)
    _report(label, history, f"{time.perf_counter() - started:.1f} s; best epoch's weights kept")
    return history


def _training_key(model: keras.Model, train: Embeddings, val: Embeddings, epochs: int, batch_size: int, seed: int):
    """What determines the result of `fine_tune`, as JSON-ready values."""
    digest = hashlib.sha256()
    for array in (train.features, train.labels, val.features, val.labels):
        digest.update(np.ascontiguousarray(array).tobytes())
    optimizer = {name: value for name, value in model.optimizer.get_config().items() if name != "name"}
    key = {
        "layers": _architecture(model),
        "trainable": [weight.trainable for weight in model.weights],
        "start": cache.weights_digest(model),
        "optimizer": [type(model.optimizer).__name__, optimizer],
        "loss": keras.saving.serialize_keras_object(model.loss),
        "data": digest.hexdigest(),
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "code": cache.code_digest(__name__),
        **cache.versions(),
    }
    return cache.as_stored(key)


def _architecture(model: keras.Model) -> list:
    """Each layer's class, settings and trainability, nested models unfolded, without the names that vary."""
    described = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            described.append(_architecture(layer))
            continue
        settings = {name: value for name, value in layer.get_config().items() if name not in ("name", "seed")}
        described.append({"class": type(layer).__name__, "trainable": layer.trainable, **settings})
    return described


def _check_configs(configs: list[dict], epochs: int) -> None:
    """Refuse bad configurations before any head trains, naming the bad one."""
    example = "for example [{'learning_rate': 0.01}, {'learning_rate': 0.001}]"
    if not isinstance(configs, list | tuple) or not configs:
        raise ArgumentError(f"configs must be a non-empty list of make_head arguments, {example}; got {configs!r}")
    for config in configs:
        if not isinstance(config, dict):
            raise ArgumentError(f"each configuration must be a dict of make_head arguments ({example}), not {config!r}")
        unknown = sorted(set(config) - set(HEAD_OPTIONS))
        if unknown:
            raise ArgumentError(f"configuration {config} has {unknown}; a sweep can set {', '.join(HEAD_OPTIONS)}")
        models.make_head(**config)  # raises ArgumentError for a bad value, such as droprate=1.0
    if epochs < 1:
        raise ArgumentError(f"epochs must be at least 1, not {epochs}")


def results(histories: dict[str, keras.callbacks.History]) -> dict[str, dict]:
    """Per configuration: its best validation accuracy, that epoch, and the training-validation gap at the end.

    The gap is the last epoch's logged training accuracy minus its validation accuracy: what the run summary shows.
    """
    summary = {}
    for label, history in histories.items():
        accuracy, epoch = best(history)
        values = getattr(history, "history", history)
        gap = values["accuracy"][-1] - values["val_accuracy"][-1]
        summary[label] = {"best_val_accuracy": round(accuracy, 3), "best_epoch": epoch, "final_gap": round(gap, 3)}
    return summary


class Interrupted(RuntimeError):
    """Raised by `InterruptAfter`: stands for a crash, a closed laptop or Ctrl-C."""


class InterruptAfter(keras.callbacks.Callback):
    """Stop `fit` with `Interrupted` at the end of epoch `epochs` (notebook 06's resume demo).

    Put it after `BackupAndRestore` in the callbacks list, so the backup of that epoch is written first.
    """

    def __init__(self, epochs: int):
        super().__init__()
        if epochs < 1:
            raise ArgumentError(f"epochs must be at least 1, not {epochs}")
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            raise Interrupted(f"training interrupted after epoch {epoch + 1}")
