"""Fast experiments: pooled vectors computed once and cached, heads trained on them, sweeps.

Notebook 05 (`05_learning_rate.ipynb`) shows why training a head on cached vectors is the same
as fitting the full model, and introduces these helpers. Notebook 11 caches the feature maps below
Xception's last block the same way, and fine-tunes that block and the head on them (`embed_maps`, `fine_tune`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from workbook import data, models
from workbook.errors import ArgumentError

HEAD_OPTIONS = ("learning_rate", "size_inner", "droprate")


@dataclass
class Embeddings:
    """The pooled vectors (or feature maps) of one split, with their one-hot labels, in the split's file order."""

    vectors: np.ndarray  # (images, features) float32; (views, images, features) for augmented views;
    # (images, height, width, channels) for the feature maps of `embed_maps`
    labels: np.ndarray  # (images, classes) float32, one-hot
    class_names: list[str]
    files: list[str]  # relative to the split's folder
    path: Path  # the cache file they were read from or written to


def weights_digest(model: keras.Model) -> str:
    """A fingerprint of every weight value of `model` (ImageNet, random with a seed, or from a file)."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


def code_digest() -> str:
    """A fingerprint of the code that turns image files into vectors or maps: loading, resizing, preprocessing, pooling.

    Part of the cache key, so changing any of that code (or the dtype policy) computes the vectors again.
    """
    steps = (data.split_dir, data.load_split, data.prepare, models.pooled_vectors, models.maps_below, _extract)
    steps += (augmented_views, _view_vectors, models.pooled_from_maps)
    sources = [inspect.getsource(step) for step in steps] + [keras.config.dtype_policy().name]
    return hashlib.sha256("\0".join(sources).encode()).hexdigest()


def _files_digest(files: list[str], folder: Path) -> str:
    digest = hashlib.sha256()
    for name in files:
        digest.update(f"{name}\0{data.sha256(folder / name)}\0".encode())
    return digest.hexdigest()


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
    return _embed(split, base, batch_size, max_batches, root, (augmentation, views, seed))


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


def _embed(split, base, batch_size, max_batches, root, augment: tuple | None = None, maps_at: str | None = None):
    dataset = data.load_split(
        split, base.input_shape[1], batch_size, max_batches=max_batches, root=root, shuffle=False, preprocess=False
    )
    used = dataset.file_paths[: max_batches * batch_size] if max_batches else dataset.file_paths
    files = [Path(path).relative_to(dataset.directory).as_posix() for path in used]
    key = {
        "split": split,
        "files": _files_digest(files, dataset.directory),
        "images": len(files),
        "image_size": base.input_shape[1],
        "weights": weights_digest(base),
        "code": code_digest(),
        "keras": keras.__version__,
        "backend": f"{keras.config.backend()} {importlib.metadata.version(keras.config.backend())}",
    }
    what, stem = "vectors", f"{split}_{key['image_size']}px"
    if augment:
        key |= {"augmentation": _settings(augment[0]), "views": augment[1], "seed": augment[2]}
        key = json.loads(json.dumps(key, default=str))  # as it reads back from the file (tuples become lists)
        what = f"vectors of {augment[1]} augmented views"
    if maps_at:
        key["maps_at"] = maps_at
        what, stem = f"feature maps below {maps_at}", f"{stem}_{maps_at}"
    path = _cache_file(key, stem)
    cached = _read(path, key)
    if cached is not None:
        print(f"{split}: {what} of {len(files)} images loaded from the cache")
        class_names = [str(name) for name in cached["class_names"]]
        return Embeddings(cached["vectors"], cached["labels"], class_names, files, path)
    extractor = models.maps_below(base, maps_at) if maps_at else keras.Model(*models.pooled_vectors(base))
    vectors, labels = _extract(dataset, extractor, f"{split}: computing {what} once", augment)
    _write(path, key, vectors=vectors, labels=labels, class_names=dataset.class_names)
    if maps_at:
        _pool_maps(vectors, labels, dataset.class_names, base, maps_at, key, batch_size)
    return Embeddings(vectors, labels, list(dataset.class_names), files, path)


def _cache_file(key: dict, stem: str) -> Path:
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return data.cache_dir() / "embeddings" / f"{stem}_{name}.npz"


def _pool_maps(maps, labels, class_names, base, layer: str, key: dict, batch_size: int) -> None:
    """Cache the pooled vectors that `embed` would compute, from the maps below `layer`, unless cached already.

    The rest of the base runs on the maps in the same batches, so they are the numbers `embed` computes
    (on this machine, bit for bit), at the cost of the top layers only.
    """
    plain = {name: value for name, value in key.items() if name != "maps_at"}
    path = _cache_file(plain, f"{key['split']}_{key['image_size']}px")
    if _read(path, plain) is None:
        vectors = models.pooled_from_maps(base, layer).predict(maps, batch_size=batch_size, verbose=0)
        _write(path, plain, vectors=vectors, labels=labels, class_names=class_names)


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


def _extract(dataset, extractor: keras.Model, description: str, augment: tuple | None = None):
    """What `extractor` makes of raw (0-255) batches, optionally of their augmented views: (images, ...) or
    (views, images, ...), with the labels."""
    from keras.applications.xception import preprocess_input

    from workbook.progress import bar

    vectors, labels, seen = [], [], 0
    for images, batch_labels in bar(dataset, desc=description, unit="batch", total=len(dataset), mininterval=3):
        count = images.shape[0]
        if augment:
            vectors.append(_view_vectors(images, extractor, augment, seen))
        else:
            vectors.append(keras.ops.convert_to_numpy(extractor.predict_on_batch(preprocess_input(images))))
        labels.append(keras.ops.convert_to_numpy(batch_labels))
        seen += count
    return np.concatenate(vectors, axis=1 if augment else 0), np.concatenate(labels)


def _view_vectors(images, extractor: keras.Model, augment: tuple, first_index: int) -> np.ndarray:
    """What `extractor` makes of the augmented views of one batch of raw images: (views, images, ...).

    The views are made image by image (`augmented_views`) and go through `extractor` in pieces of
    as many images as the batch holds, so the peak memory grows with the batch size, not with
    batch size x views (32 x 50 views at 299 px would be 1,600 images in one pass, out of memory).
    """
    from keras.applications.xception import preprocess_input

    augmentation, views, seed = augment
    images = keras.ops.convert_to_numpy(images)
    piece, outputs, waiting = len(images), [], np.zeros((0, *images.shape[1:]), dtype="float32")
    for offset, image in enumerate(images):
        made = augmented_views(image[None], augmentation, views, seed, first_index=first_index + offset)
        waiting = np.concatenate([waiting, made])
        while len(waiting) >= piece or (offset == len(images) - 1 and len(waiting)):
            chunk, waiting = waiting[:piece], waiting[piece:]
            outputs.append(keras.ops.convert_to_numpy(extractor.predict_on_batch(preprocess_input(chunk.copy()))))
    pooled = np.concatenate(outputs)  # image by image: image 0's views, then image 1's, ...
    return pooled.reshape(len(images), views, *pooled.shape[1:]).swapaxes(0, 1)


def _read(path: Path, key: dict) -> dict[str, np.ndarray] | None:
    """The arrays `path` holds if it was written, completely, for exactly `key`; otherwise None."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            if json.loads(str(stored["key"])) != key:
                return None
            return {name: stored[name] for name in stored.files if name != "key"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        print(f"Note: the cache file {path} is unreadable ({error}); computing it again")
        return None


def _write(path: Path, key: dict, **arrays) -> None:
    """Write `arrays` and `key` under a temporary name, then rename: an interrupted write never looks complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as file:
            np.savez(file, key=json.dumps(key, sort_keys=True), **arrays)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def best(history, metric: str = "val_accuracy") -> tuple[float, int | None]:
    """The best value of `metric` in a Keras History and its epoch (counting from 1); NaN epochs never win.

    Best is the lowest for a loss, the highest for anything else (accuracy, AUC, ...). When every
    value is NaN (training diverged from the start), the answer is (nan, None).
    """
    values = np.asarray(getattr(history, "history", history)[metric], dtype=float)
    if np.isnan(values).all():
        return float("nan"), None
    index = int(np.nanargmin(values)) if "loss" in metric else int(np.nanargmax(values))
    return float(values[index]), index + 1


def sweep(
    configs: list[dict],
    train: Embeddings,
    val: Embeddings,
    epochs: int,
    batch_size: int = 32,
    seed: int = 1,
    shuffle: bool = True,
) -> dict[str, keras.callbacks.History]:
    """Train one head per configuration (keyword arguments of `models.make_head`) and return the histories.

    Every head starts from the same seed, so the configurations differ only in what they set.
    The trained head of each is `history.model`. `shuffle=False` keeps the vectors in file order.
    """
    _check_configs(configs, epochs)
    labels = [", ".join(f"{name}={value}" for name, value in config.items()) for config in configs]
    if len(set(labels)) < len(labels):
        raise ArgumentError(f"configs repeats a configuration: {labels}")
    return {
        label: train_head(config, train, val, epochs, batch_size, seed, shuffle, label)
        for label, config in zip(labels, configs)
    }


def train_head(
    config: dict,
    train: Embeddings,
    val: Embeddings,
    epochs: int,
    batch_size: int = 32,
    seed: int = 1,
    shuffle: bool = True,
    label: str = "head",
    callbacks: list | None = None,
) -> keras.callbacks.History:
    """Train one head (`config`: keyword arguments of `models.make_head`) from `seed`; print its best epoch.

    With augmented views (`embed_views`), epoch e trains on view e % views of every image: fresh
    views in every epoch when there are as many views as epochs, a reused pool otherwise.
    """
    _check_configs([config], epochs)
    keras.utils.set_random_seed(seed)
    head = models.make_head(**config, num_features=train.vectors.shape[-1], num_classes=len(train.class_names))
    started = time.perf_counter()
    if train.vectors.ndim == 3:
        batches = EpochViews(train.vectors, train.labels, batch_size, seed, shuffle)
        fit_data = {"x": batches, "shuffle": False, "callbacks": [batches.follower(), *(callbacks or [])]}
    else:
        fit_data = {"x": train.vectors, "y": train.labels, "batch_size": batch_size, "shuffle": shuffle}
        fit_data["callbacks"] = callbacks or []
    history = head.fit(**fit_data, epochs=epochs, validation_data=(val.vectors, val.labels), verbose=0)
    _report(label, history, f"{time.perf_counter() - started:.1f} s")
    return history


def _report(label: str, history, how: str) -> None:
    accuracy, epoch = best(history)
    print(f"{label}: best val_accuracy {accuracy:.3f} at epoch {epoch} ({how})")


def fine_tune(
    model: keras.Model,
    train: Embeddings,
    val: Embeddings,
    epochs: int,
    batch_size: int = 32,
    seed: int = 1,
    label: str = "fine-tuned",
) -> keras.callbacks.History:
    """Fit the compiled `model` on cached maps (or vectors) from `seed`, keep its best epoch's weights; cached.

    Notebook 11 explains it. The result (best weights and history) is cached, keyed by what the
    model computes and trains, its starting weights, its optimizer, the data, `epochs`, `batch_size`,
    `seed` and the code: a later run with the same inputs (notebook 12 after 11) loads it in seconds.
    A loaded model's optimizer starts afresh if you train it further.
    """
    if epochs < 1:
        raise ArgumentError(f"epochs must be at least 1, not {epochs}")
    key = _training_key(model, train, val, epochs, batch_size, seed)
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = data.cache_dir() / "trained" / f"{model.name}_{name}.npz"
    stored = _read(path, key)
    if stored is not None:
        model.set_weights([stored[f"weight_{index}"] for index in range(len(model.weights))])
        history = keras.callbacks.History()
        history.history = json.loads(str(stored["history"]))
        history.set_model(model)
        _report(label, history, "trained by an earlier run with the same inputs, loaded from the cache")
        return history
    keras.utils.set_random_seed(seed)
    keep_best = keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=epochs, restore_best_weights=True)
    started = time.perf_counter()
    fit_data = {"x": train.vectors, "y": train.labels, "batch_size": batch_size, "callbacks": [keep_best]}
    history = model.fit(**fit_data, epochs=epochs, validation_data=(val.vectors, val.labels), verbose=0)
    weights = {f"weight_{index}": weight for index, weight in enumerate(model.get_weights())}
    _write(path, key, history=json.dumps(history.history), **weights)
    _report(label, history, f"{time.perf_counter() - started:.1f} s; best epoch's weights kept")
    return history


def _training_key(model: keras.Model, train: Embeddings, val: Embeddings, epochs: int, batch_size: int, seed: int):
    """What determines the result of `fine_tune`, as JSON-ready values."""
    digest = hashlib.sha256()
    for array in (train.vectors, train.labels, val.vectors, val.labels):
        digest.update(np.ascontiguousarray(array).tobytes())
    optimizer = {name: value for name, value in model.optimizer.get_config().items() if name != "name"}
    key = {
        "layers": _architecture(model),
        "trainable": [weight.trainable for weight in model.weights],
        "start": weights_digest(model),
        "optimizer": [type(model.optimizer).__name__, optimizer],
        "loss": keras.saving.serialize_keras_object(model.loss),
        "data": digest.hexdigest(),
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "code": hashlib.sha256((code_digest() + inspect.getsource(fine_tune)).encode()).hexdigest(),
        "keras": keras.__version__,
        "backend": f"{keras.config.backend()} {importlib.metadata.version(keras.config.backend())}",
    }
    return json.loads(json.dumps(key, default=str))  # as it reads back from the file


def _architecture(model: keras.Model) -> list:
    """Each layer's class, settings and trainability, nested models unfolded, without the names that vary."""
    described = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            described.append(_architecture(layer))
            continue
        settings = {name: value for name, value in layer.get_config().items() if name not in ("name", "seed")}
        described.append({"class": type(layer).__name__, "trainable": layer.trainable, **settings})
    return described


class EpochViews(keras.utils.PyDataset):
    """Batches of cached augmented views: in epoch e, view e % views of every image, shuffled with (seed, e)."""

    def __init__(self, vectors: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, shuffle: bool = True):
        super().__init__()
        self.vectors, self.labels, self.batch_size, self.seed, self.shuffle = vectors, labels, batch_size, seed, shuffle
        self.start_epoch(0)

    def start_epoch(self, epoch: int) -> None:
        """Serve view `epoch % views`, in this epoch's order."""
        self.view = self.vectors[epoch % len(self.vectors)]
        count = len(self.labels)
        self.order = np.random.default_rng([self.seed, epoch]).permutation(count) if self.shuffle else np.arange(count)

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __getitem__(self, index: int):
        chosen = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.view[chosen], self.labels[chosen]

    def follower(self) -> keras.callbacks.Callback:
        """The callback that tells this dataset when a new epoch begins (fit calls it)."""
        dataset = self

        class FollowEpochs(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                dataset.start_epoch(epoch)

        return FollowEpochs()


def _check_configs(configs: list[dict], epochs: int) -> None:
    """Refuse bad configurations before any head trains, naming the bad one."""
    example = "for example [{'learning_rate': 0.01}, {'learning_rate': 0.001}]"
    if not isinstance(configs, list | tuple) or not configs:
        raise ArgumentError(f"configs must be a non-empty list of make_head arguments, {example}; got {configs!r}")
    for config in configs:
        if not isinstance(config, dict):
            raise ArgumentError(f"each configuration must be a dict of make_head arguments ({example}), not {config!r}")
        unknown = sorted(set(config) - set(HEAD_OPTIONS))
        if unknown:
            raise ArgumentError(f"configuration {config} has {unknown}; a sweep can set {', '.join(HEAD_OPTIONS)}")
        models.make_head(**config)  # raises ArgumentError for a bad value, such as droprate=1.0
    if epochs < 1:
        raise ArgumentError(f"epochs must be at least 1, not {epochs}")


def results(histories: dict[str, keras.callbacks.History]) -> dict[str, dict]:
    """Per configuration: its best validation accuracy, that epoch, and the training-validation gap at the end.

    The gap is the last epoch's logged training accuracy minus its validation accuracy: what the run summary shows.
    """
    summary = {}
    for label, history in histories.items():
        accuracy, epoch = best(history)
        values = getattr(history, "history", history)
        gap = values["accuracy"][-1] - values["val_accuracy"][-1]
        summary[label] = {"best_val_accuracy": round(accuracy, 3), "best_epoch": epoch, "final_gap": round(gap, 3)}
    return summary


class Interrupted(RuntimeError):
    """Raised by `InterruptAfter`: stands for a crash, a closed laptop or Ctrl-C."""


class InterruptAfter(keras.callbacks.Callback):
    """Stop `fit` with `Interrupted` at the end of epoch `epochs` (notebook 06's resume demo).

    Put it after `BackupAndRestore` in the callbacks list, so the backup of that epoch is written first.
    """

    def __init__(self, epochs: int):
        super().__init__()
        if epochs < 1:
            raise ArgumentError(f"epochs must be at least 1, not {epochs}")
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            raise Interrupted(f"training interrupted after epoch {epoch + 1}")
