"""Notebook 06 · Checkpointing: the check-yourself quiz and the exercise checks.

For instructors: `truth` recomputes each answer, `solution` is code a student could write (the
tests run it through the check), `mistakes` are typical wrong answers with their hints.
"""

import tempfile
from pathlib import Path

import numpy as np

from workbook.checks import Choice, Exercise, Mistake, Question

QUIZ = (
    Question(
        "1",
        'With `save_best_only=True, monitor="val_accuracy", mode="max"`, `ModelCheckpoint` writes a file:',
        (
            Choice(
                "After each epoch whose validation accuracy beats every earlier epoch",
                "so the last file written is the best epoch.",
                correct=True,
            ),
            Choice(
                "Once, at the end of training", "it checks after every epoch, and writes whenever the score improves."
            ),
            Choice("After every epoch", "that is save_best_only=False."),
        ),
    ),
    Question(
        "2",
        "Which file does Keras 3 save a whole model to, for `keras.models.load_model`?",
        (
            Choice("A .keras file", "the architecture, weights and optimizer state in one file.", correct=True),
            Choice("A .h5 file", "that is the legacy format; Keras 3 saves weights alone as .weights.h5."),
            Choice(
                "A SavedModel folder",
                "that is an export for TensorFlow serving (model.export), not a file load_model reads.",
            ),
        ),
    ),
    Question(
        "3",
        "After an interruption, a run with `BackupAndRestore`:",
        (
            Choice(
                "Continues after the last finished epoch, with its weights and optimizer state",
                "the backup holds the latest state, not the best.",
                correct=True,
            ),
            Choice("Starts again from epoch 1", "that is what happens without the callback."),
            Choice(
                "Starts from the best checkpoint",
                "keeping the best is ModelCheckpoint's job; the backup is the latest state.",
            ),
        ),
    ),
)


def _improving(values, better):
    """1-based epochs whose value beats every earlier one."""
    values = np.asarray(values, dtype="float64")
    best_so_far = np.maximum.accumulate(values) if better == "max" else np.minimum.accumulate(values)
    earlier = np.concatenate([[np.nan], best_so_far[:-1]])
    improved = np.isnan(earlier) | ((values > earlier) if better == "max" else (values < earlier))
    return [int(epoch) + 1 for epoch in np.flatnonzero(improved)]


def _saved_by_loop(history):
    """What a student writes: walk the epochs, keep those whose val_loss is a new minimum."""
    saved, best = [], float("inf")
    for epoch, loss in enumerate(history["val_loss"], start=1):
        if loss < best:
            saved.append(epoch)
            best = loss
    return saved


def _files_written(history):
    """Fit a small head with save_best_only=False for as many epochs as the history has; count the files."""
    from workbook.backend import keras

    epochs = len(history["val_accuracy"])
    rng = np.random.default_rng(0)
    vectors, labels = rng.normal(size=(64, 8)), np.eye(10)[rng.integers(0, 10, 64)]
    inputs = keras.Input(shape=(8,))
    head = keras.Model(inputs, keras.layers.Dense(10)(inputs))
    head.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    with tempfile.TemporaryDirectory() as folder:
        template = str(Path(folder) / "head_{epoch:02d}_{val_accuracy:.3f}.keras")
        checkpoint = keras.callbacks.ModelCheckpoint(template, save_best_only=False)
        head.fit(vectors, labels, epochs=epochs, validation_data=(vectors, labels), callbacks=[checkpoint], verbose=0)
        return len(list(Path(folder).glob("*.keras")))


def _load_into_larger():
    """Save a plain head's weights, load them into a head with an inner layer: "a" loads, "b" raises."""
    from workbook import models

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "head.weights.h5"
        models.make_head().save_weights(path)
        try:
            models.make_head(size_inner=100).load_weights(path)
        except ValueError:
            return "b"
    return "a"


EXERCISES = (
    Exercise(
        "1",
        "how many files `ModelCheckpoint` writes with `save_best_only=False` (a whole number)",
        context="history=history.history",
        truth=lambda history: len(history["val_accuracy"]),
        solution=_files_written,
        hint="without save_best_only, the callback does not compare epochs at all.",
        mistakes=(
            Mistake(
                lambda history: len(_improving(history["val_accuracy"], "max")),
                "that is how many files save_best_only=True writes.",
            ),
        ),
    ),
    Exercise(
        "2",
        'the epochs saved with `monitor="val_loss", mode="min"` (a list of epoch numbers, from 1)',
        context="history=history.history",
        truth=lambda history: _improving(history["val_loss"], "min"),
        solution=_saved_by_loop,
        hint="list the epochs whose validation loss is lower than at every earlier epoch, the first included.",
        mistakes=(
            Mistake(
                lambda history: _improving(history["val_accuracy"], "max") + [0],
                "compare the losses, not the accuracies.",
            ),
        ),
    ),
    Exercise(
        "3",
        'what `load_weights` of head_v1.weights.h5 into `make_head(size_inner=100)` does: "a" it loads, the inner layer keeps random weights; "b" it raises an error',
        truth=_load_into_larger,
        solution=lambda: "b",
        hint="compare the layers and shapes stored in the file with those of the new head.",
        mistakes=(
            Mistake(
                lambda: "a",
                "a weights file holds the weights of one architecture; Keras does not match them up layer by layer.",
            ),
        ),
        options={"a": "loads", "b": "raises"},
    ),
)

CONTEXT = {"history": {"val_accuracy": [0.5, 0.62, 0.6, 0.66], "val_loss": [1.4, 1.2, 1.1, 1.15]}}
