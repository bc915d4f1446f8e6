"""Plain-text tables for the terminal and summary.txt: columns padded to their widest cell."""

from __future__ import annotations

from collections.abc import Sequence


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as lines of columns two spaces apart, each padded to its widest cell but the last.

    Args:
        rows: cells as strings; every row has the same number of cells.

    Returns:
        One line per row.
    """
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]) for row in rows]
