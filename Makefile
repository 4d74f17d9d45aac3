# The two commands a new machine needs: `make demo` and `make test`. Both set up .venv first:
# `make demo` installs only what running a task and looking at it needs (kubetune, its runtime
# dependencies and the report extra: no torch, no browser, no test tools); `make test` and `make dev`
# add the test extra (the whole toolchain).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: a demo venv is upgraded in place by the first `make test`, never rebuilt.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

# Processes pytest runs the suite in: one per core (`make test PYTEST_WORKERS=0` runs it in this one).
PYTEST_WORKERS ?= auto

.PHONY: demo dev test lint crds deploy bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv installs the same packages several times faster than pip (about 15 s instead of 2 minutes here);
# pip does it where uv cannot be had. The test extra keeps pip, which reads this machine's pip
# configuration (the CPU build of torch).
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	($(BIN)/pip install --quiet uv && $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[report]') \
		|| $(BIN)/pip install --quiet -e '.[report]'
	touch $(RUN_STAMP)

# The test extra: pytest, playwright, mypy, ruff, the Helm SDK, and the gp, report and tfevent extras.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(RUN_STAMP) $(DEV_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/kubetune run examples/demo.yaml

dev: $(DEV_STAMP)

test: $(DEV_STAMP) lint
	$(BIN)/kubetune crds --check
	$(BIN)/kubetune crds --check -o charts/kubetune/crds
	# The admission policy's pod-spec places (charts/kubetune/files/pod-specs.yaml), then deploy/kubetune.yaml.
	$(BIN)/python deploy/render.py --check
	# examples/plugin.yaml names a plugin that is not installed here, which validate rightly refuses.
	$(BIN)/kubetune validate --quiet $(filter-out examples/plugin.yaml,$(wildcard examples/*.yaml))
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check operator benchmarks tests deploy
	$(BIN)/ruff format --check operator benchmarks tests deploy
	$(BIN)/mypy
	$(BIN)/lint-imports

# After a change to the models: regenerate the CRDs everywhere they are shipped.
crds: $(DEV_STAMP)
	$(BIN)/kubetune crds
	$(BIN)/kubetune crds -o charts/kubetune/crds
	$(BIN)/python deploy/render.py

deploy: $(DEV_STAMP)
	$(BIN)/python deploy/render.py

# The benchmarks (benchmarks/, not installed with the package; `kubetune bench` finds them in this
# directory) run Optuna's GPSampler (bayesian's optuna-gp backend, and a competitor), which needs
# torch: the test extra installs the gp extra, a CPU build pinned in pyproject.toml.
bench: $(DEV_STAMP)
	$(BIN)/kubetune bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
