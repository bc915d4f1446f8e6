"""ImageNet's files for Xception: their addresses, Keras' cache folder, downloading them once, and class names.

Keras downloads these files itself on first use (`keras.applications.Xception(weights="imagenet")`,
`decode_predictions`) into `models/` of its home folder. The workbook fetches them first, with a
timeout and their MD5 digests checked, so a missing network gives one clear error with remedies
instead of a traceback or a hang (notebook 02); `keras.utils.get_file` takes no timeout (Keras 3.15).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from workbook.backend import keras
from workbook.errors import ArgumentError, WeightsUnavailable
from workbook.files import download

# What Keras downloads for Xception, under the file names it gives them in its cache.
WEIGHT_FILES = {
    True: "xception_weights_tf_dim_ordering_tf_kernels.h5",
    False: "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
}
CLASS_INDEX_FILE = "imagenet_class_index.json"
_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
# The addresses and MD5 digests keras.applications uses (Keras 3.15, in xception.py and imagenet_utils.py):
# Keras checks a cached file against the same digest. tests/test_models.py checks both against the installed Keras.
URLS = {
    WEIGHT_FILES[True]: _WEIGHTS_URL + WEIGHT_FILES[True],
    WEIGHT_FILES[False]: _WEIGHTS_URL + WEIGHT_FILES[False],
    CLASS_INDEX_FILE: "https://storage.googleapis.com/download.tensorflow.org/data/" + CLASS_INDEX_FILE,
}
MD5 = {
    WEIGHT_FILES[True]: "0a58e3b7378bc2990ea3b43d5981f1f6",
    WEIGHT_FILES[False]: "b0042744bf5b25fce3cb969f33bebb97",
    CLASS_INDEX_FILE: "c2c37ea517e94d9795004a39431a14cb",
}


def keras_home() -> str:
    """Keras' home folder as Keras documents it: $KERAS_HOME, else ~/.keras (/tmp/.keras when home is read-only).

    Keras reads it once, when it is imported; so does a kernel that imports the workbook first.
    """
    if "KERAS_HOME" in os.environ:
        return os.environ["KERAS_HOME"]
    base = os.path.expanduser("~")
    return os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")


def remedies() -> str:
    """What to do when ImageNet files cannot be downloaded: in the notebook first, then ahead of time."""
    return (
        "What to do:\n"
        "  - in this notebook: set WEIGHTS = None in the parameters cell and run the notebook again\n"
        "    (random weights: every cell runs, but nothing is learned and predictions mean nothing);\n"
        "  - fetch the files ahead on a connected machine: `make fetch` (or `python -m workbook fetch --weights`),\n"
        f"    then copy its Keras cache to {keras_cache()} on this machine (the offline classroom kit);\n"
        "  - or set WEIGHTS to a local weights file: notebook 02 needs Xception's file with its top,\n"
        "    03 and 04 the one without (`python -m workbook run --notebooks 04 -p WEIGHTS /path/notop.h5`);\n"
        "  - from the command line, the smoke profile uses random weights: `make run PROFILE=smoke`."
    )


def keras_cache() -> Path:
    """Where Keras keeps its downloads: `models/` in Keras' home folder, as Keras itself resolves it.

    Keras reads $KERAS_HOME (else ~/.keras) once, when it is imported, and falls back to /tmp/.keras
    when that folder is not writable.
    """
    home = os.path.expanduser(keras_home())
    if not os.access(home, os.W_OK):  # what keras.utils.get_file does with a cache folder it cannot write
        home = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return Path(home) / "models"


def shared_file(name: str) -> Path:
    """`name` in $KERAS_HOME/models/ (else ~/.keras/models/), which Keras skips when that folder is read-only."""
    return Path(os.path.expanduser(keras_home())) / "models" / name


def weights_status() -> dict[str, bool]:
    """Which of Xception's ImageNet files are in Keras' cache (or in a read-only KERAS_HOME, linked on use)."""
    return {name: (keras_cache() / name).is_file() or shared_file(name).is_file() for name in URLS}


def _fetch(name: str, what: str) -> None:
    """Download one of Keras' ImageNet files into its cache unless it is there; WeightsUnavailable if it cannot."""
    path = keras_cache() / name
    if path.is_file():
        return
    shared = shared_file(name)
    if shared.is_file():  # a read-only shared KERAS_HOME: Keras reads /tmp/.keras instead, so link the file there
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.symlink_to(shared)
        except FileExistsError:  # another notebook linked it first
            pass
        return
    try:
        download(URLS[name], path, what, WeightsUnavailable, remedies(), md5=MD5[name])
    except WeightsUnavailable as error:  # lead with what a student in a notebook can change
        raise WeightsUnavailable(
            f"{what} are not on this computer and cannot be downloaded: in a notebook, set WEIGHTS = None "
            f"in the parameters cell and run it again.\n{error}"
        ) from None


def ensure_weights(weights: str | None, include_top: bool = False) -> None:
    """Check that `weights` can be loaded, downloading ImageNet's once; raise with remedies if not."""
    if weights == "imagenet":
        _fetch(WEIGHT_FILES[include_top], "Xception's ImageNet weights")
    elif weights is not None and not Path(weights).is_file():
        raise ArgumentError(
            f"WEIGHTS must be 'imagenet', None or an existing weights file; {weights!r} is not a file.\n"
            "Set WEIGHTS in the parameters cell to one of those, and run the notebook again."
        )


def fetch_weights() -> None:
    """Download Xception's weights (with and without top) and ImageNet's class index into Keras' cache."""
    for include_top in (True, False):
        ensure_weights("imagenet", include_top=include_top)
    _fetch(CLASS_INDEX_FILE, "ImageNet's class names")


def decode_predictions(predictions, top: int = 5, weights: str | None = "imagenet") -> list:
    """Keras' `decode_predictions`; without its label file and ImageNet weights, numbered placeholders.

    Notebook 02 explains it. Keras downloads the 1000 class names once; offline, with random
    weights (the smoke profile) or a local weights file, the names are replaced by class numbers.
    """
    if weights == "imagenet":
        _fetch(CLASS_INDEX_FILE, "ImageNet's class names")
    if (keras_cache() / CLASS_INDEX_FILE).is_file():
        return keras.applications.xception.decode_predictions(predictions, top=top)
    print(f"ImageNet's class names are not in {keras_cache()}: showing class numbers instead.")
    predictions = np.asarray(predictions)
    best = np.argsort(predictions, axis=-1)[:, ::-1][:, :top]
    return [[(f"n{i:08d}", f"class_{i}", float(row[i])) for i in indices] for row, indices in zip(predictions, best)]
