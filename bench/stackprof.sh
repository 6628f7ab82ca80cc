#!/usr/bin/env bash
# stackprof's cost, next to perf record -g on the same load in the same run.
#   - two bpfkit-burn processes (five hot functions, frame pointers) keep both
#     CPUs busy; each profiler samples every CPU for SECS seconds at 49 and
#     at 999 Hz
#   - stackprof: BPF run time of its program (kernel.bpf_stats_enabled) plus
#     its own process's CPU (user + system, symbolization included), in % of
#     one core; per sample: BPF ns
#   - perf record -g -a (cpu-clock), its CPU, and perf report's CPU to get to
#     the same output (perf's round trip); the kernel's own cost of writing
#     perf's samples is in neither figure
#   - symbolization time of a profile of clang (libclang-cpp and libLLVM)
# Run as root after ./dev build; needs packaging/deps/bench.txt installed.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SP=$BUILD/tools/stackprof/stackprof
BURN=$BUILD/tests/gen/bpfkit-burn-fp
SECS=${SECS:-10}
TMP=$(mktemp -d /tmp/bsp-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; sysctl -qw kernel.bpf_stats_enabled=0; rm -rf "$TMP"' EXIT

for c in perf jq bpftool clang; do
	command -v "$c" >/dev/null || { echo "bench: needs $c (see packaging/deps/bench.txt)" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "bench: needs /usr/bin/time (package time)" >&2; exit 2; }

sp_ids() { bpftool -j prog show | jq -c '[.[] | select(.name|test("^stackprof")) | .id]'; }
new_ids() { jq -n -c --argjson a "$1" --argjson b "$2" '$b - $a'; }
bpf_sum() { bpftool -j prog show | jq --argjson ids "$1" --arg k "$2" '[.[] | select(.id as $i | $ids | index($i)) | .[$k] // 0] | add // 0'; }

# Both CPUs busy for the whole measurement.
load() {
	"$BURN" --spread --seconds $((SECS + 5)) >/dev/null &
	"$BURN" --spread --seconds $((SECS + 5)) >/dev/null &
	sleep 0.3
}
unload() {
	kill $(jobs -p) 2>/dev/null
	wait 2>/dev/null
}
# "user+sys seconds" from /usr/bin/time -f '%U %S'
cpu_of() { awk '{ print $1 + $2 }' "$1"; }

# SIGINT, then SIGTERM.
stop() {
	kill -INT "$1" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}
row() { printf '%-5s %-24s %8s %10s %10s %11s %9s\n' "$@"; }
ticks=$(getconf CLK_TCK)
cpu_s() { awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pct() { awk -v a="$1" -v t="$2" 'BEGIN { printf "%.3f", 100 * a / t }'; }

# One profiler (its argv) on the load: its CPU during a window of SECS
# seconds once it runs (steady state: BPF run time of our program plus the
# process), and the whole process's CPU from start to exit (time(1)).
# Prints "steady% whole_cpu_s bpf_ns_per_run rss_kib".
measure() {
	local kind=$1 before ids p c0 c1 b0=0 b1=0 n0=0 n1=0
	shift
	load
	before=$(sp_ids)
	/usr/bin/time -f '%U %S %M' -o "$TMP/time" "$@" >"$TMP/out" 2>"$TMP/err" &
	local tp=$!
	for _ in $(seq 50); do p=$(pgrep -P "$tp" | head -1); [ -n "$p" ] && break; sleep 0.1; done
	sleep 1.5
	ids=$(new_ids "$before" "$(sp_ids)")
	[ "$kind" = sp ] && { b0=$(bpf_sum "$ids" run_time_ns); n0=$(bpf_sum "$ids" run_cnt); }
	c0=$(cpu_s "$p")
	sleep "$SECS"
	c1=$(cpu_s "$p")
	[ "$kind" = sp ] && { b1=$(bpf_sum "$ids" run_time_ns); n1=$(bpf_sum "$ids" run_cnt); }
	stop "$p"
	wait "$tp" 2>/dev/null
	unload
	local u sy rss
	read -r u sy rss <"$TMP/time"
	echo "$(pct "$(awk -v c="$c1" -v d="$c0" -v b=$((b1 - b0)) 'BEGIN { print c - d + b / 1e9 }')" "$SECS") \
$(awk -v u="$u" -v s="$sy" 'BEGIN { print u + s }') $(awk -v b=$((b1 - b0)) -v n=$((n1 - n0)) 'BEGIN { printf "%.0f", n ? b / n : 0 }') $rss"
}

sysctl -qw kernel.bpf_stats_enabled=1
printf '# %s, a window of %s s per run, both CPUs busy (two bpfkit-burn --spread); a busy shared machine\n' "$(uname -r)" "$SECS"
printf '# CPU%%: of one core in the window (stackprof: BPF run time + its process; perf: its process only)\n'
printf '# whole s: the process from start to exit (load, symbols, output; perf: + perf report)\n'
row HZ PROFILER SAMPLES "CPU%core" "whole s" "BPF ns/smp" "RSS KiB"
for hz in 49 999; do
	for unwind in fp dwarf; do
		read -r steady whole per rss < <(measure sp "$SP" -F "$hz" --unwind "$unwind" --json)
		taken=$(jq -s 'map(select(.type=="summary"))[0].taken' "$TMP/out")
		row "$hz" "stackprof --unwind $unwind" "$taken" "$steady" "$whole" "$per" "$rss"
	done
	read -r steady whole per rss < <(measure perf perf record -q -a -g -e cpu-clock -F "$hz" -o "$TMP/perf.data")
	/usr/bin/time -f '%U %S %M' -o "$TMP/report.time" perf report -i "$TMP/perf.data" --stdio >/dev/null 2>&1
	read -r ru rs rrss <"$TMP/report.time"
	n=$(perf script -i "$TMP/perf.data" -F period 2>/dev/null | grep -c .)
	row "$hz" "perf record -g" "$n" "$steady" "$whole" "-" "$rss"
	row "$hz" "perf record -g + report" "$n" "$steady" "$(awk -v w="$whole" -v a="$ru" -v b="$rs" 'BEGIN { print w + a + b }')" "-" "$rrss"
done

# Symbolization of a large binary: clang compiling for SECS seconds, every
# process of it captured at its first sample and named at the end.
echo
echo "# symbolizing a profile of clang (libclang-cpp, libLLVM): $SECS s at 999 Hz"
cat >"$TMP/big.cpp" <<'CPP'
#include <map>
#include <regex>
#include <string>
#include <vector>
int main() {
    std::map<std::string, std::vector<std::regex>> m;
    m["a"].emplace_back("a+b*");
    return static_cast<int>(m.size());
}
CPP
(
	end=$((SECONDS + SECS))
	while [ $SECONDS -lt $end ]; do clang++ -O2 -c "$TMP/big.cpp" -o "$TMP/big.o" 2>/dev/null; done
) &
loader=$!
"$SP" -F 999 -d "$SECS" --json -v >"$TMP/clang.json" 2>"$TMP/clang.err"
wait "$loader" 2>/dev/null
jq -r 'select(.type=="summary") | "stacks \(.stacks)  processes \(.processes_symbolized)  maps read at first sight \(.capture_ms | floor) ms  symbolization at the end \(.symbolize_ms | floor) ms"' "$TMP/clang.json"
jq -s -r '[.[] | select(.type=="stack") | .frames[] | select(.kernel | not) | .name] as $f
	| "user frames \($f | length), named \([$f[] | select(startswith("[") | not)] | length)"' "$TMP/clang.json"
