# BTF portability: with only the reduced BTF that `bpftool gen min_core_btf`
# made on the host from this kernel's BTF for build/bpf/*.bpf.o
# (tests/vm/btfgen), bpfcheck still takes netproc to its best mode.
if [ ! -s "$REDUCED_BTF" ]; then
	not_ok "reduced BTF is in the initramfs" "the host could not make $REDUCED_BTF (see the run's log)"
else
	diag "reduced BTF: $(wc -c <"$REDUCED_BTF") bytes"
	"$BIN/bpfcheck" --btf "$REDUCED_BTF" --json >"$WORK/btf.jsonl" 2>"$WORK/btf.err"
	rc=$?
	if ! jq -e . "$WORK/btf.jsonl" >/dev/null 2>&1; then
		not_ok "bpfcheck --btf reduced.btf --json runs" "exit $rc" "$(tail -n 15 "$WORK/btf.err")"
	else
		row=$(jq -c 'select(.type=="tool" and .tool=="netproc")' "$WORK/btf.jsonl")
		is "reduced BTF: netproc mode fentry" "$(printf '%s' "$row" | jq -r .mode)" fentry
		is "reduced BTF: netproc status best" "$(printf '%s' "$row" | jq -r .status)" best
		is "reduced BTF: netproc reaches the mode it reaches with the kernel's BTF" \
			"$(printf '%s' "$row" | jq -r .mode)" "$(tool_row netproc | jq -r .mode)"
		is "reduced BTF: exit status as with the kernel's BTF" "$rc" "$REPORT_RC"
		is "reduced BTF: bpfcheck says it covers this kernel" \
			"$(jq -r 'select(.type=="btf").verdict' "$WORK/btf.jsonl")" covers
		printf '%s' "$row" | jq -r '.modes[] | select(.result=="refused") | "reduced BTF: netproc \(.mode) refused: \(.error) \(.reason)"' |
			while IFS= read -r l; do diag "$l"; done
		# libbpf's words, when the reduced BTF is what makes the difference
		[ "$(printf '%s' "$row" | jq -r .mode)" = "$(tool_row netproc | jq -r .mode)" ] ||
			explain_bpfcheck --btf "$REDUCED_BTF" --tool netproc
	fi
fi
