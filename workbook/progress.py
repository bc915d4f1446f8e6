"""Progress bars that suit where the code runs: nothing of them ever lands on a notebook's stderr.

- in JupyterLab (a kernel with `ipywidgets`): tqdm's widget, a real bar;
- under `python -m workbook run`, where nobody watches the kernel, or when output goes to a file:
  one line on stdout once the work is done, so executed copies hold no widget and no stderr;
- in a terminal: tqdm's usual bar, redrawn in place on one line.

`embeddings.embed` (notebook 05) and the dataset download use it.
"""

from __future__ import annotations

import importlib.util
import io
import sys

from tqdm import std

from workbook import settings


class FinishedLine(std.tqdm):
    """A tqdm bar that shows nothing while it runs and prints its final state as one line on stdout."""

    def __init__(self, *args, **kwargs):
        kwargs["file"] = io.StringIO()  # tqdm's own drawing goes nowhere
        kwargs.setdefault("ascii", False)  # the block characters a terminal's bar uses, not '#'
        super().__init__(*args, **kwargs)

    def close(self) -> None:
        finished = None if self.disable else str(self)  # closing twice (iteration end, then __del__) prints once
        super().close()
        if finished:
            print(finished, flush=True)


def in_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (JupyterLab, papermill, nbval)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return getattr(shell, "kernel", None) is not None


def kind() -> str:
    """'widget', 'line' or 'terminal': which bar `bar` makes here."""
    if in_kernel():
        return "line" if settings.headless() or importlib.util.find_spec("ipywidgets") is None else "widget"
    return "terminal" if sys.stderr.isatty() else "line"


def bar(iterable=None, **options) -> std.tqdm:
    """A tqdm progress bar (same arguments as `tqdm.tqdm`) drawn the way `kind()` says."""
    chosen = kind()
    if chosen == "widget":
        from tqdm.notebook import tqdm as widget

        return widget(iterable, **options)
    if chosen == "line":
        return FinishedLine(iterable, **options)
    return std.tqdm(iterable, **options)
