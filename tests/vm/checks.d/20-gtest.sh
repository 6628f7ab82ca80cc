# Every gtest binary the run put in $TESTBIN (build/tests/kernel/bpfkit-kernel-tests
# by default), one TAP line per test case, from gtest's JSON report.
for t in "$TESTBIN"/*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	timeout 150 "$t" --gtest_output="json:$WORK/$name.json" >"$WORK/$name.log" 2>&1
	rc=$?
	if [ ! -s "$WORK/$name.json" ]; then
		not_ok "$name: wrote its report" "exit $rc" "$(tail -n 20 "$WORK/$name.log")"
		continue
	fi
	jq -r '.testsuites[] | .name as $s | .testsuite[] |
		[(if .failures then "not ok" elif .result == "SKIPPED" then "skip" else "ok" end),
		 "\($s).\(.name)",
		 ((.failures // []) | map(.failure) | join("\n") | gsub("\t"; " "))] | @tsv' "$WORK/$name.json" |
		while IFS="$(printf '\t')" read -r res case why; do
			case $res in
			ok) ok "$name: $case" ;;
			skip) skip "$name: $case" "skipped by the test" ;;
			*) not_ok "$name: $case" "$(printf '%b' "$why" | head -n 10)" ;;
			esac
		done
	is "$name: exit status 0" "$rc" 0
	# The end of each verifier log it printed goes to the TAP, and the whole
	# output of a failing binary to the console log.
	if [ "$rc" -ne 0 ]; then
		awk '/BEGIN PROG LOAD LOG/ {n = 0; inlog = 1; next}
			/END PROG LOAD LOG/ {for (i = n > 3 ? n - 3 : 0; i < n; i++) print "verifier: " l[i]; inlog = 0; next}
			inlog {l[n++] = $0}
			/^libbpf: prog .*load failed/ {print}' "$WORK/$name.log" | sort -u | while IFS= read -r l; do diag "$name: $l"; done
		echo "---- $name output ----"
		cat "$WORK/$name.log"
		echo "----"
	fi
done
