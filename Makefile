# gymkube: `make run` serves the demo experiments; `make test` runs the whole suite.
# Both create .venv and install what they need first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
EXPERIMENTS ?= examples/cartpole.yaml examples/forage_ai.yaml examples/forage_human_human.yaml \
	examples/pong_client.yaml examples/pong_p2p.yaml examples/scripted_consent.yaml examples/treasure_grid.yaml \
	examples/overcooked_ai.yaml examples/overcooked_pairs.yaml

.PHONY: vendor bench bench-routing bench-operator bench-p2p bench-browser bench-export bench-soak bench-metrics bench-dashboard fuzz tools chart-lint image e2e-kind run test install system-deps lint typecheck pytest jstest crd protocol-js check-generated docs docs-check clean

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Pyodide, onnxruntime-web and micropip for client/p2p play (pinned, checked; not in git).
vendor: $(STAMP)
	@$(BIN)/python scripts/vendor.py

system-deps:
	@bash scripts/system-deps.sh

run: $(STAMP) vendor
	$(BIN)/gymkube up $(EXPERIMENTS) --port $(PORT)

test: $(STAMP) system-deps vendor lint typecheck check-generated docs-check jstest pytest

LINTED := $(wildcard gymkube tests examples benchmarks)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy

check-generated: $(STAMP)
	@$(BIN)/gymkube crd | diff -q - charts/gymkube/crds/experiments.gymkube.io.yaml >/dev/null || \
		{ echo "the CRD is stale: run 'make crd'"; exit 1; }
	@$(BIN)/gymkube protocol-js | diff -q - gymkube/static/js/protocol.js >/dev/null || \
		{ echo "gymkube/static/js/protocol.js is stale: run 'make protocol-js'"; exit 1; }

# The documentation site (docs/, mkdocs.yml): `make docs` serves it at http://127.0.0.1:$(DOCS_PORT);
# `make docs-check` builds it and fails on any warning (a broken link, a page left out of the nav).
DOCS_PORT ?= 8001

docs: $(STAMP)
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

docs-check: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir .site

jstest:
	node --test tests/js/

pytest: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The fuzz suites (socket.io against a live pod, the REST API from its OpenAPI schema) with a fresh
# seed and many more examples than CI's seeded run: FUZZ_EXAMPLES=20000 make fuzz for a night.
FUZZ_EXAMPLES ?= 3000
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -x --timeout 0 \
		tests/faults/test_fuzz_socket.py tests/platform/test_api_fuzz.py

# Capacity and latency against interactive-gym and MUG (peers installed under benchmarks/.peers),
# flush and export, Overcooked sessions per core and bytes per frame; writes benchmarks/results/<date>.json
# and .png. BENCH_SHORT=1 for a smoke run.
bench: $(STAMP)
	$(BIN)/python benchmarks/peers/setup.py
	$(BIN)/python benchmarks/bench.py --profile 200

bench-routing: $(STAMP)
	$(BIN)/python benchmarks/routing.py

bench-operator: $(STAMP)
	$(BIN)/python benchmarks/operator_reconcile.py

bench-p2p: $(STAMP) vendor
	$(BIN)/python benchmarks/p2p_latency.py

bench-browser: $(STAMP)
	$(BIN)/python benchmarks/browser_capacity.py

# Streaming 1, 5 and 20 million step rows through the API as Parquet and CSV: time and peak memory
# (about 6 minutes; BENCH_SHORT=1 for a smoke run). Writes benchmarks/results/export-<date>.json.
bench-export: $(STAMP)
	$(BIN)/python benchmarks/export.py

# 10,000 participants one after another through one game pod: admissions, rows, RSS over time.
# SOAK_PARTICIPANTS=200 for a short run.
bench-soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py $(if $(SOAK_PARTICIPANTS),--participants $(SOAK_PARTICIPANTS))

# What the game pod's metrics cost on its hot path (a microbenchmark, seconds).
bench-metrics: $(STAMP)
	$(BIN)/python benchmarks/metrics_overhead.py

# The researcher dashboard with 10,000 participants: index, table pages, search, first page in chromium.
# DASHBOARD_PARTICIPANTS=N for another size.
bench-dashboard: $(STAMP)
	$(BIN)/python benchmarks/dashboard.py

tools: $(STAMP)
	$(BIN)/python tests/chart/helm.py helm >/dev/null

chart-lint: tools
	.tools/helm lint --strict charts/gymkube
	.tools/helm lint --strict charts/gymkube -f charts/gymkube/ci/full-values.yaml

image:
	docker build -t gymkube:dev .

e2e-kind: $(STAMP)
	bash scripts/e2e-kind.sh

crd: $(STAMP)
	$(BIN)/gymkube crd > charts/gymkube/crds/experiments.gymkube.io.yaml

protocol-js: $(STAMP)
	$(BIN)/gymkube protocol-js > gymkube/static/js/protocol.js

clean:
	rm -rf $(VENV) .gymkube .pytest_cache .mypy_cache .ruff_cache .site
