"""The run folder's metrics files: one owner of their format, written by notebooks and `run`, read by `gates`.

A notebook's kernel, started by `python -m workbook run`, records its key numbers with
`session.record_metrics` into `<run folder>/<notebook>.metrics.json` (the path comes in
$WORKBOOK_METRICS). When the notebook ends, `run` wraps them into the notebook's `Result`:

    {"profile": "smoke", "notebook": "05_learning_rate", "status": "ok", "seconds": 12.3,
     "parameters": {...}, "metrics": {"best": 0.8, "sweep": {"learning_rate=0.01": {...}}}, "error": null}

A metric is flat (a number or a string) or nested (a dict per configuration of a sweep).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbook import settings
from workbook.files import write_json

SUFFIX = ".metrics.json"


@dataclass
class Result:
    """What one executed notebook produced: its status, time, parameters, metrics and error, if any."""

    notebook: str
    status: str
    seconds: float
    parameters: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    error: str | None = None

    def flat(self) -> dict:
        """The metrics that are single values."""
        return {name: value for name, value in self.metrics.items() if not isinstance(value, dict)}

    def nested(self) -> dict[str, dict]:
        """The metrics that are tables: a dict per configuration, such as a sweep's `training.results`."""
        return {name: value for name, value in self.metrics.items() if isinstance(value, dict)}


def metrics_path(folder: Path, stem: str) -> Path:
    """Where the metrics of a notebook go.

    Args:
        folder: the run folder.
        stem: the notebook's file name without `.ipynb`.

    Returns:
        `<folder>/<stem>.metrics.json`.
    """
    return folder / f"{stem}{SUFFIX}"


def metrics_files(folder: Path, number: str = "") -> list[Path]:
    """The metrics files of a run folder.

    Args:
        folder: the run folder.
        number: a notebook's number, such as "05", for its file only; "" for all.

    Returns:
        The files, sorted.
    """
    return sorted(folder.glob(f"{number}_*{SUFFIX}" if number else f"*{SUFFIX}"))


def stem_of(path: Path) -> str:
    """The notebook's stem a metrics file belongs to."""
    return path.name.removesuffix(SUFFIX)


def _plain(value):
    """numpy scalars as Python numbers, inside dicts too, so they can be written as JSON."""
    if isinstance(value, dict):
        return {name: _plain(item) for name, item in value.items()}
    return value.item() if hasattr(value, "item") else value


def record(metrics: dict) -> dict:
    """Write a notebook's metrics to the file `run` named in $WORKBOOK_METRICS (nothing outside a run).

    Args:
        metrics: name to value (a number, a string, or a dict per configuration).

    Returns:
        The metrics as plain JSON values.
    """
    metrics = _plain(metrics)
    path = settings.metrics_file()
    if path:
        write_json(path, metrics)
    return metrics


def read(path: Path) -> dict:
    """What a metrics file holds; {} when it is missing or damaged (a killed kernel).

    Args:
        path: a metrics file.

    Returns:
        A notebook's bare metrics (while it runs) or its wrapped `Result` fields with "profile" (after).
    """
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_result(path: Path, profile: str, result: Result) -> None:
    """Replace the bare metrics at `path` by the notebook's whole `Result`.

    Args:
        path: the notebook's metrics file.
        profile: the profile it ran under.
        result: what it produced.
    """
    write_json(path, {"profile": profile, **asdict(result)})
