#!/usr/bin/env bats
# httpsnoop against ground truth: nginx serving HTTP, HTTPS (a certificate
# made here) and h2c on loopback with its own configuration; curl (OpenSSL)
# and tests/httprig clients whose pids and requests are known; a Python
# server that answers /slow 100 ms late. Every exchange must appear exactly
# once per side with the right pid, method, path and status; nginx's access
# log is the server side's truth.

# shellcheck disable=SC2016 # jq programs in single quotes

load helpers
load http_helpers

bats_require_minimum_version 1.5.0

OUR_PROGS='^(probe_|netproc_|selftest_|bpfkit|independent_|httpsnoop)'

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	command -v nginx >/dev/null && command -v curl >/dev/null && command -v openssl >/dev/null ||
		skip "needs nginx-light, curl and openssl (packaging/deps/test.txt)"
	snapshot_kernel_state
	http_ports
	start_nginx
	start_rig_server
	HTTPSNOOP=$(bin httpsnoop)
	export HTTPSNOOP
	MODE=$("$(bin bpfcheck)" --json -t httpsnoop | jq -r 'select(.type=="tool").mode')
	export MODE
}

teardown_file() {
	stop_nginx
	stop_rig_server
	check_nothing_left
}

setup() {
	snapshot_kernel_state
}

teardown() {
	[ -n "${HS_PID:-}" ] && kill -KILL "$HS_PID" 2>/dev/null
	wait 2>/dev/null
	check_nothing_left
}

# curl in the background so that its pid is known: PID=$(curl_pid ARGS...)
curl_pid() {
	curl -s -o /dev/null "$@" &
	local p=$!
	wait "$p"
	echo "$p"
}

@test "httpsnoop runs in the mode bpfcheck predicts and names it in the header and every JSON record" {
	[ -n "$MODE" ] && [ "$MODE" != null ]
	run -0 timeout 20 "$HTTPSNOOP" -d 0.5
	[[ "${lines[0]}" == *"mode: $MODE"* ]]
	[[ "$output" == *"# httpsnoop mode: $MODE"* ]]
	[[ "$output" == *"# totals:"* ]]
	hs_start --json
	curl_pid "http://127.0.0.1:$HTTP_PORT/" >/dev/null
	hs_stop
	jq -e --arg m "$MODE" 'select(.schema != "httpsnoop/1" or .mode != $m)' "$HS_OUT" && false
	[ "$(jq -c 'select(.event=="stats")' "$HS_OUT" | wc -l)" -eq 1 ]
}

@test "GET, POST with a body, 404, 500, chunked, HEAD and 304: each once per side with pid, method, path, status" {
	hs_start --json --port "$HTTP_PORT"
	local u="http://127.0.0.1:$HTTP_PORT"
	P_GET=$(curl_pid "$u/")
	P_POST=$(curl_pid -d 'name=value&x=1' "$u/post")
	P_404=$(curl_pid "$u/missing")
	P_500=$(curl_pid "$u/err")
	P_CH=$(curl_pid "$u/chunked")
	P_HEAD=$(curl_pid -I "$u/file.txt")
	P_304=$(curl_pid -H "If-Modified-Since: $(date -u -r "$BATS_FILE_TMPDIR/nginx/html/file.txt" '+%a, %d %b %Y %H:%M:%S GMT')" "$u/file.txt")
	hs_stop
	check() {
		local pid=$1 method=$2 path=$3 status=$4 n
		n=$(hs_of "$pid" 'select(.event=="exchange")' | wc -l)
		[ "$n" -eq 1 ] || { echo "pid $pid: $n exchanges" >&2; cat "$HS_OUT" >&2; return 1; }
		hs_has "$pid" ".method==\"$method\" and .path==\"$path\" and .status==$status and .role==\"client\" and .comm==\"curl\" and .tls==false and .latency_us >= 0"
	}
	check "$P_GET" GET / 200
	check "$P_POST" POST /post 200
	check "$P_404" GET /missing 404
	check "$P_500" GET /err 500
	check "$P_CH" GET /chunked 200
	check "$P_HEAD" HEAD /file.txt 200
	check "$P_304" GET /file.txt 304
	# The POST carried its 14-byte body; the chunked response its two chunks.
	hs_has "$P_POST" '.request_bytes > 14' >/dev/null
	# nginx's side: exactly what its access log says, in the same order.
	awk '{ split($6, m, "\""); print m[2], $7, $9 }' "$BATS_FILE_TMPDIR/nginx/access.log" |
		tail -7 >"$BATS_TEST_TMPDIR/truth"
	hs_of "$NGINX_WORKER" 'select(.event=="exchange" and .role=="server") | "\(.method) \(.path) \(.status)"' |
		tr -d '"' >"$BATS_TEST_TMPDIR/seen"
	diff "$BATS_TEST_TMPDIR/truth" "$BATS_TEST_TMPDIR/seen"
	[ "$(jq -c 'select(.event!="exchange" and .event!="stats")' "$HS_OUT" | wc -l)" -eq 0 ]
}

@test "both flavours of the entries (fd walk with and without bpf_rdonly_cast) show the same exchanges, in both tracepoint modes" {
	case $MODE in socket | raw_syscalls) ;; *) skip "raw_syscalls does not run here (the mode here is $MODE)" ;; esac
	local flavours=(0) cast hooks prefix want got real=$HTTPSNOOP
	# the kfunc's name is among the kernel BTF's strings where it has it (6.2+)
	grep -q -a -F 'bpf_rdonly_cast' /sys/kernel/btf/vmlinux && flavours+=(1)
	# the tracepoint mode with tracefs in a mount namespace of its own
	cat >"$BATS_TEST_TMPDIR/hs-tracefs" <<'EOF2'
#!/bin/sh
exec unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing && exec "$0" "$@"' "$@"
EOF2
	chmod +x "$BATS_TEST_TMPDIR/hs-tracefs"
	for hooks in raw_syscalls tracepoint; do
		for cast in "${flavours[@]}"; do
			prefix=httpsnoop_raw_enter HTTPSNOOP=$real
			if [ "$hooks" = tracepoint ]; then
				prefix=httpsnoop_tp_enter_
				HTTPSNOOP="$BATS_TEST_TMPDIR/hs-tracefs $real"
			fi
			export BPFKIT_HTTPSNOOP_CAST=$cast
			# shellcheck disable=SC2086 # the wrapper and the binary
			hs_start_cmd $HTTPSNOOP --json --hooks "$hooks" --port "$HTTP_PORT"
			unset BPFKIT_HTTPSNOOP_CAST
			# every entry program of the mode is of the flavour asked for
			got=$(bpftool -j prog show | jq -r '.[].name' | grep "^$prefix")
			want=$(grep -c -v '_cast$' <<<"$got" || true)
			[ "$cast" = 1 ] && want=$(grep -c '_cast$' <<<"$got" || true)
			[ -n "$got" ] && [ "$want" -eq "$(wc -l <<<"$got")" ] ||
				{ echo "$hooks cast=$cast: loaded $got" >&2; return 1; }
			P_GET=$(curl_pid "http://127.0.0.1:$HTTP_PORT/k/$hooks$cast")
			P_404=$(curl_pid "http://127.0.0.1:$HTTP_PORT/missing$cast")
			hs_stop
			jq -e --arg m "$hooks" 'select(.mode != $m)' "$HS_OUT" && return 1
			[ "$(hs_of "$P_GET" | wc -l)" -eq 1 ] && [ "$(hs_of "$P_404" | wc -l)" -eq 1 ]
			hs_has "$P_GET" ".path==\"/k/$hooks$cast\" and .status==200 and .role==\"client\" and .comm==\"curl\""
			hs_has "$P_404" ".path==\"/missing$cast\" and .status==404"
			hs_has "$NGINX_WORKER" ".path==\"/k/$hooks$cast\" and .role==\"server\" and .status==200"
		done
	done
	HTTPSNOOP=$real
}

@test "per-CPU rings: one ring per CPU; a client that writes on one CPU and reads on another has each exchange once, in order" {
	[ "$(nproc)" -ge 2 ] || skip "one CPU"
	hs_start --json --port "$HTTP_PORT"
	local rings possible
	rings=$(bpftool -j map show | jq '[.[] | select(.name=="httpsnoop_cpu")] | length')
	python3 "$RIG" hop "$HTTP_PORT" 60 >"$BATS_TEST_TMPDIR/rig"
	hs_stop
	# as many rings as CPUs the kernel may bring up (0-N in .../possible)
	possible=$(awk -F'[-,]' '{print $NF + 1}' /sys/devices/system/cpu/possible)
	[ "$rings" -eq "$possible" ] || { echo "rings: $rings of $possible" >&2; false; }
	grep -q "responses 60" "$BATS_TEST_TMPDIR/rig"
	P=$(awk '/^pid/ {print $2}' "$BATS_TEST_TMPDIR/rig")
	hs_of "$P" '"\(.event) \(.path) \(.status)"' | tr -d '"' >"$BATS_TEST_TMPDIR/seen"
	seq 0 59 | sed 's|^|exchange /hop/|; s|$| 200|' | diff - "$BATS_TEST_TMPDIR/seen" || { cat "$HS_OUT" >&2; false; }
	hs_of "$NGINX_WORKER" 'select(.path|startswith("/hop/")) | "\(.event) \(.status)"' | sort | uniq -c >"$BATS_TEST_TMPDIR/srv"
	grep -q '^ *60 "exchange 200"$' "$BATS_TEST_TMPDIR/srv" || { cat "$BATS_TEST_TMPDIR/srv" >&2; false; }
	# one shared ring instead (BPFKIT_HTTPSNOOP_RINGS=shared): the same
	export BPFKIT_HTTPSNOOP_RINGS=shared
	hs_start --json --port "$HTTP_PORT"
	unset BPFKIT_HTTPSNOOP_RINGS
	rings=$(bpftool -j map show | jq '[.[] | select(.name=="httpsnoop_cpu")] | length')
	python3 "$RIG" hop "$HTTP_PORT" 20 >"$BATS_TEST_TMPDIR/rig"
	hs_stop
	[ "$rings" -eq 0 ]
	P=$(awk '/^pid/ {print $2}' "$BATS_TEST_TMPDIR/rig")
	[ "$(hs_of "$P" 'select(.event=="exchange" and .status==200)' | wc -l)" -eq 20 ]
}

@test "latency: a server that answers 100 ms late shows 100-1000 ms on both sides" {
	hs_start --json --port "$RIG_PORT"
	P=$(curl_pid "http://127.0.0.1:$RIG_PORT/slow")
	P_FAST=$(curl_pid "http://127.0.0.1:$RIG_PORT/fast")
	hs_stop
	hs_has "$P" '.path=="/slow" and .status==200 and .latency_us >= 100000 and .latency_us < 1000000'
	hs_has "$RIG_SERVER" '.path=="/slow" and .role=="server" and .latency_us >= 100000 and .latency_us < 1000000'
	hs_has "$P_FAST" '.path=="/fast" and .latency_us < 100000'
	# --min-latency keeps only the slow one
	hs_start --json --port "$RIG_PORT" --min-latency 50
	P=$(curl_pid "http://127.0.0.1:$RIG_PORT/slow")
	P_FAST=$(curl_pid "http://127.0.0.1:$RIG_PORT/fast")
	hs_stop
	[ "$(hs_of "$P" | wc -l)" -eq 1 ]
	[ "$(hs_of "$P_FAST" | wc -l)" -eq 0 ]
}

@test "keep-alive: 100 requests on one connection, each once, in order, one local port" {
	hs_start --json --port "$HTTP_PORT"
	P=$(curl_pid "http://127.0.0.1:$HTTP_PORT/k/[1-100]")
	hs_stop
	hs_of "$P" '.path' | tr -d '"' >"$BATS_TEST_TMPDIR/paths"
	seq 1 100 | sed 's|^|/k/|' | diff - "$BATS_TEST_TMPDIR/paths"
	[ "$(hs_of "$P" '.local' | sort -u | wc -l)" -eq 1 ]
	[ "$(hs_of "$P" 'select(.status==200)' | wc -l)" -eq 100 ]
}

@test "pipelining: 5 requests in one write are paired with their responses in order" {
	# Five responses of 149 bytes may come in one read: 2048 bytes of it
	# are captured (the default 512 is checked below).
	hs_start --json --port "$HTTP_PORT" --max-capture 2048
	python3 "$RIG" pipeline "$HTTP_PORT" 5 >"$BATS_TEST_TMPDIR/rig"
	hs_stop
	grep -q "responses 5" "$BATS_TEST_TMPDIR/rig"
	P=$(awk '/^pid/ {print $2}' "$BATS_TEST_TMPDIR/rig")
	hs_of "$P" '"\(.method) \(.path) \(.status)"' | tr -d '"' >"$BATS_TEST_TMPDIR/seen"
	printf "GET /pipe/%d 200\n" 0 1 2 3 4 | diff - "$BATS_TEST_TMPDIR/seen" || { cat "$HS_OUT" >&2; false; }
	hs_of "$NGINX_WORKER" 'select(.path|startswith("/pipe/")) | .path' | tr -d '"' >"$BATS_TEST_TMPDIR/srv"
	printf '/pipe/%d\n' 0 1 2 3 4 | diff - "$BATS_TEST_TMPDIR/srv"
	# With the default capture, what a read holds past 512 bytes is not
	# parsed: every request still shows once, and what could not be paired
	# is counted, never silent.
	hs_start --json --port "$HTTP_PORT"
	python3 "$RIG" pipeline "$HTTP_PORT" 5 >"$BATS_TEST_TMPDIR/rig"
	hs_stop
	P=$(awk '/^pid/ {print $2}' "$BATS_TEST_TMPDIR/rig")
	[ "$(hs_of "$P" '.path' | sort -u | wc -l)" -eq 5 ]
	[ "$(hs_of "$P" 'select(.event=="exchange" and .status==200)' | wc -l)" -eq 5 ] ||
		jq -e 'select(.event=="stats") | .framing_lost >= 1 and .unanswered >= 1' "$HS_OUT"
}

@test "a reused fd is a new connection: two requests on the same fd number, each once" {
	hs_start --json --port "$HTTP_PORT"
	python3 "$RIG" reuse "$HTTP_PORT" >"$BATS_TEST_TMPDIR/rig"
	hs_stop
	P=$(awk '/^pid/ {print $2}' "$BATS_TEST_TMPDIR/rig")
	[ "$(awk '/^fd/ {print $2}' "$BATS_TEST_TMPDIR/rig" | sort -u | wc -l)" -eq 1 ]
	hs_of "$P" '"\(.path) \(.status) \(.local)"' | tr -d '"' >"$BATS_TEST_TMPDIR/seen"
	awk '/^fd/ {print "/reuse/" n++ " 200 127.0.0.1:" $4}' "$BATS_TEST_TMPDIR/rig" |
		diff - "$BATS_TEST_TMPDIR/seen"
}

@test "a socket connected again after its connection ended is classified again" {
	# One socket, one fd: HTTP, then lines that are not HTTP to an echo
	# server, then HTTP again. The socket mode's note that the socket is HTTP
	# must end with the first connection, or the echo lines would be sent as
	# HTTP (malformed) and the second request would lack its addresses.
	hs_start --json
	python3 "$RIG" reconnect "$RIG_PORT" >"$BATS_TEST_TMPDIR/rig"
	hs_stop
	P=$(awk '/^pid/ {print $2}' "$BATS_TEST_TMPDIR/rig")
	[ "$(awk '/^fd/ {print $2}' "$BATS_TEST_TMPDIR/rig" | sort -u | wc -l)" -eq 1 ]
	hs_of "$P" '"\(.event) \(.path) \(.status) \(.local)"' | tr -d '"' >"$BATS_TEST_TMPDIR/seen"
	awk '/^fd/ {print "exchange /reconn/" n++ " 200 127.0.0.1:" $4}' "$BATS_TEST_TMPDIR/rig" |
		diff - "$BATS_TEST_TMPDIR/seen"
	[ "$(jq -s '[.[] | select(.event=="stats")] | last | .malformed' "$HS_OUT")" -eq 0 ]
}

@test "a socket reset before its answer was read leaves nothing to the next socket at its address" {
	# The client reads the answer after the reset, when the socket has had its
	# TCP_CLOSE; the next connection often gets the freed socket's address.
	# Each GET /after/I must show, with its addresses (--port needs them).
	hs_start --json --port "$RIG_PORT"
	python3 "$RIG" rstthenget "$RIG_PORT" 20 >"$BATS_TEST_TMPDIR/rig"
	hs_stop
	P=$(awk '/^pid/ {print $2}' "$BATS_TEST_TMPDIR/rig")
	[ "$(grep -c '^after' "$BATS_TEST_TMPDIR/rig")" -eq 20 ]
	hs_of "$P" 'select((.path // "") | startswith("/after/")) | "\(.path) \(.status) \(.local)"' | tr -d '"' |
		sort >"$BATS_TEST_TMPDIR/seen"
	awk '/^after/ {print "/after/" $2 " 200 127.0.0.1:" $4}' "$BATS_TEST_TMPDIR/rig" | sort |
		diff - "$BATS_TEST_TMPDIR/seen"
	# Each GET /rst/I once: unanswered, its answer (read after the socket's
	# end) a response_only record (NOTES.md), or an exchange if it was read
	# before the reset came.
	hs_of "$P" 'select((.path // "") | startswith("/rst/")) | .path' | tr -d '"' | sort >"$BATS_TEST_TMPDIR/rst"
	seq 0 19 | sed 's|^|/rst/|' | sort | diff - "$BATS_TEST_TMPDIR/rst"
	echo "paired after the reset: $(hs_of "$P" 'select(.event=="exchange" and ((.path // "") | startswith("/rst/")))' | wc -l) of 20" >&3
}

@test "HTTPS through curl with OpenSSL 3: the same exchanges with tls true; --tls off hides them" {
	ldd "$(command -v curl)" | grep -q libssl || skip "curl is not linked with OpenSSL"
	hs_start --json --port "$HTTPS_PORT"
	P_GET=$(curl_pid -k "https://127.0.0.1:$HTTPS_PORT/")
	P_POST=$(curl_pid -k --http1.1 -d 'a=b' "https://127.0.0.1:$HTTPS_PORT/post")
	P_404=$(curl_pid -k --http1.1 "https://127.0.0.1:$HTTPS_PORT/missing")
	hs_stop
	hs_has "$P_GET" '.tls==true and .method=="GET" and .path=="/" and .status==200 and .role=="client"'
	hs_has "$P_POST" '.tls==true and .method=="POST" and .path=="/post" and .status==200'
	hs_has "$P_404" '.tls==true and .method=="GET" and .path=="/missing" and .status==404'
	for p in "$P_GET" "$P_POST" "$P_404"; do
		[ "$(hs_of "$p" | wc -l)" -eq 1 ]
		# the TLS bytes are tied to the socket: its addresses are known
		hs_has "$p" ".remote==\"127.0.0.1:$HTTPS_PORT\" and .fd >= 0"
	done
	# nginx's side, through its own libssl
	[ "$(hs_of "$NGINX_WORKER" 'select(.tls==true and .role=="server")' | wc -l)" -eq 3 ]
	hs_start --json --port "$HTTPS_PORT" --tls off
	P=$(curl_pid -k "https://127.0.0.1:$HTTPS_PORT/")
	hs_stop
	[ "$(hs_of "$P" | wc -l)" -eq 0 ]
}

@test "HTTPS through wget with GnuTLS: tls true, right pid, method, path and status" {
	command -v wget >/dev/null && ldd "$(command -v wget)" | grep -q libgnutls || skip "wget with GnuTLS is not installed"
	hs_start --json --port "$HTTPS_PORT"
	wget -q -O /dev/null --no-check-certificate "https://127.0.0.1:$HTTPS_PORT/missing" &
	local p=$!
	wait "$p" || true
	wget -q -O /dev/null --no-check-certificate "https://127.0.0.1:$HTTPS_PORT/k/gnutls" &
	local p2=$!
	wait "$p2"
	hs_stop
	hs_has "$p" '.tls==true and .comm=="wget" and .method=="GET" and .path=="/missing" and .status==404'
	hs_has "$p2" '.tls==true and .method=="GET" and .path=="/k/gnutls" and .status==200'
	[ "$(hs_of "$p2" | wc -l)" -eq 1 ]
}

@test "HTTP/2 with prior knowledge (h2c): marked h2 with method, path and status decoded" {
	hs_start --json --port "$H2C_PORT"
	P=$(curl_pid --http2-prior-knowledge "http://127.0.0.1:$H2C_PORT/chunked")
	P2=$(curl_pid --http2-prior-knowledge "http://127.0.0.1:$H2C_PORT/missing")
	hs_stop
	hs_has "$P" '.proto=="h2" and .method=="GET" and .path=="/chunked" and .status==200 and .role=="client"'
	hs_has "$P2" '.proto=="h2" and .method=="GET" and .path=="/missing" and .status==404'
	[ "$(hs_of "$P" | wc -l)" -eq 1 ]
	hs_has "$NGINX_WORKER" '.proto=="h2" and .path=="/chunked" and .role=="server"'
}

@test "redaction: Authorization and Cookie values never appear; --no-query cuts query strings" {
	hs_start --json --port "$HTTP_PORT" --no-query -vv
	P=$(curl_pid -H "Authorization: Bearer secret-token-a" -H "Cookie: sid=secret-cookie-b" \
		"http://127.0.0.1:$HTTP_PORT/k/q?key=secret-query-c")
	hs_stop
	hs_has "$P" '.path=="/k/q"'
	! grep -q secret "$HS_OUT" "$HS_ERR"
	# the text output too
	"$HTTPSNOOP" --port "$HTTP_PORT" -c 1 >"$BATS_TEST_TMPDIR/text" 2>"$BATS_TEST_TMPDIR/text.err" &
	local t=$!
	for _ in $(seq 300); do
		grep -q "mode:" "$BATS_TEST_TMPDIR/text.err" && break
		sleep 0.05
	done
	curl -s -o /dev/null -H "Authorization: Bearer secret-token-a" "http://127.0.0.1:$HTTP_PORT/k/t"
	wait "$t"
	grep -q "/k/t" "$BATS_TEST_TMPDIR/text"
	! grep -q secret "$BATS_TEST_TMPDIR/text" "$BATS_TEST_TMPDIR/text.err"
}

@test "--body N shows the first N bytes of each body; without it no body is shown" {
	hs_start --json --port "$HTTP_PORT" --body 8
	P=$(curl_pid -d 'name=value&more=1' "http://127.0.0.1:$HTTP_PORT/post")
	hs_stop
	hs_has "$P" '.request_body=="name=val" and .response_body=="got\n"'
	hs_start --json --port "$HTTP_PORT"
	P=$(curl_pid -d 'name=value&more=1' "http://127.0.0.1:$HTTP_PORT/post")
	hs_stop
	hs_has "$P" '.method=="POST" and (has("request_body") | not)'
	! grep -q 'name=val' "$HS_OUT"
}

@test "filters: --status 5xx, --method POST and -p keep only what they name" {
	hs_start --json --port "$HTTP_PORT" --status 5xx
	P_OK=$(curl_pid "http://127.0.0.1:$HTTP_PORT/")
	P_ERR=$(curl_pid "http://127.0.0.1:$HTTP_PORT/err")
	hs_stop
	[ "$(hs_of "$P_OK" | wc -l)" -eq 0 ]
	[ "$(hs_of "$P_ERR" | wc -l)" -eq 1 ]
	hs_start --json --port "$HTTP_PORT" --method post -p "$NGINX_WORKER"
	curl_pid "http://127.0.0.1:$HTTP_PORT/" >/dev/null
	curl_pid -d x=y "http://127.0.0.1:$HTTP_PORT/post" >/dev/null
	hs_stop
	[ "$(jq -c 'select(.event=="exchange")' "$HS_OUT" | wc -l)" -eq 1 ]
	hs_has "$NGINX_WORKER" '.method=="POST" and .role=="server"'
}

@test "hostile input: garbage, a 1 MiB header line and a slowloris trickle are counted, no crash" {
	hs_start --json --port "$HTTP_PORT" --timeout 1
	python3 "$RIG" garbage "$HTTP_PORT" >/dev/null
	python3 "$RIG" bigheader "$HTTP_PORT" >"$BATS_TEST_TMPDIR/big"
	python3 "$RIG" slowloris "$HTTP_PORT" 1.5 >"$BATS_TEST_TMPDIR/loris"
	# still working afterwards
	P=$(curl_pid "http://127.0.0.1:$HTTP_PORT/")
	hs_stop
	hs_has "$P" '.status==200'
	S=$(jq -c 'select(.event=="stats")' "$HS_OUT")
	# nginx answered the garbage with 400 on a connection with no request
	echo "$S" | jq -e '.response_only >= 1'
	# the 1 MiB request: its head was cut, counted
	echo "$S" | jq -e '.truncated_captures >= 1 and .truncated_heads >= 1'
	BIG=$(awk '/^pid/ {print $2}' "$BATS_TEST_TMPDIR/big")
	hs_has "$BIG" '.path=="/big" and .truncated==true'
	# the trickle: a request cut off by the close
	LORIS=$(awk '/^pid/ {print $2}' "$BATS_TEST_TMPDIR/loris")
	hs_has "$LORIS" '.event=="incomplete" and .path=="/loris"'
}

@test "a request with no response is reported after --timeout" {
	hs_start --json --port "$RIG_PORT" --timeout 0.05
	P=$(curl_pid "http://127.0.0.1:$RIG_PORT/slow")
	hs_stop
	hs_has "$P" '.event=="timeout" and .path=="/slow"'
	hs_has "$P" '.event=="exchange" and .late==true'
	jq -e 'select(.event=="stats") | .timeouts >= 1' "$HS_OUT"
}

@test "usage errors exit 2 with one line; without privileges exit 2 naming the fix" {
	run -2 "$HTTPSNOOP" --status 7xx
	[ "${#lines[@]}" -le 2 ]
	[[ "${lines[0]}" == *"--status"* ]]
	run -2 "$HTTPSNOOP" --tls maybe
	run -2 "$HTTPSNOOP" --hooks nosuch
	run -2 "$HTTPSNOOP" -p 999999999
	run -0 "$HTTPSNOOP" --help
	[[ "$output" == *"--max-capture"* ]]
	run -0 "$HTTPSNOOP" --version
	run -2 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$HTTPSNOOP" -d 1
	[[ "$output" == *"setcap"* ]]
}

@test "killed with SIGKILL, httpsnoop leaves no program or link behind" {
	hs_start --json
	kill -KILL "$HS_PID"
	wait "$HS_PID" 2>/dev/null || true
	HS_PID=
	check_nothing_left
}
