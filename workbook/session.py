"""The start of every notebook: versions, device, seeds, the profile banner, recorded metrics.

Notebook 01 (`01_images_as_arrays.ipynb`) introduces these calls.
"""

from __future__ import annotations

import platform
import shutil
import warnings
from datetime import datetime
from pathlib import Path

from workbook import run_folder, settings
from workbook.settings import METRICS_ENV, PROFILE_ENV  # noqa: F401  (their home is settings)


def setup() -> None:
    """Print versions and the device, and set plotting defaults."""
    import matplotlib.pyplot as plt

    from workbook import backend
    from workbook.backend import keras

    plt.rcParams.update({"figure.figsize": (8, 4), "figure.dpi": 80, "axes.grid": False})
    # Keras 3.15 warns on every fit with a tf.data dataset that its default shuffle=True is ignored.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    # It also warns "Your input ran out of data" at the end of the first epoch over a Grain dataset (notebook 04
    # on JAX or PyTorch), whose length it cannot know in advance: the epoch ended where it should.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    backend.configure()
    gpus = backend.gpus()
    print(f"Python {platform.python_version()}, Keras {keras.__version__} on {backend.version()}")
    print(f"Device: {backend.device(gpus)}" + ("" if gpus else "; fine here, full training runs are slow (see README)"))


def output_dir(name: str) -> Path:
    """An empty folder for files a notebook writes (checkpoints, saved models).

    Under `python -m workbook run` it is `<run folder>/<name>/`, emptied if an earlier run into the
    same folder left files; otherwise a new `runs/<name>-<date>-<time>/` (runs/ or $WORKBOOK_RUNS).
    """
    metrics = settings.metrics_file()
    if metrics:
        folder = metrics.parent / name
        shutil.rmtree(folder, ignore_errors=True)
    else:
        stem = settings.runs_dir() / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
        folder, count = stem, 1
        while folder.exists():
            count += 1
            folder = stem.with_name(f"{stem.name}-{count}")
    folder.mkdir(parents=True)
    return folder


NO_WEIGHTS = "not used"  # notebooks without a model, such as 01


def start(
    seed: int = 1, weights: str | None = NO_WEIGHTS, max_batches: int | None = None, epochs: int | None = None
) -> None:
    """Seed every random generator and say plainly whether this is a real run or a smoke run."""
    from workbook.backend import keras

    keras.utils.set_random_seed(seed)
    shrunk = []
    if settings.profile() == "smoke":
        shrunk.append("smoke profile settings")
    if weights is None:
        shrunk.append("random weights instead of ImageNet's")
    if max_batches is not None:
        shrunk.append(f"only {max_batches} batch(es) per split")
    if epochs is not None and epochs < 2:
        shrunk.append(f"{epochs} epoch")
    if shrunk == ["random weights instead of ImageNet's"]:  # full size otherwise: not a smoke run
        shrunk.append("every other setting at full size")
        label = "RANDOM WEIGHTS"
    else:
        label = "SMOKE RUN"
    if shrunk:
        banner = (
            f"{label}: " + ", ".join(shrunk) + ".\n"
            "This run only checks that the code works: its predictions and accuracies are NOT results."
        )
    else:
        used = {"imagenet": "ImageNet weights, ", NO_WEIGHTS: ""}.get(weights, f"weights from {weights}, ")
        banner = f"Full run: {used}the course settings."
    print(banner)


def record_metrics(**metrics) -> dict:
    """Store this notebook's key numbers for `python -m workbook run`'s summary, and return them.

    Args:
        **metrics: name and value; a value may be a dict (for example per configuration of a
            sweep: `training.results`).

    Returns:
        The metrics as plain JSON values (numpy numbers become Python numbers).
    """
    return run_folder.record(metrics)
