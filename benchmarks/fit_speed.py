"""Time one epoch of notebook 04's `fit` against its floor, Xception's forward pass over the same images.

Notebook 04 trains a Dense(10) head on a frozen Xception, reading the image files every epoch:
`fit(train, validation_data=val)`. Its floor is the forward pass that no frozen-base training can
skip: Xception over the same training and validation images, in batches of the same size, from
memory. In one process, on the real dataset (random weights: the same compute as ImageNet's), this
prints the floor, 04's epoch (the second one: the first also traces the training step), their ratio,
and where the difference goes:

- reading: decoding, resizing and preprocessing the images alone (the input pipeline, as 04 builds it);
- training steps on images already in memory (the step's own cost, compiled as `fit` compiles it);
- validation: `evaluate` on the validation images in memory;
- with `--xla`, the same in-memory epoch compiled with XLA (`jit_compile=True`).

    python benchmarks/fit_speed.py                                  # every image: about 2 min per epoch
    python benchmarks/fit_speed.py --images 640                     # the first 640 of each split
    KERAS_BACKEND=jax .venv-jax/bin/python benchmarks/fit_speed.py --images 320
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from workbook import backend, data, models  # first: starts TensorFlow quietly


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=None, help="at most this many images of each split")
    parser.add_argument("--xla", action="store_true", help="also time an in-memory epoch compiled with XLA")
    return parser.parse_args()


def loaders(args: argparse.Namespace):
    """The training and validation datasets exactly as notebook 04 builds them."""
    batches = None if args.images is None else max(1, args.images // args.batch_size)
    splits = []
    for split, shuffle in (("train", True), ("validation", False)):
        dataset = data.keras_dataset(data.split_dir(split), args.image_size, args.batch_size, shuffle, verbose=False)
        splits.append(data.prepare(dataset, batches))
    return splits


def timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def in_memory(dataset) -> tuple[np.ndarray, np.ndarray]:
    """Every batch of a dataset read once, as numpy arrays."""
    import keras

    pairs = [(keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y)) for x, y in dataset]
    return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])


def epoch_timer():
    """A callback that records each epoch's seconds (`.epochs`) and the validation's inside it (`.validation`)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs, self.validation = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.perf_counter()

        def on_test_begin(self, logs=None):
            self.test_start = time.perf_counter()

        def on_test_end(self, logs=None):
            self.validation.append(time.perf_counter() - self.test_start)

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(time.perf_counter() - self.epoch_start)

    return EpochTimer()


def model_04(args: argparse.Namespace, jit_compile="auto"):
    import keras

    model = models.make_model(input_size=args.image_size, learning_rate=0.01, weights=None)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    return model


def second_epoch(model, train, validation, **fit_arguments) -> tuple[float, float]:
    """Seconds of the second epoch of `fit` and of the validation inside it."""
    times = epoch_timer()
    model.fit(train, validation_data=validation, epochs=2, verbose=0, callbacks=[times], **fit_arguments)
    return times.epochs[1], times.validation[1]


def main() -> None:
    import keras

    args = arguments()
    train, validation = loaders(args)
    reading, (train_x, train_y) = timed(lambda: in_memory(train))
    seconds, (val_x, val_y) = timed(lambda: in_memory(validation))
    reading += seconds
    count = len(train_x) + len(val_x)

    extractor = keras.Model(*models.pooled_vectors(models.base_model(None, args.image_size)))
    extractor.predict_on_batch(train_x[: args.batch_size])  # compiles
    starts = range(0, count, args.batch_size)
    everything = np.concatenate([train_x, val_x])
    floor, _ = timed(lambda: [extractor.predict_on_batch(everything[i : i + args.batch_size]) for i in starts])

    epoch, epoch_validation = second_epoch(model_04(args), train, validation)
    memory = (val_x, val_y)
    step_epoch, step_validation = second_epoch(
        model_04(args), train_x, memory, y=train_y, batch_size=args.batch_size, shuffle=False
    )
    rows = [
        ("floor: Xception forward, from memory", floor),
        ("04's epoch (second), reading the files", epoch),
        ("  of which validation", epoch_validation),
        ("reading alone: decode, resize, preprocess", reading),
        ("an epoch from memory (training steps + validation)", step_epoch),
        ("  of which validation", step_validation),
    ]
    if args.xla:
        xla_epoch, _ = second_epoch(
            model_04(args, jit_compile=True), train_x, memory, y=train_y, batch_size=args.batch_size, shuffle=False
        )
        rows.append(("an epoch from memory, XLA (jit_compile=True)", xla_epoch))
    device = ", ".join(backend.gpus()) or "CPU"
    print(f"{backend.version()} on {device}: {count} images ({len(train_x)} train, {len(val_x)} validation), ", end="")
    print(f"{args.image_size} px, batches of {args.batch_size}")
    for label, value in rows:
        print(f"{label:<55} {value:8.1f} s  {count / value:7.1f} images/s")
    print(f"ratio 04's epoch / floor: {epoch / floor:.2f}")
    print(f"ratio epoch from memory / floor: {step_epoch / floor:.2f}")


if __name__ == "__main__":
    main()
