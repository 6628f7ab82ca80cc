# dnssnoop on the kernels of the matrix: auto mode must pick fentry; then on
# each rung (fentry, kprobe, cgroup where this kernel lets it run, afpacket)
# real queries on loopback, UDP and TCP, from bpfkit-trafficgen's DNS client
# (whose output is the truth: pid, tid, comm, port, id) and from busybox
# nslookup (a process gone within milliseconds), to trafficgen's DNS
# responder on 127.0.0.1:53. Every query must be one transaction with the
# asker's pid and comm; the dropped one a timeout. Sourced by tests.sh.

DS=$BIN/dnssnoop
GEN=$BIN/bpfkit-trafficgen

# dnssnoop in the background; returns once it says "dnssnoop: mode: ".
ds_start() { # name dnssnoop-args...
	DSOUT=$WORK/$1
	shift
	bg_start dnssnoop "$DSOUT" --json --timeout 0.5 "$@"
	_rc=$?
	DS_PID=$BG_PID
	return $_rc
}
# SIGINT: pending timeouts, the stats, exit 0. Sets DS_RC.
ds_stop() {
	bg_stop
	DS_RC=$BG_RC
}

# The traffic of one run: its truth in $1.truth (one JSON line per query).
traffic() { # name
	_t=$WORK/$1
	"$GEN" dns-query --to 127.0.0.1:53 --comm dq-udp --wait-ms 1500 --linger-ms 300 \
		--name a.vm.test --name b.vm.test/AAAA --name x.nx.vm.test --name t.drop.vm.test \
		--name s.slow.vm.test >"$_t.truth" 2>"$_t.gen.err"
	"$GEN" dns-query --to 127.0.0.1:53 --tcp --comm dq-tcp --linger-ms 300 \
		--name c.vm.test --name d.vm.test/AAAA >>"$_t.truth" 2>>"$_t.gen.err"
	# busybox nslookup: asks A and AAAA and is gone at once
	nslookup n1.vm.test 127.0.0.1 >"$_t.ns.out" 2>&1 &
	_ns=$!
	wait "$_ns"
	echo "$_ns" >"$_t.nspid"
	sleep 0.8 # the dropped query's timeout (0.5 s) passes
}

# Each truth line: one answer (or a timeout where no answer came) with the
# same port, id and name, the asker's pid and comm, its qtype and rcode.
# Prints WRONG lines; true if none.
check_truth() { # name
	_t=$WORK/$1
	jq -c . "$_t.truth" | while IFS= read -r q; do
		jq -s -r --argjson q "$q" '
			map(select((.event == "answer" or .event == "timeout") and .client_port == $q.client_port
				and .id == $q.id and .qname == $q.qname)) as $m
			| ($q.rcode == "" | if . then "timeout" else "answer" end) as $want
			| if ($m | length) != 1 then "WRONG \($q.proto) \($q.qname): \($m | length) transactions"
			  elif $m[0].event != $want then "WRONG \($q.proto) \($q.qname): \($m[0].event), want \($want)"
			  elif $m[0].pid != $q.pid or $m[0].comm != $q.comm then
				"WRONG \($q.proto) \($q.qname): pid \($m[0].pid) comm \($m[0].comm), want \($q.pid) \($q.comm)"
			  elif $m[0].qtype != $q.qtype or ($want == "answer" and $m[0].rcode != $q.rcode) then
				"WRONG \($q.proto) \($q.qname): \($m[0].qtype) \($m[0].rcode), want \($q.qtype) \($q.rcode)"
			  else "ok \($q.proto) \($q.qname) \($m[0].event) pid \($m[0].pid)" end' "$DSOUT.jsonl"
	done >"$_t.check"
	! grep -q '^WRONG' "$_t.check"
}

# nslookup's two queries: each one answer, with its pid (when $2 = pid) or at all.
check_nslookup() { # name pid|any
	_t=$WORK/$1
	jq -s -r --argjson p "$(cat "$_t.nspid")" --arg how "$2" '
		map(select(.event == "answer" and (.qname == "n1.vm.test"))) as $m
		| if ($m | length) != 2 then "WRONG \($m | length) answers for n1.vm.test, want 2 (A, AAAA)"
		  elif $how == "pid" and ($m | all(.pid == $p and .comm == "nslookup") | not) then
			"WRONG pid/comm \($m | map("\(.pid) \(.comm)") | join(", ")), want \($p) nslookup"
		  else "ok \($m | map("\(.qtype) pid \(.pid)") | join(", "))" end' "$DSOUT.jsonl"
}

# The slow name's latency against the 200 ms the responder held it and the
# client's own measure (ms in the truth).
check_latency() { # name
	_t=$WORK/$1
	_c=$(jq -r 'select(.qname == "s.slow.vm.test") | .ms * 1000 | floor' "$_t.truth")
	jq -s -r --argjson c "${_c:-0}" '
		map(select(.event == "answer" and .qname == "s.slow.vm.test")) as $m
		| if ($m | length) != 1 then "WRONG \($m | length) answers for s.slow.vm.test"
		  else $m[0].latency_us as $l | ([$c, 220000] | max) as $hi
		  | if $l < 180000 or $l > $hi or $l < $c - 20000 then "WRONG latency \($l) us, client \($c) us"
		    else "ok \($l) us, client \($c) us" end end' "$DSOUT.jsonl"
}

# One rung: dnssnoop in it, the traffic, the checks.
rung() { # label mode dnssnoop-args...
	_l=$1 _m=$2
	shift 2
	if ! ds_start "$_l" "$@"; then
		not_ok "dnssnoop $_l: attaches (says \"dnssnoop: mode: \")" "$(tail -n 12 "$DSOUT.err")"
		kill -KILL "$DS_PID" 2>/dev/null
		wait "$DS_PID"
		return 0
	fi
	diag "dnssnoop $_l: $(grep '^dnssnoop: mode: ' "$DSOUT.err" | cut -c1-300)"
	traffic "$_l"
	ds_stop
	is "dnssnoop $_l: exits 0 on SIGINT" "$DS_RC" 0
	[ "$DS_RC" = 0 ] || diag "stderr: $(tail -n 8 "$DSOUT.err")"
	is "dnssnoop $_l: every record in mode $_m" "$(jq -r .mode "$DSOUT.jsonl" | sort -u | tr '\n' ' ')" "$_m "
	if [ -s "$WORK/$_l.gen.err" ]; then
		not_ok "dnssnoop $_l: the client ran" "$(cat "$WORK/$_l.gen.err")"
	elif check_truth "$_l"; then
		ok "dnssnoop $_l: 7 queries (UDP, TCP, NXDOMAIN, a timeout, a slow answer) once each, right pid and comm"
	else
		not_ok "dnssnoop $_l: 7 queries (UDP, TCP, NXDOMAIN, a timeout, a slow answer) once each, right pid and comm" \
			"$(cat "$WORK/$_l.check")"
	fi
	_how=pid
	[ "$_m" = afpacket ] && _how=any # gone before a /proc scan can see it
	_r=$(check_nslookup "$_l" "$_how")
	case $_r in
	ok*) ok "dnssnoop $_l: busybox nslookup's A and AAAA (a process gone at once), $_how" ;;
	*) not_ok "dnssnoop $_l: busybox nslookup's A and AAAA (a process gone at once), $_how" "$_r" ;;
	esac
	# The answer held 200 ms by the responder: at 200 ms +- 20, or within 20 ms
	# of what the client measured where this emulated machine held it longer.
	_r=$(check_latency "$_l")
	case $_r in
	ok*) ok "dnssnoop $_l: an answer 200 ms late is reported at 200 ms +- 20 ($_r)" ;;
	*) not_ok "dnssnoop $_l: an answer 200 ms late is reported at 200 ms +- 20" "$_r" ;;
	esac
	diag "dnssnoop $_l: $(jq -c 'select(.event == "stats") | del(.schema, .time, .event)' "$DSOUT.jsonl")"
}

if [ ! -x "$DS" ]; then
	not_ok "dnssnoop is in the initramfs"
elif [ ! -x "$GEN" ]; then
	not_ok "bpfkit-trafficgen is in the initramfs"
else
	"$GEN" dns-serve --listen 127.0.0.1:53 --drop drop.vm.test --nx nx.vm.test --slow slow.vm.test \
		--slow-ms 200 --timeout 200 \
		--ready-file "$WORK/srv.ready" >/dev/null 2>"$WORK/srv.err" &
	SRV=$!
	if ! wait_for 10 test -s "$WORK/srv.ready"; then
		not_ok "trafficgen's DNS responder listens on 127.0.0.1:53" "$(cat "$WORK/srv.err")"
	else
		# 1. auto mode: the best rung
		"$DS" --json --duration 1 >"$WORK/auto.jsonl" 2>"$WORK/auto.err"
		rc=$?
		is "dnssnoop --json --duration 1: exit 0" "$rc" 0
		is "dnssnoop --json --duration 1: mode fentry" "$(jq -r 'select(.event == "stats").mode' "$WORK/auto.jsonl" 2>/dev/null)" fentry
		[ "$rc" = 0 ] || diag "dnssnoop: $(tail -n 6 "$WORK/auto.err")"
		is "bpfcheck's dnssnoop row: fentry" "$(tool_row dnssnoop | jq -r .mode)" fentry
		# Not the best rung: the verifier's and libbpf's words, to the TAP and the console
		[ "$(tool_row dnssnoop | jq -r .mode)" = fentry ] || explain_bpfcheck -t dnssnoop

		# 2. the rungs
		rung fentry fentry
		rung kprobe kprobe --hooks=kprobe
		# cgroup: runs where cgroup sock_addr programs may read the current task.
		"$DS" --json --hooks=cgroup --duration 1 >"$WORK/cg.jsonl" 2>"$WORK/cg.err"
		rc=$?
		if [ "$rc" = 0 ]; then
			rung cgroup cgroup --hooks=cgroup
		elif [ "$rc" = 2 ] && grep -q '^ *cgroup: refused: ' "$WORK/cg.err"; then
			ok "dnssnoop cgroup: refused with a reason on $KREL, exit 2"
			diag "dnssnoop --hooks=cgroup: $(grep '^ *cgroup: ' "$WORK/cg.err" | cut -c1-300)"
		else
			not_ok "dnssnoop cgroup: runs, or is refused with a reason" "exit $rc" "$(tail -n 8 "$WORK/cg.err")"
		fi
		rung afpacket afpacket --capture-mode=afpacket
	fi
	kill "$SRV" 2>/dev/null
	wait "$SRV" 2>/dev/null
fi
