#!/usr/bin/env bash
# stackprof's cost, next to perf record -g on the same load in the same run.
#   - two bpfkit-burn processes (five hot functions, frame pointers) keep both
#     CPUs busy for SECS seconds; each profiler samples every CPU meanwhile,
#     at 49 and at 999 Hz
#   - stackprof: BPF run time of its program (kernel.bpf_stats_enabled) plus
#     its own process's CPU, in % of one core; per sample: BPF ns
#   - perf record -g -a (cpu-clock): its process's CPU, and perf report's to
#     get to the same output (perf's round trip)
#   - perf's in-kernel cost (the callchain walk in the sampling interrupt,
#     the copy into its ring buffer) is charged to the interrupted tasks and
#     shows in no process's CPU time (the load's lost work would show it, but
#     on these shared machines its run-to-run noise is tens of %); so a
#     second table measures each profiler's in-kernel cost per sample the
#     way a sampled task feels it: bpfkit-gapmeter spins on CPU 0 at the
#     bottom of a 24-frame chain and times every gap of 0.4-50 us in its
#     run; the profiler (pinned to CPU 1) samples both CPUs at 999 Hz; its
#     cost per sample is the gap time it adds over a run with no profiler,
#     divided by the gaps it adds (rounds interleaved: none, stackprof, perf)
#   - symbolization time of a profile of clang (libclang-cpp and libLLVM)
# PARTS (default "table gaps clang") picks the parts to run.
# Run as root after ./dev build; needs packaging/deps/bench.txt installed.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SP=$BUILD/tools/stackprof/stackprof
BURN=$BUILD/tests/gen/bpfkit-burn-fp
GAPMETER=$BUILD/tests/gen/bpfkit-gapmeter
ROUNDS=${ROUNDS:-3}
PARTS=${PARTS:-table gaps clang}
part() { [[ " $PARTS " == *" $1 "* ]]; }
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

# The load: two bpfkit-burn --spread (both CPUs busy) for SECS seconds, in
# the foreground; prints the rounds of work both did.
run_load() {
	"$BURN" --spread --seconds "$SECS" >"$TMP/l1" &
	local a=$!
	"$BURN" --spread --seconds "$SECS" >"$TMP/l2" &
	wait $a $!
	jq -s 'map(.rounds) | add' "$TMP/l1" "$TMP/l2"
}
# SIGINT, then SIGTERM.
stop() {
	kill -INT "$1" 2>/dev/null
	for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}
row() { printf '%-5s %-24s %8s %9s %8s %10s %9s\n' "$@"; }
ticks=$(getconf CLK_TCK)
cpu_s() { awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# One profiler (its argv), started, then the load for SECS seconds: its CPU
# during the load (BPF run time of our program plus its process), its whole
# process from start to exit (time(1)), and the load's work meanwhile.
# Prints "cpu_pct whole_s bpf_ns_per_run rss_kib rounds".
measure() {
	local kind=$1 before ids p c0 c1 b0=0 b1=0 n0=0 n1=0 rounds
	shift
	before=$(sp_ids)
	/usr/bin/time -f '%U %S %M' -o "$TMP/time" "$@" >"$TMP/out" 2>"$TMP/err" &
	local tp=$!
	for _ in $(seq 50); do p=$(pgrep -P "$tp" | head -1); [ -n "$p" ] && break; sleep 0.1; done
	sleep 1.5
	ids=$(new_ids "$before" "$(sp_ids)")
	[ "$kind" = sp ] && { b0=$(bpf_sum "$ids" run_time_ns); n0=$(bpf_sum "$ids" run_cnt); }
	c0=$(cpu_s "$p")
	rounds=$(run_load)
	c1=$(cpu_s "$p")
	[ "$kind" = sp ] && { b1=$(bpf_sum "$ids" run_time_ns); n1=$(bpf_sum "$ids" run_cnt); }
	stop "$p"
	wait "$tp" 2>/dev/null
	local u sy rss
	read -r u sy rss < <(tail -1 "$TMP/time")
	echo "$(awk -v c="$c1" -v d="$c0" -v b=$((b1 - b0)) -v t="$SECS" 'BEGIN { printf "%.3f", 100 * (c - d + b / 1e9) / t }') \
$(awk -v u="$u" -v s="$sy" 'BEGIN { print u + s }') \
$(awk -v b=$((b1 - b0)) -v n=$((n1 - n0)) 'BEGIN { printf "%.0f", n ? b / n : 0 }') $rss $rounds"
}

sysctl -qw kernel.bpf_stats_enabled=1
printf '# %s; the load: two bpfkit-burn --spread for %s s (both CPUs busy); a busy shared machine\n' "$(uname -r)" "$SECS"
printf '# CPU%%: of one core during the load (stackprof: BPF run time + its process; perf: its process only)\n'
printf '# whole s: the process from start to exit (load, symbols, output; perf: + perf report)\n'
if part table; then
	row HZ PROFILER SAMPLES "CPU%core" "whole s" "BPF ns/smp" "RSS KiB"
	for hz in 49 999; do
		for unwind in fp dwarf; do
			read -r cpu whole per rss rounds < <(measure sp "$SP" -F "$hz" --unwind "$unwind" --json)
			taken=$(jq -s 'map(select(.type=="summary"))[0].taken' "$TMP/out")
			[ "$taken" = null ] && echo "# stackprof -F $hz --unwind $unwind printed no summary: $(tail -3 "$TMP/err" | tr '\n' ' ')"
			row "$hz" "stackprof --unwind $unwind" "$taken" "$cpu" "$whole" "$per" "$rss"
		done
		read -r cpu whole per rss rounds < <(measure perf perf record -q -a -g -e cpu-clock -F "$hz" -o "$TMP/perf.data")
		/usr/bin/time -f '%U %S %M' -o "$TMP/report.time" perf report -i "$TMP/perf.data" --stdio >/dev/null 2>&1
		read -r ru rs rrss < <(tail -1 "$TMP/report.time")
		n=$(perf script -i "$TMP/perf.data" -F period 2>/dev/null | grep -c .)
		row "$hz" "perf record -g" "$n" "$cpu" "$whole" "-" "$rss"
		row "$hz" "perf record -g + report" "$n" "$cpu" "$(awk -v w="$whole" -v a="$ru" -v b="$rs" 'BEGIN { print w + a + b }')" "-" "$rrss"
	done
fi

# In-kernel cost per sample at 999 Hz (see the top): ROUNDS rounds of
# SECS seconds each of: no profiler, stackprof, perf record -g.
# gap_run KIND [PROFILER ARGV]: prints "gaps gap_ns run_s samples_per_s
# process_s report_s": run_s is the time the gapmeter was on its CPU (its
# run less the gaps over 50 us, where other tasks of a shared machine ran);
# process_s the profiler's CPU from start to exit; report_s perf report's.
gap_run() {
	local kind=$1 tp='' p='' n=0 g whole=0 rep=0
	shift
	if [ "$kind" != none ]; then
		taskset -c 1 /usr/bin/time -f '%U %S' -o "$TMP/gtime" "$@" >"$TMP/gout" 2>"$TMP/gerr" &
		tp=$!
		for _ in $(seq 50); do p=$(pgrep -P "$tp" | head -1); [ -n "$p" ] && break; sleep 0.1; done
		sleep 2
	fi
	g=$("$GAPMETER" --cpu 0 --depth 24 --seconds "$SECS")
	if [ -n "$p" ]; then
		stop "$p"
		wait "$tp" 2>/dev/null
		whole=$(tail -1 "$TMP/gtime" | awk '{ print $1 + $2 }')
		if [ "$kind" = sp ]; then
			n=$(jq -s 'map(select(.type=="summary"))[0] | .taken / .seconds' "$TMP/gout")
		else
			n=$(perf script -i "$TMP/gperf.data" -F time 2>/dev/null | tr -d ':' |
				awk 'NR == 1 { a = $1 } { b = $1; n++ } END { print (b > a) ? n / (b - a) : 0 }')
			taskset -c 1 /usr/bin/time -f '%U %S' -o "$TMP/rtime" perf report -i "$TMP/gperf.data" --stdio >/dev/null 2>&1
			rep=$(tail -1 "$TMP/rtime" | awk '{ print $1 + $2 }')
		fi
	fi
	echo "$(jq -r '"\(.gaps) \(.gap_ns) \(.seconds - .longer_ns / 1e9)"' <<<"$g") $n $whole $rep"
}
if part gaps; then
	echo
	echo "# in-kernel cost per sample at 999 Hz, felt by a task spinning on CPU 0 at the bottom of 24 frames"
	echo "# (bpfkit-gapmeter; the profiler pinned to CPU 1, started 2 s before; $ROUNDS rounds of $SECS s, interleaved)"
	: >"$TMP/gaps"
	for r in $(seq "$ROUNDS"); do
		for k in none sp perf; do
			case $k in
			none) line=$(gap_run none) ;;
			sp) line=$(gap_run sp "$SP" -F 999 --unwind fp --json) ;;
			perf) line=$(gap_run perf perf record -q -a -g -e cpu-clock -F 999 -o "$TMP/gperf.data") ;;
			esac
			echo "$k $line" >>"$TMP/gaps"
			read -r n g t s w rp <<<"$line"
			printf '# round %s %-4s: %5d gaps, %6.2f ms of them, in %.2f s on the CPU; %4.0f samples/s; process %.2f s; report %.2f s\n' \
				"$r" "$k" "$n" "$(awk -v g="$g" 'BEGIN { print g / 1e6 }')" "$t" "$s" "$w" "$rp"
		done
	done
	printf '%-16s %10s %11s %9s %10s %9s %9s %11s %13s\n' PROFILER "gaps/s add" "kernel %cpu" "us/sample" \
		"samples/s" "process s" "report s" "total s" "total+report"
	# Per second on the CPU, summed over the rounds: the gaps a profiler adds
	# and their time, less the run with none. The gaps are its samples and
	# its other interrupts (perf's ring buffer wakeups, for one); their time
	# per sample is over the 999 samples a second of a busy CPU (samples/s
	# is of both CPUs, CPU 1 idle or not).
	# total s: a run of SECS + 2 s with both CPUs busy, the kernel's part
	# (2 x kernel %cpu) and the process's from start to exit.
	awk -v r="$ROUNDS" -v secs="$SECS" '
		{ n[$1] += $2; g[$1] += $3; t[$1] += $4; s[$1] += $5; w[$1] += $6; rp[$1] += $7 }
		END {
			split("sp perf", ks, " ")
			name["sp"] = "stackprof fp"; name["perf"] = "perf record -g"
			for (i = 1; i <= 2; i++) {
				k = ks[i]
				dn = n[k] / t[k] - n["none"] / t["none"]
				dg = g[k] / t[k] - g["none"] / t["none"]
				rate = s[k] / r
				per = dg / 999 / 1000
				kern = 2 * dg / 1e9 * (secs + 2)
				printf "%-16s %10.0f %11.2f %9.2f %10.0f %9.2f %9.2f %11.2f %13.2f\n", name[k], dn, dg / 1e7, per,
					rate, w[k] / r, rp[k] / r, kern + w[k] / r, kern + (w[k] + rp[k]) / r
			}
		}' "$TMP/gaps"
	echo "# kernel %cpu: the time the profiler adds in gaps, per second the task was on its CPU"
	echo "# total s: for a run of $((SECS + 2)) s with both CPUs busy, the kernel's part (2 CPUs x kernel %cpu)"
	echo "#   and the profiler's process from start to exit (stackprof: loading, capturing the maps of"
	echo "#   every new process of a busy machine, symbolizing, printing; perf: recording, its build-id pass)"
	echo "# total+report: with perf report, perf's second step to the same answer"
fi

# Symbolization of a large binary: clang compiling for SECS seconds, every
# process of it captured at its first sample and named at the end.
part clang || exit 0
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
sysctl -qw kernel.bpf_stats_enabled=0
(
	end=$((SECONDS + SECS))
	while [ $SECONDS -lt $end ]; do clang++ -O2 -c "$TMP/big.cpp" -o "$TMP/big.o" 2>/dev/null; done
) &
loader=$!
"$SP" -F 999 -d "$SECS" --max-stacks 65536 --json -v >"$TMP/clang.json" 2>"$TMP/clang.err"
wait "$loader" 2>/dev/null
jq -r 'select(.type=="summary") | "stacks \(.stacks) (lost to a full map: \(.lost_map_full))  processes \(.processes_symbolized)  maps read (first sight, again at later samples) \(.capture_ms | floor) ms  symbolization at the end \(.symbolize_ms | floor) ms"' "$TMP/clang.json"
# The innermost user frame (the sampled instruction: exact in any unwinding)
# of clang's samples, named or not.
jq -s -r '[.[] | select(.type=="stack" and (.comm | startswith("clang"))) | {c: .count,
	n: ([.frames[] | select(.kernel | not)] | last | .name // null)} | select(.n != null)] as $f
	| "clang samples with a user frame \([$f[].c] | add), innermost frame named in \([$f[] | select(.n | startswith("[") | not) | .c] | add)"' "$TMP/clang.json"
