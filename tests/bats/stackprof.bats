#!/usr/bin/env bats
# stackprof against ground truth: bpfkit-burn (tests/gen/burn.cpp) spends a
# known share of its time in burn_a and burn_b, through main -> sp_outer ->
# sp_middle, and prints the CPU time it measured in each. It is built with and
# without frame pointers. perf record -g on the same load is the peer whose
# ranking of functions must agree.

# shellcheck disable=SC2016 # jq and awk programs in single quotes

load helpers

bats_require_minimum_version 1.5.0

# stackprof's BPF programs are all named stackprof_* (bpf/stackprof.bpf.c).
OUR_PROGS='^(probe_|netproc_|selftest_|bpfkit|independent_|stackprof)'

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	snapshot_kernel_state
	SP=$(bin stackprof)
	BURN_FP=$BUILD/tests/gen/bpfkit-burn-fp
	BURN_NOFP=$BUILD/tests/gen/bpfkit-burn-nofp
	export SP BURN_FP BURN_NOFP
	MODE=$("$(bin bpfcheck)" --json -t stackprof | jq -r 'select(.type=="tool").mode')
	export MODE
}

teardown_file() {
	check_nothing_left
}

setup() {
	snapshot_kernel_state
}

teardown() {
	for p in ${BG_PIDS:-}; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	check_nothing_left
}

# Starts a burn in the background: burn BINARY SECONDS [args] -> $BURN_PID, truth in $T/burn.json
burn() {
	local bin=$1 secs=$2
	shift 2
	"$bin" --seconds "$secs" "$@" >"$BATS_TEST_TMPDIR/burn.json" &
	BURN_PID=$!
	BG_PIDS="${BG_PIDS:-} $BURN_PID"
}

# Profiles one whole burn: the burn waits (--go-file) until stackprof has
# begun, and stackprof is stopped once the burn has ended, so the burn's own
# measurement and the samples cover the same run.
#   profile_whole OUT BURN SECONDS [stackprof args]; truth in $BATS_TEST_TMPDIR/burn.json
profile_whole() {
	local out=$1 bin=$2 secs=$3 sp i
	shift 3
	rm -f "$BATS_TEST_TMPDIR/go" "$BATS_TEST_TMPDIR/ready"
	"$bin" --seconds "$secs" --ready-file "$BATS_TEST_TMPDIR/ready" --go-file "$BATS_TEST_TMPDIR/go" \
		>"$BATS_TEST_TMPDIR/burn.json" &
	BURN_PID=$!
	BG_PIDS="${BG_PIDS:-} $BURN_PID"
	for i in $(seq 200); do [ -s "$BATS_TEST_TMPDIR/ready" ] && break; sleep 0.05; done
	"$SP" -p "$BURN_PID" "$@" >"$out" 2>"$out.err" &
	sp=$!
	BG_PIDS="$BG_PIDS $sp"
	for i in $(seq 200); do grep -qs '^stackprof: mode:' "$out.err" && break; sleep 0.05; done
	touch "$BATS_TEST_TMPDIR/go"
	wait "$BURN_PID"
	kill -INT "$sp"
	wait "$sp"
	cat "$out.err"
}

# The share (percent) of samples of a folded file whose stacks end in FUNC.
self_pct() { # file func
	awk -v f="$2" '{ n = $NF; t += n; k = $0; sub(/ [0-9]+$/, "", k); m = split(k, a, ";");
		if (a[m] == f) s += n } END { printf "%.2f\n", t ? 100 * s / t : 0 }' "$1"
}
# The share (percent) of samples whose stack holds the chain given as "a;b;c".
chain_pct() { # file chain
	awk -v c=";$2;" '{ n = $NF; t += n; k = $0; sub(/ [0-9]+$/, "", k);
		if (index(k ";", c) > 0) s += n } END { printf "%.2f\n", t ? 100 * s / t : 0 }' "$1"
}
# Within D percentage points: close A B D
close() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { x = a - b; if (x < 0) x = -x; exit !(x <= d) }'; }
sum_counts() { awk '{ t += $NF } END { print t + 0 }' "$1"; }

# The burn's own measurement: burn_a's share of burn_a + burn_b.
truth_a_pct() { jq -r '100 * .burn_a_ns / (.burn_a_ns + .burn_b_ns)' "$BATS_TEST_TMPDIR/burn.json"; }

@test "stackprof runs in the mode bpfcheck predicts, names it, and counts every sample taken" {
	[ "$MODE" = perf_event ]
	burn "$BURN_FP" 10 # ended by teardown
	run --separate-stderr "$SP" -p "$BURN_PID" -F 199 -d 2
	echo "$stderr"
	[ "$status" -eq 0 ]
	grep -q "^stackprof: mode: perf_event " <<<"$stderr"
	# taken = filtered + kept + lost, and kept = what was printed.
	local line taken filtered kept lost
	line=$(grep '^stackprof: samples:' <<<"$stderr")
	taken=$(sed -n 's/.*taken \([0-9]*\),.*/\1/p' <<<"$line")
	filtered=$(sed -n 's/.*filtered out \([0-9]*\),.*/\1/p' <<<"$line")
	kept=$(sed -n 's/.*kept \([0-9]*\),.*/\1/p' <<<"$line")
	lost=$(sed -n 's/.*, lost \([0-9]*\) .*/\1/p' <<<"$line")
	[ "$kept" -gt 50 ]
	[ "$taken" -eq $((filtered + kept + lost)) ]
	echo "$output" >"$BATS_TEST_TMPDIR/f"
	[ "$(sum_counts "$BATS_TEST_TMPDIR/f")" -eq "$kept" ]
	# Every line is "comm;frames count" of the one process asked for.
	! grep -vE '^bpfkit-burn-fp;.+ [0-9]+$' "$BATS_TEST_TMPDIR/f"
}

@test "frame pointers: the chain main;sp_outer;sp_middle;burn_a and the 70/30 split within 5 points of the burn's own clock" {
	# The burn's clock is the truth; its 70% is by construction (7:3 iterations).
	profile_whole "$BATS_TEST_TMPDIR/f" "$BURN_FP" 4 -F 999
	local a b truth chain
	a=$(self_pct "$BATS_TEST_TMPDIR/f" burn_a)
	b=$(self_pct "$BATS_TEST_TMPDIR/f" burn_b)
	truth=$(truth_a_pct)
	chain=$(chain_pct "$BATS_TEST_TMPDIR/f" "main;sp_outer;sp_middle;burn_a")
	echo "burn_a $a%, burn_b $b%, truth burn_a $truth%, chain to burn_a in $chain% of samples"
	[ "$(sum_counts "$BATS_TEST_TMPDIR/f")" -ge 300 ]
	close "$truth" 70 5
	# burn_a's share of the burn_a + burn_b samples, against the measured share.
	close "$(awk -v a="$a" -v b="$b" 'BEGIN { print 100 * a / (a + b) }')" "$truth" 5
	close "$(awk -v a="$a" -v b="$b" 'BEGIN { print a + b }')" 100 5
	close "$chain" "$a" 2
}

@test "DWARF unwinding finds the chain in the build without frame pointers, where frame pointers do not" {
	profile_whole "$BATS_TEST_TMPDIR/d" "$BURN_NOFP" 4 -F 999 --unwind dwarf
	grep -q '^stackprof: mode: perf_event .*unwind dwarf' "$BATS_TEST_TMPDIR/d.err"
	local a b truth chain_a chain_b
	a=$(self_pct "$BATS_TEST_TMPDIR/d" burn_a)
	b=$(self_pct "$BATS_TEST_TMPDIR/d" burn_b)
	truth=$(truth_a_pct)
	chain_a=$(chain_pct "$BATS_TEST_TMPDIR/d" "main;sp_outer;sp_middle;burn_a")
	chain_b=$(chain_pct "$BATS_TEST_TMPDIR/d" "main;sp_outer;sp_middle;burn_b")
	echo "dwarf: burn_a $a%, burn_b $b%, truth $truth%, chains $chain_a% + $chain_b%"
	[ "$(sum_counts "$BATS_TEST_TMPDIR/d")" -ge 300 ]
	close "$(awk -v a="$a" -v b="$b" 'BEGIN { print 100 * a / (a + b) }')" "$truth" 5
	close "$(awk -v a="$chain_a" -v b="$chain_b" 'BEGIN { print a + b }')" 100 5
	# The same build with frame-pointer unwinding loses the chain.
	burn "$BURN_NOFP" 10 # ended by teardown
	sleep 0.2
	"$SP" -p "$BURN_PID" -F 499 -d 2 >"$BATS_TEST_TMPDIR/f" 2>/dev/null
	local fp
	fp=$(chain_pct "$BATS_TEST_TMPDIR/f" "main;sp_outer;sp_middle;burn_a")
	echo "fp on the build without frame pointers: chain in $fp% of samples"
	close "$(self_pct "$BATS_TEST_TMPDIR/f" burn_a)" 0 100 # the leaf is still named
	awk -v f="$fp" 'BEGIN { exit !(f < 50) }'
}

@test "perf record -g on the same load finds the same top five functions, their shares within 2 points of perf's and 4 of the burn's own clock" {
	command -v perf >/dev/null || skip "needs perf (linux-perf, packaging/deps/test.txt)"
	local t=$BATS_TEST_TMPDIR i perf_pid sp_pid name ours theirs truth
	# The burn waits for both profilers, so its clock and their samples cover one run.
	"$BURN_FP" --seconds 4 --spread --ready-file "$t/ready" --go-file "$t/go" >"$t/burn.json" &
	BURN_PID=$!
	BG_PIDS="${BG_PIDS:-} $BURN_PID"
	for i in $(seq 200); do [ -s "$t/ready" ] && break; sleep 0.05; done
	perf record -q -e cpu-clock -F 999 -g -p "$BURN_PID" -o "$t/perf.data" 2>"$t/perf.err" &
	perf_pid=$!
	"$SP" -p "$BURN_PID" -F 999 --top 5 >"$t/top" 2>"$t/err" &
	sp_pid=$!
	BG_PIDS="$BG_PIDS $perf_pid $sp_pid"
	for i in $(seq 200); do grep -qs '^stackprof: mode:' "$t/err" && [ -s "$t/perf.data" ] && break; sleep 0.05; done
	sleep 0.2
	touch "$t/go"
	wait "$BURN_PID"
	kill -INT "$sp_pid" "$perf_pid"
	wait "$sp_pid" || true
	wait "$perf_pid" || true
	cat "$t/top" "$t/burn.json"
	# "name share" for the top five: ours from --top, perf's from its report,
	# the truth from the thread CPU time the burn spent in each function.
	awk 'NR > 2 { sub(/%/, "", $1); print $NF, $1 }' "$t/top" | sort >"$t/ours"
	perf report -i "$t/perf.data" --no-children --sort symbol -q --stdio -g none 2>/dev/null |
		awk '/%/ { sub(/%/, "", $1); print $3, $1 }' | head -5 | sort >"$t/theirs"
	jq -r '.spread_ns as $s | ($s | add) as $t | ["burn_a","burn_b","burn_c","burn_d","burn_e"] |
		to_entries[] | "\(.value) \(100 * $s[.key] / $t)"' "$t/burn.json" | sort >"$t/truth"
	[ "$(cut -d' ' -f1 "$t/ours" | xargs)" = "burn_a burn_b burn_c burn_d burn_e" ]
	[ "$(cut -d' ' -f1 "$t/theirs" | xargs)" = "burn_a burn_b burn_c burn_d burn_e" ]
	paste -d' ' "$t/ours" "$t/theirs" "$t/truth" >"$t/all"
	while read -r name ours _ theirs _ truth; do
		echo "$name: stackprof $ours%, perf $theirs%, burn's clock $truth%"
		close "$ours" "$theirs" 2 || return 1
		close "$ours" "$truth" 4 || return 1
	done <"$t/all"
}

@test "eight processes of one binary: each symbolized, its files opened once for all" {
	local pids='' i n1 opened
	for i in 1 2 3 4 5 6 7 8; do
		"$BURN_FP" --seconds 4 >/dev/null &
		pids="$pids,$!"
		BG_PIDS="${BG_PIDS:-} $!"
	done
	sleep 0.3
	# The burn maps its binary, libstdc++, libm, libgcc_s, libc and the
	# loader: the executable files of one of them.
	n1=$(awk '$2 ~ /x/ && $6 ~ /^\// {print $6}' "/proc/${pids##*,}/maps" | sort -u | wc -l)
	local f="$BATS_TEST_TMPDIR/eight.json"
	"$SP" -p "${pids#,}" -d 2 -F 199 --json >"$f" 2>"$f.err"
	# Every process named: no frame left as [bpfkit-burn-fp+0x...] (the
	# records merge stacks of one comm by their names), and nine samples in
	# ten in burn_a or burn_b.
	[ "$(jq -r 'select(.type=="stack") | .frames[].name | select(startswith("[bpfkit-burn"))' "$f")" = "" ]
	jq -e -s '[.[] | select(.type=="stack")] | ([.[] | select(.frames[-1].name | test("^burn_[ab]$")) | .count] | add) >= 0.9 * ([.[].count] | add)' "$f"
	jq -e 'select(.type=="summary") | .processes_symbolized == 8 and .files_unreadable == 0' "$f"
	# Those files opened once for all eight, not eight times.
	opened=$(jq 'select(.type=="summary").files_opened' "$f")
	echo "files opened $opened; executable files of one burn $n1" >&3
	[ "$opened" -ge 2 ]
	[ "$opened" -le "$n1" ]
}

@test "a process in its own mount namespace, gone before the end, is symbolized from its private binary" {
	local dir=$BATS_TEST_TMPDIR/bsp-ns
	mkdir -p "$dir"
	# The binary exists only inside the namespace, on a tmpfs mounted there.
	unshare -m --propagation private sh -c \
		"mount -t tmpfs bsp-ns '$dir' && cp '$BURN_FP' '$dir/nsburn' && exec '$dir/nsburn' --seconds 1.5" \
		>"$BATS_TEST_TMPDIR/burn.json" &
	BG_PIDS="$!"
	sleep 0.3
	[ ! -e "$dir/nsburn" ]
	"$SP" -F 499 -d 3 >"$BATS_TEST_TMPDIR/f" 2>"$BATS_TEST_TMPDIR/err"
	cat "$BATS_TEST_TMPDIR/err"
	grep '^nsburn;' "$BATS_TEST_TMPDIR/f" >"$BATS_TEST_TMPDIR/ns" || true
	[ "$(sum_counts "$BATS_TEST_TMPDIR/ns")" -ge 50 ]
	close "$(chain_pct "$BATS_TEST_TMPDIR/ns" "main;sp_outer;sp_middle")" 100 10
	# By now the process and its namespace are gone.
	! kill -0 "$BG_PIDS" 2>/dev/null
}

@test "JIT code is named from /tmp/perf-PID.map" {
	burn "$BURN_FP" 4 --jit
	sleep 0.3
	[ -s "/tmp/perf-$BURN_PID.map" ]
	"$SP" -p "$BURN_PID" -F 499 -d 2 >"$BATS_TEST_TMPDIR/f" 2>"$BATS_TEST_TMPDIR/err"
	cat "$BATS_TEST_TMPDIR/err"
	local jit
	jit=$(self_pct "$BATS_TEST_TMPDIR/f" jit_burn)
	echo "jit_burn: $jit% of samples"
	awk -v j="$jit" 'BEGIN { exit !(j >= 80) }'
	wait "$BURN_PID"
	[ ! -e "/tmp/perf-$BURN_PID.map" ]
}

@test "a syscall-heavy load has its kernel stacks below its user stack" {
	# Long enough for the three runs below on a loaded machine; teardown ends it.
	burn "$BURN_FP" 30 --syscalls
	sleep 0.2
	"$SP" -p "$BURN_PID" -F 499 -d 3 >"$BATS_TEST_TMPDIR/f" 2>"$BATS_TEST_TMPDIR/err"
	cat "$BATS_TEST_TMPDIR/err"
	local k
	k=$(grep -c '_\[k\]' "$BATS_TEST_TMPDIR/f" || true)
	echo "stacks with kernel frames: $k"
	[ "$k" -ge 1 ]
	# Most time is in read(2) from /dev/zero: the kernel side of it is named,
	# below libc's read (which has no frame pointer, so sp_syscalls is skipped:
	# the frame-pointer walk goes from read to main).
	awk '/;main;read;.*ksys_read_\[k\];vfs_read_\[k\]/ { s += $NF } { t += $NF }
		END { printf "in ksys_read/vfs_read: %.1f%%\n", 100 * s / t; exit !(s > t / 2) }' "$BATS_TEST_TMPDIR/f"
	# --user-only leaves them out, --kernel-only keeps only them.
	"$SP" -p "$BURN_PID" -F 199 -d 1 --user-only >"$BATS_TEST_TMPDIR/u" 2>/dev/null
	! grep -q '_\[k\]' "$BATS_TEST_TMPDIR/u"
	"$SP" -p "$BURN_PID" -F 199 -d 1 --kernel-only >"$BATS_TEST_TMPDIR/k" 2>/dev/null
	! grep -q ';main;' "$BATS_TEST_TMPDIR/k"
	grep -q '_\[k\]' "$BATS_TEST_TMPDIR/k"
}

@test "--json: every record carries the schema and the mode; the summary's kept is the stacks' sum" {
	burn "$BURN_FP" 10 # ended by teardown
	run --separate-stderr "$SP" -p "$BURN_PID" -F 199 -d 1.5 --json
	[ "$status" -eq 0 ]
	echo "$output" >"$BATS_TEST_TMPDIR/j"
	[ "$(jq -s 'map(select(.schema == "stackprof/1" and .mode == "perf_event")) | length' "$BATS_TEST_TMPDIR/j")" -eq "$(wc -l <"$BATS_TEST_TMPDIR/j")" ]
	jq -s -e '(map(select(.type == "stack") | .count) | add) == (map(select(.type == "summary"))[0].kept)' "$BATS_TEST_TMPDIR/j"
	jq -s -e 'map(select(.type == "stack") | .frames | map(.name)) | flatten | index("burn_a") != null' "$BATS_TEST_TMPDIR/j"
}

@test "--svg writes one self-contained flame graph with search and zoom; --top lists self and total" {
	burn "$BURN_FP" 10 # ended by teardown
	"$SP" -p "$BURN_PID" -F 199 -d 1.5 --svg "$BATS_TEST_TMPDIR/g.svg" --top 10 >"$BATS_TEST_TMPDIR/top" 2>/dev/null
	python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$BATS_TEST_TMPDIR/g.svg"
	grep -q '<script' "$BATS_TEST_TMPDIR/g.svg"
	grep -q 'function search' "$BATS_TEST_TMPDIR/g.svg"
	grep -q 'function zoom' "$BATS_TEST_TMPDIR/g.svg"
	! grep -Eq '(href|src)=' "$BATS_TEST_TMPDIR/g.svg"
	grep -q '<title>burn_a (' "$BATS_TEST_TMPDIR/g.svg"
	cat "$BATS_TEST_TMPDIR/top"
	sed -n 3p "$BATS_TEST_TMPDIR/top" | grep -q ' burn_a$'
	# sp_middle: no time of its own, in (nearly) every stack.
	awk '$NF == "sp_middle" { exit !($1 == "0.00%" && $3 + 0 >= 95) }' "$BATS_TEST_TMPDIR/top"
	grep -q ' sp_middle$' "$BATS_TEST_TMPDIR/top"
}

@test "--cgroup and --tid keep only the tasks asked for, in the kernel" {
	local root cg inside outside
	root=$(findmnt -t cgroup2 -n -o TARGET | head -1)
	[ -n "$root" ] || skip "no cgroup2 mount"
	cg=$root/bsp-cg-$$
	mkdir "$cg"
	burn "$BURN_FP" 15
	inside=$BURN_PID
	echo "$inside" >"$cg/cgroup.procs"
	burn "$BURN_FP" 15
	outside=$BURN_PID
	"$SP" --cgroup "$cg" -F 199 -d 1.5 --json >"$BATS_TEST_TMPDIR/cg" 2>/dev/null
	"$SP" --tid "$outside" -F 199 -d 1.5 --json >"$BATS_TEST_TMPDIR/tid" 2>/dev/null
	kill -KILL "$inside" "$outside" 2>/dev/null || true
	wait "$inside" "$outside" 2>/dev/null || true
	rmdir "$cg"
	[ "$(jq -r 'select(.type=="stack") | .pid' "$BATS_TEST_TMPDIR/cg" | sort -u | xargs)" = "$inside" ]
	[ "$(jq -r 'select(.type=="stack") | .pid' "$BATS_TEST_TMPDIR/tid" | sort -u | xargs)" = "$outside" ]
	jq -s -e 'map(select(.type=="summary"))[0] | .filtered > 0 and .kept > 50' "$BATS_TEST_TMPDIR/cg"
}

@test "bad input: no such pid, an unwritable --svg path, -F 0, unknown event: one line, exit 2" {
	run --separate-stderr "$SP" -p 2147483646 -d 1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no such process"* ]]
	run --separate-stderr "$SP" -d 1 --svg /proc/bsp-nonexistent/g.svg
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--svg /proc/bsp-nonexistent/g.svg"* ]]
	run --separate-stderr "$SP" -F 0 -d 1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"-F"* || "$stderr" == *"frequency"* ]]
	run --separate-stderr "$SP" --event bogus -d 1
	[ "$status" -eq 2 ]
	run --separate-stderr "$SP" --unwind lbr -d 1
	[ "$status" -eq 2 ]
	run --separate-stderr "$SP" --kernel-only --user-only -d 1
	[ "$status" -eq 2 ]
}

@test "a hardware event missing here falls back to cpu-clock and says so" {
	run --separate-stderr "$SP" --event cycles -F 49 -d 0.5
	[ "$status" -eq 0 ]
	echo "$stderr"
	if grep -q 'event cycles at' <<<"$stderr"; then
		skip "this machine has a cycles event: no fallback to see"
	fi
	grep -q 'no hardware event cycles here' <<<"$stderr"
	grep -q 'event cpu-clock at 49 Hz' <<<"$stderr"
}

@test "without privileges: exit 2 and one line naming the capabilities and the setcap fix" {
	run --separate-stderr setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$SP" -d 1
	echo "$stderr"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"CAP_BPF"*"setcap "* ]]
}

@test "killed with SIGKILL while sampling, it leaves no program or link behind" {
	"$SP" -F 99 -d 30 >/dev/null 2>&1 &
	local p=$!
	BG_PIDS="$p"
	sleep 1
	[ -n "$(new_of_ours prog)" ]
	kill -KILL "$p"
	wait "$p" 2>/dev/null || true
}

@test "--help and --version name the command" {
	run "$SP" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--unwind"* ]]
	[[ "$output" == *"--svg"* ]]
	run "$SP" --version
	[ "$status" -eq 0 ]
	[[ "$output" == "stackprof (bpfkit) "* ]]
}

# A copy of the FP burn with no symbols at all (strip --strip-all), its
# symbols in a separate debug file: $BATS_TEST_TMPDIR/dbg/bsp-stripped and
# $BATS_TEST_TMPDIR/dbg/bsp-stripped.debug. Prints the build-id.
stripped_burn() {
	local d=$BATS_TEST_TMPDIR/dbg
	mkdir -p "$d"
	cp "$BURN_FP" "$d/bsp-stripped"
	objcopy --only-keep-debug "$d/bsp-stripped" "$d/bsp-stripped.debug"
	strip --strip-all "$d/bsp-stripped"
	[ -z "$(nm "$d/bsp-stripped" 2>/dev/null)" ] # nothing left to name it by
	readelf -n "$d/bsp-stripped" | awk '/Build ID/ {print $3}'
}

# The chain and both hot functions are named, from the debug file alone.
named_from_debug_file() { # folded-file
	sort -k2 -n -r -t" " "$1" | head -n 3 # shown on failure
	echo "burn_a $(self_pct "$1" burn_a)%, chain $(chain_pct "$1" "main;sp_outer;sp_middle;burn_a")%"
	[ "$(chain_pct "$1" "main;sp_outer;sp_middle;burn_a")" != 0.00 ]
	awk -v t="$(sum_counts "$1")" '{ k = $0; sub(/ [0-9]+$/, "", k); n = split(k, a, ";");
		if (a[n] == "burn_a" || a[n] == "burn_b") s += $NF } END { exit !(s >= 0.8 * t) }' "$1"
}

@test "a stripped binary is named from the debug file its .gnu_debuglink names" {
	stripped_burn >/dev/null
	objcopy --add-gnu-debuglink="$BATS_TEST_TMPDIR/dbg/bsp-stripped.debug" "$BATS_TEST_TMPDIR/dbg/bsp-stripped"
	profile_whole "$BATS_TEST_TMPDIR/f" "$BATS_TEST_TMPDIR/dbg/bsp-stripped" 2 -F 199
	named_from_debug_file "$BATS_TEST_TMPDIR/f"
}

@test "a stripped binary is named from debuginfod (DEBUGINFOD_URLS) by its build-id" {
	local id port srv
	id=$(stripped_burn)
	[ -n "$id" ]
	# A debuginfod of our own: /buildid/ID/debuginfo over HTTP on loopback.
	mkdir -p "$BATS_TEST_TMPDIR/srv/buildid/$id"
	mv "$BATS_TEST_TMPDIR/dbg/bsp-stripped.debug" "$BATS_TEST_TMPDIR/srv/buildid/$id/debuginfo"
	python3 -c 'import functools, http.server, sys
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
s = http.server.HTTPServer(("127.0.0.1", 0), h)
open(sys.argv[2], "w").write(str(s.server_address[1]))
s.serve_forever()' "$BATS_TEST_TMPDIR/srv" "$BATS_TEST_TMPDIR/port" 2>"$BATS_TEST_TMPDIR/http.log" &
	srv=$!
	BG_PIDS="${BG_PIDS:-} $srv"
	for _ in $(seq 100); do [ -s "$BATS_TEST_TMPDIR/port" ] && break; sleep 0.05; done
	port=$(cat "$BATS_TEST_TMPDIR/port")
	DEBUGINFOD_URLS="http://127.0.0.1:$port" DEBUGINFOD_CACHE_PATH="$BATS_TEST_TMPDIR/cache" \
		profile_whole "$BATS_TEST_TMPDIR/f" "$BATS_TEST_TMPDIR/dbg/bsp-stripped" 2 -F 199
	grep -q "GET /buildid/$id/debuginfo HTTP/1.1\" 200" "$BATS_TEST_TMPDIR/http.log"
	named_from_debug_file "$BATS_TEST_TMPDIR/f"
}
