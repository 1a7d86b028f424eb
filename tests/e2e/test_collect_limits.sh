# test_collect_limits.sh - trace-collect's bounds: under overload (a slow
# one-at-a-time server, one connection) no recorded latency exceeds
# --timeout and the requests that could not be served in time are drops;
# an unreachable target ends with exit 5 after --give-up windows, or with
# --give-up 0 keeps going as rows of drops. Helper server: k8s_mock.py.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
MOCK="$MESHRL_ROOT/tests/e2e/k8s_mock.py"
PIDS=
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; rm -rf "$TMP"' EXIT

# (its stderr: tracebacks for answers to requests the client gave up on)
$PY "$MOCK" --port-file "$TMP/slow.port" --log "$TMP/slow.log" --delay 0.05 \
	2>"$TMP/slow.err" &
PIDS="$PIDS $!"
for _ in $(seq 50); do [ -s "$TMP/slow.port" ] && break; sleep 0.1; done
URL=http://127.0.0.1:$(cat "$TMP/slow.port")

# 40 req/s offered, 20/s served: the line grows by 20 requests a second,
# and without the bound its last requests would wait well over a second.
check "overload: 40 req/s against 20 req/s of service" trace-collect -u "$URL" \
	-s compute=constant:40 --connections 1 --timeout 0.3 -w 0.5 -d 3 \
	-o "$TMP/over.csv"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	$c["d1_p99"] > 0.3 || $c["d1_p90"] > 0.3 { bad++ }
	{ ok += $c["cl1"]; drop += $c["drop1"]; rows++ }
	END { print rows, bad + 0, ok, drop }' "$TMP/over.csv" >"$TMP/over.sum"
read -r rows bad okn drops <"$TMP/over.sum"
[ "$rows" -eq 6 ] && [ "$bad" -eq 0 ] &&
	ok "no window records a latency above --timeout 0.3" ||
	notok "latencies over the timeout: $(cat "$TMP/over.csv")"
awk -v o="$okn" -v d="$drops" 'BEGIN { exit !(o > 0 && d > 0) }' &&
	ok "some requests served, the ones that could not be are drops ($okn ok, $drops dropped)" ||
	notok "ok $okn drops $drops: $(cat "$TMP/over.csv")"

# unreachable: a port where nothing listens
t0=$(date +%s)
expect_fail "unreachable target: exit 5 after 3 windows" 5 \
	"could not be reached in 3 window\(s\) in a row .*127.0.0.1:1/compute.*--give-up 0" \
	trace-collect -u http://127.0.0.1:1 -s compute=constant:20 -w 0.2 -d 60 \
	-o "$TMP/down.csv"
[ $(( $(date +%s) - t0 )) -lt 10 ] && ok "it gives up in seconds, not after -d 60" ||
	notok "took $(( $(date +%s) - t0 )) s"
expect_fail "--give-up 1: exit 5 after the first window" 5 "in 1 window" \
	trace-collect -u http://127.0.0.1:1 -s compute=constant:20 -w 0.2 -d 60 \
	--give-up 1 -q
check "--give-up 0 keeps going" trace-collect -u http://127.0.0.1:1 \
	-s compute=constant:20 -w 0.2 -d 1 --give-up 0 -q -o "$TMP/keep.csv"
[ "$(awk -F, 'NR > 1 && $NF > 0' "$TMP/keep.csv" | wc -l)" -eq 5 ] &&
	ok "--give-up 0: five windows, every one of drops" ||
	notok "keep going: $(cat "$TMP/keep.csv")"
