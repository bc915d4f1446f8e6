"""`python -m workbook gates`: a run folder's accuracies against workbook/gates.json."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from workbook import gates, run, run_folder
from workbook.__main__ import main
from workbook.errors import ArgumentError

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = ROOT / "tests" / "reference"
STEMS = {"04": "04_transfer_learning", "08": "08_dropout", "10": "10_larger_model", "12": "12_using_the_model"}


def sweep_row(accuracy: float) -> dict:
    """One configuration as `training.results` records it."""
    return {"best_val_accuracy": accuracy, "best_epoch": 7, "final_gap": 0.05}


# What a full run (ImageNet weights, the notebooks' defaults) records; each gate passes, and a wrong key would not.
FULL_RUN = {
    "04": {"best_val_accuracy": 0.812, "best_epoch": 7, "epochs": 10},
    "08": {
        "steadiest_droprate": 0.2,
        **{
            f"learning_rate=0.001, size_inner=100, droprate={rate}": sweep_row(accuracy)
            for rate, accuracy in [(0.0, 0.83), (0.2, 0.845), (0.5, 0.84), (0.8, 0.79)]
        },
    },
    "10": {"cost_ratio": 3.9, "views": 0, "150 px": sweep_row(0.84), "299 px": sweep_row(0.871)},
    "12": {
        "150 px": {"val_accuracy": 0.85, "test_accuracy": 0.83},
        "299 px": {"val_accuracy": 0.871, "test_accuracy": 0.874},
        "fine-tuned": {"val_accuracy": 0.86, "test_accuracy": 0.862},
        "final": "299 px",
        "per_class_recall": {"dress": 0.9, "hat": 0.8},
    },
}


def write_metrics(
    folder: Path,
    number: str,
    metrics: dict,
    parameters: dict | None = None,
    status: str = "ok",
    error: str | None = None,
    profile: str = "full",
) -> Path:
    """A metrics file exactly as `run.execute` writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{STEMS[number]}.metrics.json"
    result = run.Result(STEMS[number], status, 12.3, parameters or {}, metrics, error)
    run_folder.write_result(path, profile, result)
    return path


def full_run(folder: Path, **changes: dict) -> Path:
    """A run folder of the full profile with every gated notebook; `changes` replaces a notebook's metrics."""
    for number, metrics in {**FULL_RUN, **{name.removeprefix("n"): value for name, value in changes.items()}}.items():
        write_metrics(folder, number, metrics)
    return folder


def by_notebook(results: list[gates.GateResult]) -> dict[str, gates.GateResult]:
    return {result.notebook[:2]: result for result in results}


def test_all_gates_pass_and_the_command_prints_each_value(tmp_path):
    folder = full_run(tmp_path / "run")
    command = [sys.executable, "-m", "workbook", "gates", str(folder)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for stem, shown in [
        ("04_transfer_learning", "0.812 >= 0.78"),
        ("08_dropout", "chosen droprate (0.2) 0.845 >= 0.8"),
        ("10_larger_model", "larger model (299 px) 0.871 >= 0.85"),
        ("12_using_the_model", "final model (299 px) 0.874 >= 0.85"),
    ]:
        line = next(line for line in lines if line.startswith(stem))
        assert shown in " ".join(line.split()) and line.endswith("PASS"), line
    assert "4 PASS" in result.stdout


def test_a_failing_gate_names_its_value_and_minimum(tmp_path, capsys):
    chosen_worst = {**FULL_RUN["08"], "steadiest_droprate": 0.8}  # the only configuration below 0.80
    assert main(["gates", str(full_run(tmp_path, n08=chosen_worst))]) == 1
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("08_dropout"))
    assert "chosen droprate (0.8) 0.790 < 0.8 FAIL" in " ".join(line.split())


def test_the_gates_read_the_configuration_the_run_chose(tmp_path):
    results = by_notebook(gates.check(full_run(tmp_path, n12={**FULL_RUN["12"], "final": "fine-tuned"})))
    assert results["12"].value == 0.862 and results["12"].name.endswith("(fine-tuned)")
    overridden = tmp_path / "smaller"
    write_metrics(overridden, "10", {"200 px": sweep_row(0.86), "150 px": sweep_row(0.84)}, {"LARGE_IMAGE_SIZE": 200})
    assert by_notebook(gates.check(overridden))["10"].value == 0.86


@pytest.mark.parametrize("parameters", [{"WEIGHTS": None, "IMAGE_SIZE": 71, "EPOCHS": 1}, {"WEIGHTS": None}])
def test_runs_with_random_weights_are_not_gated(tmp_path, capsys, parameters):
    for number in STEMS:
        write_metrics(tmp_path, number, {}, parameters, profile="smoke" if "EPOCHS" in parameters else "full")
    assert main(["gates", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("not gated: random weights") == 4 and "PASS" not in out and "FAIL" not in out


def test_runs_with_a_weights_file_are_gated_and_say_so(tmp_path):
    write_metrics(tmp_path, "04", FULL_RUN["04"], {"WEIGHTS": "/data/xception_notop.weights.h5"})
    result = by_notebook(gates.check(tmp_path))["04"]
    assert result.status == "PASS" and result.note == "weights from /data/xception_notop.weights.h5"
    assert "PASS (weights from /data/xception_notop.weights.h5)" in gates.report([result], tmp_path)


def test_a_notebook_not_in_the_folder_is_not_run_not_failed(tmp_path, capsys):
    write_metrics(tmp_path, "04", FULL_RUN["04"])
    assert main(["gates", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert [(result.notebook, result.status) for result in gates.check(tmp_path)] == [
        ("04_transfer_learning", "PASS"),
        ("08", "not run"),
        ("10", "not run"),
        ("12", "not run"),
    ]
    assert "1 PASS, 3 not run" in out and "FAIL" not in out


def test_a_failed_or_damaged_notebook_fails_its_gate(tmp_path, capsys):
    write_metrics(tmp_path, "04", {}, status="failed", error="ValueError: the kernel gave up")
    (tmp_path / f"{STEMS['08']}.metrics.json").write_text("{not json", encoding="utf-8")
    assert main(["gates", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL: the notebook failed (ValueError: the kernel gave up)" in out
    assert "FAIL: 08_dropout.metrics.json is damaged or was not written by `python -m workbook run`" in out


def test_a_missing_metric_fails_and_says_which(tmp_path):
    renamed = {key.replace("droprate", "dropout"): value for key, value in FULL_RUN["08"].items()}
    folder = full_run(tmp_path, n08=renamed, n12={"299 px": FULL_RUN["12"]["299 px"]}, n04={"best_epoch": 3})
    results = by_notebook(gates.check(folder))
    assert all(results[number].status == "FAIL" and results[number].value is None for number in ["04", "08", "12"])
    assert "no metric 'best_val_accuracy' recorded" in results["04"].note
    assert "no steadiest_droprate recorded or declared" in results["08"].note
    assert "no final recorded or declared" in results["12"].note and "update gates.json" in results["12"].note
    assert results["10"].status == "PASS"


def test_a_missing_or_empty_run_folder_is_an_error(tmp_path, capsys):
    with pytest.raises(ArgumentError, match="No run folder"):
        gates.check(tmp_path / "nowhere")
    (tmp_path / "summary.txt").write_text("", encoding="utf-8")
    assert main(["gates", str(tmp_path)]) == 2
    assert "holds no *.metrics.json: give a folder `python -m workbook run` wrote" in capsys.readouterr().err


def recorded_in_reference(stem: str) -> tuple[dict, dict]:
    """What the reference (the notebook run under smoke) recorded, and the parameters papermill injected."""
    cells = [
        cell for cell in nbformat.read(REFERENCE_DIR / f"{stem}.ipynb", as_version=4).cells if cell.cell_type == "code"
    ]
    injected = next(cell for cell in cells if "injected-parameters" in cell.metadata.get("tags", []))
    parameters = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(injected.source).body}
    recording = [cell for cell in cells if "session.record_metrics(" in cell.source][-1]
    shown = next(output for output in recording.outputs if output.output_type == "execute_result")
    return ast.literal_eval(shown["data"]["text/plain"]), parameters


def test_every_gate_finds_its_metric_under_the_keys_the_notebooks_record(tmp_path):
    """The references record real keys: a notebook that renames one fails here (then update gates.json)."""
    for number, stem in STEMS.items():
        metrics, parameters = recorded_in_reference(stem)
        write_metrics(tmp_path, number, metrics, {**parameters, "WEIGHTS": "imagenet"})  # gated like a real run
    for result in gates.check(tmp_path):
        assert result.value is not None, f"{result.notebook}: {result.note}"
        assert result.status == ("PASS" if result.value >= result.minimum else "FAIL")


def test_the_thresholds_file_names_a_gate_per_notebook_and_its_source():
    loaded = gates.load_gates()
    assert [(gate["notebook"], gate["minimum"]) for gate in loaded] == [
        ("04", 0.78),
        ("08", 0.8),
        ("10", 0.85),
        ("12", 0.85),
    ]
    assert all(gate["source"] == "taken from the course's published results with a margin" for gate in loaded)
    assert all(run.select_notebooks([gate["notebook"]]) for gate in loaded)
