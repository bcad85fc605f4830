#!/usr/bin/env bash
# Splits the receive CPU's time in one lab run of ROW between the veth's NAPI
# thread, the receiver's threads and idle, in ns of CPU per frame, without
# sampling: it reads each thread's CPU time (/proc/PID/task/TID/schedstat)
# and CPU's idle time (/proc/stat) 3.5 s and 6.5 s after the lab starts,
# inside its 8-s window, from CPU 0 (or 1 when CPU is 0). perf record would
# slow the run it measures (docs/performance.md, "The receivers cost the
# same"). Threads are listed whichever CPU they ran on: the largest is
# usually lanabench's generator thread, on the other CPU. As root. Extra
# arguments go to `lanabench lab`.
#
#   scripts/labsplit.sh lanad-3
#   scripts/labsplit.sh engine-3 1 --lanad inprocess
set -euo pipefail
cd "$(dirname "$0")/.."
row=${1:?usage: labsplit.sh ROW [CPU [lab flags...]]}
cpu=${2:-1}
shift $(($# < 2 ? $# : 2))
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/" ./cmd/lanabench ./cmd/lanad

# snap prints "name tid ns" for the NAPI, lanabench and lanad threads, and
# "idle - ns" for CPU's idle time. Shell builtins only, so that it costs
# the run next to nothing.
snap() {
	local d name t ns rest
	for d in /proc/[0-9]*; do
		read -r name <"$d/comm" 2>/dev/null || continue
		case $name in napi/* | lanad | lanabench) ;; *) continue ;; esac
		for t in "$d"/task/[0-9]*; do
			read -r ns rest <"$t/schedstat" 2>/dev/null || continue
			echo "$name ${t##*/} $ns"
		done
	done
	while read -r name rest; do
		if [[ $name == "cpu$cpu" ]]; then
			set -- $rest
			echo "idle - $(($4 * 10000000))" # USER_HZ 100: jiffies to ns
		fi
	done </proc/stat
}

(
	sleep 3.5
	snap >"$bin/a"
	sleep 3
	snap >"$bin/b"
) &
taskset -pc "$((cpu == 0 ? 1 : 0))" $! >/dev/null
line=$("$bin/lanabench" lab --rows "$row" --runs 1 --window 8s --rx-cpu "$cpu" --gen-cpu "$((cpu == 0 ? 1 : 0))" --chart "" "$@" 2>&1 |
	grep -E "^ +$row +[0-9]")
wait
rate=$(awk '{print $2}' <<<"$line")
echo "$line"
# Per thread: CPU ns in the 3 s over the frames of those 3 s.
awk -v rate="$rate" '
	NR == FNR { a[$1 " " $2] = $3; next }
	($1 " " $2) in a {
		d = $3 - a[$1 " " $2]
		if ($1 ~ /^napi\//) napi += d
		else if ($1 == "idle") idle = d
		else if (d > 0) th[$1 "/" $2] = d
	}
	END {
		frames = rate * 1e6 * 3
		printf "per frame: NAPI %.0f ns, idle %.1f%% of the cpu\n", napi / frames, idle / 3e9 * 100
		for (k in th) printf "  %.1f ns  %s\n", th[k] / frames, k | "sort -rn | head -6"
	}' "$bin/a" "$bin/b"
