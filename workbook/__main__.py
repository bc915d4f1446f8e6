"""Command line: `python -m workbook run | gates | fetch | check | checked | doctor | serve`."""

from __future__ import annotations

import argparse
import ast
import platform
import sys
from pathlib import Path

from workbook import dataset, settings
from workbook.errors import DataError, WorkbookError


def parse_value(text: str):
    """A Python literal (None, True, 0.01, [1, 2], 'text') or else the plain string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def command_run(args) -> int:
    """Execute notebooks (`run`)."""
    from workbook import run

    overrides = {name: parse_value(value) for name, value in args.parameter}
    try:
        results = run.run(args.profile, args.notebooks, args.out, overrides, gpu=args.gpu)
    except WorkbookError as error:
        print(f"Run stopped before the notebooks: {error}", file=sys.stderr)
        return 2
    return 0 if all(result.status == "ok" for result in results) else 1


def command_gates(args) -> int:
    """Check a run folder's accuracies (`gates`)."""
    from workbook import gates

    try:
        results = gates.check(args.run_folder)
    except WorkbookError as error:
        print(error, file=sys.stderr)
        return 2
    print(gates.report(results, args.run_folder))
    return 1 if any(result.failed for result in results) else 0


def command_fetch(args) -> int:
    """Download the dataset and, with --weights, the ImageNet files (`fetch`)."""
    from workbook import imagenet

    try:
        print(f"Dataset ready at {dataset.find_dataset(download=True)}")
        if args.weights:
            imagenet.fetch_weights()
            print(f"Xception weights and ImageNet class names cached in {imagenet.keras_cache()}")
    except WorkbookError as error:  # the message names the remedies
        print(error, file=sys.stderr)
        return 2
    return 0


def command_check(args) -> int:
    """Check a dataset folder (`check`)."""
    from workbook.dataset_check import check_dataset

    try:
        report = check_dataset(Path(args.dir) if args.dir else None)
    except DataError as error:
        print(error, file=sys.stderr)
        return 2
    print(report)
    return 1 if report.problems else 0


def command_checked(args) -> int:
    """Read the check results saved in a folder of students' notebooks (`checked`)."""
    from workbook import checks

    try:
        print(checks.checked(Path(args.folder)))
    except checks.ChecksError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


def command_doctor(args) -> int:
    """Print versions, device, dataset and weights, with advice (`doctor`).

    Long: one check after another, each with its advice.
    """
    from workbook import backend, imagenet
    from workbook.backend import keras

    advice, dataset_ok = [], False
    print(f"Python      {platform.python_version()}")
    print(f"Keras       {keras.__version__} (backend: {backend.version()}, images through {backend.FORMAT})")
    gpus = backend.gpus()
    print(f"Device      {backend.device(gpus)}")
    if not gpus:
        advice.append("No GPU: fine for the smoke profile and notebooks 01-03; notebook 04's full fit takes 12-25 min.")
    root = settings.dataset_dir()
    if not root.is_dir():
        print(f"Dataset     missing at {root}")
        advice.append("Get the dataset: `make fetch` (or set WORKBOOK_DATA to a copy).")
    else:
        problems = dataset.verify(root)
        manifest = "workbook/manifest"
        state = f"verified against {manifest}" if not problems else f"{len(problems)} files differ from {manifest}"
        print(f"Dataset     {root}: {state}")
        dataset_ok = not problems
        if problems:
            advice.append(
                "The dataset differs from the pinned version (first: " + problems[0] + "). "
                "Run `python -m workbook check` for bad files, or delete the folder and `make fetch`."
            )
    for name, cached in imagenet.weights_status().items():
        print(f"Weights     {name}: {'cached' if cached else 'not cached'} in {imagenet.keras_cache()}")
    if not all(imagenet.weights_status().values()):
        advice.append(
            "ImageNet files not cached: they download on first use, or fetch them ahead with "
            "`python -m workbook fetch --weights` (offline classrooms: see docs/instructors.md)."
        )
    print("\n".join(["", "What to do:", *(f"  - {line}" for line in advice)]) if advice else "\nAll good.")
    return 0 if dataset_ok else 1


def command_serve(args) -> int:
    """Serve an exported ONNX model on a local web page and endpoint (`serve`)."""
    from workbook import service  # onnxruntime, FastAPI and Pillow: no Keras, no TensorFlow

    if not args.model.is_file():
        print(f"No model file at {args.model}: export one with notebook 13 (serving.export_onnx).", file=sys.stderr)
        return 2
    service.serve(args.model, args.host, args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: parse the arguments, run the command, return the exit status.

    Long: the table of commands and their options.
    """
    parser = argparse.ArgumentParser(prog="python -m workbook", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser("run", help="execute notebooks with papermill into a run folder")
    run_parser.add_argument("--profile", default="full", help="full (the course settings) or smoke (a quick check)")
    run_parser.add_argument("--notebooks", nargs="*", metavar="NN", help="numbers of the notebooks to run (all)")
    run_parser.add_argument("--out", type=Path, help="run folder (default: runs/<profile>-<time>)")
    run_parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a parameter in every notebook that has it, e.g. -p EPOCHS 3 -p WEIGHTS None",
    )
    run_parser.add_argument(
        "--gpu",
        action="store_true",
        help="stop unless the backend sees a GPU (make gpu-check: every notebook, full size)",
    )
    run_parser.set_defaults(handler=command_run)

    gates_parser = commands.add_parser("gates", help="check a run folder's accuracies against workbook/gates.json")
    gates_parser.add_argument("run_folder", type=Path, metavar="RUN_FOLDER", help="a folder `run` wrote (runs/<name>/)")
    gates_parser.set_defaults(handler=command_gates)

    fetch_parser = commands.add_parser("fetch", help="download the dataset (and with --weights the ImageNet files)")
    fetch_parser.add_argument("--weights", action="store_true", help="also cache Xception's weights and class names")
    fetch_parser.set_defaults(handler=command_fetch)

    check_parser = commands.add_parser("check", help="report classes, counts and bad files of a dataset")
    check_parser.add_argument("dir", nargs="?", help="dataset folder (default: the one in use)")
    check_parser.set_defaults(handler=command_check)

    checked_parser = commands.add_parser(
        "checked", help="per notebook, the check-yourself checks that pass in a folder of saved notebooks (not run)"
    )
    checked_parser.add_argument(
        "folder", nargs="?", default="notebooks", help="folder of saved notebooks (default: notebooks)"
    )
    checked_parser.set_defaults(handler=command_checked)

    doctor_parser = commands.add_parser("doctor", help="versions, device, dataset and weights, with advice")
    doctor_parser.set_defaults(handler=command_doctor)

    serve_parser = commands.add_parser("serve", help="a local web service for an exported ONNX model (notebook 13)")
    serve_parser.add_argument("model", type=Path, metavar="MODEL.onnx", help="a file notebook 13 exported")
    serve_parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve_parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this computer only)"
    )
    serve_parser.set_defaults(handler=command_serve)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
