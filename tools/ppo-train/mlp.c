/*
 * mlp.c - float32 MLP layers (forward/backward pairs) and the small matrix
 * kernel they run on.
 *
 * The kernel is written for the compiler's vectoriser (-O3 -march=native):
 * a 4x16 register tile of C, accumulated over k with one broadcast of A and
 * one contiguous row of B per step. At this project's sizes (64..128 wide,
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
		/* keep every array 32-byte aligned (8 floats) */
		m->w_off[l] = off;
		off += ((size_t)sizes[l] * (size_t)sizes[l + 1] + 7) & ~(size_t)7;
		m->b_off[l] = off;
		off += ((size_t)sizes[l + 1] + 7) & ~(size_t)7;
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
 * the kernel: C (M,N) += A (M,K) . B (K,N)
 */

/* Eight floats in a register; aligned(4) makes loads and stores through it
 * legal at any float address. GCC/clang vector extensions, not intrinsics:
 * the compiler picks the instructions for the target (-march). */
typedef float v8f __attribute__((vector_size(32), aligned(4)));

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

#ifndef MR_PPO_BLAS
#define NR 16

/* MR rows x 16 columns of C held in registers across the whole k loop:
 * per k, two loads of B, MR broadcasts of A, 2*MR multiply-adds. Six rows
 * give twelve independent accumulators, enough to hide the multiply-add
 * latency; 4 handles what is left. */
#define TILE(MR)                                                              \
static void tile_##MR##x16(float *restrict C, ptrdiff_t ldc,                  \
			   const float *restrict A, ptrdiff_t sam,            \
			   ptrdiff_t sak, const float *restrict B,            \
			   ptrdiff_t ldb, int K)                              \
{                                                                             \
	v8f c0[MR], c1[MR];                                                   \
	for (int r = 0; r < MR; r++) {                                        \
		c0[r] = v8_load(C + r * ldc);                                 \
		c1[r] = v8_load(C + r * ldc + 8);                             \
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
		v8_store(C + r * ldc, c0[r]);                                 \
		v8_store(C + r * ldc + 8, c1[r]);                             \
	}                                                                     \
}
TILE(6)
TILE(4)

/* One row of C, 16 columns. */
static void tile_1x16(float *restrict C, const float *restrict A,
		      ptrdiff_t sak, const float *restrict B, ptrdiff_t ldb,
		      int K)
{
	v8f c0 = v8_load(C), c1 = v8_load(C + 8);
	for (int k = 0; k < K; k++) {
		const float *b = B + k * ldb;
		v8f a0 = v8_splat(A[k * sak]);
		c0 += a0 * v8_load(b);
		c1 += a0 * v8_load(b + 8);
	}
	v8_store(C, c0);
	v8_store(C + 8, c1);
}

/* Leftover columns (N % 16), one at a time; only for small remainders of
 * wide outputs. Narrow outputs (heads) go through mr_matmul_nt_acc. */
static void tile_any(float *restrict C, ptrdiff_t ldc,
		     const float *restrict A, ptrdiff_t sam, ptrdiff_t sak,
		     const float *restrict B, ptrdiff_t ldb, int M, int N, int K)
{
	for (int m = 0; m < M; m++) {
		const float *restrict a = A + m * sam;
		for (int n = 0; n < N; n++) {
			float s = C[m * ldc + n];
			for (int k = 0; k < K; k++)
				s += a[k * sak] * B[k * ldb + n];
			C[m * ldc + n] = s;
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

void mr_matmul_nt_acc(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t lda,
		      const float *Bt, ptrdiff_t ldbt, int M, int N, int K)
{
	int k8 = K - K % 8;
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
			C[m * ldc + n] += s;
		}
	}
}

void mr_matmul_acc(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t sam,
		   ptrdiff_t sak, const float *B, ptrdiff_t ldb, int M, int N,
		   int K)
{
	int n16 = N - N % NR;
	for (int n = 0; n < n16; n += NR) {
		int m = 0;
		for (; m + 6 <= M; m += 6)
			tile_6x16(C + m * ldc + n, ldc, A + m * sam, sam, sak,
				  B + n, ldb, K);
		for (; m + 4 <= M; m += 4)
			tile_4x16(C + m * ldc + n, ldc, A + m * sam, sam, sak,
				  B + n, ldb, K);
		for (; m < M; m++)
			tile_1x16(C + m * ldc + n, A + m * sam, sak, B + n,
				  ldb, K);
	}
	if (n16 < N)
		tile_any(C + n16, ldc, A, sam, sak, B + n16, ldb, M, N - n16,
			 K);
}

const char *mr_matmul_backend(void)
{
	return "compiler";
}
#else
void mr_matmul_acc(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t sam,
		   ptrdiff_t sak, const float *B, ptrdiff_t ldb, int M, int N,
		   int K)
{
	if (M == 0 || N == 0 || K == 0)
		return;
	/* A is either row-major (sak == 1) or a transposed view (sam == 1). */
	if (sak == 1)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K,
			    1.0f, A, (int)(sam > K ? sam : K), B, (int)ldb,
			    1.0f, C, (int)ldc);
	else
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K,
			    1.0f, A, (int)(sak > M ? sak : M), B, (int)ldb,
			    1.0f, C, (int)ldc);
}

void mr_matmul_nt_acc(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t lda,
		      const float *Bt, ptrdiff_t ldbt, int M, int N, int K)
{
	if (M == 0 || N == 0 || K == 0)
		return;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A,
		    (int)lda, Bt, (int)ldbt, 1.0f, C, (int)ldc);
}

const char *mr_matmul_backend(void)
{
	return "openblas";
}
#endif

/* ------------------------------------------------------------------------
 * linear: out (B,O) = inp (B,I) . w (I,O) + b (O)
 */

/* Outputs narrower than this take the dot-product kernel. */
#define NARROW 16

void linear_forward(float *out, const float *inp, const float *w,
		    const float *wt, const float *b, int B, int I, int O)
{
	for (int r = 0; r < B; r++)
		memcpy(out + (size_t)r * O, b, (size_t)O * sizeof(float));
	if (O < NARROW)
		mr_matmul_nt_acc(out, O, inp, I, wt, I, B, O, I);
	else
		mr_matmul_acc(out, O, inp, I, 1, w, O, B, O, I);
}

void linear_backward(float *dinp, float *dw, float *db, const float *dout,
		     const float *inp, const float *wt, float *scratch, int B,
		     int I, int O)
{
	/* db (O) += sum over rows of dout (B,O) */
	for (int r = 0; r < B; r++) {
		const float *restrict d = dout + (size_t)r * O;
		float *restrict g = db;
		for (int o = 0; o < O; o++)
			g[o] += d[o];
	}
	if (O < NARROW) {
		/* dw^T (O,I) = dout^T (O,B) . inp (B,I) keeps the wide side
		 * contiguous; then added into dw (I,O) */
		memset(scratch, 0, (size_t)O * I * sizeof(float));
		mr_matmul_acc(scratch, I, dout, 1, O, inp, I, O, I, B);
		for (int i = 0; i < I; i++)
			for (int o = 0; o < O; o++)
				dw[(size_t)i * O + o] += scratch[(size_t)o * I + i];
	} else {
		/* dw (I,O) += inp^T (I,B) . dout (B,O) */
		mr_matmul_acc(dw, O, inp, 1, I, dout, O, I, O, B);
	}
	/* dinp (B,I) = dout (B,O) . wt (O,I) */
	if (dinp) {
		memset(dinp, 0, (size_t)B * I * sizeof(float));
		mr_matmul_acc(dinp, I, dout, O, 1, wt, I, B, I, O);
	}
}

/* ------------------------------------------------------------------------
 * activations
 */

/* tanh(|x|) = (1 - e) / (1 + e) with e = exp(-2|x|) = 2^f / 2^k: k a
 * non-negative integer (2^-k written into the exponent bits), a polynomial for 2^f
 * on [-0.5, 0.5]; the sign bit is put back at the end. Eight lanes at once
 * with selects, shifts and conversions only; |error| < 2e-7. */
typedef int32_t v8i __attribute__((vector_size(32)));

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

void act_forward(float *x, size_t n, mr_act act)
{
	size_t i = 0;
	if (act == MR_ACT_TANH) {
		for (; i + 8 <= n; i += 8)
			v8_store(x + i, tanh8(v8_load(x + i)));
		for (; i < n; i++)
			x[i] = mr_tanhf(x[i]);
	} else {
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
	} else {
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
	for (int l = 0; l < m->nlayers; l++) {
		int I = m->sizes[l], O = m->sizes[l + 1];
		linear_forward(acts[l + 1], acts[l], params + m->w_off[l],
			       wt + m->w_off[l], params + m->b_off[l], B, I, O);
		if (l < m->nlayers - 1)
			act_forward(acts[l + 1], (size_t)B * O, m->act);
	}
}

void mlp_backward(const mr_mlp *m, const float *params, const float *wt,
		  float *grads, float *const *acts, int B, int hi, int lo,
		  int want_din, float *d, float *scratch, float *wscratch,
		  float **din)
{
	(void)params;
	float *cur = d, *other = scratch;
	for (int l = hi - 1; l >= lo; l--) {
		int I = m->sizes[l], O = m->sizes[l + 1];
		if (l < m->nlayers - 1)
			act_backward(cur, acts[l + 1], (size_t)B * O, m->act);
		int need = l > lo || want_din;
		linear_backward(need ? other : NULL, grads + m->w_off[l],
				grads + m->b_off[l], cur, acts[l],
				wt + m->w_off[l], wscratch, B, I, O);
		float *t = cur;
		cur = other;
		other = t;
	}
	if (din)
		*din = want_din ? cur : NULL;
}

void mlp_sync_wt(const mr_mlp *m, const float *params, float *wt)
{
	for (int l = 0; l < m->nlayers; l++) {
		int I = m->sizes[l], O = m->sizes[l + 1];
		const float *w = params + m->w_off[l];
		float *t = wt + m->w_off[l];
		/* 8x8 blocks keep both sides in cache lines */
		for (int i0 = 0; i0 < I; i0 += 8)
			for (int o0 = 0; o0 < O; o0 += 8) {
				int i1 = i0 + 8 < I ? i0 + 8 : I;
				int o1 = o0 + 8 < O ? o0 + 8 : O;
				for (int i = i0; i < i1; i++)
					for (int o = o0; o < o1; o++)
						t[(size_t)o * I + i] =
							w[(size_t)i * O + o];
			}
	}
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
