"""Compute the augmented views' vectors of one training batch at 299 px, VIEWS = 50 (random weights).

Run it under `/usr/bin/time -v` and read "Maximum resident set size": the peak memory of
`embeddings.embed_views`, which feeds the views to the base in pieces of the batch size (docs/measurements.md):

    WORKBOOK_CACHE=/tmp/empty-cache /usr/bin/time -v .venv/bin/python benchmarks/views_memory.py
"""

from __future__ import annotations

import time

from workbook import embeddings, models  # first: starts TensorFlow quietly


def main() -> None:
    import keras

    keras.utils.set_random_seed(1)
    base = models.base_model(None, 299)
    augmentation = keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=1),
            keras.layers.RandomRotation(0.05, seed=2),
            keras.layers.RandomZoom(0.1, seed=3),
            keras.layers.RandomTranslation(0.1, 0.1, seed=4),
            keras.layers.RandomContrast((0.2, 0.2), seed=5),
        ]
    )
    started = time.perf_counter()
    views = embeddings.embed_views("train", base, augmentation, 50, seed=1, batch_size=32, max_batches=1)
    print(views.features.shape, f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
