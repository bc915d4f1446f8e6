"""Notebook 04 · Transfer learning: the check-yourself quiz and the exercise checks.

For instructors: `truth` recomputes each answer, `solution` is code a student could write (the
tests run it through the check), `mistakes` are typical wrong answers with their hints.
"""

import functools
import math

import numpy as np

from workbook.checks import Choice, Exercise, Mistake, Question

QUIZ = (
    Question(
        "1",
        "After `base_model.trainable = False`, which weights does `fit` update?",
        (
            Choice("Only the new Dense(10) layer's", "the base's weights stay as ImageNet left them.", correct=True),
            Choice("All of them, the base's more slowly", "frozen means not updated at all, not updated slowly."),
            Choice(
                "The head's, and the base's batch-normalization statistics",
                "a frozen base's batch-normalization layers run in inference mode: their statistics stay too.",
            ),
        ),
    ),
    Question(
        "2",
        "Why `CategoricalCrossentropy(from_logits=True)`?",
        (
            Choice(
                "The Dense(10) layer outputs logits, without softmax, so the loss applies it",
                "and does so in a numerically stable way.",
                correct=True,
            ),
            Choice(
                "Because the labels are one-hot",
                "one-hot or integer labels is the choice between categorical and sparse losses, not from_logits.",
            ),
            Choice(
                "It makes training faster",
                "it says what the model's outputs are; with the wrong setting the loss is computed on the wrong numbers.",
            ),
        ),
    ),
    Question(
        "3",
        "Where do the validation images come from?",
        (
            Choice(
                "Their own folder, validation/, read without shuffling or augmentation",
                "images the model never trains on, seen as they come.",
                correct=True,
            ),
            Choice(
                "From train/, through the training generator",
                "the course notes did this by mistake: validation must be separate images, without augmentation.",
            ),
            Choice(
                "A different random 20% of train/ in every epoch",
                "then every image would be trained on sooner or later, and validation would measure memory.",
            ),
        ),
    ),
)

STATISTICS = ("moving_mean", "moving_variance")


def _all_but_statistics(model):
    return sum(int(np.prod(w.shape)) for w in model.weights if not w.path.endswith(STATISTICS))


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _unfrozen_count(model):
    """What a student does: unfreeze the base, count the trainable weights, freeze it again."""
    base = next(layer for layer in model.layers if hasattr(layer, "layers"))
    base.trainable = True
    try:
        return sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    finally:
        base.trainable = False


@functools.lru_cache(maxsize=4)
def _split_files(split):
    from workbook import data
    from workbook.images import IMAGE_SUFFIXES

    folder = data.find_dataset(download=False) / split
    return [path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES]


def _share(split, class_name="t-shirt"):
    files = _split_files(split)
    return sum(path.parent.name == class_name for path in files) / len(files)


def _batches(batch_size):
    """What a student writes: the training files Keras lists, divided into batches (the last one smaller)."""
    from workbook import data
    from workbook.backend import keras

    train_ds = keras.utils.image_dataset_from_directory(
        data.find_dataset(download=False) / "train", batch_size=batch_size, verbose=False, format=data.FORMAT
    )
    return math.ceil(len(train_ds.file_paths) / batch_size)


def _guess_t_shirt():
    from workbook import data
    from workbook.backend import keras

    paths = keras.utils.image_dataset_from_directory(
        data.find_dataset(download=False) / "validation", verbose=False, format=data.FORMAT
    ).file_paths
    return np.mean(["t-shirt" in path.split("/")[-2] for path in paths])


EXERCISES = (
    Exercise(
        "3a",
        "the number of trainable weights without `base_model.trainable = False` (a whole number)",
        context="model=model",
        truth=_all_but_statistics,
        solution=_unfrozen_count,
        hint="every weight of the base and the head trains, except what gradients never touch.",
        mistakes=(
            Mistake(_trainable, "that is the count with the base frozen: only the head."),
            Mistake(
                lambda model: model.count_params(),
                "batch normalization's moving means and variances are never trained by gradients: leave them out.",
            ),
        ),
    ),
    Exercise(
        "3b",
        "the number of batches in a full training epoch (a whole number)",
        context="batch_size=BATCH_SIZE",
        truth=lambda batch_size: math.ceil(len(_split_files("train")) / batch_size),
        solution=_batches,
        hint="divide the training images by the batch size; the remainder makes one more batch.",
        mistakes=(
            Mistake(
                lambda batch_size: len(_split_files("train")) // batch_size, "the last, smaller batch is a batch too."
            ),
            Mistake(lambda batch_size: len(_split_files("train")), "a step takes a whole batch, not one image."),
        ),
    ),
    Exercise(
        "5",
        'the validation accuracy of always guessing "t-shirt" (a number between 0 and 1)',
        truth=lambda: _share("validation"),
        solution=_guess_t_shirt,
        hint="the share of t-shirts among the validation images.",
        mistakes=(Mistake(lambda: _share("train"), "that is the share in the training split; measure on validation."),),
        tolerance=0.01,
    ),
)


def context():
    from workbook.backend import keras

    base = keras.applications.Xception(weights=None, include_top=False, input_shape=(71, 71, 3))
    base.trainable = False
    inputs = keras.Input(shape=(71, 71, 3))
    outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(base(inputs, training=False)))
    return {"model": keras.Model(inputs, outputs), "batch_size": 32}
