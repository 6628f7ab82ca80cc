# httpsnoop's peers: nginx (HTTP, HTTPS with a certificate made here, h2c)
# with its own configuration, pid file and temp dirs under the test's
# directory, started and stopped by pid; and tests/httprig (a Python server
# that answers /slow 100 ms late, and clients whose bytes are known).

RIG=${BATS_TEST_DIRNAME}/../httprig/httprig.py

# Ports on loopback: 48000-48999, four per test file from its pid.
http_ports() {
	HTTP_PORT=$((48000 + ($$ % 240) * 4))
	HTTPS_PORT=$((HTTP_PORT + 1))
	H2C_PORT=$((HTTP_PORT + 2))
	RIG_PORT=$((HTTP_PORT + 3))
	export HTTP_PORT HTTPS_PORT H2C_PORT RIG_PORT
}

start_nginx() {
	local d="$BATS_FILE_TMPDIR/nginx"
	mkdir -p "$d/html" "$d/tmp"
	printf 'static file\n' >"$d/html/file.txt"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
		-keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
	local echo_mod=/usr/lib/nginx/modules/ngx_http_echo_module.so
	cat >"$d/nginx.conf" <<CONF
load_module $echo_mod;
worker_processes 1;
user root root;
pid $d/nginx.pid;
error_log $d/error.log;
daemon off;
events { worker_connections 256; }
http {
	access_log $d/access.log;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	client_header_timeout 3s;
	keepalive_requests 1000;
	large_client_header_buffers 4 8k;
	sendfile on;
	server {
		listen 127.0.0.1:$HTTP_PORT;
		listen 127.0.0.1:$HTTPS_PORT ssl;
		listen 127.0.0.1:$H2C_PORT http2;
		ssl_certificate $d/cert.pem;
		ssl_certificate_key $d/key.pem;
		root $d/html;
		location = / { return 200 "root\n"; }
		location = /post { client_max_body_size 1m; echo_read_request_body; echo "got"; }
		location = /err { return 500; }
		location = /chunked { echo "part one"; echo_flush; echo "part two"; }
		location = /slow { echo_sleep 0.1; echo "slow"; }
		location /k/ { return 200 "k\n"; }
		location /pipe/ { return 200 "p\n"; }
		location /reuse/ { return 200 "r\n"; }
		location /hop/ { return 200 "h\n"; }
		location /file.txt { }
	}
}
CONF
	nginx -c "$d/nginx.conf" -p "$d" >"$d/stdout" 2>&1 &
	NGINX_PID=$!
	export NGINX_PID
	for _ in $(seq 200); do
		curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" && break
		sleep 0.05
	done
	curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" || {
		cat "$d/error.log" "$d/stdout" >&2
		return 1
	}
	# The one worker: its pid is the server side's pid.
	NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)
	export NGINX_WORKER
}

stop_nginx() {
	[ -n "${NGINX_PID:-}" ] || return 0
	kill -QUIT "$NGINX_PID" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$NGINX_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$NGINX_PID" 2>/dev/null
	wait "$NGINX_PID" 2>/dev/null
	NGINX_PID=
	true
}

start_rig_server() {
	python3 "$RIG" serve "$RIG_PORT" >"$BATS_FILE_TMPDIR/rig.out" 2>&1 &
	RIG_PID=$!
	export RIG_PID
	for _ in $(seq 200); do
		if grep -q ready "$BATS_FILE_TMPDIR/rig.out" 2>/dev/null; then
			# the server's own pid (python3 may be a wrapper script)
			RIG_SERVER=$(awk '/^ready/ {print $2}' "$BATS_FILE_TMPDIR/rig.out")
			export RIG_SERVER
			return 0
		fi
		sleep 0.05
	done
	return 1
}

stop_rig_server() {
	[ -n "${RIG_SERVER:-}" ] && kill -KILL "$RIG_SERVER" 2>/dev/null
	[ -n "${RIG_PID:-}" ] && kill -KILL "$RIG_PID" 2>/dev/null
	wait "${RIG_PID:-}" 2>/dev/null
	true
}

# Starts httpsnoop with the given options (JSON into $HS_OUT) and returns
# once it says it runs.
hs_start() {
	hs_start_cmd "$HTTPSNOOP" "$@"
}

# As hs_start, with the command given: hs_start_cmd WRAPPER... httpsnoop ARGS...
hs_start_cmd() {
	HS_OUT="$BATS_TEST_TMPDIR/hs.json"
	HS_ERR="$BATS_TEST_TMPDIR/hs.err"
	local rc=0
	start_until_ready "$HS_OUT" "$HS_ERR" "mode:" "$@" || rc=$?
	HS_PID=$BG_TOOL_PID # teardown kills it if it never got ready
	return "$rc"
}

# Stops httpsnoop with SIGINT after the kernel had time to hand over the
# last events; fails unless it exits 0.
hs_stop() {
	local rc=0
	sleep 0.3
	kill -INT "$HS_PID"
	for _ in $(seq 100); do
		kill -0 "$HS_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$HS_PID" 2>/dev/null; then
		echo "httpsnoop did not stop within 10 s of SIGINT" >&2
		kill -KILL "$HS_PID"
	fi
	wait "$HS_PID" || rc=$?
	HS_PID=
	[ "$rc" -eq 0 ] || {
		echo "httpsnoop exited $rc" >&2
		cat "$HS_ERR" >&2
		return 1
	}
}

# Records of one process: hs_of PID [jq filter]
hs_of() {
	jq -c --argjson p "$1" "select(.event != \"stats\" and .pid == \$p)${2:+ | $2}" "$HS_OUT"
}

# At least one record of PID matches the jq condition: hs_has PID COND
hs_has() {
	local n
	n=$(hs_of "$1" "select($2)" | wc -l)
	[ "$n" -ge 1 ] || {
		echo "no record of pid $1 with $2:" >&2
		hs_of "$1" >&2
		return 1
	}
}
