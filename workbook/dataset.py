"""The clothing dataset on disk: where it is, its layout, its manifest, and downloading it once, verified.

`find_dataset` (notebook 04) returns its folder, downloading and verifying it the first time.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from workbook import settings
from workbook.errors import DataError
from workbook.files import download, file_digest, move_into_place
from workbook.images import IMAGE_SUFFIXES

MANIFEST = settings.PACKAGE_DIR / "manifest"  # shipped inside the package, so an installed copy can verify a download
DEFAULT_DIR = settings.DEFAULT_DATA
DATASET_COMMIT = "11961516512414bf9f6c150a832cfd21b54a6b54"
DATASET_URL = f"https://github.com/alexeygrigorev/clothing-dataset-small/archive/{DATASET_COMMIT}.tar.gz"
SPLITS = ("train", "validation", "test")


def remedies(root: Path) -> str:
    """What to do about a missing dataset, naming `root`: the folder looked in (WORKBOOK_DATA's, when set)."""
    return (
        "To get the dataset:\n"
        f"  - put the dataset folder (it holds train/, validation/ and test/) at {root},\n"
        "    or set WORKBOOK_DATA to its folder before starting JupyterLab, then run the notebook again;\n"
        "  - on a connected machine run `make fetch` (or `python -m workbook fetch`) and copy\n"
        "    data/clothing-dataset-small into this checkout (the offline classroom kit)."
    )


def find_dataset(download: bool = True) -> Path:
    """Return the dataset folder, downloading it first if it is missing and `download` is set."""
    root = settings.dataset_dir()
    if root.is_dir():
        check_layout(root)
        return root
    if not download:
        raise DataError(f"No dataset at {root}.\n{remedies(root)}")
    return fetch_dataset(root)


def check_layout(root: Path) -> None:
    """Raise DataError unless `root` holds the train/, validation/ and test/ folders."""
    if not root.is_dir():
        raise DataError(f"{root} does not exist.\n{remedies(root)}")
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


def class_folders(split_dir: Path) -> list[Path]:
    """The class folders of a split, sorted: every folder whose name does not start with a dot."""
    return sorted(path for path in split_dir.iterdir() if path.is_dir() and not path.name.startswith("."))


def images_below(folder: Path) -> list[Path]:
    """Every file with an image suffix anywhere below `folder`, sorted: what Keras' loader reads from a class folder."""
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)


def example_image(class_name: str, split: str = "train", index: int = 0, root: Path | None = None) -> Path:
    """The `index`-th image (sorted by name) of one class: a stable example for the notebooks."""
    folder = Path(root or find_dataset()) / split / class_name
    files = [path for path in visible_files(folder) if path.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"No images in {folder}")
    return files[index]


# --- manifest and verification ---------------------------------------------------------


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
    lines = [f"{file_digest(root / name)}  {name}\n" for name in dataset_files(root)]
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
        if file_digest(root / name) != expected[name]
    ]
    return problems


# --- download --------------------------------------------------------------------------


def fetch_dataset(target: Path | None = None, url: str | None = None, manifest: Path = MANIFEST) -> Path:
    """Download the pinned dataset, verify every file, then move it into place in one step."""
    target = Path(target or settings.dataset_dir())
    url = url or os.environ.get("WORKBOOK_DATA_URL", DATASET_URL)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # A folder of its own for each process, so two first-time downloads never share files.
    with tempfile.TemporaryDirectory(prefix=".partial-", dir=target.parent) as work:
        archive = Path(work) / "dataset.tar.gz"
        print(f"Downloading the dataset from {url} ...")
        download(url, archive, "the dataset", DataError, remedies(target))
        staging = Path(work) / "dataset"
        try:
            extract(archive, staging)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise DataError(
                f"The downloaded dataset archive is damaged or incomplete ({type(error).__name__}: {error}).\n"
                f"Nothing was installed. Try again.\n{remedies(target)}"
            ) from None
        problems = verify(staging, manifest)
        if problems:
            shown = "\n  ".join(problems[:10])
            raise DataError(
                f"The downloaded dataset does not match workbook/manifest ({len(problems)} problems):\n"
                f"  {shown}\nNothing was installed. Try again, or get the dataset another way.\n{remedies(target)}"
            )
        if not move_into_place(staging, target):
            print(f"Another process installed the dataset at {target} first; using it.")
            return target
    print(f"Dataset verified ({len(read_manifest(manifest))} files) and saved to {target}")
    return target


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
