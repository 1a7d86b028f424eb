#!/bin/sh
# test_pipeline.sh - `make experiment`: the whole chain on a synthetic
# trace, its outputs, incrementality (nothing reruns; touching an input
# reruns what depends on it), the Slurm array script, and bad input
# (unknown objective, missing trace, trace without the model's columns)
# leaving nothing behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline_lib.sh"

run=$TMP/results/delay/seed-1 mod=$TMP/models/delay/seed-1
check "make experiment OBJ=delay SEED=1 (synthetic trace)" mk experiment OBJ=delay SEED=1
for f in $mod/system.msgpack $mod/policy.msgpack $run/fit.csv $run/optimal.csv \
	$run/learning.csv $run/eval-seen/summary.csv $run/eval-unseen/summary.csv \
	$run/eval-seen/steps-ppo.csv $run/eval-seen/steps-hpa50.csv; do
	check "output $(basename "$(dirname "$f")")/$(basename "$f")" test -s "$f"
done
for p in learning eval-seen eval-unseen; do
	check "$p.png is a PNG" sh -c "head -c 8 '$run/$p.png' | od -An -c | grep -q 'P   N   G'"
done
check "summary: ppo, optimal, noop, hpa50, hpa80, random" sh -c \
	"cut -d, -f4 '$run/eval-seen/summary.csv' | tr '\n' ' ' | grep -q '^policy ppo optimal noop hpa50 hpa80 random '"
# (the optimum's normalised score is 1 by definition: not a check)
# (policy-eval's test episodes are not sim-env optimal's evaluation
# episode: its optimum is checked against every controller instead)
check "summary: no controller beats the optimum on the test episodes" sh -c \
	"awk -F, 'NR > 1 { r[\$4] = \$6 } END { if (!(\"optimal\" in r)) exit 1;
	  for (p in r) if (r[p] > r[\"optimal\"] + 1e-9) exit 1 }' \
	  '$run/eval-seen/summary.csv'"
check "summary: 10 test episodes, score interval over them" sh -c \
	"awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[\$i] = i; next }
	  \$c[\"policy\"] == \"ppo\" && \$c[\"episodes\"] == 10 && \$c[\"norm_score_ci95\"] != \"\" { ok = 1 }
	  END { exit !ok }' '$run/eval-seen/summary.csv'"
check "steps-ppo.csv: episodes 0..9" sh -c \
	"awk -F, 'NR > 1 { e[\$NF] = 1 } END { n = 0; for (k in e) n++; exit !(n == 10 && (9 in e)) }' \
	  '$run/eval-seen/steps-ppo.csv'"
check "summary: on the unseen pattern ppo beats noop, hpa50, hpa80, random" sh -c \
	"awk -F, '\$4 == \"ppo\" { p = \$8 } \$4 ~ /^(noop|hpa50|hpa80|random)\$/ { n++; if (\$8 > b || n == 1) b = \$8 }
	  END { exit !(n == 4 && p > b) }' '$run/eval-unseen/summary.csv'"
check "steps CSV header" sh -c \
	"head -n 1 '$run/eval-seen/steps-ppo.csv' | grep -qx 'step,load,p,c,cores,d1,carried,cost,reward,bound_met,episode'"

# Incremental: a second run does nothing at all.
before=$(mtimes "$TMP/results"; mtimes "$TMP/models")
out=$(mk experiment OBJ=delay SEED=1 2>&1)
after=$(mtimes "$TMP/results"; mtimes "$TMP/models")
check "second run prints nothing" test -z "$out"
check "second run rewrites nothing" test "$before" = "$after"
# Touching the policy reruns the evaluations and their plots only.
sleep 1
touch "$mod/policy.msgpack"
mk experiment OBJ=delay SEED=1 >"$TMP/out.txt" 2>&1
check "touched policy: evaluation reruns" grep -q 'bin/policy-eval sim' "$TMP/out.txt"
check "touched policy: no refit, no retraining" sh -c "! grep -Eq 'bin/rf-fit fit|bin/ppo-train|bin/sim-env optimal' '$TMP/out.txt'"
# Touching the trace reruns everything downstream of it.
touch "$TMP/trace.csv"
mk experiment OBJ=delay SEED=1 >"$TMP/out.txt" 2>&1
check "touched trace: refit, optimum, training, evaluation" sh -c \
	"grep -q 'bin/rf-fit fit' '$TMP/out.txt' && grep -q 'bin/sim-env optimal' '$TMP/out.txt' && grep -q 'bin/ppo-train' '$TMP/out.txt' && grep -q 'bin/policy-eval sim' '$TMP/out.txt'"

# The Slurm array task runs the same target (here: already done, a no-op).
check "slurm task 0 of OBJS=delay SEEDS=1 runs make experiment" sh -c \
	"cd '$MESHRL_ROOT' && OBJS=delay SEEDS=1 SLURM_ARRAY_TASK_ID=0 MESHRL_DRYRUN=1 sh pipelines/slurm/experiment.sbatch | grep -qx 'make --no-print-directory experiment OBJ=delay SEED=1'"
check "slurm task 5 of 2x3 is the second objective, third seed" sh -c \
	"cd '$MESHRL_ROOT' && OBJS='a b' SEEDS='1 2 3' SLURM_ARRAY_TASK_ID=5 MESHRL_DRYRUN=1 sh pipelines/slurm/experiment.sbatch | grep -q 'OBJ=b SEED=3'"
check "slurm task really runs (no-op here)" env -C "$MESHRL_ROOT" OBJS=delay SEEDS=1 \
	SLURM_ARRAY_TASK_ID=0 BUILD="$BUILD_DIR" MODELS="$TMP/models" RESULTS="$TMP/results" \
	TRACE="$TMP/trace.csv" FIT_ARGS="--trees 30" PPO_ARGS="--timesteps 20000" \
	sh pipelines/slurm/experiment.sbatch
expect_fail "slurm task beyond the array" 2 "task 2, but OBJS x SEEDS has 2 runs" \
	env OBJS=delay SEEDS="1 2" SLURM_ARRAY_TASK_ID=2 sh "$MESHRL_ROOT/pipelines/slurm/experiment.sbatch"

# Bad input: a clear message naming it, nothing written.
M=$TMP/bad/models R=$TMP/bad/results
expect_fail "unknown objective" 2 "unknown objective 'nosuch'" mk experiment OBJ=nosuch
TR=$TMP/none.csv
expect_fail "missing trace" 2 "trace '.*none.csv' not found" mk experiment OBJ=delay
gen_trace d1 >"$TMP/nod1.csv"
TR=$TMP/nod1.csv
expect_fail "trace without the target column" 2 "nod1.csv.*'d1'" mk experiment OBJ=delay
TR=
check "bad input left nothing in models/ or results/" sh -c "[ -z \"\$(find '$TMP/bad' -type f 2>/dev/null)\" ]"
