# Everything a fresh machine needs comes from here: only python3 and make are assumed.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := $(CURDIR)/.tools
UV := $(TOOLS)/bin/uv
VENV := $(CURDIR)/.venv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export SEGMENTATION_CONFIG ?= $(CURDIR)/config/demo.yaml
# CONFIG=path/to/config.yaml (relative to here) runs another configuration: `make run
# CONFIG=config/bank.yaml`
ifdef CONFIG
export SEGMENTATION_CONFIG := $(abspath $(CONFIG))
endif
DEMO_CUSTOMERS ?= 3000
BANK_CUSTOMERS ?= 3000
# the generated data a run needs: the bank's for config/bank.yaml, the demo's otherwise
RUN_DATA := $(if $(filter $(CURDIR)/config/bank.yaml,$(SEGMENTATION_CONFIG)),bank-data,demo-data)
RUN := $(UV) run --frozen --no-sync

.PHONY: run test test-long test-bench dev demo-data bank-data bank-demo spark-demo lint format bench clean install ui-deps java-deps docs

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen
	touch $@

install: $(VENV)/.synced

$(DAGSTER_HOME)/dagster.yaml: config/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp config/dagster.yaml $@

data/demo/true_params.json: $(VENV)/.synced $(filter-out synthetic/bank%,$(wildcard synthetic/*.py))
	rm -rf data/demo
	$(RUN) python -m synthetic.generate --customers $(DEMO_CUSTOMERS) --out data/demo \
		--start 2010-01-01 --end 2011-12-31 --seed 42

demo-data: data/demo/true_params.json

data/bank/true_params.json: $(VENV)/.synced $(wildcard synthetic/bank*.py) synthetic/dirty.py \
		synthetic/population.py
	rm -rf data/bank
	$(RUN) python -m synthetic.bank --customers $(BANK_CUSTOMERS) --out data/bank --seed 42

## bank-data: the generated bank (customers, attribute history, products, transactions and
## their truth) in data/bank; see docs/bank-demo.md
bank-data: data/bank/true_params.json

## bank-demo: the generated bank through the whole pipeline with config/bank.yaml (tiers on the
## AUM of each snapshot date, next best product within the risk preference, the bank playbook);
## the same run as `make run CONFIG=config/bank.yaml`
bank-demo:
	$(MAKE) run CONFIG=config/bank.yaml

## spark-demo: the demo through the whole pipeline on the Spark engine (local mode) with
## config/demo_spark.yaml: the tables in warehouse/spark/lake, the serving copy published from it;
## installs Java 17 first when missing (see docs/spark.md)
spark-demo: java-deps
	$(MAKE) run CONFIG=config/demo_spark.yaml

## run: land the demo data (with CONFIG=config/bank.yaml: the bank's) and materialize every
## asset for every monthly partition, one backfill
## (the same run as `dagster asset materialize -m pipelines.definitions --select '*'
## --partition-range FIRST...LAST`), one progress line per step; VERBOSE=1 also prints Dagster's
## full event log and warnings
VERBOSE ?=
run: install $(RUN_DATA) $(DAGSTER_HOME)/dagster.yaml
	$(RUN) python -m pipelines.run --select '*' \
		--partition-range "$$($(RUN) python -m pipelines.partitions --range)" \
		$(if $(VERBOSE),--verbose)
	$(RUN) python -m pipelines.summary

## test: install everything the suite needs (the locked environment, Debian's chromium for the
## browser test, Java for the Spark engine's tests) and run it on TEST_WORKERS processes (2; a
## test module stays on one, so its shared fixtures are built once; TEST_WORKERS=0: in process);
## it ends with the 30 slowest tests' setup and call times, where the suite's minutes go. The
## tests marked `long` (a whole run of many months or of data at scale, a minute or more each:
## the golden runs, the recovery runs, the wheel's demo, the whole job on Spark) are left to
## `make test-long`, which CI runs after it
TEST_WORKERS ?= 2
test: install ui-deps java-deps
	$(RUN) pytest -n $(TEST_WORKERS) --dist loadfile -m "not bench and not long" --durations=30

## test-long: the tests marked `long`, on TEST_WORKERS processes; CI runs them after `make test`
test-long: install java-deps
	$(RUN) pytest -n $(TEST_WORKERS) --dist loadfile -m "long and not bench" --durations=10

## test-bench: the tests that run a benchmark script end to end (`make bench ENGINE=spark` on
## generated data, both engines in fresh processes); CI runs them after `make test`
test-bench: install java-deps
	$(RUN) pytest -m bench

## ui-deps: Debian's chromium for the browser test (tests/e2e/test_ui.py); installing it needs
## root (`make test` calls this). Playwright drives this browser; it never downloads one.
ui-deps:
	@if [ -x /usr/bin/chromium ]; then \
		echo "chromium is installed: /usr/bin/chromium"; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "ui-deps: /usr/bin/chromium is missing and installing it needs root:" >&2; \
		echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium" >&2; \
		exit 1; \
	elif ! command -v apt-get >/dev/null; then \
		echo "ui-deps: no apt-get here; install Chromium as /usr/bin/chromium by hand" >&2; \
		exit 1; \
	else \
		DEBIAN_FRONTEND=noninteractive apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	fi

## java-deps: Java 17 (or 21) for the Spark engine's tests (tests/spark/, docs/spark.md), the
## versions Spark 4.0 runs on: the one JAVA_HOME names, else `java` on PATH. Installing Debian's
## openjdk-17-jre-headless (openjdk-21 where a release has no 17) needs root (`make test` calls
## this; slim images lack the man folder its setup links into). The default engine (`make run`)
## never starts Java: `make install` does not install it.
JAVA_OK = "$${JAVA_HOME:+$$JAVA_HOME/bin/}java" -version 2>&1 | grep -Eq 'version "(17|21)[."]'
java-deps:
	@if $(JAVA_OK); then \
		echo "java: $$("$${JAVA_HOME:+$$JAVA_HOME/bin/}java" -version 2>&1 | head -n 1)"; \
	elif [ -n "$$JAVA_HOME" ]; then \
		echo "java-deps: JAVA_HOME=$$JAVA_HOME holds no Java 17 or 21 (Spark 4.0 runs on those):" >&2; \
		echo "  point JAVA_HOME at one, or unset it to use (or install) the java on PATH" >&2; \
		exit 1; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "java-deps: Java 17 or 21 is missing (Spark 4.0 runs on those) and installing it needs root:" >&2; \
		echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends openjdk-17-jre-headless" >&2; \
		exit 1; \
	elif ! command -v apt-get >/dev/null; then \
		echo "java-deps: no apt-get here; install Java 17 or 21 by hand and put it on PATH or in JAVA_HOME" >&2; \
		exit 1; \
	else \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update && \
		package=openjdk-17-jre-headless && \
		{ apt-cache show $$package >/dev/null 2>&1 || package=openjdk-21-jre-headless; } && \
		{ mkdir -p /usr/share/man/man1 || true; } && \
		apt-get install -y --no-install-recommends $$package && \
		if ! $(JAVA_OK); then \
			echo "java-deps: installed $$package, but the java on PATH is still no Java 17 or 21:" >&2; \
			echo "  set JAVA_HOME to the new one (ls /usr/lib/jvm)" >&2; \
			exit 1; \
		fi; \
	fi

## dev: open the Dagster UI on the demo project (`dg dev`: Dagster 1.13 supersedes `dagster dev`;
## the code location is the one workspace.yaml names, see [tool.dg] in pyproject.toml)
dev: install demo-data $(DAGSTER_HOME)/dagster.yaml
	$(RUN) dg dev

## bench: the performance benchmark (benchmarks/run.py) at SIZE transactions: 1M, 10M or 100M
## GROUPS: a subset of floor pipeline cli backfill pandas_rfm sql_rfm polars_rfm pymc writes (default: all)
## ENGINE=spark: every stage of the Spark engine on local[2] beside the DuckDB engine, same data
## and months, and whether they wrote the same tables (benchmarks/spark_bench.py; needs Java)
SIZE ?= 10M
GROUPS ?=
ENGINE ?= duckdb
bench: $(UV)
ifeq ($(ENGINE),duckdb)
	$(UV) sync --frozen --group bench
	$(RUN) python -m benchmarks.run --size $(SIZE) $(if $(GROUPS),--groups $(GROUPS))
else ifeq ($(ENGINE),spark)
	$(MAKE) install java-deps
	$(RUN) python -m benchmarks.spark_bench --size $(SIZE)
else
	@echo "bench: ENGINE=$(ENGINE) is not an engine: duckdb (default) or spark" >&2; exit 1
endif

## lint: ruff, and import-linter's contracts (pipelines > assets > segmentation; no Dagster in
## the library; see [tool.importlinter] in pyproject.toml)
lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports

## docs: the documentation site (docs/, mkdocs.yml) into site/; --strict makes a broken link,
## a missing anchor or a settings key without a description fail the build. The configuration
## reference, the data dictionary and the benchmark tables are generated (docs/hooks/).
## NO_MKDOCS_2_WARNING: mkdocs-material's notice about its successor is not about this build.
docs: install
	NO_MKDOCS_2_WARNING=1 $(RUN) mkdocs build --strict --site-dir site

format: install
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

clean:
	rm -rf warehouse data/demo data/bank $(DAGSTER_HOME)
