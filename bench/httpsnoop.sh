#!/usr/bin/env bash
# httpsnoop's cost, with the same load run with nothing watching in the same run.
#   - wrk against nginx on loopback (return 200, keep-alive) for SECS seconds: requests/s
#     and p99 latency without httpsnoop, with httpsnoop in raw_syscalls mode, and with it
#     in tracepoint mode (tracefs mounted in a private mount namespace, so the host's
#     mounts are not touched); ratios against the run without
#   - httpsnoop's CPU (user + system from /proc, plus the BPF run time of its programs
#     with kernel.bpf_stats_enabled) per 1000 requests, its lost events, and how many
#     exchanges it showed against wrk's requests (each is seen twice: wrk's and nginx's)
#   - what the hooks cost other programs: 1-byte reads and writes on a pipe (dd; read and
#     write are followed syscalls) and getppid() (a syscall raw_syscalls sees, the
#     tracepoint mode does not), in calls per second
# Run as root after ./dev build; needs packaging/deps/bench.txt (wrk, nginx-light).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
HS=$(realpath "$BUILD/tools/httpsnoop/httpsnoop")
SECS=${SECS:-10}
PORT=${PORT:-48990}
CONNS=${CONNS:-32}
TMP=$(mktemp -d)
NGINX=
cleanup() {
	[ -n "$NGINX" ] && kill -QUIT "$NGINX" 2>/dev/null && sleep 0.5
	[ -n "$NGINX" ] && kill -KILL "$NGINX" 2>/dev/null
	sysctl -qw kernel.bpf_stats_enabled=0
	rm -rf "$TMP"
}
trap cleanup EXIT

for c in wrk nginx curl jq bpftool python3 dd; do
	command -v "$c" >/dev/null || { echo "bench: needs $c (see packaging/deps/bench.txt)" >&2; exit 2; }
done
[ -x "$HS" ] || { echo "bench: no $HS (./dev build, or BUILD=dir)" >&2; exit 2; }
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
prog_ids() { bpftool -j prog show | jq -c '[.[] | select(.name|test("^httpsnoop")) | .id]'; }
bpf_ns() { bpftool -j prog show | jq --argjson ids "$1" '[.[] | select(.id as $i | $ids | index($i)) | .run_time_ns // 0] | add // 0'; }

# wrk for SECS: prints "requests/s p99_ms requests"
load() {
	wrk -t 2 -c "$CONNS" -d "${SECS}s" --latency "http://127.0.0.1:$PORT/" >"$TMP/wrk.out" 2>&1
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

# Starts httpsnoop in mode $1; sets HS_PID and IDS.
start_hs() {
	local mode=$1 before
	before=$(prog_ids)
	rm -f "$TMP/hs.err"
	if [ "$mode" = tracepoint ]; then
		unshare -m sh -c "mount -t tracefs nodev /sys/kernel/tracing && exec \"$HS\" --json --hooks tracepoint" \
			>"$TMP/hs.json" 2>"$TMP/hs.err" &
	else
		"$HS" --json --hooks "$mode" >"$TMP/hs.json" 2>"$TMP/hs.err" &
	fi
	HS_PID=$!
	for _ in $(seq 300); do grep -q 'mode: ' "$TMP/hs.err" 2>/dev/null && break; sleep 0.05; done
	grep -q 'mode: ' "$TMP/hs.err" || { cat "$TMP/hs.err" >&2; return 1; }
	IDS=$(jq -n -c --argjson a "$before" --argjson b "$(prog_ids)" '$b - $a')
}
stop_hs() {
	kill -INT "$HS_PID" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$HS_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$HS_PID" 2>/dev/null
	wait "$HS_PID" 2>/dev/null || true
}

sysctl -qw kernel.bpf_stats_enabled=1
echo "# httpsnoop bench: wrk -t2 -c$CONNS ${SECS}s against nginx on loopback; $(nproc) CPUs, $(uname -r)"
printf '%-26s %12s %12s %12s\n' "" "requests/s" "p99 ms" "ratio r/s"
read -r base_r base_p base_n < <(load)
printf '%-26s %12s %12s %12s\n' "without httpsnoop" "$base_r" "$base_p" "1.00"
declare -A row
for mode in raw_syscalls tracepoint; do
	start_hs "$mode" || { echo "$mode: did not start" >&2; continue; }
	c0=$(cpu_s "$HS_PID")
	b0=$(bpf_ns "$IDS")
	read -r r p n < <(load)
	c1=$(cpu_s "$HS_PID")
	b1=$(bpf_ns "$IDS")
	pc=$(pipe_calls)
	gp=$(getppid_calls)
	stop_hs
	stats=$(jq -c 'select(.event=="stats")' "$TMP/hs.json")
	ex=$(jq -s '[.[] | select(.event=="exchange")] | length' "$TMP/hs.json")
	lost=$(echo "$stats" | jq '.lost_events')
	printf '%-26s %12s %12s %12s\n' "with httpsnoop $mode" "$r" "$p" "$(echo "$r $base_r" | awk '{printf "%.2f", $1/$2}')"
	row[$mode]="$(echo "$c0 $c1 $b0 $b1 $n" | awk '{printf "%.2f ms process + %.2f ms BPF", ($2-$1)*1e6/$5, ($4-$3)/1e6*1000/$5}') per 1000 requests; lost events $lost; exchanges shown $ex of $((2 * n)) (2 x wrk's $n); p99 ratio $(echo "$p $base_p" | awk '{printf "%.2f", $1/$2}'); pipe 1-byte calls/s $pc; getppid/s $gp"
done
echo
for mode in raw_syscalls tracepoint; do
	[ -n "${row[$mode]:-}" ] && echo "$mode: ${row[$mode]}"
done
echo "without httpsnoop: pipe 1-byte calls/s $(pipe_calls); getppid/s $(getppid_calls)"
