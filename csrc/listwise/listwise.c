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
 * computed by itself in a fixed order (exp and log in the dtype, as torch;
 * sums in double, or in lanes of the dtype combined in double), so the
 * results are bitwise the same for every thread count. A list's scores are
 * read (copied to per-thread scratch, or by ListNet in place) before any of
 * its gradient is written: grad may be the scores themselves. ApproxNDCG's
 * scratch also keeps a list's l^2 pair weights up to 4 MiB (LW_CACHE_BYTES).
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

/* Each scratch array of doubles has LW_PAD more: the pair loops' last vector
   reads and writes past the list's end. */
#define LW_PAD 8
/* ApproxNDCG keeps the pair weights of lists of l items when l^2 reals fit in
   this (per-thread scratch, about one L2: 1024 items in float32, 724 in float64) */
#define LW_CACHE_BYTES ((int64_t)4 << 20)
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
    const int f64 = a->dtype == LOSSK_DTYPE_F64;
    const int64_t lc = kind == LW_APPROX_NDCG && l <= 4096 && l * l * (f64 ? 8 : 4) <= LW_CACHE_BYTES ? l : 0;   /* pair cache */
    const size_t scratch = (size_t)(l + LW_PAD) * LW_SCRATCH_DOUBLES * sizeof(double) +
                           (size_t)l * LW_SCRATCH_INTS * sizeof(int32_t) +
                           (size_t)(lc * lc + 2 * lc * LW_PAD) * (f64 ? sizeof(double) : sizeof(float)) + 64;
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
    double *d0 = (double *)(scratch), *d1 = d0 + (l) + LW_PAD, *d2 = d1 + (l) + LW_PAD,  \
           *d3 = d2 + (l) + LW_PAD, *d4 = d3 + (l) + LW_PAD, *d5 = d4 + (l) + LW_PAD;    \
    int32_t *idx = (int32_t *)(d5 + (l) + LW_PAD), *order = idx + (l), *tmp = order + (l); \
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

/* max of v[0..n), NaN ignored (-inf if none): LOSSK_LANES lanes (a serial
   max waits on its latency), combined in a fixed order */
LOSSK_INLINE real LOSSK_FN(lw_max)(const real *v, int64_t n) {
    real acc[LOSSK_LANES];
    for (int u = 0; u < LOSSK_LANES; u++) acc[u] = -(real)INFINITY;
    int64_t k = 0;
    for (; k + LOSSK_LANES <= n; k += LOSSK_LANES)
        for (int u = 0; u < LOSSK_LANES; u++) acc[u] = v[k + u] > acc[u] ? v[k + u] : acc[u];
    real m = -(real)INFINITY;
    for (; k < n; k++) m = v[k] > m ? v[k] : m;
    for (int u = 0; u < LOSSK_LANES; u++) m = acc[u] > m ? acc[u] : m;
    return m;
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
    const int eps_normal = eps >= (LOSSK_F64 ? DBL_MIN : FLT_MIN);
    LW_SCRATCH(scratch, l);
    /* exp and log in the dtype (as torch; twice the lanes for float32), sums in double */
    real *s = (real *)d0, *r = (real *)d1, *es = (real *)d2, *er = (real *)d3;
    double total = 0.0;
    for (int64_t i = begin; i < end; i++) {
        const real *x = (const real *)a->scores + i * l, *rel = (const real *)a->relevance + i * l;
        real *g = a->grad ? (real *)a->grad + i * l : NULL;
        const int64_t n = LW_GATHER_FN(rel, a->mask ? a->mask + i * l : NULL, l, idx);
#if defined(__GNUC__)
        /* a list 4 ahead (lists are short: the hardware prefetcher lagged) */
        if (i + 4 < end)
            for (int64_t k = 0; k < l; k += 64 / (int64_t)sizeof(real)) {
                __builtin_prefetch(x + 4 * l + k);
                __builtin_prefetch(rel + 4 * l + k);
            }
#endif
        const real *sv = x, *rv = rel;   /* unpadded: read in place (grad is written last) */
        if (n < l) {
            for (int64_t k = 0; k < n; k++) { s[k] = x[idx[k]]; r[k] = rel[idx[k]]; }
            sv = s;
            rv = r;
        }
        /* a NaN is no max: it propagates through exp below */
        const real ms = LOSSK_FN(lw_max)(sv, n), mr = LOSSK_FN(lw_max)(rv, n);
        /* each pass's sums in LOSSK_LANES lanes of the dtype (as lane_sum), then
           in double in a fixed order: one pass for the exps, one for the rest */
        const int64_t nv = n - n % LOSSK_LANES;
        real ls[LOSSK_LANES] = {0}, lr[LOSSK_LANES] = {0};
        for (int64_t k = 0; k < nv; k += LOSSK_LANES)
            for (int u = 0; u < LOSSK_LANES; u++) {
                const real e1 = LOSSK_EXP_NONPOSITIVE(sv[k + u] - ms), e2 = LOSSK_EXP_NONPOSITIVE(rv[k + u] - mr);
                es[k + u] = e1;
                er[k + u] = e2;
                ls[u] += e1;
                lr[u] += e2;
            }
        double zsd = 0.0, zrd = 0.0;
        for (int64_t k = nv; k < n; k++) {
            es[k] = LOSSK_EXP_NONPOSITIVE(sv[k] - ms);
            er[k] = LOSSK_EXP_NONPOSITIVE(rv[k] - mr);
            zsd += (double)es[k];
            zrd += (double)er[k];
        }
        for (int u = 0; u < LOSSK_LANES; u++) { zsd += (double)ls[u]; zrd += (double)lr[u]; }
        const real zs = (real)(1.0 / zsd), zr = (real)(1.0 / zrd);
        for (int u = 0; u < LOSSK_LANES; u++) { ls[u] = 0; lr[u] = 0; }
#undef LW_LISTNET_LOGS
#define LW_LISTNET_LOGS(LOGFN)                                                            \
        for (int64_t k = 0; k < nv; k += LOSSK_LANES)                                     \
            for (int u = 0; u < LOSSK_LANES; u++) {                                       \
                const real p = es[k + u] * zs, tk = er[k + u] * zr, uu = p + eps, w = tk * p / uu; \
                ls[u] += tk * LOGFN(uu);                                                  \
                lr[u] += w;                                                               \
                es[k + u] = p;                                                            \
                er[k + u] = w;                                                            \
            }
        /* finite sums and eps normal: every u is in [eps, 1 + eps], a normal number,
           so the log needs none of its special cases */
        if (zsd < (double)INFINITY && zrd < (double)INFINITY && eps_normal) {
            LW_LISTNET_LOGS(LOSSK_LOG_NORMAL)
        } else {
            LW_LISTNET_LOGS(LOSSK_LOG)
        }
        double v = 0.0, w_sum = 0.0;
        for (int64_t k = nv; k < n; k++) {
            const real p = es[k] * zs, tk = er[k] * zr, uu = p + eps, w = tk * p / uu;
            v -= (double)(tk * LOSSK_LOG(uu));
            w_sum += (double)w;
            es[k] = p;
            er[k] = w;
        }
        for (int u = 0; u < LOSSK_LANES; u++) { v -= (double)ls[u]; w_sum += (double)lr[u]; }
        total += v;
        LOSSK_FN(lw_store_loss)(a, i, v);
        if (g) {
            const real ws = (real)w_sum, sc = (real)scale;   /* in the dtype: P W - w, one rounding each */
            if (n == l) {
                for (int64_t k = 0; k < n; k++) g[k] = sc * (es[k] * ws - er[k]);
            } else {
                for (int64_t j = 0; j < l; j++) g[j] = (real)0;
                for (int64_t k = 0; k < n; k++) g[idx[k]] = sc * (es[k] * ws - er[k]);
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

/* The pair passes of ApproxNDCG over the real items s[0..n) (padded with W
   zeros): pass 1 adds sum_{j != k} max(t_kj, eps) to pos_k; pass 2 adds the
   gradient's pair terms v = c_k w_kj - c_j w_jk (w = t (1 - t) where t >=
   eps, the clamp having no gradient below eps, as torch's) to gr_j and -v to
   gr_k. t_kj = sigmoid(alpha (s_j - s_k)) from e = exp(-alpha |s_k - s_j|):
   big = 1/(1 + e), small = e big gives both sigmoids without cancellation,
   t_kj the small one when s_k > s_j. */
#if LOSSK_VECTOR_EXT
/* W-lane vectors of the dtype (one ymm: 8 floats or 4 doubles; 2 xmm on the
   baseline level), their lane masks, and vectors of 4 doubles for the sums
   (64-byte vectors were lowered through the stack by GCC 12 at AVX2). The
   pairs (k, j..j+W) at a time, lanes past n masked off (no scalar epilogue). */
#undef LW_W
#undef LW_NH
#undef LW_VR
#undef LW_VI
#define LW_W (32 / (int)sizeof(real))
#define LW_NH (LW_W / 4)
#define LW_VR LOSSK_FN(lw_vr)
#define LW_VI LOSSK_FN(lw_vi)
#if LOSSK_F64
typedef double LW_VR __attribute__((vector_size(32)));
typedef int64_t LW_VI __attribute__((vector_size(32)));
#else
typedef float LW_VR __attribute__((vector_size(32)));
typedef int32_t LW_VI __attribute__((vector_size(32)));
#endif

/* m ? a : b lane-wise (m all ones or zeros per lane) */
LOSSK_INLINE LW_VR LOSSK_FN(lw_vsel)(LW_VI m, LW_VR a, LW_VR b) {
    return (LW_VR)(((LW_VI)a & m) | ((LW_VI)b & ~m));
}

LOSSK_INLINE LW_VR LOSSK_FN(lw_vload)(const real *p) {
    LW_VR v;
    memcpy(&v, p, sizeof v);
    return v;
}

LOSSK_INLINE lossk_v4df LOSSK_FN(lw_vdload)(const double *p) {
    lossk_v4df v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* lanes 4h..4h+3 of v as 4 doubles */
LOSSK_INLINE lossk_v4df LOSSK_FN(lw_widen)(LW_VR v, int h) {
#if LOSSK_F64
    (void)h;
    return v;
#else
    lossk_v4sf half;
    memcpy(&half, (const char *)&v + 16 * h, sizeof half);
    return __builtin_convertvector(half, lossk_v4df);
#endif
}

/* exp(x) for x <= 0 or NaN, W lanes: lossk_expf/lossk_exp's reduction and
   polynomial (simd_math.h) on vectors. */
LOSSK_INLINE LW_VR LOSSK_FN(lw_vexp_nonpos)(LW_VR x) {
    const LW_VR zero = {0};
#if LOSSK_F64
    const double lo = -708.0, shifter = 6755399441055744.0;    /* 1.5 * 2^52 */
    const LW_VI below = x < lo;
    const LW_VR xc = LOSSK_FN(lw_vsel)(below, zero + lo, x);
    const LW_VR z = xc * 1.4426950408889634074 + shifter, kf = z - shifter;
    LW_VR r = xc - kf * 6.93147180369123816490e-01;
    r = r - kf * 1.90821492927058770002e-10;
    static const double c[14] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0,
                                 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
    LW_VR p = zero + c[0];
    for (int i = 1; i < 14; i++) p = p * r + c[i];
    const LW_VR y = (LW_VR)((LW_VI)p + ((LW_VI)z << 52));
#else
    const float lo = -86.6f, shifter = 12582912.0f;             /* 1.5 * 2^23 */
    const LW_VI below = x < lo;
    const LW_VR xc = LOSSK_FN(lw_vsel)(below, zero + lo, x);
    const LW_VR z = xc * 1.44269504088896341f + shifter, kf = z - shifter;
    LW_VR r = xc - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    static const float c[8] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f,
                               1.6666665459e-1f, 5.0000001201e-1f, 1.0f, 1.0f};
    LW_VR p = zero + c[0];
    for (int i = 1; i < 8; i++) p = p * r + c[i];
    const LW_VR y = (LW_VR)((LW_VI)p + ((LW_VI)z << 23));
#endif
    return LOSSK_FN(lw_vsel)(below, zero, y);
}

/* t_kj, t_jk and w = t (1 - t) of the pairs (k, j..j+W) */
LOSSK_INLINE void LOSSK_FN(lw_vpairs)(LW_VR sk, LW_VR sj, real alpha, LW_VR *tkj, LW_VR *tjk, LW_VR *w) {
    const LW_VR d = sk - sj;
    const LW_VR e = LOSSK_FN(lw_vexp_nonpos)(LOSSK_FN(lw_vsel)(d < 0, d, -d) * alpha);   /* -|d| alpha */
#if LOSSK_MULTIARCH && LOSSK_LEVEL == 1 && !LOSSK_F64
    /* 1/(1 + e) by the 12-bit reciprocal and one Newton step (~2 ulp): a
       division per 8 pairs was the pair loop's bottleneck */
    const __m256 den = (__m256)((real)1 + e), r0 = _mm256_rcp_ps(den);
    const LW_VR big = (LW_VR)_mm256_mul_ps(r0, _mm256_fnmadd_ps(den, r0, _mm256_set1_ps(2.0f)));
#else
    const LW_VR big = (real)1 / ((real)1 + e);
#endif
    const LW_VR small = e * big;
    const LW_VI pos = d > 0;
    *tkj = LOSSK_FN(lw_vsel)(pos, small, big);
    *tjk = LOSSK_FN(lw_vsel)(pos, big, small);
    *w = small * big;
}

/* lanes j.. before n, as a mask of the dtype's lanes and of 4 doubles */
LOSSK_INLINE LW_VI LOSSK_FN(lw_on)(int64_t j, int64_t n) {
    LW_VR iota;
    for (int u = 0; u < LW_W; u++) iota[u] = (real)u;
    return iota + (real)(j - n) < 0;
}

LOSSK_INLINE lossk_v4di LOSSK_FN(lw_on_d)(int64_t j, int64_t n) {
    const lossk_v4df iota = {0.0, 1.0, 2.0, 3.0};
    return iota + (double)(j - n) < 0;
}

/* sum of the 4h lanes, in a fixed order */
LOSSK_INLINE double LOSSK_FN(lw_vdsum)(const lossk_v4df *v) {
    double s = 0.0;
    for (int h = 0; h < LW_NH; h++)
        for (int u = 0; u < 4; u++) s += v[h][u];
    return s;
}

/* Pass 1; with a cache (work, lists up to LW_CACHE_BYTES), each pair's two
   masked weights w_kj, w_jk are kept for pass 2 (at most 2 (n^2 + n W) reals). */
static void LOSSK_FN(andcg_pass1)(const real *s, int64_t n, real alpha, real reps, double *pos, void *work) {
    const LW_VR zero = {0};
    real *cache = (real *)work;
    for (int64_t k = 0; k < n; k++) {
        const LW_VR sk = zero + s[k];
        lossk_v4df rsum[LW_NH] = {{0}};
        for (int64_t j = k + 1; j < n; j += LW_W) {
            LW_VR tkj, tjk, w;
            LOSSK_FN(lw_vpairs)(sk, LOSSK_FN(lw_vload)(s + j), alpha, &tkj, &tjk, &w);
            const LW_VI on = LOSSK_FN(lw_on)(j, n);
            if (cache) {
                const LW_VR wkj = (LW_VR)((LW_VI)w & (tkj >= reps) & on);
                const LW_VR wjk = (LW_VR)((LW_VI)w & (tjk >= reps) & on);
                memcpy(cache, &wkj, sizeof wkj);
                memcpy(cache + LW_W, &wjk, sizeof wjk);
                cache += 2 * LW_W;
            }
            tkj = LOSSK_FN(lw_vsel)(tkj < reps, zero + reps, tkj);   /* max(t, eps); NaN kept */
            tjk = LOSSK_FN(lw_vsel)(tjk < reps, zero + reps, tjk);
            tkj = (LW_VR)((LW_VI)tkj & on);
            tjk = (LW_VR)((LW_VI)tjk & on);
            for (int h = 0; h < LW_NH; h++) {
                rsum[h] += LOSSK_FN(lw_widen)(tkj, h);
                const lossk_v4df pj = LOSSK_FN(lw_vdload)(pos + j + 4 * h) + LOSSK_FN(lw_widen)(tjk, h);
                memcpy(pos + j + 4 * h, &pj, sizeof pj);
            }
        }
        pos[k] += LOSSK_FN(lw_vdsum)(rsum);
    }
}

/* Pass 2, from pass 1's cache or recomputing the pairs (work NULL). */
static void LOSSK_FN(andcg_pass2)(const real *s, int64_t n, real alpha, real reps, const double *cc, double *gr,
                                  void *work) {
    const LW_VR zero = {0};
    const real *cache = (const real *)work;
    for (int64_t k = 0; k < n; k++) {
        const LW_VR sk = zero + s[k];
        const double ck = cc[k];
        lossk_v4df rsum[LW_NH] = {{0}};
        for (int64_t j = k + 1; j < n; j += LW_W) {
            LW_VR wkj, wjk;
            if (cache) {
                wkj = LOSSK_FN(lw_vload)(cache);
                wjk = LOSSK_FN(lw_vload)(cache + LW_W);
                cache += 2 * LW_W;
            } else {
                LW_VR tkj, tjk, w;
                LOSSK_FN(lw_vpairs)(sk, LOSSK_FN(lw_vload)(s + j), alpha, &tkj, &tjk, &w);
                wkj = (LW_VR)((LW_VI)w & (tkj >= reps));
                wjk = (LW_VR)((LW_VI)w & (tjk >= reps));
            }
            for (int h = 0; h < LW_NH; h++) {
                const lossk_v4df v0 = ck * LOSSK_FN(lw_widen)(wkj, h) -
                                 LOSSK_FN(lw_vdload)(cc + j + 4 * h) * LOSSK_FN(lw_widen)(wjk, h);
                const lossk_v4df v = (lossk_v4df)((lossk_v4di)v0 & LOSSK_FN(lw_on_d)(j + 4 * h, n));
                rsum[h] += v;
                const lossk_v4df gj = LOSSK_FN(lw_vdload)(gr + j + 4 * h) + v;
                memcpy(gr + j + 4 * h, &gj, sizeof gj);
            }
        }
        gr[k] -= LOSSK_FN(lw_vdsum)(rsum);
    }
}
#else /* no vector extensions: one pair at a time, the row's terms (in work,
         n doubles) summed by lw_sum */
#undef LW_PAIR
#define LW_PAIR(si, sj)                                                                   \
    const real d_ = (si) - (sj);                                                          \
    const real e_ = LOSSK_EXP(-alpha * LOSSK_ABS(d_));                                   \
    const real big_ = (real)1 / ((real)1 + e_), small_ = e_ * big_;                      \
    const real tij_ = d_ > 0 ? small_ : big_, tji_ = d_ > 0 ? big_ : small_

static void LOSSK_FN(andcg_pass1)(const real *s, int64_t n, real alpha, real reps, double *pos, void *work) {
    double *row = (double *)work;
    for (int64_t k = 0; k < n; k++) {
        for (int64_t j = k + 1; j < n; j++) {
            LW_PAIR(s[k], s[j]);
            row[j] = (double)(tij_ < reps ? reps : tij_);
            pos[j] += (double)(tji_ < reps ? reps : tji_);
        }
        pos[k] += lw_sum(row + k + 1, n - k - 1);
    }
}

static void LOSSK_FN(andcg_pass2)(const real *s, int64_t n, real alpha, real reps, const double *cc, double *gr,
                                  void *work) {
    double *row = (double *)work;
    for (int64_t k = 0; k < n; k++) {
        for (int64_t j = k + 1; j < n; j++) {
            LW_PAIR(s[k], s[j]);
            const double w = (double)(small_ * big_);
            const double v = cc[k] * (tij_ >= reps ? w : 0.0) - cc[j] * (tji_ >= reps ? w : 0.0);
            gr[j] += v;
            row[j] = v;
        }
        gr[k] -= lw_sum(row + k + 1, n - k - 1);
    }
}
#endif

/* ApproxNDCG over the real items (s in the dtype, in the scratch): pos_k in
   pass 1, the gradient d/ds_k = sum_i c_i dpos_i/ds_k in pass 2 with c_i =
   dloss/dpos_i (alpha and the reduction's scale folded in). A list whose
   ideal DCG is 0 (no positive relevance) has G = 0: loss 0 (counted in the
   mean), gradient 0. */
int64_t LOSSK_FN(approx_ndcg_block)(const void *vctx, int64_t begin, int64_t end, double *acc, void *scratch);
int64_t LOSSK_FN(approx_ndcg_block)(const void *vctx, int64_t begin, int64_t end, double *acc, void *scratch) {
    const lw_ctx *c = (const lw_ctx *)vctx;
    const lossk_listwise_args *a = c->a;
    const int64_t l = a->l;
    const double eps = a->eps, scale = c->scale;
    /* alpha beyond float's range would make alpha * 0 NaN at ties: FLT_MAX acts alike */
    const real alpha = (real)(a->alpha < (double)FLT_MAX ? a->alpha : (double)FLT_MAX), reps = (real)eps;
    LW_SCRATCH(scratch, l);
    /* the pair cache after the scratch's ints, 32-byte aligned */
    real *cache = (real *)(((uintptr_t)(tmp + l) + 31) & ~(uintptr_t)31);
    double total = 0.0;
    for (int64_t i = begin; i < end; i++) {
        const real *x = (const real *)a->scores + i * l, *rel = (const real *)a->relevance + i * l;
        real *g = a->grad ? (real *)a->grad + i * l : NULL;
        const int64_t n = LW_GATHER_FN(rel, a->mask ? a->mask + i * l : NULL, l, idx);
        /* pass 1 keeps the pair weights when the gradient is wanted and the scratch holds them */
        real *keep = g && l <= 4096 && l * l * (int64_t)sizeof(real) <= LW_CACHE_BYTES && LOSSK_VECTOR_EXT ? cache : NULL;
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
        for (int64_t u = n; u < n + LW_PAD; u++) { s[u] = (real)0; pos[u] = 0.0; cc[u] = 0.0; }
        double idcg = NAN;
        if (!has_nan) {
            lw_sort_desc(gain, order, tmp, n);
            for (int64_t k = 0; k < n; k++) row[k] = gain[order[k]] * c->discount[k];
            idcg = lw_sum(row, n);
        }
        const double inv_idcg = 1.0 / (idcg > eps ? idcg : idcg == idcg ? eps : idcg);
        LOSSK_FN(andcg_pass1)(s, n, alpha, reps, pos, LOSSK_VECTOR_EXT ? (void *)keep : (void *)row);
        for (int64_t k = 0; k < n; k++) {
            const double gk = gain[k] * inv_idcg, lnp = log1p(pos[k]);
            row[k] = gk * LW_LN2 / lnp;
            cc[k] = gk * LW_LN2 / (lnp * lnp * (1.0 + pos[k])) * scale * a->alpha;
        }
        const double ndcg = lw_sum(row, n);
        total += -ndcg;
        LOSSK_FN(lw_store_loss)(a, i, -ndcg);
        if (!g) continue;
        for (int64_t k = 0; k < n + LW_PAD; k++) gr[k] = 0.0;
        LOSSK_FN(andcg_pass2)(s, n, alpha, reps, cc, gr, LOSSK_VECTOR_EXT ? (void *)keep : (void *)row);
        if (n < l)
            for (int64_t j = 0; j < l; j++) g[j] = (real)0;
        for (int64_t k = 0; k < n; k++) g[idx[k]] = (real)gr[k];
    }
    acc[0] = total;
    return -1;
}

#endif /* LOSSK_TEMPLATE_PASS */
