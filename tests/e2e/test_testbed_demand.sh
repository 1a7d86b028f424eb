# test_testbed_demand.sh - service demand in CPU time: a lone request at c
# units takes its demand / (c x unit) of wall time and the node charges its
# demand; calibrate reports the charge and warns when it is off; trace-collect
# records the nodes in a sidecar that calibrate --compare checks; and on a
# short grid the delay grows with load and falls with CPU units where the
# published trace (data_TNSM_2024.csv, p1 = 100) does so.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
H="$PY $MESHRL_ROOT/tests/e2e/tb_http.py"
R=$TMP/run
trap 'testbed down --run-dir "$R" >/dev/null 2>&1; rm -rf "$TMP"' EXIT

# ---- calibrate
testbed calibrate --compute-cpu-ms 20 --demand-cv 0 --matrix 64 \
	--info-rows 500 >"$TMP/cal" 2>"$TMP/cal.err"
awk -F, '$1 == "compute" { exit !($2 > 19 && $2 < 22 && $4 == 20) }' \
	"$TMP/cal" && [ ! -s "$TMP/cal.err" ] &&
	ok "calibrate: 20 ms set, ~20 ms charged, no warning ($(grep compute "$TMP/cal"))" ||
	notok "calibrate: $(cat "$TMP/cal" "$TMP/cal.err")"
# 2 rows of a 1000 x 1000 multiply per CPU check: far more than 0.05 ms
testbed calibrate --compute-cpu-ms 0.05 --matrix 1000 --info-rows 500 \
	>/dev/null 2>"$TMP/cal.err"
grep -q "warning: compute: charged .* set 0.05 ms" "$TMP/cal.err" &&
	ok "calibrate warns when the charge is > 10 % off the setting" ||
	notok "no warning: $(cat "$TMP/cal.err")"

# ---- a lone request: its demand in CPU time under the quota
check "testbed up (20 ms per compute request, constant)" testbed up \
	--run-dir "$R" --port 0 --control-port 0 --node1-port 0 \
	--node2-port 0 --compute-cpu-ms 20 --demand-cv 0 --info-rows 500 \
	--timeout 3
. "$R/env"
# 2 req/s straight at node 1 (1 unit = 0.1 core): 0.2 s each, no queueing
trace-collect -q -u "$TB_NODE1" -s compute=constant:2 -w 3 -d 3 \
	--schema generic -o "$TMP/lone.csv"
d=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "d1") k = i }
	NR == 2 { print $k }' "$TMP/lone.csv")
awk -v d="$d" 'BEGIN { exit !(d > 0.16 && d < 0.3) }' &&
	ok "1 unit of 0.1 core: a 20 ms request takes ~0.2 s ($d s)" ||
	notok "lone request delay: '$d' (want ~0.2 s)"
$H GET "$TB_NODE1/health" >"$TMP/h"
awk '{ for (i = 1; i <= NF; i++) v[$i] = $(i + 1) }
	END { c = v["cpu_s_compute"] / v["served_compute"] * 1000
	      exit !(v["served_compute"] >= 4 && c > 19 && c < 22) }' \
	FS='[{}:,"]+' "$TMP/h" &&
	ok "/health: CPU per served request ~20 ms" || notok "health: $(cat "$TMP/h")"

# ---- sidecar and --compare
check "grid with --node writes a sidecar" trace-collect -q -u "$TB_URL" \
	--control "$TB_CONTROL" --schema compute --grid 'max_l1=8;p1=50;c1=3' \
	-w 1 -n 1 --settle 0.5 --node "$TB_NODE1" --node "$TB_NODE2" \
	-o "$TMP/g.csv"
M=$TMP/g.csv.meta
grep -q '^node1.demand_ms_compute=20$' "$M" &&
	grep -q '^node1.charged_ms_compute=' "$M" &&
	grep -q '^window_s=1$' "$M" && grep -q '^status=done$' "$M" &&
	grep -q '^command=trace-collect .*--grid '"'"'max_l1=8;p1=50;c1=3'"'" "$M" &&
	ok "sidecar: settings, charge, window, status, command" ||
	notok "sidecar: $(cat "$M")"
[ "$(head -1 "$TMP/g.csv")" = "max_l1,l1,cl1,p1,b1,c1,d1,d1_std,d1_p90,d1_p99,d11,d12,drop1" ] &&
	ok "the CSV itself is unchanged" || notok "csv: $(head -1 "$TMP/g.csv")"
trace-collect -q -u "$TB_URL" --control "$TB_CONTROL" --schema compute \
	--grid 'max_l1=8;p1=50;c1=3' -w 1 -n 1 --settle 0.5 -o "$TMP/g.csv"
[ "$(grep -c '^# run ' "$M")" -eq 2 ] &&
	[ "$(grep -c '^testbed=unknown' "$M")" -eq 1 ] &&
	[ "$(tail -1 "$M")" = "status=done" ] &&
	ok "a resumed trace's sidecar keeps both runs' blocks (no --node: unknown)" ||
	notok "resumed sidecar: $(cat "$M")"
trace-collect -q -u "$TB_NODE1" -s compute=constant:5 -w 0.5 -d 0.5 \
	-o /dev/null && [ ! -e /dev/null.meta ] &&
	ok "no sidecar beside a device" || notok "sidecar beside /dev/null?"
testbed calibrate --compute-cpu-ms 20 --demand-cv 0 --info-rows 500 \
	--timeout 3 --compare "$M" >/dev/null 2>"$TMP/cmp"
[ ! -s "$TMP/cmp" ] && ok "calibrate --compare: the same testbed agrees" ||
	notok "compare same: $(cat "$TMP/cmp")"
testbed calibrate --compute-cpu-ms 20 --demand-cv 0 --info-rows 500 \
	--timeout 5 --compare "$M" >/dev/null 2>"$TMP/cmp"
grep -q "the trace's front timeout was 3 s, this testbed's is 5 s" "$TMP/cmp" &&
	ok "calibrate --compare: another front timeout is named" ||
	notok "compare timeout: $(cat "$TMP/cmp")"
testbed calibrate --compute-cpu-ms 30 --demand-cv 0 --info-rows 500 \
	--compare "$M" >/dev/null 2>"$TMP/cmp"
grep -q "warning: .*compute: the trace's node1 charged" "$TMP/cmp" &&
	ok "calibrate --compare warns at 30 ms against a 20 ms trace" ||
	notok "compare 30: $(cat "$TMP/cmp")"
expect_fail "calibrate --compare with no such file" 4 "nosuch.meta" \
	testbed calibrate --compare "$TMP/nosuch.meta"
testbed down --run-dir "$R" >/dev/null 2>&1

# ---- the published trace's shape on a short grid. All traffic to node 1;
# 6 ms per request at loads 12, 24, 36 req/s gives at c1 = 1, 3, 5 the
# utilisations of the published 4, 8, 12 req/s with 18 ms. The published
# one (data_TNSM_2024.csv, p1 = 100, mean d1 in s):
#             c1 = 1   c1 = 3   c1 = 5
#   load 4     6.83     0.293    0.269
#   load 8     1.30     0.390    0.306
#   load 12    none     5.58     0.352
# Checked: every step between neighbours where the published delay moves by
# more than 20 %, in its direction; a configuration that answered nothing
# counts as the longest delay. Not checked: c1 = 5 across loads (published
# +14 % and +15 % per step, +31 % from 4 to 12 req/s): within the noise of
# 2 s per configuration on a shared 2-core machine (two runs here: 0.027,
# 0.021, 0.051 s and 0.040, 0.029, 0.055 s).
check "testbed up (6 ms per request)" testbed up --run-dir "$R" --port 0 \
	--control-port 0 --node1-port 0 --node2-port 0 --compute-cpu-ms 6 \
	--info-rows 500 --timeout 2
. "$R/env"
check "short grid" trace-collect -q -u "$TB_URL" --control "$TB_CONTROL" \
	--schema compute --apply rate.compute=-1 \
	--grid 'max_l1=12,24,36;p1=100;c1=1,3,5' -w 1 -n 2 --settle 2 \
	--timeout 3 -o "$TMP/shape.csv"
# mean d1 of the answered windows per (load, c1); nothing answered = 1e9
awk -F, 'NR > 1 { k = $1 " " $6; if ($3 > 0) { s[k] += $7; n[k]++ } seen[k] = 1 }
	END { for (k in seen) print k, n[k] ? s[k] / n[k] : 1e9 }' \
	"$TMP/shape.csv" | sort -n -k1 -k2 >"$TMP/shape"
sed 's/^/    # /' "$TMP/shape"
d() { awk -v l="$1" -v c="$2" '$1 == l && $2 == c { print $3 }' "$TMP/shape"; }
# less LOAD C LOAD C: the first configuration's delay is below the second's
less() {
	a=$(d "$1" "$2") b=$(d "$3" "$4")
	awk -v a="$a" -v b="$b" 'BEGIN { exit !(a != "" && b != "" && a < b) }' &&
		ok "load $1 c1 $2 below load $3 c1 $4 ($a < $b s)" ||
		notok "load $1 c1 $2 not below load $3 c1 $4 ('$a', '$b')"
}
# grows with load
less 12 3 24 3
less 24 3 36 3
# falls with units
less 12 3 12 1
less 24 3 24 1
less 24 5 24 3
less 36 3 36 1
less 36 5 36 3
