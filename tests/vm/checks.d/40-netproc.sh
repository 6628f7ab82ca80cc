# netproc on every rung of its ladder against bpfkit-trafficgen's ground
# truth, on loopback: fentry (what auto mode picks here), kprobe, tracepoint
# (refused: sock:sock_send_length came in 6.3) and afpacket; and fentry again
# with only the reduced BTF. The eBPF rungs must attribute every ground-truth
# process's bytes within [99%, 100%] to its pid with its comm (as
# tests/bats/netproc.bats's check_truth); afpacket must give >= 95% of the
# frame bytes it captured to the processes involved. Sourced by tests.sh.

NP=$BIN/netproc
GEN=$BIN/bpfkit-trafficgen
MB=1048576

# --- helpers -----------------------------------------------------------------


# netproc in the background, JSON lines in $NPOUT.jsonl and stderr in
# $NPOUT.err; returns once -v said "netproc: mode: " (counting has begun).
np_start() { # name netproc-args...
	NPOUT=$WORK/$1
	shift
	bg_start netproc "$NPOUT" --json --interval 1 -v "$@"
	_rc=$?
	NP_PID=$BG_PID
	return $_rc
}

# SIGINT: netproc prints what came in since its last interval and exits 0.
# Sets NP_RC (KILLed after 20 s: 137).
np_stop() {
	bg_stop
	NP_RC=$BG_RC
}

# A trafficgen server for one scenario, so that its pid and its ground truth
# are that scenario's alone. $1.ready (pid and ports), $1.srv (truth).
srv_start() { # name serve-args...
	local _sf="$WORK/$1"
	shift
	rm -f "$_sf.ready"
	"$GEN" serve --ready-file "$_sf.ready" --timeout 90 "$@" >"$_sf.srv" 2>"$_sf.srv.err" &
	echo $! >"$_sf.srvpid"
}
srv_ready() { # name
	wait_for 20 test -s "$WORK/$1.ready" || { not_ok "trafficgen server $1 gets ready" "$(cat "$WORK/$1.srv.err")"; return 1; }
}
srv_port() { jq -r ".$2" "$WORK/$1.ready"; } # name tcp_port|udp_port
srv_pid() { jq -r .pid "$WORK/$1.ready"; }
# Waits for the server to end by itself (--tcp-conns), or ends it with
# SIGTERM first ("term": it reads what is queued, then exits 0).
srv_finish() { # name [term]
	local _p _rc
	_p=$(cat "$WORK/$1.srvpid")
	[ "${2:-}" = term ] && kill -TERM "$_p" 2>/dev/null
	wait_for 15 dead "$_p" || kill -KILL "$_p" 2>/dev/null
	wait "$_p"
	_rc=$?
	[ "$_rc" -eq 0 ] || echo "server exited $_rc: $(cat "$WORK/$1.srv.err")" >>"$WORK/$1.errors"
}

# A trafficgen client; its truth in $1.cli. Failures are noted in $1.errors.
cli() { # name trafficgen-args...
	local _c="$WORK/$1" _rc
	shift
	"$GEN" "$@" >"$_c.cli" 2>"$_c.cli.err"
	_rc=$?
	[ "$_rc" -eq 0 ] || echo "client ($*) exited $_rc: $(cat "$_c.cli.err")" >>"$_c.errors"
}

# As check_truth in tests/bats/netproc.bats: every process in the ground
# truth files ($2...) against netproc's sums for its pid in $1: bytes within
# [99%, 100%] of the truth both ways, same comm. One line per process in
# $WORK/truth.out; false if any is off (or if there is no truth at all).
check_truth() { # netproc.jsonl truth-files...
	local _np="$1"
	shift
	jq -s 'map(select(.type=="process")) | group_by(.pid)
		| map({key: (.[0].pid|tostring), value: {comm: .[0].comm, tx: (map(.tx_bytes)|add), rx: (map(.rx_bytes)|add)}})
		| from_entries' "$_np" >"$WORK/seen.json" || return 1
	cat "$@" | jq -s 'map(select(.pid != null and .role != "summary")) | group_by(.pid)
		| map({pid: .[0].pid, comm: .[0].comm, tx: (map(.tx_bytes)|add), rx: (map(.rx_bytes)|add)})
		| map(select(.tx > 0 or .rx > 0))' >"$WORK/truth.json" || return 1
	jq -r --slurpfile seen "$WORK/seen.json" '.[] | . as $t | ($seen[0][$t.pid|tostring] // {comm: "-", tx: 0, rx: 0}) as $s
		| "\($t.pid) \($t.comm) \($s.comm) \($t.tx) \($s.tx) \($t.rx) \($s.rx)"' "$WORK/truth.json" |
		awk '{ ok = ($2 == $3) && ($5 >= 0.99*$4) && ($5 <= $4) && ($7 >= 0.99*$6) && ($7 <= $6);
		       printf "%s pid %s comm %s/%s tx %s/%s rx %s/%s\n", ok ? "ok" : "WRONG", $1, $2, $3, $5, $4, $7, $6;
		       n++; if (!ok) bad++ } END { exit (bad > 0 || n == 0) }' >"$WORK/truth.out"
}

# One TAP line for a scenario of an eBPF rung: its client's and server's
# truth against netproc's records.
truth_line() { # desc scenario
	if [ -s "$WORK/$2.errors" ]; then
		not_ok "$1" "the traffic did not run as planned:" "$(cat "$WORK/$2.errors")"
	elif check_truth "$NPOUT.jsonl" "$WORK/$2.cli" "$WORK/$2.srv"; then
		ok "$1"
	else
		not_ok "$1" "$(grep -c '^ok' "$WORK/truth.out") processes right, $(grep -c '^WRONG' "$WORK/truth.out") wrong (got/truth):" \
			"$(grep -v '^ok' "$WORK/truth.out" | head -n 8)"
	fi
}

# The stop and the mode of a netproc run.
np_run_lines() { # label mode
	is "netproc $1: exits 0 on SIGINT" "$NP_RC" 0
	is "netproc $1: runs in mode $2 (totals records)" "$(jq -r 'select(.type=="totals").mode' "$NPOUT.jsonl" | sort -u | tr '\n' ' ')" "$2 "
	if [ "$NP_RC" != 0 ]; then
		echo "---- netproc $1 stderr ----"
		cat "$NPOUT.err"
		echo "----"
	fi
}

# IPv6 on lo: ::1 is there once lo is up, unless IPv6 is off.
HAVE6=
if grep -q '^0\{31\}1 .* lo$' /proc/net/if_inet6 2>/dev/null; then
	HAVE6=1
else
	ip -6 addr add ::1/128 dev lo 2>/dev/null
	grep -q '^0\{31\}1 .* lo$' /proc/net/if_inet6 2>/dev/null && HAVE6=1
fi

# --- an eBPF rung: every scenario under one netproc run ----------------------
# Each scenario has its own server, so each process's truth is its own.
ebpf_rung() { # label mode netproc-args...
	_label=$1 _mode=$2
	shift 2
	_r=$_label NP_PID=
	srv_start "$_r-tcp" --tcp 0 --bind 127.0.0.1 --tcp-conns 1 --comm np-srv-tcp
	srv_start "$_r-udpc" --udp 0 --bind 127.0.0.1 --udp-count 1000 --comm np-srv-udpc
	srv_start "$_r-udpu" --udp 0 --bind 127.0.0.1 --udp-count 1000 --comm np-srv-udpu
	[ -n "$HAVE6" ] && srv_start "$_r-tcp6" --tcp 0 --bind ::1 --tcp-conns 1 --echo --comm np-srv-tcp6
	srv_start "$_r-short" --tcp 0 --bind 127.0.0.1 --tcp-conns 200 --comm np-srv-short
	for _s in tcp udpc udpu ${HAVE6:+tcp6} short; do
		srv_ready "$_r-$_s" || break
	done
	if [ ! -s "$WORK/$_r-short.ready" ] || ! np_start "$_r" "$@"; then
		[ -s "$WORK/$_r-short.ready" ] &&
			not_ok "netproc $_label: starts counting (-v says \"netproc: mode: \")" "$(tail -n 12 "$NPOUT.err")"
		[ -z "$NP_PID" ] || kill -KILL "$NP_PID" 2>/dev/null
		for _s in tcp udpc udpu ${HAVE6:+tcp6} short; do kill -KILL "$(cat "$WORK/$_r-$_s.srvpid")" 2>/dev/null; done
		wait
		return 0
	fi
	diag "netproc $_label: $(grep '^netproc: mode: ' "$NPOUT.err")"
	t0=$(uptime_s)
	cli "$_r-tcp" tcp-bulk --to "127.0.0.1:$(srv_port "$_r-tcp" tcp_port)" --bytes $((20 * MB)) --comm np-tcp
	srv_finish "$_r-tcp"
	cli "$_r-udpc" udp --to "127.0.0.1:$(srv_port "$_r-udpc" udp_port)" --count 1000 --size 700 --connected --comm np-udp-c
	srv_finish "$_r-udpc" term
	cli "$_r-udpu" udp --to "127.0.0.1:$(srv_port "$_r-udpu" udp_port)" --count 1000 --size 300 --unconnected --comm np-udp-u
	srv_finish "$_r-udpu" term
	if [ -n "$HAVE6" ]; then
		cli "$_r-tcp6" tcp-bulk --to "[::1]:$(srv_port "$_r-tcp6" tcp_port)" --bytes $((4 * MB)) --recv-bytes $((4 * MB)) --comm np-tcp6
		srv_finish "$_r-tcp6"
	fi
	cli "$_r-short" short-lived --to "127.0.0.1:$(srv_port "$_r-short" tcp_port)" --procs 200 --bytes 1500
	srv_finish "$_r-short"
	diag "netproc $_label: the traffic took $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN {printf "%.1f", b - a}') s"
	np_stop
	np_run_lines "$_label" "$_mode"
	diag "netproc $_label: counted $(jq -s -r '"\(map(select(.type=="totals").tx_bytes) | add) bytes sent and \(map(select(.type=="totals").rx_bytes) | add) received, in \(map(select(.type=="process")) | length) process records"' "$NPOUT.jsonl")"
	truth_line "netproc $_label: TCP bulk 20 MB >= 99%" "$_r-tcp"
	truth_line "netproc $_label: UDP 1000 datagrams, connected >= 99%" "$_r-udpc"
	truth_line "netproc $_label: UDP 1000 datagrams, unconnected (sendto) >= 99%" "$_r-udpu"
	if [ -n "$HAVE6" ]; then
		truth_line "netproc $_label: IPv6 TCP 4 MB with echo >= 99%" "$_r-tcp6"
	else
		skip "netproc $_label: IPv6 TCP 4 MB with echo >= 99%" "no ::1 on lo in this VM"
	fi
	_kids=$(jq -c 'select(.role=="child")' "$WORK/$_r-short.cli" | grep -c .)
	if [ "$_kids" != 200 ]; then
		echo "short-lived: $_kids children reported, not 200" >>"$WORK/$_r-short.errors"
	fi
	truth_line "netproc $_label: 200 short-lived processes, each exact >= 99%" "$_r-short"
}

# --- afpacket: one netproc run per scenario (the share is of all it captured)
afp_share() { # pids...
	local _pids
	_pids=$(printf '%s\n' "$@" | jq -s -c .)
	jq -s --argjson pids "$_pids" '
		(map(select(.type=="process" and ((.pid) as $p | $pids | index($p)))) | map(.tx_bytes + .rx_bytes) | add // 0) as $mine
		| (map(select(.type=="totals")) | map(.tx_bytes + .rx_bytes) | add // 0) as $all
		| if $all == 0 then 0 else $mine / $all end' "$NPOUT.jsonl"
}
afp_scenario() { # name desc server-args -- client-args
	_n=afp-$1 _d=$2
	shift 2
	_sa=
	while [ "$1" != -- ]; do
		_sa="$_sa $1"
		shift
	done
	shift
	# shellcheck disable=SC2086 # the server's words
	srv_start "$_n" $_sa
	srv_ready "$_n" || return 0
	_port=$(srv_port "$_n" tcp_port)
	[ "$_port" = null ] && _port=$(srv_port "$_n" udp_port)
	if ! np_start "$_n" --capture-mode=afpacket; then
		not_ok "netproc afpacket: $_d >= 95% of frame bytes" "netproc did not start counting:" "$(tail -n 12 "$NPOUT.err")"
		kill -KILL "$NP_PID" "$(cat "$WORK/$_n.srvpid")" 2>/dev/null
		wait
		return 0
	fi
	# (the address's port is the last word: "PORT" in it stands for the server's)
	_args=
	for _a in "$@"; do
		case $_a in *:PORT) _a=${_a%PORT}$_port ;; esac
		_args="$_args $_a"
	done
	# shellcheck disable=SC2086
	cli "$_n" $_args
	# A first try whose client failed is said and given up (see afp_check).
	if [ "${AFP_TRY:-2}" = 1 ] && grep -q '^client (' "$WORK/$_n.errors" 2>/dev/null; then
		diag "netproc afpacket, $_d: the client failed, so once more: $(cat "$WORK/$_n.errors")"
		kill -KILL "$NP_PID" "$(cat "$WORK/$_n.srvpid" 2>/dev/null)" 2>/dev/null
		wait
		AFP_FAILED=1
		return 0
	fi
	case $_sa in *--udp*) srv_finish "$_n" term ;; *) srv_finish "$_n" ;; esac
	# the last scan before the report
	sleep 0.5
	np_stop
	[ "$NP_RC" = 0 ] || echo "netproc exited $NP_RC: $(tail -n 5 "$NPOUT.err")" >>"$WORK/$_n.errors"
	_layer=$(jq -r 'select(.type=="totals") | "\(.mode) \(.layer)"' "$NPOUT.jsonl" | sort -u | tr '\n' ';')
	[ "$_layer" = "afpacket frame;" ] || echo "totals say mode and layer '$_layer', not 'afpacket frame'" >>"$WORK/$_n.errors"
	# nothing lost silently: attributed + unattributed = all that was captured
	jq -e -s '(map(select(.type=="process") | .tx_bytes + .rx_bytes) | add // 0) + (map(select(.type=="totals") | .unattributed.tx_bytes + .unattributed.rx_bytes) | add)
		== (map(select(.type=="totals") | .tx_bytes + .rx_bytes) | add)' "$NPOUT.jsonl" >/dev/null ||
		echo "attributed + unattributed bytes != all captured bytes" >>"$WORK/$_n.errors"
	# shellcheck disable=SC2046 # one pid a word
	_share=$(afp_share "$(srv_pid "$_n")" $(jq -r 'select(.pid != null and .role != "summary") | .pid' "$WORK/$_n.cli"))
	_pct=$(awk -v s="$_share" 'BEGIN {printf "%.1f", 100 * s}')
	_all=$(jq -s 'map(select(.type=="totals") | .tx_bytes + .rx_bytes) | add' "$NPOUT.jsonl")
	diag "netproc afpacket, $_d: $_pct% of $_all frame bytes to the right processes"
	if [ -s "$WORK/$_n.errors" ]; then
		not_ok "netproc afpacket: $_d >= 95% of frame bytes" "$(cat "$WORK/$_n.errors")"
	elif awk -v s="$_share" 'BEGIN { exit !(s >= 0.95) }'; then
		ok "netproc afpacket: $_d >= 95% of frame bytes"
	else
		not_ok "netproc afpacket: $_d >= 95% of frame bytes" "$_pct% of $_all bytes" \
			"$(jq -c 'select(.type=="process" or .type=="totals") | {type, pid, comm, tx_bytes, rx_bytes, unattributed}' "$NPOUT.jsonl" | head -n 12)"
	fi
}

# afp_scenario, once more under a new name if its client (not netproc) failed
# on the first try: the paced unconnected UDP client was seen to stall for 90 s
# in these VMs, on 5.10 and 6.1, one run in two or three, cause not found (see
# NOTES.md). netproc's check is the same on the second try.
afp_check() { # name desc server-args -- client-args
	AFP_FAILED=
	AFP_TRY=1
	afp_scenario "$@"
	AFP_TRY=2
	if [ -n "$AFP_FAILED" ]; then
		_an=$1
		shift
		afp_scenario "$_an-again" "$@"
	fi
}

# --- the checks ----------------------------------------------------------------

if [ ! -x "$GEN" ]; then
	not_ok "bpfkit-trafficgen is in the initramfs" "build/tests/gen/bpfkit-trafficgen was not built"
elif [ ! -x "$NP" ]; then
	not_ok "netproc is in the initramfs"
else
	# 1. auto mode: the best rung, fentry
	"$NP" --json --duration 1 >"$WORK/auto.jsonl" 2>"$WORK/auto.err"
	rc=$?
	is "netproc --json --duration 1: exit 0" "$rc" 0
	is "netproc --json --duration 1: mode fentry" "$(jq -r 'select(.type=="totals").mode' "$WORK/auto.jsonl" 2>/dev/null)" fentry
	[ "$rc" = 0 ] || diag "netproc: $(tail -n 6 "$WORK/auto.err")"
	[ -n "$HAVE6" ] || diag "no ::1 on lo: the IPv6 scenarios are skipped"
	diag "kernel.unprivileged_bpf_disabled = $(cat /proc/sys/kernel/unprivileged_bpf_disabled 2>/dev/null)"

	# 2. the rungs
	ebpf_rung fentry fentry
	ebpf_rung kprobe kprobe --hooks=kprobe

	# tracepoint: sock:sock_send_length came in 6.3; on older kernels netproc
	# must refuse the rung when forced, with the reason, and exit 2.
	kmaj=${KREL%%.*} kmin=${KREL#*.}
	kmin=${kmin%%[!0-9]*}
	if [ "$kmaj" -lt 6 ] || { [ "$kmaj" -eq 6 ] && [ "$kmin" -lt 3 ]; }; then
		"$NP" --json --hooks=tracepoint --duration 1 >"$WORK/tp.jsonl" 2>"$WORK/tp.err"
		rc=$?
		msg=$(cat "$WORK/tp.err")
		if [ "$rc" = 2 ] && printf '%s\n' "$msg" | grep -q 'cannot run on this kernel' &&
			printf '%s\n' "$msg" | grep -q '^ *tracepoint: refused: .*sock_send_length' && [ ! -s "$WORK/tp.jsonl" ]; then
			ok "netproc tracepoint: refused before 6.3 (no sock:sock_send_length), exit 2"
			printf '%s\n' "$msg" | grep '^ *tracepoint: ' | while IFS= read -r l; do diag "netproc --hooks=tracepoint: $l"; done
		else
			not_ok "netproc tracepoint: refused before 6.3 (no sock:sock_send_length), exit 2" \
				"exit $rc (want 2), and a 'tracepoint: refused: ' line naming sock_send_length; stderr:" "$msg" \
				"stdout: $(head -c 300 "$WORK/tp.jsonl")"
		fi
	else
		ebpf_rung tracepoint tracepoint --hooks=tracepoint
	fi

	# afpacket: clients that live 1-2 s, so the /proc scans find them (a UDP
	# client of 0.5 s was missed once under TCG on a loaded host, and a TCP
	# client of 0.5 s once: a refresh's CPU time there spaces the scans up to
	# their 1 s cap)
	afp_scenario tcp "TCP bulk 20 MB" --tcp 0 --bind 127.0.0.1 --tcp-conns 1 --comm np-srv-afp -- \
		tcp-bulk --to 127.0.0.1:PORT --bytes $((20 * MB)) --rate 10000000 --comm np-afp-tcp
	# The paced clients (about 1 s of sending) get 20 s, and a second try if they
	# fail (afp_check).
	afp_check udpc "UDP 1000 datagrams at 1000/s, connected" --udp 0 --bind 127.0.0.1 --comm np-srv-afpu -- \
		udp --to 127.0.0.1:PORT --count 1000 --size 500 --connected --pps 1000 --timeout 20 --comm np-afp-udpc
	afp_check udpu "UDP 1000 datagrams at 1000/s, unconnected" --udp 0 --bind 127.0.0.1 --comm np-srv-afpu -- \
		udp --to 127.0.0.1:PORT --count 1000 --size 500 --unconnected --pps 1000 --timeout 20 --comm np-afp-udpu
	if [ -n "$HAVE6" ]; then
		afp_scenario tcp6 "IPv6 TCP bulk 20 MB" --tcp 0 --bind ::1 --tcp-conns 1 --comm np-srv-afp6 -- \
			tcp-bulk --to "[::1]:PORT" --bytes $((20 * MB)) --rate 10000000 --comm np-afp-tcp6
	else
		skip "netproc afpacket: IPv6 TCP bulk 20 MB >= 95% of frame bytes" "no ::1 on lo in this VM"
	fi

	# 3. only the reduced BTF: still fentry, and a TCP bulk counted right
	if [ ! -s "$REDUCED_BTF" ]; then
		not_ok "netproc --btf reduced.btf: the reduced BTF is in the initramfs"
	else
		srv_start btf --tcp 0 --bind 127.0.0.1 --tcp-conns 1 --comm np-srv-btf
		if ! srv_ready btf; then
			kill -KILL "$(cat "$WORK/btf.srvpid")" 2>/dev/null
			wait
		elif np_start btf --btf "$REDUCED_BTF"; then
			cli btf tcp-bulk --to "127.0.0.1:$(srv_port btf tcp_port)" --bytes $((20 * MB)) --comm np-btf
			srv_finish btf
			np_stop
			np_run_lines "--btf reduced.btf" fentry
			truth_line "netproc --btf reduced.btf: TCP bulk 20 MB >= 99%" btf
		else
			not_ok "netproc --btf reduced.btf: starts counting" "$(tail -n 12 "$NPOUT.err" 2>/dev/null)"
			kill -KILL "$NP_PID" "$(cat "$WORK/btf.srvpid")" 2>/dev/null
			wait
		fi

		# 4. a kernel without /sys/kernel/btf/vmlinux (hidden under a tmpfs
		# for the test), served by the reduced BTF alone: fentry and
		# tp_btf need the kernel's own BTF and are refused; the kprobe rung
		# relocates with the reduced BTF and counts right.
		mkdir -p "$WORK/nobtf"
		if mount -t tmpfs none /sys/kernel/btf; then
			"$BIN/bpfcheck" --btf "$REDUCED_BTF" --json >"$WORK/nobtf/bpfcheck.jsonl" 2>/dev/null
			is "no kernel BTF: bpfcheck says kernel_btf no" \
				"$(jq -r 'select(.type=="feature" and .name=="kernel_btf").state' "$WORK/nobtf/bpfcheck.jsonl")" no
			is "no kernel BTF: bpfcheck cannot compare the supplied BTF (unchecked)" \
				"$(jq -r 'select(.type=="btf").verdict' "$WORK/nobtf/bpfcheck.jsonl")" unchecked
			is "no kernel BTF: bpfcheck's netproc row is kprobe" \
				"$(jq -r 'select(.type=="tool" and .tool=="netproc").mode' "$WORK/nobtf/bpfcheck.jsonl")" kprobe
			srv_start nobtf --tcp 0 --bind 127.0.0.1 --tcp-conns 1 --comm np-srv-nobtf
			if srv_ready nobtf && np_start nobtf --btf "$REDUCED_BTF"; then
				cli nobtf tcp-bulk --to "127.0.0.1:$(srv_port nobtf tcp_port)" --bytes $((20 * MB)) --comm np-nobtf
				srv_finish nobtf
				np_stop
				np_run_lines "without kernel BTF, --btf reduced.btf" kprobe
				truth_line "netproc without kernel BTF, --btf reduced.btf: TCP bulk 20 MB >= 99%" nobtf
			else
				not_ok "netproc without kernel BTF, --btf reduced.btf: starts counting" "$(tail -n 12 "$NPOUT.err" 2>/dev/null)"
				kill -KILL "$NP_PID" "$(cat "$WORK/nobtf.srvpid")" 2>/dev/null
				wait
			fi
			umount /sys/kernel/btf
		else
			not_ok "no kernel BTF: hide /sys/kernel/btf under a tmpfs"
		fi
	fi
fi
