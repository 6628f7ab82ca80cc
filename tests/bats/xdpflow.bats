#!/usr/bin/env bats
# xdpflow against ground truth, on a veth pair between two namespaces made
# here (nothing in the host's namespace): xdpflow runs in namespace A on its
# veth end; traffic comes from namespace B, or leaves A for B. The truth is
# what the generator sent (UDP, ICMP, IPv6, VLAN-tagged frames: exact sizes
# and counts), the kernel's own counters (the interface's rx counters, TCP's
# TcpOutSegs), and what a real collector (nfcapd) received.
# Both namespaces have static neighbour entries, so no ARP is on the wire.

# shellcheck disable=SC2016 # jq programs in single quotes

load helpers

bats_require_minimum_version 1.5.0

OUR_PROGS='^(probe_|netproc_|selftest_|bpfkit|independent_|xdpflow_)'
PORT_BASE=$((47000 + ($$ % 80) * 10))

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	need_generator
	snapshot_kernel_state
	make_netns_pair "bxf$$"
	local ma mb
	ma=$(ip -n "$NSA" -j link show "$IFA" | jq -r '.[0].address')
	mb=$(ip -n "$NSB" -j link show "$IFB" | jq -r '.[0].address')
	export MA=$ma MB=$mb
	ip -n "$NSA" neigh add "$B4" lladdr "$MB" dev "$IFA" nud permanent
	ip -n "$NSB" neigh add "$A4" lladdr "$MA" dev "$IFB" nud permanent
	# IPv6 only in the tests that use it (its neighbour discovery and MLD
	# would be traffic the interface counters see).
	ipv6 0
	XDPFLOW=$(bin xdpflow)
	export XDPFLOW PORT_BASE
}

# ipv6 1: IPv6 on both ends with addresses and static neighbours; ipv6 0: off.
ipv6() {
	local ns
	for ns in "$NSA" "$NSB"; do
		ip netns exec "$ns" sysctl -qw "net.ipv6.conf.all.disable_ipv6=$((1 - $1))" \
			"net.ipv6.conf.default.disable_ipv6=$((1 - $1))"
	done
	[ "$1" -eq 1 ] || return 0
	ip -n "$NSA" addr add "$A6/64" dev "$IFA" nodad
	ip -n "$NSB" addr add "$B6/64" dev "$IFB" nodad
	ip -n "$NSA" neigh replace "$B6" lladdr "$MB" dev "$IFA" nud permanent
	ip -n "$NSB" neigh replace "$A6" lladdr "$MA" dev "$IFB" nud permanent
}

teardown_file() {
	remove_netns_pair
	check_nothing_left
}

setup() {
	snapshot_kernel_state
	XF_PID=
}

teardown() {
	[ -n "${XF_PID:-}" ] && kill -KILL "$XF_PID" 2>/dev/null
	stop_server
	wait 2>/dev/null
	ipv6 0
	check_nothing_left
	# Nothing of ours on the interface either.
	[ -z "$(ip -n "$NSA" -j link show "$IFA" | jq -r '.[0].xdp // empty')" ]
	! tc -n "$NSA" filter show dev "$IFA" egress | grep -q xdpflow
	! tc -n "$NSA" filter show dev "$IFA" ingress | grep -q xdpflow
}

# Starts xdpflow in namespace A (output in $BATS_TEST_TMPDIR/NAME.out/.err);
# returns once it has attached.
start_xdpflow() {
	local name=$1
	shift
	start_until_ready "$BATS_TEST_TMPDIR/$name.out" "$BATS_TEST_TMPDIR/$name.err" "mode:" \
		ip netns exec "$NSA" "$XDPFLOW" -i "$IFA" "$@" || return 1
	XF_PID=$BG_TOOL_PID
}

# SIGINT, then its exit status must be 0.
stop_xdpflow() {
	local pid=$XF_PID
	XF_PID=
	stop_with_sigint "$pid" "$BATS_TEST_TMPDIR/$1.err"
}

# "packets bytes" summed over the interval records of the flows that match
# a jq condition: sum FILE 'COND'.
sum() {
	jq -rs "map(select(.type==\"flow\" and ($2))) | \"\\(map(.packets)|add // 0) \\(map(.bytes)|add // 0)\"" "$1"
}

summary() { jq -c 'select(.type=="summary")' "$1"; }

# A counter of namespace A's interface.
ifstat() { ip netns exec "$NSA" cat "/sys/class/net/$IFA/statistics/$1"; }

# A TCP counter of a namespace's MIB (/proc/net/snmp): tcpmib NS OutSegs.
tcpmib() {
	ip netns exec "$1" awk -v f="$2" '$1=="Tcp:" && !n {for (i = 2; i <= NF; i++) h[$i] = i; n = 1; next}
		$1=="Tcp:" {print $h[f]}' /proc/net/snmp
}

@test "xdpflow --help, --version and usage errors" {
	run "$XDPFLOW" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--idle-timeout"* && "$output" == *"--ipfix"* && "$output" == *"--max-flows"* ]]
	run "$XDPFLOW" --version
	[ "$status" -eq 0 ]
	[[ "$output" == "xdpflow (bpfkit) "* ]]
	run "$XDPFLOW" -i bxf-nosuch
	[ "$status" -eq 2 ]
	[[ "$output" == *"no interface bxf-nosuch"* ]]
	run "$XDPFLOW" -i lo --xdp-mode fast
	[ "$status" -eq 2 ]
	run "$XDPFLOW" -i lo --ipfix localhost:99999
	[ "$status" -eq 2 ]
	run "$XDPFLOW" -i lo --host 10.0.0.0/33
	[ "$status" -eq 2 ]
}

@test "without -i: every interface that is up, TC only, and a summary" {
	run --separate-stderr ip netns exec "$NSA" "$XDPFLOW" --json --duration 0.5
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"mode: tc (lo: ingress tcx, egress tcx; $IFA: ingress tcx, egress tcx"* ]]
	jq -e -s 'last.type == "summary" and all(.schema == "xdpflow/1" and .mode == "tc")' <<<"$output"
	# An interface that is down is left out.
	ip -n "$NSA" link set lo down
	run --separate-stderr ip netns exec "$NSA" "$XDPFLOW" --json --duration 0.3
	ip -n "$NSA" link set lo up
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"mode: tc ($IFA: ingress tcx"* ]]
}

@test "xdpflow as nobody: exit 2, one line naming the capabilities and the setcap fix" {
	run setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all "$XDPFLOW" -i lo
	[ "$status" -eq 2 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"CAP_BPF"* && "$output" == *"setcap cap_bpf,cap_perfmon,cap_net_admin+ep"* ]]
	# With them (as bpfcheck prints them), nobody counts, in the best mode.
	local file="$BATS_TEST_TMPDIR/xdpflow"
	cp "$XDPFLOW" "$file"
	chmod 755 "$BATS_TEST_TMPDIR"
	setcap cap_bpf,cap_perfmon,cap_net_admin+ep "$file"
	run --separate-stderr ip netns exec "$NSA" setpriv --reuid=nobody --regid=nogroup --clear-groups \
		--inh-caps=-all "$file" -i "$IFA" --json --duration 0.3
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"mode: xdp+tcx"* ]]
}

@test "UDP, ICMP and IPv6 both ways: packets and L2 bytes per flow and direction are exact" {
	ipv6 1
	start_server "$NSA" --udp "$PORT_BASE" --tcp 0 --bind "$A4" --bind "$A6" --echo
	start_xdpflow basic --json --interval 0.5
	grep -q "mode: xdp+tcx" "$BATS_TEST_TMPDIR/basic.err"
	ip netns exec "$NSB" "$GEN" udp --to "$A4:$PORT_BASE" --count 40 --size 200 --expect-replies >/dev/null
	ip netns exec "$NSB" "$GEN" udp --to "[$A6]:$PORT_BASE" --count 25 --size 300 --expect-replies >/dev/null
	ip netns exec "$NSB" ping -q -c 4 -s 100 -i 0.2 "$A4" >/dev/null
	ip netns exec "$NSB" ping -q -c 3 -s 500 -i 0.2 "$A6" >/dev/null
	sleep 0.2
	stop_xdpflow basic
	local f="$BATS_TEST_TMPDIR/basic.out"
	# UDP over IPv4: 14 + 20 + 8 + 200 bytes a frame, 40 each way.
	[ "$(sum "$f" ".direction==\"ingress\" and .proto==\"udp\" and .family==4 and .dport==$PORT_BASE")" = "40 9680" ]
	[ "$(sum "$f" ".direction==\"egress\" and .proto==\"udp\" and .family==4 and .sport==$PORT_BASE")" = "40 9680" ]
	# UDP over IPv6: 14 + 40 + 8 + 300.
	[ "$(sum "$f" ".direction==\"ingress\" and .proto==\"udp\" and .family==6 and .dport==$PORT_BASE")" = "25 9050" ]
	[ "$(sum "$f" ".direction==\"egress\" and .proto==\"udp\" and .family==6 and .sport==$PORT_BASE")" = "25 9050" ]
	# ICMP echo: 14 + 20 + 8 + 100; request in (type 8), reply out (type 0).
	[ "$(sum "$f" ".direction==\"ingress\" and .proto==\"icmp\" and .icmp_type==8 and .src==\"$B4\"")" = "4 568" ]
	[ "$(sum "$f" ".direction==\"egress\" and .proto==\"icmp\" and .icmp_type==0 and .dst==\"$B4\"")" = "4 568" ]
	# ICMPv6 echo: 14 + 40 + 8 + 500; types 128 and 129.
	[ "$(sum "$f" ".direction==\"ingress\" and .proto==\"icmp6\" and .icmp_type==128")" = "3 1686" ]
	[ "$(sum "$f" ".direction==\"egress\" and .proto==\"icmp6\" and .icmp_type==129")" = "3 1686" ]
	# Every record names the schema, the mode and the interface.
	[ "$(jq -r 'select(.schema!="xdpflow/1" or .mode!="xdp+tcx")' "$f")" = "" ]
	[ "$(jq -r 'select(.type=="flow" and .interface!="'"$IFA"'")' "$f")" = "" ]
	summary "$f" | jq -e '.flows_seen >= 8 and .ingress.overflow_packets == 0'
}

@test "afpacket mode (--capture-mode afpacket): the same exact UDP counts both ways" {
	start_server "$NSA" --udp "$PORT_BASE" --tcp 0 --bind "$A4" --echo
	start_xdpflow afp --json --interval 0.5 --capture-mode afpacket
	grep -q "mode: afpacket (AF_PACKET capture of $IFA" "$BATS_TEST_TMPDIR/afp.err"
	ip netns exec "$NSB" "$GEN" udp --to "$A4:$PORT_BASE" --count 40 --size 200 --expect-replies >/dev/null
	sleep 0.2
	stop_xdpflow afp
	local f="$BATS_TEST_TMPDIR/afp.out"
	[ "$(sum "$f" ".direction==\"ingress\" and .proto==\"udp\" and .dport==$PORT_BASE")" = "40 9680" ]
	[ "$(sum "$f" ".direction==\"egress\" and .proto==\"udp\" and .sport==$PORT_BASE")" = "40 9680" ]
	[ "$(jq -r 'select(.mode!="afpacket")' "$f")" = "" ]
	summary "$f" | jq -e '.capture_drops == 0'
}

@test "TCP bulk both ways: ingress equals the interface's rx counters, egress TcpOutSegs and wire bytes" {
	start_server "$NSA" --tcp "$PORT_BASE" --udp 0 --bind "$A4" --tcp-send 3000000
	start_xdpflow tcp --json --interval 0.5
	local rx0 rxb0 tx0 txb0 out0 ra0 rb0 segs
	rx0=$(ifstat rx_packets)
	rxb0=$(ifstat rx_bytes)
	tx0=$(ifstat tx_packets)
	txb0=$(ifstat tx_bytes)
	out0=$(tcpmib "$NSA" OutSegs)
	ra0=$(tcpmib "$NSA" RetransSegs)
	rb0=$(tcpmib "$NSB" RetransSegs)
	ip netns exec "$NSB" "$GEN" tcp-bulk --to "$A4:$PORT_BASE" --bytes 4000000 --recv-bytes 3000000 >/dev/null
	sleep 0.2
	local rx=$(($(ifstat rx_packets) - rx0)) rxb=$(($(ifstat rx_bytes) - rxb0))
	local tx=$(($(ifstat tx_packets) - tx0)) txb=$(($(ifstat tx_bytes) - txb0))
	local out=$(($(tcpmib "$NSA" OutSegs) - out0)) ra=$(($(tcpmib "$NSA" RetransSegs) - ra0))
	local rb=$(($(tcpmib "$NSB" RetransSegs) - rb0))
	stop_xdpflow tcp
	local f="$BATS_TEST_TMPDIR/tcp.out"
	local ing egr
	ing=$(sum "$f" '.direction=="ingress" and .proto=="tcp"')
	egr=$(sum "$f" '.direction=="egress" and .proto=="tcp"')
	echo "ingress: frames $rx bytes $rxb; xdpflow $ing" >&3
	echo "egress: segs $out retransmitted $ra (peer $rb) frames $tx bytes $txb; xdpflow $egr" >&3
	# Ingress: XDP sees each frame as it arrives (the peer does not send GSO
	# frames to an XDP-attached veth), the interface counts the same frames
	# (its rx_bytes without the 14-byte Ethernet header).
	[ "$ing" = "$rx $((rxb + 14 * rx))" ]
	# Egress: GSO super-frames count as their segments: TcpOutSegs, plus
	# TcpRetransSegs (TCP leaves retransmissions out of OutSegs).
	segs=$((out + ra))
	[ "$tx" -lt "$segs" ] # there were GSO frames
	[ "${egr% *}" = "$segs" ]
	# Wire bytes are the super-frames' bytes plus the headers of every
	# segment beyond the first: 66 bytes (Ethernet 14, IPv4 20, TCP with
	# timestamps 32) while nothing is lost. After a loss (a retransmission
	# on either side) data segments may carry SACK blocks, up to 28 more
	# bytes each, which xdpflow reads from the frame and the test cannot.
	local exact=$((txb + (segs - tx) * 66))
	if [ $((ra + rb)) -eq 0 ]; then
		[ "${egr#* }" = "$exact" ]
	else
		[ "${egr#* }" -ge "$exact" ]
		[ "${egr#* }" -le $((exact + (segs - tx) * 28)) ]
	fi
	# Flags: the client's flow saw SYN, ACK, PSH and FIN.
	jq -e -s 'map(select(.type=="flow" and .direction=="ingress" and .proto=="tcp")) | last | .tcp_flags | test("FS..A")' "$f"
}

@test "many short TCP flows: one flow per connection, packets equal the interface's counters" {
	start_server "$NSA" --tcp "$PORT_BASE" --udp 0 --bind "$A4"
	start_xdpflow short --json --interval 0.5
	local rx0 rxb0
	rx0=$(ifstat rx_packets)
	rxb0=$(ifstat rx_bytes)
	ip netns exec "$NSB" "$GEN" short-lived --to "$A4:$PORT_BASE" --procs 60 --bytes 3000 --parallel 4 >/dev/null
	sleep 0.2
	local rx=$(($(ifstat rx_packets) - rx0)) rxb=$(($(ifstat rx_bytes) - rxb0))
	stop_xdpflow short
	local f="$BATS_TEST_TMPDIR/short.out"
	[ "$(jq -s "map(select(.type==\"flow\" and .direction==\"ingress\" and .dport==$PORT_BASE) | .sport) | unique | length" "$f")" -eq 60 ]
	[ "$(sum "$f" '.direction=="ingress"')" = "$rx $((rxb + 14 * rx))" ]
}

@test "VLAN-tagged frames both ways are counted under their VLAN id with the tag's 4 bytes" {
	# This kernel may have no 8021q: tagged frames are written to the wire
	# with a packet socket (14 + 4 + 20 + 8 + 100 bytes each).
	local send='
import socket, struct, sys
ifname, src_mac, dst_mac, src, dst, count = sys.argv[1:7]
mac = lambda m: bytes.fromhex(m.replace(":", ""))
payload = b"v" * 100
udp = struct.pack("!HHHH", 47999, 47998, 8 + len(payload), 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
frame = mac(dst_mac) + mac(src_mac) + struct.pack("!HH", 0x8100, 42) + b"\x08\x00" + ip + udp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
for _ in range(int(count)):
    s.send(frame)
'
	start_xdpflow vlan --json --interval 0.5
	ip netns exec "$NSB" python3 -c "$send" "$IFB" "$MB" "$MA" 10.232.0.2 10.232.0.1 30
	ip netns exec "$NSA" python3 -c "$send" "$IFA" "$MA" "$MB" 10.232.0.1 10.232.0.2 20
	sleep 0.2
	stop_xdpflow vlan
	local f="$BATS_TEST_TMPDIR/vlan.out"
	[ "$(sum "$f" '.direction=="ingress" and .vlan==42 and .src=="10.232.0.2" and .sport==47999')" = "30 4380" ]
	[ "$(sum "$f" '.direction=="egress" and .vlan==42 and .src=="10.232.0.1" and .sport==47999')" = "20 2920" ]
}

@test "two interfaces in one run (-i veth -i lo): each flow under its own interface" {
	start_xdpflow two --json --interval 0.5 -i lo
	grep -q "$IFA: ingress xdp" "$BATS_TEST_TMPDIR/two.err"
	grep -q "lo: ingress xdp" "$BATS_TEST_TMPDIR/two.err"
	ip netns exec "$NSB" ping -q -c 2 -s 100 -i 0.2 "$A4" >/dev/null
	ip netns exec "$NSA" ping -q -c 3 -s 200 -i 0.2 127.0.0.1 >/dev/null
	sleep 0.2
	stop_xdpflow two
	local f="$BATS_TEST_TMPDIR/two.out"
	[ "$(sum "$f" ".interface==\"$IFA\" and .direction==\"ingress\" and .icmp_type==8")" = "2 284" ]
	# On lo each echo request and reply leaves and comes back: 14 + 20 + 8 + 200.
	[ "$(sum "$f" '.interface=="lo" and .direction=="ingress" and .icmp_type==8')" = "3 726" ]
	[ "$(sum "$f" '.interface=="lo" and .direction=="egress" and .icmp_type==0')" = "3 726" ]
}

@test "text output: a header, one line per flow and interval, the summary last" {
	start_xdpflow text --interval 30 --proto icmp
	ip netns exec "$NSB" ping -q -c 2 -s 56 -i 0.2 "$A4" >/dev/null
	sleep 0.4
	stop_xdpflow text
	local f="$BATS_TEST_TMPDIR/text.out"
	head -1 "$f" | grep -q '^TIME .*PACKETS .*BYTES'
	grep -E " in +icmp +$B4 +$A4 .* 2 +196 type 8 code 0" "$f"
	grep -E " out +icmp +$A4 +$B4 .* 2 +196 type 0 code 0" "$f"
	# The filter: no other protocol printed.
	[ "$(sed '1d;$d' "$f" | grep -vc icmp)" -eq 0 ]
	tail -1 "$f" | grep -q '^summary: in '
}

@test "idle flows expire: their last record says so and the summary counts them" {
	start_server "$NSA" --udp "$PORT_BASE" --tcp 0 --bind "$A4"
	start_xdpflow idle --json --interval 0.2 --idle-timeout 0.5
	ip netns exec "$NSB" "$GEN" udp --to "$A4:$PORT_BASE" --count 5 --size 10 >/dev/null
	sleep 1.5
	ip netns exec "$NSB" "$GEN" udp --to "$A4:$PORT_BASE" --count 3 --size 10 >/dev/null
	sleep 0.3
	stop_xdpflow idle
	local f="$BATS_TEST_TMPDIR/idle.out"
	# Two generator runs, two source ports, two flows: the first expired.
	jq -e -s "map(select(.type==\"flow\" and .dport==$PORT_BASE and .expired)) | length >= 1" "$f"
	[ "$(sum "$f" ".direction==\"ingress\" and .dport==$PORT_BASE")" = "8 416" ]
	summary "$f" | jq -e '.flows_expired >= 1'
}

# One tuple sending, pausing past the idle timeout, sending again: each CPU keeps the flow it
# counted last apart from the table (the fast path), and an expired flow whose packets such a
# cache still held must come back as a new one without counting them twice.
@test "a flow that resumes after it expired: new records for the rest, every packet once" {
	start_server "$NSA" --udp "$PORT_BASE" --tcp 0 --bind "$A4"
	start_xdpflow resume --json --interval 0.2 --idle-timeout 0.5
	local sport=$((PORT_BASE + 7)) n
	for n in 5 3 4; do
		ip netns exec "$NSB" python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[3])))
for _ in range(int(sys.argv[4])):
    s.sendto(b"x" * 10, (sys.argv[1], int(sys.argv[2])))' "$A4" "$PORT_BASE" "$sport" "$n"
		sleep 1.5
	done
	stop_xdpflow resume
	local f="$BATS_TEST_TMPDIR/resume.out" sel=".direction==\"ingress\" and .dport==$PORT_BASE and .sport==$sport"
	jq -c "select(.type==\"flow\" and $sel) | [.packets, .bytes, .expired, .cpu_note]" "$f" # shown on failure
	# three lives of one tuple: the first two expired, and 12 packets of 52 bytes in all
	[ "$(jq -s "map(select(.type==\"flow\" and $sel and .expired)) | length" "$f")" -ge 2 ]
	[ "$(sum "$f" "$sel")" = "12 624" ]
}

@test "IPFIX to nfcapd: nfdump shows the flows, packets and bytes of xdpflow's own JSON" {
	command -v nfcapd >/dev/null || skip "needs nfcapd (package nfdump)"
	local dir="$BATS_TEST_TMPDIR/nf" cport=$((PORT_BASE + 1))
	mkdir -p "$dir"
	ipv6 1
	ip netns exec "$NSA" nfcapd -b 127.0.0.1 -p "$cport" -w "$dir" -t 3600 >"$BATS_TEST_TMPDIR/nfcapd.log" 2>&1 3>&- &
	local nfpid=$!
	sleep 0.5
	start_server "$NSA" --udp "$PORT_BASE" --tcp "$PORT_BASE" --bind "$A4" --bind "$A6" --echo
	start_xdpflow ipfix --json --interval 0.5 --active-timeout 1 --ipfix "127.0.0.1:$cport"
	ip netns exec "$NSB" "$GEN" udp --to "$A4:$PORT_BASE" --count 30 --size 120 --expect-replies >/dev/null
	ip netns exec "$NSB" "$GEN" udp --to "[$A6]:$PORT_BASE" --count 10 --size 64 --expect-replies >/dev/null
	ip netns exec "$NSB" "$GEN" tcp-bulk --to "$A4:$PORT_BASE" --bytes 200000 --recv-bytes 200000 >/dev/null
	ip netns exec "$NSB" ping -q -c 2 -s 100 -i 0.2 "$A4" >/dev/null
	sleep 1.2
	stop_xdpflow ipfix
	sleep 0.3
	kill -TERM "$nfpid"
	wait "$nfpid" || true
	# Per flow (addresses, ports, protocol): packets and bytes, both sides.
	jq -r -s 'map(select(.type=="flow" and .family)) | group_by([.src,.dst,.sport // 0,.dport // 0,.ip_proto]) |
		map("\(.[0].src) \(.[0].dst) \(.[0].sport // 0) \(.[0].dport // 0) \(.[0].ip_proto) \(map(.packets)|add) \(map(.bytes)|add)")[]' \
		"$BATS_TEST_TMPDIR/ipfix.out" | sort >"$BATS_TEST_TMPDIR/ours"
	nfdump -R "$dir" -6 -q -N -A srcip,dstip,srcport,dstport,proto -o 'fmt:%sa %da %sp %dp %pr %pkt %byt' |
		awk '{ p=$5; if (p=="TCP") p=6; else if (p=="UDP") p=17; else if (p=="ICMP") p=1; else if (p=="ICMP6") p=58;
			sp=$3; dp=$4; if (p==1 || p==58) { sp=0; dp=0 } print $1, $2, sp, dp, p, $6, $7 }' |
		sort >"$BATS_TEST_TMPDIR/theirs"
	# ICMP: nfdump shows type.code in the port column; ours keys by type, so sum both sides per tuple.
	diff "$BATS_TEST_TMPDIR/ours" "$BATS_TEST_TMPDIR/theirs"
	grep -q " 6 " "$BATS_TEST_TMPDIR/theirs"
	grep -q "$A6" "$BATS_TEST_TMPDIR/theirs"
}

@test "another XDP program on the interface: refused and named without --force; --ingress tc counts beside it" {
	local obj="$BATS_TEST_TMPDIR/other.o"
	printf '%s\n' '__attribute__((section("xdp"), used)) int bxf_other(void *ctx) { return 2; }' \
		'char _license[] __attribute__((section("license"), used)) = "GPL";' >"$BATS_TEST_TMPDIR/other.c"
	clang -O2 -target bpf -c "$BATS_TEST_TMPDIR/other.c" -o "$obj"
	ip -n "$NSA" link set dev "$IFA" xdpgeneric obj "$obj" sec xdp
	local id
	id=$(ip -n "$NSA" -j link show "$IFA" | jq -r '.[0].xdp.prog.id')
	run ip netns exec "$NSA" "$XDPFLOW" -i "$IFA" --duration 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"already has XDP program $id 'bxf_other' (generic)"* ]]
	[[ "$output" == *"--force"* ]]
	# Still there, untouched.
	[ "$(ip -n "$NSA" -j link show "$IFA" | jq -r '.[0].xdp.prog.id')" = "$id" ]
	# TC on both directions leaves it alone.
	start_xdpflow tcmode --json --interval 0.3 --ingress tc
	grep -q "mode: tc " "$BATS_TEST_TMPDIR/tcmode.err"
	ip netns exec "$NSB" ping -q -c 2 -s 100 -i 0.2 "$A4" >/dev/null
	sleep 0.3
	stop_xdpflow tcmode
	[ "$(sum "$BATS_TEST_TMPDIR/tcmode.out" '.direction=="ingress" and .proto=="icmp" and .icmp_type==8')" = "2 284" ]
	[ "$(ip -n "$NSA" -j link show "$IFA" | jq -r '.[0].xdp.prog.id')" = "$id" ]
	# --force replaces it (a netlink attachment), and it is gone afterwards.
	start_xdpflow force --json --force
	grep -q "mode: xdp+tcx" "$BATS_TEST_TMPDIR/force.err"
	stop_xdpflow force
	[ -z "$(ip -n "$NSA" -j link show "$IFA" | jq -r '.[0].xdp // empty')" ]
}

@test "kill -9 during a run leaves nothing attached (ip link, tc filter, bpftool net)" {
	start_xdpflow killed --json --interval 0.2
	[ "$(ip -n "$NSA" -j link show "$IFA" | jq -r '.[0].xdp.prog.name')" = xdpflow_xdp ]
	[ -n "$(new_of_ours link | grep xdpflow_tc_egress)" ]
	ip netns exec "$NSB" ping -q -c 2 -i 0.1 "$A4" >/dev/null
	kill -KILL "$XF_PID"
	wait "$XF_PID" 2>/dev/null || true
	XF_PID=
	check_nothing_left
	[ -z "$(ip -n "$NSA" -j link show "$IFA" | jq -r '.[0].xdp // empty')" ]
	[ -z "$(ip netns exec "$NSA" bpftool net show dev "$IFA" | grep -E '^[a-z].*id [0-9]+')" ]
	[ -z "$(tc -n "$NSA" filter show dev "$IFA" egress)" ]
}

@test "table full (--max-flows 64, 1000 flows): the overflow is counted and the totals add up" {
	# No IPv6, and static neighbours: the only frames are ours.
	start_xdpflow full --json --interval 0.5 --max-flows 64
	local rx0 rxb0
	rx0=$(ifstat rx_packets)
	rxb0=$(ifstat rx_bytes)
	ip netns exec "$NSB" python3 -c '
import socket, sys
for i in range(1000):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], 0))
    s.sendto(b"f" * 50, (sys.argv[2], int(sys.argv[3])))
    s.close()
' "$B4" "$A4" "$PORT_BASE"
	sleep 0.2
	local rx=$(($(ifstat rx_packets) - rx0)) rxb=$(($(ifstat rx_bytes) - rxb0))
	stop_xdpflow full
	local f="$BATS_TEST_TMPDIR/full.out"
	[ "$rx" -eq 1000 ]
	# Flows recorded: at most the table's size; the rest is overflow.
	local nflows
	nflows=$(jq -s 'map(select(.type=="flow" and .direction=="ingress")) | map(.sport) | unique | length' "$f")
	[ "$nflows" -le 64 ]
	[ "$nflows" -ge 32 ]
	summary "$f" | jq -e ".ingress.overflow_packets == $((1000 - $(sum "$f" '.direction=="ingress"' | cut -d' ' -f1)))"
	summary "$f" | jq -e ".ingress.packets == $rx and .ingress.bytes == $((rxb + 14 * rx)) and .ingress.bytes == 92000"
	summary "$f" | jq -e '.ingress.overflow_packets > 900'
}

@test "sampling 1 in 10: the rate is in every record, about a tenth is counted" {
	start_server "$NSA" --udp "$PORT_BASE" --tcp 0 --bind "$A4"
	start_xdpflow sample --json --interval 0.5 --sample 10
	ip netns exec "$NSB" "$GEN" udp --to "$A4:$PORT_BASE" --count 500 --size 10 >/dev/null
	sleep 0.2
	stop_xdpflow sample
	local f="$BATS_TEST_TMPDIR/sample.out"
	[ "$(jq -r 'select(.sample_rate!=10)' "$f")" = "" ]
	local n
	n=$(sum "$f" ".direction==\"ingress\" and .dport==$PORT_BASE" | cut -d' ' -f1)
	# Every 10th packet per CPU: from 50 up to 50 plus one per CPU.
	[ "$n" -ge 50 ] && [ "$n" -le $((50 + $(nproc))) ]
	summary "$f" | jq -e '.packets_seen >= 500'
}

@test "random sampling 1 in 4 and --top 1: the rate in every record, one flow per interval" {
	start_server "$NSA" --udp "$PORT_BASE" --tcp 0 --bind "$A4"
	start_xdpflow rnd --json --interval 30 --sample 4 --sample-random --top 1 --proto udp
	ip netns exec "$NSB" "$GEN" udp --to "$A4:$PORT_BASE" --count 400 --size 300 >/dev/null
	ip netns exec "$NSB" "$GEN" udp --to "$A4:$PORT_BASE" --count 400 --size 10 >/dev/null
	sleep 0.2
	stop_xdpflow rnd
	local f="$BATS_TEST_TMPDIR/rnd.out"
	# One interval (the last): only the flow with the most bytes, the 300-byte one.
	[ "$(jq -s 'map(select(.type=="flow")) | length' "$f")" -eq 1 ]
	jq -e -s 'map(select(.type=="flow")) | all(.sample_rate == 4 and .bytes == .packets * 342)' "$f"
	# About a quarter of 400 (binomial: 100 +- 9; the bounds are 6 deviations out).
	local n
	n=$(jq 'select(.type=="flow") | .packets' "$f")
	[ "$n" -ge 45 ] && [ "$n" -le 155 ]
	summary "$f" | jq -e '.packets_seen >= 800 and .packets_sampled < .packets_seen'
}
