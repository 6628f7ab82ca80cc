#!/usr/bin/env bash
# bpfcheck's cost next to its peer in the same run: bpftool feature probe,
# which also loads probe programs (but attaches none). Prints wall time and
# peak memory of each, and the ratios. Run as root after ./dev build.
set -euo pipefail
cd "$(dirname "$0")/.."
BPFCHECK=${BPFCHECK:-build/tools/bpfcheck/bpfcheck}
RUNS=${RUNS:-10}

measure() { # command... -> "median_ms max_rss_kib"
	local i t0 t1 ms=() rss=0 r
	for ((i = 0; i < RUNS; i++)); do
		t0=$(date +%s%N)
		r=$( (/usr/bin/time -f '%M' "$@" 2>&1 >/dev/null || true) | tail -1)  # exit 1 = degraded, fine
		t1=$(date +%s%N)
		ms+=($(((t1 - t0) / 1000000)))
		[ "$r" -gt "$rss" ] && rss=$r
	done
	printf '%s\n' "${ms[@]}" | sort -n | awk -v rss="$rss" '{a[NR]=$1} END {print a[int((NR+1)/2)], rss}'
}

command -v /usr/bin/time >/dev/null || { echo "bench: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
read -r ours_ms ours_rss < <(measure "$BPFCHECK" --json)
read -r peer_ms peer_rss < <(measure bpftool feature probe kernel)
printf '%-34s %12s %12s\n' "command ($RUNS runs, median)" "wall ms" "max RSS KiB"
printf '%-34s %12s %12s\n' "bpfcheck --json" "$ours_ms" "$ours_rss"
printf '%-34s %12s %12s\n' "bpftool feature probe kernel" "$peer_ms" "$peer_rss"
awk -v a="$ours_ms" -v b="$peer_ms" -v c="$ours_rss" -v d="$peer_rss" \
	'BEGIN { printf "%-34s %12.2f %12.2f\n", "ratio bpfcheck/bpftool", (b ? a/b : 0), (d ? c/d : 0) }'
