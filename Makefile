# fleetstate: `make run` serves the API on http://127.0.0.1:8080; `make test` runs the tests.
# Both install what they need into .venv and start Kafka and PostgreSQL (devstack/stack.sh).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STACK := devstack/stack.sh

# FLEETSTATE_BROKERS=3 (`make cluster`): the stack is a three-node KRaft cluster, and the
# services are told its brokers and the replication it promises (3 replicas, 2 in sync).
ifneq ($(filter-out 1,$(FLEETSTATE_BROKERS)),)
export FLEETSTATE_KAFKA_BOOTSTRAP ?= $(shell FLEETSTATE_BROKERS=$(FLEETSTATE_BROKERS) $(STACK) bootstrap)
export FLEETSTATE_REPLICATION_FACTOR ?= 3
export FLEETSTATE_MIN_INSYNC_REPLICAS ?= 2
endif

.PHONY: install run cluster test test-repeat stack stop status clean-data lint bench bench-domain bench-processor bench-api bench-delivery bench-replay chaos chaos-cluster

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "fleetstate needs Python 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(BIN)/.installed

$(BIN)/.bench-installed: $(BIN)/.installed
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,bench]'
	@touch $@

stack: install
	$(STACK) start

# The network simulator runs too (answers messages for devices): a dev stack has no network.
# The dev stack's token key (webhooks are signed with tokens sealed by it): made once, kept.
DEV_TOKEN_KEYS := .devstack/token.keys

run: stack
	$(BIN)/fleetstate migrate
	@test -s $(DEV_TOKEN_KEYS) || (umask 077 && $(BIN)/python -c 'from services.delivery.sealing import generate_key; print(generate_key())' > $(DEV_TOKEN_KEYS))
	@echo "make run: FLEETSTATE_NETWORK_SIM=on (the simulated mobile network runs with the services)"
	@echo "make run: FLEETSTATE_WEBHOOK_ALLOW=127.0.0.1 (webhooks may call this machine)"
	FLEETSTATE_NETWORK_SIM=on FLEETSTATE_WEBHOOK_ALLOW=127.0.0.1 \
	FLEETSTATE_TOKEN_KEYS_FILE=$(DEV_TOKEN_KEYS) $(BIN)/fleetstate run

# `make run` on a three-node Kafka cluster, every service twice (README, "Running on a cluster").
cluster:
	$(MAKE) run FLEETSTATE_BROKERS=3 FLEETSTATE_INSTANCES=2

# Two xdist workers: most tests wait on the broker, the database or a child process, so two
# share the 2 cores well; the CPU-heavy ones are grouped ("heavy") to run one after another.
# Tests marked `serial` judge timing-sensitive group behaviour (rebalances, the chaos run's
# faults) and run afterwards with the machine to themselves. PYTEST_ARGS=... runs just that.
# pytest exits 5 when it collected nothing: a run that tested nothing is a failure.
PYTEST_RUN = status=$$?; if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; [ $$status -eq 0 ] || exit $$status
test: stack
ifdef PYTEST_ARGS
	@$(BIN)/pytest $(PYTEST_ARGS); $(PYTEST_RUN)
else
	@$(BIN)/pytest -n 2 --dist loadgroup -m "not serial" --durations=25; $(PYTEST_RUN)
	@$(BIN)/pytest -m serial; $(PYTEST_RUN)
endif

# `make test-repeat 10` (or N=10; default 5): `make test` N times in a row, to catch a flaky
# test; stops at the first failing run and says which. PYTEST_ARGS is passed on to each run.
ifeq (test-repeat,$(firstword $(MAKECMDGOALS)))
ifneq ($(word 2,$(MAKECMDGOALS)),)
N := $(word 2,$(MAKECMDGOALS))
$(eval $(N):;@:)  # the count is an argument, not a target to build
endif
endif
N ?= 5
test-repeat:
	@case "$(N)" in ''|*[!0-9]*|0) echo "test-repeat: N must be a whole number above 0, not '$(N)'" >&2; exit 2;; esac; \
	for run in $$(seq 1 $(N)); do \
		echo "== test-repeat: run $$run of $(N)"; \
		$(MAKE) --no-print-directory test || { echo "test-repeat: run $$run of $(N) failed" >&2; exit 1; }; \
	done; \
	echo "test-repeat: all $(N) runs passed"

# The long fault-injection run on a stack of its own (tests/chaos); a short one is in `make test`.
chaos: install
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

# The same on a three-node Kafka cluster of its own, every service running twice: partition
# leaders and the active controller killed, a broker paused (README, "Running on a cluster").
chaos-cluster: install
	$(BIN)/python -m tests.chaos --cluster $(CHAOS_ARGS)

stop:
	$(STACK) stop

status:
	$(STACK) status

clean-data:
	$(STACK) clean-data

# Benchmarks print each figure beside the ceiling measured in the same run (see bench/*.py).
bench-domain: install
	$(BIN)/python bench/bench_domain.py

bench-processor: stack $(BIN)/.bench-installed
	$(BIN)/python bench/bench_processor.py

.PHONY: bench-usage
bench-usage: stack
	$(BIN)/python bench/bench_usage.py

bench-api: stack
	$(BIN)/python bench/bench_api.py

bench-delivery: stack
	$(BIN)/python bench/bench_delivery.py

# Replay of a 1,000,000-event log beside the COPY ceiling (see bench/bench_replay.py).
bench-replay: stack
	$(BIN)/python bench/bench_replay.py

# Start-to-ready, rebalance-to-ready and RSS of both processors on logs of 10k, 1M and 10M
# records, and the usage state of a million Sims (see bench/bench_recovery.py).
.PHONY: bench-recovery
bench-recovery: stack
	$(BIN)/python bench/bench_recovery.py $(BENCH_ARGS)

bench: bench-domain bench-processor bench-usage bench-api bench-delivery bench-replay bench-recovery

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
