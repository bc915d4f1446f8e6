"""Files written completely or not at all: atomic writes, folders moved into place, downloads, archives, checksums."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import urllib.request
from pathlib import Path

from workbook.errors import WorkbookError
from workbook.progress import bar

DOWNLOAD_TIMEOUT = 30  # seconds without a byte before a download counts as failed


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file: SHA-256 unless `algorithm` names another of hashlib's (Keras publishes MD5).

    Args:
        path: the file.
        algorithm: the hash, as hashlib names it.

    Returns:
        The hexadecimal digits (64 for SHA-256).
    """
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, algorithm).hexdigest()


@contextlib.contextmanager
def atomic_path(path: Path):
    """A temporary name beside `path` to write to; renamed to `path` when the block ends without an error.

    A reader never sees half a file, and an interrupted write leaves nothing behind.

    Args:
        path: the file to write.

    Returns:
        A context manager giving the temporary path.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_json(path: Path, value) -> None:
    """Write `value` as indented JSON, atomically (numpy scalars and paths as `str` where JSON has no type).

    Args:
        path: the file.
        value: what to write.
    """
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(value, indent=2, default=str), encoding="utf-8")


def move_into_place(staging: Path, target: Path) -> bool:
    """Rename the finished folder `staging` to `target` in one step.

    Args:
        staging: a complete folder, built by this process.
        target: where it belongs.

    Returns:
        True; False when another process got there first: `staging` is removed, use `target`.
    """
    try:
        staging.rename(target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(staging, ignore_errors=True)
        return False
    return True


def download(
    url: str, destination: Path, what: str, failure: type[WorkbookError], remedies: str, md5: str | None = None
) -> None:
    """Copy `url` to `destination` with a progress bar, complete or not at all.

    Args:
        url: what to download.
        destination: the file to write.
        what: a name for it in messages, such as "the dataset".
        failure: the error to raise when anything goes wrong (unreachable, reset, stalled past
            DOWNLOAD_TIMEOUT, cut short, or a different file than `md5` names).
        remedies: what to do then, the end of the error's message.
        md5: the file's expected MD5 hex digest (the hashes Keras publishes are MD5), or None.
    """
    try:
        with atomic_path(destination) as partial:
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
            received_md5 = md5 and file_digest(partial, "md5")
            if received_md5 != md5:
                raise ValueError(f"the file received has MD5 {received_md5}, not the expected {md5}")
    except (OSError, http.client.HTTPException, ValueError) as error:
        reason = getattr(error, "reason", None) or str(error) or type(error).__name__
        raise failure(f"Could not download {what} from {url} ({reason}).\n{remedies}") from None
