"""Notebook 05 · Learning rate: the check-yourself quiz and the exercise checks.

For instructors: `truth` recomputes each answer, `solution` is code a student could write (the
tests run it through the check), `mistakes` are typical wrong answers with their hints.
"""

import math

import numpy as np

from workbook.checks import Choice, Exercise, Mistake, Question

QUIZ = (
    Question(
        "1",
        "Plain SGD with learning rate 0.01 and a gradient of 1000 moves the weight by:",
        (
            Choice("10", "rate × gradient.", correct=True),
            Choice("0.01", "that is about Adam's first step; SGD multiplies the gradient by the rate."),
            Choice("1000", "the rate scales the gradient down before the step."),
        ),
    ),
    Question(
        "2",
        "Why can heads train on cached vectors instead of images?",
        (
            Choice(
                "The frozen base, in inference mode, gives each image the same vector in every epoch",
                "so computing them once changes nothing but the time.",
                correct=True,
            ),
            Choice(
                "Vectors are smaller, so the result is a bit less accurate but faster",
                "the head ends with the same weights as fitting the full model: nothing is approximated.",
            ),
            Choice("The base learns faster on vectors", "the base does not learn at all here: it is frozen."),
        ),
    ),
    Question(
        "3",
        "At rate 0.1, validation accuracy jumps up and down between epochs. This is:",
        (
            Choice("Instability: the steps are too large to settle", "too high a rate overshoots.", correct=True),
            Choice(
                "Overfitting",
                "overfitting is a training–validation gap that grows with capacity and training time, not a jumpy curve.",
            ),
            Choice("Learning too slowly", "too small a rate gives a smooth curve that rises slowly."),
        ),
    ),
)


def _adam_first_step(gradient, rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Keras's Adam, first step: the bias corrections go into the rate, epsilon into the denominator."""
    m, v = (1 - beta_1) * gradient, (1 - beta_2) * gradient**2
    alpha = rate * math.sqrt(1 - beta_2) / (1 - beta_1)
    return alpha * abs(m) / (math.sqrt(v) + epsilon)


def _step(optimizer, gradient):
    from workbook.backend import keras

    weight = keras.Variable(np.zeros(1, dtype="float32"))
    optimizer.apply([np.full(1, gradient, dtype="float32")], [weight])
    return abs(float(keras.ops.convert_to_numpy(weight)[0]))


def _sgd(learning_rate):
    from workbook.backend import keras

    return _step(keras.optimizers.SGD(learning_rate=learning_rate), 1000.0)


def _adam(learning_rate):
    from workbook.backend import keras

    return _step(keras.optimizers.Adam(learning_rate=learning_rate), 0.001)


def _updates(train_size, batch_size=128):
    """Fit one epoch with a callback that counts the updates."""
    from workbook.backend import keras

    class Count(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_end(self, batch, logs=None):
            Count.steps += 1

    inputs = keras.Input(shape=(4,))
    head = keras.Model(inputs, keras.layers.Dense(10)(inputs))
    head.compile(optimizer="adam", loss="mse")
    head.fit(
        np.zeros((train_size, 4)),
        np.zeros((train_size, 10)),
        batch_size=batch_size,
        epochs=1,
        verbose=0,
        callbacks=[Count()],
    )
    return Count.steps


EXERCISES = (
    Exercise(
        "1a",
        "how far SGD moves the weight whose gradient is 1000 (a number)",
        context="learning_rate=0.01",
        truth=lambda learning_rate: learning_rate * 1000,
        solution=_sgd,
        hint="plain gradient descent moves a weight by the rate times its gradient.",
        mistakes=(
            Mistake(lambda learning_rate: learning_rate, "that is Adam's step size; SGD's grows with the gradient."),
        ),
        tolerance=0.01,
    ),
    Exercise(
        "1b",
        "how far Adam moves the weight whose gradient is 0.001 (a number)",
        context="learning_rate=0.01",
        truth=lambda learning_rate: _adam_first_step(0.001, learning_rate),
        solution=_adam,
        hint="Adam divides by the size of the gradient; only its tiny epsilon makes a difference.",
        mistakes=(
            Mistake(
                lambda learning_rate: learning_rate * 0.001,
                "that is SGD's step: Adam scales each weight's step by its gradient's size.",
            ),
        ),
        tolerance=0.01,
    ),
    Exercise(
        "4",
        "the number of updates per epoch with `batch_size=128` (a whole number)",
        context="train_size=len(train.features)",
        truth=lambda train_size: math.ceil(train_size / 128),
        solution=_updates,
        hint="one update per batch, and the last, smaller batch counts.",
        mistakes=(
            Mistake(lambda train_size: math.ceil(train_size / 32), "that is with the notebook's batch size of 32."),
            Mistake(lambda train_size: train_size // 128, "the last, smaller batch is an update too."),
        ),
    ),
)

CONTEXT = {"learning_rate": 0.01, "train_size": 3068}  # the notebook passes len(train.features)
