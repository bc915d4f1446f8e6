# Every target creates its environment on first use and reinstalls when its requirements or pyproject.toml change.
# BACKEND=jax or BACKEND=torch: Keras on that backend, in its own environment without TensorFlow (.venv-jax, .venv-torch).
# Without BACKEND, an exported KERAS_BACKEND chooses it (as it does for Keras); else TensorFlow.
.DEFAULT_GOAL := help
PYTHON ?= python3
PROFILE ?= full
NOTEBOOKS ?=
PARAMS ?=
ifeq ($(origin BACKEND),undefined)
BACKEND := $(or $(strip $(KERAS_BACKEND)),tensorflow)
endif
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

# Relative WORKBOOK_DATA/CACHE/RUNS are taken from the folder make runs in, for every target: exported absolute, so a
# kernel started by `make lab` (it works in notebooks/) finds what `python -m workbook run` finds. `~/...` is left to
# the workbook, which expands it.
absolute = $(if $(filter ~%,$(1)),$(1),$(abspath $(1)))
$(foreach name,WORKBOOK_DATA WORKBOOK_CACHE WORKBOOK_RUNS,\
  $(if $(strip $($(name))),$(eval export $(name) := $(call absolute,$(strip $($(name)))))))

.PHONY: help run gpu-check smoke test lab fetch references figures

help:  ## this list (the default): make [target] [BACKEND=jax|torch] [PYTHON=python3.11]
	@echo "Targets (each creates its environment, $(VENV), on first use):"
	@awk -F':[^#]*## ' '/^[a-z][a-z-]*:.*## / {printf "  make %-11s %s\n", $$1, $$2}' $(firstword $(MAKEFILE_LIST))

# The environment is rebuilt when its Python is missing, older than 3.11 or has no pip (a venv made where
# python3-venv/ensurepip is missing); a PYTHON older than 3.11 stops here, before pip.
$(VENV)/installed: $(REQUIREMENTS) requirements-common.txt pyproject.toml
	@if ! $(BIN)/python -c 'import sys, pip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then \
	  version=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	  case "$$version" in 3.1[1-9]|3.[2-9][0-9]) ;; \
	  *) echo "make: the workbook needs Python 3.11 or newer; PYTHON=$(PYTHON) is $${version:-not found}." >&2; \
	     echo "     Install Python 3.11 and name it: make $(or $(MAKECMDGOALS),help) PYTHON=python3.11" >&2; exit 1;; \
	  esac; \
	  if [ -e $(VENV) ]; then echo "make: $(VENV) has no usable Python 3.11 with pip: rebuilding it"; rm -rf $(VENV); fi; \
	  $(PYTHON) -m venv $(VENV); \
	  if ! $(BIN)/python -c 'import pip' >/dev/null 2>&1; then rm -rf $(VENV); \
	    echo "make: $(PYTHON) -m venv made an environment without pip (ensurepip is missing)." >&2; \
	    echo "     On Debian or Ubuntu: sudo apt-get install python3-venv (or python$$version-venv), then make again." >&2; \
	    exit 1; fi; \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(REQUIREMENTS)
	touch $@

run: $(VENV)/installed  ## execute the notebooks: make run [PROFILE=smoke] [NOTEBOOKS="01 04"] [PARAMS="-p EPOCHS 3"]
	$(BIN)/python -m workbook run --profile $(PROFILE) $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS)) $(PARAMS)

gpu-check: $(VENV)/installed  ## every notebook at full size on the first GPU; fails without one: make gpu-check [BACKEND=jax]
	$(BIN)/python -m workbook run --gpu $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS)) $(PARAMS)

smoke: $(VENV)/installed  ## every notebook quickly with random weights (needs the dataset, no weights): same as make run PROFILE=smoke
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
