/*
 * mlp.h - multi-layer perceptrons in float32: layers as forward/backward
 * pairs, and the matrix kernel under them.
 *
 * Layout: activations are batch-major, x is (B,I) row-major. A layer's
 * weight is stored (I,O) row-major (so the forward pass streams rows of W
 * with contiguous stores), plus a transposed copy (O,I) that the backward
 * pass uses for dx; whoever changes W must refresh the copy (mlp_sync_wt).
 *
 * What is deliberately not here: the loss, the optimiser, threads. This file
 * only turns parameters and inputs into outputs and gradients; nothing but
 * mlp_init allocates.
 */
#ifndef MESHRL_MLP_H
#define MESHRL_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "meshrl.h"

#define MR_MLP_MAX_LAYERS 16
#define MR_MLP_MAX_WIDTH 4096

/* MR_ACT_NONE: no activation (the last layer; kernel epilogues). */
typedef enum { MR_ACT_NONE = -1, MR_ACT_TANH = 0, MR_ACT_RELU = 1 } mr_act;

/* One network: nlayers linear layers, an activation after every one but the
 * last. Parameters live in a caller-owned float array at the offsets below. */
typedef struct {
	int nlayers;
	int sizes[MR_MLP_MAX_LAYERS + 1]; /* sizes[0] input, sizes[nlayers] output */
	mr_act act;
	size_t w_off[MR_MLP_MAX_LAYERS];  /* (I,O) weights */
	size_t b_off[MR_MLP_MAX_LAYERS];  /* (O) biases */
	size_t first, nparams;            /* the span [first, first+nparams) */
} mr_mlp;

/* Lays out the network's parameters from offset *next on; advances *next. */
void mlp_layout(mr_mlp *m, int nlayers, const int *sizes, mr_act act,
		size_t *next);
int mlp_max_width(const mr_mlp *m);

/* ---- the kernel ----------------------------------------------------------
 * C (M,N) = init + A (M,K) . B (K,N), then an epilogue on each result.
 * A is read through strides (element (m,k) at A[m*sam + k*sak]), so A may be
 * a transposed view; B and C are row-major with leading dimensions ldb,
 * ldc. Folding the bias, the activation and the activation's derivative
 * into the kernel saves a pass over C for each. */
typedef enum {
	MR_MM_ACC = 0, /* C += A.B */
	MR_MM_SET,     /* C = A.B */
	MR_MM_BIAS     /* C = bias + A.B, bias (N) on every row */
} mr_mm_init;
typedef enum {
	MR_POST_NONE = 0,
	MR_POST_ACT,  /* C = act(C) */
	MR_POST_DACT  /* C = C * act'(.), from the activation's output y */
} mr_mm_post;
typedef struct {
	mr_mm_init init;
	const float *bias;
	mr_mm_post post;
	mr_act act;
	const float *y;   /* MR_POST_DACT: (M,N), leading dimension ldy */
	ptrdiff_t ldy;
} mr_mm_op;

void mr_matmul(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t sam,
	       ptrdiff_t sak, const float *B, ptrdiff_t ldb, int M, int N,
	       int K, const mr_mm_op *op);
/* C (M,N) = init + A (M,K) . Bt^T, epilogue, with A and Bt (N,K)
 * row-major: dot products, for narrow N. */
void mr_matmul_nt(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t lda,
		  const float *Bt, ptrdiff_t ldbt, int M, int N, int K,
		  const mr_mm_op *op);
/* The plain accumulating forms: C += A.B, C += A.Bt^T. */
void mr_matmul_acc(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t sam,
		   ptrdiff_t sak, const float *B, ptrdiff_t ldb, int M, int N,
		   int K);
void mr_matmul_nt_acc(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t lda,
		      const float *Bt, ptrdiff_t ldbt, int M, int N, int K);
/* "compiler" or "openblas": what mr_matmul was built with. */
const char *mr_matmul_backend(void);

/* ---- layers --------------------------------------------------------------
 * linear: out (B,O) = act(inp (B,I) . w (I,O) + b (O)) (act MR_ACT_NONE:
 * none); wt (O,I) is w's transposed copy (narrow outputs use it). */
void linear_forward(float *out, const float *inp, const float *w,
		    const float *wt, const float *b, int B, int I, int O,
		    mr_act act);
/* dw (I,O) = inp^T . dout; db (O) = sum_b dout; dinp (B,I) = dout . w^T
 * (from wt (O,I)), times inp_act'(inp) unless inp_act is MR_ACT_NONE (inp
 * being that activation's output); dinp may be NULL (first layer).
 * scratch holds O*I floats (used when O is narrow). */
void linear_backward(float *dinp, float *dw, float *db, const float *dout,
		     const float *inp, const float *wt, float *scratch, int B,
		     int I, int O, mr_act inp_act);

/* activation in place on n values: x = act(x) */
void act_forward(float *x, size_t n, mr_act act);
/* d (n) *= act'(.) written in terms of the activation's output y (n) */
void act_backward(float *d, const float *y, size_t n, mr_act act);

/* tanh, vectorisable, |error| < 2e-7 */
float mr_tanhf(float x);

/* ---- whole network --------------------------------------------------------
 * acts[l] for l = 1..nlayers are (B, sizes[l]) buffers the caller owns;
 * acts[0] is the input. Forward fills acts[1..nlayers]. */
void mlp_forward(const mr_mlp *m, const float *params, const float *wt,
		 float *const *acts, int B);
/* Backward through layers hi-1 down to lo. d (B, sizes[hi]) holds the
 * gradient with respect to acts[hi] and is overwritten; scratch is another
 * (B, max width) buffer. The gradients of those layers' parameters are
 * written into grads (=, not +=: each parameter belongs to one layer). With
 * want_din, *din ends pointing at the gradient with respect to acts[lo]
 * (d or scratch); without, the input gradient of layer lo is skipped.
 * wscratch holds the largest layer's I*O floats. */
void mlp_backward(const mr_mlp *m, const float *params, const float *wt,
		  float *grads, float *const *acts, int B, int hi, int lo,
		  int want_din, float *d, float *scratch, float *wscratch,
		  float **din);
/* Refreshes the transposed copies wt of every weight in [first, end). */
void mlp_sync_wt(const mr_mlp *m, const float *params, float *wt);
/* Part `part` of nparts of a layer's O output columns: [*o0, *o1), split
 * on multiples of 16 (cache lines of a row when the row's width is a
 * multiple of 16; the last part takes the rest). */
void mlp_part_cols(int O, int part, int nparts, int *o0, int *o1);
/* mlp_sync_wt for one part: the rows of each wt that are that part's
 * columns of w; threads refresh disjoint parts. */
void mlp_sync_wt_rows(const mr_mlp *m, const float *params, float *wt,
		      int part, int nparts);

/* Orthogonal initialisation (gain per layer: hidden `gain`, last
 * `last_gain`), zero biases; deterministic for rng. */
void mlp_init(const mr_mlp *m, float *params, mr_rng *rng, double gain,
	      double last_gain);

#endif
