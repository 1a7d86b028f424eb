#!/bin/sh
# remote-run.sh OBJ SEED [TRACE [FIT_ARGS [PPO_ARGS [BASELINES]]]] - one experiment run on a remote host, in
# the GNU parallel workdir that pipelines/experiments.sh set up: in/src.tgz
# is the project's source. It is extracted and built once per source version
# (under a lock: several jobs may start at once on one host), then
# `make experiment` writes into out/models and out/results, which
# experiments.sh fetches back (--return). TRACE, when given, is a trace file
# shipped beside the source.
set -eu
obj=$1 seed=$2 trace=${3:-} fit_args=${4:-} ppo_args=${5:-}
baselines=${6:-optimal,noop,hpa50,hpa80,random}
sum=$(cksum <in/src.tgz | cut -d' ' -f1)
src=src-$sum
(
	flock 9
	if [ ! -f "$src/.built" ]; then
		rm -rf "$src.tmp"
		mkdir -p "$src.tmp"
		tar -xzf in/src.tgz -C "$src.tmp"
		(cd "$src.tmp" && make -s -j"$(nproc)" all >&2)
		rm -rf "$src"
		mv "$src.tmp" "$src"
		touch "$src/.built"
	fi
) 9>.build.lock
mkdir -p out
cd "$src"
exec make --no-print-directory -s experiment OBJ="$obj" SEED="$seed" \
	MODELS=../out/models RESULTS=../out/results ${trace:+TRACE=../$trace} \
	FIT_ARGS="$fit_args" PPO_ARGS="$ppo_args" BASELINES="$baselines"
