# Two commands do all set-up: `make demo` and `make test`. Each step is skipped when already done.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-cluster lint format bench java servers cluster-servers clean

demo: $(STAMP) java
	$(BIN)/python examples/quickstart.py

# One pytest session: unit tests, then integration tests sharing one local Ray + Spark on Ray.
test: $(STAMP) java servers
	$(BIN)/python -m pytest tests/unit tests/integration --timeout=900 -p no:cacheprovider

# The quickstart unchanged on a two-node Ray cluster with PostgreSQL, Redis, an MLflow server
# and S3-compatible storage, all on loopback (see tests/cluster/).
test-cluster: $(STAMP) java servers cluster-servers
	$(BIN)/python -m pytest tests/cluster --timeout=1800 -p no:cacheprovider --basetemp=/tmp/raylake-cluster

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) java servers
	for b in benchmarks/*.py; do $(BIN)/python $$b --quick || exit 1; done

# Java 17 for Spark / RayDP: installed only when no `java` is on PATH.
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "java not found: installing openjdk-17-jre-headless"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; }

# What the tests start and stop themselves (redis-server for the online store, chromium for
# the web UI test) and `hey` for the HTTP benchmarks: installed only when missing.
servers:
	@command -v redis-server >/dev/null 2>&1 && command -v hey >/dev/null 2>&1 && \
	  command -v chromium >/dev/null 2>&1 || { \
	  echo "installing redis-server, hey and chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server hey chromium; }

cluster-servers:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing postgresql"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

# Debian's own python3.11 ships venv without ensurepip: install python3.11-venv only if needed.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11-venv && $(PYTHON) -m venv $(VENV); }

$(BIN)/uv: $(BIN)/python
	$(BIN)/python -m pip install -q "uv==0.13.9"

# Reinstall only when the lock file or the project metadata changes.
$(STAMP): requirements.lock pyproject.toml $(BIN)/uv
	$(BIN)/uv pip sync --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache
