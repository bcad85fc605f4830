#!/usr/bin/env bash
# Runs every measurement recorded in docs/performance.md, as root, and writes
# each tool's raw output to a results directory (default ./results/perf-DATE).
# The machine should be otherwise idle: absolute numbers move with load, so
# compare the rows of one run with each other, not across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/perf-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
count=${COUNT:-3}

run() {
	local name=$1
	shift
	echo "== $name: $*" | tee "$out/$name.txt"
	uptime | tee -a "$out/$name.txt"
	"$@" 2>&1 | tee -a "$out/$name.txt"
	uptime | tee -a "$out/$name.txt"
}

run rings go test -run '^$' -bench 'MemQueue|RingOps' -benchmem -count "$count" ./xsk
run program go test -run '^$' -bench 'ProgramRun' -benchmem -count "$count" ./xsk
run pipeline go test -run '^$' -bench 'Pipeline' -benchmem -count "$count" ./engine
run filter go test -run '^$' -bench 'Filter' -benchmem -count "$count" ./blocks/...
run receive go test -run '^$' -bench 'VethReceive' -count "$count" -timeout 30m ./internal/rxbench
run generators go test -run '^$' -bench 'LiveGen|AFXDPGen|AFPacketGen' -benchtime 10x -count "$count" ./internal/livegen
run lab go run ./cmd/lanabench lab --runs "$count" --json "$out/lab.json" --chart "$out/lab.png"
echo "results in $out"
