"""The workbook's own errors. Their messages say what to do; in a notebook they show as that message alone."""

from __future__ import annotations


class WorkbookError(Exception):
    """An error the user can fix; IPython and JupyterLab show its message without the package's source frames."""

    def _render_traceback_(self) -> list[str]:
        """What IPython prints instead of a traceback: the error's name in red, then its message."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class ArgumentError(WorkbookError, ValueError):
    """A workbook function was called with a value it cannot use; the message names the valid ones."""


class DataError(WorkbookError, ValueError):
    """The dataset is missing, unreachable or laid out wrongly; the message says what to do."""


class WeightsUnavailable(WorkbookError, RuntimeError):
    """ImageNet weights (or labels) are neither cached nor downloadable; the message names the remedies."""
