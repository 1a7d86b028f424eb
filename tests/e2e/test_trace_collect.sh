# test_trace_collect.sh - trace-collect and actuate against the real local
# testbed: a two-configuration grid through actuate (offered counts, per-node
# shares, resume without duplicates), a rate limit's 429s, more units lower
# the delay under load, and faults: unreachable and refusing hosts, 5xx
# answers, a node killed mid-window, interrupted grids, bad specs and files.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
R=$TMP/run
SRV_PID=
trap 'testbed down --run-dir "$R" >/dev/null 2>&1; [ -n "$SRV_PID" ] && kill $SRV_PID 2>/dev/null; rm -rf "$TMP"' EXIT

# unit = cores per CPU unit sized from the measured cost of one request, so
# one unit carries ~0.6x the test's 10 req/s and five units ~3x, in any
# build (ASan is several times slower)
cost=$(testbed calibrate --matrix 160 --info-rows 100 | awk -F, '$1=="compute"{print $2}')
unit=$(awk -v c="$cost" 'BEGIN{printf "%.6f", 6 * c / 1000}')
check "testbed up" testbed up --run-dir "$R" --port 0 --control-port 0 \
	--node1-port 0 --node2-port 0 --matrix 160 --info-rows 100 \
	--unit "$unit" --period 50 --timeout 3
. "$R/env"

# ---- a grid of two configurations through actuate
G="max_l1=40;p1=100,20"
check "grid of two configurations" trace-collect -u "$TB_URL" \
	--control "$TB_CONTROL" --schema compute --grid "$G" --set c1=5 \
	-w 0.5 -n 2 --settle 0.3 --raw "$TMP/raw.mp" -o "$TMP/g.csv" -q
rows=$(($(wc -l <"$TMP/g.csv") - 1))
[ "$rows" -eq 4 ] && ok "four rows (2 configurations x 2 windows)" ||
	notok "rows: $rows"
head -1 "$TMP/g.csv" | grep -qx 'max_l1,l1,cl1,p1,b1,c1,d1,d1_std,d1_p90,d1_p99,d11,d12,drop1' &&
	ok "compute header" || notok "header: $(head -1 "$TMP/g.csv")"
# 40 req/s x 1 s recorded per configuration: 40 offered, Poisson sd ~6.3
awk -F, 'NR>1{l[$4]+=$2} END{for(p in l) if (l[p] < 15 || l[p] > 65) exit 1}' \
	"$TMP/g.csv" && ok "offered counts match 40 req/s within Poisson noise" ||
	notok "offered: $(awk -F, 'NR>1{print $4, $2}' "$TMP/g.csv" | tr '\n' ' ')"
awk -F, 'NR>1 && $2 != $3 + $13 {exit 1}' "$TMP/g.csv" &&
	ok "every row: l1 = cl1 + drop1" || notok "l1 != cl1 + drop1"
awk -F, 'NR>1 && ($5 != 40 || $6 != 5) {exit 1}' "$TMP/g.csv" &&
	ok "b1 (no limit) = max_l1 and c1 from --set" || notok "b1/c1 columns"
# tags are configuration indices: p1=100 is 0, p1=20 is 1; rawlog.py prints
# "n N ok K s429 R other F node1 A node2 B"
s100=$($PY "$MESHRL_ROOT/tests/e2e/rawlog.py" "$TMP/raw.mp" 0)
s20=$($PY "$MESHRL_ROOT/tests/e2e/rawlog.py" "$TMP/raw.mp" 1)
echo "$s100" | awk '{exit !($4 > 20 && $12 == 0)}' &&
	ok "p1=100: every request routed to node1 ($s100)" || notok "p1=100: $s100"
# binomial, n ~ 40, p = 0.2: sd ~ 0.063
echo "$s20" | awk '{f = $10 / ($10 + $12); exit !(f > 0.02 && f < 0.45)}' &&
	ok "p1=20: node1 share near 0.2 ($s20)" || notok "p1=20: $s20"
awk -F, 'NR>1 && $4 == 100 && $12 != 0 {exit 1}' "$TMP/g.csv" &&
	ok "p1=100 rows: no delay via node2 (d12 = 0)" || notok "d12 at p1=100"
cp "$TMP/g.csv" "$TMP/g0.csv"
trace-collect -u "$TB_URL" --control "$TB_CONTROL" --schema compute \
	--grid "$G" --set c1=5 -w 0.5 -n 2 --settle 0.3 -o "$TMP/g.csv" 2>"$TMP/e"
cmp -s "$TMP/g.csv" "$TMP/g0.csv" && grep -q "2 already in" "$TMP/e" &&
	ok "a finished grid run again adds nothing" || notok "rerun: $(cat "$TMP/e")"

# ---- a low rate limit gives 429s (drops), through actuate
check "actuate b1 < max_l1 sets a rate limit" actuate -c "$TB_CONTROL" \
	--schema compute max_l1=40 b1=5 p1=50
trace-collect -u "$TB_URL" -s compute:premium=poisson:40 --schema compute \
	--control "$TB_CONTROL" -w 0.5 -d 1.5 --raw "$TMP/raw2.mp" \
	-o "$TMP/r.csv" -q
s=$($PY "$MESHRL_ROOT/tests/e2e/rawlog.py" "$TMP/raw2.mp")
echo "$s" | awk '{exit !($6 > 15)}' &&
	ok "rate limit 5 at 40 req/s: 429s ($s)" || notok "429s: $s"
awk -F, 'NR>1{d+=$13; b=$5} END{exit !(d > 15 && b == 5)}' "$TMP/r.csv" &&
	ok "refusals are drops in the rows; b1 read back as 5" ||
	notok "drop rows: $(cat "$TMP/r.csv")"

# ---- more units lower the delay under load (10 req/s, all to node1)
actuate -c "$TB_CONTROL" --schema compute p1=100 b1=1000 max_l1=10 c1=1
trace-collect -u "$TB_URL" -s compute=poisson:10 --schema compute \
	--control "$TB_CONTROL" -w 1 -d 2 -o "$TMP/c1.csv" -q
actuate -c "$TB_CONTROL" --schema compute c1=5
sleep 1 # the c=1 backlog drains
trace-collect -u "$TB_URL" -s compute=poisson:10 --schema compute \
	--control "$TB_CONTROL" -w 1 -d 2 -o "$TMP/c5.csv" -q
d1=$(awk -F, 'NR>1{s+=$7; n++} END{print s/n}' "$TMP/c1.csv")
d5=$(awk -F, 'NR>1{s+=$7; n++} END{print s/n}' "$TMP/c5.csv")
awk -v a="$d1" -v b="$d5" 'BEGIN{exit !(b < a)}' &&
	ok "c1=5 delay $d5 s < c1=1 delay $d1 s" || notok "delay c1=5 $d5 vs c1=1 $d1"
awk -F, 'NR>1 && $6 != 5 {exit 1}' "$TMP/c5.csv" && ok "c1 read back as 5" ||
	notok "c1 column"

# ---- a node stopped (paused: accepts, serves nothing): client timeouts.
# 4 req/s split evenly keeps node 2 (1 unit, ~5.6 req/s) at a third of its
# capacity, and a 2 s timeout leaves room for a busy machine (at 8 req/s
# and 1 s, node 2 answered 2 of ~15 in time once, under other load).
actuate -c "$TB_CONTROL" weight.compute=50 rate.compute=-1 stopped.node1=1
trace-collect -u "$TB_URL" -s compute=poisson:4 -w 0.5 -d 4 --timeout 2 \
	-o "$TMP/p.csv" -q
awk -F, 'NR>1{d+=$10; ok+=$3}
	END{exit !(d > 2 && ok > 2)}' "$TMP/p.csv" &&
	ok "stopped node1: its requests time out as drops, node2 serves" ||
	notok "stopped node: $(cat "$TMP/p.csv")"
actuate -c "$TB_CONTROL" stopped.node1=0

# ---- a node killed mid-window: its requests are drops, rows stay whole
actuate -c "$TB_CONTROL" weight.compute=50 rate.compute=-1
trace-collect -u "$TB_URL" -s compute=poisson:30 -w 0.5 -d 2 --timeout 2 \
	-o "$TMP/k.csv" -q &
TCP=$!
sleep 0.8
kill -KILL "$(cat "$R/node2.pid")"
wait $TCP
rc=$?
[ $rc -eq 0 ] && ok "trace-collect survives a node killed mid-run" ||
	notok "exit $rc after node kill"
awk -F, 'NR>1{n++; if (NF != 10) bad=1; drop+=$10; ok+=$3}
	END{exit !(n == 4 && !bad && drop > 5 && ok > 5)}' "$TMP/k.csv" &&
	ok "rows whole; drops counted after the kill, node1 still serves" ||
	notok "after kill: $(cat "$TMP/k.csv")"

# ---- hosts that are not there or fail
trace-collect -u http://no-such-host.invalid -s compute=constant:20 -w 0.5 \
	-d 1 -o "$TMP/u.csv" 2>"$TMP/e"
awk -F, 'NR>1{l+=$2; c+=$3; d+=$10} END{exit !(l >= 18 && c == 0 && d == l)}' \
	"$TMP/u.csv" && grep -q "no-such-host.invalid" "$TMP/e" &&
	ok "unreachable host: every request a drop, host named" ||
	notok "unreachable: $(cat "$TMP/e")"
trace-collect -u http://127.0.0.1:1 -s compute=constant:20 -w 0.5 -d 1 \
	-o "$TMP/f.csv" 2>"$TMP/e"
awk -F, 'NR>1{l+=$2; d+=$10} END{exit !(l >= 18 && d == l)}' "$TMP/f.csv" &&
	grep -q "127.0.0.1:1" "$TMP/e" &&
	ok "refused connection: drops, host named" || notok "refused: $(cat "$TMP/e")"
expect_fail "actuate: refused connection exits 5 naming the host" 5 \
	"127.0.0.1:1/config" actuate --retries 1 --backoff 0.01 \
	-c http://127.0.0.1:1 p1=1 --schema compute
expect_fail "actuate: unresolvable host exits 5 naming it" 5 \
	"no-such-host.invalid" actuate --retries 0 -c http://no-such-host.invalid \
	weight.compute=1
# a server that answers 500 to everything
$PY "$MESHRL_ROOT/tests/e2e/k8s_mock.py" --fail-all 500 --port-file "$TMP/port" \
	--log "$TMP/mock.log" &
SRV_PID=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$TMP/port" ] && break; sleep 0.2; done
MP=$(cat "$TMP/port")
expect_fail "actuate: 5xx after retries exits 5 with the answer" 5 \
	"answered 500.*gave up" actuate --retries 2 --backoff 0.01 \
	-c "http://127.0.0.1:$MP" weight.compute=10
n=$(grep -c "PUT /config" "$TMP/mock.log")
[ "$n" -eq 3 ] && ok "5xx: retried twice (3 attempts)" || notok "attempts: $n"
trace-collect -u "http://127.0.0.1:$MP" -s compute=constant:20 -w 0.5 -d 1 \
	-o "$TMP/x.csv" 2>"$TMP/e"
awk -F, 'NR>1{l+=$2; d+=$10} END{exit !(l >= 18 && d == l)}' "$TMP/x.csv" &&
	grep -q "answered 500" "$TMP/e" && ok "5xx answers: drops, answer named" ||
	notok "5xx trace: $(cat "$TMP/e")"
kill $SRV_PID; SRV_PID=

# ---- interrupted grid resumes without duplicates
G3="max_l1=20;p1=0,50,100"
trace-collect -u "$TB_URL" --control "$TB_CONTROL" --schema compute \
	--grid "$G3" -w 0.5 -n 2 --settle 0.2 -o "$TMP/i.csv" -q &
TCP=$!
sleep 1.9
kill -INT $TCP
wait $TCP
rc=$?
rows=$(($(wc -l <"$TMP/i.csv") - 1))
[ $rc -eq 130 ] && [ $((rows % 2)) -eq 0 ] && [ $rows -lt 6 ] &&
	ok "interrupted grid: exit 130, only whole configurations ($rows rows)" ||
	notok "interrupt: exit $rc, $rows rows"
check "resumed grid finishes" trace-collect -u "$TB_URL" \
	--control "$TB_CONTROL" --schema compute --grid "$G3" -w 0.5 -n 2 \
	--settle 0.2 -o "$TMP/i.csv" -q
awk -F, 'NR>1{c[$4]++} END{exit !(c[0] == 2 && c[50] == 2 && c[100] == 2)}' \
	"$TMP/i.csv" && ok "after resume: each configuration exactly twice" ||
	notok "resume rows: $(awk -F, 'NR>1{print $4}' "$TMP/i.csv" | tr '\n' ' ')"

# ---- bad specs and files: clear errors, nothing written
cp "$TMP/i.csv" "$TMP/i0.csv"
expect_fail "malformed grid spec" 2 "p1=0:100:0.*STEP > 0" trace-collect \
	-u "$TB_URL" --control "$TB_CONTROL" --schema compute \
	--grid "max_l1=4;p1=0:100:0" -o "$TMP/i.csv"
expect_fail "grid key that is not a column" 2 "'speed' is not a load" \
	trace-collect -u "$TB_URL" --control "$TB_CONTROL" --schema compute \
	--grid "max_l1=4;speed=1" -o "$TMP/i.csv"
expect_fail "grid without the load column" 2 "needs the load column max_l1" \
	trace-collect -u "$TB_URL" --control "$TB_CONTROL" --schema compute \
	--grid "p1=0" -o "$TMP/i.csv"
expect_fail "another schema's trace file" 3 "i.csv:1: the header differs" \
	trace-collect -u "$TB_URL" --control "$TB_CONTROL" --schema info2 \
	--grid "max_l1=4;max_l2=4" -o "$TMP/i.csv"
expect_fail "bad stream spec" 2 "class must be premium or freemium" \
	trace-collect -s compute:gold=poisson:1 -d 1
expect_fail "grid with an unreachable control API" 5 "127.0.0.1:1/config" \
	trace-collect -u "$TB_URL" --control http://127.0.0.1:1 --schema compute \
	--grid "max_l1=4;p1=0" -o "$TMP/n.csv"
cmp -s "$TMP/i.csv" "$TMP/i0.csv" && ok "refused runs left the trace intact" ||
	notok "trace changed by a refused run"

check "testbed down" testbed down --run-dir "$R"
alive=0
for p in $TB_PIDS; do
	[ -d /proc/$p ] && ! grep -q '^[^)]*) Z' /proc/$p/stat 2>/dev/null && alive=1
done
[ $alive -eq 0 ] && ok "no testbed process left" || notok "left: $TB_PIDS"
