# motifkit: two commands on a fresh machine -> `make demo` and `make test`.
# Both create or refresh the project's own virtual environment in .venv first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.motifkit-installed
# The CPU wheel of this exact torch version is available locally; any other
# version (or an unpinned torch) would pull gigabytes of CUDA packages.
TORCH_PIN := torch==2.13.0
PYTEST_ARGS ?=

.PHONY: demo test venv bench clean figures

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[all,dev]" "$(TORCH_PIN)"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/motifkit demo -o demo_output

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmark-only reference implementations (motif-learn, umap-learn) go into the same venv.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[all,dev,bench]" "$(TORCH_PIN)"
	$(BIN)/python benchmarks/run_all.py

figures: $(STAMP)
	$(BIN)/motifkit figures -o figures_output --quick

clean:
	rm -rf $(VENV) demo_output figures_output .pytest_cache build dist *.egg-info
