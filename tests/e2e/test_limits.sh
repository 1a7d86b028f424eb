#!/bin/sh
# test_limits.sh - one limit on an action's values (MR_MAX_CHOICES, 256)
# for every tool that reads objectives: an objective with 100 values (more
# than ppo-train and policy-eval once allowed) goes through sim-env,
# ppo-train and policy-eval; one with 257 is refused by each, naming the
# file and line.
. "$(dirname "$0")/lib.sh"

toy_objective "$TMP/wide.obj" wide 99 37
sed 's/^values = 0\.\.99$/values = 0..256/' "$TMP/wide.obj" >"$TMP/w257.obj"
mkdir -p "$TMP/ev"

check "sim-env optimal: 100 values" \
	sim-env optimal -q "$TMP/wide.obj" -o "$TMP/opt.csv" --summary "$TMP/sum.csv"
[ "$(awk -F, 'NR == 2 { print $4 }' "$TMP/sum.csv")" = 1 ] &&
	ok "the optimum picks p = 37 (reward 1 per step)" ||
	notok "optimum mean reward: $(cat "$TMP/sum.csv")"
check "ppo-train: 100 values" \
	ppo-train -q "$TMP/wide.obj" -o "$TMP/pol.msgpack" --timesteps 2048 --seed 1
check "policy-eval sim: 100 values" \
	policy-eval sim -q --policy "$TMP/pol.msgpack" -o "$TMP/ev" "$TMP/wide.obj"
grep -q '^wide,.*,ppo,' "$TMP/ev/summary.csv" && ok "policy-eval summary has the policy's row" ||
	notok "policy-eval summary: $(head -c 300 "$TMP/ev/summary.csv")"

refused="w257\.obj:8: 'values': more than 256 values"
expect_fail "sim-env refuses 257 values, naming file and line" 3 "$refused" \
	sim-env optimal "$TMP/w257.obj" -o "$TMP/x.csv"
expect_fail "ppo-train refuses 257 values, naming file and line" 3 "$refused" \
	ppo-train "$TMP/w257.obj" -o "$TMP/x.msgpack"
expect_fail "policy-eval refuses 257 values, naming file and line" 3 "$refused" \
	policy-eval sim --baselines noop -o "$TMP/ev" "$TMP/w257.obj"
