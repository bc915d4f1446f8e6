"""Time what a new JAX process spends before its first training step, with and without the compiled-program cache.

Each notebook's kernel is a new process. This starts the same short job (import Keras, build Xception
with random weights, predict one batch, fit one batch) in fresh processes: twice with JAX's
persistent cache turned off, then twice with it on in an empty folder (the first fills it, the
second reads it), as `workbook.backend.keep_compiled_programs` sets it up. It prints each time and
the ratio of a process without the cache to one that reads it. JAX only:

    KERAS_BACKEND=jax .venv-jax/bin/python benchmarks/jax_compile_cache.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

JOB = """
import time
started = time.perf_counter()
import numpy as np
from workbook import backend, models
import keras
base = models.base_model(None, {size})
images = np.random.default_rng(0).uniform(0, 255, (16, {size}, {size}, 3)).astype("float32")
base.predict_on_batch(images)
model = models.join(base, models.make_head(learning_rate=0.01))
model.fit(images, np.eye(10, dtype="float32")[np.arange(16) % 10], epochs=1, verbose=0)
print(time.perf_counter() - started)
"""


def job_seconds(size: int, cache: str | None) -> float:
    """The job's own seconds in a fresh process; `cache` is the compiled-program folder, None for no cache."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if cache is None:
        env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    else:
        env["WORKBOOK_CACHE"] = cache
    done = subprocess.run(
        [sys.executable, "-c", JOB.format(size=size)], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=71)
    args = parser.parse_args()
    without = [job_seconds(args.image_size, None) for _ in range(2)]
    with tempfile.TemporaryDirectory() as folder:
        filling, reading = job_seconds(args.image_size, folder), job_seconds(args.image_size, folder)
        kept = sum(path.stat().st_size for path in (Path(folder) / "jax").iterdir())
    print(f"without the cache: {without[0]:.1f} s, {without[1]:.1f} s")
    print(f"with the cache: {filling:.1f} s filling it, {reading:.1f} s reading it ({kept / 1e6:.1f} MB kept)")
    print(f"ratio, without / reading: {min(without) / reading:.2f}x")


if __name__ == "__main__":
    main()
