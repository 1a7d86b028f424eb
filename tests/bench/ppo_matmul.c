/* ppo_matmul.c - the matrix work of one PPO minibatch at the published
 * delay sizes ([64]x4 actor and critic, batch 64, 11 logits), through
 * mlp.c's layer functions: built once with the compiler-vectorised kernel
 * and once with -DMR_PPO_BLAS (OpenBLAS), by tests/bench/bench_ppo.sh.
 * Prints "backend,GFLOP/s,us per minibatch", timed in this thread's CPU
 * time so that a busy shared machine distorts the figure less. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mlp.h"

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	int B = argc > 1 ? atoi(argv[1]) : 64, reps = 20000;
	int sizes[] = {1, 64, 64, 64, 64, 11}, nl = 5;
	mr_mlp m;
	size_t next = 0;
	mlp_layout(&m, nl, sizes, MR_ACT_TANH, &next);
	float *P = calloc(next, 4), *WT = calloc(next, 4), *G = calloc(next, 4);
	mr_rng r;
	mr_rng_seed(&r, 1, 0);
	mlp_init(&m, P, &r, 1.4, 0.01);
	mlp_sync_wt(&m, P, WT);
	float *acts[8], *d = calloc((size_t)B * 64, 4), *s = calloc((size_t)B * 64, 4);
	float *ws = calloc(64 * 64, 4);
	acts[0] = calloc((size_t)B, 4);
	for (int i = 0; i < B; i++)
		acts[0][i] = (float)i / B;
	for (int l = 1; l <= nl; l++)
		acts[l] = calloc((size_t)B * sizes[l], 4);
	double flops = 0;
	for (int l = 0; l < nl; l++) /* forward, dW, dX (not for layer 0) */
		flops += 2.0 * B * sizes[l] * sizes[l + 1] * (l ? 3 : 2);
	double t0 = cpu_now();
	for (int k = 0; k < reps; k++) {
		mlp_forward(&m, P, WT, acts, B);
		for (int i = 0; i < B * 11; i++)
			d[i] = acts[nl][i] * 1e-3f;
		mlp_backward(&m, P, WT, G, acts, B, nl, 0, 0, d, s, ws, NULL);
	}
	double t = cpu_now() - t0;
	printf("%s,%.2f,%.3f,%g\n", mr_matmul_backend(), flops * reps / t / 1e9,
	       t / reps * 1e6, (double)G[3]);
	return 0;
}
