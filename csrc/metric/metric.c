/*
 * Metric learning: the triplet margin loss (= torch), and the row step of the
 * contrastive losses (NT-Xent, InfoNCE), whose similarity matrix the Python
 * layer computes one block of rows at a time with BLAS.
 *
 * Triplet, per row: d(x, y) = ||x - y + eps||_p as torch's pairwise_distance
 * (eps added to the difference in the dtype, then the norm); with swap the
 * negative distance is min(d(a, n), d(p, n)); loss = max(0, margin + d(a, p)
 * - d(a, n)). Rows are independent: fixed blocks of rows, the block sums in
 * double added in block order (bitwise identical for every thread count).
 *
 * Contrastive row step: one row of dot products c_j (the buffer row), logits
 * s_j = c_j / tau, candidates every j but the excluded one (NT-Xent: the
 * anchor itself), plus an optional extra logit (InfoNCE's positive when the
 * negatives are given separately). loss = lse - s_pos; d loss / d s_j =
 * w (softmax_j - [j = pos]) written over the row in place.
 */
#ifndef LOSSK_TEMPLATE_PASS

#include <stdlib.h>

#include "internal.h"

/* Rows per block: small enough to split 2 threads evenly at a few hundred rows. */
#define MET_TRIPLET_BLOCK_ELEMS ((int64_t)8192)

typedef struct met_triplet {
    const void *a, *pos, *neg;
    void *ga, *gp, *gn, *loss_none;
    int64_t n, d;
    double margin, p, eps, w;   /* w: the weight of each row's loss (1/n for the mean) */
    int swap, pkind;            /* pkind 1: p = 1, 2: p = 2, 0: any other p */
    int nt;                     /* gradients written with streaming stores (met_copy_out) */
} met_triplet;

typedef struct met_rows {
    void *sim;
    int64_t rows, cols, row0, pos_shift;
    double inv_tau;
    int exclude_self, grad;
    const double *extra, *weight;
    double *loss, *extra_grad;
} met_rows;

#define LOSSK_TEMPLATE_FILE "metric/metric.c"
#include "multiarch.h"

static lossk_status met_triplet_run(const lossk_metric_args *a) {
    if (a->n < 0 || a->d < 0 || (a->n > 0 && a->d > INT64_MAX / a->n) ||
        (a->dtype != LOSSK_DTYPE_F32 && a->dtype != LOSSK_DTYPE_F64) ||
        (a->reduction != LOSSK_REDUCTION_NONE && a->reduction != LOSSK_REDUCTION_MEAN &&
         a->reduction != LOSSK_REDUCTION_SUM) ||
        !(a->margin > 0.0) || !(a->p > 0.0) || a->p == INFINITY || !(a->eps == a->eps) ||
        (a->reduction == LOSSK_REDUCTION_NONE ? (a->n > 0 && !a->loss_none) : !a->loss_out))
        return LOSSK_ERR_INVALID_ARGUMENT;
    const int64_t elems = a->n * a->d;
    if (elems > 0 && (!a->anchor || !a->positive || !a->negative)) return LOSSK_ERR_INVALID_ARGUMENT;
    const int grads = a->grad_anchor || a->grad_positive || a->grad_negative;
    if (grads && elems > 0 && (!a->grad_anchor || !a->grad_positive || !a->grad_negative))
        return LOSSK_ERR_INVALID_ARGUMENT;
    /* each gradient may be its own input (in place), no other input */
    if (grads && (lossk__aliases(a->grad_anchor, a->positive) || lossk__aliases(a->grad_anchor, a->negative) ||
                  lossk__aliases(a->grad_positive, a->anchor) || lossk__aliases(a->grad_positive, a->negative) ||
                  lossk__aliases(a->grad_negative, a->anchor) || lossk__aliases(a->grad_negative, a->positive) ||
                  lossk__aliases(a->grad_anchor, a->grad_positive) ||
                  lossk__aliases(a->grad_anchor, a->grad_negative) ||
                  lossk__aliases(a->grad_positive, a->grad_negative)))
        return LOSSK_ERR_ALIASING;
    if (a->loss_out) *a->loss_out = 0.0;
    if (a->n == 0) {
        if (a->loss_out && a->reduction == LOSSK_REDUCTION_MEAN) *a->loss_out = NAN;  /* torch: mean of nothing */
        return LOSSK_OK;
    }
    met_triplet t = {
        a->anchor, a->positive, a->negative,
        grads && elems > 0 ? a->grad_anchor : NULL, a->grad_positive, a->grad_negative,
        a->reduction == LOSSK_REDUCTION_NONE ? a->loss_none : NULL,
        a->n, a->d, a->margin, a->p, a->eps,
        a->reduction == LOSSK_REDUCTION_MEAN ? 1.0 / (double)a->n : 1.0,
        a->swap != 0, a->p == 1.0 ? 1 : a->p == 2.0 ? 2 : 0, 0};
    /* Streaming stores for gradients beyond the cache (no read for ownership:
       a third less traffic): each row through the thread's scratch, copied
       out in 16-byte pieces, so the gradients need that alignment only. */
    const size_t esz = a->dtype == LOSSK_DTYPE_F32 ? 4 : 8;
    t.nt = LOSSK_MULTIARCH && t.ga && (int64_t)esz * elems >= LOSSK_NT_STORE_MIN_BYTES &&
           ((int64_t)esz * a->d) % 16 == 0 && ((uintptr_t)a->grad_anchor & 15) == 0 &&
           ((uintptr_t)a->grad_positive & 15) == 0 && ((uintptr_t)a->grad_negative & 15) == 0;
    const int64_t block = lossk__block_items(a->d, MET_TRIPLET_BLOCK_ELEMS);
    const int64_t n_blocks = (a->n + block - 1) / block;
    const lossk_block_fn fn = a->dtype == LOSSK_DTYPE_F32 ? LOSSK_SELECT(met_triplet_block_f32)
                                                          : LOSSK_SELECT(met_triplet_block_f64);
    double sum = 0.0;
    const lossk_status s = lossk__run_blocks(a->n, block, lossk__threads_for(a->n_threads, elems * 3, n_blocks),
                                             1, t.nt ? 3 * (size_t)a->d * esz + 64 : 0, fn, &t, &sum, NULL);
    if (s == LOSSK_OK && a->loss_out && a->reduction != LOSSK_REDUCTION_NONE) *a->loss_out = sum * t.w;
    return s;
}

lossk_status lossk_metric(const char *loss, const lossk_metric_args *args) {
    if (!loss || !args || args->size < sizeof(lossk_metric_args)) return LOSSK_ERR_INVALID_ARGUMENT;
    if (strcmp(loss, "triplet_margin_loss") == 0) return met_triplet_run(args);
    return LOSSK_ERR_INVALID_ARGUMENT;
}

lossk_status lossk_contrastive_rows(const lossk_contrastive_rows_args *a) {
    if (!a || a->size < sizeof(lossk_contrastive_rows_args) || a->rows < 0 || a->cols < 0 || a->row0 < 0 ||
        (a->dtype != LOSSK_DTYPE_F32 && a->dtype != LOSSK_DTYPE_F64) || !(a->inv_temperature > 0.0) ||
        a->inv_temperature == INFINITY || (a->rows > 0 && a->cols > INT64_MAX / a->rows) ||
        (a->pos_shift >= 0 && a->extra) || a->pos_shift < -1 ||
        (a->rows > 0 && (!a->loss || (a->cols > 0 && !a->sim) || (a->grad && !a->weight) ||
                         (a->grad && a->extra && !a->extra_grad))))
        return LOSSK_ERR_INVALID_ARGUMENT;
    if (a->rows == 0) return LOSSK_OK;
    const met_rows r = {a->sim, a->rows, a->cols, a->row0, a->pos_shift, a->inv_temperature,
                        a->exclude_self != 0, a->grad != 0, a->extra, a->weight, a->loss, a->extra_grad};
    const lossk_block_fn fn = a->dtype == LOSSK_DTYPE_F32 ? LOSSK_SELECT(met_rows_block_f32)
                                                          : LOSSK_SELECT(met_rows_block_f64);
    const int64_t block = lossk__block_items(a->cols, 16384);
    const int64_t n_blocks = (a->rows + block - 1) / block;
    double unused = 0.0;
    return lossk__run_blocks(a->rows, block, lossk__threads_for(a->n_threads, a->rows * (a->cols + 1), n_blocks),
                             1, 0, fn, &r, &unused, NULL);
}

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"
#include "simd_math.h"

/* Double lanes of the row sums: the same for every level, so the order never changes. */
#undef MET_LANES
#define MET_LANES 16

/* sum over k of term(x[k] - y[k] + eps) in double lanes, the difference and
   the eps added in the dtype (as torch forms them) */
LOSSK_INLINE double LOSSK_FN(met_pnorm_sum)(const real *x, const real *y, int64_t d, real eps,
                                            const int pkind, double p) {
    double acc[MET_LANES] = {0};
    const int64_t body = d / MET_LANES * MET_LANES;
    for (int64_t k = 0; k < body; k += MET_LANES) {
        for (int l = 0; l < MET_LANES; l++) {
            const double v = (double)(real)((real)(x[k + l] - y[k + l]) + eps);
            acc[l] += pkind == 2 ? v * v : pkind == 1 ? fabs(v) : pow(fabs(v), p);
        }
    }
    double s = 0.0;
    for (int l = 0; l < MET_LANES; l++) s += acc[l];
    for (int64_t k = body; k < d; k++) {
        const double v = (double)(real)((real)(x[k] - y[k]) + eps);
        s += pkind == 2 ? v * v : pkind == 1 ? fabs(v) : pow(fabs(v), p);
    }
    return s;
}

/* the distance, rounded to the dtype as torch's norm returns it */
LOSSK_INLINE real LOSSK_FN(met_dist)(double s, const int pkind, double p) {
    return (real)(pkind == 2 ? sqrt(s) : pkind == 1 ? s : pow(s, 1.0 / p));
}

/* d ||v||_p / d v_k times c: v/d (p = 2), sign(v) (p = 1), sign(v) |v|^(p-1) / d^(p-1);
   0 where d = 0 (and where v_k = 0 for p < 1), as torch's norm backward */
LOSSK_INLINE real LOSSK_FN(met_dgrad)(real v, const int pkind, double p, double scale) {
    if (pkind == 2) return (real)((double)v * scale);
    if (pkind == 1) return (real)(v > 0 ? scale : v < 0 ? -scale : (double)v * 0.0);
    if (v == 0) return (real)0;
    const double av = fabs((double)v);
    return (real)((v > 0 ? scale : -scale) * pow(av, p - 1.0));
}

/* rows [begin, end); pkind and swap are constants after inlining (each
   combination its own loops, which then vectorize) */
/* n elements (a multiple of 16 bytes) from the scratch row to a 16-byte
   aligned gradient row with streaming stores (met_triplet.nt) */
LOSSK_INLINE void LOSSK_FN(met_copy_out)(real *dst, const real *src, int64_t n) {
#if LOSSK_MULTIARCH
    for (int64_t k = 0; k < n; k += 16 / (int64_t)sizeof(real))
        _mm_stream_ps((float *)(dst + k), _mm_loadu_ps((const float *)(src + k)));
#else
    memcpy(dst, src, (size_t)n * sizeof(real));
#endif
}

LOSSK_INLINE double LOSSK_FN(met_triplet_rows)(const met_triplet *t, int64_t begin, int64_t end, const int pkind,
                                              const int swap, real *buf) {
    const int64_t d = t->d;
    const real eps = (real)t->eps, margin = (real)t->margin;
    const double p = t->p;
    double total = 0.0;
    for (int64_t i = begin; i < end; i++) {
        const real *a = (const real *)t->a + i * d, *ps = (const real *)t->pos + i * d,
                   *ng = (const real *)t->neg + i * d;
        const real dap = LOSSK_FN(met_dist)(LOSSK_FN(met_pnorm_sum)(a, ps, d, eps, pkind, p), pkind, p);
        const real dan = LOSSK_FN(met_dist)(LOSSK_FN(met_pnorm_sum)(a, ng, d, eps, pkind, p), pkind, p);
        real dneg = dan, dpn = 0;
        double share_an = 1.0, share_pn = 0.0;
        if (swap) {
            dpn = LOSSK_FN(met_dist)(LOSSK_FN(met_pnorm_sum)(ps, ng, d, eps, pkind, p), pkind, p);
            /* torch's minimum: NaN propagates; a tie splits the gradient in halves */
            if (dan == dpn) { share_an = share_pn = 0.5; }
            else if (dan < dpn || dan != dan) { share_an = 1.0; share_pn = 0.0; }
            else { dneg = dpn; share_an = 0.0; share_pn = 1.0; }
        }
        const real z = (real)(margin + dap) - dneg;
        const real l = z > 0 ? z : z == z ? (real)0 : z;   /* clamp_min(z, 0), NaN kept */
        total += (double)l;
        if (t->loss_none) ((real *)t->loss_none)[i] = l;
        if (!t->ga) continue;
        /* clamp_min passes the gradient where z >= 0 (torch); the NaN case gives NaN */
        const double c = z >= 0 ? t->w : z == z ? 0.0 : (double)z;
        /* per-distance scales c / d (p = 2), c (p = 1), c / d^(p-1); 0 at d = 0 */
        double s_ap, s_an, s_pn;
#define MET_SCALE(dist, share)                                                                   \
        ((double)(dist) == 0.0 ? 0.0 * (share) * c                                              \
         : pkind == 2 ? c * (share) / (double)(dist)                                            \
         : pkind == 1 ? c * (share) : c * (share) / pow((double)(dist), p - 1.0))
        s_ap = MET_SCALE(dap, 1.0);
        s_an = MET_SCALE(dan, share_an);
        s_pn = swap ? MET_SCALE(dpn, share_pn) : 0.0;
#undef MET_SCALE
        real *ga = (real *)t->ga + i * d, *gp = (real *)t->gp + i * d, *gn = (real *)t->gn + i * d;
        /* streaming: the row into the scratch rows first */
        real *oa = buf ? buf : ga, *op = buf ? buf + d : gp, *on = buf ? buf + 2 * d : gn;
        /* each output element from the three inputs' element k, read before
           any is written: a gradient may be its own input */
        if (swap) {
            LOSSK_IVDEP
            for (int64_t k = 0; k < d; k++) {
                const real ak = a[k], pk = ps[k], nk = ng[k];
                const real gap = LOSSK_FN(met_dgrad)((real)((real)(ak - pk) + eps), pkind, p, s_ap);
                const real gan = LOSSK_FN(met_dgrad)((real)((real)(ak - nk) + eps), pkind, p, s_an);
                const real gpn = LOSSK_FN(met_dgrad)((real)((real)(pk - nk) + eps), pkind, p, s_pn);
                oa[k] = gap - gan;
                op[k] = -gap - gpn;
                on[k] = gan + gpn;
            }
        } else {
            LOSSK_IVDEP
            for (int64_t k = 0; k < d; k++) {
                const real ak = a[k], pk = ps[k], nk = ng[k];
                const real gap = LOSSK_FN(met_dgrad)((real)((real)(ak - pk) + eps), pkind, p, s_ap);
                const real gan = LOSSK_FN(met_dgrad)((real)((real)(ak - nk) + eps), pkind, p, s_an);
                oa[k] = gap - gan;
                op[k] = -gap;
                on[k] = gan;
            }
        }
        if (buf) {
            LOSSK_FN(met_copy_out)(ga, oa, d);
            LOSSK_FN(met_copy_out)(gp, op, d);
            LOSSK_FN(met_copy_out)(gn, on, d);
        }
    }
    return total;
}

int64_t LOSSK_FN(met_triplet_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch);
int64_t LOSSK_FN(met_triplet_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch) {
    const met_triplet *t = (const met_triplet *)ctx;
    real *buf = t->nt ? (real *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63) : NULL;
#define MET_ROWS(pk) (t->swap ? LOSSK_FN(met_triplet_rows)(t, begin, end, pk, 1, buf)  \
                              : LOSSK_FN(met_triplet_rows)(t, begin, end, pk, 0, buf))
    acc[0] = t->pkind == 2 ? MET_ROWS(2) : t->pkind == 1 ? MET_ROWS(1) : MET_ROWS(0);
#undef MET_ROWS
#if LOSSK_MULTIARCH
    if (buf) _mm_sfence();   /* the streamed rows visible when the threads join */
#endif
    return -1;
}

/* One row of the contrastive step (see the top of the file). */
LOSSK_INLINE void LOSSK_FN(met_row)(const met_rows *r, int64_t row) {
    real *s = (real *)r->sim + row * r->cols;
    const int64_t n = r->cols, i = r->row0 + row;
    const int64_t ex = r->exclude_self && i < n ? i : -1;
    const int64_t pos = r->pos_shift >= 0 ? (i + r->pos_shift) % n : -1;
    const real it = (real)r->inv_tau;
    const int has_extra = r->extra != NULL;
    const real extra = has_extra ? (real)((real)r->extra[row] * it) : (real)0;
    /* the positive's logit, read before the row is overwritten */
    const double lp = has_extra ? (double)extra : pos >= 0 ? (double)(s[pos] * it) : NAN;
    /* 1/tau rounded to 0 (a huge tau in float32): the logits, all 0, formed
       first, so that the excluded column's -inf is not multiplied by 0 */
    real its = it;
    if (!(it > 0)) {
        for (int64_t j = 0; j < n; j++) s[j] = s[j] * it;
        its = 1;
    }
    /* the excluded column as -inf: it drops out of every pass (exp gives 0) */
    if (ex >= 0) s[ex] = -INFINITY;
    /* the max of the raw dot products, then scaled: x -> x / tau (rounded) is
       monotonic, so that is the max of the logits; the logits themselves are
       formed inside the exp loop (one pass less over the row) */
    real mr = -INFINITY;
    int64_t j0 = 0;
#if LOSSK_MULTIARCH && LOSSK_LEVEL == 1
    /* two native vectors (the 64-byte helper's spills made this loop a third of the kernel) */
    if (n >= 16) {
        real t[16 / (LOSSK_F64 ? 2 : 1)];
#if LOSSK_F64
        __m256d m0 = _mm256_set1_pd(-INFINITY), m1 = m0;
        for (; j0 + 8 <= n; j0 += 8) {   /* max(v, m): m where v is NaN */
            m0 = _mm256_max_pd(_mm256_loadu_pd(s + j0), m0);
            m1 = _mm256_max_pd(_mm256_loadu_pd(s + j0 + 4), m1);
        }
        _mm256_storeu_pd(t, m0);
        _mm256_storeu_pd(t + 4, m1);
#else
        __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
        for (; j0 + 16 <= n; j0 += 16) {
            m0 = _mm256_max_ps(_mm256_loadu_ps(s + j0), m0);
            m1 = _mm256_max_ps(_mm256_loadu_ps(s + j0 + 8), m1);
        }
        _mm256_storeu_ps(t, m0);
        _mm256_storeu_ps(t + 8, m1);
#endif
        for (int l = 0; l < (int)(sizeof t / sizeof t[0]); l++) mr = t[l] > mr ? t[l] : mr;
    }
#elif LOSSK_VECTOR_EXT
    if (n >= LOSSK_LANES) {
        LOSSK_VREAL mv = {0};
        mv -= (real)INFINITY;
        for (; j0 + LOSSK_LANES <= n; j0 += LOSSK_LANES) mv = LOSSK_FN(vmax)(mv, LOSSK_FN(vload)(s + j0));
        for (int l = 0; l < LOSSK_LANES; l++) mr = mv[l] > mr ? mv[l] : mr;
    }
#endif
    for (int64_t j = j0; j < n; j++) mr = s[j] > mr ? s[j] : mr;   /* a NaN never wins, as before */
    real m = mr * its;
    if (has_extra) m = extra > m ? extra : m;
    if (!(m > -INFINITY) || m == INFINITY) m = 0;   /* nothing, or +inf: no shift (inf, NaN propagate) */
    double acc[MET_LANES] = {0};
    const int64_t body = n / MET_LANES * MET_LANES;
    if (r->grad) {                                  /* keep exp(s - m) in the row: one exp per entry */
        for (int64_t j = 0; j < body; j += MET_LANES) {
            for (int l = 0; l < MET_LANES; l++) {
                const real e = LOSSK_EXP((real)(s[j + l] * its) - m);
                s[j + l] = e;
                acc[l] += (double)e;
            }
        }
        for (int64_t j = body; j < n; j++) {
            const real e = LOSSK_EXP((real)(s[j] * its) - m);
            s[j] = e;
            acc[j - body] += (double)e;
        }
    } else {
        for (int64_t j = 0; j < body; j += MET_LANES) {
            for (int l = 0; l < MET_LANES; l++) acc[l] += (double)LOSSK_EXP((real)(s[j + l] * its) - m);
        }
        for (int64_t j = body; j < n; j++) acc[j - body] += (double)LOSSK_EXP((real)(s[j] * its) - m);
    }
    double sum = 0.0;
    for (int l = 0; l < MET_LANES; l++) sum += acc[l];
    if (has_extra) sum += exp((double)extra - (double)m);
    const double lse = (double)m + log(sum);
    r->loss[row] = lse - lp;
    if (!r->grad) return;
    /* d loss / d s_j = w (softmax_j - [j = pos]) */
    const double w = r->weight[row];
    const real scale = (real)(w / sum);
    for (int64_t j = 0; j < n; j++) s[j] = s[j] * scale;
    if (has_extra) r->extra_grad[row] = w * (exp((double)extra - lse) - 1.0);
    else if (pos >= 0) s[pos] -= (real)w;
    if (ex >= 0) s[ex] = 0;
}

int64_t LOSSK_FN(met_rows_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch);
int64_t LOSSK_FN(met_rows_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch) {
    const met_rows *r = (const met_rows *)ctx;
    (void)scratch;
    for (int64_t row = begin; row < end; row++) LOSSK_FN(met_row)(r, row);
    acc[0] = 0.0;
    return -1;
}

#endif /* LOSSK_TEMPLATE_PASS */
