# The two commands of the README: `make run` and `make test`. Everything installs into .venv.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
HOST ?= 127.0.0.1
PORT ?= 8080
PYTEST_ARGS ?=

.PHONY: install run test docs clean

# A new top-level package (*/__init__.py) needs a reinstall so the editable install maps it.
$(STAMP): pyproject.toml requirements.txt $(wildcard plugins/*/pyproject.toml) $(wildcard */__init__.py)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -e '.[test,docs]' $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/core-server serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

docs: install
	@$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

clean:
	rm -rf $(VENV) _data/*.sqlite*
