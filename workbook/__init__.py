"""Helpers for the deep-learning workbook: plumbing, not the lesson.

`from workbook import data, models, plots, session`

Importing the package loads no framework: the modules that use Keras import it through
`workbook.backend`, which chooses the backend and starts TensorFlow quietly first.
docs/architecture.md describes the modules.
"""

__version__ = "0.1.0"
