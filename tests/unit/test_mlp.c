/* test_mlp.c - the MLP against a float64 reference: the matrix kernels
 * against naive loops, the fast tanh against libm, the forward pass against
 * a plain double-precision forward, and the backward pass against central
 * finite differences of that double forward (so the check does not depend
 * on float32 rounding). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mlp.h"

static double urand(mr_rng *r)
{
	return 2 * mr_rng_uniform(r) - 1;
}

static void test_kernels(void)
{
	mr_rng r;
	mr_rng_seed(&r, 7, 0);
	int shapes[][3] = {{1, 1, 1},  {5, 16, 3},  {13, 37, 9},
			   {64, 64, 64}, {7, 11, 64}, {33, 80, 5}};
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
		float *A = calloc((size_t)M * K, 4), *B = calloc((size_t)K * N, 4);
		float *Bt = calloc((size_t)K * N, 4);
		float *C1 = calloc((size_t)M * N, 4), *C2 = calloc((size_t)M * N, 4);
		float *C3 = calloc((size_t)M * N, 4);
		double *ref = calloc((size_t)M * N, 8), *reft = calloc((size_t)M * N, 8);
		for (int i = 0; i < M * K; i++)
			A[i] = (float)urand(&r);
		for (int i = 0; i < K * N; i++)
			B[i] = (float)urand(&r);
		for (int k = 0; k < K; k++)
			for (int n = 0; n < N; n++)
				Bt[n * K + k] = B[k * N + n];
		for (int i = 0; i < M * N; i++)
			C1[i] = C2[i] = C3[i] = (float)(ref[i] = reft[i] = urand(&r));
		/* C += A.B with A row-major, A as a transposed view (A^T
		 * stored (K,M)), and the dot-product form */
		float *At = calloc((size_t)M * K, 4);
		for (int m = 0; m < M; m++)
			for (int k = 0; k < K; k++)
				At[k * M + m] = A[m * K + k];
		mr_matmul_acc(C1, N, A, K, 1, B, N, M, N, K);
		mr_matmul_acc(C2, N, At, 1, M, B, N, M, N, K);
		mr_matmul_nt_acc(C3, N, A, K, Bt, K, M, N, K);
		for (int m = 0; m < M; m++)
			for (int n = 0; n < N; n++)
				for (int k = 0; k < K; k++)
					ref[m * N + n] += (double)A[m * K + k] *
							  B[k * N + n];
		double e1 = 0, e2 = 0, e3 = 0;
		for (int i = 0; i < M * N; i++) {
			e1 = fmax(e1, fabs(C1[i] - ref[i]));
			e2 = fmax(e2, fabs(C2[i] - ref[i]));
			e3 = fmax(e3, fabs(C3[i] - ref[i]));
		}
		double tol = 1e-5 * (K + 1);
		CHECK(e1 < tol && e2 < tol && e3 < tol,
		      "matmul %dx%dx%d (%s) matches float64: errors %.2g %.2g "
		      "%.2g", M, N, K, mr_matmul_backend(), e1, e2, e3);
		free(A), free(B), free(Bt), free(C1), free(C2), free(C3);
		free(ref), free(reft), free(At);
	}
}

/* The kernel's init and epilogue forms against the plain loops: C = A.B,
 * C = act(bias + A.B), C = (A.B) * act'(y), for every row count 1..13 (each
 * tile height) and widths with and without leftovers. */
static void test_kernel_ops(void)
{
	mr_rng r;
	mr_rng_seed(&r, 9, 0);
	int widths[] = {16, 64, 70, 5, 25, 625}, worst_ok = 1;
	double worst = 0;
	for (int M = 1; M <= 13; M++)
		for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
			int N = widths[wi], K = 9;
			float *A = calloc((size_t)M * K, 4), *B = calloc((size_t)K * N, 4);
			float *Bt = calloc((size_t)K * N, 4), *bias = calloc((size_t)N, 4);
			float *y = calloc((size_t)M * N, 4), *C = calloc((size_t)M * N, 4);
			for (int i = 0; i < M * K; i++)
				A[i] = (float)urand(&r);
			for (int i = 0; i < K * N; i++)
				B[i] = (float)urand(&r);
			for (int k = 0; k < K; k++)
				for (int n = 0; n < N; n++)
					Bt[n * K + k] = B[k * N + n];
			for (int i = 0; i < N; i++)
				bias[i] = (float)urand(&r);
			for (int i = 0; i < M * N; i++)
				y[i] = (float)urand(&r);
			mr_mm_op ops[5] = {
				{.init = MR_MM_SET},
				{.init = MR_MM_BIAS, .bias = bias, .post = MR_POST_ACT,
				 .act = MR_ACT_TANH},
				{.init = MR_MM_BIAS, .bias = bias, .post = MR_POST_ACT,
				 .act = MR_ACT_RELU},
				{.init = MR_MM_SET, .post = MR_POST_DACT,
				 .act = MR_ACT_TANH, .y = y, .ldy = N},
				{.init = MR_MM_SET, .post = MR_POST_DACT,
				 .act = MR_ACT_RELU, .y = y, .ldy = N}};
			for (int o = 0; o < 5; o++)
				for (int nt = 0; nt < 2; nt++) {
					for (int i = 0; i < M * N; i++)
						C[i] = 1e30f; /* must be overwritten */
					if (nt)
						mr_matmul_nt(C, N, A, K, Bt, K, M, N, K,
							     &ops[o]);
					else
						mr_matmul(C, N, A, K, 1, B, N, M, N, K,
							  &ops[o]);
					for (int m = 0; m < M; m++)
						for (int n = 0; n < N; n++) {
							double s = ops[o].init == MR_MM_BIAS
									   ? bias[n] : 0;
							for (int k = 0; k < K; k++)
								s += (double)A[m * K + k] *
								     B[k * N + n];
							double yv = y[m * N + n];
							if (o == 1)
								s = tanh(s);
							else if (o == 2)
								s = s > 0 ? s : 0;
							else if (o == 3)
								s *= 1 - yv * yv;
							else if (o == 4)
								s = yv > 0 ? s : 0;
							double e = fabs(C[m * N + n] - s);
							worst = fmax(worst, e);
							worst_ok &= e < 1e-5;
						}
				}
			free(A), free(B), free(Bt), free(bias), free(y), free(C);
		}
	CHECK(worst_ok, "kernel init/epilogue forms (set, bias+tanh, bias+relu, "
	      "tanh', relu') match float64 for 1..13 rows: worst %.2g", worst);
}

/* The transposed copy, whole and in parts (threads), against a loop. */
static void test_sync_wt(void)
{
	int sizes[] = {5, 64, 64, 17, 40, 11, 1}, nl = 6;
	mr_mlp m;
	size_t next = 0;
	mlp_layout(&m, nl, sizes, MR_ACT_TANH, &next);
	float *P = calloc(next, 4), *W1 = calloc(next, 4), *W3 = calloc(next, 4);
	for (size_t i = 0; i < next; i++)
		P[i] = (float)i;
	mlp_sync_wt(&m, P, W1);
	for (int part = 0; part < 3; part++)
		mlp_sync_wt_rows(&m, P, W3, part, 3);
	int ok = 1;
	for (int l = 0; l < nl; l++) {
		int I = sizes[l], O = sizes[l + 1];
		for (int i = 0; i < I; i++)
			for (int o = 0; o < O; o++) {
				float want = P[m.w_off[l] + (size_t)i * O + o];
				ok &= W1[m.w_off[l] + (size_t)o * I + i] == want;
				ok &= W3[m.w_off[l] + (size_t)o * I + i] == want;
			}
		int covered = 0, prev = 0;
		for (int part = 0; part < 3; part++) {
			int o0, o1;
			mlp_part_cols(O, part, 3, &o0, &o1);
			ok &= o0 == prev && o1 >= o0 &&
			      ((o1 - o0) % 8 == 0 || part == 2);
			covered += o1 - o0;
			prev = o1;
		}
		ok &= covered == O;
	}
	CHECK(ok, "transposed weights (8x8 register blocks, edges, 3 parts) "
	      "equal a plain transpose; parts tile every layer");
	free(P), free(W1), free(W3);
}

static void test_tanh(void)
{
	double worst = 0;
	for (double x = -20; x <= 20; x += 1e-4) {
		double d = fabs(mr_tanhf((float)x) - tanh((double)(float)x));
		worst = fmax(worst, d);
	}
	CHECK(worst < 3e-7, "fast tanh within 3e-7 of libm on [-20, 20]: %.3g",
	      worst);
	float v[19];
	for (int i = 0; i < 19; i++)
		v[i] = (float)(i - 9) * 0.7f;
	act_forward(v, 19, MR_ACT_TANH); /* vector body + scalar tail */
	int same = 1;
	for (int i = 0; i < 19; i++)
		same &= v[i] == mr_tanhf((float)(i - 9) * 0.7f);
	CHECK(same, "vectorised and scalar tanh agree bit for bit");
}

/* Double reference forward of m on x (B, in); returns sum(out * R). */
static double ref_loss(const mr_mlp *m, const double *P, const double *x,
		       int B, const double *R)
{
	double a[64 * 40], b[64 * 40];
	memcpy(a, x, sizeof(double) * B * m->sizes[0]);
	for (int l = 0; l < m->nlayers; l++) {
		int I = m->sizes[l], O = m->sizes[l + 1];
		for (int r = 0; r < B; r++)
			for (int o = 0; o < O; o++) {
				double s = P[m->b_off[l] + o];
				for (int i = 0; i < I; i++)
					s += a[r * I + i] *
					     P[m->w_off[l] + (size_t)i * O + o];
				b[r * O + o] = l < m->nlayers - 1
						       ? (m->act == MR_ACT_TANH
								  ? tanh(s)
								  : fmax(s, 0))
						       : s;
			}
		memcpy(a, b, sizeof(double) * B * O);
	}
	double L = 0;
	for (int i = 0; i < B * m->sizes[m->nlayers]; i++)
		L += a[i] * R[i];
	return L;
}

static void gradcheck(mr_act act, const int *sizes, int nl, int B)
{
	mr_mlp m;
	size_t next = 0;
	mlp_layout(&m, nl, sizes, act, &next);
	mr_rng r;
	mr_rng_seed(&r, 11, (uint64_t)nl);
	float *P = calloc(next, 4), *WT = calloc(next, 4), *G = calloc(next, 4);
	double *Pd = calloc(next, 8);
	mlp_init(&m, P, &r, 1.2, 1.0);
	for (int l = 0; l < nl; l++) /* non-zero biases */
		for (int o = 0; o < sizes[l + 1]; o++)
			P[m.b_off[l] + o] = (float)(0.3 * urand(&r));
	for (size_t i = 0; i < next; i++)
		Pd[i] = P[i];
	mlp_sync_wt(&m, P, WT);
	int in = sizes[0], out = sizes[nl], mw = mlp_max_width(&m);
	float *x = calloc((size_t)B * in, 4);
	double *xd = calloc((size_t)B * in, 8), *R = calloc((size_t)B * out, 8);
	for (int i = 0; i < B * in; i++)
		xd[i] = x[i] = (float)urand(&r);
	for (int i = 0; i < B * out; i++)
		R[i] = urand(&r);
	float *acts[MR_MLP_MAX_LAYERS + 1];
	acts[0] = x;
	for (int l = 1; l <= nl; l++)
		acts[l] = calloc((size_t)B * sizes[l], 4);
	mlp_forward(&m, P, WT, acts, B);
	/* forward matches the double reference */
	double Lf = 0;
	for (int i = 0; i < B * out; i++)
		Lf += acts[nl][i] * R[i];
	double Lr = ref_loss(&m, Pd, xd, B, R);
	CHECK(fabs(Lf - Lr) < 1e-4 * (1 + fabs(Lr)),
	      "%s forward (%d layers) matches float64: %.7g vs %.7g",
	      act == MR_ACT_TANH ? "tanh" : "relu", nl, Lf, Lr);
	float *d = calloc((size_t)B * mw, 4), *s = calloc((size_t)B * mw, 4);
	float *ws = calloc((size_t)mw * mw, 4), *din;
	for (int i = 0; i < B * out; i++)
		d[i] = (float)R[i];
	mlp_backward(&m, P, WT, G, acts, B, nl, 0, 1, d, s, ws, &din);
	/* every parameter (weights, biases, padding excluded) */
	double worst = 0, eps = 1e-6;
	int n = 0;
	for (int l = 0; l < nl; l++) {
		size_t spans[2][2] = {
			{m.w_off[l], (size_t)sizes[l] * sizes[l + 1]},
			{m.b_off[l], (size_t)sizes[l + 1]}};
		for (int k = 0; k < 2; k++)
			for (size_t q = spans[k][0];
			     q < spans[k][0] + spans[k][1]; q++) {
				double keep = Pd[q];
				Pd[q] = keep + eps;
				double lp = ref_loss(&m, Pd, xd, B, R);
				Pd[q] = keep - eps;
				double lm = ref_loss(&m, Pd, xd, B, R);
				Pd[q] = keep;
				double fd = (lp - lm) / (2 * eps);
				double err = fabs(G[q] - fd) / (1 + fabs(fd));
				worst = fmax(worst, err);
				n++;
			}
	}
	CHECK(worst < 2e-4, "%s backward: %d parameter gradients match finite "
	      "differences (worst rel. error %.2g)",
	      act == MR_ACT_TANH ? "tanh" : "relu", n, worst);
	/* the input gradient (used by a shared trunk) */
	double wi = 0;
	for (int i = 0; i < B * in; i++) {
		double keep = xd[i];
		xd[i] = keep + eps;
		double lp = ref_loss(&m, Pd, xd, B, R);
		xd[i] = keep - eps;
		double lm = ref_loss(&m, Pd, xd, B, R);
		xd[i] = keep;
		double fd = (lp - lm) / (2 * eps);
		wi = fmax(wi, fabs(din[i] - fd) / (1 + fabs(fd)));
	}
	CHECK(wi < 2e-4, "input gradient matches finite differences (%.2g)",
	      wi);
	for (int l = 1; l <= nl; l++)
		free(acts[l]);
	free(P), free(WT), free(G), free(Pd), free(x), free(xd), free(R);
	free(d), free(s), free(ws);
}

int main(void)
{
	test_kernels();
	test_kernel_ops();
	test_sync_wt();
	test_tanh();
	/* widths that take every kernel path: 16-wide tiles, leftovers,
	 * narrow heads (11 and 1 outputs) */
	int a[] = {3, 20, 37, 11};
	gradcheck(MR_ACT_TANH, a, 3, 13);
	gradcheck(MR_ACT_RELU, a, 3, 6);
	int b[] = {2, 16, 1};
	gradcheck(MR_ACT_TANH, b, 2, 7);
	return CHECK_DONE();
}
