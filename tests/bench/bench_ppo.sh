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
# References: stable-baselines3 2.3.2 on this machine (DESIGN.md section 6;
# no SB3 here): ~1,550 timesteps/s free env, ~350 on the published
# simulator, ~58 s to the optimum of delay. Figures are medians of 3 runs
# (1- and 2-thread runs interleaved); the machine may be shared, so the
# load average is printed with them (stderr).
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

# run CMD...: "wall_rate cpu_rate" from ppo-train's summary line (the
# training loop only: start-up excluded)
run() {
	"$@" 2>&1 >/dev/null | sed -n 's/.* in [0-9.]* s (\([0-9]*\)\/s; [0-9.]* CPU-s, \([0-9]*\)\/CPU-s).*/\1 \2/p' | tail -n 1
}
# to_score CMD...: seconds from process start to the end of the run that
# stops at score 0.98 (objective and model load, optimum, references,
# training, evaluations, policy write)
to_score() {
	t0=$(date +%s.%N)
	"$@" --target-score 0.98 -q >/dev/null 2>&1 || { echo nan; return; }
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
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
echo "ppo_timesteps_per_s_delay_1thread,$s1,timesteps/s,350,$(ratio "$s1" 350 1)"
echo "ppo_timesteps_per_cpu_s_delay_1thread,$c1,timesteps/CPU-s,350,$(ratio "$c1" 350 1)"
echo "ppo_timesteps_per_s_delay_2threads,$s2,timesteps/s,$s1,$(ratio "$s2" "$s1")"
sj=$(for i in 1 2 3; do run "$PPO" $D --heads joint --timesteps "$STEPS" --threads 1 \
	--eval-every 1000; done | cut -d' ' -f1 | median)
echo "ppo_timesteps_per_s_delay_1thread_joint_head,$sj,timesteps/s,$s1,$(ratio "$sj" "$s1")"
w=$(for s in 1 2 3; do to_score "$PPO" $D --seed $s --threads 1; done | median)
echo "ppo_seconds_to_score_0.98_delay,$(printf %.3f "$w"),s,58,$(ratio "$w" 58 4)"
w=$(for s in 1 2 3; do to_score "$PPO" $D --heads joint --seed $s --threads 1; done | median)
echo "ppo_seconds_to_score_0.98_delay_joint_head,$(printf %.3f "$w"),s,58,$(ratio "$w" 58 4)"
if [ -f "$KTH/data_TNSM_2024.csv" ] &&
	"$MESHRL_BIN/rf-fit" fit -q $("$MESHRL_BIN/sim-env" describe "$OBJ" --model-args) \
		-o "$T/kth.msgpack" "$KTH/data_TNSM_2024.csv" >/dev/null 2>&1; then
	# the objective's own settings (a joint head, lr 3e-4; with the
	# published 1e-4 8 of 20 runs stop short on this trace, see delay.obj)
	K="$OBJ --model $T/kth.msgpack -o $T/p --checkpoint-every 0"
	w=$(for s in 1 2 3; do to_score "$PPO" $K --seed $s --threads 1 --timesteps 204800; done | median)
	echo "ppo_seconds_to_score_0.98_delay_kth,$(printf %.3f "$w"),s,58,$(ratio "$w" 58 4)"
else
	echo "ppo: $KTH/data_TNSM_2024.csv absent: the KTH-model row is skipped" >&2
fi
free1=$(for i in 1 2 3; do run "$PPO" --env bandit $PUB --timesteps "$STEPS" --threads 1 \
	-o "$T/p" --eval-every 1000 --checkpoint-every 0; done | cut -d' ' -f1 | median)
echo "ppo_timesteps_per_s_free_env_1thread,$free1,timesteps/s,1550,$(ratio "$free1" 1550 1)"

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
		echo "ppo_minibatch_gflops_compiler_batch$b,$gc,GFLOP/s,$gb,$(ratio "$gc" "$gb")"
	done
	# the whole trainer with each backend (delay, one thread)
	make -s -C "$ROOT" BUILD="$T/blas" OPT="-O3 -march=native -DMR_PPO_BLAS -I$CBLAS" \
		LDLIBS="-lopenblas -lcsv -lmsgpackc -lcurl -lmicrohttpd -lsqlite3 -lm" \
		"$T/blas/bin/ppo-train" >/dev/null 2>&1 || { echo "ppo: BLAS build failed" >&2; exit 1; }
	fb=$(for i in 1 2 3; do OPENBLAS_NUM_THREADS=1 run "$T/blas/bin/ppo-train" $D \
		--timesteps "$STEPS" --threads 1 --eval-every 1000; done | cut -d' ' -f1 | median)
	echo "ppo_timesteps_per_s_delay_openblas,$fb,timesteps/s,$s1,$(ratio "$fb" "$s1")"
else
	echo "ppo: libopenblas-dev absent: BLAS comparison skipped" >&2
fi
echo "ppo: load average after: $(load)" >&2
