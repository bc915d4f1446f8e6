"""Time Xception's forward pass (pooled vectors) on the backend Keras runs on, and print images per second.

Random weights (the same compute as ImageNet's), random pixels, batches of `--batch-size`, after one
warm-up batch that compiles the model. Run it once per backend to compare them on one machine:

    python benchmarks/forward_speed.py                          # TensorFlow, in .venv
    KERAS_BACKEND=jax .venv-jax/bin/python benchmarks/forward_speed.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from workbook import backend, models  # first: starts TensorFlow quietly


def main() -> None:
    import keras

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args()
    extractor = keras.Model(*models.pooled_vectors(models.base_model(None, args.image_size)))
    images = np.random.default_rng(0).uniform(-1, 1, (args.batch_size, args.image_size, args.image_size, 3))
    images = images.astype("float32")
    started = time.perf_counter()
    extractor.predict_on_batch(images)
    warm_up = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(args.batches):
        extractor.predict_on_batch(images)
    speed = args.batches * args.batch_size / (time.perf_counter() - started)
    device = ", ".join(backend.gpus()) or "CPU"
    print(f"{backend.version()} on {device}: {speed:.1f} images/s at {args.image_size} px (warm-up {warm_up:.1f} s)")


if __name__ == "__main__":
    main()
