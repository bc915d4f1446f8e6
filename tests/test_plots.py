"""Every figure helper labels what it draws."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from workbook import plots  # noqa: E402


def titled(fig) -> bool:
    return bool(fig._suptitle and fig._suptitle.get_text()) or all(ax.get_title() for ax in fig.axes if ax.axison)


def test_learning_curves_plot_both_splits():
    history = {"accuracy": [0.5, 0.6, 0.7], "val_accuracy": [0.4, 0.5, 0.55], "loss": [1, 0.8, 0.7]}
    ax = plots.learning_curves(history).axes[0]
    assert [line.get_label() for line in ax.lines] == ["training accuracy", "validation accuracy"]
    assert list(ax.lines[1].get_ydata()) == [0.4, 0.5, 0.55]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "accuracy" and ax.get_title()
    with pytest.raises(ValueError, match="No 'auc'"):
        plots.learning_curves(history, metric="auc")


def test_channels_shows_red_green_blue():
    image = np.zeros((4, 5, 3), dtype="uint8")
    image[..., 1] = 200
    fig = plots.channels(image)
    titles = [ax.get_title() for ax in fig.axes[:3]]
    assert titles == ["red channel", "green channel", "blue channel"]
    assert fig.axes[1].images[0].get_array().max() == 200
    for ax, channel in zip(fig.axes[:3], range(3)):  # brighter means more: 0 is black, 255 the full colour
        colormap = ax.images[0].get_cmap()
        assert np.allclose(colormap(0.0)[:3], 0) and colormap(1.0)[channel] == 1 and sum(colormap(1.0)[:3]) == 1
    with pytest.raises(ValueError, match="height, width, 3"):
        plots.channels(np.zeros((4, 5)))


def test_grids_title_every_image():
    fig = plots.image_grid([np.zeros((8, 8, 3))] * 3, ["a", "b", "c"], columns=2, title="Grid")
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["a", "b", "c"] and titled(fig)
    with pytest.raises(ValueError, match="3 images but 2 titles"):
        plots.image_grid([np.zeros((8, 8, 3))] * 3, ["a", "b"])
    maps = plots.feature_maps(np.random.default_rng(0).random((5, 5, 32)), count=6)
    assert len([ax for ax in maps.axes if ax.images]) == 6 and titled(maps)


def test_curves_and_bars_have_legends_and_labels():
    x = np.linspace(-5, 5, 11)
    ax = plots.curves(x, {"sigmoid": 1 / (1 + np.exp(-x))}, "Sigmoid", "z", "sigmoid(z)").axes[0]
    assert ax.get_legend() and ax.get_xlabel() == "z" and ax.get_title() == "Sigmoid"
    ax = plots.bars(["a", "b"], {"logits": [1, 2], "probabilities": [0.27, 0.73]}, "Softmax", "value").axes[0]
    assert len(ax.patches) == 4 and ax.get_ylabel() == "value" and ax.get_legend()


def test_sweep_overlays_validation_curves_with_a_legend():
    histories = {
        "learning_rate=0.1": {"accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.3]},
        "learning_rate=0.01": {"accuracy": [0.4, 0.6], "val_accuracy": [0.45, 0.55]},
    }
    fig = plots.sweep(histories, title="Validation accuracy per learning rate")
    (ax,) = fig.axes
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [
        "learning_rate=0.1: validation",
        "learning_rate=0.01: validation",
    ]
    assert list(ax.lines[1].get_ydata()) == [0.45, 0.55]
    assert ax.get_title() and ax.get_xlabel() == "epoch" and ax.get_ylabel() == "accuracy"


def test_sweep_panels_show_training_and_validation_per_run():
    histories = {f"droprate={rate}": {"accuracy": [0.5, 0.9], "val_accuracy": [0.4, 0.5]} for rate in (0.0, 0.5)}
    fig = plots.sweep(histories, title="Per dropout rate", train=True, panels=True)
    assert len(fig.axes) == 2 and titled(fig)
    for ax, label in zip(fig.axes, histories):
        assert ax.get_title() == label and [line.get_label() for line in ax.lines] == ["validation", "training"]
    with pytest.raises(ValueError, match="No 'val_loss'"):
        plots.sweep(histories, title="t", metric="loss")
    with pytest.raises(ValueError, match="No histories"):
        plots.sweep({}, title="t")


def test_confusion_matrix_shows_every_count_with_labelled_axes():
    matrix = np.array([[3, 1], [0, 5]])
    ax = plots.confusion_matrix(matrix, ["hat", "shoes"]).axes[0]
    assert [text.get_text() for text in ax.texts] == ["3", "1", "0", "5"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class" and ax.get_title()
    assert [label.get_text() for label in ax.get_xticklabels()] == ["hat", "shoes"]
    with pytest.raises(ValueError, match="2x2"):
        plots.confusion_matrix(np.zeros((3, 3)), ["hat", "shoes"])


def test_heatmaps_lie_over_their_images():
    images = [np.zeros((30, 40, 3))] * 2
    fig = plots.heatmaps(images, [np.eye(5), np.ones((5, 5))], ["a", "b"], columns=2)
    assert titled(fig) and [ax.get_title() for ax in fig.axes[:2]] == ["a", "b"]
    assert fig.axes[0].images[1].get_extent() == [0, 40, 30, 0]  # stretched over the whole image
    with pytest.raises(ValueError, match="2 images, 1 heatmaps"):
        plots.heatmaps(images, [np.eye(5)], ["a", "b"])
