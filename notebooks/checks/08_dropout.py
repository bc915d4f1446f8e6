"""Notebook 08 · Dropout: the check-yourself quiz and the exercise checks.

For instructors: `truth` recomputes each answer, `solution` is code a student could write (the
tests run it through the check), `mistakes` are typical wrong answers with their hints.
"""

import numpy as np

from workbook.checks import Choice, Exercise, Mistake, Question

QUIZ = (
    Question(
        "1",
        "During training, what does `Dropout(0.5)` do to each output of the inner layer?",
        (
            Choice(
                "Zeroes it with probability 0.5 at each step, per example, and doubles the kept ones",
                "a new random mask at every step.",
                correct=True,
            ),
            Choice(
                "Freezes half of the weights for the epoch",
                "no weight is frozen, and the mask changes at every step, for every example.",
            ),
            Choice("Halves it", "dropout is random: it zeroes some outputs and scales the rest up."),
        ),
    ),
    Question(
        "2",
        "What does the dropout layer do in `predict`?",
        (
            Choice("Nothing: it passes its inputs through", "dropout acts in training only.", correct=True),
            Choice("It still drops outputs at random", "with training=False, as in predict and evaluate, it is off."),
            Choice(
                "It scales the outputs by 0.5",
                "the scaling happens during training (by 1 / (1 − rate)), so inference needs none.",
            ),
        ),
    ),
    Question(
        "3",
        "With dropout 0.5, the logged training accuracy is below the validation accuracy. Why?",
        (
            Choice(
                "Training accuracy is measured with dropout on",
                "each training batch is scored by a handicapped network.",
                correct=True,
            ),
            Choice(
                "The validation images are easier",
                "the splits come from the same collection; the measurement differs, not the images.",
            ),
            Choice("The model is overfitting", "overfitting shows the other way round: training above validation."),
        ),
    ),
)


def _dropout(rate, inputs, seed=0):
    from workbook.backend import keras

    layer = keras.layers.Dropout(rate, seed=seed)
    return keras.ops.convert_to_numpy(layer(inputs, training=True))


def _same_logits():
    """Call a rate-0.5 head twice in each mode: which pair agrees? "a" training=False, "b" training=True, "c" both."""
    from workbook import models

    head = models.make_head(size_inner=100, droprate=0.5)
    vectors = np.random.default_rng(0).normal(size=(5, 2048)).astype("float32")
    calls = {mode: [np.asarray(head(vectors, training=mode)) for _ in range(2)] for mode in (True, False)}
    same = {mode: np.allclose(*calls[mode]) for mode in calls}
    return {(False, True): "a", (True, False): "b", (True, True): "c"}.get((same[True], same[False]), "d")


EXERCISES = (
    Exercise(
        "1a",
        "the factor by which `Dropout(0.95)` scales the outputs it keeps (a number)",
        truth=lambda: 1 / (1 - 0.95),
        solution=lambda: float(_dropout(0.95, np.ones((1, 10_000), dtype="float32")).max()),
        hint="the kept outputs are scaled so that the expected sum stays the same.",
        mistakes=(
            Mistake(lambda: 1 - 0.95, "kept outputs are scaled up, not down."),
            Mistake(lambda: 0.95, "the rate is the probability of dropping; the scale is 1 / (1 − rate)."),
        ),
        tolerance=1e-3,
    ),
    Exercise(
        "1b",
        "how many of the 100 inner outputs `Dropout(0.95)` keeps per example, on average (a number)",
        truth=lambda: 100 * (1 - 0.95),
        solution=lambda: float(np.count_nonzero(_dropout(0.95, np.ones((2000, 100), dtype="float32"))) / 2000),
        hint="the rate is the probability that an output is zeroed.",
        mistakes=(Mistake(lambda: 100 * 0.95, "that is how many are dropped: the rate is the share zeroed."),),
        tolerance=0.05,
    ),
    Exercise(
        "3",
        'which calls give the same logits: "a" the two with training=False, "b" the two with training=True, "c" both pairs, "d" neither',
        truth=_same_logits,
        solution=lambda: "a",
        hint="ask which calls draw a random mask.",
        mistakes=(
            Mistake(lambda: "b", "with training=True each call draws a new mask."),
            Mistake(lambda: "c", "with training=True each call draws a new mask, so those two differ."),
        ),
        options={"a": "training=False", "b": "training=True", "c": "both", "d": "neither"},
    ),
)
