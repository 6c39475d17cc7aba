/*
 * Listwise ranking losses over (b, l) lists, as allRank defines them
 * (allrank/models/losses/{listNet,listMLE,approxNDCG}.py):
 *   listnet_loss:     -sum_j softmax(rel)_j log(softmax(s)_j + eps)
 *   listmle_loss:     Plackett-Luce NLL of the order of decreasing relevance,
 *                     sum_k log(C_k + eps) - (y_k - M), y the scores in that
 *                     order, M their max, C_k = sum_{m >= k} exp(y_m - M)
 *   approx_ndcg_loss: -sum_i G_i / log2(1 + pos_i), G_i = (2^max(rel_i, 0) - 1)
 *                     / max(idealDCG, eps), pos_i = 1 + sum_{j != i}
 *                     max(sigmoid(alpha (s_j - s_i)), eps)
 * Padding (relevance exactly -1, or mask 0) drops out of every sum, so each
 * list is first compacted to its real items (ragged lists cost their length).
 *
 * Lists are the items of lossk__run_blocks: fixed blocks of lists, each list
 * computed sequentially in double (the pairwise terms of approx_ndcg_loss in
 * the dtype, as torch does, their sums in double), so the results are bitwise
 * the same for every thread count. Scores are copied to per-thread scratch
 * before any gradient is written: grad may be the scores themselves.
 */
#ifndef LOSSK_TEMPLATE_PASS

#include <float.h>
#include <stdlib.h>

#include "internal.h"

typedef enum lw_kind { LW_LISTNET = 0, LW_LISTMLE = 1, LW_APPROX_NDCG = 2 } lw_kind;

typedef struct lw_ctx {
    const lossk_listwise_args *a;
    const double *discount;    /* approx_ndcg_loss: 1 / log2(k + 2), k < l */
    double scale;              /* d(returned loss)/d(one list's loss): 1/b for the mean */
} lw_ctx;

/* Lanes of the fixed-order sums: independent chains, the same for every level. */
#define LW_LANES 8
#define LW_LN2 0.69314718055994530942

/* sum of a[0..n) in LW_LANES lanes added in a fixed order */
static double lw_sum(const double *a, int64_t n) {
    double lane[LW_LANES] = {0};
    int64_t i = 0;
    for (; i + LW_LANES <= n; i += LW_LANES)
        for (int l = 0; l < LW_LANES; l++) lane[l] += a[i + l];
    double s = 0.0;
    for (; i < n; i++) s += a[i];
    for (int l = 0; l < LW_LANES; l++) s += lane[l];
    return s;
}

/* Positions of the real items of a list (mask nonzero, relevance != -1), in order. */
#define LW_GATHER(real)                                                                   \
    static int64_t lw_gather_##real(const real *rel, const uint8_t *mask, int64_t l,     \
                                    int32_t *idx) {                                       \
        int64_t pad = 0;                                                                  \
        for (int64_t j = 0; j < l; j++) pad += rel[j] == (real)-1;                        \
        if (mask)                                                                         \
            for (int64_t j = 0; j < l; j++) pad += !mask[j];                              \
        if (pad == 0) {                  /* no padding (the usual list): positions 0..l-1 */ \
            for (int64_t j = 0; j < l; j++) idx[j] = (int32_t)j;                          \
            return l;                                                                     \
        }                                                                                 \
        int64_t n = 0;                                                                    \
        for (int64_t j = 0; j < l; j++) {                                                 \
            idx[n] = (int32_t)j;                                                          \
            n += rel[j] != (real)-1 && (!mask || mask[j]);                                \
        }                                                                                 \
        return n;                                                                         \
    }
LW_GATHER(float)
LW_GATHER(double)
#undef LW_GATHER

/* Stable sort of order[0..n) (= 0..n-1 on entry) by key[] decreasing: ties
   keep their original order, the deterministic tie rule lossk uses where
   allRank shuffles. Keys must not be NaN. Graded relevance (integers 0..31,
   the usual case) is counted in O(n); other keys go through a merge sort. */
#define LW_GRADES 32
static void lw_sort_desc(const double *key, int32_t *order, int32_t *tmp, int64_t n) {
    int small = 1;
    for (int64_t k = 0; k < n && small; k++)
        small = key[k] >= 0.0 && key[k] < LW_GRADES && key[k] == (double)(int)key[k];
    if (small) {
        int64_t start[LW_GRADES + 1] = {0};
        for (int64_t k = 0; k < n; k++) start[LW_GRADES - 1 - (int)key[k] + 1]++;
        for (int g = 1; g <= LW_GRADES; g++) start[g] += start[g - 1];
        for (int64_t k = 0; k < n; k++) order[start[LW_GRADES - 1 - (int)key[k]]++] = (int32_t)k;
        return;
    }
    /* insertion sort of runs of 16, then bottom-up merges (ping-pong buffers) */
    const int64_t run = 16;
    for (int64_t lo = 0; lo < n; lo += run) {
        const int64_t hi = lo + run < n ? lo + run : n;
        for (int64_t k = lo + 1; k < hi; k++) {
            const int32_t v = order[k];
            int64_t m = k;
            while (m > lo && key[order[m - 1]] < key[v]) { order[m] = order[m - 1]; m--; }
            order[m] = v;
        }
    }
    int32_t *src = order, *dst = tmp;
    for (int64_t width = run; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            const int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = key[src[j]] > key[src[i]] ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        int32_t *t = src; src = dst; dst = t;
    }
    if (src != order) memcpy(order, src, (size_t)n * sizeof *order);
}

#define LOSSK_TEMPLATE_FILE "listwise/listwise.c"
#include "multiarch.h"

/* scratch: doubles per list item, and int32s */
#define LW_SCRATCH_DOUBLES 6
#define LW_SCRATCH_INTS 3

lossk_status lossk_listwise(const char *loss, const lossk_listwise_args *a) {
    lw_kind kind;
    if (!loss || !a || a->size < sizeof(lossk_listwise_args) ||
        (a->dtype != LOSSK_DTYPE_F32 && a->dtype != LOSSK_DTYPE_F64))
        return LOSSK_ERR_INVALID_ARGUMENT;
    if (strcmp(loss, "listnet_loss") == 0) kind = LW_LISTNET;
    else if (strcmp(loss, "listmle_loss") == 0) kind = LW_LISTMLE;
    else if (strcmp(loss, "approx_ndcg_loss") == 0) kind = LW_APPROX_NDCG;
    else return LOSSK_ERR_INVALID_ARGUMENT;
    const int64_t b = a->b, l = a->l;
    if (b < 0 || l < 1 || (b > 0 && l > INT32_MAX / 2) || b > INT64_MAX / l ||
        (a->reduction != LOSSK_REDUCTION_NONE && a->reduction != LOSSK_REDUCTION_MEAN &&
         a->reduction != LOSSK_REDUCTION_SUM) ||
        !(a->eps >= 0.0) || a->eps == INFINITY ||
        (kind == LW_APPROX_NDCG && (!(a->alpha > 0.0) || a->alpha == INFINITY)))
        return LOSSK_ERR_INVALID_ARGUMENT;
    if ((b > 0 && (!a->scores || !a->relevance)) || (a->reduction == LOSSK_REDUCTION_NONE && b > 0 && !a->loss_none) ||
        (a->reduction != LOSSK_REDUCTION_NONE && !a->loss_out))
        return LOSSK_ERR_INVALID_ARGUMENT;
    if (lossk__aliases(a->grad, a->relevance) || lossk__aliases(a->grad, a->mask) ||
        lossk__aliases(a->loss_none, a->scores) || lossk__aliases(a->loss_none, a->relevance))
        return LOSSK_ERR_ALIASING;
    if (a->reduction != LOSSK_REDUCTION_NONE) *a->loss_out = b > 0 || a->reduction == LOSSK_REDUCTION_SUM ? 0.0 : NAN;
    if (b == 0) return LOSSK_OK;

    double *discount = NULL;
    if (kind == LW_APPROX_NDCG) {
        discount = (double *)malloc((size_t)l * sizeof(double));
        if (!discount) return LOSSK_ERR_NO_MEMORY;
        for (int64_t k = 0; k < l; k++) discount[k] = 1.0 / log2((double)k + 2.0);
    }
    const lw_ctx ctx = {a, discount, a->reduction == LOSSK_REDUCTION_MEAN ? 1.0 / (double)b : 1.0};
    /* about 16 Ki element-operations per block (a list's pairs for ApproxNDCG) */
    const int64_t per_list = kind == LW_APPROX_NDCG ? (l * l < ((int64_t)1 << 40) ? l * l : ((int64_t)1 << 40)) : l;
    const int64_t block = lossk__block_items(per_list, (int64_t)1 << 14);
    const int64_t n_blocks = (b - 1) / block + 1;
    const size_t scratch = (size_t)l * (LW_SCRATCH_DOUBLES * sizeof(double) + LW_SCRATCH_INTS * sizeof(int32_t)) + 64;
    const int f64 = a->dtype == LOSSK_DTYPE_F64;
    lossk_block_fn fn;
    if (kind == LW_LISTNET) fn = f64 ? LOSSK_SELECT(listnet_block_f64) : LOSSK_SELECT(listnet_block_f32);
    else if (kind == LW_LISTMLE) fn = f64 ? LOSSK_SELECT(listmle_block_f64) : LOSSK_SELECT(listmle_block_f32);
    else fn = f64 ? LOSSK_SELECT(approx_ndcg_block_f64) : LOSSK_SELECT(approx_ndcg_block_f32);
    double sum = 0.0;
    const lossk_status s = lossk__run_blocks(b, block, lossk__threads_for(a->n_threads, b * per_list, n_blocks),
                                             1, scratch, fn, &ctx, &sum, NULL);
    free(discount);
    if (s == LOSSK_OK && a->reduction != LOSSK_REDUCTION_NONE) *a->loss_out = sum * ctx.scale;
    return s;
}

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype */

#include "pass_helpers.h"

#undef LW_GATHER_FN
#if LOSSK_F64
#  define LW_GATHER_FN lw_gather_double
#else
#  define LW_GATHER_FN lw_gather_float
#endif

/* The per-thread scratch of one list of l items. */
#undef LW_SCRATCH
#define LW_SCRATCH(scratch, l)                                                            \
    double *d0 = (double *)(scratch), *d1 = d0 + (l), *d2 = d1 + (l), *d3 = d2 + (l),     \
           *d4 = d3 + (l), *d5 = d4 + (l);                                                \
    int32_t *idx = (int32_t *)(d5 + (l)), *order = idx + (l), *tmp = order + (l);         \
    (void)d0; (void)d1; (void)d2; (void)d3; (void)d4; (void)d5; (void)idx; (void)order; (void)tmp

/* sum of a[0..n) of the dtype in double, in LW_LANES lanes added in a fixed order */
LOSSK_INLINE double LOSSK_FN(lw_sumr)(const real *a, int64_t n) {
    double lane[LW_LANES] = {0};
    int64_t i = 0;
    for (; i + LW_LANES <= n; i += LW_LANES)
        for (int l = 0; l < LW_LANES; l++) lane[l] += (double)a[i + l];
    double s = 0.0;
    for (; i < n; i++) s += (double)a[i];
    for (int l = 0; l < LW_LANES; l++) s += lane[l];
    return s;
}

/* A list's loss into loss_none (NONE), its zero gradient row for no real items. */
LOSSK_INLINE void LOSSK_FN(lw_store_loss)(const lossk_listwise_args *a, int64_t i, double v) {
    if (a->reduction == LOSSK_REDUCTION_NONE) ((real *)a->loss_none)[i] = (real)v;
}

/* ListNet: P = softmax(s), T = softmax(rel) over the real items, u = P + eps;
   loss -sum T log u; d/ds_k = P_k W - w_k with w = T P / u, W = sum w
   (P - T when eps = 0). No real items: loss 0 (allRank: 0/0 = NaN). */
int64_t LOSSK_FN(listnet_block)(const void *vctx, int64_t begin, int64_t end, double *acc, void *scratch);
int64_t LOSSK_FN(listnet_block)(const void *vctx, int64_t begin, int64_t end, double *acc, void *scratch) {
    const lw_ctx *c = (const lw_ctx *)vctx;
    const lossk_listwise_args *a = c->a;
    const int64_t l = a->l;
    const double scale = c->scale;
    const real eps = (real)a->eps;
    LW_SCRATCH(scratch, l);
    /* exp and log in the dtype (as torch; twice the lanes for float32), sums in double */
    real *s = (real *)d0, *r = (real *)d1, *es = (real *)d2, *er = (real *)d3;
    double *t = d4;
    double total = 0.0;
    for (int64_t i = begin; i < end; i++) {
        const real *x = (const real *)a->scores + i * l, *rel = (const real *)a->relevance + i * l;
        real *g = a->grad ? (real *)a->grad + i * l : NULL;
        const int64_t n = LW_GATHER_FN(rel, a->mask ? a->mask + i * l : NULL, l, idx);
        real ms = -(real)INFINITY, mr = -(real)INFINITY;
        if (n == l) {
            for (int64_t k = 0; k < n; k++) { s[k] = x[k]; r[k] = rel[k]; }
        } else {
            for (int64_t k = 0; k < n; k++) { s[k] = x[idx[k]]; r[k] = rel[idx[k]]; }
        }
        for (int64_t k = 0; k < n; k++) {
            ms = s[k] > ms ? s[k] : ms;   /* a NaN propagates through exp below */
            mr = r[k] > mr ? r[k] : mr;
        }
        for (int64_t k = 0; k < n; k++) {
            es[k] = LOSSK_EXP(s[k] - ms);
            er[k] = LOSSK_EXP(r[k] - mr);
        }
        const real zs = (real)(1.0 / LOSSK_FN(lw_sumr)(es, n)), zr = (real)(1.0 / LOSSK_FN(lw_sumr)(er, n));
        for (int64_t k = 0; k < n; k++) {
            const real p = es[k] * zs, tk = er[k] * zr, u = p + eps;
            t[k] = (double)(-tk * LOSSK_LOG(u));
            es[k] = p;
            er[k] = tk * p / u;   /* w */
        }
        const double v = n > 0 ? lw_sum(t, n) : 0.0;
        total += v;
        LOSSK_FN(lw_store_loss)(a, i, v);
        if (g) {
            const double w_sum = LOSSK_FN(lw_sumr)(er, n);
            if (n == l) {
                for (int64_t k = 0; k < n; k++) g[k] = (real)(scale * ((double)es[k] * w_sum - (double)er[k]));
            } else {
                for (int64_t j = 0; j < l; j++) g[j] = (real)0;
                for (int64_t k = 0; k < n; k++) g[idx[k]] = (real)(scale * ((double)es[k] * w_sum - (double)er[k]));
            }
        }
    }
    acc[0] = total;
    return -1;
}

/* ListMLE in the stable order of decreasing relevance (y_k, k < n):
   q_k = exp(y_k - M), C_k = sum_{m >= k} q_m, loss sum_k log(C_k + eps) - (y_k - M);
   d/dy_j = -1 + q_j sum_{k <= j} 1/(C_k + eps), and M (torch: the first max)
   gets sum_k eps/(C_k + eps), the max being a function of the scores too.
   A NaN relevance among the real items makes the list's loss and gradient NaN. */
int64_t LOSSK_FN(listmle_block)(const void *vctx, int64_t begin, int64_t end, double *acc, void *scratch);
int64_t LOSSK_FN(listmle_block)(const void *vctx, int64_t begin, int64_t end, double *acc, void *scratch) {
    const lw_ctx *c = (const lw_ctx *)vctx;
    const lossk_listwise_args *a = c->a;
    const int64_t l = a->l;
    const double eps = a->eps, scale = c->scale;
    LW_SCRATCH(scratch, l);
    double total = 0.0;
    for (int64_t i = begin; i < end; i++) {
        const real *x = (const real *)a->scores + i * l, *rel = (const real *)a->relevance + i * l;
        real *g = a->grad ? (real *)a->grad + i * l : NULL;
        const int64_t n = LW_GATHER_FN(rel, a->mask ? a->mask + i * l : NULL, l, idx);
        double *r = d0, *cs = d3, *t = d4, *e = d5;
        real *y = (real *)d1, *q = (real *)d2;   /* exp and log in the dtype, as torch; sums in double */
        int has_nan = 0;
        for (int64_t k = 0; k < n; k++) {
            r[k] = (double)rel[idx[k]];
            has_nan |= r[k] != r[k];
            order[k] = (int32_t)k;
        }
        if (has_nan) {
            total += NAN;
            LOSSK_FN(lw_store_loss)(a, i, NAN);
            if (g) {
                for (int64_t j = 0; j < l; j++) g[j] = (real)0;
                for (int64_t k = 0; k < n; k++) g[idx[k]] = (real)NAN;
            }
            continue;
        }
        lw_sort_desc(r, order, tmp, n);
        real m = -(real)INFINITY;
        int64_t am = -1;
        for (int64_t k = 0; k < n; k++) {
            y[k] = x[idx[order[k]]];
            if (y[k] > m) { m = y[k]; am = k; }
        }
        for (int64_t k = 0; k < n; k++) {
            y[k] -= m;
            q[k] = LOSSK_EXP(y[k]);
        }
        double run = 0.0;
        for (int64_t k = n - 1; k >= 0; k--) { run += (double)q[k]; cs[k] = run + a->eps; }
        for (int64_t k = 0; k < n; k++) t[k] = (double)LOSSK_LOG((real)cs[k]) - (double)y[k];
        const double v = n > 0 ? lw_sum(t, n) : 0.0;
        total += v;
        LOSSK_FN(lw_store_loss)(a, i, v);
        if (g) {
            for (int64_t k = 0; k < n; k++) cs[k] = 1.0 / cs[k];
            if (n < l)
                for (int64_t j = 0; j < l; j++) g[j] = (real)0;
            double pre = 0.0;
            for (int64_t k = 0; k < n; k++) { pre += cs[k]; t[k] = (double)q[k] * pre - 1.0; }
            if (am >= 0 && eps > 0.0) {
                for (int64_t k = 0; k < n; k++) e[k] = eps * cs[k];
                t[am] += lw_sum(e, n);
            }
            for (int64_t k = 0; k < n; k++) g[idx[order[k]]] = (real)(scale * t[k]);
        }
    }
    acc[0] = total;
    return -1;
}

/* One pair (i, j) of ApproxNDCG: e = exp(-alpha |s_i - s_j|) gives both
   sigmoids without cancellation, big = 1/(1 + e), small = e big; t_ij =
   sigmoid(alpha (s_j - s_i)) is small when s_i > s_j, t_ji the other. */
#undef LW_PAIR
#define LW_PAIR(si, sj)                                                                   \
    const real d_ = (si) - (sj);                                                          \
    const real e_ = LOSSK_EXP(-alpha * LOSSK_ABS(d_));                                   \
    const real big_ = (real)1 / ((real)1 + e_), small_ = e_ * big_;                      \
    const real tij_ = d_ > 0 ? small_ : big_, tji_ = d_ > 0 ? big_ : small_

/* ApproxNDCG over the real items (s in the dtype, in the scratch): pos_k in
   pass 1, the gradient d/ds_k = sum_i c_i dpos_i/ds_k in pass 2 with c_i =
   dloss/dpos_i (alpha and the reduction's scale folded in). The clamp at eps
   has no gradient below eps, as torch's clamp. A list whose ideal DCG is 0
   (no positive relevance) has G = 0: loss 0 (counted in the mean), gradient 0. */
int64_t LOSSK_FN(approx_ndcg_block)(const void *vctx, int64_t begin, int64_t end, double *acc, void *scratch);
int64_t LOSSK_FN(approx_ndcg_block)(const void *vctx, int64_t begin, int64_t end, double *acc, void *scratch) {
    const lw_ctx *c = (const lw_ctx *)vctx;
    const lossk_listwise_args *a = c->a;
    const int64_t l = a->l;
    const double eps = a->eps, scale = c->scale;
    /* alpha beyond float's range would make alpha * 0 NaN at ties: FLT_MAX acts alike */
    const real alpha = (real)(a->alpha < (double)FLT_MAX ? a->alpha : (double)FLT_MAX), reps = (real)eps;
    LW_SCRATCH(scratch, l);
    double total = 0.0;
    for (int64_t i = begin; i < end; i++) {
        const real *x = (const real *)a->scores + i * l, *rel = (const real *)a->relevance + i * l;
        real *g = a->grad ? (real *)a->grad + i * l : NULL;
        const int64_t n = LW_GATHER_FN(rel, a->mask ? a->mask + i * l : NULL, l, idx);
        double *gain = d0, *pos = d1, *cc = d2, *row = d3, *gr = d4;
        real *s = (real *)d5;
        int has_nan = 0;
        for (int64_t k = 0; k < n; k++) {
            const double rk = (double)rel[idx[k]];
            gain[k] = rk > 0.0 ? exp2(rk) - 1.0 : rk == rk ? 0.0 : rk;   /* clamp(min=0); NaN kept */
            has_nan |= rk != rk;
            s[k] = x[idx[k]];
            order[k] = (int32_t)k;
            pos[k] = 1.0;
        }
        double idcg = NAN;
        if (!has_nan) {
            lw_sort_desc(gain, order, tmp, n);
            for (int64_t k = 0; k < n; k++) row[k] = gain[order[k]] * c->discount[k];
            idcg = lw_sum(row, n);
        }
        const double inv_idcg = 1.0 / (idcg > eps ? idcg : idcg == idcg ? eps : idcg);
        /* pass 1: pos_k = 1 + sum_{j != k} max(t_kj, eps); row j of pair (k, j > k) via row[] */
        for (int64_t k = 0; k < n; k++) {
            const real sk = s[k];
            for (int64_t j = k + 1; j < n; j++) {
                LW_PAIR(sk, s[j]);
                row[j] = (double)(tij_ < reps ? reps : tij_);
                pos[j] += (double)(tji_ < reps ? reps : tji_);
            }
            pos[k] += lw_sum(row + k + 1, n - k - 1);
        }
        double ndcg = 0.0;
        for (int64_t k = 0; k < n; k++) {
            const double gk = gain[k] * inv_idcg, lnp = log1p(pos[k]);
            row[k] = gk * LW_LN2 / lnp;
            cc[k] = gk * LW_LN2 / (lnp * lnp * (1.0 + pos[k])) * scale * a->alpha;
        }
        ndcg = lw_sum(row, n);
        total += -ndcg;
        LOSSK_FN(lw_store_loss)(a, i, -ndcg);
        if (!g) continue;
        /* pass 2: v = c_k w_kj - c_j w_jk, w = t (1 - t) where t >= eps; g_j += v, g_k -= v */
        for (int64_t k = 0; k < n; k++) gr[k] = 0.0;
        for (int64_t k = 0; k < n; k++) {
            const real sk = s[k];
            const double ck = cc[k];
            for (int64_t j = k + 1; j < n; j++) {
                LW_PAIR(sk, s[j]);
                const double w = (double)(small_ * big_);
                const double v = ck * (tij_ >= reps ? w : 0.0) - cc[j] * (tji_ >= reps ? w : 0.0);
                gr[j] += v;
                row[j] = v;
            }
            gr[k] -= lw_sum(row + k + 1, n - k - 1);
        }
        if (n < l)
            for (int64_t j = 0; j < l; j++) g[j] = (real)0;
        for (int64_t k = 0; k < n; k++) g[idx[k]] = (real)gr[k];
    }
    acc[0] = total;
    return -1;
}

#endif /* LOSSK_TEMPLATE_PASS */
