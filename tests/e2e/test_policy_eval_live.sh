#!/bin/sh
# test_policy_eval_live.sh - the live control loop end to end on the local
# testbed: trace-collect --follow | policy-eval live --act POLICY | actuate,
# a few 1 s periods; the testbed really runs the chosen configuration, the
# same CSVs come out, nothing is left running, a normal end prints no
# error, the pipe's status is the first failure's; the loads are the
# objective's schedule, the simulator's predictions and the same
# controller on the simulator come beside. On fake trace streams:
# windows with lost requests never meet the bound (served-share rule),
# nothing measured is lost when actuate goes away or the loop is killed,
# the autoscaler on a measured utilisation. Also policy-eval live's own
# refusals (too little input, a trace without the objective's columns,
# [param]s without a schedule, a bad option).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline_lib.sh"
obj=$MESHRL_ROOT/pipelines/objectives/delay.obj

check "model from the synthetic trace" sh -c "rf-fit fit -q \$(sim-env describe '$obj' --model-args) --trees 30 -o '$TMP/system.msgpack' '$TMP/trace.csv' >/dev/null"
check "a quick policy" ppo-train -q "$obj" --model "$TMP/system.msgpack" --timesteps 5000 -o "$TMP/policy.msgpack"
out=$TMP/live
# TMPDIR puts live.sh's testbed run folder under $TMP, so the leftover
# check below looks at this test's processes only, not at other runs'.
check "live: the policy, 3 periods of 1 s through the pipe" env BIN="$MESHRL_BIN" TMPDIR="$TMP" \
	LIVE_CONTROLLERS=ppo LIVE_PERIODS=3 LIVE_WINDOW=1 LIVE_SKIP=1 LIVE_TRACE=1 \
	sh -c "sh '$MESHRL_ROOT/pipelines/live.sh' '$obj' '$TMP/policy.msgpack' '$TMP/system.msgpack' '$out' 2>'$TMP/live.err'"
check "live: a normal end prints no error (no 'Broken pipe')" sh -c \
	"! grep -iE 'broken pipe|error|exited' '$TMP/live.err'"
check "steps-ppo.csv: header and 3 periods" sh -c \
	"head -n 1 '$out/ppo/steps-ppo.csv' | grep -qx 'step,load,p,c,cores,d1,carried,cost,reward,bound_met,episode' && [ \$(wc -l <'$out/ppo/steps-ppo.csv') -eq 4 ]"
check "summary.csv: one live row over 3 steps" grep -q '^delay,live,1,ppo,3,' "$out/summary.csv"
check "summary-sim.csv: the policy on the simulator, same 3 periods" grep -q '^delay,sim,1,ppo,3,' "$out/summary-sim.csv"
# The loads are the objective's test episode 0 (seed 1), one level per
# period: the steps' loads are the schedule's, and the trace's targets.
policy-eval live --write-loads "$TMP" --model "$TMP/system.msgpack" --periods 3 --skip 1 "$obj"
want=$(sed -n '2p;4p;6p' "$TMP/load1" | tr '\n' ' ')
check "live: the loads are the schedule's ($want)" sh -c \
	"[ \"\$(cut -d, -f2 '$out/ppo/steps-ppo.csv' | tail -n +2 | tr '\\n' ' ')\" = '$want' ]"
# The testbed ran what the policy chose: the last window measured (a
# complete one, after the skipped settling window) reports the policy's
# p1 and c1, read back from the testbed's control API by trace-collect.
want=$(awk -F, 'END { print $3 "," $4 }' "$out/ppo/steps-ppo.csv")
check "the testbed ran the policy's action ($want)" sh -c \
	"awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[\$i] = i } NR > 1 { last = \$col[\"p1\"] \",\" \$col[\"c1\"] } END { print last }' '$out/ppo/trace.csv' | grep -qx '$want'"
check "measured delays are real (> 0)" sh -c "awk -F, 'NR > 1 && \$6 <= 0 { exit 1 }' '$out/ppo/steps-ppo.csv'"
check "the trace has the nodes' utilisation (util1, util2 in 0..2)" sh -c \
	"awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[\$i] = i; if (!c[\"util1\"] || !c[\"util2\"]) exit 1 } NR > 2 { u = \$c[\"util1\"]; if (u == \"\" || u < 0 || u > 2) exit 1; n++ } END { exit !n }' '$out/ppo/trace.csv'"
check "periods-ppo.csv: measured and predicted delay of each period" sh -c \
	"awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[\$i] = i } NR > 1 { if (\$c[\"delay1\"] <= 0 || \$c[\"delay1_pred\"] <= 0) exit 1; n++ } END { exit n != 3 }' '$out/ppo/periods-ppo.csv'"
check "gap.csv: MAE and bias per load level and over all" sh -c \
	"head -n 1 '$out/gap.csv' | grep -q '^policy,load,periods,delay1_mae,delay1_bias,served_mae' && grep -q '^ppo,all,3,' '$out/gap.csv'"
check "compare.csv: live beside simulated" grep -q '^delay,ppo,3,' "$out/compare.csv"
check "no testbed left running" sh -c "! ps -eo args | grep -F '$TMP/meshrl-live.' | grep -v grep"
# The pipe's exit status is the first failure's: an actuate that stops
# after one action (exit 4) makes live.sh exit 4, not policy-eval's 5 or
# trace-collect's 0, and the period measured is on disk.
mkdir -p "$TMP/fakebin"
for t in testbed trace-collect policy-eval sim-env; do ln -s "$MESHRL_BIN/$t" "$TMP/fakebin/$t"; done
printf '#!/bin/sh\nread line\nexit 4\n' >"$TMP/fakebin/actuate"
chmod +x "$TMP/fakebin/actuate"
expect_fail "live.sh: actuate's failure is the pipe's status" 4 "ppo: actuate exited 4" \
	env BIN="$TMP/fakebin" TMPDIR="$TMP" LIVE_CONTROLLERS=ppo LIVE_PERIODS=3 \
	LIVE_WINDOW=1 sh "$MESHRL_ROOT/pipelines/live.sh" "$obj" "$TMP/policy.msgpack" "$TMP/system.msgpack" "$TMP/out4"
check "live.sh: the period measured before actuate's end is on disk" grep -q '^delay,live,1,ppo,1,' "$TMP/out4/summary.csv"
check "no testbed left running (after the failure)" sh -c "! ps -eo args | grep -F '$TMP/meshrl-live.' | grep -v grep"
check "live.sh: hpa80 and noop in turn, each on its own testbed (service time from the model)" \
	env BIN="$MESHRL_BIN" TMPDIR="$TMP" LIVE_CONTROLLERS="hpa80 noop" LIVE_HPA_ARGS="--hpa-window 2" \
	LIVE_PERIODS=2 LIVE_WINDOW=1 \
	sh -c "sh '$MESHRL_ROOT/pipelines/live.sh' '$obj' - '$TMP/system.msgpack' '$TMP/outh' 2>'$TMP/outh.err' && grep -q '^delay,live,1,hpa80,2,' '$TMP/outh/summary.csv' && grep -q '^delay,live,1,noop,2,' '$TMP/outh/summary.csv' && grep -q 'service time .* s from the model' '$TMP/outh.err' && [ \$(grep -c 'on a fresh testbed' '$TMP/outh.err') -eq 2 ]"

# The autoscaler on a measured utilisation (--util-column): 200 % of one
# core's allotment at target 80 %: ceil(1 x 2 / 0.8) = 3 cores next.
awk 'BEGIN { print "max_l1,l1,cl1,p1,b1,c1,d1,u1"
	for (i = 0; i < 3; i++) print "8,40,40,80,8,1,0.3,2" }' >"$TMP/util.csv"
mkdir -p "$TMP/util"
check "live: hpa80 on --util-column u1 = 2 scales 1 -> 3 cores" sh -c \
	"policy-eval live -q --baseline hpa80 --util-column u1 --model '$TMP/system.msgpack' -o '$TMP/util' '$obj' <'$TMP/util.csv' | sed -n 2p | grep -qx 'p1=80,c1=3'"
expect_fail "live: --util-column without hpaNN is a usage error" 2 "for --baseline hpaNN" \
	sh -c "policy-eval live -q --baseline noop --util-column u1 -o '$TMP/util' '$obj' </dev/null"

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
expect_fail "live: [param]s without --schedule are refused" 2 "throughput.obj has \[param\]s, which no trace row carries" \
	sh -c "policy-eval live -q --baseline noop -o '$TMP/o1' '$MESHRL_ROOT/pipelines/objectives/throughput.obj' </dev/null"
expect_fail "live: a bad option is a usage error" 2 "^Try 'policy-eval --help'" \
	sh -c "policy-eval live --periods 0 --baseline noop -o '$TMP/o1' '$obj' </dev/null"

# Lost requests count (issue 14): windows read from a fake trace stream.
# "Node 2 slowed 4x": every window answered 20 % of its requests, fast;
# the bound is missed in every period, whatever the answered delay.

awk 'BEGIN { print "max_l1,l1,cl1,p1,b1,c1,d1"
	for (i = 0; i < 5; i++) print "8,40,8,80,8,1,0.3" }' >"$TMP/slow.csv"
mkdir -p "$TMP/slow"
check "live: 80 % drops, 4 periods" sh -c \
	"policy-eval live -q --baseline noop --model '$TMP/system.msgpack' -o '$TMP/slow' '$obj' <'$TMP/slow.csv' >/dev/null"
check "live: 80 % drops never meet the bound" sh -c \
	"awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[\$i] = i } NR > 1 { n++; if (\$c[\"bound_met\"] != 0) bad++ } END { exit !(n == 4 && !bad) }' '$TMP/slow/steps-noop.csv'"
check "live: summary shows 20 % served, 100 % of periods short" sh -c \
	"awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[\$i] = i } NR == 2 { s = \$c[\"mean_served\"]; exit !(s > 0.2 - 1e-9 && s < 0.2 + 1e-9 && \$c[\"served_short_pct\"] == 100 && \$c[\"bound_met_pct\"] == 0) }' '$TMP/slow/summary.csv'"
# "Node 2 killed": half to all of each window failed; a window that
# answered nothing (d1 0) counts at the objective's timeout1 (2 s).
awk 'BEGIN { print "max_l1,l1,cl1,p1,b1,c1,d1"
	print "8,40,20,50,8,1,0.2"; print "8,40,20,50,8,1,0.2"
	print "8,40,0,50,8,1,0"; print "8,40,10,50,8,1,0.25" }' >"$TMP/dead.csv"
mkdir -p "$TMP/dead"
check "live: node killed, 3 periods" sh -c \
	"policy-eval live -q --baseline noop --model '$TMP/system.msgpack' -o '$TMP/dead' '$obj' <'$TMP/dead.csv' >/dev/null"
check "live: a window with no answer counts 2 s, bound missed" sh -c \
	"awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[\$i] = i } NR == 3 { exit !(\$c[\"d1\"] == 2 && \$c[\"bound_met\"] == 0) }' '$TMP/dead/steps-noop.csv'"
check "live: node killed: no period meets the bound; served 25 %" sh -c \
	"awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[\$i] = i } NR == 2 { exit !(\$c[\"bound_met_pct\"] == 0 && \$c[\"mean_served\"] == 0.25 && \$c[\"served_short_pct\"] == 100) }' '$TMP/dead/summary.csv'"

# Nothing measured is lost. actuate goes away after the first action:
# policy-eval exits 5 and the periods it measured are on disk.
mkdir -p "$TMP/gone"
sh -c "{ head -n 3 '$TMP/slow.csv'; sleep 1; tail -n +4 '$TMP/slow.csv'; } |
	{ policy-eval live --baseline noop --model '$TMP/system.msgpack' \
		-o '$TMP/gone' '$obj' 2>'$TMP/gone.err'; echo \$? >'$TMP/gone.rc'; } |
	head -n 1 >/dev/null"
check "live: actuate gone: exit 5 ($(cat "$TMP/gone.rc"))" test "$(cat "$TMP/gone.rc")" = 5
check "live: actuate gone: says so" grep -q "actuate stopped reading (broken pipe) after [12] period" "$TMP/gone.err"
n=$(sed -n 's/.*after \([0-9]*\) period.*/\1/p' "$TMP/gone.err")
check "live: actuate gone: steps and summary of the ${n:-?} periods" sh -c \
	"[ \$(wc -l <'$TMP/gone/steps-noop.csv') -eq \$(($n + 1)) ] && grep -q '^delay,live,1,noop,$n,' '$TMP/gone/summary.csv'"
# A crash (SIGKILL) after 3 periods: all 3 are on disk, whole.
mkdir -p "$TMP/kill"
mkfifo "$TMP/kill.fifo"
policy-eval live -q --baseline noop --model "$TMP/system.msgpack" \
	-o "$TMP/kill" "$obj" <"$TMP/kill.fifo" >/dev/null &
pid=$!
exec 3>"$TMP/kill.fifo" # held open: the loop waits for a sixth row
head -n 5 "$TMP/slow.csv" >&3
i=0
while [ $i -lt 100 ] && ! grep -q '^delay,live,1,noop,3,' "$TMP/kill/summary.csv" 2>/dev/null; do
	sleep 0.1; i=$((i + 1))
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
exec 3>&-
check "live: killed after 3 periods: 3 whole rows and their summary" sh -c \
	"[ \$(wc -l <'$TMP/kill/steps-noop.csv') -eq 4 ] && tail -c 1 '$TMP/kill/steps-noop.csv' | od -c | grep -q '\\\\n' && grep -q '^delay,live,1,noop,3,' '$TMP/kill/summary.csv' && ! ls -a '$TMP/kill' | grep -q '\\.tmp\\.'"
