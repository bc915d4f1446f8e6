# Every target creates .venv on first use and reinstalls when requirements.txt or pyproject.toml change.
PYTHON ?= python3
PROFILE ?= full
NOTEBOOKS ?=
PARAMS ?=
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run smoke test lab fetch references figures

$(VENV)/installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

run: $(VENV)/installed  ## execute the notebooks: make run [PROFILE=smoke] [NOTEBOOKS="01 04"] [PARAMS="-p EPOCHS 3"]
	$(BIN)/python -m workbook run --profile $(PROFILE) $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS)) $(PARAMS)

smoke: $(VENV)/installed  ## every notebook in seconds, random weights, no network
	$(BIN)/python -m workbook run --profile smoke $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS))

test: $(VENV)/installed  ## the whole test suite
	$(BIN)/python -m pytest

# The server's root is the repository, so the notebooks' `../images/` figures load; the file browser opens on notebooks/.
lab: $(VENV)/installed  ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) --ContentsManager.preferred_dir=notebooks

fetch: $(VENV)/installed  ## dataset and ImageNet files, ahead of an offline class
	$(BIN)/python -m workbook fetch --weights

references: $(VENV)/installed  ## re-execute the nbval references (needs the real dataset)
	$(BIN)/python tests/make_references.py

figures: $(VENV)/installed  ## redraw images/*.png
	$(BIN)/python images/make_figures.py
