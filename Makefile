# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-insights clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/chorus run

# The suite on every core up to TEST_MAX_WORKERS (pytest-xdist; an idle worker takes tests
# queued for a busy one); TEST_WORKERS=0 runs it in one process. Each worker has its own
# databases (see tests/conftest.py). The slowest tests are listed at the end.
TEST_WORKERS ?= auto
TEST_MAX_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --maxprocesses $(TEST_MAX_WORKERS) --dist worksteal
test: $(STAMP)
	$(BIN)/ruff check bot handlers storage tests bench
	$(BIN)/ruff format --check bot handlers storage tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) --durations 15

lint: $(STAMP)
	$(BIN)/ruff check bot handlers storage tests bench
	$(BIN)/ruff format --check bot handlers storage tests bench

bench: $(STAMP)
	$(BIN)/python bench/sentiment.py
	$(BIN)/python bench/telegram_webhook.py
	$(BIN)/python bench/sms_webhook.py
	$(BIN)/python bench/x_listener.py
	$(BIN)/python bench/channels.py

# The team reports on a large store (SCALE=1 is 1M contributions, 5M votes; minutes to build).
SCALE ?= 0.05
bench-insights: $(STAMP)
	$(BIN)/python bench/insights.py --scale $(SCALE) --backend both

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
