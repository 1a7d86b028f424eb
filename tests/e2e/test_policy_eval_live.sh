#!/bin/sh
# test_policy_eval_live.sh - the live control loop end to end on the local
# testbed: trace-collect --follow | policy-eval live --act POLICY | actuate,
# a few 1 s periods; the testbed really runs the chosen configuration, the
# same CSVs come out, nothing is left running. Also policy-eval live's own
# refusals (too little input, a trace without the objective's columns,
# objectives with [param] sections, a bad option).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline_lib.sh"
obj=$MESHRL_ROOT/pipelines/objectives/delay.obj

check "model from the synthetic trace" sh -c "rf-fit fit -q \$(sim-env describe '$obj' --model-args) --trees 30 -o '$TMP/system.msgpack' '$TMP/trace.csv' >/dev/null"
check "a quick policy" ppo-train -q "$obj" --model "$TMP/system.msgpack" --timesteps 5000 -o "$TMP/policy.msgpack"
out=$TMP/live
# TMPDIR puts live.sh's testbed run folder under $TMP, so the leftover
# check below looks at this test's processes only, not at other runs'.
check "live: 3 periods of 1 s through the pipe" env BIN="$MESHRL_BIN" TMPDIR="$TMP" \
	LIVE_PERIODS=3 LIVE_WINDOW=1 LIVE_SKIP=1 LIVE_STREAM=compute=poisson:4 \
	LIVE_TRACE="$TMP/live-trace.csv" \
	sh "$MESHRL_ROOT/pipelines/live.sh" "$obj" "$TMP/policy.msgpack" "$TMP/system.msgpack" "$out"
check "steps-ppo.csv: header and 3 periods" sh -c \
	"head -n 1 '$out/steps-ppo.csv' | grep -qx 'step,load,p,c,cores,d1,carried,cost,reward,bound_met,episode' && [ \$(wc -l <'$out/steps-ppo.csv') -eq 4 ]"
check "summary.csv: one live row over 3 steps" grep -q '^delay,live,1,ppo,3,' "$out/summary.csv"
# The testbed ran what the policy chose: the last window measured (a
# complete one, after the skipped settling window) reports the policy's
# p1 and c1, read back from the testbed's control API by trace-collect.
want=$(awk -F, 'END { print $3 "," $4 }' "$out/steps-ppo.csv")
check "the testbed ran the policy's action ($want)" sh -c \
	"awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[\$i] = i } NR > 1 { last = \$col[\"p1\"] \",\" \$col[\"c1\"] } END { print last }' '$TMP/live-trace.csv' | grep -qx '$want'"
check "measured delays are real (> 0)" sh -c "awk -F, 'NR > 1 && \$6 <= 0 { exit 1 }' '$out/steps-ppo.csv'"
check "no testbed left running" sh -c "! ps -eo args | grep -F '$TMP/meshrl-live.' | grep -v grep"

# policy-eval live alone, on canned rows.
head -n 2 "$TMP/trace.csv" >"$TMP/one.csv"
mkdir -p "$TMP/o1"
expect_fail "live: one row is no period" 3 "no complete control period" \
	sh -c "policy-eval live -q --act '$TMP/policy.msgpack' --model '$TMP/system.msgpack' -o '$TMP/o1' '$obj' <'$TMP/one.csv' >/dev/null"
check "live: nothing written after a refusal" test -z "$(ls -A "$TMP/o1")"
gen_trace d1 >"$TMP/nod1.csv"
expect_fail "live: trace without d1 names it" 3 "stdin.*'d1'" \
	sh -c "policy-eval live -q --act '$TMP/policy.msgpack' --model '$TMP/system.msgpack' -o '$TMP/o1' '$obj' <'$TMP/nod1.csv' >/dev/null"
check "live: canned rows give actions for actuate" sh -c \
	"head -n 4 '$TMP/trace.csv' | policy-eval live -q --baseline noop -o '$TMP/o1' '$obj' --model '$TMP/system.msgpack' | head -n 1 | grep -qx 'p1=80,c1=1'"
expect_fail "live: objectives with [param] sections are refused" 2 "throughput.obj: live: objectives with \[param\] sections" \
	sh -c "policy-eval live -q --baseline noop -o '$TMP/o1' '$MESHRL_ROOT/pipelines/objectives/throughput.obj' </dev/null"
expect_fail "live: a bad option is a usage error" 2 "^Try 'policy-eval --help'" \
	sh -c "policy-eval live --periods 0 --baseline noop -o '$TMP/o1' '$obj' </dev/null"
