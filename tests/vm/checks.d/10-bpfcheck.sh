# bpfcheck's report against what Debian's 6.1 and 5.10 cloud kernels are
# known to do: kprobes, BPF trampolines and kernel BTF are all there, and
# tracefs is mounted by /init. Sourced by tests.sh (see the helpers there).

# The report bpfcheck printed once for every check ($REPORT, $REPORT_RC).
case $REPORT_RC in
0 | 1 | 2) ok "bpfcheck --json runs (exit $REPORT_RC)" ;;
*) not_ok "bpfcheck --json runs" "exit $REPORT_RC" "$(tail -n 15 /tmp/bpfcheck.err)" ;;
esac

lines=$(grep -c . "$REPORT")
parsed=$(jq -c . "$REPORT" 2>/dev/null | grep -c .)
if [ "$lines" -gt 0 ] && [ "$lines" = "$parsed" ] && jq -e . "$REPORT" >/dev/null 2>&1; then
	ok "bpfcheck JSON: all $lines lines parse"
else
	not_ok "bpfcheck JSON: every line parses" "$lines lines, $parsed parsed" "$(head -c 600 "$REPORT")"
fi
is "bpfcheck JSON: one summary record" "$(jq -c 'select(.type=="summary")' "$REPORT" | grep -c .)" 1
is "bpfcheck JSON: kernel release is uname -r" "$(jq -r 'select(.type=="kernel").release' "$REPORT")" "$KREL"
is "bpfcheck JSON: kconfig read from /boot/config-$KREL" \
	"$(jq -r 'select(.type=="kconfig").source' "$REPORT")" "/boot/config-$KREL"

# Features that must be "yes" on these kernels.
want_yes() { # feature why
	f=$(feature "$1")
	st=$(printf '%s' "$f" | jq -r .state)
	if [ "$st" = yes ]; then
		ok "bpfcheck $1 yes$2"
	else
		not_ok "bpfcheck $1 yes$2" "state '$st': $(printf '%s' "$f" | jq -r '"\(.error) \(.reason)"')"
	fi
}
want_yes kprobe ""
want_yes fentry ""
want_yes kernel_btf ""
want_yes tracepoint " (tracefs mounted)"
want_yes tracefs ""
want_yes tp_btf ""
want_yes ringbuf ""
want_yes xdp_native " (veth module from the kernel package)"
want_yes tc_clsact " (sch_ingress and cls_bpf modules)"

# What is not "yes", for the record.
jq -r 'select(.type=="feature" and .state!="yes") | "\(.name): \(.state) \(.error) \(.reason)"' "$REPORT" |
	while IFS= read -r l; do diag "not yes: $l"; done

# netproc: fentry is its best rung, and these kernels have it.
row=$(tool_row netproc)
if [ -z "$row" ]; then
	not_ok "bpfcheck has a netproc row"
else
	is "netproc mode fentry" "$(printf '%s' "$row" | jq -r .mode)" fentry
	is "netproc status best" "$(printf '%s' "$row" | jq -r .status)" best
	printf '%s' "$row" | jq -r '.modes[] | select(.result=="refused") | "netproc \(.mode) refused: \(.error) \(.reason)"' |
		while IFS= read -r l; do diag "$l"; done
fi

# The exit status follows the tool rows: 0 all best, 1 some degraded, 2 some cannot run.
want=$(jq -s '[.[] | select(.type=="tool") | if .status=="best" then 0 elif .status=="degraded" then 1 else 2 end] | max // 0' "$REPORT")
is "bpfcheck exit status $want follows its tool rows" "$REPORT_RC" "$want"
is "bpfcheck summary.exit is the exit status" "$(jq -r 'select(.type=="summary").exit' "$REPORT")" "$REPORT_RC"
jq -r 'select(.type=="tool") | "tool \(.tool): \(.mode) (\(.status))"' "$REPORT" | while IFS= read -r l; do diag "$l"; done

# The text report says the same.
text=$("$BIN/bpfcheck" 2>&1)
trc=$?
is "bpfcheck text report exits as --json did" "$trc" "$REPORT_RC"
if printf '%s\n' "$text" | grep -Eq "^  netproc +fentry +best "; then
	ok "bpfcheck text report: netproc fentry best"
else
	not_ok "bpfcheck text report: netproc fentry best" "$(printf '%s\n' "$text" | grep -A3 '^Tools')"
fi

# When netproc is not in its best mode, libbpf's own words (the verifier's
# log ends with the reason).
if [ "$(printf '%s' "$row" | jq -r .status 2>/dev/null)" != best ]; then
	explain_bpfcheck --tool netproc
fi
