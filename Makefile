# The README's test command is `make test`; CI (.ci/run) calls exactly that.
GO ?= go

.PHONY: test unit bench build

# test runs everything: vet and staticcheck (a tool pinned in go.mod),
# every test (the privileged integration tests included: without root they
# FAIL here instead of skipping), the race detector, a one-iteration smoke
# run of every benchmark, and every fuzz target for 20,000 executions
# (scripts/fuzz.sh runs them longer).
test:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	LANA_REQUIRE_PRIVILEGED=1 $(GO) test -race -count=1 -timeout 30m ./...
	LANA_REQUIRE_PRIVILEGED=1 $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 20m ./...
	scripts/fuzz.sh 20000x

# unit runs the tests that need no privileges (integration tests skip).
unit:
	$(GO) test -count=1 ./...

build:
	$(GO) build -o bin/ ./cmd/...
