# xdpflow on the kernels of the matrix (no tcx before 6.6): bpfcheck and
# xdpflow must agree on xdp+tc; UDP over loopback (XDP generic sees each
# datagram on ingress, the netlink TC filter on egress: 14 + 20 + 8 + 100
# bytes a frame, exact) in xdp+tc and in tc mode; SIGINT removes the netlink
# filter; SIGKILL leaves it, as the man page says, and --cleanup removes it.
# Sourced by tests.sh.

XF=$BIN/xdpflow
GEN=$BIN/bpfkit-trafficgen

# The UDP flow to port 47950 in one direction: "packets bytes".
xf_sum() { # file direction
	jq -rs --arg d "$2" 'map(select(.type=="flow" and .direction==$d and .proto=="udp" and (.dport==47950 or .sport==47950)))
		| "\(map(.packets)|add // 0) \(map(.bytes)|add // 0)"' "$1"
}

# xdpflow in the background with its output in $WORK/LABEL.*; false (and a
# failed check) if it does not attach.
xf_start() { # label xdpflow-args...
	_s=$1
	shift
	bg_start xdpflow "$WORK/$_s" --json --interval 0.5 "$@" && return 0
	not_ok "xdpflow $_s: attaches" "$(tail -n 8 "$WORK/$_s.err")"
	kill -KILL "$BG_PID" 2>/dev/null
	wait "$BG_PID"
	return 1
}

# One mode: xdpflow on lo, 20 datagrams of 100 bytes echoed, the checks.
xf_mode() { # label mode xdpflow-args...
	_l=$1 _m=$2
	shift 2
	xf_start "$_l" -i lo "$@" || return 0
	diag "xdpflow $_l: $(grep '^xdpflow: mode: ' "$WORK/$_l.err" | cut -c1-300)"
	"$GEN" udp --to 127.0.0.1:47950 --count 20 --size 100 --expect-replies >/dev/null 2>"$WORK/$_l.gen.err"
	sleep 0.3
	bg_stop
	is "xdpflow $_l: exits 0 on SIGINT" "$BG_RC" 0
	is "xdpflow $_l: every record in mode $_m" "$(jq -r .mode "$WORK/$_l.jsonl" | sort -u | tr '\n' ' ')" "$_m "
	# Each datagram and its echo pass lo's egress and ingress once.
	is "xdpflow $_l: 40 UDP frames of 142 bytes in" "$(xf_sum "$WORK/$_l.jsonl" ingress)" "40 5680"
	is "xdpflow $_l: 40 UDP frames of 142 bytes out" "$(xf_sum "$WORK/$_l.jsonl" egress)" "40 5680"
	is "xdpflow $_l: nothing left for --cleanup after SIGINT" "$("$XF" -i lo --cleanup 2>&1)" \
		"removed 0 TC filters left by xdpflow"
}

# VLAN 7 on a veth pair whose other end is in a namespace of its own (8021q
# is a module on these kernels; the development machines have none): 5 pings
# of 100 bytes each way. The veth carries the tag beside the frame, so TC
# counts flows of VLAN 7 and 146-byte frames (14 + 4 + 20 + 8 + 100) both
# ways; XDP on ingress sees no tag (VLAN 0, 142 bytes), and xdpflow says so
# at the start, as the man page does.
xf_vlan() { # label mode xdpflow-args...
	_l=$1 _m=$2
	shift 2
	xf_start "$_l" -i xfv0 "$@" || return 0
	ping -c 5 -s 100 -W 2 10.77.0.2 >"$WORK/$_l.ping" 2>&1
	sleep 0.3
	bg_stop
	is "xdpflow $_l: exits 0 on SIGINT" "$BG_RC" 0
	is "xdpflow $_l: every record in mode $_m" "$(jq -r .mode "$WORK/$_l.jsonl" | sort -u | tr '\n' ' ')" "$_m "
	for _d in egress ingress; do
		_want="5 730 vlan 7"
		[ "$_d/$_m" = ingress/xdp+tc ] && _want="5 710 vlan 0"
		is "xdpflow $_l: 5 ICMP frames $_d: $_want" \
			"$(jq -rs --arg d "$_d" 'map(select(.type=="flow" and .direction==$d and .proto=="icmp"))
				| "\(map(.packets)|add // 0) \(map(.bytes)|add // 0) vlan \(map(.vlan)|unique|map(tostring)|join(","))"' "$WORK/$_l.jsonl")" \
			"$_want"
	done
	if [ "$_m" = xdp+tc ]; then
		is "xdpflow $_l: warns that XDP cannot see the VLAN device's tags" \
			"$(grep -c 'xfv0 has VLAN devices (xfv0.7)' "$WORK/$_l.err")" 1
	fi
}

vlan_checks() {
	if ! ip link add xfv0 type veth peer name xfv1 2>"$WORK/veth.err"; then
		not_ok "a veth pair for the VLAN checks" "$(cat "$WORK/veth.err")"
		return 0
	fi
	# busybox's ip may name the peer itself
	_peer=$(ip -o link | sed -n 's/^[0-9]*: \([^:@]*\)@xfv0.*/\1/p' | head -n 1)
	unshare -n sleep 300 &
	_nsp=$!
	sleep 0.2
	if ! { ip link set "$_peer" netns "$_nsp" && ip link set xfv0 up &&
		ip link add link xfv0 name xfv0.7 type vlan id 7 && ip addr add 10.77.0.1/24 dev xfv0.7 &&
		ip link set xfv0.7 up &&
		nsenter -t "$_nsp" -n sh -c "ip link set lo up && ip link set $_peer up &&
			ip link add link $_peer name vp.7 type vlan id 7 && ip addr add 10.77.0.2/24 dev vp.7 &&
			ip link set vp.7 up"; } 2>"$WORK/vlan.err"; then
		not_ok "VLAN 7 on a veth pair (8021q)" "$(cat "$WORK/vlan.err")"
	elif ! ping -c 1 -W 3 10.77.0.2 >"$WORK/vlan.ping" 2>&1; then
		not_ok "ping over VLAN 7" "$(cat "$WORK/vlan.ping")"
	else
		xf_vlan vlan-auto xdp+tc
		xf_vlan vlan-tc tc --ingress tc
	fi
	kill "$_nsp" 2>/dev/null
	wait "$_nsp" 2>/dev/null
	ip link del xfv0.7 2>/dev/null
	ip link del xfv0 2>/dev/null
}

if [ ! -x "$XF" ]; then
	not_ok "xdpflow is in the initramfs"
elif [ ! -x "$GEN" ]; then
	not_ok "bpfkit-trafficgen is in the initramfs"
else
	ip link set lo up 2>/dev/null
	"$GEN" serve --udp 47950 --tcp 0 --bind 127.0.0.1 --echo --timeout 200 \
		--ready-file "$WORK/srv.ready" >/dev/null 2>"$WORK/srv.err" &
	SRV=$!
	if ! wait_for 10 test -s "$WORK/srv.ready"; then
		not_ok "trafficgen's server listens on 127.0.0.1:47950" "$(cat "$WORK/srv.err")"
	else
		is "bpfcheck's xdpflow row: xdp+tc" "$(tool_row xdpflow | jq -r .mode)" "xdp+tc"
		[ "$(tool_row xdpflow | jq -r .mode)" = "xdp+tc" ] || explain_bpfcheck -t xdpflow
		xf_mode auto xdp+tc
		xf_mode tc tc --ingress tc
		vlan_checks
		# SIGKILL: the XDP link goes with the process, the netlink filter stays.
		if bg_start xdpflow "$WORK/killed" -i lo --json; then
			kill -KILL "$BG_PID"
			wait "$BG_PID"
			sleep 0.2
			is "xdpflow after SIGKILL: --cleanup removes the one TC filter left" \
				"$("$XF" -i lo --cleanup 2>&1)" "removed 1 TC filter left by xdpflow"
			"$XF" -i lo --json --duration 0.3 >"$WORK/again.jsonl" 2>"$WORK/again.err"
			is "xdpflow after SIGKILL: no XDP program was left (a new run attaches, exit 0)" "$?" 0
		else
			not_ok "xdpflow attaches for the SIGKILL check" "$(tail -n 8 "$WORK/killed.err")"
		fi
	fi
	kill "$SRV" 2>/dev/null
	wait "$SRV" 2>/dev/null
fi
