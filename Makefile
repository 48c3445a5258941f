# The two commands of the README: `make run` and `make test`. Everything installs into .venv.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
HOST ?= 127.0.0.1
PORT ?= 8080
PYTEST_ARGS ?=
# the local servers of a development machine (the same as .ci/run uses)
TEST_PG ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
TEST_MYSQL ?= mysql+pymysql://root@127.0.0.1:3306/test

.PHONY: install run test test-all docs clean

# A new top-level package (*/__init__.py) needs a reinstall so the editable install maps it.
# pip says what it collects and installs (about a minute the first time, nothing afterwards).
$(STAMP): pyproject.toml requirements.txt $(wildcard plugins/*/pyproject.toml) $(wildcard */__init__.py)
	@echo "make: installing core_server, its plugins and the test/docs tools into $(VENV)"
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install --progress-bar off -r requirements.txt -e '.[test,docs]' \
		$(addprefix -e ,$(PLUGINS)) | sed -n -E '/^(Obtaining|Collecting|Installing|Successfully)/p'
	$(BIN)/python -c 'import core_server, flask_swagger_ui'  # the install above really worked
	touch $(STAMP)
	@echo "make: $(VENV) is ready"

install: $(STAMP)

run: install
	$(BIN)/core-server serve --host $(HOST) --port $(PORT)

# Without the DSNs the PostgreSQL/MariaDB variants skip (the summary at the end says why).
test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Every test on all three databases, against the local PostgreSQL and MariaDB.
test-all: install
	CORE_SERVER_TEST_PG=$(TEST_PG) CORE_SERVER_TEST_MYSQL=$(TEST_MYSQL) CORE_SERVER_REQUIRE_DBS=1 \
		$(BIN)/python -m pytest -q $(PYTEST_ARGS)

docs: install
	@$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

clean:
	rm -rf $(VENV) _data/*.sqlite*
