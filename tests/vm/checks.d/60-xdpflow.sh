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

# One mode: xdpflow on lo, 20 datagrams of 100 bytes echoed, the checks.
xf_mode() { # label mode xdpflow-args...
	_l=$1 _m=$2
	shift 2
	if ! bg_start xdpflow "$WORK/$_l" -i lo --json --interval 0.5 "$@"; then
		not_ok "xdpflow $_l: attaches" "$(tail -n 8 "$WORK/$_l.err")"
		kill -KILL "$BG_PID" 2>/dev/null
		wait "$BG_PID"
		return 0
	fi
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
