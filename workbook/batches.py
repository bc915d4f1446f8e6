"""Batches for `fit` that take a new order, from a seed and the epoch, after every epoch: one `keras.utils.PyDataset`.

`ImageBatches` reads image files (the loader of the JAX and PyTorch backends); `EpochViews` serves
cached vectors of augmented views (notebook 09). Both share the order and the epoch counting here.
"""

from __future__ import annotations

import concurrent.futures
import copy
import functools
import os
from pathlib import Path

import numpy as np

from workbook import backend
from workbook.backend import keras
from workbook.dataset import class_folders, images_below
from workbook.errors import DataError


class ShuffledBatches(keras.utils.PyDataset):
    """`count` items in batches of `batch_size`; shuffled (with `seed` and the epoch) or in order.

    Keras calls `on_epoch_end` after each epoch of `fit`, so `epoch` counts the epochs served.
    Subclasses define `__getitem__` with `chosen(index)`, the items of batch `index`.
    """

    def __init__(self, count: int, batch_size: int, shuffle: bool, seed: int):
        # No worker threads of Keras' own: with workers=2, fit on JAX did not train on the batches in their
        # order (the head ended 1.5e-3 away from training batch by batch); images are read in threads anyway.
        super().__init__()
        self.count, self.batch_size, self.shuffle, self.seed = count, batch_size, shuffle, seed
        self.max_batches: int | None = None
        self.epoch = 0

    def __len__(self) -> int:
        batches = -(-self.count // self.batch_size)
        return batches if self.max_batches is None else min(batches, self.max_batches)

    def order(self) -> np.ndarray:
        """This epoch's order of the items."""
        if not self.shuffle:
            return np.arange(self.count)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.count)

    def chosen(self, index: int) -> np.ndarray:
        """The indices of the items of batch `index`; IndexError past the last batch."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        return self.order()[index * self.batch_size : (index + 1) * self.batch_size]

    def __iter__(self):
        return (self[index] for index in range(len(self)))

    def on_epoch_end(self) -> None:
        self.epoch += 1


class ImageBatches(ShuffledBatches):
    """Batches of (images, one-hot labels) read with Pillow and numpy: the loader of the JAX and PyTorch backends.

    It reads a split the way `keras.utils.image_dataset_from_directory` does (class folders in
    sorted order, images in sorted order, resized with `images.resize_bilinear`), decodes each
    batch's images in threads, and is a `keras.utils.PyDataset`, so `fit`, `evaluate` and `predict`
    take it on every backend. A shuffled one (the training split) takes a new order, from `seed`
    and the epoch, after every epoch.
    `map(function)` calls `function(images, labels)` on each batch, as `tf.data`'s `map` does.
    Unlike a `tf.data` dataset, `fit` shuffles the order of a PyDataset's batches each epoch unless
    given `shuffle=False`: pass that where the order matters (notebook 05 trains two ways on the
    same batches in the same order).

    Args:
        directory: a folder of class folders.
        image_size: the side of the square images, in pixels.
        batch_size: images per batch.
        shuffle: whether to take a new order every epoch.
        seed: what the order is drawn from, with the epoch.
    """

    def __init__(self, directory: Path, image_size: int, batch_size: int = 32, shuffle: bool = False, seed: int = 1):
        self.directory = Path(directory)
        folders = class_folders(self.directory)
        self.class_names = [folder.name for folder in folders]
        pairs = [(path, label) for label, folder in enumerate(folders) for path in images_below(folder)]
        if not pairs:
            raise DataError(f"No images found in {self.directory}: it needs one folder of images per class")
        super().__init__(len(pairs), batch_size, shuffle, seed)
        self.file_paths = [str(path) for path, _ in pairs]
        self._labels = np.eye(len(self.class_names), dtype="float32")[[label for _, label in pairs]]
        self.image_size = image_size
        self._functions: list = []
        print(f"Found {len(pairs)} files belonging to {len(self.class_names)} classes.")

    def map(self, function) -> ImageBatches:
        """The same batches with a function applied to each.

        Args:
            function: `function(images, labels) -> (images, labels)`.

        Returns:
            A new `ImageBatches`; this one is left as it is.
        """
        mapped = copy.copy(self)
        mapped._functions = [*self._functions, function]
        return mapped

    def prepared(self, preprocess, max_batches: int | None) -> ImageBatches:
        """The same batches, at most `max_batches` of them, with `preprocess` (if any) applied to the images."""
        batches = self.map(lambda images, labels: (preprocess(images), labels)) if preprocess else copy.copy(self)
        batches.max_batches = max_batches
        return batches

    def __getitem__(self, index: int):
        chosen = self.chosen(index)
        paths = [self.file_paths[i] for i in chosen]
        images = np.stack(list(_readers().map(lambda path: read_for_pipeline(path, self.image_size), paths)))
        labels = self._labels[chosen]
        for function in self._functions:
            images, labels = function(images, labels)
        return images, labels


class EpochViews(ShuffledBatches):
    """Batches of cached augmented views: in epoch e, view e % views of every image, shuffled with (seed, e).

    Args:
        features: (views, images, features) vectors.
        labels: (images, classes) one-hot labels.
        batch_size: images per batch.
        seed: what each epoch's order is drawn from, with the epoch.
        shuffle: whether to shuffle each epoch.
    """

    def __init__(self, features: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, shuffle: bool = True):
        super().__init__(len(labels), batch_size, shuffle, seed)
        self.features, self.labels = features, labels

    def __getitem__(self, index: int):
        chosen = self.chosen(index)
        return self.features[self.epoch % len(self.features)][chosen], self.labels[chosen]

    def on_epoch_end(self) -> None:
        """Nothing: `follower()` sets the epoch. On TensorFlow the adapter reads batches ahead, so counting
        epochs here served half of epoch 0's batches from view 1 (tests/test_training.py)."""

    def follower(self) -> keras.callbacks.Callback:
        """The callback that tells this dataset which epoch begins (pass it to `fit`)."""
        dataset = self

        class FollowEpochs(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                dataset.epoch = epoch

        return FollowEpochs()


@functools.cache
def _readers():
    """Threads that decode images (Pillow and numpy release the GIL while they work)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))


def read_for_pipeline(path: str, image_size: int) -> np.ndarray:
    """One image as the training pipeline reads it (`backend.read_image`); DataError naming the check if it cannot."""
    try:
        return backend.read_image(path, image_size)
    except ValueError as error:
        raise DataError(f"{path} cannot be decoded as an image ({error}); run `python -m workbook check`") from None
