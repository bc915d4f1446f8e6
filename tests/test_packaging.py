"""The distribution: pyproject.toml's dependencies agree with the requirements files, and what ships in it."""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from workbook import data, dataset, settings

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
# Which extras each requirements file stands for, besides the dependencies every environment gets.
FILE_EXTRAS = {
    "requirements-common.txt": ("test",),
    "requirements.txt": ("tensorflow", "browser"),
    "requirements-jax.txt": ("jax",),
    "requirements-torch.txt": ("torch",),
}


def name_of(requirement: str) -> str:
    """The normalized project name of a requirement line (`Pillow[x]~=1` -> `pillow`)."""
    return re.split(r"[\s\[<>=~!;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pins(lines: list[str]) -> dict[str, str]:
    """Map name -> the requirement without spaces, for requirement lines (no options, no comments)."""
    return {name_of(line): line.replace(" ", "") for line in lines}


def requirement_lines(path: Path) -> list[str]:
    """The file's own requirements: comments, `-r` includes and `-e .` left out."""
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines.append(line)
    return lines


def test_every_requirements_file_is_mapped():
    assert sorted(p.name for p in ROOT.glob("requirements*.txt")) == sorted(FILE_EXTRAS)


@pytest.mark.parametrize("filename", sorted(FILE_EXTRAS))
def test_requirements_file_pins_what_pyproject_declares(filename):
    """Each file's own lines are exactly the extras it stands for (the common file: the dependencies too)."""
    extras = PROJECT["optional-dependencies"]
    declared = [req for extra in FILE_EXTRAS[filename] for req in extras[extra]]
    if filename == "requirements-common.txt":
        declared += PROJECT["dependencies"]
    in_file = pins(requirement_lines(ROOT / filename))
    assert in_file == pins(declared), (
        f"{filename} and pyproject.toml disagree: change both (the file's lines must equal "
        f"dependencies/extras {FILE_EXTRAS[filename]})"
    )


def test_backend_files_include_the_common_file_and_the_package():
    common = (ROOT / "requirements-common.txt").read_text(encoding="utf-8")
    assert "\n-e .\n" in f"\n{common}\n"
    for filename in ("requirements.txt", "requirements-jax.txt", "requirements-torch.txt"):
        assert "-r requirements-common.txt" in (ROOT / filename).read_text(encoding="utf-8").splitlines()


def test_every_extra_is_used_and_every_pyproject_pin_is_in_a_file():
    extras = set(PROJECT["optional-dependencies"])
    assert extras == {extra for names in FILE_EXTRAS.values() for extra in names}


def test_the_distribution_is_not_pypis_workbook_and_needs_python_311():
    assert PROJECT["name"] != "workbook"
    assert PROJECT["requires-python"] == ">=3.11"
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py311"
    assert PROJECT["scripts"]["workbook"] == "workbook.__main__:main"


def test_what_the_package_needs_at_run_time_ships_inside_it():
    shipped = PYPROJECT["tool"]["setuptools"]["package-data"]["workbook"]
    package = Path(data.__file__).parent
    for name in shipped:
        assert (package / name).is_file(), name
    assert dataset.MANIFEST.parent == package and dataset.MANIFEST.name in shipped
    assert len(dataset.read_manifest()) == 3781
    assert "gates.json" in shipped


def test_licence_is_mit_and_declared():
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert PROJECT["license"] == "MIT"


def test_installed_copy_defaults_to_folders_under_the_working_directory(tmp_path):
    """Outside a checkout (no notebooks/ beside the package) the dataset, cache and runs live under the cwd."""
    site = tmp_path / "site"
    shutil.copytree(Path(data.__file__).parent, site / "workbook", ignore=shutil.ignore_patterns("__pycache__"))
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in settings.PATH_VARIABLES} | {"PYTHONPATH": str(site)}
    code = (
        "from workbook import dataset, settings; print(settings.dataset_dir()); print(settings.cache_dir()); "
        "print(settings.runs_dir()); print(len(dataset.read_manifest()))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, check=True)
    lines = out.stdout.split()
    assert lines == [
        str(work / "data" / "clothing-dataset-small"),
        str(work / ".cache"),
        str(work / "runs"),
        "3781",
    ]


def test_an_install_without_a_backend_says_which_extra_to_add(tmp_path):
    """`pip install .` alone has Keras but no backend: the backend module (imported first) names the extras."""
    hide = (
        "import importlib.util as u; find = u.find_spec; "
        "u.find_spec = lambda name, *a: None if name in ('tensorflow', 'jax', 'torch') else find(name, *a); "
        "from workbook import backend"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"} | {"KERAS_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", hide], env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "ImportError: Keras needs a backend" in result.stderr and "pip install '.[tensorflow]'" in result.stderr


NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def setup_cell(notebook: Path) -> str:
    """The first code cell of a stored notebook as plain Python (IPython's `%` lines left out)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    source = "".join(next(cell for cell in cells if cell["cell_type"] == "code")["source"])
    return "\n".join(line for line in source.splitlines() if not line.startswith("%"))


def run_isolated(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """`code` in a Python that sees neither this repository nor site-packages (where an editable install points)."""
    return subprocess.run([sys.executable, "-I", "-S", "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem[:2])
def test_a_notebook_without_the_package_stops_at_its_setup_cell_saying_how_to_get_it(notebook, tmp_path):
    result = run_isolated(setup_cell(notebook), tmp_path)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: No workbook package: in a clone of this repository run `make lab`")
    # The package installs from a clone's folder (README, "Installing the package elsewhere"), under its own
    # distribution name; the message never says `pip install workbook` (PyPI's `workbook` is another project).
    assert last.endswith("or %pip install 'CLONE[tensorflow]'") and "tensorflow" in PROJECT["optional-dependencies"]
    assert "ModuleNotFoundError" not in result.stderr and len(last) < 120  # JupyterLab shows it in one line


def test_a_missing_dependency_of_the_package_is_not_reported_as_a_missing_package(tmp_path):
    """The guard answers only for `workbook` itself: a module the package needs keeps its own error."""
    fake = tmp_path / "site" / "workbook"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("import keras_that_is_not_installed\n", encoding="utf-8")
    code = f"import sys; sys.path.insert(0, {str(fake.parent)!r})\n" + setup_cell(NOTEBOOKS[0])
    result = run_isolated(code, tmp_path)
    assert "ModuleNotFoundError: No module named 'keras_that_is_not_installed'" in result.stderr
    assert "This notebook needs" not in result.stderr


def test_the_offline_recipe_downloads_what_building_the_package_needs():
    """Installing this folder offline builds it: the wheel folder needs pyproject's build requirements too.

    (An install from a folder of wheels is not run here: it needs setuptools>=77, which the environments
    do not hold, and wheels of every dependency, which cannot be made from an installed environment.)
    """
    recipe = (ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
    download = next(line for line in recipe.splitlines() if "pip download -d wheels" in line)
    assert "-r requirements.txt" in download
    for requirement in PYPROJECT["build-system"]["requires"]:
        assert f"'{requirement}'" in download, requirement
