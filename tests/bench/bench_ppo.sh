#!/bin/sh
# bench_ppo.sh - ppo-train speed with the published delay hyper-parameters
# ([64]x4 tanh, n_steps 1024, batch 64, 10 epochs, lr 1e-4, gamma 0):
#   - timesteps/s on one thread with a free environment (the built-in
#     bandit) and on the delay objective's simulator; two threads vs one;
#   - wall time from start to a normalised score of 0.98 on delay;
#   - the minibatch matrix work with the compiler-vectorised kernel vs
#     OpenBLAS (libopenblas-dev), and the whole trainer built both ways.
# References: stable-baselines3 2.3.2 on this machine (DESIGN.md section 6;
# no SB3 here): ~1,550 timesteps/s free env, ~350 on the published
# simulator, ~58 s to the optimum of delay. Figures are medians of 3 runs;
# the machine may be shared, so they are noisy (notes on stderr).
set -u
: "${MESHRL_BIN:?run through tests/bench/run.sh}"
ROOT=${MESHRL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
KTH=${KTH_TRACES:-$ROOT/../shared/traces/kth}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PPO="$MESHRL_BIN/ppo-train"
STEPS=${PPO_BENCH_STEPS:-102400}
PUB="--net 64x4 --act tanh --n-steps 1024 --nenvs 1 --batch 64 --epochs 10 --lr 1e-4 --gamma 0"

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# rate CMD...: timesteps/s from ppo-train's summary line (wall clock of the
# training loop, start-up excluded)
rate() {
	"$@" 2>&1 >/dev/null | sed -n 's/.* in \([0-9.]*\) s (\([0-9]*\)\/s).*/\2/p' | tail -n 1
}
rates() { for i in 1 2 3; do rate "$@"; done | median; }

echo "ppo: machine load $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: figures are noisy)" >&2
free1=$(rates "$PPO" --env bandit $PUB --timesteps "$STEPS" --threads 1 -o "$T/p" --eval-every 1000 --checkpoint-every 0)
echo "ppo_timesteps_per_s_free_env_1thread,$free1,timesteps/s,1550,$(echo "$free1 / 1550" | bc -l | xargs printf %.1f)"

sim_ok=0
if [ -f "$KTH/data_TNSM_2024.csv" ]; then
	OBJ="$ROOT/pipelines/objectives/delay.obj"
	if "$MESHRL_BIN/rf-fit" fit $("$MESHRL_BIN/sim-env" describe "$OBJ" --model-args) \
		-o "$T/model.msgpack" "$KTH/data_TNSM_2024.csv" >/dev/null 2>&1; then
		sim_ok=1
	fi
else
	echo "ppo: $KTH/data_TNSM_2024.csv absent: delay objective figures skipped" >&2
fi
if [ $sim_ok = 1 ]; then
	D="$OBJ --model $T/model.msgpack $PUB -o $T/p --checkpoint-every 0"
	s1=$(rates "$PPO" $D --timesteps "$STEPS" --threads 1 --eval-every 1000)
	s2=$(rates "$PPO" $D --timesteps "$STEPS" --threads 2 --eval-every 1000)
	echo "ppo_timesteps_per_s_delay_1thread,$s1,timesteps/s,350,$(echo "$s1 / 350" | bc -l | xargs printf %.1f)"
	echo "ppo_timesteps_per_s_delay_2threads,$s2,timesteps/s,$s1,$(echo "$s2 / $s1" | bc -l | xargs printf %.2f)"
	# wall time from start (process start, objective and model load, optimum,
	# random baseline) to score 0.98; one evaluation episode per update
	for s in 1 2 3; do
		t0=$(date +%s.%N)
		"$PPO" $D --target-score 0.98 --seed $s --threads 1 -q || exit 1
		t1=$(date +%s.%N)
		echo "$t1 - $t0" | bc -l
	done | median > "$T/w"
	w=$(cat "$T/w")
	echo "ppo_seconds_to_score_0.98_delay,$(printf %.3f "$w"),s,58,$(echo "$w / 58" | bc -l | xargs printf %.4f)"
fi

# compiler-vectorised kernel vs OpenBLAS on the same minibatch work
if [ -f /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ] || [ -f /usr/include/cblas.h ]; then
	SRC="$ROOT/tools/ppo-train/mlp.c $ROOT/tools/lib/err.c $ROOT/tools/lib/rng.c"
	FL="-std=c11 -O3 -march=native -ffp-contract=fast -fno-math-errno -D_GNU_SOURCE -I$ROOT/tools/lib -I$ROOT/tools/ppo-train"
	cc $FL -o "$T/mm_cc" "$ROOT/tests/bench/ppo_matmul.c" $SRC -lmsgpackc -lm &&
	cc $FL -DMR_PPO_BLAS -I/usr/include/x86_64-linux-gnu/openblas-pthread \
		-o "$T/mm_blas" "$ROOT/tests/bench/ppo_matmul.c" $SRC -lopenblas -lmsgpackc -lm || {
		echo "ppo: cannot build the OpenBLAS comparison" >&2; exit 0; }
	for b in 64 32; do
		gc=$(for i in 1 2 3; do "$T/mm_cc" $b; done | cut -d, -f2 | median)
		gb=$(for i in 1 2 3; do OPENBLAS_NUM_THREADS=1 "$T/mm_blas" $b; done | cut -d, -f2 | median)
		echo "ppo_minibatch_gflops_compiler_batch$b,$gc,GFLOP/s,$gb,$(echo "$gc / $gb" | bc -l | xargs printf %.2f)"
	done
	# the whole trainer with each backend (free env, one thread)
	make -s -C "$ROOT" BUILD="$T/blas" OPT="-O3 -march=native -DMR_PPO_BLAS -I/usr/include/x86_64-linux-gnu/openblas-pthread" \
		LDLIBS="-lopenblas -lcsv -lmsgpackc -lcurl -lmicrohttpd -lsqlite3 -lm" \
		"$T/blas/bin/ppo-train" >/dev/null 2>&1 || { echo "ppo: BLAS build failed" >&2; exit 0; }
	fb=$(OPENBLAS_NUM_THREADS=1 rates "$T/blas/bin/ppo-train" --env bandit $PUB --timesteps "$STEPS" --threads 1 -o "$T/p" --eval-every 1000 --checkpoint-every 0)
	echo "ppo_timesteps_per_s_free_env_openblas,$fb,timesteps/s,$free1,$(echo "$fb / $free1" | bc -l | xargs printf %.2f)"
else
	echo "ppo: libopenblas-dev absent: BLAS comparison skipped" >&2
fi
