/*
 * Softmax cross-entropy (class-index and probability targets) and softmax
 * focal loss: loss and gradient in one pass over the logits.
 *
 * Per row x[0..C): lse = log sum_k exp(x_k), p_k = exp(x_k - lse).
 *   index target y, weight w, smoothing eps:
 *     loss = (1-eps) w_y (lse - x_y) + (eps/C) sum_k w_k (lse - x_k)
 *   probability target t, t' = (1-eps) t + eps/C:
 *     loss = sum_k w_k t'_k (lse - x_k)
 *   softmax focal (index target, eps = 0, alpha as w): loss = w_y q^g (lse - x_y),
 *   q = 1 - p_y.
 * A sample's loss and gradient coefficients come from the row point functions
 * of row_losses.h, which every layout path below uses; focal's g = 0 skips
 * its factors, so it gives the bits of cross-entropy with weight = alpha, on
 * every path.
 * A row is read from memory once: per chunk of CE_CHUNK classes the max m_j,
 * s_j = sum exp(x - m_j) (the exps kept, in the gradient row or a per-thread
 * buffer) and the smoothing sums; the chunks then give
 * lse = M + log sum_j s_j exp(m_j - M), and a last pass over the cached exps
 * writes the gradient. Smoothing sums are taken as sum w_k (x_k - m_j), so no
 * large lse * W - sum w x cancellation happens for logits like 1e4.
 */
#ifndef LOSSK_TEMPLATE_PASS

#include <float.h>
#include <stdlib.h>

#include "internal.h"
#include "row_losses.h"

#ifdef _OPENMP
#  include <omp.h>
#endif

/* The chunking depends on C only, so a row gives the same bits whether one
   thread runs it or several threads share it (split-row mode below). */
#define CE_CHUNK 4096
/* Elements of logits per block of the deterministic reduction. */
#define CE_BLOCK_ELEMS 65536
/* Column kernel (vectorized across positions): tiles of ~CE_TILE_ELEMS
   elements, at most CE_TILE_MAX positions. It runs the (n, c, inner) layout in
   place and rows of at most CE_NARROW classes through transposed tiles (a row
   kernel would pay its per-row costs on a few classes: 10 classes 2.7x
   slower; from 48 classes on the row kernel is the faster one). float32 on
   AVX-512 runs every narrow row in registers instead (ce_rows16). */
#define CE_TILE_ELEMS 16384
#define CE_TILE_MAX 256
#define CE_NARROW 47
/* Narrow rows' blocks are smaller: at 64 Ki elements 65536 x 10 made 11
   blocks, 6 and 5 per thread with 2 threads (the second idle 1/6 of the
   time). */
#define CE_NARROW_BLOCK_ELEMS 16384

/* Stride of a transposed tile's class rows: the tile width rounded up to an
   odd number of 64-byte lines (for 16 floats or doubles per line at most), so
   that the rows of successive classes fall in different L1 sets. A stride of
   256 floats (1 KiB) put every fourth class in the same set: 40 classes and
   more spilled the 8 ways, and the transposes ran at 3 cycles per element. */
static int64_t ce_tile_stride(int64_t tile) { return (((tile + 15) >> 4) | 1) << 4; }

typedef struct ce_chunk {
    double m;     /* max of x over the chunk */
    double s;     /* sum exp(x - m) */
    double wsum;  /* index + smoothing: sum w_k;  soft: sum w_k t'_k */
    double wxm;   /* index + smoothing: sum w_k (x_k - m);  soft: sum w_k t'_k (x_k - m) */
    double f;     /* gradient factor: scale * A * exp(m - M) / S (ce_row_finish: exp(m - M) first) */
} ce_chunk;

typedef struct ce_args {
    const void *x;             /* logits, n x c x inner */
    int64_t n, c, inner;
    const void *target;        /* class indices (n x inner), or NULL */
    lossk_index_type target_type;
    const void *soft;          /* probability targets (n x c x inner), or NULL */
    int is_soft;               /* probability targets (soft may be NULL when empty) */
    const void *weight;        /* c weights or NULL */
    int64_t ignore_index;
    double eps;                /* label smoothing */
    double gamma;              /* focal exponent; 0: plain cross-entropy */
    double scale;              /* gradient scale: 1/denominator for mean, else 1 */
    double weight_total;       /* sum of the weights (c without weights) */
    void *loss_rows;           /* per-sample losses (n x inner) or NULL */
    void *grad;                /* n x c x inner or NULL */
    int nt;                    /* stream the gradient from a per-thread buffer */
    int64_t tile;              /* column kernel: positions per tile */
    int64_t tiles_per_sample;  /* column kernel: tiles per sample (inner > 1) */
} ce_args;

static int64_t ce_chunks(int64_t c) { return c <= 0 ? 0 : (c - 1) / CE_CHUNK + 1; }

/* Per-position arrays of the column kernel (8 bytes each per position). */
#define CE_COL_ARRAYS 10

/* Per-(level, dtype) kernels, declared by the template pass. */
typedef struct ce_kernels {
    lossk_block_fn rows_block;     /* inner == 1: items are rows */
    lossk_block_fn columns_block;  /* inner > 1 or narrow rows: items are tiles */
    void (*chunk_stats)(const ce_args *, const void *x, const void *t, int64_t k0, int64_t len,
                        void *e, ce_chunk *st);
    double (*row_finish)(const ce_args *, ce_chunk *st, int64_t k_chunks, double x_y, double *w_y);
    void (*chunk_grad)(const ce_args *, void *e, const void *t, int64_t k0, int64_t len,
                       double f, int64_t y, double target_coef);
    int narrow_tiles;              /* narrow rows go through transposed tiles in scratch */
    int64_t narrow;                /* index targets: rows of at most this many classes are narrow */
} ce_kernels;

#define LOSSK_TEMPLATE_FILE "softmax/softmax.c"
#include "multiarch.h"

#define CE_KERNELS(sfx) LOSSK_SELECT(ce_kernels_##sfx)

/* Rows fewer than threads, long rows: threads share each row's chunks.
   Same chunk kernels and the same per-block loss sums as the rows mode, so
   the bits match it. */
static lossk_status ce_split_rows(const ce_args *a, const ce_kernels *kern, size_t elem,
                                  int threads, int64_t block_rows, double *loss_sum) {
    const int64_t n = a->n, c = a->c, k_chunks = ce_chunks(c), tasks = n * k_chunks;
    const int64_t IGNORED = -2;
    ce_chunk *st = (ce_chunk *)malloc((size_t)tasks * sizeof(ce_chunk));
    double *xw = (double *)malloc((size_t)n * 2 * sizeof(double)); /* x[y], w[y] per row */
    int64_t *y = (int64_t *)malloc((size_t)n * sizeof(int64_t));   /* -1: soft, -2: ignored */
    if (!st || !xw || !y) { free(st); free(xw); free(y); return LOSSK_ERR_NO_MEMORY; }
    const char *xb = (const char *)a->x;
    for (int64_t r = 0; r < n; r++) {  /* before any gradient write: grad may alias x */
        y[r] = -1;
        xw[2 * r] = 0.0;
        xw[2 * r + 1] = 1.0;
        if (!a->target) continue;
        const int64_t t = lossk__load_index(a->target, a->target_type, r);
        if (t == a->ignore_index) { y[r] = IGNORED; continue; }
        y[r] = t;
        xw[2 * r] = elem == 8 ? ((const double *)xb)[r * c + t] : ((const float *)xb)[r * c + t];
        if (a->weight)
            xw[2 * r + 1] = elem == 8 ? ((const double *)a->weight)[t] : ((const float *)a->weight)[t];
    }
    int alloc_failed = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(| : alloc_failed)
#endif
    {
        void *buf = a->grad ? NULL : lossk__aligned_alloc(CE_CHUNK * elem);
        if (!a->grad && !buf) alloc_failed = 1;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t task = 0; task < tasks; task++) {
            const int64_t r = task / k_chunks, k0 = (task % k_chunks) * CE_CHUNK;
            const int64_t len = c - k0 < CE_CHUNK ? c - k0 : CE_CHUNK;
            if (y[r] == IGNORED || (!a->grad && !buf)) continue;
            void *e = a->grad ? (char *)a->grad + (size_t)(r * c + k0) * elem : buf;
            const void *t = a->soft ? (const char *)a->soft + (size_t)(r * c) * elem : NULL;
            kern->chunk_stats(a, xb + (size_t)(r * c) * elem, t, k0, len, e, &st[task]);
        }
        lossk__aligned_free(buf);
    }
    if (alloc_failed) { free(st); free(xw); free(y); return LOSSK_ERR_NO_MEMORY; }
    double total = 0.0, block_sum = 0.0;  /* grouped as the rows mode's blocks */
    for (int64_t r = 0; r < n; r++) {
        const double loss = y[r] == IGNORED ? 0.0  /* xw[2r+1] becomes the target coefficient */
                          : kern->row_finish(a, st + r * k_chunks, k_chunks, xw[2 * r], &xw[2 * r + 1]);
        if (a->loss_rows) {
            if (elem == 8) ((double *)a->loss_rows)[r] = loss;
            else ((float *)a->loss_rows)[r] = (float)loss;
        }
        block_sum += loss;
        if ((r + 1) % block_rows == 0 || r + 1 == n) { total += block_sum; block_sum = 0.0; }
    }
    if (a->grad) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
        for (int64_t task = 0; task < tasks; task++) {
            const int64_t r = task / k_chunks, k0 = (task % k_chunks) * CE_CHUNK;
            const int64_t len = c - k0 < CE_CHUNK ? c - k0 : CE_CHUNK;
            void *g = (char *)a->grad + (size_t)(r * c + k0) * elem;
            if (y[r] == IGNORED) { memset(g, 0, (size_t)len * elem); continue; }
            const void *t = a->soft ? (const char *)a->soft + (size_t)(r * c) * elem : NULL;
            kern->chunk_grad(a, g, t, k0, len, st[task].f, y[r], xw[2 * r + 1]);
        }
    }
    *loss_sum = total;
    free(st); free(xw); free(y);
    return LOSSK_OK;
}

static lossk_status ce_run(ce_args *a, const ce_kernels *kern, size_t elem,
                           lossk_reduction reduction, double *loss_out,
                           int n_threads, int64_t *bad_index) {
    const int64_t n = a->n, c = a->c, inner = a->inner;
    lossk_status status = lossk__check_class_args(n, c, inner, reduction, a->x,
                                                  a->is_soft ? LOSSK_INDEX_INT64 : a->target_type,
                                                  loss_out, a->loss_rows);
    if (status != LOSSK_OK) return status;
    const int64_t samples = n * inner, elems = samples * c;
    if ((a->is_soft ? elems > 0 && !a->soft : samples > 0 && !a->target) ||
        !(a->eps >= 0.0 && a->eps <= 1.0) || !(a->gamma >= 0.0 && a->gamma <= DBL_MAX) ||
        (a->gamma > 0.0 && (a->is_soft || a->eps > 0.0)))
        return LOSSK_ERR_INVALID_ARGUMENT;
    if (bad_index) *bad_index = -1;
    if (reduction != LOSSK_REDUCTION_NONE) a->loss_rows = NULL;
    if (lossk__aliases(a->grad, a->soft) || lossk__aliases(a->grad, a->target) ||
        lossk__aliases(a->grad, a->weight) || lossk__aliases(a->loss_rows, a->x) ||
        lossk__aliases(a->loss_rows, a->grad))
        return LOSSK_ERR_ALIASING;

    a->weight_total = (double)c;
    if (a->weight) {
        double w = 0.0;
        for (int64_t k = 0; k < c; k++)
            w += elem == 8 ? ((const double *)a->weight)[k] : (double)((const float *)a->weight)[k];
        a->weight_total = w;
    }

    /* The mean's denominator: sum of w[y] over non-ignored samples (index
       targets), the number of samples (probability targets). */
    double denom = elems > 0 ? (double)samples : 0.0;  /* probability targets; torch: NaN mean if empty */
    if (!a->is_soft) {
        lossk_status s = lossk__class_targets(a->target, a->target_type, samples, c, 1, a->ignore_index,
                                              a->weight, elem == 8, n_threads, &denom, bad_index);
        if (s != LOSSK_OK) return s;
    }
    a->scale = reduction == LOSSK_REDUCTION_MEAN ? 1.0 / denom : 1.0;

    double total = 0.0;
    if (samples > 0 && c == 0) {          /* no classes: every loss is an empty sum */
        if (a->loss_rows) memset(a->loss_rows, 0, (size_t)samples * elem);
    } else if (samples > 0) {
        const int64_t k_chunks = ce_chunks(c);
        if (inner == 1 && c > (a->is_soft ? CE_NARROW : kern->narrow)) {
            const int64_t block_rows = lossk__block_items(c, CE_BLOCK_ELEMS);
            const int64_t n_blocks = (n - 1) / block_rows + 1;
            int threads = lossk__threads_for(n_threads, elems, n_blocks);
            int want = lossk__threads_for(n_threads, elems, n * k_chunks);  /* no idle threads */
            lossk_status s;
            if (n < want && k_chunks >= 2) {
                s = ce_split_rows(a, kern, elem, want, block_rows, &total);
            } else {
                a->nt = a->grad && elems * (int64_t)elem >= LOSSK_NT_STORE_MIN_BYTES;
                size_t scratch = (size_t)(a->nt ? c : (c < CE_CHUNK ? c : CE_CHUNK)) * elem + 64 +
                                 (size_t)k_chunks * sizeof(ce_chunk);
                s = lossk__run_blocks(n, block_rows, threads, 1, scratch, kern->rows_block, a, &total, NULL);
            }
            if (s != LOSSK_OK) return s;
        } else {
            /* positions: inner per sample, or the rows themselves (narrow rows) */
            const int64_t positions = inner > 1 ? inner : n;
            int64_t tile = CE_TILE_ELEMS / (c > 0 ? c : 1);
            tile = tile < 16 ? 16 : tile > CE_TILE_MAX ? CE_TILE_MAX : tile;
            if (tile > positions) tile = positions;
            a->tile = tile;
            a->tiles_per_sample = inner > 1 ? (inner - 1) / tile + 1 : 0;
            const int64_t items = inner > 1 ? n * a->tiles_per_sample : (n - 1) / tile + 1;
            const int64_t block = lossk__block_items(tile * (c > 0 ? c : 1), inner > 1 ? CE_BLOCK_ELEMS : CE_NARROW_BLOCK_ELEMS);
            const int64_t n_blocks = (items - 1) / block + 1;
            const size_t tile_bytes = (((size_t)(ce_tile_stride(tile) * c) * elem) + 63) & ~(size_t)63;
            /* narrow rows: transposed x, soft target and gradient tiles; then the
               per-position arrays of ce_columns (none of it when the rows stay
               in registers) */
            const size_t cols = (size_t)tile * CE_COL_ARRAYS * 8;
            /* spatial layout, large gradient: made in a tile, streamed out */
            a->nt = inner > 1 && a->grad && elems * (int64_t)elem >= LOSSK_NT_STORE_MIN_BYTES;
            /* (the AVX2 float strips stage every tile there) */
            const size_t scratch = 64 + (inner > 1           ? cols + (a->nt || kern->narrow > CE_NARROW ? tile_bytes : 0)
                                         : kern->narrow_tiles ? tile_bytes * (a->soft ? 3 : 2) + cols
                                                              : 0);
            lossk_status s = lossk__run_blocks(items, block, lossk__threads_for(n_threads, elems, n_blocks),
                                               1, scratch, kern->columns_block, a, &total, NULL);
            if (s != LOSSK_OK) return s;
        }
    }
    if (reduction == LOSSK_REDUCTION_SUM) *loss_out = total;
    else if (reduction == LOSSK_REDUCTION_MEAN) *loss_out = total / denom;  /* 0/0 = NaN as torch */
    return LOSSK_OK;
}

/* The family entry (lossk.h): "cross_entropy" (index or probability targets) or
   "softmax_focal_loss". */
lossk_status lossk_softmax_loss(const char *loss, lossk_class_args *args) {
    if (!loss || !args || args->size < sizeof(lossk_class_args)) return LOSSK_ERR_INVALID_ARGUMENT;
    args->bad_index = -1;
    ce_args a;
    memset(&a, 0, sizeof a);
    a.x = args->pred; a.n = args->n; a.c = args->c; a.inner = args->inner;
    a.weight = args->class_weight; a.loss_rows = args->loss_none; a.grad = args->grad;
    a.target = args->target; a.target_type = args->target_type; a.ignore_index = args->ignore_index;
    int64_t *bad_index = &args->bad_index;
    if (strcmp(loss, "cross_entropy") == 0) {
        a.eps = args->label_smoothing;
        if (args->soft_target) {
            a.target = NULL;
            a.soft = args->target_probs;
            a.is_soft = 1;
            bad_index = NULL;
        }
    } else if (strcmp(loss, "softmax_focal_loss") == 0) {
        a.gamma = args->gamma;
    } else {
        return LOSSK_ERR_INVALID_ARGUMENT;
    }
    if (args->dtype == LOSSK_DTYPE_F32)
        return ce_run(&a, CE_KERNELS(f32), sizeof(float), args->reduction, args->loss_out,
                      args->n_threads, bad_index);
    if (args->dtype == LOSSK_DTYPE_F64)
        return ce_run(&a, CE_KERNELS(f64), sizeof(double), args->reduction, args->loss_out,
                      args->n_threads, bad_index);
    return LOSSK_ERR_INVALID_ARGUMENT;
}

/* The typed entries: shims over the family entry. */
#define CE_ENTRY(sfx, dtype_, T)                                                                   \
    lossk_status lossk_cross_entropy_##sfx(                                                        \
        const T *logits, int64_t n, int64_t c, int64_t inner, const void *target,                 \
        lossk_index_type target_type, const T *class_weight, int64_t ignore_index,                \
        double label_smoothing, lossk_reduction reduction, double *loss_out, T *loss_none,        \
        T *grad, int n_threads, int64_t *bad_index) {                                             \
        LOSSK_CLASS_ARGS(a, dtype_, logits, n, c, inner, class_weight, reduction, loss_out,       \
                         loss_none, grad, n_threads);                                              \
        a.target = target; a.target_type = target_type; a.ignore_index = ignore_index;             \
        a.label_smoothing = label_smoothing;                                                       \
        return lossk__class_entry_done(lossk_softmax_loss("cross_entropy", &a), &a, bad_index);    \
    }                                                                                              \
    lossk_status lossk_cross_entropy_soft_##sfx(                                                   \
        const T *logits, int64_t n, int64_t c, int64_t inner, const T *target_probs,              \
        const T *class_weight, double label_smoothing, lossk_reduction reduction,                 \
        double *loss_out, T *loss_none, T *grad, int n_threads) {                                  \
        LOSSK_CLASS_ARGS(a, dtype_, logits, n, c, inner, class_weight, reduction, loss_out,       \
                         loss_none, grad, n_threads);                                              \
        a.soft_target = 1; a.target_probs = target_probs; a.label_smoothing = label_smoothing;     \
        return lossk_softmax_loss("cross_entropy", &a);                                            \
    }                                                                                              \
    lossk_status lossk_softmax_focal_loss_##sfx(                                                   \
        const T *logits, int64_t n, int64_t c, int64_t inner, const void *target,                 \
        lossk_index_type target_type, const T *alpha, double gamma, int64_t ignore_index,         \
        lossk_reduction reduction, double *loss_out, T *loss_none, T *grad, int n_threads,        \
        int64_t *bad_index) {                                                                      \
        LOSSK_CLASS_ARGS(a, dtype_, logits, n, c, inner, alpha, reduction, loss_out, loss_none,   \
                         grad, n_threads);                                                         \
        a.target = target; a.target_type = target_type; a.ignore_index = ignore_index;             \
        a.gamma = gamma;                                                                           \
        return lossk__class_entry_done(lossk_softmax_loss("softmax_focal_loss", &a), &a, bad_index); \
    }
CE_ENTRY(f32, LOSSK_DTYPE_F32, float)
CE_ENTRY(f64, LOSSK_DTYPE_F64, double)

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"
#include "row_losses.h"

/* Stats of classes [k0, k0+len) of one row. x, t: row starts. e receives
   exp(x - m) and may be x itself (in-place gradient): x is fully read first. */
static LOSSK_NOINLINE void LOSSK_FN(ce_chunk_stats)(const ce_args *a, const void *xv, const void *tv,
                                                   int64_t k0, int64_t len, void *ev, ce_chunk *st) {
    const real *x = (const real *)xv + k0;
    const real *w = a->weight ? (const real *)a->weight + k0 : NULL;
    real *e = (real *)ev;
    const real m = LOSSK_FN(lane_max)(x, len);
    st->wsum = st->wxm = 0.0;
    if (tv) {
        /* soft target: tw_k = w_k t'_k, t' = (1-eps) t + eps/C */
        const real *t = (const real *)tv + k0;
        const real keep = (real)(1.0 - a->eps), spread = (real)(a->eps / (double)a->c);
        real acc_t[LOSSK_LANES], acc_x[LOSSK_LANES];
        for (int l = 0; l < LOSSK_LANES; l++) acc_t[l] = acc_x[l] = 0;
        int64_t k = 0;
        for (; k + LOSSK_LANES <= len; k += LOSSK_LANES)
            for (int l = 0; l < LOSSK_LANES; l++) {
                real tw = (t[k + l] * keep + spread) * (w ? w[k + l] : (real)1);
                acc_t[l] += tw;
                acc_x[l] += LOSSK_FN(mul_shifted)(tw, x[k + l], m);
            }
        double st_t = 0.0, st_x = 0.0;
        for (int l = 0; l < LOSSK_LANES; l++) { st_t += (double)acc_t[l]; st_x += (double)acc_x[l]; }
        for (; k < len; k++) {
            real tw = (t[k] * keep + spread) * (w ? w[k] : (real)1);
            st_t += (double)tw;
            st_x += (double)LOSSK_FN(mul_shifted)(tw, x[k], m);
        }
        st->wsum = st_t;
        st->wxm = st_x;
    } else if (a->eps > 0.0) {
        st->wxm = LOSSK_FN(lane_wsum_shifted)(x, w, m, len);
        st->wsum = w ? LOSSK_FN(lane_sum)(w, len) : (double)len;
    }
    st->m = (double)m;
    st->s = LOSSK_FN(exp_shifted_sum)(x, m, e, len);
}

/* Combines a row's chunks: returns the row loss, stores each chunk's
   gradient factor. x_y: the target's logit; *w_y: its weight on entry, on
   return the coefficient of -[k=y] in the gradient (scale included). Index
   targets only; unused for probability targets. */
static LOSSK_NOINLINE double LOSSK_FN(ce_row_finish)(const ce_args *a, ce_chunk *st, int64_t k_chunks,
                                                    double x_y, double *w_y) {
    double big_m = st[0].m;
    for (int64_t j = 1; j < k_chunks; j++) big_m = st[j].m > big_m ? st[j].m : big_m;
    double s = 0.0;
    /* each chunk's rescale exp(m_j - M), kept in f until f is known; exp(0) =
       1 without a libm call: one chunk per row up to 4096 classes */
    for (int64_t j = 0; j < k_chunks; j++) {
        st[j].f = st[j].m == big_m ? 1.0 : exp(st[j].m - big_m);
        s += st[j].s * st[j].f;
    }
    const double log_s = log(s);
    double smooth = 0.0, wt_total = 0.0;  /* CE_SMOOTH over the chunks, its weights */
    for (int64_t j = 0; j < k_chunks; j++) {
        smooth += CE_SMOOTH(st[j].wsum, (big_m - st[j].m) + log_s, st[j].wxm);
        wt_total += st[j].wsum;
    }
    double loss, coef;
    if (a->soft) {
        loss = smooth;
        coef = wt_total;
    } else {
        const double keep = 1.0 - a->eps, spread = a->eps / (double)a->c;
        const double nll = CE_NLL(big_m, x_y, log_s);
        double target_coef = keep * *w_y;
        CE_SAMPLE_LOSS(loss, target_coef, nll, a->eps > 0.0, spread, smooth);
        *w_y = a->scale * keep * *w_y;
        if (a->gamma != 0.0) {
            double qg;
            const double gf = ce_focal(nll, a->gamma, a->gamma == 2.0, &qg);
            loss *= qg;
            target_coef *= gf;
            *w_y *= gf;
        }
        coef = a->eps > 0.0 ? CE_P_COEF(target_coef, spread * a->weight_total) : target_coef;
    }
    for (int64_t j = 0; j < k_chunks; j++) st[j].f = a->scale * coef * st[j].f / s;
    return loss;
}

/* Gradient of classes [k0, k0+len) in place over the cached exps e. */
static LOSSK_NOINLINE void LOSSK_FN(ce_chunk_grad)(const ce_args *a, void *ev, const void *tv,
                                                  int64_t k0, int64_t len, double fd,
                                                  int64_t y, double target_coef) {
    real *e = (real *)ev;
    const real f = (real)fd;
    const real *w = a->weight ? (const real *)a->weight + k0 : NULL;
    if (tv) {
        const real *t = (const real *)tv + k0;
        const real keep = (real)(1.0 - a->eps), spread = (real)(a->eps / (double)a->c);
        const real sc = (real)a->scale;
        if (w) for (int64_t k = 0; k < len; k++) e[k] = e[k] * f - sc * (w[k] * (t[k] * keep + spread));
        else   for (int64_t k = 0; k < len; k++) e[k] = e[k] * f - sc * (t[k] * keep + spread);
        return;
    }
    if (a->eps > 0.0) {
        const real cw = (real)(a->scale * a->eps / (double)a->c);
        if (w) for (int64_t k = 0; k < len; k++) e[k] = e[k] * f - cw * w[k];
        else   for (int64_t k = 0; k < len; k++) e[k] = e[k] * f - cw;
    } else {
        for (int64_t k = 0; k < len; k++) e[k] = e[k] * f;
    }
    if (y >= k0 && y < k0 + len) e[y - k0] -= (real)target_coef;
}

/* Rows [0, nrows) of a contiguous (nrows x c) matrix. Returns the sum of the
   row losses (row order). scratch: exps buffer (when a->nt or no gradient)
   followed by the chunk stats. */
static double LOSSK_FN(ce_rows)(const ce_args *a, const real *x, const void *target, int64_t target_off,
                                const real *soft, int64_t nrows, real *grad, real *loss_rows, int nt,
                                void *scratch) {
    const int64_t c = a->c, k_chunks = ce_chunks(c);
    const size_t buf_elems = (size_t)(nt ? c : (c < CE_CHUNK ? c : CE_CHUNK));
    real *buf = (real *)scratch;
    ce_chunk *st = (ce_chunk *)((char *)scratch + ((buf_elems * sizeof(real) + 63) & ~(size_t)63));
    double total = 0.0;
    for (int64_t r = 0; r < nrows; r++) {
        const real *xr = x + r * c;
        real *gr = grad ? grad + r * c : NULL;
        const real *tr = soft ? soft + r * c : NULL;
        int64_t y = -1;
        double x_y = 0.0, w_y = 1.0, loss = 0.0;
        if (!soft) {
            y = lossk__load_index(target, a->target_type, target_off + r);
            if (y == a->ignore_index) {
                if (gr) {
                    if (nt) { memset(buf, 0, (size_t)c * sizeof(real)); LOSSK_FN(stream_copy)(gr, buf, c); }
                    else memset(gr, 0, (size_t)c * sizeof(real));
                }
                if (loss_rows) loss_rows[r] = 0;
                continue;
            }
            x_y = (double)xr[y];  /* read before the row is overwritten (in place) */
            w_y = a->weight ? (double)((const real *)a->weight)[y] : 1.0;
        }
        for (int64_t j = 0; j < k_chunks; j++) {
            const int64_t k0 = j * CE_CHUNK, len = c - k0 < CE_CHUNK ? c - k0 : CE_CHUNK;
            real *e = !gr ? buf : nt ? buf + k0 : gr + k0;
            LOSSK_FN(ce_chunk_stats)(a, xr, tr, k0, len, e, &st[j]);
        }
        loss = LOSSK_FN(ce_row_finish)(a, st, k_chunks, x_y, &w_y);  /* w_y: now the target coefficient */
        if (gr && nt && !soft && a->eps == 0.0) {
            for (int64_t j = 0; j < k_chunks; j++) {
                const int64_t k0 = j * CE_CHUNK, len = c - k0 < CE_CHUNK ? c - k0 : CE_CHUNK;
                LOSSK_FN(stream_scale)(gr + k0, buf + k0, len, (real)st[j].f, y - k0, (real)w_y);
            }
        } else if (gr) {
            real *e_row = nt ? buf : gr;
            for (int64_t j = 0; j < k_chunks; j++) {
                const int64_t k0 = j * CE_CHUNK, len = c - k0 < CE_CHUNK ? c - k0 : CE_CHUNK;
                LOSSK_FN(ce_chunk_grad)(a, e_row + k0, tr, k0, len, st[j].f, y, w_y);
            }
            if (nt) LOSSK_FN(stream_copy)(gr, buf, c);
        }
        if (loss_rows) loss_rows[r] = (real)loss;
        total += loss;
    }
    return total;
}

static int64_t LOSSK_FN(ce_rows_block)(const void *ctx, int64_t begin, int64_t end, double *acc,
                                       void *scratch) {
    const ce_args *a = (const ce_args *)ctx;
    const int64_t c = a->c;
    acc[0] = LOSSK_FN(ce_rows)(a, (const real *)a->x + begin * c, a->target, begin,
                               a->soft ? (const real *)a->soft + begin * c : NULL, end - begin,
                               a->grad ? (real *)a->grad + begin * c : NULL,
                               a->loss_rows ? (real *)a->loss_rows + begin : NULL, a->nt, scratch);
    if (a->nt) lossk__stream_fence();
    return -1;
}

#if !LOSSK_F64
/* The focal factors of `width` positions: loss factors into focal, gradient
   factors into grad_factor and applied to f. GCC keeps ce_focal_f scalar
   here (its branches and calls): AVX-512 takes 16 positions at a time by
   ce_focal512 (row_losses.h). */
static LOSSK_NOINLINE void LOSSK_FN(ce_focal_positions)(int64_t width, float gamma,
                                                       const real *LOSSK_RESTRICT m,
                                                       const real *LOSSK_RESTRICT xy,
                                                       const real *LOSSK_RESTRICT log_s,
                                                       real *LOSSK_RESTRICT focal,
                                                       real *LOSSK_RESTRICT grad_factor,
                                                       real *LOSSK_RESTRICT f) {
    int64_t i = 0;
#if LOSSK_AVX512_F32
    for (; i + 16 <= width; i += 16) {
        __m512 fo;
        const __m512 ce = CE_NLL(_mm512_loadu_ps(m + i), _mm512_loadu_ps(xy + i), _mm512_loadu_ps(log_s + i));
        const __m512 gf = ce_focal512(ce, gamma, gamma == 2.0f, &fo);
        _mm512_storeu_ps(focal + i, fo);
        _mm512_storeu_ps(grad_factor + i, gf);
        _mm512_storeu_ps(f + i, _mm512_mul_ps(_mm512_loadu_ps(f + i), gf));
    }
#endif
    for (; i < width; i++) {
        grad_factor[i] = LOSSK_FN(ce_focal_f)(CE_NLL(m[i], xy[i], log_s[i]), gamma, gamma == 2.0f, &focal[i]);
        f[i] *= grad_factor[i];
    }
}
#endif

/* Column kernel: `width` positions side by side, class k of position i at
   x[k * cs + i]; every loop runs across positions, so it vectorizes for any C.
   Same formulas as the row kernel, evaluated in the same order per position
   (one chunk: lse = m + log s). g may be x (in place): x[y] is gathered and
   each x element is read before its gradient is written. Returns the sum of
   the losses (8 lanes by position, then a fixed tree), and writes them to
   loss_out. ebuf (NULL: the exps go to g): the exps and the gradient are
   made in this L1-resident tile (rows of es) and streamed out to g row by
   row with non-temporal stores (no read-for-ownership of g). pf: positions
   of the next tile, prefetched class by class during the max pass (the
   spatial layout's C strided streams defeat the hardware prefetcher). */
static double LOSSK_FN(ce_columns)(const ce_args *a, const real *x, int64_t cs, const void *target,
                                   int64_t target_off, const real *soft, int64_t width, real *g,
                                   real *loss_out, void *scratch, real *ebuf, int64_t es, int64_t pf) {
    const int64_t c = a->c;
    real *const gout = g;   /* the destination; g: where the gradient is made */
    if (ebuf && g) g = ebuf;
    else es = cs;
    const real *w = (const real *)a->weight;
    double *arr = (double *)scratch;
    real *m = (real *)(arr), *s = (real *)(arr + width), *wx = (real *)(arr + 2 * width);
    real *ws = (real *)(arr + 3 * width), *f = (real *)(arr + 4 * width), *xy = (real *)(arr + 5 * width);
    real *wy = (real *)(arr + 6 * width), *act = (real *)(arr + 7 * width);
    int64_t *y = (int64_t *)(arr + 8 * width);
    double *row_loss = arr + 9 * width;
    const double keep = 1.0 - a->eps, spread = a->eps / (double)(c > 0 ? c : 1);
    const int smoothing = !soft && a->eps > 0.0;
    int64_t n_ignored = 0;

    for (int64_t i = 0; i < width; i++) {
        m[i] = c > 0 ? x[i] : (real)0;
        s[i] = wx[i] = ws[i] = 0;
        act[i] = 1;
        y[i] = -1;
        xy[i] = 0;
        wy[i] = 1;
    }
    if (!soft) {
        for (int64_t i = 0; i < width; i++) {
            const int64_t t = lossk__load_index(target, a->target_type, target_off + i);
            if (t == a->ignore_index) { act[i] = 0; n_ignored++; continue; }
            y[i] = t;
            xy[i] = x[t * cs + i];        /* before any gradient write */
            if (w) wy[i] = w[t];
        }
    }
    for (int64_t k = 0; k < c; k++) {
        const real *xk = x + k * cs;
        if (pf > 0) {   /* an address, not a pointer past the end of x: no access */
            const uintptr_t ahead = (uintptr_t)(xk + width);
            for (uintptr_t o = 0; o < (uintptr_t)pf * sizeof(real); o += 64)
                __builtin_prefetch((const void *)(ahead + o), 0, 3);
        }
        if (k == 0) continue;
        for (int64_t i = 0; i < width; i++) m[i] = xk[i] > m[i] ? xk[i] : m[i];
    }
    for (int64_t k = 0; k < c; k++) {
        const real *xk = x + k * cs;
        real *gk = g ? g + k * es : NULL;
        const real wk = w ? w[k] : (real)1;
        if (soft) {
            const real *tk = soft + k * cs;
            const real rk = (real)keep, sp = (real)spread;
            for (int64_t i = 0; i < width; i++) {
                const real tw = (tk[i] * rk + sp) * wk;
                ws[i] += tw;
                wx[i] += LOSSK_FN(mul_shifted)(tw, xk[i], m[i]);
            }
        } else if (smoothing) {
            for (int64_t i = 0; i < width; i++) wx[i] += LOSSK_FN(mul_shifted)(wk, xk[i], m[i]);
        }
        LOSSK_FN(exp_shifted_cols)(xk, m, s, gk, width);
    }
    /* per position: log s and the gradient factor (vectorized), then the
       losses in double */
    const real scale = (real)a->scale, rkeep = (real)keep;
    const real smooth_coef = (real)(smoothing ? spread * a->weight_total : 0.0);  /* no 0 * inf */
    for (int64_t i = 0; i < width; i++) f[i] = scale * (soft ? ws[i] : CE_P_COEF(rkeep * wy[i], smooth_coef)) / s[i];
#if LOSSK_F64
    for (int64_t i = 0; i < width; i++) s[i] = log(s[i]);
#else
    for (int64_t i = 0; i < width; i++) s[i] = lossk_logf(s[i]);
    /* focal excludes probability targets and smoothing, the users of ws and wx */
    real *focal = ws, *grad_factor = wx;
    if (a->gamma != 0.0) LOSSK_FN(ce_focal_positions)(width, (float)a->gamma, m, xy, s, focal, grad_factor, f);
#endif
    if (!soft && !smoothing && a->gamma == 0.0) {
        /* plain index targets: the general loop's formulas without its branches, so that it vectorizes */
        for (int64_t i = 0; i < width; i++) {
            double loss;
            CE_SAMPLE_LOSS(loss, keep * (double)wy[i], CE_NLL((double)m[i], (double)xy[i], (double)s[i]),
                           0, 0.0, 0.0);
            loss = act[i] != 0 ? loss : 0.0;
            loss_out[i] = (real)loss;
            row_loss[i] = loss;
        }
    } else for (int64_t i = 0; i < width; i++) {
        const double log_s = (double)s[i];
        double loss;
        if (soft) {
            loss = CE_SMOOTH((double)ws[i], log_s, (double)wx[i]);
        } else {
            const double nll = CE_NLL((double)m[i], (double)xy[i], log_s);
            CE_SAMPLE_LOSS(loss, keep * (double)wy[i], nll, smoothing, spread,
                           CE_SMOOTH(a->weight_total, log_s, (double)wx[i]));
            if (a->gamma != 0.0 && act[i] != 0) {  /* focal: rescale the position's loss and gradient */
#if LOSSK_F64
                double qg;
                const double gf = ce_focal(nll, a->gamma, a->gamma == 2.0, &qg);
                loss *= qg;
                f[i] *= gf;
                wy[i] *= gf;
#else
                loss *= (double)focal[i];
                wy[i] *= grad_factor[i];
#endif
            }
        }
        loss = act[i] != 0 ? loss : 0.0;
        loss_out[i] = (real)loss;
        row_loss[i] = loss;
    }
    /* the sum in 8 lanes by position, then the lanes as a tree: a running sum
       chained the loop above (10 classes: 10 % of the time) */
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i8 = 0;
    for (; i8 + 8 <= width; i8 += 8)
        for (int l = 0; l < 8; l++) lanes[l] += row_loss[i8 + l];
    for (int l = 0; i8 + l < width; l++) lanes[l] += row_loss[i8 + l];
    const double total = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
                         ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    if (!g) return total;
    for (int64_t k = 0; k < c; k++) {
        real *gk = g + k * es;
        if (soft) {
            const real *tk = soft + k * cs;
            const real rk = (real)keep, sp = (real)spread, sw = (real)a->scale * (w ? w[k] : (real)1);
            for (int64_t i = 0; i < width; i++) gk[i] = gk[i] * f[i] - sw * (tk[i] * rk + sp);
        } else if (smoothing) {
            const real cw = (real)(a->scale * spread) * (w ? w[k] : (real)1);
            for (int64_t i = 0; i < width; i++) gk[i] = gk[i] * f[i] - cw * act[i];
        } else {
            for (int64_t i = 0; i < width; i++) gk[i] = gk[i] * f[i];
        }
    }
    for (int64_t i = 0; i < width; i++) {
        if (y[i] >= 0) g[y[i] * es + i] -= (real)(a->scale * keep * (double)wy[i]);
    }
    if (n_ignored) {
        for (int64_t i = 0; i < width; i++)
            if (act[i] == 0)
                for (int64_t k = 0; k < c; k++) g[k * es + i] = 0;
    }
    if (g != gout)
        for (int64_t k = 0; k < c; k++) LOSSK_FN(stream_copy)(gout + k * cs, g + k * es, width);
    return total;
}

#if LOSSK_AVX512_F32
/* 16x16 transpose in registers: four stages of unpacks and 128-bit lane
   shuffles. */
LOSSK_INLINE void ce_transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4)
        for (int j = 0; j < 2; j++) {
            const __m512d lo = _mm512_castps_pd(t[i + j]), hi = _mm512_castps_pd(t[i + j + 2]);
            r[i + 2 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, hi));
            r[i + 2 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, hi));
        }
    for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
    }
}

/* The targets of rows [i, i + rows) as int32 lanes: -1 where ignored and
   beyond rows (the indices are in [0, c) elsewhere: checked before). */
LOSSK_INLINE __m512i ce_targets16(const ce_args *a, int64_t i, int64_t rows) {
    const __mmask16 in = lossk__lanes_in(0, rows);
    __mmask16 ign;
    __m512i y;
    if (a->target_type == LOSSK_INDEX_INT64) {
        const int64_t *t = (const int64_t *)a->target + i;
        const __m512i ii = _mm512_set1_epi64(a->ignore_index);
        const __m512i lo = _mm512_maskz_loadu_epi64((__mmask8)in, t);
        const __m512i hi = _mm512_maskz_loadu_epi64((__mmask8)(in >> 8), t + 8);
        ign = (__mmask16)(_mm512_cmpeq_epi64_mask(lo, ii) | (unsigned)_mm512_cmpeq_epi64_mask(hi, ii) << 8);
        y = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(lo)), _mm512_cvtepi64_epi32(hi), 1);
    } else {
        y = _mm512_maskz_loadu_epi32(in, (const int32_t *)a->target + i);
        ign = a->ignore_index >= INT32_MIN && a->ignore_index <= INT32_MAX
                  ? _mm512_cmpeq_epi32_mask(y, _mm512_set1_epi32((int32_t)a->ignore_index)) : 0;
    }
    return _mm512_mask_mov_epi32(_mm512_set1_epi32(-1), in & (__mmask16)~ign, y);
}

/* The losses of 8 positions in double from p = (m, x_y, log s, w_y, q^gamma,
   -, wx) (probability targets: p[3] = ws, their weighted sum); 0 where
   ignored. */
#define CE_MASKZ_SUB8(a, b) _mm512_maskz_sub_pd(act, (a), (b))
LOSSK_INLINE __m512d ce_loss8(const __m512d p[7], __mmask8 act, int smoothing, int soft, __m512d keep,
                              __m512d spread, __m512d weight_total) {
    if (soft) return CE_SMOOTH_BY(CE_MASKZ_SUB8, p[3], p[2], p[6]);
    const __m512d nll = CE_NLL(p[0], p[1], p[2]);
    __m512d loss;
    if (!smoothing) {   /* keep = 1; q^gamma = 1 unless focal */
        CE_SAMPLE_LOSS(loss, p[3], nll, 0, spread, p[6]);
        return _mm512_maskz_mul_pd(act, loss, p[4]);
    }
    CE_SAMPLE_LOSS(loss, keep * p[3], nll, 1, spread, CE_SMOOTH(weight_total, p[2], p[6]));
    return _mm512_maskz_mov_pd(act, loss);
}
#undef CE_MASKZ_SUB8

/* Rows of c <= CE_NARROW classes (index targets with label smoothing or
   softmax_focal_loss's focal factor, or probability targets): 16 rows at a time in
   registers, each block of 16 classes turned into class vectors by
   ce_transpose16 and back (the tile transposes through memory are scalar
   loops: 40 % of the time at 10 classes, and 32 classes took 6x 10 classes'
   time). ce_columns' formulas for these options, with the vector table exp
   and log. Up to 16 classes c is a constant in each instance (ce_rows16),
   so the class loops unroll whole; beyond, the vectors spill to the stack,
   which stays in L1, and nb (2 or 3 blocks) is the constant. Rows
   [r0, r0 + width); the losses to loss_out, the gradient to a->grad (may be
   the logits: a group of 16 rows is read whole before it is written).
   Returns the sum of the losses as ce_columns does: 8 lanes by row, then a
   fixed tree. */
LOSSK_INLINE double ce_rows16_c(const ce_args *a, int64_t r0, int64_t width, float *loss_out, const int c,
                                const int nb) {
    enum { KMAX = (CE_NARROW + 15) / 16 * 16 };
    const float *x = (const float *)a->x + r0 * c;
    const float *tp = a->soft ? (const float *)a->soft + r0 * c : NULL;   /* probability targets */
    float *g = a->grad ? (float *)a->grad + r0 * c : NULL;
    __mmask16 cls[KMAX / 16];       /* the classes of each block */
    __m512 wv[KMAX / 16];
    for (int b = 0; b < nb; b++) {
        cls[b] = lossk__lanes_in(16 * b, c);
        wv[b] = a->weight ? _mm512_maskz_loadu_ps(cls[b], (const float *)a->weight + 16 * b) : _mm512_set1_ps(1.0f);
    }
    const __m512 scale = _mm512_set1_ps((float)a->scale);
    const int focal_on = a->gamma != 0.0;   /* never with smoothing */
    const float gamma = (float)a->gamma;
    const int soft = tp != NULL, smoothing = !soft && a->eps > 0.0;   /* soft: keep and spread are in tw */
    const double keep = 1.0 - a->eps, spread = a->eps / (double)c;
    const __m512d keep_d = _mm512_set1_pd(keep), spread_d = _mm512_set1_pd(spread);
    const __m512d weight_total = _mm512_set1_pd(a->weight_total), scale_keep = _mm512_set1_pd(a->scale * keep);
    const __m512 rkeep = _mm512_set1_ps((float)keep), smooth_coef = _mm512_set1_ps((float)(spread * a->weight_total));
    const float cw_scale = (float)(a->scale * spread), *wts = (const float *)a->weight;
    const float keep_f = (float)keep, spread_f = (float)spread;
    __m512d lanes = _mm512_setzero_pd();
    for (int64_t i0 = 0; i0 < width; i0 += 16) {
        const int64_t rows = width - i0 < 16 ? width - i0 : 16;
        const __m512i y = soft ? _mm512_set1_epi32(-1) : ce_targets16(a, r0 + i0, rows);
        const __mmask16 act = soft ? lossk__lanes_in(0, rows) : _mm512_cmpge_epi32_mask(y, _mm512_setzero_si512());
        __m512 v[KMAX], e[KMAX], tv[KMAX], d[2];
        for (int b = 0; b < nb; b++) {
            for (int i = 0; i < 16; i++)   /* rows beyond the last: no lanes, and no pointer past the end */
                v[16 * b + i] = i < rows ? _mm512_maskz_loadu_ps(cls[b], x + (i0 + i) * c + 16 * b) : _mm512_setzero_ps();
            ce_transpose16(v + 16 * b);
            if (!soft) continue;
            for (int i = 0; i < 16; i++)
                tv[16 * b + i] = i < rows ? _mm512_maskz_loadu_ps(cls[b], tp + (i0 + i) * c + 16 * b) : _mm512_setzero_ps();
            ce_transpose16(tv + 16 * b);
        }
        __m512 m = v[0], xy = _mm512_setzero_ps();
        for (int k = 1; k < c; k++) m = _mm512_max_ps(v[k], m);   /* NaN does not win, as in ce_columns */
        __mmask16 is_y[KMAX];   /* [k = y]; never where ignored (y = -1 there) */
        for (int k = 0; k < c; k++) is_y[k] = _mm512_cmpeq_epi32_mask(y, _mm512_set1_epi32(k));
        for (int k = 0; k < c; k++) xy = _mm512_mask_mov_ps(xy, is_y[k], v[k]);
        /* smoothing: wx = sum of w_k (x_k - m), 0 where x_k = m (mul_shifted);
           probability targets: of tw_k (x_k - m), tw_k = t'_k w_k with
           t'_k = t_k keep + spread (kept in tv for the gradient), and ws = sum
           of tw_k */
        __m512 wx = _mm512_setzero_ps(), ws = _mm512_setzero_ps();
        for (int k = 0; k < c; k += 2) {   /* odd c: v[c] is a zero vector of the last block */
            d[0] = _mm512_sub_ps(v[k], m);
            d[1] = _mm512_sub_ps(v[k + 1], m);
            lossk__exp512_nonpos_flush2(d, e + k);
            if (smoothing || soft)
                for (int j = 0; j < 2 && k + j < c; j++) {
                    __m512 tw = _mm512_set1_ps(wts ? wts[k + j] : 1.0f);
                    if (soft) {
                        tv[k + j] = _mm512_fmadd_ps(tv[k + j], _mm512_set1_ps(keep_f), _mm512_set1_ps(spread_f));
                        tw = _mm512_mul_ps(tv[k + j], tw);
                        ws = _mm512_add_ps(ws, tw);
                    }
                    wx = _mm512_add_ps(wx, _mm512_maskz_mul_ps(_mm512_cmp_ps_mask(d[j], _mm512_setzero_ps(), _CMP_NEQ_UQ),
                                                               tw, d[j]));
                }
        }
        __m512 sum = _mm512_setzero_ps();   /* 0 + e[0] = e[0]: the same bits */
        for (int k = 0; k < c; k++) sum = _mm512_add_ps(sum, e[k]);
        /* w[y]: the low 4 (5) bits of y index one (two) blocks; a third by its low 4 bits where y >= 32 */
        __m512 wy = nb == 1 ? _mm512_permutexvar_ps(y, wv[0]) : _mm512_permutex2var_ps(wv[0], y, wv[1]);
        if (nb > 2) wy = _mm512_mask_permutexvar_ps(wy, _mm512_cmpge_epi32_mask(y, _mm512_set1_epi32(32)), y, wv[2]);
        if (soft) wy = ws;   /* f = scale ws / s; no target term */
        const __m512 log_s = ce_log16(sum);
        /* the gradient's f = scale w_y / s (smoothing: scale (keep w_y + spread W) / s);
           focal (softmax_focal_loss): ce_columns' factors of the 16 positions,
           q^gamma for the loss and one for the gradient, which scales f and the
           target's w_y */
        __m512 coef = wy;
        if (smoothing) coef = CE_P_COEF(rkeep * wy, smooth_coef);
        __m512 f = _mm512_div_ps(_mm512_mul_ps(scale, coef), sum);
        __m512 focal = _mm512_set1_ps(1.0f), wg = wy;
        if (focal_on) {
            const __m512 gf = ce_focal512(CE_NLL(m, xy, log_s), gamma, gamma == 2.0f, &focal);
            f = _mm512_mul_ps(f, gf);
            wg = _mm512_mul_ps(wy, gf);
        }
        /* the losses in double (q^0 = 1: no bit changes) */
        const __m512 parts[7] = {m, xy, log_s, wy, focal, wg, wx};
        __m512d lo[7], hi[7];
        for (int q = 0; q < 7; q++) {
            lo[q] = _mm512_cvtps_pd(_mm512_castps512_ps256(parts[q]));
            hi[q] = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(parts[q]), 1)));
        }
        const __m512d loss_lo = ce_loss8(lo, (__mmask8)act, smoothing, soft, keep_d, spread_d, weight_total);
        const __m512d loss_hi = ce_loss8(hi, (__mmask8)(act >> 8), smoothing, soft, keep_d, spread_d, weight_total);
        lanes = _mm512_add_pd(_mm512_add_pd(lanes, loss_lo), loss_hi);
        _mm512_mask_storeu_ps(loss_out + i0, lossk__lanes_in(0, rows),
                              _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(loss_lo)), _mm512_cvtpd_ps(loss_hi), 1));
        if (!g) continue;
        /* gradient: p_k f - [k = y] (float)(scale keep w_y') (- (float)(scale spread) w_k
           with smoothing), w_y' = w_y (focal: times its factor); 0 where ignored */
        const __m512 ty = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(_mm512_mul_pd(scale_keep, lo[5]))),
                                             _mm512_cvtpd_ps(_mm512_mul_pd(scale_keep, hi[5])), 1);
        for (int k = 0; k < c; k++) {
            __m512 gk;
            if (soft)   /* p_k f - (float)scale w_k t'_k */
                gk = _mm512_maskz_fmsub_ps(act, e[k], f, _mm512_mul_ps(_mm512_set1_ps((float)a->scale * (wts ? wts[k] : 1.0f)), tv[k]));
            else if (smoothing)
                gk = _mm512_maskz_fmsub_ps(act, e[k], f, _mm512_set1_ps(cw_scale * (wts ? wts[k] : 1.0f)));
            else
                gk = _mm512_maskz_mul_ps(act, e[k], f);
            e[k] = _mm512_mask_sub_ps(gk, is_y[k], gk, ty);
        }
        for (int k = c; k < 16 * nb; k++) e[k] = _mm512_setzero_ps();
        for (int b = 0; b < nb; b++) ce_transpose16(e + 16 * b);
        /* Row by row, whole vectors: a row's last block runs into the next
           rows, whose stores come after and overwrite it. Only a vector that
           would run past the group is masked (not to touch rows not read
           yet, nor another thread's): masked 512-bit stores are slow on Zen 4. */
        for (int i = 0; i < rows; i++)
            for (int b = 0; b < nb; b++) {
                float *gi = g + (i0 + i) * c + 16 * b;
                if ((int64_t)i * c + 16 * b + 16 <= rows * c) _mm512_storeu_ps(gi, e[16 * b + i]);
                else _mm512_mask_storeu_ps(gi, cls[b], e[16 * b + i]);
            }
    }
    double l[8];
    _mm512_storeu_pd(l, lanes);
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

#if CE_NARROW > 47
#  error "ce_rows16 has instances for up to 3 blocks of 16 classes"
#endif
static double ce_rows16(const ce_args *a, int64_t r0, int64_t width, float *loss_out) {
    switch (a->c) {
#define CE_ROWS16_CASE(c) case c: return ce_rows16_c(a, r0, width, loss_out, c, 1);
    CE_ROWS16_CASE(1) CE_ROWS16_CASE(2) CE_ROWS16_CASE(3) CE_ROWS16_CASE(4)
    CE_ROWS16_CASE(5) CE_ROWS16_CASE(6) CE_ROWS16_CASE(7) CE_ROWS16_CASE(8)
    CE_ROWS16_CASE(9) CE_ROWS16_CASE(10) CE_ROWS16_CASE(11) CE_ROWS16_CASE(12)
    CE_ROWS16_CASE(13) CE_ROWS16_CASE(14) CE_ROWS16_CASE(15) CE_ROWS16_CASE(16)
#undef CE_ROWS16_CASE
    /* more classes spill to the stack anyway: one instance per block count
       (one per class count made this file far slower to compile, sanitized
       builds most) */
    default: return a->c <= 32 ? ce_rows16_c(a, r0, width, loss_out, (int)a->c, 2)
                               : ce_rows16_c(a, r0, width, loss_out, (int)a->c, 3);
    }
}
#endif

#if LOSSK_AVX2_F32
/* AVX2 float, index targets (weights, ignore_index, label smoothing, focal):
   16 positions side by side in two vectors, classes in the loop, class k of
   position i at x[k * xs + i] and its gradient at g[k * gs + i]. Three passes
   over the classes (x and g in L1, staged by the callers): the max,
   exp(x - m) into eb (16 floats per class) with their sum, then the
   gradient, written once. ce_rows16_c's formulas (row_losses.h) with the
   AVX2 exp and log of pass_helpers.h. yv: the targets, -1 where ignored or
   beyond `width` (those lanes' gradient is 0, their loss 0). Loads and
   stores are masked to `width` positions unless full. The losses to
   loss16[0..16) (unless NULL) and added to lanes (8 lanes by position, as
   ce_columns). */
#define CE_STRIP 16
#define CE_STRIP_ROWS_C 64       /* narrow rows through 8x8 transposes */
#define CE_STRIP_SPATIAL_C 128   /* spatial: x's lines and eb stay in L1 */
LOSSK_INLINE __m256 ce_ld8(const float *p, int full, __m256i mask) {
    return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}

LOSSK_INLINE __m256d ce_act4(__m128 act) { return _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_castps_si128(act))); }

/* ce_loss8 of ce_rows16_c on 4 positions (no probability targets here) */
LOSSK_INLINE __m256d ce_loss4(const __m256d p[7], __m256d act, int smoothing, __m256d keep, __m256d spread,
                              __m256d weight_total) {
    const __m256d nll = CE_NLL(p[0], p[1], p[2]);
    __m256d loss;
    if (!smoothing) {   /* keep = 1; q^gamma = 1 unless focal */
        CE_SAMPLE_LOSS(loss, p[3], nll, 0, spread, p[6]);
        return _mm256_and_pd(act, _mm256_mul_pd(loss, p[4]));
    }
    CE_SAMPLE_LOSS(loss, keep * p[3], nll, 1, spread, CE_SMOOTH(weight_total, p[2], p[6]));
    return _mm256_and_pd(act, loss);
}

LOSSK_INLINE void ce_strip16_body(const ce_args *a, const float *x, int64_t xs, const __m256i yv_in[2],
                                  int width, float *g, int64_t gs, float *LOSSK_RESTRICT eb,
                                  float *loss16, __m256d lanes[2], const int full, const int smoothing) {
    const int64_t c = a->c;
    const float *w = (const float *)a->weight;
    const int focal_on = a->gamma != 0.0;   /* never with smoothing */
    const double keep = 1.0 - a->eps, spread = a->eps / (double)c;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i lm[2], yv[2];
    __m256 act[2], m[2], s[2], wx[2], f[2], ty[2];
    __m256 xyv[2], wyv[2];
    for (int j = 0; j < 2; j++) {
        lm[j] = _mm256_cmpgt_epi32(_mm256_set1_epi32(width - 8 * j), iota);
        yv[j] = yv_in[j];
        act[j] = _mm256_castsi256_ps(_mm256_cmpgt_epi32(yv[j], _mm256_set1_epi32(-1)));
    }
    __m256 mn[2];
    for (int j = 0; j < 2; j++) m[j] = mn[j] = ce_ld8(x + 8 * j, full, lm[j]);
    for (int64_t k = 1; k < c; k++) {
        const float *xk = x + k * xs;
        for (int j = 0; j < 2; j++) {
            const __m256 v = ce_ld8(xk + 8 * j, full, lm[j]);
            m[j] = _mm256_max_ps(v, m[j]);   /* NaN does not win */
            mn[j] = _mm256_min_ps(v, mn[j]);
        }
    }
    /* exp's flush to 0 below -87 is needed only where x - m reaches there
       (-inf included): most strips skip its two operations per vector */
    const __m256 lowest = _mm256_min_ps(_mm256_sub_ps(mn[0], m[0]), _mm256_sub_ps(mn[1], m[1]));
    const int flush = _mm256_movemask_ps(_mm256_cmp_ps(lowest, _mm256_set1_ps(-87.0f), _CMP_LT_OQ)) != 0;
    for (int j = 0; j < 2; j++) {   /* x_y, w_y (0 where ignored); before any gradient write (g may be x) */
        const __m256i at = _mm256_add_epi32(_mm256_mullo_epi32(yv[j], _mm256_set1_epi32((int32_t)xs)),
                                            _mm256_add_epi32(iota, _mm256_set1_epi32(8 * j)));
        xyv[j] = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), x, at, act[j], 4);
        wyv[j] = w ? _mm256_mask_i32gather_ps(_mm256_setzero_ps(), w, yv[j], act[j], 4)
                   : _mm256_and_ps(act[j], _mm256_set1_ps(1.0f));
    }
    for (int j = 0; j < 2; j++) s[j] = wx[j] = _mm256_setzero_ps();
#define CE_STRIP_EXPS(EXP)                                                                                 \
    for (int64_t k = 0; k < c; k++) {                                                                      \
        const float *xk = x + k * xs;                                                                      \
        const __m256 wk = _mm256_set1_ps(w ? w[k] : 1.0f);                                                 \
        for (int j = 0; j < 2; j++) {                                                                      \
            const __m256 d = _mm256_sub_ps(ce_ld8(xk + 8 * j, full, lm[j]), m[j]);                         \
            const __m256 e = EXP(d);                                                                       \
            s[j] = _mm256_add_ps(s[j], e);                                                                 \
            _mm256_store_ps(eb + k * CE_STRIP + 8 * j, e);                                                 \
            if (smoothing)   /* mul_shifted: 0 where x_k = m */                                            \
                wx[j] = _mm256_add_ps(wx[j], _mm256_and_ps(_mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_NEQ_UQ), \
                                                           _mm256_mul_ps(wk, d)));                         \
        }                                                                                                  \
    }
    if (flush) CE_STRIP_EXPS(lossk__exp256_nonpos)
    else CE_STRIP_EXPS(lossk__exp256_in_range)
#undef CE_STRIP_EXPS
    const __m256 scale = _mm256_set1_ps((float)a->scale), rkeep = _mm256_set1_ps((float)keep);
    const __m256 smooth_coef = _mm256_set1_ps((float)(spread * a->weight_total));
    const __m256d keep_d = _mm256_set1_pd(keep), spread_d = _mm256_set1_pd(spread);
    const __m256d weight_total = _mm256_set1_pd(a->weight_total), scale_keep = _mm256_set1_pd(a->scale * keep);
    for (int j = 0; j < 2; j++) {
        const __m256 log_s = lossk__log256(s[j]), wy = wyv[j], xy = xyv[j];
        __m256 coef = wy;
        if (smoothing) coef = CE_P_COEF(rkeep * wy, smooth_coef);
        f[j] = _mm256_div_ps(_mm256_mul_ps(scale, coef), s[j]);
        __m256 focal = _mm256_set1_ps(1.0f), wg = wy;
        if (focal_on) {
            const __m256 gf = ce_focal256(CE_NLL(m[j], xy, log_s), (float)a->gamma, (float)a->gamma == 2.0f, &focal);
            f[j] = _mm256_mul_ps(f[j], gf);
            wg = _mm256_mul_ps(wy, gf);
        }
        /* the losses in double (q^0 = 1: no bit changes) */
        const __m256 parts[7] = {m[j], xy, log_s, wy, focal, wg, wx[j]};
        __m256d lo[7], hi[7];
        for (int q = 0; q < 7; q++) {
            lo[q] = _mm256_cvtps_pd(_mm256_castps256_ps128(parts[q]));
            hi[q] = _mm256_cvtps_pd(_mm256_extractf128_ps(parts[q], 1));
        }
        const __m256d loss_lo = ce_loss4(lo, ce_act4(_mm256_castps256_ps128(act[j])), smoothing, keep_d, spread_d,
                                         weight_total);
        const __m256d loss_hi = ce_loss4(hi, ce_act4(_mm256_extractf128_ps(act[j], 1)), smoothing, keep_d, spread_d,
                                         weight_total);
        lanes[0] = _mm256_add_pd(lanes[0], loss_lo);
        lanes[1] = _mm256_add_pd(lanes[1], loss_hi);
        if (loss16) _mm256_storeu_ps(loss16 + 8 * j, _mm256_set_m128(_mm256_cvtpd_ps(loss_hi), _mm256_cvtpd_ps(loss_lo)));
        /* the target's term (float)(scale keep w_y'), w_y' = w_y (focal: times its factor) */
        ty[j] = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_mul_pd(scale_keep, hi[5])),
                                _mm256_cvtpd_ps(_mm256_mul_pd(scale_keep, lo[5])));
    }
    if (!g) return;
    /* p_k f (- (float)(scale spread) w_k with smoothing), 0 where ignored,
       - ty at the targets: by a compare per class vector up to 16 classes,
       else once per position afterwards, in place (g is in L1; the same
       subtraction) */
    const int any_off = (_mm256_movemask_ps(act[0]) & _mm256_movemask_ps(act[1])) != 0xFF;
    const int by_class = c <= 16;
    const float cw_scale = (float)(a->scale * spread);
    for (int64_t k = 0; k < c; k++) {
        float *gk = g + k * gs;
        const __m256 cw = _mm256_set1_ps(cw_scale * (w ? w[k] : 1.0f));
        const __m256i kv = _mm256_set1_epi32((int32_t)k);
        for (int j = 0; j < 2; j++) {
            const __m256 e = _mm256_load_ps(eb + k * CE_STRIP + 8 * j);
            __m256 gv = smoothing ? _mm256_fmsub_ps(e, f[j], cw) : _mm256_mul_ps(e, f[j]);
            if (by_class) gv = _mm256_sub_ps(gv, _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(yv[j], kv)), ty[j]));
            if (any_off) gv = _mm256_and_ps(gv, act[j]);
            if (full) _mm256_storeu_ps(gk + 8 * j, gv);
            else _mm256_maskstore_ps(gk + 8 * j, lm[j], gv);
        }
    }
    if (by_class) return;
    int32_t yl[CE_STRIP];
    float tyl[CE_STRIP];
    for (int j = 0; j < 2; j++) {
        _mm256_storeu_si256((__m256i *)(yl + 8 * j), yv[j]);
        _mm256_storeu_ps(tyl + 8 * j, ty[j]);
    }
    for (int i = 0; i < CE_STRIP; i++)
        if (yl[i] >= 0) g[yl[i] * gs + i] -= tyl[i];
}

/* the instances: whole strips or not, label smoothing or not (constants, so
   that the class loops carry no tests) */
#define CE_STRIP16_FN(NAME, FULL, SMOOTH)                                                               \
    static LOSSK_NOINLINE void NAME(const ce_args *a, const float *x, int64_t xs, const __m256i yv[2],  \
                                    int width, float *g, int64_t gs, float *LOSSK_RESTRICT eb,        \
                                    float *loss16, __m256d lanes[2]) {                                \
        ce_strip16_body(a, x, xs, yv, width, g, gs, eb, loss16, lanes, FULL, SMOOTH);                   \
    }
CE_STRIP16_FN(ce_strip16_full, 1, 0)
CE_STRIP16_FN(ce_strip16_part, 0, 0)
CE_STRIP16_FN(ce_strip16_full_smooth, 1, 1)
CE_STRIP16_FN(ce_strip16_part_smooth, 0, 1)
#undef CE_STRIP16_FN

static void ce_strip16(const ce_args *a, const float *x, int64_t xs, const __m256i yv[2], int width, float *g,
                       int64_t gs, float *LOSSK_RESTRICT eb, float *loss16, __m256d lanes[2]) {
    if (a->eps > 0.0) (width == CE_STRIP ? ce_strip16_full_smooth : ce_strip16_part_smooth)(a, x, xs, yv, width, g, gs, eb, loss16, lanes);
    else (width == CE_STRIP ? ce_strip16_full : ce_strip16_part)(a, x, xs, yv, width, g, gs, eb, loss16, lanes);
}

/* targets of positions [off, off + width) as int32 lanes, -1 where ignored and
   for the lanes beyond width (the indices are in [0, c) elsewhere: checked before) */
LOSSK_INLINE void ce_strip_targets(const ce_args *a, int64_t off, int width, __m256i yv[2]) {
    if (width == CE_STRIP && a->target_type == LOSSK_INDEX_INT64) {
        const __m256i *t = (const __m256i *)((const int64_t *)a->target + off);
        const __m256i ign = _mm256_set1_epi64x(a->ignore_index), lo32 = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
        for (int j = 0; j < 2; j++) {
            __m256i v[2];
            for (int h = 0; h < 2; h++) {
                v[h] = _mm256_loadu_si256(t + 2 * j + h);
                v[h] = _mm256_or_si256(v[h], _mm256_cmpeq_epi64(v[h], ign));   /* ignored: -1 */
                v[h] = _mm256_permutevar8x32_epi32(v[h], lo32);                /* low halves first */
            }
            yv[j] = _mm256_permute2x128_si256(v[0], v[1], 0x20);
        }
        return;
    }
    if (width == CE_STRIP && a->ignore_index >= INT32_MIN && a->ignore_index <= INT32_MAX) {
        const int32_t *t = (const int32_t *)a->target + off;
        const __m256i ign = _mm256_set1_epi32((int32_t)a->ignore_index);
        for (int j = 0; j < 2; j++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(t + 8 * j));
            yv[j] = _mm256_or_si256(v, _mm256_cmpeq_epi32(v, ign));
        }
        return;
    }
    int32_t y32[CE_STRIP];
    for (int i = 0; i < CE_STRIP; i++) {
        int64_t t = -1;
        if (i < width) {
            t = lossk__load_index(a->target, a->target_type, off + i);
            if (t == a->ignore_index) t = -1;
        }
        y32[i] = (int32_t)t;
    }
    for (int j = 0; j < 2; j++) yv[j] = _mm256_loadu_si256((const __m256i *)(y32 + 8 * j));
}

/* 8x8 transpose in registers (unpacks, shuffles, 128-bit lane swaps) */
LOSSK_INLINE void ce_transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* Narrow rows [r0, r0 + width), c <= CE_STRIP_ROWS_C, index targets: groups
   of 16 rows turned into class vectors by 8x8 transposes into xt (L1), run
   by ce_strip16 in place there, and transposed back. A row's last block is
   stored whole, running into the next row, whose stores come after; only
   what would run past the group is masked (rows not read yet, or another
   thread's). The whole group is read before it is written (g may be x). */
static double ce_rows_strips(const ce_args *a, int64_t r0, int64_t width, float *loss_out) {
    const int64_t c = a->c;
    const int nb = (int)((c + 7) / 8);
    const float *x = (const float *)a->x + r0 * c;
    float *g = a->grad ? (float *)a->grad + r0 * c : NULL;
    float xt[CE_STRIP_ROWS_C * CE_STRIP] __attribute__((aligned(32))), eb[CE_STRIP_ROWS_C * CE_STRIP] __attribute__((aligned(32)));
    __m256i cm[CE_STRIP_ROWS_C / 8];   /* the classes of each block */
    for (int b = 0; b < nb; b++)
        cm[b] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)(c - 8 * b)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256d lanes[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
    __m256i yv[2];
    float loss16[CE_STRIP];
    for (int64_t i0 = 0; i0 < width; i0 += CE_STRIP) {
        const int rows = (int)(width - i0 < CE_STRIP ? width - i0 : CE_STRIP);
        const int64_t group = (int64_t)rows * c;
        const float *xg = x + i0 * c;
        ce_strip_targets(a, r0 + i0, rows, yv);
        __m256i tail[4];   /* c = 2: the lanes of the group's 4 vectors */
        for (int q = 0; q < 4; q++)
            tail[q] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)(group - 8 * q)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        if (c == 2)   /* two classes: de-interleaved by shuffles (an 8x8 transpose per 8 rows used 2 of 8 lanes) */
            for (int h = 0; h < 2; h++) {
                __m256 v[2];
                for (int q = 0; q < 2; q++)
                    v[q] = 8 * (2 * h + q) + 8 <= group ? _mm256_loadu_ps(xg + 8 * (2 * h + q))
                                                         : _mm256_maskload_ps(xg + 8 * (2 * h + q), tail[2 * h + q]);
                _mm256_store_ps(xt + 8 * h, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v[0], v[1], 0x88)), 0xD8)));
                _mm256_store_ps(xt + CE_STRIP + 8 * h, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v[0], v[1], 0xDD)), 0xD8)));
            }
        else for (int h = 0; h < 2; h++)
            for (int b = 0; b < nb; b++) {
                __m256 v[8];
                for (int q = 0; q < 8; q++) {
                    const int i = 8 * h + q;
                    const int64_t at = i * c + 8 * b;
                    v[q] = i >= rows ? _mm256_setzero_ps()
                         : at + 8 <= group ? _mm256_loadu_ps(xg + at) : _mm256_maskload_ps(xg + at, cm[b]);
                }
                ce_transpose8(v);
                for (int l = 0; l < 8; l++) _mm256_store_ps(xt + (8 * b + l) * CE_STRIP + 8 * h, v[l]);
            }
        ce_strip16(a, xt, CE_STRIP, yv, CE_STRIP, g ? xt : NULL, CE_STRIP, eb, loss_out ? loss16 : NULL, lanes);
        if (loss_out) for (int i = 0; i < rows; i++) loss_out[i0 + i] = loss16[i];
        if (!g) continue;
        float *gg = g + i0 * c;
        if (c == 2) {
            for (int h = 0; h < 2; h++) {
                const __m256 g0 = _mm256_load_ps(xt + 8 * h), g1 = _mm256_load_ps(xt + CE_STRIP + 8 * h);
                const __m256 lo = _mm256_unpacklo_ps(g0, g1), hi = _mm256_unpackhi_ps(g0, g1);
                const __m256 v[2] = {_mm256_permute2f128_ps(lo, hi, 0x20), _mm256_permute2f128_ps(lo, hi, 0x31)};
                for (int q = 0; q < 2; q++) {
                    const int64_t at = 8 * (2 * h + q);
                    if (at + 8 <= group) _mm256_storeu_ps(gg + at, v[q]);
                    else if (at < group) _mm256_maskstore_ps(gg + at, tail[2 * h + q], v[q]);
                }
            }
            continue;
        }
        for (int h = 0; h < 2; h++) {
            __m256 v[CE_STRIP_ROWS_C];   /* [8 b + q]: row 8 h + q, classes of block b */
            for (int b = 0; b < nb; b++) {
                for (int l = 0; l < 8; l++) v[8 * b + l] = _mm256_load_ps(xt + (8 * b + l) * CE_STRIP + 8 * h);
                ce_transpose8(v + 8 * b);
            }
            for (int q = 0; q < 8 && 8 * h + q < rows; q++)
                for (int b = 0; b < nb; b++) {
                    const int64_t at = (8 * h + q) * c + 8 * b;
                    if (at + 8 <= group) _mm256_storeu_ps(gg + at, v[8 * b + q]);
                    else _mm256_maskstore_ps(gg + at, cm[b], v[8 * b + q]);
                }
        }
    }
    double l[8];
    _mm256_storeu_pd(l, lanes[0]);
    _mm256_storeu_pd(l + 4, lanes[1]);
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/* Positions [i0, i0 + width) of sample smp in the (n, c, inner) layout,
   c <= CE_STRIP_SPATIAL_C, index targets, in strips of 16, through buf: the
   tile's class rows copied there (rows of es: an odd number of lines), the
   strips run in place, the gradient copied out (non-temporal stores when
   a->nt). In place, a strip's c lines, inner floats apart, fell in one L1 and
   one L2 set (inner = 65536: 256 KiB apart) and the second and third passes
   missed both. The strips prefetch the next tile's rows (pf positions): the
   hardware prefetcher does not follow c strided streams. */
static double ce_spatial_strips(const ce_args *a, int64_t smp, int64_t i0, int64_t width, float *loss_out,
                                float *buf, int64_t es, int64_t pf) {
    const int64_t c = a->c, inner = a->inner, base = smp * c * inner + i0;
    const float *x = (const float *)a->x + base;
    float *g = a->grad ? (float *)a->grad + base : NULL;
    float eb[CE_STRIP_SPATIAL_C * CE_STRIP] __attribute__((aligned(32)));
    __m256d lanes[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
    __m256i yv[2];
    float loss16[CE_STRIP];
    for (int64_t k = 0; k < c; k++) memcpy(buf + k * es, x + k * inner, (size_t)width * sizeof(float));
    for (int64_t s0 = 0; s0 < width; s0 += CE_STRIP) {
        const int sw = (int)(width - s0 < CE_STRIP ? width - s0 : CE_STRIP);
        /* the next tile's lines into L2, a strip's worth at a time (a burst
           of a whole tile's prefetches stalled on the miss buffers); an
           address, not a pointer past the end of x: no access */
        if (s0 < pf)
            for (int64_t k = 0; k < c; k++)
                _mm_prefetch((const char *)((uintptr_t)(x + k * inner + width + s0)), _MM_HINT_T1);
        ce_strip_targets(a, smp * inner + i0 + s0, sw, yv);
        ce_strip16(a, buf + s0, es, yv, sw, g ? buf + s0 : NULL, es, eb, loss_out ? loss16 : NULL, lanes);
        if (loss_out) for (int i = 0; i < sw; i++) loss_out[s0 + i] = loss16[i];
    }
    if (g)
        for (int64_t k = 0; k < c; k++) {
            if (a->nt) LOSSK_FN(stream_copy)(g + k * inner, buf + k * es, width);
            else memcpy(g + k * inner, buf + k * es, (size_t)width * sizeof(float));
        }
    double l[8];
    _mm256_storeu_pd(l, lanes[0]);
    _mm256_storeu_pd(l + 4, lanes[1]);
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}
#endif

/* Items are tiles: (sample, tile of inner positions) for inner > 1, run in
   place; or tiles of narrow rows, transposed into scratch and back. */
static int64_t LOSSK_FN(ce_columns_block)(const void *ctx, int64_t begin, int64_t end, double *acc,
                                          void *scratch) {
    const ce_args *a = (const ce_args *)ctx;
    const int64_t c = a->c, tile = a->tile;
    double total = 0.0;
    if (a->inner > 1) {
        const int64_t inner = a->inner, es = ce_tile_stride(tile);
        /* streamed gradient: its tile after the per-position arrays */
        real *ebuf = a->nt ? (real *)((char *)scratch + (size_t)tile * CE_COL_ARRAYS * 8) : NULL;
        real loss_tile[CE_TILE_MAX];
#if LOSSK_AVX2_F32
        const int strips = !a->soft && c <= CE_STRIP_SPATIAL_C;
#endif
        for (int64_t item = begin; item < end; item++) {
            const int64_t smp = item / a->tiles_per_sample, i0 = (item % a->tiles_per_sample) * tile;
            const int64_t width = inner - i0 < tile ? inner - i0 : tile;
            const int64_t base = smp * c * inner + i0;
            real *lo = a->loss_rows ? (real *)a->loss_rows + smp * inner + i0 : loss_tile;
#if LOSSK_AVX2_F32
            if (strips) {
                const int64_t next = inner - i0 - width < tile ? inner - i0 - width : tile;
                total += ce_spatial_strips(a, smp, i0, width, a->loss_rows ? lo : NULL, (real *)((char *)scratch + (size_t)tile * CE_COL_ARRAYS * 8),
                                           es, next);
                continue;
            }
#endif
            const int64_t next = inner - i0 - width < tile ? inner - i0 - width : tile;
            total += LOSSK_FN(ce_columns)(a, (const real *)a->x + base, inner, a->target, smp * inner + i0,
                                          a->soft ? (const real *)a->soft + base : NULL, width,
                                          a->grad ? (real *)a->grad + base : NULL, lo, scratch,
                                          ebuf, es, next);
        }
        if (a->nt) lossk__stream_fence();
        acc[0] = total;
        return -1;
    }
    real loss_tile[CE_TILE_MAX];
#if LOSSK_AVX512_F32
    /* every narrow row (c <= CE_NARROW here) takes the register kernel */
    for (int64_t item = begin; item < end; item++) {
        const int64_t r0 = item * tile, width = a->n - r0 < tile ? a->n - r0 : tile;
        total += ce_rows16(a, r0, width, a->loss_rows ? (real *)a->loss_rows + r0 : loss_tile);
    }
    acc[0] = total;
    return -1;
#endif
#if LOSSK_AVX2_F32
    /* narrow rows with index targets: the strip kernel on transposed groups */
    if (!a->soft) {
        for (int64_t item = begin; item < end; item++) {
            const int64_t r0 = item * tile, width = a->n - r0 < tile ? a->n - r0 : tile;
            total += ce_rows_strips(a, r0, width, a->loss_rows ? (real *)a->loss_rows + r0 : NULL);
        }
        acc[0] = total;
        return -1;
    }
#endif
    const int64_t cs = ce_tile_stride(tile);
    const size_t tile_bytes = (((size_t)(cs * c) * sizeof(real)) + 63) & ~(size_t)63;
    real *xt = (real *)scratch;
    real *gt = (real *)((char *)scratch + tile_bytes);
    real *tt = a->soft ? (real *)((char *)scratch + 2 * tile_bytes) : NULL;
    void *cols = (char *)scratch + (a->soft ? 3 : 2) * tile_bytes;
    for (int64_t item = begin; item < end; item++) {
        const int64_t r0 = item * tile, width = a->n - r0 < tile ? a->n - r0 : tile;
        const real *xs = (const real *)a->x + r0 * c;
        for (int64_t i = 0; i < width; i++)
            for (int64_t k = 0; k < c; k++) xt[k * cs + i] = xs[i * c + k];
        if (tt) {
            const real *ts = (const real *)a->soft + r0 * c;
            for (int64_t i = 0; i < width; i++)
                for (int64_t k = 0; k < c; k++) tt[k * cs + i] = ts[i * c + k];
        }
        real *lo = a->loss_rows ? (real *)a->loss_rows + r0 : loss_tile;
        total += LOSSK_FN(ce_columns)(a, xt, cs, a->target, r0, tt, width, a->grad ? gt : NULL, lo, cols,
                                      NULL, 0, 0);
        if (a->grad) {
            real *gs = (real *)a->grad + r0 * c;
            for (int64_t i = 0; i < width; i++)
                for (int64_t k = 0; k < c; k++) gs[i * c + k] = gt[k * cs + i];
        }
    }
    acc[0] = total;
    return -1;
}

static const ce_kernels LOSSK_FN(ce_kernels) = {
    LOSSK_FN(ce_rows_block), LOSSK_FN(ce_columns_block),
    LOSSK_FN(ce_chunk_stats),
    LOSSK_FN(ce_row_finish),
    LOSSK_FN(ce_chunk_grad),
    !LOSSK_AVX512_F32,   /* ce_columns_block: the register kernel ce_rows16 on AVX-512 float */
#if LOSSK_AVX2_F32
    CE_STRIP_ROWS_C,     /* index targets: ce_rows_strips */
#else
    CE_NARROW,
#endif
};

#endif /* LOSSK_TEMPLATE_PASS */
