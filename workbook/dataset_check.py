"""The dataset check (`python -m workbook check`): counts per split and class, and every unusable file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from workbook import backend
from workbook.dataset import SPLITS, check_layout, class_folders, find_dataset, visible_files
from workbook.images import IMAGE_SUFFIXES

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
