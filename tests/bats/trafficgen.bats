#!/usr/bin/env bats
# bpfkit-trafficgen's ground truth against counters it does not control: the
# veth's rx/tx byte counters (ip -s link) and the namespace's own SNMP
# counters (/proc/net/snmp, /proc/net/snmp6). Two network namespaces made
# here, joined by a veth pair; all traffic stays inside them.

# shellcheck disable=SC2016 # awk and jq programs in single quotes
# shellcheck disable=SC2154 # $stderr is set by bats' run --separate-stderr

load helpers

bats_require_minimum_version 1.5.0

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
	need_generator
	make_netns_pair "bpfkgen$$"
}

teardown_file() {
	remove_netns_pair
}

teardown() {
	stop_server
}

# The server's line for protocol $1 (one listening address per test).
server_line() { jq -c --arg p "$1" 'select(.role=="server" and .proto==$p)' "$BATS_TEST_TMPDIR/server.out"; }
ready_port() { jq -r ".${1}_port" "$BATS_TEST_TMPDIR/ready"; }
# Field $2 of JSON text $1.
val() { jq -r "$2" <<<"$1"; }
# A veth or lo counter: namespace, device, rx|tx, bytes|packets.
link_stat() { ip -n "$1" -s -j link show dev "$2" | jq ".[0].stats64.$3.$4"; }
# A counter of /proc/net/snmp in a namespace: namespace, group (Udp, Tcp), field.
snmp() {
	ip netns exec "$1" awk -v g="$2:" -v f="$3" \
		'$1 == g { if (!h) { for (i = 2; i <= NF; i++) col[$i] = i; h = 1 } else print $(col[f]) }' \
		/proc/net/snmp
}
snmp6() { ip netns exec "$1" awk -v f="$2" '$1 == f { print $2 }' /proc/net/snmp6; }

@test "tcp-bulk: 100 MB over the veth, exact on both ends and seen by the veth" {
	start_server "$NSB" --tcp 5201 --bind "$B4" --tcp-conns 1 --per-conn --comm tg-srv-bulk
	[ "$(cat "/proc/$SERVER_PID/comm")" = tg-srv-bulk ]
	rx0=$(link_stat "$NSB" "$IFB" rx bytes)
	tx0=$(link_stat "$NSA" "$IFA" tx bytes)
	run --separate-stderr ip netns exec "$NSA" "$GEN" tcp-bulk --to "$B4:5201" --bytes 100M \
		--comm tg-bulk-test --timeout 20
	[ "$status" -eq 0 ]
	finish_server
	rx1=$(link_stat "$NSB" "$IFB" rx bytes)
	tx1=$(link_stat "$NSA" "$IFA" tx bytes)
	c=$(jq -c 'select(.role=="client")' <<<"$output")
	s=$(server_line tcp)
	sc=$(jq -c 'select(.role=="server-conn")' "$BATS_TEST_TMPDIR/server.out")
	echo "# client: $c" >&3
	echo "# server: $s" >&3
	[ "$(val "$c" .tx_bytes)" -eq 104857600 ]
	[ "$(val "$c" .rx_bytes)" -eq 0 ]
	[ "$(val "$c" .comm)" = tg-bulk-test ]
	[ "$(val "$c" .family)" -eq 4 ]
	[ "$(val "$c" .remote)" = "$B4:5201" ]
	[ "$(val "$s" .rx_bytes)" -eq 104857600 ]
	[ "$(val "$s" .tx_bytes)" -eq 0 ]
	[ "$(val "$s" .comm)" = tg-srv-bulk ]
	[ "$(val "$s" .conns_closed)" -eq 1 ]
	# Both ends name the same connection.
	[ "$(val "$sc" .remote)" = "$(val "$c" .local)" ]
	[ "$(val "$sc" .local)" = "$B4:5201" ]
	# The wire carried the payload plus headers: at least 100 MiB, < 10% more.
	echo "# veth rx grew $((rx1 - rx0)), tx grew $((tx1 - tx0))" >&3
	[ $((rx1 - rx0)) -ge 104857600 ]
	[ $((rx1 - rx0)) -lt 115343360 ]
	[ $((tx1 - tx0)) -ge 104857600 ]
}

@test "udp: 1000 connected datagrams, counted exactly by the server and the kernel" {
	start_server "$NSB" --udp 5301 --bind "$B4" --udp-count 1000
	in0=$(snmp "$NSB" Udp InDatagrams)
	pk0=$(link_stat "$NSB" "$IFB" rx packets)
	by0=$(link_stat "$NSB" "$IFB" rx bytes)
	run --separate-stderr ip netns exec "$NSA" "$GEN" udp --to "$B4:5301" --count 1000 --size 700 \
		--connected --timeout 10
	[ "$status" -eq 0 ]
	finish_server
	c=$(jq -c 'select(.role=="client")' <<<"$output")
	s=$(server_line udp)
	[ "$(val "$c" .mode)" = connected ]
	[ "$(val "$c" .tx_datagrams)" -eq 1000 ]
	[ "$(val "$c" .tx_bytes)" -eq 700000 ]
	[ "$(val "$s" .rx_datagrams)" -eq 1000 ]
	[ "$(val "$s" .rx_bytes)" -eq 700000 ]
	[ "$(val "$s" .drops)" -eq 0 ]
	[ $(($(snmp "$NSB" Udp InDatagrams) - in0)) -eq 1000 ]
	[ $(($(link_stat "$NSB" "$IFB" rx packets) - pk0)) -ge 1000 ]
	[ $(($(link_stat "$NSB" "$IFB" rx bytes) - by0)) -ge $((1000 * (700 + 28))) ]
}

@test "udp: 1000 unconnected datagrams (sendto), counted exactly" {
	start_server "$NSB" --udp 5302 --bind "$B4" --udp-count 1000
	in0=$(snmp "$NSB" Udp InDatagrams)
	out0=$(snmp "$NSA" Udp OutDatagrams)
	run --separate-stderr ip netns exec "$NSA" "$GEN" udp --to "$B4:5302" --count 1000 --size 1 \
		--unconnected --timeout 10
	[ "$status" -eq 0 ]
	finish_server
	c=$(jq -c 'select(.role=="client")' <<<"$output")
	s=$(server_line udp)
	[ "$(val "$c" .mode)" = unconnected ]
	[ "$(val "$c" .tx_calls)" -eq 1000 ]
	[ "$(val "$c" .tx_bytes)" -eq 1000 ]
	[ "$(val "$s" .rx_datagrams)" -eq 1000 ]
	[ "$(val "$s" .rx_bytes)" -eq 1000 ]
	[ $(($(snmp "$NSB" Udp InDatagrams) - in0)) -eq 1000 ]
	[ $(($(snmp "$NSA" Udp OutDatagrams) - out0)) -eq 1000 ]
}

@test "IPv6 TCP with echo: both directions exact on both ends" {
	start_server "$NSB" --tcp 5203 --bind "$B6" --echo --tcp-conns 1
	rx0=$(link_stat "$NSA" "$IFA" rx bytes)
	run --separate-stderr ip netns exec "$NSA" "$GEN" tcp-bulk --to "[$B6]:5203" --bytes 3M \
		--chunk 1000 --recv-bytes 3M --timeout 10
	[ "$status" -eq 0 ]
	finish_server
	c=$(jq -c 'select(.role=="client")' <<<"$output")
	s=$(server_line tcp)
	[ "$(val "$c" .family)" -eq 6 ]
	[ "$(val "$c" .remote)" = "[$B6]:5203" ]
	[[ "$(val "$c" .local)" == "[$A6]:"* ]]
	[ "$(val "$c" .tx_bytes)" -eq 3145728 ]
	[ "$(val "$c" .rx_bytes)" -eq 3145728 ]
	[ "$(val "$c" .tx_calls)" -ge 3146 ] # --chunk 1000: no call sends more
	[ "$(val "$s" .family)" -eq 6 ]
	[ "$(val "$s" .rx_bytes)" -eq 3145728 ]
	[ "$(val "$s" .tx_bytes)" -eq 3145728 ]
	[ $(($(link_stat "$NSA" "$IFA" rx bytes) - rx0)) -ge 3145728 ]
}

@test "IPv6 UDP with replies: 1000 datagrams each way" {
	start_server "$NSB" --udp 5303 --bind "$B6" --echo --udp-count 1000
	in0=$(snmp6 "$NSB" Udp6InDatagrams)
	back0=$(snmp6 "$NSA" Udp6InDatagrams)
	run --separate-stderr ip netns exec "$NSA" "$GEN" udp --to "[$B6]:5303" --count 1000 --size 1200 \
		--expect-replies --timeout 10
	[ "$status" -eq 0 ]
	finish_server
	c=$(jq -c 'select(.role=="client")' <<<"$output")
	s=$(server_line udp)
	[ "$(val "$c" .family)" -eq 6 ]
	[ "$(val "$c" .tx_bytes)" -eq 1200000 ]
	[ "$(val "$c" .rx_bytes)" -eq 1200000 ]
	[ "$(val "$c" .rx_datagrams)" -eq 1000 ]
	[ "$(val "$s" .rx_bytes)" -eq 1200000 ]
	[ "$(val "$s" .tx_datagrams)" -eq 1000 ]
	[ $(($(snmp6 "$NSB" Udp6InDatagrams) - in0)) -eq 1000 ]
	[ $(($(snmp6 "$NSA" Udp6InDatagrams) - back0)) -eq 1000 ]
}

@test "short-lived: 1000 processes, distinct pids, each connection under 10 ms" {
	start_server "$NSB" --tcp 5204 --bind "$B4" --tcp-conns 1000
	act0=$(snmp "$NSA" Tcp ActiveOpens)
	pas0=$(snmp "$NSB" Tcp PassiveOpens)
	run --separate-stderr ip netns exec "$NSA" "$GEN" short-lived --to "$B4:5204" --procs 1000 \
		--bytes 1500 --timeout 20
	[ "$status" -eq 0 ]
	finish_server
	sum=$(jq -c 'select(.role=="summary")' <<<"$output")
	s=$(server_line tcp)
	echo "# summary: $sum" >&3
	[ "$(jq -c 'select(.role=="child")' <<<"$output" | wc -l)" -eq 1000 ]
	[ "$(jq -r 'select(.role=="child") | .pid' <<<"$output" | sort -u | wc -l)" -eq 1000 ]
	[ "$(jq -r 'select(.role=="child") | .comm' <<<"$output" | sort -u)" = bpfkit-tg-child ]
	[ "$(jq -r 'select(.role=="child") | .tx_bytes' <<<"$output" | sort -u)" = 1500 ]
	# No child pid is the parent's, and every local port is distinct.
	[ "$(jq -r --argjson p "$(val "$sum" .pid)" 'select(.role=="child" and .pid==$p)' <<<"$output")" = "" ]
	[ "$(jq -r 'select(.role=="child") | .local' <<<"$output" | sort -u | wc -l)" -eq 1000 ]
	[ "$(val "$sum" .procs)" -eq 1000 ]
	[ "$(val "$sum" .distinct_pids)" -eq 1000 ]
	[ "$(val "$sum" .tx_bytes)" -eq 1500000 ]
	awk -v m="$(val "$sum" .max_conn_ms)" 'BEGIN { exit !(m > 0 && m < 10) }'
	[ "$(val "$s" .rx_bytes)" -eq 1500000 ]
	[ "$(val "$s" .conns)" -eq 1000 ]
	[ "$(val "$s" .resets)" -eq 0 ]
	[ $(($(snmp "$NSA" Tcp ActiveOpens) - act0)) -eq 1000 ]
	[ $(($(snmp "$NSB" Tcp PassiveOpens) - pas0)) -eq 1000 ]
}

@test "loopback: port 0 from the ready file, IPv4 and IPv6 listeners counted apart" {
	start_server "$NSA" --tcp 0 --udp 0 --tcp-conns 2 --udp-count 20
	tp=$(ready_port tcp)
	up=$(ready_port udp)
	[ "$tp" -gt 0 ] && [ "$up" -gt 0 ]
	lo0=$(link_stat "$NSA" lo rx bytes)
	ip netns exec "$NSA" "$GEN" tcp-bulk --to "127.0.0.1:$tp" --bytes 1000000 >/dev/null
	ip netns exec "$NSA" "$GEN" tcp-bulk --to "[::1]:$tp" --bytes 2000000 >/dev/null
	ip netns exec "$NSA" "$GEN" udp --to "127.0.0.1:$up" --count 10 --size 100 >/dev/null
	ip netns exec "$NSA" "$GEN" udp --to "[::1]:$up" --count 10 --size 200 --unconnected >/dev/null
	finish_server
	out="$BATS_TEST_TMPDIR/server.out"
	[ "$(jq -r --arg l "127.0.0.1:$tp" 'select(.proto=="tcp" and .local==$l) | .rx_bytes' "$out")" -eq 1000000 ]
	[ "$(jq -r --arg l "[::1]:$tp" 'select(.proto=="tcp" and .local==$l) | .rx_bytes' "$out")" -eq 2000000 ]
	[ "$(jq -r --arg l "127.0.0.1:$up" 'select(.proto=="udp" and .local==$l) | .rx_bytes' "$out")" -eq 1000 ]
	[ "$(jq -r --arg l "[::1]:$up" 'select(.proto=="udp" and .local==$l) | .rx_bytes' "$out")" -eq 2000 ]
	[ $(($(link_stat "$NSA" lo rx bytes) - lo0)) -ge 3003000 ]
}

@test "SIGTERM stops the server, which prints what it counted" {
	start_server "$NSB" --udp 5305 --bind "$B4" --echo
	# With every echo back, the server has read every datagram before the signal.
	ip netns exec "$NSA" "$GEN" udp --to "$B4:5305" --count 5 --size 10 --expect-replies >/dev/null
	kill -0 "$SERVER_PID" # still serving: only the signal ends it
	finish_server term
	s=$(server_line udp)
	[ "$(val "$s" .rx_bytes)" -eq 50 ]
	[ "$(val "$s" .tx_bytes)" -eq 50 ]
	[ "$(val "$s" .rx_datagrams)" -eq 5 ]
}

@test "bad usage exits 2 with a message naming the cause" {
	run --separate-stderr "$GEN" no-such-command
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"unknown sub-command 'no-such-command'"* ]]
	run --separate-stderr "$GEN" tcp-bulk --to 10.231.0.300:5 --bytes 1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"bad address '10.231.0.300:5'"* ]]
	run --separate-stderr "$GEN" udp --to fd00:231::2:5 --count 1 --size 1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"[IPV6]:PORT"* ]]
	run --separate-stderr "$GEN" tcp-bulk --to "$B4:5201"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"'--bytes' is required"* ]]
	run --separate-stderr "$GEN" tcp-bulk --to "$B4:5201" --bytes 1 --frobnicate
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"unrecognized option '--frobnicate'"* ]]
	run --separate-stderr "$GEN" serve --tcp 1 --comm this-is-too-long-a-name
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--comm"* ]]
	[ -z "$output" ]
	run "$GEN" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"short-lived"* ]]
}

@test "connection refused exits 1 naming the address" {
	run --separate-stderr ip netns exec "$NSA" "$GEN" tcp-bulk --to "$B4:9" --bytes 1 --timeout 5
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"$B4:9"*"Connection refused"* ]]
	run --separate-stderr ip netns exec "$NSA" "$GEN" tcp-bulk --to "[$B6]:9" --bytes 1 --timeout 5
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"[$B6]:9"*"Connection refused"* ]]
	run --separate-stderr ip netns exec "$NSA" "$GEN" short-lived --to "$B4:9" --procs 3 --bytes 1 \
		--timeout 5
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"$B4:9"*"Connection refused"* ]]
}

@test "--timeout ends a run that cannot finish, with exit 1" {
	start_server "$NSB" --udp 5306 --bind "$B4" # no --echo: replies never come
	SECONDS=0
	run --separate-stderr ip netns exec "$NSA" "$GEN" udp --to "$B4:5306" --count 3 --size 10 \
		--expect-replies --timeout 0.5
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"timed out"* ]]
	[ "$(val "$output" .tx_datagrams)" -eq 3 ]
	finish_server term
	run --separate-stderr ip netns exec "$NSB" "$GEN" serve --tcp 5307 --bind "$B4" --timeout 0.5
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"timed out"* ]]
	[ "$(val "$output" .role)" = server ]
	[ "$SECONDS" -lt 5 ]
}
