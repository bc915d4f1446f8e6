"""The content-addressed cache: keys, file names, complete reads and atomic writes, and the digests in the keys.

A cached result (embeddings, a fine-tuned model) is an `.npz` file holding its arrays and the JSON
key it was computed for. The file name is a hash of the key; a read checks the stored key too, so
a stale or half-written file is computed again, never used. docs/architecture.md explains the key.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import zipfile
from pathlib import Path

import numpy as np

from workbook import settings
from workbook.backend import keras
from workbook.files import atomic_path, file_digest


def cache_file(folder: str, stem: str, key: dict) -> Path:
    """The cache file for `key`: `<cache>/<folder>/<stem>_<hash of key>.npz`.

    Args:
        folder: the kind of result, such as "embeddings".
        stem: a readable start of the name, such as "train_150px".
        key: JSON values that determine the result.

    Returns:
        The path (the file may not exist yet).
    """
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return settings.cache_dir() / folder / f"{stem}_{name}.npz"


def as_stored(key: dict) -> dict:
    """`key` as it reads back from a file (tuples become lists, other objects strings)."""
    return json.loads(json.dumps(key, default=str))


def read(path: Path, key: dict) -> dict[str, np.ndarray] | None:
    """The arrays `path` holds if it was written, completely, for exactly `key`; otherwise None.

    Args:
        path: a cache file.
        key: the key it must have been written for.

    Returns:
        Name to array, without the key; None when the file is missing, for another key or unreadable.
    """
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            if json.loads(str(stored["key"])) != key:
                return None
            return {name: stored[name] for name in stored.files if name != "key"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        print(f"Note: the cache file {path} is unreadable ({error}); computing it again")
        return None


def write(path: Path, key: dict, **arrays) -> None:
    """Write `arrays` and `key` to `path` atomically: an interrupted write never looks complete.

    Args:
        path: the cache file.
        key: what the arrays were computed for.
        **arrays: name to array.
    """
    with atomic_path(path) as partial, partial.open("wb") as file:
        np.savez(file, key=json.dumps(key, sort_keys=True), **arrays)


def weights_digest(model: keras.Model) -> str:
    """A fingerprint of every weight value of `model` (ImageNet, random with a seed, or from a file).

    Args:
        model: any Keras model.

    Returns:
        A SHA-256 hex digest.
    """
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


def files_digest(files: list[str], folder: Path) -> str:
    """A fingerprint of the names and contents of `files`.

    Args:
        files: names relative to `folder`, in order.
        folder: where they are.

    Returns:
        A SHA-256 hex digest.
    """
    digest = hashlib.sha256()
    for name in files:
        digest.update(f"{name}\0{file_digest(folder / name)}\0".encode())
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """Keras' version and the backend's, for cache keys: another version may compute other numbers."""
    backend = keras.config.backend()
    return {"keras": keras.__version__, "backend": f"{backend} {importlib.metadata.version(backend)}"}


def code_digest(module: str = "workbook.embeddings") -> str:
    """A fingerprint of the code of `module` and of every workbook module it imports, directly or not.

    Derived from the modules' syntax trees (docstrings left out, so prose edits keep the cache), and
    Keras' dtype policy: any change to the code that loads, decodes, resizes, preprocesses or pools
    images, on any backend, computes the cached results again. No list to keep up to date by hand.

    Args:
        module: the module whose results are cached, such as "workbook.embeddings".

    Returns:
        A SHA-256 hex digest.
    """
    parts = [f"{name}\0{code_of(name)}" for name in sorted(closure(module))]
    return hashlib.sha256("\0".join([*parts, keras.config.dtype_policy().name]).encode()).hexdigest()


def closure(module: str) -> set[str]:
    """`module` and every `workbook` module it imports, at the top or inside functions, directly or not."""
    found, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += imported(name)
    return found


@functools.cache
def imported(module: str) -> tuple[str, ...]:
    """The workbook modules that `module`'s source imports anywhere in it (read with `ast`, not executed)."""
    tree = ast.parse(source(module))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return tuple(sorted(name for name in names if name.startswith("workbook.") and _exists(name)))


def _exists(name: str) -> bool:
    """Whether `name` is a module (not a function or constant imported from one)."""
    return importlib.util.find_spec(name) is not None if name.count(".") == 1 else False


def source(module: str) -> str:
    """The source text of a workbook module, read from its file."""
    return Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8")


def code_of(module: str) -> str:
    """What the module computes: its syntax tree without docstrings, as text."""
    tree = ast.parse(source(module))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)
