#!/bin/sh
# test_eval_protocol.sh - the evaluation protocol (README): policy-eval's
# test episodes (--episodes N, per-episode intervals, an episode column;
# a sequence's test episodes are draws of its Markov chain, not the file),
# ppo-train's validation episodes (--val-episodes) and --select-best, and
# bad counts refused.
. "$(dirname "$0")/lib.sh"

# cyclic transitions 4->4 4->8 8->12 12->12 12->8 8->4: never 4->12, 12->4
synth_delay 5 2 4 4 8 12 12 8
H="--net 32,32 --n-steps 32 --nenvs 4 --batch 32 --epochs 4 --lr 3e-3 --gamma 0 --checkpoint-every 0"

# --- policy-eval: test episodes
mkdir -p "$TMP/ev"
check "policy-eval sim --episodes 4" \
	policy-eval sim -q --model "$M" -b optimal,noop --episodes 4 -o "$TMP/ev" "$OBJ"
check "summary: episodes 4 and intervals over them" \
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$c["episodes"] == 4 && $c["norm_score_ci95"] != "" && $c["episode_reward_ci95"] != "" { n++ }
		END { exit !(n == 2 && c["norm_score"] == 8) }' "$TMP/ev/summary.csv"
check "steps-noop.csv: 24 rows, episodes 0..3, step counts on" \
	awk -F, 'NR == 1 { ok = $NF == "episode"; next }
		{ n++; e[$NF]++; last = $1 } END { exit !(ok && n == 24 && e[0] == 6 && e[3] == 6 && last == 23) }' \
	"$TMP/ev/steps-noop.csv"
check "test episodes: only the file's levels and transitions, not the file's sequence" \
	awk -F, 'NR == 1 { next }
		{ l = $2; if (l != 4 && l != 8 && l != 12) bad = 1
		  if ($NF == pe && ((pl == 4 && l == 12) || (pl == 12 && l == 4))) bad = 1
		  s[$NF] = s[$NF] " " l; pl = l; pe = $NF }
		END { for (k in s) if (s[k] != " 4 4 8 12 12 8") other++; exit !(!bad && other >= 1) }' \
	"$TMP/ev/steps-noop.csv"
mkdir -p "$TMP/ev1"
policy-eval sim -q --model "$M" -b optimal,noop --episodes 1 -o "$TMP/ev1" "$OBJ"
check "--episodes 1: one episode, the first of the 4" \
	sh -c "[ \$(tail -n +2 '$TMP/ev1/steps-noop.csv' | wc -l) -eq 6 ] &&
		[ \"\$(awk -F, 'NR > 1 && \$NF == 0 { print \$2 }' '$TMP/ev/steps-noop.csv')\" = \
		  \"\$(awk -F, 'NR > 1 { print \$2 }' '$TMP/ev1/steps-noop.csv')\" ]"
expect_fail "policy-eval --episodes 0 is refused" 2 "episodes" \
	policy-eval sim --model "$M" --episodes 0 -o "$TMP/ev" "$OBJ"
expect_fail "policy-eval --episodes x is refused" 2 "episodes" \
	policy-eval sim --model "$M" --episodes x -o "$TMP/ev" "$OBJ"

# --- ppo-train: validation episodes, --select-best
check "ppo-train --val-episodes 3 --select-best" \
	sh -c "ppo-train '$OBJ' --model '$M' $H --timesteps 2048 --seed 3 \
		--val-episodes 3 --select-best -o '$TMP/p.msgpack' --curve '$TMP/c.csv' 2>'$TMP/p.log'"
check "the final policy is OUTPUT, the best OUTPUT.best" \
	test -s "$TMP/p.msgpack" -a -s "$TMP/p.msgpack.best"
check "curve: the score column" \
	sh -c "head -n 1 '$TMP/c.csv' | grep -qx 'timesteps,avg_r,std_r,lower_r,upper_r,avg_optimal_r,score'"
check "OUTPUT.best's score is the curve's best" \
	sh -c "best=\$(sed -n 's/.*best validation score \([-0-9.]*\).*/\1/p' '$TMP/p.log');
		awk -F, -v b=\"\$best\" 'NR > 1 && (m == \"\" || \$7 > m) { m = \$7 }
			END { exit !(b != \"\" && sprintf(\"%.4f\", m) == b) }' '$TMP/c.csv'"
check "without --select-best: no OUTPUT.best" \
	sh -c "ppo-train '$OBJ' --model '$M' $H --timesteps 2048 --seed 3 \
		--val-episodes 1 -q -o '$TMP/q.msgpack' && test ! -e '$TMP/q.msgpack.best'"
check "--val-episodes changes the validation references, not training" \
	sh -c "ppo-train '$OBJ' --model '$M' $H --timesteps 2048 --seed 3 -q \
		--val-episodes 1 -o '$TMP/r1.msgpack' &&
		ppo-train '$OBJ' --model '$M' $H --timesteps 2048 --seed 3 -q \
		--val-episodes 4 -o '$TMP/r4.msgpack' && cmp -s '$TMP/r1.msgpack' '$TMP/r4.msgpack'"
expect_fail "ppo-train --val-episodes 0 is refused" 2 "val-episodes" \
	ppo-train "$OBJ" --model "$M" --val-episodes 0 -o "$TMP/x.msgpack"
check "nothing written for a refused run" test ! -e "$TMP/x.msgpack"

# --- make experiment PPO_SELECT=1: the selected policy on the same test
# episodes as the final one, reported beside it; the plot's optimum is
# the curve's own (validation episodes)
. "$(dirname "$0")/pipeline_lib.sh"
run=$TMP/results/delay/seed-1
check "make experiment PPO_SELECT=1" \
	sh -c "make -C '$MESHRL_ROOT' --no-print-directory BUILD='$BUILD_DIR' \
		MODELS='$TMP/models' RESULTS='$TMP/results' TRACE='$TMP/trace.csv' \
		FIT_ARGS='--trees 20' PPO_ARGS='--timesteps 8192' \
		experiment OBJ=delay SEED=1 PPO_SELECT=1 >'$TMP/mk.log' 2>&1"
check "eval-selected: the selected policy, pattern seen-selected" \
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$c["policy"] == "ppo" && $c["pattern"] == "seen-selected" &&
		$c["episodes"] == 10 && $c["norm_score"] != "" { n++ }
		END { exit !(n == 1) }' "$run/eval-selected/summary.csv"
check "the final policy's figures are still eval-seen's" \
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$c["policy"] == "ppo" && $c["pattern"] == "seen" { n++ }
		END { exit !(n == 1) }' "$run/eval-seen/summary.csv"
check "the selected policy is not the final one's file" \
	test -s "$TMP/models/delay/seed-1/policy.msgpack.best"
check "learning.png drawn from the curve alone" \
	sh -c "head -c 8 '$run/learning.png' | od -An -c | grep -q 'P   N   G'"
