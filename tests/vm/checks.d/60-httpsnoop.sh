# httpsnoop on the kernels of the matrix: auto mode must pick fentry (the
# best rung: trampolines and kprobes work on these kernels); then on each
# rung (fentry, kprobe, raw_syscalls, tracepoint; the VM's /init mounts
# tracefs, so tracepoint runs too)
# busybox wget against busybox httpd on 127.0.0.1: a 200 and a 404, each
# once on each side with the right pid (wget's from $!; httpd's a child
# of the httpd started here), method, path and status; busybox httpd reads
# the request from fd 0 and answers on fd 1, dups of one socket. Then
# bpfkit-trafficgen http-get's two GETs, one with sendto/recvfrom and one with
# sendmsg/recvmsg, each once on each side. No TLS library is in the initramfs: the
# TLS uprobes are checked on the host's BATS. Sourced by tests.sh.

HS=$BIN/httpsnoop
GEN=$BIN/bpfkit-trafficgen

hs_rung() { # label mode httpsnoop-args...
	_l=$1 _m=$2
	shift 2
	if ! bg_start httpsnoop "$WORK/$_l" --json --port 8080 "$@"; then
		not_ok "httpsnoop $_l: attaches (says \"httpsnoop: mode: \")" "$(tail -n 12 "$WORK/$_l.err")"
		kill -KILL "$BG_PID" 2>/dev/null
		wait "$BG_PID"
		return 0
	fi
	diag "httpsnoop $_l: $(grep '^httpsnoop: mode: ' "$WORK/$_l.err" | cut -c1-300)"
	# timeout (busybox's execs the command in its own process, so $! is
	# wget's pid): a stalled transfer fails this check instead of the whole
	# run.
	timeout 30 wget -q -O /dev/null http://127.0.0.1:8080/index.html &
	_w1=$!
	wait "$_w1"
	timeout 30 wget -q -O /dev/null http://127.0.0.1:8080/missing.html 2>/dev/null &
	_w2=$!
	wait "$_w2"
	# The socket calls: trafficgen's GETs with sendto/recvfrom and with
	# sendmsg/recvmsg (wget and httpd use write and read).
	"$GEN" http-get --to 127.0.0.1:8080 --path /sendto.html --timeout 30 >"$WORK/$_l.tg1" 2>&1
	"$GEN" http-get --to 127.0.0.1:8080 --path /sendmsg.html --api sendmsg --timeout 30 \
		>"$WORK/$_l.tg2" 2>&1
	sleep 0.3
	bg_stop
	is "httpsnoop $_l: exits 0 on SIGINT" "$BG_RC" 0
	_o=$WORK/$_l.jsonl
	is "httpsnoop $_l: every record in mode $_m" "$(jq -r .mode "$_o" | sort -u | tr '\n' ' ')" "$_m "
	# busybox httpd answers each connection from a child of its own:
	# the server side is the httpd process that is not $HTTPD.
	_r=$(jq -s -r --argjson w1 "$_w1" --argjson w2 "$_w2" --argjson h "$HTTPD" '
		def one($p; $path; $st; $role):
			map(select(.event == "exchange" and .path == $path and
				(if $p == $h then .comm == "httpd" and .pid != $h else .pid == $p end))) as $m
			| if ($m | length) != 1 then "WRONG \($role) \($path): \($m | length) exchanges"
			  elif $m[0].method != "GET" or $m[0].status != $st or $m[0].role != $role then
				"WRONG \($role) \($path): \($m[0].method) \($m[0].status) \($m[0].role)"
			  else "ok" end;
		[one($w1; "/index.html"; 200; "client"), one($w2; "/missing.html"; 404; "client"),
		 one($h; "/index.html"; 200; "server"), one($h; "/missing.html"; 404; "server")]
		| map(select(. != "ok")) | if length == 0 then "ok" else join("; ") end' "$_o")
	case $_r in
	ok) ok "httpsnoop $_l: wget's 200 and 404 once each on both sides, right pid, method, path, status" ;;
	*) not_ok "httpsnoop $_l: wget's 200 and 404 once each on both sides, right pid, method, path, status" \
		"$_r" "$(head -c 2000 "$_o")" ;;
	esac
	_t1=$(jq -r .pid "$WORK/$_l.tg1" 2>/dev/null)
	_t2=$(jq -r .pid "$WORK/$_l.tg2" 2>/dev/null)
	if [ -z "$_t1" ] || [ -z "$_t2" ]; then
		not_ok "httpsnoop $_l: trafficgen's GETs with sendto/recvfrom and sendmsg/recvmsg" \
			"trafficgen: $(cat "$WORK/$_l.tg1" "$WORK/$_l.tg2" | head -c 600)"
	else
		_r=$(jq -s -r --argjson t1 "$_t1" --argjson t2 "$_t2" --argjson h "$HTTPD" '
			def one($p; $path; $role):
				map(select(.event == "exchange" and .path == $path and
					(if $p == $h then .comm == "httpd" and .pid != $h else .pid == $p end))) as $m
				| if ($m | length) != 1 then "WRONG \($role) \($path): \($m | length) exchanges"
				  elif $m[0].method != "GET" or $m[0].status != 200 or $m[0].role != $role then
					"WRONG \($role) \($path): \($m[0].method) \($m[0].status) \($m[0].role)"
				  else "ok" end;
			[one($t1; "/sendto.html"; "client"), one($t2; "/sendmsg.html"; "client"),
			 one($h; "/sendto.html"; "server"), one($h; "/sendmsg.html"; "server")]
			| map(select(. != "ok")) | if length == 0 then "ok" else join("; ") end' "$_o")
		case $_r in
		ok) ok "httpsnoop $_l: trafficgen's GETs with sendto/recvfrom and sendmsg/recvmsg once each on both sides" ;;
		*) not_ok "httpsnoop $_l: trafficgen's GETs with sendto/recvfrom and sendmsg/recvmsg once each on both sides" \
			"$_r" "$(jq -c 'select(.event == "exchange") | [.pid, .comm, .role, .path, .status]' "$_o" | head -c 1500)" ;;
		esac
	fi
	diag "httpsnoop $_l: $(jq -c 'select(.event == "stats") | del(.schema, .time, .event)' "$_o" | cut -c1-400)"
}

if [ ! -x "$HS" ]; then
	not_ok "httpsnoop is in the initramfs"
else
	mkdir -p "$WORK/www"
	echo "hello from the vm" >"$WORK/www/index.html"
	echo "sent with sendto" >"$WORK/www/sendto.html"
	echo "sent with sendmsg" >"$WORK/www/sendmsg.html"
	httpd -f -p 127.0.0.1:8080 -h "$WORK/www" &
	HTTPD=$!
	if ! wait_for 10 wget -q -O /dev/null http://127.0.0.1:8080/index.html; then
		not_ok "busybox httpd listens on 127.0.0.1:8080"
	else
		"$HS" --json --duration 1 >"$WORK/auto.jsonl" 2>"$WORK/auto.err"
		rc=$?
		is "httpsnoop --json --duration 1: exit 0" "$rc" 0
		is "httpsnoop --json --duration 1: mode fentry" \
			"$(jq -r 'select(.event == "stats").mode' "$WORK/auto.jsonl" 2>/dev/null)" fentry
		[ "$rc" = 0 ] || diag "httpsnoop: $(tail -n 6 "$WORK/auto.err")"
		is "bpfcheck's httpsnoop row: fentry" "$(tool_row httpsnoop | jq -r .mode)" fentry
		[ "$(tool_row httpsnoop | jq -r .mode)" = fentry ] || explain_bpfcheck -t httpsnoop
		for _rung in fentry kprobe raw_syscalls tracepoint; do
			hs_rung "$_rung" "$_rung" --hooks="$_rung"
		done
		# The socket rung needs the sock:sock_*_length tracepoints (6.3+).
		"$HS" --hooks=socket --duration 1 >/dev/null 2>"$WORK/socket.err"
		is "httpsnoop --hooks=socket: refused on this kernel, exit 2" "$?" 2
		grep -q 'socket: refused: .*Linux 6.3' "$WORK/socket.err"
		is "httpsnoop --hooks=socket: the refusal names the tracepoints' Linux 6.3" "$?" 0
		"$HS" -v --duration 1 >/dev/null 2>"$WORK/rings.err"
		diag "httpsnoop: $(grep -m1 'events:' "$WORK/rings.err" | cut -c1-200)"
	fi
	kill "$HTTPD" 2>/dev/null
	wait "$HTTPD" 2>/dev/null
fi
