"""Reading images with Pillow and numpy only: no Keras, no framework.

One implementation for everything that reads images without TensorFlow: the training pipeline of
the JAX and PyTorch backends (`batches.ImageBatches`), the photo loader of notebook 12
(`data.load_photo`) and the serving code of notebook 13, which must run where only onnxruntime,
numpy and Pillow are installed. `resize_bilinear` repeats `tf.image.resize`'s arithmetic, so a
model trained through `tf.data` sees the same pixels here.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")  # what Keras' loader reads
ORIENTATION_TAG = 0x0112  # EXIF

# Formats Pillow cannot open that phones and browsers produce: the leading bytes that name them.
_UNSUPPORTED = {b"ftypheic": "HEIC", b"ftypheix": "HEIC", b"ftypmif1": "HEIF", b"ftypavif": "AVIF"}

# EXIF orientation values and the numpy operation that turns the stored pixels upright.
_UPRIGHT = {
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # turned 180°
    4: lambda a: a[::-1],  # mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),  # mirrored along the main diagonal
    6: lambda a: np.rot90(a, -1),  # stored turned 90° counter-clockwise: turn it clockwise
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),  # mirrored along the other diagonal
    8: lambda a: np.rot90(a, 1),  # stored turned 90° clockwise: turn it counter-clockwise
}

Source = str | Path | bytes


def _open(source: Source) -> Image.Image:
    """Pillow's image for a path or for the bytes of a file."""
    return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)


def unsupported_format(head: bytes) -> str | None:
    """The name of a known format Pillow cannot decode (HEIC, HEIF, AVIF) from a file's first bytes, if it is one."""
    return _UNSUPPORTED.get(head[4:12])


def decode(source: Source) -> np.ndarray:
    """An image file (a path or its bytes) decoded to RGB: uint8, shape (height, width, 3).

    Raises ValueError with the reason for anything Pillow cannot decode (not an image, truncated,
    too many pixels, or a format such as HEIC that it does not read).
    """
    try:
        with _open(source) as opened:
            return np.asarray(opened.convert("RGB"))
    except (OSError, Image.DecompressionBombError) as error:
        head = source[:16] if isinstance(source, bytes) else _head(source)
        known = unsupported_format(head)
        if known:
            raise ValueError(f"{known} images cannot be read here; save or export the photo as JPEG") from None
        raise ValueError(str(error)) from None


def _head(path: str | Path) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read(16)
    except OSError:
        return b""


def _sample_points(out: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear sampling along one axis with half-pixel centres: lower index, upper index, weight of the upper."""
    source = (np.arange(out, dtype=np.float32) + 0.5) * np.float32(size / out) - 0.5
    lower = np.floor(source)
    return (
        np.clip(lower, 0, size - 1).astype(np.intp),
        np.clip(np.ceil(source), 0, size - 1).astype(np.intp),
        (source - lower).astype(np.float32),
    )


def resize_bilinear(pixels: np.ndarray, image_size: int) -> np.ndarray:
    """`tf.image.resize(pixels, (image_size, image_size))` in numpy: the same float32 steps, the same result."""
    pixels = pixels.astype(np.float32)
    rows_low, rows_high, row_weight = _sample_points(image_size, pixels.shape[0])
    cols_low, cols_high, col_weight = _sample_points(image_size, pixels.shape[1])
    col_weight = col_weight[None, :, None]
    top, bottom = pixels[rows_low], pixels[rows_high]
    top = top[:, cols_low] + (top[:, cols_high] - top[:, cols_low]) * col_weight
    bottom = bottom[:, cols_low] + (bottom[:, cols_high] - bottom[:, cols_low]) * col_weight
    return top + (bottom - top) * row_weight[:, None, None]


def read(source: Source, image_size: int) -> np.ndarray:
    """An image decoded with Pillow and resized like the training pipeline: float32 0-255, (size, size, 3)."""
    return resize_bilinear(decode(source), image_size)


def orientation(source: Source) -> int:
    """The EXIF orientation tag of an image file (1, upright, when it has none or cannot be read)."""
    try:
        with _open(source) as opened:
            return int(opened.getexif().get(ORIENTATION_TAG, 1))
    except (OSError, ValueError):
        return 1


def upright(pixels: np.ndarray, tag: int) -> np.ndarray:
    """`pixels` turned as EXIF orientation `tag` says a viewer should show them (a square stays a square)."""
    return np.ascontiguousarray(_UPRIGHT.get(tag, lambda a: a)(pixels))


def photo(source: Source, image_size: int) -> np.ndarray:
    """A photo for prediction without any framework: `read`, then turned upright as its EXIF tag says.

    Turning after resizing to a square gives the same pixels as turning first.
    """
    return upright(read(source, image_size), orientation(source))
