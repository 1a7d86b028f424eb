#!/bin/sh
# test_live_objectives.sh - pipelines/live.sh on every shipped objective
# besides delay (test_policy_eval_live.sh): two services' streams at once
# (throughput, cost), classes (differentiation), changing bounds ([param]s
# from the schedule), incremental actions (cost), the settings an
# objective holds constant (throughput's one unit per node) applied, the
# simulator's optimum live; and faults (LIVE_FAULT) through the testbed's
# control API: every period has a row, phases before/during/after, the log
# says when a fault was applied and first measured; bad fault specs are
# refused before anything runs, and never reach a shell.
# Models are fitted on the shipped traces with few trees; 1 s windows.
. "$(dirname "$0")/lib.sh"
objs=$MESHRL_ROOT/pipelines/objectives
command -v testbed >/dev/null || { skip "no testbed binary"; exit 0; }

fit() { # fit OBJ: a quick model of the objective on its shipped trace
	sh -c "rf-fit fit -q \$(sim-env describe '$objs/$1.obj' --model-args) --trees 20 -o '$TMP/$1.msgpack' \$(sim-env describe '$objs/$1.obj' --get trace) >/dev/null"
}
# $TMP/col FILE NAME: the values of column NAME, one a line, no header
cat >"$TMP/col" <<'EOF'
#!/bin/sh
awk -F, -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) c = i; next } c { print $c }' "$1"
EOF
chmod +x "$TMP/col"
live() { # live OBJ OUT CONTROLLERS [VAR=VALUE...]
	o=$1 out=$2 ctl=$3; shift 3
	env BIN="$MESHRL_BIN" TMPDIR="$TMP" LIVE_CONTROLLERS="$ctl" \
		LIVE_PERIODS=3 LIVE_WINDOW=1 LIVE_SKIP=1 LIVE_TRACE=1 "$@" \
		sh "$MESHRL_ROOT/pipelines/live.sh" "$objs/$o.obj" - \
		"$TMP/$o.msgpack" "$out" 2>"$out.err"
}

for o in throughput cost differentiation; do
	check "$o: a quick model of its shipped trace" fit "$o"
done

# throughput: info1 and info2 at once, bounds O1, O2 per period.
out=$TMP/tp
check "throughput: noop and optimal live, 3 periods each" live throughput "$out" "noop optimal"
check "throughput: a live and a simulated row per controller" sh -c \
	"grep -q '^throughput,live,1,noop,3,' '$out/summary.csv' && grep -q '^throughput,live,1,optimal,3,' '$out/summary.csv' && grep -q '^throughput,sim,1,optimal,3,' '$out/summary-sim.csv'"
check "throughput: both services carried load (max_l1, max_l2 > 0)" sh -c \
	"[ \"\$('$TMP/col' '$out/noop/trace.csv' max_l1 | sort -u | head -n 1)\" != 0 ] && [ \"\$('$TMP/col' '$out/noop/trace.csv' max_l2 | sort -u | head -n 1)\" != 0 ]"
check "throughput: each period's bounds O1, O2 are levels of the objective" sh -c \
	"col '$out/optimal/periods-optimal.csv' O1 | grep -qvxE '0.035|0.04|0.045|0.05' && exit 1; col '$out/optimal/periods-optimal.csv' O2 | grep -qvxE '0.11|0.111|0.112|0.113' && exit 1; [ \$('$TMP/col' '$out/optimal/periods-optimal.csv' O1 | wc -l) -eq 3 ]"
check "throughput: the testbed runs one unit per node (its [const])" sh -c \
	"[ \"\$(tail -n +3 '$out/noop/trace.csv' | cut -d, -f11,12 | sort -u)\" = '1,1' ] && head -n 1 '$out/noop/trace.csv' | cut -d, -f11,12 | grep -qx 'c1,c2'"
check "throughput: no testbed left running" sh -c "! ps -eo args | grep -F '$TMP/meshrl-live.' | grep -v grep"

# A row whose window opened before the action reached the system still
# shows the previous settings: the period waits for the next row (at most
# 2 more with --max-lag 2), it does not measure the old configuration as
# the new one. With --schedule (live.sh) a period is a fixed number of
# windows, so --max-lag is refused there.
printf 'max_l1,max_l2,l1,l2,cl1,cl2,p11,p21,c1,c2,d11,d12,d21,d22\n' >"$TMP/lag.csv"
for i in 1 2 3 4; do
	printf '5,5,10,10,10,10,0.8,0.8,5,5,0.05,0.05,0.05,0.05\n' >>"$TMP/lag.csv"
done
check "cost, canned rows: rows still on the old settings are passed over" sh -c \
	"mkdir -p '$TMP/lag' && policy-eval live --baseline optimal --max-lag 2 --model '$TMP/cost.msgpack' -o '$TMP/lag' '$objs/cost.obj' <'$TMP/lag.csv' >/dev/null 2>'$TMP/lag.err'; grep -q '2 windows passed over' '$TMP/lag.err' && [ \$(tail -n +2 '$TMP/lag/steps-optimal.csv' | wc -l) -eq 1 ]"
expect_fail "--max-lag with --schedule is refused (exit 2)" 2 "max-lag" \
	policy-eval live --baseline optimal --max-lag 2 --schedule \
	--model "$TMP/cost.msgpack" -o "$TMP/lag" "$objs/cost.obj"
check "cost, canned rows: without --max-lag every row is a period (replays)" sh -c \
	"mkdir -p '$TMP/nolag' && policy-eval live -q --baseline optimal --model '$TMP/cost.msgpack' -o '$TMP/nolag' '$objs/cost.obj' <'$TMP/lag.csv' >/dev/null && [ \$(tail -n +2 '$TMP/nolag/steps-optimal.csv' | wc -l) -eq 3 ]"

# cost: incremental; the testbed runs the configuration the moves reach.
out=$TMP/cost
# 2 s windows: an action has a second to reach the testbed before the
# window after the skipped one opens (1 s was too little under ASan on a
# loaded machine: the last row still ran the configuration before)
check "cost: the optimum live (value iteration), 3 periods" live cost "$out" optimal LIVE_WINDOW=2
# the columns p11, p21, c1, c2 of a CSV's last row
cfg() { for c in p11 p21 c1 c2; do "$TMP/col" "$1" $c | tail -n 1; done | tr '\n' ' '; }
last=$(cfg "$out/optimal/periods-optimal.csv")
check "cost: the testbed ran the last configuration reached ($last)" \
	test "$(cfg "$out/optimal/trace.csv")" = "$last"
check "cost: each period moves each setting by at most one step" sh -c \
	"'$TMP/col' '$out/optimal/periods-optimal.csv' c1 | awk 'NR > 1 && (\$1 - c > 1 || c - \$1 > 1) { exit 1 } { c = \$1 }'"

# differentiation: premium and freemium streams of compute; an HPA on c.
out=$TMP/diff
check "differentiation: hpa80 live on node 1's measured utilisation" live differentiation "$out" hpa80
check "differentiation: the trace's class loads are the schedule's" sh -c \
	"'$TMP/col' '$out/hpa80/periods-hpa80.csv' load1 | sort -u >'$TMP/sched1' && '$TMP/col' '$out/hpa80/trace.csv' max_l1p | sort -u >'$TMP/meas1' && [ -s '$TMP/meas1' ] && ! grep -qvxE '2|4|6' '$TMP/sched1' && [ -z \"\$(comm -13 '$TMP/sched1' '$TMP/meas1')\" ]"
check "differentiation: gap.csv over both classes' delays" sh -c \
	"head -n 1 '$out/gap.csv' | grep -q 'delay1_mae,delay1_bias,delay2_mae,delay2_bias' && grep -q '^hpa80,all,3,' '$out/gap.csv'"

# Faults: node 2 takes every request (p = 0, five units); stopped in
# period 2, restored in period 3; each action has a settling window (a
# row comes when its requests are done: up to LIVE_TIMEOUT late), so
# period 2 answers nothing and the last period all.
check "delay: a quick model" fit delay
out=$TMP/fault
check "faults: noop live through 't=3 node2 stop; t=5 restore'" live delay "$out" noop \
	LIVE_PERIODS=4 LIVE_TIMEOUT=0.5 TB_ARGS="--units2 5" LIVE_ARGS="--noop p=0,c=1" \
	LIVE_FAULT="t=3 node2 stop; t=5 restore"
p=$out/noop/periods-noop.csv
check "faults: every period has a row (4)" sh -c "[ \$(tail -n +2 '$p' | wc -l) -eq 4 ]"
check "faults: phases before, during, after" sh -c \
	"[ \"\$('$TMP/col' '$p' phase | tr '\\n' ' ')\" = 'before during after after ' ]"
check "faults: the stopped period answered nothing, and says so" sh -c \
	"[ \"\$('$TMP/col' '$p' measured | head -n 2 | tr '\\n' ' ')\" = '1 0 ' ] && grep -q 'period 2: .*no request answered' '$out.err'"
check "faults: the last period, after the restore, was answered" sh -c \
	"[ \"\$('$TMP/col' '$p' measured | tail -n 1)\" = 1 ]"
check "faults: the log says when each fault was applied and first measured" sh -c \
	"grep -q \"t=3 s, period 2: fault 't=3 node2 stop' applied (stopped.node2=1)\" '$out.err' && grep -q \"period 2: first measured after 't=3 node2 stop'\" '$out.err' && grep -q \"t=5 s, period 3: fault 't=5 restore' applied (slow.node2=1,stopped.node2=0)\" '$out.err'"
check "faults: phases.csv reports before, during and after" sh -c \
	"[ \"\$(cut -d, -f1-4 '$out/phases.csv' | tail -n +2 | tr '\\n' ' ')\" = 'noop,before,1,1 noop,during,1,0 noop,after,2,2 ' ]"
check "faults: no testbed left running" sh -c "! ps -eo args | grep -F '$TMP/meshrl-live.' | grep -v grep"

# Bad fault specs: refused (exit 2) before any period; none reaches a shell.
mkdir -p "$TMP/bad"
for spec in 't=x node2 stop' 't=5 node3 stop' 't=5 node2 slow=0.5' \
	't=5 restore' 't=9 node2 stop; t=5 restore' \
	't=5 node2 $(touch '"$TMP"'/pwned)' 't=5 node2 stop`touch '"$TMP"'/pwned`'; do
	expect_fail "fault '$spec' is refused" 2 "--fault" sh -c \
		"policy-eval live --baseline noop --model '$TMP/delay.msgpack' --window 1 --fault '$spec' -o '$TMP/bad' '$objs/delay.obj' </dev/null"
done
check "no fault spec ran a command" test ! -e "$TMP/pwned"
expect_fail "--fault needs --window" 2 "needs --window" sh -c \
	"policy-eval live --baseline noop --model '$TMP/delay.msgpack' --fault 't=1 node2 stop' -o '$TMP/bad' '$objs/delay.obj' </dev/null"

# Validation (make validate): in each grid state the simulator's choice and
# its two runners-up, each for --repeat periods. Offline, on rows that
# follow the schedule and make the first runner-up measure best: the
# regret of the choice is the difference of the measured means.
mkdir -p "$TMP/val"
policy-eval live --write-loads "$TMP/val" --validate 2 --repeat 2 \
	--model "$TMP/delay.msgpack" "$objs/delay.obj"
awk 'BEGIN { print "max_l1,l1,cl1,p1,b1,c1,d1" }
	{ w = NR - 1; p = w < 1 ? 0 : int((w - 1) / 2) % 3
	  d = p == 1 ? 0.1 : 0.9   # the runner-up meets the bound, not the choice
	  print $1 "," $1 * 2 "," $1 * 2 ",80," $1 ",1," d }' "$TMP/val/load1" >"$TMP/val/rows.csv"
check "validate: 2 states x 3 actions x 2 periods from canned rows" sh -c \
	"policy-eval live -q --validate 2 --repeat 2 --model '$TMP/delay.msgpack' -o '$TMP/val' '$objs/delay.obj' <'$TMP/val/rows.csv' >'$TMP/val/actions'"
cat >"$TMP/regret.awk" <<'EOF'
# per state: the choice's regret is the runner-up's measured reward less
# the choice's (the runner-up measured best); exit 1 otherwise
BEGIN { FS = "," }
NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
{ r[$c["state"], $c["rank"]] = $c["reward"] }
$c["rank"] == 0 { g[$c["state"]] = $c["regret"] }
END {
	for (s in g) {
		want = r[s, 1] - r[s, 0]
		if (want <= 0 || g[s] - want > 1e-9 || want - g[s] > 1e-9) exit 1
		n++
	}
	exit n != 2
}
EOF
check "validate: ranks 0, 1, 2 per state, the choice's regret beside it" sh -c \
	"[ \"\$('$TMP/col' '$TMP/val/validate.csv' rank | tr '\\n' ' ')\" = '0 1 2 0 1 2 ' ] && awk -f '$TMP/regret.awk' '$TMP/val/validate.csv'"
check "validate: the summary: the choice met the bound in 0 %, best in no state" sh -c \
	"tail -n 1 '$TMP/val/validate-summary.csv' | grep -q '^delay,2,2,0,[0-9.]*,[0-9.]*,[0-9.]*,[0-9.]*,0\$'"
check "validate: the actions are the simulator's three best, each twice" sh -c \
	"[ \$(sort -u '$TMP/val/actions' | wc -l) -ge 3 ] && [ \$(wc -l <'$TMP/val/actions') -eq 12 ]"
# Live: 2 states, one period per action.
out=$TMP/vlive
check "validate live: live.sh LIVE_CONTROLLERS=validate" live delay "$out" validate \
	LIVE_STATES=2 LIVE_REPEAT=1
check "validate live: 6 actions measured, a summary" sh -c \
	"[ \$(tail -n +2 '$out/validate.csv' | wc -l) -eq 6 ] && grep -q '^delay,2,1,' '$out/validate-summary.csv'"
# Incremental actions (cost): the three best configurations at a load are
# set and held, not reached by steps; ranked by the predicted reward.
out=$TMP/vcost
check "validate live, incremental (cost): 1 state, 3 configurations" \
	live cost "$out" validate LIVE_STATES=1 LIVE_REPEAT=1
check "validate cost: 3 distinct configurations, predicted best first" sh -c \
	"[ \$(tail -n +2 '$out/validate.csv' | cut -d, -f5-8 | sort -u | wc -l) -eq 3 ] && '$TMP/col' '$out/validate.csv' reward_pred | awk 'NR > 1 && \$1 > p + 1e-12 { exit 1 } { p = \$1 }' && grep -q '^cost,1,1,' '$out/validate-summary.csv'"
check "validate cost: the testbed ran each configuration as set" sh -c \
	"tail -n +2 '$out/validate/trace.csv' | cut -d, -f7,8,11,12 >'$out/ran' && tail -n +2 '$out/validate.csv' | cut -d, -f5-8 | while read -r c; do grep -qx \"\$c\" '$out/ran' || exit 1; done"
