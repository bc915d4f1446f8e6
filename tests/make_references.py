"""Re-execute the nbval references: `make references` (needs the real dataset, e.g. WORKBOOK_DATA).

Each student notebook is executed under the smoke profile into tests/reference/; pytest's nbval
then re-runs those copies and compares the cells tagged `nbval-check-output`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from workbook import data, run

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


def main() -> int:
    data.find_dataset(download=True)
    REFERENCE_DIR.mkdir(exist_ok=True)
    results = [run.execute(notebook, REFERENCE_DIR, "smoke") for notebook in run.select_notebooks()]
    for metrics in REFERENCE_DIR.glob("*.metrics.json"):
        metrics.unlink()
    print(run.summary_table(results))
    return 0 if all(result.status == "ok" for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
