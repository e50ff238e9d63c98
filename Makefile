# notion_rbac — the two commands a newcomer needs are `make demo` and
# `make test`; both install what they need first (scripts/setup.sh).

.PHONY: demo demo-stop test test-core test-pg test-regress test-conformance fuzz bench setup package clean

demo:            ## build, start a throwaway cluster with the seed scenario, print how to connect
	scripts/demo.sh start

demo-stop:       ## stop the demo cluster and remove its data
	scripts/demo.sh stop

test:            ## every test layer; ends with "N passed, M failed"
	scripts/test.sh

test-core:       ## only the pure-Rust core (no PostgreSQL)
	scripts/test.sh core

test-pg:         ## only the #[pg_test] layer
	scripts/test.sh pg_test

test-regress:    ## only the SQL regression files (preloaded and not preloaded)
	scripts/test.sh regress nopreload

test-conformance: ## only the conformance suites through rbac.validate()
	scripts/test.sh conformance

fuzz:            ## the fuzz layer ten times longer (200,000 hostile inputs; FUZZ_ROUNDS=n to choose)
	FUZZ_ROUNDS=$${FUZZ_ROUNDS:-400} scripts/test.sh fuzz

bench:           ## benchmark checks and lookups against a plain-SQL baseline
	scripts/bench.sh

setup:           ## install build prerequisites (idempotent)
	scripts/setup.sh

package:         ## release package under target/release/notion_rbac-pg15
	scripts/setup.sh && scripts/package.sh

clean:
	cargo clean
