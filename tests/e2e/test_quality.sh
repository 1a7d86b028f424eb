#!/bin/sh
# test_quality.sh - `make quality` on a tiny grid (delay on a synthetic
# trace, a tiny PPO budget): quality.csv with the exact header and one row
# per run, the summary, a resumed grid that adds runs without redoing or
# duplicating any, and a bad objective refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline_lib.sh"

R=$TMP/results
qmk() {
	make -C "$MESHRL_ROOT" --no-print-directory BUILD="$BUILD_DIR" \
		MODELS="$TMP/models" RESULTS="$R" TRACE="$TMP/trace.csv" \
		QUALITY_FIT_ARGS="--trees 20" QUALITY_PPO_ARGS="--timesteps 4096" \
		JOBS=2 quality "$@"
}
# qmk_todo N ARGS...: make quality with ARGS, which found N runs to do
qmk_todo() {
	n=$1; shift
	qmk "$@" 2>"$TMP/q.log" && grep -q "^quality: $n run(s) to do" "$TMP/q.log" ||
		{ cat "$TMP/q.log" >&2; return 1; }
}
HDR=objective,heads,model_seed,ppo_seed,timesteps,final_score,final_score_unseen,stable_frac,first_hit_timesteps,wall_s

check "make quality OBJS=delay MODEL_SEEDS=1 PPO_SEEDS='1 2'" \
	qmk OBJS=delay MODEL_SEEDS=1 PPO_SEEDS="1 2"
check "quality.csv: the exact header" \
	sh -c "head -n 1 '$R/quality.csv' | grep -qx '$HDR'"
check "quality.csv: one row per run, figures filled" \
	awk -F, 'NR > 1 { n++; if ($1 != "delay" || $2 != "joint" || $3 != 1 || $4 != n ||
		$5 < 4096 || $6 == "" || $7 == "" || $10 == "") bad = 1
		if (($8 == "") != ($9 == "")) bad = 1 }
		END { exit !(n == 2 && !bad) }' "$R/quality.csv"
check "quality-summary.csv: delay over 2 runs" \
	awk -F, 'NR == 1 { ok = $1 == "objective" && $4 == "mean_score"; next }
		$1 == "delay" && $3 == 2 { n++ } END { exit !(ok && n == 1) }' "$R/quality-summary.csv"
mtimes "$R/quality" | grep -e learning.csv >"$TMP/before"
check "a larger grid resumes: runs done are skipped" \
	qmk OBJS=delay MODEL_SEEDS=1 PPO_SEEDS="1 2 3"
check "quality.csv: 3 rows, none twice" \
	sh -c "[ \$(tail -n +2 '$R/quality.csv' | wc -l) -eq 3 ] &&
		[ \$(tail -n +2 '$R/quality.csv' | cut -d, -f1,3,4 | sort -u | wc -l) -eq 3 ]"
mtimes "$R/quality" | grep -e learning.csv | grep -v m1-p3 >"$TMP/after"
check "finished runs were not redone" cmp -s "$TMP/before" "$TMP/after"
# a row only in quality.csv (its run folder gone) is not redone either
rm -rf "$R/quality/delay/m1-p1"
check "a row in quality.csv alone is kept, not redone" \
	qmk_todo 0 OBJS=delay MODEL_SEEDS=1 PPO_SEEDS="1 2 3"
check "  quality.csv still has its 3 rows, the folder is not remade" \
	sh -c "[ \$(tail -n +2 '$R/quality.csv' | wc -l) -eq 3 ] && [ ! -d '$R/quality/delay/m1-p1' ]"
expect_fail "an unknown objective is refused" 2 "unknown objective 'nope'" \
	qmk OBJS=nope MODEL_SEEDS=1 PPO_SEEDS=1
# checkpoint selection: the same runs redone with the selected policy's
# columns beside the final one's; a selected score is a test-episode
# score like the final one, and the selected policy was trained at most
# as long
check "PPO_SELECT=1 redoes the runs with selection" \
	qmk OBJS=delay MODEL_SEEDS=1 PPO_SEEDS="1 2 3" PPO_SELECT=1
check "quality.csv: the required columns, then the selection's" \
	sh -c "head -n 1 '$R/quality.csv' | grep -qx '$HDR,selected_score,selected_score_unseen,selected_timesteps'"
check "quality.csv: every run selected, its figures filled" \
	awk -F, 'NR > 1 { n++; if (NF != 13 || $11 == "" || $12 == "" ||
		$13 == "" || $13 + 0 > $5 + 0 || $11 + 0 > 1.0001) bad = 1 }
		END { exit !(n == 3 && !bad) }' "$R/quality.csv"
check "the selected policy was evaluated on test episodes" \
	test -s "$R/quality/delay/m1-p2/selected/seen/summary.csv"
check "quality-summary.csv: the selected mean" \
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$1 == "delay" && $c["mean_selected_score"] != "" &&
		$c["runs_selected_ge_0.98"] != "" { n++ } END { exit !(n == 1) }' \
		"$R/quality-summary.csv"
expect_fail "PPO_SELECT must be 1 or empty" 2 "PPO_SELECT 'yes'" \
	qmk OBJS=delay MODEL_SEEDS=1 PPO_SEEDS=1 PPO_SELECT=yes
# a run is made from its trace, objective file and arguments: another
# trace refits the model and redoes the runs on it (never a row from the
# old one kept under the new)
sed '$d' "$TMP/trace.csv" >"$TMP/trace2.csv" && mv "$TMP/trace2.csv" "$TMP/trace.csv"
mtimes "$TMP/models/quality" | grep system.msgpack >"$TMP/m.before"
check "another trace: the model refitted, its runs redone" \
	qmk_todo 2 OBJS=delay MODEL_SEEDS=1 PPO_SEEDS="1 2"
mtimes "$TMP/models/quality" | grep system.msgpack >"$TMP/m.after"
check "another trace: the model file is new" sh -c "! cmp -s '$TMP/m.before' '$TMP/m.after'"
# (a later assignment on make's command line wins over qmk's own)
check "another PPO budget redoes the runs too" \
	qmk_todo 1 OBJS=delay MODEL_SEEDS=1 PPO_SEEDS=1 QUALITY_PPO_ARGS="--timesteps 2048"
check "  its row is the new budget's" \
	awk -F, '$1 == "delay" && $4 == 1 && $5 < 4096 { f = 1 } END { exit !f }' "$R/quality.csv"
