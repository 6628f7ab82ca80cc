#!/usr/bin/env bash
# netproc's cost, next to nethogs on the same load in the same run.
#   - BPF run time per event of each rung that loads here (kernel.bpf_stats_enabled)
#   - with ~100k send+recv calls per second on loopback: added CPU (BPF run
#     time + the tool's own process) in % of one core, and peak RSS
#   - iperf3 throughput on loopback with netproc attached over without
# Run as root after ./dev build; needs packaging/deps/bench.txt installed.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
NETPROC=$BUILD/tools/netproc/netproc
GEN=$BUILD/tests/gen/bpfkit-trafficgen
SECS=${SECS:-10}
PPS=${PPS:-50000} # datagrams per second: one send and one receive each
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; sysctl -qw kernel.bpf_stats_enabled=0; rm -rf "$TMP"' EXIT

for c in nethogs iperf3 jq bpftool; do
	command -v "$c" >/dev/null || { echo "bench: needs $c (see packaging/deps/bench.txt)" >&2; exit 2; }
done

ticks=$(getconf CLK_TCK)
cpu_s() { awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
# Ids of the netproc programs loaded now; the ones a process we started
# holds are those that appeared after it started (others may run netproc too).
netproc_ids() { bpftool -j prog show | jq -c '[.[] | select(.name|test("^netproc")) | .id]'; }
new_ids() { jq -n -c --argjson a "$1" --argjson b "$2" '$b - $a'; }
bpf_run_ns() { bpftool -j prog show | jq --argjson ids "$1" '[.[] | select(.id as $i | $ids | index($i)) | .run_time_ns // 0] | add // 0'; }
bpf_run_cnt() { bpftool -j prog show | jq --argjson ids "$1" '[.[] | select(.id as $i | $ids | index($i)) | .run_cnt // 0] | add // 0'; }

# One UDP load of PPS datagrams per second for SECS seconds on loopback.
udp_load() {
	"$GEN" serve --udp 0 --tcp 0 --bind 127.0.0.1 --ready-file "$TMP/ready" --timeout $((SECS + 20)) >/dev/null &
	local srv=$!
	for _ in $(seq 200); do [ -s "$TMP/ready" ] && break; sleep 0.01; done
	"$GEN" udp --to "127.0.0.1:$(jq .udp_port "$TMP/ready")" --count $((PPS * SECS)) --size 64 --pps "$PPS" \
		--timeout $((SECS + 20)) >/dev/null
	kill -TERM $srv; wait $srv 2>/dev/null || true
	rm -f "$TMP/ready"
}

# SIGINT (background jobs of a script ignore it unless they handle it), then SIGTERM.
stop() {
	kill -INT "$1" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}

# Runs a monitor (its argv) during one load; prints "cpu_percent rss_kib bpf_ns bpf_events".
measure() {
	local before ids
	before=$(netproc_ids)
	"$@" >/dev/null 2>&1 &
	local pid=$! c0 c1 b0 b1 n0 n1 t0 t1
	sleep 1.5
	ids=$(new_ids "$before" "$(netproc_ids)")
	c0=$(cpu_s $pid); b0=$(bpf_run_ns "$ids"); n0=$(bpf_run_cnt "$ids"); t0=$(date +%s.%N)
	udp_load
	c1=$(cpu_s $pid); b1=$(bpf_run_ns "$ids"); n1=$(bpf_run_cnt "$ids"); t1=$(date +%s.%N)
	local rss; rss=$(hwm_kib $pid)
	stop $pid
	awk -v c0="$c0" -v c1="$c1" -v b0="$b0" -v b1="$b1" -v t0="$t0" -v t1="$t1" -v rss="$rss" -v n=$((n1 - n0)) \
		'BEGIN { wall = t1 - t0; printf "%.3f %d %.3f %d\n", 100 * ((c1 - c0) + (b1 - b0) / 1e9) / wall, rss, 100 * (b1 - b0) / 1e9 / wall, n }'
}

sysctl -qw kernel.bpf_stats_enabled=1

echo "== BPF run time per event, each rung that loads here ($((PPS * SECS)) datagrams on loopback)"
printf '%-12s %-26s %10s %12s\n' rung program events ns/event
for rung in fentry kprobe tracepoint; do
	if ! "$NETPROC" --hooks=$rung --duration 1 >/dev/null 2>&1; then
		printf '%-12s %s\n' $rung "does not load here (bpfcheck -t netproc says why)"
		continue
	fi
	before=$(netproc_ids)
	"$NETPROC" --hooks=$rung --lines --interval 5 >/dev/null 2>&1 &
	np=$!
	sleep 1.5
	ids=$(new_ids "$before" "$(netproc_ids)")
	SECS=3 udp_load
	bpftool -j prog show | jq -r --arg r $rung --argjson ids "$ids" '.[] | select(.id as $i | $ids | index($i)) | select(.run_cnt > 0)
		| "\($r) \(.name) \(.run_cnt) \(.run_time_ns / .run_cnt | floor)"' |
		while read -r r n c ns; do printf '%-12s %-26s %10s %12s\n' "$r" "$n" "$c" "$ns"; done
	stop $np
done

echo
echo "== ~$((2 * PPS)) send+recv calls per second for ${SECS}s on loopback: added CPU and memory"
read -r np_cpu np_rss np_bpf np_events < <(measure "$NETPROC" --lines --interval 1)
read -r nh_cpu nh_rss _ _ < <(measure nethogs -a -t -d 1 lo)
read -r idle_cpu _ _ _ < <(measure sleep 3600)
printf '%-34s %12s %12s %8s\n' "" netproc nethogs ratio
printf '%-34s %12.2f %12.2f %8.2f\n' "added CPU, % of one core" "$np_cpu" "$nh_cpu" "$(awk -v a="$np_cpu" -v b="$nh_cpu" 'BEGIN{print b ? a/b : 0}')"
printf '%-34s %12s %12s %8.2f\n' "  of which BPF run time, %" "$np_bpf" "-" 0
printf "%-34s %12s %12s %8.2f\n" "peak RSS, KiB" "$np_rss" "$nh_rss" "$(awk -v a="$np_rss" -v b="$nh_rss" 'BEGIN{print b ? a/b : 0}')"
printf '%-34s %12s\n' "BPF events counted in the run" "$np_events"
printf '%-34s %12s\n' "(an idle sleep process, % CPU)" "$idle_cpu"

echo
echo "== iperf3 on loopback, ${SECS}s each: throughput with netproc attached over without"
iperf3 -s -1 -p 5399 >/dev/null 2>&1 &
sleep 0.3
base=$(iperf3 -c 127.0.0.1 -p 5399 -t "$SECS" -J | jq '.end.sum_received.bits_per_second')
"$NETPROC" --lines --interval 1 >/dev/null 2>&1 &
np=$!
sleep 1.5
iperf3 -s -1 -p 5399 >/dev/null 2>&1 &
sleep 0.3
with=$(iperf3 -c 127.0.0.1 -p 5399 -t "$SECS" -J | jq '.end.sum_received.bits_per_second')
kill -INT $np; wait $np 2>/dev/null || true
awk -v a="$with" -v b="$base" 'BEGIN { printf "%-34s %12.2f Gbit/s\n%-34s %12.2f Gbit/s\n%-34s %12.3f\n", "without netproc", b/1e9, "with netproc", a/1e9, "ratio with/without", a/b }'
