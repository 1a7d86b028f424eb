#!/bin/sh
# test_adapt_make.sh - `make adapt OBJ=adapt-one` end to end on synthetic
# traces before and after the change (node 2 at half its rate): models,
# a short PPO base policy, every default variant, the CSV, the plot, the
# retrained PPO; and a run without a trace after the change says so.
. "$(dirname "$0")/lib.sh"

gen() {
	awk -v seed="$1" -v r2="$2" 'BEGIN { srand(seed)
  print "max_l1,l1,cl1,p1,c1,d1"
  for (l = 5; l <= 15; l += 5) for (p = 0; p <= 100; p += 20) for (c = 1; c <= 5; c++)
    for (k = 0; k < 3; k++) {
      s = p / 100; d = 0
      if (s > 0) { q = l * s; m = 15 * c; d += s * (q < m ? 1 / (m - q) : 2) }
      if (s < 1) { q = l * (1 - s); d += (1 - s) * (q < r2 ? 1 / (r2 - q) : 2) }
      d *= 1 + 0.04 * (rand() - 0.5)
      printf "%d,%d,%d,%d,%d,%.6f\n", l, 2 * l, 2 * l, p, c, d }
}'
}
gen 1 20 >"$TMP/before.csv"
gen 2 10 >"$TMP/after.csv"
BUILD_DIR=$(dirname "$MESHRL_BIN")
mk() {
	make -C "$MESHRL_ROOT" --no-print-directory BUILD="$BUILD_DIR" \
		MODELS="$TMP/models" RESULTS="$TMP/results" OBJ=adapt-one \
		TRACE="$TMP/before.csv" FIT_ARGS="--trees 20" \
		PPO_ARGS="--timesteps 20000" ADAPT_EPISODES=2 "$@"
}
check "make adapt OBJ=adapt-one RETRAIN=1 (synthetic traces)" \
	mk adapt TRACE_AFTER="$TMP/after.csv" RETRAIN=1
R=$TMP/results/adapt-one/adapt
if [ -s "$R/adapt.png" ] && [ -s "$R/retrain.csv" ]; then
	ok "make adapt: the plot and the retrained PPO's row"
else
	notok "make adapt: no adapt.png or retrain.csv"
fi
n=$(awk -F, 'NR > 1' "$R/adapt.csv" | wc -l)
if [ "$n" -eq 11 ] && grep -q '^adapt-one,seen,1,rollout-l1-critic,' "$R/adapt.csv" &&
	grep -q ',rollout-l2d2-critic,' "$R/adapt.csv" &&
	grep -q ',rollout-l2d2-critic-r16-refit,' "$R/adapt.csv"; then
	ok "adapt.csv: optimal, ppo, random and the eight default variants"
else
	notok "adapt.csv: $n rows: $(cut -d, -f4 "$R/adapt.csv" | tr '\n' ' ')"
fi
if awk -F, 'NR == 2 { w = $2; s = $3 } END { exit !(w > 0 && s != "") }' "$R/retrain.csv"; then
	ok "retrain.csv: wall time and score ($(sed -n 2p "$R/retrain.csv"))"
else
	notok "retrain.csv: $(cat "$R/retrain.csv")"
fi
# nothing to do the second time
mk adapt TRACE_AFTER="$TMP/after.csv" RETRAIN=1 >"$TMP/again" 2>&1
if grep -q 'policy-eval\|rf-fit fit\|ppo-train' "$TMP/again"; then
	notok "make adapt again reruns steps: $(head -3 "$TMP/again")"
else
	ok "make adapt again: nothing to redo"
fi
expect_fail "make adapt without a trace after the change says so" 2 \
	"no trace after the change" mk adapt TRACE_AFTER="$TMP/none.csv"
