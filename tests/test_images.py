"""The framework-free image reading (workbook.images) that the JAX/PyTorch loader, photos and serving share."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_image
from PIL import Image

from workbook import data, images


def test_bytes_and_paths_decode_to_the_same_pixels(tmp_path):
    path = write_image(tmp_path / "a.jpg", size=(90, 120))
    from_path = images.decode(path)
    assert from_path.dtype == np.uint8 and from_path.shape == (120, 90, 3)
    np.testing.assert_array_equal(images.decode(path.read_bytes()), from_path)


def test_a_heic_photo_is_refused_with_the_format_and_the_remedy(tmp_path):
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    with pytest.raises(ValueError, match="HEIC images cannot be read here; save or export the photo as JPEG"):
        images.decode(heic)
    (tmp_path / "phone.jpg").write_bytes(heic)  # a wrong suffix does not hide it
    with pytest.raises(ValueError, match="HEIC"):
        images.decode(tmp_path / "phone.jpg")


def test_text_is_not_an_image():
    with pytest.raises(ValueError, match="cannot identify image file"):
        images.decode(b"<html>not a jpeg</html>")


def test_the_framework_free_photo_equals_the_photo_loader_on_a_lossless_file(tmp_path):
    exif = Image.Exif()
    exif[images.ORIENTATION_TAG] = 6
    path = tmp_path / "sideways.png"  # PNG: every decoder reads the same pixels
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 64, 3), dtype=np.uint8)).save(path, exif=exif)
    assert images.orientation(path) == 6 and images.orientation(path.read_bytes()) == 6
    expected = data.load_photo(path, 50)
    np.testing.assert_allclose(images.photo(path.read_bytes(), 50), expected, atol=1e-5)
    assert np.abs(images.read(path, 50) - expected).mean() > 10  # the turn matters
