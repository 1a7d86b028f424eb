# lib.sh - helpers for end-to-end tests (sourced). Each check prints
# "ok - name", "not ok - name" or "skip - why"; tests/run.sh counts them.
# MESHRL_BIN points at the binaries under test; TMP is a fresh directory.
set -u
: "${MESHRL_BIN:?run through tests/run.sh or set MESHRL_BIN}"
: "${MESHRL_ROOT:=$(cd "$(dirname "$0")/../.." && pwd)}"
PATH="$MESHRL_BIN:$PATH"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; }
# skip WHY: a check that could not run here; counted as skipped, never as
# passed.
skip() { echo "skip - $*"; }

# check NAME CMD...: passes when CMD exits 0.
check() {
	name=$1; shift
	if "$@" >"$TMP/.out" 2>"$TMP/.err"; then ok "$name"; else
		notok "$name (exit $?)"; sed 's/^/    # /' "$TMP/.err" | head -n 20
	fi
}

# expect_fail NAME CODE PATTERN CMD...: passes when CMD exits with CODE and
# its stderr matches the extended regex PATTERN.
expect_fail() {
	name=$1 code=$2 pat=$3; shift 3
	"$@" >"$TMP/.out" 2>"$TMP/.err"
	rc=$?
	if [ "$rc" -eq "$code" ] && grep -Eq -- "$pat" "$TMP/.err"; then
		ok "$name"
	else
		notok "$name (exit $rc, want $code; stderr: $(head -c 300 "$TMP/.err"))"
	fi
}

# synth_compute_trace SEED REPS: a synthetic trace with the columns of
# traces/compute.csv over max_l1 {4,8,12} x p1 {0..100 step 20} x c1 {1..5},
# REPS rows each: the delay grows with the load per unit of capacity of the
# node used (node 1: 3 req/s per unit, node 2: 6 req/s), 1 % noise.
synth_compute_trace() {
	awk -v seed="$1" -v reps="$2" 'BEGIN { srand(seed)
  print "max_l1,l1,cl1,p1,b1,c1,d1,d1_std,d1_p90,d1_p99,d11,d12,drop1"
  for (l = 4; l <= 12; l += 4) for (p = 0; p <= 100; p += 20) for (c = 1; c <= 5; c++)
    for (k = 0; k < reps; k++) {
      s = p / 100; d = 0
      if (s > 0) { q = l * s; m = 3 * c; d += s * (q < m ? 1 / (m - q) : 20) }
      if (s < 1) { q = l * (1 - s); d += (1 - s) * (q < 6 ? 1 / (6 - q) : 20) }
      d *= 1 + 0.02 * (rand() - 0.5)
      printf "%d,%d,%d,%d,%d,%d,%.6f,0,0,0,0,0,0\n", l, 5 * l, 5 * l, p, l, c, d }
}'
}

# synth_delay SEED REPS LEVEL...: the shipped delay objective as
# $TMP/obj/delay.obj, its load sequence the LEVELs (one step each), and a
# 20-tree model of synth_compute_trace SEED REPS as $TMP/m.msgpack; sets
# OBJ and M.
synth_delay() {
	seed=$1 reps=$2; shift 2
	synth_compute_trace "$seed" "$reps" >"$TMP/compute.csv"
	mkdir -p "$TMP/obj"
	sed -e 's|^file = delay.load|file = seq.load|' \
		"$MESHRL_ROOT/pipelines/objectives/delay.obj" >"$TMP/obj/delay.obj"
	printf '%s\n' "$@" >"$TMP/obj/seq.load"
	OBJ=$TMP/obj/delay.obj
	M=$TMP/m.msgpack
	rf-fit fit -q $(sim-env describe "$OBJ" --model-args) --test-frac 0 \
		--trees 20 --seed 2 -o "$M" "$TMP/compute.csv" >/dev/null
}

# toy_objective FILE NAME TOP BEST: an analytic objective (no trace, no
# model file) with one action p in 0..TOP whose delay and cost are least at
# p = BEST, where the reward is 1 per step.
toy_objective() {
	cat >"$1" <<EOF
name = $2
services = s
episode_length = 20
[load]
pattern = constant
value = 5
[action p]
values = 0..$3
[model]
kind = analytic
targets = d1
[features]
l = load1
x = p
[targets]
d1 = 0.1 + abs(x - $4) / 100
[reward]
family = delay-bound-cost
delay1 = d1
bound1 = 0.5
budget = 1
cost = abs(p - $4) / 100
EOF
}
