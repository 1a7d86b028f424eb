#!/bin/sh
# remote-run.sh OBJ SEED [TRACE [FIT_ARGS [PPO_ARGS [BASELINES]]]] - one experiment run on a remote host, in
# the GNU parallel workdir that pipelines/experiments.sh set up: in/src.tgz
# is the project's source. It is extracted and its tools built once per
# source version (under a lock: several jobs may start at once on one host),
# then `make experiment` writes into out/models and out/results, which
# experiments.sh fetches back (--return). TRACE, when given, is a trace file
# shipped beside the source.
#
# Completion: once the run succeeded, each of its two folders gets a
# .complete marker, written last: the token experiments.sh gave this
# attempt (MESHRL_RUN_TOKEN) and every file's checksum. A folder counts as
# back only when `remote-run.sh --verify DIR TOKEN` accepts it on the
# submitting side, so a fetch cut short, or a marker left by an earlier
# attempt, never passes for a finished run.
#
#   remote-run.sh --verify DIR TOKEN   exit 0 when DIR is complete
set -eu

# marker TOKEN DIR: what .complete holds for DIR as it is now.
marker() {
	echo "token $1"
	(cd "$2" && find . -type f ! -name '.complete*' -exec cksum {} + |
		LC_ALL=C sort -k 3)
}

if [ "${1:-}" = --verify ]; then
	[ -f "$2/.complete" ] && marker "$3" "$2" | cmp -s - "$2/.complete"
	exit
fi

obj=$1 seed=$2 trace=${3:-} fit_args=${4:-} ppo_args=${5:-}
baselines=${6:-optimal,noop,hpa50,hpa80,random}
token=${MESHRL_RUN_TOKEN:?set by experiments.sh}
run_dirs="out/results/$obj/seed-$seed out/models/$obj/seed-$seed"
# A marker from an earlier attempt must not outlive this one.
for d in $run_dirs; do rm -f "$d/.complete"; done
sum=$(cksum <in/src.tgz | cut -d' ' -f1)
src=src-$sum
(
	flock 9
	if [ ! -f "$src/.built" ]; then
		rm -rf "$src.tmp"
		mkdir -p "$src.tmp"
		tar -xzf in/src.tgz -C "$src.tmp"
		(cd "$src.tmp" && make -s -j"$(nproc)" experiment-tools >&2)
		rm -rf "$src"
		mv "$src.tmp" "$src"
		touch "$src/.built"
	fi
) 9>.build.lock
mkdir -p out
(
	cd "$src"
	exec make --no-print-directory -s experiment OBJ="$obj" SEED="$seed" \
		MODELS=../out/models RESULTS=../out/results ${trace:+TRACE=../$trace} \
		FIT_ARGS="$fit_args" PPO_ARGS="$ppo_args" BASELINES="$baselines"
)
for d in $run_dirs; do
	mkdir -p "$d"
	marker "$token" "$d" >"$d/.complete.tmp"
	mv "$d/.complete.tmp" "$d/.complete"
done
