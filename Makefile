# turnwatch: `make demo` and `make test` work from nothing (they create .venv first).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-unit test-integration lint format schemas bench bench-console clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first and pinned: this exact spec takes the local CPU wheel instead of GBs of CUDA.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/turnwatch demo --duration $${DURATION:-120}

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test-unit: install
	$(PY) -m pytest -q -m "not integration"

test-integration: install
	$(PY) -m pytest -q -m integration

schemas: install
	$(VENV)/bin/turnwatch schemas --out schemas
	$(VENV)/bin/turnwatch dashboards --out deploy/grafana/dashboards

bench: install
	$(VENV)/bin/turnwatch bench --backend $${BACKEND:-onnx} --out bench

bench-console: install
	$(VENV)/bin/turnwatch bench --console --out bench

clean:
	rm -rf $(VENV) .turnwatch .pytest_cache
