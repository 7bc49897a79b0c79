# emorec developer commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
EMOREC := $(VENV)/bin/emorec
export EMOREC_DATA ?= $(abspath ../shared/data)

.PHONY: demo test bench bench-quick install install-dev clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

# Training and test extras: torch==2.13.0 resolves to the local CPU wheel here.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[train,serve,test,egemaps]'
	# silero-vad's wheel carries its ONNX model; --no-deps keeps torch/torchaudio out.
	$(PIP) install -q --no-deps silero-vad
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(EMOREC) face predict examples/
	$(EMOREC) voice predict examples/

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q

bench-quick: $(VENV)/.installed-dev
	$(PY) benchmarks/run_all.py --quick

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
