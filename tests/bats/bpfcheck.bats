#!/usr/bin/env bats
# bpfcheck against facts read independently of it: /proc/config.gz,
# /proc/self/status, the lockdown file, /proc/mounts, and bpftool.

load helpers

setup_file() {
	snapshot_kernel_state
	BPFCHECK=$(bin bpfcheck)
	export BPFCHECK
	"$BPFCHECK" --json >"$BATS_FILE_TMPDIR/report.jsonl" || echo $? >"$BATS_FILE_TMPDIR/report.rc"
}

teardown_file() {
	check_nothing_left
}

@test "--version prints the project's version" {
	run "$BPFCHECK" --version
	[ "$status" -eq 0 ]
	want=$(sed -n "s/^  version: '\(.*\)',/\1/p" "$BATS_TEST_DIRNAME/../../meson.build")
	[ -n "$want" ]
	[ "$output" = "bpfcheck (bpfkit) $want" ]
}

@test "--help describes the options and exits 0" {
	run "$BPFCHECK" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--json"* ]]
	[[ "$output" == *"--tool"* ]]
	[[ "$output" == *"Exit status"* ]]
}

@test "bad usage exits 2 with one line naming the cause" {
	run "$BPFCHECK" --no-such-option
	[ "$status" -eq 2 ]
	[[ "$output" == *"unrecognized option '--no-such-option'"* ]]
	run "$BPFCHECK" --tool nosuchtool
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown tool 'nosuchtool'"*netproc* ]]
	run "$BPFCHECK" stray
	[ "$status" -eq 2 ]
	run "$BPFCHECK" --btf /nonexistent/btf
	[ "$status" -eq 2 ]
	[[ "$output" == *"cannot read BTF from /nonexistent/btf"* ]]
}

@test "every JSON line parses and carries schema, ts and type" {
	[ -s "$BATS_FILE_TMPDIR/report.jsonl" ]
	n=$(wc -l <"$BATS_FILE_TMPDIR/report.jsonl")
	good=$(jq -c 'select(.schema=="bpfcheck/1" and (.ts|test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")) and (.type|type=="string"))' \
		"$BATS_FILE_TMPDIR/report.jsonl" | wc -l)
	[ "$n" -eq "$good" ]
	# one record per feature, at least 30 of them, and one summary
	[ "$(jq -c 'select(.type=="feature")' "$BATS_FILE_TMPDIR/report.jsonl" | wc -l)" -ge 30 ]
	[ "$(jq -c 'select(.type=="summary")' "$BATS_FILE_TMPDIR/report.jsonl" | wc -l)" -eq 1 ]
}

@test "kernel release and kconfig options match uname and /proc/config.gz" {
	[ "$(jq -r 'select(.type=="kernel").release' "$BATS_FILE_TMPDIR/report.jsonl")" = "$(uname -r)" ]
	if [ ! -r /proc/config.gz ]; then
		[ "$(jq -r 'select(.type=="kconfig").source' "$BATS_FILE_TMPDIR/report.jsonl")" = null ]
		return
	fi
	zcat /proc/config.gz >"$BATS_TEST_TMPDIR/config"
	checked=0
	while IFS=$'\t' read -r key val; do
		if line=$(grep -E "^$key=" "$BATS_TEST_TMPDIR/config"); then
			[ "$val" = "${line#*=}" ] || { echo "$key: bpfcheck says $val, config says ${line#*=}"; false; }
		else
			[ "$val" = "not set" ] || { echo "$key: bpfcheck says $val, config does not set it"; false; }
		fi
		checked=$((checked + 1))
	done < <(jq -r 'select(.type=="kconfig").options | to_entries[] | "\(.key)\t\(.value)"' "$BATS_FILE_TMPDIR/report.jsonl")
	[ "$checked" -ge 15 ]
}

@test "kprobe is reported absent exactly when CONFIG_KPROBES is not set" {
	kp=$(feature "$BATS_FILE_TMPDIR/report.jsonl" kprobe)
	if zcat /proc/config.gz | grep -q '^CONFIG_KPROBES=y'; then
		[ "$(jq -r .state <<<"$kp")" = yes ]
	else
		[ "$(jq -r .state <<<"$kp")" = no ]
		[[ "$(jq -r .reason <<<"$kp")" == *"CONFIG_KPROBES is not set"* ]]
		[ -n "$(jq -r .remedy <<<"$kp")" ]
	fi
}

@test "fentry agrees with bpftool loading an fentry program itself" {
	obj="$BATS_TEST_TMPDIR/fentry_only.o"
	clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I"$BUILD/bpf" -c \
		"$BATS_TEST_DIRNAME/data/fentry_only.bpf.c" -o "$obj"
	# bpftool pins what it loads: give it a private bpffs that vanishes with the namespace.
	if unshare -m sh -c "mount -t bpf bpf /sys/fs/bpf && bpftool prog load '$obj' /sys/fs/bpf/bpfkit_fentry_test" \
		>"$BATS_TEST_TMPDIR/bpftool.out" 2>&1; then
		expect=yes
	else
		expect=no
		grep -q 'Operation not permitted\|not supported\|Invalid argument' "$BATS_TEST_TMPDIR/bpftool.out"
		errname=$(grep -q 'Operation not permitted' "$BATS_TEST_TMPDIR/bpftool.out" && echo EPERM || echo other)
	fi
	f=$(feature "$BATS_FILE_TMPDIR/report.jsonl" fentry)
	[ "$(jq -r .state <<<"$f")" = "$expect" ]
	if [ "$expect" = no ] && [ "$errname" = EPERM ]; then
		[ "$(jq -r .error <<<"$f")" = EPERM ]
		[ "$(jq -r .errno <<<"$f")" = 1 ]
	fi
}

@test "capabilities match CapEff in /proc/self/status" {
	capeff=$((16#$(awk '/^CapEff/ {print $2}' /proc/self/status)))
	for pair in CAP_NET_ADMIN:12 CAP_NET_RAW:13 CAP_SYS_ADMIN:21 CAP_SYS_RESOURCE:24 CAP_PERFMON:38 CAP_BPF:39; do
		name=${pair%%:*} bit=${pair##*:}
		state=$(feature "$BATS_FILE_TMPDIR/report.jsonl" "$name" | jq -r .state)
		if (((capeff >> bit) & 1)); then
			[ "$state" = yes ] || { echo "$name is set in CapEff but bpfcheck says $state"; false; }
		elif [ "$name" != CAP_BPF ] && [ "$name" != CAP_PERFMON ]; then
			[ "$state" = no ] || { echo "$name is clear in CapEff but bpfcheck says $state"; false; }
		fi
	done
}

@test "lockdown matches the lockdown file" {
	if [ -r /sys/kernel/security/lockdown ]; then
		file=$(cat /sys/kernel/security/lockdown)
	else
		file=$(unshare -m sh -c 'mount -t securityfs securityfs /sys/kernel/security && cat /sys/kernel/security/lockdown')
	fi
	want=$(sed 's/.*\[\(.*\)\].*/\1/' <<<"$file")
	[ -n "$want" ]
	[ "$(feature "$BATS_FILE_TMPDIR/report.jsonl" lockdown | jq -r .value)" = "$want" ]
}

@test "sysctls match /proc/sys" {
	[ "$(feature "$BATS_FILE_TMPDIR/report.jsonl" perf_event_paranoid | jq -r .value)" = "$(cat /proc/sys/kernel/perf_event_paranoid)" ]
	[ "$(feature "$BATS_FILE_TMPDIR/report.jsonl" unprivileged_bpf | jq -r .value)" = "$(cat /proc/sys/kernel/unprivileged_bpf_disabled)" ]
	[ "$(feature "$BATS_FILE_TMPDIR/report.jsonl" jit | jq -r .value)" = "bpf_jit_enable=$(cat /proc/sys/net/core/bpf_jit_enable)" ]
	[ "$(feature "$BATS_FILE_TMPDIR/report.jsonl" kernel_btf | jq -r .state)" = "$([ -r /sys/kernel/btf/vmlinux ] && echo yes || echo no)" ]
}

@test "tracefs not mounted: bpfcheck says so, names the mount command, and tracepoints fail" {
	run unshare -m sh -c 'for m in $(awk "\$3==\"tracefs\" {print \$2}" /proc/mounts | sort -r); do umount "$m"; done; exec "$0" --json' "$BPFCHECK"
	[ "$status" -le 1 ]
	echo "$output" >"$BATS_TEST_TMPDIR/r.jsonl"
	t=$(feature "$BATS_TEST_TMPDIR/r.jsonl" tracefs)
	[ "$(jq -r .state <<<"$t")" = no ]
	[ "$(jq -r .remedy <<<"$t")" = "mount -t tracefs nodev /sys/kernel/tracing" ]
	tp=$(feature "$BATS_TEST_TMPDIR/r.jsonl" tracepoint)
	[ "$(jq -r .state <<<"$tp")" = no ]
	[[ "$(jq -r .reason <<<"$tp")" == *"tracefs is not mounted"* ]]
}

@test "tracefs mounted: bpfcheck says where, and tracepoints attach" {
	run unshare -m sh -c 'mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing; exec "$0" --json' "$BPFCHECK"
	[ "$status" -le 1 ]
	echo "$output" >"$BATS_TEST_TMPDIR/r.jsonl"
	t=$(feature "$BATS_TEST_TMPDIR/r.jsonl" tracefs)
	[ "$(jq -r .state <<<"$t")" = yes ]
	[ "$(jq -r .value <<<"$t")" = /sys/kernel/tracing ]
	[ "$(feature "$BATS_TEST_TMPDIR/r.jsonl" tracepoint | jq -r .state)" = yes ]
}

@test "the netproc row comes from netproc's ladder and the exit status follows it" {
	row=$(jq -c 'select(.type=="tool" and .tool=="netproc")' "$BATS_FILE_TMPDIR/report.jsonl")
	[ -n "$row" ]
	[ "$(jq -r '[.modes[].mode] | join(",")' <<<"$row")" = "fentry,kprobe,tracepoint,afpacket" ]
	fentry=$(feature "$BATS_FILE_TMPDIR/report.jsonl" fentry | jq -r .state)
	kprobe=$(feature "$BATS_FILE_TMPDIR/report.jsonl" kprobe | jq -r .state)
	tpbtf=$(feature "$BATS_FILE_TMPDIR/report.jsonl" tp_btf | jq -r .state)
	if [ "$fentry" = yes ]; then want=fentry; elif [ "$kprobe" = yes ]; then want=kprobe;
	elif [ "$tpbtf" = yes ] && grep -q sock_send_length /sys/kernel/btf/vmlinux 2>/dev/null; then want=tracepoint;
	else want=afpacket; fi
	[ "$(jq -r .mode <<<"$row")" = "$want" ]
	rc=$(cat "$BATS_FILE_TMPDIR/report.rc" 2>/dev/null || echo 0)
	if [ "$want" = fentry ]; then [ "$rc" -eq 0 ]; else [ "$rc" -eq 1 ]; fi
	[ "$(jq -r 'select(.type=="summary").exit' "$BATS_FILE_TMPDIR/report.jsonl")" = "$rc" ]
	# each refused mode carries its errno and reason
	jq -e '[.modes[] | select(.result=="refused") | (.errno > 0 and (.reason|length) > 0)] | all' <<<"$row"
}

@test "the text report names the mode, the reasons and the summary" {
	run "$BPFCHECK"
	[ "$status" -le 1 ]
	[[ "$output" == *"Tools (each tool's own ladder"* ]]
	mode=$(jq -r 'select(.type=="tool" and .tool=="netproc").mode' "$BATS_FILE_TMPDIR/report.jsonl")
	grep -Eq "^  netproc +$mode " <<<"$output"
	[[ "$output" == *"summary: "*"(exit $status)"* ]]
	if [ "$(feature "$BATS_FILE_TMPDIR/report.jsonl" kprobe | jq -r .state)" = no ]; then
		[[ "$output" == *"netproc kprobe: refused: "* ]]
	fi
}

@test "as nobody with no capabilities: reports, names the missing capabilities, exits 2" {
	cp "$BPFCHECK" "$BATS_TEST_TMPDIR/bpfcheck"
	chmod 755 "$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR/bpfcheck"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all "$BATS_TEST_TMPDIR/bpfcheck" --json
	[ "$status" -eq 2 ]
	echo "$output" >"$BATS_TEST_TMPDIR/r.jsonl"
	[ "$(jq -r 'select(.type=="kernel").user' "$BATS_TEST_TMPDIR/r.jsonl")" = nobody ]
	[ "$(feature "$BATS_TEST_TMPDIR/r.jsonl" CAP_BPF | jq -r .state)" = no ]
	[ "$(jq -r 'select(.type=="summary").missing_capabilities | join(",")' "$BATS_TEST_TMPDIR/r.jsonl")" = "CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN,CAP_NET_RAW" ]
	[ "$(jq -r 'select(.type=="tool" and .tool=="netproc").status' "$BATS_TEST_TMPDIR/r.jsonl")" = "cannot run" ]
	[[ "$(jq -r 'select(.type=="tool" and .tool=="netproc").setcap' "$BATS_TEST_TMPDIR/r.jsonl")" =~ ^setcap\ cap_bpf,cap_perfmon,cap_net_admin\+ep\ /.*/sbin/netproc$ ]]
	# facts that need no privilege are still there
	[ "$(feature "$BATS_TEST_TMPDIR/r.jsonl" kconfig | jq -r .state)" = "$([ -r /proc/config.gz ] && echo yes || echo unknown)" ]
	run setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all "$BATS_TEST_TMPDIR/bpfcheck"
	[ "$status" -eq 2 ]
	[[ "$output" == *"missing capabilities: CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_NET_RAW"* ]]
	[[ "$output" == *"netproc without root: setcap cap_bpf,cap_perfmon,cap_net_admin+ep "* ]]
}

@test "a closed pipe ends bpfcheck quietly" {
	run bash -c '"$0" | head -n 1; echo "rc=${PIPESTATUS[0]}"' "$BPFCHECK"
	[[ "${lines[0]}" == "bpfcheck (bpfkit "* ]]
	[ "${#lines[@]}" -eq 2 ]
}

@test "the man page renders without warnings" {
	run groff -man -ww -z "$BATS_TEST_DIRNAME/../../man/bpfcheck.8"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "-v shows libbpf's own words, but never its memlock hint when memcg accounting makes it wrong" {
	run "$BPFCHECK" -v
	[ "$status" -le 1 ]
	if [ "$(feature "$BATS_FILE_TMPDIR/report.jsonl" fentry | jq -r .error)" = EPERM ]; then
		[[ "$output" == *"libbpf: prog 'probe_fentry': BPF program load failed: Operation not permitted"* ]]
	fi
	if [ "$(feature "$BATS_FILE_TMPDIR/report.jsonl" memlock | jq -r .state)" = yes ]; then
		! grep -q "ulimit -l" <<<"$output"
		! grep -q "RLIMIT_MEMLOCK" <<<"$output"
	fi
	# without -v, libbpf stays quiet
	run "$BPFCHECK"
	! grep -q "^libbpf:" <<<"$output"
}

@test "--btf: a reduced BTF made from this kernel covers it; one changed does not" {
	[ -r /sys/kernel/btf/vmlinux ] || skip "this kernel has no BTF to make one from"
	good="$BATS_TEST_TMPDIR/good.btf" bad="$BATS_TEST_TMPDIR/bad.btf"
	BPFKIT_BUILD="$BUILD" "$BATS_TEST_DIRNAME/../vm/btfgen" /sys/kernel/btf/vmlinux "$good" "$BUILD"/bpf/*.bpf.o
	run "$BPFCHECK" --btf "$good" --json
	[ "$(jq -r 'select(.type=="btf").verdict' <<<"$output")" = covers ]
	[ "$(jq -r 'select(.type=="btf").mismatched' <<<"$output")" = 0 ]
	# the tools load with it as with the kernel's own
	[ "$(jq -r 'select(.type=="tool" and .tool=="netproc").mode' <<<"$output")" = \
		"$(jq -r 'select(.type=="tool" and .tool=="netproc").mode' "$BATS_FILE_TMPDIR/report.jsonl")" ]
	changed=$(python3 "$BATS_TEST_DIRNAME/data/btf_bump_size.py" "$good" "$bad")
	run "$BPFCHECK" --btf "$bad"
	[[ "$output" == *"does not cover the running kernel"* ]]
	[[ "$output" == *"$changed: "*" bytes here, "*" in the kernel"* ]]
}
