"""Helpers for the deep-learning workbook: plumbing, not the lesson.

`from workbook import data, models, plots, session`
"""

import contextlib
import os

__version__ = "0.1.0"


@contextlib.contextmanager
def native_stderr_silenced():
    """Send what C++ code writes to stderr (TensorFlow's start-up log lines) to /dev/null meanwhile."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# TensorFlow logs oneDNN/CUDA lines before its logging can be configured (TF_CPP_MIN_LOG_LEVEL misses
# some), and its first device probe logs a CUDA error on machines without a GPU. Doing both here,
# quietly, keeps notebooks' outputs and the terminal clean. Errors still raise.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
with native_stderr_silenced():
    import tensorflow

    tensorflow.config.list_physical_devices("GPU")
