"""Notebook 10 · Larger model: the check-yourself quiz and the exercise checks.

For instructors: `truth` recomputes each answer, `solution` is code a student could write (the
tests run it through the check), `mistakes` are typical wrong answers with their hints.
"""

from workbook.checks import Choice, Exercise, Mistake, Question

QUIZ = (
    Question(
        "1",
        "About how many times more does the base compute for a 299-px image than for a 150-px one?",
        (
            Choice(
                "About 4 times",
                "the convolutions run at every position, and there are about four times as many pixels.",
                correct=True,
            ),
            Choice("About 2 times", "both sides double, so the number of pixels quadruples."),
            Choice("The same", "the weights are the same, but they are applied at every position of larger maps."),
        ),
    ),
    Question(
        "2",
        "After global average pooling, how long is the vector of a 299-px image compared with a 150-px one?",
        (
            Choice("The same length", "pooling averages each map, however large, into one number.", correct=True),
            Choice(
                "About four times longer",
                "the maps are larger, but there are as many of them; pooling averages each one.",
            ),
            Choice("Twice as long", "the number of maps, not their size, sets the length."),
        ),
    ),
    Question(
        "3",
        "How do you compare the 150-px and 299-px models fairly?",
        (
            Choice("The same head and epochs, on validation accuracy", "change one thing at a time.", correct=True),
            Choice("On training accuracy", "training accuracy rewards fitting the training images; use validation."),
            Choice(
                "Each with a head tuned separately on the test split",
                "the test split is for the final measurement only.",
            ),
        ),
    ),
)


def xception_side(image_size):
    """The side of Xception's last feature maps: two valid 3×3 convolutions (the first with stride 2), four halvings."""
    side = (image_size - 3) // 2 + 1 - 2
    for _ in range(4):
        side = -(-side // 2)
    return side


def _large_base(image_size):
    from workbook.backend import keras

    return keras.applications.Xception(weights=None, include_top=False, input_shape=(image_size, image_size, 3))


def _pooled_length():
    from workbook.backend import keras

    base = _large_base(224)
    return keras.layers.GlobalAveragePooling2D()(base.output).shape[-1]


EXERCISES = (
    Exercise(
        "1a",
        "`large_base.output_shape` with `LARGE_IMAGE_SIZE = 224` (a tuple, None for the batch axis)",
        truth=lambda: (None, xception_side(224), xception_side(224), 2048),
        solution=lambda: _large_base(224).output_shape,
        hint="follow the strided first convolution and the four halvings from 224.",
        mistakes=(
            Mistake(lambda: (None, 5, 5, 2048), "that is the shape at 150 px: larger images give larger maps."),
            Mistake(lambda: (None, 10, 10, 2048), "that is the shape at 299 px."),
        ),
    ),
    Exercise(
        "1b",
        "the length of the pooled vector at 224 px (a whole number)",
        truth=lambda: 2048,
        solution=_pooled_length,
        hint="global average pooling gives one number per feature map.",
        mistakes=(
            Mistake(
                lambda: xception_side(224) ** 2 * 2048,
                "that is Flatten's length; global average pooling averages each map into one number.",
            ),
        ),
    ),
    Exercise(
        "3",
        "the ratio of pixels between a 299-px and a 150-px image (a number)",
        truth=lambda: (299 / 150) ** 2,
        solution=lambda: (299 * 299) / (150 * 150),
        hint="count the pixels of each square image.",
        mistakes=(Mistake(lambda: 299 / 150, "that is the ratio of the sides; the number of pixels grows with both."),),
        tolerance=0.01,
    ),
)
