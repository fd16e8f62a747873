# The targets the README tells people to run, and what .ci/run runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SAMPLE := digest/samples/hf-daily-2025-11-25.json

.PHONY: install demo test test-fast bench bench-send bench-due bench-rank bench-pg eval format lock clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The main job on the embedded defaults: sample subscribers and the saved HF day,
# ranked, rendered and written as .eml files to outbox/ (no SMTP server set).
demo: install
	$(BIN)/digest subscribers import digest/samples/subscribers.csv
	$(BIN)/digest send --date 2025-11-26 --source $(SAMPLE)
	$(BIN)/digest preview --date 2025-11-26 --source $(SAMPLE) --subscriber ada@example.org

test: install
	$(BIN)/ruff check digest tests bench
	$(BIN)/ruff format --check digest tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2

# While working: lint and the tests not marked slow (no browser, no real serve processes, no
# end-to-end runs, no wheel build). `make test` and CI still run everything.
test-fast: install
	$(BIN)/ruff check digest tests bench
	$(BIN)/ruff format --check digest tests bench
	$(BIN)/pytest -q -m "not slow"

# Figures for docs/benchmarks.md (takes about a minute and a half).
bench: install
	$(BIN)/python bench/bench_pipeline.py --readers 1000
	$(BIN)/python bench/bench_send.py --subscribers 100000

bench-due: install
	$(BIN)/python bench/bench_due.py --subscribers 100000

# Issue 17: every message DKIM-signed in process (a fresh 2048-bit key), as a signed send is.
bench-send: install
	$(BIN)/python bench/bench_send.py --subscribers 100000 --dkim

# Issue 16, PostgreSQL on a throwaway local cluster (needs Debian's postgresql; 40-70
# minutes on 2 cores): the store at 1,000,000 readers beside TinyDB at 100,000, the schedule
# look at 1,000,000, and sends of 100,000 and 10,000 readers with one and two senders.
bench-pg: install
	$(BIN)/python bench/bench_store.py
	$(BIN)/python bench/bench_due.py --store postgresql --subscribers 1000000
	$(BIN)/python bench/bench_due.py --subscribers 100000
	$(BIN)/python bench/bench_send.py --subscribers 100000 --baseline 0
	$(BIN)/python bench/bench_send.py --subscribers 100000 --baseline 0 --store postgresql
	$(BIN)/python bench/bench_send.py --subscribers 100000 --baseline 0 --store postgresql --senders 2
	$(BIN)/python bench/bench_send.py --subscribers 10000 --baseline 0 --store postgresql
	$(BIN)/python bench/bench_send.py --subscribers 10000 --baseline 0 --store postgresql --senders 2

bench-rank: install
	$(BIN)/python bench/bench_rank.py --readers 100000

eval: install
	$(BIN)/python bench/eval_relevance.py

format: install
	$(BIN)/ruff check --fix digest tests bench
	$(BIN)/ruff format digest tests bench

# Re-pin every dependency after editing pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	# soupsieve 3+ needs Python 3.11.5; Debian 12 ships 3.11.2
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]' 'soupsieve<3'
	# --all keeps setuptools: tests/test_wheel.py builds the wheel offline with it
	.lock-venv/bin/python -m pip freeze --all --exclude pip --exclude-editable > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) outbox digest-store.json digest-store.json.* digest-store.ledger digest-store.http-cache .pytest_cache .mypy_cache .ruff_cache
