"""Execute notebooks under a profile with papermill, into a run folder with metrics and a summary."""

from __future__ import annotations

import ast
import os
import platform
import time
from datetime import datetime
from pathlib import Path

from workbook import report, run_folder, settings, text
from workbook.dataset_check import MIN_IMAGE_SIZE
from workbook.errors import WorkbookError
from workbook.files import write_json
from workbook.run_folder import Result

NOTEBOOKS_DIR = settings.REPO_ROOT / "notebooks"

# Values a profile sets; a notebook receives only the names its parameters cell declares.
PROFILES: dict[str, dict] = {
    "full": {},
    "smoke": {
        "WEIGHTS": None,
        "IMAGE_SIZE": 71,
        "LARGE_IMAGE_SIZE": 96,
        "BATCH_SIZE": 16,
        "EPOCHS": 1,
        "MAX_BATCHES": 2,
    },
}


class RunError(WorkbookError, RuntimeError):
    """The run cannot start; the message says why and what to do."""


def select_notebooks(selection: list[str] | None = None) -> list[Path]:
    """The notebooks whose number (or full stem) is in `selection`; every notebook when it is empty."""
    available = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not selection:
        return available
    chosen = []
    for wanted in selection:
        matches = [path for path in available if path.stem == wanted or path.stem.split("_")[0] == wanted.zfill(2)]
        if not matches:
            names = ", ".join(path.stem for path in available)
            raise RunError(f"No notebook {wanted!r}. Available: {names}")
        chosen += matches
    return chosen


def declared_parameters(notebook: Path) -> dict:
    """The names and values of a notebook's `parameters` cell (which must hold only literals)."""
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    tagged = [cell for cell in cells if "parameters" in cell.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise RunError(f"{notebook.name} has {len(tagged)} cells tagged 'parameters'; it needs exactly one")
    assignments = [node for node in ast.parse(tagged[0].source).body if isinstance(node, ast.Assign)]
    return {target.id: ast.literal_eval(node.value) for node in assignments for target in node.targets}


def parameters_for(notebook: Path, profile: str, overrides: dict | None = None) -> dict:
    """The profile's values and the overrides, restricted to what `notebook` declares."""
    if profile not in PROFILES:
        raise RunError(f"Unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    declared = declared_parameters(notebook)
    wanted = {**PROFILES[profile], **(overrides or {})}
    return {name: value for name, value in wanted.items() if name in declared}


def _whole(minimum: int, none_allowed: bool = False):
    """A check that a value is a whole number >= `minimum` (or None): the message when it is not, else None."""

    def check(value) -> str | None:
        if (value is None and none_allowed) or (type(value) is int and value >= minimum):
            return None
        return f"must be {'None or ' if none_allowed else ''}a whole number of at least {minimum}"

    return check


def _weights(value) -> str | None:
    if value is None or value == "imagenet" or (isinstance(value, str) and Path(value).expanduser().is_file()):
        return None
    return "must be 'imagenet', None (random weights) or the path of an existing weights file"


# The parameters every notebook shares (README, "Parameters") and what each accepts.
CHECKS = {
    "WEIGHTS": _weights,
    "IMAGE_SIZE": _whole(MIN_IMAGE_SIZE),
    "LARGE_IMAGE_SIZE": _whole(MIN_IMAGE_SIZE),  # notebook 12's second size; the smoke profile shrinks it too
    "BATCH_SIZE": _whole(1),
    "EPOCHS": _whole(1),
    "MAX_BATCHES": _whole(1, none_allowed=True),
    "SEED": _whole(0),
}


def check_parameters(values: dict) -> None:
    """Raise RunError naming every shared parameter in `values` with a type or range a notebook cannot use."""
    problems = [
        f"  {name} = {value!r}: {problem}"
        for name, value in values.items()
        if name in CHECKS and (problem := CHECKS[name](value))
    ]
    if problems:
        raise RunError("Parameters no notebook can run with:\n" + "\n".join(problems))


def preflight(notebooks: list[Path], profile: str, overrides: dict | None) -> None:
    """Get the dataset and, where a notebook uses them, the ImageNet weights before any notebook starts."""
    from workbook import dataset, imagenet

    dataset.find_dataset(download=True)
    if any(
        {**declared_parameters(notebook), **parameters_for(notebook, profile, overrides)}.get("WEIGHTS") == "imagenet"
        for notebook in notebooks
    ):
        imagenet.fetch_weights()


def execute(notebook: Path, out_dir: Path, profile: str, overrides: dict | None = None) -> Result:
    """Run one notebook into `out_dir`, with its metrics file beside it.

    Long: one try/except/finally around papermill, whose parts must stay together.
    """
    import papermill

    parameters = parameters_for(notebook, profile, overrides)
    metrics_path = run_folder.metrics_path(out_dir, notebook.stem)
    metrics_path.unlink(missing_ok=True)
    os.environ[settings.METRICS_ENV] = str(metrics_path)
    os.environ[settings.PROFILE_ENV] = profile
    started = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(
            str(notebook),
            str(out_dir / notebook.name),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(notebook.parent),
            progress_bar=True,
            # The kernel's own log (its warning that it talks over local TCP without encryption, every notebook)
            # would break the progress line; its errors still show, and a notebook's errors come as outputs.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except papermill.PapermillExecutionError as failure:
        error = f"{failure.ename}: {failure.evalue}"
    except Exception as failure:  # the kernel died (out of memory, killed): record it, run the next notebook
        error = f"{type(failure).__name__}: {failure}"
    finally:
        del os.environ[settings.METRICS_ENV], os.environ[settings.PROFILE_ENV]
    result = Result(
        notebook.stem,
        "failed" if error else "ok",
        round(time.perf_counter() - started, 1),
        parameters,
        run_folder.read(metrics_path),
        error,
    )
    run_folder.write_result(metrics_path, profile, result)
    return result


def summary_table(results: list[Result]) -> str:
    """A plain-text table: notebook, status, seconds, and its recorded metrics (a dict value gets its own line)."""
    rows = [("notebook", "status", "seconds", "metrics")]
    rows += [
        (result.notebook, result.status, f"{result.seconds:.1f}", _pairs(result.flat()) or "-") for result in results
    ]
    lines = text.table(rows)
    indent = " " * (len(lines[0]) - len("metrics"))
    out = [lines[0], "-" * len(lines[0])]
    for line, result in zip(lines[1:], results):
        out += [line] + [f"{indent}{name}: {_pairs(row)}" for name, row in result.nested().items()]
    return "\n".join(out)


def _pairs(values: dict) -> str:
    return ", ".join(f"{name}={value}" for name, value in values.items())


def device() -> dict:
    """What the notebooks run on: Keras, its backend, the GPUs it sees (none: the CPU) and the CPU's cores."""
    from workbook import backend
    from workbook.backend import keras

    return {
        "keras": keras.__version__,
        "backend": backend.version(),
        "gpus": backend.gpus(),
        "cpu_cores": os.cpu_count(),
        "platform": platform.platform(),
    }


def require_gpu(found: dict) -> None:
    """Stop, saying how to get one, when the backend sees no GPU."""
    if not found["gpus"]:
        raise RunError(
            f"No GPU is visible to Keras' backend ({found['backend']}), and --gpu asks for one. Check that "
            "`nvidia-smi` lists the GPU, then install the backend's GPU build in this environment: "
            "`pip install 'jax[cuda12]'` (BACKEND=jax), PyPI's torch (BACKEND=torch, CUDA included) or "
            "`pip install 'tensorflow[and-cuda]'` (TensorFlow on Linux); see docs/backends.md, GPU runs."
        )


def validated(notebooks: list[Path], profile: str, overrides: dict | None) -> dict | None:
    """The overrides with a local WEIGHTS file made absolute; RunError for values or names no notebook takes."""
    weights = (overrides or {}).get("WEIGHTS")
    if isinstance(weights, str) and Path(weights).expanduser().is_file():  # named from where the command runs
        overrides = {**overrides, "WEIGHTS": str(Path(weights).expanduser().resolve())}
    declared = set()
    for notebook in notebooks:
        check_parameters({**declared_parameters(notebook), **parameters_for(notebook, profile, overrides)})
        declared |= set(declared_parameters(notebook))
    unknown = sorted(set(overrides or {}) - declared)
    if unknown:
        raise RunError(
            f"No selected notebook has a parameter {', '.join(unknown)}; they have {', '.join(sorted(declared))}"
        )
    return overrides


def device_line(found: dict) -> str:
    """Where the notebooks run (`device()`'s record), in one line: the GPUs or the CPU, and Keras on its backend."""
    from workbook import backend

    return backend.device(found["gpus"]) + f"; Keras {found['keras']} on {found['backend']}"


def write_outputs(out: Path, results: list[Result], profile: str, overrides: dict | None, where: str) -> str:
    """Write summary.txt and the pages (index.html), print where they are, and return the summary."""
    table = f"Device: {where}\n\n" + summary_table(results)
    if profile == "smoke" or (overrides or {}).get("WEIGHTS", "imagenet") is None:
        table += "\n\n" + report.random_note(results)
    (out / "summary.txt").write_text(table + "\n", encoding="utf-8")
    index = report.write(out, results, profile, NOTEBOOKS_DIR, device=where)
    print(f"\nExecuted notebooks and metrics are in {out}\n\n{table}")
    print(f"\nPages to present or share (no kernel needed): {index}")
    return table


def run(
    profile: str = "full",
    selection: list[str] | None = None,
    out: Path | None = None,
    overrides: dict | None = None,
    gpu: bool = False,
) -> list[Result]:
    """Execute the selected notebooks under `profile`; print progress and the summary table.

    The run folder's `device.json` says what they ran on. With `gpu`, stop unless the backend sees a GPU.

    Args:
        profile: "full" (the course settings) or "smoke" (a quick check with random weights).
        selection: notebook numbers or stems; every notebook when empty.
        out: the run folder; a new one under runs/ when None.
        overrides: parameter values for every notebook that declares them.
        gpu: stop unless the backend sees a GPU.

    Returns:
        One `Result` per notebook.
    """
    notebooks = select_notebooks(selection)
    overrides = validated(notebooks, profile, overrides)
    os.environ.pop("MPLBACKEND", None)  # a non-inline backend drops figures from executed notebooks
    settings.make_paths_absolute()  # kernels run in notebooks/: a relative path would point elsewhere there
    found = device()
    if gpu:
        require_gpu(found)
    preflight(notebooks, profile, overrides)
    out = Path(out).expanduser().resolve() if out else settings.runs_dir() / f"{profile}-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "device.json", found)  # now, so an interrupted run still says what it ran on
    print(f"Running on {device_line(found)}", flush=True)
    results = []
    for number, notebook in enumerate(notebooks, start=1):
        print(f"[{number}/{len(notebooks)}] {notebook.stem} ({profile} profile)", flush=True)
        results.append(execute(notebook, out, profile, overrides))
        if results[-1].error:
            print(f"    failed: {results[-1].error}", flush=True)
    write_json(out / "device.json", {**found, "seconds": {result.notebook: result.seconds for result in results}})
    write_outputs(out, results, profile, overrides, device_line(found))
    return results
