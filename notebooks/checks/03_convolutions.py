"""Notebook 03 · Convolutions: the check-yourself quiz and the exercise checks.

For instructors: `truth` recomputes each answer, `solution` is code a student could write (the
tests run it through the check), `mistakes` are typical wrong answers with their hints.
"""

import numpy as np

from workbook.checks import Choice, Exercise, Mistake, Question

QUIZ = (
    Question(
        "1",
        "How many weights does a `MaxPooling2D(pool_size=2)` layer have?",
        (
            Choice("None", "it takes the largest value of each window: there is nothing to learn.", correct=True),
            Choice("4, one per position of the window", "a pooling window is not a filter: it has no weights."),
            Choice(
                "It depends on the number of channels",
                "a convolution's weights grow with the channels; pooling takes the maximum of each channel on its own, without weights.",
            ),
        ),
    ),
    Question(
        "2",
        "Each of `block1_conv1`'s 32 filters on an RGB image has how many weights (bias left out)?",
        (
            Choice("27: 3 × 3 × 3", "a filter spans all the channels of its input.", correct=True),
            Choice("9: 3 × 3", "a filter looks at all three colour channels at once, not one."),
            Choice("864", "that is all 32 filters together; each filter has its own weights."),
        ),
    ),
    Question(
        "3",
        "What does global average pooling do to the base's `(5, 5, 2048)` output?",
        (
            Choice(
                "Averages each of the 2048 maps into one number: a vector of 2048",
                "over the positions, map by map.",
                correct=True,
            ),
            Choice("Lays all values out in one vector of 51,200", "that is Flatten; pooling averages."),
            Choice(
                "Averages the 2048 channels at each position: a 5 × 5 map",
                "it averages over positions, not over channels.",
            ),
        ),
    ),
    Question(
        "4",
        "Two `Dense` layers with no activation between them are equivalent to:",
        (
            Choice("One Dense layer", "a product of two matrices is one matrix, and the biases add up.", correct=True),
            Choice("A deeper model that can learn more", "without a non-linearity such as ReLU, depth adds nothing."),
        ),
    ),
)


def xception_side(image_size):
    """The side of Xception's last feature maps: two valid 3×3 convolutions (the first with stride 2), four halvings."""
    side = (image_size - 3) // 2 + 1 - 2
    for _ in range(4):
        side = -(-side // 2)
    return side


def _head_weights(size_inner=1000, inputs=2048, classes=10):
    return inputs * size_inner + size_inner + size_inner * classes + classes


def _softmax(logits):
    shifted = np.exp(np.asarray(logits, dtype="float64") - np.max(logits))
    return shifted / shifted.sum()


def _count_head(flatten):
    from workbook.backend import keras

    inputs = keras.Input(shape=(5, 5, 2048))
    vectors = keras.layers.Flatten()(inputs) if flatten else keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(10)(keras.layers.Dense(1000, activation="relu")(vectors))
    return keras.Model(inputs, outputs).count_params()


def _base_output(image_size):
    from workbook.backend import keras

    base = keras.applications.Xception(weights=None, include_top=False, input_shape=(image_size, image_size, 3))
    return tuple(base.output_shape[1:])


def _keras_softmax(logits):
    from workbook.backend import keras

    return keras.ops.convert_to_numpy(keras.ops.softmax(logits))


def _average_pooled():
    from workbook.backend import keras

    grid = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    return keras.ops.convert_to_numpy(keras.layers.AveragePooling2D(pool_size=2)(grid))[0, :, :, 0]


GRID = np.arange(16, dtype="float64").reshape(2, 2, 2, 2)  # the 4×4 grid, cut into its 2×2 windows

EXERCISES = (
    Exercise(
        "1",
        "the base's output shape at 299 px, without the batch axis (a tuple)",
        truth=lambda: (xception_side(299), xception_side(299), 2048),
        solution=lambda: _base_output(299),
        hint="the maps grow with the image: follow the two strided steps and the four halvings from 299.",
        mistakes=(
            Mistake(lambda: (5, 5, 2048), "that is the shape at 150 px: a larger image gives larger maps."),
            Mistake(lambda: (2048,), "that is the pooled vector; the base outputs a stack of maps."),
        ),
    ),
    Exercise(
        "3",
        "the probabilities after adding 100 to every logit (an array)",
        context="logits=logits",
        truth=lambda logits: _softmax(logits),
        solution=lambda logits: _keras_softmax(np.asarray(logits) + 100),
        hint="softmax depends only on the differences between logits.",
        mistakes=(
            Mistake(lambda logits: np.asarray(logits) + 100, "those are the shifted logits; apply softmax to them."),
        ),
        tolerance=1e-3,
    ),
    Exercise(
        "4a",
        "the weights of Dense(1000, relu) then Dense(10) on the pooled vector (a whole number)",
        truth=lambda: _head_weights(),
        solution=lambda: _count_head(flatten=False),
        hint="each unit has one weight per input and one bias, in both layers.",
        mistakes=(
            Mistake(lambda: 2048 * 1000 + 1000 * 10, "each unit has a bias as well as its weights."),
            Mistake(lambda: 2048 * 1000 + 1000, "count the output layer's weights too."),
        ),
    ),
    Exercise(
        "4b",
        "the same head's weights with `Flatten()` instead of global pooling (a whole number)",
        truth=lambda: _head_weights(inputs=5 * 5 * 2048),
        solution=lambda: _count_head(flatten=True),
        hint="Flatten keeps every value of the maps, so the first dense layer gets one input per value.",
        mistakes=(
            Mistake(
                lambda: _head_weights(),
                "that is with global pooling: Flatten does not average the maps, it keeps all 5 × 5 positions.",
            ),
        ),
    ),
    Exercise(
        "5",
        "the output of AveragePooling2D(pool_size=2) on the 4×4 grid of 0 to 15 (a 2×2 array)",
        truth=lambda: GRID.mean(axis=(1, 3)),
        solution=_average_pooled,
        hint="each output is the mean of one 2×2 window.",
        mistakes=(
            Mistake(
                lambda: GRID.max(axis=(1, 3)),
                "those are the largest values of the windows, as max pooling gives; average pooling takes their mean.",
            ),
        ),
        tolerance=1e-6,
    ),
)

CONTEXT = {"logits": np.array([1.5, -0.3, 0.2, 2.0, -1.0, 0.0, 0.7, -2.2, 1.1, 0.4], dtype="float32")}
