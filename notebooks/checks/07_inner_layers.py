"""Notebook 07 · Inner layers: the check-yourself quiz and the exercise checks.

For instructors: `truth` recomputes each answer, `solution` is code a student could write (the
tests run it through the check), `mistakes` are typical wrong answers with their hints.
"""

import numpy as np

from workbook.checks import Choice, Exercise, Mistake, Question

QUIZ = (
    Question(
        "1",
        "An inner `Dense(100)` on the 2048-long pooled vector adds how many weights?",
        (
            Choice("2048 × 100 + 100", "one weight per input and unit, and one bias per unit.", correct=True),
            Choice("2048 × 100", "each unit has a bias too."),
            Choice("100", "a dense layer connects every input to every unit."),
        ),
    ),
    Question(
        "2",
        'Why does the inner layer use `activation="relu"`?',
        (
            Choice(
                "Without a non-linearity, two dense layers collapse into one",
                "a product of matrices is one matrix.",
                correct=True,
            ),
            Choice(
                "ReLU makes training faster",
                "speed is not the point: without it the extra layer adds nothing a single layer could not do.",
            ),
            Choice(
                "ReLU prevents overfitting",
                "it adds capacity, if anything; dropout (notebook 08) is the tool against overfitting.",
            ),
        ),
    ),
    Question(
        "3",
        "The 1000-unit head reaches higher training accuracy than the 10-unit head, and the same validation accuracy. What does that say?",
        (
            Choice(
                "More capacity fits the training vectors better without generalizing better",
                "only validation accuracy tells whether a head generalizes.",
                correct=True,
            ),
            Choice(
                "The 1000-unit head is the better model",
                "training accuracy rewards memorizing; choose on validation accuracy.",
            ),
            Choice("Something is wrong with the training", "that is what extra capacity usually does."),
        ),
    ),
)


def _head_weights(sizes, inputs=2048, classes=10):
    total = 0
    for size in sizes:
        total += inputs * size + size
        inputs = size
    return total + inputs * classes + classes


def _count_with_keras(sizes):
    from workbook.backend import keras

    inputs = keras.Input(shape=(2048,))
    vectors = inputs
    for size in sizes:
        vectors = keras.layers.Dense(size, activation="relu")(vectors)
    return keras.Model(inputs, keras.layers.Dense(10)(vectors)).count_params()


def _is_linear():
    """Dense(100) without activation, then Dense(10): check f(a + b) = f(a) + f(b) - f(0), as a linear map does."""
    from workbook.backend import keras

    inputs = keras.Input(shape=(2048,))
    head = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Dense(100)(inputs)))
    a, b = np.random.default_rng(0).normal(size=(2, 1, 2048)).astype("float32")
    f = lambda x: keras.ops.convert_to_numpy(head(x))  # noqa: E731
    return "a" if np.allclose(f(a + b), f(a) + f(b) - f(np.zeros_like(a)), atol=1e-4) else "b"


EXERCISES = (
    Exercise(
        "1",
        "the weights of the heads with `INNER_SIZES = [1, 2, 5]` (a list of three whole numbers)",
        truth=lambda: [_head_weights([size]) for size in (1, 2, 5)],
        solution=lambda: [_count_with_keras([size]) for size in (1, 2, 5)],
        hint="for each size: the inner layer's weights and biases, then the output layer's.",
        mistakes=(
            Mistake(lambda: [2048 * s + s * 10 for s in (1, 2, 5)], "each unit of both layers has a bias too."),
            Mistake(lambda: [2048 * s + s for s in (1, 2, 5)], "count the output layer's weights too."),
        ),
    ),
    Exercise(
        "2",
        'which head the one without ReLU behaves like: "a" the plain head without an inner layer, "b" the ReLU head of the same size, "c" a head that cannot learn',
        truth=_is_linear,
        solution=lambda: "a",
        hint="write the two layers as matrix products and combine them.",
        mistakes=(
            Mistake(lambda: "b", "the ReLU is what makes the inner layer more than a matrix product."),
            Mistake(lambda: "c", "it learns, as well as a single linear layer can."),
        ),
        options={"a": "plain head", "b": "ReLU head", "c": "cannot learn"},
    ),
    Exercise(
        "4",
        "the weights of the head with two inner Dense(100) layers (a whole number)",
        truth=lambda: _head_weights([100, 100]),
        solution=lambda: _count_with_keras([100, 100]),
        hint="three dense layers: 2048 inputs into the first, 100 into the second and into the output layer.",
        mistakes=(
            Mistake(lambda: _head_weights([100]), "that is the head with one inner layer: count the second one too."),
            Mistake(lambda: 2048 * 100 + 100 * 100 + 100 * 10, "each unit has a bias too."),
        ),
    ),
)
