# stackprof on the kernels of the matrix: its one mode (perf_event) must run;
# bpfkit-burn-fp (70% of its time in burn_a, 30% in burn_b, measured by
# itself) profiled with frame pointers, and bpfkit-burn-nofp with --unwind
# dwarf: the chain main;sp_outer;sp_middle;burn_a and the split within 5
# points of the burn's own clock; kernel stacks for a read(2)-heavy load; and
# nothing of stackprof's left loaded afterwards. Sourced by tests.sh.

SP=$BIN/stackprof
BURN_FP=$BIN/bpfkit-burn-fp
BURN_NOFP=$BIN/bpfkit-burn-nofp

# The share of samples whose stacks end in $2 / hold the chain $2.
sp_self() { awk -v f="$2" '{ n = $NF; t += n; k = $0; sub(/ [0-9]+$/, "", k); m = split(k, a, ";");
	if (a[m] == f) s += n } END { printf "%.1f\n", t ? 100 * s / t : 0 }' "$1"; }
sp_chain() { awk -v c=";$2;" '{ n = $NF; t += n; k = $0; sub(/ [0-9]+$/, "", k);
	if (index(k ";", c) > 0) s += n } END { printf "%.1f\n", t ? 100 * s / t : 0 }' "$1"; }
# Of the samples taken in burn_a or burn_b (a frame of their stacks), the
# share whose stacks hold the whole chain main;sp_outer;sp_middle before it.
# (Samples elsewhere, such as in the burn's clock_gettime(CLOCK_THREAD_CPUTIME_ID)
# system calls in libc without frame pointers, are not the unwinder's to
# place; their share follows how slow the VM's clock is, up to 10% under TCG.)
sp_burn_chain() { awk '{ n = $NF; k = $0; sub(/ [0-9]+$/, "", k); k = ";" k ";";
	if (index(k, ";burn_a;") || index(k, ";burn_b;")) { t += n;
		if (index(k, ";main;sp_outer;sp_middle;burn_a;") || index(k, ";main;sp_outer;sp_middle;burn_b;")) s += n } }
	END { printf "%.1f\n", t ? 100 * s / t : 0 }' "$1"; }
sp_close() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { x = a - b; if (x < 0) x = -x; exit !(x <= d) }'; }

# One profile of one burn: sp_profile NAME BURN [stackprof args]; sets SP_A, SP_TRUTH,
# SP_CHAIN (of the burn functions' samples) and SP_ALL (of all samples).
sp_profile() {
	_n=$1 _b=$2
	shift 2
	# The burn waits until stackprof samples, and stackprof stops after the
	# burn: the burn's own measurement and the samples cover the same run.
	rm -f "$WORK/$_n.go" "$WORK/$_n.ready"
	"$_b" --seconds 4 --ready-file "$WORK/$_n.ready" --go-file "$WORK/$_n.go" >"$WORK/$_n.truth" &
	_bp=$!
	wait_for 20 test -s "$WORK/$_n.ready"
	"$SP" -p "$_bp" -F 499 "$@" >"$WORK/$_n.folded" 2>"$WORK/$_n.err" &
	_sp=$!
	wait_for 30 grep -qs '^stackprof: mode:' "$WORK/$_n.err"
	: >"$WORK/$_n.go"
	wait "$_bp"
	kill -INT "$_sp"
	wait "$_sp"
	SP_RC=$?
	SP_A=$(awk -v a="$(sp_self "$WORK/$_n.folded" burn_a)" -v b="$(sp_self "$WORK/$_n.folded" burn_b)" \
		'BEGIN { printf "%.1f", a + b ? 100 * a / (a + b) : 0 }')
	SP_TRUTH=$(jq -r '100 * .burn_a_ns / (.burn_a_ns + .burn_b_ns)' "$WORK/$_n.truth")
	SP_ALL=$(awk -v a="$(sp_chain "$WORK/$_n.folded" "main;sp_outer;sp_middle;burn_a")" \
		-v b="$(sp_chain "$WORK/$_n.folded" "main;sp_outer;sp_middle;burn_b")" 'BEGIN { print a + b }')
	SP_CHAIN=$(sp_burn_chain "$WORK/$_n.folded")
	[ "$SP_RC" -eq 0 ] || diag "stackprof $*: $(tail -5 "$WORK/$_n.err")"
	diag "stackprof $*: rc $SP_RC, burn_a $SP_A% (truth $SP_TRUTH%), chain in $SP_CHAIN% of burn_a/burn_b samples ($SP_ALL% of all); $(grep -o 'taken [0-9]*, filtered out [0-9]*, kept [0-9]*, lost [0-9]*' "$WORK/$_n.err")"
}

row=$(tool_row stackprof)
is "stackprof: bpfcheck: perf_event runs" "$(echo "$row" | jq -r .mode)" perf_event

sp_profile fp "$BURN_FP"
check "stackprof fp: exit 0, mode named" test "$SP_RC" -eq 0 -a -n "$(grep '^stackprof: mode: perf_event' "$WORK/fp.err")"
check "stackprof fp: burn_a's share within 5 points of the truth" sp_close "$SP_A" "$SP_TRUTH" 5
check "stackprof fp: the chain main;sp_outer;sp_middle in >= 95% of burn_a/burn_b's samples" sp_close "$SP_CHAIN" 100 5

sp_profile dwarf "$BURN_NOFP" --unwind dwarf
check "stackprof dwarf (no frame pointers): exit 0" test "$SP_RC" -eq 0
check "stackprof dwarf: burn_a's share within 5 points of the truth" sp_close "$SP_A" "$SP_TRUTH" 5
check "stackprof dwarf: the chain in >= 90% of burn_a/burn_b's samples (before 5.15 samples in the kernel have no user registers)" sp_close "$SP_CHAIN" 100 10

# The burn outlives the profile (stopped after it): its maps must still be
# there when stackprof names its user frames at the end (under TCG the
# start alone can take seconds; a burn gone by then leaves "[unknown]").
"$BURN_FP" --seconds 60 --syscalls >/dev/null &
_bp=$!
sleep 0.5
"$SP" -p "$_bp" -F 499 -d 2 >"$WORK/sys.folded" 2>"$WORK/sys.err"
kill "$_bp" 2>/dev/null
wait "$_bp"
diag "stackprof syscalls: $(awk '/;read;.*ksys_read_\[k\]/ { s += $NF } { t += $NF } END { printf "%d of %d samples under ksys_read", s, t }' "$WORK/sys.folded"); heaviest: $(sort -k2 -t' ' -n -r "$WORK/sys.folded" 2>/dev/null | awk '{ print $NF, $1 }' | sort -rn | head -2 | tr '\n' ' ' | cut -c1-400)"
check "stackprof: kernel stacks (ksys_read) under read(2) for a syscall-heavy load" \
	awk '/;read;.*ksys_read_\[k\]/ { s += $NF } { t += $NF } END { exit !(t > 0 && s > t / 2) }' "$WORK/sys.folded"

check "stackprof: no program of stackprof left loaded" \
	sh -c '! bpftool prog show 2>/dev/null | grep -q stackprof'
