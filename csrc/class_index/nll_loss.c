/*
 * Negative log-likelihood (= torch nll_loss) over log-probabilities x with
 * class-index targets: loss_s = -w[t] x[t]; the gradient is -w[t] * scale at
 * the target and 0 everywhere else (scale = 1 / sum of w[t] for the mean).
 * The loss reads one element per sample, so with a gradient the kernel is a
 * fill of the whole array: each block's output is built in a small L1 buffer
 * and copied out, with non-temporal stores when the output is large (a fill
 * streams about 3x faster that way, PERF.md). The buffer is filled with zeros
 * and the targets' values poked in (rows layout), or built per class as
 * select(t == k, -w[k] scale, 0) over a tile of positions (spatial layout).
 */
#ifndef LOSSK_TEMPLATE_PASS

#include "class_index.h"

/* Elements of the per-thread output buffer; also the positions per tile of
   the spatial layout. Stays in L1 (8 KiB / 16 KiB). */
#define NLL_BUF 2048
/* Gradient elements per block of the deterministic reduction. */
#define NLL_BLOCK_ELEMS 65536

typedef struct nll_args {
    const void *x;             /* log-probabilities, n x c x inner */
    int64_t n, c, inner;
    const void *target;        /* n x inner class indices */
    lossk_index_type target_type;
    const void *weight;        /* c weights or NULL */
    int64_t ignore_index;
    double scale;              /* 1/denominator for mean, else 1 */
    void *loss_rows;           /* per-sample losses or NULL */
    void *grad;                /* n x c x inner or NULL */
    int nt;                    /* non-temporal stores for the gradient */
    int64_t tile, tiles_per_sample;  /* spatial layout: items are (sample, tile) */
} nll_args;

typedef struct nll_kernels {
    lossk_block_fn rows_block;     /* inner == 1: items are rows */
    lossk_block_fn spatial_block;  /* inner > 1: items are (sample, tile of positions) */
} nll_kernels;

#define LOSSK_TEMPLATE_FILE "class_index/nll_loss.c"
#include "multiarch.h"

static lossk_status nll_run(nll_args *a, const nll_kernels *kern, size_t elem, lossk_reduction reduction,
                            double *loss_out, int n_threads, int64_t *bad_index) {
    const int64_t n = a->n, c = a->c, inner = a->inner;
    lossk_status s = lossk__check_class_args(n, c, inner, reduction, a->x, a->target_type, loss_out,
                                             a->loss_rows);
    if (s != LOSSK_OK) return s;
    if (n * inner > 0 && !a->target) return LOSSK_ERR_INVALID_ARGUMENT;
    if (bad_index) *bad_index = -1;
    if (reduction != LOSSK_REDUCTION_NONE) a->loss_rows = NULL;
    if (lossk__aliases(a->grad, a->target) || lossk__aliases(a->grad, a->weight) ||
        lossk__aliases(a->loss_rows, a->x) || lossk__aliases(a->loss_rows, a->grad))
        return LOSSK_ERR_ALIASING;
    const int64_t samples = n * inner, elems = samples * c;
    double denom = 0.0;
    s = lossk__class_targets(a->target, a->target_type, samples, c, 1, a->ignore_index, a->weight,
                             elem == 8, n_threads, &denom, bad_index);
    if (s != LOSSK_OK) return s;
    a->scale = reduction == LOSSK_REDUCTION_MEAN ? 1.0 / denom : 1.0;
    a->nt = a->grad && elems * (int64_t)elem >= LOSSK_NT_STORE_MIN_BYTES;

    double total = 0.0;
    if (samples > 0) {
        a->tile = inner < NLL_BUF ? inner : NLL_BUF;
        a->tiles_per_sample = (inner - 1) / a->tile + 1;
        const int64_t items = n * a->tiles_per_sample;
        /* the same blocks with or without a gradient: the loss bits do not
           depend on return_grad */
        const int64_t block = lossk__block_items(a->tile * (c > 0 ? c : 1), NLL_BLOCK_ELEMS);
        const int64_t n_blocks = (items - 1) / block + 1;
        const size_t scratch = (size_t)NLL_BUF * elem + (size_t)a->tile * sizeof(int64_t) + 64;
        s = lossk__run_blocks(items, block, lossk__threads_for(n_threads, a->grad ? elems : samples, n_blocks),
                              1, scratch, inner == 1 ? kern->rows_block : kern->spatial_block, a, &total, NULL);
        if (s != LOSSK_OK) return s;
    }
    if (reduction == LOSSK_REDUCTION_SUM) *loss_out = total;
    else if (reduction == LOSSK_REDUCTION_MEAN) *loss_out = total / denom;  /* 0/0 = NaN as torch */
    return LOSSK_OK;
}

/* nll_loss for the family entry (class_index.c). */
lossk_status lossk__nll_loss(lossk_class_args *args) {
    nll_args a;
    memset(&a, 0, sizeof a);
    a.x = args->pred; a.n = args->n; a.c = args->c; a.inner = args->inner; a.target = args->target;
    a.target_type = args->target_type; a.weight = args->class_weight; a.ignore_index = args->ignore_index;
    a.loss_rows = args->loss_none; a.grad = args->grad;
    if (args->dtype == LOSSK_DTYPE_F32)
        return nll_run(&a, LOSSK_SELECT(nll_kernels_f32), sizeof(float), args->reduction, args->loss_out,
                       args->n_threads, &args->bad_index);
    if (args->dtype == LOSSK_DTYPE_F64)
        return nll_run(&a, LOSSK_SELECT(nll_kernels_f64), sizeof(double), args->reduction, args->loss_out,
                       args->n_threads, &args->bad_index);
    return LOSSK_ERR_INVALID_ARGUMENT;
}

#define NLL_ENTRY(sfx, dtype_, T)                                                                   \
    lossk_status lossk_nll_loss_##sfx(                                                              \
        const T *log_probs, int64_t n, int64_t c, int64_t inner, const void *target,               \
        lossk_index_type target_type, const T *class_weight, int64_t ignore_index,                 \
        lossk_reduction reduction, double *loss_out, T *loss_none, T *grad, int n_threads,         \
        int64_t *bad_index) {                                                                       \
        LOSSK_CLASS_ARGS(a, dtype_, log_probs, n, c, inner, class_weight, reduction, loss_out,     \
                         loss_none, grad, n_threads);                                               \
        a.target = target; a.target_type = target_type; a.ignore_index = ignore_index;              \
        return lossk__class_entry_done(lossk_class_index_loss("nll_loss", &a), &a, bad_index);      \
    }
NLL_ENTRY(f32, LOSSK_DTYPE_F32, float)
NLL_ENTRY(f64, LOSSK_DTYPE_F64, double)

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"

/* Loss of flat sample s, whose class-k log-probability is xs[k * stride];
   *y receives its target, or -1 when it is ignored. */
LOSSK_INLINE double LOSSK_FN(nll_sample)(const nll_args *a, const real *xs, int64_t stride, int64_t s,
                                         int64_t *y) {
    const int64_t t = lossk__load_index(a->target, a->target_type, s);
    if (t == a->ignore_index) { *y = -1; return 0.0; }
    *y = t;
    const double w = a->weight ? (double)((const real *)a->weight)[t] : 1.0;
    return -(w * (double)xs[t * stride]);
}

LOSSK_INLINE real LOSSK_FN(nll_grad_value)(const nll_args *a, int64_t k) {
    return (real)-(a->scale * (a->weight ? (double)((const real *)a->weight)[k] : 1.0));
}

LOSSK_INLINE void LOSSK_FN(nll_emit)(const nll_args *a, real *dst, const real *buf, int64_t len) {
    if (a->nt) LOSSK_FN(stream_copy)(dst, buf, len);
    else memcpy(dst, buf, (size_t)len * sizeof(real));
}

/* Rows [begin, end) of an (n, c) array: the losses first (in place, the
   gradient overwrites x), then the contiguous gradient rows chunk by chunk
   from a zero buffer with the chunk's target elements set (and reset). */
static int64_t LOSSK_FN(nll_rows_block)(const void *ctx, int64_t begin, int64_t end, double *acc,
                                        void *scratch) {
    const nll_args *a = (const nll_args *)ctx;
    const int64_t c = a->c;
    real *loss_rows = a->loss_rows ? (real *)a->loss_rows + begin : NULL;
    double total = 0.0;
    for (int64_t r = begin; r < end; r++) {
        int64_t y;
        const double loss = LOSSK_FN(nll_sample)(a, (const real *)a->x + r * c, 1, r, &y);
        if (loss_rows) loss_rows[r - begin] = (real)loss;
        total += loss;
    }
    acc[0] = total;
    if (!a->grad || c == 0) return -1;
    real *buf = (real *)scratch, *g = (real *)a->grad + begin * c;
    const int64_t n_elems = (end - begin) * c;
    memset(buf, 0, NLL_BUF * sizeof(real));
    for (int64_t e0 = 0; e0 < n_elems; e0 += NLL_BUF) {
        const int64_t len = n_elems - e0 < NLL_BUF ? n_elems - e0 : NLL_BUF;
        const int64_t r_first = begin + e0 / c, r_last = begin + (e0 + len - 1) / c;
        for (int pass = 0; pass < 2; pass++) {  /* 0: set the targets, 1: back to zeros */
            for (int64_t r = r_first; r <= r_last; r++) {
                const int64_t t = lossk__load_index(a->target, a->target_type, r);
                if (t == a->ignore_index) continue;
                const int64_t e = (r - begin) * c + t - e0;
                if (e >= 0 && e < len) buf[e] = pass == 0 ? LOSSK_FN(nll_grad_value)(a, t) : (real)0;
            }
            if (pass == 0) LOSSK_FN(nll_emit)(a, g + e0, buf, len);
        }
    }
    if (a->nt) lossk__stream_fence();
    return -1;
}

/* (n, c, inner) layout, items (sample, tile of positions): the tile's losses,
   then per class k the strip of positions select(t == k, value_k, 0). When
   the tile is the whole sample the strips are contiguous and several
   classes share one buffer. */
static int64_t LOSSK_FN(nll_spatial_block)(const void *ctx, int64_t begin, int64_t end, double *acc,
                                           void *scratch) {
    const nll_args *a = (const nll_args *)ctx;
    const int64_t c = a->c, inner = a->inner, tile = a->tile;
    real *buf = (real *)scratch;
    int64_t *ys = (int64_t *)((char *)scratch + NLL_BUF * sizeof(real));
    double total = 0.0;
    for (int64_t item = begin; item < end; item++) {
        const int64_t n = item / a->tiles_per_sample, i0 = (item % a->tiles_per_sample) * tile;
        const int64_t width = inner - i0 < tile ? inner - i0 : tile;
        const real *xs = (const real *)a->x + n * c * inner + i0;
        real *loss_rows = a->loss_rows ? (real *)a->loss_rows + n * inner + i0 : NULL;
        for (int64_t i = 0; i < width; i++) {
            const double loss = LOSSK_FN(nll_sample)(a, xs + i, inner, n * inner + i0 + i, &ys[i]);
            if (loss_rows) loss_rows[i] = (real)loss;
            total += loss;
        }
        if (!a->grad) continue;
        const int64_t group = width == inner ? NLL_BUF / width : 1;  /* classes per buffer */
        for (int64_t k0 = 0; k0 < c; k0 += group) {
            const int64_t kn = c - k0 < group ? c - k0 : group;
            for (int64_t kk = 0; kk < kn; kk++) {
                const int64_t k = k0 + kk;
                const real v = LOSSK_FN(nll_grad_value)(a, k);
                real *o = buf + kk * width;
                for (int64_t i = 0; i < width; i++) o[i] = ys[i] == k ? v : (real)0;
            }
            LOSSK_FN(nll_emit)(a, (real *)a->grad + (n * c + k0) * inner + i0, buf, kn * width);
        }
    }
    if (a->nt && a->grad) lossk__stream_fence();
    acc[0] = total;
    return -1;
}

static const nll_kernels LOSSK_FN(nll_kernels) = {
    LOSSK_FN(nll_rows_block), LOSSK_FN(nll_spatial_block),
};

#endif /* LOSSK_TEMPLATE_PASS */
