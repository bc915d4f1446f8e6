"""Xception with its weights handled, and the model of notebook 04 (`04_transfer_learning.ipynb`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import keras
import numpy as np
from keras.src.applications import imagenet_utils, xception
from keras.src.backend.config import keras_home

from workbook import data
from workbook.errors import ArgumentError, WeightsUnavailable

# What Keras downloads for Xception, under the file names it gives them in its cache.
WEIGHT_FILES = {
    True: "xception_weights_tf_dim_ordering_tf_kernels.h5",
    False: "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
}
CLASS_INDEX_FILE = "imagenet_class_index.json"
URLS = {
    WEIGHT_FILES[True]: xception.WEIGHTS_PATH,
    WEIGHT_FILES[False]: xception.WEIGHTS_PATH_NO_TOP,
    CLASS_INDEX_FILE: imagenet_utils.CLASS_INDEX_PATH,
}


def remedies() -> str:
    """What to do when ImageNet files cannot be downloaded: in the notebook first, then ahead of time."""
    return (
        "What to do:\n"
        "  - in this notebook: set WEIGHTS = None in the parameters cell and run the notebook again\n"
        "    (random weights: every cell runs, but nothing is learned and predictions mean nothing);\n"
        "  - fetch the files ahead on a connected machine: `make fetch` (or `python -m workbook fetch --weights`),\n"
        f"    then copy its Keras cache to {keras_cache()} on this machine (the offline classroom kit);\n"
        "  - or set WEIGHTS to a local weights file: notebook 02 needs Xception's file with its top,\n"
        "    03 and 04 the one without (`python -m workbook run --notebooks 04 -p WEIGHTS /path/notop.h5`);\n"
        "  - from the command line, the smoke profile uses random weights: `make run PROFILE=smoke`."
    )


def keras_cache() -> Path:
    """Where Keras keeps its downloads: `models/` in Keras' home folder, as Keras itself resolves it.

    Keras reads $KERAS_HOME (else ~/.keras) once, when it is imported, and falls back to /tmp/.keras
    when that folder is not writable.
    """
    home = os.path.expanduser(keras_home())
    if not os.access(home, os.W_OK):
        home = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return Path(home) / "models"


def shared_file(name: str) -> Path:
    """`name` in $KERAS_HOME/models/ (else ~/.keras/models/), which Keras skips when that folder is read-only."""
    return Path(os.path.expanduser(keras_home())) / "models" / name


def weights_status() -> dict[str, bool]:
    """Which of Xception's ImageNet files are in Keras' cache (or in a read-only KERAS_HOME, linked on use)."""
    return {name: (keras_cache() / name).is_file() or shared_file(name).is_file() for name in URLS}


def _fetch(name: str, what: str) -> None:
    """Download one of Keras' ImageNet files into its cache unless it is there; WeightsUnavailable if it cannot."""
    path = keras_cache() / name
    if path.is_file():
        return
    shared = shared_file(name)
    if shared.is_file():  # a read-only shared KERAS_HOME: Keras reads /tmp/.keras instead, so link the file there
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.symlink_to(shared)
        except FileExistsError:  # another notebook linked it first
            pass
        return
    try:
        data.download(URLS[name], path, what, WeightsUnavailable, remedies())
    except WeightsUnavailable as error:  # lead with what a student in a notebook can change
        raise WeightsUnavailable(
            f"{what} are not on this computer and cannot be downloaded: in a notebook, set WEIGHTS = None "
            f"in the parameters cell and run it again.\n{error}"
        ) from None


def ensure_weights(weights: str | None, include_top: bool = False) -> None:
    """Check that `weights` can be loaded, downloading ImageNet's once; raise with remedies if not."""
    if weights == "imagenet":
        _fetch(WEIGHT_FILES[include_top], "Xception's ImageNet weights")
    elif weights is not None and not Path(weights).is_file():
        raise ArgumentError(
            f"WEIGHTS must be 'imagenet', None or an existing weights file; {weights!r} is not a file.\n"
            "Set WEIGHTS in the parameters cell to one of those, and run the notebook again."
        )


def fetch_weights() -> None:
    """Download Xception's weights (with and without top) and ImageNet's class index into Keras' cache."""
    for include_top in (True, False):
        ensure_weights("imagenet", include_top=include_top)
    _fetch(CLASS_INDEX_FILE, "ImageNet's class names")


def decode_predictions(predictions, top: int = 5, weights: str | None = "imagenet") -> list:
    """Keras' `decode_predictions`; without its label file and ImageNet weights, numbered placeholders.

    Notebook 02 explains it. Keras downloads the 1000 class names once; offline, with random
    weights (the smoke profile) or a local weights file, the names are replaced by class numbers.
    """
    if weights == "imagenet":
        _fetch(CLASS_INDEX_FILE, "ImageNet's class names")
    if (keras_cache() / CLASS_INDEX_FILE).is_file():
        return keras.applications.xception.decode_predictions(predictions, top=top)
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
        raise ArgumentError(f"learning_rate must be positive, not {learning_rate}")
    if not 0.0 <= droprate < 1.0:
        raise ArgumentError(f"droprate must be in [0, 1), not {droprate}")
    if size_inner is not None and size_inner < 1:
        raise ArgumentError(f"size_inner must be None (no inner layer) or at least 1, not {size_inner}")


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
        raise ArgumentError("The head is not compiled: build it with models.make_head, or compile it first")
    inputs, vectors = pooled_vectors(base)
    return _compile(keras.Model(inputs, head(vectors)), float(head.optimizer.learning_rate))


# --- fine-tuning the top of the base (notebook 11) and the final model (notebook 12) ----------

FINE_TUNED_FROM = "block14_sepconv1"  # the first layer of Xception's last block, block 14


def _layer(base: keras.Model, layer: str) -> keras.layers.Layer:
    """The layer of `base` called `layer`; ArgumentError naming the candidates if there is none."""
    names = [candidate.name for candidate in base.layers]
    if layer not in names:
        raise ArgumentError(f"{base.name} has no layer {layer!r}; its blocks start at {names[1]!r} ... {names[-1]!r}")
    return base.get_layer(layer)


def _above(base: keras.Model, layer: str) -> keras.Model:
    """The part of `base` from `layer` to its output, sharing its layers; ArgumentError if that part needs more."""
    start = _layer(base, layer).input
    try:
        return keras.Model(start, base.output)
    except ValueError:
        raise ArgumentError(
            f"{base.name} cannot be cut at {layer!r}: a shortcut connection carries what comes before it past it. "
            "Cut at the first layer of a block, such as 'block14_sepconv1' or 'block13_sepconv1_act'."
        ) from None


def maps_below(base: keras.Model, layer: str = FINE_TUNED_FROM) -> keras.Model:
    """The frozen part of `base` below `layer`: images to the feature maps `layer` takes (notebook 11).

    It shares its layers with `base`; `training.embed_maps` caches its output. Everything from
    `layer` on must depend on those maps alone (ArgumentError otherwise).
    """
    _above(base, layer)
    return keras.Model(base.input, _layer(base, layer).input, name=f"below_{layer}")


def pooled_from_maps(base: keras.Model, layer: str = FINE_TUNED_FROM) -> keras.Model:
    """The frozen rest of `base` from `layer` on, and pooling: maps below `layer` to pooled vectors (notebook 11)."""
    rest = _above(base, layer)  # shares the base's frozen layers
    maps = keras.Input(shape=rest.input_shape[1:])
    return keras.Model(maps, keras.layers.GlobalAveragePooling2D()(rest(maps)))


def top_of_base(base: keras.Model, layer: str = FINE_TUNED_FROM) -> keras.Model:
    """A copy of `base` from `layer` to its output, with the same weights, every layer trainable (notebook 11).

    A copy, so training it leaves `base` (and the caches keyed by its weights) as they are.
    """
    part = _above(base, layer)
    top = keras.models.clone_model(part)
    top.set_weights(part.get_weights())
    for layer in top.layers:  # a clone keeps each layer's frozen flag; setting the model's alone changes none
        layer.trainable = True
    return top


def copy_of(model: keras.Model, learning_rate: float) -> keras.Model:
    """A copy of `model` with its weights, trainable, compiled like `make_model` with `learning_rate` (notebook 11)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for layer in copy.layers:
        layer.trainable = True
    return _compile(copy, learning_rate)


def fine_tuning_model(
    base: keras.Model, head: keras.Model, learning_rate: float = 1e-5, layer: str = FINE_TUNED_FROM
) -> keras.Model:
    """Feature maps in, logits out: a copy of the top of `base` with its BatchNormalization layers frozen,
    pooling and a copy of `head`, all else trainable, compiled with `learning_rate`.

    Notebook 11 builds it step by step and explains why every BatchNormalization layer stays
    frozen: Keras 3.15 ignores a `training=False` given when the model is built (keras-team/keras#20285).
    `base` and `head` are left as they are.
    """
    _check_head(learning_rate, None, 0.0)
    top = top_of_base(base, layer)
    for part in top.layers:
        if isinstance(part, keras.layers.BatchNormalization):
            part.trainable = False
    inputs = keras.Input(shape=top.input_shape[1:], name="maps")
    vectors = keras.layers.GlobalAveragePooling2D()(top(inputs))
    return _compile(keras.Model(inputs, copy_of(head, learning_rate)(vectors), name="fine_tuning"), learning_rate)


def fine_tuned_parts(base: keras.Model, tuned: keras.Model) -> tuple[keras.Model, keras.Model]:
    """A frozen copy of `base` holding the fine-tuned block's weights, and the fine-tuned head (notebook 11).

    `join` makes them one image model; `tuned` is a model made by `fine_tuning_model` and trained.
    """
    top, head = tuned.layers[1], tuned.layers[-1]
    if tuned.name != "fine_tuning" or not isinstance(top, keras.Model) or not isinstance(head, keras.Model):
        raise ArgumentError("tuned must be a model made by models.fine_tuning_model (and then trained)")
    copy = keras.models.clone_model(base)
    copy.set_weights(base.get_weights())
    for part in top.layers[1:]:
        copy.get_layer(part.name).set_weights(part.get_weights())
    copy.trainable = False
    return copy, head


def final_model(base: keras.Model, head: keras.Model) -> keras.Model:
    """One model from raw 0-255 pixels to class probabilities, for using and serving (notebook 12).

    Xception's preprocessing is a `Rescaling` layer inside it (0-255 to -1..1, what `preprocess_input`
    does), then the frozen base, pooling, the head's logits and a softmax.
    """
    inputs = keras.Input(shape=base.input_shape[1:], name="pixels")
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1, name="preprocessing")(inputs)
    vectors = keras.Model(*pooled_vectors(base), name="pooled_vectors")(scaled)
    return keras.Model(inputs, keras.layers.Softmax(name="probabilities")(head(vectors)), name="clothing_classifier")
