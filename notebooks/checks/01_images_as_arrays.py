"""Notebook 01 · Images as arrays: the check-yourself quiz and the exercise checks.

For instructors: each exercise's `truth` recomputes the answer, `solution` is code a student
could write (the test suite runs it through the check), and `mistakes` are typical wrong answers
with the hint each one gets. Students see only the feedback, never the answer.
"""

import numpy as np

from workbook.checks import Choice, Exercise, Mistake, Question

QUIZ = (
    Question(
        "1",
        "An RGB photo loaded with `target_size=(150, 150)` and turned into `np.array(img)` has which shape?",
        (
            Choice("(150, 150, 3)", "height, width, then the three colour channels.", correct=True),
            Choice("(3, 150, 150)", "channels first is PyTorch's layout; Pillow, NumPy and Keras keep channels last."),
            Choice("(1, 150, 150, 3)", "the batch axis is only there once you add it, with np.expand_dims."),
        ),
    ),
    Question(
        "2",
        "Which dtype and range do the values of `np.array(img)` have?",
        (
            Choice("uint8, from 0 to 255", "one byte per channel and pixel.", correct=True),
            Choice(
                "float32, from 0 to 1",
                "scaling to [0, 1] is a preprocessing step you choose; decoded pixels are whole numbers.",
            ),
            Choice(
                "float32, from -1 to 1", "that is what Xception's preprocess_input makes of them later (notebook 02)."
            ),
        ),
    ),
    Question(
        "3",
        "What does `target_size=(150, 150)` do to a 400 × 600 photo?",
        (
            Choice(
                "It stretches it to a square, changing its aspect ratio",
                "load_img resizes both sides to the target.",
                correct=True,
            ),
            Choice(
                "It crops the centre square", "cropping is what keep_aspect_ratio=True does; the default stretches."
            ),
            Choice("It pads it with black borders", "load_img never pads; it resizes the whole photo to the target."),
        ),
    ),
)


def _load(class_name, image_size, **options):
    import keras

    from workbook import data

    return keras.utils.load_img(data.example_image(class_name), target_size=(image_size, image_size), **options)


def _photo_ratio(class_name):
    from PIL import Image

    from workbook import data

    with Image.open(data.example_image(class_name)) as photo:
        return photo.width / photo.height


def _white_without_red():
    white = np.full((1, 1, 3), 255, dtype="uint8")
    white[..., 0] = 0
    return tuple(int(value) for value in white[0, 0])


EXERCISES = (
    Exercise(
        "1",
        "the shape of `batch` (a tuple)",
        context="image_size=IMAGE_SIZE",
        truth=lambda image_size: (1, image_size, image_size, 3),
        solution=lambda image_size: np.expand_dims(np.array(_load("t-shirt", image_size)), axis=0).shape,
        hint="one image, resized to IMAGE_SIZE by IMAGE_SIZE, with its channels, in a batch of one.",
        mistakes=(
            Mistake(
                lambda image_size: (image_size, image_size, 3), "that is the shape of x: a batch adds an axis in front."
            ),
            Mistake(lambda image_size: (1, 3, image_size, image_size), "Keras keeps the channels last, not first."),
        ),
    ),
    Exercise(
        "2",
        "the width-to-height ratio of the resized pants image (a number)",
        context="image_size=IMAGE_SIZE",
        truth=lambda image_size: image_size / image_size,
        solution=lambda image_size: _load("pants", image_size).width / _load("pants", image_size).height,
        hint="target_size sets the width and the height of the result; divide one by the other.",
        mistakes=(
            Mistake(lambda image_size: _photo_ratio("pants"), "that is the photo's own ratio, before resizing."),
        ),
        tolerance=0.01,
    ),
    Exercise(
        "3",
        'the shape of `np.array(...)` of the photo loaded with `color_mode="grayscale"` and `target_size=(IMAGE_SIZE, IMAGE_SIZE)`',
        context="image_size=IMAGE_SIZE",
        truth=lambda image_size: (image_size, image_size),
        solution=lambda image_size: np.array(_load("t-shirt", image_size, color_mode="grayscale")).shape,
        hint="a grayscale image has one value per pixel; check how many axes NumPy gives it.",
        mistakes=(
            Mistake(
                lambda image_size: (image_size, image_size, 1), "a Pillow image in mode L has no channel axis at all."
            ),
            Mistake(lambda image_size: (image_size, image_size, 3), "grayscale keeps one value per pixel, not three."),
        ),
    ),
    Exercise(
        "4",
        "the (red, green, blue) values of a white pixel of `no_red`",
        truth=_white_without_red,
        solution=lambda: tuple(int(v) for v in (np.array([255, 255, 255]) * np.array([0, 1, 1]))),
        hint="only channel 0 changes; the other two keep the values white had.",
        mistakes=(
            Mistake(lambda: (0, 0, 0), "zeroing red removes the red value only; green and blue stay as they were."),
            Mistake(lambda: (255, 0, 0), "that keeps red and removes the others: channel 0 is red."),
        ),
    ),
)

CONTEXT = {"image_size": 150}  # what the tests pass; the notebook passes its own IMAGE_SIZE
