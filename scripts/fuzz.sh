#!/bin/sh
# fuzz.sh runs every fuzz target of the module, one after the other, each
# for the same duration (default 1m; Go duration syntax: 10s, 5m, 1h) or
# the same number of executions (20000x).
#
# Go 1.26's fuzz coordinator can fail a duration-bounded run at its very end
# with a bare "context deadline exceeded" and no crashing input (a race in
# the coordinator, golang/go#75804, fixed in Go 1.27): CI therefore uses an
# execution count, which has no deadline to race. A duration run that ends
# that way, writing nothing under testdata/fuzz, found nothing.
#
#   scripts/fuzz.sh            # 1 minute each
#   scripts/fuzz.sh 10m        # longer runs
#   scripts/fuzz.sh 10s Eth    # only targets whose name matches Eth
#   scripts/fuzz.sh 20000x     # CI: a bounded number of executions each
#
# Minimizing each new interesting input is capped at FUZZ_MINIMIZE (default
# 5s; go test's own default of 60s per input starves targets whose inputs
# are large, FuzzEthFrames went from 1.6 thousand to 550 thousand execs in
# 30 s).
#
# A target that fails stops the script with its failure and the crashing
# input, which go test writes under the package's testdata/fuzz/<Target>/:
# commit it with the fix, so that the plain test run replays it forever.
set -eu
dur=${1:-1m}
only=${2:-}
cd "$(dirname "$0")/.."
# Every package holding a Fuzz target, and its targets.
for pkg in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
	for target in $(grep -h '^func Fuzz' "$pkg"/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/' | sort -u); do
		case "$target" in *"$only"*) ;; *) continue ;; esac
		echo "== $pkg $target ($dur)"
		go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$dur" -fuzzminimizetime "${FUZZ_MINIMIZE:-5s}"
	done
done
