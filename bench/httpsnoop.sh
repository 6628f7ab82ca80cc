#!/usr/bin/env bash
# httpsnoop's cost, with the same load run with nothing watching in the same run.
#   - wrk against nginx on loopback (return 200, keep-alive) for SECS seconds: requests/s
#     and p99 latency without httpsnoop, with httpsnoop in socket mode (the default on
#     Linux 6.3+ without fentry; and with its events in one shared ring instead of one
#     per CPU), in raw_syscalls mode, and in tracepoint mode (tracefs
#     mounted in a private mount namespace, so the host's mounts are not touched);
#     ratios against the run without. ROUNDS rounds (default 3)
#     each run every row once, in turn, so that other load on the machine falls on all
#     of them; the table shows medians over the rounds (ratios: the median of each
#     round's ratio against that round's run without)
#   - the floor: the same hooks with empty BPF programs (bpfkit-hookfloor: raw_tp
#     sock_send_length/sock_recv_length, raw_tp sys_enter/sys_exit, and the 17 syscalls:*
#     tracepoints httpsnoop attaches), what the hooks cost before any of httpsnoop's work;
#     and "sock copy to ring" (bpfkit-hookfloor copy): at the socket mode's hooks, the least
#     any capture does (each TCP call's first 512 bytes into a ring buffer, emptied unread),
#     so that what httpsnoop costs past it is its own state and its parsing; and "copy,
#     read, print" (bpfkit-hookfloor print): the same copy, each event read and a
#     400-byte line written per two events, the least a tool that prints a record per
#     exchange does, without parsing or pairing; each httpsnoop row is also shown as its
#     ratio minus the print floor's in the same round (median, least, most): what
#     httpsnoop's own work costs, with the round-to-round noise of the machine taken out
#   - BPF ns per program run (run_time_ns / run_cnt over the row's programs; in
#     raw_syscalls mode a run is any syscall of the host, followed or not)
#   - at a fixed RATE (default 10000 requests/s, bench/paced.lua) for SECS seconds with
#     httpsnoop attached: requests wrk completed, exchanges httpsnoop showed (2 per
#     request) and its lost events
#   - httpsnoop's CPU (user + system from /proc, plus the BPF run time of its programs
#     with kernel.bpf_stats_enabled) per 1000 requests, its lost events, and how many
#     exchanges it showed against wrk's requests (each is seen twice: wrk's and nginx's)
#   - what the hooks cost other programs: 1-byte reads and writes on a pipe (dd; read and
#     write are followed syscalls) and getppid() (a syscall raw_syscalls sees, the
#     tracepoint mode does not), in calls per second
#   - the peer: bpftrace running bench/httpsnoop-peer.bt (the first 64 bytes of every
#     read, recvfrom, write, sendto and writev on the host printed, without parsing or
#     pairing), in the same rounds; its lost events are those bpftrace reports, and
#     its "exchanges" column is the calls it printed over 4 x requests (each request is
#     4 calls: wrk's write and read, nginx's recv and writev)
# Run as root after ./dev build; needs packaging/deps/bench.txt (wrk, nginx-light,
# bpftrace).
# Environment: SECS (10), ROUNDS (5), RATE (10000), CONNS (32), BUILD (build),
# KEEP=FILE to keep the raw per-run lines, ROWS="none socket ..." to run only some rows.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
HS=$(realpath "$BUILD/tools/httpsnoop/httpsnoop")
HF=$(realpath "$BUILD/tests/gen/bpfkit-hookfloor")
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-5}
RATE=${RATE:-10000}
PORT=${PORT:-48990}
CONNS=${CONNS:-32}
TMP=$(mktemp -d)
NGINX=
cleanup() {
	[ -n "${PID:-}" ] && kill -KILL "$PID" 2>/dev/null
	[ -n "$NGINX" ] && kill -QUIT "$NGINX" 2>/dev/null && sleep 0.5
	[ -n "$NGINX" ] && kill -KILL "$NGINX" 2>/dev/null
	sysctl -qw kernel.bpf_stats_enabled=0
	[ -n "${KEEP:-}" ] && cat "$TMP"/runs* >"$KEEP"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for c in wrk nginx curl jq bpftool python3 dd bpftrace; do
	command -v "$c" >/dev/null || { echo "bench: needs $c (see packaging/deps/bench.txt)" >&2; exit 2; }
done
[ -x "$HS" ] || { echo "bench: no $HS (./dev build, or BUILD=dir)" >&2; exit 2; }
[ -x "$HF" ] || { echo "bench: no $HF (./dev build, or BUILD=dir)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root" >&2; exit 2; }

mkdir -p "$TMP/tmp"
# nginx on the first free port of 48990-48999 (a port of that range may be
# another connection's local port on a shared machine).
start_nginx() {
	cat >"$TMP/nginx.conf" <<CONF
worker_processes 1;
user root root;
pid $TMP/nginx.pid;
error_log $TMP/error.log;
daemon off;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $TMP/tmp/body;
	proxy_temp_path $TMP/tmp/proxy;
	fastcgi_temp_path $TMP/tmp/fastcgi;
	uwsgi_temp_path $TMP/tmp/uwsgi;
	scgi_temp_path $TMP/tmp/scgi;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$PORT;
		location / { return 200 "hello, bench\n"; }
	}
}
CONF
	nginx -c "$TMP/nginx.conf" -p "$TMP" 2>"$TMP/nginx.err" &
	NGINX=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$PORT/" && return 0
		kill -0 "$NGINX" 2>/dev/null || break
		sleep 0.05
	done
	wait "$NGINX" 2>/dev/null
	NGINX=
	return 1
}
for PORT in $(seq "$PORT" 48999); do
	start_nginx && break
done
[ -n "$NGINX" ] || { cat "$TMP/nginx.err" >&2; exit 1; }

ticks=$(getconf CLK_TCK)
cpu_s() { awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
# (the peer's programs are named after their tracepoints)
prog_ids() { bpftool -j prog show | jq -c '[.[] | select(.name|test("^(httpsnoop|hookfloor|sys_enter_|sys_exit_)")) | .id]'; }
# "run_time_ns run_cnt" summed over the programs of ids $1
bpf_ns() { bpftool -j prog show | jq -r --argjson ids "$1" '[.[] | select(.id as $i | $ids | index($i))] | "\([.[].run_time_ns // 0] | add // 0) \([.[].run_cnt // 0] | add // 0)"'; }

# wrk for SECS (at RATE requests/s with "paced"): prints "requests/s p99_ms requests"
load() {
	local script=()
	[ "${1:-}" = paced ] && script=(-s bench/paced.lua)
	RATE=$RATE THREADS=2 wrk -t 2 -c "$CONNS" -d "${SECS}s" --latency "${script[@]}" \
		"http://127.0.0.1:$PORT/" >"$TMP/wrk.out" 2>&1
	awk '/Requests\/sec:/ {r=$2}
		/^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; p=v}
		/requests in/ {n=$1}
		END {printf "%.0f %.3f %d\n", r, p, n}' "$TMP/wrk.out"
}
# 1-byte reads and writes through a pipe: prints calls/s (reads + writes)
pipe_calls() {
	local n=400000 t0 t1
	t0=$(date +%s.%N)
	dd if=/dev/zero bs=1 count=$n 2>/dev/null | dd of=/dev/null bs=1 2>/dev/null
	t1=$(date +%s.%N)
	echo "$n $t0 $t1" | awk '{printf "%.0f\n", 4 * $1 / ($3 - $2)}'
}
getppid_calls() {
	python3 -c '
import os, time
n = 300000
t = time.perf_counter()
for _ in range(n):
    os.getppid()
print(round(n / (time.perf_counter() - t)))'
}

# Starts row $1 (none, floor-sock, floor-copy, floor-print, floor-raw, floor-tp, socket, raw_syscalls, tracepoint,
# bpftrace); sets PID and IDS.
start_row() {
	local row=$1 before
	PID=
	IDS='[]'
	[ "$row" = none ] && return 0
	before=$(prog_ids)
	rm -f "$TMP/hs.err" "$TMP/hs.json" "$TMP/hf.out"
	case $row in
	floor-sock) "$HF" sock >"$TMP/hf.out" 2>"$TMP/hs.err" & ;;
	floor-raw) "$HF" raw >"$TMP/hf.out" 2>"$TMP/hs.err" & ;;
	floor-copy) "$HF" copy >"$TMP/hf.out" 2>"$TMP/hs.err" & ;;
	floor-print) "$HF" print >"$TMP/hf.out" 2>"$TMP/hs.err" & ;;
	floor-tp)
		unshare -m sh -c "mount -t tracefs nodev /sys/kernel/tracing && exec \"$HF\" tp" \
			>"$TMP/hf.out" 2>"$TMP/hs.err" &
		;;
	tracepoint)
		unshare -m sh -c "mount -t tracefs nodev /sys/kernel/tracing && exec \"$HS\" --json --hooks tracepoint" \
			>"$TMP/hs.json" 2>"$TMP/hs.err" &
		;;
	bpftrace)
		unshare -m sh -c "mount -t tracefs nodev /sys/kernel/tracing && exec bpftrace bench/httpsnoop-peer.bt" \
			>"$TMP/bt.out" 2>"$TMP/hs.err" &
		;;
	socket-shared)
		BPFKIT_HTTPSNOOP_RINGS=shared "$HS" --json --hooks socket >"$TMP/hs.json" 2>"$TMP/hs.err" &
		;;
	*) "$HS" --json --hooks "$row" >"$TMP/hs.json" 2>"$TMP/hs.err" & ;;
	esac
	PID=$!
	local ready='mode: ' file="$TMP/hs.err"
	case $row in
	floor-*) ready='^attached' file="$TMP/hf.out" ;;
	bpftrace) ready='^Attaching' file="$TMP/bt.out" ;;
	esac
	for _ in $(seq 300); do grep -q "$ready" "$file" 2>/dev/null && break; sleep 0.05; done
	grep -q "$ready" "$file" || { cat "$TMP/hs.err" >&2; stop_row; return 1; }
	IDS=$(jq -n -c --argjson a "$before" --argjson b "$(prog_ids)" '$b - $a')
	if [ "$row" = bpftrace ]; then
		# "Attaching" comes before the attachments: wait for its 8 programs
		for _ in $(seq 100); do
			[ "$(jq length <<<"$IDS")" -ge 8 ] && break
			sleep 0.1
			IDS=$(jq -n -c --argjson a "$before" --argjson b "$(prog_ids)" '$b - $a')
		done
		sleep 0.5
	fi
}
stop_row() {
	[ -n "$PID" ] || return 0
	kill -INT "$PID" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null || true
	PID=
}
median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2}'; }

# One run of row $1 under load ($2: "" or paced); appends to $TMP/runs:
# row r/s p99 requests process_s bpf_ns bpf_cnt lost exchanges
run_row() {
	local row=$1 c0=0 c1=0 b0="0 0" b1="0 0" r p n lost=0 ex=0
	start_row "$row" || { echo "$row: did not start" >&2; return 1; }
	if [ -n "$PID" ]; then c0=$(cpu_s "$PID"); b0=$(bpf_ns "$IDS"); fi
	local how=${2:-}
	[ "$how" = stats ] && how=
	read -r r p n < <(load "$how")
	if [ -n "$PID" ]; then c1=$(cpu_s "$PID"); b1=$(bpf_ns "$IDS"); fi
	stop_row
	case $row in socket | socket-shared | raw_syscalls | tracepoint)
		# (grep, not jq -s: a round's output is over a million lines)
		lost=$(grep '"event":"stats"' "$TMP/hs.json" | tail -n 1 | jq '.lost_events // 0')
		ex=$(grep -c '"event":"exchange"' "$TMP/hs.json")
		;;
	bpftrace)
		lost=$(awk '/^Lost [0-9]+ events/ {s += $2} END {print s + 0}' "$TMP/bt.out")
		# printed calls, over 4 per request (the table's column is over 2)
		ex=$(awk '$3 == "R" || $3 == "W" {n++} END {print n / 2}' "$TMP/bt.out")
		;;
	esac
	echo "$row $r $p $n $(echo "$c0 $c1" | awk '{print $2-$1}') $(echo "$b0 $b1" | awk '{print $3-$1, $4-$2}') $lost $ex" >>"$TMP/runs${2:+.$2}"
}

read -r -a ROWS <<<"${ROWS:-none floor-sock floor-copy floor-print floor-raw floor-tp socket socket-shared raw_syscalls tracepoint bpftrace}"
declare -A LABEL=([none]="without httpsnoop" [floor-sock]="floor: empty sock tp_btf"
	[floor-copy]="floor: sock copy to ring" [floor-print]="floor: copy, read, print" [floor-raw]="floor: empty raw_tp"
	[floor-tp]="floor: empty tracepoints" [socket]="httpsnoop socket"
	[socket-shared]="httpsnoop socket, one ring" [raw_syscalls]="httpsnoop raw_syscalls" [tracepoint]="httpsnoop tracepoint" [bpftrace]="peer: bpftrace script")
: >"$TMP/runs"
for round in $(seq "$ROUNDS"); do
	for row in "${ROWS[@]}"; do
		run_row "$row"
		echo "round $round: $(tail -n 1 "$TMP/runs")" >&2
	done
done

# BPF run time: one more run of each hooked row with kernel.bpf_stats_enabled=1 (the
# statistics take two clock reads per program run, so the rounds above run without).
sysctl -qw kernel.bpf_stats_enabled=1
: >"$TMP/runs.stats"
for row in "${ROWS[@]:1}"; do
	run_row "$row" stats
	echo "stats: $(tail -n 1 "$TMP/runs.stats")" >&2
done
sysctl -qw kernel.bpf_stats_enabled=0

echo "# httpsnoop bench: wrk -t2 -c$CONNS ${SECS}s against nginx on loopback; $(nproc) CPUs, $(uname -r); medians of $ROUNDS rounds"
printf '%-26s %10s %8s %8s %8s %9s %10s %10s %6s %s\n' "" "req/s" "p99 ms" "r/s" "p99" "BPF ns" "BPF ms" "proc ms" "lost" "exchanges"
printf '%-26s %10s %8s %8s %8s %9s %10s %10s %6s %s\n' "" "" "" "ratio" "ratio" "per run" "/1000 req" "/1000 req" "" "shown/2xreq"
for row in "${ROWS[@]}"; do
	col() { awk -v row="$row" -v f="$1" '$1 == row {print $f}' "$TMP/runs" | median; }
	# per round: this row's value over the round's run without (the runs file is in round order)
	ratio() { awk -v row="$row" -v f="$1" '$1 == "none" {b=$f} $1 == row && b > 0 {print $f / b}' "$TMP/runs" | median; }
	per1k() { awk -v row="$row" -v f="$1" -v k="$2" '$1 == row && $4 > 0 {print $f * k * 1000 / $4}' "$TMP/runs${3:+.$3}" | median; }
	nsrun=$(awk -v row="$row" '$1 == row && $7 > 0 {print $6 / $7}' "$TMP/runs.stats" | median)
	lost=$(awk -v row="$row" '$1 == row {s += $8} END {print s + 0}' "$TMP/runs")
	exs=$(awk -v row="$row" '$1 == row && $4 > 0 {printf "%.3f\n", $9 / (2 * $4)}' "$TMP/runs" | median)
	[ "$exs" = - ] || exs=$(printf '%.3f' "$exs")
	case $row in
	none) printf '%-26s %10.0f %8.3f %8s %8s %9s %10s %10s %6s %s\n' "${LABEL[$row]}" "$(col 2)" "$(col 3)" 1.00 1.00 - - - - - ;;
	floor-copy | floor-print) printf '%-26s %10.0f %8.3f %8.2f %8.2f %9.0f %10.2f %10.2f %6s %s\n' "${LABEL[$row]}" "$(col 2)" "$(col 3)" \
		"$(ratio 2)" "$(ratio 3)" "$nsrun" "$(per1k 6 1e-6 stats)" "$(per1k 5 1e3)" - - ;;
	floor-*) printf '%-26s %10.0f %8.3f %8.2f %8.2f %9.0f %10.2f %10s %6s %s\n' "${LABEL[$row]}" "$(col 2)" "$(col 3)" \
		"$(ratio 2)" "$(ratio 3)" "$nsrun" "$(per1k 6 1e-6 stats)" - - - ;;
	*) printf '%-26s %10.0f %8.3f %8.2f %8.2f %9.0f %10.2f %10.2f %6s %s\n' "${LABEL[$row]}" "$(col 2)" "$(col 3)" \
		"$(ratio 2)" "$(ratio 3)" "$nsrun" "$(per1k 6 1e-6 stats)" "$(per1k 5 1e3)" "$lost" "$exs" ;;
	esac
done
echo "(BPF ns per run, BPF ms /1000 req: from the one run with bpf_stats, every run of the row's programs"
echo " during the load, other processes' syscalls too; proc ms: the tool's own user + system time;"
echo " lost: summed over the rounds; the peer's exchanges: calls printed over 4 x requests)"

# (of these, the rows ROWS names)
in_rows() { local r; for r in "${ROWS[@]}"; do [ "$r" = "$1" ] && return 0; done; return 1; }

# The machine moves whole rounds by more than the rows differ: a row against the print
# floor in the same round (the least a tool printing a record per exchange costs) shows
# what httpsnoop's own work costs, with the round's noise taken out.
if in_rows none && in_rows floor-print; then
	echo
	echo "# r/s ratio minus the print floor's in the same round: median (least, most) of $ROUNDS rounds"
	for row in socket socket-shared raw_syscalls tracepoint; do
		in_rows "$row" || continue
		d=$(awk -v row="$row" '$1 == "none" {b = $2; f = ""} $1 == "floor-print" && b > 0 {f = $2 / b}
			$1 == row && b > 0 && f != "" {print $2 / b - f}' "$TMP/runs" | sort -g)
		[ -n "$d" ] || continue
		printf '%-26s %+8.3f (%+.3f, %+.3f)\n' "${LABEL[$row]}" "$(median <<<"$d")" "$(head -n 1 <<<"$d")" \
			"$(tail -n 1 <<<"$d")"
	done
fi

echo
echo "# fixed rate: wrk -s bench/paced.lua, $RATE requests/s, ${SECS}s"
printf '%-26s %10s %10s %10s %12s %6s\n' "" "req/s" "requests" "exchanges" "per request" "lost"
: >"$TMP/runs.paced"
for row in none socket raw_syscalls tracepoint bpftrace; do
	in_rows "$row" || continue
	run_row "$row" paced
	read -r _ r _ n _ _ _ lost ex < <(tail -n 1 "$TMP/runs.paced")
	if [ "$row" = none ]; then
		printf '%-26s %10.0f %10s %10s %12s %6s\n' "${LABEL[$row]}" "$r" "$n" - - -
	else
		printf '%-26s %10.0f %10s %10s %12s %6s\n' "${LABEL[$row]}" "$r" "$n" "$ex" "$(echo "$ex $n" | awk '{printf "%.3f", $1 / $2}')" "$lost"
	fi
done

echo
echo "# what the hooks cost other programs (calls/s, one run each)"
for row in none floor-sock floor-raw socket raw_syscalls tracepoint; do
	in_rows "$row" || continue
	start_row "$row" || continue
	echo "${LABEL[$row]}: pipe 1-byte reads+writes/s $(pipe_calls); getppid/s $(getppid_calls)"
	stop_row
done
