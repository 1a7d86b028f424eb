#!/bin/sh
# test_pipeline_fanout.sh - `make experiments`: the GNU parallel fan-out
# over seeds, killed midway and resumed without redoing finished runs, the
# aggregation into summary.csv (also alone, with a run missing), and an
# unknown objective refused up front.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline_lib.sh"

R=$TMP/results M=$TMP/models
# Kill the fan-out once at least one run has finished (one job at a time,
# so the others are still to come).
setsid sh -c 'echo $$ >"$0/pgid"; exec "$@"' "$TMP" \
	make -C "$MESHRL_ROOT" --no-print-directory BUILD="$BUILD_DIR" MODELS="$M" \
	RESULTS="$R" TRACE="$TMP/trace.csv" FIT_ARGS="--trees 30" \
	PPO_ARGS="--timesteps 20000" experiments OBJS=delay SEEDS="1 2 3 4" JOBS=1 \
	>"$TMP/first.log" 2>&1 &
first=$!
i=0
while [ $i -lt 600 ]; do
	n=$(cat "$R"/.experiments-*.joblog 2>/dev/null | awk -F'\t' 'NR > 1 && $7 == 0' | wc -l)
	[ "$n" -ge 1 ] && break
	sleep 0.1
	i=$((i + 1))
done
# procps kill: the shell builtin may not take a process group
/bin/kill -TERM -- "-$(cat "$TMP/pgid")"
wait $first
check "one run finished before the kill" test "$n" -ge 1
joblog=$(ls "$R"/.experiments-*.joblog)
check "the joblog survives the kill" test -f "$joblog"
done_first=$(awk -F'\t' 'NR > 1 && $7 == 0 { print $1 }' "$joblog" | sort -n | tr '\n' ' ')
check "not every run finished before the kill ($done_first)" test "$(echo $done_first | wc -w)" -lt 4
snap=$TMP/snap
: >"$snap"
for seq in $done_first; do
	seed=$seq # OBJS has one objective: job seq = seed position
	mtimes "$R/delay/seed-$seed" >>"$snap"
done
check "no summary.csv after an interrupted fan-out" test ! -f "$R/summary.csv"

check "resumed fan-out completes" mk experiments OBJS=delay SEEDS="1 2 3 4" JOBS=1
last=$R/.experiments-last.joblog
check "each run ran exactly once across both attempts" sh -c \
	"awk -F'\t' 'NR > 1 && \$7 == 0 { print \$1 }' '$last' | sort -n | uniq -d | grep -q . && exit 1; \
	 [ \$(awk -F'\t' 'NR > 1 && \$7 == 0' '$last' | wc -l) -eq 4 ]"
after=$TMP/snap2
: >"$after"
for seq in $done_first; do mtimes "$R/delay/seed-$seq" >>"$after"; done
check "finished runs were not redone (their files untouched)" cmp -s "$snap" "$after"
check "summary.csv: delay ppo over 4 runs" grep -q '^delay,seen,ppo,4,' "$R/summary.csv"
check "summary.csv: header" sh -c "head -n 1 '$R/summary.csv' | grep -q '^objective,pattern,policy,runs,norm_score_mean,norm_score_ci95,bound_met_pct_mean'"

# Only the aggregation (as the Slurm summary job runs it): a run without
# results is named, the others are aggregated, and the exit status says the
# summary is partial.
expect_fail "experiments-summary names a run without results" 2 \
	"no results .* for: delay seed 9" \
	mk experiments-summary OBJS=delay SEEDS="1 2 3 4 9"
check "experiments-summary aggregates the runs with results" \
	grep -q '^delay,seen,ppo,4,' "$R/summary.csv"

R=$TMP/bad/results M=$TMP/bad/models
expect_fail "unknown objective in OBJS" 2 "unknown objective 'nosuch'" \
	mk experiments OBJS="delay nosuch" SEEDS=1
check "nothing written for a refused fan-out" test ! -e "$TMP/bad"
