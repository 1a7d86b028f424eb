/*
 * mlp.c - float32 MLP layers (forward/backward pairs) and the small matrix
 * kernel they run on.
 *
 * The kernel is written for the compiler's vectoriser (-O3 -march=native):
 * a 6x16 register tile of C, accumulated over k with broadcasts of A and
 * one contiguous row of B per step, with the bias, the activation or its
 * derivative applied as the tile is stored. At this project's sizes (64..128 wide,
 * batches of 32..128) it beats a call into OpenBLAS (see the report and
 * tests/bench/bench_ppo.sh); building with -DMR_PPO_BLAS switches to
 * cblas_sgemm for that comparison.
 *
 * Not here: allocation (callers own every buffer), threads, the loss.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"

#ifdef MR_PPO_BLAS
#include <cblas.h>
#undef I /* OpenBLAS's cblas.h pulls in <complex.h> */
#endif

/* ------------------------------------------------------------------------
 * layout
 */

void mlp_layout(mr_mlp *m, int nlayers, const int *sizes, mr_act act,
		size_t *next)
{
	memset(m, 0, sizeof *m);
	m->nlayers = nlayers;
	m->act = act;
	m->first = *next;
	for (int l = 0; l <= nlayers; l++)
		m->sizes[l] = sizes[l];
	size_t off = *next;
	for (int l = 0; l < nlayers; l++) {
		/* every array starts on a cache line (16 floats, 64 bytes;
		 * the buffers are 64-byte aligned): threads that split a
		 * layer on multiples of 16 columns never share a line */
		m->w_off[l] = off;
		off += ((size_t)sizes[l] * (size_t)sizes[l + 1] + 15) & ~(size_t)15;
		m->b_off[l] = off;
		off += ((size_t)sizes[l + 1] + 15) & ~(size_t)15;
	}
	m->nparams = off - *next;
	*next = off;
}

int mlp_max_width(const mr_mlp *m)
{
	int w = 0;
	for (int l = 0; l <= m->nlayers; l++)
		if (m->sizes[l] > w)
			w = m->sizes[l];
	return w;
}

/* ------------------------------------------------------------------------
 * the kernel: C (M,N) = init + A (M,K) . B (K,N), then an epilogue
 */

/* Eight floats in a register; aligned(4) makes loads and stores through it
 * legal at any float address. GCC/clang vector extensions, not intrinsics:
 * the compiler picks the instructions for the target (-march). */
typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef int32_t v8i __attribute__((vector_size(32), aligned(4)));

static const v8f v8_zero = {0};

/* All lanes x (a broadcast; 0 + x would cost an add: -0.0 + 0 != -0.0). */
static inline v8f v8_splat(float x)
{
	return (v8f){x, x, x, x, x, x, x, x};
}

static inline v8f v8_load(const float *p)
{
	return *(const v8f *)p;
}

static inline void v8_store(float *p, v8f v)
{
	*(v8f *)p = v;
}

/* tanh(|x|) = (1 - e) / (1 + e) with e = exp(-2|x|) = 2^f / 2^k: k a
 * non-negative integer (2^-k written into the exponent bits), a polynomial
 * for 2^f on [-0.5, 0.5]; the sign bit is put back at the end. Eight lanes
 * at once with selects, shifts and conversions only; |error| < 2e-7. */
static inline v8f tanh8(v8f x)
{
	const v8i absmask = (v8i){0} + 0x7fffffff;
	v8i sign = (v8i)x & ~absmask;
	v8f ax = (v8f)((v8i)x & absmask);
	v8i big = ax > 9.0f; /* all ones where |x| > 9: tanh is 1 in float */
	ax = (v8f)(((v8i)ax & ~big) | ((v8i)v8_splat(9.0f) & big));
	v8f t = ax * 2.88539008f; /* 2|x| * log2(e), in [0, 26] */
	v8i k = __builtin_convertvector(t + 0.5f, v8i); /* round to nearest */
	v8f f = __builtin_convertvector(k, v8f) - t;   /* in [-0.5, 0.5] */
	/* 2^f = e^(f ln2), Taylor to degree 6 (relative error < 1e-8) */
	v8f p = v8_zero + 1.54035304e-4f;
	p = p * f + 1.33335581e-3f;
	p = p * f + 9.61812911e-3f;
	p = p * f + 5.55041087e-2f;
	p = p * f + 2.40226507e-1f;
	p = p * f + 6.93147181e-1f;
	p = p * f + 1.0f;
	/* 2^-k straight into the exponent bits (k <= 26: a normal float) */
	v8f e = p * (v8f)((127 - k) << 23);
	v8f y = (1.0f - e) / (1.0f + e);
	return (v8f)((v8i)y | sign);
}

float mr_tanhf(float x)
{
	return tanh8(v8_splat(x))[0];
}

/* The epilogue on eight results x; y: the activation's output at the same
 * place (MR_POST_DACT only). */
static inline v8f post8(const mr_mm_op *op, v8f x, const float *y)
{
	switch (op->post) {
	case MR_POST_ACT:
		if (op->act == MR_ACT_TANH)
			return tanh8(x);
		return (v8f)((v8i)x & (x > 0.0f));
	case MR_POST_DACT: {
		v8f yv = v8_load(y);
		if (op->act == MR_ACT_TANH)
			return x * (1.0f - yv * yv);
		return (v8f)((v8i)x & (yv > 0.0f));
	}
	default:
		return x;
	}
}

/* The same for one value (leftover columns); bit for bit lane 0 of post8. */
static inline float post1(const mr_mm_op *op, float x, const float *y)
{
	if (op->post == MR_POST_NONE)
		return x;
	float yv[8] = {y ? *y : 0};
	return post8(op, v8_splat(x), yv)[0];
}

static inline v8f init8(const mr_mm_op *op, const float *c, const float *bias)
{
	switch (op->init) {
	case MR_MM_ACC:
		return v8_load(c);
	case MR_MM_BIAS:
		return v8_load(bias);
	default:
		return v8_zero;
	}
}

static inline float init1(const mr_mm_op *op, const float *c,
			  const float *bias)
{
	return op->init == MR_MM_ACC ? *c : op->init == MR_MM_BIAS ? *bias : 0;
}

#ifndef MR_PPO_BLAS
#define NR 16

/* MR rows x 16 columns of C held in registers across the whole k loop:
 * per k, two loads of B, MR broadcasts of A, 2*MR multiply-adds. Six rows
 * give twelve independent accumulators, enough to hide the multiply-add
 * latency; 2..5 handle what is left. bias and y point at this tile's column
 * (y also at its row). */
#define TILE(MR)                                                              \
static void tile_##MR##x16(float *restrict C, ptrdiff_t ldc,                  \
			   const float *restrict A, ptrdiff_t sam,            \
			   ptrdiff_t sak, const float *restrict B,            \
			   ptrdiff_t ldb, int K, const mr_mm_op *op,          \
			   const float *bias, const float *y)                 \
{                                                                             \
	v8f c0[MR], c1[MR];                                                   \
	for (int r = 0; r < MR; r++) {                                        \
		c0[r] = init8(op, C + r * ldc, bias);                         \
		c1[r] = init8(op, C + r * ldc + 8, bias + 8);                 \
	}                                                                     \
	for (int k = 0; k < K; k++) {                                         \
		const float *b = B + k * ldb, *a = A + k * sak;               \
		v8f b0 = v8_load(b), b1 = v8_load(b + 8);                     \
		for (int r = 0; r < MR; r++) {                                \
			v8f ar = v8_splat(a[r * sam]);                        \
			c0[r] += ar * b0;                                     \
			c1[r] += ar * b1;                                     \
		}                                                             \
	}                                                                     \
	for (int r = 0; r < MR; r++) {                                        \
		const float *yr = y ? y + r * op->ldy : NULL;                 \
		v8_store(C + r * ldc, post8(op, c0[r], yr));                  \
		v8_store(C + r * ldc + 8, post8(op, c1[r], yr ? yr + 8 : 0)); \
	}                                                                     \
}
TILE(6)
TILE(5)
TILE(4)
TILE(3)
TILE(2)

/* One row of C, 16 columns. */
static void tile_1x16(float *restrict C, const float *restrict A,
		      ptrdiff_t sak, const float *restrict B, ptrdiff_t ldb,
		      int K, const mr_mm_op *op, const float *bias,
		      const float *y)
{
	v8f c0 = init8(op, C, bias), c1 = init8(op, C + 8, bias + 8);
	for (int k = 0; k < K; k++) {
		const float *b = B + k * ldb;
		v8f a0 = v8_splat(A[k * sak]);
		c0 += a0 * v8_load(b);
		c1 += a0 * v8_load(b + 8);
	}
	v8_store(C, post8(op, c0, y));
	v8_store(C + 8, post8(op, c1, y ? y + 8 : NULL));
}

/* One row of C, 64 columns: eight independent accumulators keep both
 * multiply-add pipes busy where one row's two (tile_1x16) would wait on
 * latency. For batch-1 forward passes (the rollout, acting); the sum over
 * k runs in the same order as in every other tile. */
static void tile_1x64(float *restrict C, const float *restrict A,
		      ptrdiff_t sak, const float *restrict B, ptrdiff_t ldb,
		      int K, const mr_mm_op *op, const float *bias,
		      const float *y)
{
	v8f c[8];
	for (int j = 0; j < 8; j++)
		c[j] = init8(op, C + 8 * j, bias + 8 * j);
	for (int k = 0; k < K; k++) {
		const float *b = B + k * ldb;
		v8f a0 = v8_splat(A[k * sak]);
		for (int j = 0; j < 8; j++)
			c[j] += a0 * v8_load(b + 8 * j);
	}
	for (int j = 0; j < 8; j++)
		v8_store(C + 8 * j, post8(op, c[j], y ? y + 8 * j : NULL));
}

/* Leftover columns (N % 16) of an accumulating product, one at a time.
 * Narrow outputs (heads) go through mr_matmul_nt. */
static void tile_any(float *restrict C, ptrdiff_t ldc,
		     const float *restrict A, ptrdiff_t sam, ptrdiff_t sak,
		     const float *restrict B, ptrdiff_t ldb, int M, int N, int K,
		     const mr_mm_op *op, const float *bias, const float *y)
{
	for (int m = 0; m < M; m++) {
		const float *restrict a = A + m * sam;
		for (int n = 0; n < N; n++) {
			float s = init1(op, C + m * ldc + n, bias + n);
			for (int k = 0; k < K; k++)
				s += a[k * sak] * B[k * ldb + n];
			C[m * ldc + n] = post1(op, s,
					       y ? y + m * op->ldy + n : NULL);
		}
	}
}

/* Sum of the eight lanes, in a fixed order. */
static inline float v8_sum(v8f v)
{
	float s0 = (v[0] + v[4]) + (v[2] + v[6]);
	float s1 = (v[1] + v[5]) + (v[3] + v[7]);
	return s0 + s1;
}

void mr_matmul_nt(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t lda,
		  const float *Bt, ptrdiff_t ldbt, int M, int N, int K,
		  const mr_mm_op *op)
{
	int k8 = K - K % 8;
	const float *bias = op->bias;
	for (int m = 0; m < M; m++) {
		const float *a = A + m * lda;
		for (int n = 0; n < N; n++) {
			const float *b = Bt + n * ldbt;
			v8f acc = v8_zero;
			for (int k = 0; k < k8; k += 8)
				acc += v8_load(a + k) * v8_load(b + k);
			float s = v8_sum(acc);
			for (int k = k8; k < K; k++)
				s += a[k] * b[k];
			s += init1(op, C + m * ldc + n, bias ? bias + n : NULL);
			C[m * ldc + n] = post1(op, s, op->y ? op->y + m * op->ldy + n
							   : NULL);
		}
	}
}

/* p + off, or NULL when p is (optional bias and y pointers). */
#define AT(p, off) ((p) ? (p) + (off) : NULL)

/* Columns n..n+15 of C, every row. */
static void column_block(float *C, ptrdiff_t ldc, const float *A,
			 ptrdiff_t sam, ptrdiff_t sak, const float *B,
			 ptrdiff_t ldb, int M, int K, const mr_mm_op *op, int n)
{
	const float *bias = op->bias, *y = op->y;
	ptrdiff_t ldy = op->ldy;
	/* rows in tiles of 6; what is left as one tile of 2..5 rows (8 left:
	 * 4 + 4), never single rows unless M is 1 */
	for (int m = 0; m < M;) {
		int R = M - m, h = R >= 6 && R != 8 ? 6 : R == 8 ? 4 : R;
		float *c = C + m * ldc + n;
		const float *a = A + m * sam, *yb = AT(y, m * ldy + n);
		switch (h) {
		case 6: tile_6x16(c, ldc, a, sam, sak, B + n, ldb, K, op,
				  AT(bias, n), yb); break;
		case 5: tile_5x16(c, ldc, a, sam, sak, B + n, ldb, K, op,
				  AT(bias, n), yb); break;
		case 4: tile_4x16(c, ldc, a, sam, sak, B + n, ldb, K, op,
				  AT(bias, n), yb); break;
		case 3: tile_3x16(c, ldc, a, sam, sak, B + n, ldb, K, op,
				  AT(bias, n), yb); break;
		case 2: tile_2x16(c, ldc, a, sam, sak, B + n, ldb, K, op,
				  AT(bias, n), yb); break;
		default: tile_1x16(c, a, sak, B + n, ldb, K, op, AT(bias, n),
				   yb); break;
		}
		m += h;
	}
}

void mr_matmul(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t sam,
	       ptrdiff_t sak, const float *B, ptrdiff_t ldb, int M, int N,
	       int K, const mr_mm_op *op)
{
	int n16 = N - N % NR, n = 0;
	const float *bias = op->bias, *y = op->y;
	ptrdiff_t ldy = op->ldy;
	if (M < 4) /* a few rows (batch 1): wide tiles across the columns */
		for (; n + 64 <= n16; n += 64)
			for (int m = 0; m < M; m++)
				tile_1x64(C + m * ldc + n, A + m * sam, sak,
					  B + n, ldb, K, op, AT(bias, n),
					  AT(y, m * ldy + n));
	for (; n < n16; n += NR)
		column_block(C, ldc, A, sam, sak, B, ldb, M, K, op, n);
	/* Leftover columns: when C is overwritten (not accumulated), the
	 * last 16 columns again as one block; the columns it shares with the
	 * block before get the same values, computed the same way. A joint
	 * head's 25 or 625 outputs go at full speed so. */
	if (n16 < N && N >= NR && op->init != MR_MM_ACC)
		column_block(C, ldc, A, sam, sak, B, ldb, M, K, op, N - NR);
	else if (n16 < N)
		tile_any(C + n16, ldc, A, sam, sak, B + n16, ldb, M, N - n16,
			 K, op, AT(bias, n16), AT(y, n16));
#undef AT
}

const char *mr_matmul_backend(void)
{
	return "compiler";
}
#else
/* OpenBLAS for the sum; init and epilogue in passes of their own. */
static void blas_pre(float *C, ptrdiff_t ldc, int M, int N,
		     const mr_mm_op *op, float *beta)
{
	*beta = op->init == MR_MM_SET ? 0.0f : 1.0f;
	if (op->init == MR_MM_BIAS)
		for (int m = 0; m < M; m++)
			memcpy(C + m * ldc, op->bias, (size_t)N * sizeof(float));
}

static void blas_post(float *C, ptrdiff_t ldc, int M, int N,
		      const mr_mm_op *op)
{
	/* the vectorised activation passes, row by row */
	for (int m = 0; m < M && op->post == MR_POST_ACT; m++)
		act_forward(C + m * ldc, (size_t)N, op->act);
	for (int m = 0; m < M && op->post == MR_POST_DACT; m++)
		act_backward(C + m * ldc, op->y + m * op->ldy, (size_t)N,
			     op->act);
}

void mr_matmul(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t sam,
	       ptrdiff_t sak, const float *B, ptrdiff_t ldb, int M, int N,
	       int K, const mr_mm_op *op)
{
	if (M == 0 || N == 0)
		return;
	float beta;
	blas_pre(C, ldc, M, N, op, &beta);
	if (K > 0) {
		/* A is row-major (sak == 1) or a transposed view (sam == 1) */
		if (sak == 1)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
				    M, N, K, 1.0f, A, (int)(sam > K ? sam : K),
				    B, (int)ldb, beta, C, (int)ldc);
		else
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M,
				    N, K, 1.0f, A, (int)(sak > M ? sak : M), B,
				    (int)ldb, beta, C, (int)ldc);
	} else if (beta == 0.0f) {
		for (int m = 0; m < M; m++)
			memset(C + m * ldc, 0, (size_t)N * sizeof(float));
	}
	blas_post(C, ldc, M, N, op);
}

void mr_matmul_nt(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t lda,
		  const float *Bt, ptrdiff_t ldbt, int M, int N, int K,
		  const mr_mm_op *op)
{
	if (M == 0 || N == 0)
		return;
	float beta;
	blas_pre(C, ldc, M, N, op, &beta);
	if (K > 0)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K,
			    1.0f, A, (int)lda, Bt, (int)ldbt, beta, C,
			    (int)ldc);
	else if (beta == 0.0f)
		for (int m = 0; m < M; m++)
			memset(C + m * ldc, 0, (size_t)N * sizeof(float));
	blas_post(C, ldc, M, N, op);
}

const char *mr_matmul_backend(void)
{
	return "openblas";
}
#endif

void mr_matmul_acc(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t sam,
		   ptrdiff_t sak, const float *B, ptrdiff_t ldb, int M, int N,
		   int K)
{
	mr_mm_op op = {.init = MR_MM_ACC};
	mr_matmul(C, ldc, A, sam, sak, B, ldb, M, N, K, &op);
}

void mr_matmul_nt_acc(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t lda,
		      const float *Bt, ptrdiff_t ldbt, int M, int N, int K)
{
	mr_mm_op op = {.init = MR_MM_ACC};
	mr_matmul_nt(C, ldc, A, lda, Bt, ldbt, M, N, K, &op);
}

/* ------------------------------------------------------------------------
 * linear: out (B,O) = inp (B,I) . w (I,O) + b (O)
 */

/* Outputs narrower than this take the dot-product kernel. */
#define NARROW 16

void linear_forward(float *out, const float *inp, const float *w,
		    const float *wt, const float *b, int B, int I, int O,
		    mr_act act)
{
	mr_mm_op op = {.init = MR_MM_BIAS, .bias = b,
		       .post = act == MR_ACT_NONE ? MR_POST_NONE : MR_POST_ACT,
		       .act = act};
	if (O < NARROW)
		mr_matmul_nt(out, O, inp, I, wt, I, B, O, I, &op);
	else
		mr_matmul(out, O, inp, I, 1, w, O, B, O, I, &op);
}

void linear_backward(float *dinp, float *dw, float *db, const float *dout,
		     const float *inp, const float *wt, float *scratch, int B,
		     int I, int O, mr_act inp_act)
{
	/* db (O) = sum over rows of dout (B,O) */
	memset(db, 0, (size_t)O * sizeof(float));
	for (int r = 0; r < B; r++) {
		const float *restrict d = dout + (size_t)r * O;
		float *restrict g = db;
		for (int o = 0; o < O; o++)
			g[o] += d[o];
	}
	mr_mm_op set = {.init = MR_MM_SET};
	if (O < NARROW) {
		/* dw^T (O,I) = dout^T (O,B) . inp (B,I) keeps the wide side
		 * contiguous; then transposed into dw (I,O) */
		mr_matmul(scratch, I, dout, 1, O, inp, I, O, I, B, &set);
		for (int i = 0; i < I; i++)
			for (int o = 0; o < O; o++)
				dw[(size_t)i * O + o] = scratch[(size_t)o * I + i];
	} else {
		/* dw (I,O) = inp^T (I,B) . dout (B,O) */
		mr_matmul(dw, O, inp, 1, I, dout, O, I, O, B, &set);
	}
	/* dinp (B,I) = dout (B,O) . wt (O,I), times act'(inp) when inp is an
	 * activation's output */
	if (dinp) {
		mr_mm_op op = {.init = MR_MM_SET,
			       .post = inp_act == MR_ACT_NONE ? MR_POST_NONE
							      : MR_POST_DACT,
			       .act = inp_act, .y = inp, .ldy = I};
		mr_matmul(dinp, I, dout, O, 1, wt, I, B, I, O, &op);
	}
}

/* ------------------------------------------------------------------------
 * activations
 */

void act_forward(float *x, size_t n, mr_act act)
{
	size_t i = 0;
	if (act == MR_ACT_TANH) {
		for (; i + 8 <= n; i += 8)
			v8_store(x + i, tanh8(v8_load(x + i)));
		for (; i < n; i++)
			x[i] = mr_tanhf(x[i]);
	} else if (act == MR_ACT_RELU) {
		float *restrict v = x;
		for (; i < n; i++)
			v[i] = v[i] > 0.0f ? v[i] : 0.0f;
	}
}

void act_backward(float *d, const float *y, size_t n, mr_act act)
{
	float *restrict g = d;
	const float *restrict o = y;
	if (act == MR_ACT_TANH) {
		for (size_t i = 0; i < n; i++)
			g[i] *= 1.0f - o[i] * o[i];
	} else if (act == MR_ACT_RELU) {
		for (size_t i = 0; i < n; i++)
			g[i] = o[i] > 0.0f ? g[i] : 0.0f;
	}
}

/* ------------------------------------------------------------------------
 * whole network
 */

void mlp_forward(const mr_mlp *m, const float *params, const float *wt,
		 float *const *acts, int B)
{
	for (int l = 0; l < m->nlayers; l++)
		linear_forward(acts[l + 1], acts[l], params + m->w_off[l],
			       wt + m->w_off[l], params + m->b_off[l], B,
			       m->sizes[l], m->sizes[l + 1],
			       l < m->nlayers - 1 ? m->act : MR_ACT_NONE);
}

void mlp_backward(const mr_mlp *m, const float *params, const float *wt,
		  float *grads, float *const *acts, int B, int hi, int lo,
		  int want_din, float *d, float *scratch, float *wscratch,
		  float **din)
{
	(void)params;
	float *cur = d, *other = scratch;
	/* entering below the top: d is the gradient of an activation's
	 * output; further down, each layer's input gradient comes out of
	 * the kernel already through the activation below it */
	if (hi < m->nlayers)
		act_backward(cur, acts[hi], (size_t)B * m->sizes[hi], m->act);
	for (int l = hi - 1; l >= lo; l--) {
		int I = m->sizes[l], O = m->sizes[l + 1];
		int need = l > lo || want_din;
		linear_backward(need ? other : NULL, grads + m->w_off[l],
				grads + m->b_off[l], cur, acts[l],
				wt + m->w_off[l], wscratch, B, I, O,
				l > lo ? m->act : MR_ACT_NONE);
		float *t = cur;
		cur = other;
		other = t;
	}
	if (din)
		*din = want_din ? cur : NULL;
}

/* out rows o0..o0+7 (stride I) from in rows i0..i0+7 (stride O): one 8x8
 * block transposed in registers (unpack, shuffle, swap halves). */
static inline void transpose8(float *restrict out, ptrdiff_t ldo,
			      const float *restrict in, ptrdiff_t ldi)
{
	v8f r[8], t[8], s[8];
	for (int k = 0; k < 8; k++)
		r[k] = v8_load(in + k * ldi);
	const v8i lo = {0, 8, 1, 9, 4, 12, 5, 13}, hi = {2, 10, 3, 11, 6, 14, 7, 15};
	const v8i s01 = {0, 1, 8, 9, 4, 5, 12, 13}, s23 = {2, 3, 10, 11, 6, 7, 14, 15};
	const v8i h0 = {0, 1, 2, 3, 8, 9, 10, 11}, h1 = {4, 5, 6, 7, 12, 13, 14, 15};
	for (int k = 0; k < 8; k += 2) {
		t[k] = __builtin_shuffle(r[k], r[k + 1], lo);
		t[k + 1] = __builtin_shuffle(r[k], r[k + 1], hi);
	}
	/* s0: column 0,1 of rows 0-3 (low half) and 4-7 of ... per half */
	s[0] = __builtin_shuffle(t[0], t[2], s01);
	s[1] = __builtin_shuffle(t[0], t[2], s23);
	s[2] = __builtin_shuffle(t[1], t[3], s01);
	s[3] = __builtin_shuffle(t[1], t[3], s23);
	s[4] = __builtin_shuffle(t[4], t[6], s01);
	s[5] = __builtin_shuffle(t[4], t[6], s23);
	s[6] = __builtin_shuffle(t[5], t[7], s01);
	s[7] = __builtin_shuffle(t[5], t[7], s23);
	for (int k = 0; k < 4; k++) {
		v8_store(out + k * ldo, __builtin_shuffle(s[k], s[k + 4], h0));
		v8_store(out + (k + 4) * ldo,
			 __builtin_shuffle(s[k], s[k + 4], h1));
	}
}

void mlp_part_cols(int O, int part, int nparts, int *o0, int *o1)
{
	*o0 = (int)((int64_t)(O / 16) * part / nparts) * 16;
	*o1 = part == nparts - 1
		      ? O : (int)((int64_t)(O / 16) * (part + 1) / nparts) * 16;
}

void mlp_sync_wt_rows(const mr_mlp *m, const float *params, float *wt,
		      int part, int nparts)
{
	for (int l = 0; l < m->nlayers; l++) {
		int I = m->sizes[l], O = m->sizes[l + 1], o0, o1;
		/* this part's rows of wt (O,I): columns o0..o1 of w (I,O) */
		mlp_part_cols(O, part, nparts, &o0, &o1);
		const float *w = params + m->w_off[l];
		float *t = wt + m->w_off[l];
		int i8 = I - I % 8, ob = o0;
		for (; ob + 8 <= o1; ob += 8)
			for (int ib = 0; ib < i8; ib += 8)
				transpose8(t + (size_t)ob * I + ib, I,
					   w + (size_t)ib * O + ob, O);
		/* edges: leftover columns, leftover rows */
		for (int o = ob; o < o1; o++)
			for (int i = 0; i < I; i++)
				t[(size_t)o * I + i] = w[(size_t)i * O + o];
		for (int o = o0; o < ob; o++)
			for (int i = i8; i < I; i++)
				t[(size_t)o * I + i] = w[(size_t)i * O + o];
	}
}

void mlp_sync_wt(const mr_mlp *m, const float *params, float *wt)
{
	mlp_sync_wt_rows(m, params, wt, 0, 1);
}

/* Orthogonal rows/columns by modified Gram-Schmidt on a Gaussian matrix, in
 * double; the (I,O) matrix gets orthonormal columns (I >= O) or rows. */
static void orthogonal(float *w, int I, int O, double gain, mr_rng *rng,
		       double *tmp)
{
	/* vectors: the smaller dimension's count, each of the larger length */
	int nv = I < O ? I : O, len = I < O ? O : I;
	for (int i = 0; i < nv * len; i++)
		tmp[i] = mr_rng_normal(rng);
	for (int v = 0; v < nv; v++) {
		double *x = tmp + (size_t)v * len;
		for (int u = 0; u < v; u++) {
			double *y = tmp + (size_t)u * len, dot = 0;
			for (int j = 0; j < len; j++)
				dot += x[j] * y[j];
			for (int j = 0; j < len; j++)
				x[j] -= dot * y[j];
		}
		double nrm = 0;
		for (int j = 0; j < len; j++)
			nrm += x[j] * x[j];
		nrm = sqrt(nrm);
		for (int j = 0; j < len; j++)
			x[j] = nrm > 0 ? x[j] / nrm : 0;
	}
	for (int i = 0; i < I; i++)
		for (int o = 0; o < O; o++)
			w[(size_t)i * O + o] = (float)(gain *
				(I < O ? tmp[(size_t)i * len + o]
				       : tmp[(size_t)o * len + i]));
}

void mlp_init(const mr_mlp *m, float *params, mr_rng *rng, double gain,
	      double last_gain)
{
	size_t big = 0;
	for (int l = 0; l < m->nlayers; l++) {
		size_t s = (size_t)m->sizes[l] * m->sizes[l + 1];
		if (s > big)
			big = s;
	}
	double *tmp = mr_xcalloc(big, sizeof *tmp);
	for (int l = 0; l < m->nlayers; l++) {
		int I = m->sizes[l], O = m->sizes[l + 1];
		orthogonal(params + m->w_off[l], I, O,
			   l == m->nlayers - 1 ? last_gain : gain, rng, tmp);
		memset(params + m->b_off[l], 0, (size_t)O * sizeof(float));
	}
	free(tmp);
}
