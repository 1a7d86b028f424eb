# test_trace_make.sh - `make trace OBJ=x`: an objective's trace on a testbed
# of its own, with a sidecar; the testbed is gone afterwards, also after an
# interrupt; the same command resumes without duplicates; an unknown
# objective is refused. A small grid and demand, seconds of budget.
. "$(dirname "$0")/lib.sh"
BUILD_DIR=$(dirname "$MESHRL_BIN")
R=$TMP/run
MK_PID=
trap '[ -n "$MK_PID" ] && kill -TERM -"$MK_PID" 2>/dev/null
	testbed down --run-dir "$R" >/dev/null 2>&1; rm -rf "$TMP"' EXIT

mk() {
	make -C "$MESHRL_ROOT" --no-print-directory BUILD="$BUILD_DIR" \
		OBJ=delay TRACE="$TMP/d.csv" TRACE_RUN="$R" \
		TRACE_COLLECT="-w 0.3 -n 1 --settle 0.2 --timeout 2" \
		TRACE_GRID_delay="max_l1=4,12;p1=0:100:20;c1=1:5" \
		TB_ARGS="--compute-cpu-ms 2 --demand-cv 0 --info-rows 500" \
		"$@" trace
}
rows() { echo $(($(wc -l <"$TMP/d.csv") - 1)); }
down() { ! testbed status --run-dir "$R" >/dev/null 2>&1; }

# ---- interrupted: SIGTERM to make's process group after a few seconds
setsid sh -c 'exec "$@"' mk make -C "$MESHRL_ROOT" --no-print-directory \
	BUILD="$BUILD_DIR" OBJ=delay TRACE="$TMP/d.csv" TRACE_RUN="$R" \
	TRACE_COLLECT="-w 0.3 -n 1 --settle 0.2 --timeout 2" \
	TRACE_GRID_delay="max_l1=4,12;p1=0:100:20;c1=1:5" \
	TB_ARGS="--compute-cpu-ms 2 --demand-cv 0 --info-rows 500" \
	TRACE_BUDGET=60 trace >"$TMP/o1" 2>"$TMP/e1" &
MK_PID=$!
i=0
while [ "$(rows 2>/dev/null || echo 0)" -lt 4 ] && [ $i -lt 300 ]; do
	sleep 0.1; i=$((i + 1))
done
kill -TERM -"$MK_PID"
wait "$MK_PID"
rc=$?
MK_PID=
n1=$(rows)
[ "$rc" -ne 0 ] && [ "$n1" -ge 4 ] && down &&
	grep -qx 'status=interrupted' "$TMP/d.csv.meta" &&
	ok "interrupted: exit $rc, $n1 whole configurations, testbed stopped, sidecar says interrupted" ||
	notok "interrupt: rc $rc, $n1 rows, down=$(down && echo y), $(cat "$TMP/e1")"

# ---- resumed within a budget of 6 s for the whole trace (20 x 0.5 s = 10 s)
mk TRACE_BUDGET=6 >"$TMP/o2" 2>"$TMP/e2"
rc=$?
n2=$(rows)
[ "$rc" -eq 0 ] && [ "$n2" -gt "$n1" ] && [ "$n2" -le 12 ] && down &&
	ok "resumed: $n1 -> $n2 configurations (6 s at 0.5 s each), testbed stopped" ||
	notok "resume: rc $rc, $n1 -> $n2 rows: $(tail -3 "$TMP/e2")"
dups=$(awk -F, 'NR > 1 { print $1, $4, $6 }' "$TMP/d.csv" | sort | uniq -d |
	wc -l)
[ "$dups" -eq 0 ] && ok "no configuration twice" || notok "$dups duplicates"
grep -q "next: make experiment OBJ=delay TRACE=$TMP/d.csv" "$TMP/o2" &&
	ok "says what to run next" || notok "output: $(cat "$TMP/o2")"
grep -q '^node1.unit=' "$TMP/d.csv.meta" &&
	grep -q '^node1.demand_ms_compute=2$' "$TMP/d.csv.meta" &&
	grep -qx 'adaptive=1' "$TMP/d.csv.meta" &&
	grep -qx 'status=done' "$TMP/d.csv.meta" &&
	ok "sidecar: the nodes' settings, adaptive, done" ||
	notok "sidecar: $(cat "$TMP/d.csv.meta")"
head -1 "$TMP/d.csv" | grep -q '^max_l1,l1,cl1,p1,b1,c1,d1' &&
	ok "the delay objective's schema (compute)" || notok "header"

expect_fail "an objective without a grid" 2 "no grid for objective 'nope'" \
	make -C "$MESHRL_ROOT" --no-print-directory BUILD="$BUILD_DIR" \
	OBJ=nope trace

# the testbed and the change: each objective's testbed (TB_OBJ_<obj>, the
# one its live runs use too); TRACE_PHASE=after slows node 2 and names the
# trace -after (what the command would run: make -n)
make -n -C "$MESHRL_ROOT" --no-print-directory BUILD="$BUILD_DIR" \
	OBJ=adapt-one TRACE_PHASE=after trace >"$TMP/n1" 2>&1
make -n -C "$MESHRL_ROOT" --no-print-directory BUILD="$BUILD_DIR" \
	OBJ=adapt-one trace >"$TMP/n0" 2>&1
grep -q -- '--units2 2 --compute-cpu-ms 6 --timeout 1' "$TMP/n1" &&
	grep -q 'slow.node2=3' "$TMP/n1" &&
	grep -q 'traces/local/adapt-one-after.csv' "$TMP/n1" &&
	grep -q 'slow.node2=1' "$TMP/n0" &&
	grep -q 'traces/local/adapt-one-before.csv' "$TMP/n0" &&
	ok "adapt-one: its testbed; TRACE_PHASE=after slows node 2 into -after.csv" ||
	notok "make -n: $(cat "$TMP/n1")"
