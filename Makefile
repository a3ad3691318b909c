# Two entry points on a fresh machine: `make demo` and `make test`. Each installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-quick install lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, pinned to the CPU wheel: anything looser lets pip pull a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[full,test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/advisor demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The quick loop while editing: every test but those marked slow (over ~3 s each); CI runs `make test`.
test-quick: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .

# Every timed benchmark, one after another under one CPU lock (51 min here); results land in
# benchmarks/results/. seed_kb.py regenerates the shipped knowledge base, so it runs first.
BENCHES := seed_kb rank_accuracy demo_run bench_table search_regret profile_stability predict_accuracy
bench: $(STAMP)
	flock /tmp/advisor-cpu.lock sh -c 'for b in $(BENCHES); do $(BIN)/python benchmarks/$$b.py || exit 1; done'

clean:
	rm -rf runs .pytest_cache
