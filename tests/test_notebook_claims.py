"""What the notebooks teach about library behaviour, checked where a mistake could come back unnoticed.

Static checks run over every notebook's code cells; the others execute one notebook cell and test what
its text says about it.
"""

from __future__ import annotations

import ast
import builtins
import re

import keras
import nbformat
import numpy as np
import pytest
from test_notebooks import NOTEBOOKS, code_cells  # noqa: I001

from workbook import data


def notebook_tree(path) -> ast.Module:
    """All code cells of a notebook as one Python module (IPython magics and shell lines dropped)."""
    cells = code_cells(nbformat.read(path, as_version=4))
    return ast.parse("\n".join(re.sub(r"^\s*[%!].*$", "", cell.source, flags=re.M) for cell in cells))


def notebook_cell(prefix: str, source: str) -> str:
    """The one code cell of notebook `prefix` whose source starts with `source`."""
    (path,) = [path for path in NOTEBOOKS if path.name.startswith(prefix)]
    found = [cell.source for cell in code_cells(nbformat.read(path, as_version=4)) if cell.source.startswith(source)]
    assert len(found) == 1, f"{path.name}: expected one cell starting with {source!r}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_no_numpy_function_is_handed_a_layer_or_model_output_directly(path):
    """`np.f(layer(x))` fails on PyTorch with a GPU (CUDA, MPS): the tensor lives on the device.

    Convert with `keras.ops.convert_to_numpy` first. Flagged: a numpy function whose argument is a call
    of a notebook variable (a layer, a model), not of a builtin or of a function the notebook defines.
    """
    tree = notebook_tree(path)
    defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    plain_functions = set(dir(builtins)) | defined | imported
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("np", "numpy")):
            continue
        for argument in [*node.args, *(keyword.value for keyword in node.keywords)]:
            if isinstance(argument, ast.Call) and isinstance(argument.func, ast.Name):
                if argument.func.id not in plain_functions:
                    found.append(ast.unparse(node))
    assert not found, f"{path.name}: convert with keras.ops.convert_to_numpy first: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_no_check_compares_an_array_with_a_slice_of_itself(path):
    """`g == g[:, :1, :1, :]` is true by construction when g was broadcast from that slice: it checks nothing."""
    found = []
    for node in ast.walk(notebook_tree(path)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(b, ast.Subscript) and ast.dump(b.value) == ast.dump(a) for a in sides for b in sides):
                found.append(ast.unparse(node))
    assert not found, f"{path.name}: a comparison with a slice of the same array: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_random_contrast_is_given_its_range_as_a_pair(path):
    """On Keras 3.15 `RandomContrast(0.2)` draws factors in [1.0, 1.2] only (factor == (0, 0.2)), not [0.8, 1.2].

    The one exception: 09's cell that shows that range (`contrast_range(RandomContrast(0.2, ...))`).
    """
    tree = notebook_tree(path)
    shown = {
        id(argument)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "contrast_range"
        for argument in node.args
    }
    found = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and ast.unparse(node.func).endswith("RandomContrast")
        and node.args
        and not isinstance(node.args[0], ast.Tuple)
        and id(node) not in shown
    ]
    assert not found, f"{path.name}: give RandomContrast a (lower, upper) pair: {found}"


def augmentation_layers_of_09(seed: int = 1) -> dict:
    namespace = {"keras": keras, "SEED": seed}
    exec(notebook_cell("09", "layers = {"), namespace)
    return namespace["layers"]


def test_the_augmentation_layers_of_09_have_their_own_seeds_and_independent_draws():
    layers = augmentation_layers_of_09()
    seeds = [layer.get_config()["seed"] for layer in layers.values()]
    assert len(set(seeds)) == len(seeds), f"the layers share seeds: {seeds}"
    sample = np.zeros((600, 4, 4, 3), "float32")
    flips = keras.ops.convert_to_numpy(layers["flip"].get_random_transformation(sample, training=True)["flips"])
    angles = keras.ops.convert_to_numpy(layers["rotation"].get_random_transformation(sample, training=True)["angle"])
    agreement = np.mean(flips.ravel().astype(bool) == (angles.ravel() < 0))
    assert 0.4 < agreement < 0.6  # one shared seed gives 1.0


def contrast_factors(layer, draws: int = 2000) -> np.ndarray:
    sample = np.zeros((draws, 4, 4, 3), "float32")
    return keras.ops.convert_to_numpy(layer.get_random_transformation(sample, training=True)["contrast_factor"])


def test_the_contrast_of_09_is_multiplied_by_a_factor_between_0_8_and_1_2():
    factors = contrast_factors(augmentation_layers_of_09()["contrast"])
    assert 0.8 <= factors.min() < 0.82 and 1.18 < factors.max() <= 1.2


def test_a_single_float_contrast_only_raises_the_contrast_as_09_says():
    """09 tells students this; if a Keras release changes it, the notebook's sentence must change too."""
    factors = contrast_factors(keras.layers.RandomContrast(0.2, seed=1))
    assert factors.min() >= 1.0 and factors.max() > 1.18


def test_the_zoom_of_09_zooms_both_ways_and_a_factor_above_1_zooms_out():
    """09 says `RandomZoom(0.1)` zooms out and in by up to 10 %, and that a positive factor zooms out."""
    zoom = augmentation_layers_of_09()["zoom"]
    drawn = zoom.get_random_transformation(np.zeros((2000, 4, 4, 3), "float32"), training=True)
    factors = keras.ops.convert_to_numpy(drawn["height_zoom"])
    assert 0.9 <= factors.min() < 0.92 and 1.08 < factors.max() <= 1.1
    square = np.zeros((1, 40, 40, 3), "float32")
    square[:, 10:30, 10:30] = 255
    out = keras.ops.convert_to_numpy(keras.layers.RandomZoom((0.5, 0.5))(square, training=True))
    assert (out > 127).mean() < 0.15 < 0.25 == (square > 127).mean()


@pytest.mark.parametrize("name", ["phone.heic", "phone.jpg"])
def test_a_phone_photo_in_heic_is_refused_with_the_format_and_the_remedy(tmp_path, name):
    """12's exercise 2 tells students to export a JPEG when `load_photo` refuses a HEIC photo: it must say so."""
    path = tmp_path / name
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    with pytest.raises(ValueError, match="HEIC images cannot be read here; save or export the photo as JPEG"):
        data.load_photo(path, 150)


GPU_TIME = re.compile(r"\b(seconds?|minutes?|hours?|\d+\s*s)\b[^.]*\b(on|or) an? (\w+ )?GPU\b", re.IGNORECASE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_no_time_on_a_gpu_is_given_without_saying_whether_it_was_measured(path):
    """No GPU time has been measured for these notebooks: a sentence giving one must say "measured" (or "not")."""
    prose = " ".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown")
    found = [
        sentence
        for sentence in re.split(r"(?<=[.!?])\s+", prose)
        if GPU_TIME.search(sentence) and "measured" not in sentence
    ]
    assert not found, f"{path.name}: a time on a GPU that no one measured: {found}"
