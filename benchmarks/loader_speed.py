"""Time reading one split of the real dataset with each image loader the backend can use, in one process.

Keras' own loader for JAX and PyTorch, `keras.utils.image_dataset_from_directory(..., format="grain")`,
resizes each image with the backend's operations one by one; the workbook's `data.ImageBatches`
decodes with Pillow and resizes with numpy in threads. On TensorFlow, `tf.data` (format="tf") is
timed too. Every loader reads every image of the split once, unshuffled, after one warm-up batch;
the script prints images per second and the ratio to the first loader (Keras' Grain loader where Grain
is installed), and checks that the
loaders agree on the files and labels.

    KERAS_BACKEND=jax python benchmarks/loader_speed.py                 # validation, 150 px
    python benchmarks/loader_speed.py --split train --image-size 299
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np

from workbook import backend, data  # first: starts TensorFlow quietly


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="validation", choices=data.SPLITS)
    parser.add_argument("--image-size", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    return parser.parse_args()


def timed(batches) -> tuple[float, np.ndarray]:
    """Images per second over one pass (after the first batch, which starts threads and builds graphs)."""
    import keras

    iterator = iter(batches)
    _, first_labels = next(iterator)
    labels, count, started = [keras.ops.convert_to_numpy(first_labels)], 0, time.perf_counter()
    for images, batch_labels in iterator:
        count += images.shape[0]
        labels.append(keras.ops.convert_to_numpy(batch_labels))
    return count / (time.perf_counter() - started), np.concatenate(labels)


def main() -> None:

    args = arguments()
    directory = data.split_dir(args.split)
    formats = {}
    if importlib.util.find_spec("grain"):  # in the JAX and PyTorch environments
        formats["Keras format=grain"] = "grain"
    if backend.name() == "tensorflow":
        formats["Keras format=tf (tf.data)"] = "tf"
    size, batch_size = args.image_size, args.batch_size
    loaders = {name: data.keras_dataset(directory, size, batch_size, format=kind) for name, kind in formats.items()}
    loaders["workbook ImageBatches"] = data.ImageBatches(directory, args.image_size, args.batch_size)
    print(f"{args.split}, {args.image_size} px, batches of {args.batch_size}, Keras on {backend.version()}")
    speeds, labels = {}, {}
    for name, loader in loaders.items():
        speeds[name], labels[name] = timed(loader)
    first = next(iter(speeds))
    for name, speed in speeds.items():
        print(f"  {name:28} {speed:8.1f} images/s  {speed / speeds[first]:5.1f}x {first}")
    same = all(np.array_equal(found, labels[first]) for found in labels.values())
    print(f"same labels in the same order: {same}")


if __name__ == "__main__":
    main()
