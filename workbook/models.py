"""Xception with its weights handled, and the model of notebook 04 (`04_transfer_learning.ipynb`)."""

from __future__ import annotations

import random

from workbook.backend import keras
from workbook.errors import ArgumentError, WeightsUnavailable  # noqa: F401  (notebooks catch models.WeightsUnavailable)
from workbook.imagenet import decode_predictions, ensure_weights, fetch_weights  # noqa: F401  (notebook names)


def base_model(weights: str | None = "imagenet", input_size: int = 150, seed: int = 0) -> keras.Model:
    """Xception without its classifier, frozen: the feature extractor of notebook 04.

    With `weights=None` its random weights come from `seed` alone, whatever was drawn before: like
    ImageNet's weights they are the same in every notebook and at every input size, so a run with random
    weights reuses cached vectors where a run with ImageNet's does. Python's `random` is left as it was.
    """
    ensure_weights(weights)
    state = random.getstate()
    random.seed(seed)  # Keras draws the seed of every initializer given none from Python's `random`
    try:
        base = keras.applications.Xception(weights=weights, include_top=False, input_shape=(input_size, input_size, 3))
    finally:
        random.setstate(state)
    base.trainable = False
    return base


def pooled_vectors(base: keras.Model):
    """An image input and what the frozen `base` makes of it in inference mode, pooled: one vector per image.

    The start of every model here (notebook 04 writes it out); `embeddings.embed` caches its output.
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

    It shares its layers with `base`; `embeddings.embed_maps` caches its output. Everything from
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
    return _clone(_above(base, layer), trainable=True)


def _clone(model: keras.Model, trainable: bool | None = None) -> keras.Model:
    """A copy of `model` with its weights; with `trainable`, every layer set to it.

    A clone keeps each layer's frozen flag, and setting the model's flag alone changes none of them.
    """
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for layer in copy.layers if trainable is not None else []:
        layer.trainable = trainable
    return copy


def copy_of(model: keras.Model, learning_rate: float) -> keras.Model:
    """A copy of `model` with its weights, trainable, compiled like `make_model` with `learning_rate` (notebook 11)."""
    return _compile(_clone(model, trainable=True), learning_rate)


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
    copy = _clone(base)
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
