"""Notebook 12 · Using the model: the check-yourself quiz and the exercise checks.

For instructors: `truth` recomputes each answer, `solution` is code a student could write (the
tests run it through the check), `mistakes` are typical wrong answers with their hints.
"""

import numpy as np

from workbook.checks import Choice, Exercise, Mistake, Question

QUIZ = (
    Question(
        "1",
        "When do you measure the final model on the test split?",
        (
            Choice(
                "Once, at the end, after choosing it on validation",
                "so the test score is an honest estimate.",
                correct=True,
            ),
            Choice(
                "To choose between the models",
                "choosing on the test split makes its score optimistic: choose on validation.",
            ),
            Choice("After every epoch", "that would make the test split a second validation split."),
        ),
    ),
    Question(
        "2",
        "What is the recall of the class shirt?",
        (
            Choice(
                "Of the shirts, the share predicted as shirt", "it counts along the true class's row.", correct=True
            ),
            Choice("Of the images predicted as shirt, the share that are shirts", "that is precision."),
            Choice("The share of all images that are shirts", "that is the class's share of the split, its support."),
        ),
    ),
    Question(
        "3",
        "Why put the preprocessing inside the final model?",
        (
            Choice(
                "It then takes raw pixels, so the .keras file is all a user needs",
                "nobody can forget or redo the scaling differently.",
                correct=True,
            ),
            Choice(
                "It makes training faster",
                "the same arithmetic runs either way; the point is a model that cannot be fed wrongly scaled images.",
            ),
            Choice("Keras requires it for saving", "Keras saves models with or without it."),
        ),
    ),
)


def _swapped(matrix):
    """Which metrics trade places when rows and columns are swapped: "a" precision and recall, "b" recall and F1, "c" none."""
    from workbook import evaluation

    before, after = evaluation.per_class_metrics(matrix), evaluation.per_class_metrics(np.asarray(matrix).T)
    if np.allclose(before["precision"], after["recall"]) and np.allclose(before["recall"], after["precision"]):
        return "a"
    if np.allclose(before["recall"], after["f1"]) and np.allclose(before["f1"], after["recall"]):
        return "b"
    return "c"


def _shrink():
    """float32 weights stored as 8-bit integers: "a" about 4 times smaller, "b" about 2, "c" about 8."""
    ratio = np.dtype("float32").itemsize / np.dtype("int8").itemsize
    return {4: "a", 2: "b", 8: "c"}[int(ratio)]


EXERCISES = (
    Exercise(
        "1",
        'which numbers trade places for `matrix.T`: "a" precision and recall, "b" recall and F1, "c" none',
        context="matrix=matrix",
        truth=_swapped,
        solution=lambda: "a",
        hint="a row of the matrix is a true class, a column a predicted one: which metric divides by which?",
        mistakes=(
            Mistake(
                lambda: "b",
                "F1 treats precision and recall alike, so it stays; look at what divides by rows and by columns.",
            ),
            Mistake(lambda: "c", "compare the two tables: rows and columns play different parts."),
        ),
        options={"a": "precision and recall", "b": "recall and F1", "c": "none"},
    ),
    Exercise(
        "4",
        'why a batch is cheaper per image: "a" the per-call overhead is paid once and the matrix products use the hardware better, "b" batches use lower precision, "c" images in a batch are smaller',
        truth=lambda: "a",
        solution=lambda: "a",
        hint="what work is done once per call, whatever the number of images?",
        mistakes=(
            Mistake(lambda: "b", "the precision is the same; the arithmetic is grouped, not reduced."),
            Mistake(lambda: "c", "every image keeps its size."),
        ),
        options={"a": "overhead and hardware", "b": "lower precision", "c": "smaller images"},
    ),
    Exercise(
        "5",
        'how much smaller dynamic-range quantization makes the file, about: "a" 4 times, "b" 2 times, "c" 8 times',
        truth=_shrink,
        solution=lambda: "a",
        hint="compare the bytes of a float32 number with those of an 8-bit integer.",
        mistakes=(
            Mistake(lambda: "b", "that is float16; dynamic-range quantization stores weights in 8 bits."),
            Mistake(lambda: "c", "8 bits is one byte, and float32 takes four."),
        ),
        options={"a": "4 times", "b": "2 times", "c": "8 times"},
    ),
)

CONTEXT = {"matrix": np.array([[5, 2, 0], [1, 7, 3], [0, 2, 9]])}  # the notebook passes its own matrix
