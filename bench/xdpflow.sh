#!/usr/bin/env bash
# xdpflow's per-packet cost, next to peers from the same run:
#   - ns per packet of xdpflow's XDP program with BPF_PROG_TEST_RUN (REPEAT runs of one
#     64-byte TCP frame, IPv4 and IPv6: the flow exists), and of new flows (one run per
#     flow, NEWFLOWS flows), next to an XDP program that only returns XDP_PASS, timed alike
#   - packets per second a UDP sender gets through a veth pair (64-byte frames) with
#     nothing attached, and with xdpflow attached to the receiving end
#   - kernel memory of the flow table for 100,000 flows (bpftool's memlock figure)
# Run as root after ./dev build. Absolute figures drift on shared machines; ratios from one
# run hold.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
XDPFLOW=$BUILD/tools/xdpflow/xdpflow
TESTRUN=$BUILD/tools/xdpflow/xdpflow-testrun
GEN=$BUILD/tests/gen/bpfkit-trafficgen
REPEAT=${REPEAT:-10000000}
NEWFLOWS=${NEWFLOWS:-20000}
PKTS=${PKTS:-300000}
NS=bxfbench$$
TMP=$(mktemp -d)
cleanup() {
	[ -n "${XF:-}" ] && kill -INT "$XF" 2>/dev/null && wait "$XF" 2>/dev/null
	ip netns del "${NS}a" 2>/dev/null
	ip netns del "${NS}b" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

for c in jq bpftool ip bc; do
	command -v "$c" >/dev/null || { echo "bench: needs $c" >&2; exit 2; }
done
for f in "$XDPFLOW" "$TESTRUN" "$GEN"; do
	[ -x "$f" ] || { echo "bench: no $f (./dev build, or BUILD=dir)" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root" >&2; exit 2; }

if [ "$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null)" = 1 ]; then
	echo "# note: kernel.bpf_stats_enabled is 1 (another bench or tool turned it on): every"
	echo "# program run pays for two clock reads, about 70 ns here; the ratios below still hold"
fi
echo "# BPF_PROG_TEST_RUN, ns per packet ($REPEAT repeats; new flows: $NEWFLOWS runs of 1)"
printf '%-16s %10s %10s %7s\n' case pass-only xdpflow ratio
"$TESTRUN" "$REPEAT" "$NEWFLOWS" >"$TMP/tr" || exit 1
for c in existing-ipv4 existing-ipv6 new-ipv4 new-ipv6; do
	p=$(awk -v c="$c" '$1==c && $2=="pass"{print $3}' "$TMP/tr")
	x=$(awk -v c="$c" '$1==c && $2=="xdpflow"{print $3}' "$TMP/tr")
	printf '%-16s %10.1f %10.1f %6.2fx\n' "$c" "$p" "$x" "$(echo "$x / $p" | bc -l)"
done

# A veth pair between two namespaces of our own.
ip netns add "${NS}a"
ip netns add "${NS}b"
ip link add bxfbencha netns "${NS}a" type veth peer name bxfbenchb netns "${NS}b"
ip -n "${NS}a" addr add 10.233.0.1/30 dev bxfbencha
ip -n "${NS}b" addr add 10.233.0.2/30 dev bxfbenchb
for n in a b; do
	ip -n "${NS}$n" link set lo up
	ip -n "${NS}$n" link set "bxfbench$n" up
done
ip netns exec "${NS}a" "$GEN" serve --udp 47900 --tcp 0 --bind 10.233.0.1 --timeout 600 >/dev/null 2>&1 3>&- &
SRV=$!
sleep 0.3
# 18 bytes of UDP payload: 14 + 20 + 8 + 18 = 60 bytes (64 on the wire with the FCS).
pps() {
	local t0 t1
	t0=$(date +%s.%N)
	ip netns exec "${NS}b" "$GEN" udp --to 10.233.0.1:47900 --count "$PKTS" --size 18 >/dev/null || return 1
	t1=$(date +%s.%N)
	echo "$PKTS / ($t1 - $t0)" | bc -l
}
echo
echo "# UDP through a veth pair, $PKTS frames of 64 bytes, packets per second (sender side)"
printf '%-26s %12s\n' setup pps
for round in 1 2; do
	printf '%-26s %12.0f\n' "nothing attached ($round)" "$(pps)"
	ip netns exec "${NS}a" "$XDPFLOW" -i bxfbencha --json --interval 60 >"$TMP/xf.out" 2>"$TMP/xf.err" 3>&- &
	XF=$!
	for _ in $(seq 300); do grep -q mode: "$TMP/xf.err" 2>/dev/null && break; sleep 0.01; done
	printf '%-26s %12.0f\n' "xdpflow $(sed -n 's/.*mode: \([^ ]*\).*/\1/p' "$TMP/xf.err") ($round)" "$(pps)"
	kill -INT "$XF"
	wait "$XF"
	XF=
done
kill "$SRV" 2>/dev/null
wait "$SRV" 2>/dev/null

echo
echo "# Kernel memory of the flow table (bpftool memlock of the flows map)"
printf '%-12s %6s %14s %16s\n' max-flows cpus bytes per-100k-flows
for n in 100000; do
	before=$(bpftool -j map show | jq -c '[.[].id]')
	ip netns exec "${NS}a" "$XDPFLOW" -i bxfbencha --json --interval 60 --max-flows "$n" >/dev/null 2>"$TMP/xf.err" 3>&- &
	XF=$!
	for _ in $(seq 300); do grep -q mode: "$TMP/xf.err" 2>/dev/null && break; sleep 0.01; done
	# The flows map that appeared with this run (others may run xdpflow too).
	mem=$(bpftool -j map show | jq --argjson old "$before" --argjson n "$n" \
		'[.[] | select(.name=="flows" and .max_entries==$n and (.id as $i | $old | index($i) | not))] | .[0].bytes_memlock')
	printf '%-12s %6s %14s %13.1f MiB\n' "$n" "$(nproc)" "$mem" "$(echo "$mem * 100000 / $n / 1048576" | bc -l)"
	kill -INT "$XF"
	wait "$XF"
	XF=
done
