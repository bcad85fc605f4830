#!/bin/bash
# soak.sh: sustained load, not a CI test. It builds lanad, lanactl and
# lanabench, makes its own namespace pair (lana-soak-a/b joined by veth,
# 198.18.99.0/24), runs lanad on the B end with configs/paper.yaml, and
# sends vlink frames from A with the lab's generator flat out for MINUTES
# (default 10) while the stack is reconfigured every second (replace of the
# top counter, replace-drop of a dummy, set on eth, in turn). Every 10 s it
# samples lanad's RSS, goroutines (Prometheus go_goroutines), the queue's
# UMEM frame accounting (lanactl stats --json) and the engine's and
# kernel's drop counters; at the end it prints a summary and exits non-zero
# when frames leaked, a reconfiguration failed or lanad logged an error.
#
#   sudo scripts/soak.sh            # 10 minutes, xdp-live generator
#   sudo scripts/soak.sh 3 afxdp    # 3 minutes, AF_XDP generator
set -euo pipefail
MIN=${1:-10}
MODE=${2:-xdp-live}
SECS=${SOAK_SECONDS:-$((MIN * 60))} # SOAK_SECONDS=30 for a smoke run
cd "$(dirname "$0")/.."
W=$(mktemp -d /tmp/lana-soak.XXXXXX)
A=lana-soak-a B=lana-soak-b IA=lsoaka IB=lsoakb
LANAD=""
GEN=""
cleanup() {
	[ -n "$GEN" ] && kill "$GEN" 2>/dev/null || true
	[ -n "$LANAD" ] && kill "$LANAD" 2>/dev/null && wait "$LANAD" 2>/dev/null || true
	ip netns del $A 2>/dev/null || true
	ip netns del $B 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

go build -o "$W/" ./cmd/lanad ./cmd/lanactl ./cmd/lanabench
ip netns add $A
ip netns add $B
ip link add $IA netns $A type veth peer name $IB netns $B
for ns in $A $B; do
	ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip -n $ns link set lo up
done
ip -n $A addr add 198.18.99.1/24 dev $IA
ip -n $B addr add 198.18.99.2/24 dev $IB
ip -n $A link set $IA up
ip -n $B link set $IB up
MACB=$(ip -n $B -j link show $IB | jq -r '.[0].address')

sed -e "s/name: eth0/name: $IB/" -e 's/queues: all .*/queues: [0]/' -e 's/cpus: \[0, 1\]/cpus: [1]/' \
	configs/paper.yaml > "$W/lanad.yaml"
SOCK=$W/lanad.sock
ip netns exec $B "$W/lanad" --config "$W/lanad.yaml" --socket "$SOCK" --data-socket none \
	--metrics-listen 127.0.0.1:9464 > "$W/lanad.log" 2>&1 &
LANAD=$!
ctl() { "$W/lanactl" --socket "$SOCK" "$@"; }
for _ in $(seq 100); do ctl list >/dev/null 2>&1 && break; sleep 0.1; done
ctl list >/dev/null

"$W/lanabench" gen --mode "$MODE" --netns $A --iface $IA --cpu 0 --vlink-port 1 --dst-mac "$MACB" \
	--duration "${SECS}s" > "$W/gen.log" 2>&1 &
GEN=$!

sample() { # t rss_kb goroutines rx held free kernel intx total drops_json xdp_rx_dropped
	local st rss gor
	st=$(ctl stats --json)
	rss=$(awk '/VmRSS/ {print $2}' /proc/$LANAD/status)
	gor=$(ip netns exec $B curl -s 127.0.0.1:9464/metrics | awk '$1=="go_goroutines" {print $2}')
	echo "$1 $rss $gor $(echo "$st" | jq -r '.queues[0] | "\(.rx_packets) \(.frames.held) \(.frames.free + (.frames.spare // 0)) \(.frames.kernel) \(.frames.in_tx) \(.frames.total) \(.drops // {} | tostring) \(.xdp.rx_dropped)"')"
}

echo "soak: $SECS s, generator $MODE, lanad pid $LANAD, work dir $W"
echo "t_s rss_kb goroutines rx_packets held free+spare kernel in_tx total drops xdp_rx_dropped" | tee "$W/samples"
ok=0 bad=0 i=0
start=$(date +%s)
end=$((start + SECS))
next=$start
while [ "$(date +%s)" -lt "$end" ]; do
	case $((i % 3)) in
	0) out=$(ctl transaction "add s$i counter" "replace count s$i" 2>&1) ;;
	1) out=$(ctl transaction "add d$i dummy" "replace-drop fwd0 d$i" 2>&1) ;;
	2) out=$(ctl set e0 "promisc=$([ $((i % 2)) = 0 ] && echo true || echo false)" 2>&1) ;;
	esac && ok=$((ok + 1)) || { bad=$((bad + 1)); echo "reconfigure $i failed: $out"; }
	i=$((i + 1))
	now=$(date +%s)
	if [ "$now" -ge "$next" ]; then
		sample $((now - start)) | tee -a "$W/samples"
		next=$((next + 10))
	fi
	sleep 1
done
wait "$GEN" || true
GEN=""
sleep 1
sample $(($(date +%s) - start)) | tee -a "$W/samples"
count=$(ctl show count --json | jq .stats.counted.packets)
errors=$(grep -c 'level=ERROR' "$W/lanad.log" || true)
kill -0 "$LANAD" 2>/dev/null && alive=yes || alive=NO

echo
echo "== summary"
echo "generator: $(tail -n 3 "$W/gen.log" | tr '\n' ' ')"
awk 'NR>1 {
	if (n==0) {r0=$2; g0=$3}
	n++; r1=$2; g1=$3; if ($2>rmax) rmax=$2; if ($3>gmax) gmax=$3
	if ($5>hmax) hmax=$5; held=$5; rx=$4; tot=$9; free=$6; kern=$7; intx=$8; drops=$10; xd=$11
} END {
	printf "samples %d\nRSS kB: first %d last %d max %d\ngoroutines: first %d last %d max %d\n", n, r0, r1, rmax, g0, g1, gmax
	printf "frames at the end: total %d = free %d + kernel %d + in_tx %d + held %d (max held during the run %d)\n", tot, free, kern, intx, held, hmax
	printf "queue rx %d, engine drops %s, kernel rx_dropped %s\n", rx, drops, xd
}' "$W/samples"
echo "kernel socket counters: $(ctl stats --json | jq -c '.queues[0].xdp')"
echo "xdp program: $(ctl stats --json | jq -c '.programs[0] | {redirected, not_steered, no_socket, short}')"
echo "veth $IB rx drops (frames the kernel lost before XDP): $(ip -n $B -s -j link show $IB | jq '.[0].stats64.rx.dropped')"
echo "counter 'count' (across $((i / 3)) replaces): $count"
echo "reconfigurations: $ok applied, $bad failed"
echo "lanad alive: $alive, ERROR lines in its log: $errors"
last=$(tail -n 1 "$W/samples")
set -- $last
leak=$(( $9 - $6 - $7 - $8 - $5 ))
[ "$alive" = yes ] && [ "$bad" = 0 ] && [ "$errors" = 0 ] && [ "$leak" = 0 ] && [ "$5" = 0 ] || { echo "SOAK FAILED (unaccounted frames $leak, held $5)"; exit 1; }
echo "SOAK OK"
