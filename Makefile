# Two commands matter: `make demo` and `make test`. Both run `make setup` first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MICROPYTHON := .cache/bin/micropython
MICROPYTHON32 := .cache/bin/micropython-i386
UMQTT := build/lib/umqtt/simple.py

.PHONY: setup test fuzz lint format demo bench clean

setup: $(VENV)/.installed $(MICROPYTHON) $(MICROPYTHON32) $(UMQTT) $(VENV)/.pyright

# pyright's PyPI wrapper fetches the pyright package from npm on first use: do it once, here.
$(VENV)/.pyright: | $(VENV)/.installed
	$(VENV)/bin/pyright --version
	touch $@

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
	# the host tools themselves, editable: `iothub-x509` (or python -m host_tools) from any folder
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

$(MICROPYTHON): scripts/install_micropython.sh
	bash scripts/install_micropython.sh $(MICROPYTHON) amd64

# the 32-bit build: the ESP32's word size, for RAM figures an ESP32 would show
$(MICROPYTHON32): scripts/install_micropython.sh
	bash scripts/install_micropython.sh $(MICROPYTHON32) i386

$(UMQTT): scripts/fetch_umqtt.py | $(VENV)/.installed
	$(PY) scripts/fetch_umqtt.py build/lib
	touch $@

lint: setup
	$(VENV)/bin/ruff check host_tools tests firmware examples bench scripts
	$(VENV)/bin/ruff format --check host_tools tests firmware examples bench scripts

format: setup
	$(VENV)/bin/ruff format host_tools tests firmware examples bench scripts
	$(VENV)/bin/ruff check --fix host_tools tests firmware examples bench scripts

test: setup lint
	$(PY) -m pytest

# the parsers' properties with thousands of examples each (make test runs them with a few dozen)
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest tests/fuzz -q

demo: setup
	$(PY) -m host_tools demo

bench: setup
	$(PY) -m bench

clean:
	rm -rf build .pytest_cache
