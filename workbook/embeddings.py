"""Pooled vectors and feature maps of the images, computed once under a frozen base and cached.

Notebook 05 (`05_learning_rate.ipynb`) shows why training a head on cached vectors is the same as
fitting the full model. Notebook 09 caches vectors of augmented views (`embed_views`), notebook 11
the feature maps below Xception's last block (`embed_maps`). The cache key is `cache`'s.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbook import cache, data, models
from workbook.backend import keras
from workbook.errors import ArgumentError
from workbook.progress import bar

preprocess_input = keras.applications.xception.preprocess_input


@dataclass
class Embeddings:
    """The features of one split (pooled vectors, vectors of augmented views, or feature maps), with their
    one-hot labels, in the split's file order."""

    features: np.ndarray  # kind "vectors": (images, features); "views": (views, images, features);
    # "maps": (images, height, width, channels), the maps of `embed_maps`
    labels: np.ndarray  # (images, classes) float32, one-hot
    class_names: list[str]
    files: list[str]  # relative to the split's folder
    path: Path  # the cache file they were read from or written to
    kind: str = "vectors"  # "vectors", "views" or "maps"


@dataclass(frozen=True)
class Augmentation:
    """How `embed_views` augments: the augmentation model, how many views of each image, and their seed."""

    model: keras.Model
    views: int
    seed: int


def embed(
    split: str, base: keras.Model, batch_size: int = 32, max_batches: int | None = None, root: Path | None = None
) -> Embeddings:
    """The pooled vectors of `split` under the frozen `base`: from the cache, or computed once and cached.

    The cache key covers the image files (names and contents), the image size, every weight of
    `base`, the code that computes the vectors and the library versions; any change computes them again.
    """
    return _embed(split, base, batch_size, max_batches, root)


def embed_views(
    split: str,
    base: keras.Model,
    augmentation: keras.Model,
    views: int,
    seed: int = 1,
    batch_size: int = 32,
    max_batches: int | None = None,
    root: Path | None = None,
) -> Embeddings:
    """The pooled vectors of `views` augmented versions of every training image, cached like `embed`'s.

    View v of image i is fixed by `seed`, i and v (see `augmented_views`), so the vectors are
    computed once and every head of a sweep trains on the same views. Notebook 09 explains it.
    The cache key adds the augmentation's settings, `views` and `seed`.
    """
    if split != "train":
        raise ArgumentError(
            f"Augment only training images: validation and test images are never augmented, not {split!r}"
        )
    if type(views) is not int or views < 1:
        raise ArgumentError(f"views must be a whole number of at least 1, not {views!r}")
    return _embed(split, base, batch_size, max_batches, root, Augmentation(augmentation, views, seed))


def embed_maps(
    split: str,
    base: keras.Model,
    layer: str = models.FINE_TUNED_FROM,
    batch_size: int = 32,
    max_batches: int | None = None,
    root: Path | None = None,
) -> Embeddings:
    """The feature maps that `layer` of the frozen `base` takes, for every image of `split`, cached like `embed`'s.

    Below `layer` everything is frozen and in inference mode, so each image always gives the same
    maps: fine-tuning the layers from `layer` on can train on them (notebook 11). The cache key adds
    `layer`. At 150 px, below block 14, they take 100 KB per image (about 350 MB for train and validation).
    The pooled vectors that `embed` returns cost little more from the maps: they are cached too, if missing.
    """
    return _embed(split, base, batch_size, max_batches, root, maps_at=layer)


def _settings(augmentation: keras.Model) -> list[dict]:
    """The augmentation layers' classes and settings, without the names and seeds that vary between runs."""
    return [
        {"class": type(layer).__name__, **{k: v for k, v in layer.get_config().items() if k not in ("name", "seed")}}
        for layer in augmentation.layers
    ]


def _embed(split, base, batch_size, max_batches, root, augment: Augmentation | None = None, maps_at: str | None = None):
    """What `embed`, `embed_views` and `embed_maps` share: the key, the cache, and computing on a miss."""
    dataset = data.load_split(
        split, base.input_shape[1], batch_size, max_batches=max_batches, root=root, shuffle=False, preprocess=False
    )
    used = dataset.file_paths[: max_batches * batch_size] if max_batches else dataset.file_paths
    files = [Path(path).relative_to(dataset.directory).as_posix() for path in used]
    key, what, stem = _key(split, base, files, dataset.directory, augment, maps_at)
    path = cache.cache_file("embeddings", stem, key)
    kind = "maps" if maps_at else "views" if augment else "vectors"
    cached = cache.read(path, key)
    if cached is not None:
        print(f"{split}: {what} of {len(files)} images loaded from the cache")
        class_names = [str(name) for name in cached["class_names"]]
        return Embeddings(cached["vectors"], cached["labels"], class_names, files, path, kind)
    extractor = models.maps_below(base, maps_at) if maps_at else keras.Model(*models.pooled_vectors(base))
    features, labels = _extract(dataset, extractor, f"{split}: computing {what} once", augment)
    cache.write(path, key, vectors=features, labels=labels, class_names=dataset.class_names)
    if maps_at:
        _pool_maps(features, labels, dataset.class_names, base, maps_at, key, batch_size)
    return Embeddings(features, labels, list(dataset.class_names), files, path, kind)


def _key(split, base, files, folder, augment: Augmentation | None, maps_at: str | None) -> tuple[dict, str, str]:
    """The cache key of a split's features, what they are (for messages) and the cache file's stem."""
    key = {
        "split": split,
        "files": cache.files_digest(files, folder),
        "images": len(files),
        "image_size": base.input_shape[1],
        "weights": cache.weights_digest(base),
        "code": cache.code_digest(__name__),
        **cache.versions(),
    }
    what, stem = "vectors", f"{split}_{key['image_size']}px"
    if augment:
        key = cache.as_stored(
            key | {"augmentation": _settings(augment.model), "views": augment.views, "seed": augment.seed}
        )
        what = f"vectors of {augment.views} augmented views"
    if maps_at:
        key["maps_at"] = maps_at
        what, stem = f"feature maps below {maps_at}", f"{stem}_{maps_at}"
    return key, what, stem


def _pool_maps(maps, labels, class_names, base, layer: str, key: dict, batch_size: int) -> None:
    """Cache the pooled vectors that `embed` would compute, from the maps below `layer`, unless cached already.

    The rest of the base runs on the maps in the same batches, so they are the numbers `embed` computes
    (on this machine, bit for bit), at the cost of the top layers only.
    """
    plain = {name: value for name, value in key.items() if name != "maps_at"}
    path = cache.cache_file("embeddings", f"{key['split']}_{key['image_size']}px", plain)
    if cache.read(path, plain) is None:
        vectors = models.pooled_from_maps(base, layer).predict(maps, batch_size=batch_size, verbose=0)
        cache.write(path, plain, vectors=vectors, labels=labels, class_names=class_names)


def augmented_views(images, augmentation: keras.Model, views: int, seed: int, first_index: int = 0) -> np.ndarray:
    """`views` augmented versions of each image (0-255 pixels), image by image: (images * views, h, w, 3).

    The random layers are seeded from (`seed`, the image's index `first_index + k`) before each
    image, and its views are one batch of copies: so view v of image i depends only on the seed,
    i and v (and `views`), never on which other images are around it.
    """
    states = [variable for variable in augmentation.variables if variable.path.endswith("seed_generator_state")]
    result = []
    for offset, image in enumerate(keras.ops.convert_to_numpy(images)):
        numbers = np.random.SeedSequence([seed, first_index + offset]).generate_state(len(states))
        for state, number in zip(states, numbers):
            state.assign(np.array([number % 2**31, 0], dtype=state.dtype))  # int32 on PyTorch
        copies = np.repeat(image[None], views, axis=0)
        result.append(keras.ops.convert_to_numpy(augmentation(copies, training=True)))
    return np.concatenate(result)


def _extract(dataset, extractor: keras.Model, description: str, augment: Augmentation | None = None):
    """What `extractor` makes of raw (0-255) batches, optionally of their augmented views: (images, ...) or
    (views, images, ...), with the labels."""
    features, labels, seen = [], [], 0
    for images, batch_labels in bar(dataset, desc=description, unit="batch", total=len(dataset), mininterval=3):
        count = images.shape[0]
        if augment:
            features.append(_view_features(images, extractor, augment, seen))
        else:
            features.append(keras.ops.convert_to_numpy(extractor.predict_on_batch(preprocess_input(images))))
        labels.append(keras.ops.convert_to_numpy(batch_labels))
        seen += count
    return np.concatenate(features, axis=1 if augment else 0), np.concatenate(labels)


def _view_features(images, extractor: keras.Model, augment: Augmentation, first_index: int) -> np.ndarray:
    """What `extractor` makes of the augmented views of one batch of raw images: (views, images, ...).

    The views are made image by image and go through `extractor` in pieces as large as the batch, so
    memory grows with the batch size, not with batch size x views (32 x 50 views at 299 px in one
    pass would need about 18 GB for one activation).
    """
    images = keras.ops.convert_to_numpy(images)
    views = (
        view
        for offset, image in enumerate(images)
        for view in augmented_views(image[None], augment.model, augment.views, augment.seed, first_index + offset)
    )
    pieces = []
    while piece := list(itertools.islice(views, len(images))):
        pieces.append(keras.ops.convert_to_numpy(extractor.predict_on_batch(preprocess_input(np.stack(piece)))))
    pooled = np.concatenate(pieces)  # image 0's views, then image 1's, ...
    return pooled.reshape(len(images), augment.views, *pooled.shape[1:]).swapaxes(0, 1)
