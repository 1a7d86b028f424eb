#!/bin/sh
# test_ppo_quality.sh - PPO's quality on every shipped objective, small:
# the shipped trace's model (fewer trees), a short budget, one seed; the
# final policy's normalised score on 10 test episodes (policy-eval, seen
# pattern; episodes disjoint from training and validation) must reach the
# objective's floor and beat the random controller. The floors are below
# what the full budget reaches (make quality, README) and above what an
# untrained or stuck policy gets.
. "$(dirname "$0")/lib.sh"
OBJS=$MESHRL_ROOT/pipelines/objectives

# quality NAME TIMESTEPS FLOOR TREES
quality() {
	on=$1 steps=$2 floor=$3 trees=$4
	obj=$OBJS/$on.obj
	trace=$(sim-env describe "$obj" --get trace)
	m=$TMP/$on.msgpack
	if ! rf-fit fit -q $(sim-env describe "$obj" --model-args) --trees "$trees" \
		--seed 1 -o "$m" "$trace" >/dev/null 2>"$TMP/$on.err"; then
		notok "$on: fit ($(head -c 200 "$TMP/$on.err"))"
		return
	fi
	ppo-train -q --model "$m" --seed 1 --threads 1 --timesteps "$steps" \
		-o "$TMP/$on.policy" "$obj" 2>"$TMP/$on.err" ||
		{ notok "$on: ppo-train ($(head -c 200 "$TMP/$on.err"))"; return; }
	mkdir -p "$TMP/$on"
	policy-eval sim -q --policy "$TMP/$on.policy" --model "$m" --seed 7 \
		--episodes 10 --baselines optimal,random -o "$TMP/$on" "$obj" ||
		{ notok "$on: policy-eval"; return; }
	awk -F, -v floor="$floor" -v on="$on" -v steps="$steps" '
		NR == 1 { for (i = 1; i <= NF; i++) k[$i] = i; next }
		{ s[$(k["policy"])] = $(k["norm_score"]); ci[$(k["policy"])] = $(k["norm_score_ci95"])
		  n[$(k["policy"])] = $(k["episodes"]) }
		END { ok = n["ppo"] == 10 && s["ppo"] >= floor && s["ppo"] > s["random"]
		  printf "%s - %s: after %s timesteps, score %.3f +- %.3f on 10 test episodes (floor %s; random %.3f)\n",
			ok ? "ok" : "not ok", on, steps, s["ppo"], ci["ppo"], floor, s["random"] }' \
		"$TMP/$on/summary.csv"
}

quality delay 30000 0.98 120
# Under the sanitizers training runs ~15x slower; there the quality of the
# others is left to the plain build's run of this test.
if [ -n "${MESHRL_ASAN:-}" ]; then
	for on in differentiation throughput cost; do
		skip "$on: PPO quality is checked in the plain build (make test), not under ASan"
	done
	exit 0
fi
quality differentiation 60000 0.95 60
# throughput's floor: on traces/throughput.csv (2026-12-08) 100k here
# reach 0.904 with the objective's settings (lr 3e-4, bonus 0.05, robust
# optimum); the published ones (lr 1e-4, bonus 0.01) collapse to nearly
# one action, 0.788 here (on the mean forest 0.778, and 0.867-0.924 after
# the whole budget): 0.85 tells them apart
quality throughput 100000 0.85 60
quality cost 200000 0.95 60
