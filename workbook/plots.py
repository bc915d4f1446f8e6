"""One plotting helper per kind of figure; each has a title, axis labels and, where it helps, a legend."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.ticker import MaxNLocator

from workbook.errors import ArgumentError


def learning_curves(history, metric: str = "accuracy", title: str | None = None) -> plt.Figure:
    """Training and validation `metric` per epoch from a Keras History (or its `.history` dict)."""
    values = getattr(history, "history", history)
    if metric not in values:
        raise ArgumentError(f"No {metric!r} in this history; it has {sorted(values)}")
    epochs = np.arange(1, len(values[metric]) + 1)
    fig, ax = plt.subplots()
    ax.plot(epochs, values[metric], "o-", label=f"training {metric}")
    if f"val_{metric}" in values:
        ax.plot(epochs, values[f"val_{metric}"], "o-", label=f"validation {metric}")
    ax.set(title=title or f"{metric.capitalize()} per epoch", xlabel="epoch", ylabel=metric, xticks=epochs)
    ax.legend()
    return fig


def sweep(
    histories: Mapping, title: str, metric: str = "accuracy", train: bool = False, panels: bool = False
) -> plt.Figure:
    """Validation `metric` per epoch of several runs (a `training.sweep` result), one colour per run.

    `train=True` adds the training curves (dashed); `panels=True` gives each run its own axes.
    """
    if not histories:
        raise ArgumentError("No histories to plot: pass the dict that training.sweep returns")
    count = len(histories) if panels else 1
    fig, axes = plt.subplots(1, count, figsize=(4 * count + 2, 4), sharey=True, squeeze=False, layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, history) in enumerate(histories.items()):
        values = getattr(history, "history", history)
        if f"val_{metric}" not in values:
            raise ArgumentError(f"No 'val_{metric}' in the history of {label}; it has {sorted(values)}")
        ax, colour = axes[0, index if panels else 0], colours[index % len(colours)]
        epochs = np.arange(1, len(values[metric]) + 1)
        prefix = "" if panels else f"{label}: "
        ax.plot(epochs, values[f"val_{metric}"], "o-", color=colour, label=f"{prefix}validation")
        if train:
            ax.plot(epochs, values[metric], ".--", color=colour, label=f"{prefix}training")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=label if panels else title, xlabel="epoch", ylabel=metric if index == 0 or not panels else "")
        ax.legend(fontsize=8)
    if panels:
        fig.suptitle(title)
    return fig


def image_grid(images: Sequence, titles: Sequence[str], columns: int = 5, title: str | None = None) -> plt.Figure:
    """Images (arrays or PIL images) in a grid, each with its title."""
    if len(images) != len(titles):
        raise ArgumentError(f"Got {len(images)} images but {len(titles)} titles")
    rows = math.ceil(len(images) / columns)
    size = (2.6 * columns, 2.8 * rows) if columns > 2 else (4 * columns, 4.2 * rows)
    fig, axes = plt.subplots(rows, columns, figsize=size, squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, text in zip(axes.flat, images, titles):
        ax.imshow(np.asarray(image).astype("uint8"))
        ax.set_title(text, fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def channels(image, title: str = "The three channels of an image") -> plt.Figure:
    """The red, green and blue channels of an (h, w, 3) image as three intensity maps.

    Each map runs from black (0) to the full colour (255): the brighter a pixel, the more of that colour.
    """
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ArgumentError(f"Expected an (height, width, 3) image, got shape {array.shape}")
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for index, (ax, name) in enumerate(zip(axes, ("red", "green", "blue"))):
        full = tuple(float(channel == index) for channel in range(3))  # (1, 0, 0) for red, ...
        cmap = LinearSegmentedColormap.from_list(f"black_to_{name}", [(0.0, 0.0, 0.0), full])
        shown = ax.imshow(array[:, :, index], cmap=cmap, vmin=0, vmax=255)
        ax.set(title=f"{name} channel", xlabel="column (px)", ylabel="row (px)")
        fig.colorbar(shown, ax=ax, fraction=0.046, label="intensity (0-255)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def feature_maps(maps, count: int = 8, columns: int = 4, title: str = "Feature maps") -> plt.Figure:
    """The first `count` channels of an (h, w, channels) feature-map stack, one image each."""
    array = np.asarray(maps)
    if array.ndim != 3:
        raise ArgumentError(f"Expected an (height, width, channels) array, got shape {array.shape}")
    count = min(count, array.shape[-1])
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for index, ax in zip(range(count), axes.flat):
        ax.imshow(array[:, :, index], cmap="viridis")
        ax.set_title(f"map {index} ({array.shape[0]}x{array.shape[1]})", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def curves(x, series: Mapping[str, np.ndarray], title: str, xlabel: str, ylabel: str) -> plt.Figure:
    """Several functions of the same `x` on one set of axes (for example sigmoid and its input)."""
    fig, ax = plt.subplots()
    for label, y in series.items():
        ax.plot(x, y, label=label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.legend()
    return fig


def bars(
    labels: Sequence[str], series: Mapping[str, Sequence[float]], title: str, ylabel: str, xlabel: str = ""
) -> plt.Figure:
    """Grouped bars, one group per label and one colour per series (for example logits vs probabilities)."""
    positions = np.arange(len(labels))
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots()
    for offset, (name, values) in enumerate(series.items()):
        ax.bar(positions + offset * width, values, width, label=name)
    ax.set_xticks(positions + width * (len(series) - 1) / 2, labels, rotation=30, ha="right")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend()
    fig.tight_layout()
    return fig


def confusion_matrix(matrix, class_names: Sequence[str], title: str = "Confusion matrix") -> plt.Figure:
    """A confusion matrix (rows: true class, columns: predicted class) with the count in every cell."""
    counts = np.asarray(matrix)
    if counts.shape != (len(class_names), len(class_names)):
        raise ArgumentError(f"Expected a {len(class_names)}x{len(class_names)} matrix, got shape {counts.shape}")
    fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
    shown = ax.imshow(counts, cmap="Blues")
    for (row, column), count in np.ndenumerate(counts):
        colour = "white" if count > counts.max() / 2 else "black"
        ax.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set(title=title, xlabel="predicted class", ylabel="true class")
    fig.colorbar(shown, ax=ax, label="images")
    return fig


def heatmaps(
    images: Sequence, maps: Sequence, titles: Sequence[str], columns: int = 3, title: str = "Class-activation heatmaps"
) -> plt.Figure:
    """Each image with its heatmap (values 0..1, any resolution) stretched over it, half transparent."""
    if not len(images) == len(maps) == len(titles):
        raise ArgumentError(f"Got {len(images)} images, {len(maps)} heatmaps and {len(titles)} titles")
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.4 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, heat, text in zip(axes.flat, images, maps, titles):
        pixels = np.asarray(image).astype("uint8")
        ax.imshow(pixels)
        extent = (0, pixels.shape[1], pixels.shape[0], 0)
        shown = ax.imshow(heat, cmap="jet", alpha=0.45, extent=extent, interpolation="bilinear", vmin=0, vmax=1)
        ax.set_title(text, fontsize=9)
    fig.colorbar(shown, ax=axes, shrink=0.6, label="share of the strongest activation")
    fig.suptitle(title)
    return fig
