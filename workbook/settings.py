"""Where things are and what the environment says: the repository, the WORKBOOK_* folders, the run's variables.

Every path and environment variable the workbook reads is resolved here, and this module imports
no other module of the workbook, so any module can use it without an import circle.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# In a checkout (the package beside notebooks/) the dataset, caches and runs default to folders of the repository;
# installed elsewhere (`pip install .`), to the same folders under the directory the command starts in.
REPO_ROOT = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "notebooks").is_dir() else Path.cwd()
DEFAULT_DATA = REPO_ROOT / "data" / "clothing-dataset-small"
METRICS_ENV = "WORKBOOK_METRICS"  # set by `python -m workbook run` for each notebook: its metrics file
PROFILE_ENV = "WORKBOOK_PROFILE"  # set by `python -m workbook run` for each notebook: "full" or "smoke"
PATH_VARIABLES = ("WORKBOOK_DATA", "WORKBOOK_CACHE", "WORKBOOK_RUNS")


def path_from_env(name: str, default: Path) -> Path:
    """`$name` as an absolute path (relative to the current folder); unset or empty means `default`.

    Args:
        name: the environment variable.
        default: the path when it is unset or empty.

    Returns:
        The absolute path.
    """
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else default


def cache_dir() -> Path:
    """The folder for caches: $WORKBOOK_CACHE, else .cache/ in the repository."""
    return path_from_env("WORKBOOK_CACHE", REPO_ROOT / ".cache")


def runs_dir() -> Path:
    """Where run folders go: $WORKBOOK_RUNS, else `runs/` in the repository (gitignored)."""
    return path_from_env("WORKBOOK_RUNS", REPO_ROOT / "runs")


def dataset_dir() -> Path:
    """Where the dataset should be: $WORKBOOK_DATA, else data/clothing-dataset-small."""
    return path_from_env("WORKBOOK_DATA", DEFAULT_DATA)


def make_paths_absolute() -> None:
    """Replace relative WORKBOOK_DATA/CACHE/RUNS values by absolute ones and drop empty ones.

    Kernels started by the run command work in notebooks/, so a relative path must be resolved first.
    """
    for name, resolve in zip(PATH_VARIABLES, (dataset_dir, cache_dir, runs_dir)):
        if os.environ.get(name, "").strip():
            os.environ[name] = str(resolve())
        else:
            os.environ.pop(name, None)


def metrics_file() -> Path | None:
    """The metrics file `python -m workbook run` gave this notebook's kernel; None outside a run."""
    value = os.environ.get(METRICS_ENV)
    return Path(value) if value else None


def headless() -> bool:
    """Whether this process is a kernel started by `python -m workbook run` (nobody watches it)."""
    return metrics_file() is not None


def profile() -> str | None:
    """The profile `python -m workbook run` runs this kernel under ("full" or "smoke"); None outside a run."""
    return os.environ.get(PROFILE_ENV)
