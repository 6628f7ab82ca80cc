# Shared by the BATS files: where the built binaries are, and the check
# that a test run leaves nothing attached.

BUILD=${BPFKIT_BUILD:-$BATS_TEST_DIRNAME/../../build}
bin() { echo "$BUILD/tools/$1/$1"; }

# BPF programs and links that exist now, one id per line.
bpf_ids() { bpftool -j "$1" show 2>/dev/null | jq -r '.[].id' | sort -n; }

snapshot_kernel_state() {
	bpf_ids prog >"$BATS_FILE_TMPDIR/prog.before"
	bpf_ids link >"$BATS_FILE_TMPDIR/link.before"
	ip -o link show >"$BATS_FILE_TMPDIR/links-ip.before"
}

# bpfkit's programs are all named with one of these prefixes.
OUR_PROGS='^(probe_|netproc_|selftest_|bpfkit|independent_)'

# Ids of our programs (and of links to them) that were not there before.
new_of_ours() {
	local what=$1 ids
	bpf_ids "$what" >"$BATS_FILE_TMPDIR/$what.after"
	ids=$(comm -13 "$BATS_FILE_TMPDIR/$what.before" "$BATS_FILE_TMPDIR/$what.after")
	for id in $ids; do
		if [ "$what" = prog ]; then
			bpftool -j prog show id "$id" 2>/dev/null | jq -r '.name // empty'
		else
			pid=$(bpftool -j link show id "$id" 2>/dev/null | jq -r '.prog_id // empty')
			[ -n "$pid" ] && bpftool -j prog show id "$pid" 2>/dev/null | jq -r '.name // empty'
		fi
	done | grep -E "$OUR_PROGS" || true
}

# Fails when a program, link, interface or probe cgroup from the run is left.
# The kernel frees a program's id in deferred work after its last fd is
# closed, so give it up to two seconds.
check_nothing_left() {
	local left i
	for i in $(seq 20); do
		left="$(new_of_ours prog)$(new_of_ours link)"
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -n "$left" ]; then
		echo "bpfkit BPF programs or links left behind: $left" >&2
		bpftool prog show >&2
		return 1
	fi
	ip -o link show | cut -d: -f2 | sort >"$BATS_FILE_TMPDIR/ip.after"
	cut -d: -f2 "$BATS_FILE_TMPDIR/links-ip.before" | sort >"$BATS_FILE_TMPDIR/ip.before"
	if ! diff -q "$BATS_FILE_TMPDIR/ip.before" "$BATS_FILE_TMPDIR/ip.after" >/dev/null; then
		echo "network interfaces changed:" >&2
		diff "$BATS_FILE_TMPDIR/ip.before" "$BATS_FILE_TMPDIR/ip.after" >&2
		return 1
	fi
	if ls -d /sys/fs/cgroup/bpfkit-probe-* /sys/fs/cgroup/*/bpfkit-probe-* 2>/dev/null | grep -q .; then
		echo "probe cgroups left behind" >&2
		return 1
	fi
}

# The JSON record of one feature.
feature() { jq -c --arg n "$2" 'select(.type=="feature" and .name==$n)' "$1"; }

# ---- traffic with ground truth (tests/gen) ----

GEN=${BPFKIT_GEN:-$BUILD/tests/gen/bpfkit-trafficgen}

need_generator() {
	[ -x "$GEN" ] || {
		echo "no generator at $GEN (build it, or set BPFKIT_GEN)" >&2
		return 1
	}
}

# Two network namespaces, NSA (client side) and NSB (server side), joined by
# a veth pair made inside them, so nothing appears in the host namespace.
# Addresses: A4/B4 (10.231.0.1-2/30), A6/B6 (fd00:231::1-2/64).
make_netns_pair() {
	local prefix=$1
	export NSA="${prefix}a" NSB="${prefix}b"
	export IFA="${prefix}a" IFB="${prefix}b"
	export A4=10.231.0.1 B4=10.231.0.2 A6=fd00:231::1 B6=fd00:231::2
	ip netns add "$NSA"
	ip netns add "$NSB"
	ip link add "$IFA" netns "$NSA" type veth peer name "$IFB" netns "$NSB"
	ip -n "$NSA" addr add "$A4/30" dev "$IFA"
	ip -n "$NSB" addr add "$B4/30" dev "$IFB"
	ip -n "$NSA" addr add "$A6/64" dev "$IFA" nodad
	ip -n "$NSB" addr add "$B6/64" dev "$IFB" nodad
	for ns in "$NSA" "$NSB"; do
		ip -n "$ns" link set lo up
	done
	ip -n "$NSA" link set "$IFA" up
	ip -n "$NSB" link set "$IFB" up
}

# Deleting a namespace also deletes its veth end (and so the pair).
remove_netns_pair() {
	[ -n "${NSA:-}" ] && ip netns del "$NSA" 2>/dev/null
	[ -n "${NSB:-}" ] && ip netns del "$NSB" 2>/dev/null
	true
}

# serve in namespace $1 ("-" for this one) with the given options; returns
# once it listens. Its ports are in $BATS_TEST_TMPDIR/ready.
start_server() {
	local ns=$1 ready="$BATS_TEST_TMPDIR/ready" pre=()
	shift
	[ "$ns" != - ] && pre=(ip netns exec "$ns")
	rm -f "$ready"
	"${pre[@]}" "$GEN" serve --ready-file "$ready" --timeout 20 "$@" \
		>"$BATS_TEST_TMPDIR/server.out" 2>"$BATS_TEST_TMPDIR/server.err" 3>&- &
	SERVER_PID=$!
	for _ in $(seq 500); do
		[ -s "$ready" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.01
	done
	echo "server did not get ready:" >&2
	cat "$BATS_TEST_TMPDIR/server.err" >&2
	return 1
}

stop_server() {
	if [ -n "${SERVER_PID:-}" ]; then
		kill -KILL "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
}

# Waits for the server to end by itself (--tcp-conns/--udp-count), or stops it
# with SIGTERM when given "term". Fails unless it exits 0.
finish_server() {
	local rc=0
	[ "${1:-}" = term ] && kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=
	cat "$BATS_TEST_TMPDIR/server.err" >&2
	[ "$rc" -eq 0 ]
}

# Runs a command in the background, stdout to $1 and stderr to $2, and returns
# once its stderr has a line matching the pattern $3 (a tool says its mode
# once attached). The pid is in BG_TOOL_PID.
start_until_ready() {
	local out=$1 err=$2 pattern=$3
	shift 3
	"$@" >"$out" 2>"$err" 3>&- &
	BG_TOOL_PID=$!
	for _ in $(seq 1000); do
		grep -q -- "$pattern" "$err" && return 0
		kill -0 "$BG_TOOL_PID" 2>/dev/null || break
		sleep 0.01
	done
	cat "$err" >&2
	return 1
}

# SIGINT to pid $1; fails (showing stderr file $2) unless it exits 0.
stop_with_sigint() {
	local rc=0
	kill -INT "$1"
	wait "$1" || rc=$?
	[ "$rc" -eq 0 ] && return 0
	echo "pid $1 exited $rc:" >&2
	cat "$2" >&2
	return 1
}
