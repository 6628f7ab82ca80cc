# DNS rigs for dnssnoop.bats: a real resolver (dnsmasq) serving the test zone, a Python
# server behind it that answers late, answers SERVFAIL or drops, a sink that never answers
# (also the DoT listener), and dnssnoop started and stopped.  The servers live for the whole
# file; each test reads its own part of dnsmasq's query log.

RIG="$BATS_TEST_DIRNAME/../dnsrig/dnsrig.py"
PY=${PYTHON:-python3}
rig() { "$PY" "$RIG" "$@"; }

ZONE=bpfkit.test

# Loopback addresses of this run, 127.53.N.0/24 with N from the pid, so two runs at once
# (one engineer's, one CI's) rarely meet; all of 127.0.0.0/8 is on lo.
lo_addrs() {
	local n=$(($$ % 250 + 1))
	export LO_DNS=127.53.$n.1  # dnsmasq, port 53
	export LO_UP=127.53.$n.2   # the Python upstream behind dnsmasq, port 5300
	export LO_SINK=127.53.$n.3 # reads and never answers: 53 (UDP, TCP) and 853 (DoT)
	export LO_CLI=127.53.$n.4  # clients send from here, so their queries are known ours
}

# Waits until file $1 is non-empty (or holds a line matching $3), while pid $2 lives.
wait_ready() {
	local f=$1 pid=$2 re=${3:-}
	for _ in $(seq 1000); do
		if [ -n "$re" ]; then
			grep -qE "$re" "$f" 2>/dev/null && return 0
		else
			[ -s "$f" ] && return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	return 1
}

# start_dnsmasq NAME NS ADDR...: dnsmasq in namespace NS ("-": this one) on ADDR:53 with the
# test zone (and, on loopback, the upstream's domains); queries logged to $DNS_DIR/NAME.log.
# Its pid goes to $DNS_DIR/NAME.pid.
start_dnsmasq() {
	local name=$1 ns=$2 pre=() args=()
	shift 2
	[ "$ns" != - ] && pre=(ip netns exec "$ns")
	for a in "$@"; do args+=("--listen-address=$a"); done
	if [ "$ns" = - ]; then
		for d in slow fail drop; do args+=("--server=/$d.$ZONE/$LO_UP#5300"); done
	fi
	"${pre[@]}" dnsmasq --keep-in-foreground --port=53 --bind-interfaces --no-resolv --no-hosts \
		--pid-file= --cache-size=0 --log-queries=extra --log-facility="$DNS_DIR/$name.log" \
		--conf-file="$DNS_DIR/zone.conf" "${args[@]}" >/dev/null 2>"$DNS_DIR/$name.err" 3>&- &
	echo $! >"$DNS_DIR/$name.pid"
	wait_ready "$DNS_DIR/$name.log" $! 'started, version' || {
		cat "$DNS_DIR/$name.err" >&2
		return 1
	}
}

# The servers of the file, in setup_file: the zone, the upstream, the sink, and dnsmasq on
# loopback; with a namespace pair (make_netns_pair), dnsmasq in $NSB on $B4 and $B6, and a
# resolv.conf for $NSA pointing at it (`ip netns exec` mounts it over /etc/resolv.conf).
start_dns_servers() {
	export DNS_DIR="$BATS_FILE_TMPDIR/dns"
	mkdir -p "$DNS_DIR"
	chmod 755 "$BATS_FILE_TMPDIR" "$DNS_DIR"
	rig zone --conf "$DNS_DIR/zone.conf" --truth "$DNS_DIR/zone.json" --domain "$ZONE"
	# (the Python servers write their own pid in their ready file)
	"$PY" "$RIG" upstream --listen "$LO_UP:5300" --drop "drop.$ZONE" --servfail "fail.$ZONE" \
		--delay "slow.$ZONE=200" --ready-file "$DNS_DIR/upstream.ready" --timeout 900 \
		>/dev/null 2>"$DNS_DIR/upstream.err" 3>&- &
	wait_ready "$DNS_DIR/upstream.ready" $! || return 1
	jq .pid "$DNS_DIR/upstream.ready" >"$DNS_DIR/upstream.pid"
	"$PY" "$RIG" sink --udp "$LO_SINK:53" --tcp "$LO_SINK:53" --tcp "$LO_SINK:853" --comm dns-sink \
		--ready-file "$DNS_DIR/sink.ready" --timeout 900 >/dev/null 2>"$DNS_DIR/sink.err" 3>&- &
	wait_ready "$DNS_DIR/sink.ready" $! || return 1
	jq .pid "$DNS_DIR/sink.ready" >"$DNS_DIR/sink.pid"
	start_dnsmasq lo - "$LO_DNS"
	if [ -n "${NSB:-}" ]; then
		start_dnsmasq ns "$NSB" "$B4" "$B6"
		mkdir -p "/etc/netns/$NSA"
		printf 'nameserver %s\noptions attempts:1 timeout:2\n' "$B4" >"/etc/netns/$NSA/resolv.conf"
	fi
}

stop_dns_servers() {
	local f
	for f in "$DNS_DIR"/*.pid; do
		[ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	[ -n "${NSA:-}" ] && rm -rf "/etc/netns/${NSA:?}"
	rmdir /etc/netns 2>/dev/null
	true
}

# Marks where dnsmasq log NAME is now; log_since NAME writes what came after to stdout.
log_mark() { wc -l <"$DNS_DIR/$1.log" >"$BATS_TEST_TMPDIR/$1.mark"; }
log_since() {
	sleep 0.2 # dnsmasq writes its log from its main loop
	tail -n +"$(($(cat "$BATS_TEST_TMPDIR/$1.mark") + 1))" "$DNS_DIR/$1.log"
}

# ---- dnssnoop ----

# dnssnoop --json in the background (in namespace $DS_NS if set); JSON lines in
# $BATS_TEST_TMPDIR/ds.jsonl, stderr in ds.err.  Returns once it says its mode (attached).
start_dnssnoop() {
	local pre=()
	[ -n "${DS_NS:-}" ] && pre=(ip netns exec "$DS_NS")
	"${pre[@]}" "$DNSSNOOP" --json "$@" >"$BATS_TEST_TMPDIR/ds.jsonl" 2>"$BATS_TEST_TMPDIR/ds.err" &
	DS_PID=$!
	if ! wait_ready "$BATS_TEST_TMPDIR/ds.err" "$DS_PID" '^dnssnoop: mode: '; then
		echo "dnssnoop did not attach:" >&2
		cat "$BATS_TEST_TMPDIR/ds.err" >&2
		return 1
	fi
}

# SIGINT: dnssnoop reports what is pending, prints its stats and exits 0.
stop_dnssnoop() {
	local pid=$DS_PID
	DS_PID=
	stop_with_sigint "$pid" "$BATS_TEST_TMPDIR/ds.err" || return 1
	# every line is JSON of our schema, and the stats came last
	jq -e -s 'all(.schema == "dnssnoop/1" and (.time | test("^[0-9-]+T[0-9:.]+Z$")) and (.mode | type == "string"))
		and (last.event == "stats")' "$BATS_TEST_TMPDIR/ds.jsonl" >/dev/null || {
		echo "dnssnoop's output is not all dnssnoop/1 JSON with time and mode, ending with stats:" >&2
		tail -5 "$BATS_TEST_TMPDIR/ds.jsonl" >&2
		return 1
	}
}

# Events of one kind from the last run: events answer | events malformed ...
events() { jq -c --arg e "$1" 'select(.event == $e)' "$BATS_TEST_TMPDIR/ds.jsonl"; }
stat_of() { jq -s --arg k "$1" 'map(select(.event == "stats"))[-1][$k]' "$BATS_TEST_TMPDIR/ds.jsonl"; }

# check ARGS...: the ground truth against dnssnoop's output (dnsrig.py check); prints a line
# per query, fails if one is wrong.
# Every record must name the mode: $CHECK_MODE, else the one bpfcheck predicts ($MODE).
check() {
	rig check --seen "$BATS_TEST_TMPDIR/ds.jsonl" --zone "$DNS_DIR/zone.json" --mode "${CHECK_MODE:-$MODE}" "$@"
}

# Runs a command and writes its pid to $BATS_TEST_TMPDIR/$1.pid: run_pid NAME CMD...
run_pid() {
	local name=$1
	shift
	sh -c 'echo $$ >"$0"; exec "$@"' "$BATS_TEST_TMPDIR/$name.pid" "$@"
}
