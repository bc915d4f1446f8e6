"""Xception with its weights handled, and the model of notebook 04 (`04_transfer_learning.ipynb`)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import keras
import numpy as np

# File names Keras gives these downloads in its cache (keras.applications.xception, imagenet_utils).
WEIGHT_FILES = {
    True: "xception_weights_tf_dim_ordering_tf_kernels.h5",
    False: "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
}
CLASS_INDEX_FILE = "imagenet_class_index.json"


def remedies() -> str:
    """What to do when ImageNet files cannot be downloaded."""
    return (
        "Remedies:\n"
        "  - fetch them ahead on a connected machine: `python -m workbook fetch --weights` (or `make fetch`),\n"
        f"    then copy its Keras cache to {keras_cache()} on this machine (the offline classroom kit);\n"
        "  - or point WEIGHTS at a local weights file: notebook 02 needs Xception's file with its top,\n"
        "    03 and 04 the one without (`python -m workbook run --notebooks 04 -p WEIGHTS /path/notop.h5`);\n"
        "  - or run the smoke profile, with random weights: `make run PROFILE=smoke`."
    )


class WeightsUnavailable(RuntimeError):
    """ImageNet weights (or labels) are neither cached nor downloadable; the message names the remedies."""


def keras_cache() -> Path:
    """Keras' download cache: $KERAS_HOME/models, else ~/.keras/models."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "models"


def weights_status() -> dict[str, bool]:
    """Which of Xception's ImageNet files are in Keras' cache."""
    names = [*WEIGHT_FILES.values(), CLASS_INDEX_FILE]
    return {name: (keras_cache() / name).is_file() for name in names}


def _download(what: str, action):
    """Run a Keras call that may download `what`, turning a network failure into WeightsUnavailable."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(60)
    try:
        return action()
    except Exception as error:  # Keras raises a bare Exception("URL fetch failure ...")
        if "URL fetch failure" not in str(error):
            raise
        raise WeightsUnavailable(f"Cannot download {what}: the network is unreachable.\n{remedies()}") from None
    finally:
        socket.setdefaulttimeout(previous)


def ensure_weights(weights: str | None, include_top: bool = False) -> None:
    """Check that `weights` can be loaded, downloading ImageNet's once; raise with remedies if not."""
    if weights == "imagenet":
        if not (keras_cache() / WEIGHT_FILES[include_top]).is_file():
            _download(
                "Xception's ImageNet weights",
                lambda: keras.applications.Xception(weights="imagenet", include_top=include_top),
            )
    elif weights is not None and not Path(weights).is_file():
        raise ValueError(f"WEIGHTS must be 'imagenet', None or an existing weights file; {weights!r} is not a file.")


def fetch_weights() -> None:
    """Download Xception's weights (with and without top) and ImageNet's class index into Keras' cache."""
    for include_top in (True, False):
        ensure_weights("imagenet", include_top=include_top)
    _download("ImageNet's class names", lambda: keras.applications.xception.decode_predictions(np.zeros((1, 1000))))


def decode_predictions(predictions, top: int = 5, weights: str | None = "imagenet") -> list:
    """Keras' `decode_predictions`; without its label file and ImageNet weights, numbered placeholders.

    Notebook 02 explains it. Keras downloads the 1000 class names once; offline, with random
    weights (the smoke profile) or a local weights file, the names are replaced by class numbers.
    """
    if weights == "imagenet" or (keras_cache() / CLASS_INDEX_FILE).is_file():
        decode = keras.applications.xception.decode_predictions
        return _download("ImageNet's class names", lambda: decode(predictions, top=top))
    print(f"ImageNet's class names are not in {keras_cache()}: showing class numbers instead.")
    predictions = np.asarray(predictions)
    best = np.argsort(predictions, axis=-1)[:, ::-1][:, :top]
    return [[(f"n{i:08d}", f"class_{i}", float(row[i])) for i in indices] for row, indices in zip(predictions, best)]


def base_model(weights: str | None = "imagenet", input_size: int = 150) -> keras.Model:
    """Xception without its classifier, frozen: the feature extractor of notebook 04."""
    ensure_weights(weights)
    base = keras.applications.Xception(weights=weights, include_top=False, input_shape=(input_size, input_size, 3))
    base.trainable = False
    return base


def pooled_vectors(base: keras.Model):
    """An image input and what the frozen `base` makes of it in inference mode, pooled: one vector per image.

    The start of every model here (notebook 04 writes it out); `training.embed` caches its output.
    """
    inputs = keras.Input(shape=base.input_shape[1:])
    return inputs, keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))


def _check_head(learning_rate: float, size_inner: int | None, droprate: float) -> None:
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be positive, not {learning_rate}")
    if not 0.0 <= droprate < 1.0:
        raise ValueError(f"droprate must be in [0, 1), not {droprate}")
    if size_inner is not None and size_inner < 1:
        raise ValueError(f"size_inner must be None (no inner layer) or at least 1, not {size_inner}")


def _top(vectors, size_inner: int | None, droprate: float, num_classes: int):
    """The layers after pooling: optional Dense(size_inner, relu), optional Dropout, Dense(num_classes) logits.

    Creating a layer draws from the seeded generator (a Dense layer for its initial weights, a Dropout
    layer for its masks), so both Dense layers are created before any Dropout: after the same seed,
    heads that differ only in `droprate` (or `learning_rate`) start from identical weights (notebook 08).
    """
    inner = keras.layers.Dense(size_inner, activation="relu") if size_inner else None
    output = keras.layers.Dense(num_classes)
    if inner is not None:
        vectors = inner(vectors)
    if droprate:
        vectors = keras.layers.Dropout(droprate)(vectors)
    return output(vectors)


def _compile(model: keras.Model, learning_rate: float) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    # Create the optimizer's state now, so saved weights and models reload without a mismatch warning.
    model.optimizer.build(model.trainable_variables)
    return model


def make_model(
    input_size: int = 150,
    learning_rate: float = 0.01,
    size_inner: int | None = None,
    droprate: float = 0.0,
    weights: str | None = "imagenet",
    num_classes: int = 10,
) -> keras.Model:
    """Frozen Xception, global average pooling, optional inner layer and dropout, logits; compiled.

    Notebook 04 builds this model step by step; later notebooks add the inner layer and dropout.
    """
    _check_head(learning_rate, size_inner, droprate)
    inputs, vectors = pooled_vectors(base_model(weights, input_size))
    return _compile(keras.Model(inputs, _top(vectors, size_inner, droprate, num_classes)), learning_rate)


def make_head(
    learning_rate: float = 0.01,
    size_inner: int | None = None,
    droprate: float = 0.0,
    num_features: int = 2048,
    num_classes: int = 10,
) -> keras.Model:
    """The layers `make_model` puts after pooling, compiled the same way, taking pooled vectors as input.

    Notebook 05 explains why training it on cached vectors is the same as training `make_model`.
    """
    _check_head(learning_rate, size_inner, droprate)
    inputs = keras.Input(shape=(num_features,), name="vectors")
    return _compile(keras.Model(inputs, _top(inputs, size_inner, droprate, num_classes), name="head"), learning_rate)


def join(base: keras.Model, head: keras.Model) -> keras.Model:
    """One model that takes images: the frozen base in inference mode, pooling, then the trained `head`.

    It is compiled like `make_model`, with the head's learning rate and a fresh optimizer.
    Notebook 06 saves and reloads such a model.
    """
    if getattr(head, "optimizer", None) is None:
        raise ValueError("The head is not compiled: build it with models.make_head, or compile it first")
    inputs, vectors = pooled_vectors(base)
    return _compile(keras.Model(inputs, head(vectors)), float(head.optimizer.learning_rate))
