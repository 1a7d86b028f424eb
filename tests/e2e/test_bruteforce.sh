#!/bin/sh
# test_bruteforce.sh - sim-env's optimum against an independent brute force
# (bruteforce.py: every state and action, the model asked through rf-fit
# predict, each objective's reward written again in Python), for every
# shipped objective on a small model of its trace: ours on traces/, the
# published ones only when ../shared/traces/kth is there. A random run is
# checked step by step too (the reward off the optimum), and a copy of each
# objective with one constant changed must be caught. Last, `make
# experiment` on a published objective without its trace is a skip.
. "$(dirname "$0")/lib.sh"
OBJS=$MESHRL_ROOT/pipelines/objectives
BF=$MESHRL_ROOT/tests/e2e/bruteforce.py
if ! command -v python3 >/dev/null 2>&1; then
	skip "bruteforce: python3 not installed"
	exit 0
fi

# Copies of the objectives (with their load files) to change constants in.
mkdir -p "$TMP/changed"
cp "$OBJS"/*.load "$TMP/changed/"

# one NAME FILE: a 10-tree model of the objective FILE's trace, its optimum
# and a random run (evaluation episodes: training ones may jitter the loads
# off the grid); bruteforce.py NAME must agree with them.
one() {
	on=$1 obj=$2
	trace=$(sim-env describe "$OBJS/$on.obj" --get trace)
	model=$TMP/$on.msgpack
	rf-fit fit -q $(sim-env describe "$obj" --model-args) --trees 10 \
		--seed 1 -o "$model" "$trace" >/dev/null 2>"$TMP/fit.err" &&
	sim-env optimal -q --model "$model" -o "$TMP/$on.opt.csv" "$obj" &&
	sim-env run -q --eval --model "$model" --actions random --steps 200 \
		--envs 8 --seed 1 -o "$TMP/$on.run.csv" "$obj"
}

# objective NAME: the check on NAME's objective file.
objective() {
	on=$1
	trace=$(sim-env describe "$OBJS/$on.obj" --get trace)
	if [ ! -f "$trace" ]; then
		skip "$on: its trace $(basename "$trace") is not here (published traces: ../shared/traces/kth beside the project)"
		return 1
	fi
	if ! one "$on" "$OBJS/$on.obj"; then
		notok "$on: model, optimum or run failed"
		sed 's/^/    # /' "$TMP/fit.err" | head -n 5
		return 1
	fi
	check "$on: sim-env optimal (and a random run) = brute force" \
		python3 "$BF" "$on" "$TMP/$on.msgpack" \
		"$TMP/$on.opt.csv" "$TMP/$on.run.csv"
	sed -n 's/^/    # /p' "$TMP/.out"
}

# caught NAME KEY CHANGED [optimum]: a copy of NAME's objective whose line
# "KEY = ..." reads "KEY = CHANGED", on the same model, must fail the
# check (with "optimum": on the optimum alone, without the run).
caught() {
	on=$1 key=$2 changed=$3 what=${4:-}
	copy=$TMP/changed/$on.obj
	sed "s/^$key *=.*/$key = $changed/" "$OBJS/$on.obj" >"$copy"
	if cmp -s "$copy" "$OBJS/$on.obj"; then
		notok "$on: no line '$key = ...' to change"
		return
	fi
	sim-env optimal -q --model "$TMP/$on.msgpack" \
		-o "$TMP/$on.opt.csv" "$copy" &&
	sim-env run -q --eval --model "$TMP/$on.msgpack" --actions random \
		--steps 200 --envs 8 --seed 1 -o "$TMP/$on.run.csv" "$copy"
	run=$TMP/$on.run.csv
	[ "$what" = optimum ] && run=
	expect_fail "$on: a copy with $key = $changed is caught${what:+ by the $what}" 1 \
		"bruteforce $on: [0-9]+ differences" \
		python3 "$BF" "$on" "$TMP/$on.msgpack" "$TMP/$on.opt.csv" $run
}

# One change that moves the optimum where it is cheap to find, and one
# that only a run (rewards off the optimum) can show.
objective delay && {
	caught delay budget 6.5 optimum
	caught delay bound1 0.59
	caught delay timeout1 50
}
objective throughput && caught throughput width1 0.0051
objective cost && {
	caught cost bound2 0.05 optimum
	caught cost penalty -1.1
}
objective differentiation && caught differentiation cost_weight 0.021 optimum
objective delay-tnsm && caught delay-tnsm bound1 0.59
objective throughput-cnsm && caught throughput-cnsm mid2 0.112

# `make experiment` on a published objective whose trace is absent: skipped
# with the objective's note, exit 0, nothing written. (The objective's
# folder sits where ../shared/traces/kth cannot be.)
mkdir -p "$TMP/a/b/objectives"
cp "$OBJS/delay-tnsm.obj" "$OBJS/delay.load" "$TMP/a/b/objectives/"
check "make experiment OBJ=delay-tnsm without its trace: skipped" \
	make -C "$MESHRL_ROOT" --no-print-directory \
	BUILD="$(dirname "$MESHRL_BIN")" OBJDIR="$TMP/a/b/objectives" \
	MODELS="$TMP/exp/models" RESULTS="$TMP/exp/results" \
	experiment OBJ=delay-tnsm
cp "$TMP/.out" "$TMP/skip.out"
check "... with the objective's note" grep -q \
	"experiment delay-tnsm: skipped: no .*data_TNSM_2024.csv (a published KTH trace" \
	"$TMP/skip.out"
check "... and nothing written" test ! -e "$TMP/exp"
