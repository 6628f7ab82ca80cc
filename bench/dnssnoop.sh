#!/usr/bin/env bash
# dnssnoop's throughput and cost, next to tcpdump on the same load in the same run.
#   - dnsperf offers a fixed rate of queries for SECS seconds to a local dnsmasq serving local
#     records on a loopback address of its own; each rate is run with nothing watching,
#     with dnssnoop (auto mode, then AF_PACKET mode), and with `tcpdump -i lo -w /dev/null
#     port 53` as the peer
#   - loss: dnssnoop's ring_drops, whether every answer dnsperf got is one of dnssnoop's
#     transactions with the bench's resolver, and its timeouts against the queries dnsperf
#     lost; then how many of those transactions name dnsperf's pid
#   - cost: the watcher's CPU (user + system, from /proc, plus BPF run time of its programs
#     with kernel.bpf_stats_enabled) per 1000 queries answered
# Run as root after ./dev build; needs packaging/deps/bench.txt (dnsperf, tcpdump, dnsmasq).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DNSSNOOP=$BUILD/tools/dnssnoop/dnssnoop
RIG=tests/dnsrig/dnsrig.py
SECS=${SECS:-5}
RATES=${RATES:-"10000 20000 30000 40000"}
MODES=${MODES:-"auto afpacket"}
ADDR=${ADDR:-127.54.0.1} # dnsmasq's own loopback address for the bench
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; sysctl -qw kernel.bpf_stats_enabled=0; rm -rf "$TMP"' EXIT

for c in dnsperf dnsmasq tcpdump jq bpftool python3; do
	command -v "$c" >/dev/null || { echo "bench: needs $c (see packaging/deps/bench.txt)" >&2; exit 2; }
done
[ -x "$DNSSNOOP" ] || { echo "bench: no $DNSSNOOP (./dev build, or BUILD=dir)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root" >&2; exit 2; }

ticks=$(getconf CLK_TCK)
cpu_s() { awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
# Ids of dnssnoop's programs loaded now (others may run dnssnoop too: the bench counts the
# ones that appeared after its dnssnoop started).
prog_ids() { bpftool -j prog show | jq -c '[.[] | select(.name|test("^dnssnoop")) | .id]'; }
bpf_ns() { bpftool -j prog show | jq --argjson ids "$1" '[.[] | select(.id as $i | $ids | index($i)) | .run_time_ns // 0] | add // 0'; }

# The resolver: dnsmasq with the test zone (tests/dnsrig), answering from local records.
python3 "$RIG" zone --conf "$TMP/zone.conf" --truth "$TMP/zone.json"
dnsmasq --keep-in-foreground --port=53 --listen-address="$ADDR" --bind-interfaces --no-resolv \
	--no-hosts --pid-file= --conf-file="$TMP/zone.conf" 2>"$TMP/dnsmasq.err" &
DNSMASQ=$!
sleep 0.3
kill -0 $DNSMASQ || { cat "$TMP/dnsmasq.err" >&2; exit 1; }
# A mix of names and types from the zone, NXDOMAIN included.
printf '%s\n' "www.bpfkit.test A" "www.bpfkit.test AAAA" "txt.bpfkit.test TXT" "bpfkit.test MX" \
	"alias.bpfkit.test A" "nx.bpfkit.test A" "_ldap._tcp.bpfkit.test SRV" "svc.bpfkit.test HTTPS" >"$TMP/queries"

# One dnsperf run at a rate; prints "sent completed lost pid" (pid: dnsperf's).
load() {
	dnsperf -s "$ADDR" -d "$TMP/queries" -l "$SECS" -Q "$1" -c 4 -q 500 -t 1 >"$TMP/dnsperf.out" 2>&1 &
	local p=$!
	echo $p >"$TMP/dnsperf.pid"
	wait $p
	awk -v p=$p '/Queries sent:/ {s=$3} /Queries completed:/ {c=$3} /Queries lost:/ {l=$3}
		END {print s+0, c+0, l+0, p}' "$TMP/dnsperf.out"
}

# SIGINT, then SIGTERM after 5 s.
stop() {
	kill -INT "$1" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}

# One run with dnssnoop in mode $2 at rate $1; prints the row's fields.
with_dnssnoop() {
	local rate=$1 mode=$2 before ids pid c0 c1 b0 b1 sent done lost pp
	before=$(prog_ids)
	rm -f "$TMP/ds.jsonl"
	# JSON lines: dnssnoop formats every transaction; awk counts dnsperf's answers and
	# timeouts and keeps the rest (awk's CPU is not counted)
	"$DNSSNOOP" --json --timeout 1 --capture-mode "$mode" 2>"$TMP/ds.err" \
		> >(awk -v srv="\"server\":\"$ADDR\"" 'index($0, srv) && /"event":"answer"/ {a++; if (/"comm":"dnsperf"/) ad++; next}
			index($0, srv) && /"event":"timeout"/ {t++; next}
			{print} END {printf "{\"event\":\"counted\",\"answers\":%d,\"dnsperf\":%d,\"timeouts\":%d}\n", a, ad, t}' >"$TMP/ds.jsonl") &
	pid=$!
	for _ in $(seq 500); do grep -q '^dnssnoop: mode: ' "$TMP/ds.err" && break; sleep 0.01; done
	ids=$(jq -n -c --argjson a "$before" --argjson b "$(prog_ids)" '$b - $a')
	c0=$(cpu_s "$pid")
	b0=$(bpf_ns "$ids")
	read -r sent done lost pp < <(load "$rate")
	sleep 1.5 # the lost queries expire (--timeout 1)
	c1=$(cpu_s "$pid")
	b1=$(bpf_ns "$ids")
	stop "$pid"
	for _ in $(seq 100); do grep -q '"event":"counted"' "$TMP/ds.jsonl" 2>/dev/null && break; sleep 0.05; done
	jq -r -s '(map(select(.event=="stats"))[-1]) as $s | (map(select(.event=="counted"))[-1]) as $c
		| "\($s.mode) \($s.ring_drops) \($c.answers) \($c.timeouts) \($c.dnsperf)"' "$TMP/ds.jsonl" >"$TMP/ds.row"
	read -r rmode drops txn tmo named <"$TMP/ds.row"
	awk -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" -v b=$((b1 - b0)) -v d="$done" \
		-v o="$sent" -v l="$lost" -v s="$SECS" -v m="$rmode" -v t="$txn" -v dr="$drops" -v to="$tmo" -v n="$named" \
		'BEGIN { printf "%s %d %d %d %s %s %s %s %.1f %.2f %.2f\n", m, o/s, d/s, l, dr, t, to,
			(t == d && to == l && dr == 0) ? "yes" : "NO", t ? 100 * n / t : 0,
			1000 * (c + b/1e9) / (d ? d/1000 : 1), 1000 * (b/1e9) / (d ? d/1000 : 1) }'
}

with_tcpdump() {
	local rate=$1 pid c0 c1 sent done lost pp
	tcpdump -i lo -n -s 0 -w /dev/null "host $ADDR and port 53" 2>"$TMP/td.err" &
	pid=$!
	for _ in $(seq 500); do grep -q 'listening on' "$TMP/td.err" && break; sleep 0.01; done
	c0=$(cpu_s $pid)
	read -r sent done lost pp < <(load "$rate")
	sleep 1.5 # as long as dnssnoop gets to read what is queued
	c1=$(cpu_s $pid)
	stop $pid
	local captured dropped
	captured=$(awk '/packets captured/ {print $1}' "$TMP/td.err")
	dropped=$(awk '/dropped by kernel/ {print $1}' "$TMP/td.err")
	awk -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" -v d="$done" -v o="$sent" -v l="$lost" -v s="$SECS" \
		-v cap="$captured" -v dr="$dropped" \
		'BEGIN { printf "tcpdump %d %d %d %s %s - %s - %.2f -\n", o/s, d/s, l, dr, cap "pkts", (dr == 0 && cap >= 2 * (o - l)) ? "yes" : "NO",
			1000 * c / (d ? d/1000 : 1) }'
}

sysctl -qw kernel.bpf_stats_enabled=1
row() { printf '%-17s %8s %9s %6s %7s %11s %7s %8s %7s %8s %9s\n' "$@"; }
echo "== dnssnoop vs tcpdump: dnsperf against dnsmasq on $ADDR (lo), ${SECS}s per row, $(nproc) CPUs"
row watcher offered/s answered/s lost drops answers timeouts no-loss named% ms/1kq bpf-ms/1kq
for rate in $RATES; do
	read -r sent done lost _ < <(load "$rate")
	row none $((sent / SECS)) $((done / SECS)) "$lost" - - - - - - -
	for mode in $MODES; do
		read -r m o d l dr t to ok named cpu bpf < <(with_dnssnoop "$rate" "$mode")
		row "dnssnoop:$m" "$o" "$d" "$l" "$dr" "$t" "$to" "$ok" "$named" "$cpu" "$bpf"
	done
	read -r w o d l dr t to ok named cpu bpf < <(with_tcpdump "$rate")
	row "$w" "$o" "$d" "$l" "$dr" "$t" "$to" "$ok" "$named" "$cpu" "$bpf"
done
echo
echo "offered/answered: queries per second dnsperf sent / got answered; lost: queries it got no"
echo "  answer to (the resolver's loss on this busy machine, not the watcher's)"
echo "drops: dnssnoop's ring_drops (AF_PACKET: frames the kernel dropped); tcpdump's 'dropped by kernel'"
echo "answers/timeouts: dnssnoop's transactions with the bench's resolver; no-loss: drops 0,"
echo "  answers = answered and timeouts = lost (tcpdump: drops 0 and 2 packets per answered query"
echo "  captured); named%: answers attributed to dnsperf's pid (AF_PACKET mode names a process"
echo "  from /proc, and misses the last queries of a process that exits at once)"
echo "ms/1kq: the watcher's CPU (user + system of its process, plus its BPF programs' run time)"
echo "  per 1000 answered queries; tcpdump's copy into its ring runs in the senders' softirq"
echo "  context and is not in its figure (dnssnoop's BPF part is: bpf-ms/1kq)"
