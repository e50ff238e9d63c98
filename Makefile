# notion_rbac — the two commands a newcomer needs are `make demo` and
# `make test`; both install what they need first (scripts/setup.sh).

.PHONY: demo demo-stop test test-core test-pg test-regress test-conformance fuzz bench setup package clean

# PG=15 or PG=18 picks the PostgreSQL version: `make test` runs both by
# default, `make demo`, `make bench` and `make package` the newest (18).
PG ?=

demo:            ## build, start a throwaway cluster with the seed scenario, print how to connect (PG=15|18)
	PG="$(PG)" scripts/demo.sh start

demo-stop:       ## stop the demo cluster and remove its data
	scripts/demo.sh stop

test:            ## every test layer on PostgreSQL 15 and 18 (PG=15|18 for one); ends with "N passed, M failed"
	PG="$(PG)" scripts/test.sh

test-core:       ## only the pure-Rust core (no PostgreSQL)
	PG="$(PG)" scripts/test.sh core

test-pg:         ## only the #[pg_test] layer
	PG="$(PG)" scripts/test.sh pg_test

test-regress:    ## only the SQL regression files (preloaded and not preloaded)
	PG="$(PG)" scripts/test.sh regress nopreload

test-conformance: ## only the conformance suites through rbac.validate()
	PG="$(PG)" scripts/test.sh conformance

fuzz:            ## the fuzz layer ten times longer (200,000 hostile inputs; FUZZ_ROUNDS=n to choose)
	PG="$(PG)" FUZZ_ROUNDS=$${FUZZ_ROUNDS:-400} scripts/test.sh fuzz

bench:           ## benchmark checks and lookups against a plain-SQL baseline (PG=15|18, default 18)
	PG="$(PG)" scripts/bench.sh

setup:           ## install build prerequisites (idempotent)
	scripts/setup.sh

package:         ## release package under target/release/notion_rbac-pgNN (PG=15|18, default 18)
	scripts/setup.sh && scripts/package.sh --pg "$${PG:-18}"

clean:
	cargo clean
