"""Find, download, verify, check and load the clothing dataset.

The pipeline itself is taught in notebook 04 (`04_transfer_learning.ipynb`).
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from workbook import backend, images
from workbook.errors import ArgumentError, DataError, WorkbookError
from workbook.images import IMAGE_SUFFIXES

PACKAGE_DIR = Path(__file__).resolve().parent
# In a checkout (the package beside notebooks/) the dataset, caches and runs default to folders of the repository;
# installed elsewhere (`pip install .`), to the same folders under the directory the command starts in.
REPO_ROOT = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "notebooks").is_dir() else Path.cwd()
MANIFEST = PACKAGE_DIR / "manifest"  # shipped inside the package, so an installed copy can verify a download
DEFAULT_DIR = REPO_ROOT / "data" / "clothing-dataset-small"
DATASET_COMMIT = "11961516512414bf9f6c150a832cfd21b54a6b54"
DATASET_URL = f"https://github.com/alexeygrigorev/clothing-dataset-small/archive/{DATASET_COMMIT}.tar.gz"
SPLITS = ("train", "validation", "test")
PIPELINE_FORMATS = {"JPEG", "MPO", "PNG", "BMP", "GIF"}  # MPO: camera JPEGs with extra frames
MIN_IMAGE_SIZE = 71  # Xception's smallest input
DOWNLOAD_TIMEOUT = 30  # seconds without a byte before a download counts as failed
MODE_NAMES = {
    "L": "grayscale (L)",
    "LA": "grayscale with transparency (LA)",
    "RGBA": "RGBA (transparency dropped)",
    "P": "palette (P)",
    "CMYK": "CMYK",
    "I;16": "16-bit grayscale (I;16)",
    "1": "black-and-white (1)",
}

REMEDIES = (
    "To get the dataset:\n"
    f"  - put the dataset folder (it holds train/, validation/ and test/) at {DEFAULT_DIR},\n"
    "    or set WORKBOOK_DATA to its folder before starting JupyterLab, then run the notebook again;\n"
    "  - on a connected machine run `make fetch` (or `python -m workbook fetch`) and copy\n"
    "    data/clothing-dataset-small into this checkout (the offline classroom kit)."
)
PATH_VARIABLES = ("WORKBOOK_DATA", "WORKBOOK_CACHE", "WORKBOOK_RUNS")
# image_dataset_from_directory's `format` for this backend (notebook 04): "tf" on TensorFlow, "grain" on JAX or PyTorch.
FORMAT = backend.FORMAT


def path_from_env(name: str, default: Path) -> Path:
    """`$name` as an absolute path (relative to the current folder); unset or empty means `default`."""
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
    return path_from_env("WORKBOOK_DATA", DEFAULT_DIR)


def make_paths_absolute() -> None:
    """Replace relative WORKBOOK_DATA/CACHE/RUNS values by absolute ones and drop empty ones.

    Kernels started by the run command work in notebooks/, so a relative path must be resolved first.
    """
    for name, resolve in zip(PATH_VARIABLES, (dataset_dir, cache_dir, runs_dir)):
        if os.environ.get(name, "").strip():
            os.environ[name] = str(resolve())
        else:
            os.environ.pop(name, None)


def find_dataset(download: bool = True) -> Path:
    """Return the dataset folder, downloading it first if it is missing and `download` is set."""
    root = dataset_dir()
    if root.is_dir():
        check_layout(root)
        return root
    if not download:
        raise DataError(f"No dataset at {root}.\n{REMEDIES}")
    return fetch_dataset(root)


def check_layout(root: Path) -> None:
    """Raise DataError unless `root` holds the train/, validation/ and test/ folders."""
    if not root.is_dir():
        raise DataError(f"{root} does not exist.\n{REMEDIES}")
    missing = [f"{split}/" for split in SPLITS if not (root / split).is_dir()]
    if not missing:
        return
    hint = ""
    nested = [child for child in root.iterdir() if (child / "train").is_dir()]
    if nested:
        hint = f"\nIt looks like the dataset is one level down: point WORKBOOK_DATA at {nested[0]}."
    raise DataError(
        f"{root} is not a dataset folder: it lacks {' and '.join(missing)}.{hint}\n"
        "Expected layout: <root>/<split>/<class>/<image>, with splits train, validation and test."
    )


# --- manifest and verification ---------------------------------------------------------


def sha256(path: Path) -> str:
    """The SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_hidden(path: Path) -> bool:
    """Whether a name in `path` starts with a dot (.DS_Store, .ipynb_checkpoints/): not data, as for Keras."""
    return any(part.startswith(".") for part in path.parts)


def visible_files(folder: Path, ignored: list[Path] | None = None) -> list[Path]:
    """Every file below `folder` with no dot name on the way, sorted; outermost dot names go to `ignored`."""
    found = []
    for current, folders, files in os.walk(folder):
        hidden = [name for name in folders + files if name.startswith(".")]
        if ignored is not None:
            ignored += [Path(current, name) for name in sorted(hidden)]
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found += [Path(current, name) for name in files if not name.startswith(".")]
    return sorted(found)


def dataset_files(root: Path) -> list[str]:
    """Every data file under the split folders of `root` (no dot names), as sorted POSIX paths relative to it."""
    return sorted(
        path.relative_to(root).as_posix()
        for split in SPLITS
        if (root / split).is_dir()
        for path in visible_files(root / split)
    )


def write_manifest(root: Path, manifest: Path = MANIFEST) -> int:
    """Write `sha256  relative/path` lines for every dataset file (the `sha256sum -c` format)."""
    lines = [f"{sha256(root / name)}  {name}\n" for name in dataset_files(root)]
    manifest.write_text("".join(lines), encoding="utf-8")
    return len(lines)


def read_manifest(manifest: Path = MANIFEST) -> dict[str, str]:
    """Map relative path to SHA-256 from a manifest file."""
    entries = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            entries[name] = digest
    return entries


def verify(root: Path, manifest: Path = MANIFEST) -> list[str]:
    """Compare `root` with the manifest; return one line per missing, changed or extra file."""
    expected = read_manifest(manifest)
    present = set(dataset_files(root))
    problems = [f"missing: {name}" for name in sorted(set(expected) - present)]
    problems += [f"not in the manifest: {name}" for name in sorted(present - set(expected))]
    problems += [
        f"changed (checksum differs): {name}"
        for name in sorted(present & set(expected))
        if sha256(root / name) != expected[name]
    ]
    return problems


# --- download --------------------------------------------------------------------------


def fetch_dataset(target: Path | None = None, url: str | None = None, manifest: Path = MANIFEST) -> Path:
    """Download the pinned dataset, verify every file, then move it into place in one step."""
    target = Path(target or dataset_dir())
    url = url or os.environ.get("WORKBOOK_DATA_URL", DATASET_URL)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # A folder of its own for each process, so two first-time downloads never share files.
    with tempfile.TemporaryDirectory(prefix=".partial-", dir=target.parent) as work:
        archive = Path(work) / "dataset.tar.gz"
        print(f"Downloading the dataset from {url} ...")
        download(url, archive, "the dataset", DataError, REMEDIES)
        staging = Path(work) / "dataset"
        try:
            extract(archive, staging)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise DataError(
                f"The downloaded dataset archive is damaged or incomplete ({type(error).__name__}: {error}).\n"
                f"Nothing was installed. Try again.\n{REMEDIES}"
            ) from None
        problems = verify(staging, manifest)
        if problems:
            shown = "\n  ".join(problems[:10])
            raise DataError(
                f"The downloaded dataset does not match workbook/manifest ({len(problems)} problems):\n"
                f"  {shown}\nNothing was installed. Try again, or get the dataset another way.\n{REMEDIES}"
            )
        if not move_into_place(staging, target):
            print(f"Another process installed the dataset at {target} first; using it.")
            return target
    print(f"Dataset verified ({len(read_manifest(manifest))} files) and saved to {target}")
    return target


def move_into_place(staging: Path, target: Path) -> bool:
    """Rename the finished folder `staging` to `target` in one step.

    If another process got there first, `staging` is removed and the answer is False: use `target`.
    """
    try:
        staging.rename(target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(staging, ignore_errors=True)
        return False
    return True


def download(url: str, destination: Path, what: str, failure: type[WorkbookError], remedies: str) -> None:
    """Copy `url` to `destination` with a progress bar, complete or not at all.

    Any failure (unreachable, reset, stalled past DOWNLOAD_TIMEOUT, cut short) raises `failure`
    with a message about `what` that ends with `remedies`.
    """
    from workbook.progress import bar

    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f"{destination.name}.{os.getpid()}.partial")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, open(partial, "wb") as out:
            size = int(response.headers.get("Content-Length") or 0) or None
            received = 0
            with bar(total=size, unit="B", unit_scale=True, desc=what) as progress:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    received += len(block)
                    progress.update(len(block))
        if size is not None and received != size:
            raise ConnectionError(f"the transfer stopped after {received} of {size} bytes")
        os.replace(partial, destination)
    except (OSError, http.client.HTTPException, ValueError) as error:
        reason = getattr(error, "reason", None) or str(error) or type(error).__name__
        raise failure(f"Could not download {what} from {url} ({reason}).\n{remedies}") from None
    finally:
        partial.unlink(missing_ok=True)


def extract(archive: Path, destination: Path) -> None:
    """Extract the split folders of a dataset archive safely: regular files only, inside `destination`."""
    destination.mkdir(parents=True)
    with tarfile.open(archive, "r:*") as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if member.name.startswith("/") or ".." in parts:
                raise DataError(f"Refusing to extract {member.name!r}: the path leaves the target folder.")
            if not (member.isfile() or member.isdir()):
                raise DataError(f"Refusing to extract {member.name!r}: links and special files are not allowed.")
            # Archives hold one top folder (`clothing-dataset-small-<commit>/`); keep what is under it.
            inner = parts[1:] if len(parts) > 1 and parts[1] in SPLITS else parts
            if not inner or inner[0] not in SPLITS or not member.isfile():
                continue
            out = destination.joinpath(*inner)
            out.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as source, open(out, "wb") as sink:
                shutil.copyfileobj(source, sink)


# --- the dataset check -----------------------------------------------------------------


@dataclass
class Problem:
    """One thing wrong with the dataset; `excluded` files are left out of the pipeline."""

    path: str
    problem: str
    fix: str
    excluded: bool = True

    def __str__(self) -> str:
        action = "left out" if self.excluded else "kept"
        return f"{self.path}: {self.problem} ({action}; {self.fix})"


@dataclass
class Report:
    """Classes, image counts per split and class, every problem found, and the dot names ignored."""

    root: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # .DS_Store, .ipynb_checkpoints/: not data

    @property
    def classes(self) -> list[str]:
        """Class names of the train split, in the alphabetical order Keras uses."""
        return sorted(self.counts.get("train", {}))

    def excluded(self, split: str) -> list[Problem]:
        """The problems in `split` whose files the pipeline leaves out."""
        return [p for p in self.problems if p.excluded and p.path.startswith(f"{split}/")]

    def __str__(self) -> str:
        classes = sorted({name for split in self.counts.values() for name in split})
        width = max([len(name) for name in classes] + [10])
        lines = [f"Dataset: {self.root}", f"{'class':<{width}} " + " ".join(f"{s:>10}" for s in self.counts)]
        for name in classes + ["total"]:
            cells = [sum(split.values()) if name == "total" else split.get(name, 0) for split in self.counts.values()]
            lines.append(f"{name:<{width}} " + " ".join(f"{cell:>10}" for cell in cells))
        lines.append(f"Problems: {len(self.problems) or 'none'}")
        lines += [f"  {problem}" for problem in self.problems]
        if self.ignored:
            lines.append(f"Ignored, as Keras ignores them (names that start with a dot): {len(self.ignored)}")
            lines += [f"  {name}" for name in self.ignored]
        return "\n".join(lines)


def inspect_image(path: Path, root: Path, min_size: int = MIN_IMAGE_SIZE) -> Problem | None:
    """Decode one file fully and describe what is wrong with it (named relative to `root`), if anything."""
    name = path.relative_to(root).as_posix()
    if path.stat().st_size == 0:
        return Problem(name, "empty file (0 bytes)", "delete it or copy the image again")
    try:
        with Image.open(path) as image:
            image_format, mode, size = image.format, image.mode, image.size
            image.draft("RGB", (min_size, min_size))  # JPEG: decode at reduced scale, still reads every byte
            image.load()
            pixels = np.asarray(image.convert("RGB")) if image_format not in {"JPEG", "MPO", "PNG"} else None
    except Image.UnidentifiedImageError:
        return Problem(name, "not an image file", "move it out of the dataset")
    except Image.DecompressionBombError as error:
        return Problem(name, f"too many pixels to decode safely ({error})", "save it smaller")
    except Exception as error:  # any failure of the decoder is this file's problem, not the check's
        return Problem(name, f"corrupt or truncated image ({error})", "replace it with a good copy or delete it")
    if image_format not in PIPELINE_FORMATS or path.suffix.lower() not in IMAGE_SUFFIXES:
        return Problem(name, f"{image_format} file with suffix {path.suffix!r}", "save it as .jpg or .png")
    if min(size) < min_size:
        return Problem(name, f"too small ({size[0]}x{size[1]} px, the model needs {min_size})", "use a larger image")
    misread = None if pixels is None else backend.misreads(path, pixels)
    if misread:
        return Problem(name, f"{MODE_NAMES.get(mode, mode)} {image_format}: {misread}", "save it as .png or .jpg")
    if mode != "RGB":
        kind = MODE_NAMES.get(mode, mode)
        return Problem(name, f"{kind} image, converted to RGB when loaded", "nothing to do", excluded=False)
    return None


def check_dataset(root: Path | None = None, splits: tuple[str, ...] = SPLITS) -> Report:
    """Count images per split and class and report every bad file and folder; dot names are only listed."""
    root = Path(root or find_dataset(download=False))
    check_layout(root)
    report = Report(root)
    ignored: list[Path] = []
    for split in splits:
        split_dir = root / split
        report.counts[split] = {}
        for entry in sorted(split_dir.iterdir()):
            relative = entry.relative_to(root).as_posix()
            if entry.name.startswith("."):
                ignored.append(entry)
                continue
            if entry.is_file():
                report.problems.append(Problem(relative, "file outside any class folder", "move it into one"))
                continue
            files = visible_files(entry, ignored)
            good = 0
            for path in files:
                problem = inspect_image(path, root)
                if problem:
                    report.problems.append(problem)
                good += not (problem and problem.excluded)
            report.counts[split][entry.name] = good
            if not good:
                report.problems.append(
                    Problem(relative + "/", "class folder with no usable images", "add images or remove it", False)
                )
    report.problems += class_mismatches(root)
    report.ignored = [path.relative_to(root).as_posix() + ("/" if path.is_dir() else "") for path in ignored]
    return report


def class_folders(split_dir: Path) -> list[Path]:
    """The class folders of a split, sorted: every folder whose name does not start with a dot."""
    return sorted(path for path in split_dir.iterdir() if path.is_dir() and not path.name.startswith("."))


def class_mismatches(root: Path) -> list[Problem]:
    """One problem per split whose class folders differ from those of train/."""
    folders = {split: {path.name for path in class_folders(root / split)} for split in SPLITS}
    problems = []
    for split in SPLITS[1:]:
        missing, extra = sorted(folders["train"] - folders[split]), sorted(folders[split] - folders["train"])
        if missing or extra:
            detail = "; ".join(text for text in (missing and f"missing {missing}", extra and f"extra {extra}") if text)
            problems.append(
                Problem(
                    f"{split}/",
                    f"class folders differ from train/: {detail}",
                    "give every split the same classes",
                    False,
                )
            )
    return problems


# --- the input pipeline ------------------------------------------------------------------


def split_dir(split: str, root: Path | None = None) -> Path:
    """A folder of `split` that Keras can load without errors, saying which files it leaves out.

    A split is returned as it is when Keras would read only usable images from it. Otherwise the
    usable images are linked into a folder under the cache, and every file left out is printed.
    """
    if split not in SPLITS:
        raise ArgumentError(f"split must be one of {SPLITS}, not {split!r}")
    root = Path(root or find_dataset())
    mismatch = class_mismatches(root)
    if mismatch:
        raise DataError(
            "The splits disagree on the classes, so labels would not match:\n  " + "\n  ".join(map(str, mismatch))
        )
    report = check_dataset(root, splits=(split,))
    for problem in report.problems:
        print(f"Note: {problem}")
    excluded = {root / problem.path for problem in report.excluded(split)}
    # What image_dataset_from_directory would read: image suffixes anywhere below a class folder.
    read_by_keras = [path for folder in class_folders(root / split) for path in _images_below(folder)]
    left_out = excluded | {path for path in read_by_keras if is_hidden(path.relative_to(root / split))}
    if left_out.isdisjoint(read_by_keras):
        return root / split
    # Keyed by every file of the split (name, size, time), so an added or removed image gives a new view.
    files = sorted(path for path in (root / split).rglob("*") if path.is_file())
    listing = [(str(path.relative_to(root)), path.stat().st_size, path.stat().st_mtime_ns) for path in files]
    key = hashlib.sha256(f"{root}|{sorted(map(str, left_out))}|{listing}".encode()).hexdigest()[:16]
    clean = cache_dir() / "clean" / key / split
    if not clean.is_dir():
        _link_tree(root / split, clean, set(read_by_keras) - left_out)
    print(f"Left out {len(left_out)} file(s) of {split}/; loading from {clean}")
    return clean


def _images_below(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)


def _link_tree(source: Path, target: Path, keep: list[Path] | set[Path]) -> None:
    """Mirror the class folders of `source` into `target`, with links to the files in `keep`.

    Built in a folder of this process's own, then renamed into place: a process that finds
    `target` already made by another uses that one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.partial-", dir=target.parent))
    try:
        for class_dir in class_folders(source):
            (staging / class_dir.name).mkdir()
        for path in sorted(keep):
            link = staging / path.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            try:
                link.symlink_to(path.resolve())
            except OSError:  # no symlinks (some Windows setups): copy instead
                shutil.copy2(path, link)
        move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def prepare(dataset, max_batches: int | None = None, preprocess: bool = True):
    """Apply Xception's preprocessing (unless `preprocess` is False), keep at most `max_batches` batches.

    Takes what `keras.utils.image_dataset_from_directory(..., format=FORMAT)` returns, or an
    `ImageBatches`. The result keeps `class_names` and `file_paths` (all of them, also when batches
    are left out).
    """
    from keras.applications.xception import preprocess_input

    if max_batches is not None and max_batches < 1:
        raise ArgumentError(f"max_batches must be None (every batch) or at least 1, not {max_batches}")
    function = preprocess_input if preprocess else None
    if isinstance(dataset, ImageBatches):
        return dataset.prepared(function, max_batches)
    class_names, file_paths = dataset.class_names, dataset.file_paths
    dataset = backend.prepare_dataset(dataset, function, max_batches)
    dataset.class_names, dataset.file_paths = class_names, file_paths
    return dataset


class ImageBatches(keras.utils.PyDataset):
    """Batches of (images, one-hot labels) read with Pillow and numpy: the loader of the JAX and PyTorch backends.

    It reads a split the way `keras.utils.image_dataset_from_directory` does (class folders in
    sorted order, images in sorted order, resized with `images.resize_bilinear`), decodes each
    batch's images in threads, and is a `keras.utils.PyDataset`, so `fit`, `evaluate` and `predict`
    take it on every backend. A shuffled one (the training split) takes a new order, from `seed`
    and the epoch, after every epoch.
    `map(function)` calls `function(images, labels)` on each batch, as `tf.data`'s `map` does.
    Unlike a `tf.data` dataset, `fit` shuffles the order of a PyDataset's batches each epoch unless
    given `shuffle=False`: pass that where the order matters (notebook 05 trains two ways on the
    same batches in the same order).
    """

    def __init__(self, directory: Path, image_size: int, batch_size: int = 32, shuffle: bool = False, seed: int = 1):
        # No worker threads of Keras' own: with workers=2, fit on JAX did not train on the batches in their
        # order (the head ended 1.5e-3 away from training batch by batch); the images are read in threads anyway.
        super().__init__()
        self.directory = Path(directory)
        folders = class_folders(self.directory)
        self.class_names = [folder.name for folder in folders]
        pairs = [(path, label) for label, folder in enumerate(folders) for path in _images_below(folder)]
        if not pairs:
            raise DataError(f"No images found in {self.directory}: it needs one folder of images per class")
        self.file_paths = [str(path) for path, _ in pairs]
        self._labels = np.eye(len(self.class_names), dtype="float32")[[label for _, label in pairs]]
        self.image_size, self.batch_size, self.shuffle, self.seed = image_size, batch_size, shuffle, seed
        self.max_batches, self._functions, self.epoch = None, [], 0
        print(f"Found {len(pairs)} files belonging to {len(self.class_names)} classes.")

    def _copy(self, **changes) -> ImageBatches:
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__, **changes)
        return copy

    def map(self, function) -> ImageBatches:
        """The same batches with `function(images, labels) -> (images, labels)` applied to each."""
        return self._copy(_functions=[*self._functions, function])

    def prepared(self, preprocess, max_batches: int | None) -> ImageBatches:
        """The same batches, at most `max_batches` of them, with `preprocess` applied to the images."""
        batches = self.map(lambda images, labels: (preprocess(images), labels)) if preprocess else self._copy()
        batches.max_batches = max_batches
        return batches

    def __len__(self) -> int:
        count = -(-len(self.file_paths) // self.batch_size)
        return count if self.max_batches is None else min(count, self.max_batches)

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.file_paths))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.file_paths))

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        chosen = self._order()[index * self.batch_size : (index + 1) * self.batch_size]
        paths = [self.file_paths[i] for i in chosen]
        images = np.stack(list(_readers().map(lambda path: _read_for_pipeline(path, self.image_size), paths)))
        labels = self._labels[chosen]
        for function in self._functions:
            images, labels = function(images, labels)
        return images, labels

    def __iter__(self):
        return (self[index] for index in range(len(self)))

    def on_epoch_end(self) -> None:
        self.epoch += 1


@functools.cache
def _readers():
    """Threads that decode images (Pillow and numpy release the GIL while they work)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))


def _read_for_pipeline(path: str, image_size: int) -> np.ndarray:
    try:
        return backend.read_image(path, image_size)
    except ValueError as error:
        raise DataError(f"{path} cannot be decoded as an image ({error}); run `python -m workbook check`") from None


def load_split(
    split: str,
    image_size: int = 150,
    batch_size: int = 32,
    seed: int = 1,
    max_batches: int | None = None,
    root: Path | None = None,
    shuffle: bool | None = None,
    preprocess: bool = True,
):
    """The notebook-04 pipeline for one split: shuffled (with `seed`) only for train unless `shuffle` says.

    On TensorFlow a `tf.data` dataset from `keras.utils.image_dataset_from_directory`; on JAX and
    PyTorch an `ImageBatches` (the same images, labels and order; JPEG pixels within a few grey levels).

    The dataset's `directory` is the folder it reads (the split, or its clean view in the cache).
    `preprocess=False` keeps the 0-255 pixels (for augmentation, which comes before preprocessing).
    """
    if image_size < MIN_IMAGE_SIZE:
        raise ArgumentError(f"image_size must be at least {MIN_IMAGE_SIZE} px (Xception's minimum), not {image_size}")
    directory = split_dir(split, root)
    shuffle = split == "train" if shuffle is None else shuffle
    if backend.FORMAT == "tf":
        dataset = keras.utils.image_dataset_from_directory(
            directory,
            label_mode="categorical",
            image_size=(image_size, image_size),
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
        )
    else:  # Keras' own Grain loader read 12.5 times slower here (benchmarks/loader_speed.py)
        dataset = ImageBatches(directory, image_size, batch_size, shuffle, seed)
    dataset = prepare(dataset, max_batches, preprocess)
    dataset.directory = directory
    return dataset


def example_image(class_name: str, split: str = "train", index: int = 0, root: Path | None = None) -> Path:
    """The `index`-th image (sorted by name) of one class: a stable example for the notebooks."""
    folder = Path(root or find_dataset()) / split / class_name
    files = [path for path in visible_files(folder) if path.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"No images in {folder}")
    return files[index]


def load_image(path: Path | str, image_size: int):
    """One image exactly as the training pipeline makes it: decoded and resized the same way, float32 0-255.

    `keras.utils.image_dataset_from_directory` decodes each file to three channels and resizes it
    with `tf.image.resize` (plain bilinear, no antialiasing); this does the same for one file (on
    JAX and PyTorch what `ImageBatches` does), so a single photo is predicted on what the model was
    trained on. `keras.utils.load_img(target_size=...)` resizes differently (Pillow's filters);
    notebook 01 compares them. Like the pipeline, it ignores EXIF orientation. Returns an array of
    shape (image_size, image_size, 3).
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ArgumentError(f"image_size must be a positive number of pixels, such as 150; got {image_size!r}")
    path = Path(path)
    if not path.is_file():
        raise DataError(f"No image file at {path}: check the path (relative paths start in the notebook's folder)")
    with path.open("rb") as file:
        known = images.unsupported_format(file.read(16))
    if known:  # phones save HEIC by default, whatever the file's suffix
        raise ArgumentError(f"{path.name}: {known} images cannot be read here; save or export the photo as JPEG")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ArgumentError(f"{path.name}: the training pipeline reads only {', '.join(IMAGE_SUFFIXES)} files")
    return _read_for_pipeline(str(path), image_size)


def load_photo(path: Path | str, image_size: int) -> np.ndarray:
    """A photo for prediction: `load_image`'s decoding and resizing, then turned upright as its EXIF tag says.

    Phones often store a photo sideways with an orientation tag; the training pipeline ignores the tag,
    a viewer applies it. Turning after resizing to a square is the same as before (notebook 12).
    """
    return images.upright(load_image(path, image_size), images.orientation(path))
