# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/chorus run

test: $(STAMP)
	$(BIN)/ruff check bot handlers storage tests bench
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check bot handlers storage tests bench

bench: $(STAMP)
	$(BIN)/python bench/sentiment.py
	$(BIN)/python bench/telegram_webhook.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
