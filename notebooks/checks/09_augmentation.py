"""Notebook 09 · Augmentation: the check-yourself quiz and the exercise checks.

For instructors: `truth` recomputes each answer, `solution` is code a student could write (the
tests run it through the check), `mistakes` are typical wrong answers with their hints.
"""

import numpy as np

from workbook.checks import Choice, Exercise, Mistake, Question

QUIZ = (
    Question(
        "1",
        "`RandomRotation(0.1)` rotates an image by at most:",
        (
            Choice(
                "36 degrees: a tenth of a full turn",
                "Keras 3 gives rotations as fractions of a full turn.",
                correct=True,
            ),
            Choice("0.1 radians", "the factor is a fraction of 2π, not an angle in radians."),
            Choice("10% of 90 degrees", "the factor is a fraction of a full turn, 360 degrees."),
        ),
    ),
    Question(
        "2",
        "Augmentation layers placed inside the model act:",
        (
            Choice(
                "In fit only: predict and evaluate leave the images alone",
                "they run in training mode only.",
                correct=True,
            ),
            Choice(
                "Every time the model is called",
                "called with training=False, as in predict, they pass the images through.",
            ),
            Choice("In the first epoch only", "they draw new changes in every training step."),
        ),
    ),
    Question(
        "3",
        "Should validation images be augmented?",
        (
            Choice(
                "Never: they measure the model on images as they come", "the same goes for test images.", correct=True
            ),
            Choice(
                "Yes, it gives more validation data",
                "validation is a measurement, not training data: changed images measure something else.",
            ),
            Choice("Only with flips", "any change alters what is measured; keep validation as it is."),
        ),
    ),
)


def _rotation_degrees(factor):
    """Rotate an image with one bright pixel by the layer's largest angle and measure where it lands."""
    from workbook.backend import keras

    size = 101
    image = np.zeros((1, size, size, 1), dtype="float32")
    image[0, size // 2, size - 5, 0] = 1.0  # a point on the right, on the centre row
    layer = keras.layers.RandomRotation((factor, factor), fill_mode="constant", interpolation="nearest")
    rotated = keras.ops.convert_to_numpy(layer(image, training=True))[0, :, :, 0]
    row, column = np.unravel_index(np.argmax(rotated), rotated.shape)
    angle = np.degrees(np.arctan2(row - size // 2, column - size // 2))
    return float(round(abs(angle)))


EXERCISES = (
    Exercise(
        "2",
        "the largest angle, in degrees, that `RandomRotation(0.5)` rotates an image by (a number)",
        truth=lambda: 0.5 * 360,
        solution=lambda: _rotation_degrees(0.5),
        hint="the factor is a fraction of a full turn.",
        mistakes=(
            Mistake(lambda: 0.5 * 180, "the factor is a fraction of a full turn, not of half a turn."),
            Mistake(lambda: 0.5, "that is the factor; convert it to degrees."),
        ),
        tolerance=0.02,
    ),
    Exercise(
        "3",
        "how many epochs each cached view is used in, with `VIEWS` views and `EPOCHS` epochs (a number)",
        context="epochs=EPOCHS, views=VIEWS",
        truth=lambda epochs, views: epochs / views,
        solution=lambda epochs, views: len(range(epochs)) / len(range(views)),
        hint="the epochs go round the views in turn.",
        mistakes=(Mistake(lambda epochs, views: views / epochs, "the other way round: epochs per view."),),
        tolerance=0.01,
    ),
    Exercise(
        "1",
        'with `VIEWS = 1`, the augmented run: "a" trains on one fixed augmented version of each image in every epoch, "b" sees new augmentations in every epoch, "c" is the run without augmentation',
        truth=lambda: "a",
        solution=lambda: "a",
        hint="how many different vectors does each image have in the cache?",
        mistakes=(
            Mistake(lambda: "b", "fresh views in every epoch need VIEWS = EPOCHS; one view is reused every epoch."),
            Mistake(lambda: "c", "the one view is still an augmented image, not the original."),
        ),
        options={"a": "one fixed view", "b": "new every epoch", "c": "no augmentation"},
    ),
)

CONTEXT = {"epochs": 20, "views": 4}  # the notebook passes EPOCHS and VIEWS
