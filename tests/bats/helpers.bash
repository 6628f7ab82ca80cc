# Shared by the BATS files: where the built binaries are, and the check
# that a test run leaves nothing attached.

BUILD=${BPFKIT_BUILD:-$BATS_TEST_DIRNAME/../../build}
bin() { echo "$BUILD/tools/$1/$1"; }

# BPF programs and links that exist now, one id per line.
bpf_ids() { bpftool -j "$1" show 2>/dev/null | jq -r '.[].id' | sort -n; }

snapshot_kernel_state() {
	bpf_ids prog >"$BATS_FILE_TMPDIR/progs.before"
	bpf_ids link >"$BATS_FILE_TMPDIR/links.before"
	ip -o link show >"$BATS_FILE_TMPDIR/links-ip.before"
}

# Fails when a program, link, interface or probe cgroup from the run is left.
check_nothing_left() {
	local new
	bpf_ids prog >"$BATS_FILE_TMPDIR/progs.after"
	bpf_ids link >"$BATS_FILE_TMPDIR/links.after"
	new=$(comm -13 "$BATS_FILE_TMPDIR/progs.before" "$BATS_FILE_TMPDIR/progs.after")
	if [ -n "$new" ]; then
		echo "BPF programs left behind: $new" >&2
		bpftool prog show >&2
		return 1
	fi
	new=$(comm -13 "$BATS_FILE_TMPDIR/links.before" "$BATS_FILE_TMPDIR/links.after")
	if [ -n "$new" ]; then
		echo "BPF links left behind: $new" >&2
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
