"""Loading the clothing images: the input pipeline of a split (notebook 04) and single images as it makes them.

On TensorFlow the pipeline is `keras.utils.image_dataset_from_directory`'s `tf.data` dataset; on JAX
and PyTorch `batches.ImageBatches`, which reads the same files the same way with Pillow and numpy
(`images`). A single image goes through the same decoding and resizing (`load_image`, `load_photo`).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import numpy as np

from workbook import backend, images, settings
from workbook.backend import keras
from workbook.batches import ImageBatches, read_for_pipeline
from workbook.dataset import SPLITS, class_folders, example_image, find_dataset, images_below, is_hidden
from workbook.dataset_check import MIN_IMAGE_SIZE, check_dataset, class_mismatches
from workbook.errors import ArgumentError, DataError
from workbook.files import move_into_place
from workbook.images import IMAGE_SUFFIXES

# Notebooks call these through `data` (data.find_dataset, data.example_image, data.ImageBatches).
__all__ = ["SPLITS", "ImageBatches", "example_image", "find_dataset", "load_image", "load_photo", "load_split"]

# image_dataset_from_directory's `format` for this backend (notebook 04): "tf" on TensorFlow, "grain" on JAX or PyTorch.
FORMAT = backend.FORMAT


def split_dir(split: str, root: Path | None = None) -> Path:
    """A folder of `split` that Keras can load without errors, saying which files it leaves out.

    A split is returned as it is when Keras would read only usable images from it. Otherwise the
    usable images are linked into a folder under the cache, and every file left out is printed.
    """
    if split not in SPLITS:
        raise ArgumentError(f"split must be one of {SPLITS}, not {split!r}")
    root = Path(root or find_dataset())
    mismatch = class_mismatches(root)
    if mismatch:
        raise DataError(
            "The splits disagree on the classes, so labels would not match:\n  " + "\n  ".join(map(str, mismatch))
        )
    report = check_dataset(root, splits=(split,))
    for problem in report.problems:
        print(f"Note: {problem}")
    excluded = {root / problem.path for problem in report.excluded(split)}
    # What image_dataset_from_directory would read: image suffixes anywhere below a class folder.
    read_by_keras = [path for folder in class_folders(root / split) for path in images_below(folder)]
    left_out = excluded | {path for path in read_by_keras if is_hidden(path.relative_to(root / split))}
    if left_out.isdisjoint(read_by_keras):
        return root / split
    # Keyed by every file of the split (name, size, time), so an added or removed image gives a new view.
    files = sorted(path for path in (root / split).rglob("*") if path.is_file())
    listing = [(str(path.relative_to(root)), path.stat().st_size, path.stat().st_mtime_ns) for path in files]
    key = hashlib.sha256(f"{root}|{sorted(map(str, left_out))}|{listing}".encode()).hexdigest()[:16]
    clean = settings.cache_dir() / "clean" / key / split
    if not clean.is_dir():
        _link_tree(root / split, clean, set(read_by_keras) - left_out)
    print(f"Left out {len(left_out)} file(s) of {split}/; loading from {clean}")
    return clean


def _link_tree(source: Path, target: Path, keep: list[Path] | set[Path]) -> None:
    """Mirror the class folders of `source` into `target`, with links to the files in `keep`.

    Built in a folder of this process's own, then renamed into place: a process that finds
    `target` already made by another uses that one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.partial-", dir=target.parent))
    try:
        for class_dir in class_folders(source):
            (staging / class_dir.name).mkdir()
        for path in sorted(keep):
            link = staging / path.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            try:
                link.symlink_to(path.resolve())
            except OSError:  # no symlinks (some Windows setups): copy instead
                shutil.copy2(path, link)
        move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def prepare(dataset, max_batches: int | None = None, preprocess: bool = True):
    """Apply Xception's preprocessing (unless `preprocess` is False), keep at most `max_batches` batches.

    Takes what `keras.utils.image_dataset_from_directory(..., format=FORMAT)` returns, or an
    `ImageBatches`. The result keeps `class_names` and `file_paths` (all of them, also when batches
    are left out).
    """
    if max_batches is not None and max_batches < 1:
        raise ArgumentError(f"max_batches must be None (every batch) or at least 1, not {max_batches}")
    function = keras.applications.xception.preprocess_input if preprocess else None
    if isinstance(dataset, ImageBatches):
        return dataset.prepared(function, max_batches)
    class_names, file_paths = dataset.class_names, dataset.file_paths
    dataset = backend.prepare_dataset(dataset, function, max_batches)
    dataset.class_names, dataset.file_paths = class_names, file_paths
    return dataset


def keras_dataset(
    directory: Path | str,
    image_size: int,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 1,
    format: str = FORMAT,
    verbose: bool = True,
):
    """Keras' own loader on one split folder, called as notebook 04 calls it: one-hot labels, square images.

    Args:
        directory: a folder with one folder of images per class, such as `split_dir("train")`.
        image_size: the side of the square images, in pixels.
        batch_size: images per batch.
        shuffle: whether to shuffle the files (with `seed`).
        seed: the seed of the shuffle.
        format: "tf" for a `tf.data` dataset, "grain" for a Grain one (no TensorFlow); `FORMAT` suits the backend.
        verbose: whether Keras prints how many files and classes it found.

    Returns:
        What `keras.utils.image_dataset_from_directory` returns: batches of 0-255 pixels and labels,
        with `class_names` and `file_paths`.
    """
    return keras.utils.image_dataset_from_directory(
        directory,
        label_mode="categorical",
        image_size=(image_size, image_size),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        format=format,
        verbose=verbose,
    )


def load_split(
    split: str,
    image_size: int = 150,
    batch_size: int = 32,
    seed: int = 1,
    max_batches: int | None = None,
    root: Path | None = None,
    shuffle: bool | None = None,
    preprocess: bool = True,
):
    """The notebook-04 pipeline for one split: shuffled (with `seed`) only for train unless `shuffle` says.

    On TensorFlow a `tf.data` dataset from `keras.utils.image_dataset_from_directory`; on JAX and
    PyTorch an `ImageBatches` (the same images, labels and order; JPEG pixels within a few grey levels).

    The dataset's `directory` is the folder it reads (the split, or its clean view in the cache).
    `preprocess=False` keeps the 0-255 pixels (for augmentation, which comes before preprocessing).
    """
    if image_size < MIN_IMAGE_SIZE:
        raise ArgumentError(f"image_size must be at least {MIN_IMAGE_SIZE} px (Xception's minimum), not {image_size}")
    directory = split_dir(split, root)
    shuffle = split == "train" if shuffle is None else shuffle
    if backend.FORMAT == "tf":
        dataset = keras_dataset(directory, image_size, batch_size, shuffle, seed)
    else:  # Keras' own Grain loader read 12.5 times slower here (benchmarks/loader_speed.py)
        dataset = ImageBatches(directory, image_size, batch_size, shuffle, seed)
    dataset = prepare(dataset, max_batches, preprocess)
    dataset.directory = directory
    return dataset


def load_image(path: Path | str, image_size: int):
    """One image exactly as the training pipeline makes it: decoded and resized the same way, float32 0-255.

    `keras.utils.image_dataset_from_directory` decodes each file to three channels and resizes it
    with `tf.image.resize` (plain bilinear, no antialiasing); this does the same for one file (on
    JAX and PyTorch what `ImageBatches` does), so a single photo is predicted on what the model was
    trained on. `keras.utils.load_img(target_size=...)` resizes differently (Pillow's filters);
    notebook 01 compares them. Like the pipeline, it ignores EXIF orientation. Returns an array of
    shape (image_size, image_size, 3).
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ArgumentError(f"image_size must be a positive number of pixels, such as 150; got {image_size!r}")
    path = Path(path)
    if not path.is_file():
        raise DataError(f"No image file at {path}: check the path (relative paths start in the notebook's folder)")
    with path.open("rb") as file:
        known = images.unsupported_format(file.read(16))
    if known:  # phones save HEIC by default, whatever the file's suffix
        raise ArgumentError(f"{path.name}: {known} images cannot be read here; save or export the photo as JPEG")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ArgumentError(f"{path.name}: the training pipeline reads only {', '.join(IMAGE_SUFFIXES)} files")
    return read_for_pipeline(str(path), image_size)


def load_photo(path: Path | str, image_size: int) -> np.ndarray:
    """A photo for prediction: `load_image`'s decoding and resizing, then turned upright as its EXIF tag says.

    Phones often store a photo sideways with an orientation tag; the training pipeline ignores the tag,
    a viewer applies it. Turning after resizing to a square is the same as before (notebook 12).
    """
    return images.upright(load_image(path, image_size), images.orientation(path))
