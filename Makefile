# provisioner: `make demo` runs the import end to end on the bundled samples,
# `make test` runs every test. Both start (or install) PostgreSQL when needed.

GO      ?= go
BIN     := bin
PKGS    := ./...
# Per package: the largest (cli, dispatcher) take about 2 minutes on an idle machine and
# 8 under a CPU hog on every core (scripts/stress-test.sh); go test's default of 10 is
# too close.
TEST_TIMEOUT ?= 30m
# Tests create their databases on this server (see internal/pgtest).
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable

.PHONY: all build test bench bench-console chaos demo fuzz vet clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

vet:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

test: vet
	scripts/ensure-postgres.sh
	scripts/ensure-pgbouncer.sh
	scripts/ensure-chromium.sh
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

# Benchmarks print figures beside a baseline measured in the same run.
bench: build
	scripts/ensure-postgres.sh
	scripts/bench.sh
	scripts/bench-dispatch.sh
	scripts/bench-reconcile.sh
	scripts/bench-api.sh
	scripts/bench-history.sh
	scripts/bench-console.sh

# The operator console's pages at 10,000,000 requests (docs/benchmarks.md).
bench-console: build
	scripts/ensure-postgres.sh
	scripts/bench-console.sh

# The chaos suite's full scenarios and their table (docs/chaos.md); their reduced
# forms run in `make test`. The hosts scenario needs root for network namespaces.
chaos:
	scripts/ensure-postgres.sh
	scripts/ensure-pgbouncer.sh
	scripts/chaos.sh

demo: build
	scripts/ensure-postgres.sh
	scripts/demo.sh

# A longer fuzzing session of the CSV layer than the seed corpus that `make test` runs.
fuzz:
	$(GO) test ./csvin -run '^$$' -fuzz FuzzReader -fuzztime 60s

clean:
	rm -rf $(BIN) .demo
