#!/bin/sh
# bench_ppo.sh - ppo-train speed with the published delay hyper-parameters
# ([64]x4 tanh, n_steps 1024, 1 environment, batch 64, 10 epochs, lr 1e-4,
# gamma 0, one head per action component), on the delay objective's
# simulator with the model fitted on the shipped traces/compute.csv (and on
# the published KTH trace when present):
#   - timesteps/s on one thread (wall, and per CPU-second) and on two;
#   - wall time from start to a normalised score of 0.98 on delay, with
#     the published heads and with our default (a joint head);
#   - the same with a free environment (the built-in bandit);
#   - the minibatch matrix work with the compiler-vectorised kernel vs
#     OpenBLAS (libopenblas-dev), and the whole trainer built both ways.
# References (sixth column reference_kind): stable-baselines3 2.3.2 figures
# recorded earlier, their sources in tests/bench/RECORDED.md ("recorded"):
# ~350 timesteps/s on the published simulator, ~58 s and ~20k timesteps to
# the optimum of delay, ~500 timesteps/s with a free environment on this
# machine kind; the free-environment one is measured side by side
# (tests/bench/ppo_sb3.py, "measured") when python3 can import
# stable_baselines3. Our own 1-thread figure is the measured reference of
# the 2-thread, joint-head and OpenBLAS lines, OpenBLAS that of our kernel.
# A time-to-score figure whose run stopped short of the score reads
# "not reached in N s" (never a time as if reached). The KTH-trace figure
# is skipped (note on stderr) without ../shared/traces/kth. Figures are
# medians of 3 runs (1- and 2-thread runs interleaved); the machine may be
# shared, so the load average is printed with them (stderr).
set -u
: "${MESHRL_BIN:?run through tests/bench/run.sh}"
ROOT=${MESHRL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
KTH=${KTH_TRACES:-$ROOT/../shared/traces/kth}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PPO="$MESHRL_BIN/ppo-train"
STEPS=${PPO_BENCH_STEPS:-102400}
PUB="--net 64x4 --act tanh --n-steps 1024 --nenvs 1 --batch 64 --epochs 10 --lr 1e-4 --gamma 0 --heads factored"
OBJ="$ROOT/pipelines/objectives/delay.obj"

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf "%.${3:-2}f"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
status=0
# The recorded stable-baselines3 figures (tests/bench/RECORDED.md).
SB3_SIM_RATE=350 SB3_FREE_RATE=500 SB3_SECONDS=58 SB3_TIMESTEPS=20000

# run CMD...: "wall_rate cpu_rate" from ppo-train's summary line (the
# training loop only: start-up excluded)
run() {
	"$@" 2>&1 >/dev/null | sed -n 's/.* in [0-9.]* s (\([0-9]*\)\/s; [0-9.]* CPU-s, \([0-9]*\)\/CPU-s).*/\1 \2/p' | tail -n 1
}
# to_score CMD...: one line "reached|short SECONDS TIMESTEPS": seconds from
# process start to the end of the run that stops at score 0.98 (objective
# and model load, optimum, references, training, evaluations, policy
# write), and the timesteps trained. ppo-train's exit 1 = the budget ran
# out short of the score; any other failure is "failed STATUS".
to_score() {
	rm -f "$T/score.csv"
	t0=$(date +%s.%N)
	"$@" --target-score 0.98 --curve "$T/score.csv" -q >/dev/null 2>"$T/score.err"
	rc=$?
	t1=$(date +%s.%N)
	case $rc in
	0) how=reached ;;
	1) how=short ;;
	*) echo "failed $rc"; sed 's/^/ppo:   /' "$T/score.err" >&2; return ;;
	esac
	echo "$how $(echo "$t1 - $t0" | bc -l) $(tail -n 1 "$T/score.csv" | cut -d, -f1)"
}
# score_lines NAME FILE: the seconds and timesteps figures from FILE's 3
# to_score lines, each against its recorded stable-baselines3 reference.
# Each median counts a run that stopped short as slower than any that
# reached; when the median run stopped short, the figure says "not
# reached" (and has no ratio).
score_lines() {
	echo "ppo: $1 runs (how, s, timesteps): $(tr '\n' ';' <"$2")" >&2
	if grep -q '^failed' "$2"; then
		echo "ppo: $1: a run failed; no figure" >&2
		status=1
		return
	fi
	nshort=$(grep -c '^short' "$2")
	# reached before short, then by the figure: the median is the 2nd
	set -- "$1" $(sort -k1,1 -k2,2g "$2" | sed -n 2p) $(sort -k1,1 -k3,3g "$2" | sed -n 2p)
	if [ "$2" = reached ]; then
		echo "ppo_seconds_to_score_0.98_$1,$(printf %.3f "$3"),s,$SB3_SECONDS,$(ratio "$3" $SB3_SECONDS 4),recorded"
	else
		echo "ppo_seconds_to_score_0.98_$1,not reached in $(printf %.3f "$3") s ($nshort of 3 runs),s,$SB3_SECONDS,,recorded"
	fi
	if [ "$5" = reached ]; then
		echo "ppo_timesteps_to_score_0.98_$1,$7,timesteps,$SB3_TIMESTEPS,$(ratio "$7" $SB3_TIMESTEPS 3),recorded"
	else
		echo "ppo_timesteps_to_score_0.98_$1,not reached in $7 timesteps ($nshort of 3 runs),timesteps,$SB3_TIMESTEPS,,recorded"
	fi
}

M="$T/delay.msgpack"
if ! "$MESHRL_BIN/rf-fit" fit -q $("$MESHRL_BIN/sim-env" describe "$OBJ" --model-args) \
	-o "$M" "$ROOT/traces/compute.csv" >/dev/null 2>&1; then
	echo "ppo: cannot fit the delay model on traces/compute.csv" >&2
	exit 1
fi
D="$OBJ --model $M $PUB -o $T/p --checkpoint-every 0"
echo "ppo: load average before: $(load)" >&2
: >"$T/r1"; : >"$T/r2"
for i in 1 2 3; do
	run "$PPO" $D --timesteps "$STEPS" --threads 1 --eval-every 1000 >>"$T/r1"
	run "$PPO" $D --timesteps "$STEPS" --threads 2 --eval-every 1000 >>"$T/r2"
done
s1=$(cut -d' ' -f1 "$T/r1" | median)
c1=$(cut -d' ' -f2 "$T/r1" | median)
s2=$(cut -d' ' -f1 "$T/r2" | median)
echo "ppo: 1 thread $(tr '\n' ' ' <"$T/r1")| 2 threads $(tr '\n' ' ' <"$T/r2")(wall, per CPU-s); load $(load)" >&2
echo "ppo_timesteps_per_s_delay_1thread,$s1,timesteps/s,$SB3_SIM_RATE,$(ratio "$s1" $SB3_SIM_RATE 1),recorded"
echo "ppo_timesteps_per_cpu_s_delay_1thread,$c1,timesteps/CPU-s,$SB3_SIM_RATE,$(ratio "$c1" $SB3_SIM_RATE 1),recorded"
echo "ppo: the delay references: stable-baselines3 on the published simulator, recorded (tests/bench/RECORDED.md), not measured here" >&2
echo "ppo_timesteps_per_s_delay_2threads,$s2,timesteps/s,$s1,$(ratio "$s2" "$s1"),measured"
sj=$(for i in 1 2 3; do run "$PPO" $D --heads joint --timesteps "$STEPS" --threads 1 \
	--eval-every 1000; done | cut -d' ' -f1 | median)
echo "ppo_timesteps_per_s_delay_1thread_joint_head,$sj,timesteps/s,$s1,$(ratio "$sj" "$s1"),measured"
for s in 1 2 3; do to_score "$PPO" $D --seed $s --threads 1; done >"$T/s_delay"
score_lines delay "$T/s_delay"
for s in 1 2 3; do to_score "$PPO" $D --heads joint --seed $s --threads 1; done >"$T/s_joint"
score_lines delay_joint_head "$T/s_joint"
if [ -f "$KTH/data_TNSM_2024.csv" ] &&
	"$MESHRL_BIN/rf-fit" fit -q $("$MESHRL_BIN/sim-env" describe "$OBJ" --model-args) \
		-o "$T/kth.msgpack" "$KTH/data_TNSM_2024.csv" >/dev/null 2>&1; then
	# the objective's own settings (a joint head, lr 3e-4; with the
	# published 1e-4 8 of 20 runs stop short on this trace, see delay.obj)
	K="$OBJ --model $T/kth.msgpack -o $T/p --checkpoint-every 0"
	for s in 1 2 3; do
		to_score "$PPO" $K --seed $s --threads 1 --timesteps 204800
	done >"$T/s_kth"
	score_lines delay_kth "$T/s_kth"
else
	echo "ppo: skipped ppo_*_to_score_0.98_delay_kth: $KTH/data_TNSM_2024.csv absent (the published trace; no substitute)" >&2
fi
# the free environment, beside stable-baselines3 when it is importable
SB3_STEPS=${SB3_BENCH_STEPS:-10240}
sb3=
if "${PY:-/usr/bin/python3}" -c 'import stable_baselines3' 2>/dev/null; then
	: >"$T/sb3"
	for i in 1 2 3; do
		"${PY:-/usr/bin/python3}" "$ROOT/tests/bench/ppo_sb3.py" "$SB3_STEPS" $i >>"$T/sb3" ||
			{ echo "ppo: tests/bench/ppo_sb3.py failed" >&2; status=1; }
	done
	sb3=$(median <"$T/sb3")
	echo "ppo: stable-baselines3 free environment, $SB3_STEPS timesteps: $(tr '\n' ' ' <"$T/sb3")timesteps/s" >&2
fi
free1=$(for i in 1 2 3; do run "$PPO" --env bandit $PUB --timesteps "$STEPS" --threads 1 \
	-o "$T/p" --eval-every 1000 --checkpoint-every 0; done | cut -d' ' -f1 | median)
if [ -n "$sb3" ]; then
	echo "ppo_timesteps_per_s_free_env_1thread,$free1,timesteps/s,$sb3,$(ratio "$free1" "$sb3" 1),measured"
else
	echo "ppo_timesteps_per_s_free_env_1thread,$free1,timesteps/s,$SB3_FREE_RATE,$(ratio "$free1" $SB3_FREE_RATE 1),recorded"
	echo "ppo: no stable_baselines3 in python3: the free-environment reference is the recorded ~500 timesteps/s of this machine kind (2026-12-02; ~1,500 on another machine), tests/bench/RECORDED.md" >&2
fi

# compiler-vectorised kernel vs OpenBLAS on the same minibatch work
CBLAS=/usr/include/x86_64-linux-gnu/openblas-pthread
if [ -f "$CBLAS/cblas.h" ]; then
	SRC="$ROOT/tools/policy/mlp.c $ROOT/tools/lib/err.c $ROOT/tools/lib/rng.c"
	FL="-std=c11 -O3 -march=native -ffp-contract=fast -fno-math-errno -D_GNU_SOURCE -I$ROOT/tools/lib -I$ROOT/tools/policy/include"
	cc $FL -o "$T/mm_cc" "$ROOT/tests/bench/ppo_matmul.c" $SRC -lmsgpackc -lm &&
	cc $FL -DMR_PPO_BLAS -I"$CBLAS" \
		-o "$T/mm_blas" "$ROOT/tests/bench/ppo_matmul.c" $SRC -lopenblas -lmsgpackc -lm || {
		echo "ppo: cannot build the OpenBLAS comparison" >&2; exit 1; }
	for b in 64 32; do
		gc=$(for i in 1 2 3; do "$T/mm_cc" $b; done | cut -d, -f2 | median)
		gb=$(for i in 1 2 3; do OPENBLAS_NUM_THREADS=1 "$T/mm_blas" $b; done | cut -d, -f2 | median)
		echo "ppo_minibatch_gflops_compiler_batch$b,$gc,GFLOP/s,$gb,$(ratio "$gc" "$gb"),measured"
	done
	# the whole trainer with each backend (delay, one thread)
	make -s -C "$ROOT" BUILD="$T/blas" OPT="-O3 -march=native -DMR_PPO_BLAS -I$CBLAS" \
		LDLIBS="-lopenblas -lcsv -lmsgpackc -lcurl -lmicrohttpd -lsqlite3 -lm" \
		"$T/blas/bin/ppo-train" >/dev/null 2>&1 || { echo "ppo: BLAS build failed" >&2; exit 1; }
	fb=$(for i in 1 2 3; do OPENBLAS_NUM_THREADS=1 run "$T/blas/bin/ppo-train" $D \
		--timesteps "$STEPS" --threads 1 --eval-every 1000; done | cut -d' ' -f1 | median)
	echo "ppo_timesteps_per_s_delay_openblas,$fb,timesteps/s,$s1,$(ratio "$fb" "$s1"),measured"
else
	echo "ppo: libopenblas-dev absent: BLAS comparison skipped" >&2
fi
echo "ppo: load average after: $(load)" >&2
exit $status
