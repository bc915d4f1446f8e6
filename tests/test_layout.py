"""The package's layout: one concern per module, no import circle, public Keras only, no framework on import."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "workbook"
MODULES = {f"workbook.{path.stem}": path for path in sorted(PACKAGE.glob("*.py")) if path.stem != "__init__"}
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 30


def tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text(encoding="utf-8"))


def imports(module: str) -> set[str]:
    """The workbook modules `module` imports anywhere in it, functions included."""
    found = set()
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in MODULES}


def test_no_import_circle_counting_imports_inside_functions():
    graph = {module: imports(module) - {module} for module in MODULES}
    done, path = set(), []

    def visit(module):
        if module in path:
            pytest.fail("import circle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        path.append(module)
        for other in sorted(graph[module]):
            visit(other)
        path.pop()
        done.add(module)

    for module in MODULES:
        visit(module)


def test_settings_imports_no_other_module_of_the_workbook():
    assert imports("workbook.settings") == set()


@pytest.mark.parametrize("module", MODULES)
def test_modules_stay_small(module):
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module} has {lines} lines: split it by concern"


def long_functions(module: str) -> list[str]:
    """Functions over MAX_FUNCTION_LINES lines (docstring excluded) without a comment saying why."""
    source = MODULES[module].read_text(encoding="utf-8").splitlines()
    found = []
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            length = node.end_lineno - body[0].lineno + 1 if body else 0
            explained = any("long:" in line.lower() for line in source[node.lineno - 1 : node.end_lineno])
            if length > MAX_FUNCTION_LINES and not explained:
                found.append(f"{node.name} ({length} lines)")
    return found


@pytest.mark.parametrize("module", MODULES)
def test_functions_stay_short_unless_a_comment_says_why(module):
    assert long_functions(module) == []


@pytest.mark.parametrize("module", MODULES)
def test_only_public_keras(module):
    text = MODULES[module].read_text(encoding="utf-8")
    assert "keras.src" not in text and "keras/src" not in text


@pytest.mark.parametrize("module", MODULES)
def test_keras_comes_through_the_backend_module(module):
    """`workbook.backend` chooses the backend and starts TensorFlow quietly before Keras is imported."""
    if module == "workbook.backend":
        return
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Import):
            assert all(alias.name.split(".")[0] != "keras" for alias in node.names), module
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] != "keras", module


def public_functions(module: str):
    for node in tree(module).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            yield node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield node


@pytest.mark.parametrize("module", MODULES)
def test_public_functions_and_classes_have_docstrings(module):
    missing = [node.name for node in public_functions(module) if not ast.get_docstring(node)]
    assert missing == []


# The modules a notebook calls: their public functions with arguments document them (Shift-Tab shows it).
NOTEBOOK_MODULES = ["workbook.cache", "workbook.files", "workbook.run_folder", "workbook.settings", "workbook.text"]


@pytest.mark.parametrize("module", NOTEBOOK_MODULES)
def test_functions_with_arguments_say_what_they_take_and_return(module):
    incomplete = []
    for node in public_functions(module):
        if not isinstance(node, ast.FunctionDef) or len(node.args.args) < 2:
            continue
        doc = ast.get_docstring(node)
        returns = node.returns is not None and ast.unparse(node.returns) != "None"
        if "Args:" not in doc or (returns and "Returns:" not in doc):
            incomplete.append(node.name)
    assert incomplete == []


FRAMEWORKS = ("keras", "tensorflow", "jax", "torch")


def test_importing_the_package_and_its_image_module_loads_no_framework():
    code = (
        "import sys, workbook, workbook.images, workbook.settings, workbook.files, workbook.run_folder\n"
        f"print(sorted(name for name in {FRAMEWORKS!r} if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_repository_cites_no_design_file_outside_it():
    root = PACKAGE.parent
    for path in [*PACKAGE.glob("*.py"), *root.glob("tests/*.py"), *root.glob("docs/*.md")]:
        assert "DESIGN" + ".md" not in path.read_text(encoding="utf-8"), path


@pytest.mark.skipif(shutil.which("duplicates") is None, reason="the `duplicates` tool is not installed here")
def test_the_duplicates_tool_finds_no_repeated_code_inside_the_package():
    """One implementation of each piece (issue 18): no run of six same-shape lines twice in workbook/."""
    result = subprocess.run(
        ["duplicates", "--most", "200", "--seconds", "60"], cwd=PACKAGE.parent, capture_output=True, text=True
    )
    pairs = [line for line in result.stdout.splitlines() if line.startswith("D") and "workbook/" in line]
    assert "incomplete" not in result.stdout and pairs == []
