"""Draw the teaching diagrams that notebook markdown shows: `python images/make_figures.py [OUT_DIR]`.

Never edit the PNG files by hand; change this script and run it again.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

HERE = Path(__file__).resolve().parent


def _grid(ax, origin, values, cell=1.0, highlight=None, color="#dddddd", title=""):
    """Draw a matrix of numbers as a grid of squares, optionally highlighting a (row, col, size) window."""
    x0, y0 = origin
    rows, cols = values.shape
    for row in range(rows):
        for col in range(cols):
            inside = (
                highlight
                and highlight[0] <= row < highlight[0] + highlight[2]
                and highlight[1] <= col < highlight[1] + highlight[2]
            )
            ax.add_patch(
                Rectangle(
                    (x0 + col * cell, y0 - row * cell),
                    cell,
                    cell,
                    facecolor="#ffd27f" if inside else color,
                    edgecolor="black",
                )
            )
            ax.text(
                x0 + (col + 0.5) * cell,
                y0 - row * cell + 0.5 * cell,
                f"{values[row, col]:g}",
                ha="center",
                va="center",
                fontsize=9,
            )
    ax.text(x0 + cols * cell / 2, y0 + 1.4 * cell, title, ha="center", fontsize=11)


def _arrow(ax, start, end, text=""):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=18, color="black"))
    ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.4, text, ha="center", fontsize=9)


def _finish(fig, ax, path: Path, title: str, xlim: tuple, ylim: tuple) -> None:
    """Title the diagram, frame it without axes, save it and free its memory."""
    ax.set_title(title)
    ax.set(xlim=xlim, ylim=ylim)
    ax.axis("off")
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def convolution(path: Path) -> None:
    """A 3x3 filter over a 6x6 input: one output value is the sum of a window times the filter."""
    image = np.array([[0, 0, 0, 9, 9, 9]] * 6, dtype=float)
    kernel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
    output = np.array([[np.sum(image[r : r + 3, c : c + 3] * kernel) for c in range(4)] for r in range(4)])
    fig, ax = plt.subplots(figsize=(11, 4.2))
    _grid(ax, (0, 5), image, highlight=(0, 1, 3), title="input (one channel)")
    _grid(ax, (8, 4), kernel, color="#b5d3ff", title="3x3 filter (weights)")
    _grid(ax, (13.5, 4.5), output, highlight=(0, 1, 1), title="feature map")
    _arrow(ax, (6.3, 3), (7.7, 3), "x")
    _arrow(ax, (11.3, 3), (13.2, 3), "sum")
    _finish(
        fig, ax, path, "Convolution: slide the filter, multiply the window element-wise, add up", (-0.5, 18), (-1.5, 7)
    )


def global_average_pooling(path: Path) -> None:
    """A (5, 5, C) stack of feature maps becomes a C-long vector: one mean per map."""
    fig, ax = plt.subplots(figsize=(10, 4))
    for depth in range(4):
        ax.add_patch(
            Rectangle(
                (depth * 0.6, depth * 0.6), 4, 4, facecolor=plt.cm.viridis(depth / 4), edgecolor="black", alpha=0.85
            )
        )
    ax.text(2.9, -0.9, "feature maps (5, 5, 2048) at 150 px", ha="center", fontsize=10)
    _arrow(ax, (6.8, 2.5), (9.2, 2.5), "mean of each map")
    for index in range(4):
        ax.add_patch(Rectangle((10, 4 - index), 0.9, 0.9, facecolor=plt.cm.viridis(index / 4), edgecolor="black"))
    ax.text(10.45, -0.9, "vector (2048,)", ha="center", fontsize=10)
    _finish(fig, ax, path, "Global average pooling: one number per feature map, no weights", (-0.5, 12.5), (-1.5, 6))


def transfer_learning(path: Path) -> None:
    """The notebook-04 model: frozen Xception base, pooling, a new 10-class dense layer."""
    boxes = [
        ("image\n(150, 150, 3)", "#eeeeee"),
        ("Xception base\nfrozen, training=False\n(5, 5, 2048)", "#b5d3ff"),
        ("global average\npooling\n(2048,)", "#dddddd"),
        ("Dense(10)\ntrained\nlogits (10,)", "#ffd27f"),
    ]
    fig, ax = plt.subplots(figsize=(11, 3))
    for index, (label, color) in enumerate(boxes):
        ax.add_patch(Rectangle((index * 3.2, 0), 2.4, 2, facecolor=color, edgecolor="black"))
        ax.text(index * 3.2 + 1.2, 1, label, ha="center", va="center", fontsize=9)
        if index:
            _arrow(ax, (index * 3.2 - 0.75, 1), (index * 3.2 - 0.05, 1))
    _finish(
        fig,
        ax,
        path,
        "Transfer learning: keep ImageNet's features, train a new top for our 10 classes",
        (-0.3, 12.6),
        (-0.4, 2.6),
    )


FIGURES = {
    "convolution.png": convolution,
    "global_average_pooling.png": global_average_pooling,
    "transfer_learning.png": transfer_learning,
}


def main(out_dir: Path = HERE) -> list[Path]:
    """Draw every figure into `out_dir` and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in FIGURES.items():
        draw(out_dir / name)
        paths.append(out_dir / name)
    return paths


if __name__ == "__main__":
    for written in main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(written)
