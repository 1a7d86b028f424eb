#!/bin/sh
# test_adapt.sh - online adaptation on the simulator (issue 16): a system
# change as a scenario (sim-env run / policy-eval sim --model-after
# --change-at), and policy-eval sim --adapt: rollout recovers the new
# optimum where the base policy does not, the change is detected, the
# model refitted; on synthetic traces of adapt-one.obj's system.
. "$(dirname "$0")/lib.sh"

# synth_adapt_trace SEED REPS RATE2: one service split between node 1
# (15 req/s per core) and node 2 (RATE2 req/s), M/M/1 delays, 4 % noise,
# over load {5,10,15} x p1 {0..100 step 20} x c1 {1..5}.
synth_adapt_trace() {
	awk -v seed="$1" -v reps="$2" -v r2="$3" 'BEGIN { srand(seed)
  print "max_l1,l1,cl1,p1,c1,d1"
  for (l = 5; l <= 15; l += 5) for (p = 0; p <= 100; p += 20) for (c = 1; c <= 5; c++)
    for (k = 0; k < reps; k++) {
      s = p / 100; d = 0
      if (s > 0) { q = l * s; m = 15 * c; d += s * (q < m ? 1 / (m - q) : 2) }
      if (s < 1) { q = l * (1 - s); d += (1 - s) * (q < r2 ? 1 / (r2 - q) : 2) }
      d *= 1 + 0.04 * (rand() - 0.5)
      printf "%d,%d,%d,%d,%d,%.6f\n", l, 2 * l, 2 * l, p, c, d }
}'
}

OBJ=$MESHRL_ROOT/pipelines/objectives/adapt-one.obj
synth_adapt_trace 1 3 20 >"$TMP/before.csv"
synth_adapt_trace 2 3 10 >"$TMP/after.csv"
for m in before after; do
	rf-fit fit -q $(sim-env describe "$OBJ" --model-args) --trees 20 \
		--seed 2 -o "$TMP/$m.msgpack" "$TMP/$m.csv" >/dev/null ||
		notok "rf-fit $m"
done

# field NAME ROW-POLICY FILE: a column of adapt.csv/summary.csv by name
field() {
	awk -F, -v col="$1" -v pol="$2" 'NR == 1 { for (i = 1; i <= NF; i++)
		if ($i == col) c = i; next } $4 == pol { print $c }' "$3"
}

# --- the change in sim-env run -------------------------------------------
run() {
	sim-env run "$OBJ" --model "$TMP/before.msgpack" --eval --steps 10 \
		--actions fixed:p=0,c=0 "$@"
}
run >"$TMP/same.csv" 2>/dev/null
run --model-after "$TMP/after.msgpack" --change-at 5 >"$TMP/chg.csv" 2>/dev/null
if [ "$(head -6 "$TMP/same.csv")" = "$(head -6 "$TMP/chg.csv")" ] &&
	[ "$(sed -n 7p "$TMP/same.csv")" != "$(sed -n 7p "$TMP/chg.csv")" ]; then
	ok "sim-env run --model-after: steps 0-4 as without, step 5 on the other model"
else
	notok "sim-env run --model-after: steps before/after the change"
fi
expect_fail "sim-env: --change-at without --model-after" 2 \
	"needs --model-after" run --change-at 3
expect_fail "sim-env optimal refuses --model-after" 2 "only run and bench" \
	sim-env optimal "$OBJ" --model-after "$TMP/after.msgpack"

# --- policy-eval sim --adapt ------------------------------------------------
mkdir -p "$TMP/e"
check "policy-eval sim --adapt: six variants and the baselines" \
	policy-eval sim -q --model "$TMP/before.msgpack" \
	--model-after "$TMP/after.msgpack" --change-at 20 --episodes 3 \
	--adapt rollout:l=1 --adapt rollout:l=1,cw --adapt rollout:l=1,model=static \
	--adapt rollout:l=1,model=detect --adapt "rollout:l=1,model=refit,trace=$TMP/before.csv" \
	--adapt rollout:l=2,d=2,runs=2,budget=64 \
	-o "$TMP/e" "$OBJ"
A=$TMP/e/adapt.csv
after() { field norm_score_after "$1" "$A"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
if ge "$(after rollout-l1)" 0.95 && ge "$(after rollout-l1-cw)" 0.95 &&
	! ge "$(after noop)" 0.95; then
	ok "rollout reaches the new optimum after the change, the base policy does not ($(after rollout-l1) vs $(after noop))"
else
	notok "rollout after the change: $(after rollout-l1), cw $(after rollout-l1-cw), base $(after noop)"
fi
if [ "$(after rollout-l1-static)" = "$(after noop)" ]; then
	ok "rollout with the model before the change does no better than the base"
else
	notok "static rollout $(after rollout-l1-static) vs base $(after noop)"
fi
det=$(field detections rollout-l1-detect "$A")
dd=$(field detection_delay_mean rollout-l1-detect "$A")
fa=$(field false_alarms rollout-l1-detect "$A")
if [ "$det" = 3 ] && ge 3 "$dd" && [ "$fa" = 0 ]; then
	ok "the CUSUM finds the change in every episode ($dd windows late), no false alarm"
else
	notok "detection: $det detections, delay $dd, $fa false alarms"
fi
rec=$(field recovered_episodes rollout-l1-refit "$A")
rt=$(field refit_ms_max rollout-l1-refit "$A")
if [ "$rec" = 3 ] && ge 1000 "$rt"; then
	ok "refit: recovers in every episode, each refit under 1 s (max $rt ms)"
else
	notok "refit: recovered $rec of 3, refit max $rt ms"
fi
if ls -A "$TMP/e" | grep -q '^\.refit'; then
	notok "refit's model files left behind"
else
	ok "refit's model files removed"
fi
# CPU time: the wall time also holds waiting for a core on a loaded machine
dt=$(field decision_cpu_us_max rollout-l1 "$A")
if ge 10000 "$dt" && ge "$dt" 0.001; then
	ok "a one-step decision takes at most 10 ms of CPU ($dt us)"
else
	notok "decision CPU time '$dt' us"
fi

# the budget: 9 moves, d=2, 2 runs, no critic would make up to
# 1 + 9 x 2 x (1 + 9) = 181 callbacks (127 with the second step
# component-wise); 64 allow the first step joint, the second component-wise
# (1 base + 5 candidates), one run: 1 + 9 x (1 + 1 + 5); no decision more
V=rollout-l2d2-r2-b64
plan=$(field plan $V "$A") worst=$(field work_worst $V "$A")
most=$(field work_max $V "$A")
if [ "$plan" = d2-joint-cw-r1 ] && [ "$worst" = 64 ] && ge 64 "$most" &&
	ge "$most" 1; then
	ok "budget=64: $plan, at most $worst callbacks per decision ($most)"
else
	notok "budget=64: plan '$plan', worst '$worst', most '$most'"
fi
expect_fail "--adapt: a budget no search fits" 2 "fits no search" \
	policy-eval sim -q --model "$TMP/before.msgpack" \
	--adapt rollout:l=2,budget=5 -o "$TMP" "$OBJ"

# unchanged runs: the detector's false alarms
mkdir -p "$TMP/u"
check "policy-eval sim --adapt without a change" \
	policy-eval sim -q --model "$TMP/before.msgpack" --episodes 5 \
	--adapt rollout:l=1,model=detect -o "$TMP/u" "$OBJ"
uw=$(field unchanged_windows rollout-l1-detect "$TMP/u/adapt.csv")
if [ "$uw" = 295 ]; then
	ok "unchanged run: every window watched ($uw)"
else
	notok "unchanged run: $uw windows watched (want 295)"
fi

# usage errors name the problem
expect_fail "--adapt: an unknown key" 2 "bad key or value" \
	policy-eval sim --adapt rollout:l=1,zz=3 -o "$TMP" "$OBJ"
expect_fail "--adapt: the critic needs a policy" 2 "needs --policy" \
	policy-eval sim --model "$TMP/before.msgpack" \
	--adapt rollout:l=1,value=critic -o "$TMP" "$OBJ"
expect_fail "--adapt: refit needs the old trace" 2 "go together" \
	policy-eval sim --adapt rollout:model=refit -o "$TMP" "$OBJ"
expect_fail "--model-after needs --change-at" 2 "go together" \
	policy-eval sim --model-after "$TMP/after.msgpack" -o "$TMP" "$OBJ"
if policy-eval --help | grep -q "rollout:l=1,mc=20"; then
	ok "policy-eval --help documents --adapt"
else
	notok "policy-eval --help: no --adapt syntax"
fi

# --- policy-eval live --adapt ------------------------------------------------
# a base policy that does not know the changed system: the noop with a
# zero critic is enough to show the rollout acts on the model it is given
check "ppo-train: a short base policy" ppo-train -q --model "$TMP/before.msgpack" \
	--timesteps 2048 --seed 1 --threads 1 -o "$TMP/pol.msgpack" "$OBJ"
mkdir -p "$TMP/live"
printf 'max_l1,d1,p1,c1\n10,0.134,60,1\n10,0.134,60,1\n' >"$TMP/rows.csv"
if policy-eval live -q --act "$TMP/pol.msgpack" --adapt rollout:l=1,value=none \
	--model "$TMP/after.msgpack" -o "$TMP/live" "$OBJ" <"$TMP/rows.csv" \
	>"$TMP/live.out" 2>"$TMP/live.err" &&
	[ "$(head -1 "$TMP/live.out")" = "p1=60,c1=2" ] &&
	[ -s "$TMP/live/steps-rollout-l1.csv" ]; then
	ok "policy-eval live --adapt: one more core on the changed system's model"
else
	notok "policy-eval live --adapt: $(head -2 "$TMP/live.out") $(head -c 300 "$TMP/live.err")"
fi
expect_fail "live --adapt needs --act" 2 "improves the --act policy" \
	policy-eval live --baseline noop --adapt rollout:l=1 -o "$TMP/live" "$OBJ"
expect_fail "live --adapt: static is known live" 2 "model=known, detect or refit" \
	policy-eval live --act "$TMP/pol.msgpack" --adapt rollout:model=static \
	--model "$TMP/after.msgpack" -o "$TMP/live" "$OBJ" <"$TMP/rows.csv"
# a fake stream with a step change: 8 windows as the model before predicts
# them (0.08-0.1 s wherever the policy moves at 10 req/s; within the
# CUSUM's slack at noise=1), then node 2 saturated (2 s)
awk 'BEGIN { print "max_l1,d1,p1,c1"
	for (k = 0; k <= 20; k++) printf "10,%s,0,1\n", k <= 8 ? 0.09 : 2 }' \
	>"$TMP/step.csv"
for m in detect "refit,trace=$TMP/before.csv"; do
	rm -rf "$TMP/live" && mkdir -p "$TMP/live"
	if policy-eval live --act "$TMP/pol.msgpack" \
		--adapt "rollout:l=1,model=$m,noise=1" --model "$TMP/before.msgpack" \
		-o "$TMP/live" "$OBJ" <"$TMP/step.csv" >/dev/null 2>"$TMP/live.err" &&
		grep -q "20 windows watched, [1-9][0-9]* alarms (the first at window 8)" \
			"$TMP/live.err"; then
		ok "policy-eval live --adapt model=${m%%,*}: the step change alarms at its first window"
	else
		notok "live --adapt model=${m%%,*}: $(grep -i 'alarm\|error\|warning' "$TMP/live.err" | head -3)"
	fi
done
if grep -q "[1-9][0-9]* refits" "$TMP/live.err"; then
	ok "live --adapt model=refit: refits after the alarm ($(grep -o '[0-9]* refits ([^)]*)' "$TMP/live.err"))"
else
	notok "live --adapt model=refit: $(grep refits "$TMP/live.err"; ls -a "$TMP/live")"
fi
awk 'BEGIN { print "max_l1,d1,p1,c1"; for (k = 0; k <= 30; k++) print "10,0.09,0,1" }' \
	>"$TMP/flat.csv"
if policy-eval live --act "$TMP/pol.msgpack" --adapt rollout:l=1,model=detect,noise=1 \
	--model "$TMP/before.msgpack" -o "$TMP/live" "$OBJ" <"$TMP/flat.csv" \
	>/dev/null 2>"$TMP/live.err" && grep -q "30 windows watched, 0 alarms" "$TMP/live.err"; then
	ok "live --adapt model=detect: no alarm on an unchanged stream"
else
	notok "live --adapt detect, unchanged: $(grep -i 'alarm\|error' "$TMP/live.err" | head -3)"
fi
printf 'max_l1,p1,c1\n10,0,1\n10,0,1\n' >"$TMP/nod.csv"
policy-eval live --act "$TMP/pol.msgpack" --adapt rollout:model=detect \
	--model "$TMP/before.msgpack" -o "$TMP/live" "$OBJ" <"$TMP/nod.csv" \
	>/dev/null 2>"$TMP/live.err"
if grep -q "no column 'd1'" "$TMP/live.err"; then
	ok "live --adapt detect without the target column: warned ($(grep -o "no column 'd1'" "$TMP/live.err"))"
else
	notok "live --adapt detect without d1: $(head -c 300 "$TMP/live.err")"
fi

# --realtime: the decisions' priority, not their outcome. A run at
# SCHED_FIFO (or, without the privilege, at normal priority with a
# warning) writes the same rewards as one without; out of range is a
# usage error.
rt() {
	mkdir -p "$TMP/rt$1"
	policy-eval sim -q --model "$TMP/before.msgpack" \
		--model-after "$TMP/after.msgpack" --change-at 5 --episodes 1 \
		--steps 10 --adapt rollout:l=1 --baselines optimal \
		--realtime "$1" -o "$TMP/rt$1" "$OBJ" 2>"$TMP/rt$1.err"
}
if rt 0 && rt 10 && cmp -s "$TMP/rt0/steps-rollout-l1.csv" \
	"$TMP/rt10/steps-rollout-l1.csv"; then
	ok "sim --realtime 10: the same steps as at normal priority$(grep -q warning "$TMP/rt10.err" && echo ' (no privilege here: warned)')"
else
	notok "sim --realtime: $(head -3 "$TMP/rt10.err")"
fi
expect_fail "--realtime 100: usage error" 2 "--realtime: '100' is not an integer in 0..99" \
	policy-eval sim --realtime 100 -o "$TMP" "$OBJ"
