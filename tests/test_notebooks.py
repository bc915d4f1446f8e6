"""Every notebook executed under the smoke profile by the run command, and checks of the stored notebooks."""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

import nbformat
import pytest
from conftest import CLASSES, REAL_DATA

from workbook import backend, run

NOTEBOOKS = sorted(run.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
SHARED = {"WEIGHTS", "IMAGE_SIZE", "BATCH_SIZE", "EPOCHS", "MAX_BATCHES", "SEED"}


def read(path: Path):
    return nbformat.read(path, as_version=4)


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def text_of(cell) -> str:
    """Everything a code cell showed: streams and the plain-text form of results."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_the_course_has_notebooks_01_to_12():
    assert [path.stem for path in NOTEBOOKS][:12] == [
        "01_images_as_arrays",
        "02_pretrained_xception",
        "03_convolutions",
        "04_transfer_learning",
        "05_learning_rate",
        "06_checkpointing",
        "07_inner_layers",
        "08_dropout",
        "09_augmentation",
        "10_larger_model",
        "11_fine_tuning",
        "12_using_the_model",
    ]


def test_every_notebook_passes_the_smoke_run(smoke_run):
    out, results = smoke_run
    assert [(r.notebook, r.status, r.error) for r in results] == [(p.stem, "ok", None) for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        executed = read(out / path.name)
        errors = [o for cell in code_cells(executed) for o in cell.outputs if o.output_type == "error"]
        assert errors == [], f"{path.name} has error outputs"
        assert "SMOKE RUN" in "".join(text_of(cell) for cell in code_cells(executed)), path.name


def test_smoke_run_writes_metrics_and_a_summary(smoke_run):
    out, results = smoke_run
    for path in NOTEBOOKS:
        record = json.loads((out / f"{path.stem}.metrics.json").read_text())
        assert record["profile"] == "smoke" and record["status"] == "ok"
        assert record["parameters"].get("WEIGHTS", None) is None
        assert record["metrics"], f"{path.name} recorded no metrics"
    summary = (out / "summary.txt").read_text()
    for path in NOTEBOOKS:
        assert re.search(rf"^{path.stem}\s+ok\s+\d", summary, re.MULTILINE)
    assert "best_val_accuracy=" in summary
    device = json.loads((out / "device.json").read_text())
    assert device["backend"] == backend.version() and device["gpus"] == backend.gpus()
    assert device["seconds"] == {result.notebook: result.seconds for result in results}
    assert summary.startswith(f"Device: {backend.device(device['gpus'])}; Keras ")


def key_tree(value):
    """The keys of a metrics record, nested, without the values."""
    return {name: key_tree(item) for name, item in value.items()} if isinstance(value, dict) else None


def test_smoke_run_records_the_same_metrics_keys_as_the_tensorflow_references(smoke_run):
    """On any backend, every notebook records what it records on TensorFlow (the references ran there)."""
    from test_gates import recorded_in_reference

    from workbook import serving

    out, _ = smoke_run
    for path in NOTEBOOKS:
        recorded = json.loads((out / f"{path.stem}.metrics.json").read_text())["metrics"]
        if path.stem == "13_serving" and backend.name() in serving.ONNX_FAILS:
            assert list(recorded) == ["onnx_export"]  # no ONNX file here: 13 records that there is none
            continue
        assert key_tree(recorded) == key_tree(recorded_in_reference(path.stem)[0]), path.name


def test_executed_copies_hold_no_stderr_and_no_widget_state(smoke_run):
    """Progress bars print one line on stdout under the run command: nothing nbval or GitHub cannot show."""
    out, _ = smoke_run
    for path in NOTEBOOKS:
        executed = read(out / path.name)
        assert "widgets" not in executed.metadata, path.name
        outputs = [output for cell in code_cells(executed) for output in cell.outputs]
        assert [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"] == [], path.name
        assert not [o for o in outputs if any("widget" in mime for mime in o.get("data", {}))], path.name


def test_random_weights_note_names_only_what_the_run_changed():
    """A full-size run with `-p WEIGHTS None` changed the weights alone, and its note says so."""
    results = [run.Result("01_images_as_arrays", "ok", 1.0, {}), run.Result("04_x", "ok", 1.0, {"WEIGHTS": None})]
    note = run.report.random_note(results)
    assert note.startswith("Random weights: run with WEIGHTS = None, every other setting as in the notebooks.")
    assert "shrunk" not in note and "EPOCHS" not in note


def test_smoke_run_writes_a_page_per_notebook_and_an_index(smoke_run):
    out, _ = smoke_run
    index = (out / "index.html").read_text()
    assert f"on {backend.version()}</p>" in index
    note = re.search(r'<p class="note">Random weights: run with ([^<]*), every other setting as in', index)
    assert note and set(note.group(1).split(", ")) == {f"{k} = {v!r}" for k, v in run.PROFILES["smoke"].items()}
    for path in NOTEBOOKS:
        assert f'<a href="{path.stem}.html">' in index and f'id="{path.stem}"' in index, path.name
        page = (out / f"{path.stem}.html").read_text()
        sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
        outputs = [output for cell in code_cells(read(out / path.name)) for output in cell.outputs]
        figures = [output for output in outputs if "image/png" in output.get("data", {})]
        assert len(sources) >= len(figures) and all(source.startswith("data:image/") for source in sources), path.name
    assert "../images/" not in (out / "04_transfer_learning.html").read_text()  # its figure is embedded


# The configurations each sweep notebook must run , as training.sweep labels them.
SWEEPS = {
    "05_learning_rate": [f"learning_rate={rate}" for rate in (0.0001, 0.001, 0.01, 0.1)],
    "07_inner_layers": [f"learning_rate=0.001, size_inner={size}" for size in (10, 100, 1000)],
    "08_dropout": [f"learning_rate=0.001, size_inner=100, droprate={rate}" for rate in (0.0, 0.2, 0.5, 0.8)],
    "09_augmentation": ["no augmentation", "augmentation"],
    "10_larger_model": ["71 px", "96 px"],  # the smoke profile's IMAGE_SIZE and LARGE_IMAGE_SIZE
    "11_fine_tuning": ["head alone", "block 14 + head"],
}


@pytest.mark.parametrize("notebook", sorted(SWEEPS))
def test_sweeps_record_every_configuration_in_the_summary(smoke_run, notebook):
    out, _ = smoke_run
    metrics = json.loads((out / f"{notebook}.metrics.json").read_text())["metrics"]
    for label in SWEEPS[notebook]:
        assert set(metrics[label]) == {"best_val_accuracy", "best_epoch", "final_gap"}, label
        assert 0 <= metrics[label]["best_val_accuracy"] <= 1 and metrics[label]["best_epoch"] == 1  # smoke: 1 epoch
    summary = (out / "summary.txt").read_text()
    assert all(f"{label}: best_val_accuracy=" in summary for label in SWEEPS[notebook])


def test_executed_06_reloads_the_best_checkpoint_and_resumes(smoke_run):
    out, _ = smoke_run
    run_dir = out / "06_checkpointing"
    checkpoints = sorted(path.name for path in run_dir.glob("head_v1_*.keras"))
    assert checkpoints and all(re.fullmatch(r"head_v1_\d{2}_\d\.\d{3}\.keras", name) for name in checkpoints)
    assert (run_dir / "clothing_model_v1.keras").is_file() and (run_dir / "head_v1.weights.h5").is_file()
    assert not (run_dir / "backup").exists()  # deleted once the resumed run completed
    record = json.loads((out / "06_checkpointing.metrics.json").read_text())["metrics"]
    assert record["reloaded_val_accuracy"] == record["best_val_accuracy"]


@pytest.mark.parametrize("stem", ["06", "07", "08", "09", "11"])
def test_notebooks_after_05_read_its_vectors_from_the_cache(smoke_run, stem):
    """With random weights as with ImageNet's: every notebook's Xception has the same weights, so 05's vectors serve."""
    out, _ = smoke_run
    executed = nbformat.read(next(out.glob(f"{stem}_*.ipynb")), as_version=4)
    printed = "".join(
        o.get("text", "") for c in executed.cells for o in c.get("outputs", []) if o.get("name") == "stdout"
    )
    assert not re.search(r"(train|validation): computing vectors once", printed), printed
    assert all(f"{split}: vectors of " in printed for split in ("train", "validation")), printed


def test_executed_10_saves_the_larger_model_as_one_image_model(smoke_run):
    import keras

    out, _ = smoke_run
    folder = out / "10_larger_model"
    assert sorted(folder.glob("larger_head_*.keras")) and (folder / "clothing_model_larger.keras").is_file()
    model = keras.saving.load_model(folder / "clothing_model_larger.keras")
    assert model.input_shape == (None, 96, 96, 3) and model.output_shape == (None, 10)


def test_executed_12_records_each_model_and_writes_the_model_and_its_card(smoke_run, dataset_root):
    import keras

    out, _ = smoke_run
    metrics = json.loads((out / "12_using_the_model.metrics.json").read_text())["metrics"]
    names = ["71 px", "96 px", "fine-tuned"]  # the smoke profile's IMAGE_SIZE and LARGE_IMAGE_SIZE
    for name in names:
        assert set(metrics[name]) == {"val_accuracy", "test_accuracy"}, name
        assert all(0 <= value <= 1 for value in metrics[name].values())
    assert metrics["final"] in names and list(metrics["per_class_recall"]) == CLASSES
    summary = (out / "summary.txt").read_text()
    assert all(f"{name}: val_accuracy=" in summary for name in names) and "per_class_recall: dress=" in summary
    folder = out / "12_using_the_model"
    card = (folder / "model_card.md").read_text()
    for section in ("# Model card", "## Recipe", "## Accuracy", "## Recall per class", "## Size and speed"):
        assert section in card
    assert "not results" in card  # a smoke run says so on the card
    exported = (folder / "saved_model" / "saved_model.pb").is_file(), (folder / "clothing_classifier.tflite").is_file()
    if backend.name() == "tensorflow":
        assert exported == (True, True)
    else:  # both exports go through TensorFlow: skipped, and the notebook says so
        shown = "\n".join(text_of(cell) for cell in code_cells(read(out / "12_using_the_model.ipynb")))
        assert exported == (False, False) and f"Skipped on the {backend.name()} backend" in shown
    model = keras.saving.load_model(folder / "clothing_classifier.keras")
    assert model.input_shape[-1] == 3 and model.output_shape == (None, 10) and model.layers[1].name == "preprocessing"


def test_executed_04_reports_files_and_classes(smoke_run, dataset_root):
    out, _ = smoke_run
    shown = "\n".join(text_of(cell) for cell in code_cells(read(out / "04_transfer_learning.ipynb")))
    counts = (3068, 341) if REAL_DATA else (40, 20)
    assert f"Found {counts[0]} files belonging to 10 classes." in shown
    assert f"Found {counts[1]} files belonging to 10 classes." in shown
    assert str(CLASSES).replace(",", ",\n") in shown or str(CLASSES) in shown


def test_stored_notebooks_are_clean_with_one_parameters_cell():
    for path in NOTEBOOKS:
        cells = code_cells(read(path))
        assert all(not cell.outputs and cell.execution_count is None for cell in cells), path.name
        tagged = [cell for cell in cells if "parameters" in cell.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name


def test_parameters_are_upper_case_literals_with_shared_names():
    for path in NOTEBOOKS:
        declared = run.declared_parameters(path)
        assert declared and all(name.isupper() for name in declared), path.name
        assert "SEED" in declared, path.name
        if "WEIGHTS" in declared:
            assert declared["WEIGHTS"] == "imagenet", path.name
        if "MAX_BATCHES" in declared:
            assert declared["MAX_BATCHES"] is None, path.name
    assert set(run.PROFILES["smoke"]) <= set(run.CHECKS) and SHARED <= set(run.CHECKS)  # each value is checked


def test_notebooks_follow_the_common_shape():
    for path in NOTEBOOKS:
        cells = read(path).cells
        assert cells[0].cell_type == "markdown" and cells[0].source.startswith(f"# {path.stem[:2]} · "), path.name
        headings = [
            line
            for cell in cells
            if cell.cell_type == "markdown"
            for line in cell.source.splitlines()
            if line.startswith("## ")
        ]
        assert headings[0] == "## Setup" and headings[-2:] == ["## Summary", "## Exercises"], path.name
        for before, cell in zip(cells, cells[1:]):
            if cell.cell_type == "code":
                assert before.cell_type == "markdown", f"{path.name}: code without a sentence before it:\n{cell.source}"
                assert len(cell.source.splitlines()) <= 15, f"{path.name}: long cell:\n{cell.source}"
        text = "\n".join(cell.source for cell in cells if cell.cell_type == "markdown")
        assert not re.search(r"\b(just|simply|easily)\b", text, re.IGNORECASE), path.name
        code = "\n".join(cell.source for cell in cells if cell.cell_type == "code")
        assert not re.search(r"^\s*[!%]?pip\b", code, re.MULTILINE), f"{path.name} installs packages"


# The course notes' mistakes must not come back: never in code, and in prose
# only inside a sentence that corrects them.
CODE_MISTAKES = [
    r"decore_predictions",
    r"input_shape\(",
    r"save_format",
    r"fit_generator",
    r"use_multiprocessing",
    r"model_v1\.h5",
    r"from keras\.preprocessing\.image import ImageDataGenerator",
]
PROSE_MISTAKES = [
    r"absorbed into TensorFlow",
    r"flat 1-D vector",
    r"actual input of the top-less",
    r"reduces? the (amount|number) of parameters",
    r"easily overfits?",
    r"freez\w+ (nodes|units|neurons)",
]
CORRECTION = re.compile(r"\b(not|no|never|typo|instead|wrong)\b|n't", re.IGNORECASE)


def test_no_course_note_mistakes():
    for path in NOTEBOOKS:
        cells = read(path).cells
        code = "\n".join(cell.source for cell in cells if cell.cell_type == "code")
        for mistake in CODE_MISTAKES:
            assert not re.search(mistake, code), f"{path.name} code contains {mistake!r}"
        prose = " ".join(cell.source for cell in cells if cell.cell_type == "markdown")
        for sentence in re.split(r"(?<=[.!?])\s+", prose):
            for mistake in PROSE_MISTAKES:
                if re.search(mistake, sentence, re.IGNORECASE):
                    assert CORRECTION.search(sentence), f"{path.name} states {mistake!r}: {sentence}"


# Each concept the course must teach is shown by a cell; these are the calls that show them.
CONCEPTS = {
    "01": [
        "keras.utils.load_img",
        "tensorflow.keras.preprocessing.image",
        "target_size",
        "np.array(",
        "plots.channels",
        ".dtype",
        ".shape",
    ],
    "02": [
        "Xception(",
        "input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3)",
        "preprocess_input",
        ".predict(",
        "decode_predictions",
        "image_grid",
    ],
    "03": [
        "block1_conv1",
        "MaxPooling2D",
        "count_params()",
        "GlobalAveragePooling2D",
        "Dense(",
        "softmax",
        "sigmoid",
        "plots.feature_maps",
        "relu",
    ],
    "04": [
        "image_dataset_from_directory",
        'label_mode="categorical"',
        "shuffle=False",
        "include_top=False",
        "trainable = False",
        "training=False",
        "GlobalAveragePooling2D()",
        "Dense(10)",
        "CategoricalCrossentropy(from_logits=True)",
        "Adam(",
        ".fit(",
        "plots.learning_curves",
    ],
    "05": [
        "training=False",
        "np.array_equal",
        "models.join",
        "embeddings.embed",
        "shuffle=False",
        "<= 1e-5",
        "training.sweep",
        "plots.sweep",
        "record_metrics",
    ],
    "06": [
        "keras.callbacks.ModelCheckpoint",
        "{epoch:02d}_{val_accuracy:.3f}.keras",
        "save_best_only=True",
        'monitor="val_accuracy"',
        'mode="max"',
        "keras.models.load_model",
        "reloaded_accuracy == best_accuracy",
        ".save_weights(",
        ".weights.h5",
        ".load_weights(",
        "keras.callbacks.BackupAndRestore",
        "models.join",
    ],
    "07": ['activation="relu"', "size_inner", "training.sweep", "plots.sweep", "count_params()"],
    "08": ["keras.layers.Dropout(", "training=True", "training=False", "droprate", "train=True", "training.sweep"],
    "09": [
        'keras.layers.RandomFlip("horizontal"',
        "keras.layers.RandomRotation(",
        "keras.layers.RandomZoom(",
        "keras.layers.RandomTranslation(",
        "keras.layers.RandomContrast(",
        "plots.image_grid",
        ".predict(",
        "training=True",
        "keras.layers.Pipeline(",
        ".map(",
        "embeddings.augmented_views",
        "embeddings.embed_views",
        "training.train_head",
        "plots.sweep",
        "record_metrics",
    ],
    "10": [
        "base_model(WEIGHTS, IMAGE_SIZE)",
        "output_shape",
        "time.perf_counter()",
        "keras.callbacks.ModelCheckpoint",
        'monitor="val_accuracy"',
        "LEARNING_RATE",
        "models.join",
        ".save(",
        "keras.saving.load_model",
        "plots.sweep",
        "record_metrics",
    ],
    "11": [
        'startswith("block14")',
        "count_params()",
        'keras.Model(base.input, base.get_layer("block14_sepconv1").input)',
        "embeddings.embed_maps",
        "training=False",
        ".trainable = False",
        ".trainable = True",
        ".compile(",
        "keras.layers.BatchNormalization",
        "moving_mean",
        "moving_variance",
        "HIGH_LEARNING_RATE",
        "restore_best_weights=True",
        "models.fine_tuning_model",
        "training.fine_tune",
        "plots.sweep",
        "training.results",
        "models.fine_tuned_parts",
        "models.join",
        ".evaluate(",
        "record_metrics",
    ],
    "12": [
        "training.best",
        "max(validation",
        "keras.layers.Rescaling(1 / 127.5, offset=-1)",
        "preprocess_input",
        "models.final_model",
        ".save(",
        "keras.saving.load_model",
        'embed("test"',
        "evaluation.confusion_matrix",
        "plots.confusion_matrix",
        "evaluation.per_class_metrics",
        "evaluation.most_confused",
        "plots.image_grid",
        "PHOTO",
        "data.load_photo",
        "plots.bars",
        "evaluation.class_score_gradients",
        "evaluation.class_activation_maps",
        "plots.heatmaps",
        ".export(",
        'format="litert"',
        "tf.saved_model.load",
        "Interpreter(",
        "time.perf_counter()",
        "evaluation.model_card",
        "record_metrics",
    ],
}


def test_augmentation_touches_training_images_only():
    """Validation and test images are never augmented: in no notebook does an augmentation call see them."""
    for path in NOTEBOOKS:
        code = "\n".join(without_comments(cell.source) for cell in code_cells(read(path)))
        assert set(re.findall(r"embed_views\(\s*\"(\w+)\"", code)) <= {"train"}, path.name
        for line in code.splitlines():
            if re.search(r"\b(pipeline|augmentation)\(", line):
                assert not re.search(r"validation|test", line), f"{path.name}: {line}"


def without_comments(source: str) -> str:
    """Python source with its comments removed: a concept counts only where code runs it."""
    lines = source.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            row, column = token.start
            lines[row - 1] = lines[row - 1][:column]
    return "\n".join(lines)


def test_concepts_in_comments_do_not_count():
    assert "load_img" not in without_comments("x = 1  # keras.utils.load_img(path)\n")
    assert "load_img" in without_comments("image = keras.utils.load_img(path)  # the concept\n")


def test_each_concept_is_shown_by_a_cell():
    for path in NOTEBOOKS:
        code = "\n".join(
            without_comments(cell.source) for cell in code_cells(read(path)) if not cell.source.startswith("%")
        )
        missing = [call for call in CONCEPTS.get(path.stem[:2], []) if call not in code]
        assert missing == [], f"{path.name} lacks {missing}"
