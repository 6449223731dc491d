# rfs-monitoring: `make help` lists the targets. Every target sets itself up on a fresh machine.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
EXTRAS := dev,interop
STAMP := $(VENV)/.rfs-installed
DOCS_STAMP := $(VENV)/.rfs-docs-installed
PY_DIRS := $(wildcard python tests benches examples docs)
SOURCES := $(shell find rust -name '*.rs' -o -name Cargo.toml) Cargo.toml Cargo.lock pyproject.toml constraints.txt

export PYTHONDONTWRITEBYTECODE := 1
# Pin every Python tool and dependency to the tested versions (see constraints.txt).
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(PY):
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q 'maturin>=1.8,<2'

$(STAMP): $(PY) $(SOURCES)
	$(BIN)/maturin develop --release --locked -E $(EXTRAS) -q
	@# rfs-framework for the interop tests, without its cloud SDKs (see pyproject's interop extra)
	$(BIN)/pip install -q --no-deps rfs-framework
	@touch $@

.PHONY: install
install: $(STAMP) ## Create .venv, install every dependency and build the Rust extension (release)

.PHONY: test
test: install ## Run every test: cargo tests, pytest (doctests, examples, benches once) with the coverage gate
	cargo test --locked -p rfs-monitoring-core -p rfs-monitoring-bindings
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest -p no:cacheprovider --benchmark-disable
	$(BIN)/coverage run --append -m pytest -p no:cacheprovider --doctest-modules python/rfs_monitoring \
		--ignore=python/rfs_monitoring/testing/fixtures.py -o testpaths= -q
	$(BIN)/coverage report --fail-under=95

# The docs extra only, from pyproject (pinned by constraints.txt): `make install` stays lean.
$(DOCS_STAMP): $(STAMP)
	$(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["docs"], sep="\n")' \
		> $(VENV)/docs-requirements.txt
	$(BIN)/pip install -q -r $(VENV)/docs-requirements.txt
	@touch $@

.PHONY: docs
docs: $(DOCS_STAMP) ## Build the documentation site into site/ (MkDocs, strict: a broken link or reference fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# The release: abi3 wheels that install on any glibc >= 2.17 (manylinux2014), for x86_64 and
# aarch64, cross-linked with zig from PyPI's ziglang (no container), plus an sdist. The aarch64
# wheel needs Rust's standard library for that target, which rustup adds.
DIST_TOOLS := ziglang auditwheel
ZIG_BUILD = PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/maturin build --release --locked --zig \
	--compatibility manylinux2014 -o dist -q --target
# One interpreter per supported CPython: pyenv's newest patch release, else the one on PATH.
python_for = $(or $(lastword $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python$(1))),$(shell command -v python$(1)))
SUPPORTED_PYTHONS := 3.11 3.12 3.13

.PHONY: dist
dist: install ## Build the release into dist/: abi3 manylinux2014 wheels (x86_64, aarch64) and an sdist
	$(BIN)/pip install -q $(DIST_TOOLS)
	rm -rf dist && mkdir -p dist
	$(ZIG_BUILD) x86_64-unknown-linux-gnu
	rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
		|| rustup target add aarch64-unknown-linux-gnu
	$(ZIG_BUILD) aarch64-unknown-linux-gnu
	$(BIN)/maturin sdist -o dist
	@test -n "$$(ls dist/*x86_64.whl)" && test -n "$$(ls dist/*aarch64.whl)"
	@for wheel in dist/*.whl; do \
		$(BIN)/auditwheel show "$$wheel" | tr -s ' \n' ' ' | grep -q 'consistent with the following platform tag: "manylinux_2_17_' \
			|| { echo "dist: $$wheel is not manylinux2014"; $(BIN)/auditwheel show "$$wheel"; exit 1; }; \
		echo "dist: $$wheel is manylinux2014 (auditwheel)"; \
	done
	ls -l dist

# A clean virtualenv of CPython $(1) (interpreter $(2)) with the x86_64 wheel, smoke-tested.
define check_wheel
@test -n "$(2)" || { echo "wheel-check: no CPython $(1) found"; exit 1; }
@echo "wheel-check: CPython $(1) ($(2))"
rm -rf dist/check-$(1) && "$(2)" -m venv dist/check-$(1)
dist/check-$(1)/bin/pip install -q dist/*x86_64*.whl
cd dist && check-$(1)/bin/python -c "$$WHEEL_SMOKE"
dist/check-$(1)/bin/rfs-monitoring --help >/dev/null

endef

.PHONY: wheel-check
wheel-check: dist ## Install the release wheel into clean virtualenvs of CPython 3.11-3.13, and a wheel built from the sdist
	$(foreach v,$(SUPPORTED_PYTHONS),$(call check_wheel,$(v),$(call python_for,$(v))))
	rm -rf dist/from-sdist dist/check-sdist
	$(BIN)/pip wheel -q --no-deps dist/*.tar.gz -w dist/from-sdist
	python3 -m venv dist/check-sdist
	dist/check-sdist/bin/pip install -q dist/from-sdist/*.whl
	cd dist && check-sdist/bin/python -c "$$WHEEL_SMOKE"

# What a user's first import must give, and what it must not drag in.
define WHEEL_SMOKE
import sys, importlib.resources as res
import rfs_monitoring
assert rfs_monitoring.__file__ and "site-packages" in rfs_monitoring.__file__, rfs_monitoring.__file__
heavy = [m for m in ("fastapi", "opentelemetry", "hypothesis", "psutil", "prometheus_client") if m in sys.modules]
assert not heavy, f"import rfs_monitoring pulled in {heavy}"
from rfs_monitoring.dashboard_api import monitoring_router
page = res.files("rfs_monitoring").joinpath("static/dashboard.html").read_text()
assert "<html" in page.lower()
from rfs_monitoring import Failure, ResultMetricsCollector, Success, monitor_result
collector = ResultMetricsCollector(sample_resources=False)
ResultMetricsCollector.set_instance(collector)
lookup = monitor_result("smoke")(lambda ok: Success(1) if ok else Failure("no"))
lookup(True), lookup(False)
metrics = collector.operation_metrics("smoke").unwrap()
assert (metrics.total_requests, metrics.failed_requests) == (2, 1), metrics
print("wheel ok:", rfs_monitoring.__version__, sys.version.split()[0])
endef
export WHEEL_SMOKE

.PHONY: lint
lint: install ## ruff (format and check), mypy --strict, stubtest, cargo fmt --check, cargo clippy -D warnings
	$(BIN)/ruff format --check $(PY_DIRS)
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/mypy --strict
	$(BIN)/python -m mypy.stubtest rfs_monitoring._core
	cargo fmt --all --check
	cargo clippy --locked --workspace --all-targets -- -D warnings

.PHONY: constraints
constraints: $(DOCS_STAMP) ## Rewrite constraints.txt from the versions installed in .venv (docs and release tooling included)
	$(BIN)/pip install -q $(DIST_TOOLS)
	{ sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v '^#'; } > constraints.tmp
	mv constraints.tmp constraints.txt

.PHONY: format
format: install ## Rewrite the code in the house style (ruff format and fixes, cargo fmt)
	$(BIN)/ruff format $(PY_DIRS)
	$(BIN)/ruff check --fix $(PY_DIRS)
	cargo fmt --all

.PHONY: bench
bench: install ## Run the benchmarks for real (pytest-benchmark against peers, cargo bench)
	$(BIN)/pytest benches --benchmark-enable --benchmark-only --benchmark-columns=min,median,mean,ops -p no:cacheprovider
	cargo bench --locked -p rfs-monitoring-core

.PHONY: bench-check
bench-check: install ## Check the overhead budget (benches/budget.toml): ratios against peers in one run, table at the end
	RFS_BENCH_CHECK=1 $(BIN)/pytest benches/bench_budget.py --benchmark-enable -p no:cacheprovider -q \
		--benchmark-columns=median,rounds

.PHONY: demo
demo: install ## Serve the demo service with live traffic and the dashboard on http://127.0.0.1:8000
	$(PY) examples/monitoring/metrics_dashboard.py

.PHONY: clean
clean: ## Remove the virtualenv and build output
	rm -rf $(VENV) target dist site .coverage .pytest_cache .mypy_cache .ruff_cache
