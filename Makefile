# The two commands a new machine needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Processes pytest runs the suite in: one per core (`make test PYTEST_WORKERS=0` runs it in this one).
PYTEST_WORKERS ?= auto

.PHONY: demo test lint crds deploy bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kubetune run examples/demo.yaml

test: $(STAMP) lint
	$(BIN)/kubetune crds --check
	$(BIN)/kubetune crds --check -o charts/kubetune/crds
	# The admission policy's pod-spec places (charts/kubetune/files/pod-specs.yaml), then deploy/kubetune.yaml.
	$(BIN)/python deploy/render.py --check
	# examples/plugin.yaml names a plugin that is not installed here, which validate rightly refuses.
	$(BIN)/kubetune validate --quiet $(filter-out examples/plugin.yaml,$(wildcard examples/*.yaml))
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check operator benchmarks tests deploy
	$(BIN)/ruff format --check operator benchmarks tests deploy
	$(BIN)/mypy
	$(BIN)/lint-imports

# After a change to the models: regenerate the CRDs everywhere they are shipped.
crds: $(STAMP)
	$(BIN)/kubetune crds
	$(BIN)/kubetune crds -o charts/kubetune/crds
	$(BIN)/python deploy/render.py

deploy: $(STAMP)
	$(BIN)/python deploy/render.py

# The benchmarks (benchmarks/, not installed with the package; `kubetune bench` finds them in this
# directory) run Optuna's GPSampler (bayesian's optuna-gp backend, and a competitor), which needs
# torch: the test extra installs the gp extra, a CPU build pinned in pyproject.toml.
bench: $(STAMP)
	$(BIN)/kubetune bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
