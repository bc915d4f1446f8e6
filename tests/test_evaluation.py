"""Judging and using the model (notebook 12): metrics against counting by hand, Grad-CAM against automatic
differentiation, photos turned upright, the final model. No test may reach the network."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import REAL_DATA
from PIL import Image

from workbook import data, evaluation, images, models


def reference_metrics(true: list[int], predicted: list[int], classes: int) -> dict[str, list[float]]:
    """Precision, recall and F1 by counting image by image, with no matrix: the definitions, written out."""
    result = {"precision": [], "recall": [], "f1": [], "support": []}
    for label in range(classes):
        hits = sum(1 for t, p in zip(true, predicted) if t == label and p == label)
        called = sum(1 for p in predicted if p == label)
        actual = sum(1 for t in true if t == label)
        precision = hits / called if called else 0.0
        recall = hits / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result["precision"].append(precision)
        result["recall"].append(recall)
        result["f1"].append(f1)
        result["support"].append(actual)
    return result


@pytest.mark.parametrize("seed", range(5))
def test_per_class_metrics_match_counting_image_by_image(seed):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 7, 200)  # classes 7-9 never occur
    predicted = np.where(rng.random(200) < 0.6, true, rng.integers(0, 9, 200))  # class 9 never predicted
    matrix = evaluation.confusion_matrix(true, predicted, 10)
    for i in range(10):
        for j in range(10):
            assert matrix[i, j] == sum(1 for t, p in zip(true, predicted) if t == i and p == j)
    computed = evaluation.per_class_metrics(matrix)
    expected = reference_metrics(true.tolist(), predicted.tolist(), 10)
    for name in ("precision", "recall", "f1"):
        assert np.allclose(computed[name], expected[name], atol=1e-12), name
    assert computed["support"].tolist() == expected["support"]
    assert computed["recall"][8] == 0 and computed["precision"][9] == 0  # nothing to count: 0, not NaN


def test_confusion_matrix_refuses_what_it_cannot_count():
    with pytest.raises(ValueError, match="equally long"):
        evaluation.confusion_matrix([0, 1], [0], 2)
    with pytest.raises(ValueError, match="0..1"):
        evaluation.confusion_matrix([0, 2], [0, 1], 2)


def test_most_confused_lists_the_largest_mistakes_first():
    matrix = np.array([[5, 3, 0], [1, 4, 7], [0, 3, 9]])
    assert evaluation.most_confused(matrix, ["a", "b", "c"], count=3) == [("b", "c", 7), ("a", "b", 3), ("c", "b", 3)]
    assert evaluation.most_confused(np.eye(3, dtype=int), ["a", "b", "c"]) == []


def autodiff_gradients(head: keras.Model, maps: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The same gradient by the backend's automatic differentiation, through pooling and the whole head."""

    def total_score(maps):
        logits = head(keras.ops.mean(maps, axis=(1, 2)), training=False)
        return keras.ops.sum(keras.ops.take_along_axis(logits, keras.ops.convert_to_tensor(classes[:, None]), axis=1))

    if keras.config.backend() == "jax":
        import jax

        return np.asarray(jax.grad(total_score)(jax.numpy.asarray(maps)))
    if keras.config.backend() == "torch":
        import torch

        tensor = torch.tensor(maps, requires_grad=True)
        total_score(tensor).backward()
        return tensor.grad.numpy()
    import tensorflow as tf

    tensor = tf.convert_to_tensor(maps)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        total = total_score(tensor)
    return tape.gradient(total, tensor).numpy()


@pytest.mark.skipif(not REAL_DATA, reason="the closed form is checked on the real images (set WORKBOOK_DATA)")
@pytest.mark.parametrize("size_inner, droprate", [(None, 0.0), (100, 0.0), (100, 0.2)])
def test_closed_form_gradient_matches_automatic_differentiation_on_real_images(size_inner, droprate):
    keras.utils.set_random_seed(3)
    base = models.base_model(None, 150)
    images, labels = next(iter(data.load_split("test", 150, 16, shuffle=True, seed=5)))
    maps = base.predict(images, verbose=0)  # (16, 5, 5, 2048), the last feature maps
    head = models.make_head(learning_rate=0.01, size_inner=size_inner, droprate=droprate)
    head.fit(maps.mean(axis=(1, 2)), labels, epochs=5, verbose=0)  # trained, so ReLU masks are mixed
    if size_inner:
        inner = keras.ops.convert_to_numpy(head.layers[1](maps.mean(axis=(1, 2))))
        assert 0 < (inner > 0).mean() < 1
    for classes in (np.argmax(labels, axis=1), np.arange(16) % 10):
        closed = evaluation.class_score_gradients(head, maps, classes)
        automatic = autodiff_gradients(head, maps, classes)
        assert closed.shape == maps.shape and np.abs(automatic).max() > 1e-4
        assert np.abs(closed - automatic).max() <= 1e-5


def test_class_activation_maps_are_scaled_to_one_and_need_a_pooled_head():
    rng = np.random.default_rng(0)
    maps = rng.random((4, 5, 5, 32)).astype("float32")
    head = models.make_head(size_inner=8, num_features=32)
    heat = evaluation.class_activation_maps(head, maps, [0, 1, 2, 3])
    assert heat.shape == (4, 5, 5) and heat.min() >= 0 and heat.max() <= 1
    assert all(np.isclose(one.max(), 1) or one.max() == 0 for one in heat)
    tanh_head = keras.Sequential([keras.Input((32,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Dense\\(relu\\)"):
        evaluation.class_score_gradients(tanh_head, maps, [0, 1, 0, 1])


# A photo 40 px wide and 24 high, its corners coloured, so any turn or mirror shows.
def corner_photo() -> Image.Image:
    pixels = np.full((24, 40, 3), 128, dtype="uint8")
    pixels[:8, :8], pixels[:8, -8:], pixels[-8:, :8] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_photo_is_turned_upright_as_its_exif_tag_says(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"photo_{orientation}.png"  # PNG: lossless, so TensorFlow and Pillow decode the same pixels
    corner_photo().save(path, exif=exif)
    upright = np.asarray(_viewer(path), dtype="float32")
    expected = images.resize_bilinear(upright, 30)  # what the pipeline does, upright
    photo = data.load_photo(path, 30)
    assert photo.shape == (30, 30, 3) and np.abs(photo - expected).max() < 1e-3
    if orientation in (5, 6, 7, 8):  # turned a quarter: the unturned image is far from it
        assert np.abs(data.load_image(path, 30) - expected).mean() > 10


def _viewer(path) -> Image.Image:
    """What a photo viewer shows: Pillow's own EXIF transpose."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(Image.open(path)).convert("RGB")


def test_a_jpeg_from_a_phone_is_turned_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: the viewer turns it 90 degrees clockwise
    path = tmp_path / "phone.jpg"
    corner_photo().save(path, exif=exif, quality=95)
    photo = data.load_photo(path, 60)
    assert photo[:10, -10:, 0].mean() > 200  # the red corner (top left when stored) is now top right
    assert photo[:10, :10, 2].mean() > 180  # and the blue one (bottom left) top left


def test_final_model_takes_raw_pixels_and_returns_probabilities(tmp_path):
    keras.utils.set_random_seed(1)
    base = models.base_model(None, 71)
    head = models.make_head(size_inner=10)
    model = models.final_model(base, head)
    pixels = np.random.default_rng(0).uniform(0, 255, (3, 71, 71, 3)).astype("float32")
    probabilities = model.predict(pixels, verbose=0)
    vectors = base.predict(keras.applications.xception.preprocess_input(pixels.copy()), verbose=0).mean(axis=(1, 2))
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(head.predict(vectors, verbose=0)))
    assert np.allclose(probabilities.sum(axis=1), 1) and np.allclose(probabilities, expected, atol=1e-6)
    model.save(tmp_path / "final.keras")
    reloaded = keras.saving.load_model(tmp_path / "final.keras")
    assert np.allclose(reloaded.predict(pixels, verbose=0), probabilities, atol=1e-7)


def test_model_card_holds_every_section():
    card = evaluation.model_card(
        "m", {"input": "150 px"}, {"test": "0.800"}, {"hat": "0.90"}, {"parameters": "1"}, {"one": "5 ms"}, note="N"
    )
    for part in ("# Model card: m", "**N**", "## Recipe", "| input | 150 px |", "## Accuracy", "| test | 0.800 |"):
        assert part in card
    assert "| hat | 0.90 |" in card and "| one | 5 ms |" in card
