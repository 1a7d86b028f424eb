#!/bin/sh
# bench_simenv.sh - sim-env speed, one core, 120-tree forests:
#   - the delay objective on its load sequence (table over the grid);
#   - the same with a sin-modulated load: exact table over the load
#     intervals between the forest's breakpoints;
#   - the published feature set (max_l1,l1,cl1,p1,b1,c1 with 5 s windows:
#     many more breakpoints) with the sin load, as an interval table and
#     predicted live (batched over the environments; the same numbers);
#   - `sim-env serve` over a pipe driven by the C client (mr_pipeenv_open,
#     as ppo-train --env-cmd uses it), 64 environments.
# The reference is the published simulator's way, measured here
# (reference_kind "measured"; none without scikit-learn): one scikit-learn
# predict per step on a 120-tree forest of the same trace.
# The figures are of ../shared/traces/kth/data_TNSM_2024.csv (KTH_TRACES).
# Without it they are skipped (a note on stderr says so) and the same
# measurements run on a synthetic trace under their own names,
# simenv_synthetic_*, never under the published trace's. Each figure is the
# median of 3 runs; the load average is printed on stderr (the machine may
# be shared).
set -u
: "${MESHRL_BIN:?}" "${MESHRL_ROOT:?}"
PY=${PY:-/usr/bin/python3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ODIR=$MESHRL_ROOT/pipelines/objectives
OBJ=$ODIR/delay.obj
SIN='sin:mean=8;amplitude=4;period=240'
KTH=${KTH_TRACES:-$MESHRL_ROOT/../shared/traces/kth}
trace=$KTH/data_TNSM_2024.csv
if [ -f "$trace" ]; then
	P=simenv
	echo "bench_simenv: trace $trace (published)" >&2
else
	P=simenv_synthetic
	echo "bench_simenv: skipped simenv_delay_*, simenv_delay6_*, simenv_serve_*: $trace absent; the same on a synthetic trace as simenv_synthetic_*" >&2
	trace=$T/synthetic.csv
	awk 'BEGIN { srand(3); print "max_l1,l1,cl1,p1,b1,c1,d1"
	  for (l = 4; l <= 12; l += 4) for (p = 0; p <= 100; p += 20) for (c = 1; c <= 5; c++)
	    for (k = 0; k < 5; k++) { s = p / 100; d = 0
	      if (s > 0) { q = l * s; m = 3 * c; d += s * (q < m ? 1 / (m - q) : 20) }
	      if (s < 1) { q = l * (1 - s); d += (1 - s) * (q < 6 ? 1 / (6 - q) : 20) }
	      n = 5 * l + int(rand() * 5) - 2
	      printf "%d,%d,%d,%d,%d,%d,%.6f\n", l, n, n, p, l, c, d * (1 + 0.3 * (rand() - 0.5)) } }' >"$trace"
fi
# the published feature set: per-window counts with the trace's 5 s window
sed -e "s|^file = delay.load|file = $ODIR/delay.load|" \
	-e 's|^max_l1 = load1 .*|max_l1 = load1\nl1 = load1 * 5\ncl1 = load1 * 5|' \
	"$OBJ" >"$T/delay6.obj"
# the objective's own fit options (its derived targets among them), but
# 120 trees and no cross-validation
fit() {
	"$MESHRL_BIN/rf-fit" fit -q $("$MESHRL_BIN/sim-env" describe "$1" --model-args |
		sed -e 's/--cv [0-9]*//' -e 's/--trees [0-9]*//') \
		--trees 120 --test-frac 0 --seed 1 -o "$2" "$trace" >/dev/null 2>&1
}
fit "$OBJ" "$T/m.msgpack" || exit 1
fit "$T/delay6.obj" "$T/m6.msgpack" || exit 1
ref=""
if $PY -c 'import sklearn' 2>/dev/null; then
	ref=$($PY - "$trace" <<'PYEOF'
import csv, sys, time
import numpy as np
from sklearn.ensemble import RandomForestRegressor
rows = [r for r in csv.DictReader(open(sys.argv[1])) if float(r["cl1"]) > 0]
X = np.array([[float(r[k]) for k in ("max_l1", "l1", "cl1", "p1", "b1", "c1")] for r in rows])
y = np.array([float(r["d1"]) for r in rows])
m = RandomForestRegressor(n_estimators=120, random_state=1, n_jobs=1).fit(X, y)
rng = np.random.default_rng(1)
t0 = time.perf_counter(); n = 300
for i in range(n):  # one step of the published simulator: one predict
    l = rng.choice([4, 8, 12]); d = m.predict([[l, 5 * l, 5 * l, 20 * rng.integers(6), l, 1 + rng.integers(5)]])[0]
    r = 6 - 1 if d <= 0.6 else 0.6 - d
print("%.0f" % (n / (time.perf_counter() - t0)))
PYEOF
)
fi
ratio() { [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
kind=${ref:+measured}
# fig NAME VALUE: a line against the scikit-learn reference
fig() { echo "${P}_$1,$2,steps/s,$ref,$(ratio "$2" "$ref"),$kind"; }
# median of 3 runs of sim-env bench ARGS (steps/s)
med3() {
	for k in 1 2 3; do
		"$MESHRL_BIN/sim-env" bench "$@" -q | awk -F, 'NR == 2 { print $4 }'
	done | sort -n | awk 'NR == 2'
}
# median of 3 runs of sim-env bench ARGS (--steps N among them) in steps
# per CPU second (user + system) of the run
cpu3() {
	steps=$(echo "$*" | sed 's/.*--steps \([0-9]*\).*/\1/')
	for k in 1 2 3; do
		( "$MESHRL_BIN/sim-env" bench "$@" -q >/dev/null; times ) |
			awk -v n="$steps" 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
				printf "%.0f\n", n / (u[1] * 60 + u[2] + s[1] * 60 + s[2]) }'
	done | sort -n | awk 'NR == 2'
}
how() { "$MESHRL_BIN/sim-env" bench "$@" --steps 64 2>&1 >/dev/null | sed -n 's/^sim-env: model: //p'; }
echo "bench_simenv: load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

v=$(med3 "$OBJ" --model "$T/m.msgpack" --envs 64 --steps 50000000)
fig delay_steps_per_s_1core "$v"
echo "bench_simenv: goal >= 1000000 steps/s (grid table); reference = sklearn one predict per step, measured now (the published simulator: ~540 steps/s, recorded, tests/bench/RECORDED.md)" >&2

v=$(med3 "$OBJ" --model "$T/m.msgpack" --envs 64 --steps 50000000 --load "$SIN")
fig delay_sin_steps_per_s_1core "$v"
echo "bench_simenv: delay, sin load: $(how "$OBJ" --model "$T/m.msgpack" --load "$SIN"); goal >= 100000 steps/s" >&2

v=$(med3 "$T/delay6.obj" --model "$T/m6.msgpack" --envs 64 --steps 50000000 --load "$SIN")
fig delay6_sin_table_steps_per_s_1core "$v"
echo "bench_simenv: published features, sin load: $(how "$T/delay6.obj" --model "$T/m6.msgpack" --load "$SIN")" >&2
v=$(med3 "$T/delay6.obj" --model "$T/m6.msgpack" --envs 64 --steps 2000000 --load "$SIN" --live)
fig delay6_sin_live_steps_per_s_1core "$v"
v=$(cpu3 "$T/delay6.obj" --model "$T/m6.msgpack" --envs 64 --steps 2000000 --load "$SIN" --live)
fig delay6_sin_live_steps_per_cpu_s "$v"
echo "bench_simenv: the same predicted live, 64 rows per batch (mr_forest_predict_batch), per wall second and per CPU second of the process (what one core does when the machine is shared); goal >= 1000000 steps/s" >&2

v=$(med3 "$OBJ" --model "$T/m.msgpack" --envs 64 --steps 20000000 --pipe)
echo "${P}_serve_pipe_64envs_steps_per_s,$v,steps/s,,,"
echo "bench_simenv: pipe figure driven by the C client (mr_pipeenv_open, binary replies); no reference (goal >= 500000 steps/s)" >&2
echo "bench_simenv: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
