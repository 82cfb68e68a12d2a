# ftbook — every target sets itself up through `install`.
# Quick start:  make train  (fine-tune the packaged encoder on the packaged data)  and  make test

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is installed first, pinned: on the project's machines torch==2.13.0 is a local CPU wheel (~25 s),
# while an open range pulls a multi-GB CUDA build. Users elsewhere can override: make install TORCH=torch
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install train test check-export check-clean nbtest pytest lab docs export clean

install: $(STAMP)

# Re-runs only when the project's metadata changes; otherwise `make install` is a no-op.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

# The README's main job: the default encoder fine-tuned on the packaged WNUT-16 tweets, on CPU in a few minutes.
RUN ?= runs/ftbook
train: install
	$(BIN)/ftbook train --output $(RUN)

# The README's test command: notebooks and package agree, every chapter runs, then pytest.
test: check-export check-clean nbtest pytest

check-export: install
	$(BIN)/python tools/unchanged.py ftbook -- $(BIN)/nbdev-export

check-clean: install
	$(BIN)/python tools/unchanged.py nbs -- $(BIN)/nbdev-clean

nbtest: install
	$(BIN)/nbdev-test --timing

pytest: install
	$(BIN)/python -m pytest -q

export: install
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean
	$(BIN)/python tools/readme.py

lab: install
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser $(ROOT_FLAG) --notebook-dir nbs

# The real site needs Quarto on PATH (it cannot be installed on the project's offline machines).
docs: install
	@if command -v quarto >/dev/null 2>&1; then $(BIN)/nbdev-docs; \
	else echo "quarto is not on PATH: install it from https://quarto.org, then run 'make docs' again (nbdev-docs)."; exit 1; fi

clean:
	rm -rf _docs _proc nbs/_docs nbs/_proc .pytest_cache
