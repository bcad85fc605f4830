#!/usr/bin/env bash
# Profiles one lab row: runs `lanabench lab` for ROW alone with an 8 s window
# and, 3.5 s in (past the testbed's setup and the warm-up), records 3 s of
# perf samples on CPU (default 1, the receive CPU; 0 is the generator's).
# The samples end well before the run does (a lanad row's exit, unmapping
# its UMEM, would otherwise land in them), and perf itself runs on the other
# CPU.
# Prints the row's rate, where CPU's time went per process, and writes the
# perf data to OUT (default /tmp/labprofile-ROW-cpuCPU.data) for `perf report`.
# Per-frame costs: samples / 20000 Hz / (rate * 3 s). As root, with perf.
#
#   scripts/labprofile.sh lanad-3
#   scripts/labprofile.sh asavie 0
set -euo pipefail
cd "$(dirname "$0")/.."
row=${1:?usage: labprofile.sh ROW [CPU [OUT]]}
cpu=${2:-1}
out=${3:-/tmp/labprofile-$row-cpu$cpu.data}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/lanabench" ./cmd/lanabench
go build -o "$bin/lanad" ./cmd/lanad
(
	sleep 3.5
	taskset -c "$((cpu == 0 ? 1 : 0))" perf record -F 20000 -C "$cpu" -o "$out" -- sleep 3 >/dev/null 2>&1
) &
"$bin/lanabench" lab --rows "$row" --runs 1 --window 8s --chart "" | grep -E "^ +$row "
wait
perf report -i "$out" --sort comm,dso -n 2>/dev/null | grep -E '^# Samples|^ +[0-9]' | head -12
echo "perf data: $out"
