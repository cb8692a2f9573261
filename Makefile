# sync-async-bench. Every target calls one project command; `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV ?= .venv
PYTHON ?= python3.11
BIN := $(VENV)/bin
BENCH := $(BIN)/bench

# Knobs passed through to the commands (see README and docs/).
SCENARIO ?= three-users
TARGET ?= all
ENDPOINT ?=
INSTANCES ?=
K6_CPUS ?=
PROGRAM ?=
LINES ?=
PROFILE ?= quick
ROWS ?=
WORKLOADS ?=
RUN ?=
CONTROL ?=
A ?=
B ?=
BASELINE ?= fastapi-async
DB_ROW ?= fastapi-async
PEERS ?=

.PHONY: help install lock lint format typecheck test run-native up down status logs loadtest bench report compare bench-reproducibility bench-overhead bench-versus bench-db-drivers bench-loadgen-ceiling clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

install: ## Create .venv from the hash-locked requirements/*.txt, the project and k6
	scripts/install.sh $(VENV) $(PYTHON)

lock: ## Re-resolve requirements/{bootstrap,runtime,dev}.txt (hashes) from pyproject.toml's pins
	scripts/lock.sh $(VENV)

lint: ## ruff lint + format check, mypy strict, hadolint, compose config
	scripts/lint.sh $(VENV)

format: ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

typecheck: ## mypy --strict on services/ and bench/
	$(BIN)/mypy

test: ## Run the test suite (real servers, Prometheus and k6 on 127.0.0.1)
	$(BIN)/pytest

run-native: ## Run every row, the latency service and Prometheus in the foreground (Ctrl-C stops all)
	$(BENCH) run-native

up: ## Start the stack: docker compose if an engine is reachable, else native processes
	$(BENCH) up

down: ## Stop exactly what `make up` started
	$(BENCH) down

status: ## Show what is running and where
	$(BENCH) status

logs: ## Show the stack's recent logs: make logs [PROGRAM=flask-sync] [LINES=100]
	$(BENCH) logs $(PROGRAM) $(if $(LINES),--lines "$(LINES)")

loadtest: ## k6 load test: SCENARIO=three-users|ramp|arrival|spike|soak|restart|throughput TARGET=row|all ENDPOINT=/path [INSTANCES=N] [K6_CPUS=2-3|auto]
	$(BENCH) loadtest --scenario "$(SCENARIO)" --target "$(TARGET)" $(if $(ENDPOINT),--endpoint "$(ENDPOINT)") $(if $(INSTANCES),--instances "$(INSTANCES)") $(if $(K6_CPUS),--k6-cpus "$(K6_CPUS)")

bench: ## The benchmark matrix, unattended: PROFILE=quick|full [ROWS=".."] [WORKLOADS=".."] [CONTROL=row] [INSTANCES=N k6 per step]; writes results/<run-id>/report.md
	$(BENCH) matrix --profile "$(PROFILE)" $(if $(ROWS),--rows $(ROWS)) $(if $(WORKLOADS),--workloads $(WORKLOADS)) $(if $(CONTROL),--control "$(CONTROL)") $(if $(INSTANCES),--k6-instances "$(INSTANCES)")

report: ## Re-render a matrix run's report from its recorded data: make report [RUN=<run-id>] (default: the latest)
	$(BENCH) report $(if $(RUN),"$(RUN)")

compare: ## Two matrix runs side by side, differences beyond both intervals flagged: make compare A=<run> B=<run>
	$(BENCH) compare "$(A)" "$(B)"

bench-reproducibility: ## The matrix twice (two seeds): how far each capacity and ranking moved [PROFILE=quick|full]
	$(BENCH) reproducibility --profile "$(PROFILE)" $(if $(ROWS),--rows $(ROWS)) $(if $(WORKLOADS),--workloads $(WORKLOADS)) $(if $(CONTROL),--control "$(CONTROL)")

bench-overhead: ## What the instrumentation costs, per row (on vs off) [ROWS=".."] [PEERS=1: against other metrics libraries]
	$(BENCH) overhead $(if $(ROWS),--rows $(ROWS)) $(if $(PEERS),--peers)

bench-versus: ## Rows against a baseline row, requests per CPU-second, A/A control [ROWS= BASELINE= (ROW or ROW:BENCH_X=V) ENDPOINT= INSTRUMENTATION=off]
	$(BENCH) versus --baseline "$(BASELINE)" $(if $(ENDPOINT),--endpoint "$(ENDPOINT)") $(if $(ROWS),--rows $(ROWS)) $(if $(INSTRUMENTATION),--instrumentation $(INSTRUMENTATION))

bench-db-drivers: ## asyncpg against psycopg's async pool on one FastAPI row, paired, A/A control, own PostgreSQL [DB_ROW=fastapi-async ENDPOINT=/db/query]
	$(BENCH) versus --baseline "$(DB_ROW):BENCH_DB_DRIVER=psycopg" --rows "$(DB_ROW):BENCH_DB_DRIVER=asyncpg" --endpoint "$(or $(ENDPOINT),/db/query)"

bench-loadgen-ceiling: ## What one and two k6 instances (and wrk) drive on /hello against the fastest row [ROW=fastapi-granian]
	$(BENCH) loadgen-ceiling $(if $(ROW),--row "$(ROW)")

clean: ## Remove run state and caches (keeps results/)
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache
