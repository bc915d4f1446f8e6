"""Notebook 11 · Fine-tuning: the check-yourself quiz and the exercise checks.

For instructors: `truth` recomputes each answer, `solution` is code a student could write (the
tests run it through the check), `mistakes` are typical wrong answers with their hints.
"""

import numpy as np

from workbook.checks import Choice, Exercise, Mistake, Question

QUIZ = (
    Question(
        "1",
        "When does a change of `layer.trainable` take effect in training?",
        (
            Choice(
                "At the next compile",
                "compile builds the training step with the list of trainable weights.",
                correct=True,
            ),
            Choice(
                "At once, in the running fit",
                "fit uses the training step that compile built; recompile after changing trainable.",
            ),
            Choice("At the next epoch", "epochs do not rebuild the training step; compile does."),
        ),
    ),
    Question(
        "2",
        "What should the BatchNormalization layers of the unfrozen block be?",
        (
            Choice("Kept frozen", "so they stay in inference mode with their ImageNet statistics.", correct=True),
            Choice(
                "Trained with the rest of the block",
                "unfrozen, they overwrite their ImageNet statistics with those of small batches of new data.",
            ),
            Choice("Removed", "the block's other layers expect inputs normalized by them."),
        ),
    ),
    Question(
        "3",
        "Which learning rate suits fine-tuning a pretrained block?",
        (
            Choice(
                "A low one, such as 1e-5",
                "small steps keep the pretrained weights close to what they learned.",
                correct=True,
            ),
            Choice("The head's rate, 1e-3", "steps that size move the pretrained weights far in a few updates."),
            Choice(
                "A higher one, to change the block quickly", "large steps destroy what the block learned on ImageNet."
            ),
        ),
    ),
)


def _layers(model):
    """Every layer below `model`, nested models opened, with whether it trains."""
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from ((inner, trains and layer.trainable) for inner, trains in _layers(layer))
        else:
            yield layer, layer.trainable


def _weights_from_config(layer):
    """A layer's weights from its configuration and input size, for the layers block 14 and the head have."""
    from workbook.backend import keras

    if not isinstance(layer, (keras.layers.SeparableConv2D, keras.layers.Dense, keras.layers.BatchNormalization)):
        return 0
    config, inputs = layer.get_config(), layer.input.shape[-1]
    if isinstance(layer, keras.layers.SeparableConv2D):
        height, width = config["kernel_size"]
        depthwise = height * width * inputs * config["depth_multiplier"]
        return (
            depthwise + inputs * config["depth_multiplier"] * config["filters"] + config["filters"] * config["use_bias"]
        )
    if isinstance(layer, keras.layers.Dense):
        return inputs * config["units"] + config["units"] * config["use_bias"]
    if isinstance(layer, keras.layers.BatchNormalization):
        return 2 * inputs  # gamma and beta
    return 0


def _trained(model):
    return sum(_weights_from_config(layer) for layer, trains in _layers(model) if trains)


def _batch_norm_weights(model):
    from workbook.backend import keras

    return sum(
        _weights_from_config(layer) for layer, _ in _layers(model) if isinstance(layer, keras.layers.BatchNormalization)
    )


def _head_only(model):
    from workbook.backend import keras

    return sum(
        _weights_from_config(layer)
        for layer, trains in _layers(model)
        if trains and isinstance(layer, keras.layers.Dense)
    )


def _gamma_and_beta(model):
    """What a student writes: the sizes of gamma and beta of every BatchNormalization layer."""
    from workbook.backend import keras

    layers = [layer for layer, _ in _layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    return sum(int(np.prod(layer.gamma.shape)) + int(np.prod(layer.beta.shape)) for layer in layers)


def _training_false_matters():
    """Build a trainable BatchNormalization layer called with training=False, fit one step: did its statistics move?"""
    from workbook.backend import keras

    inner_input = keras.Input(shape=(4,))
    inner = keras.Model(inner_input, keras.layers.BatchNormalization()(inner_input))
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inner(inputs, training=False)))
    model.compile(optimizer="sgd", loss="mse")
    before = keras.ops.convert_to_numpy(inner.layers[1].moving_mean).copy()
    model.fit(np.full((8, 4), 5.0), np.zeros((8, 1)), epochs=1, verbose=0)
    moved = not np.allclose(before, keras.ops.convert_to_numpy(inner.layers[1].moving_mean))
    return "a" if moved else "b"


EXERCISES = (
    Exercise(
        "3",
        "the number of weights `tuned.model` trains (a whole number)",
        context="model=tuned.model",
        truth=_trained,
        solution=lambda model: sum(int(np.prod(w.shape)) for w in model.trainable_weights),
        hint="block 14's two separable convolutions (depthwise and pointwise kernels) and the head's dense layers.",
        mistakes=(
            Mistake(
                lambda model: _trained(model) + _batch_norm_weights(model),
                "the BatchNormalization layers stay frozen: leave their gamma and beta out.",
            ),
            Mistake(_head_only, "block 14's separable convolutions train too."),
        ),
    ),
    Exercise(
        "3b",
        "how many weights freezing block 14's BatchNormalization layers keeps out of training (a whole number)",
        context="model=tuned.model",
        truth=_batch_norm_weights,
        solution=lambda model: _gamma_and_beta(model),
        hint="a BatchNormalization layer learns a scale and a shift per channel; its moving statistics are not trained weights.",
        mistakes=(
            Mistake(
                lambda model: 2 * _batch_norm_weights(model),
                "the moving mean and variance are statistics, never trained by gradients: count gamma and beta only.",
            ),
        ),
    ),
    Exercise(
        "2",
        'on this Keras version, does `block(maps_in, training=False)` keep an unfrozen block\'s BatchNormalization in inference mode during fit? "a" no, its statistics still move; "b" yes',
        truth=_training_false_matters,
        solution=_training_false_matters,
        hint="run the BatchNormalization check of the notebook again, with and without training=False.",
        mistakes=(
            Mistake(
                lambda: {"a": "b", "b": "a"}[_training_false_matters()],
                "look again at the BatchNormalization check's output: did the moving statistics change during fit?",
            ),
        ),
        options={"a": "no", "b": "yes"},
    ),
)


def context():
    from workbook import models
    from workbook.backend import keras

    base = keras.applications.Xception(weights=None, include_top=False, input_shape=(71, 71, 3))
    head = models.make_head(size_inner=100, droprate=0.2)
    return {"model": models.fine_tuning_model(base, head)}  # the notebook passes tuned.model
