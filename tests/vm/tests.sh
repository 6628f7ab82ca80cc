#!/bin/sh
# The in-VM test runner (busybox sh), started by /init. It runs bpfcheck once
# (its JSON report is shared by every check), then sources each
# /bpfkit/checks.d/*.sh in order, each in a subshell of its own.
#
# A check file reports with these functions; the host numbers the results
# and prefixes the kernel release, so a file only names what it checks:
#   ok DESC                   a pass
#   not_ok DESC [DIAG...]     a failure, with lines that say why
#   skip DESC WHY             a skip
#   check DESC CMD [ARG...]   runs CMD: pass if it exits 0, else a failure
#                             showing the end of its output
#   is DESC GOT WANT          pass if GOT = WANT, else a failure naming both
#   diag TEXT...              a comment line in the TAP
# and these facts:
#   $KREL            uname -r of the kernel under test
#   $BIN             /bpfkit/bin: bpfcheck and every other tool of build/tools/*/
#   $TESTBIN         /bpfkit/tests: the gtest binaries
#   $DATA            /bpfkit/data: tests/vm/data/ from the tree, if any
#   $REDUCED_BTF     /reduced.btf: min_core_btf of this kernel for build/bpf/*.bpf.o
#   $WORK            a private scratch directory for the check file
#   $REPORT, $REPORT_RC   bpfcheck --json output and exit status
#   feature NAME     the JSON record of one bpfcheck feature
#   tool_row TOOL    the JSON record of one bpfcheck tool row
#   wait_for SECS CMD...  polls CMD every 10 ms for at most SECS; true once it succeeds
#   dead PID         true once PID is gone
#   bg_start TOOL OUT ARGS..., bg_stop   a tool in the background until it says
#                    "TOOL: mode: ", and its stop by SIGINT (BG_PID, BG_RC)
#   explain_bpfcheck ARGS...  bpfcheck -v ARGS: libbpf's and the verifier's words
#                    to the TAP (the end of each log) and the console (all)
# jq is there.
export KREL BIN=/bpfkit/bin TESTBIN=/bpfkit/tests DATA=/bpfkit/data REDUCED_BTF=/reduced.btf
KREL=$(uname -r)
export PATH="$BIN:$PATH"

emit() { echo "BPFKIT-VM $*"; }
ok() { emit "ok $*"; }
not_ok() {
	emit "not ok $1"
	shift
	for line in "$@"; do
		printf '%s\n' "$line" | while IFS= read -r l; do emit "#   $l"; done
	done
}
skip() { emit "ok $1 # skip $2"; }
diag() { emit "# $*"; }
check() {
	desc=$1
	shift
	if out=$("$@" 2>&1); then
		ok "$desc"
	else
		not_ok "$desc" "exit $?: $*" "$(printf '%s\n' "$out" | tail -n 15)"
	fi
}
is() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got '$2', want '$3'"; fi
}
# Runs bpfcheck -v with the given arguments: the whole output goes to the
# console log, and the end of each verifier log plus libbpf's last words to the TAP.
explain_bpfcheck() {
	"$BIN/bpfcheck" -v "$@" >/tmp/explain.txt 2>&1
	echo "---- bpfcheck -v $* ----"
	cat /tmp/explain.txt
	echo "----"
	grep -n 'END PROG LOAD LOG' /tmp/explain.txt | cut -d: -f1 | while read -r end; do
		diag "bpfcheck -v $*: the verifier log before its line $end:"
		head -n "$end" /tmp/explain.txt | tail -n 14 | while IFS= read -r l; do diag "  $l"; done
	done
	grep '^libbpf:' /tmp/explain.txt | grep -v 'PROG LOAD LOG' | tail -n 6 | while IFS= read -r l; do diag "  $l"; done
}
feature() { jq -c --arg n "$1" 'select(.type=="feature" and .name==$n)' "$REPORT" 2>/dev/null; }
tool_row() { jq -c --arg t "$1" 'select(.type=="tool" and .tool==$t)' "$REPORT" 2>/dev/null; }

uptime_s() { cut -d' ' -f1 /proc/uptime; }
# Polls CMD every 10 ms for at most $1 seconds; true once it succeeds.
wait_for() { # seconds cmd...
	local _wn=$(($1 * 100))
	shift
	while [ "$_wn" -gt 0 ]; do
		"$@" && return 0
		sleep 0.01
		_wn=$((_wn - 1))
	done
	"$@"
}
dead() { ! kill -0 "$1" 2>/dev/null; }
# A tool of $BIN in the background, stdout to $2.jsonl and stderr to $2.err;
# true once its stderr has a line "TOOL: mode: ..." (capture has begun).
# Sets BG_PID.
bg_start() { # tool out-prefix tool-args...
	BG_TOOL=$1 BG_OUT=$2
	shift 2
	# (a file left by an earlier run of the same name could show its
	# "mode:" line before the new process truncates it)
	rm -f "$BG_OUT.jsonl" "$BG_OUT.err"
	"$BIN/$BG_TOOL" "$@" >"$BG_OUT.jsonl" 2>"$BG_OUT.err" &
	BG_PID=$!
	wait_for 30 bg_started
	grep -q "^$BG_TOOL: mode: " "$BG_OUT.err"
}
bg_started() { grep -q "^$BG_TOOL: mode: " "$BG_OUT.err" || dead "$BG_PID"; }
# SIGINT to it, KILL after 20 s; sets BG_RC (137 when KILLed).
bg_stop() {
	kill -INT "$BG_PID" 2>/dev/null
	wait_for 20 dead "$BG_PID" || kill -KILL "$BG_PID" 2>/dev/null
	wait "$BG_PID"
	BG_RC=$?
}

export REPORT=/tmp/bpfcheck.jsonl REPORT_RC
t0=$(uptime_s)
timeout 120 "$BIN/bpfcheck" --json >"$REPORT" 2>/tmp/bpfcheck.err
REPORT_RC=$?

echo "BPFKIT-VM-BEGIN $KREL"
diag "booted in ${t0} s; bpfcheck --json took $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN {printf "%.1f", b - a}') s"
for f in /bpfkit/checks.d/*.sh; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .sh)
	WORK=/tmp/check-$name
	mkdir -p "$WORK"
	diag "-- $name (at $(uptime_s) s)"
	rm -f "$WORK.done"
	(
		cd "$WORK" || exit 1
		# shellcheck disable=SC1090
		. "$f"
		: >"$WORK.done"
	)
	rc=$?
	# A file that calls exit, or that the shell gives up on, did not run all its checks.
	[ -e "$WORK.done" ] || not_ok "$name ran to its end" "the check file stopped early (exit $rc)"
done
diag "-- end (at $(uptime_s) s)"
