# emorec developer commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
EMOREC := $(VENV)/bin/emorec
export EMOREC_DATA ?= $(abspath ../shared/data)

.PHONY: demo test test-peer test-fast test-deps lint lint-format docs format bench bench-quick install install-dev clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

# Training and test extras: torch==2.13.0 resolves to the local CPU wheel here.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[train,serve,test,egemaps,dev,docs]'
	# silero-vad's wheel carries its ONNX model; --no-deps keeps torch/torchaudio out.
	$(PIP) install -q --no-deps silero-vad
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(EMOREC) face predict examples/
	$(EMOREC) voice predict examples/

# What the tests need beyond Python packages: Chromium for the browser tests (Debian's package;
# Playwright's own browser download is not used). As root it is installed with apt-get; otherwise
# the one command to run is printed and the browser tests report themselves as not run.
test-deps:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make test: installing chromium for the browser tests (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "make test: chromium is missing; the browser tests need it. Install it with:"; \
		echo "    sudo apt-get install -y chromium"; \
	fi

test: $(VENV)/.installed-dev test-deps
	$(PY) -m pytest -q -m "not peer"

# Checks against the fer peer package; its venv is made by `python benchmarks/fer_peer.py` (downloads from PyPI).
test-peer: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m peer

# The quick tier (under 3 minutes on 2 cores): no training on real or synthetic data, no load or
# browser tests, no wheel build. Tests marked `slow` (pyproject.toml markers) run only in `make test`.
test-fast: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m "not slow and not browser and not peer"

# Files already in `ruff format` style; the rest of the tree is formatted in one go later (`make format`).
FORMATTED := src/emorec/outputs.py src/emorec/inputs.py src/emorec/serve/protocol.py \
	tests/core/test_outputs.py tests/core/test_inputs.py tests/core/test_decoders_property.py \
	tests/core/test_cli_release.py tests/core/test_wheel.py tests/serve/test_slow_bench.py \
	benchmarks/serve_slow.py benchmarks/serve_bomb.py

lint-format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format --check $(FORMATTED)

lint: $(VENV)/.installed-dev lint-format
	$(VENV)/bin/ruff check src tests benchmarks scripts examples
	$(VENV)/bin/mypy
	$(PY) scripts/update_readme.py --check

# The documentation site (docs/, mkdocs.yml) into site/; warnings are errors.
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format src tests benchmarks scripts examples

bench-quick: $(VENV)/.installed-dev
	$(PY) benchmarks/run_all.py --quick

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist site src/*.egg-info .pytest_cache
