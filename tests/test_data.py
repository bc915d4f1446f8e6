"""The data layer: finding, downloading, verifying, checking and loading the dataset."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import CLASSES, REAL_DATA, make_dataset, write_image

from workbook import backend, data, dataset, dataset_check, errors, files, images, settings

real_data = pytest.mark.skipif(not REAL_DATA, reason="needs the real dataset (set WORKBOOK_DATA)")


# --- finding the dataset -------------------------------------------------------------------


def test_find_dataset_uses_workbook_data(small_dataset, monkeypatch):
    monkeypatch.setenv("WORKBOOK_DATA", str(small_dataset))
    assert data.find_dataset(download=False) == small_dataset.resolve()


def test_missing_dataset_without_download_names_the_remedies(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(errors.DataError, match="WORKBOOK_DATA") as error:
        data.find_dataset(download=False)
    assert "make fetch" in str(error.value)
    # The folder to put it in is the one WORKBOOK_DATA names, not the default one it overrides.
    assert f"at {tmp_path / 'nowhere'}," in str(error.value) and str(dataset.DEFAULT_DIR) not in str(error.value)


def test_check_of_a_missing_folder_says_so(tmp_path):
    with pytest.raises(errors.DataError, match="does not exist"):
        dataset_check.check_dataset(tmp_path / "typo")
    (tmp_path / "train").mkdir()
    with pytest.raises(errors.DataError, match="it lacks validation/ and test/"):
        dataset_check.check_dataset(tmp_path)


def test_folder_one_level_too_high_gets_a_hint(small_dataset, monkeypatch):
    monkeypatch.setenv("WORKBOOK_DATA", str(small_dataset.parent))
    with pytest.raises(errors.DataError, match="one level down"):
        data.find_dataset(download=False)


# --- manifest, download and safe extraction ------------------------------------------------


def make_archive(root: Path, archive: Path, top: str = "clothing-dataset-small-abc", extra=()) -> Path:
    """Pack a dataset folder the way GitHub does (one top folder), plus optional extra members."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname=top)
        for member, payload in extra:
            tar.addfile(member, io.BytesIO(payload) if payload is not None else None)
    return archive


def test_fetch_downloads_verifies_and_installs(small_dataset, tmp_path):
    manifest = tmp_path / "manifest"
    count = dataset.write_manifest(small_dataset, manifest)
    archive = make_archive(small_dataset, tmp_path / "dataset.tar.gz")
    target = tmp_path / "data" / "clothing-dataset-small"
    assert dataset.fetch_dataset(target, archive.as_uri(), manifest) == target
    assert dataset.verify(target, manifest) == []
    assert len(dataset.dataset_files(target)) == count == 70
    assert [p.name for p in target.parent.iterdir()] == ["clothing-dataset-small"]  # no leftovers


def test_fetch_that_fails_verification_installs_nothing(small_dataset, tmp_path):
    manifest = tmp_path / "manifest"
    dataset.write_manifest(small_dataset, manifest)
    (small_dataset / "train" / "hat" / "0.jpg").write_bytes(b"tampered")
    archive = make_archive(small_dataset, tmp_path / "dataset.tar.gz")
    target = tmp_path / "data" / "clothing-dataset-small"
    with pytest.raises(errors.DataError, match="changed .*train/hat/0.jpg"):
        dataset.fetch_dataset(target, archive.as_uri(), manifest)
    assert list(target.parent.iterdir()) == []  # neither the target nor a half-extracted folder


@pytest.mark.parametrize(
    "member",
    [
        ("../escape.jpg", tarfile.REGTYPE),
        ("/absolute.jpg", tarfile.REGTYPE),
        ("top/train/hat/link.jpg", tarfile.SYMTYPE),
    ],
)
def test_unsafe_archives_are_refused(small_dataset, tmp_path, member):
    name, kind = member
    info = tarfile.TarInfo(name)
    info.type = kind
    payload = b"x" if kind == tarfile.REGTYPE else None
    if kind == tarfile.SYMTYPE:
        info.linkname = "/etc/passwd"
    else:
        info.size = 1
    archive = make_archive(small_dataset, tmp_path / "bad.tar.gz", extra=[(info, payload)])
    target = tmp_path / "data" / "clothing"
    with pytest.raises(errors.DataError, match="Refusing to extract"):
        dataset.fetch_dataset(target, archive.as_uri(), tmp_path / "unused")
    assert not target.exists() and not (tmp_path / "escape.jpg").exists()


def test_offline_download_fails_with_remedies(tmp_path):
    target = tmp_path / "data" / "clothing"
    with pytest.raises(errors.DataError, match="Could not download") as error:
        dataset.fetch_dataset(target, "http://127.0.0.1:9/dataset.tar.gz", tmp_path / "unused")
    assert "WORKBOOK_DATA" in str(error.value) and not target.exists()


def test_interrupted_extraction_leaves_nothing_that_looks_complete(small_dataset, tmp_path, monkeypatch):
    manifest = tmp_path / "manifest"
    dataset.write_manifest(small_dataset, manifest)
    archive = make_archive(small_dataset, tmp_path / "dataset.tar.gz")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset, "verify", interrupted)
    target = tmp_path / "data" / "clothing"
    with pytest.raises(KeyboardInterrupt):
        dataset.fetch_dataset(target, archive.as_uri(), manifest)
    assert list(target.parent.iterdir()) == []


@real_data
def test_real_dataset_matches_the_committed_manifest():
    assert dataset.verify(settings.dataset_dir()) == []
    assert len(dataset.read_manifest()) == 3068 + 341 + 372


def test_verify_names_missing_changed_and_extra_files(small_dataset, tmp_path):
    manifest = tmp_path / "manifest"
    dataset.write_manifest(small_dataset, manifest)
    (small_dataset / "train" / "hat" / "0.jpg").unlink()
    (small_dataset / "train" / "hat" / "1.jpg").write_bytes(b"changed")
    (small_dataset / "test" / "hat" / "new.jpg").write_bytes(b"new")
    assert dataset.verify(small_dataset, manifest) == [
        "missing: train/hat/0.jpg",
        "not in the manifest: test/hat/new.jpg",
        "changed (checksum differs): train/hat/1.jpg",
    ]


# --- the dataset check -----------------------------------------------------------------------


@real_data
def test_check_reports_the_real_dataset():
    report = dataset_check.check_dataset(settings.dataset_dir())
    assert report.classes == CLASSES
    totals = {split: sum(counts.values()) for split, counts in report.counts.items()}
    assert totals == {"train": 3068, "validation": 341, "test": 372}
    assert report.problems == []


@pytest.fixture
def bad_dataset(small_dataset) -> Path:
    """A generated dataset with one file or folder of each kind the check must report."""
    train = small_dataset / "train"
    good = (train / "dress" / "0.jpg").read_bytes()
    (train / "dress" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (train / "hat" / "empty.jpg").write_bytes(b"")
    (train / "hat" / "notes.txt").write_text("not an image")
    (train / "pants" / "fake.jpg").write_text("<html>not a jpeg</html>")
    write_image(train / "shirt" / "tiny.jpg", size=(40, 30))
    write_image(train / "shoes" / "gray.jpg", mode="L")
    write_image(train / "shoes" / "cmyk.jpg", mode="CMYK")
    write_image(train / "shorts" / "rgba.png", mode="RGBA")
    write_image(train / "shorts" / "palette.png", mode="P")
    write_image(train / "skirt" / "picture.tiff", image_format="TIFF")
    (train / "stray.jpg").write_bytes(good)
    (small_dataset / "validation" / "t-shirt").rename(small_dataset / "validation" / "tshirt")
    for path in (small_dataset / "test" / "skirt").iterdir():
        path.unlink()
    return small_dataset


def test_check_names_every_bad_file(bad_dataset):
    report = dataset_check.check_dataset(bad_dataset)
    found = {problem.path: problem for problem in report.problems}
    expected = {
        "train/dress/truncated.jpg": ("corrupt or truncated", True),
        "train/hat/empty.jpg": ("empty file", True),
        "train/hat/notes.txt": ("not an image", True),
        "train/pants/fake.jpg": ("not an image", True),
        "train/shirt/tiny.jpg": ("too small (40x30 px", True),
        "train/shoes/gray.jpg": ("grayscale (L) image, converted to RGB", False),
        "train/shoes/cmyk.jpg": ("CMYK image, converted to RGB", False),
        "train/shorts/rgba.png": ("RGBA (transparency dropped) image, converted to RGB", False),
        "train/shorts/palette.png": ("palette (P) image, converted to RGB", False),
        "train/skirt/picture.tiff": ("TIFF file with suffix '.tiff'", True),
        "train/stray.jpg": ("outside any class folder", True),
        "test/skirt/": ("no usable images", False),
        "validation/": ("missing ['t-shirt']; extra ['tshirt']", False),
        "test/": None,  # test/ still has t-shirt: no mismatch there
    }
    for path, want in expected.items():
        if want is None:
            assert path not in found
            continue
        assert path in found, f"{path} not reported"
        assert want[0] in found[path].problem and found[path].excluded == want[1]
    assert report.counts["train"]["shoes"] == 6  # 4 good + 2 converted
    assert report.counts["train"]["hat"] == 4


def test_check_command_names_files_and_fails(bad_dataset, capsys):
    from workbook.__main__ import main

    assert main(["check", str(bad_dataset)]) == 1
    out = capsys.readouterr().out
    for name in ("train/dress/truncated.jpg", "train/hat/empty.jpg", "train/hat/notes.txt"):
        assert name in out


def test_check_command_passes_a_clean_dataset(small_dataset, capsys):
    from workbook.__main__ import main

    assert main(["check", str(small_dataset)]) == 0
    assert "Problems: none" in capsys.readouterr().out


def test_mismatched_classes_stop_the_pipeline(bad_dataset, cache):
    with pytest.raises(errors.DataError, match="splits disagree"):
        data.split_dir("train", bad_dataset)


def test_pipeline_over_bad_files_leaves_them_out_and_runs_a_full_epoch(bad_dataset, cache, capsys):
    (bad_dataset / "validation" / "tshirt").rename(bad_dataset / "validation" / "t-shirt")
    (bad_dataset / "train" / "stray.jpg").unlink()
    dataset = data.load_split("train", image_size=71, batch_size=8, root=bad_dataset)
    out = capsys.readouterr().out
    assert "Left out 6 file(s) of train/" in out and "train/dress/truncated.jpg" in out
    images = labels = 0
    for batch_images, batch_labels in dataset:  # one whole epoch: no decode error mid-way
        images += batch_images.shape[0]
        labels += int(np.asarray(batch_labels).sum())
        assert batch_images.shape[1:] == (71, 71, 3)
        assert -1.0 <= float(np.min(batch_images)) and float(np.max(batch_images)) <= 1.0
    assert images == labels == 40 + 4  # 4 good per class plus the 4 converted images
    assert dataset.class_names == CLASSES


def test_clean_view_follows_added_and_removed_images(small_dataset, cache):
    (small_dataset / "train" / "hat" / "broken.jpg").write_bytes(b"not a jpeg")
    first = data.split_dir("train", small_dataset)
    write_image(small_dataset / "train" / "hat" / "added.jpg", seed=7)
    added = data.split_dir("train", small_dataset)
    assert added != first and (added / "hat" / "added.jpg").exists()
    (small_dataset / "train" / "dress" / "0.jpg").unlink()
    removed = data.split_dir("train", small_dataset)
    assert not (removed / "dress" / "0.jpg").exists()
    assert len(list(removed.rglob("*.jpg"))) == 40  # 39 of the generated images plus the added one


def test_clean_split_is_used_in_place(small_dataset, cache):
    assert data.split_dir("validation", small_dataset) == small_dataset / "validation"
    assert not cache.exists()


def test_validation_is_not_shuffled_and_max_batches_limits(small_dataset, cache):
    first = data.load_split("validation", image_size=71, batch_size=4, root=small_dataset)
    second = data.load_split("validation", image_size=71, batch_size=4, root=small_dataset, max_batches=2)
    labels = [np.asarray(batch).argmax(axis=1).tolist() for _, batch in first]
    assert labels[0] == [0, 0, 1, 1]  # file order: two dresses, then two hats
    assert len(list(second)) == 2


def test_train_shuffle_follows_the_seed(small_dataset, cache):
    def order(seed):
        dataset = data.load_split("train", image_size=71, batch_size=40, seed=seed, root=small_dataset)
        return np.asarray(next(iter(dataset))[1]).argmax(axis=1).tolist()

    assert order(1) == order(1)
    assert order(1) != order(2)
    assert order(1) != sorted(order(1))


def test_bad_arguments_get_clear_errors(small_dataset):
    with pytest.raises(ValueError, match="at least 71"):
        data.load_split("train", image_size=32, root=small_dataset)
    with pytest.raises(ValueError, match="split must be one of"):
        data.split_dir("training", small_dataset)
    with pytest.raises(ValueError, match="max_batches"):
        data.load_split("train", image_size=71, max_batches=0, root=small_dataset)


def test_example_image_is_stable(small_dataset):
    assert data.example_image("hat", root=small_dataset).name == "0.jpg"
    with pytest.raises(errors.DataError, match="No images"):
        (small_dataset / "train" / "empty").mkdir()
        data.example_image("empty", root=small_dataset)


# --- downloads that break off, archives that are cut short ------------------------------------


@pytest.mark.parametrize("behaviour", ["cut", "stall"])
def test_a_dataset_download_that_breaks_off_installs_nothing(
    small_dataset, tmp_path, http_server, monkeypatch, behaviour
):
    http_server.files["dataset.tar.gz"] = make_archive(small_dataset, tmp_path / "dataset.tar.gz").read_bytes()
    monkeypatch.setattr(files, "DOWNLOAD_TIMEOUT", 0.5)
    target = tmp_path / "data" / "clothing"
    with pytest.raises(errors.DataError, match="Could not download the dataset") as error:
        dataset.fetch_dataset(target, http_server.url(behaviour, "dataset.tar.gz"), tmp_path / "unused")
    assert "WORKBOOK_DATA" in str(error.value)
    assert list(target.parent.iterdir()) == []


def test_a_truncated_archive_is_a_data_error_with_remedies(small_dataset, tmp_path):
    archive = make_archive(small_dataset, tmp_path / "dataset.tar.gz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    target = tmp_path / "data" / "clothing"
    with pytest.raises(errors.DataError, match="damaged or incomplete") as error:
        dataset.fetch_dataset(target, archive.as_uri(), tmp_path / "unused")
    assert "WORKBOOK_DATA" in str(error.value) and list(target.parent.iterdir()) == []


# --- two processes at once --------------------------------------------------------------------

TOGETHER = """
import sys, time
from pathlib import Path
from workbook import data, dataset
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))  # both processes start the work at the same moment
{work}
"""


def run_twice_at_once(work: str, *args: str) -> list[str]:
    """Run the same script in two processes that begin their work at the same instant; their outputs."""
    start = str(time.time() + 8)  # after both have imported TensorFlow
    code = TOGETHER.format(work=work)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, start, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=180) for process in processes]
    for process, (_, err) in zip(processes, outputs):
        assert process.returncode == 0, err
    return [out for out, _ in outputs]


def test_two_processes_build_the_same_clean_view_at_once(tmp_path, monkeypatch):
    root = make_dataset(tmp_path / "clothing", {"train": 40, "validation": 1, "test": 1})
    (root / "train" / "hat" / "broken.jpg").write_bytes(b"not a jpeg")
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path / "cache"))
    work = "view = data.split_dir('train', Path(sys.argv[2]))\nprint(view, len(list(view.rglob('*.jpg'))))"
    first, second = (out.splitlines()[-1] for out in run_twice_at_once(work, str(root)))
    assert first == second and first.endswith(" 400")
    assert [path.name for path in Path(first.split()[0]).parent.iterdir()] == ["train"]  # no staging left


def test_two_first_time_downloads_at_once_both_get_the_dataset(small_dataset, tmp_path):
    manifest = tmp_path / "manifest"
    dataset.write_manifest(small_dataset, manifest)
    archive = make_archive(small_dataset, tmp_path / "dataset.tar.gz")
    target = tmp_path / "data" / "clothing"
    work = "print(dataset.fetch_dataset(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])))"
    outputs = run_twice_at_once(work, str(target), archive.as_uri(), str(manifest))
    assert [out.splitlines()[-1] for out in outputs] == [str(target)] * 2
    assert dataset.verify(target, manifest) == [] and [path.name for path in target.parent.iterdir()] == ["clothing"]


def test_a_clean_view_made_meanwhile_by_another_process_is_used(small_dataset, tmp_path):
    target = tmp_path / "clean" / "train"
    data._link_tree(small_dataset / "train", target, [small_dataset / "train" / "hat" / "0.jpg"])
    data._link_tree(small_dataset / "train", target, [small_dataset / "train" / "hat" / "1.jpg"])  # the late one
    assert sorted(path.name for path in target.rglob("*.jpg")) == ["0.jpg"]
    assert [path.name for path in target.parent.iterdir()] == ["train"]


# --- names that start with a dot, images TensorFlow misreads, decoder failures ---------------------


@pytest.fixture
def dotted_dataset(small_dataset, tmp_path) -> Path:
    """The generated dataset with what a Mac copy and JupyterLab leave behind, its manifest written first."""
    dataset.write_manifest(small_dataset, tmp_path / "manifest")
    for split in data.SPLITS:
        for folder in (small_dataset / split).iterdir():
            (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (small_dataset / split / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (small_dataset / split / ".ipynb_checkpoints").mkdir()
        (small_dataset / split / ".ipynb_checkpoints" / "notes-checkpoint.ipynb").write_text("{}")
    return small_dataset


def test_dot_names_are_ignored_listed_and_not_a_problem(dotted_dataset, tmp_path, capsys):
    from workbook.__main__ import main

    report = dataset_check.check_dataset(dotted_dataset)
    assert report.problems == [] and report.classes == CLASSES
    assert sum(report.counts["train"].values()) == 40
    assert "train/.ipynb_checkpoints/" in report.ignored and "validation/hat/.DS_Store" in report.ignored
    assert len(report.ignored) == 3 * (10 + 2)  # each listed once, the folder's content not again
    assert dataset.verify(dotted_dataset, tmp_path / "manifest") == []
    assert main(["check", str(dotted_dataset)]) == 0
    assert "Ignored, as Keras ignores them (names that start with a dot): 36" in capsys.readouterr().out


def test_dot_names_trigger_no_clean_view_and_load_like_the_clean_dataset(dotted_dataset, cache):
    assert data.split_dir("train", dotted_dataset) == dotted_dataset / "train"
    dataset = data.load_split("train", image_size=71, batch_size=8, root=dotted_dataset)
    assert dataset.class_names == CLASSES and len(dataset.file_paths) == 40
    assert not cache.exists()


def test_dot_files_keras_would_read_are_left_out(dotted_dataset, cache):
    hat = dotted_dataset / "train" / "hat"
    (hat / "._0.jpg").write_bytes(b"\0\5\26\7 AppleDouble resource fork")
    write_image(hat / ".ipynb_checkpoints" / "0-checkpoint.jpg", seed=5)
    assert "train/hat/._0.jpg" in dataset_check.check_dataset(dotted_dataset).ignored
    dataset = data.load_split("train", image_size=71, batch_size=8, root=dotted_dataset)
    assert len(dataset.file_paths) == 40 and not any("/." in path for path in dataset.file_paths)
    assert sum(batch.shape[0] for batch, _ in dataset) == 40  # a whole epoch, no decode error
    assert data.example_image("hat", root=dotted_dataset).name == "0.jpg"


def test_bmp_files_the_pipelines_decoder_cannot_read_correctly_are_left_out(small_dataset, cache):
    shoes = small_dataset / "train" / "shoes"
    write_image(shoes / "one_bit.bmp", mode="1", image_format="BMP")
    write_image(shoes / "palette.bmp", mode="P", image_format="BMP")
    write_image(shoes / "gray.bmp", mode="L", image_format="BMP")
    found = {problem.path: problem for problem in dataset_check.check_dataset(small_dataset).problems}
    assert not found["train/shoes/gray.bmp"].excluded  # TensorFlow and Pillow read 8-bit grey BMPs as they are
    dataset = data.load_split("train", image_size=71, batch_size=8, root=small_dataset)
    loaded = sum(batch.shape[0] for batch, _ in dataset)
    if backend.FORMAT != "tf":  # Pillow, the decoder of the other backends' loader, reads them all
        assert not found["train/shoes/one_bit.bmp"].excluded and not found["train/shoes/palette.bmp"].excluded
        assert loaded == 43
        return
    assert found["train/shoes/one_bit.bmp"].excluded and "cannot decode" in found["train/shoes/one_bit.bmp"].problem
    assert found["train/shoes/palette.bmp"].excluded and "other colours" in found["train/shoes/palette.bmp"].problem
    assert loaded == 41


def test_any_decoder_failure_is_that_files_problem(small_dataset, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # the generated 96x120 images now look like bombs
    report = dataset_check.check_dataset(small_dataset, splits=("test",))  # no crash
    images = [problem for problem in report.problems if not problem.path.endswith("/")]
    assert len(images) == 10 and all("too many pixels" in problem.problem and problem.excluded for problem in images)


# --- one image, loaded like the pipeline ---------------------------------------------------


def pipeline_images(folder: Path, size: int, count: int) -> tuple[list[str], np.ndarray]:
    """The first `count` images of a split folder as the training pipeline (notebook 04) gives them."""
    import keras

    if backend.FORMAT != "tf":
        batches = data.ImageBatches(folder, size, batch_size=count)
        return batches.file_paths[:count], batches[0][0]
    dataset = keras.utils.image_dataset_from_directory(
        folder, label_mode=None, image_size=(size, size), batch_size=count, shuffle=False
    )
    images = next(iter(dataset)).numpy()
    return dataset.file_paths[: len(images)], images


@real_data
@pytest.mark.parametrize("size, count", [(71, 64), (150, 341), (299, 32)])
def test_load_image_gives_what_the_training_pipeline_gives(size, count):
    paths, images = pipeline_images(settings.dataset_dir() / "validation", size, count)
    assert len(paths) == count
    for path, image in zip(paths, images):
        single = data.load_image(path, size)
        assert single.dtype == np.float32 and single.shape == (size, size, 3)
        assert np.abs(single - image).max() <= 1e-3, path


def test_load_image_matches_the_pipeline_on_generated_images(small_dataset):
    paths, images = pipeline_images(small_dataset / "train", 71, 40)
    for path, image in zip(paths, images):
        assert np.abs(data.load_image(path, 71) - image).max() <= 1e-3, path


def test_load_image_rejects_bad_arguments(small_dataset):
    image = small_dataset / "train" / "hat" / "0.jpg"
    for size in (0, 71.5, "150", True):
        with pytest.raises(ValueError, match="image_size must be a positive number"):
            data.load_image(image, size)
    with pytest.raises(errors.DataError, match="No image file"):
        data.load_image(small_dataset / "train" / "hat" / "missing.jpg", 71)
    (small_dataset / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="reads only"):
        data.load_image(small_dataset / "notes.txt", 71)
    (small_dataset / "fake.jpg").write_text("<html>not a jpeg</html>")
    with pytest.raises(errors.DataError, match="cannot be decoded"):
        data.load_image(small_dataset / "fake.jpg", 71)


# --- the loader of the JAX and PyTorch backends ---------------------------------------------

tensorflow_backend = pytest.mark.skipif(backend.FORMAT != "tf", reason="compares with tf.data (TensorFlow backend)")


@tensorflow_backend
@pytest.mark.parametrize(
    "shape, size", [((120, 96, 3), 71), ((97, 203, 3), 150), ((40, 30, 3), 71), ((299, 299, 3), 299)]
)
def test_resize_bilinear_is_tf_image_resize(shape, size):
    import tensorflow as tf

    pixels = np.random.default_rng(size).integers(0, 256, shape).astype("uint8")
    expected = tf.image.resize(pixels, (size, size), method="bilinear").numpy()
    np.testing.assert_array_equal(images.resize_bilinear(pixels, size), expected)


@real_data
@tensorflow_backend
def test_the_pillow_loader_gives_tf_datas_files_labels_and_pixels(monkeypatch):
    folder = settings.dataset_dir() / "validation"
    expected = data.load_split("validation", 150, 32, max_batches=3, preprocess=False)
    monkeypatch.setattr(backend, "FORMAT", "grain")
    batches = data.load_split("validation", 150, 32, max_batches=3, preprocess=False)
    assert isinstance(batches, data.ImageBatches) and len(batches) == 3 and batches.directory == folder
    assert batches.file_paths == expected.file_paths and batches.class_names == expected.class_names
    for (pil_images, labels), (tf_images, tf_labels) in zip(batches, expected):
        np.testing.assert_array_equal(labels, tf_labels.numpy())
        difference = np.abs(pil_images - tf_images.numpy())
        # Pillow's JPEG decoder uses the exact inverse DCT, TensorFlow's default a faster one.
        assert difference.max() <= 8 and difference.mean() < 2


def test_image_batches_read_sorted_classes_and_files_and_map_like_tf_data(small_dataset):
    batches = data.ImageBatches(small_dataset / "validation", 71, batch_size=4)
    assert batches.class_names == sorted(batches.class_names) and len(batches) == 5  # 20 images
    assert [Path(path).relative_to(small_dataset / "validation").as_posix() for path in batches.file_paths[:3]] == [
        "dress/0.jpg",
        "dress/1.jpg",
        "hat/0.jpg",
    ]
    images, labels = batches[0]
    assert (
        images.shape == (4, 71, 71, 3) and images.dtype == np.float32 and labels.argmax(axis=1).tolist() == [0, 0, 1, 1]
    )
    halved = batches.map(lambda images, labels: (images / 2, labels))
    np.testing.assert_array_equal(halved[0][0], images / 2)
    assert len(batches.prepared(None, 2)) == 2 and len(list(batches.prepared(None, 2))) == 2
    with pytest.raises(IndexError):
        batches[5]


def test_image_batches_shuffle_every_file_once_per_epoch_in_a_new_order(small_dataset):
    def epoch_order(batches):
        return [label for _, labels in batches for label in labels.argmax(axis=1).tolist()]

    batches = data.ImageBatches(small_dataset / "train", 71, batch_size=8, shuffle=True, seed=3)
    first = epoch_order(batches)
    assert sorted(first) == sorted(epoch_order(data.ImageBatches(small_dataset / "train", 71, batch_size=8)))
    assert first == epoch_order(data.ImageBatches(small_dataset / "train", 71, batch_size=8, shuffle=True, seed=3))
    batches.on_epoch_end()
    second = epoch_order(batches)
    assert sorted(second) == sorted(first) and second != first


def test_image_batches_name_a_file_that_cannot_be_decoded(small_dataset):
    (small_dataset / "validation" / "hat" / "0.jpg").write_bytes(b"<html>not a jpeg</html>")
    batches = data.ImageBatches(small_dataset / "validation", 71, batch_size=4)
    with pytest.raises(errors.DataError, match=r"hat/0\.jpg cannot be decoded"):
        batches[0]
