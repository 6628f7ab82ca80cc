#!/usr/bin/env bats
# netproc against ground truth: bpfkit-trafficgen prints exactly what each
# of its processes sent and received; netproc must attribute at least 99%
# of those payload bytes to the right pid and comm in its eBPF modes, and
# never more than was sent. Traffic runs over a veth pair between two
# namespaces made here, and on loopback.

# shellcheck disable=SC2016 # jq programs in single quotes

load helpers

bats_require_minimum_version 1.5.0

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	need_generator
	snapshot_kernel_state
	make_netns_pair "bpfknp$$"
	NETPROC=$(bin netproc)
	export NETPROC
	# The mode netproc picks here, as bpfcheck says it (its own ladder).
	MODE=$("$(bin bpfcheck)" --json -t netproc | jq -r 'select(.type=="tool").mode')
	export MODE
}

teardown_file() {
	remove_netns_pair
	check_nothing_left
}

teardown() {
	stop_server
	[ -n "${NP_PID:-}" ] && kill -KILL "$NP_PID" 2>/dev/null
	[ -n "${DNSMASQ:-}" ] && kill "$DNSMASQ" 2>/dev/null
	if [ -n "${CG:-}" ] && [ -d "$CG" ]; then
		cat "$CG/cgroup.procs" 2>/dev/null | while read -r p; do echo "$p" >"$(dirname "$CG")/cgroup.procs"; done
		rmdir "$CG" 2>/dev/null
	fi
	true
}

# netproc in the background, JSON lines in $BATS_TEST_TMPDIR/np.jsonl;
# returns once its programs are attached (-v says the mode then).
start_netproc() {
	local pre=()
	[ -n "${NP_NS:-}" ] && pre=(ip netns exec "$NP_NS")
	start_until_ready "$BATS_TEST_TMPDIR/np.jsonl" "$BATS_TEST_TMPDIR/np.err" '^netproc: mode: ' \
		"${pre[@]}" "$NETPROC" --json --interval 1 -v "$@" || return 1
	NP_PID=$BG_TOOL_PID
}

# SIGINT: netproc prints what came in since its last interval and exits 0.
stop_netproc() {
	local pid=$NP_PID
	NP_PID=
	stop_with_sigint "$pid" "$BATS_TEST_TMPDIR/np.err"
}

# Every process in the ground truth files ($@) against netproc's sums for its
# pid: bytes within [99%, 100%] of the truth in both directions, same comm.
# Prints one line per process; fails on the first that is off.
check_truth() {
	jq -s 'map(select(.type=="process")) | group_by(.pid)
		| map({key: (.[0].pid|tostring), value: {comm: .[0].comm, tx: (map(.tx_bytes)|add), rx: (map(.rx_bytes)|add)}})
		| from_entries' "$BATS_TEST_TMPDIR/np.jsonl" >"$BATS_TEST_TMPDIR/seen.json"
	cat "$@" | jq -s 'map(select(.pid != null and .role != "summary")) | group_by(.pid)
		| map({pid: .[0].pid, comm: .[0].comm, tx: (map(.tx_bytes)|add), rx: (map(.rx_bytes)|add)})
		| map(select(.tx > 0 or .rx > 0))' >"$BATS_TEST_TMPDIR/truth.json"
	jq -r --slurpfile seen "$BATS_TEST_TMPDIR/seen.json" '.[] | . as $t | ($seen[0][$t.pid|tostring] // {comm: "-", tx: 0, rx: 0}) as $s
		| "\($t.pid) \($t.comm) \($s.comm) \($t.tx) \($s.tx) \($t.rx) \($s.rx)"' "$BATS_TEST_TMPDIR/truth.json" |
		awk '{ ok = ($2 == $3) && ($5 >= 0.99*$4) && ($5 <= $4) && ($7 >= 0.99*$6) && ($7 <= $6);
		       printf "%s pid %s comm %s/%s tx %s/%s rx %s/%s\n", ok ? "ok" : "WRONG", $1, $2, $3, $5, $4, $7, $6;
		       if (!ok) bad = 1 } END { exit bad }'
}

@test "netproc runs in the mode bpfcheck predicts and names it and the byte layer" {
	[ -n "$MODE" ] && [ "$MODE" != null ]
	run "$NETPROC" --json --duration 1
	[ "$status" -eq 0 ]
	[ "$(jq -r 'select(.type=="totals").mode' <<<"$output")" = "$MODE" ]
	[ "$(jq -r 'select(.type=="totals").layer' <<<"$output")" = "socket payload" ]
	run "$NETPROC" --lines --duration 1
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "netproc: mode $MODE, counting socket payload bytes; interval "* ]]
}

@test "a cron snapshot: --json --duration prints one snapshot of that time and exits 0" {
	run "$NETPROC" --json --duration 2
	[ "$status" -eq 0 ]
	[ "$(jq -c 'select(.type=="totals")' <<<"$output" | wc -l)" -eq 1 ]
	jq -e 'select(.type=="totals") | .interval_s >= 1.9 and .interval_s < 3' <<<"$output"
	jq -e -s 'all(.schema == "netproc/1" and (.ts|test("Z$")))' <<<"$output"
}

@test "TCP bulk, 100 MB over a veth between namespaces: >= 99% to the right pids" {
	start_server "$NSB" --tcp 5201 --bind "$B4" --tcp-conns 1 --comm np-srv-bulk
	start_netproc
	ip netns exec "$NSA" "$GEN" tcp-bulk --to "$B4:5201" --bytes 104857600 --comm np-bulk >"$BATS_TEST_TMPDIR/client.out"
	finish_server
	stop_netproc
	check_truth "$BATS_TEST_TMPDIR/client.out" "$BATS_TEST_TMPDIR/server.out"
}

@test "TCP bulk, 100 MB on loopback with an echo back: >= 99% both ways" {
	start_server - --tcp 0 --bind 127.0.0.1 --tcp-conns 1 --echo --comm np-srv-lo
	port=$(jq .tcp_port "$BATS_TEST_TMPDIR/ready")
	start_netproc
	"$GEN" tcp-bulk --to "127.0.0.1:$port" --bytes 104857600 --recv-bytes 104857600 --comm np-bulk-lo >"$BATS_TEST_TMPDIR/client.out"
	finish_server
	stop_netproc
	check_truth "$BATS_TEST_TMPDIR/client.out" "$BATS_TEST_TMPDIR/server.out"
}

@test "UDP, 1000 datagrams on a connected socket: >= 99%" {
	start_server "$NSB" --udp 5301 --bind "$B4" --udp-count 1000 --comm np-srv-udp
	start_netproc
	ip netns exec "$NSA" "$GEN" udp --to "$B4:5301" --count 1000 --size 700 --connected --comm np-udp-c >"$BATS_TEST_TMPDIR/client.out"
	finish_server
	stop_netproc
	check_truth "$BATS_TEST_TMPDIR/client.out" "$BATS_TEST_TMPDIR/server.out"
}

# `ip netns exec` gives netproc a mount namespace whose /sys has no cgroup2: the tracepoint
# rung's sock_release hook reaches the hierarchy through its parent's view.
@test "under ip netns exec: the same mode as on the host, UDP 1000 datagrams >= 99%" {
	start_server "$NSB" --udp 5305 --bind "$B4" --udp-count 1000 --comm np-srv-udpx
	NP_NS=$NSA start_netproc
	ip netns exec "$NSA" "$GEN" udp --to "$B4:5305" --count 1000 --size 700 --connected --comm np-udp-x >"$BATS_TEST_TMPDIR/client.out"
	finish_server
	stop_netproc
	[ "$(jq -r 'select(.type=="totals").mode' "$BATS_TEST_TMPDIR/np.jsonl" | sort -u)" = "$MODE" ]
	check_truth "$BATS_TEST_TMPDIR/client.out" "$BATS_TEST_TMPDIR/server.out"
}

@test "UDP, 1000 datagrams with sendto on an unconnected socket: >= 99%, remote known" {
	start_server "$NSB" --udp 5302 --bind "$B4" --udp-count 1000 --comm np-srv-udp2
	start_netproc --connections
	ip netns exec "$NSA" "$GEN" udp --to "$B4:5302" --count 1000 --size 300 --unconnected --comm np-udp-u >"$BATS_TEST_TMPDIR/client.out"
	finish_server
	stop_netproc
	# --connections prints connection records; sum them per pid for the check.
	jq -c 'select(.type=="connection") | {type: "process", pid, comm, tx_bytes, rx_bytes}' "$BATS_TEST_TMPDIR/np.jsonl" >"$BATS_TEST_TMPDIR/p.jsonl"
	mv "$BATS_TEST_TMPDIR/p.jsonl" "$BATS_TEST_TMPDIR/np.jsonl.conn"
	cp "$BATS_TEST_TMPDIR/np.jsonl.conn" "$BATS_TEST_TMPDIR/np.jsonl"
	check_truth "$BATS_TEST_TMPDIR/client.out" "$BATS_TEST_TMPDIR/server.out"
	# the sending socket is unconnected, yet each send's destination is known
	# on the fentry and kprobe rungs (from msg_name); the tracepoint rung cannot see it
	if [ "$MODE" != tracepoint ]; then
		jq -e -s --arg r "$B4:5302" 'map(select(.comm=="np-udp-u")) | all(.remote == $r)' "$BATS_TEST_TMPDIR/np.jsonl"
	fi
}

@test "IPv6: TCP with echo and UDP over the veth: >= 99%" {
	start_server "$NSB" --tcp 5203 --udp 5303 --bind "$B6" --echo --tcp-conns 1 --udp-count 1000 --comm np-srv-v6
	start_netproc -6
	ip netns exec "$NSA" "$GEN" tcp-bulk --to "[$B6]:5203" --bytes 20971520 --recv-bytes 20971520 --comm np-tcp6 >"$BATS_TEST_TMPDIR/c1.out"
	ip netns exec "$NSA" "$GEN" udp --to "[$B6]:5303" --count 1000 --size 900 --expect-replies --comm np-udp6 >"$BATS_TEST_TMPDIR/c2.out"
	finish_server
	stop_netproc
	check_truth "$BATS_TEST_TMPDIR/c1.out" "$BATS_TEST_TMPDIR/c2.out" "$BATS_TEST_TMPDIR/server.out"
	# -6 kept IPv4 out
	! jq -e 'select(.type=="process" and .comm=="np-srv-bulk")' "$BATS_TEST_TMPDIR/np.jsonl"
}

@test "1000 short-lived processes, one short TCP connection each: >= 99% to the right pid" {
	start_server "$NSB" --tcp 5204 --bind "$B4" --tcp-conns 1000 --comm np-srv-short
	start_netproc
	ip netns exec "$NSA" "$GEN" short-lived --to "$B4:5204" --procs 1000 --bytes 1500 --max-conn-ms 10 >"$BATS_TEST_TMPDIR/children.out"
	finish_server
	stop_netproc
	[ "$(jq -c 'select(.role=="child")' "$BATS_TEST_TMPDIR/children.out" | wc -l)" -eq 1000 ]
	run check_truth "$BATS_TEST_TMPDIR/children.out" "$BATS_TEST_TMPDIR/server.out"
	echo "$output" | grep -v '^ok' | head >&2
	wrong=$(grep -c '^WRONG' <<<"$output" || true)
	[ "$(grep -c '^ok' <<<"$output")" -ge 990 ] # 99% of the 1001 processes exact
	[ "$wrong" -le 10 ]
	# and the bytes: >= 99% of everything the children sent
	sent=$(jq -s 'map(select(.role=="child").tx_bytes) | add' "$BATS_TEST_TMPDIR/children.out")
	seen=$(jq -s 'map(select(.type=="process" and .comm=="bpfkit-tg-child").tx_bytes) | add' "$BATS_TEST_TMPDIR/np.jsonl")
	[ "$seen" -ge $((sent * 99 / 100)) ] && [ "$seen" -le "$sent" ]
	# each was reported as exited
	[ "$(jq -c 'select(.type=="process" and .comm=="bpfkit-tg-child" and .exited)' "$BATS_TEST_TMPDIR/np.jsonl" | wc -l)" -ge 990 ]
}

@test "a process in a cgroup of its own: --cgroup shows it and only it" {
	root=$(awk '$3=="cgroup2" {print $2; exit}' /proc/mounts)
	[ -n "$root" ] || skip "no cgroup2 mount"
	CG="$root/bpfkit-np-$$"
	mkdir "$CG"
	start_server - --tcp 0 --bind 127.0.0.1 --tcp-conns 1 --comm np-srv-cg
	port=$(jq .tcp_port "$BATS_TEST_TMPDIR/ready")
	start_netproc --cgroup "$CG"
	sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2" tcp-bulk --to "127.0.0.1:$3" --bytes 5000000 --comm np-in-cg' \
		sh "$CG" "$GEN" "$port" >"$BATS_TEST_TMPDIR/client.out"
	finish_server
	stop_netproc
	check_truth "$BATS_TEST_TMPDIR/client.out"
	# the server is outside the cgroup, so netproc left it out
	[ "$(jq -r 'select(.type=="process") | .comm' "$BATS_TEST_TMPDIR/np.jsonl" | sort -u)" = np-in-cg ]
}

@test "--connections shows the tuple of a TCP connection" {
	start_server "$NSB" --tcp 5205 --bind "$B4" --tcp-conns 1 --comm np-srv-conn
	start_netproc --connections --tcp
	ip netns exec "$NSA" "$GEN" tcp-bulk --to "$B4:5205" --bytes 1000000 --comm np-conn >"$BATS_TEST_TMPDIR/client.out"
	finish_server
	stop_netproc
	local_ep=$(jq -r .local "$BATS_TEST_TMPDIR/client.out")
	jq -e -s --arg l "$local_ep" --arg r "$B4:5205" \
		'map(select(.type=="connection" and .comm=="np-conn")) | length > 0 and all(.local == $l and .remote == $r and .proto == "tcp")' \
		"$BATS_TEST_TMPDIR/np.jsonl"
}

@test "--prometheus writes a textfile with the process's counters" {
	prom="$BATS_TEST_TMPDIR/netproc.prom"
	start_server - --tcp 0 --bind 127.0.0.1 --tcp-conns 1 --comm np-srv-prom
	port=$(jq .tcp_port "$BATS_TEST_TMPDIR/ready")
	start_netproc --prometheus "$prom"
	"$GEN" tcp-bulk --to "127.0.0.1:$port" --bytes 3000000 --comm np-prom >"$BATS_TEST_TMPDIR/client.out"
	finish_server
	stop_netproc
	pid=$(jq .pid "$BATS_TEST_TMPDIR/client.out")
	grep -E "^netproc_transmit_bytes_total\{pid=\"$pid\",comm=\"np-prom\",.*mode=\"$MODE\"\} 3000000$" "$prom"
	grep -q '^# TYPE netproc_receive_bytes_total counter$' "$prom"
	grep -q '^netproc_lost_updates_total{reason="flow_map_full"} 0$' "$prom"
	! ls "$BATS_TEST_TMPDIR"/netproc.prom.tmp.* 2>/dev/null
}

@test "a full flow table is counted and shown, never silent" {
	start_server - --tcp 0 --bind 127.0.0.1 --tcp-conns 60 --comm np-srv-full
	port=$(jq .tcp_port "$BATS_TEST_TMPDIR/ready")
	start_netproc --max-flows 16
	"$GEN" short-lived --to "127.0.0.1:$port" --procs 60 --bytes 1000 >"$BATS_TEST_TMPDIR/children.out"
	finish_server
	stop_netproc
	# 60 client sockets and 60 server sockets, 16 slots: the rest is counted as
	# lost (flow map full, or on the tracepoint rung, the released-socket map)
	lost=$(jq -s 'map(select(.type=="totals").lost | .flow_map_full_updates + .released_map_full) | max' "$BATS_TEST_TMPDIR/np.jsonl")
	lost_bytes=$(jq -s 'map(select(.type=="totals").lost | .flow_map_full_bytes + .released_map_full_bytes) | max' "$BATS_TEST_TMPDIR/np.jsonl")
	seen=$(jq -s 'map(select(.type=="totals").tx_bytes) | add' "$BATS_TEST_TMPDIR/np.jsonl")
	[ "$lost" -gt 0 ]
	# what was counted plus what was lost is what was sent (both sides' tx: 60 x 1000)
	[ "$((seen + lost_bytes))" -ge 60000 ]
	run "$NETPROC" --max-flows 0
	[ "$status" -eq 2 ]
}

@test "tracepoint rung: released sockets leave the kernel maps after their last report" {
	"$NETPROC" --hooks=tracepoint --duration 1 >/dev/null 2>&1 || skip "no tracepoint rung on this kernel"
	start_server - --tcp 0 --bind 127.0.0.1 --tcp-conns 300 --comm np-srv-close
	port=$(jq .tcp_port "$BATS_TEST_TMPDIR/ready")
	# One long-lived process makes 300 connections in turn, 1000 bytes each,
	# once netproc (filtering on its pid) is attached; then stays alive.
	go="$BATS_TEST_TMPDIR/go"
	bash -c 'while [ ! -e "$1" ]; do sleep 0.01; done
		for i in $(seq 300); do exec 3<>"/dev/tcp/127.0.0.1/$2"; printf "%01000d" 0 >&3; exec 3>&-; done
		sleep 4' closer "$go" "$port" &
	closer=$!
	start_netproc --hooks=tracepoint -p "$closer"
	touch "$go"
	finish_server
	sleep 3.5
	stop_netproc
	wait "$closer"
	# every byte, once
	sent=$(jq -s --argjson p "$closer" 'map(select(.type=="process" and .pid==$p).tx_bytes) | add' "$BATS_TEST_TMPDIR/np.jsonl")
	[ "$sent" -eq 300000 ]
	# 300 sockets came and went: nothing of them stays in the kernel's maps
	last=$(jq -s 'map(select(.type=="totals").kernel_map_entries) | last' "$BATS_TEST_TMPDIR/np.jsonl")
	echo "kernel map entries at the end: $last" >&2
	[ "$last" -eq 0 ]
}

@test "filters: -p, --comm and --port keep only what they name" {
	start_server - --tcp 0 --udp 0 --bind 127.0.0.1 --tcp-conns 3 --udp-count 150 --comm np-srv-filt
	port=$(jq .tcp_port "$BATS_TEST_TMPDIR/ready")
	uport=$(jq .udp_port "$BATS_TEST_TMPDIR/ready")
	srv=$(jq .pid "$BATS_TEST_TMPDIR/ready")
	for f in "--comm np-filt-a" "-p $srv" "--port $uport"; do
		start_netproc $f
		"$GEN" tcp-bulk --to "127.0.0.1:$port" --bytes 100000 --comm np-filt-a >/dev/null
		"$GEN" udp --to "127.0.0.1:$uport" --count 50 --size 100 --comm np-filt-b >/dev/null
		stop_netproc
		comms=$(jq -r 'select(.type=="process") | .comm' "$BATS_TEST_TMPDIR/np.jsonl" | sort -u | tr '\n' ' ')
		case $f in
		--comm*) [ "$comms" = "np-filt-a " ] ;;
		-p*) [ "$comms" = "np-srv-filt " ] ;;
		--port*) [ "$comms" = "np-filt-b np-srv-filt " ] ;;
		esac
	done
	finish_server
}

@test "a rung this kernel lacks, when forced, is refused with the reason and exit 2" {
	kp=$("$(bin bpfcheck)" --json | jq -r 'select(.type=="feature" and .name=="kprobe").state')
	[ "$kp" = no ] || skip "this kernel has kprobes"
	run "$NETPROC" --hooks=kprobe --duration 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"cannot run on this kernel"* ]]
	[[ "$output" == *"kprobe: refused: kprobe: "* ]]
}

@test "bad input: a clear message and exit 2" {
	run "$NETPROC" --no-such-flag
	[ "$status" -eq 2 ]
	[[ "$output" == *"unrecognized option '--no-such-flag'"* ]]
	run "$NETPROC" -p 2147483000 --duration 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"no process with pid 2147483000"* ]]
	run "$NETPROC" --prometheus /proc/nonexistent/dir/file.prom --duration 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"--prometheus: cannot create /proc/nonexistent/dir/file.prom"* ]]
	run "$NETPROC" --hooks=bogus
	[ "$status" -eq 2 ]
	[[ "$output" == *"expected fentry, kprobe or tracepoint"* ]]
	run "$NETPROC" --capture-mode=pcap
	[ "$status" -eq 2 ]
	run "$NETPROC" --interval 0
	[ "$status" -eq 2 ]
	run "$NETPROC" -4 -6
	[ "$status" -eq 2 ]
}

@test "as nobody: names the missing capabilities and exits 2" {
	cp "$NETPROC" "$BATS_TEST_TMPDIR/netproc"
	chmod 755 "$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR/netproc"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all "$BATS_TEST_TMPDIR/netproc" --duration 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"CAP_BPF"* ]]
	[[ "$output" == *"CAP_NET_RAW"* ]]
	[[ "$output" == *"bpfcheck"* ]]
}

@test "after attaching, netproc holds no capabilities where the kernel lets it read its maps without" {
	start_netproc
	capeff=$(awk '/^CapEff/ {print $2}' "/proc/$NP_PID/status")
	stop_netproc
	[ "$capeff" = 0000000000000000 ]
}

@test "remote names come from DNS answers seen on the host, over UDP and TCP" {
	command -v dnsmasq >/dev/null && command -v dig >/dev/null || skip "needs dnsmasq and dig (packaging/deps/test.txt)"
	# A real DNS server on a loopback address of its own, answering two names.
	dnsmasq --keep-in-foreground --port=53 --listen-address=127.0.0.77 --bind-interfaces --no-resolv --no-hosts \
		--address=/web.bpfkit.test/127.0.0.88 --address=/tcp.bpfkit.test/127.0.0.89 --pid-file= 2>"$BATS_TEST_TMPDIR/dnsmasq.err" &
	DNSMASQ=$!
	sleep 0.2
	kill -0 "$DNSMASQ" || { cat "$BATS_TEST_TMPDIR/dnsmasq.err" >&2; false; }
	start_server - --tcp 0 --bind 127.0.0.88 --bind 127.0.0.89 --tcp-conns 3 --comm np-srv-names
	port=$(jq .tcp_port "$BATS_TEST_TMPDIR/ready")
	start_netproc --connections --tcp
	[ "$(dig +short +tries=1 @127.0.0.77 web.bpfkit.test)" = 127.0.0.88 ]
	[ "$(dig +tcp +short +tries=1 @127.0.0.77 tcp.bpfkit.test)" = 127.0.0.89 ]
	# The names capture hands over its packets in blocks retired every 20 ms
	# (man page, BUGS): a report within that time of an answer lacks the name.
	sleep 0.1
	"$GEN" tcp-bulk --to "127.0.0.88:$port" --bytes 100000 --comm np-named >/dev/null
	"$GEN" tcp-bulk --to "127.0.0.89:$port" --bytes 100000 --comm np-named >/dev/null
	"$GEN" tcp-bulk --to "127.0.0.90:$port" --bytes 100000 --comm np-unnamed >/dev/null 2>&1 || true
	finish_server term
	stop_netproc
	kill "$DNSMASQ"
	wait "$DNSMASQ" || true
	DNSMASQ=
	# What the connections showed, for a failure's log (it failed once in a
	# CI run and once in 31 runs alone; the cause was not seen).
	jq -c -s 'map(select(.type=="connection" and (.comm // "" | startswith("np-")))) | map({comm, remote, remote_name})' \
		"$BATS_TEST_TMPDIR/np.jsonl" >&2
	grep 'remote names' "$BATS_TEST_TMPDIR/np.err" >&2
	jq -e -s 'map(select(.type=="connection" and .comm=="np-named")) | map({(.remote|split(":")[0]): .remote_name}) | add
		== {"127.0.0.88": "web.bpfkit.test", "127.0.0.89": "tcp.bpfkit.test"}' "$BATS_TEST_TMPDIR/np.jsonl"
	grep -q 'remote names: 2 DNS responses seen, 0 malformed' "$BATS_TEST_TMPDIR/np.err"
}

# AF_PACKET mode counts frames: the share of all frame bytes captured in
# the namespace that went to the given pids. Prints it to the TAP output.
afpacket_share() {
	local what=$1
	shift
	local pids
	pids=$(printf '%s\n' "$@" | jq -s -c .)
	jq -s --argjson pids "$pids" --arg what "$what" '
		(map(select(.type=="process" and ((.pid) as $p | $pids | index($p)))) | map(.tx_bytes + .rx_bytes) | add // 0) as $mine
		| (map(select(.type=="totals")) | map(.tx_bytes + .rx_bytes) | add // 0) as $all
		| if $all == 0 then 0 else $mine / $all end' "$BATS_TEST_TMPDIR/np.jsonl" >"$BATS_TEST_TMPDIR/share"
	printf '# afpacket accuracy, %s: %.1f%% of frame bytes to the right processes\n' "$what" \
		"$(awk '{print 100 * $1}' "$BATS_TEST_TMPDIR/share")" >&3
	cat "$BATS_TEST_TMPDIR/share"
}

# AF_PACKET mode finds a socket's process by scanning /proc when an unknown
# flow appears, at most every ~100 ms here: the bulk transfers below are paced
# to last about a second, as real ones do, instead of ending in 16 ms.
@test "afpacket mode: TCP bulk of 100 MB over a veth, >= 95% of frame bytes to the right pids" {
	start_server "$NSB" --tcp 5210 --bind "$B4" --tcp-conns 1 --comm np-srv-afp
	NP_NS=$NSA start_netproc --capture-mode=afpacket
	[ "$(jq -r 'select(.type=="totals").mode' "$BATS_TEST_TMPDIR/np.jsonl" | head -1)" = afpacket ] || true
	ip netns exec "$NSA" "$GEN" tcp-bulk --to "$B4:5210" --bytes 104857600 --rate 100000000 --comm np-afp >"$BATS_TEST_TMPDIR/client.out"
	finish_server
	sleep 0.3
	stop_netproc
	[ "$(jq -r 'select(.type=="totals").layer' "$BATS_TEST_TMPDIR/np.jsonl" | sort -u)" = frame ]
	share=$(afpacket_share "TCP bulk 100 MB over a veth" "$(jq .pid "$BATS_TEST_TMPDIR/client.out")")
	awk -v s="$share" 'BEGIN { exit !(s >= 0.95) }'
	# frames carry at least the payload
	tx=$(jq -s 'map(select(.type=="process" and .comm=="np-afp").tx_bytes) | add' "$BATS_TEST_TMPDIR/np.jsonl")
	[ "$tx" -ge 104857600 ]
}

@test "afpacket mode: loopback TCP, UDP, IPv6 and short-lived processes, measured" {
	start_server - --tcp 0 --udp 0 --bind 127.0.0.1 --bind ::1 --echo --comm np-srv-afl
	tport=$(jq .tcp_port "$BATS_TEST_TMPDIR/ready")
	uport=$(jq .udp_port "$BATS_TEST_TMPDIR/ready")
	srv=$(jq .pid "$BATS_TEST_TMPDIR/ready")
	for scenario in tcp udp-connected udp-unconnected udp-paced tcp6 udp6 udp6-paced short-lived; do
		start_netproc --capture-mode=afpacket
		case $scenario in
		tcp) "$GEN" tcp-bulk --to "127.0.0.1:$tport" --bytes 20971520 --recv-bytes 20971520 --rate 40000000 >"$BATS_TEST_TMPDIR/c.out" ;;
		udp-connected) "$GEN" udp --to "127.0.0.1:$uport" --count 1000 --size 500 --expect-replies >"$BATS_TEST_TMPDIR/c.out" ;;
		udp-unconnected) "$GEN" udp --to "127.0.0.1:$uport" --count 1000 --size 500 --unconnected --expect-replies >"$BATS_TEST_TMPDIR/c.out" ;;
		udp-paced) "$GEN" udp --to "127.0.0.1:$uport" --count 1000 --size 500 --expect-replies --pps 2000 >"$BATS_TEST_TMPDIR/c.out" ;;
		udp6-paced) "$GEN" udp --to "[::1]:$uport" --count 1000 --size 500 --expect-replies --pps 2000 >"$BATS_TEST_TMPDIR/c.out" ;;
		tcp6) "$GEN" tcp-bulk --to "[::1]:$tport" --bytes 20971520 --recv-bytes 20971520 --rate 40000000 >"$BATS_TEST_TMPDIR/c.out" ;;
		udp6) "$GEN" udp --to "[::1]:$uport" --count 1000 --size 500 --expect-replies >"$BATS_TEST_TMPDIR/c.out" ;;
		short-lived) "$GEN" short-lived --to "127.0.0.1:$tport" --procs 200 --bytes 1500 >"$BATS_TEST_TMPDIR/c.out" ;;
		esac
		sleep 0.3
		stop_netproc
		mapfile -t pids < <(jq -r 'select(.pid != null and .role != "summary") | .pid' "$BATS_TEST_TMPDIR/c.out")
		share=$(afpacket_share "loopback $scenario" "$srv" "${pids[@]}")
		# nothing is lost silently: attributed + unattributed = all that was captured
		jq -e -s '(map(select(.type=="process") | .tx_bytes + .rx_bytes) | add // 0) + (map(select(.type=="totals") | .unattributed.tx_bytes + .unattributed.rx_bytes) | add)
			== (map(select(.type=="totals") | .tx_bytes + .rx_bytes) | add)' "$BATS_TEST_TMPDIR/np.jsonl"
		case $scenario in
		tcp | tcp6 | *-paced) awk -v s="$share" 'BEGIN { exit !(s >= 0.95) }' ;;
		esac
	done
}

@test "the man page renders without warnings" {
	run groff -man -ww -z "$BATS_TEST_DIRNAME/../../man/netproc.8"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}
