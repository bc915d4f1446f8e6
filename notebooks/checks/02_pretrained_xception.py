"""Notebook 02 · Pretrained Xception: the check-yourself quiz and the exercise checks.

For instructors: `truth` recomputes each answer, `solution` is code a student could write (the
tests run it through the check), `mistakes` are typical wrong answers with their hints. Exercises
2–5 need ImageNet weights to have one right answer; their discussion is in SOLUTIONS.md.
"""

import functools

from workbook.checks import Choice, Exercise, Mistake, Question

QUIZ = (
    Question(
        "1",
        "What does Xception's `preprocess_input` turn pixel values 0 and 255 into?",
        (
            Choice("-1 and 1", "Xception was trained on pixels scaled to [-1, 1].", correct=True),
            Choice("0 and 1", "dividing by 255 is another network's convention; Xception's is [-1, 1]."),
            Choice(
                "0 and 255, minus the mean colour",
                "subtracting ImageNet's mean colour is VGG's and ResNet's preprocessing, not Xception's.",
            ),
        ),
    ),
    Question(
        "2",
        "What does `model.predict(X)` return for a batch of one image with the ImageNet top?",
        (
            Choice(
                "An array of shape (1, 1000) whose rows sum to 1",
                "one row per image, one probability per ImageNet class.",
                correct=True,
            ),
            Choice("An array of shape (1000,)", "predict keeps the batch axis, even for one image."),
            Choice(
                "1000 logits that can be negative",
                "Xception's ImageNet top ends with a softmax: these are probabilities.",
            ),
        ),
    ),
    Question(
        "3",
        "Why not use ImageNet's 1000 labels directly for our 10 clothing classes?",
        (
            Choice(
                "Its classes are not ours: some of ours have no ImageNet class, and most of its classes are not clothes",
                "so notebook 04 keeps the features and trains a new top.",
                correct=True,
            ),
            Choice(
                "The pretrained network is not accurate enough",
                "its features are good; it is the labels that do not fit, which is why transfer learning keeps the features.",
            ),
            Choice(
                "Our images have the wrong size",
                "resizing to 299 px solves the size; the labels still do not match our classes.",
            ),
        ),
    ),
)


@functools.lru_cache(maxsize=2)
def _xception(image_size):
    from workbook.backend import keras

    return keras.applications.Xception(weights=None, input_shape=(image_size, image_size, 3))


def _top_weights(model):
    return model.count_params() - (2048 * 1000 + 1000)


def _refusal():
    """Build Xception with ImageNet weights at 150 px: Keras checks the size before downloading anything."""
    from workbook.backend import keras

    try:
        keras.applications.Xception(weights="imagenet", input_shape=(150, 150, 3))
    except ValueError:
        return "b"
    return "a"


EXERCISES = (
    Exercise(
        "1a",
        "`model.count_params()` with random weights at 150 px (a whole number)",
        context="model=model",
        truth=lambda model: model.count_params(),
        solution=lambda: _xception(150).count_params(),
        hint="convolutions and global pooling have the same weights at any image size; compare with the count the notebook printed.",
        mistakes=(
            Mistake(_top_weights, "that is the base alone: the ImageNet top's Dense(1000) layer has weights too."),
        ),
    ),
    Exercise(
        "1b",
        "`model.output_shape` at 150 px (a tuple, None for the batch axis)",
        context="model=model",
        truth=lambda model: model.output_shape,
        solution=lambda: _xception(150).output_shape,
        hint="the top ends in one probability per ImageNet class, after the batch axis.",
        mistakes=(
            Mistake(lambda model: (None, 10), "10 is our dataset's classes (notebook 04); this top is ImageNet's."),
            Mistake(
                lambda model: (1, model.output_shape[1]), "Keras writes the batch axis as None: any batch size fits."
            ),
        ),
    ),
    Exercise(
        "1c",
        'what happens with `WEIGHTS = "imagenet"` at 150 px: "a" it builds with the same weights, "b" Keras refuses with a ValueError, "c" it builds with fewer weights',
        truth=_refusal,
        solution=lambda: "b",
        hint="read the error message: the pretrained top was trained on one input size only.",
        mistakes=(
            Mistake(lambda: "a", "the base could take 150 px, but the ImageNet top's weights fix the input size."),
        ),
        options={"a": "builds, same weights", "b": "refuses", "c": "builds, fewer weights"},
    ),
)


def context():
    return {"model": _xception(71)}  # the notebook passes its own model
