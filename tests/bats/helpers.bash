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
