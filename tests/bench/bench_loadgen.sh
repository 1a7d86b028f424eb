# bench_loadgen.sh - trace-collect's open-loop load on loopback against a
# trivial endpoint (the front node's /health on its control port: one
# libmicrohttpd thread), beside wrk (closed loop, no rate) on the same
# endpoint in the same run. Client pinned to CPU 0, server to CPU 1 when
# taskset is there.
#
# For each connection count (4, 16, 64, 256): the highest rate of a ladder
# that trace-collect (its own sender, the default on http://) holds for 2 s
# within 1 % of its target with >= 99 % answered, its client CPU per
# request (getrusage) and p99 send lateness there, the same ladder with
# --sender curl (libcurl multi), and wrk's req/s and CPU per request
# (/usr/bin/time) with as many connections. Then 3 s at 20,000 req/s on 16
# connections, three times per sender (medians), and three times the
# machine's lateness floor on the client's core (wake_lateness.c: a loop
# that only sleeps to each 200 us tick, as the engine does by default
# (TC_SEND_TICK), and the
# lateness that 20,000 sends/s would have if each went at the first
# wake-up after its due time, counted per send as trace-collect counts;
# what the scheduler adds there, trace-collect cannot remove). Bounded:
# ~4 min.
#
# Prints CSV: loadgen_max_rate (best over the connection counts; reference
# wrk's req/s with the same connections), loadgen_late_p99_at_20k
# (reference: the floor's p99 per send, the tick's own lateness
# included), loadgen_cpu_per_req_at_20k
# (reference: wrk's CPU per request on 16 connections, closed loop), and
# the same three for --sender curl (reference: the own sender's figure);
# where real-time priority is allowed, loadgen_late_p99_at_20k_realtime and
# loadgen_cpu_per_req_at_20k_realtime (trace-collect --realtime 50; the
# floor loop at the same priority is the lateness reference).
# Writes the scaling table $MESHRL_BENCH_OUT/loadgen_scaling.csv (default
# results/bench) and, with gnuplot, loadgen_scaling.png
# (tests/bench/loadgen_scaling.gp).
set -u
BIN=${MESHRL_BIN:?}
ROOT=${MESHRL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${MESHRL_BENCH_OUT:-$ROOT/results/bench}
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
mkdir -p "$OUT" || exit 1
WAKE=$TMPD/wake_lateness
cc -O2 -o "$WAKE" "$ROOT/tests/bench/wake_lateness.c" -lm 2>/dev/null || {
	echo "bench_loadgen: cannot build wake_lateness.c (no floor)" >&2
	WAKE=; }
echo "bench_loadgen: also running: $(uptime | sed 's/.*load/load/')" >&2

# tc RATE CONNS SECONDS [SENDER]: one trace-collect run; sets ach sent okn
# late cpu
tc() {
	$PIN_C "$BIN/trace-collect" -u "$URL" -s "health=constant:$1" -w 1 \
		-d "$3" --timeout 2 --connections "$2" --sender "${4:-auto}" \
		${5:-} -o /dev/null 2>"$TMPD/s" || true
	line=$(grep "summary" "$TMPD/s")
	ach=$(get achieved_rate) sent=$(get sent) okn=$(get ok)
	late=$(get late_p99_us) cpu=$(get cpu_us_per_req)
	echo "bench_loadgen: $(get sender) c=$2 target $1 achieved $ach ok $okn/$sent late_p99 ${late}us cpu ${cpu}us/req" >&2
}
# ladder CONNS [SENDER]: sets max mcpu mlate, the highest rate held
ladder() {
	max=0 mcpu= mlate=
	for rate in 5000 10000 15000 20000 25000 30000 35000 40000 50000 60000; do
		tc "$rate" "$1" 2 "${2:-auto}"
		[ "$(held "$rate")" = 1 ] || break
		max=$rate mcpu=$cpu mlate=$late
	done
}
# median of the arguments
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1}
	END {if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
held() {
	awk -v a="$ach" -v r="$1" -v s="$sent" -v o="$okn" 'BEGIN{
		print (a >= 0.99 * r && a <= 1.01 * r && o >= 0.99 * s) ? 1 : 0}'
}

# wrk CONNS: sets wrk_rate wrk_cpu (us of CPU per request; empty without
# /usr/bin/time)
HAVE_WRK=0
command -v wrk >/dev/null 2>&1 && HAVE_WRK=1
[ "$HAVE_WRK" = 1 ] ||
	echo "bench_loadgen: wrk not installed (pipelines/deps.sh bench)" >&2
wrkrun() {
	wrk_rate= wrk_cpu=
	[ "$HAVE_WRK" = 1 ] || return 0
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f "%U %S" -o "$TMPD/t" $PIN_C wrk -t1 -c"$1" \
			-d2s "$URL/health" >"$TMPD/w" 2>/dev/null
	else
		$PIN_C wrk -t1 -c"$1" -d2s "$URL/health" >"$TMPD/w" 2>/dev/null
	fi
	wrk_rate=$(awk '/Requests\/sec/{print $2}' "$TMPD/w")
	n=$(awk '/requests in/{print $1}' "$TMPD/w")
	[ -s "$TMPD/t" ] && wrk_cpu=$(awk -v n="$n" 'NF == 2 && n > 0 {
		printf "%.2f", ($1 + $2) * 1e6 / n}' "$TMPD/t")
	echo "bench_loadgen: wrk -t1 -c$1 -d2s: $wrk_rate req/s, ${wrk_cpu}us CPU/req" >&2
}

CSV=$TMPD/scaling.csv
echo "connections,tc_max_rate,tc_cpu_us_per_req,tc_late_p99_us,wrk_rate,wrk_cpu_us_per_req,curl_max_rate,curl_cpu_us_per_req" >"$CSV"
best=0 best_wrk= curl_best=0
for c in 4 16 64 256; do
	ladder "$c" curl
	cmax=$max ccpu=$mcpu
	[ "$cmax" -gt "$curl_best" ] && curl_best=$cmax
	ladder "$c"
	wrkrun "$c"
	echo "$c,$max,$mcpu,$mlate,$wrk_rate,$wrk_cpu,$cmax,$ccpu" >>"$CSV"
	if [ "$max" -gt "$best" ]; then
		best=$max best_wrk=$wrk_rate
	fi
done
mv "$CSV" "$OUT/loadgen_scaling.csv" || exit 1
echo "bench_loadgen: wrote $OUT/loadgen_scaling.csv" >&2
if command -v gnuplot >/dev/null 2>&1; then
	(cd "$OUT" && gnuplot "$ROOT/tests/bench/loadgen_scaling.gp") &&
		echo "bench_loadgen: wrote $OUT/loadgen_scaling.png" >&2
fi

# at 20,000 req/s: three runs per sender, interleaved, and the floor
L= C= LC= CC= W= WW=
for i in 1 2 3; do
	tc 20000 16 3
	L="$L $late" C="$C $cpu"
	[ "$(held 20000)" = 1 ] ||
		echo "bench_loadgen: 20000 req/s not held on 16 connections" >&2
	tc 20000 16 3 curl
	LC="$LC $late" CC="$CC $cpu"
	if [ -n "$WAKE" ]; then
		wl=$($PIN_C "$WAKE" 3 200 20000)
		W="$W $(echo "$wl" | sed -n 's/.*send_p99_us=\([0-9]*\).*/\1/p')"
		WW="$WW $(echo "$wl" | sed -n 's/.*wake_p99_us=\([0-9]*\).*/\1/p')"
	fi
done
# the same with the client at real-time priority (--realtime 50), beside
# the floor loop at the same priority, where this user may (root or
# CAP_SYS_NICE): what the client itself adds once other jobs cannot
# delay its wake-ups
RL= RC= RW=
if command -v chrt >/dev/null 2>&1 && chrt -f 50 true 2>/dev/null; then
	for i in 1 2 3; do
		tc 20000 16 3 auto "--realtime 50"
		RL="$RL $late" RC="$RC $cpu"
		[ -z "$WAKE" ] || RW="$RW $($PIN_C chrt -f 50 "$WAKE" 3 200 20000 |
			sed -n 's/.*send_p99_us=\([0-9]*\).*/\1/p')"
	done
	echo "bench_loadgen: at 20000 req/s, own, --realtime 50: late_p99$RL cpu$RC; floor at the same priority: send p99$RW" >&2
else
	echo "bench_loadgen: no real-time priority here (chrt -f 50 refused): no --realtime runs" >&2
fi
late20=$(median $L) cpu20=$(median $C)
clate20=$(median $LC) ccpu20=$(median $CC)
floor=$(median $W)
echo "bench_loadgen: at 20000 req/s, own: late_p99$L cpu$C; curl: late_p99$LC cpu$CC; floor: send p99$W, wake-up p99$WW" >&2
wrkrun 16

ratio=$(awk -v b="$best" -v w="$best_wrk" 'BEGIN{if (w > 0) printf "%.3f", b / w}')
cratio=$(awk -v a="$cpu20" -v w="$wrk_cpu" 'BEGIN{if (w > 0) printf "%.3f", a / w}')
echo "loadgen_max_rate,$best,req/s,$best_wrk,$ratio,${best_wrk:+measured}"
fratio=$(awk -v a="$late20" -v w="$floor" 'BEGIN{if (w > 0) printf "%.3f", a / w}')
echo "loadgen_late_p99_at_20k,$late20,us,$floor,$fratio,${floor:+measured}"
echo "loadgen_cpu_per_req_at_20k,$cpu20,us,$wrk_cpu,$cratio,${wrk_cpu:+measured}"
if [ -n "$RL" ]; then
	rlate=$(median $RL) rfloor=$(median $RW)
	echo "loadgen_late_p99_at_20k_realtime,$rlate,us,$rfloor,$(awk -v a="$rlate" -v w="$rfloor" 'BEGIN{if (w > 0) printf "%.3f", a / w}'),${rfloor:+measured}"
	echo "loadgen_cpu_per_req_at_20k_realtime,$(median $RC),us,$wrk_cpu,$(awk -v a="$(median $RC)" -v w="$wrk_cpu" 'BEGIN{if (w > 0) printf "%.3f", a / w}'),${wrk_cpu:+measured}"
fi
r() { awk -v a="$1" -v b="$2" 'BEGIN{if (b > 0) printf "%.3f", a / b}'; }
echo "loadgen_curl_max_rate,$curl_best,req/s,$best,$(r "$curl_best" "$best"),measured"
echo "loadgen_curl_late_p99_at_20k,$clate20,us,$late20,$(r "$clate20" "$late20"),measured"
echo "loadgen_curl_cpu_per_req_at_20k,$ccpu20,us,$cpu20,$(r "$ccpu20" "$cpu20"),measured"
