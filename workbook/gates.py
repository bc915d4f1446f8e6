"""Accuracy gates: a run folder's metrics against the minimums in gates.json, for runs with ImageNet weights."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from workbook import run, text
from workbook.errors import ArgumentError
from workbook.run_folder import metrics_files, read, stem_of

GATES_FILE = Path(__file__).with_name("gates.json")


@dataclass
class GateResult:
    """One gate checked in one run folder: PASS, FAIL, "not run" or "not gated", with what was seen."""

    notebook: str  # the executed notebook's stem, or its number when it was not run
    name: str  # what the gate measures, with what the run chose where it depends on that, e.g. "(299 px)"
    minimum: float
    status: str
    value: float | None = None
    note: str = ""

    @property
    def failed(self) -> bool:
        """Whether this gate makes `python -m workbook gates` exit with status 1."""
        return self.status == "FAIL"

    def columns(self) -> tuple[str, str, str, str]:
        """The notebook, what is gated, the value against the minimum, and the status (with its note)."""
        if self.value is None:
            measured = f"minimum {self.minimum}"
        else:
            measured = f"{self.value:.3f} {'<' if self.failed else '>='} {self.minimum}"
        note = f" ({self.note})" if self.status == "PASS" and self.note else f": {self.note}" if self.note else ""
        return self.notebook, self.name, measured, self.status + note


def load_gates(path: Path = GATES_FILE) -> list[dict]:
    """The gates: notebook, name, what the run chose, metric path ({NAME}: a parameter or a recorded value), minimum."""
    return json.loads(path.read_text(encoding="utf-8"))


def check(run_folder: Path | str, gates: list[dict] | None = None) -> list[GateResult]:
    """Check every gate against the `*.metrics.json` files of `run_folder` (written by `python -m workbook run`)."""
    folder = Path(run_folder).expanduser()
    if not folder.is_dir():
        raise ArgumentError(f"No run folder {folder}: give a folder `python -m workbook run` wrote (runs/<name>/)")
    if not metrics_files(folder):
        raise ArgumentError(
            f"{folder} holds no *.metrics.json: give a folder `python -m workbook run` wrote (runs/<name>/)"
        )
    return [check_gate(gate, folder) for gate in gates or load_gates()]


def check_gate(gate: dict, folder: Path) -> GateResult:
    """One gate against its notebook's metrics file in `folder`."""
    found = metrics_files(folder, gate["notebook"])
    if not found:
        return GateResult(gate["notebook"], gate["name"], gate["minimum"], "not run")
    stem = stem_of(found[0])
    recorded = read(found[0])
    parameters = {**_defaults(stem), **recorded.get("parameters", {})}
    weights = parameters.get("WEIGHTS", "imagenet")
    if weights is None:
        return GateResult(stem, gate["name"], gate["minimum"], "not gated", note="random weights")
    if recorded.get("status") != "ok":
        return GateResult(stem, gate["name"], gate["minimum"], "FAIL", note=_failure(found[0], recorded))
    result = _measure(gate, recorded.get("metrics", {}), parameters)
    result.notebook = stem
    if weights != "imagenet" and result.value is not None:
        result.note = f"weights from {weights}"
    return result


def _defaults(stem: str) -> dict:
    """The values of the notebook's `parameters` cell: what applied where the run passed none."""
    notebook = run.NOTEBOOKS_DIR / f"{stem}.ipynb"
    return run.declared_parameters(notebook) if notebook.is_file() else {}


def _measure(gate: dict, metrics: dict, parameters: dict) -> GateResult:
    """The gate's value in `metrics` (its key templates filled from parameters and metrics) against its minimum."""
    names = {**parameters, **{name: value for name, value in metrics.items() if not isinstance(value, dict)}}
    value, problem = _lookup(metrics, gate["metric"], names)
    name = gate["name"]
    try:
        name += f" ({gate['chosen'].format_map(names)})" if "chosen" in gate else ""
    except KeyError:  # _lookup says what is missing
        pass
    if problem:
        note = f"{problem}: rerun the notebook, or update {GATES_FILE.name} if it records this under another key"
        return GateResult(gate["notebook"], name, gate["minimum"], "FAIL", note=note)
    return GateResult(gate["notebook"], name, gate["minimum"], "PASS" if value >= gate["minimum"] else "FAIL", value)


def _failure(path: Path, recorded: dict) -> str:
    """What to say about a metrics file of a notebook that did not finish."""
    if "status" not in recorded:
        return f"{path.name} is damaged or was not written by `python -m workbook run`: run the notebook again"
    return f"the notebook failed ({recorded.get('error')}): see the executed notebook in the run folder, then rerun it"


def _lookup(metrics: dict, path: list[str], names: dict) -> tuple[float | None, str | None]:
    """The number at `path` in `metrics` (its keys' templates filled from `names`), or what is missing."""
    keys, value = [], metrics
    for template in path:
        try:
            keys.append(template.format_map(names))
        except KeyError as missing:
            return None, f"no {missing.args[0]} recorded or declared, needed for the key {template!r}"
        if not isinstance(value, dict) or keys[-1] not in value:
            return None, f"no metric {' > '.join(map(repr, keys))} recorded"
        value = value[keys[-1]]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"metric {' > '.join(map(repr, keys))} is {value!r}, not a number"
    return float(value), None


def report(results: list[GateResult], run_folder: Path | str) -> str:
    """The lines `python -m workbook gates` prints: a heading, one line per gate, and the count of each status."""
    counts = Counter(result.status for result in results)
    lines = [f"Accuracy gates for {run_folder} (minimums in {GATES_FILE}):", ""]
    lines += text.table([result.columns() for result in results])
    lines += ["", ", ".join(f"{count} {status}" for status, count in counts.items())]
    return "\n".join(lines)
