"""Helpers for the deep-learning workbook: plumbing, not the lesson.

`from workbook import data, models, plots, session`
"""

import os

# Quiet TensorFlow's C++ start-up chatter; this only works before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
