# Every target creates its environment on first use and reinstalls when its requirements or pyproject.toml change.
# BACKEND=jax or BACKEND=torch: Keras on that backend, in its own environment without TensorFlow (.venv-jax, .venv-torch).
PYTHON ?= python3
PROFILE ?= full
NOTEBOOKS ?=
PARAMS ?=
BACKEND ?= tensorflow
ifeq ($(BACKEND),tensorflow)
VENV := .venv
REQUIREMENTS := requirements.txt
else ifneq ($(filter $(BACKEND),jax torch),)
VENV := .venv-$(BACKEND)
REQUIREMENTS := requirements-$(BACKEND).txt
else
$(error BACKEND must be tensorflow, jax or torch, not "$(BACKEND)")
endif
export KERAS_BACKEND := $(BACKEND)
BIN := $(VENV)/bin

.PHONY: run gpu-check smoke test lab fetch references figures

$(VENV)/installed: $(REQUIREMENTS) requirements-common.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(REQUIREMENTS)
	touch $@

run: $(VENV)/installed  ## execute the notebooks: make run [PROFILE=smoke] [NOTEBOOKS="01 04"] [PARAMS="-p EPOCHS 3"]
	$(BIN)/python -m workbook run --profile $(PROFILE) $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS)) $(PARAMS)

gpu-check: $(VENV)/installed  ## every notebook at full size on the first GPU; fails without one: make gpu-check [BACKEND=jax]
	$(BIN)/python -m workbook run --gpu $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS)) $(PARAMS)

smoke: $(VENV)/installed  ## every notebook in seconds, random weights, no network
	$(BIN)/python -m workbook run --profile smoke $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS))

test: $(VENV)/installed  ## the whole test suite
	$(BIN)/python -m pytest

# The server's root is the repository, so the notebooks' `../images/` figures load; the file browser opens on notebooks/.
lab: $(VENV)/installed  ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) --ContentsManager.preferred_dir=notebooks

fetch: $(VENV)/installed  ## dataset and ImageNet files, ahead of an offline class
	$(BIN)/python -m workbook fetch --weights

references: $(VENV)/installed  ## re-execute the nbval references (needs the real dataset): make references [NOTEBOOKS="11"]
	$(BIN)/python tests/make_references.py $(NOTEBOOKS)

figures: $(VENV)/installed  ## redraw images/*.png
	$(BIN)/python images/make_figures.py
