# bench_loadgen.sh - the highest open-loop rate trace-collect sustains on
# loopback against a trivial endpoint (the front node's /health on its
# control port: a libmicrohttpd event loop) with the achieved rate within 1%
# of target and >= 99% answered, beside wrk (closed loop, no rate) on the
# same endpoint in the same run. Client pinned to CPU 0, server to CPU 1
# when taskset is there. Bounded: ~7 steps of 3 s plus 3 s of wrk.
#
# Prints CSV: loadgen_max_rate (reference: wrk req/s, measured here; no
# reference when wrk is absent), and at that rate the p99 send lateness and
# the client CPU per request (no reference).
set -u
BIN=${MESHRL_BIN:?}
TMPD=$(mktemp -d)
R=$TMPD/run
trap '"$BIN/testbed" down --run-dir "$R" >/dev/null 2>&1; rm -rf "$TMPD"' EXIT
PIN_C= PIN_S=
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
	PIN_C="taskset -c 0" PIN_S="taskset -c 1"
fi
$PIN_S "$BIN/testbed" up --run-dir "$R" --port 0 --control-port 0 \
	--node1-port 0 --node2-port 0 --matrix 16 --info-rows 10 >/dev/null || {
	echo "bench_loadgen: testbed would not start" >&2; exit 1; }
. "$R/env"
URL=$TB_CONTROL
best=0 best_late= best_cpu=
for rate in 2000 5000 10000 15000 20000 25000 30000 40000; do
	$PIN_C "$BIN/trace-collect" -u "$URL" -s "health=constant:$rate" -w 1 \
		-d 3 --timeout 2 -o /dev/null 2>"$TMPD/s" || true
	line=$(grep "summary" "$TMPD/s")
	get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	ach=$(get achieved_rate) sent=$(get sent) okn=$(get ok)
	late=$(get late_p99_us) cpu=$(get cpu_us_per_req)
	echo "bench_loadgen: target $rate achieved $ach ok $okn/$sent late_p99 ${late}us cpu ${cpu}us/req" >&2
	good=$(awk -v a="$ach" -v r="$rate" -v s="$sent" -v o="$okn" \
		'BEGIN{print (a >= 0.99 * r && a <= 1.01 * r && o >= 0.99 * s) ? 1 : 0}')
	[ "$good" = 1 ] || break
	best=$rate best_late=$late best_cpu=$cpu
done
wrk_rate=
if command -v wrk >/dev/null 2>&1; then
	wrk_rate=$($PIN_C wrk -t1 -c16 -d3s "$URL/health" 2>/dev/null |
		awk '/Requests\/sec/{print $2}')
	echo "bench_loadgen: wrk -t1 -c16 -d3s: $wrk_rate req/s" >&2
else
	echo "bench_loadgen: wrk not installed (pipelines/deps.sh bench)" >&2
fi
ratio=$(awk -v b="$best" -v w="$wrk_rate" 'BEGIN{if (w > 0) printf "%.3f", b / w}')
echo "loadgen_max_rate,$best,req/s,$wrk_rate,$ratio,${wrk_rate:+measured}"
echo "loadgen_late_p99_at_max,$best_late,us,,,"
echo "loadgen_cpu_per_req_at_max,$best_cpu,us,,,"
