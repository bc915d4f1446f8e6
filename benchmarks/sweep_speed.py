"""Time one sweep two ways on the real dataset, in one process, and print both times and their ratio.

The course's way fits the full model (frozen Xception, pooling, head) on the images for every
configuration. The cached way computes the pooled vectors once and fits a head per configuration
on them (`workbook.training`). Both see the same batches in the same order (file order, no
shuffling), so the first configuration must end with the same head weights; the script checks it.
The training images are the first ones in file order (mostly one class): the timing does not depend
on which images they are, and with random weights (the default) nothing is learned anyway.

    python benchmarks/sweep_speed.py                      # 4 learning rates x 10 epochs, 320 train images
    python benchmarks/sweep_speed.py --train-images 640 --rates 0.001 0.01 --epochs 5
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time

from workbook import data, embeddings, models, session, training


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=320, help="training images (whole batches, at least)")
    parser.add_argument("--val-images", type=int, default=None, help="validation images (default: all)")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0001, 0.001, 0.01, 0.1], help="one per config")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--weights", default=None, help='"imagenet" or a file (default: random, same compute)')
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def batches(images: int | None, batch_size: int) -> int | None:
    return None if images is None else math.ceil(images / batch_size)


def main() -> int:
    args = arguments()
    session.setup()
    os.environ["WORKBOOK_CACHE"] = tempfile.mkdtemp(prefix="sweep-speed-")  # a cold cache: extraction is timed
    import keras
    import numpy as np

    keras.utils.set_random_seed(args.seed)
    base = models.base_model(args.weights, args.image_size)
    train_batches, val_batches = batches(args.train_images, args.batch_size), batches(args.val_images, args.batch_size)
    split = dict(image_size=args.image_size, batch_size=args.batch_size, shuffle=False)
    train_ds = data.load_split("train", max_batches=train_batches, **split)
    val_ds = data.load_split("validation", max_batches=val_batches, **split)
    configs = [{"learning_rate": rate} for rate in args.rates]

    print(f"\nCourse's way: a full-model fit per configuration ({len(configs)} x {args.epochs} epochs)")
    started, course_heads = time.perf_counter(), []
    for config in configs:
        keras.utils.set_random_seed(args.seed)
        head = models.make_head(**config)
        models.join(base, head).fit(train_ds, validation_data=val_ds, epochs=args.epochs, verbose=0)
        course_heads.append(head)
        print(f"  {config}: {time.perf_counter() - started:.0f} s so far", flush=True)
    course = time.perf_counter() - started

    print("\nCached way: vectors once, then a head per configuration")
    started = time.perf_counter()
    train = embeddings.embed("train", base, args.batch_size, train_batches)
    val = embeddings.embed("validation", base, args.batch_size, val_batches)
    histories = training.sweep(configs, train, val, args.epochs, args.batch_size, args.seed, shuffle=False)
    cached = time.perf_counter() - started

    cached_head = next(iter(histories.values())).model
    difference = max(
        float(np.abs(a - b).max()) for a, b in zip(course_heads[0].get_weights(), cached_head.get_weights())
    )
    print(
        f"\n{len(train.features)} training and {len(val.features)} validation images, {args.image_size} px, "
        f"{len(configs)} configurations x {args.epochs} epochs, weights: {args.weights or 'random'}"
    )
    print(f"course's way: {course:.1f} s")
    print(f"cached way:   {cached:.1f} s")
    print(f"speed-up:     {course / cached:.1f}x")
    print(f"first configuration, max |head weight difference|: {difference:.2e} (must be <= 1e-5)")
    return 0 if difference <= 1e-5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
