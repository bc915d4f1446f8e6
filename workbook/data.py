"""Find, download, verify, check and load the clothing dataset.

The pipeline itself is taught in notebook 04 (`04_transfer_learning.ipynb`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST = REPO_ROOT / "data" / "manifest"
DEFAULT_DIR = REPO_ROOT / "data" / "clothing-dataset-small"
DATASET_COMMIT = "11961516512414bf9f6c150a832cfd21b54a6b54"
DATASET_URL = f"https://github.com/alexeygrigorev/clothing-dataset-small/archive/{DATASET_COMMIT}.tar.gz"
SPLITS = ("train", "validation", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")  # what Keras' loader reads
PIPELINE_FORMATS = {"JPEG", "MPO", "PNG", "BMP", "GIF"}  # MPO: camera JPEGs with extra frames
MIN_IMAGE_SIZE = 71  # Xception's smallest input
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
    "  - on a connected machine run `make fetch` (or `python -m workbook fetch`) and copy\n"
    "    data/clothing-dataset-small into this checkout (the offline classroom kit), or\n"
    "  - set WORKBOOK_DATA to a folder holding train/, validation/ and test/."
)


class DataError(ValueError):
    """The dataset is missing, unreachable or laid out wrongly; the message says what to do."""


def cache_dir() -> Path:
    """The folder for caches: WORKBOOK_CACHE, else .cache/ in the repository."""
    return Path(os.environ.get("WORKBOOK_CACHE", REPO_ROOT / ".cache"))


def runs_dir() -> Path:
    """Where run folders go: $WORKBOOK_RUNS if set, else `runs/` in the repository (gitignored)."""
    return Path(os.environ.get("WORKBOOK_RUNS") or REPO_ROOT / "runs")


def dataset_dir() -> Path:
    """Where the dataset should be: WORKBOOK_DATA, else data/clothing-dataset-small."""
    configured = os.environ.get("WORKBOOK_DATA")
    return Path(configured).expanduser().resolve() if configured else DEFAULT_DIR


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


def dataset_files(root: Path) -> list[str]:
    """Every file under the split folders of `root`, as sorted POSIX paths relative to it."""
    return sorted(
        path.relative_to(root).as_posix()
        for split in SPLITS
        if (root / split).is_dir()
        for path in (root / split).rglob("*")
        if path.is_file()
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
    with tempfile.TemporaryDirectory(prefix=".partial-", dir=target.parent) as work:
        archive = Path(work) / "dataset.tar.gz"
        print(f"Downloading the dataset from {url} ...")
        _download(url, archive)
        staging = Path(work) / "dataset"
        extract(archive, staging)
        problems = verify(staging, manifest)
        if problems:
            shown = "\n  ".join(problems[:10])
            raise DataError(
                f"The downloaded dataset does not match data/manifest ({len(problems)} problems):\n"
                f"  {shown}\nNothing was installed. Try again, or get the dataset another way.\n{REMEDIES}"
            )
        staging.rename(target)
    print(f"Dataset verified ({len(read_manifest(manifest))} files) and saved to {target}")
    return target


def _download(url: str, destination: Path, timeout: float = 30) -> None:
    """Copy `url` to `destination` with a progress bar; network failures become a DataError with remedies."""
    from tqdm.auto import tqdm

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(destination, "wb") as out:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, unit="B", unit_scale=True, desc="dataset") as progress:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    progress.update(len(block))
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise DataError(f"Could not download the dataset from {url} ({reason}).\n{REMEDIES}") from None


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
    """Classes, image counts per split and class, and every problem found."""

    root: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

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
    except Image.UnidentifiedImageError:
        return Problem(name, "not an image file", "move it out of the dataset")
    except (OSError, SyntaxError, ValueError) as error:
        return Problem(name, f"corrupt or truncated image ({error})", "replace it with a good copy or delete it")
    if image_format not in PIPELINE_FORMATS or path.suffix.lower() not in IMAGE_SUFFIXES:
        return Problem(name, f"{image_format} file with suffix {path.suffix!r}", "save it as .jpg or .png")
    if min(size) < min_size:
        return Problem(name, f"too small ({size[0]}x{size[1]} px, the model needs {min_size})", "use a larger image")
    if mode != "RGB":
        kind = MODE_NAMES.get(mode, mode)
        return Problem(name, f"{kind} image, converted to RGB when loaded", "nothing to do", excluded=False)
    return None


def check_dataset(root: Path | None = None, splits: tuple[str, ...] = SPLITS) -> Report:
    """Count images per split and class and report every bad file and folder."""
    root = Path(root or find_dataset(download=False))
    check_layout(root)
    report = Report(root)
    for split in splits:
        split_dir = root / split
        report.counts[split] = {}
        for entry in sorted(split_dir.iterdir()):
            relative = entry.relative_to(root).as_posix()
            if entry.is_file():
                report.problems.append(Problem(relative, "file outside any class folder", "move it into one"))
                continue
            files = sorted(path for path in entry.rglob("*") if path.is_file())
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
    return report


def class_mismatches(root: Path) -> list[Problem]:
    """One problem per split whose class folders differ from those of train/."""
    folders = {split: {p.name for p in (root / split).iterdir() if p.is_dir()} for split in SPLITS}
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

    Clean splits are returned as they are. Otherwise the usable images are linked into a
    folder under the cache, and every file left out is printed.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    root = Path(root or find_dataset())
    mismatch = class_mismatches(root)
    if mismatch:
        raise DataError(
            "The splits disagree on the classes, so labels would not match:\n  " + "\n  ".join(map(str, mismatch))
        )
    report = check_dataset(root, splits=(split,))
    for problem in report.problems:
        print(f"Note: {problem}")
    excluded = {p.path for p in report.excluded(split)}
    if not excluded:
        return root / split
    # Keyed by every file of the split (name, size, time), so an added or removed image gives a new view.
    files = sorted(path for path in (root / split).rglob("*") if path.is_file())
    listing = [(str(path.relative_to(root)), path.stat().st_size, path.stat().st_mtime_ns) for path in files]
    key = hashlib.sha256(f"{root}|{sorted(excluded)}|{listing}".encode()).hexdigest()[:16]
    clean = cache_dir() / "clean" / key / split
    if not clean.is_dir():
        _link_tree(root / split, clean, {root / name for name in excluded})
    print(f"Left out {len(excluded)} file(s) of {split}/; loading from {clean}")
    return clean


def _link_tree(source: Path, target: Path, skip: set[Path]) -> None:
    """Mirror the class folders of `source` into `target` with links to every file not in `skip`."""
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for class_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        (staging / class_dir.name).mkdir(parents=True)
        for path in sorted(class_dir.rglob("*")):
            if path.is_file() and path not in skip and path.suffix.lower() in IMAGE_SUFFIXES:
                link = staging / path.relative_to(source)
                link.parent.mkdir(parents=True, exist_ok=True)
                try:
                    link.symlink_to(path.resolve())
                except OSError:  # no symlinks (some Windows setups): copy instead
                    shutil.copy2(path, link)
    staging.rename(target)


def prepare(dataset, max_batches: int | None = None):
    """Apply Xception's preprocessing, keep at most `max_batches` batches, and prefetch.

    The result keeps the loader's `class_names` and `file_paths` (all of them, also when batches are left out).
    """
    import tensorflow as tf
    from keras.applications.xception import preprocess_input

    if max_batches is not None and max_batches < 1:
        raise ValueError(f"max_batches must be None (every batch) or at least 1, not {max_batches}")
    class_names, file_paths = dataset.class_names, dataset.file_paths
    dataset = dataset.map(lambda images, labels: (preprocess_input(images), labels))
    if max_batches is not None:
        dataset = dataset.take(max_batches)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    dataset.class_names, dataset.file_paths = class_names, file_paths
    return dataset


def load_split(
    split: str,
    image_size: int = 150,
    batch_size: int = 32,
    seed: int = 1,
    max_batches: int | None = None,
    root: Path | None = None,
    shuffle: bool | None = None,
):
    """The notebook-04 pipeline for one split: shuffled (with `seed`) only for train unless `shuffle` says.

    The dataset's `directory` is the folder it reads (the split, or its clean view in the cache).
    """
    import keras

    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE} px (Xception's minimum), not {image_size}")
    directory = split_dir(split, root)
    dataset = keras.utils.image_dataset_from_directory(
        directory,
        label_mode="categorical",
        image_size=(image_size, image_size),
        batch_size=batch_size,
        shuffle=split == "train" if shuffle is None else shuffle,
        seed=seed,
    )
    dataset = prepare(dataset, max_batches)
    dataset.directory = directory
    return dataset


def example_image(class_name: str, split: str = "train", index: int = 0, root: Path | None = None) -> Path:
    """The `index`-th image (sorted by name) of one class: a stable example for the notebooks."""
    folder = Path(root or find_dataset()) / split / class_name
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"No images in {folder}")
    return files[index]


def load_image(path: Path | str, image_size: int):
    """One image exactly as the training pipeline makes it: decoded and resized by TensorFlow, float32 0-255.

    `keras.utils.image_dataset_from_directory` reads each file with `tf.io.read_file`, decodes it to
    three channels and resizes it with `tf.image.resize` (plain bilinear, no antialiasing); this does
    the same for one file, so a single photo is predicted on what the model was trained on.
    `keras.utils.load_img(target_size=...)` resizes differently (Pillow's filters); notebook 01 compares
    them. Like the pipeline, it ignores EXIF orientation. Returns an array of shape (image_size, image_size, 3).
    """
    import tensorflow as tf

    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive number of pixels, such as 150; got {image_size!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No image file at {path}")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"{path.name}: the training pipeline reads only {', '.join(IMAGE_SUFFIXES)} files")
    try:
        image = tf.image.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError as error:
        raise DataError(f"{path} cannot be decoded as an image ({error.message})") from None
    return tf.image.resize(image, (image_size, image_size), method="bilinear").numpy()
