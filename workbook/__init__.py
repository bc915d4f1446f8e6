"""Helpers for the deep-learning workbook: plumbing, not the lesson.

`from workbook import data, models, plots, session`
"""

from workbook import backend  # noqa: F401  (first: it starts TensorFlow quietly when that is the backend)

__version__ = "0.1.0"
