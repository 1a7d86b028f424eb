# test_trace_adaptive.sh - trace-collect --adaptive and --budget against the
# local testbed: the sweep stops within its budget, takes each configuration
# once, refits from the trace as it goes, records itself in the sidecar, a
# rerun adds nothing once the budget is spent (the budget is the trace's),
# and bad options are refused. Where the forest sends the picks is
# tests/unit/test_trace_collect.c's (test_adaptive).
. "$(dirname "$0")/lib.sh"
R=$TMP/run
trap 'testbed down --run-dir "$R" >/dev/null 2>&1; rm -rf "$TMP"' EXIT

check "testbed up (2 ms per compute request)" testbed up --run-dir "$R" \
	--port 0 --control-port 0 --node1-port 0 --node2-port 0 \
	--compute-cpu-ms 2 --demand-cv 0 --info-rows 500 --timeout 3
. "$R/env"

# 60 configurations of 0.3 s each; 9 s of budget holds 30 of them, the
# first 12 at random, the rest chosen by the forest
G='max_l1=5,20;p1=0:100:20;c1=1:5'
run() {
	trace-collect --env "$R/env" --schema compute --grid "$G" -w 0.2 -n 1 \
		--settle 0.1 --timeout 2 --adaptive --budget 9s \
		--bound 'd1<=0.05' -o "$TMP/a.csv" "$@"
}
t0=$(date +%s)
run 2>"$TMP/e"
rc=$?
t1=$(date +%s)
rows=$(($(wc -l <"$TMP/a.csv") - 1))
[ "$rc" -eq 0 ] && [ "$rows" -ge 12 ] && [ "$rows" -le 30 ] &&
	[ $((t1 - t0)) -le 14 ] &&
	ok "--budget 9s: $rows configurations in $((t1 - t0)) s, exit 0" ||
	notok "budget: rc $rc, $rows rows, $((t1 - t0)) s: $(tail -3 "$TMP/e")"
grep -q "budget 9 s, 9 s left: up to 30 configuration" "$TMP/e" &&
	ok "the plan: 30 configurations fit the budget" ||
	notok "plan: $(head -3 "$TMP/e")"
dups=$(awk -F, 'NR > 1 { print $1, $4, $6 }' "$TMP/a.csv" | sort | uniq -d |
	wc -l)
[ "$dups" -eq 0 ] && ok "each configuration once" ||
	notok "$dups configurations collected twice"
grep -qx 'adaptive=1' "$TMP/a.csv.meta" &&
	grep -qx 'budget_s=9' "$TMP/a.csv.meta" &&
	grep -qx 'status=done' "$TMP/a.csv.meta" &&
	ok "sidecar: adaptive=1, budget_s=9, done" ||
	notok "sidecar: $(cat "$TMP/a.csv.meta")"
# more than the random start: rows the forest chose exist only when it
# could read the trace back between configurations
fitted=$(sed -n 's/.*last forest was fitted on \([0-9]*\) rows/\1/p' "$TMP/e")
[ "$rows" -gt 12 ] && [ "${fitted:-0}" -ge 12 ] &&
	[ "$fitted" -lt "$rows" ] &&
	ok "configurations beyond the random start (last fit on $fitted rows)" ||
	notok "rows $rows, last fit on '$fitted' rows"

# rows beyond 30 x 0.3 s would overrun the budget; a rerun adds what the
# first run's overheads left (30 - rows), and then nothing
run -q
n2=$(($(wc -l <"$TMP/a.csv") - 1))
cp "$TMP/a.csv" "$TMP/a0.csv"
run 2>"$TMP/e"
[ "$n2" -ge "$rows" ] && [ "$n2" -le 30 ] && cmp -s "$TMP/a.csv" "$TMP/a0.csv" &&
	grep -q "up to 0 configuration" "$TMP/e" &&
	ok "reruns: the trace's budget is spent at $n2 configurations" ||
	notok "reruns: $rows -> $n2: $(cat "$TMP/e")"
rows=$n2
check "a larger budget resumes the sweep" trace-collect --env "$R/env" \
	--schema compute --grid "$G" -w 0.2 -n 1 --settle 0.1 --timeout 2 \
	--adaptive --budget 11 -o "$TMP/a.csv" -q
# 11 s less 0.3 s for each configuration there
more=$(($(wc -l <"$TMP/a.csv") - 1 - rows))
want=$(awk -v n="$rows" 'BEGIN { printf "%d", (11 - 0.3 * n) / 0.3 + 1e-9 }')
[ "$more" -ge 1 ] && [ "$more" -le "$want" ] &&
	ok "resumed with 2 s more: $more configuration(s) added" ||
	notok "resumed: $more added, want $want"

expect_fail "--bound without --adaptive" 2 "need --adaptive" \
	trace-collect --env "$R/env" --schema compute --grid "$G" \
	--bound 'd1<=1' -o "$TMP/b.csv"
expect_fail "--bound on a column the schema lacks" 2 "'zz' is not a column" \
	trace-collect --env "$R/env" --schema compute --grid "$G" \
	--adaptive --bound 'zz<=1' -o "$TMP/b.csv"
expect_fail "--bound without <=" 2 "expected COLUMN<=VALUE" \
	trace-collect --env "$R/env" --schema compute --grid "$G" \
	--adaptive --bound 'd1>1' -o "$TMP/b.csv"
expect_fail "--budget with a bad unit" 2 "expected a duration" \
	trace-collect --env "$R/env" --schema compute --grid "$G" \
	--budget 5x -o "$TMP/b.csv"
expect_fail "--adaptive to stdout" 2 "give -o FILE" \
	trace-collect --env "$R/env" --schema compute --grid "$G" --adaptive
expect_fail "--targets naming a grid key" 2 "grid key" \
	trace-collect --env "$R/env" --schema compute --grid "$G" \
	--adaptive --targets p1 -o "$TMP/b.csv"
