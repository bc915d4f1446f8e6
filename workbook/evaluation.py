"""Judging a trained classifier: confusion matrix, per-class metrics, class-activation heatmaps, a model card.

Notebook 12 (`12_using_the_model.ipynb`) introduces these helpers.
"""

from __future__ import annotations

import numpy as np

from workbook.backend import keras
from workbook.errors import ArgumentError


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class): row i, column j = images of class i predicted as class j."""
    true, predicted = np.asarray(true), np.asarray(predicted)
    if true.shape != predicted.shape or true.ndim != 1:
        raise ArgumentError(f"Give two 1-D arrays of class indices, equally long, not {true.shape}, {predicted.shape}")
    if len(true) and (min(true.min(), predicted.min()) < 0 or max(true.max(), predicted.max()) >= num_classes):
        raise ArgumentError(f"Class indices must be in 0..{num_classes - 1}")
    matrix = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(matrix, (true, predicted), 1)
    return matrix


def per_class_metrics(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support (true images) of each class, from a confusion matrix.

    Precision: of the images predicted as the class, the share that are. Recall: of the images of
    the class, the share predicted as it. F1: their harmonic mean. A ratio with nothing to count
    (a class never predicted, or absent) is 0.
    """
    matrix = np.asarray(matrix, dtype=float)
    correct, predicted, support = np.diag(matrix), matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(correct, predicted, out=np.zeros_like(correct), where=predicted > 0)
    recall = np.divide(correct, support, out=np.zeros_like(correct), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(correct), where=total > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(int)}


def most_confused(matrix: np.ndarray, class_names: list[str], count: int = 5) -> list[tuple[str, str, int]]:
    """The `count` largest off-diagonal cells: (true class, predicted class, images), largest first."""
    off_diagonal = np.asarray(matrix).copy()
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(-off_diagonal, axis=None, kind="stable")[:count]
    pairs = [np.unravel_index(index, off_diagonal.shape) for index in order]
    return [(class_names[i], class_names[j], int(off_diagonal[i, j])) for i, j in pairs if off_diagonal[i, j] > 0]


def _dense_layers(head: keras.Model) -> list:
    """The head's Dense layers, after checking it is pooling's usual top: Dense(relu) layers, Dropout, Dense logits."""
    dense = [layer for layer in head.layers if isinstance(layer, keras.layers.Dense)]
    others = [layer for layer in head.layers if not isinstance(layer, keras.layers.Dense | keras.layers.Dropout)]
    relu, linear = keras.activations.relu, keras.activations.linear
    if (
        not dense
        or any(not isinstance(layer, keras.layers.InputLayer) for layer in others)
        or any(layer.activation is not relu for layer in dense[:-1])
        or dense[-1].activation is not linear
    ):
        raise ArgumentError("The closed form needs a head of Dense(relu) and Dropout layers ending in Dense logits")
    return dense


def class_score_gradients(head: keras.Model, maps, classes) -> np.ndarray:
    """The gradient of each image's class score (logit) with respect to the last feature maps, in closed form.

    The head sees the maps' average over positions, so the gradient is the same at every position:
    the output layer's weights for the class, back through each inner layer's ReLU mask and weights,
    divided by the maps' area. `maps`: (images, height, width, channels); `classes`: one index per image.
    """
    dense = _dense_layers(head)
    maps = keras.ops.convert_to_tensor(maps, dtype="float32")
    vectors, masks = keras.ops.mean(maps, axis=(1, 2)), []
    for layer in dense[:-1]:
        before = keras.ops.matmul(vectors, layer.kernel) + layer.bias
        masks.append(keras.ops.cast(before > 0, "float32"))
        vectors = keras.ops.relu(before)
    gradient = keras.ops.transpose(keras.ops.take(dense[-1].kernel, np.asarray(classes), axis=1))
    for layer, mask in zip(reversed(dense[:-1]), reversed(masks)):
        gradient = keras.ops.matmul(gradient * mask, keras.ops.transpose(layer.kernel))
    height, width = maps.shape[1], maps.shape[2]
    per_position = keras.ops.broadcast_to(gradient[:, None, None, :] / (height * width), maps.shape)
    return keras.ops.convert_to_numpy(per_position)


def class_activation_maps(head: keras.Model, maps, classes) -> np.ndarray:
    """Grad-CAM heatmaps (images, height, width) in 0..1: where the maps raise each image's class score.

    Each map is weighted by the average gradient of the class score over its positions, the weighted
    maps are summed, negative values set to 0, and each heatmap divided by its maximum.
    """
    weights = class_score_gradients(head, maps, classes).mean(axis=(1, 2))
    heat = np.maximum(np.einsum("nhwc,nc->nhw", np.asarray(maps, dtype="float32"), weights), 0)
    peak = heat.max(axis=(1, 2), keepdims=True)
    return np.divide(heat, peak, out=np.zeros_like(heat), where=peak > 0)


def model_card(name: str, recipe: dict, accuracy: dict, recall: dict, sizes: dict, timing: dict, note: str = "") -> str:
    """A one-page model card in Markdown: what the model is, how it was made, how well and how fast it works."""

    def table(rows: dict, header: tuple[str, str]) -> list[str]:
        return [f"| {header[0]} | {header[1]} |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows.items())]

    lines = [f"# Model card: {name}", ""]
    if note:
        lines += [f"**{note}**", ""]
    lines += ["## Recipe", "", *table(recipe, ("setting", "value")), "", "## Accuracy", ""]
    lines += [*table(accuracy, ("split", "accuracy")), "", "## Recall per class (test split)", ""]
    lines += [*table(recall, ("class", "recall")), "", "## Size and speed", ""]
    lines += [*table({**sizes, **timing}, ("what", "value")), ""]
    return "\n".join(lines)
