#!/bin/sh
# bench_simenv.sh - sim-env speed: the delay objective tabulated (120-tree
# forest), the same with a sin-modulated load (live forest prediction every
# step), and `sim-env serve` over a pipe driven by the C client
# (mr_pipeenv_open, as ppo-train --env-cmd uses it), 64 environments.
# The reference is the published simulator's way, measured here: one
# scikit-learn predict per step on a 120-tree forest of the same trace.
# Uses ../shared/traces/kth/data_TNSM_2024.csv when present, else a
# synthetic trace (and says which on stderr).
set -u
: "${MESHRL_BIN:?}" "${MESHRL_ROOT:?}"
PY=${PY:-/usr/bin/python3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
OBJ=$MESHRL_ROOT/pipelines/objectives/delay.obj
trace=${KTH_TRACES:-}/data_TNSM_2024.csv
if [ -f "$trace" ]; then
	echo "bench_simenv: trace $trace (published)" >&2
else
	echo "bench_simenv: published trace absent; synthetic trace" >&2
	trace=$T/synthetic.csv
	awk 'BEGIN { srand(3); print "max_l1,l1,cl1,p1,b1,c1,d1"
	  for (l = 4; l <= 12; l += 4) for (p = 0; p <= 100; p += 20) for (c = 1; c <= 5; c++)
	    for (k = 0; k < 5; k++) { s = p / 100; d = 0
	      if (s > 0) { q = l * s; m = 3 * c; d += s * (q < m ? 1 / (m - q) : 20) }
	      if (s < 1) { q = l * (1 - s); d += (1 - s) * (q < 6 ? 1 / (6 - q) : 20) }
	      n = 5 * l + int(rand() * 5) - 2
	      printf "%d,%d,%d,%d,%d,%d,%.6f\n", l, n, n, p, l, c, d * (1 + 0.3 * (rand() - 0.5)) } }' >"$trace"
fi
"$MESHRL_BIN/rf-fit" fit -q $("$MESHRL_BIN/sim-env" describe "$OBJ" --model-args) \
	--trees 120 --test-frac 0 --seed 1 -o "$T/m.msgpack" "$trace" >/dev/null || exit 1
sps() { awk -F, 'NR == 2 { print $4 }'; }
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
v=$("$MESHRL_BIN/sim-env" bench "$OBJ" --model "$T/m.msgpack" --envs 64 --steps 50000000 -q | sps)
echo "simenv_delay_steps_per_s_1core,$v,steps/s,$ref,$(ratio "$v" "$ref")"
echo "bench_simenv: goal >= 1000000 steps/s (tabulated); reference = sklearn one predict per step (published simulator ~540)" >&2
v=$("$MESHRL_BIN/sim-env" bench "$OBJ" --model "$T/m.msgpack" --envs 64 --steps 2000000 -q \
	--load 'sin:mean=8;amplitude=4;period=240' | sps)
echo "simenv_delay_sin_live_steps_per_s_1core,$v,steps/s,$ref,$(ratio "$v" "$ref")"
echo "bench_simenv: goal >= 100000 steps/s with a sin load (live prediction)" >&2
v=$("$MESHRL_BIN/sim-env" bench "$OBJ" --model "$T/m.msgpack" --envs 64 --steps 20000000 --pipe -q | sps)
echo "simenv_serve_pipe_64envs_steps_per_s,$v,steps/s,500000,$(ratio "$v" 500000)"
echo "bench_simenv: pipe figure driven by the C client (mr_pipeenv_open, binary replies); reference column = goal" >&2
